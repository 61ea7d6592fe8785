/*
 * Everything ept/ needs from the machine, implemented by its user: the kernel in vmx/ept_env.c,
 * host tests in tests/unit/ept_env_host.c. Nothing else in ept/ touches hardware, so the same
 * files run in the kernel, in unit/race/fuzz tests and in host benchmarks.
 *
 * ept/ calls these with the MMU lock (ept->lock) held unless a comment says otherwise; none
 * may call back into ept/.
 */
#ifndef EPTVISOR_EPT_ENV_H
#define EPTVISOR_EPT_ENV_H

#include "types.h"

struct ept;

/* Pointer through which ept/ reads and writes the table page at host-physical `hpa`. */
void *ept_env_va(hpa_t hpa);

/* A zeroed, 4 KiB-aligned table page; INVALID_HPA when out of memory. */
hpa_t ept_env_alloc_table(void);

/* Give back a table page from ept_env_alloc_table(). ept/ calls it only once no CPU and no
 * lockless walker can reach the page any more (after a flush and a grace period), so the
 * implementation may reuse it at once. */
void ept_env_free_table(hpa_t hpa);

/* Make every CPU drop the translations of this EPT it may cache: INVEPT here and a shootdown
 * of every CPU running a vCPU of the VM. Returns once each has flushed (or left guest mode
 * and will flush before it re-enters). Must not wait for a CPU that is spinning on ept->lock
 * outside guest mode (the caller holds it). */
void ept_env_flush(struct ept *ept);

/* The calling CPU's index modulo EPT_MAX_CPUS, to spread the count of lockless walkers over
 * cache lines (ept_walk_begin). Called without the lock, in the fault path. Correctness does
 * not depend on it (any value < EPT_MAX_CPUS works); two CPUs on one index share a line.
 * Optional: the weak default returns 0. */
unsigned ept_env_cpu(void);

/*
 * Data frames, used only by collapse-by-copy (ept_collapse, EPT_COLLAPSE_COPY). ept/ gives
 * weak defaults that report "no memory" (ept/env_default.c), so a user without them still
 * links; collapse by copy then fails with -ENOMEM and changes nothing.
 */

/* An aligned run of ept_level_pages(level) data frames (level 2: 2 MiB, 3: 1 GiB); its first
 * hfn, or INVALID_HFN. Contents need not be zeroed: ept/ overwrites all of it. */
hfn_t ept_env_alloc_data(int level);

/* Pointer to the data frame run starting at hfn (valid for the whole run). */
void *ept_env_data_va(hfn_t hfn);

/* The EPT no longer maps gfn.. to the run hfn.. of ept_level_pages(level) frames: collapse by
 * copy moved the data into a run from ept_env_alloc_data(), now mapped at gfn (read it with
 * ept_lookup). Called after the flush and the grace period, without the MMU lock: no CPU or
 * lockless walker can reach the old run. The owner records the new backing and frees or
 * reuses the old frames. */
void ept_env_free_data(struct ept *ept, gfn_t gfn, hfn_t hfn, int level);

#endif
