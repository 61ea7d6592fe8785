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

void cpu_init_control_regs(void)
{
	/* Caches on (CR0.CD and NW clear) is set by the entry code, boot/header.S and
	 * boot/ap.S, when they turn paging on; cpu_cache_state() reports it.
	 * OSFXSR: FXRSTOR loads XMM0-15 and MXCSR too, which vmx/vcpu.c relies on to reset a
	 * guest's SSE state; OSXMMEXCPT for completeness (the host never runs SSE code). */
	write_cr4(read_cr4() | CR4_PGE | CR4_OSFXSR | CR4_OSXMMEXCPT);
}

const char *cpu_cache_state(void)
{
	return (read_cr0() & (CR0_CD | CR0_NW)) ? "caches OFF (CR0.CD/NW set)" : "caches on";
}
