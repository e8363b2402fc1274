/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hm_quiclb — the encrypted part of a QUIC-LB connection ID
 * (draft-ietf-quic-load-balancers-19 §5.4): the octets after the first,
 * server id then nonce, encrypted with AES-128. One implementation for the
 * server that issues CIDs (stoq/stoq_cid.c) and the load balancer that
 * reads the server id back (dataplane/dp_quiclb.c).
 *
 *   §5.4.1 single pass: server id + nonce are exactly 16 octets, one
 *          AES-128-ECB block.
 *   §5.4.2 four passes: any other length (5..19 octets): a Feistel network
 *          over two halves, AES-ECB of one half (expanded to a block with
 *          the plaintext length and the pass number) XORed into the other.
 *          It uses AES encryption in both directions.
 *
 * Checked against the draft's worked example and its Appendix B vectors
 * (tests/common/test_quiclb.c).
 *
 * Threads: a context is used by one thread at a time (wolfCrypt's Aes is
 * not shared); the functions keep no other state.
 */
#ifndef HM_QUICLB_H
#define HM_QUICLB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/aes.h>

#define HM_QUICLB_KEY_LEN 16
/* Server id + nonce: at least 1 + 4 octets (draft §3.2), at most a 20-octet CID less its first. */
#define HM_QUICLB_PLAIN_MIN 5
#define HM_QUICLB_PLAIN_MAX 19

struct hm_quiclb_aes {
	Aes enc; /* single-pass encryption; four passes, both ways */
	Aes dec; /* single-pass decryption */
	bool on;
};

/* Key @a with a 16-octet key. Returns 0 or -EINVAL (wolfCrypt refused it). */
int hm_quiclb_aes_init(struct hm_quiclb_aes *a, const uint8_t key[HM_QUICLB_KEY_LEN]);
/* Release @a; a no-op when it was never keyed (zeroed) or already released. */
void hm_quiclb_aes_fini(struct hm_quiclb_aes *a);

/*
 * Encrypt or decrypt the @len octets after a CID's first octet (@in and
 * @out may be the same buffer). Returns 0, or -EINVAL when @len is outside
 * HM_QUICLB_PLAIN_MIN..MAX or AES failed.
 */
int hm_quiclb_encrypt(const struct hm_quiclb_aes *a, const uint8_t *in, size_t len, uint8_t *out);
int hm_quiclb_decrypt(const struct hm_quiclb_aes *a, const uint8_t *in, size_t len, uint8_t *out);

/*
 * The server id a CID of @len octets (first octet included) carries, for a
 * caller that has matched its config: checks the length the first octet
 * self-encodes (§2.3), decrypts with @a when it is keyed (NULL or unkeyed:
 * plaintext, §5.2) and reads @sid_len (1..4) octets, big-endian. Returns
 * 0, or -EINVAL when the length does not match or decryption failed.
 */
int hm_quiclb_server_id(const struct hm_quiclb_aes *a, const uint8_t *cid, size_t len,
			unsigned int sid_len, uint32_t *server_id);

#endif /* HM_QUICLB_H */
