/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * stoq_io_dpdk.c — the DPDK back end: STOQ datagrams in and out of mbufs on
 * one ethdev port, so a process that owns a port (the dataplane, or
 * hmesh-stoq on a vdev) terminates QUIC without the kernel's socket path.
 *
 * The back end owns one IPv4 address on the port and does what the kernel
 * would do for a UDP socket bound to it:
 *   - Ethernet: frames to our MAC or broadcast; everything else is not ours.
 *   - ARP (RFC 826): answers requests for our address, resolves next hops
 *     with requests of its own; packets to a next hop being resolved wait in
 *     a short queue (a client's first Initial must not wait for a PTO).
 *     Every IPv4 packet for us also teaches its sender's MAC, so replies go
 *     back the way the request came without an ARP round trip (anyone on
 *     the segment can redirect replies this way, as ARP itself allows).
 *   - IPv4 (RFC 791): header checked (version, IHL, lengths, checksum),
 *     fragments dropped (RFC 9000 §14: QUIC sets DF and never fragments),
 *     DF set and ECN copied out of and into the TOS byte (RFC 9000 §13.4).
 *   - UDP (RFC 768): our port only; checksums computed in software unless
 *     the port offers the TX offloads; a receive checksum the PMD flags bad
 *     is dropped (QUIC's AEAD authenticates the payload either way).
 *   - A GSO train from the core (segsize < len) is cut into one mbuf per
 *     packet here: no PMD we target segments UDP.
 * Each datagram costs one copy in each direction: the core's buffers are
 * not mbufs. Drops are counted by reason (stoq_io_dpdk_get_stats).
 *
 * Threading: like every back end, one io belongs to one thread; it uses
 * queue 0 of its port only.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_arp.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>
#include <rte_random.h>
#include <rte_udp.h>

#include "hm_log.h"
#include "stoq_priv.h"

#define DPDK_RX_BURST 32
#define DPDK_DESC 1024
/* A send call's worth of packets (16 trains of 64) plus RX and the queues. */
#define DPDK_MBUFS 8191
#define DPDK_MBUF_CACHE 256
#define NEIGH_SLOTS 256	    /* direct-mapped by next-hop address */
#define NEIGH_PEND 16	    /* packets waiting for one ARP answer */
#define ARP_RETRY_NS 200000000ull /* 200 ms between requests for one next hop */
#define ARP_GIVE_UP 5	    /* requests before the waiting packets are dropped */
#define TX_STALL_MAX 100000 /* zero-progress tx_burst calls before a datagram is dropped */
#define HDR_LEN (sizeof(struct rte_ether_hdr) + sizeof(struct rte_ipv4_hdr) + \
		 sizeof(struct rte_udp_hdr))

struct neigh {
	uint32_t ip; /* network order; 0: free */
	bool valid;
	struct rte_ether_addr mac;
	uint64_t arp_at; /* last request sent, ns */
	uint8_t arp_tries;
	uint8_t n_pend;
	struct rte_mbuf *pend[NEIGH_PEND];
};

struct dpdk_be {
	uint16_t port;
	struct rte_mempool *mp;
	struct rte_ether_addr mac;
	uint32_t ip, mask, gateway; /* network order */
	uint16_t udp_port;	    /* network order */
	uint16_t ip_id;
	bool tx_cksum;		    /* the port computes IPv4 and UDP checksums */
	uint32_t tx_stall;
	struct neigh neigh[NEIGH_SLOTS];
	struct stoq_io_dpdk_stats st;
};

static struct neigh *neigh_slot(struct dpdk_be *be, uint32_t ip)
{
	uint32_t h = rte_be_to_cpu_32(ip);

	return &be->neigh[(h ^ (h >> 8)) % NEIGH_SLOTS];
}

/* Claim @ip's slot; a different address there is evicted with its queue. */
static struct neigh *neigh_claim(struct dpdk_be *be, uint32_t ip)
{
	struct neigh *n = neigh_slot(be, ip);

	if (n->ip != ip) {
		be->st.tx_dropped += n->n_pend;
		rte_pktmbuf_free_bulk(n->pend, n->n_pend);
		memset(n, 0, sizeof(*n));
		n->ip = ip;
	}
	return n;
}

/* Send @n frames now (ARP, packets that waited for ARP); returns how many left. */
static uint16_t tx_frames(struct dpdk_be *be, struct rte_mbuf **m, uint16_t n)
{
	uint16_t sent = 0;

	for (uint32_t tries = 0; sent < n && tries < TX_STALL_MAX; tries++)
		sent += rte_eth_tx_burst(be->port, 0, m + sent, (uint16_t)(n - sent));
	if (sent < n) {
		be->st.tx_dropped += n - sent;
		rte_pktmbuf_free_bulk(m + sent, n - sent);
	}
	return sent;
}

/* RFC 826: one ARP packet; @tha NULL for a request (broadcast). */
static void arp_send(struct dpdk_be *be, uint16_t op, uint32_t tip,
		     const struct rte_ether_addr *tha)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(be->mp);
	struct rte_ether_hdr *eth;
	struct rte_arp_hdr *arp;

	if (!m) {
		be->st.tx_dropped++;
		return;
	}
	eth = (struct rte_ether_hdr *)rte_pktmbuf_append(m, sizeof(*eth) + sizeof(*arp));
	arp = (struct rte_arp_hdr *)(eth + 1);
	if (tha)
		rte_ether_addr_copy(tha, &eth->dst_addr);
	else
		memset(&eth->dst_addr, 0xff, sizeof(eth->dst_addr));
	rte_ether_addr_copy(&be->mac, &eth->src_addr);
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP);
	arp->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
	arp->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	arp->arp_hlen = RTE_ETHER_ADDR_LEN;
	arp->arp_plen = 4;
	arp->arp_opcode = rte_cpu_to_be_16(op);
	rte_ether_addr_copy(&be->mac, &arp->arp_data.arp_sha);
	arp->arp_data.arp_sip = be->ip;
	if (tha)
		rte_ether_addr_copy(tha, &arp->arp_data.arp_tha);
	else
		memset(&arp->arp_data.arp_tha, 0, sizeof(arp->arp_data.arp_tha));
	arp->arp_data.arp_tip = tip;
	if (op == RTE_ARP_OP_REQUEST)
		be->st.arp_requests_sent++;
	tx_frames(be, &m, 1);
}

