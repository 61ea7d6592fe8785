/*
 * kvmhc.elf: VMCALL as a kernel written for KVM uses it (Linux's kvm_hypercall0..4,
 * Documentation/virt/kvm/x86/hypercalls.rst): the number in RAX, arguments in RBX, RCX, RDX
 * and RSI, the result in RAX. In 64-bit mode at CPL 0 it calls an unknown number, one whose
 * low half is KVM_HC_VAPIC_POLL_IRQ, KVM_HC_VAPIC_POLL_IRQ itself (0), and the hypercalls of
 * features eptvisor's CPUID does not offer (KICK_CPU, SEND_IPI, SCHED_YIELD, MAP_GPA_RANGE:
 * -KVM_ENOSYS, -1000); it checks that the argument registers come back unchanged and that the
 * instruction after VMCALL runs once; VMMCALL (AMD's) stays #UD. Exits 0 when every answer is
 * KVM's.
 *
 * Under QEMU TCG there is no hypercall ABI: VMCALL is #UD there (the CPU has no VMX), and the
 * kernel says so and exits 0x70; the test checks eptvisor's answers against KVM's source.
 */
#include "guests/pc/pc.h"

#define EXC_UD      6
#define NO_FAULT    ~0ull
#define EXIT_WRONG  0x71 /* a hypercall's answer was not KVM's */
#define EXIT_NO_ABI 0x70 /* VMCALL raised #UD: no hypercall ABI (QEMU TCG) */
#define KVM_ENOSYS  1000
#define ARG_PATTERN 0xa5a5000000000000ull

static volatile u64 fault_vec = NO_FAULT;
static volatile u64 resume_rip;

static void on_ud(u64 vector, u64 error, u64 *rip)
{
	(void)error;
	fault_vec = vector;
	*rip = resume_rip;
}

struct hc {
	u64 rax, rbx, rcx, rdx, rsi;
	u64 after; /* incremented by the instruction after VMCALL */
};

/* VMCALL with number NR and the arguments ARG_PATTERN + 1..4; on #UD, fault_vec says so. */
static struct hc hypercall(u64 nr)
{
	struct hc h = { .rax = nr,
		        .rbx = ARG_PATTERN + 1,
		        .rcx = ARG_PATTERN + 2,
		        .rdx = ARG_PATTERN + 3,
		        .rsi = ARG_PATTERN + 4,
		        .after = 0 };

	fault_vec = NO_FAULT;
	__asm__ volatile("leaq 1f(%%rip), %%rdi\n\t"
	                 "movq %%rdi, resume_rip(%%rip)\n\t"
	                 "vmcall\n\t"
	                 "incq %5\n"
	                 "1:"
	                 : "+a"(h.rax), "+b"(h.rbx), "+c"(h.rcx), "+d"(h.rdx), "+S"(h.rsi),
	                   "+m"(h.after)
	                 :
	                 : "rdi", "memory");
	return h;
}

static bool args_kept(const struct hc *h)
{
	return h->rbx == ARG_PATTERN + 1 && h->rcx == ARG_PATTERN + 2 &&
	       h->rdx == ARG_PATTERN + 3 && h->rsi == ARG_PATTERN + 4;
}

/* One call: prints the answer; true when it is WANT, the arguments are kept and the next
 * instruction ran once. */
static bool check(const char *name, u64 nr, u64 want)
{
	struct hc h = hypercall(nr);

	if (fault_vec != NO_FAULT) {
		pr("kvmhc: %s (rax 0x%llx): exception %llu\n", name, (unsigned long long)nr,
		   (unsigned long long)fault_vec);
		return false;
	}
	pr("kvmhc: %s (rax 0x%llx): rax 0x%llx, arguments %s, next instruction ran %llu time(s)\n",
	   name, (unsigned long long)nr, (unsigned long long)h.rax,
	   args_kept(&h) ? "kept" : "CHANGED", (unsigned long long)h.after);
	return h.rax == want && args_kept(&h) && h.after == 1;
}

static u64 vmmcall_probe(void)
{
	fault_vec = NO_FAULT;
	__asm__ volatile("leaq 1f(%%rip), %%rdi\n\t"
	                 "movq %%rdi, resume_rip(%%rip)\n\t"
	                 "xorl %%eax, %%eax\n\t"
	                 "vmmcall\n"
	                 "1:"
	                 :
	                 :
	                 : "rax", "rdi", "memory");
	return fault_vec;
}

u64 vmcall_compat(u64 rax);
u64 vmcall_user(u64 rax);
void kvmhc_syscall_entry(void);

