/* SPDX-License-Identifier: BSD-3-Clause */
/* ctl_cluster — hmesh-controld as a member of a PBFT cluster (see ctl_cluster.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "consensus_priv.h"
#include "ctl_cluster.h"
#include "ctl_node.h"
#include "ctl_rest.h"
#include "hm_hex.h"
#include "hm_log.h"
#include "hm_time.h"

#define MOD	      "cluster"
#define REC_MAGIC     0x31424d48u /* "HMB1" */
#define REC_HDR	      16	  /* magic, seq, len */
#define VOTES_COMPACT (4u << 20)
/*
 * Our binding messages kept in memory for a votes.log rewrite: room for
 * every one above the stable checkpoint, i.e. a window's PRE-PREPARE,
 * PREPARE, COMMIT and certificate twice over (a view change re-votes the
 * window), plus the VIEW-CHANGEs and checkpoints in between.
 */
#define RECENT_PER_SEQ 8
#define RECENT_EXTRA   1024
#define WINDOW_MAX     4096 /* "window": bounds that memory (~8 × 4096 messages) */
#define PERSISTED_MAX  8192 /* digests of messages already in votes.log */
#define TICK_MS	       5

/* A write waiting for its execution here. */
struct waiter {
	uint64_t nonce;
	bool ready; /* executed: answered once the round's log is durable (flush) */
	bool done;
	int status;
	json_t *out;
	struct waiter *next;
};

/* A request for the consensus thread. */
struct submit {
	uint8_t *b;
	size_t len;
	uint64_t nonce, t0_ns;
	struct submit *next;
};

struct outmsg {
	int to;
	uint8_t *b;
	size_t len;
};

struct ctl_cluster {
	struct ctl_node *n;
	struct ctl_cluster_cfg c;
	struct bft_replica *r;
	struct ctl_peer *peer;
	pthread_t thr;
	bool started;
	volatile bool stop;
	int efd;
	int batch_fd, votes_fd;
	char batch_path[PATH_MAX], votes_path[PATH_MAX];
	uint64_t votes_bytes, votes_seq;
	/* batches.log: offset of batch seq's record at [seq - 1], for peers' state transfer */
	uint64_t *batch_off;
	size_t n_batch_off, cap_batch_off;
	uint64_t batch_bytes;

	/* queue REST → consensus thread, and waiters; @lock guards both and the snapshot */
	pthread_mutex_t lock;
	pthread_cond_t done;
	struct submit *q_head, **q_tail;
	struct waiter *waiters;
	uint64_t nonce;
	struct bft_stats snap;
	struct ctl_peer_stats psnap;

	/* consensus thread only */
	struct outmsg *outbox;
	size_t n_out, cap_out;
	bool replaying;
	uint8_t (*persisted)[BFT_DIGEST];
	uint32_t persisted_next;
	struct {
		uint8_t *b;
		size_t len;
	} *recent;
	uint32_t n_recent, recent_next;
	struct {
		uint64_t nonce, t0_ns;
	} inflight[256]; /* our requests' submit times, for consensus_commit_seconds */
	uint32_t inflight_next;
	uint32_t n_ready;     /* waiters finish() made ready this round */
	bool batch_dirty;     /* batches.log written since its last fdatasync */
	uint64_t logged_view; /* the last view publish() reported */
	/* the voting members as of the last publication, by id (under @lock) */
	bool snap_member[BFT_MAX_N];
};

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
	return get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* ---- configuration ------------------------------------------------------------ */

static int parse_hostport(const char *v, struct ctl_peer_addr *a)
{
	const char *colon = strrchr(v, ':');
	char *end;
	unsigned long port;
	size_t hl;

	if (colon == NULL)
		return -1;
	hl = (size_t)(colon - v);
	if (v[0] == '[') {
		if (hl < 3 || v[hl - 1] != ']')
			return -1;
		snprintf(a->host, sizeof(a->host), "%.*s", (int)(hl - 2), v + 1);
	} else {
		if (hl == 0 || hl >= sizeof(a->host))
			return -1;
		snprintf(a->host, sizeof(a->host), "%.*s", (int)hl, v);
	}
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno || *end || colon[1] == '\0' || port == 0 || port > 65535)
		return -1;
	a->port = (uint16_t)port;
	return 0;
}

static int get_u32(const char *path, json_t *o, const char *key, uint32_t def, uint32_t min,
		   uint32_t max, uint32_t *out)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL) {
		*out = def;
		return 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
		hm_log(HM_LOG_ERR, MOD, "%s: \"%s\" must be an integer in %u..%u", path, key, min,
		       max);
		return -EINVAL;
	}
	*out = (uint32_t)json_integer_value(v);
	return 0;
}

static int load_key(const char *cfg, const char *path, uint8_t priv[BFT_KEY])
{
	char buf[2 * BFT_KEY + 8];
	struct stat st;
	size_t len;
	FILE *f = fopen(path, "re");

	if (f == NULL) {
		hm_log(HM_LOG_ERR, MOD, "%s: \"key_file\" %s: %s", cfg, path, strerror(errno));
		return -errno;
	}
	if (fstat(fileno(f), &st) == 0 && (st.st_mode & 077)) {
		hm_log(HM_LOG_ERR, MOD,
		       "%s: \"key_file\" %s: readable by others (mode %03o); chmod 600 it", cfg,
		       path, (unsigned int)(st.st_mode & 0777));
		fclose(f);
		return -EPERM;
	}
	len = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[len] = '\0';
	while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
		buf[--len] = '\0';
	if (hm_hex_decode(buf, priv, BFT_KEY) < 0) {
		hm_log(HM_LOG_ERR, MOD,
		       "%s: \"key_file\" %s: want %d hex digits (hmesh-controld "
		       "--gen-key makes one)",
		       cfg, path, 2 * BFT_KEY);
		return -EINVAL;
	}
	return 0;
}

