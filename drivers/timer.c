/* TSC calibration against PIT channel 2 (gate via port 0x61), and busy-wait delays. */
#include "arch/cpu.h"
#include "drivers/console.h"
#include "drivers/timer.h"

#define PIT_HZ 1193182
#define CAL_MS 10

u64 tsc_hz = 1000000000; /* a guess until calibrated */

void timer_calibrate(void)
{
	u16 count = PIT_HZ * CAL_MS / 1000;
	u64 t0, t1;

	outb(0x61, (inb(0x61) & ~0x02) | 0x01); /* gate ch2 on, speaker off */
	outb(0x43, 0xb0);                       /* ch2, lo/hi byte, mode 0 */
	outb(0x42, count & 0xff);
	outb(0x42, count >> 8);
	t0 = rdtsc();
	for (u64 spins = 0; !(inb(0x61) & 0x20) && spins < 100000000; spins++)
		;
	t1 = rdtsc();
	if (t1 > t0)
		tsc_hz = (t1 - t0) * (1000 / CAL_MS);
	printk("timer: TSC %lu kHz (calibrated against the PIT)\n", tsc_hz / 1000);
}

u64 tsc_to_us(u64 cycles)
{
	return tsc_hz >= 1000000 ? cycles / (tsc_hz / 1000000) : 0;
}

void udelay(u64 us)
{
	u64 end = rdtsc() + tsc_hz / 1000000 * us;

	while (rdtsc() < end)
		__builtin_ia32_pause();
}
