/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * stoq_h3.c — the HTTP/3 mapping (RFC 9114) through nghttp3: a server that
 * serves files under a root (GET, HEAD, Range per RFC 9110 §14, PUT into the
 * root) and a client that issues GETs on many concurrent streams.
 *
 * Response bodies are read-only mappings of the files: nghttp3 keeps
 * pointers into them until QUIC acknowledges the bytes, so nothing is
 * copied between the page cache and the packet encryption.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hm_log.h"
#include "stoq_priv.h"

/* A response body goes to nghttp3 this much at a time, its pages mapped first. */
#define STOQ_BODY_CHUNK (2u << 20)

/* The page size, for madvise's alignment. */
static uintptr_t page_mask(void)
{
	static uintptr_t mask;

	if (!mask)
		mask = (uintptr_t)sysconf(_SC_PAGESIZE) - 1;
	return mask;
}

#define NV(n, v, vl)                                                                               \
	{ .name = (uint8_t *)(n), .value = (uint8_t *)(v), .namelen = sizeof(n) - 1,               \
	  .valuelen = (vl), .flags = NGHTTP3_NV_FLAG_NONE }

static struct stoq_req *req_new(struct stoq_conn *c)
{
	struct stoq_req *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->conn = c;
	r->t_start = c->ep->now;
	r->stream_id = -1;
	r->put_fd = -1;
	r->range_end = -1;
	r->lnext = c->reqs;
	if (c->reqs)
		c->reqs->lprev = r;
	c->reqs = r;
	return r;
}

void stoq_req_free(struct stoq_req *r)
{
	struct stoq_conn *c = r->conn;

	if (r->map)
		munmap(r->map, r->map_len);
	if (r->put_fd >= 0) {
		close(r->put_fd);
		unlink(r->put_tmp);
	}
	if (r->lprev)
		r->lprev->lnext = r->lnext;
	else
		c->reqs = r->lnext;
	if (r->lnext)
		r->lnext->lprev = r->lprev;
	free(r);
}

static void req_done(struct stoq_req *r, int status)
{
	if (r->done || r->conn->server)
		return;
	r->done = true;
	r->conn->ep->st.requests_done++;
	hm_hist_add(r->conn->ep->st.request_ns, r->conn->ep->now - r->t_start);
	if (r->ops && r->ops->on_done)
		r->ops->on_done(r->arg, status, r->bytes);
}

void stoq_h3_conn_free(struct stoq_conn *c)
{
	/* Requests never started or cut short learn that the connection is gone. */
	while (c->queue_head) {
		struct stoq_req *r = c->queue_head;

		c->queue_head = r->next;
		c->n_queued--;
		req_done(r, -ECONNABORTED);
		stoq_req_free(r);
	}
	c->queue_tail = NULL;
	while (c->reqs) {
		req_done(c->reqs, -ECONNABORTED);
		stoq_req_free(c->reqs);
	}
	c->n_active = 0;
	if (c->h3) {
		nghttp3_conn_del(c->h3);
		c->h3 = NULL;
	}
}

static void consume(struct stoq_conn *c, int64_t stream_id, size_t n)
{
	ngtcp2_conn_extend_max_stream_offset(c->q, stream_id, n);
	ngtcp2_conn_extend_max_offset(c->q, n);
}

/* ---- server side ---- */

/* Refuse "..", "." and empty segments so a path cannot leave the root. */
static int safe_rel_path(const char *path, char *out, size_t outlen)
{
	const char *p = path;
	size_t n;

	if (p[0] != '/')
		return -EINVAL;
	p++;
	n = strcspn(p, "?#");
	if (n == 0 || n >= outlen)
		return -EINVAL;
	memcpy(out, p, n);
	out[n] = '\0';
	for (char *seg = out; seg && *seg;) {
		char *slash = strchr(seg, '/');
		size_t sl = slash ? (size_t)(slash - seg) : strlen(seg);

		if (sl == 0 || (sl == 1 && seg[0] == '.') ||
		    (sl == 2 && seg[0] == '.' && seg[1] == '.'))
			return -EINVAL;
		seg = slash ? slash + 1 : NULL;
	}
	return 0;
}

