/*
 * Host tests of the PC port devices (devices/): each device's registers as a driver uses
 * them, through pcio_access() exactly as the VM-exit glue calls it, with a fake clock and a
 * fake console; and the CPUID filter.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
/* cmocka.h needs the three above first */
/* cmocka.h needs the headers above it. */
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "devices/cpuid.h"
#include "devices/pcio.h"

/* ---- a VM's environment: a settable clock and a captured console ----------------------------- */

#define MAX_LINES 16

static struct env {
	u64 now;
	int nlines;
	char lines[MAX_LINES][UART_LINE_MAX + 1];
} env;

static void fake_line_out(void *ctx, const char *line)
{
	struct env *e = ctx;

	assert_true(e->nlines < MAX_LINES);
	assert_true(strlen(line) <= UART_LINE_MAX);
	strcpy(e->lines[e->nlines++], line);
}

static u64 fake_now(void *ctx)
{
	return ((struct env *)ctx)->now;
}

static struct pcio pc;

static int setup(void **state)
{
	struct pcio_config cfg = { .ram_bytes = 128ULL << 20, .ncpus = 2 };
	struct pcio_ops ops = { fake_line_out, fake_now, &env };

	(void)state;
	memset(&env, 0, sizeof(env));
	env.now = 5000000000ULL; /* not 0, so "time since load" is really a difference */
	pcio_init(&pc, &cfg, &ops);
	return 0;
}

static u32 in(u16 port, int size)
{
	u32 v = 0xdeadbeef;

	assert_int_equal(pcio_access(&pc, port, size, true, &v), PCIO_OK);
	return v;
}

static u8 inb(u16 port)
{
	return (u8)in(port, 1);
}

static enum pcio_result out(u16 port, int size, u32 v)
{
	return pcio_access(&pc, port, size, false, &v);
}

static void outb(u16 port, u8 v)
{
	assert_int_equal(out(port, 1, v), PCIO_OK);
}

static void puts_com1(const char *s)
{
	while (*s)
		outb(0x3f8, (u8)*s++);
}

/* ---- 16550 UART ---------------------------------------------------------------------------- */

static void test_uart_registers(void **state)
{
	(void)state;
	outb(0x3ff, 0x5a);
	assert_int_equal(inb(0x3ff), 0x5a);
	outb(0x3ff, 0xa5);
	assert_int_equal(inb(0x3ff), 0xa5);
	assert_int_equal(inb(0x3fd), 0x60); /* THR empty, transmitter empty, no data */
	/* DLAB: the divisor latch replaces RBR/THR and IER. */
	outb(0x3f9, 0x00);
	outb(0x3fb, 0x80);
	outb(0x3f8, 0x03);
	outb(0x3f9, 0x00);
	assert_int_equal(inb(0x3f8), 0x03);
	assert_int_equal(inb(0x3f9), 0x00);
	outb(0x3fb, 0x03); /* 8N1, DLAB off */
	assert_int_equal(inb(0x3fb), 0x03);
	assert_int_equal(inb(0x3f9), 0x00); /* IER untouched by the divisor writes */
	assert_int_equal(env.nlines, 0);
	assert_int_equal(pc.com1.len, 0); /* divisor bytes were not transmitted */
	outb(0x3fc, 0x0b);
	assert_int_equal(inb(0x3fc), 0x0b);
	assert_int_equal(inb(0x3fe) & 0xb0, 0xb0); /* DCD, DSR, CTS */
}

static void test_uart_iir(void **state)
{
	(void)state;
	assert_int_equal(inb(0x3fa), 0x01); /* no interrupt pending */
	outb(0x3fa, 0x07);                  /* FIFO on */
	assert_int_equal(inb(0x3fa), 0xc1);
	outb(0x3f9, 0x02); /* enable THR empty: pending at once */
	assert_int_equal(inb(0x3fa), 0xc2);
	assert_int_equal(inb(0x3fa), 0xc1); /* reading IIR acknowledged it */
	outb(0x3f8, 'x');
	assert_int_equal(inb(0x3fa), 0xc2); /* THR emptied again */
}

static void test_uart_loopback(void **state)
{
	(void)state;
	outb(0x3fc, 0x1e);                         /* loopback, RTS, OUT1, OUT2 */
	assert_int_equal(inb(0x3fe) & 0xf0, 0xd0); /* CTS, RI, DCD as Linux's probe expects */
	outb(0x3fc, 0x1a);
	assert_int_equal(inb(0x3fe) & 0xf0, 0x90);
	outb(0x3f8, 0xae);
	assert_int_equal(inb(0x3fd), 0x61); /* data ready */
	assert_int_equal(inb(0x3f8), 0xae);
	assert_int_equal(inb(0x3fd), 0x60);
	outb(0x3fc, 0x0f);
	outb(0x3f8, '\n');
	assert_int_equal(env.nlines, 1);
	assert_string_equal(env.lines[0], ""); /* the looped-back byte was not printed */
}

static void test_uart_lines(void **state)
{
	(void)state;
	puts_com1("hello\r\nworld");
	assert_int_equal(env.nlines, 1);
	assert_string_equal(env.lines[0], "hello");
	puts_com1("\x01\x7f\xff!\n\n");
	assert_int_equal(env.nlines, 3);
	assert_string_equal(env.lines[1], "world...!");
	assert_string_equal(env.lines[2], "");
	puts_com1("tail");
	pcio_flush(&pc);
	assert_int_equal(env.nlines, 4);
	assert_string_equal(env.lines[3], "tail");
	pcio_flush(&pc);
	assert_int_equal(env.nlines, 4); /* nothing more to flush */
}

static void test_uart_long_line(void **state)
{
	char want[UART_LINE_MAX + 1];

	(void)state;
	for (int i = 0; i < UART_LINE_MAX + 10; i++)
		outb(0x3f8, (u8)('a' + i % 26));
	outb(0x3f8, '\n');
	assert_int_equal(env.nlines, 2);
	for (int i = 0; i < UART_LINE_MAX; i++)
		want[i] = (char)('a' + i % 26);
	want[UART_LINE_MAX] = '\0';
	assert_string_equal(env.lines[0], want);
	assert_int_equal(strlen(env.lines[1]), 10);
	assert_int_equal(env.lines[1][0], 'a' + UART_LINE_MAX % 26);
	/* Exactly a full line and its '\n': one line, no empty one after it. */
	for (int i = 0; i < UART_LINE_MAX; i++)
		outb(0x3f8, (u8)('a' + i % 26));
	outb(0x3f8, '\n');
	assert_int_equal(env.nlines, 3);
	assert_string_equal(env.lines[2], want);
}

static void test_uart_wide_out(void **state)
{
	(void)state;
	/* A 16-bit OUT to THR writes THR then IER, as QEMU splits it. */
	assert_int_equal(out(0x3f8, 2, 0x0241), PCIO_OK);
	assert_int_equal(pc.com1.len, 1);
	assert_int_equal(pc.com1.line[0], 'A');
	assert_int_equal(inb(0x3f9), 0x02);
}

/* ---- exit ports ---------------------------------------------------------------------------- */

static void test_debug_exit(void **state)
{
	(void)state;
	assert_int_equal(in(0xf4, 1), 0xff);
	assert_int_equal(in(0xf4, 4), 0xffffffff);
	assert_false(pc.exited);
	assert_int_equal(out(0xf4, 4, 1), PCIO_EXIT);
	assert_true(pc.exited);
	assert_int_equal(pc.exit_code, 1);
	assert_string_equal(pc.exit_how, "isa-debug-exit value 0x1 (QEMU exits with status 3)");
	/* A later request does not overwrite the first. */
	assert_int_equal(out(0xf4, 1, 0x10), PCIO_EXIT);
	assert_int_equal(pc.exit_code, 1);
}

static void test_debug_exit_wide_value(void **state)
{
	(void)state;
	assert_int_equal(out(0xf4, 4, 0x12345678), PCIO_EXIT);
	assert_int_equal(pc.exit_code, 0x12345678);
	assert_int_equal(debug_exit_status(0x10), 0x21);
	assert_string_equal(pc.exit_how,
	                    "isa-debug-exit value 0x12345678 (QEMU exits with status 241)");
}

static void test_shutdown_port(void **state)
{
	const char *s;

	(void)state;
	for (s = "ShutXShutdow"; *s; s++)
		outb(0x8900, (u8)*s);
	assert_false(pc.exited);
	for (s = "SShutdow"; *s; s++) /* the repeated 'S' restarts the match */
		outb(0x8900, (u8)*s);
	assert_int_equal(out(0x8900, 1, 'n'), PCIO_EXIT);
	assert_true(pc.exited);
	assert_int_equal(pc.exit_code, 0);
	assert_string_equal(pc.exit_how, "port 0x8900 \"Shutdown\"");
}

static void test_resets(void **state)
{
	(void)state;
	assert_int_equal(inb(0x64), 0x1c); /* SYS, last write a command, not inhibited */
	outb(0x64, 0xad);                  /* other commands do not reset */
	outb(0x64, 0xff);
	assert_false(pc.exited);
	assert_int_equal(out(0x64, 1, 0xfe), PCIO_EXIT);
	assert_string_equal(pc.exit_how, "keyboard-controller reset (0xFE to port 0x64)");

	setup(NULL); /* the output port's reset bit written low */
	outb(0x64, 0xd1);
	assert_int_equal(out(0x60, 1, 0xde), PCIO_EXIT);
	assert_non_null(strstr(pc.exit_how, "output port"));

	setup(NULL); /* the PIIX's reset control register */
	outb(0xcf9, 0x02);
	assert_int_equal(inb(0xcf9), 0x02);
	assert_false(pc.exited);
	assert_int_equal(out(0xcf9, 1, 0x06), PCIO_EXIT);
	assert_string_equal(pc.exit_how, "PCI reset control (bit 2 written to port 0xcf9)");

	setup(NULL);
	assert_int_equal(inb(0x92), 0x02); /* A20 on */
	outb(0x92, 0x02);
	assert_false(pc.exited);
	assert_int_equal(out(0x92, 1, 0x03), PCIO_EXIT);
	assert_int_equal(pc.exit_code, 0);
	assert_non_null(strstr(pc.exit_how, "0x92"));
}

