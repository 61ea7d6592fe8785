/*
 * Interrupt and exception stubs: each pushes a zero error code where the CPU pushes none, then
 * its vector, saves the caller-saved registers and calls trap_dispatch(vector, error, &RIP).
 * isr_stubs[v] is the stub of vector v for the vectors idt.c installs (0 = none).
 */
	.code64
	.text

.macro STUB vec
isr_\vec:
	.if (\vec == 8) || (\vec >= 10 && \vec <= 14) || (\vec == 17) || (\vec == 21) || (\vec == 29) || (\vec == 30)
	.else
	pushq $0
	.endif
	pushq $\vec
	jmp isr_common
.endm

.irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	STUB \v
.endr
	STUB 32		/* VEC_PIT: IRQ 0 through the remapped master PIC */
	STUB 48		/* VEC_TIMER */
	STUB 64		/* VEC_IPI */
	STUB 65		/* VEC_PING */
	STUB 66		/* VEC_PONG */
/* 0x50-0x5f: the PICs remapped there (platdev: IRQ 1, 4, 8, 12 through the 8259s) */
.irp v, 80,81,82,83,84,85,86,87,88,89,90,91,92,93,94,95
	STUB \v
.endr
	STUB 255	/* VEC_SPURIOUS */

/* Stack on entry: vector, error, RIP, CS, RFLAGS, RSP, SS. RSP is 16-byte aligned at the call. */
isr_common:
	pushq %rax
	pushq %rcx
	pushq %rdx
	pushq %rsi
	pushq %rdi
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	movq 72(%rsp), %rdi
	movq 80(%rsp), %rsi
	leaq 88(%rsp), %rdx		/* the saved RIP: an exception handler may move it */
	cld
	call trap_dispatch
	popq %r11
	popq %r10
	popq %r9
	popq %r8
	popq %rdi
	popq %rsi
	popq %rdx
	popq %rcx
	popq %rax
	addq $16, %rsp
	iretq

	.section .rodata
	.balign 8
	.globl isr_stubs
isr_stubs:
.irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	.quad isr_\v
.endr
	.quad isr_32
	.fill 48 - 33, 8, 0
	.quad isr_48
	.fill 64 - 49, 8, 0
	.quad isr_64
	.quad isr_65
	.quad isr_66
	.fill 80 - 67, 8, 0
.irp v, 80,81,82,83,84,85,86,87,88,89,90,91,92,93,94,95
	.quad isr_\v
.endr
	.fill 255 - 96, 8, 0
	.quad isr_255
