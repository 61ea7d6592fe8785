/*
 * The hypercall ABI between eptvisor and its guests (shared by vmx/ and guests/).
 * VMCALL with the number in RAX and arguments in RDI, RSI, RDX, R10; the result comes back in
 * RAX, negative values are -errno codes (include/errno.h). Every argument is validated: guest
 * buffers must lie inside the VM's memslots, lengths are bounded.
 */
#ifndef EPTVISOR_HYPERCALL_H
#define EPTVISOR_HYPERCALL_H

#define HC_NOP 0       /* () -> 0 */
#define HC_EXIT 1      /* (code) -> does not return: the vCPU stops with `code` */
#define HC_PUTS 2      /* (gpa, len <= HC_PUTS_MAX) -> len; prints one guest line */
#define HC_CHECK 3     /* (ok, gpa of name, name len <= HC_NAME_MAX) -> 0; records one check */
#define HC_GPA_LEVEL 4 /* (gpa) -> 1/2/3 (mapped by a 4K/2M/1G EPT leaf), -ENOENT, -EFAULT */
#define HC_VCPU_ID 5   /* () -> this vCPU's index */
#define HC_STATS 6     /* (gpa of struct hc_stats, size) -> 0; the VM's counters so far */
#define HC_COUNT 7

#define HC_PUTS_MAX 256
#define HC_NAME_MAX 64

/* Guest memory layout for eptvisor's own guests (guest-physical = guest-virtual). */
#define GUEST_PT_GPA 0x1000       /* PML4, PDPT, 4 PDs: identity map of 0..4 GiB, 2M pages */
#define GUEST_STACK_TOP 0x100000  /* vCPU i's stack ends at GUEST_STACK_TOP - i * 16 KiB */
#define GUEST_STACK_SIZE 0x4000
#define GUEST_LOAD_GPA 0x100000   /* guest image (guests/guest.ld) */

struct hc_stats {
	unsigned long long exits, ept_violations, populates, hypercalls;
};

#endif
