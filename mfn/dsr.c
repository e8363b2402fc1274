/* SPDX-License-Identifier: BSD-3-Clause */
#include "dsr.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define DSR_WAYS 4
#define DSR_QUIC_V1 0x00000001u
#define DSR_QUIC_V2 0x6b3343cfu /* RFC 9369 §3.1 */

/* One source prefix. 64 bytes: one cache line per way. */
struct dsr_src {
	uint64_t key; /* 0 = empty; see src_key() */
	uint64_t last_ns;
	float rate;	/* decaying count / tau: new flows per second */
	float gap_log;	/* EWMA of log2(inter-arrival ns) */
	float notoken;	/* EWMA of "Initial without token" */
	float distinct; /* decaying count of new DCIDs */
	float repeats;	/* decaying count of repeated DCIDs */
	uint32_t seen;
	/* 16-bit DCID fingerprints, 0 = empty: a false repeat needs a 1 in 8192 collision */
	uint16_t ring[MFN_DSR_DCID_RING];
	uint8_t _pad[8];
};

_Static_assert(sizeof(struct dsr_src) == 64, "dsr_src must stay one cache line");

struct dsr_proto {
	float c[MFN_DSR_NFEAT]; /* centroid */
	struct mfn_dsr_vec q;	/* centroid rounded */
	struct mfn_dsr_vec wq;	/* q with every feature times its weight: what classify compares */
	uint32_t n;		/* samples merged into it */
};

struct dsr_reservoir {
	uint32_t count;	 /* prototypes held, <= K */
	uint64_t stream; /* samples that did not merge: Algorithm R's j */
	struct dsr_proto *p;
};

struct mfn_dsr {
	struct mfn_dsr_config cfg;
	struct dsr_src *src; /* cfg.sources entries, DSR_WAYS per set */
	uint32_t set_mask;
	double tau_ns;
	float inv_tau_s;
	uint32_t hash_seed;
	uint64_t rng;
	struct dsr_reservoir res[MFN_DSR_NCLASS];
};

/*
 * Feature weights of the L1 distance. Rate, gap, distinct-DCID and repeat
 * features carry the behaviour of a source over many packets, where the
 * packet-only features are each easy for an attacker to mimic, so the
 * history features weigh double.
 */
static const uint8_t dsr_weight[MFN_DSR_NFEAT] = {
	[MFN_DSR_F_SIZE] = 2,	       [MFN_DSR_F_INITIAL] = 1,	     [MFN_DSR_F_SHORT] = 1,
	[MFN_DSR_F_OTHER] = 1,	       [MFN_DSR_F_VERSION_OK] = 1,   [MFN_DSR_F_TOKEN] = 1,
	[MFN_DSR_F_TOKEN_LEN] = 1,     [MFN_DSR_F_DCID_LEN] = 3,     [MFN_DSR_F_SCID_LEN] = 1,
	[MFN_DSR_F_DCID_REPEAT] = 2,   [MFN_DSR_F_RATE] = 2,	     [MFN_DSR_F_GAP] = 2,
	[MFN_DSR_F_NOTOKEN] = 2,       [MFN_DSR_F_DISTINCT] = 2,     [MFN_DSR_F_REPEAT_RATIO] = 2,
	[MFN_DSR_F_SEEN] = 1,
};

/* ---- configuration ---- */

static const char *const dsr_action_names[] = { "admit", "retry", "rate_limit", "drop", NULL };
static const char *const dsr_class_names[] = { "client", "flood", "scan", "replay" };

