/*
 * Host unit tests of the EPT MMU (ept/), one group per operation: entry helpers, map at each
 * level, ranges across 2M/1G boundaries, argument errors, allocator exhaustion (nothing
 * half-done), unmap with splits, lookup, destroy (every table freed), split and collapse,
 * write-protect, the fault handler, dirty logs in each mode, and A/D scans with trackers.
 * The environment is tests/unit/ept_env_host.c (counts live tables, fails on demand).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "ept/ept.h"
#include "ept/iter.h"
#include "ept_env_host.h"
#include "errno.h"

#define PROT (EPT_R | EPT_W | EPT_X | EPT_HOST_WRITABLE | EPT_MMU_WRITABLE)
#define P2M ept_level_pages(2)
#define P1G ept_level_pages(3)
#define HFN 0x100000ULL /* a 1G-aligned fake host frame: these tests never touch data */

static int setup(void **state)
{
	struct ept *e = calloc(1, sizeof(*e));

	host_env_reset();
	assert_int_equal(host_env_tables_live(), 0);
	assert_int_equal(ept_init(e), 0);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct ept *e = *state;

	host_env_reset();
	ept_destroy(e);
	assert_int_equal(host_env_tables_live(), 0); /* destroy frees every table */
	free(e);
	return 0;
}

static long tables(const struct ept *e) { return __atomic_load_n(&e->stats.tables, 0); }
static long leaves(const struct ept *e, int l) { return __atomic_load_n(&e->stats.leaves[l], 0); }

/* Every page of gfn..gfn+n-1 maps hfn + offset with a leaf of `level` (n small: all pages;
 * large: both ends and a stride). */
static void assert_mapped(struct ept *e, gfn_t gfn, u64 n, hfn_t hfn, int level)
{
	u64 step = n > 4096 ? n / 4096 + 1 : 1;

	for (u64 i = 0; i < n; i = (i + step < n || i == n - 1) ? i + step : n - 1) {
		int l = 0;
		u64 leaf = ept_lookup(e, gfn + i, &l);

		assert_true(ept_leaf(leaf, l));
		assert_int_equal(l, level);
		assert_int_equal(ept_hfn(leaf) + (gfn + i) % ept_level_pages(l), hfn + i);
	}
}

static void assert_unmapped(struct ept *e, gfn_t gfn, u64 n)
{
	u64 step = n > 4096 ? n / 4096 + 1 : 1;

	for (u64 i = 0; i < n; i += step)
		assert_int_equal(ept_lookup(e, gfn + i, NULL), 0);
	assert_int_equal(ept_lookup(e, gfn + n - 1, NULL), 0);
}

/* ---- entry helpers ---------------------------------------------------------------------------- */

static void test_entry_helpers(void **state)
{
	u64 e4k = ept_leaf_entry(0x1234, 1, EPT_R | EPT_W | EPT_A);
	u64 e2m = ept_leaf_entry(0x200, 2, EPT_R | EPT_X | EPT_HOST_WRITABLE);

	(void)state;
	assert_int_equal(ept_level_pages(1), 1);
	assert_int_equal(ept_level_pages(2), 512);
	assert_int_equal(ept_level_pages(3), 512 * 512);
	assert_int_equal(ept_index(0x12345678, 1), 0x12345678 & 511);
	assert_int_equal(ept_index(0x12345678, 2), (0x12345678 >> 9) & 511);
	assert_int_equal(ept_index(EPT_GFN_LIMIT - 1, 4), 511);
	assert_true(ept_present(e4k) && ept_leaf(e4k, 1) && !ept_table(e4k, 1));
	assert_int_equal(ept_hfn(e4k), 0x1234);
	assert_int_equal(e4k & EPT_MT_MASK, EPT_MT_WB);
	assert_int_equal(e4k & EPT_MT_MASK, 6 << 3);
	assert_true(e4k & EPT_IPAT);
	assert_false(e4k & EPT_LARGE);
	assert_true(e4k & EPT_A);
	assert_true(ept_leaf(e2m, 2) && (e2m & EPT_LARGE));
	assert_true(e2m & EPT_HOST_WRITABLE);
	assert_false(ept_present(0) || ept_leaf(0, 1) || ept_table(0, 2));
	assert_true(ept_table(ept_table_entry(0x5000), 2));
	assert_int_equal(ept_child(ept_table_entry(0x5000)), 0x5000);
	assert_false(ept_leaf(ept_table_entry(0x5000), 2));
	assert_true(ept_allows(e4k, EPT_R | EPT_W));
	assert_false(ept_allows(e4k, EPT_X));
	assert_true(ept_fast_writable(EPT_R | EPT_HOST_WRITABLE | EPT_MMU_WRITABLE));
	assert_false(ept_fast_writable(EPT_R | EPT_HOST_WRITABLE));
	assert_false(ept_fast_writable(EPT_R | EPT_W | EPT_HOST_WRITABLE | EPT_MMU_WRITABLE));
	assert_int_equal(EPT_HOST_WRITABLE, BIT(52));
	assert_int_equal(EPT_MMU_WRITABLE, BIT(53));
	assert_int_equal(EPT_FRAME_MASK, 0x000ffffffffff000ULL);
}

