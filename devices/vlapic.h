/*
 * One vCPU's virtual local APIC (xAPIC, MMIO page at 0xfee00000), pure C.
 *
 * The architectural registers live in a caller-provided 4 KiB page laid out exactly like the
 * xAPIC MMIO page (register at offset off, 32 bits, 16-byte stride), because the kernel hands
 * that same page to the CPU as the VMCS virtual-APIC page: with "virtualize APIC accesses",
 * "use TPR shadow" and "APIC-register virtualization" the guest's reads of most registers are
 * satisfied from it without a VM exit. Everything else (the timer's time base, latched errors)
 * is in struct vlapic.
 *
 * How the kernel drives it:
 *   APIC-write exit (trap-like, value already in the page)   -> vlapic_write()
 *   APIC-access exit, write (fault-like, page untouched)      -> vlapic_write() with the
 *                                                                decoded value (devices/insn.h)
 *   APIC-access exit, read of PPR / APR / TMCCT / reserved    -> vlapic_read()
 *   before VM entry: vlapic_timer_poll(), then vlapic_pending() -> inject -> vlapic_accept();
 *   vlapic_tpr_threshold() for the VMCS TPR threshold.
 *
 * Not emulated: x2APIC, TSC-deadline timer mode (CPUID hides it; mode 2 leaves the timer
 * disarmed), the CMCI LVT (VER says max LVT 5), level-triggered interrupts (TMR stays 0),
 * focus processor checking, directed EOI, arbitration beyond the SDM's APR formula, thermal
 * and performance-counter interrupt sources. No locking: one vCPU's thread owns its vlapic;
 * IPIs from other vCPUs must be funnelled by the caller.
 *
 * Timer clock: the timer counts at bus_hz / divide (QEMU's PC APIC uses 1 GHz, so one count
 * per nanosecond at divide 1); time is the caller's monotonic ns clock, passed as now_ns.
 */
#ifndef EPTVISOR_DEVICES_VLAPIC_H
#define EPTVISOR_DEVICES_VLAPIC_H

#include "types.h"

/* The shortest period of a periodic timer (ns); shorter ones are stretched to it (KVM's
 * default min_timer_period_us is the same 200 us). */
#define VLAPIC_MIN_PERIOD_NS 200000ULL

/* Register offsets in the xAPIC page. */
#define APIC_ID          0x020
#define APIC_VER         0x030
#define APIC_TPR         0x080
#define APIC_APR         0x090
#define APIC_PPR         0x0a0
#define APIC_EOI         0x0b0
#define APIC_RRD         0x0c0
#define APIC_LDR         0x0d0
#define APIC_DFR         0x0e0
#define APIC_SVR         0x0f0
#define APIC_ISR         0x100 /* 8 registers, 0x100..0x170 */
#define APIC_TMR         0x180 /* 8 registers, 0x180..0x1f0 */
#define APIC_IRR         0x200 /* 8 registers, 0x200..0x270 */
#define APIC_ESR         0x280
#define APIC_LVT_CMCI    0x2f0
#define APIC_ICR_LO      0x300
#define APIC_ICR_HI      0x310
#define APIC_LVT_TIMER   0x320
#define APIC_LVT_THERMAL 0x330
#define APIC_LVT_PERF    0x340
#define APIC_LVT_LINT0   0x350
#define APIC_LVT_LINT1   0x360
#define APIC_LVT_ERROR   0x370
#define APIC_TMICT       0x380
#define APIC_TMCCT       0x390
#define APIC_TDCR        0x3e0

#define APIC_VERSION 0x00050014 /* like QEMU: version 0x14, max LVT entry 5 */

#define APIC_SVR_ENABLE        BIT(8)
#define APIC_LVT_MASKED        BIT(16)
#define APIC_LVT_TIMER_MODE(v) (((v) >> 17) & 3) /* 0 one-shot, 1 periodic, 2 TSC-deadline */
#define APIC_ICR_BUSY          BIT(12)           /* delivery status: always 0 here */

/* ESR bits (latched on the next ESR write, SDM 10.5.3). */
#define APIC_ESR_SEND_ILLEGAL_VECTOR BIT(5)
#define APIC_ESR_RECV_ILLEGAL_VECTOR BIT(6)
#define APIC_ESR_ILLEGAL_REG         BIT(7)

/* ICR delivery modes (struct vlapic_ipi.delivery). */
#define APIC_DM_FIXED  0
#define APIC_DM_LOWEST 1
#define APIC_DM_SMI    2
#define APIC_DM_NMI    4
#define APIC_DM_INIT   5
#define APIC_DM_SIPI   6

