/*
 * irqattack: a hostile PC guest kernel that attacks the hypervisor's interrupt paths, one
 * attack per run, chosen by the argument `attack=NAME`:
 *
 *   init_cycle     BSP and AP write an INIT to each other at the same moment
 *   init_broadcast BSP and AP each broadcast INIT to all but themselves at the same moment
 *   init_storm     the BSP restarts the AP with INIT-SIPI 200 times, waiting for each start
 *   sipi_storm     10000 SIPIs at a running AP, which must ignore them
 *   nmi_twice      two self-NMIs: the second must arrive after the first one's IRET
 *   nmi_then_ipi   the AP takes an NMI, IRETs and spins with IF=0; the BSP then sends it a
 *                  fixed IPI (the ICR write must complete) and a second NMI
 *   nmi_storm      10000 NMIs at the AP, which counts them
 *   timer_storm    periodic LAPIC timer at divide 1, count 1, IF=1: the kernel must still
 *                  get its work done
 *   timer_cli      the same timer with IF=0, spinning forever (a runaway to be stopped)
 *   pit_storm      PIT channel 0 in mode 2 with count 2 (~600 kHz) into IRQ 0, IF=1: the
 *                  kernel must still get its work done
 *   smi_storm      2000 SMI IPIs to itself (not emulated: ignored, logged a bounded number
 *                  of times)
 *   ioapic_storm   the PIT at count 2 (~600 kHz) through I/O APIC pin 2 (its MP table's
 *                  IRQ 0), IF=1: the kernel must still get its work done
 *   ioapic_modes   the PIT through pin 2 with delivery modes SMI, reserved 3, 6 and ExtINT
 *                  (not emulated: dropped, logged a bounded number of times); no interrupt
 *                  may arrive
 *
 * Every line it prints is a fact about what it observed; "irqattack: PASS" and exit code 0
 * when the behaviour was architectural. Waits are bounded by loop counts, never by time.
 */
#include "guests/pc/pc.h"

#define ICR_FIXED        0x000
#define ICR_SMI          0x200
#define ICR_NMI          0x400
#define ICR_INIT         0x500
#define ICR_STARTUP      0x600
#define ICR_ASSERT       0x4000
#define ICR_LEVEL        0x8000
#define ICR_SELF         0x40000
#define ICR_ALL_BUT_SELF 0xc0000
#define DCR_DIV1         0xb
#define LVT_PERIODIC     (1u << 17)
#define VEC_NMI          2
#define SPIN_LIMIT       20000000ULL /* a bounded wait: far longer than any delivery needs */
#define EXIT_ATTACK_FAIL 0x30

extern u32 ap_next_index;

static volatile u32 ap_starts;   /* times an AP reached ap_main */
static volatile u32 ap_nmis;     /* NMIs the AP took */
static volatile u32 bsp_nmis;    /* NMIs the BSP took */
static volatile u32 ap_ipis;     /* fixed IPIs the AP took */
static volatile u32 go;          /* the BSP's signal to the AP */
static volatile u64 ap_progress; /* the AP's spin counter */
static volatile u32 timer_ticks;
static u32 ap_id;
static u32 bsp_id;
static u32 failed;

static void fail(const char *what)
{
	pr("FAIL: %s\n", what);
	failed = 1;
}

static inline u32 read_cpu_id(void)
{
	return lapic_id();
}

static void on_nmi(void)
{
	if (read_cpu_id() == bsp_id)
		bsp_nmis++;
	else
		ap_nmis++;
}

static void on_ipi(void)
{
	ap_ipis++;
	lapic_eoi();
}

static void on_timer(void)
{
	timer_ticks++;
	lapic_eoi();
}

/* Spin until *p >= want or the limit runs out; true if it got there. */
static bool wait_for(const volatile u32 *p, u32 want)
{
	for (u64 i = 0; i < SPIN_LIMIT; i++) {
		if (*p >= want)
			return true;
		cpu_pause();
	}
	return false;
}