/* RFC 9110 §14.1.2: "bytes=a-b", "bytes=a-", "bytes=-n"; one range only. */
static int parse_range(const char *v, size_t len, struct stoq_req *r)
{
	char buf[64], *end;
	const char *dash;

	if (len >= sizeof(buf) || len < 7 || memcmp(v, "bytes=", 6) != 0)
		return -EINVAL;
	memcpy(buf, v + 6, len - 6);
	buf[len - 6] = '\0';
	if (strchr(buf, ','))
		return -EINVAL;
	dash = strchr(buf, '-');
	if (!dash)
		return -EINVAL;
	if (dash == buf) {
		r->range_start = -1; /* suffix: last n bytes */
		r->range_end = strtoll(dash + 1, &end, 10);
		if (*end || r->range_end <= 0)
			return -EINVAL;
	} else {
		r->range_start = strtoll(buf, &end, 10);
		if (end != dash || r->range_start < 0)
			return -EINVAL;
		r->range_end = dash[1] ? strtoll(dash + 1, &end, 10) : -1;
		if (dash[1] && (*end || r->range_end < r->range_start))
			return -EINVAL;
	}
	r->has_range = true;
	return 0;
}

static nghttp3_ssize read_body(nghttp3_conn *h3, int64_t stream_id, nghttp3_vec *vec,
			       size_t veccnt, uint32_t *pflags, void *conn_user_data,
			       void *stream_user_data)
{
	struct stoq_req *r = stream_user_data;

	(void)h3;
	(void)stream_id;
	(void)conn_user_data;
	uint8_t *at;
	size_t len;

	if (veccnt < 1)
		return 0;
	at = r->map + r->body_off + r->body_given;
	len = r->body_len - r->body_given < STOQ_BODY_CHUNK ? r->body_len - r->body_given
							    : STOQ_BODY_CHUNK;
	/*
	 * Map the chunk's pages in one call before ngtcp2 copies from them:
	 * faulting them in one by one as the copy touches them cost the
	 * server about a tenth of its time. Only a hint: a kernel before 5.14
	 * refuses it (EINVAL) and the copy faults the pages in as before.
	 */
	madvise((void *)((uintptr_t)at & ~page_mask()), len + ((uintptr_t)at & page_mask()),
		MADV_POPULATE_READ);
	vec[0].base = at;
	vec[0].len = len;
	r->body_given += len;
	if (r->body_given == r->body_len)
		*pflags |= NGHTTP3_DATA_FLAG_EOF;
	return 1;
}

static int respond_status(struct stoq_conn *c, struct stoq_req *r, int status)
{
	char st[4];
	nghttp3_nv nva[] = {
		NV(":status", st, 3),
		NV("content-length", "0", 1),
		NV("server", "hmesh-stoq", 10),
	};

	snprintf(st, sizeof(st), "%03d", status);
	r->status = status;
	return nghttp3_conn_submit_response(c->h3, r->stream_id, nva, 3, NULL);
}

