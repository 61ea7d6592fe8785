/*
 * Guest linear -> guest physical translation through the guest's own page tables, so the
 * hypervisor can fetch the instruction bytes at guest RIP (for APIC-access emulation) or read
 * a guest pointer. Pure C: guest memory is reached only through a read_phys callback.
 *
 * Supported: paging off (identity, 32-bit), 32-bit 2-level (4 KiB, 4 MiB with CR4.PSE, PSE-36
 * high bits), PAE 3-level (4 KiB, 2 MiB) and 4-level long mode (4 KiB, 2 MiB, 1 GiB). 5-level
 * paging (CR4.LA57) is refused with -ENOTSUP. Only presence is checked: no permission (U/S,
 * R/W, NX, SMEP/SMAP) or reserved-bit checks, and no accessed/dirty updates, because the
 * walker serves the hypervisor, not a guest access.
 */
#ifndef EPTVISOR_DEVICES_GWALK_H
#define EPTVISOR_DEVICES_GWALK_H

#include "errno.h"
#include "types.h"

#define GW_CR0_PG   BIT(31)
#define GW_CR4_PSE  BIT(4)
#define GW_CR4_PAE  BIT(5)
#define GW_CR4_LA57 BIT(12)
#define GW_EFER_LMA BIT(10)

struct gwalk_cpu {
	u64 cr0, cr3, cr4, efer;
	/*
	 * PAE only: the four PDPTEs the CPU loaded with CR3 (with EPT they are in the VMCS
	 * GUEST_PDPTR0-3 fields and may differ from memory), or NULL to read them from CR3.
	 */
	const u64 *pdptr;
};

/*
 * Translate @gva for the paging mode in @cpu into *@gpa. @read_phys(ctx, gpa, &val) reads the
 * 8 naturally aligned bytes at a guest-physical address (0 or -EFAULT). Returns 0, -EFAULT
 * when an entry is not present, not readable or the address is not canonical, -ENOTSUP for
 * 5-level paging.
 */
int gwalk_translate(const struct gwalk_cpu *cpu, gva_t gva,
                    int (*read_phys)(void *ctx, u64 gpa, u64 *val), void *ctx, gpa_t *gpa);

#endif
