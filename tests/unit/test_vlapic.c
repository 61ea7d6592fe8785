/*
 * Host tests of the virtual local APIC (devices/vlapic.c): reset state, software disable,
 * IRR/ISR/TPR/PPR priority rules, EOI, ICR decoding (fixed, INIT assert/de-assert, SIPI,
 * shorthands, illegal vectors), ESR latching, read-only and reserved offsets, the timer
 * (one-shot, periodic with missed periods, divide encodings, masked, stopped, TSC-deadline
 * mode, a non-1 GHz bus) and destination matching.
 */
/* cmocka.h needs these first */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

/* cmocka.h needs the headers above it. */
#include <cmocka.h>

#include <string.h>

#include "devices/vlapic.h"
#include "errno.h"

static u32 page[1024] __attribute__((aligned(4096)));
static struct vlapic lapic;

static u32 R(u32 off)
{
	return page[off >> 2];
}

/* A guest write as an APIC-write exit delivers it: the CPU stored it first. */
static int W(u32 off, u32 val, u64 now)
{
	struct vlapic_ipi ipi;

	page[off >> 2] = val;
	return vlapic_write(&lapic, off, val, now, &ipi);
}

static struct vlapic *fresh_enabled(void)
{
	vlapic_init(&lapic, page, 3, 0);
	assert_int_equal(W(APIC_SVR, 0x1ff, 0), 0);
	return &lapic;
}

static void test_reset_state(void **state)
{
	(void)state;
	memset(page, 0xaa, sizeof(page));
	vlapic_init(&lapic, page, 3, 0);
	assert_int_equal(R(APIC_ID), 3 << 24);
	assert_int_equal(R(APIC_VER), 0x00050014);
	assert_int_equal(R(APIC_SVR), 0xff);
	assert_int_equal(R(APIC_DFR), 0xffffffff);
	for (u32 off = APIC_LVT_TIMER; off <= APIC_LVT_ERROR; off += 0x10)
		assert_int_equal(R(off), APIC_LVT_MASKED);
	assert_int_equal(R(APIC_TPR), 0);
	assert_int_equal(R(APIC_IRR + 0x70), 0);
	assert_int_equal(R(0x400), 0);
	assert_int_equal(vlapic_pending(&lapic), -1);
	assert_int_equal(vlapic_timer_deadline(&lapic), 0);
}

static void test_software_disabled(void **state)
{
	(void)state;
	vlapic_init(&lapic, page, 0, 0);
	/* Disabled: fixed interrupts are dropped, LVT masks stick. */
	vlapic_set_irr(&lapic, 0x40);
	assert_int_equal(vlapic_pending(&lapic), -1);
	assert_int_equal(R(APIC_IRR + 0x20), 0);
	W(APIC_LVT_TIMER, 0x30, 0);
	assert_int_equal(R(APIC_LVT_TIMER), APIC_LVT_MASKED | 0x30);

	W(APIC_SVR, 0x1ff, 0);
	W(APIC_LVT_TIMER, 0x30, 0);
	assert_int_equal(R(APIC_LVT_TIMER), 0x30);
	vlapic_set_irr(&lapic, 0x40);
	assert_int_equal(vlapic_pending(&lapic), 0x40);

	/* Disabling again masks every LVT; IRR is held but nothing is offered. */
	W(APIC_SVR, 0xff, 0);
	assert_int_equal(R(APIC_LVT_TIMER), APIC_LVT_MASKED | 0x30);
	assert_int_equal(R(APIC_LVT_LINT0), APIC_LVT_MASKED);
	assert_int_equal(vlapic_pending(&lapic), -1);
	assert_int_equal(R(APIC_IRR + 0x20), 1);
}

