/*
 * KVM's asynchronous page faults on the PC platform (guest_pv=kvm; docs/platform.md). The
 * rules are devices/kvm_apf.c's; this file is their VMX side:
 *   - the three MSRs, with the area checked to be ordinary RAM; an area in the store part of
 *     RAM (Linux puts its per-CPU areas at the top) is pinned there and fetched at the
 *     WRMSR, so the hypervisor can always write it (pin_areas);
 *   - at a touch of a store page in flight (vm_ops async_fault): the guest's state read from
 *     the VMCS and its area; "page not present" is a #PF with CR2 = the token, error code 0,
 *     and the area's flags = 1; otherwise the vCPU waits for the page (vm_store_wait);
 *   - before each entry (pc_apf_poll, from runnable()): tokens whose page settled become
 *     READY, and one page ready goes in: its token written into the area, the vector set in
 *     the local APIC's IRR (a HLT waiting in runnable() ends with it);
 *   - on the I/O task's CPU (vm_ops store_settled): every vCPU with tokens out is woken.
 *
 * No lost wake-up: the vCPU makes its token visible (outstanding, SEQ_CST fence) before it
 * next reads the page states (pc_apf_poll before the entry); the I/O task stores the states,
 * fences, then reads outstanding and wakes (pc_wake: a flag the entry rechecks, and a kick).
 */
#include "arch/cpu.h"
#include "drivers/console.h"
#include "drivers/timer.h"
#include "errno.h"
#include "lib.h"
#include "mm/mm.h"
#include "pc/pc.h"
#include "vmx/report.h"
#include "vmx/settings.h"
#include "vmx/store.h"
#include "vmx/vcpu.h"
#include "vmx/vmcs.h"

#define EXC_PF          14
#define INTR_VALID      BIT(31)
#define BLOCK_STI_MOVSS (BIT(0) | BIT(1))
#define APF_LAT_MAX     4096 /* page-ready latencies kept for the report */

struct pc_apf_stats {
	u32 n;                 /* latencies recorded (the first APF_LAT_MAX are kept) */
	u64 lat[APF_LAT_MAX];  /* TSC cycles from "not present" to "page ready" */
	u64 tail[APF_LAT_MAX]; /* ... from the vCPU seeing the page in to "page ready" */
};

int pc_apf_init(struct vm *vm)
{
	struct pc_vm *pc = to_pc_vm(vm);

	pc->apf = kzalloc(sizeof(*pc->apf));
	return pc->apf ? 0 : -ENOMEM;
}

void pc_apf_free(struct vm *vm)
{
	struct pc_vm *pc = to_pc_vm(vm);

	kfree(pc->apf, sizeof(*pc->apf));
	pc->apf = NULL;
}

/* Is gpa's page RAM: slot 0 or a store slot (not the private APIC-access page, nor anything
 * outside RAM)? */
static bool ram_page(struct vm *vm, u64 gpa)
{
	const struct memslot *s = vm_find_slot(vm, gpa_to_gfn(gpa));

	return s && (s == &vm->slots[0] || s->store);
}

/* Each of the area's KVM_APF_AREA_BYTES in RAM. RAM is one range from 0 (slot 0, then the
 * store), so the two ends settle it (a start in RAM is far from wrapping around). */
static bool area_ok(struct vm *vm, u64 gpa)
{
	return ram_page(vm, gpa) && ram_page(vm, gpa + KVM_APF_AREA_BYTES - 1);
}

/* The store pages of the area at gpa (one or two) into out[], INVALID_GFN for the rest. */
static void area_store_pages(struct vm *vm, u64 gpa, gfn_t out[2])
{
	gfn_t first = gpa_to_gfn(gpa), last = gpa_to_gfn(gpa + KVM_APF_AREA_BYTES - 1);

	out[0] = vm_store_of(vm, gfn_to_gpa(first)) ? first : INVALID_GFN;
	out[1] = last != first && vm_store_of(vm, gfn_to_gpa(last)) ? last : INVALID_GFN;
}

/*
 * Pin the store pages this vCPU's areas are on: the enabled area's, and the old one's while
 * a wake-all is owed there. A pinned page is never evicted (ept/store.h), so the area's
 * writes here (vm_copy_to_guest: a store page out could not be written) never fail. The new
 * pins are taken before the old ones are dropped: a page in both stays pinned throughout.
 * The enabled area's pages are then fetched, the vCPU waiting for them as for a fault.
 */
