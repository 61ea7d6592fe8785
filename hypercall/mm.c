/*
 * The memory-management hypercalls a guest agent uses: HC_IDLE_SCAN (A/D idle tracking)
 * and HC_DIRTY_LOG (a guest-driven dirty log). They take their arguments from a struct in
 * guest memory; everything is checked before use: the struct and every buffer lie in the
 * VM's memslots and are aligned, the scanned or logged range lies in one memslot, lengths
 * are bounded. The scan state belongs to the VM's agent tracker, not to the EPT.
 */
#include "drivers/console.h"
#include "errno.h"
#include "hypercall.h"
#include "hypercall/mm.h"
#include "hypercall/testguest.h"
#include "lib.h"
#include "mm/mm.h"
#include "vmx/settings.h"
#include "vmx/vcpu.h"
#include "vmx/vmx.h"

#define MAX_EXTENTS 512

static u64 bitmap_bytes(u64 npages)
{
	return ALIGN_UP(npages, 64) / 8;
}

/* The agent state lives in the test-guest platform's per-VM state. */
static struct vm_agent *agent_of(struct vm *vm)
{
	return &to_testguest_vm(vm)->agent;
}

/* The range [gpa, +npages pages) is page-aligned, bounded and inside one memslot. */
static int check_range(struct vm *vm, u64 gpa, u64 npages, u64 max)
{
	struct memslot *s;

	if (!npages || !IS_ALIGNED(gpa, PAGE_SIZE))
		return -EINVAL;
	if (npages > max)
		return -E2BIG;
	s = vm_find_slot(vm, gpa_to_gfn(gpa));
	if (!s || gpa_to_gfn(gpa) + npages > s->base_gfn + s->npages)
		return -EFAULT;
	return 0;
}

/* Copy a bitmap out to the guest at gpa (0: not wanted); -EINVAL if misaligned. */
static int put_bitmap(struct vm *vm, u64 gpa, const u64 *bm, u64 npages)
{
	if (!gpa)
		return 0;
	if (!IS_ALIGNED(gpa, 8))
		return -EINVAL;
	return vm_copy_to_guest(vm, gpa, bm, bitmap_bytes(npages)) ? -EFAULT : 0;
}

static int get_args(struct vm *vm, u64 gpa, void *args, u64 size)
{
	if (!IS_ALIGNED(gpa, 8))
		return -EINVAL;
	return vm_copy_from_guest(vm, args, gpa, size) ? -EFAULT : 0;
}

/* (Re)register the agent tracker over exactly this range. */
static int agent_tracker(struct vm *vm, gfn_t gfn, u64 npages)
{
	struct ept_tracker *t = &agent_of(vm)->tracker;

	if (t->young && t->gfn == gfn && t->npages == npages)
		return 0;
	agent_tracker_free(vm);
	t->young = kzalloc(bitmap_bytes(npages));
	if (!t->young)
		return -ENOMEM;
	t->gfn = gfn;
	t->npages = npages;
	return ept_tracker_add(&vm->ept, t);
}

void agent_tracker_free(struct vm *vm)
{
	struct ept_tracker *t = &agent_of(vm)->tracker;

	if (!t->young)
		return;
	ept_tracker_del(&vm->ept, t);
	kfree(t->young, bitmap_bytes(t->npages));
	t->young = NULL;
}

static void count_extents(struct hc_scan *a, const struct ept_scan *sc)
{
	for (u32 i = 0; i < sc->nr_ext; i++)
		if (sc->ext[i].level >= 1 && sc->ext[i].level <= 3)
			a->by_level[sc->ext[i].level][sc->ext[i].state] += sc->ext[i].npages;
	a->extents = sc->nr_ext;
	for (int s = 0; s < 3; s++)
		a->pages[s] = sc->pages[s];
}

static void print_round(struct vm *vm, const struct hc_scan *a)
{
	static const char *const sz[4] = { "", "4k", "2m", "1g" };
	char by[256];
	size_t n = 0;

	for (int l = 1; l <= 3; l++)
		n += snprintf(by + n, sizeof(by) - n, "%s\"%s\":{\"idle\":%llu,\"accessed\":%llu}",
		              l > 1 ? "," : "", sz[l], a->by_level[l][EPT_PAGE_IDLE],
		              a->by_level[l][EPT_PAGE_ACCESSED]);
	printk("@json {\"idle_scan\":%lu,\"scenario\":\"%s\",\"platform\":\"%s\",\"gpa\":%llu,"
	       "\"npages\":%llu,\"clear\":%s,\"hole\":%llu,\"idle\":%llu,\"accessed\":%llu,"
	       "\"by_size\":{%s},\"extents\":%llu}\n",
	       ++agent_of(vm)->rounds, vm->name, vmx_settings.platform, a->gpa, a->npages,
	       (a->flags & HC_SCAN_CLEAR) ? "true" : "false", a->pages[EPT_PAGE_HOLE],
	       a->pages[EPT_PAGE_IDLE], a->pages[EPT_PAGE_ACCESSED], by, a->extents);
}

static s64 do_scan(struct vm *vm, struct hc_scan *a, struct ept_scan *sc)
{
	int err = agent_tracker(vm, gpa_to_gfn(a->gpa), a->npages);

	if (!err)
		err = ept_scan(&vm->ept, &agent_of(vm)->tracker, sc, a->flags & HC_SCAN_CLEAR);
	if (err)
		return err;
	count_extents(a, sc);
	print_round(vm, a);
	err = put_bitmap(vm, a->idle_gpa, sc->idle, a->npages);
	return err ? err : put_bitmap(vm, a->hole_gpa, sc->hole, a->npages);
}

