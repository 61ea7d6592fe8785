/*
 * rm_roundtrip (realmode.c): from 64-bit mode down to real mode and back, as a kernel that
 * calls its BIOS does. 64-bit -> compatibility mode -> paging and EFER.LME off -> 16-bit
 * protected mode -> CR0.PE = 0 and a far jump into real mode at CS = RM_SEG. There the
 * blob (copied to RM_BASE by the caller, so it runs below 1 MiB) far-jumps to CS = 0 and
 * back, loads ES and FS with segments that overlap, points the IDTR at an IVT of its own
 * (vector 0x80 at RM_SEG:rm_int80), executes INT 0x80, prints a line on COM1 by polling the
 * LSR, waits in `sti; hlt` for three ticks of the PIT through the PIC and the IVT, and returns: CR0.PE = 1, a far jump to 32-bit code, EFER.LME and paging on, 64-bit.
 * What it saw goes into the rm_res_* words, which the caller reads at RM_BASE.
 */
#include "guests/pc/codes.h"
#include "guests/pc/longmode.h"

#define RM_BASE 0x7000
#define RM_SEG (RM_BASE >> 4)
#define OFF(sym) ((sym) - rm_blob_start)
#define SEL_CODE16 0x20
#define SEL_DATA16 0x28
#define COM1 0x3f8
#define INT_VEC 0x80
#define CR0_NW 0x20000000
#define CR0_CD 0x40000000
#define PIC_VEC 0x20			/* IRQ 0 as pic_remap_and_mask sets the master PIC */
#define PIT_COUNT 11932			/* 10 ms at 1.193182 MHz */

	.text
	.code64
	.globl rm_roundtrip
rm_roundtrip:
	pushq %rbx
	pushq %rbp
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	movq %rsp, saved_rsp(%rip)
	sidt saved_idt(%rip)
	sgdt saved_gdt(%rip)
	lgdt rm_gdt_ptr(%rip)
	pushq $SEL_CODE32
	leaq rm_compat(%rip), %rax
	pushq %rax
	lretq

/* Compatibility mode: leave IA-32e mode (SDM Vol. 3A 9.8.5.4), clear EFER.LME unless
 * rm_keep_lme says not to (real mode with LME = 1 is legal: LMA follows CR0.PG), then 16-bit
 * protected mode. Round 2 (rm_cdnw) clears PE and sets CD and NW in one MOV to CR0, as
 * Linux's machine_real_restart does. */
	.code32
rm_compat:
	movl %cr0, %eax
	andl $~CR0_PG, %eax
	movl %eax, %cr0
	cmpl $0, rm_keep_lme		/* round 2 stays in real mode with EFER.LME set */
	jne 1f
	movl $MSR_EFER, %ecx
	rdmsr
	andl $~EFER_LME, %eax
	wrmsr
1:	ljmp $SEL_CODE16, $(RM_BASE + OFF(rm_pm16))

/* Back in protected mode from real mode: long mode on again (CR3 and CR4.PAE were kept). */
rm_back32:
	movw $SEL_DATA, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movw %ax, %fs
	movw %ax, %gs
	movl $MSR_EFER, %ecx
	rdmsr
	orl $EFER_LME, %eax
	wrmsr
	movl %cr0, %eax
	orl $CR0_PG, %eax
	movl %eax, %cr0
	ljmp $SEL_CODE64, $rm_back64

	.code64
rm_back64:
	movw $SEL_DATA, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movq saved_rsp(%rip), %rsp
	lgdt saved_gdt(%rip)
	lidt saved_idt(%rip)
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbp
	popq %rbx
	ret

/* ---- the blob: runs at RM_BASE (16-bit protected mode with base 0, then real mode) ---- */
	.code16
	.globl rm_blob_start, rm_blob_end
	.globl rm_res_cs1, rm_res_cs2, rm_res_seg, rm_res_int, rm_res_flags, rm_res_cr0, rm_res_ticks, rm_cdnw
rm_blob_start:
rm_pm16:
	movw $SEL_DATA16, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %fs
	movw %ax, %gs
	movw %ax, %ss
	movl %cr0, %eax
	andl $~CR0_PE, %eax
	testl $1, RM_BASE + OFF(rm_cdnw)	/* as Linux's reboot.S: PE off, CD and NW on at once */
	jz 1f
	orl $(CR0_CD | CR0_NW), %eax
1:	movl %eax, %cr0
	ljmp $RM_SEG, $OFF(rm_real)

rm_real:
	xorw %ax, %ax
	movw %ax, %ss
	movw $RM_BASE, %sp
	movw $RM_SEG, %ax
	movw %ax, %ds
	movl %cr0, %eax
	movl %eax, OFF(rm_res_cr0)
	andl $~(CR0_CD | CR0_NW), %eax	/* caches on again: a CR0 write exits in real mode */
	movl %eax, %cr0
	lidtl OFF(rm_ivt_ptr)
	movw %cs, OFF(rm_res_cs1)
	ljmp $0, $(RM_BASE + OFF(rm_cs0))	/* the same code, through CS = 0 */
