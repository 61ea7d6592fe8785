/*
 * The PC platform as the VMX core sees it: pc_vm_ops, the one table vm_create is given for a
 * PC VM. It names the hooks of pc/vm.c (state, controls, start states), pc/irq.c (waiting,
 * injection and the timer around every entry and exit) and pc/exit.c (the exits), and the
 * answer to the instructions a PC guest's CPU does not have (CPUID says so): #UD, or #GP for
 * RDPMC, as on that CPU.
 */
#include "lib.h"
#include "pc/pc.h"
#include "vmx/exit.h"
#include "vmx/vcpu.h"
#include "vmx/vmcs.h"
#include "vmx/vmcs_pages.h"

#define EXC_UD 6
#define EXC_GP 13

static bool handle_undefined(struct vcpu *v)
{
	pc_inject_exception(v, EXC_UD, false, 0);
	return true;
}

/* RDPMC (RDPMC exiting is on): the PMU is not virtualised and CPUID leaf 0xa says there are
 * no counters, so every counter number is invalid: #GP(0), as on a CPU without that counter
 * (SDM RDPMC). The guest never reads the host's counters. */
static bool handle_rdpmc(struct vcpu *v)
{
	pc_inject_exception(v, EXC_GP, true, 0);
	return true;
}

static bool handle_rdmsr(struct vcpu *v)
{
	return pc_handle_msr(v, false);
}

static bool handle_wrmsr(struct vcpu *v)
{
	return pc_handle_msr(v, true);
}

/* Compaction (vm_compact): the platform's own guest-reachable frames in [lo, hi) move too.
 * The APIC-access page is in a memslot, so vm_compact moves it itself; each vCPU's
 * virtual-APIC page is not: move those (each vCPU reloads VIRTUAL_APIC_ADDR). */
static long pc_evacuate(struct vm *vm, hfn_t lo, hfn_t hi)
{
	long moved = 0;

	for (int i = 0; i < vm->nvcpus; i++) {
		hfn_t h = hpa_to_hfn(vm->vcpus[i]->vmcs_virtual_apic);
		int err;

		if (h < lo || h >= hi)
			continue;
		err = vm_move_virtual_apic_page(vm->vcpus[i]);
		if (err)
			return err;
		moved++;
	}
	return moved;
}

/* The guest's pass-through MSRs start at 0 and leave none of its values to the next VM;
 * vCPU 0 of the first PC VM to run owns the console until its run ends (pc/console.c). */
static void run_start(struct vcpu *v)
{
	pc_msr_reset_hw();
	pc_console_start(v);
}

static void run_end(struct vcpu *v)
{
	pc_console_end(v);
	pc_msr_reset_hw();
}

const struct vm_ops pc_vm_ops = {
	.name = "pc",
	.vm_init = pc_vm_init,
	.vm_destroy = pc_vm_destroy,
	.vcpu_init = pc_vcpu_init,
	.vcpu_free = pc_vcpu_free,
	.setup_controls = pc_setup_controls,
	.setup_guest_state = pc_setup_guest_state,
	.run_start = run_start,
	.run_end = run_end,
	.before_entry = pc_before_entry,
	.entry_recheck = pc_entry_recheck,
	.after_exit = pc_after_exit,
	.virtual_apic_moved = pc_virtual_apic_moved,
	.evacuate = pc_evacuate,
	.arms_timer = true, /* pc_before_entry: the nearer of the APIC timer and the budget */
	.unassigned = pc_handle_unassigned,
	.async_fault = pc_apf_fault,
	.store_settled = pc_apf_settled,
	.exit = {
		[EXIT_CPUID] = pc_handle_cpuid,
		[EXIT_HLT] = pc_handle_hlt,
		[EXIT_TRIPLE_FAULT] = pc_handle_triple_fault, /* a reset: ends the VM */
		[EXIT_IO] = pc_handle_io,
		[EXIT_CR_ACCESS] = pc_handle_cr,
		[EXIT_RDMSR] = handle_rdmsr,
		[EXIT_WRMSR] = handle_wrmsr,
		[EXIT_APIC_ACCESS] = pc_handle_apic_access,
		[EXIT_APIC_WRITE] = pc_handle_apic_write,
		[EXIT_INTERRUPT_WINDOW] = pc_handle_interrupt_window,
		[EXIT_TPR_BELOW_THRESHOLD] = pc_handle_interrupt_window, /* look again at entry */
		[EXIT_NMI_WINDOW] = pc_handle_nmi_window,
		[EXIT_RDPMC] = handle_rdpmc,
		[EXIT_MWAIT] = handle_undefined,
		[EXIT_MONITOR] = handle_undefined,
		/* KVM's hypercall ABI, with or without guest_pv=kvm (pc/hypercall.c). */
		[EXIT_VMCALL] = pc_handle_vmcall,
		/* The VMX instructions exit unconditionally in guest mode; a PC guest's CPUID has
		 * no VMX, so they are #UD (docs/platform.md). VMFUNC cannot exit while "enable VM
		 * functions" is off (it is #UD by itself then), but would get the same. The other
		 * instructions that can exit only under controls eptvisor leaves off (RDRAND,
		 * RDSEED, INVPCID, ENCLS, WBINVD, RDTSCP, XSAVES) or only with a CR4 bit a PC guest
		 * cannot set (GETSEC: SMXE; XSETBV: OSXSAVE, XSAVE is hidden) fault in the guest
		 * directly. */
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
	},
};
