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
 *
 * The reclaim policy's part of the store (ages, victims, the resident count, refaults): its
 * rules one by one (test_reclaim_rules), then under real threads (test_reclaim_race): two
 * simulated vCPUs each sweep their own hot pages and now and then a cold one, checking every
 * word as above, while a host-task thread serves fetches and runs the policy as CPU 0 does in
 * the kernel (vmx/reclaim.c): an A-bit scan round (ept_scan, clearing) every so often, the
 * pages aged, and after every service step the oldest pages evicted while more than the
 * limit are resident. No write may be lost, and the store never holds more frames than the
 * limit plus the fetches one service step completes (the depth).
 *
 * Pins (test_pin_race): a thread pins random pages, fetches them, and watches each stay
 * resident in its frame while the evictor, the I/O thread and the vCPU run as above.
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

/* A rig's arrays for ept_store_init. */
#define ARRAYS(r)                                                                                  \
	((struct ept_store_arrays){ .backing = (r)->backing,                                       \
	                            .data = (u8 *)(r)->data,                                       \
	                            .state = (r)->state,                                           \
	                            .pins = (r)->pins,                                             \
	                            .queue = (r)->queue,                                           \
	                            .queued_at = (r)->queued_at })

struct store_race {
	struct ept ept;
	struct ept_store st;
	struct host_vcpu hw[1];
	hfn_t backing[PAGES];
	u8 state[PAGES], pins[PAGES];
	u64 queue[PAGES], queued_at[PAGES];
	u8 *data;
	u32 stop, vcpu_done;
	u64 ver[PAGES];
	u64 touches, waits, incomplete, lost, evictions;
	long data_before; /* host data frames live before the rig */
	/* test_pin_race: pins held, pins an eviction went through, the page being pinned (+1) */
	u64 pinned, pin_broken, pin_target;
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
	/* TOUCHES at least, and on until the evictor got some in (it may start late on a busy
	 * machine). RELAXED: a count the evictor alone writes. */
	for (u64 n = 0; (n < TOUCHES || __atomic_load_n(&r->evictions, __ATOMIC_RELAXED) < 8) &&
	                !r->lost && !r->incomplete;
	     n++) {
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
		/* RELAXED: as the pinner stores it. Every other try aims at the pinned page. */
		u64 aim = __atomic_load_n(&r->pin_target, __ATOMIC_RELAXED), x = rnd(&rng);
		int e = ept_store_evict(&r->st, BASE + (aim && x % 2 ? aim - 1 : x % PAGES));

		assert_true(e == 0 || e == -EBUSY);
		/* RELAXED: a count the vCPU thread reads to know when it may stop. */
		__atomic_store_n(&r->evictions, r->evictions + (e == 0), __ATOMIC_RELAXED);
	}
	return NULL;
}

/* A rig of PAGES store pages holding their version-0 pattern, one simulated vCPU, two
 * channels of 50 us fetches. */
static struct store_race *race_new(void)
{
	struct store_race *r = calloc(1, sizeof(*r));

	assert_non_null(r);
	r->data_before = host_env_data_live();
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
	ept_store_init(&r->st, &r->ept, BASE, PAGES, &ARRAYS(r), 50000 /* ns */, 2);
	return r;
}

/* Evict page p once no fetch of it is in flight (serving it to completion): 0, or
 * -EBUSY when it is not resident. */
static int evict_settled(struct store_race *r, u64 p)
{
	int e;

	while ((e = ept_store_evict(&r->st, BASE + p)) == -EBUSY && r->state[p] == STORE_FETCHING)
		ept_store_service(&r->st, now_ns() + 1000000000ULL);
	return e;
}

/* Tear the rig down: no page table and no frame left behind. */
static void race_free(struct store_race *r)
{
	host_env_set_vcpus(NULL, 0);
	ept_destroy(&r->ept);
	assert_int_equal(host_env_tables_live(), 0);
	assert_int_equal(host_env_data_live(), r->data_before);
	free(r->data);
	free(r);
}

