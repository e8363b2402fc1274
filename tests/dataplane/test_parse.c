/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dp_parse: every header path, every drop reason, and hostile input
 * (lengths that lie, CID length 21, IPv6 chains that never end, truncation
 * at every byte). Frames are built here byte by byte, independently of the
 * dataplane's generator.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dp_local.h"
#include "stoq.h"
#include "dp_parse.h"

#define BUF 2048

struct frame {
	uint8_t b[BUF];
	uint32_t n;
	uint32_t l3, l4, ip_len_at, udp_len_at; /* where lengths live, to patch */
	int ipv;
};

static void put(struct frame *f, const void *p, uint32_t n)
{
	cr_assert(f->n + n <= BUF);
	memcpy(f->b + f->n, p, n);
	f->n += n;
}

static void put8(struct frame *f, uint8_t v)
{
	put(f, &v, 1);
}

static void put16(struct frame *f, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };
	put(f, b, 2);
}

static void put32(struct frame *f, uint32_t v)
{
	put16(f, (uint16_t)(v >> 16));
	put16(f, (uint16_t)v);
}

static void set16(struct frame *f, uint32_t at, uint16_t v)
{
	f->b[at] = (uint8_t)(v >> 8);
	f->b[at + 1] = (uint8_t)v;
}

static void eth(struct frame *f, int n_vlan, uint16_t etype)
{
	static const uint8_t macs[12] = { 2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1 };

	memset(f, 0, sizeof(*f));
	put(f, macs, 12);
	for (int i = 0; i < n_vlan; i++) {
		put16(f, i == 0 && n_vlan > 1 ? 0x88a8 : 0x8100);
		put16(f, (uint16_t)(100 + i));
	}
	put16(f, etype);
	f->l3 = f->n;
}

/* IPv4 header with @opt_words 32-bit option words; lengths patched by finish(). */
static void ip4(struct frame *f, int opt_words, uint16_t frag, uint8_t proto)
{
	f->ipv = 4;
	put8(f, (uint8_t)(0x40 | (5 + opt_words)));
	put8(f, 0);
	f->ip_len_at = f->n;
	put16(f, 0);
	put16(f, 1);
	put16(f, frag);
	put8(f, 64);
	put8(f, proto);
	put16(f, 0);
	put32(f, 0x0a000001);
	put32(f, 0x0a640001);
	for (int i = 0; i < opt_words; i++)
		put32(f, 0x01010101); /* NOPs */
}

static void ip6(struct frame *f, uint8_t next)
{
	f->ipv = 6;
	put32(f, 0x60000000);
	f->ip_len_at = f->n;
	put16(f, 0);
	put8(f, next);
	put8(f, 64);
	for (int i = 0; i < 16; i++)
		put8(f, (uint8_t)(0x20 + i));
	for (int i = 0; i < 16; i++)
		put8(f, (uint8_t)(0x40 + i));
}

/* Generic extension header: next, len in 8-byte units beyond the first 8. */
static void ip6_ext(struct frame *f, uint8_t next, uint8_t len8)
{
	put8(f, next);
	put8(f, len8);
	for (int i = 0; i < 6 + 8 * len8; i++)
		put8(f, 0);
}

static void udp(struct frame *f, uint16_t dport)
{
	f->l4 = f->n;
	put16(f, 40000);
	put16(f, dport);
	f->udp_len_at = f->n;
	put16(f, 0);
	put16(f, 0);
}

/* Patch IP and UDP lengths to the bytes written so far. */
static void finish(struct frame *f)
{
	if (f->udp_len_at)
		set16(f, f->udp_len_at, (uint16_t)(f->n - f->l4));
	if (f->ipv == 4)
		set16(f, f->ip_len_at, (uint16_t)(f->n - f->l3));
	else if (f->ipv == 6)
		set16(f, f->ip_len_at, (uint16_t)(f->n - f->l3 - 40));
}

static void quic_long(struct frame *f, uint8_t first, uint32_t version, uint8_t dcil,
		      uint8_t scil, int token_len)
{
	put8(f, first);
	put32(f, version);
	put8(f, dcil);
	for (int i = 0; i < dcil; i++)
		put8(f, (uint8_t)(0xd0 + i));
	put8(f, scil);
	for (int i = 0; i < scil; i++)
		put8(f, (uint8_t)(0x50 + i));
	if (token_len >= 0) {
		if (token_len < 64) {
			put8(f, (uint8_t)token_len);
		} else {
			put16(f, (uint16_t)(0x4000 | token_len));
		}
		for (int i = 0; i < token_len; i++)
			put8(f, 0xee);
		put16(f, 0x4000 | 20); /* Length */
		for (int i = 0; i < 20; i++)
			put8(f, 0);
	}
}

static void quic_short(struct frame *f, uint8_t dcid_len, int extra)
{
	put8(f, 0x43);
	for (int i = 0; i < dcid_len; i++)
		put8(f, (uint8_t)(0xd0 + i));
	for (int i = 0; i < extra; i++)
		put8(f, 0x11);
}

static const struct dp_parse_cfg cfg_all = { .short_dcid_len = 8 };
/* quic_bit = set: the fixed bit is required. */
static const struct dp_parse_cfg cfg_strict = { .short_dcid_len = 8, .require_quic_bit = true };

