/*
 * What the BSP's entry (entry.S) and the APs' trampoline (ap.S) share on their way to long
 * mode: the GDT selectors, the control-register bits, and the switch itself. Assembly only.
 */
/* Assembler macros, not C: */
/* clang-format off */
#ifndef PC_GUEST_LONGMODE_H
#define PC_GUEST_LONGMODE_H

#define SEL_CODE32 0x08
#define SEL_DATA 0x10
#define SEL_CODE64 0x18
#define CR0_PE 0x00000001
#define CR0_PG 0x80000000
#define CR4_PAE 0x00000020
#define MSR_EFER 0xc0000080
#define EFER_LME 0x00000100

/* PAE, CR3 = pml4, EFER.LME, then paging: the far jump that follows enters 64-bit mode.
 * Needs no stack (an AP has none yet). Clobbers EAX, ECX, EDX. */
.macro LONG_MODE_ON
	movl %cr4, %eax
	orl $CR4_PAE, %eax
	movl %eax, %cr4
	movl $pml4, %eax
	movl %eax, %cr3
	movl $MSR_EFER, %ecx
	rdmsr
	orl $EFER_LME, %eax
	wrmsr
	movl %cr0, %eax
	orl $(CR0_PG | CR0_PE), %eax
	movl %eax, %cr0
.endm

#endif
