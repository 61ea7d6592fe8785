/*
 * The EPT MMU: one VM's extended page tables and every operation on them. Pure C (see
 * docs/design.md, "pure C below the machine"): the machine is reached only through ept/env.h.
 *
 * Every operation is a loop over one iterator (ept/iter.h) and every entry change goes through
 * one function (ept_iter_set, ept/internal.h), a cmpxchg. The MMU lock (ept->lock) is a
 * reader/writer lock, as in KVM's TDP MMU: operations that only change leaves' bits or fill
 * holes (slow faults, populating a page, write-protect, harvests, scans) take it shared and
 * run in parallel; those that unlink tables or change the structure of a range (map and unmap
 * of ranges, split, collapse, migration, enabling a log) take it exclusive. The fault fast
 * path and ept_lookup() walk without it, so table pages are freed only after a flush and a
 * grace period (ept/core.c). Long operations work in bounded chunks and drop the lock between
 * them (ept/core.c, "chunks"). An operation flushes only when it removed a permission,
 * cleared A/D, changed a leaf's target or unlinked a table: once at its end, and at each
 * point where it drops the lock with such a change pending.
 *
 * Units: gfn_t / npages count 4 KiB pages; `level` 1 = 4K, 2 = 2M, 3 = 1G leaves.
 * Errors: -EINVAL malformed argument, -ERANGE gfn beyond the 48-bit reach, -EEXIST already
 * mapped, -ENOENT nothing mapped, -ENOMEM out of table pages or data frames, -EBUSY the
 * mapping's current state does not allow the operation.
 */
#ifndef EPTVISOR_EPT_EPT_H
#define EPTVISOR_EPT_EPT_H

#include "ept/entry.h"
#include "rwlock.h"
#include "spinlock.h"
#include "types.h"

struct ept_dirty_log;
struct ept_tracker;

/* CPUs (host tests: threads) that may walk at once; ept_env_cpu() numbers them 0..n-1. */
#define EPT_MAX_CPUS 32

/* What an operation holding the MMU lock is doing, for the lock-hold statistics. */
enum ept_op_kind {
	EPT_OP_FAULT,    /* slow-path fault fix (shared) */
	EPT_OP_POPULATE, /* ept_map_page (shared) */
	EPT_OP_MAP,      /* ept_map, ept_unmap (exclusive) */
	EPT_OP_WP,       /* ept_write_protect (shared) */
	EPT_OP_HARVEST,  /* dirty-log get / clear (shared) */
	EPT_OP_LOG,      /* dirty-log enable / disable (exclusive) */
	EPT_OP_SCAN,     /* ept_scan (shared) */
	EPT_OP_SPLIT,    /* ept_split (exclusive) */
	EPT_OP_COLLAPSE, /* ept_collapse (exclusive) */
	EPT_OP_MIGRATE,  /* ept_migrate_page (exclusive) */
	EPT_OP_OTHER,    /* trackers, teardown */
	EPT_OP_KINDS
};

/* How long the MMU lock was held by one kind of operation, in ept_env_clock() units (the
 * kernel: TSC cycles; host tests: ns). A hold is one acquisition to its release: a chunked
 * operation counts one hold per chunk. log2[i] counts the holds of [2^i, 2^(i+1)) units (the
 * last bucket: longer), so a tail can be told from a single outlier. */
#define EPT_HOLD_BUCKETS 32
struct ept_hold {
	u64 holds, total, longest;
	u64 log2[EPT_HOLD_BUCKETS];
};

/* The smallest bound (in clock units, a power of two) that at least `permille` / 1000 of
 * h's holds stay under; 0 if there were none. */
u64 ept_hold_quantile(const struct ept_hold *h, unsigned permille);

/* Updated with relaxed atomics (several shared holders at once); read them with
 * __atomic_load_n any time. */
struct ept_stats {
	u64 tables;                         /* table pages in the tree, root included */
	u64 leaves[EPT_MAX_LEAF_LEVEL + 1]; /* present leaves by level (index 1..3) */
	u64 flushes;                        /* ept_env_flush() calls */
	u64 splits, collapses;              /* leaves split; runs collapsed */
	u64 yields;                         /* times a chunked operation dropped the lock */
	struct ept_hold hold[EPT_OP_KINDS];
};

struct ept {
	hpa_t root;           /* the PML4 */
	rwlock_t lock;        /* the MMU lock (docs/design.md, "Concurrency") */
	spinlock_t scan_lock; /* one A/D scan at a time: they share the trackers' young bits */
	bool force_slow;      /* knob: ept_handle_fault() skips the lockless fast path */
	u64 flush_req;        /* flush generations (ept/core.c, "flushes under a shared lock") */
	u64 flush_done;
	struct ept_stats stats;
	struct ept_dirty_log *logs;   /* enabled dirty logs (ept/dirty.c) */
	struct ept_tracker *trackers; /* registered A/D trackers (ept/scan.c) */
};

