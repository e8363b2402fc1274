/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * STOQ unit tests: config validation, QUIC-LB connection IDs, Retry and
 * stateless reset tokens, whole client↔server exchanges through the
 * I/O-free core over a simulated link (no sockets, simulated clock), the
 * driver loop's turn over a back end in memory, and the DPDK back end.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <sched.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include <linux/magic.h>

#include "hm_hex.h"
#include "stoq_priv.h"

/* ------------------------------------------------------------- config */

Test(stoq_config, defaults_are_valid)
{
	struct stoq_config cfg;
	char err[256] = "";

	cr_assert_eq(stoq_config_defaults(&cfg), 0);
	cr_assert_eq(stoq_config_check(&cfg, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(cfg.cc, STOQ_CC_CUBIC);
	cr_assert_eq(cfg.max_streams_bidi, 100);
	cr_assert_eq(cfg.active_connection_id_limit, 8);
	cr_assert(cfg.verify_peer);
}

static void expect_refused(const char *key, const char *value, int want)
{
	struct stoq_config cfg, before;
	char err[256] = "";
	int rc;

	stoq_config_defaults(&cfg);
	before = cfg;
	rc = hm_cfg_set(&stoq_config_table, &cfg, key, value, false, err, sizeof(err));
	cr_assert_eq(rc, want, "%s=%s gave %d (%s)", key, value, rc, err);
	if (want != -ENOENT)
		cr_assert(strstr(err, key), "error does not name the key: %s", err);
	cr_assert(memcmp(&cfg, &before, sizeof(cfg)) == 0, "a refused value changed the config");
}

Test(stoq_config, bad_values_name_the_key)
{
	expect_refused("max_ack_delay_ms", "16384", -EINVAL);	  /* RFC 9000 §18.2 */
	expect_refused("ack_delay_exponent", "21", -EINVAL);	  /* RFC 9000 §18.2 */
	expect_refused("active_connection_id_limit", "1", -EINVAL); /* must be >= 2 */
	expect_refused("cc", "vegas", -EINVAL);
	expect_refused("aes_gcm", "vaes", -EINVAL);
	expect_refused("cid_key", "00112233", -EINVAL);
	expect_refused("max_udp_payload", "1100", -EINVAL);
	expect_refused("body_read_cpus", "0-x", -EINVAL);
	expect_refused("body_read_cpus", "1,1", -EINVAL);
	expect_refused("body_read_cpus", "1024", -EINVAL);
	expect_refused("put_buffers", "0", -EINVAL);
	expect_refused("file_cache_bytes", "-1", -EINVAL);
	expect_refused("file_cache_bytes", "1T2", -EINVAL);
	expect_refused("file_cache_idle_ms", "0", -EINVAL); /* never idle long enough: say 1 */
	expect_refused("busy_poll_us", "1000001", -EINVAL); /* a second at most */
	expect_refused("busy_poll_us", "-1", -EINVAL);
	expect_refused("no_such_key", "1", -ENOENT);
}

Test(stoq_config, accepts_every_cc)
{
	static const char *names[] = { "cubic", "bbr", "bbr2", "reno" };
	struct stoq_config cfg;
	char err[256];

	stoq_config_defaults(&cfg);
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(hm_cfg_set(&stoq_config_table, &cfg, "cc", names[i], false, err,
					sizeof(err)),
			     0);
		cr_assert_eq(cfg.cc, i);
	}
}

Test(stoq_config, rules_between_keys)
{
	struct stoq_config cfg;
	char err[256], val[32];

	stoq_config_defaults(&cfg);
	cfg.server_id = 70000; /* does not fit 2 octets */
	cr_assert_eq(stoq_config_check(&cfg, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "\"server_id\""), "%s", err);

	stoq_config_defaults(&cfg);
	cfg.cid_len = 6; /* 1 + 2 + nonce 3 < 4 */
	cr_assert_eq(stoq_config_check(&cfg, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "\"cid_len\""), "%s", err);

	stoq_config_defaults(&cfg);
	cr_assert_eq(hm_cfg_set(&stoq_config_table, &cfg, "cid_key",
				"000102030405060708090a0b0c0d0e0f", false, err, sizeof(err)),
		     0);
	/* A key at any CID length: one AES block at 17, four passes otherwise. */
	cr_assert_eq(stoq_config_check(&cfg, err, sizeof(err)), 0, "%s", err); /* cid_len 8 */
	cfg.cid_len = 17;
	cr_assert_eq(stoq_config_check(&cfg, err, sizeof(err)), 0, "%s", err);

	/* Pager CPUs: ones this machine has, and threads to place on them. */
	stoq_config_defaults(&cfg);
	cr_assert_eq(hm_cfg_set(&stoq_config_table, &cfg, "body_read_cpus", "0", false, err,
				sizeof(err)),
		     0, "%s", err);
	cr_assert_eq(stoq_config_check(&cfg, err, sizeof(err)), 0, "%s", err);
	cfg.body_read_threads = 0;
	cr_assert_eq(stoq_config_check(&cfg, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "\"body_read_cpus\"") && strstr(err, "body_read_threads is 0"), "%s",
		  err);
	stoq_config_defaults(&cfg);
	snprintf(val, sizeof(val), "%ld", sysconf(_SC_NPROCESSORS_CONF)); /* one past the last */
	cr_assert_eq(hm_cfg_set(&stoq_config_table, &cfg, "body_read_cpus", val, false, err,
				sizeof(err)),
		     0, "%s", err);
	cr_assert_eq(stoq_config_check(&cfg, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "\"body_read_cpus\" names CPU"), "%s", err);
}

/* -------------------------------------------------------------- SHA-256 */

/* @data in pieces of the sizes @cuts gives in turn (0 ends the list: the rest at once). */
static void sha_in_pieces(bool ni, const uint8_t *data, size_t len, const size_t *cuts,
			  uint8_t d[32])
{
	struct stoq_sha256 s;

	cr_assert_eq(stoq_sha256_init_impl(&s, ni), 0);
	cr_assert_eq(s.ni, ni && stoq_sha256_has_ni());
	for (size_t off = 0, i = 0; off < len;) {
		size_t k = cuts && cuts[i] ? cuts[i++] : len - off;

		if (k > len - off)
			k = len - off;
		cr_assert_eq(stoq_sha256_update(&s, data + off, k), 0);
		off += k;
	}
	cr_assert_eq(stoq_sha256_final(&s, d), 0);
	stoq_sha256_free(&s);
}

/* FIPS 180-4's examples (the NIST example values), both implementations. */
Test(stoq_sha256, known_answers)
{
	static const struct {
		const char *msg;
		size_t repeat;
		const char *hex;
	} kat[] = {
		{"", 1, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{"abc", 1, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
		{"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 1,
		 "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
		{"a", 1000000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"},
	};

	if (!stoq_sha256_has_ni())
		cr_log_warn("this CPU has no SHA extensions: wolfCrypt's code both times");
	for (size_t i = 0; i < sizeof(kat) / sizeof(kat[0]); i++) {
		size_t n = strlen(kat[i].msg), len = n * kat[i].repeat;
		uint8_t *m = malloc(len + 1), d[32];
		char hex[65];

		cr_assert_not_null(m);
		for (size_t r = 0; r < kat[i].repeat; r++)
			memcpy(m + r * n, kat[i].msg, n);
		for (int ni = 0; ni < 2; ni++) {
			sha_in_pieces(ni, m, len, NULL, d);
			hm_hex_encode(d, 32, hex);
			cr_assert_str_eq(hex, kat[i].hex, "message %zu (%s)", i, ni ? "SHA-NI" : "wolfCrypt");
		}
		free(m);
	}
}

/* Every length up to a few blocks past the padding edges, and a long run
 * fed in odd pieces: the SHA-NI code and wolfCrypt's agree byte for byte. */
Test(stoq_sha256, sha_ni_agrees_with_wolfcrypt_at_every_length_and_split)
{
	const size_t len = (3u << 20) + 77;
	uint8_t *m = malloc(len), a[32], b[32];
	uint64_t x = 0x9e3779b97f4a7c15ull;
	static const size_t cuts[] = {1, 63, 64, 65, 7, 128, 55, 56, 57, 4096, 3, 0};

	cr_assert_not_null(m);
	for (size_t i = 0; i < len; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		m[i] = (uint8_t)x;
	}
	for (size_t n = 0; n <= 300; n++) {
		sha_in_pieces(true, m, n, NULL, a);
		sha_in_pieces(false, m, n, NULL, b);
		cr_assert_eq(memcmp(a, b, 32), 0, "%zu bytes at once", n);
		sha_in_pieces(true, m, n, cuts, a);
		cr_assert_eq(memcmp(a, b, 32), 0, "%zu bytes in pieces", n);
	}
	sha_in_pieces(true, m, len, cuts, a);
	sha_in_pieces(false, m, len, NULL, b);
	cr_assert_eq(memcmp(a, b, 32), 0, "%zu bytes", len);
	free(m);
}

/* ------------------------------------------------------------- AES-GCM */

static size_t unhex(const char *h, uint8_t *out)
{
	size_t n = strlen(h) / 2;

	cr_assert_eq(hm_hex_decode(h, out, n), 0, "bad hex %s", h);
	return n;
}

/* The GCM specification's test cases 2, 4 (AES-128) and 16 (AES-256). */
Test(stoq_gcm, known_answers)
{
	static const struct {
		const char *key, *iv, *pt, *aad, *ct, *tag;
	} kat[] = {
		{"00000000000000000000000000000000", "000000000000000000000000",
		 "00000000000000000000000000000000", "", "0388dace60b6a392f328c2b971b2fe78",
		 "ab6e47d42cec13bdf53a67b21257bddf"},
		{"feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888",
		 "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
		 "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
		 "feedfacedeadbeeffeedfacedeadbeefabaddad2",
		 "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
		 "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091",
		 "5bc94fbc3221a5db94fae95ae7121a47"},
		{"feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
		 "cafebabefacedbaddecaf888",
		 "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
		 "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
		 "feedfacedeadbeeffeedfacedeadbeefabaddad2",
		 "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
		 "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
		 "76fc6ece0f4e1768cddf8853bb2d551b"},
	};

	if (!stoq_gcm_supported())
		cr_skip_test("this CPU has no VAES/VPCLMULQDQ: stoq_gcm is not used");
	for (size_t i = 0; i < 2 * sizeof(kat) / sizeof(kat[0]); i++) {
		uint8_t key[32], iv[12], pt[64], aad[32], ct[64], tag[16], out[64], t[16];
		size_t c = i % (sizeof(kat) / sizeof(kat[0]));
		size_t kl = unhex(kat[c].key, key), n = unhex(kat[c].pt, pt),
		       al = unhex(kat[c].aad, aad);
		struct stoq_gcm_key k;

		/* every case in the CPU's width, then in 256-bit registers */
		cr_assert_eq(stoq_gcm_use_width(i == c ? 0 : 256), 0);
		unhex(kat[c].iv, iv);
		unhex(kat[c].ct, ct);
		unhex(kat[c].tag, tag);
		cr_assert_eq(stoq_gcm_init(&k, key, kl), 0);
		stoq_gcm_seal(&k, out, pt, n, iv, aad, al, t);
		cr_assert_eq(memcmp(out, ct, n), 0, "case %zu, %u bits: ciphertext", c, stoq_gcm_width());
		cr_assert_eq(memcmp(t, tag, 16), 0, "case %zu, %u bits: tag", c, stoq_gcm_width());
		cr_assert_eq(stoq_gcm_open(&k, out, out, n, iv, aad, al, tag), 0, "case %zu", c);
		cr_assert_eq(memcmp(out, pt, n), 0, "case %zu: opened", c);
	}
}

Test(stoq_gcm, refuses_a_key_of_another_length)
{
	struct stoq_gcm_key k;
	uint8_t key[32] = { 0 };

	if (!stoq_gcm_supported())
		cr_skip_test("no VAES/VPCLMULQDQ");
	cr_assert_eq(stoq_gcm_init(&k, key, 24), -EINVAL);
	cr_assert_eq(stoq_gcm_init(&k, key, 0), -EINVAL);
}

static void xorshift_fill(uint8_t *p, size_t n, uint64_t *x)
{
	for (size_t i = 0; i < n; i++) {
		*x ^= *x << 13, *x ^= *x >> 7, *x ^= *x << 17;
		p[i] = (uint8_t)*x;
	}
}

/*
 * Against wolfCrypt's wc_AesGcmEncrypt/Decrypt: both key sizes, every
 * payload length to 600 bytes and on to past a jumbo packet in odd steps
 * (every tail shape of the 256-byte steps), AAD of 0 to 310 bytes (QUIC
 * headers, and past a 256-byte step), in place and not. Any flipped bit
 * of ciphertext, tag or AAD is refused.
 */
Test(stoq_gcm, agrees_with_wolfcrypt_at_every_length_in_both_widths)
{
	enum { MAX = 9100 };
	uint8_t *pt = malloc(MAX), *a = malloc(MAX), *b = malloc(MAX), *o = malloc(MAX);
	uint8_t key[32], iv[12], aad[320], ta[16], tb[16];
	uint64_t x = 0x2545f4914f6cdd1dull;

	if (!stoq_gcm_supported())
		cr_skip_test("no VAES/VPCLMULQDQ");
	cr_assert(pt && a && b && o);
	/* AES-128 and AES-256 in the CPU's width, then both in 256-bit
	 * registers (what a CPU with VAES but no AVX-512 runs). */
	for (size_t kl = 16, pass = 0; pass < 4; pass++, kl = kl == 16 ? 32 : 16) {
		cr_assert_eq(stoq_gcm_use_width(pass < 2 ? 0 : 256), 0);
		struct stoq_gcm_key k;
		Aes wc;

		xorshift_fill(key, kl, &x);
		cr_assert_eq(stoq_gcm_init(&k, key, kl), 0);
		cr_assert_eq(wc_AesInit(&wc, NULL, INVALID_DEVID), 0);
		cr_assert_eq(wc_AesGcmSetKey(&wc, key, (word32)kl), 0);
		for (size_t n = 0; n < MAX; n += n < 600 ? 1 : 97) {
			size_t al = (n * 7) % 311; /* every length once in n < 311 */

			xorshift_fill(pt, n, &x);
			xorshift_fill(iv, sizeof(iv), &x);
			xorshift_fill(aad, al, &x);
			cr_assert_eq(wc_AesGcmEncrypt(&wc, a, pt, (word32)n, iv, 12, ta, 16, aad,
						      (word32)al), 0);
			memcpy(b, pt, n);
			if (n & 1)
				stoq_gcm_seal(&k, b, b, n, iv, aad, al, tb);
			else
				stoq_gcm_seal(&k, b, pt, n, iv, aad, al, tb);
			cr_assert_eq(memcmp(a, b, n), 0, "AES-%zu, %u bits, %zu bytes, aad %zu: ciphertext",
				     kl * 8, stoq_gcm_width(), n, al);
			cr_assert_eq(memcmp(ta, tb, 16), 0, "AES-%zu, %u bits, %zu bytes, aad %zu: tag",
				     kl * 8, stoq_gcm_width(), n, al);
			cr_assert_eq(stoq_gcm_open(&k, o, a, n, iv, aad, al, ta), 0);
			cr_assert_eq(memcmp(o, pt, n), 0, "AES-%zu, %zu bytes: opened", kl * 8, n);
			/* One flipped bit anywhere: refused. */
			if (n) {
				a[(n * 13) % n] ^= 0x10;
				cr_assert_eq(stoq_gcm_open(&k, o, a, n, iv, aad, al, ta), -EBADMSG,
					     "%zu bytes: a changed ciphertext opened", n);
				a[(n * 13) % n] ^= 0x10;
			}
			ta[n % 16] ^= 1;
			cr_assert_eq(stoq_gcm_open(&k, o, a, n, iv, aad, al, ta), -EBADMSG);
			ta[n % 16] ^= 1;
			if (al) {
				aad[al - 1] ^= 0x80;
				cr_assert_eq(stoq_gcm_open(&k, o, a, n, iv, aad, al, ta), -EBADMSG);
				aad[al - 1] ^= 0x80;
			}
			/* and wolfCrypt opens ours */
			cr_assert_eq(wc_AesGcmDecrypt(&wc, o, b, (word32)n, iv, 12, tb, 16, aad,
						      (word32)al), 0);
		}
		wc_AesFree(&wc);
	}
	free(pt), free(a), free(b), free(o);
}

/*
 * The AAD is read within its bytes and no further (masked loads in 512-bit
 * registers, a copy in 256-bit ones): at the end of a page followed by an
 * inaccessible one, and at the start of a page after one, every AAD
 * length to 70 bytes, in both widths, gives wolfCrypt's tag (a read past
 * either edge is a SIGSEGV: a load of 16 bytes ending at the AAD's end
 * fails it at the page's start).
 */
Test(stoq_gcm, reads_the_aad_within_its_bytes)
{
	long pg = sysconf(_SC_PAGESIZE);
	uint8_t *m = mmap(NULL, (size_t)pg * 3, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint8_t key[16], iv[12], pt[100], ct[100], ta[16], tb[16];
	uint64_t x = 0x9e3779b97f4a7c15ull;
	struct stoq_gcm_key k;
	Aes wc;

	if (!stoq_gcm_supported())
		cr_skip_test("no VAES/VPCLMULQDQ");
	cr_assert(m != MAP_FAILED);
	cr_assert_eq(mprotect(m, (size_t)pg, PROT_NONE), 0);
	cr_assert_eq(mprotect(m + 2 * pg, (size_t)pg, PROT_NONE), 0);
	xorshift_fill(key, sizeof(key), &x);
	xorshift_fill(pt, sizeof(pt), &x);
	cr_assert_eq(stoq_gcm_init(&k, key, sizeof(key)), 0);
	cr_assert_eq(wc_AesInit(&wc, NULL, INVALID_DEVID), 0);
	cr_assert_eq(wc_AesGcmSetKey(&wc, key, sizeof(key)), 0);
	for (unsigned int width = 0; width <= 256; width += 256) {
		cr_assert_eq(stoq_gcm_use_width(width), 0);
		for (size_t al = 1; al <= 70; al++) {
			uint8_t *at[2] = { m + 2 * pg - al, m + pg }; /* against the end, the start */

			for (int e = 0; e < 2; e++) {
				xorshift_fill(at[e], al, &x);
				xorshift_fill(iv, sizeof(iv), &x);
				cr_assert_eq(wc_AesGcmEncrypt(&wc, ct, pt, sizeof(pt), iv, 12, ta, 16, at[e],
							      (word32)al), 0);
				stoq_gcm_seal(&k, ct, pt, sizeof(pt), iv, at[e], al, tb);
				cr_assert_eq(memcmp(ta, tb, 16), 0, "%u bits, aad %zu at the page's %s",
					     stoq_gcm_width(), al, e ? "start" : "end");
			}
		}
	}
	cr_assert_eq(stoq_gcm_use_width(0), 0);
	wc_AesFree(&wc);
	munmap(m, (size_t)pg * 3);
}

/*
 * ngtcp2's packet callbacks (stoq_aead.c) on contexts made as
 * ngtcp2_crypto_wolfssl makes them: with aes_gcm auto (stoq_gcm) the
 * packets are wolfCrypt's byte for byte, for both key sizes, so the key
 * read out of wolfCrypt's schedule is the key; a context's stoq_gcm key
 * lives until ngtcp2 deletes the context, across the table's growth.
 */
Test(stoq_aead, vaes_packets_match_wolfcrypt_and_keys_go_with_their_context)
{
	enum { NCTX = 300, LEN = 1410 };
	static ngtcp2_crypto_aead_ctx enc[NCTX], dec[NCTX];
	static uint8_t keys[NCTX][32];
	uint8_t pt[LEN], a[LEN + 16], b[LEN + 16], o[LEN], nonce[12], hd[24];
	uint64_t x = 0x1234567887654321ull;
	size_t held0;

	if (!stoq_gcm_supported())
		cr_skip_test("no VAES/VPCLMULQDQ");
	stoq_aead_use_wolfcrypt(false);
	cr_assert(stoq_aead_vaes());
	held0 = stoq_aead_keys_held();
	for (int i = 0; i < NCTX; i++) {
		size_t kl = i % 3 == 2 ? 32 : 16;
		ngtcp2_crypto_aead aead = {
			.native_handle = (void *)(kl == 16 ? wolfSSL_EVP_aes_128_gcm()
							   : wolfSSL_EVP_aes_256_gcm()),
			.max_overhead = 16,
		};
		Aes wc;

		xorshift_fill(keys[i], kl, &x);
		cr_assert_eq(ngtcp2_crypto_aead_ctx_encrypt_init(&enc[i], &aead, keys[i], 12), 0);
		cr_assert_eq(ngtcp2_crypto_aead_ctx_decrypt_init(&dec[i], &aead, keys[i], 12), 0);
		xorshift_fill(pt, LEN, &x);
		xorshift_fill(nonce, 12, &x);
		xorshift_fill(hd, sizeof(hd), &x);
		memcpy(a, pt, LEN);
		/* twice: made on the first packet, found on the second */
		for (int r = 0; r < 2; r++) {
			memcpy(a, pt, LEN);
			cr_assert_eq(stoq_aead_encrypt_cb(a, &aead, &enc[i], a, LEN, nonce, 12, hd,
							  sizeof(hd)), 0);
		}
		cr_assert_eq(wc_AesInit(&wc, NULL, INVALID_DEVID), 0);
		cr_assert_eq(wc_AesGcmSetKey(&wc, keys[i], (word32)kl), 0);
		cr_assert_eq(wc_AesGcmEncrypt(&wc, b, pt, LEN, nonce, 12, b + LEN, 16, hd,
					      sizeof(hd)), 0);
		wc_AesFree(&wc);
		cr_assert_eq(memcmp(a, b, LEN + 16), 0, "context %d (AES-%zu): not wolfCrypt's bytes",
			     i, kl * 8);
		cr_assert_eq(stoq_aead_decrypt_cb(o, &aead, &dec[i], a, LEN + 16, nonce, 12, hd,
						  sizeof(hd)), 0);
		cr_assert_eq(memcmp(o, pt, LEN), 0);
		a[7] ^= 4;
		cr_assert_eq(stoq_aead_decrypt_cb(o, &aead, &dec[i], a, LEN + 16, nonce, 12, hd,
						  sizeof(hd)), NGTCP2_ERR_DECRYPT);
	}
	cr_assert_eq(stoq_aead_keys_held(), held0 + 2 * NCTX);
	/* Half deleted: every other one is still found where it is (a
	 * deletion that broke a probe chain would make it again). */
	for (int i = 0; i < NCTX; i += 2) {
		stoq_aead_delete_ctx_cb(NULL, &enc[i], NULL);
		stoq_aead_delete_ctx_cb(NULL, &dec[i], NULL);
	}
	cr_assert_eq(stoq_aead_keys_held(), held0 + NCTX);
	for (int i = 1; i < NCTX; i += 2) {
		ngtcp2_crypto_aead aead = {
			.native_handle = (void *)(i % 3 == 2 ? wolfSSL_EVP_aes_256_gcm()
							     : wolfSSL_EVP_aes_128_gcm()),
			.max_overhead = 16,
		};

		cr_assert_eq(stoq_aead_encrypt_cb(a, &aead, &enc[i], pt, LEN, nonce, 12, hd,
						  sizeof(hd)), 0);
		cr_assert_eq(stoq_aead_decrypt_cb(o, &aead, &dec[i], a, LEN + 16, nonce, 12, hd,
						  sizeof(hd)), 0);
		cr_assert_eq(memcmp(o, pt, LEN), 0);
	}
	cr_assert_eq(stoq_aead_keys_held(), held0 + NCTX, "a live context's key was made again");
	for (int i = 1; i < NCTX; i += 2) {
		stoq_aead_delete_ctx_cb(NULL, &enc[i], NULL);
		stoq_aead_delete_ctx_cb(NULL, &dec[i], NULL);
	}
	cr_assert_eq(stoq_aead_keys_held(), held0);
}

/*
 * A wolfCrypt schedule that is not the expansion of its first round keys
 * (as one laid out otherwise would look): the key is refused at its first
 * packet, stoq_gcm is turned off for the process, and that packet is
 * wolfCrypt's.
 */
Test(stoq_aead, a_schedule_laid_out_otherwise_turns_vaes_off)
{
	ngtcp2_crypto_aead aead = { .native_handle = (void *)wolfSSL_EVP_aes_128_gcm(),
				    .max_overhead = 16 };
	ngtcp2_crypto_aead_ctx enc;
	WOLFSSL_EVP_CIPHER_CTX *evp;
	uint8_t key[16] = { 7 }, nonce[12] = { 1 }, hd[20] = { 0x40 }, pt[300], a[316], b[316];
	size_t held0;

	if (!stoq_gcm_supported())
		cr_skip_test("no VAES/VPCLMULQDQ");
	stoq_aead_use_wolfcrypt(false);
	held0 = stoq_aead_keys_held();
	memset(pt, 0x33, sizeof(pt));
	cr_assert_eq(ngtcp2_crypto_aead_ctx_encrypt_init(&enc, &aead, key, 12), 0);
	evp = enc.native_handle;
	evp->cipher.aes.key[4 * 5] ^= 0x01000000; /* round key 5 */
	cr_assert_eq(stoq_aead_encrypt_cb(a, &aead, &enc, pt, sizeof(pt), nonce, 12, hd,
					  sizeof(hd)), 0);
	cr_assert_not(stoq_aead_vaes(), "stoq_gcm still on after a key it could not read");
	cr_assert_eq(stoq_aead_keys_held(), held0);
	cr_assert_eq(wc_AesGcmEncrypt(&evp->cipher.aes, b, pt, sizeof(pt), nonce, 12,
				      b + sizeof(pt), 16, hd, sizeof(hd)), 0);
	cr_assert_eq(memcmp(a, b, sizeof(a)), 0, "the packet is not wolfCrypt's");
	stoq_aead_delete_ctx_cb(NULL, &enc, NULL);
	/* For good: an endpoint made later with aes_gcm = auto does not turn
	 * it back on. */
	stoq_aead_use_wolfcrypt(false);
	cr_assert_not(stoq_aead_vaes());
}

/* ---------------------------------------------------------------- CIDs */

static void cid_cfg(struct stoq_config *cfg, bool encrypt, unsigned int cid_len)
{
	char err[256];

	stoq_config_defaults(cfg);
	cfg->server_id = 0x2a17;
	cfg->cid_config_id = 3;
	if (encrypt) {
		cr_assert_eq(hm_cfg_set(&stoq_config_table, cfg, "cid_key",
					"8f95f09245765f80256934e50c66207f", false, err,
					sizeof(err)),
			     0);
		cfg->cid_len = cid_len;
	}
	cr_assert_eq(stoq_config_check(cfg, err, sizeof(err)), 0, "%s", err);
}

Test(stoq_cid, plaintext_roundtrip_and_layout)
{
	struct stoq_config cfg;
	uint8_t nonce[20] = { 9, 8, 7, 6, 5 }, cid[20];
	uint32_t id = 0;

	cid_cfg(&cfg, false, 8);
	cr_assert_eq(stoq_cid_encode(&cfg, cfg.server_id, nonce, cid, sizeof(cid)), 0);
	/* QUIC-LB §2.3: config rotation in the top 3 bits, length - 1 below. */
	cr_assert_eq(cid[0], (3 << 5) | (8 - 1));
	cr_assert_eq(cid[1], 0x2a);
	cr_assert_eq(cid[2], 0x17);
	cr_assert_eq(memcmp(cid + 3, nonce, 5), 0);
	cr_assert_eq(stoq_cid_decode(&cfg, cid, 8, &id), 0);
	cr_assert_eq(id, 0x2a17);
}

/* Encrypted CIDs of @len octets: the server id is hidden and comes back; another key reads garbage. */
static void encrypted_roundtrip(unsigned int len)
{
	struct stoq_config cfg, other;
	uint8_t nonce[20], cid[20];
	uint32_t id = 0;

	cid_cfg(&cfg, true, len);
	for (int round = 0; round < 64; round++) {
		for (int i = 0; i < 20; i++)
			nonce[i] = (uint8_t)(round * 31 + i);
		cr_assert_eq(stoq_cid_encode(&cfg, cfg.server_id, nonce, cid, sizeof(cid)), 0);
		cr_assert_eq(cid[0], (3 << 5) | (len - 1));
		/* The server id is not visible in the clear in any position. */
		cr_assert(!(cid[1] == 0x2a && cid[2] == 0x17) || round > 0);
		cr_assert_eq(stoq_cid_decode(&cfg, cid, len, &id), 0);
		cr_assert_eq(id, 0x2a17);
	}
	/* Another key decodes garbage; a wrong config id or length is refused. */
	other = cfg;
	other.cid_key.b[0] ^= 1;
	cr_assert_eq(stoq_cid_decode(&other, cid, len, &id), 0);
	cr_assert_neq(id, 0x2a17);
	other = cfg;
	other.cid_config_id = 4;
	cr_assert_eq(stoq_cid_decode(&other, cid, len, &id), -EINVAL);
	cr_assert_eq(stoq_cid_decode(&cfg, cid, len - 1, &id), -EINVAL);
}

/* One AES block (cid_len 17) and four passes (8, the default length; 12, even halves). */
Test(stoq_cid, encrypted_hides_and_roundtrips)
{
	encrypted_roundtrip(17);
	encrypted_roundtrip(8);
	encrypted_roundtrip(12);
}

/* -------------------------------------------------------------- tokens */

struct keys {
	WC_RNG rng;
	struct stoq_token_keys k;
};

static void keys_init(struct keys *k)
{
	cr_assert_eq(wc_InitRng(&k->rng), 0);
	cr_assert_eq(stoq_token_keys_init(&k->k, &k->rng), 0);
}

static void keys_fini(struct keys *k)
{
	stoq_token_keys_fini(&k->k);
	wc_FreeRng(&k->rng);
}

static void addr4(struct sockaddr_in *sa, const char *ip, int port)
{
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, ip, &sa->sin_addr);
}

Test(stoq_token, retry_validates_expires_and_detects_tampering)
{
	struct keys k;
	struct sockaddr_in a, b;
	uint8_t scid[8] = { 1, 2, 3, 4, 5, 6, 7, 8 }, odcid[18], tok[STOQ_TOKEN_LEN], out[20];
	uint64_t now = 5000000000ull, life = 10000000000ull;
	size_t outlen = 0;
	int n;

	keys_init(&k);
	memset(odcid, 0xab, sizeof(odcid));
	addr4(&a, "192.0.2.1", 5555);
	addr4(&b, "192.0.2.2", 5555);
	n = stoq_token_retry_make(&k.k, (struct sockaddr *)&a, sizeof(a), scid, 8, odcid, 18, now,
				  life, tok, sizeof(tok));
	cr_assert_gt(n, 0);
	cr_assert_eq(stoq_token_retry_check(&k.k, (struct sockaddr *)&a, sizeof(a), scid, 8, tok,
					    (size_t)n, now + 1, out, &outlen),
		     0);
	cr_assert_eq(outlen, 18);
	cr_assert_eq(memcmp(out, odcid, 18), 0);
	/* expired */
	cr_assert_eq(stoq_token_retry_check(&k.k, (struct sockaddr *)&a, sizeof(a), scid, 8, tok,
					    (size_t)n, now + life + 1, out, &outlen),
		     -ETIMEDOUT);
	/* another client address */
	cr_assert_eq(stoq_token_retry_check(&k.k, (struct sockaddr *)&b, sizeof(b), scid, 8, tok,
					    (size_t)n, now, out, &outlen),
		     -EBADMSG);
	/* another Retry SCID */
	scid[0] ^= 0x80;
	cr_assert_eq(stoq_token_retry_check(&k.k, (struct sockaddr *)&a, sizeof(a), scid, 8, tok,
					    (size_t)n, now, out, &outlen),
		     -EBADMSG);
	scid[0] ^= 0x80;
	/* every single flipped bit is caught */
	for (int i = 0; i < n; i++) {
		tok[i] ^= 0x04;
		cr_assert_eq(stoq_token_retry_check(&k.k, (struct sockaddr *)&a, sizeof(a), scid,
						    8, tok, (size_t)n, now, out, &outlen),
			     -EBADMSG, "flip at %d accepted", i);
		tok[i] ^= 0x04;
	}
	/* truncated */
	cr_assert_eq(stoq_token_retry_check(&k.k, (struct sockaddr *)&a, sizeof(a), scid, 8, tok,
					    (size_t)n - 1, now, out, &outlen),
		     -EBADMSG);
	keys_fini(&k);
}

Test(stoq_token, stateless_reset_is_stable_per_cid)
{
	struct keys k, k2;
	uint8_t c1[8] = { 1 }, c2[8] = { 2 }, t1[16], t1b[16], t2[16], t3[16];

	keys_init(&k);
	keys_init(&k2);
	cr_assert_eq(stoq_token_reset(&k.k, c1, 8, t1), 0);
	cr_assert_eq(stoq_token_reset(&k.k, c1, 8, t1b), 0);
	cr_assert_eq(stoq_token_reset(&k.k, c2, 8, t2), 0);
	cr_assert_eq(stoq_token_reset(&k2.k, c1, 8, t3), 0);
	cr_assert_eq(memcmp(t1, t1b, 16), 0);
	cr_assert_neq(memcmp(t1, t2, 16), 0);
	cr_assert_neq(memcmp(t1, t3, 16), 0);
	keys_fini(&k);
	keys_fini(&k2);
}

/* ------------------------------------------- simulated link exchanges */

static char g_dir[64];
static char g_cert[128], g_key[128];

static void make_cert(void)
{
	char cmd[1024];

	snprintf(g_dir, sizeof(g_dir), "/tmp/stoq-test-XXXXXX");
	cr_assert_not_null(mkdtemp(g_dir));
	snprintf(g_cert, sizeof(g_cert), "%s/cert.pem", g_dir);
	snprintf(g_key, sizeof(g_key), "%s/key.pem", g_dir);
	snprintf(cmd, sizeof(cmd),
		 "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
		 "-days 2 -subj /CN=localhost -addext subjectAltName=DNS:localhost "
		 "-keyout %s -out %s >/dev/null 2>&1",
		 g_key, g_cert);
	cr_assert_eq(system(cmd), 0, "openssl could not make a test certificate");
}

static void cleanup_dir(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", g_dir);
	if (g_dir[0])
		(void)system(cmd);
}

struct pkt {
	struct pkt *next;
	uint64_t at;
	bool to_server;
	size_t len;
	uint8_t data[]; /* len bytes */
};

struct sim {
	struct stoq_endpoint *cli, *srv;
	struct sockaddr_in caddr, saddr;
	struct pkt *head, *tail;
	uint64_t now, delay;
	unsigned drop_every, sent;
	size_t max_dgram[2]; /* largest datagram seen per direction */
	size_t max_train;    /* largest GSO train handed out */
	size_t n_dgram[2], n_over_1200[2]; /* datagrams per direction, and those over 1200 bytes */
	bool pager_race; /* the clock runs on while the server's pager works (see sim_run) */
};

static void sim_queue(struct sim *s, const uint8_t *data, size_t len, bool to_server)
{
	struct pkt *p;

	s->sent++;
	if (s->drop_every && s->sent % s->drop_every == 0)
		return; /* lost */
	p = calloc(1, sizeof(*p) + len);
	cr_assert_not_null(p);
	p->at = s->now + s->delay;
	p->to_server = to_server;
	p->len = len;
	memcpy(p->data, data, len);
	if (s->tail)
		s->tail->next = p;
	else
		s->head = p;
	s->tail = p;
}

static bool sim_flush(struct sim *s, struct stoq_endpoint *from, bool to_server)
{
	struct stoq_dgram out[16];
	size_t n;
	bool any = false;

	while ((n = stoq_endpoint_send(from, out, 16, s->now)) > 0) {
		for (size_t i = 0; i < n; i++) {
			size_t seg = out[i].segsize ? out[i].segsize : out[i].len;

			if (out[i].len > s->max_train)
				s->max_train = out[i].len;
			/* The packets of a GSO train go on the wire one by one. */
			for (size_t off = 0; off < out[i].len; off += seg) {
				size_t l = out[i].len - off < seg ? out[i].len - off : seg;

				if (l > s->max_dgram[to_server])
					s->max_dgram[to_server] = l;
				s->n_dgram[to_server]++;
				s->n_over_1200[to_server] += l > 1200;
				sim_queue(s, out[i].data + off, l, to_server);
			}
		}
		any = true;
	}
	return any;
}

static void sim_deliver(struct sim *s)
{
	while (s->head && s->head->at <= s->now) {
		struct pkt *p = s->head;
		struct stoq_dgram d = { .data = p->data, .len = p->len };

		s->head = p->next;
		if (!s->head)
			s->tail = NULL;
		if (p->to_server) {
			memcpy(&d.remote, &s->caddr, sizeof(s->caddr));
			d.remote_len = sizeof(s->caddr);
			stoq_endpoint_recv(s->srv, &d, s->now);
		} else {
			memcpy(&d.remote, &s->saddr, sizeof(s->saddr));
			d.remote_len = sizeof(s->saddr);
			stoq_endpoint_recv(s->cli, &d, s->now);
		}
		free(p);
	}
}

/* Run until @done or the simulated clock passes @limit_ns. */
static void sim_run(struct sim *s, bool (*done)(void *), void *arg, uint64_t limit_ns)
{
	uint64_t end = s->now + limit_ns;

	while (s->now < end && !(done && done(arg))) {
		uint64_t next = UINT64_MAX, t;

		sim_deliver(s);
		stoq_endpoint_on_timer(s->cli, s->now);
		stoq_endpoint_on_timer(s->srv, s->now);
		sim_flush(s, s->cli, true);
		sim_flush(s, s->srv, false);
		if (s->head && s->head->at <= s->now)
			continue;
		/* A server's pager thread reads or stores a file in real time
		 * (stoq_pager.c): the simulated clock waits for it, or a fsync
		 * slower than 30 s of simulated idleness would time out. */
		if (s->srv->n_paging && !s->pager_race) {
			usleep(20);
			continue;
		}
		if (s->head)
			next = s->head->at;
		t = stoq_endpoint_next_timer(s->cli);
		if (t < next)
			next = t;
		t = stoq_endpoint_next_timer(s->srv);
		if (t < next)
			next = t;
		if (next == UINT64_MAX)
			break;
		/* Not past the limit: a caller that stops at its condition
		 * must not find the clock at a far timer (idle timeout) that
		 * the next run then fires. */
		if (next > end)
			next = end;
		s->now = next > s->now ? next : s->now + 1;
	}
}

static void sim_free_queue(struct sim *s)
{
	while (s->head) {
		struct pkt *p = s->head;

		s->head = p->next;
		free(p);
	}
	s->tail = NULL;
}

static void sim_init(struct sim *s, struct stoq_config *scfg, struct stoq_config *ccfg,
		     const char *root)
{
	memset(s, 0, sizeof(*s));
	s->now = 1000000000ull;
	s->delay = 1000000; /* 1 ms one way */
	addr4(&s->caddr, "10.0.0.1", 40000);
	addr4(&s->saddr, "10.0.0.2", 443);
	s->srv = stoq_endpoint_create(scfg, true, root, (struct sockaddr *)&s->saddr,
				      sizeof(s->saddr));
	cr_assert_not_null(s->srv);
	s->cli = stoq_endpoint_create(ccfg, false, NULL, (struct sockaddr *)&s->caddr,
				      sizeof(s->caddr));
	cr_assert_not_null(s->cli);
}

/* A client connection from the simulation's client to its server. */
static struct stoq_conn *sim_connect(struct sim *s)
{
	struct stoq_conn *c = stoq_conn_connect(s->cli, (struct sockaddr *)&s->saddr,
						sizeof(s->saddr), "localhost", s->now);

	cr_assert_not_null(c);
	return c;
}

static void sim_fini(struct sim *s)
{
	sim_free_queue(s);
	stoq_endpoint_destroy(s->cli);
	stoq_endpoint_destroy(s->srv);
}

static void configs(struct stoq_config *scfg, struct stoq_config *ccfg)
{
	stoq_config_defaults(scfg);
	snprintf(scfg->cert, sizeof(scfg->cert), "%s", g_cert);
	snprintf(scfg->key, sizeof(scfg->key), "%s", g_key);
	scfg->server_id = 0x0b0e;
	stoq_config_defaults(ccfg);
	snprintf(ccfg->ca, sizeof(ccfg->ca), "%s", g_cert);
	ccfg->server_id = 0;
}

/* A response collected in memory. */
struct body {
	uint8_t *buf;
	size_t len, cap;
	int status;
	bool done;
};

static int body_data(void *arg, const uint8_t *data, size_t len)
{
	struct body *b = arg;

	if (b->len + len > b->cap) {
		b->cap = (b->len + len) * 2;
		b->buf = realloc(b->buf, b->cap);
		cr_assert_not_null(b->buf);
	}
	memcpy(b->buf + b->len, data, len);
	b->len += len;
	return 0;
}

static void body_done(void *arg, int status, uint64_t bytes)
{
	struct body *b = arg;

	(void)bytes;
	b->done = true;
	b->status = status;
}

static const struct stoq_request_ops body_ops = { .on_data = body_data, .on_done = body_done };

/* A response came complete with @status and exactly the @len bytes at @want. */
static void expect_body(const struct body *b, int status, const uint8_t *want, size_t len)
{
	cr_assert(b->done && b->status == status, "status %d, want %d", b->status, status);
	cr_assert_eq(b->len, len);
	cr_assert_eq(memcmp(b->buf, want, len), 0, "body differs");
}

struct want {
	struct body *b;
	size_t n;
	struct stoq_conn *c;
};

static bool all_done(void *arg)
{
	struct want *w = arg;

	if (w->c && stoq_conn_is_closed(w->c))
		return true;
	for (size_t i = 0; i < w->n; i++)
		if (!w->b[i].done)
			return false;
	return true;
}

static uint8_t *make_file_in(const char *dir, const char *name, size_t len)
{
	char path[160];
	uint8_t *data = malloc(len);
	uint32_t x = 2463534242u;
	int fd;

	cr_assert_not_null(data);
	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		data[i] = (uint8_t)x;
	}
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, data, len), (ssize_t)len);
	close(fd);
	return data;
}

static uint8_t *make_file(const char *name, size_t len)
{
	return make_file_in(g_dir, name, len);
}

/* What the HTTP/3 layer accepts of request paths, Range values and chunk names. */
Test(stoq_h3, paths_ranges_and_names)
{
	static const struct {
		const char *in;
		int start, end; /* -2: refused */
	} ranges[] = {
	    {"bytes=0-99", 0, 99},
	    {"bytes=5-", 5, -1},
	    {"bytes=-10", -1, 10},
	    {"bytes=7-7", 7, 7},
	    {"bytes=9-3", -2, 0},
	    {"bytes=-0", -2, 0},
	    {"bytes=-", -2, 0},
	    {"bytes= 5-10", -2, 0},
	    {"bytes=+5-10", -2, 0},
	    {"bytes=1-2,4-5", -2, 0},
	    {"bytes=1-2x", -2, 0},
	    {"items=1-2", -2, 0},
	    {"bytes=99999999999999999999-", -2, 0},
	};
	static const char *const bad_paths[] = {"x",	"/",	 "/..",	  "/a/../b",
						"/./a", "/a//b", "/dir/", "/?q"};
	char out[64];

	for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
		struct stoq_req r = {.range_start = 123, .range_end = 456};
		int rc = stoq_h3_parse_range(ranges[i].in, strlen(ranges[i].in), &r);

		if (ranges[i].start == -2) {
			cr_assert_eq(rc, -EINVAL, "%s accepted", ranges[i].in);
			cr_assert(!r.has_range && r.range_start == 123 && r.range_end == 456,
				  "%s: a refusal changed the request", ranges[i].in);
		} else {
			cr_assert_eq(rc, 0, "%s refused", ranges[i].in);
			cr_assert(r.has_range && r.range_start == ranges[i].start &&
				      r.range_end == ranges[i].end,
				  "%s: %lld-%lld", ranges[i].in, (long long)r.range_start,
				  (long long)r.range_end);
		}
	}
	cr_assert_eq(stoq_h3_rel_path("/a/b.bin?x=1", out, sizeof(out)), 0);
	cr_assert_str_eq(out, "a/b.bin");
	for (size_t i = 0; i < sizeof(bad_paths) / sizeof(bad_paths[0]); i++)
		cr_assert_eq(stoq_h3_rel_path(bad_paths[i], out, sizeof(out)), -EINVAL, "%s",
			     bad_paths[i]);
	cr_assert(stoq_h3_is_hash_name(
	    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
	cr_assert(!stoq_h3_is_hash_name(
	    "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"));
	cr_assert(!stoq_h3_is_hash_name("ba7816bf"));
	cr_assert(
	    stoq_h3_digest_matches((const uint8_t *)"sha-512=:x:, sha-256=:QUJD:", 27, "QUJD"));
	cr_assert(!stoq_h3_digest_matches((const uint8_t *)"sha-256=:QUJE:", 14, "QUJD"));
	cr_assert(!stoq_h3_digest_matches((const uint8_t *)"sha-256=:QUJD", 13, "QUJD"));
	cr_assert(stoq_h3_digest_matches((const uint8_t *)"md5=:x:", 7, "QUJD"));
}

TestSuite(stoq_sim, .init = make_cert, .fini = cleanup_dir, .timeout = 120);

/*
 * A 3 MB body and three other requests on one connection through the
 * simulated link, every @drop_every-th datagram lost (0: none), with Retry,
 * encrypted CIDs, @max_payload-byte packets both ways and pacing as asked.
 */
static void transfer(unsigned drop_every, bool retry, bool encrypt_cids, uint32_t max_payload,
		     bool pacing)
{
	struct stoq_config scfg, ccfg;
	struct sim s;
	struct body b[4] = { 0 };
	struct want w = { .b = b, .n = 4 };
	size_t len = 3 * 1000 * 1000 + 17;
	uint8_t *data = make_file("blob", len);
	struct stoq_conn *c, *sc;
	struct stoq_endpoint_stats st;
	uint8_t scids[16][20];
	size_t lens[16], n;
	char err[256];

	configs(&scfg, &ccfg);
	scfg.retry = retry;
	scfg.max_udp_payload = ccfg.max_udp_payload = max_payload;
	scfg.pacing = ccfg.pacing = pacing;
	if (encrypt_cids) {
		cr_assert_eq(hm_cfg_set(&stoq_config_table, &scfg, "cid_key",
					"4a1f0e7c2b9d88e6a0c3f1d2e4b5a697", false, err,
					sizeof(err)),
			     0);
		scfg.cid_len = 17;
	}
	sim_init(&s, &scfg, &ccfg, g_dir);
	s.drop_every = drop_every;
	c = sim_connect(&s);
	w.c = c;
	cr_assert_eq(stoq_conn_get(c, "/blob", 0, -1, &body_ops, &b[0]), 0);
	cr_assert_eq(stoq_conn_get(c, "/blob", 1000, 1999, &body_ops, &b[1]), 0);
	cr_assert_eq(stoq_conn_get(c, "/blob", (int64_t)len - 10, (int64_t)len + 100, &body_ops,
				   &b[2]),
		     0);
	cr_assert_eq(stoq_conn_get(c, "/missing", 0, -1, &body_ops, &b[3]), 0);
	sim_run(&s, all_done, &w, 120ull * 1000000000ull);

	cr_assert_str_empty(stoq_conn_last_error(c));
	cr_assert(stoq_conn_is_established(c));
	expect_body(&b[0], 200, data, len);
	expect_body(&b[1], 206, data + 1000, 1000);
	expect_body(&b[2], 206, data + len - 10, 10); /* end clamped (RFC 9110 §14.1.1) */
	cr_assert_eq(b[3].status, 404);
	cr_assert_leq(s.max_dgram[0], scfg.max_udp_payload);
	cr_assert_leq(s.max_dgram[1], scfg.max_udp_payload);
	/* Above 1452 the body goes in packets of exactly that size from the
	 * start (no PMTU discovery up there); no train is too long for one
	 * UDP_SEGMENT send (the kernel refuses more than 65507 bytes). */
	if (max_payload > 1452)
		cr_assert_eq(s.max_dgram[0], max_payload);
	/* Up to 1452, PMTU discovery (ngtcp2 0.12 probes 1406 and 1444 bytes)
	 * raises the size from 1200 within a few round trips, so most of the
	 * body goes in larger packets. The probes never went out when the
	 * buffer offered for a packet was only the path's current size. */
	if (max_payload >= 1444 && !drop_every)
		cr_assert_gt(s.n_over_1200[0] * 10, s.n_dgram[0] * 9,
			     "%zu of the server's %zu datagrams over 1200 bytes (largest %zu)",
			     s.n_over_1200[0], s.n_dgram[0], s.max_dgram[0]);
	cr_assert_leq(s.max_train, 65507);

	/* Every CID the server issued routes back to it (QUIC-LB). */
	sc = stoq_endpoint_first_conn(s.srv);
	cr_assert_not_null(sc);
	n = stoq_conn_scids(sc, scids, lens, 16);
	cr_assert_geq(n, 2, "server issued %zu CIDs", n);
	for (size_t i = 0; i < n; i++) {
		uint32_t id = 0;

		cr_assert_eq(lens[i], scfg.cid_len);
		cr_assert_eq(stoq_cid_decode(&scfg, scids[i], lens[i], &id), 0);
		cr_assert_eq(id, 0x0b0e);
	}
	stoq_endpoint_stats(s.srv, &st);
	cr_assert_eq(st.handshakes, 1);
	cr_assert_eq(st.retries_sent, retry ? 1 : 0);
	/* This link drops nothing but every drop_every'th datagram: without
	 * those, a congestion event means the server sent packets its peer
	 * could not read. A GSO train whose first packet was shorter than the
	 * rest was cut at that length, as the kernel cuts it: at 8952 bytes
	 * the PMTU probes (1406, 1444) headed such trains, and every
	 * connection lost its first flight and left slow start at ~20 KB. */
	if (!drop_every) {
		ngtcp2_conn_stat cs;

		ngtcp2_conn_get_conn_stat(sc->q, &cs);
		cr_assert_eq(cs.ssthresh, UINT64_MAX,
			     "the server's window was cut (ssthresh %" PRIu64 ") on a lossless link",
			     (uint64_t)cs.ssthresh);
	}
	for (int i = 0; i < 4; i++)
		free(b[i].buf);
	free(data);
	sim_fini(&s);
}

Test(stoq_sim, handshake_and_transfer_bytes_match)
{
	transfer(0, false, false, 1452, true);
}

Test(stoq_sim, transfer_survives_loss)
{
	transfer(13, false, false, 1452, true); /* every 13th datagram either way is lost */
}

Test(stoq_sim, retry_and_encrypted_cids)
{
	transfer(0, true, true, 1452, true);
}

/* Without pacing nothing bounds a train but the send buffer's slot. */
Test(stoq_sim, trains_fit_one_udp_send_without_pacing)
{
	transfer(0, false, false, 1452, false);
}

/* On a path that carries 9000-byte frames (or loopback): 8952-byte packets. */
Test(stoq_sim, jumbo_packets_when_configured)
{
	transfer(0, false, false, 8952, true);
}

/*
 * With pacing on, a small GET answers in about two round trips of the
 * simulated link (1 ms each way): handshake, then request and response.
 * ngtcp2 paces at cwnd over the smoothed RTT, the 333 ms default before
 * any sample: pacing the Initial (padded to max_udp_payload) held the
 * client's Finished back ~26 ms with 1452-byte packets and ~130 ms with
 * 8952 (a stall in every connection). Simulated time, not the machine's.
 */
static void first_answer_within_round_trips(uint32_t max_payload)
{
	struct stoq_config scfg, ccfg;
	struct sim s;
	struct body b = { 0 };
	struct want w = { .b = &b, .n = 1 };
	uint8_t *data = make_file("small", 20000);
	uint64_t t0;

	configs(&scfg, &ccfg);
	scfg.max_udp_payload = ccfg.max_udp_payload = max_payload;
	cr_assert(scfg.pacing && ccfg.pacing, "pacing is on by default");
	sim_init(&s, &scfg, &ccfg, g_dir);
	t0 = s.now;
	w.c = sim_connect(&s);
	cr_assert_eq(stoq_conn_get(w.c, "/small", 0, -1, &body_ops, &b), 0);
	sim_run(&s, all_done, &w, 10ull * 1000000000ull);
	expect_body(&b, 200, data, 20000);
	/* Two round trips are 4 ms; the initial window and pacing add one or two
	 * (6.0 and 8.3 ms; the stall made them 26 and 170 ms). */
	cr_assert_leq(s.now - t0, 10000000, "answered after %.1f ms of simulated time, %u-byte packets",
		      (double)(s.now - t0) / 1e6, max_payload);
	free(b.buf);
	free(data);
	sim_fini(&s);
}

Test(stoq_sim, first_answer_not_held_by_pacing)
{
	first_answer_within_round_trips(1452);
}

Test(stoq_sim, first_answer_not_held_by_pacing_jumbo)
{
	first_answer_within_round_trips(8952);
}

/* The file @name under the server's root holds exactly @len bytes at @want. */
/* @name under @dir holds @len bytes, those of @want. */
static void expect_stored_in(const char *dir, const char *name, const uint8_t *want, size_t len)
{
	char path[256];
	struct stat sb;
	uint8_t *got;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDONLY);
	cr_assert_geq(fd, 0, "%s was not stored", name);
	cr_assert_eq(fstat(fd, &sb), 0);
	cr_assert_eq((size_t)sb.st_size, len, "%s: %lld bytes, want %zu", name,
		     (long long)sb.st_size, len);
	got = malloc(len + 1);
	cr_assert_not_null(got);
	cr_assert_eq(read(fd, got, len + 1), (ssize_t)len);
	cr_assert_eq(memcmp(got, want, len), 0, "%s: bytes differ", name);
	free(got);
	close(fd);
}

static void expect_stored(const char *name, const uint8_t *want, size_t len)
{
	expect_stored_in(g_dir, name, want, len);
}

/*
 * PUT by name and by content hash: stored bytes match, a chunk whose bytes
 * do not hash to its name and a malformed name are refused (nothing
 * stored), a path out of the root is forbidden, and a stored chunk comes
 * back by GET at its name. The client checked each 201's repr-digest.
 */
Test(stoq_sim, put_by_name_and_by_content_hash)
{
	struct stoq_config scfg, ccfg;
	struct sim s;
	struct body b[6] = {0};
	struct want w = {.b = b, .n = 5};
	size_t len = (5u << 20) + 7; /* two whole 2 MiB write blocks and a part */
	uint8_t *data = malloc(len);
	char hex[65], path[80], wrong[80], sha_dir[160];
	uint8_t d[32];
	struct stoq_conn *c;

	cr_assert_not_null(data);
	for (size_t i = 0; i < len; i++)
		data[i] = (uint8_t)(i * 131 + (i >> 9));
	/* RFC 6234 test vector "abc": the helper is SHA-256. */
	{
		char abc[65];

		cr_assert_eq(stoq_sha256((const uint8_t *)"abc", 3, d), 0);
		hm_hex_encode(d, sizeof(d), abc);
		cr_assert_str_eq(
		    abc, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	}
	cr_assert_eq(stoq_sha256(data, len, d), 0);
	hm_hex_encode(d, sizeof(d), hex);
	snprintf(path, sizeof(path), "/sha256/%s", hex);
	snprintf(wrong, sizeof(wrong), "/sha256/%.63s%c", hex, hex[63] == '0' ? '1' : '0');
	configs(&scfg, &ccfg);
	sim_init(&s, &scfg, &ccfg, g_dir);
	c = sim_connect(&s);
	w.c = c;
	/* The digest computed by the library, and given by the caller. */
	cr_assert_eq(stoq_conn_put(c, "/put-named.bin", data, len, NULL, &body_ops, &b[0]), 0);
	cr_assert_eq(stoq_conn_put(c, path, data, len, d, &body_ops, &b[1]), 0);
	cr_assert_eq(stoq_conn_put(c, wrong, data, len, d, &body_ops, &b[2]), 0);
	cr_assert_eq(stoq_conn_put(c, "/sha256/not-a-digest", data, 10, NULL, &body_ops, &b[3]), 0);
	cr_assert_eq(stoq_conn_put(c, "/../escape", data, 10, NULL, &body_ops, &b[4]), 0);
	sim_run(&s, all_done, &w, 60ull * 1000000000ull);
	cr_assert_str_empty(stoq_conn_last_error(c));
	cr_assert_eq(b[0].status, 201);
	cr_assert_eq(b[1].status, 201);
	cr_assert_eq(b[2].status, 400);
	cr_assert_eq(b[3].status, 400);
	cr_assert_eq(b[4].status, 403);
	expect_stored("put-named.bin", data, len);
	expect_stored(path + 1, data, len);
	snprintf(sha_dir, sizeof(sha_dir), "%s/%s", g_dir, wrong + 1);
	cr_assert_neq(access(sha_dir, F_OK), 0, "a chunk with the wrong name was stored");
	/* The stored chunk by GET at its name. */
	w.b = &b[5];
	w.n = 1;
	cr_assert_eq(stoq_conn_get(c, path, 0, -1, &body_ops, &b[5]), 0);
	sim_run(&s, all_done, &w, 60ull * 1000000000ull);
	expect_body(&b[5], 200, data, len);
	for (int i = 0; i < 6; i++)
		free(b[i].buf);
	free(data);
	sim_fini(&s);
}

/*
 * /sha256 is the directory of chunks named by content: a PUT by that name
 * is refused (stored as a file, it left every later chunk a 404), and a
 * file of that name put there otherwise makes chunk PUTs fail as a server
 * error, not as a directory missing.
 */
Test(stoq_sim, put_to_the_chunk_directory_itself_is_refused)
{
	struct stoq_config scfg, ccfg;
	struct sim s;
	struct body b[3] = {0};
	struct want w = {.b = b, .n = 1};
	char root[96], chunk[80], hex[65], at[256];
	uint8_t data[100], d[32];
	struct stoq_conn *c;
	struct stat st;
	int fd;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 29 + 3);
	cr_assert_eq(stoq_sha256(data, sizeof(data), d), 0);
	hm_hex_encode(d, sizeof(d), hex);
	snprintf(chunk, sizeof(chunk), "/sha256/%s", hex);
	snprintf(root, sizeof(root), "%s/sha-root-XXXXXX", g_dir);
	cr_assert_not_null(mkdtemp(root));
	snprintf(at, sizeof(at), "%s/sha256", root);
	configs(&scfg, &ccfg);
	sim_init(&s, &scfg, &ccfg, root);
	c = sim_connect(&s);
	w.c = c;
	cr_assert_eq(stoq_conn_put(c, "/sha256", data, sizeof(data), NULL, &body_ops, &b[0]), 0);
	sim_run(&s, all_done, &w, 20ull * 1000000000ull);
	cr_assert_eq(b[0].status, 400, "PUT /sha256: %d", b[0].status);
	cr_assert_neq(lstat(at, &st), 0, "PUT /sha256 left something at %s", at);
	/* A file there all the same. */
	fd = open(at, O_WRONLY | O_CREAT | O_EXCL, 0644);
	cr_assert_geq(fd, 0);
	close(fd);
	w.b = &b[1];
	cr_assert_eq(stoq_conn_put(c, chunk, data, sizeof(data), d, &body_ops, &b[1]), 0);
	sim_run(&s, all_done, &w, 20ull * 1000000000ull);
	cr_assert_eq(b[1].status, 500, "a chunk PUT with a file at /sha256: %d", b[1].status);
	/* Gone again: the chunk is stored. */
	cr_assert_eq(unlink(at), 0);
	w.b = &b[2];
	cr_assert_eq(stoq_conn_put(c, chunk, data, sizeof(data), d, &body_ops, &b[2]), 0);
	sim_run(&s, all_done, &w, 20ull * 1000000000ull);
	cr_assert_eq(b[2].status, 201);
	expect_stored_in(root, chunk + 1, data, sizeof(data));
	for (int i = 0; i < 3; i++)
		free(b[i].buf);
	sim_fini(&s);
	snprintf(at, sizeof(at), "%s%s", root, chunk);
	cr_assert_eq(unlink(at), 0);
	snprintf(at, sizeof(at), "%s/sha256", root);
	cr_assert_eq(rmdir(at), 0);
	cr_assert_eq(rmdir(root), 0);
}

/*
 * More PUTs at once than the server keeps write blocks for (put_buffers, per
 * endpoint): those with one write it in 2 MiB blocks, the rest as the
 * bytes arrive; every file is stored whole either way, and every block is
 * given back.
 */
struct peak_bufs {
	struct want w;
	struct stoq_endpoint *srv;
	unsigned peak;
};

static bool all_done_peak_bufs(void *arg)
{
	struct peak_bufs *p = arg;

	if (p->srv->n_put_bufs > p->peak)
		p->peak = p->srv->n_put_bufs;
	return all_done(&p->w);
}

/* 40 PUTs at once on a server with @bufs write blocks (0: the default, 32):
 * every one of the blocks in use at the peak, every file stored whole. */
static void put_many_at_once(unsigned bufs)
{
	enum { N = 40 };
	struct stoq_config scfg, ccfg;
	struct sim s;
	struct body b[N] = {0};
	struct peak_bufs p = {.w = {.b = b, .n = N}};
	size_t len = (2u << 20) + 1000; /* a whole block and a part */
	uint8_t *data = malloc(len + 2 * N); /* PUT i: len + i bytes from data + i */
	struct stoq_conn *c[N];

	cr_assert_not_null(data);
	for (size_t i = 0; i < len + 2 * N; i++)
		data[i] = (uint8_t)(i * 7 + (i >> 11));
	configs(&scfg, &ccfg);
	if (bufs)
		scfg.put_buffers = bufs;
	sim_init(&s, &scfg, &ccfg, g_dir);
	p.srv = s.srv;
	for (int i = 0; i < N; i++) {
		char path[64];

		/* One connection each: a client sends one connection's streams
		 * one after the other, and the connections' trains in turn. */
		c[i] = sim_connect(&s);
		snprintf(path, sizeof(path), "/many-%02d.bin", i);
		cr_assert_eq(
		    stoq_conn_put(c[i], path, data + i, len + (size_t)i, NULL, &body_ops, &b[i]), 0);
	}
	sim_run(&s, all_done_peak_bufs, &p, 120ull * 1000000000ull);
	for (int i = 0; i < N; i++)
		cr_assert_str_empty(stoq_conn_last_error(c[i]));
	cr_assert_eq(p.peak, scfg.put_buffers, "%u write blocks at most, want all %u in use", p.peak,
		     scfg.put_buffers);
	for (int i = 0; i < N; i++) {
		char name[64];

		cr_assert_eq(b[i].status, 201, "PUT %d: %d", i, b[i].status);
		snprintf(name, sizeof(name), "many-%02d.bin", i);
		expect_stored(name, data + i, len + (size_t)i);
		free(b[i].buf);
	}
	cr_assert_eq(s.srv->n_put_bufs, 0);
	free(data);
	sim_fini(&s);
}

Test(stoq_sim, put_many_at_once_all_stored)
{
	put_many_at_once(0); /* put_buffers at its default: 32 */
}

Test(stoq_sim, put_many_at_once_with_put_buffers_4)
{
	put_many_at_once(4);
}

/*
 * The client checks the server's repr-digest against the digest of what it
 * meant to send: bytes changed after stoq_conn_put (as corruption between
 * the two would) make the request fail with -EBADMSG, though the server
 * stored them and said 201.
 */
Test(stoq_sim, put_with_a_digest_that_differs_fails)
{
	struct stoq_config scfg, ccfg;
	struct sim s;
	struct body b = {0};
	struct want w = {.b = &b, .n = 1};
	uint8_t data[5000];
	struct stoq_conn *c;

	memset(data, 0x5a, sizeof(data));
	configs(&scfg, &ccfg);
	sim_init(&s, &scfg, &ccfg, g_dir);
	c = sim_connect(&s);
	w.c = c;
	cr_assert_eq(stoq_conn_put(c, "/put-bent.bin", data, sizeof(data), NULL, &body_ops, &b), 0);
	data[4321] ^= 1;
	sim_run(&s, all_done, &w, 60ull * 1000000000ull);
	cr_assert(b.done);
	cr_assert_eq(b.status, -EBADMSG);
	expect_stored("put-bent.bin", data, sizeof(data));
	sim_fini(&s);
}

/*
 * @len bytes in @name under the test directory, written 4 KiB at a time
 * (so the page cache holds them in 4 KiB folios), then synced and dropped
 * from the page cache, as content on a disk that nothing has read yet.
 */
static uint8_t *make_cold_file(const char *name, size_t len)
{
	char path[160];
	uint8_t *data = malloc(len);
	int fd;

	cr_assert_not_null(data);
	for (size_t i = 0; i < len; i++)
		data[i] = (uint8_t)(i * 2654435761u >> 13);
	snprintf(path, sizeof(path), "%s/%s", g_dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	cr_assert_geq(fd, 0);
	for (size_t off = 0; off < len; off += 4096)
		cr_assert_eq(write(fd, data + off, 4096), 4096);
	cr_assert_eq(fsync(fd), 0);
	cr_assert_eq(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
	close(fd);
	return data;
}

/*
 * The kB of @name's first @len bytes that a mapping of it takes in 2 MiB
 * pages (FilePmdMapped in /proc/self/smaps) once populated: the share
 * the page cache holds in 2 MiB folios. @advice: MADV_HUGEPAGE, or 0.
 */
static long pmd_mapped_kb(const char *name, size_t len, int advice)
{
	char path[160], line[256];
	unsigned long lo, hi;
	long kb = -1;
	bool in = false;
	uint8_t *m;
	FILE *f;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", g_dir, name);
	fd = open(path, O_RDONLY);
	cr_assert_geq(fd, 0);
	m = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	cr_assert_neq(m, MAP_FAILED);
	close(fd);
	if (advice)
		cr_assert_eq(madvise(m, len, advice), 0);
	cr_assert_eq(madvise(m, len, MADV_POPULATE_READ), 0);
	f = fopen("/proc/self/smaps", "r");
	cr_assert_not_null(f);
	while (kb < 0 && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' '))
			in = lo == (unsigned long)m;
		else if (in && !strncmp(line, "FilePmdMapped:", 14))
			kb = strtol(line + 14, NULL, 10);
	}
	fclose(f);
	munmap(m, len);
	cr_assert_geq(kb, 0, "no FilePmdMapped for the mapping in /proc/self/smaps");
	return kb;
}

/*
 * A large body that is not in the page cache is read in by the server's
 * own mapping in 2 MiB folios (MADV_HUGEPAGE, stoq_h3.c): this GET and
 * every later one then map it a PMD at a time. The server's old advice
 * (sequential, will-need) had the same file read back in small folios.
 * Then a range of it starting mid-page and longer than STOQ_HUGE_BODY
 * (whose advice starts from the range's page, not the file's): the bytes
 * must match.
 * Skipped where the filesystem under the test directory, or the kernel,
 * gives no 2 MiB folios to a mapping asking for them.
 */
Test(stoq_sim, cold_body_is_read_in_2mib_folios)
{
	const size_t len = 8u << 20;
	const size_t from = 12345, to = len - 778;
	struct stoq_config scfg, ccfg;
	struct sim s;
	struct body b[2] = {0};
	struct want w = {.b = b, .n = 1};
	struct stoq_conn *c;
	uint8_t *data;
	long kb;

	free(make_cold_file("control.bin", 8u << 20));
	if (pmd_mapped_kb("control.bin", 8u << 20, MADV_HUGEPAGE) == 0)
		cr_skip_test("%s gives no 2 MiB folios to a mapping asking for them", g_dir);
	data = make_cold_file("cold.bin", len);
	configs(&scfg, &ccfg);
	sim_init(&s, &scfg, &ccfg, g_dir);
	c = sim_connect(&s);
	w.c = c;
	cr_assert_eq(stoq_conn_get(c, "/cold.bin", 0, -1, &body_ops, &b[0]), 0);
	sim_run(&s, all_done, &w, 60ull * 1000000000ull);
	expect_body(&b[0], 200, data, len);
	kb = pmd_mapped_kb("cold.bin", len, 0);
	/* Readahead may start below 2 MiB; most of the file must be whole. */
	cr_assert_geq(kb, (long)(len >> 10) * 3 / 4,
		      "after a GET, %ld of %zu kB of the file are in 2 MiB folios", kb, len >> 10);
	w.b = &b[1];
	cr_assert_eq(stoq_conn_get(c, "/cold.bin", (int64_t)from, (int64_t)to, &body_ops, &b[1]), 0);
	sim_run(&s, all_done, &w, 60ull * 1000000000ull);
	expect_body(&b[1], 206, data + from, to - from + 1);
	free(b[0].buf);
	free(b[1].buf);
	free(data);
	sim_fini(&s);
}

/* The client holds @at_least bytes of a body, or its connection closed. */
struct got {
	struct body *b;
	size_t at_least;
	struct stoq_conn *c;
};

static bool got_enough(void *arg)
{
	struct got *g = arg;

	return g->b->len >= g->at_least || g->b->done || stoq_conn_is_closed(g->c);
}

/*
 * A GET of an 8 MiB file that is cut to @cut bytes once the client holds
 * its first 64 KiB (the server mapped the file and handed the first 2 MiB
 * chunk to nghttp3 long before). The server must neither die of SIGBUS
 * nor send bytes it could not read; the client's request fails, and what
 * it did get is the file's first bytes. Returns the server's
 * body_read_errors; *@closed says whether the client's connection closed.
 */
static uint64_t get_while_cut(size_t cut, struct body *b, const uint8_t **want, bool *closed)
{
	const size_t len = 8u << 20;
	struct stoq_config scfg, ccfg;
	struct stoq_endpoint_stats st;
	struct sim s;
	struct body other = {0};
	struct want w = {.b = b, .n = 1};
	struct got g = {.b = b, .at_least = 64u << 10};
	struct stoq_conn *c, *c2;
	char path[160];
	uint8_t *data = make_file("cut.bin", len), *small = make_file("small.bin", 100000);

	configs(&scfg, &ccfg);
	sim_init(&s, &scfg, &ccfg, g_dir);
	c = sim_connect(&s);
	w.c = g.c = c;
	cr_assert_eq(stoq_conn_get(c, "/cut.bin", 0, -1, &body_ops, b), 0);
	sim_run(&s, got_enough, &g, 30ull * 1000000000ull);
	cr_assert(!b->done && b->len >= g.at_least && b->len < cut,
		  "the client holds %zu bytes (done %d) before the cut", b->len, b->done);
	snprintf(path, sizeof(path), "%s/cut.bin", g_dir);
	cr_assert_eq(truncate(path, (off_t)cut), 0);
	w.c = NULL; /* a closing connection ends its requests only once drained */
	sim_run(&s, all_done, &w, 30ull * 1000000000ull);

	cr_assert(b->done, "the request never ended");
	cr_assert_lt(b->status, 0, "status %d after the file was cut", b->status);
	cr_assert_leq(b->len, cut);
	cr_assert_eq(memcmp(b->buf, data, b->len), 0, "the client got bytes the file never held");
	*closed = stoq_conn_is_closed(c);
	if (*closed)
		cr_assert(strstr(stoq_conn_last_error(c), "response body unreadable"),
			  "the client was told \"%s\"", stoq_conn_last_error(c));
	/* The server goes on serving: on the same connection, or a new one. */
	c2 = *closed ? sim_connect(&s) : c;
	w.b = &other;
	w.c = c2;
	cr_assert_eq(stoq_conn_get(c2, "/small.bin", 0, -1, &body_ops, &other), 0);
	sim_run(&s, all_done, &w, 30ull * 1000000000ull);
	expect_body(&other, 200, small, 100000);
	stoq_endpoint_stats(s.srv, &st);
	free(other.buf);
	free(small);
	sim_fini(&s);
	*want = data;
	return st.body_read_errors;
}

/*
 * Cut past the chunk being sent: the next chunk's MADV_POPULATE_READ
 * fails (EFAULT) before any of it is handed out, and the server resets
 * that stream alone (H3_INTERNAL_ERROR): the client has exactly the first
 * chunk and its connection stays up.
 */
Test(stoq_sim, file_cut_before_a_chunk_resets_the_stream)
{
	struct body b = {0};
	const uint8_t *data;
	bool closed;

	cr_assert_eq(get_while_cut(3u << 20, &b, &data, &closed), 1);
	cr_assert(!closed, "the connection closed for one stream's file");
	cr_assert_eq(b.status, -ECONNRESET);
	cr_assert_eq(b.len, 2u << 20, "%zu bytes before the reset", b.len);
	free(b.buf);
	free((void *)data);
}

/*
 * Cut inside the chunk ngtcp2 is copying from: the copy faults (SIGBUS),
 * which used to kill the server. The guard (stoq_guard.c) maps a zero
 * page there so the copy can finish, and the connection is closed
 * before the packet holding those zeros, or any after it, is sent.
 */
Test(stoq_sim, file_cut_under_the_copy_closes_the_connection)
{
	struct body b = {0};
	const uint8_t *data;
	bool closed;

	cr_assert_eq(get_while_cut(1u << 20, &b, &data, &closed), 1);
	cr_assert(closed, "the connection stayed open after a fault in its body");
	cr_assert_eq(b.status, -ECONNABORTED);
	free(b.buf);
	free((void *)data);
}

/* ------------------------------------------------- kept file mappings */

/* Whether [@p, @p + @len) is mapped in this process (mincore: ENOMEM if not). */
static bool is_mapped(const void *p, size_t len)
{
	unsigned char vec[64];

	return mincore((void *)p, len < sizeof(vec) * 4096 ? len : sizeof(vec) * 4096, vec) == 0;
}

/* @name in g_dir opened and mapped, as a GET does. */
static void open_mapped(const char *name, struct stoq_file_open *f)
{
	int dirfd = open(g_dir, O_RDONLY | O_DIRECTORY);

	cr_assert_geq(dirfd, 0);
	cr_assert_eq(stoq_file_open(dirfd, name, f), 0, "opening %s", name);
	close(dirfd);
}

/*
 * The cache by itself: a file's mapping is handed out again while the
 * file is the same size, and unmapped once nothing holds it; the bytes
 * bound evicts the least recently used; a file larger than the bound, or
 * a poisoned entry, is never kept; idle entries go at file_cache_idle_ms,
 * those in use do not.
 */
Test(stoq_sim, file_cache_bounds_reuse_and_expiry)
{
	const uint64_t ms = 1000000ull, t0 = 5000 * ms;
	struct stoq_fcache fc;
	struct stoq_file_open f;
	struct stoq_fmap *a, *a2, *b, *big, *c, *c2;
	uint8_t *amap, *fresh;

	free(make_file("a.bin", 3u << 20));
	free(make_file("b.bin", 2u << 20));
	free(make_file("c.bin", 100000));
	free(make_file("big.bin", 5u << 20));
	stoq_fcache_init(&fc, 4u << 20, 1000);

	open_mapped("a.bin", &f);
	a = stoq_fcache_adopt(&fc, &f, t0);
	cr_assert_not_null(a);
	cr_assert_eq(a->map, f.map);
	amap = a->map;
	stoq_fcache_done(&fc, a, t0);
	stoq_fmap_put(a);
	cr_assert(is_mapped(amap, a->size), "a kept mapping was unmapped with its GET");
	cr_assert_eq(fc.next, t0 + 1000 * ms);

	/* Again: the kept mapping, and the fresh one unmapped. */
	open_mapped("a.bin", &f);
	fresh = f.map;
	a2 = stoq_fcache_adopt(&fc, &f, t0 + ms);
	cr_assert_eq(a2, a);
	cr_assert(!is_mapped(fresh, f.size), "the second mapping of a.bin leaked");
	cr_assert_eq(fc.hits, 1);
	cr_assert_eq(fc.misses, 1);
	stoq_fcache_done(&fc, a2, t0 + ms);
	stoq_fmap_put(a2);

	/* 3 + 2 MiB > 4 MiB: a, least recently used, goes. */
	open_mapped("b.bin", &f);
	b = stoq_fcache_adopt(&fc, &f, t0 + 2 * ms);
	cr_assert_eq(fc.n, 1);
	cr_assert_eq(fc.bytes, 2u << 20);
	cr_assert(!is_mapped(amap, 3u << 20), "a.bin stayed mapped once evicted");

	/* Larger than the whole bound: the GET's alone. */
	open_mapped("big.bin", &f);
	big = stoq_fcache_adopt(&fc, &f, t0 + 3 * ms);
	cr_assert_eq(fc.n, 1);
	fresh = big->map;
	stoq_fmap_put(big);
	cr_assert(!is_mapped(fresh, 5u << 20), "a mapping too large to keep was kept");

	/* c in use; b idle since t0 + 2 ms. */
	open_mapped("c.bin", &f);
	c = stoq_fcache_adopt(&fc, &f, t0 + 4 * ms);
	stoq_fcache_done(&fc, b, t0 + 2 * ms);
	stoq_fmap_put(b);
	fresh = b->map;
	stoq_fcache_expire(&fc, t0 + 1001 * ms);
	cr_assert_eq(fc.n, 2, "an entry went before its idle time");
	stoq_fcache_expire(&fc, t0 + 1002 * ms);
	cr_assert_eq(fc.n, 1);
	cr_assert(!is_mapped(fresh, 2u << 20), "an idle mapping stayed");
	stoq_fcache_expire(&fc, t0 + 5000 * ms);
	cr_assert_eq(fc.n, 1, "a mapping in use was dropped for idleness");
	cr_assert_gt(fc.next, t0 + 5000 * ms, "expiry due again at once: the loop would spin");

	/* Poisoned (zeros under a SIGBUS): never handed out again. */
	c->poisoned = 1;
	open_mapped("c.bin", &f);
	c2 = stoq_fcache_adopt(&fc, &f, t0 + 6000 * ms);
	cr_assert_neq(c2, c);
	cr_assert(is_mapped(c->map, c->size), "the poisoned mapping went under its GET");
	stoq_fmap_put(c);
	stoq_fmap_put(c2);
	stoq_fcache_clear(&fc);
	cr_assert_eq(fc.n, 0);
	cr_assert_eq(fc.bytes, 0);

	/* file_cache_bytes = 0: nothing kept. */
	stoq_fcache_init(&fc, 0, 1000);
	open_mapped("c.bin", &f);
	c = stoq_fcache_adopt(&fc, &f, t0);
	cr_assert_eq(fc.n, 0);
	fresh = c->map;
	stoq_fmap_put(c);
	cr_assert(!is_mapped(fresh, 100000));
}

/* Which 2 MiB blocks of a kept mapping a GET populated. */
Test(stoq_sim, file_cache_records_populated_blocks)
{
	const uint64_t blk = STOQ_FMAP_BLOCK, size = 2 * blk + 7;
	struct stoq_fcache fc;
	struct stoq_file_open f;
	struct stoq_fmap *m;

	free(make_file("m.bin", size));
	stoq_fcache_init(&fc, 1u << 30, 1000);
	open_mapped("m.bin", &f);
	m = stoq_fcache_adopt(&fc, &f, 1);
	cr_assert(!stoq_fmap_mapped(m, 0, 1));
	cr_assert(stoq_fmap_mapped(m, 5, 0), "nothing to map is mapped");
	stoq_fmap_set_mapped(m, 0, blk - 1); /* not the whole block */
	cr_assert(!stoq_fmap_mapped(m, 0, 1));
	stoq_fmap_set_mapped(m, 0, blk);
	cr_assert(stoq_fmap_mapped(m, 0, blk));
	cr_assert(!stoq_fmap_mapped(m, 0, blk + 1));
	stoq_fmap_set_mapped(m, 100, 2 * blk - 100); /* starts inside block 0: block 1 whole */
	cr_assert(stoq_fmap_mapped(m, 0, 2 * blk));
	cr_assert(!stoq_fmap_mapped(m, 2 * blk, 7));
	stoq_fmap_set_mapped(m, 2 * blk, 7); /* the last block ends at the file's end */
	cr_assert(stoq_fmap_mapped(m, 0, size));
	stoq_fmap_put(m);
	stoq_fcache_clear(&fc);
}

/* GET @path on @c into *@b, to the end. */
static void get_all(struct sim *s, struct stoq_conn *c, const char *path, struct body *b)
{
	struct want w = {.b = b, .n = 1, .c = c};

	memset(b, 0, sizeof(*b));
	cr_assert_eq(stoq_conn_get(c, path, 0, -1, &body_ops, b), 0);
	sim_run(s, all_done, &w, 30ull * 1000000000ull);
}

/* @len bytes of @data into @name under g_dir: in place (same inode) or
 * written aside and renamed over it (a new inode, as a PUT stores). */
static void rewrite(const char *name, const uint8_t *data, size_t len, bool rename_over)
{
	char path[160], tmp[170];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", g_dir, name);
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	fd = open(rename_over ? tmp : path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, data, len), (ssize_t)len);
	close(fd);
	if (rename_over)
		cr_assert_eq(rename(tmp, path), 0);
}

/*
 * A server keeps a file's mapping for the next GET of it, and what it
 * sends is always the file as it is: written over in place at the same
 * size (the shared mapping shows it), at another size (mapped anew), or
 * replaced by another file under its name.
 */
Test(stoq_sim, kept_mappings_send_the_file_as_it_is_now)
{
	const size_t len = (5u << 20) + 123, shorter = (3u << 20) + 5;
	struct stoq_config scfg, ccfg;
	struct sim s;
	struct body b;
	struct stoq_conn *c;
	uint8_t *data = make_file("k.bin", len), *other = malloc(len);

	cr_assert_not_null(other);
	for (size_t i = 0; i < len; i++)
		other[i] = (uint8_t)~data[i];
	configs(&scfg, &ccfg);
	sim_init(&s, &scfg, &ccfg, g_dir);
	c = sim_connect(&s);

	get_all(&s, c, "/k.bin", &b);
	expect_body(&b, 200, data, len);
	free(b.buf);
	get_all(&s, c, "/k.bin", &b);
	expect_body(&b, 200, data, len);
	free(b.buf);
	cr_assert_eq(s.srv->fcache.hits, 1, "the second GET mapped the file again");
	cr_assert_eq(s.srv->fcache.n, 1);

	rewrite("k.bin", other, len, false); /* same inode, same size: kept */
	get_all(&s, c, "/k.bin", &b);
	expect_body(&b, 200, other, len);
	free(b.buf);
	cr_assert_eq(s.srv->fcache.hits, 2);

	rewrite("k.bin", data, shorter, false); /* same inode, shorter */
	get_all(&s, c, "/k.bin", &b);
	expect_body(&b, 200, data, shorter);
	free(b.buf);
	cr_assert_eq(s.srv->fcache.misses, 2);

	rewrite("k.bin", other, shorter, true); /* another inode, same size */
	get_all(&s, c, "/k.bin", &b);
	expect_body(&b, 200, other, shorter);
	free(b.buf);
	cr_assert_eq(s.srv->fcache.misses, 3);
	cr_assert_eq(s.srv->fcache.n, 2, "the replaced file's mapping is kept until idle");

	/* Idle: both go (the replaced file's blocks are freed then). */
	sim_run(&s, NULL, NULL, (uint64_t)scfg.file_cache_idle_ms * 1000000ull + 1000000ull);
	cr_assert_eq(s.srv->fcache.n, 0, "%u kept mappings outlived file_cache_idle_ms",
		     s.srv->fcache.n);
	sim_fini(&s);
	free(data);
	free(other);
}

static bool both_hold(void *arg)
{
	struct got *g = arg;

	return got_enough(&g[0]) && got_enough(&g[1]);
}

/*
 * Two connections GET the same file, so send from one kept mapping, and
 * the file is cut inside the chunk both are copying from. The first copy
 * to reach the cut faults and the guard maps zeros there; the other copy
 * then reads those zeros without a fault of its own. Neither client may
 * get a byte the file never held: both connections close.
 */
Test(stoq_sim, file_cut_under_a_shared_mapping_closes_every_connection_sending_it)
{
	const size_t len = 8u << 20, cut = 1u << 20;
	struct stoq_config scfg, ccfg;
	struct sim s;
	struct body b[2] = {0};
	struct got g[2];
	struct want w = {.b = b, .n = 2};
	struct stoq_conn *c[2];
	char path[160];
	uint8_t *data = make_file("shared.bin", len);

	configs(&scfg, &ccfg);
	sim_init(&s, &scfg, &ccfg, g_dir);
	for (int i = 0; i < 2; i++) {
		c[i] = sim_connect(&s);
		g[i] = (struct got){.b = &b[i], .at_least = 64u << 10, .c = c[i]};
		cr_assert_eq(stoq_conn_get(c[i], "/shared.bin", 0, -1, &body_ops, &b[i]), 0);
	}
	sim_run(&s, both_hold, g, 30ull * 1000000000ull);
	cr_assert_eq(s.srv->fcache.hits, 1, "the two GETs do not share a mapping");
	for (int i = 0; i < 2; i++)
		cr_assert(!b[i].done && b[i].len >= g[i].at_least && b[i].len < cut,
			  "client %d holds %zu bytes (done %d) before the cut", i, b[i].len,
			  b[i].done);
	snprintf(path, sizeof(path), "%s/shared.bin", g_dir);
	cr_assert_eq(truncate(path, (off_t)cut), 0);
	sim_run(&s, all_done, &w, 30ull * 1000000000ull);
	for (int i = 0; i < 2; i++) {
		cr_assert(b[i].done, "request %d never ended", i);
		cr_assert_lt(b[i].status, 0, "request %d: status %d after the cut", i, b[i].status);
		cr_assert_leq(b[i].len, cut, "client %d got %zu bytes of a %zu-byte file", i,
			      b[i].len, cut);
		cr_assert_eq(memcmp(b[i].buf, data, b[i].len), 0,
			     "client %d got bytes the file never held", i);
		cr_assert(stoq_conn_is_closed(c[i]), "connection %d stayed open", i);
		free(b[i].buf);
	}
	cr_assert_eq(s.srv->fcache.poisoned, 1);
	/* Every connection was looked at once, at the fault; not at each
	 * train of every connection from then on. */
	cr_assert_eq(s.srv->fcache.swept, 1);
	sim_fini(&s);
	free(data);
}

/*
 * Bodies on a disk are read by the endpoint's pager threads (stoq_pager.c)
 * so a cold file does not stall the event loop; tmpfs bodies are not (see
 * test_stoq_pager.sh for a disk that holds its reads back). /var/tmp is a
 * disk filesystem on Debian where /tmp may be tmpfs.
 */
static void pager_dir(char *dir, size_t len)
{
	struct statfs fs;

	snprintf(dir, len, "/var/tmp/stoq-pager-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	cr_assert_eq(statfs(dir, &fs), 0);
	cr_assert(fs.f_type != TMPFS_MAGIC, "%s is on tmpfs: no disk to read from", dir);
}

/* Drop @name's pages from the page cache: its first chunk is cold too. */
static void evict(const char *dir, const char *name)
{
	char path[160];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDONLY);
	cr_assert_geq(fd, 0);
	cr_assert_eq(fdatasync(fd), 0);
	cr_assert_eq(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
	close(fd);
}

/* GET all of cold.bin and a range from inside its second chunk; the
 * server's paged chunk count. */
static uint64_t get_cold(unsigned threads, const char *dir, const uint8_t *data, size_t len)
{
	struct stoq_config scfg, ccfg;
	struct stoq_endpoint_stats st;
	struct body b[2] = {0};
	struct want w = {.b = b, .n = 2};
	struct sim s;
	struct stoq_conn *c;
	const size_t from = (3u << 20) + 5;

	configs(&scfg, &ccfg);
	scfg.body_read_threads = threads;
	evict(dir, "cold.bin");
	sim_init(&s, &scfg, &ccfg, dir);
	cr_assert_eq(threads != 0, s.srv->pager != NULL);
	c = sim_connect(&s);
	w.c = c;
	cr_assert_eq(stoq_conn_get(c, "/cold.bin", 0, -1, &body_ops, &b[0]), 0);
	cr_assert_eq(stoq_conn_get(c, "/cold.bin", (int64_t)from, (int64_t)len - 1, &body_ops,
				   &b[1]),
		     0);
	sim_run(&s, all_done, &w, 60ull * 1000000000ull);
	expect_body(&b[0], 200, data, len);
	expect_body(&b[1], 206, data + from, len - from);
	stoq_endpoint_stats(s.srv, &st);
	cr_assert_eq(s.srv->n_paging, 0, "requests still waiting for the pager");
	free(b[0].buf);
	free(b[1].buf);
	sim_fini(&s);
	return st.body_chunks_paged;
}

Test(stoq_sim, disk_bodies_are_read_by_the_pager)
{
	const size_t len = (5u << 20) + 123; /* chunks of 2, 2 and 1 MiB + 123 */
	char dir[64], cmd[96];
	uint8_t *data;
	uint64_t paged;

	pager_dir(dir, sizeof(dir));
	data = make_file_in(dir, "cold.bin", len);
	/* Every chunk of both bodies: each one read ahead while the one
	 * before goes out, the first because it is not in the page cache
	 * (unless the other GET's read brought it in first). */
	paged = get_cold(2, dir, data, len);
	cr_assert(paged >= 3 && paged <= 5, "%llu chunks paged", (unsigned long long)paged);
	cr_assert_eq(get_cold(0, dir, data, len), 0, "no pager, yet chunks were paged");
	free(data);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	(void)system(cmd);
}

/* Whether this process still maps a file whose path holds @needle. */
static bool mapped(const char *needle)
{
	char line[512];
	bool found = false;
	FILE *f = fopen("/proc/self/maps", "r");

	cr_assert_not_null(f);
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, needle) != NULL;
	fclose(f);
	return found;
}

/*
 * The server goes away while a chunk of a body is queued for the pager or
 * being read by it: the request is freed under the thread, which must not
 * read a mapping unmapped (or mapped again by something else) meanwhile,
 * and the mapping must not leak either (stoq_pager_release).
 */
/* Whether a request of the server waits for the pager to read a chunk of
 * its body (mapped by then), not to open its file (not mapped yet). */
static bool srv_reads_a_chunk(struct sim *s)
{
	for (struct stoq_conn *c = s->srv->conns; c; c = c->next)
		for (struct stoq_req *r = c->reqs; r; r = r->lnext)
			if (r->pg_wait && !r->pg_open)
				return true;
	return false;
}

Test(stoq_sim, request_gone_while_the_pager_reads)
{
	const size_t len = 16u << 20;
	struct stoq_config scfg, ccfg;
	char dir[64], needle[96], path[96], path2[96], cmd[96];
	struct body b[2] = {0};
	struct sim s;
	struct stoq_conn *c;
	unsigned hit = 0;
	uint8_t *data;

	pager_dir(dir, sizeof(dir));
	data = make_file_in(dir, "cold.bin", len);
	snprintf(path, sizeof(path), "%s/cold.bin", dir);
	snprintf(path2, sizeof(path2), "%s/cold2.bin", dir);
	cr_assert_eq(link(path, path2), 0);
	snprintf(needle, sizeof(needle), "%s/cold", dir);
	for (unsigned round = 0; round < 8; round++) {
		configs(&scfg, &ccfg);
		/* One thread for two bodies: one job queued behind the other. */
		scfg.body_read_threads = 1;
		evict(dir, "cold.bin");
		sim_init(&s, &scfg, &ccfg, dir);
		s.pager_race = true; /* to find its jobs still pending */
		c = sim_connect(&s);
		cr_assert_eq(stoq_conn_get(c, "/cold.bin", 0, -1, &body_ops, &b[0]), 0);
		cr_assert_eq(stoq_conn_get(c, "/cold2.bin", 0, -1, &body_ops, &b[1]), 0);
		/* Until the server has queued a chunk: the first (round 0), or
		 * a read ahead further into the bodies each round. A read ahead
		 * of pages the kernel's own readahead brought in is over in
		 * microseconds, so a round may miss its job: then the server is
		 * gone at that moment instead, which must be as clean. */
		for (unsigned i = 0;
		     i < 5000 && !(srv_reads_a_chunk(&s) && b[0].len >= round * (256u << 10)); i++)
			sim_run(&s, NULL, NULL, 100000ull);
		if (srv_reads_a_chunk(&s)) {
			hit++;
			cr_assert(mapped(needle), "round %u: the body is not mapped", round);
		}
		sim_fini(&s);
		cr_assert(!mapped(needle), "round %u: a body's mapping outlived its server", round);
		for (int i = 0; i < 2; i++) {
			free(b[i].buf);
			b[i] = (struct body){0};
		}
	}
	cr_assert_geq(hit, 1, "no round ended with a chunk waiting for the pager");
	free(data);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	(void)system(cmd);
}

/* Temporary files a PUT left in the served directory. */
/* Temporary files of PUTs under @dir. */
static unsigned put_leftovers_in(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	unsigned n = 0;

	cr_assert_not_null(d);
	while ((e = readdir(d)) != NULL)
		n += strncmp(e->d_name, ".stoq-put-", 10) == 0;
	closedir(d);
	return n;
}

static unsigned put_leftovers(void)
{
	return put_leftovers_in(g_dir);
}

static bool no_put_leftovers(void *arg)
{
	(void)arg;
	return put_leftovers() == 0;
}

static bool put_started(void *arg)
{
	struct stoq_conn *c = arg;

	return (c->reqs && c->reqs->body_given > 0) || stoq_conn_is_closed(c);
}

/*
 * The client side of get_while_cut: stoq_conn_put_fd() of an 8 MiB file
 * that is cut to @cut bytes once its first 2 MiB chunk is handed to
 * nghttp3. The client must neither die of SIGBUS nor send bytes it could
 * not read: the PUT ends with -EIO, the server stores nothing and keeps no
 * temporary file once it hears of it, and it goes on serving. Returns the
 * client's body_read_errors; *@closed: whether the connection closed.
 */
static uint64_t put_while_cut(size_t cut, bool *closed)
{
	const size_t len = 8u << 20;
	struct stoq_config scfg, ccfg;
	struct stoq_endpoint_stats st;
	struct body b = {0}, again = {0};
	struct want w = {.b = &b, .n = 1};
	struct sim s;
	struct stoq_conn *c, *c2;
	char path[160], stored[160];
	uint8_t *data = make_file("put-src.bin", len);
	int fd;

	configs(&scfg, &ccfg);
	sim_init(&s, &scfg, &ccfg, g_dir);
	c = sim_connect(&s);
	snprintf(path, sizeof(path), "%s/put-src.bin", g_dir);
	snprintf(stored, sizeof(stored), "%s/put-cut.bin", g_dir);
	fd = open(path, O_RDONLY);
	cr_assert_geq(fd, 0);
	cr_assert_eq(stoq_conn_put_fd(c, "/put-cut.bin", fd, NULL, &body_ops, &b), 0);
	close(fd); /* the request holds its own mapping */
	sim_run(&s, put_started, c, 30ull * 1000000000ull);
	cr_assert(!stoq_conn_is_closed(c) && c->reqs->body_given == 2u << 20,
		  "%zu bytes handed out before the cut", c->reqs->body_given);
	cr_assert_eq(truncate(path, (off_t)cut), 0);
	sim_run(&s, all_done, &w, 30ull * 1000000000ull);
	cr_assert(b.done, "the PUT never ended");
	cr_assert_eq(b.status, -EIO, "status %d after the file was cut", b.status);
	*closed = stoq_conn_is_closed(c);
	if (*closed)
		cr_assert(strstr(stoq_conn_last_error(c), "request body could not be read"),
			  "the client was told \"%s\"", stoq_conn_last_error(c));
	/* Until the server has heard: its request and temporary file go. */
	sim_run(&s, no_put_leftovers, NULL, 5ull * 1000000000ull);
	cr_assert_eq(put_leftovers(), 0, "the server kept the abandoned PUT's temporary file");
	cr_assert_neq(access(stored, F_OK), 0, "the server stored a PUT that was cut short");
	/* The server goes on: a PUT of the same name on this or a new connection. */
	c2 = *closed ? sim_connect(&s) : c;
	w.b = &again;
	w.c = c2;
	cr_assert_eq(stoq_conn_put(c2, "/put-cut.bin", data, 100000, NULL, &body_ops, &again), 0);
	sim_run(&s, all_done, &w, 30ull * 1000000000ull);
	cr_assert(again.done && again.status == 201, "PUT after the cut: %d (%s)", again.status,
		  stoq_conn_last_error(c2));
	expect_stored("put-cut.bin", data, 100000);
	stoq_endpoint_stats(s.cli, &st);
	unlink(stored);
	unlink(path);
	free(data);
	free(b.buf);
	free(again.buf);
	sim_fini(&s);
	return st.body_read_errors;
}

/*
 * A client (any client, not only ours) that abandons a PUT with
 * RESET_STREAM alone, without STOP_SENDING: the server used to wait for
 * the rest of the body forever, holding the request, its temporary file
 * and write block until the connection ended. It resets its side too.
 */
Test(stoq_sim, put_abandoned_with_reset_stream_frees_the_server_request)
{
	const size_t len = 8u << 20;
	struct stoq_config scfg, ccfg;
	struct body b = {0};
	struct want w = {.b = &b, .n = 1};
	struct sim s;
	struct stoq_conn *c;
	uint8_t *data = malloc(len);
	int64_t sid;

	cr_assert_not_null(data);
	memset(data, 0x5a, len);
	configs(&scfg, &ccfg);
	sim_init(&s, &scfg, &ccfg, g_dir);
	c = sim_connect(&s);
	cr_assert_eq(stoq_conn_put(c, "/abandoned.bin", data, len, NULL, &body_ops, &b), 0);
	sim_run(&s, put_started, c, 30ull * 1000000000ull);
	sim_run(&s, NULL, NULL, 5000000ull); /* some of the body reaches the server */
	cr_assert_eq(put_leftovers(), 1, "the server has no temporary file for the PUT");
	sid = c->reqs->stream_id;
	nghttp3_conn_shutdown_stream_write(c->h3, sid);
	cr_assert_eq(ngtcp2_conn_shutdown_stream_write(c->q, sid, NGHTTP3_H3_REQUEST_CANCELLED), 0);
	sim_run(&s, no_put_leftovers, NULL, 5ull * 1000000000ull);
	cr_assert_eq(put_leftovers(), 0, "the server kept the abandoned PUT's temporary file");
	sim_run(&s, all_done, &w, 5ull * 1000000000ull);
	cr_assert(b.done && b.status == -ECONNRESET, "the PUT ended with %d", b.status);
	cr_assert(!stoq_conn_is_closed(c), "the connection closed: %s", stoq_conn_last_error(c));
	free(b.buf);
	free(data);
	sim_fini(&s);
}

/* A PUT of @len bytes to @dir by a server with @threads pager threads:
 * stored whole; returns the blocks its pager wrote. */
static uint64_t put_to_disk(unsigned threads, const char *dir, const uint8_t *data, size_t len)
{
	struct stoq_config scfg, ccfg;
	struct body b = {0};
	struct want w = {.b = &b, .n = 1};
	struct sim s;
	struct stoq_conn *c;
	uint64_t paged;

	configs(&scfg, &ccfg);
	scfg.body_read_threads = threads;
	sim_init(&s, &scfg, &ccfg, dir);
	c = sim_connect(&s);
	cr_assert_eq(stoq_conn_put(c, "/disk.bin", data, len, NULL, &body_ops, &b), 0);
	sim_run(&s, all_done, &w, 60ull * 1000000000ull);
	cr_assert_eq(b.status, 201, "PUT with %u pager threads: %d (%s)", threads, b.status,
		     stoq_conn_last_error(c));
	expect_stored_in(dir, "disk.bin", data, len);
	cr_assert_eq(s.srv->n_put_bufs, 0, "%u write blocks still held", s.srv->n_put_bufs);
	cr_assert_eq(s.srv->st.put_writes_inline, 0);
	paged = s.srv->st.put_blocks_paged;
	free(b.buf);
	sim_fini(&s);
	return paged;
}

/* On a disk a PUT's blocks are written by the pager, the last partial one
 * too; without a pager by the loop, with the same bytes stored. */
Test(stoq_sim, put_blocks_on_a_disk_are_written_by_the_pager)
{
	const size_t len = (9u << 20) + 5; /* four whole 2 MiB blocks and a part */
	char dir[64], cmd[96];
	uint8_t *data = malloc(len);

	cr_assert_not_null(data);
	for (size_t i = 0; i < len; i++)
		data[i] = (uint8_t)(i * 29 + (i >> 13));
	pager_dir(dir, sizeof(dir));
	cr_assert_eq(put_to_disk(2, dir, data, len), 5);
	cr_assert_eq(unlink(strcat(strcpy(cmd, dir), "/disk.bin")), 0);
	cr_assert_eq(put_to_disk(0, dir, data, len), 0);
	free(data);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	(void)system(cmd);
}

/* The CPUs the server's pager threads may run on, as the kernel lists them
 * ("Cpus_allowed_list"), each thread's on a line of @out. */
static void pager_cpus(char *out, size_t len)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	size_t n = 0;

	cr_assert_not_null(d);
	out[0] = '\0';
	while ((e = readdir(d)) != NULL) {
		char path[300], line[256], name[64] = "";
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/status", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue; /* a thread that has just ended */
		while (fgets(line, sizeof(line), f)) {
			if (sscanf(line, "Name: %63s", name) == 1 && strcmp(name, "stoq-pager") != 0)
				break;
			if (strncmp(line, "Cpus_allowed_list:", 18) == 0) {
				n += (size_t)snprintf(out + n, len - n, "%s", line + 19);
				break;
			}
		}
		fclose(f);
	}
	closedir(d);
}

