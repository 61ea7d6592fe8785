/*
 * ioapic: the platform a kernel without ACPI finds its CPUs and interrupts on (Linux with
 * acpi=off): the Intel MP table and the I/O APIC. It finds the MP table where Linux looks
 * (the EBDA's first KiB, the last KiB of base memory, the BIOS area), checks both
 * checksums, prints its contents, then programs the I/O APIC at the address the table gives:
 * the PIT (ISA IRQ 0, through the pin the table names) and COM1 (IRQ 4, edge, then level)
 * to the BSP, with the PICs masked, and counts the interrupts that come through; with two
 * CPUs or more it starts the APs and routes the PIT to one of them.
 *
 * Printed are only the facts QEMU (SeaBIOS's MP table, QEMU's I/O APIC) and eptvisor must
 * share: the processor entries, an ISA bus, the I/O APIC's address and version, the ISA IRQs
 * that are not PCI's (SeaBIOS leaves 5, 9, 10, 11 to PCI) and where they go, the local
 * interrupts, the I/O APIC's pin count and reset state. Not printed: the OEM strings, the
 * table's address, the I/O APIC's ID and its version register (QEMU 7.2's pc has 0x20,
 * eptvisor an 82093AA's 0x11). Every failed check prints "FAIL: <what>"; the first one's
 * code goes to isa-debug-exit at the end (0 = PASS).
 */
#include "guests/pc/pc.h"

#define IOAPIC_REGSEL 0x00
#define IOAPIC_WIN    0x10
#define RTE_MASKED    (1u << 16)
#define RTE_LEVEL     (1u << 15)
#define RTE_IRR       (1u << 14)
#define VEC_IOA_PIT   VEC_TIMER /* vectors with a stub in isr.S (the LAPIC's are unused here) */
#define VEC_IOA_COM1  VEC_IPI
#define PIT_COUNT     1193 /* ~1 kHz */
#define PIT_TICKS     10
#define COM1_IRQS     5
#define MP_CPU        0
#define MP_BUS        1
#define MP_IOAPIC     2
#define MP_INTSRC     3
#define MP_LINTSRC    4

static u32 first_fail;
static u64 ioapic_base;
static u8 ioapic_mp_id;
static int pit_pin = -1, com1_pin = -1; /* from the MP table */
static u8 isa_bus = 0xff;

static void fail(u32 code, const char *what)
{
	pr("FAIL: %s\n", what);
	if (!first_fail)
		first_fail = code;
}

static u8 sum8(const u8 *p, u32 len)
{
	u8 s = 0;

	while (len--)
		s = (u8)(s + *p++);
	return s;
}

static u16 rd16(const u8 *p)
{
	return (u16)(p[0] | p[1] << 8);
}

static u32 rd32(const u8 *p)
{
	return p[0] | (u32)p[1] << 8 | (u32)p[2] << 16 | (u32)p[3] << 24;
}

/* A valid floating pointer in [start, start + len), 16-byte aligned, or NULL. */
static const u8 *scan(u64 start, u64 len)
{
	for (u64 a = start; a + 16 <= start + len; a += 16) {
		const u8 *p = (const u8 *)a;

		if (!memcmp(p, "_MP_", 4) && p[8] == 1 && sum8(p, 16) == 0)
			return p;
	}
	return NULL;
}

/* Where Linux's smp_scan_config looks, in its order. */
static const u8 *find_mpf(void)
{
	u64 bda = 0x400, ebda;
	const u8 *p = NULL;

	__asm__("" : "+r"(bda)); /* a real address, not a null-page constant to the compiler */
	ebda = (u64) * (volatile u16 *)(bda + 0x0e) << 4;

	if (ebda >= 0x80000 && ebda < 0xa0000)
		p = scan(ebda, 1024);
	if (!p)
		p = scan(0x9fc00, 1024);
	return p ? p : scan(0xf0000, 0x10000);
}

/* CPUID leaf 1: EAX (the signature) and EDX (the features). */
static void cpuid1(u32 *eax, u32 *edx)
{
	u32 b, c;

	__asm__ volatile("cpuid" : "=a"(*eax), "=b"(b), "=c"(c), "=d"(*edx) : "a"(1), "c"(0));
}

