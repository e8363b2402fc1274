/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * stoq_aead.c — ngtcp2's packet protection callbacks (encrypt, decrypt,
 * hp_mask) straight on wolfCrypt for AES-GCM, the suites every packet of a
 * connection on an AES-NI machine uses (Initial packets always: RFC 9001
 * §5.2).
 *
 * Why: ngtcp2_crypto_wolfssl protects each packet through wolfSSL's EVP
 * layer, which without wolfSSL's streaming GCM buffers the AAD and the
 * whole plaintext in heap buffers it grows with realloc, copies the
 * payload there, and re-initialises the cipher context every packet. A
 * server profile had that layer (init, realloc/free, the copy) at about a
 * tenth of its time, beside the AES-GCM work itself. Here the one-shot
 * wc_AesGcmEncrypt/Decrypt run on the key schedule the EVP context already
 * holds (ngtcp2_crypto_wolfssl keeps installing and freeing the contexts,
 * key updates included), and header protection is one AES block
 * (RFC 9001 §5.4.3: the mask is AES-ECB of the sample; the EVP path made
 * it a CTR stream with the sample as counter, the same first block).
 *
 * Other suites (ChaCha20-Poly1305, chosen by a peer without AES-NI) go
 * through ngtcp2_crypto_wolfssl's own callbacks, unchanged: the check is
 * which cipher the context was made for, once per packet.
 *
 * Where the CPU has VAES and VPCLMULQDQ (stoq_gcm.c) the AEAD itself runs
 * there instead, about 2x wolfCrypt's packets per second (perf/bench_aesgcm).
 * Its key schedule and GHASH key powers are made on a key's first packet
 * and kept per thread by the context's address until ngtcp2 deletes the
 * context (stoq_aead_delete_ctx_cb). aes_gcm = wolfcrypt
 * (stoq_aead_use_wolfcrypt) keeps wolfCrypt's.
 *
 * The EVP context's layout comes from the wolfSSL headers this file is
 * built against, the same build (build/deps) it links.
 */
#include <wolfssl/options.h>
#include <wolfssl/openssl/evp.h>
#include <wolfssl/wolfcrypt/aes.h>
#include <wolfssl/wolfcrypt/error-crypt.h>

#include "hm_log.h"
#include "stoq_priv.h"

/*
 * The stoq_gcm keys of one thread, by the address of wolfCrypt's context:
 * open addressing, linear probing, at most half full. An entry whose key
 * is not the context's any more (the address reused after a free nobody
 * told us of: ngtcp2's Retry code frees its own) is made again in place,
 * so a stale entry costs time, never a wrong packet.
 */
struct aead_key {
	struct stoq_gcm_key key;
	uint8_t raw[32]; /* what it was made from: wolfCrypt's first 32 bytes */
	unsigned int keylen;
};

struct aead_ent {
	const void *ctx;
	struct aead_key *k;
};

static __thread struct {
	struct aead_ent *e;
	size_t cap, n;
} aead_tab;
static bool aead_vaes = true; /* until stoq_aead_use_wolfcrypt(true) */
static bool aead_unreadable; /* a wolfCrypt schedule did not read as expected: for good */

void stoq_aead_use_wolfcrypt(bool on)
{
	aead_vaes = !on;
}

bool stoq_aead_vaes(void)
{
	return aead_vaes && !aead_unreadable && stoq_gcm_supported();
}

static size_t aead_slot(const void *ctx, size_t cap)
{
	return (size_t)(((uintptr_t)ctx * 0x9e3779b97f4a7c15ull) >> 32) & (cap - 1);
}

/* The slot of @e (@cap slots, not full) holding @ctx, or the empty one
 * where it would go. */
static size_t aead_probe(const struct aead_ent *e, size_t cap, const void *ctx)
{
	size_t i;

	for (i = aead_slot(ctx, cap); e[i].ctx && e[i].ctx != ctx; i = (i + 1) & (cap - 1))
		;
	return i;
}

/* Twice the room (64 slots the first time); false when out of memory. */
static bool aead_grow(void)
{
	size_t cap = aead_tab.cap ? 2 * aead_tab.cap : 64;
	struct aead_ent *e = calloc(cap, sizeof(*e));

	if (!e)
		return false;
	for (size_t i = 0; i < aead_tab.cap; i++)
		if (aead_tab.e[i].ctx)
			e[aead_probe(e, cap, aead_tab.e[i].ctx)] = aead_tab.e[i];
	free(aead_tab.e);
	aead_tab.e = e;
	aead_tab.cap = cap;
	return true;
}

/*
 * Once per key: one block through both, so a wolfSSL whose schedule were
 * laid out otherwise (a build without AES-NI, another version) turns
 * stoq_gcm off with an error instead of sealing with the wrong key.
 */
