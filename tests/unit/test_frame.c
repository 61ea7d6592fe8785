/*
 * Host tests of the frame allocator (mm/frame.c): states and rounding, lowest-first order,
 * aligned runs against a naive reference model on random operation sequences, the bug hook
 * for bad frees, the 1 GiB search over a 4 GiB bitmap, and real threads racing alloc/free.
 */
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

#include "mm/frame.h"

/* ---- the bug hook: this strong definition replaces frame.c's weak one ---------------------- */

static int bug_calls;
static const char *bug_what;
static hfn_t bug_hfn;

void frame_bug(const char *what, hfn_t hfn)
{
	bug_calls++;
	bug_what = what;
	bug_hfn = hfn;
}

/* ---- fixture ------------------------------------------------------------------------------- */

struct fixture {
	struct frame_alloc fa;
	u64 *bm;
};

static struct fixture *fx_new(hfn_t nframes)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	/* Exactly the advertised size, so ASan catches any access past it. */
	f->bm = malloc(frame_bitmap_bytes(nframes) ? frame_bitmap_bytes(nframes) : 1);
	assert_non_null(f->bm);
	memset(f->bm, 0xa5, frame_bitmap_bytes(nframes)); /* contents must be ignored */
	frame_init(&f->fa, f->bm, nframes);
	bug_calls = 0;
	bug_what = NULL;
	bug_hfn = 0;
	return f;
}

static void fx_free(struct fixture *f)
{
	free(f->bm);
	free(f);
}

static bool is_free(const struct frame_alloc *fa, hfn_t h)
{
	return fa->bitmap[h / 64] & BIT(h % 64);
}

/* ---- basics -------------------------------------------------------------------------------- */

static void test_bitmap_bytes(void **state)
{
	(void)state;
	assert_int_equal(frame_bitmap_bytes(0), 0);
	assert_int_equal(frame_bitmap_bytes(1), 16);
	assert_int_equal(frame_bitmap_bytes(64), 16);
	assert_int_equal(frame_bitmap_bytes(65), 32);
	assert_int_equal(frame_bitmap_bytes(1ULL << 20), 2 * (1 << 20) / 8); /* 4 GiB: 256 KiB */
}

static void test_starts_reserved(void **state)
{
	struct fixture *f = fx_new(1000);

	(void)state;
	assert_int_equal(frame_free_count(&f->fa), 0);
	assert_true(frame_alloc(&f->fa) == INVALID_HFN);
	assert_true(frame_alloc_run(&f->fa, 3) == INVALID_HFN);
	fx_free(f);
}

static void test_add_free_rounds_inward(void **state)
{
	struct fixture *f = fx_new(100);

	(void)state;
	frame_add_free(&f->fa, 0x1001, 0x5fff); /* whole frames 2, 3, 4 */
	assert_int_equal(frame_free_count(&f->fa), 3);
	assert_false(is_free(&f->fa, 1));
	assert_true(is_free(&f->fa, 2) && is_free(&f->fa, 4));
	assert_false(is_free(&f->fa, 5));
	frame_add_free(&f->fa, 0x7001, 0x7fff); /* no whole frame */
	frame_add_free(&f->fa, 0x9000, 0x8000); /* end before start */
	assert_int_equal(frame_free_count(&f->fa), 3);
	fx_free(f);
}

static void test_reserve_rounds_outward(void **state)
{
	struct fixture *f = fx_new(100);

	(void)state;
	frame_add_free(&f->fa, 0, 100 * PAGE_SIZE);
	assert_int_equal(frame_free_count(&f->fa), 100);
	frame_reserve(&f->fa, 0x1fff, 0x2001); /* touches frames 1 and 2 */
	assert_int_equal(frame_free_count(&f->fa), 98);
	assert_false(is_free(&f->fa, 1) || is_free(&f->fa, 2));
	assert_true(is_free(&f->fa, 0) && is_free(&f->fa, 3));
	frame_reserve(&f->fa, 0x1000, 0x3000); /* again: nothing more taken */
	assert_int_equal(frame_free_count(&f->fa), 98);
	fx_free(f);
}

