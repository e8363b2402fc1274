/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ctl_sync — keeps the dataplane's tables equal to the model.
 *
 * On every connection (first start, dataplane restart, controld restart)
 * it pushes the whole state between SYNC_BEGIN and SYNC_END, so anything
 * the dataplane holds that the model does not is removed and what is
 * unchanged keeps its flows; then COMMIT. After that it sends deltas: the
 * difference between the model and a private copy of what was last
 * committed. A refusal from the dataplane is recorded (/v1/health), logged
 * once (until the dataplane takes a push again or refuses something else),
 * and the full state is pushed again after a pause (refusal_retry_ms, 1 s)
 * or at the next change, whichever comes first. While the dataplane is away
 * the thread retries every second; the dataplane forwards with its last
 * state.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ctl_node.h"
#include "hm_ctlmsg.h"
#include "hm_log.h"
#include "hm_time.h"

#define MOD "controld"

struct sync {
	struct ctl_node *n;
	int fd;
	uint32_t seq;
	bool full;		 /* the next push is a full one */
	char logged[200];	 /* the refusal last logged ("": none since the last push) */
	struct ctl_model shadow; /* what the dataplane has committed */
	/* Cluster: the link RTTs last given to the dataplane's L3 ALM, and when. */
	uint32_t rtt_sent[CTL_PEER_MAX];
	uint64_t rtt_at[CTL_PEER_MAX];
};

#define RTT_CHANGE_PCT 10	   /* a new sample is sent when it moved this much */
#define RTT_REFRESH_NS 10000000000ull /* or this long after the last one */

static void set_error(struct sync *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void set_error(struct sync *s, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&s->n->lock);
	va_start(ap, fmt);
	vsnprintf(s->n->dp.last_error, sizeof(s->n->dp.last_error), fmt, ap);
	va_end(ap);
	s->n->dp.errors++;
	ctl_stat_add(s->n->st_sync, CTL_S_DP_ERRORS, 1);
	/* A refusal repeats at every retry until something changes: one line for it. */
	if (strcmp(s->logged, s->n->dp.last_error) != 0) {
		hm_log(HM_LOG_WARN, MOD, "dataplane: %s", s->n->dp.last_error);
		snprintf(s->logged, sizeof(s->logged), "%s", s->n->dp.last_error);
	}
	pthread_mutex_unlock(&s->n->lock);
}

/* Connect to the dataplane's control socket. Returns the fd or -errno. */
static int dp_connect(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd, rc;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

/*
 * Send @q (its seq set) on @fd and wait for its reply. Returns 0 with the
 * reply's status in *@status and text in @text, or -EPIPE, -ETIMEDOUT or
 * -EPROTO when the channel itself failed.
 */
static int roundtrip(int fd, const struct hm_ctl_msg *q, int *status, char *text,
		     size_t text_len)
{
	uint8_t buf[HM_CTL_MSG_MAX];
	size_t have = 0;
	int n = hm_ctl_encode(q, buf, sizeof(buf));

	if (n < 0)
		return n;
	if (send(fd, buf, (size_t)n, MSG_NOSIGNAL) != n)
		return -EPIPE;
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		struct hm_ctl_msg r;
		ssize_t got;

		if (poll(&p, 1, 3000) != 1)
			return -ETIMEDOUT;
		got = recv(fd, buf + have, sizeof(buf) - have, 0);
		if (got <= 0)
			return -EPIPE;
		have += (size_t)got;
		n = hm_ctl_decode(buf, have, &r);
		if (n < 0)
			return -EPROTO;
		if (n == 0)
			continue;
		if (!(r.type & HM_CTL_REPLY_BIT) || r.seq != q->seq)
			return -EPROTO;
		snprintf(text, text_len, "%s", r.u.reply.text);
		*status = r.u.reply.status;
		return 0;
	}
}

/* One request, one reply. Returns the reply status, or -EPIPE/-ETIMEDOUT/-EPROTO. */
static int request(struct sync *s, struct hm_ctl_msg *q, char *text, size_t text_len)
{
	char reply[HM_CTL_TEXT_MAX + 1];
	int status, rc;

	q->seq = ++s->seq;
	rc = roundtrip(s->fd, q, &status, reply, sizeof(reply));
	if (rc < 0)
		return rc;
	if (text)
		snprintf(text, text_len, "%s", reply);
	if (status < 0)
		set_error(s, "%s refused: %s", hm_ctl_type_name(q->type), reply);
	return status;
}

