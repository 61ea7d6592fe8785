/*
 * Host unit tests of the EPT MMU (ept/), one group per operation: entry helpers, map at each
 * level, ranges across 2M/1G boundaries, argument errors, allocator exhaustion (nothing
 * half-done), unmap with splits, lookup, destroy (every table freed), split and collapse,
 * write-protect, the fault handler, dirty logs in each mode, and A/D scans with trackers.
 * The environment is tests/unit/ept_env_host.c (counts live tables, fails on demand).
 */
/* cmocka.h needs these first */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

/* cmocka.h needs the headers above it. */
#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ept/env.h"
#include "ept/ept.h"
#include "ept/iter.h"
#include "ept/migrate.h"
#include "ept_env_host.h"
#include "ept_hw.h"
#include "errno.h"

#define PROT (EPT_R | EPT_W | EPT_X | EPT_HOST_WRITABLE | EPT_MMU_WRITABLE)
#define P2M  ept_level_pages(2)
#define P1G  ept_level_pages(3)
#define HFN  0x100000ULL /* a 1G-aligned fake host frame: these tests never touch data */

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

static long tables(const struct ept *e)
{
	return __atomic_load_n(&e->stats.tables, 0);
}
static long leaves(const struct ept *e, int l)
{
	return __atomic_load_n(&e->stats.leaves[l], 0);
}

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

/* ---- entry helpers ----------------------------------------------------------------------------
 */

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

/* ---- map / lookup
 * -------------------------------------------------------------------------------- */

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

	assert_int_equal(ept_map(e, 1, HFN, P2M, 2, PROT), -EINVAL);     /* gfn */
	assert_int_equal(ept_map(e, 0, HFN + 1, P2M, 2, PROT), -EINVAL); /* hfn */
	assert_int_equal(ept_map(e, 0, HFN, P2M + 1, 2, PROT), -EINVAL); /* npages */
	assert_int_equal(ept_map(e, P2M, HFN, P1G, 3, PROT), -EINVAL);   /* 1G alignment */
	assert_int_equal(ept_map(e, 0, HFN, 1, 0, PROT), -EINVAL);       /* level */
	assert_int_equal(ept_map(e, 0, HFN, P1G * 512, 4, PROT), -EINVAL);
	assert_int_equal(ept_map(e, 0, HFN, 1, 1, 0), -EINVAL);             /* not present */
	assert_int_equal(ept_map(e, 0, HFN, 1, 1, EPT_W), -EINVAL);         /* W without R */
	assert_int_equal(ept_map(e, 0, HFN, 1, 1, EPT_R | EPT_A), -EINVAL); /* not a prot bit */
	assert_int_equal(ept_map(e, 0, HFN, 1, 1, EPT_R | BIT(12)), -EINVAL);
	assert_int_equal(ept_map(e, 0, HFN, 1, 1, EPT_X), 0); /* execute-only is fine */
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

/* ---- unmap ------------------------------------------------------------------------------------
 */

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

/* ---- the iterator ------------------------------------------------------------------------------
 */

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

/* ---- split ------------------------------------------------------------------------------------
 */

static u64 leaf_at(struct ept *e, gfn_t gfn, int *level)
{
	int l = 0;
	u64 leaf = ept_lookup(e, gfn, &l);

	if (level)
		*level = l;
	return leaf;
}

static void test_split_1g_to_4k(void **state)
{
	struct ept *e = *state;
	u64 flushes, leaf;
	int l;

	assert_int_equal(ept_map(e, P1G, HFN, P1G, 3, PROT), 0);
	assert_true(hw_access(e, P1G + 3, true, NULL, NULL)); /* A and D on the 1G leaf */
	flushes = host_env_flushes();
	assert_int_equal(ept_split(e, P1G, P1G, 2), 0);
	assert_int_equal(host_env_flushes(), flushes); /* same translations: no flush */
	assert_mapped(e, P1G, P1G, HFN, 2);
	leaf = leaf_at(e, P1G + P1G - 1, &l);
	assert_int_equal(leaf & (EPT_PROT_MASK | EPT_A | EPT_D), PROT | EPT_A | EPT_D);
	assert_int_equal(leaves(e, 2), 512);
	assert_int_equal(leaves(e, 3), 0);
	/* then two 2M leaves (a range cutting both) to 4K */
	assert_int_equal(ept_split(e, P1G + P2M - 1, 2, 1), 0);
	assert_mapped(e, P1G, P2M, HFN, 1);
	assert_mapped(e, P1G + P2M, P2M, HFN + P2M, 1);
	assert_mapped(e, P1G + 2 * P2M, P1G - 2 * P2M, HFN + 2 * P2M, 2);
	assert_int_equal(leaves(e, 1), 1024);
	assert_int_equal(e->stats.splits, 3);
	/* straight from 1G to 4K, pre-order */
	assert_int_equal(ept_map(e, 4 * P1G, HFN, P1G, 3, PROT), 0);
	assert_int_equal(ept_split(e, 4 * P1G, P1G, 1), 0);
	assert_mapped(e, 4 * P1G, P1G, HFN, 1);
	assert_int_equal(host_env_flushes(), flushes);
	assert_int_equal(ept_split(e, 0, 1, 0), -EINVAL);
	assert_int_equal(ept_split(e, 0, 1, 3), -EINVAL);
}

static void test_split_out_of_tables(void **state)
{
	struct ept *e = *state;

	assert_int_equal(ept_map(e, P1G, HFN, P1G, 3, PROT), 0);
	host_env_fail_tables_after(0);
	assert_int_equal(ept_split(e, P1G, P1G, 1), -ENOMEM);
	assert_mapped(e, P1G, P1G, HFN, 3); /* the old mapping stays intact */
	host_env_fail_tables_after(10);
	assert_int_equal(ept_split(e, P1G, P1G, 1), -ENOMEM);
	host_env_fail_tables_after(-1);
	/* 1G -> 2M done, 9 of the 2M leaves split: every translation still right */
	for (gfn_t g = P1G; g < 2 * P1G; g += 97) {
		int l;
		u64 leaf = leaf_at(e, g, &l);

		assert_true(ept_leaf(leaf, l));
		assert_int_equal(hw_frame(leaf, l, g), HFN + (g - P1G));
	}
	assert_int_equal(leaves(e, 1), 9 * 512);
	assert_int_equal(ept_split(e, P1G, P1G, 1), 0);
	assert_mapped(e, P1G, P1G, HFN, 1);
}

/* ---- collapse
 * -------------------------------------------------------------------------------------- */

static void test_collapse_in_place(void **state)
{
	struct ept *e = *state;
	u64 flushes, leaf;
	long live;
	int l;

	assert_int_equal(ept_map(e, P2M, HFN, P2M, 1, PROT), 0);
	assert_true(hw_access(e, P2M + 5, false, NULL, NULL));
	assert_true(hw_access(e, P2M + 9, true, NULL, NULL));
	live = host_env_tables_live();
	flushes = host_env_flushes();
	assert_int_equal(ept_collapse(e, P2M, 2, EPT_COLLAPSE_IN_PLACE), 0);
	assert_int_equal(host_env_flushes(), flushes + 1); /* the PT was unlinked */
	assert_int_equal(host_env_tables_live(), live - 1);
	leaf = leaf_at(e, P2M + 100, &l);
	assert_int_equal(l, 2);
	assert_int_equal(leaf & (EPT_PROT_MASK | EPT_A | EPT_D), PROT | EPT_A | EPT_D);
	assert_mapped(e, P2M, P2M, HFN, 2);
	assert_int_equal(leaves(e, 1), 0);
	assert_int_equal(leaves(e, 2), 1);
	assert_int_equal(e->stats.collapses, 1);
	/* already one leaf: nothing to do */
	assert_int_equal(ept_collapse(e, P2M, 2, EPT_COLLAPSE_IN_PLACE), 0);
	assert_int_equal(host_env_flushes(), flushes + 1);
}

static void test_collapse_merges_w(void **state)
{
	struct ept *e = *state;
	u64 leaf;

	assert_int_equal(ept_map(e, 0, HFN, P2M, 1, PROT), 0);
	assert_int_equal(ept_write_protect(e, 17, 1), 0);
	assert_int_equal(ept_collapse(e, 0, 2, EPT_COLLAPSE_IN_PLACE), 0);
	leaf = leaf_at(e, 0, NULL);
	assert_false(leaf & EPT_W); /* one child was read-only: the whole leaf is */
	assert_true(leaf & EPT_MMU_WRITABLE);
	assert_int_equal(ept_handle_fault(e, 300, EPT_W), EPT_FAULT_FIXED_FAST);
	assert_true(leaf_at(e, 0, NULL) & EPT_W);
}

