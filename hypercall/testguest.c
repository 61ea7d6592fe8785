/*
 * The test guests' platform (see testguest.h). A test guest starts directly in 64-bit mode
 * on page tables the scenario built in guest memory (GUEST_PT_GPA): CS is a 64-bit code
 * segment, the IDT is empty (limit 0), so any guest exception becomes a triple fault, which
 * the hypervisor reports. It has no interrupt sources, so HLT with IF=1 simply resumes.
 * CPUID is answered as for a PC guest (devices/cpuid.c) and COM1 is the PC's 16550 model
 * (devices/uart16550.c); any other port reads all-ones and is counted. VMCALL is the
 * hypercall ABI. Everything else a test guest could ask for stops the VM with a dump.
 */
#include "arch/cpu.h"
#include "devices/cpuid.h"
#include "errno.h"
#include "hypercall.h"
#include "hypercall/testguest.h"
#include "lib.h"
#include "mm/mm.h"
#include "vmx/exit.h"
#include "vmx/vmcs.h"
#include "vmx/vmx.h"

#define COM1          0x3f8
#define AR_CODE64     0xa09b /* present, S, execute/read accessed, L, G */
#define AR_DATA       0xc093 /* present, S, read/write accessed, D/B, G */
#define AR_TSS64_BUSY 0x8b

/* ---- state ------------------------------------------------------------------------------ */

static int testguest_vm_init(struct vm *vm)
{
	/* kzalloc: the agent's lock starts unlocked (SPINLOCK_INIT is all zeroes). */
	vm->plat = kzalloc(sizeof(struct testguest_vm));
	return vm->plat ? 0 : -ENOMEM;
}

static void testguest_vm_destroy(struct vm *vm)
{
	if (!vm->plat)
		return;
	agent_log_free(vm);
	agent_tracker_free(vm);
	kfree(vm->plat, sizeof(struct testguest_vm));
	vm->plat = NULL;
}

/* A complete line of a vCPU's COM1 output, into eptvisor's log under the VM and vCPU. */
static void com1_line(void *ctx, const char *line)
{
	const struct vcpu *v = ctx;

	vm_guest_line(v->vm, v->id, line);
}

static int testguest_vcpu_init(struct vcpu *v)
{
	struct testguest_vcpu *t;

	if (v->id < 0 || v->id >= MAX_VCPUS)
		return -EINVAL;
	t = &to_testguest_vm(v->vm)->vcpu[v->id];
	uart_init(&t->com1, com1_line, v);
	v->plat = t;
	return 0;
}

/* ---- the start state -------------------------------------------------------------------- */

/* A flat 4 GiB segment (or an unusable one). */
static void setup_segment(enum vmcs_field sel, u16 value, u32 ar)
{
	vcpu_set_segment(sel, value, 0, (ar & AR_UNUSABLE) ? 0 : 0xffffffff, ar);
}

static void testguest_setup_guest_state(struct vcpu *v)
{
	setup_segment(GUEST_CS_SEL, 0x08, AR_CODE64);
	setup_segment(GUEST_SS_SEL, 0x10, AR_DATA);
	setup_segment(GUEST_DS_SEL, 0x10, AR_DATA);
	setup_segment(GUEST_ES_SEL, 0x10, AR_DATA);
	setup_segment(GUEST_FS_SEL, 0x10, AR_DATA);
	setup_segment(GUEST_GS_SEL, 0x10, AR_DATA);
	setup_segment(GUEST_LDTR_SEL, 0, AR_UNUSABLE);
	vmcs_write(GUEST_TR_SEL, 0x18);
	vmcs_write(GUEST_TR_BASE, 0);
	vmcs_write(GUEST_TR_LIMIT, 0x67);
	vmcs_write(GUEST_TR_AR, AR_TSS64_BUSY);
	vmcs_write(GUEST_GDTR_BASE, 0);
	vmcs_write(GUEST_GDTR_LIMIT, 0);
	vmcs_write(GUEST_IDTR_BASE, 0);
	vmcs_write(GUEST_IDTR_LIMIT, 0);
	vmcs_write(GUEST_CR0, (CR0_PE | CR0_NE | CR0_ET | CR0_WP | CR0_PG | vmx_caps.cr0_fixed0) &
	                              vmx_caps.cr0_fixed1);
	vmcs_write(GUEST_CR3, GUEST_PT_GPA);
	vmcs_write(GUEST_CR4, (CR4_PAE | vmx_caps.cr4_fixed0) & vmx_caps.cr4_fixed1);
	vmcs_write(GUEST_IA32_EFER, EFER_LME | EFER_LMA);
	vmcs_write(GUEST_RSP, v->entry_rsp);
	vmcs_write(GUEST_RIP, v->entry_rip);
	vcpu_reset_event_state();
}

/* ---- exits ------------------------------------------------------------------------------ */

