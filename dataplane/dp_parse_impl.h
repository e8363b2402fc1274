/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dp_parse_impl — the parser's implementation as always-inline functions,
 * private to dataplane/. dp_parse.c wraps them as the public API; the lcore
 * loops include this header so the per-packet parse is inlined into the RX
 * loop (measured: the call and the lost constant propagation of the config
 * cost about a third of the parse time).
 *
 * Straight-line on the common path (untagged IPv4 without options, UDP,
 * QUIC); every field is read only after checking that the bytes it occupies
 * lie inside the frame (or inside the length the outer header claims,
 * whichever is shorter), so a lying length can only make the parse fail.
 */
#ifndef DP_PARSE_IMPL_H
#define DP_PARSE_IMPL_H

#include <stdbool.h>
#include <string.h>

#include <rte_branch_prediction.h>
#include <rte_byteorder.h>

#include "dp_parse.h"

static inline uint16_t dp_rd16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return __builtin_bswap16(v); /* not rte_bswap16: its asm blocks scheduling */
}

static inline uint32_t dp_rd32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return __builtin_bswap32(v);
}

#define DP_ETH_HLEN 14
#define DP_ETHER_IPV4 0x0800
#define DP_ETHER_IPV6 0x86dd
#define DP_ETHER_VLAN 0x8100
#define DP_ETHER_QINQ 0x88a8
#define DP_IPPROTO_UDP_ 17

/*
 * RFC 9000 §16: variable-length integer; the two high bits of the first
 * byte give its length (1, 2, 4 or 8 bytes). Returns the bytes consumed,
 * or 0 when it runs past @len.
 */
static inline uint32_t dp_quic_varint(const uint8_t *p, uint32_t len, uint64_t *v)
{
	uint32_t n;
	uint64_t x;

	if (len < 1)
		return 0;
	n = 1u << (p[0] >> 6);
	if (n > len)
		return 0;
	x = p[0] & 0x3f;
	for (uint32_t i = 1; i < n; i++)
		x = (x << 8) | p[i];
	*v = x;
	return n;
}

static inline __attribute__((always_inline)) enum dp_parse_result
dp_parse_quic_impl(const uint8_t *q, uint32_t len, uint16_t base,
				   uint8_t short_dcid_len, bool require_bit, struct dp_pkt_info *info)
{
	uint32_t off;
	uint8_t b0;

	if (len == 0)
		return DP_PARSE_QUIC_EMPTY;
	b0 = q[0];
	info->flags &= (uint8_t)~DP_PKT_F_TOKEN;
	info->token_len = 0;
	info->scid_len = 0;
	info->scid_off = 0;

	if (!(b0 & 0x80)) {
		/*
		 * RFC 9000 §17.3.1: 1-RTT, DCID of the length we issue. The fixed
		 * bit is 1 unless the peers agreed to grease it (RFC 9287, which
		 * ngtcp2 does): only a mesh that never greases can require it.
		 */
		if (require_bit && !(b0 & 0x40))
			return DP_PARSE_QUIC_FIXED_BIT;
		if (len < 1u + short_dcid_len)
			return DP_PARSE_QUIC_SHORT_TRUNC;
		info->quic_type = DP_QUIC_SHORT;
		info->version = 0;
		info->dcid_len = short_dcid_len;
		info->dcid_off = (uint16_t)(base + 1);
		return DP_PARSE_OK;
	}

	/* RFC 8999 §5.1 invariants: flags, version, DCID len + DCID, SCID len + SCID. */
	if (len < 6)
		return DP_PARSE_QUIC_LONG_TRUNC;
	info->version = dp_rd32(q + 1);
	info->dcid_len = q[5];
	if (info->dcid_len > DP_QUIC_CID_MAX)
		return DP_PARSE_QUIC_CID_LEN;
	off = 6u + info->dcid_len;
	if (len < off + 1)
		return DP_PARSE_QUIC_LONG_TRUNC;
	info->dcid_off = (uint16_t)(base + 6);
	info->scid_len = q[off];
	if (info->scid_len > DP_QUIC_CID_MAX)
		return DP_PARSE_QUIC_CID_LEN;
	if (len < off + 1 + info->scid_len)
		return DP_PARSE_QUIC_LONG_TRUNC;
	info->scid_off = (uint16_t)(base + off + 1);
	off += 1u + info->scid_len;

	if (info->version == 0) {
		/* RFC 9000 §17.2.1: Version Negotiation; the fixed bit is unused. */
		info->quic_type = DP_QUIC_VERSION_NEG;
		return DP_PARSE_OK;
	}
	/* RFC 9000 §17.2: the fixed bit of a v1 long header is 1 (greasable, RFC 9287). */
	if (require_bit && info->version == DP_QUIC_V1 && !(b0 & 0x40))
		return DP_PARSE_QUIC_FIXED_BIT;
	if (info->version != DP_QUIC_V1) {
		info->quic_type = DP_QUIC_UNKNOWN_VERSION;
		return DP_PARSE_OK;
	}
	info->quic_type = (b0 >> 4) & 0x03; /* RFC 9000 Table 5 */
	if (info->quic_type == DP_QUIC_INITIAL) {
		/* RFC 9000 §17.2.2: Token Length (varint), then the token. */
		uint64_t tlen;
		uint32_t n = dp_quic_varint(q + off, len - off, &tlen);

		if (n == 0 || tlen > len - off - n)
			return DP_PARSE_QUIC_TOKEN;
		info->token_len = tlen > UINT16_MAX ? UINT16_MAX : (uint16_t)tlen;
		if (tlen)
			info->flags |= DP_PKT_F_TOKEN;
	}
	return DP_PARSE_OK;
}

