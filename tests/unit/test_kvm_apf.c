/*
 * KVM's asynchronous page faults (devices/kvm_apf.c): the MSRs and their checks, the token
 * table and the delivery rules, as pure C; then a race under real threads with the slow
 * store (ept/store.c): a simulated vCPU runs guest tasks that touch pages of a lazily backed
 * range, gets "page not present" tokens for pages in flight and blocks the task, takes "page
 * ready" as the guest's interrupt handler would (wake the task, clear the area's token, ACK),
 * halts when every task is blocked, and now and then disables and re-enables async faults;
 * an I/O thread completes fetches and "kicks" the vCPU when it has tokens outstanding; an
 * evictor thread evicts random pages. Checked: every page ready names a task that is blocked
 * on it (no token twice, none invented), a halted vCPU is always woken (no lost wake-up:
 * the I/O thread's kick and the vCPU's check after giving a token), every token given ends
 * as a page ready or in a wake-all, and every task finishes.
 */
/* cmocka.h needs these first */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

/* cmocka.h needs the headers above it. */
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "devices/kvm_apf.h"
#include "ept/env.h"
#include "ept/ept.h"
#include "ept/store.h"
#include "ept_env_host.h"
#include "ept_hw.h"
#include "errno.h"

#define AREA 0x7000ULL
#define EN   (AREA | KVM_ASYNC_PF_ENABLED | KVM_ASYNC_PF_SEND_ALWAYS | KVM_ASYNC_PF_DELIVERY_AS_INT)

static const struct kvm_apf_ctx ok_ctx = { .irq_window = true, .paging = true };

static struct kvm_apf *on_apf(void)
{
	static struct kvm_apf a;

	kvm_apf_init(&a, 3);
	assert_int_equal(kvm_apf_wrmsr(&a, MSR_KVM_ASYNC_PF_INT, 0xec, false), 0);
	assert_int_equal(kvm_apf_wrmsr(&a, MSR_KVM_ASYNC_PF_EN, EN, true), 0);
	assert_true(kvm_apf_on(&a));
	return &a;
}

