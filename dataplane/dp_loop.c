/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The lcore loops: the packet path. Everything here runs once per burst or
 * per packet, so: bursts everywhere, prefetch ahead, counters in the lcore's
 * own block, no allocation, lock, syscall or log line (STYLE §6).
 */
#include <rte_branch_prediction.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_hash_crc.h>
#include <rte_prefetch.h>
#ifdef __SSSE3__
#include <tmmintrin.h>
#endif

#include "dp_app.h"
#include "dp_local.h"
#include "dp_parse_impl.h"
#include "dp_stats.h"

/* How many packets ahead the data is prefetched (l3fwd uses 3). */
#define DP_PREFETCH_AHEAD 3
/* The same for the pair loop, which takes two a step (2 ahead was 0.96x of 4). */
#define DP_PAIR_PREFETCH_AHEAD 4

/*
 * What rx_parse counts of each parsed packet, as three 16-bit lanes of one
 * register (a burst is at most DP_BURST_MAX = 512 packets): v1 long headers,
 * version negotiation or unknown versions, IPv4 first fragments; short
 * headers are the rest. One add per packet, none for a short header;
 * separate counters were spilled to the stack by GCC, each a
 * load-add-store chain through memory on every packet.
 */
#define RX_LANE_LONG 0
#define RX_LANE_VN 16
#define RX_LANE_FRAG 32
_Static_assert(DP_BURST_MAX < (1 << 16), "rx_parse: a lane must hold a burst's count");
static const uint64_t rx_type_lane[8] = {
	[DP_QUIC_INITIAL] = 1ull << RX_LANE_LONG,
	[DP_QUIC_0RTT] = 1ull << RX_LANE_LONG,
	[DP_QUIC_HANDSHAKE] = 1ull << RX_LANE_LONG,
	[DP_QUIC_RETRY] = 1ull << RX_LANE_LONG,
	[DP_QUIC_VERSION_NEG] = 1ull << RX_LANE_VN,
	[DP_QUIC_UNKNOWN_VERSION] = 1ull << RX_LANE_VN,
};

/* What rx_parse_from adds to the burst's totals. */
struct rx_sums {
	uint64_t bytes, lanes;
};

#ifdef DP_PARSE_PAIR
/*
 * The pair path's constants for this configuration, built once by
 * dp_loop_prepare before the lcores start and only read after: parse_cfg
 * does not change while they run. Built per burst they were ~9 % of the
 * pair loop's samples; read from here in the loop, 15-20 % slower than
 * from a copy on the loop's own stack, which is what rx_parse_pair_loop
 * makes per burst (measured, alternating runs; the copy is 13 vector moves).
 */
static struct dp_parse_pair rx_pair;
#endif

void dp_loop_prepare(const struct dp_app *app)
{
#ifdef DP_PARSE_PAIR
	if (app->parse_pair)
		dp_parse_pair_build(&rx_pair, &app->parse_cfg);
#else
	(void)app;
#endif
}

/* Where packet @i of a burst gets its parse result: @scratch (RTC), else its mbuf. */
static inline __attribute__((always_inline)) struct dp_pkt_info *
rx_info(struct dp_pkt_info *scratch, struct rte_mbuf *m, uint16_t i)
{
	return scratch ? &scratch[i] : &dp_mbuf_priv(m)->info;
}

/*
 * The rest of a burst from the first packet the fast path left (@start:
 * another layout, or malformed): one pass as in rx_parse, the fast path
 * tried first and the general parser inline behind it. Out of line, so
 * rx_parse's own loop has no call and keeps its state in registers; a
 * burst of garbage costs one call. Packets that parse stay in pkts[] in
 * order, their results at the same index of @scratch (or in the mbuf);
 * the others are counted by reason and freed. Returns how many of the
 * burst stayed.
 */
static __attribute__((noinline)) uint16_t
rx_parse_from(const struct dp_app *app, struct dp_lcore_stats *st, uint16_t port,
	      struct rte_mbuf **pkts, uint16_t start, uint16_t n, struct dp_pkt_info *scratch,
	      struct rx_sums *sums)
{
	struct rte_mbuf *drop[DP_BURST_MAX], *local[DP_BURST_MAX];
	struct dp_local *lo = app->local && app->local->port == port ? app->local : NULL;
	struct dp_parse_fast fp;
	uint16_t kept = start, nd = 0, nl = 0;
	/* Drops of one reason usually come in runs (a flood, a misdirected
	 * stream): counted in a register, stored when the reason changes. */
	enum dp_parse_result run_r = DP_PARSE_OK;
	uint64_t run = 0, bytes = 0, lanes = 0;

