/*
 * mmio_ops.elf: instructions other than MOV on memory-mapped registers, as kernels written for
 * QEMU/KVM use them: OR/AND/ADD/SUB/ADC/SBB/XOR/CMP (memory destination and memory source,
 * with immediates), TEST, XCHG, MOVZX/MOVSX, and MOVS/STOS/LODS with and without REP (both
 * directions), on the local APIC's TPR, SVR and ID/version registers and on unassigned memory
 * above RAM. It prints each value and the arithmetic flags (CF PF AF ZF SF OF) the CPU left;
 * the test compares the lines with a run under plain QEMU TCG, the reference.
 *
 * Unassigned memory reads as all-ones under eptvisor and as zeroes under QEMU 7.2
 * (docs/platform.md), so for it the kernel prints only what must hold whatever it reads:
 * writes are dropped, the flags are those of the operation on the value a MOV reads, the
 * loaded values are the value read, rSI/rDI/rCX move as the architecture says.
 * Exits through 0xf4 with code 0 when every check holds.
 */
#include "guests/pc/pc.h"

#define FLAGS   0x8d5ull /* CF PF AF ZF SF OF */
#define CF      0x1ull
#define TPR_REG (LAPIC_BASE + LAPIC_TPR)
#define SVR_REG (LAPIC_BASE + LAPIC_SVR)
#define PPR_REG (LAPIC_BASE + LAPIC_PPR)

static int failures;

static u64 ram_end(void)
{
	u64 ram = 0;

	fw_cfg_read(FW_CFG_RAM_SIZE, &ram, sizeof(ram));
	return ram;
}

/* "op src, (addr)" (AT&T): a memory destination; returns the flags after it. CF in: cf. */
#define MEM_DST(insn, addr, src, cf)                                                               \
	({                                                                                         \
		u64 f_;                                                                            \
		__asm__ volatile("bt $0, %[c]\n\t" insn " %[s], (%[a])\n\tpushfq\n\tpopq %[f]"     \
		                 : [f] "=r"(f_)                                                    \
		                 : [s] "ri"(src), [a] "r"(addr), [c] "r"((u64)(cf))                \
		                 : "memory", "cc");                                                \
		f_ & FLAGS;                                                                        \
	})

/* "op (addr), %reg": a memory source; *val is the register in and out. */
#define MEM_SRC(insn, addr, val, cf)                                                               \
	({                                                                                         \
		u64 f_;                                                                            \
		__asm__ volatile("bt $0, %[c]\n\t" insn " (%[a]), %[v]\n\tpushfq\n\tpopq %[f]"     \
		                 : [f] "=r"(f_), [v] "+r"(*(val))                                  \
		                 : [a] "r"(addr), [c] "r"((u64)(cf))                               \
		                 : "memory", "cc");                                                \
		f_ & FLAGS;                                                                        \
	})

/* The same operation on a RAM copy of the value: what the flags must be. */
#define RAM_DST(insn, value, src, cf)                                                              \
	({                                                                                         \
		volatile u32 cell_ = (value);                                                      \
		MEM_DST(insn, &cell_, src, cf);                                                    \
	})

static void check(bool ok, const char *what)
{
	pr("mmio_ops: %s: %s\n", what, ok ? "yes" : "NO");
	failures += !ok;
}

