/*
 * A slow backing store under a running guest (issue 15, items 1 and 2). The VM has a slot of
 * GT_STORE_PAGES pages that start in a store (vmx/store.h) filled with a known pattern; the
 * guest (GT_STORE_WALKER) checks every page's initial contents, which its first touch fetches
 * with the store's latency (store_latency_us=, store_depth=), then keeps checking and
 * rewriting pseudo-random pages. The host task on CPU 0 is the I/O task: it serves the
 * fetches and, once the guest has touched every page, evicts pages one after another while
 * the guest runs, until EVICTIONS pages went out (each comes back on a refault). The vCPU
 * waits for each page in flight halted in the hypervisor. The guest's checks say that no
 * page was mapped incomplete and no rewrite was lost; the @json line gives the counts. With
 * two vCPUs (store_evict_2vcpu) vCPU 1 only computes and counts: it keeps running while
 * vCPU 0 is halted waiting for its pages.
 */
#include "arch/cpu.h"
#include "drivers/console.h"
#include "drivers/timer.h"
#include "errno.h"
#include "guest_tests.h"
#include "lib.h"
#include "scenarios/experiments.h"
#include "vmx/report.h"
#include "vmx/settings.h"
#include "vmx/store.h"
#include "vmx/vcpu.h"

#define EVICTIONS 128 /* pages evicted while the guest runs (each page twice on average) */
#define STORE_GFN gpa_to_gfn(GT_STORE_GPA)

int store_setup(struct vm *vm, const struct scenario *sc)
{
	int err;

	(void)sc;
	err = vm_add_store_slot(vm, GT_STORE_GPA, GT_STORE_PAGES * PAGE_SIZE,
	                        vmx_settings.store_latency_us, vmx_settings.store_depth);
	if (err)
		return err;
	for (u64 p = 0; p < GT_STORE_PAGES; p++) {
		u64 *w = (u64 *)vm_store_data(vm, GT_STORE_GPA + p * PAGE_SIZE);

		for (u64 i = 0; i < PAGE_SIZE / 8; i++)
			w[i] = gt_store_pattern(p, i, 0);
	}
	return 0;
}

void store_host(struct vm *vm, const struct scenario *sc)
{
	struct vm_store *vs = vm_store_of(vm, GT_STORE_GPA);
	u64 evicted = 0, tries = 0, next = 0, passes_at_start = 0, passes, compute0, compute;
	u64 gap = tsc_hz / 1000000 * vmx_settings.store_latency_us, last = 0;

	(void)sc;
	/* Serve the first touches until the guest has checked every page once. */
	while (!(passes_at_start = ctrl_get(vm, CTRL_GPA(passes[0]))) && !vm->stopping)
		vm_store_service(vm);
	compute0 = ctrl_get(vm, CTRL_GPA(writes[1]));
	/* Evict one page per store latency while serving the refaults. */
	while (evicted < EVICTIONS && !vm->stopping && vm_any_vcpu_running(vm)) {
		vm_store_service(vm);
		if (rdtsc() - last < gap)
			continue;
		last = rdtsc();
		tries++;
		if (!vm_store_evict(vm, STORE_GFN + next))
			evicted++;
		next = (next + 37) % GT_STORE_PAGES; /* 37 is prime to 64: every page in turn */
	}
	passes = ctrl_get(vm, CTRL_GPA(passes[0]));
	compute = ctrl_get(vm, CTRL_GPA(writes[1])) - compute0;
	ctrl_set(vm, CTRL_GPA(stop), 1);
	/* Serve until the guest is done: its last checks may refault evicted pages. */
	while (vm_any_vcpu_running(vm))
		vm_store_service(vm);
	const struct ept_store_stats *s = &vs->st.stats;

	printk("@json {\"store\":\"%s\",\"platform\":\"%s\",\"latency_us\":%lu,\"depth\":%u,"
	       "\"pages\":%d,\"requests\":%lu,\"fetches\":%lu,\"evictions\":%lu,"
	       "\"evict_tries\":%lu,\"busy_touches\":%lu,\"waits\":%lu,\"wakes\":%lu,"
	       "\"fetch_latency_avg_us\":%lu,\"fetch_latency_max_us\":%lu,"
	       "\"wait_avg_us\":%lu,\"wait_max_us\":%lu,\"queue_max\":%lu,\"nomem\":%lu,"
	       "\"guest_passes_during_evictions\":%lu,\"vcpus\":%d,"
	       "\"other_vcpu_work_during_evictions\":%lu}\n",
	       vm->name, vmx_settings.platform, vmx_settings.store_latency_us, vs->st.depth,
	       GT_STORE_PAGES, s->requests, s->fetches, s->evictions, tries, s->busy, vs->waits,
	       vs->wakes, tsc_to_us(s->fetches ? s->lat_sum / s->fetches : 0),
	       tsc_to_us(s->lat_max), tsc_to_us(vs->waits ? vs->wait_sum / vs->waits : 0),
	       tsc_to_us(vs->wait_max), s->queue_max, vs->nomem, passes - passes_at_start,
	       vm->nvcpus, compute);
	vm_check(vm, VM_CHECK_HOST, s->evictions >= EVICTIONS,
	         "%lu pages evicted while the guest ran", s->evictions);
	vm_check(vm, VM_CHECK_HOST, s->fetches >= GT_STORE_PAGES + 1,
	         "first touches and refaults fetched %lu pages from the store", s->fetches);
	vm_check(vm, VM_CHECK_HOST, vs->waits > 0, "the vCPU waited %lu times for a page in flight",
	         vs->waits);
	vm_check(vm, VM_CHECK_HOST, passes > passes_at_start,
	         "the guest ran while pages were evicted");
	if (vm->nvcpus > 1)
		vm_check(vm, VM_CHECK_HOST, compute > 0,
		         "vCPU 1 kept computing (%lu steps) while vCPU 0 waited for pages",
		         compute);
}
