/*
 * The I/O APIC (see ioapic.h). Register decoding and the service loop follow QEMU's
 * ioapic_mem_read/ioapic_mem_write/ioapic_service, so a guest reads what QEMU shows it.
 */
#include "devices/ioapic.h"
#include "lib.h"

/* The bits of a redirection entry the guest writes: all but delivery status and remote IRR.
 * QEMU keeps the reserved bits as written (bits 48-55 are the extended destination ID a
 * guest of KVM may use), so they read back as written here too. */
#define RTE_WRITABLE (~(IOAPIC_RTE_PENDING | IOAPIC_RTE_REMOTE_IRR))

void ioapic_init(struct ioapic *s, u8 id)
{
	memset(s, 0, sizeof(*s));
	s->id = (u32)(id & 0xf) << 24;
	for (int i = 0; i < IOAPIC_PINS; i++)
		s->rte[i] = IOAPIC_RTE_MASKED;
}

/* The redirection entry an IOWIN index names, or -1. */
static int rte_index(u32 index)
{
	if (index < IOAPIC_REG_REDIR || index >= IOAPIC_REG_REDIR + 2 * IOAPIC_PINS)
		return -1;
	return (int)(index - IOAPIC_REG_REDIR) / 2;
}

static u32 window_read(const struct ioapic *s)
{
	int pin = rte_index(s->regsel);

	switch (s->regsel) {
	case IOAPIC_REG_ID:
	case IOAPIC_REG_ARB: /* QEMU: the arbitration ID reads as the ID */
		return s->id;
	case IOAPIC_REG_VER:
		return IOAPIC_VERSION;
	}
	if (pin < 0)
		return 0;
	return (u32)(s->regsel & 1 ? s->rte[pin] >> 32 : s->rte[pin]);
}

u32 ioapic_read(const struct ioapic *s, u32 off)
{
	switch (off) {
	case IOAPIC_REGSEL:
		return s->regsel;
	case IOAPIC_WINDOW:
		return window_read(s);
	}
	return 0;
}

static void rte_write(struct ioapic *s, int pin, bool high, u32 val)
{
	u64 old = s->rte[pin];
	u64 v = high ? (old & 0xffffffffULL) | ((u64)val << 32) : (old & ~0xffffffffULL) | val;

	s->rte[pin] = (v & RTE_WRITABLE) | (old & IOAPIC_RTE_REMOTE_IRR);
	/* An edge pin has no EOI to wait for (QEMU clears remote IRR the same way). */
	if (!(s->rte[pin] & IOAPIC_RTE_LEVEL))
		s->rte[pin] &= ~IOAPIC_RTE_REMOTE_IRR;
}

void ioapic_write(struct ioapic *s, u32 off, u32 val)
{
	int pin;

	if (off == IOAPIC_REGSEL) {
		s->regsel = val & 0xff;
		return;
	}
	if (off != IOAPIC_WINDOW)
		return;
	if (s->regsel == IOAPIC_REG_ID) {
		s->id = val & (0xfU << 24);
		return;
	}
	pin = rte_index(s->regsel);
	if (pin >= 0)
		rte_write(s, pin, s->regsel & 1, val);
}

void ioapic_set_irq(struct ioapic *s, int pin, bool level)
{
	u32 bit;

	if (pin < 0 || pin >= IOAPIC_PINS)
		return;
	bit = (u32)BIT(pin);
	if (s->rte[pin] & IOAPIC_RTE_LEVEL) {
		s->irr = level ? s->irr | bit : s->irr & ~bit;
	} else if (level && !(s->lines & bit) && !(s->rte[pin] & IOAPIC_RTE_MASKED)) {
		s->irr |= bit; /* a masked pin ignores edges (82093AA manual, QEMU) */
	}
	s->lines = level ? s->lines | bit : s->lines & ~bit;
}

void ioapic_eoi(struct ioapic *s, u8 vector)
{
	for (int i = 0; i < IOAPIC_PINS; i++) {
		u64 e = s->rte[i];

		if ((e & IOAPIC_RTE_LEVEL) && (e & IOAPIC_RTE_REMOTE_IRR) &&
		    (e & IOAPIC_RTE_VECTOR) == vector)
			s->rte[i] &= ~IOAPIC_RTE_REMOTE_IRR;
	}
	/* A level line still high requests again (kept in irr: nothing to do here). */
}

static struct ioapic_msg rte_msg(int pin, u64 e)
{
	return (struct ioapic_msg){ .pin = (u8)pin,
		                    .vector = (u8)(e & IOAPIC_RTE_VECTOR),
		                    .delivery = (u8)((e & IOAPIC_RTE_DELIVERY) >> 8),
		                    .dest = (u8)(e >> IOAPIC_RTE_DEST_SHIFT),
		                    .logical = e & IOAPIC_RTE_LOGICAL,
		                    .level = e & IOAPIC_RTE_LEVEL };
}

int ioapic_service(struct ioapic *s, struct ioapic_msg *msgs, int max)
{
	int n = 0;

	for (int i = 0; i < IOAPIC_PINS && n < max; i++) {
		u64 e = s->rte[i];

		if (!(s->irr & BIT(i)) || (e & IOAPIC_RTE_MASKED))
			continue;
		if (e & IOAPIC_RTE_LEVEL) {
			if (e & IOAPIC_RTE_REMOTE_IRR)
				continue;
			s->rte[i] |= IOAPIC_RTE_REMOTE_IRR;
		} else {
			s->irr &= ~(u32)BIT(i);
		}
		msgs[n++] = rte_msg(i, e);
	}
	return n;
}
