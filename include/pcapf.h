/*
 * KVM's asynchronous page faults as the guest sees them (Linux Documentation/virt/kvm/x86/
 * msr.rst and cpuid.rst), and what the PC guest kernels that use them (guests/pc/pcapf.c,
 * guests/pc/pcapf_hostile.c) share with the scenarios that run them: the pattern a store page
 * holds, and the kernels' exit codes.
 *
 * Pure constants and one inline function: included by the freestanding guest kernels and by
 * the hypervisor's scenarios alike.
 */
#ifndef EPTVISOR_PCAPF_H
#define EPTVISOR_PCAPF_H

#include "types.h"

/* The 8-byte word at guest-physical address GPA after a writer of pass SEED - 1 (seed 0: what
 * the store holds before the guest writes anything). */
static inline u64 apf_pattern(u64 gpa, u64 seed)
{
	return gpa * 0x9e3779b97f4a7c15ULL + seed;
}

/* ---- CPUID: a hypervisor leaf 0x40000000 + k * 0x100 (k < 0x100) whose EBX, ECX, EDX
 * spell "KVMKVMKVM\0\0\0"; its base + 1 EAX holds the feature bits. ---- */
#define KVM_CPUID_BASE           0x40000000u
#define KVM_CPUID_STEP           0x100u
#define KVM_CPUID_SIG_EBX        0x4b4d564bu /* "KVMK" */
#define KVM_CPUID_SIG_ECX        0x564b4d56u /* "VMKV" */
#define KVM_CPUID_SIG_EDX        0x0000004du /* "M\0\0\0" */
#define KVM_FEATURE_ASYNC_PF     (1u << 4)
#define KVM_FEATURE_ASYNC_PF_INT (1u << 14)

/* ---- MSRs ---- */
#define MSR_KVM_ASYNC_PF_EN  0x4b564d02u /* area GPA | the flags below; 0 disables */
#define MSR_KVM_ASYNC_PF_INT 0x4b564d06u /* the page-ready vector (bits 7:0; 32..255) */
#define MSR_KVM_ASYNC_PF_ACK 0x4b564d07u /* write 1: the page-ready was consumed */

#define KVM_ASYNC_PF_ENABLED               (1ull << 0)
#define KVM_ASYNC_PF_SEND_ALWAYS           (1ull << 1) /* also when the guest is in ring 0 */
#define KVM_ASYNC_PF_DELIVERY_AS_PF_VMEXIT (1ull << 2) /* nested only: refused here */
#define KVM_ASYNC_PF_DELIVERY_AS_INT       (1ull << 3)

#define KVM_PV_REASON_PAGE_NOT_PRESENT 1u
#define KVM_APF_WAKE_ALL               0xffffffffu /* the page-ready token that wakes all */

/* The shared area ("struct kvm_vcpu_pv_apf_data"), 64-byte aligned in guest RAM. */
struct kvm_apf_area {
	u32 flags; /* KVM_PV_REASON_PAGE_NOT_PRESENT with a not-present #PF; the guest clears it */
	u32 token; /* a page-ready's token; the guest clears it, then writes ACK */
	u8 pad[56];
	u32 enabled;
} __attribute__((aligned(64)));

/* The page-ready vector the kernels use. */
#define PCAPF_VECTOR 0xec

/* ---- exit codes (isa-debug-exit; QEMU's status is code * 2 + 1) ---- */
#define PCAPF_EXIT_PASS     0x00
#define PCAPF_EXIT_MISMATCH 0x70 /* pcapf: a word of the buffer did not hold its pattern */
#define PCAPF_EXIT_REAL_PF  0x71 /* a #PF that was not an async not-present (flags == 0) */
#define PCAPF_EXIT_ARGS     0x72 /* missing or bad buf=/pages=/passes= */
#define PCAPF_EXIT_TOKENS   0x73 /* more tasks blocked or early readies than the kernel holds */
#define PCAPF_EXIT_HOSTILE  0x74 /* pcapf_hostile: a case printed FAIL */
#define PCAPF_EXIT_NO_KVM   0x75 /* pcapf_hostile: no KVM leaf with both async-PF bits */
#define PCAPF_EXIT_EXC      0x40 /* + vector: an unexpected CPU exception (as codes.h) */

#endif
