/* SPDX-License-Identifier: BSD-3-Clause */
#include "dp_quiclb.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hm_config.h"
#include "hm_hex.h"
#include "hm_quiclb.h"

struct dp_quiclb_lcore {
	struct hm_quiclb_aes aes[DP_QUICLB_CONFIGS];
};

static int entry(const char *e, size_t n, unsigned int idx, struct dp_quiclb *q, char *why,
		 size_t whylen)
{
	char buf[128], *f[5], *save = NULL;
	unsigned long id, sid, cid;
	int nf = 0;

	if (n >= sizeof(buf)) {
		snprintf(why, whylen, "entry %u: too long", idx);
		return -EINVAL;
	}
	memcpy(buf, e, n);
	buf[n] = '\0';
	for (char *t = strtok_r(buf, ":", &save); t && nf < 5; t = strtok_r(NULL, ":", &save))
		f[nf++] = t;
	if (nf < 3 || nf > 4) {
		snprintf(why, whylen, "entry %u \"%.*s\": expected ID:SIDLEN:CIDLEN[:KEY]", idx,
			 (int)n, e);
		return -EINVAL;
	}
	char *end;

	id = strtoul(f[0], &end, 10);
	if (*end || f[0][0] == '\0' || id >= DP_QUICLB_CONFIGS) {
		snprintf(why, whylen, "entry %u: config id \"%s\": must be 0..6", idx, f[0]);
		return -EINVAL;
	}
	if (q->c[id].set) {
		snprintf(why, whylen, "entry %u: config id %lu appears twice", idx, id);
		return -EINVAL;
	}
	sid = strtoul(f[1], &end, 10);
	if (*end || f[1][0] == '\0' || sid < 1 || sid > 4) {
		snprintf(why, whylen, "entry %u: server id length \"%s\": must be 1..4 octets", idx,
			 f[1]);
		return -EINVAL;
	}
	cid = strtoul(f[2], &end, 10);
	/* A nonce of at least 4 octets (draft §3.2); 20 is QUIC's longest CID. */
	if (*end || f[2][0] == '\0' || cid < 1 + sid + 4 || cid > 20) {
		snprintf(why, whylen, "entry %u: CID length \"%s\": must be %lu..20", idx, f[2],
			 1 + sid + 4);
		return -EINVAL;
	}
	if (nf == 4) {
		if (strlen(f[3]) != 32) {
			snprintf(why, whylen, "entry %u: key: 32 hex digits (AES-128)", idx);
			return -EINVAL;
		}
		for (int i = 0; i < 16; i++) {
			int hi = hm_hex_digit(f[3][2 * i]), lo = hm_hex_digit(f[3][2 * i + 1]);

			if (hi < 0 || lo < 0) {
				snprintf(why, whylen, "entry %u: key: not hex at digit %d", idx,
					 2 * i + (hi < 0 ? 1 : 2));
				return -EINVAL;
			}
			q->c[id].key[i] = (uint8_t)(hi << 4 | lo);
		}
		q->c[id].keyed = true;
	}
	q->c[id].set = true;
	q->c[id].sid_len = (uint8_t)sid;
	q->c[id].cid_len = (uint8_t)cid;
	q->n++;
	return 0;
}

int dp_quiclb_parse(const char *text, struct dp_quiclb *out, char *why, size_t whylen)
{
	struct dp_quiclb q;
	unsigned int idx = 0;
	const char *p = text;

	memset(&q, 0, sizeof(q));
	while (*p) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		int rc = entry(p, n, idx++, &q, why, whylen);

		if (rc < 0)
			return rc;
		p += n + (comma != NULL);
	}
	*out = q;
	return 0;
}

int dp_quiclb_lcore_init(const struct dp_quiclb *q, struct dp_quiclb_lcore **out)
{
	struct dp_quiclb_lcore *l = calloc(1, sizeof(*l));

	if (l == NULL)
		return -ENOMEM;
	for (int i = 0; i < DP_QUICLB_CONFIGS; i++) {
		if (q->c[i].keyed && hm_quiclb_aes_init(&l->aes[i], q->c[i].key) < 0) {
			dp_quiclb_lcore_free(l);
			return -EINVAL;
		}
	}
	*out = l;
	return 0;
}

void dp_quiclb_lcore_free(struct dp_quiclb_lcore *l)
{
	if (l == NULL)
		return;
	for (int i = 0; i < DP_QUICLB_CONFIGS; i++)
		hm_quiclb_aes_fini(&l->aes[i]);
	free(l);
}

int dp_quiclb_decode(const struct dp_quiclb *q, struct dp_quiclb_lcore *l, const uint8_t *cid,
		     size_t len, uint32_t *server_id)
{
	unsigned int id;

	if (len == 0)
		return -EINVAL;
	id = cid[0] >> 5;
	if (id >= DP_QUICLB_CONFIGS || !q->c[id].set)
		return -ENOENT;
	if (len != q->c[id].cid_len)
		return -EINVAL;
	return hm_quiclb_server_id(q->c[id].keyed ? &l->aes[id] : NULL, cid, len,
				   q->c[id].sid_len, server_id);
}
