/*
 * The kernel command-line parser (see boot/cmdline.h for the syntax and the contract).
 * One pass over the line: next_word() cuts a word and removes the quotes of its value,
 * apply_word() finds the spec and hands the value to the parser for its type. Every check
 * that fails reports one line naming the option and leaves the destination alone.
 */
#include "boot/cmdline.h"
#include "errno.h"
#include "lib.h"

#define MSG_MAX  256 /* one report line */
#define SHOW_MAX 48  /* how much of a name or value a report line quotes */

struct parser {
	const struct opt_spec *specs;
	int nspecs;
	void (*report)(void *ctx, const char *msg);
	void *ctx;
	int problems;
	u64 seen[CMDLINE_MAX_SPECS / 64]; /* options already set once */
};

struct word {
	const char *name; /* points into the command line, not NUL-terminated */
	size_t nlen;
	bool has_value;          /* an '=' followed the name */
	bool too_long;           /* the value did not fit in value[] */
	bool unterminated;       /* a quote was still open at the end of the line */
	char show[SHOW_MAX + 4]; /* the name, NUL-terminated and shortened, for reports */
	char value[CMDLINE_VALUE_MAX + 1];
};

static void problem(struct parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void problem(struct parser *p, const char *fmt, ...)
{
	char msg[MSG_MAX];
	va_list ap;

	p->problems++;
	if (!p->report)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	p->report(p->ctx, msg);
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Copy at most SHOW_MAX bytes of s[0..len) into dst (SHOW_MAX + 4 bytes), marking a cut.
 * Control characters (a quoted line break, say) show as '?': a report stays one line. */
static void shorten(char *dst, const char *s, size_t len)
{
	bool cut = len > SHOW_MAX;
	size_t n = cut ? SHOW_MAX : len;

	for (size_t i = 0; i < n; i++)
		dst[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	if (cut)
		memcpy(dst + n, "...", 3), n += 3;
	dst[n] = '\0';
}

/* ---- cutting words ------------------------------------------------------------------------- */

/* GRUB escapes these three with a backslash (grub_create_loader_cmdline). */
static bool is_escaped(const char *s)
{
	return s[0] == '\\' && s[1] && strchr("\"\\'", s[1]);
}

/*
 * Copy the value at s into w->value without its quotes and escapes; `quoted` says whether a
 * quote opened before the name is still open. Return where the word ends.
 */
static const char *cut_value(const char *s, struct word *w, bool quoted)
{
	size_t n = 0;

	for (; *s && (quoted || !is_blank(*s)); s++) {
		if (*s == '"') {
			quoted = !quoted;
			continue;
		}
		if (is_escaped(s))
			s++;
		if (n < CMDLINE_VALUE_MAX)
			w->value[n++] = *s;
		else
			w->too_long = true;
	}
	w->value[n] = '\0';
	w->unterminated = quoted;
	return s;
}

/*
 * Cut the next word at *pos into w and advance *pos; false at the end of the line. A quote
 * may open before the name: GRUB turns `name="a b"` in grub.cfg into `"name=a b"`.
 */
static bool next_word(const char **pos, struct word *w)
{
	const char *s = *pos;
	bool quoted;

	while (is_blank(*s))
		s++;
	if (!*s)
		return false;
	quoted = *s == '"';
	s += quoted;
	w->name = s;
	while (*s && *s != '=' && *s != '"' && (quoted || !is_blank(*s)))
		s++;
	w->nlen = s - w->name;
	shorten(w->show, w->name, w->nlen);
	if (quoted && *s == '"')
		quoted = false, s++;
	w->has_value = *s == '=';
	w->too_long = false;
	w->unterminated = quoted;
	w->value[0] = '\0';
	if (w->has_value)
		s = cut_value(s + 1, w, quoted);
	*pos = s;
	return true;
}

/* ---- numbers ------------------------------------------------------------------------------- */

static int digit_value(char c, unsigned base)
{
	unsigned d;

	if (c >= '0' && c <= '9')
		d = c - '0';
	else if (c >= 'a' && c <= 'f')
		d = c - 'a' + 10;
	else if (c >= 'A' && c <= 'F')
		d = c - 'A' + 10;
	else
		return -1;
	return d < base ? (int)d : -1;
}

/* Parse a decimal or 0x-hex number at *s; advance *s past it. -EINVAL: no digits, -ERANGE. */
static int parse_number(const char **s, u64 *out)
{
	unsigned base = 10;
	const char *p = *s;
	u64 v = 0;
	int d;

	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X') && digit_value(p[2], 16) >= 0)
		base = 16, p += 2;
	if (digit_value(*p, base) < 0)
		return -EINVAL;
	for (; (d = digit_value(*p, base)) >= 0; p++) {
		if (v > (~0ULL - d) / base)
			return -ERANGE;
		v = v * base + d;
	}
	*s = p;
	*out = v;
	return 0;
}

static int parse_uint(const char *s, u64 *out)
{
	int err = parse_number(&s, out);

	return err ? err : *s ? -EINVAL : 0;
}

static int size_shift(char c)
{
	switch (c) {
	case 'k':
	case 'K':
		return 10;
	case 'm':
	case 'M':
		return 20;
	case 'g':
	case 'G':
		return 30;
	case 't':
	case 'T':
		return 40;
	default:
		return -1;
	}
}

/* A number with an optional binary suffix k/M/G/T, itself optionally followed by B or iB. */
static int parse_size(const char *s, u64 *out)
{
	int shift, err = parse_number(&s, out);

	if (err || !*s)
		return err;
	shift = size_shift(*s++);
	if (shift < 0)
		return -EINVAL;
	if (*s == 'i' && s[1] == 'B')
		s++;
	if (*s == 'B' || *s == 'b')
		s++;
	if (*s)
		return -EINVAL;
	if (*out > (~0ULL >> shift))
		return -ERANGE;
	*out <<= shift;
	return 0;
}

/* Format a size the way users write it: 64M rather than 67108864 when exact. */
static void fmt_size(char *buf, size_t size, u64 v)
{
	static const char units[] = "TGMK";
	int i;

	for (i = 0; i < 4; i++)
		if (v && IS_ALIGNED(v, 1ULL << (40 - 10 * i)))
			break;
	if (i < 4)
		snprintf(buf, size, "%lu%c", (unsigned long)(v >> (40 - 10 * i)), units[i]);
	else
		snprintf(buf, size, "%lu", (unsigned long)v);
}

static void fmt_bound(const struct opt_spec *spec, char *buf, size_t size, u64 v)
{
	if (spec->type == OPT_SIZE)
		fmt_size(buf, size, v);
	else
		snprintf(buf, size, "%lu", (unsigned long)v);
}

static void report_range(struct parser *p, const struct opt_spec *spec, const struct word *w,
                         const char *shown)
{
	char lo[24], hi[24];

	fmt_bound(spec, lo, sizeof(lo), spec->min);
	fmt_bound(spec, hi, sizeof(hi), spec->max);
	if (spec->max)
		problem(p, "option '%s': '%s' is out of range %s..%s", w->show, shown, lo, hi);
	else if (spec->min)
		problem(p, "option '%s': '%s' is out of range (at least %s)", w->show, shown, lo);
	else
		problem(p, "option '%s': '%s' does not fit in 64 bits", w->show, shown);
}

static int set_number(struct parser *p, const struct opt_spec *spec, const struct word *w)
{
	bool size = spec->type == OPT_SIZE;
	char shown[SHOW_MAX + 4];
	u64 v;
	int err = size ? parse_size(w->value, &v) : parse_uint(w->value, &v);

	shorten(shown, w->value, strlen(w->value));
	if (err == -EINVAL) {
		problem(p,
		        size ? "option '%s': '%s' is not a size (use e.g. 64M, 1G)"
		             : "option '%s': '%s' is not a number",
		        w->show, shown);
		return err;
	}
	if (err || v < spec->min || (spec->max && v > spec->max)) {
		report_range(p, spec, w, shown);
		return -ERANGE;
	}
	*(u64 *)spec->dst = v;
	return 0;
}

/* ---- booleans, strings, lists -------------------------------------------------------------- */

static int set_bool(struct parser *p, const struct opt_spec *spec, const struct word *w)
{
	static const char *const on[] = { "on", "yes", "1", "true" };
	static const char *const off[] = { "off", "no", "0", "false" };
	char shown[SHOW_MAX + 4];

	for (size_t i = 0; i < ARRAY_SIZE(on); i++) {
		if (!w->has_value || strcmp(w->value, on[i]) == 0)
			return *(bool *)spec->dst = true, 0;
		if (strcmp(w->value, off[i]) == 0)
			return *(bool *)spec->dst = false, 0;
	}
	shorten(shown, w->value, strlen(w->value));
	problem(p, "option '%s': '%s' is not a boolean (use on/off)", w->show, shown);
	return -EINVAL;
}

static bool word_allowed(const char *const *allowed, const char *s, size_t len)
{
	for (; *allowed; allowed++)
		if (strlen(*allowed) == len && strncmp(*allowed, s, len) == 0)
			return true;
	return false;
}

/* "demo, selftest, ..." — as many allowed words as fit in buf. */
static void fmt_choices(char *buf, size_t size, const char *const *allowed)
{
	size_t n = 0;

	buf[0] = '\0';
	for (; *allowed; allowed++) {
		size_t len = strlen(*allowed) + (n ? 2 : 0);

		if (n + len + 5 >= size) {
			snprintf(buf + n, size - n, "%s...", n ? ", " : "");
			return;
		}
		snprintf(buf + n, size - n, "%s%s", n ? ", " : "", *allowed);
		n += len;
	}
}

static void report_unknown_word(struct parser *p, const struct opt_spec *spec, const struct word *w,
                                const char *s, size_t len)
{
	char shown[SHOW_MAX + 4], choices[128];

	shorten(shown, s, len);
	fmt_choices(choices, sizeof(choices), spec->allowed);
	problem(p, "option '%s': unknown value '%s' (choose from: %s)", w->show, shown, choices);
}

static bool fits(struct parser *p, const struct opt_spec *spec, const struct word *w)
{
	if (strlen(w->value) < spec->size)
		return true;
	problem(p, "option '%s': value too long (max %lu characters)", w->show,
	        (unsigned long)spec->size - 1);
	return false;
}

static int set_str(struct parser *p, const struct opt_spec *spec, const struct word *w)
{
	size_t len = strlen(w->value);

	if (!fits(p, spec, w))
		return -E2BIG;
	if (spec->allowed && !word_allowed(spec->allowed, w->value, len)) {
		report_unknown_word(p, spec, w, w->value, len);
		return -EINVAL;
	}
	memcpy(spec->dst, w->value, len + 1);
	return 0;
}

/* Check one comma-separated item of a list; report it if bad. */
static bool item_ok(struct parser *p, const struct opt_spec *spec, const struct word *w,
                    const char *s, size_t len)
{
	if (len == 0) {
		char shown[SHOW_MAX + 4];

		shorten(shown, w->value, strlen(w->value));
		problem(p, "option '%s': empty item in '%s'", w->show, shown);
		return false;
	}
	if (spec->allowed && !word_allowed(spec->allowed, s, len)) {
		report_unknown_word(p, spec, w, s, len);
		return false;
	}
	return true;
}

static int set_list(struct parser *p, const struct opt_spec *spec, const struct word *w)
{
	const char *s = w->value;
	bool ok = true;

	if (!fits(p, spec, w))
		return -E2BIG;
	for (;;) {
		const char *comma = strchr(s, ',');
		size_t len = comma ? (size_t)(comma - s) : strlen(s);

		ok &= item_ok(p, spec, w, s, len);
		if (!comma)
			break;
		s = comma + 1;
	}
	if (!ok)
		return -EINVAL;
	memcpy(spec->dst, w->value, strlen(w->value) + 1);
	return 0;
}

/* ---- one word ------------------------------------------------------------------------------ */

static int find_spec(const struct parser *p, const struct word *w)
{
	for (int i = 0; i < p->nspecs; i++)
		if (strlen(p->specs[i].name) == w->nlen &&
		    strncmp(p->specs[i].name, w->name, w->nlen) == 0)
			return i;
	return -1;
}

/* Problems any option can have whatever its type; true if the value may be used. */
static bool value_usable(struct parser *p, const struct opt_spec *spec, const struct word *w)
{
	if (w->unterminated) {
		problem(p, "option '%s': unterminated quote (ignored)", w->show);
		return false;
	}
	if (!w->has_value && spec->type != OPT_BOOL) {
		problem(p, "option '%s' needs a value (%s=...)", w->show, w->show);
		return false;
	}
	if (w->too_long) {
		problem(p, "option '%s': value too long (max %d characters)", w->show,
		        CMDLINE_VALUE_MAX);
		return false;
	}
	return true;
}

static int set_value(struct parser *p, const struct opt_spec *spec, const struct word *w)
{
	switch (spec->type) {
	case OPT_UINT:
	case OPT_SIZE:
		return set_number(p, spec, w);
	case OPT_BOOL:
		return set_bool(p, spec, w);
	case OPT_STR:
		return set_str(p, spec, w);
	case OPT_LIST:
		return set_list(p, spec, w);
	}
	return -EINVAL;
}

static void apply_word(struct parser *p, const struct word *w)
{
	int i;

	if (w->nlen == 0) {
		char shown[SHOW_MAX + 4];

		shorten(shown, w->value, strlen(w->value));
		problem(p, "empty option name in '=%s' (ignored)", shown);
		return;
	}
	i = find_spec(p, w);
	if (i < 0) {
		problem(p, "unknown option '%s' (ignored)", w->show);
		return;
	}
	if (!value_usable(p, &p->specs[i], w) || set_value(p, &p->specs[i], w))
		return;
	if (p->seen[i / 64] & BIT(i % 64))
		problem(p, "option '%s' given twice (last wins)", w->show);
	p->seen[i / 64] |= BIT(i % 64);
}

/* ---- the table ----------------------------------------------------------------------------- */

static bool spec_ok(const struct opt_spec *s)
{
	bool text = s->type == OPT_STR || s->type == OPT_LIST;

	return s->name && s->name[0] && s->dst && (unsigned)s->type <= OPT_LIST &&
	       (!text || s->size > 0);
}

static bool table_ok(const struct opt_spec *specs, int nspecs)
{
	if (nspecs < 0 || nspecs > CMDLINE_MAX_SPECS || (nspecs && !specs))
		return false;
	for (int i = 0; i < nspecs; i++)
		if (!spec_ok(&specs[i]))
			return false;
	return true;
}

int cmdline_parse(const char *cmdline, const struct opt_spec *specs, int nspecs,
                  void (*report)(void *ctx, const char *msg), void *ctx)
{
	struct parser p = { .specs = specs, .nspecs = nspecs, .report = report, .ctx = ctx };
	struct word w;

	if (!table_ok(specs, nspecs))
		return -EINVAL;
	if (!cmdline)
		return 0;
	while (next_word(&cmdline, &w))
		apply_word(&p, &w);
	return p.problems;
}

bool cmdline_module_match(const char *want, const char *mod)
{
	size_t len = 0, base = 0;

	if (!want || !mod || !want[0])
		return false;
	for (; mod[len] && !is_blank(mod[len]); len++)
		if (mod[len] == '/')
			base = len + 1;
	if (strlen(want) == len && strncmp(want, mod, len) == 0)
		return true;
	return strlen(want) == len - base && strncmp(want, mod + base, len - base) == 0;
}
