/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dp_parse — bounds-checked parsing of a received frame down to the QUIC
 * header: Ethernet, up to two VLAN tags (802.1Q / 802.1ad), IPv4 (options,
 * fragments), IPv6 (extension headers walked to UDP), UDP, then the QUIC
 * invariant header (RFC 8999) and, for QUIC v1 (RFC 9000 §17), the long
 * header packet type and Initial token length.
 *
 * Every byte read is checked against the length given; a malformed frame
 * yields one drop reason from DP_PARSE_RESULTS and never a read past @len.
 * The parser allocates nothing, takes no lock, makes no syscall and logs
 * nothing: it is called once per packet on RX lcores.
 *
 * Threading: all functions are pure (no global state); any lcore may call
 * them concurrently.
 */
#ifndef DP_PARSE_H
#define DP_PARSE_H

#include <stdbool.h>
#include <stdint.h>

/* RFC 9000 §17.2: connection IDs in QUIC v1 are at most 20 bytes. */
#define DP_QUIC_CID_MAX 20
/* Deepest IPv6 extension header chain walked before giving up. */
#define DP_IP6_EXT_MAX 8
/* Most VLAN tags accepted (QinQ). */
#define DP_VLAN_MAX 2

#define DP_QUIC_V1 0x00000001u

/*
 * Parse outcomes. X(ENUM, name, description): the one list from which the
 * enum, the counter names in stats and telemetry, and the metric label
 * values are generated (STYLE §7). DP_PARSE_OK is the only non-drop result.
 */
#define DP_PARSE_RESULTS(X)                                                                        \
	X(OK, ok, "parsed to a QUIC header")                                                       \
	X(ETH_TRUNC, eth_truncated, "frame shorter than an Ethernet header")                       \
	X(VLAN_TRUNC, vlan_truncated, "frame ends inside a VLAN tag")                              \
	X(VLAN_DEPTH, vlan_too_deep, "more than two VLAN tags")                                   \
	X(NOT_IP, not_ip, "EtherType is neither IPv4 nor IPv6")                                    \
	X(IP4_TRUNC, ip4_truncated, "frame ends inside the IPv4 header")                          \
	X(IP4_HDR, ip4_bad_header, "IPv4 version or IHL invalid")                                 \
	X(IP4_LEN, ip4_bad_length, "IPv4 total length shorter than its header or beyond the frame") \
	X(IP4_FRAG, ip4_fragment, "IPv4 non-first fragment: no UDP header to parse")             \
	X(IP6_TRUNC, ip6_truncated, "frame ends inside the IPv6 header")                          \
	X(IP6_LEN, ip6_bad_length, "IPv6 payload length beyond the frame")                        \
	X(IP6_EXT_TRUNC, ip6_ext_truncated, "IPv6 extension header runs past the packet")         \
	X(IP6_EXT_DEPTH, ip6_ext_too_deep, "IPv6 extension header chain longer than the limit")    \
	X(IP6_FRAG, ip6_fragment, "IPv6 non-first fragment: no UDP header to parse")             \
	X(NOT_UDP, not_udp, "transport protocol is not UDP")                                       \
	X(UDP_TRUNC, udp_truncated, "packet ends inside the UDP header")                          \
	X(UDP_LEN, udp_bad_length, "UDP length below 8 or beyond the IP payload")                 \
	X(UDP_PORT, udp_port, "UDP destination port is not a STOQ port")                          \
	X(QUIC_EMPTY, quic_empty, "UDP payload is empty")                                          \
	X(QUIC_FIXED_BIT, quic_fixed_bit, "QUIC fixed bit is 0 and quic_bit = set (RFC 9000 §17.2; RFC 9287 lets peers grease it)")                  \
	X(QUIC_LONG_TRUNC, quic_long_truncated, "long header ends before its CIDs end")           \
	X(QUIC_CID_LEN, quic_cid_too_long, "long header CID length above 20")                     \
	X(QUIC_TOKEN, quic_bad_token, "Initial token length runs past the datagram")              \
	X(QUIC_SHORT_TRUNC, quic_short_truncated, "short header shorter than 1 + DCID length")

enum dp_parse_result {
#define DP_PARSE_ENUM(e, n, d) DP_PARSE_##e,
	DP_PARSE_RESULTS(DP_PARSE_ENUM)
#undef DP_PARSE_ENUM
	DP_PARSE__COUNT
};

/* Counter/metric name of a result (e.g. "ip4_fragment"); "?" when out of range. */
const char *dp_parse_result_name(enum dp_parse_result r);
/* One-line description of a result. */
const char *dp_parse_result_desc(enum dp_parse_result r);

/* QUIC packet kinds. Long-header types follow RFC 9000 §17.2 Table 5. */
enum dp_quic_type {
	DP_QUIC_INITIAL = 0,
	DP_QUIC_0RTT = 1,
	DP_QUIC_HANDSHAKE = 2,
	DP_QUIC_RETRY = 3,
	DP_QUIC_VERSION_NEG = 4, /* long header, version 0 (RFC 9000 §17.2.1) */
	DP_QUIC_SHORT = 5,	 /* 1-RTT short header (RFC 9000 §17.3) */
	DP_QUIC_UNKNOWN_VERSION = 6, /* long header, version we do not speak: answer with VN */
};