static void test_eptp(void **state)
{
	struct ept *e = *state;

	assert_int_equal(ept_eptp(e, false), e->root | 0x1e);
	assert_int_equal(ept_eptp(e, true), e->root | 0x5e);
	assert_true(IS_ALIGNED(e->root, PAGE_SIZE));
}

/* ---- map / lookup -------------------------------------------------------------------------------- */

static void test_map_each_level(void **state)
{
	struct ept *e = *state;
	int l = 0;
	u64 leaf;

	assert_int_equal(ept_map(e, 5, 0x77, 1, 1, PROT), 0);
	assert_int_equal(ept_map(e, P2M, HFN, P2M, 2, PROT), 0);
	assert_int_equal(ept_map(e, P1G, HFN, P1G, 3, EPT_R | EPT_X), 0);
	assert_mapped(e, 5, 1, 0x77, 1);
	assert_mapped(e, P2M, P2M, HFN, 2);
	assert_mapped(e, P1G, P1G, HFN, 3);
	leaf = ept_lookup(e, P1G + 12345, &l);
	assert_int_equal(l, 3);
	assert_int_equal(leaf & EPT_PROT_MASK, EPT_R | EPT_X);
	assert_true(leaf & EPT_LARGE);
	leaf = ept_lookup(e, 5, &l);
	assert_int_equal(leaf & EPT_PROT_MASK, PROT);
	assert_int_equal(l, 1);
	assert_int_equal(ept_lookup(e, 4, NULL), 0);
	assert_int_equal(ept_lookup(e, 6, NULL), 0);
	assert_int_equal(ept_lookup(e, 2 * P1G, NULL), 0);
	/* root + PDPT + PD(0) + PT(0); the 1G leaf needs no more */
	assert_int_equal(tables(e), 4);
	assert_int_equal(leaves(e, 1), 1);
	assert_int_equal(leaves(e, 2), 1);
	assert_int_equal(leaves(e, 3), 1);
	assert_int_equal(host_env_tables_live(), 4);
}

static void test_map_across_boundaries(void **state)
{
	struct ept *e = *state;

	/* 4K pages across a 2M boundary and a 1G boundary: two leaf tables each. */
	assert_int_equal(ept_map(e, P2M - 8, 0x1000, 16, 1, PROT), 0);
	assert_mapped(e, P2M - 8, 16, 0x1000, 1);
	assert_int_equal(ept_map(e, P1G - 8, 0x2000, 16, 1, PROT), 0);
	assert_mapped(e, P1G - 8, 16, 0x2000, 1);
	assert_int_equal(leaves(e, 1), 32);
	/* root, PDPT, PD0, PT0, PT1, PT(last of PD0), PD1, PT(first of PD1) */
	assert_int_equal(tables(e), 8);
	/* 2M leaves across a 1G boundary */
	assert_int_equal(ept_map(e, 3 * P1G - 2 * P2M, HFN, 4 * P2M, 2, PROT), 0);
	assert_mapped(e, 3 * P1G - 2 * P2M, 4 * P2M, HFN, 2);
	assert_int_equal(leaves(e, 2), 4);
	/* 1G leaves across a 512G boundary (two PDPTs) */
	assert_int_equal(ept_map(e, 512 * P1G - P1G, HFN, 2 * P1G, 3, PROT), 0);
	assert_mapped(e, 512 * P1G - P1G, 2 * P1G, HFN, 3);
	assert_int_equal(leaves(e, 3), 2);
}

static void test_map_large_range_4k(void **state)
{
	struct ept *e = *state;
	u64 n = 3 * P2M + 100;

	assert_int_equal(ept_map(e, 7, 0x9000, n, 1, PROT), 0);
	assert_mapped(e, 7, n, 0x9000, 1);
	assert_int_equal(ept_lookup(e, 6, NULL), 0);
	assert_int_equal(ept_lookup(e, 7 + n, NULL), 0);
	assert_int_equal(leaves(e, 1), n);
	assert_int_equal(tables(e), 3 + 4);
}

