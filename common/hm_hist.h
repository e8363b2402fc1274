/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hm_hist — log-linear latency histograms (as HdrHistogram): values below 4
 * have a bucket each; above, every power of two is split into 4 equal
 * buckets, so a bucket's width is at most 25 % of its lower bound. Bucket
 * 127 also takes everything from 2^33 up (8.6 s in ns). A histogram is
 * HM_HIST_WORDS 64-bit words: the buckets, then the sum of the values; its
 * count is the sum of its buckets (so the two never disagree).
 *
 * Single writer per histogram (relaxed stores); any reader. The stats
 * segment (telemetry/hm_stats.h) exports them; STOQ and the other modules
 * fill them without depending on telemetry.
 */
#ifndef HM_HIST_H
#define HM_HIST_H

#include <stdint.h>

#define HM_HIST_SUB_BITS 2
#define HM_HIST_BUCKETS	 128
#define HM_HIST_WORDS	 (HM_HIST_BUCKETS + 1) /* buckets, then the sum */

static inline unsigned int hm_hist_bucket(uint64_t v)
{
	const unsigned int sub = 1u << HM_HIST_SUB_BITS;
	unsigned int e, i;

	if (v < sub)
		return (unsigned int)v;
	e = 63u - (unsigned int)__builtin_clzll(v);
	i = ((e - HM_HIST_SUB_BITS + 1) << HM_HIST_SUB_BITS) |
	    (unsigned int)((v >> (e - HM_HIST_SUB_BITS)) & (sub - 1));
	return i < HM_HIST_BUCKETS ? i : HM_HIST_BUCKETS - 1;
}

/* Owner thread: record @v in the histogram whose first word is @h. */
static inline void hm_hist_add(uint64_t *h, uint64_t v)
{
	unsigned int b = hm_hist_bucket(v);

	__atomic_store_n(&h[b], h[b] + 1, __ATOMIC_RELAXED);
	__atomic_store_n(&h[HM_HIST_BUCKETS], h[HM_HIST_BUCKETS] + v, __ATOMIC_RELAXED);
}

/* Inclusive upper bound of bucket @i (the Prometheus "le"); UINT64_MAX for the last. */
uint64_t hm_hist_upper(unsigned int i);

/* Value at quantile @q (0..1), interpolated inside its bucket; 0 when empty. */
double hm_hist_quantile(const uint64_t *h, double q);

#endif /* HM_HIST_H */
