/*
 * devices/irqbox.h: the IPI mailbox alone, then its protocol under real threads.
 *
 * The race tests model pc/irq.c. A target thread plays a vCPU: take the posted vectors,
 * publish in_guest (SEQ_CST, as vcpu_flush_before_entry does), recheck with irqbox_any and,
 * when it is empty, "run the guest" until a kick arrives, like a guest halted until its next
 * IPI (a kick that lands outside the guest is lost, as an NMI taken by the host is). Sender
 * threads play the other vCPUs: post a batch of their own vectors, then follow the sender
 * rule (kick until !in_guest or the box is empty), then check, without kicking any more,
 * that the target takes every vector of the batch. A vector the target left behind when it
 * entered the guest is never taken there: the check times out and the test fails.
 *
 * Each post carries a sequence number in a plain (non-atomic) payload that the target reads
 * when it takes the vector: a vector taken twice or a stale payload is an error, and under
 * ThreadSanitizer (build/unit/tsan_irqbox) a post or take without release/acquire is a race.
 * A sender posts a vector again only once the target has taken it, so posts do not coalesce
 * and each vector is taken exactly as many times as it was posted.
 */
/* cmocka.h needs these first */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

/* cmocka.h needs the headers above it. */
#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "devices/irqbox.h"

#define BATCHES     100000 /* per sender */
#define MAX_BATCH   4
#define KICK_EVERY  64 /* spins between kicks, as vcpu_kick_until re-sends its NMI */
#define TIMEOUT_NS  (10 * 1000000000ULL) /* any single wait: generous even under TSan */
#define MAX_SENDERS 3

struct race {
	struct irqbox box;
	u32 in_guest, kick, stop, failed;
	bool sleeping;    /* the target waits in "HLT" (irqbox_may_sleep) */
	u32 wake;         /* the wake IPI: pending until the sleeper takes it */
	u32 payload[256]; /* plain: the post's sequence number, written by the vector's sender */
	u32 seen[256];    /* the last payload the target took (atomic) */
	u64 posts[256];   /* sender-owned */
	u64 takes[256];   /* target-owned */
	u64 entries, rechecks_failed, kicks, waits, sleeps, wakes;
	int nsenders;
	char why[200];
};

struct sender {
	struct race *r;
	int id;
	u64 rng;
};

static void relax(void)
{
	__builtin_ia32_pause();
}

static u64 now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (u64)t.tv_sec * 1000000000ULL + (u64)t.tv_nsec;
}

static u64 rnd(u64 *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dULL;
}

static void race_fail(struct race *r, const char *why, int a, u64 b)
{
	/* Only the first failure's text is kept; the flag stops every thread. */
	if (!__atomic_exchange_n(&r->failed, 1, __ATOMIC_ACQ_REL))
		snprintf(r->why, sizeof(r->why), why, a, (unsigned long long)b);
}

static bool failed(struct race *r)
{
	return __atomic_load_n(&r->failed, __ATOMIC_ACQUIRE);
}

/* Spin-wait step: give the CPU away now and then (more threads than CPUs) and report a
 * timeout. */
static bool still_waiting(u64 spins, u64 deadline)
{
	relax();
	if (spins % 256 == 0)
		sched_yield();
	return spins % 1024 != 0 || now_ns() < deadline;
}

/* ---- one thread ----------------------------------------------------------------------- */

struct taken {
	u8 v[256];
	int n;
};

static void collect(void *arg, u8 vector)
{
	struct taken *t = arg;

	t->v[t->n++] = vector;
}

static void test_each_vector(void **state)
{
	struct irqbox b = { 0 };
	struct taken t;

	(void)state;
	for (int v = 0; v < 256; v++) {
		assert_true(irqbox_empty_acquire(&b));
		assert_false(irqbox_any(&b));
		irqbox_post(&b, (u8)v);
		assert_true(irqbox_any(&b));
		assert_false(irqbox_empty_acquire(&b));
		t.n = 0;
		assert_int_equal(irqbox_take(&b, collect, &t), 1);
		assert_int_equal(t.n, 1);
		assert_int_equal(t.v[0], v);
		assert_true(irqbox_empty_acquire(&b));
	}
}

