/* SPDX-License-Identifier: BSD-3-Clause */
/* hm_hex: the round trip, both cases in, and every refusal. */
#include <criterion/criterion.h>
#include <string.h>

#include "hm_hex.h"

Test(hm_hex, encodes_lowercase_and_decodes_either_case)
{
	const uint8_t in[5] = {0x00, 0x9f, 0xa0, 0xff, 0x5c};
	uint8_t out[5] = {0};
	char hex[11];

	hm_hex_encode(in, sizeof(in), hex);
	cr_assert_str_eq(hex, "009fa0ff5c");
	cr_assert_eq(hm_hex_decode(hex, out, sizeof(out)), 0);
	cr_assert_eq(memcmp(in, out, sizeof(in)), 0);
	memset(out, 0, sizeof(out));
	cr_assert_eq(hm_hex_decode("009FA0fF5C", out, sizeof(out)), 0);
	cr_assert_eq(memcmp(in, out, sizeof(in)), 0);
	hm_hex_encode(in, 0, hex);
	cr_assert_str_eq(hex, "");
}

Test(hm_hex, refuses_other_lengths_and_non_digits)
{
	uint8_t out[4];

	cr_assert_eq(hm_hex_decode("0011223", out, 4), -1);    /* short by one digit */
	cr_assert_eq(hm_hex_decode("001122", out, 4), -1);     /* short by a byte */
	cr_assert_eq(hm_hex_decode("0011223344", out, 4), -1); /* too long */
	cr_assert_eq(hm_hex_decode("00112g33", out, 4), -1);
	cr_assert_eq(hm_hex_decode("0011 233", out, 4), -1);
	cr_assert_eq(hm_hex_decode("0x112233", out, 4), -1);
	cr_assert_eq(hm_hex_decode("", out, 0), 0);
}
