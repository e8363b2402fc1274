/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * stoq_io_dpdk.c — the DPDK back end: STOQ datagrams in and out of mbufs on
 * one ethdev port, so a process that owns a port (the dataplane, or
 * hmesh-stoq on a vdev) terminates QUIC without the kernel's socket path.
 *
 * The back end owns one address on the port, IPv4 or IPv6, and does what
 * the kernel would do for a UDP socket bound to it:
 *   - Ethernet: frames to our MAC, broadcast (ARP), and for IPv6 the
 *     all-nodes and our solicited-node multicast groups (RFC 4291 §2.7.1);
 *     everything else is not ours.
 *   - IPv4 neighbours by ARP (RFC 826), IPv6 neighbours by NDP (RFC 4861
 *     §7: Neighbor Solicitation and Advertisement; no router discovery, the
 *     gateway is configured). The back end answers for its address and
 *     resolves next hops itself; packets to a next hop being resolved wait
 *     in a short queue (a client's first Initial must not wait for a PTO).
 *     Every datagram for us also teaches its sender's MAC, so replies go
 *     back the way the request came without a resolution round trip (anyone
 *     on the segment can redirect replies this way, as ARP and unsolicited
 *     NDP advertisements allow too).
 *   - IPv4 (RFC 791): header checked (version, IHL, lengths, checksum),
 *     fragments dropped (RFC 9000 §14: QUIC sets DF and never fragments),
 *     DF set and ECN copied out of and into the TOS byte (RFC 9000 §13.4).
 *   - IPv6 (RFC 8200): version and payload length checked, hop-by-hop,
 *     routing (segments left 0) and destination options headers walked to
 *     UDP, fragments dropped; ECN in the traffic class.
 *   - UDP (RFC 768): our port only; checksums computed in software unless
 *     the port offers the TX offloads. A receive checksum the PMD flags bad
 *     is dropped. Over IPv4 an unflagged checksum is not checked again (the
 *     IPv4 header has its own, and QUIC's AEAD authenticates the payload);
 *     over IPv6 it is the only check on the addresses, so it is verified
 *     on the copy, and a zero checksum is dropped (RFC 8200 §8.1).
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

#include "hm_ethdev.h"
#include "hm_log.h"
#include "stoq_dpdk_priv.h"
#include "stoq_priv.h"

#define DPDK_DESC 1024
/* A send call's worth of packets (16 trains of 64) plus RX and the queues. */
#define DPDK_MBUFS 8191
#define DPDK_MBUF_CACHE 256
#define HDR4_LEN                                                                                   \
	(sizeof(struct rte_ether_hdr) + sizeof(struct rte_ipv4_hdr) + sizeof(struct rte_udp_hdr))
#define HDR6_LEN                                                                                   \
	(sizeof(struct rte_ether_hdr) + sizeof(struct rte_ipv6_hdr) + sizeof(struct rte_udp_hdr))
#define EXT6_MAX 8 /* IPv6 extension headers walked before giving up */

/*
 * The datagram's payload (@ulen bytes of UDP at @l4 off the frame's start)
 * into @d, with its sender; the sender's MAC is learnt as the way back (the
 * gateway's when it is off-link). Returns false when the payload did not
 * survive (IPv6 checksum).
 */
static bool deliver(struct stoq_dpdk_be *be, struct rte_mbuf *m, const struct rte_ether_hdr *eth,
		    uint32_t l4, uint32_t ulen, const union stoq_dpdk_addr *src,
		    const uint8_t *dst6, uint8_t ecn, struct stoq_dgram *d)
{
	const struct rte_udp_hdr *udp = rte_pktmbuf_mtod_offset(m, const struct rte_udp_hdr *, l4);
	const void *payload;
	struct stoq_dpdk_neigh *n;

	d->len = ulen - sizeof(*udp);
	/* A pointer into the mbuf when the bytes are contiguous (the mbuf is
	 * then held until the next burst), else a copy in d->data, the
	 * back end's own scratch slot. */
	payload = rte_pktmbuf_read(m, l4 + (uint32_t)sizeof(*udp), (uint32_t)d->len, d->data);
	d->data = (uint8_t *)(uintptr_t)payload;
	if (dst6 && (m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK) != RTE_MBUF_F_RX_L4_CKSUM_GOOD) {
		uint32_t s =
		    (uint32_t)stoq_dpdk_sum6(src->b, dst6, ulen, IPPROTO_UDP, udp, sizeof(*udp)) +
		    stoq_dpdk_sum(d->data, d->len);

		s = (s & 0xffff) + (s >> 16);
		if (((s & 0xffff) + (s >> 16)) != 0xffff) {
			be->st.rx_bad_udp++;
			return false;
		}
	}
	d->segsize = 0;
	d->ecn = ecn;
	memset(&d->remote, 0, sizeof(d->remote));
	if (be->family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&d->remote;

		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = src->w[3];
		sin->sin_port = udp->src_port;
		d->remote_len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&d->remote;

		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, src->b, 16);
		sin6->sin6_port = udp->src_port;
		d->remote_len = sizeof(*sin6);
	}
	n = stoq_dpdk_neigh_slot(be, src);
	if ((!stoq_dpdk_addr_eq(&n->ip, src) || !n->valid ||
	     !rte_is_same_ether_addr(&n->mac, &eth->src_addr)) &&
	    !rte_is_multicast_ether_addr(&eth->src_addr)) /* no frame comes from a group */
		stoq_dpdk_neigh_learn(be, src, &eth->src_addr);
	be->st.rx_datagrams++;
	return true;
}

/* The UDP header at @l4 of an IP packet whose payload ends at @end: checked. */
static bool udp_check(struct stoq_dpdk_be *be, struct rte_mbuf *m, uint32_t l4, uint32_t end,
		      uint32_t *ulen)
{
	const struct rte_udp_hdr *udp;

	if (end < l4 + sizeof(*udp) || m->data_len < l4 + sizeof(*udp)) {
		be->st.rx_bad_udp++;
		return false;
	}
	udp = rte_pktmbuf_mtod_offset(m, const struct rte_udp_hdr *, l4);
	*ulen = rte_be_to_cpu_16(udp->dgram_len);
	if (*ulen < sizeof(*udp) || *ulen > end - l4 ||
	    (m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK) == RTE_MBUF_F_RX_L4_CKSUM_BAD) {
		be->st.rx_bad_udp++;
		return false;
	}
	if (udp->dst_port != be->udp_port) {
		be->st.rx_not_ours++;
		return false;
	}
	return true;
}

static bool ipv4_input(struct stoq_dpdk_be *be, struct rte_mbuf *m, const struct rte_ether_hdr *eth,
		       struct stoq_dgram *d)
{
	const uint32_t l3 = sizeof(*eth);
	const struct rte_ipv4_hdr *ip;
	union stoq_dpdk_addr src;
	uint32_t ihl, tot, ulen;

	/* The IP header must lie in the first segment; the payload may not. */
	if (m->data_len < l3 + sizeof(*ip)) {
		be->st.rx_bad_ip++;
		return false;
	}
	ip = (const struct rte_ipv4_hdr *)(eth + 1);
	ihl = rte_ipv4_hdr_len(ip);
	tot = rte_be_to_cpu_16(ip->total_length);
	if ((ip->version_ihl >> 4) != 4 || ihl < sizeof(*ip) || m->data_len < l3 + ihl ||
	    tot < ihl || tot > m->pkt_len - l3 || rte_raw_cksum(ip, ihl) != 0xffff) {
		be->st.rx_bad_ip++;
		return false;
	}
	if (ip->dst_addr != be->ip.w[3] || ip->next_proto_id != IPPROTO_UDP) {
		be->st.rx_not_ours++;
		return false;
	}
	if (rte_be_to_cpu_16(ip->fragment_offset) &
	    (RTE_IPV4_HDR_MF_FLAG | RTE_IPV4_HDR_OFFSET_MASK)) {
		be->st.rx_fragment++;
		return false;
	}
	if (!udp_check(be, m, l3 + ihl, l3 + tot, &ulen))
		return false;
	stoq_dpdk_addr_from4(&src, ip->src_addr);
	return deliver(be, m, eth, l3 + ihl, ulen, &src, NULL, ip->type_of_service & 3, d);
}

static bool ipv6_input(struct stoq_dpdk_be *be, struct rte_mbuf *m, const struct rte_ether_hdr *eth,
		       struct stoq_dgram *d)
{
	const uint32_t l3 = sizeof(*eth);
	const struct rte_ipv6_hdr *ip6;
	union stoq_dpdk_addr src;
	uint32_t off, end, ulen;
	uint8_t nh;

	if (m->data_len < l3 + sizeof(*ip6)) {
		be->st.rx_bad_ip++;
		return false;
	}
	ip6 = (const struct rte_ipv6_hdr *)(eth + 1);
	off = l3 + (uint32_t)sizeof(*ip6);
	end = off + rte_be_to_cpu_16(ip6->payload_len);
	/* Frames may carry Ethernet padding past the payload, never less. */
	if ((rte_be_to_cpu_32(ip6->vtc_flow) >> 28) != 6 || end > m->pkt_len ||
	    ip6->src_addr[0] == 0xff /* a multicast source */) {
		be->st.rx_bad_ip++;
		return false;
	}
	nh = ip6->proto;
	/* RFC 8200 §4.1: extension headers in order, each a multiple of 8 bytes. */
	for (unsigned int hops = 0; nh != IPPROTO_UDP && nh != IPPROTO_ICMPV6; hops++) {
		const uint8_t *ext;

		if (nh == IPPROTO_FRAGMENT) {
			be->st.rx_fragment++;
			return false;
		}
		if ((nh != IPPROTO_HOPOPTS && nh != IPPROTO_ROUTING && nh != IPPROTO_DSTOPTS) ||
		    hops == EXT6_MAX) {
			be->st.rx_not_ours++;
			return false;
		}
		if ((nh == IPPROTO_HOPOPTS && hops) || end < off + 8 || m->data_len < off + 8) {
			be->st.rx_bad_ip++;
			return false;
		}
		ext = rte_pktmbuf_mtod_offset(m, const uint8_t *, off);
		if (nh == IPPROTO_ROUTING && ext[3] != 0) {
			/* Segments left: we are a waypoint, not the destination. */
			be->st.rx_not_ours++;
			return false;
		}
		nh = ext[0];
		off += ((uint32_t)ext[1] + 1) * 8;
		if (off > end) {
			be->st.rx_bad_ip++;
			return false;
		}
	}
	if (nh == IPPROTO_ICMPV6) {
		if (off >= end || m->data_len < end) {
			/* NDP is small and whole in the first segment; this is neither. */
			be->st.rx_not_ours++;
			return false;
		}
		stoq_dpdk_nd_input(be, eth, ip6, rte_pktmbuf_mtod_offset(m, const uint8_t *, off),
				   end - off);
		return false;
	}
	if (memcmp(ip6->dst_addr, be->ip.b, 16) != 0) {
		be->st.rx_not_ours++;
		return false;
	}
	if (!udp_check(be, m, off, end, &ulen))
		return false;
	if (rte_pktmbuf_mtod_offset(m, const struct rte_udp_hdr *, off)->dgram_cksum == 0) {
		be->st.rx_bad_udp++; /* RFC 8200 §8.1: mandatory over IPv6 */
		return false;
	}
	stoq_dpdk_addr_from6(&src, ip6->src_addr);
	return deliver(be, m, eth, off, ulen, &src, ip6->dst_addr,
		       (uint8_t)((rte_be_to_cpu_32(ip6->vtc_flow) >> RTE_IPV6_HDR_TC_SHIFT) & 3),
		       d);
}

/* Frames for us: our MAC, broadcast (ARP), our IPv6 groups. */
static bool mac_is_ours(const struct stoq_dpdk_be *be, const struct rte_ether_addr *dst)
{
	if (rte_is_same_ether_addr(dst, &be->mac))
		return true;
	if (be->family == AF_INET)
		return rte_is_broadcast_ether_addr(dst);
	return rte_is_same_ether_addr(dst, &be->snm_mac) ||
	       rte_is_same_ether_addr(dst, &stoq_dpdk_all_nodes_mac);
}

/*
 * One received frame: ARP and NDP are handled here; a UDP datagram for our
 * address and port is described in @d, its bytes where they lie in @m, or
 * copied into d->data when they span segments. Returns true when @d was
 * filled.
 */
static bool frame_input(struct stoq_dpdk_be *be, struct rte_mbuf *m, struct stoq_dgram *d)
{
	const struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, const struct rte_ether_hdr *);
	uint16_t et;

	be->st.rx_frames++;
	if (m->data_len < sizeof(*eth)) {
		be->st.rx_bad_ip++;
		return false;
	}
	if (!mac_is_ours(be, &eth->dst_addr)) {
		be->st.rx_not_ours++;
		return false;
	}
	et = rte_be_to_cpu_16(eth->ether_type);
	switch (et) {
	case RTE_ETHER_TYPE_ARP:
		if (be->family == AF_INET)
			stoq_dpdk_arp_input(be, m);
		else
			be->st.rx_not_ours++;
		return false;
	case RTE_ETHER_TYPE_IPV4:
		if (be->family == AF_INET)
			return ipv4_input(be, m, eth, d);
		be->st.rx_not_ours++; /* as a socket bound to an IPv6 address */
		return false;
	case RTE_ETHER_TYPE_IPV6:
		if (be->family == AF_INET6)
			return ipv6_input(be, m, eth, d);
		be->st.rx_not_ours++;
		return false;
	default:
		be->st.rx_not_ip++;
		return false;
	}
}

