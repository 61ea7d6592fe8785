/* The reclaim policy for lazily backed memslots: the kernel's side (see reclaim.h). */
#include "arch/cpu.h"
#include "drivers/timer.h"
#include "ept/bitmap.h"
#include "errno.h"
#include "lib.h"
#include "mm/mm.h"
#include "vmx/reclaim.h"
#include "vmx/settings.h"
#include "vmx/store.h"
#include "vmx/vm.h"

#define BATCH 16 /* victims asked for at once */

static u64 map_bytes(const struct ept_store *st)
{
	return bitmap_words(st->npages) * sizeof(u64);
}

void vm_reclaim_free(struct vm_store *vs)
{
	struct vm_reclaim *rc = vs->reclaim;

	if (!rc)
		return;
	ept_tracker_del(vs->st.ept, &rc->t);
	kfree(rc->young, map_bytes(&vs->st));
	kfree(rc->idle, map_bytes(&vs->st));
	kfree(rc->hole, map_bytes(&vs->st));
	kfree(rc, sizeof(*rc));
	vs->reclaim = NULL;
}

/* vs's reclaim state, made and its tracker registered on first use; NULL: no memory. */
static struct vm_reclaim *reclaim_of(struct vm_store *vs)
{
	struct vm_reclaim *rc = vs->reclaim;

	if (rc)
		return rc;
	rc = kzalloc(sizeof(*rc));
	if (!rc)
		return NULL;
	vs->reclaim = rc; /* from here on vm_reclaim_free frees what there is */
	rc->young = kzalloc(map_bytes(&vs->st));
	rc->idle = kzalloc(map_bytes(&vs->st));
	rc->hole = kzalloc(map_bytes(&vs->st));
	rc->t = (struct ept_tracker){ .gfn = vs->st.base,
		                      .npages = vs->st.npages,
		                      .young = rc->young };
	if (!rc->young || !rc->idle || !rc->hole || ept_tracker_add(vs->st.ept, &rc->t)) {
		vm_reclaim_free(vs); /* its del finds nothing when the add did not happen */
		return NULL;
	}
	return rc;
}

/* A scanning round over vs: clear and collect the A bits (the scan flushes, so a cached
 * translation cannot hide an access from the next round), then age the pages. */
static int reclaim_round(struct vm_store *vs, struct vm_reclaim *rc)
{
	struct ept_scan out = { .idle = rc->idle, .hole = rc->hole };
	int err = ept_scan(vs->st.ept, &rc->t, &out, true);

	if (err)
		return err;
	/* Accessed = mapped and not idle; reuses idle[] for it. */
	for (u64 w = 0; w < bitmap_words(vs->st.npages); w++)
		rc->idle[w] = ~(rc->idle[w] | rc->hole[w]);
	ept_store_age(&vs->st, rc->idle);
	rc->rounds++;
	rc->last_round = rdtsc();
	return 0;
}

/* Evict up to `over` of vs's oldest pages; returns how many went. */
static u64 reclaim_trim(struct vm *vm, struct vm_store *vs, struct vm_reclaim *rc, u64 over,
                        u32 idle_rounds)
{
	gfn_t victims[BATCH];
	u8 ages[BATCH];
	u64 done = 0;

	while (done < over) {
		u64 n = ept_store_victims(&vs->st, victims, ages, MIN(over - done, BATCH)),
		    went = 0;

		for (u64 k = 0; k < n; k++) {
			if (vm_store_evict(vm, victims[k])) {
				rc->busy++;
				continue;
			}
			went++;
			rc->forced += ages[k] < idle_rounds;
		}
		rc->evictions += went;
		done += went;
		if (!went)
			break;
	}
	return done;
}

u64 vm_store_resident(struct vm *vm)
{
	u64 n = 0;

	for (int i = 0; i < vm->nslots; i++)
		if (vm->slots[i].store)
			n += ept_store_resident(&vm->slots[i].store->st);
	return n;
}

int vm_store_reclaim(struct vm *vm, u64 limit, u32 idle_rounds, bool scan)
{
	u64 resident = vm_store_resident(vm), evicted = 0;

	for (int i = 0; i < vm->nslots; i++) {
		struct vm_store *vs = vm->slots[i].store;
		struct vm_reclaim *rc;
		int err;
		u64 n;

		if (!vs)
			continue;
		rc = reclaim_of(vs);
		if (!rc)
			return -ENOMEM;
		err = scan ? reclaim_round(vs, rc) : 0;
		if (err)
			return err;
		if (resident <= limit + evicted)
			continue;
		n = reclaim_trim(vm, vs, rc, resident - limit - evicted, idle_rounds);
		evicted += n;
	}
	return (int)evicted;
}

u64 vm_store_reclaim_limit(void)
{
	return (vmx_settings.guest_resident + PAGE_SIZE - 1) >> PAGE_SHIFT;
}

int vm_store_reclaim_poll(struct vm *vm, u64 limit)
{
	u64 period = tsc_hz / 1000000 * vmx_settings.reclaim_period_us;
	bool scan = false;

	if (!limit)
		return 0;
	for (int i = 0; i < vm->nslots; i++) {
		struct vm_store *vs = vm->slots[i].store;

		if (vs && (!vs->reclaim || rdtsc() - vs->reclaim->last_round >= period))
			scan = true;
	}
	if (!scan && vm_store_resident(vm) <= limit)
		return 0;
	return vm_store_reclaim(vm, limit, vmx_settings.reclaim_idle_rounds, scan);
}