static void test_priority_and_eoi(void **state)
{
	struct vlapic *l = fresh_enabled();

	(void)state;
	vlapic_set_irr(l, 0x31);
	vlapic_set_irr(l, 0x45);
	assert_int_equal(R(APIC_IRR + 0x10), 1u << 0x11);
	assert_int_equal(R(APIC_IRR + 0x20), 1u << 5);
	assert_int_equal(vlapic_pending(l), 0x45);
	vlapic_accept(l, 0x45);
	assert_int_equal(R(APIC_ISR + 0x20), 1u << 5);
	assert_int_equal(R(APIC_IRR + 0x20), 0);
	assert_int_equal(R(APIC_PPR), 0x40);
	assert_int_equal(vlapic_read(l, APIC_PPR, 0), 0x40);
	/* Class 3 below the in-service class 4; same class 4 is blocked too. */
	assert_int_equal(vlapic_pending(l), -1);
	vlapic_set_irr(l, 0x4f);
	assert_int_equal(vlapic_pending(l), -1);
	vlapic_set_irr(l, 0x52);
	assert_int_equal(vlapic_pending(l), 0x52);
	vlapic_accept(l, 0x52);
	assert_int_equal(R(APIC_PPR), 0x50);

	/* EOI retires the highest in-service vector and reads 0 from the page. */
	W(APIC_EOI, 0x1234, 0);
	assert_int_equal(R(APIC_EOI), 0);
	assert_int_equal(l->eoi_vector, 0x52);
	assert_int_equal(R(APIC_ISR + 0x20), 1u << 5);
	assert_int_equal(R(APIC_ISR + 0x50), 0);
	assert_int_equal(vlapic_pending(l), -1); /* 0x4f still blocked by 0x45 */
	W(APIC_EOI, 0, 0);
	assert_int_equal(l->eoi_vector, 0x45);
	assert_int_equal(R(APIC_PPR), 0);
	assert_int_equal(vlapic_pending(l), 0x4f);
	vlapic_accept(l, 0x4f);
	vlapic_accept(l, 0x31);
	W(APIC_EOI, 0, 0);
	W(APIC_EOI, 0, 0);
	/* An EOI with nothing in service is harmless. */
	assert_int_equal(W(APIC_EOI, 0, 0), 0);
	assert_int_equal(l->eoi_vector, -1);
	assert_int_equal(R(APIC_PPR), 0);
	for (u32 i = 0; i < 8; i++)
		assert_int_equal(R(APIC_ISR + i * 0x10), 0);
}

static void test_tpr_ppr(void **state)
{
	struct vlapic *l = fresh_enabled();

	(void)state;
	vlapic_set_irr(l, 0x45);
	W(APIC_TPR, 0xffffff50, 0);
	assert_int_equal(R(APIC_TPR), 0x50);
	assert_int_equal(vlapic_read(l, APIC_PPR, 0), 0x50);
	assert_int_equal(vlapic_pending(l), -1);
	assert_int_equal(vlapic_tpr_threshold(l), 4);
	/* The guest may change TPR without an exit (TPR shadow): PPR follows the page. */
	page[APIC_TPR >> 2] = 0x30;
	assert_int_equal(vlapic_pending(l), 0x45);
	assert_int_equal(vlapic_tpr_threshold(l), 0);

	/* PPR = TPR when TPR's class >= ISR's class, else ISR class (SDM 10.8.3.1). */
	vlapic_accept(l, 0x45);
	W(APIC_TPR, 0x25, 0);
	assert_int_equal(vlapic_read(l, APIC_PPR, 0), 0x40);
	W(APIC_TPR, 0x4a, 0);
	assert_int_equal(vlapic_read(l, APIC_PPR, 0), 0x4a);
	/* Blocked by ISR rather than TPR: no threshold needed. */
	vlapic_set_irr(l, 0x41);
	assert_int_equal(vlapic_tpr_threshold(l), 0);
}

