/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * stoq_conn.c — the I/O-free protocol core: endpoints, connections, the CID
 * table, and the glue between ngtcp2, ngtcp2_crypto_wolfssl and wolfSSL.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hm_idlist.h"
#include "hm_log.h"
#include "stoq_priv.h"

uint64_t stoq_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void stoq_conn_set_error(struct stoq_conn *c, const char *fmt, ...)
{
	va_list ap;

	if (c->err[0])
		return; /* keep the first cause: later errors are consequences */
	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
}

/* ---- CID table: DCID of an incoming packet → connection ---- */

static size_t cid_bucket(const uint8_t *cid, size_t len)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a: CIDs are random or AES output */

	for (size_t i = 0; i < len; i++)
		h = (h ^ cid[i]) * 1099511628211ull;
	return (size_t)(h & (STOQ_CID_BUCKETS - 1));
}

int stoq_cid_table_add(struct stoq_endpoint *ep, const uint8_t *cid, size_t len,
		       struct stoq_conn *c)
{
	struct stoq_cid_entry *e;
	size_t b = cid_bucket(cid, len);

	if (len > STOQ_CID_MAX)
		return -EINVAL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->conn = c;
	e->len = (uint8_t)len;
	memcpy(e->cid, cid, len);
	e->next = ep->buckets[b];
	ep->buckets[b] = e;
	return 0;
}

void stoq_cid_table_del(struct stoq_endpoint *ep, const uint8_t *cid, size_t len)
{
	struct stoq_cid_entry **pp = &ep->buckets[cid_bucket(cid, len)];

	for (; *pp; pp = &(*pp)->next) {
		struct stoq_cid_entry *e = *pp;

		if (e->len == len && memcmp(e->cid, cid, len) == 0) {
			*pp = e->next;
			free(e);
			return;
		}
	}
}

struct stoq_conn *stoq_cid_table_find(struct stoq_endpoint *ep, const uint8_t *cid, size_t len)
{
	for (struct stoq_cid_entry *e = ep->buckets[cid_bucket(cid, len)]; e; e = e->next)
		if (e->len == len && memcmp(e->cid, cid, len) == 0)
			return e->conn;
	return NULL;
}

static void cid_table_del_conn(struct stoq_endpoint *ep, struct stoq_conn *c)
{
	for (size_t b = 0; b < STOQ_CID_BUCKETS; b++) {
		struct stoq_cid_entry **pp = &ep->buckets[b];

		while (*pp) {
			if ((*pp)->conn == c) {
				struct stoq_cid_entry *e = *pp;

				*pp = e->next;
				free(e);
			} else {
				pp = &(*pp)->next;
			}
		}
	}
}

/* A fresh routable CID for this node (QUIC-LB: server id + random nonce). */
static int new_cid(struct stoq_endpoint *ep, ngtcp2_cid *cid)
{
	uint8_t nonce[STOQ_CID_MAX];

	if (wc_RNG_GenerateBlock(&ep->rng, nonce, sizeof(nonce)) != 0)
		return -EIO;
	cid->datalen = ep->cfg.cid_len;
	return stoq_cid_encode_aes(&ep->cfg, &ep->cid_aes, ep->cfg.server_id, nonce, cid->data,
				   sizeof(cid->data));
}

/* ---- ngtcp2 callbacks ---- */

static ngtcp2_conn *get_conn(ngtcp2_crypto_conn_ref *ref)
{
	struct stoq_conn *c = ref->user_data;

	return c->q;
}

static void rand_cb(uint8_t *dest, size_t destlen, const ngtcp2_rand_ctx *rand_ctx)
{
	struct stoq_endpoint *ep = rand_ctx->native_handle;

	wc_RNG_GenerateBlock(&ep->rng, dest, (word32)destlen);
}

static int get_new_connection_id_cb(ngtcp2_conn *q, ngtcp2_cid *cid, uint8_t *token,
				    size_t cidlen, void *user_data)
{
	struct stoq_conn *c = user_data;
	struct stoq_endpoint *ep = c->ep;

	(void)q;
	if (cidlen != ep->cfg.cid_len || new_cid(ep, cid) < 0)
		return NGTCP2_ERR_CALLBACK_FAILURE;
	if (stoq_token_reset(&ep->keys, cid->data, cid->datalen, token) < 0)
		return NGTCP2_ERR_CALLBACK_FAILURE;
	if (stoq_cid_table_add(ep, cid->data, cid->datalen, c) < 0)
		return NGTCP2_ERR_CALLBACK_FAILURE;
	return 0;
}

static int remove_connection_id_cb(ngtcp2_conn *q, const ngtcp2_cid *cid, void *user_data)
{
	struct stoq_conn *c = user_data;

	(void)q;
	stoq_cid_table_del(c->ep, cid->data, cid->datalen);
	return 0;
}

/* ---- resumption and 0-RTT (client, session_file) ------------------------------------ */

/*
 * The file: "HMSQ0RT1", then the server's transport parameters that 0-RTT
 * needs (RFC 9000 §7.4.1; the list of ngtcp2_conn_set_early_remote_
 * transport_params) as eight little-endian u64, then the wolfSSL session
 * (its DER form, with the ticket). Written whole under a temporary name and
 * renamed, mode 0600: the ticket resumes a session.
 */
#define SESSION_MAGIC "HMSQ0RT1"
#define SESSION_TP 8

static void tp_fields(ngtcp2_transport_params *p, uint64_t v[SESSION_TP], bool store)
{
	uint64_t *f[SESSION_TP] = {
	    &p->initial_max_streams_bidi,	     &p->initial_max_streams_uni,
	    &p->initial_max_stream_data_bidi_local, &p->initial_max_stream_data_bidi_remote,
	    &p->initial_max_stream_data_uni,	     &p->initial_max_data,
	    &p->active_connection_id_limit,	     &p->max_datagram_frame_size,
	};

	for (int i = 0; i < SESSION_TP; i++)
		if (store)
			v[i] = *f[i];
		else
			*f[i] = v[i];
}

static int new_session_cb(WOLFSSL *ssl, WOLFSSL_SESSION *sess)
{
	ngtcp2_crypto_conn_ref *ref = wolfSSL_get_app_data(ssl);
	struct stoq_conn *c = ref->user_data;
	const ngtcp2_transport_params *tp = ngtcp2_conn_get_remote_transport_params(c->q);
	const char *path = c->ep->cfg.session_file;
	char tmp[STOQ_PATH_MAX + 16];
	uint8_t hdr[8 + 8 * SESSION_TP + 4], *der = NULL, *p;
	uint64_t v[SESSION_TP];
	int n = wolfSSL_i2d_SSL_SESSION(sess, NULL), fd;
	bool ok;

	if (tp == NULL || n <= 0 || (der = malloc((size_t)n)) == NULL)
		return 0;
	p = der;
	if (wolfSSL_i2d_SSL_SESSION(sess, &p) != n) {
		free(der);
		return 0;
	}
	memcpy(hdr, SESSION_MAGIC, 8);
	tp_fields((ngtcp2_transport_params *)tp, v, true);
	for (int i = 0; i < SESSION_TP; i++)
		for (int b = 0; b < 8; b++)
			hdr[8 + 8 * i + b] = (uint8_t)(v[i] >> (8 * b));
	for (int b = 0; b < 4; b++)
		hdr[8 + 8 * SESSION_TP + b] = (uint8_t)((uint32_t)n >> (8 * b));
	snprintf(tmp, sizeof(tmp), "%s.%d", path, (int)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ok = fd >= 0 && write(fd, hdr, sizeof(hdr)) == (ssize_t)sizeof(hdr) &&
	     write(fd, der, (size_t)n) == n;
	if (fd >= 0)
		close(fd);
	if (!ok || rename(tmp, path) < 0) {
		HM_WARN(STOQ_LOG, "\"session_file\" %s: cannot write it: %s", path, strerror(errno));
		unlink(tmp);
	}
	free(der);
	return 0; /* wolfSSL keeps the session */
}

/*
 * Before the first packet: resume the session in session_file and let the
 * requests go out in 0-RTT. A missing file is the first connection; a file
 * that does not parse is said once and ignored (a full handshake).
 */
static void resume(struct stoq_conn *c)
{
	const char *path = c->ep->cfg.session_file;
	uint8_t buf[16384];
	const uint8_t *p;
	ngtcp2_transport_params tp;
	WOLFSSL_SESSION *sess;
	uint64_t v[SESSION_TP] = {0};
	uint32_t n = 0;
	ssize_t got;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		if (errno != ENOENT)
			HM_WARN(STOQ_LOG, "\"session_file\" %s: %s", path, strerror(errno));
		return;
	}
	got = read(fd, buf, sizeof(buf));
	close(fd);
	if (got >= (ssize_t)(8 + 8 * SESSION_TP + 4)) {
		for (int b = 0; b < 4; b++)
			n |= (uint32_t)buf[8 + 8 * SESSION_TP + b] << (8 * b);
	}
	if (got < (ssize_t)(8 + 8 * SESSION_TP + 4) || memcmp(buf, SESSION_MAGIC, 8) != 0 ||
	    (size_t)got != 8 + 8 * SESSION_TP + 4 + n) {
		HM_WARN(STOQ_LOG, "\"session_file\" %s: not a session this client wrote; ignored",
			path);
		return;
	}
	for (int i = 0; i < SESSION_TP; i++)
		for (int b = 0; b < 8; b++)
			v[i] |= (uint64_t)buf[8 + 8 * i + b] << (8 * b);
	p = buf + 8 + 8 * SESSION_TP + 4;
	sess = wolfSSL_d2i_SSL_SESSION(NULL, &p, n);
	if (sess == NULL || wolfSSL_set_session(c->ssl, sess) != WOLFSSL_SUCCESS) {
		HM_WARN(STOQ_LOG, "\"session_file\" %s: the session does not load; ignored", path);
		if (sess)
			wolfSSL_SESSION_free(sess);
		return;
	}
	wolfSSL_SESSION_free(sess);
	wolfSSL_set_quic_early_data_enabled(c->ssl, 1);
	ngtcp2_transport_params_default(&tp);
	tp_fields(&tp, v, false);
	ngtcp2_conn_set_early_remote_transport_params(c->q, &tp);
	c->early = true;
	if (stoq_h3_setup(c) < 0)
		c->early = false; /* the streams it needs are not allowed: wait for 1-RTT */
}

