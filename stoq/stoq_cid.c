/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * stoq_cid.c — connection IDs that carry the server id, after
 * draft-ietf-quic-load-balancers-19 ("QUIC-LB").
 *
 * §2.3 first octet: 3 config rotation bits, then 5 bits that either hold
 * random bits or the CID length minus one ("length self-encoding"); we
 * self-encode so a load balancer can find the end of short-header DCIDs.
 * §5.2 plaintext: server id then nonce, in the clear.
 * §5.4 with cid_key: server id and nonce encrypted (common/hm_quiclb.c):
 * one AES block when they are 16 octets, four passes for any other length.
 */
#include <errno.h>
#include <string.h>

#include "stoq_priv.h"

int stoq_cid_aes_init(struct hm_quiclb_aes *a, const struct stoq_config *cfg)
{
	memset(a, 0, sizeof(*a));
	if (!cfg->cid_key.set)
		return 0;
	return hm_quiclb_aes_init(a, cfg->cid_key.b);
}

int stoq_cid_encode_aes(const struct stoq_config *cfg, const struct hm_quiclb_aes *a,
			uint32_t server_id, const uint8_t *nonce, uint8_t *out, size_t outlen)
{
	size_t sidlen = cfg->server_id_len, len = cfg->cid_len;
	size_t noncelen = len - 1 - sidlen;
	uint8_t plain[STOQ_CID_MAX];

	if (outlen < len || len > STOQ_CID_MAX || len < 1 + sidlen + 4)
		return -EINVAL;
	plain[0] = (uint8_t)((cfg->cid_config_id & 7) << 5 | ((len - 1) & 0x1f));
	for (size_t i = 0; i < sidlen; i++)
		plain[1 + i] = (uint8_t)(server_id >> (8 * (sidlen - 1 - i)));
	memcpy(plain + 1 + sidlen, nonce, noncelen);
	out[0] = plain[0];
	/* The first octet stays clear so the rotation bits and length are readable. */
	if (a && a->on)
		return hm_quiclb_encrypt(a, plain + 1, len - 1, out + 1);
	memcpy(out + 1, plain + 1, len - 1);
	return 0;
}

int stoq_cid_decode_aes(const struct stoq_config *cfg, const struct hm_quiclb_aes *a,
			const uint8_t *cid, size_t len, uint32_t *server_id)
{
	if (len != cfg->cid_len || len > STOQ_CID_MAX || (cid[0] >> 5) != cfg->cid_config_id)
		return -EINVAL;
	return hm_quiclb_server_id(a, cid, len, cfg->server_id_len, server_id);
}

int stoq_cid_encode(const struct stoq_config *cfg, uint32_t server_id, const uint8_t *nonce,
		    uint8_t *out, size_t outlen)
{
	struct hm_quiclb_aes a;
	int rc = stoq_cid_aes_init(&a, cfg);

	if (rc < 0)
		return rc;
	rc = stoq_cid_encode_aes(cfg, &a, server_id, nonce, out, outlen);
	hm_quiclb_aes_fini(&a);
	return rc;
}

int stoq_cid_decode(const struct stoq_config *cfg, const uint8_t *cid, size_t len,
		    uint32_t *server_id)
{
	struct hm_quiclb_aes a;
	int rc = stoq_cid_aes_init(&a, cfg);

	if (rc < 0)
		return rc;
	rc = stoq_cid_decode_aes(cfg, &a, cid, len, server_id);
	hm_quiclb_aes_fini(&a);
	return rc;
}
