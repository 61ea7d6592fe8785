/*
 * The fault-latency benchmark (issue 5), the scenario's part: setting the bench VM up. The
 * guest (guests/bench.c) then measures each path and hands its samples to the HC_BENCH
 * hypercall, which checks them against the counters and reports the statistics
 * (hypercall/bench.c). A row with a host task also gets the host-work slot
 * (scenarios/bench_hostwork.c).
 */
#include "drivers/console.h"
#include "errno.h"
#include "hypercall/bench.h"
#include "lib.h"
#include "scenarios/fault_latency.h"
#include "vmx/settings.h"
#include "vmx/vmx.h"

int bench_setup(struct vm *vm, const struct scenario *sc)
{
	bool pml = sc->arg == BENCH_ARG_PML;
	u64 samples = sc->samples ? sc->samples : BENCH_DEFAULT_SAMPLES;
	int err;

	if (pml && !(vmx_caps.pml && vmx_caps.ept_ad))
		return -ENODEV;
	vm->use_pml = pml;
	bench_start(vm, samples, pml, sc->host != NULL);
	printk("bench: %lu samples per vCPU and path after %lu warm-up ones; TSC cycles%s\n",
	       samples, (u64)BENCH_WARMUP,
	       !strcmp(vmx_settings.platform, "bochs")
	               ? " (Bochs, clock sync=none: executed instructions, a path length, not a "
	                 "latency)"
	               : "");
	if (pml)
		return 0;
	/* sc is the row as the run sizes it: vcpus is the count the VM gets (vcpus= too). */
	err = vm_add_huge_slot(vm, GT_BENCH_HUGE_GPA, (u64)sc->vcpus * SZ_2M, 2);
	return err || !sc->host ? err : bench_hostwork_setup(vm);
}
