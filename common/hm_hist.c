/* SPDX-License-Identifier: BSD-3-Clause */
#include "hm_hist.h"

uint64_t hm_hist_upper(unsigned int i)
{
	unsigned int k, m;

	if (i >= HM_HIST_BUCKETS - 1)
		return UINT64_MAX;
	if (i < (1u << HM_HIST_SUB_BITS))
		return i;
	k = i >> HM_HIST_SUB_BITS;
	m = i & ((1u << HM_HIST_SUB_BITS) - 1);
	return ((uint64_t)((1u << HM_HIST_SUB_BITS) + m + 1) << (k - 1)) - 1;
}

double hm_hist_quantile(const uint64_t *h, double q)
{
	uint64_t total = 0, acc = 0;
	double rank;

	for (unsigned int i = 0; i < HM_HIST_BUCKETS; i++)
		total += h[i];
	if (total == 0)
		return 0;
	rank = q * (double)total;
	for (unsigned int i = 0; i < HM_HIST_BUCKETS; i++) {
		if (h[i] == 0 || (double)(acc + h[i]) < rank) {
			acc += h[i];
			continue;
		}
		double lo = i == 0 ? 0 : (double)hm_hist_upper(i - 1) + 1;
		double hi = i == HM_HIST_BUCKETS - 1 ? lo : (double)hm_hist_upper(i) + 1;

		return lo + (hi - lo) * (rank - (double)acc) / (double)h[i];
	}
	return (double)hm_hist_upper(HM_HIST_BUCKETS - 2) + 1;
}
