/*
 * The physical frame allocator (see mm/frame.h for the states and the contract). Searches
 * go a u64 word at a time: an empty word (no free frame) is skipped in one step, and a run
 * of 64 frames or more only looks at whole words, so finding a 1 GiB run in a 4 GiB bitmap
 * reads at most 16 Ki words. Runs shorter than a word are found with a shift-and trick
 * inside one word (runs are aligned, so they never straddle two words).
 *
 * Locking: fa->lock guards both bitmaps, hint and free. fa->free is also read without the
 * lock by frame_free_count(), so it is written with __atomic stores.
 */
#include "bitops.h"
#include "lib.h"
#include "mm/frame.h"

#define WORD_FRAMES 64
#define WORD_ORDER  6 /* log2(WORD_FRAMES) */

enum check { RUN_OK, RUN_RANGE, RUN_ALIGN, RUN_RESERVED, RUN_DOUBLE };

static const char *const check_what[] = {
	[RUN_RANGE] = "free of an out-of-range frame",
	[RUN_ALIGN] = "free of a misaligned run",
	[RUN_RESERVED] = "free of a reserved frame",
	[RUN_DOUBLE] = "double free",
};

__attribute__((weak)) void frame_bug(const char *what, hfn_t hfn)
{
	(void)what;
	(void)hfn;
}

/* Lowest set bit of a non-zero word (BSF/TZCNT inline; no libgcc). */
static unsigned lowest_bit(u64 v)
{
	return __builtin_ctzll(v);
}

/* Bits of word w that lie within frames [first, end). */
static u64 word_mask(u64 w, hfn_t first, hfn_t end)
{
	return word_range_mask(w, first, end);
}

/* Change the free count; under the lock, but frame_free_count() reads without it. */
static void free_add(struct frame_alloc *fa, s64 delta)
{
	__atomic_store_n(&fa->free, fa->free + delta, __ATOMIC_RELAXED);
}

size_t frame_bitmap_bytes(hfn_t nframes)
{
	return 2 * ALIGN_UP(nframes, WORD_FRAMES) / 8;
}

void frame_init(struct frame_alloc *fa, u64 *bitmap, hfn_t nframes)
{
	u64 nwords = ALIGN_UP(nframes, WORD_FRAMES) / WORD_FRAMES;

	memset(bitmap, 0, frame_bitmap_bytes(nframes));
	*fa = (struct frame_alloc){
		.lock = SPINLOCK_INIT,
		.bitmap = bitmap,
		.managed = bitmap + nwords,
		.nframes = nframes,
		.nwords = nwords,
	};
}

/* ---- adding and reserving ------------------------------------------------------------------ */

/* Frames [first, end): newly managed ones become free. */
static void add_frames(struct frame_alloc *fa, hfn_t first, hfn_t end)
{
	u64 added = 0;

	for (u64 w = first / WORD_FRAMES; w <= (end - 1) / WORD_FRAMES; w++) {
		u64 m = word_mask(w, first, end) & ~fa->managed[w];

		fa->managed[w] |= m;
		fa->bitmap[w] |= m;
		added += popcount64(m);
	}
	free_add(fa, added);
	fa->hint = MIN(fa->hint, first / WORD_FRAMES);
}

void frame_add_free(struct frame_alloc *fa, hpa_t start, hpa_t end)
{
	hpa_t limit = hfn_to_hpa(fa->nframes);
	hfn_t first, last;

	if (start >= limit || end <= start)
		return;
	first = hpa_to_hfn(ALIGN_UP(start, PAGE_SIZE)); /* start < limit: cannot wrap */
	last = hpa_to_hfn(MIN(end, limit));             /* rounds down */
	if (first >= last)
		return;
	spin_lock(&fa->lock);
	add_frames(fa, first, last);
	spin_unlock(&fa->lock);
}

void frame_reserve(struct frame_alloc *fa, hpa_t start, hpa_t end)
{
	hpa_t limit = hfn_to_hpa(fa->nframes);
	hfn_t first, last;
	u64 taken = 0;

	if (start >= limit || end <= start)
		return;
	first = hpa_to_hfn(start);
	last = hpa_to_hfn(ALIGN_UP(MIN(end, limit), PAGE_SIZE)); /* limit is aligned */
	spin_lock(&fa->lock);
	for (u64 w = first / WORD_FRAMES; w <= (last - 1) / WORD_FRAMES; w++) {
		u64 m = word_mask(w, first, last);

		taken += popcount64(fa->bitmap[w] & m);
		fa->bitmap[w] &= ~m;
		fa->managed[w] &= ~m;
	}
	free_add(fa, -(s64)taken);
	spin_unlock(&fa->lock);
}

