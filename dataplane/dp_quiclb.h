/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dp_quiclb — route a short-header packet by the server id its DCID carries
 * (QUIC-LB, draft-ietf-quic-load-balancers-19; the layout hmesh-stoq issues:
 * stoq/stoq_cid.c), so a flow L1 does not know (a dataplane restarted, a
 * client that moved to another address or another node's ingress) still
 * reaches the backend that holds its connection. The server id is the L3
 * backend id.
 *
 * Key rotation: the first octet's top 3 bits name one of up to 7 configs
 * (server id length, CID length, optional AES-128 key). A dataplane holds
 * every config in use: while servers move from config 0 to config 1, CIDs
 * of both decode, and no connection is dropped; config 0 is removed when
 * its connections are gone (config key mfn_quic_lb).
 *
 * Threads: dp_quiclb_parse() anywhere; one dp_quiclb_lcore per lcore that
 * decodes (wolfCrypt AES contexts are not shared between threads).
 */
#ifndef DP_QUICLB_H
#define DP_QUICLB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DP_QUICLB_CONFIGS 7 /* config ids 0..6; 7 means "unroutable" (draft §3) */

struct dp_quiclb {
	struct {
		bool set;
		bool keyed;	  /* AES-128 over the octets after the first (common/hm_quiclb.h) */
		uint8_t sid_len;  /* server id octets, 1..4 */
		uint8_t cid_len;  /* whole CID, first octet included */
		uint8_t key[16];
	} c[DP_QUICLB_CONFIGS];
	unsigned int n; /* configs set */
};

/*
 * Parse "ID:SIDLEN:CIDLEN[:KEY32HEX],..." (empty: none). Returns 0, or
 * -EINVAL with the reason in @why (which entry, which field, why).
 */
int dp_quiclb_parse(const char *text, struct dp_quiclb *out, char *why, size_t whylen);

struct dp_quiclb_lcore;

/* One lcore's decryption contexts for @q. Returns 0, -ENOMEM or -EINVAL (a key wolfCrypt refused). */
int dp_quiclb_lcore_init(const struct dp_quiclb *q, struct dp_quiclb_lcore **out);
void dp_quiclb_lcore_free(struct dp_quiclb_lcore *l);

/*
 * The server id in @cid (@len octets). Returns 0, -ENOENT (its config id is
 * not configured, or 7), -EINVAL (the length or the length self-encoding
 * does not match the config).
 */
int dp_quiclb_decode(const struct dp_quiclb *q, struct dp_quiclb_lcore *l, const uint8_t *cid,
		     size_t len, uint32_t *server_id);

#endif /* DP_QUICLB_H */
