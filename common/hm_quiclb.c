/* SPDX-License-Identifier: BSD-3-Clause */
#include "hm_quiclb.h"

#include <errno.h>
#include <string.h>

int hm_quiclb_aes_init(struct hm_quiclb_aes *a, const uint8_t key[HM_QUICLB_KEY_LEN])
{
	memset(a, 0, sizeof(*a));
	if (wc_AesInit(&a->enc, NULL, INVALID_DEVID) != 0)
		return -EINVAL;
	if (wc_AesInit(&a->dec, NULL, INVALID_DEVID) != 0)
		goto err_free_enc;
	if (wc_AesSetKey(&a->enc, key, HM_QUICLB_KEY_LEN, NULL, AES_ENCRYPTION) != 0 ||
	    wc_AesSetKey(&a->dec, key, HM_QUICLB_KEY_LEN, NULL, AES_DECRYPTION) != 0)
		goto err_free_dec;
	a->on = true;
	return 0;

err_free_dec:
	wc_AesFree(&a->dec);
err_free_enc:
	wc_AesFree(&a->enc);
	memset(a, 0, sizeof(*a));
	return -EINVAL;
}

void hm_quiclb_aes_fini(struct hm_quiclb_aes *a)
{
	if (!a->on)
		return;
	wc_AesFree(&a->enc);
	wc_AesFree(&a->dec);
	a->on = false;
}

/*
 * One pass of §5.4.2: the block is the source half at its left, zeros,
 * the plaintext length in octet 14 and the pass number in octet 15; the
 * first @half octets of its encryption are XORed into the other half.
 * Odd passes go left to right, even passes right to left. With an odd
 * length the middle octet is split: its high nibble belongs to the left
 * half, its low nibble to the right, and the other nibble of each half is
 * kept zero.
 */
static int fourpass_step(const struct hm_quiclb_aes *a, unsigned int pass, uint8_t *left,
			 uint8_t *right, size_t half, size_t len)
{
	const bool odd = len & 1;
	const uint8_t *src = (pass & 1) ? left : right;
	uint8_t *dst = (pass & 1) ? right : left;
	uint8_t block[16] = { 0 }, ks[16];

	memcpy(block, src, half);
	block[14] = (uint8_t)len;
	block[15] = (uint8_t)pass;
	/* wc_AesEncryptDirect takes a non-const Aes: it does not change the key schedule. */
	if (wc_AesEncryptDirect((Aes *)&a->enc, ks, block) != 0)
		return -EINVAL;
	for (size_t i = 0; i < half; i++)
		dst[i] ^= ks[i];
	if (odd) {
		left[half - 1] &= 0xf0;
		right[0] &= 0x0f;
	}
	return 0;
}

/* Four passes over @len octets, forwards (encrypt) or backwards (decrypt). */
static int fourpass(const struct hm_quiclb_aes *a, const uint8_t *in, size_t len, uint8_t *out,
		    bool decrypt)
{
	const size_t half = (len + 1) / 2;
	uint8_t left[HM_QUICLB_PLAIN_MAX / 2 + 1], right[HM_QUICLB_PLAIN_MAX / 2 + 1];

	memcpy(left, in, half);
	memcpy(right, in + len - half, half);
	if (len & 1) {
		left[half - 1] &= 0xf0;
		right[0] &= 0x0f;
	}
	for (unsigned int p = 1; p <= 4; p++)
		if (fourpass_step(a, decrypt ? 5 - p : p, left, right, half, len) < 0)
			return -EINVAL;
	memcpy(out, left, half);
	memcpy(out + len - half, right, half);
	if (len & 1)
		out[half - 1] = (uint8_t)(left[half - 1] | right[0]);
	return 0;
}

int hm_quiclb_encrypt(const struct hm_quiclb_aes *a, const uint8_t *in, size_t len, uint8_t *out)
{
	if (!a->on || len < HM_QUICLB_PLAIN_MIN || len > HM_QUICLB_PLAIN_MAX)
		return -EINVAL;
	if (len == 16) {
		uint8_t block[16];

		memcpy(block, in, sizeof(block)); /* @in may be @out */
		return wc_AesEncryptDirect((Aes *)&a->enc, out, block) == 0 ? 0 : -EINVAL;
	}
	return fourpass(a, in, len, out, false);
}

int hm_quiclb_decrypt(const struct hm_quiclb_aes *a, const uint8_t *in, size_t len, uint8_t *out)
{
	if (!a->on || len < HM_QUICLB_PLAIN_MIN || len > HM_QUICLB_PLAIN_MAX)
		return -EINVAL;
	if (len == 16) {
		uint8_t block[16];

		memcpy(block, in, sizeof(block));
		return wc_AesDecryptDirect((Aes *)&a->dec, out, block) == 0 ? 0 : -EINVAL;
	}
	return fourpass(a, in, len, out, true);
}

int hm_quiclb_server_id(const struct hm_quiclb_aes *a, const uint8_t *cid, size_t len,
			unsigned int sid_len, uint32_t *server_id)
{
	uint8_t plain[HM_QUICLB_PLAIN_MAX];
	const uint8_t *s = cid + 1;
	uint32_t v = 0;

	if (len < 2 || len > 1 + HM_QUICLB_PLAIN_MAX || (size_t)(cid[0] & 0x1f) != len - 1 ||
	    sid_len < 1 || sid_len > 4 || sid_len > len - 1)
		return -EINVAL;
	if (a && a->on) {
		if (hm_quiclb_decrypt(a, cid + 1, len - 1, plain) < 0)
			return -EINVAL;
		s = plain;
	}
	for (unsigned int i = 0; i < sid_len; i++)
		v = v << 8 | s[i];
	*server_id = v;
	return 0;
}