	dp_parse_fast_prep(&fp, &app->parse_cfg);
	for (uint16_t i = start; i < n; i++) {
		struct rte_mbuf *m = pkts[i];
		/* (scratch[kept]: where the packet will sit if it stays; kept <= i) */
		struct dp_pkt_info *pi = rx_info(scratch, m, kept);
		const uint8_t *f = rte_pktmbuf_mtod(m, const uint8_t *);
		enum dp_parse_result r = DP_PARSE_OK;
		int type;

		if (i + DP_PREFETCH_AHEAD < n)
			rte_prefetch0(rte_pktmbuf_mtod(pkts[i + DP_PREFETCH_AHEAD], void *));
		bytes += m->pkt_len;
		m->port = port;
		type = dp_parse_fast_try(f, m->data_len, &fp, pi);
		if (type == DP_FAST_NO) {
			r = dp_parse_frame_general(f, m->data_len, &app->parse_cfg, pi);
			type = pi->quic_type;
		}
		if (likely(r == DP_PARSE_OK)) {
			lanes += rx_type_lane[type & 7] +
				 ((uint64_t)((pi->flags & DP_PKT_F_FRAGMENT) != 0) << RX_LANE_FRAG);
			pkts[kept++] = m;
			continue;
		}
		/* Not for forwarding, for the hosted STOQ server (dp_local.h). */
		if (unlikely(lo != NULL) && m->nb_segs == 1 &&
		    dp_local_wants(lo, f, m->data_len, r, pi)) {
			local[nl++] = m;
			continue;
		}
		/* The parser sees the first segment only: say so rather than
		 * blaming the packet for a truncation that is ours. */
		if (unlikely(m->nb_segs > 1)) {
			DP_COUNT(st->drop[DP_D_MULTISEG]++);
		} else if (r == run_r) {
			run++;
		} else {
			DP_COUNT(st->parse[run_r] += run);
			run_r = r;
			run = 1;
		}
		drop[nd++] = m;
	}
	if (run_r != DP_PARSE_OK)
		DP_COUNT(st->parse[run_r] += run);
	sums->bytes = bytes;
	sums->lanes = lanes;
	if (nd)
		rte_pktmbuf_free_bulk(drop, nd);
	if (nl) {
		unsigned int e = rte_ring_enqueue_burst(lo->rx, (void **)local, nl, NULL);

		DP_COUNT(st->c[DP_C_LOCAL_RX] += e);
		if (unlikely(e < nl)) {
			DP_COUNT(st->drop[DP_D_LOCAL_FULL] += nl - e);
			rte_pktmbuf_free_bulk(&local[e], nl - e);
		}
	}
	return kept;
}

/* One packet of the fast loop: false when it needs the general parser. */
static inline __attribute__((always_inline)) bool
rx_fast_one(const struct dp_parse_fast *fp, uint16_t port, struct rte_mbuf *m,
	    struct dp_pkt_info *pi, uint64_t *bytes, uint64_t *lanes)
{
	int type = dp_parse_fast_try(rte_pktmbuf_mtod(m, const uint8_t *), m->data_len, fp, pi);

	if (unlikely(type == DP_FAST_NO))
		return false;
	*bytes += m->pkt_len;
	/* Not every PMD stamps the input port (net_ring does not); the
	 * pipeline and "tx_port = -1" rely on it. */
	m->port = port;
	/* The fast path never takes a fragment: no fragment lane here. */
	*lanes += rx_type_lane[type & 7];
	return true;
}

/*
 * The fast loop, for results in @scratch (RTC) or, with @scratch NULL, in
 * each mbuf: two instances (rx_parse_fast_scratch, _mbuf), so neither
 * chooses per packet. The packets with one to prefetch @DP_PREFETCH_AHEAD ahead come
 * first, with no bound check per packet, then the last few.
 */
static inline __attribute__((always_inline)) uint16_t
rx_parse_fast_loop(const struct dp_parse_cfg *cfg, uint16_t port, struct rte_mbuf **pkts,
		   uint16_t n, struct dp_pkt_info *scratch, struct rx_sums *sums)
{
	struct dp_parse_fast fp;
	uint64_t bytes = 0, lanes = 0;
	uint16_t i, ahead = n > DP_PREFETCH_AHEAD ? n - DP_PREFETCH_AHEAD : 0;

	/*
	 * One pass, the headers prefetched a few packets ahead. (Measured: a
	 * first pass that only reads the mbufs and prefetches every header,
	 * so their misses overlap, was 8 % slower on the net_ring loop; so
	 * was prefetching the mbufs 8 ahead besides.)
	 */
	dp_parse_fast_prep(&fp, cfg);
	for (i = 0; i < n && i < DP_PREFETCH_AHEAD; i++)
		rte_prefetch0(rte_pktmbuf_mtod(pkts[i], void *));
	for (i = 0; i < ahead; i++) {
		rte_prefetch0(rte_pktmbuf_mtod(pkts[i + DP_PREFETCH_AHEAD], void *));
		if (!rx_fast_one(&fp, port, pkts[i], rx_info(scratch, pkts[i], i), &bytes, &lanes))
			goto out;
	}
	for (; i < n; i++)
		if (!rx_fast_one(&fp, port, pkts[i], rx_info(scratch, pkts[i], i), &bytes, &lanes))
			break;
out:
	sums->bytes = bytes;
	sums->lanes = lanes;
	return i;
}

