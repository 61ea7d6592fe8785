/*
 * libFuzzer target: the virtual local APIC (devices/vlapic.c), driven as the kernel drives it:
 * register writes by either exit kind (APIC-write: the CPU already stored the value in the
 * page; APIC-access: the page is untouched), trapped reads, interrupts arriving, the timer
 * polled as time moves forward, and the inject cycle (pending -> accept -> EOI).
 *
 * Input: 7-byte operations {what, offset, value32, time step}.
 *
 * Checked after every operation:
 *   ISR/IRR: no vector below 16 is ever requested or in service; TMR stays 0 (no level
 *     interrupts); the page's PPR equals the PPR a trapped read computes, and follows the
 *     SDM formula from TPR and the highest in-service vector
 *   pending: -1 or the highest IRR vector, in [16, 255], whose class beats the PPR's; -1
 *     while software-disabled; accepting it moves it from IRR to ISR; EOI retires the highest
 *     in-service vector; the TPR threshold is a class 0-15
 *   registers keep to their writable bits (ID, LDR, DFR, SVR, TPR, LVTs, TDCR, ICR, ESR), VER
 *     is constant, reserved and misaligned offsets read 0, every read of a 1-4 byte access
 *     fits in its width
 *   timer: the deadline is 0 or after the time it was armed/polled at, and no further away
 *     than the longest count allows (2^32 counts at divide 128); after a poll at now it is 0
 *     or > now; the current count never exceeds the initial count
 *   ICR: a decoded IPI has delivery mode 0-7 but not 3/7, shorthand 0-3, the ICR_HI
 *     destination, and a fixed/lowest-priority IPI has a legal vector
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/vlapic.h"
#include "errno.h"
#include "tests/unit/fuzz.h"

static u32 page[1024] __attribute__((aligned(4096)));

static u32 R(u32 off)
{
	return page[off >> 2];
}

static int highest(u32 base)
{
	for (int i = 7; i >= 0; i--)
		if (R(base + i * 0x10))
			return i * 32 + 31 - __builtin_clz(R(base + i * 0x10));
	return -1;
}

static bool bit(u32 base, int v)
{
	return R(base + (v / 32) * 0x10) & (1U << (v % 32));
}

/* The offsets a write may reach the page through an APIC-write exit (SDM 29.4.3.2). */
static bool write_virtualized(u32 off)
{
	return off == APIC_TPR || off == APIC_EOI || off == APIC_LDR || off == APIC_DFR ||
	       off == APIC_SVR || off == APIC_ESR || off == APIC_ICR_LO || off == APIC_ICR_HI ||
	       (off >= APIC_LVT_TIMER && off <= APIC_LVT_ERROR) || off == APIC_TMICT ||
	       off == APIC_TDCR;
}

static bool reserved(u32 off)
{
	return off < APIC_ID || off == 0x40 || off == 0x50 || off == 0x60 || off == 0x70 ||
	       (off > APIC_ESR && off < APIC_ICR_LO) || (off > APIC_TMCCT && off != APIC_TDCR) ||
	       off >= 0x400;
}

static void check_state(struct vlapic *l, u64 now)
{
	u32 tpr = R(APIC_TPR), ppr;
	int isrv = highest(APIC_ISR), irrv = highest(APIC_IRR), pend;

	for (int i = 0; i < 8; i++)
		CHECK(R(APIC_TMR + i * 0x10) == 0);
	CHECK((R(APIC_ISR) & 0xffff) == 0 && (R(APIC_IRR) & 0xffff) == 0);
	CHECK(tpr <= 0xff);
	ppr = (tpr & 0xf0) >= (u32)(isrv < 0 ? 0 : isrv & 0xf0) ? tpr : (u32)isrv & 0xf0;
	CHECK(R(APIC_PPR) == ppr && vlapic_read(l, APIC_PPR, now) == ppr);
	CHECK(R(APIC_VER) == APIC_VERSION);
	CHECK((R(APIC_ID) & 0xffffff) == 0 && (R(APIC_LDR) & 0xffffff) == 0);
	CHECK((R(APIC_DFR) & 0x0fffffff) == 0x0fffffff);
	CHECK(R(APIC_SVR) <= 0x3ff && R(APIC_EOI) == 0);
	CHECK((R(APIC_TDCR) & ~0xbU) == 0 && (R(APIC_ICR_LO) & ~0xccfffU) == 0);
	CHECK((R(APIC_ICR_HI) & 0xffffff) == 0 && (R(APIC_ESR) & ~0xe0U) == 0);
	CHECK((R(APIC_LVT_TIMER) & ~0x700ffU) == 0 && (R(APIC_LVT_ERROR) & ~0x100ffU) == 0);
	CHECK((R(APIC_LVT_LINT0) & ~0x1a7ffU) == 0 && (R(APIC_LVT_LINT1) & ~0x1a7ffU) == 0);
	CHECK((R(APIC_LVT_THERMAL) & ~0x107ffU) == 0 && (R(APIC_LVT_PERF) & ~0x107ffU) == 0);
	if (!(R(APIC_SVR) & APIC_SVR_ENABLE))
		for (u32 off = APIC_LVT_TIMER; off <= APIC_LVT_ERROR; off += 0x10)
			CHECK(R(off) & APIC_LVT_MASKED);
	pend = vlapic_pending(l);
	if (!(R(APIC_SVR) & APIC_SVR_ENABLE) || irrv < 0 || (irrv & 0xf0) <= (int)(ppr & 0xf0))
		CHECK(pend == -1);
	else
		CHECK(pend == irrv && pend >= 16 && pend <= 255);
	CHECK(vlapic_tpr_threshold(l) <= 15);
	CHECK(vlapic_read(l, APIC_TMCCT, now) <= R(APIC_TMICT));
	if (l->timer_deadline_ns)
		/* 2^32 counts at divide 128, in ns at this bus clock, rounded up. */
		CHECK(l->timer_deadline_ns - l->timer_base_ns <=
		      (1ULL << 39) * (1000000000ULL / l->bus_hz) + 1);
}

