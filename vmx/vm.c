/*
 * VM objects, memslots and guest-memory access (see vm.h). Populate-on-fault allocates a
 * zeroed frame and maps it with a 4K leaf, with no VM-wide lock (vm_populate).
 */
#include "arch/cpu.h"
#include "arch/lapic.h"
#include "arch/percpu.h"
#include "arch/trap.h"
#include "drivers/console.h"
#include "ept/migrate.h"
#include "errno.h"
#include "kassert.h"
#include "lib.h"
#include "mm/mm.h"
#include "vmx/report.h"
#include "vmx/settings.h"
#include "vmx/store.h"
#include "vmx/trace.h"
#include "vmx/vcpu.h"
#include "vmx/vm.h"
#include "vmx/vmcs_pages.h"
#include "vmx/vmx.h"

#define GUEST_PROT (EPT_R | EPT_W | EPT_X | EPT_HOST_WRITABLE | EPT_MMU_WRITABLE)

/* A slot's backing: one hfn per page (INVALID_HFN until populated), so a page's frame can
 * change (collapse by copy, migration) without the slot caring how it was allocated. */
static int slot_init(struct memslot *s, gfn_t base, u64 npages, int level)
{
	*s = (struct memslot){ .base_gfn = base, .npages = npages, .level = level };
	s->backing = kzalloc(npages * sizeof(hfn_t));
	if (!s->backing)
		return -ENOMEM;
	for (u64 i = 0; i < npages; i++)
		s->backing[i] = INVALID_HFN;
	return 0;
}

struct vm *vm_create(const char *name, u64 mem, const struct vm_ops *ops)
{
	struct vm *vm = kzalloc(sizeof(*vm));

	if (!vm)
		return NULL;
	vm->name = name;
	vm->ops = ops;
	vm->stop_exit_reason = -1;
	trace_vm_init(vm);
	if (ept_init(&vm->ept)) {
		trace_vm_dump(vm);
		kfree(vm, sizeof(*vm));
		return NULL;
	}
	/* EPT A/D on when the CPU has it: idle tracking, D-bit and PML logging need it. */
	vm->eptp = ept_eptp(&vm->ept, vmx_caps.ept_ad);
	if (slot_init(&vm->slots[0], 0, ALIGN_UP(mem, PAGE_SIZE) >> PAGE_SHIFT, 1)) {
		vm_destroy(vm);
		return NULL;
	}
	vm->nslots = 1;
	if (ops->vm_init && ops->vm_init(vm)) {
		vm_destroy(vm);
		return NULL;
	}
	return vm;
}

static bool slots_overlap(const struct vm *vm, gfn_t base, u64 npages)
{
	for (int i = 0; i < vm->nslots; i++) {
		const struct memslot *s = &vm->slots[i];

		if (base < s->base_gfn + s->npages && s->base_gfn < base + npages)
			return true;
	}
	return false;
}

/* Back and map one level-sized block of s at page index `first` with a fresh, zeroed run. */
static int huge_block(struct vm *vm, struct memslot *s, u64 first)
{
	u64 pages = 1ULL << (9 * (s->level - 1));
	hfn_t run = frame_alloc_run(&frames, 9 * (s->level - 1));
	int err;

	if (run == INVALID_HFN)
		return -ENOMEM;
	/* Zero through the direct map: a guest must never see another VM's or our old data. */
	memset(phys_to_virt(hfn_to_hpa(run)), 0, pages * PAGE_SIZE);
	err = ept_map(&vm->ept, s->base_gfn + first, run, pages, s->level, GUEST_PROT);
	if (err) {
		frame_free_run(&frames, run, 9 * (s->level - 1));
		return err;
	}
	for (u64 i = 0; i < pages; i++)
		s->backing[first + i] = run + i;
	return 0;
}

