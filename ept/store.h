/*
 * A slow backing store for a memslot (issue 15, items 1 and 2): the slot's pages live in the
 * store (host memory standing in for a disk) until first touched. A touch of an absent page
 * queues a fetch; an I/O task completes fetches after a latency, a bounded number at a time
 * (the queue depth); a resident page can be evicted back to the store. Pure C over the EPT
 * API, so the protocol runs under real threads in the host tests (tests/unit/test_store.c).
 *
 * Page states, each changed only under st->lock:
 *   ABSENT    contents in the store, no frame; a touch queues it    -> FETCHING
 *   FETCHING  queued or being copied into a fresh frame             -> RESIDENT
 *   RESIDENT  a frame holds it (backing[i]); populate may map it    -> EVICTING
 *   EVICTING  unmapped, being copied out; populate maps nothing     -> ABSENT
 *
 * The two rules:
 *   - a page being fetched is never mapped before its contents are complete: the frame is
 *     filled first, and only then published (backing[i], RESIDENT) under the lock; populate
 *     maps only a RESIDENT page, checking and mapping in one hold of the lock;
 *   - a page written while being evicted is never lost: EVICTING is set under the lock (no
 *     populate maps it from then on), then the page is unmapped (ept_unmap flushes: no vCPU
 *     keeps a translation that could write it), then a grace period (ept_wait_walkers: the
 *     hypervisor's own copies that looked it up before are over), and only then copied out
 *     and its frame freed.
 *
 * Reclaim (issue 15, item 4; the policy's kernel side is vmx/reclaim.c): with the caller's
 * age[] and evicted[] arrays (ept_store_set_reclaim), each A-bit scan round ages the resident
 * pages (ept_store_age: accessed -> 0, else +1, saturating) and ept_store_victims names the
 * oldest resident pages, a clock hand breaking ties. Pages not resident (ABSENT, FETCHING,
 * EVICTING) are holes to the policy, never victims; pinned pages are never victims. A store slot
 * maps 4K leaves only, so there is never a huge leaf to split or evict whole. st->resident counts
 * the frames the store holds (a completed fetch adds one, a finished eviction takes it away).
 *
 * Pins (ept_store_pin): a page the hypervisor itself must always be able to write (a
 * guest's async-PF area, pc/apf.c) is pinned. A pinned page is never evicted: ept_store_evict
 * refuses it under the lock, so an eviction either began before the pin (and the pinner's
 * fetch brings the page back) or never happens; it is never a victim either.
 */
#ifndef EPTVISOR_EPT_STORE_H
#define EPTVISOR_EPT_STORE_H

#include "ept/ept.h"
#include "spinlock.h"
#include "types.h"

enum ept_store_state { STORE_ABSENT, STORE_FETCHING, STORE_RESIDENT, STORE_EVICTING };

#define EPT_STORE_MAX_DEPTH 16

struct ept_store_stats {
	u64 requests;         /* fetches queued (a touch of an ABSENT page) */
	u64 fetches;          /* fetches completed */
	u64 evictions;        /* pages written out and freed */
	u64 busy;             /* touches of a page already in flight (FETCHING or EVICTING) */
	u64 lat_sum, lat_max; /* fetch latency, queue to completion, in the caller's clock */
	u64 queue_max;        /* the longest the queue got */
	u64 refaults;         /* fetches queued for a page whose store copy came from an eviction */
	u64 resident_max;     /* the most frames the store held at once */
};

struct ept_store {
	spinlock_t lock;
	struct ept *ept;
	gfn_t base;
	u64 npages;
	hfn_t *backing; /* the slot's frames (INVALID_HFN: none): written RELEASE when published */
	u8 *data;       /* npages * PAGE_SIZE: the store's copy of every page */
	u8 *state;      /* enum ept_store_state per page */
	u8 *pins;       /* per page: how many pins hold it (written under the lock) */
	u64 *queue;     /* npages entries: a ring of page indexes waiting for a channel */
	u64 *queued_at; /* npages entries: when each page was queued (caller's clock) */
	u64 head, tail; /* ring positions (tail - head entries queued) */
	u64 latency;    /* a fetch takes this long once a channel takes it (caller's clock) */
	u32 depth;      /* channels: fetches in service at once (1..EPT_STORE_MAX_DEPTH) */
	struct {
		u64 page, done_at;
		bool busy;
	} chan[EPT_STORE_MAX_DEPTH];
	u64 resident; /* frames held (RESIDENT or EVICTING pages): written under the lock */
	u8 *age;      /* NULL, or per page: scan rounds since it was last seen accessed */
	u64 *evicted; /* NULL, or a bitmap: pages evicted since their last fetch request */
	u64 hand;     /* the clock hand: ept_store_victims starts looking here */
	/* Test hook (host tests): called between the two halves of a fetch's copy. */
	void (*copy_hook)(struct ept_store *st, u64 page);
	struct ept_store_stats stats;
};

