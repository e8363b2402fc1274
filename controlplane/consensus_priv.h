/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * consensus_priv — PBFT wire format, for consensus.c and the tests that
 * play Byzantine replicas (they build and sign messages of their own).
 *
 * Every message: a 56-byte header, a body, a 64-byte Ed25519 signature by
 * the header's replica over header and body. Little-endian.
 *   u8 type, u8 pad[3], u32 replica, u64 view, u64 seq, u8 digest[32]
 *
 *   REQUEST     replica = origin, seq = origin's counter, digest = H(payload),
 *               body = payload
 *   PREPREPARE  view, seq, digest = H(body), body = batch:
 *               u16 count, then count × (u32 len, signed REQUEST)
 *   PREPARE     view, seq, digest (of the batch)
 *   COMMIT      view, seq, digest
 *   CHECKPOINT  seq, digest = state after executing seq (view 0)
 *   VIEWCHANGE  view = the new view, seq = stable checkpoint, body:
 *               u16 count × (u32 len, CHECKPOINT)   its proof (none at 0)
 *               u16 count × (u32 len, PREPREPARE, u16 count × (u32 len, PREPARE))
 *   NEWVIEW     view, body: u16 count × (u32 len, VIEWCHANGE),
 *               u16 count × (u32 len, PREPREPARE of the new view)
 *   FETCH       seq = first wanted, view = last wanted (state transfer)
 *   BATCHES     seq = first, body: u16 count × (u32 len, batch)
 *   STATUS      seq = last executed: a replica that is behind asks its peers
 *               for what they executed after it (their stable checkpoint's
 *               proof, pre-prepares and commit certificates)
 */
#ifndef CONSENSUS_PRIV_H
#define CONSENSUS_PRIV_H

#include "consensus.h"

#define BFT_HDR	    56
#define BFT_SIG	    64
#define BFT_DIGEST  32
#define BFT_MSG_MAX (1 << 20)

enum bft_type {
	BFT_REQUEST = 1,
	BFT_PREPREPARE = 2,
	BFT_PREPARE = 3,
	BFT_COMMIT = 4,
	BFT_CHECKPOINT = 5,
	BFT_VIEWCHANGE = 6,
	BFT_NEWVIEW = 7,
	BFT_FETCH = 8,
	BFT_BATCHES = 9,
	BFT_STATUS = 10,
	/*
	 * Never on the wire: a prepared certificate (the pre-prepare and 2f
	 * PREPAREs, §4.2) signed by the replica that formed it, handed to its
	 * own send() for its log before the COMMIT that depends on it.
	 */
	BFT_CERT = 11,
	/*
	 * Never on the wire either: the replica's stable checkpoint (seq,
	 * digest = state) and its proof, body u16 count × (u32 len,
	 * CHECKPOINT), handed to its own send() each time it moves, so a
	 * restart comes back with its window (§4.3) and keeps the
	 * certificates above it (§4.4) instead of those above the last batch
	 * it executed.
	 */
	BFT_STABLE = 12,
	/*
	 * Never on the wire: the vote horizon (consensus.c, horizon_cover):
	 * no PRE-PREPARE or PREPARE of this replica in view `view` above
	 * sequence number `seq`. Durable before the votes it covers are sent;
	 * they need not be.
	 */
	BFT_HORIZON = 13,
};

/*
 * The types of a replica's own messages and records its host logs
 * (consensus.h, send()): what it must hand back to bft_restore_sent().
 */
static inline bool bft_type_logged(uint8_t t)
{
	return t == BFT_PREPREPARE || t == BFT_PREPARE || t == BFT_COMMIT || t == BFT_VIEWCHANGE ||
	       t == BFT_NEWVIEW || t == BFT_CERT || t == BFT_STABLE || t == BFT_HORIZON;
}

/* Of those, the ones that may be sent before they are synced (the vote horizon covers them). */
static inline bool bft_type_sent_unsynced(uint8_t t)
{
	return t == BFT_PREPREPARE || t == BFT_PREPARE;
}

struct bft_hdr {
	uint8_t type;
	uint32_t replica;
	uint64_t view, seq;
	uint8_t d[BFT_DIGEST];
};

/* Parse the header; body is what lies between header and signature. -EBADMSG if too short. */
int bft_hdr_parse(const uint8_t *m, size_t len, struct bft_hdr *h, const uint8_t **body,
		  size_t *body_len);

/*
 * Build and sign a message with private seed @priv into a malloc'd buffer
 * (*@out, *@out_len). 0 or -ENOMEM / -EINVAL.
 */
int bft_msg_build(const uint8_t priv[BFT_KEY], const struct bft_hdr *h, const uint8_t *body,
		  size_t body_len, uint8_t **out, size_t *out_len);

/* SHA-256. */
void bft_hash(const uint8_t *data, size_t len, uint8_t out[BFT_DIGEST]);

#endif /* CONSENSUS_PRIV_H */
