/*
 * The fault-latency benchmark, hypervisor side (issue 5). scenarios/fault_latency.c holds the scenario
 * set-up and the statistics (percentiles, @json lines, ratios); hypercall/bench.c the HC_BENCH
 * hypercall the benchmark guest drives it with (ABI and layout in include/bench.h).
 *
 * Scenarios run one VM at a time, so one struct bench_run describes the bench VM of the
 * moment; it holds no allocation, so a guest that dies mid-run leaks nothing.
 */
#ifndef EPTVISOR_SCENARIOS_FAULT_LATENCY_H
#define EPTVISOR_SCENARIOS_FAULT_LATENCY_H

#include "bench.h"
#include "scenarios/scenario.h"

/* For the scenario row's arg: this VM measures pml_write (PML on for every vCPU). */
#define BENCH_ARG_PML 1
/* Preemption-timer budget of a bench vCPU: the idle ones spin through the others' phases. */
#define BENCH_BUDGET 0xffffffffULL

/* One vCPU's counters when it began a measurement (HC_BENCH_BEGIN). */
struct bench_snap {
	u64 exits[EXIT_REASONS];
	u64 faults[EPT_FAULT_VIOLATION + 1];
	u64 pml_entries;
	u64 ops[BENCH_PATHS]; /* verified split / collapse operations */
	u64 ends;             /* HC_BENCH_END calls since (their VMCALLs are not the path's) */
	bool begun;
};

/* One vCPU's samples of one path, checked against its counters and kept in guest memory
 * until HC_BENCH_REPORT. */
struct bench_kept {
	gpa_t gpa;       /* warm-up samples first, then the kept ones */
	u64 n;           /* warm-up + kept; 0: nothing submitted */
	u64 exits;       /* every VM exit during the measurement but the END hypercall's */
	u64 interrupts;  /* of those: NMIs and external interrupts (kicks, not the path) */
	u64 pml_full;    /* of those: PML-log-full exits */
	bool verified;   /* every access took the intended path */
};

struct bench_run {
	const struct vm *vm; /* the bench VM of the moment (with name: a later VM at the same */
	const char *name;    /* address is not mistaken for it) */
	u64 samples, warmup;
	bool pml;
	u64 ops[MAX_VCPUS][BENCH_PATHS];
	struct bench_snap snap[MAX_VCPUS];
	struct bench_kept kept[MAX_VCPUS][BENCH_PATHS];
};

extern struct bench_run bench_run;

/* The path's name as the @json lines and docs/benchmarks.md spell it. */
const char *bench_path_name(int path);

int bench_setup(struct vm *vm, const struct scenario *sc);
/* Print the statistics of every path submitted since the last report, then the ratios;
 * forget the submissions. Returns the number of paths reported, or -ENOMEM. */
s64 bench_report(struct vm *vm);

/* hypercall/bench.c: the HC_BENCH hypercall. */
struct vcpu;
s64 hc_bench(struct vcpu *v, u64 op, u64 a1, u64 a2);

#endif
