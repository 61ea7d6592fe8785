/*
 * dbg.elf's cases (guests/pc/dbg.c runs them, one call each, with its debug registers set):
 * small 64-bit functions around the instruction under test, with a global label at every
 * address an event may name (dbg.c prints RIPs as label+offset). Each case that sets
 * RFLAGS.TF clears it again before returning; its single-step traps come after the
 * instruction that follows the POPF that set TF (SDM Vol. 3B 18.3.1.4).
 */
#define UNASSIGNED 0xd0000000 /* no RAM, no device: emulated by the hypervisor */
#define APIC_PPR   0xfee000a0 /* an APIC register whose reads exit (APIC access) */
#define UART_SCR   0x3ff      /* 16550 scratch register */
#define RFLAGS_TF  0x100
#define FRESH_STACK 0x1c00000 /* 28 MiB: RAM under eptvisor (32 MiB) and QEMU, never touched */

.macro TF_ON
	pushfq
	orq $RFLAGS_TF, (%rsp)
	popfq
.endm

.macro TF_OFF
	pushfq
	andq $~RFLAGS_TF, (%rsp)
	popfq
.endm

.macro CASE name
	.globl \name
\name:
.endm

	.code64
	.text

/* ---- single-step over instructions the CPU runs, and over ones a hypervisor emulates ---- */
CASE dbg_tf_nop
	TF_ON
	nop
CASE dbg_tf_nop_after
	TF_OFF
	ret

CASE dbg_tf_cpuid
	pushq %rbx
	xorl %eax, %eax
	xorl %ecx, %ecx
	TF_ON
	cpuid
CASE dbg_tf_cpuid_after
	TF_OFF
	popq %rbx
	ret

CASE dbg_tf_rdmsr
	movl $0x1b, %ecx /* IA32_APIC_BASE */
	TF_ON
	rdmsr
CASE dbg_tf_rdmsr_after
	TF_OFF
	ret

CASE dbg_tf_out
	movw $UART_SCR, %dx
	movb $0x5a, %al
	TF_ON
	outb %al, %dx
CASE dbg_tf_out_after
	TF_OFF
	ret

CASE dbg_tf_mmio
	movl $UNASSIGNED, %esi
	TF_ON
	movl (%rsi), %eax
CASE dbg_tf_mmio_after
	TF_OFF
	ret

CASE dbg_tf_apic
	movl $APIC_PPR, %esi
	TF_ON
	movl (%rsi), %eax
CASE dbg_tf_apic_after
	TF_OFF
	ret

/* REP MOVSL of three dwords from unassigned memory: a trap after each iteration, RIP on
 * the instruction until the last. */
CASE dbg_tf_rep
	movl $UNASSIGNED, %esi
	leaq dbg_wbuf(%rip), %rdi
	movl $3, %ecx
	cld
	TF_ON
CASE dbg_tf_rep_insn
	rep movsl
CASE dbg_tf_rep_after
	TF_OFF
	ret

/* MOV SS blocks the single-step trap for one instruction: it comes after the NOP. */
CASE dbg_tf_movss
	movw %ss, %ax
	TF_ON
	movw %ax, %ss
CASE dbg_tf_movss_nop
	nop
CASE dbg_tf_movss_after
	TF_OFF
	ret

/* The same with an instruction that exits in the shadow of MOV SS. */
CASE dbg_tf_movss_cpuid
	pushq %rbx
	xorl %eax, %eax
	xorl %ecx, %ecx
	movw %ss, %r8w
	TF_ON
	movw %r8w, %ss
CASE dbg_tf_movss_cpuid_insn
	cpuid
CASE dbg_tf_movss_cpuid_after
	TF_OFF
	popq %rbx
	ret

/* STI (interrupts off before it) then an instruction that exits in its shadow. */
CASE dbg_tf_sti_cpuid
	pushq %rbx
	xorl %eax, %eax
	xorl %ecx, %ecx
	cli
	TF_ON
	sti
CASE dbg_tf_sti_cpuid_insn
	cpuid
CASE dbg_tf_sti_cpuid_after
	cli
	TF_OFF
	popq %rbx
	ret

/* STI; HLT with TF: the APIC timer (armed by dbg.c) ends the HLT. */
CASE dbg_tf_sti_hlt
	cli
	TF_ON
	sti
