/*
 * Huge pages split and collapsed under a running guest. The VM has a slot mapped by 2M
 * leaves; a vCPU on another CPU keeps verifying a pattern over it (and writing one counter
 * word per page, so dirty logging has work). The host task enables write-protect dirty
 * logging (the leaves split eagerly to 4K), harvests a few rounds and disables it, which
 * collapses the leaves back in place by itself (the frames are still contiguous). Then it migrates
 * one page to another frame, so the block is no longer contiguous: in-place collapse must refuse,
 * and collapse by copying must succeed. Leaf counts are printed before, during and after; the
 * guest's checks prove its memory never changed.
 */
#include "drivers/console.h"
#include "drivers/timer.h"
#include "errno.h"
#include "guest_tests.h"
#include "lib.h"
#include "mm/mm.h"
#include "scenarios/experiments.h"
#include "vmx/report.h"
#include "vmx/settings.h"
#include "vmx/vcpu.h"

#define SPLIT_PAGES    (GT_SPLIT_BYTES / PAGE_SIZE)
#define HARVEST_ROUNDS 3

int split_setup(struct vm *vm, const struct scenario *sc)
{
	(void)sc;
	return vm_add_huge_slot(vm, GT_SPLIT_GPA, GT_SPLIT_BYTES, 2);
}

static void print_leaves(struct vm *vm, const char *when)
{
	const struct ept_stats *s = &vm->ept.stats;

	printk("@json {\"leaves\":\"%s\",\"scenario\":\"%s\",\"platform\":\"%s\",\"4k\":%lu,"
	       "\"2m\":%lu,\"1g\":%lu,\"splits\":%lu,\"collapses\":%lu}\n",
	       when, vm->name, vmx_settings.platform, s->leaves[1], s->leaves[2], s->leaves[3],
	       s->splits, s->collapses);
}

/* Let the guest finish at least one more verification pass over the slot. */
static void wait_guest_pass(struct vm *vm)
{
	u64 seen = ctrl_get(vm, CTRL_GPA(passes[0]));

	while (ctrl_get(vm, CTRL_GPA(passes[0])) == seen && !vm->stopping)
		cpu_relax();
}

static int collapse_slot(struct vm *vm, enum ept_collapse_mode mode)
{
	int err = 0;

	for (u64 p = 0; !err && p < SPLIT_PAGES; p += 512)
		err = ept_collapse(&vm->ept, gpa_to_gfn(GT_SPLIT_GPA) + p, 2, mode);
	return err;
}

static void log_rounds(struct vm *vm)
{
	struct ept_dirty_log log = { .gfn = gpa_to_gfn(GT_SPLIT_GPA),
		                     .npages = SPLIT_PAGES,
		                     .mode = EPT_DIRTY_WP };
	u64 splits = vm->ept.stats.splits, bm[SPLIT_PAGES / 64], out[SPLIT_PAGES / 64], dirty = 0;
	int err;

	log.bitmap = bm;
	err = ept_dirty_log_enable(&vm->ept, &log);
	print_leaves(vm, "dirty logging on");
	vm_check(vm, VM_CHECK_HOST,
	         !err && vm->ept.stats.leaves[2] == 0 &&
	                 vm->ept.stats.splits - splits == SPLIT_PAGES / 512,
	         "enabling write-protect logging split both 2M leaves eagerly (error %d)", err);
	for (int r = 0; !err && r < HARVEST_ROUNDS; r++) {
		wait_guest_pass(vm);
		dirty += vm_dirty_log_harvest(vm, &log, out);
	}
	vm_check(vm, VM_CHECK_HOST, dirty > 0,
	         "the guest kept writing while split (%lu dirty pages)", dirty);
	if (!err)
		ept_dirty_log_disable(&vm->ept, &log);
	vm_check(vm, VM_CHECK_HOST, !err && log.restored == SPLIT_PAGES / 512,
	         "disabling logging collapsed them in place by itself (%lu leaves restored)",
	         log.restored);
}

void split_host(struct vm *vm, const struct scenario *sc)
{
	gfn_t moved = gpa_to_gfn(GT_SPLIT_GPA) + 7;
	u64 collapses;
	int err;

	(void)sc;
	wait_guest_pass(vm);
	print_leaves(vm, "before");
	collapses = vm->ept.stats.collapses;
	log_rounds(vm);
	/* Already huge again: a collapse of each block finds one leaf and does nothing. */
	err = collapse_slot(vm, EPT_COLLAPSE_IN_PLACE);
	print_leaves(vm, "collapsed in place");
	vm_check(vm, VM_CHECK_HOST,
	         !err && vm->ept.stats.leaves[2] == SPLIT_PAGES / 512 &&
	                 vm->ept.stats.collapses - collapses == SPLIT_PAGES / 512,
	         "the slot is two 2M leaves again, each collapsed once (error %d)", err);
	wait_guest_pass(vm);
	err = ept_split(&vm->ept, moved, 1, 1);
	if (!err)
		err = vm_migrate_page(vm, moved);
	vm_check(vm, VM_CHECK_HOST, !err,
	         "split again and migrated gfn 0x%lx to another frame (error %d)", moved, err);
	wait_guest_pass(vm);
	err = ept_collapse(&vm->ept, moved & ~511ULL, 2, EPT_COLLAPSE_IN_PLACE);
	vm_check(vm, VM_CHECK_HOST, err == -EBUSY,
	         "in-place collapse refuses non-contiguous frames (%d)", err);
	err = ept_collapse(&vm->ept, moved & ~511ULL, 2, EPT_COLLAPSE_COPY);
	print_leaves(vm, "collapsed by copy");
	vm_check(vm, VM_CHECK_HOST, !err && vm->ept.stats.leaves[2] == SPLIT_PAGES / 512,
	         "collapse by copying into a new aligned run (error %d)", err);
	wait_guest_pass(vm);
	ctrl_set(vm, CTRL_GPA(stop), 1);
	wait_vcpus_done(vm);
	print_leaves(vm, "after");
}
