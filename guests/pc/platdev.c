/*
 * platdev: the PC devices Linux probes besides the timers, driven the way its drivers drive
 * them, with their interrupts through the 8259 PICs (remapped to 0x50 / 0x58):
 *   - COM1: THR-empty interrupts on IRQ 4 sending a line, OUT2 gating the line, a byte
 *     received in loopback raising "data ready";
 *   - the RTC: periodic interrupts on IRQ 8 (register C read in the handler), then the
 *     update-ended and alarm flags of one second;
 *   - the 8042: self-test, interface tests, the command byte, a byte put in the output
 *     buffer by 0xd2 (IRQ 1) and by 0xd3 (IRQ 12, the aux port);
 *   - PCI configuration mechanism #1: CONFIG_ADDRESS, the host bridge at 00:00.0, empty
 *     slots.
 * Printed are the facts QEMU's pc (with SeaBIOS) and eptvisor share; every check that fails
 * prints "FAIL: <what>" and the first one's code goes to isa-debug-exit (0 = PASS).
 *
 * The command line picks an ending instead of the exit port (the machine's resets and its
 * halt): reset=cf9 (PIIX reset control), reset=kbc (0xfe to port 0x64), reset=triple (an
 * empty IDT and int3), halt (every CPU in cli; hlt: Linux's power-off without ACPI).
 * echo waits for a line on COM1 from outside (data-ready interrupts; the PIT as its
 * clock, in sti; hlt) and prints it back: the console's input path (pc/console.c).
 */
#include "guests/pc/apf.h"
#include "guests/pc/pc.h"

#define PIC_BASE   0x50
#define COM1       0x3f8
#define SPIN_LIMIT 200000000u
#define IRQ_COM1   4
#define IRQ_KBD    1
#define IRQ_RTC    8
#define IRQ_AUX    12

static u32 first_fail;
static volatile u32 irqs[16];
static volatile u8 last_iir, last_rbr, last_rtc_c, last_kbc_status, last_kbc_data;
static const char *tx_next;

static void fail(u32 code, const char *what)
{
	pr("FAIL: %s\n", what);
	if (!first_fail)
		first_fail = code;
}

/* ---- the PICs --------------------------------------------------------------------------- */

static void pic_init(void)
{
	outb(0x20, 0x11);
	outb(0xa0, 0x11);
	outb(0x21, PIC_BASE);
	outb(0xa1, PIC_BASE + 8);
	outb(0x21, 1 << 2);
	outb(0xa1, 2);
	outb(0x21, 0x01);
	outb(0xa1, 0x01);
	outb(0x21, 0xfb); /* everything masked but the cascade */
	outb(0xa1, 0xff);
}

static void pic_unmask(int irq, bool on)
{
	u16 port = irq < 8 ? 0x21 : 0xa1;
	u8 bit = (u8)(1 << (irq & 7)), m = inb(port);

	outb(port, on ? (u8)(m & ~bit) : (u8)(m | bit));
}

static void pic_eoi(int irq)
{
	if (irq >= 8)
		outb(0xa0, 0x20);
	outb(0x20, 0x20);
}

/* Wait with interrupts on until irqs[irq] reaches n (bounded: a lost interrupt fails).
 * The loop runs with IF set throughout: QEMU TCG looks for interrupts between its blocks,
 * and a one-instruction window after STI would be inside one. */
static bool wait_irqs(int irq, u32 n)
{
	__asm__ volatile("sti" ::: "memory");
	for (u32 i = 0; i < SPIN_LIMIT && irqs[irq] < n; i++)
		cpu_pause();
	__asm__ volatile("cli" ::: "memory");
	return irqs[irq] >= n;
}

/* Let a few more interrupts in, if any were to come. */
static void settle(void)
{
	__asm__ volatile("sti" ::: "memory");
	for (u32 i = 0; i < 200000; i++)
		cpu_pause();
	__asm__ volatile("cli" ::: "memory");
}

/* ---- COM1 ------------------------------------------------------------------------------- */

static void com1_irq(void)
{
	last_iir = inb(COM1 + 2);
	if ((last_iir & 0x0f) == 0x04 || (last_iir & 0x0f) == 0x0c)
		last_rbr = inb(COM1);
	if ((last_iir & 0x0f) == 0x02 && tx_next) {
		if (*tx_next)
			outb(COM1, (u8)*tx_next++);
		else
			outb(COM1 + 1, 0); /* all sent: THR-empty off */
	}
	irqs[IRQ_COM1]++;
	pic_eoi(IRQ_COM1);
}

