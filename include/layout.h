/*
 * Address-space constants shared by assembly and C.
 *
 *   0xffffffff80000000 + pa   kernel image (KERNEL_VMA)
 *   0xffff888000000000 + pa   direct map of physical memory (DIRECT_MAP_BASE, PML4 slot 273)
 */
#ifndef EPTVISOR_LAYOUT_H
#define EPTVISOR_LAYOUT_H

#define KERNEL_VMA        0xffffffff80000000
#define DIRECT_MAP_BASE   0xffff888000000000
#define PML4_DIRECT_INDEX 273
#define KERNEL_STACK_SIZE 16384
#define MAX_CPUS          8

#endif
