/*
 * PC guests, part 2: interrupts. Each vCPU has a local APIC model (devices/vlapic.c) whose
 * registers live in the VMCS virtual-APIC page, so the CPU serves most guest reads itself.
 *
 *   - IPIs: the sender sets the vector in the target's irq_pending bitmap (an NMI or INIT:
 *     a flag) and kicks it (a host NMI) until the target has either taken the bits or left
 *     guest mode; a vCPU moves irq_pending into its IRR, and takes an INIT, before every
 *     entry. The sender never waits for the target to make progress in the hypervisor
 *     (only for its CPU to leave guest mode, which the kick forces), so no cycle of IPIs
 *     between vCPUs can hold two CPUs in root mode waiting for each other.
 *   - INIT and SIPI: the target's sipibox (devices/sipibox.h): an INIT is a pending event
 *     like an NMI; a SIPI is kept when the target waits for one or has an INIT pending.
 *   - NMIs: virtual NMIs, so the guest's NMI blocking follows its own IRET; an NMI the
 *     guest blocks waits for an NMI-window exit.
 *   - Injection: before every entry, the highest deliverable vector is injected when the
 *     guest can take it (RFLAGS.IF, no STI/MOV-SS shadow), else the interrupt window is
 *     opened and the injection happens at the window exit.
 *   - The APIC timer runs on the VMX preemption timer: each entry arms it for the nearer of
 *     the timer deadline and the rest of the run budget, but never for less than
 *     PC_MIN_SLICE_NS, and every entry is charged at least one tick: a timer programmed
 *     faster than an exit round trip slows only its own guest, which still progresses,
 *     and its budget still runs out.
 *   - The PICs (with the PIT on IRQ 0) interrupt vCPU 0 as on a PC: through LINT0 when
 *     its LVT entry is unmasked (SeaBIOS leaves it ExtINT) or the APIC is disabled; the
 *     vector comes from the PIC, bypassing the local APIC's IRR and ISR.
 *   - The I/O APIC (devices/ioapic.h, at 0xfec00000) sends its messages to the local
 *     APICs they name through the IPI path (a lowest-priority message to the first APIC
 *     it names). Once the guest has written it, vCPU 0 polls it before every entry (the
 *     PIT's edges on pin 2, its next tick in the preemption timer as for the PICs), the
 *     vCPU that accessed a device services it after the access, and every EOI is
 *     broadcast to it (the local APIC models no TMR: level pins are the I/O APIC's
 *     business). ExtINT, SMI and reserved-mode messages are counted, not delivered: the
 *     PICs reach vCPU 0 through LINT0 instead.
 *   - HLT with IF=1 waits here, on the vCPU's own CPU, for the next interrupt; an AP waits
 *     here for its SIPI. When every vCPU waits with nothing that could wake it, the VM
 *     is stopped (a silent hang under QEMU).
 */
#include "arch/cpu.h"
#include "arch/lapic.h"
#include "arch/percpu.h"
#include "arch/trap.h"
#include "devices/ioapic.h"
#include "devices/irqbox.h"
#include "devices/sipibox.h"
#include "drivers/console.h"
#include "drivers/timer.h"
#include "ept/env.h"
#include "lib.h"
#include "pc/pc.h"
#include "vmx/exit.h"
#include "vmx/vcpu.h"
#include "vmx/vmcs.h"
#include "vmx/vmcs_pages.h"
#include "vmx/vmx.h"

#define INTR_VALID                 BIT(31)
#define INTR_TYPE_EXT              0
#define INTR_TYPE_NMI              (2 << 8)
#define INTR_TYPE_HW_EXC           (3 << 8)
#define INTR_TYPE_MASK             (7 << 8)
#define INTR_HAS_ERROR             BIT(11)
#define BLOCK_STI_MOVSS            (BIT(0) | BIT(1))
#define BLOCK_NMI                  BIT(3) /* with virtual NMIs: the guest's virtual-NMI blocking */
#define QUAL_NMI_UNBLOCKED_BY_IRET BIT(12)
#define PC_MIN_SLICE_NS            50000ULL /* least guest time per entry while a timer is due */

u64 pc_now_ns(void)
{
	u64 t = rdtsc();

	return t / tsc_hz * 1000000000ULL + (t % tsc_hz) * 1000000000ULL / tsc_hz;
}

static u64 ns_to_tsc(u64 ns)
{
	return ns / 1000000000ULL * tsc_hz + (ns % 1000000000ULL) * tsc_hz / 1000000000ULL;
}

/* Preemption-timer ticks in ns nanoseconds, at least one. */
static u64 ns_to_ticks(u64 ns)
{
	return MAX(ns_to_tsc(ns) >> vmx_caps.preempt_shift, 1ULL);
}

