/*
 * Exit codes the PC guest kernels write to isa-debug-exit (port 0xf4). QEMU exits with
 * status (code << 1) | 1, so 0 means PASS (status 1). Shared by the .S and .c files.
 */
#ifndef PC_GUEST_CODES_H
#define PC_GUEST_CODES_H

#define DEBUG_EXIT_PORT 0xf4
#define AP_TRAMP_BASE   0x8000
#define GDT_LIMIT       (4 * 8 - 1) /* entry.S's GDT: null, code32, data, code64 */

#define EXIT_PASS           0x00
#define EXIT_FAIL_MAGIC     0x11 /* EAX was not a multiboot magic */
#define EXIT_FAIL_UART      0x12 /* the 16550 scratch register did not hold a value */
#define EXIT_FAIL_FWCFG     0x13 /* fw_cfg signature is not "QEMU" */
#define EXIT_FAIL_FWCFG_KEY 0x14 /* an unknown fw_cfg key did not read as zero */
#define EXIT_FAIL_LAPIC     0x15 /* IA32_APIC_BASE: not the BSP, not enabled, or not 0xfee00000 */
#define EXIT_FAIL_PERIODIC  0x16 /* periodic LAPIC timer: wrong count */
#define EXIT_FAIL_ONESHOT   0x17 /* one-shot LAPIC timer did not fire exactly once */
#define EXIT_FAIL_SMP       0x18 /* not every AP came up and sent its IPI in time */
#define EXIT_FAIL_SMP_IDS   0x19 /* AP APIC IDs repeated or equal to the BSP's */
#define EXIT_FAIL_APIC_RO   0x1a /* apic_garbage: a read-only register changed */
#define EXIT_FAIL_WORK      0x1b /* work=N: a page of the work buffer lost a write */
#define EXIT_FAIL_FLOOD     0x1c /* log_flood: not every bad RDMSR/WRMSR raised #GP */
#define EXIT_FAIL_BZ        0x1d /* pcbz: the initrd is not where the boot protocol allows */
#define EXIT_FAIL_MPTABLE   0x20 /* ioapic: no MP table, a bad checksum or entry */
#define EXIT_FAIL_IOAPIC    0x1f /* ioapic: a register or a routed interrupt was wrong */
#define EXIT_FAIL_NMI       0x28 /* nmi: an NMI was lost, nested or taken twice */
#define EXIT_FAIL_REALMODE  0x29 /* realmode: a check in real mode failed */
#define EXIT_FAIL_FEATURES  0x2a /* features: RDTSCP/TSC_AUX or PKU not as CPUID says */
#define EXIT_FAIL_COM1      0x30 /* platdev: COM1's interrupts (THR empty, data ready) */
#define EXIT_FAIL_RTC       0x31 /* platdev: the RTC's periodic or update interrupt */
#define EXIT_FAIL_KBC       0x32 /* platdev: the 8042 did not answer or interrupt */
#define EXIT_FAIL_RESET     0x34 /* platdev: a reset request did not end the machine */
#define EXIT_FAIL_CONSOLE   0x38 /* platdev echo: no input line on COM1 in time */
#define EXIT_NO_LONG_MODE   0x1e /* CPUID says no long mode (entry.S) */
#define EXIT_UNEXPECTED_IRQ 0x3f /* an interrupt on a vector nobody installed */
#define EXIT_EXCEPTION_BASE 0x40 /* + vector: a CPU exception */
#define EXIT_BAD_HEADER_RAN 0x2f /* bad_header.elf: the loader ran a kernel it should refuse */

#endif