static void tpr_ops(void)
{
	u32 v;
	u64 f;

	lapic_write(LAPIC_TPR, 0x20);
	f = MEM_DST("orl", TPR_REG, 0x10u, 0);
	pr("mmio_ops: tpr: orl $0x10 -> 0x%x, flags 0x%llx\n", lapic_read(LAPIC_TPR),
	   (unsigned long long)f);
	f = MEM_DST("andl", TPR_REG, 0xe0u, 1);
	pr("mmio_ops: tpr: andl $0xe0 -> 0x%x, flags 0x%llx\n", lapic_read(LAPIC_TPR),
	   (unsigned long long)f);
	f = MEM_DST("addl", TPR_REG, 0x5fu, 0);
	pr("mmio_ops: tpr: addl $0x5f -> 0x%x, flags 0x%llx\n", lapic_read(LAPIC_TPR),
	   (unsigned long long)f);
	f = MEM_DST("subl", TPR_REG, 0x90u, 0);
	pr("mmio_ops: tpr: subl $0x90 -> 0x%x, flags 0x%llx\n", lapic_read(LAPIC_TPR),
	   (unsigned long long)f);
	lapic_write(LAPIC_TPR, 0x40);
	f = MEM_DST("adcl", TPR_REG, 0x0fu, 1);
	pr("mmio_ops: tpr: adcl $0xf (CF set) -> 0x%x, flags 0x%llx\n", lapic_read(LAPIC_TPR),
	   (unsigned long long)f);
	f = MEM_DST("sbbl", TPR_REG, 0x50u, 1);
	pr("mmio_ops: tpr: sbbl $0x50 (CF set) -> 0x%x, flags 0x%llx\n", lapic_read(LAPIC_TPR),
	   (unsigned long long)f);
	f = MEM_DST("xorl", TPR_REG, 0xffu, 0);
	pr("mmio_ops: tpr: xorl $0xff -> 0x%x, flags 0x%llx\n", lapic_read(LAPIC_TPR),
	   (unsigned long long)f);
	lapic_write(LAPIC_TPR, 0x30);
	f = MEM_DST("cmpl", TPR_REG, 0x30u, 0);
	pr("mmio_ops: tpr: cmpl $0x30: flags 0x%llx\n", (unsigned long long)f);
	f = MEM_DST("cmpl", TPR_REG, 0x31u, 0);
	pr("mmio_ops: tpr: cmpl $0x31: flags 0x%llx\n", (unsigned long long)f);
	f = MEM_DST("testl", TPR_REG, 0x20u, 0);
	pr("mmio_ops: tpr: testl $0x20: flags 0x%llx\n", (unsigned long long)f);
	f = MEM_DST("testl", TPR_REG, 0x40u, 0);
	pr("mmio_ops: tpr: testl $0x40: flags 0x%llx\n", (unsigned long long)f);
	v = 0x0c;
	f = MEM_SRC("orl", TPR_REG, &v, 0);
	pr("mmio_ops: tpr: orl (tpr), %%reg 0xc -> 0x%x, flags 0x%llx, tpr 0x%x\n", v,
	   (unsigned long long)f, lapic_read(LAPIC_TPR));
	v = 0x30;
	f = MEM_SRC("cmpl", TPR_REG, &v, 0);
	pr("mmio_ops: tpr: cmpl (tpr), %%reg 0x30: flags 0x%llx\n", (unsigned long long)f);
	v = 0x10;
	f = MEM_SRC("subl", TPR_REG, &v, 0);
	pr("mmio_ops: tpr: subl (tpr), %%reg 0x10 -> 0x%x, flags 0x%llx\n", v,
	   (unsigned long long)f);
	v = 0x50;
	__asm__ volatile("xchgl %0, (%1)" : "+r"(v) : "r"(TPR_REG) : "memory");
	pr("mmio_ops: tpr: xchgl 0x50 -> got 0x%x, tpr 0x%x\n", v, lapic_read(LAPIC_TPR));
	v = 0x60;
	__asm__ volatile("lock orl %0, (%1)" : : "r"(v), "r"(TPR_REG) : "memory", "cc");
	pr("mmio_ops: tpr: lock orl 0x60 -> 0x%x\n", lapic_read(LAPIC_TPR));
	lapic_write(LAPIC_TPR, 0x90);
	__asm__ volatile("movzbl (%1), %0" : "=r"(v) : "r"(TPR_REG) : "memory");
	pr("mmio_ops: tpr 0x90: movzbl 0x%x\n", v);
	__asm__ volatile("movsbl (%1), %0" : "=r"(v) : "r"(TPR_REG) : "memory");
	pr("mmio_ops: tpr 0x90: movsbl 0x%x\n", v);
	{
		u64 q;

		__asm__ volatile("movslq (%1), %0" : "=r"(q) : "r"(TPR_REG) : "memory");
		pr("mmio_ops: tpr 0x90: movslq 0x%llx\n", (unsigned long long)q);
		__asm__ volatile("movswq (%1), %0" : "=r"(q) : "r"(TPR_REG) : "memory");
		pr("mmio_ops: tpr 0x90: movswq 0x%llx\n", (unsigned long long)q);
	}
	lapic_write(LAPIC_TPR, 0);
}