static enum dp_parse_result parse(struct frame *f, struct dp_pkt_info *pi)
{
	return dp_parse_frame(f->b, f->n, &cfg_all, pi);
}

/* A standard valid frame: untagged IPv4/UDP/short header, 8-byte DCID. */
static void std_short(struct frame *f)
{
	eth(f, 0, 0x0800);
	ip4(f, 0, 0x4000, 17);
	udp(f, 443);
	quic_short(f, 8, 30);
	finish(f);
}

static void std_initial(struct frame *f, int token)
{
	eth(f, 0, 0x0800);
	ip4(f, 0, 0x4000, 17);
	udp(f, 443);
	quic_long(f, 0xc3, 1, 8, 8, token);
	finish(f);
}

Test(parse, ipv4_short_header_fields)
{
	struct frame f;
	struct dp_pkt_info pi;

	std_short(&f);
	cr_assert_eq(parse(&f, &pi), DP_PARSE_OK);
	cr_assert_eq(pi.l3_off, 14);
	cr_assert_eq(pi.l4_off, 34);
	cr_assert_eq(pi.quic_off, 42);
	cr_assert_eq(pi.quic_len, f.n - 42);
	cr_assert_eq(pi.ip_version, 4);
	cr_assert_eq(pi.quic_type, DP_QUIC_SHORT);
	cr_assert_eq(pi.dcid_len, 8);
	cr_assert_eq(pi.dcid_off, 43);
	cr_assert_eq(f.b[pi.dcid_off], 0xd0);
	cr_assert_eq(pi.version, 0);
	cr_assert_eq(pi.n_vlan, 0);
	cr_assert_eq(pi.flags, 0);
	cr_assert_eq(pi.sport, __builtin_bswap16(40000));
	cr_assert_eq(pi.dport, __builtin_bswap16(443));
	cr_assert_eq(memcmp(pi.src, "\x0a\x00\x00\x01", 4), 0);
	cr_assert_eq(memcmp(pi.dst, "\x0a\x64\x00\x01", 4), 0);
}

Test(parse, initial_with_and_without_token)
{
	struct frame f;
	struct dp_pkt_info pi;

	std_initial(&f, 0);
	cr_assert_eq(parse(&f, &pi), DP_PARSE_OK);
	cr_assert_eq(pi.quic_type, DP_QUIC_INITIAL);
	cr_assert_eq(pi.version, 1);
	cr_assert_eq(pi.dcid_len, 8);
	cr_assert_eq(pi.scid_len, 8);
	cr_assert_eq(pi.dcid_off, 42 + 6);
	cr_assert_eq(pi.scid_off, 42 + 6 + 8 + 1);
	cr_assert_eq(f.b[pi.scid_off], 0x50);
	cr_assert_eq(pi.token_len, 0);
	cr_assert_eq(pi.flags & DP_PKT_F_TOKEN, 0);

	std_initial(&f, 100); /* two-byte varint token length */
	cr_assert_eq(parse(&f, &pi), DP_PARSE_OK);
	cr_assert_eq(pi.token_len, 100);
	cr_assert(pi.flags & DP_PKT_F_TOKEN);
}

Test(parse, long_header_types)
{
	static const struct {
		uint8_t first;
		uint32_t version;
		enum dp_quic_type type;
	} cases[] = {
		{ 0xd3, 1, DP_QUIC_0RTT },
		{ 0xe3, 1, DP_QUIC_HANDSHAKE },
		{ 0xf0, 1, DP_QUIC_RETRY },
		{ 0x80, 0, DP_QUIC_VERSION_NEG }, /* VN: fixed bit unused (RFC 9000 §17.2.1) */
		{ 0xc0, 0x6b3343cf, DP_QUIC_UNKNOWN_VERSION },
		{ 0x80, 0xff00001d, DP_QUIC_UNKNOWN_VERSION },
	};
	struct frame f;
	struct dp_pkt_info pi;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		eth(&f, 0, 0x0800);
		ip4(&f, 0, 0, 17);
		udp(&f, 443);
		quic_long(&f, cases[i].first, cases[i].version, 4, 0, -1);
		put32(&f, 0); /* a few bytes of body */
		finish(&f);
		cr_assert_eq(parse(&f, &pi), DP_PARSE_OK, "case %zu", i);
		cr_assert_eq(pi.quic_type, cases[i].type, "case %zu", i);
		cr_assert_eq(pi.version, cases[i].version);
		cr_assert_eq(pi.dcid_len, 4);
		cr_assert_eq(pi.scid_len, 0);
	}
}

Test(parse, vlan_and_qinq)
{
	struct frame f;
	struct dp_pkt_info pi;

	for (int tags = 1; tags <= 2; tags++) {
		eth(&f, tags, 0x0800);
		ip4(&f, 0, 0, 17);
		udp(&f, 443);
		quic_short(&f, 8, 10);
		finish(&f);
		cr_assert_eq(parse(&f, &pi), DP_PARSE_OK);
		cr_assert_eq(pi.n_vlan, tags);
		cr_assert_eq(pi.vlan_tci[0], 100);
		cr_assert_eq(pi.l3_off, 14 + 4 * tags);
	}
	eth(&f, 3, 0x0800);
	ip4(&f, 0, 0, 17);
	udp(&f, 443);
	quic_short(&f, 8, 10);
	finish(&f);
	cr_assert_eq(parse(&f, &pi), DP_PARSE_VLAN_DEPTH);
	eth(&f, 1, 0x0800);
	cr_assert_eq(dp_parse_frame(f.b, 16, &cfg_all, &pi), DP_PARSE_VLAN_TRUNC);
}

