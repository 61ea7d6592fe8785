/*
 * The virtual local APIC (see devices/vlapic.h for how it fits with the VMX APIC
 * virtualization controls). The register page is the truth for every architectural register
 * the guest can read without an exit; PPR is recomputed into it whenever TPR or ISR changes so
 * the page stays coherent, even though the CPU traps PPR reads without virtual-interrupt
 * delivery. References: Intel SDM vol. 3, 10.5.4 (timer), 10.6 (ICR), 10.8 (IRR/ISR/TPR/PPR).
 */
#include "devices/vlapic.h"
#include "errno.h"
#include "lib.h"

#define NSEC_PER_SEC 1000000000ULL

static u32 reg(const struct vlapic *l, u32 off)
{
	return l->regs[off >> 2];
}

static void reg_set(struct vlapic *l, u32 off, u32 val)
{
	l->regs[off >> 2] = val;
}

/* ---- 256-bit vectors (ISR, TMR, IRR): eight registers 16 bytes apart -------------------- */

static u32 *vec_word(struct vlapic *l, u32 base, u8 vector)
{
	return &l->regs[(base + (vector / 32) * 0x10) >> 2];
}

static void vec_set(struct vlapic *l, u32 base, u8 vector)
{
	*vec_word(l, base, vector) |= 1U << (vector % 32);
}

static void vec_clear(struct vlapic *l, u32 base, u8 vector)
{
	*vec_word(l, base, vector) &= ~(1U << (vector % 32));
}

/* Highest set vector in the 256-bit register at @base, or -1. */
static int vec_highest(const struct vlapic *l, u32 base)
{
	for (int i = 7; i >= 0; i--) {
		u32 w = reg(l, base + i * 0x10);

		if (w)
			return i * 32 + 31 - __builtin_clz(w);
	}
	return -1;
}

/* ---- priorities (SDM 10.8.3.1) ----------------------------------------------------------- */

static bool sw_enabled(const struct vlapic *l)
{
	return reg(l, APIC_SVR) & APIC_SVR_ENABLE;
}

static u32 compute_ppr(const struct vlapic *l)
{
	u32 tpr = reg(l, APIC_TPR) & 0xff;
	int isrv = vec_highest(l, APIC_ISR);
	u32 isr_class = isrv < 0 ? 0 : (u32)isrv & 0xf0;

	return (tpr & 0xf0) >= isr_class ? tpr : isr_class;
}

static void update_ppr(struct vlapic *l)
{
	reg_set(l, APIC_PPR, compute_ppr(l));
}

/* Arbitration priority (SDM 10.6.2.4, the P6-family definition the xAPIC keeps). */
static u32 compute_apr(const struct vlapic *l)
{
	u32 tpr = reg(l, APIC_TPR) & 0xff;
	int isrv = vec_highest(l, APIC_ISR), irrv = vec_highest(l, APIC_IRR);
	u32 isr_class = isrv < 0 ? 0 : (u32)isrv & 0xf0;
	u32 irr_class = irrv < 0 ? 0 : (u32)irrv & 0xf0;

	if ((tpr & 0xf0) >= irr_class && (tpr & 0xf0) > isr_class)
		return tpr;
	return MAX(tpr & 0xf0, MAX(isr_class, irr_class));
}

/* ---- interrupt acceptance and errors ---------------------------------------------------- */

static void record_error(struct vlapic *l, u32 bits);

/* Set IRR for a fixed interrupt; false if it was dropped. */
static bool accept_fixed(struct vlapic *l, u8 vector)
{
	if (vector < 16) {
		record_error(l, APIC_ESR_RECV_ILLEGAL_VECTOR);
		return false;
	}
	if (!sw_enabled(l))
		return false;
	vec_set(l, APIC_IRR, vector);
	return true;
}