CASE dbg_tf_sti_hlt_insn
	hlt
CASE dbg_tf_sti_hlt_after
	cli
	TF_OFF
	ret

/* A faulting instruction under TF has no single-step trap: the fault, then (TF back on
 * through the handler's IRET) a trap after the NOP it resumes at. */
CASE dbg_tf_ud2
	TF_ON
CASE dbg_tf_ud2_insn
	ud2
CASE dbg_tf_ud2_resume
	nop
CASE dbg_tf_ud2_after
	TF_OFF
	ret

CASE dbg_tf_rdpmc
	xorl %ecx, %ecx
	TF_ON
CASE dbg_tf_rdpmc_insn
	rdpmc
CASE dbg_tf_rdpmc_resume
	nop
CASE dbg_tf_rdpmc_after
	TF_OFF
	ret

/* ---- instruction breakpoints (DR0/DR1 point at the labels named in dbg.c) ---- */
CASE dbg_ibp
	nop
CASE dbg_ibp_target
	nop
CASE dbg_ibp_after
	ret

/* A breakpoint on the instruction after one the hypervisor emulates: the CPU clears RF
 * when an instruction completes, so it must fire. */
CASE dbg_ibp_mmio
	movl $UNASSIGNED, %esi
	movl (%rsi), %eax
CASE dbg_ibp_mmio_next
	nop
	ret

CASE dbg_ibp_apic
	movl $APIC_PPR, %esi
	movl (%rsi), %eax
CASE dbg_ibp_apic_next
	nop
	ret

CASE dbg_ibp_cpuid
	pushq %rbx
	xorl %eax, %eax
	xorl %ecx, %ecx
	cpuid
CASE dbg_ibp_cpuid_next
	nop
	popq %rbx
	ret

/* Breakpoints on an emulated instruction and on the next: the handler returns with RF=1
 * to the first (it runs once, without a second #DB), the second still fires. */
CASE dbg_ibp2_mmio
	movl $UNASSIGNED, %esi
CASE dbg_ibp2_mmio_insn
	movl (%rsi), %eax
CASE dbg_ibp2_mmio_next
	nop
	ret

/* ---- data breakpoints on dbg_wvar ---- */
CASE dbg_wp_write
	movl $1, dbg_wvar(%rip)
CASE dbg_wp_write_after
	ret

CASE dbg_wp_read
	movl dbg_wvar(%rip), %eax
CASE dbg_wp_read_after
	ret

/* ---- general detect: DR7.GD set, the first MOV to or from a debug register ---- */
CASE dbg_gd_read
	movq %dr7, %rax
CASE dbg_gd_read_after
	ret

CASE dbg_gd_write
	xorl %eax, %eax
CASE dbg_gd_write_insn
	movq %rax, %dr0
CASE dbg_gd_write_after
	ret

/* ---- faults: RF in the frame (the handler resumes at dbg_resume) ---- */
CASE dbg_f_ud2
	ud2
CASE dbg_f_ud2_after
	ret

/* UD2 on a stack in RAM nothing has touched yet: under eptvisor the #UD's frame write is
 * the page's first touch, an EPT violation in the middle of the delivery, and the #UD is
 * delivered again (IDT-vectoring information) with the RF a fault pushes. */
CASE dbg_f_ud2_fresh
	movq %rsp, %rax
	movq $FRESH_STACK, %rsp
CASE dbg_f_ud2_fresh_insn
	ud2
CASE dbg_f_ud2_fresh_after
	movq %rax, %rsp
	ret

/* MONITOR with CPUID.1:ECX.MONITOR clear: #UD (a hypervisor that exits on it injects it). */
CASE dbg_f_monitor
	movq $dbg_wvar, %rax
	xorl %ecx, %ecx
	xorl %edx, %edx
CASE dbg_f_monitor_insn
	monitor
CASE dbg_f_monitor_after
	ret

/* RDPMC of counter 0 on a CPU whose CPUID leaf 0xa has no counters: #GP(0). */
CASE dbg_f_rdpmc
	xorl %ecx, %ecx
CASE dbg_f_rdpmc_insn
	rdpmc
CASE dbg_f_rdpmc_after
	ret

	.data
	.balign 8
	.globl dbg_wvar
dbg_wvar:
	.long 0
	.long 0
dbg_wbuf:
	.fill 4, 4, 0
