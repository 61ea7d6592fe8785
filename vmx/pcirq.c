/*
 * PC guests, part 2: interrupts. Each vCPU has a local APIC model (devices/vlapic.c) whose
 * registers live in the VMCS virtual-APIC page, so the CPU serves most guest reads itself.
 *
 *   - IPIs: the sender sets the vector in the target's irq_pending bitmap and kicks it
 *     (an NMI) until the target has either taken the bits or left guest mode; a vCPU
 *     moves irq_pending into its IRR before every entry.
 *   - Injection: before every entry, the highest deliverable vector is injected when the
 *     guest can take it (RFLAGS.IF, no STI/MOV-SS shadow), else the interrupt window is
 *     opened and the injection happens at the window exit.
 *   - The APIC timer runs on the VMX preemption timer: each entry arms it for the nearer of
 *     the timer deadline and the rest of the run budget.
 *   - The PICs (with the PIT on IRQ 0) interrupt vCPU 0 as on a PC: through LINT0 when
 *     its LVT entry is unmasked (SeaBIOS leaves it ExtINT) or the APIC is disabled; the
 *     vector comes from the PIC, bypassing the local APIC's IRR and ISR.
 *   - HLT with IF=1 waits here, on the vCPU's own CPU, for the next interrupt; an AP waits
 *     here for its SIPI. When every vCPU waits with nothing that could wake it, the VM
 *     is stopped (a silent hang under QEMU).
 */
#include "arch/cpu.h"
#include "drivers/console.h"
#include "drivers/timer.h"
#include "devices/irqbox.h"
#include "lib.h"
#include "vmx/exit.h"
#include "vmx/pc.h"
#include "vmx/vcpu.h"
#include "vmx/vmcs.h"
#include "vmx/vmx.h"

#define INTR_VALID BIT(31)
#define INTR_TYPE_EXT 0
#define INTR_TYPE_NMI (2 << 8)
#define INTR_TYPE_HW_EXC (3 << 8)
#define INTR_HAS_ERROR BIT(11)
#define BLOCK_STI_MOVSS (BIT(0) | BIT(1))
#define BLOCK_NMI BIT(3)

u64 pc_now_ns(void)
{
	u64 t = rdtsc();

	return t / tsc_hz * 1000000000ULL + (t % tsc_hz) * 1000000000ULL / tsc_hz;
}

static u64 ns_to_tsc(u64 ns)
{
	return ns / 1000000000ULL * tsc_hz + (ns % 1000000000ULL) * tsc_hz / 1000000000ULL;
}

/* Does vCPU v take the PICs' interrupts (QEMU's apic_accept_pic_intr)? */
static bool takes_pic(const struct vcpu *v)
{
	return v->id == 0 &&
	       (!(v->apic_base & BIT(11)) || !(v->apic_page[APIC_LVT_LINT0 / 4] & APIC_LVT_MASKED));
}

/* The vector the PICs present to vCPU 0 now (the PIT ticking into IRQ 0 first), or -1;
 * v->pic_next is when the PIT's next tick is due (0: none). */
static int pic_vector(struct vcpu *v)
{
	struct pc_vm *pc = v->vm->pc;
	int vec;

	if (!takes_pic(v)) {
		v->pic_next = 0;
		return -1;
	}
	spin_lock(&pc->io_lock);
	vec = pcio_pic_poll(&pc->io, pc_now_ns(), &v->pic_next);
	spin_unlock(&pc->io_lock);
	return vec;
}

static int pic_take(struct vcpu *v)
{
	struct pc_vm *pc = v->vm->pc;
	int vec;

	spin_lock(&pc->io_lock);
	vec = pcio_pic_ack(&pc->io);
	spin_unlock(&pc->io_lock);
	return vec;
}

/* The nearer of the APIC timer's deadline and (vCPU 0) the PIT's next tick, or 0. */
static u64 next_timer_ns(const struct vcpu *v)
{
	u64 a = vlapic_timer_deadline(&v->lapic), b = v->id == 0 ? v->pic_next : 0;

	return !a ? b : !b ? a : MIN(a, b);
}

u64 pc_timer_ticks(struct vcpu *v)
{
	u64 deadline = next_timer_ns(v), now = pc_now_ns();

	if (!deadline)
		return ~0ULL;
	return deadline <= now ? 0 : ns_to_tsc(deadline - now) >> vmx_caps.preempt_shift;
}

/* ---- IPIs --------------------------------------------------------------------------- */

