/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target: stoq_gcm (stoq/stoq_gcm.c), which opens every AES-GCM
 * packet a STOQ endpoint receives on a CPU with VAES, against wolfCrypt's
 * AES-GCM on the same input. The input is the key size (first byte's low
 * bit: AES-128 or AES-256) and register width (its next bit: the CPU's or
 * 256 bits), the key, a 12-byte nonce, the AAD's length
 * (one byte, up to 255) and AAD, then the payload (any length the input
 * leaves). Invariants beyond "no sanitizer report": the two seal to the
 * same ciphertext and tag; stoq_gcm opens what it sealed in place; with
 * one bit of ciphertext, tag or AAD flipped (which bit: from the input) it
 * refuses, and the input taken as ciphertext and tag as it came off the
 * wire is accepted by stoq_gcm exactly when wolfCrypt accepts it.
 * On a CPU without VAES the target does nothing.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stoq_priv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t key[32], iv[12], aad[255], ta[16], tb[16];
	size_t kl, al, n, flip;
	uint8_t *a, *b, *c;
	struct stoq_gcm_key k;
	Aes wc;
	int ro, rw;

	if (!stoq_gcm_supported() || size < 1)
		return 0;
	kl = (data[0] & 1) ? 32 : 16;
	/* bit 1: 256-bit registers (what a CPU with VAES but no AVX-512 runs) */
	if (stoq_gcm_use_width((data[0] & 2) ? 256 : 0) != 0)
		abort();
	flip = data[0] >> 2;
	data++, size--;
	if (size < kl + 12 + 1)
		return 0;
	memcpy(key, data, kl);
	memcpy(iv, data + kl, 12);
	al = data[kl + 12];
	data += kl + 13, size -= kl + 13;
	if (size < al)
		return 0;
	memcpy(aad, data, al);
	data += al, size -= al;
	n = size;
	/* Exactly n bytes each, so ASan sees any access past the payload. */
	a = malloc(n ? n : 1), b = malloc(n ? n : 1), c = malloc(n ? n : 1);
	if (!a || !b || !c || stoq_gcm_init(&k, key, kl) != 0 ||
	    wc_AesInit(&wc, NULL, INVALID_DEVID) != 0 || wc_AesGcmSetKey(&wc, key, (word32)kl) != 0)
		abort();
	memcpy(a, data, n);
	if (wc_AesGcmEncrypt(&wc, b, data, (word32)n, iv, 12, tb, 16, aad, (word32)al) != 0)
		abort();
	stoq_gcm_seal(&k, a, a, n, iv, aad, al, ta);
	if (memcmp(a, b, n) != 0 || memcmp(ta, tb, 16) != 0)
		abort();
	if (stoq_gcm_open(&k, c, a, n, iv, aad, al, ta) != 0 || memcmp(c, data, n) != 0)
		abort();
	/* One bit flipped: in the ciphertext, the tag or the AAD. */
	if (n && flip % 3 == 0) {
		a[flip % n] ^= (uint8_t)(1u << (flip % 8));
	} else if (al && flip % 3 == 1) {
		aad[flip % al] ^= (uint8_t)(1u << (flip % 8));
	} else {
		ta[flip % 16] ^= (uint8_t)(1u << (flip % 8));
	}
	if (stoq_gcm_open(&k, c, a, n, iv, aad, al, ta) != -EBADMSG)
		abort();
	/* The payload as if it came off the wire: ciphertext, then its tag. */
	if (n >= 16) {
		ro = stoq_gcm_open(&k, c, data, n - 16, iv, aad, al, data + n - 16);
		rw = wc_AesGcmDecrypt(&wc, b, data, (word32)(n - 16), iv, 12, data + n - 16, 16, aad,
				      (word32)al);
		if ((ro == 0) != (rw == 0) || (ro == 0 && memcmp(b, c, n - 16) != 0))
			abort();
	}
	wc_AesFree(&wc);
	free(a), free(b), free(c);
	return 0;
}
