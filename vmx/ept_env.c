/*
 * The kernel side of ept/env.h: how the pure EPT code reaches the machine. Tables come from
 * the frame allocator through the direct map; a flush is INVEPT here plus a shootdown of
 * every other CPU that is running a vCPU of the VM.
 *
 * Shootdown protocol: the flusher bumps vm->flush_gen, then IPIs each vCPU that is in guest
 * mode and waits until that vCPU has flushed (flush_seen == gen) or left guest mode. A vCPU
 * sets in_guest, then reads flush_gen and INVEPTs if it moved, then enters. Both sides use
 * sequentially consistent store-then-load, so either the vCPU sees the new generation before
 * entering or the flusher sees it in guest mode and waits for it.
 */
#include "arch/lapic.h"
#include "arch/percpu.h"
#include "arch/trap.h"
#include "ept/env.h"
#include "mm/mm.h"
#include "vmx/vcpu.h"
#include "vmx/vmx.h"

#define container_of(p, type, member) ((type *)((char *)(p)-offsetof(type, member)))

void *ept_env_va(hpa_t hpa) { return phys_to_virt(hpa); }
hpa_t ept_env_alloc_table(void) { return alloc_zeroed_frame(); }
void ept_env_free_table(hpa_t hpa) { frame_free(&frames, hpa_to_hfn(hpa)); }

void ept_env_flush(struct ept *ept)
{
	struct vm *vm = container_of(ept, struct vm, ept);
	u64 gen = __atomic_add_fetch(&vm->flush_gen, 1, __ATOMIC_SEQ_CST);

	vmx_invept(vm->eptp);
	for (int i = 0; i < vm->nvcpus; i++) {
		struct vcpu *v = vm->vcpus[i];

		if (v->cpu == this_cpu_id() || !__atomic_load_n(&v->in_guest, __ATOMIC_SEQ_CST))
			continue;
		STAT_INC(vm, shootdown_ipis);
		lapic_send_ipi(percpu[v->cpu].apic_id, VEC_SHOOTDOWN);
		/* ACQUIRE pairs with the vCPU's release of flush_seen after its INVEPT. */
		while (__atomic_load_n(&v->flush_seen, __ATOMIC_ACQUIRE) < gen &&
		       __atomic_load_n(&v->in_guest, __ATOMIC_ACQUIRE))
			cpu_relax();
	}
}

void vcpu_flush_before_entry(struct vcpu *v)
{
	u64 gen;

	/* SEQ_CST store then load: pairs with ept_env_flush (see the file comment). */
	__atomic_store_n(&v->in_guest, true, __ATOMIC_SEQ_CST);
	gen = __atomic_load_n(&v->vm->flush_gen, __ATOMIC_SEQ_CST);
	if (gen != v->flush_seen) {
		vmx_invept(v->vm->eptp);
		/* RELEASE: the INVEPT is done before the flusher may treat this CPU as clean. */
		__atomic_store_n(&v->flush_seen, gen, __ATOMIC_RELEASE);
	}
}
