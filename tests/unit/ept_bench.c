/*
 * Host benchmarks of the EPT core (make bench-host): a 64 GiB guest mapped with 4K leaves,
 * then with 2M leaves, timed at host speed next to the floor or baseline of each operation.
 *   scan      clearing A/D scan at two densities (uniform: 1 page in 7 accessed; sparse: 1%
 *             of the 2M regions, clustered), median of 5 rounds, against a port of the seed's
 *             loop (walk, test-and-clear A per leaf, word-wise bitmap), a plain read pass and
 *             a read-modify-write pass over the leaf tables. scan_*: ratio = rmw / scan
 *             (target >= 0.7); scan_*_vs_seed: seed / scan (targets: 4K uniform and 2M >= 1,
 *             4K sparse >= 10); scan_*_read: the read pass
 *   harvest   get-and-clear of a write-protect log at 0%, 0.1%, 1%, 10%, 100% dirty, median
 *             of 3; ratio = this / 100% (targets: 0% <= 0.002, 0.1% <= 0.01)
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

static const char *leaf_name(int leaf)
{
	return leaf == 1 ? "4K" : leaf == 2 ? "2M" : "1G";
}

/* One record: `gib` GiB of guest, leaves of level `leaf` (1 4K, 2 2M, 3 1G). */
static void result_at(const char *name, u64 gib, int leaf, u64 ns, u64 limit_ns, u64 baseline_ns,
                      double ratio, const char *target)
{
	char line[320];

	if (nresults < (int)ARRAY_SIZE(table))
		snprintf(table[nresults], sizeof(table[0]),
		         "%-22s %3llu %-3s %14llu %12llu %12llu %9.4f  %s", name,
		         (unsigned long long)gib, leaf_name(leaf), (unsigned long long)ns,
		         (unsigned long long)limit_ns, (unsigned long long)baseline_ns, ratio,
		         target);

	snprintf(line, sizeof(line),
	         "{\"name\": \"%s\", \"guest_gib\": %llu, \"leaf\": \"%s\", \"ns\": %llu, "
	         "\"limit_ns\": %llu, \"baseline_ns\": %llu, \"ratio\": %.4f}",
	         name, (unsigned long long)gib, leaf_name(leaf), (unsigned long long)ns,
	         (unsigned long long)limit_ns, (unsigned long long)baseline_ns, ratio);
	printf("@json %s\n", line);
	fflush(stdout);
	if (json)
		fprintf(json, "%s  %s", nresults++ ? ",\n" : "[\n", line);
}

/* A record of the GUEST_GIB guest. */
static void result(const char *name, int leaf, u64 ns, u64 limit_ns, u64 baseline_ns, double ratio,
                   const char *target)
{
	result_at(name, GUEST_GIB, leaf, ns, limit_ns, baseline_ns, ratio, target);
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

/*
 * Four loops over the same guest, each after the same pages were touched again:
 *   scan   ept_scan, clearing, in steady state (a clearing scan ran before each round);
 *   seed   a port of the seed's loop: zero the idle bitmap word by word, walk the four levels
 *          from the root, and per leaf test A, clear it with an atomic AND if set, else mark
 *          the leaf's pages idle;
 *   read   a plain read of every leaf-table byte (the floor of any scan that looks at all);
 *   rmw    a read and write-back of every leaf-table entry (the floor of one that clears).
 * Densities: uniform (one page or leaf in 7 accessed) and sparse (every page of 1% of the
 * 2M regions, in clusters of 8 neighbouring regions).
 */
enum density { UNIFORM, SPARSE };

static volatile u64 sink, keep = ~0ULL;

/* Every leaf-table page of the guest (for the read and rmw passes). */
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

static u64 read_tables(u64 **t, u64 n)
{
	u64 x = 0;

	for (u64 i = 0; i < n; i++)
		for (int j = 0; j < EPT_ENTRIES; j++)
			x += t[i][j];
	return x;
}

static void rmw_tables(u64 **t, u64 n)
{
	u64 m = keep; /* ~0: every entry is written back unchanged */

	for (u64 i = 0; i < n; i++)
		for (int j = 0; j < EPT_ENTRIES; j++)
			t[i][j] &= m;
}

/* The seed's loop, one table: recursion down to the leaves. */
static void seed_table(const u64 *t, int level, gfn_t base, u64 *idle)
{
	for (unsigned i = 0; i < EPT_ENTRIES; i++) {
		u64 *p = (u64 *)&t[i], e = __atomic_load_n(p, __ATOMIC_RELAXED);
		gfn_t g = base + i * ept_level_pages(level);

		if (ept_table(e, level)) {
			seed_table(ept_env_va(ept_child(e)), level - 1, g, idle);
		} else if (ept_leaf(e, level)) {
			if (e & EPT_A)
				__atomic_fetch_and(p, ~EPT_A, __ATOMIC_RELAXED);
			else if (level == 1)
				idle[g / 64] |= BIT(g % 64);
			else
				for (u64 w = g / 64; w < (g + ept_level_pages(level)) / 64; w++)
					idle[w] = ~0ULL;
		}
	}
}

static void seed_scan(struct ept *e, u64 *idle)
{
	for (u64 i = 0; i < PAGES / 64; i++)
		idle[i] = 0;
	seed_table(ept_env_va(e->root), EPT_LEVELS, 0, idle);
	ept_env_flush(e);
}

/* Touch the density's pages (the simulated CPU sets A along each path). */
static void touch(struct ept *e, int level, enum density d)
{
	u64 region = ept_level_pages(2), nreg = PAGES / region;

	if (d == UNIFORM) {
		for (u64 g = 0; g < PAGES; g += 7 * ept_level_pages(level))
			hw_access(e, g, false, NULL, NULL);
		return;
	}
	/* 1%: clusters of 8 regions, one cluster every 800 regions. */
	for (u64 r = 0; r < nreg; r++)
		if (r % 800 < 8)
			for (u64 g = r * region; g < (r + 1) * region; g += ept_level_pages(level))
				hw_access(e, g, false, NULL, NULL);
}

#define SCAN_RUNS 5

static int cmp_u64(const void *a, const void *b)
{
	u64 x = *(const u64 *)a, y = *(const u64 *)b;

	return x < y ? -1 : x > y;
}

static u64 median(u64 *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_u64);
	return v[n / 2];
}

