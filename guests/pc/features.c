/*
 * features.elf: CPU features a kernel uses where CPUID offers them, one line each, compared
 * with QEMU TCG `-cpu max` (tests/harness/test_fidelity.py):
 *   - RDTSCP: each CPU writes its own IA32_TSC_AUX (0x100 + APIC ID) and RDTSCP returns it
 *     in ECX on that CPU, also after the other CPU wrote its own; RDMSR reads it back; a
 *     value above 32 bits is #GP;
 *   - PKU: CR4.PKE on sets CPUID.7.0:ECX.OSPKE; WRPKRU/RDPKRU; a read of a user page with
 *     protection key 1 while PKRU denies key 1 access (printed; see test_pku), and a write
 *     to it with CR0.WP set while PKRU denies key 1 writes: a #PF with error code bit 5
 *     (PK); with PKRU 0 both work.
 * Both start at 0 (TSC_AUX, PKRU): the fidelity group runs the kernel twice, so a value the
 * first VM left would show in the second. Exit code 0x2a if a check failed.
 */
#include "guests/pc/pc.h"

#define EXC_GP         13
#define EXC_PF         14
#define NO_FAULT       ~0ull
#define MSR_TSC_AUX    0xc0000103
#define CR4_PKE        BIT(22)
#define CR0_WP         BIT(16)
#define PTE_USER       BIT(2)
#define PTE_PKEY_SHIFT 59
#define PKEY_PAGE      0x1000000ULL /* 16 MiB: a 2 MiB page of entry.S's map */

static volatile u64 fault_vec = NO_FAULT, fault_err;
static volatile u64 resume_rip;
static volatile u32 ap_ready, ap_aux, ap_wrote;
static bool failed;

static u64 read_cr3(void)
{
	u64 v;

	__asm__ volatile("mov %%cr3, %0" : "=r"(v));
	return v;
}

static u64 read_cr0(void)
{
	u64 v;

	__asm__ volatile("mov %%cr0, %0" : "=r"(v));
	return v;
}

static void write_cr0(u64 v)
{
	__asm__ volatile("mov %0, %%cr0" : : "r"(v) : "memory");
}

static u64 read_cr4(void)
{
	u64 v;

	__asm__ volatile("mov %%cr4, %0" : "=r"(v));
	return v;
}

static void write_cr4(u64 v)
{
	__asm__ volatile("mov %0, %%cr4" : : "r"(v) : "memory");
}

static void on_fault(u64 vector, u64 error, u64 *rip)
{
	fault_vec = vector;
	fault_err = error;
	*rip = resume_rip;
}

static void check(bool ok, const char *what)
{
	if (!ok) {
		pr("features: FAIL: %s\n", what);
		failed = true;
	}
}

static u32 rdtscp_aux(void)
{
	u32 lo, hi, aux;

	__asm__ volatile("rdtscp" : "=a"(lo), "=d"(hi), "=c"(aux));
	(void)lo;
	(void)hi;
	return aux;
}

static u64 try_wrmsr(u32 msr, u64 val)
{
	fault_vec = NO_FAULT;
	__asm__ volatile("leaq 1f(%%rip), %%rdi\n\t"
	                 "movq %%rdi, resume_rip(%%rip)\n\t"
	                 "wrmsr\n"
	                 "1:"
	                 :
	                 : "c"(msr), "a"((u32)val), "d"((u32)(val >> 32))
	                 : "rdi", "memory");
	return fault_vec;
}

static u32 rdpkru(void)
{
	u32 pkru, edx;

	__asm__ volatile("rdpkru" : "=a"(pkru), "=d"(edx) : "c"(0));
	(void)edx;
	return pkru;
}

static void wrpkru(u32 pkru)
{
	__asm__ volatile("wrpkru" : : "a"(pkru), "c"(0), "d"(0) : "memory");
}

/* Read the byte at PA; returns the vector of a fault, or NO_FAULT. */
static u64 try_read(u64 pa)
{
	fault_vec = NO_FAULT;
	__asm__ volatile("leaq 1f(%%rip), %%rdi\n\t"
	                 "movq %%rdi, resume_rip(%%rip)\n\t"
	                 "movb (%0), %%al\n"
	                 "1:"
	                 :
	                 : "r"(pa)
	                 : "rax", "rdi", "memory");
	return fault_vec;
}

/* Write a byte at PA; returns the vector of a fault, or NO_FAULT. */
static u64 try_write(u64 pa)
{
	fault_vec = NO_FAULT;
	__asm__ volatile("leaq 1f(%%rip), %%rdi\n\t"
	                 "movq %%rdi, resume_rip(%%rip)\n\t"
	                 "movb $1, (%0)\n"
	                 "1:"
	                 :
	                 : "r"(pa)
	                 : "rdi", "memory");
	return fault_vec;
}

/* ---- RDTSCP ---- */

void ap_main(u32 index)
{
	(void)index;
	idt_load();
	wrmsr(MSR_TSC_AUX, 0x100 + lapic_id());
	ap_aux = rdtscp_aux();
	__atomic_store_n(&ap_ready, 1, __ATOMIC_RELEASE);
	halt_forever();
}

static bool start_ap(void)
{
	ap_start_all();
	for (u32 i = 0; i < 1000 && !__atomic_load_n(&ap_ready, __ATOMIC_ACQUIRE); i++)
		lapic_delay(1000000);
	return ap_ready;
}

static u32 rdpid(void)
{
	u64 v;

	__asm__ volatile("rdpid %0" : "=r"(v));
	return (u32)v;
}

