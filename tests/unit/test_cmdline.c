/*
 * Host tests of the command-line parser (boot/cmdline.c): every option type, quoting, each
 * kind of problem with its exact message, defaults left alone by bad values, a broken spec
 * table, and fuzzing with random lines under ASan.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
/* cmocka.h needs the headers above it. */
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boot/cmdline.h"
#include "errno.h"

/* ---- a table like the kernel's -------------------------------------------------------------- */

static const char *const scenarios[] = {
	"demo", "selftest", "ad-scan", "dirty", "all", "none", NULL
};
static const char *const modes[] = { "wp", "dbit", "pml", NULL };

static struct {
	char run[64];
	u64 vcpus, mem, count, any;
	char platform[32];
	bool trace, exc_test;
	char mode[8];
	char words[32];
} o;

static const struct opt_spec specs[] = {
	{ "run", OPT_LIST, o.run, 0, 0, sizeof(o.run), scenarios, "scenarios to run" },
	{ "vcpus", OPT_UINT, &o.vcpus, 1, 4, 0, NULL, "vCPUs per VM" },
	{ "mem", OPT_SIZE, &o.mem, 1 << 20, 4ULL << 30, 0, NULL, "guest memory" },
	{ "count", OPT_UINT, &o.count, 0, 0, 0, NULL, "unbounded number" },
	{ "any", OPT_SIZE, &o.any, 0, 0, 0, NULL, "unbounded size" },
	{ "platform", OPT_STR, o.platform, 0, 0, sizeof(o.platform), NULL, "platform name" },
	{ "trace", OPT_BOOL, &o.trace, 0, 1, 0, NULL, "print every VM exit" },
	{ "exc-test", OPT_BOOL, &o.exc_test, 0, 1, 0, NULL, "exception dump" },
	{ "mode", OPT_STR, o.mode, 0, 0, sizeof(o.mode), modes, "dirty-log mode" },
	{ "words", OPT_LIST, o.words, 0, 0, sizeof(o.words), NULL, "any words" },
};

#define MAX_MSGS 64
static struct {
	int n;
	char m[MAX_MSGS][300];
} msgs;

static void collect(void *ctx, const char *msg)
{
	assert_ptr_equal(ctx, &msgs);
	assert_true(strlen(msg) < 256);
	if (msgs.n < MAX_MSGS)
		snprintf(msgs.m[msgs.n], sizeof(msgs.m[0]), "%s", msg);
	msgs.n++;
}

static void defaults(void)
{
	memset(&o, 0, sizeof(o));
	strcpy(o.run, "demo");
	o.vcpus = 2;
	o.mem = 64 << 20;
	strcpy(o.platform, "unknown");
	strcpy(o.mode, "wp");
	memset(&msgs, 0, sizeof(msgs));
}

/* Parse a heap copy of exactly strlen + 1 bytes (so ASan sees any overread). */
static int parse(const char *line)
{
	char *copy = strdup(line);
	int n;

	defaults();
	n = cmdline_parse(copy, specs, ARRAY_SIZE(specs), collect, &msgs);
	free(copy);
	assert_int_equal(n, msgs.n);
	return n;
}

/* The line yields exactly one problem, with this message. */
static void one_problem(const char *line, const char *msg)
{
	assert_int_equal(parse(line), 1);
	assert_string_equal(msgs.m[0], msg);
}

/* ---- clean lines --------------------------------------------------------------------------- */

static void test_empty_lines(void **state)
{
	(void)state;
	assert_int_equal(parse(""), 0);
	assert_int_equal(parse("   \t \n "), 0);
	assert_string_equal(o.run, "demo");
	defaults();
	assert_int_equal(cmdline_parse(NULL, specs, ARRAY_SIZE(specs), collect, &msgs), 0);
	assert_int_equal(cmdline_parse("x", NULL, 0, NULL, NULL), 1); /* empty table: unknown */
}

