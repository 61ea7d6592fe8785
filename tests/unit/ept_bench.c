/*
 * Host benchmarks of the EPT core (make bench-host): a 64 GiB guest mapped with 4K leaves,
 * then with 2M leaves, timed at host speed next to the limit each operation could reach.
 *   scan      clearing A/D scan vs reading the leaf-table bytes once (limit) and vs a
 *             per-4K-entry baseline (a call and a bit operation per entry, no subtree
 *             skipping); ratio = limit / scan (target >= 0.7); a second line: baseline / scan
 *   harvest   get-and-clear of a write-protect log at 0.1%, 1%, 10%, 100% dirty;
 *             ratio = this / 100% (target: 0.1% <= 0.05)
 *   split     1 GiB leaf -> 4K leaves vs writing the same table bytes (target within 3x)
 *   collapse  1 GiB of 4K leaves -> one leaf (in place) vs the same limit
 *   fault     fast vs slow path fix-up cost per fault (targets: fast >= 1.5x faster on one
 *             thread, >= 2.5x on two threads faulting at once), by threads playing vCPUs
 *             (online for grace periods); the _qs records add the quiescent-state report
 *             of a VM entry and exit per fault
 * Every result is printed as an `@json {...}` line (keys name, guest_gib, leaf, ns,
 * limit_ns, baseline_ns, ratio) and written as a JSON array to the file named by argv[1].
 * Frames are fake (no data behind them): only the tables are real.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ept/env.h"
#include "ept/ept.h"
#include "ept/iter.h"
#include "ept_env_host.h"
#include "ept_hw.h"

#define GUEST_GIB 64ULL
#define PAGES     (GUEST_GIB << (30 - PAGE_SHIFT))
#define PROT      (EPT_R | EPT_W | EPT_X | EPT_HOST_WRITABLE | EPT_MMU_WRITABLE)
#define P1G       ept_level_pages(3)

static FILE *json;
static int nresults;
static char table[32][160]; /* the human summary printed at the end */

static u64 now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (u64)t.tv_sec * 1000000000ULL + t.tv_nsec;
}

static void result(const char *name, int leaf, u64 ns, u64 limit_ns, u64 baseline_ns, double ratio,
                   const char *target)
{
	char line[320];

	if (nresults < (int)ARRAY_SIZE(table))
		snprintf(table[nresults], sizeof(table[0]),
		         "%-22s %-3s %14llu %12llu %12llu %9.3f  %s", name, leaf == 1 ? "4K" : "2M",
		         (unsigned long long)ns, (unsigned long long)limit_ns,
		         (unsigned long long)baseline_ns, ratio, target);

	snprintf(line, sizeof(line),
	         "{\"name\": \"%s\", \"guest_gib\": %llu, \"leaf\": \"%s\", \"ns\": %llu, "
	         "\"limit_ns\": %llu, \"baseline_ns\": %llu, \"ratio\": %.4f}",
	         name, GUEST_GIB,
	         leaf == 1   ? "4K"
	         : leaf == 2 ? "2M"
	                     : "1G",
	         (unsigned long long)ns, (unsigned long long)limit_ns,
	         (unsigned long long)baseline_ns, ratio);
	printf("@json %s\n", line);
	fflush(stdout);
	if (json)
		fprintf(json, "%s  %s", nresults++ ? ",\n" : "[\n", line);
}

/* The best of n runs of fn (fewer surprises from the host). */
#define BEST_OF(n, ns, body)                                                                       \
	do {                                                                                       \
		ns = ~0ULL;                                                                        \
		for (int rep_ = 0; rep_ < (n); rep_++) {                                           \
			u64 t0_ = now_ns();                                                        \
			body;                                                                      \
			u64 t_ = now_ns() - t0_;                                                   \
			ns = t_ < ns ? t_ : ns;                                                    \
		}                                                                                  \
	} while (0)

static void map_guest(struct ept *e, int level)
{
	if (ept_init(e) || ept_map(e, 0, HOST_FAKE_HFN, PAGES, level, PROT))
		abort();
}

/* ---- scan ------------------------------------------------------------------------------------ */

/* Every leaf-table page of the guest (for the read limit and the baseline). */
static u64 **leaf_tables(struct ept *e, int level, u64 *n)
{
	u64 **t = malloc(sizeof(*t) * (PAGES / ept_level_pages(level + 1) + 1));
	struct ept_iter it;

	*n = 0;
	for_each_ept_entry(it, e, 0, PAGES, level + 1)
		if (it.level == level + 1 && ept_table(it.old, it.level))
			t[(*n)++] = ept_env_va(ept_child(it.old));
	return t;
}

static volatile u64 sink;

