/*
 * The fault-latency benchmark (issue 5) as scenarios: bench_setup makes a VM the bench VM
 * (its memory, PML, the run's sample count). Everything the benchmark does while the guest
 * runs, the checks and the statistics included, is the HC_BENCH hypercall's
 * (hypercall/bench.c); ABI and guest layout in include/bench.h.
 */
#ifndef EPTVISOR_SCENARIOS_FAULT_LATENCY_H
#define EPTVISOR_SCENARIOS_FAULT_LATENCY_H

#include "bench.h"
#include "scenarios/scenario.h"

/* For the scenario row's arg: this VM measures pml_write (PML on for every vCPU). */
#define BENCH_ARG_PML 1
/* Preemption-timer budget of a bench vCPU: the idle ones spin through the others' phases. */
#define BENCH_BUDGET 0xffffffffULL

/* The bench VM: a 2M-leaf block per vCPU for split/collapse (and the host-work slot when
 * the row has a host task), or PML on for pml_write; the samples per vCPU and path are the
 * row's (samples=, else BENCH_DEFAULT_SAMPLES). */
int bench_setup(struct vm *vm, const struct scenario *sc);

/* The host task of the *_hostwork paths (scenarios/bench_hostwork.c): the set-up adds the
 * slot it works on, mapped with 4K leaves; while the guest has the work switched on, the
 * task keeps a tracker and a write-protect log over it and scans and harvests it on CPU 0. */
int bench_hostwork_setup(struct vm *vm);
void bench_hostwork_host(struct vm *vm, const struct scenario *sc);

#endif