static int handshake_completed_cb(ngtcp2_conn *q, void *user_data)
{
	struct stoq_conn *c = user_data;

	(void)q;
	c->established = true;
	c->t_hs = 0; /* filled by the caller that knows the time: see conn_read */
	c->ep->st.handshakes++;
	if (c->server && wolfSSL_get_early_data_status(c->ssl) == WOLFSSL_EARLY_DATA_ACCEPTED)
		c->ep->st.early_accepted++;
	if (c->early) {
		c->early = false;
		/*
		 * wolfSSL tells only now (as OpenSSL does): ngtcp2 must then drop
		 * what was sent in 0-RTT (streams, stream ids, credits), and we
		 * send the requests again in 1-RTT.
		 */
		if (wolfSSL_get_early_data_status(c->ssl) != WOLFSSL_EARLY_DATA_ACCEPTED) {
			c->ep->st.early_rejected++;
			HM_INFO(STOQ_LOG, "0-RTT refused by the server: requests sent again");
			if (ngtcp2_conn_early_data_rejected(c->q) != 0 ||
			    stoq_h3_early_rejected(c) < 0)
				return NGTCP2_ERR_CALLBACK_FAILURE;
			return 0;
		}
		c->ep->st.early_accepted++;
	}
	if (stoq_h3_setup(c) < 0)
		return NGTCP2_ERR_CALLBACK_FAILURE;
	if (!c->server && stoq_h3_start_requests(c) < 0)
		return NGTCP2_ERR_CALLBACK_FAILURE;
	return 0;
}

static int recv_version_negotiation_cb(ngtcp2_conn *q, const ngtcp2_pkt_hd *hd,
				       const uint32_t *sv, size_t nsv, void *user_data)
{
	struct stoq_conn *c = user_data;

	(void)q;
	(void)hd;
	c->n_vn = nsv < 8 ? nsv : 8;
	memcpy(c->vn_versions, sv, c->n_vn * sizeof(*sv));
	return 0;
}

static int recv_stream_data_cb(ngtcp2_conn *q, uint32_t flags, int64_t stream_id, uint64_t offset,
			       const uint8_t *data, size_t datalen, void *user_data,
			       void *stream_user_data)
{
	struct stoq_conn *c = user_data;

	(void)q;
	(void)offset;
	(void)stream_user_data;
	if (stoq_h3_recv_stream(c, stream_id, data, datalen, flags & NGTCP2_STREAM_DATA_FLAG_FIN) <
	    0)
		return NGTCP2_ERR_CALLBACK_FAILURE;
	return 0;
}

/* What ngtcp2 reported acknowledged, told to nghttp3 (its outq frees it). */
static int h3_ack_flush(struct stoq_conn *c)
{
	int rv = 0;

	if (c->ack_n && c->h3)
		rv = nghttp3_conn_add_ack_offset(c->h3, c->ack_sid, c->ack_n);
	c->ack_n = 0;
	return rv;
}

/*
 * ngtcp2 reports each acknowledged packet's stream bytes, in order per
 * stream: one call per packet, and nghttp3_conn_add_ack_offset() for each
 * had ~2.5 % of the server's unwound samples (bench_stoq_ring). They are
 * summed and told once the packet carrying the ACK is read (conn_read),
 * or sooner when another stream's come or the stream closes. Nothing asks
 * nghttp3 for data in between.
 */
static int acked_stream_data_offset_cb(ngtcp2_conn *q, int64_t stream_id, uint64_t offset,
				       uint64_t datalen, void *user_data, void *stream_user_data)
{
	struct stoq_conn *c = user_data;

	(void)q;
	(void)offset;
	(void)stream_user_data;
	if (c->ack_n && c->ack_sid != stream_id && h3_ack_flush(c) != 0)
		return NGTCP2_ERR_CALLBACK_FAILURE;
	c->ack_sid = stream_id;
	c->ack_n += datalen;
	return 0;
}

static int stream_close_cb(ngtcp2_conn *q, uint32_t flags, int64_t stream_id,
			   uint64_t app_error_code, void *user_data, void *stream_user_data)
{
	struct stoq_conn *c = user_data;

	(void)stream_user_data;
	if (!(flags & NGTCP2_STREAM_CLOSE_FLAG_APP_ERROR_CODE_SET))
		app_error_code = NGHTTP3_H3_NO_ERROR;
	if (c->ack_n && c->ack_sid == stream_id && h3_ack_flush(c) != 0)
		return NGTCP2_ERR_CALLBACK_FAILURE;
	stoq_h3_stream_close(c, stream_id, app_error_code);
	/*
	 * A stream the peer opened is done: let it open another (MAX_STREAMS,
	 * RFC 9000 §4.6). ngtcp2 0.12 leaves this to the application; without
	 * it a client could make max_streams_bidi requests on a connection in
	 * all, and the next one waited until the idle timeout.
	 */
	if (!ngtcp2_conn_is_local_stream(q, stream_id)) {
		if (ngtcp2_is_bidi_stream(stream_id))
			ngtcp2_conn_extend_max_streams_bidi(q, 1);
		else
			ngtcp2_conn_extend_max_streams_uni(q, 1);
	}
	return 0;
}

static int stream_reset_cb(ngtcp2_conn *q, int64_t stream_id, uint64_t final_size,
			   uint64_t app_error_code, void *user_data, void *stream_user_data)
{
	struct stoq_conn *c = user_data;

	(void)final_size;
	(void)app_error_code;
	(void)stream_user_data;
	if (c->h3 && nghttp3_conn_shutdown_stream_read(c->h3, stream_id) != 0)
		return NGTCP2_ERR_CALLBACK_FAILURE;
	/*
	 * A client that abandons a request mid-body (a PUT whose file it
	 * could not read, say) will not read an answer: without one the
	 * stream never closed, and the request held its temporary file and
	 * write block until the connection ended. (A reset already sent, or
	 * an answer all acknowledged, makes this a no-op.)
	 */
	if (c->server && c->h3 && ngtcp2_is_bidi_stream(stream_id)) {
		nghttp3_conn_shutdown_stream_write(c->h3, stream_id);
		if (ngtcp2_conn_shutdown_stream_write(q, stream_id, NGHTTP3_H3_REQUEST_CANCELLED) != 0)
			return NGTCP2_ERR_CALLBACK_FAILURE;
	}
	return 0;
}

static int stream_stop_sending_cb(ngtcp2_conn *q, int64_t stream_id, uint64_t app_error_code,
				  void *user_data, void *stream_user_data)
{
	return stream_reset_cb(q, stream_id, 0, app_error_code, user_data, stream_user_data);
}

static int extend_max_remote_streams_bidi_cb(ngtcp2_conn *q, uint64_t max_streams,
					     void *user_data)
{
	struct stoq_conn *c = user_data;

	(void)q;
	if (c->h3)
		nghttp3_conn_set_max_client_streams_bidi(c->h3, max_streams);
	return 0;
}

static int extend_max_local_streams_bidi_cb(ngtcp2_conn *q, uint64_t max_streams,
					    void *user_data)
{
	struct stoq_conn *c = user_data;

	(void)q;
	(void)max_streams;
	return stoq_h3_start_requests(c) < 0 ? NGTCP2_ERR_CALLBACK_FAILURE : 0;
}

static int extend_max_stream_data_cb(ngtcp2_conn *q, int64_t stream_id, uint64_t max_data,
				     void *user_data, void *stream_user_data)
{
	struct stoq_conn *c = user_data;

	(void)q;
	(void)max_data;
	(void)stream_user_data;
	if (c->h3 && nghttp3_conn_unblock_stream(c->h3, stream_id) != 0)
		return NGTCP2_ERR_CALLBACK_FAILURE;
	return 0;
}

static void fill_callbacks(ngtcp2_callbacks *cb, bool server)
{
	memset(cb, 0, sizeof(*cb));
	if (server) {
		cb->recv_client_initial = ngtcp2_crypto_recv_client_initial_cb;
	} else {
		cb->client_initial = ngtcp2_crypto_client_initial_cb;
		cb->recv_retry = ngtcp2_crypto_recv_retry_cb;
		cb->recv_version_negotiation = recv_version_negotiation_cb;
		cb->extend_max_local_streams_bidi = extend_max_local_streams_bidi_cb;
	}
	cb->recv_crypto_data = ngtcp2_crypto_recv_crypto_data_cb;
	cb->encrypt = stoq_aead_encrypt_cb;
	cb->decrypt = stoq_aead_decrypt_cb;
	cb->hp_mask = stoq_aead_hp_mask_cb;
	cb->update_key = ngtcp2_crypto_update_key_cb;
	cb->delete_crypto_aead_ctx = stoq_aead_delete_ctx_cb;
	cb->delete_crypto_cipher_ctx = stoq_aead_delete_cipher_ctx_cb;
	cb->get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb;
	cb->version_negotiation = ngtcp2_crypto_version_negotiation_cb;
	cb->handshake_completed = handshake_completed_cb;
	cb->recv_stream_data = recv_stream_data_cb;
	cb->acked_stream_data_offset = acked_stream_data_offset_cb;
	cb->stream_close = stream_close_cb;
	cb->stream_reset = stream_reset_cb;
	cb->stream_stop_sending = stream_stop_sending_cb;
	cb->extend_max_remote_streams_bidi = extend_max_remote_streams_bidi_cb;
	cb->extend_max_stream_data = extend_max_stream_data_cb;
	cb->rand = rand_cb;
	cb->get_new_connection_id = get_new_connection_id_cb;
	cb->remove_connection_id = remove_connection_id_cb;
}

