/*
 * The test guest: one program per GT_* number (include/guest_tests.h), each a few lines
 * that exercise one thing and CHECK the result. The hypervisor judges the rest (stops,
 * counters); see scenarios/runner.c for what each scenario expects.
 */
#include "bench.h"
#include "errno.h"
#include "guest.h"
#include "guest_tests.h"
#include "lib.h"

long guest_main(long test);

void gprintf(const char *fmt, ...)
{
	char buf[HC_PUTS_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	hypercall(HC_PUTS, (u64)buf, n < (int)sizeof(buf) ? n : (int)sizeof(buf) - 1, 0);
}

void check(int ok, const char *fmt, ...)
{
	char name[HC_NAME_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(name, sizeof(name), fmt, ap);
	va_end(ap);
	hypercall(HC_CHECK, ok, (u64)name, n < (int)sizeof(name) ? n : (int)sizeof(name) - 1);
}

static void com1_puts(const char *s)
{
	for (; *s; s++) {
		while (!(inb(0x3fd) & 0x20))
			pause();
		outb(0x3f8, *s);
	}
}

static long test_hello(void)
{
	long who = hypercall(HC_VCPU_ID, 0, 0, 0), id = who & 0xffff, nvcpus = who >> 16;

	com1_puts("hello from the guest, through the emulated COM1\n");
	gprintf("hello from vcpu %ld, through HC_PUTS", id);
	CHECK(hypercall(HC_NOP, 0, 0, 0) == 0, "HC_NOP returns 0");
	CHECK(nvcpus >= 1 && id < nvcpus, "HC_VCPU_ID: vcpu %ld of %ld", id, nvcpus);
	return 0;
}

/* Write a pattern over pages that start unbacked, then read it all back. */
static long test_populate(void)
{
	volatile u64 *p = (volatile u64 *)GT_POPULATE_GPA;
	u64 words = GT_POPULATE_BYTES / 8, bad = 0;
	struct hc_stats before, after;

	hypercall(HC_STATS, (u64)&before, sizeof(before), 0);
	for (u64 i = 0; i < words; i += 64)
		p[i] = i * 0x9e3779b97f4a7c15ULL;
	for (u64 i = 0; i < words; i += 64)
		bad += p[i] != i * 0x9e3779b97f4a7c15ULL;
	hypercall(HC_STATS, (u64)&after, sizeof(after), 0);
	gprintf("populated %llu pages on first touch", after.populates - before.populates);
	CHECK(bad == 0, "all %llu words read back", (unsigned long long)(words / 64));
	CHECK(after.populates - before.populates >= GT_POPULATE_BYTES / 4096,
	      "every touched page was populated on its fault");
	CHECK(hypercall(HC_GPA_LEVEL, GT_POPULATE_GPA, 0, 0) == 1, "populated pages are 4K leaves");
	return 0;
}

/* Pattern test over a huge slot: start, middle, end, and every 64 KiB. */
static long test_huge(u64 base, u64 size, long level)
{
	u64 bad = 0;

	for (u64 off = 0; off < size; off += 0x10000)
		*(volatile u64 *)(base + off) = base + off;
	*(volatile u64 *)(base + size - 8) = 0x5a5a;
	for (u64 off = 0; off < size; off += 0x10000)
		bad += *(volatile u64 *)(base + off) != base + off;
	CHECK(bad == 0, "pattern reads back over the %llu MiB slot",
	      (unsigned long long)(size >> 20));
	CHECK(*(volatile u64 *)(base + size - 8) == 0x5a5a, "last word of the slot");
	CHECK(hypercall(HC_GPA_LEVEL, base, 0, 0) == level, "start mapped by a level-%ld leaf",
	      level);
	CHECK(hypercall(HC_GPA_LEVEL, base + size - 1, 0, 0) == level, "end mapped at level %ld",
	      level);
	return 0;
}

static long test_outside(void)
{
	gprintf("reading gpa 0x%llx, which is in no memslot", GT_OUTSIDE_GPA);
	return *(volatile u64 *)GT_OUTSIDE_GPA; /* the hypervisor stops the VM here */
}

static long test_triple_fault(void)
{
	gprintf("executing ud2 with no IDT: #UD -> #DF -> triple fault");
	__asm__ volatile("ud2");
	return 1;
}

static long test_runaway(void)
{
	gprintf("spinning forever with interrupts off");
	for (;;)
		__asm__ volatile("cli");
	return 1;
}

static long test_bad_hypercalls(void)
{
	char ok[] = "fine";

	CHECK(hypercall(9999, 0, 0, 0) == -ENOSYS, "unknown hypercall number: -ENOSYS");
	CHECK(hypercall(-1L, 0, 0, 0) == -ENOSYS, "negative hypercall number: -ENOSYS");
	CHECK(hypercall(HC_PUTS, GT_OUTSIDE_GPA, 4, 0) == -EFAULT, "buffer outside memslots");
	CHECK(hypercall(HC_PUTS, 0xffffffff80100000ULL, 16, 0) == -EFAULT,
	      "buffer at the hypervisor's own address");
	CHECK(hypercall(HC_PUTS, (u64)ok, 1ULL << 40, 0) == -E2BIG, "absurd length: -E2BIG");
	CHECK(hypercall(HC_PUTS, 0xfffffffffffff000ULL, 4096, 0) < 0, "buffer wrapping the space");
	CHECK(hypercall(HC_PUTS, 16 * 1024 * 1024 - 2, 4, 0) == -EFAULT,
	      "buffer running off the end of memory");
	CHECK(hypercall(HC_CHECK, 1, (u64)ok, 1000) == -E2BIG, "overlong check name: -E2BIG");
	CHECK(hypercall(HC_STATS, (u64)ok, 3, 0) == -EINVAL, "stats with a wrong size: -EINVAL");
	CHECK(hypercall(HC_GPA_LEVEL, GT_OUTSIDE_GPA, 0, 0) == -EFAULT,
	      "gpa level outside: -EFAULT");
	CHECK(hypercall(HC_PUTS, (u64)ok, 4, 0) == 4, "and a good call still works");
	return 0;
}

/* Every vCPU adds to one counter with atomics; vCPU 0 waits for the others, checks the sum. */
static long test_two_vcpus(void)
{
	volatile u64 *counter = (volatile u64 *)GT_SHARED_GPA, *done = counter + 1;
	long who = hypercall(HC_VCPU_ID, 0, 0, 0), id = who & 0xffff, nvcpus = who >> 16;
	const u64 n = 20000;

	for (u64 i = 0; i < n; i++)
		__atomic_add_fetch(counter, 1, __ATOMIC_RELAXED);
	if (id != 0) {
		__atomic_add_fetch(done, 1, __ATOMIC_RELEASE);
		return 0;
	}
	while (__atomic_load_n(done, __ATOMIC_ACQUIRE) != (u64)nvcpus - 1)
		pause();
	gprintf("shared counter %llu after %ld vcpus", (unsigned long long)*counter, nvcpus);
	CHECK(*counter == nvcpus * n, "every vcpu's atomic increments counted (%llu)",
	      (unsigned long long)*counter);
	return 0;
}

/* The default experiment: touch 8 MiB, then report what the hypervisor counted. */
static long test_demo(void)
{
	volatile u8 *mem = (volatile u8 *)GT_POPULATE_GPA;
	struct hc_stats st;
	u64 sum = 0;

	gprintf("demo: touching 8 MiB of unbacked guest memory, one write per page");
	for (u64 off = 0; off < GT_POPULATE_BYTES; off += 4096)
		mem[off] = (u8)(off >> 12);
	for (u64 off = 0; off < GT_POPULATE_BYTES; off += 4096)
		sum += mem[off];
	hypercall(HC_STATS, (u64)&st, sizeof(st), 0);
	gprintf("demo: %llu exits, %llu EPT violations, %llu pages populated, checksum %llu",
	        st.exits, st.ept_violations, st.populates, (unsigned long long)sum);
	CHECK(st.populates >= GT_POPULATE_BYTES / 4096, "each page populated on first touch");
	return 0;
}

/* xorshift64: the guest's pseudo-random page picker. */
static u64 next_random(u64 *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Write round numbers into pseudo-random words of pseudo-random pages until told to stop. */
static long test_dirty_writer(void)
{
	struct guest_ctrl *ctrl = (struct guest_ctrl *)GT_CTRL_GPA;
	long id = (hypercall(HC_VCPU_ID, 0, 0, 0) & 0xffff);
	u64 seed = 0x9e3779b97f4a7c15ULL * (id + 1), n = 0;

	u64 span;

	while (!ctrl->go && !ctrl->stop)
		pause();
	span = ctrl->span ? ctrl->span : GT_DIRTY_PAGES;
	while (!ctrl->stop) {
		u64 r = next_random(&seed);
		volatile u64 *page = (volatile u64 *)(GT_DIRTY_GPA + (r % span) * 4096);

		page[(r >> 32) % 512] = (ctrl->round << 32) | ((u64)id << 24) | (n++ & 0xffffff);
	}
	ctrl->writes[id] = n;
	return 0;
}

static long scan(struct hc_scan *a, u64 gpa, u64 npages, u64 flags, u64 *idle, u64 *hole)
{
	*a = (struct hc_scan){ .gpa = gpa,
		               .npages = npages,
		               .flags = flags,
		               .idle_gpa = (u64)idle,
		               .hole_gpa = (u64)hole };
	return hypercall(HC_IDLE_SCAN, (u64)a, 0, 0);
}

static void touch(u64 first, u64 n, int write)
{
	for (u64 p = first; p < first + n; p++) {
		volatile u64 *w = (volatile u64 *)(GT_IDLE_GPA + p * 4096);

		if (write)
			*w = p;
		else
			(void)*w;
	}
}

static int bit(const u64 *bm, u64 i)
{
	return (bm[i / 64] >> (i % 64)) & 1;
}

/* Does the scan say exactly: hot pages (and `extra`) accessed, other cold idle, rest holes? */
static int classified(const u64 *idle, const u64 *hole, u64 extra)
{
	for (u64 p = 0; p < GT_IDLE_PAGES; p++) {
		int want_hole = p >= GT_IDLE_HOT + GT_IDLE_COLD;
		int want_idle = !want_hole && p >= GT_IDLE_HOT && p != extra;

		if (bit(hole, p) != want_hole || bit(idle, p) != want_idle)
			return 0;
	}
	return 1;
}

/* A hot set kept busy, a cold set left alone, holes never touched: the scans must tell
 * them apart exactly, and see a cold page that turns hot. */
static long test_idle_hot_cold(void)
{
	static u64 idle[GT_IDLE_PAGES / 64], hole[GT_IDLE_PAGES / 64];
	static u64 big_idle[8], big_hole[8];
	struct hc_scan a;
	const u64 holes = GT_IDLE_PAGES - GT_IDLE_HOT - GT_IDLE_COLD;

	touch(0, GT_IDLE_HOT + GT_IDLE_COLD, 1);
	CHECK(scan(&a, GT_IDLE_GPA, GT_IDLE_PAGES, HC_SCAN_CLEAR, idle, hole) == GT_IDLE_PAGES,
	      "first scan");
	CHECK(a.pages[2] == GT_IDLE_HOT + GT_IDLE_COLD && a.pages[0] == holes && a.pages[1] == 0,
	      "round 1: all touched pages accessed, %llu holes", a.pages[0]);
	for (int round = 2; round <= 3; round++) {
		touch(0, GT_IDLE_HOT, 0);
		scan(&a, GT_IDLE_GPA, GT_IDLE_PAGES, HC_SCAN_CLEAR, idle, hole);
		CHECK(classified(idle, hole, ~0ULL),
		      "round %d: hot accessed, cold idle, holes "
		      "never idle (%llu/%llu/%llu)",
		      round, a.pages[2], a.pages[1], a.pages[0]);
	}
	touch(0, GT_IDLE_HOT, 0);
	touch(GT_IDLE_HOT + 5, 1, 0);
	scan(&a, GT_IDLE_GPA, GT_IDLE_PAGES, HC_SCAN_CLEAR, idle, hole);
	CHECK(classified(idle, hole, GT_IDLE_HOT + 5), "a cold page that became hot is seen");
	*(volatile u64 *)GT_SLOT_2M_GPA = 1;
	scan(&a, GT_SLOT_2M_GPA, 512, HC_SCAN_CLEAR, big_idle, big_hole);
	CHECK(a.by_level[2][2] == 512 && a.extents == 1, "a 2M leaf is one accessed entry");
	scan(&a, GT_SLOT_2M_GPA, 512, HC_SCAN_CLEAR, big_idle, big_hole);
	CHECK(a.by_level[2][1] == 512 && a.extents == 1, "and one idle entry when left alone");
	return 0;
}

/* Memory-management hypercalls with bad arguments: each gets its error, nothing breaks. */
static long test_hostile_mm(void)
{
	static u64 bm[64], args_raw[32];
	struct hc_scan *a = (struct hc_scan *)args_raw;
	struct hc_dirty d = { .gpa = GT_DIRTY_GPA, .npages = 64, .mode = 0, .bitmap_gpa = (u64)bm };
	long n;

	CHECK(hypercall(HC_IDLE_SCAN, GT_OUTSIDE_GPA, 0, 0) == -EFAULT, "scan args outside");
	CHECK(hypercall(HC_IDLE_SCAN, 0xffffffff80100000ULL, 0, 0) == -EFAULT,
	      "scan args at a hypervisor address");
	CHECK(hypercall(HC_IDLE_SCAN, (u64)a + 1, 0, 0) == -EINVAL, "unaligned scan args");
	CHECK(scan(a, GT_OUTSIDE_GPA, 16, 0, 0, 0) == -EFAULT, "scan a range outside the VM");
	CHECK(scan(a, 0, 1ULL << 40, 0, 0, 0) == -E2BIG, "scan an absurd length");
	CHECK(scan(a, 0, 0, 0, 0, 0) == -EINVAL, "scan zero pages");
	CHECK(scan(a, 0x1001, 4, 0, 0, 0) == -EINVAL, "scan an unaligned gpa");
	CHECK(scan(a, 16 * 1024 * 1024 - 4096, 2, 0, 0, 0) == -EFAULT,
	      "scan a range running off the memslot");
	CHECK(scan(a, GT_DIRTY_GPA, 64, 0, (u64 *)((u64)bm + 4), 0) == -EINVAL,
	      "unaligned bitmap buffer");
	CHECK(scan(a, GT_DIRTY_GPA, 64, 0, (u64 *)0xffffffff80100000ULL, 0) == -EFAULT,
	      "bitmap buffer at a hypervisor address");
	CHECK(scan(a, GT_DIRTY_GPA, 64, 0xff, 0, 0) == -EINVAL, "unknown scan flags");
	CHECK(hypercall(HC_DIRTY_LOG, 99, (u64)&d, 0) == -EINVAL, "unknown dirty-log op");
	CHECK(hypercall(HC_DIRTY_LOG, HC_DIRTY_HARVEST, (u64)&d, 0) == -ENOENT,
	      "harvest with no log");
	d.gpa = GT_OUTSIDE_GPA;
	CHECK(hypercall(HC_DIRTY_LOG, HC_DIRTY_ENABLE, (u64)&d, 0) == -EFAULT,
	      "log a range outside the VM");
	d.gpa = GT_DIRTY_GPA, d.mode = 7;
	CHECK(hypercall(HC_DIRTY_LOG, HC_DIRTY_ENABLE, (u64)&d, 0) == -EINVAL, "bad log mode");
	d.mode = 0;
	CHECK(hypercall(HC_DIRTY_LOG, HC_DIRTY_ENABLE, (u64)&d, 0) == 0, "a good log enables");
	CHECK(hypercall(HC_DIRTY_LOG, HC_DIRTY_ENABLE, (u64)&d, 0) == -EBUSY, "only one log");
	*(volatile u64 *)GT_DIRTY_GPA = 1;
	d.bitmap_gpa = GT_OUTSIDE_GPA;
	CHECK(hypercall(HC_DIRTY_LOG, HC_DIRTY_HARVEST, (u64)&d, 0) == -EFAULT,
	      "harvest into a buffer outside the VM");
	*(volatile u64 *)(GT_DIRTY_GPA + 4096) = 1;
	d.bitmap_gpa = (u64)bm;
	n = hypercall(HC_DIRTY_LOG, HC_DIRTY_HARVEST, (u64)&d, 0);
	CHECK(n == 1 && bm[0] == 2, "a good harvest returns the page written since (%ld)", n);
	CHECK(hypercall(HC_DIRTY_LOG, HC_DIRTY_DISABLE, 0, 0) == 0, "disable");
	CHECK(hypercall(HC_DIRTY_LOG, HC_DIRTY_DISABLE, 0, 0) == -ENOENT, "disable twice");
	CHECK(scan(a, GT_DIRTY_GPA, 64, HC_SCAN_CLEAR, bm, 0) == 64, "and a good scan works");
	return 0;
}

static u64 split_pattern(u64 page, u64 word)
{
	return (page << 20) ^ (word * 0x9e3779b97f4a7c15ULL);
}

/* Fill the split slot with a pattern, then verify it over and over (writing only word 0 of
 * each page) while the hypervisor splits, collapses and moves its pages underneath. */
static long test_split_verifier(void)
{
	struct guest_ctrl *ctrl = (struct guest_ctrl *)GT_CTRL_GPA;
	const u64 pages = GT_SPLIT_BYTES / 4096;
	u64 errors = 0;

	for (u64 p = 0; p < pages; p++)
		for (u64 w = 1; w < 512; w++)
			((volatile u64 *)(GT_SPLIT_GPA + p * 4096))[w] = split_pattern(p, w);
	while (!ctrl->stop) {
		for (u64 p = 0; p < pages; p++) {
			volatile u64 *pg = (volatile u64 *)(GT_SPLIT_GPA + p * 4096);

			for (u64 w = 1; w < 512; w += 7)
				errors += pg[w] != split_pattern(p, w);
			pg[0] = ctrl->passes[0];
		}
		ctrl->passes[0]++;
	}
	for (u64 p = 0; p < pages; p++)
		for (u64 w = 1; w < 512; w++)
			errors += ((volatile u64 *)(GT_SPLIT_GPA + p * 4096))[w] !=
			          split_pattern(p, w);
	CHECK(errors == 0,
	      "memory unchanged throughout "
	      "(%llu passes, %llu bad words)",
	      (unsigned long long)ctrl->passes[0], (unsigned long long)errors);
	return 0;
}

#define COMPACT_PAGES (GT_COMPACT_BYTES / 4096)
#define COMPACT_HOT   8 /* words 0..7 of a page are rewritten with its version */

static u64 compact_pattern(u64 page, u64 word, u64 ver)
{
	return (page << 40) ^ (ver << 16) ^ (word * 0x9e3779b97f4a7c15ULL);
}

/* Check page p: the hot words at its version, a sample of the others at version 0. */
static u64 compact_verify(u64 p, u64 ver, u64 stride)
{
	const volatile u64 *pg = (const volatile u64 *)(GT_COMPACT_GPA + p * 4096);
	u64 bad = 0;

	for (u64 w = 0; w < COMPACT_HOT; w++)
		bad += pg[w] != compact_pattern(p, w, ver);
	for (u64 w = COMPACT_HOT + p % stride; w < 512; w += stride)
		bad += pg[w] != compact_pattern(p, w, 0);
	return bad;
}

/* Fill the compaction slot, then rewrite the hot words of pseudo-random pages with a new
 * version after checking the old one, until told to stop; at the end check every page. A
 * write lost while its page moved shows as a stale version. */
static long test_compact_writer(void)
{
	static unsigned ver[COMPACT_PAGES];
	struct guest_ctrl *ctrl = (struct guest_ctrl *)GT_CTRL_GPA;
	u64 seed = 0x2545f4914f6cdd1dULL, n = 0, errors = 0;

	for (u64 p = 0; p < COMPACT_PAGES; p++)
		for (u64 w = 0; w < 512; w++)
			((volatile u64 *)(GT_COMPACT_GPA + p * 4096))[w] = compact_pattern(p, w, 0);
	ctrl->passes[0] = 1;
	while (!ctrl->stop) {
		u64 p = next_random(&seed) % COMPACT_PAGES;
		volatile u64 *pg = (volatile u64 *)(GT_COMPACT_GPA + p * 4096);

		errors += compact_verify(p, ver[p], 61);
		ver[p]++;
		for (u64 w = 0; w < COMPACT_HOT; w++)
			pg[w] = compact_pattern(p, w, ver[p]);
		if ((++n & 0xff) == 0)
			ctrl->passes[0]++;
	}
	ctrl->writes[0] = n;
	for (u64 p = 0; p < COMPACT_PAGES; p++)
		errors += compact_verify(p, ver[p], 1);
	CHECK(errors == 0, "no write lost (%llu rewrites, %llu bad words)", (unsigned long long)n,
	      (unsigned long long)errors);
	return 0;
}

/* Wrong words of store page p against version ver (all 512). */
static u64 store_verify(u64 p, u64 ver)
{
	const volatile u64 *pg = (const volatile u64 *)(GT_STORE_GPA + p * 4096);
	u64 bad = 0;

	for (u64 w = 0; w < 512; w++)
		bad += pg[w] != gt_store_pattern(p, w, ver);
	return bad;
}

static void store_write(u64 p, u64 ver)
{
	volatile u64 *pg = (volatile u64 *)(GT_STORE_GPA + p * 4096);

	for (u64 w = 0; w < 512; w++)
		pg[w] = gt_store_pattern(p, w, ver);
}

/* The store slot's pages start in a slow store: check each page's initial contents (its
 * first touch fetches it) and write version 1; then, until told to stop, check and rewrite
 * pseudo-random pages while the host evicts them (a refault fetches them back). A page
 * mapped before its fetch completed, or a rewrite lost by an eviction, shows as bad words. */
static long test_store_walker(void)
{
	static u64 ver[GT_STORE_PAGES];
	struct guest_ctrl *ctrl = (struct guest_ctrl *)GT_CTRL_GPA;
	u64 seed = 0x9e3779b97f4a7c15ULL, n = 0, first = 0, errors = 0;

	/* Any other vCPU computes and counts: it must keep running while vCPU 0 waits. */
	if ((hypercall(HC_VCPU_ID, 0, 0, 0) & 0xffff) != 0) {
		while (!ctrl->stop)
			ctrl->writes[1]++;
		return 0;
	}
	for (u64 p = 0; p < GT_STORE_PAGES; p++) {
		first += store_verify(p, 0);
		store_write(p, ++ver[p]);
	}
	ctrl->passes[0] = 1;
	while (!ctrl->stop) {
		u64 p = next_random(&seed) % GT_STORE_PAGES;

		errors += store_verify(p, ver[p]);
		store_write(p, ++ver[p]);
		if ((++n & 0xf) == 0)
			ctrl->passes[0]++;
	}
	ctrl->writes[0] = n;
	for (u64 p = 0; p < GT_STORE_PAGES; p++)
		errors += store_verify(p, ver[p]);
	CHECK(first == 0, "every page came from the store complete (%d pages, %llu bad words)",
	      GT_STORE_PAGES, (unsigned long long)first);
	CHECK(errors == 0, "no rewrite lost to an eviction (%llu rewrites, %llu bad words)",
	      (unsigned long long)n, (unsigned long long)errors);
	return 0;
}

/* Check page p of the store slot against its last version and write the next. */
static u64 store_touch(u64 *ver, u64 p)
{
	u64 bad = store_verify(p, ver[p]);

	store_write(p, ++ver[p]);
	return bad;
}

/* A hot set and rare cold touches over a store slot whose pages start in the store: in
 * every sweep read the first word of each of the GT_RECLAIM_HOT hot pages, check and rewrite
 * one of them in turn, and every other sweep check and rewrite one pseudo-random cold page,
 * until told to stop; then check every page. The host keeps the resident pages under a limit
 * by evicting idle ones, so cold touches refault. A rewrite checks all 512 words against the
 * version last written (0: the store's contents). */
static long test_store_hot_cold(void)
{
	static u64 ver[GT_STORE_PAGES];
	struct guest_ctrl *ctrl = (struct guest_ctrl *)GT_CTRL_GPA;
	u64 seed = 0x2545f4914f6cdd1dULL, sweeps = 0, cold = 0, errors = 0;

	ctrl->passes[0] = 1;
	while (!ctrl->stop) {
		for (u64 p = 0; p < GT_RECLAIM_HOT; p++)
			errors += *(volatile u64 *)(GT_STORE_GPA + p * 4096) !=
			          gt_store_pattern(p, 0, ver[p]);
		errors += store_touch(ver, sweeps % GT_RECLAIM_HOT);
		if (++sweeps % 2 == 0) {
			errors += store_touch(
				ver, GT_RECLAIM_HOT + next_random(&seed) %
							      (GT_STORE_PAGES - GT_RECLAIM_HOT));
			cold++;
		}
		ctrl->passes[0] = sweeps + 1;
	}
	ctrl->writes[0] = cold;
	for (u64 p = 0; p < GT_STORE_PAGES; p++)
		errors += store_verify(p, ver[p]);
	CHECK(errors == 0, "no page lost or torn by reclaim (%llu sweeps, %llu cold, %llu bad)",
	      (unsigned long long)sweeps, (unsigned long long)cold, (unsigned long long)errors);
	return 0;
}

/* Read one page in a tight loop, never exiting, until told to stop. */
static long test_idle_toucher(void)
{
	struct guest_ctrl *ctrl = (struct guest_ctrl *)GT_CTRL_GPA;
	const volatile u64 *hot = (const volatile u64 *)(GT_IDLE_GPA + 5 * 4096);
	u64 n = 0, sum = 0;

	while (!ctrl->stop) {
		sum += *hot;
		if ((++n & 0x3ff) == 0)
			ctrl->passes[0] = n;
	}
	CHECK(n > 0 && sum == 0, "toucher read its page %llu times", (unsigned long long)n);
	return 0;
}

long guest_main(long test)
{
	switch (test) {
	case GT_HELLO:
		return test_hello();
	case GT_POPULATE:
		return test_populate();
	case GT_MAP_2M:
		return test_huge(GT_SLOT_2M_GPA, 2ULL << 20, 2);
	case GT_MAP_1G:
		return test_huge(GT_SLOT_1G_GPA, 1ULL << 30, 3);
	case GT_OUTSIDE:
		return test_outside();
	case GT_TRIPLE_FAULT:
		return test_triple_fault();
	case GT_RUNAWAY:
		return test_runaway();
	case GT_BAD_HYPERCALLS:
		return test_bad_hypercalls();
	case GT_TWO_VCPUS:
		return test_two_vcpus();
	case GT_DEMO:
		return test_demo();
	case GT_DIRTY_WRITER:
		return test_dirty_writer();
	case GT_IDLE_HOT_COLD:
		return test_idle_hot_cold();
	case GT_SPLIT_VERIFIER:
		return test_split_verifier();
	case GT_COMPACT_WRITER:
		return test_compact_writer();
	case GT_STORE_WALKER:
		return test_store_walker();
	case GT_STORE_HOT_COLD:
		return test_store_hot_cold();
	case GT_IDLE_TOUCHER:
		return test_idle_toucher();
	case GT_HOSTILE_MM:
		return test_hostile_mm();
	case GT_BENCH:
	case GT_BENCH_PML:
		return bench_main(test);
	}
	gprintf("unknown test %ld", test);
	return 99;
}
