/*
 * Scenarios: the table of named experiments and tests that run guests (kvm-unit-tests
 * style). The command line's run= picks them; each prints a TAP line and an @json line, and
 * the run ends with the plain summary `N passed, N failed[, N skipped]`.
 */
#ifndef EPTVISOR_SCENARIOS_SCENARIO_H
#define EPTVISOR_SCENARIOS_SCENARIO_H

#include "boot/options.h"
#include "vmx/vm.h"

#define MIB (1ULL << 20)
#define DEFAULT_BUDGET 400000000ULL /* preemption-timer ticks (instructions under Bochs) */

enum expect {
	EXPECT_EXIT_OK,  /* eptvisor's guests: every check passed; PC guests: exit code */
	EXPECT_STOPPED,  /* stopped by stop_reason */
	EXPECT_REFUSED,  /* PC guests: the loader refuses the kernel by name */
};

/* One row of the scenario table (scenarios/registry.c). Unset fields take defaults: 1 vCPU,
 * 16 MiB, DEFAULT_BUDGET, expect a clean exit. */
struct scenario {
	const char *name;
	const char *group;
	int test;   /* GT_* program every vCPU runs (include/guest_tests.h) */
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
	/* A PC guest (pc/pc.h): the GRUB module to boot, its arguments and modules, and the
	 * exit code it must end with (EXPECT_EXIT_OK). `test` is unused then. */
	const char *kernel, *kargs, *kmods;
	int exit_code;
};

/* Record one check made by the hypervisor (counted with the guest's CHECKs). */
void vm_check(struct vm *vm, bool ok, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The registry (scenarios/registry.c). */
extern const struct scenario scenarios[];
extern const size_t nscenarios;

/* Every name run= accepts, NULL-terminated: all, none, guest, the groups (taken from the
 * rows), then the scenarios. */
const char *const *scenario_name_list(void);

void scenarios_run(const struct options *o);
/* No scenario can run (no VMX): report each selected one as skipped, with why. */
void scenarios_skip_all(const char *why);

#endif
