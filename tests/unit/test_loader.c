/*
 * Host tests of the multiboot guest-kernel loader (loader/mbimage.c, loader/mbinfo.c).
 * Images are assembled in memory: ELF32 and ELF64 files with multiboot 1 or 2 headers, flat
 * a.out-kludge images, headers at the search-window edges, and one broken image per refusal.
 * Each image is parsed from a heap block of exactly its size, so ASan catches any read past
 * the file. The information mb_info_build produces is decoded field by field here and also
 * handed to eptvisor's own boot-info parsers (boot/multiboot.c) as an independent reader.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

/* cmocka.h needs the headers above it. */
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bootinfo.h"
#include "errno.h"
#include "loader/mbimage.h"
#include "loader/mbinfo.h"
#include "loader/mptable.h"

#define RAM     (128ULL << 20)
#define IMG_MAX 40960

struct img {
	u8 b[IMG_MAX];
	u64 len;
};

static void put16(u8 *p, u16 v)
{
	memcpy(p, &v, 2);
}
static void put32(u8 *p, u32 v)
{
	memcpy(p, &v, 4);
}
static void put64(u8 *p, u64 v)
{
	memcpy(p, &v, 8);
}
static u32 get32(const u8 *p)
{
	u32 v;
	memcpy(&v, p, 4);
	return v;
}
static u64 get64(const u8 *p)
{
	u64 v;
	memcpy(&v, p, 8);
	return v;
}

static struct img *img_new(u64 len)
{
	struct img *im = calloc(1, sizeof(*im));

	assert_non_null(im);
	assert_true(len <= IMG_MAX);
	im->len = len;
	for (u64 i = 0; i < len; i++) /* recognisable bytes, never an accidental magic */
		im->b[i] = (u8)(i * 7 + 1);
	return im;
}

static char last_err[256];
static struct mb_image last;

/* Parse im from a heap copy of exactly im->len bytes; the reason lands in last_err. */
static int parse_res(const struct img *im, gpa_t rlo, gpa_t rhi)
{
	u8 *copy = malloc(im->len ? im->len : 1);
	int r;

	memcpy(copy, im->b, im->len);
	memset(last_err, 'X', sizeof(last_err));
	r = mb_image_parse(copy, im->len, RAM, rlo, rhi, &last, last_err, sizeof(last_err));
	free(copy);
	assert_non_null(memchr(last_err, 0, sizeof(last_err)));
	if (r)
		assert_true(last_err[0] != '\0');
	else
		assert_string_equal(last_err, "");
	return r;
}

static int parse(const struct img *im)
{
	return parse_res(im, 0, 0);
}

/* Parse must fail with `code` and a reason containing `what`. */
static void refused(const struct img *im, int code, const char *what)
{
	int r = parse(im);

	if (r != code || !strstr(last_err, what))
		fail_msg("got %d '%s', wanted %d '...%s...'", r, last_err, code, what);
}

/* ---- headers ------------------------------------------------------------------------------- */

static void mb1_header(struct img *im, u64 off, u32 flags)
{
	put32(im->b + off, MB1_HEADER_MAGIC);
	put32(im->b + off + 4, flags);
	put32(im->b + off + 8, -(MB1_HEADER_MAGIC + flags));
}

static void mb1_kludge(struct img *im, u64 off, u32 hdr, u32 load, u32 load_end, u32 bss_end,
                       u32 entry)
{
	mb1_header(im, off, MB1_HF_AOUT_KLUDGE | MB1_HF_MEMINFO);
	put32(im->b + off + 12, hdr);
	put32(im->b + off + 16, load);
	put32(im->b + off + 20, load_end);
	put32(im->b + off + 24, bss_end);
	put32(im->b + off + 28, entry);
}

/* A multiboot 2 header being assembled at `off`; tags appended at `pos`. */
struct mb2h {
	struct img *im;
	u64 off, pos;
};

static struct mb2h mb2_begin(struct img *im, u64 off)
{
	return (struct mb2h){ im, off, off + 16 };
}

static u8 *mb2_tag(struct mb2h *h, u16 type, u16 flags, u32 size)
{
	u8 *t = h->im->b + h->pos;

	memset(t, 0, ALIGN_UP(size, 8));
	put16(t, type);
	put16(t + 2, flags);
	put32(t + 4, size);
	h->pos += ALIGN_UP(size, 8);
	return t;
}

static void mb2_request(struct mb2h *h, u16 flags, int n, const u32 *types)
{
	u8 *t = mb2_tag(h, 1, flags, 8 + 4 * n);

	for (int i = 0; i < n; i++)
		put32(t + 8 + 4 * i, types[i]);
}

/* Close the header with an end tag (if `end`), set its length and checksum. */
static void mb2_finish_arch(struct mb2h *h, bool end, u32 arch)
{
	u8 *p = h->im->b + h->off;
	u32 len;

	if (end)
		mb2_tag(h, 0, 0, 8);
	len = h->pos - h->off;
	put32(p, MB2_HEADER_MAGIC);
	put32(p + 4, arch);
	put32(p + 8, len);
	put32(p + 12, -(MB2_HEADER_MAGIC + arch + len));
}

static void mb2_finish(struct mb2h *h)
{
	mb2_finish_arch(h, true, 0);
}

/* ---- ELF ----------------------------------------------------------------------------------- */

static void elf32(struct img *im, u16 machine, u32 entry, int nph)
{
	u8 *e = im->b;

	memset(e, 0, 52 + 32 * nph);
	memcpy(e,
	       "\x7f"
	       "ELF",
	       4);
	e[4] = 1, e[5] = 1, e[6] = 1;
	put16(e + 16, 2);
	put16(e + 18, machine);
	put32(e + 20, 1);
	put32(e + 24, entry);
	put32(e + 28, 52);
	put16(e + 40, 52);
	put16(e + 42, 32);
	put16(e + 44, nph);
}

static void elf32_ph(struct img *im, int i, u32 type, u32 off, u32 vaddr, u32 paddr, u32 filesz,
                     u32 memsz)
{
	u8 *p = im->b + 52 + 32 * i;

	put32(p, type);
	put32(p + 4, off);
	put32(p + 8, vaddr);
	put32(p + 12, paddr);
	put32(p + 16, filesz);
	put32(p + 20, memsz);
	put32(p + 24, 5);
}

static void elf64(struct img *im, u64 entry, int nph)
{
	u8 *e = im->b;

	memset(e, 0, 64 + 56 * nph);
	memcpy(e,
	       "\x7f"
	       "ELF",
	       4);
	e[4] = 2, e[5] = 1, e[6] = 1;
	put16(e + 16, 2);
	put16(e + 18, 62);
	put32(e + 20, 1);
	put64(e + 24, entry);
	put64(e + 32, 64);
	put16(e + 52, 64);
	put16(e + 54, 56);
	put16(e + 56, nph);
}

