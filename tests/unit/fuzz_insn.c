/*
 * libFuzzer target: the decoder for APIC-access and unassigned-memory exits (devices/insn.c):
 * MOV, and the ALU, TEST, XCHG, MOVSX and string forms.
 *
 * Input: one byte choosing the mode (16/32/64, or an invalid one) and how many bytes are
 * "available" (all, or fewer, as at the end of a fetched page), then the instruction bytes.
 *
 * Checked for every input: the decoder never reads past the bytes it is given (they are an
 * exact-size heap copy) and is deterministic. For a decoded MOV: 1 <= len <= 15 and len <=
 * the bytes available; the length is exact (the same result from exactly len bytes, a
 * refusal from len - 1, and the bytes after it do not matter); size 1/2/4/8 (8 only in 64-bit
 * mode); register -1 (an immediate, only for writes) or 0-15 (8-15 only in 64-bit mode);
 * AH-BH only as byte registers 0-3; register width 1/2/4/8 and, for movzx, at least as
 * wide as the access; the immediate fits the access size; the mode is echoed. insn_mov_src gives a
 * value of the access size; insn_mov_dst changes only the register's bits the access may change (a
 * 32-bit destination in 64-bit mode zero-extends), and loads exactly the value read (sign-
 * extended for movsx). The forms beyond MOV: an immediate only for stores, ALU and TEST; the
 * write flag as the kind says (CMP, TEST, LODS and register-destination ALU forms do not
 * write memory); REP only on string forms, whose operand is [rSI] or [rDI] with the
 * accumulator. insn_alu, on the bytes of the input as operands: a result of the size, only
 * CF PF AF ZF SF OF changed, ZF, SF and PF as the result says.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/insn.h"
#include "errno.h"
#include "tests/unit/fuzz.h"

static u64 mask(int bytes)
{
	return bytes == 8 ? ~0ULL : (1ULL << (8 * bytes)) - 1;
}

static bool same(const struct insn_mov *a, const struct insn_mov *b)
{
	return a->kind == b->kind && a->alu == b->alu && a->rep == b->rep &&
	       a->reg_dst == b->reg_dst && a->sign_ext == b->sign_ext && a->len == b->len &&
	       a->write == b->write && a->size == b->size && a->reg == b->reg &&
	       a->high8 == b->high8 && a->reg_size == b->reg_size && a->zero_ext == b->zero_ext &&
	       a->imm == b->imm && a->mode == b->mode && !memcmp(&a->mem, &b->mem, sizeof(a->mem));
}

/* The memory operand: registers in range (RIP-relative and r8-r15 only in 64-bit mode, RSP
 * never an index), a real scale and address size, and an offset within the address size
 * that follows the registers it names. */
static void check_mem(const struct insn_mov *m, int mode, u64 salt)
{
	const struct insn_mem *a = &m->mem;
	u64 gpr[16], off, moved;

	CHECK(a->base >= -1 && (a->base <= 15 || (a->base == INSN_RIP && mode == 64)));
	CHECK(a->base < 8 || a->base == INSN_RIP || mode == 64);
	CHECK(a->index >= -1 && a->index <= 15 && a->index != 4 && (a->index < 8 || mode == 64));
	CHECK(a->scale == 1 || a->scale == 2 || a->scale == 4 || a->scale == 8);
	CHECK(a->adsize == 2 || a->adsize == 4 || (a->adsize == 8 && mode == 64));
	CHECK(a->seg >= INSN_SEG_ES && a->seg <= INSN_SEG_GS);
	for (int i = 0; i < 16; i++)
		gpr[i] = (salt + (u64)i) * 0x9e3779b97f4a7c15ULL;
	off = insn_mov_offset(m, gpr, salt);
	CHECK((off & ~mask(a->adsize)) == 0);
	if (a->base < 0 || a->base == INSN_RIP)
		return;
	/* One more in the base register moves the operand by one (modulo the address size). */
	gpr[a->base]++;
	moved = insn_mov_offset(m, gpr, salt);
	CHECK(moved == ((off + 1 + (a->index == a->base ? (u64)a->scale : 0)) & mask(a->adsize)));
}

static int decode_copy(const u8 *b, int n, int mode, struct insn_mov *out)
{
	u8 *c = malloc(n ? n : 1);
	int r;

	memcpy(c, b, n);
	r = insn_decode_mov(c, n, mode, out);
	free(c);
	return r;
}

