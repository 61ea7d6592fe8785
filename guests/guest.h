/*
 * What guest programs use: hypercall wrappers (ABI in include/hypercall.h), port I/O
 * (include/x86io.h), printing, and CHECK(), which reports one named assertion to the
 * hypervisor (a scenario passes only if at least one check passed and none failed).
 */
#ifndef EPTVISOR_GUESTS_GUEST_H
#define EPTVISOR_GUESTS_GUEST_H

#include "hypercall.h"
#include "types.h"
#include "x86io.h"

static inline long hypercall(long nr, u64 a0, u64 a1, u64 a2)
{
	long ret;

	__asm__ volatile("vmcall" : "=a"(ret) : "a"(nr), "D"(a0), "S"(a1), "d"(a2) : "memory");
	return ret;
}

static inline void pause(void)
{
	__asm__ volatile("pause");
}

void gprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void check(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define CHECK(cond, ...) check(!!(cond), __VA_ARGS__)

#endif