/* @n now has a MAC: send what waited for it. */
static void neigh_flush(struct dpdk_be *be, struct neigh *n)
{
	uint32_t len[NEIGH_PEND];
	uint16_t sent;

	for (uint8_t i = 0; i < n->n_pend; i++) {
		struct rte_ether_hdr *eth = rte_pktmbuf_mtod(n->pend[i], struct rte_ether_hdr *);

		rte_ether_addr_copy(&n->mac, &eth->dst_addr);
		len[i] = n->pend[i]->pkt_len;
	}
	sent = n->n_pend ? tx_frames(be, n->pend, n->n_pend) : 0;
	be->st.tx_packets += sent;
	for (uint16_t i = 0; i < sent; i++)
		be->st.tx_bytes += len[i];
	n->n_pend = 0;
}

static void neigh_learn(struct dpdk_be *be, uint32_t ip, const struct rte_ether_addr *mac)
{
	struct neigh *n = neigh_claim(be, ip);

	rte_ether_addr_copy(mac, &n->mac);
	n->valid = true;
	n->arp_tries = 0;
	neigh_flush(be, n);
}

static void arp_input(struct dpdk_be *be, struct rte_mbuf *m)
{
	const struct rte_arp_hdr *arp;
	uint32_t sip;

	if (m->data_len < sizeof(struct rte_ether_hdr) + sizeof(*arp)) {
		be->st.rx_bad_ip++;
		return;
	}
	arp = rte_pktmbuf_mtod_offset(m, const struct rte_arp_hdr *, sizeof(struct rte_ether_hdr));
	if (arp->arp_hardware != rte_cpu_to_be_16(RTE_ARP_HRD_ETHER) ||
	    arp->arp_protocol != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4) ||
	    arp->arp_hlen != RTE_ETHER_ADDR_LEN || arp->arp_plen != 4) {
		be->st.rx_not_ours++;
		return;
	}
	sip = arp->arp_data.arp_sip;
	if (arp->arp_data.arp_tip != be->ip) {
		be->st.rx_not_ours++;
		return;
	}
	/* RFC 826 "merge": whoever asks us is someone we will answer. */
	if (sip && !rte_is_multicast_ether_addr(&arp->arp_data.arp_sha))
		neigh_learn(be, sip, &arp->arp_data.arp_sha);
	if (arp->arp_opcode == rte_cpu_to_be_16(RTE_ARP_OP_REQUEST)) {
		be->st.arp_requests_answered++;
		arp_send(be, RTE_ARP_OP_REPLY, sip, &arp->arp_data.arp_sha);
	} else if (arp->arp_opcode == rte_cpu_to_be_16(RTE_ARP_OP_REPLY)) {
		be->st.arp_replies++;
	}
}

