/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * DPDK telemetry commands (/hmesh/stats, /hmesh/ports, /hmesh/lcores),
 * readable with dpdk-telemetry.py, and the counter report on stdout.
 * Callbacks run on DPDK's telemetry thread and only read counters.
 */
#include <inttypes.h>
#include <stdio.h>

#include <rte_ethdev.h>
#include <rte_mempool.h>
#include <rte_telemetry.h>

#include "dp_app.h"
#include "dp_stats.h"

static void add_drops(struct rte_tel_data *d, const struct dp_lcore_stats *s)
{
	for (int i = 0; i < DP_PARSE__COUNT; i++)
		if (i != DP_PARSE_OK)
			rte_tel_data_add_dict_u64(d, dp_parse_result_name(i), s->parse[i]);
	for (int i = 0; i < DP_D__COUNT; i++)
		rte_tel_data_add_dict_u64(d, dp_drop_name(i), s->drop[i]);
}

/*
 * Mbufs out of the pools now (in descriptor rings, in flight, or leaked): a
 * soak compares it before and after. Walks the per-lcore caches, racily.
 */
static uint64_t mbufs_in_use(void)
{
	uint64_t n = 0;

	for (unsigned int i = 0; i < RTE_MAX_NUMA_NODES; i++)
		if (dp_app.pool[i])
			n += rte_mempool_in_use_count(dp_app.pool[i]);
	return n;
}

static int tel_stats(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct dp_lcore_stats s;
	struct rte_tel_data *drops;

	(void)cmd;
	(void)params;
	dp_stats_sum(&s);
	rte_tel_data_start_dict(d);
	for (int i = 0; i < DP_C__COUNT; i++)
		rte_tel_data_add_dict_u64(d, dp_counter_name(i), s.c[i]);
	rte_tel_data_add_dict_u64(d, "parsed", s.parse[DP_PARSE_OK]);
	rte_tel_data_add_dict_u64(d, "drops_total", dp_stats_drops_total(&s));
	rte_tel_data_add_dict_u64(d, "mbufs_in_use", mbufs_in_use());
	drops = rte_tel_data_alloc();
	if (!drops)
		return -ENOMEM;
	rte_tel_data_start_dict(drops);
	add_drops(drops, &s);
	rte_tel_data_add_dict_container(d, "drops", drops, 0);
	return 0;
}

static int tel_ports(const char *cmd, const char *params, struct rte_tel_data *d)
{
	(void)cmd;
	(void)params;
	rte_tel_data_start_dict(d);
	for (uint16_t i = 0; i < dp_app.n_ports; i++) {
		const struct dp_port *p = &dp_app.ports[i];
		struct rte_eth_stats es;
		struct rte_tel_data *pd = rte_tel_data_alloc();
		char mac[RTE_ETHER_ADDR_FMT_SIZE], key[16];
		uint16_t mtu;

		if (!pd)
			return -ENOMEM;
		rte_tel_data_start_dict(pd);
		rte_tel_data_add_dict_string(pd, "name", p->name);
		rte_tel_data_add_dict_string(pd, "driver", p->driver);
		rte_ether_format_addr(mac, sizeof(mac), &p->mac);
		rte_tel_data_add_dict_string(pd, "mac", mac);
		rte_tel_data_add_dict_int(pd, "socket", p->socket);
		rte_tel_data_add_dict_int(pd, "rx_queues", p->n_rxq);
		rte_tel_data_add_dict_int(pd, "tx_queues", p->n_txq);
		rte_tel_data_add_dict_int(pd, "rss", p->rss);
		if (rte_eth_dev_get_mtu(p->port_id, &mtu) == 0)
			rte_tel_data_add_dict_int(pd, "mtu", mtu);
		if (rte_eth_stats_get(p->port_id, &es) == 0) {
			rte_tel_data_add_dict_u64(pd, "ipackets", es.ipackets);
			rte_tel_data_add_dict_u64(pd, "opackets", es.opackets);
			rte_tel_data_add_dict_u64(pd, "ibytes", es.ibytes);
			rte_tel_data_add_dict_u64(pd, "obytes", es.obytes);
			rte_tel_data_add_dict_u64(pd, "imissed", es.imissed);
			rte_tel_data_add_dict_u64(pd, "ierrors", es.ierrors);
			rte_tel_data_add_dict_u64(pd, "oerrors", es.oerrors);
			rte_tel_data_add_dict_u64(pd, "rx_nombuf", es.rx_nombuf);
		}
		snprintf(key, sizeof(key), "%u", p->port_id);
		rte_tel_data_add_dict_container(d, key, pd, 0);
	}
	return 0;
}

