/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Lcore layout: which lcore receives, which runs the MFN, which transmits,
 * and which queues each one owns. Chosen from the config and from hwloc's
 * view of the machine, printed at start so an operator sees what runs where.
 *
 * Rules (auto):
 *   - the main lcore runs the control path only (telemetry, signals, stats);
 *   - run to completion (RTC) when every port can give each forwarding lcore
 *     its own RX queue: no ring hop, each lcore owns its flows via RSS;
 *   - otherwise a pipeline: a quarter of the lcores (at least one) poll RX,
 *     the rest run the MFN and transmit themselves. RX lcores are taken from
 *     the ports' NUMA socket first, then spread over distinct physical
 *     cores, so they do not share a core's execution units with a worker.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hwloc.h>
#include <rte_ethdev.h>
#include <rte_malloc.h>

#include "dp_app.h"
#include "dp_local.h"

/* The dataplane's log type, registered at load time (every binary linking libhmdp). */
RTE_LOG_REGISTER(dp_logtype, hmesh.dataplane, INFO);

const char *dp_role_name(enum dp_role r)
{
	static const char *const names[] = {
		[DP_ROLE_NONE] = "none", [DP_ROLE_RTC] = "rtc",	  [DP_ROLE_RX] = "rx",
		[DP_ROLE_WORKER] = "worker", [DP_ROLE_TX] = "tx",
		[DP_ROLE_STOQ] = "stoq",
	};
	return (unsigned int)r <= DP_ROLE_STOQ ? names[r] : "?";
}

/* Fill hw_core / hw_package of every enabled lcore from hwloc. */
static void hw_topology(struct dp_app *app)
{
	hwloc_topology_t topo;
	unsigned int id;

	RTE_LCORE_FOREACH(id) {
		app->lcores[id].lcore_id = (uint16_t)id;
		app->lcores[id].socket = (int)rte_lcore_to_socket_id(id);
		app->lcores[id].hw_core = -1;
		app->lcores[id].hw_package = -1;
	}
	if (hwloc_topology_init(&topo) < 0)
		return;
	if (hwloc_topology_load(topo) < 0) {
		DP_LOG(WARNING, "hwloc cannot load the topology: core placement not optimised");
		hwloc_topology_destroy(topo);
		return;
	}
	RTE_LCORE_FOREACH(id) {
		/* The lcore's cpuset, not rte_lcore_to_cpu_id(): with --lcores an
		 * lcore id need not be a CPU number. The first CPU places it. */
		rte_cpuset_t cs = rte_lcore_cpuset(id);
		hwloc_obj_t pu = NULL, core, pkg;

		for (unsigned int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
			if (CPU_ISSET(cpu, &cs)) {
				pu = hwloc_get_pu_obj_by_os_index(topo, cpu);
				break;
			}
		}
		if (!pu)
			continue;
		core = hwloc_get_ancestor_obj_by_type(topo, HWLOC_OBJ_CORE, pu);
		pkg = hwloc_get_ancestor_obj_by_type(topo, HWLOC_OBJ_PACKAGE, pu);
		app->lcores[id].hw_core = core ? (int)core->logical_index : -1;
		app->lcores[id].hw_package = pkg ? (int)pkg->logical_index : -1;
	}
	hwloc_topology_destroy(topo);
}

/* Order candidates: on @socket first, then one per physical core before siblings. */
static void order_for_rx(struct dp_app *app, uint16_t *ids, uint16_t n, int socket)
{
	int score[RTE_MAX_LCORE];

	for (uint16_t i = 0; i < n; i++) {
		const struct dp_lcore *l = &app->lcores[ids[i]];
		int siblings = 0;

		for (uint16_t j = 0; j < i; j++)
			if (l->hw_core >= 0 && app->lcores[ids[j]].hw_core == l->hw_core)
				siblings++;
		score[ids[i]] = (l->socket == socket || socket < 0 ? 0 : 1000) + siblings * 10;
	}
	/* insertion sort: n is small and the order must be stable */
	for (uint16_t i = 1; i < n; i++) {
		uint16_t v = ids[i];
		int j = i - 1;

		while (j >= 0 && score[ids[j]] > score[v]) {
			ids[j + 1] = ids[j];
			j--;
		}
		ids[j + 1] = v;
	}
}

