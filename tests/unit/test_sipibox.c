/*
 * devices/sipibox.h: a vCPU's INIT and SIPI state, alone and then under real threads.
 *
 * The race test models pc/irq.c. The target thread plays an AP: before each "entry" it
 * takes a pending INIT (then waits for a SIPI) and, while waiting, a kept SIPI, which starts
 * it; it reports every start. Sender threads play other vCPUs: one restarts the AP round
 * after round with INIT then SIPI back to back (no wait in between, as kvm-unit-tests
 * does), waiting only for the AP to report the round's vector; between rounds another
 * fires SIPIs with a vector no round uses at the running AP, which must ignore every one
 * while it keeps polling its box. A lost SIPI times out its round; a SIPI kept by the
 * running AP, or a start at a vector not the round's, fails. Under ThreadSanitizer
 * (build/unit/tsan_sipibox) an unordered access to the box or to the round's plain payload
 * (written by the sender before its SIPI, read by the AP after starting, as the AP's
 * trampoline is) is a race.
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
#include <time.h>

#include "devices/sipibox.h"

#ifndef ROUNDS
#define ROUNDS 5000 /* the TSan build runs fewer (sipibox.mk) */
#endif
#define STRAY      0xff /* no round uses it */
#define TIMEOUT_NS (10 * 1000000000ULL)

/* ---- one thread ------------------------------------------------------------------------ */

static void test_running_cpu_ignores_sipi(void **state)
{
	struct sipibox b;

	(void)state;
	sipibox_init(&b, false);
	assert_false(sipibox_post_sipi(&b, 0x10));
	assert_int_equal(sipibox_take_sipi(&b), -1);
	assert_false(sipibox_init_pending(&b));
	assert_false(sipibox_take_init(&b));
}

static void test_waiting_cpu_takes_one_sipi(void **state)
{
	struct sipibox b;

	(void)state;
	sipibox_init(&b, true);
	assert_true(sipibox_post_sipi(&b, 0x08));
	assert_int_equal(sipibox_take_sipi(&b), 0x08);
	/* Running now: a second SIPI (the usual INIT-SIPI-SIPI) is ignored. */
	assert_false(sipibox_post_sipi(&b, 0x08));
	assert_int_equal(sipibox_take_sipi(&b), -1);
}

/* INIT then SIPI before the owner looks: the SIPI is kept for after the INIT. */
static void test_sipi_right_after_init(void **state)
{
	struct sipibox b;

	(void)state;
	sipibox_init(&b, false);
	sipibox_post_init(&b);
	assert_true(sipibox_init_pending(&b));
	assert_true(sipibox_post_sipi(&b, 0x9a));
	assert_true(sipibox_take_init(&b));
	assert_false(sipibox_init_pending(&b));
	assert_int_equal(sipibox_take_sipi(&b), 0x9a);
	assert_int_equal(sipibox_take_sipi(&b), -1);
}

/* A waiting owner whose peek missed an INIT posted before a SIPI: the INIT comes first,
 * so the SIPI starts the reset CPU and the INIT does not stop it afterwards. */
static void test_init_before_sipi_taken_first(void **state)
{
	struct sipibox b;

	(void)state;
	sipibox_init(&b, true);
	sipibox_post_init(&b);
	assert_true(sipibox_post_sipi(&b, 5));
	assert_int_equal(sipibox_take_sipi(&b), -1);
	assert_true(sipibox_take_init(&b));
	assert_int_equal(sipibox_take_sipi(&b), 5);
	assert_false(sipibox_init_pending(&b));
	assert_false(sipibox_post_sipi(&b, 6));
}

/* Several INITs before the owner looks are one reset; a waiting owner stays waiting. */
static void test_inits_coalesce(void **state)
{
	struct sipibox b;

	(void)state;
	sipibox_init(&b, true);
	sipibox_post_init(&b);
	sipibox_post_init(&b);
	assert_true(sipibox_take_init(&b));
	assert_false(sipibox_take_init(&b));
	assert_int_equal(sipibox_take_sipi(&b), -1);
	assert_true(sipibox_post_sipi(&b, 1));
	assert_int_equal(sipibox_take_sipi(&b), 1);
}

/* ---- under threads --------------------------------------------------------------------- */

struct race {
	struct sipibox box;
	u32 started; /* (round << 8) | vector the AP last started at (atomic) */
	u32 payload; /* plain: the round number, written before the round's SIPI */
	u32 spray;   /* 1: the sprayer's turn (the AP runs, no INIT pending) */
	u32 stop, failed;
	u64 strays, restarts, retries;
	char why[160];
};

static u64 now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (u64)t.tv_sec * 1000000000ULL + (u64)t.tv_nsec;
}

