/*
 * AP start-up trampoline. smp_init() copies the bytes between ap_tramp_start and
 * ap_tramp_end to a page P below 1 MiB, fills the data slots at the end, and sends
 * INIT-SIPI-SIPI with vector P >> 12. Each AP starts here in real mode at P:0, goes through
 * 32-bit protected mode into long mode on the kernel's page tables (which identity-map P),
 * takes a dense index with lock xadd, loads its stack and calls ap_entry(index).
 * The code is position independent: EBP holds P from the first instructions on.
 */
	.section .rodata
	.globl ap_tramp_start, ap_tramp_end
	.globl ap_tramp_cr3, ap_tramp_entry, ap_tramp_stacks, ap_tramp_count

#define OFF(x) ((x) - ap_tramp_start)

	.code16
ap_tramp_start:
	cli
	cld
	xorl %ebp, %ebp
	movw %cs, %bp
	shll $4, %ebp			/* ebp = P */
	movw %cs, %ax
	movw %ax, %ds
	leal OFF(tr_gdt)(%ebp), %eax
	movl %eax, OFF(tr_gdt_ptr) + 2
	leal OFF(tr_pm32)(%ebp), %eax
	movl %eax, OFF(tr_far32)
	leal OFF(tr_lm64)(%ebp), %eax
	movl %eax, OFF(tr_far64)
	lgdtl OFF(tr_gdt_ptr)
	movl %cr0, %eax
	orl $1, %eax
	movl %eax, %cr0
	ljmpl *OFF(tr_far32)

	.code32
tr_pm32:
	movw $0x10, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movl %cr4, %eax
	orl $(1 << 5), %eax		/* PAE */
	movl %eax, %cr4
	movl OFF(ap_tramp_cr3)(%ebp), %eax
	movl %eax, %cr3
	movl $0xC0000080, %ecx
	rdmsr
	orl $((1 << 8) | (1 << 11)), %eax	/* LME, NXE */
	wrmsr
	movl %cr0, %eax
	andl $~((1 << 30) | (1 << 29)), %eax	/* CD, NW: caches on (an AP starts with them set) */
	orl $((1 << 31) | (1 << 16)), %eax	/* PG, WP */
	movl %eax, %cr0
	ljmpl *OFF(tr_far64)(%ebp)

	.code64
tr_lm64:
	movw $0x10, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movl %ebp, %ebp			/* zero-extend P */
	movl $1, %eax
	lock xaddl %eax, OFF(ap_tramp_count)(%rbp)
	movq OFF(ap_tramp_stacks)(%rbp), %rbx
	movq (%rbx,%rax,8), %rsp
	movl %eax, %edi
	movq OFF(ap_tramp_entry)(%rbp), %rax
	call *%rax
1:	cli
	hlt
	jmp 1b

	.align 8
tr_gdt:
	.quad 0
	.quad 0x00CF9A000000FFFF	/* 0x08: 32-bit code */
	.quad 0x00CF92000000FFFF	/* 0x10: data */
	.quad 0x00AF9A000000FFFF	/* 0x18: 64-bit code */
tr_gdt_ptr:
	.short 31
	.long 0
tr_far32:
	.long 0
	.short 0x08
tr_far64:
	.long 0
	.short 0x18
	.align 8
ap_tramp_cr3:	.quad 0
ap_tramp_entry:	.quad 0
ap_tramp_stacks: .quad 0
ap_tramp_count:	.long 0
ap_tramp_end:
