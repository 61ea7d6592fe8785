/*
 * pcapf_hostile.elf: a hostile guest of KVM's async-page-fault interface (issue 15, item 6).
 * Needs a KVM leaf with both async-PF bits (else it prints
 * "apf-hostile: no KVM leaf with async pf" and exits PCAPF_EXIT_NO_KVM: QEMU TCG).
 *
 * Arguments: buf=0xADDR pages=N [prefilled=1]: N >= 16 store pages at buf, never touched
 * before this kernel runs; with prefilled=1 every word at gpa g must hold apf_pattern(g, 0)
 * (include/pcapf.h), checked by cli_forever.
 *
 * Runs these cases in order, each on store pages no earlier case touched; each prints
 * "apf-hostile: NAME: ok" or "apf-hostile: NAME: FAIL (why)". A refused WRMSR is a #GP the
 * kernel's fixup records and skips. Vector 0xec is the page-ready vector throughout.
 *   area_mmio      EN = 0xfec00000 | ENABLED | SEND_ALWAYS | AS_INT          -> #GP
 *   area_apic      EN = 0xfee00000 | ...                                     -> #GP
 *   area_end       EN = (end of RAM) - 64 | ... (the 68-byte area crosses it) -> #GP; the
 *                  end of RAM: the multiboot map's highest usable range's end, carried on
 *                  through ranges adjacent to it (-m 128: 0x8000000)
 *   reserved_bits  EN = area | ... | bit 4, then | bit 5                     -> #GP both
 *   pf_vmexit      EN = area | ... | bit 2 (delivery as #PF VM exit)         -> #GP
 *   vector_low     INT = 0x10 -> #GP;   vector_wide   INT = 0x1ec -> #GP
 *   no_as_int      EN = area | ENABLED: accepted, and touching a store page with IF=1 takes
 *                  no #PF (the touch just completes); then EN = 0
 *   (then INT = 0xec, EN = area | ENABLED | SEND_ALWAYS | AS_INT, and 20 ms for a wake-all
 *   the enable may send; if this is refused, every case below fails)
 *   dup_touch      touch page A with IF=1: exactly one not-present #PF (token T); the
 *                  handler returns, the retried touch takes no second #PF and completes, and
 *                  a page-ready for T arrives (within 5 s)
 *   no_ack         readies are no longer ACKed: touch page B and wait for a ready (T1, or a
 *                  wake-all); touch page C (not-present T2, retried to completion); no ready
 *                  may come for 50 ms; then ACK = 1: the ready for T2 arrives (within 5 s)
 *   disable_outstanding  touch page D, the #PF handler skips the touch (T outstanding);
 *                  then EN = 0 at once: accepted, and a ready with token 0xffffffff arrives
 *   enable_twice   EN = area | ... (accepted), 20 ms; touch page E (skipped: T outstanding);
 *                  EN = the same again: accepted, and the wake-all 0xffffffff arrives
 *   area_store     EN = (two fresh store pages' boundary - 64) | ...: accepted (the 68-byte
 *                  area in the store, pinned and fetched by the hypervisor); flags and token
 *                  cleared, a touch of a fresh page with IF=1 takes a not-present #PF whose
 *                  page-ready comes through that area (within 5 s); then EN = the area in
 *                  the kernel again, and the word of flags and token rewritten with its
 *                  pattern (cli_forever checks every other word the hypervisor may not write)
 *   cli_forever    cli; touch every remaining page: no #PF (each touch waits in the
 *                  hypervisor); with prefilled=1 every word of the buffer verified; then, with
 *                  interrupts still off, the end line and the exit
 * Then: "apf-hostile: end: K of 14 ok"; exit 0 if all were ok, else PCAPF_EXIT_HOSTILE.
 * Time is the TSC, calibrated against 10 ms of the LAPIC timer (divide 1, a 1 GHz bus).
 * The first line is "apf-hostile: buf 0x<hex> pages <N> ram end 0x<hex>". Only on failures
 * do other lines come: "apf-hostile: EN = area | ENABLED | SEND_ALWAYS | AS_INT refused"
 * before dup_touch, "apf-hostile: word at 0x<gpa> is 0x<hex>" before cli_forever's FAIL,
 * "FAIL: real #PF at ..." (exit PCAPF_EXIT_REAL_PF), "EXCEPTION: vector ..." (exit
 * PCAPF_EXIT_EXC + vector; a #GP that is not a refused WRMSR is one).
 * An "unaligned" area is no separate case: KVM's EN keeps flags in bits 5:0, so an area
 * off 64-byte alignment sets flag bits (reserved_bits and pf_vmexit cover 5:4 and 2).
 */
