/*
 * The EPT under real threads. Three "vCPU" threads simulate the hardware on real data
 * frames: a write through W = 1 sets A/D and stores to the frame, a write through W = 0 (or
 * a missing entry) exits to ept_handle_fault and retries. A harvester thread runs dirty-log
 * get-and-clear rounds and copies every page it is told about to a destination, as live
 * migration does; a third thread keeps splitting 2M mappings and collapsing them back (in
 * place, or by copying into a fresh run for blocks whose frames are scattered).
 *
 * The verdict is the migration's: every few rounds the vCPUs pause, one more round runs,
 * and the destination must equal what each vCPU last wrote to each page. A dirty page lost
 * by the harvest, the fault path, a split or a collapse shows up as a stale destination word.
 * Phases: write-protect mode (fast path), write-protect forcing the slow path, D-bit mode,
 * PML mode; each at least 100 rounds. Two more phases (write-protect with the fast path,
 * D-bit; built apart as build/unit/test_ept_migrate_race) add a migrator thread: it moves the 4K
 * pages of the scattered blocks one by one and the contiguous blocks whole, as 2M leaves
 * (ept_migrate), while the splitter keeps splitting those blocks and collapsing them back in place,
 * so some moves find their leaf changed when they retake the lock and must give up cleanly
 * (-EAGAIN). A write that lands in an old frame after its copy, or a dirty bit lost across the
 * retarget, shows as a stale word. A last test checks grace periods directly: readers (online vCPU
 * threads reporting quiescent states, and a host task in walk brackets) stay inside leaf tables
 * that splits and collapses keep unlinking and freeing with poison, and must never read poison.
 * Another runs populates in parallel (the shared lock) beside a chunked scanner and an unmapper
 * (the exclusive lock); two more race a 1G collapse in place with fast-path faults and lookups,
 * and one moves a page a VMCS names (the APIC-access page) while vCPUs use it. The same file builds
 * under ThreadSanitizer (build/unit/tsan_ept_race); flushes emulate the IPI shootdown
 * (ept_env_host.c).
 */
/* cmocka.h needs these first */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

/* cmocka.h needs the headers above it. */
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ept/env.h"
#include "ept/ept.h"
#include "ept/migrate.h"
#include "ept_env_host.h"
#include "ept_hw.h"
#include "errno.h"

#define NVCPU       3
#define BLOCKS      8 /* 2M blocks; the odd ones have scattered 4K frames */
#define PAGES       (BLOCKS * 512)
#define ROUNDS      120
#define CHECK_EVERY 10
#define PROT        (EPT_R | EPT_W | EPT_X | EPT_HOST_WRITABLE | EPT_MMU_WRITABLE)

struct race {
	struct ept ept;
	struct ept_dirty_log log;
	u64 bitmap[PAGES / 64], out[PAGES / 64];
	u64 dest[PAGES][NVCPU]; /* the migration destination */
	u64 last[NVCPU][PAGES]; /* what each vCPU last wrote (its own slot only) */
	struct host_vcpu hw[NVCPU];
	u32 stop, pause, paused;
	bool migrating; /* a migrator runs: the splitter keeps to the contiguous blocks */
	u64 faults[EPT_FAULT_VIOLATION + 1];
	u64 splits, collapses, dirty, checks;
	u64 moved_4k, moved_2m, move_again, move_busy;
};

struct vcpu_arg {
	struct race *r;
	int id;
	u64 rng;
};

static u64 rnd(u64 *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dULL;
}

/* One simulated guest write of val into gfn's slot `id`; false: the EPT said no. */
static bool guest_store(struct race *r, int id, gfn_t g, u64 val)
{
	u64 leaf;
	int level;
	bool ok;

	host_vcpu_enter(&r->hw[id]);
	ok = hw_access(&r->ept, g, true, &leaf, &level);
	if (ok)
		__atomic_store_n((u64 *)host_data_va(hw_frame(leaf, level, g)) + id, val,
		                 __ATOMIC_RELAXED);
	host_vcpu_exit(&r->hw[id]);
	/* PML: the write that set D is logged; the kernel drains the log after the exit. */
	if (ok && r->log.mode == EPT_DIRTY_PML && !(leaf & EPT_D))
		ept_mark_dirty(&r->ept, g);
	return ok;
}

static void vcpu_pause_point(struct race *r)
{
	bool online;

	if (!__atomic_load_n(&r->pause, __ATOMIC_ACQUIRE))
		return;
	/* Wait offline: the splitter's grace periods must not wait for a paused vCPU. */
	online = ept_qs_pause();
	__atomic_fetch_add(&r->paused, 1, __ATOMIC_ACQ_REL);
	while (__atomic_load_n(&r->pause, __ATOMIC_ACQUIRE))
		cpu_relax();
	__atomic_fetch_sub(&r->paused, 1, __ATOMIC_ACQ_REL);
	ept_qs_resume(online);
}

/* A vCPU thread is online between its simulated VM exits and entries (ept/env.h): its fault
 * path and PML marking walk without marking themselves; guest_store's host_vcpu_enter/exit
 * make each simulated guest access a quiescent state. */
