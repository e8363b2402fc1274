/* SPDX-License-Identifier: BSD-3-Clause */
#include "cpe.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Scale of the errors: an EWMA of |clipped error| with this weight. */
#define CPE_SCALE_RATE 0.1

struct cpe_series {
	double a, b, g;
	double level, trend, scale;
	double *season; /* m, indexed by observation index mod m */
	double *win;	/* window_seasons * m, ring indexed by observation index */
};

struct cpe_svc {
	uint32_t id;
	bool used;
	bool ready;
	uint64_t n; /* observations stored since the model (re)started */
	uint64_t last_t;
	struct cpe_series s[MFN_CPE_NMETRIC];
};

struct mfn_cpe {
	struct mfn_cpe_config cfg;
	uint32_t m, wlen; /* season length, window length in intervals */
	uint64_t interval_ns;
	struct cpe_svc *svc;
	double *store;	  /* every service's seasons and windows */
	int32_t *index;	  /* open addressing: service id -> slot, -1 empty */
	uint32_t index_mask;
	uint32_t nsvc;
	double *scratch;  /* wlen: one window, chronological */
	double *sscratch; /* m: a candidate's seasonal indices */
};

/* ---- configuration ---- */

#define F(x) HM_CFG_FIELD(struct mfn_cpe_config, x)
static const struct hm_cfg_key cpe_config_keys[] = {
	{ .name = "cpe_max_services", .type = HM_CFG_U32, .def = "1024", F(max_services),
	  .min = 1, .max = 1 << 20, .help = "services whose load is predicted" },
	{ .name = "cpe_season_len", .type = HM_CFG_U32, .def = "24", F(season_len), .min = 2,
	  .max = 10080, .help = "intervals per season (e.g. 24 hourly samples = one day)" },
	{ .name = "cpe_window_seasons", .type = HM_CFG_U32, .def = "4", F(window_seasons),
	  .min = 3, .max = 64, .help = "seasons kept for parameter selection (>= 3)" },
	{ .name = "cpe_interval_ms", .type = HM_CFG_U32, .def = "1000", F(interval_ms), .min = 1,
	  .max = 86400000, .help = "sampling interval of the counters" },
	{ .name = "cpe_horizon_max", .type = HM_CFG_U32, .def = "64", F(horizon_max), .min = 1,
	  .max = 100000, .runtime = true, .help = "largest horizon a prediction may ask for" },
	{ .name = "cpe_alpha", .type = HM_CFG_DOUBLE, .def = "0.2", F(alpha), .dmin = 0.0,
	  .dmax = 1.0, .help = "level smoothing (start value when autotune is on)" },
	{ .name = "cpe_beta", .type = HM_CFG_DOUBLE, .def = "0.02", F(beta), .dmin = 0.0,
	  .dmax = 1.0, .help = "trend smoothing" },
	{ .name = "cpe_gamma", .type = HM_CFG_DOUBLE, .def = "0.1", F(gamma), .dmin = 0.0,
	  .dmax = 1.0, .help = "seasonal smoothing" },
	{ .name = "cpe_autotune", .type = HM_CFG_BOOL, .def = "true", F(autotune),
	  .runtime = true, .help = "grid-search alpha, beta, gamma every season" },
	{ .name = "cpe_robust_k", .type = HM_CFG_DOUBLE, .def = "3.0", F(robust_k), .dmin = 0.0,
	  .dmax = 100.0, .runtime = true,
	  .help = "clip one-step errors beyond k error scales (0 = plain Holt-Winters)" },
};
#undef F

const struct hm_cfg_table mfn_cpe_config_table = {
	.what = "cpe config",
	.keys = cpe_config_keys,
	.n_keys = sizeof(cpe_config_keys) / sizeof(cpe_config_keys[0]),
	.obj_size = sizeof(struct mfn_cpe_config),
};

int mfn_cpe_config_defaults(struct mfn_cpe_config *cfg, char *err, size_t errlen)
{
	return hm_cfg_defaults(&mfn_cpe_config_table, cfg, err, errlen);
}

