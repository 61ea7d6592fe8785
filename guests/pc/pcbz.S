/*
 * pcbz.bin: a Linux bzImage of our own (boot protocol 2.15, not relocatable, 64 KiB at
 * 1 MiB) that prints what a boot loader gave it by the 32-bit boot protocol, so that
 * eptvisor's loader (loader/bzimage.c, pc/linux.c) can be compared line for line with QEMU's
 * -kernel (hw/i386/x86.c) on the same file.
 *
 * Under QEMU, which enters every bzImage through its real-mode setup code, the setup below
 * does what Linux's does before its 32-bit entry: copy the setup header into a zeroed
 * boot_params (at setup + 0x1000), fill its e820 table from the BIOS (int 0x15, eax 0xe820),
 * load a GDT with __BOOT_CS (0x10) and __BOOT_DS (0x18), enter protected mode and jump to
 * code32_start with ESI = boot_params. eptvisor starts at code32_start directly.
 *
 * The 32-bit part checks the entry state (CS, DS, ES, SS, IF, CR0) and prints the command
 * line, the e820 map entry by entry, the initrd's size and byte sum and whether it lies where
 * the protocol allows, then "pcbz: PASS" and exit code 0 (isa-debug-exit), or a FAIL line and
 * EXIT_FAIL_BZ.
 */
#include "guests/pc/codes.h"

#define COM1     0x3f8
#define LSR_THRE 0x20
#define SMAP     0x534d4150
#define BP_COPY  0x1000 /* the boot_params the setup builds, from the setup's start */

/* ---- the setup: boot sector, header, real-mode code (1024 bytes: setup_sects 1) ---------- */
	.section .setup, "ax"
	.code16
	.globl _setup
_setup:
	.org 0x1f1
	.byte 1                 /* setup_sects */
	.word 0                 /* root_flags */
	.long _syssize          /* syssize: 16-byte units of the protected-mode part */
	.word 0                 /* ram_size */
	.word 0                 /* vid_mode */
	.word 0                 /* root_dev */
	.word 0xaa55            /* boot_flag */
	.byte 0xeb              /* 0x200: jump over the header */
	.byte rm_entry - 0x202
	.ascii "HdrS"           /* 0x202 */
	.word 0x020f            /* version 2.15 */
	.long 0                 /* realmode_swtch */
	.word 0                 /* start_sys_seg */
	.word 0                 /* kernel_version */
	.byte 0                 /* type_of_loader */
	.byte 0x01              /* loadflags: LOADED_HIGH */
	.word 0                 /* setup_move_size */
	.long 0x100000          /* code32_start */
	.long 0                 /* ramdisk_image */
	.long 0                 /* ramdisk_size */
	.long 0                 /* bootsect_kludge */
	.word 0                 /* heap_end_ptr */
	.byte 0                 /* ext_loader_ver */
	.byte 0                 /* ext_loader_type */
	.long 0                 /* cmd_line_ptr */
	.long 0x7fffffff        /* initrd_addr_max */
	.long 0x200000          /* kernel_alignment */
	.byte 0                 /* relocatable_kernel */
	.byte 0                 /* min_alignment */
	.word 0                 /* xloadflags: no 64-bit entry */
	.long 255               /* cmdline_size */
	.long 0                 /* hardware_subarch */
	.quad 0                 /* hardware_subarch_data */
	.long 0                 /* payload_offset */
	.long 0                 /* payload_length */
	.quad 0                 /* setup_data */
	.quad 0x100000          /* pref_address */
	.long 0x100000          /* init_size */
	.long 0                 /* handover_offset */
	.long 0                 /* kernel_info_offset */

/* Entered by QEMU at CS:0 = setup + 0x200, DS = ES = SS = the setup's segment. */
rm_entry:
	cli
	cld
	movw %ds, %ax
	movw %ax, %es
	/* boot_params = zeroes, then the header (0x1f1 .. 0x26c) */
	movw $BP_COPY, %di
	movw $2048, %cx
	xorw %ax, %ax
	rep stosw
	movw $0x1f1, %si
	movw $BP_COPY + 0x1f1, %di
	movw $(0x26c - 0x1f1), %cx
	rep movsb
	/* e820: up to 128 entries of 20 bytes at 0x2d0, their number at 0x1e8 */
	xorl %ebx, %ebx
	xorw %bp, %bp
	movw $BP_COPY + 0x2d0, %di
1:	movl $0xe820, %eax
	movl $20, %ecx
	movl $SMAP, %edx
	int $0x15
	jc 2f
	cmpl $SMAP, %eax
	jne 2f
	addw $20, %di
	incw %bp
	testl %ebx, %ebx
	jz 2f
	cmpw $128, %bp
	jb 1b