int ctl_cluster_load(const char *path, struct ctl_cluster_cfg *c)
{
	json_error_t je;
	json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je), *mem;
	uint8_t pub[BFT_KEY];
	int rc = -EINVAL;

	memset(c, 0, sizeof(*c));
	if (root == NULL) {
		hm_log(HM_LOG_ERR, MOD, "%s: line %d: %s", path, je.line, je.text);
		return -EINVAL;
	}
	if (!json_is_object(root)) {
		hm_log(HM_LOG_ERR, MOD, "%s: not a JSON object", path);
		goto out;
	}
	{
		const char *key;
		json_t *v;
		static const char *const known[] = {"id",
						    "key_file",
						    "members",
						    "batch_max",
						    "pipeline_max",
						    "checkpoint_interval",
						    "window",
						    "view_timeout_ms",
						    "retransmit_ms",
						    "commit_timeout_ms"};

		json_object_foreach(root, key, v)
		{
			bool ok = false;

			for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
				ok |= strcmp(key, known[i]) == 0;
			if (!ok) {
				hm_log(HM_LOG_ERR, MOD, "%s: unknown key \"%s\"", path, key);
				goto out;
			}
		}
	}
	mem = json_object_get(root, "members");
	if (!json_is_array(mem) || json_array_size(mem) < 4 ||
	    json_array_size(mem) > CTL_PEER_MAX) {
		hm_log(HM_LOG_ERR, MOD,
		       "%s: \"members\" must be an array of 4..%d members (3f + 1)", path,
		       CTL_PEER_MAX);
		goto out;
	}
	c->n = (uint32_t)json_array_size(mem);
	if (get_u32(path, root, "id", UINT32_MAX, 0, c->n - 1, &c->id) < 0)
		goto out;
	if (c->id == UINT32_MAX) {
		hm_log(HM_LOG_ERR, MOD,
		       "%s: \"id\" (this member's index in \"members\") is missing", path);
		goto out;
	}
	for (uint32_t i = 0; i < c->n; i++) {
		json_t *m = json_array_get(mem, i);
		const char *peer = json_string_value(json_object_get(m, "peer"));
		const char *api = json_string_value(json_object_get(m, "api"));
		const char *pk = json_string_value(json_object_get(m, "public_key"));
		json_t *id = json_object_get(m, "id"), *joins = json_object_get(m, "joins");

		/* "joins": added later through the log (POST /v1/members), not a first member. */
		if (joins && !json_is_boolean(joins)) {
			hm_log(HM_LOG_ERR, MOD, "%s: members[%u].joins: want true or false", path, i);
			goto out;
		}
		if (json_is_true(joins) && c->n0 == 0)
			c->n0 = i;
		if (!json_is_true(joins) && c->n0) {
			hm_log(HM_LOG_ERR, MOD,
			       "%s: members[%u]: the first members come first; \"joins\" ones after them",
			       path, i);
			goto out;
		}

		if (!json_is_integer(id) || json_integer_value(id) != i) {
			hm_log(HM_LOG_ERR, MOD,
			       "%s: members[%u].id must be %u (members in id order)", path, i, i);
			goto out;
		}
		if (peer == NULL || parse_hostport(peer, &c->peer[i]) < 0) {
			hm_log(HM_LOG_ERR, MOD, "%s: members[%u].peer \"%s\": want ADDR:PORT", path,
			       i, peer ? peer : "(missing)");
			goto out;
		}
		if (api == NULL || strlen(api) >= sizeof(c->api[i])) {
			hm_log(HM_LOG_ERR, MOD,
			       "%s: members[%u].api: want ADDR:PORT of its REST API", path, i);
			goto out;
		}
		snprintf(c->api[i], sizeof(c->api[i]), "%s", api);
		if (pk == NULL || hm_hex_decode(pk, c->pub[i], BFT_KEY) < 0) {
			hm_log(HM_LOG_ERR, MOD, "%s: members[%u].public_key: want %d hex digits",
			       path, i, 2 * BFT_KEY);
			goto out;
		}
		for (uint32_t k = 0; k < i; k++)
			if (memcmp(c->pub[k], c->pub[i], BFT_KEY) == 0 ||
			    (strcmp(c->peer[k].host, c->peer[i].host) == 0 &&
			     c->peer[k].port == c->peer[i].port)) {
				hm_log(HM_LOG_ERR, MOD,
				       "%s: members[%u] repeats the public key or peer address of "
				       "members[%u]",
				       path, i, k);
				goto out;
			}
	}
	if (c->n0 == 0)
		c->n0 = c->n;
	if (c->n0 < 4) {
		hm_log(HM_LOG_ERR, MOD,
		       "%s: \"members\": %u without \"joins\"; a cluster starts with at least 4 "
		       "(3f + 1)",
		       path, c->n0);
		goto out;
	}
	if (get_u32(path, root, "batch_max", 16, 1, BFT_BATCH_MAX, &c->batch_max) < 0 ||
	    get_u32(path, root, "pipeline_max", 2, 0, 100000, &c->pipeline_max) < 0 ||
	    get_u32(path, root, "checkpoint_interval", 64, 1, 100000, &c->checkpoint_interval) <
		0 ||
	    get_u32(path, root, "window", 256, 1, WINDOW_MAX, &c->window) < 0 ||
	    get_u32(path, root, "view_timeout_ms", 1000, 10, 600000, &c->view_timeout_ms) < 0 ||
	    get_u32(path, root, "retransmit_ms", 200, 5, 60000, &c->retransmit_ms) < 0 ||
	    get_u32(path, root, "commit_timeout_ms", 5000, 10, 600000, &c->commit_timeout_ms) < 0)
		goto out;
	if (c->window % c->checkpoint_interval != 0) {
		hm_log(HM_LOG_ERR, MOD,
		       "%s: \"window\" %u must be a multiple of "
		       "\"checkpoint_interval\" %u",
		       path, c->window, c->checkpoint_interval);
		goto out;
	}
	if (!json_is_string(json_object_get(root, "key_file"))) {
		hm_log(HM_LOG_ERR, MOD, "%s: \"key_file\" (this member's private key) is missing",
		       path);
		goto out;
	}
	rc = load_key(path, json_string_value(json_object_get(root, "key_file")), c->priv);
	if (rc < 0)
		goto out;
	rc = -EINVAL;
	if (bft_public_key(c->priv, pub) < 0 || memcmp(pub, c->pub[c->id], BFT_KEY) != 0) {
		hm_log(HM_LOG_ERR, MOD,
		       "%s: \"key_file\" is not the key of members[%u] (its public key differs)",
		       path, c->id);
		goto out;
	}
	rc = 0;
out:
	json_decref(root);
	return rc;
}

int ctl_cluster_genkey(const char *path)
{
	uint8_t priv[BFT_KEY], pub[BFT_KEY];
	char hex[2 * BFT_KEY + 2];
	int fd;

	if (getrandom(priv, sizeof(priv), 0) != (ssize_t)sizeof(priv) ||
	    bft_public_key(priv, pub) < 0) {
		fprintf(stderr, "hmesh-controld: --gen-key: no randomness or key error\n");
		return -EIO;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		fprintf(stderr, "hmesh-controld: --gen-key %s: %s\n", path, strerror(errno));
		return -errno;
	}
	hm_hex_encode(priv, BFT_KEY, hex);
	strcat(hex, "\n");
	if (write(fd, hex, strlen(hex)) != (ssize_t)strlen(hex) || fsync(fd) < 0) {
		fprintf(stderr, "hmesh-controld: --gen-key %s: %s\n", path, strerror(errno));
		close(fd);
		return -EIO;
	}
	close(fd);
	hm_hex_encode(pub, BFT_KEY, hex);
	printf("%s\n", hex);
	return 0;
}

/* ---- the logs -------------------------------------------------------------------- */

static int rec_append(int fd, uint64_t seq, const uint8_t *b, size_t len)
{
	uint8_t hdr[REC_HDR], tail[4];
	uint8_t *rec = malloc(REC_HDR + len + 4), *p = rec;

	if (rec == NULL)
		return -ENOMEM;
	put32(hdr, REC_MAGIC);
	put64(hdr + 4, seq);
	put32(hdr + 12, (uint32_t)len);
	memcpy(rec, hdr, REC_HDR);
	memcpy(rec + REC_HDR, b, len);
	put32(tail, ctl_crc32c(rec + 4, REC_HDR - 4 + len));
	memcpy(rec + REC_HDR + len, tail, 4);
	for (size_t left = REC_HDR + len + 4; left;) {
		ssize_t w = write(fd, p, left);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			free(rec);
			return w < 0 ? -errno : -EIO;
		}
		p += w;
		left -= (size_t)w;
	}
	free(rec);
	return 0;
}

/*
 * Read every record of @path through @fn; cut a torn tail. Returns the
 * number of records, or -EBADMSG (a bad record before good data), -errno.
 */
