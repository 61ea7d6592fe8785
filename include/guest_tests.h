/* The in-guest test programs of guests/testguest, by number (passed to the guest in RDI). */
#ifndef EPTVISOR_GUEST_TESTS_H
#define EPTVISOR_GUEST_TESTS_H

#define GT_HELLO 1
#define GT_POPULATE 2
#define GT_MAP_2M 3
#define GT_MAP_1G 4
#define GT_OUTSIDE 5
#define GT_TRIPLE_FAULT 6
#define GT_RUNAWAY 7
#define GT_BAD_HYPERCALLS 8
#define GT_TWO_VCPUS 9
#define GT_DEMO 10
#define GT_COUNT 11

/* Guest-physical places the scenarios set up for the tests. */
#define GT_POPULATE_GPA 0x400000ULL   /* 4 MiB..12 MiB: populated on first touch */
#define GT_POPULATE_BYTES 0x800000ULL
#define GT_SLOT_2M_GPA 0x4000000ULL   /* 64 MiB: a 2 MiB slot mapped by one 2M leaf */
#define GT_SLOT_1G_GPA 0x40000000ULL  /* 1 GiB: a 1 GiB slot mapped by one 1G leaf */
#define GT_OUTSIDE_GPA 0xc0000000ULL  /* 3 GiB: in no memslot */
#define GT_SHARED_GPA 0x300000ULL     /* a page both vCPUs of two_vcpus use */

#endif
