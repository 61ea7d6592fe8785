/*
 * The hypervisor's own writes to guest memory against the copiers, under real threads. A
 * writer thread follows vm_copy_to_guest's per-page steps (vmx/vm.c, guest_chunk) exactly:
 * walk begin, look up the leaf, check EPT_MMU_WRITABLE, write the frame the leaf names, walk
 * end, mark the page dirty. Meanwhile the test's thread moves that page to another frame,
 * by ept_migrate_page, by moving its whole 2M leaf (ept_migrate at level 2) or by collapsing
 * its 2M block by copy. After every write the writer
 * reads the page back through the current mapping: a write that went to the old frame after
 * its bytes were copied is lost, and the test says so.
 *
 * A copier must therefore wait out every walker that may have seen MMU_WRITABLE set before
 * it copies. Two kinds of rounds: forced ones, where the writer stops inside its window
 * (after the check, before the write) until the copier has swapped in the new frame or
 * 200 ms have passed, which loses the write every time if the copier does not wait; and free
 * ones, where both run flat out with a random window, for ThreadSanitizer (the same file
 * builds as build/unit/tsan_ept_copy_race) and for interleavings nobody thought of.
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
#include "ept/migrate.h"
#include "ept_env_host.h"
#include "ept_hw.h"

#define PROT         (EPT_R | EPT_W | EPT_X | EPT_HOST_WRITABLE | EPT_MMU_WRITABLE)
#define BLOCK        0x200ULL /* the 2M block at gfn 512: 512 scattered 4K frames */
#define FORCED       4        /* forced rounds per copier */
#define FREE_MIGRATE 1000     /* free rounds of migration */
#define FREE_COLLAPS 60       /* free rounds of collapse by copy */
/* ns the writer holds its window open in a forced round: longer than a collapse by copy
 * takes to swap under a sanitizer on a loaded machine (20 ms was not). */
#define FORCE_WAIT 200000000

struct copy_race {
	struct ept ept;
	gfn_t gfn; /* the page the writer writes (its word 0) */
	u32 stop, pause, paused;
	u32 force_req;     /* a forced round's number, asked by the copier */
	u32 force_checked; /* ... the writer passed the check and holds its window open */
	u32 force_done;    /* ... the writer's write and read-back are done */
	u64 writes, lost, lost_val, lost_seen, swaps_seen, waited_out;
};

static u64 rnd(u64 *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dULL;
}

static u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (u64)ts.tv_sec * 1000000000ULL + (u64)ts.tv_nsec;
}

/* The frame holding gfn's data through the leaf mapped now (0: none). Inside a walk. */
static hfn_t frame_now(struct copy_race *r, gfn_t gfn)
{
	int level = 0;
	u64 e = ept_lookup(&r->ept, gfn, &level);

	return e ? hw_frame(e, level, gfn) : 0;
}

/* Between the check and the write. Forced: tell the copier, then wait until the page's
 * frame changed (the copy is over and the new frame swapped in) or FORCE_WAIT passed (the
 * copier, waiting for this walk to end before it copies, cannot swap). Free: a random spin,
 * an interrupt or a memcpy of a whole page long. */
static void window(struct copy_race *r, u32 forced, hfn_t checked, u64 *rng)
{
	u64 t0;

	if (!forced) {
		for (u64 n = rnd(rng) % 256; n > 0; n--)
			cpu_relax();
		return;
	}
	/* RELEASE/ACQUIRE handshakes with the copier thread: plain flags, nothing else. */
	__atomic_store_n(&r->force_checked, forced, __ATOMIC_RELEASE);
	for (t0 = now_ns(); now_ns() - t0 < FORCE_WAIT; cpu_relax()) {
		if (frame_now(r, r->gfn) != checked) {
			r->swaps_seen++;
			return;
		}
	}
	r->waited_out++;
}

/* guest_chunk's steps for one write of val to the writer's page, word 0. */
static void hv_write(struct copy_race *r, u64 val, u32 forced, u64 *rng)
{
	for (;;) {
		u32 token = ept_walk_begin(&r->ept);
		int level = 0;
		u64 e = ept_lookup(&r->ept, r->gfn, &level);

		if (e && (e & EPT_MMU_WRITABLE)) {
			hfn_t f = hw_frame(e, level, r->gfn);

			window(r, forced, f, rng);
			memcpy(host_data_va(f), &val, sizeof(val));
			ept_walk_end(&r->ept, token);
			ept_mark_dirty(&r->ept, r->gfn);
			return;
		}
		ept_walk_end(&r->ept, token);
		cpu_relax(); /* the page is being moved: its new frame is mapped in a moment */
	}
}