static void fill_settings(struct stoq_endpoint *ep, ngtcp2_settings *s, uint64_t now)
{
	static const ngtcp2_cc_algo cc[] = {
		[STOQ_CC_CUBIC] = NGTCP2_CC_ALGO_CUBIC,
		[STOQ_CC_BBR] = NGTCP2_CC_ALGO_BBR,
		[STOQ_CC_BBR2] = NGTCP2_CC_ALGO_BBR2,
		[STOQ_CC_RENO] = NGTCP2_CC_ALGO_RENO,
	};

	ngtcp2_settings_default(s);
	s->initial_ts = now;
	s->cc_algo = cc[ep->cfg.cc];
	s->max_tx_udp_payload_size = ep->cfg.max_udp_payload;
	/* ngtcp2 0.12 discovers the path MTU only up to 1452 bytes: a larger
	 * size is the operator's statement that the path carries it, used as
	 * it is from the first packet (RFC 9000 §14.1: at least 1200). */
	s->no_tx_udp_payload_size_shaping =
	    ep->cfg.max_udp_payload > NGTCP2_MAX_PMTUD_UDP_PAYLOAD_SIZE;
	/* Nor is there anything to discover then: its probes (1406 and 1444
	 * bytes) are smaller than the packets already sent. */
	s->no_pmtud = s->no_tx_udp_payload_size_shaping;
	s->max_window = ep->cfg.max_window;
	s->max_stream_window = ep->cfg.max_stream_window;
	s->handshake_timeout = (uint64_t)ep->cfg.handshake_timeout_ms * NGTCP2_MILLISECONDS;
	s->rand_ctx.native_handle = ep;
}

static void fill_params(struct stoq_endpoint *ep, ngtcp2_transport_params *p)
{
	const struct stoq_config *cfg = &ep->cfg;

	ngtcp2_transport_params_default(p);
	p->initial_max_stream_data_bidi_local = cfg->initial_max_stream_data;
	p->initial_max_stream_data_bidi_remote = cfg->initial_max_stream_data;
	p->initial_max_stream_data_uni = cfg->initial_max_stream_data;
	p->initial_max_data = cfg->initial_max_data;
	/* Clients take no request streams; both need 3 uni streams (RFC 9114 §6.2). */
	p->initial_max_streams_bidi = ep->server ? cfg->max_streams_bidi : 0;
	p->initial_max_streams_uni = 3;
	p->max_idle_timeout = (uint64_t)cfg->idle_timeout_ms * NGTCP2_MILLISECONDS;
	p->active_connection_id_limit = cfg->active_connection_id_limit;
	p->ack_delay_exponent = cfg->ack_delay_exponent;
	p->max_ack_delay = (uint64_t)cfg->max_ack_delay_ms * NGTCP2_MILLISECONDS;
}

/* ---- TLS ---- */

static int alpn_select_cb(WOLFSSL *ssl, const unsigned char **out, unsigned char *outlen,
			  const unsigned char *in, unsigned int inlen, void *arg)
{
	(void)ssl;
	(void)arg;
	/* RFC 9114 §3.1: "h3"; RFC 9001 §8.1: no agreement is fatal. */
	for (unsigned int i = 0; i < inlen;) {
		unsigned int n = in[i];

		if (i + 1 + n > inlen)
			break;
		if (n == 2 && memcmp(in + i + 1, "h3", 2) == 0) {
			*out = in + i + 1;
			*outlen = 2;
			return SSL_TLSEXT_ERR_OK;
		}
		i += 1 + n;
	}
	return SSL_TLSEXT_ERR_ALERT_FATAL;
}

static int tls_ctx_create(struct stoq_endpoint *ep)
{
	const struct stoq_config *cfg = &ep->cfg;
	WOLFSSL_CTX *ctx;

	ctx = wolfSSL_CTX_new(ep->server ? wolfTLSv1_3_server_method() : wolfTLSv1_3_client_method());
	if (!ctx) {
		HM_ERR(STOQ_LOG, "wolfSSL_CTX_new failed");
		return -ENOMEM;
	}
	if (ep->server) {
		if (ngtcp2_crypto_wolfssl_configure_server_context(ctx) != 0)
			goto err_free_ctx;
		if (wolfSSL_CTX_use_certificate_chain_file(ctx, cfg->cert) != WOLFSSL_SUCCESS) {
			HM_ERR(STOQ_LOG, "\"cert\" is \"%s\": cannot load a PEM certificate chain",
			       cfg->cert);
			goto err_free_ctx;
		}
		if (wolfSSL_CTX_use_PrivateKey_file(ctx, cfg->key, WOLFSSL_FILETYPE_PEM) !=
		    WOLFSSL_SUCCESS) {
			HM_ERR(STOQ_LOG, "\"key\" is \"%s\": cannot load a PEM private key",
			       cfg->key);
			goto err_free_ctx;
		}
		if (wolfSSL_CTX_check_private_key(ctx) != WOLFSSL_SUCCESS) {
			HM_ERR(STOQ_LOG, "\"key\" is \"%s\": does not match \"cert\" %s", cfg->key,
			       cfg->cert);
			goto err_free_ctx;
		}
		wolfSSL_CTX_set_alpn_select_cb(ctx, alpn_select_cb, ep);
	} else {
		if (ngtcp2_crypto_wolfssl_configure_client_context(ctx) != 0)
			goto err_free_ctx;
		if (cfg->session_file[0])
			wolfSSL_CTX_sess_set_new_cb(ctx, new_session_cb);
		if (cfg->verify_peer) {
			int rc = cfg->ca[0] ? wolfSSL_CTX_load_verify_locations(ctx, cfg->ca, NULL)
					    : wolfSSL_CTX_load_system_CA_certs(ctx);

			if (rc != WOLFSSL_SUCCESS) {
				HM_ERR(STOQ_LOG, "\"ca\" is \"%s\": cannot load CA certificates",
				       cfg->ca[0] ? cfg->ca : "(system)");
				goto err_free_ctx;
			}
			wolfSSL_CTX_set_verify(ctx, WOLFSSL_VERIFY_PEER, NULL);
		} else {
			wolfSSL_CTX_set_verify(ctx, WOLFSSL_VERIFY_NONE, NULL);
		}
	}
	ep->ctx = ctx;
	return 0;

err_free_ctx:
	wolfSSL_CTX_free(ctx);
	return -EINVAL;
}

static bool is_ip_literal(const char *host)
{
	struct in6_addr a6;
	struct in_addr a4;

	return inet_pton(AF_INET, host, &a4) == 1 || inet_pton(AF_INET6, host, &a6) == 1;
}

static int tls_conn_create(struct stoq_conn *c, const char *host)
{
	struct stoq_endpoint *ep = c->ep;
	WOLFSSL *ssl = wolfSSL_new(ep->ctx);

	if (!ssl)
		return -ENOMEM;
	c->ref.get_conn = get_conn;
	c->ref.user_data = c;
	wolfSSL_set_app_data(ssl, &c->ref);
	if (c->server) {
		char h3[] = "h3";

		wolfSSL_set_accept_state(ssl);
		/* RFC 9114 §3.1 and RFC 9001 §8.1: "h3" or no_application_protocol. */
		if (wolfSSL_UseALPN(ssl, h3, 2, WOLFSSL_ALPN_FAILED_ON_MISMATCH) != WOLFSSL_SUCCESS)
			goto err_free_ssl;
		/*
		 * Either way: wolfSSL's default (4096 bytes of early data) would
		 * accept 0-RTT with early_data off.
		 */
		wolfSSL_set_quic_early_data_enabled(ssl, ep->cfg.early_data ? 1 : 0);
	} else {
		char alpn[sizeof(ep->cfg.alpn)];

		wolfSSL_set_connect_state(ssl);
		snprintf(alpn, sizeof(alpn), "%s", ep->cfg.alpn);
		/* RFC 9001 §8.1: the handshake fails unless the server picks ours. */
		if (wolfSSL_UseALPN(ssl, alpn, (word32)strlen(alpn),
				    WOLFSSL_ALPN_FAILED_ON_MISMATCH) != WOLFSSL_SUCCESS) {
			HM_ERR(STOQ_LOG, "ALPN \"%s\" refused by wolfSSL", alpn);
			goto err_free_ssl;
		}
		if (!is_ip_literal(host)) {
			/* RFC 9001 §4.2 requires TLS 1.3; SNI lets a mesh node pick a cert. */
			wolfSSL_UseSNI(ssl, WOLFSSL_SNI_HOST_NAME, host, (word16)strlen(host));
			if (ep->cfg.verify_peer &&
			    wolfSSL_check_domain_name(ssl, host) != WOLFSSL_SUCCESS) {
				HM_ERR(STOQ_LOG, "cannot check the certificate name %s", host);
				goto err_free_ssl;
			}
		}
	}
	ngtcp2_conn_set_tls_native_handle(c->q, ssl);
	c->ssl = ssl;
	return 0;

err_free_ssl:
	wolfSSL_free(ssl);
	return -EINVAL;
}

static const char *tls_alert_name(unsigned a)
{
	switch (a) {
	case 10: return "unexpected_message";
	case 40: return "handshake_failure";
	case 42: return "bad_certificate";
	case 43: return "unsupported_certificate";
	case 44: return "certificate_revoked";
	case 45: return "certificate_expired";
	case 46: return "certificate_unknown";
	case 47: return "illegal_parameter";
	case 48: return "unknown_ca";
	case 50: return "decode_error";
	case 51: return "decrypt_error";
	case 70: return "protocol_version";
	case 80: return "internal_error";
	case 109: return "missing_extension";
	case 110: return "unsupported_extension";
	case 112: return "unrecognized_name";
	case 116: return "certificate_required";
	case 120: return "no_application_protocol";
	default: return "?";
	}
}

