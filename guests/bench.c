/*
 * The fault-latency benchmark guest (issue 5; docs/benchmarks.md). Each path is measured
 * warm-up + samples times with the TSC around one access, first by vCPU 0 alone while the
 * other vCPUs wait at a barrier, then by every vCPU at once (the contended case). Before
 * each path the pages are arranged so that every access hits it (fresh pages for
 * ept_populate, pages a write-protect dirty log protected for wp_fast / wp_slow, a 2M leaf
 * for split); after it the samples go to the hypervisor (HC_BENCH_END), which checks its counters
 * agree, and at the end of a phase vCPU 0 asks for the report (@json lines printed by the
 * hypervisor).
 *
 * Last, ept_populate and wp_fast are measured again on fresh pages while a host task on
 * CPU 0 scans and harvests a large slot (the *_hostwork paths): vCPU 0 switches the host's
 * work on (HC_BENCH_HOSTWORK), waits for two of its rounds to learn how long one takes, and
 * every vCPU then leaves a gap between samples so that its measurement spans at least
 * HOSTWORK_ROUNDS rounds, at phases of the round that the samples do not choose. After
 * them vCPU 0 switches the work off and waits until the task is idle again.
 *
 * GT_BENCH measures every path but pml_write; GT_BENCH_PML, in a VM with PML on, measures
 * pml_write (PML's drain at every exit would otherwise lengthen every other path).
 */
#include "bench.h"
#include "errno.h"
#include "guest.h"
#include "guest_tests.h"

#define PAGE 4096ULL

#define HOSTWORK_ROUNDS 16           /* host rounds a *_hostwork measurement spans, at least */
#define HOSTWORK_WAIT   (1ULL << 32) /* TSC cycles to wait for the host task (rounds, stop) */

struct barrier {
	volatile u64 count, gen;
};

struct ctx {
	long id, nvcpus;
	int phase;    /* 0: vCPU 0 alone, 1: every vCPU at once */
	int active;   /* this vCPU measures in this phase */
	int hostwork; /* the path of the moment runs beside the host's work */
	u64 gap;      /* TSC cycles between two samples' starts (0: none) */
	u64 total;    /* warm-up + samples */
	struct hc_bench_config cfg;
};

/* LFENCE; RDTSC; LFENCE: the read waits for everything before it, and nothing after it
 * starts before it. Used at both ends; RDTSCP is not, because eptvisor does not enable it
 * for guests (it would raise #UD). */
static inline u64 tsc(void)
{
	u32 lo, hi;

	__asm__ volatile("lfence; rdtsc; lfence" : "=a"(lo), "=d"(hi) : : "memory");
	return ((u64)hi << 32) | lo;
}

static inline void cpuid0(void)
{
	u32 a = 0, b, c = 0, d;

	__asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d) : : "memory");
}

static long bench(u64 op, u64 a1, u64 a2)
{
	return hypercall(HC_BENCH, op, a1, a2);
}

/* Every vCPU of the VM waits here until all have arrived (no exits while waiting). */
static void barrier(const struct ctx *c)
{
	struct barrier *b = (struct barrier *)GT_BENCH_SHARED_GPA;
	u64 gen = __atomic_load_n(&b->gen, __ATOMIC_ACQUIRE);

	if (__atomic_add_fetch(&b->count, 1, __ATOMIC_ACQ_REL) == (u64)c->nvcpus) {
		/* Reset before the release: the next barrier's increments start from 0. */
		__atomic_store_n(&b->count, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&b->gen, gen + 1, __ATOMIC_RELEASE);
		return;
	}
	while (__atomic_load_n(&b->gen, __ATOMIC_ACQUIRE) == gen)
		pause();
}

static u64 *samples(const struct ctx *c, int path)
{
	return (u64 *)(GT_BENCH_SAMPLES_GPA + (c->id * BENCH_PATHS + path) * BENCH_SLOT_BYTES);
}

