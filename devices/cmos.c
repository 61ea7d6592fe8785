/*
 * RTC/CMOS register file (see cmos.h). The time registers are computed at each read from
 * the time elapsed since the VM was created, in BCD or binary and 12- or 24-hour format as
 * status register B asks.
 */
#include "devices/cmos.h"
#include "lib.h"

#define KIB               1024ULL
#define MIB               (1024 * KIB)
#define NS_PER_S          1000000000ULL
#define RTC_HZ            32768ULL
#define RTC_ALARM_SECONDS 0x01
#define RTC_ALARM_MINUTES 0x03
#define RTC_ALARM_HOURS   0x05

/* RAM below 4 GiB as QEMU's i440fx machine lays it out: up to 3 GiB when the guest has
 * 3.5 GiB or more, the rest above 4 GiB. */
static u64 low_ram(u64 ram_bytes)
{
	return ram_bytes >= 0xe0000000ULL ? 0xc0000000ULL : ram_bytes;
}

static void put16(u8 *ram, int reg, u64 v)
{
	ram[reg] = (u8)v;
	ram[reg + 1] = (u8)(v >> 8);
}

/* The memory-size bytes of pc_cmos_init: base, extended (1-65 MiB), 16 MiB-4 GiB in 64 KiB
 * units, above 4 GiB in 64 KiB units; and the CPU count less one. */
static void cmos_set_memory(u8 *ram, u64 ram_bytes, u16 ncpus)
{
	u64 low = low_ram(ram_bytes);
	u64 high = (ram_bytes - low) / (64 * KIB);

	put16(ram, 0x15, MIN(low / KIB, 640));
	put16(ram, 0x17, MIN(low > MIB ? (low - MIB) / KIB : 0, 65535));
	put16(ram, 0x30, MIN(low > MIB ? (low - MIB) / KIB : 0, 65535));
	put16(ram, 0x34, MIN(low > 16 * MIB ? (low - 16 * MIB) / (64 * KIB) : 0, 65535));
	ram[0x5b] = (u8)high;
	ram[0x5c] = (u8)(high >> 8);
	ram[0x5d] = (u8)(high >> 16);
	ram[0x5f] = (u8)(ncpus ? ncpus - 1 : 0);
}

void cmos_init(struct cmos *c, u64 ram_bytes, u16 ncpus, u64 start_unix, u64 now)
{
	memset(c, 0, sizeof(*c));
	c->ram[RTC_REG_A] = 0x26; /* 32.768 kHz time base, 1024 Hz rate, no update in progress */
	c->ram[RTC_REG_B] = RTC_B_24H;
	c->ram[RTC_REG_D] = 0x80; /* battery good */
	cmos_set_memory(c->ram, ram_bytes, ncpus);
	c->start_unix = start_unix ? start_unix : CMOS_DEFAULT_START_UNIX;
	c->start_ns = now;
	c->seen_ns = now;
}

struct civil {
	u32 year, month, day, weekday; /* weekday: 1 = Sunday, as the RTC counts */
};

/* Days since 1970-01-01 to a Gregorian date (Howard Hinnant's days_from_civil, inverted). */
static struct civil civil_from_days(u64 days)
{
	u64 z = days + 719468;
	u64 era = z / 146097;
	u64 doe = z - era * 146097;
	u64 yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	u64 doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	u64 mp = (5 * doy + 2) / 153;
	struct civil c;

	c.day = (u32)(doy - (153 * mp + 2) / 5 + 1);
	c.month = (u32)(mp < 10 ? mp + 3 : mp - 9);
	c.year = (u32)(yoe + era * 400 + (c.month <= 2));
	c.weekday = (u32)((days + 4) % 7 + 1); /* 1970-01-01 was a Thursday */
	return c;
}

static u8 rtc_encode(const struct cmos *c, u32 v)
{
	return (c->ram[RTC_REG_B] & RTC_B_BIN) ? (u8)v : (u8)((v / 10) << 4 | v % 10);
}

/* Hours: 0-23, or 1-12 with bit 7 for PM when register B asks for 12-hour format. */
static u8 rtc_hours(const struct cmos *c, u32 h)
{
	u32 h12 = h % 12 ? h % 12 : 12;

	if (c->ram[RTC_REG_B] & RTC_B_24H)
		return rtc_encode(c, h);
	return (u8)(rtc_encode(c, h12) | (h >= 12 ? 0x80 : 0));
}

/* A time register's value now; -1 for a register that is not part of the clock. */
static int rtc_time_reg(const struct cmos *c, int reg, u64 now)
{
	u64 t = c->start_unix + (now > c->start_ns ? (now - c->start_ns) / NS_PER_S : 0);
	u32 sec = (u32)(t % 86400);
	struct civil d = civil_from_days(t / 86400);

	switch (reg) {
	case RTC_SECONDS:
		return rtc_encode(c, sec % 60);
	case RTC_MINUTES:
		return rtc_encode(c, sec / 60 % 60);
	case RTC_HOURS:
		return rtc_hours(c, sec / 3600);
	case RTC_WEEKDAY:
		return rtc_encode(c, d.weekday);
	case RTC_DAY:
		return rtc_encode(c, d.day);
	case RTC_MONTH:
		return rtc_encode(c, d.month);
	case RTC_YEAR:
		return rtc_encode(c, d.year % 100);
	case RTC_CENTURY:
		return rtc_encode(c, d.year / 100);
	default:
		return -1;
	}
}

