/*
 * The EPT entry format: a u64 with named masks and small predicates, no bitfields, so every
 * change composes with cmpxchg. Levels: 1 = 4K PTE, 2 = 2M PDE, 3 = 1G PDPTE, 4 = PML4E.
 *
 *   63 62 61 60 59 58 57 56 55 54 53 52 51          12 11  10   9   8   7    6    5:3   2 1 0
 *  [ ign |FZ|SF|VN|SL|ig|MG| ign |MW|HW| frame (hfn)  | ign  | D | A | LG | IPAT| MT  | X W R ]
 *
 * HW = EPT_HOST_WRITABLE: the backing frame may be written (else a write fault is real).
 * MW = EPT_MMU_WRITABLE: nothing in the hypervisor needs this mapping read-only right now.
 * A present leaf with W = 0 and both bits set was write-protected only for dirty logging,
 * so a write fault on it may be fixed without the MMU lock (docs/design.md, "Memory").
 * FZ = EPT_FROZEN, SF = EPT_SCAN_FULL (non-leaf), VN = EPT_VMCS_NAMED (leaf), SL =
 * EPT_SPLIT_LOG (non-leaf), MG = EPT_MIGRATING (leaf): see below. Bits 57-61 are ignored by
 * the CPU as long as the features that give them a meaning (sub-page permissions,
 * supervisor shadow stacks, guest-paging verification) are off, as they are here.
 * Non-leaf entries: RWX set, frame = the child table. Leaves: WB, ignore-PAT.
 */
#ifndef EPTVISOR_EPT_ENTRY_H
#define EPTVISOR_EPT_ENTRY_H

#include "types.h"

#define EPT_R             BIT(0)
#define EPT_W             BIT(1)
#define EPT_X             BIT(2)
#define EPT_RWX           (EPT_R | EPT_W | EPT_X)
#define EPT_MT_SHIFT      3
#define EPT_MT_MASK       (7ULL << EPT_MT_SHIFT)
#define EPT_MT_WB         (6ULL << EPT_MT_SHIFT)
#define EPT_IPAT          BIT(6)
#define EPT_LARGE         BIT(7)
#define EPT_A             BIT(8)
#define EPT_D             BIT(9)
#define EPT_FRAME_MASK    (((1ULL << 52) - 1) & PAGE_MASK)
#define EPT_HOST_WRITABLE BIT(52)
#define EPT_MMU_WRITABLE  BIT(53)
/* Software, non-present: an entry of a table that is being torn down (unlinked, waiting for
 * its grace period). A lockless walker that meets it restarts from the root, where the
 * replacement is already visible; the CPU sees a non-present entry. */
#define EPT_FROZEN BIT(61)
/* Software, in a non-leaf entry of level 2 (ignored there by the CPU): every entry of its 4K
 * leaf table is present and, unless this entry's A is set, has A clear. Set only by a
 * clearing scan (ept/scan.c); cleared when a leaf of the table stops being present
 * (ept/core.c). A clearing scan skips such a table while this entry's A stays clear. */
#define EPT_SCAN_FULL BIT(60)
/* Software, in a non-leaf entry of level 2 or 3: its table was made by splitting a huge leaf
 * for dirty logging (ept_dirty_log_enable). Disabling the log collapses such blocks back in
 * place when their frames are still one aligned run (ept_restore_split). */
#define EPT_SPLIT_LOG BIT(58)
/* Software, in a 4K leaf: a VMCS names this frame (the APIC-access page). Such a leaf moves
 * only through ept_migrate_named, which has every VMCS reloaded while the leaf is absent;
 * ept_migrate_page refuses it (-EPERM). */
#define EPT_VMCS_NAMED BIT(59)

/* Software, in a leaf: a migration (ept/migrate.c) is copying this leaf's frames with the MMU
 * lock dropped; W and MMU_WRITABLE are clear meanwhile. Kept by a split (the children carry
 * it), part of EPT_ATTR_MASK (so no collapse merges it with leaves that lack it); a second
 * migration of the leaf is refused (-EBUSY). The migration clears it when it ends. */
#define EPT_MIGRATING BIT(56)

/* What ept_map() accepts as `prot`. */
#define EPT_PROT_MASK (EPT_RWX | EPT_HOST_WRITABLE | EPT_MMU_WRITABLE | EPT_VMCS_NAMED)
/* The attributes every leaf of a collapsible run must share (W, A, D are merged instead). */
#define EPT_ATTR_MASK                                                                              \
	(EPT_R | EPT_X | EPT_MT_MASK | EPT_IPAT | EPT_HOST_WRITABLE | EPT_MMU_WRITABLE |           \
	 EPT_VMCS_NAMED | EPT_MIGRATING)

#define EPT_LEVELS         4
#define EPT_ENTRIES        512
#define EPT_LEVEL_BITS     9
#define EPT_MAX_LEAF_LEVEL 3
/* A 4-level walk translates 48-bit guest-physical addresses: 2^36 gfns. */
#define EPT_GFN_LIMIT (1ULL << (48 - PAGE_SHIFT))
/* Host frames an entry can name: 52-bit host-physical addresses. */
#define EPT_HFN_LIMIT (1ULL << (52 - PAGE_SHIFT))

/* log2 of the 4 KiB pages mapped by one entry of `level` (0, 9, 18, 27). */
static inline unsigned ept_level_order(int level)
{
	return EPT_LEVEL_BITS * (level - 1);
}

/* 4 KiB pages mapped by one entry of `level`. */
static inline u64 ept_level_pages(int level)
{
	return 1ULL << ept_level_order(level);
}

/* Index of gfn's entry in its level-`level` table. */
static inline unsigned ept_index(gfn_t gfn, int level)
{
	return (gfn >> ept_level_order(level)) & (EPT_ENTRIES - 1);
}

static inline bool ept_present(u64 e)
{
	return (e & EPT_RWX) != 0;
}

static inline bool ept_frozen(u64 e)
{
	return (e & EPT_FROZEN) != 0;
}

/* A present entry that maps memory (rather than pointing to a table). */
static inline bool ept_leaf(u64 e, int level)
{
	return ept_present(e) && (level == 1 || (e & EPT_LARGE));
}

/* A present entry that points to a child table. */
static inline bool ept_table(u64 e, int level)
{
	return ept_present(e) && !ept_leaf(e, level);
}

static inline hfn_t ept_hfn(u64 e)
{
	return (e & EPT_FRAME_MASK) >> PAGE_SHIFT;
}

static inline hpa_t ept_child(u64 e)
{
	return e & EPT_FRAME_MASK;
}

static inline u64 ept_table_entry(hpa_t table)
{
	return table | EPT_RWX;
}

/* A leaf of `level` mapping hfn.. with `bits` (permissions, software and A/D bits). */
static inline u64 ept_leaf_entry(hfn_t hfn, int level, u64 bits)
{
	return hfn_to_hpa(hfn) | (bits & ~(EPT_FRAME_MASK | EPT_MT_MASK | EPT_LARGE)) | EPT_MT_WB |
	       EPT_IPAT | (level > 1 ? EPT_LARGE : 0);
}

/* Does leaf e allow every access in `access` (a subset of EPT_RWX)? */
static inline bool ept_allows(u64 e, u64 access)
{
	return (e & access & EPT_RWX) == access;
}

/* W = 0 only for dirty logging: a write fault may restore W without the lock. */
static inline bool ept_fast_writable(u64 e)
{
	u64 both = EPT_HOST_WRITABLE | EPT_MMU_WRITABLE;

	return !(e & EPT_W) && (e & both) == both && (e & EPT_R);
}

#endif
