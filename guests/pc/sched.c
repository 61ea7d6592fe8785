/*
 * A small preemptive scheduler of kernel tasks for the pcapf kernel, and the guest side of
 * KVM's async page faults that blocks and wakes them (as Linux's kvm_async_pf_task_wait /
 * _wake do). Each CPU has its own run queue, tasks and shared area (struct cpu_sched, found
 * through GS base); tasks never move between CPUs. Task 0 of a CPU is its idle task (the
 * context that called sched_cpu_start); the others each run on their own stack in ring 0
 * with interrupts on. All switching happens in trap handlers (ktrap.c), so a task's state
 * is always one saved struct kframe:
 *   - the LAPIC timer (VEC_TIMER, one tick a slice) and `int $KTRAP_YIELD`: round
 *     robin among the runnable tasks, the idle task only when none is;
 *   - a #PF with the CPU's area.flags == PAGE_NOT_PRESENT: CR2 is a token; the task blocks on
 *     it (unless its page-ready already came) and another runs. When it is woken, its saved
 *     frame retries the faulting instruction. A #PF with flags == 0 is a real fault: it is
 *     printed and the kernel exits with PCAPF_EXIT_REAL_PF;
 *   - the page-ready vector: the token from the area (cleared, then ACKed), wakes the task
 *     blocked on it, every blocked task for KVM_APF_WAKE_ALL, or is kept as an early ready;
 *     a woken task runs at once (the next runnable one in round-robin order).
 */
#include "guests/pc/apf.h"

#define STACK_SIZE  16384
#define MAX_EARLY   64 /* KVM has at most 64 tokens in flight per vCPU */
#define RFLAGS_IF   0x202
#define SEL_CODE64  0x18
#define SEL_DATA    0x10
#define MSR_GS_BASE 0xc0000101

enum task_state { T_RUNNABLE, T_BLOCKED, T_DEAD };

struct task {
	struct kframe *frame; /* saved while it does not run */
	const char *name;
	enum task_state state;
	u32 token; /* T_BLOCKED: the token it waits for */
};

/* One CPU's scheduler; only that CPU touches it once started (but live, read by others). */
#define TIMING_SAMPLES 1024

struct cpu_sched {
	struct cpu_sched *self; /* %gs:0 */
	struct kvm_apf_area area;
	struct task tasks[SCHED_MAX_TASKS];
	int ntasks, cur;
	volatile int live; /* spawned tasks not yet ended */
	u32 early[MAX_EARLY];
	int nearly;
	u64 ticks;
	struct apf_counts counts;
	u64 touch_tsc; /* sched_mark_touch */
	u32 nnp, nack;
	u32 np_tsc[TIMING_SAMPLES], ack_tsc[TIMING_SAMPLES];
};

u32 sched_trace;
static struct cpu_sched cpus[SCHED_MAX_CPUS];
static u8 stacks[SCHED_MAX_CPUS][SCHED_MAX_TASKS][STACK_SIZE] __attribute__((aligned(16)));

/* This CPU's scheduler (GS base, set by sched_cpu_start). */
static struct cpu_sched *me(void)
{
	struct cpu_sched *c;

	__asm__ volatile("mov %%gs:0, %0" : "=r"(c));
	return c;
}

/* Save F as the current task's, pick the next runnable one (round robin, the idle task only
 * if none) and return its frame. */
static struct kframe *switch_from(struct cpu_sched *c, struct kframe *f)
{
	c->tasks[c->cur].frame = f;
	for (int i = 1; i <= c->ntasks; i++) {
		int j = (c->cur + i) % c->ntasks;

		if (j != 0 && c->tasks[j].state == T_RUNNABLE) {
			c->cur = j;
			return c->tasks[j].frame;
		}
	}
	c->cur = 0;
	return c->tasks[0].frame;
}

/* trace=N: every 1000th tick, where the tasks are. */
static void trace_tick(struct cpu_sched *c)
{
	if (!sched_trace || ++c->ticks % 1000)
		return;
	pr("pcapf: trace: cpu %d tick %llu cur %d np %u ready %u states", (int)(c - cpus),
	   (unsigned long long)c->ticks, c->cur, c->counts.not_present, c->counts.ready);
	for (int i = 0; i < c->ntasks; i++)
		pr(" %d", c->tasks[i].state);
	pr("\n");
}

static struct kframe *on_timer(struct kframe *f)
{
	struct cpu_sched *c = me();

	lapic_eoi();
	if (apf_sim)
		apfsim_tick(&c->area);
	trace_tick(c);
	return switch_from(c, f);
}

static struct kframe *on_yield(struct kframe *f)
{
	return switch_from(me(), f);
}

static struct kframe *on_spurious(struct kframe *f)
{
	return f; /* no EOI for the spurious vector */
}

/* A ready for TOKEN came before its not-present (or for no task): remember it. */
static void keep_early(struct cpu_sched *c, u32 token)
{
	c->counts.early++;
	if (c->nearly == MAX_EARLY) {
		pr("FAIL: more than %d page-readies for unknown tokens\n", MAX_EARLY);
		pc_exit(PCAPF_EXIT_TOKENS);
	}
	c->early[c->nearly++] = token;
}

/* Whether a ready for TOKEN already came (and forget it). */
static bool take_early(struct cpu_sched *c, u32 token)
{
	for (int i = 0; i < c->nearly; i++)
		if (c->early[i] == token) {
			c->early[i] = c->early[--c->nearly];
			return true;
		}
	return false;
}

/* Whether a #PF at CR2 is an async "page not present", and its token. */
static bool not_present(struct cpu_sched *c, u64 cr2, u32 *token)
{
	volatile struct kvm_apf_area *area = &c->area;

	if (area->flags == KVM_PV_REASON_PAGE_NOT_PRESENT) {
		area->flags = 0; /* read and cleared before interrupts are on again */
		*token = (u32)cr2;
		return true;
	}
	return apf_sim && apfsim_fault(cr2, token);
}

static struct kframe *on_page_fault(struct kframe *f)
{
	u64 cr2 = read_cr2();
	struct cpu_sched *c = me();
	u32 token;

	if (!not_present(c, cr2, &token)) {
		pr("FAIL: real #PF at 0x%llx cr2 0x%llx error 0x%llx\n", (unsigned long long)f->rip,
		   (unsigned long long)cr2, (unsigned long long)f->error);
		pc_exit(PCAPF_EXIT_REAL_PF);
	}
	c->counts.not_present++;
	if (c->touch_tsc && c->nnp < TIMING_SAMPLES)
		c->np_tsc[c->nnp++] = (u32)(rdtsc() - c->touch_tsc);
	c->touch_tsc = 0;
	if (sched_trace && sched_trace--)
		pr("pcapf: trace: cpu %d not present 0x%x at 0x%llx task %d tsc %llu\n",
		   (int)(c - cpus), token, (unsigned long long)f->rip, c->cur,
		   (unsigned long long)rdtsc());
	if (take_early(c, token) || c->cur == 0)
		return f; /* retry at once (the idle task never blocks: the vCPU waits) */
	c->tasks[c->cur].state = T_BLOCKED;
	c->tasks[c->cur].token = token;
	return switch_from(c, f);
}

/* Wake the tasks blocked on TOKEN (all blocked tasks for KVM_APF_WAKE_ALL); how many. */
static int wake(struct cpu_sched *c, u32 token)
{
	int n = 0;

	for (int i = 1; i < c->ntasks; i++)
		if (c->tasks[i].state == T_BLOCKED &&
		    (token == KVM_APF_WAKE_ALL || c->tasks[i].token == token)) {
			c->tasks[i].state = T_RUNNABLE;
			n++;
		}
	return n;
}

static struct kframe *on_page_ready(struct kframe *f)
{
	struct cpu_sched *c = me();
	volatile struct kvm_apf_area *area = &c->area;
	u32 token = area->token;
	int woke;

	area->token = 0;
	if (apf_sim)
		apfsim_ack();
	else {
		u64 t0 = rdtsc();

		wrmsr(MSR_KVM_ASYNC_PF_ACK, 1); /* the next ready may come: the token is consumed */
		if (c->nack < TIMING_SAMPLES)
			c->ack_tsc[c->nack++] = (u32)(rdtsc() - t0);
	}
	c->counts.ready++;
	if (sched_trace && sched_trace--)
		pr("pcapf: trace: cpu %d ready 0x%x task %d tsc %llu\n", (int)(c - cpus), token,
		   c->cur, (unsigned long long)rdtsc());
	if (token == KVM_APF_WAKE_ALL)
		c->counts.wake_all++;
	woke = wake(c, token);
	if (!woke && token != KVM_APF_WAKE_ALL)
		keep_early(c, token);
	lapic_eoi();
	/* A woken task runs at once (it waited for I/O; the compute task had the CPU). */
	return woke ? switch_from(c, f) : f;
}

