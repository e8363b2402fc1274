/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * stoq_dpdk_neigh.c — the DPDK back end's neighbours: who is at which MAC.
 *
 * One direct-mapped table for both families (IPv4 kept IPv4-mapped). IPv4
 * neighbours are found with ARP (RFC 826), IPv6 ones with Neighbor
 * Solicitation and Advertisement (RFC 4861 §7); there is no router
 * discovery: the gateway is configured. A packet whose next hop is being
 * resolved waits in a short queue on its slot, so a client's first Initial
 * does not wait for a PTO. The back end answers for its own address in
 * either protocol and learns whoever asks, as both RFCs allow.
 */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include <rte_arp.h>
#include <rte_ethdev.h>
#include <rte_ip.h>

#include "stoq_dpdk_priv.h"

/* RFC 4861 §4.3-4.4, §4.6.1: the NDP messages and options we speak. */
#define ND_SOLICIT	  135
#define ND_ADVERT	  136
#define ND_OPT_SRC_LL	  1
#define ND_OPT_TGT_LL	  2
#define ND_MSG_LEN	  24 /* type, code, checksum, flags/reserved, target */
#define ND_FLAG_SOLICITED 0x40
#define ND_FLAG_OVERRIDE  0x20

const struct rte_ether_addr stoq_dpdk_all_nodes_mac = {{0x33, 0x33, 0, 0, 0, 1}};
static const uint8_t all_nodes_ip[16] = {0xff, 2, [15] = 1};

void stoq_ip6_solicited_node(const uint8_t ip6[16], uint8_t out[16])
{
	static const uint8_t pfx[13] = {0xff, 2, [11] = 1, [12] = 0xff};

	memcpy(out, pfx, sizeof(pfx));
	memcpy(out + 13, ip6 + 13, 3);
}

void stoq_dpdk_multicast_mac(const uint8_t ip6[16], struct rte_ether_addr *mac)
{
	mac->addr_bytes[0] = 0x33;
	mac->addr_bytes[1] = 0x33;
	memcpy(&mac->addr_bytes[2], ip6 + 12, 4);
}

uint16_t stoq_dpdk_sum6(const uint8_t src[16], const uint8_t dst[16], uint32_t ulen, uint8_t proto,
			const void *l4, size_t len)
{
	const rte_be32_t ph[2] = {rte_cpu_to_be_32(ulen), rte_cpu_to_be_32(proto)};
	uint32_t s = (uint32_t)rte_raw_cksum(src, 16) + rte_raw_cksum(dst, 16) +
		     rte_raw_cksum(ph, sizeof(ph)) + stoq_dpdk_sum(l4, len);

	s = (s & 0xffff) + (s >> 16);
	return (uint16_t)((s & 0xffff) + (s >> 16));
}

struct stoq_dpdk_neigh *stoq_dpdk_neigh_slot(struct stoq_dpdk_be *be,
					     const union stoq_dpdk_addr *ip)
{
	uint32_t h = rte_be_to_cpu_32(ip->w[0] ^ ip->w[1] ^ ip->w[2] ^ ip->w[3]);

	return &be->neigh[(h ^ (h >> 8) ^ (h >> 16)) % NEIGH_SLOTS];
}

/* Claim @ip's slot; a different address there is evicted with its queue. */
static struct stoq_dpdk_neigh *neigh_claim(struct stoq_dpdk_be *be, const union stoq_dpdk_addr *ip)
{
	struct stoq_dpdk_neigh *n = stoq_dpdk_neigh_slot(be, ip);

	if (!stoq_dpdk_addr_eq(&n->ip, ip)) {
		be->st.tx_dropped += n->n_pend;
		rte_pktmbuf_free_bulk(n->pend, n->n_pend);
		memset(n, 0, sizeof(*n));
		n->ip = *ip;
	}
	return n;
}

/* Send @n frames now (ARP, NDP, packets that waited); returns how many left. */
static uint16_t tx_frames(struct stoq_dpdk_be *be, struct rte_mbuf **m, uint16_t n)
{
	uint16_t sent = stoq_dpdk_tx_push(be, m, n, 0);

	if (sent < n) {
		be->st.tx_dropped += n - sent;
		rte_pktmbuf_free_bulk(m + sent, n - sent);
	}
	return sent;
}

/* RFC 826: one ARP packet; @tha NULL for a request (broadcast). */
static void arp_send(struct stoq_dpdk_be *be, uint16_t op, uint32_t tip,
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
	arp->arp_data.arp_sip = be->ip.w[3];
	if (tha)
		rte_ether_addr_copy(tha, &arp->arp_data.arp_tha);
	else
		memset(&arp->arp_data.arp_tha, 0, sizeof(arp->arp_data.arp_tha));
	arp->arp_data.arp_tip = tip;
	if (op == RTE_ARP_OP_REQUEST)
		be->st.arp_requests_sent++;
	tx_frames(be, &m, 1);
}

/*
 * RFC 4861 §4.3/§4.4: one Neighbor Solicitation or Advertisement from our
 * address to @dst (@dmac), about @target, carrying our MAC as the source
 * or target link-layer option. Hop limit 255 proves it never left the link.
 */
static void nd_send(struct stoq_dpdk_be *be, uint8_t type, uint8_t flags, const uint8_t dst[16],
		    const struct rte_ether_addr *dmac, const union stoq_dpdk_addr *target)
{
	const uint16_t len = ND_MSG_LEN + 8;
	struct rte_mbuf *m = rte_pktmbuf_alloc(be->mp);
	struct rte_ether_hdr *eth;
	struct rte_ipv6_hdr *ip6;
	uint8_t *nd;

	if (!m) {
		be->st.tx_dropped++;
		return;
	}
	eth = (struct rte_ether_hdr *)rte_pktmbuf_append(m, sizeof(*eth) + sizeof(*ip6) + len);
	ip6 = (struct rte_ipv6_hdr *)(eth + 1);
	nd = (uint8_t *)(ip6 + 1);
	rte_ether_addr_copy(dmac, &eth->dst_addr);
	rte_ether_addr_copy(&be->mac, &eth->src_addr);
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV6);
	ip6->vtc_flow = rte_cpu_to_be_32(6u << 28);
	ip6->payload_len = rte_cpu_to_be_16(len);
	ip6->proto = IPPROTO_ICMPV6;
	ip6->hop_limits = 255;
	memcpy(ip6->src_addr, be->ip.b, 16);
	memcpy(ip6->dst_addr, dst, 16);
	memset(nd, 0, ND_MSG_LEN);
	nd[0] = type;
	nd[4] = flags;
	memcpy(nd + 8, target->b, 16);
	nd[ND_MSG_LEN] = type == ND_SOLICIT ? ND_OPT_SRC_LL : ND_OPT_TGT_LL;
	nd[ND_MSG_LEN + 1] = 1; /* in units of 8 bytes */
	memcpy(nd + ND_MSG_LEN + 2, &be->mac, RTE_ETHER_ADDR_LEN);
	{
		uint16_t ck = (uint16_t)~stoq_dpdk_sum6(ip6->src_addr, ip6->dst_addr, len,
							IPPROTO_ICMPV6, nd, len);

		memcpy(nd + 2, &ck, 2); /* the sum is in network order already */
	}
	if (type == ND_SOLICIT)
		be->st.nd_solicits_sent++;
	tx_frames(be, &m, 1);
}

/* Ask who has @hop: ARP broadcast, or a Solicitation to its group. */
static void resolve_send(struct stoq_dpdk_be *be, const union stoq_dpdk_addr *hop)
{
	uint8_t group[16];
	struct rte_ether_addr gmac;

	if (be->family == AF_INET) {
		arp_send(be, RTE_ARP_OP_REQUEST, hop->w[3], NULL);
		return;
	}
	stoq_ip6_solicited_node(hop->b, group);
	stoq_dpdk_multicast_mac(group, &gmac);
	nd_send(be, ND_SOLICIT, 0, group, &gmac, hop);
}