static void elf64_ph(struct img *im, int i, u64 off, u64 vaddr, u64 paddr, u64 filesz, u64 memsz)
{
	u8 *p = im->b + 64 + 56 * i;

	put32(p, 1);
	put32(p + 4, 5);
	put64(p + 8, off);
	put64(p + 16, vaddr);
	put64(p + 24, paddr);
	put64(p + 32, filesz);
	put64(p + 40, memsz);
}

/*
 * The standard ELF32 kernel: text (file 0x1000..0x1800) at 0x100000, data + bss (file
 * 0x2000..0x2100, 0x3000 in memory) at 0x200000, entry 0x100010, mb1 header at 0x1000.
 */
static struct img *std_elf32(u32 mb1_flags)
{
	struct img *im = img_new(0x2100);

	elf32(im, 3, 0x100010, 3);
	elf32_ph(im, 0, 1, 0x1000, 0x100000, 0x100000, 0x800, 0x800);
	elf32_ph(im, 1, 4, 0x40, 0, 0, 0x10, 0x10); /* PT_NOTE: not loaded */
	elf32_ph(im, 2, 1, 0x2000, 0x200000, 0x200000, 0x100, 0x3000);
	mb1_header(im, 0x1000, mb1_flags);
	return im;
}

static void assert_seg(int i, gpa_t gpa, u64 off, u64 filesz, u64 memsz)
{
	assert_true(i < last.nsegs);
	assert_int_equal(last.seg[i].gpa, gpa);
	assert_int_equal(last.seg[i].file_off, off);
	assert_int_equal(last.seg[i].filesz, filesz);
	assert_int_equal(last.seg[i].memsz, memsz);
}

/* ---- multiboot 1 --------------------------------------------------------------------------- */

static void test_mb1_elf32_two_loads(void **state)
{
	struct img *im = std_elf32(MB1_HF_PAGE_ALIGN | MB1_HF_MEMINFO);

	(void)state;
	assert_int_equal(parse(im), 0);
	assert_int_equal(last.version, 1);
	assert_string_equal(last.format, "ELF32");
	assert_int_equal(last.nsegs, 2);
	assert_seg(0, 0x100000, 0x1000, 0x800, 0x800);
	assert_seg(1, 0x200000, 0x2000, 0x100, 0x3000);
	assert_int_equal(last.entry, 0x100010);
	assert_int_equal(last.lowest, 0x100000);
	assert_int_equal(last.highest_end, 0x203000);
	assert_int_equal(last.header_off, 0x1000);
	assert_int_equal(last.mb1_flags, MB1_HF_PAGE_ALIGN | MB1_HF_MEMINFO);
	free(im);
}

/* kvm-unit-tests' .flat files: objcopy -O elf32-i386 of 64-bit code; x32 (EM_X86_64) too. */
static void test_mb1_elf32_machines(void **state)
{
	struct img *im = std_elf32(0);

	(void)state;
	put16(im->b + 18, 62);
	assert_int_equal(parse(im), 0);
	put16(im->b + 18, 40); /* ARM */
	refused(im, -EINVAL, "ELF machine 40 is not x86");
	free(im);
}

static void test_mb1_video_flag_ignored(void **state)
{
	struct img *im = std_elf32(MB1_HF_VIDEO);

	(void)state;
	assert_int_equal(parse(im), 0);
	assert_int_equal(last.mb1_flags, MB1_HF_VIDEO);
	free(im);
}

static void test_mb1_unsupported_flag(void **state)
{
	struct img *im = std_elf32(BIT(3) | MB1_HF_MEMINFO);

	(void)state;
	refused(im, -EINVAL, "requires flags 0x8");
	free(im);
}

/* A higher-half kernel: e_entry is virtual and is entered at its physical alias. */
static void test_mb1_entry_translated(void **state)
{
	struct img *im = std_elf32(0);

	(void)state;
	put32(im->b + 24, 0xc0100010);
	elf32_ph(im, 0, 1, 0x1000, 0xc0100000, 0x100000, 0x800, 0x800);
	assert_int_equal(parse(im), 0);
	assert_int_equal(last.entry, 0x100010);
	assert_int_equal(last.seg[0].gpa, 0x100000);
	free(im);
}

static void test_mb1_aout_kludge(void **state)
{
	struct img *im = img_new(0x2000);

	(void)state;
	/* flat binary loaded at 0x100000 from offset 0, to the end of the file, bss to 0x110000 */
	mb1_kludge(im, 0x20, 0x100020, 0x100000, 0, 0x110000, 0x100040);
	assert_int_equal(parse(im), 0);
	assert_string_equal(last.format, "a.out kludge");
	assert_int_equal(last.nsegs, 1);
	assert_seg(0, 0x100000, 0, 0x2000, 0x10000);
	assert_int_equal(last.entry, 0x100040);

	/* load from file offset 0x10 (header_addr - load_addr = 0x10), explicit end, no bss */
	mb1_kludge(im, 0x20, 0x400010, 0x400000, 0x401000, 0, 0x400100);
	assert_int_equal(parse(im), 0);
	assert_seg(0, 0x400000, 0x10, 0x1000, 0x1000);
	free(im);
}

/* QEMU prefers the kludge when bit 16 is set, even in an ELF file. */
static void test_mb1_kludge_wins_over_elf(void **state)
{
	struct img *im = std_elf32(0);

	(void)state;
	mb1_kludge(im, 0x1000, 0x300000, 0x300000, 0x300100, 0, 0x300000);
	assert_int_equal(parse(im), 0);
	assert_string_equal(last.format, "a.out kludge");
	assert_seg(0, 0x300000, 0x1000, 0x100, 0x100);
	free(im);
}

static void test_mb1_kludge_refusals(void **state)
{
	struct img *im = img_new(0x2000);

	(void)state;
	mb1_kludge(im, 0x20, 0x100000, 0x100020, 0, 0, 0x100020);
	refused(im, -EINVAL, "header_addr 0x100000 below load_addr 0x100020");
	mb1_kludge(im, 0x20, 0x100040, 0x100000, 0, 0, 0x100040);
	refused(im, -EINVAL, "header is at file offset 0x20");
	mb1_kludge(im, 0x20, 0x100020, 0x100000, 0xff000, 0, 0x100040);
	refused(im, -EINVAL, "load_end_addr 0xff000 below load_addr");
	mb1_kludge(im, 0x20, 0x100020, 0x100000, 0, 0x101000, 0x100040);
	refused(im, -EINVAL, "bss_end_addr 0x101000 below the load end 0x102000");
	mb1_kludge(im, 0x20, 0x100020, 0x100000, 0x103000, 0, 0x100040);
	refused(im, -EINVAL, "run past the end of the file");
	mb1_kludge(im, 0x20, 0x100020, 0x100000, 0x100000, 0, 0x100000);
	refused(im, -EINVAL, "loads nothing");
	free(im);
}