/* Latch @bits for the next ESR write and raise the LVT error interrupt if unmasked. */
static void record_error(struct vlapic *l, u32 bits)
{
	u32 lvt = reg(l, APIC_LVT_ERROR);

	l->esr_pending |= bits;
	/* A legal vector cannot recurse back here through accept_fixed(). */
	if (!(lvt & APIC_LVT_MASKED) && (lvt & 0xff) >= 16)
		accept_fixed(l, lvt & 0xff);
}

void vlapic_set_irr(struct vlapic *l, u8 vector)
{
	accept_fixed(l, vector);
}

int vlapic_pending(struct vlapic *l)
{
	int irrv = vec_highest(l, APIC_IRR);

	if (!sw_enabled(l) || irrv < 0)
		return -1;
	return ((u32)irrv & 0xf0) > (compute_ppr(l) & 0xf0) ? irrv : -1;
}

void vlapic_accept(struct vlapic *l, u8 vector)
{
	vec_clear(l, APIC_IRR, vector);
	vec_set(l, APIC_ISR, vector);
	update_ppr(l);
}

u8 vlapic_tpr_threshold(struct vlapic *l)
{
	int irrv = vec_highest(l, APIC_IRR), isrv = vec_highest(l, APIC_ISR);
	u32 tpr = reg(l, APIC_TPR) & 0xff;

	if (!sw_enabled(l) || irrv < 0)
		return 0;
	/* Blocked by an in-service interrupt: the EOI write will exit and re-evaluate. */
	if (isrv >= 0 && (irrv >> 4) <= (isrv >> 4))
		return 0;
	return ((u32)irrv >> 4) <= (tpr >> 4) ? (u8)(irrv >> 4) : 0;
}

/* ---- timer (SDM 10.5.4) ----------------------------------------------------------------- */

/*
 * Conversions between ns and bus clocks without 128-bit arithmetic: split off whole seconds
 * so the products stay below 2^64 for any bus_hz up to 18 GHz.
 */
static u64 ns_to_ticks(const struct vlapic *l, u64 ns)
{
	return ns / NSEC_PER_SEC * l->bus_hz + ns % NSEC_PER_SEC * l->bus_hz / NSEC_PER_SEC;
}

/* Rounded up, so the deadline is never before the count really reaches 0. */
static u64 ticks_to_ns(const struct vlapic *l, u64 ticks)
{
	u64 r = ticks % l->bus_hz;

	return ticks / l->bus_hz * NSEC_PER_SEC + (r * NSEC_PER_SEC + l->bus_hz - 1) / l->bus_hz;
}

/* The divide configuration: TDCR bits 3,1:0 = 000 -> 2, 001 -> 4, ..., 110 -> 128, 111 -> 1. */
static u32 tdcr_divide(u32 tdcr)
{
	u32 v = (tdcr & 3) | ((tdcr >> 1) & 4);

	return v == 7 ? 1 : 2U << v;
}

/*
 * The divider and mode in force, cached in the struct: on an APIC-write exit the page already
 * holds the new TDCR / LVT timer value, and changing either needs the old one.
 */
static u32 timer_divide(const struct vlapic *l)
{
	return l->timer_div;
}

static u32 timer_mode(const struct vlapic *l)
{
	return l->timer_mode;
}

static void timer_stop(struct vlapic *l)
{
	l->timer_deadline_ns = 0;
	l->timer_base_count = 0;
}

/* Run the counter from @count at @now_ns; TMICT is what a periodic timer reloads. */
static void timer_start(struct vlapic *l, u32 count, u64 now_ns)
{
	u64 div = timer_divide(l);

	/* Modes 2 (TSC-deadline, not offered) and 3 (reserved) never count. */
	if (!count || timer_mode(l) >= 2) {
		timer_stop(l);
		return;
	}
	l->timer_base_ns = now_ns;
	l->timer_base_count = count;
	l->timer_period_ns = ticks_to_ns(l, (u64)reg(l, APIC_TMICT) * div);
	l->timer_deadline_ns = now_ns + ticks_to_ns(l, (u64)count * div);
	/* A periodic timer never fires more often than every VLAPIC_MIN_PERIOD_NS (as KVM's
	 * min_timer_period_us): a guest asking for a count of 1 would otherwise make the
	 * hypervisor do nothing but deliver its ticks. */
	if (timer_mode(l) == 1) {
		l->timer_period_ns = MAX(l->timer_period_ns, VLAPIC_MIN_PERIOD_NS);
		l->timer_deadline_ns = MAX(l->timer_deadline_ns, now_ns + VLAPIC_MIN_PERIOD_NS);
	}
}