static u64 min_slice_ticks; /* PC_MIN_SLICE_NS in preemption-timer ticks (pc_irq_init) */

void pc_irq_init(void)
{
	min_slice_ticks = ns_to_ticks(PC_MIN_SLICE_NS);
}

/* May a timer (APIC timer, PIT) interrupt the guest now? Only after it has run for
 * PC_MIN_SLICE_NS since the last timer interrupt, or while it is halted, waiting for one:
 * when an exit costs more time than the timer's period, a due timer at every entry would
 * leave the guest no time outside its handler. */
static bool timer_due(const struct vcpu *v)
{
	const struct pc_vcpu *p = to_pc_vcpu(v);

	return p->state != PC_RUNNING || p->ran_since_timer >= min_slice_ticks;
}

/* Does vCPU v take the PICs' interrupts (QEMU's apic_accept_pic_intr)? */
static bool takes_pic(const struct vcpu *v)
{
	const struct pc_vcpu *p = to_pc_vcpu(v);

	return v->id == 0 &&
	       (!(p->apic_base & BIT(11)) || !(p->apic_page[APIC_LVT_LINT0 / 4] & APIC_LVT_MASKED));
}

/* The vector the PICs present to vCPU 0 now (the PIT ticking into IRQ 0 first), or -1;
 * its pic_next is when the PIT's next tick is due (0: none). */
static int pic_vector(struct vcpu *v)
{
	struct pc_vcpu *p = to_pc_vcpu(v);
	struct pc_vm *pc = to_pc_vm(v->vm);
	int vec;

	if (!takes_pic(v)) {
		p->pic_next = 0;
		return -1;
	}
	/* IRQ 0 not yet: it stays in the PIC's IRR (the PIT's edges coalesce there) until the
	 * guest has had its slice since the last timer interrupt (pic_next, now past, arms the
	 * preemption timer for that slice). The other lines (COM1, the 8042, the RTC, which
	 * catches up with the PIT at the next due look) go in at once. */
	spin_lock(&pc->io_lock);
	if (timer_due(v)) {
		vec = pcio_pic_poll(&pc->io, pc_now_ns(), &p->pic_next);
	} else {
		vec = pic_pending_vector(pc->io.pic);
		if (vec == pc->io.pic[0].irq_base)
			vec = -1;
	}
	spin_unlock(&pc->io_lock);
	return vec;
}

static int pic_take(struct vcpu *v)
{
	struct pc_vcpu *p = to_pc_vcpu(v);
	struct pc_vm *pc = to_pc_vm(v->vm);
	int vec;

	spin_lock(&pc->io_lock);
	vec = pcio_pic_ack(&pc->io);
	if (vec == pc->io.pic[0].irq_base)
		p->ran_since_timer = 0; /* IRQ 0, the PIT: the next tick waits for a slice */
	spin_unlock(&pc->io_lock);
	return vec;
}

/* The nearer of two deadlines (0: none). */
static u64 nearer(u64 a, u64 b)
{
	return !a ? b : !b ? a : MIN(a, b);
}

/* The nearer of the APIC timer's deadline and (vCPU 0) the PIT's next tick, or 0. */
static u64 next_timer_ns(const struct vcpu *v)
{
	const struct pc_vcpu *p = to_pc_vcpu(v);
	u64 pit = v->id == 0 ? nearer(p->pic_next, p->ioapic_next) : 0;

	return nearer(vlapic_timer_deadline(&p->lapic), pit);
}

u64 pc_timer_ticks(struct vcpu *v)
{
	u64 deadline = next_timer_ns(v), now = pc_now_ns();

	if (!deadline)
		return ~0ULL;
	/* A deadline already due (or nearly) still gives the guest a minimum slice: arming 0
	 * would exit before its first instruction, and a timer that is always due would then
	 * keep it from ever running (the livelock a periodic count of 1 caused). */
	return deadline > now + PC_MIN_SLICE_NS ? ns_to_ticks(deadline - now) : min_slice_ticks;
}

/* ---- IPIs --------------------------------------------------------------------------- */

/* Has the target taken the vectors we set, or is it outside guest mode (it looks at
 * irq_pending after publishing in_guest, see pc_entry_recheck)? */
static bool ipi_seen(struct vcpu *t, u64 unused)
{
	struct pc_vcpu *tp = to_pc_vcpu(t);

	(void)unused;
	/* SEQ_CST: the load half of the Dekker pair with our SEQ_CST post and the target's
	 * SEQ_CST in_guest store followed by its recheck (devices/irqbox.h). */
	if (!__atomic_load_n(&t->in_guest, __ATOMIC_SEQ_CST) || t->state != VCPU_RUNNING)
		return true;
	if (!irqbox_empty_acquire(&tp->irq_pending))
		return false;
	/* ACQUIRE: pairs with the target's exchange of wake in collect_irqs. */
	return !__atomic_load_n(&tp->wake, __ATOMIC_ACQUIRE);
}

