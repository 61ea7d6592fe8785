/*
 * Building multiboot 1 and 2 information (see loader/mbinfo.h for the layout and the memory
 * map). Both builders write through one bump allocator over the caller's buffer that never
 * writes past its end: a too-small buffer is noticed at the end (w.full), so the same code
 * also measures the size needed (buf NULL, cap 0).
 */
#include "errno.h"
#include "lib.h"
#include "loader/mbinfo.h"

#define MB1_INFO_BYTES 88 /* flags .. apm_table; the VBE/framebuffer fields are not given */
#define MB1_MOD_BYTES  16
#define MB1_MMAP_ENTRY 24 /* u32 size (= 20), u64 base, u64 len, u32 type */

#define MB1F_MEM         BIT(0)
#define MB1F_BOOT_DEVICE BIT(1)
#define MB1F_CMDLINE     BIT(2)
#define MB1F_MODS        BIT(3)
#define MB1F_MMAP        BIT(6)
#define MB1F_LOADER      BIT(9)

#define MB2_T_END      0
#define MB2_T_CMDLINE  1
#define MB2_T_LOADER   2
#define MB2_T_MODULE   3
#define MB2_T_MEMINFO  4
#define MB2_T_MMAP     6
#define MB2_MMAP_ENTRY 24

struct mbw {
	u8 *buf;
	u64 cap; /* bytes of buf */
	u64 pos; /* next free offset */
	gpa_t base;
	bool full; /* something did not fit */
};

/*
 * Reserve n bytes whose guest-physical address is the next multiple of align; zeroed if they
 * fit. Returns their offset in buf.
 */
static u64 w_alloc(struct mbw *w, u64 n, u64 align)
{
	u64 off = ALIGN_UP(w->base + w->pos, align) - w->base;

	w->pos = off + n;
	if (w->pos > w->cap)
		w->full = true;
	else
		memset(w->buf + off, 0, n);
	return off;
}

static void w_put(struct mbw *w, u64 off, const void *v, u64 n)
{
	if (off + n <= w->cap)
		memcpy(w->buf + off, v, n);
}

static void w32(struct mbw *w, u64 off, u32 v)
{
	w_put(w, off, &v, 4);
}
static void w64(struct mbw *w, u64 off, u64 v)
{
	w_put(w, off, &v, 8);
}
static u32 w_gpa(const struct mbw *w, u64 off)
{
	return (u32)(w->base + off);
}

/* Copy s (with its NUL) into the buffer; return its guest-physical address. */
static u32 w_str(struct mbw *w, const char *s)
{
	u64 n = strlen(s) + 1, off = w_alloc(w, n, 1);

	w_put(w, off, s, n);
	return w_gpa(w, off);
}

int mb_memory_map(u64 ram, struct mb_mem_range r[MB_MEM_RANGES])
{
	int n = 0;

	r[n++] = (struct mb_mem_range){ 0, MIN(ram, MB_EBDA_START), MB_MEM_USABLE };
	r[n++] = (struct mb_mem_range){ MB_EBDA_START, 0xa0000 - MB_EBDA_START, MB_MEM_RESERVED };
	r[n++] = (struct mb_mem_range){ MB_BIOS_START, MB_HIGH_START - MB_BIOS_START,
		                        MB_MEM_RESERVED };
	if (ram > MB_HIGH_START + MB_TOP_RESERVED) {
		r[n++] =
			(struct mb_mem_range){ MB_HIGH_START, ram - MB_TOP_RESERVED - MB_HIGH_START,
			                       MB_MEM_USABLE };
		r[n++] = (struct mb_mem_range){ ram - MB_TOP_RESERVED, MB_TOP_RESERVED,
			                        MB_MEM_RESERVED };
	} else if (ram > MB_HIGH_START) {
		r[n++] = (struct mb_mem_range){ MB_HIGH_START, ram - MB_HIGH_START, MB_MEM_USABLE };
	}
	r[n++] = (struct mb_mem_range){ MB_FLASH_START, MB_FLASH_END - MB_FLASH_START,
		                        MB_MEM_RESERVED };
	r[n++] = (struct mb_mem_range){ MB_HT_START, MB_HT_END - MB_HT_START, MB_MEM_RESERVED };
	return n;
}

static u32 mem_lower_kb(u64 ram)
{
	return (u32)(MIN(ram, MB_EBDA_START) >> 10);
}

static u32 mem_upper_kb(u64 ram)
{
	u64 top = ram > MB_HIGH_START + MB_TOP_RESERVED ? ram - MB_TOP_RESERVED : ram;
	u64 kb = top > MB_HIGH_START ? (top - MB_HIGH_START) >> 10 : 0;

	return kb > 0xffffffffULL ? 0xffffffffU : (u32)kb;
}

static const char *or_empty(const char *s)
{
	return s ? s : "";
}
static const char *loader_name(const struct mb_guest_desc *g)
{
	return g->loader_name ? g->loader_name : "eptvisor";
}

/* ---- multiboot 1 --------------------------------------------------------------------------- */

static void mb1_mods(struct mbw *w, u64 info, const struct mb_guest_desc *g)
{
	u64 list = w_alloc(w, (u64)g->nmods * MB1_MOD_BYTES, 8);

	w32(w, info + 20, g->nmods);
	w32(w, info + 24, g->nmods ? w_gpa(w, list) : 0);
	for (int i = 0; i < g->nmods; i++) {
		u64 m = list + (u64)i * MB1_MOD_BYTES;

		w32(w, m, (u32)g->mods[i].start);
		w32(w, m + 4, (u32)g->mods[i].end);
		w32(w, m + 8, w_str(w, or_empty(g->mods[i].cmdline)));
	}
}