/* ---- allocating ---------------------------------------------------------------------------- */

/* The first word at or after w that is not isolated. Lock held. */
static u64 skip_isolated(const struct frame_alloc *fa, u64 w)
{
	return w >= fa->iso_lo && w < fa->iso_hi ? fa->iso_hi : w;
}

/* Lowest free frame at or above the hint, taken; INVALID_HFN if none. Lock held. */
static hfn_t take_one(struct frame_alloc *fa)
{
	for (u64 w = skip_isolated(fa, fa->hint); w < fa->nwords; w = skip_isolated(fa, w + 1)) {
		if (fa->bitmap[w]) {
			unsigned b = lowest_bit(fa->bitmap[w]);

			fa->bitmap[w] &= ~BIT(b);
			fa->hint = w;
			return w * WORD_FRAMES + b;
		}
	}
	fa->hint = fa->nwords;
	return INVALID_HFN;
}

hfn_t frame_alloc(struct frame_alloc *fa)
{
	hfn_t hfn;

	spin_lock(&fa->lock);
	hfn = take_one(fa);
	if (hfn != INVALID_HFN)
		free_add(fa, -1);
	spin_unlock(&fa->lock);
	return hfn;
}

/*
 * Aligned run of n = 2^order < 64 frames inside one word. After `m &= m >> s` for
 * s = 1, 2, .., n/2, bit i of m says bits i..i+n-1 were all free; `aligned` keeps only the
 * bit positions that are multiples of n.
 */
static hfn_t find_small_run(const struct frame_alloc *fa, unsigned order)
{
	unsigned n = 1U << order;
	u64 aligned = ~0ULL / (BIT(n) - 1); /* 0x5555.. for n = 2, 0x1111.. for n = 4, ... */

	for (u64 w = skip_isolated(fa, fa->hint); w < fa->nwords; w = skip_isolated(fa, w + 1)) {
		u64 m = fa->bitmap[w];

		for (unsigned s = 1; s < n && m; s <<= 1)
			m &= m >> s;
		if (m & aligned)
			return w * WORD_FRAMES + lowest_bit(m & aligned);
	}
	return INVALID_HFN;
}

/*
 * Aligned run of 2^order >= 64 frames: groups of whole words that are all free. A word
 * that is not all free rules out its whole group, so the scan jumps to the next group.
 * Bits beyond nframes are never set, so an all-free group lies within range.
 */
static hfn_t find_big_run(const struct frame_alloc *fa, unsigned order)
{
	u64 group = 1ULL << (order - WORD_ORDER);
	u64 g = ALIGN_UP(fa->hint, group);

	while (g < fa->nwords && fa->nwords - g >= group) {
		u64 w = g;

		while (w < g + group && fa->bitmap[w] == ~0ULL && skip_isolated(fa, w) == w)
			w++;
		if (w == g + group)
			return g * WORD_FRAMES;
		g = ALIGN_DOWN(w, group) + group;
	}
	return INVALID_HFN;
}

/* Mark frames [first, end), all known free, allocated. Lock held. */
static void take_range(struct frame_alloc *fa, hfn_t first, hfn_t end)
{
	for (u64 w = first / WORD_FRAMES; w <= (end - 1) / WORD_FRAMES; w++)
		fa->bitmap[w] &= ~word_mask(w, first, end);
	free_add(fa, -(s64)(end - first));
}

hfn_t frame_alloc_run(struct frame_alloc *fa, unsigned order)
{
	hfn_t hfn;

	if (order == 0)
		return frame_alloc(fa);
	if (order > FRAME_MAX_ORDER)
		return INVALID_HFN;
	spin_lock(&fa->lock);
	hfn = order < WORD_ORDER ? find_small_run(fa, order) : find_big_run(fa, order);
	if (hfn != INVALID_HFN)
		take_range(fa, hfn, hfn + (1ULL << order));
	spin_unlock(&fa->lock);
	return hfn;
}

/* ---- isolation ---------------------------------------------------------------------------- */

