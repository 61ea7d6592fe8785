/* The local xAPIC at 0xfee00000 (identity-mapped uncached by entry.S): enable, timer, IPIs. */
#include "guests/pc/pc.h"

#define SVR_ENABLE   0x100
#define LVT_MASKED   (1u << 16)
#define LVT_PERIODIC (1u << 17)
#define DCR_DIV1     0xb
#define DCR_DIV16    0x3
#define ICR_BUSY     (1u << 12)

/* Software-enable this CPU's LAPIC with spurious vector VEC_SPURIOUS; accept all priorities. */
void lapic_enable(void)
{
	lapic_write(LAPIC_SVR, SVR_ENABLE | VEC_SPURIOUS);
	lapic_write(LAPIC_TPR, 0);
}

u32 lapic_id(void)
{
	return lapic_read(LAPIC_ID) >> 24;
}

void lapic_eoi(void)
{
	lapic_write(LAPIC_EOI, 0);
}

/* Start the timer on VEC_TIMER, counting COUNT ticks of the bus clock / 16. */
void lapic_timer_start(u32 count, bool periodic)
{
	lapic_write(LAPIC_TIMER_DCR, DCR_DIV16);
	lapic_write(LAPIC_LVT_TIMER, VEC_TIMER | (periodic ? LVT_PERIODIC : 0));
	lapic_write(LAPIC_TIMER_ICR, count);
}

/* Mask the timer and stop its countdown (initial count 0). */
void lapic_timer_stop(void)
{
	lapic_write(LAPIC_LVT_TIMER, LVT_MASKED | VEC_TIMER);
	lapic_write(LAPIC_TIMER_ICR, 0);
}

void lapic_delay(u32 count)
{
	lapic_write(LAPIC_TIMER_DCR, DCR_DIV1);
	lapic_write(LAPIC_LVT_TIMER, LVT_MASKED | VEC_TIMER);
	lapic_write(LAPIC_TIMER_ICR, count);
	while (lapic_read(LAPIC_TIMER_CCR) != 0)
		cpu_pause();
	lapic_write(LAPIC_TIMER_ICR, 0);
}

void lapic_send_ipi(u32 dest, u32 lo)
{
	lapic_write(LAPIC_ICR_HI, dest << 24);
	lapic_write(LAPIC_ICR_LO, lo);
	while (lapic_read(LAPIC_ICR_LO) & ICR_BUSY)
		cpu_pause();
}
