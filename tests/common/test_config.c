/* SPDX-License-Identifier: BSD-3-Clause */
/* hm_config: the config-key table — defaults, bounds, files, atomic failure. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "hm_config.h"

struct demo {
	uint32_t ring_size;
	int32_t offset;
	uint64_t big;
	double ratio;
	bool fast;
	char name[8];
	int mode;
};

static const char *const modes[] = { "off", "rtc", "pipeline", NULL };

#define F(m) HM_CFG_FIELD(struct demo, m)
static const struct hm_cfg_key keys[] = {
	{ .name = "ring_size", .type = HM_CFG_U32, .def = "1024", F(ring_size), .min = 64,
	  .max = 65536, .validate = hm_cfg_validate_pow2, .runtime = false },
	{ .name = "offset", .type = HM_CFG_I32, .def = "-1", F(offset), .min = -1, .max = 15,
	  .runtime = true },
	{ .name = "big", .type = HM_CFG_U64, .def = "0", F(big), .min = 0, .max = 0 },
	{ .name = "ratio", .type = HM_CFG_DOUBLE, .def = "0.5", F(ratio), .dmin = 0, .dmax = 1 },
	{ .name = "fast", .type = HM_CFG_BOOL, .def = "no", F(fast), .runtime = true },
	{ .name = "name", .type = HM_CFG_STR, .def = "node", F(name) },
	{ .name = "mode", .type = HM_CFG_ENUM, .def = "rtc", F(mode), .enum_names = modes },
};
static const struct hm_cfg_table table = { "demo config", keys, sizeof(keys) / sizeof(keys[0]),
					   sizeof(struct demo) };

static struct demo d;
static char err[512];

static void setup(void)
{
	cr_assert_eq(hm_cfg_defaults(&table, &d, err, sizeof(err)), 0, "%s", err);
}

TestSuite(config, .init = setup);

Test(config, defaults_are_parsed_from_the_table)
{
	cr_assert_eq(d.ring_size, 1024);
	cr_assert_eq(d.offset, -1);
	cr_assert_float_eq(d.ratio, 0.5, 1e-12);
	cr_assert_eq(d.fast, false);
	cr_assert_str_eq(d.name, "node");
	cr_assert_eq(d.mode, 1);
}

Test(config, error_names_key_and_value)
{
	cr_assert_eq(hm_cfg_set(&table, &d, "ring_size", "1000", false, err, sizeof(err)), -EINVAL);
	cr_assert_str_eq(err, "\"ring_size\" is 1000: must be a power of two");
	cr_assert_eq(d.ring_size, 1024, "state changed after a rejected set");
}

Test(config, bounds_are_enforced)
{
	cr_assert_eq(hm_cfg_set(&table, &d, "ring_size", "32", false, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "between 64 and 65536"), "%s", err);
	cr_assert_eq(hm_cfg_set(&table, &d, "offset", "-2", false, err, sizeof(err)), -EINVAL);
	cr_assert_eq(hm_cfg_set(&table, &d, "ratio", "1.5", false, err, sizeof(err)), -EINVAL);
	cr_assert_eq(hm_cfg_set(&table, &d, "ring_size", "-64", false, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "negative"), "%s", err);
	cr_assert_eq(hm_cfg_set(&table, &d, "ring_size", "99999999999999999999", false, err,
			       sizeof(err)),
		     -EINVAL);
	cr_assert_eq(hm_cfg_set(&table, &d, "offset", "15", false, err, sizeof(err)), 0);
	cr_assert_eq(d.offset, 15);
}

Test(config, types_reject_garbage)
{
	cr_assert_eq(hm_cfg_set(&table, &d, "ring_size", "12ab", false, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "not an integer"), "%s", err);
	cr_assert_eq(hm_cfg_set(&table, &d, "fast", "maybe", false, err, sizeof(err)), -EINVAL);
	cr_assert_eq(hm_cfg_set(&table, &d, "ratio", "nan", false, err, sizeof(err)), -EINVAL);
	cr_assert_eq(hm_cfg_set(&table, &d, "name", "toolongname", false, err, sizeof(err)),
		     -EINVAL);
	cr_assert_eq(hm_cfg_set(&table, &d, "mode", "turbo", false, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "off, rtc, pipeline"), "%s", err);
	cr_assert_eq(hm_cfg_set(&table, &d, "fast", "ON", false, err, sizeof(err)), 0);
	cr_assert_eq(d.fast, true);
}

Test(config, unknown_key_is_an_error)
{
	cr_assert_eq(hm_cfg_set(&table, &d, "rign_size", "64", false, err, sizeof(err)), -ENOENT);
	cr_assert(strstr(err, "\"rign_size\": unknown key"), "%s", err);
}

Test(config, runtime_only_refuses_static_keys)
{
	cr_assert_eq(hm_cfg_set(&table, &d, "ring_size", "64", true, err, sizeof(err)), -EPERM);
	cr_assert_eq(d.ring_size, 1024);
	cr_assert_eq(hm_cfg_set(&table, &d, "offset", "3", true, err, sizeof(err)), 0);
	cr_assert_eq(d.offset, 3);
}

Test(config, file_loads_with_comments_quotes_and_blank_lines)
{
	const char *text = "# comment\n\n ring_size = 4096  # trailing\nname = \"a#b\"\n"
			   "mode=pipeline\r\nbig = 18446744073709551615\n";

	/* \r is whitespace, trimmed like any other */
	cr_assert_eq(hm_cfg_load_string(&table, &d, text, "t.conf", err, sizeof(err)), -EINVAL,
		     "u64 max beyond INT64 must be refused: %s", err);
	text = "# comment\n\n ring_size = 4096  # trailing\nname = \"a#b\"\nmode=pipeline\r\n";
	cr_assert_eq(hm_cfg_load_string(&table, &d, text, "t.conf", err, sizeof(err)), 0, "%s",
		     err);
	cr_assert_eq(d.ring_size, 4096);
	cr_assert_str_eq(d.name, "a#b");
	cr_assert_eq(d.mode, 2);
}