static void test_map_bad_args(void **state)
{
	struct ept *e = *state;

	assert_int_equal(ept_map(e, 1, HFN, P2M, 2, PROT), -EINVAL);      /* gfn */
	assert_int_equal(ept_map(e, 0, HFN + 1, P2M, 2, PROT), -EINVAL);  /* hfn */
	assert_int_equal(ept_map(e, 0, HFN, P2M + 1, 2, PROT), -EINVAL);  /* npages */
	assert_int_equal(ept_map(e, P2M, HFN, P1G, 3, PROT), -EINVAL);    /* 1G alignment */
	assert_int_equal(ept_map(e, 0, HFN, 1, 0, PROT), -EINVAL);        /* level */
	assert_int_equal(ept_map(e, 0, HFN, P1G * 512, 4, PROT), -EINVAL);
	assert_int_equal(ept_map(e, 0, HFN, 1, 1, 0), -EINVAL);           /* not present */
	assert_int_equal(ept_map(e, 0, HFN, 1, 1, EPT_W), -EINVAL);       /* W without R */
	assert_int_equal(ept_map(e, 0, HFN, 1, 1, EPT_R | EPT_A), -EINVAL); /* not a prot bit */
	assert_int_equal(ept_map(e, 0, HFN, 1, 1, EPT_R | BIT(12)), -EINVAL);
	assert_int_equal(ept_map(e, 0, HFN, 1, 1, EPT_X), 0);              /* execute-only is fine */
	assert_int_equal(tables(e), 4);
}

static void test_empty_ranges(void **state)
{
	struct ept *e = *state;
	u64 flushes = host_env_flushes();

	assert_int_equal(ept_map(e, 100, HFN, 0, 1, PROT), 0);
	assert_int_equal(ept_unmap(e, 100, 0), 0);
	assert_int_equal(ept_write_protect(e, 100, 0), 0);
	assert_int_equal(ept_split(e, 100, 0, 1), 0);
	assert_int_equal(tables(e), 1);
	assert_int_equal(host_env_tables_live(), 1);
	assert_int_equal(host_env_flushes(), flushes);
}

static void test_beyond_reach(void **state)
{
	struct ept *e = *state;
	gfn_t last = EPT_GFN_LIMIT - 1;

	assert_int_equal(ept_map(e, last, HFN, 2, 1, PROT), -ERANGE);
	assert_int_equal(ept_map(e, EPT_GFN_LIMIT, HFN, 1, 1, PROT), -ERANGE);
	assert_int_equal(ept_map(e, ~0ULL - 511, HFN, 512, 2, PROT), -ERANGE); /* would wrap */
	assert_int_equal(ept_map(e, 0, EPT_HFN_LIMIT, 1, 1, PROT), -ERANGE);
	assert_int_equal(ept_unmap(e, last, 2), -ERANGE);
	assert_int_equal(ept_unmap(e, 0, ~0ULL), -ERANGE);
	assert_int_equal(ept_write_protect(e, EPT_GFN_LIMIT, 1), -ERANGE);
	assert_int_equal(ept_split(e, last, 2, 1), -ERANGE);
	assert_int_equal(ept_collapse(e, EPT_GFN_LIMIT, 2, EPT_COLLAPSE_IN_PLACE), -ERANGE);
	assert_int_equal(ept_handle_fault(e, EPT_GFN_LIMIT, EPT_R), -ERANGE);
	assert_int_equal(ept_lookup(e, EPT_GFN_LIMIT, NULL), 0);
	/* the very last page is within reach */
	assert_int_equal(ept_map(e, last, HFN, 1, 1, PROT), 0);
	assert_mapped(e, last, 1, HFN, 1);
	assert_int_equal(ept_unmap(e, last, 1), 0);
	assert_unmapped(e, last, 1);
}

static void test_map_eexist_changes_nothing(void **state)
{
	struct ept *e = *state;
	long t;

	assert_int_equal(ept_map(e, P1G + 600, 0x500, 1, 1, PROT), 0);
	t = tables(e);
	/* overlaps at the end: nothing of the rest may appear, no table is added */
	assert_int_equal(ept_map(e, 4 * P2M, 0x1000, P1G, 1, PROT), -EEXIST);
	assert_unmapped(e, 4 * P2M, P1G - 5 * P2M);
	assert_int_equal(ept_map(e, P1G + P2M, HFN, P2M, 2, PROT), -EEXIST);
	assert_int_equal(ept_map(e, P1G, HFN, P1G, 3, PROT), -EEXIST);
	assert_int_equal(ept_map(e, P1G + 600, 0x900, 1, 1, PROT), -EEXIST);
	assert_int_equal(tables(e), t);
	assert_int_equal(host_env_tables_live(), t);
	assert_mapped(e, P1G + 600, 1, 0x500, 1);
	/* a huge leaf blocks 4K maps inside it */
	assert_int_equal(ept_map(e, 2 * P1G, HFN, P1G, 3, PROT), 0);
	assert_int_equal(ept_map(e, 2 * P1G + 77, 0x1, 1, 1, PROT), -EEXIST);
}