int vm_add_huge_slot(struct vm *vm, gpa_t gpa, u64 bytes, int level)
{
	u64 align = level == 3 ? SZ_1G : SZ_2M;
	struct memslot *s;
	int err;

	if (level < 2 || level > 3 || !IS_ALIGNED(gpa, align) || !IS_ALIGNED(bytes, align) ||
	    !bytes)
		return -EINVAL;
	if (level == 3 && !vmx_caps.ept_1g)
		return -ENODEV;
	if (vm->nslots == MAX_MEMSLOTS || slots_overlap(vm, gpa_to_gfn(gpa), bytes >> PAGE_SHIFT))
		return -EEXIST;
	s = &vm->slots[vm->nslots];
	err = slot_init(s, gpa_to_gfn(gpa), bytes >> PAGE_SHIFT, level);
	vm->nslots++; /* counted now, so vm_destroy frees whatever was backed */
	for (u64 first = 0; !err && first < s->npages; first += align >> PAGE_SHIFT)
		err = huge_block(vm, s, first);
	return err;
}

int vm_add_slot(struct vm *vm, gpa_t gpa, u64 bytes, int max_level)
{
	int err;

	if (!bytes || !IS_ALIGNED(gpa | bytes, PAGE_SIZE))
		return -EINVAL;
	if (vm->nslots == MAX_MEMSLOTS || slots_overlap(vm, gpa_to_gfn(gpa), bytes >> PAGE_SHIFT))
		return -EEXIST;
	err = slot_init(&vm->slots[vm->nslots], gpa_to_gfn(gpa), bytes >> PAGE_SHIFT, 1);
	vm->nslots++; /* counted now, so vm_destroy frees what was allocated */
	return err ? err : vm_slot_set_huge(vm, vm->nslots - 1, max_level);
}

static void slot_free(struct memslot *s)
{
	vm_store_free(s);
	if (s->blk)
		kfree(s->blk, ALIGN_UP(s->npages, 512) / 512);
	if (!s->backing)
		return;
	for (u64 i = 0; i < s->npages; i++)
		if (s->backing[i] != INVALID_HFN)
			frame_free(&frames, s->backing[i]);
	kfree(s->backing, s->npages * sizeof(hfn_t));
}

void vm_destroy(struct vm *vm)
{
	trace_vm_dump(vm);
	for (int i = 0; i < vm->nvcpus; i++) /* no vCPU may still be in the guest */
		ASSERT(!__atomic_load_n(&vm->vcpus[i]->in_guest, __ATOMIC_ACQUIRE));
	/* The platform first: what it registered with the EPT goes while the vCPUs (which a
	 * flush kicks) and the EPT still exist. */
	if (vm->ops->vm_destroy)
		vm->ops->vm_destroy(vm);
	for (int i = 0; i < vm->nvcpus; i++)
		vcpu_destroy(vm->vcpus[i]);
	/* The EPT goes away with its frames: every CPU that ran this VM dropped its cached
	 * translations when its vCPU left (vcpu_run's INVEPT), so none can reach a freed frame. */
	ept_destroy(&vm->ept);
	for (int i = 0; i < vm->nslots; i++)
		slot_free(&vm->slots[i]);
	kfree(vm, sizeof(*vm));
}

struct memslot *vm_find_slot(struct vm *vm, gfn_t gfn)
{
	for (int i = 0; i < vm->nslots; i++) {
		struct memslot *s = &vm->slots[i];

		if (gfn >= s->base_gfn && gfn - s->base_gfn < s->npages)
			return s;
	}
	return NULL;
}

static hfn_t slot_hfn(const struct memslot *s, gfn_t gfn)
{
	/* ACQUIRE: pairs with populate's release; the frame is zeroed before we use its hfn. */
	return __atomic_load_n(&s->backing[gfn - s->base_gfn], __ATOMIC_ACQUIRE);
}

/* The frame backing gfn: the slot's, else a fresh zeroed one claimed with a cmpxchg (a vCPU
 * populating the same page at once claims first: ours goes back and theirs is used). */