static void *vcpu_thread(void *p)
{
	struct vcpu_arg *a = p;
	struct race *r = a->r;

	ept_cpu_online();
	for (u64 val = 1; !__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE); val++) {
		u64 x = rnd(&a->rng);
		/* Half the writes go to 8 hot pages: harvests and faults then meet often. */
		gfn_t g = x & 1 ? (x >> 1) % 8 * 67 : (x >> 1) % PAGES;

		vcpu_pause_point(r);
		while (!guest_store(r, a->id, g, val)) {
			int f = ept_handle_fault(&r->ept, g, EPT_W);

			assert_true(f >= 0 && f <= EPT_FAULT_VIOLATION);
			__atomic_fetch_add(&r->faults[f], 1, __ATOMIC_RELAXED);
		}
		r->last[a->id][g] = val;
	}
	ept_cpu_offline();
	return NULL;
}

/* Split a 2M block, or collapse it back (copying when its frames are scattered). */
static void *splitter_thread(void *p)
{
	struct race *r = p;
	u64 rng = 77;

	while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
		/* With a migrator: even (contiguous) blocks only, collapsed in place, so a 4K
		 * frame the migrator gave a page is never inside a run someone frees whole. */
		gfn_t g = (rnd(&rng) % BLOCKS & (r->migrating ? ~1ULL : ~0ULL)) * 512;
		int level = 0;

		ept_lookup(&r->ept, g, &level);
		if (level == 2) {
			assert_int_equal(ept_split(&r->ept, g, 512, 1), 0);
			__atomic_fetch_add(&r->splits, 1, __ATOMIC_RELAXED);
		} else if (ept_collapse(&r->ept, g, 2,
		                        r->migrating ? EPT_COLLAPSE_IN_PLACE : EPT_COLLAPSE_COPY) ==
		           0) {
			__atomic_fetch_add(&r->collapses, 1, __ATOMIC_RELAXED);
		}
	}
	return NULL;
}

/* Move pages: a page of an odd block (its own 4K frame) to a fresh frame, an even block
 * mapped by a 2M leaf whole to a fresh run. A move whose leaf changed meanwhile (-EAGAIN), or
 * that finds the block split or another move at work (-EBUSY), gives the destination back. */
static void *migrator_thread(void *p)
{
	struct race *r = p;
	u64 rng = 4242;

	while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
		u64 x = rnd(&rng);
		gfn_t g = (x >> 8) % PAGES;
		int level = 0, err;
		hfn_t to;

		if (g / 512 % 2 == 0) {
			ept_lookup(&r->ept, g, &level);
			if (level != 2)
				continue; /* split now: only whole 2M runs move */
		} else {
			level = 1;
		}
		to = host_data_alloc(level);
		err = ept_migrate(&r->ept, g, to, level);
		if (err) {
			assert_true(err == -EAGAIN || err == -EBUSY);
			ept_env_free_data(&r->ept, g, to, level);
			(*(err == -EAGAIN ? &r->move_again : &r->move_busy))++;
		} else {
			/* RELAXED: counters the main thread polls to end the phase. */
			__atomic_fetch_add(level == 2 ? &r->moved_2m : &r->moved_4k, 1,
			                   __ATOMIC_RELAXED);
		}
	}
	return NULL;
}

/* Copy gfn's slots to the destination, reading through the current mapping. */
static void copy_page(struct race *r, gfn_t g)
{
	u32 token = ept_walk_begin(&r->ept); /* the frame is not freed while we read it */
	int level;
	u64 leaf = ept_lookup(&r->ept, g, &level);
	u64 *src = host_data_va(hw_frame(leaf, level, g));

	assert_true(ept_leaf(leaf, level));
	for (int v = 0; v < NVCPU; v++)
		r->dest[g][v] = __atomic_load_n(&src[v], __ATOMIC_RELAXED);
	ept_walk_end(&r->ept, token);
}

static void harvest(struct race *r)
{
	r->dirty += ept_dirty_log_get_and_clear(&r->ept, &r->log, r->out);
	for (gfn_t g = 0; g < PAGES; g++)
		if (r->out[g / 64] & BIT(g % 64))
			copy_page(r, g);
}

/* Pause the vCPUs, harvest once more, and compare the destination with what was written. */
static void checkpoint(struct race *r)
{
	__atomic_store_n(&r->pause, 1, __ATOMIC_RELEASE);
	while (__atomic_load_n(&r->paused, __ATOMIC_ACQUIRE) < NVCPU &&
	       !__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE))
		cpu_relax();
	harvest(r);
	for (gfn_t g = 0; g < PAGES; g++)
		for (int v = 0; v < NVCPU; v++)
			if (r->dest[g][v] != r->last[v][g])
				fail_msg("lost dirty page %#llx: vCPU %d wrote %llu, the copy has "
				         "%llu",
				         (unsigned long long)g, v,
				         (unsigned long long)r->last[v][g],
				         (unsigned long long)r->dest[g][v]);
	r->checks++;
	__atomic_store_n(&r->pause, 0, __ATOMIC_RELEASE);
}

/* Blocks: even ones one contiguous 2M run, odd ones 512 scattered frames; 4K leaves. */
static void map_guest(struct race *r)
{
	for (int b = 0; b < BLOCKS; b++) {
		hfn_t run = b % 2 ? 0 : host_data_alloc(2);

		for (int i = 0; i < 512; i++) {
			hfn_t f = b % 2 ? host_data_alloc(1) : run + i;

			assert_int_equal(ept_map(&r->ept, b * 512 + i, f, 1, 1, PROT), 0);
		}
	}
}

