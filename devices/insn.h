/*
 * A decoder for the instructions an APIC-access VM exit or an access to unassigned memory
 * needs emulated: a MOV between a general-purpose register (or an immediate) and memory, and
 * the other forms kernels use on memory-mapped registers (ALU read-modify-writes, TEST, XCHG,
 * MOVZX/MOVSX, the string moves). The exit tells the hypervisor the page offset and whether
 * it was a read or a write; this finds the instruction length (to advance RIP), the access
 * size, which register takes or gives the value and what is computed (insn_alu).
 *
 * Decoded forms (any mode unless noted; prefixes 0x66, 0x67, segment overrides, and REX
 * 0x40-0x4f in 64-bit mode):
 *   88 /r, 89 /r        mov r/m, r          write
 *   8A /r, 8B /r        mov r, r/m          read
 *   C6 /0 ib, C7 /0 iw/id  mov r/m, imm     write (imm32 sign-extended with REX.W)
 *   A0-A3               mov al/eAX <-> moffs (address-size offset)
 *   0F B6 /r, 0F B7 /r  movzx r, r/m8 / r/m16  read
 *   0F BE /r, 0F BF /r  movsx r, r/m8 / r/m16  read
 *   63 /r               movsxd r, r/m32 (64-bit mode only; without REX.W a plain load)
 *   00-3B (op & 7) < 4  add/or/adc/sbb/and/sub/xor/cmp: r/m, r (memory destination: read,
 *                       compute, write) or r, r/m (memory source: read; register written)
 *   80 /n ib, 81 /n iz, 83 /n ib   the same with an immediate, memory destination
 *   84 /r, 85 /r, F6 /0 ib, F7 /0 iz   test: read, flags only
 *   86 /r, 87 /r        xchg r/m, r (read, then write)
 *   A4/A5, AA/AB, AC/AD movs, stos, lods; REP (F3) allowed, the count in rCX
 * LOCK is accepted on the read-modify-write forms (ALU but CMP, with a memory destination,
 * and XCHG, which is locked anyway): an emulated access is atomic for the guest.
 * The memory operand is decoded in full (ModRM, SIB, disp8/16/32, RIP-relative, 16-bit
 * addressing, segment overrides), so the caller can find where the access starts (and split
 * one that straddles two regions); register-to-register forms (mod = 3), REP on anything
 * but a string form and everything else are refused with -EINVAL so the caller can stop the
 * VM naming the bytes.
 */
#ifndef EPTVISOR_DEVICES_INSN_H
#define EPTVISOR_DEVICES_INSN_H

#include "types.h"

#define INSN_MAX_LEN 15

/* Segment registers in the order of the SDM's encoding (and of the VMCS guest fields). */
enum { INSN_SEG_ES, INSN_SEG_CS, INSN_SEG_SS, INSN_SEG_DS, INSN_SEG_FS, INSN_SEG_GS };
#define INSN_RIP 16 /* insn_mem.base: RIP-relative (the next instruction's address) */

/* The memory operand: offset = base + index * scale + disp, cut to adsize bytes. */
struct insn_mem {
	int base;   /* GPR 0-15, INSN_RIP, or -1 for none */
	int index;  /* GPR 0-15 or -1 */
	int scale;  /* 1, 2, 4 or 8 */
	u64 disp;   /* sign-extended (moffs: the offset itself) */
	int adsize; /* address size in bytes: 2, 4 or 8 */
	int seg;    /* INSN_SEG_*: the override, else DS (SS for a BP/SP base) */
};

/* What the instruction does with the memory operand (insn_mov.kind). */
enum insn_kind {
	INSN_MOV,  /* a load (movzx/movsx too) or a store */
	INSN_ALU,  /* insn_mov.alu; memory destination (write) or source */
	INSN_TEST, /* AND for the flags only */
	INSN_XCHG, /* memory <-> register */
	INSN_MOVS, /* [rSI] -> [rDI] (string forms: mem is the source for MOVS and LODS) */
	INSN_STOS, /* accumulator -> [rDI] */
	INSN_LODS, /* [rSI] -> accumulator */
};

/* The ALU operations in their encoding order (opcode bits 5:3, ModRM.reg of 80/81/83). */
enum { INSN_ADD, INSN_OR, INSN_ADC, INSN_SBB, INSN_AND, INSN_SUB, INSN_XOR, INSN_CMP };

/* The arithmetic flags in RFLAGS. */
#define INSN_FLAGS 0x8d5ULL /* CF PF AF ZF SF OF */

struct insn_mov {
	int kind;      /* enum insn_kind */
	int alu;       /* INSN_ALU: INSN_ADD .. INSN_CMP */
	bool rep;      /* string forms: an F3 prefix (repeat rCX times) */
	bool reg_dst;  /* INSN_ALU: the register is the destination (02/03 forms: reg op= mem) */
	int len;       /* instruction length in bytes */
	bool write;    /* true: register/immediate -> memory */
	int size;      /* memory access size: 1, 2, 4 or 8 */
	int reg;       /* GPR 0-15 (rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi, r8..r15), -1 = imm */
	bool high8;    /* reg names AH/CH/DH/BH: bits 15:8 of GPR reg (0-3) */
	int reg_size;  /* width of the register operand (movzx: its destination) */
	bool zero_ext; /* movzx: the size-byte value is zero-extended into reg_size */
	bool sign_ext; /* movsx/movsxd: the size-byte value is sign-extended into reg_size */
	u64 imm;       /* the immediate, sign-extended and truncated to size */
	int mode;      /* 16, 32 or 64 (as decoded) */
	struct insn_mem mem; /* where the memory operand is */
};

/*
 * Decode the instruction at @b (@n bytes available, the guest's code-segment mode @mode 16,
 * 32 or 64) into *@out. Returns 0, or -EINVAL for anything that is not one of the forms above
 * or is cut short by @n.
 */
int insn_decode_mov(const u8 *b, int n, int mode, struct insn_mov *out);

/*
 * The memory operand's offset in its segment (add the segment base for the linear address):
 * @gpr the 16 GPRs (rax, rcx, ... r15), @next_rip the address of the next instruction (for
 * RIP-relative operands).
 */
u64 insn_mov_offset(const struct insn_mov *m, const u64 *gpr, u64 next_rip);

/* For a write: the value to store, from the register's current content @regval (or imm). */
u64 insn_mov_src(const struct insn_mov *m, u64 regval);

/*
 * For a read: the register's new content when the memory value @val is loaded into a register
 * holding @old (8/16-bit destinations keep the other bits, 32-bit ones clear 63:32 in 64-bit
 * mode, movzx zero-extends).
 */
u64 insn_mov_dst(const struct insn_mov *m, u64 old, u64 val);

/*
 * The ALU operation @op (INSN_ADD .. INSN_CMP, or INSN_AND for TEST) on @dst and @src, both
 * @size bytes, as the CPU computes it: returns the result (truncated to @size) and sets
 * *@flags to RFLAGS with CF, PF, AF, ZF, SF and OF replaced (@flags' CF is ADC's and SBB's
 * carry in). The logical operations clear CF, OF and AF (AF is undefined in the SDM; Intel
 * CPUs, QEMU and Bochs clear it).
 */
u64 insn_alu(int op, u64 dst, u64 src, int size, u64 *flags);

#endif