#define F(m) HM_CFG_FIELD(struct mfn_dsr_config, m)
static const struct hm_cfg_key dsr_config_keys[] = {
	{ .name = "dsr_sources", .type = HM_CFG_U32, .def = "65536", F(sources), .min = 64,
	  .max = 1 << 24, .validate = hm_cfg_validate_pow2,
	  .help = "source prefixes (/24, /48) whose history is kept; power of two" },
	{ .name = "dsr_prototypes_per_class", .type = HM_CFG_U32, .def = "32",
	  F(prototypes_per_class), .min = 1, .max = MFN_DSR_PROTO_MAX,
	  .help = "reservoir size K: prototypes kept per class" },
	{ .name = "dsr_history_ms", .type = HM_CFG_U32, .def = "2000", F(history_ms), .min = 10,
	  .max = 600000, .runtime = false,
	  .help = "time constant of a source's decaying rate and DCID counts" },
	{ .name = "dsr_min_support", .type = HM_CFG_U32, .def = "3", F(min_support), .min = 1,
	  .max = 1000, .runtime = true,
	  .help = "samples a prototype must have absorbed before it votes" },
	{ .name = "dsr_merge_similarity", .type = HM_CFG_DOUBLE, .def = "0.97",
	  F(merge_similarity), .dmin = 0.5, .dmax = 1.0, .runtime = true,
	  .help = "a sample at least this similar moves its nearest prototype" },
	{ .name = "dsr_centroid_min_rate", .type = HM_CFG_DOUBLE, .def = "0.02",
	  F(centroid_min_rate), .dmin = 0.0001, .dmax = 1.0, .runtime = true,
	  .help = "smallest step of a centroid update, so prototypes follow drift" },
	{ .name = "dsr_admit_score", .type = HM_CFG_DOUBLE, .def = "0.80", F(admit_score),
	  .dmin = 0.0, .dmax = 1.0, .runtime = true,
	  .help = "client verdicts at least this similar are admitted, others get a Retry" },
	{ .name = "dsr_attack_score", .type = HM_CFG_DOUBLE, .def = "0.80", F(attack_score),
	  .dmin = 0.0, .dmax = 1.0, .runtime = true,
	  .help = "attack verdicts at least this similar get their class action, others a Retry" },
	{ .name = "dsr_flood_action", .type = HM_CFG_ENUM, .def = "rate_limit", F(flood_action),
	  .enum_names = dsr_action_names, .runtime = true, .help = "action for Initial floods" },
	{ .name = "dsr_scan_action", .type = HM_CFG_ENUM, .def = "drop", F(scan_action),
	  .enum_names = dsr_action_names, .runtime = true, .help = "action for CID scans" },
	{ .name = "dsr_replay_action", .type = HM_CFG_ENUM, .def = "drop", F(replay_action),
	  .enum_names = dsr_action_names, .runtime = true, .help = "action for replays" },
	{ .name = "dsr_builtin_prototypes", .type = HM_CFG_BOOL, .def = "true",
	  F(builtin_prototypes), .help = "seed the reservoir with the protocol-derived priors" },
	{ .name = "dsr_seed", .type = HM_CFG_U64, .def = "1", F(seed), .min = 0, .max = 0,
	  .help = "seed of the reservoir-sampling PRNG and the DCID fingerprint hash" },
};
#undef F

const struct hm_cfg_table mfn_dsr_config_table = {
	.what = "dsr config",
	.keys = dsr_config_keys,
	.n_keys = sizeof(dsr_config_keys) / sizeof(dsr_config_keys[0]),
	.obj_size = sizeof(struct mfn_dsr_config),
};

int mfn_dsr_config_defaults(struct mfn_dsr_config *cfg, char *err, size_t errlen)
{
	return hm_cfg_defaults(&mfn_dsr_config_table, cfg, err, errlen);
}

int mfn_dsr_config_check(const struct mfn_dsr_config *cfg, char *err, size_t errlen)
{
	struct mfn_dsr_config tmp = *cfg;
	char text[64];

	/* Round-trip every key through the table so the bounds and hooks live once. */
	for (size_t i = 0; i < mfn_dsr_config_table.n_keys; i++) {
		const struct hm_cfg_key *k = &dsr_config_keys[i];
		int ret;

		if (k->type == HM_CFG_ENUM) {
			int v = *(const int *)((const char *)cfg + k->offset);

			if (v < 0 || v > MFN_DSR_DROP) {
				if (err)
					snprintf(err, errlen, "\"%s\" is %d: not an action", k->name, v);
				return -EINVAL;
			}
		}
		ret = hm_cfg_format(k, cfg, text, sizeof(text));
		if (ret == 0)
			ret = hm_cfg_set(&mfn_dsr_config_table, &tmp, k->name, text, false, err,
					 errlen);
		if (ret)
			return -EINVAL;
	}
	if (cfg->min_support > 1.0 / cfg->centroid_min_rate) {
		if (err)
			snprintf(err, errlen,
				 "\"dsr_min_support\" is %u: must be at most 1 / dsr_centroid_min_rate",
				 cfg->min_support);
		return -EINVAL;
	}
	return 0;
}

