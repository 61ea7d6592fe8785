/*
 * Guest entry: the hypervisor starts every vCPU here in 64-bit mode with RSP set and the
 * test number in RDI; guest_main's return value becomes the HC_EXIT code.
 */
	.section .text.entry, "ax"
	.globl _start
_start:
	xorl %ebp, %ebp
	call guest_main
	movq %rax, %rdi
	movl $1, %eax			/* HC_EXIT */
	vmcall
1:	cli				/* HC_EXIT never returns; if it did, spin into the timer */
	jmp 1b
