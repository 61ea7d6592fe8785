/*
 * The MOV decoder for APIC-access exits (see devices/insn.h). A byte cursor walks prefixes,
 * opcode, ModRM/SIB, displacement and immediate; every fetch is bounds-checked against both
 * the bytes available and the architectural 15-byte limit. References: Intel SDM vol. 2,
 * 2.1 (instruction format), tables 2-1 (16-bit ModRM) and 2-2 (32-bit ModRM).
 */
#include "devices/insn.h"
#include "errno.h"
#include "lib.h"

struct cursor {
	const u8 *b;
	int n, pos;
};

static int fetch(struct cursor *c, u8 *byte)
{
	if (c->pos >= c->n || c->pos >= INSN_MAX_LEN)
		return -EINVAL;
	*byte = c->b[c->pos++];
	return 0;
}

/* Read a little-endian immediate or displacement of @len bytes. */
static int fetch_le(struct cursor *c, int len, u64 *val)
{
	u8 byte;

	*val = 0;
	for (int i = 0; i < len; i++) {
		if (fetch(c, &byte))
			return -EINVAL;
		*val |= (u64)byte << (8 * i);
	}
	return 0;
}

struct prefixes {
	bool opsize, adsize;
	bool lock, rep, repne; /* F0, F3, F2 */
	u8 rex;                /* 0 if none */
	int seg;               /* segment override (INSN_SEG_*), -1 if none */
};

static bool is_legacy_prefix(u8 b)
{
	return b == 0x66 || b == 0x67 || b == 0x26 || b == 0x2e || b == 0x36 || b == 0x3e ||
	       b == 0x64 || b == 0x65 || b == 0xf0 || b == 0xf2 || b == 0xf3;
}

/* The segment a prefix byte overrides to (INSN_SEG_*), or -1. */
static int seg_prefix(u8 b)
{
	switch (b) {
	case 0x26:
		return INSN_SEG_ES;
	case 0x2e:
		return INSN_SEG_CS;
	case 0x36:
		return INSN_SEG_SS;
	case 0x3e:
		return INSN_SEG_DS;
	case 0x64:
		return INSN_SEG_FS;
	case 0x65:
		return INSN_SEG_GS;
	}
	return -1;
}

/* Consume prefixes; returns the opcode byte's value through *@op. */
static int parse_prefixes(struct cursor *c, int mode, struct prefixes *p, u8 *op)
{
	for (;;) {
		if (fetch(c, op))
			return -EINVAL;
		if (mode == 64 && (*op & 0xf0) == 0x40) {
			p->rex = *op;
			continue;
		}
		if (!is_legacy_prefix(*op))
			return 0;
		/* A REX followed by a legacy prefix is ignored (SDM 2.2.1). */
		p->rex = 0;
		if (seg_prefix(*op) >= 0)
			p->seg = seg_prefix(*op);
		else if (*op == 0x66)
			p->opsize = true;
		else if (*op == 0x67)
			p->adsize = true;
		else if (*op == 0xf0)
			p->lock = true;
		else if (*op == 0xf3)
			p->rep = true, p->repne = false; /* the last of F2/F3 counts */
		else if (*op == 0xf2)
			p->repne = true, p->rep = false;
	}
}

static int operand_size(int mode, const struct prefixes *p)
{
	if (mode == 64 && (p->rex & 8))
		return 8;
	if (mode == 16)
		return p->opsize ? 4 : 2;
	return p->opsize ? 2 : 4;
}

static int address_size(int mode, const struct prefixes *p)
{
	if (mode == 64)
		return p->adsize ? 4 : 8;
	if (mode == 32)
		return p->adsize ? 2 : 4;
	return p->adsize ? 4 : 2;
}

/* Length of the displacement a memory ModRM (mod != 3) carries with 16-bit addressing. */
static int disp_len16(u8 mod, u8 rm)
{
	if (mod == 1)
		return 1;
	return mod == 2 || rm == 6 ? 2 : 0;
}