/* Has the target taken the vectors we set, or is it outside guest mode (it looks at
 * irq_pending after publishing in_guest, see pc_entry_recheck)? */
static bool ipi_seen(struct vcpu *t, u64 unused)
{
	(void)unused;
	/* SEQ_CST: the load half of the Dekker pair with our SEQ_CST post and the target's
	 * SEQ_CST in_guest store followed by its recheck (devices/irqbox.h). */
	if (!__atomic_load_n(&t->in_guest, __ATOMIC_SEQ_CST) || t->state != VCPU_RUNNING)
		return true;
	if (!irqbox_empty_acquire(&t->irq_pending))
		return false;
	/* ACQUIRE: pairs with the target's exchange of wake in collect_irqs. */
	return !__atomic_load_n(&t->wake, __ATOMIC_ACQUIRE);
}

/* Has the target reset itself for an INIT we sent (do_init)? */
static bool init_taken(struct vcpu *t, u64 unused)
{
	(void)unused;
	/* ACQUIRE: pairs with do_init's release store of init_pending. */
	return !__atomic_load_n(&t->init_pending, __ATOMIC_ACQUIRE) || t->state != VCPU_RUNNING ||
	       t->vm->stopping;
}

static void deliver(struct vcpu *from, struct vcpu *t, const struct vlapic_ipi *ipi)
{
	switch (ipi->delivery) {
	case 0: /* fixed */
	case 1: /* lowest priority: to every target, which is one legal choice */
		if (t == from) {
			vlapic_set_irr(&t->lapic, ipi->vector);
			return;
		}
		/* SEQ_CST: ordered before our load of t->in_guest in ipi_seen (Dekker with the
		 * target's in_guest store and its recheck of irq_pending). */
		irqbox_post(&t->irq_pending, ipi->vector);
		break;
	case 4: /* NMI */
		/* RELAXED: published by the wake store after it. SEQ_CST wake: the store half of
		 * the Dekker pair with the target's in_guest store and recheck (as irqbox_post). */
		__atomic_store_n(&t->nmi_pending, true, __ATOMIC_RELAXED);
		__atomic_store_n(&t->wake, true, __ATOMIC_SEQ_CST);
		break;
	case 5: /* INIT */
		/* RELAXED: published by the wake store, SEQ_CST as for an NMI above. */
		__atomic_store_n(&t->init_pending, true, __ATOMIC_RELAXED);
		__atomic_store_n(&t->wake, true, __ATOMIC_SEQ_CST);
		/* Synchronous: the target must be waiting for a SIPI before we go on, or a SIPI
		 * sent right after this INIT (kvm-unit-tests sends it at once) would find it
		 * not yet reset and be lost. */
		if (t != from)
			vcpu_kick_until(t, init_taken, 0);
		return;
	case 6: /* SIPI: only an AP waiting for one takes it */
		/* ACQUIRE: pairs with do_init's release of init_pending after it set the state. */
		if (__atomic_load_n(&t->pc_state, __ATOMIC_ACQUIRE) == PC_WAIT_SIPI)
			/* RELEASE: the AP's ACQUIRE exchange sees the vector with everything the
			 * BSP wrote before its ICR write (the trampoline). */
			__atomic_store_n(&t->sipi_vector, ipi->vector, __ATOMIC_RELEASE);
		return;
	default:
		if (pc_log_ok(from->vm, &from->vm->pc->ipi_ignored, "ignored IPIs"))
			printk("pc: VM '%s': vcpu %d: IPI with delivery mode %u ignored (SMI, "
			       "ExtINT and reserved modes are not emulated)\n", from->vm->name,
			       from->id, ipi->delivery);
		return;
	}
	if (t != from)
		vcpu_kick_until(t, ipi_seen, 0);
}

void pc_send_ipi(struct vcpu *from, const struct vlapic_ipi *ipi)
{
	struct vm *vm = from->vm;

	for (int i = 0; i < vm->nvcpus; i++) {
		struct vcpu *t = vm->vcpus[i];

		if (ipi->shorthand == 1 && t != from)
			continue;
		if (ipi->shorthand == 3 && t == from)
			continue;
		if (ipi->shorthand == 0 && !vlapic_match_dest(&t->lapic, ipi, t == from))
			continue;
		deliver(from, t, ipi);
	}
}

static void to_irr(void *arg, u8 vector)
{
	vlapic_set_irr(arg, vector);
}

