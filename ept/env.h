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

/* Table pages are reached through a direct map: the pointer to the table page at host-
 * physical `hpa` is ept_env_va_base + hpa (the kernel: its direct map; host tests: 0, table
 * "addresses" being pointers). A variable, not a function: the fault fast path follows four
 * tables per fault. */
extern uintptr_t ept_env_va_base;

static inline void *ept_env_va(hpa_t hpa)
{
	return (void *)(ept_env_va_base + hpa);
}

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

/* The calling CPU's index, < EPT_MAX_CPUS and never the same for two CPUs (host tests:
 * threads) that run at once: it picks the CPU's grace-period line (ept/core.c). Called
 * without the lock, in the fault path: keep it a few instructions. The weak default returns
 * 0, which suits only a single-threaded user. */
unsigned ept_env_cpu(void);

/*
 * Quiescent states (implemented by ept/core.c, called by the user). A CPU is either online
 * (it may be inside a lockless walk at any moment without marking it) or offline (an
 * extended quiescent state: in no walk). A grace period (ept_wait_walkers) waits for every
 * other online CPU to go offline or report a quiescent state, never for an offline one.
 *  - A CPU running a vCPU is online in root mode and offline in guest mode: the run loop
 *    calls ept_cpu_offline() just before each VM entry and ept_cpu_online() just after the
 *    exit, so the exit handlers (fault fast path, PML drain) walk for free and a grace
 *    period never waits on a guest. A CPU that starts a vCPU loop goes online, and offline
 *    when it leaves the loop.
 *  - Every other CPU (a host task) stays offline; a walk bracket takes it online.
 *  - An online CPU must not wait for anything a grace-period waiter may hold (a lock the
 *    waiter holds, the end of a copy the waiter's operation does) while online: it waits
 *    offline (ept_qs_pause/resume around the wait, ept_spin_lock for a spinlock, or ends a
 *    walk bracket, which is a quiescent state, before each retry). ept/ itself does so for
 *    ept->lock and inside a grace period. So every grace period ends once each CPU in root
 *    mode finishes its current, bounded piece of work.
 * Each function touches only the calling CPU's own line.
 */
void ept_cpu_online(void);
void ept_cpu_offline(void);

/* A monotonic clock for the MMU lock-hold statistics (struct ept_hold), in the user's unit:
 * the kernel counts TSC cycles, host tests nanoseconds. Called twice per lock hold, without
 * the lock: keep it cheap. The weak default returns 0 (no timing). */
u64 ept_env_clock(void);

/* Called in the loop of a grace period waiting for another CPU to move. The kernel pauses
 * (one CPU per vCPU: the other CPU is running); host tests yield, since with more threads
 * than cores the thread waited for may need this core. The weak default pauses. */
void ept_env_relax(void);
/* Offline for a wait; true if the CPU was online (pass it to ept_qs_resume afterwards). */
bool ept_qs_pause(void);
void ept_qs_resume(bool online);

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
