/* SPDX-License-Identifier: BSD-3-Clause */
/* mfn_cpe: Holt-Winters fits, baselines, config errors, bounds, unknown services. */
#include <criterion/criterion.h>
#include <errno.h>
#include <malloc.h>
#include <math.h>
#include <string.h>

#include "cpe.h"

#define SEC 1000000000ULL

static struct mfn_cpe_config cfg;
static char err[256];

static void setup(void)
{
	cr_assert_eq(mfn_cpe_config_defaults(&cfg, err, sizeof(err)), 0, "%s", err);
	cfg.season_len = 4;
	cfg.max_services = 8;
	cfg.horizon_max = 16;
}

TestSuite(cpe, .init = setup);

static struct mfn_cpe *make(void)
{
	struct mfn_cpe *c = mfn_cpe_create(&cfg);

	cr_assert_not_null(c, "errno %d", errno);
	return c;
}

static double linear(uint32_t t)
{
	return 100.0 + 5.0 * t;
}

static const double pattern[4] = { 10, 40, 25, -15 };

static double seasonal(uint32_t t)
{
	return 200.0 + pattern[t % 4];
}

static void feed(struct mfn_cpe *c, uint32_t svc, uint32_t from, uint32_t to,
		 double (*fn)(uint32_t))
{
	for (uint32_t t = from; t < to; t++)
		cr_assert_eq(mfn_cpe_observe(c, svc, (t + 1) * SEC, fn(t), 2 * fn(t), 3 * fn(t)), 0,
			     "t=%u", t);
}

static void expect_exact(struct mfn_cpe *c, uint32_t svc, uint32_t n, double (*fn)(uint32_t))
{
	struct mfn_cpe_forecast out[16];

	cr_assert_eq(mfn_cpe_predict(c, svc, 16, out), 0);
	for (uint32_t h = 1; h <= 16; h++) {
		double want = fn(n + h - 1);

		cr_expect_float_eq(out[h - 1].v[MFN_CPE_FLOWS], want, 1e-6 * want, "h=%u: %f vs %f",
				   h, out[h - 1].v[MFN_CPE_FLOWS], want);
		cr_expect_float_eq(out[h - 1].v[MFN_CPE_PKTS], 2 * want, 2e-6 * want);
		cr_expect_float_eq(out[h - 1].v[MFN_CPE_BYTES], 3 * want, 3e-6 * want);
	}
}

Test(cpe, linear_trend_is_fitted_exactly)
{
	struct mfn_cpe *c = make();

	feed(c, 7, 0, 7, linear);
	cr_expect_not(mfn_cpe_ready(c, 7), "needs two seasons");
	feed(c, 7, 7, 8, linear);
	cr_expect(mfn_cpe_ready(c, 7));
	expect_exact(c, 7, 8, linear);
	/* Through several parameter searches too. */
	feed(c, 7, 8, 41, linear);
	expect_exact(c, 7, 41, linear);
	mfn_cpe_destroy(c);
}

Test(cpe, seasonal_signal_is_fitted_exactly)
{
	struct mfn_cpe *c = make();

	feed(c, 1, 0, 8, seasonal);
	expect_exact(c, 1, 8, seasonal);
	feed(c, 1, 8, 30, seasonal);
	expect_exact(c, 1, 30, seasonal);
	mfn_cpe_destroy(c);
}

static double trend_season(uint32_t t)
{
	return linear(t) + pattern[t % 4];
}

Test(cpe, trend_plus_season_with_missed_intervals)
{
	struct mfn_cpe *c = make();

	feed(c, 2, 0, 13, trend_season);
	expect_exact(c, 2, 13, trend_season);
	/* Skip t = 13, 14: the model fills them with its own forecasts. */
	feed(c, 2, 15, 17, trend_season);
	expect_exact(c, 2, 17, trend_season);
	mfn_cpe_destroy(c);
}

Test(cpe, before_two_seasons_the_last_value_is_predicted)
{
	struct mfn_cpe *c = make();
	struct mfn_cpe_forecast out[3];

	feed(c, 3, 0, 3, seasonal);
	cr_assert_eq(mfn_cpe_predict(c, 3, 3, out), 0);
	for (int h = 0; h < 3; h++)
		cr_expect_float_eq(out[h].v[MFN_CPE_FLOWS], seasonal(2), 1e-9);
	mfn_cpe_destroy(c);
}

Test(cpe, baselines_are_naive_and_seasonal_naive)
{
	struct mfn_cpe *c = make();
	struct mfn_cpe_forecast out[9];

	feed(c, 4, 0, 3, trend_season);
	cr_expect_eq(mfn_cpe_predict_baseline(c, 4, MFN_CPE_SEASONAL_NAIVE, 2, out), -EAGAIN);
	feed(c, 4, 3, 23, trend_season); /* 23 observations, window of 16 */
	cr_assert_eq(mfn_cpe_predict_baseline(c, 4, MFN_CPE_NAIVE, 9, out), 0);
	for (int h = 0; h < 9; h++)
		cr_expect_float_eq(out[h].v[MFN_CPE_FLOWS], trend_season(22), 1e-9);
	cr_assert_eq(mfn_cpe_predict_baseline(c, 4, MFN_CPE_SEASONAL_NAIVE, 9, out), 0);
	/* Next index 23: h=1..4 repeat t=19..22, h=5..8 too, h=9 repeats t=23+8-12=19. */
	for (uint32_t h = 1; h <= 9; h++) {
		uint32_t src = 23 + h - 1 - 4 * ((h - 1) / 4 + 1);

		cr_expect_float_eq(out[h - 1].v[MFN_CPE_FLOWS], trend_season(src), 1e-9, "h=%u", h);
		cr_expect_float_eq(out[h - 1].v[MFN_CPE_BYTES], 3 * trend_season(src), 1e-9);
	}
	mfn_cpe_destroy(c);
}

