/*
 * 32-bit helpers for the tiny hostile kernels, which never leave protected mode: a multiboot 1
 * header, a polled COM1 string writer and the exit port. The 16550 is used as firmware left it.
 */
#include "guests/pc/codes.h"
#define COM1 0x3f8
#define LSR_THRE 0x20

	.code32
	.text
/* puts32: write the NUL-terminated string at ESI to COM1, polling LSR. Clobbers EAX, EDX, ESI. */
	.globl puts32
puts32:
	movb (%esi), %al
	testb %al, %al
	jz 3f
	movw $COM1 + 5, %dx
1:	inb %dx, %al
	testb $LSR_THRE, %al
	jz 1b
	movb (%esi), %al
	movw $COM1, %dx
	outb %al, %dx
	incl %esi
	jmp puts32
3:	ret

/* exit32: write EAX to isa-debug-exit, then stop. */
	.globl exit32
exit32:
	movw $DEBUG_EXIT_PORT, %dx
	outl %eax, %dx
1:	cli
	hlt
	jmp 1b
