/*
 * KVM's paravirtual asynchronous page faults as a guest sees them (Linux's
 * Documentation/virt/kvm/x86/msr.rst, MSR_KVM_ASYNC_PF_*; cpuid.rst, KVM_FEATURE_ASYNC_PF*):
 * one vCPU's state machine, pure C and separate from VMX. It holds the three MSRs and their
 * checks, the table of outstanding tokens, and the rules for when "page not present" and
 * "page ready" may be delivered. The platform (pc/apf.c) reads and writes the guest's shared
 * area, injects the #PF and raises the interrupt; this file only decides.
 *
 * Only the vCPU's own CPU calls these (in its exit handlers and before its entries), so
 * there is no lock. The one field another CPU reads is `outstanding` (the I/O task looks
 * whether a vCPU waits for pages before it kicks it), stored and loaded atomically.
 *
 * A token's life: given at a fault on a page in flight (WAITING; the guest got "not
 * present" with it), READY once the page settled, then delivered as "page ready" (freed).
 * Disabling (or re-enabling) with tokens outstanding drops them all and owes the guest one
 * wake-all (token 0xffffffff) in the area and on the vector in force before.
 */
#ifndef EPTVISOR_DEVICES_KVM_APF_H
#define EPTVISOR_DEVICES_KVM_APF_H

#include "types.h"

#define MSR_KVM_ASYNC_PF_EN  0x4b564d02u
#define MSR_KVM_ASYNC_PF_INT 0x4b564d06u
#define MSR_KVM_ASYNC_PF_ACK 0x4b564d07u

/* CPUID 0x40000001 EAX bits (cpuid.rst). */
#define KVM_FEATURE_ASYNC_PF     4
#define KVM_FEATURE_ASYNC_PF_INT 14

/* MSR_KVM_ASYNC_PF_EN: bits 63:6 the area's GPA, bits 5:4 reserved. */
#define KVM_ASYNC_PF_ENABLED               BIT(0)
#define KVM_ASYNC_PF_SEND_ALWAYS           BIT(1) /* also when the guest is in kernel mode */
#define KVM_ASYNC_PF_DELIVERY_AS_PF_VMEXIT BIT(2) /* nested only: not offered, #GP */
#define KVM_ASYNC_PF_DELIVERY_AS_INT       BIT(3) /* page ready as an interrupt: required */
#define KVM_ASYNC_PF_RESERVED              0x30ULL

/* The shared area (struct kvm_vcpu_pv_apf_data): u32 flags, u32 token, 56 bytes pad, u32
 * enabled; 64-byte aligned. flags = 1 with a "not present" #PF; token = a page ready. */
#define KVM_APF_AREA_BYTES             68
#define KVM_APF_FLAGS_OFF              0
#define KVM_APF_TOKEN_OFF              4
#define KVM_PV_REASON_PAGE_NOT_PRESENT 1
#define KVM_APF_WAKE_ALL               0xffffffffu

#define KVM_APF_MAX 64 /* tokens outstanding per vCPU, as KVM's ASYNC_PF_PER_VCPU */

enum kvm_apf_tok { KVM_APF_FREE, KVM_APF_WAITING, KVM_APF_READY };

struct kvm_apf_token {
	u64 gfn;
	u64 since; /* when the token was given (the caller's clock) */
	u32 token;
	u8 state; /* enum kvm_apf_tok */
};

struct kvm_apf_stats {
	u64 not_present; /* tokens given ("page not present" delivered) */
	u64 ready;       /* "page ready" delivered, wake-alls not counted */
	u64 wake_all;    /* wake-alls delivered */
	u64 acks;        /* ACK writes with bit 0 set */
	u64 wait_off;    /* touches of a page in flight that waited: async faults off */
	u64 wait_ctx;    /* ... the guest could not take a #PF at that moment */
	u64 wait_dup;    /* ... this vCPU already has a token for the page */
	u64 wait_full;   /* ... KVM_APF_MAX tokens outstanding */
	u64 dropped;     /* tokens dropped by a disable or re-enable (covered by a wake-all) */
};

