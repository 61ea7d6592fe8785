/*
 * The hypervisor's view of memory: the direct map (every physical byte at DIRECT_MAP_BASE +
 * pa), the frame allocator instance, and a page-granular heap for hypervisor objects.
 */
#ifndef EPTVISOR_MM_MM_H
#define EPTVISOR_MM_MM_H

#include "bootinfo.h"
#include "layout.h"
#include "mm/frame.h"
#include "types.h"

extern struct frame_alloc frames;

static inline void *phys_to_virt(hpa_t pa)
{
	return (void *)(DIRECT_MAP_BASE + pa);
}

/* Physical address of a direct-map or kernel-image pointer. */
static inline hpa_t virt_to_phys(const void *va)
{
	u64 v = (u64)va;

	return v >= KERNEL_VMA ? v - KERNEL_VMA : v - DIRECT_MAP_BASE;
}

/* Build the frame allocator from the boot memory map; reserve the kernel, info and modules. */
void mm_init(const struct boot_info *bi);
/* Switch to eptvisor's own page tables: direct map of all memory + the kernel image. */
void paging_init(const struct boot_info *bi);
/* Drop the identity map of low memory once no CPU runs from it (after SMP bring-up). */
void paging_drop_identity(void);
u64 paging_kernel_cr3(void);

/* Zeroed, page-aligned memory of `bytes` (rounded up to a power-of-two number of pages). */
void *kzalloc(size_t bytes);
void kfree(void *p, size_t bytes);
/* One zeroed 4 KiB frame; INVALID_HPA when memory is exhausted. */
hpa_t alloc_zeroed_frame(void);

#endif
