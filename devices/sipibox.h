/*
 * A vCPU's INIT and SIPI state: INITs and SIPIs are posted by other vCPUs' threads and taken
 * by the owner before each VM entry, so no sender ever waits for the target to reset (a
 * cycle of INITs between vCPUs would otherwise hold their CPUs waiting for each other).
 * Pure C, header only: the kernel (pc/irq.c) and the host race test
 * (tests/unit/test_sipibox.c) use the same code.
 *
 * The rule a CPU follows: a SIPI is taken only by a CPU in wait-for-SIPI, and ignored by
 * one that runs. Here an INIT is pending until its owner takes it, so a SIPI that finds an
 * INIT pending is kept too (the INIT came first; the owner will be waiting by the time it
 * looks), which is what lets INIT-SIPI be sent back to back (kvm-unit-tests does). One lock
 * orders the sender's check against the owner taking an INIT or a SIPI, so a vector is
 * never left behind in a vCPU that already runs (a later INIT would start it without a SIPI
 * of its own). The lock is held for a few loads and stores, never across a wait.
 */
#ifndef EPTVISOR_DEVICES_SIPIBOX_H
#define EPTVISOR_DEVICES_SIPIBOX_H

#include "spinlock.h"
#include "types.h"

struct sipibox {
	spinlock_t lock;
	bool init_pending; /* an INIT was posted and not yet taken */
	bool waiting;      /* the owner is in wait-for-SIPI */
	int vector;        /* -1, or a SIPI's vector kept for the owner */
};

/* Before any sender can see it: running (a BSP) or waiting for a SIPI (an AP). */
static inline void sipibox_init(struct sipibox *b, bool waiting)
{
	b->lock = (spinlock_t)SPINLOCK_INIT;
	b->init_pending = false;
	b->waiting = waiting;
	b->vector = -1;
}

/* Any thread: an INIT for the owner. The caller then wakes or kicks the owner. */
static inline void sipibox_post_init(struct sipibox *b)
{
	spin_lock(&b->lock);
	/* RELAXED: the lock orders it for senders; the owner's lock-free peek only needs to
	 * see it eventually (the caller's wake flag or kick makes it look). */
	__atomic_store_n(&b->init_pending, true, __ATOMIC_RELAXED);
	spin_unlock(&b->lock);
}

/* Any thread: a SIPI with vector. Kept when the owner waits for one or has an INIT
 * pending (true), else ignored as a running CPU ignores it (false). */
static inline bool sipibox_post_sipi(struct sipibox *b, u8 vector)
{
	bool kept;

	spin_lock(&b->lock);
	kept = b->init_pending || b->waiting;
	if (kept)
		b->vector = vector;
	spin_unlock(&b->lock);
	return kept;
}

/* Owner, lock-free: is an INIT pending? A stale false only delays it to the next look. */
static inline bool sipibox_init_pending(struct sipibox *b)
{
	/* RELAXED: a hint; sipibox_take_init decides under the lock. */
	return __atomic_load_n(&b->init_pending, __ATOMIC_RELAXED);
}

/* Owner: take a pending INIT (true), entering wait-for-SIPI. A SIPI kept after the INIT
 * stays for sipibox_take_sipi. */
static inline bool sipibox_take_init(struct sipibox *b)
{
	bool taken;

	spin_lock(&b->lock);
	taken = b->init_pending;
	if (taken) {
		b->waiting = true;
		/* RELAXED: under the lock, as in sipibox_post_init. */
		__atomic_store_n(&b->init_pending, false, __ATOMIC_RELAXED);
	}
	spin_unlock(&b->lock);
	return taken;
}

/* Owner, while waiting: the vector of a kept SIPI (leaving wait-for-SIPI), or -1. An INIT
 * still pending comes first (-1: take it, then look again): the owner's lock-free peek may
 * have missed an INIT posted just before this SIPI, and a CPU that starts on the SIPI and
 * is reset by the older INIT afterwards would end up waiting. The lock also makes visible
 * what the SIPI's sender wrote before posting (the AP's trampoline). */
static inline int sipibox_take_sipi(struct sipibox *b)
{
	int vector;

	spin_lock(&b->lock);
	vector = b->waiting && !b->init_pending ? b->vector : -1;
	if (vector >= 0) {
		b->waiting = false;
		b->vector = -1;
	}
	spin_unlock(&b->lock);
	return vector;
}

#endif
