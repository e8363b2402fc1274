/* SPDX-License-Identifier: BSD-3-Clause */
/* hm_idlist: "1,3-5" lists in the order written, every refusal, and back to text. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "hm_idlist.h"

struct ids {
	unsigned int id[16];
	unsigned int n;
};

static int add(void *arg, unsigned int id, char *why, size_t whylen)
{
	struct ids *l = arg;

	if (id == 13) { /* the caller's own refusal comes back as it was */
		snprintf(why, whylen, "13 is refused");
		return -EINVAL;
	}
	cr_assert_lt(l->n, 16);
	l->id[l->n++] = id;
	return 0;
}

static void expect_ids(const char *text, const unsigned int *want, unsigned int n)
{
	struct ids l = {0};
	char why[128] = "";

	cr_assert_eq(hm_idlist_parse(text, 63, "CPU", add, &l, why, sizeof(why)), 0, "\"%s\": %s",
		     text, why);
	cr_assert_eq(l.n, n, "\"%s\": %u ids, want %u", text, l.n, n);
	for (unsigned int i = 0; i < n; i++)
		cr_assert_eq(l.id[i], want[i], "\"%s\": id %u is %u, want %u", text, i, l.id[i],
			     want[i]);
}

static void expect_refused(const char *text, const char *reason)
{
	struct ids l = {0};
	char why[128] = "";

	cr_assert_eq(hm_idlist_parse(text, 63, "CPU", add, &l, why, sizeof(why)), -EINVAL,
		     "\"%s\" was taken", text);
	cr_assert(strstr(why, reason), "\"%s\": reason \"%s\", want \"%s\"", text, why, reason);
}

Test(hm_idlist, ids_in_the_order_written)
{
	expect_ids("", NULL, 0);
	expect_ids("7", (unsigned int[]){7}, 1);
	expect_ids("5,1,3-4", (unsigned int[]){5, 1, 3, 4}, 4);
	expect_ids("0-2,63", (unsigned int[]){0, 1, 2, 63}, 4);
	expect_ids("9-9", (unsigned int[]){9}, 1);
}

Test(hm_idlist, malformed_lists_and_ids_out_of_range_are_refused)
{
	const char *bad[] = {"x", "1,", ",1", "1,,2", "1-", "-1", "3-1", " 1", "+1", "1 ", "1;2",
			     "1-2-3"};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_refused(bad[i], "expected a list like");
	expect_refused("64", "CPU id 64 above 63");
	expect_refused("60-70", "CPU id 70 above 63");
	expect_refused("12-14", "13 is refused");
}

Test(hm_idlist, formats_runs_and_reads_back)
{
	unsigned long long bits[2] = {0};
	char buf[64];

	cr_assert_eq(hm_idlist_format(bits, 128, buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, "");
	bits[0] = 0xfull | 1ull << 6 | 1ull << 63;
	bits[1] = 1ull | 1ull << 2; /* 64 runs on from 63 */
	cr_assert_eq(hm_idlist_format(bits, 128, buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, "0-3,6,63-64,66");
	cr_assert_eq(hm_idlist_format(bits, 128, buf, 8), -ENOSPC);
}
