/*
 * The host implementation of ept/env.h for the EPT unit, model, race and fuzz tests: table
 * pages and data frames from the C heap (host-physical address = the pointer value), with
 * counters of live pages, allocation failure on demand, a flush counter and, for race tests,
 * an emulated TLB shootdown that waits for every simulated vCPU to leave guest mode.
 */
#ifndef EPTVISOR_TESTS_EPT_ENV_HOST_H
#define EPTVISOR_TESTS_EPT_ENV_HOST_H

#include "ept/ept.h"

/* Forget failure injection and shootdown vCPUs (counters keep running). */
void host_env_reset(void);

/* Let the next n table (data) allocations succeed, then fail them all; n < 0: never fail. */
void host_env_fail_tables_after(long n);
void host_env_fail_data_after(long n);

long host_env_tables_live(void); /* table pages allocated and not yet freed */
long host_env_data_live(void);   /* data runs/frames allocated and not yet freed */
u64 host_env_flushes(void);      /* ept_env_flush() calls so far */
/* ept_env_clock (lock-hold times, ns): the TSC (default), or the calling thread's CPU time. */
void host_env_clock_cpu(bool on);
u64 host_env_data_released(void); /* ept_env_free_data() calls so far */

/*
 * Fake data frames, for tests that map more memory than they could allocate: hfns from
 * HOST_FAKE_HFN up have no memory behind them; ept_env_data_va() gives scratch space for them
 * (so collapse by copy runs, copying garbage), and in fake mode ept_env_alloc_data() hands
 * out fake runs from HOST_FAKE_RUN up.
 */
#define HOST_FAKE_HFN (1ULL << 36)
#define HOST_FAKE_RUN (1ULL << 38)
void host_env_fake_data(bool on);
/* The hfn the next fake run of `level` will start at (fake mode). */
hfn_t host_env_fake_next(int level);

/* A data run of ept_level_pages(level) frames for a test's own mappings (never fails);
 * ept_env_free_data() can free it. */
hfn_t host_data_alloc(int level);
void *host_data_va(hfn_t hfn);

/*
 * Emulated shootdown. A simulated vCPU brackets each simulated hardware access (walk, A/D
 * update, data write) with host_vcpu_enter/exit; ept_env_flush() then returns only once every
 * vCPU that was inside when it started has left, as the kernel's IPI + acknowledge does.
 * Between the two the thread is offline for grace periods (guest mode is a quiescent
 * state); a thread that plays a vCPU is online otherwise (ept_cpu_online at its start).
 */
struct host_vcpu {
	u32 in_guest;
	u64 seen;    /* flush generation seen at the last entry */
	bool online; /* the thread was online before host_vcpu_enter (its own field) */
};
void host_env_set_vcpus(struct host_vcpu *vcpus, int n);

/* Call fn(arg) once, at the start of the next ept_env_flush(): what a CPU does while the
 * flush is on its way to it (single-threaded tests; host_env_reset forgets it). */
void host_env_before_flush(void (*fn)(void *), void *arg);
void host_vcpu_enter(struct host_vcpu *v);
void host_vcpu_exit(struct host_vcpu *v);

#endif
