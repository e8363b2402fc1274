/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * STOQ unit tests: config validation, QUIC-LB connection IDs, Retry and
 * stateless reset tokens, and whole client↔server exchanges through the
 * I/O-free core over a simulated link (no sockets, simulated clock).
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
	expect_refused("cid_key", "00112233", -EINVAL);
	expect_refused("max_udp_payload", "1100", -EINVAL);
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
	char err[256];

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
	cr_assert_eq(stoq_config_check(&cfg, err, sizeof(err)), -EINVAL); /* cid_len 8 */
	cr_assert(strstr(err, "\"cid_key\""), "%s", err);
	cfg.cid_len = 17;
	cr_assert_eq(stoq_config_check(&cfg, err, sizeof(err)), 0, "%s", err);
}

/* ---------------------------------------------------------------- CIDs */

static void cid_cfg(struct stoq_config *cfg, bool encrypt)
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
		cfg->cid_len = 17;
	}
	cr_assert_eq(stoq_config_check(cfg, err, sizeof(err)), 0, "%s", err);
}

Test(stoq_cid, plaintext_roundtrip_and_layout)
{
	struct stoq_config cfg;
	uint8_t nonce[20] = { 9, 8, 7, 6, 5 }, cid[20];
	uint32_t id = 0;

	cid_cfg(&cfg, false);
	cr_assert_eq(stoq_cid_encode(&cfg, cfg.server_id, nonce, cid, sizeof(cid)), 0);
	/* QUIC-LB §2.3: config rotation in the top 3 bits, length - 1 below. */
	cr_assert_eq(cid[0], (3 << 5) | (8 - 1));
	cr_assert_eq(cid[1], 0x2a);
	cr_assert_eq(cid[2], 0x17);
	cr_assert_eq(memcmp(cid + 3, nonce, 5), 0);
	cr_assert_eq(stoq_cid_decode(&cfg, cid, 8, &id), 0);
	cr_assert_eq(id, 0x2a17);
}

Test(stoq_cid, encrypted_hides_and_roundtrips)
{
	struct stoq_config cfg, other;
	uint8_t nonce[20], cid[20];
	uint32_t id = 0;

	cid_cfg(&cfg, true);
	for (int round = 0; round < 64; round++) {
		for (int i = 0; i < 20; i++)
			nonce[i] = (uint8_t)(round * 31 + i);
		cr_assert_eq(stoq_cid_encode(&cfg, cfg.server_id, nonce, cid, sizeof(cid)), 0);
		cr_assert_eq(cid[0], (3 << 5) | 16);
		/* The server id is not visible in the clear in any position. */
		cr_assert(!(cid[1] == 0x2a && cid[2] == 0x17) || round > 0);
		cr_assert_eq(stoq_cid_decode(&cfg, cid, 17, &id), 0);
		cr_assert_eq(id, 0x2a17);
	}
	/* Another key decodes garbage; a wrong config id or length is refused. */
	other = cfg;
	other.cid_key.b[0] ^= 1;
	cr_assert_eq(stoq_cid_decode(&other, cid, 17, &id), 0);
	cr_assert_neq(id, 0x2a17);
	other = cfg;
	other.cid_config_id = 4;
	cr_assert_eq(stoq_cid_decode(&other, cid, 17, &id), -EINVAL);
	cr_assert_eq(stoq_cid_decode(&cfg, cid, 16, &id), -EINVAL);
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
	uint8_t data[1500];
};

struct sim {
	struct stoq_endpoint *cli, *srv;
	struct sockaddr_in caddr, saddr;
	struct pkt *head, *tail;
	uint64_t now, delay;
	unsigned drop_every, sent;
	size_t max_dgram[2]; /* largest datagram seen per direction */
};

static void sim_queue(struct sim *s, const uint8_t *data, size_t len, bool to_server)
{
	struct pkt *p;

	s->sent++;
	if (s->drop_every && s->sent % s->drop_every == 0)
		return; /* lost */
	p = calloc(1, sizeof(*p));
	cr_assert_not_null(p);
	cr_assert_leq(len, sizeof(p->data));
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

			/* The packets of a GSO train go on the wire one by one. */
			for (size_t off = 0; off < out[i].len; off += seg) {
				size_t l = out[i].len - off < seg ? out[i].len - off : seg;

				if (l > s->max_dgram[to_server])
					s->max_dgram[to_server] = l;
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

static uint8_t *make_file(const char *name, size_t len)
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
	snprintf(path, sizeof(path), "%s/%s", g_dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, data, len), (ssize_t)len);
	close(fd);
	return data;
}

TestSuite(stoq_sim, .init = make_cert, .fini = cleanup_dir, .timeout = 120);

static void transfer(unsigned drop_every, bool retry, bool encrypt_cids)
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
	if (encrypt_cids) {
		cr_assert_eq(hm_cfg_set(&stoq_config_table, &scfg, "cid_key",
					"4a1f0e7c2b9d88e6a0c3f1d2e4b5a697", false, err,
					sizeof(err)),
			     0);
		scfg.cid_len = 17;
	}
	sim_init(&s, &scfg, &ccfg, g_dir);
	s.drop_every = drop_every;
	c = stoq_conn_connect(s.cli, (struct sockaddr *)&s.saddr, sizeof(s.saddr), "localhost",
			      s.now);
	cr_assert_not_null(c);
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
	cr_assert(b[0].done && b[0].status == 200, "status %d", b[0].status);
	cr_assert_eq(b[0].len, len);
	cr_assert_eq(memcmp(b[0].buf, data, len), 0, "body differs");
	cr_assert_eq(b[1].status, 206);
	cr_assert_eq(b[1].len, 1000);
	cr_assert_eq(memcmp(b[1].buf, data + 1000, 1000), 0);
	cr_assert_eq(b[2].status, 206); /* end clamped to the file (RFC 9110 §14.1.1) */
	cr_assert_eq(b[2].len, 10);
	cr_assert_eq(memcmp(b[2].buf, data + len - 10, 10), 0);
	cr_assert_eq(b[3].status, 404);
	cr_assert_leq(s.max_dgram[0], scfg.max_udp_payload);
	cr_assert_leq(s.max_dgram[1], scfg.max_udp_payload);

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
	for (int i = 0; i < 4; i++)
		free(b[i].buf);
	free(data);
	sim_fini(&s);
}

Test(stoq_sim, handshake_and_transfer_bytes_match)
{
	transfer(0, false, false);
}

Test(stoq_sim, transfer_survives_loss)
{
	transfer(13, false, false); /* every 13th datagram either way is lost */
}

Test(stoq_sim, retry_and_encrypted_cids)
{
	transfer(0, true, true);
}

static void expect_failure(struct stoq_config *scfg, struct stoq_config *ccfg, const char *what)
{
	struct sim s;
	struct body b = { 0 };
	struct want w = { .b = &b, .n = 1 };
	struct stoq_conn *c;

	sim_init(&s, scfg, ccfg, g_dir);
	c = stoq_conn_connect(s.cli, (struct sockaddr *)&s.saddr, sizeof(s.saddr), "localhost",
			      s.now);
	cr_assert_not_null(c);
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
