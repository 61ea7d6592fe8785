/*
 * The IDT of the pcapf kernels: every gate goes to a frame-saving stub of ktrap.S, and
 * ktrap_dispatch calls the handler installed for the vector, which returns the frame to
 * resume. An exception nobody handles prints itself and exits with PCAPF_EXIT_EXC + vector;
 * an interrupt nobody handles exits with EXIT_UNEXPECTED_IRQ (codes.h), as idt.c does.
 */
#include "guests/pc/apf.h"

#define SEL_CODE64 0x18
#define GATE_INT64 0x8e00 /* present, DPL 0, 64-bit interrupt gate: IF = 0 in handlers */

struct gate {
	u16 off_lo, sel, type, off_mid;
	u32 off_hi, zero;
} __attribute__((packed));

extern u64 ktrap_stubs[256];
static struct gate idt[256] __attribute__((aligned(16)));
static ktrap_fn handlers[256];

void ktrap_init(void)
{
	for (int v = 0; v < 256; v++) {
		u64 a = ktrap_stubs[v];

		if (a)
			idt[v] = (struct gate){ .off_lo = (u16)a,
				                .sel = SEL_CODE64,
				                .type = GATE_INT64,
				                .off_mid = (u16)(a >> 16),
				                .off_hi = (u32)(a >> 32) };
	}
	ktrap_load();
}

void ktrap_load(void)
{
	struct {
		u16 limit;
		u64 base;
	} __attribute__((packed)) ptr = { sizeof(idt) - 1, (u64)idt };

	__asm__ volatile("lidt %0" : : "m"(ptr));
}

void ktrap_set(u8 vector, ktrap_fn fn)
{
	handlers[vector] = fn;
}

/* Called by ktrap_common with interrupts off. */
struct kframe *ktrap_dispatch(struct kframe *f)
{
	if (handlers[f->vector & 0xff])
		return handlers[f->vector & 0xff](f);
	if (f->vector < 32) {
		pr("EXCEPTION: vector %u error 0x%llx at 0x%llx\n", (unsigned)f->vector,
		   (unsigned long long)f->error, (unsigned long long)f->rip);
		pc_exit(PCAPF_EXIT_EXC + (u32)f->vector);
	}
	pr("FAIL: unexpected interrupt vector %u\n", (unsigned)f->vector);
	pc_exit(EXIT_UNEXPECTED_IRQ);
}