void sched_init(void)
{
	ktrap_set(VEC_TIMER, on_timer);
	ktrap_set(KTRAP_YIELD, on_yield);
	ktrap_set(VEC_SPURIOUS, on_spurious);
	ktrap_set(EXC_PF, on_page_fault);
	ktrap_set(PCAPF_VECTOR, on_page_ready);
	for (int i = 0; i < SCHED_MAX_CPUS; i++) {
		cpus[i].self = &cpus[i];
		cpus[i].ntasks = 1;
		cpus[i].tasks[0].name = "idle";
	}
}

struct kvm_apf_area *sched_area(int cpu)
{
	return &cpus[cpu].area;
}

void sched_counts(struct apf_counts *sum)
{
	*sum = (struct apf_counts){ 0, 0, 0, 0 };
	for (int i = 0; i < SCHED_MAX_CPUS; i++) {
		sum->not_present += cpus[i].counts.not_present;
		sum->ready += cpus[i].counts.ready;
		sum->wake_all += cpus[i].counts.wake_all;
		sum->early += cpus[i].counts.early;
	}
}

void sched_mark_touch(u64 tsc)
{
	me()->touch_tsc = tsc;
}

void sort_u32(u32 *a, u32 n)
{
	for (u32 i = 1; i < n; i++) {
		u32 x = a[i], j = i;

		for (; j > 0 && a[j - 1] > x; j--)
			a[j] = a[j - 1];
		a[j] = x;
	}
}

static u64 median(u32 *(*arr)(struct cpu_sched *), u32 (*cnt)(struct cpu_sched *), u32 *n)
{
	static u32 all[SCHED_MAX_CPUS * TIMING_SAMPLES];

	*n = 0;
	for (int i = 0; i < SCHED_MAX_CPUS; i++)
		for (u32 k = 0; k < cnt(&cpus[i]); k++)
			all[(*n)++] = arr(&cpus[i])[k];
	sort_u32(all, *n);
	return *n ? all[*n / 2] : 0;
}

static u32 *np_arr(struct cpu_sched *c)
{
	return c->np_tsc;
}

static u32 np_cnt(struct cpu_sched *c)
{
	return c->nnp;
}

static u32 *ack_arr(struct cpu_sched *c)
{
	return c->ack_tsc;
}

static u32 ack_cnt(struct cpu_sched *c)
{
	return c->nack;
}

void sched_timing(u64 *np_p50, u64 *ack_p50, u32 *n)
{
	u32 nack;

	*np_p50 = median(np_arr, np_cnt, n);
	*ack_p50 = median(ack_arr, ack_cnt, &nack);
}

static void task_exit(void)
{
	struct cpu_sched *c = me();

	cli();
	c->tasks[c->cur].state = T_DEAD;
	c->live--;
	sched_yield(); /* never comes back: a dead task is not picked */
	pc_exit(PCAPF_EXIT_EXC);
}

/* Where every task starts: fn(arg) in RDI/RSI as the frame left them. */
static void task_start(void (*fn)(u64), u64 arg)
{
	fn(arg);
	task_exit();
}

void sched_spawn(int cpu, const char *name, void (*fn)(u64), u64 arg)
{
	struct cpu_sched *c = &cpus[cpu];
	struct task *t = &c->tasks[c->ntasks];
	u64 top = (u64)&stacks[cpu][c->ntasks][STACK_SIZE];
	struct kframe *f = (struct kframe *)(top - 64 - sizeof(*f));

	if (c->ntasks == SCHED_MAX_TASKS) {
		pr("FAIL: more than %d tasks\n", SCHED_MAX_TASKS);
		pc_exit(PCAPF_EXIT_TOKENS);
	}
	memset(f, 0, sizeof(*f));
	f->rip = (u64)task_start;
	f->rdi = (u64)fn;
	f->rsi = arg;
	f->cs = SEL_CODE64;
	f->ss = SEL_DATA;
	f->rflags = RFLAGS_IF;
	f->rsp = top - 8; /* as after a call: RSP + 8 is 16-byte aligned */
	t->frame = f;
	t->name = name;
	t->state = T_RUNNABLE;
	c->ntasks++;
	c->live++;
}

void sched_cpu_start(int cpu, u32 slice_us)
{
	wrmsr(MSR_GS_BASE, (u64)&cpus[cpu]);             /* me(): nothing reloads GS after this */
	lapic_timer_start(slice_us * (1000 / 16), true); /* 1 GHz / 16: 62.5 counts a us */
	cli();
	while (cpus[cpu].live) {
		sti_hlt();
		cli();
	}
	lapic_timer_stop();
}