static int respond_file(struct stoq_conn *c, struct stoq_req *r)
{
	static const nghttp3_data_reader dr = { .read_data = read_body };
	char rel[STOQ_PATH_MAX];
	struct stat sb;
	uint64_t size, start = 0, end;
	int fd, status = 200;
	nghttp3_nv nva[5];
	size_t n = 0;

	if (c->ep->root_fd < 0 || safe_rel_path(r->path, rel, sizeof(rel)) < 0)
		return respond_status(c, r, 404);
	fd = openat(c->ep->root_fd, rel, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return respond_status(c, r, errno == EACCES ? 403 : 404);
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return respond_status(c, r, 404);
	}
	size = (uint64_t)sb.st_size;
	end = size ? size - 1 : 0;
	if (r->has_range) {
		if (r->range_start < 0) { /* suffix range */
			start = (uint64_t)r->range_end >= size ? 0 : size - (uint64_t)r->range_end;
		} else {
			start = (uint64_t)r->range_start;
			if (r->range_end >= 0 && (uint64_t)r->range_end < end)
				end = (uint64_t)r->range_end;
		}
		if (start >= size) {
			/* RFC 9110 §15.5.17 */
			close(fd);
			snprintf(r->hdr_buf2, sizeof(r->hdr_buf2), "bytes */%" PRIu64, size);
			nva[0] = (nghttp3_nv)NV(":status", "416", 3);
			nva[1] = (nghttp3_nv)NV("content-range", r->hdr_buf2, strlen(r->hdr_buf2));
			nva[2] = (nghttp3_nv)NV("content-length", "0", 1);
			r->status = 416;
			return nghttp3_conn_submit_response(c->h3, r->stream_id, nva, 3, NULL);
		}
		status = 206;
		snprintf(r->hdr_buf2, sizeof(r->hdr_buf2), "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64,
			 start, end, size);
	}
	if (size) {
		r->map = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
		if (r->map == MAP_FAILED) {
			r->map = NULL;
			close(fd);
			return respond_status(c, r, 500);
		}
		r->map_len = size;
		/* One pass front to back: let the kernel read ahead. (Two calls:
		 * advice values are not flags.) */
		madvise(r->map, size, MADV_SEQUENTIAL);
		madvise(r->map + (start & ~(uint64_t)page_mask()),
			end - (start & ~(uint64_t)page_mask()) + 1, MADV_WILLNEED);
		r->body_off = start;
		r->body_len = end - start + 1;
	}
	close(fd);
	snprintf(r->hdr_buf, sizeof(r->hdr_buf), "%zu", r->body_len);
	nva[n++] = (nghttp3_nv)NV(":status", status == 206 ? "206" : "200", 3);
	nva[n++] = (nghttp3_nv)NV("content-length", r->hdr_buf, strlen(r->hdr_buf));
	nva[n++] = (nghttp3_nv)NV("server", "hmesh-stoq", 10);
	if (status == 206)
		nva[n++] = (nghttp3_nv)NV("content-range", r->hdr_buf2, strlen(r->hdr_buf2));
	r->status = status;
	return nghttp3_conn_submit_response(c->h3, r->stream_id, nva, n,
					    r->body_len && r->method == STOQ_M_GET ? &dr : NULL);
}

static int put_begin(struct stoq_conn *c, struct stoq_req *r)
{
	char rel[STOQ_PATH_MAX];

	if (c->ep->root_fd < 0 || safe_rel_path(r->path, rel, sizeof(rel)) < 0)
		return 0; /* refused at end of stream */
	snprintf(r->put_tmp, sizeof(r->put_tmp), "%s/.stoq-put-XXXXXX", c->ep->root);
	r->put_fd = mkstemp(r->put_tmp);
	return 0;
}

static int put_finish(struct stoq_conn *c, struct stoq_req *r)
{
	char rel[STOQ_PATH_MAX], dst[PATH_MAX + STOQ_PATH_MAX];
	int fd = r->put_fd;

	if (fd < 0 || safe_rel_path(r->path, rel, sizeof(rel)) < 0)
		return respond_status(c, r, 403);
	r->put_fd = -1;
	if (close(fd) < 0) {
		unlink(r->put_tmp);
		return respond_status(c, r, 500);
	}
	snprintf(dst, sizeof(dst), "%s/%s", c->ep->root, rel);
	if (rename(r->put_tmp, dst) < 0) {
		unlink(r->put_tmp);
		return respond_status(c, r, errno == ENOENT ? 404 : 500);
	}
	return respond_status(c, r, 201);
}

/* ---- nghttp3 callbacks ---- */

static int h3_stream_close(nghttp3_conn *h3, int64_t stream_id, uint64_t app_error_code,
			   void *conn_user_data, void *stream_user_data)
{
	struct stoq_conn *c = conn_user_data;
	struct stoq_req *r = stream_user_data;

	(void)h3;
	(void)stream_id;
	if (!r)
		return 0;
	if (!c->server) {
		req_done(r, app_error_code == NGHTTP3_H3_NO_ERROR ? r->status : -ECONNRESET);
		c->n_active--;
	} else {
		c->ep->st.requests_done++;
		hm_hist_add(c->ep->st.request_ns, c->ep->now - r->t_start);
	}
	stoq_req_free(r);
	if (!c->server && c->queue_head)
		stoq_h3_start_requests(c);
	return 0;
}

