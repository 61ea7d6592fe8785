/*
 * What the VMX core takes from the kernel command line: the platform name every @json line
 * carries, and the trace mode. The core never reads the options itself; boot/main.c writes
 * these once, after parsing the command line and before any CPU runs a VM, and from then
 * on they are only read (no lock: nothing changes them while vCPUs run).
 */
#ifndef EPTVISOR_VMX_SETTINGS_H
#define EPTVISOR_VMX_SETTINGS_H

#include "vmx/trace.h"

struct vmx_settings {
	const char *platform;  /* platform=: informational, copied into every @json line */
	enum trace_mode trace; /* trace=: off, on or ring (vmx/trace.h) */
	int huge_level;        /* huge=: the largest leaf a PC guest's RAM is populated with
	                        * (1 4K, 2 2M, 3 1G; vm_slot_set_huge) */
	u64 store_latency_us;  /* store_latency_us=: one fetch from a slow store (vmx/store.h) */
	u32 store_depth;       /* store_depth=: fetches a slow store serves at once */

	/* The reclaim policy of store slots (vmx/reclaim.h). */
	u64 guest_resident; /* guest_resident=: store bytes a VM keeps resident (0: no limit) */
	u32 reclaim_idle_rounds; /* reclaim_idle_rounds=: idle rounds before an unforced eviction */
	u64 reclaim_period_us;   /* reclaim_period_us=: time between two scanning rounds */

	/* guest_mark=: the first console line of a VM that contains it prints the VM's exits
	 * by reason so far (vm_guest_line); "" none. */
	const char *guest_mark;
};

extern struct vmx_settings vmx_settings;

#endif
