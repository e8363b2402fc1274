/* SPDX-License-Identifier: BSD-3-Clause */
#include "dp_stats.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rte_ethdev.h>

#include "dp_app.h"

static struct dp_lcore_stats dp_stats_private[RTE_MAX_LCORE];
struct dp_lcore_stats *dp_stats = dp_stats_private;
static struct hm_stats *dp_seg;

static const char *const dp_counter_help[] = {
#define DP_X(e, n, d) [DP_C_##e] = d,
	DP_COUNTERS(DP_X)
#undef DP_X
};

static const char *const dp_drop_help[] = {
#define DP_X(e, n, d) [DP_D_##e] = d,
	DP_DROPS(DP_X)
#undef DP_X
};

static const struct {
	const char *labels, *help;
} dp_hist_def[] = {
#define DP_X(e, l, d) [DP_H_##e] = {l, d},
	DP_HISTS(DP_X)
#undef DP_X
};

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
	memset(dp_stats, 0, sizeof(dp_stats_private));
}

#define WORD(field) ((uint32_t)(offsetof(struct dp_lcore_stats, field) / sizeof(uint64_t)))

/* Per lcore as well as summed: what shows each lcore's load and share. */
static bool per_lcore(enum dp_counter c)
{
	return c == DP_C_RX_PACKETS || c == DP_C_TX_PACKETS || c == DP_C_RX_POLLS ||
	       c == DP_C_RX_EMPTY_POLLS;
}

int dp_stats_segment_open(const char *name)
{
	struct hm_stats *s;
	int rc = 0;
	char why[96];

	_Static_assert(sizeof(struct dp_lcore_stats) % 64 == 0, "blocks are whole cache lines");
	s = hm_stats_create(name, RTE_MAX_LCORE, sizeof(struct dp_lcore_stats),
			    DP_C__COUNT + DP_D__COUNT + DP_PARSE__COUNT + DP_H__COUNT +
				    DP_PORTS_MAX * DP_P__COUNT);
	if (s == NULL) {
		rc = -errno;
		DP_LOG(ERR, "stats segment \"%s\": %s", name, strerror(errno));
		return rc;
	}
	for (int i = 0; i < DP_C__COUNT && rc >= 0; i++)
		rc = hm_stats_add(s, HM_STATS_COUNTER, dp_counter_name(i), NULL, dp_counter_help[i],
				  0, per_lcore(i) ? HM_STATS_F_PER_BLOCK : 0, WORD(c[i]));
	for (int i = 0; i < DP_D__COUNT && rc >= 0; i++) {
		snprintf(why, sizeof(why), "reason=%s", dp_drop_name(i));
		rc = hm_stats_add(s, HM_STATS_COUNTER, "drops", why, dp_drop_help[i], 0, 0,
				  WORD(drop[i]));
	}
	for (int i = 0; i < DP_PARSE__COUNT && rc >= 0; i++) {
		if (i == DP_PARSE_OK) {
			rc = hm_stats_add(s, HM_STATS_COUNTER, "parsed", NULL,
					  "packets parsed down to the QUIC header", 0, 0,
					  WORD(parse[i]));
			continue;
		}
		snprintf(why, sizeof(why), "reason=%s", dp_parse_result_name(i));
		rc = hm_stats_add(s, HM_STATS_COUNTER, "drops", why, dp_parse_result_desc(i), 0, 0,
				  WORD(parse[i]));
	}
	for (int i = 0; i < DP_H__COUNT && rc >= 0; i++)
		rc = hm_stats_add(s, HM_STATS_HISTOGRAM, "mfn_layer_seconds", dp_hist_def[i].labels,
				  dp_hist_def[i].help, 1e-9, 0, WORD(hist[i][0]));
	if (rc < 0) {
		DP_LOG(ERR, "stats segment \"%s\": directory: %s", name, strerror(-rc));
		hm_stats_destroy(s);
		return rc;
	}
	/* Counted so far (set-up) carries over. */
	memcpy(hm_stats_block(s, 0), dp_stats_private, sizeof(dp_stats_private));
	dp_seg = s;
	dp_stats = (struct dp_lcore_stats *)hm_stats_block(s, 0);
	DP_LOG(INFO, "stats segment %s", hm_stats_file(s));
	return 0;
}

void dp_stats_segment_label(unsigned int lcore_id, const char *role, int socket, int core)
{
	char l[HM_STATS_LABELS_MAX];

	if (dp_seg == NULL)
		return;
	/* Where the lcore runs (hwloc's view), so a dashboard can group by core and socket. */
	snprintf(l, sizeof(l), "lcore=%u,role=%s,socket=%d,core=%d", lcore_id, role, socket, core);
	hm_stats_block_label(dp_seg, lcore_id, l);
}

static const struct {
	const char *name, *help;
} dp_port_def[] = {
#define DP_X(e, n, f, d) [DP_P_##e] = {#n, d},
	DP_PORT_STATS(DP_X)
#undef DP_X
};

int dp_stats_segment_ports(const struct dp_app *app)
{
	char l[HM_STATS_LABELS_MAX];
	int rc;

	if (dp_seg == NULL)
		return 0;
	/*
	 * Entries added to a live segment: readers pick them up as they come.
	 * Only the main lcore's block holds port values, so the sum over
	 * blocks that readers take is that block's value.
	 */
	for (uint16_t i = 0; i < app->n_ports; i++) {
		snprintf(l, sizeof(l), "port=%u", app->ports[i].port_id);
		for (int k = 0; k < DP_P__COUNT; k++) {
			rc = hm_stats_add(dp_seg, HM_STATS_COUNTER, dp_port_def[k].name, l,
					  dp_port_def[k].help, 0, 0, WORD(port[i][k]));
			if (rc < 0) {
				DP_LOG(ERR, "stats segment: port %u counters: %s",
				       app->ports[i].port_id, strerror(-rc));
				return rc;
			}
		}
	}
	return 0;
}

void dp_stats_ports_update(const struct dp_app *app)
{
	struct dp_lcore_stats *st = &dp_stats[rte_get_main_lcore()];

	for (uint16_t i = 0; i < app->n_ports; i++) {
		struct rte_eth_stats es;

		if (rte_eth_stats_get(app->ports[i].port_id, &es) != 0)
			continue;
#define DP_X(e, n, f, d) hm_stats_set(&st->port[i][DP_P_##e], es.f);
		DP_PORT_STATS(DP_X)
#undef DP_X
	}
}

void dp_stats_segment_close(void)
{
	if (dp_seg == NULL)
		return;
	memcpy(dp_stats_private, dp_stats, sizeof(dp_stats_private));
	dp_stats = dp_stats_private;
	hm_stats_destroy(dp_seg);
	dp_seg = NULL;
}
