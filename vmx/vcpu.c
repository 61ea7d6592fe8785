/*
 * vCPU creation, VMCS set-up and the run loop. The core writes the controls every VM starts
 * from and the host state; the platform (vm->ops) adjusts the controls, writes the guest's
 * start state, and is called before every entry and after every exit. For the EPT's grace
 * periods the CPU is online in root mode and offline in guest mode (ept/env.h).
 */
#include "arch/cpu.h"
#include "arch/gdt.h"
#include "arch/percpu.h"
#include "drivers/console.h"
#include "ept/env.h"
#include "kassert.h"
#include "lib.h"
#include "mm/mm.h"
#include "vmx/pml.h"
#include "vmx/vcpu.h"
#include "vmx/vmcs.h"
#include "vmx/vmx.h"
#include "vmx/vmx_asm.h"

extern char vmx_exit[];

static u16 next_vpid = 1;

struct vcpu *vcpu_create(struct vm *vm, int id, gpa_t rip, gpa_t rsp, u64 arg)
{
	struct vcpu *v = kzalloc(sizeof(*v));

	if (!v)
		return NULL;
	v->vmcs_pa = alloc_zeroed_frame();
	if (v->vmcs_pa == INVALID_HPA) {
		kfree(v, sizeof(*v));
		return NULL;
	}
	*(u32 *)phys_to_virt(v->vmcs_pa) = vmx_caps.revision;
	v->vm = vm;
	if (vcpu_pml_init(v)) {
		vcpu_destroy(v);
		return NULL;
	}
	v->id = id;
	/* VPID 0 is the host's; wrap past it. Reuse is safe: vcpu_run flushes on the way out. */
	/* RELAXED: only uniqueness matters, nothing is published with it. */
	v->vpid = __atomic_fetch_add(&next_vpid, 1, __ATOMIC_RELAXED) ?: 1;
	v->entry_rip = rip;
	v->entry_rsp = rsp;
	v->entry_arg = arg;
	v->regs.rdi = arg;
	if (vm->ops->vcpu_init && vm->ops->vcpu_init(v)) {
		vcpu_destroy(v);
		return NULL;
	}
	return v;
}

void vcpu_destroy(struct vcpu *v)
{
	vcpu_pml_free(v);
	if (v->vm->ops->vcpu_free)
		v->vm->ops->vcpu_free(v);
	frame_free(&frames, hpa_to_hfn(v->vmcs_pa));
	kfree(v, sizeof(*v));
}

static void setup_controls(struct vcpu *v)
{
	vmcs_write(PIN_BASED_CTLS, vmx_ctls.pin);
	vmcs_write(PROC_BASED_CTLS, vmx_ctls.proc);
	vmcs_write(PROC_BASED_CTLS2, vmx_ctls.proc2 | vcpu_pml_controls(v));
	vcpu_pml_setup(v);
	vmcs_write(EXIT_CTLS, vmx_ctls.exit);
	vmcs_write(ENTRY_CTLS, vmx_ctls.entry);
	vmcs_write(EXCEPTION_BITMAP, 0);
	vmcs_write(CR3_TARGET_COUNT, 0);
	vmcs_write(VPID, v->vpid);
	vmcs_write(EPT_POINTER, v->vm->eptp);
	vmcs_write(VMCS_LINK_POINTER, ~0ULL);
	/* The guest sees CR4 without VMXE (VMX requires it set in guest mode). */
	vmcs_write(CR4_GUEST_HOST_MASK, CR4_VMXE);
	vmcs_write(CR4_READ_SHADOW, CR4_PAE);
	/* CD and NW are the host's: VMX leaves them in the real CR0 across entries and exits,
	 * so a guest setting them would turn caching off for everything after it. A write
	 * that tries exits (a CR access: the platform stops the VM or keeps a shadow). */
	vmcs_write(CR0_GUEST_HOST_MASK, CR0_CD | CR0_NW);
	vmcs_write(CR0_READ_SHADOW, 0);
	if (v->vm->ops->setup_controls)
		v->vm->ops->setup_controls(v);
}

