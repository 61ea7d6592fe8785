/*
 * The fault-latency benchmark (issue 5), hypervisor side: the scenario set-up and the
 * statistics. The guest (guests/bench.c) measures each path with the TSC, first on vCPU 0
 * alone and then on all vCPUs at once, hands every vCPU's samples over with HC_BENCH_END
 * (hypercall/bench.c checks them against the counters) and asks for a report; this file sorts
 * them and prints one @json line per path and vCPU count:
 *
 *   {"bench":"fault_latency","path","vcpus","samples","min","p50","p90","p99","max",
 *    "mean","overhead","raw_p50","timed_by","verified","exits","interrupts","pml_full",...}
 *
 * then its distribution ({"bench_cdf": path, "q": [p0, p2, ..., p100]}) and, per vCPU
 * count, the ratios of medians the issue asks for ({"bench_ratios": ...}). Guest-timed
 * samples have the median TSC-pair overhead of the same run and vCPU count subtracted
 * (clamped at 0); hypervisor-timed ones the cost of the hypervisor's own RDTSC pair.
 */
#include "arch/cpu.h"
#include "boot/options.h"
#include "drivers/console.h"
#include "errno.h"
#include "lib.h"
#include "mm/mm.h"
#include "scenarios/fault_latency.h"
#include "vmx/vcpu.h"
#include "vmx/vmx.h"

#define CDF_STEP 20 /* per mille between two points of the distribution line */

struct bench_run bench_run;

static const char *const path_names[BENCH_PATHS] = {
	[BENCH_TSC_OVERHEAD] = "tsc_overhead", [BENCH_NULL_EXIT] = "null_exit",
	[BENCH_CPUID_EXIT] = "cpuid_exit",     [BENCH_EPT_POPULATE] = "ept_populate",
	[BENCH_WP_FAST] = "wp_fast",           [BENCH_WP_SLOW] = "wp_slow",
	[BENCH_PML_WRITE] = "pml_write",       [BENCH_SPLIT] = "split_fault",
	[BENCH_COLLAPSE] = "collapse",
};

/* Statistics of one path at one vCPU count, in cycles after the overhead. */
struct bench_stats {
	u64 n, min, p50, p90, p99, max, mean, raw_p50, overhead;
	u64 exits, interrupts, pml_full;
	int vcpus;
	bool verified;
};

const char *bench_path_name(int path)
{
	return path >= 0 && path < BENCH_PATHS ? path_names[path] : "?";
}

/* The bench VM: a 2M-leaf block per vCPU for split/collapse, or PML on for pml_write. */
int bench_setup(struct vm *vm, const struct scenario *sc)
{
	/* The vCPU count run_scenario will use (vcpus= overrides the row). */
	int nvcpus = opts.vcpus ? (int)opts.vcpus : sc->vcpus ? sc->vcpus : 1;
	bool pml = sc->arg == BENCH_ARG_PML;

	if (pml && !(vmx_caps.pml && vmx_caps.ept_ad))
		return -ENODEV;
	vm->use_pml = pml;
	memset(&bench_run, 0, sizeof(bench_run));
	bench_run.vm = vm;
	bench_run.name = vm->name;
	bench_run.samples = opts.samples ? opts.samples : BENCH_DEFAULT_SAMPLES;
	bench_run.warmup = BENCH_WARMUP;
	bench_run.pml = pml;
	printk("bench: %lu samples per vCPU and path after %lu warm-up ones; TSC cycles%s\n",
	       bench_run.samples, bench_run.warmup,
	       !strcmp(opts.platform, "bochs") ? " (Bochs, clock sync=none: executed "
						"instructions, a path length, not a latency)" : "");
	return pml ? 0 : vm_add_huge_slot(vm, GT_BENCH_HUGE_GPA, (u64)nvcpus * SZ_2M, 2);
}

