/*
 * dbg.elf: debug exceptions and RFLAGS.RF as a kernel written for QEMU/KVM sees them
 * (issue 16). Each case (guests/pc/dbg_cases.S) runs once with its debug registers set, and
 * prints one line with every event it took, in order: the vector, where (label+offset), RF
 * and TF in the pushed RFLAGS, and for #DB the DR6 it found (the handler then writes DR6
 * back to its reset value 0xffff0ff0, so each #DB shows only its own bits):
 *
 *   single-step (TF) over NOP, CPUID, RDMSR, OUT, MMIO to unassigned memory and to the APIC
 *   (instructions a hypervisor emulates), over REP MOVSL from MMIO (a trap per iteration),
 *   over MOV SS; NOP and MOV SS; CPUID (the trap comes after the second), over STI; CPUID
 *   and STI; HLT (the APIC timer ends the HLT), over UD2 and RDPMC (the fault, no trap);
 *   instruction breakpoints (DR0/DR1, RW 00), also on the instruction after an emulated one
 *   (which must fire: an instruction that completes clears RF) and on an emulated one
 *   returned to with RF=1; data breakpoints (RW 01 write, RW 11 read/write, two at once);
 *   DR7.GD with MOV from and to a debug register (#DB with DR6.BD, GD cleared); and the RF
 *   that faults push: #UD by UD2 (also with the stack on a page nothing touched yet, whose
 *   first touch under eptvisor interrupts the delivery), #UD by MONITOR and #GP by RDPMC
 *   (the last two injected by a hypervisor that exits on them).
 *
 * tests/harness/test_fidelity.py compares the lines with QEMU TCG's and names where TCG
 * differs from the SDM.
 */
#include "guests/pc/pc.h"

#define EXC_DB        1
#define EXC_BP        3
#define EXC_UD        6
#define EXC_GP        13
#define RFLAGS_TF     (1ull << 8)
#define RFLAGS_RF     (1ull << 16)
#define DR6_RESET     0xffff0ff0ull
#define DR7_RESET     0x400ull
#define DR7_GD        (1ull << 13)
#define DR7_L(n)      (1ull << (2 * (n)))
#define DR7_RW(n, v)  ((u64)(v) << (16 + 4 * (n))) /* 00 execute, 01 write, 11 read/write */
#define DR7_LEN(n, v) ((u64)(v) << (18 + 4 * (n))) /* 11: 4 bytes */
#define MAX_EVENTS    6
#define TIMER_COUNT   200000 /* /16: a few ms at QEMU's 1 GHz bus; HLT is reached long before */

/* Every label of dbg_cases.S, to print addresses by name. */
/* clang-format off */
#define LABELS(X) \
	X(dbg_tf_nop) X(dbg_tf_nop_after) X(dbg_tf_cpuid) X(dbg_tf_cpuid_after) \
	X(dbg_tf_rdmsr) X(dbg_tf_rdmsr_after) X(dbg_tf_out) X(dbg_tf_out_after) X(dbg_tf_mmio) \
	X(dbg_tf_mmio_after) X(dbg_tf_apic) X(dbg_tf_apic_after) X(dbg_tf_rep) \
	X(dbg_tf_rep_insn) X(dbg_tf_rep_after) X(dbg_tf_movss) X(dbg_tf_movss_nop) \
	X(dbg_tf_movss_after) X(dbg_tf_movss_cpuid) X(dbg_tf_movss_cpuid_insn) \
	X(dbg_tf_movss_cpuid_after) X(dbg_tf_sti_cpuid) X(dbg_tf_sti_cpuid_insn) \
	X(dbg_tf_sti_cpuid_after) X(dbg_tf_sti_hlt) X(dbg_tf_sti_hlt_insn) \
	X(dbg_tf_sti_hlt_after) X(dbg_tf_ud2) X(dbg_tf_ud2_insn) X(dbg_tf_ud2_resume) \
	X(dbg_tf_ud2_after) X(dbg_tf_rdpmc) X(dbg_tf_rdpmc_insn) X(dbg_tf_rdpmc_resume) \
	X(dbg_tf_rdpmc_after) X(dbg_ibp) X(dbg_ibp_target) X(dbg_ibp_after) X(dbg_ibp_mmio) \
	X(dbg_ibp_mmio_next) X(dbg_ibp_apic) X(dbg_ibp_apic_next) X(dbg_ibp_cpuid) \
	X(dbg_ibp_cpuid_next) X(dbg_ibp2_mmio) X(dbg_ibp2_mmio_insn) X(dbg_ibp2_mmio_next) \
	X(dbg_wp_write) X(dbg_wp_write_after) X(dbg_wp_read) X(dbg_wp_read_after) \
	X(dbg_gd_read) X(dbg_gd_read_after) X(dbg_gd_write) X(dbg_gd_write_insn) \
	X(dbg_gd_write_after) X(dbg_f_ud2) X(dbg_f_ud2_after) X(dbg_f_ud2_fresh) \
	X(dbg_f_ud2_fresh_insn) X(dbg_f_ud2_fresh_after) X(dbg_f_monitor) \
	X(dbg_f_monitor_insn) X(dbg_f_monitor_after) X(dbg_f_rdpmc) X(dbg_f_rdpmc_insn) \
	X(dbg_f_rdpmc_after)
