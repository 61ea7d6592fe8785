/*
 * A reference model of the EPT for randomized and fuzzed operation sequences: per page of a
 * 2 GiB guest, what the EPT must map (frame, leaf size, permissions, A/D as the simulated
 * hardware set them), the trackers' young bits, and for dirty logs, when each page was last
 * written and last touched. Every operation is applied to both; after each one the whole EPT
 * is compared with the model. Dirty logs are judged by their contract rather than bit for
 * bit: every page written since its bit was last cleared is reported (nothing lost), and
 * every reported page was written or had its mapping changed since then (nothing invented).
 *
 * Used by test_ept_model.c (random seeds) and fuzz_ept.c (libFuzzer input bytes).
 */
#ifndef EPTVISOR_TESTS_EPT_MODEL_H
#define EPTVISOR_TESTS_EPT_MODEL_H

#include "types.h"

#define MODEL_PAGES (2ULL * 512 * 512) /* the guest: 2 GiB, room for two 1G leaves */

struct model;

/* The source of choices: a random generator or the fuzzer's bytes. */
typedef u64 (*model_rand_fn)(void *ctx);

/* A new EPT and an empty model. `fuzz` avoids the slowest operations (1G copies). */
struct model *model_new(model_rand_fn rnd, void *ctx, bool fuzz);

/* One operation chosen by rnd, applied to both, then a full comparison. */
void model_step(struct model *m);

/* Tear down (disable logs, drop trackers, destroy) and check that no table leaked. */
void model_free(struct model *m);

/* The last operation, for failure messages. */
const char *model_last_op(const struct model *m);

/* Called on any disagreement; must not return. Each test program defines it. */
void model_fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

#endif