/* Read a displacement of @len bytes (0, 1, 2 or 4), sign-extended to 64 bits. */
static int fetch_disp(struct cursor *c, int len, u64 *disp)
{
	u64 v;

	if (fetch_le(c, len, &v))
		return -EINVAL;
	*disp = len ? (v ^ (1ULL << (len * 8 - 1))) - (1ULL << (len * 8 - 1)) : 0;
	return 0;
}

/* 16-bit addressing (SDM table 2-1): rm picks base and index among BX, BP, SI, DI. */
static int parse_mem16(struct cursor *c, u8 mod, u8 rm, struct insn_mem *a)
{
	static const s8 base[8] = { 3, 3, 5, 5, -1, -1, 5, 3 };
	static const s8 index[8] = { 6, 7, 6, 7, 6, 7, -1, -1 };

	a->base = (mod == 0 && rm == 6) ? -1 : base[rm];
	a->index = index[rm];
	return fetch_disp(c, disp_len16(mod, rm), &a->disp);
}

/* 32/64-bit addressing with a SIB byte (SDM table 2-3). */
static int parse_sib(struct cursor *c, u8 mod, u8 rex, struct insn_mem *a)
{
	u8 sib;
	int idx;

	if (fetch(c, &sib))
		return -EINVAL;
	idx = ((sib >> 3) & 7) | ((rex & 2) ? 8 : 0);
	a->index = idx == 4 ? -1 : idx; /* index 4 without REX.X: none */
	a->scale = 1 << (sib >> 6);
	a->base = (sib & 7) | ((rex & 1) ? 8 : 0);
	if (mod == 0 && (sib & 7) == 5) {
		a->base = -1; /* no base, disp32 */
		return fetch_disp(c, 4, &a->disp);
	}
	return fetch_disp(c, mod == 1 ? 1 : mod == 2 ? 4 : 0, &a->disp);
}

/* The memory operand after ModRM @modrm: SIB and displacement, recorded in m->mem. */
static int parse_mem_operand(struct cursor *c, u8 modrm, int adsize, int mode,
                             const struct prefixes *p, struct insn_mov *m)
{
	u8 mod = modrm >> 6, rm = modrm & 7;
	struct insn_mem *a = &m->mem;
	int r;

	if (mod == 3)
		return -EINVAL; /* a register operand cannot have touched the APIC page */
	a->adsize = adsize;
	a->scale = 1;
	if (adsize == 2)
		r = parse_mem16(c, mod, rm, a);
	else if (rm == 4)
		r = parse_sib(c, mod, p->rex, a);
	else if (mod == 0 && rm == 5) {
		a->base = mode == 64 ? INSN_RIP : -1; /* disp32, RIP-relative in 64-bit mode */
		a->index = -1;
		r = fetch_disp(c, 4, &a->disp);
	} else {
		a->base = rm | ((p->rex & 1) ? 8 : 0);
		a->index = -1;
		r = fetch_disp(c, mod == 1 ? 1 : mod == 2 ? 4 : 0, &a->disp);
	}
	/* SS is the default segment when the base is (E/R)BP or (E/R)SP (SDM 3.7.4). */
	a->seg = p->seg >= 0 ? p->seg : (a->base == 4 || a->base == 5) ? INSN_SEG_SS : INSN_SEG_DS;
	return r;
}

/* Record ModRM.reg as the register operand, with REX.R and the legacy 8-bit encoding. */
static void set_reg(struct insn_mov *m, const struct prefixes *p, u8 modrm, int reg_size)
{
	int r = ((modrm >> 3) & 7) | ((p->rex & 4) ? 8 : 0);

	m->reg_size = reg_size;
	m->reg = r;
	/* Without REX, byte registers 4-7 are AH, CH, DH, BH; with one, SPL, BPL, SIL, DIL. */
	if (reg_size == 1 && !p->rex && r >= 4) {
		m->reg = r - 4;
		m->high8 = true;
	}
}

static u64 truncate(u64 v, int size)
{
	return size == 8 ? v : v & ((1ULL << (size * 8)) - 1);
}

