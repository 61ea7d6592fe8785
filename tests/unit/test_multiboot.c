/*
 * Host tests of the multiboot parsers (boot/multiboot.c): well-formed multiboot2 and
 * multiboot1 information as GRUB and QEMU build it, every kind of malformed input, the
 * truncation rules, and fuzzing (random and mutated infos) under ASan. Each parsed info lives
 * in a heap block of exactly its advertised size, and multiboot1's "physical memory" is a set
 * of separately allocated 4 KiB pages, so any read beyond what the contract allows is caught.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
/* cmocka.h needs the headers above it. */
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boot/multiboot.h"
#include "bootinfo.h"
#include "errno.h"

#define INFO_PA 0x10000ULL

/* ---- multiboot2 builder -------------------------------------------------------------------- */

struct mb2b {
	u8 buf[16384];
	u32 len;
};

static void put32(u8 *p, u32 v)
{
	memcpy(p, &v, 4);
}
static void put64(u8 *p, u64 v)
{
	memcpy(p, &v, 8);
}

static void mb2_begin(struct mb2b *b)
{
	memset(b, 0, sizeof(*b));
	b->len = MB2_INFO_HDR;
}

/* Append a tag of type with plen payload bytes (copied from payload if not NULL). */
static u8 *mb2_add(struct mb2b *b, u32 type, const void *payload, u32 plen)
{
	u8 *t = b->buf + b->len;

	assert_true(b->len + 8 + plen + 8 <= sizeof(b->buf));
	put32(t, type);
	put32(t + 4, 8 + plen);
	if (payload)
		memcpy(t + 8, payload, plen);
	b->len += ALIGN_UP(8 + plen, 8);
	return t;
}

static void mb2_str(struct mb2b *b, u32 type, const char *s)
{
	mb2_add(b, type, s, strlen(s) + 1);
}

static void mb2_module(struct mb2b *b, u32 start, u32 end, const char *name)
{
	u8 p[256];

	put32(p, start);
	put32(p + 4, end);
	strcpy((char *)p + 8, name);
	mb2_add(b, MB2_TAG_MODULE, p, 8 + strlen(name) + 1);
}

/* mmap tag with n entries of esz bytes: {base, len, type}. */
static void mb2_mmap(struct mb2b *b, u32 esz, int n, const u64 (*e)[3])
{
	u8 *t = mb2_add(b, MB2_TAG_MMAP, NULL, 8 + n * esz);

	put32(t + 8, esz);
	for (int i = 0; i < n; i++) {
		put64(t + 16 + i * esz, e[i][0]);
		put64(t + 16 + i * esz + 8, e[i][1]);
		put32(t + 16 + i * esz + 16, (u32)e[i][2]);
	}
}

static void mb2_finish(struct mb2b *b)
{
	mb2_add(b, MB2_TAG_END, NULL, 0);
	put32(b->buf, b->len);
}

/* Parse a copy in a heap block of exactly `len` bytes. */
static int parse2_len(const void *src, u32 len, struct boot_info *out)
{
	void *p = malloc(len ? len : 1);
	int err;

	memcpy(p, src, len);
	err = mb2_parse(p, INFO_PA, out);
	free(p);
	return err;
}

static int parse2(const struct mb2b *b, struct boot_info *out)
{
	return parse2_len(b->buf, b->len, out);
}

static const u64 qemu_map[][3] = {
	{ 0, 0x9fc00, 1 },          { 0x9fc00, 0x400, 2 },      { 0xf0000, 0x10000, 2 },
	{ 0x100000, 0x7fe0000, 1 }, { 0xfffc0000, 0x40000, 2 },
};

static void build_grub_like(struct mb2b *b)
{
	mb2_begin(b);
	mb2_str(b, MB2_TAG_CMDLINE, "run=demo vcpus=2");
	mb2_str(b, MB2_TAG_LOADER, "GRUB 2.06");
	mb2_module(b, 0x200000, 0x201000, "/boot/guest.bin arg");
	mb2_module(b, 0x300000, 0x300800, "second");
	mb2_add(b, 5, "\x80\0\0\0\xff\xff\xff\xff\xff\xff\xff\xff", 12); /* bootdev: skipped */
	mb2_add(b, MB2_TAG_BASIC_MEM, "\x7f\x02\0\0\x80\xfb\x01\0", 8);
	mb2_mmap(b, 24, ARRAY_SIZE(qemu_map), qemu_map);
	mb2_finish(b);
}