static void com1_tests(void)
{
	static const char line[] = "platdev: this line was sent by THR-empty interrupts\n";
	u8 lsr;

	irq_set(PIC_BASE + IRQ_COM1, com1_irq);
	outb(COM1 + 1, 0);
	outb(COM1 + 4, 0x0b); /* DTR, RTS, OUT2: the interrupt reaches the ISA bus */
	(void)inb(COM1 + 2);
	pic_unmask(IRQ_COM1, true);
	/* Interrupt-driven transmit: each THR-empty interrupt sends the next byte. */
	tx_next = line;
	outb(COM1 + 1, 0x02);

	if (!wait_irqs(IRQ_COM1, sizeof(line)))
		fail(EXIT_FAIL_COM1, "THR-empty interrupts stopped before the line was sent");
	tx_next = NULL;
	settle();
	pr("com1: %u THR-empty interrupts for %u bytes\n", irqs[IRQ_COM1], (u32)sizeof(line) - 1);
	/* OUT2 clear: a PC's COM port keeps its interrupt off the bus. */
	irqs[IRQ_COM1] = 0;
	outb(COM1 + 4, 0x03);
	outb(COM1 + 1, 0x02);
	settle();
	pr("com1: OUT2 clear, THR-empty enabled: %u interrupt(s)\n", irqs[IRQ_COM1]);
	outb(COM1 + 1, 0);
	(void)inb(COM1 + 2);
	/* Receive: a byte in loopback raises "data ready". FIFOs off: with them on, QEMU
	 * reports a character timeout (0xcc) or data (0xc4) depending on when the interrupt
	 * is taken, as a 16550 does after four character times. */
	irqs[IRQ_COM1] = 0;
	outb(COM1 + 2, 0x00);
	outb(COM1 + 4, 0x1b); /* loopback, OUT2 */
	outb(COM1 + 1, 0x01);
	outb(COM1, 0x5a);
	if (!wait_irqs(IRQ_COM1, 1))
		fail(EXIT_FAIL_COM1, "no data-ready interrupt");
	settle();
	lsr = inb(COM1 + 5);
	outb(COM1 + 1, 0);
	outb(COM1 + 4, 0x0b); /* out of loopback before printing */
	outb(COM1 + 2, 0x07); /* FIFOs on again, as uart_init leaves them */
	pr("com1: loopback receive: %u interrupt(s), iir 0x%x, byte 0x%x, lsr 0x%x\n",
	   irqs[IRQ_COM1], last_iir, last_rbr, lsr);
	pic_unmask(IRQ_COM1, false);
}

/* ---- the RTC ---------------------------------------------------------------------------- */

static u8 cmos(u8 reg)
{
	outb(0x70, reg);
	return inb(0x71);
}

static void cmos_set(u8 reg, u8 v)
{
	outb(0x70, reg);
	outb(0x71, v);
}

static void rtc_irq(void)
{
	last_rtc_c = cmos(0x0c);
	irqs[IRQ_RTC]++;
	pic_eoi(IRQ_RTC);
}

static void rtc_tests(void)
{
	u8 b = cmos(0x0b);

	irq_set(PIC_BASE + IRQ_RTC, rtc_irq);
	(void)cmos(0x0c);
	pic_unmask(IRQ_RTC, true);
	cmos_set(0x0a, 0x2a); /* 64 Hz */
	cmos_set(0x0b, (u8)((b & 0x07) | 0x40));
	if (!wait_irqs(IRQ_RTC, 3))
		fail(EXIT_FAIL_RTC, "fewer than 3 periodic interrupts");
	cmos_set(0x0b, b & 0x07);
	pr("rtc: periodic interrupts through irq 8, register C 0x%x\n", last_rtc_c);
	/* One second: update-ended and a "don't care" alarm together. */
	cmos_set(0x0a, 0x20);
	(void)cmos(0x0c);
	irqs[IRQ_RTC] = 0;
	cmos_set(0x01, 0xff);
	cmos_set(0x03, 0xff);
	cmos_set(0x05, 0xff);
	cmos_set(0x0b, (u8)((b & 0x07) | 0x30));
	if (!wait_irqs(IRQ_RTC, 1))
		fail(EXIT_FAIL_RTC, "no update-ended interrupt");
	cmos_set(0x0b, b & 0x07);
	pr("rtc: update-ended and alarm: register C 0x%x\n", last_rtc_c);
	cmos_set(0x0a, 0x26);
	pic_unmask(IRQ_RTC, false);
}

