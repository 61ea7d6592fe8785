/*
 * The reference model and the operation executor shared by the model-based test and the
 * fuzzer (see ept_model.h). The model is deliberately naive: an array with one record per
 * 4 KiB page, changed a page at a time; leaf boundaries are derived from each page's level.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "ept/env.h"
#include "ept/ept.h"
#include "ept/iter.h"
#include "ept/migrate.h"
#include "ept_env_host.h"
#include "ept_hw.h"
#include "ept_model.h"
#include "errno.h"

#define P2M       ept_level_pages(2)
#define P1G       ept_level_pages(3)
#define AD        (EPT_A | EPT_D)
#define AMBIGUOUS 1 /* expected result: 0 or -ENOENT (an empty table the model cannot see) */

struct mpage {
	hfn_t hfn; /* the frame of this page */
	u64 bits;  /* EPT_PROT_MASK | A | D of its leaf */
	u8 level;  /* size of its leaf; 0 = not mapped */
	u32 w_seq; /* step of the last write (0 = never) */
	u32 t_seq; /* step of the last write or change to its leaf */
};

struct mlog {
	struct ept_dirty_log log;
	u32 *clr_seq; /* per page: step at which its bit was last cleared */
	u64 clr_hi;   /* clr_seq[0, clr_hi) may have been written */
	bool on;
};

struct mtrk {
	struct ept_tracker t;
	u8 *young; /* the model's young bits, one byte per page */
};

struct model {
	struct ept ept;
	struct mpage *pg;
	struct mlog log[2];
	struct mtrk trk[2];
	u64 *out; /* bitmaps the EPT fills (one per purpose at most at once) */
	u64 *out2;
	struct ept_extent ext[256];
	model_rand_fn rnd;
	void *ctx;
	bool fuzz;
	bool trace;      /* EPT_MODEL_TRACE set: print every operation */
	gfn_t watch;     /* EPT_MODEL_WATCH=gfn: print that page after every step */
	u32 seq;         /* the current step */
	u64 nmapped;     /* pages with level != 0, kept up to date by set_leaf and unmap_pages */
	u16 *blk_mapped; /* the same per 2 MiB block, so that scans skip empty blocks */
	u8 *blk_dirty;   /* 2 MiB blocks whose page records were written (fuzzer: to reset) */
	u64 released;    /* data frames collapse by copy should have handed back */
	hfn_t fake_next; /* where the host env's next fake data run starts */
	char op[200];
	u64 n_ok, n_err, n_fixed, n_copies, n_dirty, n_leaves; /* coverage, printed at the end */
	u64 n_moved[3];                                        /* migrations by level */
};