/* Collapse what can be collapsed in place, then give every leaf's frames back. */
static void unmap_guest(struct race *r)
{
	for (int b = 0; b < BLOCKS; b++)
		ept_collapse(&r->ept, b * 512, 2, EPT_COLLAPSE_IN_PLACE);
	for (gfn_t g = 0; g < PAGES;) {
		int level;
		u64 leaf = ept_lookup(&r->ept, g, &level);

		ept_env_free_data(&r->ept, g, ept_hfn(leaf), level);
		g += ept_level_pages(level);
	}
	assert_int_equal(ept_unmap(&r->ept, 0, PAGES), 0);
}

#define MIN_MOVES_4K 50
#define MIN_MOVES_2M 10

static bool moved_enough(struct race *r)
{
	return __atomic_load_n(&r->moved_4k, __ATOMIC_RELAXED) >= MIN_MOVES_4K &&
	       __atomic_load_n(&r->moved_2m, __ATOMIC_RELAXED) >= MIN_MOVES_2M;
}

static void run_phase(enum ept_dirty_mode mode, bool force_slow, bool migrate, const char *name)
{
	struct race *r = calloc(1, sizeof(*r));
	struct vcpu_arg args[NVCPU];
	pthread_t vcpus[NVCPU], splitter, migrator;
	long data_before = host_env_data_live();
	int round;

	host_env_reset();
	assert_int_equal(ept_init(&r->ept), 0);
	r->ept.force_slow = force_slow;
	map_guest(r);
	r->log = (struct ept_dirty_log){
		.gfn = 0, .npages = PAGES, .bitmap = r->bitmap, .mode = mode
	};
	host_env_set_vcpus(r->hw, NVCPU);
	for (int i = 0; i < NVCPU; i++) {
		args[i] = (struct vcpu_arg){ r, i, 0x9e3779b97f4a7c15ULL * (i + 1) };
		assert_int_equal(pthread_create(&vcpus[i], NULL, vcpu_thread, &args[i]), 0);
	}
	r->migrating = migrate;
	assert_int_equal(pthread_create(&splitter, NULL, splitter_thread, r), 0);
	if (migrate)
		assert_int_equal(pthread_create(&migrator, NULL, migrator_thread, r), 0);
	assert_int_equal(ept_dirty_log_enable(&r->ept, &r->log), 0);
	for (gfn_t g = 0; g < PAGES; g++) /* the first full copy */
		copy_page(r, g);
	/* With a migrator, go on until it has moved enough of both sizes (bounded). */
	for (round = 1; round <= ROUNDS || (migrate && round < 20 * ROUNDS && !moved_enough(r));
	     round++) {
		harvest(r);
		if (round % CHECK_EVERY == 0)
			checkpoint(r);
	}
	__atomic_store_n(&r->stop, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < NVCPU; i++)
		pthread_join(vcpus[i], NULL);
	pthread_join(splitter, NULL);
	if (migrate)
		pthread_join(migrator, NULL);
	checkpoint(r); /* the last round, with every vCPU stopped */
	printf("%s: %d rounds, %llu checkpoints, 0 lost; %llu dirty pages; faults fast %llu "
	       "slow %llu spurious %llu; %llu splits, %llu collapses; %llu flushes\n",
	       name, round - 1, (unsigned long long)r->checks, (unsigned long long)r->dirty,
	       (unsigned long long)r->faults[EPT_FAULT_FIXED_FAST],
	       (unsigned long long)r->faults[EPT_FAULT_FIXED_SLOW],
	       (unsigned long long)r->faults[EPT_FAULT_SPURIOUS], (unsigned long long)r->splits,
	       (unsigned long long)r->collapses, (unsigned long long)r->ept.stats.flushes);
	if (migrate)
		printf("  moved %llu 4K pages and %llu 2M leaves whole; %llu moves found their "
		       "leaf "
		       "changed when they retook the lock (-EAGAIN), %llu found it split or busy "
		       "(-EBUSY); %llu write faults waited for a move (BUSY)\n",
		       (unsigned long long)r->moved_4k, (unsigned long long)r->moved_2m,
		       (unsigned long long)r->move_again, (unsigned long long)r->move_busy,
		       (unsigned long long)r->faults[EPT_FAULT_BUSY]);
	fflush(stdout);
	/* BUSY: a write to a page being moved waits (only with a migrator). */
	assert_int_equal(r->faults[EPT_FAULT_NOT_PRESENT] + r->faults[EPT_FAULT_VIOLATION] +
	                         (migrate ? 0 : r->faults[EPT_FAULT_BUSY]),
	                 0);
	if (migrate)
		assert_true(r->moved_4k > 0 && r->moved_2m > 0);
	if (mode == EPT_DIRTY_WP)
		assert_true(r->faults[force_slow ? EPT_FAULT_FIXED_SLOW : EPT_FAULT_FIXED_FAST] >
		            0);
	ept_dirty_log_disable(&r->ept, &r->log);
	host_env_set_vcpus(NULL, 0);
	unmap_guest(r);
	ept_destroy(&r->ept);
	assert_int_equal(host_env_tables_live(), 0);
	assert_int_equal(host_env_data_live(), data_before);
	free(r);
}

/* ---- grace periods: no lockless walker ever reads a freed table ---------------------------- */

#define POISON        0xa5a5a5a5a5a5a5a5ULL /* what ept_env_free_table writes over a page */
#define GRACE_BLOCKS  4
#define GRACE_CYCLES  100
#define GRACE_READERS 3  /* two online vCPU threads, one host task */
#define GRACE_PASSES  32 /* reads of the whole leaf table per walk: a long stay inside */