/* Describe a CONNECTION_CLOSE error (RFC 9000 §20). */
static void describe_ccerr(char *buf, size_t len, const ngtcp2_connection_close_error *e)
{
	int n;

	if (e->type == NGTCP2_CONNECTION_CLOSE_ERROR_CODE_TYPE_APPLICATION)
		n = snprintf(buf, len, "application error 0x%llx",
			     (unsigned long long)e->error_code);
	else if (e->error_code >= 0x100 && e->error_code <= 0x1ff)
		/* RFC 9001 §4.8: CRYPTO_ERROR = 0x100 + TLS alert */
		n = snprintf(buf, len, "CRYPTO_ERROR 0x%llx: TLS alert %u (%s)",
			     (unsigned long long)e->error_code, (unsigned)(e->error_code & 0xff),
			     tls_alert_name(e->error_code & 0xff));
	else
		n = snprintf(buf, len, "transport error 0x%llx",
			     (unsigned long long)e->error_code);
	if (n > 0 && (size_t)n < len && e->reasonlen)
		snprintf(buf + n, len - n, " \"%.*s\"", (int)e->reasonlen, (const char *)e->reason);
}

/* ---- connection lifecycle ---- */

static struct stoq_conn *conn_alloc(struct stoq_endpoint *ep, const struct sockaddr *remote,
				    socklen_t rlen, bool server, uint64_t now)
{
	struct stoq_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->ep = ep;
	c->server = server;
	memcpy(&c->remote, remote, rlen);
	c->remote_len = rlen;
	c->t_start = now;
	return c;
}

static void conn_link(struct stoq_endpoint *ep, struct stoq_conn *c)
{
	c->next = ep->conns;
	if (ep->conns)
		ep->conns->prev = c;
	ep->conns = c;
	ep->n_conns++;
}

static void conn_free(struct stoq_conn *c)
{
	struct stoq_endpoint *ep = c->ep;

	cid_table_del_conn(ep, c);
	stoq_h3_conn_free(c);
	if (c->q)
		ngtcp2_conn_del(c->q);
	if (c->ssl)
		wolfSSL_free(c->ssl);
	if (c->prev)
		c->prev->next = c->next;
	else if (ep->conns == c)
		ep->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	ep->n_conns--;
	ep->st.conns_closed++;
	free(c);
}

static void path_of(struct stoq_conn *c, ngtcp2_path *p, const struct sockaddr *remote,
		    socklen_t rlen)
{
	p->local.addr = (ngtcp2_sockaddr *)&c->ep->local;
	p->local.addrlen = c->ep->local_len;
	p->remote.addr = (ngtcp2_sockaddr *)remote;
	p->remote.addrlen = rlen;
	p->user_data = NULL;
}

static void conn_enter_closing(struct stoq_conn *c, const ngtcp2_connection_close_error *ccerr,
			       uint64_t now)
{
	ngtcp2_path_storage ps;
	ngtcp2_pkt_info pi = { 0 };
	ngtcp2_ssize n;

	if (c->closing || c->draining)
		return;
	ngtcp2_path_storage_zero(&ps);
	/* RFC 9000 §10.2.1: keep the CONNECTION_CLOSE and repeat it on packets. */
	n = ngtcp2_conn_write_connection_close(c->q, &ps.path, &pi, c->close_pkt,
					       sizeof(c->close_pkt), ccerr, now);
	c->closing = true;
	c->close_deadline = now + 3 * ngtcp2_conn_get_pto(c->q);
	if (n > 0) {
		c->close_len = (size_t)n;
		c->close_resend = true;
	} else {
		c->dead = true;
	}
}

/* An ngtcp2 call failed with @rv: decide between draining, closing, dropping. */
static void conn_fail(struct stoq_conn *c, int rv, uint64_t now)
{
	ngtcp2_connection_close_error ccerr;
	char why[200];

	switch (rv) {
	case NGTCP2_ERR_DRAINING:
		/* RFC 9000 §10.2.2: the peer closed; say nothing more. */
		ngtcp2_conn_get_connection_close_error(c->q, &ccerr);
		describe_ccerr(why, sizeof(why), &ccerr);
		if (ccerr.error_code != 0 && ccerr.error_code != NGHTTP3_H3_NO_ERROR)
			stoq_conn_set_error(c, "peer closed the connection: %s", why);
		c->draining = true;
		c->close_deadline = now + 3 * ngtcp2_conn_get_pto(c->q);
		return;
	case NGTCP2_ERR_RECV_VERSION_NEGOTIATION: {
		char list[100] = "";
		size_t off = 0;

		for (size_t i = 0; i < c->n_vn && off < sizeof(list) - 12; i++)
			off += (size_t)snprintf(list + off, sizeof(list) - off, "%s0x%08x",
						i ? ", " : "", c->vn_versions[i]);
		/* RFC 9000 §6.2: a client abandons the attempt on Version Negotiation. */
		stoq_conn_set_error(c,
				    "version negotiation failed: server does not support QUIC "
				    "version 0x%08x (it offers %s)",
				    c->ep->cfg.quic_version, off ? list : "nothing");
		c->dead = true;
		return;
	}
	case NGTCP2_ERR_DROP_CONN:
		c->dead = true;
		return;
	case NGTCP2_ERR_CRYPTO: {
		uint8_t alert = ngtcp2_conn_get_tls_alert(c->q);
		long vr = c->ssl ? wolfSSL_get_verify_result(c->ssl) : 0;
		int e = c->ssl ? wolfSSL_get_error(c->ssl, 0) : 0;
		char wbuf[120] = "";

		if (e != 0)
			wolfSSL_ERR_error_string_n((unsigned long)e, wbuf, sizeof(wbuf));
		if (vr != 0)
			stoq_conn_set_error(c,
					    "TLS handshake failed: server certificate verification "
					    "failed (X509 verify error %ld; alert %u %s)",
					    vr, alert, tls_alert_name(alert));
		else
			stoq_conn_set_error(c, "TLS handshake failed: alert %u (%s)%s%s", alert,
					    tls_alert_name(alert), wbuf[0] ? "; wolfSSL: " : "",
					    wbuf);
		ngtcp2_connection_close_error_set_transport_error_tls_alert(&ccerr, alert, NULL, 0);
		break;
	}
	default:
		stoq_conn_set_error(c, "QUIC error: %s", ngtcp2_strerror(rv));
		ngtcp2_connection_close_error_set_transport_error_liberr(&ccerr, rv, NULL, 0);
		break;
	}
	HM_DEBUG(STOQ_LOG, "closing connection: %s", c->err);
	conn_enter_closing(c, &ccerr, now);
}

static int conn_init_common(struct stoq_conn *c, const char *host)
{
	if (tls_conn_create(c, host) < 0) {
		stoq_conn_set_error(c, "TLS session setup failed");
		return -EINVAL;
	}
	return 0;
}

struct stoq_conn *stoq_conn_connect(struct stoq_endpoint *ep, const struct sockaddr *remote,
				    socklen_t remote_len, const char *host, uint64_t now)
{
	ngtcp2_callbacks cb;
	ngtcp2_settings s;
	ngtcp2_transport_params p;
	ngtcp2_cid dcid, scid;
	ngtcp2_path path;
	struct stoq_conn *c;
	int rv;

	if (ep->server || remote_len > sizeof(struct sockaddr_storage)) {
		errno = EINVAL;
		return NULL;
	}
	c = conn_alloc(ep, remote, remote_len, false, now);
	if (!c) {
		errno = ENOMEM;
		return NULL;
	}
	snprintf(c->authority, sizeof(c->authority), "%s", host);
	/* RFC 9000 §7.2: the first DCID is unpredictable and >= 8 octets. */
	dcid.datalen = 18;
	if (wc_RNG_GenerateBlock(&ep->rng, dcid.data, (word32)dcid.datalen) != 0 ||
	    new_cid(ep, &scid) < 0)
		goto err_free;
	fill_callbacks(&cb, false);
	fill_settings(ep, &s, now);
	fill_params(ep, &p);
	path_of(c, &path, (const struct sockaddr *)&c->remote, c->remote_len);
	rv = ngtcp2_conn_client_new(&c->q, &dcid, &scid, &path, ep->cfg.quic_version, &cb, &s, &p,
				    NULL, c);
	if (rv != 0) {
		HM_ERR(STOQ_LOG, "ngtcp2_conn_client_new: %s", ngtcp2_strerror(rv));
		goto err_free;
	}
	if (conn_init_common(c, host) < 0)
		goto err_del_conn;
	if (stoq_cid_table_add(ep, scid.data, scid.datalen, c) < 0)
		goto err_del_conn;
	if (ep->cfg.session_file[0])
		resume(c);
	conn_link(ep, c);
	return c;

err_del_conn:
	cid_table_del_conn(ep, c);
	if (c->ssl)
		wolfSSL_free(c->ssl);
	ngtcp2_conn_del(c->q);
err_free:
	free(c);
	errno = EINVAL;
	return NULL;
}