/* Is UDP port @port (network order) one of cfg->stoq_ports? */
static inline bool dp_port_listed(const struct dp_parse_cfg *cfg, uint16_t port)
{
	bool hit = false;

	for (uint8_t i = 0; i < cfg->n_stoq_ports; i++)
		hit |= cfg->stoq_ports[i] == port;
	return hit;
}

/* RFC 8200 §4: extension headers we walk to reach UDP. */
static inline bool dp_ip6_is_ext(uint8_t nh)
{
	return nh == 0 || nh == 43 || nh == 60 || nh == 44 || nh == 51;
}

/*
 * The general parser: every layout dp_parse.h names. dp_parse_frame_impl
 * tries the fast path first and comes here for everything else.
 */
static inline __attribute__((always_inline)) enum dp_parse_result
dp_parse_frame_general(const uint8_t *f, uint32_t len,
		       const struct dp_parse_cfg *cfg, struct dp_pkt_info *info)
{
	uint32_t off = DP_ETH_HLEN, end, l4_len;
	uint16_t etype;
	uint8_t proto;

	info->n_vlan = 0;
	info->flags = 0;
	if (len < DP_ETH_HLEN)
		return DP_PARSE_ETH_TRUNC;
	etype = dp_rd16(f + 12);
	while (etype == DP_ETHER_VLAN || etype == DP_ETHER_QINQ) {
		if (info->n_vlan == DP_VLAN_MAX)
			return DP_PARSE_VLAN_DEPTH;
		if (len < off + 4)
			return DP_PARSE_VLAN_TRUNC;
		info->vlan_tci[info->n_vlan++] = dp_rd16(f + off);
		etype = dp_rd16(f + off + 2);
		off += 4;
	}
	info->l3_off = (uint16_t)off;

	if (etype == DP_ETHER_IPV4) {
		const uint8_t *ip = f + off;
		uint32_t ihl, tot;
		uint16_t frag;

		if (len < off + 20)
			return DP_PARSE_IP4_TRUNC;
		ihl = (ip[0] & 0x0f) * 4u;
		if ((ip[0] >> 4) != 4 || ihl < 20)
			return DP_PARSE_IP4_HDR;
		if (len < off + ihl)
			return DP_PARSE_IP4_TRUNC;
		tot = dp_rd16(ip + 2);
		/* Use the IP length, not the frame's: Ethernet pads short frames. */
		if (tot < ihl || tot > len - off)
			return DP_PARSE_IP4_LEN;
		if (ihl > 20)
			info->flags |= DP_PKT_F_IP4_OPTIONS;
		frag = dp_rd16(ip + 6);
		if (frag & 0x1fff)
			return DP_PARSE_IP4_FRAG;
		if (frag & 0x2000)
			info->flags |= DP_PKT_F_FRAGMENT;
		proto = ip[9];
		info->ip_version = 4;
		memcpy(info->src, ip + 12, 4);
		memcpy(info->dst, ip + 16, 4);
		end = off + tot;
		off += ihl;
	} else if (etype == DP_ETHER_IPV6) {
		const uint8_t *ip = f + off;
		unsigned int n_ext = 0;

		if (len < off + 40)
			return DP_PARSE_IP6_TRUNC;
		if ((ip[0] >> 4) != 6)
			return DP_PARSE_NOT_IP; /* EtherType said IPv6, the header does not */
		end = off + 40u + dp_rd16(ip + 4);
		if (end > len)
			return DP_PARSE_IP6_LEN;
		proto = ip[6];
		info->ip_version = 6;
		memcpy(info->src, ip + 8, 16);
		memcpy(info->dst, ip + 24, 16);
		off += 40;
		while (dp_ip6_is_ext(proto)) {
			uint32_t hlen;

			if (++n_ext > DP_IP6_EXT_MAX)
				return DP_PARSE_IP6_EXT_DEPTH;
			info->flags |= DP_PKT_F_IP6_EXT;
			if (end < off + 8)
				return DP_PARSE_IP6_EXT_TRUNC;
			if (proto == 44) {
				/* RFC 8200 §4.5: fragment header, 8 bytes. */
				uint16_t fo = dp_rd16(f + off + 2);

				if (fo & 0xfff8)
					return DP_PARSE_IP6_FRAG;
				if (fo & 1)
					info->flags |= DP_PKT_F_FRAGMENT;
				hlen = 8;
			} else if (proto == 51) {
				hlen = (f[off + 1] + 2u) * 4u; /* RFC 4302 §2.2 */
			} else {
				hlen = (f[off + 1] + 1u) * 8u;
			}
			if (end < off + hlen)
				return DP_PARSE_IP6_EXT_TRUNC;
			proto = f[off];
			off += hlen;
		}
	} else {
		return DP_PARSE_NOT_IP;
	}

	if (proto != DP_IPPROTO_UDP_)
		return DP_PARSE_NOT_UDP;
	info->l4_off = (uint16_t)off;
	if (end < off + 8)
		return DP_PARSE_UDP_TRUNC;
	l4_len = dp_rd16(f + off + 4);
	if (l4_len < 8 || l4_len > end - off)
		return DP_PARSE_UDP_LEN;
	memcpy(&info->sport, f + off, 2);
	memcpy(&info->dport, f + off + 2, 2);
	if (cfg->n_stoq_ports) {
		bool to = dp_port_listed(cfg, info->dport);

		if (!to && !(cfg->accept_sport && dp_port_listed(cfg, info->sport)))
			return DP_PARSE_UDP_PORT;
		if (!to) {
			/*
			 * A server's reply (router mode): forwarded by its
			 * addresses, its QUIC header is not ours to judge (a
			 * server may grease the fixed bit, RFC 9287). QUIC never
			 * sends an empty datagram, so neither may a reply.
			 */
			if (l4_len == 8)
				return DP_PARSE_QUIC_EMPTY;
			info->quic_off = (uint16_t)(off + 8);
			info->quic_len = (uint16_t)(l4_len - 8);
			info->quic_type = DP_QUIC_SHORT;
			info->dcid_len = 0;
			info->dcid_off = 0;
			info->scid_len = 0;
			info->scid_off = 0;
			info->token_len = 0;
			info->version = 0;
			info->flags |= DP_PKT_F_REPLY;
			return DP_PARSE_OK;
		}
	}
	off += 8;
	info->quic_off = (uint16_t)off;
	info->quic_len = (uint16_t)(l4_len - 8);
	return dp_parse_quic_impl(f + off, info->quic_len, (uint16_t)off, cfg->short_dcid_len,
				  cfg->require_quic_bit, info);
}

