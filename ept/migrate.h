/*
 * Page migration without pinning: move a guest page to another host frame while the guest
 * runs. (Declared apart from ept.h; part of the same module.)
 */
#ifndef EPTVISOR_EPT_MIGRATE_H
#define EPTVISOR_EPT_MIGRATE_H

#include "ept/ept.h"

/*
 * Move the page gfn, mapped by a 4K leaf (split a huge leaf first: -EINVAL otherwise,
 * -ENOENT if unmapped, -EPERM if the leaf is EPT_VMCS_NAMED), to the frame `to`: take W and
 * MMU_WRITABLE away (a write fault then reports EPT_FAULT_BUSY and retries, the fast path cannot
 * give W back), flush, wait out lockless walkers (a hypervisor write that saw MMU_WRITABLE lands
 * first), copy, point the leaf at `to` with its old permissions, flush, wait out lockless walkers,
 * and hand the old frame to ept_env_free_data(ept, gfn, old, 1) after dropping the lock. 0 on
 * success.
 */
int ept_migrate_page(struct ept *ept, gfn_t gfn, hfn_t to);

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