/* Posted twice, in any order: taken once each, in ascending order; then nothing. */
static void test_all_vectors_coalesce(void **state)
{
	struct irqbox b = { 0 };
	struct taken t = { .n = 0 };

	(void)state;
	for (int round = 0; round < 2; round++)
		for (int v = 255; v >= 0; v--)
			irqbox_post(&b, (u8)v);
	assert_int_equal(irqbox_take(&b, collect, &t), 256);
	assert_int_equal(t.n, 256);
	for (int v = 0; v < 256; v++)
		assert_int_equal(t.v[v], v);
	assert_int_equal(irqbox_take(&b, collect, &t), 0);
	assert_int_equal(t.n, 256);
	assert_false(irqbox_any(&b));
}

/* ---- the target ------------------------------------------------------------------------- */

static void target_took(void *arg, u8 v)
{
	struct race *r = arg;
	u32 p = r->payload[v]; /* plain: ordered by the post's release and the take's acquire */

	if (p <= r->seen[v])
		race_fail(r, "vector %d taken again without a new post (payload %llu)", v, p);
	r->takes[v]++;
	/* RELEASE: the sender that sees this may write the payload again. */
	__atomic_store_n(&r->seen[v], p, __ATOMIC_RELEASE);
}

/* The guest runs until it is kicked (a halted guest waiting for its next IPI). */
static void run_guest(struct race *r)
{
	r->entries++;
	while (!__atomic_exchange_n(&r->kick, 0, __ATOMIC_ACQUIRE) &&
	       !__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE) && !failed(r))
		relax();
}

static void *target(void *arg)
{
	struct race *r = arg;

	while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE) && !failed(r)) {
		irqbox_take(&r->box, target_took, r);
		/* A kick that arrives before the entry is taken by the host: it does not make
		 * the guest exit, so senders must kick again (they do, every KICK_EVERY spins). */
		__atomic_store_n(&r->kick, 0, __ATOMIC_RELAXED);
		/* SEQ_CST: the store half of the Dekker pair (vcpu_flush_before_entry). */
		__atomic_store_n(&r->in_guest, 1, __ATOMIC_SEQ_CST);
		if (irqbox_any(&r->box))
			r->rechecks_failed++;
		else
			run_guest(r);
		/* RELEASE: a sender that sees us out sees the takes before. */
		__atomic_store_n(&r->in_guest, 0, __ATOMIC_RELEASE);
		/* One round in eight, wait "halted" instead: only a wake IPI ends the sleep (no
		 * timer), so a lost wake-up leaves a vector behind and its sender reports it. */
		irqbox_take(&r->box, target_took, r);
		if (r->entries % 8 == 1 && irqbox_may_sleep(&r->box, &r->sleeping)) {
			r->sleeps++;
			while (!__atomic_exchange_n(&r->wake, 0, __ATOMIC_ACQUIRE) &&
			       !__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE) && !failed(r))
				relax();
		}
		__atomic_store_n(&r->sleeping, false, __ATOMIC_RELAXED);
	}
	return NULL;
}

/* ---- the senders ------------------------------------------------------------------------ */

/* vcpu_kick_until(t, ipi_seen): kick until the target is out of the guest or took it all;
 * first wake it if it sleeps (wake_sleeper). */
static void sender_wait(struct race *r, int id)
{
	u64 deadline = now_ns() + TIMEOUT_NS, spins = 0;

	if (irqbox_sleeper(&r->sleeping)) {
		__atomic_store_n(&r->wake, 1, __ATOMIC_RELEASE);
		__atomic_fetch_add(&r->wakes, 1, __ATOMIC_RELAXED);
	}

	/* SEQ_CST load: after our SEQ_CST post (the load half of the Dekker pair). */
	while (__atomic_load_n(&r->in_guest, __ATOMIC_SEQ_CST) && !irqbox_empty_acquire(&r->box)) {
		if (spins % KICK_EVERY == 0) {
			__atomic_store_n(&r->kick, 1, __ATOMIC_RELEASE);
			__atomic_fetch_add(&r->kicks, 1, __ATOMIC_RELAXED);
		}
		if (!still_waiting(++spins, deadline) || failed(r)) {
			race_fail(r,
			          "sender %d: kicked the target for %llu spins, it never took the "
			          "vectors nor left the guest",
			          id, spins);
			return;
		}
	}
	if (spins)
		__atomic_fetch_add(&r->waits, 1, __ATOMIC_RELAXED);
}