/*
 * The fast path over a burst until a packet needs the general parser:
 * returns the index of that packet (@n when there is none); the bytes and
 * lanes of the packets before it go to @sums. Functions of their own, with
 * no call inside: the register allocator sees only this loop (inlined into
 * an lcore loop, GCC spilled its temporaries to the stack).
 */
static __attribute__((noinline)) uint16_t
rx_parse_fast_scratch(const struct dp_parse_cfg *cfg, uint16_t port, struct rte_mbuf **pkts,
		      uint16_t n, struct dp_pkt_info *scratch, struct rx_sums *sums)
{
	return rx_parse_fast_loop(cfg, port, pkts, n, scratch, sums);
}

static __attribute__((noinline)) uint16_t
rx_parse_fast_mbuf(const struct dp_parse_cfg *cfg, uint16_t port, struct rte_mbuf **pkts,
		   uint16_t n, struct rx_sums *sums)
{
	return rx_parse_fast_loop(cfg, port, pkts, n, NULL, sums);
}

#ifdef DP_PARSE_PAIR
/*
 * Packets @i and @i + 1 of the pair loop: what the pair path does not take
 * goes through the one-frame fast path. Returns how many of the two were
 * taken, in order (fewer than 2: the general parser takes the burst from
 * the first one left).
 */
static inline __attribute__((always_inline, target("avx2"))) uint16_t
rx_fast_two(const struct dp_parse_fast *fp, const struct dp_parse_pair *pp, uint16_t port,
	    struct rte_mbuf **pkts, uint16_t i, struct dp_pkt_info *scratch, uint64_t *bytes,
	    uint64_t *lanes)
{
	struct rte_mbuf *m0 = pkts[i], *m1 = pkts[i + 1];
	struct dp_pkt_info *i0 = rx_info(scratch, m0, i), *i1 = rx_info(scratch, m1, i + 1);
	unsigned int took = dp_parse_fast_pair(rte_pktmbuf_mtod(m0, const uint8_t *), m0->data_len,
					       rte_pktmbuf_mtod(m1, const uint8_t *), m1->data_len,
					       pp, i0, i1);

	/* Taken by the pair path: short headers, no lane to count. */
	if (likely(took == 3)) {
		*bytes += m0->pkt_len + m1->pkt_len;
		m0->port = port;
		m1->port = port;
		return 2;
	}
	if (took & 1) {
		*bytes += m0->pkt_len;
		m0->port = port;
	} else if (!rx_fast_one(fp, port, m0, i0, bytes, lanes)) {
		return 0;
	}
	if (took & 2) {
		*bytes += m1->pkt_len;
		m1->port = port;
		return 2;
	}
	return rx_fast_one(fp, port, m1, i1, bytes, lanes) ? 2 : 1;
}

/*
 * rx_parse_fast_loop two packets at a time (dp_parse_fast_pair), for CPUs
 * with AVX2: the pairs with two to prefetch DP_PAIR_PREFETCH_AHEAD ahead
 * first, then the rest.
 */
static inline __attribute__((always_inline, target("avx2"))) uint16_t
rx_parse_pair_loop(const struct dp_parse_cfg *cfg, uint16_t port, struct rte_mbuf **pkts,
		   uint16_t n, struct dp_pkt_info *scratch, struct rx_sums *sums)
{
	struct dp_parse_fast fp;
	const struct dp_parse_pair pp = rx_pair; /* see rx_pair */
	uint64_t bytes = 0, lanes = 0;
	uint16_t i, k;

	dp_parse_fast_prep(&fp, cfg);
	for (i = 0; i < n && i < DP_PAIR_PREFETCH_AHEAD; i++)
		rte_prefetch0(rte_pktmbuf_mtod(pkts[i], void *));
	for (i = 0; i + DP_PAIR_PREFETCH_AHEAD + 1 < n; i += k) {
		rte_prefetch0(rte_pktmbuf_mtod(pkts[i + DP_PAIR_PREFETCH_AHEAD], void *));
		rte_prefetch0(rte_pktmbuf_mtod(pkts[i + DP_PAIR_PREFETCH_AHEAD + 1], void *));
		k = rx_fast_two(&fp, &pp, port, pkts, i, scratch, &bytes, &lanes);
		if (k < 2) {
			i += k;
			goto out;
		}
	}
	for (; i + 1 < n; i += k) {
		k = rx_fast_two(&fp, &pp, port, pkts, i, scratch, &bytes, &lanes);
		if (k < 2) {
			i += k;
			goto out;
		}
	}
	if (i < n && rx_fast_one(&fp, port, pkts[i], rx_info(scratch, pkts[i], i), &bytes, &lanes))
		i++;
out:
	sums->bytes = bytes;
	sums->lanes = lanes;
	return i;
}