static void test_rdtscp(bool has_rdpid)
{
	u32 id = lapic_id(), mine;

	/* 0 at the start: no earlier VM's value (the fidelity group runs this kernel twice). */
	pr("features: rdtscp: TSC_AUX at start 0x%x\n", rdtscp_aux());
	check(rdtscp_aux() == 0, "TSC_AUX starts at 0");
	wrmsr(MSR_TSC_AUX, 0x100 + id);
	mine = rdtscp_aux();
	pr("features: rdtscp: TSC_AUX 0x%x on cpu %u, RDMSR 0x%llx\n", mine, id,
	   (unsigned long long)rdmsr(MSR_TSC_AUX));
	check(mine == 0x100 + id, "RDTSCP on this CPU");
	if (has_rdpid) {
		pr("features: rdpid: 0x%x\n", rdpid());
		check(rdpid() == mine, "RDPID reads TSC_AUX");
	}
	if (start_ap()) {
		pr("features: rdtscp: TSC_AUX 0x%x on the other cpu; this cpu still 0x%x\n", ap_aux,
		   rdtscp_aux());
		check(ap_aux != mine && rdtscp_aux() == mine, "TSC_AUX per CPU");
	}
	pr("features: rdtscp: wrmsr TSC_AUX 0x100000000: %s\n",
	   try_wrmsr(MSR_TSC_AUX, 1ULL << 32) == EXC_GP ? "#GP" : "ok");
}

/* ---- PKU ---- */

static u64 *pde_of(u64 va)
{
	u64 *pml4 = (u64 *)(read_cr3() & ~0xfffULL);
	u64 *pdpt = (u64 *)(pml4[0] & 0xffffffffff000ULL);
	u64 *pd = (u64 *)(pdpt[(va >> 30) & 511] & 0xffffffffff000ULL);

	/* User-mode address: U at every level; the other PDEs stay supervisor pages. */
	pml4[0] |= PTE_USER;
	pdpt[(va >> 30) & 511] |= PTE_USER;
	return &pd[(va >> 21) & 511];
}

static void test_pku(void)
{
	u64 *pde = pde_of(PKEY_PAGE);
	u32 a, b, c, d;
	u64 f, g;

	write_cr4(read_cr4() | CR4_PKE);
	pr("features: pku: PKRU at start 0x%x\n", rdpkru());
	check(rdpkru() == 0, "PKRU starts at 0");
	__asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(7), "c"(0));
	pr("features: pku: CR4.PKE set, CPUID OSPKE %u\n", (c >> 4) & 1);
	check(c & BIT(4), "OSPKE follows CR4.PKE");
	*pde |= PTE_USER | (1ULL << PTE_PKEY_SHIFT);
	__asm__ volatile("invlpg (%0)" : : "r"(PKEY_PAGE) : "memory");
	wrpkru(0x4); /* key 1: access disabled */
	pr("features: pku: WRPKRU 0x4, RDPKRU 0x%x\n", rdpkru());
	f = try_read(PKEY_PAGE);
	pr("features: pku: read of a key-1 user page: %s, error code 0x%llx\n",
	   f == EXC_PF     ? "#PF"
	   : f == NO_FAULT ? "no fault"
	                   : "other fault",
	   (unsigned long long)(f == EXC_PF ? fault_err : 0));
	/* Not checked here: Bochs 2.7 applies AD to CPL-3 accesses only (handle_pkeys), the
	 * SDM (4.6.1) and QEMU to supervisor reads of user-mode addresses too. */
	wrpkru(0x8); /* key 1: write disabled; CR0.WP makes that bind supervisor writes */
	write_cr0(read_cr0() | CR0_WP);
	f = try_write(PKEY_PAGE);
	pr("features: pku: PKRU 0x8, CR0.WP 1: write to a key-1 user page: %s, error code "
	   "0x%llx\n",
	   f == EXC_PF     ? "#PF"
	   : f == NO_FAULT ? "no fault"
	                   : "other fault",
	   (unsigned long long)(f == EXC_PF ? fault_err : 0));
	check(f == EXC_PF && (fault_err & BIT(5)), "PKRU WD for key 1");
	wrpkru(0);
	f = try_read(PKEY_PAGE);
	g = try_write(PKEY_PAGE);
	pr("features: pku: PKRU 0: read %s, write %s\n", f == NO_FAULT ? "ok" : "faults",
	   g == NO_FAULT ? "ok" : "faults");
	check(f == NO_FAULT && g == NO_FAULT, "PKRU 0");
	wrpkru(0xc); /* left for the next VM on this CPU, which must not see it */
	*pde &= ~(PTE_USER | (0xfULL << PTE_PKEY_SHIFT));
	__asm__ volatile("invlpg (%0)" : : "r"(PKEY_PAGE) : "memory");
	write_cr4(read_cr4() & ~CR4_PKE);
}

void pc_main(u32 magic, u32 info)
{
	u32 a, b, c7, d7, c8, d8;

	(void)magic;
	(void)info;
	uart_init();
	idt_init();
	lapic_enable();
	exc_set(EXC_GP, on_fault);
	exc_set(EXC_PF, on_fault);
	__asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c7), "=d"(d7) : "a"(7), "c"(0));
	__asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c8), "=d"(d8) : "a"(0x80000001), "c"(0));
	pr("features: cpuid: rdtscp %u, rdpid %u, pku %u, ospke %u\n", (d8 >> 27) & 1,
	   (c7 >> 22) & 1, (c7 >> 3) & 1, (c7 >> 4) & 1);
	if (d8 & BIT(27))
		test_rdtscp(c7 & BIT(22));
	if (c7 & BIT(3))
		test_pku();
	pr("features: %s\n", failed ? "FAIL" : "PASS");
	pc_exit(failed ? EXIT_FAIL_FEATURES : EXIT_PASS);
}