int mfn_cpe_config_check(const struct mfn_cpe_config *cfg, char *err, size_t errlen)
{
	struct mfn_cpe_config tmp = *cfg;
	char text[64];

	for (size_t i = 0; i < mfn_cpe_config_table.n_keys; i++) {
		const struct hm_cfg_key *k = &cpe_config_keys[i];

		if (hm_cfg_format(k, cfg, text, sizeof(text)) ||
		    hm_cfg_set(&mfn_cpe_config_table, &tmp, k->name, text, false, err, errlen))
			return -EINVAL;
	}
	if ((uint64_t)cfg->season_len * cfg->window_seasons > (1u << 18)) {
		if (err)
			snprintf(err, errlen,
				 "\"cpe_window_seasons\" is %u: window of %llu intervals above 2^18",
				 cfg->window_seasons,
				 (unsigned long long)cfg->season_len * cfg->window_seasons);
		return -EINVAL;
	}
	return 0;
}

/* ---- Holt-Winters, additive (FPP §8.3) ---- */

/*
 * Start values from two seasons y[0..2m-1] whose first sample has phase
 * @p0: trend = (mean2 - mean1) / m, level at the end of season 1 on that
 * line, seasonal index = first season minus the line.
 */
static void hw_init(const double *y, uint32_t m, uint32_t p0, double *season, double *level,
		    double *trend)
{
	double m1 = 0, m2 = 0, b;

	for (uint32_t i = 0; i < m; i++) {
		m1 += y[i];
		m2 += y[m + i];
	}
	m1 /= m;
	m2 /= m;
	b = (m2 - m1) / m;
	for (uint32_t i = 0; i < m; i++)
		season[(p0 + i) % m] = y[i] - (m1 + (i - (m - 1) / 2.0) * b);
	*level = m1 + (m - 1) / 2.0 * b;
	*trend = b;
}

/* One recursion step for observation @y at phase @p; returns the raw one-step error. */
static inline double hw_step(double a, double b, double g, double k, double *level,
			     double *trend, double *scale, double *season_p, double y)
{
	double l0 = *level, b0 = *trend;
	double f = l0 + b0 + *season_p;
	double e = y - f;

	if (k > 0) {
		double lim = k * *scale;
		double ec = e > lim ? lim : (e < -lim ? -lim : e);
		double floor = 1e-3 * fabs(l0) + 1e-12;

		y = f + ec;
		*scale = (1 - CPE_SCALE_RATE) * *scale + CPE_SCALE_RATE * fabs(ec) * 1.25;
		if (*scale < floor)
			*scale = floor;
	}
	*level = a * (y - *season_p) + (1 - a) * (l0 + b0);
	*trend = b * (*level - l0) + (1 - b) * b0;
	*season_p = g * (y - l0 - b0) + (1 - g) * *season_p;
	return e;
}

/*
 * Run one parameter set over y[0..len-1] (len >= 2m, first sample at phase
 * @p0): start values from the first two seasons, recursions from index m
 * (season 2 only warms the state up). Returns the one-step SSE over indices
 * >= 2m, which the start values never saw.
 */
static double hw_run(const double *y, uint32_t len, uint32_t m, uint32_t p0, double a,
		     double b, double g, double k, double *season, double *level, double *trend,
		     double *scale)
{
	double sse = 0;

	hw_init(y, m, p0, season, level, trend);
	*scale = 0.05 * fabs(*level) + 1e-12;
	for (uint32_t i = m; i < len; i++) {
		double e = hw_step(a, b, g, k, level, trend, scale, &season[(p0 + i) % m], y[i]);

		if (i >= 2 * m)
			sse += e * e;
	}
	return sse;
}

static const double cpe_grid_a[] = { 0.05, 0.1, 0.2, 0.35, 0.5, 0.7, 0.9 };
static const double cpe_grid_b[] = { 0.0, 0.01, 0.03, 0.1, 0.2 };
static const double cpe_grid_g[] = { 0.02, 0.05, 0.1, 0.2, 0.35, 0.5 };

