/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mfn_cpe — L4 of the MFN, the context prediction engine.
 *
 * Per service, predicts new flows/s, packets/s and bytes/s for the next
 * intervals from the rates measured each interval, so that the orchestrator
 * can scale and keep warm pools before load arrives.
 *
 * Model: additive Holt-Winters (Holt 1957, "Forecasting seasonals and trends
 * by exponentially weighted moving averages", ONR memo 52; Winters 1960,
 * Management Science 6(3); in the notation of Hyndman & Athanasopoulos,
 * "Forecasting: Principles and Practice", 3rd ed., §8.3), one per metric:
 *     level    l_t = a (y_t - s_{t-m}) + (1 - a)(l_{t-1} + b_{t-1})
 *     trend    b_t = b' (l_t - l_{t-1}) + (1 - b') b_{t-1}
 *     season   s_t = g (y_t - l_{t-1} - b_{t-1}) + (1 - g) s_{t-m}
 *     forecast y_{t+h|t} = l_t + h b_t + s_{t+h-m(k+1)},  k = floor((h-1)/m)
 * with m = season_len intervals. Start values (FPP §8.3 / the classical
 * decomposition start): level and trend from the means of the first two
 * seasons, seasonal indices from the detrended first season; the second
 * season is then run through the recursions. Until two seasons have been
 * seen, predictions are the last value (mfn_cpe_ready() says false).
 *
 * Parameter selection: with autotune on, every season (once three seasons
 * are stored) a grid of (a, b', g) is run over the trailing window of
 * window_seasons seasons, each candidate started from the window's first two
 * seasons and scored by its one-step squared error on the rest; the best one
 * is then re-run over the window to become the live state. The grid costs
 * |grid| x window x 3 recursion steps per service per season; it runs inside
 * mfn_cpe_observe() at the season boundary, which is never on a packet path
 * (the CPE runs on the control/main lcore once per interval).
 *
 * Robustness: with robust_k > 0, a one-step error larger than robust_k times
 * the running scale of the errors is clipped before it enters the
 * recursions (Gelper, Fried & Croux 2010, "Robust forecasting with
 * exponential and Holt-Winters smoothing", J. Forecasting 29: a Huber psi on
 * the innovation), so a single burst does not drag the level; a real level
 * shift keeps producing large errors, the scale grows, and the level follows
 * within a few intervals.
 *
 * Memory: fixed at create time: max_services x (3 metrics x (season_len +
 * window_seasons x season_len) doubles + a small header); see
 * mfn_cpe_service_bytes(). Nothing allocates after create.
 *
 * Threading: none; one caller (the control lcore) owns a struct mfn_cpe.
 */
#ifndef MFN_CPE_H
#define MFN_CPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hm_config.h"

enum mfn_cpe_metric {
	MFN_CPE_FLOWS = 0, /* new flows per second */
	MFN_CPE_PKTS,	   /* packets per second */
	MFN_CPE_BYTES,	   /* bytes per second */
	MFN_CPE_NMETRIC,
};

/* One predicted interval. */
struct mfn_cpe_forecast {
	double v[MFN_CPE_NMETRIC]; /* indexed by enum mfn_cpe_metric */
};

enum mfn_cpe_baseline {
	MFN_CPE_NAIVE = 0,	/* y_{t+h|t} = y_t */
	MFN_CPE_SEASONAL_NAIVE, /* y_{t+h|t} = y_{t+h-m(k+1)} (FPP §5.2) */
};

/* Configuration; every field is a key of mfn_cpe_config_table. */
struct mfn_cpe_config {
	uint32_t max_services;	 /* cpe_max_services */
	uint32_t season_len;	 /* cpe_season_len: intervals per season, m */
	uint32_t window_seasons; /* cpe_window_seasons: trailing window for autotune;
				  * season_len * window_seasons <= 2^18 intervals */
	uint32_t interval_ms;	 /* cpe_interval_ms: sampling interval */
	uint32_t horizon_max;	 /* cpe_horizon_max: largest horizon predict() accepts */
	double alpha;		 /* cpe_alpha: level smoothing (start value with autotune) */
	double beta;		 /* cpe_beta: trend smoothing */
	double gamma;		 /* cpe_gamma: seasonal smoothing */
	bool autotune;		 /* cpe_autotune: grid search every season */
	double robust_k;	 /* cpe_robust_k: clip errors beyond k scales; 0 = off */
};

extern const struct hm_cfg_table mfn_cpe_config_table;

/* Fill @cfg with defaults. Returns 0 or -EINVAL (message in @err). */
int mfn_cpe_config_defaults(struct mfn_cpe_config *cfg, char *err, size_t errlen);

/*
 * Check a config filled by code: every key against its bounds, then across
 * keys. Returns 0 or -EINVAL with "\"key\" is value: reason" in @err.
 */
int mfn_cpe_config_check(const struct mfn_cpe_config *cfg, char *err, size_t errlen);

struct mfn_cpe;

/* Returns NULL with errno EINVAL (bad config) or ENOMEM. */
struct mfn_cpe *mfn_cpe_create(const struct mfn_cpe_config *cfg);

/* NULL is a no-op. */
void mfn_cpe_destroy(struct mfn_cpe *cpe);

/*
 * Record the rates measured over the interval that ends at @t_ns for
 * @service (any id; the first observation creates the service).
 * Intervals missed since the last call (t advanced by more than one
 * interval) are filled with the model's own one-step forecasts; a gap longer
 * than the window restarts the service's model.
 * Returns 0; -EINVAL when @t_ns does not advance by at least half an
 * interval or a rate is negative or not finite; -ENOSPC when @service is new
 * and max_services are already known.
 */
int mfn_cpe_observe(struct mfn_cpe *cpe, uint32_t service, uint64_t t_ns, double flows,
		    double pkts, double bytes);

/*
 * Forecast the next @horizon intervals into @out[0..horizon-1] (out[0] is
 * the next interval). Values are clamped at 0. Returns 0; -ENOENT for a
 * service never observed; -EINVAL for horizon 0 or above horizon_max.
 */
int mfn_cpe_predict(const struct mfn_cpe *cpe, uint32_t service, unsigned int horizon,
		    struct mfn_cpe_forecast *out);

/*
 * The same from a reference predictor over the same stored observations
 * (what the model must beat). Seasonal naive needs one full season stored,
 * else -EAGAIN. Other errors as mfn_cpe_predict().
 */
int mfn_cpe_predict_baseline(const struct mfn_cpe *cpe, uint32_t service,
			     enum mfn_cpe_baseline kind, unsigned int horizon,
			     struct mfn_cpe_forecast *out);

/* True once two seasons were observed and predictions come from the model. */
bool mfn_cpe_ready(const struct mfn_cpe *cpe, uint32_t service);

/*
 * The smoothing parameters in use for one metric of a service. Returns 0,
 * -ENOENT for an unknown service, -EINVAL for a bad metric.
 */
int mfn_cpe_params(const struct mfn_cpe *cpe, uint32_t service, enum mfn_cpe_metric metric,
		   double *alpha, double *beta, double *gamma);

/* Bytes held per service slot (fixed by the config). */
size_t mfn_cpe_service_bytes(const struct mfn_cpe *cpe);

/* Services currently known. */
unsigned int mfn_cpe_service_count(const struct mfn_cpe *cpe);

#endif /* MFN_CPE_H */
