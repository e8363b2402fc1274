/* SPDX-License-Identifier: BSD-3-Clause */
/* Public wrappers around the inline parser in dp_parse_impl.h. */
#include "dp_parse.h"

#include <errno.h>
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

bool dp_parse_pair_usable(void)
{
#ifdef DP_PARSE_PAIR
	return __builtin_cpu_supports("avx2");
#else
	return false;
#endif
}

#ifdef DP_PARSE_PAIR
__attribute__((target("avx2"))) void dp_parse_pair_build(struct dp_parse_pair *pp,
							 const struct dp_parse_cfg *cfg)
{
	struct dp_parse_fast fp;

	dp_parse_fast_prep(&fp, cfg);
	dp_parse_pair_prep(pp, &fp);
}

static __attribute__((target("avx2"))) int parse_pair_avx2(const uint8_t *f0, uint16_t len0,
							     const uint8_t *f1, uint16_t len1,
							     const struct dp_parse_cfg *cfg,
							     struct dp_pkt_info *i0,
							     struct dp_pkt_info *i1)
{
	struct dp_parse_pair pp;

	dp_parse_pair_build(&pp, cfg);
	return (int)dp_parse_fast_pair(f0, len0, f1, len1, &pp, i0, i1);
}
#endif

int dp_parse_pair(const uint8_t *f0, uint32_t len0, const uint8_t *f1, uint32_t len1,
		  const struct dp_parse_cfg *cfg, struct dp_pkt_info *i0, struct dp_pkt_info *i1)
{
	if (!dp_parse_pair_usable())
		return -ENOTSUP;
#ifdef DP_PARSE_PAIR
	/* An mbuf segment holds at most 65535 bytes: the lanes hold lengths as
	 * words. Longer frames are the one-frame parser's. */
	if (len0 > UINT16_MAX || len1 > UINT16_MAX)
		return 0;
	return parse_pair_avx2(f0, (uint16_t)len0, f1, (uint16_t)len1, cfg, i0, i1);
#else
	(void)f0, (void)len0, (void)f1, (void)len1, (void)cfg, (void)i0, (void)i1;
	return -ENOTSUP;
#endif
}

const char *dp_parse_pair_check(const uint8_t *f0, uint32_t len0, const uint8_t *f1,
				uint32_t len1, const struct dp_parse_cfg *cfg, int *took)
{
	const uint8_t *f[2] = { f0, f1 };
	const uint32_t len[2] = { len0, len1 };
	struct dp_pkt_info p[2], one, unset;
	int k;

	memset(&unset, 0xa5, sizeof(unset));
	p[0] = p[1] = unset;
	k = dp_parse_pair(f0, len0, f1, len1, cfg, &p[0], &p[1]);
	*took = k;
	if (k == -ENOTSUP)
		return NULL;
	if (k < 0 || k > 3)
		return "dp_parse_pair returned a value outside 0..3";
	for (int i = 0; i < 2; i++) {
		if (!(k & (1 << i))) {
			if (memcmp(&p[i], &unset, sizeof(unset)) != 0)
				return i ? "wrote the result of the second frame, which it left"
					 : "wrote the result of the first frame, which it left";
			continue;
		}
		one = unset;
		if (dp_parse_frame(f[i], len[i], cfg, &one) != DP_PARSE_OK)
			return i ? "took the second frame, which dp_parse_frame refuses"
				 : "took the first frame, which dp_parse_frame refuses";
		if (memcmp(&p[i], &one, sizeof(one)) != 0)
			return i ? "its result for the second frame differs from dp_parse_frame's"
				 : "its result for the first frame differs from dp_parse_frame's";
	}
	return NULL;
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
