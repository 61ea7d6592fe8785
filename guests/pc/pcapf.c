/*
 * pcapf.elf: a PC guest kernel that uses KVM's asynchronous page faults when the hypervisor
 * offers them (issue 15, item 5), and runs the same without them (QEMU TCG, or apf=0).
 *
 * Arguments: buf=0xADDR pages=N passes=P [prefilled=1] [apf=0|sim] [walkers=K] [cpus=2]
 *            [slice_us=N] [trace=N]
 *   buf      guest-physical address of the buffer (page aligned, below 4 GiB: identity-mapped)
 *   pages    its size in 4 KiB pages;  passes  how many passes each walker makes (1..16)
 *   prefilled=1  every word at gpa g holds apf_pattern(g, 0) (include/pcapf.h) before the
 *            guest runs (a store filled by the hypervisor); pass 0 verifies it
 *   apf=0    do not enable async page faults even if the KVM leaf offers them
 *   apf=sim  simulate them inside the guest (apfsim.c), for QEMU: the buffer's pages start
 *            not present in the guest's page tables and come back 3 timer ticks after a fault
 *   walkers=K  K walker tasks (1..4, default 1) over K disjoint slices of the buffer
 *   cpus=2   also run the AP (INIT-SIPI-SIPI): walker k runs on CPU k % 2, each CPU has
 *            its own compute task, scheduler and async-PF area (same vector); not with apf=sim
 *   slice_us=N  the scheduler's time slice (100..1000000 us, default 1000). Under eptvisor
 *            in Bochs each tick costs two exits: 1 ms slices take a large share of the CPU
 *   trace=N  debugging: print the first N not-present / ready events, and every 1000th
 *            timer tick the counts and task states ("pcapf: trace: ..." lines)
 *
 * Tasks (sched.c: preemptive on the LAPIC timer, 1 ms slices by default): K walkers
 * and a compute task per CPU. Walker pass p over its pages: touch the page's first word (so an
 * async fault comes at the page's first touch), verify all 512 words (p == 0: against seed 0
 * only with prefilled=1; p > 0: seed p), then write seed p + 1 to all. The compute task runs
 * 64-round xorshift steps and counts them until the last walker ends. The walk's duration
 * (RDTSC from the first walker's start to the last one's end) and the compute steps done in
 * it are the kernel's measurement.
 *
 * Output, one line each, exactly:
 *   pcapf: buf 0x<hex> pages <N> passes <P> walkers <K>       (cpus=2: then " cpus 2")
 *   pcapf: async pf: on vector 0xec area 0x<hex>
 *     or   pcapf: async pf: off (no KVM leaf)          no KVM leaf with both async-PF bits
 *     or   pcapf: async pf: off (apf=0)
 *     or   pcapf: async pf: off (#GP enabling it)           the hypervisor refused the MSRs
 *     or   pcapf: async pf: simulated (apf=sim)
 *   then per pass p = 0..P-1, one of
 *   pcapf: pass <p> verified
 *   pcapf: pass 0 written                               (pass 0 without prefilled=1)
 *   pcapf: pass <p> MISMATCH at 0x<gpa> got 0x<hex> want 0x<hex>   (the lowest bad word)
 *   pcapf: @json {"walk_tsc":T,"compute_steps":S,"pages":N,"passes":P,"async":0|1|2,
 *                 "not_present":K,"ready":R,"wake_all":W,"real_pf":0,"walkers":K,"early":E,
 *                 "cpus":C}
 *     (one line; async 2: simulated. The counts are the guest's own: not-present #PFs
 *     taken, page-ready interrupts, wake-alls among them, readies for no waiting task,
 *     summed over the CPUs; compute_steps too)
 *   pcapf: @json {"not_present_tsc_p50":A,"ack_tsc_p50":B,"timed":N,"cpuid_tsc_p50":C}
 *     (the benchmark's timings, TSC cycles: touch to the not-present #PF's handler, the
 *     ACK's WRMSR round trip, and CPUID's as a null exit; N not-present faults timed)
 *   pcapf: PASS  or  pcapf: FAIL
 * Exit (isa-debug-exit) 0 when every pass verified; PCAPF_EXIT_MISMATCH on a mismatch,
 * PCAPF_EXIT_ARGS on bad arguments, PCAPF_EXIT_REAL_PF (after "FAIL: real #PF at ...") on a
 * #PF that was not an async not-present, PCAPF_EXIT_EXC + vector on another exception.
 */