static hfn_t backing_frame(struct memslot *s, gfn_t gfn, bool *fresh)
{
	hfn_t *slot = &s->backing[gfn - s->base_gfn], hfn = slot_hfn(s, gfn), mine;
	hpa_t pa;

	if (hfn != INVALID_HFN)
		return hfn;
	pa = alloc_zeroed_frame(); /* zeroed outside any lock: populates run in parallel */
	if (pa == INVALID_HPA)
		return INVALID_HFN;
	mine = hpa_to_hfn(pa);
	/* RELEASE: the zeroed frame is visible before anyone reads its hfn; ACQUIRE on
	 * failure: the winner's frame likewise. */
	*fresh = __atomic_compare_exchange_n(slot, &hfn, mine, false, __ATOMIC_ACQ_REL,
	                                     __ATOMIC_ACQUIRE);
	if (*fresh)
		return mine;
	frame_free(&frames, mine);
	return hfn;
}

/*
 * Back gfn with a zeroed frame if it has none, and map it if the EPT does not (a page the
 * hypervisor unmapped keeps its frame and comes back on refault). No VM-wide lock: the
 * frame is claimed with a cmpxchg and mapped under the MMU lock held shared
 * (ept_map_page), so populates of different pages run in parallel; two vCPUs populating
 * the same page both end with the one frame mapped (the second finds it mapped: -EEXIST).
 */
int vm_populate(struct vm *vm, gfn_t gfn)
{
	struct memslot *s = vm_find_slot(vm, gfn);
	bool fresh = false;
	hfn_t hfn;
	int err;

	if (!s)
		return -EFAULT;
	/* Lockless shortcut: mapped already (the common case for hypercall buffers). */
	if (ept_lookup(&vm->ept, gfn, NULL))
		return 0;
	/* A store slot's pages come from the store, never zero-filled. */
	if (s->store)
		return vm_store_populate(vm, s, gfn, GUEST_PROT);
	/* Huge backing: a whole block's run and leaf, unless it falls back to 4K pages. */
	if (s->blk && s->max_level > 1 && (err = vm_populate_huge(vm, s, gfn)) != -EAGAIN)
		return err;
	hfn = backing_frame(s, gfn, &fresh);
	if (hfn == INVALID_HFN)
		return -ENOMEM;
	/* The APIC-access page comes back (after an unmap) as vm_apic_access_init mapped it. */
	err = ept_map_page(&vm->ept, gfn, hfn, s->vmcs_named ? APIC_ACCESS_PROT : GUEST_PROT);
	if (err == -EEXIST)
		return 0;
	if (!err)
		STAT_INC(vm, populated[1]);
	if (!err && fresh)
		STAT_INC(vm, populates); /* frames allocated on demand */
	return err;
}

void *vm_gpa_to_hva(struct vm *vm, gpa_t gpa)
{
	struct memslot *s = vm_find_slot(vm, gpa_to_gfn(gpa));

	/* Set-up only: once a vCPU exists the page may move (migration, collapse by copy) and
	 * a pointer taken outside a walk would name a freed frame. Refused, not just asserted,
	 * so a release kernel fails loudly (NULL) instead of writing a frame it gave away. */
	ASSERT(vm->nvcpus == 0);
	if (!s || vm->nvcpus || vm_populate(vm, gpa_to_gfn(gpa)))
		return NULL;
	return (u8 *)phys_to_virt(hfn_to_hpa(slot_hfn(s, gpa_to_gfn(gpa)))) + (gpa & ~PAGE_MASK);
}

/* An aligned 8-byte copy is one access, so a guest polling a flag or counter the host sets
 * never sees it half written (memcpy is rep movsb). RELAXED: the walk_end after it (RELEASE)
 * orders it before the caller's next copy. */
