/*
 * What the PC guest kernels that use KVM's asynchronous page faults (guests/pc/pcapf.c,
 * guests/pc/pcapf_hostile.c) share with the scenarios that run them: the pattern a store page
 * holds, the page-ready vector they choose, and their exit codes. (The interface's own
 * constants are the hypervisor's in devices/kvm_apf.h and the guests' in guests/pc/apf.h.)
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
