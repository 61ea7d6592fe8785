/*
 * 16550 UART driver: 115200 8N1, polled transmit and receive (no interrupts). Bochs and QEMU
 * accept bytes at once; on real hardware the LSR poll paces output. Received bytes wait in
 * the UART's 16-byte FIFO until serial_getc takes them (pc/console.c forwards them to a
 * guest); one arriving with the FIFO full is lost there (LSR overrun).
 */
#include "arch/cpu.h"
#include "drivers/serial.h"

#define UART_THR 0
#define UART_RBR 0
#define UART_IER 1
#define UART_FCR 2
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define LSR_DR   BIT(0)
#define LSR_THRE BIT(5)
#define LSR_TEMT BIT(6)

void serial_init(void)
{
	outb(COM1_PORT + UART_IER, 0x00);
	outb(COM1_PORT + UART_LCR, 0x80); /* DLAB: divisor follows */
	outb(COM1_PORT + 0, 0x01);        /* 115200 baud */
	outb(COM1_PORT + 1, 0x00);
	outb(COM1_PORT + UART_LCR, 0x03); /* 8N1 */
	outb(COM1_PORT + UART_FCR, 0xc7);
	outb(COM1_PORT + UART_MCR, 0x03);
}

static void serial_putc(char c)
{
	for (int spins = 0; !(inb(COM1_PORT + UART_LSR) & LSR_THRE) && spins < 100000; spins++)
		;
	outb(COM1_PORT + UART_THR, (u8)c);
}

void serial_write(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\n')
			serial_putc('\r');
		serial_putc(s[i]);
	}
}

void serial_drain(void)
{
	for (int spins = 0; !(inb(COM1_PORT + UART_LSR) & LSR_TEMT) && spins < 1000000; spins++)
		;
}

int serial_getc(void)
{
	if (!(inb(COM1_PORT + UART_LSR) & LSR_DR))
		return -1;
	return inb(COM1_PORT + UART_RBR);
}