#include "guests/pc/apf.h"

#define NCASES      14
#define MIN_PAGES   16
#define READY_MS    5000 /* a ready that must come comes within this */
#define QUIET_MS    50   /* no_ack: how long no ready may come */
#define SETTLE_MS   20   /* after an enable, for the wake-all it may send */
#define MAX_READIES 64
#define CAL_COUNT   10000000 /* 10 ms of the LAPIC timer at divide 1 */
#define APF_FLAGS   (KVM_ASYNC_PF_ENABLED | KVM_ASYNC_PF_SEND_ALWAYS | KVM_ASYNC_PF_DELIVERY_AS_INT)

/* The touch the #PF handler may skip: apf_touch_insn faults, apf_touch_after follows it. */
u64 apf_touch(u64 gpa);
extern const char apf_touch_insn[], apf_touch_after[];
__asm__(".text\n"
        ".globl apf_touch, apf_touch_insn, apf_touch_after\n"
        "apf_touch:\n"
        "apf_touch_insn: movq (%rdi), %rax\n"
        "apf_touch_after: ret\n");

static struct kvm_apf_area kvm_apf_area;
/* The area the guest has enabled (area_store moves it into the store for a while). */
static struct kvm_apf_area *volatile cur_area = &kvm_apf_area;
static u64 buf, npages, next_page, ram_end, tsc_per_ms;
static bool prefilled;
static int passed;

static volatile u32 np_count, np_token;   /* not-present #PFs, the last one's token */
static volatile u32 nreadies;             /* page-readies taken */
static volatile u32 readies[MAX_READIES]; /* their tokens, in order */
static volatile bool ack_readies = true;  /* write ACK after each ready */
static volatile bool skip_touch;          /* the #PF handler skips apf_touch's load */

static struct kframe *on_page_fault(struct kframe *f)
{
	u64 cr2 = read_cr2();
	volatile struct kvm_apf_area *area = cur_area;

	if (area->flags != KVM_PV_REASON_PAGE_NOT_PRESENT) {
		pr("FAIL: real #PF at 0x%llx cr2 0x%llx error 0x%llx\n", (unsigned long long)f->rip,
		   (unsigned long long)cr2, (unsigned long long)f->error);
		pc_exit(PCAPF_EXIT_REAL_PF);
	}
	area->flags = 0;
	np_token = (u32)cr2;
	np_count++;
	if (skip_touch && f->rip == (u64)apf_touch_insn)
		f->rip = (u64)apf_touch_after;
	return f; /* else retry: the hypervisor has the vCPU wait for the page in flight */
}

static struct kframe *on_page_ready(struct kframe *f)
{
	volatile struct kvm_apf_area *area = cur_area;
	u32 token = area->token;

	area->token = 0;
	if (nreadies < MAX_READIES)
		readies[nreadies] = token;
	nreadies++;
	if (ack_readies)
		wrmsr(MSR_KVM_ASYNC_PF_ACK, 1);
	lapic_eoi();
	return f;
}

static struct kframe *on_spurious(struct kframe *f)
{
	return f;
}

static void result(const char *name, const char *why)
{
	if (why)
		pr("apf-hostile: %s: FAIL (%s)\n", name, why);
	else {
		pr("apf-hostile: %s: ok\n", name);
		passed++;
	}
}

/* A store page no case touched yet (0 when none is left). */
static u64 fresh_page(void)
{
	return next_page < npages ? buf + next_page++ * PAGE_SIZE : 0;
}

