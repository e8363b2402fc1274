/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * stoq_dpdk_priv.h — the DPDK back end's state, shared by its two files:
 * stoq_io_dpdk.c (frames in and out, the port) and stoq_dpdk_neigh.c
 * (neighbours: the table, ARP and NDP). Not part of the API.
 *
 * Threading: a back end belongs to the one thread that owns its io.
 */
#ifndef STOQ_DPDK_PRIV_H
#define STOQ_DPDK_PRIV_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>

#include "stoq.h"

#define NEIGH_SLOTS	 256	      /* direct-mapped by next-hop address */
#define NEIGH_PEND	 16	      /* packets waiting for one neighbour's MAC */
#define RESOLVE_RETRY_NS 200000000ull /* 200 ms between requests for one next hop */
#define RESOLVE_GIVE_UP	 5	      /* requests before the waiting packets are dropped */
/*
 * A port that has taken nothing for this long has stalled, and what it
 * holds back is dropped (QUIC sends it again). A time, not a count of
 * tx_burst calls: counted, a faster core gave up sooner, and 100,000 calls
 * (1-3 ms here) were shorter than the time slice for which a descheduled
 * lcore draining the ring can stay away.
 */
#define TX_STALL_NS	 20000000ull /* 20 ms */
/*
 * An address of either family. IPv4 is kept IPv4-mapped (::ffff:a.b.c.d,
 * RFC 4291 §2.5.5.2) so one neighbour table and one prefix test serve both.
 */
union stoq_dpdk_addr {
	uint8_t b[16];
	uint32_t w[4]; /* w[3]: the IPv4 address, network order */
	uint64_t q[2];
};

struct stoq_dpdk_neigh {
	union stoq_dpdk_addr ip; /* all zero: free */
	bool valid;
	struct rte_ether_addr mac;
	uint64_t asked_at; /* last ARP request or Neighbor Solicitation, ns */
	uint8_t tries;
	uint8_t n_pend;
	struct rte_mbuf *pend[NEIGH_PEND];
};

/* Frames taken from the port per receive burst. */
#define STOQ_DPDK_RX_BURST 32
/* In-place TX buffers kept back (tx_put): a train's worth. */
#define STOQ_DPDK_SPARE 64

struct stoq_dpdk_be {
	uint16_t port;
	int family;	  /* AF_INET or AF_INET6: the address it owns */
	uint16_t hdr_len; /* Ethernet + IP + UDP of that family */
	size_t max_payload; /* UDP payload of one frame: port MTU, one mbuf */
	struct rte_mempool *mp;
	struct rte_ether_addr mac;
	struct rte_ether_addr snm_mac;	  /* IPv6: our solicited-node group's MAC */
	union stoq_dpdk_addr ip, gateway; /* gateway all zero: none */
	uint8_t prefix_bits;		  /* on-link prefix over the 128-bit form */
	uint16_t udp_port;		  /* network order */
	uint16_t ip_id;
	bool tx_cksum; /* the port computes the IP (v4) and UDP checksums */
	uint64_t tx_stall_since; /* stoq_now() of the first send the port refused; 0: moving */
	/*
	 * Received datagrams are handed out in place, in their mbufs: these
	 * are held until the next receive burst (or close). A datagram whose
	 * bytes span segments is copied into its slot of @scratch instead
	 * (STOQ_DPDK_RX_BURST slots of STOQ_RX_BUF bytes).
	 */
	struct rte_mbuf *held[STOQ_DPDK_RX_BURST];
	uint16_t n_held;
	/*
	 * In-place buffers given back unused (tx_put), handed out again
	 * first: an endpoint asks for a train's worth before it knows how
	 * many packets the train takes, and most of a send ends with some
	 * left. Through the pool each went back and was reset again, ~1.5 %
	 * of the server's time. They are untouched but for payload bytes.
	 */
	struct rte_mbuf *spare[STOQ_DPDK_SPARE];
	uint16_t n_spare;
	uint8_t *scratch;
	struct stoq_dpdk_neigh neigh[NEIGH_SLOTS];
	struct stoq_io_dpdk_stats st;
};

extern const struct rte_ether_addr stoq_dpdk_all_nodes_mac; /* 33:33:00:00:00:01 */

static inline bool stoq_dpdk_addr_eq(const union stoq_dpdk_addr *a, const union stoq_dpdk_addr *b)
{
	return a->q[0] == b->q[0] && a->q[1] == b->q[1];
}

static inline bool stoq_dpdk_addr_is_zero(const union stoq_dpdk_addr *a)
{
	return (a->q[0] | a->q[1]) == 0;
}

/* fe80::/10 (RFC 4291 §2.5.6): on the link whatever the prefix. */
static inline bool stoq_dpdk_addr_is_link_local(const union stoq_dpdk_addr *a)
{
	return a->b[0] == 0xfe && (a->b[1] & 0xc0) == 0x80;
}

