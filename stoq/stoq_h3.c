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
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <linux/magic.h>

#include "hm_hex.h"
#include "hm_log.h"
#include "stoq_priv.h"

/* A response body goes to nghttp3 this much at a time, its pages mapped first. */
#define STOQ_BODY_CHUNK (2u << 20)
/*
 * A PUT's body goes to its file in writes of STOQ_PUT_BLOCK at offsets that
 * are multiples of it, not as it arrives (~1.4 KB a packet). The page
 * cache then holds the file in folios of that size (ext4 and xfs on Linux
 * 6.x, tmpfs mounted huge=within_size), which a GET maps a PMD at a time
 * instead of a page at a time: bench_stoq_ring served a 1 GiB file on ext4
 * at 13.3 Gbit/s per server core written in 2 MiB blocks, 12.8 in 512 KiB
 * ones, 11.4 in 4 KiB ones (medians of 6, 2026-12-03). And one write(2)
 * per 2 MiB, not per packet. On a disk a pager thread writes each block
 * (put_flush), as the loop would wait there whenever the disk is behind.
 * At most put_buffers blocks per endpoint (32 by default, 64 MiB), those
 * being written included: past that, bytes are written by the loop as
 * they arrive.
 */

/* The page size, for madvise's alignment. */
static uintptr_t page_mask(void)
{
	static uintptr_t mask;

	if (!mask)
		mask = (uintptr_t)sysconf(_SC_PAGESIZE) - 1;
	return mask;
}

/* Whether a file on a filesystem of statfs type @t is read from (and
 * written to) a disk: not tmpfs, ramfs or hugetlbfs, whose pages are all
 * in memory. */
static bool on_disk(long t)
{
	return t != TMPFS_MAGIC && t != RAMFS_MAGIC && t != HUGETLBFS_MAGIC;
}

/* Content-addressed chunks live under this directory of the root. */
#define STOQ_HASH_DIR "sha256"

/* RFC 4648 §4 base64 of @len bytes into @out (4 * ceil(len / 3) + 1 bytes). */
static void base64(const uint8_t *in, size_t len, char *out)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0;

	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0) |
			     (i + 2 < len ? in[i + 2] : 0);

		out[o++] = tab[v >> 18 & 63];
		out[o++] = tab[v >> 12 & 63];
		out[o++] = i + 1 < len ? tab[v >> 6 & 63] : '=';
		out[o++] = i + 2 < len ? tab[v & 63] : '=';
	}
	out[o] = '\0';
}

/* A chunk's name: exactly 64 lowercase hex digits. */
bool stoq_h3_is_hash_name(const char *s)
{
	size_t n = strspn(s, "0123456789abcdef");

	return n == 64 && s[n] == '\0';
}

int stoq_sha256(const uint8_t *data, size_t len, uint8_t d[WC_SHA256_DIGEST_SIZE])
{
	struct stoq_sha256 sha;
	int rc = stoq_sha256_init(&sha);

	if (rc == 0)
		rc = stoq_sha256_update(&sha, data, len);
	if (rc == 0)
		rc = stoq_sha256_final(&sha, d);
	stoq_sha256_free(&sha);
	return rc;
}

int stoq_sha256_update_fd(struct stoq_sha256 *sha, int fd, uint64_t from, uint64_t to)
{
	const size_t blk = 1u << 20;
	uint8_t *buf = malloc(blk);
	int rc = 0;

	if (!buf)
		return -ENOMEM;
	while (rc == 0 && from < to) {
		ssize_t n = pread(fd, buf, to - from < blk ? (size_t)(to - from) : blk, (off_t)from);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || stoq_sha256_update(sha, buf, (size_t)n) != 0)
			rc = -EIO; /* 0: the file ends before @to, cut short */
		else
			from += (uint64_t)n;
	}
	free(buf);
	return rc;
}

