/*
 * libFuzzer target: the input bytes choose a sequence of EPT operations (the same executor
 * as the model-based test, ept_model.c), each checked against the reference model. Build:
 * make build/unit/fuzz_ept; run: make fuzz (or the harness's bounded run in make test).
 *
 * Every input runs MAX_STEPS operations: its bytes choose the first ones, a generator seeded
 * from them the rest. Bugs need a few dozen operations to set up (a write-protect ending one
 * page into another leaf took the plain byte-driven version more than two minutes to reach,
 * libFuzzer growing inputs slowly; this one finds it in seconds).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ept_model.h"

#define MAX_STEPS 32

struct bytes {
	const u8 *p;
	size_t n;
	u64 prng; /* splitmix64 state once the bytes are used up */
};

void model_fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

/* Four input bytes per choice; once they are used up, a generator seeded from all of them,
 * so that a short input still runs MAX_STEPS operations (its bytes choose the first ones). */
static u64 next(void *ctx)
{
	struct bytes *b = ctx;
	u32 v = 0;
	size_t k = b->n < 4 ? b->n : 4;
	u64 z;

	if (k) {
		memcpy(&v, b->p, k);
		b->p += k;
		b->n -= k;
		return v;
	}
	z = (b->prng += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static u64 seed_of(const u8 *data, size_t size)
{
	u64 h = 0xcbf29ce484222325ULL; /* FNV-1a */

	for (size_t i = 0; i < size; i++)
		h = (h ^ data[i]) * 0x100000001b3ULL;
	return h;
}

int LLVMFuzzerTestOneInput(const u8 *data, size_t size);

int LLVMFuzzerTestOneInput(const u8 *data, size_t size)
{
	struct bytes b = { data, size, seed_of(data, size) };
	struct model *m = model_new(next, &b, true);

	for (int i = 0; i < MAX_STEPS; i++)
		model_step(m);
	model_free(m);
	return 0;
}
