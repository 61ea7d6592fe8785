/*
 * nmi.elf: NMIs as the SDM describes them (Vol. 3A 6.7.1, 10.6.1), one line per case, compared
 * with QEMU TCG (tests/harness/test_fidelity.py):
 *   - a self-NMI (ICR, delivery mode NMI, physical destination = own APIC ID) with IF=1 and
 *     with IF=0: how many instructions after the ICR write ran before the handler;
 *   - two more NMIs sent from inside the handler (before its IRET): none nests, and after
 *     the IRET exactly one is taken (one NMI pending at most);
 *   - a self-NMI sent by the instruction in an STI shadow and by the one in a MOV SS shadow;
 *   - an NMI sent by the other CPU while this one spins with IF=0.
 * The NMI handler runs through isr.S/idt.c (exc_set(2)); it counts NMIs and notes how many of
 * the counted instructions had run. Exit code 0x28 if a case went wrong.
 */
#include "guests/pc/pc.h"

#define VEC_NMI   2
#define ICR_NMI   0x400
#define SPIN_LONG 2000000

static volatile u32 nmis;         /* NMIs taken */
static volatile u32 nested;       /* NMIs taken while the handler ran */
static volatile u32 in_handler;   /* inside the handler, before its IRET */
static volatile u32 after;        /* instructions after the ICR write that ran first */
static volatile u32 after_at_nmi; /* AFTER when the last NMI came */
static volatile u32 burst;        /* the handler sends two more NMIs (case 2) */
static volatile u32 held;         /* NMIs taken during the handler's wait */
static volatile u32 ap_ready, ap_fire;
static u32 my_id;
static bool failed;

static void send_self_nmi(void)
{
	lapic_write(LAPIC_ICR_HI, my_id << 24);
	lapic_write(LAPIC_ICR_LO, ICR_NMI);
}

static void spin(u32 n)
{
	for (volatile u32 i = 0; i < n; i++)
		cpu_pause();
}

static void on_nmi(u64 vector, u64 error, u64 *rip)
{
	(void)vector;
	(void)error;
	if (in_handler)
		nested++;
	in_handler = 1;
	nmis++;
	(void)rip;
	after_at_nmi = after;
	if (burst) {
		u32 before = nmis;

		burst = 0;
		send_self_nmi();
		send_self_nmi();
		spin(20000);
		held = nmis - before;
	}
	in_handler = 0;
}

static void check(bool ok, const char *what)
{
	if (!ok) {
		pr("nmi: FAIL: %s\n", what);
		failed = true;
	}
}

/* The ICR write, then eight counted instructions: AFTER says how many ran before the NMI.
 * PRE is the instruction before the write (nop, sti, or mov to SS). */
#define SELF_NMI_THEN_COUNT(pre)                                                                   \
	do {                                                                                       \
		u64 scratch = 0;                                                                   \
		__asm__ volatile("movl %%ecx, 0x310(%%rsi)\n\t" pre "\n\t"                         \
		                 "movl %%eax, 0x300(%%rsi)\n\t"                                    \
		                 "incl after(%%rip)\n\tincl after(%%rip)\n\t"                      \
		                 "incl after(%%rip)\n\tincl after(%%rip)\n\t"                      \
		                 "incl after(%%rip)\n\tincl after(%%rip)\n\t"                      \
		                 "incl after(%%rip)\n\tincl after(%%rip)\n\t"                      \
		                 : "+d"(scratch)                                                   \
		                 : "a"(ICR_NMI), "c"(my_id << 24), "S"(LAPIC_BASE)                 \
		                 : "memory");                                                      \
	} while (0)

static void report_count(const char *name, u32 want_nmis)
{
	u32 n = nmis, a = after_at_nmi;

	pr("nmi: %s: taken %u time(s), after %u of 8 following instructions\n", name, n, a);
	check(n == want_nmis, name);
}

static void case_self(void)
{
	nmis = 0;
	after = 0;
	__asm__ volatile("sti" ::: "memory");
	SELF_NMI_THEN_COUNT("nop");
	__asm__ volatile("cli" ::: "memory");
	report_count("self NMI, IF=1", 1);

	nmis = 0;
	after = 0;
	SELF_NMI_THEN_COUNT("nop");
	report_count("self NMI, IF=0", 1);
}

static void case_shadows(void)
{
	nmis = 0;
	after = 0;
	SELF_NMI_THEN_COUNT("sti");
	__asm__ volatile("cli" ::: "memory");
	report_count("self NMI sent in an STI shadow", 1);

	nmis = 0;
	after = 0;
	SELF_NMI_THEN_COUNT("mov %%ss, %%dx\n\tmov %%dx, %%ss");
	report_count("self NMI sent in a MOV SS shadow", 1);
}

static void case_in_handler(void)
{
	nmis = 0;
	nested = 0;
	burst = 1;
	send_self_nmi();
	spin(20000);
	pr("nmi: two NMIs sent in the handler: %u taken before its IRET, %u nested, %u in "
	   "all\n",
	   held, nested, nmis);
	check(held == 0 && nested == 0 && nmis == 2, "NMIs sent in the handler");
}

/* ---- the other CPU ---- */

void ap_main(u32 index)
{
	(void)index;
	idt_load();
	lapic_enable();
	__atomic_store_n(&ap_ready, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&ap_fire, __ATOMIC_ACQUIRE))
		cpu_pause();
	lapic_send_ipi(my_id, ICR_NMI);
	halt_forever();
}

static bool start_ap(void)
{
	ap_start_all();
	for (u32 i = 0; i < 1000 && !__atomic_load_n(&ap_ready, __ATOMIC_ACQUIRE); i++)
		lapic_delay(1000000);
	return ap_ready;
}

static void case_other_cpu(void)
{
	u32 i;

	if (!start_ap()) {
		pr("nmi: NMI from the other CPU: no other CPU\n");
		return;
	}
	nmis = 0;
	__atomic_store_n(&ap_fire, 1, __ATOMIC_RELEASE);
	for (i = 0; i < 1000 && !nmis; i++)
		spin(SPIN_LONG / 1000);
	for (; i < 1000 && nmis; i++)
		cpu_pause(); /* a second one would arrive in this time */
	pr("nmi: NMI from the other CPU, IF=0: taken %u time(s)\n", nmis);
	check(nmis == 1, "NMI from the other CPU");
}

void pc_main(u32 magic, u32 info)
{
	(void)magic;
	(void)info;
	uart_init();
	idt_init();
	pic_remap_and_mask();
	lapic_enable();
	my_id = lapic_id();
	exc_set(VEC_NMI, on_nmi);
	pr("nmi: NMIs to this CPU\n");
	case_self();
	case_in_handler();
	case_shadows();
	case_other_cpu();
	pr("nmi: %s\n", failed ? "FAIL" : "PASS");
	pc_exit(failed ? EXIT_FAIL_NMI : EXIT_PASS);
}