/* The whole header must lie in the first 8192 bytes (spec, GRUB): 8180 + 12 = 8192 fits. */
static void test_mb1_header_window(void **state)
{
	struct img *im = std_elf32(0);

	(void)state;
	im->len = 0x2100;
	memset(im->b + 0x1000, 0, 12);
	mb1_header(im, 8180, 0);
	assert_int_equal(parse(im), 0);
	assert_int_equal(last.header_off, 8180);
	memset(im->b + 8180, 0, 12);
	mb1_header(im, 8184, 0);
	refused(im, -ENOEXEC, "no multiboot header in the first 8192 bytes");
	memset(im->b + 8184, 0, 12);
	mb1_header(im, 8192, 0);
	refused(im, -ENOEXEC, "no multiboot header");
	memset(im->b + 8192, 0, 12);
	mb1_header(im, 4094, 0); /* not 4-aligned */
	refused(im, -ENOEXEC, "no multiboot header");
	memset(im->b + 4094, 0, 12);
	/* the kludge's 32 bytes at 8176 would cross 8192 */
	mb1_kludge(im, 8176, 0x100000, 0x100000, 0, 0, 0x100000);
	refused(im, -EINVAL, "past the first 8192 bytes");
	/* a header in a file shorter than the header */
	im->len = 8186;
	memset(im->b + 8176, 0, 32);
	mb1_header(im, 8176, 0);
	refused(im, -ENOEXEC, "no multiboot header");
	free(im);
}

static void test_mb1_elf64_refused(void **state)
{
	struct img *im = img_new(0x2000);

	(void)state;
	elf64(im, 0x100000, 1);
	elf64_ph(im, 0, 0x1000, 0x100000, 0x100000, 0x1000, 0x1000);
	mb1_header(im, 0x1000, 0);
	refused(im, -EINVAL, "ELF64 image with a multiboot 1 header");
	assert_non_null(strstr(last_err, "objcopy -O elf32-i386"));
	free(im);
}

/* ---- multiboot 2 --------------------------------------------------------------------------- */

/* An ELF64 kernel at 0x100000 (text) and 0x180000 (bss only) with an mb2 header at 0x1000. */
static struct img *std_elf64(struct mb2h *h)
{
	struct img *im = img_new(0x3000);

	elf64(im, 0x100020, 2);
	elf64_ph(im, 0, 0x1000, 0xffffffff80100000ULL, 0x100000, 0x2000, 0x2000);
	elf64_ph(im, 1, 0x3000, 0xffffffff80180000ULL, 0x180000, 0, 0x8000);
	*h = mb2_begin(im, 0x1000);
	return im;
}

static void test_mb2_elf64(void **state)
{
	static const u32 want[] = { 4, 6, 8 };
	struct mb2h h;
	struct img *im = std_elf64(&h);

	(void)state;
	mb2_request(&h, 0, ARRAY_SIZE(want), want);
	mb2_tag(&h, 4, 0, 12);  /* console flags */
	mb2_tag(&h, 5, 1, 20);  /* framebuffer, optional */
	mb2_tag(&h, 6, 0, 8);   /* module alignment */
	mb2_tag(&h, 10, 0, 24); /* relocatable */
	mb2_tag(&h, 8, 1, 12);  /* EFI i386 entry, optional */
	mb2_finish(&h);
	assert_int_equal(parse(im), 0);
	assert_int_equal(last.version, 2);
	assert_string_equal(last.format, "ELF64");
	assert_int_equal(last.nsegs, 2);
	assert_seg(0, 0x100000, 0x1000, 0x2000, 0x2000);
	assert_seg(1, 0x180000, 0x3000, 0, 0x8000);
	assert_int_equal(last.entry, 0x100020);
	assert_true(last.mb2_wants_mmap);
	assert_true(last.mb2_module_align);
	assert_int_equal(last.mb2_requested, BIT(4) | BIT(6) | BIT(8));
	assert_int_equal(last.mb2_unprovided, BIT(8));
	free(im);
}

static void test_mb2_elf32_and_entry_tag(void **state)
{
	struct img *im = std_elf32(0);
	struct mb2h h;
	u8 *t;

	(void)state;
	memset(im->b + 0x1000, 0, 12); /* no mb1 header */
	h = mb2_begin(im, 0x1000);
	t = mb2_tag(&h, 3, 0, 12);
	put32(t + 8, 0x200004);
	mb2_finish(&h);
	assert_int_equal(parse(im), 0);
	assert_int_equal(last.version, 2);
	assert_string_equal(last.format, "ELF32");
	assert_int_equal(last.entry, 0x200004);
	assert_false(last.mb2_wants_mmap);
	free(im);
}

/* Both headers: multiboot 2 wins (it is the one that can load ELF64). */
static void test_mb2_preferred_over_mb1(void **state)
{
	struct img *im = std_elf32(0);
	struct mb2h h = mb2_begin(im, 0x1010);

	(void)state;
	mb2_finish(&h);
	assert_int_equal(parse(im), 0);
	assert_int_equal(last.version, 2);
	assert_int_equal(last.header_off, 0x1010);
	/* a broken mb2 header (bad checksum) falls back to the good mb1 one */
	im->b[0x1010 + 12] ^= 1;
	assert_int_equal(parse(im), 0);
	assert_int_equal(last.version, 1);
	free(im);
}

static void test_mb2_address_tag(void **state)
{
	struct img *im = img_new(0x3000);
	struct mb2h h = mb2_begin(im, 0x40);
	u8 *t = mb2_tag(&h, 2, 0, 24);

	(void)state;
	put32(t + 8, 0x200040);  /* header_addr */
	put32(t + 12, 0x200000); /* load_addr: file offset 0 */
	put32(t + 16, 0x202000); /* load_end_addr */
	put32(t + 20, 0x204000); /* bss_end_addr */
	t = mb2_tag(&h, 3, 0, 12);
	put32(t + 8, 0x200100);
	mb2_finish(&h);
	assert_int_equal(parse(im), 0);
	assert_string_equal(last.format, "a.out kludge");
	assert_seg(0, 0x200000, 0, 0x2000, 0x4000);
	assert_int_equal(last.entry, 0x200100);

	/* load_addr -1: from the first byte of the file, at header_addr - header offset */
	put32(im->b + 0x40 + 16 + 12, 0xffffffff);
	put32(im->b + 0x40 + 16 + 16, 0);
	mb2_finish_arch(&h, false, 0); /* re-checksum, already ended */
	assert_int_equal(parse(im), 0);
	assert_seg(0, 0x200000, 0, 0x3000, 0x4000);
	free(im);
}

