/*
 * libFuzzer target: the multiboot information builder (loader/mbinfo.c), read back by the
 * hypervisor's own multiboot parser (boot/multiboot.c), the way a guest kernel would read it.
 *
 * Input: version, guest RAM, base address, buffer slack, then module ranges and strings (the
 * command line, loader name and module strings are NUL-free runs of the input).
 *
 * Checked: mb_info_size and mb_info_build agree (same error, or a size the build fits in
 * exactly); a buffer one byte short, or any shorter one, gives -ENOMEM and is never written
 * past (every buffer is a heap block of exactly its size, so ASan sees a stray byte); the
 * structure's address is base rounded up to 8 and inside the buffer; bytes past the size
 * returned are untouched. The built info then parses (mb1_parse / mb2_parse) into exactly
 * what was described: command line (multiboot 1: without the kernel's path), loader name,
 * modules with their ranges and strings, and a memory map whose usable top is what
 * mbinfo.h documents for that RAM size.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boot/multiboot.h"
#include "bootinfo.h"
#include "errno.h"
#include "loader/mbinfo.h"
#include "tests/unit/fuzz.h"

#define MAX_MODS 24
#define STR_MAX  600

struct in {
	const u8 *p;
	size_t n;
};

static u8 byte(struct in *in)
{
	u8 b = 0;

	if (in->n) {
		b = *in->p++;
		in->n--;
	}
	return b;
}

static u32 word(struct in *in)
{
	u32 v = byte(in);

	v |= (u32)byte(in) << 8;
	v |= (u32)byte(in) << 16;
	return v | (u32)byte(in) << 24;
}

/* A string of up to `max` input bytes, cut at the first 0 (or NULL when the length is 255). */
static char *str(struct in *in, size_t max, bool may_null)
{
	u8 len = byte(in);
	char *s;
	size_t n = 0;

	if (may_null && len == 255)
		return NULL;
	s = malloc(max + 1);
	while (n < len && n < max && in->n && *in->p) {
		s[n++] = (char)*in->p++;
		in->n--;
	}
	if (in->n && n < len) { /* skip the terminating 0 */
		in->p++;
		in->n--;
	}
	s[n] = '\0';
	return s;
}

/* Long strings: a length byte scaled, then filler repeated from the input. */
static char *long_str(struct in *in, bool may_null)
{
	char *s = str(in, 64, may_null);
	u8 rep = byte(in);
	size_t n;

	if (!s || !rep || !*s)
		return s;
	n = strlen(s);
	s = realloc(s, n * (rep % 12 + 1) + 1);
	for (int r = 1; r <= rep % 12; r++)
		memcpy(s + n * r, s, n);
	s[n * (rep % 12 + 1)] = '\0';
	return s;
}

/* ---- reading the result back ----------------------------------------------------------- */

static const u8 *g_mem; /* page-aligned copy of the buffer: guest pages [g_lo, g_hi) */
static u64 g_lo, g_hi;

static void *pa_to_va(u64 pa)
{
	if (pa < g_lo || pa >= g_hi)
		return NULL;
	return (void *)(g_mem + (pa - g_lo));
}

/* multiboot 1: the parser reads at most 511 bytes, then drops the first word (the kernel's
 * path) unless it has a '='. */
static void expect_mb1_cmdline(const char *cmd, char *out, size_t size)
{
	size_t i = 0, j;

	snprintf(out, size, "%s", cmd);
	while (out[i] == ' ')
		i++;
	for (j = i; out[j] && out[j] != ' '; j++)
		if (out[j] == '=')
			return;
	while (out[j] == ' ')
		j++;
	memmove(out, out + j, strlen(out + j) + 1);
}

static void check_str(const char *got, size_t size, const char *want, u32 trunc, u32 flag)
{
	size_t n = strlen(want);

	if (n < size) {
		CHECK(strcmp(got, want) == 0);
	} else {
		CHECK(strlen(got) == size - 1 && strncmp(got, want, size - 1) == 0);
		CHECK(trunc & flag);
	}
}

static u64 usable_top(u64 ram)
{
	if (ram > MB_HIGH_START + MB_TOP_RESERVED)
		return ram - MB_TOP_RESERVED;
	if (ram > MB_HIGH_START)
		return ram;
	return ram < MB_EBDA_START ? ram : MB_EBDA_START;
}

