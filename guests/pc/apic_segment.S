/*
 * apic_segment.elf: a multiboot 1 kernel whose a.out-kludge header loads it at 0xfee00000,
 * the local APIC page. With guest RAM below 3 GiB that address is no RAM, and the loader must
 * refuse the segment by name; with mem=4G (RAM over the APIC page) eptvisor must refuse the
 * guest memory size up front. The code never runs.
 */
#define MB1_MAGIC 0x1badb002
#define MB1_FLAGS 0x00010003 /* page-aligned modules, memory info, a.out kludge */
#define LOAD	  0xfee00000

	.section .multiboot, "ax"
	.balign 4
hdr:
	.long MB1_MAGIC
	.long MB1_FLAGS
	.long -(MB1_MAGIC + MB1_FLAGS)
	.long LOAD			/* header_addr: the header is loaded here */
	.long LOAD			/* load_addr: from the header on */
	.long 0				/* load_end_addr: the rest of the file */
	.long 0				/* bss_end_addr: no bss */
	.long LOAD + (entry - hdr)	/* entry_addr */
	.code32
entry:
	cli
1:	hlt
	jmp 1b

	.section .text.entry32, "ax"
	.globl _start
_start:
	jmp entry