/* Invariants every successful parse must satisfy. */
static void check_sane(const struct boot_info *bi)
{
	assert_true(bi->nmem >= 0 && bi->nmem <= BOOT_MAX_MEM);
	assert_true(bi->nmods >= 0 && bi->nmods <= BOOT_MAX_MODS);
	assert_true(memchr(bi->cmdline, 0, sizeof(bi->cmdline)) != NULL);
	assert_true(memchr(bi->loader_name, 0, sizeof(bi->loader_name)) != NULL);
	assert_ptr_equal(bi->loader, bi->loader_name);
	for (int i = 0; i < bi->nmods; i++) {
		assert_true(memchr(bi->mods[i].name, 0, sizeof(bi->mods[i].name)) != NULL);
		assert_true(bi->mods[i].end >= bi->mods[i].start);
	}
	for (int i = 0; i < bi->nmem; i++) {
		assert_true(bi->mem[i].len > 0);
		assert_true(bi->mem[i].base + bi->mem[i].len > bi->mem[i].base);
	}
}

static void check_empty(const struct boot_info *bi, int proto)
{
	assert_int_equal(bi->proto, proto);
	assert_int_equal(bi->nmem, 0);
	assert_int_equal(bi->nmods, 0);
	assert_string_equal(bi->cmdline, "");
	assert_string_equal(bi->loader, "");
}

/* ---- multiboot2: well-formed --------------------------------------------------------------- */

static void test_mb2_minimal(void **state)
{
	static struct mb2b b;
	struct boot_info bi;

	(void)state;
	mb2_begin(&b);
	mb2_finish(&b);
	assert_int_equal(parse2(&b, &bi), 0);
	check_empty(&bi, 2);
	assert_int_equal(bi.info_start, INFO_PA);
	assert_int_equal(bi.info_end, INFO_PA + 16);
	assert_int_equal(bi.truncated, 0);
	assert_int_equal(boot_mem_top(&bi), 0);
}

static void test_mb2_grub_like(void **state)
{
	static struct mb2b b;
	struct boot_info bi;

	(void)state;
	build_grub_like(&b);
	assert_int_equal(parse2(&b, &bi), 0);
	check_sane(&bi);
	assert_int_equal(bi.proto, 2);
	assert_string_equal(bi.cmdline, "run=demo vcpus=2");
	assert_string_equal(bi.loader, "GRUB 2.06");
	assert_int_equal(bi.nmods, 2);
	assert_int_equal(bi.mods[0].start, 0x200000);
	assert_int_equal(bi.mods[0].end, 0x201000);
	assert_string_equal(bi.mods[0].name, "/boot/guest.bin arg");
	assert_string_equal(bi.mods[1].name, "second");
	assert_int_equal(bi.nmem, 5); /* the mmap wins over basic meminfo */
	assert_int_equal(bi.mem[3].base, 0x100000);
	assert_int_equal(bi.mem[3].len, 0x7fe0000);
	assert_int_equal(bi.mem[3].type, 1);
	assert_int_equal(bi.mem[4].type, 2);
	assert_int_equal(boot_mem_top(&bi), 0x80e0000);
	assert_int_equal(bi.info_end - bi.info_start, b.len);
	assert_int_equal(bi.truncated, 0);
}

static void test_mb2_wide_mmap_entries(void **state)
{
	static struct mb2b b;
	struct boot_info bi;

	(void)state;
	mb2_begin(&b);
	mb2_mmap(&b, 40, ARRAY_SIZE(qemu_map), qemu_map); /* a future, longer entry format */
	mb2_finish(&b);
	assert_int_equal(parse2(&b, &bi), 0);
	assert_int_equal(bi.nmem, 5);
	assert_int_equal(bi.mem[4].base, 0xfffc0000);
}

static void test_mb2_basic_mem_fallback(void **state)
{
	static struct mb2b b;
	struct boot_info bi;

	(void)state;
	mb2_begin(&b);
	mb2_add(&b, MB2_TAG_BASIC_MEM, "\x80\x02\0\0\0\x00\x02\0", 8); /* 640 KiB, 128 MiB */
	mb2_finish(&b);
	assert_int_equal(parse2(&b, &bi), 0);
	assert_int_equal(bi.nmem, 2);
	assert_int_equal(bi.mem[0].len, 640 << 10);
	assert_int_equal(bi.mem[1].base, 1 << 20);
	assert_int_equal(boot_mem_top(&bi), (1 << 20) + (128 << 20));
}

static void test_mb2_stops_at_end_tag(void **state)
{
	static struct mb2b b;
	struct boot_info bi;

	(void)state;
	mb2_begin(&b);
	mb2_str(&b, MB2_TAG_CMDLINE, "first");
	mb2_add(&b, MB2_TAG_END, NULL, 0);
	mb2_str(&b, MB2_TAG_CMDLINE, "after the end");
	mb2_add(&b, 0x1234, NULL, 0);
	put32(b.buf, b.len);
	assert_int_equal(parse2(&b, &bi), 0);
	assert_string_equal(bi.cmdline, "first");
}