static void setup_host_state(void)
{
	struct percpu *me = this_cpu();
	struct desc_ptr gdt, idt;

	sgdt(&gdt);
	sidt(&idt);
	vmcs_write(HOST_CR0, read_cr0());
	vmcs_write(HOST_CR3, read_cr3());
	vmcs_write(HOST_CR4, read_cr4());
	vmcs_write(HOST_CS_SEL, GDT_KERNEL_CS);
	vmcs_write(HOST_SS_SEL, GDT_KERNEL_DS);
	vmcs_write(HOST_DS_SEL, GDT_KERNEL_DS);
	vmcs_write(HOST_ES_SEL, GDT_KERNEL_DS);
	vmcs_write(HOST_FS_SEL, 0);
	vmcs_write(HOST_GS_SEL, 0);
	vmcs_write(HOST_TR_SEL, GDT_TSS(me->id));
	vmcs_write(HOST_FS_BASE, 0);
	vmcs_write(HOST_GS_BASE, (u64)me);
	vmcs_write(HOST_TR_BASE, (u64)&me->tss);
	vmcs_write(HOST_GDTR_BASE, gdt.base);
	vmcs_write(HOST_IDTR_BASE, idt.base);
	vmcs_write(HOST_IA32_EFER, rdmsr(MSR_IA32_EFER));
	vmcs_write(HOST_SYSENTER_CS, 0);
	vmcs_write(HOST_SYSENTER_ESP, 0);
	vmcs_write(HOST_SYSENTER_EIP, 0);
	vmcs_write(HOST_RIP, (u64)vmx_exit);
}

void vcpu_set_segment(enum vmcs_field sel, u16 value, u64 base, u32 limit, u32 ar)
{
	/* Selector, base, limit and access rights are at fixed distances from the selector
	 * field in each width's block (SDM Vol. 3D, Appendix B). */
	u32 idx = sel - GUEST_ES_SEL;

	vmcs_write_at(sel, "GUEST_*_SEL", value, __FILE__, __LINE__);
	vmcs_write_at(GUEST_ES_BASE + idx, "GUEST_*_BASE", base, __FILE__, __LINE__);
	vmcs_write_at(GUEST_ES_LIMIT + idx, "GUEST_*_LIMIT", limit, __FILE__, __LINE__);
	vmcs_write_at(GUEST_ES_AR + idx, "GUEST_*_AR", ar, __FILE__, __LINE__);
}

void vcpu_reset_event_state(void)
{
	vmcs_write(GUEST_DR7, 0x400);
	vmcs_write(GUEST_RFLAGS, 0x2);
	vmcs_write(GUEST_INTERRUPTIBILITY, 0);
	vmcs_write(GUEST_ACTIVITY_STATE, 0);
	vmcs_write(GUEST_PENDING_DBG, 0);
	vmcs_write(GUEST_IA32_DEBUGCTL, 0);
	vmcs_write(GUEST_SYSENTER_CS, 0);
	vmcs_write(GUEST_SYSENTER_ESP, 0);
	vmcs_write(GUEST_SYSENTER_EIP, 0);
	vmcs_write(ENTRY_INTR_INFO, 0);
}

void vcpu_dump(struct vcpu *v, const char *why)
{
	const struct guest_regs *r = &v->regs;

	printk("--- vcpu %d of VM '%s' on cpu %u: %s ---\n", v->id, v->vm->name, v->cpu, why);
	printk("  RIP=%016lx RSP=%016lx RFLAGS=%016lx exits=%lu\n", vmcs_read(GUEST_RIP),
	       vmcs_read(GUEST_RSP), vmcs_read(GUEST_RFLAGS), v->exits);
	printk("  RAX=%016lx RBX=%016lx RCX=%016lx RDX=%016lx\n", r->rax, r->rbx, r->rcx, r->rdx);
	printk("  RSI=%016lx RDI=%016lx RBP=%016lx R8 =%016lx\n", r->rsi, r->rdi, r->rbp, r->r8);
	printk("  R9 =%016lx R10=%016lx R11=%016lx R12=%016lx\n", r->r9, r->r10, r->r11, r->r12);
	printk("  R13=%016lx R14=%016lx R15=%016lx\n", r->r13, r->r14, r->r15);
	vmcs_dump();
}