static bool handle_cpuid(struct vcpu *v)
{
	struct guest_regs *r = &v->regs;
	struct cpuid_regs c = cpuid((u32)r->rax, (u32)r->rcx);
	struct cpuid_guest g = { .apic_id = (u32)v->id, .ncpus = (u32)v->vm->nvcpus };
	struct cpuid_regs4 host = { c.eax, c.ebx, c.ecx, c.edx };
	struct cpuid_regs4 out = cpuid_guest_view((u32)r->rax, (u32)r->rcx, host, &g);

	r->rax = out.eax, r->rbx = out.ebx, r->rcx = out.ecx, r->rdx = out.edx;
	vcpu_skip_instruction();
	return true;
}

static bool handle_hlt(struct vcpu *v)
{
	if (!(vmcs_read(GUEST_RFLAGS) & RFLAGS_IF))
		return vcpu_stop_dump(v, EXIT_HLT,
		                      "HLT with interrupts disabled: it can never wake");
	vcpu_skip_instruction(); /* no interrupt sources: a halt with IF=1 simply resumes */
	return true;
}

/* An IN's result of `size` bytes into RAX, as the CPU writes it: a 32-bit IN zeroes
 * RAX[63:32] like any 32-bit write, 8- and 16-bit ones merge. */
static void in_result(struct vcpu *v, int size, u32 val)
{
	u64 mask = size == 1 ? 0xff : 0xffff;

	if (size == 4)
		v->regs.rax = val;
	else
		v->regs.rax = (v->regs.rax & ~mask) | (val & mask);
}

static bool handle_io(struct vcpu *v)
{
	struct testguest_vcpu *t = v->plat;
	u64 q = vmcs_read(EXIT_QUALIFICATION);
	u16 port = q >> 16;
	int size = (int)(q & 7) + 1;
	bool in = q & BIT(3);

	if (q & BIT(4))
		return vcpu_stop_dump(v, EXIT_IO, "string I/O (INS/OUTS) is not emulated");
	if (port >= COM1 && port <= COM1 + 7) {
		if (in)
			in_result(v, size, uart_read(&t->com1, port - COM1));
		else
			uart_write(&t->com1, port - COM1, (u8)v->regs.rax);
	} else {
		if (in)
			in_result(v, size, 0xffffffff); /* nothing there */
		STAT_INC(v->vm, io_unhandled);
	}
	vcpu_skip_instruction();
	return true;
}

static bool handle_vmcall(struct vcpu *v)
{
	hypercall_dispatch(v);
	return v->state == VCPU_RUNNING;
}

static bool stop_cr(struct vcpu *v)
{
	return vcpu_stop_dump(v, EXIT_CR_ACCESS, "CR access");
}

static bool stop_rdmsr(struct vcpu *v)
{
	return vcpu_stop_dump(v, EXIT_RDMSR, "RDMSR");
}

static bool stop_wrmsr(struct vcpu *v)
{
	return vcpu_stop_dump(v, EXIT_WRMSR, "WRMSR");
}

static bool stop_rdpmc(struct vcpu *v)
{
	return vcpu_stop_dump(v, EXIT_RDPMC, "unexpected RDPMC");
}

static bool stop_instruction(struct vcpu *v)
{
	return vcpu_stop_dump(v, vmcs_read(EXIT_REASON) & 0xffff, "unexpected instruction exit");
}

const struct vm_ops testguest_ops = {
	.name = "testguest",
	.vm_init = testguest_vm_init,
	.vm_destroy = testguest_vm_destroy,
	.vcpu_init = testguest_vcpu_init,
	.setup_guest_state = testguest_setup_guest_state,
	.exit = {
		[EXIT_CPUID] = handle_cpuid,
		[EXIT_HLT] = handle_hlt,
		[EXIT_IO] = handle_io,
		[EXIT_VMCALL] = handle_vmcall,
		[EXIT_CR_ACCESS] = stop_cr,
		[EXIT_RDMSR] = stop_rdmsr,
		[EXIT_WRMSR] = stop_wrmsr,
		[EXIT_RDPMC] = stop_rdpmc,
		[EXIT_MWAIT] = stop_instruction,
		[EXIT_MONITOR] = stop_instruction,
		[EXIT_VMCLEAR] = stop_instruction,
		[EXIT_VMLAUNCH] = stop_instruction,
		[EXIT_VMPTRLD] = stop_instruction,
		[EXIT_VMPTRST] = stop_instruction,
		[EXIT_VMREAD] = stop_instruction,
		[EXIT_VMRESUME] = stop_instruction,
		[EXIT_VMWRITE] = stop_instruction,
		[EXIT_VMXOFF] = stop_instruction,
		[EXIT_VMXON] = stop_instruction,
		[EXIT_INVEPT] = stop_instruction,
		[EXIT_INVVPID] = stop_instruction,
		[EXIT_VMFUNC] = stop_instruction,
	},
};