static void show_cpu(const u8 *e)
{
	u32 sig, features;

	cpuid1(&sig, &features);

	pr("mp: cpu apic id %u, version 0x%x, %s%s\n", e[1], e[2],
	   (e[3] & 1) ? "enabled" : "disabled", (e[3] & 2) ? ", BSP" : "");
	if (rd32(e + 4) != sig || rd32(e + 8) != features)
		fail(EXIT_FAIL_MPTABLE,
		     "a processor entry's signature or features are not CPUID 1's");
}

static void show_intsrc(const u8 *e)
{
	u8 irq = e[5];

	if (e[4] != isa_bus) /* PCI devices' entries (SeaBIOS) */
		return;
	if (irq == 0)
		pit_pin = e[7];
	if (irq == 4)
		com1_pin = e[7];
	if (e[6] != ioapic_mp_id && e[6] != 0xff)
		fail(EXIT_FAIL_MPTABLE, "an interrupt entry names another I/O APIC");
	/* 5, 9, 10, 11: PCI's under SeaBIOS, ISA's here; not compared. */
	if (irq == 5 || (irq >= 9 && irq <= 11))
		return;
	pr("mp: isa irq %u -> ioapic pin %u, type %u, flags 0x%x\n", irq, e[7], e[1], rd16(e + 2));
}

static void show_lintsrc(const u8 *e)
{
	pr("mp: local interrupt type %u -> apic 0x%x LINT%u\n", e[1], e[6], e[7]);
}

/* The entry at e (the processor entries are 20 bytes, the others 8); returns its size. */
static u32 show_entry(const u8 *e, int *ncpus)
{
	switch (e[0]) {
	case MP_CPU:
		show_cpu(e);
		++*ncpus;
		return 20;
	case MP_BUS:
		if (!memcmp(e + 2, "ISA   ", 6)) {
			isa_bus = e[1];
			pr("mp: ISA bus\n");
		}
		return 8;
	case MP_IOAPIC:
		ioapic_base = rd32(e + 4);
		ioapic_mp_id = e[1];
		pr("mp: ioapic at 0x%llx, version 0x%x, %s\n", (unsigned long long)ioapic_base,
		   e[2], (e[3] & 1) ? "enabled" : "disabled");
		return 8;
	case MP_INTSRC:
		show_intsrc(e);
		return 8;
	case MP_LINTSRC:
		show_lintsrc(e);
		return 8;
	}
	fail(EXIT_FAIL_MPTABLE, "an MP table entry of an unknown type");
	return 0;
}

/* The two passes: buses first (interrupt entries name the ISA bus by its ID). */
static int show_entries(const u8 *c)
{
	const u8 *e = c + 44, *end = c + rd16(c + 4);
	int ncpus = 0;

	for (u32 i = 0; i < rd16(c + 34) && e < end; i++) {
		if (e[0] == MP_BUS && !memcmp(e + 2, "ISA   ", 6))
			isa_bus = e[1];
		e += e[0] == MP_CPU ? 20 : 8;
	}
	e = c + 44;
	for (u32 i = 0; i < rd16(c + 34) && e < end; i++) {
		u32 n = show_entry(e, &ncpus);

		if (!n)
			break;
		e += n;
	}
	return ncpus;
}

static bool check_mptable(u32 ncpus)
{
	const u8 *f = find_mpf(), *c;
	int found;

	if (!f) {
		fail(EXIT_FAIL_MPTABLE, "no MP floating pointer");
		return false;
	}
	c = (const u8 *)(u64)rd32(f + 4);
	if (f[11] != 0 || !c || memcmp(c, "PCMP", 4) || sum8(c, rd16(c + 4))) {
		fail(EXIT_FAIL_MPTABLE, "no valid MP configuration table");
		return false;
	}
	pr("mp: floating pointer spec 1.%u, configuration table spec 1.%u, checksums ok\n", f[9],
	   c[6]);
	pr("mp: local apic at 0x%x\n", rd32(c + 36));
	found = show_entries(c);
	if ((u32)found != ncpus)
		fail(EXIT_FAIL_MPTABLE, "not one processor entry per CPU");
	if (!ioapic_base || pit_pin < 0 || com1_pin < 0) {
		fail(EXIT_FAIL_MPTABLE, "no I/O APIC or no entry for ISA IRQ 0 or 4");
		return false;
	}
	return true;
}

