/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * stoq_token.c — Retry tokens and stateless reset tokens with wolfCrypt.
 *
 * Retry token (RFC 9000 §8.1.2, §8.1.4): AES-128-GCM, so the server keeps no
 * state and a client cannot forge or alter one.
 *   magic(1) | iv(12) | E(expiry_ns(8) | odcid_len(1) | odcid(20)) | tag(16)
 * The additional data binds the token to the client's address and to the
 * source CID of our Retry (which the client echoes as its new DCID), so a
 * token captured on one path or for one Retry is useless elsewhere.
 *
 * Stateless reset token (RFC 9000 §10.3.2): HMAC-SHA256(static key, CID)
 * truncated to 16 octets, so any packet carrying a CID we issued can be
 * answered after a restart without remembering the connection.
 */
#include <errno.h>
#include <string.h>

#include "stoq_priv.h"

#define TOKEN_MAGIC 0x52
#define TOKEN_IV 12
#define TOKEN_TAG 16
#define TOKEN_PLAIN (8 + 1 + STOQ_CID_MAX)
#define TOKEN_SIZE (1 + TOKEN_IV + TOKEN_PLAIN + TOKEN_TAG)

_Static_assert(TOKEN_SIZE <= STOQ_TOKEN_LEN, "STOQ_TOKEN_LEN too small");

int stoq_token_keys_init(struct stoq_token_keys *k, WC_RNG *rng)
{
	uint8_t key[16];

	memset(k, 0, sizeof(*k));
	k->rng = rng;
	if (wc_RNG_GenerateBlock(rng, key, sizeof(key)) != 0 ||
	    wc_RNG_GenerateBlock(rng, k->reset_key, sizeof(k->reset_key)) != 0)
		return -EIO;
	if (wc_AesInit(&k->gcm, NULL, INVALID_DEVID) != 0)
		return -EINVAL;
	if (wc_AesGcmSetKey(&k->gcm, key, sizeof(key)) != 0) {
		wc_AesFree(&k->gcm);
		return -EINVAL;
	}
	memset(key, 0, sizeof(key));
	return 0;
}

void stoq_token_keys_fini(struct stoq_token_keys *k)
{
	wc_AesFree(&k->gcm);
	memset(k->reset_key, 0, sizeof(k->reset_key));
}

/* Address bytes (family, port, address) then the Retry SCID. */
static size_t token_aad(uint8_t *aad, const struct sockaddr *sa, socklen_t len,
			const uint8_t *scid, size_t scidlen)
{
	size_t n = 0;

	if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *s = (const void *)sa;

		aad[n++] = 4;
		memcpy(aad + n, &s->sin_port, 2);
		memcpy(aad + n + 2, &s->sin_addr, 4);
		n += 6;
	} else if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *s = (const void *)sa;

		aad[n++] = 6;
		memcpy(aad + n, &s->sin6_port, 2);
		memcpy(aad + n + 2, &s->sin6_addr, 16);
		n += 18;
	}
	memcpy(aad + n, scid, scidlen);
	return n + scidlen;
}

int stoq_token_retry_make(struct stoq_token_keys *k, const struct sockaddr *remote,
			  socklen_t rlen, const uint8_t *retry_scid, size_t scidlen,
			  const uint8_t *odcid, size_t odcidlen, uint64_t now, uint64_t lifetime_ns,
			  uint8_t *out, size_t outlen)
{
	uint8_t plain[TOKEN_PLAIN] = { 0 }, aad[64];
	uint64_t expiry = now + lifetime_ns;
	size_t aadlen;

	if (outlen < TOKEN_SIZE || odcidlen > STOQ_CID_MAX || scidlen > STOQ_CID_MAX)
		return -EINVAL;
	for (int i = 0; i < 8; i++)
		plain[i] = (uint8_t)(expiry >> (56 - 8 * i));
	plain[8] = (uint8_t)odcidlen;
	memcpy(plain + 9, odcid, odcidlen);
	aadlen = token_aad(aad, remote, rlen, retry_scid, scidlen);
	out[0] = TOKEN_MAGIC;
	if (wc_RNG_GenerateBlock(k->rng, out + 1, TOKEN_IV) != 0)
		return -EIO;
	if (wc_AesGcmEncrypt(&k->gcm, out + 1 + TOKEN_IV, plain, TOKEN_PLAIN, out + 1, TOKEN_IV,
			     out + 1 + TOKEN_IV + TOKEN_PLAIN, TOKEN_TAG, aad, (word32)aadlen) != 0)
		return -EIO;
	return TOKEN_SIZE;
}

int stoq_token_retry_check(struct stoq_token_keys *k, const struct sockaddr *remote,
			   socklen_t rlen, const uint8_t *retry_scid, size_t scidlen,
			   const uint8_t *token, size_t tokenlen, uint64_t now, uint8_t *odcid,
			   size_t *odcidlen)
{
	uint8_t plain[TOKEN_PLAIN], aad[64];
	uint64_t expiry = 0;
	size_t aadlen;

	if (tokenlen != TOKEN_SIZE || token[0] != TOKEN_MAGIC || scidlen > STOQ_CID_MAX)
		return -EBADMSG;
	aadlen = token_aad(aad, remote, rlen, retry_scid, scidlen);
	if (wc_AesGcmDecrypt(&k->gcm, plain, token + 1 + TOKEN_IV, TOKEN_PLAIN, token + 1,
			     TOKEN_IV, token + 1 + TOKEN_IV + TOKEN_PLAIN, TOKEN_TAG, aad,
			     (word32)aadlen) != 0)
		return -EBADMSG;
	for (int i = 0; i < 8; i++)
		expiry = expiry << 8 | plain[i];
	if (plain[8] > STOQ_CID_MAX)
		return -EBADMSG;
	if (now > expiry)
		return -ETIMEDOUT;
	*odcidlen = plain[8];
	memcpy(odcid, plain + 9, plain[8]);
	return 0;
}

int stoq_token_reset(const struct stoq_token_keys *k, const uint8_t *cid, size_t cidlen,
		     uint8_t out[NGTCP2_STATELESS_RESET_TOKENLEN])
{
	uint8_t mac[WC_SHA256_DIGEST_SIZE];
	Hmac h;
	int rc = -EIO;

	if (wc_HmacInit(&h, NULL, INVALID_DEVID) != 0)
		return -EIO;
	if (wc_HmacSetKey(&h, WC_SHA256, k->reset_key, sizeof(k->reset_key)) == 0 &&
	    wc_HmacUpdate(&h, cid, (word32)cidlen) == 0 && wc_HmacFinal(&h, mac) == 0) {
		memcpy(out, mac, NGTCP2_STATELESS_RESET_TOKENLEN);
		rc = 0;
	}
	wc_HmacFree(&h);
	return rc;
}
