/*
 * Bit ranges in u64 bitmaps (bit i of word i / 64 = page i), as the dirty logs and the A/D
 * scan use them: a 2M or 1G leaf covers a range of bits, touched a word at a time.
 */
#ifndef EPTVISOR_EPT_BITMAP_H
#define EPTVISOR_EPT_BITMAP_H

#include "bitops.h"
#include "types.h"

enum bitmap_op {
	BM_SET,        /* set the bits */
	BM_CLEAR,      /* clear the bits */
	BM_SET_ATOMIC, /* set the bits with atomic RMWs (others set bits concurrently) */
	BM_ANY,        /* is any bit set? (the only op whose result means something) */
};

static inline u64 bitmap_words(u64 nbits)
{
	return (nbits + 63) / 64;
}

/* Mask of the bits of word i that fall in [first, end). */
static inline u64 bitmap_word_mask(u64 i, u64 first, u64 end)
{
	return word_range_mask(i, first, end);
}

/* Apply op to bits [first, first + n). Returns true if BM_ANY found a set bit. */
static inline bool bitmap_range(u64 *map, u64 first, u64 n, enum bitmap_op op)
{
	u64 end = first + n;

	for (u64 i = first / 64; i * 64 < end; i++) {
		u64 m = bitmap_word_mask(i, first, end);

		if (op == BM_SET)
			map[i] |= m;
		else if (op == BM_CLEAR)
			map[i] &= ~m;
		else if (op == BM_SET_ATOMIC)
			/* RELEASE: whatever made the page dirty (the W set by the fault path's
			 * cmpxchg) happens before a harvester that takes this bit (ACQUIRE) may
			 * re-protect the page. */
			__atomic_fetch_or(&map[i], m, __ATOMIC_RELEASE);
		else if (op == BM_ANY && (map[i] & m))
			return true;
	}
	return false;
}

/* Number of set bits in w. */
static inline unsigned bitmap_weight64(u64 w)
{
	return popcount64(w);
}

#endif
