/*
 * apic_garbage.elf: in long mode, writes garbage to the LAPIC page: to read-only registers,
 * to reserved offsets, with byte-wide and unaligned accesses, and an ICR with reserved
 * delivery modes. Then checks that ID and version did not change and exits through 0xf4
 * with code 0. Interrupts stay off throughout, so whatever the ICR writes set pending is
 * never taken.
 */
#include "guests/pc/pc.h"

#define ICR_MODE_RESERVED3 0x300
#define ICR_SELF           0x40000
#define NO_SUCH_APIC       0x0f

static void write_read_only(void)
{
	lapic_write(LAPIC_VER, 0xdeadbeef);
	lapic_write(LAPIC_PPR, 0xffffffff);
	lapic_write(LAPIC_ISR0, 0xffffffff);
	lapic_write(LAPIC_ISR0 + 0x70, 0xffffffff);
	lapic_write(LAPIC_TIMER_CCR, 0x12345678);
}

static void write_reserved(void)
{
	lapic_write(0x000, 0xffffffff);
	lapic_write(0x3f0, 0xffffffff);
	lapic_write(0xff0, 0xffffffff);
}

static void odd_sizes(void)
{
	volatile u8 sink;

	mmio_write8(LAPIC_BASE + LAPIC_TPR + 1, 0xff);
	mmio_write8(LAPIC_BASE + LAPIC_SVR, 0x00);
	mmio_write32(LAPIC_BASE + LAPIC_TPR + 2, 0xffffffff);
	sink = *(volatile u8 *)(LAPIC_BASE + LAPIC_ID + 3);
	sink = *(volatile u8 *)(LAPIC_BASE + LAPIC_VER + 1);
	(void)sink;
}

static void nonsense_icr(void)
{
	lapic_write(LAPIC_ICR_HI, (u32)NO_SUCH_APIC << 24);
	lapic_write(LAPIC_ICR_LO, ICR_MODE_RESERVED3 | 0x55);
	lapic_write(LAPIC_ICR_HI, 0);
	lapic_write(LAPIC_ICR_LO, ICR_SELF | ICR_MODE_RESERVED3); /* vector 0 */
}

void pc_main(u32 magic, u32 info)
{
	(void)magic;
	(void)info;
	uart_init();
	idt_init();
	pr("apic_garbage: in long mode, writing garbage to the LAPIC page\n");
	u32 id = lapic_read(LAPIC_ID), ver = lapic_read(LAPIC_VER);

	write_read_only();
	write_reserved();
	odd_sizes();
	nonsense_icr();
	if (lapic_read(LAPIC_ID) != id || lapic_read(LAPIC_VER) != ver) {
		pr("FAIL: LAPIC ID or version changed\n");
		pc_exit(EXIT_FAIL_APIC_RO);
	}
	pr("apic_garbage: id and version unchanged\n");
	pr("apic_garbage: survived\n");
	pc_exit(EXIT_PASS);
}
