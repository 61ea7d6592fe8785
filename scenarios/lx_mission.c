/*
 * The mission's features under a Linux guest (guest= with guest_mission=SIZE; issue 16 item
 * 6): the host task on CPU 0 waits until the guest has SIZE of its RAM populated (its
 * workload runs: scripts/linux/init's 64 MiB tmpfs write and checksum, repeated while
 * eptvisor_mission=N is on its command line), then, while Linux runs, logs its dirty pages in
 * each mode, scans all its memory for hot / idle / hole pages, and splits 2 MiB leaves under
 * it and collapses them again. With a store (guest_store=) it is also the store's I/O task
 * and runs its reclaim policy throughout, as pc_store_host does, whose report ends the run.
 * One @json line per feature; every wait is bounded (the guest may never get there, or stop).
 * The guest's own checksum (the init's "workload:" line) says nothing it wrote was lost.
 */
#include "arch/cpu.h"
#include "drivers/console.h"
#include "drivers/timer.h"
#include "errno.h"
#include "lib.h"
#include "mm/mm.h"
#include "pc/pc.h"
#include "scenarios/experiments.h"
#include "scenarios/scenario.h"
#include "vmx/reclaim.h"
#include "vmx/report.h"
#include "vmx/settings.h"
#include "vmx/store.h"
#include "vmx/vcpu.h"
#include "vmx/vmx.h"

#define WAIT_MAX_S    900   /* emulated seconds the host waits for the workload */
#define DIRTY_ROUNDS  10    /* harvests per dirty-log mode */
#define ROUND_US      20000 /* between two harvests, and the idle scan's interval */
#define BLOCK_PAGES   512   /* one 2 MiB leaf */
#define MAX_BLOCKS    8     /* 2 MiB leaves split and collapsed */
#define LEVEL_PAGES_3 (512ULL * 512)

static const char *const mode_names[] = { "write-protect", "D-bit", "PML" };

/* What the host task serves while it waits: the store's I/O and its reclaim policy. */
struct lx_ctx {
	struct vm *vm;
	u64 limit; /* resident store pages (0: no limit, or no store) */
};

int lx_mission_setup(struct vm *vm)
{
	vm->use_pml = vmx_caps.pml; /* before the vCPUs exist: they get PML buffers */
	return 0;
}

/* Serve the store for `us` microseconds (or until the guest stops). */
static void serve(struct lx_ctx *c, u64 us)
{
	u64 t0 = rdtsc();

	do {
		vm_store_service(c->vm);
		if (c->limit)
			vm_store_reclaim_poll(c->vm, c->limit);
		cpu_relax();
	} while (tsc_to_us(rdtsc() - t0) < us && vm_any_vcpu_running(c->vm));
}

/* Guest RAM the EPT maps now, in pages (its leaves by size; racy reads, a threshold's). */
static u64 mapped_pages(struct vm *vm)
{
	const struct ept_stats *s = &vm->ept.stats;

	return s->leaves[1] + s->leaves[2] * BLOCK_PAGES + s->leaves[3] * LEVEL_PAGES_3;
}

/* The end of guest RAM (slot 0 and the store; not the private APIC-access page), in pages. */
static u64 ram_pages(struct vm *vm)
{
	u64 end = 0;

	for (int i = 0; i < vm->nslots; i++)
		if (!vm->slots[i].vmcs_named)
			end = MAX(end, vm->slots[i].base_gfn + vm->slots[i].npages);
	return end;
}

/* Wait until `want` pages are mapped, the guest stops or WAIT_MAX_S pass. True: reached. */
static bool wait_workload(struct lx_ctx *c, u64 want)
{
	u64 t0 = rdtsc();
	bool ok = mapped_pages(c->vm) >= want;

	while (!ok && vm_any_vcpu_running(c->vm) &&
	       tsc_to_us(rdtsc() - t0) < WAIT_MAX_S * 1000000ULL) {
		serve(c, 1000);
		ok = mapped_pages(c->vm) >= want;
	}
	printk("@json {\"lx_mission\":\"start\",\"vm\":\"%s\",\"platform\":\"%s\","
	       "\"wanted_mib\":%lu,\"mapped_mib\":%lu,\"waited_ms\":%lu,\"reached\":%d}\n",
	       c->vm->name, vmx_settings.platform, want >> 8, mapped_pages(c->vm) >> 8,
	       tsc_to_us(rdtsc() - t0) / 1000, ok);
	return ok;
}

/* What Linux's KVM guest code wrote to the async-PF MSRs (devices/kvm_apf.h), per vCPU: it
 * enables them only when CPUID says KVM (guest_pv=kvm) and offers KVM_FEATURE_ASYNC_PF_INT. */
