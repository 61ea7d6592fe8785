/*
 * The slow backing store's protocol (see store.h). One I/O task calls ept_store_service (its
 * channels are its own); populates and evictions may come from any CPU.
 */
#include "ept/env.h"
#include "ept/store.h"
#include "errno.h"
#include "kassert.h"
#include "lib.h"

void ept_store_init(struct ept_store *st, struct ept *ept, gfn_t base, u64 npages,
                    const struct ept_store_arrays *a, u64 latency, u32 depth)
{
	*st = (struct ept_store){ .ept = ept,
		                  .base = base,
		                  .npages = npages,
		                  .backing = a->backing,
		                  .data = a->data,
		                  .state = a->state,
		                  .pins = a->pins,
		                  .queue = a->queue,
		                  .queued_at = a->queued_at,
		                  .latency = latency,
		                  .depth = depth < 1                     ? 1
		                           : depth > EPT_STORE_MAX_DEPTH ? EPT_STORE_MAX_DEPTH
		                                                         : depth };
}

static bool in_store(const struct ept_store *st, gfn_t gfn)
{
	return gfn >= st->base && gfn - st->base < st->npages;
}

int ept_store_populate(struct ept_store *st, gfn_t gfn, u64 prot, u64 now)
{
	u64 i = gfn - st->base;
	int r = -EINPROGRESS;

	if (!in_store(st, gfn))
		return -ERANGE;
	ept_spin_lock(&st->lock);
	switch (st->state[i]) {
	case STORE_RESIDENT:
		/* Checked and mapped in one hold of the lock: an eviction sets EVICTING under it,
		 * so this map is either before (its unmap removes it) or never happens. */
		r = ept_map_page(st->ept, gfn, st->backing[i], prot);
		r = r == -EEXIST ? 0 : r;
		break;
	case STORE_ABSENT:
		/* RELAXED store: read under the lock, or as a hint by ept_store_settled. */
		__atomic_store_n(&st->state[i], STORE_FETCHING, __ATOMIC_RELAXED);
		st->queue[st->tail++ % st->npages] = i; /* never full: a page is queued once */
		st->queued_at[i] = now;
		st->stats.requests++;
		if (st->evicted && (st->evicted[i / 64] & 1ULL << (i % 64))) {
			st->evicted[i / 64] &= ~(1ULL << (i % 64));
			st->stats.refaults++;
		}
		st->stats.queue_max = MAX(st->stats.queue_max, st->tail - st->head);
		break;
	default: /* in flight: the caller waits for it to settle */
		st->stats.busy++;
		break;
	}
	spin_unlock(&st->lock);
	return r;
}

bool ept_store_settled(struct ept_store *st, gfn_t gfn)
{
	/* RELAXED: a hint for a waiter, which faults again and decides under the lock. */
	u8 s = __atomic_load_n(&st->state[gfn - st->base], __ATOMIC_RELAXED);

	return s != STORE_FETCHING && s != STORE_EVICTING;
}

/* Fill a fresh frame with page i's contents, then publish it. */
static int complete(struct ept_store *st, u64 i, u64 now)
{
	hfn_t f = ept_env_alloc_data(1);
	u8 *dst;

	if (f == INVALID_HFN)
		return -ENOMEM;
	dst = ept_env_data_va(f);
	memcpy(dst, st->data + i * PAGE_SIZE, PAGE_SIZE / 2);
	if (st->copy_hook)
		st->copy_hook(st, i);
	memcpy(dst + PAGE_SIZE / 2, st->data + i * PAGE_SIZE + PAGE_SIZE / 2, PAGE_SIZE / 2);
	ept_spin_lock(&st->lock);
	/* RELEASE: the frame's contents are visible before its hfn (the unlock orders it for
	 * populate too; the slot's other readers load backing[] ACQUIRE). */
	__atomic_store_n(&st->backing[i], f, __ATOMIC_RELEASE);
	/* RELAXED store: read under the lock, or as a hint by ept_store_settled. */
	__atomic_store_n(&st->state[i], STORE_RESIDENT, __ATOMIC_RELAXED);
	if (st->age)
		st->age[i] = 0; /* just touched: not a victim before it has been idle */
	/* RELAXED: under the lock; ept_store_resident reads it as a snapshot. */
	__atomic_store_n(&st->resident, st->resident + 1, __ATOMIC_RELAXED);
	st->stats.resident_max = MAX(st->stats.resident_max, st->resident);
	st->stats.fetches++;
	st->stats.lat_sum += now - st->queued_at[i];
	st->stats.lat_max = MAX(st->stats.lat_max, now - st->queued_at[i]);
	spin_unlock(&st->lock);
	return 1;
}

int ept_store_service(struct ept_store *st, u64 now)
{
	int done = 0;

	for (u32 c = 0; c < st->depth; c++) {
		if (st->chan[c].busy && now >= st->chan[c].done_at) {
			int r = complete(st, st->chan[c].page, now);

			if (r < 0)
				return done ? done : r;
			st->chan[c].busy = false;
			done++;
		}
		if (st->chan[c].busy)
			continue;
		ept_spin_lock(&st->lock);
		if (st->head != st->tail) {
			st->chan[c].page = st->queue[st->head++ % st->npages];
			st->chan[c].done_at = now + st->latency;
			st->chan[c].busy = true;
		}
		spin_unlock(&st->lock);
	}
	return done;
}

