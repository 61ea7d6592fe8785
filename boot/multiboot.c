/*
 * Multiboot information parsing: turns what GRUB (multiboot2) or qemu -kernel (multiboot1)
 * left in memory into a struct boot_info (include/bootinfo.h). The input is untrusted in the
 * sense that a broken loader, or a fuzzer, may hand us anything: every read is bounded by the
 * info's total_size (multiboot2) or goes through the caller's pa_to_va page by page
 * (multiboot1), and all fields are read with memcpy so nothing is dereferenced misaligned.
 * Pure C: also built into the host unit tests.
 */
#include "boot/multiboot.h"
#include "bootinfo.h"
#include "errno.h"
#include "lib.h"

#define MB1_MMAP_MAX_SCAN 1024 /* entries looked at before giving up (zero-length ones skipped) */

struct mb2_basic {
	bool valid;
	u32 lower, upper; /* KiB below 640K and above 1M */
};

static u32 rd32(const u8 *p)
{
	u32 v;

	__builtin_memcpy(&v, p, sizeof(v));
	return v;
}

static u64 rd64(const u8 *p)
{
	u64 v;

	__builtin_memcpy(&v, p, sizeof(v));
	return v;
}

static void reset(struct boot_info *out, int proto)
{
	memset(out, 0, sizeof(*out));
	out->loader = out->loader_name;
	out->proto = proto;
}

