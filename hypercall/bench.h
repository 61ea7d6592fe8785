/*
 * The fault-latency benchmark, hypervisor side (issue 5; ABI and guest layout in
 * include/bench.h, the numbers explained in docs/benchmarks.md): the HC_BENCH hypercall the
 * benchmark guest drives, the state of the bench VM of the moment, the check of every
 * measurement against the vCPU's counters, and the statistics it reports as @json lines.
 * scenarios/fault_latency.c only sets a bench VM up and calls bench_start().
 */
#ifndef EPTVISOR_HYPERCALL_BENCH_H
#define EPTVISOR_HYPERCALL_BENCH_H

#include "types.h"

struct vcpu;
struct vm;

/* Make vm the bench VM of the moment: each vCPU submits `samples` per path after
 * BENCH_WARMUP warm-up ones; pml: it measures pml_write; hostwork: a host task serves
 * HC_BENCH_HOSTWORK (the *_hostwork paths). Whatever the previous bench VM left is
 * forgotten. Only this VM may call HC_BENCH afterwards. */
void bench_start(struct vm *vm, u64 samples, bool pml, bool hostwork);

/* The host task (scenarios/bench_hostwork.c). Does the guest want a round of host work
 * now? Record one completed round (did its scan and its harvest succeed?). Stop for good:
 * HC_BENCH_HOSTWORK refuses from then on. */
bool bench_host_wanted(void);
void bench_host_round_done(bool scanned, bool harvested);
void bench_host_end(void);

/* HC_BENCH: op is one of include/bench.h's HC_BENCH_*; -ENODEV outside the bench VM. */
s64 hc_bench(struct vcpu *v, u64 op, u64 a1, u64 a2);

#endif
