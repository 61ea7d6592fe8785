/*
 * Host tests of instruction fetch for APIC-access exits: the guest page-table walker
 * (devices/gwalk.c, at the end) and the MOV decoder (devices/insn.c). The byte sequences in
 * the table were produced by GNU as from the instruction shown next to them (assembled in the
 * .code16/.code32/.code64 mode given) and checked against objdump; a few hand-made sequences
 * cover prefix orderings the assembler never emits. Then: everything that must be refused,
 * truncation at every length, and the register read/merge helpers.
 */
/* cmocka.h needs these first */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

/* cmocka.h needs the headers above it. */
#include <cmocka.h>

#include <string.h>

#include "devices/gwalk.h"
#include "devices/insn.h"
#include "devices/memsplit.h"
#include "errno.h"

struct vec {
	int mode;
	const char *asm_text;
	u8 bytes[INSN_MAX_LEN];
	int len;
	bool write;
	int size, reg;
	bool high8;
	int reg_size;
	bool zero_ext;
	u64 imm;
};

/* clang-format off */
static const struct vec vecs[] = {
	{ 64, "mov %eax,0x7ee000b0", { 0x89, 0x04, 0x25, 0xb0, 0x00, 0xe0, 0x7e }, 7, true, 4, 0, false, 4, false, 0x0ULL },
	{ 64, "mov 0x100(%rip),%ecx", { 0x8b, 0x0d, 0x00, 0x01, 0x00, 0x00 }, 6, false, 4, 1, false, 4, false, 0x0ULL },
	{ 64, "mov (%rdi),%eax", { 0x8b, 0x07 }, 2, false, 4, 0, false, 4, false, 0x0ULL },
	{ 64, "mov 0x20(%rdi),%r9d", { 0x44, 0x8b, 0x4f, 0x20 }, 4, false, 4, 9, false, 4, false, 0x0ULL },
	{ 64, "mov %r12,0x300(%rbx,%rcx,8)", { 0x4c, 0x89, 0xa4, 0xcb, 0x00, 0x03, 0x00, 0x00 }, 8, true, 8, 12, false, 8, false, 0x0ULL },
	{ 64, "movl $0x12345678,0xb0(%rax)", { 0xc7, 0x80, 0xb0, 0x00, 0x00, 0x00, 0x78, 0x56, 0x34, 0x12 }, 10, true, 4, -1, false, 4, false, 0x12345678ULL },
	{ 64, "movq $-1,(%rax)", { 0x48, 0xc7, 0x00, 0xff, 0xff, 0xff, 0xff }, 7, true, 8, -1, false, 8, false, 0xffffffffffffffffULL },
	{ 64, "movq $0x7fffffff,(%rax)", { 0x48, 0xc7, 0x00, 0xff, 0xff, 0xff, 0x7f }, 7, true, 8, -1, false, 8, false, 0x7fffffffULL },
	{ 64, "movl $-2,(%r11)", { 0x41, 0xc7, 0x03, 0xfe, 0xff, 0xff, 0xff }, 7, true, 4, -1, false, 4, false, 0xfffffffeULL },
	{ 64, "movw $0x1234,(%rax)", { 0x66, 0xc7, 0x00, 0x34, 0x12 }, 5, true, 2, -1, false, 2, false, 0x1234ULL },
	{ 64, "movb $0x85,(%rax)", { 0xc6, 0x00, 0x85 }, 3, true, 1, -1, false, 1, false, 0x85ULL },
	{ 64, "mov %ah,(%rax)", { 0x88, 0x20 }, 2, true, 1, 0, true, 1, false, 0x0ULL },
	{ 64, "mov %bh,0x10(%rax)", { 0x88, 0x78, 0x10 }, 3, true, 1, 3, true, 1, false, 0x0ULL },
	{ 64, "mov %sil,(%rax)", { 0x40, 0x88, 0x30 }, 3, true, 1, 6, false, 1, false, 0x0ULL },
	{ 64, "mov %r8b,(%rax)", { 0x44, 0x88, 0x00 }, 3, true, 1, 8, false, 1, false, 0x0ULL },
	{ 64, "mov (%rax),%dl", { 0x8a, 0x10 }, 2, false, 1, 2, false, 1, false, 0x0ULL },
	{ 64, "movabs 0xfee00030,%eax", { 0xa1, 0x30, 0x00, 0xe0, 0xfe, 0x00, 0x00, 0x00, 0x00 }, 9, false, 4, 0, false, 4, false, 0x0ULL },
	{ 64, "movabs %eax,0xfee000b0", { 0xa3, 0xb0, 0x00, 0xe0, 0xfe, 0x00, 0x00, 0x00, 0x00 }, 9, true, 4, 0, false, 4, false, 0x0ULL },
	{ 64, "movabs %rax,0xfee00300", { 0x48, 0xa3, 0x00, 0x03, 0xe0, 0xfe, 0x00, 0x00, 0x00, 0x00 }, 10, true, 8, 0, false, 8, false, 0x0ULL },
	{ 64, "movabs 0xfee00030,%al", { 0xa0, 0x30, 0x00, 0xe0, 0xfe, 0x00, 0x00, 0x00, 0x00 }, 9, false, 1, 0, false, 1, false, 0x0ULL },
	{ 64, "addr32 mov (%eax),%ecx", { 0x67, 0x8b, 0x08 }, 3, false, 4, 1, false, 4, false, 0x0ULL },
	{ 64, "movzbl (%rax),%ecx", { 0x0f, 0xb6, 0x08 }, 3, false, 1, 1, false, 4, true, 0x0ULL },
	{ 64, "movzwl 0x20(%rax),%r10d", { 0x44, 0x0f, 0xb7, 0x50, 0x20 }, 5, false, 2, 10, false, 4, true, 0x0ULL },
	{ 64, "movzwq 0x20(%rax),%rdx", { 0x48, 0x0f, 0xb7, 0x50, 0x20 }, 5, false, 2, 2, false, 8, true, 0x0ULL },
	{ 64, "movzbw (%rax),%si", { 0x66, 0x0f, 0xb6, 0x30 }, 4, false, 1, 6, false, 2, true, 0x0ULL },
	{ 64, "mov %fs:(%rax),%eax", { 0x64, 0x8b, 0x00 }, 3, false, 4, 0, false, 4, false, 0x0ULL },
	{ 64, "mov %eax,-0x20(%rbp)", { 0x89, 0x45, 0xe0 }, 3, true, 4, 0, false, 4, false, 0x0ULL },
	{ 64, "mov 0x7ee00000(,%rax,4),%eax", { 0x8b, 0x04, 0x85, 0x00, 0x00, 0xe0, 0x7e }, 7, false, 4, 0, false, 4, false, 0x0ULL },
	{ 64, "mov %eax,(%rsp)", { 0x89, 0x04, 0x24 }, 3, true, 4, 0, false, 4, false, 0x0ULL },
	{ 64, "mov %esp,0x12345678(%rsp)", { 0x89, 0xa4, 0x24, 0x78, 0x56, 0x34, 0x12 }, 7, true, 4, 4, false, 4, false, 0x0ULL },
	{ 64, "mov %eax,(%r13)", { 0x41, 0x89, 0x45, 0x00 }, 4, true, 4, 0, false, 4, false, 0x0ULL },
	{ 64, "mov %ax,(%rbx)", { 0x66, 0x89, 0x03 }, 3, true, 2, 0, false, 2, false, 0x0ULL },
	{ 64, "mov %r15w,0x8(%r14,%r15,2)", { 0x66, 0x47, 0x89, 0x7c, 0x7e, 0x08 }, 6, true, 2, 15, false, 2, false, 0x0ULL },
	{ 64, "mov 0x300(%rip),%r15", { 0x4c, 0x8b, 0x3d, 0x00, 0x03, 0x00, 0x00 }, 7, false, 8, 15, false, 8, false, 0x0ULL },
	{ 32, "mov %eax,0xfee000b0", { 0xa3, 0xb0, 0x00, 0xe0, 0xfe }, 5, true, 4, 0, false, 4, false, 0x0ULL },
	{ 32, "mov 0xfee00020,%ebx", { 0x8b, 0x1d, 0x20, 0x00, 0xe0, 0xfe }, 6, false, 4, 3, false, 4, false, 0x0ULL },
	{ 32, "mov %ecx,0x300(%edx)", { 0x89, 0x8a, 0x00, 0x03, 0x00, 0x00 }, 6, true, 4, 1, false, 4, false, 0x0ULL },
	{ 32, "movl $0x8000,0xfee00380", { 0xc7, 0x05, 0x80, 0x03, 0xe0, 0xfe, 0x00, 0x80, 0x00, 0x00 }, 10, true, 4, -1, false, 4, false, 0x8000ULL },
	{ 32, "movw %ax,(%edi)", { 0x66, 0x89, 0x07 }, 3, true, 2, 0, false, 2, false, 0x0ULL },
	{ 32, "movw $0xbeef,(%edi)", { 0x66, 0xc7, 0x07, 0xef, 0xbe }, 5, true, 2, -1, false, 2, false, 0xbeefULL },
	{ 32, "addr16 mov (%bx,%si),%eax", { 0x67, 0x8b, 0x00 }, 3, false, 4, 0, false, 4, false, 0x0ULL },
	{ 32, "mov %ds:0xb0(%esi,%eax,1),%edi", { 0x8b, 0xbc, 0x06, 0xb0, 0x00, 0x00, 0x00 }, 7, false, 4, 7, false, 4, false, 0x0ULL },
	{ 32, "movzbl 0xfee00020,%eax", { 0x0f, 0xb6, 0x05, 0x20, 0x00, 0xe0, 0xfe }, 7, false, 1, 0, false, 4, true, 0x0ULL },
	{ 32, "mov %dh,(%eax)", { 0x88, 0x30 }, 2, true, 1, 2, true, 1, false, 0x0ULL },
	{ 16, "mov %ax,(%bx)", { 0x89, 0x07 }, 2, true, 2, 0, false, 2, false, 0x0ULL },
	{ 16, "mov 0x20(%bx,%si),%eax", { 0x66, 0x8b, 0x40, 0x20 }, 4, false, 4, 0, false, 4, false, 0x0ULL },
	{ 16, "mov 0x1234,%ax", { 0xa1, 0x34, 0x12 }, 3, false, 2, 0, false, 2, false, 0x0ULL },
	{ 16, "movw $0x5,0x10(%di)", { 0xc7, 0x45, 0x10, 0x05, 0x00 }, 5, true, 2, -1, false, 2, false, 0x5ULL },
	{ 16, "movl $0xfee00000,0x10(%di)", { 0x66, 0xc7, 0x45, 0x10, 0x00, 0x00, 0xe0, 0xfe }, 8, true, 4, -1, false, 4, false, 0xfee00000ULL },
	{ 16, "mov 0x300(%bp),%dx", { 0x8b, 0x96, 0x00, 0x03 }, 4, false, 2, 2, false, 2, false, 0x0ULL },
	{ 16, "mov 0x3f0,%cx", { 0x8b, 0x0e, 0xf0, 0x03 }, 4, false, 2, 1, false, 2, false, 0x0ULL },
	{ 16, "addr32 mov (%eax),%ax", { 0x67, 0x8b, 0x00 }, 3, false, 2, 0, false, 2, false, 0x0ULL },
	{ 16, "addr32 mov 0xfee00020(,%eax,2),%ax", { 0x67, 0x8b, 0x04, 0x45, 0x20, 0x00, 0xe0, 0xfe }, 8, false, 2, 0, false, 2, false, 0x0ULL },
	{ 16, "mov %es:(%di),%ax", { 0x26, 0x8b, 0x05 }, 3, false, 2, 0, false, 2, false, 0x0ULL },
	{ 16, "mov %eax,%es:0x380", { 0x26, 0x66, 0xa3, 0x80, 0x03 }, 5, true, 4, 0, false, 4, false, 0x0ULL },
	/* Hand-made: a REX before a legacy prefix is ignored; redundant segment prefixes. */
	{ 64, "rex.w data16 mov %ax,(%rbx)", { 0x48, 0x66, 0x89, 0x03 }, 4, true, 2, 0, false, 2, false, 0 },
	{ 64, "cs ds mov (%rax),%r8", { 0x2e, 0x3e, 0x4c, 0x8b, 0x00 }, 5, false, 8, 8, false, 8, false, 0 },
	{ 32, "ss mov %eax,0x10(%ebp)", { 0x36, 0x89, 0x45, 0x10 }, 4, true, 4, 0, false, 4, false, 0 },
	{ 16, "gs data32 addr32 movl $1,(%eax)", { 0x65, 0x66, 0x67, 0xc7, 0x00, 1, 0, 0, 0 }, 9, true, 4, -1, false, 4, false, 1 },
};
/* clang-format on */