static int tel_lcores(const char *cmd, const char *params, struct rte_tel_data *d)
{
	unsigned int id;

	(void)cmd;
	(void)params;
	rte_tel_data_start_dict(d);
	RTE_LCORE_FOREACH_WORKER(id) {
		const struct dp_lcore *l = &dp_app.lcores[id];
		const struct dp_lcore_stats *s = &dp_stats[id];
		struct rte_tel_data *ld = rte_tel_data_alloc();
		char key[16];

		if (!ld)
			return -ENOMEM;
		rte_tel_data_start_dict(ld);
		rte_tel_data_add_dict_string(ld, "role", dp_role_name(l->role));
		rte_tel_data_add_dict_int(ld, "socket", l->socket);
		rte_tel_data_add_dict_int(ld, "core", l->hw_core);
		for (int i = 0; i < DP_C__COUNT; i++)
			rte_tel_data_add_dict_u64(ld, dp_counter_name(i), dp_stat_read(&s->c[i]));
		rte_tel_data_add_dict_u64(ld, "drops_total", dp_stats_drops_total(s));
		if (l->in_ring) {
			rte_tel_data_add_dict_u64(ld, "ring_count", rte_ring_count(l->in_ring));
			rte_tel_data_add_dict_u64(ld, "ring_capacity",
						  rte_ring_get_capacity(l->in_ring));
		}
		snprintf(key, sizeof(key), "%u", id);
		rte_tel_data_add_dict_container(d, key, ld, 0);
	}
	return 0;
}

int dp_telemetry_register(struct dp_app *app)
{
	int ret;

	(void)app;
	ret = rte_telemetry_register_cmd("/hmesh/stats", tel_stats,
					 "HyperMesh dataplane counters summed over lcores, drops "
					 "by reason. No parameters");
	if (ret == 0)
		ret = rte_telemetry_register_cmd("/hmesh/ports", tel_ports,
						 "HyperMesh ports: driver, queues, MAC, ethdev "
						 "counters. No parameters");
	if (ret == 0)
		ret = rte_telemetry_register_cmd("/hmesh/lcores", tel_lcores,
						 "HyperMesh lcores: role, placement, counters, ring "
						 "occupancy. No parameters");
	if (ret)
		DP_LOG(ERR, "telemetry commands: %s", rte_strerror(-ret));
	return ret;
}

void dp_stats_print(const struct dp_app *app, FILE *out, double seconds)
{
	struct dp_lcore_stats s;
	unsigned int id;

	dp_stats_sum(&s);
	fprintf(out, "counters after %.2f s:\n", seconds);
	for (int i = 0; i < DP_C__COUNT; i++)
		fprintf(out, "  %-26s %" PRIu64 "\n", dp_counter_name(i), s.c[i]);
	fprintf(out, "  %-26s %" PRIu64 "\n", "parsed", s.parse[DP_PARSE_OK]);
	fprintf(out, "drops: %" PRIu64 "\n", dp_stats_drops_total(&s));
	for (int i = 0; i < DP_PARSE__COUNT; i++)
		if (i != DP_PARSE_OK && s.parse[i])
			fprintf(out, "  %-26s %" PRIu64 "\n", dp_parse_result_name(i), s.parse[i]);
	for (int i = 0; i < DP_D__COUNT; i++)
		if (s.drop[i])
			fprintf(out, "  %-26s %" PRIu64 "\n", dp_drop_name(i), s.drop[i]);
	RTE_LCORE_FOREACH_WORKER(id) {
		const struct dp_lcore_stats *ls = &dp_stats[id];

		fprintf(out, "lcore %u (%s): rx %" PRIu64 " tx %" PRIu64 " drops %" PRIu64 "\n", id,
			dp_role_name(app->lcores[id].role), ls->c[DP_C_RX_PACKETS],
			ls->c[DP_C_TX_PACKETS], dp_stats_drops_total(ls));
	}
	/* One JSON line for scripts (tests, perf/). */
	fprintf(out, "stats-json: {\"seconds\":%.6f", seconds);
	for (int i = 0; i < DP_C__COUNT; i++)
		fprintf(out, ",\"%s\":%" PRIu64, dp_counter_name(i), s.c[i]);
	{
		/* The PMDs' own count: what perf/telemetry.sh uses with counters compiled out. */
		uint64_t prx = 0;

		/* Copied into the main lcore's block (dp_stats_ports_update). */
		for (uint16_t i = 0; i < app->n_ports && i < DP_PORTS_MAX; i++)
			prx += dp_stat_read(&dp_stats[rte_get_main_lcore()].port[i][DP_P_IPACKETS]);
		fprintf(out, ",\"port_rx_packets\":%" PRIu64, prx);
	}
	fprintf(out, ",\"parsed\":%" PRIu64 ",\"drops_total\":%" PRIu64 ",\"drops\":{",
		s.parse[DP_PARSE_OK], dp_stats_drops_total(&s));
	for (int i = 1; i < DP_PARSE__COUNT; i++)
		fprintf(out, "%s\"%s\":%" PRIu64, i > 1 ? "," : "", dp_parse_result_name(i),
			s.parse[i]);
	for (int i = 0; i < DP_D__COUNT; i++)
		fprintf(out, ",\"%s\":%" PRIu64, dp_drop_name(i), s.drop[i]);
	fprintf(out, "}}\n");
	fflush(out);
}
