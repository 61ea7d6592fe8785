/*
 * Private to ept/: the operation context that every locked operation runs in, and the one
 * function through which every entry change goes.
 *
 * A locked operation is
 *	struct ept_op op;
 *	op_begin(&op, ept, kind);    takes ept->lock exclusive (op_begin_shared: shared)
 *	... loops over the iterator, changing entries only with ept_iter_set(&it, val, &op),
 *	    calling op_resched(&op, &it) at the top of each step of a long loop ...
 *	return op_end(&op, ret);     one flush if needed, unlock, a grace period, then frees
 *	                             what was unlinked
 *
 * Under the shared lock an operation may only change leaves' bits and fill holes (install a
 * table or a leaf where the entry is 0); unlinking or replacing anything takes it exclusive.
 */
#ifndef EPTVISOR_EPT_INTERNAL_H
#define EPTVISOR_EPT_INTERNAL_H

#include "ept/env.h"
#include "ept/ept.h"
#include "ept/iter.h"
#include "kassert.h"
#include "types.h"

/* Work units (entries visited, roughly) a chunked operation does between two points where it
 * drops the lock: about 12 microseconds at host speed (3 ns a unit) (ept/core.c, "chunks"). Race,
 * model and fuzz tests build with a small one, so that every long operation yields often. */
#ifndef EPT_CHUNK_WORK
#define EPT_CHUNK_WORK 4096
#endif

struct ept_op {
	struct ept *ept;
	enum ept_op_kind kind;
	bool shared;     /* holds ept->lock shared */
	bool flush;      /* a permission/A/D was removed, a target changed or a table unlinked */
	bool promise;    /* returns with every removal it saw flushed (see op_end) */
	u32 work;        /* work units since the lock was taken */
	u64 t_lock;      /* ept_env_clock() when the lock was taken */
	hpa_t dead;      /* unlinked table pages, chained through word 0 (core.c) */
	hpa_t cache;     /* pre-allocated table pages, chained the same way */
	hpa_t moved;     /* collapse by copy: a page of old data-frame hfns to release */
	gfn_t moved_gfn; /* ... the first gfn they mapped */
	int moved_level; /* ... and the level of each */
	u64 zapped_ad;   /* A/D bits seen on leaves unlinked by this operation */
	s64 tables;      /* stats deltas, applied by op_end */
	s64 leaves[EPT_MAX_LEAF_LEVEL + 1];
	u64 splits, collapses;
	u64 split_mark; /* software bits the tables this operation splits into get */
};

void op_begin(struct ept_op *op, struct ept *ept, enum ept_op_kind kind);
void op_begin_shared(struct ept_op *op, struct ept *ept, enum ept_op_kind kind);

/* Flush if needed, release the lock, free what the operation unlinked. Returns ret. With
 * op->promise set (write-protect, harvest, log enable: "protected once it returns"), also
 * flushes if another shared operation has a removal pending: this one may have found an
 * entry that one had already changed and so not changed (nor flushed) it itself. */
int op_end(struct ept_op *op, int ret);

/* Flush now if this operation has removed something so far (collapse by copy must before it
 * copies). */
void op_flush(struct ept_op *op);

/* This operation is about to remove a permission or A/D, retarget a leaf or unlink a table:
 * it will flush (before it drops the lock or returns). Called before the change is made. */
void op_note_flush(struct ept_op *op);

/* Count `work` units; true once the chunk's budget is spent. */
static inline bool op_tick(struct ept_op *op, u32 work)
{
	op->work += work;
	return op->work >= EPT_CHUNK_WORK;
}

/* End a chunk: flush what is pending, drop the lock (others run; what this operation
 * unlinked is freed after a grace period), take it again in the same mode. Everything read
 * under the lock before may have changed: start walks again from the root. */
void op_yield(struct ept_op *op);

/* op_yield in two halves, for an operation that works without the lock in between (a
 * migration copies its page with the lock free): op_pause flushes, drops the lock and frees
 * what was unlinked; op_resume takes the lock again. Walks restart from the root after. */
void op_pause(struct ept_op *op);
void op_resume(struct ept_op *op);

/* At the top of each step of a long loop over `it` (started at the root): count the step,
 * and at the end of a chunk yield and restart the walk at the current entry. The loop body
 * goes on with whatever entry `it` stands on. Clip to it->start, not the original start. */
static inline void op_resched(struct ept_op *op, struct ept_iter *it)
{
	if (op_tick(op, 1)) {
		op_yield(op);
		ept_iter_restart(it);
	}
}