/* ---- the 8042 --------------------------------------------------------------------------- */

static bool kbc_wait_out(void)
{
	for (u32 i = 0; i < SPIN_LIMIT / 100; i++)
		if (inb(0x64) & 0x01)
			return true;
	return false;
}

static int kbc_cmd(u8 cmd)
{
	outb(0x64, cmd);
	return kbc_wait_out() ? inb(0x60) : -1;
}

static void kbc_write_ctr(u8 ctr)
{
	outb(0x64, 0x60);
	outb(0x60, ctr);
}

static void kbc_irq_handler(int irq)
{
	last_kbc_status = inb(0x64);
	last_kbc_data = inb(0x60);
	irqs[irq]++;
	pic_eoi(irq);
}

static void kbd_irq(void)
{
	kbc_irq_handler(IRQ_KBD);
}

static void aux_irq(void)
{
	kbc_irq_handler(IRQ_AUX);
}

static void kbc_tests(void)
{
	kbc_write_ctr(0x64); /* no interrupts, aux off, translation */
	while (inb(0x64) & 0x01)
		(void)inb(0x60);
	pr("kbc: self-test 0x%x, keyboard test 0x%x, aux test 0x%x, status 0x%x\n", kbc_cmd(0xaa),
	   kbc_cmd(0xab), kbc_cmd(0xa9), inb(0x64) & 0x25);
	kbc_write_ctr(0x64);
	pr("kbc: command byte 0x%x", kbc_cmd(0x20));
	outb(0x64, 0xa8);
	pr(", aux enabled 0x%x", kbc_cmd(0x20));
	outb(0x64, 0xa7);
	pr(", disabled 0x%x\n", kbc_cmd(0x20));
	irq_set(PIC_BASE + IRQ_KBD, kbd_irq);
	irq_set(PIC_BASE + IRQ_AUX, aux_irq);
	pic_unmask(IRQ_KBD, true);
	pic_unmask(IRQ_AUX, true);
	kbc_write_ctr(0x47); /* both interrupts, both ports on */
	outb(0x64, 0xa8);
	outb(0x64, 0xd2);
	outb(0x60, 0xab);
	if (!wait_irqs(IRQ_KBD, 1))
		fail(EXIT_FAIL_KBC, "no IRQ 1 for a byte written by 0xd2");
	settle();
	pr("kbc: 0xd2: irq 1 x%u, status 0x%x, data 0x%x\n", irqs[IRQ_KBD], last_kbc_status & 0x21,
	   last_kbc_data);
	outb(0x64, 0xd3);
	outb(0x60, 0x5a);
	if (!wait_irqs(IRQ_AUX, 1))
		fail(EXIT_FAIL_KBC, "no IRQ 12 for a byte written by 0xd3");
	settle();
	pr("kbc: 0xd3: irq 12 x%u, status 0x%x, data 0x%x\n", irqs[IRQ_AUX], last_kbc_status & 0x21,
	   last_kbc_data);
	kbc_write_ctr(0x64);
	pic_unmask(IRQ_KBD, false);
	pic_unmask(IRQ_AUX, false);
}

/* ---- PCI -------------------------------------------------------------------------------- */

static u32 pci_read(u32 bus, u32 dev, u32 fn, u32 reg)
{
	outl(0xcf8, 0x80000000u | bus << 16 | dev << 11 | fn << 8 | reg);
	return inl(0xcfc);
}

static void pci_tests(void)
{
	outb(0xcfb, 0x01); /* Linux's pci_check_type1 */
	outl(0xcf8, 0x80000000u);
	pr("pci: CONFIG_ADDRESS reads back 0x%x\n", inl(0xcf8));
	pr("pci: 00:00.0 id 0x%x, class/revision 0x%x, header type 0x%x, subsystem 0x%x\n",
	   pci_read(0, 0, 0, 0), pci_read(0, 0, 0, 8), (pci_read(0, 0, 0, 0x0c) >> 16) & 0xff,
	   pci_read(0, 0, 0, 0x2c));
	pr("pci: 00:1f.0 0x%x, 00:00.7 0x%x, 01:00.0 0x%x\n", pci_read(0, 31, 0, 0),
	   pci_read(0, 0, 7, 0), pci_read(1, 0, 0, 0));
	outl(0xcf8, 0);
	pr("pci: enable bit clear: 0x%x\n", inl(0xcfc));
}

