/* SPDX-License-Identifier: BSD-3-Clause */
#include "hm_stattest.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static int check(const double *v, size_t n)
{
	if (n == 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (isnan(v[i]))
			return -EINVAL;
	return 0;
}

/*
 * Exact null distribution of U for sample sizes m, n without ties: the
 * number of orderings with U = u satisfies c(m, n, u) = c(m-1, n, u-n) +
 * c(m, n-1, u) (Mann & Whitney 1947, eq. 1). Returns P(U <= u) as counts
 * over C(m+n, m), in doubles (exact for the sizes allowed).
 */
static int mwu_exact_cdf(size_t m, size_t n, double u, double *cdf)
{
	size_t umax = m * n;
	/* freq[i][j][k]: only two planes of i are needed at a time. */
	double *prev, *cur;
	size_t stride = umax + 1;
	double total = 0, below = 0;

	prev = calloc((n + 1) * stride, sizeof(double));
	cur = calloc((n + 1) * stride, sizeof(double));
	if (!prev || !cur) {
		free(prev);
		free(cur);
		return -ENOMEM;
	}
	/* i = 0: one ordering, U = 0, for every j */
	for (size_t j = 0; j <= n; j++)
		prev[j * stride] = 1;
	for (size_t i = 1; i <= m; i++) {
		memset(cur, 0, (n + 1) * stride * sizeof(double));
		cur[0] = 1; /* j = 0 */
		for (size_t j = 1; j <= n; j++)
			for (size_t k = 0; k <= i * j; k++)
				cur[j * stride + k] =
					(k >= j ? prev[j * stride + k - j] : 0) + cur[(j - 1) * stride + k];
		double *t = prev;
		prev = cur;
		cur = t;
	}
	for (size_t k = 0; k <= umax; k++) {
		total += prev[n * stride + k];
		if ((double)k <= u + 1e-9)
			below += prev[n * stride + k];
	}
	*cdf = below / total;
	free(prev);
	free(cur);
	return 0;
}

int hm_mwu_test(const double *x, size_t n1, const double *y, size_t n2, struct hm_mwu_result *out)
{
	size_t n = n1 + n2;
	struct item {
		double v;
		int grp;
	} *all;
	double r1 = 0, tie_term = 0;
	int ties = 0, ret;

	if ((ret = check(x, n1)) || (ret = check(y, n2)))
		return ret;
	all = malloc(n * sizeof(*all));
	if (!all)
		return -ENOMEM;
	for (size_t i = 0; i < n1; i++)
		all[i] = (struct item){ x[i], 0 };
	for (size_t i = 0; i < n2; i++)
		all[n1 + i] = (struct item){ y[i], 1 };
	qsort(all, n, sizeof(*all), cmp_double); /* v is the first member */
	for (size_t i = 0; i < n;) {
		size_t j = i;
		double rank;

		while (j + 1 < n && all[j + 1].v == all[i].v)
			j++;
		rank = (double)(i + j) / 2.0 + 1.0; /* mid-rank of the tie group */
		if (j > i) {
			double t = (double)(j - i + 1);

			ties = 1;
			tie_term += t * t * t - t;
		}
		for (size_t k = i; k <= j; k++)
			if (all[k].grp == 0)
				r1 += rank;
		i = j + 1;
	}
	free(all);

	memset(out, 0, sizeof(*out));
	out->u = r1 - (double)n1 * (double)(n1 + 1) / 2.0;
	if (!ties && n1 * n2 <= HM_MWU_EXACT_MAX) {
		double le, lt;

		/* P(U <= u) and, by symmetry of the null, P(U >= u) = P(U <= n1 n2 - u). */
		if ((ret = mwu_exact_cdf(n1, n2, out->u, &le)) ||
		    (ret = mwu_exact_cdf(n1, n2, (double)(n1 * n2) - out->u, &lt)))
			return ret;
		out->p_less = le;
		out->p_greater = lt;
		out->exact = 1;
	} else {
		double mu = (double)n1 * (double)n2 / 2.0;
		double nn = (double)n;
		double var = (double)n1 * (double)n2 / 12.0 * ((nn + 1) - tie_term / (nn * (nn - 1)));
		double sd = sqrt(var);

		if (sd == 0) {
			out->p_less = out->p_greater = 1;
		} else {
			/* continuity correction of 1/2 toward the mean */
			double zl = (out->u - mu + 0.5) / sd, zg = (out->u - mu - 0.5) / sd;

			out->z = (out->u - mu) / sd;
			out->p_less = 0.5 * erfc(-zl / M_SQRT2);
			out->p_greater = 0.5 * erfc(zg / M_SQRT2);
		}
	}
	out->p_two_sided = fmin(1.0, 2.0 * fmin(out->p_less, out->p_greater));
	return 0;
}

double hm_ks_q(double lambda)
{
	double sum = 0, term, prev = 0;

	if (lambda < 1e-3)
		return 1.0;
	for (int k = 1; k <= 100; k++) {
		term = (k % 2 ? 2.0 : -2.0) * exp(-2.0 * k * k * lambda * lambda);
		sum += term;
		if (fabs(term) <= 1e-12 * fabs(sum) || fabs(term) <= 1e-10 * prev)
			return fmin(1.0, fmax(0.0, sum));
		prev = fabs(term);
	}
	return 1.0; /* series did not converge: lambda is tiny, no evidence */
}

int hm_ks_test(const double *x, size_t n1, const double *y, size_t n2, struct hm_ks_result *out)
{
	double *a, *b, d = 0, en;
	size_t i = 0, j = 0;
	int ret;

	if ((ret = check(x, n1)) || (ret = check(y, n2)))
		return ret;
	a = malloc(n1 * sizeof(double));
	b = malloc(n2 * sizeof(double));
	if (!a || !b) {
		free(a);
		free(b);
		return -ENOMEM;
	}
	memcpy(a, x, n1 * sizeof(double));
	memcpy(b, y, n2 * sizeof(double));
	qsort(a, n1, sizeof(double), cmp_double);
	qsort(b, n2, sizeof(double), cmp_double);
	while (i < n1 && j < n2) {
		double t = fmin(a[i], b[j]);

		while (i < n1 && a[i] <= t)
			i++;
		while (j < n2 && b[j] <= t)
			j++;
		d = fmax(d, fabs((double)i / (double)n1 - (double)j / (double)n2));
	}
	free(a);
	free(b);
	en = sqrt((double)n1 * (double)n2 / (double)(n1 + n2));
	out->d = d;
	out->p = hm_ks_q((en + 0.12 + 0.11 / en) * d);
	return 0;
}
