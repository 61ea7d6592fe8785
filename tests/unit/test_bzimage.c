/*
 * Host tests of the Linux bzImage loader (loader/bzimage.c). Images are synthetic: a setup
 * header written field by field into a heap block of exactly the image's size (ASan catches
 * any read past the file), one broken header per refusal, and the placement rules for the
 * kernel (pref_address, kernel_alignment, init_size) and the initrd (as high as possible,
 * under initrd_addr_max, page aligned, outside the kernel). The zero page is decoded field by
 * field. When Debian's kernel has been unpacked into build/linux/ (make linux-pkgs), it is
 * parsed and planned too; otherwise that test is skipped with a message.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

/* cmocka.h needs the headers above it. */
#include <cmocka.h>

#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errno.h"
#include "loader/bzimage.h"

#define RAM        (128ULL << 20)
#define SETUP      1024 /* setup_sects 1 */
#define KBYTES     8192 /* syssize 512 */
#define IMG_BYTES  (SETUP + KBYTES)
#define PREF       0x1000000ULL
#define INIT_SIZE  0x400000U
#define KALIGN     0x200000U
#define CMDLINE_SZ 0x7ff

static u8 img[IMG_BYTES];
static struct bz_plan plan;
static char last_err[256];
static struct mb_mem_range map[MB_MEM_RANGES];
static int nmap;

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
static u16 get16(const u8 *p)
{
	u16 v;
	memcpy(&v, p, 2);
	return v;
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

/* A valid protocol 2.15 image: relocatable, 64-bit capable, like Debian's but small. */
static void make_image(void)
{
	for (size_t i = 0; i < sizeof(img); i++)
		img[i] = (u8)(i * 13 + 5);
	memset(img + 0x1f1, 0, 0x290 - 0x1f1);
	img[0x1f1] = 1;                           /* setup_sects */
	put32(img + 0x1f4, KBYTES / 16);          /* syssize */
	put16(img + 0x1fe, 0xaa55);               /* boot_flag */
	img[0x200] = 0xeb;                        /* jmp over the header */
	img[0x201] = 0x6a;                        /* ... to 0x26c */
	put32(img + 0x202, 0x53726448);           /* "HdrS" */
	put16(img + 0x206, 0x020f);               /* protocol 2.15 */
	img[0x211] = 0x01;                        /* LOADED_HIGH */
	put32(img + 0x214, 0x100000);             /* code32_start */
	put32(img + 0x22c, 0x7fffffff);           /* initrd_addr_max */
	put32(img + 0x230, KALIGN);               /* kernel_alignment */
	img[0x234] = 1;                           /* relocatable_kernel */
	img[0x235] = 21;                          /* min_alignment */
	put16(img + 0x236, 0x7f);                 /* xloadflags */
	put32(img + 0x238, CMDLINE_SZ);           /* cmdline_size */
	put64(img + 0x258, PREF);                 /* pref_address */
	put32(img + 0x260, INIT_SIZE);            /* init_size */
	memset(img + 0x26c, 0xcc, 0x290 - 0x26c); /* not header: must not reach the zero page */
}

static int setup(void **state)
{
	(void)state;
	make_image();
	nmap = mb_memory_map(RAM, map);
	return 0;
}

/* Plan img[0..len) from a heap copy of exactly len bytes. */
static int plan_len(u64 len, const char *cmdline, const u8 *initrd, u64 initrd_len)
{
	u8 *copy = malloc(len ? len : 1);
	struct bz_guest g = { .map = map,
		              .nmap = nmap,
		              .cmdline = cmdline,
		              .initrd = initrd,
		              .initrd_len = initrd_len };
	int r;

	memcpy(copy, img, len);
	memset(last_err, 'X', sizeof(last_err));
	last_err[sizeof(last_err) - 1] = '\0';
	r = bz_plan_build(copy, len, &g, &plan, last_err, sizeof(last_err));
	if (r)
		assert_non_null(memchr(last_err, '\0', sizeof(last_err)));
	/* The copies point into the heap block: check them before it goes. */
	for (int i = 0; !r && i < plan.ncopies; i++)
		if (!strcmp(plan.copy[i].what, "kernel"))
			assert_ptr_equal(plan.copy[i].src, copy + SETUP);
	free(copy);
	return r;
}

static int plan_img(const char *cmdline, const u8 *initrd, u64 initrd_len)
{
	return plan_len(IMG_BYTES, cmdline, initrd, initrd_len);
}

static void refused(int want, const char *words)
{
	int r = plan_img("console=ttyS0", NULL, 0);

	assert_int_equal(r, want);
	if (!strstr(last_err, words))
		fail_msg("reason '%s' does not say '%s'", last_err, words);
}

static const struct bz_copy *copy_of(const char *what)
{
	for (int i = 0; i < plan.ncopies; i++)
		if (!strcmp(plan.copy[i].what, what))
			return &plan.copy[i];
	return NULL;
}

static void test_detect(void **state)
{
	(void)state;
	assert_true(bz_is_bzimage(img, IMG_BYTES));
	assert_false(bz_is_bzimage(img, 0x205));
	img[0x202] = 'X';
	assert_false(bz_is_bzimage(img, IMG_BYTES));
}

static void test_accepts_minimal(void **state)
{
	const char *cl = "console=ttyS0 acpi=off";

	(void)state;
	assert_int_equal(plan_img(cl, NULL, 0), 0);
	assert_int_equal(plan.hdr.version, 0x020f);
	assert_int_equal(plan.hdr.setup_bytes, SETUP);
	assert_int_equal(plan.hdr.kernel_bytes, KBYTES);
	assert_int_equal(plan.load, PREF);
	assert_int_equal(plan.entry, PREF);
	assert_int_equal(plan.entry64, PREF + 0x200);
	assert_int_equal(plan.kernel_end, PREF + INIT_SIZE);
	assert_int_equal(plan.boot_params, BZ_PARAMS_GPA);
	assert_int_equal(plan.ncopies, 3);
	assert_int_equal(copy_of("kernel")->gpa, PREF);
	assert_int_equal(copy_of("kernel")->len, KBYTES);
	assert_int_equal(copy_of("boot_params")->gpa, BZ_PARAMS_GPA);
	assert_ptr_equal(copy_of("boot_params")->src, plan.params);
	assert_int_equal(copy_of("boot_params")->len, 4096);
	assert_int_equal(copy_of("command line")->gpa, BZ_CMDLINE_GPA);
	assert_ptr_equal(copy_of("command line")->src, cl);
	assert_int_equal(copy_of("command line")->len, strlen(cl) + 1);
	assert_null(copy_of("initrd"));
}

static void test_zero_page(void **state)
{
	const u8 *bp = plan.params;

	(void)state;
	assert_int_equal(plan_img("x", NULL, 0), 0);
	/* The header is the file's from 0x1f1 to its end (0x26c), the loader's fields aside. */
	assert_memory_equal(bp + 0x1f1, img + 0x1f1, 0x210 - 0x1f1);
	assert_memory_equal(bp + 0x22c, img + 0x22c, 0x26c - 0x22c);
	for (int i = 0x26c; i < 0x290; i++)
		assert_int_equal(bp[i], 0);
	for (int i = 0; i < 0x1f1; i++) /* sentinel (0x1ef) included */
		if (i < 0x1e8 || i > 0x1e8)
			assert_int_equal(bp[i], 0);
	assert_int_equal(bp[0x210], 0xff);         /* type_of_loader */
	assert_int_equal(bp[0x211], 0x81);         /* LOADED_HIGH | CAN_USE_HEAP */
	assert_int_equal(get32(bp + 0x214), PREF); /* code32_start */
	assert_int_equal(get16(bp + 0x224), 0xde00);
	assert_int_equal(get32(bp + 0x228), BZ_CMDLINE_GPA);
	assert_int_equal(get32(bp + 0x218), 0); /* no initrd */
	assert_int_equal(get32(bp + 0x21c), 0);
	assert_int_equal(get64(bp + 0x070), 0); /* acpi_rsdp_addr */
	assert_int_equal(get32(bp + 0x0c0), 0); /* ext_ fields: all below 4 GiB */
	assert_int_equal(get32(bp + 0x0c4), 0);
	assert_int_equal(get32(bp + 0x0c8), 0);
	/* The e820 table is the map PC guests get, entry for entry. */
	assert_int_equal(bp[0x1e8], nmap);
	for (int i = 0; i < nmap; i++) {
		const u8 *e = bp + 0x2d0 + 20 * i;

		assert_int_equal(get64(e), map[i].base);
		assert_int_equal(get64(e + 8), map[i].len);
		assert_int_equal(get32(e + 16), map[i].type);
	}
	for (int i = 0x2d0 + 20 * nmap; i < 4096; i++)
		assert_int_equal(bp[i], 0);
}

static void test_setup_sects_zero_means_four(void **state)
{
	static u8 big[5 * 512 + KBYTES];

	(void)state;
	img[0x1f1] = 0;
	memcpy(big, img, 0x290);
	struct bz_guest g = { .map = map, .nmap = nmap };
	assert_int_equal(bz_plan_build(big, sizeof(big), &g, &plan, last_err, sizeof(last_err)), 0);
	assert_int_equal(plan.hdr.setup_bytes, 5 * 512);
	assert_ptr_equal(copy_of("kernel")->src, big + 5 * 512);
	/* The same header in the 1024 + 8192-byte file: the kernel runs past its end. */
	refused(-E2BIG, "truncated");
}

static void test_refuse_truncated_header(void **state)
{
	(void)state;
	assert_int_equal(plan_len(0x28f, "", NULL, 0), -ENOEXEC);
	assert_non_null(strstr(last_err, "truncated"));
	assert_int_equal(plan_len(0, "", NULL, 0), -ENOEXEC);
}

static void test_refuse_bad_magic(void **state)
{
	(void)state;
	put16(img + 0x1fe, 0x55aa);
	refused(-ENOEXEC, "boot flag");
	make_image();
	put32(img + 0x202, 0x53726449);
	refused(-ENOEXEC, "HdrS");
}

static void test_refuse_old_protocol(void **state)
{
	(void)state;
	put16(img + 0x206, 0x020b);
	refused(-EINVAL, "2.11 is older than 2.12");
	put16(img + 0x206, 0x020c); /* 2.12 itself is enough */
	assert_int_equal(plan_img("", NULL, 0), 0);
}

static void test_refuse_not_loaded_high(void **state)
{
	(void)state;
	img[0x211] = 0x80;
	refused(-EINVAL, "LOADED_HIGH");
}

static void test_refuse_truncated_kernel(void **state)
{
	(void)state;
	put32(img + 0x1f4, KBYTES / 16 + 1);
	refused(-E2BIG, "truncated");
	put32(img + 0x1f4, 0xffffffff); /* syssize * 16 overflows 32 bits: still caught */
	refused(-E2BIG, "truncated");
	img[0x1f1] = 0xff; /* setup past the end of the file */
	put32(img + 0x1f4, 1);
	refused(-E2BIG, "truncated");
}

static void test_trailing_bytes_accepted(void **state)
{
	(void)state;
	/* Signed kernels carry their signature after syssize * 16 bytes (Debian's: 1472). */
	put32(img + 0x1f4, KBYTES / 16 - 8);
	assert_int_equal(plan_img("", NULL, 0), 0);
	assert_int_equal(copy_of("kernel")->len, KBYTES - 128);
}

static void test_refuse_sizes(void **state)
{
	(void)state;
	put32(img + 0x1f4, 0);
	refused(-E2BIG, "syssize is 0");
	make_image();
	put32(img + 0x260, KBYTES - 16);
	refused(-E2BIG, "init_size");
	make_image();
	put32(img + 0x230, 0x300000);
	refused(-E2BIG, "kernel_alignment");
	put32(img + 0x230, 0);
	refused(-E2BIG, "kernel_alignment");
	make_image();
	img[0x201] = 0x60; /* the header ends at 0x262, before init_size's end */
	refused(-E2BIG, "setup header ends");
}

static void test_header_capped(void **state)
{
	(void)state;
	img[0x201] = 0x7f; /* header "ends" at 0x281: copied up to there, below 0x290 */
	assert_int_equal(plan_img("", NULL, 0), 0);
	assert_int_equal(plan.hdr.header_end, 0x281);
	assert_int_equal(plan.params[0x280], 0xcc);
	assert_int_equal(plan.params[0x281], 0);
}

static void test_refuse_long_cmdline(void **state)
{
	char cl[CMDLINE_SZ + 2];

	(void)state;
	memset(cl, 'a', sizeof(cl) - 1);
	cl[sizeof(cl) - 1] = '\0';
	assert_int_equal(plan_img(cl, NULL, 0), -E2BIG);
	assert_non_null(strstr(last_err, "cmdline_size"));
	cl[CMDLINE_SZ] = '\0'; /* exactly cmdline_size bytes: fits */
	assert_int_equal(plan_img(cl, NULL, 0), 0);
	assert_int_equal(copy_of("command line")->len, CMDLINE_SZ + 1);
}

static void test_relocatable_alignment(void **state)
{
	(void)state;
	put64(img + 0x258, 0x1100000);
	assert_int_equal(plan_img("", NULL, 0), 0);
	assert_int_equal(plan.load, 0x1200000);
	assert_int_equal(plan.entry, 0x1200000);
	assert_int_equal(get32(plan.params + 0x214), 0x1200000);
	img[0x234] = 0; /* not relocatable: exactly at pref_address */
	assert_int_equal(plan_img("", NULL, 0), 0);
	assert_int_equal(plan.load, 0x1100000);
	put16(img + 0x236, 0); /* no 64-bit entry */
	assert_int_equal(plan_img("", NULL, 0), 0);
	assert_int_equal(plan.entry64, 0);
}

static void test_refuse_load_address(void **state)
{
	(void)state;
	put64(img + 0x258, 0x80000); /* relocatable: aligned up to 2 MiB, fine */
	assert_int_equal(plan_img("", NULL, 0), 0);
	assert_int_equal(plan.load, 0x200000);
	put64(img + 0x258, 0xffffffffffe00001ULL); /* aligning up wraps */
	refused(-ERANGE, "below 1 MiB");
	img[0x234] = 0;
	put64(img + 0x258, 0x80000);
	refused(-ERANGE, "below 1 MiB");
	put64(img + 0x258, 0xfff00000);
	refused(-ERANGE, "above 4 GiB");
	put64(img + 0x258, RAM - INIT_SIZE / 2); /* inside RAM, runs past its end */
	refused(-ENOSPC, "give the guest more memory");
	put64(img + 0x258, 0xfffe0000ULL - 0x200000); /* below 4 GiB, but not RAM */
	put32(img + 0x260, 0x200000);
	refused(-ENOSPC, "usable RAM");
}

static void test_initrd_high_and_aligned(void **state)
{
	static u8 rd[12345];
	u64 top = RAM - MB_TOP_RESERVED;

	(void)state;
	assert_int_equal(plan_img("", rd, sizeof(rd)), 0);
	assert_int_equal(plan.initrd, (top - sizeof(rd)) & ~0xfffULL);
	assert_int_equal(plan.initrd_end, plan.initrd + sizeof(rd));
	assert_true(plan.initrd_end <= top);
	assert_int_equal(plan.ncopies, 4);
	assert_int_equal(copy_of("initrd")->gpa, plan.initrd);
	assert_ptr_equal(copy_of("initrd")->src, rd);
	assert_int_equal(copy_of("initrd")->len, sizeof(rd));
	assert_int_equal(get32(plan.params + 0x218), plan.initrd);
	assert_int_equal(get32(plan.params + 0x21c), sizeof(rd));
}

/* A load limit (a slow store above it): the initrd ends below it, the map still covers it. */
static void test_initrd_under_load_limit(void **state)
{
	static u8 rd[0x3000];
	struct bz_guest g = { .map = map,
		              .nmap = nmap,
		              .initrd = rd,
		              .initrd_len = sizeof(rd),
		              .load_limit = 0x4000000 };

	(void)state;
	memset(last_err, 0, sizeof(last_err));
	assert_int_equal(bz_plan_build(img, IMG_BYTES, &g, &plan, last_err, sizeof(last_err)), 0);
	assert_int_equal(plan.initrd_end, 0x4000000);
	assert_int_equal(plan.initrd, 0x3ffd000);
	g.load_limit = plan.load + 0x1000; /* the kernel itself does not fit below it */
	assert_int_equal(bz_plan_build(img, IMG_BYTES, &g, &plan, last_err, sizeof(last_err)),
	                 -ENOSPC);
}

static void test_initrd_under_addr_max(void **state)
{
	static u8 rd[0x3000];

	(void)state;
	put32(img + 0x22c, 0x3000fff); /* the last byte may be 0x3000fff */
	assert_int_equal(plan_img("", rd, sizeof(rd)), 0);
	assert_int_equal(plan.initrd_end, 0x3001000);
	assert_int_equal(plan.initrd, 0x2ffe000);
	put32(img + 0x22c, 0x3000ffe); /* one byte less: a page lower */
	assert_int_equal(plan_img("", rd, sizeof(rd)), 0);
	assert_int_equal(plan.initrd, 0x2ffd000);
	assert_true(plan.initrd_end - 1 <= 0x3000ffe);
}

static void test_initrd_below_kernel(void **state)
{
	static u8 rd[0x5000];

	(void)state;
	/* initrd_addr_max inside the kernel's init_size: only below it is left. */
	put32(img + 0x22c, PREF + 0x1000);
	assert_int_equal(plan_img("", rd, sizeof(rd)), 0);
	assert_int_equal(plan.initrd, PREF - sizeof(rd));
	assert_true(plan.initrd_end <= plan.load);
	/* The kernel takes all RAM above it: the same. */
	make_image();
	put32(img + 0x260, RAM - MB_TOP_RESERVED - PREF);
	assert_int_equal(plan_img("", rd, sizeof(rd)), 0);
	assert_int_equal(plan.initrd_end, PREF);
}

static void test_refuse_initrd_no_room(void **state)
{
	u64 big = RAM;
	u8 *rd = calloc(1, big);

	(void)state;
	assert_int_equal(plan_img("", rd, big), -ENOSPC);
	assert_non_null(strstr(last_err, "initrd"));
	put32(img + 0x22c, 0xfffff); /* initrd_addr_max below 1 MiB */
	assert_int_equal(plan_img("", rd, 4096), -ENOSPC);
	free(rd);
}

static void test_refuse_bad_guest(void **state)
{
	struct bz_guest g = { .map = map, .nmap = 0 };

	(void)state;
	assert_int_equal(bz_plan_build(img, IMG_BYTES, &g, &plan, last_err, sizeof(last_err)),
	                 -EINVAL);
	g.nmap = nmap;
	g.initrd_len = 10;
	assert_int_equal(bz_plan_build(img, IMG_BYTES, &g, &plan, last_err, sizeof(last_err)),
	                 -EINVAL);
	g.initrd_len = 0;
	nmap = mb_memory_map(0x18000, map); /* RAM ends below the command line's place */
	g.nmap = nmap;
	assert_int_equal(bz_plan_build(img, IMG_BYTES, &g, &plan, last_err, sizeof(last_err)),
	                 -ENOSPC);
	assert_non_null(strstr(last_err, "boot_params"));
	/* NULL err with errlen 0 is allowed. */
	assert_int_equal(bz_plan_build(img, IMG_BYTES, &g, &plan, NULL, 0), -ENOSPC);
}

/* Debian's own kernel, when make linux-pkgs has unpacked it. */
static void test_real_bzimage(void **state)
{
	glob_t gl;
	FILE *f;
	u8 *buf, *rd = calloc(1, 1 << 20);
	long n;

	(void)state;
	if (glob("build/linux/root/boot/vmlinuz-*", 0, NULL, &gl) || !gl.gl_pathc) {
		printf("[  SKIP    ] no build/linux/root/boot/vmlinuz-* (make linux-pkgs)\n");
		free(rd);
		skip();
	}
	f = fopen(gl.gl_pathv[0], "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	assert_true(bz_is_bzimage(buf, (u64)n));
	nmap = mb_memory_map(256ULL << 20, map);
	struct bz_guest g = { .map = map,
		              .nmap = nmap,
		              .cmdline = "console=ttyS0 acpi=off",
		              .initrd = rd,
		              .initrd_len = 1 << 20 };
	int r = bz_plan_build(buf, (u64)n, &g, &plan, last_err, sizeof(last_err));
	if (r)
		fail_msg("%s: %s", gl.gl_pathv[0], last_err);
	printf("[          ] %s: protocol %u.%02u, kernel 0x%llx bytes at 0x%llx, init_size "
	       "0x%x, initrd at 0x%llx\n",
	       gl.gl_pathv[0], plan.hdr.version >> 8, plan.hdr.version & 0xff,
	       (unsigned long long)plan.hdr.kernel_bytes, (unsigned long long)plan.load,
	       plan.hdr.init_size, (unsigned long long)plan.initrd);
	assert_true(plan.hdr.version >= 0x020c);
	assert_true(plan.hdr.xloadflags & BZ_XLF_KERNEL_64);
	assert_true(plan.initrd >= plan.kernel_end);
	/* 64 MiB of RAM is less than pref_address + init_size (16 + ~64 MiB). */
	nmap = mb_memory_map(64ULL << 20, map);
	g.nmap = nmap;
	assert_int_equal(bz_plan_build(buf, (u64)n, &g, &plan, last_err, sizeof(last_err)),
	                 -ENOSPC);
	free(buf);
	free(rd);
	globfree(&gl);
}

#define T(f) cmocka_unit_test_setup(f, setup)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_detect),
		T(test_accepts_minimal),
		T(test_zero_page),
		T(test_setup_sects_zero_means_four),
		T(test_refuse_truncated_header),
		T(test_refuse_bad_magic),
		T(test_refuse_old_protocol),
		T(test_refuse_not_loaded_high),
		T(test_refuse_truncated_kernel),
		T(test_trailing_bytes_accepted),
		T(test_refuse_sizes),
		T(test_header_capped),
		T(test_refuse_long_cmdline),
		T(test_relocatable_alignment),
		T(test_refuse_load_address),
		T(test_initrd_high_and_aligned),
		T(test_initrd_under_load_limit),
		T(test_initrd_under_addr_max),
		T(test_initrd_below_kernel),
		T(test_refuse_initrd_no_room),
		T(test_refuse_bad_guest),
		T(test_real_bzimage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