static size_t dpdk_recv_burst(struct stoq_io *io, struct stoq_dgram *d, size_t max)
{
	struct stoq_dpdk_be *be = io->be;
	struct rte_mbuf *m[STOQ_DPDK_RX_BURST];
	uint16_t n;
	size_t k = 0;

	/* The caller is done with the last burst's datagrams. */
	rte_pktmbuf_free_bulk(be->held, be->n_held);
	be->n_held = 0;
	if (max > STOQ_DPDK_RX_BURST)
		max = STOQ_DPDK_RX_BURST;
	n = rte_eth_rx_burst(be->port, 0, m, (uint16_t)max);
	for (uint16_t i = 0; i < n; i++) {
		uint8_t *slot = be->scratch + (size_t)k * STOQ_RX_BUF;

		if (i + 1 < n)
			rte_prefetch0(rte_pktmbuf_mtod(m[i + 1], void *));
		d[k].data = slot;
		if (frame_input(be, m[i], &d[k])) {
			if (d[k].data != slot) {
				be->held[be->n_held++] = m[i]; /* d[k] points into it */
				m[i] = NULL;
			}
			k++;
		}
	}
	if (n)
		rte_pktmbuf_free_bulk(m, n); /* the held ones are NULL here */
	return k;
}

/*
 * The UDP checksum of a datagram from its pseudo-header's folded sum @phdr,
 * its header @udp and its payload's folded sum @payload (the payload
 * follows the 8-byte header, so its 16-bit words keep their places): as
 * rte_ipv4_udptcp_cksum() and rte_ipv6_udptcp_cksum() compute it.
 */