/* Shell sort (Ciura's gaps): a few thousand samples, no recursion, no allocation. */
static void sort_u64(u64 *a, u64 n)
{
	static const u64 gaps[] = { 701, 301, 132, 57, 23, 10, 4, 1 };

	for (size_t g = 0; g < ARRAY_SIZE(gaps); g++)
		for (u64 i = gaps[g]; i < n; i++) {
			u64 x = a[i], j = i;

			for (; j >= gaps[g] && a[j - gaps[g]] > x; j -= gaps[g])
				a[j] = a[j - gaps[g]];
			a[j] = x;
		}
}

/* Nearest-rank percentile of sorted a[0..n): per_mille 0 = min, 1000 = max. */
static u64 pct(const u64 *a, u64 n, u64 per_mille)
{
	u64 rank = (per_mille * n + 999) / 1000;

	return a[rank ? rank - 1 : 0];
}

/* The cost of the hypervisor's own RDTSC pair (the least of a few). */
static u64 host_tsc_overhead(void)
{
	u64 best = ~0ULL;

	for (int i = 0; i < 16; i++) {
		u64 t0 = rdtsc(), t1 = rdtsc();

		best = MIN(best, t1 - t0);
	}
	return best;
}

/* Copy every vCPU's kept samples of path into buf (warm-up skipped); fill st's counts. */
static u64 gather(struct vm *vm, int path, u64 *buf, struct bench_stats *st)
{
	u64 total = 0, w = bench_run.warmup, s = bench_run.samples;

	st->verified = true;
	for (int i = 0; i < vm->nvcpus; i++) {
		struct bench_kept *k = &bench_run.kept[i][path];

		/* ACQUIRE: pairs with op_end's RELEASE of n. */
		if (!__atomic_load_n(&k->n, __ATOMIC_ACQUIRE))
			continue;
		if (vm_copy_from_guest(vm, buf + total, k->gpa + w * sizeof(u64), s * sizeof(u64)))
			return 0;
		total += s;
		st->vcpus++;
		st->verified &= k->verified;
		st->exits += k->exits;
		st->interrupts += k->interrupts;
		st->pml_full += k->pml_full;
	}
	return total;
}

/* Subtract the overhead from every sample (clamped at 0), sort, take the statistics. */
static void compute(u64 *a, u64 n, u64 overhead, struct bench_stats *st)
{
	u64 sum = 0;

	for (u64 i = 0; i < n; i++) {
		/* A sample above 2^63 is a hypercall's -errno: keep it visible as the max. */
		a[i] = a[i] > overhead ? a[i] - overhead : 0;
		sum += a[i];
	}
	sort_u64(a, n);
	st->n = n;
	st->overhead = overhead;
	st->min = a[0];
	st->p50 = pct(a, n, 500);
	st->p90 = pct(a, n, 900);
	st->p99 = pct(a, n, 990);
	st->max = a[n - 1];
	st->mean = sum / n;
	st->raw_p50 = st->p50 + overhead;
}

static void print_stats(struct vm *vm, int path, const struct bench_stats *st)
{
	printk("@json {\"bench\":\"fault_latency\",\"scenario\":\"%s\",\"platform\":\"%s\","
	       "\"path\":\"%s\",\"vcpus\":%d,\"samples\":%lu,\"min\":%lu,\"p50\":%lu,"
	       "\"p90\":%lu,\"p99\":%lu,\"max\":%lu,\"mean\":%lu,\"overhead\":%lu,"
	       "\"raw_p50\":%lu,\"warmup\":%lu,\"timed_by\":\"%s\",\"verified\":%s,"
	       "\"exits\":%lu,\"interrupts\":%lu,\"pml_full\":%lu}\n",
	       vm->name, opts.platform, path_names[path], st->vcpus, st->n, st->min, st->p50,
	       st->p90, st->p99, st->max, st->mean, st->overhead, st->raw_p50, bench_run.warmup,
	       bench_hv_timed(path) ? "hypervisor" : "guest", st->verified ? "true" : "false",
	       st->exits, st->interrupts, st->pml_full);
}