/* The forms beyond MOV (ALU, TEST, XCHG, MOVSX/MOVSXD, the string moves), produced by GNU as
 * like the table above; fields as in struct insn_mov. */
struct vec2 {
	int mode;
	const char *asm_text;
	u8 bytes[INSN_MAX_LEN];
	int len, kind, alu;
	bool write;
	int size, reg;
	bool high8;
	int reg_size;
	bool sign_ext;
	u64 imm;
	bool rep;
};

/* clang-format off */
static const struct vec2 vecs2[] = {
	{ 64, "orl %eax,0xf0(%rbx)", { 0x09, 0x83, 0xf0, 0x00, 0x00, 0x00 }, 6, INSN_ALU, INSN_OR, true, 4, 0, false, 4, false, 0x0ULL, false },
	{ 64, "orl $0x100,0xf0(%rbx)", { 0x81, 0x8b, 0xf0, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00 }, 10, INSN_ALU, INSN_OR, true, 4, -1, false, 4, false, 0x100ULL, false },
	{ 64, "andl $-0x101,0xf0(%rbx)", { 0x81, 0xa3, 0xf0, 0x00, 0x00, 0x00, 0xff, 0xfe, 0xff, 0xff }, 10, INSN_ALU, INSN_AND, true, 4, -1, false, 4, false, 0xfffffeffULL, false },
	{ 64, "andl $0xfffffeff,0xf0(%rbx)", { 0x81, 0xa3, 0xf0, 0x00, 0x00, 0x00, 0xff, 0xfe, 0xff, 0xff }, 10, INSN_ALU, INSN_AND, true, 4, -1, false, 4, false, 0xfffffeffULL, false },
	{ 64, "addq $-1,(%rax)", { 0x48, 0x83, 0x00, 0xff }, 4, INSN_ALU, INSN_ADD, true, 8, -1, false, 8, false, 0xffffffffffffffffULL, false },
	{ 64, "subq $0x12345678,(%rax)", { 0x48, 0x81, 0x28, 0x78, 0x56, 0x34, 0x12 }, 7, INSN_ALU, INSN_SUB, true, 8, -1, false, 8, false, 0x12345678ULL, false },
	{ 64, "adcb $0x80,(%rax)", { 0x80, 0x10, 0x80 }, 3, INSN_ALU, INSN_ADC, true, 1, -1, false, 1, false, 0x80ULL, false },
	{ 64, "sbbw $0x1234,(%rax)", { 0x66, 0x81, 0x18, 0x34, 0x12 }, 5, INSN_ALU, INSN_SBB, true, 2, -1, false, 2, false, 0x1234ULL, false },
	{ 64, "xorw $-2,(%rax)", { 0x66, 0x83, 0x30, 0xfe }, 4, INSN_ALU, INSN_XOR, true, 2, -1, false, 2, false, 0xfffeULL, false },
	{ 64, "cmpl $0x10,0x80(%rdi)", { 0x83, 0xbf, 0x80, 0x00, 0x00, 0x00, 0x10 }, 7, INSN_ALU, INSN_CMP, false, 4, -1, false, 4, false, 0x10ULL, false },
	{ 64, "cmp %ecx,0x80(%rdi)", { 0x39, 0x8f, 0x80, 0x00, 0x00, 0x00 }, 6, INSN_ALU, INSN_CMP, false, 4, 1, false, 4, false, 0x0ULL, false },
	{ 64, "cmp 0x80(%rdi),%ecx", { 0x3b, 0x8f, 0x80, 0x00, 0x00, 0x00 }, 6, INSN_ALU, INSN_CMP, false, 4, 1, false, 4, false, 0x0ULL, false },
	{ 64, "add 0x80(%rdi),%r9", { 0x4c, 0x03, 0x8f, 0x80, 0x00, 0x00, 0x00 }, 7, INSN_ALU, INSN_ADD, false, 8, 9, false, 8, false, 0x0ULL, false },
	{ 64, "or (%rax),%ah", { 0x0a, 0x20 }, 2, INSN_ALU, INSN_OR, false, 1, 0, true, 1, false, 0x0ULL, false },
	{ 64, "sub %bh,(%rax)", { 0x28, 0x38 }, 2, INSN_ALU, INSN_SUB, true, 1, 3, true, 1, false, 0x0ULL, false },
	{ 64, "and (%rax),%dx", { 0x66, 0x23, 0x10 }, 3, INSN_ALU, INSN_AND, false, 2, 2, false, 2, false, 0x0ULL, false },
	{ 64, "lock orl $1,(%rax)", { 0xf0, 0x83, 0x08, 0x01 }, 4, INSN_ALU, INSN_OR, true, 4, -1, false, 4, false, 0x1ULL, false },
	{ 64, "testl $0x100,0xf0(%rbx)", { 0xf7, 0x83, 0xf0, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00 }, 10, INSN_TEST, INSN_ADD, false, 4, -1, false, 4, false, 0x100ULL, false },
	{ 64, "testb $0x80,0xf1(%rbx)", { 0xf6, 0x83, 0xf1, 0x00, 0x00, 0x00, 0x80 }, 7, INSN_TEST, INSN_ADD, false, 1, -1, false, 1, false, 0x80ULL, false },
	{ 64, "test %r8,(%rax)", { 0x4c, 0x85, 0x00 }, 3, INSN_TEST, INSN_ADD, false, 8, 8, false, 8, false, 0x0ULL, false },
	{ 64, "xchg %eax,0x80(%rbx)", { 0x87, 0x83, 0x80, 0x00, 0x00, 0x00 }, 6, INSN_XCHG, INSN_ADD, true, 4, 0, false, 4, false, 0x0ULL, false },
	{ 64, "xchg %cl,(%rbx)", { 0x86, 0x0b }, 2, INSN_XCHG, INSN_ADD, true, 1, 1, false, 1, false, 0x0ULL, false },
	{ 64, "lock xchg %r10,(%rbx)", { 0xf0, 0x4c, 0x87, 0x13 }, 4, INSN_XCHG, INSN_ADD, true, 8, 10, false, 8, false, 0x0ULL, false },
	{ 64, "movsbl (%rax),%ecx", { 0x0f, 0xbe, 0x08 }, 3, INSN_MOV, INSN_ADD, false, 1, 1, false, 4, true, 0x0ULL, false },
	{ 64, "movswq 0x20(%rax),%rdx", { 0x48, 0x0f, 0xbf, 0x50, 0x20 }, 5, INSN_MOV, INSN_ADD, false, 2, 2, false, 8, true, 0x0ULL, false },
	{ 64, "movsbw (%rax),%si", { 0x66, 0x0f, 0xbe, 0x30 }, 4, INSN_MOV, INSN_ADD, false, 1, 6, false, 2, true, 0x0ULL, false },
	{ 64, "movslq 0x20(%rax),%r11", { 0x4c, 0x63, 0x58, 0x20 }, 4, INSN_MOV, INSN_ADD, false, 4, 11, false, 8, true, 0x0ULL, false },
	{ 64, "movsxd 0x20(%rax),%ecx", { 0x63, 0x48, 0x20 }, 3, INSN_MOV, INSN_ADD, false, 4, 1, false, 4, false, 0x0ULL, false },
	{ 64, "movsl", { 0xa5 }, 1, INSN_MOVS, INSN_ADD, true, 4, 0, false, 4, false, 0x0ULL, false },
	{ 64, "rep movsb", { 0xf3, 0xa4 }, 2, INSN_MOVS, INSN_ADD, true, 1, 0, false, 1, false, 0x0ULL, true },
	{ 64, "rep movsq", { 0xf3, 0x48, 0xa5 }, 3, INSN_MOVS, INSN_ADD, true, 8, 0, false, 8, false, 0x0ULL, true },
	{ 64, "rep stosl", { 0xf3, 0xab }, 2, INSN_STOS, INSN_ADD, true, 4, 0, false, 4, false, 0x0ULL, true },
	{ 64, "stosw", { 0x66, 0xab }, 2, INSN_STOS, INSN_ADD, true, 2, 0, false, 2, false, 0x0ULL, false },
	{ 64, "lodsl %fs:(%rsi),%eax", { 0x64, 0xad }, 2, INSN_LODS, INSN_ADD, false, 4, 0, false, 4, false, 0x0ULL, false },
	{ 64, "rep lodsb", { 0xf3, 0xac }, 2, INSN_LODS, INSN_ADD, false, 1, 0, false, 1, false, 0x0ULL, true },
	{ 32, "orl $0x100,0xfee000f0", { 0x81, 0x0d, 0xf0, 0x00, 0xe0, 0xfe, 0x00, 0x01, 0x00, 0x00 }, 10, INSN_ALU, INSN_OR, true, 4, -1, false, 4, false, 0x100ULL, false },
	{ 32, "andw $0xff,(%eax)", { 0x66, 0x81, 0x20, 0xff, 0x00 }, 5, INSN_ALU, INSN_AND, true, 2, -1, false, 2, false, 0xffULL, false },
	{ 32, "xchg %eax,0xfee00080", { 0x87, 0x05, 0x80, 0x00, 0xe0, 0xfe }, 6, INSN_XCHG, INSN_ADD, true, 4, 0, false, 4, false, 0x0ULL, false },
	{ 32, "movsbl 0xfee00020,%eax", { 0x0f, 0xbe, 0x05, 0x20, 0x00, 0xe0, 0xfe }, 7, INSN_MOV, INSN_ADD, false, 1, 0, false, 4, true, 0x0ULL, false },
	{ 32, "rep movsl", { 0xf3, 0xa5 }, 2, INSN_MOVS, INSN_ADD, true, 4, 0, false, 4, false, 0x0ULL, true },
	{ 32, "addr16 stosl", { 0x67, 0xab }, 2, INSN_STOS, INSN_ADD, true, 4, 0, false, 4, false, 0x0ULL, false },
	{ 16, "orw $0x100,0xf0(%bx)", { 0x81, 0x8f, 0xf0, 0x00, 0x00, 0x01 }, 6, INSN_ALU, INSN_OR, true, 2, -1, false, 2, false, 0x100ULL, false },
	{ 16, "orl $0x100,0xf0(%bx)", { 0x66, 0x81, 0x8f, 0xf0, 0x00, 0x00, 0x01, 0x00, 0x00 }, 9, INSN_ALU, INSN_OR, true, 4, -1, false, 4, false, 0x100ULL, false },
	{ 16, "cmpb $5,(%si)", { 0x80, 0x3c, 0x05 }, 3, INSN_ALU, INSN_CMP, false, 1, -1, false, 1, false, 0x5ULL, false },
	{ 16, "rep movsw", { 0xf3, 0xa5 }, 2, INSN_MOVS, INSN_ADD, true, 2, 0, false, 2, false, 0x0ULL, true },

};
/* clang-format on */