static void report_entry_failure(struct vcpu *v, int rc)
{
	u64 err = rc == VMX_FAIL_VALID ? vmcs_read(VM_INSTRUCTION_ERROR) : 0;

	vm_stop(v->vm, VM_STOP_ENTRY_FAILED, "VM entry failed: %s (VM-instruction error %lu: %s)",
	        rc == VMX_FAIL_VALID ? "VMfailValid" : "VMfailInvalid", err,
	        rc == VMX_FAIL_VALID ? vm_instruction_error_name(err) : "no current VMCS");
	printk("vmx: %s\n", v->vm->stop_reason);
	printk("vmx: which check failed: error 7 = a control field, 8 = a host-state field "
	       "(Bochs names the check in its log: VMFAIL lines)\n");
	vcpu_dump(v, "VM entry failed");
}

/* Arm the preemption timer (32 bits) with the next slice of the vCPU's budget. The timer's
 * value is saved across exits (EXIT_SAVE_PREEMPTION_TIMER), so it counts guest time only. */
static void arm_budget(struct vcpu *v)
{
	u64 slice = MIN(v->budget_left, 0xffffffffULL);

	v->budget_left -= slice;
	vmcs_write(PREEMPTION_TIMER_VALUE, slice);
}

bool vcpu_budget_rearm(struct vcpu *v)
{
	if (v->vm->ops->arms_timer)
		return v->budget_left != 0; /* the platform arms it before every entry */
	if (!v->budget_left)
		return false;
	arm_budget(v);
	return true;
}

/* An FXSAVE image of the x87/SSE state after reset as XRSTOR's init state gives it (SDM Vol. 1
 * 13.6): FCW 0x37f, MXCSR 0x1f80, every register zero, every x87 tag empty (abridged 0). */
struct fxsave_image {
	u16 fcw, fsw;
	u8 ftw, reserved;
	u16 fop;
	u64 fip, fdp;
	u32 mxcsr, mxcsr_mask;
	u8 regs[480]; /* ST0-7 (MM0-7), XMM0-15, reserved */
};
_Static_assert(sizeof(struct fxsave_image) == 512, "FXSAVE image layout");

static const struct fxsave_image fx_reset
	__attribute__((aligned(16))) = { .fcw = 0x37f, .mxcsr = 0x1f80 };

/*
 * Guest state the VMCS does not hold stays in the CPU across VM exits and after the last
 * one: the x87/MMX/SSE registers and MXCSR, DR0-DR3 and DR6 (MOV-DR does not exit), CR2.
 * eptvisor never uses them (built -mno-sse, no breakpoints, no page faults) and a vCPU keeps
 * its CPU for its whole run, so nothing needs saving between exits; but every vCPU must start
 * from the reset values and leave nothing of its own to the next VM on this CPU. So this runs
 * before the first entry and after the last exit (DR7 and DEBUGCTL are VMCS fields).
 *
 * FXRSTOR rather than FNINIT: FNINIT leaves the old ST contents readable through FXSAVE.
 * That covers all FPU state a guest can reach: its CPUID hides XSAVE, so CR4.OSXSAVE stays
 * clear in guest mode, XSETBV and every VEX/EVEX (AVX) instruction fault there, and XCR0 and
 * the upper halves of the YMM/ZMM registers are out of its reach. Needs host CR4.OSFXSR
 * (cpu_init_control_regs), else the SSE part would not be loaded.
 */
static void vcpu_reset_cpu_regs(void)
{
	fxrstor64(&fx_reset);
	write_dr0(0);
	write_dr1(0);
	write_dr2(0);
	write_dr3(0);
	write_dr6(0xffff0ff0);
	write_cr2(0);
}