Test(parse, ipv4_options_and_fragments)
{
	struct frame f;
	struct dp_pkt_info pi;

	eth(&f, 0, 0x0800);
	ip4(&f, 3, 0, 17);
	udp(&f, 443);
	quic_short(&f, 8, 10);
	finish(&f);
	cr_assert_eq(parse(&f, &pi), DP_PARSE_OK);
	cr_assert(pi.flags & DP_PKT_F_IP4_OPTIONS);
	cr_assert_eq(pi.l4_off, 14 + 32);

	eth(&f, 0, 0x0800);
	ip4(&f, 0, 0x2000, 17); /* MF, offset 0: first fragment, flagged */
	udp(&f, 443);
	quic_short(&f, 8, 10);
	finish(&f);
	cr_assert_eq(parse(&f, &pi), DP_PARSE_OK);
	cr_assert(pi.flags & DP_PKT_F_FRAGMENT);

	eth(&f, 0, 0x0800);
	ip4(&f, 0, 0x0010, 17); /* offset 16 bytes: no UDP header here */
	udp(&f, 443);
	finish(&f);
	cr_assert_eq(parse(&f, &pi), DP_PARSE_IP4_FRAG);
}

Test(parse, ipv4_header_errors)
{
	struct frame f;
	struct dp_pkt_info pi;

	std_short(&f);
	f.b[14] = 0x44; /* IHL 4 */
	cr_assert_eq(parse(&f, &pi), DP_PARSE_IP4_HDR);
	std_short(&f);
	f.b[14] = 0x55; /* version 5 */
	cr_assert_eq(parse(&f, &pi), DP_PARSE_IP4_HDR);
	std_short(&f);
	set16(&f, f.ip_len_at, (uint16_t)(f.n - 14 + 1)); /* total length lies: one past the frame */
	cr_assert_eq(parse(&f, &pi), DP_PARSE_IP4_LEN);
	std_short(&f);
	set16(&f, f.ip_len_at, 19); /* shorter than its own header */
	cr_assert_eq(parse(&f, &pi), DP_PARSE_IP4_LEN);
	std_short(&f);
	f.b[14] = 0x4f; /* IHL 15 = 60 bytes: runs past a frame cut at 50 */
	cr_assert_eq(dp_parse_frame(f.b, 50, &cfg_all, &pi), DP_PARSE_IP4_TRUNC);
	std_short(&f);
	f.b[14 + 9] = 6; /* TCP */
	cr_assert_eq(parse(&f, &pi), DP_PARSE_NOT_UDP);
}

Test(parse, ethernet_padding_is_not_payload)
{
	struct frame f;
	struct dp_pkt_info pi;

	eth(&f, 0, 0x0800);
	ip4(&f, 0, 0, 17);
	udp(&f, 443);
	quic_short(&f, 0, 1);
	finish(&f);
	uint32_t ip_end = f.n;

	while (f.n < 60)
		put8(&f, 0xaa); /* minimum frame padding after the IP packet */
	struct dp_parse_cfg c0 = { .short_dcid_len = 0 };

	cr_assert_eq(dp_parse_frame(f.b, f.n, &c0, &pi), DP_PARSE_OK);
	cr_assert_eq(pi.quic_len, ip_end - 42, "UDP payload must end where IP says");
}

