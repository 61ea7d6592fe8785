/*
 * The hypercall ABI between eptvisor and its guests (shared by vmx/ and guests/).
 * VMCALL with the number in RAX and up to three arguments in RDI, RSI, RDX; the result comes
 * back in RAX, negative values are -errno codes (include/errno.h). Every argument is
 * validated: guest buffers must lie inside the VM's memslots, lengths are bounded.
 */
#ifndef EPTVISOR_HYPERCALL_H
#define EPTVISOR_HYPERCALL_H

#define HC_NOP       0 /* () -> 0 */
#define HC_EXIT      1 /* (code) -> does not return: the vCPU stops with `code` */
#define HC_PUTS      2 /* (gpa, len <= HC_PUTS_MAX) -> len; prints one guest line */
#define HC_CHECK     3 /* (ok, gpa of name, name len <= HC_NAME_MAX) -> 0; records one check */
#define HC_GPA_LEVEL 4 /* (gpa) -> 1/2/3 (mapped by a 4K/2M/1G EPT leaf), -ENOENT, -EFAULT */
#define HC_VCPU_ID   5 /* () -> this vCPU's index (bits 15:0) and the VM's vCPU count (31:16) */
#define HC_STATS     6 /* (gpa of struct hc_stats, size) -> 0; the VM's counters so far */
#define HC_IDLE_SCAN 7 /* (gpa of struct hc_scan) -> pages scanned; A/D idle tracking */
#define HC_DIRTY_LOG 8 /* (HC_DIRTY_*, gpa of struct hc_dirty) -> see below */
#define HC_BENCH     9 /* (HC_BENCH_*, a1, a2) -> see include/bench.h; bench VMs only */
#define HC_COUNT     10

#define HC_PUTS_MAX 256
#define HC_NAME_MAX 64

/* Guest memory layout for eptvisor's own guests (guest-physical = guest-virtual). */
#define GUEST_PT_GPA     0x1000   /* PML4, PDPT, 4 PDs: identity map of 0..4 GiB, 2M pages */
#define GUEST_STACK_TOP  0x100000 /* vCPU i's stack ends at GUEST_STACK_TOP - i * 16 KiB */
#define GUEST_STACK_SIZE 0x4000
#define GUEST_LOAD_GPA   0x100000 /* guest image (guests/guest.ld) */

#define HC_SCAN_MAX_PAGES (1ULL << 18) /* 1 GiB per scan */
#define HC_SCAN_CLEAR     1            /* destructive: clear A bits (then flush); else peek */

/* HC_IDLE_SCAN: classify each page of [gpa, gpa + npages * 4K), which must lie in one
 * memslot, as hole / idle / accessed since this VM's agent last cleared. Bitmaps (bit i =
 * page i, ALIGN_UP(npages, 64) / 8 bytes, 8-byte aligned) are written where asked. */
struct hc_scan {
	unsigned long long gpa, npages, flags;
	unsigned long long idle_gpa, hole_gpa; /* 0: not wanted */
	unsigned long long pages[3];           /* out: hole, idle, accessed */
	unsigned long long by_level[4][3];     /* out: pages by leaf level (1..3) and state */
	unsigned long long extents;            /* out: runs of one state and size */
};

/* HC_DIRTY_LOG: one guest-driven dirty log per VM over a range in one memslot. */
#define HC_DIRTY_ENABLE  1 /* -> 0; -EBUSY if one is on */
#define HC_DIRTY_HARVEST 2 /* get-and-clear into bitmap_gpa -> dirty pages; -ENOENT if off */
#define HC_DIRTY_DISABLE 3 /* -> 0; -ENOENT if off */
struct hc_dirty {
	unsigned long long gpa, npages, mode; /* mode: 0 write-protect, 1 D-bit, 2 PML */
	unsigned long long bitmap_gpa;
};

struct hc_stats {
	unsigned long long exits, ept_violations, populates, hypercalls;
};

#endif