/* What the AP does once started: report in, then follow the attack (go). */
void ap_main(u32 index)
{
	(void)index;
	idt_load();
	lapic_enable();
	ap_id = lapic_id();
	/* RELEASE: ap_id is written before the BSP, polling ap_starts (volatile loads, ordered
	 * on x86), sees this start and uses it. */
	__atomic_fetch_add(&ap_starts, 1, __ATOMIC_RELEASE);
	if (go == 1) { /* init_cycle, init_broadcast: INIT the BSP as it INITs us */
		while (go < 2)
			cpu_pause();
		lapic_send_ipi(go == 3 ? 0 : bsp_id, (go == 3 ? ICR_ALL_BUT_SELF : 0) | ICR_INIT |
		                                             ICR_ASSERT | ICR_LEVEL);
	}
	/* Spin with interrupts off (NMIs still arrive), counting. */
	for (;;) {
		ap_progress++;
		cpu_pause();
	}
}

static void start_ap(void)
{
	ap_next_index = 0;
	lapic_send_ipi(0, ICR_ALL_BUT_SELF | ICR_INIT | ICR_ASSERT | ICR_LEVEL);
	lapic_send_ipi(0, ICR_ALL_BUT_SELF | ICR_STARTUP | (AP_TRAMP_BASE >> 12));
}

static bool bring_up_ap(void)
{
	u32 before = ap_starts;

	start_ap();
	if (!wait_for(&ap_starts, before + 1)) {
		fail("the AP did not start");
		return false;
	}
	return true;
}

/* Both CPUs send INIT at once: to each other, or (broadcast) to all but themselves. */
static void init_each_other(bool broadcast)
{
	go = 1;
	if (!bring_up_ap())
		return;
	pr("%s: AP up, both CPUs now INIT each other\n",
	   broadcast ? "init_broadcast" : "init_cycle");
	go = broadcast ? 3 : 2;
	lapic_send_ipi(broadcast ? 0 : ap_id,
	               (broadcast ? ICR_ALL_BUT_SELF : 0) | ICR_INIT | ICR_ASSERT | ICR_LEVEL);
	/* A BSP that receives INIT restarts; if we get here and past the wait, it did not. */
	for (u64 i = 0; i < SPIN_LIMIT; i++)
		cpu_pause();
	fail("the BSP ran on after an INIT");
}

static void attack_init_cycle(void)
{
	init_each_other(false);
}

static void attack_init_broadcast(void)
{
	init_each_other(true);
}

static void attack_init_storm(void)
{
	const u32 rounds = 200;

	for (u32 i = 0; i < rounds; i++)
		if (!bring_up_ap())
			return;
	pr("init_storm: the AP restarted %u times after INIT-SIPI\n", rounds);
}

static void attack_sipi_storm(void)
{
	u64 before;

	if (!bring_up_ap())
		return;
	for (u32 i = 0; i < 10000; i++)
		lapic_send_ipi(ap_id, ICR_STARTUP | (AP_TRAMP_BASE >> 12));
	before = ap_progress;
	for (u64 i = 0; i < 100000 && ap_progress == before; i++)
		cpu_pause();
	if (ap_starts != 1)
		fail("a running AP restarted on a SIPI");
	else if (ap_progress == before)
		fail("the AP stopped running");
	else
		pr("sipi_storm: the running AP ignored 10000 SIPIs\n");
}

/* Send an NMI (to dest, or with the shorthand in icr) and wait until *count reaches want;
 * false (and a failure naming what) if it never does. */
static bool nmi_and_wait(u32 dest, u32 icr, volatile u32 *count, u32 want, const char *what)
{
	lapic_send_ipi(dest, icr | ICR_NMI);
	if (wait_for(count, want))
		return true;
	fail(what);
	return false;
}

static void attack_nmi_twice(void)
{
	if (nmi_and_wait(0, ICR_SELF, &bsp_nmis, 1, "the first self-NMI did not arrive") &&
	    nmi_and_wait(0, ICR_SELF, &bsp_nmis, 2,
	                 "the second self-NMI did not arrive after the first one's IRET"))
		pr("nmi_twice: 2 self-NMIs delivered\n");
}

