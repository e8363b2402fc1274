/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target: dp_parse_frame on arbitrary bytes, under several
 * configurations (all ports or a port filter; short DCID lengths 0, 8, 20).
 * Invariants beyond "no sanitizer report": when the result is OK, every
 * offset and length it reports lies inside the frame, CIDs are at most 20
 * bytes, and the result is one of the declared ones. Differential: the fast
 * path for untagged IPv4/UDP and the general parser alone give the same
 * result and, when it is OK, the same info; the two-frame path of the RX
 * loops (dp_parse_pair, on CPUs with AVX2) takes only frames the parser
 * takes, with byte for byte the same info, and writes nothing for the
 * frames it leaves.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <rte_byteorder.h>

#include "dp_parse.h"

/* A short header to port 443 with an 8-byte DCID: the pair path's partner frame. */
static const uint8_t std_short[81] = {
	2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00,		  /* Ethernet */
	0x45, 0, 0, 67, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, /* IPv4 */
	0x9c, 0x40, 0x01, 0xbb, 0, 47, 0, 0,			  /* UDP 40000 -> 443 */
	0x43, 1, 2, 3, 4, 5, 6, 7, 8,				  /* flags, DCID */
};

static void check_pair(const uint8_t *f0, uint32_t l0, const uint8_t *f1, uint32_t l1,
		       const struct dp_parse_cfg *c)
{
	int took;

	if (dp_parse_pair_check(f0, l0, f1, l1, c, &took) != NULL)
		abort();
}

static void check(const uint8_t *data, uint32_t len, const struct dp_parse_cfg *c)
{
	struct dp_pkt_info pi, gi;
	enum dp_parse_result r, g;
	/* A private heap copy of exactly len bytes: ASan flags any overrun. */
	uint8_t *copy = malloc(len ? len : 1);

	if (!copy)
		return;
	memcpy(copy, data, len);
	r = dp_parse_frame(copy, len, c, &pi);
	if ((unsigned int)r >= DP_PARSE__COUNT)
		abort();
	g = dp_parse_frame_general_only(copy, len, c, &gi);
	if (g != r || (r == DP_PARSE_OK && !dp_pkt_info_same(&pi, &gi)))
		abort();
	if (r == DP_PARSE_OK) {
		if (pi.dcid_len > DP_QUIC_CID_MAX || pi.scid_len > DP_QUIC_CID_MAX)
			abort();
		if ((uint32_t)pi.quic_off + pi.quic_len > len || pi.quic_len == 0)
			abort();
		if ((uint32_t)pi.dcid_off + pi.dcid_len > len ||
		    (uint32_t)pi.scid_off + pi.scid_len > len)
			abort();
		if (pi.l3_off >= pi.l4_off || pi.l4_off + 8 != pi.quic_off)
			abort();
		if (pi.ip_version != 4 && pi.ip_version != 6)
			abort();
	}
	check_pair(copy, len, copy, len, c);
	check_pair(copy, len, std_short, sizeof(std_short), c);
	check_pair(std_short, sizeof(std_short), copy, len, c);
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dp_parse_cfg c = { 0 };

	if (size > 9216)
		return 0;
	for (int dl = 0; dl <= 20; dl += 8) {
		c.short_dcid_len = (uint8_t)(dl > 20 ? 20 : dl);
		c.n_stoq_ports = 0;
		check(data, (uint32_t)size, &c);
		c.n_stoq_ports = 2;
		c.stoq_ports[0] = rte_cpu_to_be_16(443);
		c.stoq_ports[1] = rte_cpu_to_be_16(4433);
		check(data, (uint32_t)size, &c);
	}
	c.short_dcid_len = 20;
	check(data, (uint32_t)size, &c);
	c.accept_sport = true;
	c.require_quic_bit = true;
	c.short_dcid_len = 8;
	check(data, (uint32_t)size, &c);
	return 0;
}
