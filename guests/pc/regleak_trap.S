/*
 * regleak.elf's low-level parts: the exception stubs (every CPU exception goes to
 * regleak_trap(vector, error, &saved RIP), which may move the saved RIP past a probed
 * instruction), and the AP's real-mode trampoline for the `cache` test, which only stores
 * the CR0 the AP starts with and halts.
 */
#include "guests/pc/codes.h"

#define AP_CR0_ADDR (AP_TRAMP_BASE + 0xf00)	/* where the AP stores its CR0 */
#define AP_DONE_ADDR (AP_TRAMP_BASE + 0xf04)	/* then this, = AP_DONE_MAGIC */
#define AP_DONE_MAGIC 0x600d

	.code64
	.text

.macro XSTUB vec
xstub_\vec:
	.if (\vec == 8) || (\vec >= 10 && \vec <= 14) || (\vec == 17) || (\vec == 21) || (\vec == 29) || (\vec == 30)
	.else
	pushq $0
	.endif
	pushq $\vec
	jmp xcommon
.endm

.irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	XSTUB \v
.endr

/* Stack: vector, error, RIP, CS, RFLAGS, RSP, SS. RSP is 16-byte aligned at the call. */
xcommon:
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
	leaq 88(%rsp), %rdx
	cld
	call regleak_trap
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

/* Copied to AP_TRAMP_BASE; an AP starts here in real mode after INIT-SIPI-SIPI. */
	.code16
	.globl regleak_ap_start, regleak_ap_end
regleak_ap_start:
	cli
	xorw %ax, %ax
	movw %ax, %ds
	movl %cr0, %eax
	movl %eax, AP_CR0_ADDR
	movl $AP_DONE_MAGIC, AP_DONE_ADDR
1:	hlt
	jmp 1b
regleak_ap_end:

	.section .rodata
	.balign 8
	.globl regleak_stubs
regleak_stubs:
.irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	.quad xstub_\v
.endr
