/*
 * Huge-page split and collapse. A split builds the whole child table while nobody can see
 * it, then swaps it for the huge leaf with one cmpxchg; the translations are the same before
 * and after, so a CPU may keep using its huge TLB entry and no flush is needed (KVM's eager
 * split does the same). A collapse replaces a table of 512 uniform leaves by one leaf: in
 * place when their frames form one aligned run, else by copying the data into a fresh run
 * while the block is write-protected (what khugepaged does, without Linux).
 */
#include "ept/env.h"
#include "ept/internal.h"
#include "errno.h"
#include "lib.h"

/* ---- split ------------------------------------------------------------------------------- */

/* Fill the unpublished table with the 512 leaves of `level` that map what `huge` maps.
 * Building a table nobody can see yet is not an entry change: plain stores, as KVM's split
 * does; the swap that publishes it goes through ept_iter_set. */
static void fill_children(hpa_t table, int level, u64 huge)
{
	u64 *t = ept_env_va(table), size = ept_level_pages(level);

	for (unsigned i = 0; i < EPT_ENTRIES; i++)
		t[i] = ept_leaf_entry(ept_hfn(huge) + i * size, level, huge);
}

int ept_split_entry(struct ept_iter *it, struct ept_op *op)
{
	hpa_t table = op_alloc_table(op);

	ASSERT(it->level > 1 && ept_leaf(it->old, it->level));
	if (table == INVALID_HPA)
		return -ENOMEM;
	/* Under the lock only A/D (hardware) and W (fast path) can change meanwhile; a failed
	 * swap rebuilds the children from the new value so none of those bits is lost. */
	do
		fill_children(table, it->level - 1, it->old);
	while (!ept_iter_set(it, ept_table_entry(table), op));
	op->leaves[it->level - 1] += EPT_ENTRIES;
	op->splits++;
	return 0;
}

int ept_split_range(struct ept_op *op, gfn_t gfn, gfn_t end, int level)
{
	struct ept_iter it;
	int err = 0;

	/* Pre-order with min_level = level + 1: a 1G leaf is split, then the walk steps into
	 * its new table and splits each 2M leaf in turn. A split costs about a table's worth
	 * of work: the chunk counts it so. */
	for_each_ept_entry(it, op->ept, gfn, end, level + 1) {
		op_resched(op, &it);
		if (it.level > level && ept_leaf(it.old, it.level)) {
			if ((err = ept_split_entry(&it, op)))
				break;
			op_tick(op, EPT_ENTRIES);
		}
	}
	return err;
}

int ept_split(struct ept *ept, gfn_t gfn, u64 npages, int level)
{
	struct ept_op op;

	if (level < 1 || level >= EPT_MAX_LEAF_LEVEL)
		return -EINVAL;
	if (!ept_range_ok(gfn, npages))
		return -ERANGE;
	op_begin(&op, ept, EPT_OP_SPLIT);
	return op_end(&op, ept_split_range(&op, gfn, gfn + npages, level));
}

/* ---- collapse ---------------------------------------------------------------------------- */

/* What the 512 children of a table entry look like. */
struct run {
	u64 first;       /* the first child */
	u64 w;           /* W if every child has it */
	u64 ad;          /* A and D of any child */
	bool hole;       /* some child is not present */
	bool uniform;    /* all leaves with equal EPT_ATTR_MASK bits */
	bool contiguous; /* frames first.. in order, aligned to the parent's size */
};

static void survey(struct ept_op *op, const struct ept_iter *parent, struct run *r)
{
	int level = parent->level - 1;
	struct ept_iter it;

	*r = (struct run){ .w = EPT_W, .uniform = true, .contiguous = true };
	for_each_ept_table_entry(it, op->ept, ept_child(parent->old), level, parent->gfn) {
		if (it.gfn == parent->gfn)
			r->first = it.old;
		r->hole |= !ept_present(it.old);
		r->uniform &= ept_leaf(it.old, level) &&
		              (it.old & EPT_ATTR_MASK) == (r->first & EPT_ATTR_MASK);
		r->contiguous &= ept_hfn(it.old) == ept_hfn(r->first) + (it.gfn - parent->gfn);
		r->w &= it.old;
		r->ad |= it.old & (EPT_A | EPT_D);
	}
	r->contiguous &= IS_ALIGNED(ept_hfn(r->first), ept_level_pages(parent->level));
}

/* The leaf replacing the table at `it`: the run's attributes, merged W and A/D. */
static u64 merged_leaf(const struct ept_iter *it, const struct run *r, hfn_t hfn)
{
	return ept_leaf_entry(hfn, it->level, (r->first & EPT_ATTR_MASK) | r->w | r->ad);
}

/* Swap the table at `it` for `leaf`, then give the new leaf any A/D that children got
 * after they were read (ept_iter_set gathered them while emptying the old table). */
