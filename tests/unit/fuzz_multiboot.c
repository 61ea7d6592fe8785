/*
 * libFuzzer target: the hypervisor's multiboot information parsers (boot/multiboot.c) on what
 * a broken or hostile boot loader might leave in memory.
 *
 * Input: one selector byte, then the info. Multiboot 2: the info is a heap block of exactly
 * its total_size (taken from the input's first word, so the size field is fuzzed too, and
 * the block ends where the parser may read). Multiboot 1: the input is guest-physical memory
 * from 0x10000, one separately allocated 4 KiB page at a time, so any read beyond the page
 * pa_to_va returned is an ASan report; pointers into it are found by the fuzzer's comparison
 * tracing, and the selector can clamp the fixed structure's pointers into the input.
 *
 * Checked: the result is 0 or -EINVAL and deterministic; on failure the output is reset (no
 * memory ranges, modules, command line); on success every string is NUL-terminated in its
 * buffer, at most BOOT_MAX_MEM ranges (none empty or wrapping 2^64) and BOOT_MAX_MODS modules
 * (each ending at or after its start), and the info's own range is [info_pa, info_pa + its
 * size) (multiboot 2: total_size; 1: MB1_INFO_SIZE).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boot/multiboot.h"
#include "bootinfo.h"
#include "errno.h"
#include "tests/unit/fuzz.h"

#define INFO_PA   0x10000ULL
#define MAX_PAGES 8

static u8 *pages[MAX_PAGES];
static int npages;

static void *pa_to_va(u64 pa)
{
	if (pa < INFO_PA || pa >= INFO_PA + (u64)npages * 4096)
		return NULL;
	return pages[(pa - INFO_PA) / 4096] + (pa & 0xfff);
}

/* The two parses of one input agree (each loader pointer points into its own struct). */
static bool same(const struct boot_info *a, struct boot_info *b)
{
	const char *keep = b->loader;
	bool eq;

	b->loader = a->loader;
	eq = memcmp(a, b, sizeof(*a)) == 0;
	b->loader = keep;
	return eq;
}

static void check_result(int r, const struct boot_info *bi, u64 info_size)
{
	CHECK(r == 0 || r == -EINVAL);
	CHECK(bi->loader == bi->loader_name);
	if (r) {
		CHECK(bi->nmem == 0 && bi->nmods == 0 && bi->cmdline[0] == '\0');
		CHECK(bi->truncated == 0 && bi->info_end == 0);
		return;
	}
	CHECK(memchr(bi->cmdline, 0, sizeof(bi->cmdline)));
	CHECK(memchr(bi->loader_name, 0, sizeof(bi->loader_name)));
	CHECK(bi->nmem >= 0 && bi->nmem <= BOOT_MAX_MEM);
	CHECK(bi->nmods >= 0 && bi->nmods <= BOOT_MAX_MODS);
	for (int i = 0; i < bi->nmem; i++)
		CHECK(bi->mem[i].len > 0 && bi->mem[i].base + bi->mem[i].len > bi->mem[i].base);
	for (int i = 0; i < bi->nmods; i++) {
		CHECK(bi->mods[i].end >= bi->mods[i].start);
		CHECK(memchr(bi->mods[i].name, 0, sizeof(bi->mods[i].name)));
	}
	CHECK(bi->info_start == INFO_PA && bi->info_end == INFO_PA + info_size);
	CHECK((bi->truncated & ~0xfU) == 0);
}

static void fuzz_mb2(const u8 *data, size_t size, struct boot_info *a, struct boot_info *b)
{
	u32 total;
	u8 *info;
	int r;

	if (size < 4)
		return;
	memcpy(&total, data, 4);
	if (total < 8 || total > size)
		total = (u32)size; /* else most inputs would be refused at once */
	info = malloc(total);
	memcpy(info, data, total);
	memcpy(info, &total, 4);
	r = mb2_parse(info, INFO_PA, a);
	CHECK(mb2_parse(info, INFO_PA, b) == r && same(a, b));
	check_result(r, a, total);
	CHECK(a->proto == 2);
	free(info);
}

static void fuzz_mb1(u8 sel, const u8 *data, size_t size, struct boot_info *a, struct boot_info *b)
{
	u8 fixed[MB1_INFO_SIZE] = { 0 };
	int r;

	npages = (int)((size + 4095) / 4096);
	if (npages > MAX_PAGES)
		npages = MAX_PAGES;
	for (int i = 0; i < npages; i++) {
		size_t off = (size_t)i * 4096, n = size - off < 4096 ? size - off : 4096;

		pages[i] = calloc(1, 4096);
		memcpy(pages[i], data + off, n);
	}
	memcpy(fixed, data, size < sizeof(fixed) ? size : sizeof(fixed));
	if (sel & 2) { /* pointers of the fixed structure into the pages given */
		static const int ptrs[] = { MB1_OFF_CMDLINE, MB1_OFF_MODS_ADDR, MB1_OFF_MMAP_ADDR,
			                    MB1_OFF_LOADER };
		u32 span = (u32)npages * 4096 + 64;

		for (size_t i = 0; i < ARRAY_SIZE(ptrs); i++) {
			u32 v;

			memcpy(&v, fixed + ptrs[i], 4);
			v = (u32)INFO_PA + v % span;
			memcpy(fixed + ptrs[i], &v, 4);
		}
	}
	r = mb1_parse(fixed, INFO_PA, pa_to_va, a);
	CHECK(mb1_parse(fixed, INFO_PA, pa_to_va, b) == r && same(a, b));
	check_result(r, a, MB1_INFO_SIZE);
	CHECK(a->proto == 1);
	for (int i = 0; i < npages; i++)
		free(pages[i]);
	npages = 0;
}

int LLVMFuzzerTestOneInput(const u8 *data, size_t size)
{
	static struct boot_info a, b;

	if (size < 1)
		return 0;
	if (data[0] & 1)
		fuzz_mb1(data[0], data + 1, size - 1, &a, &b);
	else
		fuzz_mb2(data + 1, size - 1, &a, &b);
	return 0;
}
