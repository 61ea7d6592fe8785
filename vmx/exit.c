/*
 * VM-exit dispatch: one handler per basic exit reason eptvisor supports. An exit without a
 * handler stops the VM with a full dump; the hypervisor itself always goes on.
 */
#include "arch/cpu.h"
#include "arch/lapic.h"
#include "drivers/console.h"
#include "errno.h"
#include "lib.h"
#include "vmx/exit.h"
#include "pc/pc.h"
#include "vmx/trace.h"
#include "vmx/vcpu.h"
#include "vmx/vmcs.h"

#define COM1 0x3f8
#define COM1_LSR (COM1 + 5)
#define EPT_QUAL_READ BIT(0)
#define EPT_QUAL_WRITE BIT(1)
#define EPT_QUAL_FETCH BIT(2)
#define EPT_QUAL_PERMS (BIT(3) | BIT(4) | BIT(5))

typedef bool (*exit_handler)(struct vcpu *v);

static const char *const reason_names[EXIT_REASONS] = {
#define EXIT_NAME(name, num) [num] = #name,
	EXIT_REASON_LIST(EXIT_NAME)
#undef EXIT_NAME
};

const char *exit_reason_name(u32 reason)
{
	if (reason < EXIT_REASONS && reason_names[reason])
		return reason_names[reason];
	return "UNKNOWN";
}

void vcpu_skip_instruction(void)
{
	vmcs_write(GUEST_RIP, vmcs_read(GUEST_RIP) + vmcs_read(EXIT_INSTR_LEN));
}

/* Stop the VM for an exit it cannot survive, with the dump a reader needs. */
static bool stop_with_dump(struct vcpu *v, u32 reason, const char *what)
{
	vm_stop(v->vm, reason, "vcpu %d: %s", v->id, what);
	printk("vmx: VM '%s' stopped: vcpu %d: %s\n", v->vm->name, v->id, what);
	vcpu_dump(v, what);
	return false;
}

static bool handle_extint(struct vcpu *v)
{
	(void)v;
	/* Acknowledged on exit (EXIT_ACK_INTR_ON_EXIT): our IPIs only need their EOI; the
	 * flush or stop they ask for is checked before the next entry. */
	lapic_eoi();
	return true;
}

/* An NMI: a kick from vcpu_kick (or a real one, which has nothing else to tell us). With
 * virtual NMIs the guest's blocking bit is its own virtual-NMI blocking, which a physical NMI
 * neither sets nor obeys, so it is left alone; the host's own NMI blocking ends here. */
static bool handle_nmi(struct vcpu *v)
{
	(void)v;
	nmi_unblock();
	return true;
}

static bool handle_triple_fault(struct vcpu *v)
{
	return stop_with_dump(v, EXIT_TRIPLE_FAULT, "guest triple fault (shutdown)");
}

static bool handle_cpuid(struct vcpu *v)
{
	struct guest_regs *r = &v->regs;

	if (v->vm->pc)
		return pc_handle_cpuid(v);
	struct cpuid_regs c = cpuid((u32)r->rax, (u32)r->rcx);

	if ((u32)r->rax == 1) {
		c.ecx &= ~(u32)BIT(5); /* no VMX inside */
		c.ecx |= (u32)BIT(31); /* hypervisor present */
	} else if ((u32)r->rax == 0x40000000) {
		c.eax = 0x40000000;
		memcpy(&c.ebx, "eptv", 4);
		memcpy(&c.ecx, "isor", 4);
		c.edx = 0;
	}
	r->rax = c.eax, r->rbx = c.ebx, r->rcx = c.ecx, r->rdx = c.edx;
	vcpu_skip_instruction();
	return true;
}

static bool handle_hlt(struct vcpu *v)
{
	if (v->vm->pc)
		return pc_handle_hlt(v);
	if (!(vmcs_read(GUEST_RFLAGS) & RFLAGS_IF))
		return stop_with_dump(v, EXIT_HLT, "HLT with interrupts disabled: it can never wake");
	/* Scenario guests have no interrupt sources: a halt with IF=1 simply resumes. */
	vcpu_skip_instruction();
	return true;
}

/* Instructions a PC guest's CPU does not have (CPUID says so): #UD, as on that CPU. */
static bool handle_undefined(struct vcpu *v)
{
	if (!v->vm->pc)
		return stop_with_dump(v, vmcs_read(EXIT_REASON) & 0xffff, "unexpected instruction exit");
	pc_inject_exception(v, 6, false, 0);
	return true;
}

/* RDPMC (RDPMC exiting is on): the PMU is not virtualised and CPUID leaf 0xa says there are
 * no counters, so every counter number is invalid: #GP(0), as on a CPU without that counter
 * (SDM RDPMC). Neither kind of guest reads the host's counters. */
static bool handle_rdpmc(struct vcpu *v)
{
	if (!v->vm->pc)
		return stop_with_dump(v, EXIT_RDPMC, "unexpected RDPMC");
	pc_inject_exception(v, 13 /* #GP */, true, 0);
	return true;
}

