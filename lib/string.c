/*
 * The string and memory functions declared in include/lib.h, for the kernel and the guests.
 * Host tests use the host's libc instead, so these are kept plain and obviously correct;
 * memset and memcpy use rep stos/movs, which Bochs and real CPUs run in bulk (zeroing a
 * 1 GiB slot byte by byte takes a minute under Bochs).
 */
#include "arch/cpu.h"
#include "lib.h"

void *memset(void *dst, int c, size_t n)
{
	if (IS_ALIGNED((u64)dst | n, 8)) {
		rep_stosq(dst, (u8)c * 0x0101010101010101ULL, n / 8);
		return dst;
	}
	rep_stosb(dst, (u8)c, n);
	return dst;
}

void *memcpy(void *dst, const void *src, size_t n)
{
	rep_movsb(dst, src, n);
	return dst;
}

void *memmove(void *dst, const void *src, size_t n)
{
	u8 *d = dst;
	const u8 *s = src;

	if (d <= s || d >= s + n)
		return memcpy(dst, src, n);
	while (n--)
		d[n] = s[n];
	return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const u8 *x = a, *y = b;

	for (; n; n--, x++, y++)
		if (*x != *y)
			return *x - *y;
	return 0;
}

size_t strlen(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

size_t strnlen(const char *s, size_t max)
{
	size_t n = 0;

	while (n < max && s[n])
		n++;
	return n;
}

int strcmp(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return (u8)*a - (u8)*b;
}

int strncmp(const char *a, const char *b, size_t n)
{
	for (; n; n--, a++, b++) {
		if (*a != *b)
			return (u8)*a - (u8)*b;
		if (!*a)
			return 0;
	}
	return 0;
}

char *strchr(const char *s, int c)
{
	for (; *s; s++)
		if (*s == (char)c)
			return (char *)s;
	return c ? NULL : (char *)s;
}