static void mb1_mmap(struct mbw *w, u64 info, u64 ram)
{
	struct mb_mem_range r[MB_MEM_RANGES];
	int n = mb_memory_map(ram, r);
	u64 map = w_alloc(w, (u64)n * MB1_MMAP_ENTRY, 8);

	for (int i = 0; i < n; i++) {
		u64 e = map + (u64)i * MB1_MMAP_ENTRY;

		w32(w, e, MB1_MMAP_ENTRY - 4);
		w64(w, e + 4, r[i].base);
		w64(w, e + 12, r[i].len);
		w32(w, e + 20, r[i].type);
	}
	w32(w, info + 44, n * MB1_MMAP_ENTRY);
	w32(w, info + 48, w_gpa(w, map));
}

static u64 mb1_build(struct mbw *w, const struct mb_guest_desc *g)
{
	u64 info = w_alloc(w, MB1_INFO_BYTES, 8);

	w32(w, info,
	    MB1F_MEM | MB1F_BOOT_DEVICE | MB1F_CMDLINE | MB1F_MODS | MB1F_MMAP | MB1F_LOADER);
	w32(w, info + 4, mem_lower_kb(g->ram_bytes));
	w32(w, info + 8, mem_upper_kb(g->ram_bytes));
	w32(w, info + 12, MB1_BOOT_DEVICE);
	mb1_mods(w, info, g);
	mb1_mmap(w, info, g->ram_bytes);
	w32(w, info + 16, w_str(w, or_empty(g->cmdline)));
	w32(w, info + 64, w_str(w, loader_name(g)));
	return info;
}

/* ---- multiboot 2 --------------------------------------------------------------------------- */

/* Start a tag of `size` bytes (header included); returns its offset. */
static u64 mb2_tag(struct mbw *w, u32 type, u64 size)
{
	u64 t = w_alloc(w, size, 8);

	w32(w, t, type);
	w32(w, t + 4, (u32)size);
	return t;
}

static void mb2_str_tag(struct mbw *w, u32 type, const char *s)
{
	u64 n = strlen(s) + 1, t = mb2_tag(w, type, 8 + n);

	w_put(w, t + 8, s, n);
}

static void mb2_module(struct mbw *w, const struct mb_module_desc *m)
{
	const char *s = or_empty(m->cmdline);
	u64 n = strlen(s) + 1, t = mb2_tag(w, MB2_T_MODULE, 16 + n);

	w32(w, t + 8, (u32)m->start);
	w32(w, t + 12, (u32)m->end);
	w_put(w, t + 16, s, n);
}

static void mb2_mmap(struct mbw *w, u64 ram)
{
	struct mb_mem_range r[MB_MEM_RANGES];
	int n = mb_memory_map(ram, r);
	u64 t = mb2_tag(w, MB2_T_MMAP, 16 + (u64)n * MB2_MMAP_ENTRY);

	w32(w, t + 8, MB2_MMAP_ENTRY);
	w32(w, t + 12, 0);
	for (int i = 0; i < n; i++) {
		u64 e = t + 16 + (u64)i * MB2_MMAP_ENTRY;

		w64(w, e, r[i].base);
		w64(w, e + 8, r[i].len);
		w32(w, e + 16, r[i].type);
	}
}

static u64 mb2_build(struct mbw *w, const struct mb_guest_desc *g)
{
	u64 info = w_alloc(w, 8, 8), t;

	mb2_str_tag(w, MB2_T_CMDLINE, or_empty(g->cmdline));
	mb2_str_tag(w, MB2_T_LOADER, loader_name(g));
	for (int i = 0; i < g->nmods; i++)
		mb2_module(w, &g->mods[i]);
	t = mb2_tag(w, MB2_T_MEMINFO, 16);
	w32(w, t + 8, mem_lower_kb(g->ram_bytes));
	w32(w, t + 12, mem_upper_kb(g->ram_bytes));
	mb2_mmap(w, g->ram_bytes);
	mb2_tag(w, MB2_T_END, 8);
	w32(w, info, (u32)(w->pos - info));
	return info;
}

/* ---- entry --------------------------------------------------------------------------------- */

static int check_desc(int version, const struct mb_guest_desc *g)
{
	if ((version != 1 && version != 2) || !g || g->nmods < 0 || (g->nmods && !g->mods))
		return -EINVAL;
	for (int i = 0; i < g->nmods; i++)
		if (g->mods[i].end < g->mods[i].start || g->mods[i].end > 0xffffffffULL)
			return -ERANGE;
	return 0;
}

/* Build into w (which may be a measuring writer); returns the info's gpa or an errno. */
static s64 build(int version, const struct mb_guest_desc *g, struct mbw *w)
{
	int err = check_desc(version, g);
	u64 info;

	if (err)
		return err;
	if (w->base > 0xffffffffULL)
		return -ERANGE;
	info = version == 1 ? mb1_build(w, g) : mb2_build(w, g);
	if (w->base + w->pos > 0xffffffffULL + 1)
		return -ERANGE;
	return (s64)(w->base + info);
}

s64 mb_info_size(int version, const struct mb_guest_desc *g, gpa_t base)
{
	struct mbw w = { .base = base };
	s64 r = build(version, g, &w);

	return r < 0 ? r : (s64)w.pos;
}

s64 mb_info_build(int version, const struct mb_guest_desc *g, u8 *buf, u64 buflen, gpa_t base)
{
	struct mbw w = { .buf = buf, .cap = buf ? buflen : 0, .base = base };
	s64 r = build(version, g, &w);

	if (r >= 0 && w.full)
		return -ENOMEM;
	return r;
}
