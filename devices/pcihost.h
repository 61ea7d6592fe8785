/*
 * PCI configuration mechanism #1 (ports 0xcf8 / 0xcfc-0xcff) with one device on it: an
 * i440FX host bridge at 00:00.0, as QEMU's pc machine has it (8086:1237, revision 2, class
 * 0x060000, subsystem 1af4:1100), and nothing else: every other bus, device and function
 * reads all-ones, which is how a driver sees an empty slot. The bridge's registers are
 * writable where QEMU's pci_init_wmask lets them be (command, cache line, latency timer,
 * interrupt line, and 0x40-0xff, where the i440FX keeps its PAM and SMRAM bytes), with no
 * effect on memory: the PAM and SMRAM bytes are stored only.
 *
 * 0xcf9 (one byte) is the PIIX's reset control register: a write with bit 2 set asks for a
 * reset of the machine (QEMU's piix_rcr_write), bit 1 (hard reset) is kept for reads.
 */
#ifndef EPTVISOR_DEVICES_PCIHOST_H
#define EPTVISOR_DEVICES_PCIHOST_H

#include "types.h"

#define PCI_PORT_ADDR  0xcf8
#define PCI_PORT_RCR   0xcf9
#define PCI_PORT_DATA  0xcfc
#define PCI_ADDR_EN    0x80000000u
#define PCI_RCR_RESET  0x04
#define PCI_RCR_HARD   0x02
#define PCI_CONFIG_LEN 256

struct pcihost {
	u32 addr; /* CONFIG_ADDRESS: enable, bus, device, function, register */
	u8 rcr;
	u8 config[PCI_CONFIG_LEN]; /* the host bridge's configuration space */
};

void pcihost_init(struct pcihost *h);
/* A read of size bytes (1, 2, 4) at port 0xcf8-0xcff; the value, upper bits zero. */
u32 pcihost_read(struct pcihost *h, u16 port, int size);
/* A write; true when it asks for a reset (0xcf9 with bit 2). */
bool pcihost_write(struct pcihost *h, u16 port, int size, u32 val);

#endif