static void report_apf_msrs(struct vm *vm)
{
	char buf[96 * MAX_VCPUS];
	int n = 0;

	for (int i = 0; i < vm->nvcpus && n < (int)sizeof(buf); i++) {
		const struct kvm_apf *a = &to_pc_vcpu(vm->vcpus[i])->apf;

		n += snprintf(buf + n, sizeof(buf) - (size_t)n,
		              "%s{\"vcpu\":%d,\"async_pf_en\":\"0x%lx\",\"async_pf_int\":%lu}",
		              i ? "," : "", i, a->msr_en, a->msr_int);
	}
	/* One printk: a line another CPU's output cannot cut. */
	printk("@json {\"lx_mission\":\"kvm_apf\",\"vm\":\"%s\",\"platform\":\"%s\","
	       "\"kvm_pv\":%d,\"msrs\":[%s]}\n",
	       vm->name, vmx_settings.platform, to_pc_vm(vm)->kvm_pv, buf);
}

static void dirty_mode(struct lx_ctx *c, enum ept_dirty_mode mode, u64 *bm, u64 *out, u64 npages)
{
	struct vm *vm = c->vm;
	struct ept_dirty_log log = { .gfn = 0, .npages = npages, .bitmap = bm, .mode = mode };
	u64 t0 = rdtsc(), dirty = 0, maxr = 0;
	int err = ept_dirty_log_enable(&vm->ept, &log), r;

	for (r = 0; !err && r < DIRTY_ROUNDS && vm_any_vcpu_running(vm); r++) {
		s64 n;

		serve(c, ROUND_US);
		n = vm_dirty_log_harvest(vm, &log, out);
		if (n < 0) {
			err = (int)n;
			break;
		}
		dirty += (u64)n;
		maxr = MAX(maxr, (u64)n);
	}
	if (!err)
		ept_dirty_log_disable(&vm->ept, &log);
	printk("@json {\"lx_mission\":\"dirty\",\"vm\":\"%s\",\"platform\":\"%s\",\"mode\":\"%s\","
	       "\"rounds\":%d,\"round_us\":%u,\"dirty_pages\":%lu,\"max_round\":%lu,"
	       "\"restored_2m\":%lu,\"error\":%d,\"ms\":%lu}\n",
	       vm->name, vmx_settings.platform, mode_names[mode], r, ROUND_US, dirty, maxr,
	       log.restored, err, tsc_to_us(rdtsc() - t0) / 1000);
	vm_check(vm, VM_CHECK_HOST, !err && dirty > 0,
	         "%s dirty log of running Linux: %lu dirty pages in %d rounds (error %d)",
	         mode_names[mode], dirty, r, err);
}

static void idle_scan(struct lx_ctx *c, u64 *young, u64 npages)
{
	struct vm *vm = c->vm;
	struct ept_tracker t = { .gfn = 0, .npages = npages, .young = young };
	struct ept_scan s = { 0 };
	int err;

	memset(young, 0, ALIGN_UP(npages, 64) / 8);
	err = ept_tracker_add(&vm->ept, &t);
	if (!err)
		err = ept_scan(&vm->ept, &t, &s, true); /* clear: start a fresh interval */
	serve(c, ROUND_US);
	if (!err) {
		s = (struct ept_scan){ 0 };
		err = ept_scan(&vm->ept, &t, &s, true);
		ept_tracker_del(&vm->ept, &t);
	}
	printk("@json {\"lx_mission\":\"idle\",\"vm\":\"%s\",\"platform\":\"%s\",\"pages\":%lu,"
	       "\"interval_us\":%u,\"hot\":%lu,\"idle\":%lu,\"hole\":%lu,\"error\":%d}\n",
	       vm->name, vmx_settings.platform, npages, ROUND_US, s.pages[EPT_PAGE_ACCESSED],
	       s.pages[EPT_PAGE_IDLE], s.pages[EPT_PAGE_HOLE], err);
	vm_check(vm, VM_CHECK_HOST,
	         !err && s.pages[EPT_PAGE_ACCESSED] > 0 && s.pages[EPT_PAGE_IDLE] > 0,
	         "idle scan of Linux's memory: %lu hot, %lu idle, %lu holes (error %d)",
	         s.pages[EPT_PAGE_ACCESSED], s.pages[EPT_PAGE_IDLE], s.pages[EPT_PAGE_HOLE], err);
}