/* ---- fw_cfg -------------------------------------------------------------------------------- */

static void fwcfg_item(u16 key, u8 *buf, int n)
{
	assert_int_equal(out(0x510, 2, key), PCIO_OK);
	for (int i = 0; i < n; i++)
		buf[i] = inb(0x511);
}

static u64 le(const u8 *b, int n)
{
	u64 v = 0;

	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | b[i];
	return v;
}

static void test_fwcfg(void **state)
{
	u8 b[20];

	(void)state;
	fwcfg_item(0x00, b, 6);
	assert_memory_equal(b, "QEMU\0\0", 6); /* past the end reads 0 */
	fwcfg_item(0x01, b, 4);
	assert_int_equal(le(b, 4), 1); /* traditional interface, no DMA */
	fwcfg_item(0x03, b, 8);
	assert_int_equal(le(b, 8), 128ULL << 20);
	fwcfg_item(0x05, b, 2);
	assert_int_equal(le(b, 2), 2);
	fwcfg_item(0x0f, b, 2);
	assert_int_equal(le(b, 2), 2);
	fwcfg_item(0x04, b, 2);
	assert_int_equal(le(b, 2), 1);
	memset(b, 0xaa, sizeof(b));
	fwcfg_item(0x02, b, 17);
	for (int i = 0; i < 17; i++)
		assert_int_equal(b[i], 0);
	memset(b, 0xaa, sizeof(b));
	fwcfg_item(0x19, b, 4); /* FILE_DIR: zero files */
	assert_int_equal(le(b, 4), 0);
	memset(b, 0xaa, sizeof(b));
	fwcfg_item(0x1234, b, 4); /* no such item */
	assert_int_equal(le(b, 4), 0);
	fwcfg_item(0x8000, b, 4); /* arch-local item 0 is not the signature */
	assert_int_equal(le(b, 4), 0);
}

static void test_fwcfg_reselect_and_writes(void **state)
{
	u8 b[4];

	(void)state;
	fwcfg_item(0x00, b, 2);
	outb(0x511, 0x99); /* data writes are ignored */
	assert_int_equal(inb(0x511), 'M');
	fwcfg_item(0x00, b, 4); /* selecting again restarts at offset 0 */
	assert_memory_equal(b, "QEMU", 4);
	fwcfg_item(0x4000, b, 4); /* the write-channel bit is masked off the key */
	assert_memory_equal(b, "QEMU", 4);
	assert_int_equal(in(0x514, 4), 0xffffffff); /* no DMA port */
	assert_int_equal(pcio_unknown_total(&pc), 1);
}

/* ---- 8259 PICs ----------------------------------------------------------------------------- */

static void pic_remap(u8 mbase, u8 sbase)
{
	outb(0x20, 0x11);
	outb(0xa0, 0x11);
	outb(0x21, mbase);
	outb(0xa1, sbase);
	outb(0x21, 0x04);
	outb(0xa1, 0x02);
	outb(0x21, 0x01);
	outb(0xa1, 0x01);
}

static void test_pic(void **state)
{
	(void)state;
	assert_int_equal(inb(0x21), 0xff); /* masked as firmware leaves it */
	pic_remap(0x20, 0x28);
	assert_int_equal(pc.pic[0].irq_base, 0x20);
	assert_int_equal(pc.pic[1].irq_base, 0x28);
	assert_int_equal(pc.pic[0].init_state, 0);
	assert_int_equal(inb(0x21), 0x00); /* ICW1 clears the mask, as on QEMU */
	outb(0x21, 0xfb);
	outb(0xa1, 0xff);
	assert_int_equal(inb(0x21), 0xfb);
	assert_int_equal(inb(0xa1), 0xff);
	outb(0x20, 0x20); /* EOI */
	outb(0x20, 0x0b); /* OCW3: read ISR */
	assert_int_equal(inb(0x20), 0x00);
	outb(0x20, 0x0a); /* OCW3: read IRR */
	assert_int_equal(inb(0x20), 0x00);
	assert_int_equal(inb(0x21), 0xfb); /* neither touched the mask */
	/* Single mode without ICW4: ICW2 ends the sequence; the next data write is a mask. */
	outb(0xa0, 0x12);
	outb(0xa1, 0x70);
	outb(0xa1, 0x5a);
	assert_int_equal(pc.pic[1].irq_base, 0x70);
	assert_int_equal(inb(0xa1), 0x5a);
	assert_int_equal(pcio_unknown_total(&pc), 0);
}

/* The PIC pair as Linux's init_8259A leaves it (bases 0x20/0x28), every IRQ masked but
 * the ones in unmask (bit n: IRQ n, 0-15); the cascade IRQ 2 is unmasked with any slave IRQ. */
static void pic_setup(u16 unmask)
{
	if (unmask & 0xff00)
		unmask |= 1u << 2;
	pic_remap(0x20, 0x28);
	outb(0x21, (u8)~unmask);
	outb(0xa1, (u8) ~(unmask >> 8));
}

static u8 pic_reg(u16 port, u8 ocw3)
{
	outb(port, ocw3);
	return inb(port);
}

#define ISR(port) pic_reg(port, 0x0b)
#define IRR(port) pic_reg(port, 0x0a)

static void pic_edge(int irq)
{
	pic_set_irq(pc.pic, irq, true);
	pic_set_irq(pc.pic, irq, false);
}

static void test_pic_irq_ack_eoi(void **state)
{
	(void)state;
	pic_setup(0x0001);
	assert_int_equal(pic_pending_vector(pc.pic), -1);
	pic_set_irq(pc.pic, 0, true);
	assert_int_equal(IRR(0x20), 0x01);
	assert_int_equal(pic_pending_vector(pc.pic), 0x20);
	assert_int_equal(pic_pending_vector(pc.pic), 0x20); /* asking changes nothing */
	assert_int_equal(pic_ack(pc.pic), 0x20);
	assert_int_equal(ISR(0x20), 0x01);
	assert_int_equal(IRR(0x20), 0x00); /* the edge's request is consumed */
	/* A held level is no new edge; a new edge while in service waits for the EOI. */
	pic_set_irq(pc.pic, 0, true);
	assert_int_equal(pic_pending_vector(pc.pic), -1);
	pic_set_irq(pc.pic, 0, false);
	pic_set_irq(pc.pic, 0, true);
	assert_int_equal(IRR(0x20), 0x01);
	assert_int_equal(pic_pending_vector(pc.pic), -1);
	outb(0x20, 0x20); /* non-specific EOI */
	assert_int_equal(ISR(0x20), 0x00);
	assert_int_equal(pic_pending_vector(pc.pic), 0x20);
	assert_int_equal(pic_ack(pc.pic), 0x20);
	outb(0x20, 0x60); /* specific EOI of IRQ 0 */
	assert_int_equal(ISR(0x20), 0x00);
	assert_int_equal(pic_pending_vector(pc.pic), -1);
}

static void test_pic_masked(void **state)
{
	(void)state;
	pic_setup(0x0001);
	pic_edge(1);
	assert_int_equal(IRR(0x20), 0x02); /* latched even while masked */
	assert_int_equal(pic_pending_vector(pc.pic), -1);
	outb(0x21, 0xfc); /* unmask IRQ 1: the latched request is presented */
	assert_int_equal(pic_pending_vector(pc.pic), 0x21);
	pic_set_irq(pc.pic, 2, true); /* the cascade input is not a device line */
	pic_set_irq(pc.pic, 16, true);
	pic_set_irq(pc.pic, -1, true);
	assert_int_equal(IRR(0x20), 0x02);
}

static void test_pic_priority(void **state)
{
	(void)state;
	pic_setup(0x000b); /* IRQs 0, 1, 3 */
	pic_edge(1);
	assert_int_equal(pic_ack(pc.pic), 0x21);
	pic_edge(3);
	assert_int_equal(pic_pending_vector(pc.pic), -1); /* IRQ 1 in service blocks IRQ 3 */
	pic_edge(0);
	assert_int_equal(pic_pending_vector(pc.pic), 0x20); /* but not IRQ 0 */
	assert_int_equal(pic_ack(pc.pic), 0x20);
	assert_int_equal(ISR(0x20), 0x03);
	outb(0x20, 0x20); /* the highest-priority in-service IRQ: 0 */
	assert_int_equal(ISR(0x20), 0x02);
	assert_int_equal(pic_pending_vector(pc.pic), -1);
	outb(0x20, 0x20);
	assert_int_equal(pic_pending_vector(pc.pic), 0x23);
	/* Special mask mode: masking the in-service IRQ lets lower ones through. */
	assert_int_equal(pic_ack(pc.pic), 0x23);
	pic_edge(3);
	outb(0x20, 0x68); /* OCW3: set special mask mode */
	outb(0x21, 0xfd);
	pic_edge(1);
	assert_int_equal(pic_pending_vector(pc.pic), 0x21);
	outb(0x20, 0x48); /* clear it: IRQ 3 in service blocks again... */
	outb(0x21, 0xf5);
	assert_int_equal(pic_pending_vector(pc.pic), 0x21); /* ...but not IRQ 1 */
}

static void test_pic_slave(void **state)
{
	(void)state;
	pic_setup(0x0100);
	pic_edge(8);
	assert_int_equal(IRR(0xa0), 0x01);
	assert_int_equal(IRR(0x20), 0x04); /* the slave's output on the cascade */
	assert_int_equal(pic_pending_vector(pc.pic), 0x28);
	assert_int_equal(pic_ack(pc.pic), 0x28);
	assert_int_equal(ISR(0xa0), 0x01);
	assert_int_equal(ISR(0x20), 0x04);
	pic_edge(8);
	outb(0xa0, 0x20); /* slave EOI only: master IRQ 2 still in service */
	assert_int_equal(pic_pending_vector(pc.pic), -1);
	outb(0x20, 0x20);
	assert_int_equal(pic_pending_vector(pc.pic), 0x28);
	assert_int_equal(pic_ack(pc.pic), 0x28);
	outb(0x20, 0x20); /* EOIs in the other order */
	assert_int_equal(pic_pending_vector(pc.pic), -1);
	outb(0xa0, 0x60); /* specific EOI of slave IRQ 0 */
	assert_int_equal(ISR(0xa0) | ISR(0x20), 0);
	assert_int_equal(pic_pending_vector(pc.pic), -1);
	/* Two slave requests: the INTA of the first drops the slave's output (IRQ 9 waits
	 * behind IRQ 8), so its EOI raises it again: a new edge on master IRQ 2. */
	outb(0xa1, 0xfc);
	pic_edge(8);
	pic_edge(9);
	assert_int_equal(pic_ack(pc.pic), 0x28);
	outb(0xa0, 0x20);
	outb(0x20, 0x20);
	assert_int_equal(pic_ack(pc.pic), 0x29);
	outb(0xa0, 0x20);
	outb(0x20, 0x20);
	assert_int_equal(pic_pending_vector(pc.pic), -1);
	/* A masked slave IRQ does not reach the master either. */
	outb(0xa1, 0xff);
	pic_edge(9);
	assert_int_equal(IRR(0x20), 0x00);
	assert_int_equal(pic_pending_vector(pc.pic), -1);
}

