/*
 * 8254 PIT (see pit8254.h). Like QEMU, the counters are not stepped: a channel remembers
 * when its count was loaded, and the count and OUT line are computed from the ticks elapsed
 * since. Integer arithmetic only.
 */
#include "devices/pit8254.h"
#include "lib.h"

#define NS_PER_S 1000000000ULL

enum { PIT_RW_LSB = 1, PIT_RW_MSB = 2, PIT_RW_WORD0 = 3, PIT_RW_WORD1 = 4 };

u64 pit_ns_to_ticks(u64 ns)
{
	/* Split at whole seconds so neither product can overflow. */
	return ns / NS_PER_S * PIT_FREQ_HZ + ns % NS_PER_S * PIT_FREQ_HZ / NS_PER_S;
}

u64 pit_ticks_to_ns(u64 ticks)
{
	/* ceil(ticks * 10^9 / freq), split at whole seconds like pit_ns_to_ticks. */
	return ticks / PIT_FREQ_HZ * NS_PER_S +
	       (ticks % PIT_FREQ_HZ * NS_PER_S + PIT_FREQ_HZ - 1) / PIT_FREQ_HZ;
}

static u64 pit_elapsed(const struct pit_channel *c, u64 now)
{
	return now > c->load_ns ? pit_ns_to_ticks(now - c->load_ns) : 0;
}

bool pit_out(const struct pit_channel *c, u64 now)
{
	u64 d = pit_elapsed(c, now);

	switch (c->mode) {
	case 1:
		return d < c->count;
	case 2:
		return d % c->count == 0 && d != 0;
	case 3:
		return d % c->count < (c->count + 1) >> 1;
	case 4:
	case 5:
		return d != c->count;
	default:
		return d >= c->count; /* mode 0: high once the count has run out */
	}
}

/* The first tick count after d at which c's OUT rises, or 0 if none (see pit_irq_next). */
static u64 pit_next_rise_tick(const struct pit_channel *c, u64 d)
{
	switch (c->mode) {
	case 0:
		return d < c->count ? c->count : 0;
	case 2:
	case 3:
		return c->count > 1 ? (d / c->count + 1) * c->count : 0;
	case 4:
	case 5:
		return d <= c->count ? (u64)c->count + 1 : 0;
	default:
		return 0;
	}
}

u64 pit_irq_next(const struct pit8254 *p, u64 after_ns)
{
	const struct pit_channel *c = &p->ch[0];
	/* An edge at tick t is at load + pit_ticks_to_ns(t), which is after after_ns exactly
	 * when t is more than the whole ticks elapsed by then. */
	u64 t = pit_next_rise_tick(c, pit_elapsed(c, after_ns));

	return t ? c->load_ns + pit_ticks_to_ns(t) : 0;
}

u16 pit_count(const struct pit_channel *c, u64 now)
{
	u64 d = pit_elapsed(c, now);

	switch (c->mode) {
	case 2:
		return (u16)(c->count - d % c->count);
	case 3:
		return (u16)(c->count - (2 * d) % c->count); /* counts down by two */
	default:
		return (u16)(c->count - d); /* modes 0, 1, 4, 5 wrap past zero */
	}
}

static void pit_load(struct pit_channel *c, u32 val, u64 now)
{
	c->count = val ? val : 0x10000;
	c->load_ns = now;
}

void pit_init(struct pit8254 *p, u64 now)
{
	memset(p, 0, sizeof(*p));
	for (int i = 0; i < 3; i++) {
		p->ch[i].mode = 3;
		p->ch[i].gate = i != 2;
		p->ch[i].rw_mode = p->ch[i].read_state = p->ch[i].write_state = PIT_RW_WORD0;
		pit_load(&p->ch[i], 0, now);
	}
}

/* Counter latch: freeze the current count for reading (a second latch before it is read
 * is ignored). */
static void pit_latch(struct pit_channel *c, u64 now)
{
	if (c->count_latched)
		return;
	c->latched_count = pit_count(c, now);
	c->count_latched = c->rw_mode;
}

/* Read-back command (channel field 3): latch count and/or status of the selected channels.
 * Bit 5 clear latches the count, bit 4 clear the status; bits 1-3 select channels 0-2. */