static void attack_nmi_then_ipi(void)
{
	if (!bring_up_ap())
		return;
	if (!nmi_and_wait(ap_id, 0, &ap_nmis, 1, "the AP did not take the first NMI"))
		return;
	/* The AP spins with IF=0 after its IRET: the fixed IPI stays pending in its IRR, but
	 * the ICR write itself must complete (lapic_send_ipi returns). */
	lapic_send_ipi(ap_id, ICR_FIXED | VEC_IPI);
	pr("nmi_then_ipi: fixed IPI sent to the AP spinning with IF=0\n");
	if (nmi_and_wait(ap_id, 0, &ap_nmis, 2, "the AP did not take a second NMI after its IRET"))
		pr("nmi_then_ipi: the AP took 2 NMIs\n");
}

static void attack_nmi_storm(void)
{
	if (!bring_up_ap())
		return;
	for (u32 i = 0; i < 10000; i++)
		lapic_send_ipi(ap_id, ICR_NMI);
	if (!wait_for(&ap_nmis, 1))
		fail("the AP took no NMI");
	else if (ap_nmis > 10000)
		fail("the AP took more NMIs than were sent");
	else
		pr("nmi_storm: 10000 NMIs sent, the AP took at least one and at most 10000\n");
}

static void timer_count_1(void)
{
	irq_set(VEC_TIMER, on_timer);
	lapic_write(LAPIC_TIMER_DCR, DCR_DIV1);
	lapic_write(LAPIC_LVT_TIMER, VEC_TIMER | LVT_PERIODIC);
	lapic_write(LAPIC_TIMER_ICR, 1);
}

static void attack_timer_storm(void)
{
	volatile u64 work = 0;

	timer_count_1();
	__asm__ volatile("sti");
	for (u32 i = 0; i < 200000; i++)
		work += i;
	__asm__ volatile("cli");
	lapic_timer_stop();
	if (work != 200000ULL * 199999 / 2)
		fail("the work loop computed a wrong sum");
	else if (!timer_ticks)
		fail("the timer never fired");
	else
		pr("timer_storm: work done with a count-1 periodic timer running, ticks > 0\n");
}

static volatile u32 pit_ticks;

static void on_pit(void)
{
	pit_ticks++;
	outb(0x20, 0x20); /* non-specific EOI to the master PIC */
}

static void attack_pit_storm(void)
{
	volatile u64 work = 0;

	pic_remap_and_mask();
	irq_set(VEC_PIT, on_pit);
	outb(0x43, 0x34); /* channel 0, low then high byte, mode 2 */
	outb(0x40, 2);
	outb(0x40, 0);
	outb(0x21, 0xfe); /* unmask IRQ 0 only */
	__asm__ volatile("sti");
	for (u32 i = 0; i < 200000; i++)
		work += i;
	__asm__ volatile("cli");
	outb(0x21, 0xff);
	if (work != 200000ULL * 199999 / 2)
		fail("the work loop computed a wrong sum");
	else if (!pit_ticks)
		fail("the PIT never interrupted");
	else
		pr("pit_storm: work done with the PIT at count 2, ticks > 0\n");
}

#define IOAPIC_BASE 0xfec00000ULL
#define IOAPIC_PIT  0x14 /* pin 2's low dword (QEMU's pc and eptvisor: IRQ 0 on pin 2) */

static void ioapic_set(u32 index, u32 v)
{
	mmio_write32(IOAPIC_BASE, index);
	mmio_write32(IOAPIC_BASE + 0x10, v);
}

static void on_pit_ioapic(void)
{
	pit_ticks++;
	lapic_eoi();
}

/* Channel 0 in mode 2 with count, through pin 2 as low dword lo to this CPU. */
static void pit_via_ioapic(u16 count, u32 lo)
{
	pic_remap_and_mask();
	irq_set(VEC_PIT, on_pit_ioapic);
	outb(0x43, 0x34);
	outb(0x40, (u8)count);
	outb(0x40, (u8)(count >> 8));
	ioapic_set(IOAPIC_PIT + 1, bsp_id << 24);
	ioapic_set(IOAPIC_PIT, lo);
}

