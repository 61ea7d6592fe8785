/*
 * The EPT's core: lifetime, the operation context, the one function that changes entries
 * (ept_iter_set) with everything a change implies, and the freeing of table pages.
 *
 * Freeing rule. A table page unlinked from the tree may still be read by (a) a CPU's
 * paging-structure caches or TLB and (b) a lockless walker (fault fast path, ept_lookup,
 * anyone inside ept_walk_begin/end) that loaded its address before the unlink. So the page
 * is queued on the operation and freed only after (a) the operation's flush and (b) a grace
 * period: every CPU that could be inside a walk that began before the unlink has since
 * passed a quiescent state (ept_wait_walkers). Nothing else is needed to free it: a freed
 * page is not cleared (ept_env_alloc_table hands out zeroed pages), and the only store into
 * it is the dead list's link in word 0. Until then a walker inside it must not act on
 * stale entries: zap_table freezes every entry (EPT_FROZEN through ept_iter_set, which
 * records the A/D bits the leaves held; a walker meeting a frozen entry walks again from
 * the root). A collapse in place does not need to (ept_iter_collapse): the new leaf maps
 * the same frames, so the old entries are as good as the new one.
 * Data frames that collapse by copy moves away are released under the same rule.
 */
#include "ept/env.h"
#include "ept/internal.h"
#include "errno.h"
#include "lib.h"

static u64 *va(hpa_t hpa)
{
	return ept_env_va(hpa);
}

/* ---- quiescent states and grace periods ------------------------------------------------ */

/*
 * Grace periods by quiescent states (QSBR), as KVM relies on RCU. Every CPU owns one line of
 * ept_cpus[] (ept_env_cpu()); only the owner writes it, with plain stores:
 *   qs     odd: online, the CPU may be inside a lockless walk without marking it; even:
 *          offline. +1 at each change between the two; +2 at a quiescent state reported
 *          while online (the outermost ept_walk_end of an online CPU).
 *   depth  how many ept_walk_begin brackets the CPU has open.
 * A grace period snapshots every other CPU's qs and waits until each is even or has moved.
 * A CPU seen offline is in no walk; one whose qs moved has ended every walk it was in at
 * the snapshot (it never goes offline or reports inside one); and every walk a CPU starts
 * after that store reads the tree as it is after the unlink (the fence in qs_fenced and the
 * one in ept_wait_walkers form a store-buffering pair: either the waiter sees the new qs,
 * or the CPU's later loads see the unlink). So a walk costs nothing on a CPU that is
 * online anyway (a vCPU's, between exit and entry: ept/env.h), and at most one store with a
 * fence and one plain store elsewhere, instead of locked counters per walk.
 */
struct ept_cpu ept_cpus[EPT_MAX_CPUS];

/* The owner's store of its new qs when the CPU stays or becomes online. */
static void qs_fenced(struct ept_cpu *c, u64 qs)
{
	/* RELEASE: the walks before this point are over before a waiter that sees qs frees. */
	__atomic_store_n(&c->qs, qs, __ATOMIC_RELEASE);
	/* SEQ_CST fence: orders this store before the loads of the walks that follow; pairs
	 * with the fence in ept_wait_walkers (see above). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

static void go_online(struct ept_cpu *c)
{
	ASSERT(!ept_cpu_is_online(c));
	qs_fenced(c, c->qs + 1);
}

static void go_offline(struct ept_cpu *c)
{
	/* No walk may be open: its reads would no longer hold back a grace period. */
	ASSERT(ept_cpu_is_online(c) && c->depth == 0);
	/* RELEASE: the walks before are over before a waiter that sees us offline frees; no
	 * fence: a CPU walks again only after going online, which has one. */
	__atomic_store_n(&c->qs, c->qs + 1, __ATOMIC_RELEASE);
}

void ept_cpu_online(void)
{
	go_online(ept_this_cpu());
}

void ept_cpu_offline(void)
{
	go_offline(ept_this_cpu());
}

bool ept_qs_pause(void)
{
	struct ept_cpu *c = ept_this_cpu();

	if (!ept_cpu_is_online(c))
		return false;
	go_offline(c);
	return true;
}

void ept_qs_resume(bool online)
{
	if (online)
		go_online(ept_this_cpu());
}

