/*
 * The EPT iterator (see iter.h): three moves, step down / step side / step up, and a read of
 * the entry it lands on. Nothing here writes an entry; ept_iter_set (core.c) does.
 */
#include "ept/env.h"
#include "ept/iter.h"
#include "kassert.h"

static u64 *table_va(hpa_t table)
{
	return ept_env_va(table);
}

/* ACQUIRE: a table pointer read here is dereferenced next; pairs with the RELEASE of the
 * cmpxchg in ept_iter_set() that published the table's contents. */
static void read_entry(struct ept_iter *it)
{
	it->old = __atomic_load_n(it->entry, __ATOMIC_ACQUIRE);
}

/* Land on the entry of the current level's table that covers it->next. */
static void land(struct ept_iter *it)
{
	it->gfn = ALIGN_DOWN(it->next, ept_level_pages(it->level));
	it->entry = &it->tables[it->level][ept_index(it->gfn, it->level)];
	read_entry(it);
}

void ept_iter_start(struct ept_iter *it, struct ept *ept, hpa_t table, int level, gfn_t start,
                    gfn_t end, int min_level)
{
	ASSERT(level >= 1 && level <= EPT_LEVELS && min_level >= 1 && min_level <= level);
	/* The range lies inside what the table maps (one entry of the level above). */
	ASSERT(start >= end ||
	       (end - 1) >> ept_level_order(level + 1) == start >> ept_level_order(level + 1));
	it->ept = ept;
	it->top_level = level;
	it->level = level;
	it->min_level = min_level;
	it->tables[level] = table_va(table);
	it->next = start;
	it->start = start;
	it->end = end;
	it->skip = false;
	it->valid = start < end;
	if (it->valid)
		land(it);
}

static bool step_down(struct ept_iter *it)
{
	if (it->skip) {
		it->skip = false;
		return false;
	}
	if (it->level == it->min_level || !ept_table(it->old, it->level))
		return false;
	it->tables[it->level - 1] = table_va(ept_child(it->old));
	it->level--;
	land(it);
	return true;
}

/* To the next entry of the same table; false past the table's last entry or the range. */
static bool step_side(struct ept_iter *it)
{
	it->gfn += ept_level_pages(it->level);
	it->next = it->gfn;
	if (it->gfn >= it->end) {
		it->valid = false;
		return true;
	}
	if (ept_index(it->gfn, it->level) == 0)
		return false;
	it->entry++;
	read_entry(it);
	return true;
}

/* Back to the parent entry (already visited); false at the top. */
static bool step_up(struct ept_iter *it)
{
	if (it->level == it->top_level)
		return false;
	it->level++;
	it->gfn = ALIGN_DOWN(it->gfn - 1, ept_level_pages(it->level));
	it->entry = &it->tables[it->level][ept_index(it->gfn, it->level)];
	return true;
}

void ept_iter_next(struct ept_iter *it)
{
	if (step_down(it))
		return;
	while (!step_side(it)) {
		if (!step_up(it)) {
			it->valid = false;
			return;
		}
	}
}

void ept_iter_restart(struct ept_iter *it)
{
	ASSERT(it->valid && it->top_level == EPT_LEVELS);
	ept_iter_start(it, it->ept, it->ept->root, EPT_LEVELS, MAX(it->gfn, it->start), it->end,
	               it->min_level);
}

/* One walk from the root; false if it ended on a frozen entry. */
static bool find_once(struct ept_iter *it, struct ept *ept, gfn_t gfn, int level)
{
	for_each_ept_entry(*it, ept, gfn, gfn + 1, level)
		if (it->level == level || !ept_table(it->old, it->level))
			break;
	return !ept_frozen(it->old);
}

void ept_iter_find(struct ept_iter *it, struct ept *ept, gfn_t gfn, int level)
{
	ASSERT(gfn < EPT_GFN_LIMIT);
	/* A frozen entry belongs to a table already replaced (the freeze comes after the
	 * unlink, and our ACQUIRE read of it makes the unlink visible): walk again. */
	while (!find_once(it, ept, gfn, level))
		;
}
