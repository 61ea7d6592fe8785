/*
 * KVM's hypercall ABI for VMCALL (Linux's Documentation/virt/kvm/x86/hypercalls.rst), as KVM
 * answers it: the number in RAX, up to four arguments in RBX, RCX, RDX and RSI, the result in
 * RAX. Pure C, separate from VMX: the platform (pc/hypercall.c) reads the registers, the CPL
 * and the mode, and writes the result and RIP.
 *
 * What KVM does (arch/x86/kvm/x86.c, kvm_emulate_hypercall): outside 64-bit mode the number
 * and arguments are cut to 32 bits; from CPL > 0 every hypercall returns -KVM_EPERM; then
 * KVM_HC_VAPIC_POLL_IRQ returns 0, a hypercall whose CPUID feature (0x40000001) is not
 * offered returns -KVM_ENOSYS, as does every unknown number; outside 64-bit mode the result is
 * cut to 32 bits (RAX's upper half is then zero). eptvisor offers no feature that has a
 * hypercall (KVM_HC_KICK_CPU needs PV_UNHALT, SEND_IPI PV_SEND_IPI, SCHED_YIELD
 * PV_SCHED_YIELD, MAP_GPA_RANGE the hypercall-map feature, CLOCK_PAIRING kvmclock), so those
 * all return -KVM_ENOSYS.
 */
#ifndef EPTVISOR_DEVICES_KVM_HC_H
#define EPTVISOR_DEVICES_KVM_HC_H

#include "types.h"

/* include/uapi/linux/kvm_para.h */
#define KVM_ENOSYS 1000
#define KVM_EPERM  1

#define KVM_HC_VAPIC_POLL_IRQ      1
#define KVM_HC_MMU_OP              2
#define KVM_HC_FEATURES            3
#define KVM_HC_PPC_MAP_MAGIC_PAGE  4
#define KVM_HC_KICK_CPU            5
#define KVM_HC_MIPS_GET_CLOCK_FREQ 6
#define KVM_HC_MIPS_EXIT_VM        7
#define KVM_HC_MIPS_CONSOLE_OUTPUT 8
#define KVM_HC_CLOCK_PAIRING       9
#define KVM_HC_SEND_IPI            10
#define KVM_HC_SCHED_YIELD         11
#define KVM_HC_MAP_GPA_RANGE       12

struct kvm_hc_call {
	u64 nr;    /* RAX */
	int cpl;   /* the guest's current privilege level (0 in real mode, 3 in virtual-8086) */
	bool op64; /* the guest is in 64-bit mode (IA-32e mode with CS.L) */
};

/* The value RAX gets. */
u64 kvm_hypercall(const struct kvm_hc_call *c);

#endif
