/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Port, queue and mempool set-up. One mempool per NUMA socket that has a
 * port or an lcore on it, so packets are received into memory local to the
 * NIC and the lcores that touch them.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rte_ethdev.h>

#include "dp_app.h"
#include "dp_local.h"
#include "dp_xdp.h"
#include "hm_ethdev.h"

struct rte_mempool *dp_pool_for_socket(struct dp_app *app, int socket)
{
	if (socket >= 0 && socket < RTE_MAX_NUMA_NODES && app->pool[socket])
		return app->pool[socket];
	for (int i = 0; i < RTE_MAX_NUMA_NODES; i++)
		if (app->pool[i])
			return app->pool[i];
	return NULL;
}

/* The fewest mbufs that can be parked at once: descriptors, rings, caches, bursts. */
static uint64_t mbufs_needed(const struct dp_app *app)
{
	const struct dp_config *c = &app->cfg;
	uint64_t n = 0;
	unsigned int lcores = rte_lcore_count();

	for (uint16_t p = 0; p < app->n_ports; p++)
		n += (uint64_t)app->ports[p].n_rxq * c->rx_desc +
		     (uint64_t)app->ports[p].n_txq * c->tx_desc;
	n += (uint64_t)(app->n_workers + app->n_tx) * c->ring_size;
	n += (uint64_t)lcores * (c->mbuf_cache + (uint64_t)c->rx_burst * (DP_PORTS_MAX + 1));
	return n;
}

/*
 * An mbuf's buffer: headroom and a whole frame of @mtu with two VLAN tags
 * (one received, one TX may push), so no frame is ever chained (the packet
 * path drops chains as "multiseg"); DPDK's 2 KiB default up to MTU 1500.
 */
static uint16_t dp_mbuf_buf_size(uint32_t mtu)
{
	uint32_t room = mtu + RTE_ETHER_HDR_LEN + 2 * RTE_VLAN_HLEN;

	if (room < RTE_MBUF_DEFAULT_DATAROOM)
		room = RTE_MBUF_DEFAULT_DATAROOM;
	return (uint16_t)(RTE_PKTMBUF_HEADROOM + room);
}

static int pool_create(struct dp_app *app, int socket)
{
	char name[RTE_MEMPOOL_NAMESIZE];
	unsigned int sock = socket < 0 ? 0 : (unsigned int)socket;
	/* A multiple of the cache line (dp_mbuf_priv): the data starts on one. */
	uint16_t priv = RTE_ALIGN(sizeof(struct dp_mbuf_priv), RTE_CACHE_LINE_SIZE);
	uint16_t buf = dp_mbuf_buf_size(app->cfg.mtu);

	if (app->pool[sock])
		return 0;
	snprintf(name, sizeof(name), "hmesh_mbuf_s%u", sock);
	app->pool[sock] = rte_pktmbuf_pool_create(name, app->cfg.mbufs, app->cfg.mbuf_cache, priv,
						  buf, (int)sock);
	if (!app->pool[sock]) {
		DP_LOG(ERR, "mempool of %u mbufs on socket %u: %s (reserve more hugepages or lower "
			    "\"mbufs\")",
		       app->cfg.mbufs, sock, rte_strerror(rte_errno));
		return -rte_errno;
	}
	DP_LOG(INFO, "mempool %s: %u mbufs of %u B, cache %u, private area %u B", name,
	       app->cfg.mbufs, buf, app->cfg.mbuf_cache, priv);
	return 0;
}