/* Server: a valid first Initial (after Retry if configured) makes a connection. */
static struct stoq_conn *conn_accept(struct stoq_endpoint *ep, const ngtcp2_pkt_hd *hd,
				     const struct sockaddr *remote, socklen_t rlen,
				     const ngtcp2_cid *odcid, const ngtcp2_cid *retry_scid,
				     uint64_t now)
{
	ngtcp2_callbacks cb;
	ngtcp2_settings s;
	ngtcp2_transport_params p;
	ngtcp2_cid scid;
	ngtcp2_path path;
	struct stoq_conn *c;
	int rv;

	c = conn_alloc(ep, remote, rlen, true, now);
	if (!c)
		return NULL;
	if (new_cid(ep, &scid) < 0)
		goto err_free;
	fill_callbacks(&cb, true);
	fill_settings(ep, &s, now);
	fill_params(ep, &p);
	if (retry_scid) {
		/* The token proved the address (RFC 9000 §8.1.2). */
		s.token = hd->token;
		p.retry_scid = *retry_scid;
		p.retry_scid_present = 1;
	}
	p.original_dcid = *odcid;
	p.stateless_reset_token_present = 1;
	if (stoq_token_reset(&ep->keys, scid.data, scid.datalen, p.stateless_reset_token) < 0)
		goto err_free;
	path_of(c, &path, (const struct sockaddr *)&c->remote, c->remote_len);
	rv = ngtcp2_conn_server_new(&c->q, &hd->scid, &scid, &path, hd->version, &cb, &s, &p, NULL,
				    c);
	if (rv != 0) {
		HM_WARN(STOQ_LOG, "ngtcp2_conn_server_new: %s", ngtcp2_strerror(rv));
		goto err_free;
	}
	if (conn_init_common(c, NULL) < 0)
		goto err_del_conn;
	/* The client keeps using its first DCID until it sees our SCID. */
	if (stoq_cid_table_add(ep, scid.data, scid.datalen, c) < 0 ||
	    stoq_cid_table_add(ep, hd->dcid.data, hd->dcid.datalen, c) < 0)
		goto err_del_conn;
	conn_link(ep, c);
	return c;

err_del_conn:
	cid_table_del_conn(ep, c);
	if (c->ssl)
		wolfSSL_free(c->ssl);
	ngtcp2_conn_del(c->q);
err_free:
	free(c);
	return NULL;
}

/* ---- stateless packets ---- */

static struct stoq_pending *pend_slot(struct stoq_endpoint *ep, const struct sockaddr *remote,
				      socklen_t rlen)
{
	struct stoq_pending *p;

	if (ep->n_pend >= STOQ_PEND_MAX)
		return NULL; /* a flood of them: dropping is the right answer */
	p = &ep->pend[ep->n_pend];
	memcpy(&p->remote, remote, rlen);
	p->remote_len = rlen;
	return p;
}

static void send_version_negotiation(struct stoq_endpoint *ep, const ngtcp2_version_cid *vc,
				     const struct sockaddr *remote, socklen_t rlen)
{
	static const uint32_t sv[] = { NGTCP2_PROTO_VER_V1 };
	struct stoq_pending *p = pend_slot(ep, remote, rlen);
	uint8_t r;
	ngtcp2_ssize n;

	if (!p)
		return;
	wc_RNG_GenerateBlock(&ep->rng, &r, 1);
	/* RFC 9000 §17.2.1: echo the client's CIDs swapped. */
	n = ngtcp2_pkt_write_version_negotiation(p->data, sizeof(p->data), r, vc->scid, vc->scidlen,
						 vc->dcid, vc->dcidlen, sv, 1);
	if (n > 0) {
		p->len = (size_t)n;
		ep->n_pend++;
		ep->st.vn_sent++;
	}
}

static void send_retry(struct stoq_endpoint *ep, const ngtcp2_pkt_hd *hd,
		       const struct sockaddr *remote, socklen_t rlen, uint64_t now)
{
	struct stoq_pending *p = pend_slot(ep, remote, rlen);
	uint8_t token[STOQ_TOKEN_LEN];
	ngtcp2_cid scid;
	ngtcp2_ssize n;
	int tl;

	if (!p || new_cid(ep, &scid) < 0)
		return;
	tl = stoq_token_retry_make(&ep->keys, remote, rlen, scid.data, scid.datalen, hd->dcid.data,
				   hd->dcid.datalen, now,
				   (uint64_t)ep->cfg.retry_token_lifetime_ms * NGTCP2_MILLISECONDS,
				   token, sizeof(token));
	if (tl < 0)
		return;
	n = ngtcp2_crypto_write_retry(p->data, sizeof(p->data), hd->version, &hd->scid, &scid,
				      &hd->dcid, token, (size_t)tl);
	if (n > 0) {
		p->len = (size_t)n;
		ep->n_pend++;
		ep->st.retries_sent++;
	}
}

static void send_stateless_reset(struct stoq_endpoint *ep, const ngtcp2_version_cid *vc,
				 size_t pktlen, const struct sockaddr *remote, socklen_t rlen)
{
	uint8_t token[NGTCP2_STATELESS_RESET_TOKENLEN], rnd[64];
	struct stoq_pending *p;
	size_t randlen;
	ngtcp2_ssize n;

	/*
	 * RFC 9000 §10.3.3: a reset must be shorter than the packet that caused
	 * it, or two endpoints could reset each other forever; 41 octets is the
	 * size that is indistinguishable from a short packet with a 20-octet CID.
	 */
	if (pktlen <= 41 || vc->dcidlen != ep->cfg.cid_len)
		return;
	randlen = pktlen - 1 - NGTCP2_STATELESS_RESET_TOKENLEN - 1;
	if (randlen > sizeof(rnd))
		randlen = sizeof(rnd);
	p = pend_slot(ep, remote, rlen);
	if (!p || stoq_token_reset(&ep->keys, vc->dcid, vc->dcidlen, token) < 0)
		return;
	wc_RNG_GenerateBlock(&ep->rng, rnd, (word32)randlen);
	n = ngtcp2_pkt_write_stateless_reset(p->data, sizeof(p->data), token, rnd, randlen);
	if (n > 0) {
		p->len = (size_t)n;
		ep->n_pend++;
		ep->st.resets_sent++;
	}
}

/* nghttp3 failed with @rv: the connection closes with its error code. */
static void h3_fail(struct stoq_conn *c, int rv, uint64_t now)
{
	ngtcp2_connection_close_error e;

	stoq_conn_set_error(c, "HTTP/3: %s", nghttp3_strerror(rv));
	ngtcp2_connection_close_error_set_application_error(
		&e, nghttp3_err_infer_quic_app_error_code(rv), NULL, 0);
	conn_enter_closing(c, &e, now);
}

/* ---- receive ---- */

static void conn_read(struct stoq_conn *c, const uint8_t *data, size_t len,
		      const struct sockaddr *remote, socklen_t rlen, uint8_t ecn, uint64_t now)
{
	ngtcp2_path path;
	ngtcp2_pkt_info pi = { .ecn = ecn };
	bool was_established = c->established;
	int rv;

	if (c->dead || c->draining)
		return;
	if (c->closing) {
		c->close_resend = true;
		return;
	}
	path_of(c, &path, remote, rlen);
	rv = ngtcp2_conn_read_pkt(c->q, &path, &pi, data, len, now);
	if (!was_established && c->established) {
		c->t_hs = now - c->t_start;
		hm_hist_add(c->ep->st.handshake_ns, c->t_hs);
	}
	if (rv != 0) {
		c->ack_n = 0;
		conn_fail(c, rv, now);
	} else if ((rv = h3_ack_flush(c)) != 0) {
		h3_fail(c, rv, now);
	}
}

static void recv_one(struct stoq_endpoint *ep, const uint8_t *data, size_t len,
		     const struct sockaddr *remote, socklen_t rlen, uint8_t ecn, uint64_t now)
{
	ngtcp2_version_cid vc;
	ngtcp2_pkt_hd hd;
	ngtcp2_cid odcid, retry_scid;
	struct stoq_conn *c;
	int rv;

	rv = ngtcp2_pkt_decode_version_cid(&vc, data, len, ep->cfg.cid_len);
	if (rv == NGTCP2_ERR_VERSION_NEGOTIATION) {
		if (ep->server)
			send_version_negotiation(ep, &vc, remote, rlen);
		else
			ep->st.dropped++;
		return;
	}
	if (rv != 0) {
		ep->st.dropped++;
		return;
	}
	c = stoq_cid_table_find(ep, vc.dcid, vc.dcidlen);
	if (c) {
		conn_read(c, data, len, remote, rlen, ecn, now);
		return;
	}
	if (!ep->server) {
		ep->st.dropped++;
		return;
	}
	if (!(data[0] & 0x80)) {
		send_stateless_reset(ep, &vc, len, remote, rlen);
		ep->st.dropped++;
		return;
	}
	if (ngtcp2_accept(&hd, data, len) != 0) {
		ep->st.dropped++;
		return;
	}
	odcid = hd.dcid;
	if (ep->cfg.retry) {
		uint8_t od[STOQ_CID_MAX];
		size_t odlen = 0;

		if (hd.type != NGTCP2_PKT_INITIAL) {
			ep->st.dropped++; /* 0-RTT before the address is proven */
			return;
		}
		if (hd.token.len == 0) {
			send_retry(ep, &hd, remote, rlen, now);
			return;
		}
		rv = stoq_token_retry_check(&ep->keys, remote, rlen, hd.dcid.data, hd.dcid.datalen,
					    hd.token.base, hd.token.len, now, od, &odlen);
		if (rv == -ETIMEDOUT) {
			send_retry(ep, &hd, remote, rlen, now);
			return;
		}
		if (rv < 0) {
			/* RFC 9000 §8.1.3: a token we cannot use is dropped, not trusted. */
			ep->st.dropped++;
			return;
		}
		ngtcp2_cid_init(&odcid, od, odlen);
		retry_scid = hd.dcid;
	}
	c = conn_accept(ep, &hd, remote, rlen, &odcid, ep->cfg.retry ? &retry_scid : NULL, now);
	if (!c) {
		ep->st.dropped++;
		return;
	}
	conn_read(c, data, len, remote, rlen, ecn, now);
	/*
	 * An Initial that did not decrypt (ngtcp2: drop the connection) leaves
	 * it dead before it did anything: freed now, not at the next timer,
	 * which a server whose connections are idle may not have for a long
	 * time. Without retry, a flood of such datagrams from forged addresses
	 * held one ngtcp2 connection and TLS object each (10,000 of them: 430
	 * MB) until a timer fired.
	 */
	if (c->dead) {
		ep->st.dropped++;
		conn_free(c);
	}
}

