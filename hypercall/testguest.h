/*
 * eptvisor's own test guests (guests/) as a platform: a 64-bit flat machine with no
 * interrupts, COM1 (one 16550 per vCPU, so each vCPU's lines stay its own), a filtered
 * CPUID, and the hypercall ABI (include/hypercall.h) for everything else. The scenarios
 * create these VMs with testguest_ops.
 */
#ifndef EPTVISOR_HYPERCALL_TESTGUEST_H
#define EPTVISOR_HYPERCALL_TESTGUEST_H

#include "devices/uart16550.h"
#include "hypercall/mm.h"
#include "vmx/vcpu.h"

/* One vCPU's devices. */
struct testguest_vcpu {
	struct uart16550 com1;
};

/* A test-guest VM's state (vm->plat): the guest agent's tracker and dirty log
 * (hypercall/mm.c), and every vCPU's devices (vcpu->plat points into vcpu[]). */
struct testguest_vm {
	struct vm_agent agent;
	struct testguest_vcpu vcpu[MAX_VCPUS];
};

extern const struct vm_ops testguest_ops;

/* The state of a VM created with testguest_ops. */
static inline struct testguest_vm *to_testguest_vm(const struct vm *vm)
{
	return vm->plat;
}

/* hypercall/dispatch.c: the VMCALL the vCPU just made (number in RAX, arguments in RDI,
 * RSI, RDX, the result back in RAX), and past it. */
void hypercall_dispatch(struct vcpu *v);

#endif