/* Read the page back through the mapping of now, as vm_copy_from_guest would. */
static u64 hv_read(struct copy_race *r)
{
	u32 token = ept_walk_begin(&r->ept);
	hfn_t f = frame_now(r, r->gfn);
	u64 val = 0; /* never written: an unmapped page reads as a lost write */

	if (f)
		memcpy(&val, host_data_va(f), sizeof(val));
	ept_walk_end(&r->ept, token);
	return val;
}

static void writer_pause_point(struct copy_race *r)
{
	if (!__atomic_load_n(&r->pause, __ATOMIC_ACQUIRE))
		return;
	__atomic_store_n(&r->paused, 1, __ATOMIC_RELEASE);
	while (__atomic_load_n(&r->pause, __ATOMIC_ACQUIRE))
		cpu_relax();
	__atomic_store_n(&r->paused, 0, __ATOMIC_RELEASE);
}

static void *writer_thread(void *p)
{
	struct copy_race *r = p;
	u64 rng = 0x9e3779b97f4a7c15ULL, val = 0;
	u32 done = 0;

	while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
		u32 req = __atomic_load_n(&r->force_req, __ATOMIC_ACQUIRE);
		u32 forced = req != done ? req : 0;
		u64 seen;

		writer_pause_point(r);
		hv_write(r, ++val, forced, &rng);
		seen = hv_read(r);
		r->writes++;
		/* RELAXED: the copier only stops early on it; the join orders the rest. */
		if (seen != val && !__atomic_fetch_add(&r->lost, 1, __ATOMIC_RELAXED)) {
			r->lost_val = val;
			r->lost_seen = seen;
		}
		if (forced) {
			done = forced;
			__atomic_store_n(&r->force_done, forced, __ATOMIC_RELEASE);
		}
	}
	return NULL;
}

/* Stop the writer outside its walk (test scaffolding, not under test). */
static void pause_writer(struct copy_race *r)
{
	__atomic_store_n(&r->pause, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&r->paused, __ATOMIC_ACQUIRE))
		cpu_relax();
}

static void resume_writer(struct copy_race *r)
{
	__atomic_store_n(&r->pause, 0, __ATOMIC_RELEASE);
	while (__atomic_load_n(&r->paused, __ATOMIC_ACQUIRE))
		cpu_relax();
}

static void check_not_lost(struct copy_race *r, const char *what)
{
	if (r->lost)
		fail_msg("%s: the write was LOST %llu times (of %llu): wrote %llu, read back %llu",
		         what, (unsigned long long)r->lost, (unsigned long long)r->writes,
		         (unsigned long long)r->lost_val, (unsigned long long)r->lost_seen);
}

/* Run one copy with the writer held inside its window (forced), or alongside it (free). */
static void copy_round(struct copy_race *r, u32 round, bool forced,
                       void (*copy)(struct copy_race *))
{
	if (forced) {
		__atomic_store_n(&r->force_req, round, __ATOMIC_RELEASE);
		while (__atomic_load_n(&r->force_checked, __ATOMIC_ACQUIRE) != round)
			cpu_relax();
	}
	copy(r);
	if (forced)
		while (__atomic_load_n(&r->force_done, __ATOMIC_ACQUIRE) != round)
			cpu_relax();
}

static void migrate(struct copy_race *r)
{
	hfn_t to = host_data_alloc(1);

	/* the old frame goes back through ept_env_free_data */
	assert_int_equal(ept_migrate_page(&r->ept, r->gfn, to), 0);
}

/* The whole 2M leaf holding the writer's page, to a fresh run. */
static void migrate_2m(struct copy_race *r)
{
	hfn_t to = host_data_alloc(2);
	int level = 0;

	assert_int_equal(ept_migrate(&r->ept, r->gfn, to, 2), 0);
	assert_int_equal(ept_hfn(ept_lookup(&r->ept, BLOCK, &level)), to);
	assert_int_equal(level, 2);
}

/* Map the block with 512 separately allocated frames (holding its data so far). */
static void map_scattered(struct copy_race *r, const u8 *data)
{
	for (int i = 0; i < 512; i++) {
		hfn_t f = host_data_alloc(1);

		if (data)
			memcpy(host_data_va(f), data + i * PAGE_SIZE, PAGE_SIZE);
		assert_int_equal(ept_map(&r->ept, BLOCK + i, f, 1, 1, PROT), 0);
	}
}