/* Copy the string at src (at most srclen bytes, NUL or not) into dst[size]; flag a cut. */
static void copy_str(char *dst, size_t size, const char *src, size_t srclen, u32 *trunc, u32 flag)
{
	size_t n = strnlen(src, srclen);

	if (n >= size) {
		n = size - 1;
		*trunc |= flag;
	}
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* Append one memory-map entry. Empty entries are skipped; a range wrapping 2^64 is invalid. */
static int add_mem(struct boot_info *out, u64 base, u64 len, u32 type)
{
	if (len == 0)
		return 0;
	if (base + len < base)
		return -EINVAL;
	if (out->nmem == BOOT_MAX_MEM) {
		out->truncated |= BOOT_TRUNC_MEM;
		return 0;
	}
	out->mem[out->nmem++] = (struct boot_mem){ .base = base, .len = len, .type = type };
	return 0;
}

/* The legacy lower/upper memory sizes, used only when there is no memory map. */
static int add_basic_mem(struct boot_info *out, u32 lower_kib, u32 upper_kib)
{
	int err = add_mem(out, 0, (u64)lower_kib << 10, BOOT_MEM_USABLE);

	return err ? err : add_mem(out, 1ULL << 20, (u64)upper_kib << 10, BOOT_MEM_USABLE);
}

/* Append one module; a module that ends before it starts is invalid. */
static struct boot_mod *add_mod(struct boot_info *out, u64 start, u64 end, int *err)
{
	*err = end < start ? -EINVAL : 0;
	if (*err)
		return NULL;
	if (out->nmods == BOOT_MAX_MODS) {
		out->truncated |= BOOT_TRUNC_MODS;
		return NULL;
	}
	out->mods[out->nmods] = (struct boot_mod){ .start = start, .end = end };
	return &out->mods[out->nmods++];
}

/* ---- multiboot2 ---------------------------------------------------------------------------- */

static int mb2_module(const u8 *tag, u32 size, struct boot_info *out)
{
	struct boot_mod *m;
	int err;

	if (size < MB2_MODULE_HDR)
		return -EINVAL;
	m = add_mod(out, rd32(tag + 8), rd32(tag + 12), &err);
	if (m)
		copy_str(m->name, sizeof(m->name), (const char *)tag + MB2_MODULE_HDR,
		         size - MB2_MODULE_HDR, &out->truncated, BOOT_TRUNC_NAME);
	return err;
}

static int mb2_mmap(const u8 *tag, u32 size, struct boot_info *out)
{
	u32 esz, n;

	if (size < MB2_MMAP_HDR)
		return -EINVAL;
	esz = rd32(tag + 8);
	if (esz < MB2_MMAP_ENTRY_MIN)
		return -EINVAL;
	n = (size - MB2_MMAP_HDR) / esz; /* a partial trailing entry is ignored */
	for (u32 i = 0; i < n; i++) {
		const u8 *e = tag + MB2_MMAP_HDR + (u64)i * esz;
		int err = add_mem(out, rd64(e), rd64(e + 8), rd32(e + 16));

		if (err)
			return err;
	}
	return 0;
}

/* Handle one tag (not the end tag) of `size` bytes, all inside the info. */
static int mb2_tag(const u8 *tag, u32 type, u32 size, struct boot_info *out,
                   struct mb2_basic *basic)
{
	const char *str = (const char *)tag + MB2_TAG_HDR;

	switch (type) {
	case MB2_TAG_CMDLINE:
		copy_str(out->cmdline, sizeof(out->cmdline), str, size - MB2_TAG_HDR,
		         &out->truncated, BOOT_TRUNC_CMDLINE);
		return 0;
	case MB2_TAG_LOADER:
		copy_str(out->loader_name, sizeof(out->loader_name), str, size - MB2_TAG_HDR,
		         &out->truncated, BOOT_TRUNC_NAME);
		return 0;
	case MB2_TAG_MODULE:
		return mb2_module(tag, size, out);
	case MB2_TAG_MMAP:
		return mb2_mmap(tag, size, out);
	case MB2_TAG_BASIC_MEM:
		if (size < MB2_TAG_HDR + 8)
			return -EINVAL;
		*basic = (struct mb2_basic){ true, rd32(tag + 8), rd32(tag + 12) };
		return 0;
	default:
		return 0; /* framebuffer, ACPI, EFI, ...: not needed */
	}
}

/* Walk the tags of an info of `total` bytes; 0 only if a well-formed end tag is reached. */
static int mb2_walk(const u8 *p, u32 total, struct boot_info *out, struct mb2_basic *basic)
{
	u32 off = MB2_INFO_HDR;

	/* off is a multiple of 8 and may pass total (by < 8) when total is not: check both. */
	while (off < total && total - off >= MB2_TAG_HDR) {
		u32 type = rd32(p + off), size = rd32(p + off + 4);
		int err;

		if (size < MB2_TAG_HDR || size > total - off)
			return -EINVAL;
		if (type == MB2_TAG_END)
			return 0;
		err = mb2_tag(p + off, type, size, out, basic);
		if (err)
			return err;
		off += ALIGN_UP(size, MB2_TAG_ALIGN); /* size <= total <= 1 MiB: no overflow */
	}
	return -EINVAL; /* ran off the end without an end tag */
}

int mb2_parse(const void *info, u64 info_pa, struct boot_info *out)
{
	struct mb2_basic basic = { 0 };
	u32 total;
	int err;

	if (!out)
		return -EINVAL;
	reset(out, 2);
	if (!info || !IS_ALIGNED(info_pa, MB2_TAG_ALIGN))
		return -EINVAL;
	total = rd32(info);
	if (total < MB2_INFO_HDR + MB2_TAG_HDR || total > MB2_INFO_MAX)
		return -EINVAL;
	err = mb2_walk(info, total, out, &basic);
	if (!err && out->nmem == 0 && basic.valid)
		err = add_basic_mem(out, basic.lower, basic.upper);
	if (err) {
		reset(out, 2);
		return err;
	}
	out->info_start = info_pa;
	out->info_end = info_pa + total;
	return 0;
}

/* ---- multiboot1 ---------------------------------------------------------------------------- */

typedef void *(*pa_to_va_fn)(u64 pa);

/* Copy len bytes at physical pa, one page at a time through pa_to_va. */
static int mb1_read(pa_to_va_fn pa_to_va, u64 pa, void *dst, size_t len)
{
	u8 *d = dst;

	if (pa + len < pa)
		return -EINVAL;
	while (len) {
		size_t chunk = MIN(len, PAGE_SIZE - (pa & (PAGE_SIZE - 1)));
		const void *va = pa_to_va(pa);

		if (!va)
			return -EINVAL;
		memcpy(d, va, chunk);
		d += chunk, pa += chunk, len -= chunk;
	}
	return 0;
}

/* Copy the NUL-terminated string at physical pa into dst[size]; never reads past its NUL. */
static int mb1_read_str(pa_to_va_fn pa_to_va, u64 pa, char *dst, size_t size, u32 *trunc, u32 flag)
{
	size_t i = 0;

	while (i < size) {
		size_t chunk = MIN(size - i, PAGE_SIZE - (pa & (PAGE_SIZE - 1)));
		const char *va = pa_to_va(pa);
		size_t n;

		if (!va)
			return -EINVAL;
		n = strnlen(va, chunk);
		memcpy(dst + i, va, n);
		i += n;
		if (n < chunk) {
			dst[i] = '\0';
			return 0;
		}
		pa += chunk;
	}
	dst[size - 1] = '\0';
	*trunc |= flag;
	return 0;
}

/* Drop the first word (the kernel's path) unless it looks like an option (has '='). */
static void drop_kernel_path(char *s)
{
	size_t i = 0, j;

	while (s[i] == ' ')
		i++;
	for (j = i; s[j] && s[j] != ' '; j++)
		if (s[j] == '=')
			return;
	while (s[j] == ' ')
		j++;
	memmove(s, s + j, strlen(s + j) + 1);
}

static int mb1_mods(pa_to_va_fn pa_to_va, u32 count, u32 addr, struct boot_info *out)
{
	if (count > BOOT_MAX_MODS) {
		out->truncated |= BOOT_TRUNC_MODS;
		count = BOOT_MAX_MODS;
	}
	for (u32 i = 0; i < count; i++) {
		u8 raw[MB1_MODULE_SIZE];
		struct boot_mod *m;
		int err =
			mb1_read(pa_to_va, (u64)addr + (u64)i * MB1_MODULE_SIZE, raw, sizeof(raw));

		if (err)
			return err;
		m = add_mod(out, rd32(raw), rd32(raw + 4), &err);
		if (err)
			return err;
		if (rd32(raw + 8))
			err = mb1_read_str(pa_to_va, rd32(raw + 8), m->name, sizeof(m->name),
			                   &out->truncated, BOOT_TRUNC_NAME);
		if (err)
			return err;
	}
	return 0;
}

/* Entries are {u32 size, u64 base, u64 len, u32 type}, each followed by size + 4 bytes. */
static int mb1_mmap(pa_to_va_fn pa_to_va, u32 len, u32 addr, struct boot_info *out)
{
	u64 off = 0;

	for (int seen = 0; len - off >= 4; seen++) {
		u8 raw[4 + MB1_MMAP_ENTRY_MIN];
		int err;
		u32 size;

		if (out->nmem == BOOT_MAX_MEM || seen == MB1_MMAP_MAX_SCAN) {
			out->truncated |= BOOT_TRUNC_MEM;
			return 0;
		}
		err = mb1_read(pa_to_va, (u64)addr + off, raw, 4);
		if (err)
			return err;
		size = rd32(raw);
		if (size < MB1_MMAP_ENTRY_MIN || (u64)size + 4 > len - off)
			return -EINVAL;
		err = mb1_read(pa_to_va, (u64)addr + off, raw, sizeof(raw));
		if (!err)
			err = add_mem(out, rd64(raw + 4), rd64(raw + 12), rd32(raw + 20));
		if (err)
			return err;
		off += (u64)size + 4;
	}
	return 0;
}

static int mb1_strings(const u8 *p, u32 flags, pa_to_va_fn pa_to_va, struct boot_info *out)
{
	int err = 0;

	if (flags & MB1_F_CMDLINE) {
		err = mb1_read_str(pa_to_va, rd32(p + MB1_OFF_CMDLINE), out->cmdline,
		                   sizeof(out->cmdline), &out->truncated, BOOT_TRUNC_CMDLINE);
		if (!err)
			drop_kernel_path(out->cmdline);
	}
	if (!err && (flags & MB1_F_LOADER))
		err = mb1_read_str(pa_to_va, rd32(p + MB1_OFF_LOADER), out->loader_name,
		                   sizeof(out->loader_name), &out->truncated, BOOT_TRUNC_NAME);
	return err;
}

static int mb1_walk(const u8 *p, pa_to_va_fn pa_to_va, struct boot_info *out)
{
	u32 flags = rd32(p + MB1_OFF_FLAGS);
	int err = mb1_strings(p, flags, pa_to_va, out);

	if (!err && (flags & MB1_F_MODS))
		err = mb1_mods(pa_to_va, rd32(p + MB1_OFF_MODS_COUNT), rd32(p + MB1_OFF_MODS_ADDR),
		               out);
	if (!err && (flags & MB1_F_MMAP))
		err = mb1_mmap(pa_to_va, rd32(p + MB1_OFF_MMAP_LENGTH), rd32(p + MB1_OFF_MMAP_ADDR),
		               out);
	if (!err && out->nmem == 0 && (flags & MB1_F_MEM))
		err = add_basic_mem(out, rd32(p + MB1_OFF_MEM_LOWER), rd32(p + MB1_OFF_MEM_UPPER));
	return err;
}

int mb1_parse(const void *info, u64 info_pa, void *(*pa_to_va)(u64 pa), struct boot_info *out)
{
	int err;

	if (!out)
		return -EINVAL;
	reset(out, 1);
	if (!info || !pa_to_va)
		return -EINVAL;
	err = mb1_walk(info, pa_to_va, out);
	if (err) {
		reset(out, 1);
		return err;
	}
	out->info_start = info_pa;
	out->info_end = info_pa + MB1_INFO_SIZE;
	return 0;
}

u64 boot_mem_top(const struct boot_info *bi)
{
	u64 top = 0;

	for (int i = 0; i < bi->nmem; i++)
		if (bi->mem[i].type == BOOT_MEM_USABLE)
			top = MAX(top, bi->mem[i].base + bi->mem[i].len);
	return top;
}