static const char *density_name(enum density d)
{
	return d == UNIFORM ? "uniform" : "sparse";
}

static void bench_scan(int level, enum density d)
{
	struct ept e;
	struct ept_tracker tr = { .gfn = 0, .npages = PAGES, .young = calloc(PAGES / 64, 8) };
	struct ept_extent ext[64];
	struct ept_scan s = { .idle = calloc(PAGES / 64, 8),
		              .hole = calloc(PAGES / 64, 8),
		              .ext = ext,
		              .max_ext = 64 };
	u64 ntab, scan[SCAN_RUNS], seed[SCAN_RUNS], rd[SCAN_RUNS], rmw[SCAN_RUNS], **t, t0;
	u64 scan_ns, seed_ns, read_ns, rmw_ns;
	char name[48];

	map_guest(&e, level);
	ept_tracker_add(&e, &tr);
	t = leaf_tables(&e, level, &ntab);
	touch(&e, level, d);
	ept_scan(&e, &tr, &s, true); /* steady state: the first round reads every table */
	for (int rep = 0; rep < SCAN_RUNS; rep++) {
		touch(&e, level, d);
		t0 = now_ns();
		ept_scan(&e, &tr, &s, true);
		scan[rep] = now_ns() - t0;
		touch(&e, level, d);
		t0 = now_ns();
		seed_scan(&e, s.idle);
		seed[rep] = now_ns() - t0;
		t0 = now_ns();
		sink = read_tables(t, ntab);
		rd[rep] = now_ns() - t0;
		t0 = now_ns();
		rmw_tables(t, ntab);
		rmw[rep] = now_ns() - t0;
	}
	scan_ns = median(scan, SCAN_RUNS);
	seed_ns = median(seed, SCAN_RUNS);
	read_ns = median(rd, SCAN_RUNS);
	rmw_ns = median(rmw, SCAN_RUNS);
	snprintf(name, sizeof(name), "scan_%s", density_name(d));
	result(name, level, scan_ns, rmw_ns, seed_ns, (double)rmw_ns / scan_ns, "rmw/ns >= 0.7");
	snprintf(name, sizeof(name), "scan_%s_vs_seed", density_name(d));
	result(name, level, scan_ns, read_ns, seed_ns, (double)seed_ns / scan_ns,
	       level == 2     ? "seed/ns >= 1.0"
	       : d == UNIFORM ? "seed/ns >= 1.0"
	                      : "seed/ns >= 10");
	snprintf(name, sizeof(name), "scan_%s_read", density_name(d));
	result(name, level, read_ns, 0, 0, (double)read_ns / scan_ns, "read pass; ratio read/scan");
	ept_tracker_del(&e, &tr);
	ept_destroy(&e);
	free(t);
	free(tr.young);
	free(s.idle);
	free(s.hole);
}

/* ---- harvest -------------------------------------------------------------------------------- */

#define HARVEST_RUNS 3