static void test_vectors_beyond_mov(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(vecs2) / sizeof(vecs2[0]); i++) {
		const struct vec2 *v = &vecs2[i];
		struct insn_mov m;
		u8 buf[INSN_MAX_LEN + 4];
		int ret;

		memset(buf, 0x90, sizeof(buf));
		memcpy(buf, v->bytes, v->len);
		ret = insn_decode_mov(buf, sizeof(buf), v->mode, &m);
		print_message("%2d-bit %-40s -> ret %d len %d\n", v->mode, v->asm_text, ret, m.len);
		assert_int_equal(ret, 0);
		assert_int_equal(m.len, v->len);
		assert_int_equal(m.kind, v->kind);
		if (v->kind == INSN_ALU)
			assert_int_equal(m.alu, v->alu);
		assert_int_equal(m.write, v->write);
		assert_int_equal(m.size, v->size);
		assert_int_equal(m.reg, v->reg);
		assert_int_equal(m.high8, v->high8);
		assert_int_equal(m.reg_size, v->reg_size);
		assert_int_equal(m.sign_ext, v->sign_ext);
		assert_false(m.zero_ext);
		assert_int_equal(m.imm, v->imm);
		assert_int_equal(m.rep, v->rep);
		/* The register is the destination in the 02/03 ALU forms: "op mem,%reg" in AT&T. */
		assert_int_equal(m.reg_dst,
		                 v->kind == INSN_ALU && strstr(v->asm_text, "),%") != NULL);
		for (int n = 0; n < v->len; n++)
			assert_int_equal(insn_decode_mov(v->bytes, n, v->mode, &m), -EINVAL);
	}
}