/* Move vectors other vCPUs sent into our IRR. */
static void collect_irqs(struct vcpu *v)
{
	irqbox_take(&v->irq_pending, to_irr, &v->lapic);
	/* ACQ_REL: seeing a sender's wake makes its nmi_pending/init_pending visible to the
	 * loads after this; the release lets a sender's ipi_seen see the flag taken. */
	(void)__atomic_exchange_n(&v->wake, false, __ATOMIC_ACQ_REL);
}

/* After in_guest is published: did an IPI arrive since collect_irqs? Then do not enter
 * (the sender may have seen us out of guest mode and not kicked). */
bool pc_entry_recheck(struct vcpu *v)
{
	/* SEQ_CST: the load half of the Dekker pair with the senders (devices/irqbox.h). */
	return irqbox_any(&v->irq_pending) || __atomic_load_n(&v->wake, __ATOMIC_SEQ_CST);
}

/* ---- waiting: for a SIPI, or for an interrupt after HLT ------------------------------- */

static void set_blocked(struct vcpu *v, bool blocked)
{
	if (blocked == v->blocked)
		return;
	v->blocked = blocked;
	/* RELAXED: a count only compared with nvcpus by the waiters, re-read every spin. */
	__atomic_fetch_add(&v->vm->pc->blocked, blocked ? 1 : -1, __ATOMIC_RELAXED);
}

static void check_deadlock(struct vcpu *v)
{
	if (__atomic_load_n(&v->vm->pc->blocked, __ATOMIC_RELAXED) < v->vm->nvcpus)
		return;
	vm_stop(v->vm, EXIT_HLT, "every vCPU is halted or waiting for a SIPI with nothing to "
		"wake it (cli; hlt, or hlt with no timer armed and IRQ 0 masked)");
}

static void do_init(struct vcpu *v)
{
	vlapic_init(&v->lapic, v->apic_page, v->id, pc_now_ns());
	v->sipi_vector = -1;
	v->pc_state = PC_WAIT_SIPI;
	vmcs_write(ENTRY_INTR_INFO, 0);
	/* RELEASE: the INIT's sender (init_taken) then sees PC_WAIT_SIPI, so its SIPI lands. */
	__atomic_store_n(&v->init_pending, false, __ATOMIC_RELEASE);
}

static bool nmi_waiting(struct vcpu *v)
{
	/* RELAXED: ordered after the sender's store by collect_irqs' wake exchange. */
	return __atomic_load_n(&v->nmi_pending, __ATOMIC_RELAXED);
}

/* One look at what could wake the vCPU; true when it may enter the guest. */
static bool runnable(struct vcpu *v)
{
	int sipi;

	collect_irqs(v); /* first: its wake exchange orders the flag loads below */
	/* RELAXED: ordered after the sender's store by collect_irqs' wake exchange. */
	if (__atomic_load_n(&v->init_pending, __ATOMIC_RELAXED))
		do_init(v);
	vlapic_timer_poll(&v->lapic, pc_now_ns());
	switch (v->pc_state) {
	case PC_WAIT_SIPI:
		/* ACQUIRE: pairs with the sender's release store of the vector. */
		sipi = __atomic_exchange_n(&v->sipi_vector, -1, __ATOMIC_ACQUIRE);
		if (sipi < 0)
			return false;
		pc_sipi_state(v, sipi);
		v->pc_state = PC_RUNNING;
		return true;
	case PC_HALTED:
		if (vlapic_pending(&v->lapic) < 0 && !nmi_waiting(v) && pic_vector(v) < 0)
			return false;
		v->pc_state = PC_RUNNING;
		return true;
	case PC_HALTED_NOIRQ:
		if (!nmi_waiting(v))
			return false;
		v->pc_state = PC_RUNNING;
		return true;
	default:
		return true;
	}
}

static bool wait_runnable(struct vcpu *v)
{
	while (!runnable(v)) {
		set_blocked(v, v->pc_state != PC_HALTED || !next_timer_ns(v));
		check_deadlock(v);
		if (v->vm->stopping)
			return false;
		cpu_relax();
	}
	set_blocked(v, false);
	return !v->vm->stopping;
}

/* ---- injection ----------------------------------------------------------------------- */

static void window(bool open)
{
	u64 proc = vmcs_read(PROC_BASED_CTLS);
	u64 want = open ? proc | PROC_INTR_WINDOW_EXITING : proc & ~PROC_INTR_WINDOW_EXITING;

	if (want != proc)
		vmcs_write(PROC_BASED_CTLS, want);
}

