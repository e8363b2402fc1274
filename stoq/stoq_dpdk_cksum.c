// SPDX-License-Identifier: MIT
/*
 * The Internet checksum of a whole datagram, for ports without the UDP
 * checksum offloads (memif, ring, af_packet and af_xdp here; a NIC does it
 * in hardware).
 *
 * DPDK 22.11's rte_raw_cksum() adds one 16-bit word per iteration: about
 * two bytes a cycle, which made the UDP checksum of each packet sent ~13 %
 * of the server's time on a memif port. RFC 1071 §2 lets the sum be taken
 * in wider words as long as the carries are folded back at the end (and it
 * is the same in either byte order, so words are loaded as they lie in
 * memory, as rte_raw_cksum does): the SSE2 loop adds 32-bit words into
 * 64-bit lanes, the AVX2 one pairs of 16-bit words into 32-bit lanes that
 * are widened every 512 KiB; neither carries out below 2^48 bytes.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "stoq_dpdk_priv.h"

#if STOQ_DPDK_SUM_AVX2
#include <immintrin.h>
#elif defined(__SSE2__)
#include <emmintrin.h>
#endif

/* 64 bits of sum folded to 16, as rte_raw_cksum() folds its 32. */
static uint16_t fold64(uint64_t s)
{
	s = (s & 0xffffffffu) + (s >> 32);
	s = (s & 0xffffffffu) + (s >> 32);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (uint16_t)((s & 0xffff) + (s >> 16));
}

/* What a vector loop left: 8-byte words, then the last bytes in a zeroed
 * word at the same offsets (an odd byte lands where rte_raw_cksum() puts
 * it). */
static uint64_t sum_rest(const uint8_t *p, size_t len)
{
	uint64_t s = 0, w = 0;

	for (; len >= 8; len -= 8, p += 8) {
		memcpy(&w, p, sizeof(w));
		s += (w & 0xffffffffu) + (w >> 32);
	}
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	/*
	 * The last 0-7 bytes put together in a register, each where a load of
	 * the zeroed word would have it. Copied byte by byte into a word on
	 * the stack and loaded whole, they made a store-forwarding stall that
	 * had ~3.5 % of the server's unwound samples in perf/bench_stoq_ring.
	 */
	w = 0;
	if (len & 4) {
		uint32_t v;

		memcpy(&v, p, sizeof(v));
		w = v;
	}
	if (len & 2) {
		uint16_t v;

		memcpy(&v, p + (len & 4), sizeof(v));
		w |= (uint64_t)v << ((len & 4) * 8);
	}
	if (len & 1)
		w |= (uint64_t)p[len & 6] << ((len & 6) * 8);
#else
	{
		uint8_t tail[8] = { 0 };

		memcpy(tail, p, len);
		memcpy(&w, tail, sizeof(w));
	}
#endif
	return s + (w & 0xffffffffu) + (w >> 32);
}

uint16_t stoq_dpdk_sum_sse2(const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint64_t s = 0;

#if defined(__SSE2__)
	if (len >= 32) {
		const __m128i z = _mm_setzero_si128();
		__m128i a = z, b = z;

		/* Each 16 bytes: their four 32-bit words widened into 64-bit lanes. */
		for (; len >= 32; len -= 32, p += 32) {
			__m128i v = _mm_loadu_si128((const __m128i *)p);
			__m128i w = _mm_loadu_si128((const __m128i *)(p + 16));

			a = _mm_add_epi64(a, _mm_unpacklo_epi32(v, z));
			b = _mm_add_epi64(b, _mm_unpackhi_epi32(v, z));
			a = _mm_add_epi64(a, _mm_unpacklo_epi32(w, z));
			b = _mm_add_epi64(b, _mm_unpackhi_epi32(w, z));
		}
		a = _mm_add_epi64(a, b);
		s = (uint64_t)_mm_cvtsi128_si64(a) +
		    (uint64_t)_mm_cvtsi128_si64(_mm_unpackhi_epi64(a, a));
	}
#endif
	return fold64(s + sum_rest(p, len));
}

#if STOQ_DPDK_SUM_AVX2
/*
 * The same in 32-byte vectors, with no shuffle: each 16-bit word is biased
 * by -0x8000 (flipping its top bit makes it a signed value 0x8000 less) so
 * VPMADDWD by ones can add each pair of words into a 32-bit lane exactly;
 * the bias is added back once, 0x10000 per pair. The SSE2 loop's shuffles
 * queue on two of Zen 3's four vector pipes: 1460 L1-resident bytes take
 * ~72 TSC ticks here against its ~115 (micro-benchmark, 2026-12-03). Built
 * for AVX2 whatever the rest is compiled for (DPDK's pkg-config says
 * -march=corei7) and chosen at run time; tuned for Haswell, or GCC splits
 * each unaligned 32-byte load and store in two for the corei7 tuning.
 *
 * With @dst, the bytes are stored there as they are summed: the copy of a
 * payload into its mbuf and its checksum in one pass. The sum after the
 * copy had about an eighth of the server's unwound samples in a DWARF
 * profile of perf/bench_stoq_ring;
 * timed alone (a 1402-byte payload into mbuf-sized slots 170 bytes in, as
 * build() places it; 2026-12-03, Intel host) memcpy then sum took 345-410
 * TSC ticks and this 150-235.
 */
