/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * stoq_gcm.c — AES-GCM (NIST SP 800-38D) on VAES and VPCLMULQDQ: the AES
 * rounds and the GHASH multiplications of four blocks per instruction, in
 * 512-bit registers.
 *
 * Why: every byte a STOQ server sends is sealed once (RFC 9001 §5.3), and
 * wolfSSL 5.5.4's fastest AES-GCM is AES-NI with AVX2 (one block per
 * instruction), which was a third of a server's profile. It also works
 * out H^1..H^8 again on every call, a cost per packet, not per byte. Here
 * the key schedule and H^1..H^16 are made once per key (stoq_gcm_init)
 * and a packet is 256-byte steps: sixteen counter blocks through the
 * rounds, then the sixteen ciphertext blocks multiplied by H^16..H^1,
 * summed and reduced once. CPUs without these instructions (before Ice
 * Lake, Zen 4) keep wolfCrypt's code (stoq_aead.c chooses).
 *
 * GHASH arithmetic. GCM numbers a block's bits backwards (the first bit
 * is x^0). With each block's bytes reversed (vpshufb), a 128-bit register
 * holds the polynomial with x^0 in its top bit; carry-less products of
 * such values are then reduced Montgomery-style: the low 64 bits of a
 * 256-bit product are folded into the next 64 by a multiplication by
 * x^63 + x^62 + x^57 (the top of the reversed x^128 + x^7 + x^2 + x + 1,
 * 0xc2 << 56) and a swap of halves, twice. That leaves a*b*x^-128 shifted
 * by one, which multiplying H by x once at key setup cancels (the same
 * scheme as Intel's carry-less multiplication paper and Linux's
 * aes-gcm-avx10 code; only the facts carry over, the code is ours).
 * Counter blocks are kept byte-reversed too, so inc32 is a vpaddd on the
 * low dword of each lane.
 */
#include <cpuid.h>
#include <errno.h>
#include <immintrin.h>
#include <string.h>

#include "stoq_priv.h"

#define GCM_TARGET \
	__attribute__((target("aes,pclmul,avx2,avx512f,avx512bw,avx512vl,vaes,vpclmulqdq")))

bool stoq_gcm_supported(void)
{
	static int have = -1;
	unsigned int a, b, c, d;

	if (have >= 0)
		return have;
	have = 0;
	/* leaf 7: EBX bit 16 AVX512F, 30 AVX512BW, 31 AVX512VL; ECX bit 9
	 * VAES, 10 VPCLMULQDQ. Leaf 1 ECX bit 25 AES-NI, 1 PCLMULQDQ, 27 OSXSAVE. */
	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 25)) || !(c & (1u << 1)) ||
	    !(c & (1u << 27)))
		return false;
	if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
		return false;
	if (!(b & (1u << 16)) || !(b & (1u << 30)) || !(b & (1u << 31)) || !(c & (1u << 9)) ||
	    !(c & (1u << 10)))
		return false;
	/* The OS saves the opmask and upper ZMM state (XCR0 bits 5-7) as well
	 * as SSE/AVX (1-2), or the registers would not survive a switch. */
	{
		unsigned int lo, hi;

		__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
		if ((lo & 0xe6) != 0xe6)
			return false;
	}
	have = 1;
	return true;
}

/* ---- key schedule (FIPS 197 §5.2) ---- */

GCM_TARGET static __m128i expand_step(__m128i k, __m128i t)
{
	k = _mm_xor_si128(k, _mm_slli_si128(k, 4));
	k = _mm_xor_si128(k, _mm_slli_si128(k, 4));
	k = _mm_xor_si128(k, _mm_slli_si128(k, 4));
	return _mm_xor_si128(k, t);
}

/* aeskeygenassist wants its round constant as an immediate. */
#define EXP128(i, rcon) \
	rk[i] = expand_step(rk[(i) - 1], \
			    _mm_shuffle_epi32(_mm_aeskeygenassist_si128(rk[(i) - 1], rcon), 0xff))
#define EXP256(i, rcon) \
	do { \
		rk[i] = expand_step(rk[(i) - 2], _mm_shuffle_epi32( \
				_mm_aeskeygenassist_si128(rk[(i) - 1], rcon), 0xff)); \
		if ((i) + 1 < 15) \
			rk[(i) + 1] = expand_step(rk[(i) - 1], _mm_shuffle_epi32( \
					_mm_aeskeygenassist_si128(rk[i], 0), 0xaa)); \
	} while (0)

GCM_TARGET static void expand128(__m128i rk[15], const uint8_t *key)
{
	rk[0] = _mm_loadu_si128((const __m128i *)key);
	EXP128(1, 0x01);
	EXP128(2, 0x02);
	EXP128(3, 0x04);
	EXP128(4, 0x08);
	EXP128(5, 0x10);
	EXP128(6, 0x20);
	EXP128(7, 0x40);
	EXP128(8, 0x80);
	EXP128(9, 0x1b);
	EXP128(10, 0x36);
}

GCM_TARGET static void expand256(__m128i rk[15], const uint8_t *key)
{
	rk[0] = _mm_loadu_si128((const __m128i *)key);
	rk[1] = _mm_loadu_si128((const __m128i *)(key + 16));
	EXP256(2, 0x01);
	EXP256(4, 0x02);
	EXP256(6, 0x04);
	EXP256(8, 0x08);
	EXP256(10, 0x10);
	EXP256(12, 0x20);
	EXP256(14, 0x40);
}

GCM_TARGET static __m128i aes_block(const struct stoq_gcm_key *k, __m128i x)
{
	const __m128i *rk = (const __m128i *)k->rk;

	x = _mm_xor_si128(x, _mm_load_si128(&rk[0]));
	for (unsigned int r = 1; r < k->rounds; r++)
		x = _mm_aesenc_si128(x, _mm_load_si128(&rk[r]));
	return _mm_aesenclast_si128(x, _mm_load_si128(&rk[k->rounds]));
}

/* ---- GHASH ---- */

/* The reversed reduction polynomial's top (0xc2 << 56) in each lane's
 * high qword; the low qword's 1 is used by the key's doubling alone. */
#define GF_POLY_HI 0xc200000000000000ull