static bool aead_same_key(const struct stoq_gcm_key *k, const Aes *aes)
{
	static const uint8_t zero[16] __attribute__((aligned(16)));
	uint8_t a[16], b[16];

	stoq_gcm_block(k, a, zero);
	if (wc_AesEncryptDirect((Aes *)aes, b, zero) == 0 && memcmp(a, b, 16) == 0)
		return true;
	HM_ERR(STOQ_LOG, "stoq_gcm: wolfCrypt's AES key schedule is not laid out as "
			 "expected; AES-GCM stays on wolfCrypt");
	aead_unreadable = true;
	return false;
}

/* @k made from @aes's key; false (k then matches no key) when it cannot be. */
static bool aead_make(struct aead_key *k, const Aes *aes, unsigned int keylen)
{
	k->keylen = 0;
	if (stoq_gcm_init(&k->key, (const uint8_t *)aes->key, keylen) != 0 ||
	    !aead_same_key(&k->key, aes))
		return false;
	memcpy(k->raw, aes->key, 32);
	k->keylen = keylen;
	return true;
}

/*
 * The stoq_gcm key for the AEAD context @ctx (wolfCrypt's AES in @aes),
 * made on its first packet; NULL when stoq_gcm is not used (off, no VAES,
 * AES-192, out of memory: wolfCrypt's code runs then, as before).
 * wolfCrypt's AES-NI schedule starts with the key itself (round key 0, and
 * 1 for AES-256) in FIPS 197 byte order (aead_same_key checks each key).
 */
static const struct stoq_gcm_key *aead_key(const void *ctx, const Aes *aes)
{
	unsigned int keylen = aes->rounds == 10 ? 16 : aes->rounds == 14 ? 32 : 0;
	struct aead_key *k;
	struct aead_ent *e;

	if (!keylen || !stoq_aead_vaes())
		return NULL;
	e = aead_tab.cap ? &aead_tab.e[aead_probe(aead_tab.e, aead_tab.cap, ctx)] : NULL;
	if (e && e->ctx) {
		k = e->k;
		if ((k->keylen != keylen || memcmp(k->raw, aes->key, 32) != 0) &&
		    !aead_make(k, aes, keylen))
			return NULL;
		return &k->key;
	}
	if ((aead_tab.n + 1) * 2 > aead_tab.cap && !aead_grow())
		return NULL;
	k = aligned_alloc(64, sizeof(*k));
	if (!k)
		return NULL;
	if (!aead_make(k, aes, keylen)) {
		free(k);
		return NULL;
	}
	aead_tab.e[aead_probe(aead_tab.e, aead_tab.cap, ctx)] = (struct aead_ent){ ctx, k };
	aead_tab.n++;
	return &k->key;
}

/* Drop @ctx's entry (backward-shift deletion keeps every probe chain whole). */
static void aead_forget(const void *ctx)
{
	size_t i, j, mask = aead_tab.cap - 1;

	if (!aead_tab.cap)
		return;
	i = aead_probe(aead_tab.e, aead_tab.cap, ctx);
	if (!aead_tab.e[i].ctx)
		return;
	free(aead_tab.e[i].k);
	aead_tab.n--;
	for (j = (i + 1) & mask; aead_tab.e[j].ctx; j = (j + 1) & mask) {
		size_t h = aead_slot(aead_tab.e[j].ctx, aead_tab.cap);

		/* Entry j may move to the hole at i if its home slot h is not
		 * cyclically in (i, j]. */
		if (i <= j ? (h > i && h <= j) : (h > i || h <= j))
			continue;
		aead_tab.e[i] = aead_tab.e[j];
		i = j;
	}
	aead_tab.e[i] = (struct aead_ent){ NULL, NULL };
}

void stoq_aead_delete_cipher_ctx_cb(ngtcp2_conn *conn, ngtcp2_crypto_cipher_ctx *cipher_ctx,
				    void *user_data)
{
	if (cipher_ctx->native_handle)
		aead_forget(cipher_ctx->native_handle);
	ngtcp2_crypto_delete_crypto_cipher_ctx_cb(conn, cipher_ctx, user_data);
}

size_t stoq_aead_keys_held(void)
{
	return aead_tab.n;
}

void stoq_aead_delete_ctx_cb(ngtcp2_conn *conn, ngtcp2_crypto_aead_ctx *aead_ctx,
			     void *user_data)
{
	if (aead_ctx->native_handle)
		aead_forget(aead_ctx->native_handle);
	ngtcp2_crypto_delete_crypto_aead_ctx_cb(conn, aead_ctx, user_data);
}

/* The cipher identities ngtcp2_crypto_wolfssl puts in native_handle. */
static bool is_gcm(const void *cipher)
{
	return cipher == wolfSSL_EVP_aes_128_gcm() || cipher == wolfSSL_EVP_aes_256_gcm();
}

static bool is_ctr(const void *cipher)
{
	return cipher == wolfSSL_EVP_aes_128_ctr() || cipher == wolfSSL_EVP_aes_256_ctr();
}

