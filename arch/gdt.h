/*
 * One GDT shared by all CPUs: flat 64-bit code and data, and one 16-byte TSS descriptor per
 * CPU (a VMCS needs a non-null host TR, and #DF runs on its own IST stack).
 */
#ifndef EPTVISOR_ARCH_GDT_H
#define EPTVISOR_ARCH_GDT_H

#define GDT_KERNEL_CS 0x08
#define GDT_KERNEL_DS 0x10
#define GDT_TSS(cpu)  (0x20 + 16 * (cpu))

#ifndef __ASSEMBLY__
#include "arch/percpu.h"

/* Load the GDT and this CPU's TSS (with `df_stack_top` as IST1). */
void gdt_load(struct percpu *pc, u64 df_stack_top);
#endif

#endif