struct kvm_apf {
	u64 msr_en, msr_int;
	u32 vcpu_id;      /* the low 12 bits of every token, as KVM's */
	u32 serial;       /* the next token's upper bits */
	u32 outstanding;  /* WAITING + READY; read by other CPUs (kvm_apf_outstanding) */
	bool ack_pending; /* a page ready went in: the next waits for the guest's ACK */
	bool owe_wake_all;
	u64 wake_area; /* where the owed wake-all goes, and on which vector */
	u8 wake_vector;
	struct kvm_apf_token t[KVM_APF_MAX];
	struct kvm_apf_stats st;
};

/* What the vCPU's state allows at the fault (the caller reads it from the VMCS / guest). */
struct kvm_apf_ctx {
	bool irq_window;    /* RFLAGS.IF set and no STI / MOV SS shadow */
	bool user;          /* CPL 3 */
	bool event_pending; /* an event is being delivered (an exit during delivery) */
	bool paging;        /* CR0.PG: a #PF with a "linear address" in CR2 is meaningful */
	u32 area_flags;     /* the area's flags as the guest left them (0: consumed) */
};

enum kvm_apf_verdict {
	KVM_APF_SEND,      /* give *token as "page not present" */
	KVM_APF_WAIT_OFF,  /* the vCPU waits: async faults are off */
	KVM_APF_WAIT_CTX,  /* ... the guest cannot take the #PF now */
	KVM_APF_WAIT_DUP,  /* ... this vCPU has a token for the page already */
	KVM_APF_WAIT_FULL, /* ... the token table is full */
};

/* A page ready to write: token (KVM_APF_WAKE_ALL for a wake-all) at area + 4, then raise
 * vector. since: when its token was given (0 for a wake-all). */
struct kvm_apf_ready {
	u64 area, gfn, since;
	u32 token;
	u8 vector;
};

void kvm_apf_init(struct kvm_apf *a, u32 vcpu_id);

/* Enabled: ENABLED and DELIVERY_AS_INT both set (KVM delivers "page ready" only as an
 * interrupt; with ENABLED alone it keeps the value but sends nothing, as KVM does). */
bool kvm_apf_on(const struct kvm_apf *a);
u64 kvm_apf_area(const struct kvm_apf *a);
u8 kvm_apf_vector(const struct kvm_apf *a);
/* Tokens outstanding; any CPU. */
u32 kvm_apf_outstanding(const struct kvm_apf *a);

/* WRMSR of one of the three MSRs: 0, or -EINVAL for a #GP. area_ok: the caller found the
 * KVM_APF_AREA_BYTES at val's GPA to be ordinary RAM (consulted only when enabling).
 * -ENOENT for any other MSR. */
int kvm_apf_wrmsr(struct kvm_apf *a, u32 msr, u64 val, bool area_ok);
/* RDMSR: 0 and *val, or -ENOENT for any other MSR. */
int kvm_apf_rdmsr(const struct kvm_apf *a, u32 msr, u64 *val);

/* A touch of gfn, which is in flight: may the guest get "page not present"? On
 * KVM_APF_SEND a token was given (*token, WAITING); the caller writes the area's flags and
 * injects the #PF. Otherwise the vCPU waits for the page itself. */
enum kvm_apf_verdict kvm_apf_not_present(struct kvm_apf *a, u64 gfn, const struct kvm_apf_ctx *c,
                                         u64 now, u32 *token);

/* Mark READY every WAITING token whose page settled(arg, gfn) says is no longer in flight.
 * Returns the tokens READY now. */
u32 kvm_apf_settle(struct kvm_apf *a, bool (*settled)(void *arg, u64 gfn), void *arg);

/* The next page ready to deliver, if one may go now: an owed wake-all first (at once: it
 * covers every earlier token), else the oldest READY token while async faults are on, no
 * ACK is pending and area_token (the area's token word as the guest left it) is 0. apic_ok:
 * the vCPU's local APIC accepts interrupts. The token leaves the table. */
bool kvm_apf_next_ready(struct kvm_apf *a, u32 area_token, bool apic_ok, struct kvm_apf_ready *r);

#endif