static void bench_harvest(void)
{
	static const unsigned permille[] = { 0, 1, 10, 100, 1000 };
	u64 *bitmap = calloc(PAGES / 64, 8), *out = calloc(PAGES / 64, 8), ns[5];
	struct ept_dirty_log log = {
		.gfn = 0, .npages = PAGES, .bitmap = bitmap, .mode = EPT_DIRTY_WP
	};
	struct ept e;

	map_guest(&e, 1);
	if (ept_dirty_log_enable(&e, &log))
		abort();
	for (int i = 0; i < 5; i++) {
		u64 runs[HARVEST_RUNS];

		for (int rep = 0; rep < HARVEST_RUNS; rep++) {
			u64 t0;

			for (u64 g = 0; permille[i] && g < PAGES; g += 1000 / permille[i])
				ept_handle_fault(&e, g, EPT_W);
			t0 = now_ns();
			ept_dirty_log_get_and_clear(&e, &log, out);
			runs[rep] = now_ns() - t0;
		}
		ns[i] = median(runs, HARVEST_RUNS);
	}
	for (int i = 0; i < 5; i++) {
		char name[32];

		snprintf(name, sizeof(name), "harvest_%.1f%%", permille[i] / 10.0);
		result(name, 1, ns[i], 0, ns[4], (double)ns[i] / ns[4],
		       i == 0   ? "ns/100% <= 0.002"
		       : i == 1 ? "ns/100% <= 0.01"
		                : "ns/100%");
	}
	ept_dirty_log_disable(&e, &log);
	ept_destroy(&e);
	free(bitmap);
	free(out);
}

/* ---- split / collapse ---------------------------------------------------------------------------
 */

/* The limit: the 513 tables a 1 GiB 4K mapping needs, allocated from the same allocator as
 * the EPT's (ept_env_alloc_table, which zeroes them) and filled with the same entries (512
 * table entries, 512 x 512 leaves); best of 3, the frees untimed. */
static u64 write_tables_ns(void)
{
	hpa_t t[1 + EPT_ENTRIES];
	u64 ns = ~0ULL;

	for (int rep = 0; rep < 3; rep++) {
		u64 t0 = now_ns(), *pd;

		for (unsigned i = 0; i <= EPT_ENTRIES; i++)
			t[i] = ept_env_alloc_table();
		pd = ept_env_va(t[0]);
		for (unsigned i = 0; i < EPT_ENTRIES; i++) {
			u64 *pt = ept_env_va(t[i + 1]);

			pd[i] = ept_table_entry(t[i + 1]);
			for (unsigned j = 0; j < EPT_ENTRIES; j++)
				pt[j] = ept_leaf_entry(HOST_FAKE_HFN + i * EPT_ENTRIES + j, 1,
				                       PROT);
		}
		ns = MIN(ns, now_ns() - t0);
		sink = pd[123];
		for (unsigned i = 0; i <= EPT_ENTRIES; i++)
			ept_env_free_table(t[i]);
	}
	return ns;
}

static void bench_split_collapse(void)
{
	u64 limit = write_tables_ns(), split_ns = ~0ULL, collapse_ns = ~0ULL, flushes = 0;

	for (int rep = 0; rep < 3; rep++) {
		struct ept e;
		u64 t0;

		if (ept_init(&e) || ept_map(&e, 0, HOST_FAKE_HFN, P1G, 3, PROT))
			abort();
		t0 = now_ns();
		ept_split(&e, 0, P1G, 1);
		split_ns = MIN(split_ns, now_ns() - t0);
		flushes = e.stats.flushes;
		t0 = now_ns();
		ept_collapse(&e, 0, 3, EPT_COLLAPSE_IN_PLACE);
		collapse_ns = MIN(collapse_ns, now_ns() - t0);
		flushes = e.stats.flushes - flushes;
		ept_destroy(&e);
	}
	/* 1 GiB of guest; the leaf split (and collapsed back) is 1G. */
	result_at("split_1g", 1, 3, split_ns, limit, 0, (double)split_ns / limit, "ns/limit <= 2");
	result_at("collapse_1g", 1, 3, collapse_ns, limit, 0, (double)collapse_ns / limit,
	          "ns/limit <= 5");
	printf("collapse_1g: %llu flush(es) per collapse\n", (unsigned long long)flushes);
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
			/* FAULT_PAGES 4K pages of guest */
			result_at(fname, FAULT_PAGES >> 18, 1, fast, 0, slow, (double)slow / fast,
			          threads == 1 ? "slow/fast >= 1.5" : "slow/fast >= 2.5");
			result_at(sname, FAULT_PAGES >> 18, 1, slow, 0, fast, (double)fast / slow,
			          "fast/slow");
		}
}

int main(int argc, char **argv)
{
	if (argc > 1 && !(json = fopen(argv[1], "w"))) {
		perror(argv[1]);
		return 1;
	}
	host_env_fake_data(true);
	bench_scan(1, UNIFORM);
	bench_scan(1, SPARSE);
	bench_scan(2, UNIFORM);
	bench_scan(2, SPARSE);
	bench_harvest();
	bench_split_collapse();
	bench_faults();
	if (json) {
		fprintf(json, "\n]\n");
		fclose(json);
	}
	printf("\n%-22s %3s %-3s %14s %12s %12s %9s  %s\n", "name", "GiB", "", "ns", "limit_ns",
	       "baseline_ns", "ratio", "target");
	for (int i = 0; i < nresults && i < (int)ARRAY_SIZE(table); i++)
		printf("%s\n", table[i]);
	return 0;
}