static void pin_areas(struct vcpu *v)
{
	struct pc_vcpu *p = to_pc_vcpu(v);
	struct kvm_apf *a = &p->apf;
	gfn_t want[4] = { INVALID_GFN, INVALID_GFN, INVALID_GFN, INVALID_GFN };

	if (kvm_apf_on(a))
		area_store_pages(v->vm, kvm_apf_area(a), &want[0]);
	if (a->owe_wake_all)
		area_store_pages(v->vm, a->wake_area, &want[2]);
	for (int i = 0; i < 4; i++)
		if (want[i] != INVALID_GFN &&
		    ept_store_pin(&vm_store_of(v->vm, gfn_to_gpa(want[i]))->st, want[i]))
			want[i] = INVALID_GFN; /* 255 pins of one page: its writes may fail */
	for (int i = 0; i < 4; i++)
		if (p->apf_pins[i] != INVALID_GFN)
			ept_store_unpin(&vm_store_of(v->vm, gfn_to_gpa(p->apf_pins[i]))->st,
			                p->apf_pins[i]);
	memcpy(p->apf_pins, want, sizeof(want));
	for (int i = 0; i < 2; i++)
		while (want[i] != INVALID_GFN && vm_populate(v->vm, want[i]) == -EINPROGRESS &&
		       !__atomic_load_n(&v->vm->stopping, __ATOMIC_RELAXED))
			vm_store_wait(v, want[i]);
}

int pc_apf_rdmsr(struct vcpu *v, u32 msr, u64 *val)
{
	if (!to_pc_vm(v->vm)->kvm_pv)
		return -ENOENT;
	return kvm_apf_rdmsr(&to_pc_vcpu(v)->apf, msr, val);
}

int pc_apf_wrmsr(struct vcpu *v, u32 msr, u64 val)
{
	int err;

	if (!to_pc_vm(v->vm)->kvm_pv)
		return -ENOENT;
	err = kvm_apf_wrmsr(&to_pc_vcpu(v)->apf, msr, val, area_ok(v->vm, val & ~0x3fULL));
	if (!err && msr == MSR_KVM_ASYNC_PF_EN)
		pin_areas(v);
	return err;
}

/* A 4-byte word of the area (aligned: one access); false if it cannot be read. */
static bool area_read(struct vm *vm, u64 gpa, u32 *w)
{
	return !vm_copy_from_guest(vm, w, gpa, sizeof(*w));
}

bool pc_apf_fault(struct vcpu *v, gfn_t gfn)
{
	struct kvm_apf *a = &to_pc_vcpu(v)->apf;
	u64 rflags = vmcs_read(GUEST_RFLAGS), block = vmcs_read(GUEST_INTERRUPTIBILITY);
	struct kvm_apf_ctx c = {
		.irq_window = (rflags & RFLAGS_IF) && !(block & BLOCK_STI_MOVSS),
		.user = ((vmcs_read(GUEST_SS_AR) >> 5) & 3) == 3, /* CPL is SS.DPL */
		/* pc_after_exit queued the event this exit interrupted: it goes first. */
		.event_pending = vmcs_read(ENTRY_INTR_INFO) & INTR_VALID,
		.paging = vmcs_read(GUEST_CR0) & CR0_PG,
	};
	u32 flag = KVM_PV_REASON_PAGE_NOT_PRESENT, tok;

	if (kvm_apf_on(a) && !area_read(v->vm, kvm_apf_area(a) + KVM_APF_FLAGS_OFF, &c.area_flags))
		c.area_flags = ~0u; /* unreadable: never */
	if (kvm_apf_not_present(a, gfn, &c, rdtsc(), &tok) != KVM_APF_SEND)
		return false;
	/* The area is RAM (pinned there if in the store): this write does not fail. */
	vm_copy_to_guest(v->vm, kvm_apf_area(a) + KVM_APF_FLAGS_OFF, &flag, sizeof(flag));
	/* CR2 is the guest's in root mode too (nothing here faults): the #PF delivers it. */
	write_cr2(tok);
	pc_inject_exception(v, EXC_PF, true, 0);
	/* SEQ_CST: the token (outstanding) is visible to the I/O task before pc_apf_poll reads
	 * the page's state (the other half is in pc_apf_settled). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return true;
}

static bool settled(void *arg, u64 gfn)
{
	struct vm_store *vs = vm_store_of(arg, gfn_to_gpa(gfn));

	return !vs || ept_store_settled(&vs->st, gfn);
}

static bool apic_takes_interrupts(const struct pc_vcpu *p)
{
	/* RELAXED: the SVR is this vCPU's own register, written only on its CPU. */
	return (p->apic_base & BIT(11)) &&
	       (__atomic_load_n(&p->apic_page[APIC_SVR / 4], __ATOMIC_RELAXED) & APIC_SVR_ENABLE);
}

static void record_latency(struct pc_apf_stats *s, const struct kvm_apf_ready *r, u64 now)
{
	/* RELAXED: vCPUs take slots by a counter; the report reads them after the run. */
	u32 i = __atomic_fetch_add(&s->n, 1, __ATOMIC_RELAXED);

	if (i < APF_LAT_MAX) {
		s->lat[i] = now - r->since;
		s->tail[i] = now - r->settled;
	}
}

void pc_apf_poll(struct vcpu *v)
{
	struct pc_vcpu *p = to_pc_vcpu(v);
	struct kvm_apf *a = &p->apf;
	struct kvm_apf_ready r;
	u32 slot = 0;

	if (!kvm_apf_outstanding(a) && !a->owe_wake_all)
		return;
	if (!kvm_apf_settle(a, settled, v->vm, rdtsc()) && !a->owe_wake_all)
		return;
	if (kvm_apf_on(a) && !area_read(v->vm, kvm_apf_area(a) + KVM_APF_TOKEN_OFF, &slot))
		slot = ~0u;
	if (!kvm_apf_next_ready(a, slot, apic_takes_interrupts(p), &r))
		return;
	/* Written before the interrupt is raised: the handler reads it there. */
	vm_copy_to_guest(v->vm, r.area + KVM_APF_TOKEN_OFF, &r.token, sizeof(r.token));
	vlapic_set_irr(&p->lapic, r.vector);
	if (r.token != KVM_APF_WAKE_ALL)
		record_latency(to_pc_vm(v->vm)->apf, &r, rdtsc());
	else
		pin_areas(v); /* the wake-all is out: its old area need not stay in */
}

void pc_apf_settled(struct vm *vm)
{
	/* SEQ_CST: the page states just stored are ordered before reading who has tokens out
	 * (pairs with pc_apf_fault's fence). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	for (int i = 0; i < vm->nvcpus; i++)
		if (kvm_apf_outstanding(&to_pc_vcpu(vm->vcpus[i])->apf))
			pc_wake(vm->vcpus[i]);
}

void pc_apf_report(struct vm *vm)
{
	struct pc_vm *pc = to_pc_vm(vm);
	struct pc_apf_stats *s = pc->apf;
	struct kvm_apf_stats t = { 0 };
	u32 n;

	if (!pc->kvm_pv || !s)
		return;
	for (int i = 0; i < vm->nvcpus; i++) {
		const struct kvm_apf_stats *c = &to_pc_vcpu(vm->vcpus[i])->apf.st;

		t.not_present += c->not_present, t.ready += c->ready, t.wake_all += c->wake_all;
		t.acks += c->acks, t.wait_off += c->wait_off, t.wait_ctx += c->wait_ctx;
		t.wait_dup += c->wait_dup, t.wait_full += c->wait_full, t.dropped += c->dropped;
	}
	n = MIN(s->n, (u32)APF_LAT_MAX);
	sort_u64(s->lat, n);
	sort_u64(s->tail, n);
	printk("@json {\"apf\":\"%s\",\"platform\":\"%s\",\"not_present\":%lu,\"ready\":%lu,"
	       "\"wake_all\":%lu,\"acks\":%lu,\"dropped\":%lu,\"waited_off\":%lu,"
	       "\"waited_ctx\":%lu,\"waited_dup\":%lu,\"waited_full\":%lu,"
	       "\"ready_latency_us\":{\"n\":%u,\"p50\":%lu,\"p99\":%lu,\"max\":%lu},"
	       "\"delivery_us\":{\"p50\":%lu,\"p99\":%lu}}\n",
	       vm->name, vmx_settings.platform, t.not_present, t.ready, t.wake_all, t.acks,
	       t.dropped, t.wait_off, t.wait_ctx, t.wait_dup, t.wait_full, n,
	       n ? tsc_to_us(s->lat[n / 2]) : 0, n ? tsc_to_us(s->lat[(n * 99) / 100]) : 0,
	       n ? tsc_to_us(s->lat[n - 1]) : 0, n ? tsc_to_us(s->tail[n / 2]) : 0,
	       n ? tsc_to_us(s->tail[(n * 99) / 100]) : 0);
}