/* @n now has a MAC: send what waited for it. */
static void neigh_flush(struct stoq_dpdk_be *be, struct stoq_dpdk_neigh *n)
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

void stoq_dpdk_neigh_learn(struct stoq_dpdk_be *be, const union stoq_dpdk_addr *ip,
			   const struct rte_ether_addr *mac)
{
	struct stoq_dpdk_neigh *n = neigh_claim(be, ip);

	rte_ether_addr_copy(mac, &n->mac);
	n->valid = true;
	n->tries = 0;
	neigh_flush(be, n);
}

void stoq_dpdk_arp_input(struct stoq_dpdk_be *be, struct rte_mbuf *m)
{
	const struct rte_arp_hdr *arp;
	union stoq_dpdk_addr sip;

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
	if (arp->arp_data.arp_tip != be->ip.w[3]) {
		be->st.rx_not_ours++;
		return;
	}
	stoq_dpdk_addr_from4(&sip, arp->arp_data.arp_sip);
	/* RFC 826 "merge": whoever asks us is someone we will answer. */
	if (arp->arp_data.arp_sip && !rte_is_multicast_ether_addr(&arp->arp_data.arp_sha))
		stoq_dpdk_neigh_learn(be, &sip, &arp->arp_data.arp_sha);
	if (arp->arp_opcode == rte_cpu_to_be_16(RTE_ARP_OP_REQUEST)) {
		be->st.arp_requests_answered++;
		arp_send(be, RTE_ARP_OP_REPLY, arp->arp_data.arp_sip, &arp->arp_data.arp_sha);
	} else if (arp->arp_opcode == rte_cpu_to_be_16(RTE_ARP_OP_REPLY)) {
		be->st.arp_replies++;
	}
}

/*
 * The link-layer address option @type of an NDP message's options
 * [@p, @end): *@mac set to it (NULL when absent). Returns false when an
 * option has length zero or runs past the end (RFC 4861 §7.1.1).
 */
static bool nd_option(const uint8_t *p, const uint8_t *end, uint8_t type,
		      const struct rte_ether_addr **mac)
{
	*mac = NULL;
	while (p < end) {
		size_t olen;

		if (end - p < 2 || p[1] == 0)
			return false;
		olen = (size_t)p[1] * 8;
		if (olen > (size_t)(end - p))
			return false;
		if (p[0] == type && olen >= 2 + RTE_ETHER_ADDR_LEN)
			*mac = (const struct rte_ether_addr *)(p + 2);
		p += olen;
	}
	return true;
}

/*
 * RFC 4861 §7.1-7.2: a Neighbor Solicitation for our address is answered
 * (and teaches us the asker); an Advertisement gives the MAC of a
 * neighbour we asked for. @nd is the ICMPv6 message, @len bytes, already
 * known to lie in the first segment. Other ICMPv6 is not ours.
 */