static void print_cdf(struct vm *vm, int path, const struct bench_stats *st, const u64 *a)
{
	char q[600];
	size_t len = 0;

	for (u64 pm = 0; pm <= 1000 && len < sizeof(q); pm += CDF_STEP)
		len += snprintf(q + len, sizeof(q) - len, "%s%lu", pm ? "," : "", pct(a, st->n, pm));
	printk("@json {\"bench_cdf\":\"%s\",\"scenario\":\"%s\",\"platform\":\"%s\",\"vcpus\":%d,"
	       "\"step_per_mille\":%d,\"q\":[%s]}\n",
	       path_names[path], vm->name, opts.platform, st->vcpus, CDF_STEP, q);
}

/* num/den as a JSON number with three decimals (null when den is 0). */
static const char *ratio(char *buf, size_t n, u64 num, u64 den)
{
	u64 milli = den ? (num * 1000 + den / 2) / den : 0;

	if (!den)
		snprintf(buf, n, "null");
	else
		snprintf(buf, n, "%lu.%03lu", milli / 1000, milli % 1000);
	return buf;
}

static void print_ratios(struct vm *vm, int vcpus, const u64 *p50)
{
	char a[24], b[24], c[24];

	printk("@json {\"bench_ratios\":\"fault_latency\",\"scenario\":\"%s\",\"platform\":\"%s\","
	       "\"vcpus\":%d,\"basis\":\"p50\",\"wp_fast/null_exit\":%s,\"wp_slow/wp_fast\":%s,"
	       "\"ept_populate/null_exit\":%s}\n",
	       vm->name, opts.platform, vcpus,
	       ratio(a, sizeof(a), p50[BENCH_WP_FAST], p50[BENCH_NULL_EXIT]),
	       ratio(b, sizeof(b), p50[BENCH_WP_SLOW], p50[BENCH_WP_FAST]),
	       ratio(c, sizeof(c), p50[BENCH_EPT_POPULATE], p50[BENCH_NULL_EXIT]));
}

/* What each path's samples have subtracted: the guest's TSC pair (its median, once the
 * tsc_overhead path is reported) or the hypervisor's. */
struct overheads {
	u64 guest, host;
};

/* Report one path; returns its vCPU count (0: nothing submitted). */
static int report_path(struct vm *vm, int path, u64 *buf, struct overheads *o, u64 *p50)
{
	struct bench_stats st = { 0 };
	u64 n = gather(vm, path, buf, &st);

	if (!n)
		return 0;
	compute(buf, n, path == BENCH_TSC_OVERHEAD ? 0 : bench_hv_timed(path) ? o->host : o->guest,
		&st);
	if (path == BENCH_TSC_OVERHEAD)
		o->guest = st.p50;
	p50[path] = st.p50;
	print_stats(vm, path, &st);
	print_cdf(vm, path, &st, buf);
	if (!st.verified)
		printk("bench: %s: NOT every sample took the path (see the failed checks): these "
		       "numbers do not measure %s\n", path_names[path], path_names[path]);
	return st.vcpus;
}

s64 bench_report(struct vm *vm)
{
	u64 bytes = (u64)vm->nvcpus * bench_run.samples * sizeof(u64);
	u64 *buf = kzalloc(bytes), p50[BENCH_PATHS] = { 0 };
	struct overheads o = { .host = host_tsc_overhead() };
	int vcpus = 0, reported = 0;

	if (!buf)
		return -ENOMEM;
	/* The TSC overhead first (path 0): the guest-timed paths subtract its median. */
	for (int path = 0; path < BENCH_PATHS; path++) {
		int n = report_path(vm, path, buf, &o, p50);

		reported += n > 0;
		vcpus = MAX(vcpus, n);
	}
	if (p50[BENCH_NULL_EXIT] && p50[BENCH_WP_FAST])
		print_ratios(vm, vcpus, p50);
	memset(bench_run.kept, 0, sizeof(bench_run.kept));
	kfree(buf, bytes);
	return reported;
}