#include "guests/pc/apf.h"

#define MAX_PASSES  16
#define MAX_WALKERS 4
#define XS_ROUNDS   64

struct mismatch {
	u64 gpa, got, want; /* gpa 0: none */
};

static u64 buf, npages, npasses, nwalkers = 1, ncpus = 1, slice_us = SCHED_SLICE_US;
static bool prefilled, async;
static struct mismatch bad[MAX_WALKERS][MAX_PASSES];
static volatile u64 steps[SCHED_MAX_CPUS], xs_sink[SCHED_MAX_CPUS];
static volatile u64 walk_t0, walk_t1, steps0, steps1;
static int walking;       /* walkers not yet done (atomic) */
static bool walk_started; /* atomic */
static volatile bool ap_up, ap_done;

static u64 all_steps(void)
{
	u64 n = 0;

	for (u64 c = 0; c < ncpus; c++)
		n += steps[c];
	return n;
}

/* Verify every word of the page at GPA against seed SEED; remember the first mismatch. */
static void verify_page(u64 gpa, u64 seed, struct mismatch *m)
{
	const volatile u64 *w = (const volatile u64 *)gpa;

	for (u64 i = 0; i < PAGE_SIZE / 8; i++) {
		u64 g = gpa + i * 8, got = w[i];

		if (got != apf_pattern(g, seed) && !m->gpa)
			*m = (struct mismatch){ g, got, apf_pattern(g, seed) };
	}
}

static void write_page(u64 gpa, u64 seed)
{
	volatile u64 *w = (volatile u64 *)gpa;

	for (u64 i = 0; i < PAGE_SIZE / 8; i++)
		w[i] = apf_pattern(gpa + i * 8, seed);
}

static void walker(u64 k)
{
	u64 first = k * npages / nwalkers, end = (k + 1) * npages / nwalkers;

	/* The first walker on any CPU starts the clock; SEQ_CST: the flag orders nothing else. */
	if (!__atomic_exchange_n(&walk_started, true, __ATOMIC_SEQ_CST)) {
		steps0 = all_steps();
		walk_t0 = rdtsc();
	}
	for (u64 p = 0; p < npasses; p++)
		for (u64 i = first; i < end; i++) {
			u64 gpa = buf + i * PAGE_SIZE;

			sched_mark_touch(rdtsc());
			(void)*(const volatile u64 *)gpa; /* the first touch: here it faults */
			sched_mark_touch(0);
			if (p > 0 || prefilled)
				verify_page(gpa, p, &bad[k][p]);
			write_page(gpa, p + 1);
		}
	/* The last one stops it (SEQ_CST: the computes read walking to stop). */
	if (__atomic_sub_fetch(&walking, 1, __ATOMIC_SEQ_CST) == 0) {
		walk_t1 = rdtsc();
		steps1 = all_steps();
	}
}

static void compute(u64 cpu)
{
	u64 x = 0x2545f4914f6cdd1dull + cpu;

	/* RELAXED: only a stop signal; the counts are read after both CPUs are done. */
	while (__atomic_load_n(&walking, __ATOMIC_RELAXED)) {
		for (int r = 0; r < XS_ROUNDS; r++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
		}
		xs_sink[cpu] = x;
		steps[cpu]++;
	}
}

