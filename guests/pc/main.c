/*
 * pcmb1 / pcmb2: a PC guest kernel that exercises the platform a hobby kernel touches, and
 * prints only facts that are the same under QEMU and under eptvisor: the multiboot info,
 * the UART, fw_cfg, the PICs, the LAPIC and its timer (counts, never times) and SMP start-up.
 * The name (pcmb1 or pcmb2) follows from the multiboot magic. Every failed check prints
 * "FAIL: <what>"; the first one's code goes to isa-debug-exit at the end (0 = PASS).
 */
#include "guests/pc/pc.h"

#define MSR_APIC_BASE       0x1b
#define APIC_BASE_BSP       (1ull << 8)
#define APIC_BASE_ENABLE    (1ull << 11)
#define APIC_BASE_ADDR_MASK 0xffffff000ull
#define PERIODIC_TICKS      10
#define TIMER_COUNT         100000 /* divide 16: 1.6 ms under QEMU */

static const char *name = "pcmb";
static u32 first_fail;
static volatile u32 ticks;

static void fail(u32 code, const char *what)
{
	pr("FAIL: %s\n", what);
	if (!first_fail)
		first_fail = code;
}

static void show_bootinfo(const struct bootinfo *bi)
{
	pr("cmdline: %s\n", bi->args);
	if (bi->has_mem)
		pr("mem: lower %u KiB, upper %u KiB\n", bi->mem_lower, bi->mem_upper);
	for (int i = 0; i < bi->nmmap; i++)
		pr("mmap: 0x%010llx-0x%010llx type %u\n", (unsigned long long)bi->mmap[i].base,
		   (unsigned long long)(bi->mmap[i].base + bi->mmap[i].len - 1), bi->mmap[i].type);
	pr("modules: %u\n", bi->nmods);
}

/* fw_cfg: signature, CPU count, RAM size, and an unknown key. Returns the CPU count. */
static u32 check_fw_cfg(void)
{
	char sig[5] = { 0 };
	u16 cpus = 0;
	u64 ram = 0, unknown = ~0ull;

	fw_cfg_read(FW_CFG_SIGNATURE, sig, 4);
	if (memcmp(sig, "QEMU", 4) != 0) {
		fail(EXIT_FAIL_FWCFG, "fw_cfg signature is not QEMU");
		return 1;
	}
	pr("fw_cfg: signature %s\n", sig);
	fw_cfg_read(FW_CFG_NB_CPUS, &cpus, sizeof(cpus));
	fw_cfg_read(FW_CFG_RAM_SIZE, &ram, sizeof(ram));
	pr("fw_cfg: cpus %u, ram %llu MiB\n", cpus, (unsigned long long)(ram >> 20));
	fw_cfg_read(FW_CFG_UNKNOWN_KEY, &unknown, sizeof(unknown));
	if (unknown == 0)
		pr("fw_cfg: key 0x%x reads as zero\n", FW_CFG_UNKNOWN_KEY);
	else
		fail(EXIT_FAIL_FWCFG_KEY, "fw_cfg unknown key does not read as zero");
	return cpus ? cpus : 1;
}

static void check_lapic(void)
{
	u64 base = rdmsr(MSR_APIC_BASE);

	if ((base & APIC_BASE_ADDR_MASK) != LAPIC_BASE || !(base & APIC_BASE_BSP) ||
	    !(base & APIC_BASE_ENABLE)) {
		fail(EXIT_FAIL_LAPIC, "IA32_APIC_BASE is not 0xfee00000, BSP, enabled");
		return;
	}
	pr("lapic: IA32_APIC_BASE 0x%llx, BSP, enabled\n",
	   (unsigned long long)(base & APIC_BASE_ADDR_MASK));
	lapic_enable();
	pr("lapic: id %u, version 0x%x\n", lapic_id(), lapic_read(LAPIC_VER));
}

static void on_tick(void)
{
	ticks++;
	lapic_eoi();
}

/* Periodic until PERIODIC_TICKS interrupts (waiting in HLT), then one one-shot. */
static void check_timer(void)
{
	irq_set(VEC_TIMER, on_tick);
	ticks = 0;
	lapic_timer_start(TIMER_COUNT, true);
	while (ticks < PERIODIC_TICKS)
		sti_hlt();
	cli();
	lapic_timer_stop();
	pr("timer: periodic %u ticks ok\n", PERIODIC_TICKS);

	/* A periodic tick still pending when the timer stopped may arrive first: wait for the
	 * one-shot's own count to run out, not only for an interrupt. */
	ticks = 0;
	lapic_timer_start(TIMER_COUNT, false);
	while (ticks == 0 || lapic_read(LAPIC_TIMER_CCR) != 0)
		sti_hlt();
	cli();
	if (lapic_read(LAPIC_TIMER_CCR) == 0)
		pr("timer: one-shot ok\n");
	else
		fail(EXIT_FAIL_ONESHOT, "one-shot timer reloaded");
	lapic_timer_stop();
}

/*
 * work=N (an argument): N passes over a 4 MiB buffer at 8 MiB, each checking that every page
 * still holds the previous pass's number and writing its own. Gives a hypervisor's dirty
 * logging, idle scans and page moves something to watch, and proves no write was lost.
 */
#define WORK_BUF  0x800000ull
#define WORK_SIZE 0x400000ull

/* Is `word` one of the space-separated arguments (or the start of one, for "word=")? */
static const char *arg(const char *args, const char *word)
{
	size_t n = strlen(word);

	for (const char *a = args; *a; a++)
		if ((a == args || a[-1] == ' ') && !strncmp(a, word, n) &&
		    (word[n - 1] == '=' || a[n] == ' ' || !a[n]))
			return a + n;
	return NULL;
}