#define CHECK(m, cond, ...)                                                                        \
	do {                                                                                       \
		if (!(cond))                                                                       \
			fail_at(m, __LINE__, #cond, __VA_ARGS__);                                  \
	} while (0)

static void __attribute__((noreturn, format(printf, 4, 5)))
fail_at(const struct model *m, int line, const char *cond, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	model_fail("ept_model.c:%d: step %u, after `%s`: %s (%s)", line, m->seq, m->op, msg, cond);
}

const char *model_last_op(const struct model *m)
{
	return m->op;
}

static u64 R(struct model *m, u64 n)
{
	return n ? m->rnd(m->ctx) % n : 0;
}
static u64 lp(int level)
{
	return ept_level_pages(level);
}
static bool mapped(const struct model *m, gfn_t g)
{
	return m->pg[g].level != 0;
}
static gfn_t lstart(const struct model *m, gfn_t g)
{
	return ALIGN_DOWN(g, lp(m->pg[g].level));
}

/* Page accounting for set_leaf and unmap_pages: d = +1 (now mapped) or -1. */
static void count_mapped(struct model *m, gfn_t g, int d)
{
	m->nmapped += d;
	m->blk_mapped[g / P2M] += d;
}

/* g, or the start of the next 2 MiB block when g's block has no mapped page. */
static gfn_t skip_empty(const struct model *m, gfn_t g)
{
	return g >= MODEL_PAGES || m->blk_mapped[g / P2M] ? g : ALIGN_DOWN(g, P2M) + P2M;
}

/* The first leaf with a page in [g, e): its start and level. */
static bool find_leaf(const struct model *m, gfn_t g, gfn_t e, gfn_t *st, int *lv)
{
	for (g = skip_empty(m, g); g < e; g = skip_empty(m, g + 1)) {
		if (mapped(m, g)) {
			*lv = m->pg[g].level;
			*st = lstart(m, g);
			return true;
		}
	}
	return false;
}

#define for_each_mleaf(m, g, st, lv, s, e)                                                         \
	for (gfn_t g = (s); find_leaf(m, g, e, &st, &lv); g = st + lp(lv))

/* Page records outside the blocks marked here are only ever read (see model_free). */
static void dirty(struct model *m, gfn_t g)
{
	m->blk_dirty[g / P2M] = 1;
}

static void touch(struct model *m, gfn_t s, u64 n)
{
	for (gfn_t g = s; g < s + n; g++) {
		dirty(m, g);
		m->pg[g].t_seq = m->seq;
	}
}

/* Whether page g is mapped, without reading its record when its block is empty or full
 * (a read of an untouched page of the mappings costs a page fault). */
static bool mapped_fast(const struct model *m, gfn_t g)
{
	u16 c = m->blk_mapped[g / P2M];

	return c == P2M || (c && mapped(m, g));
}

static void set_leaf(struct model *m, gfn_t st, int lv, hfn_t hfn, u64 bits)
{
	for (u64 i = 0; i < lp(lv); i++) {
		if (!mapped_fast(m, st + i))
			count_mapped(m, st + i, 1);
		dirty(m, st + i);
		m->pg[st + i] =
			(struct mpage){ hfn + i, bits, (u8)lv, m->pg[st + i].w_seq, m->seq };
	}
}

static void leaf_bits(struct model *m, gfn_t st, int lv, u64 clear, u64 set)
{
	for (u64 i = 0; i < lp(lv); i++)
		m->pg[st + i].bits = (m->pg[st + i].bits & ~clear) | set;
}

static void unmap_pages(struct model *m, gfn_t s, u64 n)
{
	for (gfn_t g = s; g < s + n; g++) {
		if (mapped(m, g))
			count_mapped(m, g, -1);
		dirty(m, g);
		m->pg[g].level = 0;
		m->pg[g].bits = 0;
		m->pg[g].hfn = 0;
		m->pg[g].t_seq = m->seq;
	}
}

/* Clear/set bits on every leaf with a page in [s, e) (and with `sel`, a selected page). */
static void range_bits(struct model *m, gfn_t s, gfn_t e, u64 clear, u64 set, const u8 *sel)
{
	gfn_t st;
	int lv;

	for_each_mleaf(m, g, st, lv, s, e) {
		bool any = !sel;

		for (gfn_t p = MAX(st, s); !any && p < MIN(st + lp(lv), e); p++)
			any = sel[p - s];
		if (any)
			leaf_bits(m, st, lv, clear, set);
	}
}

/*
 * Split (and for unmap, remove) as ept_split_range / ept_unmap do, for the leaf (st, lv):
 * unmap removes a leaf wholly inside and splits one cut by the range; split splits every
 * leaf above `target` that overlaps; the children that overlap are visited in turn.
 */
static void split_visit(struct model *m, gfn_t st, int lv, gfn_t s, gfn_t e, int target,
                        bool remove)
{
	bool inside = st >= s && st + lp(lv) <= e;

	if (remove && inside) {
		unmap_pages(m, st, lp(lv));
		return;
	}
	if (lv <= target)
		return;
	for (u64 i = 0; i < lp(lv); i++) {
		m->pg[st + i].level = lv - 1;
		m->pg[st + i].t_seq = m->seq;
	}
	for (gfn_t c = st; c < st + lp(lv); c += lp(lv - 1))
		if (c < e && c + lp(lv - 1) > s)
			split_visit(m, c, lv - 1, s, e, target, remove);
}

static void split_range(struct model *m, gfn_t s, gfn_t e, int target, bool remove)
{
	gfn_t st;
	int lv;

	for_each_mleaf(m, g, st, lv, s, e)
		split_visit(m, st, lv, s, e, target, remove);
}

/* After a split that ran out of memory: adopt the EPT's leaf sizes over [s, e), checking
 * that every translation stayed what it was. */
static void adopt_levels(struct model *m, gfn_t s, gfn_t e)
{
	/* Blocks the model has nothing in are skipped: whatever the EPT maps there shows up
	 * in check_all's page count. One lookup per EPT leaf; its pages are checked from it. */
	for (gfn_t g = skip_empty(m, s); g < e; g = skip_empty(m, g + 1)) {
		int lv = 0;
		u64 leaf = ept_lookup(&m->ept, g, &lv);
		gfn_t end;

		CHECK(m, mapped(m, g) == ept_leaf(leaf, lv), "gfn %#llx", (unsigned long long)g);
		if (!mapped(m, g))
			continue;
		end = MIN(ALIGN_DOWN(g, lp(lv)) + lp(lv), e);
		for (; g < end; g++) {
			CHECK(m, mapped(m, g), "gfn %#llx", (unsigned long long)g);
			CHECK(m, hw_frame(leaf, lv, g) == m->pg[g].hfn, "gfn %#llx",
			      (unsigned long long)g);
			CHECK(m, lv <= m->pg[g].level, "gfn %#llx grew", (unsigned long long)g);
			m->pg[g].level = lv;
		}
		g--; /* the loop steps to the page after the leaf */
	}
}

/* ---- comparing the EPT with the model -------------------------------------------------------- */

static void check_leaf(struct model *m, const struct ept_iter *it)
{
	u64 want = EPT_MT_WB | EPT_IPAT | (it->level > 1 ? EPT_LARGE : 0);

	CHECK(m, (it->old & (EPT_MT_MASK | EPT_IPAT | EPT_LARGE)) == want, "format %#llx",
	      (unsigned long long)it->old);
	CHECK(m, it->gfn + lp(it->level) <= MODEL_PAGES, "leaf beyond the guest");
	for (u64 i = 0; i < lp(it->level); i++) {
		const struct mpage *p = &m->pg[it->gfn + i];
		gfn_t g = it->gfn + i;

		CHECK(m, p->level == it->level, "gfn %#llx: level %d, model %d",
		      (unsigned long long)g, it->level, p->level);
		CHECK(m, p->hfn == ept_hfn(it->old) + i, "gfn %#llx: hfn %#llx, model %#llx",
		      (unsigned long long)g, (unsigned long long)(ept_hfn(it->old) + i),
		      (unsigned long long)p->hfn);
		CHECK(m, p->bits == (it->old & (EPT_PROT_MASK | AD)),
		      "gfn %#llx: bits %#llx, model %#llx", (unsigned long long)g,
		      (unsigned long long)(it->old & (EPT_PROT_MASK | AD)),
		      (unsigned long long)p->bits);
	}
}

static void check_all(struct model *m)
{
	u64 leaves[EPT_MAX_LEAF_LEVEL + 1] = { 0 }, pages = 0;
	struct ept_iter it;

	for_each_ept_entry(it, &m->ept, 0, EPT_GFN_LIMIT, 1) {
		if (!ept_leaf(it.old, it.level))
			continue;
		check_leaf(m, &it);
		leaves[it.level]++;
		m->n_leaves++;
		pages += lp(it.level);
	}
	/* With the per-leaf comparison above, equal counts mean the model maps nothing else. */
	CHECK(m, pages == m->nmapped, "EPT maps %llu pages, model %llu", (unsigned long long)pages,
	      (unsigned long long)m->nmapped);
	if (!m->fuzz) { /* the count itself, page by page (too slow for the fuzzer) */
		u64 model_pages = 0;

		for (gfn_t g = 0; g < MODEL_PAGES; g++)
			model_pages += mapped(m, g);
		CHECK(m, model_pages == m->nmapped, "model maps %llu pages, counted %llu",
		      (unsigned long long)model_pages, (unsigned long long)m->nmapped);
	}
	for (int l = 1; l <= EPT_MAX_LEAF_LEVEL; l++)
		CHECK(m, m->ept.stats.leaves[l] == leaves[l], "stats.leaves[%d] %llu, counted %llu",
		      l, (unsigned long long)m->ept.stats.leaves[l], (unsigned long long)leaves[l]);
	CHECK(m, (long)m->ept.stats.tables == host_env_tables_live(), "stats.tables %llu, live %ld",
	      (unsigned long long)m->ept.stats.tables, host_env_tables_live());
	CHECK(m, host_env_data_released() == m->released, "released %llu, model %llu",
	      (unsigned long long)host_env_data_released(), (unsigned long long)m->released);
}

/* ---- choices -------------------------------------------------------------------------------- */

/* Mostly inside the first 16 MiB of either 1G (so that operations meet each other), at
 * times anywhere. */
static gfn_t pick_gfn(struct model *m, u64 align)
{
	gfn_t g = R(m, 4) ? R(m, 2) * P1G + R(m, 8 * P2M) : R(m, MODEL_PAGES);

	return ALIGN_DOWN(g, align);
}

/* Mostly a mapped page, when there is one nearby. */
static gfn_t pick_page(struct model *m)
{
	gfn_t g = pick_gfn(m, 1);

	for (int i = 0; i < 8 && !mapped(m, g); i++)
		g = pick_gfn(m, 1);
	return g;
}

static u64 pick_len(struct model *m, gfn_t g)
{
	static const u64 sizes[] = { 1, 3, 64, 511, 512, 513, 1024, 1500, 4096, 262145 };
	u64 n = R(m, 2) ? sizes[R(m, ARRAY_SIZE(sizes))] : 1 + R(m, 1024);

	return MIN(n, MODEL_PAGES - g);
}

static u64 pick_prot(struct model *m)
{
	static const u64 prots[] = {
		EPT_R | EPT_W | EPT_X | EPT_HOST_WRITABLE | EPT_MMU_WRITABLE,
		EPT_R | EPT_W | EPT_X | EPT_HOST_WRITABLE | EPT_MMU_WRITABLE,
		EPT_R | EPT_W | EPT_HOST_WRITABLE | EPT_MMU_WRITABLE,
		EPT_R | EPT_HOST_WRITABLE | EPT_MMU_WRITABLE, /* write-protected for logging */
		EPT_R | EPT_X | EPT_HOST_WRITABLE,            /* held read-only by the hypervisor */
		EPT_R | EPT_X,
		EPT_X,
	};

	return prots[R(m, ARRAY_SIZE(prots))];
}

/* Maybe make the next table (or data) allocations fail; returns whether it did. */
static bool maybe_inject(struct model *m, bool data)
{
	long budget;

	if (R(m, 6))
		return false;
	budget = R(m, 4);
	if (data && R(m, 2))
		host_env_fail_data_after(0);
	else
		host_env_fail_tables_after(data ? 0 : budget);
	return true;
}

static void end_inject(void)
{
	host_env_fail_tables_after(-1);
	host_env_fail_data_after(-1);
}

static void count(struct model *m, int r)
{
	if (r)
		m->n_err++;
	else
		m->n_ok++;
}

#define OP(m, ...) snprintf((m)->op, sizeof((m)->op), __VA_ARGS__)

/* ---- map, unmap, write-protect, split ------------------------------------------------------- */

static bool any_mapped(const struct model *m, gfn_t s, u64 n)
{
	for (gfn_t g = skip_empty(m, s); g < s + n; g = skip_empty(m, g + 1))
		if (mapped_fast(m, g))
			return true;
	return false;
}

/* Every page of [s, s + n) mapped; whole 2 MiB blocks are judged by their count. */
static bool all_mapped(const struct model *m, gfn_t s, u64 n)
{
	for (gfn_t g = s; g < s + n;) {
		if (IS_ALIGNED(g, P2M) && g + P2M <= s + n) {
			if (m->blk_mapped[g / P2M] != P2M)
				return false;
			g += P2M;
		} else if (!mapped(m, g++)) {
			return false;
		}
	}
	return true;
}

static void op_map(struct model *m)
{
	int lv = R(m, 8) < 5 ? 1 : R(m, 4) ? 2 : 3;
	gfn_t g = pick_gfn(m, lv == 1 && R(m, 2) ? P2M : lp(lv));
	u64 n = lp(lv) * (lv == 1 && R(m, 2) ? 512 : 1 + R(m, lv == 1 ? 1100 : lv == 2 ? 8 : 1));
	hfn_t hfn = HOST_FAKE_HFN + (R(m, 2) ? g : ALIGN_DOWN(R(m, 1ULL << 24), lp(lv)));
	u64 prot = pick_prot(m);
	bool inject = maybe_inject(m, false);
	int r, want;

	n = MIN(n, MODEL_PAGES - g);
	OP(m, "map %#llx +%#llx -> %#llx L%d prot %#llx%s", (unsigned long long)g,
	   (unsigned long long)n, (unsigned long long)hfn, lv, (unsigned long long)prot,
	   inject ? " (tables run out)" : "");
	r = ept_map(&m->ept, g, hfn, n, lv, prot);
	end_inject();
	want = any_mapped(m, g, n) ? -EEXIST : 0;
	CHECK(m, r == want || (inject && want == 0 && r == -ENOMEM), "returned %d, want %d", r,
	      want);
	for (gfn_t st = g; r == 0 && st < g + n; st += lp(lv))
		set_leaf(m, st, lv, hfn + (st - g), prot);
	count(m, r);
}

static void op_unmap(struct model *m)
{
	gfn_t g = pick_gfn(m, R(m, 2) ? 1 : P2M);
	u64 n = pick_len(m, g);
	bool inject = maybe_inject(m, false);
	int r;

	OP(m, "unmap %#llx +%#llx%s", (unsigned long long)g, (unsigned long long)n,
	   inject ? " (tables run out)" : "");
	r = ept_unmap(&m->ept, g, n);
	end_inject();
	CHECK(m, r == 0 || (inject && r == -ENOMEM), "returned %d", r);
	if (r == 0)
		split_range(m, g, g + n, 1, true);
	count(m, r);
}

static void op_write_protect(struct model *m)
{
	gfn_t g = pick_gfn(m, 1);
	u64 n = pick_len(m, g);

	OP(m, "write-protect %#llx +%#llx", (unsigned long long)g, (unsigned long long)n);
	CHECK(m, ept_write_protect(&m->ept, g, n) == 0, "failed");
	range_bits(m, g, g + n, EPT_W, 0, NULL);
}

static void op_split(struct model *m)
{
	gfn_t g = pick_gfn(m, 1);
	u64 n = pick_len(m, g);
	int target = 1 + R(m, 2);
	bool inject = maybe_inject(m, false);
	gfn_t st, lo = g, hi = g + n;
	int lv, r;

	OP(m, "split %#llx +%#llx to L%d%s", (unsigned long long)g, (unsigned long long)n, target,
	   inject ? " (tables run out)" : "");
	if (find_leaf(m, g, g + n, &st, &lv))
		lo = MIN(lo, st);
	if (n && mapped(m, hi - 1))
		hi = lstart(m, hi - 1) + lp(m->pg[hi - 1].level);
	r = ept_split(&m->ept, g, n, target);
	end_inject();
	CHECK(m, r == 0 || (inject && r == -ENOMEM), "returned %d", r);
	if (r == 0)
		split_range(m, g, g + n, target, false);
	else
		adopt_levels(m, lo, hi);
	count(m, r);
}

/* ---- collapse ----------------------------------------------------------------------------------
 */

/* The model of collapse_block (ept/split.c): expected result, changes applied. */
static int collapse_block(struct model *m, gfn_t g, int lv, enum ept_collapse_mode mode,
                          bool inject)
{
	u64 n = lp(lv), cs = lp(lv - 1), w = EPT_W, ad = 0;
	const struct mpage *first = &m->pg[g];
	bool contiguous = IS_ALIGNED(first->hfn, n);
	hfn_t run;

	if (first->level >= lv)
		return 0;
	if (!all_mapped(m, g, n))
		return -ENOENT;
	for (gfn_t c = g; c < g + n; c += cs) {
		const struct mpage *p = &m->pg[c];

		if (p->level != lv - 1 ||
		    (p->bits & EPT_ATTR_MASK) != (first->bits & EPT_ATTR_MASK))
			return -EBUSY;
		contiguous &= p->hfn == first->hfn + (c - g);
		w &= p->bits;
		ad |= p->bits & AD;
	}
	run = first->hfn;
	if (!contiguous) {
		if (mode != EPT_COLLAPSE_COPY)
			return -EBUSY;
		if (inject)
			return -ENOMEM;
		run = ALIGN_UP(m->fake_next, n);
		m->fake_next = run + n;
		m->released += EPT_ENTRIES;
		m->n_copies++;
	}
	set_leaf(m, g, lv, run, (first->bits & EPT_ATTR_MASK) | w | ad);
	return 0;
}

/* The model of a 1G collapse in place (one operation): every page mapped, with the first
 * page's attributes, its frame at the same offset in one aligned run; nothing changes on a
 * refusal. */
static int collapse_whole(struct model *m, gfn_t g, int lv, bool lazy)
{
	u64 n = lp(lv), w = EPT_W, ad = 0;
	const struct mpage *first = &m->pg[g];

	if (first->level >= lv)
		return 0;
	if (!all_mapped(m, g, n))
		return -ENOENT;
	for (gfn_t c = g; c < g + n; c++) {
		const struct mpage *p = &m->pg[c];

		if ((p->bits & EPT_ATTR_MASK) != (first->bits & EPT_ATTR_MASK) ||
		    p->hfn != first->hfn + (c - g) || !IS_ALIGNED(first->hfn, n))
			return -EBUSY;
		w &= p->bits;
		ad |= p->bits & AD;
	}
	if (lazy) /* could be done in place: the block is unmapped for a large refault */
		unmap_pages(m, g, n);
	else
		set_leaf(m, g, lv, first->hfn, (first->bits & EPT_ATTR_MASK) | w | ad);
	return 0;
}

static int collapse(struct model *m, gfn_t g, int lv, enum ept_collapse_mode mode, bool inject)
{
	if (mode == EPT_COLLAPSE_LAZY)
		return collapse_whole(m, g, lv, true);
	if (lv == 3 && mode == EPT_COLLAPSE_IN_PLACE)
		return collapse_whole(m, g, lv, false);
	for (u64 i = 0; lv == 3 && mode == EPT_COLLAPSE_COPY && i < EPT_ENTRIES; i++) {
		int r = collapse_block(m, g + i * P2M, 2, mode, inject);

		if (r)
			return r;
	}
	return collapse_block(m, g, lv, mode, inject);
}

static void op_collapse(struct model *m)
{
	static const char *names[] = { "in place", "copy", "lazy" };
	int lv = R(m, 4) ? 2 : 3;
	gfn_t g = pick_gfn(m, lp(lv));
	enum ept_collapse_mode mode = R(m, 3);
	bool inject;
	int r, want;

	if (lv == 3 && mode == EPT_COLLAPSE_COPY && (m->fuzz || R(m, 4)))
		mode = EPT_COLLAPSE_IN_PLACE; /* a 1G copy moves 1 GiB: rarely */
	inject = lv == 2 && maybe_inject(m, true);
	OP(m, "collapse %#llx to L%d %s%s", (unsigned long long)g, lv, names[mode],
	   inject ? " (memory runs out)" : "");
	m->fake_next = host_env_fake_next(1);
	want = collapse(m, g, lv, mode, inject);
	r = ept_collapse(&m->ept, g, lv, mode);
	end_inject();
	CHECK(m, r == want || (want == AMBIGUOUS && (r == 0 || r == -ENOENT)),
	      "returned %d, want %d", r, want);
	if (want == 0)
		touch(m, g, lp(lv));
	count(m, r);
}

/* ---- migration -------------------------------------------------------------------------- */

/* ept_migrate of the 4K page or the 2M leaf at a page: a larger leaf is split down first, a
 * smaller one refused; the moved leaf keeps its bits but W and maps the new frames. */
static void op_migrate(struct model *m)
{
	int lv = R(m, 2) ? 1 : 2, want, r;
	gfn_t g = pick_page(m), base = ALIGN_DOWN(g, lp(lv)), lo = base, hi = base + lp(lv);
	bool inject = maybe_inject(m, false), own = false;
	hfn_t from = mapped(m, base) ? m->pg[base].hfn : 0, to;
	u64 bits = m->pg[base].bits;

	/* The destination's scratch space must not be the source's (host_data_va): a run from
	 * the env (the copy area) for a frame of the map area, and the other way round. */
	if (from < HOST_FAKE_RUN) {
		host_env_fail_data_after(-1);
		to = ept_env_alloc_data(lv);
		own = true;
	} else {
		to = HOST_FAKE_HFN + ALIGN_DOWN(R(m, 1ULL << 24), lp(lv));
	}
	OP(m, "migrate %#llx L%d -> %#llx%s", (unsigned long long)g, lv, (unsigned long long)to,
	   inject ? " (tables run out)" : "");
	if (!mapped(m, g))
		want = -ENOENT;
	else if (m->pg[g].level < lv)
		want = -EBUSY;
	else
		want = 0;
	if (want == 0) { /* the leaf that a split, cut short, leaves partly split */
		lo = lstart(m, g);
		hi = lo + lp(m->pg[g].level);
	}
	r = ept_migrate(&m->ept, g, to, lv);
	end_inject();
	CHECK(m, r == want || (inject && want == 0 && m->pg[g].level > lv && r == -ENOMEM),
	      "returned %d, want %d", r, want);
	if (r == 0) {
		split_range(m, base, base + lp(lv), lv, false);
		set_leaf(m, base, lv, to, bits & ~EPT_W);
		m->released++; /* the old frames, through ept_env_free_data */
		m->n_moved[lv]++;
	} else {
		if (r == -ENOMEM)
			adopt_levels(m, lo, hi);
		if (own) {
			ept_env_free_data(&m->ept, base, to, lv);
			m->released++;
		}
	}
	count(m, r);
}

/* ---- accesses and faults
 * ------------------------------------------------------------------------- */

/* The model of ept_handle_fault's verdict. */
static int judge(const struct model *m, gfn_t g, u64 access)
{
	u64 bits = m->pg[g].bits;

	if (!mapped(m, g))
		return EPT_FAULT_NOT_PRESENT;
	if (ept_allows(bits, access))
		return EPT_FAULT_SPURIOUS;
	if ((access & EPT_W) && ept_fast_writable(bits) && ept_allows(bits, access & ~EPT_W))
		return m->ept.force_slow ? EPT_FAULT_FIXED_SLOW : EPT_FAULT_FIXED_FAST;
	if ((access & EPT_W) && (bits & EPT_HOST_WRITABLE) && !(bits & EPT_MMU_WRITABLE))
		return EPT_FAULT_BUSY;
	return EPT_FAULT_VIOLATION;
}

static int fault(struct model *m, gfn_t g, u64 access)
{
	int want = judge(m, g, access), r = ept_handle_fault(&m->ept, g, access);

	CHECK(m, r == want, "fault at %#llx access %llu: %d, want %d", (unsigned long long)g,
	      (unsigned long long)access, r, want);
	if (r == EPT_FAULT_FIXED_FAST || r == EPT_FAULT_FIXED_SLOW) {
		m->n_fixed++;
		leaf_bits(m, lstart(m, g), m->pg[g].level, 0, EPT_W);
		touch(m, lstart(m, g), lp(m->pg[g].level));
	}
	return r;
}

/* One simulated CPU access; a write that faults goes through the handler and retries. */
static void access(struct model *m, gfn_t g, bool write)
{
	u64 acc = write ? EPT_W : EPT_R;
	bool allowed = mapped(m, g) && ept_allows(m->pg[g].bits, acc);
	bool ok = hw_access(&m->ept, g, write, NULL, NULL);
	int r;

	CHECK(m, ok == allowed, "access %#llx write %d: %d, model %d", (unsigned long long)g, write,
	      ok, allowed);
	if (!ok && write) {
		r = fault(m, g, EPT_W);
		if (r != EPT_FAULT_FIXED_FAST && r != EPT_FAULT_FIXED_SLOW)
			return;
		CHECK(m, hw_access(&m->ept, g, true, NULL, NULL), "write after the fix");
	} else if (!ok) {
		return;
	}
	/* PML: the CPU logs every write that sets a D bit (whatever log, if any, covers the
	 * page); the kernel drains the entries into the logs. */
	if (write && !(m->pg[g].bits & EPT_D))
		ept_mark_dirty(&m->ept, g);
	leaf_bits(m, lstart(m, g), m->pg[g].level, 0, write ? AD : EPT_A);
	if (write) {
		m->pg[g].w_seq = m->seq;
		touch(m, lstart(m, g), lp(m->pg[g].level));
	}
}

static void op_access(struct model *m)
{
	gfn_t g = pick_page(m);
	bool write = R(m, 2);

	OP(m, "%s %#llx", write ? "write" : "read", (unsigned long long)g);
	access(m, g, write);
}

static void op_fault(struct model *m)
{
	gfn_t g = pick_page(m);
	u64 acc = 1 + R(m, 7);

	OP(m, "fault %#llx access %llu", (unsigned long long)g, (unsigned long long)acc);
	fault(m, g, acc);
}

static void op_knob(struct model *m)
{
	OP(m, "force_slow = %d", !m->ept.force_slow);
	m->ept.force_slow = !m->ept.force_slow;
}

static void op_pml_drain(struct model *m)
{
	gfn_t g = pick_page(m);

	OP(m, "mark dirty %#llx", (unsigned long long)g);
	ept_mark_dirty(&m->ept, g);
	if (mapped(m, g))
		touch(m, lstart(m, g), lp(m->pg[g].level));
	else
		touch(m, g, 1);
}

/* ---- A/D scans --------------------------------------------------------------------------------
 */

static bool young_any(const struct mtrk *t, gfn_t s, u64 n)
{
	gfn_t lo = MAX(s, t->t.gfn), hi = MIN(s + n, t->t.gfn + t->t.npages);

	for (gfn_t g = lo; g < hi; g++)
		if (t->young[g - t->t.gfn])
			return true;
	return false;
}

static void young_set(struct mtrk *t, gfn_t s, u64 n, u8 v)
{
	gfn_t lo = MAX(s, t->t.gfn), hi = MIN(s + n, t->t.gfn + t->t.npages);

	for (gfn_t g = lo; g < hi; g++)
		t->young[g - t->t.gfn] = v;
}

static bool bit(const u64 *map, u64 i)
{
	return map[i / 64] & BIT(i % 64);
}

/* The expected state of each page of t's range (judged on its whole leaf) into want[]. */
static void expected_states(const struct model *m, const struct mtrk *t, u8 *want)
{
	gfn_t s = t->t.gfn, e = s + t->t.npages, st;
	int lv;

	memset(want, EPT_PAGE_HOLE, t->t.npages);
	for_each_mleaf(m, g, st, lv, s, e) {
		u8 state = (m->pg[st].bits & EPT_A) || young_any(t, st, lp(lv)) ? EPT_PAGE_ACCESSED
		                                                                : EPT_PAGE_IDLE;

		for (gfn_t p = MAX(st, s); p < MIN(st + lp(lv), e); p++)
			want[p - s] = state;
	}
}

static void check_extents(struct model *m, const struct mtrk *t, const struct ept_scan *s)
{
	gfn_t next = t->t.gfn;

	for (u32 i = 0; i < s->nr_ext; i++) {
		const struct ept_extent *x = &s->ext[i];

		CHECK(m, x->gfn == next && x->npages > 0, "extent %u", i);
		for (gfn_t g = x->gfn; g < x->gfn + x->npages; g++) {
			u64 b = g - t->t.gfn;
			int st = bit(s->hole, b)   ? EPT_PAGE_HOLE
			         : bit(s->idle, b) ? EPT_PAGE_IDLE
			                           : EPT_PAGE_ACCESSED;

			CHECK(m, st == x->state, "extent %u state at %#llx", i,
			      (unsigned long long)g);
			CHECK(m, !mapped(m, g) || m->pg[g].level == x->level, "extent %u level", i);
		}
		next += x->npages;
	}
	CHECK(m, s->ext_full || next == t->t.gfn + t->t.npages, "extents end early");
}

/* What a clearing scan does to the model: take A, hand it to the other tracker. */
static void scan_clear(struct model *m, struct mtrk *t)
{
	gfn_t s = t->t.gfn, e = s + t->t.npages, st;
	int lv;

	for_each_mleaf(m, g, st, lv, s, e) {
		if (m->pg[st].bits & EPT_A) {
			leaf_bits(m, st, lv, EPT_A, 0);
			for (int i = 0; i < 2; i++)
				if (&m->trk[i] != t)
					young_set(&m->trk[i], st, lp(lv), 1);
		}
	}
	young_set(t, s, e - s, 0);
}

static void op_scan(struct model *m)
{
	struct mtrk *t = &m->trk[R(m, 2)];
	bool clear = R(m, 2);
	struct ept_scan s = {
		.idle = m->out, .hole = m->out2, .ext = m->ext, .max_ext = ARRAY_SIZE(m->ext)
	};
	u64 pages[EPT_PAGE_STATES] = { 0 };
	u8 *states = malloc(t->t.npages);

	OP(m, "scan tracker %d%s", (int)(t - m->trk), clear ? " clearing" : "");
	CHECK(m, ept_scan(&m->ept, &t->t, &s, clear) == 0, "failed");
	expected_states(m, t, states);
	for (gfn_t g = t->t.gfn; g < t->t.gfn + t->t.npages; g++) {
		u64 b = g - t->t.gfn;
		int want = states[b];

		CHECK(m, bit(s.idle, b) == (want == EPT_PAGE_IDLE), "idle bit of %#llx, want %d",
		      (unsigned long long)g, want);
		CHECK(m, bit(s.hole, b) == (want == EPT_PAGE_HOLE), "hole bit of %#llx, want %d",
		      (unsigned long long)g, want);
		pages[want]++;
	}
	free(states);
	for (int i = 0; i < EPT_PAGE_STATES; i++)
		CHECK(m, s.pages[i] == pages[i], "pages[%d]", i);
	check_extents(m, t, &s);
	if (clear)
		scan_clear(m, t);
	for (int i = 0; i < 2; i++)
		for (u64 b = 0; b < m->trk[i].t.npages; b++)
			CHECK(m, bit(m->trk[i].t.young, b) == m->trk[i].young[b], "young %d/%llu",
			      i, (unsigned long long)b);
}

/* ---- dirty logs ---------------------------------------------------------------------------------
 */

static void op_log_enable(struct model *m)
{
	struct mlog *l = &m->log[R(m, 2)];
	gfn_t base = (l - m->log) * P1G, g = base + (R(m, 4) ? R(m, 8 * P2M) : R(m, P1G));
	u64 n = pick_len(m, g);
	enum ept_dirty_mode mode = R(m, 3);
	bool inject = mode != EPT_DIRTY_DBIT && maybe_inject(m, false);
	int r;

	n = MIN(n, base + P1G - g);
	OP(m, "enable log %d %#llx +%#llx mode %d%s", (int)(l - m->log), (unsigned long long)g,
	   (unsigned long long)n, mode, inject ? " (tables run out)" : "");
	if (!l->on)
		l->log = (struct ept_dirty_log){
			.gfn = g, .npages = n, .bitmap = l->log.bitmap, .mode = mode
		};
	r = ept_dirty_log_enable(&m->ept, &l->log);
	end_inject();
	if (l->on) {
		CHECK(m, r == -EINVAL, "enabled twice: %d", r);
		return;
	}
	CHECK(m, r == 0 || (inject && r == -ENOMEM), "returned %d", r);
	if (r) {
		adopt_levels(m, 0, MODEL_PAGES);
		return;
	}
	l->on = true;
	l->clr_hi = MAX(l->clr_hi, n);
	for (gfn_t p = g; p < g + n; p++)
		l->clr_seq[p - g] = m->seq;
	if (mode != EPT_DIRTY_DBIT)
		split_range(m, g, g + n, 1, false);
	range_bits(m, g, g + n, mode == EPT_DIRTY_WP ? EPT_W : EPT_D, 0, NULL);
}

/* After a log's disable: the EPT may have made huge leaves again over [s, e) (the blocks its
 * enable split, ept_restore_split). Each must be a collapse in place the model agrees with:
 * wholly inside, every page mapped, one aligned run, uniform attributes, W ANDed and A/D
 * ORed. The model adopts them; their number is what the log reports. */
/* The attributes the model keeps (it has no memory type). */
#define PROT_ATTR (EPT_ATTR_MASK & EPT_PROT_MASK)

static u64 adopt_restored(struct model *m, gfn_t s, gfn_t e)
{
	u64 made = 0;

	for (gfn_t g = skip_empty(m, s); g < e; g = skip_empty(m, g + 1)) {
		int lv = 0;
		u64 leaf = ept_lookup(&m->ept, g, &lv), w = EPT_W, ad = 0;
		gfn_t st = ALIGN_DOWN(g, lp(MAX(lv, 1)));

		if (!ept_leaf(leaf, lv) || lv <= m->pg[g].level) {
			continue;
		}
		CHECK(m, st >= s && st + lp(lv) <= e && all_mapped(m, st, lp(lv)),
		      "restored L%d at %#llx outside the log or over a hole", lv,
		      (unsigned long long)st);
		for (gfn_t p = st; p < st + lp(lv); p++) {
			const struct mpage *pg = &m->pg[p];

			CHECK(m,
			      pg->hfn == ept_hfn(leaf) + (p - st) &&
			              (pg->bits & PROT_ATTR) == (leaf & PROT_ATTR),
			      "restored L%d at %#llx is no run: page %#llx", lv,
			      (unsigned long long)st, (unsigned long long)p);
			w &= pg->bits;
			ad |= pg->bits & AD;
		}
		CHECK(m, (leaf & (EPT_W | AD)) == (w | ad), "restored L%d at %#llx bits %#llx", lv,
		      (unsigned long long)st, (unsigned long long)leaf);
		set_leaf(m, st, lv, ept_hfn(leaf), (leaf & PROT_ATTR) | w | ad);
		made++;
		g = st + lp(lv) - 1;
	}
	return made;
}

static void op_log_disable(struct model *m)
{
	struct mlog *l = &m->log[R(m, 2)];
	u64 made;

	if (!l->on)
		return;
	OP(m, "disable log %d", (int)(l - m->log));
	ept_dirty_log_disable(&m->ept, &l->log);
	l->on = false;
	made = adopt_restored(m, l->log.gfn, l->log.gfn + l->log.npages);
	CHECK(m, made == l->log.restored, "%llu huge leaves restored, the log says %llu",
	      (unsigned long long)made, (unsigned long long)l->log.restored);
}

/* Judge bitmap `out` (as returned by get or get-and-clear) against the log's contract. */
static void check_dirty(struct model *m, struct mlog *l, const u64 *out, s64 n)
{
	s64 count = 0;

	for (u64 i = 0; i < l->log.npages; i++) {
		const struct mpage *p = &m->pg[l->log.gfn + i];

		CHECK(m, !(p->w_seq > l->clr_seq[i]) || bit(out, i),
		      "lost: %#llx written at step %u, bit cleared at %u",
		      (unsigned long long)(l->log.gfn + i), p->w_seq, l->clr_seq[i]);
		CHECK(m, !bit(out, i) || p->t_seq > l->clr_seq[i],
		      "invented: %#llx last touched at step %u, bit cleared at %u",
		      (unsigned long long)(l->log.gfn + i), p->t_seq, l->clr_seq[i]);
		count += bit(out, i);
	}
	for (u64 i = l->log.npages; i < ALIGN_UP(l->log.npages, 64); i++)
		CHECK(m, !bit(out, i), "bit %llu past the end", (unsigned long long)i);
	CHECK(m, count == n, "returned %lld, %lld bits", (long long)n, (long long)count);
	m->n_dirty += n;
}

/* After bits `sel` (bit 0 = log start) were cleared: re-arm their leaves, note the step. */
static void cleared(struct model *m, struct mlog *l, const u64 *sel)
{
	u8 *pick = calloc(l->log.npages, 1);
	u64 rearm = l->log.mode == EPT_DIRTY_WP ? EPT_W : l->log.mode == EPT_DIRTY_PML ? EPT_D : 0;

	for (u64 i = 0; i < l->log.npages; i++) {
		pick[i] = bit(sel, i);
		if (pick[i])
			l->clr_seq[i] = m->seq;
	}
	if (rearm)
		range_bits(m, l->log.gfn, l->log.gfn + l->log.npages, rearm, 0, pick);
	free(pick);
}

static void harvest_d(struct model *m, struct mlog *l)
{
	if (l->log.mode == EPT_DIRTY_DBIT)
		range_bits(m, l->log.gfn, l->log.gfn + l->log.npages, EPT_D, 0, NULL);
}

static void op_log_get_and_clear(struct model *m)
{
	struct mlog *l = &m->log[R(m, 2)];
	s64 n;

	if (!l->on)
		return;
	OP(m, "get-and-clear log %d", (int)(l - m->log));
	n = ept_dirty_log_get_and_clear(&m->ept, &l->log, m->out);
	check_dirty(m, l, m->out, n);
	harvest_d(m, l);
	cleared(m, l, m->out);
}

static void op_log_get_clear(struct model *m)
{
	struct mlog *l = &m->log[R(m, 2)];
	u64 words = (l->log.npages + 63) / 64, first, npages, *mask = m->out2;
	s64 n, want = 0;

	if (!l->on)
		return;
	first = 64 * R(m, words);
	npages = 1 + R(m, l->log.npages - first);
	OP(m, "get log %d, clear %#llx +%#llx", (int)(l - m->log), (unsigned long long)first,
	   (unsigned long long)npages);
	n = ept_dirty_log_get(&m->ept, &l->log, m->out);
	check_dirty(m, l, m->out, n);
	harvest_d(m, l);
	memset(mask, 0, words * 8);
	for (u64 i = first; i < first + npages; i++) {
		if ((R(m, 4) || i % 7 == 0) && bit(m->out, i)) {
			mask[(i - first) / 64] |= BIT((i - first) % 64);
			want++;
		}
	}
	n = ept_dirty_log_clear(&m->ept, &l->log, l->log.gfn + first, npages, mask);
	CHECK(m, n == want, "clear returned %lld, want %lld", (long long)n, (long long)want);
	memset(m->out, 0, words * 8);
	for (u64 i = first; i < first + npages; i++)
		if (bit(mask, i - first))
			m->out[i / 64] |= BIT(i % 64);
	cleared(m, l, m->out);
}

/* ---- per-page arrays ---------------------------------------------------------------------------
 * The model's page arrays are tens of MiB, of which an input touches a few pages: anonymous
 * mappings cost only the pages touched (calloc'ed under ASan, every input faulted, poisoned
 * and quarantined all of it: the fuzzer ran at a few inputs per second). A PROT_NONE page
 * right after each array stands in for ASan's redzone (the bitmaps the EPT fills end on a
 * page boundary, so a write past one faults at once).
 */
#define BITMAP_BYTES (MODEL_PAGES / 8) /* a bitmap over the guest: a whole number of pages */

static u64 big_len(u64 bytes)
{
	return ALIGN_UP(bytes, PAGE_SIZE) + PAGE_SIZE;
}

static void *big_alloc(u64 bytes)
{
	u8 *p = mmap(NULL, big_len(bytes), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
	             0);

	if (p == MAP_FAILED || mprotect(p + ALIGN_UP(bytes, PAGE_SIZE), PAGE_SIZE, PROT_NONE))
		model_fail("mmap of %llu bytes failed", (unsigned long long)bytes);
	return p;
}

static void big_free(void *p, u64 bytes)
{
	munmap(p, big_len(bytes));
}

/*
 * The fuzzer runs thousands of models one after the other: it keeps one set of arrays and
 * zeroes only what an input wrote, so their pages stay resident (no fault per page touched).
 */
static struct model_arrays {
	struct mpage *pg;
	u32 *clr_seq[2];
	u8 *young[2];
	u64 *bitmap[6]; /* out, out2, the logs' bitmaps, the trackers' young bitmaps */
} spare;

static void arrays_get(struct model_arrays *a, bool fuzz)
{
	if (fuzz && spare.pg) {
		*a = spare;
		spare.pg = NULL;
		return;
	}
	a->pg = big_alloc(MODEL_PAGES * sizeof(*a->pg));
	for (int i = 0; i < 2; i++) {
		a->clr_seq[i] = big_alloc(MODEL_PAGES * sizeof(u32));
		a->young[i] = big_alloc(MODEL_PAGES);
	}
	for (int i = 0; i < 6; i++)
		a->bitmap[i] = big_alloc(BITMAP_BYTES);
}

/* Zero what m wrote and keep the arrays for the next fuzzer input, or unmap them. */
static void arrays_put(struct model *m)
{
	struct model_arrays a = { m->pg,
		                  { m->log[0].clr_seq, m->log[1].clr_seq },
		                  { m->trk[0].young, m->trk[1].young },
		                  { m->out, m->out2, m->log[0].log.bitmap, m->log[1].log.bitmap,
		                    m->trk[0].t.young, m->trk[1].t.young } };

	if (!m->fuzz || spare.pg) {
		big_free(a.pg, MODEL_PAGES * sizeof(*a.pg));
		for (int i = 0; i < 2; i++) {
			big_free(a.clr_seq[i], MODEL_PAGES * sizeof(u32));
			big_free(a.young[i], MODEL_PAGES);
		}
		for (int i = 0; i < 6; i++)
			big_free(a.bitmap[i], BITMAP_BYTES);
		return;
	}
	for (u64 b = 0; b < MODEL_PAGES / P2M; b++)
		if (m->blk_dirty[b])
			memset(&a.pg[b * P2M], 0, P2M * sizeof(*a.pg));
	for (int i = 0; i < 2; i++) {
		memset(a.clr_seq[i], 0, m->log[i].clr_hi * sizeof(u32));
		memset(a.young[i], 0, m->trk[i].t.npages);
	}
	for (int i = 0; i < 6; i++)
		memset(a.bitmap[i], 0, BITMAP_BYTES);
	spare = a;
}

/* ---- the executor
 * ---------------------------------------------------------------------------------- */

struct model *model_new(model_rand_fn rnd, void *ctx, bool fuzz)
{
	struct model *m = calloc(1, sizeof(*m));
	struct model_arrays a;

	host_env_reset();
	host_env_fake_data(true);
	m->rnd = rnd;
	m->ctx = ctx;
	m->fuzz = fuzz;
	m->trace = getenv("EPT_MODEL_TRACE") != NULL;
	m->watch = getenv("EPT_MODEL_WATCH") ? strtoull(getenv("EPT_MODEL_WATCH"), NULL, 0) : ~0ULL;
	arrays_get(&a, fuzz);
	m->pg = a.pg;
	m->blk_mapped = calloc(MODEL_PAGES / P2M, sizeof(u16));
	m->blk_dirty = calloc(MODEL_PAGES / P2M, 1);
	m->out = a.bitmap[0];
	m->out2 = a.bitmap[1];
	m->released = host_env_data_released();
	for (int i = 0; i < 2; i++) {
		m->log[i].log.bitmap = a.bitmap[2 + i];
		m->log[i].clr_seq = a.clr_seq[i];
	}
	if (ept_init(&m->ept))
		model_fail("ept_init failed");
	for (int i = 0; i < 2; i++) {
		struct mtrk *t = &m->trk[i];
		/* Tracker 0 covers the guest; in the fuzzer (where a scan of all of it, page by
		 * page in the model, would cost milliseconds) it starts at either 1G boundary. */
		gfn_t g = i ? R(m, MODEL_PAGES) : fuzz ? R(m, 2) * P1G : 0;
		u64 n = i || fuzz ? pick_len(m, g) : MODEL_PAGES;

		t->t = (struct ept_tracker){ .gfn = g, .npages = n, .young = a.bitmap[4 + i] };
		t->young = a.young[i];
		if (ept_tracker_add(&m->ept, &t->t))
			model_fail("ept_tracker_add failed");
	}
	return m;
}

void model_step(struct model *m)
{
	static void (*const ops[])(struct model *) = {
		op_map,
		op_map,
		op_map,
		op_map,
		op_unmap,
		op_write_protect,
		op_write_protect,
		op_split,
		op_collapse,
		op_collapse,
		op_collapse,
		op_migrate,
		op_migrate,
		op_access,
		op_access,
		op_access,
		op_access,
		op_access,
		op_access,
		op_fault,
		op_knob,
		op_pml_drain,
		op_scan,
		op_log_enable,
		op_log_enable,
		op_log_disable,
		op_log_get_and_clear,
		op_log_get_and_clear,
		op_log_get_clear,
	};

	m->seq++;
	m->op[0] = 0;
	ops[R(m, ARRAY_SIZE(ops))](m);
	if (m->trace && m->op[0])
		printf("  %u: %s\n", m->seq, m->op);
	/* The fuzzer compares at every 16th step (and at the end), for speed. */
	if (!m->fuzz || m->seq % 16 == 0)
		check_all(m);
	if (m->watch < MODEL_PAGES)
		printf("  %u: page %#llx: L%d bits %#llx\n", m->seq, (unsigned long long)m->watch,
		       m->pg[m->watch].level, (unsigned long long)m->pg[m->watch].bits);
}

void model_free(struct model *m)
{
	check_all(m);
	if (!m->fuzz)
		printf("ept_model: %llu changes done, %llu refused, %llu faults fixed, %llu "
		       "collapses "
		       "by copy, %llu dirty pages reported, %llu leaves compared, %llu 4K pages "
		       "and "
		       "%llu 2M leaves migrated\n",
		       (unsigned long long)m->n_ok, (unsigned long long)m->n_err,
		       (unsigned long long)m->n_fixed, (unsigned long long)m->n_copies,
		       (unsigned long long)m->n_dirty, (unsigned long long)m->n_leaves,
		       (unsigned long long)m->n_moved[1], (unsigned long long)m->n_moved[2]);
	for (int i = 0; i < 2; i++) {
		if (m->log[i].on)
			ept_dirty_log_disable(&m->ept, &m->log[i].log);
		ept_tracker_del(&m->ept, &m->trk[i].t);
	}
	ept_destroy(&m->ept);
	if (host_env_tables_live() != 0)
		model_fail("%ld table pages leaked", host_env_tables_live());
	arrays_put(m);
	free(m->blk_mapped);
	free(m->blk_dirty);
	free(m);
	host_env_reset();
}