static __attribute__((noinline, target("avx2"))) uint16_t
rx_parse_pair_scratch(const struct dp_parse_cfg *cfg, uint16_t port, struct rte_mbuf **pkts,
		      uint16_t n, struct dp_pkt_info *scratch, struct rx_sums *sums)
{
	return rx_parse_pair_loop(cfg, port, pkts, n, scratch, sums);
}

static __attribute__((noinline, target("avx2"))) uint16_t
rx_parse_pair_mbuf(const struct dp_parse_cfg *cfg, uint16_t port, struct rte_mbuf **pkts,
		   uint16_t n, struct rx_sums *sums)
{
	return rx_parse_pair_loop(cfg, port, pkts, n, NULL, sums);
}
#endif

/*
 * Parse a received burst in place: packets that parse stay in pkts[] (in
 * order), the result of pkts[i] in scratch[i] or its mbuf; the others are
 * counted by reason and freed. Returns how many stayed.
 *
 * @scratch: where results go when the burst is decided on this lcore (RTC):
 * a stack array that stays in L1, so the pipeline's info[] pointers into it
 * are set once per lcore, not stored per packet. NULL when the packets
 * cross a ring: then the result travels in the mbuf's private area.
 *
 * rx_parse_fast_* run the fast path (dp_parse_impl.h) until a packet needs
 * the general parser; rx_parse_from takes the burst from there. Counters
 * are summed in registers and stored once per burst: a per-packet
 * increment in memory is a store-to-load dependency chain that costs more
 * than the parse of a short header.
 */
static inline __attribute__((always_inline)) uint16_t
rx_parse(const struct dp_app *app, struct dp_lcore_stats *st, uint16_t port,
	 struct rte_mbuf **pkts, uint16_t n, struct dp_pkt_info *scratch)
{
	struct rx_sums sums, more;
	uint16_t i, kept = n;
	uint64_t n_long, n_vn;

#ifdef DP_PARSE_PAIR
	if (app->parse_pair)
		i = scratch ? rx_parse_pair_scratch(&app->parse_cfg, port, pkts, n, scratch, &sums)
			    : rx_parse_pair_mbuf(&app->parse_cfg, port, pkts, n, &sums);
	else
#endif
		i = scratch ? rx_parse_fast_scratch(&app->parse_cfg, port, pkts, n, scratch,
						    &sums)
			    : rx_parse_fast_mbuf(&app->parse_cfg, port, pkts, n, &sums);
	if (unlikely(i < n)) {
		kept = rx_parse_from(app, st, port, pkts, i, n, scratch, &more);
		sums.bytes += more.bytes;
		sums.lanes += more.lanes;
	}
	n_long = (sums.lanes >> RX_LANE_LONG) & 0xffff;
	n_vn = (sums.lanes >> RX_LANE_VN) & 0xffff;
	DP_COUNT(st->c[DP_C_RX_PACKETS] += n);
	DP_COUNT(st->c[DP_C_RX_BYTES] += sums.bytes);
	DP_COUNT(st->parse[DP_PARSE_OK] += kept);
	DP_COUNT(st->c[DP_C_QUIC_SHORT] += kept - n_long - n_vn);
	DP_COUNT(st->c[DP_C_QUIC_VN] += n_vn);
	DP_COUNT(st->c[DP_C_QUIC_LONG] += n_long);
	DP_COUNT(st->c[DP_C_IP4_FRAGMENTS] += (sums.lanes >> RX_LANE_FRAG) & 0xffff);
	return kept;
}

/* Send @n packets on this lcore's queue of ports[idx]; count, free what the queue refused. */
static inline void tx_send(const struct dp_app *app, const struct dp_lcore *l,
			   struct dp_lcore_stats *st, int idx, struct rte_mbuf **m, uint16_t n,
			   uint64_t bytes)
{
	uint16_t sent = rte_eth_tx_burst(app->ports[idx].port_id, l->txq, m, n);

	if (unlikely(sent < n)) {
		for (uint16_t i = sent; i < n; i++)
			bytes -= m[i]->pkt_len;
		DP_COUNT(st->drop[DP_D_TX_FULL] += n - sent);
		rte_pktmbuf_free_bulk(&m[sent], n - sent);
	}
	DP_COUNT(st->c[DP_C_TX_PACKETS] += sent);
	DP_COUNT(st->c[DP_C_TX_BYTES] += bytes);
}

/*
 * Ethernet rewrite: source = the output port's MAC; destination =
 * backend_next_hop_mac on the backend port in router mode, else
 * next_hop_mac, or the packet's own source (reflect) when unset; then the
 * optional 802.1Q push. The choice depends on the port only, so it is made
 * once per burst; this returns the destination MAC, NULL to reflect.
 */
static inline const uint8_t *tx_dst_mac(const struct dp_app *app, int idx)
{
	const struct dp_config *c = &app->cfg;

	if (unlikely(c->backend_port >= 0) && app->ports[idx].port_id == c->backend_port)
		return c->backend_next_hop_mac.b;
	return c->next_hop_mac.set ? c->next_hop_mac.b : NULL;
}