static void test_fetch_and_evict(void **state)
{
	struct store_race *r = race_new();
	pthread_t vcpu, io, ev;
	u64 t0 = now_ns();

	(void)state;
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
		int e = evict_settled(r, p);

		assert_true(e == 0 || r->state[p] == STORE_ABSENT);
		assert_int_equal(((u64 *)(r->data + p * PAGE_SIZE))[WORDS - 1],
		                 pattern(p, WORDS - 1, r->ver[p]));
	}
	race_free(r);
}

#define PIN_ROUNDS 1000 /* pins taken, each held 100 us */

/* The pinner (as pc/apf.c at an async-PF area's WRMSR): pin a page, make it resident
 * (populate, wait offline while in flight), then hold it a while: all that time it must stay
 * resident in the same frame whatever the evictor does; then unpin. */
static void *pin_thread(void *arg)
{
	struct store_race *r = arg;
	u64 rng = 0x123456789abcdefULL;

	ept_cpu_online();
	while (r->pinned < PIN_ROUNDS) {
		u64 p = rnd(&rng) % PAGES, t0;
		bool online;
		hfn_t f;
		int e;

		/* RELAXED: only steers the evictor's aim. */
		__atomic_store_n(&r->pin_target, p + 1, __ATOMIC_RELAXED);
		assert_int_equal(ept_store_pin(&r->st, BASE + p), 0);
		while ((e = ept_store_populate(&r->st, BASE + p, PROT, now_ns())) == -EINPROGRESS) {
			online = ept_qs_pause();

			while (!ept_store_settled(&r->st, BASE + p))
				cpu_relax();
			ept_qs_resume(online);
		}
		assert_int_equal(e, 0);
		/* ACQUIRE: as the slot's other lockless readers of backing[]. */
		f = __atomic_load_n(&r->backing[p], __ATOMIC_ACQUIRE);
		/* The hold is the guest's time with the page (no hypervisor walk): quiescent,
		 * so evictions of other pages go on meanwhile. */
		online = ept_qs_pause();
		for (t0 = now_ns(); now_ns() - t0 < 100000;)
			/* RELAXED: a check only; an eviction would show as a state or frame change.
			 */
			if (__atomic_load_n(&r->state[p], __ATOMIC_RELAXED) != STORE_RESIDENT ||
			    __atomic_load_n(&r->backing[p], __ATOMIC_RELAXED) != f) {
				r->pin_broken++;
				break;
			}
		ept_qs_resume(online);
		ept_store_unpin(&r->st, BASE + p);
		r->pinned++;
	}
	ept_cpu_offline();
	return NULL;
}

/* Pins against a random evictor, with the vCPU and the I/O thread of test_fetch_and_evict
 * running too: no pinned page is ever evicted, and no write is lost. */
static void test_pin_race(void **state)
{
	struct store_race *r = race_new();
	pthread_t vcpu, io, ev, pin;

	(void)state;
	assert_int_equal(pthread_create(&io, NULL, io_thread, r), 0);
	assert_int_equal(pthread_create(&ev, NULL, evict_thread, r), 0);
	assert_int_equal(pthread_create(&pin, NULL, pin_thread, r), 0);
	assert_int_equal(pthread_create(&vcpu, NULL, vcpu_thread, r), 0);
	pthread_join(vcpu, NULL);
	pthread_join(pin, NULL);
	__atomic_store_n(&r->stop, 1, __ATOMIC_RELEASE);
	pthread_join(io, NULL);
	pthread_join(ev, NULL);
	printf("pin race: %llu pins held, %llu broken, %llu evictions, %llu touches, %llu lost\n",
	       (unsigned long long)r->pinned, (unsigned long long)r->pin_broken,
	       (unsigned long long)r->evictions, (unsigned long long)r->touches,
	       (unsigned long long)r->lost);
	fflush(stdout);
	assert_int_equal(r->pin_broken, 0);
	assert_int_equal(r->lost + r->incomplete, 0);
	assert_true(r->pinned > 0 && r->evictions > 0);
	for (u64 p = 0; p < PAGES; p++) {
		assert_int_equal(r->pins[p], 0);
		evict_settled(r, p);
	}
	race_free(r);
}