static void svr_ops(void)
{
	u64 f;

	pr("mmio_ops: svr 0x%x\n", lapic_read(LAPIC_SVR));
	f = MEM_DST("andl", SVR_REG, ~0x100u, 0);
	pr("mmio_ops: svr: andl $~0x100 -> 0x%x, flags 0x%llx\n", lapic_read(LAPIC_SVR),
	   (unsigned long long)f);
	f = MEM_DST("orl", SVR_REG, 0x100u, 0);
	pr("mmio_ops: svr: orl $0x100 -> 0x%x, flags 0x%llx\n", lapic_read(LAPIC_SVR),
	   (unsigned long long)f);
	f = MEM_DST("testl", SVR_REG, 0x100u, 0);
	pr("mmio_ops: svr: testl $0x100: flags 0x%llx\n", (unsigned long long)f);
	/* A byte write: the APIC takes only 32-bit writes (QEMU ignores the others). (Not on the
	 * TPR: a CPU with a TPR shadow may take a byte write there itself.) */
	__asm__ volatile("andb $0x0f, 1(%0)" : : "r"(SVR_REG) : "memory", "cc");
	pr("mmio_ops: svr: andb $0xf at byte 1 -> 0x%x\n", lapic_read(LAPIC_SVR));
}

/* The PPR: a register the CPU cannot read from its virtual-APIC page, so every read of it
 * exits to the hypervisor, which emulates the whole instruction. */
static void ppr_ops(void)
{
	u64 f, si, di, cx;
	u32 v;
	static volatile u32 buf[4];

	lapic_write(LAPIC_TPR, 0x70);
	pr("mmio_ops: ppr 0x%x\n", lapic_read(LAPIC_PPR));
	f = MEM_DST("cmpl", PPR_REG, 0x70u, 0);
	pr("mmio_ops: ppr: cmpl $0x70: flags 0x%llx\n", (unsigned long long)f);
	f = MEM_DST("cmpl", PPR_REG, 0x71u, 0);
	pr("mmio_ops: ppr: cmpl $0x71: flags 0x%llx\n", (unsigned long long)f);
	f = MEM_DST("testl", PPR_REG, 0x40u, 0);
	pr("mmio_ops: ppr: testl $0x40: flags 0x%llx\n", (unsigned long long)f);
	v = 0x5;
	f = MEM_SRC("addl", PPR_REG, &v, 0);
	pr("mmio_ops: ppr: addl (ppr), %%reg 0x5 -> 0x%x, flags 0x%llx\n", v,
	   (unsigned long long)f);
	v = 0x10;
	f = MEM_SRC("sbbl", PPR_REG, &v, 1);
	pr("mmio_ops: ppr: sbbl (ppr), %%reg 0x10 (CF set) -> 0x%x, flags 0x%llx\n", v,
	   (unsigned long long)f);
	v = 0xf0f0;
	f = MEM_SRC("xorl", PPR_REG, &v, 0);
	pr("mmio_ops: ppr: xorl (ppr), %%reg 0xf0f0 -> 0x%x, flags 0x%llx\n", v,
	   (unsigned long long)f);
	v = 0x70;
	f = MEM_SRC("cmpl", PPR_REG, &v, 0);
	pr("mmio_ops: ppr: cmpl (ppr), %%reg 0x70: flags 0x%llx\n", (unsigned long long)f);
	{
		u64 q;

		__asm__ volatile("movslq (%1), %0" : "=r"(q) : "r"(PPR_REG) : "memory");
		pr("mmio_ops: ppr: movslq 0x%llx\n", (unsigned long long)q);
	}
	si = PPR_REG;
	__asm__ volatile("cld; lodsl" : "+S"(si), "=a"(v) : : "memory");
	pr("mmio_ops: ppr: lodsl 0x%x, rsi +%lld\n", v, (long long)(si - PPR_REG));
	si = PPR_REG, di = (u64)&buf[0], cx = 4;
	__asm__ volatile("cld; rep movsl" : "+S"(si), "+D"(di), "+c"(cx) : : "memory");
	pr("mmio_ops: ppr: rep movsl x4: %x %x %x %x, rcx %llu\n", buf[0], buf[1], buf[2], buf[3],
	   (unsigned long long)cx);
	lapic_write(LAPIC_TPR, 0);
}

