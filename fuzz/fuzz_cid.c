/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target: STOQ's QUIC-LB connection IDs (stoq_cid_decode, as any
 * node's dataplane reads them off short headers) under a plaintext and two
 * AES-encrypted configurations (one block at 17 octets; four passes at 9,
 * an odd length that splits the middle octet). Invariants beyond "no sanitizer report":
 * decode gives 0 or -EINVAL; a decoded server id fits server_id_len; and a
 * CID encoded from the input's first bytes (server id, nonce) decodes back
 * to the same server id under every configuration.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stoq.h"

static struct stoq_config plain, enc, enc4;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char err[256];

	(void)argc;
	(void)argv;
	if (stoq_config_defaults(&plain) < 0 || stoq_config_defaults(&enc) < 0)
		abort();
	plain.cid_len = 12;
	plain.server_id_len = 3;
	if (hm_cfg_set(&stoq_config_table, &enc, "cid_key", "4a1f0e7c2b9d88e6a0c3f1d2e4b5a697",
		       false, err, sizeof(err)) < 0)
		abort();
	enc4 = enc;
	enc.cid_len = 17;
	enc4.cid_len = 9;
	enc4.server_id_len = 3;
	if (stoq_config_check(&plain, err, sizeof(err)) < 0 ||
	    stoq_config_check(&enc, err, sizeof(err)) < 0 ||
	    stoq_config_check(&enc4, err, sizeof(err)) < 0)
		abort();
	return 0;
}

static void roundtrip(const struct stoq_config *c, const uint8_t *data, size_t size)
{
	uint8_t nonce[20] = { 0 }, cid[20];
	uint32_t id = 0, back = 0;

	if (size < 4)
		return;
	memcpy(&id, data, 4);
	if (c->server_id_len < 4)
		id &= (1u << (8 * c->server_id_len)) - 1;
	memcpy(nonce, data + 4, size - 4 < sizeof(nonce) ? size - 4 : sizeof(nonce));
	if (stoq_cid_encode(c, id, nonce, cid, sizeof(cid)) != 0)
		abort();
	if (stoq_cid_decode(c, cid, c->cid_len, &back) != 0 || back != id)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct stoq_config *cfgs[3] = { &plain, &enc, &enc4 };

	for (int k = 0; k < 3; k++) {
		uint32_t id = 0;
		int rc = stoq_cid_decode(cfgs[k], data, size, &id);

		if (rc != 0 && rc != -EINVAL)
			abort();
		if (rc == 0 && cfgs[k]->server_id_len < 4 && id >> (8 * cfgs[k]->server_id_len))
			abort();
		roundtrip(cfgs[k], data, size);
	}
	return 0;
}