Test(parse, ipv6_paths)
{
	struct frame f;
	struct dp_pkt_info pi;

	eth(&f, 0, 0x86dd);
	ip6(&f, 17);
	udp(&f, 443);
	quic_short(&f, 8, 10);
	finish(&f);
	cr_assert_eq(parse(&f, &pi), DP_PARSE_OK);
	cr_assert_eq(pi.ip_version, 6);
	cr_assert_eq(pi.l4_off, 54);
	cr_assert_eq(pi.src[0], 0x20);
	cr_assert_eq(pi.dst[15], 0x4f);
	cr_assert_eq(pi.flags & DP_PKT_F_IP6_EXT, 0);

	/* hop-by-hop → routing → destination options → UDP */
	eth(&f, 0, 0x86dd);
	ip6(&f, 0);
	ip6_ext(&f, 43, 0);
	ip6_ext(&f, 60, 1);
	ip6_ext(&f, 17, 0);
	udp(&f, 443);
	quic_short(&f, 8, 10);
	finish(&f);
	cr_assert_eq(parse(&f, &pi), DP_PARSE_OK);
	cr_assert(pi.flags & DP_PKT_F_IP6_EXT);
	cr_assert_eq(pi.l4_off, 54 + 8 + 16 + 8);

	/* first fragment (offset 0, M=1) flagged; a later fragment dropped */
	for (int later = 0; later <= 1; later++) {
		eth(&f, 0, 0x86dd);
		ip6(&f, 44);
		put8(&f, 17);
		put8(&f, 0);
		put16(&f, later ? (uint16_t)(8 << 3) : 1);
		put32(&f, 0x1234);
		udp(&f, 443);
		quic_short(&f, 8, 10);
		finish(&f);
		cr_assert_eq(parse(&f, &pi), later ? DP_PARSE_IP6_FRAG : DP_PARSE_OK);
		if (!later)
			cr_assert(pi.flags & DP_PKT_F_FRAGMENT);
	}

	/* AH: length in 4-byte units minus 2 (RFC 4302) */
	eth(&f, 0, 0x86dd);
	ip6(&f, 51);
	put8(&f, 17);
	put8(&f, 4); /* (4 + 2) * 4 = 24 bytes */
	for (int i = 0; i < 22; i++)
		put8(&f, 0);
	udp(&f, 443);
	quic_short(&f, 8, 10);
	finish(&f);
	cr_assert_eq(parse(&f, &pi), DP_PARSE_OK);
	cr_assert_eq(pi.l4_off, 54 + 24);

	/* ESP and No Next Header end the walk without UDP */
	for (int nh = 0; nh < 2; nh++) {
		eth(&f, 0, 0x86dd);
		ip6(&f, nh ? 59 : 50);
		put32(&f, 0);
		finish(&f);
		cr_assert_eq(parse(&f, &pi), DP_PARSE_NOT_UDP);
	}
}

Test(parse, ipv6_hostile)
{
	struct frame f;
	struct dp_pkt_info pi;

	/* a chain of destination options that never reaches UDP */
	eth(&f, 0, 0x86dd);
	ip6(&f, 60);
	for (int i = 0; i < 40; i++)
		ip6_ext(&f, 60, 0);
	finish(&f);
	cr_assert_eq(parse(&f, &pi), DP_PARSE_IP6_EXT_DEPTH);

	/* extension header whose length runs past the packet */
	eth(&f, 0, 0x86dd);
	ip6(&f, 60);
	put8(&f, 17);
	put8(&f, 200);
	for (int i = 0; i < 6; i++)
		put8(&f, 0);
	finish(&f);
	cr_assert_eq(parse(&f, &pi), DP_PARSE_IP6_EXT_TRUNC);

	/* payload length larger than the frame */
	eth(&f, 0, 0x86dd);
	ip6(&f, 17);
	udp(&f, 443);
	quic_short(&f, 8, 10);
	finish(&f);
	set16(&f, f.ip_len_at, 1000);
	cr_assert_eq(parse(&f, &pi), DP_PARSE_IP6_LEN);
	cr_assert_eq(dp_parse_frame(f.b, 40, &cfg_all, &pi), DP_PARSE_IP6_TRUNC);
}

Test(parse, udp_errors_and_port_filter)
{
	struct frame f;
	struct dp_pkt_info pi;
	struct dp_parse_cfg c = { .short_dcid_len = 8, .n_stoq_ports = 2 };

	c.stoq_ports[0] = __builtin_bswap16(4433);
	c.stoq_ports[1] = __builtin_bswap16(443);
	std_short(&f);
	cr_assert_eq(dp_parse_frame(f.b, f.n, &c, &pi), DP_PARSE_OK);
	c.stoq_ports[1] = __builtin_bswap16(8443);
	cr_assert_eq(dp_parse_frame(f.b, f.n, &c, &pi), DP_PARSE_UDP_PORT);

	std_short(&f);
	set16(&f, f.udp_len_at, 7);
	cr_assert_eq(parse(&f, &pi), DP_PARSE_UDP_LEN);
	std_short(&f);
	set16(&f, f.udp_len_at, (uint16_t)(f.n - f.l4 + 1)); /* one past the IP payload */
	cr_assert_eq(parse(&f, &pi), DP_PARSE_UDP_LEN);
	std_short(&f);
	set16(&f, f.ip_len_at, 20 + 4); /* IP ends inside the UDP header */
	cr_assert_eq(parse(&f, &pi), DP_PARSE_UDP_TRUNC);
	std_short(&f);
	set16(&f, f.udp_len_at, 8);
	cr_assert_eq(parse(&f, &pi), DP_PARSE_QUIC_EMPTY);

	/* Router mode: a reply from a STOQ port is carried unparsed, but
	 * never an empty one (found by fuzz_parse). */
	c.n_stoq_ports = 1;
	c.stoq_ports[0] = __builtin_bswap16(40000); /* std_short's source port */
	c.accept_sport = true;
	std_short(&f);
	cr_assert_eq(dp_parse_frame(f.b, f.n, &c, &pi), DP_PARSE_OK);
	cr_assert_eq(pi.flags & DP_PKT_F_REPLY, DP_PKT_F_REPLY);
	cr_assert_eq(pi.scid_len, 0);
	cr_assert_eq(pi.version, 0);
	set16(&f, f.udp_len_at, 8);
	cr_assert_eq(dp_parse_frame(f.b, f.n, &c, &pi), DP_PARSE_QUIC_EMPTY);
}