static void test_pic_spurious_and_poll(void **state)
{
	(void)state;
	pic_setup(0x0101);
	assert_int_equal(pic_ack(pc.pic), 0x27); /* nothing pending: master IRQ 7 */
	assert_int_equal(ISR(0x20), 0x00);
	/* The slave's request went away after the master latched IRQ 2: slave IRQ 7. */
	pic_edge(8);
	outb(0xa1, 0xff);
	assert_int_equal(pic_pending_vector(pc.pic), 0x2f);
	assert_int_equal(pic_ack(pc.pic), 0x2f);
	assert_int_equal(ISR(0xa0), 0x00);
	assert_int_equal(ISR(0x20), 0x04); /* the master did take IRQ 2 */
	outb(0x20, 0x20);
	/* Poll command: the read is the INTA. */
	pic_edge(0);
	outb(0x20, 0x0c);
	assert_int_equal(inb(0x20), 0x80);
	assert_int_equal(ISR(0x20), 0x01);
	outb(0x20, 0x0c);
	assert_int_equal(inb(0x20), 0x00);
	outb(0x20, 0x20);
	/* Auto-EOI (ICW4 bit 1): the INTA leaves nothing in service. */
	outb(0x20, 0x11);
	outb(0x21, 0x20);
	outb(0x21, 0x04);
	outb(0x21, 0x03);
	outb(0x21, 0xfe);
	pic_edge(0);
	assert_int_equal(pic_ack(pc.pic), 0x20);
	assert_int_equal(ISR(0x20), 0x00);
}

static void test_elcr(void **state)
{
	(void)state;
	outb(0x4d0, 0xff);
	outb(0x4d1, 0xff);
	assert_int_equal(inb(0x4d0), 0xf8); /* IRQs 0-2 are edge-only */
	assert_int_equal(inb(0x4d1), 0xde); /* IRQs 8 and 13 too */
	pic_remap(0x20, 0x28);
	assert_int_equal(inb(0x4d0), 0xf8); /* ICW1 leaves the ELCR alone */
}

/* ---- 8254 PIT and port 0x61 ---------------------------------------------------------------- */

#define NS(ticks) ((u64)(ticks)*1000000000ULL / PIT_FREQ_HZ)

static void test_pit_ticks(void **state)
{
	(void)state;
	assert_int_equal(pit_ns_to_ticks(1000000000ULL), PIT_FREQ_HZ);
	assert_int_equal(pit_ns_to_ticks(838), 0);
	assert_int_equal(pit_ns_to_ticks(839), 1); /* one tick is 838.1 ns */
	/* No overflow far beyond the 4 hours a naive ns * freq would allow. */
	assert_int_equal(pit_ns_to_ticks(1000000000ULL * 86400 * 365), PIT_FREQ_HZ * 86400 * 365);
}

/* Linux's pit_calibrate_tsc: gate on, speaker off, channel 2 mode 0, count 'count'. */
static void pit_ch2_oneshot(u16 count)
{
	outb(0x61, (u8)((inb(0x61) & ~0x02) | 0x01));
	outb(0x43, 0xb0);
	outb(0x42, (u8)count);
	outb(0x42, (u8)(count >> 8));
}

static void test_pit_ch2_mode0(void **state)
{
	u64 t0;

	(void)state;
	assert_int_equal(inb(0x61) & 0x01, 0); /* channel 2's gate starts low */
	pit_ch2_oneshot(11932);
	t0 = env.now;
	assert_int_equal(inb(0x61) & 0x21, 0x01);
	/* Just before the count runs out OUT is low, and high from the tick it does. */
	env.now = t0 + NS(11932) - 1;
	assert_int_equal(pit_count(&pc.pit.ch[2], env.now), 1);
	assert_int_equal(inb(0x61) & 0x20, 0);
	env.now = t0 + NS(11932) + 1;
	assert_int_equal(pit_count(&pc.pit.ch[2], env.now), 0);
	assert_int_equal(inb(0x61) & 0x20, 0x20);
	env.now = t0 + 1000000000ULL;
	assert_int_equal(inb(0x61) & 0x20, 0x20); /* stays high */
	/* Reloading drops it again. */
	pit_ch2_oneshot(100);
	assert_int_equal(inb(0x61) & 0x20, 0);
}

static void test_pit_port61_bits(void **state)
{
	u8 a, b;

	(void)state;
	outb(0x61, 0x03);
	a = inb(0x61);
	b = inb(0x61);
	assert_int_equal(a & 0x03, 0x03);
	assert_int_equal((a ^ b) & 0x10, 0x10); /* the refresh bit toggles */
	outb(0x61, 0x00);
	assert_int_equal(inb(0x61) & 0x03, 0);
}

static void test_pit_latch(void **state)
{
	u64 t0;
	u8 lo, hi;

	(void)state;
	outb(0x43, 0x34); /* channel 0, lo/hi, mode 2 */
	outb(0x40, 0x00);
	outb(0x40, 0x10); /* 0x1000 */
	t0 = env.now;
	env.now = t0 + NS(0x100) + 1;
	outb(0x43, 0x00); /* latch channel 0 */
	env.now = t0 + NS(0x300) + 1;
	lo = inb(0x40);
	hi = inb(0x40);
	assert_int_equal(hi << 8 | lo, 0x1000 - 0x100);
	/* Unlatched, the count is live. */
	lo = inb(0x40);
	hi = inb(0x40);
	assert_int_equal(hi << 8 | lo, 0x1000 - 0x300);
	/* Mode 2 wraps: after 0x1000 + 5 ticks the count is 0x1000 - 5. */
	env.now = t0 + NS(0x1005) + 1;
	lo = inb(0x40);
	hi = inb(0x40);
	assert_int_equal(hi << 8 | lo, 0x1000 - 5);
	assert_int_equal(inb(0x43), 0); /* control word is write-only */
}

static void test_pit_lobyte_only(void **state)
{
	(void)state;
	outb(0x43, 0x90); /* channel 2, lobyte only, mode 0 */
	outb(0x42, 50);
	env.now += NS(20) + 1;
	assert_int_equal(inb(0x42), 30);
	assert_int_equal(inb(0x42), 30); /* no hi byte in between */
}

static void test_pit_readback(void **state)
{
	u64 t0;
	u8 lo, hi;

	(void)state;
	pit_ch2_oneshot(1000);
	t0 = env.now;
	env.now = t0 + NS(400) + 1;
	outb(0x43, 0xc8); /* read-back: count and status of channel 2 */
	env.now = t0 + NS(2000) + 1;
	assert_int_equal(inb(0x42), 0x30); /* status first: OUT low, lo/hi, mode 0, binary */
	lo = inb(0x42);
	hi = inb(0x42);
	assert_int_equal(hi << 8 | lo, 600);
	outb(0x43, 0xe8); /* status only, now: OUT has gone high */
	assert_int_equal(inb(0x42), 0xb0);
	/* A second latch before the first is read is ignored. */
	outb(0x43, 0x80);
	env.now += NS(100);
	outb(0x43, 0x80);
	assert_int_equal(pc.pit.ch[2].latched_count, (u16)(1000 - 2000));
}

static void test_pit_mode3_out(void **state)
{
	(void)state;
	/* Channel 0 after reset: mode 3, count 0x10000, square wave. */
	assert_true(pit_out(&pc.pit.ch[0], env.now));
	assert_true(pit_out(&pc.pit.ch[0], env.now + NS(0x7fff) + 1));
	assert_false(pit_out(&pc.pit.ch[0], env.now + NS(0x8000) + 1));
	assert_true(pit_out(&pc.pit.ch[0], env.now + NS(0x10000) + 1));
}

/* Channel 0 in mode (0, 2 or 3) with count, lo/hi bytes, at env.now. */
static void pit_ch0(int mode, u16 count)
{
	outb(0x43, (u8)(0x30 | mode << 1));
	outb(0x40, (u8)count);
	outb(0x40, (u8)(count >> 8));
}

static void test_pit_ticks_to_ns(void **state)
{
	static const u64 ticks[] = { 0,           1,
		                     2,           1193,
		                     65536,       PIT_FREQ_HZ - 1,
		                     PIT_FREQ_HZ, PIT_FREQ_HZ * 86400 * 365 + 12345 };

	(void)state;
	for (size_t i = 0; i < sizeof(ticks) / sizeof(ticks[0]); i++) {
		u64 ns = pit_ticks_to_ns(ticks[i]);

		assert_int_equal(pit_ns_to_ticks(ns), ticks[i]);
		if (ns)
			assert_int_equal(pit_ns_to_ticks(ns - 1), ticks[i] - 1);
	}
}

