/*
 * Weak defaults for the optional part of ept/env.h (the CPU index and the wait hint for
 * grace periods, the clock of the lock-hold statistics, data frames for collapse by copy), so a
 * user that has not implemented them still links: every caller is then CPU 0 (right for a
 * single-threaded user only), and collapse by copy reports -ENOMEM and changes nothing. A strong
 * definition anywhere replaces these.
 */
#include "ept/env.h"
#include "spinlock.h"

__attribute__((weak)) unsigned ept_env_cpu(void)
{
	return 0;
}

__attribute__((weak)) u64 ept_env_clock(void)
{
	return 0;
}

__attribute__((weak)) void ept_env_relax(void)
{
	cpu_relax();
}

__attribute__((weak)) hfn_t ept_env_alloc_data(int level)
{
	(void)level;
	return INVALID_HFN;
}

__attribute__((weak)) void *ept_env_data_va(hfn_t hfn)
{
	(void)hfn;
	return NULL;
}

__attribute__((weak)) void ept_env_free_data(struct ept *ept, gfn_t gfn, hfn_t hfn, int level)
{
	(void)ept;
	(void)gfn;
	(void)hfn;
	(void)level;
}