/* The caller's per-page arrays for ept_store_init (npages entries each; backing: the slot's,
 * every entry INVALID_HFN; data: npages * PAGE_SIZE, the store contents; the rest zeroed). */
struct ept_store_arrays {
	hfn_t *backing;
	u8 *data, *state, *pins;
	u64 *queue, *queued_at;
};

/* Set up st over [base, base + npages) of ept with the caller's arrays. */
void ept_store_init(struct ept_store *st, struct ept *ept, gfn_t base, u64 npages,
                    const struct ept_store_arrays *a, u64 latency, u32 depth);

/* The populate of gfn: map it with prot if resident (0; also if mapped meanwhile), else
 * queue its fetch if absent and return -EINPROGRESS (also while it is in flight: the caller
 * waits, ept_store_settled, and faults again). -ERANGE outside the store, or ept_map_page's
 * error. `now` in the caller's clock. */
int ept_store_populate(struct ept_store *st, gfn_t gfn, u64 prot, u64 now);

/* Is gfn out of flight (neither FETCHING nor EVICTING)? Lockless. */
bool ept_store_settled(struct ept_store *st, gfn_t gfn);

/* The I/O task's step at time `now`: complete the fetches whose latency has passed (copy
 * into a fresh frame, then publish), then hand queued pages to free channels. Returns the
 * fetches completed; -ENOMEM when no frame was free (the page stays queued on its channel). */
int ept_store_service(struct ept_store *st, u64 now);

/* Evict gfn: write-protect it against populate, unmap and flush, wait for a grace period,
 * copy it out, free its frame (ept_env_free_data). 0, -EBUSY (not resident), -ERANGE, or
 * ept_unmap's error (nothing changed). Never inside a walk. */
int ept_store_evict(struct ept_store *st, gfn_t gfn);

/* Give st the reclaim policy's per-page arrays (zeroed, npages entries; evicted: bits, may
 * be NULL). Set-up only, before any fetch. */
void ept_store_set_reclaim(struct ept_store *st, u8 *age, u64 *evicted);

/* Age st's pages after an A-bit scan round: accessed (a 1 in the bitmap, one bit per page
 * of the store) -> 0; resident, unpinned and not accessed -> +1, saturating at 255; other
 * pages -> 0 (not candidates). Needs age[]. */
void ept_store_age(struct ept_store *st, const u64 *accessed);

/* Up to max victims for reclaim into out[] (gfns): the oldest resident unpinned pages
 * first, those of equal age in clock order from the hand, which moves past the last one
 * taken. A snapshot:
 * a victim may change state before the caller evicts it (ept_store_evict says -EBUSY).
 * Returns how many; 0 without age[]. ages (may be NULL) receives each victim's age. Holds
 * st->lock for two passes over the store's pages: short for the slots here (tens of pages);
 * a store of many thousands would take its victims in chunks. */
u64 ept_store_victims(struct ept_store *st, gfn_t *out, u8 *ages, u64 max);

/* Pin gfn: from now on no eviction takes it (ept_store_evict says -EBUSY, ept_store_victims
 * skips it) until as many ept_store_unpin calls. It does not fetch the page: the pinner
 * populates it (and waits) if it must be resident. 0, -ERANGE, or -ENOSPC (255 pins already). */
int ept_store_pin(struct ept_store *st, gfn_t gfn);
void ept_store_unpin(struct ept_store *st, gfn_t gfn);

/* Frames st holds now (RELAXED: a snapshot for the reclaimer's loop). */
u64 ept_store_resident(struct ept_store *st);

#endif