/*
 * One received frame: ARP is handled here; an IPv4 UDP datagram for our
 * address and port is copied into @d. Returns true when @d was filled.
 */
static bool frame_input(struct dpdk_be *be, struct rte_mbuf *m, struct stoq_dgram *d)
{
	const struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, const struct rte_ether_hdr *);
	const struct rte_ipv4_hdr *ip;
	const struct rte_udp_hdr *udp;
	struct sockaddr_in *sin;
	const void *payload;
	uint32_t ihl, tot, ulen;
	uint16_t et;

	be->st.rx_frames++;
	if (m->data_len < sizeof(*eth)) {
		be->st.rx_bad_ip++;
		return false;
	}
	if (!rte_is_same_ether_addr(&eth->dst_addr, &be->mac) &&
	    !rte_is_broadcast_ether_addr(&eth->dst_addr)) {
		be->st.rx_not_ours++;
		return false;
	}
	et = rte_be_to_cpu_16(eth->ether_type);
	if (et == RTE_ETHER_TYPE_ARP) {
		arp_input(be, m);
		return false;
	}
	if (et != RTE_ETHER_TYPE_IPV4) {
		be->st.rx_not_ipv4++;
		return false;
	}
	/* The IPv4 header must lie in the first segment; the payload may not. */
	if (m->data_len < sizeof(*eth) + sizeof(*ip)) {
		be->st.rx_bad_ip++;
		return false;
	}
	ip = (const struct rte_ipv4_hdr *)(eth + 1);
	ihl = rte_ipv4_hdr_len(ip);
	tot = rte_be_to_cpu_16(ip->total_length);
	if ((ip->version_ihl >> 4) != 4 || ihl < sizeof(*ip) ||
	    m->data_len < sizeof(*eth) + ihl || tot < ihl ||
	    tot > m->pkt_len - sizeof(*eth) || rte_raw_cksum(ip, ihl) != 0xffff) {
		be->st.rx_bad_ip++;
		return false;
	}
	if (ip->dst_addr != be->ip || ip->next_proto_id != IPPROTO_UDP) {
		be->st.rx_not_ours++;
		return false;
	}
	if (rte_be_to_cpu_16(ip->fragment_offset) & (RTE_IPV4_HDR_MF_FLAG | RTE_IPV4_HDR_OFFSET_MASK)) {
		be->st.rx_fragment++;
		return false;
	}
	if (tot < ihl + sizeof(*udp) || m->data_len < sizeof(*eth) + ihl + sizeof(*udp)) {
		be->st.rx_bad_udp++;
		return false;
	}
	udp = (const struct rte_udp_hdr *)((const uint8_t *)ip + ihl);
	ulen = rte_be_to_cpu_16(udp->dgram_len);
	if (ulen < sizeof(*udp) || ulen > tot - ihl ||
	    (m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK) == RTE_MBUF_F_RX_L4_CKSUM_BAD) {
		be->st.rx_bad_udp++;
		return false;
	}
	if (udp->dst_port != be->udp_port) {
		be->st.rx_not_ours++;
		return false;
	}
	d->len = ulen - sizeof(*udp);
	/* Returns a pointer into the mbuf when the bytes are contiguous. */
	payload = rte_pktmbuf_read(m, (uint32_t)(sizeof(*eth) + ihl + sizeof(*udp)),
				   (uint32_t)d->len, d->data);
	if (payload != d->data)
		memcpy(d->data, payload, d->len);
	d->segsize = 0;
	d->ecn = ip->type_of_service & 3;
	memset(&d->remote, 0, sizeof(d->remote));
	sin = (struct sockaddr_in *)&d->remote;
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = ip->src_addr;
	sin->sin_port = udp->src_port;
	d->remote_len = sizeof(*sin);
	/* The sender's MAC is the way back (the gateway's when it is off-link). */
	{
		struct neigh *n = neigh_slot(be, ip->src_addr);

		if (n->ip != ip->src_addr || !n->valid ||
		    !rte_is_same_ether_addr(&n->mac, &eth->src_addr))
			neigh_learn(be, ip->src_addr, &eth->src_addr);
	}
	be->st.rx_datagrams++;
	return true;
}

