/* runaway.elf: prints a line, then spins forever with interrupts off. */
#include "guests/pc/codes.h"

	.section .text.entry32, "ax"
	.code32
	.globl _start
_start:
	cli
	movl $msg, %esi
	call puts32
1:	jmp 1b

	.section .rodata
msg:	.asciz "runaway: spinning with interrupts off\r\n"