static uint16_t udp_cksum(uint32_t phdr, const struct rte_udp_hdr *udp, uint16_t payload)
{
	/* The header's four 16-bit words, the checksum field 0, added as
	 * they lie in memory (RFC 1071 §2(B)), as the payload was. */
	uint32_t s = phdr + udp->src_port + udp->dst_port + udp->dgram_len + payload;
	uint16_t ck;

	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	ck = (uint16_t)~((s & 0xffff) + (s >> 16));

	return ck ? ck : 0xffff; /* RFC 768: 0 would mean "no checksum" */
}

/*
 * Make @m the frame of a UDP datagram of @len bytes: Ethernet, IP and UDP
 * headers at its start and the checksums. The payload is copied from
 * @payload to just past the headers, or (@payload NULL) was written there
 * in place (dpdk_tx_get). Doing it twice does no harm: a datagram the
 * port had no room for is framed again when it is offered again. @len
 * must fit the mbuf (be->max_payload).
 */
static void frame(struct stoq_dpdk_be *be, struct rte_mbuf *m, const union stoq_dpdk_addr *to,
		  uint16_t dport, uint8_t ecn, const struct rte_ether_addr *dst,
		  const uint8_t *payload, size_t len)
{
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	struct rte_udp_hdr *udp;

	m->data_len = (uint16_t)(be->hdr_len + len);
	m->pkt_len = m->data_len;
	if (dst)
		rte_ether_addr_copy(dst, &eth->dst_addr);
	rte_ether_addr_copy(&be->mac, &eth->src_addr);
	m->l2_len = sizeof(*eth);
	if (be->family == AF_INET) {
		struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eth + 1);

		udp = (struct rte_udp_hdr *)(ip + 1);
		eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
		ip->version_ihl = RTE_IPV4_VHL_DEF;
		ip->type_of_service = ecn & 3;
		ip->total_length = rte_cpu_to_be_16((uint16_t)(sizeof(*ip) + sizeof(*udp) + len));
		ip->packet_id = rte_cpu_to_be_16(be->ip_id++);
		ip->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG);
		ip->time_to_live = 64;
		ip->next_proto_id = IPPROTO_UDP;
		ip->hdr_checksum = 0;
		ip->src_addr = be->ip.w[3];
		ip->dst_addr = to->w[3];
		udp->src_port = be->udp_port;
		udp->dst_port = dport;
		udp->dgram_len = rte_cpu_to_be_16((uint16_t)(sizeof(*udp) + len));
		udp->dgram_cksum = 0;
		if (be->tx_cksum) {
			if (payload)
				memcpy(udp + 1, payload, len);
			m->l3_len = sizeof(*ip);
			m->ol_flags |=
			    RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM | RTE_MBUF_F_TX_UDP_CKSUM;
			udp->dgram_cksum = rte_ipv4_phdr_cksum(ip, m->ol_flags);
		} else {
			uint16_t sum = payload ? stoq_dpdk_copy_sum(udp + 1, payload, len)
					       : stoq_dpdk_sum(udp + 1, len);
			/* RFC 768 pseudo-header: the addresses' 16-bit words, the
			 * protocol and the UDP length, in memory order as above
			 * (rte_ipv4_phdr_cksum() sums a copy of it on the stack). */
			uint32_t phdr = (ip->src_addr & 0xffff) + (ip->src_addr >> 16) +
					(ip->dst_addr & 0xffff) + (ip->dst_addr >> 16) +
					rte_cpu_to_be_16(IPPROTO_UDP) + udp->dgram_len;

			ip->hdr_checksum = rte_ipv4_cksum(ip);
			udp->dgram_cksum = udp_cksum(phdr, udp, sum);
		}
	} else {
		struct rte_ipv6_hdr *ip6 = (struct rte_ipv6_hdr *)(eth + 1);

		udp = (struct rte_udp_hdr *)(ip6 + 1);
		eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV6);
		ip6->vtc_flow =
		    rte_cpu_to_be_32(6u << 28 | (uint32_t)(ecn & 3) << RTE_IPV6_HDR_TC_SHIFT);
		ip6->payload_len = rte_cpu_to_be_16((uint16_t)(sizeof(*udp) + len));
		ip6->proto = IPPROTO_UDP;
		ip6->hop_limits = 64;
		memcpy(ip6->src_addr, be->ip.b, 16);
		memcpy(ip6->dst_addr, to->b, 16);
		udp->src_port = be->udp_port;
		udp->dst_port = dport;
		udp->dgram_len = ip6->payload_len;
		udp->dgram_cksum = 0;
		if (be->tx_cksum) {
			if (payload)
				memcpy(udp + 1, payload, len);
			m->l3_len = sizeof(*ip6);
			m->ol_flags |= RTE_MBUF_F_TX_IPV6 | RTE_MBUF_F_TX_UDP_CKSUM;
			udp->dgram_cksum = rte_ipv6_phdr_cksum(ip6, m->ol_flags);
		} else {
			uint16_t sum = payload ? stoq_dpdk_copy_sum(udp + 1, payload, len)
					       : stoq_dpdk_sum(udp + 1, len);

			udp->dgram_cksum = udp_cksum(rte_ipv6_phdr_cksum(ip6, 0), udp, sum);
		}
	}
}