Test(cpe, level_shift_is_followed)
{
	struct mfn_cpe *c = make();
	struct mfn_cpe_forecast out[1];
	uint32_t t;

	feed(c, 5, 0, 40, seasonal);
	for (t = 40; t < 60; t++)
		cr_assert_eq(mfn_cpe_observe(c, 5, (t + 1) * SEC, 2 * seasonal(t), 1, 1), 0);
	cr_assert_eq(mfn_cpe_predict(c, 5, 1, out), 0);
	cr_expect(fabs(out[0].v[MFN_CPE_FLOWS] / (2 * seasonal(t)) - 1) < 0.05, "%f vs %f",
		  out[0].v[MFN_CPE_FLOWS], 2 * seasonal(t));
	mfn_cpe_destroy(c);
}

Test(cpe, unknown_service_is_enoent)
{
	struct mfn_cpe *c = make();
	struct mfn_cpe_forecast out[1];
	double a, b, g;

	cr_expect_eq(mfn_cpe_predict(c, 42, 1, out), -ENOENT);
	cr_expect_eq(mfn_cpe_predict_baseline(c, 42, MFN_CPE_NAIVE, 1, out), -ENOENT);
	cr_expect_eq(mfn_cpe_params(c, 42, MFN_CPE_FLOWS, &a, &b, &g), -ENOENT);
	cr_expect_not(mfn_cpe_ready(c, 42));
	cr_assert_eq(mfn_cpe_observe(c, 41, SEC, 1, 1, 1), 0);
	cr_expect_eq(mfn_cpe_predict(c, 42, 1, out), -ENOENT);
	cr_expect_eq(mfn_cpe_predict(c, 41, 1, out), 0);
	cr_expect_eq(mfn_cpe_params(c, 41, MFN_CPE_FLOWS, &a, &b, &g), 0);
	cr_expect_float_eq(a, cfg.alpha, 1e-12);
	mfn_cpe_destroy(c);
}

Test(cpe, bad_inputs_are_einval)
{
	struct mfn_cpe *c = make();
	struct mfn_cpe_forecast out[17];

	cr_assert_eq(mfn_cpe_observe(c, 1, 10 * SEC, 1, 1, 1), 0);
	cr_expect_eq(mfn_cpe_observe(c, 1, 10 * SEC, 1, 1, 1), -EINVAL, "time must advance");
	cr_expect_eq(mfn_cpe_observe(c, 1, 11 * SEC, -1, 1, 1), -EINVAL);
	cr_expect_eq(mfn_cpe_observe(c, 1, 11 * SEC, 1, NAN, 1), -EINVAL);
	cr_expect_eq(mfn_cpe_predict(c, 1, 0, out), -EINVAL);
	cr_expect_eq(mfn_cpe_predict(c, 1, 17, out), -EINVAL);
	mfn_cpe_destroy(c);
}

Test(cpe, memory_is_bounded_per_service)
{
	struct mfn_cpe *c;
	size_t per;
	struct mallinfo2 before, after;

	cfg.max_services = 2;
	c = make();
	per = mfn_cpe_service_bytes(c);
	/* 3 metrics x (season 4 + window 4 x 4) doubles, plus the header. */
	cr_expect_geq(per, 3 * (4 + 16) * sizeof(double));
	cr_expect_lt(per, 3 * (4 + 16) * sizeof(double) + 512);
	before = mallinfo2();
	for (uint32_t t = 0; t < 5000; t++) {
		cr_assert_eq(mfn_cpe_observe(c, 10, (t + 1) * SEC, t % 7, t % 5, t), 0);
		cr_assert_eq(mfn_cpe_observe(c, 11, (t + 1) * SEC, t % 3, 1, 1), 0);
	}
	after = mallinfo2();
	cr_expect_eq(after.uordblks, before.uordblks, "heap grew by %zd bytes",
		     (ssize_t)(after.uordblks - before.uordblks));
	cr_expect_eq(mfn_cpe_service_bytes(c), per);
	cr_expect_eq(mfn_cpe_service_count(c), 2);
	cr_expect_eq(mfn_cpe_observe(c, 12, SEC, 1, 1, 1), -ENOSPC);
	mfn_cpe_destroy(c);
}

Test(cpe, bad_config_is_rejected_naming_the_key)
{
	struct mfn_cpe_config c = cfg;

	cr_assert_eq(hm_cfg_set(&mfn_cpe_config_table, &c, "cpe_season_len", "1", false, err,
				sizeof(err)),
		     -EINVAL);
	cr_expect(strstr(err, "\"cpe_season_len\" is 1"), "%s", err);
	cr_assert_eq(hm_cfg_set(&mfn_cpe_config_table, &c, "cpe_alpha", "1.5", false, err,
				sizeof(err)),
		     -EINVAL);
	cr_expect(strstr(err, "\"cpe_alpha\" is 1.5: must be between 0 and 1"), "%s", err);

	c.window_seasons = 2;
	cr_assert_eq(mfn_cpe_config_check(&c, err, sizeof(err)), -EINVAL);
	cr_expect(strstr(err, "cpe_window_seasons"), "%s", err);
	errno = 0;
	cr_expect_null(mfn_cpe_create(&c));
	cr_expect_eq(errno, EINVAL);

	c = cfg;
	c.season_len = 10000;
	c.window_seasons = 64;
	cr_assert_eq(mfn_cpe_config_check(&c, err, sizeof(err)), -EINVAL);
	cr_expect(strstr(err, "cpe_window_seasons"), "%s", err);
	cr_expect_eq(mfn_cpe_config_check(&cfg, err, sizeof(err)), 0, "%s", err);
}