static int port_setup(struct dp_app *app, struct dp_port *p)
{
	const struct dp_config *c = &app->cfg;
	struct rte_eth_dev_info info;
	struct rte_eth_conf conf;
	uint16_t nb_rxd = (uint16_t)c->rx_desc, nb_txd = (uint16_t)c->tx_desc;
	struct rte_mempool *pool;
	uint32_t min_mtu, max_mtu;
	int ret;

	ret = rte_eth_dev_info_get(p->port_id, &info);
	if (ret) {
		DP_LOG(ERR, "port %u: cannot read device info: %s", p->port_id, rte_strerror(-ret));
		return ret;
	}
	snprintf(p->driver, sizeof(p->driver), "%s", info.driver_name);
	rte_eth_dev_get_name_by_port(p->port_id, p->name);
	if (p->n_rxq > info.max_rx_queues || p->n_txq > info.max_tx_queues) {
		DP_LOG(ERR,
		       "port %u (%s): the lcore layout needs %u RX and %u TX queues, the PMD offers "
		       "%u and %u: use fewer lcores or layout = rtc",
		       p->port_id, p->name, p->n_rxq, p->n_txq, info.max_rx_queues,
		       info.max_tx_queues);
		return -EINVAL;
	}
	hm_eth_mtu_range(&info, &min_mtu, &max_mtu);
	if (c->mtu < min_mtu || c->mtu > max_mtu) {
		DP_LOG(ERR, "\"mtu\" is %u: port %u (%s, %s) takes %u..%u", c->mtu, p->port_id,
		       p->name, p->driver, min_mtu, max_mtu);
		return -EINVAL;
	}
	memset(&conf, 0, sizeof(conf));
	conf.rxmode.mtu = c->mtu;
	p->rss = c->rss && p->n_rxq > 1 && info.flow_type_rss_offloads != 0;
	if (p->rss) {
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf.rx_adv_conf.rss_conf.rss_hf =
			(RTE_ETH_RSS_IP | RTE_ETH_RSS_UDP) & info.flow_type_rss_offloads;
	}
	/* All mbufs come from our pools with refcnt 1: the PMD may free them fast. */
	if (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE)
		conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE;

	ret = rte_eth_dev_configure(p->port_id, p->n_rxq, p->n_txq, &conf);
	if (ret) {
		DP_LOG(ERR, "port %u (%s): configure %u RX / %u TX queues: %s", p->port_id, p->name,
		       p->n_rxq, p->n_txq, rte_strerror(-ret));
		return ret;
	}
	ret = rte_eth_dev_adjust_nb_rx_tx_desc(p->port_id, &nb_rxd, &nb_txd);
	if (ret) {
		DP_LOG(ERR, "port %u: descriptor counts %u/%u refused: %s", p->port_id, nb_rxd,
		       nb_txd, rte_strerror(-ret));
		return ret;
	}
	pool = dp_pool_for_socket(app, p->socket);
	for (uint16_t q = 0; q < p->n_rxq; q++) {
		ret = rte_eth_rx_queue_setup(p->port_id, q, nb_rxd, (unsigned int)p->socket, NULL,
					     pool);
		if (ret) {
			DP_LOG(ERR, "port %u RX queue %u: %s", p->port_id, q, rte_strerror(-ret));
			return ret;
		}
	}
	for (uint16_t q = 0; q < p->n_txq; q++) {
		struct rte_eth_txconf txconf = info.default_txconf;

		txconf.offloads = conf.txmode.offloads;
		ret = rte_eth_tx_queue_setup(p->port_id, q, nb_txd, (unsigned int)p->socket,
					     &txconf);
		if (ret) {
			DP_LOG(ERR, "port %u TX queue %u: %s", p->port_id, q, rte_strerror(-ret));
			return ret;
		}
	}
	ret = rte_eth_macaddr_get(p->port_id, &p->mac);
	if (ret)
		memset(&p->mac, 0, sizeof(p->mac));
	ret = rte_eth_dev_start(p->port_id);
	if (ret) {
		DP_LOG(ERR, "port %u (%s): start: %s", p->port_id, p->name, rte_strerror(-ret));
		return ret;
	}
	p->started = true;
	ret = dp_xdp_port_steer(app, p);
	if (ret)
		return ret;
	if (c->promiscuous) {
		ret = rte_eth_promiscuous_enable(p->port_id);
		/* Virtual PMDs often have no such mode; that is not an error. */
		if (ret && ret != -ENOTSUP)
			DP_LOG(WARNING, "port %u: promiscuous mode: %s", p->port_id,
			       rte_strerror(-ret));
	}
	DP_LOG(INFO,
	       "port %u %s (%s) socket %d: %u RX / %u TX queues, %u/%u descriptors, RSS %s, MTU %u, MAC " RTE_ETHER_ADDR_PRT_FMT,
	       p->port_id, p->name, p->driver, p->socket, p->n_rxq, p->n_txq, nb_rxd, nb_txd,
	       p->rss ? "on" : "off", c->mtu, RTE_ETHER_ADDR_BYTES(&p->mac));
	return 0;
}

/*
 * Discover ports (queue counts were chosen by dp_layout_init), create the
 * pools and start every port.
 */
int dp_ports_init(struct dp_app *app)
{
	uint64_t need;
	int ret;

	for (uint16_t i = 0; i < app->n_ports; i++) {
		ret = pool_create(app, app->ports[i].socket);
		if (ret)
			return ret;
	}
	need = mbufs_needed(app);
	if (need > app->cfg.mbufs) {
		DP_LOG(ERR,
		       "\"mbufs\" is %u: this layout can park %" PRIu64 " mbufs at once in "
		       "descriptors, rings and caches; raise it or lower rx_desc/tx_desc/ring_size",
		       app->cfg.mbufs, need);
		return -EINVAL;
	}
	for (uint16_t i = 0; i < app->n_ports; i++) {
		ret = port_setup(app, &app->ports[i]);
		if (ret)
			return ret;
	}
	return 0;
}

void dp_ports_fini(struct dp_app *app)
{
	for (uint16_t i = 0; i < app->n_ports; i++) {
		struct dp_port *p = &app->ports[i];

		if (p->started) {
			rte_eth_dev_stop(p->port_id);
			p->started = false;
		}
		rte_eth_dev_close(p->port_id);
	}
	dp_local_fini(app); /* between: see there */
	for (int s = 0; s < RTE_MAX_NUMA_NODES; s++) {
		rte_mempool_free(app->pool[s]);
		app->pool[s] = NULL;
	}
}