/* A target waiting in HLT on its CPU (idle_sleep) gets VEC_WAKE after something was posted
 * for it; one in guest mode or spinning gets the kick or sees the post itself. */
static void wake_sleeper(struct vcpu *t)
{
	/* SEQ_CST: the load half of a Dekker pair with idle_sleep's store of sleeping; the
	 * post before this was SEQ_CST too: the sleeper sees it, or we see it sleeping. */
	if (t->cpu != this_cpu_id() && irqbox_sleeper(&to_pc_vcpu(t)->sleeping))
		lapic_send_ipi(percpu[t->cpu].apic_id, VEC_WAKE);
}

static void deliver(struct vcpu *from, struct vcpu *t, const struct vlapic_ipi *ipi)
{
	struct pc_vcpu *tp = to_pc_vcpu(t);

	switch (ipi->delivery) {
	case 0: /* fixed */
	case 1: /* lowest priority: to every target, which is one legal choice */
		if (t == from) {
			vlapic_set_irr(&tp->lapic, ipi->vector);
			return;
		}
		/* SEQ_CST: ordered before our load of t->in_guest in ipi_seen (Dekker with the
		 * target's in_guest store and its recheck of irq_pending). */
		irqbox_post(&tp->irq_pending, ipi->vector);
		break;
	case 4: /* NMI */
		/* RELAXED: published by the wake store after it. SEQ_CST wake: the store half of
		 * the Dekker pair with the target's in_guest store and recheck (as irqbox_post). */
		__atomic_store_n(&tp->nmi_pending, true, __ATOMIC_RELAXED);
		__atomic_store_n(&tp->wake, true, __ATOMIC_SEQ_CST);
		break;
	case 5: /* INIT: a pending event the target takes before its next entry (runnable) */
		sipibox_post_init(&tp->sipi);
		/* SEQ_CST: the store half of the Dekker pair, as for an NMI above. */
		__atomic_store_n(&tp->wake, true, __ATOMIC_SEQ_CST);
		break;
	case 6: /* SIPI: kept only for a vCPU waiting for one (or with an INIT pending) */
		if (sipibox_post_sipi(&tp->sipi, ipi->vector)) {
			/* SEQ_CST: as for an NMI; a waiting target looks again at once. */
			__atomic_store_n(&tp->wake, true, __ATOMIC_SEQ_CST);
			wake_sleeper(t);
		}
		return;
	default:
		if (pc_log_ok(from->vm, &to_pc_vm(from->vm)->ipi_ignored, "ignored IPIs"))
			printk("pc: VM '%s': vcpu %d: IPI with delivery mode %u ignored (SMI, "
			       "ExtINT and reserved modes are not emulated)\n",
			       from->vm->name, from->id, ipi->delivery);
		return;
	}
	if (t == from)
		return;
	wake_sleeper(t);
	/* Kick at once (vcpu_kick_until only repeats kicks, every KICK_RETRY_SPINS). */
	if (!ipi_seen(t, 0))
		vcpu_kick(t);
	vcpu_kick_until(t, ipi_seen, 0);
}

void pc_wake(struct vcpu *t)
{
	/* SEQ_CST: the store half of the Dekker pair with t's in_guest store and recheck. */
	__atomic_store_n(&to_pc_vcpu(t)->wake, true, __ATOMIC_SEQ_CST);
	if (t->cpu == this_cpu_id())
		return;
	wake_sleeper(t);
	if (!ipi_seen(t, 0))
		vcpu_kick(t);
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
		if (ipi->shorthand == 0 &&
		    !vlapic_match_dest(&to_pc_vcpu(t)->lapic, ipi, t == from))
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
	struct pc_vcpu *p = to_pc_vcpu(v);

	irqbox_take(&p->irq_pending, to_irr, &p->lapic);
	/* ACQ_REL: seeing a sender's wake makes its nmi_pending and INIT visible to the
	 * loads after this; the release lets a sender's ipi_seen see the flag taken. */
	(void)__atomic_exchange_n(&p->wake, false, __ATOMIC_ACQ_REL);
}

/* After in_guest is published: did an IPI arrive since collect_irqs? Then do not enter
 * (the sender may have seen us out of guest mode and not kicked). */
bool pc_entry_recheck(struct vcpu *v)
{
	struct pc_vcpu *p = to_pc_vcpu(v);

	/* SEQ_CST: the load half of the Dekker pair with the senders (devices/irqbox.h). */
	return irqbox_any(&p->irq_pending) || __atomic_load_n(&p->wake, __ATOMIC_SEQ_CST);
}