/* Modes 2 and 3 rise at every period boundary, exactly where OUT goes high. */
static void test_pit_irq_periodic(void **state)
{
	(void)state;
	for (int mode = 2; mode <= 3; mode++) {
		u64 t0 = env.now, e1 = t0 + pit_ticks_to_ns(1193);

		pit_ch0(mode, 1193); /* ~1 ms */
		assert_int_equal(pit_irq_next(&pc.pit, t0), e1);
		assert_int_equal(pit_irq_next(&pc.pit, t0 - 1000000), e1);
		assert_int_equal(pit_irq_next(&pc.pit, e1 - 1), e1);
		assert_int_equal(pit_irq_next(&pc.pit, e1), t0 + pit_ticks_to_ns(2 * 1193));
		assert_int_equal(pit_irq_next(&pc.pit, t0 + pit_ticks_to_ns(1000 * 1193) - 1),
		                 t0 + pit_ticks_to_ns(1000 * 1193));
		assert_false(pit_out(&pc.pit.ch[0], e1 - 1));
		assert_true(pit_out(&pc.pit.ch[0], e1));
		env.now += 1000000000ULL;
	}
	/* A count of 0 is 65536: 18.2 Hz, the power-on rate. */
	pit_ch0(2, 0);
	assert_int_equal(pit_irq_next(&pc.pit, env.now), env.now + pit_ticks_to_ns(65536));
	pit_ch0(2, 1); /* illegal in mode 2: no edges */
	assert_int_equal(pit_irq_next(&pc.pit, env.now), 0);
}

static void test_pit_irq_oneshot(void **state)
{
	u64 t0 = env.now, e = t0 + pit_ticks_to_ns(500);

	(void)state;
	pit_ch0(0, 500);
	assert_int_equal(pit_irq_next(&pc.pit, t0), e);
	assert_int_equal(pit_irq_next(&pc.pit, e - 1), e);
	assert_int_equal(pit_irq_next(&pc.pit, e), 0); /* a single edge */
	/* Mode 4: OUT strobes low at the terminal count and rises one tick later. */
	pit_ch0(4, 500);
	assert_int_equal(pit_irq_next(&pc.pit, t0), t0 + pit_ticks_to_ns(501));
	assert_int_equal(pit_irq_next(&pc.pit, t0 + pit_ticks_to_ns(501)), 0);
	pit_ch0(1, 500); /* mode 1's OUT only falls (as QEMU) */
	assert_int_equal(pit_irq_next(&pc.pit, t0), 0);
}

static void test_pit_irq_reprogram(void **state)
{
	u64 t0 = env.now, t1;

	(void)state;
	/* Power-on: mode 3, count 65536, counting since pcio_init. */
	assert_int_equal(pit_irq_next(&pc.pit, t0), t0 + pit_ticks_to_ns(65536));
	pit_ch0(2, 1193);
	env.now += pit_ticks_to_ns(1000);
	t1 = env.now;
	pit_ch0(2, 1193); /* mid-period: the period restarts at the write */
	assert_int_equal(pit_irq_next(&pc.pit, t1), t1 + pit_ticks_to_ns(1193));
	/* The control word alone changes the mode, not the count or its start (as QEMU). */
	outb(0x43, 0x30);
	assert_int_equal(pit_irq_next(&pc.pit, t1), t1 + pit_ticks_to_ns(1193));
	assert_int_equal(pit_irq_next(&pc.pit, t1 + pit_ticks_to_ns(1193)), 0);
}

/* ---- PIT channel 0 -> IRQ 0 -> PIC, through pcio -------------------------------------------- */

static int poll_at(u64 now, u64 *next)
{
	env.now = now;
	return pcio_pic_poll(&pc, now, next);
}

static void test_pcio_pic_poll(void **state)
{
	u64 t0, e1, next;

	(void)state;
	pic_setup(0x0001);
	t0 = env.now;
	pit_ch0(2, 1193);
	e1 = t0 + pit_ticks_to_ns(1193);
	assert_int_equal(poll_at(t0, &next), -1);
	assert_int_equal(next, e1);
	assert_int_equal(poll_at(e1 - 1, &next), -1); /* no IRQ before the first edge */
	assert_int_equal(next, e1);
	assert_int_equal(poll_at(e1, &next), 0x20);
	assert_int_equal(next, 0); /* IRQ 0 already requested: another edge adds nothing */
	assert_int_equal(pcio_pic_ack(&pc), 0x20);
	assert_int_equal(poll_at(e1 + 1, &next), -1); /* in service until the EOI */
	assert_int_equal(next, t0 + pit_ticks_to_ns(2 * 1193));
	outb(0x20, 0x20);
	/* Five periods late: one IRQ, not five. */
	assert_int_equal(poll_at(t0 + pit_ticks_to_ns(6 * 1193), &next), 0x20);
	assert_int_equal(pcio_pic_ack(&pc), 0x20);
	outb(0x20, 0x20);
	assert_int_equal(poll_at(t0 + pit_ticks_to_ns(7 * 1193) - 1, &next), -1);
	assert_int_equal(next, t0 + pit_ticks_to_ns(7 * 1193));
	/* A clock that goes back delivers nothing and loses nothing. */
	assert_int_equal(poll_at(t0, &next), -1);
	assert_int_equal(poll_at(t0 + pit_ticks_to_ns(7 * 1193), &next), 0x20);
}

static void test_pcio_pic_poll_masked(void **state)
{
	u64 t0, next;

	(void)state;
	pic_setup(0x0000);
	t0 = env.now;
	pit_ch0(2, 1193);
	assert_int_equal(poll_at(t0 + pit_ticks_to_ns(1193), &next), -1);
	assert_int_equal(next, 0); /* masked: no edge would wake the CPU */
	outb(0x21, 0xfe);          /* unmasking presents the edge latched meanwhile */
	assert_int_equal(poll_at(env.now, &next), 0x20);
}

static void test_pcio_pit_edges_before_access(void **state)
{
	u64 t0 = env.now;

	(void)state;
	pic_setup(0x0001);
	pit_ch0(3, 1193);
	/* An IRR read sees the edge without a poll... */
	env.now = t0 + pit_ticks_to_ns(1193);
	assert_int_equal(IRR(0x20), 0x01);
	assert_int_equal(pcio_pic_ack(&pc), 0x20);
	outb(0x20, 0x20);
	/* ...and reprogramming delivers the old programming's edges first. */
	env.now = t0 + pit_ticks_to_ns(2 * 1193);
	pit_ch0(3, 5000);
	assert_int_equal(IRR(0x20), 0x01);
}

/* ---- RTC/CMOS and the ignored ports -----------------------------------------------------------
 */

static u8 cmos(u8 reg)
{
	outb(0x70, reg);
	return inb(0x71);
}

/* A little-endian CMOS value of n bytes from reg up. */
static u32 cmos_le(u8 reg, int n)
{
	u32 v = 0;

	for (int i = 0; i < n; i++)
		v |= (u32)cmos((u8)(reg + i)) << (8 * i);
	return v;
}

static void test_cmos(void **state)
{
	(void)state;
	assert_int_equal(cmos(0x0a) & 0x80, 0); /* no update in progress */
	assert_int_equal(cmos(0x0b), 0x02);     /* 24-hour BCD */
	assert_int_equal(cmos(0x0d), 0x80);
	assert_int_equal(cmos(0x09), 0x00); /* 2000-01-01, a Saturday */
	assert_int_equal(cmos(0x32), 0x20);
	assert_int_equal(cmos(0x08), 0x01);
	assert_int_equal(cmos(0x07), 0x01);
	assert_int_equal(cmos(0x06), 7);
	env.now += (13 * 3600 + 59 * 60 + 58) * 1000000000ULL;
	assert_int_equal(cmos(0x04), 0x13);
	assert_int_equal(cmos(0x02), 0x59);
	assert_int_equal(cmos(0x00), 0x58);
	outb(0x70, 0x0b);
	outb(0x71, 0x04);                   /* binary, 12-hour */
	assert_int_equal(cmos(0x04), 0x81); /* 1 pm */
	assert_int_equal(cmos(0x02), 59);
	/* Memory: 640 KiB base, extended (127 MiB) capped at 0xffff KiB, (128-16) MiB in
	 * 64 KiB units, one extra CPU. */
	assert_int_equal(cmos_le(0x15, 2), 640);
	assert_int_equal(cmos_le(0x17, 2), 0xffff);
	assert_int_equal(cmos_le(0x30, 2), 0xffff);
	assert_int_equal(cmos_le(0x34, 2), 112 * 16);
	assert_int_equal(cmos(0x5f), 1);
	outb(0x70, 0x8f); /* NMI mask bit does not select a register */
	outb(0x71, 0x42);
	assert_int_equal(cmos(0x0f), 0x42);
	assert_int_equal(inb(0x70), 0xff);
	assert_int_equal(pcio_unknown_total(&pc), 0);
}

static void test_cmos_start_time(void **state)
{
	struct pcio_config cfg = { .ram_bytes = 8ULL << 30,
		                   .ncpus = 1,
		                   .rtc_start_unix = 1709251199 }; /* 2024-02-29 23:59:59 */
	struct pcio_ops ops = { fake_line_out, fake_now, &env };

	(void)state;
	pcio_init(&pc, &cfg, &ops);
	assert_int_equal(cmos(0x07), 0x29);
	assert_int_equal(cmos(0x08), 0x02);
	assert_int_equal(cmos(0x06), 5); /* Thursday */
	env.now += 1000000000ULL;
	assert_int_equal(cmos(0x07), 0x01);
	assert_int_equal(cmos(0x08), 0x03);
	assert_int_equal(cmos(0x09), 0x24);
	/* 8 GiB: 3 GiB below 4 GiB, 5 GiB above in 64 KiB units. */
	assert_int_equal(cmos_le(0x5b, 3), 5 * 16384);
	assert_int_equal(cmos_le(0x34, 2), (3072 - 16) * 16);
}

static void test_ignored_ports(void **state)
{
	(void)state;
	outb(0x80, 0x12);
	assert_int_equal(inb(0x60), 0);
	assert_int_equal(inb(0x92), 0x02);
	assert_int_equal(pcio_unknown_total(&pc), 0);
	assert_false(pc.exited);
}

/* ---- unknown ports ------------------------------------------------------------------------- */