/* Ethernet, IP and UDP headers and @len bytes of @payload in a new mbuf. */
static struct rte_mbuf *build(struct stoq_dpdk_be *be, const union stoq_dpdk_addr *to,
			      uint16_t dport, uint8_t ecn, const struct rte_ether_addr *dst,
			      const uint8_t *payload, size_t len)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(be->mp);

	if (!m)
		return NULL;
	if (be->hdr_len + len > rte_pktmbuf_tailroom(m)) {
		rte_pktmbuf_free(m);
		return NULL;
	}
	frame(be, m, to, dport, ecn, dst, payload, len);
	return m;
}

/*
 * Buffers for packets written in place: mbufs, each handed out past room
 * for the headers frame() puts in front. The spares first, then bulk from
 * the pool (the lcore's cache); a pool too low for a bulk (all or
 * nothing) gives what it has one by one.
 */
static size_t dpdk_tx_get(struct stoq_io *io, struct stoq_txbuf *b, size_t n)
{
	struct stoq_dpdk_be *be = io->be;
	struct rte_mbuf *m[STOQ_GSO_MAX];
	size_t got = 0;

	while (got < n) {
		unsigned int k = n - got < STOQ_GSO_MAX ? (unsigned int)(n - got) : STOQ_GSO_MAX;

		if (be->n_spare) {
			k = k < be->n_spare ? k : be->n_spare;
			be->n_spare -= (uint16_t)k;
			memcpy(m, be->spare + be->n_spare, k * sizeof(m[0]));
		} else if (rte_pktmbuf_alloc_bulk(be->mp, m, k) != 0) {
			unsigned int want = k;

			for (k = 0; k < want; k++) {
				m[k] = rte_pktmbuf_alloc(be->mp);
				if (!m[k])
					break;
			}
			if (k == 0)
				break;
		}
		for (unsigned int i = 0; i < k; i++)
			b[got + i] = (struct stoq_txbuf){
				.data = rte_pktmbuf_mtod(m[i], uint8_t *) + be->hdr_len,
				.room = (uint16_t)be->max_payload,
				.handle = m[i],
			};
		got += k;
	}
	be->st.tx_pool_short += n - got;
	return got;
}