/* ---- the I/O APIC ---------------------------------------------------------------------- */

#define IOAPIC_BATCH 8 /* messages taken per look under the lock */

/* Send one I/O APIC message to the local APICs it names, as an IPI from `from` (the vCPU
 * running this) would go. Lowest priority goes to the first APIC named (a legal choice
 * that, unlike every one of them, delivers the interrupt once). */
static void ioapic_send(struct vcpu *from, const struct ioapic_msg *m)
{
	struct vlapic_ipi ipi = { .vector = m->vector,
		                  .delivery = m->delivery,
		                  .shorthand = APIC_SH_NONE,
		                  .dest = m->dest,
		                  .logical = m->logical,
		                  .level_assert = true,
		                  .level_trigger = m->level };
	struct vm *vm = from->vm;

	if (m->delivery != APIC_DM_FIXED && m->delivery != APIC_DM_LOWEST &&
	    m->delivery != APIC_DM_NMI && m->delivery != APIC_DM_INIT) {
		if (pc_log_ok(vm, &to_pc_vm(vm)->ioapic_ignored, "ignored I/O APIC messages"))
			printk("pc: VM '%s': I/O APIC pin %u: delivery mode %u not emulated "
			       "(vector 0x%x dropped)\n",
			       vm->name, m->pin, m->delivery, m->vector);
		return;
	}
	for (int i = 0; i < vm->nvcpus; i++) {
		struct vcpu *t = vm->vcpus[i];

		if (!vlapic_match_dest(&to_pc_vcpu(t)->lapic, &ipi, false))
			continue;
		deliver(from, t, &ipi);
		if (m->delivery == APIC_DM_LOWEST)
			return;
	}
}

/* Take what the I/O APIC has to send (under the lock, by the caller's `take`) and send it
 * after the lock is dropped: a send may wait for its target to leave guest mode. */
static void ioapic_flush(struct vcpu *v, struct ioapic_msg *m, int n)
{
	for (int i = 0; i < n; i++)
		ioapic_send(v, &m[i]);
}

void pc_ioapic_service(struct vcpu *v)
{
	struct pc_vm *pc = to_pc_vm(v->vm);
	struct ioapic_msg m[IOAPIC_BATCH];
	int n;

	/* RELAXED: a hint; the flag is set under io_lock before any pin can be unmasked. */
	if (!__atomic_load_n(&pc->ioapic_used, __ATOMIC_RELAXED))
		return;
	do {
		spin_lock(&pc->io_lock);
		n = ioapic_service(&pc->io.ioapic, m, IOAPIC_BATCH);
		spin_unlock(&pc->io_lock);
		ioapic_flush(v, m, n);
	} while (n == IOAPIC_BATCH);
}

/* vCPU 0, before each entry: the PIT's edges since the last look reach pin 2 (when the
 * guest has had its slice since the last timer interrupt, as for the PICs). */
static void ioapic_poll(struct vcpu *v)
{
	struct pc_vcpu *p = to_pc_vcpu(v);
	struct pc_vm *pc = to_pc_vm(v->vm);
	struct ioapic_msg m[IOAPIC_BATCH];
	int n;

	/* RELAXED: a hint (see pc_ioapic_service); the state is read under io_lock. */
	if (v->id != 0 || !__atomic_load_n(&pc->ioapic_used, __ATOMIC_RELAXED))
		return;
	if (!timer_due(v)) {
		pc_ioapic_service(v); /* device lines other than the PIT's */
		return;
	}
	spin_lock(&pc->io_lock);
	n = pcio_ioapic_poll(&pc->io, pc_now_ns(), &p->ioapic_next, m, IOAPIC_BATCH);
	spin_unlock(&pc->io_lock);
	for (int i = 0; i < n; i++)
		if (m[i].pin == 2)
			p->ran_since_timer = 0;
	ioapic_flush(v, m, n);
	if (n == IOAPIC_BATCH)
		pc_ioapic_service(v);
}

u64 pc_ioapic_read(struct vcpu *v, u32 off, int len)
{
	struct pc_vm *pc = to_pc_vm(v->vm);
	u32 val;

	spin_lock(&pc->io_lock);
	val = ioapic_read(&pc->io.ioapic, off & ~3u);
	spin_unlock(&pc->io_lock);
	return (val >> (8 * (off & 3))) & (len >= 4 ? ~0u : (u32)BIT(8 * len) - 1);
}

