/*
 * Page migration without pinning: move a guest page to another host frame while the guest
 * runs. (Declared apart from ept.h; part of the same module.)
 */
#ifndef EPTVISOR_EPT_MIGRATE_H
#define EPTVISOR_EPT_MIGRATE_H

#include "ept/ept.h"

/*
 * Move the page gfn, mapped by a 4K leaf (split a huge leaf first: -EINVAL otherwise,
 * -ENOENT if unmapped), to the frame `to`: take W and MMU_WRITABLE away (a write fault then
 * reports EPT_FAULT_BUSY and retries, the fast path cannot give W back), flush, wait out
 * lockless walkers (a hypervisor write that saw MMU_WRITABLE lands first), copy, point
 * the leaf at `to` with its old permissions, flush, wait out lockless walkers, and hand the
 * old frame to ept_env_free_data(ept, gfn, old, 1) after dropping the lock. 0 on success.
 */
int ept_migrate_page(struct ept *ept, gfn_t gfn, hfn_t to);

#endif
