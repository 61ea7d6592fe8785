/*
 * The physical frame allocator: a bitmap with one bit per 4 KiB host frame, handing out
 * single frames (lowest first, so high memory stays whole for big runs) and naturally
 * aligned runs of 2^order frames (order 9 = 2 MiB, order 18 = 1 GiB). One spinlock per
 * allocator makes every operation safe from any CPU. Pure C: host tests run it with pthreads.
 *
 * Frames are in one of three states, kept in two bitmaps:
 *   reserved   managed=0 free=0   never handed out (holes, firmware, kernel, modules)
 *   allocated  managed=1 free=0
 *   free       managed=1 free=1
 * so a free of a reserved frame is told apart from a double free.
 */
#ifndef EPTVISOR_MM_FRAME_H
#define EPTVISOR_MM_FRAME_H

#include "spinlock.h"
#include "types.h"

#define FRAME_MAX_ORDER 30 /* largest run: 2^30 frames = 4 TiB */

struct frame_alloc {
	spinlock_t lock;
	u64 *bitmap;   /* 1 bit per 4K frame, 1 = free */
	u64 *managed;  /* 1 bit per 4K frame, 1 = the allocator's (added and not reserved) */
	hfn_t nframes; /* frames [0, nframes) are covered */
	u64 nwords;    /* u64 words in each bitmap */
	u64 hint;      /* no word below this index has a free bit */
	u64 free;      /* free frames; written under the lock, read without it */
	u64 bugs;      /* broken invariants reported through frame_bug() */
	u64 iso_lo;    /* words [iso_lo, iso_hi) are isolated: nothing there is handed out */
	u64 iso_hi;
};

/*
 * Bytes of the buffer frame_init() needs for `nframes` frames (both bitmaps, whole u64
 * words). The buffer must be 8-byte aligned.
 */
size_t frame_bitmap_bytes(hfn_t nframes);

/* Set up `fa` over frames [0, nframes) (nframes < 2^52) using `bitmap`
 * (frame_bitmap_bytes(nframes) bytes, contents ignored). Every frame starts reserved. */
void frame_init(struct frame_alloc *fa, u64 *bitmap, hfn_t nframes);

/*
 * Make the whole frames inside [start, end) free (start rounded up, end down to 4 KiB; the
 * part beyond nframes ignored). Frames the allocator already manages (free or allocated) are
 * left as they are, so adding an overlapping range twice frees nothing twice.
 */
void frame_add_free(struct frame_alloc *fa, hpa_t start, hpa_t end);

/* Reserve every frame touching [start, end) (start rounded down, end up): such frames are
 * never handed out, and freeing one later is reported as a bug. */
void frame_reserve(struct frame_alloc *fa, hpa_t start, hpa_t end);

/* One free frame, the lowest-numbered one; INVALID_HFN when none is free. */
hfn_t frame_alloc(struct frame_alloc *fa);

/*
 * 2^order contiguous free frames starting at a multiple of 2^order (the lowest such run);
 * INVALID_HFN when there is none or order > FRAME_MAX_ORDER. Order 0 is frame_alloc().
 */
hfn_t frame_alloc_run(struct frame_alloc *fa, unsigned order);

/* Give back one allocated frame. Out of range, reserved or already free: frame_bug(). */
void frame_free(struct frame_alloc *fa, hfn_t hfn);

/*
 * Give back a run as frame_alloc_run(fa, order) returned it (any allocated, aligned run is
 * accepted). If any frame of it is out of range, reserved or free, or hfn is misaligned,
 * nothing is freed and frame_bug() is called once.
 */
void frame_free_run(struct frame_alloc *fa, hfn_t hfn, unsigned order);

/*
 * Isolation, for compaction (vm_compact): while frames [first, end) are isolated (both
 * multiples of 64, first < end), no allocation hands out a frame inside them; frees into
 * them work as usual, so the range drains as its owners move away. One range per allocator:
 * false (nothing changed) if one is isolated already or the bounds are bad.
 */
bool frame_isolate(struct frame_alloc *fa, hfn_t first, hfn_t end);
void frame_unisolate(struct frame_alloc *fa);

/* Free frames in [first, end) right now (a snapshot, like frame_free_count). */
u64 frame_free_in(struct frame_alloc *fa, hfn_t first, hfn_t end);

/* Free frames right now (a snapshot: other CPUs may change it at once). */
u64 frame_free_count(const struct frame_alloc *fa);

/* Is hfn one of the allocator's frames and free right now (a snapshot, for checks)? */
bool frame_is_free(struct frame_alloc *fa, hfn_t hfn);

/*
 * Called (without the allocator's lock held) when a free breaks an invariant; `what` says
 * which, `hfn` is the first offending frame. The state is left unchanged and fa->bugs counts
 * it. frame.c has a weak default that does nothing more: the kernel defines its own that
 * panics, host tests one that records the call.
 */
void frame_bug(const char *what, hfn_t hfn);

#endif
