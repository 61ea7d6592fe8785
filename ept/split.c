/*
 * Huge-page split and collapse. A split builds the whole child table while nobody can see
 * it, then swaps it for the huge leaf with one cmpxchg; the translations are the same before
 * and after, so a CPU may keep using its huge TLB entry and no flush is needed (KVM's eager
 * split does the same). A collapse replaces the tables under an entry by one leaf.
 *  - In place, when every leaf under it (a 2M block's 512 4K leaves; a 1G block's 2M leaves
 *    and 4K tables) has the same attributes and their frames form one aligned run: one
 *    operation whatever the size, one survey by plain loads, one swap of the parent entry,
 *    one flush, the old tables freed after the grace period without freezing their entries
 *    (ept_iter_collapse in ept/core.c says why that is safe).
 *  - By copy, when a 2M block's leaves are uniform but scattered: the block is
 *    write-protected, flushed, copied into a fresh run and swapped (what khugepaged does,
 *    without Linux). One operation per 2M block: each copies 2 MiB under the lock, and a
 *    1G block copied in one hold would stall every other user of the lock that long. (A
 *    1G collapse by copy whose 2M runs stay scattered still does that one long copy.)
 *  - Lazily: unmapped, for the caller to refault with a large leaf.
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
	while (!ept_iter_set(it, ept_table_entry(table) | op->split_mark, op));
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

/* The bits that must be equal in leaf i of a run and in leaf 0 but for the frame, which must
 * be leaf 0's plus i times the leaf size: what a survey compares. */
#define RUN_MASK (EPT_FRAME_MASK | EPT_ATTR_MASK | EPT_LARGE)

/* What the leaves under a table entry hold, read with plain loads: W if every leaf has it,
 * A/D if any has them, the 4K tables met (for the collapses count). */
struct run {
	u64 first; /* the first leaf */
	u64 w, ad;
	u64 leaf_tables;
};

/* Are the 512 entries of the table at `t` leaves of `level` mapping one run that starts with
 * `want` (RUN_MASK bits of entry 0)? Gathers their W and A/D into r. */
static bool survey_leaves(const u64 *t, int level, u64 want, struct run *r)
{
	u64 step = hfn_to_hpa(ept_level_pages(level)), w = EPT_W, ad = 0, diff = 0;

	for (unsigned i = 0; i < EPT_ENTRIES; i++, want += step) {
		/* RELAXED: under the lock only W (fast path) and A/D (CPUs) change; a W set
		 * after this read costs the guest one more fault, an A/D is read again after the
		 * flush (ept_iter_collapse). */
		u64 e = __atomic_load_n(&t[i], __ATOMIC_RELAXED);

		diff |= (e & RUN_MASK) ^ want;
		w &= e;
		ad |= e;
	}
	r->w &= w;
	r->ad |= ad & (EPT_A | EPT_D);
	return diff == 0;
}

/* Is everything under the table entry at `it` (level 2: 512 4K leaves; level 3: 512 2M
 * leaves or tables of 4K leaves) one aligned run of uniform leaves? Fills r. */
static bool survey(const struct ept_iter *it, struct run *r)
{
	const u64 *t = ept_env_va(ept_child(it->old));
	/* RELAXED (both): the frames and attributes checked do not change under the lock. */
	u64 first = __atomic_load_n(&t[0], __ATOMIC_RELAXED), want;

	if (it->level == 3 && ept_table(first, 2))
		first = __atomic_load_n((u64 *)ept_env_va(ept_child(first)), __ATOMIC_RELAXED);
	*r = (struct run){ .first = first, .w = EPT_W };
	if (!ept_present(first) || !IS_ALIGNED(ept_hfn(first), ept_level_pages(it->level)))
		return false;
	want = (first & RUN_MASK & ~EPT_LARGE) | (it->level == 3 ? EPT_LARGE : 0);
	if (it->level == 2)
		return survey_leaves(t, 1, want & ~EPT_LARGE, r);
	for (unsigned i = 0; i < EPT_ENTRIES; i++, want += hfn_to_hpa(ept_level_pages(2))) {
		u64 e = __atomic_load_n(&t[i], __ATOMIC_RELAXED);

		if (ept_table(e, 2)) {
			r->leaf_tables++;
			if (!survey_leaves(ept_env_va(ept_child(e)), 1, want & ~EPT_LARGE, r))
				return false;
		} else if ((e & RUN_MASK) != want) {
			return false;
		} else {
			r->w &= e;
			r->ad |= e & (EPT_A | EPT_D);
		}
	}
	return true;
}

/* Why the block at `parent` is no run: -ENOENT if anything under it is missing, else -EBUSY
 * (attributes differ or frames are not one aligned run). */
static int refusal(struct ept_op *op, const struct ept_iter *parent)
{
	gfn_t end = parent->gfn + ept_level_pages(parent->level);
	struct ept_iter it;

	ept_iter_start(&it, op->ept, ept_child(parent->old), parent->level - 1, parent->gfn, end,
	               1);
	for (; it.valid; ept_iter_next(&it))
		if (!ept_present(it.old))
			return -ENOENT;
	return -EBUSY;
}

/* Are the 512 children of the table entry at `parent` leaves with the attributes of `first`
 * (their frames aside)? Then collapse by copy can move them. */