/* With interrupts on, wait up to MS for a ready with TOKEN among readies FROM onwards. */
static bool wait_ready(u32 from, u32 token, u64 ms)
{
	u64 end = rdtsc() + ms * tsc_per_ms;

	sti();
	do {
		for (u32 i = from; i < nreadies && i < MAX_READIES; i++)
			if (readies[i] == token)
				return true;
		cpu_pause();
	} while (rdtsc() < end);
	return false;
}

/* With interrupts on, wait up to MS for any ready after the first FROM. */
static bool wait_any_ready(u32 from, u64 ms)
{
	u64 end = rdtsc() + ms * tsc_per_ms;

	sti();
	while (nreadies == from && rdtsc() < end)
		cpu_pause();
	return nreadies != from;
}

static void delay_ms(u64 ms)
{
	u64 end = rdtsc() + ms * tsc_per_ms;

	sti();
	while (rdtsc() < end)
		cpu_pause();
}

static u64 area_gpa(void)
{
	return (u64)&kvm_apf_area;
}

/* A WRMSR the hypervisor must refuse: the case's result. */
static void expect_gp(const char *name, u32 msr, u64 v)
{
	if (wrmsr_safe(msr, v)) {
		result(name, "accepted");
		wrmsr_safe(MSR_KVM_ASYNC_PF_EN, 0);
		wrmsr_safe(MSR_KVM_ASYNC_PF_INT, PCAPF_VECTOR);
	} else
		result(name, NULL);
}

static void refused_values(void)
{
	u64 a = area_gpa();

	wrmsr_safe(MSR_KVM_ASYNC_PF_INT, PCAPF_VECTOR);
	expect_gp("area_mmio", MSR_KVM_ASYNC_PF_EN, 0xfec00000ull | APF_FLAGS);
	expect_gp("area_apic", MSR_KVM_ASYNC_PF_EN, 0xfee00000ull | APF_FLAGS);
	expect_gp("area_end", MSR_KVM_ASYNC_PF_EN, (ram_end - 64) | APF_FLAGS);
	if (wrmsr_safe(MSR_KVM_ASYNC_PF_EN, a | APF_FLAGS | (1ull << 4)))
		result("reserved_bits", "bit 4 accepted");
	else if (wrmsr_safe(MSR_KVM_ASYNC_PF_EN, a | APF_FLAGS | (1ull << 5)))
		result("reserved_bits", "bit 5 accepted");
	else
		result("reserved_bits", NULL);
	wrmsr_safe(MSR_KVM_ASYNC_PF_EN, 0);
	expect_gp("pf_vmexit", MSR_KVM_ASYNC_PF_EN,
	          a | APF_FLAGS | KVM_ASYNC_PF_DELIVERY_AS_PF_VMEXIT);
	expect_gp("vector_low", MSR_KVM_ASYNC_PF_INT, 0x10);
	expect_gp("vector_wide", MSR_KVM_ASYNC_PF_INT, 0x100 | PCAPF_VECTOR);
}

static void no_as_int(void)
{
	u32 np0 = np_count;

	if (!wrmsr_safe(MSR_KVM_ASYNC_PF_EN, area_gpa() | KVM_ASYNC_PF_ENABLED)) {
		result("no_as_int", "EN = area | ENABLED refused");
		return;
	}
	sti();
	apf_touch(fresh_page());
	cli();
	wrmsr_safe(MSR_KVM_ASYNC_PF_EN, 0);
	result("no_as_int", np_count != np0 ? "a not-present #PF came" : NULL);
}

static bool enable(void)
{
	if (!wrmsr_safe(MSR_KVM_ASYNC_PF_INT, PCAPF_VECTOR) ||
	    !wrmsr_safe(MSR_KVM_ASYNC_PF_EN, area_gpa() | APF_FLAGS))
		return false;
	delay_ms(SETTLE_MS);
	cli();
	return true;
}

static void dup_touch(void)
{
	u32 np0 = np_count, rd0 = nreadies;

	sti();
	apf_touch(fresh_page());
	if (np_count == np0)
		result("dup_touch", "no not-present #PF");
	else if (np_count != np0 + 1)
		result("dup_touch", "more than one not-present #PF");
	else if (!wait_ready(rd0, np_token, READY_MS))
		result("dup_touch", "no page-ready for its token");
	else
		result("dup_touch", NULL);
	cli();
}