static bool parse_args(const char *args)
{
	u64 v;

	if (!arg_u64(args, "buf", &buf) || !arg_u64(args, "pages", &npages) ||
	    !arg_u64(args, "passes", &npasses))
		return false;
	prefilled = arg_u64(args, "prefilled", &v) && v == 1;
	if (arg_u64(args, "trace", &v))
		sched_trace = (u32)v;
	if (arg_u64(args, "walkers", &v))
		nwalkers = v;
	if (arg_u64(args, "slice_us", &v))
		slice_us = v;
	if (arg_u64(args, "cpus", &v))
		ncpus = v;
	return buf % PAGE_SIZE == 0 && npages > 0 && buf + npages * PAGE_SIZE <= (4ull << 30) &&
	       npasses >= 1 && npasses <= MAX_PASSES && nwalkers >= 1 && nwalkers <= MAX_WALKERS &&
	       nwalkers <= npages && slice_us >= 100 && slice_us <= 1000000 && ncpus >= 1 &&
	       ncpus <= SCHED_MAX_CPUS && !(ncpus > 1 && arg_word(args, "apf=sim"));
}

/* MSR_KVM_ASYNC_PF_EN's value for CPU: its area, enabled, in ring 0 too, as interrupts. */
static u64 apf_en(int cpu)
{
	return (u64)sched_area(cpu) | KVM_ASYNC_PF_ENABLED | KVM_ASYNC_PF_SEND_ALWAYS |
	       KVM_ASYNC_PF_DELIVERY_AS_INT;
}

/* Enable async page faults if offered and not refused by apf=0; print which. */
static bool enable_apf(const char *args)
{
	u64 v;
	u64 en = apf_en(0);

	if (arg_word(args, "apf=sim")) {
		if (!apfsim_init(buf, npages)) {
			pr("pcapf: bad arguments: apf=sim needs the buffer within 16 MiB\n");
			pc_exit(PCAPF_EXIT_ARGS);
		}
		pr("pcapf: async pf: simulated (apf=sim)\n");
		return true;
	}
	if (!kvm_apf_leaf()) {
		pr("pcapf: async pf: off (no KVM leaf)\n");
		return false;
	}
	if (arg_u64(args, "apf", &v) && v == 0) {
		pr("pcapf: async pf: off (apf=0)\n");
		return false;
	}
	if (!wrmsr_safe(MSR_KVM_ASYNC_PF_INT, PCAPF_VECTOR) ||
	    !wrmsr_safe(MSR_KVM_ASYNC_PF_EN, en)) {
		pr("pcapf: async pf: off (#GP enabling it)\n");
		return false;
	}
	pr("pcapf: async pf: on vector 0x%x area 0x%llx\n", PCAPF_VECTOR,
	   (unsigned long long)(u64)sched_area(0));
	return true;
}

/* Print each pass's result (the lowest bad word over the walkers); true if all verified. */
static bool report_passes(void)
{
	bool ok = true;

	for (u64 p = 0; p < npasses; p++) {
		struct mismatch m = { 0, 0, 0 };

		for (u64 k = 0; k < nwalkers; k++)
			if (bad[k][p].gpa && (!m.gpa || bad[k][p].gpa < m.gpa))
				m = bad[k][p];
		if (m.gpa) {
			ok = false;
			pr("pcapf: pass %llu MISMATCH at 0x%llx got 0x%llx want 0x%llx\n",
			   (unsigned long long)p, (unsigned long long)m.gpa,
			   (unsigned long long)m.got, (unsigned long long)m.want);
		} else
			pr("pcapf: pass %llu %s\n", (unsigned long long)p,
			   p == 0 && !prefilled ? "written" : "verified");
	}
	return ok;
}

/* The AP (cpus=2): async faults as the BSP has them, its own area; its tasks; done. */
void ap_main(u32 index)
{
	(void)index;
	ktrap_load();
	lapic_enable();
	if (async && (!wrmsr_safe(MSR_KVM_ASYNC_PF_INT, PCAPF_VECTOR) ||
	              !wrmsr_safe(MSR_KVM_ASYNC_PF_EN, apf_en(1)))) {
		pr("FAIL: cpu 1: #GP enabling async pf\n");
		pc_exit(PCAPF_EXIT_EXC + EXC_GP);
	}
	ap_up = true;
	sched_cpu_start(1, (u32)slice_us);
	if (async)
		wrmsr(MSR_KVM_ASYNC_PF_EN, 0); /* no token is outstanding: its walkers are done */
	ap_done = true;
	halt_forever();
}