static int check_listed(const struct dp_lcore_list *l, const char *key)
{
	for (uint16_t i = 0; i < l->n; i++) {
		if (!rte_lcore_is_enabled(l->id[i]) || l->id[i] == rte_get_main_lcore()) {
			DP_LOG(ERR,
			       "\"%s\" lists lcore %u, which is %s: give it to EAL with -l and keep "
			       "the main lcore for control",
			       key, l->id[i],
			       l->id[i] == rte_get_main_lcore() ? "the main lcore" : "not enabled");
			return -EINVAL;
		}
	}
	return 0;
}

int dp_layout_init(struct dp_app *app)
{
	const struct dp_config *c = &app->cfg;
	uint16_t avail[RTE_MAX_LCORE], n = 0, port_id;
	uint16_t max_rxq = UINT16_MAX;
	int port_socket = -1, stoq = -1;
	unsigned int id;
	int ret;

	app->n_ports = 0;
	RTE_ETH_FOREACH_DEV(port_id) {
		struct rte_eth_dev_info info;

		if (app->n_ports == DP_PORTS_MAX) {
			DP_LOG(ERR, "more than %d ports", DP_PORTS_MAX);
			return -E2BIG;
		}
		ret = rte_eth_dev_info_get(port_id, &info);
		if (ret) {
			DP_LOG(ERR, "port %u: device info: %s", port_id, rte_strerror(-ret));
			return ret;
		}
		app->ports[app->n_ports].port_id = port_id;
		app->ports[app->n_ports].socket = rte_eth_dev_socket_id(port_id);
		if (app->ports[app->n_ports].socket < 0)
			app->ports[app->n_ports].socket = 0;
		if (port_socket < 0)
			port_socket = app->ports[app->n_ports].socket;
		if (info.max_rx_queues < max_rxq)
			max_rxq = info.max_rx_queues;
		app->n_ports++;
	}
	if (app->n_ports == 0) {
		DP_LOG(ERR, "no ports: give EAL a --vdev (e.g. --vdev=net_ring0) or bind a NIC");
		return -ENODEV;
	}
	if (c->tx_port >= app->n_ports) {
		DP_LOG(ERR, "\"tx_port\" is %d: only %u ports exist", c->tx_port, app->n_ports);
		return -EINVAL;
	}
	if (c->gen_packets && c->gen_port >= app->n_ports) {
		DP_LOG(ERR, "\"gen_port\" is %u: only %u ports exist", c->gen_port, app->n_ports);
		return -EINVAL;
	}

	hw_topology(app);
	if (c->stoq_listen.addr.family) {
		/* The hosted STOQ server's lcore forwards nothing (dp_local.h). */
		stoq = dp_local_lcore(c);
		if (stoq < 0)
			return stoq;
	}
	RTE_LCORE_FOREACH_WORKER(id) {
		if ((int)id != stoq)
			avail[n++] = (uint16_t)id;
	}
	if (n == 0) {
		DP_LOG(ERR, "no forwarding lcore: give EAL at least two lcores (e.g. -l 0-1), "
			    "three with stoq_listen; the main lcore runs the control path");
		return -EINVAL;
	}
	if ((ret = check_listed(&c->rx_lcores, "rx_lcores")) ||
	    (ret = check_listed(&c->worker_lcores, "worker_lcores")) ||
	    (ret = check_listed(&c->tx_lcores, "tx_lcores")))
		return ret;
	/* (An explicit stoq_lcore was checked at load; this is the default one.) */
	if (stoq >= 0 && dp_config_lcore_listed(c, (uint16_t)stoq)) {
		DP_LOG(ERR, "lcore %d runs the hosted STOQ server (stoq_lcore): it cannot also be "
			    "in rx_lcores, worker_lcores or tx_lcores; set stoq_lcore", stoq);
		return -EINVAL;
	}
	if (stoq >= 0)
		app->lcores[stoq].role = DP_ROLE_STOQ;

	app->layout = (enum dp_layout)c->layout;
	if (app->layout == DP_LAYOUT_AUTO) {
		if (c->rx_lcores.n)
			app->layout = DP_LAYOUT_PIPELINE;
		else
			app->layout = (n == 1 || max_rxq >= n) ? DP_LAYOUT_RTC : DP_LAYOUT_PIPELINE;
	}

	app->n_rx = app->n_workers = app->n_tx = app->n_rtc = 0;
	if (app->layout == DP_LAYOUT_RTC) {
		for (uint16_t i = 0; i < n; i++) {
			struct dp_lcore *l = &app->lcores[avail[i]];

			l->role = DP_ROLE_RTC;
			l->transmits = true;
			l->txq = app->n_rtc;
			l->n_rxq = app->n_ports;
			for (uint16_t p = 0; p < app->n_ports; p++)
				l->rxq[p] = (struct dp_rxq){ app->ports[p].port_id, app->n_rtc };
			app->n_rtc++;
		}
		for (uint16_t p = 0; p < app->n_ports; p++)
			app->ports[p].n_rxq = app->ports[p].n_txq = app->n_rtc;
		return 0;
	}

	/* Pipeline. */
	if (c->rx_lcores.n) {
		for (uint16_t i = 0; i < c->rx_lcores.n; i++)
			app->rx_ids[app->n_rx++] = c->rx_lcores.id[i];
		for (uint16_t i = 0; i < c->worker_lcores.n; i++)
			app->worker_ids[app->n_workers++] = c->worker_lcores.id[i];
		for (uint16_t i = 0; i < c->tx_lcores.n; i++)
			app->tx_ids[app->n_tx++] = c->tx_lcores.id[i];
	} else {
		uint16_t n_rx;

		if (n < 2) {
			DP_LOG(ERR, "\"layout\" is pipeline: needs at least two forwarding lcores "
				    "(RX and worker), EAL gave one");
			return -EINVAL;
		}
		n_rx = n / 4 ? n / 4 : 1;
		order_for_rx(app, avail, n, port_socket);
		for (uint16_t i = 0; i < n; i++) {
			if (i < n_rx)
				app->rx_ids[app->n_rx++] = avail[i];
			else
				app->worker_ids[app->n_workers++] = avail[i];
		}
	}
	if (app->n_workers > DP_MAX_WORKERS || app->n_workers > RTE_DIM(app->lcores[0].out_ring)) {
		DP_LOG(ERR, "\"worker_lcores\": at most %d workers", DP_MAX_WORKERS);
		return -EINVAL;
	}
	for (uint16_t i = 0; i < app->n_rx; i++) {
		struct dp_lcore *l = &app->lcores[app->rx_ids[i]];

		l->role = DP_ROLE_RX;
		l->n_rxq = app->n_ports;
		for (uint16_t p = 0; p < app->n_ports; p++)
			l->rxq[p] = (struct dp_rxq){ app->ports[p].port_id, i };
	}
	uint16_t ntx = 0;
	for (uint16_t i = 0; i < app->n_workers; i++) {
		struct dp_lcore *l = &app->lcores[app->worker_ids[i]];

		l->role = DP_ROLE_WORKER;
		if (app->n_tx == 0) {
			l->transmits = true;
			l->txq = ntx++;
		}
	}
	for (uint16_t i = 0; i < app->n_tx; i++) {
		struct dp_lcore *l = &app->lcores[app->tx_ids[i]];

		l->role = DP_ROLE_TX;
		l->transmits = true;
		l->txq = ntx++;
	}
	for (uint16_t p = 0; p < app->n_ports; p++) {
		app->ports[p].n_rxq = app->n_rx;
		app->ports[p].n_txq = ntx;
	}
	return 0;
}

