/*
 * Memory for hypervisor objects and the frame allocator's setup from the boot memory map.
 * The heap is page-granular: kzalloc() hands out a power-of-two run of frames through the
 * direct map. Objects are few and large (VMs, vCPUs, bitmaps), so nothing finer is needed.
 */
#include "drivers/console.h"
#include "lib.h"
#include "mm/mm.h"

struct frame_alloc frames;

extern char _kernel_start_pa[], _end_pa[];

static unsigned order_for(size_t bytes)
{
	unsigned order = 0;

	while ((PAGE_SIZE << order) < bytes)
		order++;
	return order;
}

void *kzalloc(size_t bytes)
{
	unsigned order = order_for(bytes);
	hfn_t hfn = order ? frame_alloc_run(&frames, order) : frame_alloc(&frames);

	if (hfn == INVALID_HFN)
		return NULL;
	memset(phys_to_virt(hfn_to_hpa(hfn)), 0, PAGE_SIZE << order);
	return phys_to_virt(hfn_to_hpa(hfn));
}

void kfree(void *p, size_t bytes)
{
	unsigned order = order_for(bytes);

	if (!p)
		return;
	if (order)
		frame_free_run(&frames, hpa_to_hfn(virt_to_phys(p)), order);
	else
		frame_free(&frames, hpa_to_hfn(virt_to_phys(p)));
}

hpa_t alloc_zeroed_frame(void)
{
	hfn_t hfn = frame_alloc(&frames);

	if (hfn == INVALID_HFN)
		return INVALID_HPA;
	memset(phys_to_virt(hfn_to_hpa(hfn)), 0, PAGE_SIZE);
	return hfn_to_hpa(hfn);
}

/* Ranges no allocation may hand out: low page, kernel image, boot info, modules. */
static int reserved_ranges(const struct boot_info *bi, u64 (*r)[2], int max)
{
	int n = 0;

	r[n][0] = 0, r[n][1] = PAGE_SIZE, n++;
	r[n][0] = (u64)_kernel_start_pa, r[n][1] = (u64)_end_pa, n++;
	r[n][0] = bi->info_start, r[n][1] = bi->info_end, n++;
	for (int i = 0; i < bi->nmods && n < max; i++)
		r[n][0] = bi->mods[i].start, r[n][1] = bi->mods[i].end, n++;
	return n;
}

/* First page-aligned spot of `bytes` in usable RAM below 1 GiB (the boot direct map's reach)
 * that overlaps no reserved range. */
static hpa_t place_bitmap(const struct boot_info *bi, u64 bytes, u64 (*r)[2], int nr)
{
	for (int i = 0; i < bi->nmem; i++) {
		const struct boot_mem *m = &bi->mem[i];
		u64 start = ALIGN_UP(MAX(m->base, 0x100000ULL), PAGE_SIZE);
		u64 end = MIN(m->base + m->len, SZ_1G);
		bool moved = true;

		if (m->type != 1)
			continue;
		while (moved) {
			moved = false;
			for (int j = 0; j < nr; j++)
				if (start < r[j][1] && start + bytes > r[j][0]) {
					start = ALIGN_UP(r[j][1], PAGE_SIZE);
					moved = true;
				}
		}
		if (start + bytes <= end)
			return start;
	}
	return INVALID_HPA;
}

void mm_init(const struct boot_info *bi)
{
	u64 r[4 + BOOT_MAX_MODS][2];
	int nr = reserved_ranges(bi, r, ARRAY_SIZE(r));
	hfn_t nframes = boot_mem_top(bi) >> PAGE_SHIFT;
	u64 bytes = ALIGN_UP(frame_bitmap_bytes(nframes), PAGE_SIZE);
	hpa_t bm = place_bitmap(bi, bytes, r, nr);
	u64 usable = 0;

	if (bm == INVALID_HPA)
		panic("no room for the frame bitmap (%lu bytes) below 1 GiB", bytes);
	frame_init(&frames, phys_to_virt(bm), nframes);
	for (int i = 0; i < bi->nmem; i++)
		if (bi->mem[i].type == 1) {
			frame_add_free(&frames, bi->mem[i].base, bi->mem[i].base + bi->mem[i].len);
			usable += bi->mem[i].len;
		}
	for (int j = 0; j < nr; j++)
		frame_reserve(&frames, r[j][0], r[j][1]);
	frame_reserve(&frames, bm, bm + bytes);
	printk("mm: %lu MiB usable, %lu frames free, frame bitmap at 0x%lx (%lu KiB)\n",
	       usable >> 20, frame_free_count(&frames), bm, bytes >> 10);
}

/* A free that breaks the allocator's invariants is a hypervisor bug (mm/frame.h). */
void frame_bug(const char *what, hfn_t hfn)
{
	panic("frame allocator: %s (frame 0x%lx)", what, hfn);
}