Test(parse, quic_errors)
{
	struct frame f;
	struct dp_pkt_info pi;

	/* CID length 21 in DCID and in SCID */
	for (int which = 0; which < 2; which++) {
		eth(&f, 0, 0x0800);
		ip4(&f, 0, 0, 17);
		udp(&f, 443);
		quic_long(&f, 0xc3, 1, which ? 8 : 21, which ? 21 : 8, 0);
		finish(&f);
		cr_assert_eq(parse(&f, &pi), DP_PARSE_QUIC_CID_LEN, "which %d", which);
	}
	/* fixed bit clear, long v1 and short: dropped when required, else greased (RFC 9287) */
	std_initial(&f, 0);
	f.b[42] = 0x83;
	cr_assert_eq(dp_parse_frame(f.b, f.n, &cfg_strict, &pi), DP_PARSE_QUIC_FIXED_BIT);
	cr_assert_eq(parse(&f, &pi), DP_PARSE_OK);
	cr_assert_eq(pi.quic_type, DP_QUIC_INITIAL);
	std_short(&f);
	f.b[42] = 0x03;
	cr_assert_eq(dp_parse_frame(f.b, f.n, &cfg_strict, &pi), DP_PARSE_QUIC_FIXED_BIT);
	cr_assert_eq(parse(&f, &pi), DP_PARSE_OK);
	cr_assert_eq(pi.quic_type, DP_QUIC_SHORT);
	/* short header shorter than 1 + DCID */
	eth(&f, 0, 0x0800);
	ip4(&f, 0, 0, 17);
	udp(&f, 443);
	quic_short(&f, 5, 0);
	finish(&f);
	cr_assert_eq(parse(&f, &pi), DP_PARSE_QUIC_SHORT_TRUNC);
	/* long header cut inside the SCID */
	eth(&f, 0, 0x0800);
	ip4(&f, 0, 0, 17);
	udp(&f, 443);
	quic_long(&f, 0xc3, 1, 8, 8, -1);
	f.n -= 3;
	finish(&f);
	cr_assert_eq(parse(&f, &pi), DP_PARSE_QUIC_LONG_TRUNC);
	/* token length that lies: 8-byte varint of 2^40 */
	eth(&f, 0, 0x0800);
	ip4(&f, 0, 0, 17);
	udp(&f, 443);
	quic_long(&f, 0xc3, 1, 8, 8, -1);
	put8(&f, 0xc0);
	put8(&f, 0);
	put16(&f, 0x0100);
	put32(&f, 0);
	put32(&f, 0);
	finish(&f);
	cr_assert_eq(parse(&f, &pi), DP_PARSE_QUIC_TOKEN);
	/* token varint itself cut short */
	eth(&f, 0, 0x0800);
	ip4(&f, 0, 0, 17);
	udp(&f, 443);
	quic_long(&f, 0xc3, 1, 8, 8, -1);
	put8(&f, 0x40); /* says 2 bytes, only 1 present */
	finish(&f);
	cr_assert_eq(parse(&f, &pi), DP_PARSE_QUIC_TOKEN);
}

Test(parse, non_ip_and_tiny_frames)
{
	struct frame f;
	struct dp_pkt_info pi;

	eth(&f, 0, 0x0806);
	put32(&f, 0);
	cr_assert_eq(parse(&f, &pi), DP_PARSE_NOT_IP);
	for (uint32_t n = 0; n < 14; n++)
		cr_assert_eq(dp_parse_frame(f.b, n, &cfg_all, &pi), DP_PARSE_ETH_TRUNC);
	cr_assert_eq(dp_parse_frame(NULL, 0, &cfg_all, &pi), DP_PARSE_ETH_TRUNC);
}

/* Cut a valid frame at every length: always a drop, never a read past the end
 * (the copy sits at the end of a heap block so ASan sees any overrun). */
static void truncate_everywhere(struct frame *f, const struct dp_parse_cfg *c)
{
	struct dp_pkt_info pi;

	for (uint32_t n = 0; n < f->n; n++) {
		uint8_t *copy = malloc(n ? n : 1);
		enum dp_parse_result r;

		memcpy(copy, f->b, n);
		r = dp_parse_frame(copy, n, c, &pi);
		free(copy);
		cr_assert_neq(r, DP_PARSE_OK, "truncated at %u of %u parsed OK", n, f->n);
	}
}

Test(parse, truncation_at_every_byte)
{
	struct frame f;

	std_short(&f);
	f.n = 42 + 9; /* end exactly after the DCID: the shortest valid short header */
	set16(&f, f.ip_len_at, (uint16_t)(f.n - 14));
	set16(&f, f.udp_len_at, (uint16_t)(f.n - 34));
	truncate_everywhere(&f, &cfg_all);
	std_initial(&f, 5);
	truncate_everywhere(&f, &cfg_all);
	eth(&f, 2, 0x86dd);
	ip6(&f, 0);
	ip6_ext(&f, 60, 1);
	ip6_ext(&f, 17, 0);
	udp(&f, 443);
	quic_short(&f, 8, 0);
	finish(&f);
	truncate_everywhere(&f, &cfg_all);
}

