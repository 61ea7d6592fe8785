/*
 * Loading a Linux bzImage by the 32-bit boot protocol (see loader/bzimage.h for the entry
 * and the layout): read and check the setup header, place the kernel, the zero page, the
 * command line and the initrd in the guest's usable RAM, and build the zero page.
 */
#include "errno.h"
#include "lib.h"
#include "loader/bzimage.h"

/* Offsets in the file and in boot_params (arch/x86/include/uapi/asm/bootparam.h). */
#define OFF_SETUP_SECTS    0x1f1
#define OFF_SYSSIZE        0x1f4
#define OFF_BOOT_FLAG      0x1fe
#define OFF_JUMP           0x200
#define OFF_HEADER         0x202
#define OFF_VERSION        0x206
#define OFF_TYPE_OF_LOADER 0x210
#define OFF_LOADFLAGS      0x211
#define OFF_CODE32_START   0x214
#define OFF_RAMDISK_IMAGE  0x218
#define OFF_RAMDISK_SIZE   0x21c
#define OFF_HEAP_END_PTR   0x224
#define OFF_CMD_LINE_PTR   0x228
#define OFF_INITRD_MAX     0x22c
#define OFF_KERNEL_ALIGN   0x230
#define OFF_RELOCATABLE    0x234
#define OFF_XLOADFLAGS     0x236
#define OFF_CMDLINE_SIZE   0x238
#define OFF_PREF_ADDRESS   0x258
#define OFF_INIT_SIZE      0x260
#define HEADER_MIN_END     0x264 /* through init_size: every field above is in the header */

#define BP_ACPI_RSDP       0x070
#define BP_EXT_RAMDISK_IMG 0x0c0
#define BP_EXT_RAMDISK_SZ  0x0c4
#define BP_EXT_CMD_LINE    0x0c8
#define BP_E820_ENTRIES    0x1e8
#define BP_E820_TABLE      0x2d0
#define E820_ENTRY_BYTES   20

#define LOADER_UNDEFINED 0xff /* type_of_loader: a boot loader without an assigned id */
/* heap_end_ptr as a 16-bit loader with its setup at 0x90000 would give it (boot.rst's
 * example); only the real-mode setup code reads it, which the 32-bit entry skips. */
#define HEAP_END_PTR 0xde00

#define FOUR_GIB (1ULL << 32)

static u16 rd16(const u8 *p)
{
	return (u16)(p[0] | p[1] << 8);
}
static u32 rd32(const u8 *p)
{
	return (u32)rd16(p) | (u32)rd16(p + 2) << 16;
}
static u64 rd64(const u8 *p)
{
	return (u64)rd32(p) | (u64)rd32(p + 4) << 32;
}
static void wr16(u8 *p, u16 v)
{
	p[0] = (u8)v;
	p[1] = (u8)(v >> 8);
}
static void wr32(u8 *p, u32 v)
{
	wr16(p, (u16)v);
	wr16(p + 2, (u16)(v >> 16));
}
static void wr64(u8 *p, u64 v)
{
	wr32(p, (u32)v);
	wr32(p + 4, (u32)(v >> 32));
}