/* Copy a series' window into scratch, oldest first; returns its length. */
static uint32_t cpe_window(const struct mfn_cpe *cpe, const struct cpe_svc *s,
			   const struct cpe_series *ser, double *out)
{
	uint32_t len = s->n < cpe->wlen ? (uint32_t)s->n : cpe->wlen;
	uint64_t first = s->n - len;

	for (uint32_t i = 0; i < len; i++)
		out[i] = ser->win[(first + i) % cpe->wlen];
	return len;
}

/* Refit one series' state over its window, optionally choosing the parameters first. */
static void cpe_refit(struct mfn_cpe *cpe, struct cpe_svc *s, struct cpe_series *ser,
		      bool search)
{
	uint32_t m = cpe->m;
	uint32_t len = cpe_window(cpe, s, ser, cpe->scratch);
	uint32_t p0 = (uint32_t)((s->n - len) % m);
	double k = cpe->cfg.robust_k;

	if (search && len >= 3 * m) {
		double best = INFINITY;

		for (size_t i = 0; i < sizeof(cpe_grid_a) / sizeof(double); i++)
			for (size_t j = 0; j < sizeof(cpe_grid_b) / sizeof(double); j++)
				for (size_t l = 0; l < sizeof(cpe_grid_g) / sizeof(double); l++) {
					double lv, tr, sc;
					double sse = hw_run(cpe->scratch, len, m, p0, cpe_grid_a[i],
							    cpe_grid_b[j], cpe_grid_g[l], k,
							    cpe->sscratch, &lv, &tr, &sc);

					if (sse < best) {
						best = sse;
						ser->a = cpe_grid_a[i];
						ser->b = cpe_grid_b[j];
						ser->g = cpe_grid_g[l];
					}
				}
	}
	hw_run(cpe->scratch, len, m, p0, ser->a, ser->b, ser->g, k, ser->season, &ser->level,
	       &ser->trend, &ser->scale);
}

/* ---- services ---- */

static struct cpe_svc *cpe_find(const struct mfn_cpe *cpe, uint32_t id, uint32_t *hole)
{
	uint32_t h = (id * 2654435761u) & cpe->index_mask;

	for (;; h = (h + 1) & cpe->index_mask) {
		int32_t slot = cpe->index[h];

		if (slot < 0) {
			if (hole)
				*hole = h;
			return NULL;
		}
		if (cpe->svc[slot].id == id)
			return &cpe->svc[slot];
	}
}

static void cpe_svc_restart(struct mfn_cpe *cpe, struct cpe_svc *s)
{
	s->n = 0;
	s->ready = false;
	for (int k = 0; k < MFN_CPE_NMETRIC; k++) {
		s->s[k].a = cpe->cfg.alpha;
		s->s[k].b = cpe->cfg.beta;
		s->s[k].g = cpe->cfg.gamma;
	}
}

/* One stored observation: window, then the live model or its start. */
static void cpe_push(struct mfn_cpe *cpe, struct cpe_svc *s, const double *y)
{
	uint32_t m = cpe->m;
	uint64_t i = s->n;

	for (int k = 0; k < MFN_CPE_NMETRIC; k++) {
		struct cpe_series *ser = &s->s[k];

		ser->win[i % cpe->wlen] = y[k];
		if (s->ready)
			hw_step(ser->a, ser->b, ser->g, cpe->cfg.robust_k, &ser->level, &ser->trend,
				&ser->scale, &ser->season[i % m], y[k]);
	}
	s->n++;
	if (!s->ready && s->n == 2ULL * m) {
		for (int k = 0; k < MFN_CPE_NMETRIC; k++)
			cpe_refit(cpe, s, &s->s[k], false);
		s->ready = true;
	} else if (s->ready && cpe->cfg.autotune && s->n % m == 0 && s->n >= 3ULL * m) {
		for (int k = 0; k < MFN_CPE_NMETRIC; k++)
			cpe_refit(cpe, s, &s->s[k], true);
	}
}