/* ---- the reclaim policy's part ---------------------------------------------------------- */

#define RPAGES 8

struct reclaim_rig {
	struct ept ept;
	struct ept_store st;
	hfn_t backing[RPAGES];
	u8 state[RPAGES], pins[RPAGES], age[RPAGES];
	u64 queue[RPAGES], queued_at[RPAGES], evicted[1];
	u8 data[RPAGES * PAGE_SIZE];
};

/* Serve until page p is resident (the clock moves 100 per step, latency 10). */
static void rig_serve(struct reclaim_rig *g, u64 p)
{
	for (u64 now = 100; g->state[p] != STORE_RESIDENT; now += 100)
		assert_true(ept_store_service(&g->st, now) >= 0);
}

/* Fetch page p: queue it, then serve until it is resident. */
static void rig_fetch(struct reclaim_rig *g, u64 p)
{
	assert_int_equal(ept_store_populate(&g->st, BASE + p, PROT, 0), -EINPROGRESS);
	rig_serve(g, p);
}

static void test_reclaim_rules(void **state)
{
	struct reclaim_rig *g = calloc(1, sizeof(*g));
	gfn_t v[RPAGES];
	u8 a[RPAGES];
	u64 acc;

	(void)state;
	assert_non_null(g);
	host_env_reset();
	assert_int_equal(ept_init(&g->ept), 0);
	for (u64 p = 0; p < RPAGES; p++)
		g->backing[p] = INVALID_HFN;
	ept_store_init(&g->st, &g->ept, BASE, RPAGES, &ARRAYS(g), 10, 2);
	ept_store_set_reclaim(&g->st, g->age, g->evicted);
	for (u64 p = 0; p < 6; p++)
		rig_fetch(g, p);
	assert_int_equal(ept_store_resident(&g->st), 6);
	assert_int_equal(g->st.stats.resident_max, 6);
	/* Round 1: pages 0 and 1 accessed. Round 2: page 2 too. Pages 6, 7 are holes. */
	acc = 0x3 | 0xc0;
	ept_store_age(&g->st, &acc);
	acc = 0x7;
	ept_store_age(&g->st, &acc);
	assert_memory_equal(g->age, ((u8[RPAGES]){ 0, 0, 0, 2, 2, 2, 0, 0 }), RPAGES);
	/* The oldest first, in clock order; the hand moves past the last one taken. */
	assert_int_equal(ept_store_victims(&g->st, v, a, 2), 2);
	assert_int_equal(v[0], BASE + 3);
	assert_int_equal(v[1], BASE + 4);
	assert_int_equal(a[0], 2);
	assert_int_equal(ept_store_victims(&g->st, v, a, 2), 2);
	assert_int_equal(v[0], BASE + 5);
	assert_int_equal(v[1], BASE + 3);
	/* More than there are: every resident page, never a hole. */
	assert_int_equal(ept_store_victims(&g->st, v, NULL, RPAGES), 6);
	for (u64 k = 0; k < 6; k++)
		assert_true(v[k] < BASE + 6);
	/* An eviction: one frame fewer; its next request is a refault, a first fetch is not. */
	assert_int_equal(ept_store_evict(&g->st, BASE + 3), 0);
	assert_int_equal(ept_store_resident(&g->st), 5);
	rig_fetch(g, 6);
	assert_int_equal(g->st.stats.refaults, 0);
	assert_int_equal(ept_store_populate(&g->st, BASE + 3, PROT, 0), -EINPROGRESS);
	assert_int_equal(g->st.stats.refaults, 1);
	/* In flight: aged as a hole, never a victim. */
	acc = 0;
	ept_store_age(&g->st, &acc);
	assert_int_equal(g->age[3], 0);
	assert_int_equal(ept_store_victims(&g->st, v, NULL, RPAGES), 6);
	for (u64 k = 0; k < 6; k++)
		assert_true(v[k] != BASE + 3 && v[k] != BASE + 7);
	/* A fetched page starts young; ages saturate. */
	rig_serve(g, 3);
	assert_int_equal(g->age[3], 0);
	assert_int_equal(g->st.stats.resident_max, 7);
	for (int r = 0; r < 300; r++)
		ept_store_age(&g->st, &acc);
	assert_int_equal(g->age[0], 255);
	/* A pinned page: never aged, never a victim, never evicted, until its last unpin. */
	assert_int_equal(ept_store_pin(&g->st, BASE + 0), 0);
	assert_int_equal(ept_store_pin(&g->st, BASE + 0), 0);
	ept_store_age(&g->st, &acc);
	assert_int_equal(g->age[0], 0);
	assert_int_equal(ept_store_victims(&g->st, v, NULL, RPAGES), 6);
	for (u64 k = 0; k < 6; k++)
		assert_true(v[k] != BASE + 0);
	assert_int_equal(ept_store_evict(&g->st, BASE + 0), -EBUSY);
	ept_store_unpin(&g->st, BASE + 0);
	assert_int_equal(ept_store_evict(&g->st, BASE + 0), -EBUSY);
	ept_store_unpin(&g->st, BASE + 0);
	ept_store_age(&g->st, &acc);
	assert_int_equal(ept_store_victims(&g->st, v, NULL, 1), 1);
	assert_int_equal(ept_store_evict(&g->st, BASE + 0), 0);
	/* Pinning an absent page keeps it where it is (the pinner fetches it); outside the
	 * store, or past 255 pins, a pin is refused. */
	assert_int_equal(ept_store_pin(&g->st, BASE + 0), 0);
	assert_int_equal(g->state[0], STORE_ABSENT);
	rig_fetch(g, 0);
	assert_int_equal(ept_store_evict(&g->st, BASE + 0), -EBUSY);
	ept_store_unpin(&g->st, BASE + 0);
	assert_int_equal(ept_store_pin(&g->st, BASE + RPAGES), -ERANGE);
	for (int k = 0; k < 255; k++)
		assert_int_equal(ept_store_pin(&g->st, BASE + 1), 0);
	assert_int_equal(ept_store_pin(&g->st, BASE + 1), -ENOSPC);
	for (int k = 0; k < 255; k++)
		ept_store_unpin(&g->st, BASE + 1);
	for (u64 p = 0; p < RPAGES; p++)
		ept_store_evict(&g->st, BASE + p);
	assert_int_equal(ept_store_resident(&g->st), 0);
	ept_destroy(&g->ept);
	assert_int_equal(host_env_data_live(), 0);
	free(g);
}