struct grace {
	struct ept ept;
	struct host_vcpu hw[GRACE_READERS];
	u32 stop;
	u64 walks[GRACE_READERS], poisoned;
};

struct grace_arg {
	struct grace *gr;
	int id;
};

/* Walk to gfn's leaf table with plain atomic loads, as a lockless walker does, and read all
 * of it GRACE_PASSES times (a long stay in a table a collapse may be unlinking); a poisoned
 * entry means the table was freed while we were inside it. */
static void grace_walk(struct grace *gr, gfn_t g)
{
	u64 *t = ept_env_va(gr->ept.root);

	for (int level = EPT_LEVELS; level >= 1; level--) {
		u64 x = __atomic_load_n(&t[ept_index(g, level)], __ATOMIC_ACQUIRE);

		if (x == POISON)
			__atomic_fetch_add(&gr->poisoned, 1, __ATOMIC_RELAXED);
		if (!ept_table(x, level))
			break;
		t = ept_env_va(ept_child(x));
	}
	for (int pass = 0; pass < GRACE_PASSES; pass++)
		for (int i = 0; i < EPT_ENTRIES; i++)
			if (__atomic_load_n(&t[i], __ATOMIC_RELAXED) == POISON)
				__atomic_fetch_add(&gr->poisoned, 1, __ATOMIC_RELAXED);
}

/* Readers 0 and 1 play vCPUs: online, walking without brackets, a quiescent state (a
 * simulated VM entry and exit) after every walk. Reader 2 is a host task: offline, each walk
 * in an ept_walk_begin/end bracket. */
static void *grace_reader(void *p)
{
	struct grace_arg *a = p;
	struct grace *gr = a->gr;
	bool vcpu = a->id < 2;
	u64 rng = 0x2545f4914f6cdd1dULL * (a->id + 1);

	if (vcpu)
		ept_cpu_online();
	while (!__atomic_load_n(&gr->stop, __ATOMIC_ACQUIRE)) {
		gfn_t g = rnd(&rng) % (GRACE_BLOCKS * 512);
		u32 token = vcpu ? 0 : ept_walk_begin(&gr->ept);

		grace_walk(gr, g);
		ept_lookup(&gr->ept, g, NULL);
		if (vcpu) {
			host_vcpu_enter(&gr->hw[a->id]);
			host_vcpu_exit(&gr->hw[a->id]);
		} else {
			ept_walk_end(&gr->ept, token);
		}
		gr->walks[a->id]++;
	}
	if (vcpu)
		ept_cpu_offline();
	return NULL;
}

/* Split 2M leaves to 4K and collapse them back in place, over and over: every collapse
 * unlinks a leaf table and frees it after a grace period (poisoned), while the readers walk
 * into those tables. A missing or short grace period shows up as a poisoned read here, as a
 * heap-use-after-free under AddressSanitizer, and as a race with free() under TSan. */
static void test_race_grace_period(void **state)
{
	struct grace *gr = calloc(1, sizeof(*gr));
	struct grace_arg args[GRACE_READERS];
	pthread_t t[GRACE_READERS];
	u64 collapses = 0;

	(void)state;
	host_env_reset();
	assert_int_equal(ept_init(&gr->ept), 0);
	assert_int_equal(ept_map(&gr->ept, 0, HOST_FAKE_HFN, GRACE_BLOCKS * 512, 2, PROT), 0);
	host_env_set_vcpus(gr->hw, GRACE_READERS);
	for (int i = 0; i < GRACE_READERS; i++) {
		args[i] = (struct grace_arg){ gr, i };
		assert_int_equal(pthread_create(&t[i], NULL, grace_reader, &args[i]), 0);
	}
	for (int c = 0; c < GRACE_CYCLES; c++)
		for (gfn_t b = 0; b < GRACE_BLOCKS * 512; b += 512) {
			assert_int_equal(ept_split(&gr->ept, b, 512, 1), 0);
			/* Leave the leaf table linked a while: readers walk into it. */
			for (int i = 0; i < 2000; i++)
				ept_lookup(&gr->ept, b + i % 512, NULL);
			assert_int_equal(ept_collapse(&gr->ept, b, 2, EPT_COLLAPSE_IN_PLACE), 0);
			collapses++;
		}
	__atomic_store_n(&gr->stop, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < GRACE_READERS; i++)
		pthread_join(t[i], NULL);
	printf("grace periods: %llu collapses; walks %llu %llu (vCPUs) %llu (host); %llu poisoned "
	       "reads\n",
	       (unsigned long long)collapses, (unsigned long long)gr->walks[0],
	       (unsigned long long)gr->walks[1], (unsigned long long)gr->walks[2],
	       (unsigned long long)gr->poisoned);
	fflush(stdout);
	assert_int_equal(gr->poisoned, 0);
	for (int i = 0; i < GRACE_READERS; i++)
		assert_true(gr->walks[i] > 0);
	host_env_set_vcpus(NULL, 0);
	assert_int_equal(ept_unmap(&gr->ept, 0, GRACE_BLOCKS * 512), 0);
	ept_destroy(&gr->ept);
	assert_int_equal(host_env_tables_live(), 0);
	free(gr);
}

/* ---- parallel faults: populates under the shared lock beside scans and unmaps ---------------- */

#define PAR_VCPUS   3
#define PAR_REGIONS 4 /* 2M blocks, each in a 1G region of its own: tables at every level */
#define PAR_PAGES   (PAR_REGIONS * 512)
#define PAR_HOT     64 /* vCPUs touch a 64-page window of each block: they race for pages */
#define PAR_UNMAPS  300
#define PAR_HFN     0x40000000ULL