static void swap_in_leaf(struct ept_op *op, struct ept_iter *it, u64 leaf)
{
	u64 late;

	ASSERT(ept_table(it->old, it->level) && ept_leaf(leaf, it->level));
	op->zapped_ad = 0;
	ept_iter_replace(it, leaf, op);
	late = op->zapped_ad & ~it->old;
	if (late)
		ept_iter_update(it, 0, late, op);
	op->collapses++;
}

/* Write-protect the children (W and MMU_WRITABLE, so no fast path restores W), note their
 * frames in `moved` and what W/A/D they had. */
static void protect_children(struct ept_op *op, const struct ept_iter *parent, struct run *r,
                             u64 *moved)
{
	int level = parent->level - 1;
	struct ept_iter it;

	r->w = EPT_W;
	r->ad = 0;
	for_each_ept_table_entry(it, op->ept, ept_child(parent->old), level, parent->gfn) {
		u64 old = ept_iter_update(&it, EPT_W | EPT_MMU_WRITABLE, 0, op);

		moved[ept_index(it.gfn, level)] = ept_hfn(old);
		r->w &= old;
		r->ad |= old & (EPT_A | EPT_D);
	}
}

static void copy_data(hfn_t to, const u64 *from, int level)
{
	u64 pages = ept_level_pages(level);

	for (unsigned i = 0; i < EPT_ENTRIES; i++)
		memcpy(ept_env_data_va(to + i * pages), ept_env_data_va(from[i]),
		       pages * PAGE_SIZE);
}

static int collapse_copy(struct ept_op *op, struct ept_iter *it, struct run *r)
{
	hpa_t moved = ept_env_alloc_table();
	hfn_t run;

	if (moved == INVALID_HPA)
		return -ENOMEM;
	run = ept_env_alloc_data(it->level);
	if (run == INVALID_HFN) {
		ept_env_free_table(moved);
		return -ENOMEM;
	}
	protect_children(op, it, r, ept_env_va(moved));
	/* Flush before copying: a CPU still caching W = 1 could write an old frame after
	 * its page was copied, and the write would be lost. */
	op_flush(op);
	/* Then a grace period, for the same reason: a hypervisor writer (vm_copy_to_guest)
	 * that saw MMU_WRITABLE before protect_children writes inside its walk. */
	ept_wait_walkers(op->ept);
	copy_data(run, ept_env_va(moved), it->level - 1);
	swap_in_leaf(op, it, merged_leaf(it, r, run));
	/* The old frames are released after op_end's flush and grace period. */
	op->moved = moved;
	op->moved_gfn = it->gfn;
	op->moved_level = it->level - 1;
	return 0;
}

/* Collapse the table of leaves at `it` into one leaf of it->level. */
static int collapse_entry(struct ept_op *op, struct ept_iter *it, enum ept_collapse_mode mode)
{
	struct run r;

	survey(op, it, &r);
	if (r.hole)
		return -ENOENT;
	if (!r.uniform)
		return -EBUSY;
	if (r.contiguous) {
		swap_in_leaf(op, it, merged_leaf(it, &r, ept_hfn(r.first)));
		return 0;
	}
	return mode == EPT_COLLAPSE_COPY ? collapse_copy(op, it, &r) : -EBUSY;
}

/* Collapse one block; its lower tables (2M inside 1G) were collapsed already. */
static int collapse_block(struct ept *ept, gfn_t gfn, int level, enum ept_collapse_mode mode)
{
	struct ept_iter it;
	struct ept_op op;
	int err = 0;

	op_begin(&op, ept, EPT_OP_COLLAPSE);
	ept_iter_find(&it, ept, gfn, level);
	if (!ept_present(it.old))
		err = -ENOENT;
	else if (it.level > level || ept_leaf(it.old, level))
		err = 0; /* already one leaf of `level` or larger */
	else if (mode == EPT_COLLAPSE_LAZY)
		ept_iter_replace(&it, 0, &op);
	else
		err = collapse_entry(&op, &it, mode);
	return op_end(&op, err);
}

int ept_collapse(struct ept *ept, gfn_t gfn, int level, enum ept_collapse_mode mode)
{
	if (level < 2 || level > EPT_MAX_LEAF_LEVEL || !IS_ALIGNED(gfn, ept_level_pages(level)) ||
	    (unsigned)mode > EPT_COLLAPSE_LAZY)
		return -EINVAL;
	if (!ept_range_ok(gfn, ept_level_pages(level)))
		return -ERANGE;
	/* Each 2M block of a 1G collapse first, each its own operation (one `moved` page). */
	for (u64 i = 0; level == 3 && mode != EPT_COLLAPSE_LAZY && i < EPT_ENTRIES; i++) {
		int err = collapse_block(ept, gfn + i * ept_level_pages(2), 2, mode);

		if (err)
			return err;
	}
	return collapse_block(ept, gfn, level, mode);
}
