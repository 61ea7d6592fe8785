/*
 * HC_BENCH: the hypercall the fault-latency benchmark guest (guests/bench.c) drives the
 * hypervisor with (operations in include/bench.h). It arranges pages for a path (write-
 * protect them, force the slow path), times split and collapse of a 2M block itself, and
 * checks with the vCPU's own counters that every access of a measurement took the path it
 * was meant to: a sample of wp_fast that was fixed on the slow path fails the scenario.
 *
 * Only the bench VM of the moment may call it (-ENODEV elsewhere). Every argument is
 * checked as the other hypercalls do: ranges page-aligned, bounded and inside one memslot,
 * buffers 8-byte aligned and inside the VM, counts equal to what the run was set up for.
 */
#include "arch/cpu.h"
#include "drivers/console.h"
#include "errno.h"
#include "hypercall.h"
#include "lib.h"
#include "vmx/exit.h"
#include "scenarios/fault_latency.h"
#include "vmx/trace.h"
#include "vmx/vcpu.h"

#define BENCH_MAX_PROTECT (BENCH_REGION_STRIDE / PAGE_SIZE) /* pages per HC_BENCH_PROTECT */

/* What a measurement must look like in the counters: the exit each access causes and the
 * EPT fault result it gives (-1: none). Split and collapse count their own verified ops. */
struct path_rule {
	int exit;
	int fault;
};

static const struct path_rule rules[BENCH_PATHS] = {
	[BENCH_TSC_OVERHEAD] = { -1, -1 },
	[BENCH_NULL_EXIT] = { EXIT_VMCALL, -1 },
	[BENCH_CPUID_EXIT] = { EXIT_CPUID, -1 },
	[BENCH_EPT_POPULATE] = { EXIT_EPT_VIOLATION, EPT_FAULT_NOT_PRESENT },
	[BENCH_WP_FAST] = { EXIT_EPT_VIOLATION, EPT_FAULT_FIXED_FAST },
	[BENCH_WP_SLOW] = { EXIT_EPT_VIOLATION, EPT_FAULT_FIXED_SLOW },
	[BENCH_PML_WRITE] = { -1, -1 },
	[BENCH_SPLIT] = { EXIT_VMCALL, -1 },
	[BENCH_COLLAPSE] = { EXIT_VMCALL, -1 },
};

/* [gpa, gpa + bytes) is non-empty and inside one memslot (no wrap-around). */
static int range_in_slot(struct vm *vm, gpa_t gpa, u64 bytes)
{
	struct memslot *s = vm_find_slot(vm, gpa_to_gfn(gpa));

	if (!bytes || gpa + bytes < gpa)
		return -EINVAL;
	if (!s || gpa_to_gfn(gpa + bytes - 1) >= s->base_gfn + s->npages)
		return -EFAULT;
	return 0;
}

static s64 op_config(struct vcpu *v, gpa_t gpa)
{
	struct hc_bench_config c = { .samples = bench_run.samples, .warmup = bench_run.warmup,
				     .pml = bench_run.pml };

	if (!IS_ALIGNED(gpa, 8))
		return -EINVAL;
	return vm_copy_to_guest(v->vm, gpa, &c, sizeof(c)) ? -EFAULT : 0;
}

static s64 op_protect(struct vcpu *v, gpa_t gpa, u64 npages)
{
	int err;

	if (!IS_ALIGNED(gpa, PAGE_SIZE) || !npages)
		return -EINVAL;
	if (npages > BENCH_MAX_PROTECT)
		return -E2BIG;
	err = range_in_slot(v->vm, gpa, npages * PAGE_SIZE);
	return err ? err : ept_write_protect(&v->vm->ept, gpa_to_gfn(gpa), npages);
}

static s64 op_force_slow(struct vcpu *v, u64 on)
{
	if (on > 1)
		return -EINVAL;
	/* RELAXED: a knob; a fault racing with the change may take either path, and the
	 * guest changes it only between measurements, behind a barrier. */
	__atomic_store_n(&v->vm->ept.force_slow, on == 1, __ATOMIC_RELAXED);
	return 0;
}

static int leaf_level(struct vm *vm, gfn_t gfn)
{
	int level = 0;

	return ept_lookup(&vm->ept, gfn, &level) ? level : 0;
}

/*
 * Split (to 4K) or collapse in place (to 2M) the 2 MiB block at gpa and return the cycles
 * the EPT operation took, measured here with no exit in between. The block must be one 2M
 * leaf before a split and 512 4K leaves before a collapse, and the other afterwards:
 * that is the check that the sample measured what its name says.
 */
static s64 op_split_collapse(struct vcpu *v, gpa_t gpa, int path)
{
	gfn_t gfn = gpa_to_gfn(gpa);
	int from = path == BENCH_SPLIT ? 2 : 1, err;
	u64 t0, t1;

	if (!IS_ALIGNED(gpa, SZ_2M))
		return -EINVAL;
	err = range_in_slot(v->vm, gpa, SZ_2M);
	if (err)
		return err;
	if (leaf_level(v->vm, gfn) != from)
		return -EBUSY;
	t0 = rdtsc();
	err = path == BENCH_SPLIT ? ept_split(&v->vm->ept, gfn, SZ_2M / PAGE_SIZE, 1) :
				    ept_collapse(&v->vm->ept, gfn, 2, EPT_COLLAPSE_IN_PLACE);
	t1 = rdtsc();
	if (err)
		return err;
	if (leaf_level(v->vm, gfn) != 3 - from)
		return -EIO;
	bench_run.ops[v->id][path]++;
	return (s64)(t1 - t0);
}