static void test_ranges_clamped(void **state)
{
	struct fixture *f = fx_new(70);

	(void)state;
	frame_add_free(&f->fa, 0, ~0ULL); /* beyond nframes ignored */
	assert_int_equal(frame_free_count(&f->fa), 70);
	frame_add_free(&f->fa, ~0ULL - 10, ~0ULL); /* would wrap if rounded blindly */
	frame_reserve(&f->fa, ~0ULL - 10, ~0ULL);
	assert_int_equal(frame_free_count(&f->fa), 70);
	frame_reserve(&f->fa, 69 * PAGE_SIZE + 1, ~0ULL); /* frame 69 and beyond */
	assert_int_equal(frame_free_count(&f->fa), 69);
	frame_reserve(&f->fa, 0, 0); /* empty */
	assert_int_equal(frame_free_count(&f->fa), 69);
	fx_free(f);
}

static void test_add_free_twice_and_over_allocated(void **state)
{
	struct fixture *f = fx_new(64);
	hfn_t h;

	(void)state;
	frame_add_free(&f->fa, 0, 64 * PAGE_SIZE);
	frame_add_free(&f->fa, 0, 64 * PAGE_SIZE);
	assert_int_equal(frame_free_count(&f->fa), 64);
	h = frame_alloc(&f->fa);
	assert_int_equal(h, 0);
	frame_add_free(&f->fa, 0, 64 * PAGE_SIZE); /* must not free the allocated frame */
	assert_int_equal(frame_free_count(&f->fa), 63);
	assert_false(is_free(&f->fa, 0));
	fx_free(f);
}

static void test_lowest_first_and_exhaustion(void **state)
{
	struct fixture *f = fx_new(200); /* not a multiple of 64 */

	(void)state;
	frame_add_free(&f->fa, 0, 200 * PAGE_SIZE);
	frame_reserve(&f->fa, 0, PAGE_SIZE);
	for (hfn_t want = 1; want < 200; want++)
		assert_int_equal(frame_alloc(&f->fa), want);
	assert_true(frame_alloc(&f->fa) == INVALID_HFN);
	assert_int_equal(frame_free_count(&f->fa), 0);
	frame_free(&f->fa, 150);
	frame_free(&f->fa, 7);
	assert_int_equal(frame_free_count(&f->fa), 2);
	assert_int_equal(frame_alloc(&f->fa), 7); /* the hint went back down */
	assert_int_equal(frame_alloc(&f->fa), 150);
	assert_true(frame_alloc(&f->fa) == INVALID_HFN);
	assert_int_equal(bug_calls, 0);
	fx_free(f);
}

/* frame_is_free: what the APIC-page checks ask of a frame a VMCS names. */
static void test_is_free(void **state)
{
	struct fixture *f = fx_new(200);
	hfn_t h;

	(void)state;
	frame_add_free(&f->fa, PAGE_SIZE, 200 * PAGE_SIZE);
	assert_false(frame_is_free(&f->fa, 0)); /* never added */
	h = frame_alloc(&f->fa);
	assert_false(frame_is_free(&f->fa, h));
	assert_true(frame_is_free(&f->fa, h + 1));
	frame_free(&f->fa, h);
	assert_true(frame_is_free(&f->fa, h));
	assert_false(frame_is_free(&f->fa, 200)); /* beyond the allocator */
	assert_false(frame_is_free(&f->fa, ~0ULL));
	fx_free(f);
}