/* Pager threads on the CPUs body_read_cpus names, else on those of the
 * thread that made the endpoint (here: this one, pinned to CPU 0). */
Test(stoq_sim, pager_threads_run_on_body_read_cpus)
{
	struct stoq_config scfg, ccfg;
	struct sim s;
	cpu_set_t mine, zero;
	char got[256], err[256];
	long last = sysconf(_SC_NPROCESSORS_CONF) - 1;

	cr_assert_eq(sched_getaffinity(0, sizeof(mine), &mine), 0);
	CPU_ZERO(&zero);
	CPU_SET(0, &zero);
	cr_assert_eq(sched_setaffinity(0, sizeof(zero), &zero), 0);
	configs(&scfg, &ccfg);
	sim_init(&s, &scfg, &ccfg, g_dir);
	pager_cpus(got, sizeof(got));
	cr_assert_str_eq(got, "0\n0\n", "default: the creating thread's CPU, got:\n%s", got);
	sim_fini(&s);
	configs(&scfg, &ccfg);
	snprintf(got, sizeof(got), "%ld", last);
	cr_assert_eq(hm_cfg_set(&stoq_config_table, &scfg, "body_read_cpus", got, false, err,
				sizeof(err)),
		     0, "%s", err);
	sim_init(&s, &scfg, &ccfg, g_dir);
	pager_cpus(got, sizeof(got));
	snprintf(err, sizeof(err), "%ld\n%ld\n", last, last);
	cr_assert_str_eq(got, err, "body_read_cpus=%ld, got:\n%s", last, got);
	sim_fini(&s);
	cr_assert_eq(sched_setaffinity(0, sizeof(mine), &mine), 0);
}