/* ---- lifetime --------------------------------------------------------------------------- */

/* Set up an empty EPT (allocates the root). 0 or -ENOMEM. */
int ept_init(struct ept *ept);

/* Free every table page (never a leaf's frames). No CPU may run on this EPT any more and no
 * other call may be in progress; no flush is done. */
void ept_destroy(struct ept *ept);

/* The EPT pointer for the VMCS: WB, 4-level walk; bit 6 enables hardware A/D flags. */
u64 ept_eptp(const struct ept *ept, bool ad);

/* ---- map / unmap / lookup (ept/map.c) --------------------------------------------------- */

/* Map npages pages gfn.. -> hfn.. with leaves of `level` (1, 2, 3) and `prot` (a subset of
 * EPT_PROT_MASK with R or X; W needs R). gfn, hfn and npages must be multiples of the level's
 * size (-EINVAL); npages == 0 does nothing. -ERANGE beyond the reach, -EEXIST if any page is
 * already mapped, -ENOMEM when table pages run out: in each error case nothing changed (the
 * tables are allocated before any entry is written). */
int ept_map(struct ept *ept, gfn_t gfn, hfn_t hfn, u64 npages, int level, u64 prot);

/* Remove every mapping of gfn..gfn+npages-1 (holes are fine). A huge leaf partly inside is
 * split first, so pages outside the range stay mapped. Flushes once. 0, -ERANGE, or -ENOMEM
 * (split tables; nothing changed). */
int ept_unmap(struct ept *ept, gfn_t gfn, u64 npages);

/* Map the one page gfn -> hfn with a 4K leaf and `prot` (as ept_map), under the shared
 * lock: the populate-on-fault path, so faults of different pages run in parallel. Missing
 * tables are installed with a cmpxchg (a racing populate's table is used instead of ours).
 * 0, -EINVAL, -ERANGE, -EEXIST (mapped meanwhile: nothing changed), -ENOMEM. */
int ept_map_page(struct ept *ept, gfn_t gfn, hfn_t hfn, u64 prot);

/* The same for one leaf of `level` (1, 2, 3) at the level-aligned gfn -> hfn: the populate of
 * a huge page. -EBUSY where a table holds the block already (smaller leaves inside it, or
 * one an unmap left empty): map smaller leaves instead. */
int ept_map_leaf(struct ept *ept, gfn_t gfn, hfn_t hfn, int level, u64 prot);

/* The leaf entry mapping gfn (0 if none) and, if level != NULL, its level. Lockless. */
u64 ept_lookup(struct ept *ept, gfn_t gfn, int *level);

/* ---- split / collapse (ept/split.c) ------------------------------------------------------ */

/* Split every leaf larger than `level` (1, 2) that overlaps gfn..gfn+npages-1 down to leaves
 * of `level` (1G -> 2M -> 4K). Each split builds the full child table first and swaps it in
 * with one atomic update; translations do not change, so no flush. Exclusive lock, in
 * chunks. 0, -EINVAL, -ERANGE, or -ENOMEM: the leaves split so far stay split, the rest stay
 * intact (never half a leaf). */
int ept_split(struct ept *ept, gfn_t gfn, u64 npages, int level);

enum ept_collapse_mode {
	EPT_COLLAPSE_IN_PLACE, /* only if the frames already form one aligned run */
	EPT_COLLAPSE_COPY,     /* else copy into a new aligned run (ept_env_alloc_data) */
	EPT_COLLAPSE_LAZY,     /* if it could be done in place, unmap the block instead: the
	                        * next fault maps it with a large leaf over the same frames */
};

/* Make the level-aligned block at gfn one leaf of `level` (2 or 3). Its pages must all be
 * mapped with equal attributes (R, X, memory type, software bits; W is ANDed, A/D ORed).
 * In place (frames contiguous and aligned): one operation for the whole block, 2M or 1G,
 * with one flush; a block that does not qualify is refused with nothing changed. COPY
 * (frames scattered): each 2M block in its own operation, collapsed in place or
 * write-protected, flushed, copied into a fresh run, swapped and flushed (two flushes), the
 * old frames handed to ept_env_free_data; then the 1G block as one more (in place, or a
 * copy of its 512 2M runs in one lock hold). 0 (also when
 * already one leaf), -EINVAL, -ERANGE, -ENOENT (a hole inside), -EBUSY (attributes differ,
 * or not contiguous with IN_PLACE), -ENOMEM (by copy: nothing changed in that block). */
int ept_collapse(struct ept *ept, gfn_t gfn, int level, enum ept_collapse_mode mode);

