/*
 * What the boot loader told us, in one loader-independent struct. boot/multiboot.c fills it
 * from multiboot2 (GRUB) or multiboot1 (qemu -kernel) information; everything is copied out
 * of the loader's memory, so only the modules (and, until parsed, the info) need reserving.
 * Pure C: parsed the same way in the kernel and in host tests.
 */
#ifndef EPTVISOR_BOOTINFO_H
#define EPTVISOR_BOOTINFO_H

#include "types.h"

#define BOOT_MAX_MEM  64
#define BOOT_MAX_MODS 16
/* GRUB 2 passes command lines of any length; longer ones than this are cut and reported. */
#define BOOT_CMDLINE_MAX 4096

#define BOOT_MEM_USABLE 1 /* multiboot memory type 1: available RAM */

/* Bits of boot_info.truncated: what did not fit and was cut (the first entries are kept). */
#define BOOT_TRUNC_CMDLINE BIT(0) /* command line longer than cmdline[] */
#define BOOT_TRUNC_MEM     BIT(1) /* more than BOOT_MAX_MEM memory-map entries */
#define BOOT_TRUNC_MODS    BIT(2) /* more than BOOT_MAX_MODS modules */
#define BOOT_TRUNC_NAME    BIT(3) /* a module string or the loader name was cut */

struct boot_mem {
	u64 base, len;
	u32 type; /* 1 = usable, as in the multiboot mmap */
};

struct boot_mod {
	u64 start, end; /* physical range [start, end) */
	char name[64];  /* the module's string (GRUB: path and arguments) */
};

struct boot_info {
	char cmdline[BOOT_CMDLINE_MAX];
	struct boot_mem mem[BOOT_MAX_MEM];
	int nmem;
	struct boot_mod mods[BOOT_MAX_MODS];
	int nmods;
	u64 info_start, info_end; /* physical range of the multiboot info itself (to reserve) */
	const char *loader;       /* boot loader name if given, else ""; points at loader_name */
	int proto;                /* 1 or 2 */
	u32 truncated;            /* BOOT_TRUNC_* bits */
	char loader_name[64];     /* storage behind `loader` (do not copy the struct by value) */
};

/*
 * Parse multiboot2 information at `info` (its physical address is `info_pa`, 8-byte aligned)
 * into `out`. The caller guarantees that the info's total_size bytes are readable; nothing
 * outside them is read, whatever they contain. Returns 0, or -EINVAL for malformed info (bad
 * total size, misaligned or overlong tag, no end tag, bad mmap entry size, module end < start,
 * memory range wrapping past 2^64). `out` is fully rewritten either way.
 */
int mb2_parse(const void *info, u64 info_pa, struct boot_info *out);

/*
 * Parse multiboot1 information: the fixed structure at `info` (physical `info_pa`) is read
 * directly; everything it points to (command line, modules, memory map, loader name) is read
 * through `pa_to_va`, which must return a pointer valid up to the end of pa's 4 KiB page, or
 * NULL when pa is not readable (then the result is -EINVAL). The first word of a multiboot1
 * command line is the kernel's path (QEMU and GRUB both put it there) and is dropped when it
 * contains no '='. Returns 0 or -EINVAL, as mb2_parse.
 */
int mb1_parse(const void *info, u64 info_pa, void *(*pa_to_va)(u64 pa), struct boot_info *out);

/* End (exclusive) of the highest usable byte in the memory map; 0 when nothing is usable. */
u64 boot_mem_top(const struct boot_info *bi);

#endif
