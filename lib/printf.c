/*
 * vsnprintf for the kernel: %d %i %u %x %X %p %s %c %% with flags '-', '0', width, precision
 * for strings, and the length modifiers l, ll, z. Always NUL-terminates; returns the length
 * the full output would have had (C99).
 */
#include "lib.h"

struct out {
	char *buf;
	size_t size, len;
};

static void put(struct out *o, char c)
{
	if (o->len + 1 < o->size)
		o->buf[o->len] = c;
	o->len++;
}

static void put_padded(struct out *o, const char *s, size_t n, int width, bool left, char pad)
{
	int fill = width > (int)n ? width - (int)n : 0;

	if (!left)
		while (fill-- > 0)
			put(o, pad);
	while (n--)
		put(o, *s++);
	if (left)
		while (fill-- > 0)
			put(o, ' ');
}

static void put_number(struct out *o, u64 v, bool neg, unsigned base, bool upper, int width,
                       bool left, char pad)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char tmp[24];
	int i = sizeof(tmp);

	do {
		tmp[--i] = digits[v % base];
		v /= base;
	} while (v);
	if (neg) {
		if (pad == '0' && width > 0) {
			put(o, '-');
			width--;
		} else {
			tmp[--i] = '-';
		}
	}
	put_padded(o, tmp + i, sizeof(tmp) - i, width, left, pad);
}

static u64 get_arg(va_list *ap, int longs, bool is_signed, bool *neg)
{
	s64 sv;

	*neg = false;
	if (!is_signed) {
		if (longs >= 1)
			return va_arg(*ap, u64);
		return va_arg(*ap, unsigned int);
	}
	sv = longs >= 1 ? va_arg(*ap, s64) : va_arg(*ap, int);
	if (sv < 0) {
		*neg = true;
		return (u64)0 - (u64)sv;
	}
	return (u64)sv;
}

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap_in)
{
	struct out o = { buf, size, 0 };
	va_list ap;

	va_copy(ap, ap_in);
	for (; *fmt; fmt++) {
		bool left = false, neg;
		char pad = ' ';
		int width = 0, prec = -1, longs = 0;
		const char *s;
		u64 v;

		if (*fmt != '%') {
			put(&o, *fmt);
			continue;
		}
		fmt++;
		for (; *fmt == '-' || *fmt == '0'; fmt++)
			*fmt == '-' ? (left = true) : (pad = '0');
		for (; *fmt >= '0' && *fmt <= '9'; fmt++)
			width = width * 10 + (*fmt - '0');
		if (*fmt == '.')
			for (prec = 0, fmt++; *fmt >= '0' && *fmt <= '9'; fmt++)
				prec = prec * 10 + (*fmt - '0');
		for (; *fmt == 'l' || *fmt == 'z'; fmt++)
			longs++;
		switch (*fmt) {
		case 'd':
		case 'i':
			v = get_arg(&ap, longs, true, &neg);
			put_number(&o, v, neg, 10, false, width, left, pad);
			break;
		case 'u':
			v = get_arg(&ap, longs, false, &neg);
			put_number(&o, v, false, 10, false, width, left, pad);
			break;
		case 'x':
		case 'X':
			v = get_arg(&ap, longs, false, &neg);
			put_number(&o, v, false, 16, *fmt == 'X', width, left, pad);
			break;
		case 'p':
			put(&o, '0');
			put(&o, 'x');
			put_number(&o, (u64)va_arg(ap, void *), false, 16, false, width, left, pad);
			break;
		case 's':
			s = va_arg(ap, const char *);
			if (!s)
				s = "(null)";
			put_padded(&o, s, prec >= 0 ? strnlen(s, prec) : strlen(s), width, left,
			           ' ');
			break;
		case 'c':
			put(&o, (char)va_arg(ap, int));
			break;
		case '%':
			put(&o, '%');
			break;
		default:
			put(&o, '%');
			if (*fmt)
				put(&o, *fmt);
			else
				fmt--;
		}
	}
	va_end(ap);
	if (size)
		buf[o.len < size ? o.len : size - 1] = '\0';
	return (int)o.len;
}

int snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}