struct par {
	struct ept ept;
	struct host_vcpu hw[PAR_VCPUS];
	struct ept_tracker t;
	u64 young[PAR_REGIONS * 512 * 512 / 64], idle[PAR_REGIONS * 512 * 512 / 64];
	u32 stop;
	u64 maps[PAR_VCPUS], exists[PAR_VCPUS], wrong, scans;
};

struct par_arg {
	struct par *p;
	int id;
};

static gfn_t par_gfn(u64 i)
{
	return (i / 512) * ept_level_pages(3) + i % 512;
}

/* A page of the hot window of a random block. */
static gfn_t par_hot(u64 *rng)
{
	u64 r = rnd(rng);

	return par_gfn((r % PAR_REGIONS) * 512 + (r >> 32) % PAR_HOT);
}

/* vCPUs: online, a quiescent state after each access, as in the kernel. Each picks a page:
 * mapped -> it must map its own frame; a hole -> populate it (ept_map_page), racing the
 * other vCPUs for the same page and for the tables above it. */
static void *par_vcpu(void *v)
{
	struct par_arg *a = v;
	struct par *p = a->p;
	u64 rng = 0x9e3779b97f4a7c15ULL * (a->id + 3);

	ept_cpu_online();
	while (!__atomic_load_n(&p->stop, __ATOMIC_ACQUIRE)) {
		gfn_t g = par_hot(&rng);
		u64 e = ept_lookup(&p->ept, g, NULL);
		int r;

		if (e && ept_hfn(e) != PAR_HFN + g)
			__atomic_fetch_add(&p->wrong, 1, __ATOMIC_RELAXED);
		if (!e) {
			r = ept_map_page(&p->ept, g, PAR_HFN + g, PROT);
			if (r == 0)
				p->maps[a->id]++;
			else if (r == -EEXIST)
				p->exists[a->id]++;
			else
				__atomic_fetch_add(&p->wrong, 1, __ATOMIC_RELAXED);
		}
		host_vcpu_enter(&p->hw[a->id]);
		host_vcpu_exit(&p->hw[a->id]);
	}
	ept_cpu_offline();
	return NULL;
}

/* A host task scanning the whole range with clear, over and over (shared lock, chunks):
 * every page is counted in exactly one state. */
static void *par_scanner(void *v)
{
	struct par *p = v;
	struct ept_scan out = { .idle = p->idle };

	while (!__atomic_load_n(&p->stop, __ATOMIC_ACQUIRE)) {
		if (ept_scan(&p->ept, &p->t, &out, true) ||
		    out.pages[0] + out.pages[1] + out.pages[2] != p->t.npages)
			__atomic_fetch_add(&p->wrong, 1, __ATOMIC_RELAXED);
		p->scans++;
	}
	return NULL;
}

/* Populates of different pages run in parallel under the shared lock, installing tables
 * with a cmpxchg, while a scanner holds the same lock shared and the main thread unmaps
 * whole 2M blocks under the exclusive lock (unlinking the leaf tables the vCPUs fill). At
 * the end every mapped page maps its own frame, the statistics match the tree and no
 * table is leaked: a table installed twice, a lost cmpxchg or a populate slipping into an
 * unlinked table shows up here (and as a race under TSan). */
static void test_race_parallel_populate(void **state)
{
	struct par *p = calloc(1, sizeof(*p));
	struct par_arg args[PAR_VCPUS];
	pthread_t t[PAR_VCPUS], scanner;
	u64 rng = 42, mapped = 0, maps = 0, exists = 0;

	(void)state;
	host_env_reset();
	assert_int_equal(ept_init(&p->ept), 0);
	p->t = (struct ept_tracker){ .gfn = 0,
		                     .npages = PAR_REGIONS * ept_level_pages(3),
		                     .young = p->young };
	assert_int_equal(ept_tracker_add(&p->ept, &p->t), 0);
	host_env_set_vcpus(p->hw, PAR_VCPUS);
	for (int i = 0; i < PAR_VCPUS; i++) {
		args[i] = (struct par_arg){ p, i };
		assert_int_equal(pthread_create(&t[i], NULL, par_vcpu, &args[i]), 0);
	}
	assert_int_equal(pthread_create(&scanner, NULL, par_scanner, p), 0);
	for (int u = 0; u < PAR_UNMAPS; u++) {
		for (int i = 0; i < 2000; i++)
			ept_lookup(&p->ept, par_gfn(rnd(&rng) % PAR_PAGES), NULL);
		assert_int_equal(ept_unmap(&p->ept, par_gfn((rnd(&rng) % PAR_REGIONS) * 512), 512),
		                 0);
	}
	__atomic_store_n(&p->stop, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < PAR_VCPUS; i++)
		pthread_join(t[i], NULL);
	pthread_join(scanner, NULL);
	host_env_set_vcpus(NULL, 0);
	for (u64 i = 0; i < PAR_PAGES; i++) {
		u64 e = ept_lookup(&p->ept, par_gfn(i), NULL);

		mapped += e != 0;
		assert_true(!e || ept_hfn(e) == PAR_HFN + par_gfn(i));
	}
	for (int i = 0; i < PAR_VCPUS; i++) {
		maps += p->maps[i];
		exists += p->exists[i];
	}
	printf("parallel populate: %llu maps, %llu lost races (-EEXIST), %llu scans, %d unmaps; "
	       "%llu pages mapped at the end; %llu yields\n",
	       (unsigned long long)maps, (unsigned long long)exists, (unsigned long long)p->scans,
	       PAR_UNMAPS, (unsigned long long)mapped, (unsigned long long)p->ept.stats.yields);
	fflush(stdout);
	assert_int_equal(p->wrong, 0);
	assert_true(maps > PAR_PAGES && p->scans > 0);
	assert_int_equal(p->ept.stats.leaves[1], mapped);
	assert_int_equal((long)p->ept.stats.tables, host_env_tables_live());
	ept_tracker_del(&p->ept, &p->t);
	assert_int_equal(ept_unmap(&p->ept, 0, PAR_REGIONS * ept_level_pages(3)), 0);
	ept_destroy(&p->ept);
	assert_int_equal(host_env_tables_live(), 0);
	free(p);
}

