/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mfn_dsr — L2 of the MFN, the dynamic similarity reservoir.
 *
 * For a flow that L1 (IFR) does not know, the DSR answers "what kind of
 * traffic does this first packet look like?" and turns the answer into an
 * action: admit, send a Retry (RFC 9000 §8.1.2: stateless address
 * validation), rate-limit, or drop.
 *
 * Inputs
 *   - struct mfn_dsr_obs: what the parser saw in the first packet (UDP payload
 *     size, QUIC version, packet type, token, CID lengths, source address,
 *     arrival time). The DSR does not include dataplane headers (layering:
 *     common -> mfn -> dataplane); the dataplane fills this struct.
 *   - the source's recent history, kept by the DSR itself in a fixed-size
 *     4-way set-associative table keyed by source prefix (/24 for IPv4,
 *     /48 for IPv6; the least recently seen way of a full set is reused).
 *     Per prefix: a decaying new-flow rate, an EWMA of the log inter-arrival
 *     time, an EWMA of the fraction of Initials without a token, a decaying
 *     count of distinct DCIDs, a decaying count of repeated DCIDs (replays;
 *     the last MFN_DSR_DCID_RING DCID fingerprints are remembered).
 *
 * Feature vector (struct mfn_dsr_vec): MFN_DSR_NFEAT features, each
 * quantised to 0..MFN_DSR_QMAX (one byte). Packet-only features: payload size
 * (100-byte steps), Initial / short header / other long type, version known,
 * token present, token length, DCID length, SCID length, "this DCID was seen
 * from this prefix recently". History features (log scales): new-flow rate,
 * inter-arrival time, no-token fraction, distinct DCIDs, repeat ratio, flows
 * seen. enum mfn_dsr_feat names each index.
 *
 * Similarity: nearest prototype under a weighted L1 (Manhattan) distance on
 * the quantised vectors,
 *     sim(x, p) = 1 - sum_i w_i |x_i - p_i| / (QMAX * sum_i w_i)   in [0, 1].
 * L1 is chosen over cosine because every feature is a bounded magnitude
 * (cosine would call "rate 1/s" and "rate 1000/s" similar when the other
 * features scale along) and over SimHash because 16 small integers compare
 * exactly in a few dozen instructions, with no projection error. The class
 * is that of the most similar prototype that has enough support
 * (min_support merged samples; a fresh class with no supported prototype
 * still votes with what it has); the score is that similarity.
 *
 * Reservoir and online learning (bounded memory: at most
 * prototypes_per_class prototypes per class, allocated at create time, never
 * more): a labelled sample x of class c
 *   1. moves the nearest prototype of c towards x when sim >= merge_similarity
 *      (moving centroid, step 1/n with n capped at 1/centroid_min_rate so old
 *      traffic fades: an online k-means / LVQ step),
 *   2. else fills a free slot of c,
 *   3. else competes for a slot by reservoir sampling (Vitter 1985,
 *      Algorithm R: the j-th unmerged sample replaces a uniformly chosen
 *      prototype with probability K/j), so the reservoir stays an unbiased
 *      sample of the class' modes.
 * mfn_dsr_learn() takes the label directly (training); mfn_dsr_feedback()
 * maps what later happened to the flow to a label (a completed handshake
 * reinforces "client", an unanswered Retry "flood", ...).
 *
 * Built-in priors: unless builtin_prototypes is false, create() seeds each
 * class with a few hand-written prototypes that encode the protocol facts
 * (RFC 9000 §14.1: client Initials are padded to >= 1200 bytes; §7.2: a
 * client's first DCID is >= 8 bytes and unpredictable; §8.1: tokens;
 * §9.2/§21.1 on replay and amplification), so a fresh DSR classifies
 * sensibly before any feedback.
 *
 * Actions: class client with score >= admit_score -> admit, below -> Retry;
 * an attack class with score >= attack_score -> that class' configured
 * action (flood_action, scan_action, replay_action), below -> Retry.
 *
 * Threading: one struct mfn_dsr per MFN worker lcore (single writer, no
 * locks, no atomics). mfn_dsr_classify() does no allocation, lock, syscall
 * or log; it updates the source history, so it is not const.
 */
#ifndef MFN_DSR_H
#define MFN_DSR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hm_config.h"

#define MFN_DSR_NFEAT 16
#define MFN_DSR_QMAX 15
#define MFN_DSR_DCID_RING 8
#define MFN_DSR_PROTO_MAX 64 /* upper bound of prototypes_per_class */

