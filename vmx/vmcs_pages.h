/*
 * Frames a VMCS names, and how they move without being pinned: the APIC-access page (one per
 * VM, in a private memslot mapped at the APIC base, as KVM's APIC_ACCESS_PAGE_PRIVATE_MEMSLOT)
 * and each vCPU's virtual-APIC page. A VMCS field can only be written on the vCPU's own CPU
 * with its VMCS current, so a move asks (a per-vCPU request bit, as KVM's
 * KVM_REQ_APIC_PAGE_RELOAD) and every vCPU reloads the field before its next entry. The old
 * frame is freed only once no VMCS names it (vm_vmcs_names, checked by every free path).
 */
#ifndef EPTVISOR_VMX_VMCS_PAGES_H
#define EPTVISOR_VMX_VMCS_PAGES_H

#include "types.h"
#include "vmx/vcpu.h"

/* struct vcpu's requests: what to reload before the next entry. */
#define VCPU_REQ_APIC_ACCESS  BIT(0) /* APIC_ACCESS_ADDR: the VM's APIC-access page moved */
#define VCPU_REQ_VIRTUAL_APIC BIT(1) /* VIRTUAL_APIC_ADDR: move to virtual_apic_next */

/* How the APIC-access page is mapped: present to the CPU (which never lets the guest touch
 * its contents), never executable, moved only by ept_migrate_named. */
#define APIC_ACCESS_PROT (EPT_R | EPT_W | EPT_HOST_WRITABLE | EPT_MMU_WRITABLE | EPT_VMCS_NAMED)

/* Give vm its own zeroed APIC-access page in a private memslot at gpa (one page), mapped
 * EPT_VMCS_NAMED. 0, -ENOSPC (no slot left), -EEXIST (guest memory covers gpa), -ENOMEM. */
int vm_apic_access_init(struct vm *vm, gpa_t gpa);
/* The APIC-access page's frame now (INVALID_HPA when the VM has none). */
hpa_t vm_apic_access_hpa(const struct vm *vm);
/* Is gfn the APIC-access page? */
bool vm_is_apic_access_gfn(const struct vm *vm, gfn_t gfn);

/*
 * Move the VM's APIC-access page to a fresh frame while its vCPUs run: the EPT leaf is absent
 * while every vCPU in guest mode is kicked and reloads APIC_ACCESS_ADDR (the others do before
 * their next entry), then maps the new frame; the old one is freed once every vCPU has
 * reloaded. From a host task, never from a vCPU of vm (it waits for all of them). 0, -ENODEV
 * (no APIC-access page), -ENOMEM.
 */
int vm_move_apic_access_page(struct vm *vm);
/*
 * Move vCPU v's virtual-APIC page to a fresh frame: v itself copies the registers and
 * reloads VIRTUAL_APIC_ADDR before its next entry (it cannot run in guest mode with the old
 * page meanwhile); the old frame is freed after v has, and after a grace period (other vCPUs
 * read its registers to match IPI destinations). From a host task. 0, -EAGAIN (v has not
 * loaded its VMCS yet), -EBUSY (v stopped first), -ENOMEM.
 */
int vm_move_virtual_apic_page(struct vcpu *v);

/* VMCS current: write the field and record what the VMCS names (vm_vmcs_names). */
void vcpu_set_apic_access(struct vcpu *v, hpa_t pa);
void vcpu_set_virtual_apic(struct vcpu *v, hpa_t pa);
/* VMCS current, in root mode, after in_guest is published (vmx/kick.c) and while waiting in
 * the hypervisor: act on the requests others made, then clear them (the acknowledgement). */
void vcpu_take_requests(struct vcpu *v);

/* Does some VMCS of vm that may still be entered name the frame at pa, or is it the frame the
 * APIC-access page is handed to the next VMCS load? Frames for which this holds are never
 * freed (ept_env_free_data, the moves). */
bool vm_vmcs_names(const struct vm *vm, hpa_t pa);

#endif