static void test_mb2_empty_entries_skipped(void **state)
{
	static const u64 map[][3] = { { 0, 0, 1 }, { 0x1000, 0x1000, 1 } };
	static struct mb2b b;
	struct boot_info bi;

	(void)state;
	mb2_begin(&b);
	mb2_mmap(&b, 24, 2, map);
	mb2_finish(&b);
	assert_int_equal(parse2(&b, &bi), 0);
	assert_int_equal(bi.nmem, 1);
	assert_int_equal(bi.mem[0].base, 0x1000);
}

/* ---- multiboot2: truncation ---------------------------------------------------------------- */

static void test_mb2_truncation(void **state)
{
	static struct mb2b b;
	static u64 map[70][3];
	static char longs[BOOT_CMDLINE_MAX + 300];
	struct boot_info bi;
	char name[100];

	(void)state;
	memset(longs, 'x', sizeof(longs) - 1);
	longs[sizeof(longs) - 1] = 0;
	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = 0;
	for (int i = 0; i < 70; i++)
		map[i][0] = i * 0x100000ULL, map[i][1] = 0x100000, map[i][2] = 1;
	mb2_begin(&b);
	mb2_str(&b, MB2_TAG_CMDLINE, longs);
	mb2_str(&b, MB2_TAG_LOADER, name);
	for (int i = 0; i < 20; i++)
		mb2_module(&b, i * 0x1000, i * 0x1000 + 0x1000, i == 0 ? name : "m");
	mb2_mmap(&b, 24, 70, map);
	mb2_finish(&b);
	assert_int_equal(parse2(&b, &bi), 0);
	check_sane(&bi);
	assert_int_equal(strlen(bi.cmdline), sizeof(bi.cmdline) - 1);
	assert_int_equal(strlen(bi.loader), sizeof(bi.loader_name) - 1);
	assert_int_equal(strlen(bi.mods[0].name), sizeof(bi.mods[0].name) - 1);
	assert_int_equal(bi.nmods, BOOT_MAX_MODS);
	assert_int_equal(bi.mods[15].start, 15 * 0x1000);
	assert_int_equal(bi.nmem, BOOT_MAX_MEM);
	assert_int_equal(bi.mem[63].base, 63 * 0x100000ULL);
	assert_int_equal(bi.truncated,
	                 BOOT_TRUNC_CMDLINE | BOOT_TRUNC_MEM | BOOT_TRUNC_MODS | BOOT_TRUNC_NAME);
}

/* GRUB 2 passes long command lines whole: 3000 bytes with the options that matter at the
 * end (issue 11: everything after byte 511 was dropped) come through uncut. */
static void test_mb2_long_cmdline_kept(void **state)
{
	static struct mb2b b;
	static char line[3001];
	struct boot_info bi;
	const char *tail = " platform=bochs guest=k.elf";

	(void)state;
	memset(line, 'a', sizeof(line) - 1);
	memcpy(line, "x=", 2);
	memcpy(line + sizeof(line) - 1 - strlen(tail), tail, strlen(tail));
	mb2_begin(&b);
	mb2_str(&b, MB2_TAG_CMDLINE, line);
	mb2_finish(&b);
	assert_int_equal(parse2(&b, &bi), 0);
	assert_string_equal(bi.cmdline, line);
	assert_int_equal(bi.truncated, 0);
}

static void test_mb2_string_without_nul(void **state)
{
	static struct mb2b b;
	struct boot_info bi;

	(void)state;
	mb2_begin(&b);
	mb2_add(&b, MB2_TAG_CMDLINE, "abcdefgh", 8); /* fills the tag exactly, no NUL */
	mb2_finish(&b);
	assert_int_equal(parse2(&b, &bi), 0);
	assert_string_equal(bi.cmdline, "abcdefgh");
}

/* ---- multiboot2: malformed ----------------------------------------------------------------- */

static void test_mb2_bad_total_size(void **state)
{
	static struct mb2b b;
	struct boot_info bi;

	(void)state;
	mb2_begin(&b);
	mb2_finish(&b);
	put32(b.buf, 8); /* no room for the end tag */
	assert_int_equal(parse2_len(b.buf, 8, &bi), -EINVAL);
	put32(b.buf, 0);
	assert_int_equal(parse2_len(b.buf, 16, &bi), -EINVAL);
	put32(b.buf, MB2_INFO_MAX + 8);
	assert_int_equal(parse2_len(b.buf, 16, &bi), -EINVAL);
	put32(b.buf, 0xffffffff);
	assert_int_equal(parse2_len(b.buf, 16, &bi), -EINVAL);
	check_empty(&bi, 2);
}

