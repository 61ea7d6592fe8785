/*
 * The scenario runner (see scenario.h): each selected scenario becomes a VM spec and is
 * launched (scenarios/launch.c); the runner runs its vCPUs, one per physical CPU, beside
 * its host task if it has one, judges the outcome and reports it. A pass is either the
 * guest exiting with 0 after at least one passing check and none failing (a PC guest: with
 * its exit code), or the VM stopped for the expected exit reason; and afterwards every
 * frame the VM used must be back in the allocator.
 *
 *   run_row / run_guest -> run_scenario: launch -> run_vcpus -> judge -> report
 *
 * Each scenario gives one TAP line (ok / not ok / # SKIP, with why), and one @json line of
 * counters when it ran (vmx/report.c); the run ends with an @json summary and the plain
 * `N passed, N failed[, N skipped]` line.
 */
#include "arch/percpu.h"
#include "arch/smp.h"
#include "drivers/console.h"
#include "errno.h"
#include "lib.h"
#include "mm/mm.h"
#include "pc/pc.h"
#include "scenarios/experiments.h"
#include "scenarios/launch.h"
#include "scenarios/scenario.h"
#include "vmx/exit.h"
#include "vmx/report.h"
#include "vmx/settings.h"
#include "vmx/vcpu.h"

/* guest=: how the user's kernel is judged (a PC guest that must exit with 0); its VM spec
 * is boot's (struct scenario_request). */
static const struct scenario guest_row = { .name = "guest", .group = "guest" };

struct tally {
	int num, passed, failed, skipped;
};

/* What one run of a scenario needs besides its row and spec. */
struct verdict_rules {
	bool user;  /* the user's own kernel (guest=): any refusal is a failure */
	bool asked; /* the command line asked for exactly this VM (guest=, or mem= sized it):
	             * a VM too big for this machine is a failure, not a skip */
};

/* The counters of the scenario of the moment, kept past vm_destroy for the @json line.
 * Static: scenarios run one at a time, on CPU 0. */
static struct vm_report report;

static void run_on_cpu(void *arg)
{
	vcpu_run(arg);
}

/* vCPU i runs on CPU i; with a host task, on CPU i + 1 while the task runs on CPU 0. */
static void run_vcpus(struct vm *vm, const struct scenario *sc)
{
	int first = sc->host ? 1 : 0;

	for (int i = 1 - first; i < vm->nvcpus; i++)
		smp_call(i + first, run_on_cpu, vm->vcpus[i]);
	if (sc->host)
		sc->host(vm, sc);
	else
		vcpu_run(vm->vcpus[0]);
	for (int i = 1 - first; i < vm->nvcpus; i++)
		smp_wait(i + first);
}

/* A PC guest's verdict: the exit code it chose, or the stop that was expected. */
static bool judge_pc(const struct vm *vm, const struct scenario *sc, char *why, size_t n)
{
	const struct pc_vm *pc = pc_vm_of(vm);

	if (sc->expect == EXPECT_STOPPED)
		return false; /* judged by judge() */
	if (!pc->ended) {
		snprintf(why, n, "the guest did not exit: %s",
		         vm->stopping ? vm->stop_reason : "no exit port written");
		return false;
	}
	if (pc->exit_code != sc->exit_code) {
		snprintf(why, n, "guest exit code %d by %s, expected %d", pc->exit_code, pc->how,
		         sc->exit_code);
		return false;
	}
	if (vm->stats.checks_failed) {
		snprintf(why, n, "%lu host check(s) failed", vm->stats.checks_failed);
		return false;
	}
	return true;
}

/* The verdict; fills `why` when it is a failure. */
static bool judge(const struct vm *vm, const struct scenario *sc, char *why, size_t n)
{
	if (sc->expect == EXPECT_STOPPED) {
		if (vm->stopping && vm->stop_exit_reason == sc->stop_reason)
			return true;
		snprintf(why, n, "expected a stop by %s, got: %s",
		         sc->stop_reason == VM_STOP_ENTRY_FAILED
		                 ? "a failed VM entry"
		                 : exit_reason_name(sc->stop_reason),
		         vm->stopping ? vm->stop_reason : "no stop");
		return false;
	}
	if (pc_vm_of(vm))
		return judge_pc(vm, sc, why, n);
	if (vm->stopping) {
		snprintf(why, n, "VM stopped: %s", vm->stop_reason);
		return false;
	}
	for (int i = 0; i < vm->nvcpus; i++)
		if (vm->vcpus[i]->exit_code) {
			snprintf(why, n, "vcpu %d exited with %ld", i, vm->vcpus[i]->exit_code);
			return false;
		}
	if (vm->stats.checks_failed || !vm->stats.checks_passed) {
		snprintf(why, n, "%lu guest check(s) failed, %lu passed", vm->stats.checks_failed,
		         vm->stats.checks_passed);
		return false;
	}
	return true;
}