static int h3_recv_data(nghttp3_conn *h3, int64_t stream_id, const uint8_t *data, size_t datalen,
			void *conn_user_data, void *stream_user_data)
{
	struct stoq_conn *c = conn_user_data;
	struct stoq_req *r = stream_user_data;

	(void)h3;
	consume(c, stream_id, datalen);
	if (!r)
		return 0;
	if (c->server) {
		for (size_t off = 0; r->put_fd >= 0 && off < datalen;) {
			ssize_t w = write(r->put_fd, data + off, datalen - off);

			if (w < 0) {
				close(r->put_fd);
				unlink(r->put_tmp);
				r->put_fd = -1;
				break;
			}
			off += (size_t)w;
		}
		r->put_bytes += datalen;
		return 0;
	}
	r->bytes += datalen;
	if (r->ops && r->ops->on_data && r->ops->on_data(r->arg, data, datalen) < 0) {
		ngtcp2_conn_shutdown_stream(c->q, stream_id, NGHTTP3_H3_REQUEST_CANCELLED);
		req_done(r, -ECANCELED);
	}
	return 0;
}

static int h3_deferred_consume(nghttp3_conn *h3, int64_t stream_id, size_t consumed,
			       void *conn_user_data, void *stream_user_data)
{
	(void)h3;
	(void)stream_user_data;
	consume(conn_user_data, stream_id, consumed);
	return 0;
}

static int h3_begin_headers(nghttp3_conn *h3, int64_t stream_id, void *conn_user_data,
			    void *stream_user_data)
{
	struct stoq_conn *c = conn_user_data;
	struct stoq_req *r;

	if (!c->server || stream_user_data)
		return 0;
	r = req_new(c);
	if (!r)
		return NGHTTP3_ERR_CALLBACK_FAILURE;
	r->stream_id = stream_id;
	nghttp3_conn_set_stream_user_data(h3, stream_id, r);
	return 0;
}

static int h3_recv_header(nghttp3_conn *h3, int64_t stream_id, int32_t token, nghttp3_rcbuf *name,
			  nghttp3_rcbuf *value, uint8_t flags, void *conn_user_data,
			  void *stream_user_data)
{
	struct stoq_conn *c = conn_user_data;
	struct stoq_req *r = stream_user_data;
	nghttp3_vec v = nghttp3_rcbuf_get_buf(value);

	(void)h3;
	(void)stream_id;
	(void)name;
	(void)flags;
	if (!r)
		return 0;
	if (!c->server) {
		if (token == NGHTTP3_QPACK_TOKEN__STATUS && v.len == 3)
			r->status = (v.base[0] - '0') * 100 + (v.base[1] - '0') * 10 + v.base[2] - '0';
		return 0;
	}
	switch (token) {
	case NGHTTP3_QPACK_TOKEN__METHOD:
		if (v.len == 3 && memcmp(v.base, "GET", 3) == 0)
			r->method = STOQ_M_GET;
		else if (v.len == 4 && memcmp(v.base, "HEAD", 4) == 0)
			r->method = STOQ_M_HEAD;
		else if (v.len == 3 && memcmp(v.base, "PUT", 3) == 0)
			r->method = STOQ_M_PUT;
		break;
	case NGHTTP3_QPACK_TOKEN__PATH:
		if (v.len < sizeof(r->path)) {
			memcpy(r->path, v.base, v.len);
			r->path[v.len] = '\0';
		}
		break;
	case NGHTTP3_QPACK_TOKEN_RANGE:
		if (parse_range((const char *)v.base, v.len, r) < 0)
			r->has_range = false; /* RFC 9110 §14.2: ignore an invalid Range */
		break;
	default:
		break;
	}
	return 0;
}