/* An allocator that fails after n tables: every n leaves nothing visible and leaks nothing. */
static void test_map_out_of_tables(void **state)
{
	struct ept *e = *state;
	u64 n = 2 * P1G + 3 * P2M + 5; /* crosses 1G boundaries: 1 PDPT, 3 PDs, ~1030 PTs */
	long before = host_env_tables_live();
	int err;

	for (long budget = 0; budget < 5; budget++) {
		host_env_fail_tables_after(budget);
		assert_int_equal(ept_map(e, P1G - 3, 0x40000, n, 1, PROT), -ENOMEM);
		host_env_fail_tables_after(-1);
		assert_int_equal(host_env_tables_live(), before);
		assert_int_equal(leaves(e, 1), 0);
		assert_unmapped(e, P1G - 3, n);
	}
	host_env_fail_tables_after(1030);
	assert_int_equal(ept_map(e, P1G - 3, 0x40000, n, 1, PROT), -ENOMEM);
	host_env_fail_tables_after(-1);
	assert_int_equal(host_env_tables_live(), before);
	err = ept_map(e, P1G - 3, 0x40000, n, 1, PROT);
	assert_int_equal(err, 0);
	assert_mapped(e, P1G - 3, n, 0x40000, 1);
}

/* ---- unmap ------------------------------------------------------------------------------------ */

static void test_unmap_4k(void **state)
{
	struct ept *e = *state;
	u64 flushes;

	assert_int_equal(ept_map(e, 0, 0x1000, 3 * P2M, 1, PROT), 0);
	flushes = host_env_flushes();
	assert_int_equal(ept_unmap(e, 100, P2M), 0); /* crosses a 2M boundary */
	assert_int_equal(host_env_flushes(), flushes + 1);
	assert_mapped(e, 0, 100, 0x1000, 1);
	assert_unmapped(e, 100, P2M);
	assert_mapped(e, 100 + P2M, 2 * P2M - 100, 0x1000 + 100 + P2M, 1);
	assert_int_equal(leaves(e, 1), 2 * P2M);
	/* unmapping a hole: nothing removed, no flush */
	flushes = host_env_flushes();
	assert_int_equal(ept_unmap(e, 100, P2M), 0);
	assert_int_equal(ept_unmap(e, 5 * P1G, P1G), 0);
	assert_int_equal(host_env_flushes(), flushes);
	/* the whole rest, and a whole table with it */
	assert_int_equal(ept_unmap(e, 0, 3 * P2M), 0);
	assert_int_equal(leaves(e, 1), 0);
	assert_unmapped(e, 0, 3 * P2M);
}

static void test_unmap_whole_tables_frees_them(void **state)
{
	struct ept *e = *state;

	assert_int_equal(ept_map(e, P1G, 0x1000, 4 * P2M, 1, PROT), 0);
	assert_int_equal(tables(e), 3 + 4);
	/* PT 1 and 2 lie wholly inside: unlinked and freed */
	assert_int_equal(ept_unmap(e, P1G + P2M, 2 * P2M), 0);
	assert_int_equal(tables(e), 3 + 2);
	assert_int_equal(host_env_tables_live(), 3 + 2);
	/* the whole 1G: PD goes too */
	assert_int_equal(ept_unmap(e, P1G, P1G), 0);
	assert_int_equal(tables(e), 2);
	assert_int_equal(host_env_tables_live(), 2);
	/* and a map into the emptied PDPT works again */
	assert_int_equal(ept_map(e, P1G, HFN, P1G, 3, PROT), 0);
	assert_mapped(e, P1G, P1G, HFN, 3);
}

