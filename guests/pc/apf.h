/*
 * What the async-page-fault kernels (pcapf.c, pcapf_hostile.c) share: frame-saving traps
 * (ktrap.S, ktrap.c), a small preemptive scheduler of kernel tasks (sched.c) and KVM's
 * async-page-fault interface (kvmapf.c; its constants below, the kernels' shared ones in
 * include/pcapf.h).
 *
 * Every interrupt and exception saves a struct kframe on the interrupted task's stack and
 * resumes the frame its handler returns, so the timer, the yield vector, a not-present #PF
 * and a page-ready all switch tasks through the same path.
 */
#ifndef PC_GUEST_APF_H
#define PC_GUEST_APF_H

#include "guests/pc/pc.h"
#include "pcapf.h"

/* KVM's async-page-fault interface as a guest sees it (Linux Documentation/virt/kvm/x86/
 * msr.rst and cpuid.rst; the hypervisor's copy is devices/kvm_apf.h, never included here). */
/* CPUID: a hypervisor leaf 0x40000000 + k * 0x100 (k < 0x100) whose EBX, ECX, EDX
 * spell "KVMKVMKVM\0\0\0"; its base + 1 EAX holds the feature bits. */
#define KVM_CPUID_BASE           0x40000000u
#define KVM_CPUID_STEP           0x100u
#define KVM_CPUID_SIG_EBX        0x4b4d564bu /* "KVMK" */
#define KVM_CPUID_SIG_ECX        0x564b4d56u /* "VMKV" */
#define KVM_CPUID_SIG_EDX        0x0000004du /* "M\0\0\0" */
#define KVM_FEATURE_ASYNC_PF     (1u << 4)
#define KVM_FEATURE_ASYNC_PF_INT (1u << 14)

/* MSRs */
#define MSR_KVM_ASYNC_PF_EN  0x4b564d02u /* area GPA | the flags below; 0 disables */
#define MSR_KVM_ASYNC_PF_INT 0x4b564d06u /* the page-ready vector (bits 7:0; 32..255) */
#define MSR_KVM_ASYNC_PF_ACK 0x4b564d07u /* write 1: the page-ready was consumed */

#define KVM_ASYNC_PF_ENABLED               (1ull << 0)
#define KVM_ASYNC_PF_SEND_ALWAYS           (1ull << 1) /* also when the guest is in ring 0 */
#define KVM_ASYNC_PF_DELIVERY_AS_PF_VMEXIT (1ull << 2) /* nested only (eptvisor: #GP) */
#define KVM_ASYNC_PF_DELIVERY_AS_INT       (1ull << 3)

#define KVM_PV_REASON_PAGE_NOT_PRESENT 1u
#define KVM_APF_WAKE_ALL               0xffffffffu /* the page-ready token that wakes all */

/* The shared area ("struct kvm_vcpu_pv_apf_data"), 64-byte aligned in guest RAM. */
struct kvm_apf_area {
	u32 flags; /* KVM_PV_REASON_PAGE_NOT_PRESENT with a not-present #PF; the guest clears it */
	u32 token; /* a page-ready's token; the guest clears it, then writes ACK */
	u8 pad[56];
	u32 enabled;
} __attribute__((aligned(64)));

/* ---- ktrap.S / ktrap.c ---- */
struct kframe {
	u64 r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
	u64 vector, error;
	u64 rip, cs, rflags, rsp, ss; /* as the CPU pushed them */
};

#define KTRAP_YIELD 0x81 /* `int $0x81`: let the scheduler pick another task */
#define EXC_GP      13
#define EXC_PF      14

/* A handler gets the interrupted frame and returns the frame to resume (F, or another
 * task's). Interrupts are off while it runs. */
typedef struct kframe *(*ktrap_fn)(struct kframe *f);

/* Load an IDT with every stub of ktrap.S; every vector starts unhandled (an exception exits
 * with PCAPF_EXIT_EXC + vector, an interrupt with EXIT_UNEXPECTED_IRQ). */
void ktrap_init(void);
/* Load that IDT on another CPU. */
void ktrap_load(void);
void ktrap_set(u8 vector, ktrap_fn fn);
struct kframe *ktrap_dispatch(struct kframe *f);

static inline u64 read_cr2(void)
{
	u64 v;

	__asm__ volatile("mov %%cr2, %0" : "=r"(v));
	return v;
}