/* String forms: the source is DS:rSI (or the override), the destination ES:rDI. */
static void test_string_operands(void **state)
{
	static const u8 movs_fs[] = { 0x64, 0xa5 }, stos_fs[] = { 0x64, 0xab };
	struct insn_mov m;

	(void)state;
	assert_int_equal(insn_decode_mov(movs_fs, 2, 64, &m), 0);
	assert_int_equal(m.mem.base, 6);
	assert_int_equal(m.mem.seg, INSN_SEG_FS);
	assert_int_equal(insn_decode_mov(stos_fs, 2, 64, &m), 0);
	assert_int_equal(m.mem.base, 7);
	assert_int_equal(m.mem.seg, INSN_SEG_ES); /* STOS's ES cannot be overridden */
	assert_int_equal(m.mem.adsize, 8);
}

/* movsx: the value read is sign-extended into the destination; movsxd without REX.W is a
 * plain 32-bit load (upper half cleared in 64-bit mode). */
static void test_sign_extension(void **state)
{
	static const u8 movsbl[] = { 0x0f, 0xbe, 0x08 }, movswq[] = { 0x48, 0x0f, 0xbf, 0x08 },
			movsbw[] = { 0x66, 0x0f, 0xbe, 0x08 }, movslq[] = { 0x48, 0x63, 0x08 },
			movsxd32[] = { 0x63, 0x08 };
	struct insn_mov m;

	(void)state;
	assert_int_equal(insn_decode_mov(movsbl, 3, 64, &m), 0);
	assert_int_equal(insn_mov_dst(&m, ~0ULL, 0x80), 0xffffff80ULL);
	assert_int_equal(insn_mov_dst(&m, ~0ULL, 0x7f), 0x7fULL);
	assert_int_equal(insn_decode_mov(movswq, 4, 64, &m), 0);
	assert_int_equal(insn_mov_dst(&m, 0, 0x8001), 0xffffffffffff8001ULL);
	assert_int_equal(insn_decode_mov(movsbw, 4, 64, &m), 0);
	assert_int_equal(insn_mov_dst(&m, 0x1111111111111111ULL, 0xfe), 0x111111111111fffeULL);
	assert_int_equal(insn_decode_mov(movslq, 3, 64, &m), 0);
	assert_int_equal(insn_mov_dst(&m, 0, 0x80000000), 0xffffffff80000000ULL);
	assert_int_equal(insn_decode_mov(movsxd32, 2, 64, &m), 0);
	assert_int_equal(insn_mov_dst(&m, ~0ULL, 0x80000000), 0x80000000ULL);
}

/* ---- ALU flags, against the host CPU running the same operation ---- */

#define NATIVE(insn, sfx, reg, type)                                                               \
	static u64 native_##insn##sfx(u64 a, u64 b, u64 *fl)                                       \
	{                                                                                          \
		type x = (type)a, y = (type)b;                                                     \
		u64 f = *fl;                                                                       \
		__asm__ volatile("push %[f]\n\tpopfq\n\t" #insn #sfx                               \
		                 " %[y], %[x]\n\tpushfq\n\tpop %[f]"                               \
		                 : [x] "+" reg(x), [f] "+r"(f)                                     \
		                 : [y] reg(y)                                                      \
		                 : "cc");                                                          \
		*fl = f;                                                                           \
		return (u64)x;                                                                     \
	}
