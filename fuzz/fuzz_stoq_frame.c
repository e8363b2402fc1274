/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target: the STOQ DPDK back end's receive path (frame_input in
 * stoq/stoq_io_dpdk.c) on arbitrary frames, as a port delivers them: each
 * input is one frame in an mbuf on the RX ring of a ring-PMD port the back
 * end owns (10.9.0.1:4433). Invariants beyond "no sanitizer report": at
 * most one datagram comes out, never longer than the frame minus 42 bytes
 * of headers, from an IPv4 address; every frame is counted once (as a
 * datagram or under one drop reason, ARP apart); what the back end sends
 * (ARP replies) is drained so its ring never fills.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include "stoq.h"

static struct rte_ring *g_rx, *g_tx;
static struct rte_mempool *g_mp;
static struct stoq_io *g_io;
static struct stoq_dgram g_d[32];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct stoq_io_dpdk_params p = { 0 };
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(4433) };
	char err[256];
	int port;

	(void)argc;
	(void)argv;
	if (stoq_dpdk_eal_init("-l 0 --no-huge -m 128 --no-pci --no-shconf --no-telemetry "
			       "--log-level=*:crit",
			       err, sizeof(err)) < 0)
		abort();
	g_rx = rte_ring_create("fz_rx", 64, SOCKET_ID_ANY, 0);
	g_tx = rte_ring_create("fz_tx", 64, SOCKET_ID_ANY, 0);
	g_mp = rte_pktmbuf_pool_create("fz", 255, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
	if (!g_rx || !g_tx || !g_mp)
		abort();
	port = rte_eth_from_rings("fz", &g_rx, 1, &g_tx, 1, SOCKET_ID_ANY);
	if (port < 0)
		abort();
	p.port_id = (uint16_t)port;
	inet_pton(AF_INET, "10.9.0.1", &sa.sin_addr);
	g_io = stoq_io_open(&stoq_io_dpdk_ops, (struct sockaddr *)&sa, sizeof(sa), &p);
	if (!g_io)
		abort();
	for (int i = 0; i < 32; i++)
		if (!(g_d[i].data = malloc(65536)))
			abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct stoq_io_dpdk_stats a, b;
	struct rte_mbuf *m, *out[64];
	size_t n;
	unsigned k;

	if (size > RTE_MBUF_DEFAULT_DATAROOM)
		return 0;
	m = rte_pktmbuf_alloc(g_mp);
	if (!m)
		abort();
	if (size)
		memcpy(rte_pktmbuf_append(m, (uint16_t)size), data, size);
	stoq_io_dpdk_get_stats(g_io, &a);
	if (rte_ring_enqueue(g_rx, m) != 0)
		abort();
	n = stoq_io_dpdk_ops.recv_burst(g_io, g_d, 32);
	stoq_io_dpdk_get_stats(g_io, &b);
	if (n > 1 || b.rx_frames != a.rx_frames + 1 || b.rx_datagrams != a.rx_datagrams + n)
		abort();
	if (n && (g_d[0].len + 42 > size || g_d[0].remote.ss_family != AF_INET))
		abort();
	if (b.rx_not_ours + b.rx_bad_ip + b.rx_bad_udp + b.rx_fragment + b.rx_not_ipv4 -
		    (a.rx_not_ours + a.rx_bad_ip + a.rx_bad_udp + a.rx_fragment + a.rx_not_ipv4) +
		    n >
	    1)
		abort();
	k = rte_ring_dequeue_burst(g_tx, (void **)out, 64, NULL);
	rte_pktmbuf_free_bulk(out, k);
	return 0;
}