static void test_mb2_address_without_entry(void **state)
{
	struct img *im = img_new(0x3000);
	struct mb2h h = mb2_begin(im, 0x40);
	u8 *t = mb2_tag(&h, 2, 0, 24);

	(void)state;
	put32(t + 8, 0x200040);
	put32(t + 12, 0x200000);
	mb2_finish(&h);
	refused(im, -EINVAL, "address tag without an entry address tag");
	free(im);
}

static void test_mb2_refusals(void **state)
{
	static const u32 unknown[] = { 6, 99 };
	struct mb2h h;
	struct img *im = std_elf64(&h);

	(void)state;
	mb2_finish_arch(&h, true, 4);
	refused(im, -EINVAL, "architecture 4, not i386");

	h = mb2_begin(im, 0x1000);
	mb2_tag(&h, 7, 0, 8);
	mb2_finish(&h);
	refused(im, -EINVAL, "requires EFI boot services (tag 7)");

	h = mb2_begin(im, 0x1000);
	mb2_tag(&h, 9, 0, 12);
	mb2_finish(&h);
	refused(im, -EINVAL, "EFI amd64 entry point");

	h = mb2_begin(im, 0x1000);
	mb2_tag(&h, 42, 0, 8);
	mb2_finish(&h);
	refused(im, -EINVAL, "unknown tag type 42");

	h = mb2_begin(im, 0x1000);
	mb2_tag(&h, 42, 1, 8); /* optional: fine */
	mb2_finish(&h);
	assert_int_equal(parse(im), 0);

	h = mb2_begin(im, 0x1000);
	mb2_request(&h, 0, 2, unknown);
	mb2_finish(&h);
	refused(im, -EINVAL, "information tag type 99");

	h = mb2_begin(im, 0x1000);
	mb2_request(&h, 1, 2, unknown); /* optional request: unknown types skipped */
	mb2_finish(&h);
	assert_int_equal(parse(im), 0);
	assert_true(last.mb2_wants_mmap);

	h = mb2_begin(im, 0x1000);
	mb2_tag(&h, 3, 0, 8); /* entry tag without its address */
	mb2_finish(&h);
	refused(im, -EINVAL, "tag 3: size 8 too small");

	h = mb2_begin(im, 0x1000);
	mb2_tag(&h, 4, 0, 12);
	mb2_finish_arch(&h, false, 0);
	refused(im, -EINVAL, "no end tag");

	h = mb2_begin(im, 0x1000);
	put32(mb2_tag(&h, 4, 0, 12) + 4, 0x1000); /* tag size past the header */
	mb2_finish(&h);
	refused(im, -EINVAL, "runs past the header");

	h = mb2_begin(im, 0x1000);
	mb2_finish(&h);
	im->b[0x1000 + 12] ^= 1;
	refused(im, -EINVAL, "multiboot 2 header at 0x1000: bad checksum");
	free(im);
}

/* The mb2 header must lie in the first 32768 bytes, 8-aligned. */
static void test_mb2_header_window(void **state)
{
	struct img *im = img_new(IMG_MAX);
	struct mb2h h;

	(void)state;
	elf64(im, 0x100000, 1);
	elf64_ph(im, 0, 0x1000, 0x100000, 0x100000, 0x1000, 0x1000);
	h = mb2_begin(im, 32768 - 24); /* 16 + end tag 8: ends exactly at 32768 */
	mb2_finish(&h);
	assert_int_equal(parse(im), 0);
	assert_int_equal(last.header_off, 32768 - 24);
	memset(im->b + 32768 - 24, 0, 24);
	h = mb2_begin(im, 32768 - 16); /* end tag past the window */
	mb2_finish(&h);
	refused(im, -EINVAL, "runs past the first 32768 bytes");
	memset(im->b + 32768 - 16, 0, 24);
	h = mb2_begin(im, 32768); /* outside the window */
	mb2_finish(&h);
	refused(im, -ENOEXEC, "no multiboot header");
	memset(im->b + 32768, 0, 24);
	h = mb2_begin(im, 0x1004); /* 4-aligned only */
	mb2_finish(&h);
	refused(im, -ENOEXEC, "no multiboot header");
	free(im);
}

/* ---- refusals common to both ---------------------------------------------------------------- */

static void test_no_header(void **state)
{
	struct img *im = img_new(0x4000);

	(void)state;
	refused(im, -ENOEXEC, "no multiboot header in the first 8192 bytes");
	im->len = 0;
	refused(im, -ENOEXEC, "empty image");
	assert_int_equal(mb_image_parse(NULL, 10, RAM, 0, 0, &last, NULL, 0), -ENOEXEC);
	free(im);
}

static void test_bad_checksum(void **state)
{
	struct img *im = std_elf32(0);

	(void)state;
	put32(im->b + 0x1008, get32(im->b + 0x1008) + 1);
	refused(im, -EINVAL, "multiboot 1 header at 0x1000: bad checksum");
	free(im);
}

static void test_not_elf(void **state)
{
	struct img *im = std_elf32(0);

	(void)state;
	im->b[0] = 0;
	refused(im, -EINVAL, "not an ELF file");
	im->b[0] = 0x7f;
	im->b[5] = 2;
	refused(im, -EINVAL, "not little-endian");
	im->b[5] = 1;
	put16(im->b + 16, 1); /* ET_REL */
	refused(im, -EINVAL, "ELF type 1 is not an executable");
	put16(im->b + 16, 2);
	put32(im->b + 28, 0x2100 - 64); /* program headers past the end */
	refused(im, -EINVAL, "program headers (3 at 0x20c0) past the end");
	put32(im->b + 28, 52);
	put16(im->b + 42, 16);
	refused(im, -EINVAL, "program header size 16 too small");
	put16(im->b + 42, 32);
	put32(im->b + 52, 4), put32(im->b + 52 + 64, 4); /* no PT_LOAD left */
	refused(im, -EINVAL, "no loadable segment");
	free(im);
}

static void test_overlapping_segments(void **state)
{
	struct img *im = std_elf32(0);

	(void)state;
	elf32_ph(im, 2, 1, 0x2000, 0x100400, 0x100400, 0x100, 0x3000);
	refused(im, -ERANGE,
	        "segment 1 [0x100400,0x103400) overlaps segment 0 [0x100000,0x100800)");
	free(im);
}

static void test_segment_outside_ram(void **state)
{
	struct img *im = std_elf32(0);

	(void)state;
	elf32_ph(im, 2, 1, 0x2000, 0x7fff000, 0x7fff000, 0x100, 0x3000);
	refused(im, -ERANGE, "segment 1 [0x7fff000,0x8002000) outside guest RAM (128 MiB)");
	free(im);
}

