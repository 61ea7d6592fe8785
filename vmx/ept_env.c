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

#define KICK_RETRY_SPINS 20000
#define container_of(p, type, member) ((type *)((char *)(p)-offsetof(type, member)))

void *ept_env_va(hpa_t hpa) { return phys_to_virt(hpa); }
/* The walker slot: this CPU's own (ept/core.c takes it modulo EPT_MAX_CPUS). */
unsigned ept_env_cpu(void) { return this_cpu_id(); }
hpa_t ept_env_alloc_table(void) { return alloc_zeroed_frame(); }
void ept_env_free_table(hpa_t hpa) { frame_free(&frames, hpa_to_hfn(hpa)); }

/* Data frames for collapse by copy: runs from the frame allocator, reached by the direct map. */
hfn_t ept_env_alloc_data(int level) { return frame_alloc_run(&frames, ept_level_order(level)); }
void *ept_env_data_va(hfn_t hfn) { return phys_to_virt(hfn_to_hpa(hfn)); }

/* The EPT moved gfn.. (a level-sized block) off the frames hfn..: free them and record the
 * new frames in the memslot's backing. Called after the flush and the grace period. */
void ept_env_free_data(struct ept *ept, gfn_t gfn, hfn_t hfn, int level)
{
	struct vm *vm = container_of(ept, struct vm, ept);
	struct memslot *s = vm_find_slot(vm, gfn);
	u64 pages = ept_level_pages(level);

	for (u64 i = 0; i < pages; i++) {
		int l = 0;
		u64 e = ept_lookup(ept, gfn + i, &l);

		/* Record the new frame before the old one can be handed out again, so the slot
		 * never names a frame it does not own (the EPT, not backing[], is what readers
		 * use; backing[] is what vm_destroy frees). */
		if (s && e)
			__atomic_store_n(&s->backing[gfn + i - s->base_gfn],
					 ept_hfn(e) + ((gfn + i) & (ept_level_pages(l) - 1)),
					 __ATOMIC_RELAXED);
		else if (s)
			__atomic_store_n(&s->backing[gfn + i - s->base_gfn], INVALID_HFN,
					 __ATOMIC_RELAXED);
		frame_free(&frames, hfn + i);
	}
}

void vcpu_kick(struct vcpu *v)
{
	lapic_send_nmi(percpu[v->cpu].apic_id);
}

void ept_env_flush(struct ept *ept)
{
	struct vm *vm = container_of(ept, struct vm, ept);

	if (vm->test_skip_flush) {
		STAT_INC(vm, flushes_skipped);
		return;
	}
	vmx_invept(vm->eptp);
	vm_sync_vcpus(vm);
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

	/* SEQ_CST store then load: pairs with ept_env_flush (see the file comment). */
	__atomic_store_n(&v->in_guest, true, __ATOMIC_SEQ_CST);
	gen = __atomic_load_n(&v->vm->flush_gen, __ATOMIC_SEQ_CST);
	if (gen != v->flush_seen) {
		vmx_invept(v->vm->eptp);
		/* RELEASE: the INVEPT is done before the flusher may treat this CPU as clean. */
		__atomic_store_n(&v->flush_seen, gen, __ATOMIC_RELEASE);
	}
}