2:	movw %bp, %ax
	movb %al, BP_COPY + 0x1e8
	/* ESI = boot_params' linear address; the GDT's base and the far pointer, linear too */
	xorl %esi, %esi
	movw %ds, %si
	shll $4, %esi
	leal rm_gdt(%esi), %eax
	movl %eax, rm_gdtr + 2
	movl BP_COPY + 0x214, %eax /* code32_start */
	movl %eax, rm_far
	addl $BP_COPY, %esi
	lgdtl rm_gdtr
	movl %cr0, %eax
	orl $1, %eax
	movl %eax, %cr0
	movw $0x18, %ax
	movw %ax, %ss
	movw %ax, %es
	movw %ax, %fs
	movw %ax, %gs
	movw %ax, %ds /* last: rm_far is read through CS (its real-mode base is still cached) */
	ljmpl *%cs:(rm_far - 0x200)

	.balign 8
rm_gdt:
	.quad 0
	.quad 0
	.quad 0x00cf9b000000ffff /* 0x10: 32-bit code, flat */
	.quad 0x00cf93000000ffff /* 0x18: data, flat */
rm_gdtr:
	.word 4 * 8 - 1
	.long 0
rm_far:
	.long 0
	.word 0x10
	.org 1024

/* ---- the protected-mode kernel, at 1 MiB ------------------------------------------------- */
	.section .text32, "ax"
	.code32
	.globl _start32
_start32:
	cli
	movl $stack_top, %esp
	movl %esi, bp_ptr
	pushfl
	popl eflags_at_entry
	movl $msg_banner, %esi
	call puts
	call check_entry
	call show_cmdline
	call show_e820
	call show_initrd
	movl $msg_pass, %esi
	call puts
	xorl %eax, %eax
	jmp exit

/* Selectors, IF and CR0 as the protocol's 32-bit entry has them. */
check_entry:
	movl $msg_cs, %esi
	call puts
	movw %cs, %ax
	call puthex16
	movl $msg_ds, %esi
	call puts
	movw %ds, %ax
	call puthex16
	movl $msg_es, %esi
	call puts
	movw %es, %ax
	call puthex16
	movl $msg_ss, %esi
	call puts
	movw %ss, %ax
	call puthex16
	movl $msg_if, %esi
	call puts
	movl eflags_at_entry, %eax
	shrl $9, %eax
	andl $1, %eax
	call putdigit
	movl $msg_cr0, %esi
	call puts
	movl %cr0, %eax
	andl $0x80000001, %eax /* PG and PE */
	call puthex32
	jmp newline

/* The header the loader filled in, and the command line at cmd_line_ptr. */
show_cmdline:
	movl bp_ptr, %ebx
	movl $msg_proto, %esi
	call puts
	movw 0x206(%ebx), %ax
	call puthex16
	movl $msg_loadflags, %esi
	call puts
	movzbl 0x211(%ebx), %eax
	call puthex8
	movl $msg_loader, %esi
	call puts
	movzbl 0x210(%ebx), %eax
	testl %eax, %eax
	setnz %al
	call putdigit
	call newline
	movl $msg_cmdline, %esi
	call puts
	movl 0x228(%ebx), %esi
	call puts
	jmp newline

/* e820: N entries, then base, length and type of each. */
show_e820:
	movl bp_ptr, %ebx
	movl $msg_e820, %esi
	call puts
	movzbl 0x1e8(%ebx), %eax
	movl %eax, %edi
	call puthex8
	movl $msg_entries, %esi
	call puts
	leal 0x2d0(%ebx), %ebx
1:	testl %edi, %edi
	jz 2f
	movl $msg_e820e, %esi
	call puts
	movl 4(%ebx), %eax
	call puthex32
	movl 0(%ebx), %eax
	call puthex32
	movl $msg_sp, %esi
	call puts
	movl 12(%ebx), %eax
	call puthex32
	movl 8(%ebx), %eax
	call puthex32
	movl $msg_sp, %esi
	call puts
	movl 16(%ebx), %eax
	call putdigit
	call newline
	addl $20, %ebx
	decl %edi
	jmp 1b
2:	ret

/* The initrd: its size and byte sum; page aligned, at or above 1 MiB, its last byte at or
 * below initrd_addr_max, outside this kernel (1 MiB + init_size) and inside a usable e820
 * range. */
show_initrd:
	movl bp_ptr, %ebx
	movl $msg_initrd, %esi
	call puts
	movl 0x21c(%ebx), %ecx
	movl %ecx, %eax
	call puthex32
	movl $msg_sum, %esi
	call puts
	movl 0x21c(%ebx), %ecx
	movl 0x218(%ebx), %esi
	xorl %eax, %eax
	xorl %edx, %edx
	testl %ecx, %ecx
	jz 2f