/*
 * The layout nearly every packet of a mesh has: untagged Ethernet, IPv4
 * without options, not a fragment, UDP to a STOQ port, a non-empty QUIC
 * payload. Recognised with a masked wide compare and two range checks of
 * the lengths instead of the general parser's chain of dependent branches
 * (a third of the per-packet cost on a cache-resident loop). Everything else, including
 * every malformed frame, takes the general path, so the two agree on every
 * input: fuzz_parse and test_parse check that they do.
 *
 * Everything the fast path reads lies in the first 43 bytes, which it
 * checks the frame has: two 16-byte loads (bytes 12..27: EtherType to the
 * source address; bytes 26..41: addresses, ports, UDP length and checksum)
 * and the first QUIC byte.
 */
#define DP_FAST_MIN_LEN 43u /* Ethernet 14 + IPv4 20 + UDP 8 + one QUIC byte */
#define DP_FAST_L3 DP_ETH_HLEN
#define DP_FAST_L4 (DP_ETH_HLEN + 20)
#define DP_FAST_Q (DP_ETH_HLEN + 28)
#define DP_FAST_NO (-1) /* dp_parse_fast_try: not taken */

/* A destination port other than the first STOQ port: are all ports accepted, or is it listed? */
static inline bool dp_parse_port_ok(const struct dp_parse_cfg *cfg, uint16_t dport)
{
	return cfg->n_stoq_ports == 0 || dp_port_listed(cfg, dport);
}

