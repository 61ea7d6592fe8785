/*
 * The test guest: one program per GT_* number (include/guest_tests.h), each a few lines
 * that exercise one thing and CHECK the result. The hypervisor judges the rest (stops,
 * counters); see vmx/scenario.c for what each scenario expects.
 */
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
	long id = hypercall(HC_VCPU_ID, 0, 0, 0);

	com1_puts("hello from the guest, through the emulated COM1\n");
	gprintf("hello from vcpu %ld, through HC_PUTS", id);
	CHECK(hypercall(HC_NOP, 0, 0, 0) == 0, "HC_NOP returns 0");
	CHECK(id == 0, "HC_VCPU_ID is 0 for the first vcpu");
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
	CHECK(hypercall(HC_GPA_LEVEL, base, 0, 0) == level, "start mapped by a level-%ld leaf", level);
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
	CHECK(hypercall(HC_GPA_LEVEL, GT_OUTSIDE_GPA, 0, 0) == -EFAULT, "gpa level outside: -EFAULT");
	CHECK(hypercall(HC_PUTS, (u64)ok, 4, 0) == 4, "and a good call still works");
	return 0;
}

/* Both vCPUs add to one counter with atomics; vCPU 0 waits for vCPU 1 and checks the sum. */
static long test_two_vcpus(void)
{
	volatile u64 *counter = (volatile u64 *)GT_SHARED_GPA, *done = counter + 1;
	long id = hypercall(HC_VCPU_ID, 0, 0, 0);
	const u64 n = 20000;

	for (u64 i = 0; i < n; i++)
		__atomic_add_fetch(counter, 1, __ATOMIC_RELAXED);
	if (id != 0) {
		__atomic_store_n(done, 1, __ATOMIC_RELEASE);
		return 0;
	}
	while (!__atomic_load_n(done, __ATOMIC_ACQUIRE))
		pause();
	gprintf("shared counter %llu after both vcpus", (unsigned long long)*counter);
	CHECK(*counter == 2 * n, "both vcpus' atomic increments counted (%llu)",
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
	long id = hypercall(HC_VCPU_ID, 0, 0, 0);
	u64 seed = 0x9e3779b97f4a7c15ULL * (id + 1), n = 0;

	while (!ctrl->go && !ctrl->stop)
		pause();
	while (!ctrl->stop) {
		u64 r = next_random(&seed);
		volatile u64 *page = (volatile u64 *)(GT_DIRTY_GPA + (r % GT_DIRTY_PAGES) * 4096);

		page[(r >> 32) % 512] = (ctrl->round << 32) | ((u64)id << 24) | (n++ & 0xffffff);
	}
	ctrl->writes[id] = n;
	return 0;
}

long guest_main(long test)
{
	switch (test) {
	case GT_HELLO: return test_hello();
	case GT_POPULATE: return test_populate();
	case GT_MAP_2M: return test_huge(GT_SLOT_2M_GPA, 2ULL << 20, 2);
	case GT_MAP_1G: return test_huge(GT_SLOT_1G_GPA, 1ULL << 30, 3);
	case GT_OUTSIDE: return test_outside();
	case GT_TRIPLE_FAULT: return test_triple_fault();
	case GT_RUNAWAY: return test_runaway();
	case GT_BAD_HYPERCALLS: return test_bad_hypercalls();
	case GT_TWO_VCPUS: return test_two_vcpus();
	case GT_DEMO: return test_demo();
	case GT_DIRTY_WRITER: return test_dirty_writer();
	}
	gprintf("unknown test %ld", test);
	return 99;
}
