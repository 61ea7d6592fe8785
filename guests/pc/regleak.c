/*
 * regleak.elf: a hostile PC guest kernel about the CPU state a hypervisor must not carry from
 * one VM to the next, and about instructions a guest's CPU must refuse. Its first command-line
 * word picks the test; each prints what it saw (the same under QEMU TCG where QEMU models it)
 * and exits through isa-debug-exit with 0 when the CPU behaved architecturally:
 *
 *   write  fill XMM0-15 with "SECRET", the x87 stack with pi, FCW 0x27f, MXCSR 0x7f80, DR0-3,
 *          DR6, DR7 (a breakpoint that never hits) and CR2; checks DR7 survives some exits
 *   read   before writing any of them, read them all (FXSAVE, MOV from DRn, CR2): only
 *          reset values may be there (FCW 0x37f, MXCSR 0x1f80, zeroes, DR6 0xffff0ff0,
 *          DR7 0x400), whatever a VM before it on this CPU left
 *   rdpmc  RDPMC with the PMU not virtualised: #GP(0) for every counter (QEMU TCG: #UD)
 *   vmx    every VMX instruction, VMFUNC and VMMCALL (AMD's): #UD (this CPU has no VMX);
 *          VMCALL is KVM's hypercall under eptvisor (kvmhc.c tests it)
 *   cr0pg  clear CR0.PG in 64-bit mode: #GP(0), paging stays on
 *   cache  CR0 as the loader left it (CD, NW clear), and an AP's CR0 after INIT-SIPI
 *          (0x60000010, CD and NW set, SDM Vol. 3A 10.1.1); then sets CD and NW itself
 */
#include "guests/pc/pc.h"

#define EXIT_REGS_LEAKED 0x60 /* read: a register was not at its reset value */
#define EXIT_RDPMC_NO_GP 0x61 /* rdpmc: no #GP */
#define EXIT_VMX_NO_UD   0x62 /* vmx: an instruction did not raise #UD */
#define EXIT_CR0PG_NO_GP 0x63 /* cr0pg: clearing PG in 64-bit mode did not #GP */
#define EXIT_CACHE_WRONG 0x64 /* cache: CD/NW not as the SDM and the loader say */
#define EXIT_BAD_ARGS    0x65 /* no known test named */
#define EXIT_DR7_LOST    0x66 /* write: DR7 changed by itself */
#define EXIT_EXCEPTION   0x40 /* + vector: an exception nobody expected (as codes.h) */

#define CR0_NW       (1ull << 29)
#define CR0_CD       (1ull << 30)
#define CR0_PG       (1ull << 31)
#define CR4_OSFXSR   (1ull << 9)
#define CR4_OSXMMEXC (1ull << 10)
#define EXC_UD       6
#define EXC_GP       13
#define NO_FAULT     ~0ull
#define DR6_RESET    0xffff0ff0ull
#define DR7_RESET    0x400ull
#define DR7_ARMED    0x401ull /* L0: an execution breakpoint at DR0, never reached */
#define SECRET_DR    0x5ec12e7000ull
#define SECRET_CR2   0x5ec12e7cc2ull

#define AP_CR0_ADDR   (AP_TRAMP_BASE + 0xf00) /* as regleak_trap.S */
#define AP_DONE_ADDR  (AP_TRAMP_BASE + 0xf04)
#define AP_DONE_MAGIC 0x600d

/* ---- registers as the kernel found them ----------------------------------------------- */

/* The FXSAVE layout (SDM Vol. 1 10.5.1); the fields read are the ones a VM could leak. */
struct fxsave_area {
	u16 fcw, fsw;
	u8 ftw;
	u8 reserved; /* cppcheck-suppress unusedStructMember */
	u16 fop;
	u64 fip, fdp;
	u32 mxcsr;
	u32 mxcsr_mask; /* cppcheck-suppress unusedStructMember */
	u8 st[8][16];
	u8 xmm[16][16];
	u8 rest[96]; /* cppcheck-suppress unusedStructMember */
} __attribute__((aligned(16)));