/* GDT: entry.S's four, the SYSCALL stack segment, and ring-3 data and 64-bit code. */
static u64 gdt[7] __attribute__((aligned(16))) = {
	0,
	0x00cf9a000000ffffull, /* 0x08 code, 32-bit */
	0x00cf92000000ffffull, /* 0x10 data */
	0x00af9a000000ffffull, /* 0x18 code, 64-bit */
	0x00cf92000000ffffull, /* 0x20 data (SYSCALL's SS) */
	0x00cff2000000ffffull, /* 0x28 data, DPL 3 */
	0x00affa000000ffffull, /* 0x30 code, 64-bit, DPL 3 */
};

/* Ring 3 can run this kernel's code and data: the GDT above, SYSCALL/SYSRET set up, and the
 * U bit on the paging entries of the first 2 MiB (the kernel, its stack and data). */
static void user_setup(void)
{
	struct __attribute__((packed)) {
		u16 limit; /* cppcheck-suppress unusedStructMember ; read by LGDT */
		u64 base;  /* cppcheck-suppress unusedStructMember */
	} ptr = { sizeof(gdt) - 1, (u64)gdt };
	u64 cr3, *pml4, *pdpt, *pd;

	__asm__ volatile("lgdt %0" : : "m"(ptr));
	wrmsr(0xc0000080, rdmsr(0xc0000080) | 1);             /* EFER.SCE */
	wrmsr(0xc0000081, (0x20ull << 48) | (0x18ull << 32)); /* STAR */
	wrmsr(0xc0000082, (u64)kvmhc_syscall_entry);          /* LSTAR */
	wrmsr(0xc0000084, 0x200);                             /* SFMASK: IF */
	__asm__ volatile("movq %%cr3, %0" : "=r"(cr3));
	pml4 = (u64 *)(cr3 & ~0xfffull);
	pdpt = (u64 *)(pml4[0] & ~0xfffull);
	pd = (u64 *)(pdpt[0] & ~0xfffull);
	pml4[0] |= 4;
	pdpt[0] |= 4;
	pd[0] |= 4;
	__asm__ volatile("movq %0, %%cr3" : : "r"(cr3) : "memory");
}

static bool check_mode(const char *mode, u64 nr, u64 got, u64 want)
{
	pr("kvmhc: %s (rax 0x%llx): rax 0x%llx\n", mode, (unsigned long long)nr,
	   (unsigned long long)got);
	return got == want;
}

void pc_main(u32 magic, u32 info)
{
	const u64 enosys = (u64)-KVM_ENOSYS;
	bool ok = true;

	(void)magic;
	(void)info;
	uart_init();
	idt_init();
	exc_set(EXC_UD, on_ud);
	pr("kvmhc: KVM's hypercall ABI for VMCALL, 64-bit mode, CPL 0\n");
	hypercall(0);
	if (fault_vec == EXC_UD) {
		pr("kvmhc: vmcall: #UD (no hypercall ABI)\n");
		pc_exit(EXIT_NO_ABI);
	}
	ok &= check("unknown 0", 0, enosys);
	ok &= check("unknown 0x12345678", 0x12345678, enosys);
	ok &= check("unknown 0x100000001", 0x100000001ull, enosys);
	ok &= check("VAPIC_POLL_IRQ", 1, 0);
	ok &= check("KICK_CPU", 5, enosys);
	ok &= check("SEND_IPI", 10, enosys);
	ok &= check("SCHED_YIELD", 11, enosys);
	ok &= check("MAP_GPA_RANGE", 12, enosys);
	pr("kvmhc: vmmcall: %s\n", vmmcall_probe() == EXC_UD ? "#UD" : "no #UD");
	ok &= fault_vec == EXC_UD;
	/* Compatibility mode: EAX is the number, the result is 32-bit (RAX's upper half 0). */
	ok &= check_mode("compatibility mode, unknown", 0xdead000000000000ull,
	                 vmcall_compat(0xdead000000000000ull), 0xfffffc18ull);
	ok &= check_mode("compatibility mode, VAPIC_POLL_IRQ", 0xdead000000000001ull,
	                 vmcall_compat(0xdead000000000001ull), 0);
	user_setup();
	ok &= check_mode("CPL 3, VAPIC_POLL_IRQ", 1, vmcall_user(1), ~0ull);
	ok &= check_mode("CPL 3, unknown", 0, vmcall_user(0), ~0ull);
	pr("kvmhc: %s\n", ok ? "PASS" : "FAIL");
	pc_exit(ok ? EXIT_PASS : EXIT_WRONG);
}