/* ---- collapse in place racing the fast path and lookups ---------------------------------- */

#define C1G_PAGES  (1ULL << 18) /* 1 GiB of fake frames: no data behind them */
#define C1G_CYCLES 12
#define C1G_VCPUS  2

struct c1g {
	struct ept ept;
	struct ept_dirty_log log;
	u64 bitmap[C1G_PAGES / 64], out[C1G_PAGES / 64];
	u64 written[C1G_PAGES / 64], logged[C1G_PAGES / 64];
	struct host_vcpu hw[C1G_VCPUS];
	u32 stop;
	u64 writes, lookups;
};

struct c1g_arg {
	struct c1g *c;
	int id;
};

/* A vCPU writing random pages: a write exits (W clear) to the fault handler, whose fast path
 * restores W; every page it wrote is noted in `written` after the simulated write. */
static void *c1g_vcpu(void *p)
{
	struct c1g_arg *a = p;
	struct c1g *c = a->c;
	u64 rng = 0x9e3779b97f4a7c15ULL * (a->id + 3);

	ept_cpu_online();
	while (!__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE)) {
		gfn_t g = rnd(&rng) % C1G_PAGES;
		u64 leaf;
		int level;
		bool ok;

		for (;;) {
			host_vcpu_enter(&c->hw[a->id]);
			ok = hw_access(&c->ept, g, true, &leaf, &level);
			host_vcpu_exit(&c->hw[a->id]);
			if (ok)
				break;
			int f = ept_handle_fault(&c->ept, g, EPT_W);

			assert_true(f >= 0 && f <= EPT_FAULT_FIXED_SLOW);
		}
		/* In place: whatever leaf the write went through maps the same frame. */
		assert_int_equal(hw_frame(leaf, level, g), HOST_FAKE_HFN + g);
		__atomic_fetch_or(&c->written[g / 64], BIT(g % 64), __ATOMIC_RELAXED);
		__atomic_fetch_add(&c->writes, 1, __ATOMIC_RELAXED);
	}
	ept_cpu_offline();
	return NULL;
}

/* A host task looking pages up without the lock: the frame never changes. */
static void *c1g_lookup(void *p)
{
	struct c1g *c = p;
	u64 rng = 12345;

	while (!__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE)) {
		gfn_t g = rnd(&rng) % C1G_PAGES;
		int level;
		u64 leaf = ept_lookup(&c->ept, g, &level);

		assert_true(ept_leaf(leaf, level));
		assert_int_equal(hw_frame(leaf, level, g), HOST_FAKE_HFN + g);
		c->lookups++;
	}
	return NULL;
}

static void c1g_harvest(struct c1g *c)
{
	ept_dirty_log_get_and_clear(&c->ept, &c->log, c->out);
	for (u64 w = 0; w < C1G_PAGES / 64; w++)
		c->logged[w] |= c->out[w];
}

/* 1 GiB of 4K leaves collapsed in place to one 1G leaf and split back, over and over, while
 * two vCPUs write (fast-path faults, A/D set by the simulated CPU) and a host task looks
 * pages up: translations never change, and every page written is logged dirty (no W, D or
 * PML record is lost when the old children are unlinked without being frozen). */
static void race_collapse_1g(enum ept_dirty_mode mode)
{
	struct c1g *c = calloc(1, sizeof(*c));
	struct c1g_arg args[C1G_VCPUS];
	pthread_t t[C1G_VCPUS + 1];
	u64 flushes;

	host_env_reset();
	assert_int_equal(ept_init(&c->ept), 0);
	assert_int_equal(ept_map(&c->ept, 0, HOST_FAKE_HFN, C1G_PAGES, 1, PROT), 0);
	c->log = (struct ept_dirty_log){
		.gfn = 0, .npages = C1G_PAGES, .bitmap = c->bitmap, .mode = mode
	};
	assert_int_equal(ept_dirty_log_enable(&c->ept, &c->log), 0);
	host_env_set_vcpus(c->hw, C1G_VCPUS);
	for (int i = 0; i < C1G_VCPUS; i++) {
		args[i] = (struct c1g_arg){ c, i };
		assert_int_equal(pthread_create(&t[i], NULL, c1g_vcpu, &args[i]), 0);
	}
	assert_int_equal(pthread_create(&t[C1G_VCPUS], NULL, c1g_lookup, c), 0);
	for (int cycle = 0; cycle < C1G_CYCLES; cycle++) {
		flushes = c->ept.stats.flushes;
		assert_int_equal(ept_collapse(&c->ept, 0, 3, EPT_COLLAPSE_IN_PLACE), 0);
		assert_int_equal(c->ept.stats.flushes, flushes + 1);
		c1g_harvest(c);
		assert_int_equal(ept_split(&c->ept, 0, C1G_PAGES, 1), 0);
		c1g_harvest(c);
	}
	__atomic_store_n(&c->stop, 1, __ATOMIC_RELEASE);
	for (int i = 0; i <= C1G_VCPUS; i++)
		pthread_join(t[i], NULL);
	c1g_harvest(c);
	for (u64 w = 0; w < C1G_PAGES / 64; w++)
		assert_int_equal(c->written[w] & ~c->logged[w], 0);
	printf("collapse 1G in place: %d cycles, %llu writes, %llu lookups, none lost\n",
	       C1G_CYCLES, (unsigned long long)(c->writes), (unsigned long long)c->lookups);
	fflush(stdout);
	host_env_set_vcpus(NULL, 0);
	ept_dirty_log_disable(&c->ept, &c->log);
	ept_destroy(&c->ept);
	assert_int_equal(host_env_tables_live(), 0);
	free(c);
}

