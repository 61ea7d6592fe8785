/*
 * Page-modification logging: with PML on, the CPU appends the GPA of every page whose EPT
 * D bit it sets (0 -> 1) to a 512-entry buffer per vCPU, counting GUEST_PML_INDEX down, and
 * exits (PML_FULL) when the buffer is full. eptvisor drains the buffer at every VM exit, so
 * a harvest that first makes every vCPU exit (vm_sync_vcpus) sees every logged write.
 */
#include "kassert.h"
#include "mm/mm.h"
#include "vmx/pml.h"
#include "vmx/vcpu.h"
#include "vmx/vmcs.h"
#include "vmx/vmx.h"

#define PML_ENTRIES 512

int vcpu_pml_init(struct vcpu *v)
{
	if (!v->vm->use_pml)
		return 0;
	v->pml_pa = alloc_zeroed_frame();
	return v->pml_pa == INVALID_HPA ? -ENOMEM : 0;
}

void vcpu_pml_free(struct vcpu *v)
{
	if (v->pml_pa && v->pml_pa != INVALID_HPA)
		frame_free(&frames, hpa_to_hfn(v->pml_pa));
}

u32 vcpu_pml_controls(const struct vcpu *v)
{
	return v->vm->use_pml ? PROC2_ENABLE_PML : 0;
}

void vcpu_pml_setup(struct vcpu *v)
{
	if (!v->vm->use_pml)
		return;
	vmcs_write(PML_ADDRESS, v->pml_pa);
	vmcs_write(GUEST_PML_INDEX, PML_ENTRIES - 1);
}

void vcpu_pml_drain(struct vcpu *v)
{
	const u64 *log = phys_to_virt(v->pml_pa);
	u64 index = vmcs_read(GUEST_PML_INDEX) & 0xffff;
	/* The index is the next free slot counting down; past 0 it wraps to 0xffff (full). */
	u64 first = index >= PML_ENTRIES ? 0 : index + 1;

	WARN_ON(index >= PML_ENTRIES && index != 0xffff); /* neither a slot nor "full" */

	for (u64 i = first; i < PML_ENTRIES; i++)
		/* Bochs writes bits 11:0 of the GPA too: only the frame matters. */
		ept_mark_dirty(&v->vm->ept, gpa_to_gfn(log[i]));
	v->stats.pml_entries += PML_ENTRIES - first;
	vmcs_write(GUEST_PML_INDEX, PML_ENTRIES - 1);
}