static u32 timer_current(const struct vlapic *l, u64 now_ns)
{
	u32 tmict = reg(l, APIC_TMICT);
	u64 counts, over;

	if (!l->timer_deadline_ns)
		return 0;
	counts = ns_to_ticks(l, now_ns > l->timer_base_ns ? now_ns - l->timer_base_ns : 0) /
	         timer_divide(l);
	if (counts < l->timer_base_count)
		return l->timer_base_count - (u32)counts;
	if (timer_mode(l) != 1 || !tmict)
		return 0;
	/* Periodic and not yet polled: the count reloaded at 0 and kept going. */
	over = counts - l->timer_base_count;
	return tmict - (u32)(over % tmict);
}

bool vlapic_timer_poll(struct vlapic *l, u64 now_ns)
{
	u32 lvt = reg(l, APIC_LVT_TIMER);

	if (!l->timer_deadline_ns || now_ns < l->timer_deadline_ns)
		return false;
	if (timer_mode(l) == 1 && reg(l, APIC_TMICT) && l->timer_period_ns) {
		/* One interrupt for however many periods were missed; stay on the grid. */
		u64 late = (now_ns - l->timer_deadline_ns) / l->timer_period_ns;

		l->timer_base_ns = l->timer_deadline_ns + late * l->timer_period_ns;
		l->timer_base_count = reg(l, APIC_TMICT);
		l->timer_deadline_ns = l->timer_base_ns + l->timer_period_ns;
	} else {
		timer_stop(l);
	}
	if (lvt & APIC_LVT_MASKED)
		return false;
	return accept_fixed(l, lvt & 0xff);
}

u64 vlapic_timer_deadline(const struct vlapic *l)
{
	return l->timer_deadline_ns;
}

/* ---- register writes -------------------------------------------------------------------- */

/* Writable bits of each LVT (delivery status and remote IRR read 0: delivery is immediate). */
static u32 lvt_mask(u32 off)
{
	switch (off) {
	case APIC_LVT_TIMER:
		return 0x700ff; /* vector, mask, mode */
	case APIC_LVT_LINT0:
	case APIC_LVT_LINT1:
		return 0x1a7ff; /* + delivery mode, polarity, trigger */
	case APIC_LVT_ERROR:
		return 0x100ff;
	default:
		return 0x107ff; /* thermal, perf: vector, delivery mode, mask */
	}
}

static void write_lvt(struct vlapic *l, u32 off, u32 val)
{
	u32 old_mode = timer_mode(l), mode;

	val &= lvt_mask(off);
	/* Software-disabled: mask bits are forced on (SDM 10.4.7.2). */
	if (!sw_enabled(l))
		val |= APIC_LVT_MASKED;
	reg_set(l, off, val);
	if (off != APIC_LVT_TIMER)
		return;
	mode = APIC_LVT_TIMER_MODE(val);
	l->timer_mode = mode;
	/* Entering or leaving TSC-deadline mode disarms the timer (SDM 10.5.4.1). */
	if (old_mode != mode && (old_mode >= 2 || mode >= 2))
		timer_stop(l);
}