static u64 sign_extend(u64 v, int bits)
{
	u64 sign = 1ULL << (bits - 1);

	return (truncate(v, bits / 8) ^ sign) - sign;
}

/* 88/89/8A/8B and C6/C7: ModRM forms with a full-size or byte operand. */
static int decode_modrm_form(struct cursor *c, u8 op, int opsize, int adsize,
                             const struct prefixes *p, struct insn_mov *m)
{
	u8 modrm;

	if (fetch(c, &modrm) || parse_mem_operand(c, modrm, adsize, m->mode, p, m))
		return -EINVAL;
	m->size = (op & 1) ? opsize : 1;
	if (op == 0xc6 || op == 0xc7) {
		if ((modrm >> 3) & 7)
			return -EINVAL; /* C6/C7 /1-/7 are not MOV */
		int imm_len = MIN(m->size, 4);

		if (fetch_le(c, imm_len, &m->imm))
			return -EINVAL;
		m->imm = truncate(sign_extend(m->imm, imm_len * 8), m->size);
		m->write = true;
		m->reg = -1;
		m->reg_size = m->size;
		return 0;
	}
	m->write = !(op & 2);
	set_reg(m, p, modrm, m->size);
	return 0;
}

/* 0F B6 / 0F B7: movzx reg, r/m8 / r/m16; 0F BE / 0F BF: movsx. */
static int decode_movzx(struct cursor *c, int opsize, int adsize, const struct prefixes *p,
                        struct insn_mov *m)
{
	u8 op2, modrm;

	if (fetch(c, &op2) || (op2 != 0xb6 && op2 != 0xb7 && op2 != 0xbe && op2 != 0xbf))
		return -EINVAL;
	if (fetch(c, &modrm) || parse_mem_operand(c, modrm, adsize, m->mode, p, m))
		return -EINVAL;
	m->size = (op2 & 1) ? 2 : 1;
	m->zero_ext = op2 < 0xbe;
	m->sign_ext = op2 >= 0xbe;
	set_reg(m, p, modrm, opsize);
	return 0;
}

/* 63: movsxd reg, r/m32 (64-bit mode; ARPL elsewhere, not decoded). With REX.W the 32-bit
 * value is sign-extended; without, it is a plain 32- (or 16-) bit load. */
static int decode_movsxd(struct cursor *c, int opsize, int adsize, const struct prefixes *p,
                         struct insn_mov *m)
{
	u8 modrm;

	if (m->mode != 64)
		return -EINVAL;
	if (fetch(c, &modrm) || parse_mem_operand(c, modrm, adsize, m->mode, p, m))
		return -EINVAL;
	m->size = MIN(opsize, 4);
	m->sign_ext = opsize == 8;
	set_reg(m, p, modrm, opsize);
	return 0;
}

/* Fetch an immediate of @len bytes, sign-extended from @len and truncated to @size. */
static int fetch_imm(struct cursor *c, int len, int size, struct insn_mov *m)
{
	if (fetch_le(c, len, &m->imm))
		return -EINVAL;
	m->imm = truncate(sign_extend(m->imm, len * 8), size);
	m->reg = -1;
	m->reg_size = size;
	return 0;
}

/* 00-3B ALU r/m, r and r, r/m; 84/85 TEST r/m, r; 86/87 XCHG r/m, r. */
static int decode_alu_rm(struct cursor *c, u8 op, int opsize, int adsize, const struct prefixes *p,
                         struct insn_mov *m)
{
	u8 modrm;

	if (fetch(c, &modrm) || parse_mem_operand(c, modrm, adsize, m->mode, p, m))
		return -EINVAL;
	m->size = (op & 1) ? opsize : 1;
	set_reg(m, p, modrm, m->size);
	if (op >= 0x84) {
		m->kind = op >= 0x86 ? INSN_XCHG : INSN_TEST;
		m->write = m->kind == INSN_XCHG;
		return 0;
	}
	m->kind = INSN_ALU;
	m->alu = op >> 3;
	m->reg_dst = op & 2;
	m->write = !m->reg_dst && m->alu != INSN_CMP;
	return 0;
}

