/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The dataplane's QUIC-LB decoder (dataplane/dp_quiclb.c) against what
 * hmesh-stoq issues (stoq/stoq_cid.c): every CID a server makes decodes to
 * its server id, plain and encrypted (one AES block, or four passes at
 * every other length), across a key rotation; refusals of
 * the mfn_quic_lb config name the entry and the field.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dp_quiclb.h"
#include "stoq.h"

static const char *K0 = "000102030405060708090a0b0c0d0e0f";
static const char *K1 = "f0e0d0c0b0a090807060504030201000";

static void server_cfg(struct stoq_config *c, unsigned int config_id, unsigned int sid_len,
		       unsigned int cid_len, const char *keyhex)
{
	cr_assert_eq(stoq_config_defaults(c), 0);
	c->cid_config_id = config_id;
	c->server_id_len = sid_len;
	c->cid_len = cid_len;
	c->cid_key.set = keyhex != NULL;
	for (int i = 0; keyhex && i < 16; i++) {
		char b[3] = {keyhex[2 * i], keyhex[2 * i + 1], 0};

		c->cid_key.b[i] = (uint8_t)strtoul(b, NULL, 16);
	}
}

/* A server with @c issues 200 CIDs for random server ids; the dataplane with @lb decodes them. */
static void issue_and_decode(const struct stoq_config *c, const char *lb, int want_rc)
{
	struct dp_quiclb q;
	struct dp_quiclb_lcore *l;
	char why[160];
	uint32_t max = c->server_id_len >= 4 ? UINT32_MAX : (1u << (8 * c->server_id_len)) - 1;

	cr_assert_eq(dp_quiclb_parse(lb, &q, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(dp_quiclb_lcore_init(&q, &l), 0);
	srand(7);
	for (int i = 0; i < 200; i++) {
		uint8_t nonce[20], cid[20];
		uint32_t sid = (uint32_t)rand() % (max < 100000 ? max + 1 : 100000), got = ~0u;

		for (size_t k = 0; k < sizeof(nonce); k++)
			nonce[k] = (uint8_t)rand();
		cr_assert_eq(stoq_cid_encode(c, sid, nonce, cid, sizeof(cid)), 0);
		cr_assert_eq(dp_quiclb_decode(&q, l, cid, c->cid_len, &got), want_rc,
			     "config %u cid %u: rc", c->cid_config_id, i);
		if (want_rc == 0)
			cr_assert_eq(got, sid, "config %u: server id %u decoded as %u",
				     c->cid_config_id, sid, got);
	}
	dp_quiclb_lcore_free(l);
}

Test(cid_lb, plain_cids_decode_to_the_server_id)
{
	struct stoq_config c;

	server_cfg(&c, 2, 2, 8, NULL);
	issue_and_decode(&c, "2:2:8", 0);
	server_cfg(&c, 0, 4, 20, NULL);
	issue_and_decode(&c, "0:4:20", 0);
}

Test(cid_lb, encrypted_cids_decode_with_the_key)
{
	struct stoq_config c;
	char lb[64];

	/* One AES block (server id + nonce = 16 octets), then four passes at
	 * every other length hmesh-stoq may issue, odd and even. */
	server_cfg(&c, 1, 3, 17, K0);
	snprintf(lb, sizeof(lb), "1:3:17:%s", K0);
	issue_and_decode(&c, lb, 0);
	for (unsigned int sid_len = 1; sid_len <= 4; sid_len++)
		for (unsigned int len = 1 + sid_len + 4; len <= 20; len++) {
			if (len == 17)
				continue;
			server_cfg(&c, 2, sid_len, len, K1);
			snprintf(lb, sizeof(lb), "2:%u:%u:%s", sid_len, len, K1);
			issue_and_decode(&c, lb, 0);
		}
}

/* With another key the dataplane reads a different server id: the key is used. */
Test(cid_lb, the_wrong_key_reads_another_server_id)
{
	struct stoq_config c;
	struct dp_quiclb q;
	struct dp_quiclb_lcore *l;
	char lb[64], why[160];
	uint8_t nonce[20] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, cid[20];
	uint32_t got;

	server_cfg(&c, 0, 2, 8, K0);
	snprintf(lb, sizeof(lb), "0:2:8:%s", K1);
	cr_assert_eq(dp_quiclb_parse(lb, &q, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(dp_quiclb_lcore_init(&q, &l), 0);
	cr_assert_eq(stoq_cid_encode(&c, 0x1234, nonce, cid, sizeof(cid)), 0);
	cr_assert_eq(dp_quiclb_decode(&q, l, cid, 8, &got), 0);
	cr_expect_neq(got, 0x1234u);
	dp_quiclb_lcore_free(l);
}

Test(cid_lb, key_rotation_keeps_both_configs_routable)
{
	struct stoq_config old, new;
	char both[128], only_new[64];

	/* Servers move from config 0 (K0) to config 1 (K1); the dataplane holds both. */
	server_cfg(&old, 0, 3, 17, K0);
	server_cfg(&new, 1, 3, 17, K1);
	snprintf(both, sizeof(both), "0:3:17:%s,1:3:17:%s", K0, K1);
	issue_and_decode(&old, both, 0);
	issue_and_decode(&new, both, 0);
	/* Config 0 retired: its CIDs are no one's (L2/L3 decide such flows). */
	snprintf(only_new, sizeof(only_new), "1:3:17:%s", K1);
	issue_and_decode(&old, only_new, -ENOENT);
	issue_and_decode(&new, only_new, 0);
}

Test(cid_lb, foreign_and_malformed_cids_are_refused)
{
	struct dp_quiclb q;
	struct dp_quiclb_lcore *l;
	char why[160];
	uint32_t sid;
	uint8_t cid[8] = {2 << 5 | 7, 0, 1, 9, 9, 9, 9, 9};

	cr_assert_eq(dp_quiclb_parse("2:2:8", &q, why, sizeof(why)), 0);
	cr_assert_eq(dp_quiclb_lcore_init(&q, &l), 0);
	cr_expect_eq(dp_quiclb_decode(&q, l, cid, 8, &sid), 0);
	cr_expect_eq(sid, 1u);
	cr_expect_eq(dp_quiclb_decode(&q, l, cid, 7, &sid), -EINVAL, "length differs from config");
	cid[0] = 2 << 5 | 6; /* self-encoded length says 7 */
	cr_expect_eq(dp_quiclb_decode(&q, l, cid, 8, &sid), -EINVAL);
	cid[0] = 7 << 5 | 7; /* config 7: unroutable */
	cr_expect_eq(dp_quiclb_decode(&q, l, cid, 8, &sid), -ENOENT);
	cid[0] = 3 << 5 | 7; /* not configured */
	cr_expect_eq(dp_quiclb_decode(&q, l, cid, 8, &sid), -ENOENT);
	cr_expect_eq(dp_quiclb_decode(&q, l, cid, 0, &sid), -EINVAL);
	dp_quiclb_lcore_free(l);
}

Test(cid_lb, config_refusals_name_the_entry_and_field)
{
	static const struct {
		const char *text, *want;
	} cases[] = {
		{"7:3:17", "entry 0: config id \"7\": must be 0..6"},
		{"0:3:17,0:2:8", "entry 1: config id 0 appears twice"},
		{"0:0:8", "server id length \"0\": must be 1..4"},
		{"0:5:17", "server id length \"5\""},
		{"0:3:7", "CID length \"7\": must be 8..20"},
		{"0:3:21", "CID length \"21\""},
		{"0:3", "expected ID:SIDLEN:CIDLEN[:KEY]"},
		{"0:3:17:0011", "key: 32 hex digits"},
		{"0:3:17:zz0102030405060708090a0b0c0d0e0f", "key: not hex at digit 1"},
		{"x:3:17", "config id \"x\""},
	};
	struct dp_quiclb q;
	char why[160];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		why[0] = '\0';
		cr_expect_eq(dp_quiclb_parse(cases[i].text, &q, why, sizeof(why)), -EINVAL, "%s",
			     cases[i].text);
		cr_expect(strstr(why, cases[i].want) != NULL, "%s: \"%s\" lacks \"%s\"",
			  cases[i].text, why, cases[i].want);
	}
	cr_expect_eq(dp_quiclb_parse("", &q, why, sizeof(why)), 0);
	cr_expect_eq(q.n, 0u);
}