static size_t dpdk_recv_burst(struct stoq_io *io, struct stoq_dgram *d, size_t max)
{
	struct dpdk_be *be = io->be;
	struct rte_mbuf *m[DPDK_RX_BURST];
	uint16_t n;
	size_t k = 0;

	if (max > DPDK_RX_BURST)
		max = DPDK_RX_BURST;
	n = rte_eth_rx_burst(be->port, 0, m, (uint16_t)max);
	for (uint16_t i = 0; i < n; i++) {
		if (i + 1 < n)
			rte_prefetch0(rte_pktmbuf_mtod(m[i + 1], void *));
		if (frame_input(be, m[i], &d[k]))
			k++;
	}
	if (n)
		rte_pktmbuf_free_bulk(m, n);
	return k;
}

/* Ethernet + IPv4 + UDP headers and @len bytes of @payload in a new mbuf. */
static struct rte_mbuf *build(struct dpdk_be *be, const struct sockaddr_in *to, uint8_t ecn,
			      const struct rte_ether_addr *dst, const uint8_t *payload,
			      size_t len)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(be->mp);
	struct rte_ether_hdr *eth;
	struct rte_ipv4_hdr *ip;
	struct rte_udp_hdr *udp;

	if (!m)
		return NULL;
	eth = (struct rte_ether_hdr *)rte_pktmbuf_append(m, (uint16_t)(HDR_LEN + len));
	if (!eth) {
		rte_pktmbuf_free(m);
		return NULL;
	}
	ip = (struct rte_ipv4_hdr *)(eth + 1);
	udp = (struct rte_udp_hdr *)(ip + 1);
	if (dst)
		rte_ether_addr_copy(dst, &eth->dst_addr);
	rte_ether_addr_copy(&be->mac, &eth->src_addr);
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->type_of_service = ecn & 3;
	ip->total_length = rte_cpu_to_be_16((uint16_t)(sizeof(*ip) + sizeof(*udp) + len));
	ip->packet_id = rte_cpu_to_be_16(be->ip_id++);
	ip->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG);
	ip->time_to_live = 64;
	ip->next_proto_id = IPPROTO_UDP;
	ip->hdr_checksum = 0;
	ip->src_addr = be->ip;
	ip->dst_addr = to->sin_addr.s_addr;
	udp->src_port = be->udp_port;
	udp->dst_port = to->sin_port;
	udp->dgram_len = rte_cpu_to_be_16((uint16_t)(sizeof(*udp) + len));
	udp->dgram_cksum = 0;
	memcpy(udp + 1, payload, len);
	if (be->tx_cksum) {
		m->l2_len = sizeof(*eth);
		m->l3_len = sizeof(*ip);
		m->ol_flags |= RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM | RTE_MBUF_F_TX_UDP_CKSUM;
		udp->dgram_cksum = rte_ipv4_phdr_cksum(ip, m->ol_flags);
	} else {
		ip->hdr_checksum = rte_ipv4_cksum(ip);
		udp->dgram_cksum = rte_ipv4_udptcp_cksum(ip, udp);
	}
	return m;
}

/*
 * Where a packet to @dst goes next: its own MAC on-link, the gateway's
 * otherwise. NULL with *@wait set when the next hop is being resolved (the
 * packet should be queued on *@wait), NULL with *@wait NULL when it cannot
 * be reached (off-link without a gateway, or the queue is full).
 */