/* clang-format on */

#define DECLARE(l) extern char l[];
LABELS(DECLARE)
#undef DECLARE
extern volatile u32 dbg_wvar;

static const struct {
	const char *name;
	const char *addr;
} labels[] = {
#define ENTRY(l) { #l, l },
	LABELS(ENTRY)
#undef ENTRY
};

struct event {
	u64 vector, error, rip, rflags, dr6, dr7;
};

static struct event events[MAX_EVENTS];
static volatile int nevents;
static volatile int steps_left; /* single-step #DBs to take before the handler clears TF */
static volatile bool set_rf;    /* return from #DB with RF=1 (instruction breakpoints) */
static volatile u64 resume;     /* where the next fault resumes (0: where it points) */

static u64 read_dr6(void)
{
	u64 v;

	__asm__ volatile("movq %%dr6, %0" : "=r"(v));
	return v;
}
static u64 read_dr7(void)
{
	u64 v;

	__asm__ volatile("movq %%dr7, %0" : "=r"(v));
	return v;
}
static void write_dr6(u64 v)
{
	__asm__ volatile("movq %0, %%dr6" : : "r"(v));
}
static void write_dr7(u64 v)
{
	__asm__ volatile("movq %0, %%dr7" : : "r"(v));
}
static void write_dr0(u64 v)
{
	__asm__ volatile("movq %0, %%dr0" : : "r"(v));
}
static void write_dr1(u64 v)
{
	__asm__ volatile("movq %0, %%dr1" : : "r"(v));
}
static void write_dr2(u64 v)
{
	__asm__ volatile("movq %0, %%dr2" : : "r"(v));
}

static void record(u64 vector, u64 error, const u64 *frame, u64 dr6, u64 dr7)
{
	if (nevents < MAX_EVENTS)
		events[nevents] =
			(struct event){ vector, error, frame ? frame[0] : 0, frame ? frame[2] : 0,
			                dr6,    dr7 };
	nevents++;
}

/* frame: RIP, CS, RFLAGS as the CPU pushed them. */
static void on_db(u64 vector, u64 error, u64 *frame)
{
	record(vector, error, frame, read_dr6(), read_dr7());
	write_dr6(DR6_RESET);
	if ((frame[2] & RFLAGS_TF) && --steps_left <= 0)
		frame[2] &= ~RFLAGS_TF;
	if (set_rf)
		frame[2] |= RFLAGS_RF;
	if (resume) {
		frame[0] = resume;
		resume = 0;
	}
}

static void on_fault(u64 vector, u64 error, u64 *frame)
{
	record(vector, error, frame, 0, 0);
	if (resume) {
		frame[0] = resume;
		resume = 0;
	}
}