static s64 idle_scan(struct vcpu *v, u64 args_gpa)
{
	struct hc_scan a;
	struct ept_scan sc = { .max_ext = MAX_EXTENTS };
	s64 err;

	if (!vmx_caps.ept_ad)
		return -ENODEV;
	err = get_args(v->vm, args_gpa, &a, sizeof(a));
	if (!err)
		err = check_range(v->vm, a.gpa, a.npages, HC_SCAN_MAX_PAGES);
	if (!err && (a.flags & ~(u64)HC_SCAN_CLEAR))
		err = -EINVAL;
	if (err)
		return err;
	memset(a.by_level, 0, sizeof(a.by_level));
	sc.idle = kzalloc(bitmap_bytes(a.npages));
	sc.hole = kzalloc(bitmap_bytes(a.npages));
	sc.ext = kzalloc(MAX_EXTENTS * sizeof(*sc.ext));
	err = sc.idle && sc.hole && sc.ext ? do_scan(v->vm, &a, &sc) : -ENOMEM;
	if (!err && vm_copy_to_guest(v->vm, args_gpa, &a, sizeof(a)))
		err = -EFAULT;
	kfree(sc.ext, MAX_EXTENTS * sizeof(*sc.ext));
	kfree(sc.hole, bitmap_bytes(a.npages));
	kfree(sc.idle, bitmap_bytes(a.npages));
	return err ? err : (s64)a.npages;
}

/* ---- the guest-driven dirty log -------------------------------------------------------- */

static s64 dirty_enable(struct vm *vm, const struct hc_dirty *d)
{
	struct ept_dirty_log *log = &agent_of(vm)->log;
	s64 err = check_range(vm, d->gpa, d->npages, HC_SCAN_MAX_PAGES);

	if (err)
		return err;
	if (d->mode > EPT_DIRTY_PML || (d->mode != EPT_DIRTY_WP && !vmx_caps.ept_ad) ||
	    (d->mode == EPT_DIRTY_PML && !vm->use_pml))
		return d->mode > EPT_DIRTY_PML ? -EINVAL : -ENODEV;
	if (log->bitmap)
		return -EBUSY;
	*log = (struct ept_dirty_log){ .gfn = gpa_to_gfn(d->gpa),
		                       .npages = d->npages,
		                       .mode = d->mode };
	log->bitmap = kzalloc(bitmap_bytes(d->npages));
	err = log->bitmap ? ept_dirty_log_enable(&vm->ept, log) : -ENOMEM;
	if (err)
		agent_log_free(vm);
	return err;
}

static s64 dirty_harvest(struct vm *vm, const struct hc_dirty *d)
{
	struct ept_dirty_log *log = &agent_of(vm)->log;
	u64 *out;
	s64 n;

	if (!log->bitmap)
		return -ENOENT;
	if (!d->bitmap_gpa || !IS_ALIGNED(d->bitmap_gpa, 8))
		return -EINVAL;
	out = kzalloc(bitmap_bytes(log->npages));
	if (!out)
		return -ENOMEM;
	n = vm_dirty_log_harvest(vm, log, out);
	if (put_bitmap(vm, d->bitmap_gpa, out, log->npages))
		n = -EFAULT; /* the bits are gone: the guest asked for them at a bad address */
	kfree(out, bitmap_bytes(log->npages));
	return n;
}

void agent_log_free(struct vm *vm)
{
	struct ept_dirty_log *log = &agent_of(vm)->log;

	if (!log->bitmap)
		return;
	/* The huge leaves it split come back in place (ept_dirty_log_disable). */
	ept_dirty_log_disable(&vm->ept, log);
	kfree(log->bitmap, bitmap_bytes(log->npages));
	log->bitmap = NULL;
}

static s64 dirty_log(struct vcpu *v, u64 op, u64 args_gpa)
{
	struct hc_dirty d;
	s64 err;

	if (op == HC_DIRTY_DISABLE) {
		if (!agent_of(v->vm)->log.bitmap)
			return -ENOENT;
		agent_log_free(v->vm);
		return 0;
	}
	if (op != HC_DIRTY_ENABLE && op != HC_DIRTY_HARVEST)
		return -EINVAL;
	err = get_args(v->vm, args_gpa, &d, sizeof(d));
	if (err)
		return err;
	return op == HC_DIRTY_ENABLE ? dirty_enable(v->vm, &d) : dirty_harvest(v->vm, &d);
}

/*
 * The agent's tracker and log are shared by every vCPU of the VM: one agent call at a time.
 * Holding the lock across a flush cannot deadlock: a vCPU spinning for it is in root mode
 * (in_guest clear), and the flush never waits for such a CPU. Nor across a grace period
 * (disabling the log): a vCPU spins for it offline (ept_spin_lock), and a grace period
 * never waits for an offline CPU.
 */
s64 hc_idle_scan(struct vcpu *v, u64 args_gpa, u64 a1, u64 a2)
{
	s64 ret;

	(void)a1, (void)a2;
	ept_spin_lock(&agent_of(v->vm)->lock);
	ret = idle_scan(v, args_gpa);
	spin_unlock(&agent_of(v->vm)->lock);
	return ret;
}

s64 hc_dirty_log(struct vcpu *v, u64 op, u64 args_gpa, u64 a2)
{
	s64 ret;

	(void)a2;
	ept_spin_lock(&agent_of(v->vm)->lock);
	ret = dirty_log(v, op, args_gpa);
	spin_unlock(&agent_of(v->vm)->lock);
	return ret;
}
