/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * stoq_gcm_vec.h — the part of stoq_gcm.c that depends on the vector
 * width, included by it twice: with GCM_W 512 (AVX-512: four blocks per
 * register, byte-masked loads for a packet's last bytes) and with GCM_W
 * 256 (AVX2: two blocks per register, the last bytes through a buffer on
 * the stack). Everything here is named FN(x): x_512 or x_256. A step is
 * four registers of blocks (256 or 128 bytes); the arithmetic is the one
 * the top of stoq_gcm.c describes. Every loop over a step's registers
 * carries "#pragma GCC unroll": at -O2 GCC left such arrays in memory, a
 * store and a load around every instruction (the 512-bit code ran at 0.45x
 * its unrolled speed in 16 KiB records).
 */
#if GCM_W == 512
#define V __m512i
#define VB 4
#define VT GCM_TARGET_512
#define FN(x) x##_512
#define V_ZERO() _mm512_setzero_si512()
#define V_XOR(a, b) _mm512_xor_si512(a, b)
#define V_XOR3(a, b, c) _mm512_ternarylogic_epi64(a, b, c, 0x96)
#define V_ADD32(a, b) _mm512_add_epi32(a, b)
#define V_BC128(x) _mm512_broadcast_i32x4(x)
#define V_SHUF8(a, m) _mm512_shuffle_epi8(a, m)
#define V_SWAPQ(a) _mm512_shuffle_epi32(a, 0x4e)
#define V_CLMUL(a, b, i) _mm512_clmulepi64_epi128(a, b, i)
#define V_AESENC(a, k) _mm512_aesenc_epi128(a, k)
#define V_AESLAST(a, k) _mm512_aesenclast_epi128(a, k)
#define V_LOADU(p) _mm512_loadu_si512(p)
#define V_STOREU(p, v) _mm512_storeu_si512(p, v)
#define V_SET1_64(x) _mm512_set1_epi64(x)
#define V_ZEXT128(x) _mm512_zextsi128_si512(x)
#define V_COUNTS _mm512_set_epi32(0, 0, 0, 4, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 1)
#elif GCM_W == 256
#define V __m256i
#define VB 2
#define VT GCM_TARGET_256
#define FN(x) x##_256
#define V_ZERO() _mm256_setzero_si256()
#define V_XOR(a, b) _mm256_xor_si256(a, b)
#define V_XOR3(a, b, c) _mm256_xor_si256(_mm256_xor_si256(a, b), c)
#define V_ADD32(a, b) _mm256_add_epi32(a, b)
#define V_BC128(x) _mm256_broadcastsi128_si256(x)
#define V_SHUF8(a, m) _mm256_shuffle_epi8(a, m)
#define V_SWAPQ(a) _mm256_shuffle_epi32(a, 0x4e)
#define V_CLMUL(a, b, i) _mm256_clmulepi64_epi128(a, b, i)
#define V_AESENC(a, k) _mm256_aesenc_epi128(a, k)
#define V_AESLAST(a, k) _mm256_aesenclast_epi128(a, k)
#define V_LOADU(p) _mm256_loadu_si256((const __m256i *)(p))
#define V_STOREU(p, v) _mm256_storeu_si256((__m256i *)(p), v)
#define V_SET1_64(x) _mm256_set1_epi64x(x)
#define V_ZEXT128(x) _mm256_zextsi128_si256(x)
#define V_COUNTS _mm256_set_epi32(0, 0, 0, 2, 0, 0, 0, 1)
#else
#error "GCM_W must be 512 or 256"
#endif

#define VBYTES (VB * 16)
#define STEP (4 * VBYTES)
#define STEP_BLOCKS (4 * VB)

static inline VT V FN(bswap)(V x)
{
	return V_SHUF8(x, V_BC128(_mm_set_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)));
}

/* The unreduced product a*b of each lane, added into lo/mi/hi. */
static inline VT void FN(mul_acc)(V a, V b, V *lo, V *mi, V *hi)
{
	*lo = V_XOR(*lo, V_CLMUL(a, b, 0x00));
	*mi = V_XOR3(*mi, V_CLMUL(a, b, 0x10), V_CLMUL(a, b, 0x01));
	*hi = V_XOR(*hi, V_CLMUL(a, b, 0x11));
}