int stoq_endpoint_recv(struct stoq_endpoint *ep, const struct stoq_dgram *d, uint64_t now)
{
	ep->now = now;
	size_t seg = d->segsize && d->segsize < d->len ? d->segsize : d->len;

	/* GRO hands several datagrams of one flow in one buffer, each @seg long. */
	for (size_t off = 0; off < d->len; off += seg) {
		size_t n = d->len - off < seg ? d->len - off : seg;

		ep->st.rx_dgrams++;
		ep->st.rx_bytes += n;
		recv_one(ep, d->data + off, n, (const struct sockaddr *)&d->remote, d->remote_len,
			 d->ecn & 3, now);
	}
	return 0;
}

/* ---- send ---- */

/*
 * What nghttp3 handed out for one stream and ngtcp2 has not yet taken: the
 * rest of a vector, so the next packet of a train takes it from here
 * instead of asking nghttp3 again (its scheduler and outq walk were ~7 %
 * of the server's time, once per packet).
 */
struct h3_out {
	int64_t sid; /* -1: nothing held */
	int fin;
	nghttp3_vec vec[16];
	size_t nvec;
};

/*
 * Drop @n bytes from the front of @o, as nghttp3_conn_add_write_offset()
 * drops them from the stream: what remains is a prefix of what
 * nghttp3_conn_writev_stream() would return next, since nothing else adds
 * to the stream in between. Emptied, @o holds nothing (a FIN goes with the
 * last bytes, so it has been written too).
 */
static void h3_out_clear(struct h3_out *o)
{
	o->sid = -1;
	o->fin = 0;
	o->nvec = 0;
}

static void h3_out_consume(struct h3_out *o, size_t n)
{
	size_t i = 0;

	while (i < o->nvec && n >= o->vec[i].len)
		n -= o->vec[i++].len;
	if (i < o->nvec) {
		o->vec[i].base += n;
		o->vec[i].len -= n;
	}
	if (i) { /* most packets end inside the first vector: nothing moves */
		memmove(o->vec, o->vec + i, (o->nvec - i) * sizeof(o->vec[0]));
		o->nvec -= i;
	}
	if (o->nvec == 0)
		h3_out_clear(o);
}

/*
 * Ask for the body bytes a little past where the next packet starts
 * copying. ngtcp2 copies each packet's stream data from the file's pages
 * (cold: a body is read once) into the packet, most of that waiting for
 * memory. Measured on perf/bench_stoq_ring (alternating runs): no
 * prefetch -> a page ahead, +20 % per server core with 1444-byte packets;
 * since AES-GCM runs on VAES a packet is sealed sooner, and 1 KiB ahead
 * beat a page ahead (median +1.9 %, ahead 7 of 10; loopback per server CPU
 * second +3.5 %, 5 of 6; 256 B to 1.25 KiB alike, 0 worse). Packets of
 * H3_PREFETCH_MAX or more skip that: with 8952-byte packets asking for
 * every line cost 2-4 % at any distance (that many prefetches in a row
 * wait for fill buffers, and the hardware prefetcher keeps up with a copy
 * that long)...
 *
 * ...except where it cannot: it follows a stream only within a 4 KiB
 * page, so at each page of the body the copy (glibc's rep movsb, one
 * instruction holding the core) waited for memory anew. With 8952-byte
 * packets it was 27 % of a server's samples on loopback, 3.9 bytes a
 * cycle. So every packet also asks for the first H3_PREFETCH_PAGE_LINES
 * lines of each page starting in the next packet's worth of body a little
 * ahead, which gets the page's translation and the stream going before
 * the copy arrives. bench_stoq_ring, alternating (2026-12-05): 8952-byte
 * packets +5 % (28.0-29.1 -> 29.2-30.7 Gbit/s per core, every run ahead;
 * 1, 2, 8 and 16 lines alike or a little behind 4); loopback, per server
 * CPU second, +3-6 % (3 of 3 pairs); 1452-byte packets +2.7 % median
 * (ahead 7 of 8) with the pages 2 KiB ahead, nothing with them 4 KiB
 * ahead, and 18.7 against 23.4 Gbit/s with the page starts alone instead
 * of every line: small packets need both.
 */
#define H3_PREFETCH_AHEAD 1024
#define H3_PREFETCH_MAX 4096
#define H3_PREFETCH_PAGE 4096
#define H3_PREFETCH_PAGE_LINES 4

/* always_inline: out of line, GCC takes a function that only prefetches for
 * one without effects and drops the call. */
static inline __attribute__((always_inline)) void h3_out_prefetch(const struct h3_out *o, size_t n)
{
	uintptr_t base, from, to;
	size_t ahead;

	if (!o->nvec)
		return;
	base = (uintptr_t)o->vec[0].base;
	ahead = n < H3_PREFETCH_MAX ? 2048 : 4096;
	if (o->vec[0].len > ahead) {
		from = base + ahead;
		to = base + (o->vec[0].len < ahead + n ? o->vec[0].len : ahead + n);
		/* A prefetch never faults, so the lines past the body's end are
		 * harmless; the pages themselves are in range. */
		for (uintptr_t pg = (from + H3_PREFETCH_PAGE - 1) & ~(uintptr_t)(H3_PREFETCH_PAGE - 1);
		     pg < to; pg += H3_PREFETCH_PAGE)
			for (unsigned l = 0; l < H3_PREFETCH_PAGE_LINES; l++)
				__builtin_prefetch((const void *)(pg + 64 * l));
	}
	if (n >= H3_PREFETCH_MAX || o->vec[0].len <= H3_PREFETCH_AHEAD)
		return;
	if (n > o->vec[0].len - H3_PREFETCH_AHEAD)
		n = o->vec[0].len - H3_PREFETCH_AHEAD;
	for (size_t i = 0; i < n; i += 64)
		__builtin_prefetch((const uint8_t *)base + H3_PREFETCH_AHEAD + i);
}

/*
 * The body bytes ngtcp2 took from one stream, told to nghttp3 once per
 * train rather than after each packet (nghttp3_conn_add_write_offset() had
 * ~5 % of the server's unwound samples in a DWARF profile of
 * bench_stoq_ring, one call per packet). nghttp3 needs them before it is
 * asked for that stream's data again or the stream is blocked or shut,
 * and before any acknowledgement is read: all of these happen after a
 * flush.
 */
struct h3_taken {
	int64_t sid;
	size_t n;
};

static int h3_taken_flush(struct stoq_conn *c, struct h3_taken *t)
{
	int rv = 0;

	if (t->n)
		rv = nghttp3_conn_add_write_offset(c->h3, t->sid, t->n);
	t->n = 0;
	return rv;
}

/*
 * Where conn_write() puts a train: one packet after another in @buf (for a
 * socket, UDP GSO splits them), or, with @pk, one packet in each of the
 * back end's buffers pk[0..npk-1] (written in place, stoq_dgram.bufs).
 * Either way the train holds at most @buflen bytes.
 */
struct tx_dst {
	uint8_t *buf;
	size_t buflen;
	struct stoq_txbuf *pk;
	size_t npk;
	size_t used; /* out: packets written (buffers of @pk taken) */
};

/*
 * Write up to gso_segments packets of one connection into @t, all of the
 * same size except maybe the last, so the kernel can split them (UDP GSO).
 */
