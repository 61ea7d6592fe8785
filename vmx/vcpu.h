/*
 * A virtual CPU: its VMCS, the guest registers the VMCS does not hold, and its run loop.
 * A vCPU runs on one physical CPU for its whole life (vcpu_run is called there).
 */
#ifndef EPTVISOR_VMX_VCPU_H
#define EPTVISOR_VMX_VCPU_H

#include "types.h"
#include "vmx/vm.h"
#include "vmx/vmcs.h"

/* Guest GPRs saved by vmx/entry.S; the offsets are used there. */
struct guest_regs {
	u64 rax, rbx, rcx, rdx, rsi, rdi, rbp;
	u64 r8, r9, r10, r11, r12, r13, r14, r15;
};

struct vcpu {
	struct guest_regs regs; /* first: entry.S receives &vcpu->regs */
	struct vm *vm;
	int id;
	u32 cpu;
	u16 vpid;
	hpa_t vmcs_pa;
	hpa_t pml_pa; /* PML buffer, if vm->use_pml */
	bool launched;
	gpa_t entry_rip, entry_rsp;
	u64 entry_arg; /* passed to the guest in RDI */
	enum vcpu_state state;
	s64 exit_code;
	u64 flush_seen; /* vm->flush_gen this vCPU's CPU has flushed for */
	bool in_guest;  /* between vcpu_flush_before_entry() and the VM exit */
	u64 exits;
	u64 budget_left; /* preemption-timer ticks not yet armed */
	/* VCPU_REQ_* (vmx/vmcs_pages.h): set by others, taken before the next entry. */
	u32 requests;
	/* What this vCPU's VMCS names (written with the fields, vmx/vmcs_pages.c), 0 for none;
	 * and where its virtual-APIC page is asked to move (VCPU_REQ_VIRTUAL_APIC). */
	hpa_t vmcs_apic_access, vmcs_virtual_apic, virtual_apic_next;
	struct vcpu_stats stats;
	void *plat; /* the platform's per-vCPU state (vm->ops; its own accessor types it) */
};

/* Allocate vCPU `id` of vm, to run guest code at rip with stack rsp and RDI = arg. */
struct vcpu *vcpu_create(struct vm *vm, int id, gpa_t rip, gpa_t rsp, u64 arg);
void vcpu_destroy(struct vcpu *v);
/* Run the vCPU on this CPU until it exits or is stopped. */
void vcpu_run(struct vcpu *v);

/* Make the vCPU's CPU exit guest mode soon (an NMI; harmless if it already left). */
void vcpu_kick(struct vcpu *v);
/* Wait until done(v, arg), kicking v again now and then (a kick can be lost, see kick.c).
 * done() must hold whenever v is out of guest mode: never wait for v's own progress. */
void vcpu_kick_until(struct vcpu *v, bool (*done)(struct vcpu *v, u64 arg), u64 arg);
/* vmx/kick.c: mark the vCPU in guest mode and INVEPT if a flush was requested. */
void vcpu_flush_before_entry(struct vcpu *v);

/* vmx/entry.S: load guest GPRs, VMLAUNCH (launched == 0) or VMRESUME; returns 0 after a VM
 * exit (guest GPRs saved back) or VMX_FAIL_* if the entry instruction itself failed. */
int vmx_enter(struct guest_regs *regs, int launched);

/* vmx/exit.c: handle one VM exit; true to re-enter the guest. */
bool vcpu_handle_exit(struct vcpu *v, u32 reason);
/* Stop the VM for an exit the vCPU cannot survive: vm_stop with "vcpu N: what", one log
 * line and the register and VMCS dump. Returns false (leave the run loop). */
bool vcpu_stop_dump(struct vcpu *v, u32 reason, const char *what);
/* The timer fired: arm the next slice of the budget, or false when it is spent. */
bool vcpu_budget_rearm(struct vcpu *v);
/* The guest's instruction at RIP, LEN bytes, was completed by the hypervisor: RIP past it,
 * RF clear, no STI / MOV SS shadow, and its single-step trap pending if RFLAGS.TF is set. */
void vcpu_complete_instruction(u64 len);
/* vcpu_complete_instruction for the instruction that exited (its length from the VMCS). */
void vcpu_skip_instruction(void);
/* Pending debug exceptions (VMCS): a single-step trap (BS), and what makes one deliverable
 * after the entry (BS or an enabled breakpoint, SDM Vol. 3C 27.7.3). */
#define PENDING_DBG_BS    BIT(14)
#define PENDING_DBG_VALID (BIT(12) | PENDING_DBG_BS)
/* Make a single-step trap pending after the guest's current instruction. */
void vcpu_single_step_trap(void);
/* Access rights of a segment register that holds nothing (VMCS segment AR bit 16). */
#define AR_UNUSABLE BIT(16)
/* Write one guest segment register (selector, base, limit, access rights) of the current
 * VMCS; and reset RFLAGS, DR7, interruptibility, activity, SYSENTER and event injection. */
void vcpu_set_segment(enum vmcs_field sel, u16 value, u64 base, u32 limit, u32 ar);
void vcpu_reset_event_state(void);
/* Print the vCPU's state and its VMCS (the diagnostic dump when a guest dies). */
void vcpu_dump(struct vcpu *v, const char *why);

#endif