static void chunk_copy(void *dst, const void *src, u64 n)
{
	if (n == sizeof(u64) && IS_ALIGNED((u64)dst | (u64)src, sizeof(u64)))
		__atomic_store_n((u64 *)dst, __atomic_load_n((const u64 *)src, __ATOMIC_RELAXED),
		                 __ATOMIC_RELAXED);
	else
		memcpy(dst, src, n);
}

/*
 * Copy n bytes (within one page) between the guest at gpa and buf, through the frame the EPT
 * maps right now. Inside a walk bracket, so a page being migrated or collapsed keeps its old
 * frame until we are done with it. A write waits while the hypervisor holds the page
 * read-only (MMU_WRITABLE clear: it is being copied) and is logged dirty like a guest write.
 */
static int guest_chunk(struct vm *vm, gpa_t gpa, void *buf, u64 n, bool write)
{
	for (;;) {
		int level = 0, err = vm_populate(vm, gpa_to_gfn(gpa));
		u32 token;
		u64 e;

		if (err)
			return err;
		token = ept_walk_begin(&vm->ept);
		e = ept_lookup(&vm->ept, gpa_to_gfn(gpa), &level);
		if (e && (!write || (e & EPT_MMU_WRITABLE))) {
			u64 in_leaf = gpa & ((PAGE_SIZE << ept_level_order(level)) - 1);
			u8 *hva = phys_to_virt(hfn_to_hpa(ept_hfn(e)) + in_leaf);

			if (write)
				chunk_copy(hva, buf, n);
			else
				chunk_copy(buf, hva, n);
			ept_walk_end(&vm->ept, token);
			if (write)
				ept_mark_dirty(&vm->ept, gpa_to_gfn(gpa));
			return 0;
		}
		ept_walk_end(&vm->ept, token);
		cpu_relax(); /* the page is being moved: its new frame is mapped in a moment */
	}
}

/* Copy [gpa, gpa + len) page by page; -EFAULT if any page lies outside every memslot. */
static int guest_copy(struct vm *vm, gpa_t gpa, u8 *buf, u64 len, bool write)
{
	u64 off = 0;

	if (gpa + len < gpa)
		return -EFAULT;
	while (off < len) {
		u64 n = MIN(len - off, PAGE_SIZE - ((gpa + off) & ~PAGE_MASK));
		const struct memslot *s = vm_find_slot(vm, gpa_to_gfn(gpa + off));

		/* The APIC-access page is no guest memory: the CPU never lets the guest see it. */
		if (!s || s->vmcs_named || guest_chunk(vm, gpa + off, buf + off, n, write))
			return -EFAULT;
		off += n;
	}
	return 0;
}

int vm_copy_from_guest(struct vm *vm, void *dst, gpa_t gpa, u64 len)
{
	return guest_copy(vm, gpa, dst, len, false);
}

int vm_copy_to_guest(struct vm *vm, gpa_t gpa, const void *src, u64 len)
{
	return guest_copy(vm, gpa, (u8 *)src, len, true);
}

/* Move the leaf mapping gfn: whole if it is 2M (or the 2M piece of a 1G leaf) and a 2M run
 * is free, else the one 4K page (splitting the leaf). *level: what moved. */
static int migrate_leaf(struct vm *vm, gfn_t gfn, int *level)
{
	hfn_t to = INVALID_HFN;
	int err, leaf = 0;

	/* Its frame is named by every VMCS: they are reloaded before the old one is freed. */
	if (vm_is_apic_access_gfn(vm, gfn)) {
		*level = 1;
		return vm_move_apic_access_page(vm);
	}
	*level = ept_lookup(&vm->ept, gfn, &leaf) && leaf >= 2 ? 2 : 1;
	if (*level == 2)
		to = frame_alloc_run(&frames, ept_level_order(2));
	if (to == INVALID_HFN) {
		*level = 1;
		to = frame_alloc(&frames);
	}
	if (to == INVALID_HFN)
		return -ENOMEM;
	err = ept_migrate(&vm->ept, gfn, to, *level);
	if (err)
		frame_free_run(&frames, to, ept_level_order(*level));
	return err;
}