/* Make sure n table pages are at hand for op_alloc_table. 0 or -ENOMEM. */
int op_topup(struct ept_op *op, u64 n);

/* A zeroed table page from the cache, else fresh; INVALID_HPA when out of memory. */
hpa_t op_alloc_table(struct ept_op *op);

/*
 * The one function through which every entry changes. Replaces it->old by `val` with a
 * cmpxchg (hardware sets A/D and the fault fast path sets W without the lock). On success
 * it->old = val and the consequences are handled here: a table that was unlinked is emptied
 * and queued for freeing after the flush and a grace period, stats, the flush decision, and
 * dirty propagation (a leaf that becomes writable is logged dirty in write-protect logs; a
 * leaf that loses D is logged dirty in D-bit logs). On failure it->old = the current value
 * and false is returned: the caller decides again.
 * op == NULL only for the lockless fast path, which may only add permissions (W, on a
 * present leaf): its case is inline, since every dirty-logging write fault pays it
 * (ept_iter_set, at the end of this file).
 */
bool ept_iter_set_locked(struct ept_iter *it, u64 val, struct ept_op *op);

/* Clear the bits `clear` and set the bits `set` in the current entry, keeping whatever else
 * others change meanwhile (retries the cmpxchg). Returns the value it replaced. */
u64 ept_iter_update(struct ept_iter *it, u64 clear, u64 set, struct ept_op *op);

/* Set the current entry to `val` whatever it holds (retrying while others change it). */
void ept_iter_replace(struct ept_iter *it, u64 val, struct ept_op *op);

/* Collapse in place: replace the table entry at `it` by `leaf`, a leaf mapping the same
 * frames as all the leaves under it, flush, give `leaf` the A/D bits the old leaves gained
 * meanwhile and queue the old tables for freeing, without freezing their entries (a walker
 * in them sees the same frames). One flush; stats and dirty logs as through ept_iter_set.
 * Under the lock. (core.c) */
void ept_iter_collapse(struct ept_iter *it, u64 leaf, struct ept_op *op);

/* Split the huge leaf at `it` into a full table of next-level leaves with the same frames and
 * attributes, swapped in with one atomic update; the iterator then steps into it. No flush:
 * every translation stays the same. -ENOMEM (leaf untouched). (split.c) */
int ept_split_entry(struct ept_iter *it, struct ept_op *op);

/* Split every leaf larger than `level` overlapping [gfn, end) down to `level`. 0 or -ENOMEM
 * (what was split stays split). (split.c) */
int ept_split_range(struct ept_op *op, gfn_t gfn, gfn_t end, int level);

/* Collapse back in place every block inside [gfn, end) whose table carries EPT_SPLIT_LOG and
 * whose leaves are still one aligned run (2M blocks first, then 1G); clear the mark where they
 * are not. Returns the leaves made. Exclusive lock, in chunks. (split.c) */
u64 ept_restore_split(struct ept_op *op, gfn_t gfn, gfn_t end);

/* Mark gfn..gfn+npages-1 dirty in every enabled log of one of the `modes` (a mask of
 * BIT(enum ept_dirty_mode)). Under the lock or inside a lockless walk. (dirty.c) */
void ept_log_dirty(struct ept *ept, gfn_t gfn, u64 npages, u32 modes);

/* The same for one page and one mode: what every 4K fault fix does, kept short. */
void ept_log_dirty_page(struct ept *ept, gfn_t gfn, enum ept_dirty_mode mode);

/* ---- grace periods (core.c) ---------------------------------------------------------------- */

/* One CPU's grace-period state (see core.c); written only by that CPU. A line of its own:
 * the fault path of one CPU never writes a line another CPU reads often. */
struct ept_cpu {
	u64 qs;    /* odd: online; +1 online <-> offline, +2 a quiescent state while online */
	u32 depth; /* open ept_walk_begin brackets */
} __attribute__((aligned(64)));

extern struct ept_cpu ept_cpus[EPT_MAX_CPUS];

static inline struct ept_cpu *ept_this_cpu(void)
{
	unsigned cpu = ept_env_cpu();

	ASSERT(cpu < EPT_MAX_CPUS);
	return &ept_cpus[cpu];
}

static inline bool ept_cpu_is_online(const struct ept_cpu *c)
{
	/* RELAXED: the calling CPU's own line (only it writes qs). */
	return __atomic_load_n(&c->qs, __ATOMIC_RELAXED) & 1;
}

u32 ept_walk_slow_begin(struct ept_cpu *c);
void ept_walk_slow_end(struct ept_cpu *c);

