/*
 * Page migration (see migrate.h): write-protect, flush, wait for walkers, copy, swap the
 * target, flush, free. The guest keeps running: reads go on through the old frame until the
 * swap, writes wait (BUSY) until the new frame is mapped, and neither a CPU holding a
 * writable translation nor a hypervisor writer inside a walk can write the old frame while
 * it is copied.
 */
#include "ept/env.h"
#include "ept/internal.h"
#include "ept/migrate.h"
#include "errno.h"
#include "lib.h"

int ept_migrate_page(struct ept *ept, gfn_t gfn, hfn_t to)
{
	const u64 writable = EPT_W | EPT_MMU_WRITABLE;
	struct ept_iter it;
	struct ept_op op;
	u64 old;

	if (gfn >= EPT_GFN_LIMIT || to >= EPT_HFN_LIMIT)
		return -ERANGE;
	op_begin(&op, ept, EPT_OP_MIGRATE);
	ept_iter_find(&it, ept, gfn, 1);
	if (!ept_leaf(it.old, it.level))
		return op_end(&op, -ENOENT);
	if (it.level != 1)
		return op_end(&op, -EINVAL);
	/* A VMCS names the frame: moving it here would leave that VMCS naming a freed frame. */
	if (it.old & EPT_VMCS_NAMED)
		return op_end(&op, -EPERM);
	old = ept_iter_update(&it, writable, 0, &op);
	/* Flush before copying: a CPU still caching W = 1 could write the old frame after
	 * its bytes were copied, and the write would be lost. */
	op_flush(&op);
	/* And a grace period: a hypervisor writer (vm_copy_to_guest) that saw MMU_WRITABLE
	 * before the clear writes the old frame inside its walk; once every such walk has
	 * ended its write is in the old frame, and later writers see the bit clear and wait. */
	ept_wait_walkers(ept);
	memcpy(ept_env_data_va(to), ept_env_data_va(ept_hfn(old)), PAGE_SIZE);
	/* Clear-and-set on the current value: A set by a CPU meanwhile is kept. */
	ept_iter_update(&it, EPT_FRAME_MASK, hfn_to_hpa(to) | (old & writable), &op);
	/* Flush again before the old frame is freed: no CPU may translate to it any more. */
	op_flush(&op);
	/* A lockless walker (fault fast path, lookup) may still hold the old entry. */
	ept_wait_walkers(ept);
	op_end(&op, 0);
	ept_env_free_data(ept, gfn, ept_hfn(old), 1);
	return 0;
}

int ept_migrate_named(struct ept *ept, gfn_t gfn, hfn_t to, void (*reload)(void *arg), void *arg,
                      hfn_t *old_hfn)
{
	struct ept_iter it;
	struct ept_op op;
	u64 old;

	if (gfn >= EPT_GFN_LIMIT || to >= EPT_HFN_LIMIT)
		return -ERANGE;
	op_begin(&op, ept, EPT_OP_MIGRATE);
	ept_iter_find(&it, ept, gfn, 1);
	if (!ept_leaf(it.old, it.level))
		return op_end(&op, -ENOENT);
	if (it.level != 1 || !(it.old & EPT_VMCS_NAMED))
		return op_end(&op, -EINVAL);
	/* Absent, not just read-only: while the VMCSes are reloaded no guest access may reach
	 * either frame through the EPT (one that reached the new frame under a VMCS naming the
	 * old one would touch it as plain memory). A fault meanwhile waits for our lock. */
	old = ept_iter_update(&it, ~0ULL, 0, &op);
	/* Flush: no CPU may go on translating to the old frame once we copy and retarget. */
	op_flush(&op);
	/* And a grace period: a lockless walker that read the old entry is done with it. */
	ept_wait_walkers(ept);
	memcpy(ept_env_data_va(to), ept_env_data_va(ept_hfn(old)), PAGE_SIZE);
	reload(arg);
	/* No flush: an absent entry becomes present, which no cached translation contradicts. */
	ept_iter_replace(&it, ept_leaf_entry(to, 1, old & ~EPT_FRAME_MASK), &op);
	*old_hfn = ept_hfn(old);
	return op_end(&op, 0);
}