static inline void stoq_dpdk_addr_from4(union stoq_dpdk_addr *a, uint32_t ip)
{
	a->q[0] = 0;
	a->w[2] = rte_cpu_to_be_32(0xffff);
	a->w[3] = ip;
}

static inline void stoq_dpdk_addr_from6(union stoq_dpdk_addr *a, const uint8_t *ip6)
{
	memcpy(a->b, ip6, 16);
}

/* Whether @a and @b share their first @bits bits. */
static inline bool stoq_dpdk_same_prefix(const union stoq_dpdk_addr *a,
					 const union stoq_dpdk_addr *b, unsigned int bits)
{
	unsigned int whole = bits / 8, rest = bits % 8;

	if (memcmp(a->b, b->b, whole) != 0)
		return false;
	return rest == 0 || ((a->b[whole] ^ b->b[whole]) & (0xff00 >> rest) & 0xff) == 0;
}

/* RFC 2464 §7: an IPv6 multicast group's MAC is 33:33 and its low 32 bits. */
void stoq_dpdk_multicast_mac(const uint8_t ip6[16], struct rte_ether_addr *mac);
/*
 * The ones' complement sum of @len bytes at @buf folded to 16 bits: what
 * rte_raw_cksum() returns, several times faster on a packet's payload
 * (stoq_dpdk_cksum.c).
 */
uint16_t stoq_dpdk_sum(const void *buf, size_t len);
/* Copy @len bytes from @src to @dst (not overlapping) and return their sum
 * as stoq_dpdk_sum() does, in one pass where the CPU has AVX2. */
uint16_t stoq_dpdk_copy_sum(void *dst, const void *src, size_t len);
/* Their implementations, for the tests: each takes the AVX2 one where the
 * CPU has AVX2 (checked once), the SSE2 one (scalar without SSE2)
 * otherwise. */
uint16_t stoq_dpdk_sum_sse2(const void *buf, size_t len);
#if defined(__x86_64__) && defined(__GNUC__)
#define STOQ_DPDK_SUM_AVX2 1
uint16_t stoq_dpdk_sum_avx2(const void *buf, size_t len);
uint16_t stoq_dpdk_copy_sum_avx2(void *dst, const void *src, size_t len);
#else
#define STOQ_DPDK_SUM_AVX2 0
#endif
/*
 * RFC 8200 §8.1: the ones' complement sum of the pseudo-header (source,
 * destination, upper-layer length @ulen, next header @proto) and @len bytes
 * at @l4, folded to 16 bits; a received packet is intact when it is 0xffff.
 */
uint16_t stoq_dpdk_sum6(const uint8_t src[16], const uint8_t dst[16], uint32_t ulen, uint8_t proto,
			const void *l4, size_t len);

/* The table slot @ip maps to (which may hold another address). */
struct stoq_dpdk_neigh *stoq_dpdk_neigh_slot(struct stoq_dpdk_be *be,
					     const union stoq_dpdk_addr *ip);
/* @ip is at @mac: record it and send what waited for it. */
void stoq_dpdk_neigh_learn(struct stoq_dpdk_be *be, const union stoq_dpdk_addr *ip,
			   const struct rte_ether_addr *mac);
/* Push m[sent..n-1] to the port until it has taken them all or has taken
 * nothing for TX_STALL_NS; returns how many it took in all. */
uint16_t stoq_dpdk_tx_push(struct stoq_dpdk_be *be, struct rte_mbuf **m, uint16_t n,
			   uint16_t sent);
/*
 * Where a packet to @dst goes next: its own MAC on-link, the gateway's
 * otherwise. NULL with *@wait set when the next hop is being resolved (the
 * packet should be queued on *@wait; a request goes out at most every
 * RESOLVE_RETRY_NS), NULL with *@wait NULL when it cannot be reached
 * (off-link without a gateway, or the queue is full).
 */
const struct rte_ether_addr *stoq_dpdk_next_hop(struct stoq_dpdk_be *be,
						const union stoq_dpdk_addr *dst, uint64_t now,
						struct stoq_dpdk_neigh **wait);
/* A received ARP frame (IPv4 back ends): answered, learnt from, counted. */
void stoq_dpdk_arp_input(struct stoq_dpdk_be *be, struct rte_mbuf *m);
/*
 * A received ICMPv6 message (IPv6 back ends), @len bytes at @nd whole in
 * the first segment: Neighbor Solicitations for us answered, Advertisements
 * learnt from, other ICMPv6 counted as not ours.
 */
void stoq_dpdk_nd_input(struct stoq_dpdk_be *be, const struct rte_ether_hdr *eth,
			const struct rte_ipv6_hdr *ip6, const uint8_t *nd, uint32_t len);

#endif
