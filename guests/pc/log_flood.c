/*
 * log_flood.elf: a guest that tries to flood eptvisor's log with messages it can trigger:
 * FLOOD_COUNT each of SMI IPIs (a delivery mode that is not emulated), WRMSRs of IA32_PAT
 * with a reserved memory type (refused with #GP), RDMSRs of an MSR the platform lacks (#GP),
 * reads of unassigned memory, and writes to read-only APIC registers. Its own #GP handler
 * steps over the faulting RDMSR/WRMSR (both 2 bytes long) and counts. Prints what it saw and
 * exits through 0xf4 with code 0. The hypervisor must print a bounded number of lines.
 */
#include "guests/pc/pc.h"

#define FLOOD_COUNT 2000
#define ICR_SMI     0x200
#define MSR_PAT     0x277
#define NO_SUCH_MSR 0x4b564d00            /* a KVM paravirtual MSR: nothing behind it here */
#define BAD_PAT     0x0007040600070402ULL /* memory type 2 in PA0 is reserved */
#define UNASSIGNED  0xd0000000ULL
#define EXC_GP      13

u64 gp_taken;

/* #GP: drop the error code, step over the 2-byte RDMSR/WRMSR, count, return. */
__asm__(".text\n"
        ".globl gp_skip\n"
        "gp_skip:\n"
        "	addq $8, %rsp\n"
        "	addq $2, (%rsp)\n"
        "	lock incq gp_taken(%rip)\n"
        "	iretq\n");
void gp_skip(void);

/* Route #GP to gp_skip in the IDT idt_init loaded (64-bit interrupt gate, code selector
 * as the other gates). */
static void install_gp_skip(void)
{
	struct {
		u16 limit;
		u64 base;
	} __attribute__((packed)) idtr;
	u16 *gate;
	u64 addr = (u64)gp_skip;

	__asm__ volatile("sidt %0" : "=m"(idtr));
	gate = (u16 *)(idtr.base + EXC_GP * 16);
	gate[0] = (u16)addr;
	gate[3] = (u16)(addr >> 16);
	*(u32 *)&gate[4] = (u32)(addr >> 32);
}

static void flood(void)
{
	u64 sum = 0;

	for (int i = 0; i < FLOOD_COUNT; i++)
		lapic_send_ipi(lapic_id(), ICR_SMI);
	for (int i = 0; i < FLOOD_COUNT; i++)
		wrmsr(MSR_PAT, BAD_PAT);
	for (int i = 0; i < FLOOD_COUNT; i++)
		sum += rdmsr(NO_SUCH_MSR) & 1;
	for (int i = 0; i < FLOOD_COUNT; i++)
		sum += *(volatile u32 *)(UNASSIGNED + (u64)(i % 64) * 4) & 1;
	for (int i = 0; i < FLOOD_COUNT; i++)
		lapic_write(LAPIC_PPR, (u32)i);
	(void)sum;
}

void pc_main(u32 magic, u32 info)
{
	(void)magic;
	(void)info;
	uart_init();
	idt_init();
	install_gp_skip();
	pr("log_flood: %d each of SMI IPIs, bad WRMSRs, unknown RDMSRs, unassigned reads, "
	   "read-only APIC writes\n",
	   FLOOD_COUNT);
	flood();
	pr("log_flood: %llu #GP taken (expected %d)\n", (unsigned long long)gp_taken,
	   2 * FLOOD_COUNT);
	pr("log_flood: survived\n");
	pc_exit(gp_taken == 2 * FLOOD_COUNT ? EXIT_PASS : EXIT_FAIL_FLOOD);
}