/*
 * The fast path's lengths, @len >= DP_FAST_MIN_LEN: IPv4 total length
 * @tot holds the headers and one QUIC byte and lies inside the frame
 * (29 <= tot <= len - 14); UDP length @ul holds its header and one byte and
 * lies inside the IP payload (9 <= ul <= tot - 20). As two unsigned range
 * compares: fewer values live in the RX loop than four compares need.
 */
static inline bool dp_fast_lengths_ok(uint32_t tot, uint32_t ul, uint32_t len)
{
	return (tot - 29u <= len - (DP_ETH_HLEN + 29u)) & (ul - 9u <= tot - 29u);
}

#if defined(__SSE4_1__) && defined(__SSSE3__) && !defined(DP_PARSE_NO_SIMD)
#include <smmintrin.h>
#include <tmmintrin.h>
#define DP_PARSE_SIMD 1
#else
#define DP_PARSE_SIMD 0 /* the same checks with 64-bit words */
#endif

/*
 * Constants of the fast path for one configuration, built once (per
 * burst) by dp_parse_fast_prep so the per-packet work is loads, compares
 * and shuffles.
 */
struct dp_parse_fast {
#if DP_PARSE_SIMD
	__m128i want, mask; /* bytes 12..27 as they must be, and which bits count */
	__m128i head_short; /* dp_pkt_info bytes 0..15 of a short header but quic_len */
	__m128i head_long;  /* the same for a long header: L2..L4 fields and dcid_off */
	__m128i v1_tail;    /* dp_pkt_info bytes 16..31 of a v1 long header: version */
	__m128i ports_shuf; /* bytes 26..41 -> dp_pkt_info bytes 16..31 */
#endif
	const struct dp_parse_cfg *cfg;
	uint16_t port0; /* the first STOQ port (network order): tested inline */
	uint8_t dcid_len;
	bool require_bit;
};

static inline __attribute__((always_inline)) void
dp_parse_fast_prep(struct dp_parse_fast *fp, const struct dp_parse_cfg *cfg)
{
#if DP_PARSE_SIMD
	/*
	 * Bytes 12..27: EtherType 0x0800 (12, 13), version 4 with IHL 5 (14),
	 * flags and fragment offset without DF zero (20 & 0x3f, 21), protocol
	 * UDP (23); total length (16, 17) is checked as a number.
	 */
	fp->want = _mm_setr_epi8(0x08, 0x00, 0x45, 0, 0, 0, 0, 0, 0, 0, 0, DP_IPPROTO_UDP_,
				 0, 0, 0, 0);
	fp->mask = _mm_setr_epi8(-1, -1, -1, 0, 0, 0, 0, 0, 0x3f, -1, 0, -1, 0, 0, 0, 0);
	/* l3_off, l4_off, quic_off, quic_len (set per packet), n_vlan 0,
	 * ip_version 4, flags 0, quic_type, dcid_len, scid_len 0, dcid_off. */
	fp->head_long = _mm_setr_epi8(DP_FAST_L3, 0, DP_FAST_L4, 0, DP_FAST_Q, 0, 0, 0, 0, 4, 0,
				      0, 0, 0, DP_FAST_Q + 6, 0);
	fp->v1_tail = _mm_setr_epi16(0, 0, DP_QUIC_V1 & 0xffff, DP_QUIC_V1 >> 16, 0, 0, 0, 0);
	fp->head_short = _mm_setr_epi8(DP_FAST_L3, 0, DP_FAST_L4, 0, DP_FAST_Q, 0, 0, 0, 0, 4, 0,
				       DP_QUIC_SHORT, (char)cfg->short_dcid_len, 0, DP_FAST_Q + 1,
				       0);
	/* scid_off, token_len, version: 0; sport, dport: bytes 34..37; VLAN: 0. */
	fp->ports_shuf = _mm_setr_epi8(-128, -128, -128, -128, -128, -128, -128, -128, 8, 9, 10,
				       11, -128, -128, -128, -128);
#endif
	fp->cfg = cfg;
	fp->port0 = cfg->stoq_ports[0];
	fp->dcid_len = cfg->short_dcid_len;
	fp->require_bit = cfg->require_quic_bit;
}

#if DP_PARSE_SIMD
/*
 * The long header @q (@qlen bytes, first byte @b0) of a fast-layout frame,
 * @ports the frame's bytes 16..31 of dp_pkt_info. The common case, a v1
 * packet with CIDs of at most 20 bytes and a one-byte token length, is
 * decided here with a few loads and the results written as two vectors
 * (the general reader, dp_parse_quic_impl, stores field by field and
 * reads a varint byte by byte: an Initial cost ~15 TSC ticks more than a
 * short header). Anything else (version negotiation, other versions,
 * long tokens, every malformed header) goes to dp_parse_quic_impl, so the
 * two agree: where this accepts, so does it, with the same fields.
 */
