/* SPDX-License-Identifier: BSD-3-Clause */
/* ctl_peer — TCP back end of the replica message pipe (see ctl_peer.h). */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ctl_peer.h"
#include "hm_log.h"
#include "hm_sockaddr.h"
#include "hm_time.h"

#define MOD	    "peer"
#define IN_MAX	    (2 * CTL_PEER_MAX)
#define BACKOFF_MIN 50
#define BACKOFF_MAX 2000

struct bytes {
	uint8_t *b;
	size_t len, cap, off; /* off: consumed (out) */
};

struct out_conn {
	int fd; /* -1: not connected */
	bool connecting;
	uint64_t retry_at, backoff;
	struct bytes q;
};

struct in_conn {
	int fd; /* -1: free */
	struct bytes rx;
};

struct ctl_peer {
	struct ctl_peer_cfg c;
	int lfd;
	struct out_conn out[CTL_PEER_MAX];
	struct in_conn in[IN_MAX];
	struct ctl_peer_stats st;
};


static int bytes_reserve(struct bytes *b, size_t more)
{
	size_t cap = b->cap ? b->cap : 4096;
	uint8_t *nb;

	if (b->len + more <= b->cap)
		return 0;
	while (cap < b->len + more)
		cap *= 2;
	nb = realloc(b->b, cap);
	if (nb == NULL)
		return -ENOMEM;
	b->b = nb;
	b->cap = cap;
	return 0;
}

/*
 * Room for @more bytes at the end of a send queue. The part already sent
 * (before off) is given back first: a peer that reads steadily but never
 * quite empties the queue would otherwise make the buffer grow for good,
 * as queue_max bounds only what is unsent. So the buffer stays under twice
 * the largest unsent part (queue_max).
 */
static int queue_reserve(struct bytes *q, size_t more)
{
	if (q->off && q->len + more > q->cap) {
		memmove(q->b, q->b + q->off, q->len - q->off);
		q->len -= q->off;
		q->off = 0;
	}
	return bytes_reserve(q, more);
}

static void bytes_free(struct bytes *b)
{
	free(b->b);
	*b = (struct bytes){0};
}

