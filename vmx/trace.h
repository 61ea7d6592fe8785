/*
 * Exit and fault tracing, for learning and debugging. trace=on prints every VM exit and EPT
 * fault as it happens; trace=ring keeps the last TRACE_RING events of each VM in a ring and
 * prints them when the VM ends (cheap enough to leave on while measuring).
 */
#ifndef EPTVISOR_VMX_TRACE_H
#define EPTVISOR_VMX_TRACE_H

#include "types.h"

#define TRACE_RING 256

struct vcpu;
struct vm;

struct trace_event {
	u64 tsc;
	u64 rip;
	u64 info; /* exit qualification, or the faulting gpa */
	u16 vcpu;
	u16 reason; /* basic exit reason; TRACE_FAULT for a fault's outcome */
	s16 result; /* for faults: enum ept_fault_result or -errno */
};

#define TRACE_FAULT 0xffff

/* trace= on the command line (vmx/settings.h). */
enum trace_mode {
	TRACE_MODE_OFF,  /* nothing recorded */
	TRACE_MODE_ON,   /* every exit and fault printed as it happens */
	TRACE_MODE_RING, /* the last TRACE_RING of each VM kept, printed when it ends */
};

struct trace_ring {
	u64 head; /* events ever recorded; the slot is head % TRACE_RING */
	struct trace_event ev[TRACE_RING];
};

/*
 * Is any tracing on (trace= other than off)? Set by trace_vm_init from the command line's
 * setting, which never changes once VMs run, so every VM's init writes the same value. The
 * exit and fault hooks test it first: with tracing off each costs one well-predicted branch
 * (no TSC read, no call).
 */
extern bool trace_active;

/* Allocate vm->trace in TRACE_MODE_RING (NULL otherwise). */
void trace_vm_init(struct vm *vm);
void trace_exit_record(struct vcpu *v, u32 reason);
void trace_fault_record(struct vcpu *v, u64 gpa, int result);

static inline bool trace_on(void)
{
	/* RELAXED: written before the VM's vCPUs are handed to their CPUs (a RELEASE, arch/smp.c)
	 * and always the same value: no ordering to ask for. */
	return __builtin_expect(__atomic_load_n(&trace_active, __ATOMIC_RELAXED), 0);
}

/* Record a VM exit (basic reason) or a fault's outcome, if tracing is on. */
static inline void trace_exit(struct vcpu *v, u32 reason)
{
	if (trace_on())
		trace_exit_record(v, reason);
}

static inline void trace_fault(struct vcpu *v, u64 gpa, int result)
{
	if (trace_on())
		trace_fault_record(v, gpa, result);
}

const char *fault_result_name(int result);
/* Print the ring (oldest first) and free it. */
void trace_vm_dump(struct vm *vm);

#endif