static bool uniform_children(struct ept_op *op, const struct ept_iter *parent, u64 first)
{
	int level = parent->level - 1;
	struct ept_iter it;

	for_each_ept_table_entry(it, op->ept, ept_child(parent->old), level, parent->gfn)
		if (!ept_leaf(it.old, level) || (it.old & EPT_ATTR_MASK) != (first & EPT_ATTR_MASK))
			return false;
	return true;
}

/* The leaf replacing the table at `it`: the run's attributes, merged W and A/D. */
static u64 merged_leaf(const struct ept_iter *it, const struct run *r, hfn_t hfn)
{
	return ept_leaf_entry(hfn, it->level, (r->first & EPT_ATTR_MASK) | r->w | r->ad);
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

/* Swap the table at `it` for `leaf` through ept_iter_set (which freezes the old table), then
 * give the new leaf any A/D that children got after protect_children read them. */
static void swap_in_copy(struct ept_op *op, struct ept_iter *it, u64 leaf)
{
	u64 late;

	op->zapped_ad = 0;
	ept_iter_replace(it, leaf, op);
	late = op->zapped_ad & ~it->old;
	if (late)
		ept_iter_update(it, 0, late, op);
	op->collapses++;
}

/* Collapse by copy: one block of 512 leaves of it->level - 1 whose frames are scattered. The
 * children are frozen one by one (zap_table) rather than unlinked as in place: the new leaf
 * maps other frames, so a walker still in the old table must not use what it holds. */
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
	swap_in_copy(op, it, merged_leaf(it, r, run));
	/* The old frames are released after op_end's flush and grace period. */
	op->moved = moved;
	op->moved_gfn = it->gfn;
	op->moved_level = it->level - 1;
	return 0;
}

/* Collapse the table at `it` into one leaf of it->level: in place when everything under it
 * is one aligned run, else by copy when `mode` allows and its children are uniform leaves. */
static int collapse_entry(struct ept_op *op, struct ept_iter *it, enum ept_collapse_mode mode)
{
	struct run r;
	int err;

	if (survey(it, &r)) {
		ept_iter_collapse(it, merged_leaf(it, &r, ept_hfn(r.first)), op);
		/* One per table of leaves replaced, as if each 2M block went first. */
		op->collapses += 1 + r.leaf_tables;
		return 0;
	}
	err = refusal(op, it);
	if (err == -EBUSY && mode == EPT_COLLAPSE_COPY && uniform_children(op, it, r.first))
		return collapse_copy(op, it, &r);
	return err;
}

/* Lazy: zap the block only when the survey says it can be huge (one aligned run of uniform
 * leaves), so that the next fault maps it with one leaf over the same frames; the zap is one
 * swap of the table entry for a hole, the old table freed after the flush and the grace
 * period as any unlinked table. */
static int collapse_lazy(struct ept_op *op, struct ept_iter *it)
{
	struct run r;

	if (!survey(it, &r))
		return refusal(op, it);
	ept_iter_replace(it, 0, op);
	return 0;
}

/* Does an enabled log (other than those already unlinked) cover part of [gfn, end)? */
static bool logged(struct ept *ept, gfn_t gfn, gfn_t end)
{
	for (struct ept_dirty_log *l = ept->logs; l; l = l->next)
		if (gfn < l->gfn + l->npages && l->gfn < end)
			return true;
	return false;
}

/* One pass over the level-`level` table entries inside [gfn, end) marked EPT_SPLIT_LOG. */
static u64 restore_level(struct ept_op *op, gfn_t gfn, gfn_t end, int level)
{
	struct ept_iter it;
	u64 made = 0;

	for_each_ept_entry(it, op->ept, gfn, end, level) {
		struct run r;

		op_resched(op, &it);
		if (it.level != level || !ept_table(it.old, level) || !(it.old & EPT_SPLIT_LOG) ||
		    !ept_iter_inside(&it, gfn, end) ||
		    logged(op->ept, it.gfn, it.gfn + ept_level_pages(level)))
			continue;
		if (!survey(&it, &r)) {
			/* Something moved or went: a background copy may make it huge later. */
			ept_iter_update(&it, EPT_SPLIT_LOG, 0, op);
			continue;
		}
		ept_iter_collapse(&it, merged_leaf(&it, &r, ept_hfn(r.first)), op);
		op->collapses += 1 + r.leaf_tables;
		op_tick(op, 2 * EPT_ENTRIES); /* a survey and a pass after the flush */
		made++;
	}
	return made;
}

u64 ept_restore_split(struct ept_op *op, gfn_t gfn, gfn_t end)
{
	ASSERT(ept_locked_excl(op->ept) && !op->shared);
	/* 2M blocks first: a 1G block comes back only once its 512 2M leaves are back. */
	return restore_level(op, gfn, end, 2) + restore_level(op, gfn, end, 3);
}

/* Collapse one block in one operation. */
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
		err = collapse_lazy(&op, &it);
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
	/* By copy, each 2M block of a 1G collapse first, each its own operation: a copy moves
	 * 2 MiB under the lock, and all of 1G in one hold would stall every other user of the
	 * lock for the whole copy. In place, the whole block at once (one flush). */
	for (u64 i = 0; level == 3 && mode == EPT_COLLAPSE_COPY && i < EPT_ENTRIES; i++) {
		int err = collapse_block(ept, gfn + i * ept_level_pages(2), 2, mode);

		if (err)
			return err;
	}
	return collapse_block(ept, gfn, level, mode);
}