static s64 op_begin(struct vcpu *v, u64 path)
{
	struct bench_snap *s = &bench_run.snap[v->id];

	if (path >= BENCH_PATHS)
		return -EINVAL;
	memcpy(s->exits, v->stats.exits, sizeof(s->exits));
	memcpy(s->faults, v->stats.faults, sizeof(s->faults));
	memcpy(s->ops, bench_run.ops[v->id], sizeof(s->ops));
	s->pml_entries = v->stats.pml_entries;
	s->ends = 0;
	s->begun = true;
	return 0;
}

static u64 delta(const u64 *now, const u64 *then, int i) { return now[i] - then[i]; }

/* Fill k's exit counts from the counters since BEGIN; returns the intended path's hits. */
static u64 count_exits(struct vcpu *v, int path, struct bench_kept *k)
{
	const struct bench_snap *s = &bench_run.snap[v->id];
	const struct path_rule *r = &rules[path];
	u64 vmcalls_not_path = s->ends; /* END calls, this one included */

	k->exits = 0;
	for (int i = 0; i < EXIT_REASONS; i++)
		k->exits += delta(v->stats.exits, s->exits, i);
	k->exits -= vmcalls_not_path;
	k->interrupts = delta(v->stats.exits, s->exits, EXIT_EXCEPTION_NMI) +
			delta(v->stats.exits, s->exits, EXIT_EXTERNAL_INTERRUPT);
	k->pml_full = delta(v->stats.exits, s->exits, EXIT_PML_FULL);
	if (bench_hv_timed(path))
		return delta(bench_run.ops[v->id], s->ops, path);
	if (r->exit < 0)
		return 0;
	return delta(v->stats.exits, s->exits, r->exit) - (r->exit == EXIT_VMCALL ? s->ends : 0);
}

/*
 * Did each of the n accesses take the path? Exit paths: n exits of their reason (split and
 * collapse: n verified operations, two hypercalls per sample); fault paths: n EPT faults,
 * all of the intended kind; pml_write: n PML entries and no exit; and nothing else but
 * kicks (NMIs, interrupts) and, under PML, log-full exits, which are reported.
 */
static bool verify(struct vcpu *v, int path, u64 n, struct bench_kept *k)
{
	const struct bench_snap *s = &bench_run.snap[v->id];
	const struct path_rule *r = &rules[path];
	u64 hits = count_exits(v, path, k), faults = 0;
	u64 want_exits = bench_hv_timed(path) ? 2 * n : r->exit < 0 ? 0 : n;
	u64 want_faults = r->fault < 0 ? 0 : n;
	u64 fault_hits = r->fault < 0 ? 0 : delta(v->stats.faults, s->faults, r->fault);
	u64 pml = v->stats.pml_entries - s->pml_entries;
	s64 stray = (s64)(k->exits - k->interrupts - k->pml_full) - (s64)want_exits;
	bool ok;

	for (int i = 0; i <= EPT_FAULT_VIOLATION; i++)
		faults += delta(v->stats.faults, s->faults, i);
	if (r->exit < 0)
		hits = n; /* no exit of its own: judged by what else happened */
	ok = hits == n && stray == 0 && faults == want_faults && fault_hits == want_faults &&
	     (path != BENCH_PML_WRITE || pml == n);
	vm_check(v->vm, ok, "bench %s vcpu %d: %lu accesses: %lu %s, %lu faults (%lu %s), %ld "
		 "stray exits, %lu PML entries", bench_path_name(path), v->id, n, hits,
		 bench_hv_timed(path) ? "verified ops" : r->exit < 0 ? "without exit" :
		 exit_reason_name(r->exit), faults, fault_hits,
		 r->fault < 0 ? "allowed" : fault_result_name(r->fault), stray, pml);
	return ok;
}

/* END: a1 = path | n << 8, a2 = gpa of the n samples (warm-up first). */
static s64 op_end(struct vcpu *v, u64 a1, gpa_t gpa)
{
	struct bench_snap *s = &bench_run.snap[v->id];
	u64 path = a1 & 0xff, n = a1 >> 8;
	struct bench_kept *k;
	int err;

	if (path >= BENCH_PATHS || n != bench_run.warmup + bench_run.samples ||
	    !IS_ALIGNED(gpa, 8))
		return -EINVAL;
	if (!s->begun)
		return -ENOENT;
	err = range_in_slot(v->vm, gpa, n * sizeof(u64));
	if (err)
		return err;
	s->ends++;
	k = &bench_run.kept[v->id][path];
	k->gpa = gpa;
	k->verified = verify(v, (int)path, n, k);
	/* RELEASE: the vCPU that reports reads n last (bench_report's ACQUIRE). */
	__atomic_store_n(&k->n, n, __ATOMIC_RELEASE);
	return k->verified ? 0 : -EIO;
}

static bool bench_vm(const struct vm *vm)
{
	return bench_run.vm == vm && bench_run.name == vm->name;
}

s64 hc_bench(struct vcpu *v, u64 op, u64 a1, u64 a2)
{
	if (!bench_vm(v->vm))
		return -ENODEV;
	switch (op) {
	case HC_BENCH_CONFIG: return op_config(v, a1);
	case HC_BENCH_PROTECT: return op_protect(v, a1, a2);
	case HC_BENCH_FORCE_SLOW: return op_force_slow(v, a1);
	case HC_BENCH_SPLIT: return op_split_collapse(v, a1, BENCH_SPLIT);
	case HC_BENCH_COLLAPSE: return op_split_collapse(v, a1, BENCH_COLLAPSE);
	case HC_BENCH_BEGIN: return op_begin(v, a1);
	case HC_BENCH_END: return op_end(v, a1, a2);
	case HC_BENCH_REPORT: return bench_report(v->vm);
	}
	return -EINVAL;
}