static void no_ack(void)
{
	u32 np0 = np_count, rd0 = nreadies, t2;
	const char *why = NULL;

	ack_readies = false;
	sti();
	apf_touch(fresh_page());
	if (np_count == np0)
		why = "no not-present #PF for the first page";
	else if (!wait_any_ready(rd0, READY_MS))
		why = "no page-ready for the first page";
	np0 = np_count;
	rd0 = nreadies;
	apf_touch(fresh_page());
	t2 = np_token;
	if (!why && np_count != np0 + 1)
		why = "no single not-present #PF for the second page";
	else if (!why && wait_any_ready(rd0, QUIET_MS))
		why = "a page-ready came without the ACK";
	ack_readies = true;
	wrmsr(MSR_KVM_ASYNC_PF_ACK, 1);
	if (!why && !wait_ready(rd0, t2, READY_MS))
		why = "no page-ready for the second page after the ACK";
	cli();
	result("no_ack", why);
}

/* Touch a fresh page with IF=1 and have the handler skip the touch: its token stays
 * outstanding. Returns with interrupts off; false if no not-present #PF came. */
static bool touch_outstanding(void)
{
	u32 np0 = np_count;

	skip_touch = true;
	sti();
	apf_touch(fresh_page());
	cli();
	skip_touch = false;
	return np_count == np0 + 1;
}

static void disable_outstanding(void)
{
	u32 rd0;

	if (!touch_outstanding()) {
		result("disable_outstanding", "no not-present #PF");
		return;
	}
	rd0 = nreadies;
	if (!wrmsr_safe(MSR_KVM_ASYNC_PF_EN, 0))
		result("disable_outstanding", "EN = 0 refused");
	else if (!wait_ready(rd0, KVM_APF_WAKE_ALL, READY_MS))
		result("disable_outstanding", "no wake-all");
	else
		result("disable_outstanding", NULL);
	cli();
}

static void enable_twice(void)
{
	u32 rd0;

	if (!enable()) {
		result("enable_twice", "the first EN refused");
		return;
	}
	if (!touch_outstanding()) {
		result("enable_twice", "no not-present #PF");
		return;
	}
	rd0 = nreadies;
	if (!wrmsr_safe(MSR_KVM_ASYNC_PF_EN, area_gpa() | APF_FLAGS))
		result("enable_twice", "the second EN refused");
	else if (!wait_ready(rd0, KVM_APF_WAKE_ALL, READY_MS))
		result("enable_twice", "no wake-all");
	else
		result("enable_twice", NULL);
	cli();
}

/* The area in the store, across two pages no case touched (not yet fetched): accepted (the
 * hypervisor pins both pages and fetches them), and a not-present #PF and its page-ready go
 * through it; then the area is moved back and the two pages get their pattern again. */
static void area_store(void)
{
	u64 q = fresh_page(), q2 = fresh_page(), a = q + PAGE_SIZE - 64, t;
	volatile struct kvm_apf_area *sa = (struct kvm_apf_area *)a;
	u32 np0 = np_count, rd0 = nreadies;
	const char *why = NULL;

	cli();
	if (!q || q2 != q + PAGE_SIZE) {
		result("area_store", "no two fresh pages left");
		return;
	}
	if (!wrmsr_safe(MSR_KVM_ASYNC_PF_EN, a | APF_FLAGS)) {
		result("area_store", "an area in the store refused");
		return;
	}
	/* Its words hold the buffer's pattern: a guest clears flags and token before use. */
	sa->flags = 0;
	sa->token = 0;
	cur_area = (struct kvm_apf_area *)a;
	sti();
	apf_touch(fresh_page());
	t = np_token;
	if (np_count != np0 + 1)
		why = "no single not-present #PF through the area in the store";
	else if (!wait_ready(rd0, (u32)t, READY_MS))
		why = "no page-ready through the area in the store";
	cli();
	if (!wrmsr_safe(MSR_KVM_ASYNC_PF_EN, area_gpa() | APF_FLAGS) && !why)
		why = "the area's move back refused";
	cur_area = &kvm_apf_area;
	*(volatile u64 *)a = apf_pattern(a, 0); /* the word of flags and token */
	result("area_store", why);
}

