/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target: the STOQ DPDK back end's receive path (frame_input in
 * stoq/stoq_io_dpdk.c) on arbitrary frames, as a port delivers them: each
 * input is one frame in an mbuf on the RX ring of a ring-PMD port, given
 * once to a back end owning 10.9.0.1:4433 and once to one owning
 * [fd09::1]:4433 (ARP and IPv4 for the first, NDP, extension headers and
 * IPv6 for the second). Invariants beyond "no sanitizer report": at most
 * one datagram comes out, never longer than the frame minus the headers of
 * its family (42 or 62 bytes), from an address of the back end's family;
 * every frame is counted once (as a datagram or under one drop reason, ARP
 * and NDP apart); what the back end sends (ARP and NDP answers) is drained
 * so its ring never fills.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include "stoq.h"

struct fz_port {
	struct rte_ring *rx, *tx;
	struct stoq_io *io;
	int family;
	size_t hdr_len;
};

static struct fz_port g_port[2];
static struct rte_mempool *g_mp;
static struct stoq_dgram g_d[32];
static uint8_t *g_buf[32]; /* the buffers g_d offers: a back end may point g_d elsewhere */

static void port_up(struct fz_port *fp, int i, const struct sockaddr *sa, socklen_t len)
{
	struct stoq_io_dpdk_params p = { 0 };
	char name[32];
	int port;

	snprintf(name, sizeof(name), "fz_rx%d", i);
	fp->rx = rte_ring_create(name, 64, SOCKET_ID_ANY, 0);
	snprintf(name, sizeof(name), "fz_tx%d", i);
	fp->tx = rte_ring_create(name, 64, SOCKET_ID_ANY, 0);
	if (!fp->rx || !fp->tx)
		abort();
	snprintf(name, sizeof(name), "fz%d", i);
	port = rte_eth_from_rings(name, &fp->rx, 1, &fp->tx, 1, SOCKET_ID_ANY);
	if (port < 0)
		abort();
	p.port_id = (uint16_t)port;
	fp->io = stoq_io_open(&stoq_io_dpdk_ops, sa, len, &p);
	if (!fp->io)
		abort();
	fp->family = sa->sa_family;
	fp->hdr_len = sa->sa_family == AF_INET ? 42 : 62;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(4433) };
	struct sockaddr_in6 s6 = {.sin6_family = AF_INET6, .sin6_port = htons(4433)};
	char err[256];

	(void)argc;
	(void)argv;
	if (stoq_dpdk_eal_init("-l 0 --no-huge -m 128 --no-pci --no-shconf --no-telemetry "
			       "--log-level=*:crit",
			       err, sizeof(err)) < 0)
		abort();
	g_mp = rte_pktmbuf_pool_create("fz", 255, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
	if (!g_mp)
		abort();
	inet_pton(AF_INET, "10.9.0.1", &sa.sin_addr);
	inet_pton(AF_INET6, "fd09::1", &s6.sin6_addr);
	port_up(&g_port[0], 0, (struct sockaddr *)&sa, sizeof(sa));
	port_up(&g_port[1], 1, (struct sockaddr *)&s6, sizeof(s6));
	for (int i = 0; i < 32; i++)
		if (!(g_buf[i] = malloc(65536)))
			abort();
	return 0;
}

static uint64_t drops(const struct stoq_io_dpdk_stats *s)
{
	return s->rx_not_ours + s->rx_bad_ip + s->rx_bad_udp + s->rx_fragment + s->rx_not_ip +
	       s->rx_bad_nd;
}

static void one(struct fz_port *fp, const uint8_t *data, size_t size)
{
	struct stoq_io_dpdk_stats a, b;
	struct rte_mbuf *m, *out[64];
	size_t n;
	unsigned k;

	m = rte_pktmbuf_alloc(g_mp);
	if (!m)
		abort();
	if (size)
		memcpy(rte_pktmbuf_append(m, (uint16_t)size), data, size);
	stoq_io_dpdk_get_stats(fp->io, &a);
	if (rte_ring_enqueue(fp->rx, m) != 0)
		abort();
	for (int i = 0; i < 32; i++)
		g_d[i].data = g_buf[i];
	n = stoq_io_dpdk_ops.recv_burst(fp->io, g_d, 32);
	stoq_io_dpdk_get_stats(fp->io, &b);
	if (n > 1 || b.rx_frames != a.rx_frames + 1 || b.rx_datagrams != a.rx_datagrams + n)
		abort();
	if (n && (g_d[0].len + fp->hdr_len > size || g_d[0].remote.ss_family != fp->family))
		abort();
	if (drops(&b) - drops(&a) + n > 1)
		abort();
	k = rte_ring_dequeue_burst(fp->tx, (void **)out, 64, NULL);
	rte_pktmbuf_free_bulk(out, k);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > RTE_MBUF_DEFAULT_DATAROOM)
		return 0;
	one(&g_port[0], data, size);
	one(&g_port[1], data, size);
	return 0;
}