static void on_timer(void)
{
	record(VEC_TIMER, 0, NULL, 0, 0);
	lapic_eoi();
}

static void put_where(char *buf, size_t len, u64 rip)
{
	int best = -1;

	for (unsigned i = 0; i < sizeof(labels) / sizeof(labels[0]); i++)
		if ((u64)labels[i].addr <= rip &&
		    (best < 0 || (u64)labels[i].addr > (u64)labels[best].addr))
			best = (int)i;
	if (best < 0 || rip - (u64)labels[best].addr > 64)
		snprintf(buf, len, "0x%llx", (unsigned long long)rip);
	else if (rip == (u64)labels[best].addr)
		snprintf(buf, len, "%s", labels[best].name + 4);
	else
		snprintf(buf, len, "%s+%llu", labels[best].name + 4,
		         (unsigned long long)(rip - (u64)labels[best].addr));
}

static void put_event(char *buf, size_t len, const struct event *e)
{
	char where[48];

	put_where(where, sizeof(where), e->rip);
	if (e->vector == VEC_TIMER)
		snprintf(buf, len, "timer interrupt");
	else if (e->vector == EXC_DB)
		snprintf(buf, len, "#DB at %s rf %u tf %u dr6 0x%llx dr7 0x%llx", where,
		         (unsigned)(e->rflags >> 16) & 1, (unsigned)(e->rflags >> 8) & 1,
		         (unsigned long long)e->dr6, (unsigned long long)e->dr7);
	else
		snprintf(buf, len, "%s%s at %s rf %u",
		         e->vector == EXC_UD   ? "#UD"
		         : e->vector == EXC_GP ? "#GP"
		                               : "#BP",
		         e->vector == EXC_GP ? (e->error ? "(!0)" : "(0)") : "", where,
		         (unsigned)(e->rflags >> 16) & 1);
}

struct dbg_case {
	const char *name;
	void (*fn)(void);
	int steps; /* single-step #DBs before TF is cleared */
	bool rf;   /* return from each #DB with RF=1 */
	const char *bp0, *bp1, *resume;
	u64 dr7;
	bool timer;
};

static void print_events(const char *name)
{
	char line[512], ev[160];
	size_t n = 0;

	line[0] = 0;
	for (int i = 0; i < nevents && i < MAX_EVENTS; i++) {
		put_event(ev, sizeof(ev), &events[i]);
		n += (size_t)snprintf(line + n, sizeof(line) - n, "%s%s", i ? "; " : "", ev);
		if (n >= sizeof(line))
			n = sizeof(line) - 1;
	}
	if (nevents > MAX_EVENTS)
		snprintf(line + n, sizeof(line) - n, "; %d more", nevents - MAX_EVENTS);
	pr("dbg: %s: %s\n", name, nevents ? line : "no event");
}

static void run(const struct dbg_case *c)
{
	nevents = 0;
	steps_left = c->steps;
	set_rf = c->rf;
	resume = (u64)c->resume;
	dbg_wvar = 0;
	write_dr6(DR6_RESET);
	write_dr0((u64)c->bp0);
	write_dr1((u64)c->bp1);
	write_dr2((u64)&dbg_wvar);
	if (c->timer)
		lapic_timer_start(TIMER_COUNT, false);
	write_dr7(c->dr7 ? c->dr7 : DR7_RESET);
	c->fn();
	write_dr7(DR7_RESET);
	lapic_timer_stop();
	print_events(c->name);
}

#define FN(l) ((void (*)(void))l)

#define TF(n, f, k)                                                                                \
	{                                                                                          \
		.name = n, .fn = FN(f), .steps = k                                                 \
	}
#define IBP(n, f, a, b, d7)                                                                        \
	{                                                                                          \
		.name = n, .fn = FN(f), .rf = true, .bp0 = a, .bp1 = b, .dr7 = d7                  \
	}