static size_t conn_write_train(struct stoq_conn *c, struct tx_dst *t, size_t *segsize,
			       uint8_t *ecn, struct sockaddr_storage *remote, socklen_t *rlen,
			       bool *probe, uint64_t now)
{
	const struct stoq_config *cfg = &c->ep->cfg;
	size_t mtu = ngtcp2_conn_get_path_max_tx_udp_payload_size(c->q);
	size_t max_mtu = ngtcp2_conn_get_max_tx_udp_payload_size(c->q);
	size_t max_pkts = cfg->gso_segments, npkts = 0, off = 0, first = 0;
	struct h3_out o;
	struct h3_taken taken = { .sid = -1 };
	ngtcp2_path_storage ps;
	int rv;

	if (cfg->pacing) {
		size_t q = ngtcp2_conn_get_send_quantum(c->q) / mtu;

		max_pkts = q < 1 ? 1 : (q < max_pkts ? q : max_pkts);
	}
	ngtcp2_path_storage_zero(&ps);
	h3_out_clear(&o);
	*probe = false;
	t->used = 0;
	/*
	 * The first packet of a train gets room for the largest size allowed,
	 * not just the path's current one: ngtcp2 sends a path MTU probe only
	 * into a buffer it fits, and with room for 1200 bytes the probes (1406
	 * and 1444 bytes) never went out, so every connection stayed at 1200.
	 * Other packets are held to the path's size by ngtcp2 itself. A probe
	 * (a first packet over that size) goes alone: a path that refuses it
	 * (EMSGSIZE) then loses no data with it.
	 */
	while (npkts < max_pkts) {
		size_t room = npkts ? mtu : max_mtu;
		ngtcp2_ssize ndatalen = -1, nw;
		ngtcp2_pkt_info pi = { 0 };
		uint32_t flags = NGTCP2_WRITE_STREAM_FLAG_MORE;
		uint8_t *at;

		if (off + room > t->buflen)
			break;
		if (t->pk) {
			if (npkts == t->npk)
				break;
			/* A probe larger than the buffer could not leave the port either. */
			if (room > t->pk[npkts].room)
				room = t->pk[npkts].room;
			at = t->pk[npkts].data;
		} else {
			at = t->buf + off;
		}

		if (!c->h3 || !ngtcp2_conn_get_max_data_left(c->q)) {
			h3_out_clear(&o);
		} else if (o.sid < 0) {
			nghttp3_ssize nvec = h3_taken_flush(c, &taken);

			if (nvec == 0)
				nvec = nghttp3_conn_writev_stream(c->h3, &o.sid, &o.fin, o.vec, 16);
			if (nvec < 0) {
				h3_fail(c, (int)nvec, now);
				return 0;
			}
			o.nvec = (size_t)nvec;
		}
		if (o.fin)
			flags |= NGTCP2_WRITE_STREAM_FLAG_FIN;
		nw = ngtcp2_conn_writev_stream(c->q, &ps.path, &pi, at, room, &ndatalen, flags,
					       o.sid, (const ngtcp2_vec *)o.vec, o.nvec, now);
		if (ndatalen >= 0 && o.sid >= 0) {
			if (taken.sid != o.sid && (rv = h3_taken_flush(c, &taken)) != 0) {
				h3_fail(c, rv, now);
				return 0;
			}
			taken.sid = o.sid;
			taken.n += (size_t)ndatalen;
			h3_out_consume(&o, (size_t)ndatalen);
			h3_out_prefetch(&o, (size_t)ndatalen);
		}
		if (nw < 0) {
			int64_t sid = o.sid;

			if ((rv = h3_taken_flush(c, &taken)) != 0) {
				h3_fail(c, rv, now);
				return 0;
			}
			h3_out_clear(&o); /* ask nghttp3 again: the stream may have changed */
			if (nw == NGTCP2_ERR_STREAM_DATA_BLOCKED) {
				nghttp3_conn_block_stream(c->h3, sid);
				continue;
			}
			if (nw == NGTCP2_ERR_STREAM_SHUT_WR) {
				nghttp3_conn_shutdown_stream_write(c->h3, sid);
				continue;
			}
			if (nw == NGTCP2_ERR_WRITE_MORE)
				continue;
			conn_fail(c, (int)nw, now);
			return 0;
		}
		if (nw == 0)
			break;
		if (npkts == 0) {
			first = (size_t)nw;
			*ecn = (uint8_t)pi.ecn;
			memcpy(remote, ps.path.remote.addr, ps.path.remote.addrlen);
			*rlen = ps.path.remote.addrlen;
		}
		if (t->pk)
			t->pk[npkts].len = (uint16_t)nw;
		off += (size_t)nw;
		t->used = ++npkts;
		if ((size_t)nw > mtu) {
			*probe = true;
			break;
		}
		if ((size_t)nw < first)
			break; /* a short packet ends a GSO train */
		/*
		 * Nor may a train that is cut at its first packet's length
		 * (UDP GSO, stoq_io_send()) go on after a short first one: the
		 * next packets, written to the path's size, would be cut at that
		 * length and arrive as pieces no peer can read. With 8952-byte
		 * packets ngtcp2's PMTU probes (1406, 1444) headed such trains,
		 * and every connection lost its first flight to it.
		 */
		if (!t->pk && npkts == 1 && first < mtu)
			break;
	}
	/* The packets written are sent even so: ngtcp2 counts them in flight. */
	if ((rv = h3_taken_flush(c, &taken)) != 0)
		h3_fail(c, rv, now);
	if (off && cfg->pacing) {
		ngtcp2_conn_stat st;

		/*
		 * ngtcp2 paces at the congestion window over the smoothed RTT,
		 * which before the first RTT sample is the 333 ms default (RFC
		 * 9002 §6.2.2): pacing the Initial or the server's first flight
		 * held the next packet back by its length over cwnd / 333 ms, the
		 * client's Finished and the server's first response bytes ~26 ms
		 * with 1452-byte packets and ~130 ms with 8952. Pace from the first
		 * sample on; the bytes written before it are paced then.
		 */
		ngtcp2_conn_get_conn_stat(c->q, &st);
		if (st.first_rtt_sample_ts != UINT64_MAX)
			ngtcp2_conn_update_pkt_tx_time(c->q, now);
	}
	*segsize = first;
	return off;
}

/*
 * A body's page could not be read under ngtcp2's copy into a packet: the
 * SIGBUS guard put zeros there (stoq_guard.c). The train that holds them
 * is dropped (conn_write returns 0) and the connection closed, so that no
 * packet of it, first sent or retransmitted, carries them.
 */
static void conn_body_fault(struct stoq_conn *c, uint64_t now)
{
	/* A server's bodies are responses; a client's, PUT requests. */
	const char *why = c->server ? "response body unreadable" : "request body unreadable";
	ngtcp2_connection_close_error e;

	stoq_h3_body_errors(c);
	stoq_conn_set_error(c, "a %s body could not be read (file cut short or unreadable)",
			    c->server ? "response" : "request");
	ngtcp2_connection_close_error_set_application_error(&e, NGHTTP3_H3_INTERNAL_ERROR,
							    (const uint8_t *)why, strlen(why));
	conn_enter_closing(c, &e, now);
}

/* conn_write_train() under the SIGBUS guard; 0 when it wrote nothing to send. */
static size_t conn_write(struct stoq_conn *c, struct tx_dst *t, size_t *segsize, uint8_t *ecn,
			 struct sockaddr_storage *remote, socklen_t *rlen, bool *probe,
			 uint64_t now)
{
	size_t len;
	int rv;

	stoq_guard_conn = c;
	len = conn_write_train(c, t, segsize, ecn, remote, rlen, probe, now);
	stoq_guard_conn = NULL;
	/* Zeros under a copy from a mapping other connections' GETs share
	 * (stoq_fcache.c): mark every connection sending from it, this one
	 * included, once. Each drops the train it writes next and closes. */
	if (__builtin_expect(c->ep->fcache.poisoned != c->ep->fcache.swept, 0)) {
		for (struct stoq_conn *o = c->ep->conns; o; o = o->next)
			stoq_h3_body_poisoned(o);
		c->ep->fcache.swept = c->ep->fcache.poisoned;
	}
	if (c->body_fault) {
		conn_body_fault(c, now);
		return 0;
	}
	if (c->body_reset && (rv = stoq_h3_body_errors(c)) != 0) {
		conn_fail(c, rv, now);
		return 0;
	}
	return len;
}

/*
 * Make sure @ep->txpk holds @want back-end buffers past *@used (it holds
 * *@got from the start); false when the back end has none to give.
 */
static bool txpk_fill(struct stoq_endpoint *ep, struct stoq_io *io, const struct stoq_io_ops *ops,
		      size_t *got, size_t used, size_t want)
{
	/* used + want <= STOQ_TX_BATCH * STOQ_GSO_MAX: one train per slot. */
	if (*got - used < want)
		*got += ops->tx_get(io, ep->txpk + *got, want - (*got - used));
	return *got > used;
}

/* @io NULL, or a back end without tx_get: the trains go to ep->txbuf. */
size_t stoq_endpoint_send_io(struct stoq_endpoint *ep, struct stoq_io *io,
			     struct stoq_dgram *out, size_t max, uint64_t now)
{
	const struct stoq_io_ops *ops = io ? stoq_io_ops_of(io) : NULL;
	bool inplace = ops && ops->tx_get;
	size_t n = 0, slot = 0, got = 0, used = 0;
	size_t want = ep->cfg.gso_segments < STOQ_GSO_MAX ? ep->cfg.gso_segments : STOQ_GSO_MAX;
	bool progress = true;

	ep->now = now;
	if (max > STOQ_TX_BATCH)
		max = STOQ_TX_BATCH;
	/* Stateless packets live in ep->pend until the next call: hand them out once. */
	for (struct stoq_conn *c = ep->conns; c && n < max; c = c->next) {
		if (c->closing && c->close_resend && c->close_len) {
			out[n] = (struct stoq_dgram){ .data = c->close_pkt, .len = c->close_len };
			memcpy(&out[n].remote, &c->remote, c->remote_len);
			out[n].remote_len = c->remote_len;
			c->close_resend = false;
			n++;
		}
	}
	while (ep->n_pend && n < max) {
		struct stoq_pending *p = &ep->pend[--ep->n_pend];

		out[n] = (struct stoq_dgram){ .data = p->data, .len = p->len };
		out[n].remote = p->remote;
		out[n].remote_len = p->remote_len;
		n++;
	}
	/* Streams whose chunk the pager has read go on now (stoq_pager.c). */
	for (struct stoq_conn *c = ep->conns; c && ep->n_paging; c = c->next) {
		int rv;

		if (c->n_paging && !c->closing && !c->draining && !c->dead &&
		    (rv = stoq_h3_paged(c)) != 0)
			conn_fail(c, rv, now);
	}
	/* Round-robin: one GSO train per connection per pass keeps them fair. */
	while (progress && n < max && slot < STOQ_TX_BATCH) {
		progress = false;
		for (struct stoq_conn *c = ep->conns; c && n < max && slot < STOQ_TX_BATCH;
		     c = c->next) {
			struct stoq_dgram *d = &out[n];
			struct tx_dst t = { .buflen = ep->txslot };
			size_t len;

			if (c->closing || c->draining || c->dead)
				continue;
			if (inplace) {
				/* An empty pool holds the packets back in ngtcp2 until
				 * the next turn: none is written only to be dropped. */
				if (!txpk_fill(ep, io, ops, &got, used, want))
					goto out;
				t.pk = ep->txpk + used;
				t.npk = got - used;
			} else {
				t.buf = ep->txbuf + slot * ep->txslot;
			}
			len = conn_write(c, &t, &d->segsize, &d->ecn, &d->remote, &d->remote_len,
					 &d->probe, now);
			if (!len)
				continue; /* buffers it may have written are junk: reused */
			d->data = t.buf;
			d->len = len;
			d->bufs = t.pk;
			d->nbufs = t.pk ? t.used : 0;
			used += d->nbufs;
			slot++;
			n++;
			progress = true;
		}
	}
out:
	if (got > used)
		ops->tx_put(io, ep->txpk + used, got - used);
	for (size_t i = 0; i < n; i++) {
		size_t seg = out[i].segsize ? out[i].segsize : out[i].len;

		ep->st.tx_dgrams += out[i].bufs ? out[i].nbufs : (out[i].len + seg - 1) / seg;
		ep->st.tx_bytes += out[i].len;
	}
	return n;
}

