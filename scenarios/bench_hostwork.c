/*
 * The fault-latency benchmark's host task (issue 13): what the host does to the MMU while the
 * guest measures ept_populate_hostwork and wp_fast_hostwork. The bench VM gets a slot of
 * BENCH_HOST_BYTES that the guest never touches, mapped with 4K leaves. When the guest
 * switches the work on (HC_BENCH_HOSTWORK, hypercall/bench.c) this task, on CPU 0, registers
 * an A/D tracker and enables a write-protect dirty log over the slot, then runs rounds back
 * to back: one ept_scan clearing the A bits of the whole slot, then one
 * ept_dirty_log_get_and_clear of the log. When the guest switches it off, the log and the
 * tracker go: the paths measured without host work see the MMU as they did before (every
 * registered log is one more step of the dirty-logging fast path's list walk). Each
 * completed round is counted (the measurements record how many overlapped them) and
 * announced to the guest in struct bench_host_status, with its length, so the guest can
 * spread its samples over several rounds.
 *
 * Bounds: at most BENCH_HOST_MAX_ROUNDS rounds, then the task stops working and says so (a
 * failed check); otherwise it waits only for the vCPUs to finish, which their preemption-
 * timer budget bounds. The task's state is static: a VM whose set-up fails leaks nothing.
 */
#include "arch/cpu.h"
#include "drivers/console.h"
#include "errno.h"
#include "hypercall/bench.h"
#include "lib.h"
#include "scenarios/fault_latency.h"
#include "vmx/report.h"
#include "vmx/settings.h"
#include "vmx/vcpu.h"

#define HOST_PAGES            (BENCH_HOST_BYTES / PAGE_SIZE)
#define BENCH_HOST_MAX_ROUNDS 100000 /* far more than the guest's pacing asks for */

/* What the task keeps over the slot: the tracker's young bits, the log, its harvest. */
static struct {
	struct ept_tracker tracker;
	struct ept_dirty_log log;
	u64 young[HOST_PAGES / 64];
	u64 bits[HOST_PAGES / 64];
	u64 out[HOST_PAGES / 64];
} hw;

/* How the task's rounds went, for its @json line. */
struct hw_stats {
	u64 rounds, scans, harvests, failed, enables;
	u64 scan_max, scan_total, harvest_max, harvest_total; /* TSC cycles */
	u64 enable_max;                                       /* TSC cycles */
	bool registered; /* the tracker and the log are on the EPT's lists */
	bool exhausted;
};

int bench_hostwork_setup(struct vm *vm)
{
	gfn_t gfn = gpa_to_gfn(GT_BENCH_HOST_GPA);
	int err = vm_add_huge_slot(vm, GT_BENCH_HOST_GPA, BENCH_HOST_BYTES, 2);

	/* 4K leaves, as a migrating guest's memory is once logging split it: the scan and the
	 * harvest then visit every page (the log's enable would split it too). */
	return err ? err : ept_split(&vm->ept, gfn, HOST_PAGES, 1);
}

/* Tell the guest whether the tracker and the log are registered. */
static void hw_busy(struct vm *vm, u64 busy)
{
	vm_copy_to_guest(vm, GT_BENCH_HOST_STATUS_GPA + offsetof(struct bench_host_status, busy),
	                 &busy, sizeof(busy));
}

/* The guest switched the work on: a fresh tracker and log over the slot (the enable
 * write-protects every page, under the lock: the guest waits for two rounds after it). */
static bool hw_register(struct vm *vm, struct hw_stats *st)
{
	gfn_t gfn = gpa_to_gfn(GT_BENCH_HOST_GPA);
	u64 t0 = rdtsc();
	int err;

	memset(&hw, 0, sizeof(hw));
	hw.tracker = (struct ept_tracker){ .gfn = gfn, .npages = HOST_PAGES, .young = hw.young };
	hw.log = (struct ept_dirty_log){
		.gfn = gfn, .npages = HOST_PAGES, .bitmap = hw.bits, .mode = EPT_DIRTY_WP
	};
	err = ept_tracker_add(&vm->ept, &hw.tracker);
	if (err)
		return false;
	err = ept_dirty_log_enable(&vm->ept, &hw.log);
	if (err) {
		ept_tracker_del(&vm->ept, &hw.tracker);
		return false;
	}
	st->enables++;
	st->enable_max = MAX(st->enable_max, rdtsc() - t0);
	st->registered = true;
	hw_busy(vm, 1);
	return true;
}