static void test_apr(void **state)
{
	struct vlapic *l = fresh_enabled();

	(void)state;
	W(APIC_TPR, 0x23, 0);
	assert_int_equal(vlapic_read(l, APIC_APR, 0), 0x23);
	vlapic_set_irr(l, 0x61);
	assert_int_equal(vlapic_read(l, APIC_APR, 0), 0x60);
	W(APIC_TPR, 0x73, 0);
	assert_int_equal(vlapic_read(l, APIC_APR, 0), 0x73);
	vlapic_accept(l, 0x61);
	vlapic_set_irr(l, 0x81);
	assert_int_equal(vlapic_read(l, APIC_APR, 0), 0x80);
}

static int icr(struct vlapic_ipi *ipi, u32 hi, u32 lo)
{
	W(APIC_ICR_HI, hi, 0);
	page[APIC_ICR_LO >> 2] = lo;
	return vlapic_write(&lapic, APIC_ICR_LO, lo, 0, ipi);
}

static void test_icr(void **state)
{
	struct vlapic_ipi ipi;

	(void)state;
	fresh_enabled();
	/* Fixed, physical, to APIC 1; the delivery-status bit never reads 1. */
	assert_int_equal(icr(&ipi, 0x01abcdef, 0x00001041), 1);
	assert_int_equal(R(APIC_ICR_HI), 0x01000000);
	assert_int_equal(R(APIC_ICR_LO), 0x41);
	assert_int_equal(ipi.vector, 0x41);
	assert_int_equal(ipi.delivery, APIC_DM_FIXED);
	assert_int_equal(ipi.dest, 1);
	assert_false(ipi.logical);
	assert_int_equal(ipi.shorthand, APIC_SH_NONE);

	/* Linux's INIT-SIPI-SIPI: INIT assert (level), INIT de-assert, two SIPIs. */
	assert_int_equal(icr(&ipi, 0x02000000, 0x0000c500), 1);
	assert_int_equal(ipi.delivery, APIC_DM_INIT);
	assert_true(ipi.level_assert);
	assert_int_equal(icr(&ipi, 0x02000000, 0x00008500), 0);
	assert_int_equal(icr(&ipi, 0x02000000, 0x00000699), 1);
	assert_int_equal(ipi.delivery, APIC_DM_SIPI);
	assert_int_equal(ipi.vector, 0x99);

	/* Shorthands, logical, NMI. */
	assert_int_equal(icr(&ipi, 0, 0x000c0830), 1);
	assert_int_equal(ipi.shorthand, APIC_SH_OTHERS);
	assert_true(ipi.logical);
	assert_int_equal(icr(&ipi, 0, 0x00040440), 1);
	assert_int_equal(ipi.shorthand, APIC_SH_SELF);
	assert_int_equal(ipi.delivery, APIC_DM_NMI);

	/* Illegal vector: not sent, "send illegal vector" latched on the next ESR write. */
	assert_int_equal(icr(&ipi, 0x01000000, 0x0000000f), 0);
	assert_int_equal(R(APIC_ESR), 0);
	W(APIC_ESR, 0, 0);
	assert_int_equal(R(APIC_ESR), APIC_ESR_SEND_ILLEGAL_VECTOR);
	W(APIC_ESR, 0, 0);
	assert_int_equal(R(APIC_ESR), 0);
	/* NMI ignores the vector field. */
	assert_int_equal(icr(&ipi, 0x01000000, 0x00000400), 1);
}

static void test_error_lvt(void **state)
{
	struct vlapic *l = fresh_enabled();

	(void)state;
	W(APIC_LVT_ERROR, 0xfffffffe, 0);
	assert_int_equal(R(APIC_LVT_ERROR), 0x100fe);
	vlapic_set_irr(l, 3); /* illegal, masked error LVT: just latched */
	assert_int_equal(vlapic_pending(l), -1);
	W(APIC_LVT_ERROR, 0xfe, 0);
	vlapic_set_irr(l, 3);
	assert_int_equal(vlapic_pending(l), 0xfe);
	W(APIC_ESR, 0, 0);
	assert_int_equal(R(APIC_ESR), APIC_ESR_RECV_ILLEGAL_VECTOR);
}