static void test_race_collapse_1g_wp(void **state)
{
	(void)state;
	race_collapse_1g(EPT_DIRTY_WP);
}

static void test_race_collapse_1g_dbit(void **state)
{
	(void)state;
	race_collapse_1g(EPT_DIRTY_DBIT);
}

/* ---- a frame a VMCS names, moved while vCPUs use it ----------------------------------------- */

/*
 * The APIC-access page protocol of vmx/vmcs_pages.c, with its VMCS field played by a variable
 * per vCPU thread: a move (ept_migrate_named) makes the leaf absent, and in its reload step
 * asks every vCPU to reload and waits for those in guest mode to have done so or left; a vCPU
 * thread acts on the request after publishing in_guest (host_vcpu_enter) and before its
 * access (the kernel's vCPU looks only when the flush generation moved, which a request
 * bumps after setting the bit; here it looks every time). Every access that gets through the EPT
 * must find the frame its "VMCS" names (the CPU would otherwise treat the new frame as plain
 * memory), and after a move returns and every vCPU acknowledged, no "VMCS" names the old frame,
 * which is then freed with poison.
 */
#define NAMED_VCPUS 3
#define NAMED_MOVES 300
#define NAMED_GFN   0xfee00

struct named {
	struct ept ept;
	struct host_vcpu hw[NAMED_VCPUS];
	hfn_t vmcs[NAMED_VCPUS];   /* what each vCPU's "VMCS" names */
	u32 request[NAMED_VCPUS];  /* the reload request bit */
	hfn_t current;             /* the frame the slot names (what a reload loads) */
	u64 accesses[NAMED_VCPUS]; /* that got through the EPT */
	u64 mismatches, poisoned, stop;
};

struct named_arg {
	struct named *n;
	int id;
};

struct named_move {
	struct named *n;
	hfn_t to;
};

/* After host_vcpu_enter (in_guest published, SEQ_CST): take the request, as vcpu_take_requests. */
static void named_take_request(struct named *n, int id)
{
	if (!__atomic_load_n(&n->request[id], __ATOMIC_SEQ_CST))
		return;
	__atomic_store_n(&n->vmcs[id], __atomic_load_n(&n->current, __ATOMIC_ACQUIRE),
	                 __ATOMIC_RELEASE);
	__atomic_store_n(&n->request[id], 0, __ATOMIC_RELEASE);
}

static void *named_vcpu(void *p)
{
	struct named_arg *a = p;
	struct named *n = a->n;
	u64 rng = 0x9e3779b97f4a7c15ULL * (u64)(a->id + 1);

	ept_cpu_online();
	while (!__atomic_load_n(&n->stop, __ATOMIC_ACQUIRE)) {
		u64 leaf;
		int level;
		bool ok = false;

		host_vcpu_enter(&n->hw[a->id]);
		named_take_request(n, a->id);
		/* Guest work before the APIC access (a guest runs a while after its entry). */
		for (u64 k = rnd(&rng) % 4096; k; k--)
			cpu_relax();
		/* A stay in guest mode of several accesses. */
		for (int k = 0;
		     k < 16 && (ok = hw_access(&n->ept, NAMED_GFN, false, &leaf, &level)); k++) {
			hfn_t mine = __atomic_load_n(&n->vmcs[a->id], __ATOMIC_RELAXED);

			n->accesses[a->id]++;
			if (ept_hfn(leaf) != mine)
				__atomic_fetch_add(&n->mismatches, 1, __ATOMIC_RELAXED);
			else if (__atomic_load_n((u64 *)host_data_va(mine), __ATOMIC_RELAXED) != 0)
				__atomic_fetch_add(&n->poisoned, 1, __ATOMIC_RELAXED);
		}
		host_vcpu_exit(&n->hw[a->id]);
		/* A failed access retries at once, as a guest that keeps exiting on it would, and
		 * now and then through the fault path, which waits for the move's lock: vCPUs keep
		 * entering during the whole move, some before its request. */
		if (!ok && (rnd(&rng) & 7) == 0)
			(void)ept_handle_fault(&n->ept, NAMED_GFN, EPT_R);
	}
	ept_cpu_offline();
	return NULL;
}