void pc_ioapic_write(struct vcpu *v, u32 off, int len, u64 val)
{
	struct pc_vm *pc = to_pc_vm(v->vm);

	if (off & 3) {
		if (pc_log_ok(v->vm, &pc->ioapic_ignored, "ignored I/O APIC messages"))
			printk("pc: VM '%s': vcpu %d: %d-byte I/O APIC write at offset 0x%x "
			       "ignored: not at a register's start\n",
			       v->vm->name, v->id, len, off);
		return;
	}
	spin_lock(&pc->io_lock);
	ioapic_write(&pc->io.ioapic, off, len >= 4 ? (u32)val : (u32)(val & (BIT(8 * len) - 1)));
	/* RELAXED: a hint the pollers read; the I/O APIC's state itself is under io_lock. */
	__atomic_store_n(&pc->ioapic_used, true, __ATOMIC_RELAXED);
	spin_unlock(&pc->io_lock);
	pc_ioapic_service(v); /* an unmasked pin may have a request waiting */
}

void pc_ioapic_eoi(struct vcpu *v, u8 vector)
{
	struct pc_vm *pc = to_pc_vm(v->vm);

	/* RELAXED: a hint (see pc_ioapic_service); the state is read under io_lock. */
	if (!__atomic_load_n(&pc->ioapic_used, __ATOMIC_RELAXED))
		return;
	spin_lock(&pc->io_lock);
	ioapic_eoi(&pc->io.ioapic, vector);
	spin_unlock(&pc->io_lock);
	pc_ioapic_service(v);
}

/* ---- waiting: for a SIPI, or for an interrupt after HLT ------------------------------- */

static void set_blocked(struct vcpu *v, bool blocked)
{
	struct pc_vcpu *p = to_pc_vcpu(v);
	struct pc_vm *pc = to_pc_vm(v->vm);
	/* An AP never started can no more wake anyone than one in cli; hlt. */
	bool off = blocked && (p->state == PC_HALTED_NOIRQ || p->state == PC_WAIT_SIPI);

	/* SEQ_CST: the counts are one half of the stuck check (check_deadlock): a vCPU leaves
	 * them before it takes its mail (runnable), so a checker that counts it sees the mail. */
	if (off != p->blocked_cli) {
		p->blocked_cli = off;
		__atomic_fetch_add(&pc->blocked_cli, off ? 1 : -1, __ATOMIC_SEQ_CST);
	}
	if (blocked == p->blocked)
		return;
	p->blocked = blocked;
	__atomic_fetch_add(&pc->blocked, blocked ? 1 : -1, __ATOMIC_SEQ_CST);
}

/* Mail posted to some vCPU that has not taken it yet (an IPI, NMI, INIT, SIPI or wake): that
 * vCPU is about to run, whatever its count says (only it leaves the count). */
static bool any_mail(struct vm *vm)
{
	for (int i = 0; i < vm->nvcpus; i++)
		if (pc_entry_recheck(vm->vcpus[i]))
			return true;
	return false;
}

/* Every vCPU waits with nothing that could wake it. When all of them halted with
 * interrupts off (APs never started count with them), that is how Linux halts, and powers
 * off without ACPI (its power-off becomes a halt: every CPU in cli; hlt): the guest powered
 * off. Anything else (a halt with IF=1 and no timer, say) is a hang. */
static void check_deadlock(struct vcpu *v)
{
	struct pc_vm *pc = to_pc_vm(v->vm);

	/* SEQ_CST: the count, then the mailboxes: a sender posts before it counts itself, and
	 * a target leaves the count before it takes its mail (runnable). */
	if (__atomic_load_n(&pc->blocked, __ATOMIC_SEQ_CST) < v->vm->nvcpus || any_mail(v->vm))
		return;
	if (__atomic_load_n(&pc->blocked_cli, __ATOMIC_SEQ_CST) == v->vm->nvcpus) {
		pc->powered_off = true; /* read by pc_report_end after every vCPU has stopped */
		vm_stop(v->vm, EXIT_HLT,
		        "guest powered off: every vCPU halted with interrupts off (cli; hlt, "
		        "as Linux halts and powers off without ACPI) or never started");
		return;
	}
	vm_stop(v->vm, EXIT_HLT,
	        "every vCPU is halted or waiting for a SIPI with nothing to "
	        "wake it (hlt with no timer armed and its interrupts masked, or an AP never "
	        "started)");
}

/* Take a pending INIT: the local APIC resets and the vCPU waits for a SIPI (one sent
 * right after the INIT is already kept in its sipibox). The BSP would restart the firmware
 * at the reset vector (SDM 9.1), which this platform does not have: the VM stops by name
 * (false). */
static bool do_init(struct vcpu *v)
{
	struct pc_vcpu *p = to_pc_vcpu(v);

	if (p->apic_base & BIT(8)) {
		vm_stop(v->vm, EXIT_INIT,
		        "vcpu %d (the BSP) received INIT: a real BSP restarts the "
		        "firmware at 0xfffffff0, and this platform has none",
		        v->id);
		return false;
	}
	if (!sipibox_take_init(&p->sipi))
		return true;
	vlapic_init(&p->lapic, p->apic_page, v->id, pc_now_ns());
	vmcs_write(ENTRY_INTR_INFO, 0);
	p->state = PC_WAIT_SIPI;
	return true;
}

