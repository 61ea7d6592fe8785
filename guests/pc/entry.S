/*
 * Entry of the long-mode PC guest kernels (pcmb1, pcmb2, apic_garbage), as a hobby kernel does
 * it: the loader enters _start in 32-bit protected mode, paging off, EAX = multiboot magic,
 * EBX = info address. We load our own GDT, zero .bss, identity-map 0..4 GiB with 2 MiB pages
 * (the LAPIC page 0xfee00000 uncached), enable PAE, EFER.LME and paging, and call
 * pc_main(magic, info) in 64-bit mode. APs join the same page tables in ap.S.
 */
#include "guests/pc/codes.h"
#include "guests/pc/longmode.h"

#define PTE_P_W 0x003
#define PDE_2M 0x083			/* present, writable, page size */
#define PTE_PWT_PCD 0x018		/* uncached */
#define LAPIC_PDE_INDEX (0xfee00000 >> 21)	/* in the 4 PDs laid end to end */
#define BSP_STACK_SIZE 0x4000

	.section .text.entry32, "ax"
	.code32
	.globl _start
_start:
	cli
	cld
	movl %eax, boot_magic		/* .data: survives the .bss clear below */
	movl %ebx, boot_info
	movl $__bss_start, %edi
	movl $__bss_end, %ecx
	subl %edi, %ecx
	shrl $2, %ecx
	xorl %eax, %eax
	rep stosl
	lgdt gdt_ptr
	ljmp $SEL_CODE32, $1f
1:	movw $SEL_DATA, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movw %ax, %fs
	movw %ax, %gs
	movl $bsp_stack + BSP_STACK_SIZE, %esp
	call check_long_mode
	call build_page_tables
	LONG_MODE_ON
	ljmp $SEL_CODE64, $bsp_entry64

/* Exit through isa-debug-exit unless CPUID advertises long mode. */
check_long_mode:
	movl $0x80000000, %eax
	cpuid
	cmpl $0x80000001, %eax
	jb 1f
	movl $0x80000001, %eax
	cpuid
	btl $29, %edx
	jnc 1f
	ret
1:	movl $EXIT_NO_LONG_MODE, %eax
	movw $DEBUG_EXIT_PORT, %dx
	outl %eax, %dx
2:	hlt
	jmp 2b

/* PML4[0] -> PDPT; PDPT[0..3] -> 4 PDs; PD entries map 0..4 GiB with 2 MiB pages. */
build_page_tables:
	movl $pdpt + PTE_P_W, pml4
	movl $pd + PTE_P_W, %eax
	xorl %ecx, %ecx
1:	movl %eax, pdpt(, %ecx, 8)
	addl $0x1000, %eax
	incl %ecx
	cmpl $4, %ecx
	jb 1b
	movl $PDE_2M, %eax
	xorl %ecx, %ecx
2:	movl %eax, pd(, %ecx, 8)
	addl $0x200000, %eax
	incl %ecx
	cmpl $2048, %ecx
	jb 2b
	orl $PTE_PWT_PCD, pd + 8 * LAPIC_PDE_INDEX
	ret

	.code64
bsp_entry64:
	movw $SEL_DATA, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movq $bsp_stack + BSP_STACK_SIZE, %rsp
	movl boot_magic, %edi
	movl boot_info, %esi
	call pc_main
	jmp halt_forever

	.globl halt_forever
halt_forever:
	cli
	hlt
	jmp halt_forever

	.data
	.balign 8
	.globl boot_magic, boot_info
boot_magic:	.long 0
boot_info:	.long 0
	.balign 8
	.globl gdt
gdt:
	.quad 0
	.quad 0x00cf9a000000ffff	/* 0x08 code, 32-bit */
	.quad 0x00cf92000000ffff	/* 0x10 data */
	.quad 0x00af9a000000ffff	/* 0x18 code, 64-bit */
gdt_end:
	.if gdt_end - gdt - 1 != GDT_LIMIT
	.error "GDT_LIMIT (codes.h) does not match the GDT"
	.endif
gdt_ptr:
	.short GDT_LIMIT
	.quad gdt

	.bss
	.balign 4096
	.globl pml4
pml4:	.skip 4096
pdpt:	.skip 4096
pd:	.skip 4 * 4096
bsp_stack:	.skip BSP_STACK_SIZE
