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
 * The EVP context's layout comes from the wolfSSL headers this file is
 * built against, the same build (build/deps) it links.
 */
#include <wolfssl/options.h>
#include <wolfssl/openssl/evp.h>
#include <wolfssl/wolfcrypt/aes.h>
#include <wolfssl/wolfcrypt/error-crypt.h>

#include "stoq_priv.h"

#define STOQ_GCM_TAG_LEN 16 /* RFC 9001 §5.3: AEAD_AES_*_GCM tags are 16 bytes */

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

	if (!is_gcm(aead->native_handle))
		return ngtcp2_crypto_encrypt_cb(dest, aead, aead_ctx, plaintext, plaintextlen,
						nonce, noncelen, aad, aadlen);
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
	size_t len;

	if (!is_gcm(aead->native_handle))
		return ngtcp2_crypto_decrypt_cb(dest, aead, aead_ctx, ciphertext, ciphertextlen,
						nonce, noncelen, aad, aadlen);
	if (ciphertextlen < STOQ_GCM_TAG_LEN)
		return NGTCP2_ERR_DECRYPT;
	len = ciphertextlen - STOQ_GCM_TAG_LEN;
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

	if (!is_ctr(hp->native_handle))
		return ngtcp2_crypto_hp_mask_cb(dest, hp, hp_ctx, sample);
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