#define NATIVE_ALL(insn)                                                                           \
	NATIVE(insn, b, "q", u8)                                                                   \
	NATIVE(insn, w, "r", u16) NATIVE(insn, l, "r", u32) NATIVE(insn, q, "r", u64)
NATIVE_ALL(add)
NATIVE_ALL(or)
NATIVE_ALL(adc)
NATIVE_ALL(sbb)
NATIVE_ALL(and)
NATIVE_ALL(sub)
NATIVE_ALL(xor)
NATIVE_ALL(cmp)

typedef u64 (*native_fn)(u64, u64, u64 *);
static const native_fn natives[8][4] = {
	{ native_addb, native_addw, native_addl, native_addq },
	{ native_orb, native_orw, native_orl, native_orq },
	{ native_adcb, native_adcw, native_adcl, native_adcq },
	{ native_sbbb, native_sbbw, native_sbbl, native_sbbq },
	{ native_andb, native_andw, native_andl, native_andq },
	{ native_subb, native_subw, native_subl, native_subq },
	{ native_xorb, native_xorw, native_xorl, native_xorq },
	{ native_cmpb, native_cmpw, native_cmpl, native_cmpq },
};

static u64 rng_state = 0x243f6a8885a308d3ULL;

static u64 rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* Operands that hit the edges: 0, 1, all-ones, the sign bit and its neighbours, nibble
 * carries, or random. */
static u64 operand(int i)
{
	static const u64 edge[] = { 0,
		                    1,
		                    ~0ULL,
		                    0x7f,
		                    0x80,
		                    0x7fff,
		                    0x8000,
		                    0x7fffffff,
		                    0x80000000,
		                    0x7fffffffffffffffULL,
		                    0x8000000000000000ULL,
		                    0x0f,
		                    0x10,
		                    0xff };

	return i < (int)(sizeof(edge) / sizeof(edge[0])) ? edge[i] : rnd();
}

static void test_alu_flags_native(void **state)
{
	(void)state;
	for (int op = 0; op < 8; op++)
		for (int s = 0; s < 4; s++)
			for (int i = 0; i < 60; i++)
				for (int j = 0; j < 60; j++)
					for (u64 cf = 0; cf < 2; cf++) {
						int size = 1 << s;
						/* Other flags (DF, IF stays) must be kept. */
						u64 in = 0x202 | cf | (j & 1 ? 0x8d4 : 0);
						u64 a = operand(i), b = operand(j), fn = in,
						    fe = in;
						u64 want = natives[op][s](a, b, &fn);
						u64 got = insn_alu(op, a, b, size, &fe);

						if (op == INSN_CMP)
							want = a; /* cmp leaves x */
						if (op != INSN_CMP)
							assert_int_equal(
								got,
								want & (size == 8
							                        ? ~0ULL
							                        : (1ULL
							                           << (8 * size)) -
							                                  1));
						if ((fe & 0xfd5) != (fn & 0xfd5))
							print_message(
								"op %d size %d a %#lx b %#lx cf "
								"%lu: flags %#lx, cpu %#lx\n",
								op, size, (unsigned long)a,
								(unsigned long)b, (unsigned long)cf,
								(unsigned long)fe,
								(unsigned long)fn);
						assert_int_equal(fe & 0xfd5, fn & 0xfd5);
					}
}

/* TEST is AND without the result. */
static void test_alu_test(void **state)
{
	u64 f = 0x8d5;

	(void)state;
	assert_int_equal(insn_alu(INSN_AND, 0xf0, 0x0f, 1, &f), 0);
	assert_int_equal(f & INSN_FLAGS, 0x44); /* ZF, PF */
}

static void test_vectors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(vecs) / sizeof(vecs[0]); i++) {
		const struct vec *v = &vecs[i];
		struct insn_mov m;
		int ret;

		/* Trailing junk after the instruction must not matter. */
		u8 buf[INSN_MAX_LEN + 4];

		memset(buf, 0x90, sizeof(buf));
		memcpy(buf, v->bytes, v->len);
		ret = insn_decode_mov(buf, sizeof(buf), v->mode, &m);
		print_message("%2d-bit %-40s -> ret %d len %d\n", v->mode, v->asm_text, ret, m.len);
		assert_int_equal(ret, 0);
		assert_int_equal(m.len, v->len);
		assert_int_equal(m.write, v->write);
		assert_int_equal(m.size, v->size);
		assert_int_equal(m.reg, v->reg);
		assert_int_equal(m.high8, v->high8);
		assert_int_equal(m.reg_size, v->reg_size);
		assert_int_equal(m.zero_ext, v->zero_ext);
		assert_int_equal(m.imm, v->imm);
		assert_int_equal(m.mode, v->mode);
	}
}

/* Every vector cut short by one byte or more is refused, never over-read (ASan). */
static void test_truncated(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(vecs) / sizeof(vecs[0]); i++) {
		const struct vec *v = &vecs[i];

		for (int n = 0; n < v->len; n++) {
			struct insn_mov m;
			u8 *copy = test_malloc(n ? n : 1);

			memcpy(copy, v->bytes, n);
			assert_int_equal(insn_decode_mov(copy, n, v->mode, &m), -EINVAL);
			test_free(copy);
		}
	}
}