/* A disk that does not answer: the server's pager (one thread) held in the
 * open of a FIFO under @dir, its path in @fifo (96 bytes). */
static struct stoq_page_job *disk_hold(struct sim *s, const char *dir, char *fifo)
{
	struct stoq_page_job *hold = NULL;

	snprintf(fifo, 96, "%s/disk.fifo", dir);
	cr_assert_eq(mkfifo(fifo, 0600), 0);
	cr_assert_eq(stoq_pager_open(s->srv->pager, &hold, s->srv->root_fd, "disk.fifo"), 0);
	return hold;
}

/* The disk answers: the held open fails (a FIFO is not a file). With
 * @wait the job is over before it is released; without, it may still run
 * (the release orphans it). */
static void disk_let_go(struct sim *s, const char *fifo, struct stoq_page_job *hold, bool wait)
{
	int wfd = open(fifo, O_WRONLY | O_NONBLOCK);

	cr_assert_geq(wfd, 0, "open %s: %s", fifo, strerror(errno));
	close(wfd);
	while (wait && stoq_pager_poll(hold) == -EINPROGRESS)
		usleep(1000);
	stoq_pager_release(s->srv->pager, hold, NULL);
}

/*
 * A disk that stops taking writes: the single pager thread is held in the
 * open of a FIFO nobody writes to, so every block of a PUT queues behind it,
 * as behind a disk that does not answer. The server must hold back the
 * client (flow control: no credit for bytes that arrive while a block is
 * being written), not take the whole body into memory; the client gives
 * up on the PUT (RESET_STREAM): the held credit goes back to the
 * connection, whose next PUT goes through once the disk answers. With
 * @server_gone the server is destroyed instead while the blocks are
 * queued or being written: nothing is left behind (ASan sees the rest).
 */
