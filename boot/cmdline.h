/*
 * A table-driven kernel command-line parser. The caller describes each option once (name,
 * type, destination, range, allowed words, help) and cmdline_parse() fills the destinations,
 * reporting every problem by name through a callback. boot/options.c holds the kernel's
 * table. Pure C: the same parser runs in the host unit tests.
 *
 * Syntax: words separated by blanks; `name=value` or a bare `name` (booleans only: = on).
 * Double quotes in a value group blanks into it and are removed: run="a b", x=a"b c"d.
 * A quote may also open before the name, as GRUB writes an argument with blanks: "x=a b".
 * \", \\ and \' stand for the character itself (GRUB escapes these three in every argument).
 */
#ifndef EPTVISOR_BOOT_CMDLINE_H
#define EPTVISOR_BOOT_CMDLINE_H

#include "types.h"

#define CMDLINE_VALUE_MAX 1023 /* longest value accepted, in bytes after quote removal */
#define CMDLINE_MAX_SPECS 256  /* largest option table */

enum opt_type {
	OPT_UINT, /* u64 *dst: decimal or 0x-hex */
	OPT_SIZE, /* u64 *dst: 4096, 0x1000, 64M, 1G, 2m, 16k, 1T (optionally followed by B) */
	OPT_STR,  /* char dst[size]: any string, or one of `allowed` if given */
	OPT_BOOL, /* bool *dst: on/off, yes/no, 1/0, true/false; a bare name means on */
	OPT_LIST, /* char dst[size]: comma-separated words, each one of `allowed` if given */
};

struct opt_spec {
	const char *name;
	enum opt_type type;
	void *dst;
	u64 min, max;               /* UINT/SIZE: accepted range; max == 0 means no upper bound */
	size_t size;                /* STR/LIST: size of dst, including the NUL */
	const char *const *allowed; /* STR/LIST: NULL-terminated list of words, or NULL for any */
	const char *help;           /* one line for users (not used by the parser) */
};

/*
 * Parse `cmdline` (NULL = empty) against specs[0..nspecs). Each problem is passed to
 * report(ctx, msg) as one line without a newline (report may be NULL): unknown option, empty
 * name, missing value, value not a number/size/boolean, out of range, overflow, unknown word,
 * empty list item, value too long, unterminated quote, option given twice (the last valid
 * value wins). An option with a bad value leaves its destination unchanged.
 * Returns the number of problems (0 = clean), or -EINVAL without parsing when the table
 * itself is broken (NULL name or dst, STR/LIST with size 0, more than CMDLINE_MAX_SPECS).
 */
int cmdline_parse(const char *cmdline, const struct opt_spec *specs, int nspecs,
                  void (*report)(void *ctx, const char *msg), void *ctx);

/*
 * Does the GRUB module whose string is `mod` ("/boot/guest.elf arg ...") answer to `want`?
 * Yes when want is the string's first word ("/boot/guest.elf") or that word's basename
 * ("guest.elf"). An empty or NULL want matches nothing.
 */
bool cmdline_module_match(const char *want, const char *mod);

#endif
