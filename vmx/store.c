/* Lazily backed memslots over a slow store: the kernel's side (see store.h, ept/store.h). */
#include "arch/cpu.h"
#include "arch/lapic.h"
#include "arch/percpu.h"
#include "arch/trap.h"
#include "drivers/timer.h"
#include "ept/bitmap.h"
#include "ept/env.h"
#include "errno.h"
#include "lib.h"
#include "mm/mm.h"
#include "vmx/reclaim.h"
#include "vmx/store.h"
#include "vmx/vcpu.h"
#include "vmx/vm.h"
#include "x86io.h"

int vm_add_store_slot(struct vm *vm, gpa_t gpa, u64 bytes, u64 latency_us, u32 depth)
{
	u64 n = bytes >> PAGE_SHIFT;
	struct memslot *s;
	struct vm_store *vs;
	struct ept_store_arrays a;
	u8 *age;
	u64 *evicted;
	int err = vm_add_slot(vm, gpa, bytes, 1);

	if (err)
		return err;
	s = &vm->slots[vm->nslots - 1];
	vs = kzalloc(sizeof(*vs));
	if (!vs)
		return -ENOMEM;
	s->store = vs; /* from here on vm_destroy frees it (vm_store_free) */
	a = (struct ept_store_arrays){ .backing = s->backing,
		                       .data = kzalloc(n * PAGE_SIZE),
		                       .state = kzalloc(n),
		                       .pins = kzalloc(n),
		                       .queue = kzalloc(n * sizeof(u64)),
		                       .queued_at = kzalloc(n * sizeof(u64)) };
	age = kzalloc(n);
	evicted = kzalloc(bitmap_words(n) * sizeof(u64));
	ept_store_init(&vs->st, &vm->ept, s->base_gfn, n, &a, tsc_hz / 1000000 * latency_us, depth);
	ept_store_set_reclaim(&vs->st, age, evicted);
	return a.data && a.state && a.pins && a.queue && a.queued_at && age && evicted ? 0
	                                                                               : -ENOMEM;
}

void vm_store_free(struct memslot *s)
{
	struct vm_store *vs = s->store;
	u64 n = s->npages;

	if (!vs)
		return;
	kfree(vs->st.data, n * PAGE_SIZE);
	kfree(vs->st.state, n);
	kfree(vs->st.pins, n);
	kfree(vs->st.queue, n * sizeof(u64));
	kfree(vs->st.queued_at, n * sizeof(u64));
	kfree(vs->st.age, n);
	kfree(vs->st.evicted, bitmap_words(n) * sizeof(u64));
	vm_reclaim_free(vs);
	kfree(vs, sizeof(*vs));
	s->store = NULL;
}

struct vm_store *vm_store_of(struct vm *vm, gpa_t gpa)
{
	struct memslot *s = vm_find_slot(vm, gpa_to_gfn(gpa));

	return s ? s->store : NULL;
}

u8 *vm_store_data(struct vm *vm, gpa_t gpa)
{
	struct vm_store *vs = vm_store_of(vm, gpa);

	if (!vs)
		return NULL;
	return vs->st.data + (gpa_to_gfn(gpa) - vs->st.base) * PAGE_SIZE + (gpa & ~PAGE_MASK);
}

int vm_store_populate(struct vm *vm, struct memslot *s, gfn_t gfn, u64 prot)
{
	int err = ept_store_populate(&s->store->st, gfn, prot, rdtsc());

	if (!err)
		STAT_INC(vm, populated[1]);
	return err;
}

bool vm_store_wait(struct vcpu *v, gfn_t gfn)
{
	struct vm_store *vs = vm_find_slot(v->vm, gfn)->store;
	u64 bit = 1ULL << this_cpu_id(), t0 = rdtsc(), dt;
	/* Halted in the hypervisor is a quiescent state (ept/env.h): an eviction's grace
	 * period does not wait for this vCPU. */
	bool online = ept_qs_pause();

	/* SEQ_CST (a locked op): our bit is visible before we read the page's state; the I/O
	 * task stores the state, fences, then reads the bits: one of us sees the other. */
	__atomic_fetch_or(&vs->waiting, bit, __ATOMIC_SEQ_CST);
	/* Interrupts are off in root mode (vcpu_run) and stay off between the check and the
	 * hlt: a wake IPI sent after the check stays pending and ends the hlt (sti's shadow
	 * covers it), so no wake-up is lost. A kick (vm_stop's NMI) ends it too. They are off
	 * again when we return, as the run loop wants them. */
	while (!ept_store_settled(&vs->st, gfn) &&
	       !__atomic_load_n(&v->vm->stopping, __ATOMIC_RELAXED)) {
		sti_hlt();
		cli();
	}
	__atomic_fetch_and(&vs->waiting, ~bit, __ATOMIC_SEQ_CST);
	ept_qs_resume(online);
	dt = rdtsc() - t0;
	/* RELAXED: counters, read once the VM is done. */
	__atomic_fetch_add(&vs->waits, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&vs->wait_sum, dt, __ATOMIC_RELAXED);
	for (u64 m = __atomic_load_n(&vs->wait_max, __ATOMIC_RELAXED); dt > m;)
		if (__atomic_compare_exchange_n(&vs->wait_max, &m, dt, false, __ATOMIC_RELAXED,
		                                __ATOMIC_RELAXED))
			break;
	return true;
}

static void wake_waiters(struct vm_store *vs)
{
	u64 w;

	/* SEQ_CST: the page states just stored are ordered before reading who waits (pairs
	 * with the waiter's locked fetch_or before its check). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	w = __atomic_load_n(&vs->waiting, __ATOMIC_RELAXED);
	for (u32 cpu = 0; w; cpu++, w >>= 1)
		if (w & 1) {
			lapic_send_ipi(percpu[cpu].apic_id, VEC_WAKE);
			vs->wakes++;
		}
}

int vm_store_service(struct vm *vm)
{
	int done = 0;

	for (int i = 0; i < vm->nslots; i++) {
		struct vm_store *vs = vm->slots[i].store;
		int n;

		if (!vs)
			continue;
		n = ept_store_service(&vs->st, rdtsc());
		vs->nomem += n == -ENOMEM;
		if (n > 0) {
			done += n;
			wake_waiters(vs);
			if (vm->ops->store_settled)
				vm->ops->store_settled(vm);
		}
	}
	return done;
}

int vm_store_evict(struct vm *vm, gfn_t gfn)
{
	struct memslot *s = vm_find_slot(vm, gfn);
	int err;

	if (!s || !s->store)
		return -EINVAL;
	err = ept_store_evict(&s->store->st, gfn);
	wake_waiters(s->store); /* a vCPU may have waited for it to settle */
	if (vm->ops->store_settled)
		vm->ops->store_settled(vm);
	return err;
}
