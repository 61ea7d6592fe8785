/* The in-guest test programs of guests/testguest, by number (passed to the guest in RDI). */
#ifndef EPTVISOR_GUEST_TESTS_H
#define EPTVISOR_GUEST_TESTS_H

#define GT_HELLO          1
#define GT_POPULATE       2
#define GT_MAP_2M         3
#define GT_MAP_1G         4
#define GT_OUTSIDE        5
#define GT_TRIPLE_FAULT   6
#define GT_RUNAWAY        7
#define GT_BAD_HYPERCALLS 8
#define GT_TWO_VCPUS      9
#define GT_DEMO           10
#define GT_DIRTY_WRITER   11
#define GT_SPLIT_VERIFIER 12
#define GT_IDLE_HOT_COLD  13
#define GT_IDLE_TOUCHER   14
#define GT_HOSTILE_MM     15
#define GT_BENCH          16 /* fault-latency benchmark (guests/bench.c, include/bench.h) */
#define GT_BENCH_PML      17 /* the same, pml_write only (a VM with PML on) */
#define GT_COMPACT_WRITER 18 /* writes and verifies its memory while the host compacts it */
#define GT_STORE_WALKER   19 /* checks and rewrites a store slot while pages are evicted */
#define GT_STORE_HOT_COLD 20 /* a hot set and rare cold touches over a store slot (reclaim) */
#define GT_COUNT          21

/* Guest-physical places the scenarios set up for the tests. */
#define GT_POPULATE_GPA   0x400000ULL /* 4 MiB..12 MiB: populated on first touch */
#define GT_POPULATE_BYTES 0x800000ULL
#define GT_SLOT_2M_GPA    0x4000000ULL  /* 64 MiB: a 2 MiB slot mapped by one 2M leaf */
#define GT_SLOT_1G_GPA    0x40000000ULL /* 1 GiB: a 1 GiB slot mapped by one 1G leaf */
#define GT_OUTSIDE_GPA    0xc0000000ULL /* 3 GiB: in no memslot */
#define GT_SHARED_GPA     0x300000ULL   /* a page both vCPUs of two_vcpus use */
#define GT_CTRL_GPA       0x200000ULL   /* struct guest_ctrl: the host task talks to the guest */
#define GT_DIRTY_GPA      0x800000ULL   /* 8 MiB: the dirty-logged region */
#define GT_DIRTY_PAGES    1024
#define GT_SPLIT_GPA      0x4000000ULL /* 64 MiB: a 4 MiB slot of two 2M leaves, split live */
#define GT_SPLIT_BYTES    0x400000ULL
#define GT_COMPACT_GPA    0x8000000ULL /* 128 MiB: a slot of 2M runs, compacted live */
#define GT_COMPACT_BYTES  0x1000000ULL /* 16 MiB: first half 4K leaves (WP log), second 2M */
#define GT_STORE_GPA      0xa000000ULL /* 160 MiB: a slot backed by a slow store */
#define GT_STORE_PAGES    64           /* its pages */
#define GT_RECLAIM_HOT    6            /* GT_STORE_HOT_COLD: store pages 0..5 touched always */
#define GT_IDLE_GPA       0x800000ULL  /* 8 MiB: the idle-tracking region */
#define GT_IDLE_HOT       64           /* pages 0..63 hot */
#define GT_IDLE_COLD      128          /* pages 64..191 cold */
#define GT_IDLE_PAGES     256          /* pages 192..255 never touched: holes */

/* Word w of page p of the store slot at version ver (0: the store's initial contents). */
static inline unsigned long long gt_store_pattern(unsigned long long p, unsigned long long w,
                                                  unsigned long long ver)
{
	return 0x5709e00000000000ULL ^ (p << 40) ^ (ver << 12) ^ w;
}

/* The page a host task and its guest share (at GT_CTRL_GPA). */
struct guest_ctrl {
	volatile unsigned long long go, stop, round;
	volatile unsigned long long span; /* dirty writer: pages it writes (0 = GT_DIRTY_PAGES) */
	volatile unsigned long long writes[8]; /* per vCPU */
	volatile unsigned long long errors[8]; /* per vCPU: pattern mismatches seen */
	volatile unsigned long long passes[8]; /* per vCPU: verification passes done */
};

#endif