/* ICR destination shorthands (struct vlapic_ipi.shorthand). */
#define APIC_SH_NONE   0
#define APIC_SH_SELF   1
#define APIC_SH_ALL    2
#define APIC_SH_OTHERS 3

/* An interprocessor interrupt the guest asked for by writing ICR_LO. */
struct vlapic_ipi {
	u8 vector;
	u8 delivery;  /* APIC_DM_* */
	u8 shorthand; /* APIC_SH_* */
	u8 dest;      /* ICR_HI[31:24] */
	bool logical; /* destination mode */
	bool level_assert;
	bool level_trigger;
};

struct vlapic {
	u32 *regs;             /* the 4 KiB register page (the virtual-APIC page) */
	u32 id;                /* current APIC ID (ID register bits 31:24) */
	u64 bus_hz;            /* timer input clock, default 1 GHz like QEMU */
	u64 timer_deadline_ns; /* 0 = not armed */
	u64 timer_period_ns;   /* ns for TMICT counts at the current divide (periodic reload) */
	u64 timer_base_ns;     /* the current count was timer_base_count at this time */
	u32 timer_base_count;
	u32 timer_div;   /* divide factor from TDCR (1..128) */
	u32 timer_mode;  /* LVT timer mode bits 18:17 */
	u32 esr_pending; /* errors seen since the last ESR write */
	int eoi_vector;  /* vector the last EOI write retired, -1 if none */
};

/*
 * Reset @l as after RESET/INIT with @page (4 KiB, 16-byte aligned at least) as its register
 * page: ID = apic_id << 24, VER = APIC_VERSION, LVTs masked, SVR = 0xff (software-disabled),
 * DFR = 0xffffffff, everything else 0, timer stopped, bus_hz = 1 GHz.
 */
void vlapic_init(struct vlapic *l, u32 *page, u32 apic_id, u64 now_ns);

/*
 * Act on a guest write of @val to register offset @off. The page may already hold @val (an
 * APIC-write exit: the CPU stored it) or not (an emulated APIC-access write); either way this
 * leaves the page holding the register's architectural value afterwards (masked to its
 * writable bits, EOI reading 0, ICR delivery status 0).
 * Returns 1 and fills *@ipi when the write sends an IPI (ICR_LO), 0 otherwise; -EPERM for a
 * read-only register (VER, PPR, APR, ISR, TMR, IRR, TMCCT, RRD: the page keeps its value) and
 * -EINVAL for a reserved or misaligned offset (the register reads 0); the caller logs those.
 */
int vlapic_write(struct vlapic *l, u32 off, u32 val, u64 now_ns, struct vlapic_ipi *ipi);

/*
 * A read the CPU could not satisfy from the page: PPR, APR and TMCCT are computed (TMCCT from
 * @now_ns), other registers come from the page, reserved or misaligned offsets read 0.
 */
u32 vlapic_read(struct vlapic *l, u32 off, u64 now_ns);

/*
 * A fixed interrupt with @vector arrives (IPI, timer, LINT). Vectors below 16 are illegal: the
 * interrupt is dropped and "receive illegal vector" recorded in ESR. A software-disabled APIC
 * drops fixed interrupts (as KVM does).
 */
void vlapic_set_irr(struct vlapic *l, u8 vector);

/*
 * The vector to inject next: the highest IRR vector whose priority class is above the PPR's
 * class, or -1 (also -1 while software-disabled, SVR bit 8 clear).
 */
int vlapic_pending(struct vlapic *l);

/* The hypervisor injected @vector: move it from IRR to ISR and update PPR. */
void vlapic_accept(struct vlapic *l, u8 vector);

/*
 * For the VMCS TPR threshold: the priority class of the highest IRR vector when it is blocked
 * only by TPR (so lowering TPR below it should cause a VM exit), else 0.
 */
u8 vlapic_tpr_threshold(struct vlapic *l);

/*
 * Run the timer up to @now_ns: if the deadline passed, set IRR of the LVT timer vector
 * (unless masked), reload if periodic (skipping whole periods missed), disarm if one-shot.
 * Returns true iff an interrupt became pending.
 */
bool vlapic_timer_poll(struct vlapic *l, u64 now_ns);

/* The time (ns) the timer next expires, 0 if it is not armed. */
u64 vlapic_timer_deadline(const struct vlapic *l);

/*
 * Does @ipi target this APIC? Shorthands first (@is_self: this APIC sent it), then physical
 * (dest == ID, or 0xff broadcast) or logical (flat: LDR & dest; cluster: same cluster nibble
 * and LDR & dest in the low nibble; 0xff broadcast).
 */
bool vlapic_match_dest(const struct vlapic *l, const struct vlapic_ipi *ipi, bool is_self);

#endif