/* dp_pkt_info.flags */
#define DP_PKT_F_IP4_OPTIONS (1u << 0) /* IPv4 header had options (IHL > 5) */
#define DP_PKT_F_FRAGMENT (1u << 1)    /* first fragment (MF set, offset 0) */
#define DP_PKT_F_IP6_EXT (1u << 2)     /* IPv6 extension headers were walked */
#define DP_PKT_F_TOKEN (1u << 3)       /* Initial carries a non-empty token */
#define DP_PKT_F_REPLY (1u << 4)       /* from a STOQ port to another (accept_sport): QUIC not parsed, counted short */

/*
 * What the parser learnt about one frame. Offsets are from the start of the
 * frame; addresses and ports are copied in network byte order. After
 * DP_PARSE_OK every field is set but VLAN tags past n_vlan and IPv4 address
 * bytes past the fourth; after a drop, fields past the point where parsing
 * stopped are unspecified.
 */
struct dp_pkt_info {
	/* Laid out so the parser's fast path fills it with a few wide stores. */
	uint16_t l3_off;    /* IP header */
	uint16_t l4_off;    /* UDP header */
	uint16_t quic_off;  /* first byte of the UDP payload */
	uint16_t quic_len;  /* UDP payload length (from the UDP header) */
	uint8_t n_vlan;
	uint8_t ip_version; /* 4 or 6 */
	uint8_t flags;	    /* DP_PKT_F_* */
	uint8_t quic_type;  /* enum dp_quic_type */
	uint8_t dcid_len;
	uint8_t scid_len;   /* long header only */
	uint16_t dcid_off;  /* offset of DCID in the frame */
	uint16_t scid_off;  /* long header only */
	uint16_t token_len; /* Initial only; capped at 65535 */
	uint32_t version;   /* host order; 0 for short header and VN */
	uint16_t sport, dport;	/* network byte order */
	uint16_t vlan_tci[DP_VLAN_MAX];
	uint8_t src[16], dst[16]; /* IPv4: the first 4 bytes; the rest unspecified */
};
_Static_assert(sizeof(struct dp_pkt_info) == 64, "dp_pkt_info: one cache line");

/*
 * Parse-time settings, fixed for the life of a port.
 * @short_dcid_len: DCID length of short-header packets, which carry no
 *   length (RFC 9000 §17.3): the length this node's CIDs are issued with.
 * @stoq_ports / @n_stoq_ports: UDP destination ports accepted, network
 *   byte order; n_stoq_ports == 0 accepts every port. With @accept_sport a
 *   packet whose source port is one of them is accepted too.
 */
#define DP_PARSE_PORTS_MAX 16
struct dp_parse_cfg {
	uint8_t short_dcid_len;
	uint8_t n_stoq_ports;
	bool accept_sport; /* router mode: replies, from a STOQ port, are carried too */
	bool require_quic_bit; /* drop packets whose QUIC (fixed) bit is 0 */
	uint16_t stoq_ports[DP_PARSE_PORTS_MAX];
};

/*
 * Parse one contiguous frame of @len bytes.
 * Returns DP_PARSE_OK with @info filled, or the drop reason.
 */
enum dp_parse_result dp_parse_frame(const uint8_t *frame, uint32_t len,
				    const struct dp_parse_cfg *cfg, struct dp_pkt_info *info);

/*
 * The two-frame path of the RX loops (dp_parse_fast_pair in dp_parse_impl.h),
 * for tests and fuzzing: which frames it took, bit 0 for @f0 and bit 1 for
 * @f1, each with the result dp_parse_frame gives it; a frame it left to the
 * one-frame parser has its result untouched. -ENOTSUP where it cannot run
 * (dp_parse_pair_usable).
 */
int dp_parse_pair(const uint8_t *f0, uint32_t len0, const uint8_t *f1, uint32_t len1,
		  const struct dp_parse_cfg *cfg, struct dp_pkt_info *i0, struct dp_pkt_info *i1);

/*
 * For tests and fuzzing: dp_parse_pair on @f0 and @f1, checked against
 * dp_parse_frame: each frame it takes, dp_parse_frame takes with a byte for
 * byte identical result, and it writes nothing for a frame it leaves.
 * Returns NULL when that holds, else what failed; *@took is what
 * dp_parse_pair returned (-ENOTSUP: nothing was checked).
 */
const char *dp_parse_pair_check(const uint8_t *f0, uint32_t len0, const uint8_t *f1,
				uint32_t len1, const struct dp_parse_cfg *cfg, int *took);

/* The build has the pair path and this CPU has AVX2 for it. */
bool dp_parse_pair_usable(void);

/*
 * The general parser alone, without the fast path dp_parse_frame tries
 * first for untagged IPv4/UDP (dp_parse_impl.h). For tests and fuzzing,
 * which check that the two agree on every input.
 */
enum dp_parse_result dp_parse_frame_general_only(const uint8_t *frame, uint32_t len,
						 const struct dp_parse_cfg *cfg,
						 struct dp_pkt_info *info);

/*
 * True when two DP_PARSE_OK results say the same of a frame: every field
 * dp_pkt_info specifies (VLAN tags up to n_vlan, 4 address bytes for IPv4).
 */
bool dp_pkt_info_same(const struct dp_pkt_info *a, const struct dp_pkt_info *b);

/*
 * Parse only the QUIC header of a UDP payload (used by dp_parse_frame and
 * by STOQ/tests): fills the quic_* / cid / version / token fields, with
 * offsets relative to @base (pass 0 for payload-relative offsets).
 */
enum dp_parse_result dp_parse_quic(const uint8_t *payload, uint32_t len, uint16_t base,
				   uint8_t short_dcid_len, struct dp_pkt_info *info);

#endif /* DP_PARSE_H */
