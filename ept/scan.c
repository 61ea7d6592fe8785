/*
 * A/D scanning for working-set estimation. One walk over a tracker's range reports every
 * page as hole, idle or accessed, judged per leaf at its real size (a 2M or 1G leaf is one
 * entry), into bitmaps and run-length extents.
 *
 * Several trackers may scan the same memory, and the state of a scan is theirs, not the
 * EPT's: a tracker is "accessed since my last clearing scan" = the leaf's A bit OR its own
 * young bits. A clearing scan that takes an A bit hands it to every other tracker's young
 * bits over that leaf, so no tracker's clearing hides accesses from another.
 *
 * Speed: a full 4K leaf table inside the range is classified 64 entries at a time, straight
 * into bitmap words (scan_leaf_table), with plain loads and an atomic clear only of the A
 * bits that are set; the walk skips it. A clearing scan also clears the A bit of the table's
 * parent entry (the CPU sets A in every paging-structure entry it uses) and marks a table
 * found full with EPT_SCAN_FULL: while that entry's A stays clear, later scans report the
 * table's pages idle (unless young) without reading it. Everything else goes entry by entry
 * (a huge leaf or a hole of any size is one entry). The output bitmaps are written, never
 * zeroed first; extents stop being collected once the array is full.
 *
 * Locking: a scan changes only A bits and EPT_SCAN_FULL, so it holds the MMU lock shared
 * (faults and populates go on beside it) and drops it between chunks (ept/core.c). Scans
 * exclude each other with ept->scan_lock, which also guards the tracker list: a clearing
 * scan hands A bits to the other trackers' young bits, which another scan must not be
 * reading and clearing at the same time. A page mapped while a scan runs may be reported
 * as a hole: the scan is a sequence of chunks, not a snapshot.
 */
#include "ept/bitmap.h"
#include "ept/env.h"
#include "ept/internal.h"
#include "errno.h"

/* Work units of a leaf table read in bulk and of one skipped whole (a unit is about 3 ns, an
 * iterator step; reading and classifying a leaf table takes about 1.3 us). */
#define LEAF_TABLE_WORK 512
#define SKIP_TABLE_WORK 16

/* Apply a bitmap op to t's young bits over [gfn, gfn + n) ∩ t's range. */
static bool young_range(struct ept_tracker *t, gfn_t gfn, u64 n, enum bitmap_op op)
{
	gfn_t lo = MAX(gfn, t->gfn), hi = MIN(gfn + n, t->gfn + t->npages);

	return lo < hi && bitmap_range(t->young, lo - t->gfn, hi - lo, op);
}

int ept_tracker_add(struct ept *ept, struct ept_tracker *t)
{
	if (!ept_range_ok(t->gfn, t->npages))
		return -ERANGE;
	if (!t->npages || !t->young)
		return -EINVAL;
	ept_spin_lock(&ept->scan_lock);
	t->next = ept->trackers;
	ept->trackers = t;
	spin_unlock(&ept->scan_lock);
	return 0;
}

