/*
 * Splitting an emulated guest access at region boundaries (see devices/memsplit.h). The
 * parts are in address order; byte positions are little endian, as x86 stores values.
 */
#include "devices/ioapic.h"
#include "devices/memsplit.h"
#include "errno.h"

static u64 low_bytes(u64 v, int len)
{
	return len >= 8 ? v : v & ((1ULL << (len * 8)) - 1);
}

int mem_split(u64 la, int size, struct mem_part parts[MEM_SPLIT_MAX])
{
	u64 to_page_end = PAGE_SIZE - (la & (PAGE_SIZE - 1));

	if (size < 1 || size > 8)
		return -EINVAL;
	if ((u64)size <= to_page_end) {
		parts[0] = (struct mem_part){ .la = la, .off = 0, .len = size };
		return 1;
	}
	parts[0] = (struct mem_part){ .la = la, .off = 0, .len = (int)to_page_end };
	parts[1] = (struct mem_part){ .la = la + to_page_end,
		                      .off = (int)to_page_end,
		                      .len = size - (int)to_page_end };
	return 2;
}

enum mem_region mem_region_of(gpa_t gpa, u64 ram_end, gpa_t apic_gpa)
{
	if (gpa < ram_end)
		return MEM_RAM;
	if (gpa >= apic_gpa && gpa - apic_gpa < PAGE_SIZE)
		return MEM_APIC;
	if (gpa >= IOAPIC_GPA && gpa - IOAPIC_GPA < PAGE_SIZE)
		return MEM_IOAPIC;
	return MEM_UNASSIGNED;
}

u64 mem_part_value(u64 val, int off, int len)
{
	return low_bytes(val >> (off * 8), len);
}

u64 mem_merge(u64 val, u64 part, int off, int len)
{
	u64 mask = low_bytes(~0ULL, len) << (off * 8);

	return (val & ~mask) | ((low_bytes(part, len) << (off * 8)) & mask);
}
