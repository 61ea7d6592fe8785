/*
 * The EPT-violation handler. The fast path takes no lock: a write to a present leaf that is
 * read-only only for dirty logging (ept_fast_writable) gets W back with one cmpxchg through
 * ept_iter_set, which then logs the page dirty; a fault that the entry already allows was
 * fixed meanwhile (another vCPU, a stale TLB) and is spurious. Anything else, or a fast path
 * that loses its cmpxchg twice, is decided again under the lock.
 *
 * The fast path finds the leaf with a direct walk (four loads from the root, no iterator):
 * it is what every dirty-logging write fault pays, so it is kept to the common case, a
 * present path down to a 4K or huge leaf. Going through ept_iter_find instead costs about
 * 125 more instructions per fault (64 with an unrolled find in iter.c filling the whole
 * iterator; callgrind, host, 198 per fault with this walk), a third of the path. A hole
 * ends the attempt (only the lock holder may say "not present"); a frozen entry (a table
 * being torn down) falls back to the generic iterator (ept_iter_find, which restarts from
 * the root until it meets no frozen entry).
 */
#include "ept/internal.h"
#include "errno.h"

/* What the leaf at `it` means for `access`: a final verdict, or -1 (needs fixing). */
static inline __attribute__((always_inline)) int judge(const struct ept_iter *it, u64 access)
{
	if (!ept_leaf(it->old, it->level))
		return EPT_FAULT_NOT_PRESENT;
	if (ept_allows(it->old, access))
		return EPT_FAULT_SPURIOUS;
	if ((access & EPT_W) && ept_fast_writable(it->old) && ept_allows(it->old, access & ~EPT_W))
		return -1;
	if ((access & EPT_W) && (it->old & EPT_HOST_WRITABLE) && !(it->old & EPT_MMU_WRITABLE))
		return EPT_FAULT_BUSY;
	return EPT_FAULT_VIOLATION;
}

/*
 * Stand `it` on the leaf mapping gfn by a direct walk: one ACQUIRE load per level (a plain
 * load on x86) and no iterator state. Fills only what ept_iter_set needs (ept, entry, old,
 * level, gfn). False where the path ends before a leaf; it->old is then the non-present
 * (possibly frozen) entry it ended on. Inside ept_walk_begin/end.
 */
static bool direct_walk(struct ept_iter *it, struct ept *ept, gfn_t gfn)
{
	u64 *table = ept_env_va(ept->root);

	/* Unrolled: each level's index shift becomes a constant. */
#pragma GCC unroll 4
	for (int level = EPT_LEVELS; level >= 1; level--) {
		u64 *entry = &table[ept_index(gfn, level)];
		/* ACQUIRE: a table pointer read here is dereferenced next; pairs with the RELEASE
		 * of the cmpxchg in ept_iter_set() that published the table's contents. */
		u64 e = __atomic_load_n(entry, __ATOMIC_ACQUIRE);

		/* A frozen entry is not present too (RWX clear): the caller tells them apart. */
		if (!ept_present(e)) {
			it->old = e;
			return false;
		}
		if (ept_leaf(e, level)) {
			it->ept = ept;
			it->entry = entry;
			it->old = e;
			it->level = level;
			it->gfn = ALIGN_DOWN(gfn, ept_level_pages(level));
			return true;
		}
		table = ept_env_va(ept_child(e));
	}
	it->old = 0; /* not reached: a level-1 present entry is a leaf */
	return false;
}

/* The lockless attempt: a verdict, or -1 to go to the slow path. */
static int fault_fast(struct ept *ept, gfn_t gfn, u64 access)
{
	u32 token = ept_walk_fast_begin(ept);
	struct ept_iter it;
	int r = -1;

	/* A frozen entry: a table being torn down; the generic walk restarts from the root. */
	if (!direct_walk(&it, ept, gfn) && ept_frozen(it.old))
		ept_iter_find(&it, ept, gfn, 1);
	/* A hole (it.old not present): populating it is the slow path's business. */
	for (int tries = 0; tries < 2 && r < 0 && ept_present(it.old); tries++) {
		r = judge(&it, access);
		if (r == EPT_FAULT_SPURIOUS)
			break;
		if (r >= 0) {
			r = -1; /* not present or not allowed: only the lock holder may say so */
			break;
		}
		/* A failed cmpxchg refreshed it.old: judge again once. */
		if (ept_iter_set(&it, it.old | EPT_W, NULL))
			r = EPT_FAULT_FIXED_FAST;
	}
	ept_walk_fast_end(ept, token);
	return r;
}

static int fault_slow(struct ept *ept, gfn_t gfn, u64 access)
{
	struct ept_iter it;
	struct ept_op op;
	int r;

	op_begin_shared(&op, ept, EPT_OP_FAULT);
	ept_iter_find(&it, ept, gfn, 1);
	r = judge(&it, access);
	if (r < 0) {
		ept_iter_update(&it, 0, EPT_W, &op);
		r = EPT_FAULT_FIXED_SLOW;
	}
	return op_end(&op, r);
}

static int fault_args_ok(gfn_t gfn, u64 access)
{
	if (!access || (access & ~EPT_RWX))
		return -EINVAL;
	return gfn >= EPT_GFN_LIMIT ? -ERANGE : 0;
}

int ept_handle_fault_fast(struct ept *ept, gfn_t gfn, u64 access)
{
	int err = fault_args_ok(gfn, access), r;

	if (err)
		return err;
	/* RELAXED: a knob for experiments; a stale read only picks the other correct path. */
	if (__atomic_load_n(&ept->force_slow, __ATOMIC_RELAXED))
		return -EAGAIN;
	r = fault_fast(ept, gfn, access);
	return r >= 0 ? r : -EAGAIN;
}

int ept_handle_fault_slow(struct ept *ept, gfn_t gfn, u64 access)
{
	int err = fault_args_ok(gfn, access);

	return err ? err : fault_slow(ept, gfn, access);
}

int ept_handle_fault(struct ept *ept, gfn_t gfn, u64 access)
{
	int r = ept_handle_fault_fast(ept, gfn, access);

	return r == -EAGAIN ? fault_slow(ept, gfn, access) : r;
}