u32 ept_walk_slow_begin(struct ept_cpu *c)
{
	go_online(c);
	return 1;
}

void ept_walk_slow_end(struct ept_cpu *c)
{
	go_offline(c);
}

u32 ept_walk_begin(struct ept *ept)
{
	struct ept_cpu *c = ept_this_cpu();
	u32 token = ept_cpu_is_online(c) ? 0 : ept_walk_slow_begin(c);

	(void)ept;
	/* RELAXED (here and in ept_walk_end): depth is read only by its own CPU. */
	__atomic_store_n(&c->depth, c->depth + 1, __ATOMIC_RELAXED);
	return token;
}

void ept_walk_end(struct ept *ept, u32 token)
{
	struct ept_cpu *c = ept_this_cpu();

	(void)ept;
	/* Every end has its begin, on the same CPU. */
	ASSERT(token <= 1 && c->depth > 0 && ept_cpu_is_online(c));
	__atomic_store_n(&c->depth, c->depth - 1, __ATOMIC_RELAXED);
	if (token)
		go_offline(c);
	else if (c->depth == 0)
		/* Online for another reason (a vCPU's CPU between exit and entry): the end of
		 * its outermost bracket is a quiescent state, so a loop that retries a walk
		 * (waiting for a page being copied) never holds up the copier's grace period. */
		qs_fenced(c, c->qs + 2);
}

void ept_spin_lock(spinlock_t *l)
{
	bool online;

	if (spin_trylock(l))
		return;
	online = ept_qs_pause();
	spin_lock(l);
	ept_qs_resume(online);
}

void ept_wait_walkers(struct ept *ept)
{
	u64 snap[EPT_MAX_CPUS];
	bool online;

	(void)ept;
	/* Not inside a walk bracket: we would wait for ourselves. */
	ASSERT(ept_this_cpu()->depth == 0);
	/* Offline while waiting: two CPUs waiting for grace periods never wait for each other. */
	online = ept_qs_pause();
	/* SEQ_CST fence: the unlinks (and the flush) before it, the snapshot after; pairs with
	 * the fence in qs_fenced. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	/* ACQUIRE (both loads): pairs with the RELEASE of a CPU's qs store; the walks it ended
	 * before that store happen before what we free. */
	for (unsigned cpu = 0; cpu < EPT_MAX_CPUS; cpu++)
		snap[cpu] = __atomic_load_n(&ept_cpus[cpu].qs, __ATOMIC_ACQUIRE);
	for (unsigned cpu = 0; cpu < EPT_MAX_CPUS; cpu++)
		if (snap[cpu] & 1)
			while (__atomic_load_n(&ept_cpus[cpu].qs, __ATOMIC_ACQUIRE) == snap[cpu])
				ept_env_relax();
	ept_qs_resume(online);
}

/* ---- page lists chained through word 0 (hpa 0 is never a table page) ----------------------- */

/* Push a table page whose entries are all 0 or frozen. The link is stored frozen: a walker
 * still reading the page takes it for a frozen entry and restarts. */
static void list_push(hpa_t *head, hpa_t page)
{
	__atomic_store_n(va(page), *head | EPT_FROZEN, __ATOMIC_RELAXED);
	*head = page;
}

static hpa_t list_pop(hpa_t *head)
{
	hpa_t page = *head;

	if (page != 0) {
		*head = __atomic_load_n(va(page), __ATOMIC_RELAXED) & ~EPT_FROZEN;
		__atomic_store_n(va(page), 0, __ATOMIC_RELAXED);
	}
	return page;
}

static void list_free(hpa_t *head)
{
	hpa_t page;

	while ((page = list_pop(head)) != 0)
		ept_env_free_table(page);
}

/* ---- the MMU lock and the operation context --------------------------------------------- */

