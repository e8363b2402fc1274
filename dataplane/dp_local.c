/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dp_local — the STOQ server hosted in the dataplane (see dp_local.h).
 * Everything here runs on the main lcore except dp_local_run, which is the
 * endpoint's lcore.
 */
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdlib.h>

#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>

#include "dp_app.h"
#include "dp_local.h"
#include "hm_config.h"
#include "hm_sockaddr.h"
#include "stoq.h"

/* The endpoint's config: defaults, then the stoq_config file, then the cross-key rules. */
static int local_stoq_config(const struct dp_config *c, struct stoq_config *scfg)
{
	char err[512];

	if (stoq_config_defaults(scfg) < 0) {
		DP_LOG(ERR, "stoq_config: built-in defaults refused");
		return -EINVAL;
	}
	if (hm_cfg_load_file(&stoq_config_table, scfg, c->stoq_config, err, sizeof(err)) < 0) {
		DP_LOG(ERR, "\"stoq_config\" %s: %s", c->stoq_config, err);
		return -EINVAL;
	}
	if (stoq_config_check(scfg, err, sizeof(err)) < 0) {
		DP_LOG(ERR, "\"stoq_config\" %s: %s", c->stoq_config, err);
		return -EINVAL;
	}
	if (!scfg->cert[0] || !scfg->key[0]) {
		DP_LOG(ERR, "\"stoq_config\" %s: a server needs \"cert\" and \"key\"", c->stoq_config);
		return -EINVAL;
	}
	return 0;
}


/*
 * Its lcore: stoq_lcore, or the highest enabled lcore other than the main
 * one. dp_layout_init asks, to leave it out of forwarding.
 */
int dp_local_lcore(const struct dp_config *c)
{
	int id = -1;
	unsigned int l;

	if (c->stoq_lcore >= 0) {
		if (!rte_lcore_is_enabled((unsigned int)c->stoq_lcore) ||
		    (unsigned int)c->stoq_lcore == rte_get_main_lcore()) {
			DP_LOG(ERR, "\"stoq_lcore\" %d is %s: pick an lcore given to EAL (-l) "
				    "other than the main one, which runs the control path",
			       c->stoq_lcore,
			       (unsigned int)c->stoq_lcore == rte_get_main_lcore()
				       ? "the main lcore"
				       : "not enabled");
			return -EINVAL;
		}
		return c->stoq_lcore;
	}
	RTE_LCORE_FOREACH_WORKER(l) id = (int)l;
	if (id < 0) {
		DP_LOG(ERR, "\"stoq_listen\": no lcore for it; EAL gave only the main lcore");
		return -EINVAL;
	}
	return id;
}

