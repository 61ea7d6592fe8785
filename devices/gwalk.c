/*
 * The guest page-table walker (see devices/gwalk.h). PAE and long mode share one loop over
 * 64-bit entries, 9 index bits per level; legacy 32-bit paging has its own two steps because
 * its entries are 32 bits wide. References: Intel SDM vol. 3, 4.3 (32-bit), 4.4 (PAE),
 * 4.5 (4-level paging).
 */
#include "devices/gwalk.h"

#define PTE_P     BIT(0)
#define PTE_PS    BIT(7)
#define ADDR_MASK 0x000ffffffffff000ULL /* bits 51:12: table and 4 KiB frame addresses */

typedef int (*read_fn)(void *ctx, u64 gpa, u64 *val);

/* A 32-bit entry: read the aligned 8 bytes that hold it and pick its half. */
static int read_pte32(read_fn read_phys, void *ctx, u64 gpa, u32 *pte)
{
	u64 v;

	if (read_phys(ctx, gpa & ~7ULL, &v))
		return -EFAULT;
	*pte = (gpa & 4) ? (u32)(v >> 32) : (u32)v;
	return 0;
}

/* 32-bit paging: a page directory of 1024 entries, each a 4 MiB page or a page table. */
static int walk_32(const struct gwalk_cpu *cpu, u32 va, read_fn read_phys, void *ctx, gpa_t *gpa)
{
	u32 pde, pte;

	if (read_pte32(read_phys, ctx, (cpu->cr3 & 0xfffff000) + (va >> 22) * 4, &pde) ||
	    !(pde & PTE_P))
		return -EFAULT;
	if ((pde & PTE_PS) && (cpu->cr4 & GW_CR4_PSE)) {
		/* PSE-36: PDE bits 20:13 are physical-address bits 39:32. */
		*gpa = (pde & 0xffc00000) | ((u64)((pde >> 13) & 0xff) << 32) | (va & 0x3fffff);
		return 0;
	}
	if (read_pte32(read_phys, ctx, (pde & 0xfffff000) + ((va >> 12) & 0x3ff) * 4, &pte) ||
	    !(pte & PTE_P))
		return -EFAULT;
	*gpa = (pte & 0xfffff000) | (va & 0xfff);
	return 0;
}

/*
 * PAE / 4-level: walk from @table at @level (4 = PML4, 3 = PDPT) down. A PS entry at level 3
 * (1 GiB, long mode only) or level 2 (2 MiB) is a leaf.
 */
static int walk_64(u64 table, int level, bool long_mode, u64 va, read_fn read_phys, void *ctx,
                   gpa_t *gpa)
{
	for (; level >= 1; level--) {
		int shift = 12 + 9 * (level - 1);
		u64 pte, page_mask = (1ULL << shift) - 1;

		if (read_phys(ctx, table + ((va >> shift) & 0x1ff) * 8, &pte) || !(pte & PTE_P))
			return -EFAULT;
		if (level == 1 || ((pte & PTE_PS) && (level == 2 || (level == 3 && long_mode)))) {
			*gpa = (pte & ADDR_MASK & ~page_mask) | (va & page_mask);
			return 0;
		}
		table = pte & ADDR_MASK;
	}
	return -EFAULT; /* not reached */
}

/* PAE: the PDPTE comes from the CPU's cached copy when given, else from CR3 bits 31:5. */
static int walk_pae(const struct gwalk_cpu *cpu, u32 va, read_fn read_phys, void *ctx, gpa_t *gpa)
{
	u64 pdpte;

	if (cpu->pdptr)
		pdpte = cpu->pdptr[va >> 30];
	else if (read_phys(ctx, (cpu->cr3 & 0xffffffe0) + (va >> 30) * 8, &pdpte))
		return -EFAULT;
	if (!(pdpte & PTE_P))
		return -EFAULT;
	return walk_64(pdpte & ADDR_MASK, 2, false, va, read_phys, ctx, gpa);
}

static bool canonical48(u64 va)
{
	return (u64)((s64)(va << 16) >> 16) == va;
}

int gwalk_translate(const struct gwalk_cpu *cpu, gva_t gva,
                    int (*read_phys)(void *ctx, u64 gpa, u64 *val), void *ctx, gpa_t *gpa)
{
	if (!(cpu->cr0 & GW_CR0_PG)) {
		*gpa = (u32)gva; /* linear addresses are 32 bits without paging */
		return 0;
	}
	if (cpu->efer & GW_EFER_LMA) {
		if (cpu->cr4 & GW_CR4_LA57)
			return -ENOTSUP;
		if (!canonical48(gva))
			return -EFAULT;
		return walk_64(cpu->cr3 & ADDR_MASK, 4, true, gva, read_phys, ctx, gpa);
	}
	if (cpu->cr4 & GW_CR4_PAE)
		return walk_pae(cpu, (u32)gva, read_phys, ctx, gpa);
	return walk_32(cpu, (u32)gva, read_phys, ctx, gpa);
}