/* QUIC packet kinds as the DSR sees them (RFC 9000 §17.2 Table 5, §17.3). */
enum mfn_dsr_pkt {
	MFN_DSR_PKT_INITIAL = 0,
	MFN_DSR_PKT_0RTT,
	MFN_DSR_PKT_HANDSHAKE,
	MFN_DSR_PKT_RETRY,
	MFN_DSR_PKT_VN,	     /* long header, version 0 */
	MFN_DSR_PKT_SHORT,   /* 1-RTT short header */
	MFN_DSR_PKT_UNKNOWN, /* long header, a version we do not speak */
};

/* The first packet of a flow L1 does not know. */
struct mfn_dsr_obs {
	uint64_t ts_ns;	   /* arrival time, any monotonic ns clock */
	uint32_t version;  /* QUIC version (0 for short headers) */
	uint16_t udp_len;  /* UDP payload bytes */
	uint16_t token_len;
	uint8_t pkt_type;  /* enum mfn_dsr_pkt */
	uint8_t has_token; /* Initial carried a non-empty token */
	uint8_t dcid_len;  /* 0..20 */
	uint8_t scid_len;  /* 0..20; 0 for short headers */
	uint8_t dcid[20];  /* first dcid_len bytes are used */
	uint8_t ip_version; /* 4 or 6 */
	uint8_t src[16];    /* IPv4: first 4 bytes */
};

enum mfn_dsr_class {
	MFN_DSR_CLIENT = 0, /* ordinary client */
	MFN_DSR_FLOOD,	    /* Initial flood */
	MFN_DSR_SCAN,	    /* random-CID scan */
	MFN_DSR_REPLAY,	    /* replayed packets */
	MFN_DSR_NCLASS,
};

enum mfn_dsr_action {
	MFN_DSR_ADMIT = 0,
	MFN_DSR_RETRY,
	MFN_DSR_RATE_LIMIT,
	MFN_DSR_DROP,
};

/* Feature indices in struct mfn_dsr_vec (each 0..MFN_DSR_QMAX). */
enum mfn_dsr_feat {
	MFN_DSR_F_SIZE = 0,	 /* min(15, udp_len / 100) */
	MFN_DSR_F_INITIAL,	 /* 15 if Initial */
	MFN_DSR_F_SHORT,	 /* 15 if short header */
	MFN_DSR_F_OTHER,	 /* 15 if 0-RTT/Handshake/Retry/VN/unknown version */
	MFN_DSR_F_VERSION_OK,	 /* 15 if QUIC v1 or v2 (or a short header) */
	MFN_DSR_F_TOKEN,	 /* 15 if a token is present */
	MFN_DSR_F_TOKEN_LEN,	 /* min(15, token_len / 16) */
	MFN_DSR_F_DCID_LEN,	 /* round(dcid_len * 15 / 20) */
	MFN_DSR_F_SCID_LEN,	 /* round(scid_len * 15 / 20) */
	MFN_DSR_F_DCID_REPEAT,	 /* 15 if this DCID was seen from the prefix recently */
	MFN_DSR_F_RATE,		 /* new flows/s of the prefix, log2 scale: 0 = 1/16 /s, 15 = 8192 /s */
	MFN_DSR_F_GAP,		 /* inter-arrival EWMA, log2 ns: 0 = 16 us, 15 >= 0.5 s */
	MFN_DSR_F_NOTOKEN,	 /* fraction of the prefix's Initials without a token * 15 */
	MFN_DSR_F_DISTINCT,	 /* distinct DCIDs (decaying), 1.5 * log2(1 + n) */
	MFN_DSR_F_REPEAT_RATIO,	 /* repeated / (distinct + repeated) * 15 */
	MFN_DSR_F_SEEN,		 /* flows seen from the prefix, log2(1 + n), capped */
};

struct mfn_dsr_vec {
	uint8_t f[MFN_DSR_NFEAT];
};

struct mfn_dsr_verdict {
	uint8_t cls;	     /* enum mfn_dsr_class */
	uint8_t action;	     /* enum mfn_dsr_action */
	uint8_t proto;	     /* index of the winning prototype within its class */
	float score;	     /* similarity to the winning prototype, 0..1 */
	struct mfn_dsr_vec vec; /* keep it with the flow for mfn_dsr_feedback() */
};

/* What happened to a flow after the verdict; drives mfn_dsr_feedback(). */
enum mfn_dsr_outcome {
	MFN_DSR_OUT_HANDSHAKE_DONE = 0, /* -> client */
	MFN_DSR_OUT_RETRY_UNANSWERED,	/* Retry sent, no valid token came back -> flood */
	MFN_DSR_OUT_UNROUTABLE_CID,	/* DCID named no connection and no Initial -> scan */
	MFN_DSR_OUT_DUPLICATE,		/* anti-replay (TLS/0-RTT) caught it -> replay */
};

