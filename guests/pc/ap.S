/*
 * AP start-up. smp.c copies [ap_tramp_start, ap_tramp_end) to AP_TRAMP_BASE (0x8000) and
 * broadcasts INIT-SIPI-SIPI with vector AP_TRAMP_BASE >> 12, so each AP starts the trampoline
 * in real mode at CS:IP = 0x0800:0000. It loads the kernel's GDT (through a pointer inside the
 * copied page: with DS = 0 only the first 64 KiB is reachable), sets CR0.PE and far-jumps to
 * ap_entry32 in the kernel image, which turns on long mode with the BSP's page tables, takes
 * the next AP index and its stack, and calls ap_main(index).
 */
#include "guests/pc/codes.h"
#include "guests/pc/longmode.h"
#define AP_STACK_SHIFT 13		/* 8 KiB per AP */
#define MAX_APS 15			/* MAX_CPUS - 1 */
#define TRAMP(sym) (AP_TRAMP_BASE + ((sym) - ap_tramp_start))

	.text
	.code16
	.globl ap_tramp_start, ap_tramp_end
ap_tramp_start:
	cli
	cld
	xorw %ax, %ax
	movw %ax, %ds
	lgdtl TRAMP(tramp_gdt_ptr)
	movl %cr0, %eax
	orl $CR0_PE, %eax
	movl %eax, %cr0
	ljmpl $SEL_CODE32, $ap_entry32
	.balign 8
tramp_gdt_ptr:
	.short GDT_LIMIT
	.long gdt
ap_tramp_end:

/* Protected mode, our GDT, no stack: on to long mode as the BSP went (longmode.h). */
	.code32
ap_entry32:
	movw $SEL_DATA, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movw %ax, %fs
	movw %ax, %gs
	LONG_MODE_ON
	ljmp $SEL_CODE64, $ap_entry64

/* APs started by one broadcast run this together: the index comes from an atomic xadd. */
	.code64
ap_entry64:
	movl $1, %edi
	lock xaddl %edi, ap_next_index
	cmpl $MAX_APS, %edi
	jae halt_forever
	movl %edi, %eax
	incl %eax
	shll $AP_STACK_SHIFT, %eax	/* top of stack number EDI */
	leaq ap_stacks(%rax), %rsp
	call ap_main
	jmp halt_forever

	.data
	.globl ap_next_index		/* a kernel that restarts its APs resets it */
ap_next_index:	.long 0
	.bss
	.balign 16
ap_stacks:	.skip MAX_APS << AP_STACK_SHIFT