static void test_unknown_ports(void **state)
{
	u16 ports[4];
	u64 reads[4], writes[4];

	(void)state;
	assert_int_equal(in(0x2f8, 1), 0xff); /* COM2 is absent */
	assert_int_equal(in(0x3e8, 2), 0xffff);
	assert_int_equal(in(0xcfc, 4), 0xffffffff); /* PCI ports are known, not counted */
	assert_int_equal(out(0x2e8, 4, 0x80000000), PCIO_OK);
	assert_int_equal(in(0x2f8, 4), 0xffffffff);
	assert_int_equal(pcio_unknown_ports(&pc, ports, reads, writes, 4), 3);
	assert_int_equal(ports[0], 0x2f8);
	assert_int_equal(reads[0], 2);
	assert_int_equal(writes[0], 0);
	assert_int_equal(ports[1], 0x3e8);
	assert_int_equal(reads[1], 1);
	assert_int_equal(ports[2], 0x2e8);
	assert_int_equal(reads[2], 0);
	assert_int_equal(writes[2], 1);
	assert_int_equal(pcio_unknown_ports(&pc, ports, reads, writes, 1), 1);
	assert_int_equal(pcio_unknown_total(&pc), 4);
}

static void test_unknown_overflow(void **state)
{
	u16 ports[PCIO_UNKNOWN_SLOTS + 1];
	u64 reads[PCIO_UNKNOWN_SLOTS + 1], writes[PCIO_UNKNOWN_SLOTS + 1];

	(void)state;
	for (int i = 0; i < PCIO_UNKNOWN_SLOTS + 5; i++)
		assert_int_equal(out((u16)(0x1000 + i), 1, 0), PCIO_OK);
	in(0x1000, 1); /* a port in the table is still counted there */
	assert_int_equal(pcio_unknown_ports(&pc, ports, reads, writes, PCIO_UNKNOWN_SLOTS + 1),
	                 PCIO_UNKNOWN_SLOTS);
	assert_int_equal(ports[PCIO_UNKNOWN_SLOTS - 1], 0x1000 + PCIO_UNKNOWN_SLOTS - 1);
	assert_int_equal(reads[0], 1);
	assert_int_equal(writes[0], 1);
	assert_int_equal(pc.unknown_overflow, 5);
	assert_int_equal(pcio_unknown_total(&pc), PCIO_UNKNOWN_SLOTS + 6);
}

static void test_bad_size(void **state)
{
	u32 v = 0x1234;

	(void)state;
	assert_int_equal(pcio_access(&pc, 0xf4, 3, false, &v), PCIO_OK);
	assert_false(pc.exited);
	assert_int_equal(pcio_unknown_total(&pc), 0);
}

/* ---- CPUID --------------------------------------------------------------------------------- */

static const struct cpuid_regs4 ones = { ~0u, ~0u, ~0u, ~0u };

static struct cpuid_regs4 view(u32 leaf, u32 subleaf, struct cpuid_regs4 host, u32 id, u32 n)
{
	struct cpuid_guest g = { .apic_id = id, .ncpus = n };

	return cpuid_guest_view(leaf, subleaf, host, &g);
}

static void test_cpuid_leaf1(void **state)
{
	static const int ecx_hidden[] = { 3, 5, 6, 15, 17, 21, 24, 26, 27, 28, 29, 12 };
	static const int ecx_kept[] = { 0, 1, 9, 13, 19, 20, 23, 25, 30 };
	struct cpuid_regs4 host = { 0x000906ea, 0x00100800, 0, 0 };
	struct cpuid_regs4 r;

	(void)state;
	host.ecx = ~0u & ~(u32)BIT(31);
	host.edx = ~0u;
	r = view(1, 0, host, 3, 4);
	for (size_t i = 0; i < ARRAY_SIZE(ecx_hidden); i++)
		assert_int_equal(r.ecx & BIT(ecx_hidden[i]), 0);
	for (size_t i = 0; i < ARRAY_SIZE(ecx_kept); i++)
		assert_int_not_equal(r.ecx & BIT(ecx_kept[i]), 0);
	assert_int_not_equal(r.ecx & BIT(31), 0); /* hypervisor present */
	assert_int_not_equal(r.edx & BIT(9), 0);  /* APIC */
	assert_int_not_equal(r.edx & BIT(28), 0); /* HTT: more than one CPU */
	assert_int_equal(r.edx & (BIT(22) | BIT(29) | BIT(31)), 0);
	assert_int_equal(r.eax, 0x000906ea);
	assert_int_equal(r.ebx >> 24, 3);
	assert_int_equal((r.ebx >> 16) & 0xff, 4);
	assert_int_equal(r.ebx & 0xffff, 0x0800); /* CLFLUSH line size kept */
	r = view(1, 0, host, 0, 1);
	assert_int_equal(r.edx & BIT(28), 0);
	assert_int_equal(r.ebx >> 16, 0x0001);
}

static void test_cpuid_leaf7(void **state)
{
	static const int ebx_hidden[] = { 2, 4, 5, 10, 11, 14, 16, 17, 21, 25, 26, 27, 28, 30, 31 };
	static const int ebx_kept[] = { 0, 3, 7, 8, 9, 18, 19, 20, 23, 24, 29 };
	static const int ecx_hidden[] = {
		3, 4, 5, 7, 9, 10, 16, 22
	}; /* 16: LA57 (no 5-level walk) */
	struct cpuid_regs4 r = view(7, 0, ones, 0, 1);

	(void)state;
	assert_int_equal(r.eax, 0);
	for (size_t i = 0; i < ARRAY_SIZE(ebx_hidden); i++)
		assert_int_equal(r.ebx & BIT(ebx_hidden[i]), 0);
	for (size_t i = 0; i < ARRAY_SIZE(ebx_kept); i++)
		assert_int_not_equal(r.ebx & BIT(ebx_kept[i]), 0);
	for (size_t i = 0; i < ARRAY_SIZE(ecx_hidden); i++)
		assert_int_equal(r.ecx & BIT(ecx_hidden[i]), 0);
	assert_int_not_equal(r.ecx & BIT(2), 0);                    /* UMIP passes */
	assert_int_equal(r.edx & (BIT(22) | BIT(24) | BIT(25)), 0); /* AMX */
	r = view(7, 1, ones, 0, 1);
	assert_int_equal(r.eax | r.ebx | r.ecx | r.edx, 0);
}

/* RDTSCP and RDPID only where the guest can run them; OSPKE is the guest's CR4.PKE, never the
 * host's, and only with PKU. */
static void test_cpuid_rdtscp_pku(void **state)
{
	struct cpuid_guest g = { .ncpus = 1, .rdtscp = true, .pku = true, .pke = true };
	struct cpuid_regs4 no_pku = ones;

	(void)state;
	assert_int_not_equal(cpuid_guest_view(0x80000001, 0, ones, &g).edx & BIT(27), 0);
	assert_int_equal(cpuid_guest_view(7, 0, ones, &g).ecx & (BIT(22) | BIT(3) | BIT(4)),
	                 BIT(22) | BIT(3) | BIT(4));
	no_pku.ecx &= ~BIT(3);
	assert_int_equal(cpuid_guest_view(7, 0, no_pku, &g).ecx & BIT(4), 0);
	g.pke = false;
	assert_int_equal(cpuid_guest_view(7, 0, ones, &g).ecx & BIT(4), 0);
	g.pku = false; /* not offered without XSAVE unless asked (guest_pku=on) */
	g.pke = true;
	assert_int_equal(cpuid_guest_view(7, 0, ones, &g).ecx & (BIT(3) | BIT(4)), 0);
	g.rdtscp = false;
	assert_int_equal(cpuid_guest_view(0x80000001, 0, ones, &g).edx & BIT(27), 0);
	assert_int_equal(cpuid_guest_view(7, 0, ones, &g).ecx & BIT(22), 0);
}

static void test_cpuid_zeroed_leaves(void **state)
{
	static const u32 leaves[] = { 0x6, 0xa, 0xd, 0x14 };
	struct cpuid_regs4 r;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(leaves); i++) {
		r = view(leaves[i], 0, ones, 0, 1);
		assert_int_equal(r.eax | r.ebx | r.ecx | r.edx, 0);
	}
	r = view(0xd, 1, ones, 0, 1);
	assert_int_equal(r.eax | r.ebx | r.ecx | r.edx, 0);
}

static void test_cpuid_topology(void **state)
{
	struct cpuid_regs4 r;

	(void)state;
	r = view(0xb, 0, ones, 5, 6);
	assert_int_equal(r.eax, 0);
	assert_int_equal(r.ebx, 1);
	assert_int_equal(r.ecx, 0x100);
	assert_int_equal(r.edx, 5);
	r = view(0xb, 1, ones, 5, 6);
	assert_int_equal(r.eax, 3); /* 6 CPUs need 3 bits of APIC ID */
	assert_int_equal(r.ebx, 6);
	assert_int_equal(r.ecx, 0x201);
	assert_int_equal(r.edx, 5);
	r = view(0x1f, 2, ones, 5, 6);
	assert_int_equal(r.eax | r.ebx, 0);
	assert_int_equal(r.ecx, 2); /* level type 0: the end */
	assert_int_equal(r.edx, 5);
	r = view(0xb, 1, ones, 0, 1);
	assert_int_equal(r.eax, 0);
}

static void test_cpuid_hypervisor(void **state)
{
	struct cpuid_regs4 r = view(0x40000000, 0, ones, 0, 1);

	(void)state;
	assert_int_equal(r.eax, 0x40000001);
	assert_memory_equal(&r.ebx, "eptv", 4);
	assert_memory_equal(&r.ecx, "isor", 4);
	assert_int_equal(r.edx, 0);
	r = view(0x40000001, 0, ones, 0, 1);
	assert_int_equal(r.eax | r.ebx | r.ecx | r.edx, 0);
	r = view(0x400000ff, 0, ones, 0, 1);
	assert_int_equal(r.eax | r.ebx | r.ecx | r.edx, 0);
	r = view(0x40000100, 0, ones, 0, 1); /* eptvisor's block and the KVM one: empty */
	assert_int_equal(r.eax | r.ebx | r.ecx | r.edx, 0);
	r = view(0x40000200, 0, ones, 0, 1); /* outside the range: the host's */
	assert_int_equal(r.eax, ~0u);
}

/* Linux's arithmetic (native_calibrate_tsc): kHz, with a 32-bit product. */
static u32 linux_tsc_khz(struct cpuid_regs4 r)
{
	u32 crystal_khz = r.ecx / 1000;

	assert_true((u64)crystal_khz * r.ebx <= 0xffffffffULL);
	return crystal_khz * r.ebx / r.eax;
}