/* 80/81/83 /n: ALU r/m, imm; F6/F7 /0: TEST r/m, imm. */
static int decode_alu_imm(struct cursor *c, u8 op, int opsize, int adsize, const struct prefixes *p,
                          struct insn_mov *m)
{
	u8 modrm;
	int n;

	if (fetch(c, &modrm) || parse_mem_operand(c, modrm, adsize, m->mode, p, m))
		return -EINVAL;
	n = (modrm >> 3) & 7;
	m->size = (op & 1) ? opsize : 1;
	if (op >= 0xf6) {
		if (n != 0)
			return -EINVAL; /* F6/F7 /2-/7 are NOT, NEG, MUL, DIV...; /1 is undocumented
			                 */
		m->kind = INSN_TEST;
		return fetch_imm(c, MIN(m->size, 4), m->size, m);
	}
	m->kind = INSN_ALU;
	m->alu = n;
	m->write = n != INSN_CMP;
	return fetch_imm(c, op == 0x81 ? MIN(m->size, 4) : 1, m->size, m);
}

/* A4/A5 MOVS, AA/AB STOS, AC/AD LODS: the operands are [rSI] (DS, or the override) and
 * [rDI] (always ES); m->mem describes the source for MOVS and LODS, the destination for
 * STOS. */
static int decode_string(u8 op, int opsize, int adsize, const struct prefixes *p,
                         struct insn_mov *m)
{
	bool stos = op == 0xaa || op == 0xab;

	m->kind = op <= 0xa5 ? INSN_MOVS : stos ? INSN_STOS : INSN_LODS;
	m->size = (op & 1) ? opsize : 1;
	m->reg = 0;
	m->reg_size = m->size;
	m->write = m->kind != INSN_LODS;
	m->rep = p->rep;
	m->mem = (struct insn_mem){ .base = stos ? 7 : 6,
		                    .index = -1,
		                    .scale = 1,
		                    .adsize = adsize,
		                    .seg = stos          ? INSN_SEG_ES
		                           : p->seg >= 0 ? p->seg
		                                         : INSN_SEG_DS };
	return 0;
}

/* A0-A3: accumulator <-> absolute offset of address size. */
static int decode_moffs(struct cursor *c, u8 op, int opsize, int adsize, const struct prefixes *p,
                        struct insn_mov *m)
{
	m->mem = (struct insn_mem){ .base = -1,
		                    .index = -1,
		                    .scale = 1,
		                    .adsize = adsize,
		                    .seg = p->seg >= 0 ? p->seg : INSN_SEG_DS };
	if (fetch_le(c, adsize, &m->mem.disp))
		return -EINVAL;
	m->size = (op & 1) ? opsize : 1;
	m->reg_size = m->size;
	m->reg = 0;
	m->write = op & 2;
	return 0;
}

int insn_decode_mov(const u8 *b, int n, int mode, struct insn_mov *out)
{
	struct cursor c = { b, n, 0 };
	struct prefixes p = { .seg = -1 };
	int opsize, adsize, ret;
	u8 op;

	memset(out, 0, sizeof(*out));
	if (mode != 16 && mode != 32 && mode != 64)
		return -EINVAL;
	if (parse_prefixes(&c, mode, &p, &op))
		return -EINVAL;
	opsize = operand_size(mode, &p);
	adsize = address_size(mode, &p);
	out->mode = mode;
	if (op == 0x88 || op == 0x89 || op == 0x8a || op == 0x8b || op == 0xc6 || op == 0xc7)
		ret = decode_modrm_form(&c, op, opsize, adsize, &p, out);
	else if (op == 0x0f)
		ret = decode_movzx(&c, opsize, adsize, &p, out);
	else if (op == 0x63)
		ret = decode_movsxd(&c, opsize, adsize, &p, out);
	else if (op >= 0xa0 && op <= 0xa3)
		ret = decode_moffs(&c, op, opsize, adsize, &p, out);
	else if ((op < 0x40 && (op & 7) < 4) || (op >= 0x84 && op <= 0x87))
		ret = decode_alu_rm(&c, op, opsize, adsize, &p, out);
	else if (op == 0x80 || op == 0x81 || op == 0x83 || op == 0xf6 || op == 0xf7)
		ret = decode_alu_imm(&c, op, opsize, adsize, &p, out);
	else if (op == 0xa4 || op == 0xa5 || (op >= 0xaa && op <= 0xad))
		ret = decode_string(op, opsize, adsize, &p, out);
	else
		ret = -EINVAL;
	if (ret)
		return ret;
	/* REP(NE) only on the string forms (F2 on them is REPNE, meant for CMPS/SCAS: refused);
	 * LOCK only on a read-modify-write of memory (elsewhere the CPU raises #UD). */
	if (p.repne || (p.rep && out->kind < INSN_MOVS))
		return -EINVAL;
	if (p.lock && !((out->kind == INSN_ALU && out->write) || out->kind == INSN_XCHG))
		return -EINVAL;
	out->len = c.pos;
	return 0;
}

