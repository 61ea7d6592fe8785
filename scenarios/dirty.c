/*
 * The dirty-logging experiment, after KVM's dirty_log_test: guest vCPUs write round numbers
 * into pseudo-random pages of a region without pause, while a host task on CPU 0 harvests
 * the dirty log every round and copies exactly the dirty pages into a shadow copy. After
 * the guest stops and a final harvest, the shadow must equal guest memory byte for byte: a
 * page missing from any harvest would show as a difference. Runs in each mode: write-protect
 * (faults fixed on the lockless fast path), D-bit scanning and PML.
 */
#include "arch/cpu.h"
#include "drivers/console.h"
#include "drivers/timer.h"
#include "errno.h"
#include "guest_tests.h"
#include "lib.h"
#include "mm/mm.h"
#include "scenarios/experiments.h"
#include "scenarios/scenario.h"
#include "vmx/report.h"
#include "vmx/settings.h"
#include "vmx/vcpu.h"
#include "vmx/vmx.h"

#define DEFAULT_ROUNDS 50
#define ROUND_US       3000 /* guest time between harvests (emulated under Bochs) */

static const char *const mode_names[] = { "wp", "dbit", "pml" };

struct harvest {
	struct vm *vm;
	struct ept_dirty_log log;
	u64 *out;
	u8 *shadow;
	u8 *page; /* one guest page read for comparison */
	u64 rounds, pages;
	bool skip_flush; /* DIRTY_SKIP_FLUSH: show what the harvest's flush is for */
};

/* Every page of the region is backed before logging starts (as a migrating VM's would be). */
int dirty_setup(struct vm *vm, const struct scenario *sc)
{
	int mode = DIRTY_MODE(sc->arg);

	if (mode != EPT_DIRTY_WP && !vmx_caps.ept_ad)
		return -ENODEV;
	if (mode == EPT_DIRTY_PML && !vmx_caps.pml)
		return -ENODEV;
	vm->use_pml = mode == EPT_DIRTY_PML;
	return vm_prepopulate(vm, GT_DIRTY_GPA, GT_DIRTY_PAGES);
}

/* Copy page p of the region into buf, through the frame the EPT maps now (a harvest copies
 * while the guest runs, and the page may move). */
static void read_page(struct vm *vm, u64 p, u8 *buf)
{
	if (vm_copy_from_guest(vm, buf, GT_DIRTY_GPA + p * PAGE_SIZE, PAGE_SIZE))
		memset(buf, 0xff, PAGE_SIZE); /* never: the region is in slot 0 */
}

/* One harvest: collect the dirty bits, then copy exactly those pages. */
static void harvest_round(struct harvest *h)
{
	s64 n;

	h->vm->test_skip_flush = h->skip_flush;
	n = vm_dirty_log_harvest(h->vm, &h->log, h->out);
	h->vm->test_skip_flush = false;
	for (u64 p = 0; p < GT_DIRTY_PAGES; p++)
		if (h->out[p / 64] & BIT(p % 64))
			read_page(h->vm, p, h->shadow + p * PAGE_SIZE);
	h->pages += n;
	h->rounds++;
}

static u64 mismatched_pages(struct harvest *h)
{
	u64 bad = 0;

	for (u64 p = 0; p < GT_DIRTY_PAGES; p++) {
		read_page(h->vm, p, h->page);
		bad += memcmp(h->shadow + p * PAGE_SIZE, h->page, PAGE_SIZE) != 0;
	}
	return bad;
}

static void report(struct harvest *h, u64 bad, u64 writes)
{
	struct vcpu_stats s;

	vm_sum_vcpu_stats(h->vm, &s);
	printk("@json {\"dirty_log\":\"%s\",\"scenario\":\"%s\",\"platform\":\"%s\",\"vcpus\":%d,"
	       "\"rounds\":%lu,\"pages_harvested\":%lu,\"guest_writes\":%lu,\"fast\":%lu,"
	       "\"slow\":%lu,\"spurious\":%lu,\"pml_entries\":%lu,\"pml_full\":%lu,"
	       "\"flushes\":%lu,\"mismatched_pages\":%lu}\n",
	       mode_names[h->log.mode], h->vm->name, vmx_settings.platform, h->vm->nvcpus,
	       h->rounds, h->pages, writes, s.faults[EPT_FAULT_FIXED_FAST],
	       s.faults[EPT_FAULT_FIXED_SLOW], s.faults[EPT_FAULT_SPURIOUS], s.pml_entries,
	       s.pml_full, h->vm->ept.stats.flushes, bad);
}

