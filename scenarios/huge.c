/*
 * Huge pages by default, and their recovery after dirty logging (issue 14). The VM's 4 MiB
 * split slot has huge backing and nothing mapped at first: the guest's first writes populate
 * it, each fault mapping a whole 2M block with one leaf. The guest then verifies its pattern
 * over and over (writing one word per page) while the host task on CPU 0
 *   1. enables write-protect dirty logging (the 2M leaves split to 4K) and harvests a few
 *      rounds,
 *   2. disables it, which brings the 2M leaves it split back in place by itself, timed,
 *   3. moves one page to another frame (its block is no longer one run): recovery without
 *      a copy budget leaves that block 4K, and a background pass with a budget (khugepaged)
 *      copies it into a fresh run,
 *   4. zaps a block lazily (EPT_COLLAPSE_LAZY: only because the survey says it can be huge)
 *      and lets the guest's next access fault it back with one 2M leaf.
 * Leaf counts are printed at each step as @json lines; the guest's checks prove its memory
 * never changed.
 */
#include "arch/cpu.h"
#include "drivers/console.h"
#include "errno.h"
#include "guest_tests.h"
#include "lib.h"
#include "scenarios/experiments.h"
#include "vmx/report.h"
#include "vmx/settings.h"
#include "vmx/vcpu.h"

#define HUGE_PAGES  (GT_SPLIT_BYTES / PAGE_SIZE)
#define HUGE_BLOCKS (HUGE_PAGES / 512)
#define HUGE_ROUNDS 3

int huge_setup(struct vm *vm, const struct scenario *sc)
{
	(void)sc;
	return vm_add_slot(vm, GT_SPLIT_GPA, GT_SPLIT_BYTES, 2);
}

static void step(struct vm *vm, const char *when, u64 cycles)
{
	const struct ept_stats *s = &vm->ept.stats;

	printk("@json {\"huge\":\"%s\",\"scenario\":\"%s\",\"platform\":\"%s\",\"4k\":%lu,"
	       "\"2m\":%lu,\"1g\":%lu,\"populated_2m\":%lu,\"populated_4k\":%lu,\"splits\":%lu,"
	       "\"collapses\":%lu,\"recovered_by_copy\":%lu,\"cycles\":%lu}\n",
	       when, vm->name, vmx_settings.platform, s->leaves[1], s->leaves[2], s->leaves[3],
	       vm->stats.populated[2], vm->stats.populated[1], s->splits, s->collapses,
	       vm->stats.recovered_copy, cycles);
}

/* Let the guest finish at least one more verification pass over the slot. */
static void wait_pass(struct vm *vm)
{
	u64 seen = ctrl_get(vm, CTRL_GPA(passes[0]));

	while (ctrl_get(vm, CTRL_GPA(passes[0])) == seen && !vm->stopping)
		cpu_relax();
}

/* Pages of the slot mapped by a leaf of `level`. */
static u64 slot_pages_at(struct vm *vm, int level)
{
	u64 n = 0;

	for (gfn_t g = gpa_to_gfn(GT_SPLIT_GPA); g < gpa_to_gfn(GT_SPLIT_GPA) + HUGE_PAGES; g++) {
		int l = 0;

		n += ept_lookup(&vm->ept, g, &l) && l == level;
	}
	return n;
}

static u64 huge_leaves(const struct vm *vm)
{
	return __atomic_load_n(&vm->ept.stats.leaves[2], __ATOMIC_RELAXED);
}