/* Push the TX VLAN tag; false (counted) when the mbuf has no headroom for it. */
static bool tx_vlan_push(const struct dp_app *app, struct dp_lcore_stats *st, struct rte_mbuf **mp)
{
	(*mp)->vlan_tci = (uint16_t)app->cfg.tx_vlan;
	if (rte_vlan_insert(mp) != 0) {
		DP_COUNT(st->drop[DP_D_VLAN_PUSH]++);
		return false;
	}
	DP_COUNT(st->c[DP_C_VLAN_PUSHED]++);
	return true;
}

/* One packet's Ethernet addresses (@dst NULL: reflect to its source). */
static inline __attribute__((always_inline)) void
tx_set_macs(struct rte_mbuf *m, const uint8_t *dst, const struct rte_ether_addr *src)
{
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);

	if (dst)
		memcpy(&eth->dst_addr, dst, RTE_ETHER_ADDR_LEN);
	else
		rte_ether_addr_copy(&eth->src_addr, &eth->dst_addr);
	rte_ether_addr_copy(src, &eth->src_addr);
}

/*
 * The Ethernet addresses of a burst without a VLAN push; returns the bytes
 * of the burst. With SSSE3 each frame's first 16 bytes are rewritten with
 * one shuffle and one OR (as testpmd's macswap does): the new addresses are
 * a constant of the burst, and a reflected destination is the old source
 * moved by the shuffle; bytes 12..15 are written back as read. (Byte
 * copies reloaded the port's MAC for every packet: a store into packet
 * bytes may alias anything.)
 */
static inline uint64_t tx_set_macs_burst(struct rte_mbuf **pkts, uint16_t n, const uint8_t *dst,
					 const struct rte_ether_addr *src)
{
	uint64_t b = 0;
#ifdef __SSSE3__
	__m128i macs = _mm_setzero_si128(), shuf;
	uint16_t w[3];

	/* Built in registers: a 16-byte load of addresses just stored as
	 * bytes would stall on store forwarding once per burst. */
	if (dst) {
		memcpy(w, dst, sizeof(w));
		macs = _mm_insert_epi16(macs, w[0], 0);
		macs = _mm_insert_epi16(macs, w[1], 1);
		macs = _mm_insert_epi16(macs, w[2], 2);
	}
	memcpy(w, src, sizeof(w));
	macs = _mm_insert_epi16(macs, w[0], 3);
	macs = _mm_insert_epi16(macs, w[1], 4);
	macs = _mm_insert_epi16(macs, w[2], 5);
	shuf = dst ? _mm_setr_epi8(-128, -128, -128, -128, -128, -128, -128, -128, -128, -128,
				   -128, -128, 12, 13, 14, 15)
		   : _mm_setr_epi8(6, 7, 8, 9, 10, 11, -128, -128, -128, -128, -128, -128, 12, 13,
				   14, 15);
	for (uint16_t i = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i];
		__m128i *f = rte_pktmbuf_mtod(m, __m128i *);

		b += m->pkt_len;
		/* A frame shorter than 16 bytes: the bytes past it are not ours to rewrite. */
		if (unlikely(m->data_len < sizeof(*f))) {
			tx_set_macs(m, dst, src);
			continue;
		}
		_mm_storeu_si128(f, _mm_or_si128(_mm_shuffle_epi8(_mm_loadu_si128(f), shuf), macs));
	}
#else
	for (uint16_t i = 0; i < n; i++) {
		tx_set_macs(pkts[i], dst, src);
		b += pkts[i]->pkt_len;
	}
#endif
	return b;
}

/*
 * Rewrite a burst bound for ports[idx] in place: packets kept stay in
 * pkts[] in order, the ones the VLAN push refused go to drop[]. Returns
 * how many stayed; their bytes are added to @bytes.
 */
static inline uint16_t tx_rewrite_burst(const struct dp_app *app, struct dp_lcore_stats *st,
					struct rte_mbuf **pkts, uint16_t n, int idx,
					struct rte_mbuf **drop, uint16_t *nd, uint64_t *bytes)
{
	const uint8_t *dst = tx_dst_mac(app, idx);
	const struct rte_ether_addr *src = &app->ports[idx].mac;
	uint64_t b = 0;
	uint16_t k = 0;

	if (likely(!app->cfg.tx_vlan)) {
		*bytes += tx_set_macs_burst(pkts, n, dst, src);
		return n;
	}
	for (uint16_t i = 0; i < n; i++) {
		tx_set_macs(pkts[i], dst, src);
		if (likely(tx_vlan_push(app, st, &pkts[i]))) {
			b += pkts[i]->pkt_len;
			pkts[k++] = pkts[i];
		} else {
			drop[(*nd)++] = pkts[i];
		}
	}
	*bytes += b;
	return k;
}

/*
 * Rewrite and transmit a decided burst on this lcore's own TX queue of each
 * destination port: @to_port when the pipeline sent the whole burst to one
 * port, else out_ports[] (DP_PIPE_PER_PACKET). A burst that goes to one
 * port (the common case: one uplink, or reflect) is sent as it is; mixed
 * bursts are grouped by port.
 */
