/*
 * The two cascaded 8259A PICs (master 0x20/0x21, slave 0xa0/0xa1) and their edge/level
 * control registers (ELCR, 0x4d0/0x4d1), as QEMU's hw/intc/i8259.c models them.
 *
 * The guest's side: the ICW1-ICW4 initialisation sequence, the mask (OCW1, read back from the
 * data port), specific and non-specific EOIs (OCW2), OCW3's IRR/ISR read selection, poll
 * command and special mask mode. The platform's side: device lines raise IRQs with
 * pic_set_irq(), the vCPU asks pic_pending_vector() what it would be interrupted with and
 * takes it with pic_ack() (the INTA cycle).
 *
 * Simplifications: every IRQ is edge-triggered (the ELCR is stored and read back only);
 * priority is fixed, IRQ 0 highest (the rotation commands of OCW2 do their EOI part only).
 * The slave's INT output drives master IRQ 2; it is re-evaluated by every pair-level call
 * and by pic_update_cascade(), which pcio calls after each guest access.
 */
#ifndef EPTVISOR_DEVICES_PIC8259_H
#define EPTVISOR_DEVICES_PIC8259_H

#include "types.h"

#define PIC_MASTER_PORT 0x20
#define PIC_SLAVE_PORT  0xa0
#define PIC_ELCR_PORT   0x4d0
#define PIC_CASCADE_IRQ 2 /* the master input the slave is wired to */
#define PIC_SPURIOUS    7 /* the IRQ an INTA with nothing pending reads as */

struct pic8259 {
	u8 imr, irr, isr; /* mask, request and in-service registers */
	u8 last_level;    /* each input line's level at its last change (edge detection) */
	u8 irq_base;      /* vector of IRQ 0, from ICW2 */
	u8 init_state;    /* 0: operational; 1-3: expecting ICW2-ICW4 */
	bool master;      /* fixed at pic_init */
	bool init4;       /* ICW1 announced an ICW4 */
	bool single;      /* ICW1: no cascade, so no ICW3 */
	bool read_isr;    /* OCW3 selected ISR (else IRR) for reads of the command port */
	bool poll;        /* OCW3 poll command: the next read is the poll byte */
	bool auto_eoi, special_mask, sfnm;
	u8 elcr, elcr_mask; /* level-triggered IRQs; the bits the chipset lets change */
};

/* State after the firmware QEMU runs (SeaBIOS) initialised the pair: vectors 0x08 and 0x70,
 * every IRQ masked. master: true for the master chip. */
void pic_init(struct pic8259 *p, bool master);
/* Guest IN/OUT at the command (port & 1 == 0) or data (port & 1 == 1) port. A read after
 * the OCW3 poll command acknowledges this chip's highest request and returns 0x80 | IRQ,
 * or 0 if none (as QEMU; a master poll that finds IRQ 2 does not acknowledge the slave). */
u8 pic_read(struct pic8259 *p, int port_lsb);
void pic_write(struct pic8259 *p, int port_lsb, u8 val);
/* The chip's ELCR byte. */
u8 pic_elcr_read(const struct pic8259 *p);
void pic_elcr_write(struct pic8259 *p, u8 val);

/*
 * The pair (pic[0] master, pic[1] slave) as the platform sees it.
 */
/* Drive input irq (0-15; 8-15 are the slave's) to level: a 0->1 transition sets the IRR
 * bit, even while the IRQ is masked. IRQ 2 is the cascade input and out-of-range IRQs are
 * ignored. */
void pic_set_irq(struct pic8259 pic[2], int irq, bool level);
/* The vector the pair presents to the CPU now, or -1: the master's highest-priority
 * unmasked request above its highest in-service IRQ; if that is IRQ 2, the slave's (its
 * base + 7 if the slave's request has gone away, as the INTA would read). */
int pic_pending_vector(struct pic8259 pic[2]);
/* The CPU's INTA cycle: the pending IRQ moves from IRR to ISR (ISR untouched in auto-EOI
 * mode) on the slave and master alike, and its vector is returned. With nothing pending the
 * 8259A answers a spurious IRQ 7, so this returns the master's base + 7 and changes nothing;
 * it never fails. */
int pic_ack(struct pic8259 pic[2]);
/* Re-evaluate the slave's INT output into master IRQ 2 (after a guest access to the
 * slave). */
void pic_update_cascade(struct pic8259 pic[2]);

#endif