int dp_local_init(struct dp_app *app)
{
	const struct dp_config *c = &app->cfg;
	struct stoq_io_dpdk_params p = { 0 };
	struct stoq_config scfg;
	struct sockaddr_storage ss;
	struct dp_local *lo;
	socklen_t sl;
	int rc = -EINVAL, socket;

	if (!c->stoq_listen.addr.family)
		return 0;
	if (c->stoq_port >= app->n_ports) {
		DP_LOG(ERR, "\"stoq_port\" is %u: only %u ports exist", c->stoq_port, app->n_ports);
		return -EINVAL;
	}
	lo = rte_zmalloc("hmesh_local", sizeof(*lo), RTE_CACHE_LINE_SIZE);
	if (!lo) {
		DP_LOG(ERR, "stoq_listen: out of memory");
		return -ENOMEM;
	}
	app->local = lo;
	lo->drain_lcore = RTE_MAX_LCORE;
	lo->port_idx = (int)c->stoq_port;
	lo->port = app->ports[lo->port_idx].port_id;
	lo->family = c->stoq_listen.addr.family;
	memcpy(lo->addr, c->stoq_listen.addr.b, sizeof(lo->addr));
	if (lo->family == AF_INET6)
		stoq_ip6_solicited_node(lo->addr, lo->snm);
	lo->lcore = RTE_MAX_LCORE;
	for (unsigned int id = 0; id < RTE_MAX_LCORE; id++)
		if (app->lcores[id].role == DP_ROLE_STOQ)
			lo->lcore = (uint16_t)id; /* dp_layout_init chose it */
	if (lo->lcore == RTE_MAX_LCORE) {
		DP_LOG(ERR, "stoq_listen: the layout gave it no lcore");
		rc = -EINVAL;
		goto err;
	}
	/* The first lcore with a TX queue on every port moves its frames out. */
	for (unsigned int id = 0; id < RTE_MAX_LCORE; id++)
		if (app->lcores[id].transmits) {
			lo->drain_lcore = (uint16_t)id;
			app->lcores[id].drains = lo;
			break;
		}
	if (lo->drain_lcore == RTE_MAX_LCORE) {
		DP_LOG(ERR, "stoq_listen: no lcore transmits");
		rc = -EINVAL;
		goto err;
	}
	socket = app->ports[lo->port_idx].socket;
	/* Many RX lcores feed it; it alone feeds the draining lcore. */
	lo->rx = rte_ring_create("hmesh_local_rx", DP_LOCAL_RING, socket,
				 RING_F_SC_DEQ | RING_F_EXACT_SZ);
	if (!lo->rx) {
		rc = -rte_errno;
		DP_LOG(ERR, "stoq_listen: ring hmesh_local_rx: %s", rte_strerror(rte_errno));
		goto err;
	}
	lo->tx = rte_ring_create("hmesh_local_tx", DP_LOCAL_RING, socket,
				 RING_F_SP_ENQ | RING_F_SC_DEQ | RING_F_EXACT_SZ);
	if (!lo->tx) {
		rc = -rte_errno;
		DP_LOG(ERR, "stoq_listen: ring hmesh_local_tx: %s", rte_strerror(rte_errno));
		goto err;
	}
	rc = rte_eth_from_rings("hmesh_stoq", &lo->rx, 1, &lo->tx, 1, (unsigned int)socket);
	if (rc < 0) {
		rc = -rte_errno;
		DP_LOG(ERR, "stoq_listen: ring port: %s", rte_strerror(rte_errno));
		goto err;
	}
	lo->ring_port = (uint16_t)rc;
	lo->ring_port_made = true;
	rc = local_stoq_config(c, &scfg);
	if (rc < 0)
		goto err;
	p.port_id = lo->ring_port;
	p.mtu = (uint16_t)c->mtu; /* the uplink's: what max_udp_payload may fill */
	p.prefix_len = (uint8_t)c->stoq_prefix_len;
	if (c->stoq_gateway.family)
		hm_sockaddr_from_bytes(c->stoq_gateway.family, c->stoq_gateway.b, 0, &p.gateway);
	p.mac_set = true;
	memcpy(p.mac, app->ports[lo->port_idx].mac.addr_bytes, sizeof(p.mac));
	sl = hm_sockaddr_from_bytes(c->stoq_listen.addr.family, c->stoq_listen.addr.b,
				    c->stoq_listen.port, &ss);
	lo->io = stoq_io_open(&stoq_io_dpdk_ops, (struct sockaddr *)&ss, sl, &p);
	if (!lo->io) {
		rc = -errno; /* the back end said why */
		DP_LOG(ERR, "stoq_listen: the DPDK back end refused its port (see above)");
		goto err;
	}
	if (scfg.max_udp_payload > stoq_io_max_payload(lo->io)) {
		DP_LOG(ERR,
		       "\"stoq_config\" %s: \"max_udp_payload\" is %u: its port carries at most "
		       "%zu bytes a packet",
		       c->stoq_config, scfg.max_udp_payload, stoq_io_max_payload(lo->io));
		rc = -EMSGSIZE;
		goto err;
	}
	lo->ep = stoq_endpoint_create(&scfg, true, c->stoq_root, (struct sockaddr *)&ss, sl);
	if (!lo->ep) {
		rc = -errno; /* it said why */
		DP_LOG(ERR, "stoq_listen: endpoint: %s", strerror(errno));
		goto err;
	}
	if (app->stats_name[0]) {
		char name[96];

		/* Beside the dataplane's own, as hmesh-stoq server writes one. */
		snprintf(name, sizeof(name), "%s-stoq", app->stats_name);
		lo->seg = stoq_seg_open(name, lo->ep);
		if (!lo->seg) {
			rc = -errno; /* it said why */
			goto err;
		}
	}
	return 0;
err:
	dp_local_fini(app);
	return rc < 0 ? rc : -EINVAL;
}

