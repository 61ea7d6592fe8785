/*
 * KVM's hypercall ABI for VMCALL: see devices/kvm_hc.h.
 */
#include "devices/kvm_hc.h"

u64 kvm_hypercall(const struct kvm_hc_call *c)
{
	u64 nr = c->op64 ? c->nr : (u32)c->nr;
	u64 ret;

	if (c->cpl != 0)
		ret = (u64)-KVM_EPERM;
	else if (nr == KVM_HC_VAPIC_POLL_IRQ)
		ret = 0; /* KVM answers it without looking at anything */
	else
		ret = (u64)-KVM_ENOSYS; /* unknown, or its feature is not offered */
	return c->op64 ? ret : (u32)ret;
}
