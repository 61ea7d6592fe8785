/*
 * A vCPU's mailbox of pending interrupt vectors (256 bits), posted by other vCPUs' threads
 * and taken by the owner before each VM entry. Pure C, header only: the kernel (pc/irq.c)
 * and the host race test (tests/unit/test_irqbox.c) use the same code.
 *
 * The protocol that makes sure no vector is left behind while the target runs the guest
 * (a Dekker pair on `in_guest`, a flag the caller owns):
 *
 *   sender                                 target, before each VM entry
 *   irqbox_post(b, vec)        (SEQ_CST)   irqbox_take(b, ...)           (ACQ_REL)
 *   until (!in_guest           (SEQ_CST)   in_guest = true               (SEQ_CST store)
 *          || irqbox_empty_acquire(b))     if (irqbox_any(b))            (SEQ_CST)
 *           kick the target                        in_guest = false, go back and take
 *                                          else enter the guest
 *
 * Either the sender's load sees in_guest (and kicks until the target has taken the vector or
 * left the guest), or the target's recheck sees the vector (and does not enter). The
 * sender's load of in_guest must itself be SEQ_CST: an ACQUIRE load may be satisfied before
 * the post is visible (allowed by C11, done by ARMv8.3 LDAPR), which breaks the pair.
 *
 * A target that waits in HLT instead (pc/irq.c idle_sleep) makes the same pair on a
 * `sleeping` flag, with a wake IPI in place of the kick: irqbox_may_sleep publishes the flag
 * and rechecks; a sender that posted and then sees it (irqbox_sleeper) sends the IPI, which
 * stays pending if it lands before the HLT.
 */
#ifndef EPTVISOR_DEVICES_IRQBOX_H
#define EPTVISOR_DEVICES_IRQBOX_H

#include "types.h"

#define IRQBOX_WORDS 8

struct irqbox {
	u32 word[IRQBOX_WORDS];
};

/* Mark vector pending; any thread. Bits coalesce: a vector posted twice before the owner
 * takes it is taken once. */
static inline void irqbox_post(struct irqbox *b, u8 vector)
{
	/* SEQ_CST: ordered before the sender's SEQ_CST load of in_guest (the Dekker pair), and
	 * releases what the sender wrote before posting to the irqbox_take that sees the bit. */
	__atomic_fetch_or(&b->word[vector / 32], (u32)BIT(vector % 32), __ATOMIC_SEQ_CST);
}

/* The target's recheck after its SEQ_CST store of in_guest: is any vector pending? */
static inline bool irqbox_any(struct irqbox *b)
{
	for (int i = 0; i < IRQBOX_WORDS; i++)
		/* SEQ_CST: must not be satisfied before the in_guest store is visible (the
		 * StoreLoad half of the Dekker pair with irqbox_post). */
		if (__atomic_load_n(&b->word[i], __ATOMIC_SEQ_CST))
			return true;
	return false;
}

/* The sender's "taken?" test (after it saw in_guest): is every vector taken? */
static inline bool irqbox_empty_acquire(struct irqbox *b)
{
	for (int i = 0; i < IRQBOX_WORDS; i++)
		/* ACQUIRE: a 0 after our post comes from the target's exchange; pairs with its
		 * release, so the sender sees what the target did before taking. */
		if (__atomic_load_n(&b->word[i], __ATOMIC_ACQUIRE))
			return false;
	return true;
}

/* The target, before it sleeps: publish `sleeping`, then may it sleep (nothing pending)? */
static inline bool irqbox_may_sleep(struct irqbox *b, bool *sleeping)
{
	/* SEQ_CST: the store half of the Dekker pair with irqbox_sleeper. */
	__atomic_store_n(sleeping, true, __ATOMIC_SEQ_CST);
	return !irqbox_any(b);
}

/* A sender, after its post: is the target asleep (must it send the wake IPI)? */
static inline bool irqbox_sleeper(bool *sleeping)
{
	/* SEQ_CST: the load half, after the SEQ_CST post. */
	return __atomic_load_n(sleeping, __ATOMIC_SEQ_CST);
}

/* Owner only: take every pending vector, calling fn(arg, vector) for each in ascending
 * order. Returns how many were taken. */
static inline int irqbox_take(struct irqbox *b, void (*fn)(void *arg, u8 vector), void *arg)
{
	int n = 0;

	for (int i = 0; i < IRQBOX_WORDS; i++) {
		/* ACQ_REL: each bit is taken exactly once; acquire sees what its poster wrote
		 * before posting, release lets a sender that reads 0 see what we did before. */
		u32 bits = __atomic_exchange_n(&b->word[i], 0, __ATOMIC_ACQ_REL);

		for (; bits; bits &= bits - 1, n++)
			fn(arg, (u8)(i * 32 + __builtin_ctz(bits)));
	}
	return n;
}

#endif