static struct {
	u64 cr0, cr2, dr[4], dr6, dr7;
	struct fxsave_area fx;
} seen;

static u64 rd_cr0(void)
{
	u64 v;
	__asm__ volatile("mov %%cr0, %0" : "=r"(v));
	return v;
}
static u64 rd_cr2(void)
{
	u64 v;
	__asm__ volatile("mov %%cr2, %0" : "=r"(v));
	return v;
}
static u64 rd_cr4(void)
{
	u64 v;
	__asm__ volatile("mov %%cr4, %0" : "=r"(v));
	return v;
}
static void wr_cr0(u64 v)
{
	__asm__ volatile("mov %0, %%cr0" ::"r"(v) : "memory");
}
static void wr_cr4(u64 v)
{
	__asm__ volatile("mov %0, %%cr4" ::"r"(v) : "memory");
}

static void read_drs(u64 *dr, u64 *dr6, u64 *dr7)
{
	__asm__ volatile("mov %%db0, %0" : "=r"(dr[0]));
	__asm__ volatile("mov %%db1, %0" : "=r"(dr[1]));
	__asm__ volatile("mov %%db2, %0" : "=r"(dr[2]));
	__asm__ volatile("mov %%db3, %0" : "=r"(dr[3]));
	__asm__ volatile("mov %%db6, %0" : "=r"(*dr6));
	__asm__ volatile("mov %%db7, %0" : "=r"(*dr7));
}

/* Everything the tests look at, before anything writes one of them. OSFXSR first (a CR4
 * write): without it FXSAVE need not store the XMM registers. */
static void snapshot(void)
{
	seen.cr0 = rd_cr0();
	seen.cr2 = rd_cr2();
	read_drs(seen.dr, &seen.dr6, &seen.dr7);
	wr_cr4(rd_cr4() | CR4_OSFXSR | CR4_OSXMMEXC);
	__asm__ volatile("fxsave64 %0" : "=m"(seen.fx));
}

/* ---- exceptions: a probe names where to resume, the handler records the vector -------- */

u64 resume_rip;                /* 0: an exception now is unexpected */
static volatile u64 fault_vec; /* NO_FAULT, or the vector the probed instruction raised */
static volatile u64 fault_err;

static void regleak_trap(u64 vector, u64 error, u64 *rip)
{
	if (!resume_rip) {
		pr("EXCEPTION: vector %u at 0x%llx\n", (unsigned)vector, (unsigned long long)*rip);
		pc_exit(EXIT_EXCEPTION + (u32)vector);
	}
	fault_vec = vector;
	fault_err = error;
	*rip = resume_rip;
	resume_rip = 0;
}

/* Run INSN (a string of assembly that may clobber RAX, RCX, RDX) with RAX = RCX = 0; the
 * vector it raised, or NO_FAULT. Execution resumes after it either way. */
#define PROBE(insn)                                                                                \
	({                                                                                         \
		fault_vec = NO_FAULT;                                                              \
		__asm__ volatile("leaq 1f(%%rip), %%rdx\n\t"                                       \
		                 "movq %%rdx, resume_rip(%%rip)\n\t"                               \
		                 "xorl %%eax, %%eax\n\t"                                           \
		                 "xorl %%ecx, %%ecx\n\t" insn "\n1:\n\t"                           \
		                 "movq $0, resume_rip(%%rip)" ::                                   \
		                         : "rax", "rcx", "rdx", "memory");                         \
		fault_vec;                                                                         \
	})

extern char regleak_ap_start[], regleak_ap_end[];

/* The shared IDT (idt.c), every exception to regleak_trap. */
static void idt_setup(void)
{
	idt_init();
	for (u8 v = 0; v < 32; v++)
		exc_set(v, regleak_trap);
}

static const char *vec_name(u64 v)
{
	return v == NO_FAULT ? "no exception" : v == EXC_UD ? "#UD" : v == EXC_GP ? "#GP" : "other";
}

/* ---- read / write --------------------------------------------------------------------- */