static void test_mb2_no_end_tag(void **state)
{
	static struct mb2b b;
	struct boot_info bi;

	(void)state;
	mb2_begin(&b);
	mb2_str(&b, MB2_TAG_CMDLINE, "x");
	put32(b.buf, b.len);
	assert_int_equal(parse2(&b, &bi), -EINVAL);
	/* The end tag cut in half by total_size. */
	mb2_finish(&b);
	put32(b.buf, b.len - 4);
	assert_int_equal(parse2_len(b.buf, b.len - 4, &bi), -EINVAL);
	check_empty(&bi, 2); /* nothing half-parsed is left behind */
}

static void test_mb2_tag_past_end(void **state)
{
	static struct mb2b b;
	struct boot_info bi;
	u8 *t;

	(void)state;
	mb2_begin(&b);
	t = mb2_add(&b, MB2_TAG_CMDLINE, "hello", 6);
	mb2_finish(&b);
	put32(t + 4, b.len); /* runs past total_size */
	assert_int_equal(parse2(&b, &bi), -EINVAL);
	put32(t + 4, 0xfffffff8); /* would wrap a 32-bit offset */
	assert_int_equal(parse2(&b, &bi), -EINVAL);
	put32(t + 4, 4); /* smaller than a tag header */
	assert_int_equal(parse2(&b, &bi), -EINVAL);
	put32(t + 4, 0);
	assert_int_equal(parse2(&b, &bi), -EINVAL);
}

static void test_mb2_misaligned(void **state)
{
	static struct mb2b b;
	struct boot_info bi;

	(void)state;
	mb2_begin(&b);
	mb2_finish(&b);
	memmove(b.buf + 1, b.buf, b.len); /* the same info at an odd address must not be read */
	assert_int_equal(mb2_parse(b.buf, INFO_PA + 4, &bi), -EINVAL);
	assert_int_equal(mb2_parse(b.buf + 1, INFO_PA + 1, &bi), -EINVAL);
	assert_int_equal(mb2_parse(NULL, INFO_PA, &bi), -EINVAL);
	assert_int_equal(mb2_parse(b.buf, INFO_PA, NULL), -EINVAL);
}

static void test_mb2_bad_mmap(void **state)
{
	static struct mb2b b;
	static const u64 wrap[][3] = { { 0xfffffffffffff000ULL, 0x2000, 1 } };
	struct boot_info bi;
	u8 *t;

	(void)state;
	mb2_begin(&b);
	mb2_mmap(&b, 16, 2, qemu_map); /* entry size smaller than an entry */
	mb2_finish(&b);
	assert_int_equal(parse2(&b, &bi), -EINVAL);
	mb2_begin(&b);
	mb2_mmap(&b, 24, 1, wrap);
	mb2_finish(&b);
	assert_int_equal(parse2(&b, &bi), -EINVAL);
	mb2_begin(&b);
	t = mb2_add(&b, MB2_TAG_MMAP, NULL, 4); /* too short for entry_size/version */
	mb2_finish(&b);
	(void)t;
	assert_int_equal(parse2(&b, &bi), -EINVAL);
	mb2_begin(&b);
	t = mb2_add(&b, MB2_TAG_MMAP, NULL, 8);
	put32(t + 8, 0); /* entry size 0: would divide by zero */
	mb2_finish(&b);
	assert_int_equal(parse2(&b, &bi), -EINVAL);
}

static void test_mb2_bad_module(void **state)
{
	static struct mb2b b;
	struct boot_info bi;

	(void)state;
	mb2_begin(&b);
	mb2_module(&b, 0x5000, 0x4000, "backwards");
	mb2_finish(&b);
	assert_int_equal(parse2(&b, &bi), -EINVAL);
	mb2_begin(&b);
	mb2_add(&b, MB2_TAG_MODULE, "\0\0\0\0", 4);
	mb2_finish(&b);
	assert_int_equal(parse2(&b, &bi), -EINVAL);
	mb2_begin(&b);
	mb2_add(&b, MB2_TAG_BASIC_MEM, "\0\0\0\0", 4);
	mb2_finish(&b);
	assert_int_equal(parse2(&b, &bi), -EINVAL);
	mb2_begin(&b);
	mb2_add(&b, MB2_TAG_MODULE, "\0\0\0\0\0\0\0\0", 8); /* no string at all: fine */
	mb2_finish(&b);
	assert_int_equal(parse2(&b, &bi), 0);
	assert_int_equal(bi.nmods, 1);
	assert_string_equal(bi.mods[0].name, "");
}

/* ---- multiboot2: fuzzing ------------------------------------------------------------------- */

