/*
 * Kicks and TLB shootdowns: how one CPU makes the vCPUs of a VM on other CPUs leave guest
 * mode (an NMI: NMI exiting is on, and with virtual NMIs the guest cannot block it), and how
 * an EPT flush reaches every CPU that may cache the VM's translations.
 *
 * Shootdown protocol: the flusher bumps vm->flush_gen, then IPIs each vCPU that is in guest
 * mode and waits until that vCPU has flushed (flush_seen == gen) or left guest mode. A vCPU
 * sets in_guest, then reads flush_gen and INVEPTs if it moved, then enters. Both sides use
 * sequentially consistent store-then-load, so either the vCPU sees the new generation before
 * entering or the flusher sees it in guest mode and waits for it.
 */
#include "arch/lapic.h"
#include "arch/percpu.h"
#include "vmx/vcpu.h"
#include "vmx/vmcs_pages.h"
#include "vmx/vmx.h"

#define KICK_RETRY_SPINS 20000

void vcpu_kick(struct vcpu *v)
{
	lapic_send_nmi(percpu[v->cpu].apic_id);
}

/* Has v flushed for generation gen, or left guest mode (it flushes before re-entering)? */
static bool vcpu_synced(struct vcpu *v, u64 gen)
{
	/* ACQUIRE pairs with the vCPU's release of flush_seen after its INVEPT. */
	return __atomic_load_n(&v->flush_seen, __ATOMIC_ACQUIRE) >= gen ||
	       !__atomic_load_n(&v->in_guest, __ATOMIC_ACQUIRE);
}

static bool vcpu_needs_kick(struct vcpu *v)
{
	/* SEQ_CST: this load follows the flush_gen bump (see the file comment). */
	return v->cpu != this_cpu_id() && __atomic_load_n(&v->in_guest, __ATOMIC_SEQ_CST);
}

void vm_sync_vcpus(struct vm *vm)
{
	u64 gen = __atomic_add_fetch(&vm->flush_gen, 1, __ATOMIC_SEQ_CST);

	/* Kick them all first, then wait: one shootdown round for the whole operation. */
	for (int i = 0; i < vm->nvcpus; i++)
		if (vcpu_needs_kick(vm->vcpus[i])) {
			STAT_INC(vm, shootdown_ipis);
			vcpu_kick(vm->vcpus[i]);
		}
	for (int i = 0; i < vm->nvcpus; i++)
		if (vm->vcpus[i]->cpu != this_cpu_id())
			vcpu_kick_until(vm->vcpus[i], vcpu_synced, gen);
}

void vcpu_kick_until(struct vcpu *v, bool (*done)(struct vcpu *v, u64 arg), u64 arg)
{
	/* Every done() used here is true once v's CPU is out of guest mode, which a kick forces
	 * (NMI exiting; with virtual NMIs the guest cannot block it): the wait never depends on
	 * v making progress in the hypervisor, which is what keeps two CPUs that wait on each
	 * other from deadlocking. Kick again now and then: an NMI that lands between the vCPU's
	 * in_guest store and its VM entry is taken by the host and does not make the guest exit. */
	for (u64 spins = 1; !done(v, arg); spins++) {
		cpu_relax();
		if (spins % KICK_RETRY_SPINS == 0) {
			STAT_INC(v->vm, shootdown_ipis);
			vcpu_kick(v);
		}
	}
}

void vcpu_flush_before_entry(struct vcpu *v)
{
	u64 gen;

	/* SEQ_CST store then load: pairs with vm_sync_vcpus (see the file comment). */
	__atomic_store_n(&v->in_guest, true, __ATOMIC_SEQ_CST);
	gen = __atomic_load_n(&v->vm->flush_gen, __ATOMIC_SEQ_CST);
	if (gen != v->flush_seen) {
		vmx_invept(v->vm->eptp);
		/* RELEASE: the INVEPT is done before the flusher may treat this CPU as clean. */
		__atomic_store_n(&v->flush_seen, gen, __ATOMIC_RELEASE);
		/* A request (vmx/vmcs_pages.c) bumps the generation after setting its bit, so
		 * the common entry pays nothing for it. SEQ_CST: after the load of gen. */
		if (__atomic_load_n(&v->requests, __ATOMIC_SEQ_CST))
			vcpu_take_requests(v);
	}
}
