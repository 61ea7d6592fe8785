/*
 * The MC146818 RTC/CMOS at ports 0x70 (index; bit 7 is the NMI mask) and 0x71 (data), as a
 * register file: status registers A-D with the values a running, battery-backed clock shows,
 * the memory-size bytes QEMU's pc_cmos_init writes, the CPU count, and a clock that starts at
 * start_unix (seconds since 1970) when the VM is created and advances with "now". The clock
 * is read-only: writes to the time registers are stored but the time keeps coming from now.
 *
 * Interrupts (IRQ 8): register C's flags are set as time passes, looked at lazily (at every
 * access and by cmos_update): PF at each periodic boundary (rate from register A's low bits,
 * 32768 >> (rate - 1) Hz, rates 1 and 2 as 8 and 9, counted from the VM's creation), UF at
 * each second the clock completes, AF at such a second when the hours, minutes and seconds
 * match the alarm registers (0xc0-0xff: any). IRQF, and the interrupt line, is up while a
 * flag is set whose enable (PIE, AIE, UIE in register B) is set; reading C returns the flags
 * and clears them all. Register B's SET stops the update cycle (no UF, no AF). Several
 * boundaries since the last look set a flag once, as a late reader of C sees them.
 */
#ifndef EPTVISOR_DEVICES_CMOS_H
#define EPTVISOR_DEVICES_CMOS_H

#include "types.h"

#define CMOS_PORT_INDEX         0x70
#define CMOS_PORT_DATA          0x71
#define CMOS_DEFAULT_START_UNIX 946684800ULL /* 2000-01-01 00:00:00 UTC */

#define RTC_SECONDS 0x00
#define RTC_MINUTES 0x02
#define RTC_HOURS   0x04
#define RTC_WEEKDAY 0x06
#define RTC_DAY     0x07
#define RTC_MONTH   0x08
#define RTC_YEAR    0x09
#define RTC_REG_A   0x0a
#define RTC_REG_B   0x0b
#define RTC_REG_C   0x0c
#define RTC_REG_D   0x0d
#define RTC_CENTURY 0x32
#define RTC_B_24H   0x02
#define RTC_B_BIN   0x04 /* binary, else BCD */
#define RTC_B_UIE   0x10
#define RTC_B_AIE   0x20
#define RTC_B_PIE   0x40
#define RTC_B_SET   0x80
#define RTC_C_UF    0x10
#define RTC_C_AF    0x20
#define RTC_C_PF    0x40
#define RTC_C_IRQF  0x80

struct cmos {
	u8 index;
	bool nmi_masked;
	u8 ram[128];
	u64 start_unix; /* wall time at start_ns */
	u64 start_ns;
	u64 seen_ns; /* register C's flags account for every boundary up to this time */
};

void cmos_init(struct cmos *c, u64 ram_bytes, u16 ncpus, u64 start_unix, u64 now);
/* Guest IN/OUT at 0x70 + reg (reg 0 or 1). */
u8 cmos_read(struct cmos *c, int reg, u64 now);
void cmos_write(struct cmos *c, int reg, u8 val, u64 now);
/* Bring register C up to time now (boundaries since the last look set their flags). */
void cmos_update(struct cmos *c, u64 now);
/* The RTC's interrupt output (IRQ 8): register C's IRQF. */
bool cmos_irq_line(const struct cmos *c);
/* When the line could next rise (ns, > now): the next boundary of an enabled source; 0 if
 * the line is already up (reading C lowers it first) or no source is enabled. */
u64 cmos_next_event(const struct cmos *c, u64 now);

#endif
