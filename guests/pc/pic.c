/* The two 8259 PICs: remapped to vectors 0x20/0x28 (off the exceptions) and fully masked. */
#include "guests/pc/pc.h"

#define PIC1_CMD       0x20
#define PIC1_DATA      0x21
#define PIC2_CMD       0xa0
#define PIC2_DATA      0xa1
#define ICW1_INIT_ICW4 0x11
#define ICW4_8086      0x01

/* Initialise both PICs (cascade on IRQ 2) and mask every line. Returns true if both IMRs
 * read back as 0xff. */
bool pic_remap_and_mask(void)
{
	outb(PIC1_CMD, ICW1_INIT_ICW4);
	outb(PIC2_CMD, ICW1_INIT_ICW4);
	outb(PIC1_DATA, 0x20);
	outb(PIC2_DATA, 0x28);
	outb(PIC1_DATA, 1 << 2);
	outb(PIC2_DATA, 2);
	outb(PIC1_DATA, ICW4_8086);
	outb(PIC2_DATA, ICW4_8086);
	outb(PIC1_DATA, 0xff);
	outb(PIC2_DATA, 0xff);
	return inb(PIC1_DATA) == 0xff && inb(PIC2_DATA) == 0xff;
}