static const struct rte_ether_addr *next_hop(struct dpdk_be *be, uint32_t dst, uint64_t now,
					      struct neigh **wait)
{
	uint32_t hop = dst;
	struct neigh *n;

	*wait = NULL;
	if ((dst & be->mask) != (be->ip & be->mask)) {
		n = neigh_slot(be, dst); /* learnt from its packets through the gateway */
		if (n->ip == dst && n->valid)
			return &n->mac;
		if (!be->gateway)
			return NULL;
		hop = be->gateway;
	}
	n = neigh_slot(be, hop);
	if (n->ip == hop && n->valid)
		return &n->mac;
	n = neigh_claim(be, hop);
	if (now - n->arp_at >= ARP_RETRY_NS || n->arp_at == 0) {
		if (n->arp_tries >= ARP_GIVE_UP) {
			/* Nobody answers: what waited is lost (QUIC retransmits). */
			be->st.tx_dropped += n->n_pend;
			rte_pktmbuf_free_bulk(n->pend, n->n_pend);
			n->n_pend = 0;
			n->arp_tries = 0;
		}
		n->arp_at = now;
		n->arp_tries++;
		arp_send(be, RTE_ARP_OP_REQUEST, hop, NULL);
	}
	if (n->n_pend < NEIGH_PEND)
		*wait = n;
	return NULL;
}

static size_t dpdk_send_burst(struct stoq_io *io, const struct stoq_dgram *d, size_t n)
{
	struct dpdk_be *be = io->be;
	struct rte_mbuf *m[STOQ_GSO_MAX];
	uint64_t now = stoq_now();
	size_t done = 0;

	for (; done < n && done < STOQ_TX_BATCH; done++) {
		const struct sockaddr_in *to = (const struct sockaddr_in *)&d[done].remote;
		size_t seg = d[done].segsize && d[done].segsize < d[done].len ? d[done].segsize
									    : d[done].len;
		const struct rte_ether_addr *mac;
		struct neigh *wait;
		uint16_t k = 0, sent = 0;
		uint32_t plen[STOQ_GSO_MAX]; /* a sent mbuf may be freed at once */

		if (d[done].remote.ss_family != AF_INET || seg + HDR_LEN > RTE_ETHER_MAX_JUMBO_FRAME_LEN) {
			be->st.tx_dropped++;
			continue;
		}
		mac = next_hop(be, to->sin_addr.s_addr, now, &wait);
		for (size_t off = 0; off < d[done].len && k < STOQ_GSO_MAX; off += seg, k++) {
			size_t l = d[done].len - off < seg ? d[done].len - off : seg;

			m[k] = build(be, to, d[done].ecn, mac, d[done].data + off, l);
			if (!m[k])
				break;
			plen[k] = m[k]->pkt_len;
		}
		if (k < (d[done].len + seg - 1) / seg)
			be->st.tx_dropped += (d[done].len + seg - 1) / seg - k; /* pool ran dry */
		if (!mac) {
			/* Waiting for ARP: queue what fits; the rest is lost. */
			for (uint16_t i = 0; i < k; i++) {
				if (wait && wait->n_pend < NEIGH_PEND) {
					wait->pend[wait->n_pend++] = m[i];
					be->st.tx_unresolved++;
				} else {
					be->st.tx_dropped++;
					rte_pktmbuf_free(m[i]);
				}
			}
			continue;
		}
		if (k == 0)
			continue;
		sent = rte_eth_tx_burst(be->port, 0, m, k);
		if (sent == 0 && ++be->tx_stall < TX_STALL_MAX) {
			/* The queue is full: the caller offers this datagram again. */
			rte_pktmbuf_free_bulk(m, k);
			return done;
		}
		/* A train partly sent: push the rest while the port moves. */
		for (uint32_t idle = 0; sent && sent < k && idle < TX_STALL_MAX; idle++) {
			uint16_t s = rte_eth_tx_burst(be->port, 0, m + sent, (uint16_t)(k - sent));

			sent += s;
			if (s)
				idle = 0;
		}
		be->tx_stall = 0;
		if (sent < k) {
			/* The port has not moved for long: the rest is lost and QUIC
			 * recovers it (RFC 9002 §6), counted. */
			be->st.tx_dropped += k - sent;
			rte_pktmbuf_free_bulk(m + sent, k - sent);
		}
		be->st.tx_packets += sent;
		for (uint16_t i = 0; i < sent; i++)
			be->st.tx_bytes += plen[i];
	}
	return done;
}