static void test_segment_in_reserved_range(void **state)
{
	struct img *im = std_elf32(0);

	(void)state;
	assert_int_equal(parse_res(im, 0x202000, 0x210000), -ERANGE);
	assert_non_null(strstr(last_err, "segment 1 [0x200000,0x203000) overlaps the range "
	                                 "[0x202000,0x210000) reserved"));
	assert_int_equal(parse_res(im, 0x203000, 0x210000), 0); /* touching is fine */
	assert_int_equal(parse_res(im, 0x210000, 0x200000), -EINVAL);
	assert_non_null(strstr(last_err, "backwards"));
	free(im);
}

static void test_segment_in_pc_hole(void **state)
{
	struct img *im = std_elf32(0);

	(void)state;
	elf32_ph(im, 0, 1, 0x1000, 0xff000, 0xff000, 0x800, 0x2000);
	put32(im->b + 24, 0xff010);
	refused(im, -ERANGE, "segment 0 [0xff000,0x101000) overlaps the PC hole");
	free(im);
}

static void test_filesz_over_memsz(void **state)
{
	struct img *im = std_elf32(0);

	(void)state;
	elf32_ph(im, 2, 1, 0x2000, 0x200000, 0x200000, 0x100, 0x80);
	refused(im, -EINVAL, "segment 1: file size 0x100 larger than its memory size 0x80");
	free(im);
}

static void test_offset_past_end(void **state)
{
	struct img *im = std_elf32(0);

	(void)state;
	elf32_ph(im, 2, 1, 0x2080, 0x200000, 0x200000, 0x100, 0x3000);
	refused(im, -EINVAL, "segment 1: 0x100 file bytes at offset 0x2080 run past the end");
	elf32_ph(im, 2, 1, 0xffffff00, 0x200000, 0x200000, 0x100, 0x3000);
	refused(im, -EINVAL, "run past the end of the file");
	free(im);
}

static void test_wraparound_sizes(void **state)
{
	struct mb2h h;
	struct img *im = std_elf64(&h);

	(void)state;
	mb2_finish(&h);
	elf64_ph(im, 1, 0x3000, 0, 0xfffffffffffff000ULL, 0, 0x2000);
	refused(im, -E2BIG, "segment 1: absurd size 0x2000 at 0xfffffffffffff000");
	elf64_ph(im, 1, 0x3000, 0, 0x180000, 0, 0xffffffff00000000ULL);
	refused(im, -E2BIG, "absurd size 0xffffffff00000000");
	elf64_ph(im, 1, 0xfffffffffffff000ULL, 0, 0x180000, 0x2000, 0x2000);
	refused(im, -EINVAL, "run past the end of the file");
	free(im);
}

static void test_entry_outside_segments(void **state)
{
	struct img *im = std_elf32(0);

	(void)state;
	put32(im->b + 24, 0x180000);
	refused(im, -ERANGE, "entry point 0x180000 not inside any loaded segment");
	put32(im->b + 24, 0x203000); /* one past the bss */
	refused(im, -ERANGE, "entry point 0x203000 not inside");
	put32(im->b + 24, 0x202fff); /* last bss byte: inside */
	assert_int_equal(parse(im), 0);
	free(im);
}

static void test_entry_above_4g(void **state)
{
	struct mb2h h;
	struct img *im = std_elf64(&h);

	(void)state;
	mb2_finish(&h);
	put64(im->b + 24, 0x100000020ULL);
	refused(im, -ERANGE, "entry point 0x100000020 above 4 GiB");
	free(im);
}

static void test_too_many_segments(void **state)
{
	struct img *im = img_new(0x3000);

	(void)state;
	elf32(im, 3, 0x100000, MB_MAX_SEGMENTS + 1);
	for (int i = 0; i <= MB_MAX_SEGMENTS; i++)
		elf32_ph(im, i, 1, 0x1000, 0x100000 + i * 0x1000, 0x100000 + i * 0x1000, 0x10,
		         0x1000);
	mb1_header(im, 0x1000, 0);
	refused(im, -E2BIG, "more than 16 loadable segments");
	put16(im->b + 44, MB_MAX_SEGMENTS);
	assert_int_equal(parse(im), 0);
	assert_int_equal(last.nsegs, MB_MAX_SEGMENTS);
	assert_int_equal(last.highest_end, 0x100000 + MB_MAX_SEGMENTS * 0x1000);
	free(im);
}

static void test_err_buffer_bounds(void **state)
{
	struct img *im = img_new(0x100);
	char small[8];

	(void)state;
	memset(small, 'X', sizeof(small));
	assert_int_equal(mb_image_parse(im->b, im->len, RAM, 0, 0, &last, small, sizeof(small)),
	                 -ENOEXEC);
	assert_int_equal(strlen(small), sizeof(small) - 1);
	assert_int_equal(mb_image_parse(im->b, im->len, RAM, 0, 0, &last, NULL, 0), -ENOEXEC);
	free(im);
}

/* Random mutations of good images: no crash (ASan), and any success obeys the contract. */
static void test_fuzz(void **state)
{
	struct mb2h h;
	struct img *base64 = std_elf64(&h), *base32 = std_elf32(MB1_HF_MEMINFO);
	unsigned seed = 12345;
	int ok = 0;

	(void)state;
	mb2_finish(&h);
	for (int round = 0; round < 20000; round++) {
		struct img *im = img_new(0);
		const struct img *src = round & 1 ? base64 : base32;

		memcpy(im, src, sizeof(*im));
		for (int k = 0; k < 1 + round % 4; k++) {
			seed = seed * 1103515245 + 12345;
			u64 at = (seed >> 8) % (round & 2 ? 0x80 : im->len);
			im->b[at] = (u8)(seed >> 24);
		}
		if (parse_res(im, 0x8000000 - 0x10000, 0x8000000) == 0) {
			for (int i = 0; i < last.nsegs; i++) {
				const struct mb_segment *s = &last.seg[i];

				assert_true(s->filesz <= s->memsz && s->memsz > 0);
				assert_true(s->file_off + s->filesz <= im->len);
				assert_true(s->gpa + s->memsz <= 0x8000000 - 0x10000);
				assert_true(s->gpa >= MB_PC_HOLE_END ||
				            s->gpa + s->memsz <= MB_PC_HOLE_START);
			}
			assert_true(last.entry >= last.lowest && last.entry < last.highest_end);
			ok++;
		}
		free(im);
	}
	assert_true(ok > 1000 && ok < 19000); /* both outcomes were exercised */
	free(base64);
	free(base32);
}

