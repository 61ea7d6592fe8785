/*
 * 16550A UART at COM1 (see uart16550.h). Register behaviour follows QEMU's hw/char/serial.c
 * closely enough for drivers' probes: the scratch register reads back, the divisor latch is
 * visible with DLAB set, LSR always says "transmitter empty", IIR reports the THR-empty
 * condition when IER enables it, and loopback mode routes a sent byte to the receiver and the
 * modem-control outputs to the status inputs.
 */
#include "devices/uart16550.h"
#include "lib.h"

#define UART_MSR_CTS  0x10
#define UART_MSR_DSR  0x20
#define UART_MSR_DCD  0x80
#define UART_MCR_OUT2 0x08

void uart_init(struct uart16550 *u, void (*line_out)(void *ctx, const char *line), void *ctx)
{
	memset(u, 0, sizeof(*u));
	u->mcr = UART_MCR_OUT2;
	u->lsr = UART_LSR_THRE | UART_LSR_TEMT;
	u->msr = UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS; /* a connected, ready peer */
	u->line_out = line_out;
	u->ctx = ctx;
}

void uart_flush(struct uart16550 *u)
{
	if (!u->len)
		return;
	u->line[u->len] = '\0';
	u->len = 0;
	if (u->line_out)
		u->line_out(u->ctx, u->line);
}

/* Add one transmitted byte to the current line: '\n' ends it, '\r' is dropped, bytes that
 * would garble a terminal are shown as '.', and a full line is emitted when more follows. */
static void uart_put(struct uart16550 *u, u8 c)
{
	if (c == '\r')
		return;
	if (c == '\n') {
		u->line[u->len] = '\0';
		u->len = 0;
		if (u->line_out)
			u->line_out(u->ctx, u->line);
		return;
	}
	/* Split a full line only when more follows, so exactly 200 characters and '\n' stay
	 * one line. */
	if (u->len == UART_LINE_MAX)
		uart_flush(u);
	u->line[u->len++] = (c == '\t' || (c >= 0x20 && c < 0x7f)) ? (char)c : '.';
}

/* IIR: the highest-priority enabled condition, as QEMU's serial_update_irq computes it. */
static u8 uart_iir(const struct uart16550 *u)
{
	u8 id = UART_IIR_NOINT;

	if ((u->ier & UART_IER_RDI) && (u->lsr & UART_LSR_DR))
		id = UART_IIR_RDI;
	else if ((u->ier & UART_IER_THRI) && u->thr_ipending)
		id = UART_IIR_THRI;
	return id | ((u->fcr & 1) ? UART_IIR_FIFO : 0);
}

bool uart_irq_line(const struct uart16550 *u)
{
	return (uart_iir(u) & 0x0f) != UART_IIR_NOINT;
}

/* MSR in loopback: the modem-control outputs appear on the status inputs
 * (DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD); Linux's autoconfig checks exactly this. */
static u8 uart_loop_msr(const struct uart16550 *u)
{
	return (u8)(((u->mcr & 0x0c) << 4) | ((u->mcr & 0x02) << 3) | ((u->mcr & 0x01) << 5));
}

u8 uart_read(struct uart16550 *u, int reg)
{
	bool dlab = u->lcr & UART_LCR_DLAB;
	u8 v;

	switch (reg) {
	case UART_RBR_THR:
		if (dlab)
			return (u8)u->divisor;
		u->lsr &= (u8) ~(UART_LSR_DR | UART_LSR_OE);
		return u->rbr;
	case UART_IER:
		return dlab ? (u8)(u->divisor >> 8) : u->ier;
	case UART_IIR_FCR:
		v = uart_iir(u);
		if ((v & 0x0f) == UART_IIR_THRI)
			u->thr_ipending = false; /* reading IIR acknowledges THR empty */
		return v;
	case UART_LCR:
		return u->lcr;
	case UART_MCR:
		return u->mcr;
	case UART_LSR:
		return u->lsr;
	case UART_MSR:
		return (u->mcr & UART_MCR_LOOP) ? uart_loop_msr(u) : u->msr;
	default:
		return u->scr;
	}
}

/* A byte written to THR: transmitted at once (or received, in loopback), so THR is empty
 * again immediately and the THR-empty condition is raised again. */
static void uart_transmit(struct uart16550 *u, u8 val)
{
	if (u->mcr & UART_MCR_LOOP) {
		if (u->lsr & UART_LSR_DR)
			u->lsr |= UART_LSR_OE;
		u->rbr = val;
		u->lsr |= UART_LSR_DR;
	} else {
		uart_put(u, val);
	}
	u->thr_ipending = true;
}

void uart_write(struct uart16550 *u, int reg, u8 val)
{
	bool dlab = u->lcr & UART_LCR_DLAB;

	switch (reg) {
	case UART_RBR_THR:
		if (dlab)
			u->divisor = (u16)((u->divisor & 0xff00) | val);
		else
			uart_transmit(u, val);
		break;
	case UART_IER:
		if (dlab) {
			u->divisor = (u16)((u->divisor & 0x00ff) | (val << 8));
			break;
		}
		/* Enabling the THR-empty interrupt while THR is empty raises it at once. */
		if ((val & UART_IER_THRI) && !(u->ier & UART_IER_THRI))
			u->thr_ipending = true;
		u->ier = val & 0x0f;
		break;
	case UART_IIR_FCR:
		u->fcr = val & 0xc9;
		break;
	case UART_LCR:
		u->lcr = val;
		break;
	case UART_MCR:
		u->mcr = val & 0x1f;
		break;
	case UART_LSR:
	case UART_MSR:
		break; /* read-only */
	default:
		u->scr = val;
		break;
	}
}
