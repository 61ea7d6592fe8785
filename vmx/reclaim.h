/*
 * A reclaim policy for lazily backed memslots (issue 15, item 4): keep a VM's resident store
 * pages under a limit by evicting the pages the A-bit scan has found idle longest. A round
 * scans every store slot's A bits (a tracker per store, clearing), ages its pages
 * (ept_store_age) and, while the VM holds more store frames than the limit, evicts the oldest
 * (ept_store_victims, vm_store_evict). The limit is hard: when fewer pages have been idle for
 * reclaim_idle_rounds= rounds than the excess, younger ones go too (counted as forced). A
 * refault fetches an evicted page back (counted by the store). The host task that serves the
 * stores calls vm_store_reclaim_poll in its loop, right after vm_store_service, on CPU 0.
 */
#ifndef EPTVISOR_VMX_RECLAIM_H
#define EPTVISOR_VMX_RECLAIM_H

#include "ept/ept.h"
#include "types.h"

struct vm;
struct vm_store;

/* One store's reclaim state and counters (allocated by the first round over it). */
struct vm_reclaim {
	struct ept_tracker t;     /* registered on the VM's EPT over the store's range */
	u64 *young, *idle, *hole; /* the tracker's young bits; one scan's output */
	u64 rounds;               /* scanning rounds */
	u64 evictions;            /* pages the policy evicted */
	u64 forced;               /* of them, idle for fewer rounds than reclaim_idle_rounds= */
	u64 busy;                 /* victims that changed state before their eviction */
	u64 last_round;           /* TSC of the last scanning round */
};

/* One reclaim pass over every store of vm: when scan, a round first (scan the A bits,
 * clearing, and age the pages); then, while the VM's stores hold more than limit frames,
 * evict their oldest pages (idle_rounds: below it an eviction counts as forced). Returns
 * the pages evicted, -ENOMEM (no memory for a store's scan state) or ept_scan's error. Host task,
 * CPU 0. */
int vm_store_reclaim(struct vm *vm, u64 limit, u32 idle_rounds, bool scan);

/* The host task's hook beside vm_store_service: with limit pages (0: none), a scanning round
 * every reclaim_period_us=, and between rounds evictions whenever the stores hold more than
 * limit (so at most the fetches of one service step over it). Returns pages evicted. */
int vm_store_reclaim_poll(struct vm *vm, u64 limit);

/* guest_resident= in pages, rounded up (0: no limit): the limit a host task passes to
 * vm_store_reclaim_poll when the VM has none of its own. */
u64 vm_store_reclaim_limit(void);

/* Frames all of vm's stores hold now. */
u64 vm_store_resident(struct vm *vm);

/* Unregister and free a store's reclaim state (vm_store_free). */
void vm_reclaim_free(struct vm_store *vs);

#endif
