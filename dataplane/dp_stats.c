/* SPDX-License-Identifier: BSD-3-Clause */
#include "dp_stats.h"

#include <string.h>

struct dp_lcore_stats dp_stats[RTE_MAX_LCORE];

static const char *const dp_counter_names[] = {
#define DP_X(e, n, d) [DP_C_##e] = #n,
	DP_COUNTERS(DP_X)
#undef DP_X
};

static const char *const dp_drop_names[] = {
#define DP_X(e, n, d) [DP_D_##e] = #n,
	DP_DROPS(DP_X)
#undef DP_X
};

const char *dp_counter_name(enum dp_counter c)
{
	return (unsigned int)c < DP_C__COUNT ? dp_counter_names[c] : "?";
}

const char *dp_drop_name(enum dp_drop d)
{
	return (unsigned int)d < DP_D__COUNT ? dp_drop_names[d] : "?";
}

void dp_stats_sum(struct dp_lcore_stats *out)
{
	memset(out, 0, sizeof(*out));
	for (unsigned int l = 0; l < RTE_MAX_LCORE; l++) {
		const struct dp_lcore_stats *s = &dp_stats[l];

		for (int i = 0; i < DP_C__COUNT; i++)
			out->c[i] += dp_stat_read(&s->c[i]);
		for (int i = 0; i < DP_D__COUNT; i++)
			out->drop[i] += dp_stat_read(&s->drop[i]);
		for (int i = 0; i < DP_PARSE__COUNT; i++)
			out->parse[i] += dp_stat_read(&s->parse[i]);
	}
}

uint64_t dp_stats_drops_total(const struct dp_lcore_stats *s)
{
	uint64_t t = 0;

	for (int i = 0; i < DP_D__COUNT; i++)
		t += s->drop[i];
	for (int i = 0; i < DP_PARSE__COUNT; i++)
		if (i != DP_PARSE_OK)
			t += s->parse[i];
	return t;
}

void dp_stats_reset(void)
{
	memset(dp_stats, 0, sizeof(dp_stats));
}