static u32 ioa_read(u32 index)
{
	mmio_write32(ioapic_base + IOAPIC_REGSEL, index);
	return mmio_read32(ioapic_base + IOAPIC_WIN);
}

static void ioa_write(u32 index, u32 v)
{
	mmio_write32(ioapic_base + IOAPIC_REGSEL, index);
	mmio_write32(ioapic_base + IOAPIC_WIN, v);
}

/* Pin pin to vector vec (edge, active high, fixed, physical) on APIC ID dest, or masked. */
static void ioa_route(int pin, u8 vec, u8 dest, bool masked)
{
	ioa_write(0x11 + 2 * (u32)pin, (u32)dest << 24);
	ioa_write(0x10 + 2 * (u32)pin, vec | (masked ? RTE_MASKED : 0));
}

static void check_registers(void)
{
	u32 ver = ioa_read(1), pins = ((ver >> 16) & 0xff) + 1;
	bool all_masked = true;

	pr("ioapic: %u redirection entries, version %s 0x11\n", pins,
	   (ver & 0xff) >= 0x11 ? ">=" : "<");
	if ((ioa_read(0) >> 24 & 0xf) != ioapic_mp_id)
		fail(EXIT_FAIL_IOAPIC, "the I/O APIC's ID is not the MP table's");
	for (u32 i = 0; i < pins; i++)
		all_masked &= ioa_read(0x10 + 2 * i) == RTE_MASKED && ioa_read(0x11 + 2 * i) == 0;
	if (all_masked)
		pr("ioapic: every pin masked, edge, vector 0 at reset\n");
	else
		fail(EXIT_FAIL_IOAPIC, "a redirection entry is not masked at reset");
	ioa_write(0x10 + 2 * 23, 0xffffffff);
	ioa_write(0x11 + 2 * 23, 0xffffffff);
	pr("ioapic: pin 23 all ones reads 0x%x 0x%x\n", ioa_read(0x10 + 2 * 23) & ~0x1000u,
	   ioa_read(0x11 + 2 * 23));
	ioa_write(0x10 + 2 * 23, RTE_MASKED);
	ioa_write(0x11 + 2 * 23, 0);
}

static volatile u32 pit_ticks, com1_irqs;

static void on_pit(void)
{
	pit_ticks++;
	lapic_eoi();
}

static void check_pit(void)
{
	irq_set(VEC_IOA_PIT, on_pit);
	ioa_route(pit_pin, VEC_IOA_PIT, (u8)lapic_id(), false);
	outb(0x43, 0x34); /* channel 0, low then high byte, mode 2 */
	outb(0x40, PIT_COUNT & 0xff);
	outb(0x40, PIT_COUNT >> 8);
	while (pit_ticks < PIT_TICKS)
		sti_hlt();
	cli();
	ioa_route(pit_pin, VEC_IOA_PIT, 0, true);
	pr("pit: %u ticks through ioapic pin %d ok\n", PIT_TICKS, pit_pin);
}

/* COM1's THR-empty interrupt: each one writes the next digit, whose transmission makes the
 * THR empty again; the sixth turns the interrupt off. */
static void on_com1(void)
{
	u32 n = ++com1_irqs;

	(void)inb(0x3fa); /* IIR: acknowledges THR empty */
	if (n <= COM1_IRQS)
		outb(0x3f8, (u8)('0' + n));
	else
		outb(0x3f9, 0);
	lapic_eoi();
}

static void check_com1(void)
{
	irq_set(VEC_IOA_COM1, on_com1);
	ioa_route(com1_pin, VEC_IOA_COM1, (u8)lapic_id(), false);
	pr("com1: THR-empty interrupts ");
	while (!(inb(0x3fd) & 0x40)) /* transmitter empty: the line above is out */
		cpu_pause();
	outb(0x3f9, 0x02); /* IER: THR empty */
	while (com1_irqs <= COM1_IRQS)
		sti_hlt();
	cli();
	ioa_route(com1_pin, VEC_IOA_COM1, 0, true);
	pr("\ncom1: %u interrupts through ioapic pin %d ok\n", COM1_IRQS + 1, com1_pin);
}