static void test_collapse_refusals_change_nothing(void **state)
{
	struct ept *e = *state;
	long live;

	assert_int_equal(ept_map(e, 0, HFN, P2M - 1, 1, PROT), 0);
	live = host_env_tables_live();
	assert_int_equal(ept_collapse(e, 0, 2, EPT_COLLAPSE_IN_PLACE), -ENOENT); /* a hole */
	assert_int_equal(ept_collapse(e, 0, 2, EPT_COLLAPSE_COPY), -ENOENT);
	assert_int_equal(ept_map(e, P2M - 1, HFN + 7777, 1, 1, PROT), 0);
	assert_int_equal(ept_collapse(e, 0, 2, EPT_COLLAPSE_IN_PLACE), -EBUSY); /* not contiguous */
	assert_int_equal(ept_unmap(e, P2M - 1, 1), 0);
	assert_int_equal(ept_map(e, P2M - 1, HFN + P2M - 1, 1, 1, EPT_R | EPT_HOST_WRITABLE), 0);
	assert_int_equal(ept_collapse(e, 0, 2, EPT_COLLAPSE_IN_PLACE), -EBUSY); /* attributes */
	assert_int_equal(ept_collapse(e, 0, 2, EPT_COLLAPSE_COPY), -EBUSY);
	assert_int_equal(host_env_tables_live(), live);
	assert_mapped(e, 0, P2M, HFN, 1);
	assert_int_equal(ept_collapse(e, 1, 2, EPT_COLLAPSE_IN_PLACE), -EINVAL);
	assert_int_equal(ept_collapse(e, 0, 1, EPT_COLLAPSE_IN_PLACE), -EINVAL);
	assert_int_equal(ept_collapse(e, 0, 4, EPT_COLLAPSE_IN_PLACE), -EINVAL);
	assert_int_equal(ept_collapse(e, P2M, 3, EPT_COLLAPSE_IN_PLACE), -EINVAL);
	assert_int_equal(ept_collapse(e, 0, 2, (enum ept_collapse_mode)7), -EINVAL);
	assert_int_equal(ept_collapse(e, 5 * P2M, 2, EPT_COLLAPSE_IN_PLACE), -ENOENT);
}

static void test_collapse_1g(void **state)
{
	struct ept *e = *state;

	/* 2M leaves, some 4K tables, all one aligned run */
	assert_int_equal(ept_map(e, P1G, HFN, P1G, 2, PROT), 0);
	assert_int_equal(ept_split(e, P1G + 5 * P2M, 3 * P2M, 1), 0);
	assert_int_equal(ept_collapse(e, P1G, 3, EPT_COLLAPSE_IN_PLACE), 0);
	assert_mapped(e, P1G, P1G, HFN, 3);
	assert_int_equal(leaves(e, 3), 1);
	assert_int_equal(leaves(e, 2) + leaves(e, 1), 0);
	assert_int_equal(tables(e), 2);
	assert_int_equal(host_env_tables_live(), 2);
	assert_int_equal(e->stats.collapses, 4);
}

static u64 pml_bits[(1 << 18) / 64], pml_out[(1 << 18) / 64]; /* 1 GiB of pages */

static void cached_write(void *entry)
{
	hw_cached_write(entry);
}

/* 1G in place over 4K leaves is one operation: one flush, every table freed, stats exact; a
 * D set by a CPU (through its TLB) on an old 4K leaf between the survey and the flush ends
 * up in the 1G leaf, so a PML log, which the CPU never feeds for D it sets itself
 * afterwards, marks the whole leaf. */
static void test_collapse_1g_one_flush_late_ad(void **state)
{
	struct ept *e = *state;
	struct ept_dirty_log log = {
		.gfn = P1G, .npages = P1G, .bitmap = pml_bits, .mode = EPT_DIRTY_PML
	};
	struct ept_iter it;
	u64 flushes, leaf;
	long live;
	int l;

	assert_int_equal(ept_map(e, P1G, HFN, P1G, 1, PROT), 0);
	assert_int_equal(ept_dirty_log_enable(e, &log), 0);
	assert_int_equal(tables(e), 2 + 1 + 512);
	ept_iter_find(&it, e, P1G + 777, 1);
	assert_false(it.old & (EPT_A | EPT_D)); /* nothing accessed yet */
	host_env_before_flush(cached_write, it.entry);
	live = host_env_tables_live();
	flushes = host_env_flushes();
	assert_int_equal(ept_collapse(e, P1G, 3, EPT_COLLAPSE_IN_PLACE), 0);
	assert_int_equal(host_env_flushes(), flushes + 1);
	assert_int_equal(host_env_tables_live(), live - 513);
	assert_int_equal(tables(e), 2);
	assert_int_equal(leaves(e, 1) + leaves(e, 2), 0);
	assert_int_equal(leaves(e, 3), 1);
	assert_int_equal(e->stats.collapses, 513);
	leaf = leaf_at(e, P1G + 5, &l);
	assert_int_equal(l, 3);
	assert_int_equal(leaf & (EPT_PROT_MASK | EPT_A | EPT_D), PROT | EPT_A | EPT_D);
	assert_mapped(e, P1G, P1G, HFN, 3);
	assert_int_equal(ept_dirty_log_get_and_clear(e, &log, pml_out), P1G);
	ept_dirty_log_disable(e, &log);
}

/* ept_collapse of the 1G block at 0 in place returns `err` and changes nothing. */
static void refuse_1g(struct ept *e, int err)
{
	struct ept_stats before = e->stats;
	u64 flushes = host_env_flushes();
	long live = host_env_tables_live();

	assert_int_equal(ept_collapse(e, 0, 3, EPT_COLLAPSE_IN_PLACE), err);
	assert_int_equal(host_env_flushes(), flushes);
	assert_int_equal(host_env_tables_live(), live);
	/* Everything but the lock-hold statistics, which the refusal's own hold changed. */
	memcpy(before.hold, e->stats.hold, sizeof(before.hold));
	assert_memory_equal(&e->stats, &before, sizeof(before));
}

/* A 1G block in place that is no run is refused as a whole, nothing changed: a hole deep in
 * a 4K table, a 4K frame out of the run, 4K attributes, a 2M leaf's attributes. */
static void test_collapse_1g_refusals(void **state)
{
	struct ept *e = *state;
	const gfn_t g = 300 * P2M + 7;

	assert_int_equal(ept_map(e, 0, HFN, P1G, 1, PROT), 0);
	assert_int_equal(ept_collapse(e, 0, 2, EPT_COLLAPSE_IN_PLACE), 0); /* one 2M leaf */
	assert_int_equal(ept_unmap(e, g, 1), 0);
	refuse_1g(e, -ENOENT);
	assert_int_equal(ept_map(e, g, HFN + g + 1, 1, 1, PROT), 0);
	refuse_1g(e, -EBUSY);
	assert_int_equal(ept_unmap(e, g, 1), 0);
	assert_int_equal(ept_map(e, g, HFN + g, 1, 1, PROT & ~EPT_X), 0);
	refuse_1g(e, -EBUSY);
	assert_int_equal(ept_unmap(e, g, 1), 0);
	assert_int_equal(ept_map(e, g, HFN + g, 1, 1, PROT), 0);
	assert_int_equal(ept_unmap(e, 0, P2M), 0);
	assert_int_equal(ept_map(e, 0, HFN, P2M, 2, PROT & ~EPT_X), 0);
	refuse_1g(e, -EBUSY);
	assert_mapped(e, P2M, P1G - P2M, HFN + P2M, 1);
	assert_mapped(e, 0, P2M, HFN, 2);
	/* the same block made uniform collapses */
	assert_int_equal(ept_unmap(e, 0, P2M), 0);
	assert_int_equal(ept_map(e, 0, HFN, P2M, 2, PROT), 0);
	assert_int_equal(ept_collapse(e, 0, 3, EPT_COLLAPSE_IN_PLACE), 0);
	assert_mapped(e, 0, P1G, HFN, 3);
}

/* 512 separately allocated 4K frames holding a pattern, mapped at gfn. */
static void map_scattered(struct ept *e, gfn_t gfn, hfn_t *frames)
{
	for (int i = 0; i < 512; i++) {
		frames[i] = host_data_alloc(1);
		memset(host_data_va(frames[i]), i & 0xff, PAGE_SIZE);
		assert_int_equal(ept_map(e, gfn + i, frames[i], 1, 1, PROT), 0);
	}
}

static void free_mapping_data(struct ept *e, gfn_t gfn, u64 n)
{
	for (gfn_t g = gfn; g < gfn + n;) {
		int l;
		u64 leaf = leaf_at(e, g, &l);

		ept_env_free_data(e, g, ept_hfn(leaf), l);
		g += ept_level_pages(l);
	}
	assert_int_equal(ept_unmap(e, gfn, n), 0);
}

