/*
 * What every libFuzzer target of tests/unit shares: the entry point's prototype and CHECK(),
 * which names the failed invariant and aborts, so libFuzzer keeps the input as a crash.
 */
#ifndef EPTVISOR_TESTS_FUZZ_H
#define EPTVISOR_TESTS_FUZZ_H

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "types.h"

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fprintf(stderr, "%s: check failed: %s (line %d)\n", __FILE__, #c,          \
			        __LINE__);                                                         \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

int LLVMFuzzerTestOneInput(const u8 *data, size_t size);

#endif