static void check_mode(struct harvest *h, u64 writes)
{
	struct vcpu_stats s;

	vm_sum_vcpu_stats(h->vm, &s);
	vm_check(h->vm, VM_CHECK_HOST, writes > h->rounds,
	         "the guest wrote while we harvested (%lu writes)", writes);
	vm_check(h->vm, VM_CHECK_HOST, h->pages > 0, "harvests returned dirty pages (%lu)",
	         h->pages);
	if (h->log.mode == EPT_DIRTY_WP)
		vm_check(h->vm, VM_CHECK_HOST, s.faults[EPT_FAULT_FIXED_FAST] > 0,
		         "write faults fixed on the lockless fast path (%lu fast, %lu slow)",
		         s.faults[EPT_FAULT_FIXED_FAST], s.faults[EPT_FAULT_FIXED_SLOW]);
	if (h->log.mode == EPT_DIRTY_PML)
		vm_check(h->vm, VM_CHECK_HOST, s.pml_entries > 0,
		         "PML logged writes (%lu entries, %lu full exits)", s.pml_entries,
		         s.pml_full);
}

void dirty_host(struct vm *vm, const struct scenario *sc)
{
	struct harvest h = { .vm = vm, .skip_flush = sc->arg & DIRTY_SKIP_FLUSH };
	u64 rounds = sc->rounds ? sc->rounds : DEFAULT_ROUNDS;
	int err;

	h.log = (struct ept_dirty_log){ .gfn = gpa_to_gfn(GT_DIRTY_GPA),
		                        .npages = GT_DIRTY_PAGES,
		                        .mode = DIRTY_MODE(sc->arg) };
	h.log.bitmap = kzalloc(GT_DIRTY_PAGES / 8);
	h.out = kzalloc(GT_DIRTY_PAGES / 8);
	h.shadow = kzalloc(GT_DIRTY_PAGES * PAGE_SIZE);
	h.page = kzalloc(PAGE_SIZE);
	err = h.log.bitmap && h.out && h.shadow && h.page ? ept_dirty_log_enable(&vm->ept, &h.log)
	                                                  : -ENOMEM;
	vm_check(vm, VM_CHECK_HOST, err == 0, "dirty log enabled in %s mode (error %d)",
	         mode_names[h.log.mode], err);
	for (u64 p = 0; !err && p < GT_DIRTY_PAGES; p++)
		read_page(vm, p, h.shadow + p * PAGE_SIZE);
	/* Without the flush, a few hot pages the writer keeps in its TLB show the loss best. */
	ctrl_set(vm, CTRL_GPA(span), (sc->arg & DIRTY_HOT_PAGES) ? 8 : 0);
	ctrl_set(vm, CTRL_GPA(go), 1);
	for (u64 r = 1; !err && r <= rounds && !vm->stopping; r++) {
		udelay(ROUND_US);
		harvest_round(&h);
		ctrl_set(vm, CTRL_GPA(round), r);
	}
	ctrl_set(vm, CTRL_GPA(stop), 1);
	wait_vcpus_done(vm);
	if (!err) {
		u64 writes = 0, bad;

		harvest_round(&h); /* the final one, with the guest stopped */
		bad = mismatched_pages(&h);
		ept_dirty_log_disable(&vm->ept, &h.log);
		for (int i = 0; i < vm->nvcpus; i++)
			writes += ctrl_get(vm, CTRL_GPA(writes) + i * sizeof(u64));
		report(&h, bad, writes);
		if (h.skip_flush)
			printk("dirty: with the harvest's flush skipped, %lu page(s) were lost: "
			       "written through stale writable translations after "
			       "re-protection%s\n",
			       bad, bad ? "" : " (none on this run: the window was not hit)");
		else
			vm_check(vm, VM_CHECK_HOST, bad == 0,
			         "shadow copy equals guest memory "
			         "after %lu rounds (%lu pages differ)",
			         h.rounds, bad);
		check_mode(&h, writes);
	}
	kfree(h.page, PAGE_SIZE);
	kfree(h.shadow, GT_DIRTY_PAGES * PAGE_SIZE);
	kfree(h.out, GT_DIRTY_PAGES / 8);
	kfree(h.log.bitmap, GT_DIRTY_PAGES / 8);
}