static u32 rnd(unsigned *seed)
{
	return (u32)rand_r(seed) ^ ((u32)rand_r(seed) << 16);
}

/* Overwrite buf with a chain of plausible tag headers (types 0..7, small sizes). */
static void random_tags(u8 *buf, u32 len, unsigned *seed)
{
	u32 off = MB2_INFO_HDR;

	while (off + 8 <= len) {
		u32 size = rnd(seed) % 4 ? 8 + rnd(seed) % 48 : rnd(seed);

		put32(buf + off, rnd(seed) % 8);
		put32(buf + off + 4, size);
		if (rnd(seed) % 2 && size >= 16 && off + 16 <= len)
			put32(buf + off + 8, 24 + rnd(seed) % 3 * 8); /* an mmap entry size */
		off += ALIGN_UP(size % 64, 8);
		if (size % 64 < 8)
			break;
	}
}

static void test_mb2_fuzz_random(void **state)
{
	unsigned seed = 1;
	int ok = 0;

	(void)state;
	for (int i = 0; i < 50000; i++) {
		u32 len = 8 + rnd(&seed) % 200;
		u8 buf[256];
		struct boot_info bi;
		int err;

		for (u32 j = 0; j < len; j++)
			buf[j] = rnd(&seed) % 4 ? rnd(&seed) % 16 : rnd(&seed);
		if (rnd(&seed) % 2)
			random_tags(buf, len, &seed);
		put32(buf, rnd(&seed) % 2 ? len : rnd(&seed) % (len + 1));
		err = parse2_len(buf, len, &bi);
		assert_true(err == 0 || err == -EINVAL);
		if (err == 0) {
			check_sane(&bi);
			ok++;
		}
	}
	print_message("random multiboot2 infos accepted: %d of 50000\n", ok);
}

static void test_mb2_fuzz_mutated(void **state)
{
	static struct mb2b good, b;
	unsigned seed = 2;
	int ok = 0;

	(void)state;
	build_grub_like(&good);
	for (int i = 0; i < 50000; i++) {
		struct boot_info bi;
		u32 len = good.len, total;
		int flips = 1 + rnd(&seed) % 4, err;

		b = good;
		for (int f = 0; f < flips; f++)
			b.buf[rnd(&seed) % good.len] ^= 1 << (rnd(&seed) % 8);
		if (rnd(&seed) % 4 == 0) { /* truncate: the info really is this short */
			len = rnd(&seed) % (good.len + 1);
			put32(b.buf, len);
		}
		len = MIN(len, good.len);
		if (rnd(&seed) % 8 == 0)
			put32(b.buf, rnd(&seed) % (len + 1));
		/* The contract: total_size bytes are readable. Give exactly that (zeros past the
		 * good info) unless the parser must reject it unread (> MB2_INFO_MAX). */
		memcpy(&total, b.buf, 4);
		if (total <= sizeof(b.buf))
			len = MAX(total, 4);
		else if (total <= MB2_INFO_MAX)
			put32(b.buf, len);
		err = parse2_len(b.buf, MAX(len, 4), &bi);
		assert_true(err == 0 || err == -EINVAL);
		if (err == 0) {
			check_sane(&bi);
			assert_true(bi.info_end - bi.info_start <= len);
			ok++;
		}
	}
	print_message("mutated multiboot2 infos accepted: %d of 50000\n", ok);
}

/* ---- multiboot1: fake physical memory, one heap block per page ----------------------------- */

#define PHYS_PAGES 16
static u8 *phys[PHYS_PAGES]; /* NULL: not readable */

static void *fake_pa_to_va(u64 pa)
{
	u64 pg = pa >> PAGE_SHIFT;

	if (pg >= PHYS_PAGES || !phys[pg])
		return NULL;
	return phys[pg] + (pa & (PAGE_SIZE - 1));
}

static void phys_setup(void)
{
	for (int i = 0; i < PHYS_PAGES; i++)
		phys[i] = calloc(1, PAGE_SIZE);
}

static void phys_teardown(void)
{
	for (int i = 0; i < PHYS_PAGES; i++)
		free(phys[i]), phys[i] = NULL;
}

static int phys_setup_fn(void **state)
{
	(void)state;
	phys_setup();
	return 0;
}
static int phys_teardown_fn(void **state)
{
	(void)state;
	phys_teardown();
	return 0;
}

/* Write into fake physical memory (may cross pages). */
static void pwrite(u64 pa, const void *src, size_t len)
{
	for (size_t i = 0; i < len; i++)
		phys[(pa + i) >> PAGE_SHIFT][(pa + i) & (PAGE_SIZE - 1)] = ((const u8 *)src)[i];
}

static void pwrite32(u64 pa, u32 v)
{
	pwrite(pa, &v, 4);
}
static void pwrite64(u64 pa, u64 v)
{
	pwrite(pa, &v, 8);
}