static void tx_burst_out(const struct dp_app *app, struct dp_lcore *l, struct dp_lcore_stats *st,
			 struct rte_mbuf **pkts, int to_port, const uint16_t *out_ports, uint16_t n)
{
	struct rte_mbuf *drop[DP_BURST_MAX];
	uint16_t nd = 0, k;
	uint16_t used[DP_PORTS_MAX];
	uint16_t n_used = 0;
	uint64_t bytes = 0;
	const bool per_packet = to_port == DP_PIPE_PER_PACKET;
	bool one_port = true;
	int idx0;

	if (per_packet) {
		for (uint16_t i = 1; i < n; i++)
			one_port &= out_ports[i] == out_ports[0];
		to_port = out_ports[0];
	}
	idx0 = to_port < RTE_MAX_ETHPORTS ? app->port_index[to_port] : -1;
	if (likely(one_port && idx0 >= 0)) {
		k = tx_rewrite_burst(app, st, pkts, n, idx0, drop, &nd, &bytes);
		if (k)
			tx_send(app, l, st, idx0, pkts, k, bytes);
		if (nd)
			rte_pktmbuf_free_bulk(drop, nd);
		return;
	}
	/* Mixed (or a port we do not have): group by port first, then rewrite
	 * each group as a burst. */
	for (uint16_t i = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i];
		uint16_t port = per_packet ? out_ports[i] : (uint16_t)to_port;
		struct dp_txbuf *b;
		int idx;

		if (unlikely(port == DP_PORT_DROP)) {
			/* The pipeline counted the reason (dp_pipeline.h). */
			drop[nd++] = m;
			continue;
		}
		idx = port < RTE_MAX_ETHPORTS ? app->port_index[port] : -1;
		if (unlikely(idx < 0)) {
			DP_COUNT(st->drop[DP_D_NO_PORT]++);
			drop[nd++] = m;
			continue;
		}
		b = &l->txb[idx];
		if (b->n == 0)
			used[n_used++] = (uint16_t)idx;
		b->m[b->n++] = m;
	}
	for (uint16_t u = 0; u < n_used; u++) {
		struct dp_txbuf *b = &l->txb[used[u]];

		bytes = 0;
		k = tx_rewrite_burst(app, st, b->m, b->n, used[u], drop, &nd, &bytes);
		if (k)
			tx_send(app, l, st, used[u], b->m, k, bytes);
		b->n = 0;
	}
	if (nd)
		rte_pktmbuf_free_bulk(drop, nd);
}

/*
 * Move what the hosted STOQ server sent (dp_local.h) to its port's TX
 * queue of this lcore; returns how many. Its frames are complete: no
 * rewrite.
 */
static uint16_t local_drain(const struct dp_app *app, struct dp_lcore *l,
			    struct dp_lcore_stats *st)
{
	struct dp_local *lo = l->drains;
	struct rte_mbuf *m[DP_LOCAL_BURST];
	uint16_t n = (uint16_t)rte_ring_dequeue_burst(lo->tx, (void **)m, DP_LOCAL_BURST, NULL);
	uint64_t bytes = 0;

	if (n == 0)
		return 0;
	for (uint16_t i = 0; i < n; i++)
		bytes += m[i]->pkt_len;
	DP_COUNT(st->c[DP_C_LOCAL_TX] += n);
	tx_send(app, l, st, lo->port_idx, m, n, bytes);
	return n;
}

/* Poll RX queue @q of this lcore and parse what came; returns the packets kept. */
static inline __attribute__((always_inline)) uint16_t
rx_poll(const struct dp_app *app, const struct dp_lcore *l, struct dp_lcore_stats *st, uint16_t q,
	uint16_t burst, struct rte_mbuf **pkts, struct dp_pkt_info *scratch)
{
	uint16_t n = rte_eth_rx_burst(l->rxq[q].port, l->rxq[q].queue, pkts, burst);

	DP_COUNT(st->c[DP_C_RX_POLLS]++);
	if (n == 0) {
		DP_COUNT(st->c[DP_C_RX_EMPTY_POLLS]++);
		return 0;
	}
	return rx_parse(app, st, l->rxq[q].port, pkts, n, scratch);
}

/* Enqueue a burst to the next stage; what the ring refuses is dropped as @why. */
static inline void ring_send(struct dp_lcore_stats *st, struct rte_ring *r,
			     struct rte_mbuf **pkts, uint16_t n, enum dp_drop why)
{
	uint16_t e = (uint16_t)rte_ring_enqueue_burst(r, (void **)pkts, n, NULL);

	DP_COUNT(st->c[DP_C_RING_ENQ] += e);
	if (unlikely(e < n)) {
		DP_COUNT(st->drop[why] += n - e);
		rte_pktmbuf_free_bulk(&pkts[e], n - e);
	}
}

