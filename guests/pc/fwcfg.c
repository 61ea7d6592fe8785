/* QEMU fw_cfg through its legacy I/O ports: write the key to 0x510, read bytes from 0x511. */
#include "guests/pc/pc.h"

#define FW_CFG_PORT_SEL  0x510
#define FW_CFG_PORT_DATA 0x511

/* Select KEY and read its first LEN bytes into BUF (items are little-endian). */
void fw_cfg_read(u16 key, void *buf, size_t len)
{
	u8 *p = buf;

	outw(FW_CFG_PORT_SEL, key);
	while (len--)
		*p++ = inb(FW_CFG_PORT_DATA);
}