/*
 * Chunks. A long operation (a scan or harvest of 64 GiB, enabling a log, splitting a large
 * range) counts its work (op_tick, op_resched) and every EPT_CHUNK_WORK units drops the lock
 * and takes it again (op_yield), as KVM's TDP MMU does at cond_resched: first it flushes
 * what is pending (a CPU must not keep using an entry this operation changed once others can
 * see the change), then it releases the lock, frees what it unlinked after a grace period,
 * and retakes the lock in the same mode; its walk restarts from the root at the entry it had
 * reached (ept_iter_restart), since anything may have changed meanwhile. So no holder keeps
 * the lock longer than one chunk, whatever the size of the range.
 *
 * Flushes under a shared lock. Two shared holders may change entries at once: a harvest may
 * find a page already write-protected by a write-protect still running, skip it, and return
 * before that one has flushed, while a CPU still caches W = 1. So an operation counts itself
 * in ept->flush_req before its first removal (op_note_flush) and out after its flush, and an
 * operation that promises "protected once it returns" flushes at its end while any other
 * such removal is still pending (op_end).
 */

static void hold_account(struct ept_op *op)
{
	struct ept_hold *h = &op->ept->stats.hold[op->kind];
	u64 d = ept_env_clock() - op->t_lock, longest;

	/* RELAXED: statistics; several shared holders update them at once. */
	__atomic_fetch_add(&h->holds, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&h->total, d, __ATOMIC_RELAXED);
	__atomic_fetch_add(&h->log2[MIN(63 - __builtin_clzll(d | 1), EPT_HOLD_BUCKETS - 1)], 1,
	                   __ATOMIC_RELAXED);
	longest = __atomic_load_n(&h->longest, __ATOMIC_RELAXED);
	while (d > longest && !__atomic_compare_exchange_n(&h->longest, &longest, d, true,
	                                                   __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

/* Take the lock in op's mode; spins offline: a holder waiting for a grace period never
 * waits for us. */
static void op_lock(struct ept_op *op)
{
	rwlock_t *l = &op->ept->lock;

	if (!(op->shared ? read_trylock(l) : write_trylock(l))) {
		bool online = ept_qs_pause();

		if (op->shared)
			read_lock(l);
		else
			write_lock(l);
		ept_qs_resume(online);
	}
	op->t_lock = ept_env_clock();
	op->work = 0;
}

static void op_unlock(struct ept_op *op)
{
	hold_account(op);
	if (op->shared)
		read_unlock(&op->ept->lock);
	else
		write_unlock(&op->ept->lock);
}

static void begin(struct ept_op *op, struct ept *ept, enum ept_op_kind kind, bool shared)
{
	memset(op, 0, sizeof(*op));
	op->ept = ept;
	op->kind = kind;
	op->shared = shared;
	/* Not on a destroyed (or never set up) EPT. */
	ASSERT(ept->root != INVALID_HPA && (unsigned)kind < EPT_OP_KINDS);
	/* Never inside a walk bracket: a grace period would wait for this CPU. */
	ASSERT(ept_this_cpu()->depth == 0);
	op_lock(op);
}

void op_begin(struct ept_op *op, struct ept *ept, enum ept_op_kind kind)
{
	begin(op, ept, kind, false);
}

void op_begin_shared(struct ept_op *op, struct ept *ept, enum ept_op_kind kind)
{
	begin(op, ept, kind, true);
}

static void stat_add(u64 *counter, s64 delta)
{
	/* RELAXED: counters for reporting; readers want totals only. Atomic: shared holders
	 * update them at once. */
	if (delta)
		__atomic_fetch_add(counter, (u64)delta, __ATOMIC_RELAXED);
}

static void apply_stats(struct ept_op *op)
{
	struct ept_stats *s = &op->ept->stats;

	stat_add(&s->tables, op->tables);
	for (int l = 1; l <= EPT_MAX_LEAF_LEVEL; l++)
		stat_add(&s->leaves[l], op->leaves[l]);
	stat_add(&s->splits, op->splits);
	stat_add(&s->collapses, op->collapses);
	op->tables = 0;
	memset(op->leaves, 0, sizeof(op->leaves));
	op->splits = op->collapses = 0;
}

void op_note_flush(struct ept_op *op)
{
	if (op->flush)
		return;
	op->flush = true;
	/* SEQ_CST: counted before the change it announces is made (the change's cmpxchg is a
	 * RELEASE after it), so whoever sees the change sees the count (op_end's promise). */
	__atomic_fetch_add(&op->ept->flush_req, 1, __ATOMIC_SEQ_CST);
}

static void do_flush(struct ept *ept)
{
	stat_add(&ept->stats.flushes, 1);
	ept_env_flush(ept);
}

void op_flush(struct ept_op *op)
{
	ASSERT(ept_locked(op->ept));
	if (!op->flush)
		return;
	op->flush = false;
	do_flush(op->ept);
	/* RELEASE: the flush is done before a promise-keeper that reads the count sees us out. */
	__atomic_fetch_sub(&op->ept->flush_req, 1, __ATOMIC_RELEASE);
}

/* Release the data frames collapse by copy moved away (their hfns are in op->moved). */
static void release_moved(struct ept_op *op)
{
	u64 *old = va(op->moved);
	u64 size = ept_level_pages(op->moved_level);

	for (unsigned i = 0; i < EPT_ENTRIES; i++)
		ept_env_free_data(op->ept, op->moved_gfn + i * size, old[i], op->moved_level);
	ept_env_free_table(op->moved);
}

void op_pause(struct ept_op *op)
{
	/* Flush first, as KVM's cond_resched does: once the lock is free others act on what
	 * this chunk changed, and the tables it unlinked must be flushed before they are
	 * freed. */
	op_flush(op);
	apply_stats(op);
	op_unlock(op);
	stat_add(&op->ept->stats.yields, 1);
	if (op->dead) {
		ept_wait_walkers(op->ept);
		list_free(&op->dead);
	}
}

void op_resume(struct ept_op *op)
{
	op_lock(op);
}

void op_yield(struct ept_op *op)
{
	op_pause(op);
	op_resume(op);
}

int op_end(struct ept_op *op, int ret)
{
	struct ept *ept = op->ept;

	ASSERT(ept_locked(ept));
	/* One flush for the whole operation, before anything it unlinked is freed: until then
	 * a CPU may still translate through the old entries or cache the old tables. */
	op_flush(op);
	/* ACQUIRE: pairs with op_flush's RELEASE; a removal this operation may have seen made
	 * by another is flushed once that one is counted out. */
	if (op->promise && __atomic_load_n(&ept->flush_req, __ATOMIC_ACQUIRE))
		do_flush(ept);
	apply_stats(op);
	list_free(&op->cache);
	op_unlock(op);
	/* The grace period after the unlock: the lock's next holders (slow faults, harvests)
	 * need not wait for every online CPU to pass a quiescent state. What is freed is
	 * reachable from this operation's lists only. */
	if (op->dead || op->moved)
		ept_wait_walkers(ept);
	list_free(&op->dead);
	if (op->moved)
		release_moved(op);
	return ret;
}

int op_topup(struct ept_op *op, u64 n)
{
	for (; n > 0; n--) {
		hpa_t page = ept_env_alloc_table();

		if (page == INVALID_HPA)
			return -ENOMEM;
		list_push(&op->cache, page);
	}
	return 0;
}

hpa_t op_alloc_table(struct ept_op *op)
{
	hpa_t page = list_pop(&op->cache);

	return page ? page : ept_env_alloc_table();
}

/* ---- the one function that changes entries ----------------------------------------------- */

static void zap_table(struct ept_op *op, hpa_t table, int level, gfn_t base);

/* Does changing a leaf from old to val need a flush before the operation ends? */
static bool leaf_change_needs_flush(u64 old, u64 val, int level)
{
	if (ept_table(val, level))
		return false; /* a split: every translation stays the same */
	if (!ept_present(val) || ept_hfn(val) != ept_hfn(old))
		return true; /* gone or retargeted */
	/* A removed permission must not survive in a TLB; cleared A/D would never be set
	 * again by a CPU that still caches the entry with them set. */
	return (old & ~val & (EPT_RWX | EPT_A | EPT_D)) != 0;
}

static void count(struct ept_op *op, u64 e, int level, int delta)
{
	if (ept_table(e, level))
		op->tables += delta;
	else if (ept_leaf(e, level))
		op->leaves[level] += delta;
}

/* Does leaf e of `level` map `frame` with `bit` set? */
static bool leaf_has(u64 e, int level, hfn_t frame, u64 bit)
{
	return ept_leaf(e, level) && ept_hfn(e) == frame && (e & bit);
}

/*
 * Dirty propagation for an entry that changed from old to val (see ept_iter_set): pages that
 * software made writable or dirty would otherwise never be logged.
 *  - WP logs: a leaf that gains W (fault fix, map, collapse) marks its pages.
 *  - PML logs: a leaf that gains D from software (collapse merging children's D) marks its
 *    pages: the CPU logs only D's 0 -> 1 transitions, which will not happen for them.
 *  - D-bit logs: a leaf that loses D (harvest, unmap, collapse) marks its pages; a split
 *    (val is a table) keeps D in the children.
 */
static void log_leaf_change(struct ept_iter *it, u64 old, u64 val)
{
	int l = it->level;
	u64 n = ept_level_pages(l);
	u32 modes = 0;

	if (ept_leaf(val, l) && (val & EPT_W) && !leaf_has(old, l, ept_hfn(val), EPT_W))
		modes |= BIT(EPT_DIRTY_WP);
	if (ept_leaf(val, l) && (val & EPT_D) && !leaf_has(old, l, ept_hfn(val), EPT_D))
		modes |= BIT(EPT_DIRTY_PML);
	if (ept_leaf(old, l) && (old & EPT_D) && !ept_table(val, l) &&
	    !leaf_has(val, l, ept_hfn(old), EPT_D))
		modes |= BIT(EPT_DIRTY_DBIT);
	if (modes)
		ept_log_dirty(it->ept, it->gfn, n, modes);
}

/* A 4K leaf stopped being present: its table is no longer full (EPT_SCAN_FULL). */
static void scan_full_lost(struct ept_iter *it)
{
	u64 *parent = &it->tables[2][ept_index(it->gfn, 2)];

	/* RELAXED: FULL changes only under the lock we hold; the CPU may set A meanwhile,
	 * hence the atomic AND. */
	if (__atomic_load_n(parent, __ATOMIC_RELAXED) & EPT_SCAN_FULL)
		__atomic_fetch_and(parent, ~EPT_SCAN_FULL, __ATOMIC_RELAXED);
}

static void entry_changed(struct ept_iter *it, u64 old, u64 val, struct ept_op *op)
{
	int level = it->level;

	/* RELAXED: only a hint to skip the work; ept_log_dirty re-reads with ACQUIRE. */
	bool logs = __atomic_load_n(&it->ept->logs, __ATOMIC_RELAXED);

	if (logs)
		log_leaf_change(it, old, val);
	if (level == 1 && ept_present(old) && !ept_present(val)) {
		/* Walks started inside a leaf table only empty it once it is unlinked. */
		ASSERT(it->top_level > 1 || val == EPT_FROZEN);
		if (it->top_level > 1)
			scan_full_lost(it);
	}
	count(op, old, level, -1);
	count(op, val, level, +1);
	if (ept_leaf(old, level) && !ept_present(val))
		op->zapped_ad |= old & (EPT_A | EPT_D);
	else if (ept_table(old, level) && ept_child(old) != ept_child(val))
		zap_table(op, ept_child(old), level - 1, it->gfn);
}

/* Will changing the entry at `it` from old to val need a flush? */
static bool change_needs_flush(const struct ept_iter *it, u64 old, u64 val)
{
	if (ept_leaf(old, it->level))
		return leaf_change_needs_flush(old, val, it->level);
	/* The CPUs' paging-structure caches may hold a table being unlinked. */
	return ept_table(old, it->level) && ept_child(old) != ept_child(val);
}

bool ept_iter_set_locked(struct ept_iter *it, u64 val, struct ept_op *op)
{
	u64 old = it->old;

	ASSERT(it->level >= 1 && it->level <= EPT_LEVELS);
	/* A frozen entry belongs to an unlinked table: nothing may write it again. */
	ASSERT(!ept_frozen(old) && ept_entry_ok(val, it->level));
	ASSERT(op && op->ept == it->ept && ept_locked(it->ept));
	/* Under the shared lock: leaves' bits change, holes fill; nothing is unlinked. */
	ASSERT(!op || !op->shared || ept_locked_excl(it->ept) || old == 0 ||
	       (ept_leaf(old, it->level) && ept_leaf(val, it->level) &&
	        ept_hfn(old) == ept_hfn(val)) ||
	       (ept_table(old, it->level) && ept_child(old) == ept_child(val)));
	/* Announced before it can be seen (op_note_flush). */
	if (change_needs_flush(it, old, val))
		op_note_flush(op);
	/* ACQ_REL: RELEASE publishes a new child table's contents before its pointer;
	 * ACQUIRE orders a failed read like an iterator read. */
	if (!__atomic_compare_exchange_n(it->entry, &it->old, val, false, __ATOMIC_ACQ_REL,
	                                 __ATOMIC_ACQUIRE))
		return false;
	it->old = val;
	entry_changed(it, old, val, op);
	return true;
}

u64 ept_iter_update(struct ept_iter *it, u64 clear, u64 set, struct ept_op *op)
{
	u64 old;

	do
		old = it->old;
	while (!ept_iter_set(it, (old & ~clear) | set, op));
	return old;
}

void ept_iter_replace(struct ept_iter *it, u64 val, struct ept_op *op)
{
	while (!ept_iter_set(it, val, op))
		;
}

/* Freeze every entry of an unlinked table (recursively, through ept_iter_set, which records
 * the A/D bits the CPUs set until now: after the freeze they cannot set more) and queue the
 * table for freeing. */
static void zap_table(struct ept_op *op, hpa_t table, int level, gfn_t base)
{
	struct ept_iter it;

	ASSERT(level >= 1 && level <= EPT_LEVELS);
	for_each_ept_table_entry(it, op->ept, table, level, base)
		if (ept_present(it.old))
			ept_iter_replace(&it, EPT_FROZEN, op);
	list_push(&op->dead, table);
}

/* ---- collapse in place: an unlink without freezing --------------------------------------------
 */

/* Queue an unlinked table and the tables under it for freeing, as zap_table does but without
 * freezing (see ept_iter_collapse), and subtract their entries from the stats. Returns the
 * A/D bits their leaves hold. Word 0 becomes the dead list's link only after it was read. */
static u64 drop_unfrozen(struct ept_op *op, hpa_t table, int level)
{
	u64 *t = va(table), ad = 0, leaves = 0, tables = 0;

	for (unsigned i = 0; i < EPT_ENTRIES; i++) {
		/* RELAXED: after the flush no CPU sets A/D here, and the fast path only adds W,
		 * which the new leaf does not take (see ept_iter_collapse). */
		u64 e = __atomic_load_n(&t[i], __ATOMIC_RELAXED);

		if (ept_table(e, level)) {
			ad |= drop_unfrozen(op, ept_child(e), level - 1);
			tables++;
		} else {
			leaves += ept_leaf(e, level);
		}
		ad |= e;
	}
	/* The table itself was counted off by the entry that pointed to it. */
	op->tables -= tables;
	op->leaves[level] -= leaves;
	list_push(&op->dead, table);
	return ad & (EPT_A | EPT_D);
}

/*
 * Collapse in place, as one change: swap the table entry at `it` for `leaf` (which maps the
 * same frames as every leaf under the table, so a walker still standing in an old table
 * translates exactly as through the new leaf), flush once, then read the old leaves' A/D
 * bits and give the new leaf those it lacks, and queue the old tables for freeing after the
 * grace period (op_end). The old entries are not frozen, one locked cmpxchg each: freezing
 * only makes a lockless walker inside an old table walk again from the root, and here what
 * it finds in place is as good as what it would find there:
 *  - ept_lookup and the fault fast path's judge see the same frame and attributes, with W
 *    possibly missing (the new leaf has W only if the survey saw it on every child), so at
 *    worst the guest faults once more, on the new leaf.
 *  - Write-protect logs: a child that got W (before or after the swap) logged its page when
 *    it got it (ept_iter_set, fast path or not); a new leaf with W logs all its pages; one
 *    without faults, and its fault logs them. No page is written unlogged.
 *  - D-bit logs: CPUs set A/D on old leaves only until the flush, so the read after it
 *    catches every D; it moves into the new leaf, whose D the next harvest finds (the
 *    children are not "losing" D, so nothing is logged at the swap, unlike zap_table).
 *  - PML logs: a D a CPU set on an old leaf is in its PML buffer, and the drain marks the
 *    page through whichever leaf ept_mark_dirty finds; the new leaf gaining D from
 *    software marks all its pages (log_leaf_change), since no CPU will log a write through
 *    a leaf whose D is already set.
 *  - The dead list's link overwrites word 0 of each old table with a frozen value after it
 *    was read; a walker that reads it walks again from the root, as after zap_table.
 * Under the lock; `leaf` is a leaf of it->level, it->old a table. Always succeeds (only A/D
 * of the table entry can change meanwhile).
 */
void ept_iter_collapse(struct ept_iter *it, u64 leaf, struct ept_op *op)
{
	u64 old = it->old, late;

	ASSERT(ept_locked_excl(op->ept) && !op->shared && ept_table(old, it->level) &&
	       ept_leaf(leaf, it->level));
	/* ACQ_REL as in ept_iter_set; a failure means the CPU set A on the table entry. */
	while (!__atomic_compare_exchange_n(it->entry, &old, leaf, false, __ATOMIC_ACQ_REL,
	                                    __ATOMIC_ACQUIRE))
		ASSERT(ept_table(old, it->level) && ept_child(old) == ept_child(it->old));
	it->old = leaf;
	if (__atomic_load_n(&it->ept->logs, __ATOMIC_RELAXED))
		log_leaf_change(it, old, leaf);
	count(op, old, it->level, -1);
	count(op, leaf, it->level, +1);
	/* The CPUs' paging-structure caches may hold the unlinked tables, their TLBs the old
	 * leaves (and only until this flush can they set A/D in them). */
	op_note_flush(op);
	op_flush(op);
	late = drop_unfrozen(op, ept_child(old), it->level - 1) & ~leaf;
	if (late)
		ept_iter_update(it, 0, late, op);
}

/* ---- lifetime ---------------------------------------------------------------------------- */

int ept_init(struct ept *ept)
{
	memset(ept, 0, sizeof(*ept));
	ept->root = ept_env_alloc_table();
	if (ept->root == INVALID_HPA)
		return -ENOMEM;
	ept->stats.tables = 1;
	return 0;
}

void ept_destroy(struct ept *ept)
{
	struct ept_op op;

	op_begin(&op, ept, EPT_OP_OTHER);
	/* Forget logs and trackers still registered: their memory may be gone already. */
	ept->logs = NULL;
	ept->trackers = NULL;
	zap_table(&op, ept->root, EPT_LEVELS, 0);
	op.tables--;
	/* No flush: the caller guarantees no CPU runs on this EPT any more. */
	if (op.flush)
		__atomic_fetch_sub(&ept->flush_req, 1, __ATOMIC_RELAXED);
	op.flush = false;
	op_end(&op, 0);
	ept->root = INVALID_HPA;
}

u64 ept_longest_hold(const struct ept *ept)
{
	u64 longest = 0;

	for (int k = 0; k < EPT_OP_KINDS; k++)
		longest = MAX(longest,
		              __atomic_load_n(&ept->stats.hold[k].longest, __ATOMIC_RELAXED));
	return longest;
}

u64 ept_hold_quantile(const struct ept_hold *h, unsigned permille)
{
	u64 n = 0, holds = 0;

	for (int i = 0; i < EPT_HOLD_BUCKETS; i++)
		holds += __atomic_load_n(&h->log2[i], __ATOMIC_RELAXED);
	for (int i = 0; i < EPT_HOLD_BUCKETS && holds; i++) {
		n += __atomic_load_n(&h->log2[i], __ATOMIC_RELAXED);
		if (n * 1000 >= holds * permille)
			return 2ULL << i;
	}
	return 0;
}

const char *ept_op_kind_name(enum ept_op_kind kind)
{
	static const char *const names[EPT_OP_KINDS] = {
		[EPT_OP_FAULT] = "fault",       [EPT_OP_POPULATE] = "populate",
		[EPT_OP_MAP] = "map",           [EPT_OP_WP] = "write_protect",
		[EPT_OP_HARVEST] = "harvest",   [EPT_OP_LOG] = "log",
		[EPT_OP_SCAN] = "scan",         [EPT_OP_SPLIT] = "split",
		[EPT_OP_COLLAPSE] = "collapse", [EPT_OP_MIGRATE] = "migrate",
		[EPT_OP_OTHER] = "other",
	};

	return (unsigned)kind < EPT_OP_KINDS ? names[kind] : "?";
}

u64 ept_eptp(const struct ept *ept, bool ad)
{
	/* bits 2:0 memory type WB (6), bits 5:3 walk length - 1 (3), bit 6 A/D enable */
	return ept->root | 6 | (3 << 3) | (ad ? BIT(6) : 0);
}
