/*
 * VM-exit dispatch: the core handles the exits that are about VMX itself (NMIs and host
 * interrupts, triple faults, the EPT, the preemption timer, PML); every other reason goes to
 * the VM's platform (vm->ops->exit). An exit nobody handles stops the VM with a full dump;
 * the hypervisor itself always goes on.
 */
#include "arch/cpu.h"
#include "arch/lapic.h"
#include "drivers/console.h"
#include "errno.h"
#include "lib.h"
#include "vmx/exit.h"
#include "vmx/store.h"
#include "vmx/trace.h"
#include "vmx/vcpu.h"
#include "vmx/vmcs.h"

#define EPT_QUAL_READ  BIT(0)
#define EPT_QUAL_WRITE BIT(1)
#define EPT_QUAL_FETCH BIT(2)
#define EPT_QUAL_PERMS (BIT(3) | BIT(4) | BIT(5))

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

#define DEBUGCTL_BTF    BIT(1)
#define BLOCK_STI_MOVSS (BIT(0) | BIT(1))

/* A single-step trap after the guest's current instruction, delivered after the next entry
 * (with DR6.BS, by the CPU) unless MOV SS blocks it. */
void vcpu_single_step_trap(void)
{
	vmcs_write(GUEST_PENDING_DBG, vmcs_read(GUEST_PENDING_DBG) | PENDING_DBG_BS);
}

/*
 * What the CPU does when an instruction completes, for one the hypervisor completed in its
 * place: RIP moves past it; RF clears (an instruction that completes clears it, so a
 * breakpoint on the next one fires: the VM exit of an EPT violation or APIC access saved
 * RF=1, SDM Vol. 3C 28.3.1.4); the STI / MOV SS shadow ends with it; and with RFLAGS.TF
 * set (and DEBUGCTL.BTF clear: these are no branches) its single-step trap is made pending
 * in the VMCS, delivered after the entry with DR6.BS by the CPU itself (SDM 27.7.3), as
 * KVM's kvm_skip_emulated_instruction does by hand. Instruction exits save the pending
 * debug exceptions clear (28.3.4), so without this the guest would lose the trap.
 */
void vcpu_complete_instruction(u64 len)
{
	u64 rflags = vmcs_read(GUEST_RFLAGS);

	vmcs_write(GUEST_RIP, vmcs_read(GUEST_RIP) + len);
	if (rflags & RFLAGS_RF)
		vmcs_write(GUEST_RFLAGS, rflags & ~RFLAGS_RF);
	vmcs_write(GUEST_INTERRUPTIBILITY, vmcs_read(GUEST_INTERRUPTIBILITY) & ~BLOCK_STI_MOVSS);
	if ((rflags & RFLAGS_TF) && !(vmcs_read(GUEST_IA32_DEBUGCTL) & DEBUGCTL_BTF))
		vcpu_single_step_trap();
}

void vcpu_skip_instruction(void)
{
	vcpu_complete_instruction(vmcs_read(EXIT_INSTR_LEN));
}

bool vcpu_stop_dump(struct vcpu *v, u32 reason, const char *what)
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

/* A platform with a machine around the CPU (a PC resets it) takes the shutdown itself. */
static bool handle_triple_fault(struct vcpu *v)
{
	if (v->vm->ops->exit[EXIT_TRIPLE_FAULT])
		return v->vm->ops->exit[EXIT_TRIPLE_FAULT](v);
	return vcpu_stop_dump(v, EXIT_TRIPLE_FAULT, "guest triple fault (shutdown)");
}

static bool handle_invd(struct vcpu *v)
{
	vcpu_skip_instruction(); /* nothing to do: EPT memory is write-back and coherent */
	(void)v;
	return true;
}

/* Everything but a fault the fast path fixed: the memslot lookup, the verdict under the
 * lock, populating, and stopping the VM on a real violation. */
static __attribute__((noinline)) bool ept_violation_slow(struct vcpu *v, u64 q, gpa_t gpa,
                                                         u64 access)
{
	const char *what = q & EPT_QUAL_FETCH ? "fetch" : q & EPT_QUAL_WRITE ? "write" : "read";
	char why[128];
	int r;

	if (!vm_find_slot(v->vm, gpa_to_gfn(gpa))) {
		v->stats.outside++;
		if (v->vm->ops->unassigned)
			return v->vm->ops->unassigned(v, gpa, q);
		snprintf(why, sizeof(why), "EPT violation: %s of gpa 0x%lx outside every memslot",
		         what, gpa);
		return vcpu_stop_dump(v, EXIT_EPT_VIOLATION, why);
	}
	/* The fast path was tried and could not fix it: decide under the lock. */
	r = ept_handle_fault_slow(&v->vm->ept, gpa_to_gfn(gpa), access);
	if (r >= 0 && r <= EPT_FAULT_VIOLATION)
		v->stats.faults[r]++;
	trace_fault(v, gpa, r);
	if (r == EPT_FAULT_NOT_PRESENT)
		r = vm_populate(v->vm, gpa_to_gfn(gpa));
	if (r == -EINPROGRESS) { /* a store page in flight: the guest is told, or we wait */
		if (v->vm->ops->async_fault && v->vm->ops->async_fault(v, gpa_to_gfn(gpa)))
			return true;
		return vm_store_wait(v, gpa_to_gfn(gpa));
	}
	if (r == EPT_FAULT_VIOLATION) {
		snprintf(why, sizeof(why),
		         "EPT violation: %s of gpa 0x%lx not permitted (qual 0x%lx)", what, gpa, q);
		return vcpu_stop_dump(v, EXIT_EPT_VIOLATION, why);
	}
	if (r < 0) {
		snprintf(why, sizeof(why), "cannot handle the fault at gpa 0x%lx (error %d)", gpa,
		         r);
		return vcpu_stop_dump(v, EXIT_EPT_VIOLATION, why);
	}
	/* Fixed, spurious, populated, or busy (the hypervisor is copying the page: retry). */
	return true;
}