static double cpe_forecast1(const struct mfn_cpe *cpe, const struct cpe_svc *s,
			    const struct cpe_series *ser, unsigned int h)
{
	if (!s->ready)
		return ser->win[(s->n - 1) % cpe->wlen];
	/* FPP §8.3: the seasonal index of the last season that had this phase. */
	return ser->level + h * ser->trend + ser->season[(s->n + h - 1) % cpe->m];
}

int mfn_cpe_observe(struct mfn_cpe *cpe, uint32_t service, uint64_t t_ns, double flows,
		    double pkts, double bytes)
{
	double y[MFN_CPE_NMETRIC] = { flows, pkts, bytes };
	uint32_t hole;
	struct cpe_svc *s;
	uint64_t gap;

	for (int k = 0; k < MFN_CPE_NMETRIC; k++)
		if (!isfinite(y[k]) || y[k] < 0)
			return -EINVAL;
	s = cpe_find(cpe, service, &hole);
	if (!s) {
		if (cpe->nsvc == cpe->cfg.max_services)
			return -ENOSPC;
		s = &cpe->svc[cpe->nsvc];
		s->id = service;
		s->used = true;
		cpe->index[hole] = (int32_t)cpe->nsvc++;
		cpe_svc_restart(cpe, s);
		s->last_t = t_ns;
		cpe_push(cpe, s, y);
		return 0;
	}
	if (t_ns <= s->last_t || t_ns - s->last_t < cpe->interval_ns / 2)
		return -EINVAL;
	gap = (t_ns - s->last_t + cpe->interval_ns / 2) / cpe->interval_ns;
	s->last_t = t_ns;
	if (gap > cpe->wlen) {
		cpe_svc_restart(cpe, s);
	} else {
		/* Missed intervals: carry the model's own one-step forecast forward. */
		for (uint64_t g = 1; g < gap; g++) {
			double f[MFN_CPE_NMETRIC];

			for (int k = 0; k < MFN_CPE_NMETRIC; k++) {
				f[k] = cpe_forecast1(cpe, s, &s->s[k], 1);
				f[k] = f[k] < 0 ? 0 : f[k];
			}
			cpe_push(cpe, s, f);
		}
	}
	cpe_push(cpe, s, y);
	return 0;
}

int mfn_cpe_predict(const struct mfn_cpe *cpe, uint32_t service, unsigned int horizon,
		    struct mfn_cpe_forecast *out)
{
	const struct cpe_svc *s = cpe_find(cpe, service, NULL);

	if (!s)
		return -ENOENT;
	if (horizon == 0 || horizon > cpe->cfg.horizon_max)
		return -EINVAL;
	for (unsigned int h = 1; h <= horizon; h++)
		for (int k = 0; k < MFN_CPE_NMETRIC; k++) {
			double f = cpe_forecast1(cpe, s, &s->s[k], s->ready ? h : 1);

			out[h - 1].v[k] = f > 0 ? f : 0;
		}
	return 0;
}

int mfn_cpe_predict_baseline(const struct mfn_cpe *cpe, uint32_t service,
			     enum mfn_cpe_baseline kind, unsigned int horizon,
			     struct mfn_cpe_forecast *out)
{
	const struct cpe_svc *s = cpe_find(cpe, service, NULL);
	uint32_t m = cpe->m;

	if (!s)
		return -ENOENT;
	if (horizon == 0 || horizon > cpe->cfg.horizon_max ||
	    (kind != MFN_CPE_NAIVE && kind != MFN_CPE_SEASONAL_NAIVE))
		return -EINVAL;
	if (kind == MFN_CPE_SEASONAL_NAIVE && s->n < m)
		return -EAGAIN;
	for (unsigned int h = 1; h <= horizon; h++) {
		uint64_t j = s->n - 1;

		if (kind == MFN_CPE_SEASONAL_NAIVE)
			j = s->n + h - 1 - (uint64_t)m * ((h - 1) / m + 1);
		for (int k = 0; k < MFN_CPE_NMETRIC; k++)
			out[h - 1].v[k] = s->s[k].win[j % cpe->wlen];
	}
	return 0;
}

