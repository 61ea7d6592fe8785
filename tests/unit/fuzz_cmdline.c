/*
 * libFuzzer target: the kernel command line, through the generic parser (boot/cmdline.c)
 * with a table of every option type, and through the kernel's own table (boot/options.c,
 * built on the host with printk and the scenario list stubbed here); plus
 * cmdline_module_match.
 *
 * Input: the command line (cut at the first NUL), at most 2048 bytes.
 *
 * Checked: each string/list destination is its own heap block of exactly its size, so a
 * write past it is an ASan report; after parsing, every string is NUL-terminated inside its
 * buffer, a restricted string is its default or one of its words, every item of a
 * restricted list is one of its words (no empty item); every number is its default or inside
 * its [min, max]; a boolean is 0 or 1; every problem message is one line under 256 bytes
 * and the count returned is the number of messages; parsing is deterministic. For the
 * kernel's table, every field of struct options is in its documented range or default.
 * A module match implies want is the module string's first word or its basename.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boot/cmdline.h"
#include "boot/options.h"
#include "drivers/console.h"
#include "errno.h"
#include "tests/unit/fuzz.h"

/* ---- stubs for boot/options.c ------------------------------------------------------------ */

static const char *const scenario_names[] = { "demo", "selftest", "pcmb1", "hostile_x",
	                                      "all",  "none",     NULL };

const char *const *scenario_name_list(void);
const char *const *scenario_name_list(void)
{
	return scenario_names;
}

static int messages;

void printk(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	CHECK(n > 0 && buf[n - 1] == '\n' && strchr(buf, '\n') == buf + n - 1);
	messages++;
}

/* ---- a table of every type -------------------------------------------------------------- */

static const char *const words[] = { "wp", "dbit", "pml", "a-b", NULL };

static void report(void *ctx, const char *msg)
{
	CHECK(ctx == &messages);
	CHECK(strlen(msg) < 256 && strchr(msg, '\n') == NULL);
	messages++;
}

static bool in_words(const char *s, size_t n)
{
	for (int i = 0; words[i]; i++)
		if (strlen(words[i]) == n && strncmp(words[i], s, n) == 0)
			return true;
	return false;
}

static void check_list(const char *s)
{
	while (*s) {
		const char *c = strchr(s, ',');
		size_t n = c ? (size_t)(c - s) : strlen(s);

		CHECK(n > 0 && in_words(s, n));
		s += n + (c != NULL);
		CHECK(!c || *s); /* no empty last item */
	}
}

struct dsts {
	char *str, *any, *list, *anylist;
	u64 num, size, big, lim;
	bool flag;
};

static int parse_generic(const char *line, struct dsts *d)
{
	const struct opt_spec specs[] = {
		{ "s", OPT_STR, d->str, 0, 0, 5, words, "restricted string" },
		{ "any", OPT_STR, d->any, 0, 0, 17, NULL, "any string" },
		{ "l", OPT_LIST, d->list, 0, 0, 13, words, "restricted list" },
		{ "al", OPT_LIST, d->anylist, 0, 0, 9, NULL, "any list" },
		{ "n", OPT_UINT, &d->num, 3, 1000, 0, NULL, "bounded number" },
		{ "sz", OPT_SIZE, &d->size, 4096, 1ULL << 40, 0, NULL, "bounded size" },
		{ "big", OPT_UINT, &d->big, 0, 0, 0, NULL, "unbounded number" },
		{ "lim", OPT_SIZE, &d->lim, 1, 0, 0, NULL, "size, no upper bound" },
		{ "f", OPT_BOOL, &d->flag, 0, 1, 0, NULL, "flag" },
	};

	strcpy(d->str, "pml");
	strcpy(d->any, "x");
	strcpy(d->list, "wp,dbit");
	d->anylist[0] = '\0';
	d->num = 7;
	d->size = 8192;
	d->big = 1;
	d->lim = 1;
	d->flag = false;
	messages = 0;
	return cmdline_parse(line, specs, ARRAY_SIZE(specs), report, &messages);
}

