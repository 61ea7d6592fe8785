/*
 * A test-and-test-and-set spinlock built only on GCC __atomic builtins, so the
 * same lock serves the kernel and the host tests (where real pthreads contend for it).
 */
#ifndef EPTVISOR_SPINLOCK_H
#define EPTVISOR_SPINLOCK_H

#include "types.h"

typedef struct {
	u32 locked;
} spinlock_t;

#define SPINLOCK_INIT                                                                              \
	{                                                                                          \
		0                                                                                  \
	}

static inline void cpu_relax(void)
{
	__builtin_ia32_pause();
}

static inline void spin_lock(spinlock_t *l)
{
	/* ACQUIRE: the critical section's loads/stores may not move above taking the lock. */
	while (__atomic_exchange_n(&l->locked, 1, __ATOMIC_ACQUIRE))
		while (__atomic_load_n(&l->locked, __ATOMIC_RELAXED))
			cpu_relax();
}

static inline bool spin_trylock(spinlock_t *l)
{
	return !__atomic_exchange_n(&l->locked, 1, __ATOMIC_ACQUIRE);
}

static inline void spin_unlock(spinlock_t *l)
{
	/* RELEASE: everything written inside is visible before the lock reads free. */
	__atomic_store_n(&l->locked, 0, __ATOMIC_RELEASE);
}

static inline bool spin_is_locked(spinlock_t *l)
{
	return __atomic_load_n(&l->locked, __ATOMIC_RELAXED) != 0;
}

#endif