bool mfn_cpe_ready(const struct mfn_cpe *cpe, uint32_t service)
{
	const struct cpe_svc *s = cpe_find(cpe, service, NULL);

	return s && s->ready;
}

int mfn_cpe_params(const struct mfn_cpe *cpe, uint32_t service, enum mfn_cpe_metric metric,
		   double *alpha, double *beta, double *gamma)
{
	const struct cpe_svc *s = cpe_find(cpe, service, NULL);

	if (!s)
		return -ENOENT;
	if ((unsigned int)metric >= MFN_CPE_NMETRIC)
		return -EINVAL;
	*alpha = s->s[metric].a;
	*beta = s->s[metric].b;
	*gamma = s->s[metric].g;
	return 0;
}

size_t mfn_cpe_service_bytes(const struct mfn_cpe *cpe)
{
	return sizeof(struct cpe_svc) +
	       (size_t)MFN_CPE_NMETRIC * (cpe->m + cpe->wlen) * sizeof(double) +
	       2 * sizeof(int32_t); /* its share of the index */
}

unsigned int mfn_cpe_service_count(const struct mfn_cpe *cpe)
{
	return cpe->nsvc;
}

/* ---- lifecycle ---- */

struct mfn_cpe *mfn_cpe_create(const struct mfn_cpe_config *cfg)
{
	struct mfn_cpe *cpe;
	size_t per, nidx = 2;

	if (!cfg || mfn_cpe_config_check(cfg, NULL, 0)) {
		errno = EINVAL;
		return NULL;
	}
	cpe = calloc(1, sizeof(*cpe));
	if (!cpe)
		goto err;
	cpe->cfg = *cfg;
	cpe->m = cfg->season_len;
	cpe->wlen = cfg->season_len * cfg->window_seasons;
	cpe->interval_ns = (uint64_t)cfg->interval_ms * 1000000ULL;
	while (nidx < 2ULL * cfg->max_services)
		nidx <<= 1;
	cpe->index_mask = (uint32_t)nidx - 1;

	cpe->svc = calloc(cfg->max_services, sizeof(*cpe->svc));
	if (!cpe->svc)
		goto err_free_cpe;
	per = (size_t)MFN_CPE_NMETRIC * (cpe->m + cpe->wlen);
	cpe->store = calloc((size_t)cfg->max_services * per, sizeof(double));
	if (!cpe->store)
		goto err_free_svc;
	cpe->index = malloc(nidx * sizeof(*cpe->index));
	if (!cpe->index)
		goto err_free_store;
	memset(cpe->index, 0xff, nidx * sizeof(*cpe->index));
	cpe->scratch = malloc(((size_t)cpe->wlen + cpe->m) * sizeof(double));
	if (!cpe->scratch)
		goto err_free_index;
	cpe->sscratch = cpe->scratch + cpe->wlen;
	for (uint32_t i = 0; i < cfg->max_services; i++) {
		double *p = cpe->store + (size_t)i * per;

		for (int k = 0; k < MFN_CPE_NMETRIC; k++) {
			cpe->svc[i].s[k].season = p;
			cpe->svc[i].s[k].win = p + cpe->m;
			p += cpe->m + cpe->wlen;
		}
	}
	return cpe;

err_free_index:
	free(cpe->index);
err_free_store:
	free(cpe->store);
err_free_svc:
	free(cpe->svc);
err_free_cpe:
	free(cpe);
err:
	errno = ENOMEM;
	return NULL;
}

void mfn_cpe_destroy(struct mfn_cpe *cpe)
{
	if (!cpe)
		return;
	free(cpe->scratch);
	free(cpe->index);
	free(cpe->store);
	free(cpe->svc);
	free(cpe);
}