/* Without kicking any more: the target must take v (posted as seq) by itself. */
static void sender_check(struct race *r, int v, u32 seq)
{
	u64 deadline = now_ns() + TIMEOUT_NS, spins = 0;

	/* ACQUIRE: pairs with target_took's release; then we may rewrite the payload. */
	while (__atomic_load_n(&r->seen[v], __ATOMIC_ACQUIRE) < seq) {
		if (!still_waiting(++spins, deadline) || failed(r)) {
			race_fail(
				r,
				"vector %d left behind: posted as #%llu, the sender rule was met, "
				"the target never took it",
				v, seq);
			return;
		}
	}
}

static bool in_batch(const int *batch, int n, int v)
{
	for (int k = 0; k < n; k++)
		if (batch[k] == v)
			return true;
	return false;
}

static void *sender(void *arg)
{
	struct sender *s = arg;
	struct race *r = s->r;
	int batch[MAX_BATCH];

	for (int i = 0; i < BATCHES && !failed(r); i++) {
		int want = 1 + (int)(rnd(&s->rng) % MAX_BATCH), n = 0;

		/* Vectors v with v % nsenders == id are ours; a vector is posted at most once
		 * a batch (its payload may be rewritten only after the target took it). */
		for (int k = 0; k < want; k++) {
			int v = (int)(rnd(&s->rng) % (256 / r->nsenders)) * r->nsenders + s->id;

			if (in_batch(batch, n, v))
				continue;
			batch[n++] = v;
			r->payload[v] = (u32)++r->posts[v];
			irqbox_post(&r->box, (u8)v);
		}
		sender_wait(r, s->id);
		for (int k = 0; k < n; k++)
			sender_check(r, batch[k], r->payload[batch[k]]);
	}
	return NULL;
}

static void run_race(int nsenders)
{
	static struct race r;
	struct sender s[MAX_SENDERS];
	pthread_t tt, st[MAX_SENDERS];
	u64 posted = 0, taken = 0;

	memset(&r, 0, sizeof(r));
	r.nsenders = nsenders;
	assert_int_equal(pthread_create(&tt, NULL, target, &r), 0);
	for (int i = 0; i < nsenders; i++) {
		s[i] = (struct sender){ .r = &r, .id = i, .rng = 0x9e3779b97f4a7c15ULL * (i + 1) };
		assert_int_equal(pthread_create(&st[i], NULL, sender, &s[i]), 0);
	}
	for (int i = 0; i < nsenders; i++)
		pthread_join(st[i], NULL);
	__atomic_store_n(&r.stop, 1, __ATOMIC_RELEASE);
	pthread_join(tt, NULL);

	printf("# %d sender(s): %llu entries, %llu rechecks that refused the entry, %llu waits, "
	       "%llu kicks, %llu sleeps, %llu wake IPIs\n",
	       nsenders, (unsigned long long)r.entries, (unsigned long long)r.rechecks_failed,
	       (unsigned long long)r.waits, (unsigned long long)r.kicks,
	       (unsigned long long)r.sleeps, (unsigned long long)r.wakes);
	assert_true(r.sleeps > 0);
	if (r.failed)
		fail_msg("%s", r.why);
	for (int v = 0; v < 256; v++) {
		if (r.takes[v] != r.posts[v])
			fail_msg("vector %d: posted %llu times, taken %llu", v,
			         (unsigned long long)r.posts[v], (unsigned long long)r.takes[v]);
		posted += r.posts[v];
		taken += r.takes[v];
	}
	assert_true(posted > 0);
	assert_int_equal(posted, taken);
	assert_false(irqbox_any(&r.box));
}

/* Ping-pong: no other sender's kick can rescue a vector left behind. */
static void test_race_one_sender(void **state)
{
	(void)state;
	run_race(1);
}

static void test_race_three_senders(void **state)
{
	(void)state;
	run_race(3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_each_vector),
		cmocka_unit_test(test_all_vectors_coalesce),
		cmocka_unit_test(test_race_one_sender),
		cmocka_unit_test(test_race_three_senders),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
