/*
 * Write-protection and dirty logging. A log is a caller-owned bitmap over a memslot-like
 * range, registered on the EPT so that ept_iter_set() can record dirtiness where it happens:
 * a leaf that becomes writable marks its pages in write-protect logs (the fault path restores
 * W, then the bit is set), a leaf that loses D marks them in D-bit logs (the harvest clears D).
 * Harvesting moves the bitmap out a 64-bit word at a time (a plain load skips zero words, an
 * atomic exchange takes the others), then re-protects exactly the pages it returned, finding
 * each 2 MiB block's leaf table once, then flushes once.
 *
 * Write-protecting and harvesting only change leaves' bits, so they run under the shared
 * lock, next to faults and scans; enabling a log splits huge leaves and takes it exclusive.
 * All of them work in chunks (ept/core.c).
 */
#include "ept/bitmap.h"
#include "ept/internal.h"
#include "errno.h"

void ept_log_dirty(struct ept *ept, gfn_t gfn, u64 npages, u32 modes)
{
	struct ept_dirty_log *l;

	ASSERT(ept_may_walk(ept));
	/* ACQUIRE: a log's fields are written before ept_dirty_log_enable publishes it. */
	for (l = __atomic_load_n(&ept->logs, __ATOMIC_ACQUIRE); l;
	     l = __atomic_load_n(&l->next, __ATOMIC_ACQUIRE)) {
		gfn_t lo = MAX(gfn, l->gfn), hi = MIN(gfn + npages, l->gfn + l->npages);

		if ((modes & BIT(l->mode)) && lo < hi)
			bitmap_range(l->bitmap, lo - l->gfn, hi - lo, BM_SET_ATOMIC);
	}
}

void ept_log_dirty_page(struct ept *ept, gfn_t gfn, enum ept_dirty_mode mode)
{
	struct ept_dirty_log *l;

	ASSERT(ept_may_walk(ept));
	/* ACQUIRE: as in ept_log_dirty. */
	for (l = __atomic_load_n(&ept->logs, __ATOMIC_ACQUIRE); l;
	     l = __atomic_load_n(&l->next, __ATOMIC_ACQUIRE)) {
		u64 i = gfn - l->gfn; /* wraps below the log: then >= npages too */

		/* RELEASE: the harvester's exchange (ACQUIRE) must read this RMW, so that the
		 * change that dirtied the page (the fault path's W) is visible to its
		 * re-protect; hence an OR even when the bit is set already. */
		if (l->mode == mode && i < l->npages)
			__atomic_fetch_or(&l->bitmap[i / 64], BIT(i % 64), __ATOMIC_RELEASE);
	}
}

bool ept_dirty_logged(struct ept *ept, gfn_t gfn, u64 npages)
{
	/* A bracket: a log being disabled is unlinked, then waited out (its memory may go). */
	u32 token = ept_walk_begin(ept);
	bool hit = false;

	/* ACQUIRE: as in ept_log_dirty. */
	for (struct ept_dirty_log *l = __atomic_load_n(&ept->logs, __ATOMIC_ACQUIRE); l && !hit;
	     l = __atomic_load_n(&l->next, __ATOMIC_ACQUIRE))
		hit = gfn < l->gfn + l->npages && l->gfn < gfn + npages;
	ept_walk_end(ept, token);
	return hit;
}

void ept_mark_dirty(struct ept *ept, gfn_t gfn)
{
	u32 token = ept_walk_fast_begin(ept);
	struct ept_iter it;

	/* A huge leaf sets D once for all its pages: mark them all, or writes to the others
	 * (which log nothing while D stays set) would be lost. */
	ept_iter_find(&it, ept, gfn, 1);
	if (ept_leaf(it.old, it.level))
		ept_log_dirty(ept, it.gfn, ept_level_pages(it.level), ~0u);
	else
		ept_log_dirty(ept, gfn, 1, ~0u);
	ept_walk_fast_end(ept, token);
}

/* Clear `bits` in every present leaf overlapping [gfn, end) that has any of them; with `sel`,
 * only in leaves holding a page whose bit is set in sel (bit 0 = gfn sel_base). */
