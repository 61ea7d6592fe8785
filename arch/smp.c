/*
 * AP bring-up and the per-CPU work mailbox (see smp.h). The trampoline is boot/ap.S.
 */
#include "arch/cpu.h"
#include "arch/lapic.h"
#include "arch/smp.h"
#include "arch/trap.h"
#include "drivers/console.h"
#include "drivers/timer.h"
#include "lib.h"
#include "mm/mm.h"
#include "spinlock.h"

#define AP_STACK_SIZE 16384

extern u8 ap_tramp_start[], ap_tramp_end[];
extern u8 ap_tramp_cr3[], ap_tramp_entry[], ap_tramp_stacks[], ap_tramp_count[];

static u64 ap_stack_tops[MAX_CPUS];
static u32 cpus_online = 1;

static void ap_idle_loop(void);

/* Called by the trampoline on each AP's own stack with its arrival index (0-based). */
void ap_entry(u32 index);
void ap_entry(u32 index)
{
	u32 id = index + 1;

	if (id >= MAX_CPUS)
		halt_forever(); /* more CPUs than eptvisor supports: leave this one parked */
	percpu_init(id, cpuid(1, 0).ebx >> 24, ap_stack_tops[index]);
	lapic_init();
	cpu_init_control_regs();
	printk("cpu %u: online (apic id %u), %s\n", id, this_cpu()->apic_id, cpu_cache_state());
	/* RELEASE: this CPU's percpu set-up is visible before the BSP counts it. */
	__atomic_add_fetch(&cpus_online, 1, __ATOMIC_RELEASE);
	ap_idle_loop();
}

static void ap_idle_loop(void)
{
	struct percpu *pc = this_cpu();

	for (;;) {
		/* ACQUIRE pairs with smp_call()'s release: work_arg is read after work_fn. */
		cpu_work_fn fn = __atomic_load_n(&pc->work_fn, __ATOMIC_ACQUIRE);

		if (!fn) {
			cli();
			/* Re-check with interrupts off: a wake IPI sent after this load stays
			 * pending and ends the hlt below, so no wake-up is lost. */
			if (!__atomic_load_n(&pc->work_fn, __ATOMIC_ACQUIRE))
				sti_hlt();
			sti();
			continue;
		}
		fn(pc->work_arg);
		/* RELEASE: everything fn wrote is visible before the caller sees it done. */
		__atomic_store_n(&pc->work_fn, NULL, __ATOMIC_RELEASE);
	}
}

/* Offset of a trampoline symbol from its start (linker symbols: compare as addresses). */
static u64 tramp_offset(const u8 *sym)
{
	return (u64)sym - (u64)ap_tramp_start;
}

static u8 *copy_trampoline(void)
{
	hfn_t page = frame_alloc(&frames);
	u8 *t;

	if (page == INVALID_HFN || hfn_to_hpa(page) >= 0x100000)
		panic("no free page below 1 MiB for the AP trampoline");
	t = phys_to_virt(hfn_to_hpa(page));
	memcpy(t, ap_tramp_start, tramp_offset(ap_tramp_end));
	*(u64 *)(t + tramp_offset(ap_tramp_cr3)) = paging_kernel_cr3();
	*(u64 *)(t + tramp_offset(ap_tramp_entry)) = (u64)ap_entry;
	*(u64 *)(t + tramp_offset(ap_tramp_stacks)) = (u64)ap_stack_tops;
	*(u32 *)(t + tramp_offset(ap_tramp_count)) = 0;
	return t;
}

/* Wait until no new CPU has arrived for `quiet_ms`, at most `max_ms` in all. */
static void wait_for_aps(u64 quiet_ms, u64 max_ms)
{
	/* ACQUIRE: pairs with ap_entry's release; a counted CPU's percpu is set up. */
	u32 seen = __atomic_load_n(&cpus_online, __ATOMIC_ACQUIRE);
	u64 quiet = 0;

	for (u64 ms = 0; ms < max_ms && quiet < quiet_ms; ms++) {
		u32 now;

		udelay(1000);
		now = __atomic_load_n(&cpus_online, __ATOMIC_ACQUIRE);
		quiet = now == seen ? quiet + 1 : 0;
		seen = now;
	}
}

void smp_init(void)
{
	u8 *t;

	for (int i = 0; i < MAX_CPUS - 1; i++) {
		u8 *stack = kzalloc(AP_STACK_SIZE);

		if (!stack)
			panic("out of memory for AP stacks");
		ap_stack_tops[i] = (u64)stack + AP_STACK_SIZE;
	}
	t = copy_trampoline();
	lapic_broadcast_init();
	udelay(10000);
	lapic_broadcast_sipi(virt_to_phys(t) >> PAGE_SHIFT);
	udelay(200);
	lapic_broadcast_sipi(virt_to_phys(t) >> PAGE_SHIFT);
	wait_for_aps(50, 1000);
	ncpus = MIN(__atomic_load_n(&cpus_online, __ATOMIC_ACQUIRE), (u32)MAX_CPUS);
	frame_free(&frames, hpa_to_hfn(virt_to_phys(t)));
	printk("smp: %u CPU%s online\n", ncpus, ncpus == 1 ? "" : "s");
}

void smp_call(u32 cpu, cpu_work_fn fn, void *arg)
{
	struct percpu *pc = &percpu[cpu];

	if (cpu == this_cpu_id()) {
		fn(arg);
		return;
	}
	while (__atomic_load_n(&pc->work_fn, __ATOMIC_ACQUIRE))
		cpu_relax();
	pc->work_arg = arg;
	/* RELEASE: work_arg is visible before the AP can see work_fn. */
	__atomic_store_n(&pc->work_fn, fn, __ATOMIC_RELEASE);
	lapic_send_ipi(pc->apic_id, VEC_WAKE);
}

void smp_wait(u32 cpu)
{
	while (__atomic_load_n(&percpu[cpu].work_fn, __ATOMIC_ACQUIRE))
		cpu_relax();
}

void smp_call_all(cpu_work_fn fn, void *arg)
{
	for (u32 c = 0; c < ncpus; c++)
		if (c != this_cpu_id())
			smp_call(c, fn, arg);
	fn(arg);
	for (u32 c = 0; c < ncpus; c++)
		if (c != this_cpu_id())
			smp_wait(c);
}
