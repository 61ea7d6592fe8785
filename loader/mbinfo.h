/*
 * The multiboot information a guest kernel finds at EBX: built here into a host buffer that
 * the caller copies to guest-physical `base`, with every pointer already a guest-physical
 * address. Pure C (kernel and host tests).
 *
 * Multiboot 1, as QEMU -kernel gives it: flags MEM | BOOT_DEVICE | CMDLINE | MODS | MMAP |
 * LOADER_NAME, boot_device 0x8000ffff, then (8-aligned) the module list, the memory map and
 * the strings. Multiboot 2, as GRUB orders its tags: cmdline (1), boot loader name (2), one
 * module tag per module (3), basic meminfo (4), mmap (6; entry_size 24, version 0), end (0).
 *
 * The memory map is the e820 map SeaBIOS gives a guest of QEMU 7.2's pc machine (which its
 * multiboot option ROM and GRUB pass on), entry for entry, so a kernel prints the same map
 * under QEMU and under eptvisor:
 *   [0, 0x9fc00)             usable (1)      below the EBDA
 *   [0x9fc00, 0xa0000)       reserved (2)    EBDA
 *                            (no entry for [0xa0000, 0xf0000): VGA and option ROMs)
 *   [0xf0000, 0x100000)      reserved (2)    BIOS
 *   [0x100000, ram - 128K)   usable (1)
 *   [ram - 128K, ram)        reserved (2)    SeaBIOS' tables (ACPI etc.; empty here)
 *   [0xfffc0000, 4G)         reserved (2)    BIOS flash
 *   [0xfd00000000, 1T)       reserved (2)    QEMU's HyperTransport hole
 * mem_lower is 639 KiB (0x9fc00, what int 0x12 reports under SeaBIOS and QEMU's multiboot
 * option ROM passes on), mem_upper the KiB of the usable range from 1 MiB. Guest RAM above
 * 4 GiB is not expected (eptvisor gives at most 3 GiB).
 */
#ifndef EPTVISOR_LOADER_MBINFO_H
#define EPTVISOR_LOADER_MBINFO_H

#include "types.h"

#define MB1_BOOTLOADER_MAGIC 0x2BADB002U /* EAX at a multiboot 1 entry */
#define MB2_BOOTLOADER_MAGIC 0x36D76289U /* EAX at a multiboot 2 entry */

#define MB_EBDA_START   0x9fc00ULL
#define MB_BIOS_START   0xf0000ULL
#define MB_HIGH_START   0x100000ULL
#define MB_MEM_LOWER_KB (MB_EBDA_START >> 10)
#define MB_TOP_RESERVED 0x20000ULL
#define MB_FLASH_START  0xfffc0000ULL
#define MB_FLASH_END    0x100000000ULL
#define MB_HT_START     0xfd00000000ULL
#define MB_HT_END       0x10000000000ULL
#define MB1_BOOT_DEVICE 0x8000ffffU /* QEMU's: first hard disk, no partition */

/* Guest memory map entry types. */
#define MB_MEM_USABLE   1
#define MB_MEM_RESERVED 2

/* One range of the guest's memory map, in e820 terms. */
struct mb_mem_range {
	u64 base, len;
	u32 type; /* MB_MEM_USABLE or MB_MEM_RESERVED */
};

#define MB_MEM_RANGES 7 /* the most mb_memory_map returns */

/* The memory map above for a guest with ram bytes of RAM into r; returns the number of
 * ranges, in ascending order. The Linux loader (loader/bzimage.h) gives the same map. */
int mb_memory_map(u64 ram, struct mb_mem_range r[MB_MEM_RANGES]);

struct mb_module_desc {
	gpa_t start, end;    /* [start, end), already in guest RAM, below 4 GiB */
	const char *cmdline; /* the module's string; NULL = "" */
};

struct mb_guest_desc {
	u64 ram_bytes;           /* guest RAM [0, ram_bytes), minus the PC hole above */
	const char *cmdline;     /* "<kernel name> <args>", as QEMU passes it; NULL = "" */
	const char *loader_name; /* NULL = "eptvisor" */
	int nmods;
	const struct mb_module_desc *mods;
};

/*
 * Build the multiboot `version` (1 or 2) information for guest g into buf[0..buflen), which
 * the caller copies to guest-physical base: the structure first (at base rounded up to 8),
 * then everything it points to. Returns the guest-physical address of the structure (EBX), or
 * -ENOMEM when buf is too small (its contents are then undefined), -EINVAL for a bad version,
 * nmods < 0 or mods missing, -ERANGE when a pointer would not fit in 32 bits (buf or a module
 * above 4 GiB, a module ending before it starts).
 */
s64 mb_info_build(int version, const struct mb_guest_desc *g, u8 *buf, u64 buflen, gpa_t base);

/* Bytes of buf that mb_info_build(version, g, ...) needs at `base`, or a negative errno. */
s64 mb_info_size(int version, const struct mb_guest_desc *g, gpa_t base);

#endif
