/*
 * Host ept/env.h (see ept_env_host.h). Counters are atomics: race tests allocate and flush
 * from several threads. Every thread gets a CPU index of its own for grace periods; a thread
 * that plays a vCPU calls ept_cpu_online() when its loop starts, ept_cpu_offline() when it
 * ends, and is offline between host_vcpu_enter and host_vcpu_exit (guest mode).
 */
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ept/env.h"
#include "ept_env_host.h"
#include "spinlock.h"

static long tables_live, data_live, fail_tables = -1, fail_data = -1;
static bool fake_data;
static u64 fake_next = HOST_FAKE_RUN;
/* Scratch behind fake frames: room for a 2 MiB child at any 4 KiB offset of the first 2 MiB;
 * runs and the frames they are copied from get separate areas (memcpy must not overlap). */
static u8 fake_src[2 * SZ_2M] __attribute__((aligned(4096)));
static u8 fake_dst[2 * SZ_2M] __attribute__((aligned(4096)));
static u64 flushes, released, flush_gen;
static struct host_vcpu *vcpus;
static int nvcpus;

static void (*before_flush)(void *);
static void *before_flush_arg;

void host_env_before_flush(void (*fn)(void *), void *arg)
{
	before_flush = fn;
	before_flush_arg = arg;
}

void host_env_reset(void)
{
	before_flush = NULL;
	__atomic_store_n(&fail_tables, -1, __ATOMIC_SEQ_CST);
	__atomic_store_n(&fail_data, -1, __ATOMIC_SEQ_CST);
	host_env_set_vcpus(NULL, 0);
	fake_data = false;
}

void host_env_fail_tables_after(long n)
{
	__atomic_store_n(&fail_tables, n, __ATOMIC_SEQ_CST);
}
void host_env_fail_data_after(long n)
{
	__atomic_store_n(&fail_data, n, __ATOMIC_SEQ_CST);
}
long host_env_tables_live(void)
{
	return __atomic_load_n(&tables_live, __ATOMIC_SEQ_CST);
}
long host_env_data_live(void)
{
	return __atomic_load_n(&data_live, __ATOMIC_SEQ_CST);
}
u64 host_env_flushes(void)
{
	return __atomic_load_n(&flushes, __ATOMIC_SEQ_CST);
}
u64 host_env_data_released(void)
{
	return __atomic_load_n(&released, __ATOMIC_SEQ_CST);
}

/* Consume one allowed allocation; false once the budget is spent. */
static bool budget_take(long *budget)
{
	long b = __atomic_load_n(budget, __ATOMIC_SEQ_CST);

	while (b >= 0) {
		if (b == 0)
			return false;
		if (__atomic_compare_exchange_n(budget, &b, b - 1, false, __ATOMIC_SEQ_CST,
		                                __ATOMIC_SEQ_CST))
			return true;
	}
	return true;
}

static void *page_alloc(u64 bytes)
{
	void *p = aligned_alloc(bytes, bytes);

	if (p)
		memset(p, 0, bytes);
	return p;
}

/* Each thread gets its own grace-period line: the lowest free index, given back when the
 * thread exits (offline: a thread never leaves in the middle of a walk or a vCPU loop). */
static u32 cpu_used[EPT_MAX_CPUS];
static pthread_key_t cpu_key;
static pthread_once_t cpu_key_once = PTHREAD_ONCE_INIT;
static __thread unsigned cpu_plus_1;

static void cpu_release(void *p)
{
	unsigned cpu = (unsigned)(uintptr_t)p - 1;

	if (ept_qs_pause()) {
		fprintf(stderr, "thread on grace-period line %u exits online\n", cpu);
		abort();
	}
	/* RELEASE: our last store to the line happens before its next owner's first. */
	__atomic_store_n(&cpu_used[cpu], 0, __ATOMIC_RELEASE);
}

static void cpu_key_make(void)
{
	if (pthread_key_create(&cpu_key, cpu_release))
		abort();
}

