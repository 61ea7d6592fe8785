/*
 * libFuzzer target: the port-I/O devices of a PC guest (devices/pcio.c and the 8259 PICs,
 * 8254 PIT, RTC/CMOS, 16550 UART, fw_cfg and exit ports behind it), driven the way a guest
 * and the VM-exit glue drive them: IN/OUT of 1, 2 or 4 bytes at mostly-known ports, the
 * clock moving forward, and the CPU polling and taking PIC interrupts.
 *
 * Input: 5-byte operations {what+size, port, value16} ... after a 2-byte configuration.
 *
 * Checked after every operation:
 *   every IN: no bits above the access size; unknown ports read all-ones
 *   PIC: vector base 8-aligned, init state 0-3, ELCR within its mask; a pending vector is one
 *     of the master's (its IRQ requested, unmasked) or the slave's; the INTA that follows
 *     returns the same vector and moves the IRQ from IRR to ISR (unless auto-EOI)
 *   PIT: counts 1..0x10000, modes 0-5, access/read/write states in range; the next IRQ 0
 *     edge is after "now" (or none); a poll's next_ns is after now (or 0)
 *   UART: line length 0..UART_LINE_MAX, NUL-free; every line handed out fits and holds only
 *     printable characters; IER/MCR/FCR keep to their writable bits; LSR always says the
 *     transmitter is empty; IIR names one of the three conditions
 *   CMOS: index < 128; the clock registers decode (BCD or binary, 12/24 h) to a valid time
 *   fw_cfg: the read offset never passes the longest item
 *   unknown-port accounting: at most PCIO_UNKNOWN_SLOTS slots, and the total equals the
 *     accesses this target made to ports in no device's range
 *   exits: PCIO_EXIT only with pc->exited; the reason is a NUL-terminated line
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/pcio.h"
#include "tests/unit/fuzz.h"

static u64 now;
static u64 unknown_seen;

static void line_out(void *ctx, const char *line)
{
	size_t n = strlen(line);

	(void)ctx;
	CHECK(n <= UART_LINE_MAX);
	for (size_t i = 0; i < n; i++)
		CHECK(line[i] == '\t' || (line[i] >= 0x20 && line[i] < 0x7f) || line[i] == '.');
}

static u64 now_ns(void *ctx)
{
	(void)ctx;
	return now;
}

/* The ports a guest pokes; an operation picks one of these or a raw 16-bit port. */
static const u16 ports[] = {
	0x20,  0x21,  0xa0,  0xa1,  0x4d0, 0x4d1, 0x40,  0x41,  0x42,  0x43,
	0x61,  0x60,  0x64,  0x70,  0x71,  0x80,  0x92,  0xf4,  0xf5,  0x3f8,
	0x3f9, 0x3fa, 0x3fb, 0x3fc, 0x3fd, 0x3fe, 0x3ff, 0x510, 0x511, 0x8900
};

/* The device ranges of pcio.c's port map, written out again independently. */
static bool known_port(u16 p)
{
	return (p >= 0x20 && p <= 0x21) || (p >= 0x40 && p <= 0x43) || p == 0x60 || p == 0x61 ||
	       p == 0x64 || p == 0x70 || p == 0x71 || p == 0x80 || p == 0x92 ||
	       (p >= 0xa0 && p <= 0xa1) || (p >= 0xf4 && p <= 0xf7) || (p >= 0x3f8 && p <= 0x3ff) ||
	       (p >= 0x4d0 && p <= 0x4d1) || (p >= 0x510 && p <= 0x511) || p == 0x8900 ||
	       (p >= 0xcf8 && p <= 0xcff);
}

static void check_pic(const struct pic8259 *p)
{
	CHECK((p->irq_base & 7) == 0);
	CHECK(p->init_state <= 3);
	CHECK((p->elcr & ~p->elcr_mask) == 0);
}

static void check_pit(const struct pit8254 *pit)
{
	u64 next = pit_irq_next(pit, now);

	CHECK(next == 0 || next > now);
	for (int i = 0; i < 3; i++) {
		const struct pit_channel *c = &pit->ch[i];

		CHECK(c->count >= 1 && c->count <= 0x10000);
		CHECK(c->mode <= 5);
		CHECK(c->rw_mode >= 1 && c->rw_mode <= 3);
		CHECK(c->read_state >= 1 && c->read_state <= 4);
		CHECK(c->write_state >= 1 && c->write_state <= 4);
		CHECK(c->count_latched <= 3);
	}
}

static void check_uart(const struct uart16550 *u)
{
	CHECK(u->len >= 0 && u->len <= UART_LINE_MAX);
	CHECK(memchr(u->line, 0, u->len) == NULL);
	CHECK((u->ier & ~0x0f) == 0 && (u->mcr & ~0x1f) == 0 && (u->fcr & ~0xc9) == 0);
	CHECK((u->lsr & (UART_LSR_THRE | UART_LSR_TEMT)) == (UART_LSR_THRE | UART_LSR_TEMT));
}

static int bcd(u8 v, bool bin)
{
	if (bin)
		return v;
	if ((v & 0xf) > 9 || (v >> 4) > 9)
		return -1;
	return (v >> 4) * 10 + (v & 0xf);
}