static void test_runs_aligned_and_bounded(void **state)
{
	struct fixture *f = fx_new(100);

	(void)state;
	frame_add_free(&f->fa, 0, 100 * PAGE_SIZE);
	assert_int_equal(frame_alloc(&f->fa), 0);
	assert_int_equal(frame_alloc_run(&f->fa, 1), 2); /* 1 is free but 1..2 is not aligned */
	assert_int_equal(frame_alloc_run(&f->fa, 2), 4);
	assert_int_equal(frame_alloc_run(&f->fa, 5), 32);
	assert_true(frame_alloc_run(&f->fa, 6) == INVALID_HFN); /* 64..127 exceeds 100 frames */
	assert_true(frame_alloc_run(&f->fa, 7) == INVALID_HFN);
	assert_true(frame_alloc_run(&f->fa, FRAME_MAX_ORDER + 1) == INVALID_HFN);
	assert_int_equal(frame_alloc_run(&f->fa, 0), 1);
	assert_int_equal(frame_free_count(&f->fa), 100 - 1 - 2 - 4 - 32 - 1);
	frame_free_run(&f->fa, 32, 5);
	frame_free_run(&f->fa, 4, 2);
	assert_int_equal(frame_free_count(&f->fa), 100 - 1 - 2 - 1);
	assert_int_equal(bug_calls, 0);
	fx_free(f);
}

static void test_big_run_2m(void **state)
{
	struct fixture *f = fx_new(4096); /* 16 MiB */

	(void)state;
	frame_add_free(&f->fa, 0, 4096 * PAGE_SIZE);
	frame_reserve(&f->fa, 600 * PAGE_SIZE, 601 * PAGE_SIZE); /* breaks the second 2 MiB */
	assert_int_equal(frame_alloc(&f->fa), 0);                /* breaks the first */
	assert_int_equal(frame_alloc_run(&f->fa, 9), 1024);
	assert_int_equal(frame_alloc_run(&f->fa, 9), 1536);
	assert_int_equal(frame_alloc_run(&f->fa, 10), 2048);
	assert_int_equal(frame_alloc_run(&f->fa, 10), 3072);
	assert_true(frame_alloc_run(&f->fa, 9) == INVALID_HFN);
	assert_int_equal(frame_alloc_run(&f->fa, 8), 256);
	fx_free(f);
}

/* Compaction's isolation: nothing inside the range is handed out (single frames, small and
 * big runs), frees into it count, and the range is usable again once released. */
static void test_isolated_range_not_handed_out(void **state)
{
	struct fixture *f = fx_new(4096); /* 16 MiB */

	(void)state;
	frame_add_free(&f->fa, 0, 4096 * PAGE_SIZE);
	assert_false(frame_isolate(&f->fa, 10, 1024)); /* not word-aligned */
	assert_false(frame_isolate(&f->fa, 1024, 1024));
	assert_true(frame_isolate(&f->fa, 0, 1024));     /* the first 4 MiB */
	assert_false(frame_isolate(&f->fa, 2048, 2112)); /* one range at a time */
	assert_int_equal(frame_alloc(&f->fa), 1024);
	assert_int_equal(frame_alloc_run(&f->fa, 2), 1028);
	assert_int_equal(frame_alloc_run(&f->fa, 9), 1536);
	assert_int_equal(frame_alloc_run(&f->fa, 6), 1088);
	assert_int_equal(frame_free_in(&f->fa, 0, 1024), 1024);
	assert_int_equal(frame_free_in(&f->fa, 1024, 1100), 76 - 1 - 4 - 12);
	frame_unisolate(&f->fa);
	assert_int_equal(frame_alloc(&f->fa), 0); /* the hint went back into the range */
	assert_true(frame_isolate(&f->fa, 0, 64));
	frame_free(&f->fa, 0); /* a free into the isolated range counts */
	assert_int_equal(frame_free_in(&f->fa, 0, 64), 64);
	assert_int_equal(frame_alloc(&f->fa), 64);
	frame_unisolate(&f->fa);
	assert_int_equal(bug_calls, 0);
	fx_free(f);
}

/* ---- bad frees ----------------------------------------------------------------------------- */

static void expect_bug(int calls, const char *what, hfn_t hfn)
{
	assert_int_equal(bug_calls, calls);
	assert_non_null(bug_what);
	assert_string_equal(bug_what, what);
	assert_int_equal(bug_hfn, hfn);
}

