/*
 * Trap stubs that save a whole frame (every general register) and resume whatever frame the
 * C side returns: the one context-switch path of the pcapf kernels. An interrupt or exception
 * on task A saves A's frame on A's stack; ktrap_dispatch(frame) returns the frame to resume,
 * A's own or task B's, and the stub loads it and IRETQs into it.
 * ktrap_stubs[v] is the stub of vector v (0 = none): 0-31, the LAPIC timer 0x30, the yield
 * vector 0x81, the page-ready vector 0xec and the spurious vector 0xff.
 */
	.code64
	.text

.macro KSTUB vec
ktrap_\vec:
	.if (\vec == 8) || (\vec >= 10 && \vec <= 14) || (\vec == 17) || (\vec == 21) || (\vec == 29) || (\vec == 30)
	.else
	pushq $0
	.endif
	pushq $\vec
	jmp ktrap_common
.endm

.irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	KSTUB \v
.endr
	KSTUB 48	/* VEC_TIMER */
	KSTUB 129	/* KTRAP_YIELD */
	KSTUB 236	/* PCAPF_VECTOR */
	KSTUB 255	/* VEC_SPURIOUS */

/* Stack on entry: vector, error, RIP, CS, RFLAGS, RSP, SS: struct kframe (apf.h) from r15 on. */
ktrap_common:
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
	andq $-16, %rsp			/* the ABI's alignment at the call */
	cld
	call ktrap_dispatch
	movq %rax, %rsp			/* the frame to resume: this task's or another's */
	.globl ktrap_resume
ktrap_resume:
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
	addq $16, %rsp			/* vector and error code */
	iretq

	.section .rodata
	.balign 8
	.globl ktrap_stubs
ktrap_stubs:
.irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	.quad ktrap_\v
.endr
	.fill 48 - 32, 8, 0
	.quad ktrap_48
	.fill 129 - 49, 8, 0
	.quad ktrap_129
	.fill 236 - 130, 8, 0
	.quad ktrap_236
	.fill 255 - 237, 8, 0
	.quad ktrap_255
