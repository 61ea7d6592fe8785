/*
 * big_bss.elf: a kernel whose bss nearly fills a 2 MiB guest (it ends ~12 KiB below 2 MiB),
 * leaving no room for the 16 KiB of multiboot information a loader puts after the image.
 * eptvisor must refuse it by name (which kernel, where it ends, what does not fit); the code
 * never runs.
 */
#include "guests/pc/codes.h"

	.section .text.entry32, "ax"
	.code32
	.globl _start
_start:
	movl $EXIT_BAD_HEADER_RAN, %eax
	jmp exit32

	.section .bss
	.skip 0xfd000
