/*
 * The kernel command line, parsed into one struct. Every option, its default and its range
 * are in the table in boot/options.c; `docs/experiments.md` lists them for users.
 *
 * Only boot/ reads struct options. The layers below get what concerns them as their own
 * types, handed down once: the VMX core its settings (vmx/settings.h, options_to_core), the
 * scenarios a request (scenarios/scenario.h) in which guest= is already a VM spec
 * (boot/main.c).
 */
#ifndef EPTVISOR_BOOT_OPTIONS_H
#define EPTVISOR_BOOT_OPTIONS_H

#include "boot/cmdline.h"
#include "types.h"

struct vmx_settings;

struct options {
	char run[CMDLINE_VALUE_MAX + 1]; /* comma-separated scenario names, "all" or "none" */
	u64 vcpus;                       /* 0 = each scenario's own default */
	u64 mem;           /* guest memory in bytes; 0 = each scenario's own default */
	char platform[32]; /* informational: copied into every @json line */
	char trace[8];     /* off, on (print every exit and fault), ring (keep the last ones) */
	char huge[4];      /* 4k, 2m, 1g: the largest page a PC guest's RAM gets on a fault */
	bool exc_test;     /* execute int3 once to show the exception dump */
	u64 rounds;        /* harvest/scan rounds of the mission scenarios; 0 = their default */
	u64 samples;       /* bench scenarios: samples per vCPU and path; 0 = their default */
	/* An unmodified multiboot guest kernel given as a GRUB module (see loader/). */
	char guest[128];        /* the module: its path or basename (cmdline_module_match) */
	char guest_initrd[128]; /* a Linux guest's initrd: a module's path or basename */
	char guest_args[CMDLINE_VALUE_MAX + 1]; /* its command line after its name */
	u64 guest_mem;                          /* its RAM in bytes */
	u64 guest_vcpus;                        /* its vCPU count */
	u64 guest_budget; /* its run time, millions of preemption-timer ticks (runaway stop) */
	char guest_mods[CMDLINE_VALUE_MAX + 1]; /* GRUB modules handed on as its modules (a,b) */
	u64 store_latency_us;                   /* a slow store's fetch latency (vmx/store.h) */
	u64 store_depth;                        /* fetches a slow store serves at once */
	u64 guest_store;  /* the top of the guest kernel's RAM that starts in a slow store */
	char guest_pv[8]; /* none, kvm: KVM's paravirtual interface for the guest kernel */
	bool guest_pku;   /* offer PKU to the guest kernel although XSAVE is hidden */

	/* The reclaim policy of store slots (vmx/reclaim.h). */
	u64 guest_resident;      /* store bytes a VM keeps resident (0: no limit) */
	u64 reclaim_idle_rounds; /* idle scan rounds before a page's eviction is not forced */
	u64 reclaim_period_us;   /* time between two reclaim scan rounds */

	/* The mission under the guest kernel (scenarios/lx_mission.c): its host task starts once
	 * this much of the guest's RAM is mapped; 0: off. */
	u64 guest_mission;

	/* A text the guest's console prints once (e.g. Linux's "Run /init as init process"):
	 * the VM's exits by reason when it does (vmx/settings.h). */
	char guest_mark[64];

	u32 cmdline_problems; /* problems reported while parsing (a cut line counts too) */
};

extern struct options opts;

/* Parse `cmdline` into opts; print each problem by name. Returns the number of problems,
 * which opts.cmdline_problems also counts. */
int options_parse(const char *cmdline);

/* The options the VMX core reads: platform=, trace=, huge=, store_latency_us=, store_depth=,
 * guest_resident=, reclaim_idle_rounds=, reclaim_period_us=. */
void options_to_core(struct vmx_settings *s);

#endif