static inline u64 rdtsc(void)
{
	u32 lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((u64)hi << 32) | lo;
}

static inline void cpuid(u32 leaf, u32 *a, u32 *b, u32 *c, u32 *d)
{
	__asm__ volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf), "c"(0));
}

/* ---- args.c ---- */
/* The number in the word KEY=N of ARGS (decimal, or hex after 0x): true and *V if there is
 * one and it parses; false (and *V untouched) otherwise. */
bool arg_u64(const char *args, const char *key, u64 *v);
/* Whether WORD is one of the space-separated words of ARGS. */
bool arg_word(const char *args, const char *word);

/* ---- kvmapf.c ---- */

/* The KVM leaf (0x40000000 + k * 0x100) if its EBX-EDX spell KVM's signature and its
 * features have both KVM_FEATURE_ASYNC_PF and KVM_FEATURE_ASYNC_PF_INT; else 0. */
u32 kvm_apf_leaf(void);
/* WRMSR that may #GP: true if it did not (needs kvm_apf_gp_fixup as the #GP handler). */
bool wrmsr_safe(u32 msr, u64 v);
/* The #GP handler wrmsr_safe needs: records the fault and skips the WRMSR; any other #GP
 * prints itself and exits. */
struct kframe *kvm_apf_gp_fixup(struct kframe *f);

/* ---- apfsim.c: apf=sim, async page faults simulated inside the guest (QEMU TCG) ---- */
extern bool apf_sim;
/* Make BUF's PAGES not present (4 KiB tables over them); false if it spans too much. */
bool apfsim_init(u64 buf, u64 pages);
/* A #PF at CR2 that is the simulation's: true and the token it is to wait for. */
bool apfsim_fault(u64 cr2, u32 *token);
/* From the timer: complete a due fetch and send its page-ready through AREA (if the last
 * was ACKed). */
void apfsim_tick(struct kvm_apf_area *area);
/* The guest's ACK. */
void apfsim_ack(void);

/* ---- sched.c ---- */
#define SCHED_MAX_TASKS 8
#define SCHED_MAX_CPUS  2
#define SCHED_SLICE_US  1000 /* default time slice */

struct apf_counts {
	u32 not_present; /* #PFs with reason PAGE_NOT_PRESENT */
	u32 ready;       /* page-ready interrupts (wake-alls included) */
	u32 wake_all;    /* ... of them with token 0xffffffff */
	u32 early;       /* readies for a token no task waited on (yet) */
};
/* trace=N: print the first N not-present / ready events, and every 1000th tick. */
extern u32 sched_trace;

/* Install the timer, yield, #PF and page-ready handlers and set up every CPU's (empty)
 * run queue. Once, before any sched_spawn. */
void sched_init(void);
/* A task on CPU running FN(ARG) on its own stack; it ends when FN returns. Before that CPU
 * calls sched_cpu_start. */
void sched_spawn(int cpu, const char *name, void (*fn)(u64), u64 arg);
/* CPU's shared area for KVM's async page faults (the one its page faults and readies use). */
struct kvm_apf_area *sched_area(int cpu);
/* On CPU itself (LAPIC enabled, interrupts off): become its idle task and run its tasks,
 * preempted every SLICE_US at a 1 GHz bus, as QEMU's and eptvisor's LAPICs have; returns,
 * timer stopped and interrupts off, once they have all ended. */
void sched_cpu_start(int cpu, u32 slice_us);
/* The counts of every CPU added up. */
void sched_counts(struct apf_counts *sum);
/* Timing of the async path (TSC cycles), for the benchmark: a walker marks the moment just
 * before a first touch (sched_mark_touch; 0 clears it); a not-present #PF that follows
 * records touch -> handler (the exit, the hypervisor's decision, the #PF's delivery), and
 * every page ready records its ACK's WRMSR round trip. Medians over every CPU's samples. */
void sched_mark_touch(u64 tsc);
void sched_timing(u64 *np_p50, u64 *ack_p50, u32 *n);
/* Sort a[0..n) ascending (insertion sort: a few thousand samples at the end of a run). */
void sort_u32(u32 *a, u32 n);
/* Give the CPU to another runnable task. */
static inline void sched_yield(void)
{
	__asm__ volatile("int $0x81" ::: "memory");
}

#endif