static void clear_leaf_bits(struct ept_op *op, gfn_t gfn, gfn_t end, u64 bits, u64 *sel,
                            gfn_t sel_base)
{
	struct ept_iter it;

	for_each_ept_entry(it, op->ept, gfn, end, 1) {
		gfn_t lo, hi;

		op_resched(op, &it);
		lo = ept_iter_lo(&it, it.start);
		hi = ept_iter_hi(&it, end);
		if (!ept_leaf(it.old, it.level) || !(it.old & bits))
			continue;
		if (!sel || bitmap_range(sel, lo - sel_base, hi - lo, BM_ANY)) {
			ept_iter_update(&it, bits, 0, op);
			op_tick(op, 3); /* a change costs about three visits */
		}
	}
}

int ept_write_protect(struct ept *ept, gfn_t gfn, u64 npages)
{
	struct ept_op op;

	if (!ept_range_ok(gfn, npages))
		return -ERANGE;
	op_begin_shared(&op, ept, EPT_OP_WP);
	op.promise = true; /* write-protected once it returns */
	clear_leaf_bits(&op, gfn, gfn + npages, EPT_W, NULL, 0);
	return op_end(&op, 0);
}

/* ---- the log list ------------------------------------------------------------------------ */

static gfn_t log_end(const struct ept_dirty_log *log)
{
	return log->gfn + log->npages;
}

static bool log_ok(struct ept *ept, const struct ept_dirty_log *log)
{
	if (log->npages == 0 || !log->bitmap || (unsigned)log->mode > EPT_DIRTY_PML)
		return false;
	for (struct ept_dirty_log *l = ept->logs; l; l = l->next)
		if (l == log || (log->gfn < log_end(l) && l->gfn < log_end(log)))
			return false;
	return true;
}

static void log_publish(struct ept *ept, struct ept_dirty_log *log)
{
	ASSERT(ept_locked(ept));
	log->next = ept->logs;
	/* RELEASE: the log's fields and zeroed bitmap before lockless markers can find it. */
	__atomic_store_n(&ept->logs, log, __ATOMIC_RELEASE);
}

static void log_unlink(struct ept *ept, struct ept_dirty_log *log)
{
	struct ept_dirty_log **p;

	ASSERT(ept_locked(ept));
	for (p = &ept->logs; *p; p = &(*p)->next) {
		if (*p == log) {
			/* A marker standing on `log` still follows log->next: left intact. */
			__atomic_store_n(p, log->next, __ATOMIC_RELEASE);
			return;
		}
	}
}

/* ---- enable / disable -------------------------------------------------------------------- */

/* The bit whose clearing re-arms logging for a page: W (WP) or D (PML); none for D-bit mode,
 * whose harvest clears D itself. */
static u64 rearm_bit(const struct ept_dirty_log *log)
{
	return log->mode == EPT_DIRTY_WP ? EPT_W : log->mode == EPT_DIRTY_PML ? EPT_D : 0;
}

/* Zero the log's bitmap, in chunks. */
static void log_zero(struct ept_op *op, struct ept_dirty_log *log)
{
	for (u64 i = 0; i < bitmap_words(log->npages); i++) {
		/* RELAXED: markers may set bits meanwhile (atomically); see log_start. */
		__atomic_store_n(&log->bitmap[i], 0, __ATOMIC_RELAXED);
		if (i % 32 == 31 && op_tick(op, 1))
			op_yield(op);
	}
}

/*
 * The log is published first, so that an overlapping enable sees it while this one drops
 * the lock between chunks. What happens before the protection pass is lost on purpose: a
 * page is logged from the moment it is protected (W or D cleared), and every page is
 * protected after the bitmap was zeroed:
 *  - WP and PML: zero, split to 4K, protect. A fault that restores W (or a D set) after the
 *    protection marks the page in the zeroed bitmap; marks made before it are of pages
 *    that were writable anyway.
 *  - D-bit: clearing D marks the pages that had it (ept_iter_set), so zero afterwards; a D
 *    set again meanwhile is in the entry, and the next harvest takes it.
 */
