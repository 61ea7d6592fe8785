/*
 * Interrupts and exceptions: the IDT, the frame the entry stubs build, and the handlers.
 * An exception in the hypervisor prints a full register dump with the exception's name;
 * #BP (int3) then returns (used by the exc-test option), anything else is fatal.
 */
#ifndef EPTVISOR_ARCH_TRAP_H
#define EPTVISOR_ARCH_TRAP_H

#include "types.h"

#define VEC_WAKE     0xf0 /* IPI: wake a halted CPU to look at its work mailbox */
#define VEC_SPURIOUS 0xff

/* Saved by arch/entry.S, in this order (lowest address first). */
struct trap_frame {
	u64 r15, r14, r13, r12, r11, r10, r9, r8;
	u64 rbp, rdi, rsi, rdx, rcx, rbx, rax;
	u64 vector, error;
	u64 rip, cs, rflags, rsp, ss;
};

void idt_init(void); /* build the IDT once */
void idt_load(void); /* load it on this CPU */
void trap_dispatch(struct trap_frame *f);
const char *exception_name(u64 vector);

/* arch/entry.S */
void reload_segments(void);
extern u64 trap_stubs[256];

#endif