/* The mbufs of @n in-place buffers back to the pool. */
static void txbufs_free(const struct stoq_txbuf *b, size_t n)
{
	struct rte_mbuf *m[STOQ_GSO_MAX];

	for (size_t done = 0; done < n;) {
		unsigned int k = n - done < STOQ_GSO_MAX ? (unsigned int)(n - done) : STOQ_GSO_MAX;

		for (unsigned int i = 0; i < k; i++)
			m[i] = b[done + i].handle;
		rte_pktmbuf_free_bulk(m, k);
		done += k;
	}
}

/* Unused: kept as spares while there is room, the rest to the pool. */
static void dpdk_tx_put(struct stoq_io *io, struct stoq_txbuf *b, size_t n)
{
	struct stoq_dpdk_be *be = io->be;

	while (n && be->n_spare < STOQ_DPDK_SPARE)
		be->spare[be->n_spare++] = b[--n].handle;
	txbufs_free(b, n);
}

/* A datagram written in place and not sent: its buffers go back to the pool. */
static void tx_drop_inplace(const struct stoq_dgram *d)
{
	txbufs_free(d->bufs, d->nbufs);
}

/* A datagram's destination as an address of our family; false if another family. */
static bool remote_of(const struct stoq_dpdk_be *be, const struct stoq_dgram *d,
		      union stoq_dpdk_addr *to, uint16_t *port)
{
	if (d->remote.ss_family != be->family)
		return false;
	if (be->family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)&d->remote;

		stoq_dpdk_addr_from4(to, sin->sin_addr.s_addr);
		*port = sin->sin_port;
	} else {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&d->remote;

		stoq_dpdk_addr_from6(to, sin6->sin6_addr.s6_addr);
		*port = sin6->sin6_port;
	}
	return true;
}

uint16_t stoq_dpdk_tx_push(struct stoq_dpdk_be *be, struct rte_mbuf **m, uint16_t n,
			   uint16_t sent)
{
	uint64_t since = 0;

	while (sent < n) {
		uint16_t s = rte_eth_tx_burst(be->port, 0, m + sent, (uint16_t)(n - sent));
		uint64_t t;

		if (s) {
			sent += s;
			since = 0;
			continue;
		}
		/* The clock only while the port refuses: a moving port never reads it. */
		t = stoq_now();
		if (!since)
			since = t;
		else if (t - since >= TX_STALL_NS)
			break;
	}
	return sent;
}

