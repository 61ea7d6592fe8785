/* xAPIC driver (see lapic.h). Registers are 32-bit at 16-byte strides. */
#include "arch/cpu.h"
#include "arch/lapic.h"
#include "arch/trap.h"
#include "mm/mm.h"
#include "spinlock.h"

#define LAPIC_ID         0x20
#define LAPIC_TPR        0x80
#define LAPIC_EOI        0xb0
#define LAPIC_SVR        0xf0
#define LAPIC_ICR_LO     0x300
#define LAPIC_ICR_HI     0x310
#define LAPIC_LVT_TIMER  0x320
#define LAPIC_LVT_LINT0  0x350
#define LVT_MASKED       BIT(16)
#define LVT_TSC_DEADLINE (2u << 17)
#define MSR_TSC_DEADLINE 0x6e0
#define ICR_PENDING      BIT(12)
#define ICR_ALL_BUT_SELF (3u << 18)
#define ICR_INIT         (5u << 8)
#define ICR_STARTUP      (6u << 8)
#define ICR_NMI          (4u << 8)
#define ICR_ASSERT       BIT(14)
#define ICR_LEVEL        BIT(15)
#define APIC_BASE_ENABLE BIT(11)

static volatile u32 *lapic;
static bool have_deadline; /* every CPU is the same model: written by each, same value */

static u32 lapic_read(u32 reg)
{
	return lapic[reg / 4];
}
static void lapic_write(u32 reg, u32 v)
{
	lapic[reg / 4] = v;
}

void lapic_init(void)
{
	u64 base = rdmsr(MSR_IA32_APIC_BASE);

	if (!(base & APIC_BASE_ENABLE))
		wrmsr(MSR_IA32_APIC_BASE, base | APIC_BASE_ENABLE);
	lapic = phys_to_virt(base & 0xffffff000ULL);
	lapic_write(LAPIC_SVR, 0x100 | VEC_SPURIOUS);
	lapic_write(LAPIC_TPR, 0);
	/* The firmware leaves the BSP's LINT0 as ExtINT: an 8259 interrupt while we sleep with
	 * IF=1 would arrive as vector 8-15, which are exceptions here. We use no 8259. */
	lapic_write(LAPIC_LVT_LINT0, LVT_MASKED);
	/* CPUID.1:ECX[24]: the timer's TSC-deadline mode, our wake-up alarm (VEC_WAKE). */
	have_deadline = cpuid(1, 0).ecx & BIT(24);
	if (have_deadline) {
		lapic_write(LAPIC_LVT_TIMER, LVT_TSC_DEADLINE | VEC_WAKE);
		/* The SDM asks for MFENCE between the LVT write and the first deadline write, so
		 * the MSR write is not ordered before the mode change. */
		__asm__ volatile("mfence" ::: "memory");
	}
}

bool lapic_has_deadline(void)
{
	return have_deadline;
}

void lapic_arm_deadline(u64 tsc)
{
	wrmsr(MSR_TSC_DEADLINE, tsc);
}

u32 lapic_id(void)
{
	return lapic_read(LAPIC_ID) >> 24;
}
void lapic_eoi(void)
{
	lapic_write(LAPIC_EOI, 0);
}

static void icr_send(u32 dest, u32 lo)
{
	while (lapic_read(LAPIC_ICR_LO) & ICR_PENDING)
		cpu_relax();
	lapic_write(LAPIC_ICR_HI, dest << 24);
	lapic_write(LAPIC_ICR_LO, lo); /* the write to ICR low sends */
	while (lapic_read(LAPIC_ICR_LO) & ICR_PENDING)
		cpu_relax();
}

void lapic_send_ipi(u32 apic_id, u8 vector)
{
	icr_send(apic_id, vector);
}
void lapic_send_nmi(u32 apic_id)
{
	icr_send(apic_id, ICR_NMI);
}
void lapic_broadcast_init(void)
{
	icr_send(0, ICR_ALL_BUT_SELF | ICR_INIT | ICR_ASSERT | ICR_LEVEL);
}
void lapic_broadcast_sipi(u8 page)
{
	icr_send(0, ICR_ALL_BUT_SELF | ICR_STARTUP | ICR_ASSERT | page);
}