static int fail(char *err, size_t errlen, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Put the reason in err and return code. */
static int fail(char *err, size_t errlen, int code, const char *fmt, ...)
{
	if (errlen) {
		va_list ap;

		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return code;
}

bool bz_is_bzimage(const u8 *img, u64 size)
{
	return size >= OFF_HEADER + 4 && rd16(img + OFF_BOOT_FLAG) == BZ_BOOT_FLAG &&
	       rd32(img + OFF_HEADER) == BZ_HDRS_MAGIC;
}

static bool pow2(u64 x)
{
	return x && !(x & (x - 1));
}

static void read_header(const u8 *img, struct bz_header *h)
{
	u32 sects = img[OFF_SETUP_SECTS] ? img[OFF_SETUP_SECTS] : 4;
	u32 end = OFF_HEADER + img[OFF_JUMP + 1]; /* the jump's target ends the header */

	*h = (struct bz_header){
		.version = rd16(img + OFF_VERSION),
		.setup_bytes = (sects + 1) * 512,
		.kernel_bytes = (u64)rd32(img + OFF_SYSSIZE) * 16,
		.loadflags = img[OFF_LOADFLAGS],
		.code32_start = rd32(img + OFF_CODE32_START),
		.initrd_addr_max = rd32(img + OFF_INITRD_MAX),
		.kernel_alignment = rd32(img + OFF_KERNEL_ALIGN),
		.relocatable = img[OFF_RELOCATABLE] != 0,
		.xloadflags = rd16(img + OFF_XLOADFLAGS),
		.cmdline_size = rd32(img + OFF_CMDLINE_SIZE),
		.pref_address = rd64(img + OFF_PREF_ADDRESS),
		.init_size = rd32(img + OFF_INIT_SIZE),
		.header_end = MIN(end, BZ_HEADER_END),
	};
}

/* The header's sizes against each other and the file: 0 or -E2BIG. */
static int check_sizes(const struct bz_header *h, u64 size, char *err, size_t errlen)
{
	if (h->header_end < HEADER_MIN_END)
		return fail(err, errlen, -E2BIG, "setup header ends at 0x%x, before init_size",
		            h->header_end);
	if (h->setup_bytes > size || h->kernel_bytes > size - h->setup_bytes)
		return fail(err, errlen, -E2BIG,
		            "truncated: %u bytes of setup and 0x%llx of kernel (syssize) but the "
		            "file has 0x%llx bytes",
		            h->setup_bytes, (unsigned long long)h->kernel_bytes,
		            (unsigned long long)size);
	if (!h->kernel_bytes)
		return fail(err, errlen, -E2BIG, "syssize is 0: no protected-mode kernel");
	if (h->init_size < h->kernel_bytes)
		return fail(err, errlen, -E2BIG,
		            "init_size 0x%x is smaller than the kernel's 0x%llx bytes",
		            h->init_size, (unsigned long long)h->kernel_bytes);
	if (h->relocatable && (!pow2(h->kernel_alignment) || h->kernel_alignment < PAGE_SIZE))
		return fail(err, errlen, -E2BIG,
		            "kernel_alignment 0x%x is not a power of two of at least 4 KiB",
		            h->kernel_alignment);
	return 0;
}

int bz_header_parse(const u8 *img, u64 size, struct bz_header *out, char *err, size_t errlen)
{
	if (errlen)
		err[0] = '\0';
	if (size < BZ_HEADER_END)
		return fail(err, errlen, -ENOEXEC,
		            "truncated: %llu bytes, shorter than a setup header",
		            (unsigned long long)size);
	if (rd16(img + OFF_BOOT_FLAG) != BZ_BOOT_FLAG)
		return fail(err, errlen, -ENOEXEC, "no boot flag 0xaa55 at 0x1fe (found 0x%x)",
		            rd16(img + OFF_BOOT_FLAG));
	if (rd32(img + OFF_HEADER) != BZ_HDRS_MAGIC)
		return fail(err, errlen, -ENOEXEC, "no \"HdrS\" magic at 0x202: not a bzImage");
	read_header(img, out);
	if (out->version < BZ_MIN_PROTOCOL)
		return fail(err, errlen, -EINVAL, "boot protocol %u.%02u is older than 2.12",
		            out->version >> 8, out->version & 0xff);
	if (!(out->loadflags & BZ_LOADED_HIGH))
		return fail(err, errlen, -EINVAL,
		            "loadflags 0x%x lack LOADED_HIGH: a zImage loaded at 0x10000",
		            out->loadflags);
	return check_sizes(out, size, err, errlen);
}

/* ---- placement ----------------------------------------------------------------------------- */

/* The usable range of the map holding [gpa, gpa + len) below the load limit, or NULL. */
static const struct mb_mem_range *usable_range(const struct bz_guest *g, gpa_t gpa, u64 len)
{
	for (int i = 0; i < g->nmap; i++) {
		const struct mb_mem_range *r = &g->map[i];

		if (r->type == MB_MEM_USABLE && gpa >= r->base && gpa - r->base <= r->len &&
		    len <= r->len - (gpa - r->base) &&
		    (!g->load_limit || (gpa <= g->load_limit && len <= g->load_limit - gpa)))
			return r;
	}
	return NULL;
}

static bool overlaps(u64 a0, u64 a1, u64 b0, u64 b1)
{
	return a0 < b1 && b0 < a1;
}

/* Where the kernel goes and runs: its runtime start address (boot.rst, init_size). */
static int place_kernel(const struct bz_guest *g, struct bz_plan *p, char *err, size_t errlen)
{
	const struct bz_header *h = &p->hdr;
	u64 load = h->pref_address;

	if (h->relocatable)
		load = ALIGN_UP(load, (u64)h->kernel_alignment);
	if (load < BZ_LOW_LIMIT || load < h->pref_address) /* below 1 MiB, or wrapped */
		return fail(err, errlen, -ERANGE,
		            "kernel load address 0x%llx (pref_address 0x%llx) is below 1 MiB",
		            (unsigned long long)load, (unsigned long long)h->pref_address);
	if (load >= FOUR_GIB || h->init_size > FOUR_GIB - load)
		return fail(err, errlen, -ERANGE,
		            "kernel at 0x%llx with init_size 0x%x reaches above 4 GiB",
		            (unsigned long long)load, h->init_size);
	if (!usable_range(g, load, h->init_size))
		return fail(err, errlen, -ENOSPC,
		            "the kernel needs [0x%llx, 0x%llx) (pref_address + init_size) in "
		            "usable RAM: give the guest more memory",
		            (unsigned long long)load, (unsigned long long)(load + h->init_size));
	p->load = load;
	p->kernel_end = load + h->init_size; /* >= the file's bytes (check_sizes) */
	p->entry = load;
	p->entry64 = (h->xloadflags & BZ_XLF_KERNEL_64) ? load + 0x200 : 0;
	return 0;
}

/* The initrd ends as high as it may: below initrd_addr_max + 1 and its range's top. */
static int place_initrd(const struct bz_guest *g, struct bz_plan *p, char *err, size_t errlen)
{
	u64 len = g->initrd_len, limit = (u64)p->hdr.initrd_addr_max + 1;

	if (g->load_limit)
		limit = MIN(limit, g->load_limit);

	for (int i = g->nmap - 1; i >= 0; i--) {
		const struct mb_mem_range *r = &g->map[i];
		u64 top = MIN(r->base + r->len, limit), at;

		if (r->type != MB_MEM_USABLE || top < r->base || top - r->base < len)
			continue;
		at = ALIGN_DOWN(top - len, PAGE_SIZE);
		if (at < r->base || at < BZ_LOW_LIMIT)
			continue;
		if (overlaps(at, at + len, p->load, p->kernel_end)) {
			if (p->load < len + BZ_LOW_LIMIT) /* only below the kernel is left */
				continue;
			at = ALIGN_DOWN(p->load - len, PAGE_SIZE);
			if (at < r->base || at < BZ_LOW_LIMIT)
				continue;
		}
		p->initrd = at;
		p->initrd_end = at + len;
		return 0;
	}
	return fail(err, errlen, -ENOSPC,
	            "no room for the initrd (0x%llx bytes) in usable RAM below 0x%llx outside the "
	            "kernel's [0x%llx, 0x%llx)",
	            (unsigned long long)len, (unsigned long long)limit, (unsigned long long)p->load,
	            (unsigned long long)p->kernel_end);
}

static void add_copy(struct bz_plan *p, gpa_t gpa, const void *src, u64 len, const char *what)
{
	p->copy[p->ncopies++] =
		(struct bz_copy){ .gpa = gpa, .src = src, .len = len, .what = what };
}

/* The zero page: zeroed, the file's header at 0x1f1, then what the loader fills in. */
static void build_params(const u8 *img, const struct bz_guest *g, struct bz_plan *p)
{
	u8 *bp = p->params;

	memset(bp, 0, sizeof(p->params));
	memcpy(bp + BZ_HEADER_OFFSET, img + BZ_HEADER_OFFSET, p->hdr.header_end - BZ_HEADER_OFFSET);
	bp[OFF_TYPE_OF_LOADER] = LOADER_UNDEFINED;
	bp[OFF_LOADFLAGS] |= BZ_CAN_USE_HEAP;
	wr16(bp + OFF_HEAP_END_PTR, HEAP_END_PTR);
	wr32(bp + OFF_CODE32_START, (u32)p->load);
	wr32(bp + OFF_CMD_LINE_PTR, (u32)BZ_CMDLINE_GPA);
	wr32(bp + BP_EXT_CMD_LINE, (u32)(BZ_CMDLINE_GPA >> 32));
	wr32(bp + OFF_RAMDISK_IMAGE, (u32)p->initrd);
	wr32(bp + OFF_RAMDISK_SIZE, (u32)(p->initrd_end - p->initrd));
	wr32(bp + BP_EXT_RAMDISK_IMG, (u32)(p->initrd >> 32));
	wr32(bp + BP_EXT_RAMDISK_SZ, (u32)((p->initrd_end - p->initrd) >> 32));
	wr64(bp + BP_ACPI_RSDP, 0); /* none: Linux looks for ACPI tables itself */
	bp[BP_E820_ENTRIES] = (u8)g->nmap;
	for (int i = 0; i < g->nmap; i++) {
		u8 *e = bp + BP_E820_TABLE + i * E820_ENTRY_BYTES;

		wr64(e, g->map[i].base);
		wr64(e + 8, g->map[i].len);
		wr32(e + 16, g->map[i].type);
	}
}

static int check_guest(const struct bz_guest *g, char *err, size_t errlen)
{
	if (!g || !g->map || g->nmap < 1 || g->nmap > BZ_E820_MAX)
		return fail(err, errlen, -EINVAL, "a memory map of 1 to %d ranges is needed",
		            BZ_E820_MAX);
	if (g->initrd_len && !g->initrd)
		return fail(err, errlen, -EINVAL, "an initrd length without its bytes");
	if (!usable_range(g, BZ_PARAMS_GPA, BZ_PARAMS_BYTES) ||
	    !usable_range(g, BZ_CMDLINE_GPA, BZ_CMDLINE_LIMIT))
		return fail(err, errlen, -ENOSPC,
		            "no usable RAM at 0x%llx-0x%llx for boot_params and the command line",
		            BZ_PARAMS_GPA, BZ_CMDLINE_GPA + BZ_CMDLINE_LIMIT);
	return 0;
}

int bz_plan_build(const u8 *img, u64 size, const struct bz_guest *g, struct bz_plan *out, char *err,
                  size_t errlen)
{
	const char *cmdline = g && g->cmdline ? g->cmdline : "";
	u64 clen = strlen(cmdline);
	int r;

	out->ncopies = 0;
	r = bz_header_parse(img, size, &out->hdr, err, errlen);
	if (!r)
		r = check_guest(g, err, errlen);
	if (r)
		return r;
	if (clen > out->hdr.cmdline_size || clen >= BZ_CMDLINE_LIMIT)
		return fail(
			err, errlen, -E2BIG,
			"the command line (%llu bytes) is longer than the kernel's cmdline_size "
			"(%u)",
			(unsigned long long)clen,
			MIN(out->hdr.cmdline_size, (u32)BZ_CMDLINE_LIMIT - 1));
	r = place_kernel(g, out, err, errlen);
	out->initrd = out->initrd_end = 0;
	if (!r && g->initrd_len)
		r = place_initrd(g, out, err, errlen);
	if (r)
		return r;
	out->boot_params = BZ_PARAMS_GPA;
	build_params(img, g, out);
	add_copy(out, out->load, img + out->hdr.setup_bytes, out->hdr.kernel_bytes, "kernel");
	add_copy(out, BZ_PARAMS_GPA, out->params, BZ_PARAMS_BYTES, "boot_params");
	add_copy(out, BZ_CMDLINE_GPA, cmdline, clen + 1, "command line");
	if (g->initrd_len)
		add_copy(out, out->initrd, g->initrd, g->initrd_len, "initrd");
	return 0;
}
