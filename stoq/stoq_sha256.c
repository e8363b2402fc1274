/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * stoq_sha256.c — SHA-256 (FIPS 180-4) on the CPU's SHA extensions where it
 * has them, wolfCrypt's otherwise.
 *
 * Every PUT is hashed whole (its /sha256/ name, its repr-digest), on the
 * server as it is written and on hmesh-stoq's client before it is sent.
 * wolfSSL 5.5.4 has no SHA-NI code: its AVX2 transform ran at ~0.6 GB/s
 * here, a third of the server's time on a PUT and 1.7 s of a client's
 * 1 GiB --put before the first byte left. The SHA-NI instructions
 * (sha256rnds2, sha256msg1/2: Intel since Ice Lake and Goldmont, AMD since
 * Zen) do four rounds in two instructions; perf/bench_sha256 compares the
 * two on the same buffer.
 *
 * The state lives in the two registers the instructions use: ABEF and
 * CDGH (A in the high lane); a block's 16 message words are four
 * registers, and the schedule makes the next four from the last four as
 * the rounds go (W[t] = σ1(W[t-2]) + W[t-7] + σ0(W[t-15]) + W[t-16]:
 * sha256msg1 adds σ0, an alignr gives W[t-7..t-4], sha256msg2 adds σ1).
 */
#include <cpuid.h>
#include <errno.h>
#include <immintrin.h>
#include <string.h>

#include "stoq_priv.h"

static const uint32_t K[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
	0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
	0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
	0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
	0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
	0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
	0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
	0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
	0xc67178f2,
};

static const uint32_t H0[8] = {
	0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
	0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
};

bool stoq_sha256_has_ni(void)
{
	static int have = -1;
	unsigned int a, b, c, d;

	if (have < 0) {
		/* SHA: leaf 7 EBX bit 29; the code also uses SSSE3 and SSE4.1
		 * (leaf 1 ECX bits 9 and 19), which every such CPU has. */
		have = __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b >> 29 & 1) &&
		       __get_cpuid(1, &a, &b, &c, &d) && (c >> 9 & 1) && (c >> 19 & 1);
	}
	return have;
}

/* Four rounds: the message words @m plus their constants, then the next
 * two pairs of rounds swap the state halves' roles. */
#define ROUNDS4(m, i)                                                                              \
	do {                                                                                       \
		__m128i wk = _mm_add_epi32((m), _mm_loadu_si128((const __m128i *)&K[4 * (i)]));     \
		cdgh = _mm_sha256rnds2_epu32(cdgh, abef, wk);                                      \
		abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32(wk, 0x0e));             \
	} while (0)

/* The next four message words from the last sixteen (m0 oldest). */
#define SCHEDULE(m0, m1, m2, m3)                                                                   \
	_mm_sha256msg2_epu32(_mm_add_epi32(_mm_sha256msg1_epu32((m0), (m1)),                       \
					   _mm_alignr_epi8((m3), (m2), 4)),                        \
			     (m3))

__attribute__((target("sha,ssse3,sse4.1"))) static void blocks_ni(uint32_t h[8], const uint8_t *p,
								   size_t n)
{
	/* Bytes to big-endian words. */
	const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bll, 0x0405060700010203ll);
	__m128i t = _mm_loadu_si128((const __m128i *)&h[0]); /* D C B A (lane 3..0) */
	__m128i cdgh = _mm_loadu_si128((const __m128i *)&h[4]); /* H G F E */
	__m128i abef;

	t = _mm_shuffle_epi32(t, 0xb1);		 /* C D A B */
	cdgh = _mm_shuffle_epi32(cdgh, 0x1b);	 /* E F G H */
	abef = _mm_alignr_epi8(t, cdgh, 8);	 /* A B E F */
	cdgh = _mm_blend_epi16(cdgh, t, 0xf0);	 /* C D G H */

	for (; n; n--, p += 64) {
		__m128i abef0 = abef, cdgh0 = cdgh;
		__m128i m0 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 0)), bswap);
		__m128i m1 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16)), bswap);
		__m128i m2 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 32)), bswap);
		__m128i m3 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 48)), bswap);

		ROUNDS4(m0, 0);
		ROUNDS4(m1, 1);
		ROUNDS4(m2, 2);
		ROUNDS4(m3, 3);
		/* Rounds 16..63: each group's words made from the four before. */
		for (int i = 4; i < 16; i += 4) {
			m0 = SCHEDULE(m0, m1, m2, m3);
			ROUNDS4(m0, i);
			m1 = SCHEDULE(m1, m2, m3, m0);
			ROUNDS4(m1, i + 1);
			m2 = SCHEDULE(m2, m3, m0, m1);
			ROUNDS4(m2, i + 2);
			m3 = SCHEDULE(m3, m0, m1, m2);
			ROUNDS4(m3, i + 3);
		}
		abef = _mm_add_epi32(abef, abef0);
		cdgh = _mm_add_epi32(cdgh, cdgh0);
	}

	t = _mm_shuffle_epi32(abef, 0x1b);	 /* F E B A */
	cdgh = _mm_shuffle_epi32(cdgh, 0xb1);	 /* D C H G */
	abef = _mm_blend_epi16(t, cdgh, 0xf0);	 /* D C B A */
	cdgh = _mm_alignr_epi8(cdgh, t, 8);	 /* H G F E */
	_mm_storeu_si128((__m128i *)&h[0], abef);
	_mm_storeu_si128((__m128i *)&h[4], cdgh);
}