#define STOQ_AVX2 __attribute__((target("avx2,tune=haswell")))

static inline __attribute__((always_inline)) STOQ_AVX2 uint16_t sum_avx2(uint8_t *dst,
									  const uint8_t *p,
									  size_t len)
{
	const __m256i bias = _mm256_set1_epi16((short)0x8000), one = _mm256_set1_epi16(1);
	uint64_t s = 0;

	while (len >= 32) {
		/* A lane gains at most 2^16 in magnitude per vector: 8192
		 * iterations of two vectors keep a + b well inside 2^31. */
		size_t n = len / 64 < 8192 ? len / 64 : 8192, pairs;
		__m256i a = _mm256_setzero_si256(), b = a;
		__m128i x;
		int64_t t;

		for (size_t i = 0; i < n; i++, p += 64) {
			__m256i v = _mm256_loadu_si256((const __m256i *)p);
			__m256i w = _mm256_loadu_si256((const __m256i *)(p + 32));

			if (dst) {
				_mm256_storeu_si256((__m256i *)dst, v);
				_mm256_storeu_si256((__m256i *)(dst + 32), w);
				dst += 64;
			}
			a = _mm256_add_epi32(a, _mm256_madd_epi16(_mm256_xor_si256(v, bias), one));
			b = _mm256_add_epi32(b, _mm256_madd_epi16(_mm256_xor_si256(w, bias), one));
		}
		len -= n * 64;
		pairs = n * 16;
		if (n < 8192 && len >= 32) { /* the last whole vector */
			__m256i v = _mm256_loadu_si256((const __m256i *)p);

			if (dst) {
				_mm256_storeu_si256((__m256i *)dst, v);
				dst += 32;
			}
			a = _mm256_add_epi32(a, _mm256_madd_epi16(_mm256_xor_si256(v, bias), one));
			p += 32;
			len -= 32;
			pairs += 8;
		}
		a = _mm256_add_epi32(a, b);
		a = _mm256_add_epi64(_mm256_cvtepi32_epi64(_mm256_castsi256_si128(a)),
				     _mm256_cvtepi32_epi64(_mm256_extracti128_si256(a, 1)));
		x = _mm_add_epi64(_mm256_castsi256_si128(a), _mm256_extracti128_si256(a, 1));
		t = _mm_cvtsi128_si64(x) + _mm_cvtsi128_si64(_mm_unpackhi_epi64(x, x));
		s += (uint64_t)(t + (int64_t)pairs * 0x10000);
	}
	/*
	 * GCC 12 put no VZEROUPPER in this function (it does in the
	 * dataplane's target("avx2") ones), so the upper halves of the YMM
	 * registers stayed dirty until the next libc call: the first SSE
	 * instruction after it (DPDK's mempool get, built for corei7) and the
	 * first VEX one here each took about half of their function's samples
	 * in perf, and the server moved ~10 % less per core (bench_stoq_ring).
	 */
	_mm256_zeroupper();
	if (dst)
		memcpy(dst, p, len);
	return fold64(s + sum_rest(p, len));
}

STOQ_AVX2 uint16_t stoq_dpdk_sum_avx2(const void *buf, size_t len)
{
	return sum_avx2(NULL, buf, len);
}

STOQ_AVX2 uint16_t stoq_dpdk_copy_sum_avx2(void *dst, const void *src, size_t len)
{
	return sum_avx2(dst, src, len);
}
#endif

uint16_t stoq_dpdk_sum(const void *buf, size_t len)
{
#if STOQ_DPDK_SUM_AVX2
	/* One load and test of the CPU features libgcc read at start-up:
	 * nothing to cache, and nothing written that lcores could race on. */
	if (__builtin_cpu_supports("avx2"))
		return stoq_dpdk_sum_avx2(buf, len);
#endif
	return stoq_dpdk_sum_sse2(buf, len);
}

uint16_t stoq_dpdk_copy_sum(void *dst, const void *src, size_t len)
{
#if STOQ_DPDK_SUM_AVX2
	if (__builtin_cpu_supports("avx2"))
		return stoq_dpdk_copy_sum_avx2(dst, src, len);
#endif
	memcpy(dst, src, len);
	return stoq_dpdk_sum_sse2(dst, len);
}
