/*
 * The IDT: exceptions print their vector and exit with EXIT_EXCEPTION_BASE + vector, unless a
 * kernel installed a handler for one (exc_set, or irq_set for an NMI, say); the few
 * interrupt vectors the kernels use call the function installed with irq_set(); any other
 * vector (none is wired to a stub) exits with EXIT_UNEXPECTED_IRQ.
 */
#include "guests/pc/pc.h"

#define SEL_CODE64 0x18
#define GATE_INT64 0x8e00 /* present, DPL 0, 64-bit interrupt gate */

struct gate {
	u16 off_lo, sel, type, off_mid;
	u32 off_hi, zero;
} __attribute__((packed));

static struct gate idt[256] __attribute__((aligned(16)));
static irq_fn handlers[256];
static exc_fn exc_handlers[32];

static void set_gate(int vec, u64 addr)
{
	idt[vec] = (struct gate){ .off_lo = (u16)addr,
		                  .sel = SEL_CODE64,
		                  .type = GATE_INT64,
		                  .off_mid = (u16)(addr >> 16),
		                  .off_hi = (u32)(addr >> 32) };
}

/* Fill the IDT from isr_stubs and load it on this CPU. */
void idt_init(void)
{
	for (int v = 0; v < 256; v++)
		if (isr_stubs[v])
			set_gate(v, isr_stubs[v]);
	idt_load();
}

/* Load the (shared) IDT on the calling CPU. */
void idt_load(void)
{
	struct {
		u16 limit;
		u64 base;
	} __attribute__((packed)) ptr = { sizeof(idt) - 1, (u64)idt };

	__asm__ volatile("lidt %0" : : "m"(ptr));
}

/* Route VECTOR (which must have a stub in isr.S) to FN. */
void irq_set(u8 vector, irq_fn fn)
{
	handlers[vector] = fn;
}

/* Route exception VECTOR (0-31) to FN, which may move the saved RIP. */
void exc_set(u8 vector, exc_fn fn)
{
	exc_handlers[vector & 31] = fn;
}

/* Called by isr_common with interrupts off; rip points at the saved RIP. */
void trap_dispatch(u64 vector, u64 error, u64 *rip)
{
	if (vector < 32 && exc_handlers[vector]) {
		exc_handlers[vector](vector, error, rip);
		return;
	}
	if (vector < 32 && !handlers[vector]) {
		pr("EXCEPTION: vector %u\n", (unsigned)vector);
		pc_exit(EXIT_EXCEPTION_BASE + (u32)vector);
	}
	if (vector >= 256 || !handlers[vector]) {
		pr("FAIL: unexpected interrupt vector %u\n", (unsigned)vector);
		pc_exit(EXIT_UNEXPECTED_IRQ);
	}
	handlers[vector]();
}