static void check_mov(const struct insn_mov *m, int mode, int n, u64 salt)
{
	u64 src, dst, old = salt * 0x9e3779b97f4a7c15ULL, val = ~salt;

	CHECK(m->len >= 1 && m->len <= INSN_MAX_LEN && m->len <= n);
	CHECK(m->mode == mode);
	CHECK(m->size == 1 || m->size == 2 || m->size == 4 || (m->size == 8 && mode == 64));
	CHECK(m->reg >= -1 && m->reg <= 15 && (m->reg < 8 || mode == 64));
	CHECK(m->reg_size == 1 || m->reg_size == 2 || m->reg_size == 4 || m->reg_size == 8);
	CHECK(m->kind >= INSN_MOV && m->kind <= INSN_LODS);
	CHECK(!m->rep || m->kind >= INSN_MOVS);
	CHECK(!m->reg_dst || m->kind == INSN_ALU);
	if (m->reg < 0) {
		CHECK(m->kind == INSN_ALU || m->kind == INSN_TEST ||
		      (m->kind == INSN_MOV && m->write));
		CHECK(!m->zero_ext && !m->sign_ext && (m->imm & ~mask(m->size)) == 0);
	}
	if (m->kind == INSN_ALU)
		CHECK(m->alu >= INSN_ADD && m->alu <= INSN_CMP &&
		      m->write == (!m->reg_dst && m->alu != INSN_CMP));
	if (m->kind == INSN_TEST || m->kind == INSN_LODS)
		CHECK(!m->write);
	if (m->kind == INSN_XCHG || m->kind == INSN_MOVS || m->kind == INSN_STOS)
		CHECK(m->write);
	if (m->kind >= INSN_MOVS)
		CHECK(m->reg == 0 && !m->high8 && m->mem.index < 0 &&
		      m->mem.base == (m->kind == INSN_STOS ? 7 : 6));
	if (m->high8)
		CHECK(m->reg >= 0 && m->reg <= 3 && m->size == 1 && m->reg_size == 1);
	CHECK(!(m->zero_ext && m->sign_ext));
	if (m->zero_ext) /* 0F B7 with a 16-bit operand size is a plain 16-bit load */
		CHECK(m->kind == INSN_MOV && !m->write && m->reg_size >= m->size && m->size <= 2);
	else if (m->sign_ext)
		CHECK(m->kind == INSN_MOV && !m->write && m->reg_size >= m->size && m->size <= 4);
	else
		CHECK(m->reg_size == m->size);
	src = insn_mov_src(m, old);
	CHECK((src & ~mask(m->size)) == 0);
	if (m->write || m->reg < 0)
		return;
	dst = insn_mov_dst(m, old, val);
	if (m->high8) {
		CHECK(dst == ((old & ~0xff00ULL) | ((val & 0xff) << 8)));
	} else if (m->sign_ext) {
		u64 sx = ((val & mask(m->size)) ^ (1ULL << (8 * m->size - 1))) -
		         (1ULL << (8 * m->size - 1));

		if (m->reg_size == 8 || (m->reg_size == 4 && mode == 64))
			CHECK(dst == (sx & mask(m->reg_size)));
		else
			CHECK(dst == ((old & ~mask(m->reg_size)) | (sx & mask(m->reg_size))));
	} else if (m->reg_size == 8 || (m->reg_size == 4 && mode == 64)) {
		CHECK(dst == (val & mask(m->size)));
	} else {
		CHECK((dst & ~mask(m->reg_size)) == (old & ~mask(m->reg_size)));
		CHECK((dst & mask(m->reg_size)) == (val & mask(m->size)));
	}
}

/* insn_alu on operands taken from the input. */
static void check_alu(const u8 *d, size_t n)
{
	u64 a = 0, b = 0, fl, f, res;
	int op, size;

	if (n < 2)
		return;
	op = d[0] & 7;
	size = 1 << ((d[0] >> 3) & 3);
	memcpy(&a, d + 1, n - 1 < 8 ? n - 1 : 8);
	if (n > 9)
		memcpy(&b, d + 9, n - 9 < 8 ? n - 9 : 8);
	fl = (u64)d[1] * 0x0101010101ULL;
	f = fl;
	res = insn_alu(op, a, b, size, &f);
	CHECK((res & ~mask(size)) == 0);
	CHECK((f & ~INSN_FLAGS) == (fl & ~INSN_FLAGS));
	CHECK(!!(f & 0x40) == (res == 0));
	CHECK(!!(f & 0x80) == !!(res >> (8 * size - 1)));
	CHECK(!!(f & 0x4) == !__builtin_parityll(res & 0xff));
	if (op == INSN_OR || op == INSN_AND || op == INSN_XOR)
		CHECK((f & 0x811) == 0);
}

int LLVMFuzzerTestOneInput(const u8 *data, size_t size)
{
	static const int modes[] = { 16, 32, 64, 64, 0 };
	struct insn_mov a, b;
	const u8 *code = data + 1;
	int mode, n, r;
	u8 *more;

	if (size < 1 || size > 64)
		return 0;
	check_alu(data, size);
	mode = modes[data[0] % 5];
	n = (int)size - 1;
	if (data[0] & 0x80)
		n = (data[0] >> 3) % (n + 1); /* fewer bytes available than given */
	r = decode_copy(code, n, mode, &a);
	CHECK(r == 0 || r == -EINVAL);
	CHECK(decode_copy(code, n, mode, &b) == r);
	if (r)
		return 0;
	CHECK(mode != 0 && same(&a, &b));
	check_mov(&a, mode, n, size);
	check_mem(&a, mode, size);
	/* Exactly len bytes decode the same; one fewer is refused. */
	CHECK(decode_copy(code, a.len, mode, &b) == 0 && same(&a, &b));
	CHECK(decode_copy(code, a.len - 1, mode, &b) == -EINVAL);
	/* What follows the instruction does not change it. */
	more = malloc(a.len + 1);
	memcpy(more, code, a.len);
	more[a.len] = (u8)(code[a.len < n ? a.len : 0] ^ 0x5a);
	CHECK(insn_decode_mov(more, a.len + 1, mode, &b) == 0 && same(&a, &b));
	free(more);
	return 0;
}