int ept_store_evict(struct ept_store *st, gfn_t gfn)
{
	u64 i = gfn - st->base;
	hfn_t f;
	int err;

	if (!in_store(st, gfn))
		return -ERANGE;
	ept_spin_lock(&st->lock);
	/* The pin is read under the lock that ept_store_pin takes: a pin is either seen here
	 * or made after EVICTING is set (and its pinner fetches the page back). */
	if (st->state[i] != STORE_RESIDENT || st->pins[i]) {
		spin_unlock(&st->lock);
		return -EBUSY;
	}
	/* From here on no populate maps the page (it checks the state under this lock). */
	__atomic_store_n(&st->state[i], STORE_EVICTING, __ATOMIC_RELAXED);
	f = st->backing[i];
	spin_unlock(&st->lock);
	/* The unmap flushes: once it returns no vCPU holds a translation that can write f. */
	err = ept_unmap(st->ept, gfn, 1);
	if (err) {
		ept_spin_lock(&st->lock);
		__atomic_store_n(&st->state[i], STORE_RESIDENT, __ATOMIC_RELAXED);
		spin_unlock(&st->lock);
		return err;
	}
	/* Grace period: a hypervisor copy (vm_copy_*) that looked the page up before the unmap
	 * may still be writing f; after this none is. */
	ept_wait_walkers(st->ept);
	memcpy(st->data + i * PAGE_SIZE, ept_env_data_va(f), PAGE_SIZE);
	/* Unmapped, flushed and past a grace period: nothing reaches f any more. Freed while
	 * still EVICTING, so no fetch of the page can publish a frame that this call's update
	 * of the slot's backing (the kernel's) would then forget. */
	ept_env_free_data(st->ept, gfn, f, 1);
	ept_spin_lock(&st->lock);
	/* RELAXED: under the lock; lockless readers of backing[] never map it (populate maps
	 * only a RESIDENT page, under the lock). */
	__atomic_store_n(&st->backing[i], INVALID_HFN, __ATOMIC_RELAXED);
	__atomic_store_n(&st->state[i], STORE_ABSENT, __ATOMIC_RELAXED);
	/* RELAXED: as in complete(). */
	__atomic_store_n(&st->resident, st->resident - 1, __ATOMIC_RELAXED);
	if (st->evicted)
		st->evicted[i / 64] |= 1ULL << (i % 64);
	st->stats.evictions++;
	spin_unlock(&st->lock);
	return 0;
}

void ept_store_set_reclaim(struct ept_store *st, u8 *age, u64 *evicted)
{
	st->age = age;
	st->evicted = evicted;
}

int ept_store_pin(struct ept_store *st, gfn_t gfn)
{
	int r = 0;

	if (!in_store(st, gfn))
		return -ERANGE;
	ept_spin_lock(&st->lock);
	if (st->pins[gfn - st->base] == 255)
		r = -ENOSPC;
	else
		st->pins[gfn - st->base]++;
	spin_unlock(&st->lock);
	return r;
}

void ept_store_unpin(struct ept_store *st, gfn_t gfn)
{
	if (!in_store(st, gfn))
		return;
	ept_spin_lock(&st->lock);
	ASSERT(st->pins[gfn - st->base]); /* an unpin without its pin: the caller's bug */
	if (st->pins[gfn - st->base])
		st->pins[gfn - st->base]--;
	spin_unlock(&st->lock);
}

/* A page the reclaim policy may take: resident and not pinned. Under the lock. */
static bool evictable(const struct ept_store *st, u64 i)
{
	return st->state[i] == STORE_RESIDENT && !st->pins[i];
}

u64 ept_store_resident(struct ept_store *st)
{
	/* RELAXED: a count, not a publication; decisions on a page are made under the lock. */
	return __atomic_load_n(&st->resident, __ATOMIC_RELAXED);
}

void ept_store_age(struct ept_store *st, const u64 *accessed)
{
	for (u64 w = 0; w * 64 < st->npages; w++) {
		/* One hold of the lock per 64 pages: the state and the age change together. */
		ept_spin_lock(&st->lock);
		for (u64 i = w * 64; i < MIN(st->npages, w * 64 + 64); i++) {
			if (!evictable(st, i) || (accessed[w] & 1ULL << (i % 64)))
				st->age[i] = 0;
			else if (st->age[i] < 255)
				st->age[i]++;
		}
		spin_unlock(&st->lock);
	}
}

/* The age of the youngest pages ept_store_victims takes to find max victims: the highest
 * age a with at least max resident pages of age >= a (0 when there are fewer); *above gets
 * the resident pages older than it. Under the lock. */
static u8 victim_threshold(const struct ept_store *st, u64 max, u64 *above)
{
	u32 count[256] = { 0 };
	u64 seen = 0;
	int a;

	for (u64 i = 0; i < st->npages; i++)
		count[st->age[i]] += evictable(st, i);
	for (a = 255; a > 0 && seen + count[a] < max; a--)
		seen += count[a];
	*above = seen;
	return (u8)a;
}

u64 ept_store_victims(struct ept_store *st, gfn_t *out, u8 *ages, u64 max)
{
	u64 n = 0, above, at_threshold;
	u8 t;

	if (!st->age || !max)
		return 0;
	ept_spin_lock(&st->lock);
	t = victim_threshold(st, max, &above);
	/* Pages older than t are all taken (there are fewer than max); those of age t fill up
	 * the rest in clock order. */
	at_threshold = max - above;
	for (u64 k = 0, start = st->hand; k < st->npages && n < max; k++) {
		u64 i = (start + k) % st->npages;

		if (!evictable(st, i) || st->age[i] < t)
			continue;
		if (st->age[i] == t) {
			if (!at_threshold)
				continue;
			at_threshold--;
		}
		if (ages)
			ages[n] = st->age[i];
		out[n++] = st->base + i;
		st->hand = (i + 1) % st->npages;
	}
	spin_unlock(&st->lock);
	return n;
}