static bool handle_invd(struct vcpu *v)
{
	vcpu_skip_instruction(); /* nothing to do: EPT memory is write-back and coherent */
	(void)v;
	return true;
}

static bool handle_cr(struct vcpu *v)
{
	return v->vm->pc ? pc_handle_cr(v) : stop_with_dump(v, EXIT_CR_ACCESS, "CR access");
}

static bool handle_rdmsr(struct vcpu *v)
{
	return v->vm->pc ? pc_handle_msr(v, false) : stop_with_dump(v, EXIT_RDMSR, "RDMSR");
}

static bool handle_wrmsr(struct vcpu *v)
{
	return v->vm->pc ? pc_handle_msr(v, true) : stop_with_dump(v, EXIT_WRMSR, "WRMSR");
}

static bool handle_apic_access(struct vcpu *v)
{
	return pc_handle_apic_access(v);
}

static bool handle_apic_write(struct vcpu *v)
{
	return pc_handle_apic_write(v);
}

static bool handle_interrupt_window(struct vcpu *v)
{
	return pc_handle_interrupt_window(v);
}

static bool handle_nmi_window(struct vcpu *v)
{
	return pc_handle_nmi_window(v);
}

static bool handle_vmcall(struct vcpu *v)
{
	if (v->vm->pc)
		return handle_undefined(v); /* eptvisor's hypercalls are for its own guests */
	vcpu_hypercall(v);
	return v->state == VCPU_RUNNING;
}

static void guest_putc(struct vcpu *v, char c)
{
	if (c != '\n' && v->line_len < (int)sizeof(v->line) - 1) {
		v->line[v->line_len++] = (c >= 32 && c < 127) ? c : '.';
		if (v->line_len < (int)sizeof(v->line) - 1)
			return;
	}
	v->line[v->line_len] = '\0';
	printk("[guest %s/%d] %s\n", v->vm->name, v->id, v->line);
	v->line_len = 0;
}

static bool handle_io(struct vcpu *v)
{
	u64 q = vmcs_read(EXIT_QUALIFICATION);
	u16 port = q >> 16;
	bool in = q & BIT(3);

	if (v->vm->pc)
		return pc_handle_io(v);
	if (q & BIT(4))
		return stop_with_dump(v, EXIT_IO, "string I/O (INS/OUTS) is not emulated");
	if (!in && port == COM1)
		guest_putc(v, (char)v->regs.rax);
	else if (in && port == COM1_LSR)
		v->regs.rax = (v->regs.rax & ~0xffULL) | 0x60; /* transmitter empty */
	else if (in && (q & 7) == 3)
		v->regs.rax = 0xffffffff; /* a 32-bit IN zeroes RAX[63:32], like any 32-bit write */
	else if (in)
		v->regs.rax |= (q & 7) == 0 ? 0xff : 0xffff;
	if (port < COM1 || port > COM1 + 7)
		STAT_INC(v->vm, io_unhandled);
	vcpu_skip_instruction();
	return true;
}

/*
 * An EPT violation: the EPT code decides (lockless fast path for dirty-logging write
 * faults, else under the MMU lock); a page not yet backed is populated here; a real
 * protection fault or a gpa in no memslot stops the VM.
 */
static bool handle_ept_violation(struct vcpu *v)
{
	u64 q = vmcs_read(EXIT_QUALIFICATION);
	gpa_t gpa = vmcs_read(GUEST_PHYSICAL_ADDRESS);
	/* Qualification bits 0-2 (read, write, fetch) line up with EPT_R/W/X. */
	u64 access = (q & (EPT_QUAL_READ | EPT_QUAL_WRITE | EPT_QUAL_FETCH)) ?: EPT_R;
	const char *what = q & EPT_QUAL_FETCH ? "fetch" : q & EPT_QUAL_WRITE ? "write" : "read";
	char why[128];
	int r;

	if (!vm_find_slot(v->vm, gpa_to_gfn(gpa))) {
		v->stats.outside++;
		if (v->vm->pc)
			return pc_handle_unassigned(v, gpa, q);
		snprintf(why, sizeof(why), "EPT violation: %s of gpa 0x%lx outside every memslot",
			 what, gpa);
		return stop_with_dump(v, EXIT_EPT_VIOLATION, why);
	}
	r = ept_handle_fault(&v->vm->ept, gpa_to_gfn(gpa), access);
	if (r >= 0 && r <= EPT_FAULT_VIOLATION)
		v->stats.faults[r]++;
	trace_fault(v, gpa, r);
	if (r == EPT_FAULT_NOT_PRESENT)
		r = vm_populate(v->vm, gpa_to_gfn(gpa));
	if (r == EPT_FAULT_VIOLATION) {
		snprintf(why, sizeof(why), "EPT violation: %s of gpa 0x%lx not permitted (qual 0x%lx)",
			 what, gpa, q);
		return stop_with_dump(v, EXIT_EPT_VIOLATION, why);
	}
	if (r < 0) {
		snprintf(why, sizeof(why), "cannot handle the fault at gpa 0x%lx (error %d)", gpa, r);
		return stop_with_dump(v, EXIT_EPT_VIOLATION, why);
	}
	/* Fixed, spurious, populated, or busy (the hypervisor is copying the page: retry). */
	return true;
}

