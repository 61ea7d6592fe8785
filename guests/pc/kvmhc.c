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
	pr("kvmhc: %s\n", ok ? "PASS" : "FAIL");
	pc_exit(ok ? EXIT_PASS : EXIT_WRONG);
}