/* lo into mi, the first half of a reduction (see the top of stoq_gcm.c). */
static inline VT V FN(fold_lo)(V lo, V mi)
{
	return V_XOR3(mi, V_SWAPQ(lo), V_CLMUL(lo, V_SET1_64((long long)GF_POLY_HI), 0x10));
}

/* mi into hi, the second half: each lane's reduced product. */
static inline VT V FN(fold_mi)(V mi, V hi)
{
	return V_XOR3(hi, V_SWAPQ(mi), V_CLMUL(mi, V_SET1_64((long long)GF_POLY_HI), 0x10));
}

static inline VT __m128i FN(fold_lanes)(V x)
{
#if GCM_W == 512
	__m256i y = _mm256_xor_si256(_mm512_castsi512_si256(x), _mm512_extracti64x4_epi64(x, 1));
#else
	__m256i y = x;
#endif
	return _mm_xor_si128(_mm256_castsi256_si128(y), _mm256_extracti128_si256(y, 1));
}

/*
 * GHASH of up to one step of blocks in d[0..3] (byte-reversed, zero past
 * the data), @n blocks, on top of @acc: block i is multiplied by H^(n-i),
 * which k->pw holds from pw[16 - n] on.
 */
static inline VT __m128i FN(ghash_chunk)(const struct stoq_gcm_key *k, __m128i acc,
					 const V d[4], unsigned int n)
{
	const uint8_t *pw = k->pw[16 - n];
	V lo = V_ZERO(), mi = lo, hi = lo;
	unsigned int vecs = (n + VB - 1) / VB;

	FN(mul_acc)(V_XOR(d[0], V_ZEXT128(acc)), V_LOADU(pw), &lo, &mi, &hi);
#pragma GCC unroll 4
	for (unsigned int j = 1; j < vecs; j++)
		FN(mul_acc)(d[j], V_LOADU(pw + VBYTES * j), &lo, &mi, &hi);
	return FN(fold_lanes)(FN(fold_mi)(FN(fold_lo)(lo, mi), hi));
}

/*
 * The first @len (under a step) bytes at @p into d[0..3], zero past them;
 * part_store writes the first @len bytes of x[0..3] to @p. AVX-512 masks
 * the bytes; AVX2 has no byte masks and goes through a buffer.
 */
#if GCM_W == 512
static inline __mmask64 lane_mask(size_t len, unsigned int j)
{
	size_t at = 64u * j;

	if (len >= at + 64)
		return ~(__mmask64)0;
	return len > at ? (((__mmask64)1 << (len - at)) - 1) : 0;
}

static inline VT void FN(part_load)(V d[4], const uint8_t *p, size_t len)
{
#pragma GCC unroll 4
	for (unsigned int j = 0; j < 4; j++)
		d[j] = _mm512_maskz_loadu_epi8(lane_mask(len, j), p + 64 * j);
}

static inline VT void FN(part_store)(uint8_t *p, const V x[4], size_t len)
{
#pragma GCC unroll 4
	for (unsigned int j = 0; j < 4; j++)
		_mm512_mask_storeu_epi8(p + 64 * j, lane_mask(len, j), x[j]);
}

/* Register j of a step's first @len bytes with the bytes past them zeroed. */
static inline VT V FN(part_zero)(V x, size_t len, unsigned int j)
{
	return _mm512_maskz_mov_epi8(lane_mask(len, j), x);
}
#else
static inline VT void FN(part_load)(V d[4], const uint8_t *p, size_t len)
{
	uint8_t b[STEP] __attribute__((aligned(32))) = { 0 };

	memcpy(b, p, len);
#pragma GCC unroll 4
	for (unsigned int j = 0; j < 4; j++)
		d[j] = V_LOADU(b + VBYTES * j);
}

