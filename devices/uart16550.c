/*
 * 16550A UART at COM1 (see uart16550.h). Register behaviour follows QEMU's hw/char/serial.c
 * closely enough for drivers' probes and for interrupt-driven drivers (Linux's 8250): the
 * scratch register reads back, the divisor latch is visible with DLAB set, LSR always says
 * "transmitter empty", IIR reports line status, received data and THR empty as IER enables
 * them, and loopback mode routes a sent byte to the receiver and the modem-control outputs
 * to the status inputs. Time is not modelled: a byte is sent at once, and the character
 * timeout (data below the FIFO trigger level) is reported as soon as the data is there.
 */
#include "devices/uart16550.h"
#include "lib.h"

#define UART_MSR_CTS  0x10
#define UART_MSR_DSR  0x20
#define UART_MSR_DCD  0x80
#define UART_IER_RLSI 0x04
#define UART_IIR_RLSI 0x06
#define UART_FCR_FE   0x01 /* FIFOs on */
#define UART_FCR_RFR  0x02 /* clear the receive FIFO */

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

/* The receive FIFO's trigger level (FCR bits 7:6); 1 with FIFOs off. */
static int uart_rx_trigger(const struct uart16550 *u)
{
	static const int level[4] = { 1, 4, 8, 14 };

	return (u->fcr & UART_FCR_FE) ? level[u->fcr >> 6] : 1;
}

/* IIR: the highest-priority enabled condition, in QEMU's serial_update_irq order. */
static u8 uart_iir(const struct uart16550 *u)
{
	u8 id = UART_IIR_NOINT;

	if ((u->ier & UART_IER_RLSI) && (u->lsr & UART_LSR_OE))
		id = UART_IIR_RLSI;
	else if ((u->ier & UART_IER_RDI) && u->rx_count >= uart_rx_trigger(u))
		id = UART_IIR_RDI;
	else if ((u->ier & UART_IER_RDI) && u->rx_count)
		id = UART_IIR_CTI;
	else if ((u->ier & UART_IER_THRI) && u->thr_ipending)
		id = UART_IIR_THRI;
	return id | ((u->fcr & UART_FCR_FE) ? UART_IIR_FIFO : 0);
}

bool uart_irq_line(const struct uart16550 *u)
{
	return (u->mcr & UART_MCR_OUT2) && (uart_iir(u) & 0x0f) != UART_IIR_NOINT;
}

bool uart_receive(struct uart16550 *u, u8 byte)
{
	int cap = (u->fcr & UART_FCR_FE) ? UART_FIFO : 1;

	if (u->rx_count == cap) {
		u->lsr |= UART_LSR_OE;
		if (cap > 1)
			return false;     /* a full FIFO keeps what it has (QEMU's recv_fifo_put) */
		u->rx[u->rx_head] = byte; /* the holding register is overwritten */
		return false;
	}
	u->rx[(u->rx_head + u->rx_count++) % UART_FIFO] = byte;
	u->lsr |= UART_LSR_DR;
	return true;
}

/* RBR: the oldest received byte (0 with none); DR stays while more wait. */
static u8 uart_rx_pop(struct uart16550 *u)
{
	u8 v;

	if (!u->rx_count)
		return 0;
	v = u->rx[u->rx_head];
	u->rx_head = (u->rx_head + 1) % UART_FIFO;
	if (!--u->rx_count)
		u->lsr &= (u8)~UART_LSR_DR;
	return v;
}

static void uart_rx_clear(struct uart16550 *u)
{
	u->rx_head = 0;
	u->rx_count = 0;
	u->lsr &= (u8)~UART_LSR_DR;
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
		return uart_rx_pop(u);
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
		v = u->lsr;
		u->lsr &= (u8)~UART_LSR_OE; /* reading LSR clears the error bits */
		return v;
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
	if (u->mcr & UART_MCR_LOOP)
		(void)uart_receive(u, val); /* an overrun is in LSR */
	else
		uart_put(u, val);
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
		/* Turning the FIFOs on or off clears them (QEMU's serial_ioport_write). */
		if ((val ^ u->fcr) & UART_FCR_FE || (val & UART_FCR_RFR))
			uart_rx_clear(u);
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
