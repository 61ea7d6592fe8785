/*
 * The scenario table and runner (see scenario.h). A scenario creates a VM, loads the test
 * guest (guests/) with its page tables, adds the memslots it needs, runs one vCPU per
 * physical CPU and judges the outcome: either the guest exits with 0 after at least one
 * passing check and none failing, or the VM is stopped for the expected exit reason.
 * Afterwards every frame the VM used must be back in the allocator.
 */
#include "arch/percpu.h"
#include "arch/smp.h"
#include "drivers/console.h"
#include "errno.h"
#include "guest_tests.h"
#include "hypercall.h"
#include "lib.h"
#include "mm/mm.h"
#include "vmx/exit.h"
#include "hypercall/testguest.h"
#include "pc/pc.h"
#include "scenarios/fault_latency.h"
#include "scenarios/experiments.h"
#include "vmx/report.h"
#include "scenarios/scenario.h"
#include "vmx/vcpu.h"


/* guest=...: the kernel named on the command line (filled in by scenarios_run). */
static struct scenario guest_scenario = { .name = "guest", .group = "guest" };

struct tally {
	int num, passed, failed, skipped;
};

extern const u8 guest_image_start[], guest_image_end[];

/* Identity page tables for 0..4 GiB (2M pages) at GUEST_PT_GPA, and the image. */
static int load_guest(struct vm *vm)
{
	u64 *pml4 = vm_gpa_to_hva(vm, GUEST_PT_GPA);
	u64 *pdpt = vm_gpa_to_hva(vm, GUEST_PT_GPA + 0x1000);
	u64 image_len = (u64)guest_image_end - (u64)guest_image_start;

	if (!pml4 || !pdpt)
		return -EFAULT;
	pml4[0] = (GUEST_PT_GPA + 0x1000) | 3;
	for (u64 i = 0; i < 4; i++) {
		gpa_t pd_gpa = GUEST_PT_GPA + 0x2000 + i * 0x1000;
		u64 *pd = vm_gpa_to_hva(vm, pd_gpa);

		if (!pd)
			return -EFAULT;
		pdpt[i] = pd_gpa | 3;
		for (u64 j = 0; j < 512; j++)
			pd[j] = (i * SZ_1G + j * SZ_2M) | 0x83; /* present, writable, 2M */
	}
	return vm_copy_to_guest(vm, GUEST_LOAD_GPA, guest_image_start, image_len);
}

static void run_on_cpu(void *arg) { vcpu_run(arg); }

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