int vm_migrate_page(struct vm *vm, gfn_t gfn)
{
	const struct memslot *s = vm_find_slot(vm, gfn);
	int level;

	/* A store slot's frames change only under its store's lock (vmx/store.c). */
	if (s && s->store)
		return -EBUSY;
	return migrate_leaf(vm, gfn, &level);
}

/* Move gfn (backed by a frame in the range) out, retrying while its leaf changes under us. */
static int compact_page(struct vm *vm, gfn_t gfn, struct vm_compact_stats *st, u64 *moved)
{
	int err = -EAGAIN, level = 0, lookup = 0;

	for (int tries = 0; tries < 16 && (err == -EAGAIN || err == -EBUSY); tries++) {
		st->retries += tries > 0;
		if (!ept_lookup(&vm->ept, gfn, &lookup)) {
			/* Backed but unmapped (zapped): map it, so it moves like the rest. */
			err = vm_populate(vm, gfn);
			st->populated += !err;
			if (err)
				return err;
		}
		err = migrate_leaf(vm, gfn, &level);
	}
	if (err)
		return err;
	if (level == 2) {
		st->leaves_2m++;
		*moved = ept_level_pages(2) - (gfn & (ept_level_pages(2) - 1));
	} else {
		st->pages_4k++;
		st->split += lookup > 1;
		*moved = 1;
	}
	return 0;
}

int vm_compact(struct vm *vm, hpa_t hpa, u64 bytes, struct vm_compact_stats *st)
{
	hfn_t lo = hpa_to_hfn(hpa), hi = hpa_to_hfn(hpa + bytes);
	u64 t0 = rdtsc();
	int first_err = 0;

	*st = (struct vm_compact_stats){ .frames = hi - lo };
	if (!bytes || !IS_ALIGNED(hpa | bytes, SZ_2M) || hpa + bytes < hpa)
		return -EINVAL;
	/* No destination, and no populate or table page meanwhile, lands in the range. */
	if (!frame_isolate(&frames, lo, hi))
		return -EBUSY;
	st->free_before = frame_free_in(&frames, lo, hi);
	for (int i = 0; i < vm->nslots; i++) {
		struct memslot *s = &vm->slots[i];
		u64 step;

		for (u64 p = 0; p < s->npages; p += step) {
			hfn_t hfn = slot_hfn(s, s->base_gfn + p);
			int err;

			step = 1;
			if (hfn == INVALID_HFN || hfn < lo || hfn >= hi)
				continue;
			if (s->store) {
				/* A store slot's frames change only under its store's lock
				 * (vmx/store.c): not moved, counted as left. */
				st->left++;
				continue;
			}
			err = compact_page(vm, s->base_gfn + p, st, &step);
			if (err && !first_err)
				first_err = err;
		}
		for (u64 p = 0; p < s->npages; p++) {
			hfn_t hfn = slot_hfn(s, s->base_gfn + p);

			st->left += hfn != INVALID_HFN && hfn >= lo && hfn < hi;
		}
	}
	/* The platform's frames that a VMCS names (the APIC-access page, virtual-APIC pages):
	 * only the platform knows how to make every vCPU let go of them. */
	if (vm->ops->evacuate) {
		long n = vm->ops->evacuate(vm, lo, hi);

		if (n < 0 && !first_err)
			first_err = (int)n;
		st->platform = n > 0 ? (u64)n : 0;
	}
	st->free_after = frame_free_in(&frames, lo, hi);
	frame_unisolate(&frames);
	st->cycles = rdtsc() - t0;
	return first_err;
}

static bool contains(const char *s, const char *text)
{
	size_t n = strlen(text);

	for (; *s; s++)
		if (!strncmp(s, text, n))
			return true;
	return false;
}