size_t stoq_endpoint_send(struct stoq_endpoint *ep, struct stoq_dgram *out, size_t max,
			  uint64_t now)
{
	return stoq_endpoint_send_io(ep, NULL, out, max, now);
}

/* ---- timers ---- */

uint64_t stoq_endpoint_next_timer(struct stoq_endpoint *ep)
{
	uint64_t t = UINT64_MAX;

	for (struct stoq_conn *c = ep->conns; c; c = c->next) {
		uint64_t e;

		if (c->dead) {
			/* A server frees its dead connections in the timer at once
			 * (a client keeps them for its caller to read). */
			if (c->server)
				t = 0;
			continue;
		}
		e = (c->closing || c->draining) ? c->close_deadline : ngtcp2_conn_get_expiry(c->q);
		if (e < t)
			t = e;
	}
	if (ep->n_paging && ep->now + STOQ_PAGER_POLL_NS < t)
		t = ep->now + STOQ_PAGER_POLL_NS;
	if (ep->fcache.next < t) /* file mappings idle long enough to go */
		t = ep->fcache.next;
	return t;
}

void stoq_endpoint_on_timer(struct stoq_endpoint *ep, uint64_t now)
{
	ep->now = now;
	struct stoq_conn *c, *next;

	if (ep->fcache.next <= now)
		stoq_fcache_expire(&ep->fcache, now);
	for (c = ep->conns; c; c = next) {
		next = c->next;
		if (!c->dead && (c->closing || c->draining)) {
			if (now >= c->close_deadline)
				c->dead = true;
		} else if (!c->dead && ngtcp2_conn_get_expiry(c->q) <= now) {
			int rv = ngtcp2_conn_handle_expiry(c->q, now);

			if (rv == NGTCP2_ERR_IDLE_CLOSE) {
				/* RFC 9000 §10.1: idle timeout closes silently. */
				stoq_conn_set_error(c, "idle timeout (%u ms without packets)",
						    ep->cfg.idle_timeout_ms);
				c->dead = true;
			} else if (rv == NGTCP2_ERR_HANDSHAKE_TIMEOUT) {
				stoq_conn_set_error(c, "handshake timed out after %u ms",
						    ep->cfg.handshake_timeout_ms);
				c->dead = true;
			} else if (rv != 0) {
				conn_fail(c, rv, now);
			}
		}
		/* Servers forget dead connections; clients keep them for the caller to read. */
		if (c->dead && c->server)
			conn_free(c);
		else if (c->dead)
			stoq_h3_conn_free(c);
	}
}

/* ---- endpoint ---- */

struct stoq_endpoint *stoq_endpoint_create(const struct stoq_config *cfg, bool server,
					   const char *root, const struct sockaddr *local,
					   socklen_t local_len)
{
	struct stoq_endpoint *ep;
	char err[256], mnt[256];
	int rc;

	if (stoq_config_check(cfg, err, sizeof(err)) < 0) {
		HM_ERR(STOQ_LOG, "%s", err);
		errno = EINVAL;
		return NULL;
	}
	if (local_len > sizeof(struct sockaddr_storage)) {
		errno = EINVAL;
		return NULL;
	}
	ep = calloc(1, sizeof(*ep));
	if (!ep) {
		errno = ENOMEM;
		return NULL;
	}
	ep->cfg = *cfg;
	ep->server = server;
	ep->root_fd = -1;
	stoq_fcache_init(&ep->fcache, cfg->file_cache_bytes, cfg->file_cache_idle_ms);
	stoq_aead_use_wolfcrypt(cfg->aes_gcm == STOQ_AES_GCM_WOLFCRYPT);
	if (server) /* a server says it once at start; clients keep quiet */
		HM_INFO(STOQ_LOG, "AES-GCM packets on %s",
			stoq_aead_vaes() ? "VAES/AVX-512 (stoq_gcm)" : "wolfCrypt");
	memcpy(&ep->local, local, local_len);
	ep->local_len = local_len;
	if (server && root) {
		snprintf(ep->root, sizeof(ep->root), "%s", root);
		ep->root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (ep->root_fd < 0) {
			HM_ERR(STOQ_LOG, "root \"%s\": %s", root, strerror(errno));
			goto err_free_ep;
		}
		if (stoq_rootfs_small_pages(root, mnt, sizeof(mnt)) == 1)
			HM_INFO(STOQ_LOG,
				"root \"%s\" is on the tmpfs %s, in 4 KiB pages: a first GET "
				"maps each (~10 %% of a server's CPU); a tmpfs mounted "
				"huge=within_size holds files in 2 MiB pages",
				root, mnt);
		/* Its files are sent from shared mappings: see stoq_guard.c. */
		if ((errno = -stoq_guard_init()) != 0)
			goto err_close_root;
		if (cfg->body_read_threads &&
		    (rc = stoq_pager_create(cfg->body_read_threads, cfg->body_read_cpus,
					    &ep->pager)) != 0) {
			char cpus[256];

			if (hm_idlist_format(cfg->body_read_cpus, STOQ_MAX_CPUS, cpus, sizeof(cpus)) < 0)
				snprintf(cpus, sizeof(cpus), "(too many to list)");
			HM_ERR(STOQ_LOG, "starting %u body_read_threads%s%s: %s", cfg->body_read_threads,
			       cpus[0] ? " on body_read_cpus " : "", cpus,
			       rc == -EINVAL && cpus[0] ? "none of those CPUs is one this process may use"
							: strerror(-rc));
			errno = -rc;
			goto err_close_root;
		}
	}
	if (wc_InitRng(&ep->rng) != 0)
		goto err_close_root;
	if (stoq_cid_aes_init(&ep->cid_aes, cfg) < 0)
		goto err_free_rng;
	if (stoq_token_keys_init(&ep->keys, &ep->rng) < 0)
		goto err_free_cid;
	ep->txslot = STOQ_TRAIN_MAX; /* conn_write fills a slot with whole packets */
	ep->txbuf = malloc(ep->txslot * STOQ_TX_BATCH);
	if (!ep->txbuf)
		goto err_free_keys;
	if (tls_ctx_create(ep) < 0)
		goto err_free_txbuf;
	/* Not fatal: the server works without it, the files just stay. */
	if (server && root && (rc = stoq_sweep_start(ep->root, &ep->sweep)) < 0)
		HM_WARN(STOQ_LOG, "not looking for unfinished PUTs of earlier runs under %s: %s",
			ep->root, strerror(-rc));
	return ep;

err_free_txbuf:
	free(ep->txbuf);
err_free_keys:
	stoq_token_keys_fini(&ep->keys);
err_free_cid:
	hm_quiclb_aes_fini(&ep->cid_aes);
err_free_rng:
	wc_FreeRng(&ep->rng);
err_close_root:
	stoq_pager_destroy(ep->pager);
	if (ep->root_fd >= 0)
		close(ep->root_fd);
err_free_ep:
	free(ep);
	errno = EINVAL;
	return NULL;
}

void stoq_endpoint_destroy(struct stoq_endpoint *ep)
{
	if (!ep)
		return;
	stoq_sweep_stop(ep->sweep);
	while (ep->conns)
		conn_free(ep->conns);
	stoq_pager_destroy(ep->pager); /* after the requests: they release their jobs */
	stoq_fcache_clear(&ep->fcache); /* after both: the last to hold a mapping unmaps it */
	wolfSSL_CTX_free(ep->ctx);
	free(ep->txbuf);
	stoq_token_keys_fini(&ep->keys);
	hm_quiclb_aes_fini(&ep->cid_aes);
	wc_FreeRng(&ep->rng);
	if (ep->root_fd >= 0)
		close(ep->root_fd);
	free(ep);
}

size_t stoq_endpoint_conn_count(const struct stoq_endpoint *ep)
{
	return ep->n_conns;
}

void stoq_endpoint_stats(const struct stoq_endpoint *ep, struct stoq_endpoint_stats *out)
{
	*out = ep->st;
	out->pager_cpu_ns = stoq_pager_cpu_ns(ep->pager);
	out->file_cache_hits = ep->fcache.hits;
	out->file_cache_misses = ep->fcache.misses;
	out->file_cache_bytes = ep->fcache.bytes;
}

struct stoq_conn *stoq_endpoint_first_conn(struct stoq_endpoint *ep)
{
	return ep->conns;
}

/* ---- connection queries ---- */

bool stoq_conn_is_established(const struct stoq_conn *c)
{
	return c->established;
}

bool stoq_conn_is_closed(const struct stoq_conn *c)
{
	return c->dead || c->closing || c->draining;
}

size_t stoq_conn_pending(const struct stoq_conn *c)
{
	return c->n_queued + c->n_active;
}

const char *stoq_conn_last_error(const struct stoq_conn *c)
{
	return c->err;
}

uint64_t stoq_conn_handshake_ns(const struct stoq_conn *c)
{
	return c->t_hs;
}

size_t stoq_conn_scids(const struct stoq_conn *c, uint8_t (*out)[20], size_t *lens, size_t max)
{
	ngtcp2_cid cids[64];
	size_t n = ngtcp2_conn_get_num_scid(c->q);

	if (n > 64)
		return 0;
	n = ngtcp2_conn_get_scid(c->q, cids);
	if (n > max)
		n = max;
	for (size_t i = 0; i < n; i++) {
		memcpy(out[i], cids[i].data, cids[i].datalen);
		lens[i] = cids[i].datalen;
	}
	return n;
}

void stoq_conn_close(struct stoq_conn *c, uint64_t now)
{
	ngtcp2_connection_close_error e;

	if (c->dead || c->closing || c->draining)
		return;
	/* RFC 9114 §8.1: H3_NO_ERROR for a graceful close. */
	ngtcp2_connection_close_error_set_application_error(&e, NGHTTP3_H3_NO_ERROR, NULL, 0);
	conn_enter_closing(c, &e, now);
}
