/* wild_jump.elf: prints a line, then jumps (32-bit, paging off) far outside guest RAM. */
#include "guests/pc/codes.h"
#define WILD_TARGET 0xd0000000

	.section .text.entry32, "ax"
	.code32
	.globl _start
_start:
	movl $msg, %esi
	call puts32
	movl $WILD_TARGET, %eax
	jmp *%eax

	.section .rodata
msg:	.asciz "wild_jump: jumping to 0xd0000000\r\n"