static void test_bad_frees_reported(void **state)
{
	struct fixture *f = fx_new(128);
	u64 before;

	(void)state;
	frame_add_free(&f->fa, 0, 128 * PAGE_SIZE);
	frame_reserve(&f->fa, 100 * PAGE_SIZE, 101 * PAGE_SIZE);
	assert_int_equal(frame_alloc(&f->fa), 0);
	before = frame_free_count(&f->fa);

	frame_free(&f->fa, 5);
	expect_bug(1, "double free", 5);
	frame_free(&f->fa, 100);
	expect_bug(2, "free of a reserved frame", 100);
	frame_free(&f->fa, 128);
	expect_bug(3, "free of an out-of-range frame", 128);
	frame_free(&f->fa, INVALID_HFN);
	expect_bug(4, "free of an out-of-range frame", INVALID_HFN);
	assert_int_equal(frame_free_count(&f->fa), before);
	assert_int_equal(f->fa.bugs, 4);

	frame_free(&f->fa, 0);
	assert_int_equal(bug_calls, 4);
	frame_free(&f->fa, 0);
	expect_bug(5, "double free", 0);
	fx_free(f);
}

static void test_bad_run_frees_change_nothing(void **state)
{
	struct fixture *f = fx_new(256);
	u64 before;

	(void)state;
	frame_add_free(&f->fa, 0, 256 * PAGE_SIZE);
	assert_int_equal(frame_alloc_run(&f->fa, 4), 0);
	assert_int_equal(frame_alloc_run(&f->fa, 7), 128);
	before = frame_free_count(&f->fa);

	frame_free_run(&f->fa, 8, 4);
	expect_bug(1, "free of a misaligned run", 8);
	frame_free_run(&f->fa, 0, 5); /* frames 16..31 are free */
	expect_bug(2, "double free", 16);
	frame_free_run(&f->fa, 128, 8); /* 256 frames from 128: past the end */
	expect_bug(3, "free of an out-of-range frame", 128);
	frame_free_run(&f->fa, 0, 64); /* absurd order */
	expect_bug(4, "free of an out-of-range frame", 0);
	frame_reserve(&f->fa, 200 * PAGE_SIZE, 201 * PAGE_SIZE);
	frame_free_run(&f->fa, 128, 7);
	expect_bug(5, "free of a reserved frame", 200);
	assert_int_equal(frame_free_count(&f->fa), before);
	for (hfn_t h = 0; h < 16; h++)
		assert_false(is_free(&f->fa, h));
	frame_free_run(&f->fa, 0, 4);
	assert_int_equal(bug_calls, 5);
	assert_int_equal(frame_free_count(&f->fa), before + 16);
	fx_free(f);
}

/* ---- random sequences against a naive model ------------------------------------------------ */

enum ref_state { REF_RESERVED, REF_FREE, REF_USED };

struct model {
	hfn_t n;
	u8 *st;
	u64 nfree;
};

static hfn_t ref_find(const struct model *m, unsigned order)
{
	u64 len = 1ULL << order;

	for (hfn_t s = 0; s + len <= m->n; s += len) {
		u64 i = 0;

		while (i < len && m->st[s + i] == REF_FREE)
			i++;
		if (i == len)
			return s;
	}
	return INVALID_HFN;
}

static void ref_set(struct model *m, hfn_t s, u64 len, u8 to)
{
	for (u64 i = 0; i < len; i++) {
		m->nfree -= m->st[s + i] == REF_FREE;
		m->st[s + i] = to;
		m->nfree += to == REF_FREE;
	}
}

struct held {
	hfn_t hfn;
	unsigned order;
};