int ctl_peer_open(const struct ctl_peer_cfg *c, struct ctl_peer **out)
{
	struct ctl_peer *p;
	struct sockaddr_storage ss;
	socklen_t sl;
	int one = 1, rc;

	if (c->n == 0 || c->n > CTL_PEER_MAX || c->id >= c->n)
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return -ENOMEM;
	p->c = *c;
	if (p->c.queue_max == 0)
		p->c.queue_max = 8u << 20;
	for (uint32_t i = 0; i < CTL_PEER_MAX; i++)
		p->out[i] = (struct out_conn){.fd = -1, .backoff = BACKOFF_MIN};
	for (uint32_t i = 0; i < IN_MAX; i++)
		p->in[i].fd = -1;
	if (hm_sockaddr_parse(c->addr[c->id].host, c->addr[c->id].port, &ss, &sl) < 0) {
		hm_log(HM_LOG_ERR, MOD, "peer address %s: not an IP literal", c->addr[c->id].host);
		rc = -EINVAL;
		goto err;
	}
	p->lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (p->lfd < 0 || setsockopt(p->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(p->lfd, (struct sockaddr *)&ss, sl) < 0 || listen(p->lfd, 64) < 0) {
		rc = -errno;
		hm_log(HM_LOG_ERR, MOD, "listen on %s:%u: %s", c->addr[c->id].host,
		       c->addr[c->id].port, strerror(errno));
		if (p->lfd >= 0)
			close(p->lfd);
		goto err;
	}
	*out = p;
	return 0;
err:
	free(p);
	return rc;
}

static void out_down(struct ctl_peer *p, uint32_t i, uint64_t now)
{
	struct out_conn *o = &p->out[i];

	if (o->fd >= 0)
		close(o->fd);
	o->fd = -1;
	o->connecting = false;
	/* What was queued for a broken connection is stale: the core retransmits. */
	o->q.len = o->q.off = 0;
	o->retry_at = now + o->backoff;
	o->backoff = o->backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : o->backoff * 2;
	if (p->st.up[i])
		hm_log(HM_LOG_WARN, MOD, "peer %u (%s:%u): connection lost", i, p->c.addr[i].host,
		       p->c.addr[i].port);
	p->st.up[i] = false;
}

static void out_connect(struct ctl_peer *p, uint32_t i, uint64_t now)
{
	struct out_conn *o = &p->out[i];
	struct sockaddr_storage ss;
	socklen_t sl;
	int one = 1;

	if (hm_sockaddr_parse(p->c.addr[i].host, p->c.addr[i].port, &ss, &sl) < 0)
		return;
	o->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (o->fd < 0) {
		out_down(p, i, now);
		return;
	}
	setsockopt(o->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* From our own peer address: what a member sends is seen coming from it (firewalls). */
	{
		struct sockaddr_storage me;
		socklen_t ml;

		if (hm_sockaddr_parse(p->c.addr[p->c.id].host, p->c.addr[p->c.id].port, &me, &ml) == 0 &&
		    me.ss_family == ss.ss_family) {
			if (me.ss_family == AF_INET)
				((struct sockaddr_in *)&me)->sin_port = 0;
			else
				((struct sockaddr_in6 *)&me)->sin6_port = 0;
			if (bind(o->fd, (struct sockaddr *)&me, ml) < 0) {
				out_down(p, i, now);
				return;
			}
		}
	}
	if (connect(o->fd, (struct sockaddr *)&ss, sl) == 0) {
		o->connecting = false;
	} else if (errno == EINPROGRESS) {
		o->connecting = true;
	} else {
		out_down(p, i, now);
		return;
	}
	if (!o->connecting) {
		p->st.up[i] = true;
		p->st.connects++;
		o->backoff = BACKOFF_MIN;
	}
}

void ctl_peer_send(struct ctl_peer *p, int to, const uint8_t *m, size_t len)
{
	for (uint32_t i = 0; i < p->c.n; i++) {
		struct out_conn *o = &p->out[i];

		if (i == p->c.id || (to >= 0 && (uint32_t)to != i) || !p->c.addr[i].host[0])
			continue;
		if (!p->st.up[i] || o->q.len - o->q.off + len + 4 > p->c.queue_max ||
		    len > CTL_PEER_FRAME_MAX) {
			p->st.dropped++;
			continue;
		}
		if (o->q.off && o->q.off == o->q.len)
			o->q.len = o->q.off = 0;
		if (queue_reserve(&o->q, len + 4) < 0) {
			p->st.dropped++;
			continue;
		}
		o->q.b[o->q.len] = (uint8_t)len;
		o->q.b[o->q.len + 1] = (uint8_t)(len >> 8);
		o->q.b[o->q.len + 2] = (uint8_t)(len >> 16);
		o->q.b[o->q.len + 3] = (uint8_t)(len >> 24);
		memcpy(o->q.b + o->q.len + 4, m, len);
		o->q.len += len + 4;
		p->st.sent++;
	}
}

static void out_write(struct ctl_peer *p, uint32_t i, uint64_t now)
{
	struct out_conn *o = &p->out[i];

	while (o->q.off < o->q.len) {
		ssize_t w = send(o->fd, o->q.b + o->q.off, o->q.len - o->q.off, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno != EAGAIN && errno != EINTR)
				out_down(p, i, now);
			return;
		}
		o->q.off += (size_t)w;
	}
	o->q.len = o->q.off = 0;
}

/* Read what is there; hand over whole frames. False: close the connection. */
static bool in_read(struct ctl_peer *p, struct in_conn *c,
		    void (*on_msg)(void *, const uint8_t *, size_t), void *arg)
{
	for (;;) {
		ssize_t r;
		size_t at = 0;

		if (bytes_reserve(&c->rx, 65536) < 0)
			return false;
		r = recv(c->fd, c->rx.b + c->rx.len, c->rx.cap - c->rx.len, 0);
		if (r == 0)
			return false;
		if (r < 0)
			return errno == EAGAIN || errno == EINTR;
		c->rx.len += (size_t)r;
		while (c->rx.len - at >= 4) {
			const uint8_t *h = c->rx.b + at;
			uint32_t len = h[0] | h[1] << 8 | h[2] << 16 | (uint32_t)h[3] << 24;

			if (len == 0 || len > CTL_PEER_FRAME_MAX) {
				p->st.bad_frames++;
				return false;
			}
			if (c->rx.len - at - 4 < len)
				break;
			p->st.received++;
			on_msg(arg, h + 4, len);
			at += 4 + len;
		}
		memmove(c->rx.b, c->rx.b + at, c->rx.len - at);
		c->rx.len -= at;
	}
}

static void in_close(struct in_conn *c)
{
	close(c->fd);
	c->fd = -1;
	bytes_free(&c->rx);
}

int ctl_peer_poll(struct ctl_peer *p, int timeout_ms, int wake_fd,
		  void (*on_msg)(void *arg, const uint8_t *m, size_t len), void *arg)
{
	struct pollfd pf[2 + CTL_PEER_MAX + IN_MAX];
	int who[2 + CTL_PEER_MAX + IN_MAX]; /* >= 0 out peer, < -1: in conn -(k + 2) */
	uint64_t now = hm_mono_ms();
	nfds_t n = 0;
	int woke = 0;

	for (uint32_t i = 0; i < p->c.n; i++) {
		struct out_conn *o = &p->out[i];

		if (i == p->c.id || !p->c.addr[i].host[0])
			continue; /* (an id no member has: none added there yet) */
		if (o->fd < 0 && now >= o->retry_at)
			out_connect(p, i, now);
		if (o->fd < 0)
			continue;
		if (!o->connecting && o->q.off < o->q.len)
			out_write(p, i, now);
		if (o->fd < 0)
			continue;
		/* Also POLLIN: the peer never writes here, so readable means closed. */
		pf[n] = (struct pollfd){
		    .fd = o->fd,
		    .events =
			(short)(POLLIN | (o->connecting || o->q.off < o->q.len ? POLLOUT : 0))};
		who[n++] = (int)i;
	}
	pf[n] = (struct pollfd){.fd = p->lfd, .events = POLLIN};
	who[n++] = -1;
	for (int k = 0; k < IN_MAX; k++)
		if (p->in[k].fd >= 0) {
			pf[n] = (struct pollfd){.fd = p->in[k].fd, .events = POLLIN};
			who[n++] = -(k + 2);
		}
	if (wake_fd >= 0) {
		pf[n] = (struct pollfd){.fd = wake_fd, .events = POLLIN};
		who[n++] = -1000;
	}
	if (poll(pf, n, timeout_ms) <= 0)
		return 0;
	now = hm_mono_ms();
	for (nfds_t x = 0; x < n; x++) {
		if (!pf[x].revents)
			continue;
		if (who[x] == -1000) {
			woke = 1;
		} else if (who[x] >= 0) {
			uint32_t i = (uint32_t)who[x];
			struct out_conn *o = &p->out[i];

			if (o->connecting) {
				int e = 0;
				socklen_t el = sizeof(e);

				getsockopt(o->fd, SOL_SOCKET, SO_ERROR, &e, &el);
				if (e || (pf[x].revents & (POLLERR | POLLHUP))) {
					out_down(p, i, now);
					continue;
				}
				o->connecting = false;
				o->backoff = BACKOFF_MIN;
				p->st.up[i] = true;
				p->st.connects++;
				hm_log(HM_LOG_INFO, MOD, "peer %u (%s:%u): connected", i,
				       p->c.addr[i].host, p->c.addr[i].port);
			} else if (pf[x].revents & (POLLIN | POLLERR | POLLHUP)) {
				out_down(p, i, now);
				continue;
			}
			out_write(p, i, now);
		} else if (who[x] == -1) {
			int fd;

			while ((fd = accept4(p->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >=
			       0) {
				int k = 0;

				while (k < IN_MAX && p->in[k].fd >= 0)
					k++;
				if (k == IN_MAX) {
					close(fd); /* more than members could open: refuse */
					continue;
				}
				p->in[k].fd = fd;
			}
		} else {
			struct in_conn *c = &p->in[-who[x] - 2];

			if (!in_read(p, c, on_msg, arg))
				in_close(c);
		}
	}
	return woke;
}

void ctl_peer_stats_get(const struct ctl_peer *p, struct ctl_peer_stats *out)
{
	*out = p->st;
	for (uint32_t i = 0; i < p->c.n && i < CTL_PEER_MAX; i++) {
		struct tcp_info ti;
		socklen_t tl = sizeof(ti);

		out->rtt_us[i] = 0;
		/* The consensus traffic keeps it fresh: no probe of our own. */
		if (p->st.up[i] && p->out[i].fd >= 0 &&
		    getsockopt(p->out[i].fd, IPPROTO_TCP, TCP_INFO, &ti, &tl) == 0)
			out->rtt_us[i] = ti.tcpi_rtt;
		out->queued[i] = p->out[i].q.len - p->out[i].q.off;
		out->queue_alloc[i] = p->out[i].q.cap;
	}
}

int ctl_peer_add(struct ctl_peer *p, uint32_t id, const struct ctl_peer_addr *a)
{
	struct sockaddr_storage ss;
	socklen_t sl;

	if (id >= CTL_PEER_MAX || id == p->c.id || hm_sockaddr_parse(a->host, a->port, &ss, &sl) < 0)
		return -EINVAL;
	if (p->out[id].fd >= 0 &&
	    (strcmp(p->c.addr[id].host, a->host) != 0 || p->c.addr[id].port != a->port))
		out_down(p, id, hm_mono_ms()); /* moved: reconnect there */
	p->c.addr[id] = *a;
	if (id >= p->c.n)
		p->c.n = id + 1;
	return 0;
}

void ctl_peer_close(struct ctl_peer *p)
{
	if (p == NULL)
		return;
	for (uint32_t i = 0; i < CTL_PEER_MAX; i++) {
		if (p->out[i].fd >= 0)
			close(p->out[i].fd);
		bytes_free(&p->out[i].q);
	}
	for (int k = 0; k < IN_MAX; k++)
		if (p->in[k].fd >= 0)
			in_close(&p->in[k]);
	close(p->lfd);
	free(p);
}