/* Every page of the 2 MiB block at gfn mapped by 4K leaves? */
static bool block_all_4k(struct vm *vm, gfn_t gfn)
{
	int level;

	for (u64 i = 0; i < BLOCK_PAGES; i++)
		if (!ept_lookup(&vm->ept, gfn + i, &level) || level != 1)
			return false;
	return true;
}

struct sc_counts {
	u64 splits, in_place, copies, errors, tried;
	int last_err;
};

static void count(struct sc_counts *n, int err, u64 *ok)
{
	if (err) {
		n->errors++;
		n->last_err = err;
	} else {
		(*ok)++;
	}
}

/* One 2 MiB block of slot 0: a 2M leaf is split to 4K and collapsed again in place; a block
 * the guest populated at 4K is collapsed by copying into a fresh aligned run. */
static void split_collapse_block(struct vm *vm, gfn_t gfn, struct sc_counts *n)
{
	int level;

	if (ept_lookup(&vm->ept, gfn, &level) && level == 2) {
		n->tried++;
		count(n, ept_split(&vm->ept, gfn, BLOCK_PAGES, 1), &n->splits);
		count(n, ept_collapse(&vm->ept, gfn, 2, EPT_COLLAPSE_IN_PLACE), &n->in_place);
	} else if (block_all_4k(vm, gfn)) {
		n->tried++;
		count(n, ept_collapse(&vm->ept, gfn, 2, EPT_COLLAPSE_COPY), &n->copies);
	}
}

static void split_collapse(struct lx_ctx *c)
{
	struct vm *vm = c->vm;
	u64 blocks = vm->slots[0].npages / BLOCK_PAGES, stride = MAX(blocks / MAX_BLOCKS, 1);
	struct sc_counts n = { 0 };
	u64 t0 = rdtsc();

	/* Spread over slot 0 (the store's pages never move): block k % MAX_BLOCKS of each
	 * stride first; block 0 holds the BIOS hole. */
	for (u64 k = 0; k < stride * MAX_BLOCKS && n.tried < MAX_BLOCKS && vm_any_vcpu_running(vm);
	     k++) {
		u64 b = (k % MAX_BLOCKS) * stride + k / MAX_BLOCKS;

		if (b && b < blocks)
			split_collapse_block(vm, b * BLOCK_PAGES, &n);
		serve(c, 0);
	}
	printk("@json {\"lx_mission\":\"split_collapse\",\"vm\":\"%s\",\"platform\":\"%s\","
	       "\"blocks\":%lu,\"splits\":%lu,\"collapses_in_place\":%lu,\"collapses_copy\":%lu,"
	       "\"errors\":%lu,\"last_error\":%d,\"leaves_2m\":%lu,\"ms\":%lu}\n",
	       vm->name, vmx_settings.platform, n.tried, n.splits, n.in_place, n.copies, n.errors,
	       n.last_err, vm->ept.stats.leaves[2], tsc_to_us(rdtsc() - t0) / 1000);
	vm_check(vm, VM_CHECK_HOST, n.splits > 0 && n.in_place + n.copies > 0 && !n.errors,
	         "2 MiB leaves under running Linux: %lu split, %lu collapsed in place, %lu by "
	         "copy (%lu errors, last %d)",
	         n.splits, n.in_place, n.copies, n.errors, n.last_err);
}

void lx_mission_host(struct vm *vm, const struct scenario *sc)
{
	struct lx_ctx c = { .vm = vm, .limit = vm_store_reclaim_limit() };
	u64 slot0 = vm->slots[0].npages, all = ram_pages(vm);
	u64 words = (MAX(slot0, all) + 63) / 64;
	u64 *bm = kzalloc(words * 8), *out = kzalloc(words * 8);

	if (!bm || !out) {
		vm_check(vm, VM_CHECK_HOST, false, "out of memory for the bitmaps");
	} else if (!wait_workload(&c, sc->wait_bytes >> PAGE_SHIFT)) {
		vm_check(vm, VM_CHECK_HOST, false,
		         "the guest never populated %lu MiB (ran %d s at most): no mission",
		         sc->wait_bytes >> 20, WAIT_MAX_S);
	} else {
		report_apf_msrs(vm);
		for (int m = EPT_DIRTY_WP; m <= EPT_DIRTY_PML; m++)
			if (m != EPT_DIRTY_PML || vm->use_pml)
				dirty_mode(&c, m, bm, out, slot0);
		idle_scan(&c, bm, all);
		split_collapse(&c);
	}
	kfree(bm, words * 8);
	kfree(out, words * 8);
	/* The rest of the run: the store's I/O task to the end, and its report. */
	pc_store_host(vm, sc);
	wait_vcpus_done(vm);
}