static void random_step(struct fixture *f, struct model *m, struct held *h, int *nh, unsigned *seed)
{
	int op = rand_r(seed) % 10;

	if (op < 5 || *nh == 0) {
		unsigned order = rand_r(seed) % 3 == 0 ? rand_r(seed) % 11 : 0;
		hfn_t want = ref_find(m, order), got = frame_alloc_run(&f->fa, order);

		assert_int_equal(got, want);
		if (got != INVALID_HFN) {
			ref_set(m, got, 1ULL << order, REF_USED);
			h[(*nh)++] = (struct held){ got, order };
		}
	} else if (op < 9) {
		int i = rand_r(seed) % *nh;

		frame_free_run(&f->fa, h[i].hfn, h[i].order);
		ref_set(m, h[i].hfn, 1ULL << h[i].order, REF_FREE);
		h[i] = h[--*nh];
	} else {
		hfn_t s = rand_r(seed) % m->n, len = 1 + rand_r(seed) % 100;

		len = MIN(len, m->n - s);
		frame_add_free(&f->fa, hfn_to_hpa(s), hfn_to_hpa(s + len));
		for (u64 i = 0; i < len; i++)
			if (m->st[s + i] == REF_RESERVED)
				ref_set(m, s + i, 1, REF_FREE);
	}
	assert_int_equal(frame_free_count(&f->fa), m->nfree);
}

static void test_random_against_model(void **state)
{
	const hfn_t n = 3000;
	struct fixture *f = fx_new(n);
	struct model m = { n, calloc(n, 1), 0 };
	struct held *h = calloc(n, sizeof(*h));
	unsigned seed = 12345;
	int nh = 0;

	(void)state;
	/* Usable RAM with holes, as a firmware map would give. */
	for (hfn_t s = 0; s < n; s += 700) {
		hfn_t e = MIN(s + 600, n);

		frame_add_free(&f->fa, hfn_to_hpa(s), hfn_to_hpa(e));
		ref_set(&m, s, e - s, REF_FREE);
	}
	for (int i = 0; i < 20000; i++)
		random_step(f, &m, h, &nh, &seed);
	for (hfn_t i = 0; i < n; i++)
		assert_int_equal(is_free(&f->fa, i), m.st[i] == REF_FREE);
	assert_int_equal(bug_calls, 0);
	free(h);
	free(m.st);
	fx_free(f);
}

/* ---- scale: 1 GiB runs over a 4 GiB bitmap ------------------------------------------------- */

static double now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void test_1g_run_in_4g(void **state)
{
	const hfn_t n = 1ULL << 20; /* 4 GiB */
	struct fixture *f = fx_new(n);
	double t0, t;

	(void)state;
	frame_add_free(&f->fa, 0, hfn_to_hpa(n));
	/* One used frame in each of the first three GiB, near their ends. */
	for (int g = 0; g < 3; g++)
		frame_reserve(&f->fa, hfn_to_hpa((g + 1) * (n / 4) - 1),
		              hfn_to_hpa((g + 1) * (n / 4)));
	t0 = now_sec();
	assert_int_equal(frame_alloc_run(&f->fa, 18), 3 * (n / 4));
	for (int i = 0; i < 100; i++) /* nothing left: each search scans the whole bitmap */
		assert_true(frame_alloc_run(&f->fa, 18) == INVALID_HFN);
	t = now_sec() - t0;
	print_message("101 searches for 1 GiB over 4 GiB: %.3f ms each\n", t * 1e3 / 101);
	assert_true(t < 2.0); /* word-at-a-time: ~16 Ki words per search, even under ASan */
	frame_free_run(&f->fa, 3 * (n / 4), 18);
	assert_int_equal(frame_free_count(&f->fa), n - 3);
	assert_int_equal(frame_alloc(&f->fa), 0);
	fx_free(f);
}

/* ---- threads ------------------------------------------------------------------------------- */

#define NTHREADS     8
#define THREAD_ITERS 20000
#define THREAD_HOLD  64
#define RACE_FRAMES  4096

static struct frame_alloc race_fa;
static u8 owner[RACE_FRAMES]; /* 0 = nobody, else the thread number + 1 */
static int race_errors;