static int64_t rec_replay(const char *path, int fd,
			  int (*fn)(void *, uint64_t, const uint8_t *, size_t), void *arg)
{
	struct stat st;
	uint8_t *all;
	size_t at = 0, size;
	int64_t count = 0;

	if (fstat(fd, &st) < 0)
		return -errno;
	size = (size_t)st.st_size;
	all = malloc(size ? size : 1);
	if (all == NULL)
		return -ENOMEM;
	if (pread(fd, all, size, 0) != (ssize_t)size) {
		free(all);
		return -EIO;
	}
	while (at < size) {
		uint32_t len;
		int rc;

		if (size - at < REC_HDR + 4 || get32(all + at) != REC_MAGIC)
			break;
		len = get32(all + at + 12);
		if (len > size - at - REC_HDR - 4 ||
		    ctl_crc32c(all + at + 4, REC_HDR - 4 + len) != get32(all + at + REC_HDR + len))
			break;
		rc = fn(arg, get64(all + at + 4), all + at + REC_HDR, len);
		if (rc < 0) {
			hm_log(HM_LOG_ERR, MOD, "%s: record %" PRId64 " at offset %zu: %s", path,
			       count, at, strerror(-rc));
			free(all);
			return rc;
		}
		at += REC_HDR + len + 4;
		count++;
	}
	if (at < size) {
		/* A torn tail is at most one record long; anything more is damage. */
		size_t tail = size - at;
		bool torn =
		    tail < REC_HDR + 4 || (get32(all + at) == REC_MAGIC &&
					   get32(all + at + 12) + (size_t)REC_HDR + 4 >= tail);

		free(all);
		if (!torn) {
			hm_log(HM_LOG_ERR, MOD,
			       "%s: damaged record at offset %zu with %zu bytes after it: refusing "
			       "to start rather than lose committed changes",
			       path, at, tail);
			return -EBADMSG;
		}
		hm_log(HM_LOG_WARN, MOD, "%s: cutting a torn last record (%zu bytes at %zu)", path,
		       tail, at);
		if (ftruncate(fd, (off_t)at) < 0 || fdatasync(fd) < 0)
			return -errno;
		return count;
	}
	free(all);
	return count;
}

static int open_log(const char *dir, const char *name, char *path, size_t pl)
{
	int fd;

	if ((size_t)snprintf(path, pl, "%s/%s", dir, name) >= pl)
		return -ENAMETOOLONG;
	fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0) {
		hm_log(HM_LOG_ERR, MOD, "%s: %s", path, strerror(errno));
		return -errno;
	}
	return fd;
}

/* ---- execution -------------------------------------------------------------------- */

static void out_push(struct ctl_cluster *cl, int to, const uint8_t *m, size_t len)
{
	struct outmsg *o;

	if (cl->n_out == cl->cap_out) {
		size_t cap = cl->cap_out ? 2 * cl->cap_out : 256;
		struct outmsg *no = realloc(cl->outbox, cap * sizeof(*no));

		if (no == NULL)
			return; /* dropped: retransmission heals it */
		cl->outbox = no;
		cl->cap_out = cap;
	}
	o = &cl->outbox[cl->n_out];
	o->b = malloc(len);
	if (o->b == NULL)
		return;
	memcpy(o->b, m, len);
	o->len = len;
	o->to = to;
	cl->n_out++;
}

static void on_send(void *ctx, int to, const uint8_t *m, size_t len)
{
	struct ctl_cluster *cl = ctx;

	if (cl->replaying)
		return; /* checkpoints of replayed batches: sent again by retransmission */
	out_push(cl, to, m, len);
}

/*
 * Note where batch @seq's record (@len bytes of batch) starts in
 * batches.log. Batches come in order, 1, 2, ...; an index that cannot
 * grow just stops (older batches are then not served to peers, logged).
 */
static void batch_index(struct ctl_cluster *cl, uint64_t seq, size_t len)
{
	if (seq != cl->n_batch_off + 1)
		return;
	if (cl->n_batch_off == cl->cap_batch_off) {
		size_t cap = cl->cap_batch_off ? 2 * cl->cap_batch_off : 1024;
		uint64_t *nb = realloc(cl->batch_off, cap * sizeof(*nb));

		if (nb == NULL) {
			hm_log(HM_LOG_WARN, MOD, "batch index: out of memory at batch %" PRIu64, seq);
			return;
		}
		cl->batch_off = nb;
		cl->cap_batch_off = cap;
	}
	cl->batch_off[cl->n_batch_off++] = cl->batch_bytes;
	cl->batch_bytes += REC_HDR + len + 4;
}

/* bft_ops.load: batch @seq from batches.log (checked as at replay), for a peer behind. */
static size_t on_load(void *ctx, uint64_t seq, uint8_t *buf, size_t cap)
{
	struct ctl_cluster *cl = ctx;
	uint8_t hdr[REC_HDR], *rec;
	size_t len = 0;
	uint32_t l;
	off_t at;

	if (seq == 0 || seq > cl->n_batch_off)
		return 0;
	at = (off_t)cl->batch_off[seq - 1];
	if (pread(cl->batch_fd, hdr, REC_HDR, at) != REC_HDR || get32(hdr) != REC_MAGIC ||
	    get64(hdr + 4) != seq)
		return 0;
	l = get32(hdr + 12);
	if (l > cap || (rec = malloc(REC_HDR + (size_t)l + 4)) == NULL)
		return 0;
	if (pread(cl->batch_fd, rec, REC_HDR + (size_t)l + 4, at) == (ssize_t)(REC_HDR + l + 4) &&
	    ctl_crc32c(rec + 4, REC_HDR - 4 + l) == get32(rec + REC_HDR + l)) {
		memcpy(buf, rec + REC_HDR, l);
		len = l;
	} else {
		hm_log(HM_LOG_ERR, MOD, "%s: batch %" PRIu64 " unreadable or fails its CRC; not served",
		       cl->batch_path, seq);
	}
	free(rec);
	return len;
}

static void on_commit(void *ctx, uint64_t seq, const uint8_t *b, size_t len)
{
	struct ctl_cluster *cl = ctx;
	/*
	 * Appended, not synced: the batch committed (2f + 1 COMMITs, each sent
	 * after its replica synced its prepared certificate), so a crash that
	 * loses this tail gets it back from votes.log and the other members.
	 * flush() syncs batches.log before our CHECKPOINT vouches for it.
	 */
	int rc = rec_append(cl->batch_fd, seq, b, len);

	if (rc < 0) {
		/*
		 * The log is the state: a batch we cannot append would leave a
		 * hole a restart cannot replay past. Stop instead; the other
		 * members carry on and this one catches up when restarted.
		 */
		hm_log(HM_LOG_ERR, MOD, "%s: batch %" PRIu64 " not written: %s; stopping",
		       cl->batch_path, seq, strerror(-rc));
		_exit(EXIT_FAILURE); /* now: no other thread may act on what we could not log */
	}
	cl->batch_dirty = true;
	batch_index(cl, seq, len);
}

/*
 * A write of ours executed (or was refused): its answer, handed to the
 * REST thread by flush() once what this round logged is durable (the
 * COMMIT that completed its quorum may be ours, sent this round).
 */
static void finish(struct ctl_cluster *cl, uint64_t nonce, int status, json_t *out)
{
	struct waiter *w;

	pthread_mutex_lock(&cl->lock);
	for (w = cl->waiters; w; w = w->next)
		if (w->nonce == nonce && !w->ready) {
			w->ready = true;
			w->status = status;
			w->out = out;
			out = NULL;
			cl->n_ready++;
			break;
		}
	pthread_mutex_unlock(&cl->lock);
	json_decref(out);
}

/* A member to add (POST /v1/members): 0, or an HTTP status with *@out naming the field. */
static int member_parse(const json_t *body, uint32_t *id, struct ctl_peer_addr *addr,
			const char **api, uint8_t pub[BFT_KEY], json_t **out)
{
	json_t *jid = json_object_get(body, "id");
	const char *peer = json_string_value(json_object_get(body, "peer"));
	const char *pk = json_string_value(json_object_get(body, "public_key"));

	*api = json_string_value(json_object_get(body, "api"));
	if (!json_is_object(body))
		return ctl_rest_error(out, 400, "", "want {\"id\", \"peer\", \"api\", "
						    "\"public_key\"}");
	if (!json_is_integer(jid) || json_integer_value(jid) < 0 ||
	    json_integer_value(jid) >= CTL_PEER_MAX)
		return ctl_rest_error(out, 400, "id", "want a member id in 0..%d",
				      CTL_PEER_MAX - 1);
	*id = (uint32_t)json_integer_value(jid);
	if (peer == NULL || parse_hostport(peer, addr) < 0)
		return ctl_rest_error(out, 400, "peer", "want ADDR:PORT (an IP literal)");
	if (*api == NULL || strlen(*api) >= sizeof(((struct ctl_cluster_cfg *)0)->api[0]))
		return ctl_rest_error(out, 400, "api", "want ADDR:PORT of its REST API");
	if (pk == NULL || hm_hex_decode(pk, pub, BFT_KEY) < 0)
		return ctl_rest_error(out, 400, "public_key", "want %d hex digits", 2 * BFT_KEY);
	return 0;
}

