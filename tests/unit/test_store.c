/*
 * The slow backing store's protocol (ept/store.c) under real threads: a simulated vCPU reads
 * and rewrites whole pages of a lazily backed range while an I/O thread serves fetches (with
 * a latency, two channels, and a pause in the middle of every copy) and an evictor thread
 * evicts random pages. The vCPU touches each page through the EPT as the hardware does
 * (ept_hw.h, between host_vcpu_enter and host_vcpu_exit, so a flush waits for it); a page
 * that is not mapped goes through ept_store_populate, and an in-flight page is waited for
 * offline. Every page holds a pattern of (page, word, version); the vCPU knows the version it
 * last wrote. It checks, on every touch, all 512 words:
 *   - a page mapped before its fetch completed shows its second half missing (the copy
 *     pauses between the halves): "fetched page mapped incomplete";
 *   - a rewrite lost by an eviction (copied out before the write, or the write landing in
 *     a frame already copied) shows the previous version after the refetch: "write lost".
 */
/* cmocka.h needs these first */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

/* cmocka.h needs the headers above it. */
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ept/env.h"
#include "ept/ept.h"
#include "ept/store.h"
#include "ept_env_host.h"
#include "ept_hw.h"
#include "errno.h"

#define PROT    (EPT_R | EPT_W | EPT_X | EPT_HOST_WRITABLE | EPT_MMU_WRITABLE)
#define BASE    0x1000ULL
#define PAGES   8
#define TOUCHES 20000
#define WORDS   (PAGE_SIZE / 8)

struct store_race {
	struct ept ept;
	struct ept_store st;
	struct host_vcpu hw[1];
	hfn_t backing[PAGES];
	u8 state[PAGES];
	u64 queue[PAGES], queued_at[PAGES];
	u8 *data;
	u32 stop, vcpu_done;
	u64 ver[PAGES];
	u64 touches, waits, incomplete, lost, evictions;
};

static u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (u64)ts.tv_sec * 1000000000ULL + (u64)ts.tv_nsec;
}

static u64 rnd(u64 *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dULL;
}

static u64 pattern(u64 page, u64 word, u64 ver)
{
	return (page << 48) ^ (ver << 16) ^ word ^ 0x5a5a000000000000ULL;
}

/* The I/O thread pauses in the middle of every copy: a page mapped too early shows it. */
static void pause_mid_copy(struct ept_store *st, u64 page)
{
	u64 t0 = now_ns();

	(void)st;
	(void)page;
	while (now_ns() - t0 < 20000)
		cpu_relax();
}

/* One touch of page p as a guest: check every word against the version last written, then
 * write the next version. False: not mapped (an EPT violation). */
static bool guest_touch(struct store_race *r, u64 p)
{
	u64 leaf;
	int level;
	bool ok;

	host_vcpu_enter(&r->hw[0]);
	ok = hw_access(&r->ept, BASE + p, true, &leaf, &level);
	if (ok) {
		u64 *w = host_data_va(hw_frame(leaf, level, BASE + p));
		u64 bad_lo = 0, bad_hi = 0;

		for (u64 i = 0; i < WORDS; i++) {
			u64 v = __atomic_load_n(&w[i], __ATOMIC_RELAXED);

			if (v != pattern(p, i, r->ver[p]))
				*(i < WORDS / 2 ? &bad_lo : &bad_hi) += 1;
		}
		/* Only the second half wrong: a copy cut in the middle. Wrong everywhere, with the
		 * previous version: a lost rewrite. */
		r->incomplete += !bad_lo && bad_hi;
		r->lost += bad_lo != 0;
		r->ver[p]++;
		for (u64 i = 0; i < WORDS; i++)
			__atomic_store_n(&w[i], pattern(p, i, r->ver[p]), __ATOMIC_RELAXED);
	}
	host_vcpu_exit(&r->hw[0]);
	return ok;
}