static void put_held_by_the_disk(bool server_gone)
{
	const size_t len = 12u << 20, win = 4u << 20;
	struct stoq_config scfg, ccfg;
	struct body b[2] = {0};
	struct want w = {.b = &b[1], .n = 1};
	struct stoq_page_job *hold;
	struct sim s;
	struct stoq_conn *c;
	struct stoq_req *r;
	char dir[64], fifo[96], cmd[96];
	uint8_t *data = malloc(len);
	int64_t sid;

	cr_assert_not_null(data);
	for (size_t i = 0; i < len; i++)
		data[i] = (uint8_t)(i * 11 + (i >> 12));
	pager_dir(dir, sizeof(dir));
	configs(&scfg, &ccfg);
	scfg.body_read_threads = 1;
	/* Fixed windows, as large as each other: the connection's is what a
	 * PUT abandoned with its credit held would leave empty for good. */
	scfg.initial_max_data = win;
	scfg.initial_max_stream_data = win;
	scfg.max_window = 0;
	scfg.max_stream_window = 0;
	sim_init(&s, &scfg, &ccfg, dir);
	s.pager_race = true; /* the clock runs while the "disk" holds on */
	hold = disk_hold(&s, dir, fifo);
	c = sim_connect(&s);
	cr_assert_eq(stoq_conn_put(c, "/held.bin", data, len, NULL, &body_ops, &b[0]), 0);
	sim_run(&s, NULL, NULL, 2ull * 1000000000ull);
	cr_assert_not_null(s.srv->conns);
	r = s.srv->conns->reqs;
	cr_assert(r && r->method == STOQ_M_PUT, "the server has no PUT");
	/* The first block's 2 MiB had their credit on arrival (nothing was
	 * being written); then no more than the window. */
	cr_assert(!b[0].done, "the PUT ended while the disk held every write: %d", b[0].status);
	cr_assert(r->put_bytes > (2u << 20) && r->put_bytes <= (2u << 20) + win,
		  "%llu bytes of the body in the server's memory",
		  (unsigned long long)r->put_bytes);
	cr_assert_geq(r->put_n, 2, "%u blocks queued", r->put_n);
	cr_assert_geq(s.srv->st.put_writes_behind, 1);
	if (server_gone) {
		/* Let the disk go as the server goes: its blocks are queued,
		 * being written, or written; its thread ends (joined). */
		disk_let_go(&s, fifo, hold, false);
		sim_fini(&s);
		cr_assert_eq(put_leftovers_in(dir), 0, "temporary files left by a PUT never stored");
		goto out;
	}
	sid = c->reqs->stream_id;
	nghttp3_conn_shutdown_stream_write(c->h3, sid);
	cr_assert_eq(ngtcp2_conn_shutdown_stream_write(c->q, sid, NGHTTP3_H3_REQUEST_CANCELLED), 0);
	sim_run(&s, all_done, &(struct want){.b = &b[0], .n = 1}, 5ull * 1000000000ull);
	sim_run(&s, NULL, NULL, 100000000ull);
	cr_assert_null(s.srv->conns->reqs, "the server kept the abandoned PUT");
	cr_assert_eq(s.srv->n_put_bufs, 0, "%u write blocks still held", s.srv->n_put_bufs);
	cr_assert_eq(put_leftovers_in(dir), 0);
	disk_let_go(&s, fifo, hold, true);
	s.pager_race = false;
	cr_assert_eq(stoq_conn_put(c, "/after.bin", data, len, NULL, &body_ops, &b[1]), 0);
	sim_run(&s, all_done, &w, 30ull * 1000000000ull);
	cr_assert_eq(b[1].status, 201, "the next PUT on the connection: %d (%s)", b[1].status,
		     stoq_conn_last_error(c));
	expect_stored_in(dir, "after.bin", data, len);
	sim_fini(&s);
out:
	free(b[0].buf);
	free(b[1].buf);
	free(data);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	(void)system(cmd);
}