static int send_service(struct sync *s, const struct ctl_service *v, bool del)
{
	struct hm_ctl_msg q = {.type = del ? HM_CTL_SERVICE_DEL : HM_CTL_SERVICE_SET};

	q.u.service.id = v->id;
	q.u.service.port = v->port;
	return request(s, &q, NULL, 0);
}

static int send_backend(struct sync *s, const struct ctl_backend *b, bool del)
{
	struct hm_ctl_msg q = {.type = del ? HM_CTL_BACKEND_DEL : HM_CTL_BACKEND_SET};

	q.u.backend.id = b->id;
	q.u.backend.service = b->service;
	q.u.backend.node = b->node;
	q.u.backend.weight = b->weight;
	q.u.backend.healthy = b->healthy;
	q.u.backend.family = b->family;
	memcpy(q.u.backend.addr, b->addr, 16);
	q.u.backend.port = b->port;
	return request(s, &q, NULL, 0);
}

static int send_link(struct sync *s, const struct ctl_link *l, bool up)
{
	struct hm_ctl_msg q = {.type = HM_CTL_LINK_SET};

	q.u.link.a = l->a;
	q.u.link.b = l->b;
	q.u.link.up = up;
	return request(s, &q, NULL, 0);
}

static int simple(struct sync *s, enum hm_ctl_type t)
{
	struct hm_ctl_msg q = {.type = t};

	return request(s, &q, NULL, 0);
}

/*
 * Cluster mode: what TCP measures on the connections to the other members
 * (member index = mesh node id) becomes LINK_RTT samples of the links from
 * this node, so L3 ALM weighs remote backends by the path to them. Sent
 * when a link's RTT moved by RTT_CHANGE_PCT or every RTT_REFRESH_NS, then
 * one COMMIT. Returns 0 or a transport error.
 */
static int send_rtts(struct sync *s)
{
	uint32_t rtt[CTL_PEER_MAX], nm, me, sent = 0;
	uint64_t now;
	int rc;

	if (s->n->cluster == NULL)
		return 0;
	now = hm_mono_ns();
	ctl_cluster_peer_rtt(s->n->cluster, rtt);
	ctl_cluster_member(s->n->cluster, &me, &nm);
	for (uint32_t j = 0; j < nm && j < CTL_PEER_MAX; j++) {
		struct hm_ctl_msg q = {.type = HM_CTL_LINK_RTT};
		uint32_t old = s->rtt_sent[j];

		if (j == me || rtt[j] == 0)
			continue;
		if (old && (uint64_t)(rtt[j] > old ? rtt[j] - old : old - rtt[j]) * 100 <
				   (uint64_t)old * RTT_CHANGE_PCT &&
		    now - s->rtt_at[j] < RTT_REFRESH_NS)
			continue;
		q.u.link.a = s->n->cfg.node_id;
		q.u.link.b = (uint16_t)j;
		q.u.link.rtt_us = rtt[j];
		rc = request(s, &q, NULL, 0);
		if (rc == -EPIPE || rc == -ETIMEDOUT || rc == -EPROTO)
			return rc;
		/* A refusal (e.g. a node id over the dataplane's mfn_nodes) is
		 * recorded by request() for /v1/health; retried at the refresh. */
		s->rtt_sent[j] = rtt[j];
		s->rtt_at[j] = now;
		sent += rc == 0;
	}
	if (sent) {
		rc = simple(s, HM_CTL_COMMIT);
		if (rc == -EPIPE || rc == -ETIMEDOUT || rc == -EPROTO)
			return rc;
	}
	return 0;
}

static int send_knob(struct sync *s, int knob, uint64_t value)
{
	struct hm_ctl_msg q = {.type = HM_CTL_CONFIG_SET};

	q.u.config.knob = (uint32_t)knob;
	q.u.config.value = value;
	return request(s, &q, NULL, 0);
}

static bool backend_differs(const struct ctl_backend *a, const struct ctl_backend *b)
{
	return a->service != b->service || a->family != b->family ||
	       memcmp(a->addr, b->addr, 16) != 0 || a->port != b->port || a->node != b->node ||
	       a->weight != b->weight || a->healthy != b->healthy;
}

/*
 * Push @cur (a private copy of the model): everything when @s->full, else
 * what differs from the shadow. Returns 0 or the first error.
 */