static size_t dpdk_send_burst(struct stoq_io *io, const struct stoq_dgram *d, size_t n)
{
	struct stoq_dpdk_be *be = io->be;
	struct rte_mbuf *m[STOQ_GSO_MAX];
	uint64_t now = stoq_now();
	size_t done = 0;

	for (; done < n && done < STOQ_TX_BATCH; done++) {
		size_t seg = d[done].segsize && d[done].segsize < d[done].len ? d[done].segsize
									    : d[done].len;
		/* An empty datagram is one packet, as on a socket. */
		size_t npkts = seg ? (d[done].len + seg - 1) / seg : 1;
		const struct rte_ether_addr *mac;
		struct stoq_dpdk_neigh *wait;
		union stoq_dpdk_addr to;
		uint16_t dport, k = 0, sent = 0;
		uint32_t plen[STOQ_GSO_MAX]; /* a sent mbuf may be freed at once */

		if (d[done].bufs) {
			/* Written in place, one packet per buffer, each fitting. */
			npkts = d[done].nbufs;
			seg = 0;
		}
		if (!remote_of(be, &d[done], &to, &dport) || seg > be->max_payload ||
		    npkts > STOQ_GSO_MAX) {
			be->st.tx_dropped += d[done].bufs ? npkts : 1;
			tx_drop_inplace(&d[done]);
			continue;
		}
		mac = stoq_dpdk_next_hop(be, &to, now, &wait);
		if (d[done].bufs) {
			/* Only the headers and the checksums: no copy. */
			for (; k < npkts; k++) {
				m[k] = d[done].bufs[k].handle;
				frame(be, m[k], &to, dport, d[done].ecn, mac, NULL, d[done].bufs[k].len);
				plen[k] = m[k]->pkt_len;
			}
		} else {
			for (size_t off = 0; k < npkts && k < STOQ_GSO_MAX; off += seg, k++) {
				size_t l = d[done].len - off < seg ? d[done].len - off : seg;

				m[k] = build(be, &to, dport, d[done].ecn, mac, d[done].data + off, l);
				if (!m[k])
					break;
				plen[k] = m[k]->pkt_len;
			}
			if (k < npkts)
				be->st.tx_dropped += npkts - k; /* pool ran dry */
		}
		if (!mac) {
			/* Waiting for the neighbour: queue what fits; the rest is lost. */
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
		if (sent == 0) {
			if (!be->tx_stall_since)
				be->tx_stall_since = now;
			if (now - be->tx_stall_since < TX_STALL_NS) {
				/* The queue is full: the caller offers this datagram
				 * again, with its buffers if they are its own. */
				if (!d[done].bufs)
					rte_pktmbuf_free_bulk(m, k);
				return done;
			}
		} else {
			/* A train partly sent: push the rest while the port moves. */
			sent = stoq_dpdk_tx_push(be, m, k, sent);
		}
		be->tx_stall_since = 0;
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

void stoq_io_dpdk_quiesce(struct stoq_io *io)
{
	struct stoq_dpdk_be *be = io->be;
	struct rte_mbuf *m[STOQ_DPDK_RX_BURST];
	uint16_t n;

	if (!be || stoq_io_ops_of(io) != &stoq_io_dpdk_ops)
		return;
	rte_pktmbuf_free_bulk(be->held, be->n_held);
	be->n_held = 0;
	rte_pktmbuf_free_bulk(be->spare, be->n_spare);
	be->n_spare = 0;
	while ((n = rte_eth_rx_burst(be->port, 0, m, STOQ_DPDK_RX_BURST)) > 0)
		rte_pktmbuf_free_bulk(m, n);
}

static void dpdk_close(struct stoq_io *io)
{
	struct stoq_dpdk_be *be = io->be;

	if (!be)
		return;
	for (size_t i = 0; i < NEIGH_SLOTS; i++)
		rte_pktmbuf_free_bulk(be->neigh[i].pend, be->neigh[i].n_pend);
	stoq_io_dpdk_quiesce(io);
	free(be->scratch);
	/* Close, not only stop: the queues give their mbufs back before the pool goes. */
	rte_eth_dev_stop(be->port);
	rte_eth_dev_close(be->port);
	rte_mempool_free(be->mp);
	free(be);
	io->be = NULL;
}

/*
 * IPv6 neighbours find us through multicast: open the port's filter to the
 * all-nodes group and our solicited-node group, or to all multicast when
 * it takes no list. A PMD with neither (ring, null, pcap, af_packet on a
 * veth) has no filter and delivers every frame; that is said once.
 */
static int port_multicast(struct stoq_dpdk_be *be)
{
	struct rte_ether_addr groups[2] = {stoq_dpdk_all_nodes_mac, be->snm_mac};
	int rc;

	rc = rte_eth_dev_set_mc_addr_list(be->port, groups, 2);
	if (rc == -ENOTSUP)
		rc = rte_eth_allmulticast_enable(be->port);
	if (rc == -ENOTSUP) {
		HM_INFO(STOQ_LOG,
			"dpdk back end: port %u has no multicast filter to open; NDP relies on "
			"it delivering every frame",
			be->port);
		return 0;
	}
	if (rc < 0)
		HM_ERR(STOQ_LOG, "dpdk back end: port %u: cannot receive the NDP groups: %s",
		       be->port, strerror(-rc));
	return rc;
}

/* The largest MTU the back end takes: a frame stays one mbuf of < 64 KiB. */
#define DPDK_MTU_MAX 16000

/* @mac: the address the back end owns instead of the port's, or NULL. */
static int port_setup(struct stoq_dpdk_be *be, uint16_t want_mtu, const uint8_t *mac)
{
	struct rte_eth_conf conf = { 0 };
	struct rte_eth_dev_info info;
	struct rte_eth_txconf txc;
	uint16_t nrx = DPDK_DESC, ntx = DPDK_DESC, mtu;
	uint32_t room = RTE_MBUF_DEFAULT_DATAROOM, min_mtu, max_mtu;
	uint64_t cksum_capa = RTE_ETH_TX_OFFLOAD_UDP_CKSUM;
	char name[RTE_MEMPOOL_NAMESIZE];
	const char *what = "device info";
	int rc, socket = rte_eth_dev_socket_id(be->port);

	rc = rte_eth_dev_info_get(be->port, &info);
	if (rc < 0)
		goto fail;
	if (socket < 0)
		socket = (int)rte_socket_id();
	/* RFC 9000 §14: the path must carry 1200-byte UDP payloads. The top is
	 * what ethdev will check at configure. */
	hm_eth_mtu_range(&info, &min_mtu, &max_mtu);
	min_mtu = RTE_MAX(min_mtu, 1200u + (uint32_t)(be->hdr_len - sizeof(struct rte_ether_hdr)));
	max_mtu = RTE_MIN(max_mtu, (uint32_t)DPDK_MTU_MAX);
	if (want_mtu && (want_mtu < min_mtu || want_mtu > max_mtu)) {
		HM_ERR(STOQ_LOG, "dpdk back end: port %u: MTU %u is outside %u..%u", be->port,
		       want_mtu, min_mtu, max_mtu);
		return -EINVAL;
	}
	/* Jumbo frames: each mbuf holds a whole frame (and a VLAN tag). */
	if (want_mtu && (uint32_t)want_mtu + RTE_ETHER_HDR_LEN + RTE_VLAN_HLEN > room)
		room = (uint32_t)want_mtu + RTE_ETHER_HDR_LEN + RTE_VLAN_HLEN;
	conf.rxmode.mtu = want_mtu;
	snprintf(name, sizeof(name), "stoq_mp_%u", be->port);
	be->mp = rte_pktmbuf_pool_create(name, DPDK_MBUFS, DPDK_MBUF_CACHE, 0,
					 (uint16_t)(RTE_PKTMBUF_HEADROOM + room), socket);
	if (!be->mp) {
		rc = -rte_errno;
		what = "mbuf pool";
		goto fail;
	}
	if (be->family == AF_INET)
		cksum_capa |= RTE_ETH_TX_OFFLOAD_IPV4_CKSUM; /* IPv6 has no header checksum */
	be->tx_cksum = (info.tx_offload_capa & cksum_capa) == cksum_capa;
	if (be->tx_cksum)
		conf.txmode.offloads |= cksum_capa;
	if (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_UDP_CKSUM)
		conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_UDP_CKSUM;
	what = "configure";
	rc = rte_eth_dev_configure(be->port, 1, 1, &conf);
	if (rc < 0)
		goto fail;
	what = "descriptors";
	rc = rte_eth_dev_adjust_nb_rx_tx_desc(be->port, &nrx, &ntx);
	if (rc < 0)
		goto fail;
	what = "RX queue";
	rc = rte_eth_rx_queue_setup(be->port, 0, nrx, (unsigned int)socket, NULL, be->mp);
	if (rc < 0)
		goto fail;
	txc = info.default_txconf;
	txc.offloads = conf.txmode.offloads;
	what = "TX queue";
	rc = rte_eth_tx_queue_setup(be->port, 0, ntx, (unsigned int)socket, &txc);
	if (rc < 0)
		goto fail;
	what = "MAC address";
	rc = rte_eth_macaddr_get(be->port, &be->mac);
	if (rc < 0)
		goto fail;
	if (mac)
		memcpy(be->mac.addr_bytes, mac, RTE_ETHER_ADDR_LEN);
	what = "MTU";
	rc = rte_eth_dev_get_mtu(be->port, &mtu);
	if (rc < 0)
		goto fail;
	/* A frame is one mbuf (build() appends to one) within the port's MTU. */
	be->max_payload = RTE_MIN((size_t)mtu - (be->hdr_len - sizeof(struct rte_ether_hdr)),
				  (size_t)rte_pktmbuf_data_room_size(be->mp) -
				      RTE_PKTMBUF_HEADROOM - be->hdr_len);
	what = "start";
	rc = rte_eth_dev_start(be->port);
	if (rc < 0)
		goto fail;
	if (be->family != AF_INET6)
		return 0;
	rc = port_multicast(be); /* it says why */
	if (rc < 0)
		rte_eth_dev_stop(be->port);
	return rc;

fail:
	HM_ERR(STOQ_LOG, "dpdk back end: port %u: %s: %s", be->port, what, strerror(-rc));
	return rc;
}

/*
 * The address the back end will own, from @addr: a unicast IPv4 or IPv6
 * address and its on-link prefix (@prefix 0: /24 or /64). Each refusal is
 * logged with what is wrong.
 */
static int own_address(struct stoq_dpdk_be *be, const struct sockaddr *addr, socklen_t len,
		       uint8_t prefix)
{
	if (addr->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)addr;
		uint32_t h = rte_be_to_cpu_32(sin->sin_addr.s_addr);

		if (h == 0 || h >= 0xe0000000u) {
			HM_ERR(STOQ_LOG, "dpdk back end: needs the port's own unicast IPv4 "
					 "address, not 0.0.0.0, multicast or broadcast");
			return -EINVAL;
		}
		prefix = prefix ? prefix : 24;
		if (prefix > 32) {
			HM_ERR(STOQ_LOG, "dpdk back end: prefix length %u is above 32 (IPv4)",
			       prefix);
			return -EINVAL;
		}
		be->family = AF_INET;
		be->hdr_len = HDR4_LEN;
		stoq_dpdk_addr_from4(&be->ip, sin->sin_addr.s_addr);
		be->prefix_bits = (uint8_t)(96 + prefix);
		be->udp_port = sin->sin_port;
		return 0;
	}
	if (addr->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)addr;
		uint8_t group[16];

		if (IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr) ||
		    IN6_IS_ADDR_MULTICAST(&sin6->sin6_addr) ||
		    IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr) ||
		    IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr)) {
			HM_ERR(STOQ_LOG, "dpdk back end: needs the port's own unicast IPv6 "
					 "address, not ::, ::1, multicast or IPv4-mapped");
			return -EINVAL;
		}
		prefix = prefix ? prefix : 64;
		if (prefix > 128) {
			HM_ERR(STOQ_LOG, "dpdk back end: prefix length %u is above 128 (IPv6)",
			       prefix);
			return -EINVAL;
		}
		be->family = AF_INET6;
		be->hdr_len = HDR6_LEN;
		stoq_dpdk_addr_from6(&be->ip, sin6->sin6_addr.s6_addr);
		be->prefix_bits = prefix;
		be->udp_port = sin6->sin6_port;
		stoq_ip6_solicited_node(be->ip.b, group);
		stoq_dpdk_multicast_mac(group, &be->snm_mac);
		return 0;
	}
	HM_ERR(STOQ_LOG, "dpdk back end: the address is neither IPv4 nor IPv6 (family %u)",
	       addr->sa_family);
	return -EAFNOSUPPORT;
}