Test(parse, every_result_has_name_and_description)
{
	for (int r = 0; r < DP_PARSE__COUNT; r++) {
		cr_assert_str_neq(dp_parse_result_name(r), "?");
		cr_assert(strlen(dp_parse_result_desc(r)) > 5);
		for (int s = 0; s < r; s++)
			cr_assert_str_neq(dp_parse_result_name(r), dp_parse_result_name(s));
	}
	cr_assert_str_eq(dp_parse_result_name(DP_PARSE__COUNT), "?");
	cr_assert_str_eq(dp_parse_result_name(DP_PARSE_IP4_FRAG), "ip4_fragment");
}

/* Inputs the fuzzer once found interesting or crashing live in
 * tests/fuzz-regressions/parse/: each must parse without a crash, and an OK
 * result must keep its offsets inside the frame. */
Test(parse, fuzz_regressions)
{
	const char *dir = "tests/fuzz-regressions/parse";
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (!d)
		cr_skip_test("no %s (run from the repository root)", dir);
	while ((e = readdir(d))) {
		char path[512];
		uint8_t buf[4096];
		struct dp_pkt_info pi;
		FILE *fp;
		size_t len;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		fp = fopen(path, "rb");
		cr_assert(fp);
		len = fread(buf, 1, sizeof(buf), fp);
		fclose(fp);
		for (int dl = 0; dl <= 20; dl += 4) {
			struct dp_parse_cfg c = { .short_dcid_len = (uint8_t)dl };

			if (dp_parse_frame(buf, (uint32_t)len, &c, &pi) == DP_PARSE_OK) {
				cr_assert_leq(pi.quic_off + pi.quic_len, len);
				cr_assert_leq(pi.dcid_off + pi.dcid_len, len);
			}
		}
		n++;
	}
	closedir(d);
	cr_assert_gt(n, 0, "%s is empty", dir);
}

/* Pairs the two-frame path (dp_parse_pair) took in pair_agrees. */
static int pairs_taken;

/* The two-frame path on @f0 and @f1 agrees with the one-frame parser (dp_parse_pair_check). */
static void pair_agrees(const uint8_t *f0, uint32_t len0, const uint8_t *f1, uint32_t len1,
			const struct dp_parse_cfg *c)
{
	int took;
	const char *why = dp_parse_pair_check(f0, len0, f1, len1, c, &took);

	cr_assert_null(why, "two-frame path: %s (lengths %u, %u)", why, len0, len1);
	pairs_taken += took == 3;
}

/*
 * dp_parse_frame (fast path first) and the general parser alone agree on
 * @len bytes of @b; so does the two-frame path, on @b twice and beside a
 * standard short header either way round.
 */
static int agree(const uint8_t *b, uint32_t len, const struct dp_parse_cfg *c)
{
	static struct frame std;
	struct dp_pkt_info fi, gi;
	enum dp_parse_result fr = dp_parse_frame(b, len, c, &fi);
	enum dp_parse_result gr = dp_parse_frame_general_only(b, len, c, &gi);

	if (std.n == 0)
		std_short(&std);
	pair_agrees(b, len, b, len, c);
	pair_agrees(b, len, std.b, std.n, c);
	pair_agrees(std.b, std.n, b, len, c);

	cr_assert_eq(fr, gr, "fast path says %s, general parser %s (len %u)",
		     dp_parse_result_name(fr), dp_parse_result_name(gr), len);
	if (fr == DP_PARSE_OK)
		cr_assert(dp_pkt_info_same(&fi, &gi), "same result, different info (len %u)", len);
	return fr == DP_PARSE_OK;
}

/*
 * The fast path recognises untagged IPv4/UDP/QUIC with two masked compares;
 * every frame it takes must be parsed exactly as the general parser would,
 * and every frame it refuses must reach the general parser. Each byte of the
 * headers is set to values on either side of what the fast path tests, every
 * length is cut, under configurations that change its answer.
 */