/* The guest switched the work off, or the task ends: the log and the tracker go, and then
 * the guest learns it may measure without host work again. */
static void hw_unregister(struct vm *vm, struct hw_stats *st)
{
	if (!st->registered)
		return;
	ept_dirty_log_disable(&vm->ept, &hw.log);
	ept_tracker_del(&vm->ept, &hw.tracker);
	st->registered = false;
	hw_busy(vm, 0);
}

/* One round: a clearing scan of the slot, then a harvest of its log, each timed. */
static void one_round(struct vm *vm, struct hw_stats *st)
{
	struct ept_scan out = { 0 };
	struct bench_host_status status;
	u64 t0 = rdtsc(), t1, t2;
	int scan = ept_scan(&vm->ept, &hw.tracker, &out, true);
	s64 harvest;

	t1 = rdtsc();
	harvest = ept_dirty_log_get_and_clear(&vm->ept, &hw.log, hw.out);
	t2 = rdtsc();
	st->rounds++;
	st->scans += scan == 0;
	st->harvests += harvest >= 0;
	st->failed += scan != 0 || harvest < 0;
	st->scan_max = MAX(st->scan_max, t1 - t0);
	st->scan_total += t1 - t0;
	st->harvest_max = MAX(st->harvest_max, t2 - t1);
	st->harvest_total += t2 - t1;
	bench_host_round_done(scan == 0, harvest >= 0);
	/* The length first, then the count: the guest reads the count, then the length (8-byte
	 * aligned copies are single stores, and x86 keeps stores in order). */
	status = (struct bench_host_status){ .rounds = st->rounds, .round_cycles = t2 - t0 };
	vm_copy_to_guest(vm, GT_BENCH_HOST_STATUS_GPA + 8, &status.round_cycles, 8);
	vm_copy_to_guest(vm, GT_BENCH_HOST_STATUS_GPA, &status.rounds, 8);
}

static bool vcpus_done(const struct vm *vm)
{
	for (int i = 0; i < vm->nvcpus; i++)
		/* ACQUIRE, as wait_vcpus_done: nothing read after depends on it but the loop. */
		if (__atomic_load_n(&vm->vcpus[i]->state, __ATOMIC_ACQUIRE) == VCPU_RUNNING)
			return false;
	return true;
}

static void report(struct vm *vm, const struct hw_stats *st)
{
	printk("@json {\"bench_host\":\"fault_latency\",\"scenario\":\"%s\",\"platform\":\"%s\","
	       "\"slot_mib\":%lu,\"pages\":%lu,\"rounds\":%lu,\"scans\":%lu,\"harvests\":%lu,"
	       "\"failed\":%lu,\"scan_max\":%lu,\"scan_mean\":%lu,\"harvest_max\":%lu,"
	       "\"harvest_mean\":%lu,\"enables\":%lu,\"enable_max\":%lu,\"exhausted\":%s}\n",
	       vm->name, vmx_settings.platform, (u64)(BENCH_HOST_BYTES >> 20), (u64)HOST_PAGES,
	       st->rounds, st->scans, st->harvests, st->failed, st->scan_max,
	       st->rounds ? st->scan_total / st->rounds : 0, st->harvest_max,
	       st->rounds ? st->harvest_total / st->rounds : 0, st->enables, st->enable_max,
	       st->exhausted ? "true" : "false");
	vm_check(vm, VM_CHECK_HOST, !st->failed && !st->exhausted,
	         "bench host task: %lu rounds (%lu scans, %lu harvests), %lu failed, "
	         "within its budget of %u",
	         st->rounds, st->scans, st->harvests, st->failed, BENCH_HOST_MAX_ROUNDS);
}

void bench_hostwork_host(struct vm *vm, const struct scenario *sc)
{
	struct hw_stats st = { 0 };

	(void)sc;
	while (!vcpus_done(vm) && !vm->stopping) {
		if (!bench_host_wanted()) {
			hw_unregister(vm, &st);
			cpu_relax();
			continue;
		}
		if (st.rounds == BENCH_HOST_MAX_ROUNDS) {
			st.exhausted = true;
			break;
		}
		if (!st.registered && !hw_register(vm, &st)) {
			st.failed++;
			break;
		}
		one_round(vm, &st);
	}
	bench_host_end();
	wait_vcpus_done(vm);
	hw_unregister(vm, &st);
	report(vm, &st);
}
