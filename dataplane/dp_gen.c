/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Built-in traffic: QUIC v1 Initial and short-header packets over
 * IPv4/UDP, gen_flows distinct flows, injected once at start on gen_port.
 * On a loopback port (net_ring: what a port transmits it receives) the
 * packets then circulate through RX → parse → MFN → TX for as long as the
 * dataplane runs: a closed loop that measures the forwarding path without
 * a generator competing for the cores (testpmd's --tx-first does the same).
 * Packets are spread over the port's TX queues: on net_ring, TX queue q
 * loops back to RX queue q, so every RTC lcore gets its share.
 */
#include <errno.h>
#include <string.h>

#include <rte_byteorder.h>
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_udp.h>

#include "dp_app.h"

#define GEN_SRC_PORT_BASE 20000
#define GEN_DST_PORT_DEFAULT 443

/* Initial = 1 + version 4 + DCID len 1 + 8 + SCID len 1 + 8 + token len 1 + length 2 + PN 4. */
#define GEN_INITIAL_HDR 30
#define GEN_L2L4 (RTE_ETHER_HDR_LEN + sizeof(struct rte_ipv4_hdr) + sizeof(struct rte_udp_hdr))

static void cid_for_flow(uint32_t flow, uint8_t *cid, unsigned int len, uint8_t salt)
{
	/* Deterministic and distinct per flow: the flow id, then a pattern. */
	for (unsigned int i = 0; i < len; i++)
		cid[i] = i < 4 ? (uint8_t)(flow >> (24 - 8 * i)) : (uint8_t)(salt + i * 31);
}

uint16_t dp_gen_frame(const struct dp_config *cfg, uint32_t flow, bool initial, uint8_t *buf,
		      uint16_t buflen)
{
	uint16_t len = (uint16_t)cfg->gen_size;
	struct rte_ether_hdr *eth = (struct rte_ether_hdr *)buf;
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eth + 1);
	struct rte_udp_hdr *udp = (struct rte_udp_hdr *)(ip + 1);
	uint8_t *q = (uint8_t *)(udp + 1);
	uint16_t payload, p = 0;
	static const uint8_t src_mac[6] = { 0x02, 0, 0, 0, 0, 0x01 };
	static const uint8_t dst_mac[6] = { 0x02, 0, 0, 0, 0, 0x02 };

	if (initial && len < GEN_L2L4 + GEN_INITIAL_HDR)
		len = GEN_L2L4 + GEN_INITIAL_HDR; /* an Initial cannot be shorter */
	if (!initial && len < GEN_L2L4 + 1 + cfg->short_dcid_len + 4)
		len = (uint16_t)(GEN_L2L4 + 1 + cfg->short_dcid_len + 4);
	if (len > buflen)
		return 0;
	memset(buf, 0, len);
	payload = (uint16_t)(len - GEN_L2L4);

	memcpy(&eth->src_addr, src_mac, 6);
	memcpy(&eth->dst_addr, dst_mac, 6);
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);

	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->total_length = rte_cpu_to_be_16((uint16_t)(len - RTE_ETHER_HDR_LEN));
	ip->packet_id = rte_cpu_to_be_16((uint16_t)flow);
	ip->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG);
	ip->time_to_live = 64;
	ip->next_proto_id = IPPROTO_UDP;
	ip->src_addr = rte_cpu_to_be_32(0x0a000000u | (flow & 0x00ffffffu)); /* 10.x.y.z */
	ip->dst_addr = rte_cpu_to_be_32(0x0a640001u);			       /* 10.100.0.1 */
	ip->hdr_checksum = rte_ipv4_cksum(ip);

	udp->src_port = rte_cpu_to_be_16((uint16_t)(GEN_SRC_PORT_BASE + flow % 40000));
	udp->dst_port = rte_cpu_to_be_16(cfg->stoq_ports.n ? cfg->stoq_ports.port[0]
							   : GEN_DST_PORT_DEFAULT);
	udp->dgram_len = rte_cpu_to_be_16((uint16_t)(payload + sizeof(*udp)));
	udp->dgram_cksum = 0; /* optional over IPv4 (RFC 768) */

	if (initial) {
		/* RFC 9000 §17.2.2: form 1, fixed 1, type 00 (Initial), PN length 4. */
		uint16_t rest = (uint16_t)(payload - (GEN_INITIAL_HDR - 4)); /* PN + payload */

		q[p++] = 0xc3;
		q[p++] = 0, q[p++] = 0, q[p++] = 0, q[p++] = 1; /* version 1 */
		q[p++] = 8;
		cid_for_flow(flow, q + p, 8, 0x11);
		p += 8;
		q[p++] = 8;
		cid_for_flow(flow, q + p, 8, 0x77);
		p += 8;
		q[p++] = 0;				       /* token length 0 */
		q[p++] = (uint8_t)(0x40 | (rest >> 8));	       /* 2-byte varint */
		q[p++] = (uint8_t)rest;
	} else {
		/* RFC 9000 §17.3.1: form 0, fixed 1, PN length 4. */
		q[p++] = 0x43;
		cid_for_flow(flow, q + p, cfg->short_dcid_len, 0x11);
		p = (uint16_t)(p + cfg->short_dcid_len);
	}
	/* packet number and payload: any bytes; a pattern keeps pcaps readable */
	for (; p < payload; p++)
		q[p] = (uint8_t)(p * 7 + flow);
	return len;
}

int dp_gen_inject(struct dp_app *app)
{
	const struct dp_config *c = &app->cfg;
	const struct dp_port *port = &app->ports[c->gen_port];
	struct rte_mempool *pool = dp_pool_for_socket(app, port->socket);
	struct rte_mbuf *burst[32];
	uint32_t made = 0, sent = 0;
	uint16_t nq = RTE_MIN(port->n_txq, port->n_rxq), q = 0;

	while (made < c->gen_packets) {
		uint16_t n = (uint16_t)RTE_MIN(32u, c->gen_packets - made), s;

		if (rte_pktmbuf_alloc_bulk(pool, burst, n) != 0) {
			DP_LOG(ERR, "generator: mempool exhausted after %u packets: raise \"mbufs\"",
			       made);
			return -ENOMEM;
		}
		for (uint16_t i = 0; i < n; i++) {
			uint32_t k = made + i;
			uint32_t flow = k % c->gen_flows;
			/* Spread Initials evenly: packet k is an Initial when it crosses a pct step. */
			bool initial = (k * c->gen_initial_pct) / 100 !=
				       ((k + 1) * c->gen_initial_pct) / 100;
			uint16_t len = dp_gen_frame(c, flow, initial,
						    rte_pktmbuf_mtod(burst[i], uint8_t *),
						    rte_pktmbuf_tailroom(burst[i]));

			burst[i]->data_len = burst[i]->pkt_len = len;
		}
		made += n;
		/* Main lcore, before the lcores start: no queue has another user yet. */
		s = rte_eth_tx_burst(port->port_id, q, burst, n);
		q = (uint16_t)((q + 1) % (nq ? nq : 1));
		sent += s;
		if (s < n) {
			rte_pktmbuf_free_bulk(&burst[s], n - s);
			DP_LOG(WARNING,
			       "generator: port %u took %u of %u packets (its queue is full): "
			       "lower \"gen_packets\"",
			       port->port_id, sent, c->gen_packets);
			break;
		}
	}
	DP_LOG(INFO, "generator: injected %u QUIC packets (%u flows, %u B, %u%% Initial) on port %u",
	       sent, c->gen_flows, c->gen_size, c->gen_initial_pct, port->port_id);
	return 0;
}
