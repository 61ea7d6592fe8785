/*
 * Console output: printk() formats a message and writes it to COM1 under one lock, so lines
 * from different CPUs never interleave mid-line. panic() is for broken invariants only.
 */
#ifndef EPTVISOR_DRIVERS_CONSOLE_H
#define EPTVISOR_DRIVERS_CONSOLE_H

#include "types.h"
#include <stdarg.h>

void printk(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void vprintk(const char *fmt, va_list ap);
/* Print without taking the console lock: only for the exception and panic paths. */
void printk_unlocked(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

NORETURN void panic_at(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
#define panic(...) panic_at(__FILE__, __LINE__, __VA_ARGS__)
#define BUG_ON(cond)                                                                               \
	do {                                                                                       \
		if (cond)                                                                          \
			panic("BUG_ON(%s)", #cond);                                                \
	} while (0)

/* Print the run's closing lines and end it: drain COM1, then the emulators' exit ports. */
NORETURN void system_shutdown(void);

#endif