static inline __attribute__((always_inline)) int
dp_parse_fast_long(const uint8_t *q, uint32_t qlen, uint8_t b0, __m128i ports,
		   const struct dp_parse_fast *fp, struct dp_pkt_info *info)
{
	uint32_t ver, dl, sl, off, type, tlen = 0;
	__m128i head;

	if (qlen < 8) /* flags, version, DCID length, SCID length, one more byte */
		goto general;
	memcpy(&ver, q + 1, 4);
	dl = q[5];
	/* q[6 + dl] is the SCID length: qlen >= 8 + dl holds it and one more byte */
	if (ver != rte_cpu_to_be_32(DP_QUIC_V1) || dl > DP_QUIC_CID_MAX || qlen < 8u + dl ||
	    (fp->require_bit && !(b0 & 0x40)))
		goto general;
	sl = q[6 + dl];
	off = 7u + dl + sl; /* first byte after the SCID */
	if (sl > DP_QUIC_CID_MAX || qlen <= off)
		goto general;
	type = (b0 >> 4) & 0x03; /* RFC 9000 Table 5 */
	if (type == DP_QUIC_INITIAL) {
		/* RFC 9000 §17.2.2: a one-byte varint (top bits 00) and the token after it */
		tlen = q[off];
		if (tlen > 63 || tlen > qlen - off - 1)
			goto general;
	}
	head = _mm_insert_epi16(fp->head_long, (int)qlen, 3);
	head = _mm_insert_epi16(head, (int)((tlen ? DP_PKT_F_TOKEN : 0) | (type << 8)), 5);
	head = _mm_insert_epi16(head, (int)(dl | (sl << 8)), 6);
	ports = _mm_or_si128(ports, fp->v1_tail);
	ports = _mm_insert_epi16(ports, (int)(DP_FAST_Q + 7 + dl), 0); /* scid_off */
	ports = _mm_insert_epi16(ports, (int)tlen, 1);
	_mm_storeu_si128((__m128i *)(void *)((uint8_t *)info + 16), ports);
	_mm_storeu_si128((__m128i *)(void *)info, head);
	return (int)type;
general:
	_mm_storeu_si128((__m128i *)(void *)((uint8_t *)info + 16), ports);
	_mm_storeu_si128((__m128i *)(void *)info, _mm_insert_epi16(fp->head_long, (int)qlen, 3));
	if (dp_parse_quic_impl(q, qlen, DP_FAST_Q, fp->dcid_len, fp->require_bit, info) !=
	    DP_PARSE_OK)
		return DP_FAST_NO;
	return info->quic_type;
}

/*
 * The fast path alone: when @f has the fast layout and parses OK, fills
 * @info and returns its QUIC type (enum dp_quic_type); otherwise returns
 * DP_FAST_NO and the general parser must decide (another layout, or a
 * malformed packet: it finds the reason). No call inside, so the RX loop
 * that inlines it keeps its state in registers. The type is returned, not
 * read back from @info by the caller: a byte load from a 16-byte store
 * just made does not forward on every CPU (measured on AMD Zen: a third
 * of the loop's time).
 */
static inline __attribute__((always_inline)) int
dp_parse_fast_try(const uint8_t *f, uint32_t len, const struct dp_parse_fast *fp,
		  struct dp_pkt_info *info)
{
	__m128i a, c, ports;
	uint32_t tot, ul, qlen;
	uint16_t dport;
	uint8_t b0;

