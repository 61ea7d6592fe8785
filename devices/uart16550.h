/*
 * The 16550A UART the guest sees at COM1 (ports 0x3f8-0x3ff), as QEMU's hw/char/serial.c
 * models it with nothing connected to the receive side: the transmitter is always ready,
 * nothing ever arrives (except in loopback mode). Its interrupt line (uart_irq_line) is high
 * while IIR reports a condition (QEMU's serial_update_irq: THR empty or received data).
 *
 * Transmitted bytes are gathered into lines; each complete line goes to line_out without its
 * '\n', so the caller can prefix it (e.g. with the VM's name) and print it whole.
 */
#ifndef EPTVISOR_DEVICES_UART16550_H
#define EPTVISOR_DEVICES_UART16550_H

#include "types.h"

#define UART_LINE_MAX 200 /* a longer line is emitted in pieces of this many characters */

/* Register offsets from the base port, with DLAB (LCR bit 7) clear unless noted. */
#define UART_RBR_THR 0 /* DLAB=1: divisor latch low */
#define UART_IER     1 /* DLAB=1: divisor latch high */
#define UART_IIR_FCR 2
#define UART_LCR     3
#define UART_MCR     4
#define UART_LSR     5
#define UART_MSR     6
#define UART_SCR     7

#define UART_LCR_DLAB  0x80
#define UART_MCR_LOOP  0x10
#define UART_LSR_DR    0x01 /* data ready */
#define UART_LSR_OE    0x02 /* overrun */
#define UART_LSR_THRE  0x20 /* transmit holding register empty */
#define UART_LSR_TEMT  0x40 /* transmitter empty */
#define UART_IER_RDI   0x01
#define UART_IER_THRI  0x02
#define UART_IIR_NOINT 0x01
#define UART_IIR_THRI  0x02
#define UART_IIR_RDI   0x04
#define UART_IIR_FIFO  0xc0

struct uart16550 {
	u16 divisor;
	u8 ier, lcr, mcr, lsr, msr, scr, fcr;
	u8 rbr;            /* the one received byte (loopback only) */
	bool thr_ipending; /* "THR empty" interrupt condition, reported in IIR */
	void (*line_out)(void *ctx, const char *line);
	void *ctx;
	int len;
	char line[UART_LINE_MAX + 1];
};

/* Reset state (QEMU's serial_reset); lines go to line_out(ctx, line). */
void uart_init(struct uart16550 *u, void (*line_out)(void *ctx, const char *line), void *ctx);
/* Guest IN from register reg (0-7). */
u8 uart_read(struct uart16550 *u, int reg);
/* Guest OUT of val to register reg (0-7). */
void uart_write(struct uart16550 *u, int reg, u8 val);
/* The UART's interrupt output (IRQ 4): IIR has an enabled condition pending. */
bool uart_irq_line(const struct uart16550 *u);
/* Emit a pending partial line, if any (at the end of the VM). */
void uart_flush(struct uart16550 *u);

#endif