/* 0x15 and 0x16 tell the TSC rate the hypervisor measured, not the CPU model's; the crystal
 * is the APIC timer's clock, and Linux's 32-bit arithmetic gets the TSC rate back. */
static void test_cpuid_tsc_rate(void **state)
{
	struct cpuid_guest g = {
		.apic_id = 0, .ncpus = 1, .tsc_hz = 4000000, .crystal_hz = 1000000000
	};
	struct cpuid_regs4 r = cpuid_guest_view(0x15, 0, ones, &g);
	static const u64 rates[] = { 3999123,       4000000,    24000000, 2399987000ULL,
		                     3192001000ULL, 1000000000, 999,      17000000000ULL };

	(void)state;
	assert_int_equal(r.ecx, 1000000000);
	assert_int_equal(r.eax, 250);
	assert_int_equal(r.ebx, 1);
	assert_int_equal(r.edx, 0);
	for (unsigned i = 0; i < ARRAY_SIZE(rates); i++) {
		u64 khz = rates[i] / 1000;

		g.tsc_hz = rates[i];
		r = cpuid_guest_view(0x15, 0, ones, &g);
		if (!khz) { /* below 1 kHz: not told */
			assert_int_equal(r.eax, ~0u);
			continue;
		}
		assert_int_equal(r.ecx, 1000000000);
		assert_true(r.eax && r.ebx);
		/* Exact while the rate in kHz is a numerator that fits over 10^6, else the best
		 * fraction with EBX <= 4294 (2399987 kHz: 12/5, 5.4 ppm): within 100 ppm. */
		assert_true(linux_tsc_khz(r) * 10000ULL >= khz * 9999ULL);
		assert_true(linux_tsc_khz(r) * 10000ULL <= khz * 10001ULL);
		if (khz <= 4294)
			assert_int_equal(linux_tsc_khz(r), khz);
	}
	g.tsc_hz = 4000000;
	r = cpuid_guest_view(0x16, 0, ones, &g);
	assert_int_equal(r.eax, 4);
	assert_int_equal(r.ebx, 4);
	assert_int_equal(r.ecx | r.edx, 0);
	g.tsc_hz = 0; /* unknown: the host's */
	r = cpuid_guest_view(0x15, 0, ones, &g);
	assert_int_equal(r.eax, ~0u);
	g.tsc_hz = 4000000, g.crystal_hz = 0;
	r = cpuid_guest_view(0x15, 0, ones, &g);
	assert_int_equal(r.eax, ~0u);
}

/* guest_pv=kvm: KVM's signature and async-PF features first, eptvisor's at 0x40000100. */
static void test_cpuid_kvm_leaves(void **state)
{
	struct cpuid_guest g = { .apic_id = 0, .ncpus = 1, .kvm_pv = true };
	struct cpuid_regs4 r = cpuid_guest_view(0x40000000, 0, ones, &g);
	char sig[13] = { 0 };

	(void)state;
	assert_int_equal(r.eax, 0x40000001);
	memcpy(sig, &r.ebx, 4);
	memcpy(sig + 4, &r.ecx, 4);
	memcpy(sig + 8, &r.edx, 4);
	assert_memory_equal(sig, "KVMKVMKVM\0\0\0", 12);
	r = cpuid_guest_view(0x40000001, 0, ones, &g);
	assert_int_equal(r.eax, BIT(4) | BIT(14)); /* ASYNC_PF, ASYNC_PF_INT, nothing else */
	assert_int_equal(r.ebx | r.ecx | r.edx, 0);
	r = cpuid_guest_view(0x40000100, 0, ones, &g);
	assert_int_equal(r.eax, 0x40000101);
	assert_memory_equal(&r.ebx, "eptv", 4);
	assert_memory_equal(&r.ecx, "isor", 4);
	r = cpuid_guest_view(0x40000101, 0, ones, &g);
	assert_int_equal(r.eax | r.ebx | r.ecx | r.edx, 0);
}

static void test_cpuid_extended(void **state)
{
	struct cpuid_regs4 r = view(0x80000001, 0, ones, 0, 1);

	(void)state;
	assert_int_equal(r.edx & BIT(27), 0); /* RDTSCP: not without .rdtscp */
	assert_int_equal(r.ecx & BIT(2), 0);  /* SVM */
	assert_int_not_equal(r.ecx & BIT(0), 0);
	assert_int_equal(r.edx & (BIT(11) | BIT(20) | BIT(26) | BIT(29)),
	                 BIT(11) | BIT(20) | BIT(26) | BIT(29));
	r = view(0x0, 0, ones, 0, 1); /* other leaves pass through */
	assert_int_equal(r.eax & r.ebx & r.ecx & r.edx, ~0u);
	r = view(0x80000008, 0, ones, 0, 1);
	assert_int_equal(r.eax, ~0u);
}

/* ---- I/O APIC ------------------------------------------------------------------------------ */

static struct ioapic *ioa = &pc.ioapic;

static u32 ioa_reg(u32 index)
{
	ioapic_write(ioa, IOAPIC_REGSEL, index);
	return ioapic_read(ioa, IOAPIC_WINDOW);
}

static void ioa_set(u32 index, u32 val)
{
	ioapic_write(ioa, IOAPIC_REGSEL, index);
	ioapic_write(ioa, IOAPIC_WINDOW, val);
}

/* Route pin to vector with the low dword's flags lo and destination dest. */
static void ioa_route(int pin, u32 lo, u8 dest)
{
	ioa_set(IOAPIC_REG_REDIR + 2 * pin + 1, (u32)dest << 24);
	ioa_set(IOAPIC_REG_REDIR + 2 * pin, lo);
}

static int ioa_service(struct ioapic_msg *m, int max)
{
	return ioapic_service(ioa, m, max);
}

/* Power-on registers as an 82093AA (and QEMU with version 0x11) shows them. */
static void test_ioapic_registers(void **state)
{
	(void)state;
	assert_int_equal(ioa_reg(IOAPIC_REG_ID), 2u << 24); /* ncpus: the MP table's choice */
	assert_int_equal(ioapic_read(ioa, IOAPIC_REGSEL), IOAPIC_REG_ID);
	assert_int_equal(ioa_reg(IOAPIC_REG_VER), 0x00170011);
	assert_int_equal(ioa_reg(IOAPIC_REG_ARB), 2u << 24);
	for (int pin = 0; pin < IOAPIC_PINS; pin++) {
		assert_int_equal(ioa_reg(IOAPIC_REG_REDIR + 2 * pin), IOAPIC_RTE_MASKED);
		assert_int_equal(ioa_reg(IOAPIC_REG_REDIR + 2 * pin + 1), 0);
	}
	assert_int_equal(ioa_reg(IOAPIC_REG_REDIR + 2 * IOAPIC_PINS), 0); /* past the last */
	ioa_set(IOAPIC_REG_ID, 0xffffffff);
	assert_int_equal(ioa_reg(IOAPIC_REG_ID), 0x0f000000); /* 4 ID bits */
	ioa_set(IOAPIC_REG_VER, 0);
	assert_int_equal(ioa_reg(IOAPIC_REG_VER), 0x00170011); /* read-only */
	/* Delivery status (12) and remote IRR (14) stay 0; reserved bits keep what was
	 * written, as in QEMU (pin 23 read after writing all ones: 0xffffafff 0xffffffff). */
	ioa_set(IOAPIC_REG_REDIR + 6, 0xffffffff);
	assert_int_equal(ioa_reg(IOAPIC_REG_REDIR + 6), 0xffffafff);
	ioa_set(IOAPIC_REG_REDIR + 7, 0xffffffff);
	assert_int_equal(ioa_reg(IOAPIC_REG_REDIR + 7), 0xffffffff);
	assert_int_equal(ioapic_read(ioa, 0x20), 0); /* nothing else in the page */
	ioapic_write(ioa, IOAPIC_REGSEL, 0x1ff);
	assert_int_equal(ioapic_read(ioa, IOAPIC_REGSEL), 0xff);
}

/* Edge pins: one message per rising edge, none while masked, lowest pin first. */
static void test_ioapic_edge(void **state)
{
	struct ioapic_msg m[4];

	(void)state;
	ioa_route(1, 0x31 | IOAPIC_RTE_LOGICAL, 0x03);
	ioa_route(3, 0x33 | (4 << 8), 0); /* NMI */
	ioapic_set_irq(ioa, 3, true);
	ioapic_set_irq(ioa, 1, true);
	assert_int_equal(ioa_service(m, 4), 2);
	assert_int_equal(m[0].pin, 1);
	assert_int_equal(m[0].vector, 0x31);
	assert_int_equal(m[0].delivery, 0);
	assert_true(m[0].logical);
	assert_int_equal(m[0].dest, 3);
	assert_false(m[0].level);
	assert_int_equal(m[1].pin, 3);
	assert_int_equal(m[1].delivery, 4);
	assert_false(m[1].logical);
	assert_int_equal(ioa_service(m, 4), 0); /* consumed */
	ioapic_set_irq(ioa, 1, true);           /* still high: no edge */
	assert_int_equal(ioa_service(m, 4), 0);
	ioapic_set_irq(ioa, 1, false);
	ioa_route(1, 0x31 | IOAPIC_RTE_MASKED, 0);
	ioapic_set_irq(ioa, 1, true); /* masked: ignored */
	assert_int_equal(ioa_service(m, 4), 0);
	ioa_route(1, 0x31, 0);
	assert_int_equal(ioa_service(m, 4), 0);
	ioapic_set_irq(ioa, 1, false);
	ioapic_set_irq(ioa, 1, true);
	assert_int_equal(ioa_service(m, 4), 1);
	assert_int_equal(m[0].vector, 0x31);
	/* A request latched before the pin is masked stays (delivered when unmasked). */
	ioapic_set_irq(ioa, 1, false);
	ioapic_set_irq(ioa, 1, true);
	ioa_route(1, 0x31 | IOAPIC_RTE_MASKED, 0);
	assert_int_equal(ioa_service(m, 4), 0);
	ioa_route(1, 0x31, 0);
	assert_int_equal(ioa_service(m, 4), 1);
	ioapic_set_irq(ioa, 99, true); /* no such pin */
	ioapic_set_irq(ioa, -1, true);
	assert_int_equal(ioa_service(m, 4), 0);
}