/*
 * A pager write job given the PUT's hash: the bytes of the file before its
 * block that the hash does not hold yet (written by the loop itself) are
 * read back first, then the block's own go in; the hash and the offset it
 * covers come back with the block, and the file holds every byte.
 */
Test(stoq_pager, write_job_hashes_the_bytes_before_its_block_from_the_file)
{
	const size_t a = (3u << 20) + 17, n = (1u << 20) + 5;
	struct stoq_pager *p;
	struct stoq_page_job *j = NULL;
	char dir[64], path[96], cmd[96];
	uint8_t *data = malloc(a + n), *blk = malloc(n), want[32], got[32], *back = NULL;
	uint64_t hashed = 0;
	struct stoq_sha256 sha;
	int fd, rc;

	cr_assert(data && blk);
	for (size_t i = 0; i < a + n; i++)
		data[i] = (uint8_t)(i * 5 + (i >> 9));
	memcpy(blk, data + a, n);
	pager_dir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/part.bin", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(stoq_write_all(fd, data, a, 0), 0); /* what the loop wrote */
	cr_assert_eq(stoq_pager_create(1, NULL, &p), 0);
	cr_assert_eq(stoq_sha256_init(&sha), 0);
	cr_assert_eq(stoq_pager_write(p, &j, fd, blk, n, a, &sha, 0), 0);
	while ((rc = stoq_pager_written(j, (void **)&back, &sha, &hashed)) == -EINPROGRESS)
		usleep(1000);
	cr_assert_eq(rc, 0, "the write job: %s", strerror(-rc));
	cr_assert_eq(back, blk, "the block did not come back");
	cr_assert_eq(hashed, a + n);
	cr_assert_eq(stoq_sha256_final(&sha, got), 0);
	cr_assert_eq(stoq_sha256(data, a + n, want), 0);
	cr_assert_eq(memcmp(got, want, sizeof(want)), 0, "the hash is not the file's");
	close(fd);
	expect_stored_in(dir, "part.bin", data, a + n);
	stoq_pager_release(p, j, NULL);
	stoq_pager_destroy(p);
	stoq_sha256_free(&sha);
	free(blk);
	free(data);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	(void)system(cmd);
}

/*
 * Every write block of the server in use but one (as by other PUTs): a PUT
 * to its content hash fills that one, which waits for a pager held on the
 * "disk" (a FIFO's open) with the hash; the rest of the body is written by
 * the loop itself behind it, out of the hash's order. The hash must still
 * be that of the file, read back where the loop wrote (the name checks it:
 * 400 otherwise), and the file whole.
 */
Test(stoq_sim, put_hashed_right_when_the_loop_writes_behind_a_waiting_block)
{
	const size_t len = (12u << 20) + 3;
	struct stoq_config scfg, ccfg;
	struct body b = {0};
	struct want w = {.b = &b, .n = 1};
	struct stoq_page_job *hold;
	struct sim s;
	struct stoq_conn *c;
	char dir[64], fifo[96], path[96], hex[65], cmd[96];
	uint8_t *data = malloc(len), d[32];

	cr_assert_not_null(data);
	for (size_t i = 0; i < len; i++)
		data[i] = (uint8_t)(i * 3 + (i >> 14));
	cr_assert_eq(stoq_sha256(data, len, d), 0);
	hm_hex_encode(d, sizeof(d), hex);
	snprintf(path, sizeof(path), "/sha256/%s", hex);
	pager_dir(dir, sizeof(dir));
	configs(&scfg, &ccfg);
	scfg.body_read_threads = 1;
	sim_init(&s, &scfg, &ccfg, dir);
	s.pager_race = true;
	hold = disk_hold(&s, dir, fifo);
	s.srv->n_put_bufs = scfg.put_buffers - 1;
	c = sim_connect(&s);
	cr_assert_eq(stoq_conn_put(c, path, data, len, d, &body_ops, &b), 0);
	sim_run(&s, NULL, NULL, 2ull * 1000000000ull);
	cr_assert_geq(s.srv->st.put_writes_inline, 1, "the loop wrote nothing behind the block");
	cr_assert_eq(s.srv->st.put_blocks_paged, 1);
	disk_let_go(&s, fifo, hold, true);
	s.pager_race = false;
	sim_run(&s, all_done, &w, 30ull * 1000000000ull);
	cr_assert_eq(b.status, 201, "PUT %s: %d (%s)", path, b.status, stoq_conn_last_error(c));
	expect_stored_in(dir, path + 1, data, len);
	cr_assert_eq(s.srv->n_put_bufs, scfg.put_buffers - 1, "%u blocks", s.srv->n_put_bufs);
	s.srv->n_put_bufs = 0;
	free(b.buf);
	free(data);
	sim_fini(&s);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	(void)system(cmd);
}

Test(stoq_sim, put_held_back_while_the_disk_does_not_write)
{
	put_held_by_the_disk(false);
}

Test(stoq_sim, server_gone_while_put_blocks_are_written)
{
	put_held_by_the_disk(true);
}

/* A file under @dir (@name may hold a '/'), its mtime @age_s seconds ago
 * (negative: in the future). */
static void file_aged(const char *dir, const char *name, long age_s)
{
	char path[256];
	struct timespec t[2];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
	cr_assert_eq(write(fd, "x", 1), 1);
	clock_gettime(CLOCK_REALTIME, &t[0]);
	t[0].tv_sec -= age_s;
	t[1] = t[0];
	cr_assert_eq(futimens(fd, t), 0);
	close(fd);
}

static bool exists_in(const char *dir, const char *name)
{
	char path[256];
	struct stat sb;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return lstat(path, &sb) == 0;
}

/*
 * A server starts on a root where an earlier run died mid-PUT: the
 * temporary files nobody holds a lock on and that are older than the start
 * go (in subdirectories too); one another process has locked (a live
 * server's), one newer than the start, a stored file and a symlink with
 * the prefix stay.
 */
Test(stoq_sim, unfinished_puts_of_an_earlier_run_are_removed_at_start)
{
	struct stoq_config scfg, ccfg;
	struct sim s;
	char dir[64], path[128], cmd[96];
	int held;

	pager_dir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/sub", dir);
	cr_assert_eq(mkdir(path, 0755), 0);
	file_aged(dir, ".stoq-put-dead01", 3600);
	file_aged(dir, "sub/.stoq-put-dead02", 60);
	file_aged(dir, ".stoq-put-live01", 3600);
	file_aged(dir, ".stoq-put-new001", -3600);
	file_aged(dir, "stored.bin", 3600);
	snprintf(path, sizeof(path), "%s/stored.bin", dir);
	cr_assert_eq(symlink(path, strcat(strcpy(cmd, dir), "/.stoq-put-link1")), 0);
	snprintf(path, sizeof(path), "%s/.stoq-put-live01", dir);
	held = open(path, O_RDONLY);
	cr_assert_geq(held, 0);
	cr_assert_eq(flock(held, LOCK_EX | LOCK_NB), 0);
	configs(&scfg, &ccfg);
	sim_init(&s, &scfg, &ccfg, dir);
	for (int i = 0; i < 500 && (exists_in(dir, ".stoq-put-dead01") ||
				    exists_in(dir, "sub/.stoq-put-dead02"));
	     i++)
		usleep(10000);
	cr_assert(!exists_in(dir, ".stoq-put-dead01"), "an unfinished PUT's file was left");
	cr_assert(!exists_in(dir, "sub/.stoq-put-dead02"), "one in a subdirectory was left");
	sim_fini(&s); /* the walk is over when the server is gone */
	cr_assert(exists_in(dir, ".stoq-put-live01"), "a file another process holds was removed");
	cr_assert(exists_in(dir, ".stoq-put-new001"), "a file newer than the start was removed");
	cr_assert(exists_in(dir, "stored.bin"));
	cr_assert(exists_in(dir, ".stoq-put-link1"), "a symlink was followed or removed");
	close(held);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	(void)system(cmd);
}

static bool srv_committing(void *arg)
{
	struct sim *s = arg;

	return s->srv->n_paging != 0;
}

/*
 * The server goes away while its pager threads are storing PUTs (fdatasync,
 * rename, directory fsync before the 201): a commit under way finishes, one
 * still queued is dropped with its temporary file. Either way no temporary
 * file is left and every name holds all of its PUT or nothing.
 */
Test(stoq_sim, server_gone_while_puts_are_committed)
{
	enum { N = 8 };
	const size_t len = 1u << 20;
	struct stoq_config scfg, ccfg;
	struct body b[N] = {0};
	struct sim s;
	struct stoq_conn *c;
	uint8_t *data = malloc(len);
	unsigned stored = 0;

	cr_assert_not_null(data);
	for (size_t i = 0; i < len; i++)
		data[i] = (uint8_t)(i * 13 + (i >> 10));
	configs(&scfg, &ccfg);
	scfg.body_read_threads = 1; /* commits queue behind each other */
	sim_init(&s, &scfg, &ccfg, g_dir);
	s.pager_race = true;
	c = sim_connect(&s);
	for (int i = 0; i < N; i++) {
		char path[64];

		snprintf(path, sizeof(path), "/commit-%d.bin", i);
		cr_assert_eq(stoq_conn_put(c, path, data, len, NULL, &body_ops, &b[i]), 0);
	}
	sim_run(&s, srv_committing, &s, 30ull * 1000000000ull);
	cr_assert(s.srv->n_paging, "no PUT was being stored when the server went");
	sim_fini(&s);
	cr_assert_eq(put_leftovers(), 0, "temporary files left by PUTs the server never answered");
	for (int i = 0; i < N; i++) {
		char path[160];
		struct stat sb;

		snprintf(path, sizeof(path), "%s/commit-%d.bin", g_dir, i);
		if (stat(path, &sb) != 0)
			continue;
		snprintf(path, sizeof(path), "commit-%d.bin", i);
		expect_stored(path, data, len);
		stored++;
	}
	cr_log_info("%u of %d PUTs stored when the server went", stored, N);
	for (int i = 0; i < N; i++)
		free(b[i].buf);
	free(data);
}

/*
 * A connection lives on past max_streams_bidi requests: the server gives
 * back a stream for each one done (MAX_STREAMS). It never did, and the
 * 11th GET with max_streams_bidi 10 waited for the idle timeout.
 */
Test(stoq_sim, more_requests_than_max_streams_on_one_connection)
{
	enum { LIMIT = 10, N = 35 };
	struct stoq_config scfg, ccfg;
	struct body b[N] = {0};
	struct want w = {.b = b, .n = N};
	struct sim s;
	struct stoq_conn *c;
	uint8_t *data = make_file("many.bin", 3000);

	configs(&scfg, &ccfg);
	scfg.max_streams_bidi = LIMIT;
	sim_init(&s, &scfg, &ccfg, g_dir);
	c = sim_connect(&s);
	w.c = c;
	for (int i = 0; i < N; i++)
		cr_assert_eq(stoq_conn_get(c, "/many.bin", 0, -1, &body_ops, &b[i]), 0);
	sim_run(&s, all_done, &w, 20ull * 1000000000ull);
	cr_assert(!stoq_conn_is_closed(c), "closed: %s", stoq_conn_last_error(c));
	for (int i = 0; i < N; i++) {
		expect_body(&b[i], 200, data, 3000);
		free(b[i].buf);
	}
	free(data);
	sim_fini(&s);
}

/* A client PUT from a file cut past the chunk being sent: that stream alone is reset. */
Test(stoq_sim, put_file_cut_before_a_chunk_resets_the_stream)
{
	bool closed;

	cr_assert_eq(put_while_cut(3u << 20, &closed), 1);
	cr_assert(!closed, "the connection closed for one PUT's file");
}

/* ... cut inside the chunk being copied: the client's SIGBUS guard, the connection closes. */
Test(stoq_sim, put_file_cut_under_the_copy_closes_the_connection)
{
	bool closed;

	cr_assert_eq(put_while_cut(1u << 20, &closed), 1);
	cr_assert(closed, "the connection stayed open after a fault in a request body");
}

static void expect_failure(struct stoq_config *scfg, struct stoq_config *ccfg, const char *what)
{
	struct sim s;
	struct body b = { 0 };
	struct want w = { .b = &b, .n = 1 };
	struct stoq_conn *c;

	sim_init(&s, scfg, ccfg, g_dir);
	c = sim_connect(&s);
	w.c = c;
	cr_assert_eq(stoq_conn_get(c, "/x", 0, -1, &body_ops, &b), 0);
	sim_run(&s, all_done, &w, 30ull * 1000000000ull);
	cr_assert(stoq_conn_is_closed(c));
	cr_assert(!b.done || b.status < 0);
	cr_assert(strstr(stoq_conn_last_error(c), what), "error \"%s\" lacks \"%s\"",
		  stoq_conn_last_error(c), what);
	sim_fini(&s);
}

Test(stoq_sim, wrong_alpn_is_refused)
{
	struct stoq_config scfg, ccfg;

	configs(&scfg, &ccfg);
	snprintf(ccfg.alpn, sizeof(ccfg.alpn), "hq-interop");
	expect_failure(&scfg, &ccfg, "no_application_protocol");
}

Test(stoq_sim, untrusted_certificate_is_refused)
{
	struct stoq_config scfg, ccfg;

	configs(&scfg, &ccfg);
	ccfg.ca[0] = '\0';
	snprintf(ccfg.ca, sizeof(ccfg.ca), "/etc/ssl/certs/ca-certificates.crt");
	if (access(ccfg.ca, R_OK) != 0)
		ccfg.ca[0] = '\0';
	expect_failure(&scfg, &ccfg, "certificate verification failed");
}

Test(stoq_sim, unknown_version_is_negotiated_away)
{
	struct stoq_config scfg, ccfg;

	configs(&scfg, &ccfg);
	ccfg.quic_version = 0x1a2a3a4a; /* RFC 9000 §15: a reserved version */
	expect_failure(&scfg, &ccfg, "version negotiation failed");
}

Test(stoq_sim, unknown_cid_gets_stateless_reset)
{
	struct stoq_config scfg, ccfg;
	struct sim s;
	struct stoq_endpoint_stats st;
	struct stoq_dgram d = { 0 }, out[4];
	uint8_t pkt[100] = { 0x40 }, cid[20], nonce[20] = { 7 }, token[16];
	size_t n;

	configs(&scfg, &ccfg);
	sim_init(&s, &scfg, &ccfg, g_dir);
	cr_assert_eq(stoq_cid_encode(&scfg, scfg.server_id, nonce, cid, sizeof(cid)), 0);
	memcpy(pkt + 1, cid, scfg.cid_len); /* a short header for a connection nobody has */
	d.data = pkt;
	d.len = sizeof(pkt);
	memcpy(&d.remote, &s.caddr, sizeof(s.caddr));
	d.remote_len = sizeof(s.caddr);
	stoq_endpoint_recv(s.srv, &d, s.now);
	stoq_endpoint_stats(s.srv, &st);
	cr_assert_eq(st.resets_sent, 1);
	n = stoq_endpoint_send(s.srv, out, 4, s.now);
	cr_assert_eq(n, 1);
	/* RFC 9000 §10.3: shorter than the trigger, ends with the token for the CID. */
	cr_assert_lt(out[0].len, sizeof(pkt));
	cr_assert_eq(out[0].data[0] & 0xc0, 0x40);
	cr_assert_eq(stoq_token_reset(&s.srv->keys, cid, scfg.cid_len, token), 0);
	cr_assert_eq(memcmp(out[0].data + out[0].len - 16, token, 16), 0);
	/* A tiny trigger gets nothing (no reset loops). */
	d.len = 30;
	stoq_endpoint_recv(s.srv, &d, s.now);
	stoq_endpoint_stats(s.srv, &st);
	cr_assert_eq(st.resets_sent, 1);
	sim_fini(&s);
}

/*
 * Initials that look right to ngtcp2_accept() but do not decrypt, as anyone
 * can send from forged addresses: the server must not keep a connection
 * for any of them (it kept each, ngtcp2 connection and TLS object, until a
 * timer fired: on a server with only idle connections, for good).
 */
Test(stoq_sim, initials_that_do_not_decrypt_leave_no_connection)
{
	struct stoq_config scfg, ccfg;
	struct sim s;
	struct stoq_endpoint_stats st;
	struct stoq_dgram d = { 0 };
	uint8_t pkt[1200], *data;
	uint64_t dropped;
	struct body b = { 0 };
	struct want w = { .b = &b, .n = 1 };
	struct stoq_conn *c;

	configs(&scfg, &ccfg);
	sim_init(&s, &scfg, &ccfg, g_dir);
	stoq_endpoint_stats(s.srv, &st);
	dropped = st.dropped;
	d.data = pkt;
	d.len = sizeof(pkt);
	memcpy(&d.remote, &s.caddr, sizeof(s.caddr));
	d.remote_len = sizeof(s.caddr);
	for (unsigned i = 0; i < 64; i++) {
		size_t off = 0;

		pkt[off++] = 0xc3; /* long header, Initial, 4-byte packet number */
		pkt[off++] = 0, pkt[off++] = 0, pkt[off++] = 0, pkt[off++] = 1;
		pkt[off++] = 8; /* DCID and SCID, 8 bytes each, new every time */
		for (unsigned k = 0; k < 16; k++) {
			if (k == 8)
				pkt[off++] = 8;
			pkt[off++] = (uint8_t)(i * 31 + k * 7 + 1);
		}
		pkt[off++] = 0; /* no token */
		pkt[off] = (uint8_t)(0x40 | (sizeof(pkt) - off - 2) >> 8);
		pkt[off + 1] = (uint8_t)(sizeof(pkt) - off - 2);
		off += 2;
		for (; off < sizeof(pkt); off++) /* not what the Initial keys seal */
			pkt[off] = (uint8_t)(off * 13 + i);
		stoq_endpoint_recv(s.srv, &d, s.now);
		cr_assert_eq(stoq_endpoint_conn_count(s.srv), 0,
			     "Initial %u left %zu connections", i, stoq_endpoint_conn_count(s.srv));
	}
	stoq_endpoint_stats(s.srv, &st);
	cr_assert_eq(st.dropped - dropped, 64);
	/* And a real client is still served. */
	data = make_file("after-initials.bin", 3000);
	c = sim_connect(&s);
	w.c = c;
	cr_assert_eq(stoq_conn_get(c, "/after-initials.bin", 0, -1, &body_ops, &b), 0);
	sim_run(&s, all_done, &w, 20ull * 1000000000ull);
	expect_body(&b, 200, data, 3000);
	cr_assert_eq(stoq_endpoint_conn_count(s.srv), 1);
	free(b.buf);
	free(data);
	sim_fini(&s);
}

/* ------------------------------------------------ the driver loop's turn */

/*
 * A back end in memory for stoq_endpoint_turn(): what one side sends waits
 * in its peer's queue, a GSO train as one datagram with its segment size,
 * the way UDP GRO hands a train over. At each send it notes how many
 * bytes its endpoint took in since the last one.
 */
#define MEM_SLOTS 1024

struct mem_be {
	struct mem_be *peer;
	struct sockaddr_in addr;
	struct stoq_endpoint *ep; /* whose packets are counted */
	struct stoq_dgram q[MEM_SLOTS]; /* each .data malloc'd, freed when taken */
	size_t head, count;
	uint64_t rx_at_send; /* ep's bytes received when it last sent */
	uint64_t most_unsent; /* the most it took in between two sends (turns counted) */
	size_t largest; /* the largest datagram handed over, bytes */
	bool counting;
};

/* Bytes @be's endpoint has taken in so far (stoq_endpoint_recv counts them). */
static uint64_t mem_rx_bytes(const struct mem_be *be)
{
	struct stoq_endpoint_stats st;

	stoq_endpoint_stats(be->ep, &st);
	return st.rx_bytes;
}

