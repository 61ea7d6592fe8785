/* Per-CPU areas and their set-up on each CPU (see percpu.h). */
#include "arch/cpu.h"
#include "arch/gdt.h"
#include "arch/percpu.h"
#include "arch/trap.h"

struct percpu percpu[MAX_CPUS];
u32 ncpus = 1;

static u8 df_stacks[MAX_CPUS][4096] __attribute__((aligned(16)));

void percpu_init(u32 id, u32 apic_id, u64 stack_top)
{
	struct percpu *pc = &percpu[id];

	pc->self = pc;
	pc->id = id;
	pc->apic_id = apic_id;
	pc->stack_top = stack_top;
	gdt_load(pc, (u64)&df_stacks[id][sizeof(df_stacks[id])]);
	idt_load();
	wrmsr(MSR_IA32_GS_BASE, (u64)pc);
}