static u64 read_tables(u64 **t, u64 n)
{
	u64 x = 0;

	for (u64 i = 0; i < n; i++)
		for (int j = 0; j < EPT_ENTRIES; j++)
			x += t[i][j];
	return x;
}

/* Seed-style baseline: one call per 4K page and one bitmap operation, no skipping. */
static __attribute__((noinline)) void classify_4k(u64 e, u64 gfn, u64 *idle)
{
	if (ept_present(e) && !(e & EPT_A))
		idle[gfn / 64] |= BIT(gfn % 64);
	else
		idle[gfn / 64] &= ~BIT(gfn % 64);
}

static void baseline_scan(u64 **t, u64 n, int level, u64 *idle)
{
	u64 per = ept_level_pages(level);

	for (u64 i = 0; i < n; i++)
		for (int j = 0; j < EPT_ENTRIES; j++)
			for (u64 k = 0; k < per; k++)
				classify_4k(t[i][j], (i * EPT_ENTRIES + j) * per + k, idle);
}

static void bench_scan(int level)
{
	struct ept e;
	struct ept_tracker tr = { .gfn = 0, .npages = PAGES, .young = calloc(PAGES / 64, 8) };
	struct ept_extent ext[64];
	struct ept_scan s = { .idle = calloc(PAGES / 64, 8),
		              .hole = calloc(PAGES / 64, 8),
		              .ext = ext,
		              .max_ext = 64 };
	u64 ntab, scan_ns, read_ns, base_ns, **t;

	map_guest(&e, level);
	ept_tracker_add(&e, &tr);
	t = leaf_tables(&e, level, &ntab);
	BEST_OF(3, read_ns, sink = read_tables(t, ntab));
	scan_ns = ~0ULL;
	for (int rep = 0; rep < 3; rep++) {
		u64 t0;

		for (u64 g = 0; g < PAGES; g += 7 * ept_level_pages(level)) /* 1/7 accessed */
			hw_access(&e, g, false, NULL, NULL);
		t0 = now_ns();
		ept_scan(&e, &tr, &s, true);
		scan_ns = MIN(scan_ns, now_ns() - t0);
	}
	BEST_OF(1, base_ns, baseline_scan(t, ntab, level, s.idle));
	result("scan", level, scan_ns, read_ns, base_ns, (double)read_ns / scan_ns,
	       "limit/ns >= 0.7");
	result("scan_vs_baseline", level, scan_ns, read_ns, base_ns, (double)base_ns / scan_ns,
	       "baseline/ns >= 5");
	ept_tracker_del(&e, &tr);
	ept_destroy(&e);
	free(t);
	free(tr.young);
	free(s.idle);
	free(s.hole);
}

/* ---- harvest -------------------------------------------------------------------------------- */

static void bench_harvest(void)
{
	static const unsigned permille[] = { 1, 10, 100, 1000 };
	u64 *bitmap = calloc(PAGES / 64, 8), *out = calloc(PAGES / 64, 8), ns[4];
	struct ept_dirty_log log = {
		.gfn = 0, .npages = PAGES, .bitmap = bitmap, .mode = EPT_DIRTY_WP
	};
	struct ept e;

	map_guest(&e, 1);
	if (ept_dirty_log_enable(&e, &log))
		abort();
	for (int i = 0; i < 4; i++) {
		u64 step = 1000 / permille[i];

		for (u64 g = 0; g < PAGES; g += step)
			ept_handle_fault(&e, g, EPT_W);
		BEST_OF(1, ns[i], ept_dirty_log_get_and_clear(&e, &log, out));
	}
	for (int i = 0; i < 4; i++) {
		char name[32];

		snprintf(name, sizeof(name), "harvest_%.1f%%", permille[i] / 10.0);
		result(name, 1, ns[i], 0, ns[3], (double)ns[i] / ns[3],
		       i == 0 ? "ns/100% <= 0.05" : "ns/100%");
	}
	ept_dirty_log_disable(&e, &log);
	ept_destroy(&e);
	free(bitmap);
	free(out);
}

/* ---- split / collapse ---------------------------------------------------------------------------
 */

/* Writing the bytes of the 513 tables a 1 GiB 4K mapping needs: the limit. */
static u64 write_tables_ns(void)
{
	u64 *t = aligned_alloc(PAGE_SIZE, 513 * PAGE_SIZE), ns;

	memset(t, 1, 513 * PAGE_SIZE); /* fault the pages in first */
	BEST_OF(3, ns, for (u64 i = 0; i < 513 * EPT_ENTRIES; i++) t[i] = i << PAGE_SHIFT | 7);
	sink = t[12345];
	free(t);
	return ns;
}