/*
 * Dequeue a burst from this lcore's input ring. Returns the packets taken,
 * 0 when the ring is empty for now, -1 when the stage should leave: its
 * producers (@upstream_running of them) have all stopped and the ring is
 * drained, so no packet is left behind at shutdown.
 */
static inline int ring_recv(struct dp_lcore *l, struct dp_lcore_stats *st,
			    struct rte_mbuf **pkts, uint16_t burst, const uint32_t *upstream_running)
{
	uint16_t n = (uint16_t)rte_ring_dequeue_burst(l->in_ring, (void **)pkts, burst, NULL);

	DP_COUNT(st->c[DP_C_RX_POLLS]++);
	if (n == 0) {
		DP_COUNT(st->c[DP_C_RX_EMPTY_POLLS]++);
		if (__atomic_load_n(upstream_running, __ATOMIC_ACQUIRE) == 0 &&
		    rte_ring_empty(l->in_ring))
			return -1;
		return 0;
	}
	DP_COUNT(st->c[DP_C_RING_DEQ] += n);
	return n;
}

/*
 * Nothing came on any queue: give the CPU away for @us (idle_sleep_us).
 * A worker that sleeps must not hold up RCU grace periods (the main lcore
 * waits for them when it publishes L3 tables): it goes offline first.
 */
static void idle_sleep(struct dp_app *app, struct dp_lcore *l, uint32_t us)
{
	if (app->pipe->lcore_exit)
		app->pipe->lcore_exit(app->pipe_ctx, l->lcore_id);
	rte_delay_us_sleep(us);
	if (app->pipe->lcore_enter)
		app->pipe->lcore_enter(app->pipe_ctx, l->lcore_id);
}

static int loop_rtc(struct dp_app *app, struct dp_lcore *l)
{
	struct dp_lcore_stats *st = &dp_stats[l->lcore_id];
	const uint32_t idle_sleep_us = app->cfg.idle_sleep_us;
	const uint16_t burst = (uint16_t)app->cfg.rx_burst;
	struct rte_mbuf *pkts[DP_BURST_MAX];
	struct dp_pkt_info *info[DP_BURST_MAX];
	struct dp_pkt_info scratch[DP_BURST_MAX];
	uint16_t out[DP_BURST_MAX];

	for (uint16_t i = 0; i < DP_BURST_MAX; i++)
		info[i] = &scratch[i];
	if (app->pipe->lcore_enter)
		app->pipe->lcore_enter(app->pipe_ctx, l->lcore_id);
	while (likely(!app->stop_rx)) {
		uint16_t got = 0;

		for (uint16_t q = 0; q < l->n_rxq; q++) {
			uint16_t n = rx_poll(app, l, st, q, burst, pkts, scratch);
			int to;

			if (n == 0)
				continue;
			got += n;
			to = app->pipe->process(app->pipe_ctx, l->lcore_id, pkts, info,
						l->rxq[q].port, out, n);
			DP_COUNT(st->c[DP_C_MFN_PACKETS] += n);
			tx_burst_out(app, l, st, pkts, to, out, n);
		}
		if (unlikely(l->drains != NULL))
			got += local_drain(app, l, st);
		if (app->pipe->quiescent)
			app->pipe->quiescent(app->pipe_ctx, l->lcore_id);
		if (unlikely(got == 0 && idle_sleep_us))
			idle_sleep(app, l, idle_sleep_us);
	}
	if (app->pipe->lcore_exit)
		app->pipe->lcore_exit(app->pipe_ctx, l->lcore_id);
	return 0;
}

/*
 * Which worker gets a packet: QUIC-aware, by DCID when there is one, so a
 * connection stays on one worker across NAT rebinding (RFC 9000 §9); by
 * the NIC's RSS hash or a CRC of the 5-tuple otherwise.
 */
static inline uint32_t flow_hash(const struct rte_mbuf *m, const struct dp_pkt_info *pi)
{
	const uint8_t *frame = rte_pktmbuf_mtod(m, const uint8_t *);
	uint32_t h;

	if (pi->dcid_len)
		return rte_hash_crc(frame + pi->dcid_off, pi->dcid_len, 0x9e3779b9);
	if (m->ol_flags & RTE_MBUF_F_RX_RSS_HASH)
		return m->hash.rss;
	/* Only the address bytes: past an IPv4 address the info holds leftovers. */
	h = rte_hash_crc(pi->src, pi->ip_version == 4 ? 4 : 16, 0x9e3779b9);
	h = rte_hash_crc(pi->dst, pi->ip_version == 4 ? 4 : 16, h);
	return rte_hash_crc_4byte((uint32_t)pi->sport << 16 | pi->dport, h);
}

