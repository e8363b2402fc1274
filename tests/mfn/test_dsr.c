/* SPDX-License-Identifier: BSD-3-Clause */
/* mfn_dsr: features, history, reservoir bounds, config errors, verdicts. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "dsr.h"

static struct mfn_dsr_config cfg;
static char err[256];

static void setup(void)
{
	cr_assert_eq(mfn_dsr_config_defaults(&cfg, err, sizeof(err)), 0, "%s", err);
}

TestSuite(dsr, .init = setup);

static struct mfn_dsr *make(void)
{
	struct mfn_dsr *d = mfn_dsr_create(&cfg);

	cr_assert_not_null(d);
	return d;
}

/* A client Initial from 192.0.2.@host (RFC 5737 documentation range). */
static struct mfn_dsr_obs initial(uint64_t ts, uint8_t host, uint16_t size, uint16_t token_len)
{
	struct mfn_dsr_obs o = { 0 };

	o.ts_ns = ts;
	o.version = 1;
	o.udp_len = size;
	o.pkt_type = MFN_DSR_PKT_INITIAL;
	o.has_token = token_len > 0;
	o.token_len = token_len;
	o.dcid_len = 8;
	/* RFC 9000 §7.2: unpredictable; here a hash of (ts, host) so tests can repeat one. */
	uint64_t h = (ts ^ ((uint64_t)host << 56)) * 0x9e3779b97f4a7c15ULL;
	for (int i = 0; i < 8; i++)
		o.dcid[i] = (uint8_t)((h ^ (h >> 29)) >> (8 * i));
	o.ip_version = 4;
	o.src[0] = 192;
	o.src[1] = 0;
	o.src[2] = 2;
	o.src[3] = host;
	return o;
}

Test(dsr, features_of_a_first_padded_initial_with_token)
{
	struct mfn_dsr *d = make();
	struct mfn_dsr_obs o = initial(1000, 1, 1250, 48);
	struct mfn_dsr_vec v;

	mfn_dsr_features(d, &o, &v);
	cr_expect_eq(v.f[MFN_DSR_F_SIZE], 12);
	cr_expect_eq(v.f[MFN_DSR_F_INITIAL], 15);
	cr_expect_eq(v.f[MFN_DSR_F_SHORT], 0);
	cr_expect_eq(v.f[MFN_DSR_F_OTHER], 0);
	cr_expect_eq(v.f[MFN_DSR_F_VERSION_OK], 15);
	cr_expect_eq(v.f[MFN_DSR_F_TOKEN], 15);
	cr_expect_eq(v.f[MFN_DSR_F_TOKEN_LEN], 3);
	cr_expect_eq(v.f[MFN_DSR_F_DCID_LEN], 6);
	cr_expect_eq(v.f[MFN_DSR_F_SCID_LEN], 0);
	cr_expect_eq(v.f[MFN_DSR_F_DCID_REPEAT], 0);
	/* One flow, tau 2 s: 0.5 flows/s -> (log2(0.5) + 4) * 15/17 = 2.6 -> 3. */
	cr_expect_eq(v.f[MFN_DSR_F_RATE], 3);
	cr_expect_eq(v.f[MFN_DSR_F_GAP], 15, "unknown gap reads as long");
	/* Prior 0.5, one Initial with a token: 0.5 - 0.125 = 0.375 -> 5.6 -> 6. */
	cr_expect_eq(v.f[MFN_DSR_F_NOTOKEN], 6);
	cr_expect_eq(v.f[MFN_DSR_F_DISTINCT], 2);
	cr_expect_eq(v.f[MFN_DSR_F_REPEAT_RATIO], 0);
	cr_expect_eq(v.f[MFN_DSR_F_SEEN], 1);
	mfn_dsr_destroy(d);
}

Test(dsr, features_do_not_touch_history)
{
	struct mfn_dsr *d = make();
	struct mfn_dsr_obs o = initial(1000, 1, 1250, 0);
	struct mfn_dsr_vec a, b;

	mfn_dsr_features(d, &o, &a);
	mfn_dsr_features(d, &o, &b);
	cr_assert_eq(memcmp(&a, &b, sizeof(a)), 0);
	cr_assert_eq(a.f[MFN_DSR_F_SEEN], 1);
	mfn_dsr_destroy(d);
}

