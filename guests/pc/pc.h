/*
 * The PC guest kernels' small library: MMIO wrappers (port I/O and MSRs: include/x86io.h),
 * the exit port, the console, fw_cfg, the local APIC, the IDT and the boot-info parser.
 * These kernels run under plain QEMU (`-kernel`, or GRUB for multiboot 2) and under
 * eptvisor, and must print the same lines on both: only deterministic facts, never timings,
 * vendor strings or loader addresses.
 *
 * Memory: everything is identity-mapped (virtual = physical) by entry.S, 0..4 GiB with 2 MiB
 * pages, the LAPIC page at 0xfee00000 uncached. The kernels are linked at 1 MiB; the AP
 * trampoline is copied to AP_TRAMP_BASE (0x8000).
 */
#ifndef PC_GUEST_PC_H
#define PC_GUEST_PC_H

#include "guests/pc/codes.h"
#include "lib.h"
#include "types.h"
#include "x86io.h"

#define MAX_CPUS 16

/* ---- instruction wrappers ---- */
static inline void cpu_pause(void)
{
	__asm__ volatile("pause" ::: "memory");
}
static inline u32 mmio_read32(u64 pa)
{
	return *(volatile u32 *)pa;
}
static inline void mmio_write32(u64 pa, u32 v)
{
	*(volatile u32 *)pa = v;
}
static inline void mmio_write8(u64 pa, u8 v)
{
	*(volatile u8 *)pa = v;
}

/* ---- exit.c / console ---- */
void uart_init(void);
bool uart_scratch_ok(void);
void pr(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Write CODE to isa-debug-exit (QEMU then exits with status CODE*2+1) and stop for good. */
void pc_exit(u32 code) __attribute__((noreturn));
void halt_forever(void) __attribute__((noreturn));

/* ---- fwcfg.c: QEMU fw_cfg, legacy I/O interface (selector 0x510, data 0x511) ---- */
#define FW_CFG_SIGNATURE   0x0000
#define FW_CFG_RAM_SIZE    0x0003
#define FW_CFG_NB_CPUS     0x0005
#define FW_CFG_UNKNOWN_KEY 0x3fff
void fw_cfg_read(u16 key, void *buf, size_t len);

/* ---- lapic.c: xAPIC at 0xfee00000 ---- */
#define LAPIC_BASE      0xfee00000ULL
#define LAPIC_ID        0x020
#define LAPIC_VER       0x030
#define LAPIC_TPR       0x080
#define LAPIC_PPR       0x0a0
#define LAPIC_EOI       0x0b0
#define LAPIC_SVR       0x0f0
#define LAPIC_ISR0      0x100
#define LAPIC_ESR       0x280
#define LAPIC_ICR_LO    0x300
#define LAPIC_ICR_HI    0x310
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_TIMER_ICR 0x380
#define LAPIC_TIMER_CCR 0x390
#define LAPIC_TIMER_DCR 0x3e0

#define VEC_PIT      0x20 /* IRQ 0 after pic_remap_and_mask */
#define VEC_TIMER    0x30
#define VEC_IPI      0x40
#define VEC_PING     0x41 /* smp_ping_pong: BSP -> AP */
#define VEC_PONG     0x42 /* and the AP's answer */
#define VEC_SPURIOUS 0xff

static inline u32 lapic_read(u32 reg)
{
	return mmio_read32(LAPIC_BASE + reg);
}
static inline void lapic_write(u32 reg, u32 v)
{
	mmio_write32(LAPIC_BASE + reg, v);
}
void lapic_enable(void);
u32 lapic_id(void);
void lapic_eoi(void);
void lapic_timer_start(u32 count, bool periodic);
void lapic_timer_stop(void);
/* Busy-wait until a masked one-shot countdown of COUNT ticks (divide by 1) reaches zero. */
void lapic_delay(u32 count);
/* Send an IPI: ICR_LO value LO (vector, mode, shorthand) to APIC DEST; waits until sent. */
void lapic_send_ipi(u32 dest, u32 lo);

/* ---- idt.c ---- */
typedef void (*irq_fn)(void);
typedef void (*exc_fn)(u64 vector, u64 error, u64 *rip);
void idt_init(void);
void idt_load(void);
void irq_set(u8 vector, irq_fn fn);
/* An exception handler; *rip is where the CPU returns (the faulting instruction, mostly). */
void exc_set(u8 vector, exc_fn fn);

/* ---- mbinfo.c: multiboot 1 and 2 information ---- */
#define MB1_BOOT_MAGIC 0x2badb002u
#define MB2_BOOT_MAGIC 0x36d76289u
#define BI_MAX_MMAP    32

struct bootinfo {
	char cmdline[256];
	const char *args; /* cmdline without the kernel path that mb1 loaders put first */
	bool has_mem;
	u32 mem_lower, mem_upper; /* KiB */
	int nmmap;
	struct {
		u64 base, len;
		u32 type;
	} mmap[BI_MAX_MMAP];
	u32 nmods;
};
/* Fill BI from the info at INFO for a loader that passed MAGIC; -1 if MAGIC is unknown. */
int bootinfo_parse(u32 magic, u64 info, struct bootinfo *bi);

/* ---- pic.c ---- */
bool pic_remap_and_mask(void);

/* ---- smp.c ---- */
/* Start every AP with INIT-SIPI-SIPI; wait for NCPUS-1 of them. Fills IDS sorted; returns
 * how many CPUs (the BSP included) reported, or -1 if the wait ran out. */
int smp_start(u32 ncpus, u32 *ids);
/* apstart.c, for a kernel with its own ap_main: start the APs (INIT, SIPI, SIPI to all but
 * self); each runs ap.S, then ap_main(index). */
void ap_start_all(void);
/* Set before smp_start: the APs stay awake after reporting in and answer every VEC_PING
 * with a VEC_PONG to the BSP (else they end in cli; hlt). */
extern bool smp_ap_ponger;
/* `rounds` times: send VEC_PING to APIC ID ap and wait for both its VEC_PONG and a tick of
 * the periodic LAPIC timer. Returns the rounds completed (all of them, or stops early at a
 * watchdog of many timer ticks without an answer). */
u32 smp_ping_pong(u32 ap, u32 rounds);

/* ---- entry.S / isr.S symbols ---- */
extern u32 boot_magic, boot_info;
extern char ap_tramp_start[], ap_tramp_end[];
extern u64 isr_stubs[];
void ap_main(u32 index);
void pc_main(u32 magic, u32 info);
void trap_dispatch(u64 vector, u64 error, u64 *rip);

#endif
