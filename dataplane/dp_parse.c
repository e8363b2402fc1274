/* SPDX-License-Identifier: BSD-3-Clause */
/* Public wrappers around the inline parser in dp_parse_impl.h. */
#include "dp_parse.h"

#include <string.h>

#include "dp_parse_impl.h"

static const char *const result_names[] = {
#define X(e, n, d) [DP_PARSE_##e] = #n,
	DP_PARSE_RESULTS(X)
#undef X
};

static const char *const result_descs[] = {
#define X(e, n, d) [DP_PARSE_##e] = d,
	DP_PARSE_RESULTS(X)
#undef X
};

const char *dp_parse_result_name(enum dp_parse_result r)
{
	return (unsigned int)r < DP_PARSE__COUNT ? result_names[r] : "?";
}

const char *dp_parse_result_desc(enum dp_parse_result r)
{
	return (unsigned int)r < DP_PARSE__COUNT ? result_descs[r] : "?";
}

enum dp_parse_result dp_parse_quic(const uint8_t *payload, uint32_t len, uint16_t base,
				   uint8_t short_dcid_len, struct dp_pkt_info *info)
{
	/* The strict reading (RFC 9000): the fixed bit must be set. */
	return dp_parse_quic_impl(payload, len, base, short_dcid_len, true, info);
}

enum dp_parse_result dp_parse_frame(const uint8_t *frame, uint32_t len,
				    const struct dp_parse_cfg *cfg, struct dp_pkt_info *info)
{
	return dp_parse_frame_impl(frame, len, cfg, info);
}

enum dp_parse_result dp_parse_frame_general_only(const uint8_t *frame, uint32_t len,
						 const struct dp_parse_cfg *cfg,
						 struct dp_pkt_info *info)
{
	return dp_parse_frame_general(frame, len, cfg, info);
}

bool dp_pkt_info_same(const struct dp_pkt_info *a, const struct dp_pkt_info *b)
{
	size_t alen = a->ip_version == 4 ? 4 : 16;

	return a->l3_off == b->l3_off && a->l4_off == b->l4_off && a->quic_off == b->quic_off &&
	       a->quic_len == b->quic_len && a->n_vlan == b->n_vlan &&
	       memcmp(a->vlan_tci, b->vlan_tci, a->n_vlan * sizeof(a->vlan_tci[0])) == 0 &&
	       a->ip_version == b->ip_version && a->flags == b->flags &&
	       a->quic_type == b->quic_type && a->dcid_len == b->dcid_len &&
	       a->scid_len == b->scid_len && a->dcid_off == b->dcid_off &&
	       a->scid_off == b->scid_off && a->token_len == b->token_len &&
	       a->version == b->version && a->sport == b->sport && a->dport == b->dport &&
	       memcmp(a->src, b->src, alen) == 0 && memcmp(a->dst, b->dst, alen) == 0;
}
