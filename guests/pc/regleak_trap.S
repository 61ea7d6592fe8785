/*
 * regleak.elf's AP trampoline for the `cache` test: copied to AP_TRAMP_BASE, it only stores
 * the CR0 the AP starts with (real mode, after INIT-SIPI) and halts. (Its exceptions go
 * through the shared isr.S/idt.c.)
 */
#include "guests/pc/codes.h"

#define AP_CR0_ADDR (AP_TRAMP_BASE + 0xf00)	/* where the AP stores its CR0 */
#define AP_DONE_ADDR (AP_TRAMP_BASE + 0xf04)	/* then this, = AP_DONE_MAGIC */
#define AP_DONE_MAGIC 0x600d

	.text

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