/*
 * An EPT violation. First, straight from the exit, the lockless fast path
 * (ept_handle_fault_fast): a write to a page write-protected for dirty logging gets W back
 * and is logged dirty, and a fault the entry already allows is spurious. It needs no
 * memslot lookup: it acts only on a present leaf, and the EPT maps nothing but memslot
 * pages. Everything else (not present, a real protection fault, a gpa in no memslot, a
 * fast path that gave up) goes to ept_violation_slow, which decides under the MMU lock.
 */
static bool handle_ept_violation(struct vcpu *v)
{
	/* Both fields are filled by every EPT-violation exit (vmcs_read_unchecked). */
	u64 q = vmcs_read_unchecked(EXIT_QUALIFICATION);
	gpa_t gpa = vmcs_read_unchecked(GUEST_PHYSICAL_ADDRESS);
	/* Qualification bits 0-2 (read, write, fetch) line up with EPT_R/W/X. */
	u64 access = (q & (EPT_QUAL_READ | EPT_QUAL_WRITE | EPT_QUAL_FETCH)) ?: EPT_R;
	int r = ept_handle_fault_fast(&v->vm->ept, gpa_to_gfn(gpa), access);

	if (r < 0) /* -EAGAIN, or bad arguments that the slow path reports again */
		return ept_violation_slow(v, q, gpa, access);
	v->stats.faults[r]++;
	trace_fault(v, gpa, r);
	return true;
}

static bool handle_ept_misconfig(struct vcpu *v)
{
	char why[96];

	snprintf(why, sizeof(why), "EPT misconfiguration at gpa 0x%lx (a hypervisor bug)",
	         vmcs_read(GUEST_PHYSICAL_ADDRESS));
	return vcpu_stop_dump(v, EXIT_EPT_MISCONFIG, why);
}

static bool handle_preemption_timer(struct vcpu *v)
{
	char why[128];

	if (vcpu_budget_rearm(v))
		return true;
	snprintf(why, sizeof(why),
	         "runaway: used its budget of %lu timer ticks "
	         "(VMX preemption timer)",
	         v->vm->budget);
	return vcpu_stop_dump(v, EXIT_PREEMPTION_TIMER, why);
}

static bool handle_pml_full(struct vcpu *v)
{
	/* vcpu_run drained the buffer already, as after every exit. */
	v->stats.pml_full++;
	return true;
}

/* The core's own reasons; the rest belong to the platform (vm->ops->exit). */
static const exit_handler handlers[EXIT_REASONS] = {
	[EXIT_PML_FULL] = handle_pml_full,
	[EXIT_EXCEPTION_NMI] = handle_nmi,
	[EXIT_EXTERNAL_INTERRUPT] = handle_extint,
	[EXIT_TRIPLE_FAULT] = handle_triple_fault,
	[EXIT_EPT_VIOLATION] = handle_ept_violation,
	[EXIT_EPT_MISCONFIG] = handle_ept_misconfig,
	[EXIT_PREEMPTION_TIMER] = handle_preemption_timer,
	[EXIT_INVD] = handle_invd,
};

static bool handle_entry_failure(struct vcpu *v, u32 basic)
{
	char why[160];

	snprintf(why, sizeof(why),
	         "VM entry failed: %s (exit qualification %lu; Bochs' log "
	         "names the failed check in a VMENTER FAIL line)",
	         exit_reason_name(basic), vmcs_read(EXIT_QUALIFICATION));
	return vcpu_stop_dump(v, basic, why);
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
	/* Not one of ours: an indirect call for the platform's exits only. */
	if (basic < EXIT_REASONS && v->vm->ops->exit[basic])
		return v->vm->ops->exit[basic](v);
	snprintf(why, sizeof(why), "unhandled VM exit %u (%s)", basic, exit_reason_name(basic));
	return vcpu_stop_dump(v, basic, why);
}
