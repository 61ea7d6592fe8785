/*
 * The mission's features on a PC guest: while an unmodified multiboot kernel (pcmb1 with
 * work=N: it rewrites and verifies a 4 MiB buffer at 8 MiB, N passes) runs, the host task
 * on CPU 0 logs its dirty pages in each mode, classifies its memory hot and cold, and
 * collapses 2 MiB of the live buffer into one leaf by copying, splits it and collapses it
 * again in place. The kernel's own verification (and its exit code) proves nothing it
 * wrote was lost while its memory moved under it.
 */
#include "drivers/console.h"
#include "drivers/timer.h"
#include "errno.h"
#include "lib.h"
#include "mm/mm.h"
#include "pc/pc.h"
#include "scenarios/experiments.h"
#include "vmx/report.h"
#include "vmx/settings.h"
#include "vmx/vcpu.h"
#include "vmx/vmcs_pages.h"
#include "vmx/vmx.h"

#define PC_WORK_GPA   0x800000ULL /* the buffer pcmb1's work= passes rewrite (guests/pc) */
#define PC_WORK_BYTES 0x400000ULL
#define MAX_ROUNDS    1000
#define ROUND_US      2000

static const char *const mode_names[] = { "write-protect", "D-bit", "PML" };

int pc_mission_setup(struct vm *vm, const struct scenario *sc)
{
	(void)sc;
	vm->use_pml = vmx_caps.pml; /* before the vCPUs exist: they get PML buffers */
	/* Back the first 2 MiB of the buffer now: a collapse needs every page present. */
	return vm_prepopulate(vm, PC_WORK_GPA, 512);
}

static bool guest_running(struct vm *vm)
{
	return !vm->stopping;
}

static void dirty_mode(struct vm *vm, enum ept_dirty_mode mode, u64 *bm, u64 *out, u64 npages)
{
	struct ept_dirty_log log = { .gfn = 0, .npages = npages, .bitmap = bm, .mode = mode };
	u64 dirty = 0, want = PC_WORK_BYTES / PAGE_SIZE;
	int err = ept_dirty_log_enable(&vm->ept, &log), r;

	/* Harvest until one whole pass (a write in each of the buffer's 1024 pages) was seen. */
	for (r = 0; !err && r < MAX_ROUNDS && dirty < want && guest_running(vm); r++) {
		udelay(ROUND_US);
		dirty += vm_dirty_log_harvest(vm, &log, out);
	}
	if (!err)
		ept_dirty_log_disable(&vm->ept, &log);
	vm_check(vm, VM_CHECK_HOST, !err && dirty >= want,
	         "%s dirty log of the running kernel: "
	         "%lu dirty pages in %d rounds (error %d)",
	         mode_names[mode], dirty, r, err);
}

static void idle_scan(struct vm *vm, u64 *young, u64 npages)
{
	struct ept_tracker t = { .gfn = 0, .npages = npages, .young = young };
	struct ept_scan s = { 0 };
	int err = ept_tracker_add(&vm->ept, &t);

	if (!err)
		err = ept_scan(&vm->ept, &t, &s, true); /* clear: start a fresh interval */
	udelay(ROUND_US);
	if (!err)
		err = ept_scan(&vm->ept, &t, &s, true);
	if (!err)
		ept_tracker_del(&vm->ept, &t);
	vm_check(vm, VM_CHECK_HOST,
	         !err && s.pages[EPT_PAGE_ACCESSED] > 0 && s.pages[EPT_PAGE_IDLE] > 0,
	         "idle scan of the kernel's memory: %lu hot, %lu idle, %lu holes (error %d)",
	         s.pages[EPT_PAGE_ACCESSED], s.pages[EPT_PAGE_IDLE], s.pages[EPT_PAGE_HOLE], err);
}