static void test_register_masks(void **state)
{
	struct vlapic *l = fresh_enabled();

	(void)state;
	W(APIC_ID, 0x12345678, 0);
	assert_int_equal(R(APIC_ID), 0x12000000);
	assert_int_equal(l->id, 0x12);
	W(APIC_LDR, 0xffffffff, 0);
	assert_int_equal(R(APIC_LDR), 0xff000000);
	W(APIC_DFR, 0x0, 0);
	assert_int_equal(R(APIC_DFR), 0x0fffffff);
	W(APIC_SVR, 0xffffffff, 0);
	assert_int_equal(R(APIC_SVR), 0x3ff);
	W(APIC_TDCR, 0xffffffff, 0);
	assert_int_equal(R(APIC_TDCR), 0xb);
	W(APIC_LVT_TIMER, 0xffffffff, 0);
	assert_int_equal(R(APIC_LVT_TIMER), 0x700ff);
	W(APIC_LVT_LINT0, 0xffffffff, 0);
	assert_int_equal(R(APIC_LVT_LINT0), 0x1a7ff);
	W(APIC_LVT_PERF, 0xffffffff, 0);
	assert_int_equal(R(APIC_LVT_PERF), 0x107ff);
}

static void test_read_only_and_reserved(void **state)
{
	struct vlapic *l = fresh_enabled();
	struct vlapic_ipi ipi;

	(void)state;
	assert_int_equal(W(APIC_VER, 0, 0), -EPERM);
	assert_int_equal(R(APIC_VER), 0x00050014);
	W(APIC_TPR, 0x20, 0);
	assert_int_equal(W(APIC_PPR, 0x99, 0), -EPERM);
	assert_int_equal(R(APIC_PPR), 0x20);
	vlapic_set_irr(l, 0x80);
	/* An APIC-access write to IRR: the CPU did not store it; the page is untouched. */
	assert_int_equal(vlapic_write(l, APIC_IRR + 0x40, 0, 0, &ipi), -EPERM);
	assert_int_equal(R(APIC_IRR + 0x40), 1);
	assert_int_equal(vlapic_write(l, APIC_ISR, 0, 0, &ipi), -EPERM);
	assert_int_equal(vlapic_write(l, APIC_TMCCT, 5, 0, &ipi), -EPERM);
	assert_int_equal(vlapic_write(l, APIC_APR, 5, 0, &ipi), -EPERM);

	assert_int_equal(W(APIC_LVT_CMCI, 0x40, 0), -EINVAL);
	assert_int_equal(R(APIC_LVT_CMCI), 0);
	assert_int_equal(W(0x050, 7, 0), -EINVAL);
	assert_int_equal(R(0x050), 0);
	assert_int_equal(vlapic_write(l, 0x084, 1, 0, &ipi), -EINVAL);
	assert_int_equal(vlapic_write(l, 0x400, 1, 0, &ipi), -EINVAL);

	/* Reads: reserved and the unused bytes of a slot read 0; byte offsets shift. */
	assert_int_equal(vlapic_read(l, 0x000, 0), 0);
	assert_int_equal(vlapic_read(l, 0x3f0, 0), 0);
	assert_int_equal(vlapic_read(l, 0x3a0, 0), 0);
	assert_int_equal(vlapic_read(l, APIC_VER + 4, 0), 0);
	assert_int_equal(vlapic_read(l, APIC_VER, 0), 0x00050014);
	assert_int_equal(vlapic_read(l, APIC_VER + 2, 0), 0x0005);
	assert_int_equal(vlapic_read(l, APIC_ID + 3, 0), 3);
	assert_int_equal(vlapic_read(l, 0x1000, 0), 0);
}