static struct rte_ring *ring_make(const char *prefix, unsigned int lcore, unsigned int size,
				  int socket, bool single_producer)
{
	char name[RTE_RING_NAMESIZE];
	struct rte_ring *r;

	snprintf(name, sizeof(name), "hmesh_%s%u", prefix, lcore);
	/* Exact size so "ring_size" means the number of packets it can hold. */
	r = rte_ring_create(name, size, socket,
			    RING_F_SC_DEQ | RING_F_EXACT_SZ | (single_producer ? RING_F_SP_ENQ : 0));
	if (!r)
		DP_LOG(ERR, "ring %s of %u entries: %s", name, size, rte_strerror(rte_errno));
	return r;
}

int dp_layout_rings_init(struct dp_app *app)
{
	unsigned int id;

	RTE_LCORE_FOREACH_WORKER(id) {
		struct dp_lcore *l = &app->lcores[id];

		if (!l->transmits)
			continue;
		l->txb = rte_zmalloc_socket("hmesh_txb", sizeof(struct dp_txbuf) * DP_PORTS_MAX,
					    RTE_CACHE_LINE_SIZE, l->socket);
		if (!l->txb) {
			DP_LOG(ERR, "lcore %u: TX buffers: out of memory", id);
			return -ENOMEM;
		}
	}
	if (app->layout != DP_LAYOUT_PIPELINE)
		return 0;
	for (uint16_t i = 0; i < app->n_workers; i++) {
		struct dp_lcore *w = &app->lcores[app->worker_ids[i]];

		w->in_ring = ring_make("w", w->lcore_id, app->cfg.ring_size, w->socket,
				       app->n_rx == 1);
		if (!w->in_ring)
			return -rte_errno;
	}
	for (uint16_t i = 0; i < app->n_tx; i++) {
		struct dp_lcore *t = &app->lcores[app->tx_ids[i]];

		t->in_ring = ring_make("t", t->lcore_id, app->cfg.ring_size, t->socket,
				       app->n_workers == 1);
		if (!t->in_ring)
			return -rte_errno;
	}
	for (uint16_t i = 0; i < app->n_rx; i++) {
		struct dp_lcore *r = &app->lcores[app->rx_ids[i]];

		r->n_out = app->n_workers;
		for (uint16_t w = 0; w < app->n_workers; w++)
			r->out_ring[w] = app->lcores[app->worker_ids[w]].in_ring;
	}
	if (app->n_tx) {
		for (uint16_t i = 0; i < app->n_workers; i++) {
			struct dp_lcore *w = &app->lcores[app->worker_ids[i]];

			/* A worker feeds one TX lcore, so per-flow order holds through TX. */
			w->n_out = 1;
			w->out_ring[0] = app->lcores[app->tx_ids[i % app->n_tx]].in_ring;
		}
	}
	return 0;
}