static void check_generic(const char *line)
{
	struct dsts d = { .str = malloc(5),
		          .any = malloc(17),
		          .list = malloc(13),
		          .anylist = malloc(9) },
		    e;
	int r = parse_generic(line, &d), n = messages;
	u8 flag;

	CHECK(r >= 0 && r == n);
	CHECK(memchr(d.str, 0, 5) && memchr(d.any, 0, 17));
	CHECK(memchr(d.list, 0, 13) && memchr(d.anylist, 0, 9));
	CHECK(in_words(d.str, strlen(d.str)));
	check_list(d.list);
	CHECK(d.num == 7 || (d.num >= 3 && d.num <= 1000));
	CHECK(d.size == 8192 || (d.size >= 4096 && d.size <= 1ULL << 40));
	CHECK(d.lim >= 1);
	memcpy(&flag, &d.flag, 1);
	CHECK(flag <= 1);
	/* Again, into fresh buffers: the same result. */
	e = (struct dsts){
		.str = malloc(5), .any = malloc(17), .list = malloc(13), .anylist = malloc(9)
	};
	CHECK(parse_generic(line, &e) == r);
	CHECK(!strcmp(d.str, e.str) && !strcmp(d.any, e.any) && !strcmp(d.list, e.list));
	CHECK(!strcmp(d.anylist, e.anylist) && d.num == e.num && d.size == e.size);
	CHECK(d.big == e.big && d.lim == e.lim && d.flag == e.flag);
	free(d.str), free(d.any), free(d.list), free(d.anylist);
	free(e.str), free(e.any), free(e.list), free(e.anylist);
}

/* ---- the kernel's table ------------------------------------------------------------------ */

static bool terminated(const char *s, size_t size)
{
	return memchr(s, 0, size) != NULL;
}

static void check_options(const char *line)
{
	static const struct options defaults = {
		.run = "demo",
		.platform = "unknown",
		.trace = "off",
		.guest_mem = 128ULL << 20,
		.guest_vcpus = 1,
		.guest_budget = 10000,
	};
	int r;

	opts = defaults;
	messages = 0;
	r = options_parse(line);
	CHECK(r >= 0 && r == messages);
	CHECK(terminated(opts.run, sizeof(opts.run)) && terminated(opts.guest, sizeof(opts.guest)));
	CHECK(terminated(opts.platform, sizeof(opts.platform)));
	CHECK(terminated(opts.trace, sizeof(opts.trace)));
	CHECK(terminated(opts.guest_args, sizeof(opts.guest_args)));
	CHECK(terminated(opts.guest_mods, sizeof(opts.guest_mods)));
	CHECK(!strcmp(opts.trace, "off") || !strcmp(opts.trace, "on") ||
	      !strcmp(opts.trace, "ring"));
	CHECK(opts.vcpus == 0 || (opts.vcpus >= 1 && opts.vcpus <= 8));
	CHECK(opts.mem == 0 || (opts.mem >= 1 << 20 && opts.mem <= 4ULL << 30));
	CHECK(opts.rounds == 0 || opts.rounds <= 100000);
	CHECK(opts.samples == 0 || (opts.samples >= 16 && opts.samples <= 2000));
	CHECK(opts.guest_mem >= 2ULL << 20 && opts.guest_mem <= 3ULL << 30);
	CHECK(opts.guest_vcpus >= 1 && opts.guest_vcpus <= 8);
	CHECK(opts.guest_budget >= 1 && opts.guest_budget <= 1000000);
}

static void check_match(const char *line)
{
	const char *sp = strchr(line, ' ');
	char want[64];
	size_t n;

	/* want: the input up to its first blank, the module string: what follows. */
	n = sp ? (size_t)(sp - line) : 0;
	if (!sp || n >= sizeof(want))
		return;
	memcpy(want, line, n);
	want[n] = '\0';
	if (cmdline_module_match(want, sp + 1)) {
		const char *mod = sp + 1, *end = mod, *base = mod;

		while (*end && !strchr(" \t\n\r", *end))
			end++;
		for (const char *p = mod; p < end; p++)
			if (*p == '/')
				base = p + 1;
		CHECK(n > 0);
		CHECK(((size_t)(end - mod) == n && !strncmp(mod, want, n)) ||
		      ((size_t)(end - base) == n && !strncmp(base, want, n)));
	}
}

int LLVMFuzzerTestOneInput(const u8 *data, size_t size)
{
	char *line;

	if (size > 2048)
		return 0;
	line = malloc(size + 1);
	memcpy(line, data, size);
	line[size] = '\0';
	check_generic(line);
	check_options(line);
	check_match(line);
	free(line);
	return 0;
}
