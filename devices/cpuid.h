/*
 * What CPUID tells a PC guest: the host's answer, filtered so that the guest is not told
 * about features this hypervisor does not virtualise (each hidden bit and its reason is in
 * docs/platform.md), with the topology of the VM (its vCPU count and this vCPU's APIC ID)
 * and the hypervisor leaves 0x40000000-0x400000ff. Pure: the caller executes CPUID.
 */
#ifndef EPTVISOR_DEVICES_CPUID_H
#define EPTVISOR_DEVICES_CPUID_H

#include "types.h"

#define CPUID_HV_BASE 0x40000000u /* eptvisor's signature leaf: "eptv" "isor" */
#define CPUID_HV_MAX  0x40000001u
#define CPUID_HV_LAST 0x400001ffu
/* With KVM's interface (kvm_pv) KVM's leaves come first, as KVM's own: 0x40000000 says
 * "KVMKVMKVM", 0x40000001 its features; eptvisor's move to 0x40000100 (guests look for a
 * signature every 0x100, as Linux's hypervisor_cpuid_base does). */
#define CPUID_KVM_SIG_EBX 0x4b4d564bu /* "KVMK" */
#define CPUID_KVM_SIG_ECX 0x564b4d56u /* "VMKV" */
#define CPUID_KVM_SIG_EDX 0x0000004du /* "M\0\0\0" */
#define CPUID_HV_KVM_OWN  0x40000100u

struct cpuid_regs4 {
	u32 eax, ebx, ecx, edx;
};

struct cpuid_guest {
	u32 apic_id;    /* this vCPU's (x)APIC ID */
	u32 ncpus;      /* vCPUs in the VM */
	bool kvm_pv;    /* KVM's paravirtual leaves (guest_pv=kvm): async page faults */
	u64 tsc_hz;     /* the guest's TSC rate, as the hypervisor measured its own (0: unknown) */
	u64 crystal_hz; /* the local APIC timer's input clock, told as CPUID 0x15's crystal */
	bool rdtscp; /* RDTSCP and RDPID run in the guest (VMX "enable RDTSCP", TSC_AUX per vCPU) */
	bool pku;    /* offer PKU (where the host has it) although XSAVE is hidden */
	bool pke;    /* the guest's CR4.PKE: CPUID.7.0:ECX.OSPKE reads it */
};

/* host = what the CPU returned for (leaf, subleaf); returns what the guest sees. */
struct cpuid_regs4 cpuid_guest_view(u32 leaf, u32 subleaf, struct cpuid_regs4 host,
                                    const struct cpuid_guest *g);

/* Bits cleared from the host's answer; exported so tests and docs can name them. */
#define CPUID_1_ECX_HIDDEN                                                                         \
	(BIT(2) | BIT(3) | BIT(4) | BIT(5) | BIT(6) | BIT(7) | BIT(8) | BIT(12) | BIT(14) |        \
	 BIT(15) | BIT(17) | BIT(18) | BIT(21) | BIT(24) | BIT(26) | BIT(27) | BIT(28) | BIT(29))
#define CPUID_1_EDX_HIDDEN (BIT(21) | BIT(22) | BIT(29) | BIT(31))
#define CPUID_7_EBX_HIDDEN                                                                         \
	(BIT(2) | BIT(4) | BIT(5) | BIT(10) | BIT(11) | BIT(12) | BIT(14) | BIT(15) | BIT(16) |    \
	 BIT(17) | BIT(21) | BIT(25) | BIT(26) | BIT(27) | BIT(28) | BIT(30) | BIT(31))
#define CPUID_7_ECX_HIDDEN                                                                         \
	(BIT(1) | BIT(4) | BIT(5) | BIT(6) | BIT(7) | BIT(9) | BIT(10) | BIT(11) | BIT(12) |       \
	 BIT(13) | BIT(14) | BIT(16) | BIT(23) | BIT(24) | BIT(29) | BIT(30) | BIT(31))
#define CPUID_7_EDX_HIDDEN                                                                         \
	(BIT(2) | BIT(3) | BIT(5) | BIT(8) | BIT(16) | BIT(18) | BIT(19) | BIT(20) | BIT(22) |     \
	 BIT(23) | BIT(24) | BIT(25))
#define CPUID_80000001_ECX_HIDDEN (BIT(2) | BIT(11) | BIT(16))
#define CPUID_80000001_EDX_HIDDEN 0
/* Shown only where the guest can run them (struct cpuid_guest.rdtscp). */
#define CPUID_80000001_EDX_RDTSCP BIT(27)
#define CPUID_7_ECX_RDPID         BIT(22)
#define CPUID_7_ECX_PKU           BIT(3)
#define CPUID_7_ECX_OSPKE         BIT(4)

#endif