/* Level pins: remote IRR holds the line back until the EOI of its vector. */
static void test_ioapic_level_eoi(void **state)
{
	struct ioapic_msg m[2];

	(void)state;
	ioa_route(9, 0x49 | IOAPIC_RTE_LEVEL | IOAPIC_RTE_POLARITY, 0);
	ioapic_set_irq(ioa, 9, true);
	assert_int_equal(ioa_service(m, 2), 1);
	assert_true(m[0].level);
	assert_int_equal(ioa_reg(IOAPIC_REG_REDIR + 18), 0x49 | 0xa000 | IOAPIC_RTE_REMOTE_IRR);
	assert_int_equal(ioa_service(m, 2), 0); /* remote IRR */
	ioapic_eoi(ioa, 0x48);                  /* another vector */
	assert_int_equal(ioa_service(m, 2), 0);
	ioapic_eoi(ioa, 0x49); /* line still high: again */
	assert_int_equal(ioa_reg(IOAPIC_REG_REDIR + 18) & IOAPIC_RTE_REMOTE_IRR, 0);
	assert_int_equal(ioa_service(m, 2), 1);
	ioapic_set_irq(ioa, 9, false);
	ioapic_eoi(ioa, 0x49);
	assert_int_equal(ioa_service(m, 2), 0); /* line low: nothing */
	/* Remote IRR survives rewriting the low dword, goes when the pin turns edge. */
	ioapic_set_irq(ioa, 9, true);
	assert_int_equal(ioa_service(m, 2), 1);
	ioa_route(9, 0x49 | IOAPIC_RTE_LEVEL, 0);
	assert_int_not_equal(ioa_reg(IOAPIC_REG_REDIR + 18) & IOAPIC_RTE_REMOTE_IRR, 0);
	ioa_route(9, 0x49, 0);
	assert_int_equal(ioa_reg(IOAPIC_REG_REDIR + 18) & IOAPIC_RTE_REMOTE_IRR, 0);
	/* max bounds the messages taken; the rest stay. */
	ioa_route(5, 0x35, 0);
	ioa_route(6, 0x36, 0);
	ioapic_set_irq(ioa, 5, true);
	ioapic_set_irq(ioa, 6, true);
	assert_int_equal(ioa_service(m, 1), 1);
	assert_int_equal(m[0].pin, 5);
	assert_int_equal(ioa_service(m, 1), 1);
	assert_int_equal(m[0].pin, 6);
}

static int ioa_poll_at(u64 t, u64 *next, struct ioapic_msg *m)
{
	env.now = t;
	return pcio_ioapic_poll(&pc, t, next, m, 4);
}

/* The wiring: PIT channel 0 on pin 2 (edges coalesce as on the PIC), COM1 on pin 4. */
static void test_ioapic_pit_uart_pins(void **state)
{
	struct ioapic_msg m[4];
	u64 t0 = env.now, next;

	(void)state;
	pit_ch0(2, 1193);
	assert_int_equal(ioa_poll_at(t0, &next, m), 0);
	assert_int_equal(next, 0); /* pin 2 masked: no deadline */
	ioa_route(2, 0x30, 0);
	assert_int_equal(ioa_poll_at(t0, &next, m), 0);
	assert_int_equal(next, t0 + pit_ticks_to_ns(1193));
	assert_int_equal(ioa_poll_at(t0 + pit_ticks_to_ns(5 * 1193), &next, m), 1);
	assert_int_equal(m[0].pin, 2);
	assert_int_equal(m[0].vector, 0x30);
	assert_int_equal(next, t0 + pit_ticks_to_ns(6 * 1193));
	assert_int_equal(ioa_poll_at(t0 + pit_ticks_to_ns(6 * 1193) - 1, &next, m), 0);
	assert_int_equal(ioa_poll_at(t0 + pit_ticks_to_ns(6 * 1193), &next, m), 1);
	/* The PIC sees the same edges on IRQ 0. */
	assert_int_not_equal(pc.pic[0].irr & 1, 0);
	/* COM1: THR empty with IER.THRI raises pin 4 until IIR is read. */
	ioa_route(4, 0x34 | IOAPIC_RTE_LEVEL, 0);
	assert_int_equal(ioa_poll_at(env.now, &next, m), 0);
	outb(0x3f9, UART_IER_THRI);
	assert_int_equal(ioa_poll_at(env.now, &next, m), 1);
	assert_int_equal(m[0].pin, 4);
	assert_int_equal(inb(0x3fa) & 0x0f, UART_IIR_THRI);
	ioapic_eoi(ioa, 0x34);
	assert_int_equal(ioa_poll_at(env.now, &next, m), 0); /* line low after the IIR read */
	outb(0x3f8, 'x');                                    /* THR empty again */
	assert_int_equal(ioa_poll_at(env.now, &next, m), 1);
}

/* ---- issue 16: interrupt-driven COM1, the RTC's IRQ 8, the 8042, PCI -------------------- */

/* IRQ 4 reaches the master PIC (edge: one IRR bit per rising edge) and pin 4; OUT2 gates. */
static void test_uart_irq4_pic(void **state)
{
	(void)state;
	outb(0x21, 0x00); /* unmask the master */
	assert_int_equal(pc.pic[0].irr & BIT(4), 0);
	outb(0x3f9, UART_IER_THRI);
	assert_int_not_equal(pc.pic[0].irr & BIT(4), 0);
	assert_true(pc.ioapic.lines & BIT(4));
	assert_int_equal(inb(0x3fa) & 0x0f, UART_IIR_THRI); /* acknowledges: line low */
	assert_false(pc.ioapic.lines & BIT(4));
	/* OUT2 clear: the condition is in IIR, the line stays low (a PC's COM port). */
	outb(0x3fc, 0x03);
	outb(0x3f8, 'x');
	assert_false(pc.ioapic.lines & BIT(4));
	outb(0x3fc, 0x0b); /* OUT2 set: the pending THR-empty drives the line */
	assert_true(pc.ioapic.lines & BIT(4));
}

/* Received bytes: RDI at the trigger level, CTI below it, the FIFO and its overrun. */
static void test_uart_receive(void **state)
{
	(void)state;
	outb(0x3f9, UART_IER_RDI | 0x04);
	assert_true(pcio_com1_receive(&pc, 'a'));
	assert_int_equal(inb(0x3fd), 0x61);
	assert_int_equal(inb(0x3fa), 0x04); /* FIFOs off: RDI at the first byte */
	assert_true(pc.ioapic.lines & BIT(4));
	assert_false(pcio_com1_receive(&pc, 'b')); /* the holding register overruns */
	assert_int_equal(inb(0x3fa), 0x06);        /* line status first */
	assert_int_equal(inb(0x3fd), 0x63);        /* data ready, overrun (read clears it) */
	assert_int_equal(inb(0x3f8), 'b');
	assert_int_equal(inb(0x3fa), 0x01);
	assert_false(pc.ioapic.lines & BIT(4));
	outb(0x3fa, 0x81); /* FIFOs on, trigger level 8 */
	for (int i = 0; i < 3; i++)
		assert_true(pcio_com1_receive(&pc, (u8)('0' + i)));
	assert_int_equal(inb(0x3fa), 0xcc); /* below the level: character timeout */
	for (int i = 3; i < 16; i++)
		assert_true(pcio_com1_receive(&pc, (u8)('0' + i)));
	assert_int_equal(inb(0x3fa), 0xc4);
	assert_false(pcio_com1_receive(&pc, 'z')); /* full: the new byte is lost */
	for (int i = 0; i < 16; i++)
		assert_int_equal(inb(0x3f8), '0' + i);
	assert_int_equal(inb(0x3fd) & 0x03, 0x02);
	assert_int_equal(inb(0x3fa), 0xc1);
	assert_true(pcio_com1_receive(&pc, 'q'));
	outb(0x3fa, 0x83); /* clearing the receive FIFO drops it */
	assert_int_equal(inb(0x3fd), 0x60);
}

static void cmos_set(u8 reg, u8 v)
{
	outb(0x70, reg);
	outb(0x71, v);
}

static u8 cmos_get(u8 reg)
{
	outb(0x70, reg);
	return inb(0x71);
}

/* Periodic interrupts: PF at each boundary, IRQF with PIE, C's read clears; IRQ 8 on the
 * slave PIC and pin 8; the next event for a halted CPU's timer. */
static void test_rtc_periodic(void **state)
{
	u64 t0 = env.now, next;
	u64 period = 1000000000ULL / 1024; /* rate 6: 976562.5 ns */

	(void)state;
	assert_int_equal(cmos_get(RTC_REG_C), 0);
	outb(0xa1, 0xfe); /* slave input 0 (IRQ 8) unmasked, and the cascade */
	outb(0x21, 0xfb);
	pcio_pic_poll(&pc, t0, &next);
	assert_int_equal(next, 0); /* no source enabled */
	env.now = t0 + period + 1;
	assert_int_equal(cmos_get(RTC_REG_C), RTC_C_PF); /* the flag without the interrupt */
	cmos_set(RTC_REG_B, RTC_B_24H | RTC_B_PIE);
	pcio_pic_poll(&pc, env.now, &next);
	assert_int_equal(next, t0 + 2 * period + 1); /* 1953125 ns after t0 */
	env.now = next - 1;
	assert_int_equal(pcio_pic_poll(&pc, env.now, &next), -1);
	env.now++;
	assert_int_equal(pcio_pic_poll(&pc, env.now, &next), 0x70); /* slave base + 0 */
	assert_true(pc.ioapic.lines & BIT(8));
	assert_int_equal(next, 0); /* the line is up until C is read */
	env.now += 10 * period;    /* missed boundaries: still one flag */
	assert_int_equal(cmos_get(RTC_REG_C), RTC_C_IRQF | RTC_C_PF);
	assert_false(pc.ioapic.lines & BIT(8));
	assert_int_equal(cmos_get(RTC_REG_C), 0);
	/* Rate 0 stops the periodic interrupt; rates 1 and 2 are 8 and 9 (256 Hz, 128 Hz). */
	cmos_set(RTC_REG_A, 0x20);
	pcio_pic_poll(&pc, env.now, &next);
	assert_int_equal(next, 0);
	cmos_set(RTC_REG_A, 0x21);
	pcio_pic_poll(&pc, env.now, &next);
	assert_true(next > env.now && next <= env.now + 1000000000ULL / 256 + 1);
}