static int mem_open(struct stoq_io *io, const struct sockaddr *addr, socklen_t len,
		    const void *params)
{
	memcpy(&io->local, addr, len);
	io->local_len = len;
	io->max_payload = 65507;
	io->gso = io->gro = true;
	io->be = (void *)params;
	return 0;
}

static size_t mem_recv_burst(struct stoq_io *io, struct stoq_dgram *d, size_t max)
{
	struct mem_be *be = io->be;
	size_t n = 0;

	for (; n < max && be->count; n++) {
		struct stoq_dgram *s = &be->q[be->head];

		memcpy(d[n].data, s->data, s->len);
		d[n].len = s->len;
		d[n].segsize = s->segsize;
		d[n].ecn = 0;
		memcpy(&d[n].remote, &be->peer->addr, sizeof(be->peer->addr));
		d[n].remote_len = sizeof(be->peer->addr);
		free(s->data);
		be->head = (be->head + 1) % MEM_SLOTS;
		be->count--;
		if (s->len > be->largest)
			be->largest = s->len;
	}
	return n;
}

static size_t mem_send_burst(struct stoq_io *io, const struct stoq_dgram *d, size_t n)
{
	struct mem_be *be = io->be, *to = be->peer;
	uint64_t rx = mem_rx_bytes(be);
	size_t i;

	if (be->counting && rx - be->rx_at_send > be->most_unsent)
		be->most_unsent = rx - be->rx_at_send;
	be->rx_at_send = rx;

	for (i = 0; i < n && to->count < MEM_SLOTS; i++) {
		struct stoq_dgram *s = &to->q[(to->head + to->count) % MEM_SLOTS];

		s->data = malloc(d[i].len);
		cr_assert_not_null(s->data);
		memcpy(s->data, d[i].data, d[i].len);
		s->len = d[i].len;
		s->segsize = d[i].segsize && d[i].segsize < d[i].len ? d[i].segsize : 0;
		to->count++;
	}
	return i;
}

static int mem_pollfd(struct stoq_io *io)
{
	(void)io;
	return -1;
}

static void mem_close(struct stoq_io *io)
{
	struct mem_be *be = io->be;

	for (; be->count; be->count--, be->head = (be->head + 1) % MEM_SLOTS)
		free(be->q[be->head].data);
}

static const struct stoq_io_ops mem_ops = {
	.name = "mem",
	.open = mem_open,
	.recv_burst = mem_recv_burst,
	.send_burst = mem_send_burst,
	.pollfd = mem_pollfd,
	.close = mem_close,
};

TestSuite(stoq_turn, .init = make_cert, .fini = cleanup_dir, .timeout = 120);

/*
 * A receiver that drains a long burst lets its ACKs out on the way: eight
 * connections download at once and the server takes turns until it has
 * nothing more to send, so a client turn finds more than
 * STOQ_RUN_SEND_BYTES waiting; it may take in no more than that (plus the
 * rest of the GRO train that crossed the mark) without a send. Draining
 * the whole burst first held every ACK back by a congestion window's
 * worth of decryption (stoq.h says what that cost).
 */
#define TURN_CONNS 8

Test(stoq_turn, acks_leave_while_a_long_burst_is_drained)
{
	static struct mem_be sbe, cbe;
	struct stoq_config scfg, ccfg;
	struct stoq_io *sio, *cio;
	struct stoq_endpoint *srv, *cli;
	struct stoq_dgram rx[STOQ_RUN_RX_BURST];
	uint8_t *bufs = malloc((size_t)STOQ_RUN_RX_BURST * STOQ_RX_BUF);
	struct body b[TURN_CONNS] = { 0 };
	struct want want[TURN_CONNS];
	size_t len = 2 * 1000 * 1000 + 5;
	uint8_t *data = make_file("turn-blob", len);
	uint64_t end, most_in_turn = 0;
	bool done = false;

	cr_assert_not_null(bufs);
	for (int i = 0; i < STOQ_RUN_RX_BURST; i++)
		rx[i].data = bufs + (size_t)i * STOQ_RX_BUF;
	memset(&sbe, 0, sizeof(sbe));
	memset(&cbe, 0, sizeof(cbe));
	sbe.peer = &cbe;
	cbe.peer = &sbe;
	addr4(&sbe.addr, "10.0.0.2", 443);
	addr4(&cbe.addr, "10.0.0.1", 40000);
	sio = stoq_io_open(&mem_ops, (struct sockaddr *)&sbe.addr, sizeof(sbe.addr), &sbe);
	cio = stoq_io_open(&mem_ops, (struct sockaddr *)&cbe.addr, sizeof(cbe.addr), &cbe);
	cr_assert(sio && cio);
	configs(&scfg, &ccfg);
	scfg.pacing = false; /* whole windows at once, so the client's bursts are long */
	srv = stoq_endpoint_create(&scfg, true, g_dir, (struct sockaddr *)&sbe.addr,
				   sizeof(sbe.addr));
	cli = stoq_endpoint_create(&ccfg, false, NULL, (struct sockaddr *)&cbe.addr,
				   sizeof(cbe.addr));
	cr_assert(srv && cli);
	sbe.ep = srv;
	cbe.ep = cli;
	for (int i = 0; i < TURN_CONNS; i++) {
		want[i] = (struct want){ .b = &b[i], .n = 1 };
		want[i].c = stoq_conn_connect(cli, (struct sockaddr *)&sbe.addr, sizeof(sbe.addr),
					      "localhost", stoq_now());
		cr_assert_not_null(want[i].c);
		cr_assert_eq(stoq_conn_get(want[i].c, "/turn-blob", 0, -1, &body_ops, &b[i]), 0);
	}
	end = stoq_now() + 60ull * 1000000000ull;
	while (!done && stoq_now() < end) {
		uint64_t before = mem_rx_bytes(&cbe);

		cbe.counting = true;
		for (int i = 0; i < TURN_CONNS; i++)
			cbe.counting &= stoq_conn_is_established(want[i].c);
		stoq_endpoint_turn(cli, cio, rx);
		if (mem_rx_bytes(&cbe) - before > most_in_turn)
			most_in_turn = mem_rx_bytes(&cbe) - before;
		/* Until the server has nothing more or the client's queue is half full. */
		for (int i = 0; i < 8 && cbe.count < MEM_SLOTS / 2; i++)
			if (!stoq_endpoint_turn(srv, sio, rx))
				break;
		done = true;
		for (int i = 0; i < TURN_CONNS; i++)
			done &= all_done(&want[i]);
	}
	for (int i = 0; i < TURN_CONNS; i++) {
		cr_assert_str_empty(stoq_conn_last_error(want[i].c));
		expect_body(&b[i], 200, data, len);
		free(b[i].buf);
	}
	/* Not vacuous: in some turn, draining it all before sending breaks the bound. */
	cr_assert_gt(most_in_turn, STOQ_RUN_SEND_BYTES + cbe.largest,
		     "the longest client turn took %" PRIu64 " bytes (largest datagram %zu)",
		     most_in_turn, cbe.largest);
	cr_assert_leq(cbe.most_unsent, STOQ_RUN_SEND_BYTES + cbe.largest - 1,
		      "%" PRIu64 " bytes taken in without a send (largest datagram %zu)",
		      cbe.most_unsent, cbe.largest);
	stoq_endpoint_destroy(cli);
	stoq_endpoint_destroy(srv);
	stoq_io_destroy(cio);
	stoq_io_destroy(sio);
	free(data);
	free(bufs);
}

/*
 * busy_poll_us: stoq_endpoint_run looks at the socket again without
 * sleeping for that long after a turn that did something. A back end on a
 * pipe nobody writes to hands the endpoint one datagram (a short header
 * without its fixed bit, dropped) on its first receive and nothing after;
 * each receive is a turn, stamped. With no connection there is no timer, so
 * a loop that sleeps sleeps 200 ms (the cap, to check *stop) at a time.
 */
struct spin_be {
	int rfd; /* a pipe's read end; its write end stays open, so no EOF wakes ppoll */
	unsigned turns;
	uint64_t first, prev, last; /* when the first, last but one and last turns began */
	uint64_t until;		    /* done() from here on */
};

static size_t spin_recv_burst(struct stoq_io *io, struct stoq_dgram *d, size_t max)
{
	struct spin_be *be = io->be;
	struct sockaddr_in from;

	(void)max;
	be->prev = be->last;
	be->last = stoq_now();
	if (be->turns++)
		return 0;
	be->first = be->last;
	memset(d[0].data, 0, 64);
	d[0].len = 64;
	d[0].segsize = 0;
	d[0].ecn = 0;
	addr4(&from, "10.0.0.9", 40000);
	memcpy(&d[0].remote, &from, sizeof(from));
	d[0].remote_len = sizeof(from);
	return 1;
}

static size_t spin_send_burst(struct stoq_io *io, const struct stoq_dgram *d, size_t n)
{
	(void)io;
	(void)d;
	return n;
}

static int spin_pollfd(struct stoq_io *io)
{
	return ((struct spin_be *)io->be)->rfd;
}

static void spin_close(struct stoq_io *io)
{
	(void)io;
}

static const struct stoq_io_ops spin_ops = {
	.name = "spin",
	.open = mem_open, /* io->be is the spin_be */
	.recv_burst = spin_recv_burst,
	.send_burst = spin_send_burst,
	.pollfd = spin_pollfd,
	.close = spin_close,
};

static bool spin_done(void *arg)
{
	struct spin_be *be = arg;

	return stoq_now() >= be->until;
}

/* Run an endpoint with busy_poll_us = @us over a spin_be until 100 ms have gone. */
static void spin_run(struct spin_be *be, uint32_t us)
{
	struct stoq_config cfg, unused;
	struct sockaddr_in local;
	struct stoq_endpoint *ep;
	struct stoq_io *io;
	int p[2];

	cr_assert_eq(pipe(p), 0);
	memset(be, 0, sizeof(*be));
	be->rfd = p[0];
	addr4(&local, "10.0.0.1", 40001);
	io = stoq_io_open(&spin_ops, (struct sockaddr *)&local, sizeof(local), be);
	cr_assert_not_null(io);
	configs(&unused, &cfg);
	cfg.busy_poll_us = us;
	ep = stoq_endpoint_create(&cfg, false, NULL, (struct sockaddr *)&local, sizeof(local));
	cr_assert_not_null(ep);
	be->until = stoq_now() + 100ull * 1000000ull;
	cr_assert_eq(stoq_endpoint_run(ep, io, spin_done, be, NULL), 0);
	stoq_endpoint_destroy(ep);
	stoq_io_destroy(io);
	close(p[0]);
	close(p[1]);
}

Test(stoq_turn, busy_poll_looks_without_sleeping_for_its_time_after_work)
{
	struct spin_be be;

	/* The default: after the turn with the datagram the loop sleeps. */
	spin_run(&be, 0);
	cr_assert_leq(be.turns, 3, "%u turns in 100 ms of nothing to do, sleeping", be.turns);
	cr_assert_geq(be.turns, 2);

	spin_run(&be, 30000);
	/* Back to back for 30 ms (about 100,000 turns on an idle core here),
	 * then one wait of the 200 ms cap, after which done() ends it. */
	cr_assert_geq(be.turns, 20, "%u turns with 30 ms of looking", be.turns);
	cr_assert_geq(be.prev - be.first, 30ull * 1000000ull - 1000000ull,
		      "looked for %" PRIu64 " ns of the 30 ms", be.prev - be.first);
	cr_assert_geq(be.last - be.prev, 100ull * 1000000ull,
		      "no wait after the 30 ms of looking (%" PRIu64 " ns)", be.last - be.prev);
}

/* ------------------------------------------------- DPDK back end (mbufs) */
/*
 * Two ring-PMD ports wired back to back (A's TX ring is B's RX ring and the
 * reverse), in this process: the real back end (ARP, IPv4/UDP building and
 * checks, train cutting) under a real client and server, on real mbufs.
 * Criterion runs each test in its own process, so each starts its own EAL.
 */
#include <rte_arp.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_udp.h>

#include "stoq_dpdk_priv.h"

/* RFC 1071 word by word into 64 bits: rte_raw_cksum()'s 32-bit sum carries
 * out past 128 KiB of 0xffff words, so it is no reference there. */
static uint16_t ref_sum(const uint8_t *p, size_t len)
{
	uint64_t s = 0;
	uint16_t w;

	for (; len >= 2; len -= 2, p += 2) {
		memcpy(&w, p, 2);
		s += w;
	}
	if (len) {
		w = 0;
		memcpy(&w, p, 1);
		s += w;
	}
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

static void sum_matches(uint16_t (*sum)(const void *, size_t), const char *name)
{
	static uint8_t buf[(4 << 20) + 16];
	unsigned int seed = 7;

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)rand_r(&seed);
	for (size_t off = 0; off < 16; off++)
		for (size_t len = 0; len <= 9100; len += len < 300 ? 1 : 97)
			cr_assert_eq(sum(buf + off, len), rte_raw_cksum(buf + off, len),
				     "%s: random bytes, offset %zu, length %zu", name, off, len);
	/* Past the AVX2 loop's 512 KiB blocks, where its lanes are widened. */
	cr_assert_eq(sum(buf + 3, sizeof(buf) - 16), ref_sum(buf + 3, sizeof(buf) - 16),
		     "%s: random bytes, 4 MiB", name);
	memset(buf, 0xff, sizeof(buf));
	for (size_t len = 0; len <= 65535; len += len < 70 ? 1 : 4093)
		cr_assert_eq(sum(buf + 1, len), rte_raw_cksum(buf + 1, len),
			     "%s: all ones, length %zu", name, len);
	cr_assert_eq(sum(buf, 65535), rte_raw_cksum(buf, 65535), "%s", name);
	cr_assert_eq(sum(buf, sizeof(buf)), ref_sum(buf, sizeof(buf)), "%s: all ones, 4 MiB",
		     name);
	memset(buf, 0, sizeof(buf));
	cr_assert_eq(sum(buf, sizeof(buf)), 0, "%s: zeros, 4 MiB", name);
	cr_assert_eq(sum(buf, 1500), 0, "%s", name);
	buf[1499] = 1; /* an odd byte is the low-addressed byte of a word */
	cr_assert_eq(sum(buf, 1499), 0, "%s", name);
	cr_assert_eq(sum(buf, 1500), rte_raw_cksum(buf, 1500), "%s", name);
	cr_assert_neq(sum(buf, 1500), 0, "%s", name);
}

/*
 * A copying sum seen as a sum, for sum_matches(): it copies into a buffer
 * at an odd offset, and the copy is checked byte for byte, with guard
 * bytes on both sides that must stay as they were.
 */
static uint16_t (*copy_sum_under_test)(void *dst, const void *src, size_t len);
static const char *copy_sum_name;

static uint16_t copy_sum_checked(const void *src, size_t len)
{
	static uint8_t dst[(4 << 20) + 64];
	const size_t at = 5, guard = 32;
	uint16_t r;

	memset(dst, 0x5a, at);
	memset(dst + at + len, 0xa5, guard);
	r = copy_sum_under_test(dst + at, src, len);
	cr_assert_eq(memcmp(dst + at, src, len), 0, "%s: copy of %zu bytes differs",
		     copy_sum_name, len);
	for (size_t i = 0; i < at; i++)
		cr_assert_eq(dst[i], 0x5a, "%s: wrote before the copy (length %zu)", copy_sum_name,
			     len);
	for (size_t i = 0; i < guard; i++)
		cr_assert_eq(dst[at + len + i], 0xa5, "%s: wrote past the copy (length %zu)",
			     copy_sum_name, len);
	return r;
}

static void copy_sum_matches(uint16_t (*copy_sum)(void *, const void *, size_t),
			     const char *name)
{
	copy_sum_under_test = copy_sum;
	copy_sum_name = name;
	sum_matches(copy_sum_checked, name);
}

/*
 * The back end's checksum sum against DPDK's own on every length up to a
 * jumbo frame's and at every alignment, random bytes and the extremes (all
 * ones is where a narrow sum would carry out; all zeros the one sum that
 * folds to 0): the function the back end calls and each implementation it
 * may choose.
 */
Test(stoq_dpdk, sum_matches_rte_raw_cksum)
{
	sum_matches(stoq_dpdk_sum, "stoq_dpdk_sum");
	sum_matches(stoq_dpdk_sum_sse2, "sse2");
#if STOQ_DPDK_SUM_AVX2
	if (__builtin_cpu_supports("avx2"))
		sum_matches(stoq_dpdk_sum_avx2, "avx2");
	else
		cr_log_warn("no AVX2 on this CPU: stoq_dpdk_sum_avx2 not tested");
#endif
}

/* The same for the sums that copy as they go (a payload into its mbuf),
 * and the copies. */
Test(stoq_dpdk, copy_sum_matches_rte_raw_cksum)
{
	copy_sum_matches(stoq_dpdk_copy_sum, "stoq_dpdk_copy_sum");
#if STOQ_DPDK_SUM_AVX2
	if (__builtin_cpu_supports("avx2"))
		copy_sum_matches(stoq_dpdk_copy_sum_avx2, "copy avx2");
	else
		cr_log_warn("no AVX2 on this CPU: stoq_dpdk_copy_sum_avx2 not tested");
#endif
}

struct wire {
	struct rte_ring *ab, *ba; /* A transmits into ab, B into ba */
	uint16_t a, b;		  /* port ids */
};

static void wire_up(struct wire *w)
{
	char err[256];
	int a, b;

	/* Hugepages, as a deployment has them: with --no-huge a freed pool's
	 * memory stays mapped, and closing ports in the wrong order wrote into
	 * it unnoticed (stoq_io_dpdk_quiesce()). */
	cr_assert_eq(stoq_dpdk_eal_init("-l 0 --in-memory --no-pci "
					"--no-telemetry --log-level=*:error",
					err, sizeof(err)),
		     0, "%s", err);
	w->ab = rte_ring_create("w_ab", 4096, SOCKET_ID_ANY, 0);
	w->ba = rte_ring_create("w_ba", 4096, SOCKET_ID_ANY, 0);
	cr_assert(w->ab && w->ba);
	a = rte_eth_from_rings("wa", &w->ba, 1, &w->ab, 1, SOCKET_ID_ANY);
	b = rte_eth_from_rings("wb", &w->ab, 1, &w->ba, 1, SOCKET_ID_ANY);
	cr_assert(a >= 0 && b >= 0);
	w->a = (uint16_t)a;
	w->b = (uint16_t)b;
}

/* A back end on @port owning @ip (IPv4 or IPv6) and @udp_port, port MTU @mtu (0: default). */
static struct stoq_io *wire_io_mtu(uint16_t port, const char *ip, int udp_port, uint16_t mtu)
{
	struct stoq_io_dpdk_params p = {.port_id = port, .mtu = mtu};
	struct sockaddr_storage ss = {0};
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	socklen_t len = sizeof(struct sockaddr_in);
	struct stoq_io *io;

	if (strchr(ip, ':')) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)udp_port);
		cr_assert_eq(inet_pton(AF_INET6, ip, &s6->sin6_addr), 1);
		len = sizeof(*s6);
	} else {
		addr4((struct sockaddr_in *)&ss, ip, udp_port);
	}
	io = stoq_io_open(&stoq_io_dpdk_ops, (struct sockaddr *)&ss, len, &p);
	cr_assert_not_null(io, "dpdk io on port %u: %s", port, strerror(errno));
	return io;
}

static struct stoq_io *wire_io(uint16_t port, const char *ip, int udp_port)
{
	return wire_io_mtu(port, ip, udp_port, 0);
}

/* One turn of an endpoint's loop over its io, as stoq_endpoint_run does. */
static void turn(struct stoq_endpoint *ep, struct stoq_io *io, struct stoq_dgram *rx)
{
	struct stoq_dgram tx[16];
	uint64_t now = stoq_now();
	size_t n;

	n = stoq_io_ops_of(io)->recv_burst(io, rx, 32);
	for (size_t i = 0; i < n; i++)
		stoq_endpoint_recv(ep, &rx[i], now);
	if (stoq_endpoint_next_timer(ep) <= now)
		stoq_endpoint_on_timer(ep, now);
	while ((n = stoq_endpoint_send(ep, tx, 16, now)) > 0)
		for (size_t sent = 0; sent < n;)
			sent += stoq_io_send(io, tx + sent, n - sent);
}

TestSuite(stoq_dpdk, .init = make_cert, .fini = cleanup_dir, .timeout = 120);

/*
 * A server on port A (@sip) and a client on port B (@cip) move a 2 MB body
 * and a range of it; neither knows the other's MAC at the start. @mtu: both
 * ports' MTU (0: default), with packets of @payload bytes (0: default).
 * The client's packets are copied into mbufs (stoq_endpoint_send and
 * stoq_io_send); with @srv_in_place the server's are written in theirs
 * (stoq_endpoint_turn), otherwise copied too.
 */
static void ring_transfer(const char *sip, const char *cip, uint16_t mtu, uint32_t payload,
			  bool srv_in_place)
{
	struct wire w;
	struct stoq_config scfg, ccfg;
	struct stoq_io *sio, *cio;
	struct stoq_endpoint *srv, *cli;
	struct sockaddr_storage sl, cl, dst;
	socklen_t sll, cll;
	struct stoq_dgram rx[32];
	uint8_t *bufs = malloc(32u * 65536);
	struct body b[2] = { 0 };
	struct want want = { .b = b, .n = 2 };
	size_t len = 2 * 1000 * 1000 + 3;
	uint8_t *data = make_file("ring-blob", len);
	struct stoq_io_dpdk_stats ss, cs;
	struct stoq_conn *c;
	uint64_t end;

	cr_assert_not_null(bufs);
	for (int i = 0; i < 32; i++)
		rx[i].data = bufs + (size_t)i * 65536;
	wire_up(&w);
	sio = wire_io_mtu(w.a, sip, 4433, mtu);
	cio = wire_io_mtu(w.b, cip, 0, mtu); /* an ephemeral port, as bind(2) gives */
	sll = stoq_io_local(sio, &sl);
	cll = stoq_io_local(cio, &cl);
	/* sin_port and sin6_port lie at the same offset. */
	cr_assert_neq(((struct sockaddr_in *)&cl)->sin_port, 0);
	configs(&scfg, &ccfg);
	if (payload) {
		scfg.max_udp_payload = ccfg.max_udp_payload = payload;
		cr_assert_geq(stoq_io_max_payload(sio), payload);
	}
	srv = stoq_endpoint_create(&scfg, true, g_dir, (struct sockaddr *)&sl, sll);
	cli = stoq_endpoint_create(&ccfg, false, NULL, (struct sockaddr *)&cl, cll);
	cr_assert(srv && cli);
	memcpy(&dst, &sl, sll);
	c = stoq_conn_connect(cli, (struct sockaddr *)&dst, sll, "localhost", stoq_now());
	cr_assert_not_null(c);
	want.c = c;
	cr_assert_eq(stoq_conn_get(c, "/ring-blob", 0, -1, &body_ops, &b[0]), 0);
	cr_assert_eq(stoq_conn_get(c, "/ring-blob", 5, 104, &body_ops, &b[1]), 0);
	end = stoq_now() + 60ull * 1000000000ull;
	while (!all_done(&want) && stoq_now() < end) {
		turn(cli, cio, rx);
		if (srv_in_place) /* its packets written into their mbufs */
			stoq_endpoint_turn(srv, sio, rx);
		else
			turn(srv, sio, rx);
	}
	cr_assert_str_empty(stoq_conn_last_error(c));
	expect_body(&b[0], 200, data, len);
	expect_body(&b[1], 206, data + 5, 100);

	stoq_io_dpdk_get_stats(sio, &ss);
	stoq_io_dpdk_get_stats(cio, &cs);
	/* The client had no MAC for the server: its Initial waited for ARP or a
	 * Neighbor Solicitation; the other protocol was never spoken. */
	cr_assert_geq(cs.tx_unresolved, 1);
	if (strchr(sip, ':')) {
		cr_assert_eq(cs.nd_solicits_sent, 1);
		cr_assert_eq(cs.nd_adverts, 1);
		cr_assert_eq(ss.nd_solicits_answered, 1);
		cr_assert_eq(ss.nd_solicits_sent, 0); /* learnt from the Solicitation */
		cr_assert_eq(cs.arp_requests_sent + ss.arp_requests_answered, 0);
		cr_assert_eq(((struct sockaddr *)&cl)->sa_family, AF_INET6);
	} else {
		cr_assert_eq(cs.arp_requests_sent, 1);
		cr_assert_eq(cs.arp_replies, 1);
		cr_assert_eq(ss.arp_requests_answered, 1);
		cr_assert_eq(ss.arp_requests_sent, 0); /* learnt from the request */
		cr_assert_eq(cs.nd_solicits_sent + ss.nd_solicits_answered, 0);
	}
	/* Trains were cut into packets: more packets than the core's datagrams. */
	cr_assert_gt(ss.tx_packets, len / (payload ? payload : 1500));
	if (payload) /* the body went in frames of about that size */
		cr_assert_gt(ss.tx_bytes / ss.tx_packets, payload / 2, "%" PRIu64 " bytes a frame",
			     ss.tx_bytes / ss.tx_packets);
	/* Every packet sent arrived or still waits in the other's RX ring. */
	cr_assert_eq(ss.rx_datagrams + rte_ring_count(w.ba), cs.tx_packets);
	cr_assert_eq(cs.rx_datagrams + rte_ring_count(w.ab), ss.tx_packets);
	cr_assert_eq(ss.tx_dropped + cs.tx_dropped + ss.rx_bad_ip + cs.rx_bad_ip + ss.rx_bad_udp +
			 cs.rx_bad_udp + ss.rx_bad_nd + cs.rx_bad_nd,
		     0);
	stoq_endpoint_destroy(cli);
	stoq_endpoint_destroy(srv);
	/* Each holds mbufs of the other's pool: both give them back first. */
	stoq_io_dpdk_quiesce(cio);
	stoq_io_dpdk_quiesce(sio);
	stoq_io_destroy(cio);
	stoq_io_destroy(sio);
	free(b[0].buf);
	free(b[1].buf);
	free(data);
	free(bufs);
	stoq_dpdk_eal_fini();
}