int dp_local_run(struct dp_app *app)
{
	struct dp_local *lo = app->local;
	int rc = stoq_endpoint_run(lo->ep, lo->io, lo->seg ? stoq_seg_tick : NULL, lo->seg,
				   &lo->stop);

	if (rc < 0)
		DP_LOG(ERR, "stoq_listen: endpoint loop: %s", strerror(-rc));
	return rc;
}

void dp_local_stop(struct dp_app *app)
{
	if (app->local)
		app->local->stop = 1;
}

/* Free the mbufs left in @r (the lcores that use it have returned). */
static void ring_flush(struct rte_ring *r)
{
	struct rte_mbuf *m[DP_LOCAL_BURST];
	unsigned int n;

	while ((n = rte_ring_dequeue_burst(r, (void **)m, DP_LOCAL_BURST, NULL)) > 0)
		rte_pktmbuf_free_bulk(m, n);
}

/*
 * Called by dp_ports_fini between closing the ports and freeing their
 * pools: the uplink's TX queue has given back the endpoint's mbufs, and
 * the frames still in the rings go back to pools that are still there.
 */
void dp_local_fini(struct dp_app *app)
{
	struct dp_local *lo = app->local;

	if (!lo)
		return;
	if (lo->rx)
		ring_flush(lo->rx);
	if (lo->tx)
		ring_flush(lo->tx);
	stoq_seg_close(lo->seg);
	if (lo->ep)
		stoq_endpoint_destroy(lo->ep);
	if (lo->io)
		stoq_io_destroy(lo->io); /* stops and closes the ring port, frees its pool */
	else if (lo->ring_port_made)
		rte_eth_dev_close(lo->ring_port);
	rte_ring_free(lo->rx);
	rte_ring_free(lo->tx);
	if (lo->drain_lcore < RTE_MAX_LCORE)
		app->lcores[lo->drain_lcore].drains = NULL;
	rte_free(lo);
	app->local = NULL;
}

void dp_local_print(const struct dp_app *app, FILE *out)
{
	const struct dp_local *lo = app->local;
	struct stoq_endpoint_stats s;
	struct stoq_io_dpdk_stats d;

	if (!lo || !lo->ep)
		return;
	stoq_endpoint_stats(lo->ep, &s);
	stoq_io_dpdk_get_stats(lo->io, &d);
	fprintf(out,
		"stoq_listen: handshakes %" PRIu64 ", requests %" PRIu64 ", connections closed "
		"%" PRIu64 ", datagrams in %" PRIu64 " out %" PRIu64 ", refused %" PRIu64 "\n",
		s.handshakes, s.requests_done, s.conns_closed, s.rx_dgrams, s.tx_dgrams, s.dropped);
	fprintf(out,
		"stoq_listen: frames in %" PRIu64 " (not ours %" PRIu64 ", bad ip %" PRIu64
		", bad udp %" PRIu64 "), out %" PRIu64 ", dropped %" PRIu64 "; arp answered %" PRIu64
		", nd answered %" PRIu64 "; held back by an empty pool %" PRIu64 "\n",
		d.rx_frames, d.rx_not_ours, d.rx_bad_ip, d.rx_bad_udp, d.tx_packets, d.tx_dropped,
		d.arp_requests_answered, d.nd_solicits_answered, d.tx_pool_short);
}
