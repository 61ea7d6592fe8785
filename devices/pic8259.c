/*
 * 8259A PIC pair (see pic8259.h). Command decoding, priority resolution and the INTA cycle
 * follow QEMU's pic_ioport_write, pic_get_irq and pic_read_irq, without rotating priority
 * or level-triggered inputs, so a guest sees the state QEMU would show it.
 */
#include "devices/pic8259.h"
#include "lib.h"

#define ICW1_INIT   0x10
#define ICW1_ICW4   0x01
#define ICW1_SINGLE 0x02
#define OCW3_SELECT 0x08
#define OCW3_POLL   0x04
#define OCW3_RR     0x02 /* the RIS bit that follows is valid */
#define OCW3_ESMM   0x40
#define POLL_IRQ    0x80 /* a poll byte's "interrupt present" bit */

/* OCW2 commands (bits 7-5). */
enum {
	OCW2_EOI = 1,            /* non-specific EOI */
	OCW2_SPECIFIC_EOI = 3,   /* EOI of IRQ val & 7 */
	OCW2_ROTATE_EOI = 5,     /* non-specific EOI + rotate: rotation not modelled */
	OCW2_ROTATE_SPECIFIC = 7 /* specific EOI + rotate: rotation not modelled */
};

void pic_init(struct pic8259 *p, bool master)
{
	memset(p, 0, sizeof(*p));
	p->master = master;
	p->irq_base = master ? 0x08 : 0x70;
	p->imr = 0xff;
	/* IRQs 0-2 and 8, 13 are edge-only on the PIIX3 (QEMU's elcr_mask). */
	p->elcr_mask = master ? 0xf8 : 0xde;
}

/* ICW1: restart initialisation; everything but the ELCR (and which chip this is) is reset,
 * requests and line levels included (QEMU's pic_init_reset). */
static void pic_icw1(struct pic8259 *p, u8 val)
{
	u8 elcr = p->elcr, elcr_mask = p->elcr_mask;
	bool master = p->master;

	memset(p, 0, sizeof(*p));
	p->master = master;
	p->elcr = elcr;
	p->elcr_mask = elcr_mask;
	p->init_state = 1;
	p->init4 = val & ICW1_ICW4;
	p->single = val & ICW1_SINGLE;
}

/* The priority of the highest-priority bit of mask (IRQ 0 is 0, the highest), 8 if none. */
static int pic_priority(u8 mask)
{
	for (int i = 0; i < 8; i++)
		if (mask & BIT(i))
			return i;
	return 8;
}

/* The IRQ this chip requests now, or -1: its highest unmasked request if that outranks
 * everything in service. In special mask mode masked in-service IRQs do not count; in
 * special fully nested mode the master lets the slave interrupt its own in-service IRQ. */
static int pic_get_irq(const struct pic8259 *p)
{
	int irq = pic_priority(p->irr & ~p->imr);
	u8 isr = p->isr;

	if (irq == 8)
		return -1;
	if (p->special_mask)
		isr &= ~p->imr;
	if (p->sfnm && p->master)
		isr &= ~BIT(PIC_CASCADE_IRQ);
	return irq < pic_priority(isr) ? irq : -1;
}

/* One chip's input line: edge-triggered, so only a rising level requests the IRQ. */
static void pic_line(struct pic8259 *p, int irq, bool level)
{
	if (level && !(p->last_level & BIT(irq)))
		p->irr |= BIT(irq);
	if (level)
		p->last_level |= BIT(irq);
	else
		p->last_level &= ~BIT(irq);
}

/* The chip takes IRQ irq: in service until its EOI (unless auto-EOI), request consumed. */
static void pic_intack(struct pic8259 *p, int irq)
{
	if (!p->auto_eoi)
		p->isr |= BIT(irq);
	p->irr &= ~BIT(irq);
}

/* OCW2: the EOI commands. The others (rotation in auto-EOI mode, set priority) only change
 * the priority order, which stays fixed here. */
static void pic_ocw2(struct pic8259 *p, u8 val)
{
	switch (val >> 5) {
	case OCW2_EOI:
	case OCW2_ROTATE_EOI:
		/* The highest-priority IRQ in service, masked or not, as QEMU. */
		if (p->isr)
			p->isr &= ~BIT(pic_priority(p->isr));
		break;
	case OCW2_SPECIFIC_EOI:
	case OCW2_ROTATE_SPECIFIC:
		p->isr &= ~BIT(val & 7);
		break;
	default:
		break;
	}
}