static inline GCM_TARGET __m128i bswap128(__m128i x)
{
	return _mm_shuffle_epi8(x, _mm_set_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
}

static inline GCM_TARGET __m512i bswap512(__m512i x)
{
	return _mm512_shuffle_epi8(x, _mm512_broadcast_i32x4(_mm_set_epi8(
			0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)));
}

/* The unreduced product a*b of each lane, added into lo/mi/hi. */
static inline GCM_TARGET void mul_acc(__m512i a, __m512i b, __m512i *lo, __m512i *mi,
				       __m512i *hi)
{
	*lo = _mm512_xor_si512(*lo, _mm512_clmulepi64_epi128(a, b, 0x00));
	*mi = _mm512_ternarylogic_epi64(*mi, _mm512_clmulepi64_epi128(a, b, 0x10),
					_mm512_clmulepi64_epi128(a, b, 0x01), 0x96);
	*hi = _mm512_xor_si512(*hi, _mm512_clmulepi64_epi128(a, b, 0x11));
}

/* lo/mi/hi reduced to 128 bits per lane: lo folded into mi, mi into hi. */
static inline GCM_TARGET __m512i reduce(__m512i lo, __m512i mi, __m512i hi)
{
	const __m512i poly = _mm512_set1_epi64((long long)GF_POLY_HI);
	__m512i t;

	t = _mm512_clmulepi64_epi128(lo, poly, 0x10);
	mi = _mm512_ternarylogic_epi64(mi, _mm512_shuffle_epi32(lo, 0x4e), t, 0x96);
	t = _mm512_clmulepi64_epi128(mi, poly, 0x10);
	return _mm512_ternarylogic_epi64(hi, _mm512_shuffle_epi32(mi, 0x4e), t, 0x96);
}

static inline GCM_TARGET __m128i fold_lanes(__m512i x)
{
	__m256i y = _mm256_xor_si256(_mm512_castsi512_si256(x), _mm512_extracti64x4_epi64(x, 1));

	return _mm_xor_si128(_mm256_castsi256_si128(y), _mm256_extracti128_si256(y, 1));
}

static GCM_TARGET __m128i mul128(__m128i a, __m128i b)
{
	__m512i lo = _mm512_setzero_si512(), mi = lo, hi = lo;

	mul_acc(_mm512_zextsi128_si512(a), _mm512_zextsi128_si512(b), &lo, &mi, &hi);
	return _mm512_castsi512_si128(reduce(lo, mi, hi));
}

/* Bytes [64j, 64j + 64) of a chunk of @len bytes that exist. */
static inline __mmask64 lane_mask(size_t len, unsigned int j)
{
	size_t at = 64u * j;

	if (len >= at + 64)
		return ~(__mmask64)0;
	return len > at ? (((__mmask64)1 << (len - at)) - 1) : 0;
}

/*
 * GHASH of up to 256 bytes in d[0..3] (byte-reversed blocks, zero past the
 * data), @n blocks, on top of @acc: block i is multiplied by H^(n-i),
 * which k->pw holds from pw[16 - n] on.
 */
static inline GCM_TARGET __m128i ghash_chunk(const struct stoq_gcm_key *k, __m128i acc,
					     const __m512i d[4], unsigned int n)
{
	const uint8_t *pw = k->pw[16 - n];
	__m512i lo = _mm512_setzero_si512(), mi = lo, hi = lo;
	unsigned int vecs = (n + 3) / 4;

	mul_acc(_mm512_xor_si512(d[0], _mm512_zextsi128_si512(acc)),
		_mm512_loadu_si512(pw), &lo, &mi, &hi);
	for (unsigned int j = 1; j < vecs; j++)
		mul_acc(d[j], _mm512_loadu_si512(pw + 64 * j), &lo, &mi, &hi);
	return fold_lanes(reduce(lo, mi, hi));
}

static GCM_TARGET __m128i ghash_bytes(const struct stoq_gcm_key *k, __m128i acc,
				      const uint8_t *p, size_t len)
{
	while (len) {
		size_t c = len < 256 ? len : 256;
		__m512i d[4];

		for (unsigned int j = 0; j < 4; j++)
			d[j] = bswap512(_mm512_maskz_loadu_epi8(lane_mask(c, j), p + 64 * j));
		acc = ghash_chunk(k, acc, d, (unsigned int)((c + 15) / 16));
		p += c;
		len -= c;
	}
	return acc;
}

GCM_TARGET int stoq_gcm_init(struct stoq_gcm_key *k, const uint8_t *key, size_t keylen)
{
	__m128i rk[15], h, hp, mask;

	if (keylen == 16) {
		expand128(rk, key);
		k->rounds = 10;
	} else if (keylen == 32) {
		expand256(rk, key);
		k->rounds = 14;
	} else {
		return -EINVAL;
	}
	memset(k->rk, 0, sizeof(k->rk));
	memcpy(k->rk, rk, (k->rounds + 1) * sizeof(rk[0]));
	/* H = E(K, 0^128), bytes reversed, times x (see the top of the file):
	 * a left shift by one of the 128-bit value, the reduction added when a
	 * bit falls off the top; the carry between the qwords is the 1 in dword 2. */
	h = bswap128(aes_block(k, _mm_setzero_si128()));
	mask = _mm_srai_epi32(_mm_shuffle_epi32(h, 0xd3), 31);
	h = _mm_add_epi64(h, h);
	h = _mm_xor_si128(h, _mm_and_si128(mask, _mm_set_epi32((int)0xc2000000, 1, 0, 1)));
	memset(k->pw, 0, sizeof(k->pw));
	hp = h;
	for (int i = 15; i >= 0; i--) { /* pw[15] = H^1, pw[0] = H^16 */
		_mm_storeu_si128((__m128i *)k->pw[i], hp);
		hp = mul128(hp, h);
	}
	return 0;
}

#define GCM_INLINE static inline __attribute__((always_inline)) GCM_TARGET

/*
 * One full 256-byte step: 16 counter blocks through the rounds, XORed with
 * @in into @out (c[] gets the result), and, when @gh, GHASH of the 16
 * blocks g[] on top of *acc, its multiplications and reduction placed
 * between the rounds: AES waits on the AES unit, GHASH on the carry-less
 * multiplier, and in program order next to each other the core runs both
 * at once (one after the other, this ran at 0.9x wolfCrypt's AVX2 code).
 */
GCM_INLINE void step256(const __m512i *rk, const unsigned int rounds, __m512i *ctr,
			const uint8_t *in, uint8_t *out, __m512i c[4], const bool gh,
			const __m512i g[4], const __m512i pw[4], __m128i *acc)
{
	const __m512i step4 = _mm512_broadcast_i32x4(_mm_set_epi32(0, 0, 0, 4));
	const __m512i poly = _mm512_set1_epi64((long long)GF_POLY_HI);
	__m512i x0, x1, x2, x3, lo = _mm512_setzero_si512(), mi = lo, hi = lo, t;

	x0 = _mm512_xor_si512(bswap512(*ctr), rk[0]);
	*ctr = _mm512_add_epi32(*ctr, step4);
	x1 = _mm512_xor_si512(bswap512(*ctr), rk[0]);
	*ctr = _mm512_add_epi32(*ctr, step4);
	x2 = _mm512_xor_si512(bswap512(*ctr), rk[0]);
	*ctr = _mm512_add_epi32(*ctr, step4);
	x3 = _mm512_xor_si512(bswap512(*ctr), rk[0]);
	*ctr = _mm512_add_epi32(*ctr, step4);
#pragma GCC unroll 16
	for (unsigned int r = 1; r < rounds; r++) {
		x0 = _mm512_aesenc_epi128(x0, rk[r]);
		x1 = _mm512_aesenc_epi128(x1, rk[r]);
		x2 = _mm512_aesenc_epi128(x2, rk[r]);
		x3 = _mm512_aesenc_epi128(x3, rk[r]);
		if (!gh)
			continue;
		if (r <= 4) {
			__m512i d = g[r - 1];

			if (r == 1)
				d = _mm512_xor_si512(d, _mm512_zextsi128_si512(*acc));
			mul_acc(d, pw[r - 1], &lo, &mi, &hi);
		} else if (r == 5) {
			t = _mm512_clmulepi64_epi128(lo, poly, 0x10);
			mi = _mm512_ternarylogic_epi64(mi, _mm512_shuffle_epi32(lo, 0x4e), t, 0x96);
		} else if (r == 6) {
			t = _mm512_clmulepi64_epi128(mi, poly, 0x10);
			hi = _mm512_ternarylogic_epi64(hi, _mm512_shuffle_epi32(mi, 0x4e), t, 0x96);
		} else if (r == 7) {
			*acc = fold_lanes(hi);
		}
	}
	c[0] = _mm512_xor_si512(_mm512_aesenclast_epi128(x0, rk[rounds]), _mm512_loadu_si512(in));
	c[1] = _mm512_xor_si512(_mm512_aesenclast_epi128(x1, rk[rounds]),
				_mm512_loadu_si512(in + 64));
	c[2] = _mm512_xor_si512(_mm512_aesenclast_epi128(x2, rk[rounds]),
				_mm512_loadu_si512(in + 128));
	c[3] = _mm512_xor_si512(_mm512_aesenclast_epi128(x3, rk[rounds]),
				_mm512_loadu_si512(in + 192));
	_mm512_storeu_si512(out, c[0]);
	_mm512_storeu_si512(out + 64, c[1]);
	_mm512_storeu_si512(out + 128, c[2]);
	_mm512_storeu_si512(out + 192, c[3]);
}

/*
 * CTR from block 2 of the counter (J0 + 1: J0 = IV || 1 is kept for the
 * tag) with GHASH of the ciphertext: @in's bytes when decrypting, @out's
 * when encrypting. In place when out == in: each 256-byte step loads
 * before it stores. Encrypting, the GHASH of one step's output runs in
 * the next step's rounds; decrypting, of the step's own input.
 */
GCM_INLINE __m128i ctr_ghash(const struct stoq_gcm_key *k, uint8_t *out, const uint8_t *in,
			     size_t len, __m128i j0r, __m128i acc, const bool enc,
			     const unsigned int rounds)
{
	__m512i rk[15], pw[4], c[4], g[4];
	__m512i ctr = _mm512_add_epi32(_mm512_broadcast_i32x4(j0r),
				       _mm512_set_epi32(0, 0, 0, 4, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 1));
	bool pending = false;

	for (unsigned int r = 0; r <= rounds; r++)
		rk[r] = _mm512_broadcast_i32x4(_mm_load_si128((const __m128i *)k->rk[r]));
	for (unsigned int j = 0; j < 4; j++)
		pw[j] = _mm512_loadu_si512(k->pw[4 * j]);
	for (; len >= 256; len -= 256, in += 256, out += 256) {
		if (!enc) {
			for (unsigned int j = 0; j < 4; j++)
				g[j] = bswap512(_mm512_loadu_si512(in + 64 * j));
			step256(rk, rounds, &ctr, in, out, c, true, g, pw, &acc);
			continue;
		}
		if (pending)
			step256(rk, rounds, &ctr, in, out, c, true, g, pw, &acc);
		else
			step256(rk, rounds, &ctr, in, out, c, false, g, pw, &acc);
		for (unsigned int j = 0; j < 4; j++)
			g[j] = bswap512(c[j]);
		pending = true;
	}
	if (pending)
		acc = ghash_chunk(k, acc, g, 16);
	if (len) { /* the last 1..255 bytes, masked, in the vectors they reach */
		unsigned int nv = (unsigned int)((len + 63) / 64);
		__m512i x[4], d[4] = { _mm512_setzero_si512(), _mm512_setzero_si512(),
				       _mm512_setzero_si512(), _mm512_setzero_si512() };
		__mmask64 m[4];

		for (unsigned int j = 0; j < nv; j++) {
			x[j] = _mm512_xor_si512(bswap512(ctr), rk[0]);
			ctr = _mm512_add_epi32(ctr, _mm512_broadcast_i32x4(_mm_set_epi32(0, 0, 0, 4)));
		}
		for (unsigned int r = 1; r < rounds; r++)
			for (unsigned int j = 0; j < nv; j++)
				x[j] = _mm512_aesenc_epi128(x[j], rk[r]);
		for (unsigned int j = 0; j < nv; j++) {
			__m512i p;

			m[j] = lane_mask(len, j);
			p = _mm512_maskz_loadu_epi8(m[j], in + 64 * j);
			x[j] = _mm512_xor_si512(_mm512_aesenclast_epi128(x[j], rk[rounds]), p);
			/* GHASH covers ciphertext only, zero past its end. */
			d[j] = bswap512(enc ? _mm512_maskz_mov_epi8(m[j], x[j]) : p);
		}
		for (unsigned int j = 0; j < nv; j++)
			_mm512_mask_storeu_epi8(out + 64 * j, m[j], x[j]);
		acc = ghash_chunk(k, acc, d, (unsigned int)((len + 15) / 16));
	}
	return acc;
}

static GCM_TARGET __m128i gcm_ctr_ghash(const struct stoq_gcm_key *k, uint8_t *out,
					const uint8_t *in, size_t len, __m128i j0r, __m128i acc,
					bool enc)
{
	/* One copy per key size and direction, the rounds unrolled. */
	if (k->rounds == 10)
		return enc ? ctr_ghash(k, out, in, len, j0r, acc, true, 10)
			   : ctr_ghash(k, out, in, len, j0r, acc, false, 10);
	return enc ? ctr_ghash(k, out, in, len, j0r, acc, true, 14)
		   : ctr_ghash(k, out, in, len, j0r, acc, false, 14);
}

/* The tag: GHASH closed with the lengths block, XORed with E(K, J0) (@ekj0:
 * worked out first by the callers, so its rounds overlap the GHASH of
 * the AAD instead of adding their latency at the end). */
static GCM_TARGET __m128i gcm_tag(const struct stoq_gcm_key *k, __m128i acc, __m128i ekj0,
				  size_t aadlen, size_t len)
{
	/* len(A) || len(C) in bits, big-endian each: reversed, the high qword
	 * is len(A). */
	acc = _mm_xor_si128(acc, _mm_set_epi64x((long long)aadlen * 8, (long long)len * 8));
	acc = mul128(acc, _mm_loadu_si128((const __m128i *)k->pw[15]));
	return _mm_xor_si128(bswap128(acc), ekj0);
}

static GCM_TARGET __m128i j0_of(const uint8_t iv[STOQ_GCM_IV_LEN])
{
	uint8_t b[16];

	memcpy(b, iv, STOQ_GCM_IV_LEN);
	b[12] = 0, b[13] = 0, b[14] = 0, b[15] = 1;
	return bswap128(_mm_loadu_si128((const __m128i *)b));
}

GCM_TARGET void stoq_gcm_block(const struct stoq_gcm_key *k, uint8_t out[16], const uint8_t in[16])
{
	_mm_storeu_si128((__m128i *)out, aes_block(k, _mm_loadu_si128((const __m128i *)in)));
}

GCM_TARGET void stoq_gcm_seal(const struct stoq_gcm_key *k, uint8_t *out, const uint8_t *in,
			      size_t len, const uint8_t iv[STOQ_GCM_IV_LEN], const uint8_t *aad,
			      size_t aadlen, uint8_t tag[STOQ_GCM_TAG_LEN])
{
	__m128i j0r = j0_of(iv), ekj0 = aes_block(k, bswap128(j0r));
	__m128i acc = ghash_bytes(k, _mm_setzero_si128(), aad, aadlen);

	acc = gcm_ctr_ghash(k, out, in, len, j0r, acc, true);
	_mm_storeu_si128((__m128i *)tag, gcm_tag(k, acc, ekj0, aadlen, len));
}

GCM_TARGET int stoq_gcm_open(const struct stoq_gcm_key *k, uint8_t *out, const uint8_t *in,
			     size_t len, const uint8_t iv[STOQ_GCM_IV_LEN], const uint8_t *aad,
			     size_t aadlen, const uint8_t tag[STOQ_GCM_TAG_LEN])
{
	__m128i j0r = j0_of(iv), ekj0 = aes_block(k, bswap128(j0r)), t;
	__m128i acc = ghash_bytes(k, _mm_setzero_si128(), aad, aadlen);

	acc = gcm_ctr_ghash(k, out, in, len, j0r, acc, false);
	t = gcm_tag(k, acc, ekj0, aadlen, len);
	/* Compared whole, in constant time: no early exit on the first byte. */
	t = _mm_xor_si128(t, _mm_loadu_si128((const __m128i *)tag));
	return _mm_testz_si128(t, t) ? 0 : -EBADMSG;
}