static bool nmi_waiting(struct vcpu *v)
{
	/* RELAXED: ordered after the sender's store by collect_irqs' wake exchange. */
	return __atomic_load_n(&to_pc_vcpu(v)->nmi_pending, __ATOMIC_RELAXED);
}

/* Raise the APIC timer's interrupt if it is due (and timer_due allows). */
static void timer_poll(struct vcpu *v)
{
	struct pc_vcpu *p = to_pc_vcpu(v);

	if (!timer_due(v))
		return;
	if (vlapic_timer_poll(&p->lapic, pc_now_ns()))
		p->ran_since_timer = 0;
}

/* One look at what could wake the vCPU; true when it may enter the guest. */
static bool runnable(struct vcpu *v)
{
	struct pc_vcpu *p = to_pc_vcpu(v);
	int sipi;

	/* Mail waiting: leave the stuck count before taking it (check_deadlock's other half). */
	if (p->blocked && pc_entry_recheck(v))
		set_blocked(v, false);
	collect_irqs(v); /* first: its wake exchange orders the flag loads below */
	if (sipibox_init_pending(&p->sipi) && !do_init(v))
		return false;
	timer_poll(v);
	if (v->id == 0)
		pc_console_poll(v); /* host COM1 input: the PICs and I/O APIC below see its IRQ 4 */
	ioapic_poll(v);
	pc_apf_poll(v); /* a page ready becomes an interrupt, which may end a HLT */
	switch (p->state) {
	case PC_WAIT_SIPI:
		sipi = sipibox_take_sipi(&p->sipi);
		if (sipi < 0)
			return false;
		p->state = PC_RUNNING;
		pc_sipi_state(v, sipi);
		return true;
	case PC_HALTED:
		if (vlapic_pending(&p->lapic) < 0 && !nmi_waiting(v) && pic_vector(v) < 0)
			return false;
		p->state = PC_RUNNING;
		return true;
	case PC_HALTED_NOIRQ:
		if (!nmi_waiting(v))
			return false;
		p->state = PC_RUNNING;
		return true;
	default:
		return true;
	}
}

/* Longest sleep of an idle vCPU's CPU: what wakes it without an IPI (vm_stop, a VMCS
 * move, a PIC interrupt another vCPU raised) is seen within this. */
#define PC_MAX_SLEEP_NS 1000000

/* Sleep in HLT until the vCPU's next timer, a wake IPI, or PC_MAX_SLEEP_NS, instead of
 * spinning: an idle vCPU leaves its CPU to the others (under an emulator, which runs the
 * CPUs in turn, the busy vCPUs get the idle ones' time). Interrupts are off in root mode. */
static void idle_sleep(struct vcpu *v)
{
	struct pc_vcpu *p = to_pc_vcpu(v);
	u64 now = pc_now_ns(), until = now + PC_MAX_SLEEP_NS, timer = next_timer_ns(v);

	if (!lapic_has_deadline()) {
		cpu_relax();
		return;
	}
	/* A deadline already past cannot end this wait (runnable saw it and still said no: a
	 * halt with interrupts off, say): the bound alone then. */
	if (timer > now && timer < until)
		until = timer;
	/* The store half of the Dekker pair with wake_sleeper (devices/irqbox.h): either a
	 * sender sees us sleeping and sends VEC_WAKE, or we see what it posted; SEQ_CST wake
	 * load: the same pair for NMI, INIT, SIPI and pc_wake. */
	if (irqbox_may_sleep(&p->irq_pending, &p->sleeping) &&
	    !__atomic_load_n(&p->wake, __ATOMIC_SEQ_CST)) {
		/* The deadline is in TSC cycles, not VMX preemption-timer ticks. */
		lapic_arm_deadline(rdtsc() + ns_to_tsc(until - now));
		/* A VEC_WAKE sent after the recheck stays pending (IF=0) and ends the hlt. */
		sti_hlt();
		cli();
		lapic_arm_deadline(0);
	}
	__atomic_store_n(&p->sleeping, false, __ATOMIC_RELAXED); /* only a hint to senders */
}

/* Halted with interrupts on, a vCPU can be woken by its own timer, or (the console owner's
 * vCPU 0) by input on COM1; otherwise only another vCPU can wake it. */
static bool wakes_itself(struct vcpu *v)
{
	return to_pc_vcpu(v)->state == PC_HALTED &&
	       (next_timer_ns(v) || (v->id == 0 && to_pc_vm(v->vm)->console));
}

