/*
 * libFuzzer target: the multiboot image parser (loader/mbimage.c) on arbitrary files.
 *
 * Input: 8 bytes of parameters (guest RAM size, a reserved range, the error buffer's size,
 * and whether to repair header checksums), then the image. Repairing checksums lets mutations
 * get past the header search: every multiboot 1/2 magic at a legal offset gets a checksum
 * that makes its header valid, so the fuzzer spends its time on what follows.
 *
 * Checked for every input: the call is deterministic; the error buffer (a heap block of exactly
 * errlen bytes) is never written past and holds one NUL-terminated line; an error is one of
 * the documented errnos and comes with a message. For an accepted image: version 1 or 2, a
 * header at an aligned offset inside the search window, 1..MB_MAX_SEGMENTS segments, each
 * non-empty with filesz <= memsz, its file bytes inside the image, inside RAM, outside the
 * PC hole and the reserved range, no two overlapping; the entry point below 4 GiB and inside a
 * segment; lowest/highest_end exactly span the segments.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errno.h"
#include "loader/mbimage.h"
#include "tests/unit/fuzz.h"

static u32 get32(const u8 *p)
{
	u32 v;

	memcpy(&v, p, 4);
	return v;
}

static void put32(u8 *p, u32 v)
{
	memcpy(p, &v, 4);
}

/* Give every header magic a matching checksum (mb2: also a header length that fits). */
static void repair_checksums(u8 *img, size_t n)
{
	for (size_t off = 0; off + 12 <= n && off < MB1_SEARCH_BYTES; off += 4)
		if (get32(img + off) == MB1_HEADER_MAGIC)
			put32(img + off + 8, -(MB1_HEADER_MAGIC + get32(img + off + 4)));
	for (size_t off = 0; off + 16 <= n && off < MB2_SEARCH_BYTES; off += 8)
		if (get32(img + off) == MB2_HEADER_MAGIC)
			put32(img + off + 12,
			      -(MB2_HEADER_MAGIC + get32(img + off + 4) + get32(img + off + 8)));
}

static bool overlaps(u64 a0, u64 a1, u64 b0, u64 b1)
{
	return a0 < b1 && b0 < a1;
}

static void check_accepted(const struct mb_image *m, u64 n, u64 ram, u64 rlo, u64 rhi)
{
	u64 lowest = ~0ULL, highest = 0;
	bool entry_in = false;

	CHECK(m->version == 1 || m->version == 2);
	CHECK(m->format != NULL);
	if (m->version == 1)
		CHECK(m->header_off % 4 == 0 && m->header_off + 12 <= MB1_SEARCH_BYTES);
	else
		CHECK(m->header_off % 8 == 0 && m->header_off + 16 <= MB2_SEARCH_BYTES);
	CHECK(m->header_off < n);
	CHECK(m->nsegs >= 1 && m->nsegs <= MB_MAX_SEGMENTS);
	for (int i = 0; i < m->nsegs; i++) {
		const struct mb_segment *s = &m->seg[i];
		u64 end = s->gpa + s->memsz;

		CHECK(s->memsz > 0 && s->filesz <= s->memsz);
		CHECK(end > s->gpa && end <= ram);
		CHECK(s->file_off <= n && s->filesz <= n - s->file_off);
		CHECK(!overlaps(s->gpa, end, MB_PC_HOLE_START, MB_PC_HOLE_END));
		CHECK(!overlaps(s->gpa, end, rlo, rhi));
		for (int j = 0; j < i; j++)
			CHECK(!overlaps(s->gpa, end, m->seg[j].gpa,
			                m->seg[j].gpa + m->seg[j].memsz));
		lowest = s->gpa < lowest ? s->gpa : lowest;
		highest = end > highest ? end : highest;
		entry_in |= m->entry >= s->gpa && m->entry < end;
	}
	CHECK(m->entry <= 0xffffffffULL && entry_in);
	CHECK(m->lowest == lowest && m->highest_end == highest);
	if (m->version == 2)
		CHECK((m->mb2_unprovided & ~m->mb2_requested) == 0);
}

int LLVMFuzzerTestOneInput(const u8 *data, size_t size)
{
	static const u64 rams[] = { 2ULL << 20, 16ULL << 20, 128ULL << 20, 3ULL << 30, 0x123456 };
	struct mb_image a, b;
	u64 ram, rlo, rhi, n;
	size_t errlen;
	char *err, err2[160];
	u8 *img;
	int ra, rb;

	if (size < 8)
		return 0;
	ram = rams[data[0] % 5];
	rlo = (u64)data[1] << 16;
	rhi = data[2] ? rlo + ((u64)data[2] << 12) : 0;
	if (!rhi)
		rlo = 0; /* no reserved range */
	errlen = data[3] % 130;
	n = size - 8;
	/* An exact-size copy, so that ASan sees any read past the image. */
	img = malloc(n ? n : 1);
	memcpy(img, data + 8, n);
	if (data[4] & 1)
		repair_checksums(img, n);
	err = errlen ? malloc(errlen) : NULL;
	ra = mb_image_parse(img, n, ram, rlo, rhi, &a, err, errlen);
	rb = mb_image_parse(img, n, ram, rlo, rhi, &b, err2, sizeof(err2));
	CHECK(ra == rb);
	if (errlen) {
		CHECK(memchr(err, 0, errlen) != NULL);
		CHECK(strncmp(err, err2, errlen - 1) == 0);
	}
	if (ra == 0) {
		CHECK(memcmp(&a, &b, sizeof(a)) == 0);
		check_accepted(&a, n, ram, rlo, rhi);
	} else {
		/* The documented errors; never -ENOENT, which callers keep for a missing file. */
		CHECK(ra == -ENOEXEC || ra == -EINVAL || ra == -ERANGE || ra == -E2BIG);
		CHECK(err2[0] != '\0' && strchr(err2, '\n') == NULL);
	}
	free(err);
	free(img);
	return 0;
}