/* ---- mb_info_build ------------------------------------------------------------------------- */

#define INFO_BASE 0x9000ULL
#define INFO_LEN  8192

static u8 *info_buf; /* page-aligned, INFO_LEN bytes, copied to INFO_BASE */

static const struct mb_module_desc two_mods[] = {
	{ 0x400000, 0x401234, "guest.flat arg=1" },
	{ 0x402000, 0x402000, NULL },
};

static const struct mb_guest_desc guest = {
	.ram_bytes = RAM,
	.cmdline = "kernel.elf console=ttyS0 x=1",
	.loader_name = NULL,
	.nmods = 2,
	.mods = two_mods,
};

static const u8 *at(u32 gpa)
{
	assert_true(gpa >= INFO_BASE && gpa < INFO_BASE + INFO_LEN);
	return info_buf + (gpa - INFO_BASE);
}

static void *info_pa_to_va(u64 pa)
{
	return pa >= INFO_BASE && pa < INFO_BASE + INFO_LEN ? info_buf + (pa - INFO_BASE) : NULL;
}

static int setup_info(void **state)
{
	(void)state;
	info_buf = aligned_alloc(4096, INFO_LEN);
	memset(info_buf, 0xee, INFO_LEN);
	return info_buf ? 0 : -1;
}

static int teardown_info(void **state)
{
	(void)state;
	free(info_buf);
	return 0;
}

static const u64 want_map[][3] = {
	{ 0, 0x9fc00, 1 },
	{ 0x9fc00, 0x400, 2 },
	{ 0xf0000, 0x10000, 2 },
	{ 0x100000, RAM - 0x20000 - 0x100000, 1 },
	{ RAM - 0x20000, 0x20000, 2 },
	{ 0xfffc0000, 0x40000, 2 },
	{ 0xfd00000000, 0x300000000, 2 },
};

static void test_info_mb1(void **state)
{
	s64 r = mb_info_build(1, &guest, info_buf, INFO_LEN, INFO_BASE);
	const u8 *mi = info_buf, *m, *e;
	struct boot_info bi;

	(void)state;
	assert_int_equal(r, INFO_BASE);
	assert_int_equal(get32(mi), BIT(0) | BIT(1) | BIT(2) | BIT(3) | BIT(6) | BIT(9));
	assert_int_equal(get32(mi + 4), 639);
	assert_int_equal(get32(mi + 8), (RAM - 0x20000 - 0x100000) / 1024);
	assert_int_equal(get32(mi + 12), 0x8000ffff);
	assert_string_equal((const char *)at(get32(mi + 16)), "kernel.elf console=ttyS0 x=1");
	assert_int_equal(get32(mi + 20), 2);
	m = at(get32(mi + 24));
	assert_true(IS_ALIGNED(get32(mi + 24), 4));
	assert_int_equal(get32(m), 0x400000);
	assert_int_equal(get32(m + 4), 0x401234);
	assert_string_equal((const char *)at(get32(m + 8)), "guest.flat arg=1");
	assert_int_equal(get32(m + 12), 0);
	assert_int_equal(get32(m + 16), 0x402000);
	assert_int_equal(get32(m + 20), 0x402000);
	assert_string_equal((const char *)at(get32(m + 24)), "");
	assert_int_equal(get32(mi + 44), 7 * 24);
	e = at(get32(mi + 48));
	for (size_t i = 0; i < ARRAY_SIZE(want_map); i++, e += 24) {
		assert_int_equal(get32(e), 20);
		assert_int_equal(get64(e + 4), want_map[i][0]);
		assert_int_equal(get64(e + 12), want_map[i][1]);
		assert_int_equal(get32(e + 20), want_map[i][2]);
	}
	assert_string_equal((const char *)at(get32(mi + 64)), "eptvisor");

	/* eptvisor's own multiboot 1 reader agrees */
	assert_int_equal(mb1_parse(info_buf, INFO_BASE, info_pa_to_va, &bi), 0);
	assert_int_equal(bi.proto, 1);
	assert_string_equal(bi.cmdline, "console=ttyS0 x=1"); /* it drops the kernel name */
	assert_string_equal(bi.loader, "eptvisor");
	assert_int_equal(bi.nmods, 2);
	assert_int_equal(bi.mods[0].start, 0x400000);
	assert_int_equal(bi.mods[0].end, 0x401234);
	assert_string_equal(bi.mods[0].name, "guest.flat arg=1");
	assert_int_equal(bi.nmem, 7);
	assert_int_equal(boot_mem_top(&bi), RAM - 0x20000); /* usable below the SeaBIOS tables */
}

static void test_info_mb2(void **state)
{
	struct mb_guest_desc g = guest;
	s64 r;
	const u8 *t;
	u32 total;
	int seen[8] = { 0 }, mod = 0;
	struct boot_info bi;

	(void)state;
	g.loader_name = "eptvisor test";
	r = mb_info_build(2, &g, info_buf, INFO_LEN, INFO_BASE);
	assert_int_equal(r, INFO_BASE);
	total = get32(info_buf);
	assert_int_equal(total, mb_info_size(2, &g, INFO_BASE));
	assert_int_equal(get32(info_buf + 4), 0);
	for (t = info_buf + 8; get32(t) != 0; t += ALIGN_UP(get32(t + 4), 8)) {
		u32 type = get32(t), size = get32(t + 4);

		assert_true(t + size <= info_buf + total);
		assert_true(type < 8);
		seen[type]++;
		switch (type) {
		case 1:
			assert_string_equal((const char *)t + 8, "kernel.elf console=ttyS0 x=1");
			assert_int_equal(size, 8 + strlen("kernel.elf console=ttyS0 x=1") + 1);
			break;
		case 2:
			assert_string_equal((const char *)t + 8, "eptvisor test");
			break;
		case 3:
			assert_int_equal(get32(t + 8), two_mods[mod].start);
			assert_int_equal(get32(t + 12), two_mods[mod].end);
			assert_string_equal((const char *)t + 16, mod ? "" : "guest.flat arg=1");
			mod++;
			break;
		case 4:
			assert_int_equal(size, 16);
			assert_int_equal(get32(t + 8), 639);
			assert_int_equal(get32(t + 12), (RAM - 0x20000 - 0x100000) / 1024);
			break;
		case 6:
			assert_int_equal(size, 16 + 7 * 24);
			assert_int_equal(get32(t + 8), 24);
			assert_int_equal(get32(t + 12), 0);
			for (int i = 0; i < 4; i++) {
				assert_int_equal(get64(t + 16 + 24 * i), want_map[i][0]);
				assert_int_equal(get64(t + 24 + 24 * i), want_map[i][1]);
				assert_int_equal(get32(t + 32 + 24 * i), want_map[i][2]);
			}
			break;
		default:
			fail_msg("unexpected tag %u", type);
		}
	}
	assert_int_equal(get32(t + 4), 8);
	assert_ptr_equal(t + 8, info_buf + total);
	assert_int_equal(seen[1], 1);
	assert_int_equal(seen[2], 1);
	assert_int_equal(seen[3], 2);
	assert_int_equal(seen[4], 1);
	assert_int_equal(seen[6], 1);

	assert_int_equal(mb2_parse(info_buf, INFO_BASE, &bi), 0);
	assert_int_equal(bi.proto, 2);
	assert_string_equal(bi.loader, "eptvisor test");
	assert_int_equal(bi.nmods, 2);
	assert_string_equal(bi.mods[0].name, "guest.flat arg=1");
	assert_int_equal(bi.nmem, 7);
	assert_int_equal(boot_mem_top(&bi), RAM - 0x20000); /* usable below the SeaBIOS tables */
}

