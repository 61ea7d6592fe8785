/*
 * The guest's side of KVM's async-page-fault interface that both pcapf kernels need: finding
 * KVM's CPUID leaf as Linux does (kvm_cpuid_base: every base
 * 0x40000000 + k * 0x100), and a WRMSR that survives the #GP a hypervisor raises to refuse
 * a value (an exception fixup: the #GP handler skips the 2-byte WRMSR).
 */
#include "guests/pc/apf.h"

#define WRMSR_OPCODE 0x300f /* 0f 30, as a little-endian u16 */

static volatile bool gp_armed, gp_taken;

u32 kvm_apf_leaf(void)
{
	const u32 both = KVM_FEATURE_ASYNC_PF | KVM_FEATURE_ASYNC_PF_INT;

	for (u32 k = 0; k < 0x100; k++) {
		u32 base = KVM_CPUID_BASE + k * KVM_CPUID_STEP, a, b, c, d;

		cpuid(base, &a, &b, &c, &d);
		if (b != KVM_CPUID_SIG_EBX || c != KVM_CPUID_SIG_ECX || d != KVM_CPUID_SIG_EDX)
			continue;
		cpuid(base + 1, &a, &b, &c, &d);
		return (a & both) == both ? base : 0;
	}
	return 0;
}

bool wrmsr_safe(u32 msr, u64 v)
{
	gp_taken = false;
	gp_armed = true;
	wrmsr(msr, v);
	gp_armed = false;
	return !gp_taken;
}

struct kframe *kvm_apf_gp_fixup(struct kframe *f)
{
	if (!gp_armed || *(const u16 *)f->rip != WRMSR_OPCODE) {
		pr("EXCEPTION: vector 13 error 0x%llx at 0x%llx\n", (unsigned long long)f->error,
		   (unsigned long long)f->rip);
		pc_exit(PCAPF_EXIT_EXC + EXC_GP);
	}
	gp_taken = true;
	f->rip += 2;
	return f;
}