void stoq_dpdk_nd_input(struct stoq_dpdk_be *be, const struct rte_ether_hdr *eth,
			const struct rte_ipv6_hdr *ip6, const uint8_t *nd, uint32_t len)
{
	const struct rte_ether_addr *ll;
	union stoq_dpdk_addr src, target;
	uint8_t group[16];
	bool src_unspec;

	if (nd[0] != ND_SOLICIT && nd[0] != ND_ADVERT) {
		be->st.rx_not_ours++;
		return;
	}
	/* (len first: the bytes past a short message are not the frame's.) */
	if (len < ND_MSG_LEN || ip6->hop_limits != 255 || nd[1] != 0 ||
	    stoq_dpdk_sum6(ip6->src_addr, ip6->dst_addr, len, IPPROTO_ICMPV6, nd, len) != 0xffff ||
	    nd[8] == 0xff /* the target is a multicast address */) {
		be->st.rx_bad_nd++;
		return;
	}
	stoq_dpdk_addr_from6(&src, ip6->src_addr);
	stoq_dpdk_addr_from6(&target, nd + 8);
	src_unspec = stoq_dpdk_addr_is_zero(&src);
	if (nd[0] == ND_SOLICIT) {
		if (!nd_option(nd + ND_MSG_LEN, nd + len, ND_OPT_SRC_LL, &ll)) {
			be->st.rx_bad_nd++;
			return;
		}
		stoq_ip6_solicited_node(target.b, group);
		/* Duplicate address detection asks from :: to the group, no option. */
		if (src_unspec && (ll || memcmp(ip6->dst_addr, group, 16) != 0)) {
			be->st.rx_bad_nd++;
			return;
		}
		if (!stoq_dpdk_addr_eq(&target, &be->ip)) {
			be->st.rx_not_ours++;
			return;
		}
		be->st.nd_solicits_answered++;
		if (src_unspec) {
			/* §7.2.4: someone probes for our address: defend it to all nodes. */
			nd_send(be, ND_ADVERT, ND_FLAG_OVERRIDE, all_nodes_ip,
				&stoq_dpdk_all_nodes_mac, &be->ip);
			return;
		}
		if (!ll)
			ll = &eth->src_addr; /* a unicast probe may leave the option out */
		if (!rte_is_multicast_ether_addr(ll))
			stoq_dpdk_neigh_learn(be, &src, ll);
		nd_send(be, ND_ADVERT, ND_FLAG_SOLICITED | ND_FLAG_OVERRIDE, ip6->src_addr, ll,
			&be->ip);
		return;
	}
	/* §7.1.2: an Advertisement to a group is never "solicited". */
	if (((ip6->dst_addr[0] == 0xff) && (nd[4] & ND_FLAG_SOLICITED)) ||
	    !nd_option(nd + ND_MSG_LEN, nd + len, ND_OPT_TGT_LL, &ll)) {
		be->st.rx_bad_nd++;
		return;
	}
	be->st.nd_adverts++;
	/* §7.2.5: only a neighbour we know or asked for is updated. */
	if (ll && !rte_is_multicast_ether_addr(ll) &&
	    stoq_dpdk_addr_eq(&stoq_dpdk_neigh_slot(be, &target)->ip, &target))
		stoq_dpdk_neigh_learn(be, &target, ll);
}

/* See stoq_dpdk_priv.h. */
const struct rte_ether_addr *stoq_dpdk_next_hop(struct stoq_dpdk_be *be,
						const union stoq_dpdk_addr *dst, uint64_t now,
						struct stoq_dpdk_neigh **wait)
{
	const union stoq_dpdk_addr *hop = dst;
	struct stoq_dpdk_neigh *n;

	*wait = NULL;
	if (!stoq_dpdk_same_prefix(dst, &be->ip, be->prefix_bits) &&
	    !(be->family == AF_INET6 && stoq_dpdk_addr_is_link_local(dst))) {
		n = stoq_dpdk_neigh_slot(be, dst); /* learnt from its packets through the gateway */
		if (stoq_dpdk_addr_eq(&n->ip, dst) && n->valid)
			return &n->mac;
		if (stoq_dpdk_addr_is_zero(&be->gateway))
			return NULL;
		hop = &be->gateway;
	}
	n = stoq_dpdk_neigh_slot(be, hop);
	if (stoq_dpdk_addr_eq(&n->ip, hop) && n->valid)
		return &n->mac;
	n = neigh_claim(be, hop);
	if (now - n->asked_at >= RESOLVE_RETRY_NS || n->asked_at == 0) {
		if (n->tries >= RESOLVE_GIVE_UP) {
			/* Nobody answers: what waited is lost (QUIC retransmits). */
			be->st.tx_dropped += n->n_pend;
			rte_pktmbuf_free_bulk(n->pend, n->n_pend);
			n->n_pend = 0;
			n->tries = 0;
		}
		n->asked_at = now;
		n->tries++;
		resolve_send(be, hop);
	}
	if (n->n_pend < NEIGH_PEND)
		*wait = n;
	return NULL;
}
