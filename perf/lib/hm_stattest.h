/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hm_stattest — two-sample tests for the benchmark regression check.
 *
 * Benchmarks here run on shared, noisy machines, so a regression is a claim
 * about two distributions of repeated measurements, not about two numbers.
 * bench-check compares the ratios measured now with the ratios stored in
 * perf/baseline.json using:
 *
 *  - Mann-Whitney U (Mann & Whitney 1947; Conover, "Practical Nonparametric
 *    Statistics", §5.1): is one sample stochastically smaller? Ranks with
 *    ties averaged; exact null distribution when there are no ties and
 *    n1 * n2 <= HM_MWU_EXACT_MAX, else the normal approximation with tie
 *    correction and continuity correction.
 *  - Two-sample Kolmogorov-Smirnov (Smirnov 1939; Numerical Recipes §14.3):
 *    do the two samples come from different distributions at all? D is the
 *    largest gap between the empirical CDFs; the p-value uses the Kolmogorov
 *    distribution with Stephens' small-sample correction.
 *
 * Pure functions; no allocation beyond a scratch copy of the inputs.
 * Errors: -EINVAL for an empty sample or a NaN, -ENOMEM.
 */
#ifndef HM_STATTEST_H
#define HM_STATTEST_H

#include <stddef.h>

/* Largest n1 * n2 for which the exact U distribution is computed. */
#define HM_MWU_EXACT_MAX 2500

struct hm_mwu_result {
	double u;	  /* U of the first sample: pairs (x, y) with x > y, ties count 1/2 */
	double z;	  /* normal approximation's z (0 when exact) */
	double p_less;	  /* P-value for H1: x tends to be smaller than y */
	double p_greater; /* P-value for H1: x tends to be larger than y */
	double p_two_sided;
	int exact;	  /* 1 when the exact distribution was used */
};

int hm_mwu_test(const double *x, size_t n1, const double *y, size_t n2,
		struct hm_mwu_result *out);

struct hm_ks_result {
	double d; /* sup |F1(t) - F2(t)| */
	double p; /* P-value for H1: the distributions differ */
};

int hm_ks_test(const double *x, size_t n1, const double *y, size_t n2, struct hm_ks_result *out);

/*
 * Kolmogorov distribution's survival function Q(lambda) =
 * 2 * sum_{k>=1} (-1)^(k-1) exp(-2 k^2 lambda^2); Q(1.358) ~= 0.05.
 */
double hm_ks_q(double lambda);

#endif /* HM_STATTEST_H */
