/*
 * A simulated CPU using the EPT, for host tests: what the hardware does on an access with
 * EPT A/D enabled. It walks with the one iterator; if the leaf allows the access it sets A
 * (and D for a write) with a cmpxchg, which fails if the entry changed meanwhile (a CPU's
 * locked A/D update on an entry that is no longer the one it walked): then it walks again.
 * As the CPU does (SDM: the accessed flag is set in every paging-structure entry used for a
 * translation), A is set on each non-leaf entry of the path first, top down, then on the
 * leaf; the A/D scan relies on that to skip tables whose parent entry has A clear.
 * No TLB is simulated: every access walks. Race tests call it between host_vcpu_enter and
 * host_vcpu_exit, so a flush waits for it to finish.
 */
#ifndef EPTVISOR_TESTS_EPT_HW_H
#define EPTVISOR_TESTS_EPT_HW_H

#include "ept/ept.h"
#include "ept/iter.h"

/* Set A on the non-leaf entries above the leaf `it` stands on, top down; false if one of
 * them changed since the walk read it (walk again). */
static inline bool hw_set_path_a(const struct ept_iter *it, gfn_t gfn)
{
	for (int l = EPT_LEVELS; l > it->level; l--) {
		u64 *p = &it->tables[l][ept_index(gfn, l)];
		u64 old = __atomic_load_n(p, __ATOMIC_SEQ_CST);

		if (!ept_table(old, l))
			return false;
		if (!(old & EPT_A) &&
		    !__atomic_compare_exchange_n(p, &old, old | EPT_A, false, __ATOMIC_SEQ_CST,
		                                 __ATOMIC_SEQ_CST))
			return false;
	}
	return true;
}

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
		if (!hw_set_path_a(&it, gfn))
			continue;
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

/* A write through a translation the CPU still caches from `entry` (its TLB), after the
 * entry may have been unlinked: the CPU sets A and D in the entry it cached, locked, as long
 * as the entry is the leaf it cached (until the flush reaches the CPU). */
static inline void hw_cached_write(u64 *entry)
{
	u64 old = __atomic_load_n(entry, __ATOMIC_SEQ_CST);

	while (ept_present(old) &&
	       !__atomic_compare_exchange_n(entry, &old, old | EPT_A | EPT_D, false,
	                                    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
		;
}

/* The host frame holding gfn's byte 0 through `leaf` of `level`. */
static inline hfn_t hw_frame(u64 leaf, int level, gfn_t gfn)
{
	return ept_hfn(leaf) + gfn % ept_level_pages(level);
}

#endif