static int h3_end_headers(nghttp3_conn *h3, int64_t stream_id, int fin, void *conn_user_data,
			  void *stream_user_data)
{
	struct stoq_conn *c = conn_user_data;
	struct stoq_req *r = stream_user_data;

	(void)h3;
	(void)stream_id;
	(void)fin;
	if (c->server && r && r->method == STOQ_M_PUT)
		return put_begin(c, r);
	return 0;
}

static int h3_end_stream(nghttp3_conn *h3, int64_t stream_id, void *conn_user_data,
			 void *stream_user_data)
{
	struct stoq_conn *c = conn_user_data;
	struct stoq_req *r = stream_user_data;
	int rv;

	(void)h3;
	(void)stream_id;
	if (!r)
		return 0;
	if (!c->server) {
		req_done(r, r->status);
		return 0;
	}
	switch (r->method) {
	case STOQ_M_GET:
	case STOQ_M_HEAD:
		rv = respond_file(c, r);
		break;
	case STOQ_M_PUT:
		rv = put_finish(c, r);
		break;
	default:
		rv = respond_status(c, r, 405);
		break;
	}
	return rv ? NGHTTP3_ERR_CALLBACK_FAILURE : 0;
}

static int h3_stop_sending(nghttp3_conn *h3, int64_t stream_id, uint64_t app_error_code,
			   void *conn_user_data, void *stream_user_data)
{
	struct stoq_conn *c = conn_user_data;

	(void)h3;
	(void)stream_user_data;
	return ngtcp2_conn_shutdown_stream_read(c->q, stream_id, app_error_code) ?
		       NGHTTP3_ERR_CALLBACK_FAILURE :
		       0;
}

static int h3_reset_stream(nghttp3_conn *h3, int64_t stream_id, uint64_t app_error_code,
			   void *conn_user_data, void *stream_user_data)
{
	struct stoq_conn *c = conn_user_data;

	(void)h3;
	(void)stream_user_data;
	return ngtcp2_conn_shutdown_stream_write(c->q, stream_id, app_error_code) ?
		       NGHTTP3_ERR_CALLBACK_FAILURE :
		       0;
}

int stoq_h3_setup(struct stoq_conn *c)
{
	static const nghttp3_callbacks cb = {
		.stream_close = h3_stream_close,
		.recv_data = h3_recv_data,
		.deferred_consume = h3_deferred_consume,
		.begin_headers = h3_begin_headers,
		.recv_header = h3_recv_header,
		.end_headers = h3_end_headers,
		.stop_sending = h3_stop_sending,
		.end_stream = h3_end_stream,
		.reset_stream = h3_reset_stream,
	};
	nghttp3_settings s;
	int64_t ctrl, qenc, qdec;
	int rv;

	if (c->h3)
		return 0;
	/* RFC 9114 §6.2: control stream plus the two QPACK streams. */
	if (ngtcp2_conn_get_max_local_streams_uni(c->q) < 3)
		return 0;
	nghttp3_settings_default(&s);
	s.qpack_max_dtable_capacity = 4096;
	s.qpack_blocked_streams = 100;
	rv = c->server ? nghttp3_conn_server_new(&c->h3, &cb, &s, NULL, c)
		       : nghttp3_conn_client_new(&c->h3, &cb, &s, NULL, c);
	if (rv != 0)
		return -ENOMEM;
	if (c->server)
		nghttp3_conn_set_max_client_streams_bidi(
			c->h3, ngtcp2_conn_get_local_transport_params(c->q)->initial_max_streams_bidi);
	if (ngtcp2_conn_open_uni_stream(c->q, &ctrl, NULL) != 0 ||
	    nghttp3_conn_bind_control_stream(c->h3, ctrl) != 0 ||
	    ngtcp2_conn_open_uni_stream(c->q, &qenc, NULL) != 0 ||
	    ngtcp2_conn_open_uni_stream(c->q, &qdec, NULL) != 0 ||
	    nghttp3_conn_bind_qpack_streams(c->h3, qenc, qdec) != 0) {
		nghttp3_conn_del(c->h3);
		c->h3 = NULL;
		return -EPROTO;
	}
	return 0;
}