static void tap(struct tally *t, const char *name, int verdict, const char *why)
{
	t->num++;
	if (verdict > 0) {
		t->passed++;
		printk("ok %d - %s\n", t->num, name);
	} else if (verdict == 0) {
		t->skipped++;
		printk("ok %d - %s # SKIP %s\n", t->num, name, why);
	} else {
		t->failed++;
		printk("not ok %d - %s # %s\n", t->num, name, why);
	}
}

/* Refused before a VM existed: its memory (a skip unless asked for), or none for the VM. */
static void report_unlaunched(const struct scenario *sc, struct verdict_rules r, int err,
                              const char *why, struct tally *t)
{
	if (err == -ENOMEM) {
		tap(t, sc->name, -1, why);
		return;
	}
	printk("scenario %s: %s\n", sc->name, why);
	tap(t, sc->name, r.asked ? -1 : 0, why);
}

/* The load or the set-up refused with err: the verdict (skip only what this machine or
 * build cannot do), with the reason by name. */
static void report_setup_failed(const struct scenario *sc, struct verdict_rules r, int err,
                                const char *said, struct tally *t)
{
	const char *name = said[0]          ? said
	                   : err == -ENOMEM ? "not enough free contiguous memory"
	                   : err == -ENODEV ? "this CPU lacks a VMX feature it needs"
	                                    : "";
	char why[256];
	int verdict;

	snprintf(why, sizeof(why), "set-up failed (error %d%s%s)", err, name[0] ? ": " : "", name);
	if (err == -ENODEV)
		verdict = 0;
	else if (r.user)
		verdict = -1;
	else /* A table scenario whose module GRUB was not given, or a machine too small. */
		verdict = err == -ENOMEM || err == -ENOENT ? 0 : -1;
	tap(t, sc->name, verdict, why);
}

/* An EXPECT_REFUSED scenario: the loader must refuse the image, naming why. */
static void report_refused(const struct scenario *sc, int err, const char *said, struct tally *t)
{
	if (!err) {
		tap(t, sc->name, -1, "the loader accepted a bad kernel");
		return;
	}
	/* A missing module or VMX feature is no refusal: the loader never saw the image. */
	tap(t, sc->name, err == -ENOENT || err == -ENODEV ? 0 : 1, said[0] ? said : "refused");
}

/* Run the launched VM, judge it, free it, check for leaks and report. */
static void run_and_judge(struct vm *vm, const struct scenario *sc, u64 free_before,
                          struct tally *t)
{
	char why[256] = "";
	s64 leaked;
	bool pass;

	run_vcpus(vm, sc);
	if (pc_vm_of(vm))
		pc_report_end(vm);
	pass = judge(vm, sc, why, sizeof(why));
	vm_report_take(&report, vm);
	vm_destroy(vm);
	leaked = (s64)free_before - (s64)frame_free_count(&frames);
	if (pass && leaked) {
		snprintf(why, sizeof(why), "%ld frame(s) leaked", leaked);
		pass = false;
	}
	vm_report_print(&report, pass ? "pass" : "fail", leaked);
	tap(t, sc->name, pass ? 1 : -1, why);
}

/* Launch spec, run it and report it as scenario sc. */
static void run_scenario(const struct scenario *sc, const struct vm_spec *spec,
                         struct verdict_rules r, struct tally *t)
{
	int cpus_needed = spec->vcpus + (sc->host ? 1 : 0);
	char why[256];
	u64 free_before;
	struct vm *vm;
	int err;

	printk("scenario %s: %d vcpu(s), %lu MiB%s\n", sc->name, spec->vcpus, spec->mem >> 20,
	       sc->host ? ", host task on cpu 0" : "");
	if (cpus_needed > (int)ncpus) {
		snprintf(why, sizeof(why), "needs %d CPUs, this machine has %u", cpus_needed,
		         ncpus);
		tap(t, sc->name, 0, why);
		return;
	}
	free_before = frame_free_count(&frames);
	err = vm_launch(spec, &vm, why, sizeof(why));
	if (!vm) {
		report_unlaunched(sc, r, err, why, t);
		return;
	}
	if (sc->expect == EXPECT_REFUSED || err) {
		if (sc->expect == EXPECT_REFUSED)
			report_refused(sc, err, why, t);
		else
			report_setup_failed(sc, r, err, why, t);
		vm_destroy(vm);
		return;
	}
	run_and_judge(vm, sc, free_before, t);
}

/* vcpus= and mem= size every VM; without them, the scenario's own or 1 vCPU and 16 MiB. */
static void size_vm(int *vcpus, u64 *mem, const struct scenario_request *req)
{
	*vcpus = req->vcpus ? (int)req->vcpus : *vcpus ? *vcpus : 1;
	*mem = req->mem ? req->mem : *mem ? *mem : 16 * MIB;
}

