/*
 * Page migration (see migrate.h): write-protect, flush, wait for walkers, copy, swap the
 * target, flush, free. The guest keeps running: reads go on through the old frames until the
 * swap, writes wait (BUSY) until the new frames are mapped, and neither a CPU holding a
 * writable translation nor a hypervisor writer inside a walk can write the old frames while
 * they are copied.
 *
 * The copy runs without the MMU lock: 2 MiB is a few hundred microseconds at host speed, far
 * beyond a chunk (ept/internal.h), and nobody needs the lock to wait for it. What others may
 * do to the leaf meanwhile is harmless to the copy: shared holders only clear W/A/D (W is
 * clear already) or fill holes, the fast path cannot give W back (MMU_WRITABLE is clear),
 * and the structural changes (split, unmap, collapse, a log's split) are detected when the
 * lock is taken again: the leaf is then no longer the one EPT_MIGRATING was set on, the
 * copy is thrown away and whatever leaves carry the mark get MMU_WRITABLE back (-EAGAIN).
 */
#include "ept/env.h"
#include "ept/internal.h"
#include "ept/migrate.h"
#include "errno.h"
#include "lib.h"

/* Give MMU_WRITABLE back (if the leaf had it) to every leaf in [gfn, end) still marked: the
 * leaf was split, or collapsed with others, while its copy ran. */
static void unmark(struct ept_op *op, gfn_t gfn, gfn_t end, u64 mmu_writable)
{
	struct ept_iter it;

	for_each_ept_entry(it, op->ept, gfn, end, 1) {
		op_resched(op, &it);
		if (ept_leaf(it.old, it.level) && (it.old & EPT_MIGRATING))
			ept_iter_update(&it, EPT_MIGRATING, mmu_writable, op);
	}
}

/* Stand `it` on the leaf of `level` mapping gfn, splitting a larger one. 0, -ENOENT, -EBUSY
 * (smaller, or marked by another migration), -ENOMEM. */
static int find_leaf(struct ept_op *op, struct ept_iter *it, gfn_t gfn, int level)
{
	u64 pages = ept_level_pages(level);

	for (;;) {
		int err;

		ept_iter_find(it, op->ept, gfn, 1);
		if (!ept_leaf(it->old, it->level))
			return -ENOENT;
		/* A VMCS names the frame: moving it here would leave that VMCS naming a freed
		 * frame (ept_migrate_named moves it). */
		if (it->old & EPT_VMCS_NAMED)
			return -EPERM;
		if (it->level < level || (it->old & EPT_MIGRATING))
			return -EBUSY;
		if (it->level == level)
			return 0;
		/* Split only the part holding our piece: the rest of the leaf stays huge. */
		err = ept_split_range(op, ALIGN_DOWN(gfn, pages), ALIGN_DOWN(gfn, pages) + pages,
		                      level);
		if (err)
			return err;
	}
}

int ept_migrate(struct ept *ept, gfn_t gfn, hfn_t to, int level)
{
	const u64 writable = EPT_W | EPT_MMU_WRITABLE;
	u64 pages, old;
	struct ept_iter it;
	struct ept_op op;
	gfn_t base;
	int err;

	if (level < 1 || level > 2)
		return -EINVAL;
	pages = ept_level_pages(level);
	if (gfn >= EPT_GFN_LIMIT || to >= EPT_HFN_LIMIT || pages > EPT_HFN_LIMIT - to)
		return -ERANGE;
	if (!IS_ALIGNED(to, pages))
		return -EINVAL;
	base = ALIGN_DOWN(gfn, pages);
	op_begin(&op, ept, EPT_OP_MIGRATE);
	err = find_leaf(&op, &it, gfn, level);
	if (err)
		return op_end(&op, err);
	old = ept_iter_update(&it, writable, EPT_MIGRATING, &op);
	/* Flush before copying: a CPU still caching W = 1 could write the old frames after
	 * their bytes were copied, and the write would be lost. op_pause flushes, then drops
	 * the lock for the copy. */
	op_pause(&op);
	/* And a grace period: a hypervisor writer (vm_copy_to_guest) that saw MMU_WRITABLE
	 * before the clear writes the old frames inside its walk; once every such walk has
	 * ended its write is in the old frames, and later writers see the bit clear and wait. */
	ept_wait_walkers(ept);
	memcpy(ept_env_data_va(to), ept_env_data_va(ept_hfn(old)), pages * PAGE_SIZE);
	op_resume(&op);
	ept_iter_find(&it, ept, base, 1);
	if (it.level != level || !ept_leaf(it.old, level) || ept_hfn(it.old) != ept_hfn(old) ||
	    !(it.old & EPT_MIGRATING)) {
		unmark(&op, base, base + pages, old & EPT_MMU_WRITABLE);
		return op_end(&op, -EAGAIN);
	}
	/* Clear-and-set on the current value: A/D set by a CPU (or cleared by a harvest)
	 * meanwhile are kept. W stays clear: giving it back here would log the page dirty in
	 * write-protect logs (ept_iter_set logs a leaf that gains W) merely because it moved;
	 * the next write gets W back on the fast path and is logged then. */
	ept_iter_update(&it, EPT_FRAME_MASK | EPT_MIGRATING,
	                hfn_to_hpa(to) | (old & EPT_MMU_WRITABLE), &op);
	/* op_end flushes again before the old frames are freed: no CPU may translate to them
	 * any more. */
	op_end(&op, 0);
	/* A lockless walker (fault fast path, lookup, a hypervisor read) may still hold the
	 * old entry. */
	ept_wait_walkers(ept);
	ept_env_free_data(ept, base, ept_hfn(old), level);
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