static void test_all_types(void **state)
{
	(void)state;
	assert_int_equal(parse("run=demo,selftest vcpus=4 mem=1G platform=kvm-nested trace "
	                       "exc-test=off mode=pml words=a,b,c count=0x10 any=0"),
	                 0);
	assert_string_equal(o.run, "demo,selftest");
	assert_int_equal(o.vcpus, 4);
	assert_int_equal(o.mem, 1ULL << 30);
	assert_string_equal(o.platform, "kvm-nested");
	assert_true(o.trace);
	assert_false(o.exc_test);
	assert_string_equal(o.mode, "pml");
	assert_string_equal(o.words, "a,b,c");
	assert_int_equal(o.count, 16);
	assert_int_equal(o.any, 0);
}

static void test_blanks_separate(void **state)
{
	(void)state;
	assert_int_equal(parse("\tvcpus=3\n\ntrace\r\nmem=2M "), 0);
	assert_int_equal(o.vcpus, 3);
	assert_true(o.trace);
	assert_int_equal(o.mem, 2 << 20);
}

static void test_sizes(void **state)
{
	static const struct {
		const char *in;
		u64 v;
	} good[] = {
		{ "4096", 4096 },
		{ "0x1000", 4096 },
		{ "16k", 16 << 10 },
		{ "16K", 16 << 10 },
		{ "2m", 2 << 20 },
		{ "64M", 64 << 20 },
		{ "64MB", 64 << 20 },
		{ "64MiB", 64 << 20 },
		{ "1G", 1ULL << 30 },
		{ "3g", 3ULL << 30 },
		{ "1T", 1ULL << 40 },
		{ "0x10M", 16 << 20 },
		{ "16777215T", 16777215ULL << 40 },
		{ "18446744073709551615", ~0ULL },
	};
	static const char *const bad[] = { "lots", "",   "64X",   "M",  "1.5G",   "-1",
		                           "64Mx", "0x", "64 MB", "G1", "64MiBB", "64iB" };
	char line[128];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		snprintf(line, sizeof(line), "any=\"%s\"", good[i].in);
		assert_int_equal(parse(line), 0);
		assert_int_equal(o.any, good[i].v);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		snprintf(line, sizeof(line), "any=\"%s\"", bad[i]);
		assert_int_equal(parse(line), 1);
		assert_non_null(strstr(msgs.m[0], "is not a size (use e.g. 64M, 1G)"));
		assert_int_equal(o.any, 0);
	}
	one_problem("mem=lots", "option 'mem': 'lots' is not a size (use e.g. 64M, 1G)");
	one_problem("mem=8G", "option 'mem': '8G' is out of range 1M..4G");
	one_problem("mem=4095", "option 'mem': '4095' is out of range 1M..4G");
	one_problem("any=16777216T", "option 'any': '16777216T' does not fit in 64 bits");
	one_problem("any=0xffffffffffffffffk",
	            "option 'any': '0xffffffffffffffffk' does not fit in 64 bits");
	one_problem("mem=99999999999999999999", /* overflow, but the range says it better */
	            "option 'mem': '99999999999999999999' is out of range 1M..4G");
	assert_int_equal(o.mem, 64 << 20);
}

static void test_uints(void **state)
{
	(void)state;
	one_problem("vcpus=0", "option 'vcpus': '0' is out of range 1..4");
	assert_int_equal(o.vcpus, 2);
	one_problem("vcpus=5", "option 'vcpus': '5' is out of range 1..4");
	one_problem("vcpus=abc", "option 'vcpus': 'abc' is not a number");
	one_problem("vcpus=", "option 'vcpus': '' is not a number");
	one_problem("vcpus=3x", "option 'vcpus': '3x' is not a number");
	one_problem("vcpus=4K", "option 'vcpus': '4K' is not a number");
	one_problem("vcpus=-1", "option 'vcpus': '-1' is not a number");
	assert_int_equal(o.vcpus, 2);
	assert_int_equal(parse("vcpus=0x3"), 0);
	assert_int_equal(o.vcpus, 3);
	assert_int_equal(parse("vcpus=004"), 0);
	assert_int_equal(o.vcpus, 4);
	assert_int_equal(parse("count=18446744073709551615"), 0);
	assert_int_equal(o.count, ~0ULL);
	one_problem("count=18446744073709551616",
	            "option 'count': '18446744073709551616' does not fit in 64 bits");
	one_problem("count=0x10000000000000000",
	            "option 'count': '0x10000000000000000' does not fit in 64 bits");
	assert_int_equal(o.count, 0);
}