static void race_fail(struct race *r, const char *why, u64 a)
{
	if (!__atomic_exchange_n(&r->failed, 1, __ATOMIC_ACQ_REL))
		snprintf(r->why, sizeof(r->why), why, (unsigned long long)a);
}

static bool done(struct race *r)
{
	return __atomic_load_n(&r->stop, __ATOMIC_ACQUIRE) ||
	       __atomic_load_n(&r->failed, __ATOMIC_ACQUIRE);
}

/* The AP: before each "entry", take an INIT, and while waiting a SIPI (runnable()). */
static void *ap(void *arg)
{
	struct race *r = arg;

	while (!done(r)) {
		u32 round;
		int v;

		if (sipibox_init_pending(&r->box))
			sipibox_take_init(&r->box);
		v = sipibox_take_sipi(&r->box);
		if (v < 0) {
			__builtin_ia32_pause();
			continue;
		}
		if (v == STRAY) {
			race_fail(r, "a SIPI sent to the running AP started it (after %llu starts)",
			          r->restarts);
			break;
		}
		round = r->payload; /* plain: ordered after the sender's write by the box's lock */
		if ((round % STRAY) != (u32)v)
			race_fail(r,
			          "the AP started at a vector that is not its round's (round %llu)",
			          round);
		r->restarts++;
		/* RELEASE: the sender that sees this start may write the next payload. */
		__atomic_store_n(&r->started, (round << 8) | (u32)v, __ATOMIC_RELEASE);
	}
	return NULL;
}

/* Wait until *p == want (ACQUIRE); false on a timeout or when the race is over. */
static bool wait_u32(struct race *r, u32 *p, u32 want)
{
	u64 deadline = now_ns() + TIMEOUT_NS;

	for (u64 spins = 1; __atomic_load_n(p, __ATOMIC_ACQUIRE) != want; spins++) {
		if (done(r) || (spins % 1024 == 0 && now_ns() > deadline))
			return false;
		if (spins % 256 == 0)
			sched_yield();
	}
	return true;
}

/* INIT and SIPI back to back, round after round; each round waits for its own start, then
 * lets the sprayer fire SIPIs at the running AP and waits for it to finish. */
static void *restarter(void *arg)
{
	struct race *r = arg;

	for (u32 round = 1; round <= ROUNDS && !done(r); round++) {
		u32 vec = round % STRAY;

		r->payload = round; /* plain: published by the SIPI's lock */
		sipibox_post_init(&r->box);
		if (!sipibox_post_sipi(&r->box, (u8)vec)) {
			race_fail(r, "round %llu: a SIPI right after an INIT was ignored", round);
			break;
		}
		if (!wait_u32(r, &r->started, (round << 8) | vec)) {
			race_fail(r, "round %llu: the SIPI after its INIT was lost", round);
			break;
		}
		/* RELEASE: the sprayer sees the AP started. */
		__atomic_store_n(&r->spray, 1, __ATOMIC_RELEASE);
		if (!wait_u32(r, &r->spray, 0))
			break;
	}
	__atomic_store_n(&r->stop, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* SIPIs at the running AP (no INIT pending): every one must be ignored. */
static void *sprayer(void *arg)
{
	struct race *r = arg;

	while (!done(r)) {
		if (!wait_u32(r, &r->spray, 1))
			continue;
		for (int i = 0; i < 3; i++, r->strays++)
			if (sipibox_post_sipi(&r->box, STRAY))
				race_fail(r, "a running AP kept a SIPI (after %llu strays)",
				          r->strays);
		/* RELEASE: hand the turn back. */
		__atomic_store_n(&r->spray, 0, __ATOMIC_RELEASE);
	}
	return NULL;
}

static void test_race_init_sipi(void **state)
{
	static struct race r;
	pthread_t t[3];

	(void)state;
	sipibox_init(&r.box, true);
	assert_int_equal(pthread_create(&t[0], NULL, ap, &r), 0);
	assert_int_equal(pthread_create(&t[1], NULL, restarter, &r), 0);
	assert_int_equal(pthread_create(&t[2], NULL, sprayer, &r), 0);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	printf("sipibox race: %llu restarts, %llu SIPIs at a running AP ignored\n",
	       (unsigned long long)r.restarts, (unsigned long long)r.strays);
	if (r.failed)
		fail_msg("%s", r.why);
	assert_int_equal(r.restarts, ROUNDS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_running_cpu_ignores_sipi),
		cmocka_unit_test(test_waiting_cpu_takes_one_sipi),
		cmocka_unit_test(test_sipi_right_after_init),
		cmocka_unit_test(test_init_before_sipi_taken_first),
		cmocka_unit_test(test_inits_coalesce),
		cmocka_unit_test(test_race_init_sipi),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