Test(parse, fast_path_agrees_with_general_parser)
{
	struct dp_parse_cfg cfgs[5] = {
		{ .short_dcid_len = 8 },
		{ .short_dcid_len = 0 },
		{ .short_dcid_len = 20, .require_quic_bit = true },
		{ .short_dcid_len = 8, .n_stoq_ports = 2 },
		{ .short_dcid_len = 8, .n_stoq_ports = 1, .accept_sport = true },
	};
	static const uint8_t vals[] = { 0x00, 0x01, 0x08, 0x11, 0x14, 0x1c, 0x20, 0x3f,
					0x40, 0x45, 0x46, 0x80, 0x86, 0xbf, 0xc0, 0xff };
	struct frame f;
	int ok = 0, cases = 0;

	cfgs[3].stoq_ports[0] = __builtin_bswap16(4433);
	cfgs[3].stoq_ports[1] = __builtin_bswap16(443);
	cfgs[4].stoq_ports[0] = __builtin_bswap16(40000); /* the source port: a reply */
	for (int base = 0; base < 6; base++) {
		switch (base) {
		case 0:
			std_short(&f);
			break;
		case 1:
			std_initial(&f, 3);
			break;
		case 4: /* the fast path's own v1 reader: no token */
			std_initial(&f, 0);
			break;
		case 5: /* a token length the fast path leaves to the general reader */
			std_initial(&f, 70);
			break;
		case 2: /* DF clear, shortest short header */
			eth(&f, 0, 0x0800);
			ip4(&f, 0, 0, 17);
			udp(&f, 443);
			quic_short(&f, 0, 0);
			finish(&f);
			break;
		default: /* Ethernet padding past the IP length */
			std_short(&f);
			f.n += 6;
			break;
		}
		for (size_t c = 0; c < sizeof(cfgs) / sizeof(cfgs[0]); c++) {
			/* Every byte of the headers: an Initial's token length is byte 65. */
			for (uint32_t at = 0; at < 80 && at < f.n; at++) {
				uint8_t keep = f.b[at];

				for (size_t v = 0; v < sizeof(vals); v++) {
					f.b[at] = vals[v];
					ok += agree(f.b, f.n, &cfgs[c]);
					cases++;
				}
				f.b[at] = keep;
			}
			for (uint32_t n = 0; n <= f.n; n++) {
				ok += agree(f.b, n, &cfgs[c]);
				cases++;
			}
		}
	}
	/* Both kinds of answer were exercised, not only refusals. */
	cr_assert_gt(ok, 1000, "%d of %d cases parsed OK", ok, cases);
	cr_assert_gt(cases - ok, 1000, "%d of %d cases parsed OK", ok, cases);
	if (dp_parse_pair_usable())
		cr_assert_gt(pairs_taken, 1000, "the two-frame path took %d pairs", pairs_taken);
}

/*
 * The two-frame path takes what it is for (two short headers to the first
 * STOQ port) and leaves everything else to the one-frame parser.
 */
Test(parse, pair_path_takes_two_short_headers)
{
	struct dp_parse_cfg c = { .short_dcid_len = 8, .n_stoq_ports = 2 };
	struct frame s, other_port, initial, tiny;
	struct dp_pkt_info i0, i1;

	if (!dp_parse_pair_usable()) {
		cr_assert_eq(dp_parse_pair(s.b, 0, s.b, 0, &c, &i0, &i1), -ENOTSUP);
		cr_skip_test("no two-frame path here (no AVX2, or a build without it)");
	}
	c.stoq_ports[0] = __builtin_bswap16(443);
	c.stoq_ports[1] = __builtin_bswap16(4433);
	std_short(&s);
	std_initial(&initial, 0);
	eth(&other_port, 0, 0x0800);
	ip4(&other_port, 0, 0x4000, 17);
	udp(&other_port, 4433);
	quic_short(&other_port, 8, 30);
	finish(&other_port);
	/* 43 bytes, one short of its minimum: a one-byte QUIC payload, no DCID */
	eth(&tiny, 0, 0x0800);
	ip4(&tiny, 0, 0x4000, 17);
	udp(&tiny, 443);
	quic_short(&tiny, 0, 0);
	finish(&tiny);
	cr_assert_eq(tiny.n, 43);

	cr_assert_eq(dp_parse_pair(s.b, s.n, s.b, s.n, &c, &i0, &i1), 3);
	cr_assert_eq(i0.quic_type, DP_QUIC_SHORT);
	cr_assert_eq(i1.quic_len, s.n - 42);
	cr_assert_eq(i1.dport, __builtin_bswap16(443));
	/* An Initial in either lane: the short header beside it is still taken. */
	cr_assert_eq(dp_parse_pair(s.b, s.n, initial.b, initial.n, &c, &i0, &i1), 1);
	cr_assert_eq(dp_parse_pair(initial.b, initial.n, s.b, s.n, &c, &i0, &i1), 2);
	cr_assert_eq(dp_parse_pair(initial.b, initial.n, initial.b, initial.n, &c, &i0, &i1), 0);
	/* Another listed port: the one-frame parser takes it. */
	cr_assert_eq(dp_parse_pair(other_port.b, other_port.n, s.b, s.n, &c, &i0, &i1), 2);
	cr_assert_eq(dp_parse_frame(other_port.b, other_port.n, &c, &i0), DP_PARSE_OK);
	/* Too short for the pair's loads: neither, even the good one. */
	cr_assert_eq(dp_parse_pair(tiny.b, tiny.n, s.b, s.n, &c, &i0, &i1), 0);
	/* Lengths past what a lane holds as a word. */
	cr_assert_eq(dp_parse_pair(s.b, 65536u + s.n, s.b, s.n, &c, &i0, &i1), 0);
	/* No port listed: any. */
	c.n_stoq_ports = 0;
	cr_assert_eq(dp_parse_pair(s.b, s.n, other_port.b, other_port.n, &c, &i0, &i1), 3);
}

/*
 * dp_local_wants (dataplane/dp_local.h): which frames that the forwarding
 * parse refused go to the STOQ server hosted in the dataplane. Forwarded
 * port 443; the server at 10.100.0.1 (the frames' IPv4 destination) or at
 * the frames' IPv6 destination 4040..4f.
 */
static struct dp_local local_at(int family, const uint8_t *addr)
{
	struct dp_local lo = { .family = family };

	memcpy(lo.addr, addr, family == AF_INET ? 4 : 16);
	if (family == AF_INET6)
		stoq_ip6_solicited_node(addr, lo.snm);
	return lo;
}