rm_cs0:
	movw %cs, OFF(rm_res_cs2)
	ljmp $RM_SEG, $OFF(rm_segs)

/* ES = 0x0100 writes linear 0x1010; FS = 0x0101 reads the same byte address. */
rm_segs:
	movw $0x0100, %ax
	movw %ax, %es
	movw $0x5aa5, %es:0x10
	movw $0x0101, %ax
	movw %ax, %fs
	movw %fs:0, %ax
	movw %ax, OFF(rm_res_seg)

/* INT 0x80 through our own IVT entry; the handler adds 1 to BX and records FLAGS. */
	xorw %ax, %ax
	movw %ax, %es
	movl %es:(INT_VEC * 4), %eax
	movl %eax, OFF(rm_saved_vec)
	movw $OFF(rm_int80), %es:(INT_VEC * 4)
	movw $RM_SEG, %es:(INT_VEC * 4 + 2)
	movw $0x1234, %bx
	int $INT_VEC
	movw %bx, OFF(rm_res_int)
	movl OFF(rm_saved_vec), %eax
	movl %eax, %es:(INT_VEC * 4)

	movw $OFF(rm_msg), %si
	call rm_puts

/* The PIT's IRQ 0 through the master PIC (vector PIC_VEC) and our IVT: three ticks taken
 * in `sti; hlt`, then IRQ 0 masked again and the old IVT entry back. */
	movl %es:(PIC_VEC * 4), %eax
	movl %eax, OFF(rm_saved_vec)
	movw $OFF(rm_irq0), %es:(PIC_VEC * 4)
	movw $RM_SEG, %es:(PIC_VEC * 4 + 2)
	movw $0, OFF(rm_res_ticks)
	movb $0x34, %al			/* channel 0, lo/hi, mode 2 */
	outb %al, $0x43
	movb $(PIT_COUNT & 0xff), %al
	outb %al, $0x40
	movb $(PIT_COUNT >> 8), %al
	outb %al, $0x40
	movb $0xfe, %al			/* unmask IRQ 0 */
	outb %al, $0x21
1:	sti
	hlt
	cli
	cmpw $3, OFF(rm_res_ticks)
	jb 1b
	movb $0xff, %al
	outb %al, $0x21
	movl OFF(rm_saved_vec), %eax
	movl %eax, %es:(PIC_VEC * 4)

	movl %cr0, %eax
	orl $CR0_PE, %eax
	movl %eax, %cr0
	ljmpl $SEL_CODE32, $rm_back32

rm_int80:
	incw %bx
	pushfw
	popw %ax
	movw %ax, OFF(rm_res_flags)
	iret

rm_irq0:
	incw OFF(rm_res_ticks)
	pushw %ax
	movb $0x20, %al			/* non-specific EOI */
	outb %al, $0x20
	popw %ax
	iret

/* Print the string at DS:SI on COM1, polling LSR.THRE. */
rm_puts:
	lodsb
	testb %al, %al
	jz 2f
	movb %al, %cl
	movw $COM1 + 5, %dx
1:	inb %dx, %al
	testb $0x20, %al
	jz 1b
	movw $COM1, %dx
	movb %cl, %al
	outb %al, %dx
	jmp rm_puts
2:	ret

rm_msg:	.asciz "realmode: a line printed in real mode\r\n"
	.balign 4
rm_ivt_ptr:	.short 0x3ff
	.long 0
rm_saved_vec:	.long 0
rm_res_cr0:	.long 0
rm_res_cs1:	.short 0
rm_res_cs2:	.short 0
rm_res_seg:	.short 0
rm_res_int:	.short 0
rm_res_flags:	.short 0
rm_res_ticks:	.short 0
	.balign 4
rm_cdnw:	.long 0
rm_blob_end:

	.data
	.balign 8
rm_gdt:
	.quad 0
	.quad 0x00cf9a000000ffff	/* 0x08 code, 32-bit */
	.quad 0x00cf92000000ffff	/* 0x10 data */
	.quad 0x00af9a000000ffff	/* 0x18 code, 64-bit */
	.quad 0x00009a000000ffff	/* 0x20 code, 16-bit, base 0, limit 0xffff */
	.quad 0x000092000000ffff	/* 0x28 data, 16-bit, base 0, limit 0xffff */
rm_gdt_end:
rm_gdt_ptr:
	.short rm_gdt_end - rm_gdt - 1
	.quad rm_gdt
saved_gdt:	.short 0
	.quad 0
saved_idt:	.short 0
	.quad 0
saved_rsp:	.quad 0
	.globl rm_keep_lme
rm_keep_lme:	.long 0
