/*
 * libFuzzer target: the input bytes choose a sequence of EPT operations (the same executor
 * as the model-based test, ept_model.c), each checked against the reference model. Build:
 * make build/unit/fuzz_ept; run: make fuzz (or the harness's bounded run in make test).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ept_model.h"

#define MAX_STEPS 64

struct bytes {
	const u8 *p;
	size_t n;
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

/* Four input bytes per choice; zeros once the input is used up. */
static u64 next(void *ctx)
{
	struct bytes *b = ctx;
	u32 v = 0;
	size_t k = b->n < 4 ? b->n : 4;

	memcpy(&v, b->p, k);
	b->p += k;
	b->n -= k;
	return v;
}

int LLVMFuzzerTestOneInput(const u8 *data, size_t size);

int LLVMFuzzerTestOneInput(const u8 *data, size_t size)
{
	struct bytes b = {data, size};
	struct model *m = model_new(next, &b, true);

	for (int i = 0; i < MAX_STEPS && b.n > 0; i++)
		model_step(m);
	model_free(m);
	return 0;
}