	if (len < DP_FAST_MIN_LEN)
		return DP_FAST_NO;
	a = _mm_loadu_si128((const __m128i *)(const void *)(f + 12));
	/* Not untagged IPv4/UDP without options: out at once (the parse-and-drop path). */
	if (_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_and_si128(a, fp->mask), fp->want)) != 0xffff)
		return DP_FAST_NO;
	c = _mm_loadu_si128((const __m128i *)(const void *)(f + 26));
	tot = __builtin_bswap16((uint16_t)_mm_extract_epi16(a, 2));
	ul = __builtin_bswap16((uint16_t)_mm_extract_epi16(c, 6));
	dport = (uint16_t)_mm_extract_epi16(c, 5);
	if (unlikely(!dp_fast_lengths_ok(tot, ul, len)) ||
	    unlikely(dport != fp->port0 && !dp_parse_port_ok(fp->cfg, dport)))
		return DP_FAST_NO;

	qlen = ul - 8;
	b0 = f[DP_FAST_Q];
	ports = _mm_shuffle_epi8(c, fp->ports_shuf);
	/* An IPv4 address is the first 4 bytes of src and dst; the rest is
	 * unspecified (dp_pkt_info), so no mask. */
	_mm_storeu_si128((__m128i *)(void *)info->src, c);
	_mm_storeu_si128((__m128i *)(void *)info->dst, _mm_srli_si128(c, 4));
	if (likely(!(b0 & 0x80))) {
		/* RFC 9000 §17.3.1, as in dp_parse_quic_impl. */
		if ((fp->require_bit && !(b0 & 0x40)) || qlen < 1u + fp->dcid_len)
			return DP_FAST_NO;
		_mm_storeu_si128((__m128i *)(void *)((uint8_t *)info + 16), ports);
		_mm_storeu_si128((__m128i *)(void *)info,
				 _mm_insert_epi16(fp->head_short, (int)qlen, 3));
		return DP_QUIC_SHORT;
	}
	return dp_parse_fast_long(f + DP_FAST_Q, qlen, b0, ports, fp, info);
}

/*
 * The pair path (x86-64 with AVX2, chosen at run time: dp_parse_pair_usable):
 * two frames at once, one per 128-bit lane, for the case that is nearly
 * all of a mesh's traffic, two short headers of the fast layout to the
 * first STOQ port. It does what dp_parse_fast_try does for each, with the
 * lengths checked as words in a vector instead of extracted one by one:
 * the single path's ~60 instructions a packet are mostly extracts, scalar
 * compares and shuffles that a lane per frame does once for both. A frame
 * it does not take (a long header, another port, any check failing) is
 * left to dp_parse_fast_try, which decides it; the other frame of the pair
 * is still taken here when it passes.
 *
 * Per lane, A holds bytes 12..27 of its frame and Q bytes 28..43 (so a
 * frame must have 44 bytes: one short of the single path's minimum, a
 * frame of 43 goes to it). The lengths are four unsigned word compares,
 * X <= Y word by word, min(X, Y) == X:
 *   X: tot,     ul,       29,  9 + dcid_len
 *   Y: len-14,  tot-20,   tot, ul
 * that is 29 <= tot <= len - 14 and 9 + dcid_len <= ul <= tot - 20: the
 * single path's two range checks and its short-header length check (a
 * tot below 20 wraps tot - 20, but then 29 <= tot fails in the same
 * compare, and the pair is taken only when every word passes).
 */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(DP_PARSE_NO_PAIR)
#include <immintrin.h>
#define DP_PARSE_PAIR 1
#define DP_PAIR_MIN_LEN 44u
#define DP_PAIR_Q 28 /* where Q starts in the frame */

struct dp_parse_pair {
	__m256i mask_a, want_a; /* bytes 12..27, as dp_parse_fast's mask and want */
	__m256i mask_q, want_q; /* bytes 28..43: destination port (36, 37), first QUIC byte (42) */
	__m256i x_a, x_q, x_k;	/* X: shuffles of A and Q, and its constant words */
	__m256i y_a, y_q, y_k;	/* Y: the same, y_k subtracted */
	__m256i head_q, head;	/* dp_pkt_info bytes 0..15: quic_len from Q, head_short - 8 */
	__m256i ports_shuf;
};

/* Both lanes the same 16 bytes. */
static inline __attribute__((always_inline, target("avx2"))) __m256i dp_pair_both(__m128i v)
{
	return _mm256_broadcastsi128_si256(v);
}