/* The set of fault pages of this phase, without or with host work (include/bench.h). */
static u64 region_set(const struct ctx *c)
{
	return (u64)c->phase + 2 * (u64)c->hostwork;
}

/* This vCPU's pages for this phase: one per access of a fault path. */
static u64 region(const struct ctx *c, u64 i)
{
	return GT_BENCH_REGION_GPA + (region_set(c) * 8 + c->id) * BENCH_REGION_STRIDE + i * PAGE;
}

/* One access of path, timed; i picks the page. */
static u64 one_sample(const struct ctx *c, int path, u64 i)
{
	volatile u64 *page = (volatile u64 *)region(c, i);
	u64 t0, t1;

	switch (path) {
	case BENCH_TSC_OVERHEAD:
		t0 = tsc();
		t1 = tsc();
		break;
	case BENCH_NULL_EXIT:
		t0 = tsc();
		hypercall(HC_NOP, 0, 0, 0);
		t1 = tsc();
		break;
	case BENCH_CPUID_EXIT:
		t0 = tsc();
		cpuid0();
		t1 = tsc();
		break;
	default: /* ept_populate, wp_fast, wp_slow, pml_write, *_hostwork: one write to page i */
		t0 = tsc();
		*page = i;
		t1 = tsc();
		break;
	}
	return t1 - t0;
}

static void end(const struct ctx *c, int path, u64 *buf)
{
	long r = bench(HC_BENCH_END, (u64)path | c->total << 8, (u64)buf);

	/* -EIO: the hypervisor's counters disagree; it has recorded that failure itself. */
	if (r && r != -EIO)
		CHECK(0, "HC_BENCH_END of path %d refused: %ld", path, r);
}

/* In the contended phase every vCPU starts each access at the same moment: a barrier
 * before each sample (outside the timed part), so they really fault at once every time
 * instead of drifting into a lock-free rhythm after the first collision. */
static void lockstep(const struct ctx *c)
{
	if (c->phase == 1)
		barrier(c);
}

/* The first page a fault path writes (the hypervisor checks the write-protect log holds
 * every one of them); 0 for the other paths. */
static u64 first_page(const struct ctx *c, int path)
{
	return bench_baseline(path) == BENCH_WP_FAST || path == BENCH_WP_SLOW ? region(c, 0) : 0;
}

/* With host work: wait until gap cycles after the previous sample began (no exit). */
static u64 pace(const struct ctx *c, u64 since)
{
	while (c->gap && tsc() - since < c->gap)
		pause();
	return tsc();
}

static void measure(const struct ctx *c, int path)
{
	u64 *buf = samples(c, path), since = tsc();

	bench(HC_BENCH_BEGIN, path, first_page(c, path));
	for (u64 i = 0; i < c->total; i++) {
		since = pace(c, since);
		lockstep(c);
		buf[i] = one_sample(c, path, i);
	}
	end(c, path, buf);
}

/* Split this vCPU's 2M block and collapse it back, timed by the hypervisor each time. */
static void measure_split_collapse(const struct ctx *c)
{
	u64 *split = samples(c, BENCH_SPLIT), *collapse = samples(c, BENCH_COLLAPSE);
	u64 block = GT_BENCH_HUGE_GPA + c->id * (2ULL << 20);

	bench(HC_BENCH_BEGIN, BENCH_SPLIT, 0);
	for (u64 i = 0; i < c->total; i++) {
		lockstep(c);
		split[i] = bench(HC_BENCH_SPLIT, block, 0);
		lockstep(c);
		collapse[i] = bench(HC_BENCH_COLLAPSE, block, 0);
	}
	end(c, BENCH_SPLIT, split);
	end(c, BENCH_COLLAPSE, collapse);
}