static void pit_readback(struct pit8254 *p, u8 val, u64 now)
{
	for (int i = 0; i < 3; i++) {
		struct pit_channel *c = &p->ch[i];

		if (!(val & (2 << i)))
			continue;
		if (!(val & 0x20))
			pit_latch(c, now);
		if (!(val & 0x10) && !c->status_latched) {
			c->status = (u8)((pit_out(c, now) << 7) | (c->rw_mode << 4) |
			                 (c->mode << 1) | c->bcd);
			c->status_latched = true;
		}
	}
}

/* The control word at 0x43: select a channel's access and mode, latch it, or read back. */
static void pit_control(struct pit8254 *p, u8 val, u64 now)
{
	int channel = val >> 6;
	int access = (val >> 4) & 3;
	struct pit_channel *c;

	if (channel == 3) {
		pit_readback(p, val, now);
		return;
	}
	c = &p->ch[channel];
	if (access == 0) {
		pit_latch(c, now);
		return;
	}
	c->rw_mode = c->read_state = c->write_state = (u8)access;
	c->mode = (val >> 1) & 7;
	if (c->mode > 5)
		c->mode -= 4; /* 6 and 7 are aliases of 2 and 3 */
	c->bcd = val & 1;
}

static void pit_write_count(struct pit_channel *c, u8 val, u64 now)
{
	switch (c->write_state) {
	case PIT_RW_LSB:
		pit_load(c, val, now);
		break;
	case PIT_RW_MSB:
		pit_load(c, (u32)val << 8, now);
		break;
	case PIT_RW_WORD0:
		c->write_latch = val;
		c->write_state = PIT_RW_WORD1;
		break;
	default:
		pit_load(c, c->write_latch | ((u32)val << 8), now);
		c->write_state = PIT_RW_WORD0;
		break;
	}
}

void pit_write(struct pit8254 *p, int reg, u8 val, u64 now)
{
	if (reg == 3)
		pit_control(p, val, now);
	else
		pit_write_count(&p->ch[reg], val, now);
}

/* A latched count: one byte, or the low byte first then the high byte. */
static u8 pit_read_latched(struct pit_channel *c)
{
	switch (c->count_latched) {
	case PIT_RW_MSB:
		c->count_latched = 0;
		return (u8)(c->latched_count >> 8);
	case PIT_RW_WORD0:
		c->count_latched = PIT_RW_MSB;
		return (u8)c->latched_count;
	default:
		c->count_latched = 0;
		return (u8)c->latched_count;
	}
}

static u8 pit_read_live(struct pit_channel *c, u64 now)
{
	u16 count = pit_count(c, now);

	switch (c->read_state) {
	case PIT_RW_MSB:
		return (u8)(count >> 8);
	case PIT_RW_WORD0:
		c->read_state = PIT_RW_WORD1;
		return (u8)count;
	case PIT_RW_WORD1:
		c->read_state = PIT_RW_WORD0;
		return (u8)(count >> 8);
	default:
		return (u8)count;
	}
}

u8 pit_read(struct pit8254 *p, int reg, u64 now)
{
	struct pit_channel *c;

	if (reg == 3)
		return 0; /* the control word is write-only */
	c = &p->ch[reg];
	if (c->status_latched) {
		c->status_latched = false;
		return c->status;
	}
	if (c->count_latched)
		return pit_read_latched(c);
	return pit_read_live(c, now);
}

u8 pit_sysctl_read(struct pit8254 *p, u64 now)
{
	p->refresh = !p->refresh;
	return (u8)(p->ch[2].gate | (p->speaker_data << 1) | (p->refresh << 4) |
	            (pit_out(&p->ch[2], now) << 5));
}

void pit_sysctl_write(struct pit8254 *p, u8 val, u64 now)
{
	struct pit_channel *c = &p->ch[2];
	bool gate = val & 1;

	p->speaker_data = (val >> 1) & 1;
	/* A rising gate restarts counting in modes 1, 2, 3 and 5; modes 0 and 4 ignore the
	 * gate (QEMU does not pause them either). */
	if (gate && !c->gate && c->mode != 0 && c->mode != 4)
		c->load_ns = now;
	c->gate = gate;
}