Test(config, bad_file_line_names_file_line_and_key_and_changes_nothing)
{
	const char *text = "ring_size = 2048\noffset = 3\nring_size = 100\n";

	cr_assert_eq(hm_cfg_load_string(&table, &d, text, "node.conf", err, sizeof(err)), -EINVAL);
	cr_assert_str_eq(err, "node.conf:3: \"ring_size\" is 100: must be a power of two");
	cr_assert_eq(d.ring_size, 1024, "earlier lines of a failed file must not apply");
	cr_assert_eq(d.offset, -1);
}

Test(config, malformed_lines)
{
	cr_assert_eq(hm_cfg_load_string(&table, &d, "ring_size 64\n", "x", err, sizeof(err)),
		     -EINVAL);
	cr_assert(strstr(err, "x:1: expected \"key = value\""), "%s", err);
	cr_assert_eq(hm_cfg_load_string(&table, &d, "= 5\n", "x", err, sizeof(err)), -EINVAL);
	cr_assert_eq(hm_cfg_load_string(&table, &d, "name = \"abc\n", "x", err, sizeof(err)),
		     -EINVAL);
	cr_assert(strstr(err, "unterminated"), "%s", err);
	cr_assert_eq(hm_cfg_load_string(&table, &d, "ring_size =\n", "x", err, sizeof(err)),
		     -EINVAL);
	cr_assert(strstr(err, "is empty"), "%s", err);
}

Test(config, load_file_reports_missing_file)
{
	cr_assert_eq(hm_cfg_load_file(&table, &d, "/nonexistent/x.conf", err, sizeof(err)),
		     -ENOENT);
	cr_assert(strstr(err, "/nonexistent/x.conf: cannot open"), "%s", err);
}

Test(config, load_file_round_trips_print)
{
	char path[] = "/tmp/hm_cfg_XXXXXX";
	int fd = mkstemp(path);
	FILE *f;
	struct demo e;

	cr_assert(fd >= 0);
	f = fdopen(fd, "w");
	d.ring_size = 256;
	d.offset = 7;
	d.ratio = 0.25;
	d.fast = true;
	strcpy(d.name, "n1");
	d.mode = 0;
	hm_cfg_print(&table, &d, f);
	fclose(f);
	cr_assert_eq(hm_cfg_defaults(&table, &e, err, sizeof(err)), 0);
	cr_assert_eq(hm_cfg_load_file(&table, &e, path, err, sizeof(err)), 0, "%s", err);
	unlink(path);
	cr_assert_eq(e.ring_size, 256);
	cr_assert_eq(e.offset, 7);
	cr_assert_float_eq(e.ratio, 0.25, 1e-12);
	cr_assert_eq(e.fast, true);
	cr_assert_str_eq(e.name, "n1");
	cr_assert_eq(e.mode, 0);
}