static void named_reload(void *arg)
{
	struct named_move *m = arg;
	struct named *n = m->n;

	__atomic_store_n(&n->current, m->to, __ATOMIC_RELEASE);
	for (int i = 0; i < NAMED_VCPUS; i++)
		__atomic_store_n(&n->request[i], 1, __ATOMIC_SEQ_CST);
	for (int i = 0; i < NAMED_VCPUS; i++)
		while (__atomic_load_n(&n->request[i], __ATOMIC_SEQ_CST) &&
		       __atomic_load_n(&n->hw[i].in_guest, __ATOMIC_SEQ_CST))
			cpu_relax();
}

static void test_race_vmcs_named_page(void **state)
{
	struct named *n = calloc(1, sizeof(*n));
	struct named_arg args[NAMED_VCPUS];
	pthread_t t[NAMED_VCPUS];
	hfn_t a = host_data_alloc(1);

	(void)state;
	host_env_reset();
	assert_int_equal(ept_init(&n->ept), 0);
	memset(host_data_va(a), 0, PAGE_SIZE);
	n->current = a;
	for (int i = 0; i < NAMED_VCPUS; i++)
		n->vmcs[i] = a;
	assert_int_equal(ept_map(&n->ept, NAMED_GFN, a, 1, 1, PROT | EPT_VMCS_NAMED), 0);
	host_env_set_vcpus(n->hw, NAMED_VCPUS);
	for (int i = 0; i < NAMED_VCPUS; i++) {
		args[i] = (struct named_arg){ n, i };
		assert_int_equal(pthread_create(&t[i], NULL, named_vcpu, &args[i]), 0);
	}
	for (int m = 0; m < NAMED_MOVES; m++) {
		hfn_t to = host_data_alloc(1), old = 0;
		struct named_move move = { n, to };

		assert_int_equal(ept_migrate_page(&n->ept, NAMED_GFN, to), -EPERM);
		assert_int_equal(
			ept_migrate_named(&n->ept, NAMED_GFN, to, named_reload, &move, &old), 0);
		for (int i = 0; i < NAMED_VCPUS; i++) /* every vCPU acknowledged */
			while (__atomic_load_n(&n->request[i], __ATOMIC_ACQUIRE))
				cpu_relax();
		for (int i = 0; i < NAMED_VCPUS; i++)
			assert_true(__atomic_load_n(&n->vmcs[i], __ATOMIC_ACQUIRE) != old);
		/* Poisoned, then freed: an access that still reached it would count. */
		__atomic_store_n((u64 *)host_data_va(old), 0xdeadULL, __ATOMIC_RELAXED);
		ept_env_free_data(&n->ept, NAMED_GFN, old, 1);
	}
	__atomic_store_n(&n->stop, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < NAMED_VCPUS; i++)
		pthread_join(t[i], NULL);
	printf("vmcs-named page: %d moves; accesses %llu %llu %llu; %llu mismatched, %llu "
	       "poisoned\n",
	       NAMED_MOVES, (unsigned long long)n->accesses[0], (unsigned long long)n->accesses[1],
	       (unsigned long long)n->accesses[2], (unsigned long long)n->mismatches,
	       (unsigned long long)n->poisoned);
	fflush(stdout);
	assert_int_equal(n->mismatches, 0);
	assert_int_equal(n->poisoned, 0);
	host_env_set_vcpus(NULL, 0);
	ept_env_free_data(&n->ept, NAMED_GFN, ept_hfn(ept_lookup(&n->ept, NAMED_GFN, NULL)), 1);
	assert_int_equal(ept_unmap(&n->ept, NAMED_GFN, 1), 0);
	ept_destroy(&n->ept);
	assert_int_equal(host_env_tables_live(), 0);
	free(n);
}

static void test_race_write_protect(void **state)
{
	(void)state;
	run_phase(EPT_DIRTY_WP, false, false, "write-protect, fast path");
}

static void test_race_migrate_write_protect(void **state)
{
	(void)state;
	run_phase(EPT_DIRTY_WP, false, true, "write-protect, fast path, with migration");
}

static void test_race_migrate_dbit(void **state)
{
	(void)state;
	run_phase(EPT_DIRTY_DBIT, false, true, "D-bit, with migration");
}

static void test_race_write_protect_slow(void **state)
{
	(void)state;
	run_phase(EPT_DIRTY_WP, true, false, "write-protect, slow path forced");
}

static void test_race_dbit(void **state)
{
	(void)state;
	run_phase(EPT_DIRTY_DBIT, false, false, "D-bit");
}

static void test_race_pml(void **state)
{
	(void)state;
	run_phase(EPT_DIRTY_PML, false, false, "PML");
}

/* The migration phases run as their own binary (tests/unit/ept_migrate_race.mk builds this
 * file with -DRACE_MIGRATION), so that each binary, and its ThreadSanitizer build, stays
 * within the harness's time. */
#ifdef RACE_MIGRATION
#define MIGRATION_BINARY 1
#else
#define MIGRATION_BINARY 0
#endif

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_race_write_protect),
		cmocka_unit_test(test_race_write_protect_slow),
		cmocka_unit_test(test_race_dbit),
		cmocka_unit_test(test_race_pml),
		cmocka_unit_test(test_race_grace_period),
		cmocka_unit_test(test_race_parallel_populate),
		cmocka_unit_test(test_race_collapse_1g_wp),
		cmocka_unit_test(test_race_collapse_1g_dbit),
		cmocka_unit_test(test_race_vmcs_named_page),
	};
	const struct CMUnitTest migration[] = {
		cmocka_unit_test(test_race_migrate_write_protect),
		cmocka_unit_test(test_race_migrate_dbit),
	};

	if (MIGRATION_BINARY)
		return cmocka_run_group_tests(migration, NULL, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
