/*
 * Scenarios: the table of named experiments and tests that run guests (kvm-unit-tests
 * style). The command line's run= picks them; each prints a TAP line and an @json line, and
 * the run ends with the plain summary `N passed, N failed[, N skipped]`.
 *
 * Boot asks for a run with a struct scenario_request (what the command line said, as plain
 * values, and guest= already a VM spec); nothing here reads the command line itself.
 */
#ifndef EPTVISOR_SCENARIOS_SCENARIO_H
#define EPTVISOR_SCENARIOS_SCENARIO_H

#include "scenarios/launch.h"
#include "vmx/vm.h"

#define MIB            (1ULL << 20)
#define DEFAULT_BUDGET 400000000ULL /* preemption-timer ticks (instructions under Bochs) */

enum expect {
	EXPECT_EXIT_OK, /* eptvisor's guests: every check passed; PC guests: exit code */
	EXPECT_STOPPED, /* stopped by stop_reason */
	EXPECT_REFUSED, /* PC guests: the loader refuses the kernel by name */
};

/* One row of the scenario table (scenarios/registry.c). Unset fields take defaults: 1 vCPU,
 * 16 MiB, DEFAULT_BUDGET, expect a clean exit. The command line's vcpus=, mem=, rounds=
 * and samples= override vcpus, mem, rounds and samples: the set-up functions and host
 * tasks get the row as the run sizes it (scenarios/runner.c). */
struct scenario {
	const char *name;
	const char *group;
	int test; /* GT_* program every vCPU runs (include/guest_tests.h) */
	int vcpus;
	u64 mem;
	u64 budget;
	enum expect expect;
	int stop_reason; /* for EXPECT_STOPPED: the basic exit reason that must stop it */
	int (*setup)(struct vm *vm);
	int (*setup_arg)(struct vm *vm, const struct scenario *sc);
	/* A host task: runs on CPU 0 while vCPU i runs on CPU i + 1 (the harvester, the
	 * scanner); it must make the guest finish (guest_ctrl.stop) before returning. */
	void (*host)(struct vm *vm, const struct scenario *sc);
	int arg; /* for setup_arg/host: e.g. the dirty-log mode */
	/* A PC guest (pc/pc.h): the GRUB module to boot, its arguments and modules (a Linux
	 * kernel's: its initrd), and the exit code it must end with (EXPECT_EXIT_OK). `test` is
	 * unused then. */
	const char *kernel, *kargs, *kmods, *kinitrd;
	int exit_code;
	int page_level; /* the largest page its RAM gets (1 4K, 2 2M, 3 1G); 0: huge= */
	u64 store;      /* the top of its RAM that starts in a slow store (0: none) */
	u64 resident; /* bytes of the store kept resident by the reclaim policy (0: guest_resident=)
	               */
	bool kvm_pv;  /* KVM's paravirtual interface (async page faults) */
	bool pku;     /* PKU offered although XSAVE is not (docs/platform.md, CPU features) */
	/* The experiment's size; 0: its default. */
	u64 rounds;  /* host tasks: harvest rounds (dirty_host; more than 50 stretch the budget) */
	u64 samples; /* bench: samples per vCPU and path (BENCH_DEFAULT_SAMPLES) */
	u64 wait_bytes; /* guest_mission=: populated guest RAM lx_mission_host waits for */
};

/* What boot asks of the scenarios (boot/options.c fills it in from the command line). */
struct scenario_request {
	const char *run;             /* run=: comma-separated names and groups, "all" or "none" */
	u64 vcpus, mem;              /* vcpus=, mem=: every VM's; 0 = each scenario's own */
	u64 rounds, samples;         /* rounds=, samples=: every scenario's; 0 = its own */
	u32 cmdline_problems;        /* problems with the command line: a failed test of its own */
	const struct vm_spec *guest; /* guest=: the user's kernel; NULL when not given */
	u64 guest_mission;           /* guest_mission=: bytes populated before it (0: off) */
	module_finder find_module;   /* the boot loader's modules, for the PC scenarios */
};

/* The registry (scenarios/registry.c). */
extern const struct scenario scenarios[];
extern const size_t nscenarios;

/* Every name run= accepts, NULL-terminated: all, none, guest, the groups (taken from the
 * rows), then the scenarios. */
const char *const *scenario_name_list(void);

void scenarios_run(const struct scenario_request *req);
/* No scenario can run (no VMX): report each selected one as skipped, with why. */
void scenarios_skip_all(const struct scenario_request *req, const char *why);

#endif