/* Configuration; every field is a key of mfn_dsr_config_table. */
struct mfn_dsr_config {
	uint32_t sources;	      /* dsr_sources: prefixes remembered (power of two) */
	uint32_t prototypes_per_class; /* dsr_prototypes_per_class: K */
	uint32_t history_ms;	      /* dsr_history_ms: time constant of rates and counts */
	uint32_t min_support;	      /* dsr_min_support */
	double merge_similarity;      /* dsr_merge_similarity */
	double centroid_min_rate;     /* dsr_centroid_min_rate */
	double admit_score;	      /* dsr_admit_score */
	double attack_score;	      /* dsr_attack_score */
	int flood_action;	      /* dsr_flood_action: enum mfn_dsr_action */
	int scan_action;	      /* dsr_scan_action */
	int replay_action;	      /* dsr_replay_action */
	bool builtin_prototypes;      /* dsr_builtin_prototypes */
	uint64_t seed;		      /* dsr_seed: reservoir sampling PRNG */
};

/* The keys, defaults, bounds and help of struct mfn_dsr_config. */
extern const struct hm_cfg_table mfn_dsr_config_table;

/* Fill @cfg with defaults. Returns 0 or -EINVAL (message in @err). */
int mfn_dsr_config_defaults(struct mfn_dsr_config *cfg, char *err, size_t errlen);

/*
 * Check a config filled by code rather than by the table: every key against
 * its bounds and validate hook, then checks across keys. Returns 0 or
 * -EINVAL with "\"key\" is value: reason" in @err.
 */
int mfn_dsr_config_check(const struct mfn_dsr_config *cfg, char *err, size_t errlen);

struct mfn_dsr;

/*
 * Allocate a DSR: source table, reservoir (NCLASS * K prototypes) and PRNG,
 * all sized by @cfg. Returns NULL with errno EINVAL (bad config; use
 * mfn_dsr_config_check() for the message) or ENOMEM.
 */
struct mfn_dsr *mfn_dsr_create(const struct mfn_dsr_config *cfg);

/* Free everything; NULL is a no-op. */
void mfn_dsr_destroy(struct mfn_dsr *dsr);

/*
 * Build the feature vector of @obs against the source's current history
 * WITHOUT changing the history (for tests and offline tools).
 */
void mfn_dsr_features(const struct mfn_dsr *dsr, const struct mfn_dsr_obs *obs,
		      struct mfn_dsr_vec *out);

/*
 * Classify one new flow: update the source's history with @obs, build the
 * feature vector, find the nearest prototype, choose the action.
 * Returns 0, or -ENODATA when the reservoir holds no prototype at all
 * (builtin_prototypes off and nothing learned yet; @out then says client,
 * score 0, action Retry). Hot path: no allocation, lock, syscall or log.
 */
int mfn_dsr_classify(struct mfn_dsr *dsr, const struct mfn_dsr_obs *obs,
		     struct mfn_dsr_verdict *out);

/*
 * Only update the source history with @obs (e.g. for a flow L1 admitted by
 * other means), so rates stay true. Same cost rules as classify.
 */
void mfn_dsr_observe(struct mfn_dsr *dsr, const struct mfn_dsr_obs *obs);

/*
 * Add one labelled sample to the reservoir (see "Reservoir" above).
 * Returns 0 or -EINVAL for a class out of range. Off the per-packet path
 * but allocation-free, so a worker lcore may call it.
 */
int mfn_dsr_learn(struct mfn_dsr *dsr, const struct mfn_dsr_vec *vec, enum mfn_dsr_class cls);

/*
 * Learn from what happened to a flow classified earlier: @vec is the
 * verdict's vector kept with the flow. Returns 0 or -EINVAL for an unknown
 * outcome.
 */
int mfn_dsr_feedback(struct mfn_dsr *dsr, const struct mfn_dsr_vec *vec,
		     enum mfn_dsr_outcome outcome);

/* Prototypes currently held for @cls (never more than prototypes_per_class). */
unsigned int mfn_dsr_prototype_count(const struct mfn_dsr *dsr, enum mfn_dsr_class cls);

/* Similarity of two vectors under the DSR's weights, 0..1. */
float mfn_dsr_similarity(const struct mfn_dsr_vec *a, const struct mfn_dsr_vec *b);

/* "client", "flood", "scan", "replay"; "admit", "retry", "rate_limit", "drop". */
const char *mfn_dsr_class_name(enum mfn_dsr_class cls);
const char *mfn_dsr_action_name(enum mfn_dsr_action action);

#endif /* MFN_DSR_H */
