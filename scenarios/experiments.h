/*
 * The mission's experiments as scenario parts (see scenarios/scenario.h): set-up functions and
 * host tasks for dirty logging (scenarios/dirty.c), idle tracking (scenarios/idle.c) and live split
 * and collapse (scenarios/split.c).
 */
#ifndef EPTVISOR_SCENARIOS_EXPERIMENTS_H
#define EPTVISOR_SCENARIOS_EXPERIMENTS_H

#include "guest_tests.h"
#include "scenarios/scenario.h"

/* For dirty_host's arg (an enum ept_dirty_mode): harvest without the flush, to show the loss. */
#define DIRTY_SKIP_FLUSH 0x100
/* ... and make the guest write only 8 pages (it keeps them all in its TLB). */
#define DIRTY_HOT_PAGES 0x200
#define DIRTY_MODE(arg) ((arg)&0xff)

/* The control page a host task shares with its test guest (struct guest_ctrl), one field
 * at a time through the checked copies: the page may move while the guest runs, so no
 * pointer to it is kept. An aligned word is one access (vm_copy_*). */
#define CTRL_GPA(field) (GT_CTRL_GPA + offsetof(struct guest_ctrl, field))

static inline u64 ctrl_get(struct vm *vm, gpa_t gpa)
{
	u64 val = 0; /* stays 0 only if the page were outside every slot: it never is */

	vm_copy_from_guest(vm, &val, gpa, sizeof(val));
	return val;
}

static inline void ctrl_set(struct vm *vm, gpa_t gpa, u64 val)
{
	vm_copy_to_guest(vm, gpa, &val, sizeof(val));
}

int dirty_setup(struct vm *vm, const struct scenario *sc);
void dirty_host(struct vm *vm, const struct scenario *sc);

int split_setup(struct vm *vm, const struct scenario *sc);
int huge_setup(struct vm *vm, const struct scenario *sc);
void pc_compact_host(struct vm *vm, const struct scenario *sc);
void huge_host(struct vm *vm, const struct scenario *sc);
void split_host(struct vm *vm, const struct scenario *sc);

/* Compaction of a guest's host-physical range under dirty logging (scenarios/compact.c). */
int compact_setup(struct vm *vm, const struct scenario *sc);
void compact_host(struct vm *vm, const struct scenario *sc);

/* A slot over a slow backing store, fetched and evicted live (scenarios/store.c). */
int store_setup(struct vm *vm, const struct scenario *sc);
void store_host(struct vm *vm, const struct scenario *sc);
/* The same slot under a resident limit: idle pages evicted by the reclaim policy
 * (scenarios/reclaim.c). */
void store_reclaim_host(struct vm *vm, const struct scenario *sc);

int idle_flush_setup(struct vm *vm, const struct scenario *sc);
void idle_flush_host(struct vm *vm, const struct scenario *sc);

/* A PC guest with a slow store at the top of its RAM: the store's pattern, its I/O task
 * (scenarios/pc_store.c). */
int pc_store_setup(struct vm *vm, const struct scenario *sc);
void pc_store_host(struct vm *vm, const struct scenario *sc);

/* The mission's features on a PC guest's memory (scenarios/pc_mission.c). */
int pc_mission_setup(struct vm *vm, const struct scenario *sc);
void pc_mission_host(struct vm *vm, const struct scenario *sc);
/* The same under Linux (guest= with guest_mission=; scenarios/lx_mission.c). */
int lx_mission_setup(struct vm *vm);
void lx_mission_host(struct vm *vm, const struct scenario *sc);
/* APIC pages moved under a PC guest's timer and IPIs (scenarios/apic_moves.c). */
void pc_apic_moves_host(struct vm *vm, const struct scenario *sc);

/* Wait until every vCPU of vm has left its run loop (exited or stopped). */

#endif