#define RC_PAGES   32 /* two vCPUs, 16 pages each */
#define RC_OWN     16
#define RC_HOT     3 /* each vCPU's first 3 pages */
#define RC_LIMIT   12
#define RC_TOUCHES 4000   /* per vCPU */
#define RC_ROUND   200000 /* ns between two scan rounds */
#define RC_IDLE    2

struct reclaim_race {
	struct ept ept;
	struct ept_store st;
	struct host_vcpu hw[2];
	hfn_t backing[RC_PAGES];
	u8 state[RC_PAGES], pins[RC_PAGES], age[RC_PAGES];
	u64 queue[RC_PAGES], queued_at[RC_PAGES], evicted[1];
	u64 young[1], idle[1], hole[1];
	u8 *data;
	u64 ver[RC_PAGES];
	u32 vcpus_done;
	u64 touches[2], lost[2], incomplete[2];
	u64 rounds, evictions, forced, over_after_trim;
};

struct rc_vcpu {
	struct reclaim_race *r;
	int id;
};

/* Touch page p as vCPU id: check all its words, write the next version. */
static bool rc_touch(struct reclaim_race *r, int id, u64 p)
{
	u64 leaf;
	int level;
	bool ok;

	host_vcpu_enter(&r->hw[id]);
	ok = hw_access(&r->ept, BASE + p, true, &leaf, &level);
	if (ok) {
		u64 *w = host_data_va(hw_frame(leaf, level, BASE + p));
		u64 bad_lo = 0, bad_hi = 0;

		for (u64 i = 0; i < WORDS; i++)
			if (__atomic_load_n(&w[i], __ATOMIC_RELAXED) != pattern(p, i, r->ver[p]))
				*(i < WORDS / 2 ? &bad_lo : &bad_hi) += 1;
		r->incomplete[id] += !bad_lo && bad_hi;
		r->lost[id] += bad_lo != 0;
		r->ver[p]++;
		for (u64 i = 0; i < WORDS; i++)
			__atomic_store_n(&w[i], pattern(p, i, r->ver[p]), __ATOMIC_RELAXED);
	}
	host_vcpu_exit(&r->hw[id]);
	return ok;
}