static inline VT void FN(part_store)(uint8_t *p, const V x[4], size_t len)
{
	uint8_t b[STEP] __attribute__((aligned(32)));

#pragma GCC unroll 4
	for (unsigned int j = 0; j < 4; j++)
		V_STOREU(b + VBYTES * j, x[j]);
	memcpy(p, b, len);
}

static inline VT V FN(part_zero)(V x, size_t len, unsigned int j)
{
	/* 32 bytes of ones then 32 of zeros: a window on it is the mask. */
	static const uint8_t ones_zeros[64] = {
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	};
	size_t at = (size_t)VBYTES * j, keep = len <= at ? 0 : len - at > 32 ? 32 : len - at;

	return _mm256_and_si256(x, V_LOADU(ones_zeros + 32 - keep));
}
#endif

static VT __m128i FN(ghash_bytes)(const struct stoq_gcm_key *k, __m128i acc, const uint8_t *p,
				  size_t len)
{
	while (len) {
		size_t c = len < STEP ? len : STEP;
		V d[4];

		FN(part_load)(d, p, c);
#pragma GCC unroll 4
		for (unsigned int j = 0; j < 4; j++)
			d[j] = FN(bswap)(d[j]);
		acc = FN(ghash_chunk)(k, acc, d, (unsigned int)((c + 15) / 16));
		p += c;
		len -= c;
	}
	return acc;
}

/*
 * One full step: STEP_BLOCKS counter blocks through the rounds, XORed with
 * @in into @out (c[] gets the result), and, when @gh, GHASH of the blocks
 * g[] on top of *acc, its multiplications and reduction placed between the
 * rounds: AES waits on the AES unit, GHASH on the carry-less multiplier,
 * and in program order next to each other the core runs both at once (one
 * after the other, this ran at 0.9x wolfCrypt's AVX2 code).
 */
static inline __attribute__((always_inline)) VT void
FN(step)(const V *rk, const unsigned int rounds, V *ctr, const uint8_t *in, uint8_t *out, V c[4],
	 const bool gh, const V g[4], const V pw[4], __m128i *acc)
{
	const V inc = V_BC128(_mm_set_epi32(0, 0, 0, VB));
	V x[4], lo = V_ZERO(), mi = lo, hi = lo;

#pragma GCC unroll 4
	for (unsigned int j = 0; j < 4; j++) {
		x[j] = V_XOR(FN(bswap)(*ctr), rk[0]);
		*ctr = V_ADD32(*ctr, inc);
	}
#pragma GCC unroll 16
	for (unsigned int r = 1; r < rounds; r++) {
#pragma GCC unroll 4
		for (unsigned int j = 0; j < 4; j++)
			x[j] = V_AESENC(x[j], rk[r]);
		if (!gh)
			continue;
		if (r <= 4)
			FN(mul_acc)(r == 1 ? V_XOR(g[0], V_ZEXT128(*acc)) : g[r - 1], pw[r - 1], &lo,
				    &mi, &hi);
		else if (r == 5)
			mi = FN(fold_lo)(lo, mi);
		else if (r == 6)
			hi = FN(fold_mi)(mi, hi);
		else if (r == 7)
			*acc = FN(fold_lanes)(hi);
	}
#pragma GCC unroll 4
	for (unsigned int j = 0; j < 4; j++) {
		c[j] = V_XOR(V_AESLAST(x[j], rk[rounds]), V_LOADU(in + VBYTES * j));
		V_STOREU(out + VBYTES * j, c[j]);
	}
}

/*
 * CTR from block 2 of the counter (J0 + 1: J0 = IV || 1 is kept for the
 * tag) with GHASH of the ciphertext: @in's bytes when decrypting, @out's
 * when encrypting. In place when out == in: each step loads before it
 * stores. Encrypting, the GHASH of one step's output runs in the next
 * step's rounds; decrypting, of the step's own input.
 */
