/*
 * Bit operations on u64 words shared by the frame allocator (mm/frame.c) and the EPT's
 * bitmaps (ept/bitmap.h). Pure, header only; by hand where a builtin would be a libgcc call.
 */
#ifndef EPTVISOR_BITOPS_H
#define EPTVISOR_BITOPS_H

#include "types.h"

/* Number of set bits in w (__builtin_popcountll is a libgcc call without -mpopcnt). */
static inline unsigned popcount64(u64 w)
{
	w = w - ((w >> 1) & 0x5555555555555555ULL);
	w = (w & 0x3333333333333333ULL) + ((w >> 2) & 0x3333333333333333ULL);
	w = (w + (w >> 4)) & 0x0f0f0f0f0f0f0f0fULL;
	return (w * 0x0101010101010101ULL) >> 56;
}

/* Mask of the bits of word i (bits i * 64 .. i * 64 + 63) that fall in [first, end).
 * @pre the word overlaps the range: first < i * 64 + 64 and end > i * 64. */
static inline u64 word_range_mask(u64 i, u64 first, u64 end)
{
	u64 lo = MAX(first, i * 64) - i * 64;
	u64 hi = MIN(end, i * 64 + 64) - i * 64;

	return (hi == 64 ? ~0ULL : BIT(hi) - 1) & ~(BIT(lo) - 1);
}

#endif