/*
 * The bracket of ept/'s own short lockless walks (fault fast path, ept_mark_dirty,
 * ept_lookup): on an online CPU (a vCPU's, between exit and entry) one load of its own
 * line at the begin and nothing at the end; elsewhere the CPU goes online for the walk.
 * Unlike ept_walk_end its end reports no quiescent state (that would cost a fence), and it
 * never encloses an ept_walk_begin bracket.
 */
static inline u32 ept_walk_fast_begin(struct ept *ept)
{
	struct ept_cpu *c = ept_this_cpu();

	(void)ept;
	return ept_cpu_is_online(c) ? 0 : ept_walk_slow_begin(c);
}

static inline void ept_walk_fast_end(struct ept *ept, u32 token)
{
	(void)ept;
	if (token)
		ept_walk_slow_end(ept_this_cpu());
}

/* ept_wait_walkers (a grace period) is declared in ept.h: the kernel uses it too. */

/* ---- for assertions (include/kassert.h: compiled out of the normal kernel) ---------------- */

/* Is ept->lock held (in either mode)? By someone: the lock does not record its owners, so
 * this catches a caller that forgot the lock unless another CPU happens to hold it then. */
static inline bool ept_locked(struct ept *ept)
{
	return rw_is_locked(&ept->lock);
}

/* Is ept->lock held exclusive (by someone)? */
static inline bool ept_locked_excl(struct ept *ept)
{
	return rw_is_write_locked(&ept->lock);
}

/* May this CPU walk without the lock? It is online (a vCPU's CPU between exit and entry,
 * or inside a walk bracket). */
static inline bool ept_walking(struct ept *ept)
{
	(void)ept;
	return ept_cpu_is_online(ept_this_cpu());
}

/* May this CPU read the tables? Under the lock, or inside a lockless walk. */
static inline bool ept_may_walk(struct ept *ept)
{
	return ept_locked(ept) || ept_walking(ept);
}

/* Does `e` keep the invariants of an entry of `level`? Non-present: 0, or EPT_FROZEN alone.
 * Present: never frozen, W only with R (else an EPT misconfiguration); a leaf only at levels
 * 1..EPT_MAX_LEAF_LEVEL, write-back, its frame aligned to its size. */
static inline bool ept_entry_ok(u64 e, int level)
{
	if (!ept_present(e))
		return e == 0 || e == EPT_FROZEN;
	if (ept_frozen(e) || ((e & EPT_W) && !(e & EPT_R)))
		return false;
	if (!ept_leaf(e, level))
		return true;
	return level <= EPT_MAX_LEAF_LEVEL && (e & EPT_MT_MASK) == EPT_MT_WB &&
	       IS_ALIGNED(ept_hfn(e), ept_level_pages(level));
}

/* Is [gfn, gfn + npages) inside the EPT's reach (and not wrapping)? */
static inline bool ept_range_ok(gfn_t gfn, u64 npages)
{
	return gfn <= EPT_GFN_LIMIT && npages <= EPT_GFN_LIMIT - gfn;
}

/* ---- the one function that changes entries (see ept_iter_set_locked above) -------------- */

static inline bool ept_iter_set(struct ept_iter *it, u64 val, struct ept_op *op)
{
	u64 old = it->old;

	if (op)
		return ept_iter_set_locked(it, val, op);
	/* Without the lock only the fault fast path, inside a walk, adding bits to a present
	 * leaf: nothing to count, flush or free. */
	ASSERT(!ept_frozen(old) && ept_entry_ok(val, it->level));
	ASSERT(ept_walking(it->ept) && ept_leaf(old, it->level) && !(old & ~val));
	/* ACQ_REL: as in ept_iter_set_locked (the RELEASE orders nothing here but keeps one
	 * rule for every entry change; a failed read orders like an iterator read). */
	if (!__atomic_compare_exchange_n(it->entry, &it->old, val, false, __ATOMIC_ACQ_REL,
	                                 __ATOMIC_ACQUIRE))
		return false;
	it->old = val;
	/* The leaf became writable: its pages are dirty in write-protect logs. RELAXED: only
	 * a hint to skip the work; the markers re-read the list with ACQUIRE. */
	if (__atomic_load_n(&it->ept->logs, __ATOMIC_RELAXED)) {
		if (it->level == 1)
			ept_log_dirty_page(it->ept, it->gfn, EPT_DIRTY_WP);
		else
			ept_log_dirty(it->ept, it->gfn, ept_level_pages(it->level),
			              BIT(EPT_DIRTY_WP));
	}
	return true;
}

#endif
