/*
 * Linux bzImage guest kernels (the x86 boot protocol, Documentation/arch/x86/boot.rst):
 * parse the setup header, refuse what would not boot cleanly with one readable line saying
 * why, and plan where everything goes in guest RAM. Pure C (kernel and host tests); the caller
 * copies each planned piece into guest memory and starts vCPU 0 at the entry.
 *
 * Entry: the 32-bit boot protocol (protected mode at code32_start, ESI = boot_params, flat
 * 4 GiB segments with CS = 0x10 and DS = ES = SS = 0x18, IF = 0, paging off). Chosen over
 * the 64-bit entry (load address + 0x200) because it is the state PC guests already start in
 * (multiboot's, pc/vm.c) and needs nothing more from the loader, whereas the 64-bit entry
 * needs identity-mapped page tables over the kernel, boot_params and the command line and
 * a vCPU started in IA-32e mode. Every kernel with protocol >= 2.12 has the 32-bit entry;
 * XLF_KERNEL_64 is only reported.
 *
 * Guest-physical layout (RAM from the caller's memory map, usable ranges only):
 *   0x10000            boot_params (the zero page, 4 KiB)
 *   0x20000            the command line, at most cmdline_size bytes plus its NUL
 *   pref_address       the protected-mode kernel (aligned up to kernel_alignment when the
 *                      kernel is relocatable); [load, load + init_size) is the kernel's and
 *                      nothing else may be there
 *   high               the initrd, page aligned, ending as high as possible below
 *                      min(initrd_addr_max + 1, the top of usable RAM)
 * A relocatable kernel is loaded where it will run (its runtime start address), as GRUB
 * does, so it need not move itself; so is a non-relocatable one (at pref_address).
 */
#ifndef EPTVISOR_LOADER_BZIMAGE_H
#define EPTVISOR_LOADER_BZIMAGE_H

#include "loader/mbinfo.h"
#include "types.h"

#define BZ_BOOT_FLAG     0xaa55
#define BZ_HDRS_MAGIC    0x53726448U /* "HdrS" */
#define BZ_MIN_PROTOCOL  0x020c      /* 2.12: xloadflags, the last field we rely on */
#define BZ_HEADER_OFFSET 0x1f1       /* struct setup_header in the file and in boot_params */
#define BZ_HEADER_END    0x290       /* boot_params' edd_mbr_sig_buffer: the header's limit */
#define BZ_PARAMS_BYTES  4096
#define BZ_E820_MAX      128 /* e820_table entries in the zero page */

/* loadflags */
#define BZ_LOADED_HIGH  BIT(0)
#define BZ_CAN_USE_HEAP BIT(7)
/* xloadflags */
#define BZ_XLF_KERNEL_64 BIT(0)

/* Where the loader puts the zero page and the command line (below 1 MiB, usable RAM). */
#define BZ_PARAMS_GPA    0x10000ULL
#define BZ_CMDLINE_GPA   0x20000ULL
#define BZ_CMDLINE_LIMIT 0x10000ULL /* bytes kept for it, NUL included */
#define BZ_LOW_LIMIT     0x100000ULL

/* The setup header's fields the loader uses, as read from the file. */
struct bz_header {
	u16 version;      /* boot protocol, 0x020f = 2.15 */
	u32 setup_bytes;  /* (setup_sects, 0 meaning 4, + 1) * 512: where the kernel starts */
	u64 kernel_bytes; /* syssize * 16: the protected-mode kernel's length in the file */
	u8 loadflags;
	u32 code32_start;
	u32 initrd_addr_max;
	u32 kernel_alignment;
	bool relocatable;
	u16 xloadflags;
	u32 cmdline_size; /* longest command line, NUL excluded */
	u64 pref_address;
	u32 init_size;
	u32 header_end; /* the header's end in the file (0x202 + its jump's offset), capped */
};

/* One piece of guest memory to fill: len bytes from src to gpa. */
struct bz_copy {
	gpa_t gpa;
	const void *src;
	u64 len;
	const char *what; /* "kernel", "boot_params", "command line", "initrd" */
};

#define BZ_MAX_COPIES 4

/* What the caller gives the guest. */
struct bz_guest {
	const struct mb_mem_range *map; /* the guest's memory map (mb_memory_map) */
	int nmap;
	const char *cmdline; /* the kernel's command line; NULL = "" */
	const u8 *initrd;    /* NULL: none */
	u64 initrd_len;
	u64 load_limit; /* what the loader writes ends below this (0: the map alone says) */
};

struct bz_plan {
	struct bz_header hdr;
	gpa_t load;        /* the protected-mode kernel's address = the 32-bit entry */
	gpa_t kernel_end;  /* load + max(init_size, its bytes in the file) */
	gpa_t entry;       /* EIP at the 32-bit entry */
	gpa_t entry64;     /* load + 0x200 with XLF_KERNEL_64, else 0 (not used) */
	gpa_t boot_params; /* ESI */
	gpa_t initrd, initrd_end;
	int ncopies;
	struct bz_copy copy[BZ_MAX_COPIES];
	u8 params[BZ_PARAMS_BYTES]; /* the zero page, copied to boot_params */
};

/* True when img[0..size) carries a bzImage's setup header (boot flag and "HdrS" magic). */
bool bz_is_bzimage(const u8 *img, u64 size);

/*
 * Read and validate the setup header of img[0..size). Returns 0 with *out filled (and err
 * empty), or a negative errno with one line (no newline) in err[errlen]:
 *   -ENOEXEC not a bzImage (too short for the header, no boot flag or "HdrS"),
 *   -EINVAL unsupported (protocol below 2.12, not LOADED_HIGH),
 *   -E2BIG sizes out of range or overflowing (the kernel past the file's end, init_size
 *   smaller than the kernel, an alignment that is not a power of two).
 * @pre img readable for size bytes; err may be NULL when errlen is 0.
 */
int bz_header_parse(const u8 *img, u64 size, struct bz_header *out, char *err, size_t errlen);

/*
 * Parse img and plan the guest g: where the kernel, the zero page, the command line and the
 * initrd go (layout above), and the zero page itself (out->params): the file's setup header
 * copied at 0x1f1, type_of_loader 0xff, loadflags | CAN_USE_HEAP, heap_end_ptr, code32_start,
 * cmd_line_ptr, ramdisk_image/size and their ext_ high halves, the e820 table from g->map,
 * acpi_rsdp_addr 0. Every planned piece lies in one usable range of g->map and no two overlap.
 * Returns 0, or what bz_header_parse returns, or:
 *   -E2BIG the command line is longer than the kernel's cmdline_size (or our room for it),
 *   -ENOSPC the kernel's init_size or the initrd do not fit in usable RAM where they must go,
 *   -ERANGE a load address below 1 MiB or the kernel above 4 GiB,
 *   -EINVAL a bad map (NULL, more than BZ_E820_MAX entries) or initrd.
 * @pre img readable for size bytes, g->initrd for g->initrd_len; out->copy[] points into img,
 * g's strings and out->params: they must outlive the copies.
 */
int bz_plan_build(const u8 *img, u64 size, const struct bz_guest *g, struct bz_plan *out, char *err,
                  size_t errlen);

#endif
