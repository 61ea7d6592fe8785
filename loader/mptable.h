/*
 * The Intel MultiProcessor table (MP spec 1.4) a PC guest finds its CPUs and interrupt
 * routing in when it does not use ACPI (Linux with acpi=off), built into a host buffer the
 * caller copies to guest-physical `base`. Pure C (kernel and host tests).
 *
 * Laid out as SeaBIOS builds it for QEMU's pc machine (src/fw/mptable.c), without PCI:
 *   floating pointer "_MP_" (16 bytes, spec rev 4, no default configuration), then
 *   "PCMP" configuration table: OEM "EPTVISOR", product "PC", local APIC at 0xfee00000;
 *     one processor entry per vCPU (APIC ID = index, enabled, vCPU 0 the BSP),
 *     bus 0 "ISA   ",
 *     the I/O APIC (ID ncpus, version 0x11, enabled, at 0xfec00000),
 *     I/O interrupt entries (INT, conforming) for ISA IRQs 0-15 to the pin of the same
 *       number, except IRQ 0 to pin 2 (QEMU's irq0-override) and no entry for IRQ 2,
 *     local interrupts: ExtINT (ISA IRQ 0) to the BSP's LINT0, NMI to every LINT1.
 * Both checksums make their structure sum to 0.
 */
#ifndef EPTVISOR_LOADER_MPTABLE_H
#define EPTVISOR_LOADER_MPTABLE_H

#include "types.h"

#define MPTABLE_GPA      0xf0000ULL /* the BIOS area: reserved in the memory map */
#define MPTABLE_MAX_CPUS 15         /* the I/O APIC's ID (ncpus) has 4 bits */

#define MP_FLOAT_BYTES  16
#define MP_HEADER_BYTES 44
#define MP_CPU_BYTES    20
#define MP_ENTRY_BYTES  8  /* bus, I/O APIC, I/O and local interrupt entries */
#define MP_ISA_IRQS     15 /* I/O interrupt entries: ISA IRQs 0-15 but 2 */

/* Entry types (the first byte of each entry). */
#define MP_CPU        0
#define MP_BUS        1
#define MP_IOAPIC     2
#define MP_INTSRC     3
#define MP_LINTSRC    4
#define MP_CPU_EN     0x01 /* processor entry flags */
#define MP_CPU_BSP    0x02
#define MP_INT_INT    0 /* interrupt types */
#define MP_INT_NMI    1
#define MP_INT_EXTINT 3

struct mp_guest {
	int ncpus;         /* 1..MPTABLE_MAX_CPUS */
	u32 cpu_signature; /* CPUID 1 EAX, as the guest sees it */
	u32 cpu_features;  /* CPUID 1 EDX */
	u8 lapic_version;  /* the local APIC's VER & 0xff */
	gpa_t lapic_gpa;
	gpa_t ioapic_gpa;
};

/* Bytes the table for ncpus vCPUs takes (floating pointer included), or -EINVAL. */
s64 mptable_size(int ncpus);

/*
 * Build g's MP table into buf[0..buflen) for guest-physical base (16-byte aligned, below
 * 4 GiB): the floating pointer at base, the configuration table right after it. Returns the
 * bytes used, -EINVAL for a bad ncpus or base, -ENOMEM when buflen is too small.
 */
s64 mptable_build(const struct mp_guest *g, u8 *buf, u64 buflen, gpa_t base);

#endif
