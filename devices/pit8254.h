/*
 * The 8254 programmable interval timer (ports 0x40-0x43) and the PC speaker / NMI status port
 * 0x61, as QEMU's hw/timer/i8254.c and hw/audio/pcspk.c model them.
 *
 * The counters count down at 1.193182 MHz from the time the guest loaded them; "now" is
 * passed in (nanoseconds, monotonic) so the device is pure. The OUT line of channel 2 is
 * readable in bit 5 of port 0x61 and its gate is bit 0: kernels calibrate their TSC by
 * loading channel 2 in mode 0 and polling that bit. Channel 0's OUT is the PC's IRQ 0:
 * pit_irq_next() says when it next rises, and pcio turns those edges into IRQ 0 on the PICs.
 */
#ifndef EPTVISOR_DEVICES_PIT8254_H
#define EPTVISOR_DEVICES_PIT8254_H

#include "types.h"

#define PIT_PORT_BASE   0x40 /* channels 0-2 at 0x40-0x42, control word at 0x43 */
#define PIT_PORT_SYSCTL 0x61
#define PIT_FREQ_HZ     1193182ULL

struct pit_channel {
	u32 count;         /* the loaded count, 1..0x10000 (0 loads 0x10000) */
	u64 load_ns;       /* when counting started */
	u16 latched_count; /* a counter-latch command's snapshot */
	u8 count_latched;  /* access mode the latched value is read in, 0 if none */
	bool status_latched;
	u8 status;
	u8 rw_mode;     /* 1 lobyte, 2 hibyte, 3 lobyte then hibyte */
	u8 read_state;  /* where a lo/hi read pair stands (PIT_RW_*) */
	u8 write_state; /* where a lo/hi write pair stands */
	u8 write_latch; /* low byte of a count being written */
	u8 mode;        /* 0-5 */
	bool bcd;       /* recorded, not honoured (like QEMU) */
	bool gate;
};

struct pit8254 {
	struct pit_channel ch[3];
	bool speaker_data; /* port 0x61 bit 1 */
	bool refresh;      /* port 0x61 bit 4: toggles on every read, as QEMU's dummy refresh */
};

/* Power-on state at time now: mode 3, count 0x10000, gates high except channel 2's. */
void pit_init(struct pit8254 *p, u64 now);
/* Guest IN/OUT at 0x40 + reg (reg 0-3) at time now. */
u8 pit_read(struct pit8254 *p, int reg, u64 now);
void pit_write(struct pit8254 *p, int reg, u8 val, u64 now);
/* Port 0x61: gate 2 (bit 0), speaker data (1), refresh toggle (4), OUT 2 (5). */
u8 pit_sysctl_read(struct pit8254 *p, u64 now);
void pit_sysctl_write(struct pit8254 *p, u8 val, u64 now);
/* Channel ch's OUT line and current count at time now (for tests and diagnostics). */
bool pit_out(const struct pit_channel *c, u64 now);
u16 pit_count(const struct pit_channel *c, u64 now);
/* Whole PIT ticks in ns nanoseconds, without overflow for any u64 ns. */
u64 pit_ns_to_ticks(u64 ns);
/* Its inverse: the fewest nanoseconds in which ticks whole ticks have elapsed
 * (pit_ns_to_ticks(pit_ticks_to_ns(t)) == t, and one nanosecond less gives t - 1). */
u64 pit_ticks_to_ns(u64 ticks);
/* When channel 0's OUT next rises strictly after after_ns (ns, same clock as now), or 0 if
 * it never will as programmed. The edges are where pit_out() goes from low to high:
 *   mode 0      once, at the terminal count (count ticks after the load)
 *   modes 2, 3  at every period boundary, k * count ticks after the load, k >= 1 (the
 *               load itself is no edge: programming either mode drives OUT high already);
 *               a count of 1, illegal in both modes, gives none
 *   modes 4, 5  once, the tick after the count runs out (the strobe ends)
 *   mode 1      none (QEMU's OUT only falls)
 * Channel 0's gate is tied high on the PC, so it is not consulted. A count of 0 is 65536.
 * Power-on leaves channel 0 running in mode 3 with count 65536 (18.2 Hz), as on QEMU. */
u64 pit_irq_next(const struct pit8254 *p, u64 after_ns);

#endif
