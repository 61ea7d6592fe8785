/*
 * Interrupt and exception entry: one small stub per vector pushes a dummy error code where
 * the CPU pushes none, then the vector; the common path saves every GPR into a struct
 * trap_frame (arch/trap.h) and calls trap_dispatch(frame).
 */
#include "arch/gdt.h"

	.altmacro
	.text
	.code64


	.macro STUB v
	.align 16
stub_\v:
	.if !(\v == 8 || (\v >= 10 && \v <= 14) || \v == 17 || \v == 21 || \v == 29 || \v == 30)
	pushq $0
	.endif
	pushq $\v
	jmp trap_common
	.endm

	.set i, 0
	.rept 256
	STUB %i
	.set i, i + 1
	.endr

trap_common:
	pushq %rax
	pushq %rbx
	pushq %rcx
	pushq %rdx
	pushq %rsi
	pushq %rdi
	pushq %rbp
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	movq %rsp, %rdi
	cld
	call trap_dispatch
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %r11
	popq %r10
	popq %r9
	popq %r8
	popq %rbp
	popq %rdi
	popq %rsi
	popq %rdx
	popq %rcx
	popq %rbx
	popq %rax
	addq $16, %rsp		/* vector and error code */
	iretq

	.macro STUBADDR v
	.quad stub_\v
	.endm

	.section .rodata
	.align 8
	.globl trap_stubs
trap_stubs:
	.set i, 0
	.rept 256
	STUBADDR %i
	.set i, i + 1
	.endr

	.text
/* Reload CS with a far return, then the data segments (after lgdt). */
	.globl reload_segments
reload_segments:
	popq %rdx
	pushq $GDT_KERNEL_CS
	pushq %rdx
	movw $GDT_KERNEL_DS, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	lretq
