/*
 * What guest programs use: hypercall wrappers (ABI in include/hypercall.h), printing, and
 * CHECK(), which reports one named assertion to the hypervisor (a scenario passes only if
 * at least one check passed and none failed).
 */
#ifndef EPTVISOR_GUESTS_GUEST_H
#define EPTVISOR_GUESTS_GUEST_H

#include "hypercall.h"
#include "types.h"

static inline long hypercall(long nr, u64 a0, u64 a1, u64 a2)
{
	long ret;

	__asm__ volatile("vmcall" : "=a"(ret) : "a"(nr), "D"(a0), "S"(a1), "d"(a2) : "memory");
	return ret;
}

static inline void pause(void) { __asm__ volatile("pause"); }
static inline void outb(u16 port, u8 v) { __asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port)); }
static inline u8 inb(u16 port)
{
	u8 v;

	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

void gprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void check(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define CHECK(cond, ...) check(!!(cond), __VA_ARGS__)

#endif