static void collapse(struct copy_race *r)
{
	int level = 0;

	assert_int_equal(ept_collapse(&r->ept, BLOCK, 2, EPT_COLLAPSE_COPY), 0);
	ept_lookup(&r->ept, BLOCK, &level);
	assert_int_equal(level, 2);
}

/* Back to 512 scattered frames with the writer paused, so the next collapse copies again. */
static void scatter(struct copy_race *r)
{
	int level = 0;
	hfn_t run = ept_hfn(ept_lookup(&r->ept, BLOCK, &level));

	assert_int_equal(level, 2);
	pause_writer(r);
	assert_int_equal(ept_unmap(&r->ept, BLOCK, 512), 0);
	map_scattered(r, host_data_va(run));
	ept_env_free_data(&r->ept, BLOCK, run, 2);
	resume_writer(r);
}

enum copier { MIGRATE_4K, MIGRATE_2M, COLLAPSE_COPY };

static void run(enum copier how)
{
	struct copy_race *r = calloc(1, sizeof(*r));
	bool collapse_by_copy = how == COLLAPSE_COPY;
	const char *what = collapse_by_copy    ? "collapse by copy"
	                   : how == MIGRATE_2M ? "migration of a 2M leaf"
	                                       : "migration";
	void (*copy)(struct copy_race *) = collapse_by_copy    ? collapse
	                                   : how == MIGRATE_2M ? migrate_2m
	                                                       : migrate;
	long data_before = host_env_data_live();
	pthread_t writer;
	u32 round = 0;

	assert_non_null(r);
	host_env_reset();
	assert_int_equal(ept_init(&r->ept), 0);
	if (how == MIGRATE_2M)
		assert_int_equal(ept_map(&r->ept, BLOCK, host_data_alloc(2), 512, 2, PROT), 0);
	else
		map_scattered(r, NULL);
	/* the last page: protected last and copied last, so its window is the longest */
	r->gfn = collapse_by_copy ? BLOCK + 511 : BLOCK + 7;
	assert_int_equal(pthread_create(&writer, NULL, writer_thread, r), 0);
	for (int i = 0; i < FORCED + (how == MIGRATE_4K ? FREE_MIGRATE : FREE_COLLAPS); i++) {
		copy_round(r, ++round, i < FORCED, copy);
		if (collapse_by_copy)
			scatter(r);
		if (__atomic_load_n(&r->lost, __ATOMIC_RELAXED))
			break;
	}
	__atomic_store_n(&r->stop, 1, __ATOMIC_RELEASE);
	pthread_join(writer, NULL);
	printf("%s: %u copies, %llu writes, %llu lost; forced rounds: %llu saw the new frame "
	       "during the window, %llu waited %d ms\n",
	       what, round, (unsigned long long)r->writes, (unsigned long long)r->lost,
	       (unsigned long long)r->swaps_seen, (unsigned long long)r->waited_out,
	       FORCE_WAIT / 1000000);
	fflush(stdout);
	check_not_lost(r, what);
	if (how == MIGRATE_2M) {
		int level = 0;
		u64 e = ept_lookup(&r->ept, BLOCK, &level);

		assert_int_equal(level, 2);
		ept_env_free_data(&r->ept, BLOCK, ept_hfn(e), 2);
	}
	for (int i = 0; how != MIGRATE_2M && i < 512; i++) {
		int level = 0;
		u64 e = ept_lookup(&r->ept, BLOCK + i, &level);

		assert_int_equal(level, 1);
		ept_env_free_data(&r->ept, BLOCK + i, ept_hfn(e), 1);
	}
	assert_int_equal(ept_unmap(&r->ept, BLOCK, 512), 0);
	ept_destroy(&r->ept);
	assert_int_equal(host_env_tables_live(), 0);
	assert_int_equal(host_env_data_live(), data_before);
	free(r);
}

static void test_migrate_keeps_hypervisor_writes(void **state)
{
	(void)state;
	run(MIGRATE_4K);
}

static void test_migrate_2m_keeps_hypervisor_writes(void **state)
{
	(void)state;
	run(MIGRATE_2M);
}

static void test_collapse_copy_keeps_hypervisor_writes(void **state)
{
	(void)state;
	run(COLLAPSE_COPY);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_migrate_keeps_hypervisor_writes),
		cmocka_unit_test(test_migrate_2m_keeps_hypervisor_writes),
		cmocka_unit_test(test_collapse_copy_keeps_hypervisor_writes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
