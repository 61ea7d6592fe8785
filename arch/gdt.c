/* The shared GDT and the per-CPU TSS descriptors (see gdt.h). */
#include "arch/cpu.h"
#include "arch/gdt.h"
#include "arch/trap.h"
#include "lib.h"

static u64 gdt[4 + 2 * MAX_CPUS] __attribute__((aligned(16))) = {
	0,
	0x00AF9A000000FFFFULL, /* 0x08: 64-bit code, DPL 0 */
	0x00CF92000000FFFFULL, /* 0x10: data */
	0,
};

static void set_tss_desc(u32 cpu, u64 base, u32 limit)
{
	u64 *d = &gdt[GDT_TSS(cpu) / 8];

	d[0] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x89ULL << 40) |
	       ((u64)((limit >> 16) & 0xf) << 48) | (((base >> 24) & 0xff) << 56);
	d[1] = base >> 32;
}

void gdt_load(struct percpu *pc, u64 df_stack_top)
{
	struct desc_ptr p = { sizeof(gdt) - 1, (u64)gdt };

	memset(&pc->tss, 0, sizeof(pc->tss));
	pc->tss.ist[0] = df_stack_top;
	pc->tss.iomap_base = sizeof(pc->tss);
	set_tss_desc(pc->id, (u64)&pc->tss, sizeof(pc->tss) - 1);
	lgdt(&p);
	reload_segments();
	ltr(GDT_TSS(pc->id));
}