static void test_collapse_copy(void **state)
{
	struct ept *e = *state;
	hfn_t frames[512];
	u64 flushes, released, leaf;
	long data;
	u8 *p;
	int l;

	map_scattered(e, 3 * P2M, frames);
	assert_true(hw_access(e, 3 * P2M + 1, true, NULL, NULL));
	data = host_env_data_live();
	flushes = host_env_flushes();
	released = host_env_data_released();
	assert_int_equal(ept_collapse(e, 3 * P2M, 2, EPT_COLLAPSE_IN_PLACE), -EBUSY);
	assert_int_equal(ept_collapse(e, 3 * P2M, 2, EPT_COLLAPSE_COPY), 0);
	/* one flush before the copy (write-protect), one after the swap */
	assert_int_equal(host_env_flushes(), flushes + 2);
	assert_int_equal(host_env_data_released(), released + 512);
	assert_int_equal(host_env_data_live(), data - 512 + 1);
	leaf = leaf_at(e, 3 * P2M, &l);
	assert_int_equal(l, 2);
	assert_int_equal(leaf & (EPT_PROT_MASK | EPT_A | EPT_D), PROT | EPT_A | EPT_D);
	p = host_data_va(ept_hfn(leaf));
	for (int i = 0; i < 512; i++)
		assert_int_equal(p[i * PAGE_SIZE + 4095], i & 0xff);
	free_mapping_data(e, 3 * P2M, P2M);
}

/* A 2M leaf moves whole: the data, A/D and every bit but W come along, two flushes, and
 * the old run goes back through ept_env_free_data once. */
static void test_migrate_2m_whole(void **state)
{
	struct ept *e = *state;
	hfn_t run = host_data_alloc(2), to = host_data_alloc(2);
	u64 flushes, released, leaf;
	u8 *p = host_data_va(run);
	int l;

	for (int i = 0; i < 512; i++)
		p[i * PAGE_SIZE + 9] = (u8)(i * 7);
	assert_int_equal(ept_map(e, 4 * P2M, run, P2M, 2, PROT), 0);
	assert_true(hw_access(e, 4 * P2M + 3, true, NULL, NULL));
	assert_int_equal(ept_migrate(e, 4 * P2M + 5, to + 1, 2), -EINVAL); /* misaligned */
	assert_int_equal(ept_migrate(e, 4 * P2M + 5, to, 3), -EINVAL);
	assert_int_equal(ept_migrate(e, 9 * P2M, to, 2), -ENOENT);
	flushes = host_env_flushes();
	released = host_env_data_released();
	assert_int_equal(ept_migrate(e, 4 * P2M + 5, to, 2), 0);
	assert_int_equal(host_env_flushes(), flushes + 2);
	assert_int_equal(host_env_data_released(), released + 1);
	leaf = leaf_at(e, 4 * P2M + 511, &l);
	assert_int_equal(l, 2);
	assert_int_equal(ept_hfn(leaf), to);
	assert_int_equal(leaf & (EPT_PROT_MASK | EPT_A | EPT_D | EPT_MIGRATING),
	                 (PROT & ~EPT_W) | EPT_A | EPT_D);
	assert_int_equal(leaves(e, 2), 1);
	assert_int_equal(leaves(e, 1), 0);
	p = host_data_va(to);
	for (int i = 0; i < 512; i++)
		assert_int_equal(p[i * PAGE_SIZE + 9], (u8)(i * 7));
	/* W comes back on the fast path, for the whole leaf */
	assert_int_equal(ept_handle_fault(e, 4 * P2M + 8, EPT_W), EPT_FAULT_FIXED_FAST);
	assert_true(leaf_at(e, 4 * P2M, NULL) & EPT_W);
	free_mapping_data(e, 4 * P2M, P2M);
}

/* Asked for 4K on a 2M leaf: only the 2M leaf holding the page is split, one page moves, its
 * 511 neighbours keep their frames; a 2M move of a block now split is refused. */
static void test_migrate_splits_when_asked(void **state)
{
	struct ept *e = *state;
	hfn_t fake = HOST_FAKE_HFN, to = host_data_alloc(1), run = host_data_alloc(2);
	int l;

	assert_int_equal(ept_map(e, 0, fake, 2 * P2M, 2, PROT), 0);
	assert_int_equal(ept_migrate_page(e, P2M + 7, to), 0);
	assert_int_equal(ept_hfn(leaf_at(e, P2M + 7, &l)), to);
	assert_int_equal(l, 1);
	assert_int_equal(ept_hfn(leaf_at(e, P2M + 8, &l)), fake + P2M + 8);
	assert_int_equal(l, 1);
	leaf_at(e, 0, &l);
	assert_int_equal(l, 2); /* the other 2M leaf stays whole */
	assert_int_equal(leaves(e, 2), 1);
	assert_int_equal(leaves(e, 1), 512);
	assert_int_equal(ept_migrate(e, P2M, run, 2), -EBUSY);
	ept_env_free_data(e, P2M, run, 2);
	ept_env_free_data(e, P2M + 7, to, 1);
	assert_int_equal(ept_unmap(e, 0, 2 * P2M), 0);
}

static void test_collapse_copy_out_of_memory(void **state)
{
	struct ept *e = *state;
	hfn_t frames[512];
	long data, live;

	map_scattered(e, 0, frames);
	data = host_env_data_live();
	live = host_env_tables_live();
	host_env_fail_data_after(0);
	assert_int_equal(ept_collapse(e, 0, 2, EPT_COLLAPSE_COPY), -ENOMEM);
	host_env_fail_data_after(-1);
	host_env_fail_tables_after(0);
	assert_int_equal(ept_collapse(e, 0, 2, EPT_COLLAPSE_COPY), -ENOMEM);
	host_env_fail_tables_after(-1);
	assert_int_equal(host_env_data_live(), data);
	assert_int_equal(host_env_tables_live(), live);
	for (int i = 0; i < 512; i++) {
		u64 leaf = leaf_at(e, i, NULL);

		assert_int_equal(ept_hfn(leaf), frames[i]);
		assert_int_equal(leaf & EPT_PROT_MASK, PROT); /* not left write-protected */
	}
	free_mapping_data(e, 0, P2M);
}

static void test_collapse_lazy(void **state)
{
	struct ept *e = *state;

	assert_int_equal(ept_map(e, P1G, HFN, P1G, 1, PROT), 0);
	assert_int_equal(ept_collapse(e, P1G, 3, EPT_COLLAPSE_LAZY), 0);
	assert_unmapped(e, P1G, P1G);
	assert_int_equal(tables(e), 2);
	assert_int_equal(ept_handle_fault(e, P1G + 5, EPT_R), EPT_FAULT_NOT_PRESENT);
	assert_int_equal(ept_map(e, P1G, HFN, P1G, 3, PROT), 0); /* the refault, large */
	assert_mapped(e, P1G, P1G, HFN, 3);
	/* Only what could be huge is zapped: a block whose frames are no run, or with a
	 * hole, stays as it is. */
	assert_int_equal(ept_map(e, 0, HFN, 256, 1, PROT), 0);
	assert_int_equal(ept_map(e, 256, HFN + 1024, 256, 1, PROT), 0);
	assert_int_equal(ept_collapse(e, 0, 2, EPT_COLLAPSE_LAZY), -EBUSY);
	assert_mapped(e, 0, 256, HFN, 1);
	assert_int_equal(ept_unmap(e, 256, 1), 0);
	assert_int_equal(ept_collapse(e, 0, 2, EPT_COLLAPSE_LAZY), -ENOENT);
	assert_mapped(e, 0, 256, HFN, 1);
}

/* ---- write-protect and the fault handler
 * --------------------------------------------------------- */

static void test_write_protect(void **state)
{
	struct ept *e = *state;
	u64 flushes;

	assert_int_equal(ept_map(e, 0, HFN, P2M, 2, PROT), 0);
	assert_int_equal(ept_map(e, P2M, 0x1000, 10, 1, PROT), 0);
	flushes = host_env_flushes();
	assert_int_equal(ept_write_protect(e, P2M - 1, 3), 0); /* the 2M leaf and two 4K */
	assert_int_equal(host_env_flushes(), flushes + 1);
	assert_int_equal(leaf_at(e, 0, NULL) & EPT_PROT_MASK, PROT & ~EPT_W);
	assert_int_equal(leaf_at(e, P2M + 1, NULL) & EPT_PROT_MASK, PROT & ~EPT_W);
	assert_int_equal(leaf_at(e, P2M + 2, NULL) & EPT_PROT_MASK, PROT);
	assert_false(hw_access(e, 5, true, NULL, NULL));
	assert_true(hw_access(e, 5, false, NULL, NULL));
	/* nothing left to remove: no flush */
	assert_int_equal(ept_write_protect(e, P2M - 1, 3), 0);
	assert_int_equal(host_env_flushes(), flushes + 1);
}