static void test_refused(void **state)
{
	static const struct {
		int mode;
		const char *what;
		u8 bytes[16];
		int n;
	} bad[] = {
		{ 64, "mov %eax,%ebx (mod 3)", { 0x89, 0xc3 }, 2 },
		{ 64, "mov %ebx,%eax (mod 3)", { 0x8b, 0xc3 }, 2 },
		{ 64, "lock mov", { 0xf0, 0x89, 0x03 }, 3 },
		{ 64, "rep mov", { 0xf3, 0x89, 0x03 }, 3 },
		{ 64, "add %eax,%ebx (mod 3)", { 0x01, 0xc3 }, 2 },
		{ 64, "orl $1,%eax (mod 3)", { 0x83, 0xc8, 0x01 }, 3 },
		{ 64, "lock cmp", { 0xf0, 0x39, 0x03 }, 3 },
		{ 64, "lock test", { 0xf0, 0x85, 0x03 }, 3 },
		{ 64, "lock or (%rax),%eax (register destination)", { 0xf0, 0x0b, 0x00 }, 3 },
		{ 64, "lock movs", { 0xf0, 0xa5 }, 2 },
		{ 64, "rep or", { 0xf3, 0x09, 0x03 }, 3 },
		{ 64, "repne movs", { 0xf2, 0xa5 }, 2 },
		{ 64, "notl (%rax) (F7 /2)", { 0xf7, 0x10 }, 2 },
		{ 64, "F6 /1", { 0xf6, 0x08, 0x01 }, 3 },
		{ 64, "82 /1 (invalid in 64-bit mode)", { 0x82, 0x08, 0x01 }, 3 },
		{ 64, "cmps (A6)", { 0xa6 }, 1 },
		{ 64, "scas (AE)", { 0xae }, 1 },
		{ 64, "xadd (0F C1)", { 0x0f, 0xc1, 0x03 }, 3 },
		{ 32, "arpl (63 outside 64-bit mode)", { 0x63, 0x03 }, 2 },
		{ 64, "daa-slot 0x27", { 0x27 }, 1 },
		{ 64, "C7 /1", { 0xc7, 0x08, 1, 2, 3, 4 }, 6 },
		{ 64, "C6 /7", { 0xc6, 0x38, 1 }, 3 },
		{ 64, "movups (0F 10)", { 0x0f, 0x10, 0x03 }, 3 },
		{ 64, "rex only", { 0x48 }, 1 },
		{ 32, "inc %eax (0x40 is not REX)", { 0x40, 0x89, 0x03 }, 3 },
		{ 64,
		  "16 prefixes",
		  { 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
		    0x66, 0x89, 0x03 },
		  16 },
		{ 8, "bad mode", { 0x89, 0x03 }, 2 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct insn_mov m;

		print_message("refuse: %s\n", bad[i].what);
		assert_int_equal(insn_decode_mov(bad[i].bytes, bad[i].n, bad[i].mode, &m), -EINVAL);
	}
}

/* 14 prefixes + opcode + ModRM is 16 bytes; 13 prefixes makes exactly 15 and is fine. */
static void test_length_limit(void **state)
{
	u8 b[15];
	struct insn_mov m;

	(void)state;
	memset(b, 0x3e, 13);
	b[13] = 0x89;
	b[14] = 0x03;
	assert_int_equal(insn_decode_mov(b, 15, 64, &m), 0);
	assert_int_equal(m.len, 15);
}

static struct insn_mov decode(const u8 *b, int n, int mode)
{
	struct insn_mov m;

	assert_int_equal(insn_decode_mov(b, n, mode, &m), 0);
	return m;
}

static void test_src_dst(void **state)
{
	static const u8 st_eax[] = { 0x89, 0x07 }, st_ah[] = { 0x88, 0x20 },
			st_imm[] = { 0x48, 0xc7, 0x00, 0xfe, 0xff, 0xff, 0xff },
			ld_eax[] = { 0x8b, 0x07 }, ld_dl[] = { 0x8a, 0x10 },
			ld_dh[] = { 0x8a, 0x30 }, ld_ax[] = { 0x66, 0x8b, 0x07 },
			ld_rax[] = { 0x48, 0x8b, 0x07 }, zx_ecx[] = { 0x0f, 0xb6, 0x08 },
			zx_si[] = { 0x66, 0x0f, 0xb6, 0x30 };
	const u64 old = 0x1122334455667788ULL;
	struct insn_mov m;

	(void)state;
	m = decode(st_eax, 2, 64);
	assert_int_equal(insn_mov_src(&m, old), 0x55667788);
	m = decode(st_ah, 2, 64);
	assert_int_equal(insn_mov_src(&m, old), 0x77);
	m = decode(st_imm, 7, 64);
	assert_int_equal(insn_mov_src(&m, old), 0xfffffffffffffffeULL);

	m = decode(ld_eax, 2, 64);
	assert_int_equal(insn_mov_dst(&m, old, 0xaabbccdd), 0xaabbccdd);
	m = decode(ld_eax, 2, 32); /* outside long mode bits 63:32 are left alone */
	assert_int_equal(insn_mov_dst(&m, old, 0xaabbccdd), 0x11223344aabbccddULL);
	m = decode(ld_dl, 2, 64);
	assert_int_equal(insn_mov_dst(&m, old, 0xaabbccdd), 0x11223344556677ddULL);
	m = decode(ld_dh, 2, 64);
	assert_true(m.high8);
	assert_int_equal(m.reg, 2);
	assert_int_equal(insn_mov_dst(&m, old, 0xaabbccdd), 0x112233445566dd88ULL);
	m = decode(ld_ax, 3, 64);
	assert_int_equal(insn_mov_dst(&m, old, 0xaabbccdd), 0x112233445566ccddULL);
	m = decode(ld_rax, 3, 64);
	assert_int_equal(insn_mov_dst(&m, old, 0xfee00000aabbccddULL), 0xfee00000aabbccddULL);
	m = decode(zx_ecx, 3, 64);
	assert_int_equal(insn_mov_dst(&m, old, 0xaabbccdd), 0xdd);
	m = decode(zx_si, 4, 64);
	assert_int_equal(insn_mov_dst(&m, old, 0xaabbccdd), 0x11223344556600ddULL);
}

/* ---- gwalk: page tables in a fake guest-physical memory ---------------------------------- */

#define MEM_SIZE (64 * 1024)
static u8 mem[MEM_SIZE];
static int reads;

static int read_phys(void *ctx, u64 gpa, u64 *val)
{
	assert_ptr_equal(ctx, mem);
	assert_int_equal(gpa & 7, 0); /* the walker only asks for aligned 8 bytes */
	reads++;
	if (gpa > MEM_SIZE - 8)
		return -EFAULT;
	memcpy(val, mem + gpa, 8);
	return 0;
}

static void put32(u64 gpa, u32 v)
{
	memcpy(mem + gpa, &v, 4);
}

static void put64(u64 gpa, u64 v)
{
	memcpy(mem + gpa, &v, 8);
}

static int xlate(const struct gwalk_cpu *cpu, u64 gva, u64 *gpa)
{
	*gpa = 0xdead;
	return gwalk_translate(cpu, gva, read_phys, mem, gpa);
}

static void test_gwalk_paging_off(void **state)
{
	struct gwalk_cpu cpu = { .cr0 = 0x11, .cr4 = GW_CR4_PAE, .efer = 0 };
	u64 gpa;

	(void)state;
	reads = 0;
	assert_int_equal(xlate(&cpu, 0x12345678, &gpa), 0);
	assert_int_equal(gpa, 0x12345678);
	assert_int_equal(xlate(&cpu, 0x100001000ULL, &gpa), 0);
	assert_int_equal(gpa, 0x1000);
	assert_int_equal(reads, 0);
}

static void test_gwalk_32bit(void **state)
{
	struct gwalk_cpu cpu = { .cr0 = GW_CR0_PG | 1, .cr3 = 0x1018, .cr4 = GW_CR4_PSE };
	u64 gpa;

	(void)state;
	memset(mem, 0, sizeof(mem));
	put32(0x1000 + 1 * 4, 0x2000 | 0x7);   /* PDE[1] -> PT (odd index: high half) */
	put32(0x2000 + 5 * 4, 0xabc000 | 0x3); /* PTE[5] */
	put32(0x1000 + 2 * 4, 0x01000000 | (3 << 13) | 0x83); /* PDE[2]: 4 MiB, PSE-36 = 3 */
	put32(0x1000 + 3 * 4, 0x2000 | 0x1);
	assert_int_equal(xlate(&cpu, 0x00405123, &gpa), 0);
	assert_int_equal(gpa, 0xabc123);
	assert_int_equal(xlate(&cpu, 0x00812345, &gpa), 0);
	assert_int_equal(gpa, 0x301012345ULL);
	/* Not present: PDE[0], PTE[6] of PDE[3]'s table. */
	assert_int_equal(xlate(&cpu, 0x00001000, &gpa), -EFAULT);
	assert_int_equal(xlate(&cpu, 0x00c06000, &gpa), -EFAULT);
	assert_int_equal(xlate(&cpu, 0x00c05fff, &gpa), 0);
	assert_int_equal(gpa, 0xabcfff);
	/* Upper 32 bits of the linear address are ignored outside long mode. */
	assert_int_equal(xlate(&cpu, 0xffffffff00405123ULL, &gpa), 0);
	assert_int_equal(gpa, 0xabc123);
	/* Without CR4.PSE the PS bit is ignored: PDE[2] names a table beyond memory. */
	cpu.cr4 = 0;
	assert_int_equal(xlate(&cpu, 0x00812345, &gpa), -EFAULT);
}

static void test_gwalk_pae(void **state)
{
	struct gwalk_cpu cpu = { .cr0 = GW_CR0_PG | 1, .cr3 = 0x3020, .cr4 = GW_CR4_PAE };
	u64 cached[4] = { 0, 0, 0x4000 | 1, 0 };
	u64 gpa;

	(void)state;
	memset(mem, 0, sizeof(mem));
	put64(0x3020, 0x4000 | 1);                                /* PDPTE[0] */
	put64(0x4000 + 3 * 8, 0x80000000ULL | 0x83);              /* PDE[3]: 2 MiB */
	put64(0x4000 + 4 * 8, 0x5000 | 0x3);                      /* PDE[4] -> PT */
	put64(0x5000 + 7 * 8, BIT(63) | 0x123456789000ULL | 0x3); /* NX, high address */
	assert_int_equal(xlate(&cpu, 0x00612345, &gpa), 0);
	assert_int_equal(gpa, 0x80012345);
	assert_int_equal(xlate(&cpu, 0x00807abc, &gpa), 0);
	assert_int_equal(gpa, 0x123456789abcULL);
	assert_int_equal(xlate(&cpu, 0x40612345, &gpa), -EFAULT); /* PDPTE[1] absent */
	assert_int_equal(xlate(&cpu, 0x00808000, &gpa), -EFAULT); /* PTE[8] absent */
	/* The CPU's cached PDPTEs win over memory. */
	cpu.pdptr = cached;
	assert_int_equal(xlate(&cpu, 0x80612345, &gpa), 0);
	assert_int_equal(gpa, 0x80012345);
	assert_int_equal(xlate(&cpu, 0x00612345, &gpa), -EFAULT);
}

static void test_gwalk_long_mode(void **state)
{
	struct gwalk_cpu cpu = { .cr0 = GW_CR0_PG | 1,
		                 .cr3 = 0x6000 | 0x18,
		                 .cr4 = GW_CR4_PAE,
		                 .efer = GW_EFER_LMA | BIT(8) };
	u64 gpa;

	(void)state;
	memset(mem, 0, sizeof(mem));
	put64(0x6000 + 0 * 8, 0x7000 | 0x7);                    /* PML4[0] */
	put64(0x6000 + 511 * 8, 0x7000 | 0x7);                  /* PML4[511]: same PDPT */
	put64(0x7000 + 1 * 8, BIT(63) | 0x1c0000000ULL | 0x83); /* PDPT[1]: 1 GiB */
	put64(0x7000 + 0 * 8, 0x8000 | 0x3);                    /* PDPT[0] -> PD */
	put64(0x8000 + 0 * 8, 0x200000 | 0x83);                 /* PD[0]: 2 MiB */
	put64(0x8000 + 1 * 8, 0x9000 | 0x3);                    /* PD[1] -> PT */
	put64(0x9000 + 0x10 * 8, 0xfee00000 | 0x1b);            /* PT[16]: the APIC page */
	put64(0x7000 + 2 * 8, 0xf0000000ULL | 0x3);             /* PDPT[2] -> beyond memory */

	assert_int_equal(xlate(&cpu, 0x4abcdef0, &gpa), 0);
	assert_int_equal(gpa, 0x1cabcdef0ULL);
	assert_int_equal(xlate(&cpu, 0x1234, &gpa), 0);
	assert_int_equal(gpa, 0x201234);
	reads = 0;
	assert_int_equal(xlate(&cpu, 0x210abc, &gpa), 0);
	assert_int_equal(gpa, 0xfee00abc);
	assert_int_equal(reads, 4);
	assert_int_equal(xlate(&cpu, 0xffffff8000001234ULL, &gpa), 0);
	assert_int_equal(gpa, 0x201234);
	assert_int_equal(xlate(&cpu, 0x211000, &gpa), -EFAULT);              /* PT[17] absent */
	assert_int_equal(xlate(&cpu, 0x8000000000ULL, &gpa), -EFAULT);       /* PML4[1] absent */
	assert_int_equal(xlate(&cpu, 0x0000800000000000ULL, &gpa), -EFAULT); /* non-canonical */
	assert_int_equal(xlate(&cpu, 0x80000000ULL, &gpa), -EFAULT);         /* read fails */
	cpu.cr4 |= GW_CR4_LA57;
	assert_int_equal(xlate(&cpu, 0x1234, &gpa), -ENOTSUP);
}

/* ---- where the access starts: insn_mov_offset (issue 11: straddling MOVs) ---------------- */

struct ea_vec {
	int mode;
	const char *asm_text;
	u8 bytes[INSN_MAX_LEN];
	int len;
	int seg;
	u64 want; /* with the registers of test_mov_offset */
};

/* Registers: rax 0, rcx 0x11, rdx 0, rbx 0x8000000, rsp 0x7000, rbp 0xfffffff8, rsi 0xfee00000,
 * rdi 0x2000, r12 0x100000, r13 0x30; RIP of the next instruction 0x1000 + len. */
/* clang-format off */
static const struct ea_vec ea_vecs[] = {
	{ 64, "mov %rax,-4(%rbx)", { 0x48, 0x89, 0x43, 0xfc }, 4, INSN_SEG_DS, 0x7fffffcULL },
	{ 64, "mov (%rbx,%rcx,4),%rax", { 0x48, 0x8b, 0x04, 0x8b }, 4, INSN_SEG_DS, 0x8000044ULL },
	{ 64, "mov 0x100(%rip),%ecx", { 0x8b, 0x0d, 0x00, 0x01, 0x00, 0x00 }, 6, INSN_SEG_DS, 0x1106 },
	{ 64, "mov (%r12,%r13,2),%eax", { 0x43, 0x8b, 0x04, 0x6c }, 4, INSN_SEG_DS, 0x100060 },
	{ 64, "mov %fs:0x10,%rax", { 0x64, 0x48, 0x8b, 0x04, 0x25, 0x10, 0, 0, 0 }, 9, INSN_SEG_FS, 0x10 },
	{ 64, "mov 0x8(%rsp),%eax", { 0x8b, 0x44, 0x24, 0x08 }, 4, INSN_SEG_SS, 0x7008 },
	{ 64, "movzwl (%rdi),%eax", { 0x0f, 0xb7, 0x07 }, 3, INSN_SEG_DS, 0x2000 },
	{ 64, "mov 0x7fc(%rsi),%edx", { 0x8b, 0x96, 0xfc, 0x07, 0x00, 0x00 }, 6, INSN_SEG_DS, 0xfee007fcULL },
	{ 64, "mov %eax,0x7ee000b0", { 0x89, 0x04, 0x25, 0xb0, 0x00, 0xe0, 0x7e }, 7, INSN_SEG_DS, 0x7ee000b0 },
	{ 64, "mov -0x10(%rbx),%eax (disp8 negative)", { 0x8b, 0x43, 0xf0 }, 3, INSN_SEG_DS, 0x7fffff0 },
	{ 32, "mov 0x10(%ebp),%eax (wraps at 4 GiB)", { 0x8b, 0x45, 0x10 }, 3, INSN_SEG_SS, 0x8 },
	{ 32, "mov 0x12345678,%eax", { 0xa1, 0x78, 0x56, 0x34, 0x12 }, 5, INSN_SEG_DS, 0x12345678 },
	{ 32, "mov -4(%ebx,%ecx,8),%eax", { 0x8b, 0x44, 0xcb, 0xfc }, 4, INSN_SEG_DS, 0x8000084 },
	{ 16, "mov (%bx,%si),%ax", { 0x8b, 0x00 }, 2, INSN_SEG_DS, 0x0000 },
	{ 16, "mov 6(%bp),%ax", { 0x8b, 0x46, 0x06 }, 3, INSN_SEG_SS, 0xfffe },
	{ 16, "mov %es:(%di),%al", { 0x26, 0x8a, 0x05 }, 3, INSN_SEG_ES, 0x2000 },
	{ 16, "mov 0x1234,%ax", { 0x8b, 0x06, 0x34, 0x12 }, 4, INSN_SEG_DS, 0x1234 },
};
/* clang-format on */

static void test_mov_offset(void **state)
{
	u64 regs[16] = { 0,      0x11, 0, 0x8000000, 0x7000, 0xfffffff8ULL, 0xfee00000ULL,
		         0x2000, 0,    0, 0,         0,      0x100000,      0x30,
		         0,      0 };
	struct insn_mov m;

	(void)state;
	for (size_t i = 0; i < sizeof(ea_vecs) / sizeof(ea_vecs[0]); i++) {
		const struct ea_vec *e = &ea_vecs[i];

		assert_int_equal(insn_decode_mov(e->bytes, e->len, e->mode, &m), 0);
		assert_int_equal(m.len, e->len);
		if (m.mem.seg != e->seg ||
		    insn_mov_offset(&m, regs, 0x1000 + (u64)m.len) != e->want)
			fail_msg("%s: seg %d offset 0x%llx, want seg %d offset 0x%llx", e->asm_text,
			         m.mem.seg,
			         (unsigned long long)insn_mov_offset(&m, regs, 0x1000 + (u64)m.len),
			         e->seg, (unsigned long long)e->want);
	}
}

/* ---- splitting at region boundaries: devices/memsplit.c -------------------------------- */

static void test_mem_split(void **state)
{
	struct mem_part p[MEM_SPLIT_MAX];

	(void)state;
	/* Inside one page: one part. */
	assert_int_equal(mem_split(0xfee0002c, 8, p), 1);
	assert_true(p[0].la == 0xfee0002c && p[0].off == 0 && p[0].len == 8);
	assert_int_equal(mem_split(0x7fff8, 8, p), 1); /* ends exactly at the page end */
	/* The end of RAM minus 4, 8 bytes: 4 in RAM, 4 above. */
	assert_int_equal(mem_split(0x7fffffc, 8, p), 2);
	assert_true(p[0].la == 0x7fffffc && p[0].off == 0 && p[0].len == 4);
	assert_true(p[1].la == 0x8000000 && p[1].off == 4 && p[1].len == 4);
	/* Odd splits. */
	assert_int_equal(mem_split(0xfee00fff, 2, p), 2);
	assert_true(p[0].len == 1 && p[1].len == 1 && p[1].off == 1 && p[1].la == 0xfee01000);
	assert_int_equal(mem_split(0xffffffffffffffffULL, 4, p), 2); /* wraps */
	assert_true(p[1].la == 0 && p[1].len == 3);
	assert_int_equal(mem_split(0x1000, 0, p), -EINVAL);
	assert_int_equal(mem_split(0x1000, 9, p), -EINVAL);
}

static void test_mem_region(void **state)
{
	const u64 ram = 0x8000000, apic = 0xfee00000;

	(void)state;
	assert_int_equal(mem_region_of(0, ram, apic), MEM_RAM);
	assert_int_equal(mem_region_of(ram - 1, ram, apic), MEM_RAM);
	assert_int_equal(mem_region_of(ram, ram, apic), MEM_UNASSIGNED);
	assert_int_equal(mem_region_of(apic - 1, ram, apic), MEM_UNASSIGNED);
	assert_int_equal(mem_region_of(apic, ram, apic), MEM_APIC);
	assert_int_equal(mem_region_of(apic + 0xfff, ram, apic), MEM_APIC);
	assert_int_equal(mem_region_of(apic + 0x1000, ram, apic), MEM_UNASSIGNED);
	assert_int_equal(mem_region_of(~0ULL, ram, apic), MEM_UNASSIGNED);
	assert_int_equal(mem_region_of(0xfebfffff, ram, apic), MEM_UNASSIGNED);
	assert_int_equal(mem_region_of(0xfec00000, ram, apic), MEM_IOAPIC);
	assert_int_equal(mem_region_of(0xfec00fff, ram, apic), MEM_IOAPIC);
	assert_int_equal(mem_region_of(0xfec01000, ram, apic), MEM_UNASSIGNED);
}

static void test_mem_values(void **state)
{
	const u64 v = 0x1122334455667788ULL;

	(void)state;
	assert_int_equal(mem_part_value(v, 0, 4), 0x55667788);
	assert_int_equal(mem_part_value(v, 4, 4), 0x11223344);
	assert_int_equal(mem_part_value(v, 0, 8), v);
	assert_int_equal(mem_part_value(v, 7, 1), 0x11);
	/* A read assembled from parts: RAM low half, all-ones high half. */
	assert_int_equal(mem_merge(mem_merge(0, 0x55667788, 0, 4), ~0ULL, 4, 4),
	                 0xffffffff55667788ULL);
	assert_int_equal(mem_merge(0, v, 0, 8), v);
	assert_int_equal(mem_merge(0xaaaaaaaaaaaaaaaaULL, 0x1234, 3, 1), 0xaaaaaaaa34aaaaaaULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors),          cmocka_unit_test(test_vectors_beyond_mov),
		cmocka_unit_test(test_string_operands),  cmocka_unit_test(test_sign_extension),
		cmocka_unit_test(test_alu_flags_native), cmocka_unit_test(test_alu_test),
		cmocka_unit_test(test_truncated),        cmocka_unit_test(test_refused),
		cmocka_unit_test(test_length_limit),     cmocka_unit_test(test_src_dst),
		cmocka_unit_test(test_gwalk_paging_off), cmocka_unit_test(test_gwalk_32bit),
		cmocka_unit_test(test_gwalk_pae),        cmocka_unit_test(test_gwalk_long_mode),
		cmocka_unit_test(test_mov_offset),       cmocka_unit_test(test_mem_split),
		cmocka_unit_test(test_mem_region),       cmocka_unit_test(test_mem_values),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