int stoq_sha256_fd(int fd, uint64_t len, uint8_t d[WC_SHA256_DIGEST_SIZE])
{
	struct stoq_sha256 sha;
	int rc = stoq_sha256_init(&sha);

	if (rc == 0)
		rc = stoq_sha256_update_fd(&sha, fd, 0, len);
	if (rc == 0)
		rc = stoq_sha256_final(&sha, d);
	stoq_sha256_free(&sha);
	return rc;
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

static void consume(struct stoq_conn *c, int64_t stream_id, size_t n)
{
	if (!n)
		return;
	ngtcp2_conn_extend_max_stream_offset(c->q, stream_id, n);
	ngtcp2_conn_extend_max_offset(c->q, n);
}

/* @r's job is queued on the pager (*@flag: r->pg_wait, or r->put_wait for
 * its blocks): counted until stoq_h3_paged (or stoq_req_free) sees it end. */
static void pager_wait(struct stoq_req *r, bool *flag)
{
	if (*flag)
		return;
	*flag = true;
	r->conn->n_paging++;
	r->conn->ep->n_paging++;
}

static void pager_unwait(struct stoq_req *r, bool *flag)
{
	if (!*flag)
		return;
	*flag = false;
	r->conn->n_paging--;
	r->conn->ep->n_paging--;
}

/* A STOQ_PUT_BLOCK block for a PUT's body, while the endpoint has one to spare. */
static uint8_t *put_block_new(struct stoq_req *r)
{
	struct stoq_endpoint *ep = r->conn->ep;
	uint8_t *b;

	if (ep->n_put_bufs >= ep->cfg.put_buffers || !(b = malloc(STOQ_PUT_BLOCK)))
		return NULL;
	ep->n_put_bufs++;
	return b;
}

static void put_block_free(struct stoq_req *r, void *b)
{
	if (!b)
		return;
	free(b);
	r->conn->ep->n_put_bufs--;
}

/* Writing the PUT's file failed (@err): the answer (507 when full), told once. */
static void put_failed(struct stoq_req *r, int err)
{
	if (r->put_status)
		return;
	r->put_status = err == ENOSPC || err == EDQUOT ? 507 : 500;
	HM_WARN(STOQ_LOG, "PUT %s: writing it: %s", r->path, strerror(err));
}

/*
 * @len bytes at @off of the PUT's file, written by the loop itself, and
 * into its hash when they come next there; when the pager has the hash or
 * they do not (bytes behind blocks still waiting), whoever hashes the
 * bytes after them reads them back from the file first.
 */
static void put_write(struct stoq_req *r, const uint8_t *data, size_t len, uint64_t off)
{
	int rc;

	if (r->put_status)
		return;
	if (!r->put_sha_moved && off == r->put_hashed) {
		if (stoq_sha256_update(&r->put_sha, data, len) != 0) {
			r->put_status = 500;
			return;
		}
		r->put_hashed += len;
	}
	rc = stoq_write_all(r->put_fd, data, len, off);
	if (rc < 0)
		put_failed(r, -rc);
}

/* The oldest block of the ring to a pager thread: 0, or -errno (no job:
 * the caller writes it itself). */
static int put_submit(struct stoq_req *r)
{
	unsigned h = r->put_head;
	int rc = stoq_pager_write(r->conn->ep->pager, &r->put_job, r->put_fd, r->put_ring[h].buf,
				  r->put_ring[h].len, r->put_ring[h].off, &r->put_sha, r->put_hashed);

	/* The hash goes with it: the thread hashes the block as it writes. */
	r->put_sha_moved = rc == 0;
	return rc;
}

/*
 * put_buf goes to the file: on a disk, into the ring for a pager thread
 * while there is room, the credit held for its bytes going with it; else
 * written here, and that credit given now.
 */
static void put_flush(struct stoq_req *r)
{
	struct stoq_endpoint *ep = r->conn->ep;
	size_t len = r->put_fill;

	if (!len)
		return;
	if (r->put_paged && !r->put_status && r->put_n < STOQ_PUT_RING) {
		unsigned slot = (r->put_head + r->put_n) % STOQ_PUT_RING;

		r->put_ring[slot].buf = r->put_buf;
		r->put_ring[slot].len = len;
		r->put_ring[slot].off = r->put_off;
		r->put_ring[slot].credit = r->put_held;
		/* Behind one being written, it waits its turn (put_reap). */
		if (r->put_n || put_submit(r) == 0) {
			if (r->put_n)
				ep->st.put_writes_behind++;
			ep->st.put_blocks_paged++;
			r->put_n++;
			r->put_held = 0;
			r->put_buf = NULL; /* the ring's now */
			r->put_fill = 0;
			r->put_off += len;
			pager_wait(r, &r->put_wait);
			return;
		}
	}
	if (r->put_paged)
		ep->st.put_writes_inline++;
	put_write(r, r->put_buf, len, r->put_off);
	r->put_off += len;
	r->put_fill = 0;
	consume(r->conn, r->stream_id, r->put_held);
	r->put_held = 0;
}

/*
 * Body bytes of a PUT: into its block, which goes to the file when full.
 * The stream gets their credit back now, unless a block of it is being
 * written: then not before the writes are done (put_reap).
 */
static void put_append(struct stoq_req *r, const uint8_t *data, size_t len)
{
	size_t now = 0;

	while (len) {
		size_t n;

		if (r->put_status) { /* the answer is decided: the rest is dropped */
			now += len;
			break;
		}
		if (!r->put_buf && !(r->put_buf = put_block_new(r))) {
			/* None to spare: written as they arrive, by the loop. */
			if (r->put_paged)
				r->conn->ep->st.put_writes_inline++;
			put_write(r, data, len, r->put_off);
			r->put_off += len;
			now += len;
			break;
		}
		n = STOQ_PUT_BLOCK - r->put_fill < len ? STOQ_PUT_BLOCK - r->put_fill : len;
		memcpy(r->put_buf + r->put_fill, data, n);
		r->put_fill += n;
		if (r->put_n)
			r->put_held += n;
		else
			now += n;
		data += n;
		len -= n;
		if (r->put_fill == STOQ_PUT_BLOCK)
			put_flush(r);
	}
	consume(r->conn, r->stream_id, now);
}

void stoq_req_free(struct stoq_req *r)
{
	struct stoq_conn *c = r->conn;
	size_t held = r->put_held;

	pager_unwait(r, &r->pg_wait);
	pager_unwait(r, &r->put_wait);
	if (r->fmap) /* kept for the next GET of the file: from now it idles */
		stoq_fcache_done(&c->ep->fcache, r->fmap, c->ep->now);
	if (r->pg_job) /* the pager lets go of it once no thread reads it */
		stoq_pager_release(c->ep->pager, r->pg_job, r->fmap);
	else if (r->fmap)
		stoq_fmap_put(r->fmap);
	else if (r->map && r->map_len) /* a client's PUT of a file */
		munmap(r->map, r->map_len);
	/* The block being written goes with its job (one a thread is writing
	 * is freed when it is done, into a file by then unlinked); those
	 * waiting behind it are the request's. */
	for (unsigned i = 0; i < r->put_n; i++) {
		unsigned slot = (r->put_head + i) % STOQ_PUT_RING;

		held += r->put_ring[slot].credit;
		if (i)
			free(r->put_ring[slot].buf);
		c->ep->n_put_bufs--;
	}
	if (r->put_job)
		stoq_pager_release(c->ep->pager, r->put_job, NULL);
	/* The credit held back for bytes that were never written is the
	 * connection's again: its window would shrink for good otherwise
	 * (ngtcp2 gives back itself only what it never passed on). */
	if (held && c->q)
		ngtcp2_conn_extend_max_offset(c->q, held);
	if (r->put_sha_on && !r->put_sha_moved) /* else the job's, freed with it */
		stoq_sha256_free(&r->put_sha);
	put_block_free(r, r->put_buf);
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

/* ---- server side ---- */

/* Refuse "..", "." and empty segments so a path cannot leave the root. */
int stoq_h3_rel_path(const char *path, char *out, size_t outlen)
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
	/* (Every segment, the one after a trailing '/' too: "dir/" is refused.) */
	for (char *seg = out; seg;) {
		char *slash = strchr(seg, '/');
		size_t sl = slash ? (size_t)(slash - seg) : strlen(seg);

		if (sl == 0 || (sl == 1 && seg[0] == '.') ||
		    (sl == 2 && seg[0] == '.' && seg[1] == '.'))
			return -EINVAL;
		seg = slash ? slash + 1 : NULL;
	}
	return 0;
}

/* A run of 1..18 decimal digits at *@p (no sign, no blank): its value, or -1. */
static int64_t digits(const char **p, const char *end)
{
	int64_t v = 0;
	int n = 0;

	while (*p < end && **p >= '0' && **p <= '9' && n < 18) {
		v = v * 10 + (**p - '0');
		(*p)++;
		n++;
	}
	return n && !(*p < end && **p >= '0' && **p <= '9') ? v : -1;
}

int stoq_h3_parse_range(const char *v, size_t len, struct stoq_req *r)
{
	const char *p = v + 6, *end = v + len;
	int64_t a = -1, b = -1;

	/* RFC 9110 §14.1.2: "bytes=a-b", "bytes=a-", "bytes=-n"; one range only. */
	if (len < 7 || memcmp(v, "bytes=", 6) != 0)
		return -EINVAL;
	if (*p != '-' && (a = digits(&p, end)) < 0)
		return -EINVAL;
	if (p == end || *p++ != '-')
		return -EINVAL;
	if (p < end && (b = digits(&p, end)) < 0)
		return -EINVAL;
	if (p != end || (a < 0 && b <= 0) || (a >= 0 && b >= 0 && b < a))
		return -EINVAL;
	/* Only now: a refused value leaves the request as it was. */
	r->range_start = a; /* -1: suffix, the last b bytes */
	r->range_end = b;   /* -1: to the end */
	r->has_range = true;
	return 0;
}

static int put_committed(struct stoq_conn *c, struct stoq_req *r, int rc);
static int put_reap(struct stoq_conn *c, struct stoq_req *r);
static int respond_opened(struct stoq_conn *c, struct stoq_req *r, int rc,
			  const struct stoq_file_open *f);

/* Bytes of @r's body from body_given on that go out together: one chunk. */
static size_t chunk_len(const struct stoq_req *r)
{
	size_t left = r->body_len - r->body_given;

	return left < STOQ_BODY_CHUNK ? left : STOQ_BODY_CHUNK;
}

/* Whether every page of [at, at+len) is in the page cache (mincore). */
static bool chunk_resident(const uint8_t *at, size_t len)
{
	uintptr_t a = (uintptr_t)at & ~page_mask();
	size_t n = ((uintptr_t)at + len - a + page_mask()) / (page_mask() + 1);
	unsigned char vec[STOQ_BODY_CHUNK / 4096 + 2];

	/* A caller that may not write the file is told only what it has
	 * mapped itself (Linux >= 5.0): then the pager reads it, needlessly
	 * but correctly. */
	if (n > sizeof(vec) || mincore((void *)a, n * (page_mask() + 1), vec) < 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(vec[i] & 1))
			return false;
	return true;
}

/* Queue the read of the chunk at @at on the endpoint's pager: 0, or -errno
 * (the loop then reads it itself, as without a pager). */
static int chunk_page(struct stoq_req *r, uint8_t *at, size_t len)
{
	struct stoq_endpoint *ep = r->conn->ep;
	uintptr_t a = (uintptr_t)at & ~page_mask();
	int rc = stoq_pager_submit(ep->pager, &r->pg_job, (void *)a, (uintptr_t)at + len - a);

	if (rc < 0)
		return rc;
	pager_wait(r, &r->pg_wait);
	r->pg_ready = false;
	r->pg_off = (size_t)(at - r->map);
	ep->st.body_chunks_paged++;
	return 0;
}

/* The chunk at @at could not be read (errno @err): none of it is handed
 * out, and conn_write() resets the stream (stoq_h3_body_errors). */
static nghttp3_ssize chunk_failed(struct stoq_req *r, const uint8_t *at, int err)
{
	r->read_err = err;
	r->read_off = (size_t)(at - r->map);
	r->conn->body_reset = true;
	return NGHTTP3_ERR_WOULDBLOCK;
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
	uint64_t off;

	if (veccnt < 1)
		return 0;
	at = r->map + r->body_off + r->body_given;
	len = chunk_len(r);
	if (r->paged) {
		/* A body on a disk: the pager reads each chunk (stoq_pager.c),
		 * the first one too unless it is in the page cache already. The
		 * stream waits meanwhile; stoq_h3_paged() resumes it. */
		if (r->pg_wait) {
			r->conn->ep->st.body_page_waits++;
			return NGHTTP3_ERR_WOULDBLOCK;
		}
		if (r->pg_ready && r->pg_off == (size_t)(at - r->map)) {
			r->pg_ready = false;
			if (r->pg_err && r->pg_err != EINVAL && r->pg_err != EINTR)
				return chunk_failed(r, at, r->pg_err);
		} else if (!chunk_resident(at, len) && chunk_page(r, at, len) == 0) {
			r->conn->ep->st.body_page_waits++;
			return NGHTTP3_ERR_WOULDBLOCK;
		}
	}
	/*
	 * Map the chunk's pages in one call before ngtcp2 copies from them:
	 * faulting them in one by one as the copy touches them cost the server
	 * about a tenth of its time. A kernel before 5.14 refuses it (EINVAL)
	 * and the copy faults the pages in as before. Any other failure
	 * (EFAULT: a page past the file's end, cut short since the GET began,
	 * or one the disk could not give) means the copy would take SIGBUS:
	 * none of the chunk is handed out. Where the pager read the chunk, its
	 * pages are mapped already and this only walks them, but a file cut
	 * short since then is seen here, not in a SIGBUS under the copy (which
	 * would close the whole connection: stoq_guard.c).
	 *
	 * A chunk an earlier GET populated in the same kept mapping
	 * (stoq_fcache.c) is not walked again: walking 512 mapped PTEs per
	 * 2 MiB was still 9 % of a server sending a cached 512 MiB file in
	 * 8952-byte packets. Pages the kernel has unmapped since are faulted
	 * back by the copy, and a file cut short since is seen by the guard.
	 */
	off = (uint64_t)(at - r->map);
	if (r->fmap && stoq_fmap_mapped(r->fmap, off, len)) {
		/* populated by an earlier GET */
	} else if (madvise((void *)((uintptr_t)at & ~page_mask()),
			   len + ((uintptr_t)at & page_mask()), MADV_POPULATE_READ) == 0) {
		if (r->fmap)
			stoq_fmap_set_mapped(r->fmap, off, len);
	} else if (errno != EINVAL && errno != EINTR) {
		return chunk_failed(r, at, errno);
	}
	vec[0].base = at;
	vec[0].len = len;
	r->body_given += len;
	if (r->body_given == r->body_len)
		*pflags |= NGHTTP3_DATA_FLAG_EOF;
	else if (r->paged) /* read the next one while this one goes out */
		chunk_page(r, at + len, chunk_len(r));
	return 1;
}

int stoq_h3_paged(struct stoq_conn *c)
{
	for (struct stoq_req *r = c->reqs; r && c->n_paging; r = r->lnext) {
		int rc;

		if (r->put_wait && (rc = put_reap(c, r)) != 0)
			return rc;
		if (!r->pg_wait || (rc = stoq_pager_poll(r->pg_job)) == -EINPROGRESS)
			continue;
		pager_unwait(r, &r->pg_wait);
		if (r->method == STOQ_M_PUT) { /* a PUT stored (or not): its answer */
			rc = put_committed(c, r, rc);
			if (rc != 0)
				return rc;
			continue;
		}
		if (r->pg_open) { /* its file opened (or not): the answer */
			struct stoq_file_open f = { 0 };

			r->pg_open = false;
			rc = respond_opened(c, r, stoq_pager_opened(r->pg_job, &f), &f);
			if (rc != 0)
				return rc;
			continue;
		}
		r->pg_ready = true;
		r->pg_err = -rc;
		/* (A no-op if the stream was not waiting: a read ahead.) */
		rc = nghttp3_conn_resume_stream(c->h3, r->stream_id);
		if (rc != 0)
			return rc;
	}
	return 0;
}

int stoq_h3_body_errors(struct stoq_conn *c)
{
	int rv = 0;

	for (struct stoq_req *r = c->reqs; r; r = r->lnext) {
		if (!r->read_err || r->read_told)
			continue;
		r->read_told = true;
		c->ep->st.body_read_errors++;
		/* A server's bodies are GET responses, a client's PUT requests. */
		HM_WARN(STOQ_LOG, "%s %s: the file could not be read at byte %zu (%s): %s",
			r->method == STOQ_M_PUT ? "PUT" : "GET", r->path, r->read_off,
			r->read_err == EFAULT || r->read_err == EIO ?
				"cut short since the request began, or unreadable" :
				strerror(r->read_err),
			c->body_fault ? "closing the connection" : "stream reset");
		if (!c->server)
			req_done(r, -EIO);
		if (c->body_fault || rv)
			continue;
		nghttp3_conn_shutdown_stream_write(c->h3, r->stream_id);
		/* A client does not want the answer to a body it could not send. */
		rv = c->server ? ngtcp2_conn_shutdown_stream_write(c->q, r->stream_id,
								   NGHTTP3_H3_INTERNAL_ERROR) :
				 ngtcp2_conn_shutdown_stream(c->q, r->stream_id,
							     NGHTTP3_H3_REQUEST_CANCELLED);
	}
	c->body_reset = false;
	return rv;
}

void stoq_h3_body_poisoned(struct stoq_conn *c)
{
	for (struct stoq_req *r = c->reqs; r; r = r->lnext) {
		if (!r->fmap || !r->fmap->poisoned)
			continue;
		if (!r->read_err) {
			r->read_err = EIO;
			r->read_off = r->fmap->poison_off;
		}
		c->body_fault = 1;
	}
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

/*
 * A body of STOQ_HUGE_BODY or more that is not in the page cache is read
 * in 2 MiB folios, which a mapping then takes a PMD at a time, this
 * request's and every later one's: under MADV_HUGEPAGE the faults behind
 * MADV_POPULATE_READ read ahead in PMD-sized folios. With the old advice
 * (sequential and will-need) a 1 GiB file read back from an ext4 disk had
 * none of its 512 extents in 2 MiB folios; with this one, all of them
 * (will-need is left out for it: its readahead fills the first 8 MiB, the
 * disk's read_ahead_kb, in small folios first). GETs of that file from
 * the page cache afterwards: bench_stoq_ring median 11.57 -> 12.73 Gbit/s
 * per server core, ahead 7 of 8 (2026-12-04, Linux 6.18); mapping 4 KiB
 * pages is ~7 % of the server (stoq/README.md).
 *
 * The price: the GET that reads the file from the disk was slower on this
 * VM's virtio disk (the huge readahead goes 4 MiB at a time, where the
 * disk's own goes 8): medians 2.97 against 4.18 Gbit/s in ten alternating
 * pairs, the old advice ahead in all ten, and 3.78 against 4.84 in nine
 * rotations, spreads 2.5-9.2 and 3.3-5.5. The same disk read a file at
 * 0.57 and 1.1 GB/s back to back, so what it costs on a real disk is not
 * known. Mapping further ahead (up to 16 MiB) did not order any better.
 *
 * Smaller bodies keep the usual readahead: this one reads 4 MiB around a
 * fault, too much for a short range of a large file. Only a hint: a kernel
 * without transparent huge pages refuses it (EINVAL), and a filesystem
 * without large folios, or a tmpfs not mounted huge=, ignores it; a body
 * the advice was not taken for is read ahead as before (will-need).
 */
#define STOQ_HUGE_BODY (2u << 20)

static void body_advise(uint8_t *map, uint64_t start, uint64_t end)
{
	uint64_t from = start & ~(uint64_t)page_mask();

	if (end - start + 1 >= STOQ_HUGE_BODY &&
	    madvise(map + from, end - from + 1, MADV_HUGEPAGE) == 0)
		return;
	madvise(map + from, end - from + 1, MADV_WILLNEED);
}

/*
 * The answer to a GET or HEAD whose file is open (@rc 0, @f its mapping,
 * which the endpoint's file cache takes from here) or could not be (-errno).
 */
static int respond_opened(struct stoq_conn *c, struct stoq_req *r, int rc,
			  const struct stoq_file_open *f)
{
	static const nghttp3_data_reader dr = { .read_data = read_body };
	uint64_t size = f->size, start = 0, end = size ? size - 1 : 0;
	int status = 200;
	nghttp3_nv nva[5];
	size_t n = 0;

	if (rc == -EACCES || rc == -EPERM)
		return respond_status(c, r, 403);
	if (rc == -ENOENT || rc == -ENOTDIR || rc == -EISDIR || rc == -ELOOP ||
	    rc == -ENAMETOOLONG)
		return respond_status(c, r, 404);
	if (rc < 0) {
		HM_WARN(STOQ_LOG, "GET %s: opening it: %s", r->path, strerror(-rc));
		return respond_status(c, r, 500);
	}
	if (f->map) {
		/* The file's mapping from the endpoint's cache, or this one. */
		r->fmap = stoq_fcache_adopt(&c->ep->fcache, f, c->ep->now);
		if (!r->fmap) {
			munmap(f->map, f->size);
			HM_WARN(STOQ_LOG, "GET %s: %s", r->path, strerror(ENOMEM));
			return respond_status(c, r, 500);
		}
		r->map = r->fmap->map;
		r->map_len = size;
	}
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
		/* Only a disk waits: tmpfs and ramfs pages are in memory. */
		r->paged = c->ep->pager && on_disk(f->fs_type);
		/* One pass front to back: let the kernel read ahead. (Separate
		 * calls: advice values are not flags.) */
		madvise(r->map, size, MADV_SEQUENTIAL);
		body_advise(r->map, start, end);
		r->body_off = start;
		r->body_len = end - start + 1;
	}
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

/*
 * GET or HEAD: open and map the file. Opening waits for the disk when the
 * file's directory entry or inode is not cached, as reading its pages
 * does, so a pager thread opens it when there is one and the answer goes
 * when it is done (stoq_h3_paged).
 */
static int respond_file(struct stoq_conn *c, struct stoq_req *r)
{
	char rel[STOQ_PATH_MAX];
	struct stoq_file_open f;
	int rc;

	if (c->ep->root_fd < 0 || stoq_h3_rel_path(r->path, rel, sizeof(rel)) < 0)
		return respond_status(c, r, 404);
	if (c->ep->pager && stoq_pager_open(c->ep->pager, &r->pg_job, c->ep->root_fd, rel) == 0) {
		r->pg_open = true;
		pager_wait(r, &r->pg_wait);
		return 0;
	}
	rc = stoq_file_open(c->ep->root_fd, rel, &f);
	return respond_opened(c, r, rc, &f);
}

/*
 * A PUT's headers are in: decide what can be decided now (the answer goes
 * out at the end of the body, which is read and dropped either way) and
 * open the temporary file the body goes to. /sha256/<hex> names a chunk by
 * its content: anything else under /sha256/ is refused, and so is /sha256
 * itself, which as a file stored by name would leave no directory for the
 * chunks (every later one answered 404).
 */
static int put_begin(struct stoq_conn *c, struct stoq_req *r)
{
	char rel[STOQ_PATH_MAX];
	const char *dir;
	struct statfs fs;

	if (c->ep->root_fd < 0 || stoq_h3_rel_path(r->path, rel, sizeof(rel)) < 0) {
		r->put_status = 403;
		return 0;
	}
	if (strcmp(rel, STOQ_HASH_DIR) == 0) {
		r->put_status = 400;
		return 0;
	}
	if (strncmp(rel, STOQ_HASH_DIR "/", sizeof(STOQ_HASH_DIR)) == 0) {
		if (!stoq_h3_is_hash_name(rel + sizeof(STOQ_HASH_DIR))) {
			r->put_status = 400;
			return 0;
		}
		memcpy(r->put_hash, rel + sizeof(STOQ_HASH_DIR), sizeof(r->put_hash));
	}
	if (stoq_sha256_init(&r->put_sha) != 0) {
		r->put_status = 500;
		return 0;
	}
	r->put_sha_on = true;
	/* The temporary file is made where the chunk goes, so that its rename
	 * is on one filesystem (a directory under the root may be a mount). */
	if (r->put_hash[0] && mkdirat(c->ep->root_fd, STOQ_HASH_DIR, 0755) < 0 && errno != EEXIST) {
		put_failed(r, errno);
		return 0;
	}
	/* Something else by that name (put there by hand, or by a server from
	 * before /sha256 was refused): the chunk has nowhere to go. A 500 and
	 * a warning that names it, not the 404 of a directory not there. */
	if (r->put_hash[0]) {
		struct stat st;

		if (fstatat(c->ep->root_fd, STOQ_HASH_DIR, &st, 0) < 0) {
			put_failed(r, errno);
			return 0;
		}
		if (!S_ISDIR(st.st_mode)) {
			r->put_status = 500;
			HM_WARN(STOQ_LOG, "PUT %s: %s/%s is not a directory: chunks named by "
				"content cannot be stored", r->path, c->ep->root, STOQ_HASH_DIR);
			return 0;
		}
	}
	dir = strrchr(rel, '/');
	snprintf(r->put_tmp, sizeof(r->put_tmp), "%s/%.*s%s" STOQ_PUT_TMP_PREFIX "XXXXXX",
		 c->ep->root, dir ? (int)(dir - rel) : 0, rel, dir ? "/" : "");
	r->put_fd = mkstemp(r->put_tmp);
	if (r->put_fd < 0) {
		r->put_tmp[0] = '\0'; /* nothing to unlink */
		/* A directory that is not there: nowhere to store it (404). */
		if (errno == ENOENT || errno == ENOTDIR)
			r->put_status = 404;
		else
			put_failed(r, errno);
		return 0;
	}
	/* mkstemp makes it 0600; a stored file is served like any other. The
	 * lock, held while the file is open, says a live server is writing
	 * it (stoq_sweep.c removes those nobody holds). A filesystem without
	 * locks refuses it: harmless, the sweep removes nothing there. */
	(void)flock(r->put_fd, LOCK_EX | LOCK_NB);
	if (fchmod(r->put_fd, 0644) < 0 || fstatfs(r->put_fd, &fs) < 0) {
		put_failed(r, errno);
		return 0;
	}
	/* On a disk, its blocks are written by the pager (put_flush). */
	r->put_paged = c->ep->pager && on_disk(fs.f_type);
	return 0;
}

/* 201 with the body's digest (RFC 9530 §3: repr-digest: sha-256=:B64:). */
static int respond_created(struct stoq_conn *c, struct stoq_req *r,
			   const uint8_t d[WC_SHA256_DIGEST_SIZE])
{
	char b64[48];
	nghttp3_nv nva[4] = {
	    NV(":status", "201", 3),
	    NV("content-length", "0", 1),
	    NV("server", "hmesh-stoq", 10),
	};

	base64(d, WC_SHA256_DIGEST_SIZE, b64);
	snprintf(r->hdr_buf, sizeof(r->hdr_buf), "sha-256=:%s:", b64);
	nva[3] = (nghttp3_nv)NV("repr-digest", r->hdr_buf, strlen(r->hdr_buf));
	r->status = 201;
	return nghttp3_conn_submit_response(c->h3, r->stream_id, nva, 4, NULL);
}

/* The PUT's file is stored under its name (@rc 0) or not (-errno): the answer. */
static int put_committed(struct stoq_conn *c, struct stoq_req *r, int rc)
{
	if (rc == 0)
		return respond_created(c, r, r->put_digest);
	HM_WARN(STOQ_LOG, "PUT %s: storing it: %s", r->path, strerror(-rc));
	return respond_status(c, r,
			      rc == -ENOENT			  ? 404 :
			      rc == -ENOSPC || rc == -EDQUOT ? 507 :
								 500);
}

/*
 * The body is in: check a chunk against its name, then store it for good
 * (stoq_commit_file: fdatasync, rename, fsync of the directory) before the
 * 201, so that what a client was told is stored survives a power cut.
 * Those wait for the disk, so a pager thread does them when there is one;
 * the answer goes when it is done (stoq_h3_paged).
 */
static int put_store(struct stoq_conn *c, struct stoq_req *r)
{
	char rel[STOQ_PATH_MAX], dst[PATH_MAX + STOQ_PATH_MAX], hex[65];
	int fd, status;

	put_block_free(r, r->put_buf);
	r->put_buf = NULL;
	fd = r->put_fd;
	status = r->put_status;
	r->put_fd = -1; /* the commit's now, or closed below */
	/* Bytes the loop wrote behind blocks then waiting are in the file
	 * but not yet in the hash (put_write): read back. */
	if (!status && fd >= 0 && r->put_hashed < r->put_off &&
	    stoq_sha256_update_fd(&r->put_sha, fd, r->put_hashed, r->put_off) < 0)
		status = 500;
	if (!status && stoq_sha256_final(&r->put_sha, r->put_digest) != 0)
		status = 500;
	if (!status && r->put_hash[0]) {
		hm_hex_encode(r->put_digest, WC_SHA256_DIGEST_SIZE, hex);
		if (strcmp(hex, r->put_hash) != 0)
			status = 400; /* the bytes are not the chunk the name says */
	}
	if (status) {
		if (fd >= 0)
			close(fd);
		if (r->put_tmp[0])
			unlink(r->put_tmp);
		return respond_status(c, r, status);
	}
	stoq_h3_rel_path(r->path, rel, sizeof(rel)); /* checked in put_begin */
	snprintf(dst, sizeof(dst), "%s/%s", c->ep->root, rel);
	if (c->ep->pager && stoq_pager_commit(c->ep->pager, &r->pg_job, fd, r->put_tmp, dst) == 0) {
		pager_wait(r, &r->pg_wait);
		return 0;
	}
	return put_committed(c, r, stoq_commit_file(fd, r->put_tmp, dst));
}

/* The body is in: its last block to the file, then stored (put_store) once
 * every block is written; put_reap does that when some are still being. */
static int put_finish(struct stoq_conn *c, struct stoq_req *r)
{
	if (r->put_fd >= 0)
		put_flush(r);
	if (r->put_n) {
		r->put_ending = true;
		return 0;
	}
	return put_store(c, r);
}

/* The ring's oldest block is done with: off the ring; its held credit,
 * for the caller to give back. */
static size_t put_pop(struct stoq_req *r)
{
	size_t credit = r->put_ring[r->put_head].credit;

	r->put_head = (r->put_head + 1) % STOQ_PUT_RING;
	r->put_n--;
	return credit;
}

/*
 * Take back the blocks the pager has written, oldest first, and hand it the
 * next: the credit held for their bytes goes to the client, and, once none
 * is left, that for the bytes in put_buf too. The body all in and every
 * block written: it is stored. 0, or nghttp3's error from the answer.
 */
static int put_reap(struct stoq_conn *c, struct stoq_req *r)
{
	size_t now = 0;
	void *buf;
	int rc;

	while (r->put_n && (rc = stoq_pager_written(r->put_job, &buf, &r->put_sha, &r->put_hashed)) !=
				   -EINPROGRESS) {
		r->put_sha_moved = false;
		if (rc < 0)
			put_failed(r, -rc);
		now += put_pop(r);
		if (!r->put_buf) /* the next block to fill */
			r->put_buf = buf;
		else
			put_block_free(r, buf);
		/* The next one, or (no job to be had) the loop writes it. */
		while (r->put_n && (r->put_status || put_submit(r) < 0)) {
			unsigned h = r->put_head;

			c->ep->st.put_writes_inline += !r->put_status;
			put_write(r, r->put_ring[h].buf, r->put_ring[h].len, r->put_ring[h].off);
			put_block_free(r, r->put_ring[h].buf);
			now += put_pop(r);
		}
	}
	if (!r->put_n) {
		now += r->put_held;
		r->put_held = 0;
		pager_unwait(r, &r->put_wait);
	}
	consume(c, r->stream_id, now);
	if (r->put_n || !r->put_ending)
		return 0;
	r->put_ending = false;
	return put_store(c, r);
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
	if (!r || !c->server || r->put_fd < 0)
		consume(c, stream_id, datalen);
	if (!r)
		return 0;
	if (c->server) {
		r->put_bytes += datalen;
		if (r->put_fd >= 0) /* it gives the credit (flow control) back */
			put_append(r, data, datalen);
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

/*
 * Whether a repr-digest field value (RFC 9530 §3, a dictionary such as
 * "sha-512=:...:, sha-256=:B64:") holds our sha-256 @b64. A value without
 * sha-256 says nothing about it: that is a match.
 */
bool stoq_h3_digest_matches(const uint8_t *v, size_t len, const char *b64)
{
	static const char key[] = "sha-256=:";
	size_t bl = strlen(b64);

	for (size_t i = 0; i + sizeof(key) - 1 <= len; i++) {
		if (memcmp(v + i, key, sizeof(key) - 1) != 0 ||
		    (i && v[i - 1] != ' ' && v[i - 1] != ','))
			continue;
		i += sizeof(key) - 1;
		return len - i > bl && memcmp(v + i, b64, bl) == 0 && v[i + bl] == ':';
	}
	return true;
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
	(void)flags;
	if (!r)
		return 0;
	if (!c->server) {
		nghttp3_vec n = nghttp3_rcbuf_get_buf(name);

		if (token == NGHTTP3_QPACK_TOKEN__STATUS && v.len == 3)
			r->status = (v.base[0] - '0') * 100 + (v.base[1] - '0') * 10 + v.base[2] - '0';
		else if (r->method == STOQ_M_PUT && n.len == 11 &&
			 memcmp(n.base, "repr-digest", 11) == 0)
			r->digest_bad = !stoq_h3_digest_matches(v.base, v.len, r->put_b64);
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
		if (stoq_h3_parse_range((const char *)v.base, v.len, r) < 0)
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
		/* The server stored other bytes than we sent: not a success. */
		req_done(r, r->digest_bad ? -EBADMSG : r->status);
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
		/* A PUT starts its body over on the new stream: what nghttp3
		 * took in 0-RTT went with the streams. (Not seen here: this
		 * client's first flight carries no body bytes before the
		 * server's answer; a larger first flight could.) */
		r->body_given = 0;
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
		static const nghttp3_data_reader dr = {.read_data = read_body};
		struct stoq_req *r = c->queue_head;
		bool put = r->method == STOQ_M_PUT;
		char range[64];
		nghttp3_nv nva[6] = {
		    NV(":method", put ? "PUT" : "GET", 3),
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
		if (put) {
			snprintf(r->hdr_buf, sizeof(r->hdr_buf), "%zu", r->body_len);
			nva[n++] = (nghttp3_nv)NV("content-length", r->hdr_buf, strlen(r->hdr_buf));
		}
		r->stream_id = sid;
		if (nghttp3_conn_submit_request(c->h3, sid, nva, n, put && r->body_len ? &dr : NULL,
						r) != 0)
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

/* A client request for @path, queued behind the others; NULL with *@rc set. */
static struct stoq_req *req_queue(struct stoq_conn *c, const char *path,
				  const struct stoq_request_ops *ops, void *arg, int *rc)
{
	struct stoq_req *r;

	if (c->dead || c->closing || c->draining) {
		*rc = -EPIPE;
		return NULL;
	}
	if (strlen(path) >= STOQ_PATH_MAX) {
		*rc = -ENAMETOOLONG;
		return NULL;
	}
	r = req_new(c);
	if (!r) {
		*rc = -ENOMEM;
		return NULL;
	}
	snprintf(r->path, sizeof(r->path), "%s", path);
	r->ops = ops;
	r->arg = arg;
	if (c->queue_tail)
		c->queue_tail->next = r;
	else
		c->queue_head = r;
	c->queue_tail = r;
	c->n_queued++;
	*rc = 0;
	return r;
}

int stoq_conn_get(struct stoq_conn *c, const char *path, int64_t range_start, int64_t range_end,
		  const struct stoq_request_ops *ops, void *arg)
{
	int rc;
	struct stoq_req *r = req_queue(c, path, ops, arg, &rc);

	if (!r)
		return rc;
	r->method = STOQ_M_GET;
	if (range_end >= range_start && range_start >= 0) {
		r->has_range = true;
		r->range_start = range_start;
		r->range_end = range_end;
	}
	return stoq_h3_start_requests(c);
}

int stoq_conn_put(struct stoq_conn *c, const char *path, const uint8_t *body, size_t len,
		  const uint8_t *sha256, const struct stoq_request_ops *ops, void *arg)
{
	uint8_t d[WC_SHA256_DIGEST_SIZE];
	struct stoq_req *r;
	int rc;

	/* The digest first: a request that cannot be checked is not queued. */
	if (sha256) {
		memcpy(d, sha256, sizeof(d));
	} else {
		rc = stoq_sha256(body, len, d);
		if (rc < 0)
			return rc;
	}
	r = req_queue(c, path, ops, arg, &rc);
	if (!r)
		return rc;
	r->method = STOQ_M_PUT;
	r->map = (uint8_t *)(uintptr_t)body; /* map_len 0: the caller's, not unmapped */
	r->body_len = len;
	base64(d, sizeof(d), r->put_b64);
	return stoq_h3_start_requests(c);
}

int stoq_conn_put_fd(struct stoq_conn *c, const char *path, int fd, const uint8_t *sha256,
		     const struct stoq_request_ops *ops, void *arg)
{
	uint8_t d[WC_SHA256_DIGEST_SIZE];
	struct stoq_file_open f;
	struct stoq_req *r;
	int rc;

	/* The copy from the mapping into packets is guarded (stoq_guard.c). */
	rc = stoq_guard_init();
	if (rc < 0)
		return rc;
	rc = stoq_file_map(fd, &f);
	if (rc < 0)
		return rc == -EISDIR ? -EINVAL : rc;
	if (sha256)
		memcpy(d, sha256, sizeof(d));
	else
		rc = stoq_sha256_fd(fd, f.size, d);
	r = rc < 0 ? NULL : req_queue(c, path, ops, arg, &rc);
	if (!r) {
		if (f.map)
			munmap(f.map, f.size);
		return rc;
	}
	if (f.map)
		madvise(f.map, f.size, MADV_SEQUENTIAL);
	r->method = STOQ_M_PUT;
	r->map = f.map;
	r->map_len = f.map ? f.size : 0; /* ours: unmapped with the request */
	r->body_len = f.size;
	base64(d, sizeof(d), r->put_b64);
	return stoq_h3_start_requests(c);
}