/* Claim (or release) every frame of a run in the ownership table; count any collision. */
static void claim(hfn_t hfn, unsigned order, u8 me, bool take)
{
	for (u64 i = 0; i < (1ULL << order); i++) {
		u8 expect = take ? 0 : me, want = take ? me : 0;

		if (!__atomic_compare_exchange_n(&owner[hfn + i], &expect, want, false,
		                                 __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
			__atomic_fetch_add(&race_errors, 1, __ATOMIC_RELAXED);
	}
}

static void *race_thread(void *arg)
{
	u8 me = (u8)(uintptr_t)arg;
	unsigned seed = me * 7919;
	struct held h[THREAD_HOLD];
	int nh = 0;

	for (int i = 0; i < THREAD_ITERS; i++) {
		if (nh < THREAD_HOLD && (nh == 0 || rand_r(&seed) % 2)) {
			unsigned order = rand_r(&seed) % 4 == 0 ? rand_r(&seed) % 7 : 0;
			hfn_t got = frame_alloc_run(&race_fa, order);

			if (got == INVALID_HFN)
				continue;
			claim(got, order, me, true);
			h[nh++] = (struct held){ got, order };
		} else {
			int k = rand_r(&seed) % nh;

			claim(h[k].hfn, h[k].order, me, false);
			frame_free_run(&race_fa, h[k].hfn, h[k].order);
			h[k] = h[--nh];
		}
	}
	while (nh--) {
		claim(h[nh].hfn, h[nh].order, me, false);
		frame_free_run(&race_fa, h[nh].hfn, h[nh].order);
	}
	return NULL;
}

static void test_threads_never_share_a_frame(void **state)
{
	u64 *bm = malloc(frame_bitmap_bytes(RACE_FRAMES));
	pthread_t t[NTHREADS];

	(void)state;
	frame_init(&race_fa, bm, RACE_FRAMES);
	frame_add_free(&race_fa, 0, hfn_to_hpa(RACE_FRAMES));
	frame_reserve(&race_fa, hfn_to_hpa(1000), hfn_to_hpa(1100));
	bug_calls = 0;
	for (uintptr_t i = 0; i < NTHREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, race_thread, (void *)(i + 1)), 0);
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(race_errors, 0);
	assert_int_equal(bug_calls, 0);
	assert_int_equal(frame_free_count(&race_fa), RACE_FRAMES - 100);
	for (hfn_t h = 0; h < RACE_FRAMES; h++)
		assert_int_equal(is_free(&race_fa, h), h < 1000 || h >= 1100);
	free(bm);
}

/* Starved: far fewer frames than the threads want, so allocations fail and race with frees. */
static void test_threads_starved(void **state)
{
	u64 *bm = malloc(frame_bitmap_bytes(RACE_FRAMES));
	pthread_t t[NTHREADS];

	(void)state;
	memset(owner, 0, sizeof(owner));
	race_errors = 0;
	frame_init(&race_fa, bm, RACE_FRAMES);
	frame_add_free(&race_fa, hfn_to_hpa(64), hfn_to_hpa(64 + 200));
	for (uintptr_t i = 0; i < NTHREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, race_thread, (void *)(i + 1)), 0);
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(race_errors, 0);
	assert_int_equal(race_fa.bugs, 0);
	assert_int_equal(frame_free_count(&race_fa), 200);
	free(bm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bitmap_bytes),
		cmocka_unit_test(test_starts_reserved),
		cmocka_unit_test(test_add_free_rounds_inward),
		cmocka_unit_test(test_reserve_rounds_outward),
		cmocka_unit_test(test_ranges_clamped),
		cmocka_unit_test(test_add_free_twice_and_over_allocated),
		cmocka_unit_test(test_lowest_first_and_exhaustion),
		cmocka_unit_test(test_is_free),
		cmocka_unit_test(test_runs_aligned_and_bounded),
		cmocka_unit_test(test_big_run_2m),
		cmocka_unit_test(test_isolated_range_not_handed_out),
		cmocka_unit_test(test_bad_frees_reported),
		cmocka_unit_test(test_bad_run_frees_change_nothing),
		cmocka_unit_test(test_random_against_model),
		cmocka_unit_test(test_1g_run_in_4g),
		cmocka_unit_test(test_threads_never_share_a_frame),
		cmocka_unit_test(test_threads_starved),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
