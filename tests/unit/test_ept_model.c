/*
 * Randomized model-based test of the EPT: random sequences of every operation (map, unmap,
 * write-protect, split, collapse in each mode, simulated reads and writes with the fault
 * handler, A/D scans by two trackers, dirty logs in each mode, allocation failures) applied
 * to the EPT and to a naive model (ept_model.c), compared after every step.
 *
 * Each seed is printed; replay one with EPT_MODEL_SEED=<seed> (and EPT_MODEL_STEPS=<n>).
 */
/* cmocka.h needs these first */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

/* cmocka.h needs the headers above it. */
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "ept_model.h"

static u64 seed_of_run;

void model_fail(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fail_msg("seed %llu: %s\nreplay: EPT_MODEL_SEED=%llu build/unit/test_ept_model",
	         (unsigned long long)seed_of_run, msg, (unsigned long long)seed_of_run);
	abort(); /* not reached */
}

/* xorshift64* */
static u64 next(void *ctx)
{
	u64 *s = ctx;

	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dULL;
}

static u64 env_u64(const char *name, u64 dflt)
{
	const char *v = getenv(name);

	return v && *v ? strtoull(v, NULL, 0) : dflt;
}

static void run_seed(u64 seed, u64 steps)
{
	u64 state = seed ? seed : 1;
	struct model *m;

	seed_of_run = seed;
	printf("ept_model: seed %llu, %llu steps\n", (unsigned long long)seed,
	       (unsigned long long)steps);
	fflush(stdout);
	m = model_new(next, &state, false);
	for (u64 i = 0; i < steps; i++)
		model_step(m);
	model_free(m);
}

static void test_random_sequences(void **state)
{
	u64 seed = env_u64("EPT_MODEL_SEED", 0), steps = env_u64("EPT_MODEL_STEPS", 400);
	u64 base = (u64)time(NULL) * 1000003ULL;

	(void)state;
	if (seed) {
		run_seed(seed, steps);
		return;
	}
	for (u64 i = 0; i < env_u64("EPT_MODEL_SEEDS", 12); i++)
		run_seed(base + i, steps);
}

/* A few fixed seeds, so every run also covers the same ground. */
static void test_fixed_seeds(void **state)
{
	static const u64 seeds[] = { 1, 2, 3, 42, 4242, 0xdeadbeef };

	(void)state;
	for (unsigned i = 0; i < ARRAY_SIZE(seeds); i++)
		run_seed(seeds[i], 300);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixed_seeds),
		cmocka_unit_test(test_random_sequences),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