static bool wants(const struct dp_local *lo, struct frame *f, enum dp_parse_result want_r,
		  struct dp_pkt_info *pi)
{
	struct dp_parse_cfg c = { .short_dcid_len = 8, .n_stoq_ports = 1 };
	enum dp_parse_result r;

	c.stoq_ports[0] = __builtin_bswap16(443);
	r = dp_parse_frame(f->b, f->n, &c, pi);
	cr_assert_eq(r, want_r, "parse gave %d, want %d", r, want_r);
	return dp_local_wants(lo, f->b, f->n, r, pi);
}

Test(dp_local, which_frames_are_the_hosted_servers)
{
	static const uint8_t v4[4] = { 10, 100, 0, 1 }, other4[4] = { 10, 100, 0, 2 };
	uint8_t v6[16], snm_dst[16] = { 0xff, 2, [11] = 1, [12] = 0xff };
	struct dp_local lo4 = local_at(AF_INET, v4), lo4b = local_at(AF_INET, other4), lo6;
	struct dp_pkt_info pi;
	struct frame f;

	for (int i = 0; i < 16; i++)
		v6[i] = (uint8_t)(0x40 + i);
	lo6 = local_at(AF_INET6, v6);
	memcpy(snm_dst + 13, v6 + 13, 3);

	/* ARP: an IPv4 server's, whatever it asks (its back end answers for itself). */
	eth(&f, 0, 0x0806);
	for (int i = 0; i < 28; i++)
		put8(&f, 0);
	cr_assert(wants(&lo4, &f, DP_PARSE_NOT_IP, &pi));
	cr_assert(wants(&lo4b, &f, DP_PARSE_NOT_IP, &pi));
	cr_assert_not(wants(&lo6, &f, DP_PARSE_NOT_IP, &pi));
	/* Another EtherType that is not IP: nobody's. */
	eth(&f, 0, 0x88cc);
	for (int i = 0; i < 28; i++)
		put8(&f, 0);
	cr_assert_not(wants(&lo4, &f, DP_PARSE_NOT_IP, &pi));

	/* UDP to its address on a port not forwarded: its. To another address: not. */
	eth(&f, 0, 0x0800);
	ip4(&f, 0, 0x4000, 17);
	udp(&f, 4433);
	quic_short(&f, 8, 30);
	finish(&f);
	cr_assert(wants(&lo4, &f, DP_PARSE_UDP_PORT, &pi));
	cr_assert_not(wants(&lo4b, &f, DP_PARSE_UDP_PORT, &pi));
	cr_assert_not(wants(&lo6, &f, DP_PARSE_UDP_PORT, &pi));
	/* A forwarded port parses: forwarding's, never asked. */
	std_short(&f);
	cr_assert_not(wants(&lo4, &f, DP_PARSE_OK, &pi));
	/* ICMP to it: its (the back end counts what it does not take). */
	eth(&f, 0, 0x0800);
	ip4(&f, 0, 0x4000, 1);
	for (int i = 0; i < 8; i++)
		put8(&f, 0);
	finish(&f);
	cr_assert(wants(&lo4, &f, DP_PARSE_NOT_UDP, &pi));
	/* A fragment to it is refused before the parse reads the address. */
	eth(&f, 0, 0x0800);
	ip4(&f, 0, 0x0010, 17);
	udp(&f, 4433);
	finish(&f);
	cr_assert_not(wants(&lo4, &f, DP_PARSE_IP4_FRAG, &pi));

	/* ICMPv6 to its address and to its solicited-node group: its; to
	 * another group (MLD, ff02::16): not. */
	eth(&f, 0, 0x86dd);
	ip6(&f, 58);
	for (int i = 0; i < 24; i++)
		put8(&f, 0);
	finish(&f);
	cr_assert(wants(&lo6, &f, DP_PARSE_NOT_UDP, &pi));
	cr_assert_not(wants(&lo4, &f, DP_PARSE_NOT_UDP, &pi));
	memcpy(f.b + f.l3 + 24, snm_dst, 16);
	cr_assert(wants(&lo6, &f, DP_PARSE_NOT_UDP, &pi));
	memset(f.b + f.l3 + 24, 0, 16);
	f.b[f.l3 + 24] = 0xff;
	f.b[f.l3 + 25] = 2;
	f.b[f.l3 + 39] = 0x16;
	cr_assert_not(wants(&lo6, &f, DP_PARSE_NOT_UDP, &pi));

	/* What an earlier frame left in the info is never read: a truncated
	 * frame after one to the server is nobody's. */
	eth(&f, 0, 0x0800);
	ip4(&f, 0, 0x4000, 17);
	udp(&f, 4433);
	finish(&f);
	cr_assert(wants(&lo4, &f, DP_PARSE_UDP_PORT, &pi));
	f.n = 10;
	cr_assert_not(wants(&lo4, &f, DP_PARSE_ETH_TRUNC, &pi));
	eth(&f, 0, 0x0800);
	ip4(&f, 0, 0x4000, 17);
	f.n = f.l3 + 12; /* the IPv4 header cut before its addresses */
	cr_assert_not(wants(&lo4, &f, DP_PARSE_IP4_TRUNC, &pi));
}