u64 insn_mov_src(const struct insn_mov *m, u64 regval)
{
	if (m->reg < 0)
		return m->imm;
	if (m->high8)
		return (regval >> 8) & 0xff;
	return truncate(regval, m->size);
}

u64 insn_mov_dst(const struct insn_mov *m, u64 old, u64 val)
{
	u64 mask;

	val = truncate(val, m->size); /* zero-extension for movzx */
	if (m->sign_ext)
		val = truncate(sign_extend(val, m->size * 8), m->reg_size);
	if (m->high8)
		return (old & ~0xff00ULL) | (val << 8);
	/* A 32-bit destination in 64-bit mode clears the upper half (SDM 3.4.1.1). */
	if (m->reg_size == 8 || (m->reg_size == 4 && m->mode == 64))
		return val;
	mask = (1ULL << (m->reg_size * 8)) - 1;
	return (old & ~mask) | (val & mask);
}

u64 insn_mov_offset(const struct insn_mov *m, const u64 *gpr, u64 next_rip)
{
	const struct insn_mem *a = &m->mem;
	u64 ea = a->disp;

	if (a->base == INSN_RIP)
		ea += next_rip;
	else if (a->base >= 0)
		ea += gpr[a->base];
	if (a->index >= 0)
		ea += gpr[a->index] * (u64)a->scale;
	return truncate(ea, a->adsize);
}

static bool parity_even(u64 v)
{
	return !__builtin_parityll(v & 0xff);
}

u64 insn_alu(int op, u64 dst, u64 src, int size, u64 *flags)
{
	u64 msb = 1ULL << (size * 8 - 1), cf_in = *flags & 1, res, cf = 0, of = 0, af = 0;

	dst = truncate(dst, size);
	src = truncate(src, size);
	switch (op) {
	case INSN_ADD:
	case INSN_ADC:
		cf_in = op == INSN_ADC ? cf_in : 0;
		res = truncate(dst + src + cf_in, size);
		cf = res < dst || (cf_in && res == dst);
		of = ((dst ^ res) & (src ^ res) & msb) != 0;
		af = (dst ^ src ^ res) & 0x10;
		break;
	case INSN_SUB:
	case INSN_SBB:
	case INSN_CMP:
		cf_in = op == INSN_SBB ? cf_in : 0;
		res = truncate(dst - src - cf_in, size);
		cf = dst < src || (cf_in && dst == src);
		of = ((dst ^ src) & (dst ^ res) & msb) != 0;
		af = (dst ^ src ^ res) & 0x10;
		break;
	case INSN_OR:
		res = dst | src;
		break;
	case INSN_XOR:
		res = dst ^ src;
		break;
	default: /* INSN_AND, TEST */
		res = dst & src;
		break;
	}
	*flags &= ~INSN_FLAGS;
	*flags |= (cf ? 0x1 : 0) | (parity_even(res) ? 0x4 : 0) | (af ? 0x10 : 0) |
	          (res == 0 ? 0x40 : 0) | ((res & msb) ? 0x80 : 0) | (of ? 0x800 : 0);
	return res;
}