static void pstr(u64 pa, const char *s)
{
	pwrite(pa, s, strlen(s) + 1);
}

#define MB1_INFO_PA   0x0000
#define MB1_CMD_PA    0x1000
#define MB1_LOADER_PA 0x1800
#define MB1_MODS_PA   0x2000
#define MB1_MMAP_PA   0x3000
#define MB1_NAMES_PA  0x4000

static u8 *mb1_info(void)
{
	return phys[0];
}
static void info32(u32 off, u32 v)
{
	put32(mb1_info() + off, v);
}

/* One mmap entry in QEMU's format (size field 20). Returns the bytes written. */
static u32 mb1_mmap_entry(u64 pa, u32 size, u64 base, u64 len, u32 type)
{
	pwrite32(pa, size);
	pwrite64(pa + 4, base);
	pwrite64(pa + 12, len);
	pwrite32(pa + 20, type);
	return size + 4;
}

static void mb1_mod(int i, u32 start, u32 end, u32 str)
{
	pwrite32(MB1_MODS_PA + i * 16, start);
	pwrite32(MB1_MODS_PA + i * 16 + 4, end);
	pwrite32(MB1_MODS_PA + i * 16 + 8, str);
}

/* As QEMU's -kernel loader builds it: the kernel's path first on the command line. */
static void build_qemu_like(void)
{
	u32 off = 0;

	info32(MB1_OFF_FLAGS, MB1_F_MEM | MB1_F_CMDLINE | MB1_F_MODS | MB1_F_MMAP | MB1_F_LOADER);
	info32(MB1_OFF_MEM_LOWER, 639);
	info32(MB1_OFF_MEM_UPPER, 130048);
	pstr(MB1_CMD_PA, "build/eptvisor.bin run=demo  vcpus=2");
	info32(MB1_OFF_CMDLINE, MB1_CMD_PA);
	pstr(MB1_LOADER_PA, "qemu");
	info32(MB1_OFF_LOADER, MB1_LOADER_PA);
	pstr(MB1_NAMES_PA, "guest.bin");
	mb1_mod(0, 0x10000, 0x18000, MB1_NAMES_PA);
	mb1_mod(1, 0x20000, 0x20000, 0);
	info32(MB1_OFF_MODS_COUNT, 2);
	info32(MB1_OFF_MODS_ADDR, MB1_MODS_PA);
	for (size_t i = 0; i < ARRAY_SIZE(qemu_map); i++)
		off += mb1_mmap_entry(MB1_MMAP_PA + off, 20, qemu_map[i][0], qemu_map[i][1],
		                      (u32)qemu_map[i][2]);
	info32(MB1_OFF_MMAP_LENGTH, off);
	info32(MB1_OFF_MMAP_ADDR, MB1_MMAP_PA);
}

static int parse1(struct boot_info *bi)
{
	return mb1_parse(mb1_info(), MB1_INFO_PA, fake_pa_to_va, bi);
}

static void test_mb1_qemu_like(void **state)
{
	struct boot_info bi;

	(void)state;
	build_qemu_like();
	assert_int_equal(parse1(&bi), 0);
	check_sane(&bi);
	assert_int_equal(bi.proto, 1);
	assert_string_equal(bi.cmdline, "run=demo  vcpus=2");
	assert_string_equal(bi.loader, "qemu");
	assert_int_equal(bi.nmods, 2);
	assert_int_equal(bi.mods[0].start, 0x10000);
	assert_int_equal(bi.mods[0].end, 0x18000);
	assert_string_equal(bi.mods[0].name, "guest.bin");
	assert_string_equal(bi.mods[1].name, "");
	assert_int_equal(bi.nmem, 5);
	assert_int_equal(boot_mem_top(&bi), 0x80e0000);
	assert_int_equal(bi.info_start, MB1_INFO_PA);
	assert_int_equal(bi.info_end, MB1_INFO_PA + MB1_INFO_SIZE);
	assert_int_equal(bi.truncated, 0);
}

static void test_mb1_kernel_path_rule(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "/boot/eptvisor.elf", "" },
		{ "eptvisor.bin ", "" },
		{ "  k   trace run=all", "trace run=all" },
		{ "run=demo trace", "run=demo trace" }, /* no path given: nothing dropped */
		{ "", "" },
	};
	struct boot_info bi;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		info32(MB1_OFF_FLAGS, MB1_F_CMDLINE);
		info32(MB1_OFF_CMDLINE, MB1_CMD_PA);
		pstr(MB1_CMD_PA, cases[i].in);
		assert_int_equal(parse1(&bi), 0);
		assert_string_equal(bi.cmdline, cases[i].out);
	}
}