static int loop_rx(struct dp_app *app, struct dp_lcore *l)
{
	struct dp_lcore_stats *st = &dp_stats[l->lcore_id];
	const uint16_t burst = (uint16_t)app->cfg.rx_burst;
	struct rte_mbuf *pkts[DP_BURST_MAX], *sorted[DP_BURST_MAX];
	uint8_t dest[DP_BURST_MAX];
	uint16_t count[DP_MAX_WORKERS], start[DP_MAX_WORKERS];
	const uint16_t nw = l->n_out;

	while (likely(!app->stop_rx)) {
		for (uint16_t q = 0; q < l->n_rxq; q++) {
			uint16_t n = rx_poll(app, l, st, q, burst, pkts, NULL);

			if (n == 0)
				continue;
			if (nw == 1) {
				ring_send(st, l->out_ring[0], pkts, n, DP_D_RING_FULL_WORKER);
				continue;
			}
			/* Counting sort by worker: one enqueue burst per worker. */
			memset(count, 0, sizeof(count[0]) * nw);
			for (uint16_t i = 0; i < n; i++) {
				dest[i] = (uint8_t)(flow_hash(pkts[i], &dp_mbuf_priv(pkts[i])->info) %
						    nw);
				count[dest[i]]++;
			}
			start[0] = 0;
			for (uint16_t w = 1; w < nw; w++)
				start[w] = start[w - 1] + count[w - 1];
			for (uint16_t i = 0; i < n; i++)
				sorted[start[dest[i]]++] = pkts[i];
			for (uint16_t w = 0, off = 0; w < nw; off += count[w], w++)
				if (count[w])
					ring_send(st, l->out_ring[w], &sorted[off], count[w],
						  DP_D_RING_FULL_WORKER);
		}
	}
	__atomic_fetch_sub(&app->rx_running, 1, __ATOMIC_RELEASE);
	return 0;
}

static int loop_worker(struct dp_app *app, struct dp_lcore *l)
{
	struct dp_lcore_stats *st = &dp_stats[l->lcore_id];
	const uint16_t burst = (uint16_t)app->cfg.rx_burst;
	struct rte_mbuf *pkts[DP_BURST_MAX];
	struct dp_pkt_info *info[DP_BURST_MAX];
	uint16_t out[DP_BURST_MAX];

	if (app->pipe->lcore_enter)
		app->pipe->lcore_enter(app->pipe_ctx, l->lcore_id);
	for (;;) {
		int r = ring_recv(l, st, pkts, burst, &app->rx_running);
		uint16_t n;
		int to;

		if (unlikely(l->drains != NULL))
			local_drain(app, l, st);
		if (r < 0)
			break;
		if (r == 0) {
			if (app->pipe->quiescent)
				app->pipe->quiescent(app->pipe_ctx, l->lcore_id);
			continue;
		}
		n = (uint16_t)r;
		for (uint16_t i = 0; i < n; i++)
			info[i] = &dp_mbuf_priv(pkts[i])->info;
		to = app->pipe->process(app->pipe_ctx, l->lcore_id, pkts, info, -1, out, n);
		DP_COUNT(st->c[DP_C_MFN_PACKETS] += n);
		if (l->transmits) {
			tx_burst_out(app, l, st, pkts, to, out, n);
		} else {
			for (uint16_t i = 0; i < n; i++)
				dp_mbuf_priv(pkts[i])->out_port =
					to == DP_PIPE_PER_PACKET ? out[i] : (uint16_t)to;
			ring_send(st, l->out_ring[0], pkts, n, DP_D_RING_FULL_TX);
		}
		if (app->pipe->quiescent)
			app->pipe->quiescent(app->pipe_ctx, l->lcore_id);
	}
	if (app->pipe->lcore_exit)
		app->pipe->lcore_exit(app->pipe_ctx, l->lcore_id);
	__atomic_fetch_sub(&app->worker_running, 1, __ATOMIC_RELEASE);
	return 0;
}

static int loop_tx(struct dp_app *app, struct dp_lcore *l)
{
	struct dp_lcore_stats *st = &dp_stats[l->lcore_id];
	const uint16_t burst = (uint16_t)app->cfg.rx_burst;
	struct rte_mbuf *pkts[DP_BURST_MAX];
	uint16_t out[DP_BURST_MAX];

	for (;;) {
		int n = ring_recv(l, st, pkts, burst, &app->worker_running);

		if (unlikely(l->drains != NULL))
			local_drain(app, l, st);
		if (n < 0)
			break;
		for (int i = 0; i < n; i++)
			out[i] = dp_mbuf_priv(pkts[i])->out_port;
		if (n)
			tx_burst_out(app, l, st, pkts, DP_PIPE_PER_PACKET, out, (uint16_t)n);
	}
	return 0;
}

int dp_lcore_main(void *arg)
{
	struct dp_app *app = arg;
	struct dp_lcore *l = &app->lcores[rte_lcore_id()];

	switch (l->role) {
	case DP_ROLE_RTC:
		return loop_rtc(app, l);
	case DP_ROLE_RX:
		return loop_rx(app, l);
	case DP_ROLE_WORKER:
		return loop_worker(app, l);
	case DP_ROLE_TX:
		return loop_tx(app, l);
	case DP_ROLE_STOQ:
		return dp_local_run(app);
	case DP_ROLE_NONE:
		break;
	}
	return 0;
}
