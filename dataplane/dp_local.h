/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dp_local — a STOQ (HTTP/3) server hosted in the dataplane itself
 * (stoq_listen), so a node serves chunks without a container or the
 * kernel in the way.
 *
 * The endpoint is the STOQ library's DPDK back end (stoq_io_dpdk.c) on an
 * ethdev made of two rte_rings (rte_eth_from_rings): the RX lcores put the
 * frames meant for it on one ring, it runs on an lcore of its own
 * (stoq_lcore), and one transmitting lcore moves what it sent from the
 * other ring to the uplink's TX queue. The back end owns the uplink's MAC
 * address, answers ARP and NDP for its IP address and resolves its peers
 * itself.
 *
 * Which frames are its: ARP, and IP to its address (and, for IPv6, to its
 * solicited-node multicast group) on stoq_port. Its UDP port must not be
 * in stoq_ports (dp_config_check), so each of those frames fails the
 * forwarding parse (not IP, not UDP, or not a carried port) and is looked
 * at only on that slow path: forwarding pays nothing per packet for the
 * endpoint.
 *
 * Threading: built on the main lcore before launch, torn down after every
 * lcore returned; rx is multi-producer (RX lcores), single-consumer (the
 * endpoint); tx single-producer (the endpoint), single-consumer (the
 * draining lcore).
 */
#ifndef DP_LOCAL_H
#define DP_LOCAL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <rte_ring.h>

#include "dp_config.h"
#include "dp_parse.h"

struct dp_app;
struct stoq_endpoint;
struct stoq_io;
struct stoq_seg;

#define DP_LOCAL_RING 1024 /* frames each way */
#define DP_LOCAL_BURST 64

struct dp_local {
	struct rte_ring *rx; /* RX lcores → endpoint */
	struct rte_ring *tx; /* endpoint → draining lcore */
	uint16_t port;	     /* the dataplane port (ethdev id) its frames use */
	uint16_t ring_port;  /* the ethdev made of rx and tx */
	bool ring_port_made;
	int port_idx;	     /* index of port in dp_app.ports */
	uint16_t lcore;	     /* where the endpoint runs */
	uint16_t drain_lcore;
	int family;	     /* AF_INET or AF_INET6 */
	uint8_t addr[16];    /* its address (IPv4: the first 4 bytes) */
	uint8_t snm[16];     /* IPv6: its solicited-node multicast group */
	volatile int stop;
	struct stoq_endpoint *ep;
	struct stoq_io *io;
	struct stoq_seg *seg; /* its counters: segment <the dataplane's>-stoq */
};

/* Build it from the config (ports started, lcores laid out). 0 or -errno, logged. */
int dp_local_init(struct dp_app *app);
/* The endpoint's lcore: runs until dp_local_stop(). */
int dp_local_run(struct dp_app *app);
/* Ask the endpoint to stop (its lcore returns soon after). */
void dp_local_stop(struct dp_app *app);
/* Free everything, including frames still in the rings; dp_ports_fini calls it. */
void dp_local_fini(struct dp_app *app);
/* Its lcore (stoq_lcore or the highest worker lcore), or -EINVAL, logged. */
int dp_local_lcore(const struct dp_config *c);
/* Its counters, one line each, at exit. */
void dp_local_print(const struct dp_app *app, FILE *out);

/*
 * Is the frame @f (@len bytes), whose forwarding parse failed with @r and
 * filled @pi as far as it got, for the hosted endpoint? ARP always (its
 * back end answers only for its address); IP only when the parse read the
 * destination address, that is for the results past the IP header.
 */
static inline bool dp_local_wants(const struct dp_local *lo, const uint8_t *f, uint32_t len,
				  enum dp_parse_result r, const struct dp_pkt_info *pi)
{
	switch (r) {
	case DP_PARSE_NOT_IP:
		return len >= 14 && f[12] == 0x08 && f[13] == 0x06 && lo->family == AF_INET;
	case DP_PARSE_NOT_UDP:
	case DP_PARSE_UDP_TRUNC:
	case DP_PARSE_UDP_LEN:
	case DP_PARSE_UDP_PORT:
		if (pi->ip_version == 4)
			return lo->family == AF_INET && memcmp(pi->dst, lo->addr, 4) == 0;
		return pi->ip_version == 6 && lo->family == AF_INET6 &&
		       (memcmp(pi->dst, lo->addr, 16) == 0 || memcmp(pi->dst, lo->snm, 16) == 0);
	default:
		return false;
	}
}

#endif /* DP_LOCAL_H */