static void test_mb1_flags_zero_and_basic_mem(void **state)
{
	struct boot_info bi;

	(void)state;
	build_qemu_like();
	info32(MB1_OFF_FLAGS, 0);
	assert_int_equal(parse1(&bi), 0);
	check_empty(&bi, 1);
	info32(MB1_OFF_FLAGS, MB1_F_MEM);
	assert_int_equal(parse1(&bi), 0);
	assert_int_equal(bi.nmem, 2);
	assert_int_equal(bi.mem[1].base, 1 << 20);
	assert_int_equal(bi.mem[1].len, 130048ULL << 10);
}

static void test_mb1_strings_cross_pages(void **state)
{
	struct boot_info bi;
	static char want[BOOT_CMDLINE_MAX + 600];

	(void)state;
	/* A 5-character loader name whose NUL is the first byte of the next page. */
	pstr(0x5ffb, "cross");
	info32(MB1_OFF_FLAGS, MB1_F_LOADER | MB1_F_CMDLINE);
	info32(MB1_OFF_LOADER, 0x5ffb);
	/* A 3000-byte command line spanning pages: kept whole. */
	memset(want, 'a', 3000);
	want[0] = 'k', want[1] = ' ', want[3000] = 0;
	pstr(0x6f00, want);
	info32(MB1_OFF_CMDLINE, 0x6f00);
	assert_int_equal(parse1(&bi), 0);
	assert_string_equal(bi.loader, "cross");
	assert_string_equal(bi.cmdline, want + 2); /* path dropped */
	assert_int_equal(bi.truncated, 0);
	/* One longer than cmdline[]: cut at BOOT_CMDLINE_MAX - 1 bytes, and flagged. */
	memset(want, 'a', sizeof(want) - 1);
	want[0] = 'k', want[1] = ' ', want[sizeof(want) - 1] = 0;
	pstr(0x6f00, want);
	assert_int_equal(parse1(&bi), 0);
	assert_int_equal(strlen(bi.cmdline), sizeof(bi.cmdline) - 1 - 2); /* path dropped */
	assert_true(bi.truncated & BOOT_TRUNC_CMDLINE);
}

static void test_mb1_unreadable(void **state)
{
	struct boot_info bi;

	(void)state;
	build_qemu_like();
	info32(MB1_OFF_CMDLINE, PHYS_PAGES * PAGE_SIZE + 5); /* outside memory */
	assert_int_equal(parse1(&bi), -EINVAL);
	check_empty(&bi, 1);
	build_qemu_like();
	free(phys[7]), phys[7] = NULL;   /* a hole in memory */
	memset(phys[6], 'z', PAGE_SIZE); /* a string with no NUL before the hole */
	info32(MB1_OFF_LOADER, 0x7000 - 64);
	assert_int_equal(parse1(&bi), 0); /* 63 bytes kept, the 64th shows it was cut */
	assert_int_equal(strlen(bi.loader), 63);
	assert_true(bi.truncated & BOOT_TRUNC_NAME);
	info32(MB1_OFF_LOADER, 0x7000 - 63);
	assert_int_equal(parse1(&bi), -EINVAL); /* no NUL before the hole */
	build_qemu_like();
	info32(MB1_OFF_MODS_ADDR, 0x6ff8); /* the second module entry is in the hole */
	assert_int_equal(parse1(&bi), -EINVAL);
	build_qemu_like();
	info32(MB1_OFF_MMAP_ADDR, 0x7000);
	assert_int_equal(parse1(&bi), -EINVAL);
	assert_int_equal(mb1_parse(mb1_info(), 0, NULL, &bi), -EINVAL);
	assert_int_equal(mb1_parse(NULL, 0, fake_pa_to_va, &bi), -EINVAL);
	assert_int_equal(mb1_parse(mb1_info(), 0, fake_pa_to_va, NULL), -EINVAL);
}

static void test_mb1_bad_mmap_and_mods(void **state)
{
	struct boot_info bi;

	(void)state;
	build_qemu_like();
	mb1_mmap_entry(MB1_MMAP_PA, 16, 0, 0x1000, 1); /* entry size below 20 */
	assert_int_equal(parse1(&bi), -EINVAL);
	build_qemu_like();
	info32(MB1_OFF_MMAP_LENGTH, 24 * 2 + 10); /* third entry cut by mmap_length */
	assert_int_equal(parse1(&bi), -EINVAL);
	info32(MB1_OFF_MMAP_LENGTH, 24 * 2 + 3); /* a 3-byte tail is ignored */
	assert_int_equal(parse1(&bi), 0);
	assert_int_equal(bi.nmem, 2);
	build_qemu_like();
	mb1_mmap_entry(MB1_MMAP_PA, 20, 0xfffffffffffff000ULL, 0x1000, 1); /* wraps to 0 */
	assert_int_equal(parse1(&bi), -EINVAL);
	build_qemu_like();
	mb1_mod(1, 0x30000, 0x20000, 0);
	assert_int_equal(parse1(&bi), -EINVAL);
}