static void test_fault_results(void **state)
{
	struct ept *e = *state;
	u64 flushes;

	assert_int_equal(ept_map(e, 0, 0x1000, 4, 1, PROT), 0);
	assert_int_equal(ept_map(e, 4, 0x2000, 1, 1, EPT_R | EPT_HOST_WRITABLE), 0);
	assert_int_equal(ept_map(e, 5, 0x3000, 1, 1, EPT_R), 0);
	assert_int_equal(ept_map(e, 6, 0x4000, 1, 1, EPT_X), 0);
	assert_int_equal(ept_write_protect(e, 0, 2), 0);
	flushes = host_env_flushes();
	assert_int_equal(ept_handle_fault(e, 100, EPT_R), EPT_FAULT_NOT_PRESENT);
	assert_int_equal(ept_handle_fault(e, 2, EPT_W), EPT_FAULT_SPURIOUS);
	assert_int_equal(ept_handle_fault(e, 0, EPT_W), EPT_FAULT_FIXED_FAST);
	assert_int_equal(ept_handle_fault(e, 0, EPT_W), EPT_FAULT_SPURIOUS);
	assert_true(hw_access(e, 0, true, NULL, NULL));
	e->force_slow = true;
	assert_int_equal(ept_handle_fault(e, 1, EPT_W | EPT_R), EPT_FAULT_FIXED_SLOW);
	assert_int_equal(ept_handle_fault(e, 1, EPT_W), EPT_FAULT_SPURIOUS);
	e->force_slow = false;
	assert_int_equal(ept_handle_fault(e, 4, EPT_W), EPT_FAULT_BUSY);
	assert_int_equal(ept_handle_fault(e, 5, EPT_W), EPT_FAULT_VIOLATION);
	assert_int_equal(ept_handle_fault(e, 5, EPT_X), EPT_FAULT_VIOLATION);
	assert_int_equal(ept_handle_fault(e, 6, EPT_R), EPT_FAULT_VIOLATION);
	assert_int_equal(ept_handle_fault(e, 6, EPT_X), EPT_FAULT_SPURIOUS);
	assert_int_equal(ept_handle_fault(e, 0, 0), -EINVAL);
	assert_int_equal(ept_handle_fault(e, 0, EPT_A), -EINVAL);
	assert_int_equal(host_env_flushes(), flushes); /* adding W never flushes */
}

/* ---- dirty logs ---------------------------------------------------------------------------------
 */

#define LOG_PAGES 1024

static u64 log_bits[LOG_PAGES / 64], out_bits[LOG_PAGES / 64];

static struct ept_dirty_log *new_log(gfn_t gfn, u64 npages, enum ept_dirty_mode mode)
{
	static struct ept_dirty_log logs[4];
	static int n;
	struct ept_dirty_log *log = &logs[n++ % 4];

	memset(log_bits, 0xff, sizeof(log_bits)); /* enable must zero it */
	*log = (struct ept_dirty_log){
		.gfn = gfn, .npages = npages, .bitmap = log_bits, .mode = mode
	};
	return log;
}

static bool out_bit(u64 i)
{
	return out_bits[i / 64] & BIT(i % 64);
}

/* A guest write: through the fault handler when the EPT says no. */
static void guest_write(struct ept *e, gfn_t gfn)
{
	if (!hw_access(e, gfn, true, NULL, NULL)) {
		int r = ept_handle_fault(e, gfn, EPT_W);

		assert_true(r == EPT_FAULT_FIXED_FAST || r == EPT_FAULT_FIXED_SLOW);
		assert_true(hw_access(e, gfn, true, NULL, NULL));
	}
}

static void test_dirty_wp_cycle(void **state)
{
	struct ept *e = *state;
	struct ept_dirty_log *log = new_log(P2M, LOG_PAGES, EPT_DIRTY_WP);
	u64 flushes, yields;

	assert_int_equal(ept_map(e, 0, HFN, 3 * P2M, 2, PROT), 0);
	flushes = host_env_flushes();
	yields = e->stats.yields;
	assert_int_equal(ept_dirty_log_enable(e, log), 0);
	/* One flush at the end, and one at each chunk's end (all of them protect pages). */
	assert_int_equal(host_env_flushes(), flushes + 1 + (e->stats.yields - yields));
	assert_int_equal(log_bits[0] | log_bits[LOG_PAGES / 64 - 1], 0);
	/* the logged range is split to 4K and read-only; the rest untouched */
	assert_mapped(e, P2M, LOG_PAGES, HFN + P2M, 1);
	assert_mapped(e, 0, P2M, HFN, 2);
	assert_false(leaf_at(e, P2M + 7, NULL) & EPT_W);
	assert_true(leaf_at(e, 0, NULL) & EPT_W);
	guest_write(e, P2M + 7);
	guest_write(e, P2M + 7);
	guest_write(e, 2 * P2M + 64);
	guest_write(e, 5); /* not logged */
	flushes = host_env_flushes();
	assert_int_equal(ept_dirty_log_get_and_clear(e, log, out_bits), 2);
	assert_int_equal(host_env_flushes(), flushes + 1);
	assert_true(out_bit(7) && out_bit(P2M + 64));
	assert_false(out_bit(8) || out_bit(0));
	/* exactly those two were re-protected */
	assert_false(leaf_at(e, P2M + 7, NULL) & EPT_W);
	assert_false(leaf_at(e, 2 * P2M + 64, NULL) & EPT_W);
	assert_int_equal(log_bits[0], 0);
	/* nothing dirty: nothing to re-protect, no flush */
	assert_int_equal(ept_dirty_log_get_and_clear(e, log, out_bits), 0);
	assert_int_equal(host_env_flushes(), flushes + 1);
	guest_write(e, P2M + 7);
	assert_int_equal(ept_dirty_log_get_and_clear(e, log, out_bits), 1);
	assert_true(out_bit(7));
	ept_dirty_log_disable(e, log);
	assert_null(e->logs);
	guest_write(e, P2M + 9); /* fixed, but nobody logs it */
	assert_int_equal(log_bits[0], 0);
}

static void test_dirty_manual_clear(void **state)
{
	struct ept *e = *state;
	struct ept_dirty_log *log = new_log(0, LOG_PAGES, EPT_DIRTY_WP);
	u64 mask[2] = { BIT(3), 0 };

	assert_int_equal(ept_map(e, 0, HFN, LOG_PAGES, 1, PROT), 0);
	assert_int_equal(ept_dirty_log_enable(e, log), 0);
	guest_write(e, 3);
	guest_write(e, 4);
	guest_write(e, 200);
	assert_int_equal(ept_dirty_log_get(e, log, out_bits), 3);
	assert_int_equal(ept_dirty_log_get(e, log, out_bits), 3); /* get does not clear */
	assert_true(leaf_at(e, 3, NULL) & EPT_W);
	assert_int_equal(ept_dirty_log_clear(e, log, 0, 128, mask), 1);
	assert_false(leaf_at(e, 3, NULL) & EPT_W); /* exactly the cleared page re-protected */
	assert_true(leaf_at(e, 4, NULL) & EPT_W);
	assert_int_equal(ept_dirty_log_get(e, log, out_bits), 2);
	assert_false(out_bit(3));
	mask[0] = ~0ULL;
	mask[1] = ~0ULL;
	assert_int_equal(ept_dirty_log_clear(e, log, 192, 10, mask), 1); /* only 200 was set */
	assert_false(leaf_at(e, 200, NULL) & EPT_W);
	assert_int_equal(ept_dirty_log_clear(e, log, 1, 10, mask), -EINVAL);
	assert_int_equal(ept_dirty_log_clear(e, log, 0, LOG_PAGES + 1, mask), -EINVAL);
	ept_dirty_log_disable(e, log);
}

/* A range starting past the log's end is refused, however short: the bound check once
 * computed log->npages - first, which wraps, and wrote the bitmap beyond its end. */
static void test_dirty_clear_past_end(void **state)
{
	struct ept *e = *state;
	u64 words = LOG_PAGES / 64, *bm = calloc(words, sizeof(u64)), mask[2] = { ~0ULL, ~0ULL };
	struct ept_dirty_log log = {
		.gfn = 0, .npages = LOG_PAGES, .bitmap = bm, .mode = EPT_DIRTY_WP
	};

	assert_non_null(bm);
	assert_int_equal(ept_map(e, 0, HFN, 2 * LOG_PAGES, 1, PROT), 0);
	assert_int_equal(ept_dirty_log_enable(e, &log), 0);
	/* first = LOG_PAGES + 64 > npages: word 17 of a 16-word bitmap */
	assert_int_equal(ept_dirty_log_clear(e, &log, LOG_PAGES + 64, 64, mask), -EINVAL);
	assert_int_equal(ept_dirty_log_clear(e, &log, LOG_PAGES + 64, 0, mask), -EINVAL);
	assert_int_equal(ept_dirty_log_clear(e, &log, 64 * LOG_PAGES, 1, mask), -EINVAL);
	/* the pages past the log were not touched either (still writable) */
	assert_true(leaf_at(e, LOG_PAGES + 64, NULL) & EPT_W);
	/* the edges that are inside the contract still work */
	assert_int_equal(ept_dirty_log_clear(e, &log, LOG_PAGES, 0, mask), 0);
	assert_int_equal(ept_dirty_log_clear(e, &log, LOG_PAGES - 64, 64, mask), 0);
	assert_int_equal(ept_dirty_log_clear(e, &log, LOG_PAGES - 64, 65, mask), -EINVAL);
	ept_dirty_log_disable(e, &log);
	free(bm);
}

