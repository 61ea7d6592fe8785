/*
 * The few C library functions eptvisor uses. In the kernel they come from lib/; in host
 * tests the same prototypes are satisfied by the host's libc, so pure code (ept/, mm/frame.c,
 * boot parsers) includes only this header and runs in both places unchanged.
 */
#ifndef EPTVISOR_LIB_H
#define EPTVISOR_LIB_H

#include "types.h"
#include <stdarg.h>

void *memset(void *dst, int c, size_t n);
void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
size_t strnlen(const char *s, size_t max);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
char *strchr(const char *s, int c);
int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int snprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Sort a[0..n) ascending (lib/sort.c). */
void sort_u64(u64 *a, u64 n);

#endif