Test(dsr, history_is_per_prefix_and_tracks_rate_gap_and_repeats)
{
	struct mfn_dsr *d = make();
	struct mfn_dsr_obs o;
	struct mfn_dsr_vec v;

	/* 200 flows, 1 ms apart, from different hosts of 192.0.2.0/24. */
	for (int i = 0; i < 200; i++) {
		o = initial(1000000 + (uint64_t)i * 1000000, (uint8_t)i, 1200, 0);
		mfn_dsr_observe(d, &o);
	}
	o = initial(201000000, 250, 1200, 0);
	mfn_dsr_features(d, &o, &v);
	/* 200 in 0.2 s with tau 2 s: ~ 2 (1 - e^-0.1) * 1000/s / 2... about 95 /s -> 9..10. */
	cr_expect(v.f[MFN_DSR_F_RATE] >= 9 && v.f[MFN_DSR_F_RATE] <= 10, "rate %u",
		  v.f[MFN_DSR_F_RATE]);
	cr_expect_eq(v.f[MFN_DSR_F_GAP], 6, "log2(1 ms) - 14 = 5.9, got %u", v.f[MFN_DSR_F_GAP]);
	cr_expect_eq(v.f[MFN_DSR_F_NOTOKEN], 15);
	cr_expect_eq(v.f[MFN_DSR_F_SEEN], 8, "log2(202) = 7.7");
	cr_expect_eq(v.f[MFN_DSR_F_DCID_REPEAT], 0);

	/* Another /24 has no history. */
	o.src[2] = 3;
	mfn_dsr_features(d, &o, &v);
	cr_expect_eq(v.f[MFN_DSR_F_SEEN], 1);

	/* The same DCID again from the first prefix is a repeat. */
	o = initial(1000000 + 199ULL * 1000000, 199, 1200, 0);
	o.ts_ns = 202000000;
	mfn_dsr_features(d, &o, &v);
	cr_expect_eq(v.f[MFN_DSR_F_DCID_REPEAT], 15);
	mfn_dsr_destroy(d);
}

Test(dsr, ipv6_sources_share_history_per_48)
{
	struct mfn_dsr *d = make();
	struct mfn_dsr_obs o = initial(1000, 0, 1200, 0);
	struct mfn_dsr_vec v;

	o.ip_version = 6;
	memcpy(o.src, "\x20\x01\x0d\xb8\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01", 16);
	mfn_dsr_observe(d, &o);
	o.src[6] = 0xff; /* another /64 inside the same /48 */
	o.src[15] = 9;
	mfn_dsr_features(d, &o, &v);
	cr_expect_eq(v.f[MFN_DSR_F_SEEN], 2, "log2(1 + 2) = 1.58");
	o.src[5] = 2; /* another /48 */
	mfn_dsr_features(d, &o, &v);
	cr_expect_eq(v.f[MFN_DSR_F_SEEN], 1);
	mfn_dsr_destroy(d);
}

Test(dsr, ordinary_initial_with_token_is_admitted)
{
	struct mfn_dsr *d = make();
	struct mfn_dsr_obs o = initial(5000, 7, 1252, 64);
	struct mfn_dsr_verdict v;

	cr_assert_eq(mfn_dsr_classify(d, &o, &v), 0);
	cr_expect_eq(v.cls, MFN_DSR_CLIENT, "class %s", mfn_dsr_class_name(v.cls));
	cr_expect_eq(v.action, MFN_DSR_ADMIT, "action %s score %f", mfn_dsr_action_name(v.action),
		     v.score);
	cr_expect(v.score >= cfg.admit_score && v.score <= 1.0f);
	mfn_dsr_destroy(d);
}

Test(dsr, flood_from_one_prefix_becomes_flood_after_enough_packets)
{
	struct mfn_dsr *d = make();
	struct mfn_dsr_verdict v;
	int first_flood = -1;

	/* 2000 Initials/s without tokens from 198.51.100.0/24. */
	for (int i = 0; i < 400; i++) {
		struct mfn_dsr_obs o = initial((uint64_t)i * 500000, (uint8_t)(i % 3), 1200, 0);

		o.src[0] = 198;
		o.src[1] = 51;
		o.src[2] = 100;
		o.dcid_len = 16;
		cr_assert_eq(mfn_dsr_classify(d, &o, &v), 0);
		if (i == 0)
			cr_expect_eq(v.cls, MFN_DSR_CLIENT, "a first packet has no history");
		if (v.cls == MFN_DSR_FLOOD && first_flood < 0)
			first_flood = i;
	}
	cr_expect(first_flood > 0 && first_flood < 100, "first flood verdict at %d", first_flood);
	cr_expect_eq(v.cls, MFN_DSR_FLOOD, "last verdict %s", mfn_dsr_class_name(v.cls));
	cr_expect_eq(v.action, MFN_DSR_RATE_LIMIT);
	mfn_dsr_destroy(d);
}

