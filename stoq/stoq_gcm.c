/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * stoq_gcm.c — AES-GCM (NIST SP 800-38D) on VAES and VPCLMULQDQ: the AES
 * rounds and the GHASH multiplications of four blocks per instruction in
 * 512-bit registers (AVX-512: Intel since Ice Lake, AMD since Zen 4), or
 * of two in 256-bit ones (AVX2 with VAES: AMD Zen 3, Intel's client cores
 * since Alder Lake). stoq_gcm_vec.h is the code for one width; it is
 * included once for each.
 *
 * Why: every byte a STOQ server sends is sealed once (RFC 9001 §5.3), and
 * wolfSSL 5.5.4's fastest AES-GCM is AES-NI with AVX2 (one block per
 * instruction), which was a third of a server's profile. It also works
 * out H^1..H^8 again on every call, a cost per packet, not per byte. Here
 * the key schedule and H^1..H^16 are made once per key (stoq_gcm_init)
 * and a packet is steps of four registers of blocks (256 bytes in 512-bit
 * registers, 128 in 256-bit ones): the counter blocks through the rounds,
 * then the ciphertext blocks multiplied by H^16..H^1 (H^8..H^1), summed
 * and reduced once. CPUs without VAES keep wolfCrypt's code (stoq_aead.c
 * chooses).
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

/* The 128-bit code (key schedule, single blocks) and each width's. */
#define GCM_TARGET __attribute__((target("aes,pclmul,avx2")))
#define GCM_TARGET_256 __attribute__((target("aes,pclmul,avx2,vaes,vpclmulqdq")))
#define GCM_TARGET_512 \
	__attribute__((target("aes,pclmul,avx2,avx512f,avx512bw,avx512vl,vaes,vpclmulqdq")))

/* The widest registers this CPU and OS run stoq_gcm in: 512, 256 or 0. */
static unsigned int gcm_cpu_width(void)
{
	unsigned int a, b, c, d, xlo, xhi;

	/* Leaf 1 ECX: bit 1 PCLMULQDQ, 25 AES-NI, 27 OSXSAVE, 28 AVX. */
	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 1)) || !(c & (1u << 25)) ||
	    !(c & (1u << 27)) || !(c & (1u << 28)))
		return 0;
	/* The OS saves the YMM state (XCR0 bits 1-2), or the registers would
	 * not survive a switch; for ZMM also the opmask and upper halves (5-7). */
	__asm__ volatile("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
	if ((xlo & 0x6) != 0x6)
		return 0;
	/* Leaf 7 EBX: bit 5 AVX2, 16 AVX512F, 30 AVX512BW, 31 AVX512VL; ECX:
	 * bit 9 VAES, 10 VPCLMULQDQ. */
	if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !(b & (1u << 5)) || !(c & (1u << 9)) ||
	    !(c & (1u << 10)))
		return 0;
	if ((b & (1u << 16)) && (b & (1u << 30)) && (b & (1u << 31)) && (xlo & 0xe6) == 0xe6)
		return 512;
	return 256;
}

static int gcm_width = -1; /* chosen on first use: the CPU's, or narrowed */

unsigned int stoq_gcm_width(void)
{
	if (gcm_width < 0)
		gcm_width = (int)gcm_cpu_width();
	return (unsigned int)gcm_width;
}

bool stoq_gcm_supported(void)
{
	return stoq_gcm_width() != 0;
}