static void inject(struct vcpu *v)
{
	u64 block = vmcs_read(GUEST_INTERRUPTIBILITY);
	int vec;

	if (vmcs_read(ENTRY_INTR_INFO) & INTR_VALID)
		return; /* re-delivering an interrupted event first (pc_after_exit) */
	if (nmi_waiting(v) && !(block & (BLOCK_STI_MOVSS | BLOCK_NMI))) {
		__atomic_store_n(&v->nmi_pending, false, __ATOMIC_RELAXED); /* only we consume it */
		vmcs_write(ENTRY_INTR_INFO, INTR_VALID | INTR_TYPE_NMI | 2);
		return;
	}
	/* A globally disabled APIC (IA32_APIC_BASE.EN clear) accepts no interrupts. */
	vec = (v->apic_base & BIT(11)) ? vlapic_pending(&v->lapic) : -1;
	if (vec < 0) {
		/* Held back by the guest's TPR only: exit when it lowers the TPR below it. */
		vmcs_write(TPR_THRESHOLD, vlapic_tpr_threshold(&v->lapic));
		if (pic_vector(v) < 0) {
			window(false);
			return;
		}
	}
	if (!(vmcs_read(GUEST_RFLAGS) & RFLAGS_IF) || (block & BLOCK_STI_MOVSS)) {
		window(true);
		return;
	}
	if (vec >= 0)
		vlapic_accept(&v->lapic, (u8)vec);
	else
		vec = pic_take(v); /* INTA: the PIC moves the IRQ in service and names the vector */
	vmcs_write(ENTRY_INTR_INFO, INTR_VALID | INTR_TYPE_EXT | (u32)vec);
	window(false);
}

/* Arm the preemption timer for the nearer of the APIC timer and the rest of the budget;
 * pc_after_exit charges what the guest used. */
static void arm_timer(struct vcpu *v)
{
	u64 slice = MIN(MIN(v->budget_left, pc_timer_ticks(v)), 0xffffffffULL);

	v->timer_armed = slice;
	vmcs_write(PREEMPTION_TIMER_VALUE, slice);
}

bool pc_before_entry(struct vcpu *v)
{
	if (!wait_runnable(v))
		return false;
	inject(v);
	arm_timer(v);
	return true;
}

void pc_after_exit(struct vcpu *v)
{
	u64 idt = vmcs_read(IDT_VECTORING_INFO);
	u64 left = vmcs_read(PREEMPTION_TIMER_VALUE);

	v->budget_left -= MIN(v->budget_left, v->timer_armed - MIN(left, v->timer_armed));
	if (!(idt & INTR_VALID))
		return;
	/* The exit interrupted the delivery of an event (say an EPT violation on the guest's
	 * stack while pushing an interrupt frame): deliver it again (SDM 27.2.4). */
	vmcs_write(ENTRY_INTR_INFO, idt & ~BIT(12));
	if (idt & INTR_HAS_ERROR)
		vmcs_write(ENTRY_EXCEPTION_ERROR, vmcs_read(IDT_VECTORING_ERROR));
	vmcs_write(ENTRY_INSTR_LEN, vmcs_read(EXIT_INSTR_LEN));
}

void pc_inject_exception(struct vcpu *v, int vector, bool has_error, u32 error)
{
	(void)v;
	vmcs_write(ENTRY_INTR_INFO, INTR_VALID | INTR_TYPE_HW_EXC | (u32)vector |
					    (has_error ? INTR_HAS_ERROR : 0));
	if (has_error)
		vmcs_write(ENTRY_EXCEPTION_ERROR, error);
}

/* Past HLT (or another instruction): the STI/MOV-SS shadow ends with it. */
void pc_skip_instruction(struct vcpu *v)
{
	(void)v;
	vcpu_skip_instruction();
	vmcs_write(GUEST_INTERRUPTIBILITY, vmcs_read(GUEST_INTERRUPTIBILITY) & ~BLOCK_STI_MOVSS);
}

bool pc_handle_hlt(struct vcpu *v)
{
	pc_skip_instruction(v);
	v->pc_state = (vmcs_read(GUEST_RFLAGS) & RFLAGS_IF) ? PC_HALTED : PC_HALTED_NOIRQ;
	return true;
}

bool pc_handle_interrupt_window(struct vcpu *v)
{
	(void)v;
	window(false); /* inject() opens it again if the interrupt still cannot go in */
	return true;
}