/* Update-ended once a second, the alarm at a matching second, IRQF following B's enables. */
static void test_rtc_update_alarm(void **state)
{
	u64 t0 = env.now, next;
	struct ioapic_msg m[4];

	(void)state;
	ioapic_write(&pc.ioapic, 0, 0x10 + 2 * 8);
	ioapic_write(&pc.ioapic, 0x10, 0x38); /* pin 8: vector 0x38, edge, unmasked */
	cmos_set(RTC_REG_A, 0x20);            /* no periodic flags in the way */
	cmos_set(RTC_REG_B, RTC_B_24H | RTC_B_UIE);
	pcio_ioapic_poll(&pc, t0, &next, m, 4);
	assert_int_equal(next, t0 + 1000000000ULL);
	env.now = next;
	assert_int_equal(pcio_ioapic_poll(&pc, env.now, &next, m, 4), 1);
	assert_int_equal(m[0].vector, 0x38);
	assert_int_equal(cmos_get(RTC_REG_C), RTC_C_IRQF | RTC_C_UF);
	/* The alarm: 00:00:03 of 2000-01-01 (BCD); the clock reads 00:00:01 now. */
	cmos_set(0x01, 0x03);
	cmos_set(0x03, 0x00);
	cmos_set(0x05, 0xff); /* any hour */
	cmos_set(RTC_REG_B, RTC_B_24H | RTC_B_AIE);
	env.now = t0 + 2000000000ULL;
	assert_int_equal(cmos_get(RTC_REG_C), RTC_C_UF); /* 00:00:02: no alarm, no IRQF */
	env.now = t0 + 3000000000ULL;
	assert_int_equal(cmos_get(RTC_REG_C), RTC_C_IRQF | RTC_C_AF | RTC_C_UF);
	/* A flag set while its interrupt is off raises IRQF when it is enabled. */
	cmos_set(RTC_REG_B, RTC_B_24H);
	env.now = t0 + 4000000000ULL;
	pcio_pic_poll(&pc, env.now, &next);
	assert_false(pc.ioapic.lines & BIT(8));
	cmos_set(RTC_REG_B, RTC_B_24H | RTC_B_UIE);
	assert_true(pc.ioapic.lines & BIT(8));
	cmos_set(RTC_REG_B, RTC_B_24H | RTC_B_SET); /* and drops it when disabled */
	assert_false(pc.ioapic.lines & BIT(8));
	assert_int_equal(cmos_get(RTC_REG_C), RTC_C_UF);
	env.now = t0 + 9000000000ULL; /* SET: no update cycle */
	assert_int_equal(cmos_get(RTC_REG_C), 0);
}

static u8 kbc_cmd(u8 cmd)
{
	outb(0x64, cmd);
	assert_int_equal(inb(0x64) & I8042_STR_OBF, I8042_STR_OBF);
	return inb(0x60);
}

/* What Linux's i8042 probe asks, and IRQ 1 / IRQ 12 from bytes put in the buffer. */
static void test_i8042(void **state)
{
	(void)state;
	assert_int_equal(kbc_cmd(0xaa), 0x55);
	assert_int_equal(inb(0x64) & I8042_STR_OBF, 0);
	assert_int_equal(kbc_cmd(0xab), 0x00);
	assert_int_equal(kbc_cmd(0xa9), 0x00);
	assert_int_equal(kbc_cmd(0x20), 0x61);
	outb(0x64, 0x60);
	outb(0x60, 0x47);
	assert_int_equal(inb(0x64) & I8042_STR_CMD, 0);
	assert_int_equal(kbc_cmd(0x20), 0x47);
	outb(0x64, 0xa8);
	assert_int_equal(kbc_cmd(0x20), 0x47 & ~I8042_CTR_AUXDIS);
	outb(0x64, 0xad);
	assert_int_equal(kbc_cmd(0x20), 0x57);
	outb(0x64, 0xae);
	/* 0xd2: a byte as if from the keyboard: IRQ 1 with CTR bit 0 (PIC and pin 1). */
	outb(0x21, 0x00);
	outb(0x64, 0xd2);
	outb(0x60, 0xab);
	assert_int_equal(inb(0x64) & 0x21, 0x01);
	assert_int_not_equal(pc.pic[0].irr & BIT(1), 0);
	assert_true(pc.ioapic.lines & BIT(1));
	assert_int_equal(inb(0x60), 0xab);
	assert_false(pc.ioapic.lines & BIT(1));
	/* 0xd3: as if from the aux port: AUX OBF, IRQ 12 with CTR bit 1. */
	outb(0x64, 0xd3);
	outb(0x60, 0x5a);
	assert_int_equal(inb(0x64) & 0x21, 0x21);
	assert_true(pc.ioapic.lines & BIT(12));
	assert_int_equal(inb(0x60), 0x5a);
	assert_false(pc.ioapic.lines & BIT(12));
	/* With the interrupt bits off, the bytes wait without a line. */
	outb(0x64, 0x60);
	outb(0x60, 0x44);
	outb(0x64, 0xd2);
	outb(0x60, 0x01);
	assert_false(pc.ioapic.lines & BIT(1));
	assert_int_equal(inb(0x60), 0x01);
	/* No keyboard: a byte sent to it gets no answer. */
	outb(0x60, 0xf2);
	assert_int_equal(inb(0x64) & I8042_STR_OBF, 0);
	assert_false(pc.exited);
}

static u32 pci_read(u32 bdf_reg, int size)
{
	assert_int_equal(out(0xcf8, 4, 0x80000000 | bdf_reg), PCIO_OK);
	return in((u16)(0xcfc + (bdf_reg & 3)), size);
}

/* The i440FX host bridge at 00:00.0 and nothing else; Linux's type-1 probe. */
static void test_pci_host_bridge(void **state)
{
	(void)state;
	/* pci_check_type1: a byte to 0xcfb, then CONFIG_ADDRESS reads back a dword. */
	outb(0xcfb, 0x01);
	assert_int_equal(out(0xcf8, 4, 0x80000000), PCIO_OK);
	assert_int_equal(in(0xcf8, 4), 0x80000000);
	assert_int_equal(pci_read(0x00, 4), 0x12378086);
	assert_int_equal(pci_read(0x08, 4), 0x06000002);
	assert_int_equal(pci_read(0x0e, 1), 0x00);
	assert_int_equal(pci_read(0x2c, 4), 0x11001af4);
	assert_int_equal(pci_read(0x10, 4), 0); /* no BARs */
	assert_int_equal(pci_read(0x02, 2), 0x1237);
	assert_int_equal(pci_read(1 << 11, 4), 0xffffffff);   /* device 1 */
	assert_int_equal(pci_read(1 << 8, 2), 0xffff);        /* function 1 */
	assert_int_equal(pci_read(1 << 16, 4), 0xffffffff);   /* bus 1 */
	assert_int_equal(out(0xcf8, 4, 0x00000000), PCIO_OK); /* enable bit clear */
	assert_int_equal(in(0xcfc, 4), 0xffffffff);
	/* Writes: the command register's writable bits, the device-specific bytes; IDs fixed. */
	out(0xcf8, 4, 0x80000004);
	assert_int_equal(out(0xcfc, 2, 0xffff), PCIO_OK);
	assert_int_equal(pci_read(0x04, 2), 0x0507);
	out(0xcf8, 4, 0x80000000);
	out(0xcfc, 4, 0);
	assert_int_equal(pci_read(0x00, 4), 0x12378086);
	out(0xcf8, 4, 0x80000058);
	out(0xcfd, 1, 0x33); /* PAM0 at 0x59 */
	assert_int_equal(pci_read(0x59, 1), 0x33);
	assert_int_equal(pcio_unknown_total(&pc), 0);
}

#define T(f) cmocka_unit_test_setup(f, setup)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_uart_registers),
		T(test_uart_iir),
		T(test_uart_loopback),
		T(test_uart_lines),
		T(test_uart_long_line),
		T(test_uart_wide_out),
		T(test_debug_exit),
		T(test_debug_exit_wide_value),
		T(test_shutdown_port),
		T(test_resets),
		T(test_fwcfg),
		T(test_fwcfg_reselect_and_writes),
		T(test_pic),
		T(test_pic_irq_ack_eoi),
		T(test_pic_masked),
		T(test_pic_priority),
		T(test_pic_slave),
		T(test_pic_spurious_and_poll),
		T(test_elcr),
		T(test_pit_ticks),
		T(test_pit_ch2_mode0),
		T(test_pit_port61_bits),
		T(test_pit_latch),
		T(test_pit_lobyte_only),
		T(test_pit_readback),
		T(test_pit_mode3_out),
		T(test_pit_ticks_to_ns),
		T(test_pit_irq_periodic),
		T(test_pit_irq_oneshot),
		T(test_pit_irq_reprogram),
		T(test_pcio_pic_poll),
		T(test_pcio_pic_poll_masked),
		T(test_pcio_pit_edges_before_access),
		T(test_ioapic_registers),
		T(test_ioapic_edge),
		T(test_ioapic_level_eoi),
		T(test_ioapic_pit_uart_pins),
		T(test_uart_irq4_pic),
		T(test_uart_receive),
		T(test_rtc_periodic),
		T(test_rtc_update_alarm),
		T(test_i8042),
		T(test_pci_host_bridge),
		T(test_cmos),
		T(test_cmos_start_time),
		T(test_ignored_ports),
		T(test_unknown_ports),
		T(test_unknown_overflow),
		T(test_bad_size),
		T(test_cpuid_leaf1),
		T(test_cpuid_leaf7),
		T(test_cpuid_rdtscp_pku),
		T(test_cpuid_zeroed_leaves),
		T(test_cpuid_topology),
		T(test_cpuid_hypervisor),
		T(test_cpuid_kvm_leaves),
		T(test_cpuid_tsc_rate),
		T(test_cpuid_extended),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
