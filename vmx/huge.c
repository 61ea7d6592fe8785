/*
 * Huge pages by default, and their recovery (see vm.h). A slot with huge backing tracks
 * each 2M block's state (enum blk_state, one byte, changed by cmpxchg): the first populate
 * fault in a free block claims it (FREE -> HUGE), allocates one aligned run, zeroes it,
 * records every page's frame in backing[] and maps the block with one 2M leaf (ept_map_leaf,
 * under the MMU lock held shared); a 1G block whose 512 2M blocks are all free is claimed
 * whole and mapped with a 1G leaf the same way. When no run is free the block falls back to
 * 4K pages (HUGE -> SMALL), as transparent huge pages do.
 *
 * backing[] stays the truth about frames, so the states only decide who allocates: a 4K
 * populate in a HUGE block maps the run's page (the block was split, or a page unmapped)
 * once the claimer has filled backing[], and asks the vCPU to fault again until then; a
 * populate that finds backing[] already one aligned run maps the huge leaf over it (a
 * block zapped whole, as the lazy recovery does).
 *
 * Recovery (vm_recover_huge) is for blocks dirty logging split to 4K: in place when the
 * frames are still one aligned run (they are, unless the block was SMALL or a page moved),
 * else by copying into a fresh run, within a budget, as khugepaged does on a host CPU.
 */
#include "arch/cpu.h"
#include "drivers/timer.h"
#include "errno.h"
#include "kassert.h"
#include "lib.h"
#include "mm/mm.h"
#include "vmx/vm.h"

#define GUEST_PROT (EPT_R | EPT_W | EPT_X | EPT_HOST_WRITABLE | EPT_MMU_WRITABLE)
#define BLK_PAGES  512ULL /* pages in a 2M block */

int vm_slot_set_huge(struct vm *vm, int i, int max_level)
{
	struct memslot *s = &vm->slots[i];
	u64 nblk;

	if (i < 0 || i >= vm->nslots || max_level < 1 || max_level > 3 || vm->nvcpus)
		return -EINVAL;
	if (max_level == 1 || s->blk) {
		s->max_level = s->blk ? max_level : 1;
		return 0;
	}
	nblk = ALIGN_UP(s->npages, BLK_PAGES) / BLK_PAGES;
	s->blk = kzalloc(nblk); /* BLK_FREE */
	if (!s->blk)
		return -ENOMEM;
	s->max_level = max_level;
	return 0;
}

static u8 *blk_of(struct memslot *s, gfn_t gfn)
{
	return &s->blk[(gfn - s->base_gfn) / BLK_PAGES];
}

/* Is [gfn, gfn + pages) backed by one run aligned to `pages`? Its first frame, else
 * INVALID_HFN. */
static hfn_t backing_run(const struct memslot *s, gfn_t gfn, u64 pages)
{
	/* ACQUIRE: pairs with the claimer's RELEASE; the run is zeroed before we map it. */
	hfn_t first = __atomic_load_n(&s->backing[gfn - s->base_gfn], __ATOMIC_ACQUIRE);

	if (first == INVALID_HFN || !IS_ALIGNED(first, pages))
		return INVALID_HFN;
	for (u64 i = 1; i < pages; i++)
		if (__atomic_load_n(&s->backing[gfn - s->base_gfn + i], __ATOMIC_ACQUIRE) !=
		    first + i)
			return INVALID_HFN;
	return first;
}