static int dpdk_pollfd(struct stoq_io *io)
{
	(void)io;
	return -1;
}

static void dpdk_close(struct stoq_io *io)
{
	struct dpdk_be *be = io->be;

	if (!be)
		return;
	for (size_t i = 0; i < NEIGH_SLOTS; i++)
		rte_pktmbuf_free_bulk(be->neigh[i].pend, be->neigh[i].n_pend);
	/* Close, not only stop: the queues give their mbufs back before the pool goes. */
	rte_eth_dev_stop(be->port);
	rte_eth_dev_close(be->port);
	rte_mempool_free(be->mp);
	free(be);
	io->be = NULL;
}

static int port_setup(struct dpdk_be *be)
{
	struct rte_eth_conf conf = { 0 };
	struct rte_eth_dev_info info;
	struct rte_eth_txconf txc;
	uint16_t nrx = DPDK_DESC, ntx = DPDK_DESC;
	char name[RTE_MEMPOOL_NAMESIZE];
	int rc, socket = rte_eth_dev_socket_id(be->port);

	rc = rte_eth_dev_info_get(be->port, &info);
	if (rc < 0)
		return rc;
	if (socket < 0)
		socket = (int)rte_socket_id();
	snprintf(name, sizeof(name), "stoq_mp_%u", be->port);
	be->mp = rte_pktmbuf_pool_create(name, DPDK_MBUFS, DPDK_MBUF_CACHE, 0,
					 RTE_MBUF_DEFAULT_BUF_SIZE, socket);
	if (!be->mp)
		return -rte_errno;
	be->tx_cksum = (info.tx_offload_capa & (RTE_ETH_TX_OFFLOAD_IPV4_CKSUM |
						RTE_ETH_TX_OFFLOAD_UDP_CKSUM)) ==
		       (RTE_ETH_TX_OFFLOAD_IPV4_CKSUM | RTE_ETH_TX_OFFLOAD_UDP_CKSUM);
	if (be->tx_cksum)
		conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_IPV4_CKSUM | RTE_ETH_TX_OFFLOAD_UDP_CKSUM;
	if (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_UDP_CKSUM)
		conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_UDP_CKSUM;
	rc = rte_eth_dev_configure(be->port, 1, 1, &conf);
	if (rc < 0)
		return rc;
	rc = rte_eth_dev_adjust_nb_rx_tx_desc(be->port, &nrx, &ntx);
	if (rc < 0)
		return rc;
	rc = rte_eth_rx_queue_setup(be->port, 0, nrx, (unsigned int)socket, NULL, be->mp);
	if (rc < 0)
		return rc;
	txc = info.default_txconf;
	txc.offloads = conf.txmode.offloads;
	rc = rte_eth_tx_queue_setup(be->port, 0, ntx, (unsigned int)socket, &txc);
	if (rc < 0)
		return rc;
	rc = rte_eth_macaddr_get(be->port, &be->mac);
	if (rc < 0)
		return rc;
	return rte_eth_dev_start(be->port);
}