static void test_mb1_truncation(void **state)
{
	struct boot_info bi;
	u32 off = 0;

	(void)state;
	build_qemu_like();
	for (int i = 0; i < 40; i++)
		mb1_mod(i, i * 0x1000, i * 0x1000 + 0x800, MB1_NAMES_PA);
	info32(MB1_OFF_MODS_COUNT, 0xffffffff); /* absurd: only the first 16 are read */
	for (int i = 0; i < 100; i++)
		off += mb1_mmap_entry(MB1_MMAP_PA + off, 20, i * 0x10000ULL, 0x10000, 1);
	info32(MB1_OFF_MMAP_LENGTH, 0xfffffff0); /* only as far as 64 entries are read */
	assert_int_equal(parse1(&bi), 0);
	check_sane(&bi);
	assert_int_equal(bi.nmods, BOOT_MAX_MODS);
	assert_int_equal(bi.nmem, BOOT_MAX_MEM);
	assert_int_equal(bi.truncated, BOOT_TRUNC_MODS | BOOT_TRUNC_MEM);
}

static void test_mb1_fuzz(void **state)
{
	unsigned seed = 3;
	int ok = 0;

	(void)state;
	for (int i = 0; i < 20000; i++) {
		struct boot_info bi;
		int err;

		/* Random small values in the info, so its pointers often land in fake memory. */
		for (int j = 0; j < MB1_INFO_SIZE; j += 4)
			info32(j, rnd(&seed) % 3 ? rnd(&seed) % (PHYS_PAGES * PAGE_SIZE + 64)
			                         : rnd(&seed));
		for (int j = 0; j < 64; j++)
			phys[1 + rnd(&seed) % (PHYS_PAGES - 1)][rnd(&seed) % PAGE_SIZE] =
				rnd(&seed) % 40;
		err = parse1(&bi);
		assert_true(err == 0 || err == -EINVAL);
		if (err == 0) {
			check_sane(&bi);
			ok++;
		}
	}
	print_message("random multiboot1 infos accepted: %d of 20000\n", ok);
}

/* ---- boot_mem_top -------------------------------------------------------------------------- */

static void test_mem_top_ignores_reserved(void **state)
{
	struct boot_info bi = { .nmem = 3 };

	(void)state;
	bi.mem[0] = (struct boot_mem){ 0x100000, 0x100000, 1 };
	bi.mem[1] = (struct boot_mem){ 0xfee00000, 0x1000, 2 };
	bi.mem[2] = (struct boot_mem){ 0x0, 0x9f000, 1 };
	assert_int_equal(boot_mem_top(&bi), 0x200000);
}

#define MB1_TEST(f) cmocka_unit_test_setup_teardown(f, phys_setup_fn, phys_teardown_fn)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mb2_minimal),
		cmocka_unit_test(test_mb2_grub_like),
		cmocka_unit_test(test_mb2_wide_mmap_entries),
		cmocka_unit_test(test_mb2_basic_mem_fallback),
		cmocka_unit_test(test_mb2_stops_at_end_tag),
		cmocka_unit_test(test_mb2_empty_entries_skipped),
		cmocka_unit_test(test_mb2_truncation),
		cmocka_unit_test(test_mb2_long_cmdline_kept),
		cmocka_unit_test(test_mb2_string_without_nul),
		cmocka_unit_test(test_mb2_bad_total_size),
		cmocka_unit_test(test_mb2_no_end_tag),
		cmocka_unit_test(test_mb2_tag_past_end),
		cmocka_unit_test(test_mb2_misaligned),
		cmocka_unit_test(test_mb2_bad_mmap),
		cmocka_unit_test(test_mb2_bad_module),
		cmocka_unit_test(test_mb2_fuzz_random),
		cmocka_unit_test(test_mb2_fuzz_mutated),
		MB1_TEST(test_mb1_qemu_like),
		MB1_TEST(test_mb1_kernel_path_rule),
		MB1_TEST(test_mb1_flags_zero_and_basic_mem),
		MB1_TEST(test_mb1_strings_cross_pages),
		MB1_TEST(test_mb1_unreadable),
		MB1_TEST(test_mb1_bad_mmap_and_mods),
		MB1_TEST(test_mb1_truncation),
		MB1_TEST(test_mb1_fuzz),
		cmocka_unit_test(test_mem_top_ignores_reserved),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