/* Start the AP and wait (up to a second) until it runs its scheduler. */
static void start_ap(void)
{
	ap_start_all();
	for (int ms = 0; ms < 1000 && !ap_up; ms++)
		lapic_delay(1000000);
	if (!ap_up) {
		pr("FAIL: the AP did not start\n");
		pc_exit(EXIT_FAIL_SMP);
	}
}

/* A null exit as the guest sees it: CPUID's round trip (it always exits), median of 101. */
static u64 null_exit_tsc(void)
{
	static u32 t[101];

	for (int i = 0; i < 101; i++) {
		u32 a = 0, b, c = 0, d;
		u64 t0 = rdtsc();

		__asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
		t[i] = (u32)(rdtsc() - t0);
	}
	sort_u32(t, 101);
	return t[50];
}

static void report(bool ok)
{
	struct apf_counts n;
	u64 np, ack, null = null_exit_tsc();
	u32 timed;

	sched_counts(&n);
	sched_timing(&np, &ack, &timed);
	pr("pcapf: @json {\"not_present_tsc_p50\":%llu,\"ack_tsc_p50\":%llu,\"timed\":%u,"
	   "\"cpuid_tsc_p50\":%llu}\n",
	   (unsigned long long)np, (unsigned long long)ack, timed, (unsigned long long)null);
	pr("pcapf: @json {\"walk_tsc\":%llu,\"compute_steps\":%llu,\"pages\":%llu,\"passes\":%llu,"
	   "\"async\":%d,\"not_present\":%u,\"ready\":%u,\"wake_all\":%u,\"real_pf\":0,"
	   "\"walkers\":%llu,\"early\":%u,\"cpus\":%llu}\n",
	   (unsigned long long)(walk_t1 - walk_t0), (unsigned long long)(steps1 - steps0),
	   (unsigned long long)npages, (unsigned long long)npasses,
	   apf_sim ? 2
	   : async ? 1
	           : 0,
	   n.not_present, n.ready, n.wake_all, (unsigned long long)nwalkers, n.early,
	   (unsigned long long)ncpus);
	pr("pcapf: %s\n", ok ? "PASS" : "FAIL");
}

void pc_main(u32 magic, u32 info)
{
	struct bootinfo bi;
	bool ok;

	uart_init();
	ktrap_init();
	ktrap_set(EXC_GP, kvm_apf_gp_fixup);
	if (bootinfo_parse(magic, info, &bi) < 0 || !parse_args(bi.args)) {
		pr("pcapf: bad arguments: need buf=0xADDR pages=N passes=P (1..%d), walkers=1..%d, "
		   "cpus=1..%d (apf=sim: 1)\n",
		   MAX_PASSES, MAX_WALKERS, SCHED_MAX_CPUS);
		pc_exit(PCAPF_EXIT_ARGS);
	}
	pr("pcapf: buf 0x%llx pages %llu passes %llu walkers %llu%s\n", (unsigned long long)buf,
	   (unsigned long long)npages, (unsigned long long)npasses, (unsigned long long)nwalkers,
	   ncpus > 1 ? " cpus 2" : "");
	pic_remap_and_mask();
	lapic_enable(); /* before async faults are on: a page-ready must find it enabled */
	sched_init();
	async = enable_apf(bi.args);
	walking = (int)nwalkers;
	for (u64 k = 0; k < nwalkers; k++)
		sched_spawn((int)(k % ncpus), "walker", walker, k);
	for (u64 c = 0; c < ncpus; c++)
		sched_spawn((int)c, "compute", compute, c);
	if (ncpus > 1)
		start_ap();
	sched_cpu_start(0, (u32)slice_us);
	while (ncpus > 1 && !ap_done)
		cpu_pause();
	if (async && !apf_sim)
		wrmsr(MSR_KVM_ASYNC_PF_EN, 0); /* no token is outstanding: every walker is done */
	ok = report_passes();
	report(ok);
	pc_exit(ok ? PCAPF_EXIT_PASS : PCAPF_EXIT_MISMATCH);
}
