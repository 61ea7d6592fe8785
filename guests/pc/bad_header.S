/*
 * bad_header.elf: a multiboot 1 header whose checksum is wrong. A loader must refuse it;
 * if one runs it anyway, it says so and exits with EXIT_BAD_HEADER_RAN.
 */
#include "guests/pc/codes.h"
#define MB1_MAGIC 0x1badb002
#define MB1_FLAGS 0x00000003

	.section .multiboot, "a"
	.balign 4
	.long MB1_MAGIC
	.long MB1_FLAGS
	.long -(MB1_MAGIC + MB1_FLAGS) + 1	/* off by one: invalid */

	.section .text.entry32, "ax"
	.code32
	.globl _start
_start:
	movl $msg, %esi
	call puts32
	movl $EXIT_BAD_HEADER_RAN, %eax
	jmp exit32

	.section .rodata
msg:	.asciz "bad_header: FAIL: a loader ran a kernel with a bad multiboot checksum\r\n"
