/*
 * The 82093AA I/O APIC of a PC guest (MMIO page at 0xfec00000), as QEMU's hw/intc/ioapic.c
 * models it, pure C: 24 input pins, each with a 64-bit redirection entry that turns the
 * pin's request into an interrupt message for the local APICs.
 *
 *   MMIO 0x00 IOREGSEL  (index of the register IOWIN shows)
 *   MMIO 0x10 IOWIN     index 0x00 ID (bits 27:24), 0x01 VER (0x00170011: 24 pins,
 *                       version 0x11), 0x02 ARB (reads as the ID), 0x10 + 2n / 0x11 + 2n
 *                       the low / high dword of pin n's redirection entry
 *
 * How the caller drives it (pc/irq.c, devices/pcio.c):
 *   a device's line changes            -> ioapic_set_irq()
 *   a guest MMIO read / write          -> ioapic_read() / ioapic_write()
 *   a local APIC's EOI (any vector)    -> ioapic_eoi() (clears remote IRR of level pins)
 *   after any of those                 -> ioapic_service(): the messages to deliver now
 *
 * Pins: an edge-triggered pin's rising edge latches a request unless the pin is masked
 * (the 82093AA manual: a masked pin ignores edges; QEMU too); a level-triggered pin requests while
 * its line is high, and once delivered sets remote IRR, which holds further messages back until the
 * local APIC's EOI for its vector. Polarity is stored only: the board's ISA lines are active high,
 * as in QEMU. Delivery status always reads 0 (delivery is immediate); the reserved bits of an entry
 * keep what the guest wrote, as QEMU's do. No locking: the caller serialises (the VM's io_lock).
 */
#ifndef EPTVISOR_DEVICES_IOAPIC_H
#define EPTVISOR_DEVICES_IOAPIC_H

#include "types.h"

#define IOAPIC_GPA     0xfec00000ULL
#define IOAPIC_PINS    24
#define IOAPIC_VERSION 0x00170011 /* max redirection entry 23, version 0x11 (82093AA) */

#define IOAPIC_REGSEL 0x00 /* MMIO offsets */
#define IOAPIC_WINDOW 0x10

#define IOAPIC_REG_ID    0x00 /* register indices */
#define IOAPIC_REG_VER   0x01
#define IOAPIC_REG_ARB   0x02
#define IOAPIC_REG_REDIR 0x10

/* Redirection entry bits. */
#define IOAPIC_RTE_VECTOR     0xffULL
#define IOAPIC_RTE_DELIVERY   (7ULL << 8) /* 0 fixed, 1 lowest, 2 SMI, 4 NMI, 5 INIT, 7 ExtINT */
#define IOAPIC_RTE_LOGICAL    BIT(11)
#define IOAPIC_RTE_PENDING    BIT(12) /* delivery status (read-only, always 0 here) */
#define IOAPIC_RTE_POLARITY   BIT(13) /* 1: active low */
#define IOAPIC_RTE_REMOTE_IRR BIT(14) /* read-only */
#define IOAPIC_RTE_LEVEL      BIT(15)
#define IOAPIC_RTE_MASKED     BIT(16)
#define IOAPIC_RTE_DEST_SHIFT 56

#define IOAPIC_DM_EXTINT 7

/* One interrupt message for the local APICs (their ICR's terms). */
struct ioapic_msg {
	u8 pin;
	u8 vector;
	u8 delivery; /* APIC_DM_* (devices/vlapic.h), or IOAPIC_DM_EXTINT */
	u8 dest;     /* physical APIC ID or logical destination, 0xff broadcast */
	bool logical;
	bool level;
};

struct ioapic {
	u32 regsel;
	u32 id;    /* the ID register (bits 27:24) */
	u32 irr;   /* pins requesting delivery */
	u32 lines; /* the pins' current line levels */
	u64 rte[IOAPIC_PINS];
};

/* Power-on state: ID = id << 24, every pin masked, edge, fixed, vector 0, lines low. */
void ioapic_init(struct ioapic *s, u8 id);

/* A 32-bit guest read at MMIO offset off (0..0xfff): IOREGSEL, IOWIN, else 0. */
u32 ioapic_read(const struct ioapic *s, u32 off);

/* A 32-bit guest write at MMIO offset off: IOREGSEL, IOWIN (ID, a redirection entry but
 * its delivery status and remote IRR; VER, ARB and unknown indices ignore it), else ignored. Call
 * ioapic_service() afterwards: unmasking a pin may deliver its request. */
void ioapic_write(struct ioapic *s, u32 off, u32 val);

/* Drive pin (0..IOAPIC_PINS-1) to level: edge pins latch a request on 0 -> 1 while
 * unmasked, level pins request while high. Out-of-range pins are ignored. */
void ioapic_set_irq(struct ioapic *s, int pin, bool level);

/* A local APIC retired vector (the EOI broadcast): level pins with that vector and remote
 * IRR set have it cleared, so a line still high requests again. */
void ioapic_eoi(struct ioapic *s, u8 vector);

/* Take up to max messages that may go out now (unmasked requests of edge pins, and level
 * pins without remote IRR), lowest pin first: an edge request is consumed, a level pin sets
 * remote IRR. Returns how many were written to msgs. */
int ioapic_service(struct ioapic *s, struct ioapic_msg *msgs, int max);

#endif