int stoq_aead_encrypt_cb(uint8_t *dest, const ngtcp2_crypto_aead *aead,
			 const ngtcp2_crypto_aead_ctx *aead_ctx, const uint8_t *plaintext,
			 size_t plaintextlen, const uint8_t *nonce, size_t noncelen,
			 const uint8_t *aad, size_t aadlen)
{
	WOLFSSL_EVP_CIPHER_CTX *ctx = aead_ctx->native_handle;
	const struct stoq_gcm_key *k;

	if (!is_gcm(aead->native_handle))
		return ngtcp2_crypto_encrypt_cb(dest, aead, aead_ctx, plaintext, plaintextlen,
						nonce, noncelen, aad, aadlen);
	if (noncelen == STOQ_GCM_IV_LEN && (k = aead_key(ctx, &ctx->cipher.aes))) {
		stoq_gcm_seal(k, dest, plaintext, plaintextlen, nonce, aad, aadlen,
			      dest + plaintextlen);
		return 0;
	}
	/* In place when dest == plaintext, as ngtcp2 calls it. */
	if (wc_AesGcmEncrypt(&ctx->cipher.aes, dest, plaintext, (word32)plaintextlen, nonce,
			     (word32)noncelen, dest + plaintextlen, STOQ_GCM_TAG_LEN, aad,
			     (word32)aadlen) != 0)
		return NGTCP2_ERR_CALLBACK_FAILURE;
	return 0;
}

int stoq_aead_decrypt_cb(uint8_t *dest, const ngtcp2_crypto_aead *aead,
			 const ngtcp2_crypto_aead_ctx *aead_ctx, const uint8_t *ciphertext,
			 size_t ciphertextlen, const uint8_t *nonce, size_t noncelen,
			 const uint8_t *aad, size_t aadlen)
{
	WOLFSSL_EVP_CIPHER_CTX *ctx = aead_ctx->native_handle;
	const struct stoq_gcm_key *k;
	size_t len;

	if (!is_gcm(aead->native_handle))
		return ngtcp2_crypto_decrypt_cb(dest, aead, aead_ctx, ciphertext, ciphertextlen,
						nonce, noncelen, aad, aadlen);
	if (ciphertextlen < STOQ_GCM_TAG_LEN)
		return NGTCP2_ERR_DECRYPT;
	len = ciphertextlen - STOQ_GCM_TAG_LEN;
	if (noncelen == STOQ_GCM_IV_LEN && (k = aead_key(ctx, &ctx->cipher.aes)))
		return stoq_gcm_open(k, dest, ciphertext, len, nonce, aad, aadlen,
				     ciphertext + len) == 0 ? 0 : NGTCP2_ERR_DECRYPT;
	/* Any failure is "this packet does not authenticate": ngtcp2 drops it
	 * and counts it against the AEAD limit (RFC 9001 §6.6). */
	if (wc_AesGcmDecrypt(&ctx->cipher.aes, dest, ciphertext, (word32)len, nonce,
			     (word32)noncelen, ciphertext + len, STOQ_GCM_TAG_LEN, aad,
			     (word32)aadlen) != 0)
		return NGTCP2_ERR_DECRYPT;
	return 0;
}

int stoq_aead_hp_mask_cb(uint8_t *dest, const ngtcp2_crypto_cipher *hp,
			 const ngtcp2_crypto_cipher_ctx *hp_ctx, const uint8_t *sample)
{
	WOLFSSL_EVP_CIPHER_CTX *ctx = hp_ctx->native_handle;
	uint8_t in[NGTCP2_HP_SAMPLELEN] __attribute__((aligned(16)));
	const struct stoq_gcm_key *k;

	if (!is_ctr(hp->native_handle))
		return ngtcp2_crypto_hp_mask_cb(dest, hp, hp_ctx, sample);
	/* The header protection key's round keys kept as the AEAD's are: one
	 * block through them, without wolfCrypt's call, its checks and the
	 * copy below (bench_aesgcm's packet figure: +3-5 %). */
	if ((k = aead_key(ctx, &ctx->cipher.aes))) {
		stoq_gcm_block(k, dest, sample);
		return 0;
	}
	/*
	 * The sample lies anywhere in the packet, and wolfCrypt's AES-NI block
	 * encrypt copies an input that is not 16-byte aligned through a heap
	 * buffer it allocates and frees on every call (aes.c, AESNI_ALIGN):
	 * one malloc and free per packet sent and per packet received.
	 */
	memcpy(in, sample, sizeof(in));
	/* dest holds NGTCP2_HP_SAMPLELEN (16) bytes; ngtcp2 uses the first 5. */
	if (wc_AesEncryptDirect(&ctx->cipher.aes, dest, in) != 0)
		return NGTCP2_ERR_CALLBACK_FAILURE;
	return 0;
}