/* OCW3: select what the command port reads, poll, special mask mode. */
static void pic_ocw3(struct pic8259 *p, u8 val)
{
	if (val & OCW3_POLL)
		p->poll = true;
	if (val & OCW3_RR)
		p->read_isr = val & 1;
	if (val & OCW3_ESMM)
		p->special_mask = (val >> 5) & 1;
}

/* The data port during initialisation: ICW2 (vector base), ICW3 (cascade), ICW4 (mode). */
static void pic_icw(struct pic8259 *p, u8 val)
{
	switch (p->init_state) {
	case 1:
		p->irq_base = val & 0xf8;
		p->init_state = p->single ? (p->init4 ? 3 : 0) : 2;
		break;
	case 2:
		p->init_state = p->init4 ? 3 : 0;
		break;
	default:
		p->sfnm = (val >> 4) & 1;
		p->auto_eoi = (val >> 1) & 1;
		p->init_state = 0;
		break;
	}
}

void pic_write(struct pic8259 *p, int port_lsb, u8 val)
{
	if (port_lsb) {
		if (p->init_state)
			pic_icw(p, val);
		else
			p->imr = val; /* OCW1 */
	} else if (val & ICW1_INIT) {
		pic_icw1(p, val);
	} else if (val & OCW3_SELECT) {
		pic_ocw3(p, val);
	} else {
		pic_ocw2(p, val);
	}
}

/* The poll byte: the poll command turns the next read into this chip's INTA. */
static u8 pic_poll_read(struct pic8259 *p)
{
	int irq = pic_get_irq(p);

	p->poll = false;
	if (irq < 0)
		return 0;
	pic_intack(p, irq);
	return (u8)(POLL_IRQ | irq);
}

u8 pic_read(struct pic8259 *p, int port_lsb)
{
	if (p->poll)
		return pic_poll_read(p);
	if (port_lsb)
		return p->imr;
	return p->read_isr ? p->isr : p->irr;
}

u8 pic_elcr_read(const struct pic8259 *p)
{
	return p->elcr;
}

void pic_elcr_write(struct pic8259 *p, u8 val)
{
	p->elcr = val & p->elcr_mask;
}

/* ---- the pair ------------------------------------------------------------------------------ */

void pic_update_cascade(struct pic8259 pic[2])
{
	/* The slave's INT output is high while it has a request to present (QEMU's
	 * pic_update_irq); the master sees it as an edge-triggered IRQ 2. */
	pic_line(&pic[0], PIC_CASCADE_IRQ, pic_get_irq(&pic[1]) >= 0);
}

void pic_set_irq(struct pic8259 pic[2], int irq, bool level)
{
	if (irq < 0 || irq > 15 || irq == PIC_CASCADE_IRQ)
		return;
	pic_line(&pic[irq >> 3], irq & 7, level);
	pic_update_cascade(pic);
}

int pic_pending_vector(struct pic8259 pic[2])
{
	int irq, irq2;

	pic_update_cascade(pic);
	irq = pic_get_irq(&pic[0]);
	if (irq < 0)
		return -1;
	if (irq != PIC_CASCADE_IRQ)
		return pic[0].irq_base + irq;
	irq2 = pic_get_irq(&pic[1]);
	return pic[1].irq_base + (irq2 >= 0 ? irq2 : PIC_SPURIOUS);
}

int pic_ack(struct pic8259 pic[2])
{
	int irq, vec;

	pic_update_cascade(pic);
	irq = pic_get_irq(&pic[0]);
	if (irq < 0)
		return pic[0].irq_base + PIC_SPURIOUS; /* nothing is put in service */
	if (irq == PIC_CASCADE_IRQ) {
		int irq2 = pic_get_irq(&pic[1]);

		if (irq2 >= 0)
			pic_intack(&pic[1], irq2);
		else
			irq2 = PIC_SPURIOUS; /* the slave's request went away: its spurious IRQ */
		vec = pic[1].irq_base + irq2;
		/* The slave's output may have dropped; the master sees that before its own INTA
		 * (QEMU's order), so a still-high output raises no second IRQ 2. */
		pic_update_cascade(pic);
	} else {
		vec = pic[0].irq_base + irq;
	}
	pic_intack(&pic[0], irq);
	return vec;
}
