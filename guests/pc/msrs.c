/*
 * msrs.elf: the MSRs a Linux kernel reads at boot (most through rdmsr_safe, so a #GP is an
 * answer too), read one by one: each line says `#GP` or the value (or `value` for counters
 * whose value is not deterministic). The test compares the lines with a run under QEMU TCG.
 */
#include "guests/pc/pc.h"

#define EXC_GP   13
#define NO_FAULT ~0ull

static volatile u64 fault_vec = NO_FAULT;
static volatile u64 resume_rip;

static void on_gp(u64 vector, u64 error, u64 *rip)
{
	(void)error;
	fault_vec = vector;
	*rip = resume_rip;
}

static u64 try_rdmsr(u32 msr, u64 *val)
{
	u32 lo = 0, hi = 0;

	fault_vec = NO_FAULT;
	__asm__ volatile("leaq 1f(%%rip), %%rdi\n\t"
	                 "movq %%rdi, resume_rip(%%rip)\n\t"
	                 "rdmsr\n"
	                 "1:"
	                 : "+a"(lo), "+d"(hi)
	                 : "c"(msr)
	                 : "rdi", "memory");
	*val = ((u64)hi << 32) | lo;
	return fault_vec;
}

static const struct {
	u32 msr;
	const char *name;
	bool stable; /* print the value */
} msrs[] = {
	{ 0x10, "TSC", false },
	{ 0x1b, "APIC_BASE", true },
	{ 0x33, "TEST_CTRL", true },
	{ 0x34, "SMI_COUNT", true },
	{ 0x35, "CORE_THREAD_COUNT", true },
	{ 0x3a, "FEATURE_CONTROL", true },
	{ 0x48, "SPEC_CTRL", true },
	{ 0x8b, "BIOS_SIGN_ID", true },
	{ 0xce, "PLATFORM_INFO", true },
	{ 0xe7, "MPERF", false },
	{ 0xe8, "APERF", false },
	{ 0xfe, "MTRRCAP", true },
	{ 0x10a, "ARCH_CAPABILITIES", true },
	{ 0x122, "TSX_CTRL", true },
	{ 0x140, "MISC_FEATURES_ENABLES", true },
	{ 0x179, "MCG_CAP", true },
	{ 0x17a, "MCG_STATUS", true },
	{ 0x1a0, "MISC_ENABLE", true },
	{ 0x1a2, "TEMPERATURE_TARGET", true },
	{ 0x1b0, "ENERGY_PERF_BIAS", true },
	{ 0x1d9, "DEBUGCTL", true },
	{ 0x200, "MTRR_PHYSBASE0", true },
	{ 0x250, "MTRR_FIX64K", true },
	{ 0x277, "PAT", true },
	{ 0x2ff, "MTRR_DEF_TYPE", true },
	{ 0x345, "PERF_CAPABILITIES", true },
	{ 0x38d, "FIXED_CTR_CTRL", true },
	{ 0x38f, "PERF_GLOBAL_CTRL", true },
	{ 0x400, "MC0_CTL", true },
	{ 0x401, "MC0_STATUS", true },
	{ 0x606, "RAPL_POWER_UNIT", true },
	{ 0x6e0, "TSC_DEADLINE", true },
	{ 0xcf, "CORE_CAPABILITIES", true },
	{ 0xd90, "BNDCFGS", true },
	{ 0xda0, "XSS", true },
	{ 0xc0000080, "EFER", true },
	{ 0xc0000103, "TSC_AUX", true },
	{ 0xc0010015, "AMD_HWCR", true },
	{ 0xc0011029, "AMD_DE_CFG", true },
	{ 0x4b564d00, "KVM_WALL_CLOCK_NEW", true },
	{ 0x40000000, "HV_GUEST_OS_ID", true },
};

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

static void write_then_read(u32 msr, const char *name, u64 val)
{
	u64 f = try_wrmsr(msr, val), back = 0, g;

	if (f != NO_FAULT) {
		pr("msrs: wrmsr 0x%x %s 0x%llx: #GP\n", msr, name, (unsigned long long)val);
		return;
	}
	g = try_rdmsr(msr, &back);
	if (g != NO_FAULT)
		pr("msrs: wrmsr 0x%x %s 0x%llx: ok, reads #GP\n", msr, name,
		   (unsigned long long)val);
	else
		pr("msrs: wrmsr 0x%x %s 0x%llx: ok, reads 0x%llx\n", msr, name,
		   (unsigned long long)val, (unsigned long long)back);
}

void pc_main(u32 magic, u32 info)
{
	(void)magic;
	(void)info;
	uart_init();
	idt_init();
	exc_set(EXC_GP, on_gp);
	pr("msrs: RDMSR of the MSRs Linux reads at boot\n");
	{
		u32 a, b, c, d;

		__asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(7), "c"(0));
		pr("msrs: cpuid 7.0 edx 0x%x (26 IBRS/IBPB %u, 28 L1D_FLUSH %u, 29 "
		   "ARCH_CAPABILITIES "
		   "%u, 30 CORE_CAPABILITIES %u, 31 SSBD %u)\n",
		   d, (d >> 26) & 1, (d >> 28) & 1, (d >> 29) & 1, (d >> 30) & 1, d >> 31);
	}
	for (unsigned i = 0; i < sizeof(msrs) / sizeof(msrs[0]); i++) {
		u64 v, f = try_rdmsr(msrs[i].msr, &v);

		if (f != NO_FAULT)
			pr("msrs: 0x%x %s: %s\n", msrs[i].msr, msrs[i].name,
			   f == EXC_GP ? "#GP" : "other exception");
		else if (msrs[i].stable)
			pr("msrs: 0x%x %s: 0x%llx\n", msrs[i].msr, msrs[i].name,
			   (unsigned long long)v);
		else
			pr("msrs: 0x%x %s: value\n", msrs[i].msr, msrs[i].name);
	}
	write_then_read(0x48, "SPEC_CTRL", 0x5);
	write_then_read(0x48, "SPEC_CTRL", 0x8);
	write_then_read(0x48, "SPEC_CTRL", 0);
	write_then_read(0x49, "PRED_CMD", 1);
	write_then_read(0x49, "PRED_CMD", 2);
	write_then_read(0x10b, "FLUSH_CMD", 1);
	write_then_read(0x10a, "ARCH_CAPABILITIES", 0);
	write_then_read(0xcf, "CORE_CAPABILITIES", 0);
	write_then_read(0x140, "MISC_FEATURES_ENABLES", 0);
	write_then_read(0x140, "MISC_FEATURES_ENABLES", 1);
	write_then_read(0x1d9, "DEBUGCTL", 2);
	write_then_read(0x1d9, "DEBUGCTL", 1);
	write_then_read(0x1d9, "DEBUGCTL", 0);
	pr("msrs: end\n");
	pc_exit(EXIT_PASS);
}