static int log_start(struct ept_op *op, struct ept_dirty_log *log)
{
	int err;

	log_publish(op->ept, log);
	if (log->mode == EPT_DIRTY_DBIT) {
		clear_leaf_bits(op, log->gfn, log_end(log), EPT_D, NULL, 0);
		log_zero(op, log);
		return 0;
	}
	log_zero(op, log);
	/* 4K leaves only: one write, one fault (WP) or one PML entry (PML), one page. The new
	 * tables are marked, so that disabling the log makes them huge again. */
	op->split_mark = EPT_SPLIT_LOG;
	err = ept_split_range(op, log->gfn, log_end(log), 1);
	op->split_mark = 0;
	if (err)
		return err;
	clear_leaf_bits(op, log->gfn, log_end(log), rearm_bit(log), NULL, 0);
	return 0;
}

int ept_dirty_log_enable(struct ept *ept, struct ept_dirty_log *log)
{
	struct ept_op op;
	int err;

	if (!ept_range_ok(log->gfn, log->npages))
		return -ERANGE;
	op_begin(&op, ept, EPT_OP_LOG);
	op.promise = true; /* logging once it returns */
	err = log_ok(ept, log) ? log_start(&op, log) : -EINVAL;
	if (err == -ENOMEM)
		log_unlink(ept, log);
	op_end(&op, err);
	/* Not enabled after all: a fast-path fault may still be marking the bitmap. */
	if (err == -ENOMEM)
		ept_wait_walkers(ept);
	return err;
}

void ept_dirty_log_disable(struct ept *ept, struct ept_dirty_log *log)
{
	struct ept_op op;

	/* Exclusive: no shared holder (slow fault, harvest) is inside ept_log_dirty. */
	op_begin(&op, ept, EPT_OP_LOG);
	log_unlink(ept, log);
	/* The huge leaves enabling it split come back where their frames are still one run
	 * (another log still covering a block keeps it split). */
	log->restored = ept_restore_split(&op, log->gfn, log_end(log));
	op_end(&op, 0);
	/* A fast-path fault may still be setting a bit in it: wait it out. */
	ept_wait_walkers(ept);
}

/* ---- harvest ------------------------------------------------------------------------------- */

/*
 * Re-protecting what a harvest returns. The dirty pages of one 2 MiB block share a leaf
 * table: it is found once from the root (rearm_find) and each page's entry is then reached
 * inside it directly, so a sparse harvest costs one walk per block with dirty pages, not one
 * per page or per word.
 */
struct rearm {
	struct ept_op *op;
	u64 bit;     /* rearm_bit() of the log */
	gfn_t block; /* the 2 MiB block `table` maps, or ~0 */
	hpa_t table; /* its 4K leaf table, or INVALID_HPA (a huge leaf or a hole there) */
};

static void rearm_find(struct rearm *r, gfn_t gfn)
{
	struct ept_iter it;

	ept_iter_find(&it, r->op->ept, gfn, 2);
	r->block = gfn / ept_level_pages(2);
	r->table = it.level == 2 && ept_table(it.old, 2) ? ept_child(it.old) : INVALID_HPA;
}

static void rearm_page(struct rearm *r, gfn_t gfn)
{
	gfn_t base = ALIGN_DOWN(gfn, ept_level_pages(2));
	struct ept_iter it;

	if (gfn / ept_level_pages(2) != r->block)
		rearm_find(r, gfn);
	if (r->table == INVALID_HPA) {
		/* A huge leaf (cleared once: afterwards it no longer has the bit) or a hole. */
		clear_leaf_bits(r->op, gfn, gfn + 1, r->bit, NULL, 0);
		return;
	}
	/* Under the lock (even shared: only exclusive holders unlink) the table stays linked until
	 * the next op_yield, which resets r->block: start in it, no walk from the root. */
	ept_iter_start(&it, r->op->ept, r->table, 1, gfn, base + EPT_ENTRIES, 1);
	if (ept_leaf(it.old, 1) && (it.old & r->bit))
		ept_iter_update(&it, r->bit, 0, r->op);
}

static void rearm_init(struct rearm *r, struct ept_op *op, const struct ept_dirty_log *log)
{
	*r = (struct rearm){
		.op = op, .bit = rearm_bit(log), .block = ~0ULL, .table = INVALID_HPA
	};
}

/* Re-protect the pages of word i whose bits are in w. */
static void rearm_bits(struct rearm *r, const struct ept_dirty_log *log, u64 i, u64 w)
{
	if (!r->bit)
		return;
	for (; w; w &= w - 1)
		rearm_page(r, log->gfn + i * 64 + __builtin_ctzll(w));
}

