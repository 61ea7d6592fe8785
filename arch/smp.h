/*
 * SMP: bring every CPU up (INIT-SIPI-SIPI broadcast; no ACPI needed), and hand work to a
 * CPU. Idle CPUs sleep in HLT and are woken by an IPI (in Bochs a spinning CPU would halve
 * the speed of the others).
 */
#ifndef EPTVISOR_ARCH_SMP_H
#define EPTVISOR_ARCH_SMP_H

#include "arch/percpu.h"

/* Start the APs; returns when they have all checked in. Sets ncpus. */
void smp_init(void);
/* Run fn(arg) on `cpu` (asynchronously when cpu is another CPU); smp_wait() waits for it. */
void smp_call(u32 cpu, cpu_work_fn fn, void *arg);
void smp_wait(u32 cpu);
/* Run fn(arg) on every CPU, this one included, and wait for all. */
void smp_call_all(cpu_work_fn fn, void *arg);

#endif