bool frame_isolate(struct frame_alloc *fa, hfn_t first, hfn_t end)
{
	bool ok;

	if (!IS_ALIGNED(first, WORD_FRAMES) || !IS_ALIGNED(end, WORD_FRAMES) || first >= end ||
	    end > ALIGN_UP(fa->nframes, WORD_FRAMES))
		return false;
	spin_lock(&fa->lock);
	ok = fa->iso_lo == fa->iso_hi;
	if (ok) {
		fa->iso_lo = first / WORD_FRAMES;
		fa->iso_hi = end / WORD_FRAMES;
	}
	spin_unlock(&fa->lock);
	return ok;
}

void frame_unisolate(struct frame_alloc *fa)
{
	spin_lock(&fa->lock);
	/* Searches skipped the range and may have moved the hint past its free frames. */
	fa->hint = MIN(fa->hint, fa->iso_lo);
	fa->iso_lo = fa->iso_hi = 0;
	spin_unlock(&fa->lock);
}

u64 frame_free_in(struct frame_alloc *fa, hfn_t first, hfn_t end)
{
	u64 n = 0;

	end = MIN(end, fa->nframes);
	if (first >= end)
		return 0;
	spin_lock(&fa->lock);
	for (u64 w = first / WORD_FRAMES; w <= (end - 1) / WORD_FRAMES; w++)
		n += popcount64(fa->bitmap[w] & word_mask(w, first, end));
	spin_unlock(&fa->lock);
	return n;
}

/* ---- freeing ------------------------------------------------------------------------------- */

/* May frames [hfn, hfn + n) be freed? On failure *bad is the first offending frame. */
static enum check check_run(const struct frame_alloc *fa, hfn_t hfn, u64 n, hfn_t *bad)
{
	*bad = hfn;
	if (hfn >= fa->nframes || n > fa->nframes - hfn)
		return RUN_RANGE;
	if (!IS_ALIGNED(hfn, n))
		return RUN_ALIGN;
	for (u64 w = hfn / WORD_FRAMES; w <= (hfn + n - 1) / WORD_FRAMES; w++) {
		u64 m = word_mask(w, hfn, hfn + n);

		if (m & ~fa->managed[w]) {
			*bad = w * WORD_FRAMES + lowest_bit(m & ~fa->managed[w]);
			return RUN_RESERVED;
		}
		if (m & fa->bitmap[w]) {
			*bad = w * WORD_FRAMES + lowest_bit(m & fa->bitmap[w]);
			return RUN_DOUBLE;
		}
	}
	return RUN_OK;
}

/* Mark frames [first, end), all known allocated, free. Lock held. */
static void give_range(struct frame_alloc *fa, hfn_t first, hfn_t end)
{
	for (u64 w = first / WORD_FRAMES; w <= (end - 1) / WORD_FRAMES; w++)
		fa->bitmap[w] |= word_mask(w, first, end);
	free_add(fa, end - first);
	fa->hint = MIN(fa->hint, first / WORD_FRAMES);
}

void frame_free_run(struct frame_alloc *fa, hfn_t hfn, unsigned order)
{
	enum check c = RUN_RANGE;
	hfn_t bad = hfn;

	spin_lock(&fa->lock);
	if (order <= FRAME_MAX_ORDER)
		c = check_run(fa, hfn, 1ULL << order, &bad);
	if (c == RUN_OK)
		give_range(fa, hfn, hfn + (1ULL << order));
	else
		fa->bugs++;
	spin_unlock(&fa->lock);
	/* Outside the lock: the kernel's hook panics, and its report may itself allocate. */
	if (c != RUN_OK)
		frame_bug(check_what[c], bad);
}

void frame_free(struct frame_alloc *fa, hfn_t hfn)
{
	frame_free_run(fa, hfn, 0);
}

u64 frame_free_count(const struct frame_alloc *fa)
{
	return __atomic_load_n(&fa->free, __ATOMIC_RELAXED);
}

bool frame_is_free(struct frame_alloc *fa, hfn_t hfn)
{
	bool is_free;

	if (hfn >= fa->nframes)
		return false;
	spin_lock(&fa->lock); /* the bitmap words change under it */
	is_free = (fa->bitmap[hfn / 64] >> (hfn % 64)) & 1;
	spin_unlock(&fa->lock);
	return is_free;
}
