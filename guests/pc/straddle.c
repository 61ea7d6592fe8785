/*
 * straddle.elf: MOVs that straddle two regions of the guest-physical address space, each part
 * of which must be served by its own region (QEMU's memory core splits them so): RAM and the
 * unassigned space above it, the local APIC page and the unassigned page after it (and the
 * one before it), and a wide read inside the APIC page that covers two registers. The kernel
 * prints what it read; the test compares the lines with a run under plain QEMU TCG, the
 * reference. Several addressing forms are used, so the hypervisor must find where each
 * access starts from the instruction itself. Exits through 0xf4 with code 0.
 */
#include "guests/pc/pc.h"

#define PAT 0x1122334455667788ULL

static u64 ram_end(void)
{
	u64 ram = 0;

	fw_cfg_read(FW_CFG_RAM_SIZE, &ram, sizeof(ram));
	return ram;
}

/* mov %rax, -4(%rbx): base + disp8. */
static void write8_base_disp(u64 end, u64 v)
{
	__asm__ volatile("movq %0, -4(%1)" : : "a"(v), "b"(end) : "memory");
}

/* mov (%rbx,%rcx,4), %rax: base + index * scale. */
static u64 read8_sib(u64 base, u64 index)
{
	u64 v;

	__asm__ volatile("movq (%1,%2,4), %0" : "=a"(v) : "b"(base), "c"(index) : "memory");
	return v;
}

/* mov 0x7fc(%rsi), %edx: base + disp32. */
static u32 read4_disp32(u64 base)
{
	u32 v;

	__asm__ volatile("movl 0x7fc(%1), %0" : "=d"(v) : "S"(base) : "memory");
	return v;
}

/* movzwl (%rdi), %eax: a 16-bit read zero-extended. */
static u32 read2_zx(u64 addr)
{
	u32 v;

	__asm__ volatile("movzwl (%1), %0" : "=a"(v) : "D"(addr) : "memory");
	return v;
}

static void ram_edge(u64 end)
{
	*(volatile u64 *)(end - 8) = 0;
	write8_base_disp(end, PAT);
	pr("straddle: write8 at ram_end-4: ram half reads 0x%08x\n", *(volatile u32 *)(end - 4));
	pr("straddle: read8 at ram_end-4: 0x%016llx\n",
	   (unsigned long long)read8_sib(end - 0x404, 0x100));
	pr("straddle: read4 at ram_end-2: 0x%08x\n", read4_disp32(end - 0x7fe));
	pr("straddle: read2 at ram_end-1: 0x%04x\n", read2_zx(end - 1));
}

static void apic_edges(void)
{
	u32 id = lapic_read(LAPIC_ID);

	pr("straddle: read8 at apic+0xffc: 0x%016llx\n",
	   (unsigned long long)read8_sib(LAPIC_BASE + 0xffc - 0x40, 0x10));
	pr("straddle: read8 at apic+0x2c: 0x%016llx\n",
	   (unsigned long long)read8_sib(LAPIC_BASE, 0xb));
	pr("straddle: read8 at apic-4: 0x%016llx\n",
	   (unsigned long long)read8_sib(LAPIC_BASE - 4, 0));
	pr("straddle: read4 at apic+0xffe: 0x%08x\n", read4_disp32(LAPIC_BASE + 0x802));
	write8_base_disp(LAPIC_BASE + 0x1000, PAT);
	pr("straddle: apic id %s after a write8 at apic+0xffc\n",
	   lapic_read(LAPIC_ID) == id ? "unchanged" : "CHANGED");
}

void pc_main(u32 magic, u32 info)
{
	u64 end;

	(void)magic;
	(void)info;
	uart_init();
	idt_init();
	end = ram_end();
	pr("straddle: RAM ends at 0x%llx\n", (unsigned long long)end);
	ram_edge(end);
	apic_edges();
	pr("straddle: survived\n");
	pc_exit(EXIT_PASS);
}
