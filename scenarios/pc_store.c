/*
 * PC guests with a slow store at the top of their RAM (guest_store=, a row's `store`;
 * docs/platform.md): the host task is the store's I/O task. It runs on CPU 0 while the
 * vCPUs run, serving fetches (vm_store_service) and running the reclaim policy
 * (vm_store_reclaim_poll) when the VM has a resident limit (a row's `resident`, else
 * guest_resident=): idle pages go back to the store and come back on a refault, through
 * async page faults when the guest took them. It prints the store's counts at the end.
 * With guest_pv=kvm (a row's kvm_pv) a guest that enabled KVM's async page faults gets "page
 * not present" and "page ready" instead of waiting (pc/apf.c); the VM's @json "apf" line
 * (pc_report_end) gives those counts and the page-ready latencies.
 *
 * The rows' kernel (pcapf.elf, guests/pc/pcapf.c) checks every word of its buffer against
 * the pattern the set-up puts in the store (include/pcapf.h, seed 0), so a page mapped
 * before its contents arrived, or a rewrite lost, fails the guest.
 */
#include "drivers/console.h"
#include "drivers/timer.h"
#include "lib.h"
#include "pc/pc.h"
#include "pcapf.h"
#include "scenarios/experiments.h"
#include "vmx/reclaim.h"
#include "vmx/report.h"
#include "vmx/settings.h"
#include "vmx/store.h"
#include "vmx/vcpu.h"

/* The store slot of a PC VM: the one after slot 0 (pc_vm_load adds it there). */
static struct memslot *store_slot(struct vm *vm)
{
	for (int i = 0; i < vm->nslots; i++)
		if (vm->slots[i].store)
			return &vm->slots[i];
	return NULL;
}

int pc_store_setup(struct vm *vm, const struct scenario *sc)
{
	struct memslot *s = store_slot(vm);

	(void)sc;
	if (!s)
		return 0;
	for (u64 p = 0; p < s->npages; p++) {
		gpa_t page = gfn_to_gpa(s->base_gfn + p);
		u64 *w = (u64 *)vm_store_data(vm, page);

		for (u64 i = 0; i < PAGE_SIZE / 8; i++)
			w[i] = apf_pattern(page + i * 8, 0);
	}
	return 0;
}

void pc_store_host(struct vm *vm, const struct scenario *sc)
{
	struct memslot *s = store_slot(vm);
	struct vm_store *vs = s ? s->store : NULL;
	u64 limit = sc && sc->resident ? sc->resident >> PAGE_SHIFT : vm_store_reclaim_limit();
	const struct ept_store_stats *st;
	const struct vm_reclaim *rc;

	while (vm_any_vcpu_running(vm)) {
		vm_store_service(vm);
		if (limit)
			vm_store_reclaim_poll(vm, limit);
	}
	if (!vs)
		return;
	st = &vs->st.stats;
	rc = vs->reclaim;
	printk("@json {\"pc_store\":\"%s\",\"platform\":\"%s\",\"latency_us\":%lu,\"depth\":%u,"
	       "\"pages\":%lu,\"requests\":%lu,\"fetches\":%lu,\"evictions\":%lu,"
	       "\"refaults\":%lu,\"resident_limit\":%lu,\"resident_max\":%lu,"
	       "\"resident_end\":%lu,\"reclaim_rounds\":%lu,\"reclaim_forced\":%lu,"
	       "\"busy_touches\":%lu,\"waits\":%lu,\"wait_avg_us\":%lu,\"wait_max_us\":%lu,"
	       "\"fetch_latency_avg_us\":%lu,\"fetch_latency_max_us\":%lu,\"queue_max\":%lu}\n",
	       vm->name, vmx_settings.platform, vmx_settings.store_latency_us, vs->st.depth,
	       s->npages, st->requests, st->fetches, st->evictions, st->refaults, limit,
	       st->resident_max, vm_store_resident(vm), rc ? rc->rounds : 0, rc ? rc->forced : 0,
	       st->busy, vs->waits, tsc_to_us(vs->waits ? vs->wait_sum / vs->waits : 0),
	       tsc_to_us(vs->wait_max), tsc_to_us(st->fetches ? st->lat_sum / st->fetches : 0),
	       tsc_to_us(st->lat_max), st->queue_max);
	if (limit)
		vm_check(vm, VM_CHECK_HOST, st->resident_max <= limit + vs->st.depth,
		         "resident store pages stayed under the limit: at most %lu, limit %lu + "
		         "%u fetches of one service step",
		         st->resident_max, limit, vs->st.depth);
}
