/*
 * Multiboot guest-kernel images: find the multiboot 1 or 2 header, work out which bytes of the
 * file go to which guest-physical addresses, and refuse anything that would not load cleanly,
 * with one readable line saying why. Pure C (kernel and host tests); the caller copies the
 * segments into guest memory and builds the boot information with loader/mbinfo.h.
 *
 * What is accepted, and where it follows QEMU -kernel (hw/i386/multiboot.c) or GRUB:
 *   multiboot 1: header 4-aligned, wholly inside the first 8192 bytes (QEMU, spec). Flags bit 16
 *     (a.out kludge) wins over ELF (QEMU, GRUB); else an ELF32 file (EM_386, or EM_X86_64 as
 *     `objcopy -O elf32-x86-64` makes: QEMU refuses that one, we need not) loaded by PT_LOAD
 *     at p_paddr. ELF64 is refused, as QEMU does ("Cannot load x86-64 image"; GRUB would
 *     load it). Flag bits 3..15 are requirements nobody defines: refused (GRUB); bit 2 (video)
 *     is accepted and ignored: the guest gets no framebuffer.
 *   multiboot 2: header 8-aligned inside the first 32768 bytes, architecture 0 (i386); ELF32
 *     or ELF64 by p_paddr, or the address tag (the a.out kludge of mb2). Header tags we cannot
 *     honour (EFI entry points, EFI boot services, unknown types) are refused unless marked
 *     optional. Information requests: like GRUB, any known tag type is accepted (those we do
 *     not provide are listed in mb2_unprovided), an unknown one is refused unless optional.
 *   When both headers are present, multiboot 2 is used (it loads ELF64 too).
 *   ELF entry: e_entry is translated to a physical address when it lies in a PT_LOAD's virtual
 *     range and that segment has p_vaddr != p_paddr (QEMU's load_elf, GRUB).
 */
#ifndef EPTVISOR_LOADER_MBIMAGE_H
#define EPTVISOR_LOADER_MBIMAGE_H

#include "types.h"

#define MB_MAX_SEGMENTS 16

#define MB1_HEADER_MAGIC 0x1BADB002U
#define MB1_SEARCH_BYTES 8192
#define MB2_HEADER_MAGIC 0xE85250D6U
#define MB2_SEARCH_BYTES 32768

/* Multiboot 1 header flags. */
#define MB1_HF_PAGE_ALIGN  BIT(0) /* modules page-aligned */
#define MB1_HF_MEMINFO     BIT(1) /* mem_* and mmap wanted (always given) */
#define MB1_HF_VIDEO       BIT(2) /* video mode wanted (ignored) */
#define MB1_HF_AOUT_KLUDGE BIT(16)
#define MB1_HF_UNSUPPORTED 0x0000fff8U

/* The PC hole guest RAM has no memory behind: VGA, option ROMs, BIOS. */
#define MB_PC_HOLE_START 0xA0000ULL
#define MB_PC_HOLE_END   0x100000ULL

struct mb_segment {
	gpa_t gpa;
	u64 file_off;
	u64 filesz; /* bytes copied from image + file_off to gpa ... */
	u64 memsz;  /* ... and zeroes from gpa + filesz up to gpa + memsz */
};

struct mb_image {
	int version; /* 1 or 2 */
	gpa_t entry; /* 32-bit physical entry point (EAX = magic, EBX = info) */
	int nsegs;
	struct mb_segment seg[MB_MAX_SEGMENTS];
	gpa_t lowest, highest_end; /* [lowest, highest_end) spans every segment */
	u64 header_off;            /* where the multiboot header is in the file */
	u32 mb1_flags;             /* multiboot 1 header flags (MB1_HF_*) */
	bool mb2_wants_mmap;       /* mb2: memory map requested (given anyway) */
	bool mb2_module_align;     /* mb2: module alignment tag present (page-align modules) */
	u32 mb2_requested;         /* mb2: bit n = information tag type n requested (n < 32) */
	u32 mb2_unprovided;        /* mb2: requested types mb_info_build does not provide */
	const char *format;        /* "ELF32", "ELF64" or "a.out kludge", for the log */
};

/*
 * Parse and validate the image img[0..size) for a guest with RAM [0, ram_bytes), none of whose
 * segments may touch [reserved_lo, reserved_hi) (where the caller puts the boot information,
 * command line and modules; 0, 0 for none) or the PC hole [0xA0000, 0x100000).
 * Every segment lies in RAM, no two overlap, filesz <= memsz, the file bytes exist, at most
 * MB_MAX_SEGMENTS, and the entry point lies inside a segment.
 * Returns 0 with *out filled, or a negative errno with one line (no newline) in err[errlen]:
 *   -ENOEXEC no (valid) header or an empty image (never -ENOENT: callers use that for a
 *   missing file), -EINVAL malformed or unsupported image, -ERANGE a segment or the
 *   entry in the wrong place, -E2BIG too many segments or absurd sizes.
 * @pre img readable for size bytes; err may be NULL when errlen is 0.
 */
int mb_image_parse(const u8 *img, u64 size, u64 ram_bytes, gpa_t reserved_lo, gpa_t reserved_hi,
                   struct mb_image *out, char *err, size_t errlen);

#endif
