/*
 * fw_cfg items (see fwcfg.h). Items are produced on demand from the VM's configuration, so
 * the device holds nothing but the selection and the read offset.
 */
#include "devices/fwcfg.h"
#include "lib.h"

#define FW_CFG_ID_TRADITIONAL 0x1 /* bit 1 (DMA) is clear: the DMA interface is absent */
#define FWCFG_ITEM_MAX        16

void fwcfg_init(struct fwcfg *f, u64 ram_bytes, u16 ncpus)
{
	memset(f, 0, sizeof(*f));
	f->ram_bytes = ram_bytes;
	f->ncpus = ncpus;
}

void fwcfg_select(struct fwcfg *f, u16 key)
{
	f->key = key & (u16)~FW_CFG_WRITE_CHANNEL;
	f->offset = 0;
}

static int put_le(u8 *buf, u64 v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		buf[i] = (u8)(v >> (8 * i));
	return bytes;
}

/* The bytes of item key into buf; their number, 0 for an item that does not exist. */
static int fwcfg_item(const struct fwcfg *f, u16 key, u8 *buf)
{
	switch (key) {
	case FW_CFG_SIGNATURE:
		memcpy(buf, "QEMU", 4);
		return 4;
	case FW_CFG_ID:
		return put_le(buf, FW_CFG_ID_TRADITIONAL, 4);
	case FW_CFG_UUID:
		memset(buf, 0, 16);
		return 16;
	case FW_CFG_RAM_SIZE:
		return put_le(buf, f->ram_bytes, 8);
	case FW_CFG_NOGRAPHIC:
		return put_le(buf, 1, 2);
	case FW_CFG_NB_CPUS:
	case FW_CFG_MAX_CPUS:
		return put_le(buf, f->ncpus, 2);
	case FW_CFG_NUMA:
		return put_le(buf, 0, 8);
	case FW_CFG_FILE_DIR:
		return put_le(buf, 0, 4); /* the count is big-endian; zero reads the same */
	default:
		return 0;
	}
}

u8 fwcfg_read(struct fwcfg *f)
{
	u8 buf[FWCFG_ITEM_MAX];
	int len = fwcfg_item(f, f->key, buf);

	if (f->offset >= (u32)len)
		return 0;
	return buf[f->offset++];
}