int stoq_sha256_init_impl(struct stoq_sha256 *s, bool allow_ni)
{
	memset(s, 0, sizeof(*s));
	s->ni = allow_ni && stoq_sha256_has_ni();
	if (s->ni) {
		memcpy(s->u.x.h, H0, sizeof(H0));
		return 0;
	}
	return wc_InitSha256(&s->u.wc) == 0 ? 0 : -EIO;
}

int stoq_sha256_init(struct stoq_sha256 *s)
{
	return stoq_sha256_init_impl(s, true);
}

int stoq_sha256_update(struct stoq_sha256 *s, const void *data, size_t len)
{
	const uint8_t *p = data;

	if (!s->ni) {
		/* wolfCrypt takes word32 lengths: a longer run goes in steps. */
		for (size_t off = 0; off < len; off += 1u << 30)
			if (wc_Sha256Update(&s->u.wc, p + off,
					    (word32)(len - off < (1u << 30) ? len - off : 1u << 30)) != 0)
				return -EIO;
		return 0;
	}
	s->u.x.bytes += len;
	if (s->u.x.fill) { /* a block begun by an earlier call first */
		size_t k = 64 - s->u.x.fill < len ? 64 - s->u.x.fill : len;

		memcpy(s->u.x.buf + s->u.x.fill, p, k);
		s->u.x.fill += (unsigned int)k;
		p += k;
		len -= k;
		if (s->u.x.fill < 64)
			return 0;
		blocks_ni(s->u.x.h, s->u.x.buf, 1);
		s->u.x.fill = 0;
	}
	if (len >= 64) {
		blocks_ni(s->u.x.h, p, len / 64);
		p += len & ~(size_t)63;
		len &= 63;
	}
	memcpy(s->u.x.buf, p, len);
	s->u.x.fill = (unsigned int)len;
	return 0;
}

int stoq_sha256_final(struct stoq_sha256 *s, uint8_t d[32])
{
	uint64_t bits;
	unsigned int n;

	if (!s->ni)
		return wc_Sha256Final(&s->u.wc, d) == 0 ? 0 : -EIO;
	/* FIPS 180-4 §5.1.1: 0x80, zeros to 56 mod 64, the length in bits. */
	bits = s->u.x.bytes * 8;
	n = s->u.x.fill;
	s->u.x.buf[n++] = 0x80;
	if (n > 56) {
		memset(s->u.x.buf + n, 0, 64 - n);
		blocks_ni(s->u.x.h, s->u.x.buf, 1);
		n = 0;
	}
	memset(s->u.x.buf + n, 0, 56 - n);
	for (int i = 0; i < 8; i++)
		s->u.x.buf[56 + i] = (uint8_t)(bits >> (56 - 8 * i));
	blocks_ni(s->u.x.h, s->u.x.buf, 1);
	for (int i = 0; i < 8; i++) {
		d[4 * i] = (uint8_t)(s->u.x.h[i] >> 24);
		d[4 * i + 1] = (uint8_t)(s->u.x.h[i] >> 16);
		d[4 * i + 2] = (uint8_t)(s->u.x.h[i] >> 8);
		d[4 * i + 3] = (uint8_t)s->u.x.h[i];
	}
	return 0;
}

void stoq_sha256_free(struct stoq_sha256 *s)
{
	if (!s->ni)
		wc_Sha256Free(&s->u.wc);
}
