/* SPDX-License-Identifier: BSD-3-Clause */
/* dp_mfn: the token bucket of L2's rate-limit action (dp_mfn_priv.h). */
#include <criterion/criterion.h>

#include "dp_mfn_priv.h"

#define HZ 2500000000ull /* a 2.5 GHz TSC */

/* mfn_rate_limit @per_s as dp_mfn sets it: x1000 fixed point, burst rate / 4 + 1. */
static uint64_t rate_of(uint64_t per_s)
{
	return per_s * 1000;
}

static uint64_t burst_of(uint64_t per_s)
{
	return per_s * 1000 / 4 + 1000;
}

/* A bucket first used 0.8 s after boot at the largest rate: dt x rate is past 2^64. */
Test(dp_mfn_bucket, first_use_at_max_rate_is_full)
{
	struct dp_mfn_bucket b = {0};
	const uint64_t r = 10000000;

	cr_assert(dp_mfn_bucket_take(&b, 2000000000ull, rate_of(r), burst_of(r), HZ));
	cr_assert_eq(b.tokens_x1000, burst_of(r) - 1000, "tokens %lu, burst %lu",
		     (unsigned long)b.tokens_x1000, (unsigned long)burst_of(r));
}

/*
 * The default rate (100/s), a source first seen ~20.5 h after boot: dt x
 * rate is just past 2^64, and in 64 bits the bucket came out empty.
 */
Test(dp_mfn_bucket, first_use_after_20h_at_default_rate)
{
	struct dp_mfn_bucket b = {0};
	const uint64_t r = 100, tsc = 184467440737096ull; /* ceil(2^64 / 100000) */

	cr_assert(dp_mfn_bucket_take(&b, tsc, rate_of(r), burst_of(r), HZ), "empty after idle");
	cr_assert_eq(b.tokens_x1000, burst_of(r) - 1000);
	cr_assert_eq(b.last_tsc, tsc);
}

/* Idle for 2^54 ticks (~83 days at 2.5 GHz): any dt refills to exactly the burst. */
Test(dp_mfn_bucket, huge_dt_is_burst)
{
	struct dp_mfn_bucket b = {.tokens_x1000 = 0, .last_tsc = 5};
	const uint64_t r = 10000000;

	cr_assert(dp_mfn_bucket_take(&b, 5 + (1ull << 54), rate_of(r), burst_of(r), HZ));
	cr_assert_eq(b.tokens_x1000, burst_of(r) - 1000);
	b = (struct dp_mfn_bucket){.tokens_x1000 = 0, .last_tsc = 0};
	cr_assert(dp_mfn_bucket_take(&b, UINT64_MAX, rate_of(r), burst_of(r), HZ));
	cr_assert_eq(b.tokens_x1000, burst_of(r) - 1000);
}

/* Short gaps refill exactly: 10 ms at 100/s is one token, 5 ms half of one. */
Test(dp_mfn_bucket, small_dt_is_exact)
{
	const uint64_t r = 100, t0 = 1ull << 40;
	struct dp_mfn_bucket b = {.tokens_x1000 = 0, .last_tsc = t0};

	cr_assert(dp_mfn_bucket_take(&b, t0 + HZ / 100, rate_of(r), burst_of(r), HZ));
	cr_assert_eq(b.tokens_x1000, 0);
	cr_assert_not(
	    dp_mfn_bucket_take(&b, t0 + HZ / 100 + HZ / 200, rate_of(r), burst_of(r), HZ));
	cr_assert_eq(b.tokens_x1000, 500);
	cr_assert(dp_mfn_bucket_take(&b, t0 + 2 * (HZ / 100), rate_of(r), burst_of(r), HZ));
	cr_assert_eq(b.tokens_x1000, 0);
	cr_assert_not(dp_mfn_bucket_take(&b, t0 + 2 * (HZ / 100), rate_of(r), burst_of(r), HZ),
		      "no time, no token");
}

/* A lower mfn_rate_limit lowers the burst: a full bucket is cut to the new one. */
Test(dp_mfn_bucket, lowered_burst_clamps)
{
	struct dp_mfn_bucket b = {.tokens_x1000 = burst_of(100), .last_tsc = 7};

	cr_assert(dp_mfn_bucket_take(&b, 7, rate_of(1), burst_of(1), HZ));
	cr_assert_eq(b.tokens_x1000, burst_of(1) - 1000);
}
