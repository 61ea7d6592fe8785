/*
 * realmode.elf: a kernel that drops from long mode back to real mode and returns, twice
 * (realmode16.S says how: a far jump to CS = 0 and back, overlapping ES/FS loads, INT 0x80
 * through an IVT of its own, a line printed on COM1 from real mode, PIT interrupts
 * through the PIC in `sti; hlt`). One line per check,
 * compared with QEMU TCG (tests/harness/test_fidelity.py). Exit code 0x29 if a check failed.
 */
#include "guests/pc/pc.h"

#define RM_BASE  0x7000
#define RM_SEG   (RM_BASE >> 4)
#define FLAGS_IF BIT(9)
#define FLAGS_TF BIT(8)

extern char rm_blob_start[], rm_blob_end[];
extern char rm_res_cs1[], rm_res_cs2[], rm_res_seg[], rm_res_int[], rm_res_flags[], rm_res_cr0[],
	rm_res_ticks[], rm_cdnw[];
u64 rm_roundtrip(void);
extern u32 rm_keep_lme;

static bool failed;

/* What the copy of the blob at RM_BASE recorded at SYM. */
static u32 res(const char *sym, size_t size)
{
	u64 pa = RM_BASE + ((u64)sym - (u64)rm_blob_start); /* symbols of one section */

	return size == 2 ? *(volatile u16 *)pa : *(volatile u32 *)pa;
}

static void check(bool ok, const char *what)
{
	if (!ok) {
		pr("realmode: FAIL: %s\n", what);
		failed = true;
	}
}

static void round_trip(int n)
{
	u32 cr0, cs1, cs2, seg, bx, flags, ticks;

	/* Linker symbols around one blob: subtract them as addresses. */
	memcpy((void *)RM_BASE, rm_blob_start, (size_t)((u64)rm_blob_end - (u64)rm_blob_start));
	*(volatile u16 *)0x1010 = 0;
	rm_keep_lme = n == 2;
	*(volatile u32 *)(RM_BASE + ((u64)rm_cdnw - (u64)rm_blob_start)) = n == 2;
	rm_roundtrip();
	cr0 = res(rm_res_cr0, 4);
	cs1 = res(rm_res_cs1, 2);
	cs2 = res(rm_res_cs2, 2);
	seg = res(rm_res_seg, 2);
	bx = res(rm_res_int, 2);
	flags = res(rm_res_flags, 2);
	ticks = res(rm_res_ticks, 2);
	pr("realmode: round %d (EFER.LME %s in real mode): back in long mode\n", n,
	   rm_keep_lme ? "kept" : "cleared");
	pr("realmode: round %d: CR0.PE %u, CR0.PG %u, CR0.CD %u, CR0.NW %u in real mode\n", n,
	   cr0 & 1, cr0 >> 31, (cr0 >> 30) & 1, (cr0 >> 29) & 1);
	pr("realmode: round %d: CS 0x%04x, after a far jump 0x%04x\n", n, cs1, cs2);
	pr("realmode: round %d: ES=0x0100 wrote, FS=0x0101 read 0x%04x\n", n, seg);
	pr("realmode: round %d: INT 0x80: BX 0x%04x, IF %u TF %u in the handler\n", n, bx,
	   !!(flags & FLAGS_IF), !!(flags & FLAGS_TF));
	pr("realmode: round %d: PIT IRQ 0 through the PIC and the IVT: %u ticks in sti; hlt\n", n,
	   ticks);
	check(ticks == 3, "PIT interrupts in real mode");
	check((cr0 & 1) == 0 && cs1 == RM_SEG && cs2 == 0, "real mode CS");
	check(seg == 0x5aa5 && *(volatile u16 *)0x1010 == 0x5aa5, "real-mode segments");
	check(bx == 0x1235 && !(flags & (FLAGS_IF | FLAGS_TF)), "INT through the IVT");
}

void pc_main(u32 magic, u32 info)
{
	(void)magic;
	(void)info;
	uart_init();
	idt_init();
	pic_remap_and_mask();
	pr("realmode: long mode -> real mode -> long mode\n");
	round_trip(1);
	round_trip(2);
	pr("realmode: %s\n", failed ? "FAIL" : "PASS");
	pc_exit(failed ? EXIT_FAIL_REALMODE : EXIT_PASS);
}
