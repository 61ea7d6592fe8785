/*
 * A/D scanning for working-set estimation. One walk over a tracker's range reports every
 * page as hole, idle or accessed, judged per leaf at its real size (a 2M or 1G leaf is one
 * entry), into bitmaps and run-length extents.
 *
 * Several trackers may scan the same memory, and the state of a scan is theirs, not the
 * EPT's: a tracker is "accessed since my last clearing scan" = the leaf's A bit OR its own
 * young bits. A clearing scan that takes an A bit hands it to every other tracker's young
 * bits over that leaf, so no tracker's clearing hides accesses from another.
 */
#include "ept/bitmap.h"
#include "ept/internal.h"
#include "errno.h"

/* Apply a bitmap op to t's young bits over [gfn, gfn + n) ∩ t's range. */
static bool young_range(struct ept_tracker *t, gfn_t gfn, u64 n, enum bitmap_op op)
{
	gfn_t lo = MAX(gfn, t->gfn), hi = MIN(gfn + n, t->gfn + t->npages);

	return lo < hi && bitmap_range(t->young, lo - t->gfn, hi - lo, op);
}

int ept_tracker_add(struct ept *ept, struct ept_tracker *t)
{
	struct ept_op op;

	if (!ept_range_ok(t->gfn, t->npages))
		return -ERANGE;
	if (!t->npages || !t->young)
		return -EINVAL;
	op_begin(&op, ept);
	t->next = ept->trackers;
	ept->trackers = t;
	return op_end(&op, 0);
}

void ept_tracker_del(struct ept *ept, struct ept_tracker *t)
{
	struct ept_op op;

	op_begin(&op, ept);
	for (struct ept_tracker **p = &ept->trackers; *p; p = &(*p)->next) {
		if (*p == t) {
			*p = t->next;
			break;
		}
	}
	op_end(&op, 0);
}

struct scan_ctx {
	struct ept_op *op;
	struct ept_tracker *t;
	struct ept_scan *out;
	bool clear;
};

/* The state of the leaf or hole at `it` for c->t; a clearing scan takes A and young. */
static enum ept_page_state classify(struct scan_ctx *c, struct ept_iter *it)
{
	u64 n = ept_level_pages(it->level);
	bool young, a;

	if (!ept_present(it->old)) {
		if (c->clear) /* accesses to what was unmapped say nothing about what comes next */
			young_range(c->t, it->gfn, n, BM_CLEAR);
		return EPT_PAGE_HOLE;
	}
	young = young_range(c->t, it->gfn, n, BM_ANY);
	a = it->old & EPT_A;
	if (c->clear && a) {
		ept_iter_update(it, EPT_A, 0, c->op); /* test-and-clear; op_end flushes */
		for (struct ept_tracker *o = c->op->ept->trackers; o; o = o->next)
			if (o != c->t)
				young_range(o, it->gfn, n, BM_SET);
	}
	if (c->clear && young)
		young_range(c->t, it->gfn, n, BM_CLEAR);
	return a || young ? EPT_PAGE_ACCESSED : EPT_PAGE_IDLE;
}

/* Append [lo, hi) in `state` at `level` to the extents, merging with the last one. */
static void add_extent(struct ept_scan *out, enum ept_page_state state, int level, gfn_t lo,
		       gfn_t hi)
{
	struct ept_extent *last = out->nr_ext ? &out->ext[out->nr_ext - 1] : NULL;

	if (last && last->state == state && last->level == level && last->gfn + last->npages == lo)
		last->npages += hi - lo;
	else if (out->nr_ext < out->max_ext)
		out->ext[out->nr_ext++] = (struct ept_extent){ lo, hi - lo, state, level };
	else
		out->ext_full = true;
}

static void record(struct scan_ctx *c, enum ept_page_state state, int level, gfn_t lo, gfn_t hi)
{
	struct ept_scan *out = c->out;
	u64 *map = state == EPT_PAGE_IDLE ? out->idle : state == EPT_PAGE_HOLE ? out->hole : NULL;

	out->pages[state] += hi - lo;
	if (map)
		bitmap_range(map, lo - c->t->gfn, hi - lo, BM_SET);
	if (out->ext)
		add_extent(out, state, level, lo, hi);
}

static void scan_reset(struct ept_scan *out, u64 npages)
{
	for (u64 i = 0; i < bitmap_words(npages); i++) {
		if (out->idle)
			out->idle[i] = 0;
		if (out->hole)
			out->hole[i] = 0;
	}
	out->nr_ext = 0;
	out->ext_full = false;
	for (int s = 0; s < EPT_PAGE_STATES; s++)
		out->pages[s] = 0;
}

int ept_scan(struct ept *ept, struct ept_tracker *t, struct ept_scan *out, bool clear)
{
	struct ept_op op;
	struct scan_ctx c = { &op, t, out, clear };
	gfn_t end = t->gfn + t->npages;
	struct ept_iter it;

	if (!ept_range_ok(t->gfn, t->npages))
		return -ERANGE;
	scan_reset(out, t->npages);
	op_begin(&op, ept);
	for_each_ept_entry(it, ept, t->gfn, end, 1)
		if (!ept_table(it.old, it.level))
			record(&c, classify(&c, &it), it.level, ept_iter_lo(&it, t->gfn),
			       ept_iter_hi(&it, end));
	/* op_end flushes if A bits were cleared: a CPU caching an entry with A = 1 would never
	 * set A again, and a hot page would look idle at the next scan. */
	return op_end(&op, 0);
}
