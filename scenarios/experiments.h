/*
 * The mission's experiments as scenario parts (see scenarios/scenario.h): set-up functions and
 * host tasks for dirty logging (scenarios/dirty.c), idle tracking (scenarios/idle.c) and live split
 * and collapse (scenarios/split.c).
 */
#ifndef EPTVISOR_SCENARIOS_EXPERIMENTS_H
#define EPTVISOR_SCENARIOS_EXPERIMENTS_H

#include "scenarios/scenario.h"

/* For dirty_host's arg (an enum ept_dirty_mode): harvest without the flush, to show the loss. */
#define DIRTY_SKIP_FLUSH 0x100
/* ... and make the guest write only 8 pages (it keeps them all in its TLB). */
#define DIRTY_HOT_PAGES 0x200
#define DIRTY_MODE(arg) ((arg)&0xff)

int dirty_setup(struct vm *vm, const struct scenario *sc);
void dirty_host(struct vm *vm, const struct scenario *sc);

int split_setup(struct vm *vm, const struct scenario *sc);
void split_host(struct vm *vm, const struct scenario *sc);

int idle_flush_setup(struct vm *vm, const struct scenario *sc);
void idle_flush_host(struct vm *vm, const struct scenario *sc);

/* The mission's features on a PC guest's memory (scenarios/pc_mission.c). */
int pc_mission_setup(struct vm *vm, const struct scenario *sc);
void pc_mission_host(struct vm *vm, const struct scenario *sc);

/* Wait until every vCPU of vm has left its run loop (exited or stopped). */

#endif