static int push(struct sync *s, const struct ctl_model *cur)
{
	const struct ctl_model *old = &s->shadow;
	const struct ctl_limits *lim = &cur->lim;
	int rc = 0;

	if (s->full && (rc = simple(s, HM_CTL_SYNC_BEGIN)) < 0)
		return rc;
	for (uint32_t i = 0; i < lim->max_services && rc >= 0; i++)
		if (cur->svc[i].used &&
		    (s->full || !old->svc[i].used || old->svc[i].port != cur->svc[i].port))
			rc = send_service(s, &cur->svc[i], false);
	for (uint32_t i = 0; i < lim->max_backends && rc >= 0; i++) {
		const struct ctl_backend *b = &cur->be[i], *o = &old->be[i];

		if (b->used && (s->full || !o->used || backend_differs(b, o)))
			rc = send_backend(s, b, false);
		/* A deleted service took its backends with it in the dataplane. */
		else if (!s->full && !b->used && o->used && cur->svc[o->service].used &&
			 cur->svc[o->service].id == old->svc[o->service].id)
			rc = send_backend(s, o, true);
	}
	for (uint32_t i = 0; i < lim->max_services && rc >= 0; i++)
		if (!s->full && old->svc[i].used && !cur->svc[i].used)
			rc = send_service(s, &old->svc[i], true);
	for (uint32_t i = 0; i < cur->n_links && rc >= 0; i++) {
		const struct ctl_link *l = &cur->links[i], *o = ctl_model_link(old, l->a, l->b);

		if (s->full || o == NULL || o->up != l->up)
			rc = send_link(s, l, l->up);
	}
	for (uint32_t i = 0; i < old->n_links && rc >= 0; i++)
		if (!s->full && ctl_model_link(cur, old->links[i].a, old->links[i].b) == NULL)
			rc = send_link(s, &old->links[i], false);
	/*
	 * Runtime settings the operator set; one set back to null is left as
	 * it is (controld stops managing it: the dataplane keeps its value).
	 */
	for (int i = 0; i < HM_KNOB__COUNT && rc >= 0; i++)
		if (cur->cfg.set[i] && (s->full || !old->cfg.set[i] ||
					old->cfg.value[i] != cur->cfg.value[i]))
			rc = send_knob(s, i, cur->cfg.value[i]);
	if (rc >= 0 && s->full)
		rc = simple(s, HM_CTL_SYNC_END);
	if (rc >= 0)
		rc = simple(s, HM_CTL_COMMIT);
	return rc < 0 ? rc : 0;
}

/* A private copy of the model, taken under the lock. */
static int copy_model(struct ctl_model *dst, const struct ctl_model *src)
{
	if (dst->svc == NULL && ctl_model_init(dst, &src->lim) < 0)
		return -ENOMEM;
	memcpy(dst->svc, src->svc, src->lim.max_services * sizeof(*src->svc));
	memcpy(dst->be, src->be, src->lim.max_backends * sizeof(*src->be));
	if (dst->cap_links < src->n_links) {
		struct ctl_link *l = realloc(dst->links, src->n_links * sizeof(*l));

		if (l == NULL)
			return -ENOMEM;
		dst->links = l;
		dst->cap_links = src->n_links;
	}
	if (src->n_links)
		memcpy(dst->links, src->links, src->n_links * sizeof(*src->links));
	dst->n_links = src->n_links;
	dst->cfg = src->cfg;
	dst->revision = src->revision;
	return 0;
}

static int connect_dp(struct sync *s)
{
	struct hm_ctl_msg q = {.type = HM_CTL_HELLO};
	char hello[HM_CTL_TEXT_MAX + 1];
	int rc;

	s->fd = dp_connect(s->n->cfg.dataplane_socket);
	if (s->fd < 0)
		return s->fd;
	rc = request(s, &q, hello, sizeof(hello));
	if (rc < 0) {
		close(s->fd);
		s->fd = -1;
		return rc;
	}
	pthread_mutex_lock(&s->n->lock);
	snprintf(s->n->dp.hello, sizeof(s->n->dp.hello), "%s", hello);
	s->n->dp.connected = true;
	ctl_stat_set(s->n->st_sync, CTL_S_DP_UP, 1);
	pthread_mutex_unlock(&s->n->lock);
	hm_log(HM_LOG_INFO, MOD, "dataplane connected: %s", hello);
	s->full = true;
	s->logged[0] = '\0';
	return 0;
}

