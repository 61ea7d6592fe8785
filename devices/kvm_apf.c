/* KVM's asynchronous page faults: one vCPU's state machine (see kvm_apf.h). */
#include "devices/kvm_apf.h"
#include "errno.h"

void kvm_apf_init(struct kvm_apf *a, u32 vcpu_id)
{
	*a = (struct kvm_apf){ .vcpu_id = vcpu_id };
}

bool kvm_apf_on(const struct kvm_apf *a)
{
	u64 both = KVM_ASYNC_PF_ENABLED | KVM_ASYNC_PF_DELIVERY_AS_INT;

	return (a->msr_en & both) == both;
}

u64 kvm_apf_area(const struct kvm_apf *a)
{
	return a->msr_en & ~0x3fULL;
}

u8 kvm_apf_vector(const struct kvm_apf *a)
{
	return (u8)a->msr_int;
}

u32 kvm_apf_outstanding(const struct kvm_apf *a)
{
	/* RELAXED: a hint for the I/O task, ordered by the fences around it (pc/apf.c). */
	return __atomic_load_n(&a->outstanding, __ATOMIC_RELAXED);
}

static void set_outstanding(struct kvm_apf *a, u32 n)
{
	/* RELAXED: see kvm_apf_outstanding; only this vCPU writes it. */
	__atomic_store_n(&a->outstanding, n, __ATOMIC_RELAXED);
}

/* Drop every token; the guest is owed one wake-all in the area and on the vector it had. */
static void drop_all(struct kvm_apf *a)
{
	if (!a->outstanding)
		return;
	for (int i = 0; i < KVM_APF_MAX; i++)
		a->t[i].state = KVM_APF_FREE;
	a->st.dropped += a->outstanding;
	set_outstanding(a, 0);
	a->owe_wake_all = true;
	a->wake_area = kvm_apf_area(a);
	a->wake_vector = kvm_apf_vector(a);
}

static int write_en(struct kvm_apf *a, u64 val, bool area_ok)
{
	if (val & (KVM_ASYNC_PF_RESERVED | KVM_ASYNC_PF_DELIVERY_AS_PF_VMEXIT))
		return -EINVAL;
	if ((val & KVM_ASYNC_PF_ENABLED) && !area_ok)
		return -EINVAL;
	/* Disabled, or enabled again (perhaps elsewhere): tokens given so far will never see
	 * their page ready in the area the guest now has. */
	if (kvm_apf_on(a))
		drop_all(a);
	a->msr_en = val;
	a->ack_pending = false;
	return 0;
}

int kvm_apf_wrmsr(struct kvm_apf *a, u32 msr, u64 val, bool area_ok)
{
	switch (msr) {
	case MSR_KVM_ASYNC_PF_EN:
		return write_en(a, val, area_ok);
	case MSR_KVM_ASYNC_PF_INT:
		/* Bits 63:8 reserved (KVM too); a vector below 32 is an exception's, which a
		 * fixed interrupt cannot carry: refused here, where KVM takes it. */
		if (val >> 8 || val < 32)
			return -EINVAL;
		a->msr_int = val;
		return 0;
	case MSR_KVM_ASYNC_PF_ACK:
		if (val & 1) {
			a->ack_pending = false;
			a->st.acks++;
		}
		return 0;
	}
	return -ENOENT;
}

int kvm_apf_rdmsr(const struct kvm_apf *a, u32 msr, u64 *val)
{
	switch (msr) {
	case MSR_KVM_ASYNC_PF_EN:
		*val = a->msr_en;
		return 0;
	case MSR_KVM_ASYNC_PF_INT:
		*val = a->msr_int;
		return 0;
	case MSR_KVM_ASYNC_PF_ACK:
		*val = 0;
		return 0;
	}
	return -ENOENT;
}

static bool has_gfn(const struct kvm_apf *a, u64 gfn)
{
	for (int i = 0; i < KVM_APF_MAX; i++)
		if (a->t[i].state != KVM_APF_FREE && a->t[i].gfn == gfn)
			return true;
	return false;
}