static void check_parsed(int version, const struct mb_guest_desc *g, const u8 *buf, u64 len,
                         u64 base, u64 info)
{
	struct boot_info *bi = malloc(sizeof(*bi));
	const char *cmd = g->cmdline ? g->cmdline : "";
	u8 *pages;
	int r;

	if (version == 2) {
		r = mb2_parse(buf + (info - base), info, bi);
		CHECK(r == 0);
		check_str(bi->cmdline, sizeof(bi->cmdline), cmd, bi->truncated, BOOT_TRUNC_CMDLINE);
	} else {
		char want[sizeof(bi->cmdline)];

		g_lo = base & ~0xfffULL;
		g_hi = (base + len + 0xfff) & ~0xfffULL;
		pages = calloc(1, g_hi - g_lo);
		memcpy(pages + (base - g_lo), buf, len);
		g_mem = pages;
		r = mb1_parse(pages + (info - g_lo), info, pa_to_va, bi);
		free(pages);
		CHECK(r == 0);
		expect_mb1_cmdline(cmd, want, sizeof(want));
		CHECK(strcmp(bi->cmdline, want) == 0);
		CHECK(!(bi->truncated & BOOT_TRUNC_CMDLINE) == (strlen(cmd) < sizeof(want)));
	}
	CHECK(bi->proto == version);
	check_str(bi->loader_name, sizeof(bi->loader_name),
	          g->loader_name ? g->loader_name : "eptvisor", bi->truncated, BOOT_TRUNC_NAME);
	CHECK(bi->nmods == (g->nmods < BOOT_MAX_MODS ? g->nmods : BOOT_MAX_MODS));
	CHECK(!(bi->truncated & BOOT_TRUNC_MODS) == (g->nmods <= BOOT_MAX_MODS));
	for (int i = 0; i < bi->nmods; i++) {
		CHECK(bi->mods[i].start == g->mods[i].start && bi->mods[i].end == g->mods[i].end);
		check_str(bi->mods[i].name, sizeof(bi->mods[i].name),
		          g->mods[i].cmdline ? g->mods[i].cmdline : "", bi->truncated,
		          BOOT_TRUNC_NAME);
	}
	CHECK(bi->nmem >= 4 && bi->nmem <= 7);
	CHECK(boot_mem_top(bi) == usable_top(g->ram_bytes));
	free(bi);
}

/* ---- the target ------------------------------------------------------------------------- */

static void run(int version, const struct mb_guest_desc *g, u64 base, u8 slack)
{
	s64 need = mb_info_size(version, g, base), r;
	u8 *buf;

	if (need < 0) {
		CHECK(need == -EINVAL || need == -ERANGE);
		buf = malloc(64);
		CHECK(mb_info_build(version, g, buf, 64, base) == need);
		free(buf);
		return;
	}
	CHECK(need >= 8 && base + (u64)need <= 0x100000000ULL);
	/* Exactly big enough, with `slack` guard bytes behind that must stay untouched. */
	buf = malloc(need + slack);
	memset(buf + need, 0xa5, slack);
	r = mb_info_build(version, g, buf, need + slack, base);
	CHECK(r == (s64)((base + 7) & ~7ULL) && (u64)r < base + (u64)need);
	for (u8 i = 0; i < slack; i++)
		CHECK(buf[need + i] == 0xa5);
	check_parsed(version, g, buf, need, base, r);
	free(buf);
	/* One byte short, and a size chosen by the input: -ENOMEM, nothing written past. */
	buf = malloc(need - 1);
	CHECK(mb_info_build(version, g, buf, need - 1, base) == -ENOMEM);
	free(buf);
	buf = malloc(slack % need + 1);
	CHECK(mb_info_build(version, g, buf, slack % need, base) == -ENOMEM);
	free(buf);
}

int LLVMFuzzerTestOneInput(const u8 *data, size_t size)
{
	static const u64 rams[] = { 2ULL << 20, 128ULL << 20, 3ULL << 30, (1ULL << 20) + 0x10000 };
	struct in in = { data, size };
	struct mb_module_desc mods[MAX_MODS];
	struct mb_guest_desc g = { 0 };
	int version = byte(&in) % 3; /* 0: a bad version */
	u8 sel = byte(&in), slack;
	u64 base;

	g.ram_bytes = (sel & 4) ? (u64)word(&in) << 8 : rams[sel & 3];
	base = word(&in);
	if (sel & 8)
		base |= (u64)(byte(&in) & 3) << 32; /* sometimes above 4 GiB */
	slack = byte(&in);
	g.nmods = byte(&in) % (MAX_MODS + 1);
	if (sel & 16)
		g.nmods = -g.nmods; /* a broken description */
	g.mods = (sel & 32) && g.nmods == 0 ? NULL : mods;
	g.cmdline = long_str(&in, true);
	g.loader_name = str(&in, 100, true);
	for (int i = 0; i < MAX_MODS; i++) {
		mods[i].start = word(&in);
		mods[i].end = (sel & 64) ? word(&in) | ((u64)(byte(&in) & 1) << 32)
		                         : mods[i].start + byte(&in) * 4096ULL;
		mods[i].cmdline = i < g.nmods ? str(&in, 100, true) : NULL;
	}
	if (version == 0)
		version = (sel & 128) ? 3 : 0;
	run(version, &g, base, slack);
	free((void *)g.cmdline);
	free((void *)g.loader_name);
	for (int i = 0; i < MAX_MODS; i++)
		free((void *)mods[i].cmdline);
	return 0;
}