/* Claim the 2M blocks of [gfn, gfn + pages) for one run: all FREE -> HUGE, or none. */
static bool claim(struct memslot *s, gfn_t gfn, u64 pages)
{
	u64 n = pages / BLK_PAGES, i;

	for (i = 0; i < n; i++) {
		u8 free = BLK_FREE;

		/* RELAXED: the state only elects one allocator; backing[] carries the data. */
		if (!__atomic_compare_exchange_n(blk_of(s, gfn + i * BLK_PAGES), &free, BLK_HUGE,
		                                 false, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
			break;
	}
	if (i == n)
		return true;
	while (i--) /* nobody acts on a HUGE block with no backing but to wait: undo is safe */
		__atomic_store_n(blk_of(s, gfn + i * BLK_PAGES), BLK_FREE, __ATOMIC_RELAXED);
	return false;
}

/* Back the claimed block [gfn, gfn + pages) with a fresh zeroed run and map it with one
 * leaf of `level`. -ENOMEM when no run is free (the caller falls back to 4K). */
static int back_block(struct vm *vm, struct memslot *s, gfn_t gfn, u64 pages, int level)
{
	unsigned order = ept_level_order(level);
	hfn_t run = frame_alloc_run(&frames, order);
	int err;

	if (run == INVALID_HFN)
		return -ENOMEM;
	/* Zeroed through the direct map: a guest never sees another VM's or our old data. */
	memset(phys_to_virt(hfn_to_hpa(run)), 0, pages * PAGE_SIZE);
	/* RELEASE: the zeroed run before anyone reads a frame of it from backing[]. */
	for (u64 i = 0; i < pages; i++)
		__atomic_store_n(&s->backing[gfn - s->base_gfn + i], run + i, __ATOMIC_RELEASE);
	err = ept_map_leaf(&vm->ept, gfn, run, level, GUEST_PROT);
	/* -EBUSY: a table holds the block (an unmap left it): its pages get 4K leaves of the
	 * run, which backing[] now names. */
	if (!err)
		STAT_INC(vm, populated[level]);
	return err == -EEXIST || err == -EBUSY ? -EAGAIN : err;
}

/* Try a leaf of `level` for gfn: 0 mapped (by us or meanwhile), -EAGAIN try smaller. */
static int populate_level(struct vm *vm, struct memslot *s, gfn_t gfn, int level)
{
	u64 pages = ept_level_pages(level);
	gfn_t base = ALIGN_DOWN(gfn, pages);
	hfn_t run;
	int err;

	if (base < s->base_gfn || base + pages > s->base_gfn + s->npages)
		return -EAGAIN; /* the block is not wholly inside the slot */
	run = backing_run(s, base, pages);
	if (run != INVALID_HFN) {
		/* Backed as one run already (zapped whole, or the claimer of a block that
		 * another vCPU faults in at the same time): map it. */
		err = ept_map_leaf(&vm->ept, base, run, level, GUEST_PROT);
		if (!err)
			STAT_INC(vm, populated[level]);
		return err == -EEXIST ? 0 : err == -EBUSY ? -EAGAIN : err;
	}
	if (!claim(s, base, pages))
		return -EAGAIN;
	err = back_block(vm, s, base, pages, level);
	if (err == -ENOMEM) {
		/* No free run: the blocks fall back to 4K pages. RELAXED: only we hold the claim,
		 * and a 4K populate reading HUGE meanwhile just faults again. */
		for (u64 b = 0; b < pages / BLK_PAGES; b++)
			__atomic_store_n(blk_of(s, base + b * BLK_PAGES), BLK_SMALL,
			                 __ATOMIC_RELAXED);
		STAT_INC(vm, huge_fallbacks);
		return -EAGAIN;
	}
	return err;
}

int vm_populate_huge(struct vm *vm, struct memslot *s, gfn_t gfn)
{
	u8 st;

	ASSERT(s->blk);
	for (int level = s->max_level; level >= 2; level--) {
		int err = populate_level(vm, s, gfn, level);

		if (err != -EAGAIN)
			return err;
	}
	/* RELAXED (load and cmpxchg): the state elects who allocates; the frame itself is
	 * read from backing[] with ACQUIRE below and in backing_frame. */
	st = __atomic_load_n(blk_of(s, gfn), __ATOMIC_RELAXED);
	if (st == BLK_FREE) {
		/* Not huge-capable (cut by the slot's end): page by page from now on. */
		__atomic_compare_exchange_n(blk_of(s, gfn), &st, BLK_SMALL, false, __ATOMIC_RELAXED,
		                            __ATOMIC_RELAXED);
		return -EAGAIN;
	}
	/* ACQUIRE: as backing_run. HUGE without a frame: its claimer is still filling
	 * backing[] (or mapping): let the vCPU fault again in a moment. */
	if (st == BLK_HUGE &&
	    __atomic_load_n(&s->backing[gfn - s->base_gfn], __ATOMIC_ACQUIRE) == INVALID_HFN)
		return 0;
	return -EAGAIN; /* SMALL, or HUGE with its run recorded: 4K leaves of backing[] */
}

/* ---- recovery ------------------------------------------------------------------------------ */

static struct memslot *huge_slot(struct vm *vm, gfn_t gfn)
{
	struct memslot *s = vm_find_slot(vm, gfn);

	return s && s->blk && s->max_level >= 2 ? s : NULL;
}

u64 vm_recover_huge(struct vm *vm, gfn_t gfn, u64 npages, u64 copy_budget, u64 *leaves)
{
	u64 copied = 0, made = 0;

	for (gfn_t b = ALIGN_UP(gfn, BLK_PAGES); b + BLK_PAGES <= gfn + npages; b += BLK_PAGES) {
		struct memslot *s = huge_slot(vm, b);
		int level = 0, err;
		u64 e;

		if (!s || b + BLK_PAGES > s->base_gfn + s->npages ||
		    ept_dirty_logged(&vm->ept, b, BLK_PAGES))
			continue;
		e = ept_lookup(&vm->ept, b, &level);
		if (e && level >= 2)
			continue; /* huge already */
		err = ept_collapse(&vm->ept, b, 2, EPT_COLLAPSE_IN_PLACE);
		if (err == -EBUSY && copied + BLK_PAGES <= copy_budget) {
			/* Scattered frames (a SMALL block, or a page moved): copy, as khugepaged.
			 */
			err = ept_collapse(&vm->ept, b, 2, EPT_COLLAPSE_COPY);
			if (!err) {
				copied += BLK_PAGES;
				STAT_INC(vm, recovered_copy);
			}
		}
		if (err)
			continue;
		/* RELAXED: the block is one run again (ept_env_free_data recorded its frames in
		 * backing[]); the state only steers later populates of the block. */
		__atomic_store_n(blk_of(s, b), BLK_HUGE, __ATOMIC_RELAXED);
		STAT_INC(vm, recovered[2]);
		made++;
	}
	/* Then 1G leaves where a slot allows them and all 512 2M leaves are one run. */
	for (gfn_t b = ALIGN_UP(gfn, ept_level_pages(3)); b + ept_level_pages(3) <= gfn + npages;
	     b += ept_level_pages(3)) {
		struct memslot *s = huge_slot(vm, b);
		int level = 0;

		if (!s || s->max_level < 3 || b + ept_level_pages(3) > s->base_gfn + s->npages ||
		    ept_dirty_logged(&vm->ept, b, ept_level_pages(3)) ||
		    (ept_lookup(&vm->ept, b, &level) && level == 3))
			continue;
		if (!ept_collapse(&vm->ept, b, 3, EPT_COLLAPSE_IN_PLACE)) {
			STAT_INC(vm, recovered[3]);
			made++;
		}
	}
	if (leaves)
		*leaves += made;
	return copied;
}

u64 vm_khugepaged(struct vm *vm, gfn_t gfn, u64 npages, u64 pages_per_sec, u64 max_ms, u64 *leaves)
{
	u64 start = rdtsc(), last = start, credit = BLK_PAGES, copied = 0;

	if (!pages_per_sec)
		return 0;
	for (;;) {
		u64 now = rdtsc();

		/* Credit accrues at the rate; a block needs 512 pages of it. */
		credit = MIN(credit + (now - last) * pages_per_sec / tsc_hz, 4 * BLK_PAGES);
		last = now;
		if (credit >= BLK_PAGES) {
			u64 done = vm_recover_huge(vm, gfn, npages, credit, leaves);

			if (!done)
				break; /* nothing left that a copy would bring back */
			credit -= done;
			copied += done;
		}
		if ((now - start) / (tsc_hz / 1000) >= max_ms || vm->stopping)
			break;
		cpu_relax();
	}
	return copied;
}