/*
 * wp_fast and wp_slow run under a write-protect dirty log, as a user's live migration does:
 * one log over the phase's fault region (every vCPU's pages), turned on by vCPU 0 before
 * wp_fast (which write-protects the pages ept_populate just backed) and harvested after
 * wp_fast and after wp_slow. A harvest re-protects exactly the pages it returns, so wp_slow
 * writes the same pages again; after wp_slow the log is turned off. Each harvest must return
 * exactly the pages the samples wrote: every fix, fast or slow, was logged.
 */
#define WP_LOG_PAGES (8 * BENCH_REGION_STRIDE / PAGE) /* one set: 8 vCPUs' regions */

static struct hc_dirty wp_log;
/* cppcheck-suppress unassignedVariable ; the hypervisor writes it */
static u64 wp_bitmap[WP_LOG_PAGES / 64];

static void wp_log_on(const struct ctx *c)
{
	wp_log =
		(struct hc_dirty){ .gpa = GT_BENCH_REGION_GPA + region_set(c) * WP_LOG_PAGES * PAGE,
		                   .npages = WP_LOG_PAGES,
		                   .mode = 0,
		                   .bitmap_gpa = (u64)wp_bitmap };
	CHECK(hypercall(HC_DIRTY_LOG, HC_DIRTY_ENABLE, (u64)&wp_log, 0) == 0,
	      "write-protect dirty log on over page set %lu", region_set(c));
}

static bool bit(const u64 *map, u64 i)
{
	return map[i / 64] >> (i % 64) & 1;
}

/* Harvest the log: it must hold exactly the pages the active vCPUs wrote in this path. */
static void wp_log_harvest(const struct ctx *c, int path)
{
	long vcpus = c->phase ? c->nvcpus : 1, n;
	u64 want = c->total * vcpus, found = 0;

	n = hypercall(HC_DIRTY_LOG, HC_DIRTY_HARVEST, (u64)&wp_log, 0);
	for (long v = 0; v < vcpus; v++)
		for (u64 i = 0; i < c->total; i++)
			found += bit(wp_bitmap, v * (BENCH_REGION_STRIDE / PAGE) + i);
	CHECK(n == (long)want && found == want,
	      "%s: WP log: %lu pages written, %ld dirty, %lu of those",
	      path == BENCH_WP_FAST   ? "wp_fast"
	      : path == BENCH_WP_SLOW ? "wp_slow"
	                              : "wp_fast_hostwork",
	      want, n, found);
}

static void wp_log_off(void)
{
	CHECK(hypercall(HC_DIRTY_LOG, HC_DIRTY_DISABLE, 0, 0) == 0, "write-protect dirty log off");
}

/* The gap between samples every vCPU uses during the *_hostwork paths (vCPU 0 sets it
 * before the barrier that starts the path). */
static volatile u64 hostwork_gap;

/* vCPU 0: switch the host's work on, wait for two rounds (the first scan after the task
 * registers its tracker reads every table and is no typical round), and spread each vCPU's
 * samples over HOSTWORK_ROUNDS rounds as long as the last. */
static void hostwork_on(const struct ctx *c)
{
	volatile struct bench_host_status *st = (void *)GT_BENCH_HOST_STATUS_GPA;
	u64 before = st->rounds, t0 = tsc(), rounds;

	CHECK(bench(HC_BENCH_HOSTWORK, 1, 0) == 0, "host work switched on");
	while ((rounds = st->rounds) < before + 2 && tsc() - t0 < HOSTWORK_WAIT)
		pause();
	/* The host wrote the length before the count (x86 keeps both orders). */
	__asm__ volatile("" ::: "memory");
	CHECK(rounds >= before + 2, "the host task completed rounds (the last: %lu cycles)",
	      (u64)st->round_cycles);
	hostwork_gap = st->round_cycles * HOSTWORK_ROUNDS / c->total;
}

/* vCPU 0: switch the host's work off and wait until the task has finished its round and
 * removed its log and tracker, so that no later path measures any of it. */