/* The same for a single word, on its own (manual mode: ept_dirty_log_clear). */
static void rearm_word(struct ept_op *op, struct ept_dirty_log *log, u64 i, u64 w)
{
	struct rearm r;

	rearm_init(&r, op, log);
	rearm_bits(&r, log, i, w);
}

/* D-bit mode: test-and-clear every D in the range; ept_iter_set marks those pages. */
static void harvest_d(struct ept_op *op, struct ept_dirty_log *log)
{
	if (log->mode == EPT_DIRTY_DBIT)
		clear_leaf_bits(op, log->gfn, log_end(log), EPT_D, NULL, 0);
}

s64 ept_dirty_log_get_and_clear(struct ept *ept, struct ept_dirty_log *log, u64 *out)
{
	struct ept_op op;
	struct rearm r;
	s64 n = 0;

	op_begin_shared(&op, ept, EPT_OP_HARVEST);
	op.promise = true; /* re-protected once it returns */
	rearm_init(&r, &op, log);
	harvest_d(&op, log);
	for (u64 i = 0; i < bitmap_words(log->npages); i++) {
		if (op_tick(&op, 1)) {
			op_yield(&op);
			r.block = ~0ULL; /* the leaf table may be gone: find it again */
		}
		/* RELAXED: a zero word has nothing to take, so it is not exchanged (a locked
		 * RMW per word would cost more than the rest of a sparse harvest). A bit set
		 * after this load is left in the log for the next harvest, exactly as if it
		 * had been set just after the exchange: its page stays writable until then. */
		if (!__atomic_load_n(&log->bitmap[i], __ATOMIC_RELAXED)) {
			out[i] = 0;
			continue;
		}
		/* ACQUIRE: pairs with the marker's RELEASE, so the W its fault path set is
		 * visible to the re-protect below (which therefore clears it). */
		out[i] = __atomic_exchange_n(&log->bitmap[i], 0, __ATOMIC_ACQUIRE);
		n += bitmap_weight64(out[i]);
		rearm_bits(&r, log, i, out[i]);
		/* About 25 ns a page re-protected: 8 units. */
		op_tick(&op, 8 * bitmap_weight64(out[i]));
	}
	/* op_end flushes: a CPU must not write through a stale W = 1 after we return. */
	op_end(&op, 0);
	return n;
}

s64 ept_dirty_log_get(struct ept *ept, struct ept_dirty_log *log, u64 *out)
{
	struct ept_op op;
	s64 n = 0;

	op_begin_shared(&op, ept, EPT_OP_HARVEST);
	harvest_d(&op, log);
	for (u64 i = 0; i < bitmap_words(log->npages); i++) {
		if (op_tick(&op, 1))
			op_yield(&op);
		out[i] = __atomic_load_n(&log->bitmap[i], __ATOMIC_RELAXED);
		n += bitmap_weight64(out[i]);
	}
	op_end(&op, 0);
	return n;
}

s64 ept_dirty_log_clear(struct ept *ept, struct ept_dirty_log *log, gfn_t gfn, u64 npages,
                        const u64 *mask)
{
	u64 first = gfn - log->gfn, end = first + npages;
	struct ept_op op;
	s64 n = 0;

	/* first > log->npages first: log->npages - first would wrap and pass any npages. */
	if (gfn < log->gfn || first % 64 || first > log->npages || npages > log->npages - first)
		return -EINVAL;
	op_begin_shared(&op, ept, EPT_OP_HARVEST);
	op.promise = true; /* re-protected once it returns */
	for (u64 i = first / 64; i * 64 < end; i++) {
		u64 m = mask[i - first / 64] & bitmap_word_mask(i, first, end);
		/* ACQUIRE: as in get_and_clear, the re-protect must see the fault path's W. */
		u64 w = __atomic_fetch_and(&log->bitmap[i], ~m, __ATOMIC_ACQUIRE) & m;

		n += bitmap_weight64(w);
		rearm_word(&op, log, i, w);
		if (op_tick(&op, 1 + 8 * bitmap_weight64(w)))
			op_yield(&op);
	}
	op_end(&op, 0);
	return n;
}
