/*
 * The reclaim policy under a running guest (issue 15, item 4). The VM has the store slot of
 * store_evict (GT_STORE_PAGES pages starting in a slow store with a known pattern) and a
 * resident limit (guest_resident=, or LIMIT_PAGES when it is 0). The guest (GT_STORE_HOT_COLD)
 * sweeps a small hot set all the time and touches a pseudo-random cold page once in a while,
 * checking every word of every page it touches. The host task on CPU 0 serves the store and
 * calls the reclaim policy after every service step (vm_store_reclaim_poll): a scanning round
 * every reclaim_period_us=, evictions of the oldest pages whenever the slot holds more than
 * the limit. Cold pages go idle and are evicted; touching them again refaults. It stops once
 * the policy has evicted RUN_EVICTIONS pages with RUN_REFAULTS refaults (or after RUN_MS),
 * then the guest checks every page once more.
 *
 * hot_evictions counts the hot pages evicted while the guest swept them: few with the A bits
 * guiding the choice; reclaim_period_us= longer than the run (one round: every page the same
 * age, the clock hand alone choosing) shows what the A bits are worth.
 *
 * The limit is checked against the most frames the store ever held: the poll trims right
 * after each service step, and one step completes at most store_depth= fetches, so the
 * store holds at most limit + depth frames at any time.
 */
#include "arch/cpu.h"
#include "drivers/console.h"
#include "drivers/timer.h"
#include "guest_tests.h"
#include "lib.h"
#include "scenarios/experiments.h"
#include "vmx/reclaim.h"
#include "vmx/report.h"
#include "vmx/settings.h"
#include "vmx/store.h"
#include "vmx/vcpu.h"
#include "vmx/vmx.h"

#define LIMIT_PAGES   24 /* the hot set (GT_RECLAIM_HOT) and 18 cold pages */
#define RUN_EVICTIONS 64
#define RUN_REFAULTS  16
#define RUN_MS        2000 /* TSC time: a bound if the guest is slower than planned */

static bool guest_running(struct vm *vm)
{
	/* ACQUIRE: pairs with the vCPU's release of its final state. */
	return __atomic_load_n(&vm->vcpus[0]->state, __ATOMIC_ACQUIRE) == VCPU_RUNNING;
}

/* The hot pages the policy took away while the guest swept them. */
struct hot_watch {
	bool was_resident[GT_RECLAIM_HOT];
	u64 evictions;
};

/* One step of the host task: serve the store, run the policy, and (w) count the hot pages
 * it evicted. Only this task evicts and a fetch takes a service step at least, so a hot page
 * evicted is seen not resident right after the step that evicted it. */
static void serve(struct vm *vm, struct vm_store *vs, u64 limit, struct hot_watch *w)
{
	vm_store_service(vm);
	vm_store_reclaim_poll(vm, limit);
	for (int p = 0; w && p < GT_RECLAIM_HOT; p++) {
		/* RELAXED: a sample; the state changes under the store's lock. */
		bool r = __atomic_load_n(&vs->st.state[p], __ATOMIC_RELAXED) == STORE_RESIDENT;

		w->evictions += w->was_resident[p] && !r;
		w->was_resident[p] = r;
	}
}

static void report(struct vm *vm, struct vm_store *vs, u64 limit, u64 hot_evictions)
{
	const struct ept_store_stats *s = &vs->st.stats;
	const struct vm_reclaim *rc = vs->reclaim;
	u64 sweeps = ctrl_get(vm, CTRL_GPA(passes[0])), cold = ctrl_get(vm, CTRL_GPA(writes[0]));

	printk("@json {\"reclaim\":\"%s\",\"platform\":\"%s\",\"limit_pages\":%lu,"
	       "\"resident_max\":%lu,\"resident_end\":%lu,\"evictions\":%lu,\"forced\":%lu,"
	       "\"victims_busy\":%lu,\"refaults\":%lu,\"rounds\":%lu,\"fetches\":%lu,"
	       "\"idle_rounds\":%u,\"period_us\":%lu,\"latency_us\":%lu,\"depth\":%u,\"pages\":%d,"
	       "\"hot_pages\":%d,\"hot_evictions\":%lu,\"ept_ad\":%d,\"waits\":%lu,\"guest_"
	       "sweeps\":%lu,\"cold_"
	       "touches\":%lu}\n",
	       vm->name, vmx_settings.platform, limit, s->resident_max, vs->st.resident,
	       rc->evictions, rc->forced, rc->busy, s->refaults, rc->rounds, s->fetches,
	       vmx_settings.reclaim_idle_rounds, vmx_settings.reclaim_period_us,
	       vmx_settings.store_latency_us, vs->st.depth, GT_STORE_PAGES, GT_RECLAIM_HOT,
	       hot_evictions, vmx_caps.ept_ad, vs->waits, sweeps, cold);
	vm_check(vm, VM_CHECK_HOST, s->resident_max <= limit + vs->st.depth,
	         "the store held at most %lu frames (limit %lu + %u fetches of one service step)",
	         s->resident_max, limit, vs->st.depth);
	vm_check(vm, VM_CHECK_HOST, rc->evictions > 0 && rc->rounds > 0,
	         "the policy evicted %lu pages in %lu scan rounds", rc->evictions, rc->rounds);
	vm_check(vm, VM_CHECK_HOST, s->refaults > 0, "%lu evicted pages were fetched back",
	         s->refaults);
}

void store_reclaim_host(struct vm *vm, const struct scenario *sc)
{
	struct vm_store *vs = vm_store_of(vm, GT_STORE_GPA);
	u64 limit = vm_store_reclaim_limit() ? vm_store_reclaim_limit() : LIMIT_PAGES,
	    t_end = rdtsc() + tsc_hz / 1000 * RUN_MS;
	struct hot_watch hot = { 0 };

	(void)sc;
	while (!vm->stopping && guest_running(vm) && rdtsc() < t_end &&
	       (!vs->reclaim || vs->reclaim->evictions < RUN_EVICTIONS ||
	        vs->st.stats.refaults < RUN_REFAULTS))
		serve(vm, vs, limit, &hot);
	ctrl_set(vm, CTRL_GPA(stop), 1);
	/* Serve until the guest is done: its last check of every page refaults evicted ones (and
	 * the hot pages go idle, so they are no longer watched). */
	while (guest_running(vm))
		serve(vm, vs, limit, NULL);
	if (!vs->reclaim) {
		vm_check(vm, VM_CHECK_HOST, false, "the reclaim policy never ran");
		return;
	}
	report(vm, vs, limit, hot.evictions);
}
