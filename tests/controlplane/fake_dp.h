/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A fake dataplane for the control plane's tests: listens on a unix socket
 * as hmesh-dataplane's control socket does, answers every request with
 * status 0 and "ok" except the one type it is told to refuse, and counts
 * what it got by type. A test waits on the counts (fake_dp_wait), not on
 * the clock. Any number of connections (the sync thread's, and one per
 * ctl_dp_call); one thread serves them all.
 */
#ifndef FAKE_DP_H
#define FAKE_DP_H

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "hm_ctlmsg.h"
#include "hm_time.h"

#define FAKE_DP_CONNS 8

struct fake_dp {
	char path[108];
	int lfd;
	pthread_t thr;
	pthread_mutex_t lock;
	pthread_cond_t cond; /* signalled at every message counted */
	bool stop;
	/* What it refuses (under lock): requests of type refuse_type get refuse_status. */
	int refuse_type;
	int refuse_status;
	char refuse_text[64];
	unsigned long count[HM_CTL__TYPE_MAX]; /* requests received, by type */
	unsigned long refused;
};

static inline void fake_dp_answer(struct fake_dp *f, int fd, const struct hm_ctl_msg *m)
{
	struct hm_ctl_msg r = {.type = (uint16_t)(m->type | HM_CTL_REPLY_BIT), .seq = m->seq};
	uint8_t out[HM_CTL_MSG_MAX];
	int n;

	pthread_mutex_lock(&f->lock);
	if (m->type < HM_CTL__TYPE_MAX)
		f->count[m->type]++;
	if (f->refuse_type && m->type == f->refuse_type) {
		r.u.reply.status = f->refuse_status;
		snprintf(r.u.reply.text, sizeof(r.u.reply.text), "%s", f->refuse_text);
		f->refused++;
	} else {
		snprintf(r.u.reply.text, sizeof(r.u.reply.text), "%s",
			 m->type == HM_CTL_PREDICT || m->type == HM_CTL_ROUTES ? "{}" : "ok");
	}
	n = hm_ctl_encode(&r, out, sizeof(out));
	/* Counted before the reply goes: a waiter sees it before the sender acts on it. */
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
	if (n > 0)
		(void)!send(fd, out, (size_t)n, MSG_NOSIGNAL);
}

static inline void *fake_dp_main(void *arg)
{
	struct fake_dp *f = arg;
	struct {
		int fd;
		size_t have;
		uint8_t buf[2 * HM_CTL_MSG_MAX];
	} c[FAKE_DP_CONNS];

	for (int i = 0; i < FAKE_DP_CONNS; i++)
		c[i].fd = -1;
	for (;;) {
		struct pollfd pf[1 + FAKE_DP_CONNS];
		int who[1 + FAKE_DP_CONNS];
		nfds_t n = 0;
		bool stop;

		pthread_mutex_lock(&f->lock);
		stop = f->stop;
		pthread_mutex_unlock(&f->lock);
		if (stop)
			break;
		pf[n] = (struct pollfd){.fd = f->lfd, .events = POLLIN};
		who[n++] = -1;
		for (int i = 0; i < FAKE_DP_CONNS; i++)
			if (c[i].fd >= 0) {
				pf[n] = (struct pollfd){.fd = c[i].fd, .events = POLLIN};
				who[n++] = i;
			}
		if (poll(pf, n, 20) <= 0)
			continue;
		for (nfds_t x = 0; x < n; x++) {
			if (!pf[x].revents)
				continue;
			if (who[x] < 0) {
				int fd = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC), k = 0;

				while (k < FAKE_DP_CONNS && c[k].fd >= 0)
					k++;
				if (fd >= 0 && k < FAKE_DP_CONNS)
					c[k].fd = fd, c[k].have = 0;
				else if (fd >= 0)
					close(fd);
				continue;
			}
			int i = who[x];
			ssize_t got =
			    recv(c[i].fd, c[i].buf + c[i].have, sizeof(c[i].buf) - c[i].have, 0);

			if (got <= 0) {
				close(c[i].fd);
				c[i].fd = -1;
				continue;
			}
			c[i].have += (size_t)got;
			for (;;) {
				struct hm_ctl_msg m;
				int used = hm_ctl_decode(c[i].buf, c[i].have, &m);

				if (used <= 0)
					break;
				fake_dp_answer(f, c[i].fd, &m);
				memmove(c[i].buf, c[i].buf + used, c[i].have - (size_t)used);
				c[i].have -= (size_t)used;
			}
		}
	}
	for (int i = 0; i < FAKE_DP_CONNS; i++)
		if (c[i].fd >= 0)
			close(c[i].fd);
	return NULL;
}

/* Listen on @path and serve. 0 or -errno. */
static inline int fake_dp_start(struct fake_dp *f, const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int rc;

	memset(f, 0, sizeof(*f));
	snprintf(f->path, sizeof(f->path), "%s", path);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	pthread_mutex_init(&f->lock, NULL);
	if (hm_cond_init_mono(&f->cond) != 0)
		return -EINVAL;
	f->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (f->lfd < 0 || bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(f->lfd, 8) < 0)
		return -errno;
	rc = pthread_create(&f->thr, NULL, fake_dp_main, f);
	return -rc;
}

static inline void fake_dp_stop(struct fake_dp *f)
{
	pthread_mutex_lock(&f->lock);
	f->stop = true;
	pthread_mutex_unlock(&f->lock);
	pthread_join(f->thr, NULL);
	close(f->lfd);
	unlink(f->path);
}

/* Refuse requests of @type with @status and @text from now on (type 0: refuse nothing). */
static inline void fake_dp_refuse(struct fake_dp *f, int type, int status, const char *text)
{
	pthread_mutex_lock(&f->lock);
	f->refuse_type = type;
	f->refuse_status = status;
	snprintf(f->refuse_text, sizeof(f->refuse_text), "%s", text ? text : "");
	pthread_mutex_unlock(&f->lock);
}

/* Requests of @type received so far. */
static inline unsigned long fake_dp_count(struct fake_dp *f, int type)
{
	unsigned long v;

	pthread_mutex_lock(&f->lock);
	v = f->count[type];
	pthread_mutex_unlock(&f->lock);
	return v;
}

/*
 * Wait until @want requests of @type have arrived, or @ms have passed.
 * Returns the count then (>= @want unless the wait ran out).
 */
static inline unsigned long fake_dp_wait(struct fake_dp *f, int type, unsigned long want,
					 uint64_t ms)
{
	struct timespec until = hm_mono_deadline(ms);
	unsigned long v;

	pthread_mutex_lock(&f->lock);
	while (f->count[type] < want &&
	       pthread_cond_timedwait(&f->cond, &f->lock, &until) != ETIMEDOUT)
		;
	v = f->count[type];
	pthread_mutex_unlock(&f->lock);
	return v;
}

#endif /* FAKE_DP_H */
