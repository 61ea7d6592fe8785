/*
 * The two cascaded 8259A PICs (master 0x20/0x21, slave 0xa0/0xa1) and their edge/level
 * control registers (ELCR, 0x4d0/0x4d1), as QEMU's hw/intc/i8259.c programs them.
 *
 * Only the programming interface is modelled: the ICW1-ICW4 initialisation sequence, the mask
 * (OCW1, read back from the data port), EOIs (OCW2, accepted) and OCW3's IRR/ISR/poll
 * selection. No interrupt is ever raised through the PICs: on this platform guests get their
 * interrupts from their local APIC, and a PIC-only guest simply sees no IRQs.
 */
#ifndef EPTVISOR_DEVICES_PIC8259_H
#define EPTVISOR_DEVICES_PIC8259_H

#include "types.h"

#define PIC_MASTER_PORT 0x20
#define PIC_SLAVE_PORT	0xa0
#define PIC_ELCR_PORT	0x4d0

struct pic8259 {
	u8 imr, irr, isr; /* mask, request and in-service registers (irr, isr stay 0) */
	u8 irq_base;	  /* vector of IRQ 0, from ICW2 */
	u8 init_state;	  /* 0: operational; 1-3: expecting ICW2-ICW4 */
	bool init4;	  /* ICW1 announced an ICW4 */
	bool single;	  /* ICW1: no cascade, so no ICW3 */
	bool read_isr;	  /* OCW3 selected ISR (else IRR) for reads of the command port */
	bool poll;	  /* OCW3 poll command: the next read is the poll byte */
	bool auto_eoi, special_mask, sfnm;
	u8 elcr, elcr_mask; /* level-triggered IRQs; the bits the chipset lets change */
};

/* State after the firmware QEMU runs (SeaBIOS) initialised the pair: vectors 0x08 and 0x70,
 * every IRQ masked. master: true for the master chip. */
void pic_init(struct pic8259 *p, bool master);
/* Guest IN/OUT at the command (port & 1 == 0) or data (port & 1 == 1) port. */
u8 pic_read(struct pic8259 *p, int port_lsb);
void pic_write(struct pic8259 *p, int port_lsb, u8 val);
/* The chip's ELCR byte. */
u8 pic_elcr_read(const struct pic8259 *p);
void pic_elcr_write(struct pic8259 *p, u8 val);

#endif