static void test_dirty_dbit(void **state)
{
	struct ept *e = *state;
	struct ept_dirty_log *log = new_log(0, LOG_PAGES, EPT_DIRTY_DBIT);
	u64 flushes;

	assert_int_equal(ept_map(e, 0, HFN, P2M, 2, PROT), 0);
	assert_int_equal(ept_map(e, P2M, 0x1000, P2M, 1, PROT), 0);
	assert_true(hw_access(e, 5, true, NULL, NULL)); /* D before enable: forgotten */
	assert_int_equal(ept_dirty_log_enable(e, log), 0);
	assert_false(leaf_at(e, 5, NULL) & EPT_D);
	assert_true(leaf_at(e, 5, NULL) & EPT_W); /* D-bit mode does not write-protect */
	assert_mapped(e, 0, P2M, HFN, 2);         /* nor split */
	assert_int_equal(ept_dirty_log_get_and_clear(e, log, out_bits), 0);
	assert_true(hw_access(e, 9, true, NULL, NULL));
	assert_true(hw_access(e, P2M + 1, true, NULL, NULL));
	assert_true(hw_access(e, P2M + 2, false, NULL, NULL));
	flushes = host_env_flushes();
	assert_int_equal(ept_dirty_log_get_and_clear(e, log, out_bits), 512 + 1);
	assert_int_equal(host_env_flushes(), flushes + 1);
	assert_true(out_bit(0) && out_bit(511) && out_bit(P2M + 1));
	assert_false(out_bit(P2M + 2));
	assert_false(leaf_at(e, 9, NULL) & EPT_D);
	assert_int_equal(ept_dirty_log_get_and_clear(e, log, out_bits), 0);
	/* unmapping a dirty leaf keeps its dirtiness */
	assert_true(hw_access(e, P2M + 3, true, NULL, NULL));
	assert_int_equal(ept_unmap(e, P2M + 3, 1), 0);
	assert_int_equal(ept_dirty_log_get_and_clear(e, log, out_bits), 1);
	assert_true(out_bit(P2M + 3));
	ept_dirty_log_disable(e, log);
}

static void test_dirty_pml(void **state)
{
	struct ept *e = *state;
	struct ept_dirty_log *log = new_log(0, LOG_PAGES, EPT_DIRTY_PML);

	assert_int_equal(ept_map(e, 0, HFN, LOG_PAGES, 1, PROT), 0);
	assert_true(hw_access(e, 5, true, NULL, NULL));
	assert_int_equal(ept_dirty_log_enable(e, log), 0);
	assert_false(leaf_at(e, 5, NULL) & EPT_D); /* re-armed: the next write logs again */
	assert_true(hw_access(e, 6, true, NULL, NULL));
	ept_mark_dirty(e, 6);             /* the kernel drains the PML buffer */
	ept_mark_dirty(e, LOG_PAGES + 5); /* outside every log: ignored */
	assert_int_equal(ept_dirty_log_get_and_clear(e, log, out_bits), 1);
	assert_true(out_bit(6));
	assert_false(leaf_at(e, 6, NULL) & EPT_D);
	assert_true(leaf_at(e, 6, NULL) & EPT_W);
	ept_dirty_log_disable(e, log);
}

static void test_dirty_enable_errors(void **state)
{
	struct ept *e = *state;
	struct ept_dirty_log *a = new_log(0, P2M, EPT_DIRTY_WP);
	struct ept_dirty_log *b = new_log(P2M - 1, P2M, EPT_DIRTY_DBIT);

	assert_int_equal(ept_dirty_log_enable(e, a), 0);
	assert_int_equal(ept_dirty_log_enable(e, a), -EINVAL); /* twice */
	assert_int_equal(ept_dirty_log_enable(e, b), -EINVAL); /* overlaps */
	b->gfn = P2M;
	b->npages = 0;
	assert_int_equal(ept_dirty_log_enable(e, b), -EINVAL);
	b->npages = 1;
	b->mode = (enum ept_dirty_mode)9;
	assert_int_equal(ept_dirty_log_enable(e, b), -EINVAL);
	b->mode = EPT_DIRTY_WP;
	b->gfn = EPT_GFN_LIMIT;
	assert_int_equal(ept_dirty_log_enable(e, b), -ERANGE);
	ept_dirty_log_disable(e, a);
	/* WP enable cannot split: the log stays off, what was split stays split */
	assert_int_equal(ept_map(e, P1G, HFN, P1G, 3, PROT), 0);
	b->gfn = P1G;
	b->npages = P2M;
	host_env_fail_tables_after(1);
	assert_int_equal(ept_dirty_log_enable(e, b), -ENOMEM);
	host_env_fail_tables_after(-1);
	assert_null(e->logs);
	assert_mapped(e, P1G, P1G, HFN, 2);
	assert_true(leaf_at(e, P1G, NULL) & EPT_W);
}

static void test_dirty_huge_fault_marks_leaf(void **state)
{
	struct ept *e = *state;
	struct ept_dirty_log *log = new_log(0, LOG_PAGES, EPT_DIRTY_WP);

	assert_int_equal(ept_map(e, 0, HFN, LOG_PAGES, 1, PROT), 0);
	assert_int_equal(ept_dirty_log_enable(e, log), 0);
	/* a collapse while logging: the merged leaf is read-only; its first write marks it all */
	assert_int_equal(ept_collapse(e, P2M, 2, EPT_COLLAPSE_IN_PLACE), 0);
	assert_false(leaf_at(e, P2M, NULL) & EPT_W);
	guest_write(e, P2M + 3);
	assert_int_equal(ept_dirty_log_get_and_clear(e, log, out_bits), 512);
	assert_true(out_bit(P2M) && out_bit(2 * P2M - 1));
	assert_false(leaf_at(e, P2M, NULL) & EPT_W);
	ept_dirty_log_disable(e, log);
}

static void test_dirty_pml_collapse_marks(void **state)
{
	struct ept *e = *state;
	struct ept_dirty_log *log = new_log(0, LOG_PAGES, EPT_DIRTY_PML);
	u64 leaf;

	assert_int_equal(ept_map(e, 0, HFN, LOG_PAGES, 1, PROT), 0);
	assert_int_equal(ept_dirty_log_enable(e, log), 0);
	assert_true(hw_access(e, 5, true, &leaf, NULL));
	assert_false(leaf & EPT_D); /* this write set D: PML logs it */
	ept_mark_dirty(e, 5);
	assert_int_equal(ept_dirty_log_get_and_clear(e, log, out_bits), 1);
	assert_true(hw_access(e, 6, true, NULL, NULL)); /* D set, not yet drained */
	/* the merged 2M leaf has D: none of its pages would ever log again, so all are marked */
	assert_int_equal(ept_collapse(e, 0, 2, EPT_COLLAPSE_IN_PLACE), 0);
	assert_true(leaf_at(e, 0, NULL) & EPT_D);
	assert_int_equal(ept_dirty_log_get_and_clear(e, log, out_bits), 512);
	assert_false(leaf_at(e, 0, NULL) & EPT_D); /* re-armed */
	/* a drained PML entry of a huge leaf marks the whole leaf */
	assert_true(hw_access(e, 7, true, NULL, NULL));
	ept_mark_dirty(e, 7);
	assert_int_equal(ept_dirty_log_get_and_clear(e, log, out_bits), 512);
	ept_dirty_log_disable(e, log);
}

struct collapser {
	struct ept *e;
	int ret;
	u32 done;
};

