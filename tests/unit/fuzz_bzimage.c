/*
 * libFuzzer target: the Linux bzImage loader (loader/bzimage.c) on arbitrary files.
 *
 * Input: 8 bytes of parameters (guest RAM size, the initrd's length, the command line's
 * length, the error buffer's size, whether to repair the magics), then the image. Repairing
 * writes the boot flag and "HdrS" so that mutations get past the magic checks and the fuzzer
 * spends its time on the sizes and the placement.
 *
 * Checked for every input: the call is deterministic; the error buffer (a heap block of exactly
 * errlen bytes) is never written past and holds one NUL-terminated line; an error is one of the
 * documented errnos. For an accepted image: protocol >= 2.12 with LOADED_HIGH; the kernel's
 * bytes inside the file; every planned copy inside one usable range of the map and no two
 * overlapping; the kernel's whole init_size in usable RAM at or above 1 MiB and below 4 GiB,
 * the entry at its start; the initrd page aligned, its last byte at or below initrd_addr_max,
 * outside [load, load + init_size); the zero page's loader fields as documented.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errno.h"
#include "loader/bzimage.h"
#include "tests/unit/fuzz.h"

static u32 get32(const u8 *p)
{
	u32 v;

	memcpy(&v, p, 4);
	return v;
}

static bool overlaps(u64 a0, u64 a1, u64 b0, u64 b1)
{
	return a0 < b1 && b0 < a1;
}

static bool in_usable(const struct mb_mem_range *map, int n, u64 gpa, u64 len)
{
	for (int i = 0; i < n; i++)
		if (map[i].type == MB_MEM_USABLE && gpa >= map[i].base &&
		    gpa + len <= map[i].base + map[i].len && gpa + len >= gpa)
			return true;
	return false;
}

static void check_params(const struct bz_plan *p, const struct mb_mem_range *map, int nmap)
{
	const u8 *bp = p->params;

	CHECK(bp[0x210] == 0xff);
	CHECK((bp[0x211] & 0x81) == 0x81);
	CHECK(get32(bp + 0x214) == p->load);
	CHECK(get32(bp + 0x228) == BZ_CMDLINE_GPA);
	CHECK(get32(bp + 0x218) == (u32)p->initrd);
	CHECK(get32(bp + 0x21c) == (u32)(p->initrd_end - p->initrd));
	CHECK(bp[0x1ef] == 0); /* sentinel */
	CHECK(bp[0x1e8] == nmap);
	for (int i = 0; i < nmap; i++)
		CHECK(get32(bp + 0x2d0 + 20 * i + 16) == map[i].type);
	for (u32 i = p->hdr.header_end; i < BZ_HEADER_END; i++)
		CHECK(bp[i] == 0);
}

static void check_accepted(const struct bz_plan *p, const u8 *img, u64 n,
                           const struct mb_mem_range *map, int nmap, u64 initrd_len)
{
	const struct bz_header *h = &p->hdr;

	CHECK(h->version >= BZ_MIN_PROTOCOL && (h->loadflags & BZ_LOADED_HIGH));
	CHECK(h->setup_bytes <= n && h->kernel_bytes <= n - h->setup_bytes && h->kernel_bytes);
	CHECK(p->load >= 0x100000 && p->kernel_end <= (1ULL << 32));
	CHECK(p->kernel_end - p->load == h->init_size && h->init_size >= h->kernel_bytes);
	CHECK(in_usable(map, nmap, p->load, h->init_size));
	CHECK(p->entry == p->load && p->boot_params == BZ_PARAMS_GPA);
	if (initrd_len) {
		CHECK(p->initrd % PAGE_SIZE == 0 && p->initrd_end - p->initrd == initrd_len);
		CHECK(p->initrd_end - 1 <= h->initrd_addr_max);
		CHECK(!overlaps(p->initrd, p->initrd_end, p->load, p->kernel_end));
	}
	CHECK(p->ncopies == (initrd_len ? 4 : 3));
	for (int i = 0; i < p->ncopies; i++) {
		const struct bz_copy *c = &p->copy[i];

		CHECK(in_usable(map, nmap, c->gpa, c->len));
		for (int j = 0; j < i; j++)
			CHECK(!overlaps(c->gpa, c->gpa + c->len, p->copy[j].gpa,
			                p->copy[j].gpa + p->copy[j].len));
	}
	CHECK(p->copy[0].src == img + h->setup_bytes && p->copy[0].len == h->kernel_bytes);
	check_params(p, map, nmap);
}

int LLVMFuzzerTestOneInput(const u8 *data, size_t size)
{
	static const u64 rams[] = { 1ULL << 20, 32ULL << 20, 128ULL << 20, 3ULL << 30, 0x123456 };
	static struct bz_plan a, b;
	static u8 initrd[1 << 20];
	struct mb_mem_range map[MB_MEM_RANGES];
	char cmdline[4200], *err, err2[200];
	u64 n, initrd_len;
	size_t errlen;
	int nmap, ra, rb;
	u8 *img;

	if (size < 8)
		return 0;
	nmap = mb_memory_map(rams[data[0] % 5], map);
	initrd_len = ((u64)data[1] << 12 | data[2]) % sizeof(initrd);
	memset(cmdline, 'c', sizeof(cmdline));
	cmdline[(data[3] * 16 + data[4]) % sizeof(cmdline)] = '\0';
	errlen = data[5] % 130;
	n = size - 8;
	/* An exact-size copy, so that ASan sees any read past the image. */
	img = malloc(n ? n : 1);
	memcpy(img, data + 8, n);
	if ((data[6] & 1) && n >= 0x206) {
		img[0x1fe] = 0x55;
		img[0x1ff] = 0xaa;
		memcpy(img + 0x202, "HdrS", 4);
	}
	struct bz_guest g = { .map = map,
		              .nmap = nmap,
		              .cmdline = cmdline,
		              .initrd = initrd_len ? initrd : NULL,
		              .initrd_len = initrd_len };
	err = errlen ? malloc(errlen) : NULL;
	ra = bz_plan_build(img, n, &g, &a, err, errlen);
	rb = bz_plan_build(img, n, &g, &b, err2, sizeof(err2));
	CHECK(ra == rb);
	if (errlen) {
		CHECK(memchr(err, 0, errlen) != NULL);
		CHECK(strncmp(err, err2, errlen - 1) == 0);
	}
	if (ra == 0) {
		/* The same plan, except that each points at its own zero page. */
		CHECK(memcmp(a.params, b.params, sizeof(a.params)) == 0 && a.ncopies == b.ncopies);
		CHECK(memcmp(&a, &b, offsetof(struct bz_plan, copy)) == 0);
		for (int i = 0; i < a.ncopies; i++)
			CHECK(a.copy[i].gpa == b.copy[i].gpa && a.copy[i].len == b.copy[i].len &&
			      (a.copy[i].src == b.copy[i].src || a.copy[i].src == a.params));
		check_accepted(&a, img, n, map, nmap, initrd_len);
	} else {
		CHECK(ra == -ENOEXEC || ra == -EINVAL || ra == -ERANGE || ra == -E2BIG ||
		      ra == -ENOSPC);
		CHECK(err2[0] != '\0' && strchr(err2, '\n') == NULL);
	}
	free(err);
	free(img);
	return 0;
}
