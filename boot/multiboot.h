/*
 * The few multiboot1 and multiboot2 boot-information definitions boot/multiboot.c needs
 * (from the Multiboot Specifications 0.6.96 and 2.0). Offsets rather than packed structs:
 * the parser reads every field with memcpy, so hostile or unaligned info is never
 * dereferenced through a misaligned pointer.
 */
#ifndef EPTVISOR_BOOT_MULTIBOOT_H
#define EPTVISOR_BOOT_MULTIBOOT_H

#include "types.h"

/* ---- multiboot2: u32 total_size, u32 reserved, then 8-aligned tags {u32 type, u32 size} */
#define MB2_INFO_HDR  8
#define MB2_TAG_HDR   8
#define MB2_TAG_ALIGN 8
#define MB2_INFO_MAX  (1U << 20) /* sanity bound on total_size; GRUB's info is a few KiB */

#define MB2_TAG_END       0
#define MB2_TAG_CMDLINE   1 /* string */
#define MB2_TAG_LOADER    2 /* string */
#define MB2_TAG_MODULE    3 /* u32 mod_start, u32 mod_end, string */
#define MB2_TAG_BASIC_MEM 4 /* u32 mem_lower, u32 mem_upper (KiB) */
#define MB2_TAG_MMAP      6 /* u32 entry_size, u32 entry_version, entries */

#define MB2_MODULE_HDR     16 /* tag header + mod_start + mod_end */
#define MB2_MMAP_HDR       16 /* tag header + entry_size + entry_version */
#define MB2_MMAP_ENTRY_MIN 24 /* u64 base, u64 len, u32 type, u32 reserved */

/* ---- multiboot1: a fixed structure whose fields are valid per `flags` bit ---------------- */
#define MB1_INFO_SIZE 116 /* through the framebuffer fields (spec 0.6.96) */

#define MB1_F_MEM     BIT(0) /* mem_lower, mem_upper */
#define MB1_F_CMDLINE BIT(2)
#define MB1_F_MODS    BIT(3)
#define MB1_F_MMAP    BIT(6)
#define MB1_F_LOADER  BIT(9)

#define MB1_OFF_FLAGS       0
#define MB1_OFF_MEM_LOWER   4
#define MB1_OFF_MEM_UPPER   8
#define MB1_OFF_CMDLINE     16
#define MB1_OFF_MODS_COUNT  20
#define MB1_OFF_MODS_ADDR   24
#define MB1_OFF_MMAP_LENGTH 44
#define MB1_OFF_MMAP_ADDR   48
#define MB1_OFF_LOADER      64
#define MB1_READ_SIZE       68 /* bytes of the fixed structure the parser reads */

#define MB1_MODULE_SIZE    16 /* u32 mod_start, mod_end, string, reserved */
#define MB1_MMAP_ENTRY_MIN 20 /* after the u32 size: u64 base, u64 len, u32 type */

#endif
