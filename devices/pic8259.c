/*
 * 8259A PIC programming interface (see pic8259.h); the command decoding follows QEMU's
 * pic_ioport_write so a guest's init sequence leaves the chip in the state QEMU would.
 */
#include "devices/pic8259.h"
#include "lib.h"

#define ICW1_INIT   0x10
#define ICW1_ICW4   0x01
#define ICW1_SINGLE 0x02
#define OCW3_SELECT 0x08
#define OCW3_POLL   0x04
#define OCW3_RR	    0x02 /* the RIS bit that follows is valid */
#define OCW3_ESMM   0x40

void pic_init(struct pic8259 *p, bool master)
{
	memset(p, 0, sizeof(*p));
	p->irq_base = master ? 0x08 : 0x70;
	p->imr = 0xff;
	/* IRQs 0-2 and 8, 13 are edge-only on the PIIX3 (QEMU's elcr_mask). */
	p->elcr_mask = master ? 0xf8 : 0xde;
}

/* ICW1: restart initialisation; everything but the ELCR is reset. */
static void pic_icw1(struct pic8259 *p, u8 val)
{
	u8 elcr = p->elcr, elcr_mask = p->elcr_mask;

	memset(p, 0, sizeof(*p));
	p->elcr = elcr;
	p->elcr_mask = elcr_mask;
	p->init_state = 1;
	p->init4 = val & ICW1_ICW4;
	p->single = val & ICW1_SINGLE;
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
	}
	/* else OCW2 (EOI, rotation): nothing is ever in service, so nothing to do. */
}

u8 pic_read(struct pic8259 *p, int port_lsb)
{
	if (p->poll) {
		p->poll = false;
		return 0; /* no interrupt pending */
	}
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