static void hostwork_off(void)
{
	volatile struct bench_host_status *st = (void *)GT_BENCH_HOST_STATUS_GPA;
	long rounds = bench(HC_BENCH_HOSTWORK, 0, 0);
	u64 t0 = tsc();

	CHECK(rounds > 0, "host work switched off after %ld rounds", rounds);
	while (st->busy && tsc() - t0 < HOSTWORK_WAIT)
		pause();
	CHECK(!st->busy, "the host task stopped working");
	hostwork_gap = 0;
}

/* vCPU 0, before a path: the log on before wp_fast; the slow path forced for wp_slow; the
 * host's work on before the *_hostwork paths. */
static void before_path(const struct ctx *c, int path)
{
	if (path == BENCH_WP_FAST || path == BENCH_WP_FAST_HOSTWORK)
		wp_log_on(c);
	if (path == BENCH_WP_SLOW)
		bench(HC_BENCH_FORCE_SLOW, 1, 0);
	if (path == BENCH_POPULATE_HOSTWORK)
		hostwork_on(c);
}

/* vCPU 0, after a path (every vCPU is done with it): check the log, undo before_path. */
static void after_path(const struct ctx *c, int path)
{
	if (path == BENCH_WP_FAST || path == BENCH_WP_SLOW || path == BENCH_WP_FAST_HOSTWORK)
		wp_log_harvest(c, path);
	if (path == BENCH_WP_SLOW) {
		bench(HC_BENCH_FORCE_SLOW, 0, 0);
		wp_log_off();
	}
	if (path == BENCH_WP_FAST_HOSTWORK) {
		wp_log_off();
		hostwork_off();
	}
}

/* One path in one phase: every vCPU takes part in the barriers, the active ones measure.
 * The pages of wp_fast and wp_slow are write-protected by the dirty log (see above). */
static void run_path(struct ctx *c, int path)
{
	c->hostwork = bench_hostwork(path);
	if (c->id == 0)
		before_path(c, path);
	barrier(c);
	c->gap = hostwork_gap;
	if (c->active) {
		if (path == BENCH_SPLIT)
			measure_split_collapse(c);
		else
			measure(c, path);
	}
	barrier(c);
	if (c->id == 0)
		after_path(c, path);
}

static void run_phase(struct ctx *c, int phase, const int *paths, int npaths)
{
	c->phase = phase;
	c->active = phase == 1 || c->id == 0;
	if (c->id == 0)
		gprintf("bench: %s: %llu samples per path after %llu warm-up",
		        phase ? "every vCPU at once" : "vCPU 0 alone", c->cfg.samples,
		        c->cfg.warmup);
	int split = 0;

	for (int i = 0; i < npaths; i++) {
		run_path(c, paths[i]);
		split |= paths[i] == BENCH_SPLIT;
	}
	barrier(c);
	if (c->id == 0) {
		long reported = bench(HC_BENCH_REPORT, 0, 0);

		/* split_fault is measured together with collapse: one more path reported. */
		CHECK(reported == npaths + split, "phase %d: %ld paths reported", phase, reported);
	}
	barrier(c);
}

/* Write every page this vCPU will store samples into, so no sample pays a fault. */
static void touch_buffers(const struct ctx *c)
{
	for (int p = 0; p < BENCH_PATHS; p++)
		for (u64 off = 0; off < BENCH_SLOT_BYTES; off += PAGE)
			samples(c, p)[off / 8] = 0;
}

/* PML: back this vCPU's pages, then (vCPU 0) turn on a PML dirty log over the region,
 * which clears their D bits: each first write is then logged by the CPU, without an exit. */
static void pml_prepare(struct ctx *c, struct hc_dirty *d)
{
	for (c->phase = 0; c->phase < 2; c->phase++)
		if (c->phase == 1 || c->id == 0)
			for (u64 i = 0; i < c->total; i++)
				*(volatile u64 *)region(c, i) = 0;
	barrier(c);
	*d = (struct hc_dirty){ .gpa = GT_BENCH_REGION_GPA,
		                .mode = 2,
		                .npages = 2 * 8 * BENCH_REGION_STRIDE / PAGE };
	if (c->id == 0)
		CHECK(hypercall(HC_DIRTY_LOG, HC_DIRTY_ENABLE, (u64)d, 0) == 0, "PML dirty log on");
	barrier(c);
}

