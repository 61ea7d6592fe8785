/*
 * Page migration without pinning: move a guest page, or a whole 2M leaf, to other host
 * frames while the guest runs. (Declared apart from ept.h; part of the same module.)
 */
#ifndef EPTVISOR_EPT_MIGRATE_H
#define EPTVISOR_EPT_MIGRATE_H

#include "ept/ept.h"

/*
 * Move the leaf of `level` (1 = 4K, 2 = 2M) that maps gfn to the run `to` of
 * ept_level_pages(level) frames (aligned to its size). The leaf mapping gfn is moved whole
 * when it is of `level`; a larger leaf is split down to `level` first (so level 1 on a 2M
 * leaf splits it and moves the one 4K page holding gfn; level 2 on a 1G leaf moves one 2M
 * piece); a smaller one is refused (-EBUSY: move its pages one by one).
 *
 * The protocol: take W and MMU_WRITABLE away and mark the leaf EPT_MIGRATING (a write fault
 * then reports EPT_FAULT_BUSY and retries, the fast path cannot give W back), flush, drop the
 * MMU lock, wait out lockless walkers (a hypervisor write that saw MMU_WRITABLE lands
 * first), copy, take the lock again and, if the leaf is still the one it marked, point it at
 * `to` with MMU_WRITABLE back but W clear (the next write takes the fast path and is logged
 * dirty like any write after a write-protect), flush, wait out lockless walkers, and hand
 * the old run to ept_env_free_data(ept, first gfn, old, level) after dropping the lock.
 *
 * 0 on success; -EPERM (the leaf is EPT_VMCS_NAMED: ept_migrate_named moves it),
 * -EINVAL (level not 1 or 2, `to` misaligned), -ERANGE, -ENOENT (gfn not
 * mapped), -EBUSY (the leaf is smaller than `level`, or another migration is moving it),
 * -ENOMEM (split tables), -EAGAIN (someone split, unmapped or collapsed the leaf while it was
 * copied: nothing moved, the leaf is writable again, `to` is the caller's). On any error
 * `to` is still the caller's.
 */
int ept_migrate(struct ept *ept, gfn_t gfn, hfn_t to, int level);

/* Move the one 4K page gfn to the frame `to` (splitting a huge leaf that maps it). */
static inline int ept_migrate_page(struct ept *ept, gfn_t gfn, hfn_t to)
{
	return ept_migrate(ept, gfn, to, 1);
}

/*
 * Move the page gfn whose 4K leaf carries EPT_VMCS_NAMED (the APIC-access page: a VMCS names
 * its frame, so ept_migrate_page refuses it) to the frame `to`: make the leaf absent, flush,
 * wait out lockless walkers, copy, call reload(arg) (the caller has every VMCS name `to`
 * before its next entry), then map `to` with the old attributes. The old frame goes to
 * *old_hfn, not to ept_env_free_data: the caller frees it once no VMCS names it. Exclusive
 * lock throughout, so reload must not wait for anything that needs it. 0, -ENOENT unmapped,
 * -EINVAL not a named 4K leaf, -ERANGE.
 */
int ept_migrate_named(struct ept *ept, gfn_t gfn, hfn_t to, void (*reload)(void *arg), void *arg,
                      hfn_t *old_hfn);

#endif