/* The configured next hop: of our family, unicast, on-link. */
static int own_gateway(struct stoq_dpdk_be *be, const struct sockaddr_storage *gw)
{
	const char *fam = be->family == AF_INET ? "IPv4" : "IPv6";

	if (gw->ss_family == AF_UNSPEC)
		return 0;
	if (gw->ss_family != be->family) {
		HM_ERR(STOQ_LOG, "dpdk back end: the gateway is not %s like the address", fam);
		return -EINVAL;
	}
	if (be->family == AF_INET) {
		stoq_dpdk_addr_from4(&be->gateway,
				     ((const struct sockaddr_in *)gw)->sin_addr.s_addr);
	} else {
		stoq_dpdk_addr_from6(&be->gateway,
				     ((const struct sockaddr_in6 *)gw)->sin6_addr.s6_addr);
		/* Routers speak from link-local addresses (RFC 4861 §4.2). */
		if (stoq_dpdk_addr_is_link_local(&be->gateway))
			return 0;
	}
	if (!stoq_dpdk_same_prefix(&be->gateway, &be->ip, be->prefix_bits) ||
	    stoq_dpdk_addr_eq(&be->gateway, &be->ip) || be->gateway.b[0] == 0xff) {
		HM_ERR(STOQ_LOG,
		       "dpdk back end: the gateway is not another unicast address inside the "
		       "address's /%u",
		       be->family == AF_INET ? be->prefix_bits - 96 : be->prefix_bits);
		return -EINVAL;
	}
	return 0;
}

