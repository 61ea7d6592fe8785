/*
 * Splitting one guest memory access that the hypervisor emulates (a MOV that faulted on MMIO)
 * into the parts each region must handle, as QEMU's memory core does: an access that
 * straddles RAM and unassigned space, or the local APIC page and its neighbours, is served
 * part by part, each by its own region. Every region boundary of the PC platform (the end of
 * RAM, the local APIC page, the I/O APIC page at 0xfec00000) is page aligned, so splitting at 4 KiB
 * page boundaries of the linear address, then classifying each part's guest-physical address, is
 * enough. Pure C, host-tested.
 */
#ifndef EPTVISOR_DEVICES_MEMSPLIT_H
#define EPTVISOR_DEVICES_MEMSPLIT_H

#include "types.h"

#define MEM_SPLIT_MAX 2 /* an access of at most 8 bytes spans at most two pages */

enum mem_region {
	MEM_RAM,        /* guest RAM: read and written through guest memory */
	MEM_APIC,       /* the local APIC page: its registers */
	MEM_IOAPIC,     /* the I/O APIC page (devices/ioapic.h) */
	MEM_UNASSIGNED, /* nothing: reads all-ones, writes dropped */
};

struct mem_part {
	u64 la;  /* the part's linear address */
	int off; /* its first byte's position in the whole access */
	int len; /* bytes */
};

/* Split the access [la, la + size) (size 1..8) at page boundaries into parts[]; returns how
 * many (1 or 2), or -EINVAL for a size outside 1..8. Linear addresses wrap at 2^64. */
int mem_split(u64 la, int size, struct mem_part parts[MEM_SPLIT_MAX]);

/* The region guest-physical address gpa lies in, for RAM [0, ram_end), the APIC page at
 * apic_gpa and the I/O APIC's at IOAPIC_GPA (a RAM page wins: the caller never lets RAM
 * cover either page). */
enum mem_region mem_region_of(gpa_t gpa, u64 ram_end, gpa_t apic_gpa);

/* The len bytes of a write's value val that the part at byte position off carries. */
u64 mem_part_value(u64 val, int off, int len);

/* A read's value with the part's len bytes `part` placed at byte position off. */
u64 mem_merge(u64 val, u64 part, int off, int len);

#endif