/* An unaligned base: the structure starts at the next multiple of 8. */
static void test_info_unaligned_base(void **state)
{
	(void)state;
	assert_int_equal(mb_info_build(2, &guest, info_buf, INFO_LEN, INFO_BASE + 4),
	                 INFO_BASE + 8);
	assert_int_equal(get32(info_buf + 4), mb_info_size(2, &guest, INFO_BASE + 4) - 4);
	memset(info_buf, 0xee, INFO_LEN);
	assert_int_equal(mb_info_build(1, &guest, info_buf, INFO_LEN, INFO_BASE + 1),
	                 INFO_BASE + 8);
	for (int i = 0; i < 7; i++)
		assert_int_equal(info_buf[i], 0xee);          /* the pad bytes are left alone */
	assert_int_equal(get32(info_buf + 7), 0x24f);         /* flags at 0x9008 */
	assert_true(IS_ALIGNED(get32(info_buf + 7 + 24), 8)); /* module list gpa */
	assert_true(IS_ALIGNED(get32(info_buf + 7 + 48), 8)); /* mmap gpa */
}

/* Every length below the size needed fails cleanly without writing past it (ASan). */
static void test_info_too_small(void **state)
{
	(void)state;
	for (int v = 1; v <= 2; v++) {
		s64 need = mb_info_size(v, &guest, INFO_BASE);

		assert_true(need > 100 && need < 1024);
		for (s64 len = 0; len <= need; len++) {
			u8 *b = malloc(len ? len : 1);
			s64 r = mb_info_build(v, &guest, b, len, INFO_BASE);

			assert_int_equal(r, len < need ? -ENOMEM : (s64)INFO_BASE);
			free(b);
		}
	}
	assert_int_equal(mb_info_build(1, &guest, NULL, 4096, INFO_BASE), -ENOMEM);
}

static void test_info_bad_args(void **state)
{
	struct mb_module_desc bad = { 0x500000, 0x4fffff, "x" };
	struct mb_module_desc high = { 0xfffff000, 0x100000000ULL, "x" };
	struct mb_guest_desc g = guest;

	(void)state;
	assert_int_equal(mb_info_build(3, &g, info_buf, INFO_LEN, INFO_BASE), -EINVAL);
	assert_int_equal(mb_info_build(1, NULL, info_buf, INFO_LEN, INFO_BASE), -EINVAL);
	assert_int_equal(mb_info_build(1, &g, info_buf, INFO_LEN, 0x100000000ULL), -ERANGE);
	assert_int_equal(mb_info_build(1, &g, info_buf, INFO_LEN, 0xffffff00ULL), -ERANGE);
	g.mods = NULL;
	assert_int_equal(mb_info_build(2, &g, info_buf, INFO_LEN, INFO_BASE), -EINVAL);
	g.nmods = -1;
	assert_int_equal(mb_info_size(2, &g, INFO_BASE), -EINVAL);
	g.nmods = 1;
	g.mods = &bad;
	assert_int_equal(mb_info_build(2, &g, info_buf, INFO_LEN, INFO_BASE), -ERANGE);
	g.mods = &high;
	assert_int_equal(mb_info_build(1, &g, info_buf, INFO_LEN, INFO_BASE), -ERANGE);
}

/* No modules, no command line, small RAM: empty strings, no module list, a short map. */
static void test_info_minimal(void **state)
{
	struct mb_guest_desc g = { .ram_bytes = 2ULL << 20 };
	const u8 *e;

	(void)state;
	assert_int_equal(mb_info_build(1, &g, info_buf, INFO_LEN, INFO_BASE), INFO_BASE);
	assert_string_equal((const char *)at(get32(info_buf + 16)), "");
	assert_int_equal(get32(info_buf + 20), 0);
	assert_int_equal(get32(info_buf + 24), 0);
	assert_int_equal(get32(info_buf + 8), 1024 - 128);
	e = at(get32(info_buf + 48)) + 3 * 24;
	assert_int_equal(get64(e + 4), 0x100000);
	assert_int_equal(get64(e + 12), 0x100000 - 0x20000);
	g.ram_bytes = 0x100000; /* nothing above 1 MiB: three entries and the two high holes */
	assert_int_equal(mb_info_build(1, &g, info_buf, INFO_LEN, INFO_BASE), INFO_BASE);
	assert_int_equal(get32(info_buf + 44), 5 * 24);
	assert_int_equal(get32(info_buf + 8), 0);
}

/* ---- the MP table -------------------------------------------------------------------------- */

static const struct mp_guest mp_two = { .ncpus = 2,
	                                .cpu_signature = 0x806c1,
	                                .cpu_features = 0x0f8bfbff,
	                                .lapic_version = 0x14,
	                                .lapic_gpa = 0xfee00000,
	                                .ioapic_gpa = 0xfec00000 };

static u32 rd32(const u8 *p)
{
	return p[0] | (u32)p[1] << 8 | (u32)p[2] << 16 | (u32)p[3] << 24;
}

static u16 rd16(const u8 *p)
{
	return (u16)(p[0] | p[1] << 8);
}

static u8 sum8(const u8 *p, u64 len)
{
	u8 s = 0;

	while (len--)
		s = (u8)(s + *p++);
	return s;
}

