/*
 * VMCALL on PC guests: KVM's hypercall ABI (devices/kvm_hc.h), whether or not the guest was
 * given KVM's CPUID leaves (guest_pv=kvm): KVM answers VMCALL the same way in every guest, so
 * a kernel written for KVM that calls before it looks at CPUID gets what it gets there. RIP
 * moves past the instruction; nothing else changes. (VMMCALL, AMD's, is #UD on Intel CPUs;
 * KVM would rewrite it to VMCALL, eptvisor leaves the #UD.)
 */
#include "arch/cpu.h"
#include "devices/kvm_hc.h"
#include "pc/pc.h"
#include "vmx/exit.h"
#include "vmx/vcpu.h"
#include "vmx/vmcs.h"

#define EFLAGS_VM BIT(17)

/* The CPL as KVM's vmx_get_cpl sees it: 0 in real mode, 3 in virtual-8086 mode, else SS.DPL. */
static int guest_cpl(void)
{
	u64 cr0 = vmcs_read(GUEST_CR0);

	if (!(cr0 & CR0_PE))
		return 0;
	if (vmcs_read(GUEST_RFLAGS) & EFLAGS_VM)
		return 3;
	return (int)((vmcs_read(GUEST_SS_AR) >> 5) & 3);
}

static bool guest_64bit(void)
{
	return (vmcs_read(GUEST_IA32_EFER) & EFER_LMA) && (vmcs_read(GUEST_CS_AR) & BIT(13));
}

bool pc_handle_vmcall(struct vcpu *v)
{
	struct kvm_hc_call c = { .nr = v->regs.rax, .cpl = guest_cpl(), .op64 = guest_64bit() };

	v->regs.rax = kvm_hypercall(&c);
	pc_skip_instruction(v);
	return true;
}