static inline __attribute__((always_inline)) VT __m128i
FN(ctr_ghash)(const struct stoq_gcm_key *k, uint8_t *out, const uint8_t *in, size_t len,
	      __m128i j0r, __m128i acc, const bool enc, const unsigned int rounds)
{
	V rk[15], pw[4], c[4], g[4];
	V ctr = V_ADD32(V_BC128(j0r), V_COUNTS);
	bool pending = false;

#pragma GCC unroll 16
	for (unsigned int r = 0; r <= rounds; r++)
		rk[r] = V_BC128(_mm_load_si128((const __m128i *)k->rk[r]));
	/* H^STEP_BLOCKS .. H^1 */
#pragma GCC unroll 4
	for (unsigned int j = 0; j < 4; j++)
		pw[j] = V_LOADU(k->pw[16 - STEP_BLOCKS + VB * j]);
	for (; len >= STEP; len -= STEP, in += STEP, out += STEP) {
		if (!enc) {
#pragma GCC unroll 4
			for (unsigned int j = 0; j < 4; j++)
				g[j] = FN(bswap)(V_LOADU(in + VBYTES * j));
			FN(step)(rk, rounds, &ctr, in, out, c, true, g, pw, &acc);
			continue;
		}
		if (pending)
			FN(step)(rk, rounds, &ctr, in, out, c, true, g, pw, &acc);
		else
			FN(step)(rk, rounds, &ctr, in, out, c, false, g, pw, &acc);
#pragma GCC unroll 4
		for (unsigned int j = 0; j < 4; j++)
			g[j] = FN(bswap)(c[j]);
		pending = true;
	}
	if (pending)
		acc = FN(ghash_chunk)(k, acc, g, STEP_BLOCKS);
	if (len) { /* the last 1..STEP-1 bytes, in the registers they reach */
		unsigned int nv = (unsigned int)((len + VBYTES - 1) / VBYTES);
		V x[4], p[4], d[4];

#pragma GCC unroll 4
		for (unsigned int j = 0; j < 4; j++) {
			x[j] = V_XOR(FN(bswap)(ctr), rk[0]);
			d[j] = V_ZERO();
			ctr = V_ADD32(ctr, V_BC128(_mm_set_epi32(0, 0, 0, VB)));
		}
#pragma GCC unroll 16
		for (unsigned int r = 1; r < rounds; r++)
#pragma GCC unroll 4
			for (unsigned int j = 0; j < nv; j++)
				x[j] = V_AESENC(x[j], rk[r]);
		FN(part_load)(p, in, len);
#pragma GCC unroll 4
		for (unsigned int j = 0; j < nv; j++) {
			x[j] = V_XOR(V_AESLAST(x[j], rk[rounds]), p[j]);
			/* GHASH covers ciphertext only, zero past its end */
			d[j] = FN(bswap)(enc ? FN(part_zero)(x[j], len, j) : p[j]);
		}
		FN(part_store)(out, x, len);
		acc = FN(ghash_chunk)(k, acc, d, (unsigned int)((len + 15) / 16));
	}
	return acc;
}

static VT __m128i FN(crypt)(const struct stoq_gcm_key *k, uint8_t *out, const uint8_t *in,
			    size_t len, __m128i j0r, __m128i acc, bool enc)
{
	/* One copy per key size and direction, the rounds unrolled. */
	if (k->rounds == 10)
		return enc ? FN(ctr_ghash)(k, out, in, len, j0r, acc, true, 10)
			   : FN(ctr_ghash)(k, out, in, len, j0r, acc, false, 10);
	return enc ? FN(ctr_ghash)(k, out, in, len, j0r, acc, true, 14)
		   : FN(ctr_ghash)(k, out, in, len, j0r, acc, false, 14);
}

#undef V
#undef VB
#undef VT
#undef FN
#undef V_ZERO
#undef V_XOR
#undef V_XOR3
#undef V_ADD32
#undef V_BC128
#undef V_SHUF8
#undef V_SWAPQ
#undef V_CLMUL
#undef V_AESENC
#undef V_AESLAST
#undef V_LOADU
#undef V_STOREU
#undef V_SET1_64
#undef V_ZEXT128
#undef V_COUNTS
#undef VBYTES
#undef STEP
#undef STEP_BLOCKS
