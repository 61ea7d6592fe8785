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

/* Allocate vm->trace in TRACE_MODE_RING (NULL otherwise). */
void trace_vm_init(struct vm *vm);
void trace_exit(struct vcpu *v, u32 reason);
void trace_fault(struct vcpu *v, u64 gpa, int result);
const char *fault_result_name(int result);
/* Print the ring (oldest first) and free it. */
void trace_vm_dump(struct vm *vm);

#endif