/* The log must hold exactly the pages the pml_write samples wrote. */
static void pml_finish(const struct ctx *c, struct hc_dirty *d)
{
	/* cppcheck-suppress unassignedVariable ; the hypervisor writes it */
	static u64 bitmap[2 * 8 * BENCH_REGION_STRIDE / PAGE / 64];
	u64 want = c->total * (1 + (c->nvcpus > 1 ? c->nvcpus : 0));
	long n;

	if (c->id != 0)
		return;
	d->bitmap_gpa = (u64)bitmap;
	n = hypercall(HC_DIRTY_LOG, HC_DIRTY_HARVEST, (u64)d, 0);
	CHECK(n == (long)want, "PML log holds the %lu pages written (%ld)", want, n);
	CHECK(hypercall(HC_DIRTY_LOG, HC_DIRTY_DISABLE, 0, 0) == 0, "PML dirty log off");
}

/* vCPU 0: HC_BENCH_HOSTWORK refuses what it must, changing nothing: a bad switch value or
 * argument, stopping work that is not on, and any use in a VM without a host task. */
static void hostwork_refusals(int pml)
{
	if (pml) {
		CHECK(bench(HC_BENCH_HOSTWORK, 1, 0) == -ENODEV,
		      "no host work without a host task");
		return;
	}
	CHECK(bench(HC_BENCH_HOSTWORK, 2, 0) == -EINVAL, "HC_BENCH_HOSTWORK 2 refused");
	CHECK(bench(HC_BENCH_HOSTWORK, ~0ULL, 0) == -EINVAL, "HC_BENCH_HOSTWORK ~0 refused");
	CHECK(bench(HC_BENCH_HOSTWORK, 1, 1) == -EINVAL, "HC_BENCH_HOSTWORK with a2 refused");
	CHECK(bench(HC_BENCH_HOSTWORK, 0, 0) == -EBUSY, "stopping host work that is off refused");
}

long bench_main(long test)
{
	static const int paths[] = { BENCH_TSC_OVERHEAD,    BENCH_NULL_EXIT,
		                     BENCH_CPUID_EXIT,      BENCH_EPT_POPULATE,
		                     BENCH_WP_FAST,         BENCH_WP_SLOW,
		                     BENCH_SPLIT,           BENCH_POPULATE_HOSTWORK,
		                     BENCH_WP_FAST_HOSTWORK };
	static const int pml_paths[] = { BENCH_TSC_OVERHEAD, BENCH_PML_WRITE };
	long who = hypercall(HC_VCPU_ID, 0, 0, 0);
	struct ctx c = { .id = who & 0xffff, .nvcpus = who >> 16 };
	struct hc_dirty d;
	int pml = test == GT_BENCH_PML;

	if (bench(HC_BENCH_CONFIG, (u64)&c.cfg, 0) != 0 || c.cfg.pml != (u64)pml) {
		CHECK(0, "HC_BENCH_CONFIG: this VM is not set up for this benchmark");
		return 1;
	}
	c.total = c.cfg.warmup + c.cfg.samples;
	touch_buffers(&c);
	if (c.id == 0)
		hostwork_refusals(pml);
	if (pml)
		pml_prepare(&c, &d);
	barrier(&c);
	for (int phase = 0; phase < (c.nvcpus > 1 ? 2 : 1); phase++) {
		if (pml)
			run_phase(&c, phase, pml_paths, ARRAY_SIZE(pml_paths));
		else
			run_phase(&c, phase, paths, ARRAY_SIZE(paths));
	}
	if (pml)
		pml_finish(&c, &d);
	return 0;
}
