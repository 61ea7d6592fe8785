/*
 * The one EPT walker, in the spirit of KVM's tdp_iter: it visits, in pre-order, every entry
 * of every level (down to min_level) that covers part of a gfn range. From each entry it
 * steps down into a child table, else to the next entry of the same table, else back up.
 * A non-present entry or a leaf is never stepped into, so a hole of any size is passed in one
 * step. Map, unmap, A/D scan, dirty harvest, write-protect, split, collapse and the fault path
 * are all loops over it:
 *
 *	struct ept_iter it;
 *
 *	for_each_ept_entry(it, ept, start, end, 1)
 *		if (ept_leaf(it.old, it.level))
 *			... it.gfn .. it.gfn + ept_level_pages(it.level) - 1 ...
 *
 * it.old holds the entry's value as read; after ept_iter_set() it holds the new value, so a
 * table the caller just installed is stepped into next. Reads are atomic (ACQUIRE), so the
 * same loop serves lockless walkers (inside ept_walk_begin/end) and the lock holder.
 */
#ifndef EPTVISOR_EPT_ITER_H
#define EPTVISOR_EPT_ITER_H

#include "ept/ept.h"
#include "types.h"

struct ept_iter {
	struct ept *ept;
	u64 *tables[EPT_LEVELS + 1]; /* tables[l]: the table of level-l entries on the path */
	u64 *entry;                  /* the current entry */
	u64 old;                     /* its value, as read or as last set through the iterator */
	gfn_t gfn;                   /* first gfn the current entry covers */
	gfn_t start;                 /* start of the range (moved on by ept_iter_restart) */
	gfn_t next;                  /* first gfn of the range not yet passed */
	gfn_t end;                   /* end of the range (exclusive) */
	int level;                   /* the current entry's level */
	int min_level;               /* never step below this level */
	int top_level;               /* level of the table the walk started in */
	bool valid;                  /* false once the walk has passed `end` */
	bool skip;                   /* do not step into the current entry's table */
};

/* Start a walk of [start, end) in the table at `table` holding level-`level` entries (the
 * root: level EPT_LEVELS). The range must lie inside what that table maps. */
void ept_iter_start(struct ept_iter *it, struct ept *ept, hpa_t table, int level, gfn_t start,
                    gfn_t end, int min_level);

/* Move to the next entry in pre-order; it->valid goes false at the end of the range. */
void ept_iter_next(struct ept_iter *it);

/* Do not step into the table the current entry points to: the caller dealt with all of it. */
static inline void ept_iter_skip(struct ept_iter *it)
{
	it->skip = true;
}

/* Restart a walk begun at the root from the current entry's first gfn (inside the range): a
 * lock holder that dropped the lock (op_yield, ept/internal.h) may find the tables it stood
 * in gone. The walk lands on the root entry covering that gfn; it->start becomes that gfn. */
void ept_iter_restart(struct ept_iter *it);

/* Stand `it` on the entry of `level` that covers gfn, or on the higher entry where the path
 * ends (a leaf or a non-present entry). With level 1: the leaf mapping gfn, if any. A walk
 * without the lock must be inside ept_walk_begin/end; one that lands on a frozen entry (a
 * table being torn down) starts again, so it never reports a hole that was not there. */
void ept_iter_find(struct ept_iter *it, struct ept *ept, gfn_t gfn, int level);

/* Every entry covering part of [start, end), levels top..min_level, in pre-order. */
#define for_each_ept_entry(it, ept, start, end, min_level)                                         \
	for (ept_iter_start(&(it), (ept), (ept)->root, EPT_LEVELS, (start), (end), (min_level));   \
	     (it).valid; ept_iter_next(&(it)))

/* The 512 entries of one table of level-`level` entries that maps from gfn `base`. */
#define for_each_ept_table_entry(it, ept, table, level, base)                                      \
	for (ept_iter_start(&(it), (ept), (table), (level), (base),                                \
	                    (base) + ept_level_pages((level) + 1), (level));                       \
	     (it).valid; ept_iter_next(&(it)))

/* First and one-past-last gfn of the current entry that lie inside [lo, hi). */
static inline gfn_t ept_iter_lo(const struct ept_iter *it, gfn_t lo)
{
	return MAX(it->gfn, lo);
}
static inline gfn_t ept_iter_hi(const struct ept_iter *it, gfn_t hi)
{
	return MIN(it->gfn + ept_level_pages(it->level), hi);
}

/* Does the current entry lie wholly inside [lo, hi)? */
static inline bool ept_iter_inside(const struct ept_iter *it, gfn_t lo, gfn_t hi)
{
	return it->gfn >= lo && it->gfn + ept_level_pages(it->level) <= hi;
}

#endif