static void bench_split_collapse(void)
{
	u64 limit = write_tables_ns(), split_ns = ~0ULL, collapse_ns = ~0ULL;

	for (int rep = 0; rep < 3; rep++) {
		struct ept e;
		u64 t0;

		if (ept_init(&e) || ept_map(&e, 0, HOST_FAKE_HFN, P1G, 3, PROT))
			abort();
		t0 = now_ns();
		ept_split(&e, 0, P1G, 1);
		split_ns = MIN(split_ns, now_ns() - t0);
		t0 = now_ns();
		ept_collapse(&e, 0, 3, EPT_COLLAPSE_IN_PLACE);
		collapse_ns = MIN(collapse_ns, now_ns() - t0);
		ept_destroy(&e);
	}
	result("split_1g", 1, split_ns, limit, 0, (double)split_ns / limit, "ns/limit <= 3");
	result("collapse_1g", 1, collapse_ns, limit, 0, (double)collapse_ns / limit,
	       "ns/limit <= 3");
}

/* ---- faults -------------------------------------------------------------------------------------
 */

#define FAULT_PAGES (1ULL << 20)

struct fault_arg {
	struct ept *e;
	gfn_t first;
	u64 n;
	bool qs; /* report a quiescent state per fault, as the VM entry and exit around it do */
};

/* A thread playing a vCPU: online (ept/env.h), one write fault per simulated exit. */
static void *fault_thread(void *p)
{
	struct fault_arg *a = p;

	ept_cpu_online();
	for (gfn_t g = a->first; g < a->first + a->n; g++) {
		ept_handle_fault(a->e, g, EPT_W);
		if (a->qs) {
			ept_cpu_offline(); /* what vmx/vcpu.c does around each VM entry */
			ept_cpu_online();
		}
	}
	ept_cpu_offline();
	return NULL;
}

/* ns per fault with `threads` threads fixing write-protected pages at once. */
static u64 fault_ns(bool slow, int threads, bool qs)
{
	struct fault_arg a[2];
	pthread_t t[2];
	struct ept e;
	u64 t0, ns;

	if (ept_init(&e) || ept_map(&e, 0, HOST_FAKE_HFN, FAULT_PAGES, 1, PROT) ||
	    ept_write_protect(&e, 0, FAULT_PAGES))
		abort();
	e.force_slow = slow;
	t0 = now_ns();
	for (int i = 0; i < threads; i++) {
		a[i] = (struct fault_arg){ &e, i * FAULT_PAGES / threads, FAULT_PAGES / threads,
			                   qs };
		pthread_create(&t[i], NULL, fault_thread, &a[i]);
	}
	for (int i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	ns = (now_ns() - t0) / (FAULT_PAGES / threads);
	ept_destroy(&e);
	return ns;
}

/* The fault fix-up alone (fault_fast, fault_slow), and with the quiescent-state report of
 * the exit and entry around each fault (_qs: the grace-period cost a vCPU pays per exit,
 * on both paths alike). */
static void bench_faults(void)
{
	for (int qs = 0; qs <= 1; qs++)
		for (int threads = 1; threads <= 2; threads++) {
			u64 fast = ~0ULL, slow = ~0ULL;
			char fname[40], sname[40];

			for (int rep = 0; rep < 3; rep++) {
				fast = MIN(fast, fault_ns(false, threads, qs));
				slow = MIN(slow, fault_ns(true, threads, qs));
			}
			snprintf(fname, sizeof(fname), "fault_fast%s%s",
			         threads == 2 ? "_2threads" : "", qs ? "_qs" : "");
			snprintf(sname, sizeof(sname), "fault_slow%s%s",
			         threads == 2 ? "_2threads" : "", qs ? "_qs" : "");
			result(fname, 1, fast, 0, slow, (double)slow / fast,
			       threads == 1 ? "slow/fast >= 1.5" : "slow/fast >= 2.5");
			result(sname, 1, slow, 0, fast, (double)fast / slow, "fast/slow");
		}
}

int main(int argc, char **argv)
{
	if (argc > 1 && !(json = fopen(argv[1], "w"))) {
		perror(argv[1]);
		return 1;
	}
	host_env_fake_data(true);
	bench_scan(1);
	bench_scan(2);
	bench_harvest();
	bench_split_collapse();
	bench_faults();
	if (json) {
		fprintf(json, "\n]\n");
		fclose(json);
	}
	printf("\n%-22s %-3s %14s %12s %12s %9s  %s\n", "name", "", "ns", "limit_ns", "baseline_ns",
	       "ratio", "target");
	for (int i = 0; i < nresults && i < (int)ARRAY_SIZE(table); i++)
		printf("%s\n", table[i]);
	return 0;
}