Test(stoq_dpdk, client_and_server_over_ring_ports)
{
	ring_transfer("10.9.0.1", "10.9.0.2", 0, 0, false);
}

/* The server's packets written in place, as stoq_endpoint_run sends them. */
Test(stoq_dpdk, client_and_server_over_ring_ports_in_place)
{
	ring_transfer("10.9.0.1", "10.9.0.2", 0, 0, true);
}

/* Over IPv6: neighbours found with NDP, UDP checksums mandatory. */
Test(stoq_dpdk, client_and_server_over_ring_ports_ipv6)
{
	ring_transfer("fd09::1", "fd09::2", 0, 0, true);
}

/* Jumbo frames: MTU 9000 on both ports, 8952-byte packets (IPv6: 40 + 8 of headers). */
Test(stoq_dpdk, client_and_server_over_ring_ports_jumbo)
{
	ring_transfer("fd09::1", "fd09::2", 9000, 8952, true);
}

/*
 * The back end's receive counters and the answers it counted are exactly
 * @want's: a reason the test did not name must have stayed 0.
 */
static void expect_rx_counts(struct stoq_io *io, const struct stoq_io_dpdk_stats *want)
{
	struct stoq_io_dpdk_stats st;

	stoq_io_dpdk_get_stats(io, &st);
#define EQ(f) cr_assert_eq(st.f, want->f, #f " is %" PRIu64 ", want %" PRIu64, st.f, want->f)
	EQ(rx_frames);
	EQ(rx_datagrams);
	EQ(rx_not_ours);
	EQ(rx_bad_ip);
	EQ(rx_bad_udp);
	EQ(rx_fragment);
	EQ(rx_not_ip);
	EQ(rx_bad_nd);
	EQ(arp_requests_answered);
	EQ(arp_replies);
	EQ(nd_solicits_answered);
	EQ(nd_adverts);
#undef EQ
}

/* A frame for port A (MAC @dmac) from 10.9.0.7:5555 to 10.9.0.1:@dport. */
static struct rte_mbuf *frame(struct rte_mempool *mp, const struct rte_ether_addr *dmac,
			      uint16_t dport, const char *payload)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(mp);
	size_t plen = strlen(payload);
	struct rte_ether_hdr *eth;
	struct rte_ipv4_hdr *ip;
	struct rte_udp_hdr *udp;

	cr_assert_not_null(m);
	eth = (struct rte_ether_hdr *)rte_pktmbuf_append(m, (uint16_t)(42 + plen));
	ip = (struct rte_ipv4_hdr *)(eth + 1);
	udp = (struct rte_udp_hdr *)(ip + 1);
	eth->dst_addr = *dmac;
	memset(&eth->src_addr, 0x02, sizeof(eth->src_addr));
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	memset(ip, 0, sizeof(*ip));
	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->total_length = rte_cpu_to_be_16((uint16_t)(28 + plen));
	ip->time_to_live = 64;
	ip->next_proto_id = IPPROTO_UDP;
	inet_pton(AF_INET, "10.9.0.7", &ip->src_addr);
	inet_pton(AF_INET, "10.9.0.1", &ip->dst_addr);
	udp->src_port = rte_cpu_to_be_16(5555);
	udp->dst_port = rte_cpu_to_be_16(dport);
	udp->dgram_len = rte_cpu_to_be_16((uint16_t)(8 + plen));
	udp->dgram_cksum = 0;
	memcpy(udp + 1, payload, plen);
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	return m;
}

/* An ARP request for 10.9.0.1 (port A) from 10.9.0.7, MAC 02:02:02:02:02:02. */
static struct rte_mbuf *arp_request(struct rte_mempool *mp)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(mp);
	struct rte_ether_hdr *eth;
	struct rte_arp_hdr *arp;

	cr_assert_not_null(m);
	eth = (struct rte_ether_hdr *)rte_pktmbuf_append(m, sizeof(*eth) + sizeof(*arp));
	cr_assert_not_null(eth);
	arp = (struct rte_arp_hdr *)(eth + 1);
	memset(&eth->dst_addr, 0xff, 6);
	memset(&eth->src_addr, 0x02, 6);
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP);
	arp->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
	arp->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	arp->arp_hlen = 6;
	arp->arp_plen = 4;
	arp->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REQUEST);
	memset(&arp->arp_data.arp_sha, 0x02, 6);
	inet_pton(AF_INET, "10.9.0.7", &arp->arp_data.arp_sip);
	inet_pton(AF_INET, "10.9.0.1", &arp->arp_data.arp_tip);
	return m;
}

static struct rte_ipv4_hdr *ip_of(struct rte_mbuf *m)
{
	return rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, sizeof(struct rte_ether_hdr));
}

/* Re-checksum after a test bent a header field. */
static void reseal(struct rte_mbuf *m)
{
	ip_of(m)->hdr_checksum = 0;
	ip_of(m)->hdr_checksum = rte_ipv4_cksum(ip_of(m));
}

/*
 * Port A of a wire with a back end on it (10.9.0.1:4433), a pool for the
 * test's frames and 32 receive buffers, their bytes 0xa5.
 */
struct rx_fixture {
	struct wire w;
	struct stoq_io *io;
	struct rte_ether_addr mac;
	struct rte_mempool *mp;
	uint8_t *bufs;
	struct stoq_dgram rx[32];
};

static void rx_fixture_up(struct rx_fixture *f, const char *pool)
{
	f->bufs = malloc(32u * 65536);
	cr_assert_not_null(f->bufs);
	memset(f->bufs, 0xa5, 32u * 65536);
	for (int i = 0; i < 32; i++)
		f->rx[i].data = f->bufs + (size_t)i * 65536;
	wire_up(&f->w);
	f->io = wire_io(f->w.a, "10.9.0.1", 4433);
	cr_assert_eq(rte_eth_macaddr_get(f->w.a, &f->mac), 0);
	f->mp = rte_pktmbuf_pool_create(pool, 255, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
	cr_assert_not_null(f->mp);
}

static void rx_fixture_down(struct rx_fixture *f)
{
	stoq_io_destroy(f->io);
	rte_mempool_free(f->mp);
	free(f->bufs);
	stoq_dpdk_eal_fini();
}

Test(stoq_dpdk, hostile_frames_are_counted_and_dropped)
{
	struct rx_fixture f;
	struct rte_ether_addr other = { { 0x02, 9, 9, 9, 9, 9 } };
	struct rte_mbuf *m[12], *out;
	struct rte_arp_hdr *arp;
	size_t n;
	unsigned k = 0;

	rx_fixture_up(&f, "hostile");

	m[k++] = frame(f.mp, &f.mac, 4433, "good"); /* delivered */
	m[k] = frame(f.mp, &f.mac, 4433, "badsum");
	ip_of(m[k++])->hdr_checksum ^= 0x0101; /* bad_ip */
	m[k++] = frame(f.mp, &f.mac, 9999, "another port"); /* not_ours */
	m[k] = frame(f.mp, &f.mac, 4433, "fragment");
	ip_of(m[k])->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_MF_FLAG);
	reseal(m[k++]); /* fragment */
	m[k] = frame(f.mp, &f.mac, 4433, "udp length lies");
	((struct rte_udp_hdr *)(ip_of(m[k]) + 1))->dgram_len = rte_cpu_to_be_16(900);
	k++; /* bad_udp */
	m[k] = frame(f.mp, &f.mac, 4433, "ip length lies");
	ip_of(m[k])->total_length = rte_cpu_to_be_16(1400);
	reseal(m[k++]); /* bad_ip */
	m[k] = frame(f.mp, &f.mac, 4433, "lldp");
	rte_pktmbuf_mtod(m[k], struct rte_ether_hdr *)->ether_type =
	    rte_cpu_to_be_16(0x88cc); /* not_ip */
	k++;
	m[k++] = frame(f.mp, &other, 4433, "someone else's MAC"); /* not_ours */
	m[k] = frame(f.mp, &f.mac, 4433, "x");
	rte_pktmbuf_trim(m[k++], 33); /* 10 bytes: bad_ip */
	/* An ARP request for 10.9.0.1 from 10.9.0.7: answered. */
	m[k++] = arp_request(f.mp);
	/* The same for an address that is not ours: ignored. */
	m[k] = rte_pktmbuf_copy(m[k - 1], f.mp, 0, UINT32_MAX);
	arp = (struct rte_arp_hdr *)(rte_pktmbuf_mtod(m[k], struct rte_ether_hdr *) + 1);
	inet_pton(AF_INET, "10.9.0.99", &arp->arp_data.arp_tip);
	k++;
	cr_assert_eq(rte_ring_enqueue_burst(f.w.ba, (void **)m, k, NULL), k);

	n = stoq_io_ops_of(f.io)->recv_burst(f.io, f.rx, 32);
	cr_assert_eq(n, 1);
	cr_assert_eq(f.rx[0].len, 4);
	cr_assert_eq(memcmp(f.rx[0].data, "good", 4), 0);
	cr_assert_eq(((struct sockaddr_in *)&f.rx[0].remote)->sin_port, htons(5555));
	expect_rx_counts(f.io, &(struct stoq_io_dpdk_stats){.rx_frames = k,
							    .rx_datagrams = 1,
							    .rx_bad_ip = 3,
							    .rx_bad_udp = 1,
							    .rx_fragment = 1,
							    .rx_not_ip = 1,
							    .rx_not_ours = 3,
							    .arp_requests_answered = 1});
	/* The answer went out on A's TX ring: a reply from our MAC to the asker. */
	cr_assert_eq(rte_ring_dequeue(f.w.ab, (void **)&out), 0);
	arp = (struct rte_arp_hdr *)(rte_pktmbuf_mtod(out, struct rte_ether_hdr *) + 1);
	cr_assert_eq(arp->arp_opcode, rte_cpu_to_be_16(RTE_ARP_OP_REPLY));
	cr_assert(rte_is_same_ether_addr(&arp->arp_data.arp_sha, &f.mac));
	cr_assert_eq(rte_ring_count(f.w.ab), 0);
	rte_pktmbuf_free(out);
	rx_fixture_down(&f);
}

/*
 * What the back end sends over IPv4 (no checksum offload on a ring port)
 * carries correct IP and UDP checksums, computed here with DPDK's own
 * helpers, at every payload length around the vector loop's steps and up
 * to the port's largest; and the payload arrives as it was given.
 */
/* The back end learns 10.9.0.7's MAC from its ARP request (the reply is
 * dropped), and @tx is addressed to 10.9.0.7:5555. */
static void rx_fixture_peer(struct rx_fixture *f, struct stoq_dgram *tx)
{
	struct sockaddr_in *to = (struct sockaddr_in *)&tx->remote;
	struct rte_mbuf *m;

	cr_assert_eq(rte_ring_enqueue(f->w.ba, arp_request(f->mp)), 0);
	cr_assert_eq(stoq_io_ops_of(f->io)->recv_burst(f->io, f->rx, 32), 0);
	cr_assert_eq(rte_ring_dequeue(f->w.ab, (void **)&m), 0);
	rte_pktmbuf_free(m);
	to->sin_family = AF_INET;
	to->sin_port = htons(5555);
	inet_pton(AF_INET, "10.9.0.7", &to->sin_addr);
	tx->remote_len = sizeof(*to);
}

/* The frame of @len bytes of @payload sent to 10.9.0.7: checksums as DPDK's, bytes as sent. */
static void expect_ipv4_frame(struct rx_fixture *f, const uint8_t *payload, size_t len)
{
	struct rte_mbuf *m;
	struct rte_ipv4_hdr *ip;
	struct rte_udp_hdr *udp;
	uint16_t ck;

	cr_assert_eq(rte_ring_dequeue(f->w.ab, (void **)&m), 0, "length %zu", len);
	ip = ip_of(m);
	udp = (struct rte_udp_hdr *)(ip + 1);
	cr_assert_eq(m->pkt_len, sizeof(struct rte_ether_hdr) + sizeof(*ip) + 8 + len);
	cr_assert_eq(ntohs(ip->total_length), sizeof(*ip) + 8 + len);
	cr_assert_eq(ntohs(udp->dgram_len), 8 + len);
	cr_assert_eq(rte_ipv4_cksum(ip), 0, "IP header checksum, length %zu", len);
	ck = udp->dgram_cksum;
	udp->dgram_cksum = 0;
	cr_assert_eq(ck, rte_ipv4_udptcp_cksum(ip, udp),
		     "UDP checksum 0x%04x, DPDK's 0x%04x, payload of %zu bytes", ck,
		     rte_ipv4_udptcp_cksum(ip, udp), len);
	cr_assert_eq(memcmp(udp + 1, payload, len), 0, "length %zu: payload differs", len);
	rte_pktmbuf_free(m);
}

/* Frames sent over IPv4, copied into their mbufs or written in place. */
Test(stoq_dpdk, sent_ipv4_checksums_verify)
{
	const struct stoq_io_ops *ops = &stoq_io_dpdk_ops;
	struct rx_fixture f;
	struct stoq_dgram tx = { 0 };
	struct stoq_txbuf b[3];
	uint8_t payload[1472];
	unsigned int seed = 11;

	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)rand_r(&seed);
	rx_fixture_up(&f, "txsum");
	rx_fixture_peer(&f, &tx);
	for (size_t len = 0; len <= sizeof(payload); len += len < 200 ? 1 : 61) {
		tx.data = payload;
		tx.len = len;
		tx.bufs = NULL;
		tx.nbufs = 0;
		cr_assert_eq(stoq_io_send(f.io, &tx, 1), 1, "length %zu not sent", len);
		expect_ipv4_frame(&f, payload, len);

		/* In place: a train of three, this length in the middle. */
		cr_assert_eq(ops->tx_get(f.io, b, 3), 3);
		for (int i = 0; i < 3; i++) {
			cr_assert_eq(b[i].room, 1472);
			b[i].len = (uint16_t)(i == 1 ? len : 1472u - (unsigned int)i);
			memcpy(b[i].data, payload, b[i].len);
		}
		tx.data = NULL;
		tx.bufs = b;
		tx.nbufs = 3;
		tx.len = b[0].len + b[1].len + b[2].len;
		cr_assert_eq(stoq_io_send(f.io, &tx, 1), 1, "length %zu not sent in place", len);
		for (int i = 0; i < 3; i++)
			expect_ipv4_frame(&f, payload, b[i].len);
	}
	rx_fixture_down(&f);
}

/*
 * In-place buffers all come back: those given back unused (kept as spares
 * up to a train's worth, handed out again first), those of a datagram the
 * back end drops (another family), and the rest when the port is
 * quiesced. An empty pool gives fewer, counted, and nothing is lost.
 */
Test(stoq_dpdk, in_place_buffers_come_back)
{
	const struct stoq_io_ops *ops = &stoq_io_dpdk_ops;
	struct rx_fixture f;
	struct stoq_dpdk_be *be;
	struct stoq_io_dpdk_stats st;
	struct stoq_txbuf *b = calloc(9000, sizeof(*b));
	struct stoq_dgram tx = { 0 };
	unsigned int full;
	size_t n;

	cr_assert_not_null(b);
	rx_fixture_up(&f, "txbufs");
	be = f.io->be;
	full = rte_mempool_avail_count(be->mp);
	cr_assert_eq(ops->tx_get(f.io, b, 100), 100);
	for (int i = 0; i < 100; i++) {
		struct rte_mbuf *m = b[i].handle;

		/* Past the frame's headers, the payload fitting the mbuf. */
		cr_assert_eq(b[i].data, rte_pktmbuf_mtod(m, uint8_t *) + be->hdr_len);
		cr_assert_leq(rte_pktmbuf_tailroom(m), m->buf_len);
		cr_assert_geq(rte_pktmbuf_tailroom(m), be->hdr_len + b[i].room);
	}
	ops->tx_put(f.io, b + 10, 90);
	cr_assert_eq(be->n_spare, STOQ_DPDK_SPARE);
	cr_assert_eq(rte_mempool_avail_count(be->mp), full - 10 - STOQ_DPDK_SPARE);
	/* Spares go out first: the last one given back is the first out. */
	cr_assert_eq(ops->tx_get(f.io, b + 10, 1), 1);
	cr_assert_eq(be->n_spare, STOQ_DPDK_SPARE - 1);
	/* A datagram of another family: dropped, its buffers back in the pool. */
	tx.remote.ss_family = AF_INET6;
	tx.remote_len = sizeof(struct sockaddr_in6);
	tx.bufs = b;
	tx.nbufs = 11;
	tx.len = 11 * 100;
	for (int i = 0; i < 11; i++)
		b[i].len = 100;
	cr_assert_eq(stoq_io_send(f.io, &tx, 1), 1);
	stoq_io_dpdk_get_stats(f.io, &st);
	cr_assert_eq(st.tx_dropped, 11);
	cr_assert_eq(st.tx_packets, 0);
	cr_assert_eq(rte_mempool_avail_count(be->mp), full - (STOQ_DPDK_SPARE - 1));
	/* All of it: fewer than asked, counted. */
	n = ops->tx_get(f.io, b, 9000);
	cr_assert_eq(n, full);
	stoq_io_dpdk_get_stats(f.io, &st);
	cr_assert_eq(st.tx_pool_short, 9000 - full);
	cr_assert_eq(ops->tx_get(f.io, b + n, 1), 0);
	ops->tx_put(f.io, b, n);
	stoq_io_dpdk_quiesce(f.io);
	cr_assert_eq(be->n_spare, 0);
	cr_assert_eq(rte_mempool_avail_count(be->mp), full);
	rx_fixture_down(&f);
	free(b);
}

/*
 * A port that takes nothing holds a datagram back (the caller offers it
 * again) until it has refused it for TX_STALL_NS, a time rather than a
 * count of calls; then it is dropped, counted, its mbufs freed. A train
 * the port took part of is pushed until the port stalls as long, and the
 * rest dropped. The clock bounds are the patience itself, not a speed.
 */
Test(stoq_dpdk, a_stalled_port_holds_then_drops_after_the_patience)
{
	const struct stoq_io_ops *ops = &stoq_io_dpdk_ops;
	static int filler; /* what fills the port's ring: never an mbuf */
	struct rx_fixture f;
	struct stoq_dgram tx = { 0 };
	struct stoq_io_dpdk_stats st;
	struct stoq_txbuf b[3];
	uint8_t payload[100];
	struct stoq_dpdk_be *be;
	unsigned int room, in_use;
	uint64_t t0, t1;
	size_t n;
	void *p;

	memset(payload, 0x5c, sizeof(payload));
	rx_fixture_up(&f, "stall");
	be = f.io->be;
	rx_fixture_peer(&f, &tx);
	tx.data = payload;
	tx.len = sizeof(payload);

	room = rte_ring_free_count(f.w.ab);
	for (unsigned int i = 0; i < room; i++)
		cr_assert_eq(rte_ring_enqueue(f.w.ab, &filler), 0);
	in_use = rte_mempool_in_use_count(be->mp);
	t0 = stoq_now();
	cr_assert_eq(stoq_io_send(f.io, &tx, 1), 0, "a refused datagram was not held back");
	stoq_io_dpdk_get_stats(f.io, &st);
	cr_assert_eq(st.tx_dropped, 0);
	cr_assert_eq(rte_mempool_in_use_count(be->mp), in_use, "the held datagram's mbuf leaked");
	do {
		n = stoq_io_send(f.io, &tx, 1);
		t1 = stoq_now();
	} while (n == 0 && t1 - t0 < 10 * TX_STALL_NS);
	cr_assert_eq(n, 1, "still held after %" PRIu64 " ms of refusals", (t1 - t0) / 1000000);
	cr_assert_geq(t1 - t0, TX_STALL_NS, "dropped after %" PRIu64 " ns", t1 - t0);
	stoq_io_dpdk_get_stats(f.io, &st);
	cr_assert_eq(st.tx_dropped, 1);
	cr_assert_eq(st.tx_packets, 0);
	cr_assert_eq(rte_mempool_in_use_count(be->mp), in_use);

	/* Room for one: a train of three leaves one and drops two. */
	cr_assert_eq(rte_ring_dequeue(f.w.ab, &p), 0);
	cr_assert_eq(ops->tx_get(f.io, b, 3), 3);
	for (int i = 0; i < 3; i++) {
		b[i].len = sizeof(payload);
		memcpy(b[i].data, payload, sizeof(payload));
	}
	tx.data = NULL;
	tx.bufs = b;
	tx.nbufs = 3;
	tx.len = 3 * sizeof(payload);
	t0 = stoq_now();
	cr_assert_eq(stoq_io_send(f.io, &tx, 1), 1);
	cr_assert_geq(stoq_now() - t0, TX_STALL_NS, "the train's rest dropped before the patience");
	stoq_io_dpdk_get_stats(f.io, &st);
	cr_assert_eq(st.tx_dropped, 3);
	cr_assert_eq(st.tx_packets, 1);

	/* Once the port moves, the next datagram goes at once. */
	while (rte_ring_dequeue(f.w.ab, &p) == 0)
		if (p != &filler)
			rte_pktmbuf_free(p); /* the train's first packet */
	tx.data = payload;
	tx.bufs = NULL;
	tx.nbufs = 0;
	tx.len = sizeof(payload);
	cr_assert_eq(stoq_io_send(f.io, &tx, 1), 1);
	expect_ipv4_frame(&f, payload, sizeof(payload));
	stoq_io_dpdk_get_stats(f.io, &st);
	cr_assert_eq(st.tx_dropped, 3);
	cr_assert_eq(st.tx_packets, 2);
	rx_fixture_down(&f);
}

/*
 * Received datagrams are handed out where they lie, in their mbufs, which
 * the back end holds until its next receive burst; one whose bytes span two
 * segments is copied into the back end's own memory. The caller's buffers
 * are never written.
 */
Test(stoq_dpdk, datagrams_in_place_or_copied_when_segmented)
{
	static const char split[] = "a datagram whose last bytes are in a second segment";
	struct rx_fixture f;
	struct rte_mbuf *m[2], *tail;
	char *t;
	size_t n;

	rx_fixture_up(&f, "inplace");
	m[0] = frame(f.mp, &f.mac, 4433, "in place");
	m[1] = frame(f.mp, &f.mac, 4433, split);
	/* Move the last 10 bytes of the second into a segment of their own. */
	tail = rte_pktmbuf_alloc(f.mp);
	cr_assert_not_null(tail);
	t = rte_pktmbuf_append(tail, 10);
	cr_assert_not_null(t);
	memcpy(t, split + sizeof(split) - 1 - 10, 10);
	cr_assert_eq(rte_pktmbuf_trim(m[1], 10), 0);
	cr_assert_eq(rte_pktmbuf_chain(m[1], tail), 0);
	cr_assert_eq(m[1]->nb_segs, 2);
	cr_assert_eq(rte_ring_enqueue_burst(f.w.ba, (void **)m, 2, NULL), 2);

	n = stoq_io_ops_of(f.io)->recv_burst(f.io, f.rx, 32);
	cr_assert_eq(n, 2);
	cr_assert_eq(f.rx[0].len, 8);
	cr_assert_eq(f.rx[0].data, rte_pktmbuf_mtod_offset(m[0], uint8_t *, 42), "not in place");
	cr_assert_eq(memcmp(f.rx[0].data, "in place", 8), 0);
	cr_assert_eq(f.rx[1].len, sizeof(split) - 1);
	cr_assert_eq(memcmp(f.rx[1].data, split, sizeof(split) - 1), 0);
	cr_assert(f.rx[1].data < f.bufs || f.rx[1].data >= f.bufs + 32u * 65536,
		  "copied into the caller's buffer");
	for (size_t i = 0; i < 32u * 65536; i++)
		cr_assert_eq(f.bufs[i], 0xa5, "the caller's buffers were written at %zu", i);
	/* The in-place one's mbuf is held; the segmented one went back. */
	cr_assert_eq(rte_mempool_in_use_count(f.mp), 1);
	cr_assert_eq(stoq_io_ops_of(f.io)->recv_burst(f.io, f.rx, 32), 0);
	cr_assert_eq(rte_mempool_in_use_count(f.mp), 0, "held past the next burst");
	rx_fixture_down(&f);
}

/*
 * IPv6 test frames, put together here with big-endian arithmetic of the
 * test's own rather than the back end's helpers.
 */
struct l4buf {
	uint8_t b[256];
	size_t n;
};

static void put(struct l4buf *l, const void *p, size_t n)
{
	cr_assert_leq(l->n + n, sizeof(l->b));
	memcpy(l->b + l->n, p, n);
	l->n += n;
}

/* RFC 8200 §8.1 checksum over the pseudo-header and @len bytes at @l4,
 * network order; 0 when @l4 already holds a correct one. */
static uint16_t cksum6(const char *src, const char *dst, uint8_t proto, const uint8_t *l4,
		       size_t len)
{
	uint8_t ph[40] = {0};
	uint32_t s = 0;

	cr_assert_eq(inet_pton(AF_INET6, src, ph), 1);
	cr_assert_eq(inet_pton(AF_INET6, dst, ph + 16), 1);
	ph[34] = (uint8_t)(len >> 8);
	ph[35] = (uint8_t)len;
	ph[39] = proto;
	for (size_t i = 0; i < sizeof(ph); i += 2)
		s += (uint32_t)ph[i] << 8 | ph[i + 1];
	for (size_t i = 0; i < len; i += 2)
		s += (uint32_t)l4[i] << 8 | (i + 1 < len ? l4[i + 1] : 0);
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return htons((uint16_t)~s);
}

