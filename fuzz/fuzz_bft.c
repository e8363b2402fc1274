/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target: the PBFT core's message handling (bft_receive), as a
 * cluster member's peer port feeds it. Peers are members with keys, so a
 * Byzantine member can send any body under a valid signature: the input is
 * a sequence of records
 *     u8 signer, u16 length (LE), length bytes
 * where signer 0..3 means "the bytes are a header and body: sign them as
 * member signer" (its replica field is overwritten, so the signature holds
 * and the body parsers — batches, view changes, new views, state transfer —
 * are reached), and any other signer value delivers the bytes as they are
 * (unsigned garbage, truncated headers). Between records the clock moves
 * and the replica ticks. The replica is member 1 of 4; it also submits a
 * request of its own first so that it has work in flight.
 *
 * Invariants beyond "no sanitizer report": bft_receive() returns 0; the
 * replica never executes the same request twice.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "consensus_priv.h"

#define N 4

static uint8_t priv[N][BFT_KEY];
static struct bft_config cfg;
static unsigned int own_execs;

static void on_send(void *ctx, int to, const uint8_t *m, size_t len)
{
	(void)ctx;
	(void)to;
	(void)m;
	(void)len;
}

static void on_execute(void *ctx, uint64_t seq, uint32_t from, const uint8_t *req, size_t len)
{
	(void)ctx;
	(void)seq;
	(void)from;
	/* §4.1: at most once, whatever the Byzantine peers replay. */
	if (len == 8 && memcmp(req, "own-req", 8) == 0 && ++own_execs > 1)
		abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	for (int i = 0; i < N; i++) {
		for (int k = 0; k < BFT_KEY; k++)
			priv[i][k] = (uint8_t)(i * 29 + k * 3 + 7);
		if (bft_public_key(priv[i], cfg.pub[i]) < 0)
			abort();
	}
	cfg.n = N;
	cfg.id = 1;
	cfg.checkpoint_interval = 2;
	cfg.window = 8;
	cfg.view_timeout_ms = 50;
	cfg.retransmit_ms = 20;
	cfg.batch_max = 4;
	memcpy(cfg.priv, priv[1], BFT_KEY);
	cfg.ops = (struct bft_ops){.send = on_send, .execute = on_execute};
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bft_replica *r;
	uint64_t now = 1;
	size_t off = 0;

	own_execs = 0;
	if (bft_create(&cfg, &r) < 0)
		abort();
	bft_submit(r, (const uint8_t *)"own-req", 8, now);
	while (size - off >= 3) {
		uint8_t signer = data[off];
		size_t len = data[off + 1] | (size_t)data[off + 2] << 8;
		const uint8_t *b = data + off + 3;

		off += 3;
		if (len > size - off)
			len = size - off;
		off += len;
		if (signer < N && len >= BFT_HDR) {
			struct bft_hdr h;
			const uint8_t *body;
			size_t blen;
			uint8_t *m, *copy = malloc(len + BFT_SIG);
			size_t ml;

			if (copy == NULL)
				break;
			/* Parse as if signed: the header, then all the rest is the body. */
			memcpy(copy, b, len);
			memset(copy + len, 0, BFT_SIG);
			if (bft_hdr_parse(copy, len + BFT_SIG, &h, &body, &blen) == 0) {
				h.replica = signer;
				if (bft_msg_build(priv[signer], &h, body, blen, &m, &ml) == 0) {
					if (bft_receive(r, m, ml, now) != 0)
						abort();
					free(m);
				}
			}
			free(copy);
		} else if (bft_receive(r, b, len, now) != 0) {
			abort();
		}
		now += data[off - len - 2] % 64;
		bft_tick(r, now);
	}
	bft_destroy(r);
	return 0;
}