static void test_msr_checks(void **state)
{
	struct kvm_apf a;
	u64 v;

	(void)state;
	kvm_apf_init(&a, 0);
	/* Reserved bits 5:4, delivery as #PF VM exit (not offered), an area that is not RAM. */
	assert_int_equal(kvm_apf_wrmsr(&a, MSR_KVM_ASYNC_PF_EN, EN | 0x10, true), -EINVAL);
	assert_int_equal(kvm_apf_wrmsr(&a, MSR_KVM_ASYNC_PF_EN, EN | 0x20, true), -EINVAL);
	assert_int_equal(kvm_apf_wrmsr(&a, MSR_KVM_ASYNC_PF_EN, EN | BIT(2), true), -EINVAL);
	assert_int_equal(kvm_apf_wrmsr(&a, MSR_KVM_ASYNC_PF_EN, EN, false), -EINVAL);
	assert_int_equal(a.msr_en, 0);
	/* Disabling needs no area. */
	assert_int_equal(kvm_apf_wrmsr(&a, MSR_KVM_ASYNC_PF_EN, AREA, false), 0);
	/* The vector: 8 bits, not an exception's. */
	assert_int_equal(kvm_apf_wrmsr(&a, MSR_KVM_ASYNC_PF_INT, 0x1ec, false), -EINVAL);
	assert_int_equal(kvm_apf_wrmsr(&a, MSR_KVM_ASYNC_PF_INT, 0x10, false), -EINVAL);
	assert_int_equal(kvm_apf_wrmsr(&a, MSR_KVM_ASYNC_PF_INT, 32, false), 0);
	assert_int_equal(kvm_apf_rdmsr(&a, MSR_KVM_ASYNC_PF_INT, &v), 0);
	assert_int_equal(v, 32);
	/* ENABLED without DELIVERY_AS_INT is kept, but async faults stay off (as KVM). */
	assert_int_equal(kvm_apf_wrmsr(&a, MSR_KVM_ASYNC_PF_EN, AREA | 1, true), 0);
	assert_false(kvm_apf_on(&a));
	assert_int_equal(kvm_apf_rdmsr(&a, MSR_KVM_ASYNC_PF_EN, &v), 0);
	assert_int_equal(v, AREA | 1);
	assert_int_equal(kvm_apf_rdmsr(&a, MSR_KVM_ASYNC_PF_ACK, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(kvm_apf_wrmsr(&a, 0x4b564d01, 0, true), -ENOENT);
	assert_int_equal(kvm_apf_rdmsr(&a, 0x10, &v), -ENOENT);
}

static void test_not_present_rules(void **state)
{
	struct kvm_apf *a = on_apf();
	struct kvm_apf_ctx c;
	u32 tok, first;

	(void)state;
	/* Each reason the guest cannot take the #PF now. */
	c = ok_ctx, c.irq_window = false;
	assert_int_equal(kvm_apf_not_present(a, 1, &c, 0, &tok), KVM_APF_WAIT_CTX);
	c = ok_ctx, c.event_pending = true;
	assert_int_equal(kvm_apf_not_present(a, 1, &c, 0, &tok), KVM_APF_WAIT_CTX);
	c = ok_ctx, c.paging = false;
	assert_int_equal(kvm_apf_not_present(a, 1, &c, 0, &tok), KVM_APF_WAIT_CTX);
	c = ok_ctx, c.area_flags = 1;
	assert_int_equal(kvm_apf_not_present(a, 1, &c, 0, &tok), KVM_APF_WAIT_CTX);
	assert_int_equal(a->st.wait_ctx, 4);
	/* Kernel mode only with SEND_ALWAYS. */
	assert_int_equal(
		kvm_apf_wrmsr(a, MSR_KVM_ASYNC_PF_EN, EN & ~KVM_ASYNC_PF_SEND_ALWAYS, true), 0);
	assert_int_equal(kvm_apf_not_present(a, 1, &ok_ctx, 0, &tok), KVM_APF_WAIT_CTX);
	c = ok_ctx, c.user = true;
	assert_int_equal(kvm_apf_not_present(a, 1, &c, 0, &tok), KVM_APF_SEND);
	assert_int_equal(tok & 0xfff, 3); /* KVM's form: serial << 12 | vCPU id */
	first = tok;
	/* A second touch of the same page: no second token. */
	assert_int_equal(kvm_apf_not_present(a, 1, &c, 0, &tok), KVM_APF_WAIT_DUP);
	/* 64 outstanding at most, all distinct. */
	for (u64 g = 2; g <= KVM_APF_MAX; g++) {
		assert_int_equal(kvm_apf_not_present(a, g, &c, g, &tok), KVM_APF_SEND);
		assert_int_not_equal(tok, first);
		assert_int_not_equal(tok, KVM_APF_WAKE_ALL);
	}
	assert_int_equal(kvm_apf_outstanding(a), KVM_APF_MAX);
	assert_int_equal(kvm_apf_not_present(a, 1000, &c, 0, &tok), KVM_APF_WAIT_FULL);
	/* Off: the vCPU waits. */
	assert_int_equal(kvm_apf_wrmsr(a, MSR_KVM_ASYNC_PF_EN, 0, false), 0);
	assert_int_equal(kvm_apf_not_present(a, 2000, &c, 0, &tok), KVM_APF_WAIT_OFF);
}

static bool gfn_even(void *arg, u64 gfn)
{
	(void)arg;
	return gfn % 2 == 0;
}

static void test_ready_rules(void **state)
{
	struct kvm_apf *a = on_apf();
	struct kvm_apf_ready r;
	u32 t[4];

	(void)state;
	for (u64 g = 1; g <= 4; g++)
		assert_int_equal(kvm_apf_not_present(a, g, &ok_ctx, 10 - g, &t[g - 1]),
		                 KVM_APF_SEND);
	assert_false(kvm_apf_next_ready(a, 0, true, &r)); /* nothing settled */
	assert_int_equal(kvm_apf_settle(a, gfn_even, NULL, 0), 2);
	/* Not while the APIC cannot take it, nor while the area's token slot is full. */
	assert_false(kvm_apf_next_ready(a, 0, false, &r));
	assert_false(kvm_apf_next_ready(a, 5, true, &r));
	/* The oldest ready first: gfn 4 was given at 6, gfn 2 at 8. */
	assert_true(kvm_apf_next_ready(a, 0, true, &r));
	assert_int_equal(r.token, t[3]);
	assert_int_equal(r.area, AREA);
	assert_int_equal(r.vector, 0xec);
	assert_int_equal(r.since, 6);
	/* The next waits for the ACK. */
	assert_false(kvm_apf_next_ready(a, 0, true, &r));
	assert_int_equal(kvm_apf_wrmsr(a, MSR_KVM_ASYNC_PF_ACK, 1, false), 0);
	assert_true(kvm_apf_next_ready(a, 0, true, &r));
	assert_int_equal(r.token, t[1]);
	assert_int_equal(kvm_apf_outstanding(a), 2);
	/* A token's page settles once. */
	assert_int_equal(kvm_apf_wrmsr(a, MSR_KVM_ASYNC_PF_ACK, 1, false), 0);
	assert_false(kvm_apf_next_ready(a, 0, true, &r));
	assert_int_equal(a->st.ready, 2);
	assert_int_equal(a->st.acks, 2);
}

static void test_wake_all(void **state)
{
	struct kvm_apf *a = on_apf();
	struct kvm_apf_ready r;
	u32 tok;

	(void)state;
	/* Disabling with nothing outstanding owes nothing. */
	assert_int_equal(kvm_apf_wrmsr(a, MSR_KVM_ASYNC_PF_EN, 0, false), 0);
	assert_false(kvm_apf_next_ready(a, 0, true, &r));
	/* Disabling with tokens outstanding: one wake-all, to the old area and vector, even
	 * with an ACK pending and the token slot full (it covers every earlier one). */
	assert_int_equal(kvm_apf_wrmsr(a, MSR_KVM_ASYNC_PF_EN, EN, true), 0);
	assert_int_equal(kvm_apf_not_present(a, 1, &ok_ctx, 0, &tok), KVM_APF_SEND);
	assert_int_equal(kvm_apf_not_present(a, 2, &ok_ctx, 0, &tok), KVM_APF_SEND);
	assert_int_equal(kvm_apf_wrmsr(a, MSR_KVM_ASYNC_PF_INT, 0xed, false), 0);
	assert_int_equal(kvm_apf_wrmsr(a, MSR_KVM_ASYNC_PF_EN, 0, false), 0);
	assert_int_equal(kvm_apf_outstanding(a), 0);
	assert_true(kvm_apf_next_ready(a, 7, true, &r));
	assert_int_equal(r.token, KVM_APF_WAKE_ALL);
	assert_int_equal(r.area, AREA);
	assert_int_equal(r.vector, 0xed);
	assert_false(kvm_apf_next_ready(a, 0, true, &r));
	assert_int_equal(a->st.dropped, 2);
	/* Enabling again (elsewhere) with a token outstanding: the same. */
	assert_int_equal(kvm_apf_wrmsr(a, MSR_KVM_ASYNC_PF_EN, EN, true), 0);
	assert_int_equal(kvm_apf_not_present(a, 1, &ok_ctx, 0, &tok), KVM_APF_SEND);
	assert_int_equal(kvm_apf_wrmsr(a, MSR_KVM_ASYNC_PF_EN, EN + 0x1000, true), 0);
	assert_true(kvm_apf_next_ready(a, 0, true, &r));
	assert_int_equal(r.token, KVM_APF_WAKE_ALL);
	assert_int_equal(r.area, AREA);
	/* Still on: the guest ACKs the wake-all before the next page ready. */
	assert_int_equal(kvm_apf_not_present(a, 9, &ok_ctx, 0, &tok), KVM_APF_SEND);
	assert_int_equal(kvm_apf_settle(a, gfn_even, NULL, 0), 0);
	assert_int_equal(kvm_apf_not_present(a, 8, &ok_ctx, 0, &tok), KVM_APF_SEND);
	assert_int_equal(kvm_apf_settle(a, gfn_even, NULL, 0), 1);
	assert_false(kvm_apf_next_ready(a, 0, true, &r));
	assert_int_equal(kvm_apf_wrmsr(a, MSR_KVM_ASYNC_PF_ACK, 1, false), 0);
	assert_true(kvm_apf_next_ready(a, 0, true, &r));
	assert_int_equal(r.token, tok);
	assert_int_equal(r.area, AREA + 0x1000);
	assert_int_equal(a->st.wake_all, 2);
}

/* ---- the race ------------------------------------------------------------------------ */

#define PROT   (EPT_R | EPT_W | EPT_X | EPT_HOST_WRITABLE | EPT_MMU_WRITABLE)
#define BASE   0x1000ULL
#define PAGES  8
#define TASKS  2
#define ROUNDS 1500 /* touches per task */
#define WORDS  (PAGE_SIZE / 8)

struct task {
	u64 page, done;
	u32 token; /* blocked on it (0: runnable) */
};

struct apf_race {
	struct ept ept;
	struct ept_store st;
	struct kvm_apf apf;
	struct host_vcpu hw[1];
	hfn_t backing[PAGES];
	u8 state[PAGES], pins[PAGES];
	u64 queue[PAGES], queued_at[PAGES];
	u8 *data;
	u32 stop, kick;
	u32 area_token; /* the guest's shared area, token word */
	struct task task[TASKS];
	u64 rng;
	/* what went wrong */
	u64 unknown_ready, lost_wakeups, bad_data;
	/* what happened */
	u64 sync_waits, halts, readies, wake_alls, toggles, touches, evictions;
};

static u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (u64)ts.tv_sec * 1000000000ULL + (u64)ts.tv_nsec;
}

static u64 rnd(u64 *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dULL;
}

static u64 pattern(u64 page, u64 word)
{
	return (page << 32) ^ word ^ 0xa5a5000000000000ULL;
}

static bool settled(void *arg, u64 gfn)
{
	return ept_store_settled(arg, gfn);
}

/* The guest's page-ready handler. */
static void guest_ready(struct apf_race *r, u32 token)
{
	bool found = false;

	for (int i = 0; i < TASKS; i++)
		if (r->task[i].token && (token == KVM_APF_WAKE_ALL || r->task[i].token == token)) {
			r->task[i].token = 0;
			found = true;
		}
	if (token == KVM_APF_WAKE_ALL)
		r->wake_alls++;
	else
		r->unknown_ready += !found;
	r->area_token = 0;
	assert_int_equal(kvm_apf_wrmsr(&r->apf, MSR_KVM_ASYNC_PF_ACK, 1, false), 0);
}

/* Before an entry: deliver what is ready (the pc platform's pc_apf_before_entry). */
static bool deliver(struct apf_race *r)
{
	struct kvm_apf_ready rd;

	kvm_apf_settle(&r->apf, settled, &r->st, now_ns());
	if (!kvm_apf_next_ready(&r->apf, r->area_token, true, &rd))
		return false;
	r->area_token = rd.token;
	r->readies++;
	guest_ready(r, rd.token);
	return true;
}

/* One touch by task t: the page's words checked; false: not mapped. */
static bool touch(struct apf_race *r, struct task *t)
{
	u64 leaf;
	int level;
	bool ok;

	host_vcpu_enter(&r->hw[0]);
	ok = hw_access(&r->ept, BASE + t->page, false, &leaf, &level);
	if (ok) {
		u64 *w = host_data_va(hw_frame(leaf, level, BASE + t->page));

		for (u64 i = 0; i < WORDS; i += 64)
			r->bad_data +=
				__atomic_load_n(&w[i], __ATOMIC_RELAXED) != pattern(t->page, i);
	}
	host_vcpu_exit(&r->hw[0]);
	return ok;
}

/* A fault of task t on a page in flight: a token (the task blocks) or a synchronous wait. */
static void fault(struct apf_race *r, struct task *t)
{
	/* Now and then the guest cannot take the #PF (interrupts off). */
	struct kvm_apf_ctx c = { .irq_window = rnd(&r->rng) % 8 != 0, .paging = true };
	u32 tok;

	if (kvm_apf_not_present(&r->apf, BASE + t->page, &c, now_ns(), &tok) == KVM_APF_SEND) {
		t->token = tok;
		/* SEQ_CST: the token (outstanding) is visible before deliver() reads the page's
		 * state; the I/O thread stores the state, fences, then reads outstanding. */
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		return;
	}
	r->sync_waits++;
	bool online = ept_qs_pause();

	while (!ept_store_settled(&r->st, BASE + t->page))
		cpu_relax();
	ept_qs_resume(online);
}

/* Every task blocked: the guest halts; only a kick (or a page already ready) wakes it. A
 * halt that lasted 100 ms with a page ready to deliver was a lost wake-up. */
static void halt(struct apf_race *r)
{
	bool online = ept_qs_pause();

	r->halts++;
	while (!deliver(r)) {
		u64 t0 = now_ns();

		while (!__atomic_exchange_n(&r->kick, 0, __ATOMIC_ACQUIRE))
			if (now_ns() - t0 > 100000000ULL) {
				r->lost_wakeups += deliver(r);
				break;
			}
	}
	ept_qs_resume(online);
}

static void *vcpu_thread(void *arg)
{
	struct apf_race *r = arg;
	u64 left = TASKS;

	ept_cpu_online();
	while (left && !r->unknown_ready && !r->lost_wakeups) {
		struct task *t = NULL;

		deliver(r);
		for (int k = 0, s = (int)(rnd(&r->rng) % TASKS); k < TASKS; k++) {
			struct task *c = &r->task[(s + k) % TASKS];

			if (!c->token && c->done < ROUNDS) {
				t = c;
				break;
			}
		}
		if (!t) {
			halt(r);
			continue;
		}
		if (touch(r, t)) {
			/* The task computes a little between touches: the evictor's grace
			 * periods get through. */
			for (u64 t0 = now_ns(); now_ns() - t0 < 2000;)
				cpu_relax();
			r->touches++;
			left -= ++t->done == ROUNDS;
			t->page = rnd(&r->rng) % PAGES;
		} else {
			int e = ept_store_populate(&r->st, BASE + t->page, PROT, now_ns());

			assert_true(e == 0 || e == -EINPROGRESS);
			if (e == -EINPROGRESS)
				fault(r, t);
		}
		/* Now and then the guest disables and re-enables async faults. */
		if (rnd(&r->rng) % 512 == 0) {
			u64 off = rnd(&r->rng) % 2 ? 0 : EN; /* disable, or enable again */

			assert_int_equal(kvm_apf_wrmsr(&r->apf, MSR_KVM_ASYNC_PF_EN, off, true), 0);
			assert_int_equal(kvm_apf_wrmsr(&r->apf, MSR_KVM_ASYNC_PF_EN, EN, true), 0);
			r->toggles++;
		}
	}
	ept_cpu_offline();
	__atomic_store_n(&r->stop, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void *io_thread(void *arg)
{
	struct apf_race *r = arg;

	while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
		int n = ept_store_service(&r->st, now_ns());

		assert_true(n >= 0);
		if (n <= 0)
			continue;
		/* SEQ_CST: the page states just stored are ordered before reading whether the
		 * vCPU has tokens (the other half of fault()'s fence). */
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (kvm_apf_outstanding(&r->apf))
			__atomic_store_n(&r->kick, 1, __ATOMIC_RELEASE);
	}
	return NULL;
}

static void *evict_thread(void *arg)
{
	struct apf_race *r = arg;
	u64 rng = 0x2545f4914f6cdd1dULL;

	while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
		int e = ept_store_evict(&r->st, BASE + rnd(&rng) % PAGES);

		assert_true(e == 0 || e == -EBUSY);
		if (e)
			continue;
		r->evictions++;
		/* SEQ_CST: as the I/O thread's; a page that was EVICTING settles here too. */
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (kvm_apf_outstanding(&r->apf))
			__atomic_store_n(&r->kick, 1, __ATOMIC_RELEASE);
		/* Pause after every 32 evictions for 200 ms: then only the I/O thread's kicks
		 * wake a halted vCPU, and one that was not woken shows (halt()'s 100 ms). */
		if (r->evictions % 32 == 0)
			for (u64 t0 = now_ns(); now_ns() - t0 < 200000000 &&
			                        !__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE);)
				cpu_relax();
	}
	return NULL;
}