void dp_layout_fini(struct dp_app *app)
{
	unsigned int id;

	RTE_LCORE_FOREACH(id) {
		struct dp_lcore *l = &app->lcores[id];

		rte_free(l->txb);
		l->txb = NULL;
		rte_ring_free(l->in_ring);
		l->in_ring = NULL;
		l->n_out = 0;
	}
}

void dp_layout_print(const struct dp_app *app, FILE *out)
{
	unsigned int id;

	fprintf(out, "layout: %s, %u port(s), pipeline \"%s\"\n",
		app->layout == DP_LAYOUT_RTC ? "run-to-completion" : "pipeline", app->n_ports,
		app->pipe ? app->pipe->name : "?");
	fprintf(out, "parser: %s\n",
		app->parse_pair ? "two frames at a time (AVX2)" : "one frame at a time");
	fprintf(out, "  %-6s %-7s %-6s %-5s %-7s %-22s %-8s %s\n", "lcore", "role", "socket",
		"core", "package", "rx queues (port:queue)", "tx queue", "ring");
	RTE_LCORE_FOREACH(id) {
		const struct dp_lcore *l = &app->lcores[id];
		char rxq[128] = "-", txq[16] = "-", ring[64] = "-";
		size_t k = 0;

		for (uint16_t i = 0; i < l->n_rxq && k < sizeof(rxq); i++)
			k += (size_t)snprintf(rxq + k, sizeof(rxq) - k, "%s%u:%u", i ? "," : "",
					      l->rxq[i].port, l->rxq[i].queue);
		if (l->transmits)
			snprintf(txq, sizeof(txq), "%u", l->txq);
		if (l->in_ring)
			snprintf(ring, sizeof(ring), "in %s", l->in_ring->name);
		fprintf(out, "  %-6u %-7s %-6d %-5d %-7d %-22s %-8s %s\n", id,
			id == rte_get_main_lcore() ? "main" : dp_role_name(l->role), l->socket,
			l->hw_core, l->hw_package, rxq, txq, ring);
	}
}