/* The string forms on the APIC: registers copied to RAM and RAM to the TPR. */
static void string_ops(void)
{
	static volatile u32 buf[8];
	u64 si, di, cx;
	u32 v;

	for (int i = 0; i < 8; i++)
		buf[i] = 0xdead0000u + (u32)i;
	si = LAPIC_BASE + LAPIC_VER, di = (u64)&buf[0];
	__asm__ volatile("cld; movsl" : "+S"(si), "+D"(di) : : "memory");
	pr("mmio_ops: movsl from version: 0x%x (version 0x%x), rsi +%lld, rdi +%lld\n", buf[0],
	   lapic_read(LAPIC_VER), (long long)(si - (LAPIC_BASE + LAPIC_VER)),
	   (long long)(di - (u64)&buf[0]));
	/* rep movsl over TPR's 16-byte slot: 0x80, 0x84, 0x88, 0x8c (each reads the slot's
	 * register), then over ID's and version's slots (0x20 .. 0x3c). */
	lapic_write(LAPIC_TPR, 0x70);
	si = TPR_REG, di = (u64)&buf[0], cx = 4;
	__asm__ volatile("cld; rep movsl" : "+S"(si), "+D"(di), "+c"(cx) : : "memory");
	pr("mmio_ops: rep movsl x4 from tpr: %x %x %x %x, rcx %llu\n", buf[0], buf[1], buf[2],
	   buf[3], (unsigned long long)cx);
	si = LAPIC_BASE + LAPIC_ID, di = (u64)&buf[0], cx = 8;
	__asm__ volatile("cld; rep movsl" : "+S"(si), "+D"(di), "+c"(cx) : : "memory");
	pr("mmio_ops: rep movsl x8 from id: %x %x %x %x %x %x %x %x, rsi +%lld, rcx %llu\n", buf[0],
	   buf[1], buf[2], buf[3], buf[4], buf[5], buf[6], buf[7],
	   (long long)(si - (LAPIC_BASE + LAPIC_ID)), (unsigned long long)cx);
	buf[0] = 0x40;
	si = (u64)&buf[0], di = TPR_REG;
	__asm__ volatile("cld; movsl" : "+S"(si), "+D"(di) : : "memory");
	pr("mmio_ops: movsl 0x40 to tpr -> 0x%x\n", lapic_read(LAPIC_TPR));
	di = TPR_REG;
	__asm__ volatile("cld; stosl" : "+D"(di) : "a"(0x50u) : "memory");
	pr("mmio_ops: stosl 0x50 to tpr -> 0x%x, rdi +%lld\n", lapic_read(LAPIC_TPR),
	   (long long)(di - TPR_REG));
	si = TPR_REG;
	v = 0;
	__asm__ volatile("cld; lodsl" : "+S"(si), "=a"(v) : : "memory");
	pr("mmio_ops: lodsl from tpr: 0x%x\n", v);
	/* Backwards: DF set, from the version register down to the ID's slot. */
	si = LAPIC_BASE + LAPIC_VER, di = (u64)&buf[7], cx = 5;
	__asm__ volatile("std; rep movsl; cld" : "+S"(si), "+D"(di), "+c"(cx) : : "memory");
	pr("mmio_ops: std; rep movsl x5 from version: %x %x %x %x %x, rsi %lld, rdi %lld\n", buf[3],
	   buf[4], buf[5], buf[6], buf[7], (long long)(si - (LAPIC_BASE + LAPIC_VER)),
	   (long long)(di - (u64)&buf[7]));
	lapic_write(LAPIC_TPR, 0);
}

#define BIG 3000
static volatile u32 big[BIG];

