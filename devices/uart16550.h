/*
 * The 16550A UART the guest sees at COM1 (ports 0x3f8-0x3ff), as QEMU's hw/char/serial.c
 * models it: the transmitter is always ready; received bytes (uart_receive, or the
 * transmitter's own in loopback mode) wait in a 16-byte FIFO. IIR reports the highest
 * enabled condition (QEMU's serial_update_irq: received data at the trigger level, a
 * character timeout below it, THR empty). The interrupt output (uart_irq_line) is that
 * condition gated by MCR.OUT2, as a PC's COM port wires it (QEMU does not gate).
 *
 * Transmitted bytes are gathered into lines; each complete line goes to line_out without its
 * '\n', so the caller can prefix it (e.g. with the VM's name) and print it whole.
 */
#ifndef EPTVISOR_DEVICES_UART16550_H
#define EPTVISOR_DEVICES_UART16550_H

#include "types.h"

#define UART_LINE_MAX 200 /* a longer line is emitted in pieces of this many characters */
#define UART_FIFO     16  /* the receive FIFO (and the holding register with FIFOs off) */

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
#define UART_IIR_CTI   0x0c /* character timeout: data below the FIFO trigger level */
#define UART_MCR_OUT2  0x08 /* on a PC: enables the interrupt output onto the ISA bus */
#define UART_IIR_FIFO  0xc0

struct uart16550 {
	u16 divisor;
	u8 ier, lcr, mcr, lsr, msr, scr, fcr;
	u8 rx[UART_FIFO]; /* received bytes, oldest at rx_head */
	int rx_head, rx_count;
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
/* The UART's interrupt output as the PC's IRQ 4 sees it: IIR has an enabled condition
 * pending and MCR.OUT2 is set. */
bool uart_irq_line(const struct uart16550 *u);
/* A byte arrives on the receive line (from outside; loopback bytes come from THR). false
 * if it was lost: the FIFO (or, FIFOs off, the holding register) was full, which sets LSR
 * overrun. */
bool uart_receive(struct uart16550 *u, u8 byte);
/* Emit a pending partial line, if any (at the end of the VM). */
void uart_flush(struct uart16550 *u);

#endif
