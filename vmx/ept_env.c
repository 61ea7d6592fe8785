/*
 * The kernel side of ept/env.h: how the pure EPT code reaches the machine. Tables come from
 * the frame allocator through the direct map; a flush is INVEPT here plus a shootdown of
 * every other CPU that is running a vCPU of the VM (the protocol is in vmx/kick.c). Grace
 * periods wait only for CPUs in root mode (vmx/vcpu.c reports guest mode as quiescent), so
 * the default pause (ept/env_default.c) serves as their wait hint.
 */
#include "arch/cpu.h"
#include "arch/percpu.h"
#include "ept/env.h"
#include "kassert.h"
#include "mm/mm.h"
#include "vmx/vcpu.h"
#include "vmx/vmcs_pages.h"
#include "vmx/vmx.h"

#define container_of(p, type, member) ((type *)((char *)(p)-offsetof(type, member)))

uintptr_t ept_env_va_base = DIRECT_MAP_BASE;
/* This CPU's grace-period line (ids are dense 0..ncpus-1). */
_Static_assert(MAX_CPUS <= EPT_MAX_CPUS, "every CPU needs a grace-period line of its own");
unsigned ept_env_cpu(void)
{
	return this_cpu_id();
}
/* Lock holds are timed in TSC cycles (under Bochs: executed instructions). */
u64 ept_env_clock(void)
{
	return rdtsc();
}
hpa_t ept_env_alloc_table(void)
{
	return alloc_zeroed_frame();
}
void ept_env_free_table(hpa_t hpa)
{
	frame_free(&frames, hpa_to_hfn(hpa));
}

/* Data frames for collapse by copy: runs from the frame allocator, reached by the direct map. */
hfn_t ept_env_alloc_data(int level)
{
	return frame_alloc_run(&frames, ept_level_order(level));
}
void *ept_env_data_va(hfn_t hfn)
{
	return phys_to_virt(hfn_to_hpa(hfn));
}

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
		/* Never a frame a VMCS names: the CPU would go on using it (vmx/vmcs_pages.h). */
		ASSERT(!vm_vmcs_names(vm, hfn_to_hpa(hfn + i)));
		if (vm_vmcs_names(vm, hfn_to_hpa(hfn + i)))
			continue;
		frame_free(&frames, hfn + i);
	}
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