/*
 * A membership change from the log ("c": "@members"): POST adds member
 * body.id at body.peer / body.api with body.public_key, DELETE removes
 * member @item. Run on every member at the same point of the log, with
 * the same inputs (the log, the first members' keys in the file), so all
 * reach the same answer; bft_reconfigure() makes it take effect a window
 * later. HTTP status, *@out.
 */
static int members_apply(struct ctl_cluster *cl, const char *m, const char *item, json_t *body,
			 json_t **out)
{
	uint32_t ids[BFT_MAX_N], n = bft_members(cl->r, ids), id;
	uint8_t pubs[BFT_MAX_N][BFT_KEY], pub[BFT_KEY];
	struct ctl_peer_addr addr;
	const char *peer = NULL, *api = NULL;
	struct bft_stats st;
	bool add = strcmp(m, "POST") == 0;
	int rc;

	/* One at a time (decided by the log alone: the same answer everywhere). */
	bft_stats_get(cl->r, &st);
	if (st.reconfig_at)
		return ctl_rest_error(out, 409, "",
				      "a membership change is under way (in force after sequence "
				      "number %" PRIu64 "); one at a time",
				      st.reconfig_at);
	if (add) {
		rc = member_parse(body, &id, &addr, &api, pub, out);
		if (rc)
			return rc;
		peer = json_string_value(json_object_get(body, "peer"));
	} else if (item == NULL || sscanf(item, "%u", &id) != 1 || id >= BFT_MAX_N) {
		return ctl_rest_error(out, 404, "", "no member %s", item ? item : "");
	}
	for (uint32_t k = 0; k < n; k++) {
		if (add && ids[k] == id)
			return ctl_rest_error(out, 409, "id", "%u is a member already", id);
		if (add && (memcmp(cl->c.pub[ids[k]], pub, BFT_KEY) == 0 ||
			    (strcmp(cl->c.peer[ids[k]].host, addr.host) == 0 &&
			     cl->c.peer[ids[k]].port == addr.port)))
			return ctl_rest_error(out, 409, "", "member %u has that key or peer address",
					      ids[k]);
		memcpy(pubs[k], cl->c.pub[ids[k]], BFT_KEY);
	}
	if (add) {
		ids[n] = id;
		memcpy(pubs[n++], pub, BFT_KEY);
	} else {
		uint32_t k = 0;

		while (k < n && ids[k] != id)
			k++;
		if (k == n)
			return ctl_rest_error(out, 404, "", "%u is not a member", id);
		ids[k] = ids[n - 1];
		memcpy(pubs[k], pubs[n - 1], BFT_KEY);
		if (--n < 4)
			return ctl_rest_error(out, 409, "",
					      "a cluster needs at least 4 members (3f + 1); it has %u",
					      n + 1);
	}
	/* (-EBUSY cannot come back: checked above, by the same rule) */
	rc = bft_reconfigure(cl->r, ids, (const uint8_t(*)[BFT_KEY])pubs, n);
	bft_stats_get(cl->r, &st);
	if (rc < 0)
		return ctl_rest_error(out, 400, "public_key", "refused: %s", strerror(-rc));
	if (add) {
		pthread_mutex_lock(&cl->lock);
		cl->c.peer[id] = addr;
		snprintf(cl->c.api[id], sizeof(cl->c.api[id]), "%s", api);
		memcpy(cl->c.pub[id], pub, BFT_KEY);
		if (id >= cl->c.n)
			cl->c.n = id + 1;
		pthread_mutex_unlock(&cl->lock);
		/* (during the replay at start the pipe opens later, with these addresses) */
		if (cl->peer && id != cl->c.id && ctl_peer_add(cl->peer, id, &addr) < 0)
			hm_log(HM_LOG_WARN, MOD, "member %u: peer address %s not usable here", id,
			       peer);
	}
	if (!cl->replaying)
		hm_log(HM_LOG_INFO, MOD, "member %u %s: in force after sequence number %" PRIu64,
		       id, add ? "added" : "removed", st.reconfig_at);
	*out = json_pack("{s:i, s:s, s:I}", "id", (int)id, "change", add ? "added" : "removed",
			 "in_force_after", (json_int_t)st.reconfig_at);
	return 202;
}

/*
 * Run one request of the log against the model: the same result on every
 * member. @from signed it; it answers one of our REST clients only when
 * that is us: "o" is the payload's claim, and a faulty member that saw our
 * request (multicast, its nonce in clear) could order a request of its own
 * that claims our id and nonce first, and answer our client with it while
 * the real write commits unseen.
 */
static void on_execute(void *ctx, uint64_t seq, uint32_t from, const uint8_t *req, size_t len)
{
	struct ctl_cluster *cl = ctx;
	struct ctl_node *n = cl->n;
	json_t *j = json_loadb((const char *)req, len, 0, NULL), *out = NULL;
	const char *m = json_string_value(json_object_get(j, "m"));
	const char *coll = json_string_value(json_object_get(j, "c"));
	const char *item = json_string_value(json_object_get(j, "i"));
	json_t *body = json_object_get(j, "b");
	json_t *jo = json_object_get(j, "o");
	json_int_t origin = json_is_integer(jo) ? json_integer_value(jo) : -1;
	uint64_t nonce = (uint64_t)json_integer_value(json_object_get(j, "n"));
	uint64_t ifv = (uint64_t)json_integer_value(json_object_get(j, "v"));
	int status;

	if (m && coll && strcmp(coll, "@members") == 0 &&
	    (strcmp(m, "POST") == 0 || strcmp(m, "DELETE") == 0)) {
		status = members_apply(cl, m, item, body, &out);
	} else {
		pthread_mutex_lock(&n->lock);
		if (m == NULL || coll == NULL ||
		    (strcmp(m, "POST") != 0 && strcmp(m, "PUT") != 0 && strcmp(m, "DELETE") != 0))
			status = ctl_rest_error(&out, 400, "", "not a write request");
		else
			status = ctl_write_apply(n, n->st_cons, m, coll, item, ifv, body, false,
						 &out);
		pthread_mutex_unlock(&n->lock);
	}
	if (from == cl->c.id && origin == (json_int_t)cl->c.id && !cl->replaying) {
		for (uint32_t i = 0; i < 256; i++)
			if (cl->inflight[i].nonce == nonce && cl->inflight[i].t0_ns) {
				if (n->st_cons)
					hm_stats_hist_add(n->st_cons->commit_hist,
							  hm_mono_ns() - cl->inflight[i].t0_ns);
				cl->inflight[i].t0_ns = 0;
			}
		finish(cl, nonce, status, out);
	} else {
		if (origin == (json_int_t)cl->c.id && !cl->replaying)
			hm_log(HM_LOG_WARN, MOD,
			       "sequence number %" PRIu64 ": member %u signed a request that "
			       "claims to be ours (\"o\" %u, \"n\" %" PRIu64 "): executed, "
			       "answers no client",
			       seq, from, cl->c.id, nonce);
		json_decref(out);
	}
	json_decref(j);
}

/* ---- votes ------------------------------------------------------------------------ */

static bool binding(const struct ctl_cluster *cl, const uint8_t *m, size_t len)
{
	return len > BFT_HDR && get32(m + 4) == cl->c.id && bft_type_logged(m[0]);
}

