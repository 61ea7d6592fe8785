/* key=value words of a PC guest kernel's command line (numbers decimal or 0x hex). */
#include "guests/pc/apf.h"

static int digit(char c, int base)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (base == 16 && c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (base == 16 && c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

bool arg_u64(const char *args, const char *key, u64 *v)
{
	size_t n = strlen(key);

	for (const char *a = args; *a; a++) {
		int base = 10, d;
		u64 x = 0;

		if ((a != args && a[-1] != ' ') || strncmp(a, key, n) || a[n] != '=')
			continue;
		a += n + 1;
		if (a[0] == '0' && (a[1] == 'x' || a[1] == 'X')) {
			base = 16;
			a += 2;
		}
		if (digit(*a, base) < 0)
			return false;
		for (; (d = digit(*a, base)) >= 0; a++)
			x = x * (u64)base + (u64)d;
		if (*a && *a != ' ')
			return false;
		*v = x;
		return true;
	}
	return false;
}

bool arg_word(const char *args, const char *word)
{
	size_t n = strlen(word);

	for (const char *a = args; *a; a++)
		if ((a == args || a[-1] == ' ') && !strncmp(a, word, n) && (!a[n] || a[n] == ' '))
			return true;
	return false;
}