Test(dsr, scan_and_replay_are_recognised)
{
	struct mfn_dsr *d = make();
	struct mfn_dsr_verdict v;

	/* 200 short headers/s with random DCIDs and random sizes from 203.0.113.0/24. */
	for (int i = 0; i < 200; i++) {
		struct mfn_dsr_obs o = initial((uint64_t)i * 5000000, 1, 0, 0);

		o.src[0] = 203;
		o.src[1] = 0;
		o.src[2] = 113;
		o.pkt_type = MFN_DSR_PKT_SHORT;
		o.version = 0;
		o.udp_len = (uint16_t)(40 + (i * 37) % 300);
		mfn_dsr_classify(d, &o, &v);
	}
	cr_expect_eq(v.cls, MFN_DSR_SCAN, "got %s", mfn_dsr_class_name(v.cls));
	cr_expect_eq(v.action, MFN_DSR_DROP);

	/* One captured Initial replayed 50 times a second. */
	struct mfn_dsr_obs cap = initial(0, 1, 1250, 0);

	cap.src[2] = 77;
	for (int i = 0; i < 100; i++) {
		cap.ts_ns = 1000000000ULL + (uint64_t)i * 20000000;
		mfn_dsr_classify(d, &cap, &v);
	}
	cr_expect_eq(v.cls, MFN_DSR_REPLAY, "got %s", mfn_dsr_class_name(v.cls));
	cr_expect_eq(v.action, MFN_DSR_DROP);
	mfn_dsr_destroy(d);
}

Test(dsr, empty_reservoir_returns_enodata)
{
	struct mfn_dsr *d;
	struct mfn_dsr_obs o = initial(1, 1, 1200, 0);
	struct mfn_dsr_verdict v;

	cfg.builtin_prototypes = false;
	d = make();
	for (int c = 0; c < MFN_DSR_NCLASS; c++)
		cr_expect_eq(mfn_dsr_prototype_count(d, c), 0);
	cr_expect_eq(mfn_dsr_classify(d, &o, &v), -ENODATA);
	cr_expect_eq(v.action, MFN_DSR_RETRY);
	/* One labelled sample is enough to answer. */
	cr_assert_eq(mfn_dsr_learn(d, &v.vec, MFN_DSR_SCAN), 0);
	cr_expect_eq(mfn_dsr_classify(d, &o, &v), 0);
	cr_expect_eq(v.cls, MFN_DSR_SCAN);
	mfn_dsr_destroy(d);
}

Test(dsr, feedback_changes_the_reservoir_within_its_bound)
{
	struct mfn_dsr *d;
	struct mfn_dsr_vec x;
	uint64_t s = 42;
	unsigned int before;

	cfg.prototypes_per_class = 4;
	d = make();
	before = mfn_dsr_prototype_count(d, MFN_DSR_CLIENT);
	for (int i = 0; i < 5000; i++) {
		for (int k = 0; k < MFN_DSR_NFEAT; k++) {
			s = s * 6364136223846793005ULL + 1442695040888963407ULL;
			x.f[k] = (uint8_t)((s >> 33) % 16);
		}
		cr_assert_eq(mfn_dsr_feedback(d, &x, MFN_DSR_OUT_HANDSHAKE_DONE), 0);
		cr_assert_leq(mfn_dsr_prototype_count(d, MFN_DSR_CLIENT), 4);
		for (int c = 1; c < MFN_DSR_NCLASS; c++)
			cr_assert_leq(mfn_dsr_prototype_count(d, c), 4);
	}
	cr_expect_eq(mfn_dsr_prototype_count(d, MFN_DSR_CLIENT), 4);
	cr_expect_lt(before, 4, "the priors left room to grow");
	cr_expect_eq(mfn_dsr_feedback(d, &x, (enum mfn_dsr_outcome)99), -EINVAL);
	cr_expect_eq(mfn_dsr_learn(d, &x, MFN_DSR_NCLASS), -EINVAL);
	mfn_dsr_destroy(d);
}

Test(dsr, feedback_teaches_a_new_mode)
{
	struct mfn_dsr *d = make();
	struct mfn_dsr_obs o = initial(1000, 3, 1250, 0);
	struct mfn_dsr_verdict v;

	/* A padded Initial without token from a fresh prefix is a client to the priors... */
	mfn_dsr_classify(d, &o, &v);
	cr_assert_eq(v.cls, MFN_DSR_CLIENT, "got %s", mfn_dsr_class_name(v.cls));
	/* ...until anti-replay keeps catching exactly this first packet. */
	for (int i = 0; i < 10; i++)
		cr_assert_eq(mfn_dsr_feedback(d, &v.vec, MFN_DSR_OUT_DUPLICATE), 0);
	o.src[2] = 9; /* same first packet from a fresh prefix */
	mfn_dsr_classify(d, &o, &v);
	cr_expect_eq(v.cls, MFN_DSR_REPLAY, "got %s", mfn_dsr_class_name(v.cls));
	cr_expect_float_eq(v.score, 1.0f, 1e-6);
	mfn_dsr_destroy(d);
}