/*
 * Does it still bind us with stable checkpoint @stable in @view? A vote or
 * certificate above the stable checkpoint (executed or not: a VIEW-CHANGE
 * must carry every certificate above it, §4.4), the record of that
 * checkpoint, or a VIEW-CHANGE or NEW-VIEW for this view or a later one. (*@in_view:
 * it was sent in @view, so it says which view we are in.)
 */
static bool still_binding(const uint8_t *m, size_t len, uint64_t stable, uint64_t view,
			  bool *in_view)
{
	struct bft_hdr h;
	const uint8_t *body;
	size_t bl;

	*in_view = false;
	if (bft_hdr_parse(m, len, &h, &body, &bl) < 0)
		return false;
	*in_view = h.type != BFT_STABLE && h.view >= view;
	if (h.type == BFT_VIEWCHANGE || h.type == BFT_NEWVIEW)
		return h.view >= view;
	if (h.type == BFT_STABLE)
		return h.seq == stable;
	return h.seq > stable;
}

/* A binding message we logged, for the next rewrite (the oldest one makes room). */
static void recent_add(struct ctl_cluster *cl, const uint8_t *m, size_t len)
{
	uint8_t *b = malloc(len);

	free(cl->recent[cl->recent_next].b);
	cl->recent[cl->recent_next].b = b;
	cl->recent[cl->recent_next].len = len;
	if (b)
		memcpy(b, m, len);
	cl->recent_next = (cl->recent_next + 1) % cl->n_recent;
}