static bool wait_runnable(struct vcpu *v)
{
	bool idle = false, online = false, stopped = false;

	while (!runnable(v)) {
		/* A waiting vCPU reloads a moved VMCS page too: its mover waits for that. */
		vcpu_take_requests(v);
		set_blocked(v, !wakes_itself(v));
		check_deadlock(v);
		if ((stopped = v->vm->stopping))
			break;
		/* Idle in the hypervisor is a quiescent state (ept/env.h): no grace period
		 * waits for a halted vCPU to be woken. */
		if (!idle) {
			online = ept_qs_pause();
			idle = true;
		}
		idle_sleep(v);
	}
	if (idle)
		ept_qs_resume(online);
	if (stopped)
		return false;
	set_blocked(v, false);
	return !v->vm->stopping;
}

/* ---- injection ----------------------------------------------------------------------- */

/* Open or close one of the event windows (PROC_INTR_ or PROC_NMI_WINDOW_EXITING). */
static void set_window(u64 which, bool open)
{
	u64 proc = vmcs_read(PROC_BASED_CTLS);
	u64 want = open ? proc | which : proc & ~which;

	if (want != proc)
		vmcs_write(PROC_BASED_CTLS, want);
}

static void window(bool open)
{
	set_window(PROC_INTR_WINDOW_EXITING, open);
}

/* A pending NMI goes in unless the guest blocks it (its virtual-NMI blocking, set by the
 * last NMI until its IRET, or a MOV SS / STI shadow, which some CPUs also honour for NMIs
 * at VM entry); then the NMI window exit says when it can. true: an NMI was injected. */
static bool inject_nmi(struct vcpu *v, u64 block)
{
	struct pc_vcpu *p = to_pc_vcpu(v);
	bool blocked = block & (BLOCK_STI_MOVSS | BLOCK_NMI);

	set_window(PROC_NMI_WINDOW_EXITING, nmi_waiting(v) && blocked);
	if (!nmi_waiting(v) || blocked)
		return false;
	__atomic_store_n(&p->nmi_pending, false, __ATOMIC_RELAXED); /* only we consume it */
	vmcs_write(ENTRY_INTR_INFO, INTR_VALID | INTR_TYPE_NMI | 2);
	return true;
}

