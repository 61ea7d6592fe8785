/*
 * The fault-latency benchmark (issue 5): what the benchmark guest (guests/bench.c) and the
 * hypervisor (hypercall/bench.c, scenarios/fault_latency.c) share: the paths measured, the HC_BENCH
 * operations, and the guest-physical layout. docs/benchmarks.md explains the numbers.
 *
 * Guest memory of a bench VM (slot 0, populated on first touch, identity-mapped):
 *
 *   0x0010_0000  guest image                  0x003f_0000  barrier page (all vCPUs)
 *   0x0100_0000  sample buffers: (vcpu, path) -> BENCH_SLOT_BYTES each, 16..18 MiB
 *   0x0200_0000  fault region: (set, vcpu) -> BENCH_REGION_STRIDE each (first touch,
 *                write-protect and PML pages), up to GT_BENCH_MEM; set = phase, or
 *                2 + phase for the *_hostwork paths
 *   0x4000_0000  the host-work slot: BENCH_HOST_BYTES mapped with 4K leaves, which the
 *                guest never touches; a host task on CPU 0 scans and harvests it
 *   0x8000_0000  a 2M-leaf slot, one 2 MiB block per vCPU (split / collapse)
 *
 * The barrier page also holds struct bench_host_status, which the host task writes.
 */
#ifndef EPTVISOR_BENCH_H
#define EPTVISOR_BENCH_H

/* One measurement path. Guest-timed paths bracket one access with the TSC in the guest;
 * hypervisor-timed ones (split, collapse) return the cycles the EPT operation took. */
enum bench_path {
	BENCH_TSC_OVERHEAD, /* the TSC pair with nothing between: subtracted from the others */
	BENCH_NULL_EXIT,    /* VMCALL HC_NOP */
	BENCH_CPUID_EXIT,   /* CPUID leaf 0 */
	BENCH_EPT_POPULATE, /* first write to an unbacked gfn: allocate, zero, map */
	BENCH_WP_FAST,      /* write to a page a WP dirty log protected: lockless fast path */
	BENCH_WP_SLOW,      /* the same with ept->force_slow: under the MMU lock */
	BENCH_PML_WRITE,    /* first write to a page under PML dirty logging: no exit */
	BENCH_SPLIT,        /* hypervisor-timed: ept_split of one 2M leaf into 512 4K leaves */
	BENCH_COLLAPSE,     /* hypervisor-timed: ept_collapse of them back, in place */
	/* The same as ept_populate and wp_fast, while a host task on CPU 0 scans (clearing A
	 * bits) and harvests a write-protect log over the host-work slot, round after round. */
	BENCH_POPULATE_HOSTWORK,
	BENCH_WP_FAST_HOSTWORK,
	BENCH_PATHS
};

static inline int bench_hv_timed(int path)
{
	return path == BENCH_SPLIT || path == BENCH_COLLAPSE;
}

/* Measured while the host task works; the same path without it is bench_baseline(path). */
static inline int bench_hostwork(int path)
{
	return path == BENCH_POPULATE_HOSTWORK || path == BENCH_WP_FAST_HOSTWORK;
}

static inline int bench_baseline(int path)
{
	return path == BENCH_POPULATE_HOSTWORK  ? BENCH_EPT_POPULATE
	       : path == BENCH_WP_FAST_HOSTWORK ? BENCH_WP_FAST
	                                        : path;
}

#define BENCH_DEFAULT_SAMPLES 300 /* per vCPU and path, after the warm-up */
#define BENCH_MAX_SAMPLES     2000
#define BENCH_WARMUP          32 /* first samples of each vCPU and path, discarded */
#define BENCH_MAX_TOTAL       (BENCH_MAX_SAMPLES + BENCH_WARMUP)

/* HC_BENCH operations (a0 of the hypercall); every one -ENODEV outside a bench VM. */
#define HC_BENCH_CONFIG     1 /* (gpa of struct hc_bench_config) -> 0 */
#define HC_BENCH_PROTECT    2 /* (gpa, npages) -> 0: clear W, leave the fast path possible */
#define HC_BENCH_FORCE_SLOW 3 /* (0 or 1) -> 0: write faults skip the lockless fast path */
#define HC_BENCH_SPLIT      4 /* (gpa of a 2M leaf) -> cycles ept_split took */
#define HC_BENCH_COLLAPSE   5 /* (gpa of 512 split 4K leaves) -> cycles ept_collapse took */
#define HC_BENCH_BEGIN      6 /* (path, wp paths: gpa of the first page written) -> 0: snapshot */
#define HC_BENCH_END        7 /* (path | n << 8, gpa of n u64 samples) -> 0: verify, keep */
#define HC_BENCH_REPORT     8 /* () -> paths reported: statistics of what was kept */
#define HC_BENCH_HOSTWORK   9 /* (1: start, 0: stop) -> 0, or at stop the rounds done since start */

struct hc_bench_config {
	unsigned long long samples; /* per vCPU and path, after the warm-up */
	unsigned long long warmup;
	unsigned long long pml; /* 1: this VM measures pml_write (PML is on) */
};

#define GT_BENCH_SHARED_GPA  0x3f0000ULL
#define GT_BENCH_SAMPLES_GPA 0x1000000ULL
#define BENCH_SLOT_BYTES     0x4000ULL /* >= BENCH_MAX_TOTAL * 8 */
#define GT_BENCH_REGION_GPA  0x2000000ULL
#define BENCH_REGION_STRIDE  0x800000ULL /* >= BENCH_MAX_TOTAL pages */
#define BENCH_REGION_SETS    4           /* 2 phases, without and with host work */
#define GT_BENCH_MEM         (GT_BENCH_REGION_GPA + BENCH_REGION_SETS * 8 * BENCH_REGION_STRIDE)
#define GT_BENCH_HOST_GPA    0x40000000ULL
#define BENCH_HOST_BYTES     0x8000000ULL /* 128 MiB: 32768 4K leaves */
#define GT_BENCH_HUGE_GPA    0x80000000ULL

/* What the host task tells the guest, in the barrier page (it writes round_cycles first). */
struct bench_host_status {
	unsigned long long rounds;       /* scan + harvest rounds completed since the VM began */
	unsigned long long round_cycles; /* TSC cycles the last round took */
	unsigned long long busy;         /* 1 from the tracker's and log's registration to their
	                                  * removal: the MMU is as without host work at 0 */
};

#define GT_BENCH_HOST_STATUS_GPA (GT_BENCH_SHARED_GPA + 0x100)

/* The benchmark guest's entry (guests/bench.c), for GT_BENCH and GT_BENCH_PML. */
long bench_main(long test);

#endif