void ept_tracker_del(struct ept *ept, struct ept_tracker *t)
{
	ept_spin_lock(&ept->scan_lock);
	for (struct ept_tracker **p = &ept->trackers; *p; p = &(*p)->next) {
		if (*p == t) {
			*p = t->next;
			break;
		}
	}
	spin_unlock(&ept->scan_lock);
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

/* Every page of the range is recorded exactly once, so each bit is written (set or cleared):
 * the bitmaps need no zeroing first. */
static void record(struct scan_ctx *c, enum ept_page_state state, int level, gfn_t lo, gfn_t hi)
{
	struct ept_scan *out = c->out;

	out->pages[state] += hi - lo;
	if (out->idle)
		bitmap_range(out->idle, lo - c->t->gfn, hi - lo,
		             state == EPT_PAGE_IDLE ? BM_SET : BM_CLEAR);
	if (out->hole)
		bitmap_range(out->hole, lo - c->t->gfn, hi - lo,
		             state == EPT_PAGE_HOLE ? BM_SET : BM_CLEAR);
	if (out->ext && !out->ext_full)
		add_extent(out, state, level, lo, hi);
}

/* ---- a full leaf table, 64 entries at a time ---------------------------------------------- */

/* Can the table under `it` be classified in bulk? A 4K leaf table wholly inside what is left
 * of the range (it->start: a chunk may have stopped inside it) whose first page starts a word
 * of the bitmaps. */
static bool bulk_ok(const struct scan_ctx *c, const struct ept_iter *it)
{
	return it->level == 2 && ept_table(it->old, 2) && ept_iter_inside(it, it->start, it->end) &&
	       (it->gfn - c->t->gfn) % 64 == 0;
}

/* Clearing scan: clear A on the entries of leaf table t in `a` (bit j = entry first + j) and
 * hand those accesses to the other trackers. Not through ept_iter_set: clearing A alone has
 * no consequence there but the flush, which is asked for here. */
static void take_a_bits(struct scan_ctx *c, u64 *t, gfn_t base, unsigned first, u64 a)
{
	struct ept_tracker *others = c->op->ept->trackers;

	if (!a)
		return;
	if (others == c->t && !others->next)
		others = NULL; /* the only tracker: nobody to hand the accesses to */
	/* A cleared A would never be set again by a CPU caching the entry with A = 1. */
	op_note_flush(c->op);
	op_tick(c->op, 8 * bitmap_weight64(a)); /* an atomic AND each */
	for (; a; a &= a - 1) {
		unsigned j = first + __builtin_ctzll(a);

		/* Atomic: the CPU may set D, the fast path W, meanwhile. RELAXED: nothing is
		 * published by it; the flush in op_end orders it against the CPUs. */
		__atomic_fetch_and(&t[j], ~EPT_A, __ATOMIC_RELAXED);
		for (struct ept_tracker *o = others; o; o = o->next)
			if (o != c->t)
				young_range(o, base + j, 1, BM_SET);
	}
}

/* Record 64 pages from gfn g, given which are present and which accessed. */
static void record_word(struct scan_ctx *c, gfn_t g, u64 present, u64 acc)
{
	u64 word[EPT_PAGE_STATES] = { ~present, present & ~acc, acc }, i = (g - c->t->gfn) / 64;
	struct ept_scan *out = c->out;

	if (out->idle)
		out->idle[i] = word[EPT_PAGE_IDLE];
	if (out->hole)
		out->hole[i] = word[EPT_PAGE_HOLE];
	for (int s = 0; s < EPT_PAGE_STATES; s++)
		out->pages[s] += bitmap_weight64(word[s]);
	for (unsigned pos = 0; out->ext && !out->ext_full && pos < 64;) {
		int s = word[EPT_PAGE_HOLE] >> pos & 1   ? EPT_PAGE_HOLE
		        : word[EPT_PAGE_IDLE] >> pos & 1 ? EPT_PAGE_IDLE
		                                         : EPT_PAGE_ACCESSED;
		u64 rest = ~(word[s] >> pos);
		/* cppcheck-suppress knownConditionTrueFalse ; wrong: rest is 0 when pos is 0 and
		 * all 64 pages are in state s */
		unsigned run = rest ? (unsigned)__builtin_ctzll(rest) : 64 - pos;

		add_extent(out, s, 1, g + pos, g + pos + run);
		pos += run;
		if (out->ext_full)
			break;
	}
}

/* The table under `parent` is full with every A clear: only t's young bits can say
 * accessed. */
static void skip_leaf_table(struct scan_ctx *c, gfn_t base)
{
	for (unsigned w = 0; w < EPT_ENTRIES / 64; w++) {
		gfn_t g = base + w * 64;
		u64 *young = &c->t->young[(g - c->t->gfn) / 64];

		record_word(c, g, ~0ULL, *young);
		if (c->clear)
			*young = 0;
	}
}

/*
 * Clearing scan: clear the parent's A before reading the leaves, so an access after our read
 * of a leaf sets it again (the CPU sets the parent's A before the leaf's). A CPU that cached
 * the parent with A = 1 may set a leaf's A without the parent's until op_end's flush, so a
 * table whose parent had A is not marked full this round: the next scan reads it again.
 */
static u64 parent_take_a(struct scan_ctx *c, struct ept_iter *parent)
{
	u64 old = parent->old;

	if (c->clear && (old & EPT_A)) {
		/* The parent's A must be set again by a CPU that cached it. */
		op_note_flush(c->op);
		old = ept_iter_update(parent, EPT_A | EPT_SCAN_FULL, 0, c->op);
	}
	return old;
}

/* Returns the work it did, in EPT_CHUNK_WORK units. */
static u32 scan_leaf_table(struct scan_ctx *c, struct ept_iter *parent)
{
	u64 *t = ept_env_va(ept_child(parent->old)), pde, all = ~0ULL;

	if (!(parent->old & EPT_A) && (parent->old & EPT_SCAN_FULL)) {
		skip_leaf_table(c, parent->gfn);
		return SKIP_TABLE_WORK;
	}
	pde = parent_take_a(c, parent);
	for (unsigned w = 0; w < EPT_ENTRIES / 64; w++) {
		gfn_t g = parent->gfn + w * 64;
		u64 present = 0, a = 0, *young = &c->t->young[(g - c->t->gfn) / 64];

		/* RELAXED (plain loads): the table's address was read with ACQUIRE; under the
		 * shared lock only A/D and W change and holes fill, and A is cleared with an
		 * atomic AND. */
		for (unsigned j = 0; j < 64; j++) {
			u64 e = __atomic_load_n(&t[w * 64 + j], __ATOMIC_RELAXED);

			present |= (u64)ept_present(e) << j;
			a |= (u64)((e & EPT_A) != 0) << j;
		}
		a &= present;
		all &= present;
		record_word(c, g, present, a | (*young & present));
		if (c->clear) {
			take_a_bits(c, t, parent->gfn, w * 64, a);
			*young = 0;
		}
	}
	/* Full, and every A taken with the parent's A clear throughout the read: from now on
	 * a leaf's A can only be set after the parent's. */
	if (c->clear && all == ~0ULL && !(pde & EPT_A) && !(parent->old & EPT_SCAN_FULL))
		ept_iter_update(parent, 0, EPT_SCAN_FULL, c->op);
	return LEAF_TABLE_WORK;
}

/* ---- a full table of 2M entries ------------------------------------------------------------ */

/* Can the level-2 table under `it` (a 1G entry's) be scanned in bulk? Wholly inside the
 * range, its first page starting a word of the bitmaps. */
static bool bulk_pd_ok(const struct scan_ctx *c, const struct ept_iter *it)
{
	return it->level == 3 && ept_table(it->old, 3) && ept_iter_inside(it, it->start, it->end) &&
	       (it->gfn - c->t->gfn) % 64 == 0;
}

/* A 2M leaf or hole at *p (read as e) mapping from gfn g, wholly inside the range and
 * starting a bitmap word: its 8 words of each bitmap are written whole. */
static void scan_2m_entry(struct scan_ctx *c, u64 *p, u64 e, gfn_t g)
{
	const unsigned nw = ept_level_pages(2) / 64;
	u64 i = (g - c->t->gfn) / 64, young = 0, *y = &c->t->young[i];
	struct ept_scan *out = c->out;
	bool present = ept_present(e), a = present && (e & EPT_A);
	enum ept_page_state state;

	for (unsigned k = 0; k < nw; k++)
		young |= y[k];
	state = !present ? EPT_PAGE_HOLE : a || young ? EPT_PAGE_ACCESSED : EPT_PAGE_IDLE;
	if (c->clear && a) {
		op_note_flush(c->op);
		/* Atomic: the CPU may set D, the fast path W, meanwhile; op_end flushes. */
		__atomic_fetch_and(p, ~EPT_A, __ATOMIC_RELAXED);
		for (struct ept_tracker *o = c->op->ept->trackers; o; o = o->next)
			if (o != c->t)
				young_range(o, g, ept_level_pages(2), BM_SET);
	}
	/* A hole's young bits go too: accesses to what was unmapped say nothing about what
	 * comes next (as in classify). */
	for (unsigned k = 0; k < nw; k++) {
		if (out->idle)
			out->idle[i + k] = state == EPT_PAGE_IDLE ? ~0ULL : 0;
		if (out->hole)
			out->hole[i + k] = state == EPT_PAGE_HOLE ? ~0ULL : 0;
		if (c->clear && young)
			y[k] = 0;
	}
	out->pages[state] += ept_level_pages(2);
	if (out->ext && !out->ext_full)
		add_extent(out, state, 2, g, g + ept_level_pages(2));
}

/* The 512 entries of the level-2 table under `parent`, without the iterator: 2M leaves and
 * holes directly, 4K leaf tables through scan_leaf_table. Returns the first gfn not scanned:
 * the end of the block, or where the chunk ran out (the caller yields and goes on there). */
static gfn_t scan_pd_table(struct scan_ctx *c, const struct ept_iter *parent)
{
	hpa_t pd = ept_child(parent->old);
	u64 *t = ept_env_va(pd);

	for (unsigned i = 0; i < EPT_ENTRIES; i++) {
		gfn_t g = parent->gfn + i * ept_level_pages(2);
		/* RELAXED (a plain load): under the shared lock only A/D and W change and holes
		 * fill; a table pointer is not followed from here but through `sub`, whose
		 * read is ACQUIRE. */
		u64 e = __atomic_load_n(&t[i], __ATOMIC_RELAXED);
		struct ept_iter sub;

		if (c->op->work >= EPT_CHUNK_WORK)
			return g;
		if (!ept_table(e, 2)) {
			op_tick(c->op, 1);
			scan_2m_entry(c, &t[i], e, g);
			continue;
		}
		/* An iterator standing on the entry, for the updates of its A and FULL. */
		ept_iter_start(&sub, c->op->ept, pd, 2, g, parent->gfn + ept_level_pages(3), 2);
		op_tick(c->op, scan_leaf_table(c, &sub));
	}
	return parent->gfn + ept_level_pages(3);
}

/* ---- the scan ------------------------------------------------------------------------------ */

/* The bitmaps are overwritten by the scan; only the bits past the range's end are zeroed. */
static void scan_reset(struct ept_scan *out, u64 npages)
{
	u64 last = bitmap_words(npages) - 1;

	if (out->idle)
		out->idle[last] = 0;
	if (out->hole)
		out->hole[last] = 0;
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
	ept_spin_lock(&ept->scan_lock);
	op_begin_shared(&op, ept, EPT_OP_SCAN);
	ept_iter_start(&it, ept, ept->root, EPT_LEVELS, t->gfn, end, 1);
	while (it.valid) {
		op_resched(&op, &it);
		if (bulk_pd_ok(&c, &it)) {
			gfn_t stop = scan_pd_table(&c, &it);

			if (stop < ept_iter_hi(&it, end)) {
				/* The chunk ran out inside the block: go on from there. */
				op_yield(&op);
				it.gfn = stop;
				ept_iter_restart(&it);
				continue;
			}
			ept_iter_skip(&it);
		} else if (bulk_ok(&c, &it)) {
			op_tick(&op, scan_leaf_table(&c, &it));
			ept_iter_skip(&it);
		} else if (!ept_table(it.old, it.level)) {
			record(&c, classify(&c, &it), it.level, ept_iter_lo(&it, it.start),
			       ept_iter_hi(&it, end));
		}
		ept_iter_next(&it);
	}
	/* op_end flushes if A bits were cleared: a CPU caching an entry with A = 1 would never
	 * set A again, and a hot page would look idle at the next scan. */
	op_end(&op, 0);
	spin_unlock(&ept->scan_lock);
	return 0;
}