static void inject(struct vcpu *v)
{
	struct pc_vcpu *p = to_pc_vcpu(v);
	u64 block = vmcs_read(GUEST_INTERRUPTIBILITY);
	int vec;

	if (vmcs_read(ENTRY_INTR_INFO) & INTR_VALID)
		return; /* re-delivering an interrupted event first (pc_after_exit) */
	/* A debug trap pending (the single-step of an instruction eptvisor completed, or one
	 * the CPU saved at the exit) goes first: an entry that injects an event would drop it
	 * (SDM 27.7.3). The CPU delivers it before any NMI or interrupt and before the window
	 * exits, so an event waiting now is held back like in an STI shadow, by its window. */
	if (vmcs_read(GUEST_PENDING_DBG) & PENDING_DBG_VALID)
		block |= BLOCK_STI_MOVSS;
	if (inject_nmi(v, block))
		return;
	/* A globally disabled APIC (IA32_APIC_BASE.EN clear) accepts no interrupts. */
	vec = (p->apic_base & BIT(11)) ? vlapic_pending(&p->lapic) : -1;
	if (vec < 0) {
		/* Held back by the guest's TPR only: exit when it lowers the TPR below it. */
		vmcs_write(TPR_THRESHOLD, vlapic_tpr_threshold(&p->lapic));
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
		vlapic_accept(&p->lapic, (u8)vec);
	else
		vec = pic_take(v); /* INTA: the PIC moves the IRQ in service and names the vector */
	vmcs_write(ENTRY_INTR_INFO, INTR_VALID | INTR_TYPE_EXT | (u32)vec);
	window(false);
}

/* Arm the preemption timer for the nearer of the APIC timer and the rest of the budget;
 * pc_after_exit charges what the guest used. */
static void arm_timer(struct vcpu *v)
{
	struct pc_vcpu *p = to_pc_vcpu(v);
	u64 slice = MIN(MIN(v->budget_left, pc_timer_ticks(v)), 0xffffffffULL);

	p->timer_armed = slice;
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

/* An exit in the middle of an IRET that unblocked NMIs (an EPT violation or PML-full on
 * its stack reads): the IRET restarts, so its blocking must be restored (SDM 27.2.3). */
static void restore_nmi_blocking(u64 idt)
{
	u32 reason = vmcs_read(EXIT_REASON) & 0xffff;

	if ((reason == EXIT_EPT_VIOLATION || reason == EXIT_PML_FULL) && !(idt & INTR_VALID) &&
	    (vmcs_read(EXIT_QUALIFICATION) & QUAL_NMI_UNBLOCKED_BY_IRET))
		vmcs_write(GUEST_INTERRUPTIBILITY, vmcs_read(GUEST_INTERRUPTIBILITY) | BLOCK_NMI);
}

/* Is this exception vector fault-class (SDM Vol. 3A 6.15)? #DB (a trap, or a fault only
 * for instruction breakpoints and general detect, which the CPU delivers itself), #BP and
 * #OF (traps), #NMI (2: no exception) and the aborts #DF and #MC are not. */
static bool fault_class(int vector)
{
	return vector < 32 &&
	       !((BIT(1) | BIT(2) | BIT(3) | BIT(4) | BIT(8) | BIT(18)) & BIT(vector));
}

/* Event injection pushes RFLAGS.RF as the guest-state field holds it, whatever the event
 * (SDM Vol. 3C 27.6.1.1), and an instruction exit saved RF=0 (28.3.1.4); the CPU itself
 * pushes RF=1 for every fault but an instruction-breakpoint #DB (Vol. 3B 18.3.1.1), so a
 * handler's IRET does not hit a breakpoint on the faulting instruction again. As KVM's
 * __kvm_inject_exception does. */
static void set_fault_rf(int vector)
{
	u64 rflags = vmcs_read(GUEST_RFLAGS);

	if (fault_class(vector) && !(rflags & RFLAGS_RF))
		vmcs_write(GUEST_RFLAGS, rflags | RFLAGS_RF);
}

void pc_after_exit(struct vcpu *v)
{
	struct pc_vcpu *p = to_pc_vcpu(v);
	u64 idt = vmcs_read(IDT_VECTORING_INFO);
	u64 left = vmcs_read(PREEMPTION_TIMER_VALUE);
	u64 used = p->timer_armed - MIN(left, p->timer_armed);

	/* At least one tick per entry: a guest that exits at once still spends its budget. */
	v->budget_left -= MIN(v->budget_left, MAX(used, 1ULL));
	p->ran_since_timer += used;
	restore_nmi_blocking(idt);
	if (!(idt & INTR_VALID))
		return;
	/* The exit interrupted the delivery of an event (say an EPT violation on the guest's
	 * stack while pushing an interrupt frame): deliver it again (SDM 27.2.4). */
	vmcs_write(ENTRY_INTR_INFO, idt & ~BIT(12));
	if (idt & INTR_HAS_ERROR)
		vmcs_write(ENTRY_EXCEPTION_ERROR, vmcs_read(IDT_VECTORING_ERROR));
	vmcs_write(ENTRY_INSTR_LEN, vmcs_read(EXIT_INSTR_LEN));
	if ((idt & INTR_TYPE_MASK) == INTR_TYPE_HW_EXC)
		set_fault_rf((int)(idt & 0xff));
}

void pc_inject_exception(struct vcpu *v, int vector, bool has_error, u32 error)
{
	(void)v;
	vmcs_write(ENTRY_INTR_INFO,
	           INTR_VALID | INTR_TYPE_HW_EXC | (u32)vector | (has_error ? INTR_HAS_ERROR : 0));
	if (has_error)
		vmcs_write(ENTRY_EXCEPTION_ERROR, error);
	set_fault_rf(vector);
}

/* Past HLT (or another instruction): RF clear, the STI/MOV-SS shadow ends with it, and its
 * single-step trap is pending if TF is set (vcpu_complete_instruction). */
void pc_skip_instruction(struct vcpu *v)
{
	(void)v;
	vcpu_skip_instruction();
}

bool pc_handle_triple_fault(struct vcpu *v)
{
	struct pc_vm *pc = to_pc_vm(v->vm);

	printk("pc: VM '%s': vcpu %d: triple fault at rip 0x%lx: the PC resets\n", v->vm->name,
	       v->id, vmcs_read(GUEST_RIP));
	pc->ended = true;
	pc->exit_code = 0;
	snprintf(pc->how, sizeof(pc->how), "triple fault (the PC resets)");
	vm_stop(v->vm, VM_STOP_GUEST_EXIT, "guest exit: code 0 by %s", pc->how);
	return false;
}

bool pc_handle_hlt(struct vcpu *v)
{
	pc_skip_instruction(v);
	to_pc_vcpu(v)->state = (vmcs_read(GUEST_RFLAGS) & RFLAGS_IF) ? PC_HALTED : PC_HALTED_NOIRQ;
	return true;
}

bool pc_handle_interrupt_window(struct vcpu *v)
{
	(void)v;
	window(false); /* inject() opens it again if the interrupt still cannot go in */
	return true;
}

bool pc_handle_nmi_window(struct vcpu *v)
{
	(void)v;
	set_window(PROC_NMI_WINDOW_EXITING, false); /* inject_nmi() injects it now */
	return true;
}
