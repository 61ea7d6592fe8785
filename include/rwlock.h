/*
 * A reader/writer spinlock built only on GCC __atomic builtins, so the same lock serves the
 * kernel and the host tests (where real pthreads contend for it). One word: the number of
 * readers in the low bits, RW_WRITER while a writer holds it, RW_WAITING while a writer waits
 * for the readers to leave. New readers stay out while a writer waits, so a stream of
 * readers (faults) never starves a writer (an unmap, a collapse); writers may starve readers,
 * which is why the MMU's writers hold it only in bounded chunks (ept/core.c).
 */
#ifndef EPTVISOR_RWLOCK_H
#define EPTVISOR_RWLOCK_H

#include "spinlock.h"
#include "types.h"

typedef struct {
	u32 word;
} rwlock_t;

#define RW_WRITER  (1u << 31)
#define RW_WAITING (1u << 30)

static inline bool read_trylock(rwlock_t *l)
{
	u32 v = __atomic_load_n(&l->word, __ATOMIC_RELAXED);

	/* ACQUIRE on success: the section's accesses stay after taking the lock. */
	return !(v & (RW_WRITER | RW_WAITING)) &&
	       __atomic_compare_exchange_n(&l->word, &v, v + 1, false, __ATOMIC_ACQUIRE,
	                                   __ATOMIC_RELAXED);
}

static inline void read_lock(rwlock_t *l)
{
	while (!read_trylock(l))
		while (__atomic_load_n(&l->word, __ATOMIC_RELAXED) & (RW_WRITER | RW_WAITING))
			cpu_relax();
}

static inline void read_unlock(rwlock_t *l)
{
	/* RELEASE: the section's accesses are done before a writer can see no readers. */
	__atomic_fetch_sub(&l->word, 1, __ATOMIC_RELEASE);
}

static inline bool write_trylock(rwlock_t *l)
{
	u32 v = __atomic_load_n(&l->word, __ATOMIC_RELAXED);

	/* Free, or only our own (or another waiting writer's) RW_WAITING left. ACQUIRE: as
	 * spin_lock. */
	return (v == 0 || v == RW_WAITING) &&
	       __atomic_compare_exchange_n(&l->word, &v, RW_WRITER, false, __ATOMIC_ACQUIRE,
	                                   __ATOMIC_RELAXED);
}

static inline void write_lock(rwlock_t *l)
{
	while (!write_trylock(l)) {
		/* RELAXED: only a request that keeps new readers out; the cmpxchg above is
		 * what takes the lock. Set again if an unlock cleared it. */
		if (!(__atomic_load_n(&l->word, __ATOMIC_RELAXED) & RW_WAITING))
			__atomic_fetch_or(&l->word, RW_WAITING, __ATOMIC_RELAXED);
		cpu_relax();
	}
}

static inline void write_unlock(rwlock_t *l)
{
	/* RELEASE: as spin_unlock. Clears RW_WAITING too: a writer still waiting sets it
	 * again. */
	__atomic_store_n(&l->word, 0, __ATOMIC_RELEASE);
}

/* Held in either mode (for assertions). */
static inline bool rw_is_locked(rwlock_t *l)
{
	return (__atomic_load_n(&l->word, __ATOMIC_RELAXED) & ~RW_WAITING) != 0;
}

static inline bool rw_is_write_locked(rwlock_t *l)
{
	return (__atomic_load_n(&l->word, __ATOMIC_RELAXED) & RW_WRITER) != 0;
}

#endif