static void test_unmap_splits_huge(void **state)
{
	struct ept *e = *state;
	u64 flushes;

	assert_int_equal(ept_map(e, P1G, HFN, P1G, 3, PROT), 0);
	assert_int_equal(ept_map(e, 0, HFN, P2M, 2, PROT), 0);
	flushes = host_env_flushes();
	/* a 4K page inside the 2M leaf: split to 4K, one page gone */
	assert_int_equal(ept_unmap(e, 7, 1), 0);
	assert_int_equal(host_env_flushes(), flushes + 1);
	assert_mapped(e, 0, 7, HFN, 1);
	assert_unmapped(e, 7, 1);
	assert_mapped(e, 8, P2M - 8, HFN + 8, 1);
	assert_int_equal(leaves(e, 1), P2M - 1);
	assert_int_equal(leaves(e, 2), 0);
	/* a range cutting the 1G leaf at an unaligned 4K start and a 2M-aligned end */
	assert_int_equal(ept_unmap(e, P1G + 3 * P2M + 5, 2 * P2M - 5), 0);
	assert_mapped(e, P1G, 3 * P2M, HFN, 2);
	assert_mapped(e, P1G + 3 * P2M, 5, HFN + 3 * P2M, 1);
	assert_unmapped(e, P1G + 3 * P2M + 5, 2 * P2M - 5);
	assert_mapped(e, P1G + 5 * P2M, P1G - 5 * P2M, HFN + 5 * P2M, 2);
	assert_int_equal(leaves(e, 3), 0);
	assert_int_equal(leaves(e, 2), 512 - 2);
	assert_int_equal(leaves(e, 1), P2M - 1 + 5);
	assert_int_equal(e->stats.splits, 3);
}

static void test_unmap_out_of_tables(void **state)
{
	struct ept *e = *state;
	long t;

	assert_int_equal(ept_map(e, P1G, HFN, P1G, 3, PROT), 0);
	t = host_env_tables_live();
	for (long budget = 0; budget < 4; budget++) {
		host_env_fail_tables_after(budget);
		/* both ends inside the 1G leaf at unaligned 4K gfns: needs 3 split tables */
		assert_int_equal(ept_unmap(e, P1G + 11, P2M), -ENOMEM);
		host_env_fail_tables_after(-1);
		assert_int_equal(host_env_tables_live(), t);
		assert_mapped(e, P1G, P1G, HFN, 3);
	}
	assert_int_equal(ept_unmap(e, P1G + 11, P2M), 0);
	assert_unmapped(e, P1G + 11, P2M);
	assert_mapped(e, P1G, 11, HFN, 1);
	assert_mapped(e, P1G + 11 + P2M, P2M - 11, HFN + 11 + P2M, 1);
	assert_mapped(e, P1G + 2 * P2M, P1G - 2 * P2M, HFN + 2 * P2M, 2);
}

static void test_destroy_frees_everything(void **state)
{
	struct ept *e = *state;

	assert_int_equal(ept_map(e, 0, 0x1000, 5 * P2M + 3, 1, PROT), 0);
	assert_int_equal(ept_map(e, 600 * P1G, HFN, 3 * P1G, 3, PROT), 0);
	assert_int_equal(ept_map(e, 1000 * P1G + P2M, HFN, 7 * P2M, 2, PROT), 0);
	assert_int_equal(ept_unmap(e, 600 * P1G + 77, 1), 0);
	assert_true(host_env_tables_live() > 10);
	/* teardown destroys and checks that no table is left */
}

/* ---- the iterator ------------------------------------------------------------------------------ */

static void test_iterator_skips_holes_and_huge(void **state)
{
	struct ept *e = *state;
	struct ept_iter it;
	int visits = 0, leaves_seen = 0;

	assert_int_equal(ept_map(e, P1G, HFN, P1G, 3, PROT), 0);
	assert_int_equal(ept_map(e, 300 * P1G + 1, 0x5, 1, 1, PROT), 0);
	for_each_ept_entry(it, e, 0, EPT_GFN_LIMIT, 1) {
		visits++;
		leaves_seen += ept_leaf(it.old, it.level);
	}
	/* 512 PML4Es + 512 PDPTEs + 512 PDEs + 512 PTEs; the 1G leaf is not stepped into */
	assert_int_equal(visits, 512 * 4);
	assert_int_equal(leaves_seen, 2);
	/* a range inside one leaf visits one entry per level down to it */
	visits = 0;
	for_each_ept_entry(it, e, P1G + 5, P1G + 6, 1)
		visits++;
	assert_int_equal(visits, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		cmocka_unit_test(test_entry_helpers),
		T(test_eptp),
		T(test_map_each_level),
		T(test_map_across_boundaries),
		T(test_map_large_range_4k),
		T(test_map_bad_args),
		T(test_empty_ranges),
		T(test_beyond_reach),
		T(test_map_eexist_changes_nothing),
		T(test_map_out_of_tables),
		T(test_unmap_4k),
		T(test_unmap_whole_tables_frees_them),
		T(test_unmap_splits_huge),
		T(test_unmap_out_of_tables),
		T(test_destroy_frees_everything),
		T(test_iterator_skips_holes_and_huge),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