static void test_bools(void **state)
{
	static const char *const on[] = { "trace",   "trace=on",   "trace=yes",
		                          "trace=1", "trace=true", "trace=\"on\"" };
	static const char *const off[] = { "trace=off", "trace=no", "trace=0", "trace=false" };

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(on); i++) {
		assert_int_equal(parse(on[i]), 0);
		assert_true(o.trace);
	}
	for (size_t i = 0; i < ARRAY_SIZE(off); i++) {
		defaults();
		o.trace = true;
		assert_int_equal(cmdline_parse(off[i], specs, ARRAY_SIZE(specs), collect, &msgs),
		                 0);
		assert_false(o.trace);
	}
	one_problem("trace=maybe", "option 'trace': 'maybe' is not a boolean (use on/off)");
	one_problem("trace=", "option 'trace': '' is not a boolean (use on/off)");
	one_problem("trace=ON", "option 'trace': 'ON' is not a boolean (use on/off)");
	assert_false(o.trace);
}

static void test_strings_and_quotes(void **state)
{
	(void)state;
	assert_int_equal(parse("platform=\"my box\" vcpus=3"), 0);
	assert_string_equal(o.platform, "my box");
	assert_int_equal(o.vcpus, 3);
	assert_int_equal(parse("platform=a\"b c\"d"), 0);
	assert_string_equal(o.platform, "ab cd");
	assert_int_equal(parse("platform=\"\""), 0);
	assert_string_equal(o.platform, "");
	assert_int_equal(parse("platform=x=y"), 0);
	assert_string_equal(o.platform, "x=y");
	assert_int_equal(parse("run=\"demo,selftest\""), 0);
	assert_string_equal(o.run, "demo,selftest");
	one_problem("platform=\"abc vcpus=3", "option 'platform': unterminated quote (ignored)");
	assert_string_equal(o.platform, "unknown");
	assert_int_equal(o.vcpus, 2); /* swallowed by the open quote */
	one_problem("mode=bogus",
	            "option 'mode': unknown value 'bogus' (choose from: wp, dbit, pml)");
	assert_string_equal(o.mode, "wp");
	assert_int_equal(parse("mode=dbit"), 0);
	assert_string_equal(o.mode, "dbit");
}

/* What GRUB hands over for grub.cfg words with blanks or quotes (grub_create_loader_cmdline). */
static void test_grub_quoting(void **state)
{
	(void)state;
	assert_int_equal(parse("\"platform=console=ttyS0 x=1\" vcpus=3"), 0);
	assert_string_equal(o.platform, "console=ttyS0 x=1");
	assert_int_equal(o.vcpus, 3);
	assert_int_equal(parse("\"platform=x=\\\"y z\\\"\""), 0); /* grub.cfg: 'platform=x="y z"' */
	assert_string_equal(o.platform, "x=\"y z\"");
	assert_int_equal(parse("platform=it\\'s"), 0);
	assert_string_equal(o.platform, "it's");
	assert_int_equal(parse("platform=a\\\\b"), 0);
	assert_string_equal(o.platform, "a\\b");
	assert_int_equal(parse("platform=a\\b\\"), 0); /* a lone backslash is itself */
	assert_string_equal(o.platform, "a\\b\\");
	assert_int_equal(parse("\"exc-test\" \"trace\""), 0);
	assert_true(o.exc_test && o.trace);
	assert_int_equal(parse("\"platform=\""), 0);
	assert_string_equal(o.platform, "");
	one_problem("\"platform=abc", "option 'platform': unterminated quote (ignored)");
	assert_string_equal(o.platform, "unknown");
	one_problem("\"exc-test", "option 'exc-test': unterminated quote (ignored)");
	assert_false(o.exc_test);
	one_problem("\"nosuch=1\"", "unknown option 'nosuch' (ignored)");
}

/* guest= and guest_mods= name GRUB modules by path or basename. */
static void test_module_match(void **state)
{
	(void)state;
	assert_true(cmdline_module_match("guest.elf", "/boot/guest.elf arg=1"));
	assert_true(cmdline_module_match("/boot/guest.elf", "/boot/guest.elf arg=1"));
	assert_true(cmdline_module_match("guest.elf", "guest.elf"));
	assert_true(cmdline_module_match("guest.elf", "  ") == false);
	assert_false(cmdline_module_match("guest", "/boot/guest.elf"));
	assert_false(cmdline_module_match("boot/guest.elf", "/boot/guest.elf"));
	assert_false(cmdline_module_match("arg=1", "/boot/guest.elf arg=1"));
	assert_false(cmdline_module_match("guest.elf", "/boot/guest.elf2"));
	assert_false(cmdline_module_match("", "/boot/guest.elf"));
	assert_false(cmdline_module_match(NULL, "/boot/guest.elf"));
	assert_false(cmdline_module_match("guest.elf", NULL));
	assert_false(cmdline_module_match("boot", "/boot/"));
}

static void test_lists(void **state)
{
	(void)state;
	one_problem("run=bogus", "option 'run': unknown value 'bogus' (choose from: demo, "
	                         "selftest, ad-scan, dirty, all, none)");
	assert_string_equal(o.run, "demo");
	one_problem("run=demo,,selftest", "option 'run': empty item in 'demo,,selftest'");
	one_problem("run=demo,", "option 'run': empty item in 'demo,'");
	one_problem("run=", "option 'run': empty item in ''");
	assert_int_equal(parse("run=bogus,demo,also"), 2);
	assert_non_null(strstr(msgs.m[1], "unknown value 'also'"));
	assert_string_equal(o.run, "demo");
	assert_int_equal(parse("run=all"), 0);
	assert_string_equal(o.run, "all");
	assert_int_equal(parse("words=anything,goes"), 0);
	assert_string_equal(o.words, "anything,goes");
}

static void test_choices_shortened(void **state)
{
	static const char *const many[] = {
		"alpha",  "bravo",   "charlie", "delta", "echo",    "foxtrot",  "golf",    "hotel",
		"india",  "juliett", "kilo",    "lima",  "mike",    "november", "oscar",   "papa",
		"quebec", "romeo",   "sierra",  "tango", "uniform", "victor",   "whiskey", NULL,
	};
	char dst[16] = "alpha";
	const struct opt_spec s[] = { { "w", OPT_LIST, dst, 0, 0, sizeof(dst), many, "" } };

	(void)state;
	defaults();
	assert_int_equal(cmdline_parse("w=zulu", s, 1, collect, &msgs), 1);
	assert_non_null(strstr(msgs.m[0], "(choose from: alpha, bravo, "));
	assert_non_null(strstr(msgs.m[0], "...)"));
	assert_string_equal(dst, "alpha");
}

/* ---- the other problems -------------------------------------------------------------------- */

