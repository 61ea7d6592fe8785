/* The table of kernel command-line options, and the core's settings from them (see options.h). */
#include "bench.h"
#include "boot/cmdline.h"
#include "boot/options.h"
#include "drivers/console.h"
#include "ept/store.h"
#include "lib.h"
#include "scenarios/scenario.h"
#include "vmx/settings.h"

struct options opts = {
	.run = "demo",
	.platform = "unknown",
	.trace = "off",
	.huge = "2m",
	.guest_mem = 128ULL << 20,
	.guest_vcpus = 1,
	.guest_budget = 10000,
	.store_latency_us = 2000,
	.store_depth = 2,
	.guest_pv = "none",
	.reclaim_idle_rounds = 2,
	.reclaim_period_us = 5000,
};

static void report(void *ctx, const char *msg)
{
	(void)ctx;
	printk("cmdline: %s\n", msg);
}

static const char *const pv_kinds[] = { "none", "kvm", NULL };

/* In enum trace_mode's order (vmx/trace.h). */
static const char *const trace_modes[] = { "off", "on", "ring", NULL };
/* Leaf levels 1, 2, 3. */
static const char *const huge_sizes[] = { "4k", "2m", "1g", NULL };

int options_parse(const char *cmdline)
{
	const struct opt_spec specs[] = {
		{ "run", OPT_LIST, opts.run, 0, 0, sizeof(opts.run), scenario_name_list(),
		  "scenarios to run" },
		{ "vcpus", OPT_UINT, &opts.vcpus, 1, MAX_VCPUS, 0, NULL, "vCPUs per VM" },
		{ "mem", OPT_SIZE, &opts.mem, 1 << 20, 4ULL << 30, 0, NULL, "guest memory" },
		{ "platform", OPT_STR, opts.platform, 0, 0, sizeof(opts.platform), NULL,
		  "platform name for reports" },
		{ "trace", OPT_STR, opts.trace, 0, 0, sizeof(opts.trace), trace_modes,
		  "off, on (print every exit) or ring (dump the last ones at the end)" },
		{ "huge", OPT_STR, opts.huge, 0, 0, sizeof(opts.huge), huge_sizes,
		  "largest page a PC guest's RAM gets on a fault: 4k, 2m (default) or 1g" },
		{ "rounds", OPT_UINT, &opts.rounds, 1, 100000, 0, NULL,
		  "harvest rounds of the dirty-log scenarios" },
		{ "samples", OPT_UINT, &opts.samples, 16, BENCH_MAX_SAMPLES, 0, NULL,
		  "bench scenarios: samples per vCPU and path (after the warm-up)" },
		{ "exc-test", OPT_BOOL, &opts.exc_test, 0, 1, 0, NULL, "show an exception dump" },
		{ "guest", OPT_STR, opts.guest, 0, 0, sizeof(opts.guest), NULL,
		  "GRUB module (path or basename) holding a multiboot or Linux guest kernel" },
		{ "guest_initrd", OPT_STR, opts.guest_initrd, 0, 0, sizeof(opts.guest_initrd), NULL,
		  "GRUB module given to a Linux guest kernel (a bzImage) as its initrd" },
		{ "guest_args", OPT_STR, opts.guest_args, 0, 0, sizeof(opts.guest_args), NULL,
		  "the guest kernel's command line (quote it when it has blanks)" },
		{ "guest_mem", OPT_SIZE, &opts.guest_mem, 2ULL << 20, 3ULL << 30, 0, NULL,
		  "the guest kernel's RAM" },
		{ "guest_vcpus", OPT_UINT, &opts.guest_vcpus, 1, MAX_VCPUS, 0, NULL,
		  "the guest kernel's vCPUs" },
		{ "guest_budget", OPT_UINT, &opts.guest_budget, 1, 1000000, 0, NULL,
		  "the guest kernel's run time in millions of VMX preemption-timer ticks" },
		{ "store_latency_us", OPT_UINT, &opts.store_latency_us, 0, 10000000, 0, NULL,
		  "a slow store's latency per page fetch, in microseconds" },
		{ "store_depth", OPT_UINT, &opts.store_depth, 1, EPT_STORE_MAX_DEPTH, 0, NULL,
		  "page fetches a slow store serves at once (its queue depth)" },
		{ "guest_store", OPT_SIZE, &opts.guest_store, 0, 3ULL << 30, 0, NULL,
		  "the top of the guest kernel's RAM that starts in a slow store (0: none)" },
		{ "guest_pv", OPT_STR, opts.guest_pv, 0, 0, sizeof(opts.guest_pv), pv_kinds,
		  "paravirtual interface for the guest kernel: none, or kvm (KVM's CPUID leaves "
		  "and async page faults)" },
		{ "guest_pku", OPT_BOOL, &opts.guest_pku, 0, 1, 0, NULL,
		  "offer protection keys (PKU) to the guest kernel although XSAVE is hidden" },
		{ "guest_resident", OPT_SIZE, &opts.guest_resident, 0, 1ULL << 40, 0, NULL,
		  "store pages a VM keeps resident; the reclaim policy evicts the rest (0: no "
		  "limit)" },
		{ "reclaim_idle_rounds", OPT_UINT, &opts.reclaim_idle_rounds, 1, 255, 0, NULL,
		  "scan rounds a page stays idle before reclaim evicts it (unless forced)" },
		{ "reclaim_period_us", OPT_UINT, &opts.reclaim_period_us, 100, 10000000, 0, NULL,
		  "microseconds between two reclaim scan rounds" },
		{ "guest_mission", OPT_SIZE, &opts.guest_mission, 0, 3ULL << 30, 0, NULL,
		  "run the mission's features under the guest kernel once it has this much RAM "
		  "populated (0: off; scenarios/lx_mission.c)" },
		{ "guest_mark", OPT_STR, opts.guest_mark, 0, 0, sizeof(opts.guest_mark), NULL,
		  "print a VM's exits by reason when its console first prints a line containing "
		  "this text (quote it when it has blanks)" },
		{ "guest_mods", OPT_LIST, opts.guest_mods, 0, 0, sizeof(opts.guest_mods), NULL,
		  "GRUB modules passed on to the guest kernel as its modules" },
	};

	int r = cmdline_parse(cmdline, specs, ARRAY_SIZE(specs), report, NULL);

	opts.cmdline_problems += r > 0 ? (u32)r : 0;
	return r;
}

void options_to_core(struct vmx_settings *s)
{
	s->platform = opts.platform;
	s->huge_level = 2;
	s->store_latency_us = opts.store_latency_us;
	s->store_depth = (u32)opts.store_depth;
	s->guest_resident = opts.guest_resident;
	s->reclaim_idle_rounds = (u32)opts.reclaim_idle_rounds;
	s->reclaim_period_us = opts.reclaim_period_us;
	s->guest_mark = opts.guest_mark;
	for (int i = 0; huge_sizes[i]; i++)
		if (!strcmp(opts.huge, huge_sizes[i]))
			s->huge_level = i + 1;
	for (int i = 0; trace_modes[i]; i++)
		if (!strcmp(opts.trace, trace_modes[i]))
			s->trace = (enum trace_mode)i;
}