static int dpdk_open(struct stoq_io *io, const struct sockaddr *addr, socklen_t len,
		     const void *params)
{
	const struct stoq_io_dpdk_params *p = params;
	const struct sockaddr_in *sin = (const struct sockaddr_in *)addr;
	struct sockaddr_in *local;
	struct dpdk_be *be;
	uint8_t prefix;
	int rc;

	if (!p) {
		HM_ERR(STOQ_LOG, "dpdk back end: no parameters (port id)");
		return -EINVAL;
	}
	prefix = p->prefix_len ? p->prefix_len : 24;
	if (addr->sa_family != AF_INET || len < sizeof(*sin)) {
		HM_ERR(STOQ_LOG, "dpdk back end: IPv4 only (the address given is not IPv4)");
		return -EAFNOSUPPORT;
	}
	if (sin->sin_addr.s_addr == 0) {
		HM_ERR(STOQ_LOG, "dpdk back end: needs the port's own IPv4 address, not 0.0.0.0");
		return -EINVAL;
	}
	if (prefix > 32) {
		HM_ERR(STOQ_LOG, "dpdk back end: prefix length %u is above 32", prefix);
		return -EINVAL;
	}
	if (!rte_eth_dev_is_valid_port(p->port_id)) {
		HM_ERR(STOQ_LOG, "dpdk back end: port %u does not exist (%u ports)", p->port_id,
		       rte_eth_dev_count_avail());
		return -ENODEV;
	}
	be = calloc(1, sizeof(*be));
	if (!be)
		return -ENOMEM;
	be->port = p->port_id;
	be->ip = sin->sin_addr.s_addr;
	be->mask = rte_cpu_to_be_32(prefix == 32 ? 0xffffffffu : ~(0xffffffffu >> prefix));
	be->gateway = p->gateway;
	if (be->gateway && (be->gateway & be->mask) != (be->ip & be->mask)) {
		HM_ERR(STOQ_LOG, "dpdk back end: gateway is not inside the address's /%u", prefix);
		rc = -EINVAL;
		goto err;
	}
	/* Port 0 asks for an ephemeral port, as bind(2) does (RFC 6335 range). */
	be->udp_port = sin->sin_port ? sin->sin_port
				     : rte_cpu_to_be_16((uint16_t)(49152 + rte_rand() % 16384));
	be->ip_id = (uint16_t)rte_rand();
	rc = port_setup(be);
	if (rc < 0) {
		HM_ERR(STOQ_LOG, "dpdk back end: port %u: %s", be->port, strerror(-rc));
		rte_mempool_free(be->mp);
		goto err;
	}
	local = (struct sockaddr_in *)&io->local;
	memset(&io->local, 0, sizeof(io->local));
	local->sin_family = AF_INET;
	local->sin_addr.s_addr = be->ip;
	local->sin_port = be->udp_port;
	io->local_len = sizeof(*local);
	io->gso = true; /* trains are cut here */
	io->gro = false;
	io->be = be;
	return 0;

err:
	free(be);
	return rc;
}

void stoq_io_dpdk_get_stats(const struct stoq_io *io, struct stoq_io_dpdk_stats *out)
{
	const struct dpdk_be *be = io->be;

	*out = be->st;
}

const struct stoq_io_ops stoq_io_dpdk_ops = {
	.name = "dpdk",
	.open = dpdk_open,
	.recv_burst = dpdk_recv_burst,
	.send_burst = dpdk_send_burst,
	.pollfd = dpdk_pollfd,
	.close = dpdk_close,
};

/* The EAL keeps pointers into its argv (e.g. --vdev strings) until cleanup. */
static char *eal_args;

int stoq_dpdk_eal_init(const char *args, char *err, size_t errlen)
{
	char *copy = strdup(args), *save = NULL;
	char *argv[64];
	int argc = 0, rc;

	if (!copy) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	argv[argc++] = (char *)"hmesh-stoq";
	for (char *t = strtok_r(copy, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
		if (argc == (int)(sizeof(argv) / sizeof(argv[0])) - 1) {
			snprintf(err, errlen, "more than %zu EAL arguments",
				 sizeof(argv) / sizeof(argv[0]) - 2);
			free(copy);
			return -E2BIG;
		}
		argv[argc++] = t;
	}
	argv[argc] = NULL;
	rc = rte_eal_init(argc, argv);
	if (rc < 0) {
		snprintf(err, errlen, "EAL arguments \"%s\": %s", args, rte_strerror(rte_errno));
		free(copy);
		return -rte_errno;
	}
	if (rc != argc - 1) {
		snprintf(err, errlen, "EAL arguments \"%s\": \"%s\" is not an EAL option", args,
			 argv[rc + 1]);
		rte_eal_cleanup();
		free(copy);
		return -EINVAL;
	}
	eal_args = copy;
	return 0;
}

void stoq_dpdk_eal_fini(void)
{
	rte_eal_cleanup();
	free(eal_args);
	eal_args = NULL;
}