static int create_vcpus(struct vm *vm, const struct scenario *sc, int n)
{
	for (int i = 0; i < n; i++) {
		vm->vcpus[i] = vcpu_create(vm, i, GUEST_LOAD_GPA,
					   GUEST_STACK_TOP - (u64)i * GUEST_STACK_SIZE, sc->test);
		if (!vm->vcpus[i])
			return -ENOMEM;
		vm->nvcpus++;
	}
	return 0;
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
			 sc->stop_reason == VM_STOP_ENTRY_FAILED ? "a failed VM entry" :
								   exit_reason_name(sc->stop_reason),
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

/* Host memory kept back besides a guest's RAM: the hypervisor's own allocations, vCPU pages;
 * the EPT tables are counted apart (RAM / 256 covers 4K leaves and the levels above). */
#define ADMIT_RESERVE (16 * MIB)

/* The scenario the command line asked for by guest=, or memory sized by mem=: a refusal is
 * a failure there, not a skip (the user asked for exactly this). */
static bool asked_for(const struct scenario *sc)
{
	return sc == &guest_scenario || opts.mem;
}

/* Can `mem` bytes of guest RAM be backed? Memory is populated on first touch, so a VM
 * bigger than what is free would die in the middle of its run: refuse it at creation. */
static bool admit(const struct scenario *sc, u64 mem, char *why, size_t n)
{
	u64 free = frame_free_count(&frames) * PAGE_SIZE;
	u64 need = mem + mem / 256 + ADMIT_RESERVE;

	if (sc->kernel && mem > PC_RAM_MAX) {
		snprintf(why, n, "guest memory %lu MiB refused: a PC guest has at most %llu MiB "
			 "(RAM ends below the PCI hole; the local APIC page at 0xfee00000 and "
			 "the BIOS flash stay outside it)", mem >> 20, PC_RAM_MAX >> 20);
		return false;
	}
	if (need > free) {
		snprintf(why, n, "guest memory %lu MiB refused: it cannot be backed (%lu MiB of "
			 "host memory free, %lu MiB needed with EPT tables and a %lu MiB reserve)",
			 mem >> 20, free >> 20, need >> 20, (u64)ADMIT_RESERVE >> 20);
		return false;
	}
	return true;
}

/* Set-up failed with err: the verdict (skip only what this machine or build cannot do) and
 * the reason by name. */
static int setup_verdict(const struct vm *vm, const struct scenario *sc, int err, char *why,
			 size_t n)
{
	const char *name = vm->setup_why[0] ? vm->setup_why :
			   err == -ENOMEM ? "not enough free contiguous memory" :
			   err == -ENODEV ? "this CPU lacks a VMX feature it needs" : "";

	snprintf(why, n, "set-up failed (error %d%s%s)", err, name[0] ? ": " : "", name);
	if (err == -ENODEV)
		return 0;
	if (sc == &guest_scenario)
		return -1;
	/* A table scenario whose module GRUB was not given, or a machine too small: skipped. */
	return err == -ENOMEM || err == -ENOENT ? 0 : -1;
}

/* An EXPECT_REFUSED scenario: the loader must refuse the image, naming why. */
static void judge_refused(const struct vm *vm, const struct scenario *sc, int err,
			  struct tally *t)
{
	char why[256];

	if (!err) {
		tap(t, sc->name, -1, "the loader accepted a bad kernel");
		return;
	}
	snprintf(why, sizeof(why), "%s", vm->setup_why[0] ? vm->setup_why : "refused");
	/* A missing module or VMX feature is no refusal: the loader never saw the image. */
	tap(t, sc->name, err == -ENOENT || err == -ENODEV ? 0 : 1, why);
}

static struct vm *create_vm(const struct scenario *sc, u64 mem)
{
	struct vm *vm = vm_create(sc->name, mem, sc->kernel ? &pc_vm_ops : &testguest_ops);

	if (!vm)
		return NULL;
	vm->budget = sc->budget ? sc->budget : DEFAULT_BUDGET;
	/* Host-task scenarios run for `rounds` rounds: their guests need time in proportion. */
	if (sc->host && opts.rounds > 50)
		vm->budget *= (opts.rounds + 49) / 50;
	return vm;
}

static int setup_vm(struct vm *vm, const struct scenario *sc, int nvcpus)
{
	int err = sc->kernel ? pc_vm_from_modules(vm, sc->kernel, sc->kargs, sc->kmods, nvcpus) :
			       load_guest(vm);

	if (sc->expect == EXPECT_REFUSED)
		return err;
	if (!err && sc->setup)
		err = sc->setup(vm);
	if (!err && sc->setup_arg)
		err = sc->setup_arg(vm, sc);
	if (!err)
		err = create_vcpus(vm, sc, nvcpus);
	return err;
}

/* Run the set-up VM, judge it, report it and free it. */
static void run_and_judge(struct vm *vm, const struct scenario *sc, struct vm_report *rep,
			  u64 free_before, struct tally *t)
{
	char why[256] = "";
	s64 leaked;
	bool pass;

	run_vcpus(vm, sc);
	if (pc_vm_of(vm))
		pc_report_end(vm);
	pass = judge(vm, sc, why, sizeof(why));
	vm_report_take(rep, vm);
	vm_destroy(vm);
	leaked = (s64)free_before - (s64)frame_free_count(&frames);
	if (pass && leaked) {
		snprintf(why, sizeof(why), "%ld frame(s) leaked", leaked);
		pass = false;
	}
	vm_report_print(rep, pass ? "pass" : "fail", leaked);
	tap(t, sc->name, pass ? 1 : -1, why);
}

static void run_scenario(const struct scenario *sc, struct tally *t)
{
	int nvcpus = opts.vcpus ? (int)opts.vcpus : sc->vcpus ? sc->vcpus : 1;
	u64 mem = opts.mem ? opts.mem : sc->mem ? sc->mem : 16 * MIB;
	int cpus_needed = nvcpus + (sc->host ? 1 : 0);
	struct vm_report *rep;
	char why[256] = "";
	u64 free_before;
	struct vm *vm;
	int err;

	printk("scenario %s: %d vcpu(s), %lu MiB%s\n", sc->name, nvcpus, mem >> 20,
	       sc->host ? ", host task on cpu 0" : "");
	if (cpus_needed > (int)ncpus) {
		snprintf(why, sizeof(why), "needs %d CPUs, this machine has %u", cpus_needed, ncpus);
		tap(t, sc->name, 0, why);
		return;
	}
	if (!admit(sc, mem, why, sizeof(why))) {
		printk("scenario %s: %s\n", sc->name, why);
		tap(t, sc->name, asked_for(sc) ? -1 : 0, why);
		return;
	}
	rep = kzalloc(sizeof(*rep));
	free_before = frame_free_count(&frames);
	vm = rep ? create_vm(sc, mem) : NULL;
	if (!vm) {
		kfree(rep, sizeof(*rep));
		tap(t, sc->name, -1, "out of memory creating the VM");
		return;
	}
	err = setup_vm(vm, sc, nvcpus);
	if (sc->expect == EXPECT_REFUSED || err) {
		if (sc->expect == EXPECT_REFUSED)
			judge_refused(vm, sc, err, t);
		else
			tap(t, sc->name, setup_verdict(vm, sc, err, why, sizeof(why)), why);
		vm_destroy(vm);
		kfree(rep, sizeof(*rep));
		return;
	}
	run_and_judge(vm, sc, rep, free_before, t);
	kfree(rep, sizeof(*rep));
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
	/* "all" is every test; the benchmarks run only when named. */
	return (has_word(run, "all") && strcmp(sc->group, "bench")) || has_word(run, sc->name) ||
	       has_word(run, sc->group);
}

static void summary(const struct tally *t)
{
	printk("@json {\"summary\":true,\"platform\":\"%s\",\"passed\":%d,\"failed\":%d,"
	       "\"skipped\":%d}\n", opts.platform, t->passed, t->failed, t->skipped);
	if (t->skipped)
		printk("%d passed, %d failed, %d skipped\n", t->passed, t->failed, t->skipped);
	else
		printk("%d passed, %d failed\n", t->passed, t->failed);
}

/* guest=...: the kernel named on the command line runs as scenario "guest"; it is the
 * default when run= is not given (run stays "demo" then). */
static const char *guest_run(const struct options *o)
{
	if (!o->guest[0])
		return o->run;
	guest_scenario.kernel = o->guest;
	guest_scenario.kargs = o->guest_args;
	guest_scenario.kmods = o->guest_mods;
	guest_scenario.vcpus = (int)o->guest_vcpus;
	guest_scenario.mem = o->guest_mem;
	guest_scenario.budget = o->guest_budget * 1000000;
	return strcmp(o->run, "demo") ? o->run : "guest";
}

/* What the command line asked for and cannot be run, each as a failed test, so that such a
 * run never ends "0 passed, 0 failed". Returns how many; prints them when t is not NULL. */
static int unrunnable(const struct options *o, const char *run, int planned, struct tally *t)
{
	char why[160];
	int n = 0;

	if (o->cmdline_problems) {
		n++;
		snprintf(why, sizeof(why), "%u problem(s) on the command line (see the 'cmdline:' "
			 "and 'boot:' lines): it did not run as written", o->cmdline_problems);
		if (t)
			tap(t, "cmdline", -1, why);
	}
	if (has_word(run, "guest") && !o->guest[0]) {
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

void scenarios_run(const struct options *o)
{
	const char *run = guest_run(o);
	bool guest = o->guest[0] && selected(&guest_scenario, run);
	struct tally t = { 0 };
	int planned = guest;

	if (pc_platform_init())
		printk("pc: out of memory for the PC platform's shared pages\n");
	for (size_t i = 0; i < nscenarios; i++)
		planned += selected(&scenarios[i], run);
	printk("1..%d\n", planned + unrunnable(o, run, planned, NULL));
	unrunnable(o, run, planned, &t);
	if (guest)
		run_scenario(&guest_scenario, &t);
	for (size_t i = 0; i < nscenarios; i++)
		if (selected(&scenarios[i], run))
			run_scenario(&scenarios[i], &t);
	summary(&t);
}

void scenarios_skip_all(const char *why)
{
	struct tally t = { 0 };
	int planned = 0;

	for (size_t i = 0; i < nscenarios; i++)
		planned += selected(&scenarios[i], opts.run);
	printk("1..%d\n", planned + (opts.cmdline_problems ? 1 : 0));
	if (opts.cmdline_problems)
		tap(&t, "cmdline", -1, "problems on the command line (see the 'cmdline:' lines)");
	for (size_t i = 0; i < nscenarios; i++)
		if (selected(&scenarios[i], opts.run))
			tap(&t, scenarios[i].name, 0, why);
	summary(&t);
}

void vm_check(struct vm *vm, bool ok, const char *fmt, ...)
{
	char msg[128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (ok)
		STAT_INC(vm, checks_passed);
	else
		STAT_INC(vm, checks_failed);
	printk("  check %s/host: %s - %s\n", vm->name, ok ? "ok" : "FAILED", msg);
}
