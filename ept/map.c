/*
 * Map, unmap and look up gfn ranges. ept_map first walks the range once to refuse overlaps
 * and count the table pages it will need, allocates them all, and only then writes entries,
 * so it never leaves half a mapping behind. ept_unmap splits the huge leaves cut by the
 * range's ends, then clears everything inside with one flush.
 */
#include "ept/env.h"
#include "ept/internal.h"
#include "errno.h"

/* Tables needed to map [a, b) with leaves of `target` below a non-present entry of `level`:
 * one level-l table for each level-(l+1) block the range touches. */
static u64 tables_below(int level, int target, gfn_t a, gfn_t b)
{
	u64 n = 0;

	for (int l = level - 1; l >= target; l--)
		n += (b - 1) / ept_level_pages(l + 1) - a / ept_level_pages(l + 1) + 1;
	return n;
}

/* The dry run: -EEXIST if a leaf maps any page of [gfn, end), else the tables to allocate. */
static s64 map_tables_needed(struct ept *ept, gfn_t gfn, gfn_t end, int target)
{
	struct ept_iter it;
	u64 n = 0;

	for_each_ept_entry(it, ept, gfn, end, 1) {
		if (ept_leaf(it.old, it.level))
			return -EEXIST;
		if (!ept_present(it.old) && it.level > target)
			n += tables_below(it.level, target, ept_iter_lo(&it, gfn),
			                  ept_iter_hi(&it, end));
	}
	return n;
}

static bool map_args_ok(gfn_t gfn, hfn_t hfn, u64 npages, int level, u64 prot)
{
	u64 size;

	if (level < 1 || level > EPT_MAX_LEAF_LEVEL)
		return false;
	size = ept_level_pages(level);
	if (!IS_ALIGNED(gfn, size) || !IS_ALIGNED(hfn, size) || !IS_ALIGNED(npages, size))
		return false;
	if ((prot & ~EPT_PROT_MASK) || !(prot & (EPT_R | EPT_X)))
		return false;
	return !(prot & EPT_W) || (prot & EPT_R);
}

/* The writing pass: link tables from op's cache down to `target`, then write the leaves.
 * An entry at `target` may hold an empty table left by an unmap; replacing it frees it.
 * Cannot run out: map_tables_needed counted every table this links. */
static void map_range(struct ept_op *op, gfn_t gfn, hfn_t hfn, gfn_t end, int target, u64 prot)
{
	struct ept_iter it;

	for_each_ept_entry(it, op->ept, gfn, end, target) {
		if (it.level > target) {
			if (!ept_present(it.old))
				ept_iter_replace(&it, ept_table_entry(op_alloc_table(op)), op);
			continue;
		}
		ept_iter_replace(&it, ept_leaf_entry(hfn + (it.gfn - gfn), target, prot), op);
	}
}

int ept_map(struct ept *ept, gfn_t gfn, hfn_t hfn, u64 npages, int level, u64 prot)
{
	struct ept_op op;
	s64 need;
	int err;

	if (!map_args_ok(gfn, hfn, npages, level, prot))
		return -EINVAL;
	if (!ept_range_ok(gfn, npages) || hfn > EPT_HFN_LIMIT || npages > EPT_HFN_LIMIT - hfn)
		return -ERANGE;
	if (npages == 0)
		return 0;
	op_begin(&op, ept, EPT_OP_MAP);
	need = map_tables_needed(ept, gfn, gfn + npages, level);
	err = need < 0 ? (int)need : op_topup(&op, need);
	if (!err)
		map_range(&op, gfn, hfn, gfn + npages, level, prot);
	return op_end(&op, err);
}