/* ---- echo: a line typed on COM1 --------------------------------------------------------- */

#define IRQ_PIT        0
#define PIT_HZ         100
#define ECHO_TIMEOUT_S 300 /* guest seconds: under Bochs at its default ips, ~10 per wall s */
#define ECHO_LINE_MAX  64

static char rx_line[ECHO_LINE_MAX];
static volatile u32 rx_len;
static volatile bool rx_done;

static void pit_irq(void)
{
	irqs[IRQ_PIT]++;
	pic_eoi(IRQ_PIT);
}

/* Data ready (or the character timeout): take every byte the FIFO holds. */
static void com1_rx_irq(void)
{
	last_iir = inb(COM1 + 2);
	while (inb(COM1 + 5) & 0x01) {
		u8 c = inb(COM1);

		if (rx_done)
			continue;
		if (c == '\r' || c == '\n')
			rx_done = rx_len > 0;
		else if (rx_len < ECHO_LINE_MAX - 1)
			rx_line[rx_len++] = (char)c;
	}
	irqs[IRQ_COM1]++;
	pic_eoi(IRQ_COM1);
}

static void com1_echo(void)
{
	u32 sum = 0;

	irq_set(PIC_BASE + IRQ_PIT, pit_irq);
	irq_set(PIC_BASE + IRQ_COM1, com1_rx_irq);
	outb(0x43, 0x34); /* channel 0, rate generator */
	outb(0x40, (1193182 / PIT_HZ) & 0xff);
	outb(0x40, (1193182 / PIT_HZ) >> 8);
	outb(COM1 + 4, 0x0b); /* DTR, RTS, OUT2 */
	outb(COM1 + 1, 0x01); /* data-ready interrupts */
	(void)inb(COM1 + 2);
	pic_unmask(IRQ_PIT, true);
	pic_unmask(IRQ_COM1, true);
	pr("console: ready for a line\n");
	__asm__ volatile("sti" ::: "memory");
	while (!rx_done && irqs[IRQ_PIT] < ECHO_TIMEOUT_S * PIT_HZ)
		__asm__ volatile("hlt" ::: "memory");
	__asm__ volatile("cli" ::: "memory");
	outb(COM1 + 1, 0);
	pic_unmask(IRQ_COM1, false);
	pic_unmask(IRQ_PIT, false);
	if (!rx_done) {
		fail(EXIT_FAIL_CONSOLE, "no line arrived on COM1");
		return;
	}
	rx_line[rx_len] = 0;
	for (u32 i = 0; i < rx_len; i++)
		sum += (u8)rx_line[i];
	pr("console: got '%s' (%u bytes, sum %u)\n", rx_line, rx_len, sum);
}

/* ---- the machine's endings -------------------------------------------------------------- */

static void triple_fault(void)
{
	struct {
		u16 limit;
		u64 base;
	} __attribute__((packed)) none = { 0, 0 };

	__asm__ volatile("lidt %0; int3" : : "m"(none));
}

static void end(const char *args)
{
	if (arg_word(args, "reset=cf9")) {
		pr("platdev: reset through 0xcf9\n");
		outb(0xcf9, 0x02);
		outb(0xcf9, 0x06);
	} else if (arg_word(args, "reset=kbc")) {
		pr("platdev: reset through 0x64\n");
		outb(0x64, 0xfe);
	} else if (arg_word(args, "reset=triple")) {
		pr("platdev: reset by a triple fault\n");
		triple_fault();
	} else if (arg_word(args, "halt")) {
		pr("platdev: halting with interrupts off\n");
		halt_forever();
	} else {
		pc_exit(first_fail);
	}
	fail(EXIT_FAIL_RESET, "the machine did not reset");
	pc_exit(first_fail);
}

void pc_main(u32 magic, u32 info)
{
	struct bootinfo bi;

	uart_init();
	if (bootinfo_parse(magic, info, &bi) < 0)
		pc_exit(EXIT_FAIL_MAGIC);
	idt_init();
	pic_init();
	pr("platdev: PC devices with their interrupts through the 8259s\n");
	if (!arg_word(bi.args, "quick")) {
		com1_tests();
		rtc_tests();
		kbc_tests();
		pci_tests();
	}
	if (arg_word(bi.args, "echo"))
		com1_echo();
	pr("platdev: %s\n", first_fail ? "FAIL" : "PASS");
	end(bi.args);
}
