/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hm_quiclb against draft-ietf-quic-load-balancers-19: its worked example of
 * four-pass encryption (§5.4.2) and the encrypted vectors of Appendix B
 * (three lengths that take four passes, one that takes a single block),
 * then round trips at every length and refusals of lengths it cannot take.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hm_quiclb.h"

static size_t unhex(const char *s, uint8_t *out)
{
	size_t n = 0;

	for (; s[0] && s[1]; s += 2) {
		char b[3] = { s[0], s[1], 0 };

		out[n++] = (uint8_t)strtoul(b, NULL, 16);
	}
	return n;
}

static void key(struct hm_quiclb_aes *a, const char *hex)
{
	uint8_t k[HM_QUICLB_KEY_LEN];

	cr_assert_eq(unhex(hex, k), sizeof(k));
	cr_assert_eq(hm_quiclb_aes_init(a, k), 0);
}

/* server id || nonce encrypts to @cipher and back. */
static void vector(const struct hm_quiclb_aes *a, const char *plain_hex, const char *cipher_hex)
{
	uint8_t plain[32], cipher[32], out[32];
	size_t n = unhex(plain_hex, plain);

	cr_assert_eq(unhex(cipher_hex, cipher), n);
	cr_assert_eq(hm_quiclb_encrypt(a, plain, n, out), 0);
	cr_expect_arr_eq(out, cipher, n, "%zu octets: encryption differs from the draft", n);
	cr_assert_eq(hm_quiclb_decrypt(a, cipher, n, out), 0);
	cr_expect_arr_eq(out, plain, n, "%zu octets: decryption differs from the draft", n);
}

/* §5.4.2's example: server id 31441a, nonce 9c69c275 (7 octets, odd). */
Test(quiclb, draft_worked_example)
{
	struct hm_quiclb_aes a;

	key(&a, "fdf726a9893ec05c0632d3956680baf0");
	vector(&a, "31441a9c69c275", "67947d29be054a");
	hm_quiclb_aes_fini(&a);
}

/*
 * Appendix B, encrypted CIDs (the octets after the first): server id
 * ed793a51d49b8f5fab65ba04c3330a, nonce ee080dbf48c0d1e55d52de4de3e72193,
 * each cut to the config's lengths.
 */
Test(quiclb, draft_appendix_b_vectors)
{
	struct hm_quiclb_aes a;

	key(&a, "8f95f09245765f80256934e50c66207f");
	vector(&a, "ed793a" "ee080dbf", "20b1d07b359d3c");			  /* 3 + 4 */
	vector(&a, "ed793a51d49b8f5fab65" "ee080dbf48",
	       "cc381bc74cb4fbad2823a3d1f8fed2");				  /* 10 + 5 */
	vector(&a, "ed793a51d49b8f5f" "ee080dbf48c0d1e5",
	       "4dd2d05a7b0de9b2b9907afb5ecf8cc3");				  /* 8 + 8: one block */
	vector(&a, "ed793a51d49b8f5fab" "ee080dbf48c0d1e55d",
	       "5779c9cc86beb3a3a4a3ca96fce4bfe0cdbc");			  /* 9 + 9 */
	hm_quiclb_aes_fini(&a);
}

/* Every length a CID can carry, random contents: decrypt(encrypt(x)) = x, in place too. */
Test(quiclb, round_trip_at_every_length)
{
	struct hm_quiclb_aes a;

	key(&a, "000102030405060708090a0b0c0d0e0f");
	srand(11);
	for (size_t n = HM_QUICLB_PLAIN_MIN; n <= HM_QUICLB_PLAIN_MAX; n++) {
		for (int r = 0; r < 200; r++) {
			uint8_t plain[HM_QUICLB_PLAIN_MAX], buf[HM_QUICLB_PLAIN_MAX];

			for (size_t i = 0; i < n; i++)
				plain[i] = (uint8_t)rand();
			memcpy(buf, plain, n);
			cr_assert_eq(hm_quiclb_encrypt(&a, buf, n, buf), 0);
			cr_assert(memcmp(buf, plain, n) != 0, "%zu octets left in the clear", n);
			cr_assert_eq(hm_quiclb_decrypt(&a, buf, n, buf), 0);
			cr_assert_arr_eq(buf, plain, n, "%zu octets: round trip differs", n);
		}
	}
	hm_quiclb_aes_fini(&a);
}

/* A changed octet of ciphertext changes the server id read from it (no half is left alone). */
Test(quiclb, every_ciphertext_octet_reaches_the_server_id)
{
	struct hm_quiclb_aes a;
	uint8_t plain[7] = { 0x31, 0x44, 0x1a, 0x9c, 0x69, 0xc2, 0x75 }, c[7], p[7];

	key(&a, "fdf726a9893ec05c0632d3956680baf0");
	cr_assert_eq(hm_quiclb_encrypt(&a, plain, sizeof(plain), c), 0);
	for (size_t i = 0; i < sizeof(c); i++) {
		c[i] ^= 0x01;
		cr_assert_eq(hm_quiclb_decrypt(&a, c, sizeof(c), p), 0);
		cr_expect(memcmp(p, plain, 3) != 0, "octet %zu does not reach the server id", i);
		c[i] ^= 0x01;
	}
	hm_quiclb_aes_fini(&a);
}

Test(quiclb, lengths_and_keys_it_cannot_take_are_refused)
{
	struct hm_quiclb_aes a, off;
	uint8_t buf[32] = { 0 };

	key(&a, "000102030405060708090a0b0c0d0e0f");
	cr_expect_eq(hm_quiclb_encrypt(&a, buf, HM_QUICLB_PLAIN_MIN - 1, buf), -EINVAL);
	cr_expect_eq(hm_quiclb_encrypt(&a, buf, HM_QUICLB_PLAIN_MAX + 1, buf), -EINVAL);
	cr_expect_eq(hm_quiclb_decrypt(&a, buf, 0, buf), -EINVAL);
	memset(&off, 0, sizeof(off)); /* never keyed */
	cr_expect_eq(hm_quiclb_encrypt(&off, buf, 8, buf), -EINVAL);
	hm_quiclb_aes_fini(&off);
	hm_quiclb_aes_fini(&a);
	hm_quiclb_aes_fini(&a); /* twice: a no-op */
}