/* ---- write-protect and dirty logging (ept/dirty.c) ----------------------------------------- */

/* Clear W on every leaf overlapping gfn..gfn+npages-1 (a huge leaf as a whole), keeping
 * MMU_WRITABLE so that write faults take the fast path. Shared lock, in chunks; flushed
 * before it returns if any W was cleared (by it or by another operation it met). 0 or
 * -ERANGE. */
int ept_write_protect(struct ept *ept, gfn_t gfn, u64 npages);

enum ept_dirty_mode {
	EPT_DIRTY_WP,   /* write-protect; write faults set bits (fast path) */
	EPT_DIRTY_DBIT, /* harvest = test-and-clear the D bits (needs EPT A/D) */
	EPT_DIRTY_PML,  /* the kernel feeds PML entries to ept_mark_dirty(); harvest clears D */
};

/* A dirty log over one memslot-like range; the caller owns the memory. Bit i of bitmap is
 * gfn + i; the bitmap holds ALIGN_UP(npages, 64) / 64 words. */
struct ept_dirty_log {
	gfn_t gfn;
	u64 npages;
	u64 *bitmap;
	enum ept_dirty_mode mode;
	u64 restored;               /* out: huge leaves ept_dirty_log_disable made again */
	struct ept_dirty_log *next; /* ept's list of enabled logs */
};

/* Start logging: register the log and zero the bitmap; WP and PML modes split every huge
 * leaf in the range to 4K, then WP write-protects and PML clears D; D-bit mode clears D (then
 * zeroes). Exclusive lock, in chunks (a flush at each chunk that changed something); every
 * write after the return is logged. 0, -EINVAL (bad range or mode, overlaps an enabled log),
 * -ERANGE, -ENOMEM (log not enabled; leaves split so far stay split). */
int ept_dirty_log_enable(struct ept *ept, struct ept_dirty_log *log);

/* Stop logging. On return nobody touches log->bitmap any more. The huge leaves that enabling
 * it split come back in place where their frames are still one aligned run (one collapse and
 * one flush each; log->restored counts them); a block another enabled log covers stays
 * split. Leaves stay write-protected (write faults restore W on the fast path). */
void ept_dirty_log_disable(struct ept *ept, struct ept_dirty_log *log);

/* Move the dirty bits into out (same layout; every word written) and clear them, word by
 * word atomically; re-protect (WP: clear W; PML: clear D) exactly the pages returned; flushed
 * before returning, so a write after the return is in the next round. D-bit mode first
 * harvests the D bits. Shared lock, in chunks. Returns the number of dirty pages. */
s64 ept_dirty_log_get_and_clear(struct ept *ept, struct ept_dirty_log *log, u64 *out);

/* Manual mode, first half: copy the dirty bits into out without clearing or re-protecting
 * (D-bit mode harvests the D bits into the log first, with one flush). Number of pages. */
s64 ept_dirty_log_get(struct ept *ept, struct ept_dirty_log *log, u64 *out);

/* Manual mode, second half: clear the bits of gfn..gfn+npages-1 that are set in mask (bit 0
 * = gfn) and re-protect exactly those pages; one flush. gfn - log->gfn must be a multiple of
 * 64 and the range inside the log (-EINVAL). Returns the number of bits cleared. */
s64 ept_dirty_log_clear(struct ept *ept, struct ept_dirty_log *log, gfn_t gfn, u64 npages,
                        const u64 *mask);

/* Does an enabled dirty log cover any page of gfn..gfn+npages-1? Lockless. */
bool ept_dirty_logged(struct ept *ept, gfn_t gfn, u64 npages);

/* Record gfn as dirty in every enabled log covering it (PML drain; the whole leaf if gfn is
 * mapped by a huge one). Lockless. In PML mode, drain every vCPU's PML buffer before a
 * harvest. */
void ept_mark_dirty(struct ept *ept, gfn_t gfn);

/* ---- the EPT-violation handler (ept/fault.c) ------------------------------------------------ */

enum ept_fault_result {
	EPT_FAULT_FIXED_FAST,  /* W restored without the lock (dirty logging); resume */
	EPT_FAULT_SPURIOUS,    /* the access is already allowed (fixed meanwhile); resume */
	EPT_FAULT_FIXED_SLOW,  /* W restored under the lock; resume */
	EPT_FAULT_NOT_PRESENT, /* nothing mapped: the caller populates (ept_map) and resumes */
	EPT_FAULT_BUSY,        /* the hypervisor holds the page read-only (MMU_WRITABLE clear) */
	EPT_FAULT_VIOLATION,   /* the access is not allowed: a real protection fault */
};

