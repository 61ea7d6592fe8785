/*
 * Why an A/D scan round must end with a TLB flush, shown on two CPUs. A vCPU on CPU 1 reads
 * one page in a loop without ever exiting, so its TLB keeps the page's translation. The host
 * task on CPU 0 clears the page's A bit and looks again a little later:
 *   - with the end-of-round flush, the vCPU is made to exit and drop its translation, its
 *     next read walks the EPT and sets A again: the page is seen hot;
 *   - without it (a test knob that skips the flush), the CPU keeps reading through its
 *     cached translation, A stays clear, and the hot page looks idle.
 * The second half depends on the platform keeping translations across the window (Bochs
 * does; it flushes only at VM entry and exit): the result is reported either way.
 */
#include "drivers/console.h"
#include "drivers/timer.h"
#include "errno.h"
#include "guest_tests.h"
#include "lib.h"
#include "mm/mm.h"
#include "scenarios/experiments.h"
#include "vmx/report.h"
#include "vmx/settings.h"
#include "vmx/vcpu.h"
#include "vmx/vmx.h"

#define HOT_PAGE  5
#define WINDOW_US 20000

int idle_flush_setup(struct vm *vm, const struct scenario *sc)
{
	(void)sc;
	if (!vmx_caps.ept_ad)
		return -ENODEV;
	return vm_populate(vm, gpa_to_gfn(GT_IDLE_GPA) + HOT_PAGE);
}

/* Clear A over the page (flushing or not), let the guest run, then peek: accessed again? */
static bool seen_after_clear(struct vm *vm, struct ept_tracker *t, bool flush)
{
	struct ept_scan out = { 0 };

	vm->test_skip_flush = !flush;
	ept_scan(&vm->ept, t, &out, true);
	vm->test_skip_flush = false;
	udelay(WINDOW_US);
	ept_scan(&vm->ept, t, &out, false);
	return out.pages[EPT_PAGE_ACCESSED] == 1;
}

void idle_flush_host(struct vm *vm, const struct scenario *sc)
{
	u64 young = 0;
	struct ept_tracker t = { .gfn = gpa_to_gfn(GT_IDLE_GPA) + HOT_PAGE,
		                 .npages = 1,
		                 .young = &young };
	bool with, without;

	(void)sc;
	while (!ctrl_get(vm, CTRL_GPA(passes[0])) && !vm->stopping)
		cpu_relax();
	ept_tracker_add(&vm->ept, &t);
	with = seen_after_clear(vm, &t, true);
	without = seen_after_clear(vm, &t, false);
	ept_tracker_del(&vm->ept, &t);
	ctrl_set(vm, CTRL_GPA(stop), 1);
	wait_vcpus_done(vm);
	printk("@json {\"idle_flush_demo\":\"%s\",\"platform\":\"%s\",\"with_flush_seen\":%d,"
	       "\"without_flush_seen\":%d,\"flushes_skipped\":%lu}\n",
	       vm->name, vmx_settings.platform, with, without, vm->stats.flushes_skipped);
	vm_check(vm, VM_CHECK_HOST, with,
	         "with the end-of-round flush, the page hot on another CPU is seen");
	printk("idle: without the flush the hot page %s\n",
	       without ? "was still seen (this platform refreshed A on its own)"
	               : "looked idle: the round would have missed it, so the flush is needed");
}