static void test_unknown_and_bare(void **state)
{
	(void)state;
	one_problem("foo", "unknown option 'foo' (ignored)");
	one_problem("foo=1", "unknown option 'foo' (ignored)");
	one_problem("/boot/eptvisor.elf", "unknown option '/boot/eptvisor.elf' (ignored)");
	one_problem("vcpus", "option 'vcpus' needs a value (vcpus=...)");
	one_problem("run", "option 'run' needs a value (run=...)");
	one_problem("Trace", "unknown option 'Trace' (ignored)");
	one_problem("tracex", "unknown option 'tracex' (ignored)");
	one_problem("trac", "unknown option 'trac' (ignored)");
	assert_int_equal(parse("foo vcpus=3 bar=\"x y\" trace"), 2);
	assert_string_equal(msgs.m[1], "unknown option 'bar' (ignored)");
	assert_int_equal(o.vcpus, 3);
	assert_true(o.trace);
}

static void test_empty_name(void **state)
{
	(void)state;
	one_problem("=5", "empty option name in '=5' (ignored)");
	one_problem("=", "empty option name in '=' (ignored)");
	one_problem("==", "empty option name in '==' (ignored)");
}

/* Quoted names and values may hold line breaks and other control characters; a report
 * quotes them as '?', so it stays one line and cannot forge lines of the serial log. */
static void test_report_one_line(void **state)
{
	(void)state;
	one_problem("\"\n@\"", "unknown option '?@' (ignored)");
	one_problem("\"x\r\nok 1 - forged\"", "unknown option 'x??ok 1 - forged' (ignored)");
	one_problem("vcpus=\"1\n2\"", "option 'vcpus': '1?2' is not a number");
	one_problem("mode=\"\x1b[2J\"", "option 'mode': unknown value '?[2J' (choose from: wp, "
	                                "dbit, pml)");
}

static void test_twice(void **state)
{
	(void)state;
	one_problem("vcpus=2 vcpus=3", "option 'vcpus' given twice (last wins)");
	assert_int_equal(o.vcpus, 3);
	one_problem("vcpus=3 vcpus=9", "option 'vcpus': '9' is out of range 1..4");
	assert_int_equal(o.vcpus, 3); /* the last *valid* one wins */
	assert_int_equal(parse("trace trace=off trace"), 2);
	assert_true(o.trace);
}

static void test_too_long(void **state)
{
	char line[1200], name[100];

	(void)state;
	one_problem("platform=0123456789012345678901234567890123456789",
	            "option 'platform': value too long (max 31 characters)");
	assert_string_equal(o.platform, "unknown");
	assert_int_equal(parse("platform=0123456789012345678901234567890"), 0); /* 31: fits */
	snprintf(line, sizeof(line), "count=%01100d", 7); /* longer than any value may be */
	one_problem(line, "option 'count': value too long (max 1023 characters)");
	assert_int_equal(o.count, 0);
	snprintf(line, sizeof(line), "count=%01023d", 7); /* the longest value: fine */
	assert_int_equal(parse(line), 0);
	assert_int_equal(o.count, 7);
	memset(name, 'n', 99);
	name[99] = 0;
	snprintf(line, sizeof(line), "%s=1", name);
	assert_int_equal(parse(line), 1);
	assert_int_equal(strlen(msgs.m[0]), strlen("unknown option '' (ignored)") + 48 + 3);
	assert_non_null(strstr(msgs.m[0], "nnn...' (ignored)"));
}

static void test_no_report_callback(void **state)
{
	(void)state;
	defaults();
	assert_int_equal(cmdline_parse("foo vcpus=0 trace", specs, ARRAY_SIZE(specs), NULL, NULL),
	                 2);
	assert_true(o.trace);
}

