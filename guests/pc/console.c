/*
 * COM1 (16550 at 0x3f8) driven like a driver would: interrupts off, divisor through DLAB,
 * 8N1, FIFOs on, and a scratch-register probe. Output is polled (LSR.THRE); "\n" goes out as
 * "\r\n". Also the exit port (isa-debug-exit at 0xf4).
 */
#include "guests/pc/pc.h"

#define COM1             0x3f8
#define UART_THR         0
#define UART_DLL         0
#define UART_IER         1
#define UART_DLM         1
#define UART_FCR         2
#define UART_LCR         3
#define UART_MCR         4
#define UART_LSR         5
#define UART_SCR         7
#define LCR_DLAB         0x80
#define LCR_8N1          0x03
#define FCR_ENABLE_CLEAR 0x07
#define MCR_DTR_RTS_OUT2 0x0b
#define LSR_THRE         0x20
#define DIVISOR_115200   1

static bool scratch_ok;

/* Program COM1 for 115200 8N1 with FIFOs, and probe the scratch register. */
void uart_init(void)
{
	outb(COM1 + UART_IER, 0);
	outb(COM1 + UART_LCR, LCR_DLAB);
	outb(COM1 + UART_DLL, DIVISOR_115200);
	outb(COM1 + UART_DLM, 0);
	outb(COM1 + UART_LCR, LCR_8N1);
	outb(COM1 + UART_FCR, FCR_ENABLE_CLEAR);
	outb(COM1 + UART_MCR, MCR_DTR_RTS_OUT2);
	outb(COM1 + UART_SCR, 0x5a);
	scratch_ok = inb(COM1 + UART_SCR) == 0x5a;
	outb(COM1 + UART_SCR, 0xa5);
	scratch_ok = scratch_ok && inb(COM1 + UART_SCR) == 0xa5;
}

/* Whether the scratch register held both probe values in uart_init(). */
bool uart_scratch_ok(void)
{
	return scratch_ok;
}

static void uart_putc(char c)
{
	while (!(inb(COM1 + UART_LSR) & LSR_THRE))
		cpu_pause();
	outb(COM1 + UART_THR, (u8)c);
}

/* printf to COM1. */
void pr(const char *fmt, ...)
{
	char buf[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	for (const char *s = buf; *s; s++) {
		if (*s == '\n')
			uart_putc('\r');
		uart_putc(*s);
	}
}

void pc_exit(u32 code)
{
	outl(DEBUG_EXIT_PORT, code);
	halt_forever();
}