/* Unassigned memory: only what holds whatever it reads as. */
static void unassigned_ops(u64 end)
{
	u64 u = end + 0x10000;
	const volatile u32 *p = (const volatile u32 *)u;
	static volatile u32 buf[4];
	u32 r = *p, v;
	u64 f, si, di, cx;

	f = MEM_DST("orl", u, 0xf0u, 0);
	check(f == RAM_DST("orl", r, 0xf0u, 0), "unassigned: orl flags as for the value read");
	check(*p == r, "unassigned: orl write dropped");
	f = MEM_DST("addl", u, 1u, 0);
	check(f == RAM_DST("addl", r, 1u, 0), "unassigned: addl flags as for the value read");
	f = MEM_DST("sbbl", u, 2u, 1);
	check(f == RAM_DST("sbbl", r, 2u, 1), "unassigned: sbbl flags as for the value read");
	f = MEM_DST("cmpl", u, 0x12345678u, 0);
	check(f == RAM_DST("cmpl", r, 0x12345678u, 0),
	      "unassigned: cmpl flags as for the value read");
	f = MEM_DST("testl", u, 0x80000000u, 0);
	check(f == RAM_DST("testl", r, 0x80000000u, 0),
	      "unassigned: testl flags as for the value read");
	v = 7;
	f = MEM_SRC("addl", u, &v, 0);
	check(v == r + 7, "unassigned: addl (mem), %reg adds the value read");
	v = 0x11223344;
	__asm__ volatile("xchgl %0, (%1)" : "+r"(v) : "r"(u) : "memory");
	check(v == r && *p == r, "unassigned: xchgl loads the value read, the write is dropped");
	__asm__ volatile("movzbl (%1), %0" : "=r"(v) : "r"(u) : "memory");
	check(v == (r & 0xff), "unassigned: movzbl is the value read, zero-extended");
	__asm__ volatile("movsbl (%1), %0" : "=r"(v) : "r"(u) : "memory");
	check(v == (u32)(s32)(s8)r, "unassigned: movsbl is the value read, sign-extended");
	for (int i = 0; i < 4; i++)
		buf[i] = 0x5a5a5a5a;
	si = u, di = (u64)&buf[0], cx = 4;
	__asm__ volatile("cld; rep movsl" : "+S"(si), "+D"(di), "+c"(cx) : : "memory");
	check(buf[0] == r && buf[3] == r && cx == 0 && si == u + 16 && di == (u64)&buf[4],
	      "unassigned: rep movsl x4 to RAM copies the value read, rsi/rdi +16, rcx 0");
	di = u, cx = 3;
	__asm__ volatile("cld; rep stosl" : "+D"(di), "+c"(cx) : "a"(0x01020304u) : "memory");
	check(*p == r && cx == 0 && di == u + 12, "unassigned: rep stosl x3 dropped, rdi +12");
	si = u + 8;
	__asm__ volatile("std; lodsl; cld" : "+S"(si), "=a"(v) : : "memory");
	check(v == r && si == u + 4, "unassigned: std; lodsl loads the value read, rsi -4");
	/* Counts above what one exit does (1024): the instruction is resumed where it stopped. */
	for (int i = 0; i < BIG; i++)
		big[i] = 0x5a5a5a5a;
	si = u, di = (u64)&big[0], cx = BIG;
	__asm__ volatile("cld; rep movsl" : "+S"(si), "+D"(di), "+c"(cx) : : "memory");
	v = 0;
	for (int i = 0; i < BIG; i++)
		v += big[i] == r;
	check(v == BIG && cx == 0 && si == u + 4 * BIG,
	      "unassigned: rep movsl x3000 to RAM copies the value read everywhere, rcx 0");
	di = u, cx = BIG;
	__asm__ volatile("cld; rep stosl" : "+D"(di), "+c"(cx) : "a"(0x01020304u) : "memory");
	check(*p == r && cx == 0 && di == u + 4 * BIG, "unassigned: rep stosl x3000 dropped");
}

void pc_main(u32 magic, u32 info)
{
	u64 end;

	(void)magic;
	(void)info;
	uart_init();
	idt_init();
	lapic_enable();
	end = ram_end();
	pr("mmio_ops: ALU, TEST, XCHG, MOVZX/MOVSX and string forms on MMIO\n");
	tpr_ops();
	svr_ops();
	ppr_ops();
	string_ops();
	unassigned_ops(end);
	pr("mmio_ops: %s\n", failures ? "FAIL" : "PASS");
	pc_exit(failures ? 0x71 : EXIT_PASS);
}
