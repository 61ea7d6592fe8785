/*
 * Multiboot 1 and 2 information, reduced to what the kernels print: the command line, the
 * basic memory sizes, the memory map and the module count. The info lies below 4 GiB, which
 * entry.S identity-maps.
 */
#include "guests/pc/pc.h"

#define MB1_FLAG_MEM     (1u << 0)
#define MB1_FLAG_CMDLINE (1u << 2)
#define MB1_FLAG_MODS    (1u << 3)
#define MB1_FLAG_MMAP    (1u << 6)

#define MB2_TAG_END     0
#define MB2_TAG_CMDLINE 1
#define MB2_TAG_MODULE  3
#define MB2_TAG_MEMINFO 4
#define MB2_TAG_MMAP    6

struct mb1_info {
	u32 flags, mem_lower, mem_upper, boot_device, cmdline, mods_count, mods_addr;
	u32 syms[4];
	u32 mmap_length, mmap_addr;
} __attribute__((packed));

static void add_mmap(struct bootinfo *bi, u64 base, u64 len, u32 type)
{
	if (bi->nmmap < BI_MAX_MMAP)
		bi->mmap[bi->nmmap++] = (typeof(bi->mmap[0])){ base, len, type };
}

static void copy_cmdline(struct bootinfo *bi, const char *s)
{
	size_t n = strnlen(s, sizeof(bi->cmdline) - 1);

	memcpy(bi->cmdline, s, n);
	bi->cmdline[n] = 0;
}

/* mb1 mmap entries: u32 size (not counting itself), u64 base, u64 length, u32 type. */
static void parse_mb1(const struct mb1_info *mi, struct bootinfo *bi)
{
	if (mi->flags & MB1_FLAG_CMDLINE)
		copy_cmdline(bi, (const char *)(u64)mi->cmdline);
	if (mi->flags & MB1_FLAG_MEM) {
		bi->has_mem = true;
		bi->mem_lower = mi->mem_lower;
		bi->mem_upper = mi->mem_upper;
	}
	if (mi->flags & MB1_FLAG_MODS)
		bi->nmods = mi->mods_count;
	if (!(mi->flags & MB1_FLAG_MMAP))
		return;
	for (u64 p = mi->mmap_addr; p < (u64)mi->mmap_addr + mi->mmap_length;
	     p += *(const u32 *)p + 4) {
		const u8 *e = (const u8 *)p;

		add_mmap(bi, *(const u64 *)(e + 4), *(const u64 *)(e + 12), *(const u32 *)(e + 20));
	}
}

/* mb2 mmap tag: u32 type, size, entry_size, entry_version; entries of u64 base, len, u32 type. */
static void parse_mb2_mmap(const u8 *tag, u32 size, struct bootinfo *bi)
{
	u32 esize = *(const u32 *)(tag + 8);

	for (u32 off = 16; esize && off + esize <= size; off += esize)
		add_mmap(bi, *(const u64 *)(tag + off), *(const u64 *)(tag + off + 8),
		         *(const u32 *)(tag + off + 16));
}

static void parse_mb2(const u8 *info, struct bootinfo *bi)
{
	u32 total = *(const u32 *)info;

	for (u32 off = 8; off + 8 <= total;) {
		const u8 *tag = info + off;
		u32 type = *(const u32 *)tag, size = *(const u32 *)(tag + 4);

		if (type == MB2_TAG_END || size < 8)
			break;
		if (type == MB2_TAG_CMDLINE)
			copy_cmdline(bi, (const char *)(tag + 8));
		else if (type == MB2_TAG_MODULE)
			bi->nmods++;
		else if (type == MB2_TAG_MEMINFO) {
			bi->has_mem = true;
			bi->mem_lower = *(const u32 *)(tag + 8);
			bi->mem_upper = *(const u32 *)(tag + 12);
		} else if (type == MB2_TAG_MMAP)
			parse_mb2_mmap(tag, size, bi);
		off += (size + 7) & ~7u;
	}
}

/* The command line after its first word. */
static const char *skip_first_word(const char *cmdline)
{
	while (*cmdline && *cmdline != ' ')
		cmdline++;
	while (*cmdline == ' ')
		cmdline++;
	return cmdline;
}

int bootinfo_parse(u32 magic, u64 info, struct bootinfo *bi)
{
	memset(bi, 0, sizeof(*bi));
	bi->args = bi->cmdline;
	if (magic == MB1_BOOT_MAGIC) {
		/* QEMU -kernel and GRUB's `multiboot` pass "<kernel path> <args>"; GRUB's
		 * `multiboot2` passes only the args. */
		parse_mb1((const struct mb1_info *)info, bi);
		bi->args = skip_first_word(bi->cmdline);
	} else if (magic == MB2_BOOT_MAGIC)
		parse_mb2((const u8 *)info, bi);
	else
		return -1;
	return 0;
}