/* Handle an EPT violation for `access` (a non-empty subset of EPT_RWX) at gfn. Fast path: a
 * write to a present leaf with W = 0 and both software writable bits gets W back with one
 * cmpxchg and the page logged dirty, without the lock (retried once, else the slow path);
 * a fault the entry already allows is spurious. Everything else is decided under the lock.
 * ept->force_slow skips the fast path. Returns an enum ept_fault_result, or -EINVAL/-ERANGE. */
int ept_handle_fault(struct ept *ept, gfn_t gfn, u64 access);

/* ept_handle_fault in two halves, for an exit handler that tries the lockless path before
 * anything else: _fast returns EPT_FAULT_FIXED_FAST or EPT_FAULT_SPURIOUS, or -EAGAIN
 * (force_slow, or it could not decide: call _slow, which decides under the lock and never
 * returns EPT_FAULT_FIXED_FAST); both -EINVAL/-ERANGE like ept_handle_fault. */
int ept_handle_fault_fast(struct ept *ept, gfn_t gfn, u64 access);
int ept_handle_fault_slow(struct ept *ept, gfn_t gfn, u64 access);

/* ---- A/D scanning (ept/scan.c) --------------------------------------------------------------- */

enum ept_page_state { EPT_PAGE_HOLE, EPT_PAGE_IDLE, EPT_PAGE_ACCESSED, EPT_PAGE_STATES };

/* A run of pages in one state, all mapped (or missing) at one size: `level` is the size of
 * each entry (1 = 4K, 2 = 2M, 3 = 1G; for holes up to 4 = 512G), npages / entry size = count
 * (the first and last entries may be cut by the scanned range). */
struct ept_extent {
	gfn_t gfn;
	u64 npages;
	u8 state;
	u8 level;
};

/* One working-set estimator's scan state, owned by the caller: the range it watches and the
 * accesses other trackers' clearing scans took from it (young: one bit per page, zeroed by
 * the caller before ept_tracker_add). */
struct ept_tracker {
	gfn_t gfn;
	u64 npages;
	u64 *young;
	struct ept_tracker *next; /* ept's list of trackers */
};

/* Where one scan writes its result; NULL pointers are skipped. Bitmaps: one bit per page of
 * the tracker's range; idle = mapped and not accessed, hole = not mapped (never idle). */
struct ept_scan {
	u64 *idle;
	u64 *hole;
	struct ept_extent *ext;
	u32 max_ext;
	u32 nr_ext;                 /* out */
	bool ext_full;              /* out: more extents than max_ext; the rest were not stored */
	u64 pages[EPT_PAGE_STATES]; /* out: pages in each state */
};

/* Register / unregister a tracker. -ERANGE when its range is beyond the reach. */
int ept_tracker_add(struct ept *ept, struct ept_tracker *t);
void ept_tracker_del(struct ept *ept, struct ept_tracker *t);

/* Report every page of t's range as hole / idle / accessed (accessed since t's last clearing
 * scan), judged per leaf at its real size: a 2M or 1G leaf is one entry. clear: test-and-
 * clear the A bits (giving them to the other trackers), flushed at each chunk's end; else a
 * peek. Shared lock, in chunks, one scan at a time (ept->scan_lock). */
int ept_scan(struct ept *ept, struct ept_tracker *t, struct ept_scan *out, bool clear);

/* ---- lockless walkers (ept/core.c) ------------------------------------------------------- */

/* Bracket a walk of the tables without ept->lock (an ept_iter loop, or a read of guest data
 * through a looked-up frame): tables and data frames the EPT drops meanwhile are not freed
 * before ept_walk_end(). Short, never waits for anything, never takes ept->lock inside.
 * On a CPU between a VM exit and the next entry (online, see ept/env.h) the walk costs a
 * few plain per-CPU accesses and its end is a quiescent state; elsewhere (a host task) the
 * CPU is online for the length of the bracket. Nests. */
u32 ept_walk_begin(struct ept *ept);
void ept_walk_end(struct ept *ept, u32 token);

/* Wait for a grace period: every other CPU that was online (possibly inside a walk that
 * could have seen what was unlinked, or a vCPU's in root mode reading what it found before)
 * has gone offline or reported a quiescent state. With or without ept->lock; never inside a
 * walk. The caller is offline while it waits. */
void ept_wait_walkers(struct ept *ept);

/* Take l like spin_lock(), but in an extended quiescent state while it spins: a CPU that
 * may be online (a vCPU's, in root mode) waits for a lock whose holder may wait for a grace
 * period only through this (ept/env.h, "quiescent states"). */
void ept_spin_lock(spinlock_t *l);

/* The longest single hold of the MMU lock by any kind of operation, in ept_env_clock()
 * units. */
u64 ept_longest_hold(const struct ept *ept);
const char *ept_op_kind_name(enum ept_op_kind kind);

#endif
