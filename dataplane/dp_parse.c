/* SPDX-License-Identifier: BSD-3-Clause */
/* Public wrappers around the inline parser in dp_parse_impl.h. */
#include "dp_parse.h"
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
