/*
 * Assertions: ASSERT(cond) states an invariant that must hold, WARN_ON(cond) names a state
 * that should never occur but that the code survives (Linux's polarity: it warns when cond
 * is true). Where they are checked:
 *   - host tests (hosted builds): both through the C library's assert(), so a broken
 *     invariant aborts the test with file, line and expression;
 *   - the debug kernel (`make kernel DEBUG=1`, build/debug/): ASSERT panics with
 *     "PANIC at file:line: ASSERT(cond)", WARN_ON prints "WARN at file:line: cond" and goes
 *     on (lib/assert.c);
 *   - the normal kernel and the guests: compiled out. The condition is type-checked but
 *     never evaluated, so it may be as costly as it likes and the fast paths stay as they
 *     are. It must therefore have no side effect.
 * Pure code (ept/, devices/, loader/) may use them: in the kernel they call lib/assert.c.
 */
#ifndef EPTVISOR_KASSERT_H
#define EPTVISOR_KASSERT_H

#include "types.h"

#if __STDC_HOSTED__
#include <assert.h>
#define ASSERT(cond)  assert(cond)
#define WARN_ON(cond) assert(!(cond))
#elif defined(DEBUG)
NORETURN void assert_failed(const char *file, int line, const char *expr);
void warn_at(const char *file, int line, const char *expr);
#define ASSERT(cond)                                                                               \
	do {                                                                                       \
		if (!(cond))                                                                       \
			assert_failed(__FILE__, __LINE__, #cond);                                  \
	} while (0)
#define WARN_ON(cond)                                                                              \
	do {                                                                                       \
		if (cond)                                                                          \
			warn_at(__FILE__, __LINE__, #cond);                                        \
	} while (0)
#else
#define ASSERT(cond)  ((void)sizeof(!(cond)))
#define WARN_ON(cond) ((void)sizeof(!(cond)))
#endif

#endif
