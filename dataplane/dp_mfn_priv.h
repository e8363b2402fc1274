/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dp_mfn_priv — pieces of dp_mfn.c private to dataplane/, in a header so that
 * tests/dataplane/test_mfn.c reaches them without an EAL: the per-source
 * token bucket of L2's rate-limit action.
 */
#ifndef DP_MFN_PRIV_H
#define DP_MFN_PRIV_H

#include <stdbool.h>
#include <stdint.h>

/* Zeroed at start: empty, last used at TSC 0. */
struct dp_mfn_bucket {
	uint64_t tokens_x1000; /* fixed point */
	uint64_t last_tsc;
};

/*
 * Refill @b for the TSC ticks since its last use, at @rate_x1000 / 1000
 * tokens a second up to @burst_x1000 / 1000, then take one token if there is
 * one. True when a token was taken (the packet may pass).
 *
 * A bucket never used has last_tsc 0, so the first refill covers the whole
 * uptime: in 64 bits dt x rate wraps after ~20 h at the default rate (100/s,
 * 2.5 GHz TSC) and after 0.7 s at the largest mfn_rate_limit, leaving a
 * random, possibly empty, bucket. The product is taken in 128 bits, where it
 * cannot wrap, and clamped to the burst before it is narrowed. Only packets
 * L2 rate-limits come here, so the wide division is off the common path.
 */
static inline bool dp_mfn_bucket_take(struct dp_mfn_bucket *b, uint64_t tsc, uint64_t rate_x1000,
				      uint64_t burst_x1000, uint64_t tsc_hz)
{
	const unsigned __int128 add = (unsigned __int128)(tsc - b->last_tsc) * rate_x1000 / tsc_hz;

	b->last_tsc = tsc;
	/* Below the burst, add fits and so does the sum: tokens <= an earlier burst. */
	b->tokens_x1000 = add >= burst_x1000 ? burst_x1000 : b->tokens_x1000 + (uint64_t)add;
	if (b->tokens_x1000 > burst_x1000) /* the burst was lowered (mfn_rate_limit) */
		b->tokens_x1000 = burst_x1000;
	if (b->tokens_x1000 < 1000)
		return false;
	b->tokens_x1000 -= 1000;
	return true;
}

#endif /* DP_MFN_PRIV_H */