static void test_timer_oneshot(void **state)
{
	struct vlapic *l = fresh_enabled();

	(void)state;
	W(APIC_LVT_TIMER, 0x20, 0);
	W(APIC_TDCR, 0xb, 0); /* divide by 1: one count per ns at 1 GHz */
	W(APIC_TMICT, 1000, 5000);
	assert_int_equal(vlapic_timer_deadline(l), 6000);
	assert_int_equal(vlapic_read(l, APIC_TMCCT, 5000), 1000);
	assert_int_equal(vlapic_read(l, APIC_TMCCT, 5250), 750);
	assert_false(vlapic_timer_poll(l, 5999));
	assert_int_equal(vlapic_read(l, APIC_TMCCT, 6000), 0);
	assert_true(vlapic_timer_poll(l, 6000));
	assert_int_equal(vlapic_pending(l), 0x20);
	assert_int_equal(vlapic_timer_deadline(l), 0);
	assert_int_equal(vlapic_read(l, APIC_TMCCT, 7000), 0);
	assert_false(vlapic_timer_poll(l, 99999));
	assert_int_equal(R(APIC_TMICT), 1000);

	/* Re-writing TMICT restarts; writing 0 stops. */
	W(APIC_TMICT, 10, 100000);
	assert_int_equal(vlapic_timer_deadline(l), 100010);
	W(APIC_TMICT, 0, 100005);
	assert_int_equal(vlapic_timer_deadline(l), 0);
	assert_false(vlapic_timer_poll(l, 200000));
}

static void test_timer_divide(void **state)
{
	static const struct {
		u32 tdcr, div;
	} enc[] = { { 0x0, 2 },  { 0x1, 4 },  { 0x2, 8 },   { 0x3, 16 },
		    { 0x8, 32 }, { 0x9, 64 }, { 0xa, 128 }, { 0xb, 1 } };
	struct vlapic *l = fresh_enabled();

	(void)state;
	W(APIC_LVT_TIMER, 0x20, 0);
	for (size_t i = 0; i < sizeof(enc) / sizeof(enc[0]); i++) {
		W(APIC_TDCR, enc[i].tdcr, 0);
		W(APIC_TMICT, 100, 1000);
		assert_int_equal(vlapic_timer_deadline(l), 1000 + 100 * enc[i].div);
		assert_int_equal(vlapic_read(l, APIC_TMCCT, 1000 + 10 * enc[i].div), 90);
	}
	/* Changing the divider mid-count keeps the current count, continues at the new rate. */
	W(APIC_TDCR, 0xb, 0);
	W(APIC_TMICT, 1000, 0);
	W(APIC_TDCR, 0x0, 400); /* 600 counts left, now 2 ns each */
	assert_int_equal(vlapic_read(l, APIC_TMCCT, 400), 600);
	assert_int_equal(vlapic_timer_deadline(l), 400 + 1200);
}

static void test_timer_periodic(void **state)
{
	struct vlapic *l = fresh_enabled();

	(void)state;
	W(APIC_LVT_TIMER, (1 << 17) | 0xef, 0);
	W(APIC_TDCR, 0x3, 0); /* divide by 16 */
	W(APIC_TMICT, 100000, 0);
	assert_int_equal(vlapic_timer_deadline(l), 1600000);
	assert_true(vlapic_timer_poll(l, 1600000));
	assert_int_equal(vlapic_timer_deadline(l), 3200000);
	assert_int_equal(vlapic_read(l, APIC_TMCCT, 1600000), 100000);
	assert_int_equal(vlapic_read(l, APIC_TMCCT, 1600000 + 160000), 90000);
	vlapic_accept(l, 0xef);
	W(APIC_EOI, 0, 0);
	/* Late by several periods: one interrupt, back on the 1.6 ms grid. */
	assert_int_equal(vlapic_read(l, APIC_TMCCT, 5000000), 100000 - (5000000 - 4800000) / 16);
	assert_true(vlapic_timer_poll(l, 5000000));
	assert_int_equal(vlapic_timer_deadline(l), 6400000);
	assert_int_equal(vlapic_pending(l), 0xef);
	assert_int_equal(vlapic_read(l, APIC_TMCCT, 5000000), 100000 - (5000000 - 4800000) / 16);

	/* Periodic -> one-shot keeps the running count and stops after it. */
	W(APIC_LVT_TIMER, 0xef, 6000000);
	assert_int_equal(vlapic_timer_deadline(l), 6400000);
	assert_true(vlapic_timer_poll(l, 6400000));
	assert_int_equal(vlapic_timer_deadline(l), 0);
}