#define WP(n, f, a, d7)                                                                            \
	{                                                                                          \
		.name = n, .fn = FN(f), .bp0 = a, .dr7 = d7                                        \
	}
#define FAULT(n, f, r, d7)                                                                         \
	{                                                                                          \
		.name = n, .fn = FN(f), .resume = r, .dr7 = d7                                     \
	}
#define WP4(n, rw) (DR7_L(n) | DR7_RW(n, rw) | DR7_LEN(n, 3))

static const struct dbg_case cases[] = {
	TF("tf nop", dbg_tf_nop, 1),
	TF("tf cpuid", dbg_tf_cpuid, 1),
	TF("tf rdmsr", dbg_tf_rdmsr, 1),
	TF("tf out", dbg_tf_out, 1),
	TF("tf mmio unassigned", dbg_tf_mmio, 1),
	TF("tf mmio apic ppr", dbg_tf_apic, 1),
	TF("tf rep movsl x3 from mmio", dbg_tf_rep, 3),
	TF("tf mov ss; nop", dbg_tf_movss, 1),
	TF("tf mov ss; cpuid", dbg_tf_movss_cpuid, 1),
	TF("tf sti; cpuid", dbg_tf_sti_cpuid, 2),
	{ .name = "tf sti; hlt", .fn = FN(dbg_tf_sti_hlt), .steps = 2, .timer = true },
	{ .name = "tf ud2", .fn = FN(dbg_tf_ud2), .steps = 1, .resume = dbg_tf_ud2_resume },
	{ .name = "tf rdpmc", .fn = FN(dbg_tf_rdpmc), .steps = 1, .resume = dbg_tf_rdpmc_resume },
	IBP("ibp", dbg_ibp, dbg_ibp_target, 0, DR7_L(0)),
	IBP("ibp after mmio unassigned", dbg_ibp_mmio, dbg_ibp_mmio_next, 0, DR7_L(0)),
	IBP("ibp after mmio apic ppr", dbg_ibp_apic, dbg_ibp_apic_next, 0, DR7_L(0)),
	IBP("ibp after cpuid", dbg_ibp_cpuid, dbg_ibp_cpuid_next, 0, DR7_L(0)),
	IBP("ibp on mmio and next", dbg_ibp2_mmio, dbg_ibp2_mmio_insn, dbg_ibp2_mmio_next,
	    DR7_L(0) | DR7_L(1)),
	WP("wp write rw01", dbg_wp_write, 0, WP4(2, 1)),
	WP("wp read rw11", dbg_wp_read, 0, WP4(2, 3)),
	WP("wp two at once", dbg_wp_write, (const char *)&dbg_wvar, WP4(0, 1) | WP4(2, 3)),
	FAULT("gd mov from dr7", dbg_gd_read, dbg_gd_read_after, DR7_RESET | DR7_GD),
	FAULT("gd mov to dr0", dbg_gd_write, dbg_gd_write_after, DR7_RESET | DR7_GD),
	FAULT("fault ud2", dbg_f_ud2, dbg_f_ud2_after, 0),
	FAULT("fault ud2 on an untouched stack", dbg_f_ud2_fresh, dbg_f_ud2_fresh_after, 0),
	FAULT("fault monitor", dbg_f_monitor, dbg_f_monitor_after, 0),
	FAULT("fault rdpmc", dbg_f_rdpmc, dbg_f_rdpmc_after, 0),
};

void pc_main(u32 magic, u32 info)
{
	(void)magic;
	(void)info;
	uart_init();
	idt_init();
	exc_set(EXC_DB, on_db);
	exc_set(EXC_BP, on_fault);
	exc_set(EXC_UD, on_fault);
	exc_set(EXC_GP, on_fault);
	irq_set(VEC_TIMER, on_timer);
	if (!pic_remap_and_mask())
		pr("dbg: the PICs did not mask\n");
	lapic_enable();
	pr("dbg: debug exceptions and RF, one line per case\n");
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run(&cases[i]);
	pr("dbg: end\n");
	pc_exit(EXIT_PASS);
}