/* A row of the table, as the command line sizes it. */
static void run_row(const struct scenario *row, const struct scenario_request *req, struct tally *t)
{
	struct scenario sc = *row;
	struct vm_spec spec;

	size_vm(&sc.vcpus, &sc.mem, req);
	sc.rounds = req->rounds ? req->rounds : sc.rounds;
	sc.samples = req->samples ? req->samples : sc.samples;
	vm_spec_from_row(&spec, &sc, req->find_module);
	run_scenario(&sc, &spec, (struct verdict_rules){ .asked = req->mem != 0 }, t);
}

/* guest=: the user's kernel, as boot specified it. */
static void run_guest(const struct scenario_request *req, struct tally *t)
{
	struct vm_spec spec = *req->guest;
	struct scenario row = guest_row;

	/* A slow store needs its I/O task on CPU 0; the mission's host task is one too. */
	if (spec.kernel.store_bytes)
		row.host = pc_store_host;
	if (req->guest_mission) {
		row.host = lx_mission_host;
		row.wait_bytes = req->guest_mission;
		spec.setup = lx_mission_setup;
	}
	size_vm(&spec.vcpus, &spec.mem, req);
	run_scenario(&row, &spec, (struct verdict_rules){ .user = true, .asked = true }, t);
}

/* Does the comma-separated list `run` contain the word `w`? */
static bool has_word(const char *run, const char *w)
{
	size_t n = strlen(w);

	for (const char *p = run; *p;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (len == n && !strncmp(p, w, n))
			return true;
		p += len + (end ? 1 : 0);
	}
	return false;
}

static bool selected(const struct scenario *sc, const char *run)
{
	/* "all" is every test; the benchmarks (groups bench, bench_*) run only when named. */
	return (has_word(run, "all") && strncmp(sc->group, "bench", 5)) ||
	       has_word(run, sc->name) || has_word(run, sc->group);
}

static void summary(const struct tally *t)
{
	printk("@json {\"summary\":true,\"platform\":\"%s\",\"passed\":%d,\"failed\":%d,"
	       "\"skipped\":%d}\n",
	       vmx_settings.platform, t->passed, t->failed, t->skipped);
	if (t->skipped)
		printk("%d passed, %d failed, %d skipped\n", t->passed, t->failed, t->skipped);
	else
		printk("%d passed, %d failed\n", t->passed, t->failed);
}

/* guest=...: the kernel named on the command line runs as scenario "guest"; it is the
 * default when run= is not given (run stays "demo" then). */
static const char *run_list(const struct scenario_request *req)
{
	if (!req->guest)
		return req->run;
	return strcmp(req->run, "demo") ? req->run : "guest";
}

/* What the command line asked for and cannot be run, each as a failed test, so that such a
 * run never ends "0 passed, 0 failed". Returns how many; prints them when t is not NULL. */
static int unrunnable(const struct scenario_request *req, const char *run, int planned,
                      struct tally *t)
{
	char why[160];
	int n = 0;

	if (req->cmdline_problems) {
		n++;
		snprintf(why, sizeof(why),
		         "%u problem(s) on the command line (see the 'cmdline:' "
		         "and 'boot:' lines): it did not run as written",
		         req->cmdline_problems);
		if (t)
			tap(t, "cmdline", -1, why);
	}
	if (has_word(run, "guest") && !req->guest) {
		n++;
		if (t)
			tap(t, "guest", -1, "run=guest but no guest= kernel on the command line");
	} else if (!planned && strcmp(run, "none")) {
		n++;
		snprintf(why, sizeof(why), "run=%.100s selects no scenario", run);
		if (t)
			tap(t, "run", -1, why);
	}
	return n;
}

void scenarios_run(const struct scenario_request *req)
{
	const char *run = run_list(req);
	bool guest = req->guest && selected(&guest_row, run);
	struct tally t = { 0 };
	int planned = guest;

	vm_launch_init();
	for (size_t i = 0; i < nscenarios; i++)
		planned += selected(&scenarios[i], run);
	printk("1..%d\n", planned + unrunnable(req, run, planned, NULL));
	unrunnable(req, run, planned, &t);
	if (guest)
		run_guest(req, &t);
	for (size_t i = 0; i < nscenarios; i++)
		if (selected(&scenarios[i], run))
			run_row(&scenarios[i], req, &t);
	summary(&t);
}

void scenarios_skip_all(const struct scenario_request *req, const char *why)
{
	struct tally t = { 0 };
	int planned = 0;

	for (size_t i = 0; i < nscenarios; i++)
		planned += selected(&scenarios[i], req->run);
	printk("1..%d\n", planned + (req->cmdline_problems ? 1 : 0));
	if (req->cmdline_problems)
		tap(&t, "cmdline", -1, "problems on the command line (see the 'cmdline:' lines)");
	for (size_t i = 0; i < nscenarios; i++)
		if (selected(&scenarios[i], req->run))
			tap(&t, scenarios[i].name, 0, why);
	summary(&t);
}