static void *rc_vcpu_thread(void *arg)
{
	struct rc_vcpu *c = arg;
	struct reclaim_race *r = c->r;
	u64 rng = 0x9e3779b97f4a7c15ULL + (u64)c->id, first = (u64)c->id * RC_OWN;

	ept_cpu_online();
	for (u64 n = 0; n < RC_TOUCHES && !r->lost[c->id] && !r->incomplete[c->id]; n++) {
		/* Hot pages in turn; every fourth touch a cold one. */
		u64 p = first + (n % 4 == 3 ? RC_HOT + rnd(&rng) % (RC_OWN - RC_HOT) : n % RC_HOT);

		while (!rc_touch(r, c->id, p)) {
			int e = ept_store_populate(&r->st, BASE + p, PROT, now_ns());

			assert_true(e == 0 || e == -EINPROGRESS);
			if (e == -EINPROGRESS) {
				bool online = ept_qs_pause();

				while (!ept_store_settled(&r->st, BASE + p))
					cpu_relax();
				ept_qs_resume(online);
			}
		}
		r->touches[c->id]++;
	}
	ept_cpu_offline();
	__atomic_fetch_add(&r->vcpus_done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* A scan round: clear and collect the A bits, age the pages by them. */
static void rc_round(struct reclaim_race *r, struct ept_tracker *t)
{
	struct ept_scan out = { .idle = r->idle, .hole = r->hole };
	u64 accessed;

	assert_int_equal(ept_scan(&r->ept, t, &out, true), 0);
	accessed = ~(r->idle[0] | r->hole[0]);
	ept_store_age(&r->st, &accessed);
	r->rounds++;
}

/* Evict the oldest pages while more than the limit are resident. */
static void rc_trim(struct reclaim_race *r)
{
	gfn_t v[RC_PAGES];
	u8 a[RC_PAGES];

	while (ept_store_resident(&r->st) > RC_LIMIT) {
		u64 n = ept_store_victims(&r->st, v, a, ept_store_resident(&r->st) - RC_LIMIT);

		assert_true(n > 0);
		for (u64 k = 0; k < n; k++) {
			assert_int_equal(ept_store_evict(&r->st, v[k]), 0);
			r->evictions++;
			r->forced += a[k] < RC_IDLE;
		}
	}
}

/* The host task: serve fetches, a scan round every RC_ROUND ns, trim after every step. */
static void *rc_host_thread(void *arg)
{
	struct reclaim_race *r = arg;
	struct ept_tracker t = { .gfn = BASE, .npages = RC_PAGES, .young = r->young };
	u64 last = now_ns();

	ept_cpu_online();
	assert_int_equal(ept_tracker_add(&r->ept, &t), 0);
	while (__atomic_load_n(&r->vcpus_done, __ATOMIC_ACQUIRE) < 2) {
		assert_true(ept_store_service(&r->st, now_ns()) >= 0);
		if (now_ns() - last >= RC_ROUND) {
			rc_round(r, &t);
			last = now_ns();
		}
		rc_trim(r);
		r->over_after_trim += ept_store_resident(&r->st) > RC_LIMIT;
	}
	ept_tracker_del(&r->ept, &t);
	ept_cpu_offline();
	return NULL;
}

static void test_reclaim_race(void **state)
{
	struct reclaim_race *r = calloc(1, sizeof(*r));
	long data_before = host_env_data_live();
	struct rc_vcpu c[2] = { { r, 0 }, { r, 1 } };
	pthread_t vcpu[2], host;
	u64 t0 = now_ns();

	(void)state;
	assert_non_null(r);
	host_env_reset();
	assert_int_equal(ept_init(&r->ept), 0);
	host_env_set_vcpus(r->hw, 2);
	r->data = malloc(RC_PAGES * PAGE_SIZE);
	assert_non_null(r->data);
	for (u64 p = 0; p < RC_PAGES; p++) {
		r->backing[p] = INVALID_HFN;
		for (u64 i = 0; i < WORDS; i++)
			((u64 *)(r->data + p * PAGE_SIZE))[i] = pattern(p, i, 0);
	}
	ept_store_init(&r->st, &r->ept, BASE, RC_PAGES, &ARRAYS(r), 20000 /* ns */, 2);
	ept_store_set_reclaim(&r->st, r->age, r->evicted);
	r->st.copy_hook = pause_mid_copy;
	assert_int_equal(pthread_create(&host, NULL, rc_host_thread, r), 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&vcpu[i], NULL, rc_vcpu_thread, &c[i]), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(vcpu[i], NULL);
	pthread_join(host, NULL);
	printf("reclaim race: %llu touches, limit %d, resident max %llu, %llu rounds, %llu "
	       "evictions (%llu forced), %llu refaults, %llu fetches, %llu lost, %llu incomplete, "
	       "%llu ms\n",
	       (unsigned long long)(r->touches[0] + r->touches[1]), RC_LIMIT,
	       (unsigned long long)r->st.stats.resident_max, (unsigned long long)r->rounds,
	       (unsigned long long)r->evictions, (unsigned long long)r->forced,
	       (unsigned long long)r->st.stats.refaults, (unsigned long long)r->st.stats.fetches,
	       (unsigned long long)(r->lost[0] + r->lost[1]),
	       (unsigned long long)(r->incomplete[0] + r->incomplete[1]),
	       (unsigned long long)((now_ns() - t0) / 1000000));
	fflush(stdout);
	assert_int_equal(r->lost[0] + r->lost[1], 0);
	assert_int_equal(r->incomplete[0] + r->incomplete[1], 0);
	assert_int_equal(r->touches[0] + r->touches[1], 2 * RC_TOUCHES);
	assert_true(r->st.stats.resident_max <= RC_LIMIT + r->st.depth);
	assert_int_equal(r->over_after_trim, 0);
	assert_true(r->evictions > 0 && r->st.stats.refaults > 0 && r->rounds > 0);
	/* Every page, evicted now, has its last version in the store. */
	for (u64 p = 0; p < RC_PAGES; p++) {
		int e = ept_store_evict(&r->st, BASE + p);

		assert_true(e == 0 || (e == -EBUSY && r->state[p] == STORE_ABSENT));
		for (u64 i = 0; i < WORDS; i++)
			assert_int_equal(((u64 *)(r->data + p * PAGE_SIZE))[i],
			                 pattern(p, i, r->ver[p]));
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
		cmocka_unit_test(test_pin_race),
		cmocka_unit_test(test_reclaim_rules),
		cmocka_unit_test(test_reclaim_race),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
