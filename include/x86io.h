/*
 * Port I/O, MSR access and the interrupt flag, as tiny inline wrappers: the x86 instructions
 * that the kernel (through arch/cpu.h) and both kinds of guest program (guests/guest.h,
 * guests/pc/pc.h) share. One copy, so a fix to a constraint reaches all three.
 */
#ifndef EPTVISOR_X86IO_H
#define EPTVISOR_X86IO_H

#include "types.h"

static inline void outb(u16 port, u8 v)
{
	__asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port));
}

static inline void outw(u16 port, u16 v)
{
	__asm__ volatile("outw %0, %1" ::"a"(v), "Nd"(port));
}

static inline void outl(u16 port, u32 v)
{
	__asm__ volatile("outl %0, %1" ::"a"(v), "Nd"(port));
}

static inline u8 inb(u16 port)
{
	u8 v;

	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline u16 inw(u16 port)
{
	u16 v;

	__asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline u32 inl(u16 port)
{
	u32 v;

	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline u64 rdmsr(u32 msr)
{
	u32 lo, hi;

	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return ((u64)hi << 32) | lo;
}

/* "memory": a write to an MSR may change how memory is accessed (PAT, EFER, APIC base). */
static inline void wrmsr(u32 msr, u64 v)
{
	__asm__ volatile("wrmsr" ::"c"(msr), "a"((u32)v), "d"((u32)(v >> 32)) : "memory");
}

static inline void cli(void)
{
	__asm__ volatile("cli" ::: "memory");
}
static inline void sti(void)
{
	__asm__ volatile("sti" ::: "memory");
}
static inline void hlt(void)
{
	__asm__ volatile("hlt" ::: "memory");
}
/* sti takes effect after the next instruction, so no interrupt slips in before hlt. */
static inline void sti_hlt(void)
{
	__asm__ volatile("sti; hlt" ::: "memory");
}

#endif