static bool vcpu_load(struct vcpu *v)
{
	if (vmclear(v->vmcs_pa) || vmptrld(v->vmcs_pa)) {
		vm_stop(v->vm, -1, "cannot load the VMCS of vcpu %d", v->id);
		return false;
	}
	vmcs_write_errors = 0;
	setup_controls(v);
	setup_host_state();
	if (v->vm->ops->setup_guest_state)
		v->vm->ops->setup_guest_state(v);
	if (v->vm->test_bad_guest_state)
		vmcs_write(GUEST_RFLAGS, 0); /* bit 1 must be 1: an invalid-guest-state entry */
	if (v->vm->test_bad_host_state)
		vmcs_write(HOST_TR_SEL, 0); /* TR must not be null: VMfailValid, error 8 */
	if (vmcs_write_errors) {
		vm_stop(v->vm, -1, "VMCS set-up of vcpu %d failed (%lu field(s))", v->id,
		        vmcs_write_errors);
		return false;
	}
	return true;
}

/* What must hold at every VM entry (the points KVM asserts): the vCPU runs on the CPU that
 * loaded its VMCS, that VMCS is current, and host interrupts are off (they arrive as exits). */
static void assert_entry_state(const struct vcpu *v)
{
	ASSERT(v->cpu == this_cpu_id());
	ASSERT(v->state == VCPU_RUNNING);
	ASSERT(!(read_rflags() & RFLAGS_IF));
	ASSERT(vmptrst() == v->vmcs_pa);
}

void vcpu_run(struct vcpu *v)
{
	const struct vm_ops *ops = v->vm->ops;
	u64 flags = read_rflags();

	/* Interrupts stay off in root mode: host interrupts arrive as VM exits instead. */
	cli();
	v->cpu = this_cpu_id();
	v->budget_left = v->vm->budget;
	if (ops->run_start)
		ops->run_start(v);
	vcpu_reset_cpu_regs(); /* FPU/SSE, DR0-3, DR6, CR2 at their reset values */
	if (vcpu_load(v)) {
		if (!ops->arms_timer)
			arm_budget(v);
		/* Online for grace periods in root mode: the exit handlers walk the EPT without
		 * marking each walk (ept/env.h). */
		ept_cpu_online();
		for (;;) {
			int rc;

			if (v->vm->stopping)
				break;
			assert_entry_state(v);
			if (ops->before_entry && !ops->before_entry(v))
				break;
			vcpu_flush_before_entry(v);
			if (ops->entry_recheck && ops->entry_recheck(v)) {
				/* RELEASE: as below; an IPI came in, take it before entering. */
				__atomic_store_n(&v->in_guest, false, __ATOMIC_RELEASE);
				continue;
			}
			/* Guest mode is a quiescent state: offline until the exit, so no grace
			 * period waits on the guest. */
			ept_cpu_offline();
			rc = vmx_enter(&v->regs, v->launched);
			ept_cpu_online();
			/* Drain PML before clearing in_guest: a harvester that sees us out of the
			 * guest (vm_sync_vcpus) must find our logged writes in the dirty log. */
			if (!rc && v->vm->use_pml)
				vcpu_pml_drain(v);
			/* RELEASE: the drain's marks are visible to whoever sees in_guest clear. */
			__atomic_store_n(&v->in_guest, false, __ATOMIC_RELEASE);
			if (rc) {
				report_entry_failure(v, rc);
				break;
			}
			v->launched = true;
			v->exits++;
			if (ops->after_exit)
				ops->after_exit(v);
			if (!vcpu_handle_exit(v, vmcs_read(EXIT_REASON)))
				break;
		}
		ept_cpu_offline();
	}
	if (v->state == VCPU_RUNNING)
		/* RELEASE: pairs with wait_vcpus_done; this CPU is done with the guest. */
		__atomic_store_n(&v->state, VCPU_STOPPED, __ATOMIC_RELEASE);
	/* Leave no translation of this VM behind: its EPT and frames are freed after this. */
	vmx_invept(v->vm->eptp);
	invvpid(INVVPID_SINGLE, v->vpid);
	vmclear(v->vmcs_pa);
	if (ops->run_end)
		ops->run_end(v); /* the platform leaves none of the guest's values to the next VM */
	vcpu_reset_cpu_regs();   /* nor its FPU/SSE, debug registers or CR2 */
	if (flags & RFLAGS_IF)
		sti();
}