static void write_svr(struct vlapic *l, u32 val)
{
	/* Vector, enable, focus check; EOI-broadcast suppression needs VER bit 24 (clear). */
	reg_set(l, APIC_SVR, val & 0x3ff);
	if (val & APIC_SVR_ENABLE)
		return;
	for (u32 off = APIC_LVT_TIMER; off <= APIC_LVT_ERROR; off += 0x10)
		reg_set(l, off, reg(l, off) | APIC_LVT_MASKED);
}

static void write_eoi(struct vlapic *l)
{
	int isrv = vec_highest(l, APIC_ISR);

	/* EOI reads 0 from the page; an EOI with nothing in service does nothing. */
	reg_set(l, APIC_EOI, 0);
	l->eoi_vector = isrv;
	if (isrv >= 0)
		vec_clear(l, APIC_ISR, (u8)isrv);
	update_ppr(l);
}

static void write_tdcr(struct vlapic *l, u32 val, u64 now_ns)
{
	u32 cur = timer_current(l, now_ns);

	reg_set(l, APIC_TDCR, val & 0xb);
	l->timer_div = tdcr_divide(val);
	/* Keep the current count and continue at the new rate. */
	if (l->timer_deadline_ns && cur)
		timer_start(l, cur, now_ns);
}

/* ICR_LO: decode the IPI; 1 if there is something to deliver. */
static int write_icr(struct vlapic *l, u32 val, struct vlapic_ipi *ipi)
{
	val &= 0xccfff; /* vector, delivery, dest mode, level, trigger, shorthand */
	reg_set(l, APIC_ICR_LO, val);
	ipi->vector = val & 0xff;
	ipi->delivery = (val >> 8) & 7;
	ipi->logical = val & BIT(11);
	ipi->level_assert = val & BIT(14);
	ipi->level_trigger = val & BIT(15);
	ipi->shorthand = (val >> 18) & 3;
	ipi->dest = reg(l, APIC_ICR_HI) >> 24;

	/* INIT level de-assert only resynchronises arbitration IDs: nothing to deliver. */
	if (ipi->delivery == APIC_DM_INIT && !ipi->level_assert && ipi->level_trigger)
		return 0;
	if (ipi->delivery == 3 || ipi->delivery == 7)
		return 0; /* reserved delivery modes */
	if ((ipi->delivery == APIC_DM_FIXED || ipi->delivery == APIC_DM_LOWEST) &&
	    ipi->vector < 16) {
		record_error(l, APIC_ESR_SEND_ILLEGAL_VECTOR);
		return 0;
	}
	return 1;
}

static bool is_lvt(u32 off)
{
	return off >= APIC_LVT_TIMER && off <= APIC_LVT_ERROR;
}

static bool is_read_only(u32 off)
{
	return off == APIC_VER || off == APIC_APR || off == APIC_PPR || off == APIC_RRD ||
	       (off >= APIC_ISR && off < APIC_ESR) || off == APIC_TMCCT;
}

/* Put back what a read-only register holds, in case the page was written. */
static void restore_read_only(struct vlapic *l, u32 off)
{
	if (off == APIC_VER)
		reg_set(l, off, APIC_VERSION);
	else if (off == APIC_PPR)
		update_ppr(l);
	else if (off == APIC_APR || off == APIC_RRD || off == APIC_TMCCT)
		reg_set(l, off, 0); /* computed on each (trapping) read */
	/* ISR/TMR/IRR: the page is their only copy; the CPU never stores to them (fault-like). */
}

