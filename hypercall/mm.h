/* The memory-management hypercalls (see hypercall/mm.c) and the per-VM agent state they keep. */
#ifndef EPTVISOR_HYPERCALL_MM_H
#define EPTVISOR_HYPERCALL_MM_H

#include "ept/ept.h"
#include "spinlock.h"
#include "types.h"

struct vcpu;
struct vm;

/* What a VM's guest agent owns: its A/D tracker and its dirty log. */
struct vm_agent {
	spinlock_t lock; /* one agent hypercall at a time: the state below is shared by vCPUs */
	struct ept_tracker tracker;
	struct ept_dirty_log log;
	u64 rounds;
};

s64 hc_idle_scan(struct vcpu *v, u64 args_gpa, u64 a1, u64 a2);
s64 hc_dirty_log(struct vcpu *v, u64 op, u64 args_gpa, u64 a2);
/* Unregister and free the agent's tracker / log (the test-guest platform's vm_destroy). */
void agent_tracker_free(struct vm *vm);
void agent_log_free(struct vm *vm);

#endif