static inline __attribute__((always_inline, target("avx2"))) void
dp_parse_pair_prep(struct dp_parse_pair *pp, const struct dp_parse_fast *fp)
{
	const uint8_t *port0 = (const uint8_t *)&fp->port0;
	const char q_bits = (char)(fp->require_bit ? 0xc0 : 0x80); /* long-header bit, fixed bit */
	const char port_bits = fp->cfg->n_stoq_ports ? -1 : 0;	   /* none listed: any port */

	pp->mask_a = dp_pair_both(fp->mask);
	pp->want_a = dp_pair_both(fp->want);
	pp->mask_q = dp_pair_both(_mm_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, port_bits, port_bits, 0,
						 0, 0, 0, q_bits, 0));
	pp->want_q = dp_pair_both(_mm_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0,
						 (char)(port0[0] & port_bits),
						 (char)(port0[1] & port_bits), 0, 0, 0, 0,
						 (char)(fp->require_bit ? 0x40 : 0), 0));
	/* tot is A's bytes 4, 5 (big endian); ul is Q's bytes 10, 11. */
	pp->x_a = dp_pair_both(_mm_setr_epi8(5, 4, -128, -128, -128, -128, -128, -128, -128, -128,
					      -128, -128, -128, -128, -128, -128));
	pp->x_q = dp_pair_both(_mm_setr_epi8(-128, -128, 11, 10, -128, -128, -128, -128, -128,
					      -128, -128, -128, -128, -128, -128, -128));
	pp->x_k = dp_pair_both(_mm_setr_epi16(0, 0, 29, (short)(9 + fp->dcid_len), 0, 0, 0, 0));
	pp->y_a = dp_pair_both(_mm_setr_epi8(-128, -128, 5, 4, 5, 4, -128, -128, -128, -128, -128,
					      -128, -128, -128, -128, -128));
	pp->y_q = dp_pair_both(_mm_setr_epi8(-128, -128, -128, -128, -128, -128, 11, 10, -128,
					      -128, -128, -128, -128, -128, -128, -128));
	pp->y_k = dp_pair_both(_mm_setr_epi16(14, 20, 0, 0, 0, 0, 0, 0));
	/* quic_len = ul - 8, in word 3 of head_short */
	pp->head_q = dp_pair_both(_mm_setr_epi8(-128, -128, -128, -128, -128, -128, 11, 10, -128,
						 -128, -128, -128, -128, -128, -128, -128));
	pp->head = dp_pair_both(_mm_insert_epi16(fp->head_short, -8, 3));
	pp->ports_shuf = dp_pair_both(fp->ports_shuf);
}

/*
 * dp_parse_pair's constants for @cfg (dp_parse.c): what a loop builds once
 * and copies per burst.
 */
void dp_parse_pair_build(struct dp_parse_pair *pp, const struct dp_parse_cfg *cfg);

/* Two 16-byte loads, one a lane. */
static inline __attribute__((always_inline, target("avx2"))) __m256i
dp_pair_load(const uint8_t *p0, const uint8_t *p1)
{
	return _mm256_inserti128_si256(
		_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)p0)),
		_mm_loadu_si128((const __m128i *)(const void *)p1), 1);
}

/* One lane of @v: the first frame's, or with @hi the second's. */
static inline __attribute__((always_inline, target("avx2"))) __m128i dp_pair_lane(__m256i v,
										   bool hi)
{
	return hi ? _mm256_extracti128_si256(v, 1) : _mm256_castsi256_si128(v);
}

/* One lane's result (@hi: the second frame's) to @info. */
static inline __attribute__((always_inline, target("avx2"))) void
dp_pair_store_lane(struct dp_pkt_info *info, bool hi, __m256i head, __m256i ports, __m256i c,
		   __m256i dst)
{
	_mm_storeu_si128((__m128i *)(void *)info, dp_pair_lane(head, hi));
	_mm_storeu_si128((__m128i *)(void *)((uint8_t *)info + 16), dp_pair_lane(ports, hi));
	_mm_storeu_si128((__m128i *)(void *)info->src, dp_pair_lane(c, hi));
	_mm_storeu_si128((__m128i *)(void *)info->dst, dp_pair_lane(dst, hi));
}

/*
 * Frames @f0 and @f1 (@len0, @len1 bytes): returns which of them are short
 * headers the fast path takes, bit 0 for @f0 and bit 1 for @f1, and writes
 * their results, byte for byte what dp_parse_fast_try writes, to @i0 and
 * @i1; a frame it does not take is left to dp_parse_fast_try (its result
 * untouched). A pair with one long header (an Initial among short headers)
 * still has the other frame decided here.
 */