/* What a guest (Linux's mpparse.c) reads: the floating pointer, the header, every entry. */
static void test_mptable_layout(void **state)
{
	u8 buf[512], *c = buf + 16, *e;
	s64 n;
	int cpus = 0, ints = 0, lints = 0;

	(void)state;
	memset(buf, 0xcc, sizeof(buf));
	n = mptable_build(&mp_two, buf, sizeof(buf), MPTABLE_GPA);
	assert_int_equal(n, mptable_size(2));
	assert_int_equal(n, 16 + 44 + 2 * 20 + 19 * 8);
	assert_memory_equal(buf, "_MP_", 4);
	assert_int_equal(rd32(buf + 4), MPTABLE_GPA + 16);
	assert_int_equal(buf[8], 1);
	assert_int_equal(buf[9], 4);
	assert_int_equal(sum8(buf, 16), 0);
	for (int i = 11; i < 16; i++)
		assert_int_equal(buf[i], 0); /* feature byte 1 = 0: the table is there */
	assert_memory_equal(c, "PCMP", 4);
	assert_int_equal(rd16(c + 4), n - 16);
	assert_int_equal(c[6], 4);
	assert_int_equal(sum8(c, (u64)n - 16), 0);
	assert_memory_equal(c + 8, "EPTVISOR", 8);
	assert_int_equal(rd16(c + 34), 2 + 2 + 15 + 2);
	assert_int_equal(rd32(c + 36), 0xfee00000);
	assert_int_equal(rd16(c + 40), 0);
	e = c + 44;
	for (int i = 0; i < rd16(c + 34); i++) {
		switch (e[0]) {
		case MP_CPU:
			assert_int_equal(e[1], cpus);
			assert_int_equal(e[2], 0x14);
			assert_int_equal(e[3], cpus == 0 ? 3 : 1);
			assert_int_equal(rd32(e + 4), 0x806c1);
			assert_int_equal(rd32(e + 8), 0x0f8bfbff);
			cpus++;
			e += 20;
			continue;
		case MP_BUS:
			assert_int_equal(e[1], 0);
			assert_memory_equal(e + 2, "ISA   ", 6);
			break;
		case MP_IOAPIC:
			assert_int_equal(e[1], 2); /* ncpus */
			assert_int_equal(e[2], 0x11);
			assert_int_equal(e[3], 1);
			assert_int_equal(rd32(e + 4), 0xfec00000);
			break;
		case MP_INTSRC: {
			int irq = ints < 2 ? ints : ints + 1; /* no IRQ 2 */

			assert_int_equal(e[1], MP_INT_INT);
			assert_int_equal(rd16(e + 2), 0);
			assert_int_equal(e[4], 0);
			assert_int_equal(e[5], irq);
			assert_int_equal(e[6], 2);
			assert_int_equal(e[7], irq == 0 ? 2 : irq);
			ints++;
			break;
		}
		case MP_LINTSRC:
			assert_int_equal(e[1], lints == 0 ? MP_INT_EXTINT : MP_INT_NMI);
			assert_int_equal(e[6], lints == 0 ? 0 : 0xff);
			assert_int_equal(e[7], lints);
			lints++;
			break;
		default:
			fail_msg("entry %d has type %u", i, e[0]);
		}
		e += 8;
	}
	assert_int_equal(cpus, 2);
	assert_int_equal(ints, 15);
	assert_int_equal(lints, 2);
	assert_ptr_equal(e, buf + n);
	assert_int_equal(buf[n], 0xcc); /* nothing written past it */
}

static void test_mptable_refusals(void **state)
{
	u8 buf[1024];
	struct mp_guest g = mp_two;

	(void)state;
	assert_int_equal(mptable_build(&g, buf, (u64)mptable_size(2) - 1, MPTABLE_GPA), -ENOMEM);
	assert_int_equal(mptable_build(&g, buf, sizeof(buf), MPTABLE_GPA + 8), -EINVAL);
	assert_int_equal(mptable_build(&g, buf, sizeof(buf), 0xfffffff0), -EINVAL);
	g.ncpus = 0;
	assert_int_equal(mptable_build(&g, buf, sizeof(buf), MPTABLE_GPA), -EINVAL);
	g.ncpus = MPTABLE_MAX_CPUS + 1;
	assert_int_equal(mptable_size(g.ncpus), -EINVAL);
	g.ncpus = MPTABLE_MAX_CPUS;
	assert_int_equal(mptable_build(&g, buf, sizeof(buf), MPTABLE_GPA), mptable_size(15));
	assert_int_equal(buf[16 + 44 + 15 * 20 + 8 + 1], 15); /* the I/O APIC's ID */
	assert_int_equal(sum8(buf + 16, (u64)mptable_size(15) - 16), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mptable_layout),
		cmocka_unit_test(test_mptable_refusals),
		cmocka_unit_test(test_mb1_elf32_two_loads),
		cmocka_unit_test(test_mb1_elf32_machines),
		cmocka_unit_test(test_mb1_video_flag_ignored),
		cmocka_unit_test(test_mb1_unsupported_flag),
		cmocka_unit_test(test_mb1_entry_translated),
		cmocka_unit_test(test_mb1_aout_kludge),
		cmocka_unit_test(test_mb1_kludge_wins_over_elf),
		cmocka_unit_test(test_mb1_kludge_refusals),
		cmocka_unit_test(test_mb1_header_window),
		cmocka_unit_test(test_mb1_elf64_refused),
		cmocka_unit_test(test_mb2_elf64),
		cmocka_unit_test(test_mb2_elf32_and_entry_tag),
		cmocka_unit_test(test_mb2_preferred_over_mb1),
		cmocka_unit_test(test_mb2_address_tag),
		cmocka_unit_test(test_mb2_address_without_entry),
		cmocka_unit_test(test_mb2_refusals),
		cmocka_unit_test(test_mb2_header_window),
		cmocka_unit_test(test_no_header),
		cmocka_unit_test(test_bad_checksum),
		cmocka_unit_test(test_not_elf),
		cmocka_unit_test(test_overlapping_segments),
		cmocka_unit_test(test_segment_outside_ram),
		cmocka_unit_test(test_segment_in_reserved_range),
		cmocka_unit_test(test_segment_in_pc_hole),
		cmocka_unit_test(test_filesz_over_memsz),
		cmocka_unit_test(test_offset_past_end),
		cmocka_unit_test(test_wraparound_sizes),
		cmocka_unit_test(test_entry_outside_segments),
		cmocka_unit_test(test_entry_above_4g),
		cmocka_unit_test(test_too_many_segments),
		cmocka_unit_test(test_err_buffer_bounds),
		cmocka_unit_test(test_fuzz),
		cmocka_unit_test_setup_teardown(test_info_mb1, setup_info, teardown_info),
		cmocka_unit_test_setup_teardown(test_info_mb2, setup_info, teardown_info),
		cmocka_unit_test_setup_teardown(test_info_unaligned_base, setup_info,
		                                teardown_info),
		cmocka_unit_test_setup_teardown(test_info_too_small, setup_info, teardown_info),
		cmocka_unit_test_setup_teardown(test_info_bad_args, setup_info, teardown_info),
		cmocka_unit_test_setup_teardown(test_info_minimal, setup_info, teardown_info),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