int vlapic_write(struct vlapic *l, u32 off, u32 val, u64 now_ns, struct vlapic_ipi *ipi)
{
	if ((off & 0xf) || off >= 0x400) {
		return -EINVAL;
	} else if (is_read_only(off)) {
		restore_read_only(l, off);
		return -EPERM;
	} else if (is_lvt(off)) {
		write_lvt(l, off, val);
		return 0;
	}
	switch (off) {
	case APIC_ID:
		reg_set(l, off, val & 0xff000000);
		l->id = val >> 24;
		return 0;
	case APIC_TPR:
		reg_set(l, off, val & 0xff);
		update_ppr(l);
		return 0;
	case APIC_EOI:
		write_eoi(l);
		return 0;
	case APIC_LDR:
		reg_set(l, off, val & 0xff000000);
		return 0;
	case APIC_DFR:
		reg_set(l, off, (val & 0xf0000000) | 0x0fffffff);
		return 0;
	case APIC_SVR:
		write_svr(l, val);
		return 0;
	case APIC_ESR:
		/* A write latches the errors seen since the previous write (SDM 10.5.3). */
		reg_set(l, off, l->esr_pending);
		l->esr_pending = 0;
		return 0;
	case APIC_ICR_LO:
		return write_icr(l, val, ipi);
	case APIC_ICR_HI:
		reg_set(l, off, val & 0xff000000);
		return 0;
	case APIC_TMICT:
		reg_set(l, off, val);
		timer_start(l, val, now_ns);
		return 0;
	case APIC_TDCR:
		write_tdcr(l, val, now_ns);
		return 0;
	default:
		reg_set(l, off, 0); /* reserved (CMCI included: max LVT is 5): reads 0 */
		return -EINVAL;
	}
}

/* ---- reads, reset, destination matching -------------------------------------------------- */

static bool is_reserved(u32 off)
{
	return off < APIC_ID || (off > APIC_VER && off < APIC_TPR) ||
	       (off > APIC_ESR && off < APIC_ICR_LO) || (off > APIC_TMCCT && off != APIC_TDCR);
}

u32 vlapic_read(struct vlapic *l, u32 off, u64 now_ns)
{
	u32 reg_off = off & ~0xfU, val;

	/* Only bytes 0-3 of each 16-byte slot exist. */
	if ((off & 0xc) || off >= 0x400 || is_reserved(reg_off))
		return 0;
	if (reg_off == APIC_PPR)
		val = compute_ppr(l);
	else if (reg_off == APIC_APR)
		val = compute_apr(l);
	else if (reg_off == APIC_TMCCT)
		val = timer_current(l, now_ns);
	else
		val = reg(l, reg_off);
	return val >> ((off & 3) * 8);
}

void vlapic_init(struct vlapic *l, u32 *page, u32 apic_id, u64 now_ns)
{
	memset(l, 0, sizeof(*l));
	memset(page, 0, PAGE_SIZE);
	l->regs = page;
	l->id = apic_id & 0xff;
	l->bus_hz = NSEC_PER_SEC;
	l->timer_base_ns = now_ns;
	l->eoi_vector = -1;
	l->timer_div = tdcr_divide(0);
	reg_set(l, APIC_ID, l->id << 24);
	reg_set(l, APIC_VER, APIC_VERSION);
	reg_set(l, APIC_SVR, 0xff);
	reg_set(l, APIC_DFR, 0xffffffff);
	for (u32 off = APIC_LVT_TIMER; off <= APIC_LVT_ERROR; off += 0x10)
		reg_set(l, off, APIC_LVT_MASKED);
}

static bool match_logical(const struct vlapic *l, u8 dest)
{
	u8 ldr = reg(l, APIC_LDR) >> 24;

	if (dest == 0xff)
		return true;
	if ((reg(l, APIC_DFR) >> 28) == 0xf)
		return ldr & dest; /* flat */
	/* Cluster: high nibble names the cluster, low nibble selects up to 4 APICs in it. */
	return (ldr >> 4) == (dest >> 4) && (ldr & dest & 0xf);
}

bool vlapic_match_dest(const struct vlapic *l, const struct vlapic_ipi *ipi, bool is_self)
{
	switch (ipi->shorthand) {
	case APIC_SH_SELF:
		return is_self;
	case APIC_SH_ALL:
		return true;
	case APIC_SH_OTHERS:
		return !is_self;
	}
	if (ipi->logical)
		return match_logical(l, ipi->dest);
	return ipi->dest == 0xff || ipi->dest == (l->id & 0xff);
}