int stoq_h3_recv_stream(struct stoq_conn *c, int64_t stream_id, const uint8_t *data, size_t len,
			bool fin)
{
	nghttp3_ssize n;

	if (!c->h3 && stoq_h3_setup(c) < 0)
		return -EPROTO;
	if (!c->h3)
		return -EPROTO;
	n = nghttp3_conn_read_stream(c->h3, stream_id, data, len, fin);
	if (n < 0) {
		stoq_conn_set_error(c, "HTTP/3: %s", nghttp3_strerror((int)n));
		return -EPROTO;
	}
	consume(c, stream_id, (size_t)n);
	return 0;
}

void stoq_h3_stream_close(struct stoq_conn *c, int64_t stream_id, uint64_t app_error)
{
	if (!c->h3)
		return;
	nghttp3_conn_close_stream(c->h3, stream_id, app_error);
}

int stoq_h3_early_rejected(struct stoq_conn *c)
{
	/*
	 * ngtcp2 has forgotten the streams (ngtcp2_conn_early_data_rejected);
	 * nothing was answered on them. c->reqs is newest first: pushing each
	 * started request at the queue's head restores the original order.
	 */
	for (struct stoq_req *r = c->reqs; r; r = r->lnext) {
		if (r->stream_id < 0)
			continue;
		r->stream_id = -1;
		r->next = c->queue_head;
		c->queue_head = r;
		if (!c->queue_tail)
			c->queue_tail = r;
		c->n_queued++;
		c->n_active--;
	}
	if (c->h3) {
		nghttp3_conn_del(c->h3);
		c->h3 = NULL;
	}
	if (stoq_h3_setup(c) < 0)
		return -EPROTO;
	return stoq_h3_start_requests(c);
}

int stoq_h3_start_requests(struct stoq_conn *c)
{
	while (c->queue_head && c->h3 && (c->established || c->early)) {
		struct stoq_req *r = c->queue_head;
		char range[64];
		nghttp3_nv nva[6] = {
			NV(":method", "GET", 3),
			NV(":scheme", "https", 5),
			NV(":authority", c->authority, strlen(c->authority)),
			NV(":path", r->path, strlen(r->path)),
			NV("user-agent", "hmesh-stoq", 10),
		};
		size_t n = 5;
		int64_t sid;
		int rv = ngtcp2_conn_open_bidi_stream(c->q, &sid, r);

		if (rv == NGTCP2_ERR_STREAM_ID_BLOCKED)
			break; /* resumes from extend_max_local_streams_bidi */
		if (rv != 0)
			return -EPROTO;
		if (r->has_range) {
			if (r->range_end >= 0)
				snprintf(range, sizeof(range), "bytes=%" PRId64 "-%" PRId64,
					 r->range_start, r->range_end);
			else
				snprintf(range, sizeof(range), "bytes=%" PRId64 "-", r->range_start);
			nva[n++] = (nghttp3_nv)NV("range", range, strlen(range));
		}
		r->stream_id = sid;
		if (nghttp3_conn_submit_request(c->h3, sid, nva, n, NULL, r) != 0)
			return -EPROTO;
		c->queue_head = r->next;
		if (!c->queue_head)
			c->queue_tail = NULL;
		r->next = NULL;
		c->n_queued--;
		c->n_active++;
	}
	return 0;
}

int stoq_conn_get(struct stoq_conn *c, const char *path, int64_t range_start, int64_t range_end,
		  const struct stoq_request_ops *ops, void *arg)
{
	struct stoq_req *r;

	if (c->dead || c->closing || c->draining)
		return -EPIPE;
	if (strlen(path) >= STOQ_PATH_MAX)
		return -ENAMETOOLONG;
	r = req_new(c);
	if (!r)
		return -ENOMEM;
	snprintf(r->path, sizeof(r->path), "%s", path);
	r->method = STOQ_M_GET;
	if (range_end >= range_start && range_start >= 0) {
		r->has_range = true;
		r->range_start = range_start;
		r->range_end = range_end;
	}
	r->ops = ops;
	r->arg = arg;
	if (c->queue_tail)
		c->queue_tail->next = r;
	else
		c->queue_head = r;
	c->queue_tail = r;
	c->n_queued++;
	return stoq_h3_start_requests(c);
}