static void attack_ioapic_storm(void)
{
	volatile u64 work = 0;

	pit_via_ioapic(2, VEC_PIT);
	__asm__ volatile("sti");
	for (u32 i = 0; i < 200000; i++)
		work += i;
	__asm__ volatile("cli");
	ioapic_set(IOAPIC_PIT, 1u << 16);
	if (work != 200000ULL * 199999 / 2)
		fail("the work loop computed a wrong sum");
	else if (!pit_ticks)
		fail("the PIT never interrupted through the I/O APIC");
	else
		pr("ioapic_storm: work done with the PIT at count 2 through the I/O APIC, ticks > "
		   "0\n");
}

static void attack_ioapic_modes(void)
{
	static const u32 modes[] = { 2, 3, 6, 7 };

	pit_via_ioapic(1193, 1u << 16);
	for (u32 m = 0; m < ARRAY_SIZE(modes); m++) {
		ioapic_set(IOAPIC_PIT, VEC_PIT | modes[m] << 8);
		__asm__ volatile("sti");
		for (u64 i = 0; i < SPIN_LIMIT / 20; i++)
			cpu_pause();
		__asm__ volatile("cli");
	}
	ioapic_set(IOAPIC_PIT, 1u << 16);
	if (pit_ticks)
		fail("an interrupt arrived through a mode the I/O APIC does not deliver");
	else
		pr("ioapic_modes: the PIT routed as SMI, modes 3 and 6, ExtINT: no interrupt\n");
}

static void attack_timer_cli(void)
{
	timer_count_1();
	pr("timer_cli: count-1 periodic timer armed, spinning with interrupts off\n");
	for (;;)
		cpu_pause();
}

static void attack_smi_storm(void)
{
	for (u32 i = 0; i < 2000; i++)
		lapic_send_ipi(0, ICR_SELF | ICR_SMI);
	pr("smi_storm: 2000 SMI IPIs sent\n");
}

static const struct {
	const char *name;
	void (*run)(void);
} attacks[] = {
	{ "init_cycle", attack_init_cycle },     { "init_broadcast", attack_init_broadcast },
	{ "init_storm", attack_init_storm },     { "sipi_storm", attack_sipi_storm },
	{ "nmi_twice", attack_nmi_twice },       { "nmi_then_ipi", attack_nmi_then_ipi },
	{ "nmi_storm", attack_nmi_storm },       { "timer_storm", attack_timer_storm },
	{ "timer_cli", attack_timer_cli },       { "smi_storm", attack_smi_storm },
	{ "pit_storm", attack_pit_storm },       { "ioapic_storm", attack_ioapic_storm },
	{ "ioapic_modes", attack_ioapic_modes },
};

/* The value of "attack=" among the space-separated arguments, or NULL. */
static const char *attack_arg(const char *args, size_t *len)
{
	for (const char *a = args; *a; a++)
		if ((a == args || a[-1] == ' ') && !strncmp(a, "attack=", 7)) {
			const char *v = a + 7, *end = strchr(v, ' ');

			*len = end ? (size_t)(end - v) : strlen(v);
			return v;
		}
	return NULL;
}

void pc_main(u32 magic, u32 info)
{
	struct bootinfo bi;
	const char *want;
	size_t len = 0;

	uart_init();
	idt_init();
	if (bootinfo_parse(magic, info, &bi) < 0)
		pc_exit(EXIT_FAIL_MAGIC);
	lapic_enable();
	bsp_id = lapic_id();
	irq_set(VEC_NMI, on_nmi);
	irq_set(VEC_IPI, on_ipi);
	memcpy((void *)AP_TRAMP_BASE, ap_tramp_start,
	       (size_t)((u64)ap_tramp_end - (u64)ap_tramp_start));
	want = attack_arg(bi.args, &len);
	for (size_t i = 0; want && i < ARRAY_SIZE(attacks); i++)
		if (strlen(attacks[i].name) == len && !strncmp(want, attacks[i].name, len)) {
			pr("irqattack: %s\n", attacks[i].name);
			attacks[i].run();
			pr("irqattack: %s\n", failed ? "FAIL" : "PASS");
			pc_exit(failed ? EXIT_ATTACK_FAIL : EXIT_PASS);
		}
	pr("irqattack: no known attack= in '%s'\n", bi.args);
	pc_exit(EXIT_ATTACK_FAIL);
}
