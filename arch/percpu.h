/*
 * Per-CPU state, reached through %gs (IA32_GS_BASE points at the CPU's struct percpu, whose
 * first field points at itself). CPU ids are dense 0..ncpus-1 in the order CPUs came up.
 */
#ifndef EPTVISOR_ARCH_PERCPU_H
#define EPTVISOR_ARCH_PERCPU_H

#include "layout.h"
#include "types.h"

struct PACKED tss64 {
	u32 reserved0;
	u64 rsp[3];
	u64 reserved1;
	u64 ist[7];
	u64 reserved2;
	u16 reserved3;
	u16 iomap_base;
};

typedef void (*cpu_work_fn)(void *arg);

struct percpu {
	struct percpu *self; /* must stay first: this_cpu() reads %gs:0 */
	u32 id;
	u32 apic_id;
	struct tss64 tss;
	u64 stack_top;
	/* Work handed to this CPU by smp_call(); the CPU clears fn when done. */
	cpu_work_fn volatile work_fn;
	void *volatile work_arg;
	/* VMX state for this CPU (vmx/vmx.c). */
	hpa_t vmxon_pa;
	bool vmx_on;
} __attribute__((aligned(64)));

extern struct percpu percpu[MAX_CPUS];
extern u32 ncpus;

static inline struct percpu *this_cpu(void)
{
	struct percpu *p;

	__asm__ volatile("mov %%gs:0, %0" : "=r"(p));
	return p;
}

static inline u32 this_cpu_id(void)
{
	return this_cpu()->id;
}

/* Set up this CPU's GDT/TSS, IDT and %gs; `stack_top` is its kernel stack. */
void percpu_init(u32 id, u32 apic_id, u64 stack_top);
/* This CPU's CR4 as eptvisor runs: global pages, and FXSAVE/FXRSTOR with their SSE part
 * (OSFXSR). Every CPU, once, before it runs guests. */
void cpu_init_control_regs(void);
/* "caches on", or what is wrong, for this CPU's online line. */
const char *cpu_cache_state(void);

#endif