/* Rewrite votes.log with what still binds (from the recent ring), atomically. */
static int votes_compact(struct ctl_cluster *cl)
{
	char tmp[PATH_MAX + 8];
	struct bft_stats st;
	uint64_t seq = 0, bytes = 0;
	int fd, rc = 0;

	bft_stats_get(cl->r, &st);
	snprintf(tmp, sizeof(tmp), "%s.tmp", cl->votes_path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	/* What binds, and the newest message of our view (so a restart knows the view). */
	int32_t newest_in_view = -1;

	for (uint32_t k = 0; k < cl->n_recent; k++) {
		uint32_t i = (cl->recent_next + k) % cl->n_recent;
		bool in_view;

		if (cl->recent[i].b &&
		    !still_binding(cl->recent[i].b, cl->recent[i].len, st.stable_seq, st.view,
				   &in_view) &&
		    in_view)
			newest_in_view = (int32_t)i;
	}
	/*
	 * The stable checkpoint first: restored before the certificates, it
	 * puts the window where they fit (they were formed under it or under
	 * an older one no longer here).
	 */
	for (int pass = 0; pass < 2; pass++)
		for (uint32_t k = 0; k < cl->n_recent && rc == 0; k++) {
			uint32_t i = (cl->recent_next + k) % cl->n_recent;
			bool in_view;

			if (cl->recent[i].b == NULL ||
			    (cl->recent[i].b[0] == BFT_STABLE) != (pass == 0))
				continue;
			if (still_binding(cl->recent[i].b, cl->recent[i].len, st.stable_seq,
					  st.view, &in_view) ||
			    (int32_t)i == newest_in_view) {
				rc = rec_append(fd, ++seq, cl->recent[i].b, cl->recent[i].len);
				bytes += REC_HDR + cl->recent[i].len + 4;
			}
		}
	if (rc == 0 && fdatasync(fd) < 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, cl->votes_path) < 0)
		rc = -errno;
	if (rc == 0) {
		int dfd = open(cl->n->cfg.state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
		close(cl->votes_fd);
		cl->votes_fd = fd;
		cl->votes_bytes = bytes;
		cl->votes_seq = seq;
		return 0;
	}
	close(fd);
	unlink(tmp);
	return rc;
}

/*
 * --log-level debug: one line per protocol message sent or received, the
 * trace to read when a cluster stalls (which view, which sequence number,
 * who is silent). Signatures are not checked here; the core does that.
 */
static void trace_msg(const char *dir, int peer, const uint8_t *m, size_t len)
{
	static const char *const names[] = {
	    [BFT_REQUEST] = "REQUEST",
	    [BFT_PREPREPARE] = "PRE-PREPARE",
	    [BFT_PREPARE] = "PREPARE",
	    [BFT_COMMIT] = "COMMIT",
	    [BFT_CHECKPOINT] = "CHECKPOINT",
	    [BFT_VIEWCHANGE] = "VIEW-CHANGE",
	    [BFT_NEWVIEW] = "NEW-VIEW",
	    [BFT_FETCH] = "FETCH",
	    [BFT_BATCHES] = "BATCHES",
	    [BFT_STATUS] = "STATUS",
	    [BFT_CERT] = "CERT",
	    [BFT_STABLE] = "STABLE",
	    [BFT_HORIZON] = "HORIZON",
	};
	struct bft_hdr h;
	const uint8_t *body;
	size_t bl;

	if (hm_log_get_level() < HM_LOG_DEBUG)
		return;
	if (bft_hdr_parse(m, len, &h, &body, &bl) < 0) {
		hm_log(HM_LOG_DEBUG, MOD, "%s %d: %zu bytes, not a message", dir, peer, len);
		return;
	}
	/* (monotonic microseconds: the members' lines merge into one timeline) */
	hm_log(HM_LOG_DEBUG, MOD,
	       "%" PRIu64 " us %s %d: %s replica %u view %" PRIu64 " seq %" PRIu64
	       " digest %02x%02x%02x%02x, %zu bytes",
	       hm_mono_ns() / 1000, dir, peer,
	       h.type < sizeof(names) / sizeof(names[0]) && names[h.type] ? names[h.type] : "?",
	       h.replica, h.view, h.seq, h.d[0], h.d[1], h.d[2], h.d[3], len);
}

static void publish(struct ctl_cluster *cl);

/*
 * Send what the core produced, after making what binds us durable: one
 * fdatasync covers every record of this round (PBFT: a replica logs what
 * it sends; a restarted one must not contradict it). A round that logged
 * only PRE-PREPAREs and PREPAREs sends them unsynced: the core's vote
 * horizon, synced before them, covers their loss (consensus.h, send()).
 * batches.log is synced before our CHECKPOINT vouches for it. Then the
 * REST writes this round executed are answered.
 */
static void flush(struct ctl_cluster *cl)
{
	bool sync = false;

	for (size_t i = 0; i < cl->n_out; i++) {
		struct outmsg *o = &cl->outbox[i];
		uint8_t d[BFT_DIGEST];
		bool seen = false;

		/* (nothing is sent before this loop ends) */
		if ((o->b[0] == BFT_CHECKPOINT || o->b[0] == BFT_STABLE) && o->len > BFT_HDR &&
		    get32(o->b + 4) == cl->c.id && cl->batch_dirty) {
			if (fdatasync(cl->batch_fd) < 0) {
				hm_log(HM_LOG_ERR, MOD, "%s: fdatasync: %s; stopping",
				       cl->batch_path, strerror(errno));
				_exit(EXIT_FAILURE); /* as below */
			}
			cl->batch_dirty = false;
		}

		if (!binding(cl, o->b, o->len))
			continue;
		bft_hash(o->b, o->len, d);
		for (uint32_t k = 0; k < PERSISTED_MAX && !seen; k++)
			seen = memcmp(cl->persisted[k], d, BFT_DIGEST) == 0;
		if (seen)
			continue; /* a retransmission: signatures are deterministic */
		int rc = rec_append(cl->votes_fd, ++cl->votes_seq, o->b, o->len);

		if (rc < 0) {
			/*
			 * A vote we cannot keep must not be sent (a restart could
			 * contradict it): stop; the others go on without us.
			 */
			hm_log(HM_LOG_ERR, MOD, "%s: %s; stopping", cl->votes_path, strerror(-rc));
			_exit(EXIT_FAILURE); /* now: no other thread may act on what we could not log */
		}
		cl->votes_bytes += REC_HDR + o->len + 4;
		memcpy(cl->persisted[cl->persisted_next++ % PERSISTED_MAX], d, BFT_DIGEST);
		recent_add(cl, o->b, o->len);
		sync |= !bft_type_sent_unsynced(o->b[0]);
	}
	if (sync && fdatasync(cl->votes_fd) < 0) {
		hm_log(HM_LOG_ERR, MOD, "%s: fdatasync: %s; stopping", cl->votes_path,
		       strerror(errno));
		_exit(EXIT_FAILURE); /* now: no other thread may act on what we could not log */
	}
	for (size_t i = 0; i < cl->n_out; i++) {
		trace_msg("send", cl->outbox[i].to, cl->outbox[i].b, cl->outbox[i].len);
		/* Addressed to ourselves: a record for votes.log only (BFT_CERT, BFT_STABLE). */
		if (cl->outbox[i].to != (int)cl->c.id)
			ctl_peer_send(cl->peer, cl->outbox[i].to, cl->outbox[i].b,
				      cl->outbox[i].len);
		free(cl->outbox[i].b);
	}
	cl->n_out = 0;
	if (cl->n_ready) {
		/*
		 * /v1/cluster first: a client that reads commit_index after its
		 * write's answer (to wait for another member to reach it) must
		 * get a number that counts the write, not the 100 ms old one.
		 */
		publish(cl);
		pthread_mutex_lock(&cl->lock);
		for (struct waiter *w = cl->waiters; w; w = w->next)
			if (w->ready)
				w->done = true;
		cl->n_ready = 0;
		pthread_cond_broadcast(&cl->done);
		pthread_mutex_unlock(&cl->lock);
	}
	if (cl->votes_bytes > VOTES_COMPACT) {
		int rc = votes_compact(cl);

		if (rc < 0)
			hm_log(HM_LOG_WARN, MOD, "%s: rewrite failed (%s); kept growing",
			       cl->votes_path, strerror(-rc));
	}
}

/* ---- the consensus thread ------------------------------------------------------------ */

static void on_peer_msg(void *arg, const uint8_t *m, size_t len)
{
	struct ctl_cluster *cl = arg;

	trace_msg("recv", -1, m, len);
	bft_receive(cl->r, m, len, hm_mono_ms());
}

static void publish(struct ctl_cluster *cl)
{
	struct ctl_stats_block *b = cl->n->st_cons;
	struct bft_stats st;
	struct ctl_peer_stats ps;
	uint32_t up = 0, ids[BFT_MAX_N], nm;

	bft_stats_get(cl->r, &st);
	ctl_peer_stats_get(cl->peer, &ps);
	nm = bft_members(cl->r, ids);
	pthread_mutex_lock(&cl->lock);
	cl->snap = st;
	cl->psnap = ps;
	memset(cl->snap_member, 0, sizeof(cl->snap_member));
	for (uint32_t k = 0; k < nm; k++) {
		cl->snap_member[ids[k]] = true;
		up += ids[k] < CTL_PEER_MAX && ps.up[ids[k]];
	}
	pthread_mutex_unlock(&cl->lock);
	/* Views change rarely; each one is worth a line for whoever reads why writes stalled. */
	if (st.view != cl->logged_view) {
		hm_log(HM_LOG_INFO, MOD,
		       "view %" PRIu64 " (primary %u), executed %" PRIu64
		       ", stable checkpoint %" PRIu64,
		       st.view, st.primary, st.executed_seq, st.stable_seq);
		cl->logged_view = st.view;
	}
	ctl_stat_set(b, CTL_S_BFT_VIEW, st.view);
	ctl_stat_set(b, CTL_S_BFT_EXECUTED, st.executed_seq);
	ctl_stat_set(b, CTL_S_BFT_STABLE, st.stable_seq);
	ctl_stat_set(b, CTL_S_BFT_REQUESTS, st.requests);
	ctl_stat_set(b, CTL_S_BFT_VIEW_CHANGES, st.view_changes);
	ctl_stat_set(b, CTL_S_BFT_STATE_TRANSFERS, st.state_transfers);
	ctl_stat_set(b, CTL_S_BFT_BAD_SIG, st.bad_signature);
	ctl_stat_set(b, CTL_S_BFT_NON_MEMBER, st.non_member);
	ctl_stat_set(b, CTL_S_BFT_WRONG_VIEW, st.wrong_view);
	ctl_stat_set(b, CTL_S_BFT_OUT_OF_WINDOW, st.out_of_window);
	ctl_stat_set(b, CTL_S_BFT_FETCH_LIMITED, st.fetch_limited);
	ctl_stat_set(b, CTL_S_BFT_MOOT, st.moot_votes);
	ctl_stat_set(b, CTL_S_BFT_FENCED, st.fenced_votes);
	ctl_stat_set(b, CTL_S_BFT_MALFORMED, st.malformed + st.bad_new_view);
	ctl_stat_set(b, CTL_S_PEERS_UP, up);
	ctl_stat_set(b, CTL_S_PEER_SENT, ps.sent);
	ctl_stat_set(b, CTL_S_PEER_RECEIVED, ps.received);
	ctl_stat_set(b, CTL_S_PEER_DROPPED, ps.dropped);
}

static void *cluster_main(void *arg)
{
	struct ctl_cluster *cl = arg;
	uint64_t next_pub = 0;

	while (!cl->stop) {
		struct submit *s;
		uint64_t t;

		if (ctl_peer_poll(cl->peer, TICK_MS, cl->efd, on_peer_msg, cl) == 1) {
			uint64_t v;

			if (read(cl->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
				hm_log(HM_LOG_WARN, MOD, "eventfd: %s", strerror(errno));
		}
		pthread_mutex_lock(&cl->lock);
		s = cl->q_head;
		cl->q_head = NULL;
		cl->q_tail = &cl->q_head;
		pthread_mutex_unlock(&cl->lock);
		t = hm_mono_ms();
		while (s) {
			struct submit *next = s->next;
			int rc = bft_submit(cl->r, s->b, s->len, t);

			if (rc < 0) {
				json_t *out = NULL;

				ctl_rest_error(&out, 503, "", "the consensus core refused it: %s",
					       strerror(-rc));
				finish(cl, s->nonce, 503, out);
			} else {
				cl->inflight[cl->inflight_next].nonce = s->nonce;
				cl->inflight[cl->inflight_next].t0_ns = s->t0_ns;
				cl->inflight_next = (cl->inflight_next + 1) % 256;
			}
			free(s->b);
			free(s);
			s = next;
		}
		bft_tick(cl->r, t);
		flush(cl);
		if (t >= next_pub) {
			publish(cl);
			next_pub = t + 100;
		}
	}
	return NULL;
}

static int replay_batch(void *arg, uint64_t seq, const uint8_t *b, size_t len)
{
	struct ctl_cluster *cl = arg;
	int rc = bft_replay(cl->r, seq, b, len);

	if (rc == 0)
		batch_index(cl, seq, len);
	return rc;
}

static int restore_vote(void *arg, uint64_t seq, const uint8_t *m, size_t len)
{
	struct ctl_cluster *cl = arg;
	int rc = bft_restore_sent(cl->r, m, len);

	(void)seq;
	trace_msg(rc == 0 ? "restored" : "not restored", (int)cl->c.id, m, len);
	if (rc == 0) {
		/* Sent again after the restart (a retransmission), it is not logged twice. */
		bft_hash(m, len, cl->persisted[cl->persisted_next++ % PERSISTED_MAX]);
		recent_add(cl, m, len);
	}
	return rc;
}

int ctl_cluster_start(struct ctl_node *n, const struct ctl_cluster_cfg *c, struct ctl_cluster **out)
{
	struct ctl_cluster *cl = calloc(1, sizeof(*cl));
	struct bft_config bc = {0};
	struct ctl_peer_cfg pc = {.id = c->id};
	int64_t nb, nv;
	uint64_t r64;
	int rc;

	if (cl == NULL)
		return -ENOMEM;
	cl->n = n;
	cl->c = *c;
	cl->batch_fd = cl->votes_fd = cl->efd = -1;
	cl->q_tail = &cl->q_head;
	pthread_mutex_init(&cl->lock, NULL);
	/* commit_timeout_ms must not follow the wall clock */
	rc = -hm_cond_init_mono(&cl->done);
	cl->persisted = rc ? NULL : calloc(PERSISTED_MAX, BFT_DIGEST);
	cl->n_recent = RECENT_PER_SEQ * c->window + RECENT_EXTRA;
	cl->recent = rc ? NULL : calloc(cl->n_recent, sizeof(*cl->recent));
	if (rc || cl->persisted == NULL || cl->recent == NULL) {
		rc = rc ? rc : -ENOMEM;
		goto err;
	}
	/* Nonces: random start, so a write from before a restart never matches a new waiter. */
	if (getrandom(&r64, sizeof(r64), 0) != sizeof(r64))
		r64 = hm_mono_ns();
	cl->nonce = r64 >> 12; /* stays an exact JSON integer */
	if (mkdir(n->cfg.state_dir, 0700) < 0 && errno != EEXIST) {
		rc = -errno;
		hm_log(HM_LOG_ERR, MOD, "--state-dir %s: %s", n->cfg.state_dir, strerror(errno));
		goto err;
	}
	{
		char p[PATH_MAX];

		snprintf(p, sizeof(p), "%s/changes.log", n->cfg.state_dir);
		if (access(p, F_OK) == 0) {
			hm_log(HM_LOG_ERR, MOD,
			       "--state-dir %s holds a single-node state (changes.log): a cluster "
			       "member needs a directory of its own",
			       n->cfg.state_dir);
			rc = -EEXIST;
			goto err;
		}
	}
	cl->batch_fd =
	    open_log(n->cfg.state_dir, "batches.log", cl->batch_path, sizeof(cl->batch_path));
	cl->votes_fd =
	    open_log(n->cfg.state_dir, "votes.log", cl->votes_path, sizeof(cl->votes_path));
	if (cl->batch_fd < 0 || cl->votes_fd < 0) {
		rc = cl->batch_fd < 0 ? cl->batch_fd : cl->votes_fd;
		goto err;
	}
	bc.n = c->n0;
	bc.id = c->id;
	bc.checkpoint_interval = c->checkpoint_interval;
	bc.window = c->window;
	bc.view_timeout_ms = c->view_timeout_ms;
	bc.retransmit_ms = c->retransmit_ms;
	bc.batch_max = c->batch_max;
	bc.pipeline_max = c->pipeline_max;
	memcpy(bc.pub, c->pub, sizeof(bc.pub));
	memcpy(bc.priv, c->priv, BFT_KEY);
	bc.ops = (struct bft_ops){
	    .send = on_send, .execute = on_execute, .commit = on_commit, .load = on_load};
	bc.ctx = cl;
	rc = bft_create(&bc, &cl->r);
	if (rc < 0) {
		hm_log(HM_LOG_ERR, MOD, "consensus settings refused: %s", strerror(-rc));
		goto err;
	}
	cl->replaying = true;
	nb = rec_replay(cl->batch_path, cl->batch_fd, replay_batch, cl);
	nv = nb < 0 ? 0 : rec_replay(cl->votes_path, cl->votes_fd, restore_vote, cl);
	cl->replaying = false;
	if (nb < 0 || nv < 0) {
		rc = nb < 0 ? (int)nb : (int)nv;
		goto err;
	}
	bft_restore_done(cl->r, hm_mono_ms());
	rc = votes_compact(cl);
	if (rc < 0) {
		hm_log(HM_LOG_ERR, MOD, "%s: rewrite: %s", cl->votes_path, strerror(-rc));
		goto err;
	}
	hm_log(HM_LOG_INFO, MOD,
	       "member %u of %u (f = %u): %" PRId64 " batches replayed (revision %" PRIu64
	       "), %" PRId64 " own messages restored",
	       c->id, c->n, bft_faults(c->n), nb, n->model.revision, nv);
	/* The file's members, and those the replayed log added. */
	pc.n = cl->c.n;
	for (uint32_t i = 0; i < cl->c.n; i++)
		pc.addr[i] = cl->c.peer[i];
	rc = ctl_peer_open(&pc, &cl->peer);
	if (rc < 0)
		goto err;
	cl->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (cl->efd < 0) {
		rc = -errno;
		goto err;
	}
	publish(cl);
	rc = -pthread_create(&cl->thr, NULL, cluster_main, cl);
	if (rc < 0)
		goto err;
	cl->started = true;
	*out = cl;
	return 0;
err:
	ctl_cluster_stop(cl);
	return rc;
}

void ctl_cluster_stop(struct ctl_cluster *cl)
{
	if (cl == NULL)
		return;
	if (cl->started) {
		cl->stop = true;
		pthread_join(cl->thr, NULL);
		/* Everything sent is in votes.log: seal it, synced (a restart needs no fence). */
		bft_seal(cl->r);
		flush(cl);
	}
	while (cl->q_head) {
		struct submit *s = cl->q_head;

		cl->q_head = s->next;
		free(s->b);
		free(s);
	}
	for (size_t i = 0; i < cl->n_out; i++)
		free(cl->outbox[i].b);
	free(cl->outbox);
	for (uint32_t i = 0; cl->recent && i < cl->n_recent; i++)
		free(cl->recent[i].b);
	free(cl->recent);
	free(cl->persisted);
	free(cl->batch_off);
	ctl_peer_close(cl->peer);
	bft_destroy(cl->r);
	/* A clean stop leaves nothing to recover: what was only written is synced. */
	if (cl->batch_fd >= 0 && (fdatasync(cl->batch_fd) < 0 || close(cl->batch_fd) < 0))
		hm_log(HM_LOG_WARN, MOD, "%s: %s at stop", cl->batch_path, strerror(errno));
	if (cl->votes_fd >= 0 && (fdatasync(cl->votes_fd) < 0 || close(cl->votes_fd) < 0))
		hm_log(HM_LOG_WARN, MOD, "%s: %s at stop", cl->votes_path, strerror(errno));
	if (cl->efd >= 0)
		close(cl->efd);
	pthread_mutex_destroy(&cl->lock);
	pthread_cond_destroy(&cl->done);
	free(cl);
}

/* ---- REST side ------------------------------------------------------------------------ */

static int submit_wait(struct ctl_cluster *cl, const char *method, const char *coll,
		       const char *item, uint64_t ifv, const json_t *body, json_t **out);

int ctl_cluster_write(struct ctl_cluster *cl, const char *method, const char *coll,
		      const char *item, uint64_t ifv, const json_t *body, json_t **out)
{
	struct ctl_node *n = cl->n;

	/* Refuse what is wrong already here: no round through the cluster for a 4xx. */
	{
		struct ctl_change c;
		struct ctl_err e;
		int rc;

		pthread_mutex_lock(&n->lock);
		rc = ctl_model_prepare(&n->model, coll, body, item, strcmp(method, "DELETE") == 0,
				       ifv, &c, &e);
		pthread_mutex_unlock(&n->lock);
		if (rc < 0)
			return ctl_rest_error(out, e.status, e.field, "%s", e.msg);
	}
	return submit_wait(cl, method, coll, item, ifv, body, out);
}

/*
 * Sign and send a write as a request of the log (§4.1) and wait until it
 * is executed here (its answer) or commit_timeout_ms passes (503).
 */
static int submit_wait(struct ctl_cluster *cl, const char *method, const char *coll,
		       const char *item, uint64_t ifv, const json_t *body, json_t **out)
{
	struct waiter w = {0}, **pp;
	struct submit *s;
	struct timespec dl;
	json_t *req;
	char *txt;
	int status;
	const uint64_t one = 1;
	bool member;

	pthread_mutex_lock(&cl->lock);
	member = cl->snap.member;
	w.nonce = ++cl->nonce;
	pthread_mutex_unlock(&cl->lock);
	if (!member)
		return ctl_rest_error(out, 503, "",
				      "member %u does not vote (not added through the log yet, or "
				      "removed): write to a member",
				      cl->c.id);
	req = json_pack("{s:i, s:I, s:s, s:s, s:s?, s:I, s:O?}", "o", (int)cl->c.id, "n",
			(json_int_t)w.nonce, "m", method, "c", coll, "i", item, "v",
			(json_int_t)ifv, "b", (json_t *)body);
	txt = req ? json_dumps(req, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(req);
	if (txt == NULL)
		return ctl_rest_error(out, 500, "", "out of memory");
	if (strlen(txt) > BFT_REQ_MAX) {
		size_t l = strlen(txt);

		free(txt);
		return ctl_rest_error(out, 413, "",
				      "the write is %zu bytes as a log entry; the limit is %d", l,
				      BFT_REQ_MAX);
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		free(txt);
		return ctl_rest_error(out, 500, "", "out of memory");
	}
	s->b = (uint8_t *)txt;
	s->len = strlen(txt);
	s->nonce = w.nonce;
	s->t0_ns = hm_mono_ns();
	dl = hm_mono_deadline(cl->c.commit_timeout_ms);
	pthread_mutex_lock(&cl->lock);
	w.next = cl->waiters;
	cl->waiters = &w;
	*cl->q_tail = s;
	cl->q_tail = &s->next;
	pthread_mutex_unlock(&cl->lock);
	if (write(cl->efd, &one, sizeof(one)) < 0)
		hm_log(HM_LOG_WARN, MOD, "eventfd: %s", strerror(errno));
	pthread_mutex_lock(&cl->lock);
	while (!w.done && pthread_cond_timedwait(&cl->done, &cl->lock, &dl) != ETIMEDOUT)
		;
	for (pp = &cl->waiters; *pp; pp = &(*pp)->next)
		if (*pp == &w) {
			*pp = w.next;
			break;
		}
	if (w.done) {
		status = w.status;
		*out = w.out;
	} else {
		uint64_t view = cl->snap.view;
		uint32_t up = 0;

		json_decref(w.out); /* (ready, not yet answered: flush() was about to) */

		for (uint32_t i = 0; i < cl->c.n; i++)
			up += cl->snap_member[i] && cl->psnap.up[i];
		status = ctl_rest_error(
		    out, 503, "",
		    "not committed within %u ms (view %" PRIu64 ", %u of %u peers reachable, "
		    "quorum %u): no quorum; the write may still commit later",
		    cl->c.commit_timeout_ms, view, up, cl->snap.members - 1,
		    bft_quorum(cl->snap.members));
	}
	pthread_mutex_unlock(&cl->lock);
	return status;
}

int ctl_cluster_members_write(struct ctl_cluster *cl, const char *method, const char *item,
			      const json_t *body, json_t **out)
{
	bool add = strcmp(method, "POST") == 0;

	if (add ? item != NULL : strcmp(method, "DELETE") != 0 || item == NULL)
		return ctl_rest_error(out, 405, "",
				      "%s is not allowed here (POST /v1/members with the member, "
				      "DELETE /v1/members/ID)",
				      method);
	if (add) {
		/* Refuse a malformed one here: no round through the log for a 400. */
		uint32_t id;
		struct ctl_peer_addr addr;
		const char *api;
		uint8_t pub[BFT_KEY];
		int rc = member_parse(body, &id, &addr, &api, pub, out);

		if (rc)
			return rc;
	}
	return submit_wait(cl, method, "@members", item, 0, body, out);
}

void ctl_cluster_peer_rtt(struct ctl_cluster *cl, uint32_t *rtt)
{
	pthread_mutex_lock(&cl->lock);
	memcpy(rtt, cl->psnap.rtt_us, sizeof(cl->psnap.rtt_us));
	pthread_mutex_unlock(&cl->lock);
}

void ctl_cluster_member(const struct ctl_cluster *cl, uint32_t *id, uint32_t *n)
{
	*id = cl->c.id;
	*n = cl->c.n;
}

bool ctl_cluster_is_primary(struct ctl_cluster *cl)
{
	bool p;

	pthread_mutex_lock(&cl->lock);
	p = cl->snap.primary == cl->c.id && cl->snap.member;
	pthread_mutex_unlock(&cl->lock);
	return p;
}

uint64_t ctl_cluster_commit_index(struct ctl_cluster *cl)
{
	uint64_t v;

	pthread_mutex_lock(&cl->lock);
	v = cl->snap.executed_seq;
	pthread_mutex_unlock(&cl->lock);
	return v;
}

json_t *ctl_cluster_json(struct ctl_cluster *cl)
{
	json_t *mem = json_array(), *j;
	struct bft_stats st;
	struct ctl_peer_stats ps;

	pthread_mutex_lock(&cl->lock);
	st = cl->snap;
	ps = cl->psnap;
	/* Everyone this member knows of: the file's, and those the log added or removed. */
	for (uint32_t i = 0; i < cl->c.n; i++) {
		char peer[96], pk[2 * BFT_KEY + 1];

		if (!cl->c.peer[i].host[0])
			continue;
		snprintf(peer, sizeof(peer), "%s:%u", cl->c.peer[i].host, cl->c.peer[i].port);
		hm_hex_encode(cl->c.pub[i], BFT_KEY, pk);
		json_array_append_new(
		    mem, json_pack("{s:i, s:s, s:s, s:s, s:b, s:b, s:I}", "node_id", (int)i,
				   "address", cl->c.api[i], "peer", peer, "public_key", pk,
				   "member", cl->snap_member[i], "connected",
				   i == cl->c.id || ps.up[i], "rtt_us", (json_int_t)ps.rtt_us[i]));
	}
	pthread_mutex_unlock(&cl->lock);
	j = json_pack("{s:s, s:s, s:i, s:b, s:o, s:I, s:i, s:I, s:I, s:I, s:i, s:i, s:{s:I, s:I, "
		      "s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}}",
		      "mode", "bft", "protocol", "PBFT (Castro & Liskov, OSDI 1999)", "self",
		      (int)cl->c.id, "voting", st.member, "members", mem,
		      "membership_change_after", (json_int_t)st.reconfig_at, "leader",
		      (int)st.primary, "view", (json_int_t)st.view, "commit_index",
		      (json_int_t)st.executed_seq, "stable_checkpoint", (json_int_t)st.stable_seq,
		      "quorum", (int)bft_quorum(st.members), "f", (int)bft_faults(st.members),
		      "counters",
		      "requests", (json_int_t)st.requests, "view_changes",
		      (json_int_t)st.view_changes, "state_transfers",
		      (json_int_t)st.state_transfers, "bad_signature", (json_int_t)st.bad_signature,
		      "non_member", (json_int_t)st.non_member, "wrong_view",
		      (json_int_t)st.wrong_view, "out_of_window", (json_int_t)st.out_of_window,
		      "malformed", (json_int_t)(st.malformed + st.bad_new_view), "fetch_rate",
		      (json_int_t)st.fetch_limited, "votes_after_quorum", (json_int_t)st.moot_votes,
		      "votes_held_back", (json_int_t)st.fenced_votes, "peer_sent",
		      (json_int_t)ps.sent, "peer_dropped", (json_int_t)ps.dropped);
	return j;
}
