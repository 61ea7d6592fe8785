/*
 * The PCI configuration ports and the i440FX host bridge behind them (see pcihost.h), as
 * QEMU's hw/pci/pci_host.c and hw/pci-host/i440fx.c answer them: CONFIG_ADDRESS is one
 * 32-bit register (narrower writes are ignored, narrower reads return its low bytes),
 * CONFIG_DATA reads all-ones while the enable bit is clear or no device is addressed.
 */
#include "devices/pcihost.h"
#include "lib.h"

#define PCI_VENDOR_ID     0x00
#define PCI_DEVICE_ID     0x02
#define PCI_COMMAND       0x04
#define PCI_REVISION      0x08
#define PCI_CLASS_PROG    0x09
#define PCI_CACHE_LINE    0x0c
#define PCI_LATENCY       0x0d
#define PCI_SUBSYS_VENDOR 0x2c
#define PCI_SUBSYS_ID     0x2e
#define PCI_INTERRUPT     0x3c
#define PCI_DEVSPECIFIC   0x40
#define CMD_WRITABLE      0x0507 /* I/O, memory, bus master, INTx disable (pci_init_wmask) */

static void put16(u8 *p, int off, u16 v)
{
	p[off] = (u8)v;
	p[off + 1] = (u8)(v >> 8);
}

void pcihost_init(struct pcihost *h)
{
	memset(h, 0, sizeof(*h));
	put16(h->config, PCI_VENDOR_ID, 0x8086);
	put16(h->config, PCI_DEVICE_ID, 0x1237); /* 82441FX (i440FX PMC) */
	h->config[PCI_REVISION] = 0x02;
	h->config[PCI_CLASS_PROG + 2] = 0x06; /* bridge */
	h->config[PCI_CLASS_PROG + 1] = 0x00; /* host bridge; header type 0 at 0x0e */
	put16(h->config, PCI_SUBSYS_VENDOR, 0x1af4);
	put16(h->config, PCI_SUBSYS_ID, 0x1100);
}

/* The register offset addressed at the data port, or -1 when no device answers. */
static int pcihost_target(const struct pcihost *h, u16 port)
{
	if (!(h->addr & PCI_ADDR_EN) || (h->addr & 0x00ffff00)) /* bus 0, device 0, function 0 */
		return -1;
	return (int)((h->addr & 0xfc) | (port & 3));
}

/* Which bits of a configuration byte the guest may change (QEMU's wmask). */
static u8 pcihost_wmask(int off)
{
	if (off == PCI_COMMAND || off == PCI_COMMAND + 1)
		return (u8)(CMD_WRITABLE >> (8 * (off - PCI_COMMAND)));
	if (off == PCI_CACHE_LINE || off == PCI_LATENCY || off == PCI_INTERRUPT)
		return 0xff;
	return off >= PCI_DEVSPECIFIC ? 0xff : 0;
}

u32 pcihost_read(struct pcihost *h, u16 port, int size)
{
	u32 mask = size >= 4 ? ~0u : (u32)BIT(8 * size) - 1;
	u32 v = 0;
	int off;

	if (port == PCI_PORT_RCR && size == 1)
		return h->rcr;
	if (port < PCI_PORT_DATA)
		return h->addr & mask;
	off = pcihost_target(h, port);
	if (off < 0)
		return mask;
	/* Bytes past 0xcff belong to other ports, which have nothing: all-ones. */
	for (int i = 0; i < size; i++) {
		u8 b = 0xff;

		if (port + i <= PCI_PORT_DATA + 3)
			b = h->config[(off + i) & (PCI_CONFIG_LEN - 1)];
		v |= (u32)b << (8 * i);
	}
	return v;
}

bool pcihost_write(struct pcihost *h, u16 port, int size, u32 val)
{
	int off;

	if (port == PCI_PORT_RCR && size == 1) {
		if (val & PCI_RCR_RESET)
			return true;
		h->rcr = val & PCI_RCR_HARD;
		return false;
	}
	if (port < PCI_PORT_DATA) {
		if (port == PCI_PORT_ADDR && size == 4)
			h->addr = val;
		return false;
	}
	off = pcihost_target(h, port);
	for (int i = 0; off >= 0 && i < size && port + i <= PCI_PORT_DATA + 3; i++) {
		int o = (off + i) & (PCI_CONFIG_LEN - 1);
		u8 m = pcihost_wmask(o), b = (u8)(val >> (8 * i));

		h->config[o] = (u8)((h->config[o] & ~m) | (b & m));
	}
	return false;
}