static void do_write(struct vlapic *l, u32 off, u32 val, bool trap, u64 now)
{
	struct vlapic_ipi ipi = { 0 };
	int r;

	if (trap && write_virtualized(off))
		page[off >> 2] = val; /* the CPU stored it before the APIC-write exit */
	r = vlapic_write(l, off, val, now, &ipi);
	CHECK(r == 0 || r == 1 || r == -EPERM || r == -EINVAL);
	if (off == APIC_TMICT && val)
		CHECK(l->timer_deadline_ns == 0 || l->timer_deadline_ns > now);
	if (r != 1)
		return;
	CHECK(off == APIC_ICR_LO);
	CHECK(ipi.delivery <= 7 && ipi.delivery != 3 && ipi.delivery != 7);
	CHECK(ipi.shorthand <= 3 && ipi.dest == R(APIC_ICR_HI) >> 24);
	CHECK(ipi.vector == (val & 0xff));
	if (ipi.delivery == APIC_DM_FIXED || ipi.delivery == APIC_DM_LOWEST)
		CHECK(ipi.vector >= 16);
	if (ipi.shorthand == APIC_SH_SELF)
		CHECK(vlapic_match_dest(l, &ipi, true) && !vlapic_match_dest(l, &ipi, false));
	if (ipi.shorthand == APIC_SH_ALL)
		CHECK(vlapic_match_dest(l, &ipi, true) && vlapic_match_dest(l, &ipi, false));
}

static void do_read(struct vlapic *l, u32 off, u64 now)
{
	u32 v = vlapic_read(l, off, now);
	u32 reg_off = off & ~0xfU;

	if ((off & 0xc) || reserved(reg_off))
		CHECK(v == 0);
	if (off & 3)
		CHECK((v >> (8 * (4 - (off & 3)))) == 0);
}

/* The CPU injects what is pending; the guest's handler EOIs it at once or later. */
static void inject(struct vlapic *l)
{
	int v = vlapic_pending(l);

	if (v < 0)
		return;
	vlapic_accept(l, (u8)v);
	CHECK(!bit(APIC_IRR, v) && bit(APIC_ISR, v) && highest(APIC_ISR) == v);
	CHECK(vlapic_pending(l) == -1 || (vlapic_pending(l) & 0xf0) > (v & 0xf0));
}

static void eoi(struct vlapic *l, u64 now)
{
	int isrv = highest(APIC_ISR);

	do_write(l, APIC_EOI, 0, false, now);
	CHECK(l->eoi_vector == isrv);
	if (isrv >= 0)
		CHECK(!bit(APIC_ISR, isrv));
}

int LLVMFuzzerTestOneInput(const u8 *data, size_t size)
{
	static struct vlapic l;
	u64 now = 1000000;

	if (size < 1)
		return 0;
	vlapic_init(&l, page, data[0], now);
	if (data[0] & 0x80)
		l.bus_hz = 100000000; /* a 100 MHz bus as well as QEMU's 1 GHz */
	check_state(&l, now);
	for (size_t i = 1; i + 7 <= size; i += 7) {
		const u8 *o = data + i;
		u32 val;
		u32 off = (u32)o[1] << 4; /* the register slots; misaligned ones below */

		memcpy(&val, o + 2, 4);
		now += (o[6] & 0x80) ? (u64)(o[6] & 0x7f) << 20 : o[6];
		switch (o[0] & 0xf) {
		case 0:
		case 1:
			do_write(&l, off & 0x3f0, val, o[0] & 1, now);
			break;
		case 2:
			do_write(&l, off | (o[0] >> 4), val, false,
			         now); /* misaligned / out of page */
			break;
		case 3:
			do_read(&l, (off & 0x3f0) | (o[0] >> 4), now);
			break;
		case 4:
			vlapic_set_irr(&l, o[1]);
			break;
		case 5:
		case 6:
			inject(&l);
			break;
		case 7:
			eoi(&l, now);
			break;
		default: {
			u64 before = vlapic_timer_deadline(&l);
			bool fired = vlapic_timer_poll(&l, now);
			u64 after = vlapic_timer_deadline(&l);

			CHECK(after == 0 || after > now);
			CHECK(!fired || (before && before <= now));
			if (before > now)
				CHECK(after == before && !fired);
			break;
		}
		}
		check_state(&l, now);
	}
	return 0;
}