/* ---- interrupts ------------------------------------------------------------------------- */

static u64 since_start(const struct cmos *c, u64 t)
{
	return t > c->start_ns ? t - c->start_ns : 0;
}

/* Time since the VM's creation in 32.768 kHz ticks (no overflow for any elapsed time). */
static u64 ns_to_rtc(u64 ns)
{
	return ns / NS_PER_S * RTC_HZ + ns % NS_PER_S * RTC_HZ / NS_PER_S;
}

/* The first time (ns since creation) at which ns_to_rtc reaches ticks. */
static u64 rtc_to_ns_ceil(u64 ticks)
{
	return ticks / RTC_HZ * NS_PER_S + (ticks % RTC_HZ * NS_PER_S + RTC_HZ - 1) / RTC_HZ;
}

/* The periodic interrupt's period in RTC ticks, 0 if register A's rate is 0 (off). */
static u64 rtc_period(const struct cmos *c)
{
	u32 rate = c->ram[RTC_REG_A] & 0x0f;

	if (!rate)
		return 0;
	if (rate <= 2)
		rate += 7; /* the MC146818's 32.768 kHz rates 1 and 2 repeat 8 and 9 */
	return 1ULL << (rate - 1);
}

/* An alarm register matches v (binary) when it is a "don't care" (0xc0-0xff) or equal. */
static bool alarm_field(const struct cmos *c, int reg, int now_reg, u64 t)
{
	u8 a = c->ram[reg];

	return (a & 0xc0) == 0xc0 || a == (u8)rtc_time_reg(c, now_reg, t);
}

static bool alarm_match(const struct cmos *c, u64 t)
{
	return alarm_field(c, RTC_ALARM_SECONDS, RTC_SECONDS, t) &&
	       alarm_field(c, RTC_ALARM_MINUTES, RTC_MINUTES, t) &&
	       alarm_field(c, RTC_ALARM_HOURS, RTC_HOURS, t);
}

/* IRQF = PF.PIE + AF.AIE + UF.UIE, as the MC146818 (and QEMU on a register B write). */
static void rtc_update_irqf(struct cmos *c)
{
	u8 flags = c->ram[RTC_REG_C] & (u8)~RTC_C_IRQF;

	if (flags & c->ram[RTC_REG_B] & (RTC_C_PF | RTC_C_AF | RTC_C_UF))
		flags |= RTC_C_IRQF;
	c->ram[RTC_REG_C] = flags;
}

void cmos_update(struct cmos *c, u64 now)
{
	u64 from = since_start(c, c->seen_ns), to = since_start(c, now);
	u64 period = rtc_period(c);

	if (now <= c->seen_ns)
		return;
	if (period && ns_to_rtc(to) / period > ns_to_rtc(from) / period)
		c->ram[RTC_REG_C] |= RTC_C_PF;
	/* The update cycle ends once a second; the alarm is compared with the new time (when
	 * several seconds passed, with the last one only). */
	if (!(c->ram[RTC_REG_B] & RTC_B_SET) && to / NS_PER_S > from / NS_PER_S) {
		c->ram[RTC_REG_C] |= RTC_C_UF;
		if (alarm_match(c, now))
			c->ram[RTC_REG_C] |= RTC_C_AF;
	}
	c->seen_ns = now;
	rtc_update_irqf(c);
}

bool cmos_irq_line(const struct cmos *c)
{
	return c->ram[RTC_REG_C] & RTC_C_IRQF;
}

static u64 nearer(u64 a, u64 b)
{
	return !a ? b : !b ? a : MIN(a, b);
}

u64 cmos_next_event(const struct cmos *c, u64 now)
{
	u8 b = c->ram[RTC_REG_B];
	u64 t = since_start(c, now), next = 0, period = rtc_period(c);

	if (cmos_irq_line(c))
		return 0;
	if ((b & RTC_B_PIE) && period)
		next = rtc_to_ns_ceil((ns_to_rtc(t) / period + 1) * period);
	if ((b & (RTC_B_UIE | RTC_B_AIE)) && !(b & RTC_B_SET))
		next = nearer(next, (t / NS_PER_S + 1) * NS_PER_S);
	return next ? c->start_ns + next : 0;
}

/* ---- the ports ------------------------------------------------------------------------------ */

u8 cmos_read(struct cmos *c, int reg, u64 now)
{
	int v;

	if (reg == 0)
		return 0xff; /* the index port is write-only */
	cmos_update(c, now);
	if (c->index == RTC_REG_C) {
		v = c->ram[RTC_REG_C];
		c->ram[RTC_REG_C] = 0; /* reading C clears every flag and lowers IRQ 8 */
		return (u8)v;
	}
	v = rtc_time_reg(c, c->index, now);
	return v >= 0 ? (u8)v : c->ram[c->index];
}

void cmos_write(struct cmos *c, int reg, u8 val, u64 now)
{
	if (reg == 0) {
		c->index = val & 0x7f;
		c->nmi_masked = val & 0x80;
		return;
	}
	if (c->index == RTC_REG_C || c->index == RTC_REG_D)
		return; /* read-only */
	if (c->index == RTC_REG_A)
		val &= 0x7f; /* UIP is read-only and stays clear */
	/* Flags up to now were earned under the old rate and enables. */
	cmos_update(c, now);
	c->ram[c->index] = val;
	if (c->index == RTC_REG_B)
		rtc_update_irqf(c); /* an enable changed: IRQF follows it at once */
}