void vm_guest_line(struct vm *vm, int vcpu, const char *line)
{
	const char *mark = vmx_settings.guest_mark;

	/* One printk per line: lines of vCPUs on different CPUs never interleave. */
	if (vcpu < 0)
		printk("[guest %s] %s\n", vm->name, line);
	else
		printk("[guest %s/%d] %s\n", vm->name, vcpu, line);
	/* RELAXED: the load skips the scan once marked; the exchange only elects the one line
	 * that prints the mark. */
	if (mark && mark[0] && !__atomic_load_n(&vm->marked, __ATOMIC_RELAXED) &&
	    contains(line, mark) && !__atomic_exchange_n(&vm->marked, true, __ATOMIC_RELAXED))
		vm_report_mark(vm, mark);
}

static bool vcpu_out_of_guest(struct vcpu *v, u64 unused);

void vm_stop(struct vm *vm, int exit_reason, const char *fmt, ...)
{
	/* ACQ_REL exchange: exactly one caller wins and writes the reason. */
	if (!__atomic_exchange_n(&vm->stopping, true, __ATOMIC_ACQ_REL)) {
		va_list ap;

		va_start(ap, fmt);
		vsnprintf(vm->stop_reason, sizeof(vm->stop_reason), fmt, ap);
		va_end(ap);
		vm->stop_exit_reason = exit_reason;
	}
	/* Kick every other vCPU out of the guest; each checks `stopping` before re-entering. */
	for (int i = 0; i < vm->nvcpus; i++)
		if (vm->vcpus[i]->cpu != this_cpu_id() && vm->vcpus[i]->state == VCPU_RUNNING)
			vcpu_kick(vm->vcpus[i]);
	for (int i = 0; i < vm->nvcpus; i++)
		if (vm->vcpus[i]->cpu != this_cpu_id())
			vcpu_kick_until(vm->vcpus[i], vcpu_out_of_guest, 0);
}

/* Out of guest mode, or done for good (a stopping VM's vCPUs never re-enter). */
static bool vcpu_out_of_guest(struct vcpu *v, u64 unused)
{
	(void)unused;
	/* ACQUIRE: pairs with the vCPU's release stores of in_guest and state. */
	return !__atomic_load_n(&v->in_guest, __ATOMIC_ACQUIRE) ||
	       __atomic_load_n(&v->state, __ATOMIC_ACQUIRE) != VCPU_RUNNING;
}

s64 vm_dirty_log_harvest(struct vm *vm, struct ept_dirty_log *log, u64 *out)
{
	/* PML: entries still in a vCPU's buffer are in no log yet; every vCPU drains its
	 * buffer before it clears in_guest, so one sync round makes them all visible. */
	if (log->mode == EPT_DIRTY_PML)
		vm_sync_vcpus(vm);
	return ept_dirty_log_get_and_clear(&vm->ept, log, out);
}

void wait_vcpus_done(struct vm *vm)
{
	for (int i = 0; i < vm->nvcpus; i++)
		/* ACQUIRE: the vCPU's last guest writes are visible once we see it stopped. */
		while (__atomic_load_n(&vm->vcpus[i]->state, __ATOMIC_ACQUIRE) == VCPU_RUNNING)
			cpu_relax();
}

bool vm_any_vcpu_running(struct vm *vm)
{
	for (int i = 0; i < vm->nvcpus; i++)
		/* ACQUIRE: pairs with the vCPU's release of its final state. */
		if (__atomic_load_n(&vm->vcpus[i]->state, __ATOMIC_ACQUIRE) == VCPU_RUNNING)
			return true;
	return false;
}

int vm_prepopulate(struct vm *vm, gpa_t gpa, u64 npages)
{
	for (u64 p = 0; p < npages; p++)
		if (vm_populate(vm, gpa_to_gfn(gpa) + p))
			return -ENOMEM;
	return 0;
}
