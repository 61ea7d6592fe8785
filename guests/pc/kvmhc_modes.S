/*
 * kvmhc.elf's trips out of 64-bit ring 0 for one VMCALL each (kvmhc.c):
 *
 *   u64 vmcall_compat(u64 rax)  VMCALL in compatibility mode (CS 0x08: L=0, D=1), ring 0;
 *                               returns RAX as it came back
 *   u64 vmcall_user(u64 rax)    VMCALL at CPL 3 (SYSRET to a 64-bit user code segment,
 *                               back with SYSCALL); needs kvmhc_user_setup's GDT, STAR,
 *                               LSTAR, EFER.SCE and user-accessible pages (kvmhc.c)
 */
	.text
	.code64

	.globl vmcall_compat
vmcall_compat:
	movq %rdi, %rax
	pushq $0x08
	leaq 1f(%rip), %rcx
	pushq %rcx
	lretq
	.code32
1:	vmcall
	ljmp $0x18, $2f
	.code64
2:	ret

/* The user segments' selectors follow STAR (kvmhc.c): SYSRET loads CS 0x30|3, SS 0x28|3;
 * SYSCALL loads CS 0x18, SS 0x20. */
	.globl vmcall_user
vmcall_user:
	pushq %rbx
	pushq %rbp
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	movq %rsp, saved_rsp(%rip)
	movq %rdi, user_rax(%rip)
	leaq user_code(%rip), %rcx
	movq $0x2, %r11		/* RFLAGS: IF clear */
	sysretq

user_code:
	movq user_rax(%rip), %rax
	vmcall
	movq %rax, user_rax(%rip)
	syscall

	.globl kvmhc_syscall_entry
kvmhc_syscall_entry:
	movq saved_rsp(%rip), %rsp
	movw $0x10, %ax
	movw %ax, %ds
	movw %ax, %es
	movq user_rax(%rip), %rax
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbp
	popq %rbx
	ret

	.data
	.balign 8
saved_rsp:	.quad 0
user_rax:	.quad 0
