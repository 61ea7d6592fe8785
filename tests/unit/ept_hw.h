/*
 * A simulated CPU using the EPT, for host tests: what the hardware does on an access with
 * EPT A/D enabled. It walks with the one iterator; if the leaf allows the access it sets A
 * (and D for a write) with a cmpxchg, which fails if the entry changed meanwhile (a CPU's
 * locked A/D update on an entry that is no longer the one it walked): then it walks again.
 * No TLB is simulated: every access walks. Race tests call it between host_vcpu_enter and
 * host_vcpu_exit, so a flush waits for it to finish.
 */
#ifndef EPTVISOR_TESTS_EPT_HW_H
#define EPTVISOR_TESTS_EPT_HW_H

#include "ept/ept.h"
#include "ept/iter.h"

/* Access gfn (write or read). True: allowed, A/D set, *leaf = the leaf used as it was found
 * (its frame holds gfn's data; its D tells whether this write set D, which PML would log);
 * false: an EPT violation (the caller runs the fault handler). */
static inline bool hw_access(struct ept *e, gfn_t gfn, bool write, u64 *leaf, int *level)
{
	u64 access = write ? EPT_W : EPT_R;
	u64 ad = write ? EPT_A | EPT_D : EPT_A;
	struct ept_iter it;

	for (;;) {
		ept_iter_find(&it, e, gfn, 1);
		if (!ept_leaf(it.old, it.level) || !ept_allows(it.old, access))
			return false;
		if ((it.old & ad) == ad ||
		    __atomic_compare_exchange_n(it.entry, &it.old, it.old | ad, false,
		                                __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
			break;
	}
	if (leaf)
		*leaf = it.old;
	if (level)
		*level = it.level;
	return true;
}

/* The host frame holding gfn's byte 0 through `leaf` of `level`. */
static inline hfn_t hw_frame(u64 leaf, int level, gfn_t gfn)
{
	return ept_hfn(leaf) + gfn % ept_level_pages(level);
}

#endif