static void test_broken_table(void **state)
{
	u64 v = 0;
	char s[4];
	const struct opt_spec no_name[] = { { NULL, OPT_UINT, &v, 0, 0, 0, NULL, "" } };
	const struct opt_spec empty_name[] = { { "", OPT_UINT, &v, 0, 0, 0, NULL, "" } };
	const struct opt_spec no_dst[] = { { "v", OPT_UINT, NULL, 0, 0, 0, NULL, "" } };
	const struct opt_spec no_size[] = { { "s", OPT_STR, s, 0, 0, 0, NULL, "" } };
	const struct opt_spec bad_type[] = { { "v", (enum opt_type)99, &v, 0, 0, 0, NULL, "" } };

	(void)state;
	defaults();
	assert_int_equal(cmdline_parse("v=1", no_name, 1, collect, &msgs), -EINVAL);
	assert_int_equal(cmdline_parse("v=1", empty_name, 1, collect, &msgs), -EINVAL);
	assert_int_equal(cmdline_parse("v=1", no_dst, 1, collect, &msgs), -EINVAL);
	assert_int_equal(cmdline_parse("s=1", no_size, 1, collect, &msgs), -EINVAL);
	assert_int_equal(cmdline_parse("v=1", bad_type, 1, collect, &msgs), -EINVAL);
	assert_int_equal(cmdline_parse("v=1", specs, -1, collect, &msgs), -EINVAL);
	assert_int_equal(cmdline_parse("v=1", specs, CMDLINE_MAX_SPECS + 1, collect, &msgs),
	                 -EINVAL);
	assert_int_equal(cmdline_parse("v=1", NULL, 1, collect, &msgs), -EINVAL);
	assert_int_equal(msgs.n, 0);
	assert_int_equal(v, 0);
}

/* ---- fuzzing ------------------------------------------------------------------------------- */

static void check_outputs_sane(void)
{
	assert_non_null(memchr(o.run, 0, sizeof(o.run)));
	assert_non_null(memchr(o.platform, 0, sizeof(o.platform)));
	assert_non_null(memchr(o.mode, 0, sizeof(o.mode)));
	assert_non_null(memchr(o.words, 0, sizeof(o.words)));
	assert_true(o.vcpus >= 1 && o.vcpus <= 4);
	assert_true(o.mem >= (1 << 20) && o.mem <= (4ULL << 30));
}

static void test_fuzz(void **state)
{
	static const char *const pieces[] = {
		"run",      "vcpus", "mem",   "count",       "any", "platform", "trace",
		"exc-test", "mode",  "words", "=",           "=",   "\"",       " ",
		" ",        ",",     "demo",  "all",         "0",   "1",        "4",
		"64",       "M",     "G",     "k",           "0x",  "ff",       "on",
		"off",      "pml",   "\t",    "99999999999", "x",   "iB",
	};
	unsigned seed = 7;
	int total = 0;

	(void)state;
	for (int i = 0; i < 30000; i++) {
		char line[1200];
		size_t n = 0, want = rand_r(&seed) % 1100;

		while (n < want) {
			const char *p = pieces[rand_r(&seed) % ARRAY_SIZE(pieces)];
			size_t l = strlen(p);

			if (rand_r(&seed) % 16 == 0) /* now and then any byte but NUL */
				line[n++] = 1 + rand_r(&seed) % 255;
			else if (n + l < want)
				memcpy(line + n, p, l), n += l;
			else
				break;
		}
		line[n] = 0;
		total += parse(line);
		check_outputs_sane();
	}
	print_message("fuzz: %d problems reported over 30000 random lines\n", total);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_lines),
		cmocka_unit_test(test_all_types),
		cmocka_unit_test(test_blanks_separate),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_uints),
		cmocka_unit_test(test_bools),
		cmocka_unit_test(test_strings_and_quotes),
		cmocka_unit_test(test_grub_quoting),
		cmocka_unit_test(test_module_match),
		cmocka_unit_test(test_lists),
		cmocka_unit_test(test_choices_shortened),
		cmocka_unit_test(test_unknown_and_bare),
		cmocka_unit_test(test_empty_name),
		cmocka_unit_test(test_report_one_line),
		cmocka_unit_test(test_twice),
		cmocka_unit_test(test_too_long),
		cmocka_unit_test(test_no_report_callback),
		cmocka_unit_test(test_broken_table),
		cmocka_unit_test(test_fuzz),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