/* A UDP header and @payload from port 5555 to @dport, checksummed. */
static void udp6(struct l4buf *l, const char *src, const char *dst, uint16_t dport,
		 const char *payload)
{
	size_t at = l->n, plen = strlen(payload);
	struct rte_udp_hdr u = {.src_port = htons(5555),
				.dst_port = htons(dport),
				.dgram_len = htons((uint16_t)(8 + plen))};
	uint16_t ck;

	put(l, &u, sizeof(u));
	put(l, payload, plen);
	ck = cksum6(src, dst, IPPROTO_UDP, l->b + at, 8 + plen);
	memcpy(l->b + at + 6, &ck, 2);
}

/* An NDP message (RFC 4861 §4.3/4.4) with one link-layer option, or none when
 * @opt is 0; @olen is the option's length in units of 8 bytes. */
static void nd6(struct l4buf *l, const char *src, const char *dst, uint8_t type, uint8_t flags,
		const char *target, uint8_t opt, uint8_t olen, uint8_t mac_byte)
{
	size_t at = l->n;
	uint8_t m[24] = {type, 0, 0, 0, flags};
	uint8_t o[8] = {opt, olen, 0x02, mac_byte, mac_byte, mac_byte, mac_byte, mac_byte};
	uint16_t ck;

	cr_assert_eq(inet_pton(AF_INET6, target, m + 8), 1);
	put(l, m, sizeof(m));
	if (opt)
		put(l, o, sizeof(o));
	ck = cksum6(src, dst, IPPROTO_ICMPV6, l->b + at, l->n - at);
	memcpy(l->b + at + 2, &ck, 2);
}

/* Ethernet and IPv6 headers (next header @nh, hop limit @hops) before @l. */
static struct rte_mbuf *frame6(struct rte_mempool *mp, const struct rte_ether_addr *dmac,
			       const char *src, const char *dst, uint8_t nh, uint8_t hops,
			       const struct l4buf *l)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(mp);
	struct rte_ether_hdr *eth;
	struct rte_ipv6_hdr *ip6;

	cr_assert_not_null(m);
	eth = (struct rte_ether_hdr *)rte_pktmbuf_append(m, (uint16_t)(54 + l->n));
	ip6 = (struct rte_ipv6_hdr *)(eth + 1);
	eth->dst_addr = *dmac;
	memset(&eth->src_addr, 0x02, sizeof(eth->src_addr));
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV6);
	ip6->vtc_flow = htonl(6u << 28);
	ip6->payload_len = htons((uint16_t)l->n);
	ip6->proto = nh;
	ip6->hop_limits = hops;
	cr_assert_eq(inet_pton(AF_INET6, src, ip6->src_addr), 1);
	cr_assert_eq(inet_pton(AF_INET6, dst, ip6->dst_addr), 1);
	memcpy(ip6 + 1, l->b, l->n);
	return m;
}

/* A UDP datagram "@payload" from [fd09::7]:5555 to [@dst]:@dport. */
static struct rte_mbuf *dgram6(struct rte_mempool *mp, const struct rte_ether_addr *dmac,
			       const char *dst, uint16_t dport, const char *payload)
{
	struct l4buf l = {.n = 0};

	udp6(&l, "fd09::7", dst, dport, payload);
	return frame6(mp, dmac, "fd09::7", dst, IPPROTO_UDP, 64, &l);
}

static struct rte_mbuf *ndp(struct rte_mempool *mp, const struct rte_ether_addr *dmac,
			    const char *src, const char *dst, uint8_t hops, uint8_t type,
			    uint8_t flags, const char *target, uint8_t opt, uint8_t olen)
{
	struct l4buf l = {.n = 0};

	nd6(&l, src, dst, type, flags, target, opt, olen, 0x07);
	return frame6(mp, dmac, src, dst, IPPROTO_ICMPV6, hops, &l);
}

/* The next frame port A sent: an NDP message of @type to @dst (@dmac),
 * checksummed, about @target, with our MAC in its one option. */
static const uint8_t *expect_nd_out(struct wire *w, struct rte_mbuf **out,
				    const struct rte_ether_addr *dmac, const char *dst,
				    uint8_t type, uint8_t flags, const char *target,
				    const struct rte_ether_addr *mac)
{
	struct rte_ipv6_hdr *ip6;
	uint8_t want[16], *nd;
	char src[64];

	cr_assert_eq(rte_ring_dequeue(w->ab, (void **)out), 0, "no NDP message sent");
	cr_assert(rte_is_same_ether_addr(&rte_pktmbuf_mtod(*out, struct rte_ether_hdr *)->dst_addr,
					 dmac));
	ip6 = rte_pktmbuf_mtod_offset(*out, struct rte_ipv6_hdr *, sizeof(struct rte_ether_hdr));
	nd = (uint8_t *)(ip6 + 1);
	cr_assert_eq(ip6->proto, IPPROTO_ICMPV6);
	cr_assert_eq(ip6->hop_limits, 255);
	cr_assert_eq(ntohs(ip6->payload_len), 32);
	inet_pton(AF_INET6, dst, want);
	cr_assert_eq(memcmp(ip6->dst_addr, want, 16), 0, "to %s", dst);
	inet_ntop(AF_INET6, ip6->src_addr, src, sizeof(src));
	cr_assert_str_eq(src, "fd09::1");
	cr_assert_eq(cksum6(src, dst, IPPROTO_ICMPV6, nd, 32), 0, "checksum");
	cr_assert_eq(nd[0], type);
	cr_assert_eq(nd[4], flags);
	inet_pton(AF_INET6, target, want);
	cr_assert_eq(memcmp(nd + 8, want, 16), 0, "about %s", target);
	cr_assert_eq(nd[24], type == 135 ? 1 : 2); /* source / target link-layer option */
	cr_assert_eq(nd[25], 1);
	cr_assert_eq(memcmp(nd + 26, mac, 6), 0);
	return nd;
}

Test(stoq_dpdk, hostile_ipv6_frames_and_ndp)
{
	static const struct rte_ether_addr all_nodes = {{0x33, 0x33, 0, 0, 0, 1}},
					   group = {{0x33, 0x33, 0xff, 0, 0, 1}},
					   other_group = {{0x33, 0x33, 0, 0, 0, 2}},
					   asker = {{0x02, 7, 7, 7, 7, 7}},
					   router = {{0x02, 0xa, 0xa, 0xa, 0xa, 0xa}};
	struct wire w;
	struct stoq_io *io;
	struct stoq_io_dpdk_params p = { 0 };
	struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_port = htons(4433)},
			    *gw = (struct sockaddr_in6 *)&p.gateway;
	struct stoq_io_dpdk_stats st;
	struct stoq_dgram rx[32], tx = {0};
	struct rte_ether_addr mac;
	struct rte_mempool *mp;
	struct rte_mbuf *m[32], *out;
	struct rte_ipv6_hdr *ip6;
	struct l4buf l;
	uint8_t *bufs = malloc(32u * 65536), hello[] = "hello", *u;
	unsigned k = 0;
	size_t n;

	cr_assert_not_null(bufs);
	for (int i = 0; i < 32; i++)
		rx[i].data = bufs + (size_t)i * 65536;
	wire_up(&w);
	p.port_id = w.a;
	gw->sin6_family = AF_INET6;
	inet_pton(AF_INET6, "fe80::1", &gw->sin6_addr); /* a router's link-local address */
	inet_pton(AF_INET6, "fd09::1", &sa.sin6_addr);
	io = stoq_io_open(&stoq_io_dpdk_ops, (struct sockaddr *)&sa, sizeof(sa), &p);
	cr_assert_not_null(io, "%s", strerror(errno));
	cr_assert_eq(rte_eth_macaddr_get(w.a, &mac), 0);
	mp = rte_pktmbuf_pool_create("hostile6", 255, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
				     SOCKET_ID_ANY);
	cr_assert_not_null(mp);

	m[k++] = dgram6(mp, &mac, "fd09::1", 4433, "good"); /* delivered */
	/* Hop-by-hop and destination options (PadN) before UDP: delivered. */
	l.n = 0;
	put(&l, (uint8_t[]){IPPROTO_DSTOPTS, 0, 1, 4, 0, 0, 0, 0}, 8);
	put(&l, (uint8_t[]){IPPROTO_UDP, 0, 1, 4, 0, 0, 0, 0}, 8);
	udp6(&l, "fd09::7", "fd09::1", 4433, "behind options");
	m[k++] = frame6(mp, &mac, "fd09::7", "fd09::1", IPPROTO_HOPOPTS, 64, &l);
	m[k] = dgram6(mp, &mac, "fd09::1", 4433, "zero sum");
	memset(rte_pktmbuf_mtod_offset(m[k], uint8_t *, 54 + 6), 0, 2); /* bad_udp */
	k++;
	m[k] = dgram6(mp, &mac, "fd09::1", 4433, "bent payload");
	rte_pktmbuf_mtod_offset(m[k], uint8_t *, 54 + 8)[0] ^= 1; /* bad_udp */
	k++;
	l.n = 0;
	put(&l, (uint8_t[]){IPPROTO_UDP, 0, 0, 1, 0, 0, 0, 9}, 8); /* first fragment */
	udp6(&l, "fd09::7", "fd09::1", 4433, "fragment");
	m[k++] = frame6(mp, &mac, "fd09::7", "fd09::1", IPPROTO_FRAGMENT, 64, &l); /* fragment */
	l.n = 0;
	put(&l, (uint8_t[]){IPPROTO_UDP, 2, 0, 1, 0, 0, 0, 0}, 8); /* one segment left */
	put(&l, (uint8_t[16]){0xfd, 9, [15] = 0x42}, 16);
	udp6(&l, "fd09::7", "fd09::1", 4433, "waypoint");
	m[k++] = frame6(mp, &mac, "fd09::7", "fd09::1", IPPROTO_ROUTING, 64, &l); /* not_ours */
	m[k] = dgram6(mp, &mac, "fd09::1", 4433, "payload length lies");
	ip6 = rte_pktmbuf_mtod_offset(m[k], struct rte_ipv6_hdr *, 14);
	ip6->payload_len = htons(1400); /* bad_ip */
	k++;
	m[k++] = dgram6(mp, &mac, "fd09::99", 4433, "another address");		     /* not_ours */
	m[k++] = dgram6(mp, &mac, "fd09::1", 9999, "another port");		     /* not_ours */
	m[k++] = frame(mp, &mac, 4433, "IPv4 to an IPv6 socket");		     /* not_ours */
	m[k++] = dgram6(mp, &other_group, "fd09::1", 4433, "a group we are not in"); /* not_ours */
	/* Solicitations for us, to our group: a neighbour's, and a duplicate
	 * address probe from :: (answered to all nodes, with no S flag). */
	m[k++] = ndp(mp, &group, "fd09::7", "ff02::1:ff00:1", 255, 135, 0, "fd09::1", 1, 1);
	m[k++] = ndp(mp, &group, "::", "ff02::1:ff00:1", 255, 135, 0, "fd09::1", 0, 0);
	m[k++] = ndp(mp, &group, "fd09::7", "ff02::1:ff00:1", 64, 135, 0, "fd09::1", 1, 1);
	m[k] = ndp(mp, &group, "fd09::7", "ff02::1:ff00:1", 255, 135, 0, "fd09::1", 1, 1);
	rte_pktmbuf_mtod_offset(m[k], uint8_t *, 54 + 30)[0] ^= 1; /* bad sum: bad_nd */
	k++;
	m[k++] = ndp(mp, &group, "fd09::7", "ff02::1:ff00:1", 255, 135, 0, "fd09::1", 1, 0);
	m[k++] = ndp(mp, &group, "::", "ff02::1:ff00:1", 255, 135, 0, "fd09::1", 1, 1); /* bad_nd */
	m[k++] = ndp(mp, &mac, "fd09::7", "fd09::1", 255, 136, 0x40, "ff02::1", 2, 1);	/* bad_nd */
	m[k++] = ndp(mp, &all_nodes, "fd09::7", "ff02::1", 255, 136, 0x40, "fd09::7", 2, 1);
	m[k++] = ndp(mp, &group, "fd09::7", "ff02::1:ff00:99", 255, 135, 0, "fd09::99", 1, 1);
	m[k++] = ndp(mp, &mac, "fd09::7", "fd09::1", 255, 128, 0, "::", 0, 0); /* echo: not_ours */
	/* An unsolicited advertisement of a stranger: counted, not learnt. */
	m[k++] = ndp(mp, &all_nodes, "fd09::55", "ff02::1", 255, 136, 0x20, "fd09::55", 2, 1);
	cr_assert_eq(rte_ring_enqueue_burst(w.ba, (void **)m, k, NULL), k);

	n = stoq_io_ops_of(io)->recv_burst(io, rx, 32);
	cr_assert_eq(n, 2);
	cr_assert_eq(rx[0].len, 4);
	cr_assert_eq(memcmp(rx[0].data, "good", 4), 0);
	cr_assert_eq(rx[0].remote.ss_family, AF_INET6);
	cr_assert_eq(((struct sockaddr_in6 *)&rx[0].remote)->sin6_port, htons(5555));
	cr_assert_eq(rx[1].len, strlen("behind options"));
	expect_rx_counts(io, &(struct stoq_io_dpdk_stats){.rx_frames = k,
							  .rx_datagrams = 2,
							  .rx_bad_udp = 2,
							  .rx_fragment = 1,
							  .rx_bad_ip = 1,
							  .rx_not_ours = 7,
							  .rx_bad_nd = 6,
							  .nd_solicits_answered = 2,
							  .nd_adverts = 1});

	/* The answers: solicited to the asker's MAC, the probe's to all nodes. */
	expect_nd_out(&w, &out, &asker, "fd09::7", 136, 0x60, "fd09::1", &mac);
	rte_pktmbuf_free(out);
	expect_nd_out(&w, &out, &all_nodes, "ff02::1", 136, 0x20, "fd09::1", &mac);
	rte_pktmbuf_free(out);
	cr_assert_eq(rte_ring_count(w.ab), 0);

	/* Off-link: the datagram waits while the gateway is solicited... */
	tx.data = hello;
	tx.len = 5;
	tx.remote.ss_family = AF_INET6;
	inet_pton(AF_INET6, "2001:db8::9", &((struct sockaddr_in6 *)&tx.remote)->sin6_addr);
	((struct sockaddr_in6 *)&tx.remote)->sin6_port = htons(443);
	tx.remote_len = sizeof(struct sockaddr_in6);
	cr_assert_eq(stoq_io_send(io, &tx, 1), 1);
	expect_nd_out(&w, &out, &group, "ff02::1:ff00:1", 135, 0, "fe80::1", &mac);
	rte_pktmbuf_free(out);
	cr_assert_eq(rte_ring_count(w.ab), 0);
	/* ...and leaves for its MAC once the router advertises it. */
	m[0] = ndp(mp, &mac, "fe80::1", "fd09::1", 255, 136, 0x60, "fe80::1", 2, 1);
	rte_pktmbuf_mtod_offset(m[0], struct rte_ether_hdr *, 0)->src_addr = router;
	{
		/* nd6 put 02:07:07:07:07:07 in the option: make it the router's. */
		uint8_t *nd = rte_pktmbuf_mtod_offset(m[0], uint8_t *, 54);
		uint16_t ck;

		memcpy(nd + 26, &router, 6);
		memset(nd + 2, 0, 2);
		ck = cksum6("fe80::1", "fd09::1", IPPROTO_ICMPV6, nd, 32);
		memcpy(nd + 2, &ck, 2);
	}
	cr_assert_eq(rte_ring_enqueue(w.ba, m[0]), 0);
	cr_assert_eq(stoq_io_ops_of(io)->recv_burst(io, rx, 32), 0);
	cr_assert_eq(rte_ring_dequeue(w.ab, (void **)&out), 0, "the datagram did not leave");
	cr_assert(rte_is_same_ether_addr(&rte_pktmbuf_mtod(out, struct rte_ether_hdr *)->dst_addr,
					 &router));
	ip6 = rte_pktmbuf_mtod_offset(out, struct rte_ipv6_hdr *, 14);
	u = (uint8_t *)(ip6 + 1);
	cr_assert_eq(ip6->proto, IPPROTO_UDP);
	cr_assert_eq(ntohs(ip6->payload_len), 13);
	cr_assert_eq(cksum6("fd09::1", "2001:db8::9", IPPROTO_UDP, u, 13), 0, "UDP checksum");
	cr_assert_eq(memcmp(u + 8, "hello", 5), 0);
	rte_pktmbuf_free(out);
	stoq_io_dpdk_get_stats(io, &st);
	cr_assert_eq(st.nd_solicits_sent, 1);
	cr_assert_eq(st.tx_unresolved, 1);
	cr_assert_eq(st.tx_packets, 1);
	cr_assert_eq(st.tx_dropped, 0);
	stoq_io_destroy(io);
	rte_mempool_free(mp);
	free(bufs);
	stoq_dpdk_eal_fini();
}

/* stoq_io_open on port A with @addr ("IP" or "[IP6]"), @prefix and @gw. */
static int open_with(uint16_t port, const char *addr, uint8_t prefix, const char *gw)
{
	struct stoq_io_dpdk_params p = {.port_id = port, .prefix_len = prefix};
	struct sockaddr_storage ss = {0};
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct stoq_io *io;

	if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1)
		s6->sin6_family = AF_INET6;
	else if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1)
		s4->sin_family = AF_INET;
	else
		ss.ss_family = AF_UNIX;
	if (gw && inet_pton(AF_INET6, gw, &((struct sockaddr_in6 *)&p.gateway)->sin6_addr) == 1)
		p.gateway.ss_family = AF_INET6;
	else if (gw)
		cr_assert_eq(inet_pton(AF_INET, gw, &((struct sockaddr_in *)&p.gateway)->sin_addr),
			     1);
	if (gw && !p.gateway.ss_family)
		p.gateway.ss_family = AF_INET;
	io = stoq_io_open(&stoq_io_dpdk_ops, (struct sockaddr *)&ss, sizeof(ss), &p);
	if (io) {
		stoq_io_destroy(io);
		return 0;
	}
	return -errno;
}

Test(stoq_dpdk, open_refuses_what_it_cannot_serve)
{
	struct wire w;

	wire_up(&w);
	cr_assert_eq(open_with(w.a, "0.0.0.0", 0, NULL), -EINVAL);
	cr_assert_eq(open_with(w.a, "224.0.0.1", 0, NULL), -EINVAL);
	cr_assert_eq(open_with(w.a, "::", 0, NULL), -EINVAL);
	cr_assert_eq(open_with(w.a, "ff02::1", 0, NULL), -EINVAL);
	cr_assert_eq(open_with(w.a, "::ffff:10.9.0.1", 0, NULL), -EINVAL);
	cr_assert_eq(open_with(w.a, "unix", 0, NULL), -EAFNOSUPPORT);
	cr_assert_eq(open_with(77, "10.9.0.1", 0, NULL), -ENODEV);
	cr_assert_eq(open_with(w.a, "10.9.0.1", 0, "10.10.0.1"), -EINVAL); /* outside the /24 */
	cr_assert_eq(open_with(w.a, "10.9.0.1", 0, "10.9.0.1"), -EINVAL);  /* itself */
	cr_assert_eq(open_with(w.a, "10.9.0.1", 0, "fd09::1"), -EINVAL);   /* another family */
	cr_assert_eq(open_with(w.a, "fd09::1", 0, "10.9.0.254"), -EINVAL);
	cr_assert_eq(open_with(w.a, "fd09::1", 0, "fd0a::1"), -EINVAL); /* outside the /64 */
	cr_assert_eq(open_with(w.a, "fd09::1", 0, "ff02::2"), -EINVAL);
	cr_assert_eq(open_with(w.a, "10.9.0.1", 33, NULL), -EINVAL);
	cr_assert_eq(open_with(w.a, "fd09::1", 129, NULL), -EINVAL);
	{
		struct stoq_io_dpdk_params p = {.port_id = w.a, .mtu = 60}; /* too small for a 1200-byte UDP payload */
		struct sockaddr_in sa;

		addr4(&sa, "10.9.0.1", 443);
		cr_assert_null(
		    stoq_io_open(&stoq_io_dpdk_ops, (struct sockaddr *)&sa, sizeof(sa), &p));
		cr_assert_eq(errno, EINVAL);
		p.mtu = 20000; /* above what one mbuf holds */
		cr_assert_null(
		    stoq_io_open(&stoq_io_dpdk_ops, (struct sockaddr *)&sa, sizeof(sa), &p));
		cr_assert_eq(errno, EINVAL);
	}
	/* What it accepts (closing an io closes its port: one each). */
	cr_assert_eq(open_with(w.a, "10.9.0.1", 16, "10.9.200.1"), 0);
	cr_assert_eq(open_with(w.b, "fd09::1", 0, "fe80::1"), 0);
	stoq_dpdk_eal_fini();
}

Test(stoq_dpdk, bad_eal_arguments_are_named)
{
	char err[256];

	cr_assert_lt(stoq_dpdk_eal_init("--no-huge --no-such-eal-flag", err, sizeof(err)), 0);
	cr_assert_not_null(strstr(err, "--no-such-eal-flag"), "%s", err);
}

/* ------------------------------------------------------------- rootfs */

/*
 * Each test runs in a process of its own (Criterion forks): a private
 * mount namespace keeps its mounts from the host, and a scratch tmpfs over
 * its /tmp its directories, so a test that fails half-way leaves nothing
 * behind. Mounting needs root, as the node's tests run.
 */
static void rootfs_private_ns(char *dir, size_t len)
{
	if (unshare(CLONE_NEWNS) < 0)
		cr_skip_test("unshare(CLONE_NEWNS): %s: mounting needs root", strerror(errno));
	cr_assert_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0, "%s", strerror(errno));
	cr_assert_eq(mount("tmpfs", "/tmp", "tmpfs", 0, "size=1m"), 0, "%s", strerror(errno));
	snprintf(dir, len, "/tmp/stoq-test-rootfs-%d", (int)getpid());
	cr_assert_eq(mkdir(dir, 0700), 0, "%s: %s", dir, strerror(errno));
}

static void rootfs_mount(const char *dir, const char *opts)
{
	cr_assert_eq(mount("tmpfs", dir, "tmpfs", 0, opts), 0, "tmpfs %s on %s: %s", opts, dir,
		     strerror(errno));
}

static bool rootfs_thp_forced(void)
{
	char buf[128] = "";
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/shmem_enabled", "re");

	if (f) {
		if (!fgets(buf, sizeof(buf), f))
			buf[0] = '\0';
		fclose(f);
	}
	return strstr(buf, "[force]") || strstr(buf, "[deny]");
}

Test(stoq_rootfs, tmpfs_in_small_pages_names_its_mount_point)
{
	char dir[128], sub[192], link[192], mnt[256] = "";

	if (rootfs_thp_forced())
		cr_skip_test("shmem_enabled forces every tmpfs's page size here");
	rootfs_private_ns(dir, sizeof(dir));
	rootfs_mount(dir, "size=4m");
	cr_assert_eq(stoq_rootfs_small_pages(dir, mnt, sizeof(mnt)), 1);
	cr_assert_str_eq(mnt, dir);
	/* A root below the mount point, reached through a symlink from outside. */
	snprintf(sub, sizeof(sub), "%s/a", dir);
	cr_assert_eq(mkdir(sub, 0700), 0);
	snprintf(sub, sizeof(sub), "%s/a/b", dir);
	cr_assert_eq(mkdir(sub, 0700), 0);
	snprintf(link, sizeof(link), "%s-link", dir);
	cr_assert_eq(symlink(sub, link), 0, "%s: %s", link, strerror(errno));
	mnt[0] = '\0';
	cr_assert_eq(stoq_rootfs_small_pages(link, mnt, sizeof(mnt)), 1);
	cr_assert_str_eq(mnt, dir);
	/* huge=advise gives huge pages only to writers that asked by madvise. */
	rootfs_mount(dir, "size=4m,huge=advise");
	cr_assert_eq(stoq_rootfs_small_pages(dir, mnt, sizeof(mnt)), 1);
}

Test(stoq_rootfs, huge_tmpfs_and_disk_are_not)
{
	char dir[128], inner[192], mnt[256] = "unchanged";
	struct statfs fs;

	if (rootfs_thp_forced())
		cr_skip_test("shmem_enabled forces every tmpfs's page size here");
	/* A disk filesystem is not (the host's /tmp is one here). */
	cr_assert_eq(statfs("/tmp", &fs), 0);
	if (fs.f_type != TMPFS_MAGIC)
		cr_assert_eq(stoq_rootfs_small_pages("/tmp", mnt, sizeof(mnt)), 0);
	rootfs_private_ns(dir, sizeof(dir));
	rootfs_mount(dir, "size=8m,huge=within_size");
	cr_assert_eq(stoq_rootfs_small_pages(dir, mnt, sizeof(mnt)), 0);
	cr_assert_str_eq(mnt, "unchanged");
	/* Stacked on the same point, the last mount is the one in use. */
	rootfs_mount(dir, "size=8m");
	cr_assert_eq(stoq_rootfs_small_pages(dir, mnt, sizeof(mnt)), 1);
	rootfs_mount(dir, "size=8m,huge=always");
	cr_assert_eq(stoq_rootfs_small_pages(dir, NULL, 0), 0);
	/* A 4 KiB tmpfs inside a huge one: the longest mount point decides, and
	 * a mount point with a space in it is read back from its escape. */
	snprintf(inner, sizeof(inner), "%s/in ner", dir);
	cr_assert_eq(mkdir(inner, 0700), 0);
	rootfs_mount(inner, "size=4m,huge=never");
	cr_assert_eq(stoq_rootfs_small_pages(inner, mnt, sizeof(mnt)), 1);
	cr_assert_str_eq(mnt, inner);
}

Test(stoq_rootfs, a_missing_root_is_an_error)
{
	cr_assert_eq(stoq_rootfs_small_pages("/nonexistent/stoq-root", NULL, 0), -ENOENT);
}