static void test_race_ready_vs_io(void **state)
{
	struct apf_race *r = calloc(1, sizeof(*r));
	pthread_t vcpu, io, ev;
	struct kvm_apf_stats *s;
	u64 t0 = now_ns();

	(void)state;
	assert_non_null(r);
	host_env_reset();
	assert_int_equal(ept_init(&r->ept), 0);
	host_env_set_vcpus(r->hw, 1);
	r->data = malloc(PAGES * PAGE_SIZE);
	assert_non_null(r->data);
	for (u64 p = 0; p < PAGES; p++) {
		r->backing[p] = INVALID_HFN;
		for (u64 i = 0; i < WORDS; i++)
			((u64 *)(r->data + p * PAGE_SIZE))[i] = pattern(p, i);
	}
	ept_store_init(&r->st, &r->ept, BASE, PAGES,
	               &(struct ept_store_arrays){ .backing = r->backing,
	                                           .data = r->data,
	                                           .state = r->state,
	                                           .pins = r->pins,
	                                           .queue = r->queue,
	                                           .queued_at = r->queued_at },
	               20000 /* ns */, 2);
	kvm_apf_init(&r->apf, 0);
	assert_int_equal(kvm_apf_wrmsr(&r->apf, MSR_KVM_ASYNC_PF_INT, 0xec, false), 0);
	assert_int_equal(kvm_apf_wrmsr(&r->apf, MSR_KVM_ASYNC_PF_EN, EN, true), 0);
	r->rng = 0x9e3779b97f4a7c15ULL;
	for (int i = 0; i < TASKS; i++)
		r->task[i].page = (u64)i;
	assert_int_equal(pthread_create(&io, NULL, io_thread, r), 0);
	assert_int_equal(pthread_create(&ev, NULL, evict_thread, r), 0);
	assert_int_equal(pthread_create(&vcpu, NULL, vcpu_thread, r), 0);
	pthread_join(vcpu, NULL);
	pthread_join(io, NULL);
	pthread_join(ev, NULL);
	s = &r->apf.st;
	printf("apf race: %llu touches, %llu tokens, %llu ready, %llu wake-alls (%llu tokens "
	       "dropped by %llu toggles), %llu sync waits (%llu irq-off, %llu dup, %llu full), "
	       "%llu halts, %llu evictions, %llu fetches, %llu ms\n",
	       (unsigned long long)r->touches, (unsigned long long)s->not_present,
	       (unsigned long long)s->ready, (unsigned long long)s->wake_all,
	       (unsigned long long)s->dropped, (unsigned long long)r->toggles,
	       (unsigned long long)r->sync_waits, (unsigned long long)s->wait_ctx,
	       (unsigned long long)s->wait_dup, (unsigned long long)s->wait_full,
	       (unsigned long long)r->halts, (unsigned long long)r->evictions,
	       (unsigned long long)r->st.stats.fetches,
	       (unsigned long long)((now_ns() - t0) / 1000000));
	fflush(stdout);
	assert_int_equal(r->unknown_ready, 0);
	assert_int_equal(r->lost_wakeups, 0);
	assert_int_equal(r->bad_data, 0);
	for (int i = 0; i < TASKS; i++)
		assert_int_equal(r->task[i].done, ROUNDS);
	/* Every token ended as a page ready or in a wake-all, or is still out. */
	assert_int_equal(s->not_present, s->ready + s->dropped + kvm_apf_outstanding(&r->apf));
	assert_true(s->not_present > 0 && s->ready > 0 && r->halts > 0);
	host_env_set_vcpus(NULL, 0);
	assert_int_equal(ept_unmap(&r->ept, BASE, PAGES), 0);
	for (u64 p = 0; p < PAGES; p++)
		if (r->backing[p] != INVALID_HFN)
			ept_env_free_data(&r->ept, BASE + p, r->backing[p], 1);
	ept_destroy(&r->ept);
	free(r->data);
	free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_msr_checks),       cmocka_unit_test(test_not_present_rules),
		cmocka_unit_test(test_ready_rules),      cmocka_unit_test(test_wake_all),
		cmocka_unit_test(test_race_ready_vs_io),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