/* A periodic count of 1 at divide 1 (1 ns) is stretched to VLAPIC_MIN_PERIOD_NS, first
 * expiry included; a one-shot of 1 count is not (it fires once). */
static void test_timer_min_period(void **state)
{
	struct vlapic *l = fresh_enabled();

	(void)state;
	W(APIC_LVT_TIMER, (1 << 17) | 0x20, 0);
	W(APIC_TDCR, 0xb, 0);
	W(APIC_TMICT, 1, 1000);
	assert_int_equal(vlapic_timer_deadline(l), 1000 + VLAPIC_MIN_PERIOD_NS);
	assert_false(vlapic_timer_poll(l, 1000 + VLAPIC_MIN_PERIOD_NS - 1));
	assert_true(vlapic_timer_poll(l, 1000 + VLAPIC_MIN_PERIOD_NS));
	assert_int_equal(vlapic_timer_deadline(l), 1000 + 2 * VLAPIC_MIN_PERIOD_NS);
	vlapic_accept(l, 0x20);
	W(APIC_EOI, 0, 0);
	/* Far behind: still one interrupt, and the next deadline is in the future. */
	assert_true(vlapic_timer_poll(l, 50000000));
	assert_true(vlapic_timer_deadline(l) > 50000000);
	assert_true(vlapic_timer_deadline(l) <= 50000000 + VLAPIC_MIN_PERIOD_NS);

	W(APIC_LVT_TIMER, 0x20, 60000000);
	W(APIC_TMICT, 1, 60000000);
	assert_int_equal(vlapic_timer_deadline(l), 60000001);
}

static void test_timer_masked_and_tsc_deadline(void **state)
{
	struct vlapic *l = fresh_enabled();

	(void)state;
	/* Masked: counts and expires, but no interrupt. */
	W(APIC_LVT_TIMER, APIC_LVT_MASKED | 0x20, 0);
	W(APIC_TDCR, 0xb, 0);
	W(APIC_TMICT, 50, 0);
	assert_false(vlapic_timer_poll(l, 50));
	assert_int_equal(vlapic_pending(l), -1);
	assert_int_equal(vlapic_timer_deadline(l), 0);

	/* TSC-deadline mode (not offered): switching to it disarms, TMICT writes do not arm. */
	W(APIC_LVT_TIMER, 0x20, 0);
	W(APIC_TMICT, 50, 0);
	W(APIC_LVT_TIMER, (2 << 17) | 0x20, 10);
	assert_int_equal(vlapic_timer_deadline(l), 0);
	W(APIC_TMICT, 50, 20);
	assert_int_equal(vlapic_timer_deadline(l), 0);
	assert_int_equal(vlapic_read(l, APIC_TMCCT, 30), 0);
	assert_false(vlapic_timer_poll(l, 1000000));
}

