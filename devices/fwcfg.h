/*
 * QEMU's fw_cfg device, traditional I/O interface only (hw/nvram/fw_cfg.c):
 *   0x510  16-bit write: select an item (the offset goes back to 0)
 *   0x511  8-bit read: the next byte of the selected item (0 past its end or for an item that
 *          does not exist); 8-bit writes are ignored, as in QEMU since 2.4
 * The DMA interface (0x514) is not offered and the ID item says so. Guests use fw_cfg to
 * detect QEMU and to learn the RAM size and CPU count; no files are offered (FILE_DIR is
 * empty), so no ACPI tables, no e820 table, no kernel/initrd items.
 */
#ifndef EPTVISOR_DEVICES_FWCFG_H
#define EPTVISOR_DEVICES_FWCFG_H

#include "types.h"

#define FWCFG_PORT_SEL  0x510
#define FWCFG_PORT_DATA 0x511

#define FW_CFG_SIGNATURE     0x00
#define FW_CFG_ID            0x01
#define FW_CFG_UUID          0x02
#define FW_CFG_RAM_SIZE      0x03
#define FW_CFG_NOGRAPHIC     0x04
#define FW_CFG_NB_CPUS       0x05
#define FW_CFG_NUMA          0x0d
#define FW_CFG_MAX_CPUS      0x0f
#define FW_CFG_FILE_DIR      0x19
#define FW_CFG_WRITE_CHANNEL 0x4000 /* ignored in the key, as QEMU does */
#define FW_CFG_ARCH_LOCAL    0x8000 /* x86-specific items: none offered */

struct fwcfg {
	u16 key;    /* the selected item */
	u32 offset; /* next byte of it to read */
	u64 ram_bytes;
	u16 ncpus;
};

void fwcfg_init(struct fwcfg *f, u64 ram_bytes, u16 ncpus);
/* A 16-bit write to the selector port. */
void fwcfg_select(struct fwcfg *f, u16 key);
/* An 8-bit read of the data port: the next byte of the selected item, or 0. */
u8 fwcfg_read(struct fwcfg *f);

#endif