int ept_map_leaf(struct ept *ept, gfn_t gfn, hfn_t hfn, int level, u64 prot)
{
	struct ept_iter it;
	struct ept_op op;
	int err = 0;

	if (!map_args_ok(gfn, hfn, ept_level_pages(level), level, prot))
		return -EINVAL;
	if (gfn >= EPT_GFN_LIMIT || hfn >= EPT_HFN_LIMIT)
		return -ERANGE;
	op_begin_shared(&op, ept, EPT_OP_POPULATE);
	for_each_ept_entry(it, ept, gfn, gfn + 1, level) {
		hpa_t table;

		if (ept_leaf(it.old, it.level)) {
			err = -EEXIST; /* mapped already (by a leaf of any size) */
			break;
		}
		if (it.level == level) {
			/* A table here (level > 1): something smaller is mapped inside the block,
			 * or an unmap left the table empty; either way not ours to replace. */
			if (it.old != 0)
				err = -EBUSY;
			else if (!ept_iter_set(&it, ept_leaf_entry(hfn, level, prot), &op))
				err = ept_leaf(it.old, level) ? -EEXIST : -EBUSY;
			break;
		}
		if (ept_present(it.old))
			continue; /* a table: step into it */
		table = op_alloc_table(&op);
		if (table == INVALID_HPA) {
			err = -ENOMEM;
			break;
		}
		/* Fill the hole with a table; another populate may have filled it first: then
		 * ours was never visible to anyone, so it goes back at once, and the walk steps
		 * into theirs (it.old is now their entry). A frozen entry cannot be here: under
		 * the shared lock nothing is unlinked. */
		if (!ept_iter_set(&it, ept_table_entry(table), &op))
			ept_env_free_table(table);
	}
	return op_end(&op, err);
}

int ept_map_page(struct ept *ept, gfn_t gfn, hfn_t hfn, u64 prot)
{
	return ept_map_leaf(ept, gfn, hfn, 1, prot);
}

/* Splits an unmap of [gfn, end) may need: the huge leaves holding the range's two ends. */
static u64 unmap_splits_needed(struct ept *ept, gfn_t gfn, gfn_t end)
{
	gfn_t edge[2] = { gfn, end };
	u64 n = 0;

	for (int i = 0; i < 2; i++) {
		struct ept_iter it;

		if (edge[i] >= EPT_GFN_LIMIT)
			continue;
		ept_iter_find(&it, ept, edge[i], 1);
		for (int l = it.level; l > 1 && ept_leaf(it.old, it.level); l--)
			n += !IS_ALIGNED(edge[i], ept_level_pages(l));
	}
	return n;
}

/* The writing pass of an unmap; the split tables are already in op's cache. */
static int unmap_range(struct ept_op *op, gfn_t gfn, gfn_t end)
{
	struct ept_iter it;
	int err = 0;

	for_each_ept_entry(it, op->ept, gfn, end, 1) {
		if (!ept_present(it.old))
			continue;
		if (ept_iter_inside(&it, gfn, end))
			ept_iter_replace(&it, 0, op);
		else if (ept_leaf(it.old, it.level) && (err = ept_split_entry(&it, op)))
			break; /* else the walk steps into the split halves */
	}
	return err;
}

int ept_unmap(struct ept *ept, gfn_t gfn, u64 npages)
{
	struct ept_op op;
	int err;

	if (!ept_range_ok(gfn, npages))
		return -ERANGE;
	if (npages == 0)
		return 0;
	op_begin(&op, ept, EPT_OP_MAP);
	err = op_topup(&op, unmap_splits_needed(ept, gfn, gfn + npages));
	if (!err)
		err = unmap_range(&op, gfn, gfn + npages);
	return op_end(&op, err);
}

u64 ept_lookup(struct ept *ept, gfn_t gfn, int *level)
{
	struct ept_iter it;
	u32 token;

	if (gfn >= EPT_GFN_LIMIT)
		return 0;
	token = ept_walk_fast_begin(ept);
	ept_iter_find(&it, ept, gfn, 1);
	ept_walk_fast_end(ept, token);
	if (!ept_leaf(it.old, it.level))
		return 0;
	if (level)
		*level = it.level;
	return it.old;
}