static void *collapse_thread(void *p)
{
	struct collapser *c = p;

	c->ret = ept_collapse(c->e, 0, 2, EPT_COLLAPSE_IN_PLACE);
	__atomic_store_n(&c->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* A lockless walker standing in a table that a collapse in place unlinks: the table is not
 * freed before the walker ends, and its entries still read as the old leaves (same frames,
 * not frozen), while a new lookup finds the new 2M leaf. */
static void test_walker_keeps_table_alive(void **state)
{
	struct ept *e = *state;
	struct collapser c = { e, -1, 0 };
	struct ept_iter it;
	pthread_t t;
	long live;
	u32 token;
	int level;

	assert_int_equal(ept_map(e, 0, HFN, P2M, 1, PROT), 0);
	live = host_env_tables_live();
	token = ept_walk_begin(e);
	ept_iter_find(&it, e, 9, 1); /* it.entry points into the level-1 table */
	assert_true(ept_leaf(it.old, 1));
	assert_int_equal(pthread_create(&t, NULL, collapse_thread, &c), 0);
	do { /* the collapse swaps in the 2M leaf */
		u64 leaf = ept_lookup(e, 9, &level);

		assert_int_equal(ept_hfn(leaf), level == 2 ? HFN : HFN + 9);
	} while (level != 2);
	assert_int_equal(__atomic_load_n(it.entry, __ATOMIC_ACQUIRE), it.old);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(__atomic_load_n(&c.done, __ATOMIC_ACQUIRE), 0); /* waits for us */
	assert_int_equal(host_env_tables_live(), live);
	ept_walk_end(e, token);
	pthread_join(t, NULL);
	assert_int_equal(c.ret, 0);
	assert_int_equal(host_env_tables_live(), live - 1);
}

/* Harvest: zero words are skipped yet written as 0 in out; the dirty pages of one block and
 * of several blocks are all re-protected (each block's leaf table found once), others not. */
static void test_dirty_harvest_sparse(void **state)
{
	struct ept *e = *state;
	struct ept_dirty_log *log = new_log(0, LOG_PAGES, EPT_DIRTY_WP);
	const gfn_t dirty[] = { 3, 64 + 5, 64 + 6, 511, P2M + 300 };

	assert_int_equal(ept_map(e, 0, HFN, 2 * P2M, 2, PROT), 0);
	assert_int_equal(ept_dirty_log_enable(e, log), 0);
	for (unsigned i = 0; i < ARRAY_SIZE(dirty); i++)
		guest_write(e, dirty[i]);
	memset(out_bits, 0xa5, sizeof(out_bits)); /* every word must be written */
	assert_int_equal(ept_dirty_log_get_and_clear(e, log, out_bits), ARRAY_SIZE(dirty));
	for (u64 i = 0; i < LOG_PAGES; i++) {
		bool want = false;

		for (unsigned j = 0; j < ARRAY_SIZE(dirty); j++)
			want |= dirty[j] == i;
		assert_int_equal(out_bit(i), want);
		/* re-protected exactly where dirty; the rest was never made writable */
		assert_false(leaf_at(e, i, NULL) & EPT_W);
	}
	for (u64 w = 0; w < LOG_PAGES / 64; w++)
		assert_int_equal(log_bits[w], 0);
	/* write again: only those come back, then nothing */
	guest_write(e, P2M + 300);
	memset(out_bits, 0xa5, sizeof(out_bits));
	assert_int_equal(ept_dirty_log_get_and_clear(e, log, out_bits), 1);
	assert_int_equal(out_bits[0] | out_bits[1], 0);
	assert_true(out_bit(P2M + 300));
	assert_int_equal(ept_dirty_log_get_and_clear(e, log, out_bits), 0);
	for (u64 w = 0; w < LOG_PAGES / 64; w++)
		assert_int_equal(out_bits[w], 0);
	/* a block collapsed back to one 2M leaf while logged: a dirty page of it re-protects
	 * the whole leaf */
	guest_write(e, 7);
	assert_int_equal(ept_collapse(e, 0, 2, EPT_COLLAPSE_IN_PLACE), 0);
	guest_write(e, 9);
	assert_true(ept_dirty_log_get_and_clear(e, log, out_bits) >= 2);
	assert_true(out_bit(7) && out_bit(9));
	assert_false(leaf_at(e, 9, NULL) & EPT_W);
	ept_dirty_log_disable(e, log);
}

/* ---- A/D scan ------------------------------------------------------------------------------- */

#define SCAN_PAGES (P1G + 2 * P2M)

static u64 bitmap_words_(u64 n)
{
	return (n + 63) / 64;
}

struct scan_fx {
	struct ept_tracker t;
	struct ept_scan s;
	struct ept_extent ext[64];
};

static struct scan_fx *scan_fx_new(struct ept *e, gfn_t gfn, u64 npages)
{
	struct scan_fx *f = calloc(1, sizeof(*f));

	f->t = (struct ept_tracker){ .gfn = gfn,
		                     .npages = npages,
		                     .young = calloc(bitmap_words_(npages), 8) };
	f->s = (struct ept_scan){ .idle = calloc(bitmap_words_(npages), 8),
		                  .hole = calloc(bitmap_words_(npages), 8),
		                  .ext = f->ext,
		                  .max_ext = 64 };
	assert_int_equal(ept_tracker_add(e, &f->t), 0);
	return f;
}

static void scan_fx_free(struct ept *e, struct scan_fx *f)
{
	ept_tracker_del(e, &f->t);
	free(f->t.young);
	free(f->s.idle);
	free(f->s.hole);
	free(f);
}

static bool bit(const u64 *map, u64 i)
{
	return map[i / 64] & BIT(i % 64);
}

static int state_of(struct scan_fx *f, gfn_t gfn)
{
	u64 i = gfn - f->t.gfn;

	assert_false(bit(f->s.idle, i) && bit(f->s.hole, i));
	return bit(f->s.hole, i)   ? EPT_PAGE_HOLE
	       : bit(f->s.idle, i) ? EPT_PAGE_IDLE
	                           : EPT_PAGE_ACCESSED;
}

static void test_scan_states_and_extents(void **state)
{
	struct ept *e = *state;
	struct scan_fx *f;
	u64 flushes;

	/* [0, 1G): 1G leaf; [1G, 1G+2M): 2M leaf; [1G+2M, +16): 4K; rest of the 2M: hole */
	assert_int_equal(ept_map(e, 0, HFN, P1G, 3, PROT), 0);
	assert_int_equal(ept_map(e, P1G, HFN, P2M, 2, PROT), 0);
	assert_int_equal(ept_map(e, P1G + P2M, 0x1000, 16, 1, PROT), 0);
	f = scan_fx_new(e, 0, SCAN_PAGES);
	assert_true(hw_access(e, P1G + 100, false, NULL, NULL));
	assert_true(hw_access(e, P1G + P2M + 3, true, NULL, NULL));
	flushes = host_env_flushes();
	assert_int_equal(ept_scan(e, &f->t, &f->s, false), 0); /* peek */
	assert_int_equal(host_env_flushes(), flushes);
	assert_int_equal(state_of(f, 5), EPT_PAGE_IDLE);
	assert_int_equal(state_of(f, P1G), EPT_PAGE_ACCESSED); /* the whole 2M leaf */
	assert_int_equal(state_of(f, P1G + P2M - 1), EPT_PAGE_ACCESSED);
	assert_int_equal(state_of(f, P1G + P2M + 2), EPT_PAGE_IDLE);
	assert_int_equal(state_of(f, P1G + P2M + 3), EPT_PAGE_ACCESSED);
	assert_int_equal(state_of(f, P1G + P2M + 16), EPT_PAGE_HOLE);
	assert_int_equal(f->s.pages[EPT_PAGE_HOLE], P2M - 16);
	assert_int_equal(f->s.pages[EPT_PAGE_ACCESSED], P2M + 1);
	assert_int_equal(f->s.pages[EPT_PAGE_IDLE], P1G + 15);
	/* extents: idle 1G x1 | accessed 2M x1 | idle 4K x3 | accessed 4K x1 | idle 4K x12 |
	 * hole 4K x496 */
	assert_int_equal(f->s.nr_ext, 6);
	assert_false(f->s.ext_full);
	assert_int_equal(f->ext[0].level, 3);
	assert_int_equal(f->ext[0].npages, P1G);
	assert_int_equal(f->ext[0].state, EPT_PAGE_IDLE);
	assert_int_equal(f->ext[1].level, 2);
	assert_int_equal(f->ext[1].state, EPT_PAGE_ACCESSED);
	assert_int_equal(f->ext[2].npages, 3);
	assert_int_equal(f->ext[3].gfn, P1G + P2M + 3);
	assert_int_equal(f->ext[5].state, EPT_PAGE_HOLE);
	assert_int_equal(f->ext[5].npages, P2M - 16);
	/* peek again: same; then a clearing scan: same answer, then all idle */
	assert_int_equal(ept_scan(e, &f->t, &f->s, false), 0);
	assert_int_equal(f->s.pages[EPT_PAGE_ACCESSED], P2M + 1);
	assert_int_equal(ept_scan(e, &f->t, &f->s, true), 0);
	assert_int_equal(f->s.pages[EPT_PAGE_ACCESSED], P2M + 1);
	assert_int_equal(host_env_flushes(), flushes + 1);
	assert_int_equal(ept_scan(e, &f->t, &f->s, true), 0);
	assert_int_equal(f->s.pages[EPT_PAGE_ACCESSED], 0);
	assert_int_equal(host_env_flushes(), flushes + 1); /* no A cleared: no flush */
	assert_false(leaf_at(e, P1G + P2M + 3, NULL) & EPT_A);
	assert_true(leaf_at(e, P1G + P2M + 3, NULL) & EPT_D); /* D untouched */
	scan_fx_free(e, f);
}

static void test_scan_clipped_and_full(void **state)
{
	struct ept *e = *state;
	struct scan_fx *f;

	assert_int_equal(ept_map(e, 0, HFN, P2M, 2, PROT), 0);
	for (int i = 0; i < 200; i += 2)
		assert_int_equal(ept_map(e, P2M + i, 0x1000 + i, 1, 1, PROT), 0);
	f = scan_fx_new(e, 100, P2M); /* starts inside the 2M leaf */
	assert_int_equal(ept_scan(e, &f->t, &f->s, true), 0);
	assert_int_equal(f->ext[0].gfn, 100);
	assert_int_equal(f->ext[0].npages, P2M - 100);
	assert_int_equal(f->ext[0].level, 2);
	assert_true(f->s.ext_full); /* 100 idle/hole alternations do not fit in 64 */
	assert_int_equal(f->s.nr_ext, 64);
	assert_int_equal(f->s.pages[EPT_PAGE_IDLE] + f->s.pages[EPT_PAGE_HOLE], P2M);
	scan_fx_free(e, f);
}

/* The level-2 entry above gfn (a table entry for a 4K-mapped block). */
static u64 *pde_of(struct ept *e, gfn_t gfn)
{
	struct ept_iter it;

	ept_iter_find(&it, e, gfn, 2);
	assert_int_equal(it.level, 2);
	return it.entry;
}

/* The simulated CPU sets A on every non-leaf entry it walks through, as the CPU does. */
static void test_hw_sets_nonleaf_a(void **state)
{
	struct ept *e = *state;
	struct ept_iter it;

	assert_int_equal(ept_map(e, 0, HFN, 2 * P2M, 1, PROT), 0);
	assert_true(hw_access(e, P2M + 5, false, NULL, NULL));
	ept_iter_find(&it, e, P2M + 5, 1);
	assert_int_equal(it.level, 1);
	for (int l = EPT_LEVELS; l >= 1; l--)
		assert_true(it.tables[l][ept_index(P2M + 5, l)] & EPT_A);
	assert_false(*pde_of(e, 0) & EPT_A); /* the other block was not used */
}

/* A clearing scan marks full tables; while the parent's A stays clear the table is skipped
 * (its pages idle, its leaves not read); an access sets the parent's A and the table is read
 * again; a page unmapped drops the mark. */
static void test_scan_skips_tables_with_parent_a_clear(void **state)
{
	struct ept *e = *state;
	struct scan_fx *f;
	struct ept_iter it;

	assert_int_equal(ept_map(e, 0, HFN, 2 * P2M, 1, PROT), 0);
	f = scan_fx_new(e, 0, 2 * P2M);
	assert_int_equal(ept_scan(e, &f->t, &f->s, true), 0); /* reads both tables */
	assert_true(*pde_of(e, 0) & EPT_SCAN_FULL);
	assert_true(*pde_of(e, P2M) & EPT_SCAN_FULL);
	assert_int_equal(f->s.pages[EPT_PAGE_IDLE], 2 * P2M);

	/* An A no CPU could have set without the parent's: proof that the table is not read. */
	ept_iter_find(&it, e, 10, 1);
	__atomic_fetch_or(it.entry, EPT_A, __ATOMIC_SEQ_CST);
	assert_true(hw_access(e, P2M + 20, false, NULL, NULL)); /* sets the parent's A too */
	assert_true(*pde_of(e, P2M) & EPT_A);
	assert_int_equal(ept_scan(e, &f->t, &f->s, false), 0); /* a peek skips too */
	assert_int_equal(state_of(f, 10), EPT_PAGE_IDLE);
	assert_int_equal(state_of(f, P2M + 20), EPT_PAGE_ACCESSED);
	assert_int_equal(ept_scan(e, &f->t, &f->s, true), 0);
	assert_int_equal(state_of(f, 10), EPT_PAGE_IDLE);           /* skipped */
	assert_true(leaf_at(e, 10, NULL) & EPT_A);                  /* not read, not cleared */
	assert_int_equal(state_of(f, P2M + 20), EPT_PAGE_ACCESSED); /* visited */
	assert_int_equal(f->s.pages[EPT_PAGE_ACCESSED], 1);
	assert_false(leaf_at(e, P2M + 20, NULL) & EPT_A);
	/* the visited table's parent lost A; it is read once more before it is skipped again
	 * (a CPU caching the parent may set a leaf's A without it until the flush) */
	assert_false(*pde_of(e, P2M) & (EPT_A | EPT_SCAN_FULL));
	assert_int_equal(ept_scan(e, &f->t, &f->s, true), 0);
	assert_true(*pde_of(e, P2M) & EPT_SCAN_FULL);
	assert_int_equal(state_of(f, P2M + 20), EPT_PAGE_IDLE);

	/* Unmapping a page drops the mark: the table is read, the hole seen, the stray A too. */
	assert_int_equal(ept_unmap(e, 100, 1), 0);
	assert_false(*pde_of(e, 0) & EPT_SCAN_FULL);
	assert_int_equal(ept_scan(e, &f->t, &f->s, true), 0);
	assert_int_equal(state_of(f, 100), EPT_PAGE_HOLE);
	assert_int_equal(state_of(f, 10), EPT_PAGE_ACCESSED);
	assert_false(*pde_of(e, 0) & EPT_SCAN_FULL); /* not full any more */
	scan_fx_free(e, f);
}

static void test_scan_trackers_independent(void **state)
{
	struct ept *e = *state;
	struct scan_fx *a, *b;

	assert_int_equal(ept_map(e, 0, HFN, P2M, 1, PROT), 0);
	a = scan_fx_new(e, 0, P2M);
	b = scan_fx_new(e, 256, P2M); /* overlaps a's upper half */
	assert_true(hw_access(e, 300, false, NULL, NULL));
	assert_true(hw_access(e, 10, false, NULL, NULL));
	assert_int_equal(ept_scan(e, &a->t, &a->s, true), 0); /* a takes the A bits */
	assert_int_equal(a->s.pages[EPT_PAGE_ACCESSED], 2);
	assert_int_equal(ept_scan(e, &b->t, &b->s, true), 0); /* b still sees 300 */
	assert_int_equal(b->s.pages[EPT_PAGE_ACCESSED], 1);
	assert_int_equal(state_of(b, 300), EPT_PAGE_ACCESSED);
	assert_int_equal(state_of(b, P2M + 5), EPT_PAGE_HOLE);
	assert_int_equal(ept_scan(e, &b->t, &b->s, true), 0);
	assert_int_equal(b->s.pages[EPT_PAGE_ACCESSED], 0);
	assert_int_equal(ept_scan(e, &a->t, &a->s, true), 0);
	assert_int_equal(a->s.pages[EPT_PAGE_ACCESSED], 0);
	/* b takes a new access; a keeps it; a peek of a does not consume it */
	assert_true(hw_access(e, 400, false, NULL, NULL));
	assert_int_equal(ept_scan(e, &b->t, &b->s, true), 0);
	assert_int_equal(ept_scan(e, &a->t, &a->s, false), 0);
	assert_int_equal(ept_scan(e, &a->t, &a->s, true), 0);
	assert_int_equal(a->s.pages[EPT_PAGE_ACCESSED], 1);
	assert_int_equal(state_of(a, 400), EPT_PAGE_ACCESSED);
	scan_fx_free(e, b);
	scan_fx_free(e, a);
	assert_null(e->trackers);
}

/* ---- chunks: long operations drop the lock and still do all their work -------------------- */

static u64 holds_of(struct ept *e, enum ept_op_kind k)
{
	return __atomic_load_n(&e->stats.hold[k].holds, __ATOMIC_RELAXED);
}

/* 1 GiB of 4K leaves (262144 entries): a clearing scan, a write-protect log's enable and a
 * full harvest each take many chunks (one lock hold per chunk, counted by kind) and give
 * the same answer as they would in one hold: every accessed page found, every page logged
 * and re-protected. */
static void test_chunked_scan_and_harvest(void **state)
{
	struct ept *e = *state;
	const u64 n = P1G, words = n / 64;
	struct scan_fx *f;
	struct ept_dirty_log log = { .gfn = 0, .npages = n, .mode = EPT_DIRTY_WP };
	u64 *out = calloc(words, 8), y0, h0;

	log.bitmap = calloc(words, 8);
	assert_int_equal(ept_map(e, 0, HFN, n, 1, PROT), 0);
	f = scan_fx_new(e, 0, n);
	/* The first clearing scan takes every A bit ept_map left clear; then touch a pattern. */
	assert_int_equal(ept_scan(e, &f->t, &f->s, true), 0);
	for (gfn_t g = 0; g < n; g += 7)
		assert_true(hw_access(e, g, false, NULL, NULL));
	y0 = e->stats.yields;
	h0 = holds_of(e, EPT_OP_SCAN);
	assert_int_equal(ept_scan(e, &f->t, &f->s, true), 0);
	assert_true(e->stats.yields - y0 >= 8);
	assert_int_equal(holds_of(e, EPT_OP_SCAN) - h0, e->stats.yields - y0 + 1);
	assert_int_equal(f->s.pages[EPT_PAGE_ACCESSED], (n + 6) / 7);
	assert_int_equal(f->s.pages[EPT_PAGE_IDLE], n - (n + 6) / 7);
	for (gfn_t g = 0; g < n; g++)
		assert_int_equal(state_of(f, g), g % 7 ? EPT_PAGE_IDLE : EPT_PAGE_ACCESSED);
	/* ... and cleared them all: the next scan sees nothing accessed. */
	assert_int_equal(ept_scan(e, &f->t, &f->s, true), 0);
	assert_int_equal(f->s.pages[EPT_PAGE_ACCESSED], 0);

	y0 = e->stats.yields;
	h0 = holds_of(e, EPT_OP_LOG);
	assert_int_equal(ept_dirty_log_enable(e, &log), 0);
	assert_true(e->stats.yields - y0 >= 8);
	assert_int_equal(holds_of(e, EPT_OP_LOG) - h0, e->stats.yields - y0 + 1);
	for (gfn_t g = 0; g < n; g++) {
		assert_false(leaf_at(e, g, NULL) & EPT_W);
		guest_write(e, g);
	}
	y0 = e->stats.yields;
	assert_int_equal(ept_dirty_log_get_and_clear(e, &log, out), n);
	assert_true(e->stats.yields - y0 >= 8);
	for (u64 w = 0; w < words; w++)
		assert_int_equal(out[w], ~0ULL);
	for (gfn_t g = 0; g < n; g++)
		assert_false(leaf_at(e, g, NULL) & EPT_W);
	assert_int_equal(ept_dirty_log_get_and_clear(e, &log, out), 0);
	/* Every chunk of these held the lock for a measured time. */
	assert_true(e->stats.hold[EPT_OP_HARVEST].longest > 0);
	assert_true(ept_longest_hold(e) >= e->stats.hold[EPT_OP_SCAN].longest);
	ept_dirty_log_disable(e, &log);
	scan_fx_free(e, f);
	free(log.bitmap);
	free(out);
}

/* Splitting 1 GiB to 4K leaves is 513 splits in chunks; the result is exact. */
static void test_chunked_split(void **state)
{
	struct ept *e = *state;
	u64 y0 = e->stats.yields;

	assert_int_equal(ept_map(e, 0, HFN, P1G, 3, PROT), 0);
	assert_int_equal(ept_split(e, 0, P1G, 1), 0);
	assert_true(e->stats.yields - y0 >= 8);
	assert_int_equal(e->stats.splits, 1 + 512);
	assert_int_equal(leaves(e, 1), P1G);
	assert_int_equal(leaves(e, 2) + leaves(e, 3), 0);
	assert_mapped(e, 0, P1G, HFN, 1);
}

/* ept_map_page fills holes under the shared lock: tables at every level on the way, the
 * leaf, -EEXIST where anything maps the page already (nothing changed). */
static void test_map_page(void **state)
{
	struct ept *e = *state;
	long t0 = tables(e);

	assert_int_equal(ept_map_page(e, 5 * P1G + 3, HFN + 3, PROT), 0);
	assert_int_equal(tables(e), t0 + 3);
	assert_mapped(e, 5 * P1G + 3, 1, HFN + 3, 1);
	assert_int_equal(ept_map_page(e, 5 * P1G + 3, HFN + 9, PROT), -EEXIST);
	assert_mapped(e, 5 * P1G + 3, 1, HFN + 3, 1);
	assert_int_equal(ept_map_page(e, 5 * P1G + 4, HFN + 4, PROT), 0);
	assert_int_equal(tables(e), t0 + 3);
	assert_int_equal(ept_map(e, P2M, HFN, P2M, 2, PROT), 0);
	assert_int_equal(ept_map_page(e, P2M + 7, HFN + 7, PROT), -EEXIST);
	assert_int_equal(leaves(e, 1), 2);
	assert_int_equal(ept_map_page(e, EPT_GFN_LIMIT, HFN, PROT), -ERANGE);
	assert_int_equal(ept_map_page(e, 0, HFN, EPT_W), -EINVAL);
	assert_int_equal(ept_unmap(e, 5 * P1G, P1G), 0);
}

/* ---- frames a VMCS names (the APIC-access page) ---------------------------------------------
 */

struct named_reload {
	struct ept *e;
	gfn_t gfn;
	u64 flushes_before;
	int calls;
	bool absent, flushed;
};

static void named_reload(void *arg)
{
	struct named_reload *r = arg;

	r->calls++;
	r->absent = ept_lookup(r->e, r->gfn, NULL) == 0;
	r->flushed = host_env_flushes() > r->flushes_before;
}

/* ept_migrate_page refuses a leaf a VMCS names (it would free that frame under the VMCS);
 * ept_migrate_named moves it with the leaf absent while the caller reloads the VMCSes, and
 * hands the old frame back instead of freeing it. */
static void test_migrate_named(void **state)
{
	struct ept *e = *state;
	const gfn_t gfn = 0xfee00;
	hfn_t a = host_data_alloc(1), b = host_data_alloc(1), c = host_data_alloc(1), old = 0;
	struct named_reload r = { .e = e, .gfn = gfn };
	u64 released = host_env_data_released(), leaf;
	int l = 0;

	memset(host_data_va(a), 0x5a, PAGE_SIZE);
	assert_int_equal(ept_map(e, gfn, a, 1, 1, PROT | EPT_VMCS_NAMED), 0);
	assert_int_equal(ept_migrate_page(e, gfn, b), -EPERM);
	assert_int_equal(ept_hfn(ept_lookup(e, gfn, NULL)), a);
	r.flushes_before = host_env_flushes();
	assert_int_equal(ept_migrate_named(e, gfn, b, named_reload, &r, &old), 0);
	assert_int_equal(r.calls, 1);
	assert_true(r.absent);  /* no access reaches either frame while VMCSes are reloaded */
	assert_true(r.flushed); /* and none through a cached translation */
	assert_int_equal(old, a);
	leaf = ept_lookup(e, gfn, &l);
	assert_int_equal(l, 1);
	assert_int_equal(ept_hfn(leaf), b);
	assert_int_equal(leaf & EPT_PROT_MASK, PROT | EPT_VMCS_NAMED);
	assert_int_equal(((u8 *)host_data_va(b))[PAGE_SIZE - 1], 0x5a);
	/* The old frame was not freed behind the caller's back. */
	assert_int_equal(host_env_data_released(), released);
	/* Only named leaves, and only mapped ones. */
	assert_int_equal(ept_map(e, gfn + 1, c, 1, 1, PROT), 0);
	assert_int_equal(ept_migrate_named(e, gfn + 1, a, named_reload, &r, &old), -EINVAL);
	assert_int_equal(ept_migrate_named(e, gfn + 2, a, named_reload, &r, &old), -ENOENT);
	assert_int_equal(r.calls, 1);
	assert_int_equal(ept_unmap(e, gfn, 2), 0);
	ept_env_free_data(e, gfn, a, 1);
	ept_env_free_data(e, gfn, b, 1);
	ept_env_free_data(e, gfn, c, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		cmocka_unit_test(test_entry_helpers),
		T(test_eptp),
		T(test_migrate_named),
		T(test_map_each_level),
		T(test_map_page),
		T(test_chunked_scan_and_harvest),
		T(test_chunked_split),
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
		T(test_split_1g_to_4k),
		T(test_split_out_of_tables),
		T(test_collapse_in_place),
		T(test_collapse_merges_w),
		T(test_collapse_refusals_change_nothing),
		T(test_collapse_1g),
		T(test_collapse_1g_one_flush_late_ad),
		T(test_collapse_1g_refusals),
		T(test_collapse_copy),
		T(test_migrate_2m_whole),
		T(test_migrate_splits_when_asked),
		T(test_collapse_copy_out_of_memory),
		T(test_collapse_lazy),
		T(test_write_protect),
		T(test_fault_results),
		T(test_dirty_wp_cycle),
		T(test_dirty_manual_clear),
		T(test_dirty_clear_past_end),
		T(test_dirty_dbit),
		T(test_dirty_pml),
		T(test_dirty_enable_errors),
		T(test_dirty_huge_fault_marks_leaf),
		T(test_dirty_pml_collapse_marks),
		T(test_walker_keeps_table_alive),
		T(test_scan_states_and_extents),
		T(test_scan_clipped_and_full),
		T(test_scan_trackers_independent),
		T(test_hw_sets_nonleaf_a),
		T(test_scan_skips_tables_with_parent_a_clear),
		T(test_dirty_harvest_sparse),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