static void log_and_recover(struct vm *vm)
{
	struct ept_dirty_log log = { .gfn = gpa_to_gfn(GT_SPLIT_GPA),
		                     .npages = HUGE_PAGES,
		                     .mode = EPT_DIRTY_WP };
	u64 bm[HUGE_PAGES / 64], out[HUGE_PAGES / 64], dirty = 0, made = 0, t0;
	int err;

	log.bitmap = bm;
	err = ept_dirty_log_enable(&vm->ept, &log);
	step(vm, "dirty logging on", 0);
	vm_check(vm, VM_CHECK_HOST, !err && huge_leaves(vm) == 0,
	         "enabling write-protect logging split the 2M leaves (error %d)", err);
	for (int r = 0; !err && r < HUGE_ROUNDS; r++) {
		wait_pass(vm);
		dirty += vm_dirty_log_harvest(vm, &log, out);
	}
	vm_check(vm, VM_CHECK_HOST, dirty > 0, "the guest kept writing (%lu dirty pages)", dirty);
	if (err)
		return;
	t0 = rdtsc();
	ept_dirty_log_disable(&vm->ept, &log);
	step(vm, "logging off, recovered in place", rdtsc() - t0);
	/* Nothing left for a pass to do: the disable did it all. */
	vm_recover_huge(vm, log.gfn, log.npages, 0, &made);
	vm_check(vm, VM_CHECK_HOST,
	         log.restored == HUGE_BLOCKS && made == 0 && huge_leaves(vm) == HUGE_BLOCKS,
	         "stopping the log brought all %lu 2M leaves back in place by itself (%lu)",
	         (u64)HUGE_BLOCKS, log.restored);
}

/* A block whose frames are no run any more: in place refuses, a budget copies it. */
static void recover_by_copy(struct vm *vm)
{
	gfn_t base = gpa_to_gfn(GT_SPLIT_GPA), moved = base + 7;
	u64 made = 0, copied, t0;
	int err;

	wait_pass(vm);
	err = ept_split(&vm->ept, moved, 1, 1);
	if (!err)
		err = vm_migrate_page(vm, moved);
	vm_check(vm, VM_CHECK_HOST, !err, "split and moved gfn 0x%lx to another frame (error %d)",
	         moved, err);
	wait_pass(vm);
	vm_recover_huge(vm, base, HUGE_PAGES, 0, &made);
	vm_check(vm, VM_CHECK_HOST, made == 0 && huge_leaves(vm) == HUGE_BLOCKS - 1,
	         "without a copy budget the moved block stays 4K (%lu made)", made);
	t0 = rdtsc();
	/* The background task: 4096 pages (16 MiB) a second, for at most 2 s. */
	copied = vm_khugepaged(vm, base, HUGE_PAGES, 4096, 2000, &made);
	step(vm, "background copy", rdtsc() - t0);
	vm_check(vm, VM_CHECK_HOST,
	         made == 1 && copied == 512 && huge_leaves(vm) == HUGE_BLOCKS &&
	                 vm->stats.recovered_copy == 1,
	         "the background collapse task (4096 pages/s) copied it into a fresh run "
	         "(%lu pages copied, %lu made)",
	         copied, made);
}

/* Lazy: zap a block the survey says can be huge; the guest's next access maps it whole. */
static void recover_lazy(struct vm *vm)
{
	gfn_t base = gpa_to_gfn(GT_SPLIT_GPA) + 512;
	u64 populated = vm->stats.populated[2];
	int err;

	wait_pass(vm);
	err = ept_split(&vm->ept, base, 512, 1);
	if (!err)
		err = ept_collapse(&vm->ept, base, 2, EPT_COLLAPSE_LAZY);
	step(vm, "zapped lazily", 0);
	wait_pass(vm);
	wait_pass(vm);
	step(vm, "refaulted", 0);
	vm_check(vm, VM_CHECK_HOST,
	         !err && vm->stats.populated[2] == populated + 1 && huge_leaves(vm) == HUGE_BLOCKS,
	         "a lazy zap came back as one 2M leaf on the next fault (error %d)", err);
}

void huge_host(struct vm *vm, const struct scenario *sc)
{
	(void)sc;
	wait_pass(vm);
	step(vm, "populated", 0);
	vm_check(vm, VM_CHECK_HOST,
	         huge_leaves(vm) == HUGE_BLOCKS && vm->stats.populated[2] == HUGE_BLOCKS &&
	                 slot_pages_at(vm, 2) == HUGE_PAGES,
	         "the guest's first writes populated the slot with %lu 2M leaves, no 4K page",
	         (u64)HUGE_BLOCKS);
	log_and_recover(vm);
	recover_by_copy(vm);
	recover_lazy(vm);
	wait_pass(vm);
	ctrl_set(vm, CTRL_GPA(stop), 1);
	wait_vcpus_done(vm);
	step(vm, "after", 0);
}
