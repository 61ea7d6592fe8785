/* Page-modification logging per vCPU (see pml.c). All no-ops unless vm->use_pml. */
#ifndef EPTVISOR_VMX_PML_H
#define EPTVISOR_VMX_PML_H

#include "errno.h"
#include "types.h"

struct vcpu;

int vcpu_pml_init(struct vcpu *v); /* allocate the buffer (vcpu_create) */
void vcpu_pml_free(struct vcpu *v);
u32 vcpu_pml_controls(const struct vcpu *v); /* secondary controls to add */
void vcpu_pml_setup(struct vcpu *v);         /* VMCS fields (vcpu_load) */
void vcpu_pml_drain(struct vcpu *v);         /* feed the buffer to the dirty logs (every exit) */

#endif
