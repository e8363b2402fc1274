/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mfn_key — the flow key every MFN layer is indexed by.
 *
 * A QUIC flow is identified by its destination connection ID (RFC 9000 §5.1:
 * the CID, not the 5-tuple, names the connection, so flows survive NAT
 * rebinding and migration). Packets without a usable DCID (zero-length CIDs)
 * fall back to the UDP 5-tuple.
 *
 * The key is a fixed 40 bytes so it can be hashed and compared as a block
 * (rte_hash key_len). Every byte not covered by the active member MUST be
 * zero: build keys only with the mfn_key_* helpers below.
 */
#ifndef MFN_KEY_H
#define MFN_KEY_H

#include <stdint.h>
#include <string.h>

#define MFN_CID_MAX 20

enum mfn_key_kind {
	MFN_KEY_NONE = 0,
	MFN_KEY_CID = 1, /* QUIC DCID */
	MFN_KEY_V4 = 2,	 /* UDP over IPv4 5-tuple */
	MFN_KEY_V6 = 3,	 /* UDP over IPv6 5-tuple */
};

struct mfn_flow_key {
	uint8_t kind;	 /* enum mfn_key_kind */
	uint8_t cid_len; /* MFN_KEY_CID only */
	uint16_t _pad;	 /* zero */
	union {
		uint8_t cid[MFN_CID_MAX];
		struct {
			uint8_t src[16]; /* IPv4: first 4 bytes */
			uint8_t dst[16];
			uint16_t sport; /* network byte order */
			uint16_t dport;
		} tuple;
	};
} __attribute__((aligned(4)));

_Static_assert(sizeof(struct mfn_flow_key) == 40, "mfn_flow_key must stay 40 bytes");

static inline void mfn_key_from_cid(struct mfn_flow_key *k, const uint8_t *cid, uint8_t len)
{
	memset(k, 0, sizeof(*k));
	k->kind = MFN_KEY_CID;
	k->cid_len = len > MFN_CID_MAX ? MFN_CID_MAX : len;
	memcpy(k->cid, cid, k->cid_len);
}

/* @src/@dst: 4 bytes (IPv4) or 16 (IPv6); ports in network byte order. */
static inline void mfn_key_from_tuple(struct mfn_flow_key *k, int ip_version, const uint8_t *src,
				      const uint8_t *dst, uint16_t sport, uint16_t dport)
{
	size_t alen = ip_version == 4 ? 4 : 16;

	memset(k, 0, sizeof(*k));
	k->kind = ip_version == 4 ? MFN_KEY_V4 : MFN_KEY_V6;
	memcpy(k->tuple.src, src, alen);
	memcpy(k->tuple.dst, dst, alen);
	k->tuple.sport = sport;
	k->tuple.dport = dport;
}

#endif /* MFN_KEY_H */