static inline __attribute__((always_inline, target("avx2"))) unsigned int
dp_parse_fast_pair(const uint8_t *f0, uint16_t len0, const uint8_t *f1, uint16_t len1,
		   const struct dp_parse_pair *pp, struct dp_pkt_info *i0, struct dp_pkt_info *i1)
{
	__m256i a, q, len, x, y, ok, c, dst, ports, head;
	uint32_t m;
	unsigned int took;

	if (len0 < DP_PAIR_MIN_LEN || len1 < DP_PAIR_MIN_LEN)
		return 0;
	a = dp_pair_load(f0 + 12, f1 + 12);
	q = dp_pair_load(f0 + DP_PAIR_Q, f1 + DP_PAIR_Q);
	len = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_cvtsi32_si128((int)len0)),
				      _mm_cvtsi32_si128((int)len1), 1);
	x = _mm256_or_si256(_mm256_or_si256(_mm256_shuffle_epi8(a, pp->x_a),
					    _mm256_shuffle_epi8(q, pp->x_q)),
			    pp->x_k);
	y = _mm256_or_si256(_mm256_or_si256(_mm256_shuffle_epi8(a, pp->y_a),
					    _mm256_shuffle_epi8(q, pp->y_q)),
			    len);
	y = _mm256_sub_epi16(y, pp->y_k);
	ok = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(a, pp->mask_a), pp->want_a),
			      _mm256_cmpeq_epi8(_mm256_and_si256(q, pp->mask_q), pp->want_q));
	ok = _mm256_and_si256(ok, _mm256_cmpeq_epi16(_mm256_min_epu16(x, y), x));
	m = (uint32_t)_mm256_movemask_epi8(ok);
	/* Bytes 26..41 of each frame, as dp_parse_fast_try's c. */
	c = _mm256_alignr_epi8(q, a, 14);
	dst = _mm256_srli_si256(c, 4);
	ports = _mm256_shuffle_epi8(c, pp->ports_shuf);
	head = _mm256_add_epi16(pp->head, _mm256_shuffle_epi8(q, pp->head_q));
	if (likely(m == UINT32_MAX)) {
		dp_pair_store_lane(i0, false, head, ports, c, dst);
		dp_pair_store_lane(i1, true, head, ports, c, dst);
		return 3;
	}
	took = ((m & 0xffff) == 0xffff) | (unsigned int)((m >> 16) == 0xffff) << 1;
	if (took & 1)
		dp_pair_store_lane(i0, false, head, ports, c, dst);
	if (took & 2)
		dp_pair_store_lane(i1, true, head, ports, c, dst);
	return took;
}
#endif /* pair path */

#else /* no SSE4.1 */

/* Bytes 12..19: EtherType 0x0800, version 4 with IHL 5. */
#define DP_FAST_W0_MASK 0xffffff0000000000ull
#define DP_FAST_W0_WANT 0x0800450000000000ull
/* Bytes 16..23: flags/fragment offset without DF (bits 0x3fff) zero; protocol 17. */
#define DP_FAST_W1_MASK 0x000000003fff00ffull
#define DP_FAST_W1_WANT 0x0000000000000011ull

static inline uint64_t dp_rd64_raw(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

static inline __attribute__((always_inline)) int
dp_parse_fast_try(const uint8_t *f, uint32_t len, const struct dp_parse_fast *fp,
		  struct dp_pkt_info *info)
{
	uint32_t tot, ul, qlen;
	uint16_t dport;
	bool ok;

	if (len < DP_FAST_MIN_LEN || (dp_rd64_raw(f + 12) & rte_cpu_to_be_64(DP_FAST_W0_MASK)) !=
					     rte_cpu_to_be_64(DP_FAST_W0_WANT))
		return DP_FAST_NO;
	tot = dp_rd16(f + 16);
	ul = dp_rd16(f + 38);
	memcpy(&dport, f + 36, 2);
	ok = ((dp_rd64_raw(f + 16) & rte_cpu_to_be_64(DP_FAST_W1_MASK)) ==
	      rte_cpu_to_be_64(DP_FAST_W1_WANT)) &
	     dp_fast_lengths_ok(tot, ul, len);
	if (unlikely(!ok) || unlikely(dport != fp->port0 && !dp_parse_port_ok(fp->cfg, dport)))
		return DP_FAST_NO;
	qlen = ul - 8;
	info->l3_off = DP_FAST_L3;
	info->l4_off = DP_FAST_L4;
	info->quic_off = DP_FAST_Q;
	info->quic_len = (uint16_t)qlen;
	info->n_vlan = 0;
	info->ip_version = 4;
	info->flags = 0;
	memcpy(&info->sport, f + 34, 2);
	info->dport = dport;
	memcpy(info->src, f + 26, 4);
	memcpy(info->dst, f + 30, 4);
	if (dp_parse_quic_impl(f + DP_FAST_Q, qlen, DP_FAST_Q, fp->dcid_len, fp->require_bit,
			       info) != DP_PARSE_OK)
		return DP_FAST_NO;
	return info->quic_type;
}
#endif

/* The parser, fast path first, for one frame (dp_parse_frame). */
static inline __attribute__((always_inline)) enum dp_parse_result
dp_parse_frame_impl(const uint8_t *f, uint32_t len,
		    const struct dp_parse_cfg *cfg, struct dp_pkt_info *info)
{
	struct dp_parse_fast fp;

	dp_parse_fast_prep(&fp, cfg);
	if (dp_parse_fast_try(f, len, &fp, info) != DP_FAST_NO)
		return DP_PARSE_OK;
	return dp_parse_frame_general(f, len, cfg, info);
}

#endif /* DP_PARSE_IMPL_H */
