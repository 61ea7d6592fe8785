/*
 * The EPT-violation handler. The fast path takes no lock: a write to a present leaf that is
 * read-only only for dirty logging (ept_fast_writable) gets W back with one cmpxchg through
 * ept_iter_set, which then logs the page dirty; a fault that the entry already allows was
 * fixed meanwhile (another vCPU, a stale TLB) and is spurious. Anything else, or a fast path
 * that loses its cmpxchg twice, is decided again under the lock.
 */
#include "ept/internal.h"
#include "errno.h"

/* What the leaf at `it` means for `access`: a final verdict, or -1 (needs fixing). */
static int judge(const struct ept_iter *it, u64 access)
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

/* The lockless attempt: a verdict, or -1 to go to the slow path. */
static int fault_fast(struct ept *ept, gfn_t gfn, u64 access)
{
	u32 token = ept_walk_fast_begin(ept);
	struct ept_iter it;
	int r = -1;

	ept_iter_find(&it, ept, gfn, 1);
	for (int tries = 0; tries < 2 && r < 0; tries++) {
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

	op_begin(&op, ept);
	ept_iter_find(&it, ept, gfn, 1);
	r = judge(&it, access);
	if (r < 0) {
		ept_iter_update(&it, 0, EPT_W, &op);
		r = EPT_FAULT_FIXED_SLOW;
	}
	return op_end(&op, r);
}

int ept_handle_fault(struct ept *ept, gfn_t gfn, u64 access)
{
	int r = -1;

	if (!access || (access & ~EPT_RWX))
		return -EINVAL;
	if (gfn >= EPT_GFN_LIMIT)
		return -ERANGE;
	/* RELAXED: a knob for experiments; a stale read only picks the other correct path. */
	if (!__atomic_load_n(&ept->force_slow, __ATOMIC_RELAXED))
		r = fault_fast(ept, gfn, access);
	return r >= 0 ? r : fault_slow(ept, gfn, access);
}