/* Read the clock through the ports (the guest's view) and check each field's range. */
static void check_rtc(struct pcio *pc)
{
	static const struct {
		u8 reg;
		int lo, hi;
	} f[] = { { RTC_SECONDS, 0, 59 }, { RTC_MINUTES, 0, 59 }, { RTC_WEEKDAY, 1, 7 },
		  { RTC_DAY, 1, 31 },     { RTC_MONTH, 1, 12 },   { RTC_YEAR, 0, 99 } };
	u8 index = pc->cmos.index;
	bool nmi = pc->cmos.nmi_masked;
	bool bin = pc->cmos.ram[RTC_REG_B] & RTC_B_BIN, h24 = pc->cmos.ram[RTC_REG_B] & RTC_B_24H;
	int h;

	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		int v;

		cmos_write(&pc->cmos, 0, f[i].reg, now);
		v = bcd(cmos_read(&pc->cmos, 1, now), bin);
		CHECK(v >= f[i].lo && v <= f[i].hi);
	}
	cmos_write(&pc->cmos, 0, RTC_HOURS, now);
	h = cmos_read(&pc->cmos, 1, now);
	if (h24) {
		h = bcd((u8)h, bin);
		CHECK(h >= 0 && h <= 23);
	} else {
		h = bcd(h & 0x7f, bin);
		CHECK(h >= 1 && h <= 12);
	}
	cmos_write(&pc->cmos, 0, RTC_REG_A, now);
	CHECK((cmos_read(&pc->cmos, 1, now) & 0x80) == 0); /* never "update in progress" */
	pc->cmos.index = index;
	pc->cmos.nmi_masked = nmi;
}

static void check_all(struct pcio *pc)
{
	check_pic(&pc->pic[0]);
	check_pic(&pc->pic[1]);
	check_pit(&pc->pit);
	check_uart(&pc->com1);
	CHECK(pc->cmos.index < 128);
	CHECK(pc->fwcfg.offset <= 16);
	CHECK(pc->nunknown >= 0 && pc->nunknown <= PCIO_UNKNOWN_SLOTS);
	CHECK(pcio_unknown_total(pc) == unknown_seen);
	CHECK(memchr(pc->exit_how, 0, sizeof(pc->exit_how)) != NULL);
}

/* The CPU asks for an interrupt and, if there is one, takes it. */
static void poll_and_ack(struct pcio *pc)
{
	u64 next = 1;
	int vec = pcio_pic_poll(pc, now, &next), got;
	const struct pic8259 *m = &pc->pic[0], *s = &pc->pic[1];
	bool master_irq;

	CHECK(next == 0 || next > now);
	if (vec < 0)
		return;
	/* Which chip answers is only clear from the vector while their bases differ. */
	master_irq = m->irq_base != s->irq_base && vec >= m->irq_base && vec < m->irq_base + 8 &&
	             vec - m->irq_base != PIC_CASCADE_IRQ;
	if (master_irq) {
		int irq = vec - m->irq_base;

		CHECK((m->irr & ~m->imr) & BIT(irq));
	} else if (m->irq_base != s->irq_base) {
		CHECK(vec >= s->irq_base && vec < s->irq_base + 8);
	}
	got = pcio_pic_ack(pc);
	CHECK(got == vec);
	if (master_irq) {
		int irq = vec - m->irq_base;

		CHECK(!(m->irr & BIT(irq)));
		CHECK(m->auto_eoi || (m->isr & BIT(irq)));
	}
}

static void do_io(struct pcio *pc, u8 op, u16 port, u16 v16)
{
	static const int sizes[] = { 1, 1, 2, 4 };
	int size = sizes[(op >> 1) & 3];
	bool in = op & 1;
	u32 val = in ? 0xdeadbeef : (u32)v16 * 0x10001u;
	enum pcio_result r;

	if (!known_port(port))
		unknown_seen++; /* counted once per access, by its first port */
	r = pcio_access(pc, port, size, in, &val);
	CHECK(r == PCIO_OK || r == PCIO_EXIT);
	CHECK(r == PCIO_OK || pc->exited);
	if (!in)
		return;
	CHECK(r == PCIO_OK);
	if (size < 4)
		CHECK((val >> (8 * size)) == 0);
	for (int i = 0; i < size; i++)
		if (!known_port((u16)(port + i)))
			CHECK(((val >> (8 * i)) & 0xff) == 0xff);
}

int LLVMFuzzerTestOneInput(const u8 *data, size_t size)
{
	struct pcio_config cfg = { .ram_bytes = 128ULL << 20, .ncpus = 1 };
	struct pcio_ops ops = { line_out, now_ns, NULL };
	static struct pcio pc;

	if (size < 2)
		return 0;
	now = 5000000000ULL;
	unknown_seen = 0;
	cfg.ncpus = data[0] % 9;
	cfg.ram_bytes = (u64)data[1] << 24;
	cfg.rtc_start_unix = (u64)data[1] * 123456789ULL;
	pcio_init(&pc, &cfg, &ops);
	check_all(&pc);
	for (size_t i = 2; i + 5 <= size; i += 5) {
		const u8 *o = data + i;
		u16 v16 = (u16)(o[3] | o[4] << 8);
		u16 port =
			(o[0] & 0x80) ? (u16)(o[1] | o[2] << 8) : ports[o[1] % ARRAY_SIZE(ports)];

		switch ((o[0] >> 3) & 0xf) {
		case 0: /* time passes: up to ~65 ms, or up to ~18 h in big steps */
			now += (o[0] & 4) ? (u64)v16 * 1000000000ULL : (u64)v16 * 1000;
			break;
		case 1:
			poll_and_ack(&pc);
			break;
		case 2:
			pcio_flush(&pc);
			break;
		default:
			do_io(&pc, o[0], port, v16);
			break;
		}
		check_all(&pc);
		if ((o[0] & 0x78) == 0x78)
			check_rtc(&pc);
	}
	pcio_flush(&pc);
	return 0;
}