static void *vcpu_thread(void *arg)
{
	struct store_race *r = arg;
	u64 rng = 0x9e3779b97f4a7c15ULL;

	ept_cpu_online();
	for (u64 n = 0; n < TOUCHES && !r->lost && !r->incomplete; n++) {
		u64 p = rnd(&rng) % PAGES;

		while (!guest_touch(r, p)) {
			int e = ept_store_populate(&r->st, BASE + p, PROT, now_ns());

			assert_true(e == 0 || e == -EINPROGRESS);
			if (e == -EINPROGRESS) {
				/* Waiting is a quiescent state: the evictor's grace periods go on.
				 */
				bool online = ept_qs_pause();

				r->waits++;
				while (!ept_store_settled(&r->st, BASE + p))
					cpu_relax();
				ept_qs_resume(online);
			}
		}
		r->touches++;
	}
	ept_cpu_offline();
	__atomic_store_n(&r->vcpu_done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void *io_thread(void *arg)
{
	struct store_race *r = arg;

	while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE))
		assert_true(ept_store_service(&r->st, now_ns()) >= 0);
	return NULL;
}

static void *evict_thread(void *arg)
{
	struct store_race *r = arg;
	u64 rng = 0x2545f4914f6cdd1dULL;

	while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
		int e = ept_store_evict(&r->st, BASE + rnd(&rng) % PAGES);

		assert_true(e == 0 || e == -EBUSY);
		r->evictions += e == 0;
	}
	return NULL;
}

static void test_fetch_and_evict(void **state)
{
	struct store_race *r = calloc(1, sizeof(*r));
	long data_before = host_env_data_live();
	pthread_t vcpu, io, ev;
	u64 t0 = now_ns();

	(void)state;
	assert_non_null(r);
	host_env_reset();
	assert_int_equal(ept_init(&r->ept), 0);
	host_env_set_vcpus(r->hw, 1);
	r->data = malloc(PAGES * PAGE_SIZE);
	assert_non_null(r->data);
	for (u64 p = 0; p < PAGES; p++) {
		r->backing[p] = INVALID_HFN;
		for (u64 i = 0; i < WORDS; i++)
			((u64 *)(r->data + p * PAGE_SIZE))[i] = pattern(p, i, 0);
	}
	ept_store_init(&r->st, &r->ept, BASE, PAGES, r->backing, r->data, r->state, r->queue,
	               r->queued_at, 50000 /* ns */, 2);
	r->st.copy_hook = pause_mid_copy;
	assert_int_equal(pthread_create(&io, NULL, io_thread, r), 0);
	assert_int_equal(pthread_create(&ev, NULL, evict_thread, r), 0);
	assert_int_equal(pthread_create(&vcpu, NULL, vcpu_thread, r), 0);
	pthread_join(vcpu, NULL);
	__atomic_store_n(&r->stop, 1, __ATOMIC_RELEASE);
	pthread_join(io, NULL);
	pthread_join(ev, NULL);
	printf("store race: %llu touches, %llu waits, %llu fetches, %llu evictions, "
	       "fetch latency avg %llu us max %llu us, %llu incomplete, %llu lost, %llu ms\n",
	       (unsigned long long)r->touches, (unsigned long long)r->waits,
	       (unsigned long long)r->st.stats.fetches, (unsigned long long)r->evictions,
	       (unsigned long long)(r->st.stats.fetches
	                                    ? r->st.stats.lat_sum / r->st.stats.fetches / 1000
	                                    : 0),
	       (unsigned long long)r->st.stats.lat_max / 1000, (unsigned long long)r->incomplete,
	       (unsigned long long)r->lost, (unsigned long long)((now_ns() - t0) / 1000000));
	fflush(stdout);
	assert_int_equal(r->incomplete, 0);
	assert_int_equal(r->lost, 0);
	assert_true(r->evictions > 0 && r->st.stats.fetches > PAGES);
	/* Everything evicted at the end is in the store with the last version. */
	for (u64 p = 0; p < PAGES; p++) {
		int e;

		while ((e = ept_store_evict(&r->st, BASE + p)) == -EBUSY &&
		       r->state[p] == STORE_FETCHING)
			ept_store_service(&r->st, now_ns() + 1000000000ULL);
		assert_true(e == 0 || r->state[p] == STORE_ABSENT);
		assert_int_equal(((u64 *)(r->data + p * PAGE_SIZE))[WORDS - 1],
		                 pattern(p, WORDS - 1, r->ver[p]));
	}
	host_env_set_vcpus(NULL, 0);
	ept_destroy(&r->ept);
	assert_int_equal(host_env_tables_live(), 0);
	assert_int_equal(host_env_data_live(), data_before);
	free(r->data);
	free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fetch_and_evict),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