Test(dsr, same_seed_same_verdicts)
{
	struct mfn_dsr *a, *b;

	cfg.prototypes_per_class = 3;
	a = make();
	b = make();
	for (int i = 0; i < 3000; i++) {
		struct mfn_dsr_obs o = initial((uint64_t)i * 3000000, (uint8_t)i, 
					       (uint16_t)(200 + (i * 131) % 1300), (i % 5) ? 0 : 40);
		struct mfn_dsr_verdict va, vb;

		o.src[2] = (uint8_t)(i % 11);
		mfn_dsr_classify(a, &o, &va);
		mfn_dsr_classify(b, &o, &vb);
		/* Field by field: memcmp of the structs would compare their
		 * padding, which classify never writes (under ASan the two
		 * stack slots hold different garbage there). */
		cr_assert(va.cls == vb.cls && va.action == vb.action && va.proto == vb.proto &&
			  va.score == vb.score && memcmp(&va.vec, &vb.vec, sizeof(va.vec)) == 0,
			  "diverged at %d", i);
		mfn_dsr_learn(a, &va.vec, (enum mfn_dsr_class)(i % MFN_DSR_NCLASS));
		mfn_dsr_learn(b, &vb.vec, (enum mfn_dsr_class)(i % MFN_DSR_NCLASS));
	}
	mfn_dsr_destroy(a);
	mfn_dsr_destroy(b);
}

Test(dsr, config_errors_name_the_key)
{
	struct mfn_dsr_config c = cfg;

	cr_assert_eq(hm_cfg_set(&mfn_dsr_config_table, &c, "dsr_prototypes_per_class", "0", false,
				err, sizeof(err)),
		     -EINVAL);
	cr_expect(strstr(err, "\"dsr_prototypes_per_class\" is 0"), "%s", err);
	cr_assert_eq(hm_cfg_set(&mfn_dsr_config_table, &c, "dsr_flood_action", "explode", false,
				err, sizeof(err)),
		     -EINVAL);
	cr_expect(strstr(err, "dsr_flood_action") && strstr(err, "rate_limit"), "%s", err);
	cr_assert_eq(hm_cfg_set(&mfn_dsr_config_table, &c, "dsr_nope", "1", false, err,
				sizeof(err)),
		     -ENOENT);

	c.sources = 1000;
	cr_assert_eq(mfn_dsr_config_check(&c, err, sizeof(err)), -EINVAL);
	cr_expect(strstr(err, "\"dsr_sources\" is 1000: must be a power of two"), "%s", err);
	errno = 0;
	cr_expect_null(mfn_dsr_create(&c));
	cr_expect_eq(errno, EINVAL);

	c = cfg;
	c.admit_score = 1.5;
	cr_assert_eq(mfn_dsr_config_check(&c, err, sizeof(err)), -EINVAL);
	cr_expect(strstr(err, "dsr_admit_score"), "%s", err);

	c = cfg;
	c.centroid_min_rate = 0.5;
	c.min_support = 5;
	cr_assert_eq(mfn_dsr_config_check(&c, err, sizeof(err)), -EINVAL);
	cr_expect(strstr(err, "dsr_min_support"), "%s", err);
	cr_expect_eq(mfn_dsr_config_check(&cfg, err, sizeof(err)), 0, "%s", err);
}

Test(dsr, source_table_reuses_the_oldest_way)
{
	struct mfn_dsr *d;
	struct mfn_dsr_vec v;
	struct mfn_dsr_obs o = initial(1, 1, 1200, 0);

	cfg.sources = 64;
	d = make();
	/* Far more prefixes than slots: the table never grows, old ones are forgotten. */
	for (uint32_t i = 0; i < 5000; i++) {
		o.ts_ns = 1000 + i;
		o.src[1] = (uint8_t)(i >> 8);
		o.src[2] = (uint8_t)i;
		mfn_dsr_observe(d, &o);
	}
	o.src[1] = 0;
	o.src[2] = 0;
	mfn_dsr_features(d, &o, &v);
	cr_expect_eq(v.f[MFN_DSR_F_SEEN], 1, "prefix 0 was evicted long ago");
	o.src[1] = (uint8_t)(4999 >> 8);
	o.src[2] = (uint8_t)4999;
	mfn_dsr_features(d, &o, &v);
	cr_expect_eq(v.f[MFN_DSR_F_SEEN], 2, "the newest prefix is remembered");
	mfn_dsr_destroy(d);
}
