/*
 * The first code that runs: multiboot headers and the 32-bit entry that GRUB (multiboot2) or
 * QEMU -kernel (multiboot1) jumps to. It builds boot page tables that map low 1 GiB three
 * times (identity, the direct map, the kernel's -2 GiB window), enters long mode and calls
 * kmain(magic, info_pa) in the higher half. mm/paging.c replaces these tables soon after.
 */
#include "layout.h"

#define MB1_MAGIC 0x1BADB002
#define MB1_FLAGS ((1 << 0) | (1 << 1) | (1 << 16)) /* page-align mods, mem info, a.out kludge */
#define MB2_MAGIC 0xE85250D6

	.section .boot.header, "a"
	.align 4
mb1_header:
	.long MB1_MAGIC
	.long MB1_FLAGS
	.long -(MB1_MAGIC + MB1_FLAGS)
	.long mb1_header	/* header_addr */
	.long _kernel_start_pa	/* load_addr */
	.long _edata_pa		/* load_end_addr */
	.long _end_pa		/* bss_end_addr */
	.long _start		/* entry_addr */

	.align 8
mb2_header:
	.long MB2_MAGIC
	.long 0			/* i386 protected mode */
	.long mb2_header_end - mb2_header
	.long -(MB2_MAGIC + 0 + (mb2_header_end - mb2_header))
	.align 8
	.short 6, 0		/* module alignment tag: page-aligned modules */
	.long 8
	.align 8
	.short 0, 0		/* end tag */
	.long 8
mb2_header_end:

	.section .boot, "ax"
	.code32
	.globl _start
_start:
	cli
	cld
	movl %eax, %ebp			/* multiboot magic: kmain's first argument */
	movl %ebx, %esi			/* multiboot info (physical): the second */
	movl $boot_stack_top, %esp

	/* Long mode supported? CPUID 0x80000001 EDX bit 29. */
	movl $0x80000000, %eax
	cpuid
	cmpl $0x80000001, %eax
	jb no_long_mode
	movl $0x80000001, %eax
	cpuid
	btl $29, %edx
	jnc no_long_mode

	/* Zero the four table pages (no loader promises to clear them). */
	movl $boot_pml4, %edi
	movl $(4 * 1024), %ecx
	xorl %eax, %eax
	rep stosl

	/* PD: 512 x 2 MiB identity entries covering low 1 GiB. */
	movl $boot_pd, %ebx
	xorl %ecx, %ecx
1:	movl %ecx, %eax
	shll $21, %eax
	orl $0x83, %eax			/* present, writable, 2 MiB page */
	movl %eax, (%ebx,%ecx,8)
	movl $0, 4(%ebx,%ecx,8)
	incl %ecx
	cmpl $512, %ecx
	jne 1b

	movl $(boot_pd + 3), boot_pdpt_low
	movl $(boot_pd + 3), boot_pdpt_high + 8 * 510
	movl $(boot_pdpt_low + 3), boot_pml4			/* identity */
	movl $(boot_pdpt_low + 3), boot_pml4 + 8 * PML4_DIRECT_INDEX	/* direct map */
	movl $(boot_pdpt_high + 3), boot_pml4 + 8 * 511		/* kernel window */

	movl %cr4, %eax
	orl $(1 << 5), %eax		/* PAE */
	movl %eax, %cr4
	movl $boot_pml4, %eax
	movl %eax, %cr3
	movl $0xC0000080, %ecx		/* IA32_EFER */
	rdmsr
	orl $((1 << 8) | (1 << 11)), %eax	/* LME, NXE */
	wrmsr
	movl %cr0, %eax
	andl $~((1 << 30) | (1 << 29)), %eax	/* CD, NW: caches on (reset leaves them set) */
	orl $((1 << 31) | (1 << 16) | 1), %eax	/* PG, WP, PE */
	movl %eax, %cr0

	movl %ebp, %edi
	lgdt boot_gdt_ptr
	ljmp $0x08, $long_entry

no_long_mode:
	/* Say why on COM1 (assumed at 0x3f8, initialised by the firmware or not: best effort). */
	movl $no_lm_msg, %esi
2:	lodsb
	testb %al, %al
	jz 3f
	movw $0x3f8, %dx
	outb %al, %dx
	jmp 2b
3:	hlt
	jmp 3b

	.code64
long_entry:
	movw $0x10, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	xorw %ax, %ax
	movw %ax, %fs
	movw %ax, %gs
	movabsq $high_entry, %rax
	jmp *%rax

	.section .boot, "ax"
no_lm_msg:
	.asciz "eptvisor: this CPU has no long mode (64-bit): cannot run\r\n"

	.align 16
boot_gdt:
	.quad 0
	.quad 0x00AF9A000000FFFF	/* 0x08: 64-bit code */
	.quad 0x00CF92000000FFFF	/* 0x10: data */
boot_gdt_end:
boot_gdt_ptr:
	.short boot_gdt_end - boot_gdt - 1
	.long boot_gdt

	.section .boot.bss, "aw", @nobits
	.align 4096
	.globl boot_pml4
boot_pml4:	.skip 4096
boot_pdpt_low:	.skip 4096
boot_pdpt_high:	.skip 4096
boot_pd:	.skip 4096
	.skip 4096
boot_stack_top:

	.text
	.code64
high_entry:
	movabsq $kernel_stack_top, %rsp
	xorl %ebp, %ebp
	/* edi = magic, esi = info pa (zero-extended by the 32-bit moves above) */
	call kmain
4:	cli
	hlt
	jmp 4b

	.bss
	.align 16
	.globl kernel_stack_top
kernel_stack:	.skip KERNEL_STACK_SIZE
kernel_stack_top:
