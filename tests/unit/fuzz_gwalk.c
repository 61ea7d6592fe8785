/*
 * libFuzzer target: the guest page-table walker (devices/gwalk.c) against a reference walker
 * written here independently from the SDM, over guest memory made of the input.
 *
 * Input: CR0/CR3/CR4/EFER choices, the address to translate, optional PAE PDPTEs, then the
 * guest's memory. Guest-physical memory is [0, limit) with limit chosen by the input (reads
 * at or above it fail); inside it, the 8-byte word at gpa is the input's word (gpa / 8) mod
 * the words given, so page-table pointers (whatever their high bits) land on input bytes
 * and walks go deep.
 *
 * Checked: every read the walker makes is 8-byte aligned and below limit (the callback is the
 * only way to guest memory), at most one per paging level (2 for 32-bit paging, 3 for PAE
 * without cached PDPTEs, 4 for long mode); a failed read ends the walk with -EFAULT; the
 * result (error or address) equals the reference's; a translation keeps the page offset,
 * stays below 2^52 (2^40 for 32-bit paging, 2^32 without paging), and every address in the
 * same 4 KiB page translates to the same frame.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/gwalk.h"
#include "tests/unit/fuzz.h"

struct mem {
	const u8 *words; /* nwords little-endian u64 */
	size_t nwords;
	u64 limit;
	int reads, max_reads;
	bool failed; /* a read was refused */
};

static int read_phys(void *ctx, u64 gpa, u64 *val)
{
	struct mem *m = ctx;

	m->reads++;
	CHECK(gpa % 8 == 0);
	CHECK(m->reads <= m->max_reads);
	CHECK(!m->failed); /* nothing is read after a refusal */
	if (gpa >= m->limit || !m->nwords) {
		m->failed = true;
		return -EFAULT;
	}
	memcpy(val, m->words + (gpa / 8 % m->nwords) * 8, 8);
	return 0;
}

/* ---- the reference walker ------------------------------------------------------------- */

static u64 ref_read(struct mem *m, u64 gpa, bool *ok)
{
	u64 v = 0;

	if (!*ok || gpa >= m->limit || !m->nwords) {
		*ok = false;
		return 0;
	}
	memcpy(&v, m->words + (gpa / 8 % m->nwords) * 8, 8);
	return v;
}

#define PA52 0x000ffffffffff000ULL

static int ref_translate(struct mem *m, const struct gwalk_cpu *c, u64 va, u64 *pa)
{
	bool ok = true;

	if (!(c->cr0 & BIT(31))) {
		*pa = va & 0xffffffffULL;
		return 0;
	}
	if (c->efer & BIT(10)) { /* IA-32e: 4-level */
		u64 t = c->cr3 & PA52, e = 0;
		int lvl;

		if (c->cr4 & BIT(12))
			return -ENOTSUP;
		if (((s64)va >> 47) != 0 && ((s64)va >> 47) != -1)
			return -EFAULT;
		for (lvl = 4; lvl >= 1; lvl--) {
			int sh = 12 + 9 * (lvl - 1);

			e = ref_read(m, t + ((va >> sh) & 511) * 8, &ok);
			if (!ok || !(e & 1))
				return -EFAULT;
			if (lvl == 1 || ((lvl == 2 || lvl == 3) && (e & 0x80)))
				break;
			t = e & PA52;
		}
		*pa = (e & PA52 & ~((1ULL << (12 + 9 * (lvl - 1))) - 1)) |
		      (va & ((1ULL << (12 + 9 * (lvl - 1))) - 1));
		return 0;
	}
	va &= 0xffffffffULL;
	if (c->cr4 & BIT(5)) { /* PAE */
		u64 pdpte = c->pdptr ? c->pdptr[va >> 30]
		                     : ref_read(m, (c->cr3 & 0xffffffe0ULL) + (va >> 30) * 8, &ok);
		u64 pde, pte;

		if (!ok || !(pdpte & 1))
			return -EFAULT;
		pde = ref_read(m, (pdpte & PA52) + ((va >> 21) & 511) * 8, &ok);
		if (!ok || !(pde & 1))
			return -EFAULT;
		if (pde & 0x80) {
			*pa = (pde & PA52 & ~0x1fffffULL) | (va & 0x1fffff);
			return 0;
		}
		pte = ref_read(m, (pde & PA52) + ((va >> 12) & 511) * 8, &ok);
		if (!ok || !(pte & 1))
			return -EFAULT;
		*pa = (pte & PA52) | (va & 0xfff);
		return 0;
	}
	/* 32-bit paging: 4-byte entries */
	{
		u64 a = (c->cr3 & 0xfffff000ULL) + (va >> 22) * 4;
		u32 pde = (u32)(ref_read(m, a & ~7ULL, &ok) >> (8 * (a & 4))), pte;

		if (!ok || !(pde & 1))
			return -EFAULT;
		if ((pde & 0x80) && (c->cr4 & BIT(4))) {
			*pa = (u64)(pde & 0xffc00000U) | ((u64)((pde >> 13) & 0xff) << 32) |
			      (va & 0x3fffff);
			return 0;
		}
		a = (pde & 0xfffff000U) + ((va >> 12) & 0x3ff) * 4;
		pte = (u32)(ref_read(m, a & ~7ULL, &ok) >> (8 * (a & 4)));
		if (!ok || !(pte & 1))
			return -EFAULT;
		*pa = (u64)(pte & 0xfffff000U) | (va & 0xfff);
		return 0;
	}
}

/* ---- the target ----------------------------------------------------------------------- */

static int walk(struct mem *m, const struct gwalk_cpu *c, u64 va, u64 *pa)
{
	int r;

	m->reads = 0;
	m->failed = false;
	r = gwalk_translate(c, va, read_phys, m, pa);
	if (m->failed)
		CHECK(r == -EFAULT);
	return r;
}

static u64 get64(const u8 *p)
{
	u64 v;

	memcpy(&v, p, 8);
	return v;
}

int LLVMFuzzerTestOneInput(const u8 *data, size_t size)
{
	static const u64 limits[] = { 1ULL << 52, 1ULL << 32, 1ULL << 24, 0x10000 };
	struct gwalk_cpu c = { 0 };
	struct mem m = { 0 };
	u64 pdptr[4], va, pa = 0, rpa = 0, pa2 = 0, max_pa;
	u8 sel, sel2;
	int r, rr;

	if (size < 18)
		return 0;
	sel = data[0];
	sel2 = data[1];
	c.cr0 = (sel & 1) ? GW_CR0_PG : 0;
	c.cr4 = ((sel & 2) ? GW_CR4_PSE : 0) | ((sel & 4) ? GW_CR4_PAE : 0) |
	        ((sel & 0x40) && (sel2 & 1) ? GW_CR4_LA57 : 0);
	c.efer = (sel & 8) ? GW_EFER_LMA : 0;
	m.limit = limits[(sel >> 4) & 3];
	c.cr3 = get64(data + 2) & ((sel & 0x80) ? ~0ULL : 0xfffff000ULL);
	va = get64(data + 10);
	if (!(sel2 & 2))
		va = (u64)((s64)(va << 16) >> 16); /* mostly canonical */
	data += 18;
	size -= 18;
	if ((c.cr4 & GW_CR4_PAE) && (sel2 & 4) &&
	    size >= 32) { /* PAE with the CPU's cached PDPTEs */
		memcpy(pdptr, data, 32);
		c.pdptr = pdptr;
		data += 32;
		size -= 32;
	}
	m.words = data;
	m.nwords = size / 8;
	m.max_reads = (c.efer & GW_EFER_LMA) ? 4 : (c.cr4 & GW_CR4_PAE) ? 3 : 2;
	r = walk(&m, &c, va, &pa);
	rr = ref_translate(&m, &c, va, &rpa);
	CHECK(r == rr);
	if (r) {
		CHECK(r == -EFAULT || r == -ENOTSUP);
		return 0;
	}
	CHECK(pa == rpa);
	CHECK((pa & 0xfff) == (va & 0xfff));
	max_pa = !(c.cr0 & GW_CR0_PG)                             ? 1ULL << 32
	         : (c.efer & GW_EFER_LMA) || (c.cr4 & GW_CR4_PAE) ? 1ULL << 52
	                                                          : 1ULL << 40;
	CHECK(pa < max_pa);
	/* Another address in the same page: the same frame. */
	CHECK(walk(&m, &c, va ^ ((sel2 * 0x9e37ULL) & 0xfff), &pa2) == 0);
	CHECK((pa2 & ~0xfffULL) == (pa & ~0xfffULL));
	return 0;
}