/* The same line level-triggered: while the handler leaves THR empty pending (IIR unread) the
 * line stays high, so each EOI (broadcast to the I/O APIC) clears remote IRR and the pin
 * interrupts again; the third interrupt reads IIR, the line drops, and no more come. */
static volatile u32 level_irqs, level_remote_irr;

static void on_com1_level(void)
{
	u32 n = ++level_irqs;

	if (ioa_read(0x10 + 2 * (u32)com1_pin) & RTE_IRR)
		level_remote_irr++;
	if (n >= 3) {
		(void)inb(0x3fa);
		outb(0x3f9, 0);
	}
	lapic_eoi();
}

static void check_com1_level(void)
{
	irq_set(VEC_IOA_COM1, on_com1_level);
	ioa_write(0x11 + 2 * (u32)com1_pin, lapic_id() << 24);
	ioa_write(0x10 + 2 * (u32)com1_pin, VEC_IOA_COM1 | RTE_LEVEL);
	outb(0x3f9, 0x02); /* IER: THR empty, pending at once */
	while (level_irqs < 3)
		sti_hlt();
	sti(); /* room for a wrong fourth one */
	for (int i = 0; i < 100000; i++)
		cpu_pause();
	cli();
	if (level_irqs == 3 && level_remote_irr == 3 &&
	    !(ioa_read(0x10 + 2 * (u32)com1_pin) & RTE_IRR))
		pr("com1: level-triggered: 3 interrupts while the line was high, remote IRR set "
		   "in each handler, clear after the EOI\n");
	else
		fail(EXIT_FAIL_IOAPIC, "level-triggered COM1: wrong interrupts or remote IRR");
	ioa_route(com1_pin, VEC_IOA_COM1, 0, true);
}

/* The PIT through pin 2 to an AP: the AP answers each tick (VEC_PING, smp_ap_ponger) with a
 * VEC_PONG IPI to the BSP, which counts them; a LAPIC timer on the BSP bounds the wait. */
static volatile u32 pongs, watchdog;

static void on_pong(void)
{
	pongs++;
	lapic_eoi();
}

static void on_watchdog(void)
{
	watchdog++;
	lapic_eoi();
}

static void check_pit_to_ap(u32 ncpus)
{
	u32 ids[MAX_CPUS], ap;

	smp_ap_ponger = true;
	if (ncpus > MAX_CPUS || smp_start(ncpus, ids) != (int)ncpus) {
		fail(EXIT_FAIL_SMP, "not every AP came up");
		return;
	}
	ap = ids[0] == lapic_id() ? ids[1] : ids[0];
	irq_set(VEC_PONG, on_pong);
	irq_set(VEC_TIMER, on_watchdog);
	lapic_timer_start(1000000, true); /* 16 ms per tick under QEMU */
	ioa_route(pit_pin, VEC_PING, (u8)ap, false);
	while (pongs < PIT_TICKS && watchdog < 500)
		sti_hlt();
	cli();
	ioa_route(pit_pin, VEC_PING, 0, true);
	lapic_timer_stop();
	if (pongs >= PIT_TICKS)
		pr("pit: %u ticks through ioapic pin %d to the AP, each answered by an IPI\n",
		   PIT_TICKS, pit_pin);
	else
		fail(EXIT_FAIL_IOAPIC, "the PIT's ticks did not reach the AP");
}

void pc_main(u32 magic, u32 info)
{
	struct bootinfo bi;
	u16 ncpus = 0;

	uart_init();
	pr("ioapic: PC guest kernel, MP table and I/O APIC\n");
	idt_init();
	if (bootinfo_parse(magic, info, &bi) < 0) {
		fail(EXIT_FAIL_MAGIC, "EAX is not a multiboot magic");
		pc_exit(first_fail);
	}
	fw_cfg_read(FW_CFG_NB_CPUS, &ncpus, sizeof(ncpus));
	if (pic_remap_and_mask())
		pr("pic: remapped to 0x20/0x28, all masked\n");
	lapic_enable();
	if (check_mptable(ncpus ? ncpus : 1)) {
		check_registers();
		check_pit();
		check_com1();
		check_com1_level();
		if (ncpus > 1)
			check_pit_to_ap(ncpus);
	}
	pr("ioapic: %s\n", first_fail ? "FAIL" : "PASS");
	pc_exit(first_fail);
}