static void split_collapse(struct vm *vm)
{
	gfn_t gfn = gpa_to_gfn(PC_WORK_GPA);
	int err = ept_collapse(&vm->ept, gfn, 2, EPT_COLLAPSE_COPY);

	vm_check(vm, VM_CHECK_HOST, !err && vm->ept.stats.leaves[2] == 1,
	         "2 MiB of the live "
	         "buffer collapsed into one leaf by copying (error %d, %lu 2M leaves)",
	         err, vm->ept.stats.leaves[2]);
	err = ept_split(&vm->ept, gfn, 512, 1);
	vm_check(vm, VM_CHECK_HOST, !err && vm->ept.stats.leaves[2] == 0,
	         "split back to 4K (error %d)", err);
	err = ept_collapse(&vm->ept, gfn, 2, EPT_COLLAPSE_IN_PLACE);
	vm_check(vm, VM_CHECK_HOST, !err && vm->ept.stats.leaves[2] == 1,
	         "collapsed again in "
	         "place: the frames stayed one aligned run (error %d)",
	         err);
}

#define COMPACT_BYTES (8 * MIB)

/* Evacuate the 8 MiB of host memory around the kernel's APIC-access page while it runs: its
 * RAM pages there move, and the APIC-access page (and a virtual-APIC page in the range) move
 * with every VMCS reloaded. Hypervisor objects in the range (EPT tables, other VMs' pages)
 * stay: free_after says how much of it ended free. */
static void compact_apic_range(struct vm *vm)
{
	hpa_t apic = vm_apic_access_hpa(vm), lo = ALIGN_DOWN(apic, COMPACT_BYTES);
	struct vm_compact_stats st;
	int err = vm_compact(vm, lo, COMPACT_BYTES, &st);
	hpa_t now = vm_apic_access_hpa(vm);

	printk("@json "
	       "{\"pc_compact\":\"%s\",\"platform\":\"%s\",\"range\":\"0x%lx\",\"frames\":%lu,"
	       "\"free_before\":%lu,\"free_after\":%lu,\"pages_4k\":%lu,\"leaves_2m\":%lu,"
	       "\"platform_pages\":%lu,\"left\":%lu,\"apic_access_moved\":%d,\"cycles\":%lu}\n",
	       vm->name, vmx_settings.platform, lo, st.frames, st.free_before, st.free_after,
	       st.pages_4k, st.leaves_2m, st.platform, st.left, now != apic, st.cycles);
	vm_check(vm, VM_CHECK_HOST, !err && st.left == 0 && (now < lo || now >= lo + COMPACT_BYTES),
	         "compacted the 8 MiB holding the APIC-access page: %lu pages moved, it too "
	         "(error %d)",
	         st.pages_4k, err);
}

void pc_mission_host(struct vm *vm, const struct scenario *sc)
{
	u64 npages = vm->slots[0].npages, words = (npages + 63) / 64;
	u64 *bm = kzalloc(words * 8), *out = kzalloc(words * 8);

	(void)sc;
	if (!bm || !out) {
		vm_check(vm, VM_CHECK_HOST, false, "out of memory for the bitmaps");
	} else {
		/* Start once the kernel's work passes run: its first pass populates the buffer's
		 * last page (the first 2 MiB were populated by the set-up). */
		while (guest_running(vm) &&
		       !ept_lookup(&vm->ept, gpa_to_gfn(PC_WORK_GPA + PC_WORK_BYTES - PAGE_SIZE),
		                   NULL))
			cpu_relax();
		for (int m = EPT_DIRTY_WP; m <= EPT_DIRTY_PML; m++)
			if (m != EPT_DIRTY_PML || vm->use_pml)
				dirty_mode(vm, m, bm, out, npages);
		idle_scan(vm, bm, npages);
		split_collapse(vm);
	}
	kfree(bm, words * 8);
	kfree(out, words * 8);
	wait_vcpus_done(vm);
}

/* pc_compact: the same kernel with a longer run; the host compacts the 8 MiB holding its
 * APIC-access page while it works, and the kernel's own check of its buffer must pass. */
void pc_compact_host(struct vm *vm, const struct scenario *sc)
{
	(void)sc;
	while (guest_running(vm) &&
	       !ept_lookup(&vm->ept, gpa_to_gfn(PC_WORK_GPA + PC_WORK_BYTES - PAGE_SIZE), NULL))
		cpu_relax();
	compact_apic_range(vm);
	wait_vcpus_done(vm);
}