int stoq_gcm_use_width(unsigned int w)
{
	unsigned int cpu = gcm_cpu_width();

	if (w == 0)
		w = cpu;
	if ((w != 256 && w != 512) || w > cpu)
		return -ENOTSUP;
	gcm_width = (int)w;
	return 0;
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

static GCM_TARGET __m128i mul128(__m128i a, __m128i b)
{
	const __m128i poly = _mm_set_epi64x((long long)GF_POLY_HI, 0);
	__m128i lo = _mm_clmulepi64_si128(a, b, 0x00), hi = _mm_clmulepi64_si128(a, b, 0x11);
	__m128i mi = _mm_xor_si128(_mm_clmulepi64_si128(a, b, 0x10), _mm_clmulepi64_si128(a, b, 0x01));

	mi = _mm_xor_si128(_mm_xor_si128(mi, _mm_shuffle_epi32(lo, 0x4e)),
			   _mm_clmulepi64_si128(lo, poly, 0x10));
	return _mm_xor_si128(_mm_xor_si128(hi, _mm_shuffle_epi32(mi, 0x4e)),
			     _mm_clmulepi64_si128(mi, poly, 0x10));
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

#define GCM_W 512
#include "stoq_gcm_vec.h"
#undef GCM_W
#define GCM_W 256
#include "stoq_gcm_vec.h"
#undef GCM_W

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

/*
 * J0 = IV || 0^31 || 1, byte-reversed. The IV is read as bytes 0-3 and
 * 4-11, not in one load: ngtcp2 makes each packet's nonce just before
 * sealing it (memcpy of the 12-byte IV, glibc's two 8-byte stores at 0
 * and 4, then an 8-byte XOR of the packet number into bytes 4-11), and a
 * load spanning two of those stores cannot be forwarded from them. It
 * waits instead for every store before it to reach the cache, the
 * packet's whole body among them: in a profile of the server at 1452-byte
 * packets the instruction after that load held 46 % of gcm_run's samples.
 * J0 is put together in registers for the same reason (a 16-byte load of
 * a buffer just written in three stores waited too).
 */
static GCM_TARGET __m128i j0_of(const uint8_t iv[STOQ_GCM_IV_LEN])
{
	uint32_t a;
	uint64_t b;

	memcpy(&a, iv, 4);
	memcpy(&b, iv + 4, 8);
	return bswap128(_mm_set_epi64x((long long)((b >> 32) | (1ull << 56)),
				       (long long)(a | (b << 32))));
}

GCM_TARGET void stoq_gcm_block(const struct stoq_gcm_key *k, uint8_t out[16], const uint8_t in[16])
{
	_mm_storeu_si128((__m128i *)out, aes_block(k, _mm_loadu_si128((const __m128i *)in)));
}

/* CTR over @in into @out and the tag over @aad and the ciphertext. */
static GCM_TARGET __m128i gcm_run(const struct stoq_gcm_key *k, uint8_t *out, const uint8_t *in,
				  size_t len, const uint8_t iv[STOQ_GCM_IV_LEN], const uint8_t *aad,
				  size_t aadlen, bool enc)
{
	__m128i j0r = j0_of(iv), ekj0 = aes_block(k, bswap128(j0r));
	__m128i acc;

	if (stoq_gcm_width() == 512) {
		acc = ghash_bytes_512(k, _mm_setzero_si128(), aad, aadlen);
		acc = crypt_512(k, out, in, len, j0r, acc, enc);
	} else {
		acc = ghash_bytes_256(k, _mm_setzero_si128(), aad, aadlen);
		acc = crypt_256(k, out, in, len, j0r, acc, enc);
	}
	return gcm_tag(k, acc, ekj0, aadlen, len);
}

GCM_TARGET void stoq_gcm_seal(const struct stoq_gcm_key *k, uint8_t *out, const uint8_t *in,
			      size_t len, const uint8_t iv[STOQ_GCM_IV_LEN], const uint8_t *aad,
			      size_t aadlen, uint8_t tag[STOQ_GCM_TAG_LEN])
{
	_mm_storeu_si128((__m128i *)tag, gcm_run(k, out, in, len, iv, aad, aadlen, true));
}

GCM_TARGET int stoq_gcm_open(const struct stoq_gcm_key *k, uint8_t *out, const uint8_t *in,
			     size_t len, const uint8_t iv[STOQ_GCM_IV_LEN], const uint8_t *aad,
			     size_t aadlen, const uint8_t tag[STOQ_GCM_TAG_LEN])
{
	__m128i t = gcm_run(k, out, in, len, iv, aad, aadlen, false);

	/* Compared whole, in constant time: no early exit on the first byte. */
	t = _mm_xor_si128(t, _mm_loadu_si128((const __m128i *)tag));
	return _mm_testz_si128(t, t) ? 0 : -EBADMSG;
}