static unsigned cpu_take(void)
{
	pthread_once(&cpu_key_once, cpu_key_make);
	for (unsigned cpu = 0; cpu < EPT_MAX_CPUS; cpu++) {
		u32 free_line = 0;

		/* ACQUIRE: pairs with cpu_release; the last owner is done with the line. */
		if (__atomic_compare_exchange_n(&cpu_used[cpu], &free_line, 1, false,
		                                __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
			pthread_setspecific(cpu_key, (void *)(uintptr_t)(cpu + 1));
			return cpu;
		}
	}
	fprintf(stderr, "more than %d threads use the EPT at once\n", EPT_MAX_CPUS);
	abort();
}

/*
 * Lock holds are timed in nanoseconds: by default from the TSC (a few cycles, like the
 * kernel's clock, so the slow paths pay what they pay there), scaled by a rate measured once
 * against CLOCK_MONOTONIC; with host_env_clock_cpu(true) by the calling thread's CPU time,
 * so that a holder preempted by the host's scheduler (which the kernel does not have) does
 * not count the time it was not running.
 */
static double ns_per_tsc;
static bool clock_cpu;

static u64 mono_ns(clockid_t id)
{
	struct timespec t;

	clock_gettime(id, &t);
	return (u64)t.tv_sec * 1000000000ULL + (u64)t.tv_nsec;
}

static u64 tsc(void)
{
	u32 lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (u64)hi << 32 | lo;
}

__attribute__((constructor)) static void tsc_calibrate(void)
{
	u64 t0 = mono_ns(CLOCK_MONOTONIC), c0 = tsc(), t1;

	while ((t1 = mono_ns(CLOCK_MONOTONIC)) - t0 < 5000000)
		;
	ns_per_tsc = (double)(t1 - t0) / (double)(tsc() - c0);
}

void host_env_clock_cpu(bool on)
{
	clock_cpu = on;
}

u64 ept_env_clock(void)
{
	return clock_cpu ? mono_ns(CLOCK_THREAD_CPUTIME_ID) : (u64)((double)tsc() * ns_per_tsc);
}

/* A grace period waits for another thread: let it run (there may be more threads than
 * cores). */
void ept_env_relax(void)
{
	sched_yield();
}

unsigned ept_env_cpu(void)
{
	if (!cpu_plus_1)
		cpu_plus_1 = cpu_take() + 1;
	return cpu_plus_1 - 1;
}

uintptr_t ept_env_va_base; /* 0: a table's "hpa" is its pointer */

/* The kernel's frame allocator never gives memory back; glibc's free() does (it shrinks the
 * heap with brk once 128 KiB are free at its top, and the TLB shootdown of that unmap cost
 * 5-40 ms per 1 GiB collapse in the benchmark, then page faults on the next allocations). */
static pthread_once_t no_trim_once = PTHREAD_ONCE_INIT;

static void no_trim(void)
{
	mallopt(M_TRIM_THRESHOLD, 1 << 30);
}

hpa_t ept_env_alloc_table(void)
{
	void *p;

	pthread_once(&no_trim_once, no_trim);
	p = budget_take(&fail_tables) ? page_alloc(PAGE_SIZE) : NULL;

	if (!p)
		return INVALID_HPA;
	__atomic_fetch_add(&tables_live, 1, __ATOMIC_SEQ_CST);
	return (hpa_t)(uintptr_t)p;
}

/* Freed table pages stay poisoned in a quarantine for the next QUARANTINE frees before the
 * heap gets them back, so a walker still inside one reads poison, not a reused page. */
#define QUARANTINE 64
static void *quarantine[QUARANTINE];
static unsigned quarantine_next;
static spinlock_t quarantine_lock = SPINLOCK_INIT;

void ept_env_free_table(hpa_t hpa)
{
	void *old;

	/* Poison: a walker reading a freed table must not find plausible entries (ASan also
	 * reports the access once the page leaves the quarantine). */
	memset((void *)(uintptr_t)hpa, 0xa5, PAGE_SIZE);
	spin_lock(&quarantine_lock);
	old = quarantine[quarantine_next];
	quarantine[quarantine_next] = (void *)(uintptr_t)hpa;
	quarantine_next = (quarantine_next + 1) % QUARANTINE;
	spin_unlock(&quarantine_lock);
	free(old);
	__atomic_fetch_sub(&tables_live, 1, __ATOMIC_SEQ_CST);
}

hfn_t host_data_alloc(int level)
{
	void *p = page_alloc(ept_level_pages(level) * PAGE_SIZE);

	if (!p)
		abort();
	__atomic_fetch_add(&data_live, 1, __ATOMIC_SEQ_CST);
	return hpa_to_hfn((uintptr_t)p);
}

void host_env_fake_data(bool on)
{
	fake_data = on;
}

hfn_t host_env_fake_next(int level)
{
	return ALIGN_UP(fake_next, ept_level_pages(level));
}

void *host_data_va(hfn_t hfn)
{
	if (hfn >= HOST_FAKE_HFN)
		return (hfn >= HOST_FAKE_RUN ? fake_dst : fake_src) + hfn % 512 * PAGE_SIZE;
	return (void *)(uintptr_t)hfn_to_hpa(hfn);
}

hfn_t ept_env_alloc_data(int level)
{
	hfn_t run;

	if (!budget_take(&fail_data))
		return INVALID_HFN;
	if (!fake_data)
		return host_data_alloc(level);
	/* fake mode serves the single-threaded model and fuzz tests: no atomics needed */
	run = ALIGN_UP(fake_next, ept_level_pages(level));
	fake_next = run + ept_level_pages(level);
	__atomic_fetch_add(&data_live, 1, __ATOMIC_SEQ_CST);
	return run;
}

void *ept_env_data_va(hfn_t hfn)
{
	return host_data_va(hfn);
}

void ept_env_free_data(struct ept *ept, gfn_t gfn, hfn_t hfn, int level)
{
	(void)ept;
	(void)gfn;
	(void)level;
	if (hfn < HOST_FAKE_HFN)
		free(host_data_va(hfn));
	if (hfn < HOST_FAKE_HFN || hfn >= HOST_FAKE_RUN)
		__atomic_fetch_sub(&data_live, 1, __ATOMIC_SEQ_CST);
	__atomic_fetch_add(&released, 1, __ATOMIC_SEQ_CST);
}

/* ---- flush with an emulated shootdown ------------------------------------------------------ */

void host_env_set_vcpus(struct host_vcpu *v, int n)
{
	__atomic_store_n(&nvcpus, 0, __ATOMIC_SEQ_CST);
	__atomic_store_n(&vcpus, v, __ATOMIC_SEQ_CST);
	__atomic_store_n(&nvcpus, n, __ATOMIC_SEQ_CST);
}

void host_vcpu_enter(struct host_vcpu *v)
{
	/* Guest mode is a quiescent state: a thread playing a vCPU goes offline, as
	 * vmx/vcpu.c's run loop does before each VM entry. */
	v->online = ept_qs_pause();
	/* SEQ_CST store then load, as in vmx/kick.c: either this vCPU sees the new
	 * generation or the flusher sees it in guest mode and waits. */
	__atomic_store_n(&v->in_guest, 1, __ATOMIC_SEQ_CST);
	__atomic_store_n(&v->seen, __atomic_load_n(&flush_gen, __ATOMIC_SEQ_CST), __ATOMIC_RELEASE);
}

void host_vcpu_exit(struct host_vcpu *v)
{
	/* RELEASE: the simulated accesses happen before a flusher sees this vCPU out. */
	__atomic_store_n(&v->in_guest, 0, __ATOMIC_RELEASE);
	/* Back in root mode: online again (the exit handler walks for free). */
	ept_qs_resume(v->online);
}

void ept_env_flush(struct ept *ept)
{
	u64 gen = __atomic_add_fetch(&flush_gen, 1, __ATOMIC_SEQ_CST);
	int n = __atomic_load_n(&nvcpus, __ATOMIC_SEQ_CST);
	struct host_vcpu *v = __atomic_load_n(&vcpus, __ATOMIC_SEQ_CST);

	(void)ept;
	if (before_flush) {
		void (*fn)(void *) = before_flush;

		before_flush = NULL;
		fn(before_flush_arg);
	}
	__atomic_fetch_add(&flushes, 1, __ATOMIC_SEQ_CST);
	for (int i = 0; i < n; i++)
		/* ACQUIRE: pairs with host_vcpu_exit; its accesses are over before we go on. */
		while (__atomic_load_n(&v[i].in_guest, __ATOMIC_ACQUIRE) &&
		       __atomic_load_n(&v[i].seen, __ATOMIC_ACQUIRE) < gen)
			cpu_relax();
}
