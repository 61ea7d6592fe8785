/*
 * Compaction under a running guest (issue 14, 5b). The VM has a 16 MiB slot of 2M runs; a
 * write-protect dirty log over its first half splits those leaves to 4K (their frames stay
 * in the runs), the second half keeps its 2M leaves (logged by D bits when the CPU has EPT
 * A/D). A vCPU on another CPU keeps rewriting and checking pseudo-random pages. The host
 * task copies the whole slot into a shadow, harvests, compacts the host-physical range the
 * slot's runs occupy (vm_compact: 4K leaves one by one, 2M leaves whole), harvests again,
 * stops the guest and harvests a last time, copying exactly the dirty pages into the shadow
 * each round. Then: the guest finds no stale word (no write lost), the shadow equals guest
 * memory (no dirty page lost) and the range is free in the allocator.
 */
#include "arch/cpu.h"
#include "drivers/console.h"
#include "drivers/timer.h"
#include "errno.h"
#include "guest_tests.h"
#include "lib.h"
#include "mm/mm.h"
#include "scenarios/experiments.h"
#include "vmx/report.h"
#include "vmx/settings.h"
#include "vmx/vcpu.h"
#include "vmx/vmx.h"

#define PAGES      ((u64)(GT_COMPACT_BYTES / PAGE_SIZE))
#define HALF       (PAGES / 2)
#define ROUNDS     3 /* harvest rounds before and after the compaction */
#define ROUND_STEP 4 /* guest progress (units of 256 rewrites) between two rounds */
#define SLOT_GFN   gpa_to_gfn(GT_COMPACT_GPA)

struct compact {
	struct vm *vm;
	struct ept_dirty_log log[2]; /* [0] WP over the first half, [1] D bits over the second */
	int nlogs;
	u64 *out;
	u8 *shadow, *page;
	u64 harvested;
};

int compact_setup(struct vm *vm, const struct scenario *sc)
{
	(void)sc;
	return vm_add_huge_slot(vm, GT_COMPACT_GPA, GT_COMPACT_BYTES, 2);
}

static void print_leaves(struct vm *vm, const char *when)
{
	const struct ept_stats *s = &vm->ept.stats;

	printk("@json {\"compact_leaves\":\"%s\",\"scenario\":\"%s\",\"platform\":\"%s\","
	       "\"4k\":%lu,\"2m\":%lu}\n",
	       when, vm->name, vmx_settings.platform, s->leaves[1], s->leaves[2]);
}

static void read_page(struct vm *vm, u64 p, u8 *buf)
{
	if (vm_copy_from_guest(vm, buf, GT_COMPACT_GPA + p * PAGE_SIZE, PAGE_SIZE))
		memset(buf, 0xff, PAGE_SIZE); /* never: the page is in the slot */
}

static void harvest(struct compact *c)
{
	for (int i = 0; i < c->nlogs; i++) {
		struct ept_dirty_log *l = &c->log[i];
		s64 n = vm_dirty_log_harvest(c->vm, l, c->out);

		for (u64 p = 0; n > 0 && p < l->npages; p++)
			if (c->out[p / 64] & BIT(p % 64))
				read_page(c->vm, l->gfn - SLOT_GFN + p,
				          c->shadow + (l->gfn - SLOT_GFN + p) * PAGE_SIZE);
		c->harvested += n > 0 ? (u64)n : 0;
	}
}

static void wait_guest(struct vm *vm, u64 steps)
{
	u64 seen = ctrl_get(vm, CTRL_GPA(passes[0]));

	while (ctrl_get(vm, CTRL_GPA(passes[0])) < seen + steps && !vm->stopping)
		cpu_relax();
}

/* How many of the slot's pages are backed by frames in [lo, hi). */
static u64 frames_in(struct vm *vm, hfn_t lo, hfn_t hi)
{
	struct memslot *s = vm_find_slot(vm, SLOT_GFN);
	u64 n = 0;

	for (u64 p = 0; p < s->npages; p++)
		n += s->backing[p] >= lo && s->backing[p] < hi;
	return n;
}

/* The host-physical range the slot's frames occupy: [*lo, *hi) in frames. */
static void slot_range(struct vm *vm, hfn_t *lo, hfn_t *hi)
{
	struct memslot *s = vm_find_slot(vm, SLOT_GFN);

	*lo = INVALID_HFN;
	*hi = 0;
	for (u64 p = 0; p < s->npages; p++) {
		*lo = MIN(*lo, s->backing[p]);
		*hi = MAX(*hi, s->backing[p] + 1);
	}
}

static u64 mismatched(struct compact *c)
{
	u64 bad = 0;

	for (u64 p = 0; p < PAGES; p++) {
		read_page(c->vm, p, c->page);
		bad += memcmp(c->shadow + p * PAGE_SIZE, c->page, PAGE_SIZE) != 0;
	}
	return bad;
}

static int enable_logs(struct compact *c)
{
	c->log[0] = (struct ept_dirty_log){ .gfn = SLOT_GFN, .npages = HALF, .mode = EPT_DIRTY_WP };
	c->log[1] = (struct ept_dirty_log){ .gfn = SLOT_GFN + HALF,
		                            .npages = HALF,
		                            .mode = EPT_DIRTY_DBIT };
	/* Without EPT A/D the second half is not logged (and its shadow never changes). */
	for (int i = 0; i < (vmx_caps.ept_ad ? 2 : 1); i++) {
		c->log[i].bitmap = kzalloc(HALF / 8);
		if (!c->log[i].bitmap)
			return -ENOMEM;
		int err = ept_dirty_log_enable(&c->vm->ept, &c->log[i]);

		if (err)
			return err;
		c->nlogs = i + 1;
	}
	return 0;
}