const char *mfn_dsr_class_name(enum mfn_dsr_class cls)
{
	return (unsigned int)cls < MFN_DSR_NCLASS ? dsr_class_names[cls] : "?";
}

const char *mfn_dsr_action_name(enum mfn_dsr_action action)
{
	return (unsigned int)action <= MFN_DSR_DROP ? dsr_action_names[action] : "?";
}

/* ---- small helpers ---- */

/* MurmurHash3's 64-bit finaliser: a full-avalanche mix of the prefix key. */
static inline uint64_t dsr_mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

/* splitmix64 (Steele, Lea, Flood 2014): the reservoir's PRNG. */
static inline uint64_t dsr_rand(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* /24 for IPv4, /48 for IPv6: what one site or one NAT pool holds. Never 0. */
static inline uint64_t dsr_src_key(const struct mfn_dsr_obs *o)
{
	uint64_t k = 0;
	int n = o->ip_version == 6 ? 6 : 3;

	for (int i = 0; i < n; i++)
		k = (k << 8) | o->src[i];
	return k | ((uint64_t)(o->ip_version == 6 ? 6 : 4) << 56);
}

/* FNV-1a, seeded per DSR so that a remote sender cannot aim at collisions. */
static inline uint16_t dsr_dcid_fp(uint32_t seed, const uint8_t *cid, uint8_t len)
{
	uint32_t h = 2166136261u ^ seed;

	for (uint8_t i = 0; i < len; i++)
		h = (h ^ cid[i]) * 16777619u;
	h = (h ^ len) * 16777619u;
	return (uint16_t)((h ^ (h >> 16)) | 1);
}

static inline uint8_t dsr_q(float v)
{
	if (!(v > 0.0f))
		return 0;
	if (v >= MFN_DSR_QMAX)
		return MFN_DSR_QMAX;
	return (uint8_t)(v + 0.5f);
}

static void dsr_src_reset(struct dsr_src *s, uint64_t key, uint64_t ts)
{
	memset(s, 0, sizeof(*s));
	s->key = key;
	s->last_ns = ts;
	s->notoken = 0.5f; /* unknown until the first Initial */
}

/* Advance one source's history by one new flow. */
static void dsr_src_update(const struct mfn_dsr *dsr, struct dsr_src *s,
			   const struct mfn_dsr_obs *o, bool *repeat)
{
	uint64_t dt = o->ts_ns > s->last_ns ? o->ts_ns - s->last_ns : 0;
	float decay = s->seen ? expf((float)(-(double)dt / dsr->tau_ns)) : 0.0f;
	bool rep = false;

	/* Decaying event counter: after n events at rate r it reads r (1 - e^-t/tau). */
	s->rate = s->rate * decay + dsr->inv_tau_s;
	if (s->seen) {
		float g = log2f((float)(dt ? dt : 1));

		s->gap_log += (g - s->gap_log) * 0.25f;
	} else {
		s->gap_log = 30.0f; /* unknown: as if one second apart */
	}
	if (o->pkt_type == MFN_DSR_PKT_INITIAL) {
		float nt = o->has_token ? 0.0f : 1.0f;

		s->notoken += (nt - s->notoken) * 0.25f;
	}
	s->distinct *= decay;
	s->repeats *= decay;
	if (o->dcid_len) {
		uint16_t fp = dsr_dcid_fp(dsr->hash_seed, o->dcid, o->dcid_len);

		for (int i = 0; i < MFN_DSR_DCID_RING; i++)
			rep |= s->ring[i] == fp;
		if (rep) {
			s->repeats += 1.0f;
		} else {
			s->distinct += 1.0f;
			s->ring[s->seen % MFN_DSR_DCID_RING] = fp;
		}
	}
	s->seen++;
	s->last_ns = o->ts_ns;
	*repeat = rep;
}

static void dsr_vec_build(const struct dsr_src *s, const struct mfn_dsr_obs *o, bool repeat,
			  struct mfn_dsr_vec *v)
{
	uint8_t *f = v->f;
	bool ver_ok = o->pkt_type == MFN_DSR_PKT_SHORT || o->version == DSR_QUIC_V1 ||
		      o->version == DSR_QUIC_V2;
	float rate = s->rate > 1e-6f ? s->rate : 1e-6f;

	f[MFN_DSR_F_SIZE] = dsr_q(o->udp_len / 100);
	f[MFN_DSR_F_INITIAL] = o->pkt_type == MFN_DSR_PKT_INITIAL ? MFN_DSR_QMAX : 0;
	f[MFN_DSR_F_SHORT] = o->pkt_type == MFN_DSR_PKT_SHORT ? MFN_DSR_QMAX : 0;
	f[MFN_DSR_F_OTHER] = f[MFN_DSR_F_INITIAL] || f[MFN_DSR_F_SHORT] ? 0 : MFN_DSR_QMAX;
	f[MFN_DSR_F_VERSION_OK] = ver_ok ? MFN_DSR_QMAX : 0;
	f[MFN_DSR_F_TOKEN] = o->has_token ? MFN_DSR_QMAX : 0;
	f[MFN_DSR_F_TOKEN_LEN] = dsr_q(o->token_len / 16);
	f[MFN_DSR_F_DCID_LEN] = dsr_q(o->dcid_len * 0.75f);
	f[MFN_DSR_F_SCID_LEN] = dsr_q(o->scid_len * 0.75f);
	f[MFN_DSR_F_DCID_REPEAT] = repeat ? MFN_DSR_QMAX : 0;
	f[MFN_DSR_F_RATE] = dsr_q((log2f(rate) + 4.0f) * (15.0f / 17.0f));
	f[MFN_DSR_F_GAP] = dsr_q(s->gap_log - 14.0f);
	f[MFN_DSR_F_NOTOKEN] = dsr_q(s->notoken * 15.0f);
	f[MFN_DSR_F_DISTINCT] = dsr_q(1.5f * log2f(1.0f + s->distinct));
	f[MFN_DSR_F_REPEAT_RATIO] =
		dsr_q(15.0f * s->repeats / (s->distinct + s->repeats + 1e-6f));
	f[MFN_DSR_F_SEEN] = dsr_q(log2f(1.0f + (float)s->seen));
}

/* The way holding @key, or NULL; *@victim gets the way to reuse otherwise. */
static struct dsr_src *dsr_src_find(const struct mfn_dsr *dsr, uint64_t key,
				    struct dsr_src **victim)
{
	struct dsr_src *set = &dsr->src[(dsr_mix64(key) & dsr->set_mask) * DSR_WAYS];
	struct dsr_src *old = &set[0];

	for (int i = 0; i < DSR_WAYS; i++) {
		if (set[i].key == key)
			return &set[i];
		if (set[i].key == 0)
			old = &set[i];
		else if (old->key != 0 && set[i].last_ns < old->last_ns)
			old = &set[i];
	}
	if (victim)
		*victim = old;
	return NULL;
}

void mfn_dsr_features(const struct mfn_dsr *dsr, const struct mfn_dsr_obs *obs,
		      struct mfn_dsr_vec *out)
{
	uint64_t key = dsr_src_key(obs);
	const struct dsr_src *s = dsr_src_find(dsr, key, NULL);
	struct dsr_src tmp;
	bool rep;

	if (s)
		tmp = *s;
	else
		dsr_src_reset(&tmp, key, obs->ts_ns);
	dsr_src_update(dsr, &tmp, obs, &rep);
	dsr_vec_build(&tmp, obs, rep, out);
}

static struct dsr_src *dsr_src_touch(struct mfn_dsr *dsr, const struct mfn_dsr_obs *obs,
				     bool *rep)
{
	uint64_t key = dsr_src_key(obs);
	struct dsr_src *victim = NULL;
	struct dsr_src *s = dsr_src_find(dsr, key, &victim);

	if (!s) {
		s = victim;
		dsr_src_reset(s, key, obs->ts_ns);
	}
	dsr_src_update(dsr, s, obs, rep);
	return s;
}

void mfn_dsr_observe(struct mfn_dsr *dsr, const struct mfn_dsr_obs *obs)
{
	bool rep;

	dsr_src_touch(dsr, obs, &rep);
}

/* ---- similarity and the reservoir ---- */

/*
 * Features pre-multiplied by their weight (at most 3 * 15, fits a byte), so
 * the weighted L1 distance is a plain sum of absolute byte differences: one
 * PSADBW on x86.
 */
static inline void dsr_vec_weigh(const struct mfn_dsr_vec *v, struct mfn_dsr_vec *w)
{
	for (int i = 0; i < MFN_DSR_NFEAT; i++)
		w->f[i] = (uint8_t)(v->f[i] * dsr_weight[i]);
}

static inline uint32_t dsr_sad(const struct mfn_dsr_vec *a, const struct mfn_dsr_vec *b)
{
#ifdef __SSE2__
	__m128i x = _mm_loadu_si128((const __m128i *)a->f);
	__m128i y = _mm_loadu_si128((const __m128i *)b->f);
	__m128i s = _mm_sad_epu8(x, y);

	return (uint32_t)(_mm_cvtsi128_si32(s) + _mm_extract_epi16(s, 4));
#else
	uint32_t d = 0;

	for (int i = 0; i < MFN_DSR_NFEAT; i++)
		d += (uint32_t)abs((int)a->f[i] - (int)b->f[i]);
	return d;
#endif
}

static inline uint32_t dsr_dist(const struct mfn_dsr_vec *a, const struct mfn_dsr_vec *b)
{
	struct mfn_dsr_vec wa, wb;

	dsr_vec_weigh(a, &wa);
	dsr_vec_weigh(b, &wb);
	return dsr_sad(&wa, &wb);
}

static uint32_t dsr_dist_max(void)
{
	uint32_t w = 0;

	for (int i = 0; i < MFN_DSR_NFEAT; i++)
		w += dsr_weight[i];
	return w * MFN_DSR_QMAX;
}

float mfn_dsr_similarity(const struct mfn_dsr_vec *a, const struct mfn_dsr_vec *b)
{
	return 1.0f - (float)dsr_dist(a, b) / (float)dsr_dist_max();
}

unsigned int mfn_dsr_prototype_count(const struct mfn_dsr *dsr, enum mfn_dsr_class cls)
{
	return (unsigned int)cls < MFN_DSR_NCLASS ? dsr->res[cls].count : 0;
}

static void dsr_proto_set(struct dsr_proto *p, const struct mfn_dsr_vec *v, uint32_t n)
{
	for (int i = 0; i < MFN_DSR_NFEAT; i++)
		p->c[i] = v->f[i];
	p->q = *v;
	dsr_vec_weigh(v, &p->wq);
	p->n = n;
}

int mfn_dsr_learn(struct mfn_dsr *dsr, const struct mfn_dsr_vec *vec, enum mfn_dsr_class cls)
{
	struct dsr_reservoir *r;
	struct dsr_proto *best = NULL;
	uint32_t best_d = UINT32_MAX;
	uint32_t k = dsr->cfg.prototypes_per_class;
	struct mfn_dsr_vec wv;

	if ((unsigned int)cls >= MFN_DSR_NCLASS)
		return -EINVAL;
	r = &dsr->res[cls];
	dsr_vec_weigh(vec, &wv);
	for (uint32_t i = 0; i < r->count; i++) {
		uint32_t d = dsr_sad(&wv, &r->p[i].wq);

		if (d < best_d) {
			best_d = d;
			best = &r->p[i];
		}
	}
	if (best && 1.0 - (double)best_d / dsr_dist_max() >= dsr->cfg.merge_similarity) {
		/* Moving centroid: the mean of what it absorbed, then an EWMA once
		 * n passes 1 / centroid_min_rate. */
		double cap = 1.0 / dsr->cfg.centroid_min_rate;
		float step;

		if (best->n < UINT32_MAX)
			best->n++;
		step = (float)(1.0 / (best->n < cap ? best->n : cap));
		for (int i = 0; i < MFN_DSR_NFEAT; i++) {
			best->c[i] += (vec->f[i] - best->c[i]) * step;
			best->q.f[i] = dsr_q(best->c[i]);
		}
		dsr_vec_weigh(&best->q, &best->wq);
		return 0;
	}
	if (r->count < k) {
		dsr_proto_set(&r->p[r->count++], vec, 1);
		return 0;
	}
	/*
	 * Vitter 1985, Algorithm R: the j-th candidate enters with probability
	 * K/j. Which slot it takes is the least supported one, so a lone outlier
	 * displaces another outlier rather than a well-supported mode.
	 */
	r->stream++;
	if (dsr_rand(&dsr->rng) % r->stream < k) {
		struct dsr_proto *victim = &r->p[0];

		for (uint32_t i = 1; i < k; i++)
			if (r->p[i].n < victim->n)
				victim = &r->p[i];
		dsr_proto_set(victim, vec, 1);
	}
	return 0;
}

int mfn_dsr_feedback(struct mfn_dsr *dsr, const struct mfn_dsr_vec *vec,
		     enum mfn_dsr_outcome outcome)
{
	static const uint8_t to_class[] = {
		[MFN_DSR_OUT_HANDSHAKE_DONE] = MFN_DSR_CLIENT,
		[MFN_DSR_OUT_RETRY_UNANSWERED] = MFN_DSR_FLOOD,
		[MFN_DSR_OUT_UNROUTABLE_CID] = MFN_DSR_SCAN,
		[MFN_DSR_OUT_DUPLICATE] = MFN_DSR_REPLAY,
	};

	if ((unsigned int)outcome >= sizeof(to_class))
		return -EINVAL;
	return mfn_dsr_learn(dsr, vec, to_class[outcome]);
}

int mfn_dsr_classify(struct mfn_dsr *dsr, const struct mfn_dsr_obs *obs,
		     struct mfn_dsr_verdict *out)
{
	uint32_t best_d = UINT32_MAX;
	uint32_t min_n = dsr->cfg.min_support;
	int best_c = -1, best_p = 0;
	struct mfn_dsr_vec wv;
	bool rep;
	const struct dsr_src *s = dsr_src_touch(dsr, obs, &rep);

	dsr_vec_build(s, obs, rep, &out->vec);
	dsr_vec_weigh(&out->vec, &wv);
	for (int c = 0; c < MFN_DSR_NCLASS; c++) {
		const struct dsr_reservoir *r = &dsr->res[c];
		uint32_t need = min_n;
		bool any = false;

		/* A class with no supported prototype yet still votes with what it has. */
		for (uint32_t i = 0; i < r->count && !any; i++)
			any = r->p[i].n >= min_n;
		if (!any)
			need = 0;
		for (uint32_t i = 0; i < r->count; i++) {
			uint32_t d;

			if (r->p[i].n < need)
				continue;
			d = dsr_sad(&wv, &r->p[i].wq);
			if (d < best_d) {
				best_d = d;
				best_c = c;
				best_p = (int)i;
			}
		}
	}
	if (best_c < 0) {
		out->cls = MFN_DSR_CLIENT;
		out->proto = 0;
		out->score = 0.0f;
		out->action = MFN_DSR_RETRY;
		return -ENODATA;
	}
	out->cls = (uint8_t)best_c;
	out->proto = (uint8_t)best_p;
	out->score = 1.0f - (float)best_d / (float)dsr_dist_max();
	switch (best_c) {
	case MFN_DSR_CLIENT:
		out->action = out->score >= dsr->cfg.admit_score ? MFN_DSR_ADMIT : MFN_DSR_RETRY;
		break;
	default: {
		int act = best_c == MFN_DSR_FLOOD  ? dsr->cfg.flood_action
			  : best_c == MFN_DSR_SCAN ? dsr->cfg.scan_action
						   : dsr->cfg.replay_action;

		out->action = out->score >= dsr->cfg.attack_score ? (uint8_t)act : MFN_DSR_RETRY;
		break;
	}
	}
	return 0;
}

/* ---- built-in priors ---- */

/*
 * Protocol-derived prototypes, in the order of enum mfn_dsr_feat:
 * SIZE INITIAL SHORT OTHER VER TOKEN TOKLEN DCID SCID REPEAT RATE GAP NOTOKEN
 * DISTINCT REPRATIO SEEN.
 */
static const struct {
	uint8_t cls;
	struct mfn_dsr_vec v;
} dsr_priors[] = {
	/* Client, first visit: Initial padded to >= 1200 bytes (RFC 9000 §14.1),
	 * DCID >= 8 bytes (§7.2), no token, a source seen rarely. */
	{ MFN_DSR_CLIENT, { { 12, 15, 0, 0, 15, 0, 0, 6, 6, 0, 4, 15, 15, 2, 0, 1 } } },
	/* Client coming back with a NEW_TOKEN token (§8.1.3). */
	{ MFN_DSR_CLIENT, { { 12, 15, 0, 0, 15, 15, 4, 6, 6, 0, 5, 15, 6, 4, 0, 3 } } },
	/* Busy NAT pool: many clients behind one /24, some with tokens. */
	{ MFN_DSR_CLIENT, { { 12, 15, 0, 0, 15, 0, 0, 9, 6, 0, 7, 12, 10, 8, 0, 7 } } },
	/* Flood of padded Initials without tokens from one prefix. */
	{ MFN_DSR_FLOOD, { { 12, 15, 0, 0, 15, 0, 0, 10, 8, 0, 12, 5, 15, 14, 0, 12 } } },
	/* Flood of short, unpadded Initials (servers drop them, §14.1, but they cost). */
	{ MFN_DSR_FLOOD, { { 4, 15, 0, 0, 15, 0, 0, 10, 8, 0, 12, 5, 15, 14, 0, 12 } } },
	/* Scan: short headers with random DCIDs probing for live connections. */
	{ MFN_DSR_SCAN, { { 1, 0, 15, 0, 15, 0, 0, 6, 0, 0, 9, 8, 7, 12, 0, 9 } } },
	/* Scan: version-negotiation probes with an unknown version (§6). */
	{ MFN_DSR_SCAN, { { 1, 0, 0, 15, 0, 0, 0, 4, 4, 0, 9, 8, 7, 12, 0, 9 } } },
	/* Scan: Initials with a DCID shorter than §7.2 allows. */
	{ MFN_DSR_SCAN, { { 3, 15, 0, 0, 15, 0, 0, 2, 2, 0, 9, 8, 15, 12, 0, 9 } } },
	/* Replay: the same captured Initial again and again (§9.2, §21.1). */
	{ MFN_DSR_REPLAY, { { 12, 15, 0, 0, 15, 0, 0, 9, 6, 15, 8, 10, 15, 2, 13, 8 } } },
	/* Replay of a captured Initial that carried a token. */
	{ MFN_DSR_REPLAY, { { 12, 15, 0, 0, 15, 15, 4, 9, 6, 15, 8, 10, 1, 2, 13, 8 } } },
	/* Replay of 0-RTT packets (RFC 9001 §9.2: 0-RTT has no replay protection). */
	{ MFN_DSR_REPLAY, { { 12, 0, 0, 15, 15, 0, 0, 9, 6, 15, 8, 10, 7, 2, 13, 8 } } },
};

static void dsr_priors_load(struct mfn_dsr *dsr)
{
	for (size_t i = 0; i < sizeof(dsr_priors) / sizeof(dsr_priors[0]); i++) {
		struct dsr_reservoir *r = &dsr->res[dsr_priors[i].cls];

		if (r->count < dsr->cfg.prototypes_per_class)
			dsr_proto_set(&r->p[r->count++], &dsr_priors[i].v, dsr->cfg.min_support);
	}
}

/* ---- lifecycle ---- */

struct mfn_dsr *mfn_dsr_create(const struct mfn_dsr_config *cfg)
{
	struct mfn_dsr *dsr;
	struct dsr_proto *protos;

	if (!cfg || mfn_dsr_config_check(cfg, NULL, 0)) {
		errno = EINVAL;
		return NULL;
	}
	dsr = calloc(1, sizeof(*dsr));
	if (!dsr)
		goto err;
	dsr->cfg = *cfg;
	if (posix_memalign((void **)&dsr->src, 64, (size_t)cfg->sources * sizeof(*dsr->src)))
		goto err_free_dsr;
	memset(dsr->src, 0, (size_t)cfg->sources * sizeof(*dsr->src));
	protos = calloc((size_t)MFN_DSR_NCLASS * cfg->prototypes_per_class, sizeof(*protos));
	if (!protos)
		goto err_free_src;
	for (int c = 0; c < MFN_DSR_NCLASS; c++)
		dsr->res[c].p = protos + (size_t)c * cfg->prototypes_per_class;
	dsr->set_mask = cfg->sources / DSR_WAYS - 1;
	dsr->tau_ns = cfg->history_ms * 1e6;
	dsr->inv_tau_s = (float)(1000.0 / cfg->history_ms);
	dsr->rng = cfg->seed;
	dsr->hash_seed = (uint32_t)dsr_mix64(cfg->seed ^ 0x5eed);
	if (cfg->builtin_prototypes)
		dsr_priors_load(dsr);
	return dsr;

err_free_src:
	free(dsr->src);
err_free_dsr:
	free(dsr);
err:
	errno = ENOMEM;
	return NULL;
}

void mfn_dsr_destroy(struct mfn_dsr *dsr)
{
	if (!dsr)
		return;
	free(dsr->res[0].p);
	free(dsr->src);
	free(dsr);
}