1:	movb (%esi), %dl
	addl %edx, %eax
	incl %esi
	decl %ecx
	jnz 1b
2:	call puthex32
	call newline
	movl 0x21c(%ebx), %ecx
	testl %ecx, %ecx
	jz 9f
	movl 0x218(%ebx), %eax
	testl $0xfff, %eax
	jnz 8f
	cmpl $0x200000, %eax /* this kernel is [1 MiB, 2 MiB) */
	jb 8f
	leal -1(%eax, %ecx), %edx
	cmpl 0x22c(%ebx), %edx
	ja 8f
	/* some usable range holds [eax, edx] */
	movzbl 0x1e8(%ebx), %ecx
	leal 0x2d0(%ebx), %esi
3:	testl %ecx, %ecx
	jz 8f
	cmpl $1, 16(%esi)
	jne 4f
	cmpl $0, 4(%esi) /* ranges below 4 GiB only */
	jne 4f
	cmpl 0(%esi), %eax
	jb 4f
	movl 0(%esi), %edi
	addl 8(%esi), %edi
	cmpl %edi, %edx
	jb 5f
4:	addl $20, %esi
	decl %ecx
	jmp 3b
5:	movl $msg_initrd_ok, %esi
	call puts
9:	ret
8:	movl $msg_initrd_bad, %esi
	call puts
	movl $msg_fail, %esi
	call puts
	movl $EXIT_FAIL_BZ, %eax
	jmp exit

/* ---- output ---- */
/* puts: the NUL-terminated string at ESI to COM1 (polled). Clobbers EAX, EDX, ESI. */
puts:
	movb (%esi), %al
	testb %al, %al
	jz 2f
	call putc
	incl %esi
	jmp puts
2:	ret

/* putc: AL to COM1. Clobbers EDX. */
putc:
	pushl %eax
	movw $COM1 + 5, %dx
1:	inb %dx, %al
	testb $LSR_THRE, %al
	jz 1b
	popl %eax
	movw $COM1, %dx
	outb %al, %dx
	ret

newline:
	movb $'\r', %al
	call putc
	movb $'\n', %al
	jmp putc

putdigit:
	addb $'0', %al
	jmp putc

/* puthexN: EAX's low N bits as N/4 hex digits. Clobber EAX, ECX, EDX. */
puthex8:
	shll $24, %eax
	movl $2, %ecx
	jmp puthex
puthex16:
	shll $16, %eax
	movl $4, %ecx
	jmp puthex
puthex32:
	movl $8, %ecx
puthex:
	roll $4, %eax
	pushl %eax
	andl $0xf, %eax
	movb hexdigits(%eax), %al
	call putc
	popl %eax
	decl %ecx
	jnz puthex
	ret

/* exit: EAX to isa-debug-exit, then stop. */
exit:
	movw $DEBUG_EXIT_PORT, %dx
	outl %eax, %dx
1:	cli
	hlt
	jmp 1b

hexdigits:	.ascii "0123456789abcdef"
msg_banner:	.asciz "pcbz: Linux boot protocol test kernel\r\n"
msg_cs:		.asciz "entry: cs 0x"
msg_ds:		.asciz " ds 0x"
msg_es:		.asciz " es 0x"
msg_ss:		.asciz " ss 0x"
msg_if:		.asciz " if "
msg_cr0:	.asciz " cr0.pg|pe 0x"
msg_proto:	.asciz "boot_params: protocol 0x"
msg_loadflags:	.asciz " loadflags 0x"
msg_loader:	.asciz " type_of_loader set "
msg_cmdline:	.asciz "cmdline: "
msg_e820:	.asciz "e820: 0x"
msg_entries:	.asciz " entries\r\n"
msg_e820e:	.asciz "e820: 0x"
msg_sp:		.asciz " 0x"
msg_initrd:	.asciz "initrd: size 0x"
msg_sum:	.asciz " sum 0x"
msg_initrd_ok:	.asciz "initrd: page aligned, above the kernel, under initrd_addr_max, usable RAM\r\n"
msg_initrd_bad:	.asciz "FAIL: the initrd is not where the boot protocol allows\r\n"
msg_fail:	.asciz "pcbz: FAIL\r\n"
msg_pass:	.asciz "pcbz: PASS\r\n"

	.balign 4
bp_ptr:		.long 0
eflags_at_entry: .long 0
	.balign 16
	.space 1024
stack_top:
	.balign 16