static bool has_token(const struct kvm_apf *a, u32 token)
{
	for (int i = 0; i < KVM_APF_MAX; i++)
		if (a->t[i].state != KVM_APF_FREE && a->t[i].token == token)
			return true;
	return false;
}

/* KVM's form, (serial << 12) | vcpu_id, never 0 or the wake-all, never one outstanding. */
static u32 next_token(struct kvm_apf *a)
{
	for (;;) {
		u32 t = (++a->serial << 12) | (a->vcpu_id & 0xfff);

		if (t != 0 && t != KVM_APF_WAKE_ALL && !has_token(a, t))
			return t;
	}
}

enum kvm_apf_verdict kvm_apf_not_present(struct kvm_apf *a, u64 gfn, const struct kvm_apf_ctx *c,
                                         u64 now, u32 *token)
{
	bool kernel_ok = (a->msr_en & KVM_ASYNC_PF_SEND_ALWAYS) || c->user;
	int i;

	if (!kvm_apf_on(a)) {
		a->st.wait_off++;
		return KVM_APF_WAIT_OFF;
	}
	if (has_gfn(a, gfn)) {
		a->st.wait_dup++;
		return KVM_APF_WAIT_DUP;
	}
	/* The #PF must be one the guest takes now and whose reason it has not yet read, else
	 * it would go unseen or be taken for a real fault. */
	if (c->event_pending || !c->paging || !c->irq_window || !kernel_ok || c->area_flags) {
		a->st.wait_ctx++;
		return KVM_APF_WAIT_CTX;
	}
	for (i = 0; i < KVM_APF_MAX && a->t[i].state != KVM_APF_FREE; i++)
		;
	if (i == KVM_APF_MAX) {
		a->st.wait_full++;
		return KVM_APF_WAIT_FULL;
	}
	*token = next_token(a);
	a->t[i] = (struct kvm_apf_token){
		.gfn = gfn, .since = now, .token = *token, .state = KVM_APF_WAITING
	};
	set_outstanding(a, a->outstanding + 1);
	a->st.not_present++;
	return KVM_APF_SEND;
}

u32 kvm_apf_settle(struct kvm_apf *a, bool (*settled)(void *arg, u64 gfn), void *arg)
{
	u32 ready = 0;

	for (int i = 0; i < KVM_APF_MAX; i++) {
		struct kvm_apf_token *t = &a->t[i];

		if (t->state == KVM_APF_WAITING && settled(arg, t->gfn))
			t->state = KVM_APF_READY;
		ready += t->state == KVM_APF_READY;
	}
	return ready;
}

bool kvm_apf_next_ready(struct kvm_apf *a, u32 area_token, bool apic_ok, struct kvm_apf_ready *r)
{
	struct kvm_apf_token *best = NULL;

	if (!apic_ok)
		return false;
	if (a->owe_wake_all) {
		*r = (struct kvm_apf_ready){ .area = a->wake_area,
			                     .token = KVM_APF_WAKE_ALL,
			                     .vector = a->wake_vector };
		a->owe_wake_all = false;
		a->ack_pending = kvm_apf_on(a); /* a guest that still has them will ACK it */
		a->st.wake_all++;
		return true;
	}
	if (!kvm_apf_on(a) || a->ack_pending || area_token)
		return false;
	for (int i = 0; i < KVM_APF_MAX; i++)
		if (a->t[i].state == KVM_APF_READY && (!best || a->t[i].since < best->since))
			best = &a->t[i];
	if (!best)
		return false;
	*r = (struct kvm_apf_ready){ .area = kvm_apf_area(a),
		                     .gfn = best->gfn,
		                     .since = best->since,
		                     .token = best->token,
		                     .vector = kvm_apf_vector(a) };
	best->state = KVM_APF_FREE;
	set_outstanding(a, a->outstanding - 1);
	a->ack_pending = true;
	a->st.ready++;
	return true;
}
