/*
 * eptvisor's own page tables. The boot tables (boot/header.S) map only low 1 GiB; this file
 * builds the final ones: the direct map of physical memory up to max(top of RAM, 4 GiB) with
 * 2 MiB pages (so the LAPIC and other MMIO below 4 GiB are reachable), the kernel image at
 * -2 GiB, and, until SMP bring-up ends, the identity map of low 1 GiB for the AP trampoline.
 */
#include "arch/cpu.h"
#include "drivers/console.h"
#include "lib.h"
#include "mm/mm.h"

#define PTE_P  BIT(0)
#define PTE_W  BIT(1)
#define PTE_PS BIT(7)

static u64 *pml4;

static u64 *new_table(void)
{
	hpa_t pa = alloc_zeroed_frame();

	if (pa == INVALID_HPA)
		panic("out of memory building page tables");
	return phys_to_virt(pa);
}

/* Map [pa, pa + len) at va with 2 MiB pages; va, pa and len 2 MiB-aligned. */
static void map_2m(u64 va, hpa_t pa, u64 len)
{
	for (u64 off = 0; off < len; off += SZ_2M) {
		u64 v = va + off;
		u64 *l4e = &pml4[(v >> 39) & 511], *pdpt, *pde;

		if (!(*l4e & PTE_P))
			*l4e = virt_to_phys(new_table()) | PTE_P | PTE_W;
		pdpt = phys_to_virt(*l4e & PAGE_MASK & ~BIT(63));
		if (!(pdpt[(v >> 30) & 511] & PTE_P))
			pdpt[(v >> 30) & 511] = virt_to_phys(new_table()) | PTE_P | PTE_W;
		pde = phys_to_virt(pdpt[(v >> 30) & 511] & PAGE_MASK);
		pde[(v >> 21) & 511] = (pa + off) | PTE_P | PTE_W | PTE_PS;
	}
}

extern char _kernel_start_pa[], _end_pa[];

void paging_init(const struct boot_info *bi)
{
	u64 top = MAX(ALIGN_UP(boot_mem_top(bi), SZ_1G), 4 * SZ_1G);
	u64 kend = ALIGN_UP((u64)_end_pa, SZ_2M);

	pml4 = new_table();
	map_2m(DIRECT_MAP_BASE, 0, top);
	map_2m(KERNEL_VMA, 0, kend);
	/* Identity low 1 GiB shares the direct map's first PDPT entry's table. */
	pml4[0] = pml4[PML4_DIRECT_INDEX];
	write_cr3(virt_to_phys(pml4));
	printk("mm: page tables: direct map of %lu MiB at 0x%lx, kernel at 0x%lx\n", top >> 20,
	       (u64)DIRECT_MAP_BASE, (u64)KERNEL_VMA);
}

void paging_drop_identity(void)
{
	pml4[0] = 0;
	/* Reloading CR3 flushes the non-global identity translations on this CPU; APs do the
	 * same when they next reload CR3 (they never touch low addresses again). */
	write_cr3(read_cr3());
}

u64 paging_kernel_cr3(void)
{
	return virt_to_phys(pml4);
}