static void test_timer_bus_clock(void **state)
{
	struct vlapic *l = fresh_enabled();

	(void)state;
	l->bus_hz = 100000000; /* 100 MHz: 10 ns per count */
	W(APIC_LVT_TIMER, 0x20, 0);
	W(APIC_TDCR, 0xb, 0);
	W(APIC_TMICT, 10, 0);
	assert_int_equal(vlapic_timer_deadline(l), 100);
	assert_int_equal(vlapic_read(l, APIC_TMCCT, 55), 5);
	/* The largest count at the slowest divide, far beyond 2^64 ns * Hz. */
	l->bus_hz = 1000000000;
	W(APIC_TDCR, 0xa, 0);
	W(APIC_TMICT, 0xffffffff, 1);
	assert_int_equal(vlapic_timer_deadline(l), 1 + 0xffffffffULL * 128);
	assert_int_equal(vlapic_read(l, APIC_TMCCT, 1 + 0xfffffffeULL * 128), 1);
	/* 3 GHz: deadlines round up to whole ns, the count never reaches 0 early. */
	l->bus_hz = 3000000000ULL;
	W(APIC_TDCR, 0xb, 0);
	W(APIC_TMICT, 10, 0);
	assert_int_equal(vlapic_timer_deadline(l), 4);
	assert_int_equal(vlapic_read(l, APIC_TMCCT, 3), 1);
}

static void test_match_dest(void **state)
{
	struct vlapic *l = fresh_enabled(); /* id 3 */
	struct vlapic_ipi ipi = { 0 };

	(void)state;
	ipi.dest = 3;
	assert_true(vlapic_match_dest(l, &ipi, false));
	ipi.dest = 4;
	assert_false(vlapic_match_dest(l, &ipi, false));
	ipi.dest = 0xff;
	assert_true(vlapic_match_dest(l, &ipi, false));

	ipi.shorthand = APIC_SH_SELF;
	assert_true(vlapic_match_dest(l, &ipi, true));
	assert_false(vlapic_match_dest(l, &ipi, false));
	ipi.shorthand = APIC_SH_ALL;
	assert_true(vlapic_match_dest(l, &ipi, true));
	assert_true(vlapic_match_dest(l, &ipi, false));
	ipi.shorthand = APIC_SH_OTHERS;
	assert_false(vlapic_match_dest(l, &ipi, true));
	assert_true(vlapic_match_dest(l, &ipi, false));
	ipi.shorthand = APIC_SH_NONE;

	/* Logical flat: LDR bit set in dest. */
	ipi.logical = true;
	W(APIC_LDR, 0x08000000, 0);
	ipi.dest = 0x0c;
	assert_true(vlapic_match_dest(l, &ipi, false));
	ipi.dest = 0x03;
	assert_false(vlapic_match_dest(l, &ipi, false));
	ipi.dest = 0xff;
	assert_true(vlapic_match_dest(l, &ipi, false));

	/* Logical cluster: cluster 2, member bit 1. */
	W(APIC_DFR, 0x0fffffff, 0);
	W(APIC_LDR, 0x22000000, 0);
	ipi.dest = 0x23;
	assert_true(vlapic_match_dest(l, &ipi, false));
	ipi.dest = 0x21;
	assert_false(vlapic_match_dest(l, &ipi, false));
	ipi.dest = 0x32;
	assert_false(vlapic_match_dest(l, &ipi, false));

	/* Physical after an ID write. */
	ipi.logical = false;
	W(APIC_ID, 0x07000000, 0);
	ipi.dest = 7;
	assert_true(vlapic_match_dest(l, &ipi, false));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reset_state),
		cmocka_unit_test(test_software_disabled),
		cmocka_unit_test(test_priority_and_eoi),
		cmocka_unit_test(test_tpr_ppr),
		cmocka_unit_test(test_apr),
		cmocka_unit_test(test_icr),
		cmocka_unit_test(test_error_lvt),
		cmocka_unit_test(test_register_masks),
		cmocka_unit_test(test_read_only_and_reserved),
		cmocka_unit_test(test_timer_oneshot),
		cmocka_unit_test(test_timer_divide),
		cmocka_unit_test(test_timer_periodic),
		cmocka_unit_test(test_timer_min_period),
		cmocka_unit_test(test_timer_masked_and_tsc_deadline),
		cmocka_unit_test(test_timer_bus_clock),
		cmocka_unit_test(test_match_dest),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