static bool all_zero(const u8 *p, int n)
{
	for (int i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* Print one register against its reset value; count it if it differs. */
static int check(const char *name, u64 got, u64 reset)
{
	pr("read: %s 0x%llx%s\n", name, (unsigned long long)got, got == reset ? "" : " NOT RESET");
	return got != reset;
}

static int check_vectors(void)
{
	int bad = 0;

	for (int i = 0; i < 8; i++)
		bad += !all_zero(seen.fx.st[i], 10);
	pr("read: x87 st0-st7: %d not zero\n", bad);
	for (int i = 0; i < 16; i++) {
		if (all_zero(seen.fx.xmm[i], 16))
			continue;
		char s[17];

		for (int j = 0; j < 16; j++)
			s[j] = seen.fx.xmm[i][j] >= 32 && seen.fx.xmm[i][j] < 127
			               ? (char)seen.fx.xmm[i][j]
			               : '.';
		s[16] = '\0';
		pr("read: xmm%d holds \"%s\" NOT RESET\n", i, s);
		bad++;
	}
	return bad;
}

static u32 test_read(void)
{
	static const char *const drn[4] = { "dr0", "dr1", "dr2", "dr3" };
	int bad = 0;

	bad += check("cr2", seen.cr2, 0);
	for (int i = 0; i < 4; i++)
		bad += check(drn[i], seen.dr[i], 0);
	bad += check("dr6", seen.dr6, DR6_RESET);
	bad += check("dr7", seen.dr7, DR7_RESET);
	bad += check("fcw", seen.fx.fcw, 0x37f);
	bad += check("fsw", seen.fx.fsw, 0);
	bad += check("ftw", seen.fx.ftw, 0);
	bad += check("mxcsr", seen.fx.mxcsr, 0x1f80);
	bad += check("fop", seen.fx.fop, 0);
	bad += check("fip", seen.fx.fip, 0);
	bad += check("fdp", seen.fx.fdp, 0);
	bad += check_vectors();
	if (bad) {
		pr("read: LEAK: %d register(s) not at their reset value\n", bad);
		return EXIT_REGS_LEAKED;
	}
	pr("read: every register at its reset value\n");
	return 0;
}

static const char secret[16] __attribute__((aligned(16))) = "SECRETSECRETSEC";
static const u16 fcw_secret = 0x27f;
static const u32 mxcsr_secret = 0x7f80;

static void write_fpu(void)
{
	__asm__ volatile("fninit\n\t"
	                 "fldpi\n\tfldpi\n\tfldpi\n\tfldpi\n\t"
	                 "fldpi\n\tfldpi\n\tfldpi\n\tfldpi\n\t"
	                 "fldcw %0\n\t"
	                 "ldmxcsr %1" ::"m"(fcw_secret),
	                 "m"(mxcsr_secret));
	/* Each register by name: the compiler knows no SSE (-mno-sse), so no clobber list. */
	__asm__ volatile("movdqa %0, %%xmm0\n\tmovdqa %0, %%xmm1\n\tmovdqa %0, %%xmm2\n\t"
	                 "movdqa %0, %%xmm3\n\tmovdqa %0, %%xmm4\n\tmovdqa %0, %%xmm5\n\t"
	                 "movdqa %0, %%xmm6\n\tmovdqa %0, %%xmm7\n\tmovdqa %0, %%xmm8\n\t"
	                 "movdqa %0, %%xmm9\n\tmovdqa %0, %%xmm10\n\tmovdqa %0, %%xmm11\n\t"
	                 "movdqa %0, %%xmm12\n\tmovdqa %0, %%xmm13\n\tmovdqa %0, %%xmm14\n\t"
	                 "movdqa %0, %%xmm15" ::"m"(secret));
}

static void write_debug(void)
{
	__asm__ volatile("mov %0, %%db0" ::"r"(SECRET_DR));
	__asm__ volatile("mov %0, %%db1" ::"r"(SECRET_DR + 1));
	__asm__ volatile("mov %0, %%db2" ::"r"(SECRET_DR + 2));
	__asm__ volatile("mov %0, %%db3" ::"r"(SECRET_DR + 3));
	__asm__ volatile("mov %0, %%db6" ::"r"(0xffff4ff5ull)); /* B0, B2, BS */
	__asm__ volatile("mov %0, %%db7" ::"r"(DR7_ARMED));
	__asm__ volatile("mov %0, %%cr2" ::"r"(SECRET_CR2));
}

static u32 test_write(void)
{
	u64 dr[4], dr6, dr7;

	write_fpu();
	write_debug();
	pr("write: SECRET in xmm0-15, pi in st0-7, FCW 0x27f, MXCSR 0x7f80\n");
	pr("write: dr0-3 0x%llx.., dr6, dr7 0x%llx, cr2 0x%llx\n", (unsigned long long)SECRET_DR,
	   (unsigned long long)DR7_ARMED, (unsigned long long)SECRET_CR2);
	read_drs(dr, &dr6, &dr7); /* after the exits of the lines above */
	if (dr7 != DR7_ARMED || dr[0] != SECRET_DR) {
		pr("write: FAIL: after some exits dr7 is 0x%llx, dr0 0x%llx\n",
		   (unsigned long long)dr7, (unsigned long long)dr[0]);
		return EXIT_DR7_LOST;
	}
	pr("write: dr0 and dr7 kept across exits; exiting with them set\n");
	return 0;
}

/* ---- instructions this CPU must refuse -------------------------------------------------- */

u8 vmx_region[4096] __attribute__((aligned(4096)));

static u32 test_rdpmc(void)
{
	u64 v0 = PROBE("rdpmc");
	u64 e0 = fault_err;
	u64 v1 = PROBE("movl $0x40000000, %%ecx\n\trdpmc");

	pr("rdpmc: counter 0: %s (error %llu)\n", vec_name(v0), (unsigned long long)e0);
	pr("rdpmc: fixed counter 0: %s\n", vec_name(v1));
	return v0 == EXC_GP && e0 == 0 && v1 == EXC_GP ? 0 : EXIT_RDPMC_NO_GP;
}

static u32 test_vmx(void)
{
	static const char *const names[] = { "vmxon",    "vmxoff", "vmclear", "vmptrld",
		                             "vmptrst",  "vmread", "vmwrite", "vmlaunch",
		                             "vmresume", "invept", "invvpid", "vmmcall",
		                             "vmfunc" };
	u64 got[13];
	int ud = 0;

	got[0] = PROBE("vmxon vmx_region(%%rip)");
	got[1] = PROBE("vmxoff");
	got[2] = PROBE("vmclear vmx_region(%%rip)");
	got[3] = PROBE("vmptrld vmx_region(%%rip)");
	got[4] = PROBE("vmptrst vmx_region(%%rip)");
	got[5] = PROBE("vmread %%rax, %%rcx");
	got[6] = PROBE("vmwrite %%rcx, %%rax");
	got[7] = PROBE("vmlaunch");
	got[8] = PROBE("vmresume");
	got[9] = PROBE("invept vmx_region(%%rip), %%rax");
	got[10] = PROBE("invvpid vmx_region(%%rip), %%rax");
	got[11] = PROBE("vmmcall");
	got[12] = PROBE("vmfunc");
	for (int i = 0; i < 13; i++) {
		pr("vmx: %s: %s\n", names[i], vec_name(got[i]));
		ud += got[i] == EXC_UD;
	}
	pr("vmx: %d of 13 raised #UD\n", ud);
	return ud == 13 ? 0 : EXIT_VMX_NO_UD;
}

static u32 test_cr0pg(void)
{
	u64 v = PROBE("movq %%cr0, %%rax\n\tbtrq $31, %%rax\n\tmovq %%rax, %%cr0");
	bool paging = rd_cr0() & CR0_PG;

	pr("cr0pg: clearing CR0.PG in 64-bit mode: %s (error %llu), paging %s\n", vec_name(v),
	   (unsigned long long)fault_err, paging ? "still on" : "OFF");
	return v == EXC_GP && fault_err == 0 && paging ? 0 : EXIT_CR0PG_NO_GP;
}

/* ---- caches ----------------------------------------------------------------------------- */

#define ICR_INIT         0x500
#define ICR_STARTUP      0x600
#define ICR_ASSERT       0x4000
#define ICR_LEVEL        0x8000
#define ICR_ALL_BUT_SELF 0xc0000

/* Start the APs in regleak_ap_start; the CR0 the first one found, or ~0 if none reported. */
static u64 ap_reset_cr0(void)
{
	volatile u32 *cr0 = (volatile u32 *)AP_CR0_ADDR, *done = (volatile u32 *)AP_DONE_ADDR;

	*done = 0;
	memcpy((void *)AP_TRAMP_BASE, regleak_ap_start,
	       (size_t)((u64)regleak_ap_end - (u64)regleak_ap_start));
	lapic_send_ipi(0, ICR_ALL_BUT_SELF | ICR_INIT | ICR_ASSERT | ICR_LEVEL);
	lapic_delay(10000000);
	for (int i = 0; i < 2; i++) {
		lapic_send_ipi(0, ICR_ALL_BUT_SELF | ICR_STARTUP | (AP_TRAMP_BASE >> 12));
		lapic_delay(200000);
	}
	for (int i = 0; i < 100 && *done != AP_DONE_MAGIC; i++)
		lapic_delay(1000000);
	return *done == AP_DONE_MAGIC ? *cr0 : ~0ull;
}

static const char *cdnw(u64 cr0)
{
	return (cr0 & CR0_CD) ? ((cr0 & CR0_NW) ? "CD 1, NW 1" : "CD 1, NW 0")
	                      : ((cr0 & CR0_NW) ? "CD 0, NW 1" : "CD 0, NW 0");
}

static u32 test_cache(void)
{
	u16 ncpus = 0;
	bool ok = (seen.cr0 & ~CR0_PG) == 0x11; /* entry.S added only PG (PE was set) */

	pr("cache: bsp CR0 0x%llx before paging (%s)\n", (unsigned long long)(seen.cr0 & ~CR0_PG),
	   cdnw(seen.cr0));
	lapic_enable();
	fw_cfg_read(FW_CFG_NB_CPUS, &ncpus, sizeof(ncpus));
	if (ncpus > 1) {
		u64 ap = ap_reset_cr0();

		pr("cache: ap CR0 after INIT-SIPI 0x%llx (%s)\n", (unsigned long long)ap, cdnw(ap));
		ok = ok && ap == 0x60000010;
	}
	/* As firmware does around MTRR changes: the hypervisor must keep this to this VM. */
	wr_cr0(rd_cr0() | CR0_CD | CR0_NW);
	pr("cache: bsp set CD and NW: CR0 now 0x%llx\n", (unsigned long long)rd_cr0());
	return ok ? 0 : EXIT_CACHE_WRONG;
}

/* ---- main --------------------------------------------------------------------------------- */

static const struct {
	const char *name;
	u32 (*fn)(void);
} tests[] = {
	{ "write", test_write }, { "read", test_read },   { "rdpmc", test_rdpmc },
	{ "vmx", test_vmx },     { "cr0pg", test_cr0pg }, { "cache", test_cache },
};

void pc_main(u32 magic, u32 info)
{
	struct bootinfo bi;

	snapshot(); /* first: nothing below touches FPU, SSE, DRs or CR2 */
	uart_init();
	idt_setup();
	if (bootinfo_parse(magic, info, &bi) < 0)
		pc_exit(EXIT_BAD_ARGS);
	for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
		size_t n = strlen(tests[i].name);

		if (!strncmp(bi.args, tests[i].name, n) && (!bi.args[n] || bi.args[n] == ' ')) {
			pr("regleak: %s\n", tests[i].name);
			u32 code = tests[i].fn();

			pr("regleak: %s: %s\n", tests[i].name, code ? "FAIL" : "PASS");
			pc_exit(code);
		}
	}
	pr("regleak: no test named in '%s'\n", bi.args);
	pc_exit(EXIT_BAD_ARGS);
}