/* The decimal number at s. */
static u32 number(const char *s)
{
	u32 n = 0;

	for (; *s >= '0' && *s <= '9'; s++)
		n = n * 10 + (u32)(*s - '0');
	return n;
}

static u32 work_passes(const char *args)
{
	u32 n = 0;

	for (const char *a = args; *a; a++) {
		if ((a == args || a[-1] == ' ') && !strncmp(a, "work=", 5)) {
			for (a += 5; *a >= '0' && *a <= '9'; a++)
				n = n * 10 + (u32)(*a - '0');
			return n;
		}
	}
	return 0;
}

static void do_work(u32 passes)
{
	volatile u64 *buf = (volatile u64 *)WORK_BUF;
	u64 bad = 0;

	for (u64 p = 1; p <= passes; p++)
		for (u64 i = 0; i < WORK_SIZE / 8; i += 512) {
			if (buf[i] != p - 1)
				bad++;
			buf[i] = p;
		}
	if (bad)
		fail(EXIT_FAIL_WORK, "work buffer lost writes");
	else
		pr("work: %u passes over 4 MiB verified\n", passes);
}

/* The PIT's channel 0 at ~1 kHz (mode 2) into IRQ 0 of the master PIC, through the BSP's
 * LINT0 as the BIOS left it: 10 interrupts, each acknowledged with a PIC EOI. */
#define PIT_COUNT 1193

static volatile u32 pit_ticks;

static void on_pit(void)
{
	pit_ticks++;
	outb(0x20, 0x20); /* non-specific EOI to the master PIC */
}

static void check_pit(void)
{
	irq_set(VEC_PIT, on_pit);
	pit_ticks = 0;
	outb(0x43, 0x34); /* channel 0, low then high byte, mode 2 */
	outb(0x40, PIT_COUNT & 0xff);
	outb(0x40, PIT_COUNT >> 8);
	outb(0x21, 0xfe); /* unmask IRQ 0 only */
	while (pit_ticks < PERIODIC_TICKS)
		sti_hlt();
	cli();
	outb(0x21, 0xff);
	pr("pit: %u ticks through the PIC ok\n", PERIODIC_TICKS);
}

static u32 ap_id; /* the first AP's APIC ID, once check_smp has started it */

static void check_smp(u32 ncpus)
{
	u32 ids[MAX_CPUS];
	int up;

	if (ncpus > MAX_CPUS) {
		fail(EXIT_FAIL_SMP, "more CPUs than this kernel supports");
		return;
	}
	up = smp_start(ncpus, ids);
	if (up < 0) {
		fail(EXIT_FAIL_SMP, "not every AP came up and sent its IPI");
		return;
	}
	pr("smp: %d CPUs up\n", up);
	pr("smp: apic ids");
	for (int i = 0; i < up; i++)
		pr(" %u", ids[i]);
	pr("\n");
	for (int i = 1; i < up; i++)
		if (ids[i] == ids[i - 1])
			fail(EXIT_FAIL_SMP_IDS, "two CPUs report the same APIC ID");
	ap_id = ids[0] == lapic_id() ? ids[1] : ids[0];
}

/* apicloop=N: N rounds of an IPI round trip to the first AP and a tick of the LAPIC timer,
 * both vCPUs taking interrupts all along (a hypervisor may move its APIC pages meanwhile). */
static void apic_loop(u32 rounds, u32 ncpus)
{
	u32 done;

	if (ncpus < 2) {
		fail(EXIT_FAIL_SMP, "apicloop needs two CPUs");
		return;
	}
	done = smp_ping_pong(ap_id, rounds);
	if (done == rounds)
		pr("apic: %u rounds of a timer tick and an IPI round trip ok\n", rounds);
	else
		fail(EXIT_FAIL_SMP, "the AP stopped answering pings");
}

void pc_main(u32 magic, u32 info)
{
	struct bootinfo bi;

	uart_init();
	name = magic == MB2_BOOT_MAGIC ? "pcmb2" : "pcmb1";
	pr("%s: PC guest kernel, multiboot %c\n", name, magic == MB2_BOOT_MAGIC ? '2' : '1');
	idt_init();
	if (bootinfo_parse(magic, info, &bi) < 0) {
		fail(EXIT_FAIL_MAGIC, "EAX is not a multiboot magic");
		pc_exit(first_fail);
	}
	show_bootinfo(&bi);
	if (uart_scratch_ok())
		pr("uart: scratch register ok\n");
	else
		fail(EXIT_FAIL_UART, "uart scratch register");
	u32 ncpus = check_fw_cfg();
	if (pic_remap_and_mask())
		pr("pic: remapped to 0x20/0x28, all masked\n");
	check_lapic();
	check_timer();
	check_pit();
	smp_ap_ponger = arg(bi.args, "apicloop=") != NULL;
	check_smp(ncpus);
	if (smp_ap_ponger)
		apic_loop(number(arg(bi.args, "apicloop=")), ncpus);
	if (work_passes(bi.args))
		do_work(work_passes(bi.args));
	pr("%s: %s\n", name, first_fail ? "FAIL" : "PASS");
	if (arg(bi.args, "hang")) {
		/* "hang": never exit; every CPU ends in cli; hlt (the APs already are). */
		pr("%s: halting with interrupts off\n", name);
		halt_forever();
	}
	pc_exit(first_fail);
}