/* The lowest word of the buffer that does not hold apf_pattern(g, 0), or 0. */
static u64 first_bad_word(void)
{
	for (u64 g = buf; g < buf + npages * PAGE_SIZE; g += 8)
		if (*(const volatile u64 *)g != apf_pattern(g, 0))
			return g;
	return 0;
}

static void cli_forever(void)
{
	u32 np0 = np_count;
	u64 g;

	cli();
	for (u64 p = fresh_page(); p; p = fresh_page())
		apf_touch(p);
	if (np_count != np0)
		result("cli_forever", "a not-present #PF with interrupts off");
	else if (prefilled && (g = first_bad_word()) != 0) {
		pr("apf-hostile: word at 0x%llx is 0x%llx\n", (unsigned long long)g,
		   (unsigned long long)*(const volatile u64 *)g);
		result("cli_forever", "the buffer does not hold its pattern");
	} else
		result("cli_forever", NULL);
}

/* The end of guest RAM: the end of the highest usable range, carried on through ranges that
 * follow it without a gap (QEMU and eptvisor mark RAM's top 128 KiB reserved: RAM all the
 * same). For -m 128: 0x8000000. */
static u64 end_of_ram(const struct bootinfo *bi)
{
	u64 end = 0;
	bool grew = true;

	for (int i = 0; i < bi->nmmap; i++)
		if (bi->mmap[i].type == 1 && bi->mmap[i].base + bi->mmap[i].len > end)
			end = bi->mmap[i].base + bi->mmap[i].len;
	while (grew) {
		grew = false;
		for (int i = 0; i < bi->nmmap; i++)
			if (bi->mmap[i].base == end && bi->mmap[i].len) {
				end += bi->mmap[i].len;
				grew = true;
			}
	}
	return end;
}

static void calibrate_tsc(void)
{
	u64 t0 = rdtsc();

	lapic_delay(CAL_COUNT);
	tsc_per_ms = (rdtsc() - t0) / 10;
	if (!tsc_per_ms)
		tsc_per_ms = 1;
}

static void setup(u32 magic, u32 info)
{
	struct bootinfo bi;
	u64 v;

	uart_init();
	ktrap_init();
	ktrap_set(EXC_GP, kvm_apf_gp_fixup);
	ktrap_set(EXC_PF, on_page_fault);
	ktrap_set(PCAPF_VECTOR, on_page_ready);
	ktrap_set(VEC_SPURIOUS, on_spurious);
	if (bootinfo_parse(magic, info, &bi) < 0 || !arg_u64(bi.args, "buf", &buf) ||
	    !arg_u64(bi.args, "pages", &npages) || npages < MIN_PAGES || buf % PAGE_SIZE) {
		pr("apf-hostile: bad arguments: need buf=0xADDR pages=N (N >= %d)\n", MIN_PAGES);
		pc_exit(PCAPF_EXIT_ARGS);
	}
	prefilled = arg_u64(bi.args, "prefilled", &v) && v == 1;
	ram_end = end_of_ram(&bi);
	pr("apf-hostile: buf 0x%llx pages %llu ram end 0x%llx\n", (unsigned long long)buf,
	   (unsigned long long)npages, (unsigned long long)ram_end);
	if (!kvm_apf_leaf()) {
		pr("apf-hostile: no KVM leaf with async pf\n");
		pc_exit(PCAPF_EXIT_NO_KVM);
	}
	pic_remap_and_mask();
	lapic_enable();
	calibrate_tsc();
}

void pc_main(u32 magic, u32 info)
{
	setup(magic, info);
	refused_values();
	no_as_int();
	if (!enable())
		pr("apf-hostile: EN = area | ENABLED | SEND_ALWAYS | AS_INT refused\n");
	dup_touch();
	no_ack();
	disable_outstanding();
	enable_twice();
	area_store();
	cli_forever();
	pr("apf-hostile: end: %d of %d ok\n", passed, NCASES);
	pc_exit(passed == NCASES ? PCAPF_EXIT_PASS : PCAPF_EXIT_HOSTILE);
}