static void disconnect(struct sync *s, int why)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	pthread_mutex_lock(&s->n->lock);
	if (s->n->dp.connected)
		hm_log(HM_LOG_WARN, MOD, "dataplane channel lost (%s); retrying every second",
		       strerror(-why));
	s->n->dp.connected = false;
	ctl_stat_set(s->n->st_sync, CTL_S_DP_UP, 0);
	pthread_mutex_unlock(&s->n->lock);
}

static void *sync_main(void *arg)
{
	struct sync *s = arg;
	struct ctl_node *n = s->n;
	struct ctl_model cur = {0};
	bool warned = false;
	const uint32_t retry_ms = n->cfg.refusal_retry_ms ? n->cfg.refusal_retry_ms : 1000;

	while (!n->stop) {
		struct timespec until;
		bool refused = false;
		int rc;

		if (s->fd < 0) {
			rc = connect_dp(s);
			if (rc < 0) {
				if (!warned)
					hm_log(HM_LOG_WARN, MOD,
					       "dataplane %s: %s; retrying every second",
					       n->cfg.dataplane_socket, strerror(-rc));
				warned = true;
				sleep(1);
				continue;
			}
			warned = false;
		}
		pthread_mutex_lock(&n->lock);
		rc = copy_model(&cur, &n->model);
		pthread_mutex_unlock(&n->lock);
		if (rc == 0 && (s->full || cur.revision != s->shadow.revision)) {
			bool was_full = s->full;

			rc = push(s, &cur);
			if (rc == 0) {
				copy_model(&s->shadow, &cur);
				if (was_full) /* a new dataplane: it has no samples */
					memset(s->rtt_sent, 0, sizeof(s->rtt_sent));
				s->full = false;
				s->logged[0] = '\0';
				pthread_mutex_lock(&n->lock);
				n->dp.synced_revision = cur.revision;
				if (was_full)
					n->dp.syncs++, ctl_stat_add(n->st_sync, CTL_S_SYNCS, 1);
				else
					n->dp.deltas++, ctl_stat_add(n->st_sync, CTL_S_DELTAS, 1);
				pthread_mutex_unlock(&n->lock);
			} else if (rc == -EPIPE || rc == -ETIMEDOUT || rc == -EPROTO) {
				disconnect(s, rc);
				continue;
			} else {
				/*
				 * Refused (already recorded): start from scratch next
				 * time, after a pause, or sooner at a change.
				 */
				s->full = true;
				refused = true;
			}
		} else if (rc == 0) {
			/* Idle: a HELLO notices a restarted dataplane within a second. */
			struct hm_ctl_msg q = {.type = HM_CTL_HELLO};

			rc = request(s, &q, NULL, 0);
			if (rc < 0) {
				disconnect(s, rc);
				continue;
			}
		}
		if (s->fd >= 0 && (rc = send_rtts(s)) < 0) {
			disconnect(s, rc);
			continue;
		}
		/*
		 * Wait for a change, or a second (the idle HELLO); after a
		 * refusal for the retry pause. A full push still owed for
		 * another reason (a new connection) goes at once.
		 */
		pthread_mutex_lock(&n->lock);
		until = hm_mono_deadline(refused ? retry_ms : 1000);
		for (int w = 0; w == 0 && !n->stop && n->model.revision == cur.revision &&
				(!s->full || refused);)
			w = pthread_cond_timedwait(&n->changed, &n->lock, &until);
		pthread_mutex_unlock(&n->lock);
	}
	if (s->fd >= 0)
		close(s->fd);
	ctl_model_fini(&cur);
	ctl_model_fini(&s->shadow);
	free(s);
	return NULL;
}

int ctl_sync_start(struct ctl_node *n, pthread_t *thr)
{
	struct sync *s = calloc(1, sizeof(*s));
	int rc;

	if (s == NULL)
		return -ENOMEM;
	s->n = n;
	s->fd = -1;
	s->full = true;
	rc = ctl_model_init(&s->shadow, &n->cfg.lim);
	if (rc == 0)
		rc = -pthread_create(thr, NULL, sync_main, s);
	if (rc < 0) {
		ctl_model_fini(&s->shadow);
		free(s);
	}
	return rc;
}

int ctl_dp_call(const char *path, struct hm_ctl_msg *q, int *status, char *text, size_t text_len)
{
	int fd, rc;

	if (text_len)
		text[0] = '\0';
	fd = dp_connect(path);
	if (fd < 0)
		return fd;
	q->seq = 1;
	rc = roundtrip(fd, q, status, text, text_len);
	close(fd);
	return rc;
}