static bool handle_ept_misconfig(struct vcpu *v)
{
	char why[96];

	snprintf(why, sizeof(why), "EPT misconfiguration at gpa 0x%lx (a hypervisor bug)",
		 vmcs_read(GUEST_PHYSICAL_ADDRESS));
	return stop_with_dump(v, EXIT_EPT_MISCONFIG, why);
}

static bool handle_preemption_timer(struct vcpu *v)
{
	char why[128];

	if (vcpu_budget_rearm(v))
		return true;
	snprintf(why, sizeof(why), "runaway: used its budget of %lu timer ticks "
		 "(VMX preemption timer)", v->vm->budget);
	return stop_with_dump(v, EXIT_PREEMPTION_TIMER, why);
}

static bool handle_pml_full(struct vcpu *v)
{
	/* vcpu_run drained the buffer already, as after every exit. */
	v->stats.pml_full++;
	return true;
}

static const exit_handler handlers[EXIT_REASONS] = {
	[EXIT_PML_FULL] = handle_pml_full,
	[EXIT_EXCEPTION_NMI] = handle_nmi,
	[EXIT_EXTERNAL_INTERRUPT] = handle_extint,
	[EXIT_TRIPLE_FAULT] = handle_triple_fault,
	[EXIT_CPUID] = handle_cpuid,
	[EXIT_HLT] = handle_hlt,
	[EXIT_VMCALL] = handle_vmcall,
	[EXIT_IO] = handle_io,
	[EXIT_EPT_VIOLATION] = handle_ept_violation,
	[EXIT_EPT_MISCONFIG] = handle_ept_misconfig,
	[EXIT_PREEMPTION_TIMER] = handle_preemption_timer,
	[EXIT_CR_ACCESS] = handle_cr,
	[EXIT_RDMSR] = handle_rdmsr,
	[EXIT_WRMSR] = handle_wrmsr,
	[EXIT_APIC_ACCESS] = handle_apic_access,
	[EXIT_APIC_WRITE] = handle_apic_write,
	[EXIT_INTERRUPT_WINDOW] = handle_interrupt_window,
	[EXIT_NMI_WINDOW] = handle_nmi_window,
	[EXIT_MWAIT] = handle_undefined,
	[EXIT_MONITOR] = handle_undefined,
	[EXIT_RDPMC] = handle_rdpmc,
	/* The VMX instructions exit unconditionally in guest mode; a PC guest's CPUID has no
	 * VMX, so they are #UD (docs/platform.md). VMFUNC cannot exit while "enable VM
	 * functions" is off (it is #UD by itself then), but would get the same. The other
	 * instructions that can exit only under controls eptvisor leaves off (RDRAND, RDSEED,
	 * INVPCID, ENCLS, WBINVD, RDTSCP, XSAVES) or only with a CR4 bit a PC guest cannot
	 * set (GETSEC: SMXE; XSETBV: OSXSAVE, XSAVE is hidden) fault in the guest directly. */
	[EXIT_VMCLEAR] = handle_undefined,
	[EXIT_VMLAUNCH] = handle_undefined,
	[EXIT_VMPTRLD] = handle_undefined,
	[EXIT_VMPTRST] = handle_undefined,
	[EXIT_VMREAD] = handle_undefined,
	[EXIT_VMRESUME] = handle_undefined,
	[EXIT_VMWRITE] = handle_undefined,
	[EXIT_VMXOFF] = handle_undefined,
	[EXIT_VMXON] = handle_undefined,
	[EXIT_INVEPT] = handle_undefined,
	[EXIT_INVVPID] = handle_undefined,
	[EXIT_VMFUNC] = handle_undefined,
	[EXIT_INVD] = handle_invd,
	[EXIT_TPR_BELOW_THRESHOLD] = handle_interrupt_window, /* look again before entering */
};

static bool handle_entry_failure(struct vcpu *v, u32 basic)
{
	char why[160];

	snprintf(why, sizeof(why), "VM entry failed: %s (exit qualification %lu; Bochs' log "
		 "names the failed check in a VMENTER FAIL line)", exit_reason_name(basic),
		 vmcs_read(EXIT_QUALIFICATION));
	return stop_with_dump(v, basic, why);
}

bool vcpu_handle_exit(struct vcpu *v, u32 reason)
{
	u32 basic = reason & 0xffff;
	char why[80];

	if (basic < EXIT_REASONS)
		v->stats.exits[basic]++;
	trace_exit(v, basic);
	if (reason & BIT(31))
		return handle_entry_failure(v, basic);
	if (basic < EXIT_REASONS && handlers[basic])
		return handlers[basic](v);
	snprintf(why, sizeof(why), "unhandled VM exit %u (%s)", basic, exit_reason_name(basic));
	return stop_with_dump(v, basic, why);
}