static int dpdk_open(struct stoq_io *io, const struct sockaddr *addr, socklen_t len,
		     const void *params)
{
	const struct stoq_io_dpdk_params *p = params;
	struct stoq_dpdk_be *be;
	int rc;

	if (!p) {
		HM_ERR(STOQ_LOG, "dpdk back end: no parameters (port id)");
		return -EINVAL;
	}
	be = calloc(1, sizeof(*be));
	if (!be)
		return -ENOMEM;
	be->scratch = malloc((size_t)STOQ_DPDK_RX_BURST * STOQ_RX_BUF);
	if (!be->scratch) {
		free(be);
		return -ENOMEM;
	}
	rc = own_address(be, addr, len, p->prefix_len);
	if (rc < 0)
		goto err_free;
	rc = own_gateway(be, &p->gateway);
	if (rc < 0)
		goto err_free;
	if (!rte_eth_dev_is_valid_port(p->port_id)) {
		HM_ERR(STOQ_LOG, "dpdk back end: port %u does not exist (%u ports)", p->port_id,
		       rte_eth_dev_count_avail());
		rc = -ENODEV;
		goto err_free;
	}
	be->port = p->port_id;
	/* Port 0 asks for an ephemeral port, as bind(2) does (RFC 6335 range). */
	if (!be->udp_port)
		be->udp_port = rte_cpu_to_be_16((uint16_t)(49152 + rte_rand() % 16384));
	be->ip_id = (uint16_t)rte_rand();
	rc = port_setup(be, p->mtu, p->mac_set ? p->mac : NULL); /* it says why it failed */
	if (rc < 0) {
		rte_mempool_free(be->mp);
		goto err_free;
	}
	memset(&io->local, 0, sizeof(io->local));
	if (be->family == AF_INET) {
		struct sockaddr_in *local = (struct sockaddr_in *)&io->local;

		local->sin_family = AF_INET;
		local->sin_addr.s_addr = be->ip.w[3];
		local->sin_port = be->udp_port;
		io->local_len = sizeof(*local);
	} else {
		struct sockaddr_in6 *local = (struct sockaddr_in6 *)&io->local;

		local->sin6_family = AF_INET6;
		memcpy(&local->sin6_addr, be->ip.b, 16);
		local->sin6_port = be->udp_port;
		io->local_len = sizeof(*local);
	}
	io->max_payload = be->max_payload;
	io->gso = true; /* trains are cut here */
	io->gro = false;
	io->be = be;
	return 0;

err_free:
	free(be->scratch);
	free(be);
	return rc;
}

void stoq_io_dpdk_get_stats(const struct stoq_io *io, struct stoq_io_dpdk_stats *out)
{
	const struct stoq_dpdk_be *be = io->be;

	*out = be->st;
}

const struct stoq_io_ops stoq_io_dpdk_ops = {
	.name = "dpdk",
	.open = dpdk_open,
	.recv_burst = dpdk_recv_burst,
	.send_burst = dpdk_send_burst,
	.tx_get = dpdk_tx_get,
	.tx_put = dpdk_tx_put,
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