void compact_host(struct vm *vm, const struct scenario *sc)
{
	struct compact c = { .vm = vm };
	struct vm_compact_stats st;
	u64 guest_before, guest_during, left, bad = 0;
	hfn_t lo, hi;
	int err;

	(void)sc;
	c.out = kzalloc(HALF / 8);
	c.shadow = kzalloc(GT_COMPACT_BYTES);
	c.page = kzalloc(PAGE_SIZE);
	wait_guest(vm, 1); /* the guest has filled the slot */
	slot_range(vm, &lo, &hi);
	print_leaves(vm, "before");
	err = c.out && c.shadow && c.page ? enable_logs(&c) : -ENOMEM;
	vm_check(vm, VM_CHECK_HOST, !err,
	         "dirty logs on: write-protect over the first half, %s over the second (error "
	         "%d)",
	         vmx_caps.ept_ad ? "D bits" : "none (no EPT A/D)", err);
	print_leaves(vm, "dirty logging on");
	for (u64 p = 0; !err && p < PAGES; p++)
		read_page(vm, p, c.shadow + p * PAGE_SIZE);
	for (int r = 0; !err && r < ROUNDS; r++) {
		wait_guest(vm, ROUND_STEP);
		harvest(&c);
	}
	guest_before = ctrl_get(vm, CTRL_GPA(passes[0]));
	if (!err)
		err = vm_compact(vm, hfn_to_hpa(lo), hfn_to_hpa(hi - lo), &st);
	guest_during = ctrl_get(vm, CTRL_GPA(passes[0])) - guest_before;
	print_leaves(vm, "compacted");
	left = frames_in(vm, lo, hi);
	for (int r = 0; !err && r < ROUNDS; r++) {
		wait_guest(vm, ROUND_STEP);
		harvest(&c);
	}
	ctrl_set(vm, CTRL_GPA(stop), 1);
	wait_vcpus_done(vm);
	if (!err) {
		harvest(&c); /* the last one, with the guest stopped */
		bad = mismatched(&c);
	}
	for (int i = 0; i < c.nlogs; i++)
		ept_dirty_log_disable(&vm->ept, &c.log[i]);
	vm_check(vm, VM_CHECK_HOST, !err && hi - lo == PAGES,
	         "the slot's frames fill one range of %lu MiB at 0x%lx (error %d)",
	         (u64)((hi - lo) * PAGE_SIZE / MIB), hfn_to_hpa(lo), err);
	if (err)
		goto out;
	printk("@json {\"compact\":\"%s\",\"platform\":\"%s\",\"range_mib\":%lu,\"frames\":%lu,"
	       "\"free_before\":%lu,\"free_after\":%lu,\"pages_4k\":%lu,\"leaves_2m\":%lu,"
	       "\"split\":%lu,\"retries\":%lu,\"left\":%lu,\"cycles\":%lu,\"us\":%lu,"
	       "\"guest_steps_during\":%lu,\"harvested\":%lu,\"lost_dirty_pages\":%lu,"
	       "\"logs\":%d}\n",
	       vm->name, vmx_settings.platform, (u64)(st.frames * PAGE_SIZE / MIB), st.frames,
	       st.free_before, st.free_after, st.pages_4k, st.leaves_2m, st.split, st.retries,
	       st.left, st.cycles, st.cycles / (tsc_hz / 1000000), guest_during * 256, c.harvested,
	       bad, c.nlogs);
	vm_check(vm, VM_CHECK_HOST, st.pages_4k == HALF && st.leaves_2m == HALF / 512,
	         "moved every leaf of the range: %lu 4K pages and %lu 2M leaves whole (of %lu "
	         "and %lu)",
	         st.pages_4k, st.leaves_2m, HALF, HALF / 512);
	vm_check(vm, VM_CHECK_HOST, st.left == 0 && left == 0,
	         "no guest frame left in the range (%lu by vm_compact's count, %lu by the slot's)",
	         st.left, left);
	vm_check(vm, VM_CHECK_HOST, st.free_after == st.frames,
	         "the range is free in the allocator (%lu of %lu frames)", st.free_after,
	         st.frames);
	vm_check(vm, VM_CHECK_HOST, vm->ept.stats.leaves[2] >= HALF / 512,
	         "2M leaves are still 2M after the move (%lu)", vm->ept.stats.leaves[2]);
	vm_check(vm, VM_CHECK_HOST, guest_during > 0,
	         "the guest ran during the compaction (%lu page rewrites)", guest_during * 256);
	vm_check(vm, VM_CHECK_HOST, bad == 0 && c.harvested > 0,
	         "no dirty page lost: the shadow equals guest memory (%lu pages differ, %lu "
	         "harvested)",
	         bad, c.harvested);
out:
	for (int i = 0; i < 2; i++)
		if (c.log[i].bitmap)
			kfree(c.log[i].bitmap, HALF / 8);
	kfree(c.page, PAGE_SIZE);
	kfree(c.shadow, GT_COMPACT_BYTES);
	kfree(c.out, HALF / 8);
}
