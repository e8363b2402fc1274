/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hm_stattest against published values and exhaustive enumeration:
 *  - Hollander & Wolfe (1973) p. 69, the example in R's wilcox.test
 *    documentation: x > y one-sided, W = 35, exact p = 0.1272;
 *  - the U distribution for n1 = n2 = 3 (20 orderings) counted by hand;
 *  - Smirnov's critical values of the Kolmogorov distribution
 *    (Q = 0.10, 0.05, 0.01 at 1.2238, 1.3581, 1.6276);
 *  - with ties, a permutation test that enumerates every split.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>

#include "hm_stattest.h"

Test(mwu, hollander_wolfe_example)
{
	const double x[] = { 0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46 };
	const double y[] = { 1.15, 0.88, 0.90, 0.74, 1.21 };
	struct hm_mwu_result r;

	cr_assert_eq(hm_mwu_test(x, 10, y, 5, &r), 0);
	cr_assert(r.exact);
	cr_assert_float_eq(r.u, 35.0, 1e-12);
	cr_assert_float_eq(r.p_greater, 0.1272, 5e-5, "p_greater %.5f", r.p_greater);
}

Test(mwu, complete_separation_is_one_over_binomial)
{
	const double x[] = { 1, 2, 3, 4, 5 }, y[] = { 6, 7, 8, 9, 10 };
	struct hm_mwu_result r;

	cr_assert_eq(hm_mwu_test(x, 5, y, 5, &r), 0);
	cr_assert_float_eq(r.u, 0, 1e-12);
	cr_assert_float_eq(r.p_less, 1.0 / 252.0, 1e-12);
	cr_assert_float_eq(r.p_greater, 1.0, 1e-12);
	cr_assert_float_eq(r.p_two_sided, 2.0 / 252.0, 1e-12);
}

Test(mwu, three_by_three_distribution)
{
	/* U counts for n1 = n2 = 3: u = 0..9 → 1 1 2 3 3 3 3 2 1 1 (of 20). */
	const double x[] = { 1, 2, 5 }, y[] = { 3, 4, 6 };
	struct hm_mwu_result r;

	cr_assert_eq(hm_mwu_test(x, 3, y, 3, &r), 0);
	cr_assert_float_eq(r.u, 2, 1e-12);
	cr_assert_float_eq(r.p_less, 4.0 / 20.0, 1e-12);
	cr_assert_float_eq(r.p_greater, 18.0 / 20.0, 1e-12);
}

/* Exhaustive permutation p-value of U over mid-ranks: the reference for ties. */
static double perm_p_less(const double *all, int n1, int n, double u_obs)
{
	double ranks[32];
	long below = 0, total = 0;

	for (int i = 0; i < n; i++) {
		int lt = 0, eq = 0;

		for (int j = 0; j < n; j++) {
			lt += all[j] < all[i];
			eq += all[j] == all[i];
		}
		ranks[i] = lt + (eq + 1) / 2.0;
	}
	for (unsigned int mask = 0; mask < (1u << n); mask++) {
		double r1 = 0;

		if (__builtin_popcount(mask) != n1)
			continue;
		for (int i = 0; i < n; i++)
			if (mask & (1u << i))
				r1 += ranks[i];
		total++;
		below += r1 - n1 * (n1 + 1) / 2.0 <= u_obs + 1e-9;
	}
	return (double)below / (double)total;
}

Test(mwu, ties_use_normal_approximation_close_to_permutation)
{
	const double x[] = { 1, 2, 2, 3, 3, 4, 4 }, y[] = { 3, 4, 5, 5, 6, 6, 7 };
	double all[14];
	struct hm_mwu_result r;

	for (int i = 0; i < 7; i++) {
		all[i] = x[i];
		all[7 + i] = y[i];
	}
	cr_assert_eq(hm_mwu_test(x, 7, y, 7, &r), 0);
	cr_assert(!r.exact, "ties must not use the no-ties exact table");
	/* x>y pairs, ties 1/2: each 3 ties one 3 (1/2), each 4 beats 3 and ties 4 (3/2) */
	cr_assert_float_eq(r.u, 4.0, 1e-12);
	double ref = perm_p_less(all, 7, 14, r.u);
	cr_assert(fabs(r.p_less - ref) < 0.01, "normal %.4f vs permutation %.4f", r.p_less, ref);
	cr_assert(r.p_less < 0.05, "x is clearly smaller: p %.4f", r.p_less);
}

Test(mwu, identical_samples_show_no_difference)
{
	const double x[] = { 1, 1, 1, 1 };
	struct hm_mwu_result r;

	cr_assert_eq(hm_mwu_test(x, 4, x, 4, &r), 0);
	cr_assert_float_eq(r.p_less, 1.0, 1e-12);
	cr_assert_float_eq(r.p_two_sided, 1.0, 1e-12);
}

Test(mwu, bad_input)
{
	const double x[] = { 1, NAN };
	struct hm_mwu_result r;

	cr_assert_eq(hm_mwu_test(x, 0, x, 1, &r), -EINVAL);
	cr_assert_eq(hm_mwu_test(x, 2, x, 1, &r), -EINVAL);
}

Test(ks, kolmogorov_critical_values)
{
	cr_assert_float_eq(hm_ks_q(1.2238), 0.10, 5e-4, "%.5f", hm_ks_q(1.2238));
	cr_assert_float_eq(hm_ks_q(1.3581), 0.05, 5e-4, "%.5f", hm_ks_q(1.3581));
	cr_assert_float_eq(hm_ks_q(1.6276), 0.01, 2e-4, "%.5f", hm_ks_q(1.6276));
	cr_assert_float_eq(hm_ks_q(0.0), 1.0, 1e-12);
	cr_assert(hm_ks_q(3.0) < 1e-6);
}

Test(ks, statistic_by_hand)
{
	const double a[] = { 1, 2, 3 }, b[] = { 4, 5, 6 };
	const double c[] = { 1, 2, 2, 3 }, d[] = { 2, 3, 3, 4 };
	struct hm_ks_result r;

	cr_assert_eq(hm_ks_test(a, 3, b, 3, &r), 0);
	cr_assert_float_eq(r.d, 1.0, 1e-12);
	cr_assert_eq(hm_ks_test(c, 4, d, 4, &r), 0);
	cr_assert_float_eq(r.d, 0.5, 1e-12);
	cr_assert_eq(hm_ks_test(a, 3, a, 3, &r), 0);
	cr_assert_float_eq(r.d, 0.0, 1e-12);
	cr_assert_float_eq(r.p, 1.0, 1e-12);
}

Test(ks, detects_a_shift_in_large_samples)
{
	double x[200], y[200];
	struct hm_ks_result r;

	for (int i = 0; i < 200; i++) {
		x[i] = i / 200.0;
		y[i] = 0.3 + i / 200.0;
	}
	cr_assert_eq(hm_ks_test(x, 200, y, 200, &r), 0);
	cr_assert_float_eq(r.d, 0.3, 0.006); /* one grid step of 1/200 */
	cr_assert(r.p < 1e-6, "p %.3g", r.p);
}
