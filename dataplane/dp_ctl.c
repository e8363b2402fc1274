/* SPDX-License-Identifier: BSD-3-Clause */
#include "dp_ctl.h"
#include "hm_knobs.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <rte_malloc.h>

#include "alm.h"
#include "cpe.h"
#include "dp_app.h"
#include "dp_mfn.h"
#include "hm_ctlmsg.h"
#include "ifr.h"

#define DP_CTL_CLIENTS 4
#define DP_CTL_BUF     4096

struct dp_ctl_client {
	int fd; /* -1: free */
	struct dp_ctl *ctl;
	unsigned int staged; /* changes staged since this client's last COMMIT */
	size_t rx_len, tx_len;
	uint8_t rx[DP_CTL_BUF];
	uint8_t tx[DP_CTL_BUF];
};

struct dp_ctl {
	struct dp_app *app;
	int lfd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	/* Mark and sweep of a full-state push: what was set since SYNC_BEGIN. */
	bool syncing;
	uint8_t *seen_svc, *seen_be;
	/*
	 * A client left with changes staged and not committed (a batch cut
	 * off): they must not be published by someone else's COMMIT, so the
	 * next COMMIT needs a full sync first (controld sends one on every
	 * connection), whose sweep settles services and backends.
	 */
	bool stale;
	struct dp_ctl_client cl[DP_CTL_CLIENTS];
};

struct dp_ctl *dp_ctl_open(struct dp_app *app, const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct dp_ctl *c;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		DP_LOG(ERR, "\"ctl_socket\" is %s: longer than %zu bytes", path,
		       sizeof(sa.sun_path) - 1);
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->app = app;
	c->seen_svc = calloc(app->cfg.mfn_services, 1);
	c->seen_be = calloc(app->cfg.mfn_backends, 1);
	if (c->seen_svc == NULL || c->seen_be == NULL)
		goto err_free;
	for (int i = 0; i < DP_CTL_CLIENTS; i++)
		c->cl[i].fd = -1;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	snprintf(c->path, sizeof(c->path), "%s", path);
	c->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->lfd < 0) {
		DP_LOG(ERR, "ctl_socket %s: socket: %s", path, strerror(errno));
		goto err_free;
	}
	unlink(path); /* a stale socket of an earlier run */
	if (bind(c->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(c->lfd, 8) < 0) {
		DP_LOG(ERR, "ctl_socket %s: %s", path, strerror(errno));
		goto err_close;
	}
	chmod(path, 0600);
	DP_LOG(INFO, "control socket %s", path);
	return c;

err_close:
	close(c->lfd);
err_free:
	free(c->seen_svc);
	free(c->seen_be);
	free(c);
	return NULL;
}

static void drop_client(struct dp_ctl_client *k)
{
	if (k->staged || k->rx_len) {
		DP_LOG(WARNING,
		       "control client left with %u change(s) staged and not committed and %zu "
		       "byte(s) of an unfinished message: nothing of it is published; the next "
		       "COMMIT needs a full sync (SYNC_BEGIN..SYNC_END) first",
		       k->staged, k->rx_len);
		if (k->staged) {
			k->ctl->stale = true;
			k->ctl->syncing = false; /* its sync cannot be finished by another */
		}
	}
	close(k->fd);
	k->fd = -1;
	k->staged = 0;
	k->rx_len = k->tx_len = 0;
}

static void reply(struct dp_ctl_client *k, const struct hm_ctl_msg *q, int status, const char *fmt,
		  ...) __attribute__((format(printf, 4, 5)));

/* Queue the reply to @q (NULL: to a message that could not be decoded). */
static void reply(struct dp_ctl_client *k, const struct hm_ctl_msg *q, int status, const char *fmt,
		  ...)
{
	struct hm_ctl_msg r = {.type = HM_CTL_REPLY_BIT | (q ? q->type : HM_CTL_HELLO),
			       .seq = q ? q->seq : 0};
	va_list ap;
	int n;

	r.u.reply.status = status;
	va_start(ap, fmt);
	vsnprintf(r.u.reply.text, sizeof(r.u.reply.text), fmt, ap);
	va_end(ap);
	n = hm_ctl_encode(&r, k->tx + k->tx_len, sizeof(k->tx) - k->tx_len);
	if (n < 0) {
		/* The controller stopped reading replies: it cannot follow any more. */
		DP_LOG(WARNING, "control client not reading its replies: closing it");
		drop_client(k);
		return;
	}
	k->tx_len += (size_t)n;
}

/* Remove what a full-state push did not mention. */
static int sync_end(struct dp_ctl *c, struct dp_mfn *m, unsigned int *removed)
{
	struct mfn_alm *alm = dp_mfn_alm(m);
	int rc;

	*removed = 0;
	for (uint32_t b = 0; b < c->app->cfg.mfn_backends; b++)
		if (!c->seen_be[b] && mfn_alm_backend_staged(alm, b, NULL) == 0) {
			rc = dp_mfn_backend_del(m, b);
			if (rc < 0)
				return rc;
			(*removed)++;
		}
	for (uint32_t s = 0; s < c->app->cfg.mfn_services; s++)
		if (!c->seen_svc[s] && mfn_alm_service_staged(alm, s)) {
			rc = dp_mfn_service_del(m, s);
			if (rc < 0)
				return rc;
			(*removed)++;
		}
	return 0;
}

/* CLOCK_MONOTONIC, as the control loop's clock that stamps the forecasts. */
static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The service's latest L4 forecast as JSON in the reply text. */
/*
 * ROUTES: where L3 sends new flows of a service now, as shares of evenly
 * spread flow hashes per node with the path cost to each (the main lcore is
 * L3's writer, so it may read the path costs).
 */
#define ROUTES_SAMPLES 4096
static void routes(struct dp_ctl *c, struct dp_ctl_client *k, const struct hm_ctl_msg *q,
		   struct dp_mfn *m)
{
	static uint32_t cnt[MFN_ALM_NODES_MAX];
	const struct mfn_alm *alm = dp_mfn_alm(m);
	char txt[HM_CTL_TEXT_MAX + 1];
	uint32_t unreach = 0, sep = 0;
	size_t n;

	if (q->u.service.id >= c->app->cfg.mfn_services) {
		reply(k, q, -EINVAL, "service %u: ids are 0..%u", q->u.service.id,
		      c->app->cfg.mfn_services - 1);
		return;
	}
	memset(cnt, 0, sizeof(cnt));
	for (uint64_t i = 0; i < ROUTES_SAMPLES; i++) {
		struct mfn_alm_decision d;
		/* The middle of each of ROUTES_SAMPLES equal slices of the hash space. */
		int rc = mfn_alm_pick(alm, q->u.service.id,
				      ((2 * i + 1) << 32) / (2 * ROUTES_SAMPLES), &d);

		if (rc == -ENOENT) {
			reply(k, q, -ENOENT, "service %u: not in L3", q->u.service.id);
			return;
		}
		if (rc < 0 || d.node >= MFN_ALM_NODES_MAX)
			unreach++;
		else
			cnt[d.node]++;
	}
	n = (size_t)snprintf(txt, sizeof(txt),
			     "{\"service\":%u,\"local_node\":%u,\"samples\":%u,\"nodes\":[",
			     q->u.service.id, c->app->cfg.mfn_node_id, ROUTES_SAMPLES);
	for (uint32_t node = 0; node < MFN_ALM_NODES_MAX && n < sizeof(txt); node++)
		if (cnt[node])
			n += (size_t)snprintf(txt + n, sizeof(txt) - n,
					      "%s{\"node\":%u,\"share\":%.4f,\"path_cost_us\":%.0f}",
					      sep++ ? "," : "", node,
					      (double)cnt[node] / ROUTES_SAMPLES,
					      mfn_alm_path_cost(alm, (uint16_t)node));
	if (n + 32 >= sizeof(txt)) {
		reply(k, q, -EMSGSIZE, "routes do not fit a reply");
		return;
	}
	reply(k, q, 0, "%s],\"unreachable\":%.4f}", txt, (double)unreach / ROUTES_SAMPLES);
}

static void predict(struct dp_ctl *c, struct dp_ctl_client *k, const struct hm_ctl_msg *q,
		    const struct dp_mfn *m)
{
	static const char *const names[MFN_CPE_NMETRIC] = {"flows_per_s", "packets_per_s",
							   "bytes_per_s"};
	struct mfn_cpe_forecast f[DP_MFN_PRED_MAX];
	char txt[HM_CTL_TEXT_MAX + 1];
	unsigned int h;
	uint64_t t_ns;
	bool model;
	size_t n;
	int rc;

	if (q->u.service.id >= c->app->cfg.mfn_services) {
		reply(k, q, -EINVAL, "service %u: ids are 0..%u", q->u.service.id,
		      c->app->cfg.mfn_services - 1);
		return;
	}
	rc = dp_mfn_prediction(m, q->u.service.id, f, &h, &t_ns, &model);
	if (rc < 0) {
		reply(k, q, rc, "service %u: no forecast (no traffic seen yet)", q->u.service.id);
		return;
	}
	n = (size_t)snprintf(txt, sizeof(txt),
			     "{\"service\":%u,\"interval_ms\":%u,\"age_ms\":%" PRIu64
			     ",\"model\":\"%s\"",
			     q->u.service.id, c->app->cfg.mfn_cpe_interval_ms,
			     (now_ns() - t_ns) / 1000000, model ? "holt_winters" : "last_value");
	for (int x = 0; x < MFN_CPE_NMETRIC && n < sizeof(txt); x++) {
		n += (size_t)snprintf(txt + n, sizeof(txt) - n, ",\"%s\":[", names[x]);
		for (unsigned int i = 0; i < h && n < sizeof(txt); i++)
			n += (size_t)snprintf(txt + n, sizeof(txt) - n, "%s%.1f", i ? "," : "",
					      f[i].v[x]);
		if (n < sizeof(txt))
			n += (size_t)snprintf(txt + n, sizeof(txt) - n, "]");
	}
	if (n + 1 >= sizeof(txt)) {
		reply(k, q, -EMSGSIZE, "forecast does not fit a reply");
		return;
	}
	reply(k, q, 0, "%s}", txt);
}

static void apply(struct dp_ctl *c, struct dp_ctl_client *k, const struct hm_ctl_msg *q)
{
	struct dp_mfn *m = dp_mfn_get();
	struct mfn_alm_backend b;
	unsigned int n;
	int rc = 0;

	if (q->type & HM_CTL_REPLY_BIT) {
		reply(k, q, -EBADMSG, "a reply is not a request");
		return;
	}
	if (q->type == HM_CTL_HELLO) {
		reply(k, q, 0, "hmesh-dataplane pid %d mfn %s", (int)getpid(), m ? "on" : "off");
		return;
	}
	if (m == NULL) {
		reply(k, q, -ENOTSUP, "%s: the MFN pipeline is off (mfn = false)",
		      hm_ctl_type_name(q->type));
		return;
	}
	if (q->type == HM_CTL_COMMIT && c->stale) {
		reply(k, q, -ESTALE,
		      "a control client left with changes staged and not committed: send a full "
		      "sync (SYNC_BEGIN..SYNC_END) before COMMIT");
		return;
	}
	switch (q->type) {
	case HM_CTL_SYNC_BEGIN:
		memset(c->seen_svc, 0, c->app->cfg.mfn_services);
		memset(c->seen_be, 0, c->app->cfg.mfn_backends);
		c->syncing = true;
		break;
	case HM_CTL_SYNC_END:
		if (!c->syncing) {
			reply(k, q, -EINVAL, "SYNC_END without SYNC_BEGIN");
			return;
		}
		c->syncing = false;
		rc = sync_end(c, m, &n);
		if (rc == 0) {
			c->stale = false; /* the sweep settled what the other client left */
			k->staged++;
			reply(k, q, 0, "%u objects removed", n);
			return;
		}
		break;
	case HM_CTL_SERVICE_SET:
		if (q->u.service.id >= c->app->cfg.mfn_services) {
			reply(k, q, -EINVAL, "service %u: ids are 0..%u", q->u.service.id,
			      c->app->cfg.mfn_services - 1);
			return;
		}
		rc = dp_mfn_service_set(m, q->u.service.id, q->u.service.port);
		if (rc == 0)
			c->seen_svc[q->u.service.id] = 1;
		break;
	case HM_CTL_SERVICE_DEL:
		rc = dp_mfn_service_del(m, q->u.service.id);
		break;
	case HM_CTL_BACKEND_SET:
		if (q->u.backend.id >= c->app->cfg.mfn_backends) {
			reply(k, q, -EINVAL, "backend %u: ids are 0..%u", q->u.backend.id,
			      c->app->cfg.mfn_backends - 1);
			return;
		}
		memset(&b, 0, sizeof(b));
		b.id = q->u.backend.id;
		b.service = q->u.backend.service;
		b.node = q->u.backend.node;
		b.weight = q->u.backend.weight;
		b.healthy = q->u.backend.healthy;
		b.family = q->u.backend.family == 4 ? AF_INET : AF_INET6;
		memcpy(b.addr, q->u.backend.addr, 16);
		b.port = q->u.backend.port;
		rc = dp_mfn_backend_set(m, &b);
		if (rc == 0)
			c->seen_be[b.id] = 1;
		break;
	case HM_CTL_BACKEND_DEL:
		rc = dp_mfn_backend_del(m, q->u.backend.id);
		break;
	case HM_CTL_LINK_SET:
		rc = mfn_alm_link_set(dp_mfn_alm(m), q->u.link.a, q->u.link.b, q->u.link.up);
		break;
	case HM_CTL_LINK_RTT: {
		struct timespec now;

		clock_gettime(CLOCK_MONOTONIC, &now);
		rc = mfn_alm_link_observe(dp_mfn_alm(m), q->u.link.a, q->u.link.b, q->u.link.rtt_us,
					  q->u.link.loss / 10000.0,
					  (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec);
		break;
	}
	case HM_CTL_COMMIT:
		rc = dp_mfn_commit(m);
		break;
	case HM_CTL_PREDICT:
		predict(c, k, q, m);
		return;
	case HM_CTL_ROUTES:
		routes(c, k, q, m);
		return;
	case HM_CTL_CONFIG_SET: {
		const struct hm_knob_def *d = &hm_knob_defs[q->u.config.knob];
		uint64_t v = q->u.config.value;

		if (v < d->min || v > d->max) {
			reply(k, q, -ERANGE, "%s %" PRIu64 ": must be %" PRIu64 "..%" PRIu64, d->name,
			      v, d->min, d->max);
			return;
		}
		switch (q->u.config.knob) {
		case HM_KNOB_STATS_INTERVAL:
			c->app->cfg.stats_interval = (uint32_t)v;
			break;
		case HM_KNOB_MFN_RATE_LIMIT:
		case HM_KNOB_MFN_IDLE_TIMEOUT_MS:
			rc = dp_mfn_knob_set(m, (int)q->u.config.knob, v);
			if (rc == 0 && q->u.config.knob == HM_KNOB_MFN_RATE_LIMIT)
				c->app->cfg.mfn_rate_limit = (uint32_t)v;
			else if (rc == 0)
				c->app->cfg.mfn_idle_timeout_ms = (uint32_t)v;
			break;
		}
		if (rc == 0) {
			DP_LOG(INFO, "ctl: %s = %" PRIu64, d->name, v);
			reply(k, q, 0, "%s = %" PRIu64, d->name, v);
			return;
		}
		break;
	}
	case HM_CTL_FLOW_SET:
	case HM_CTL_FLOW_DEL: {
		struct mfn_flow_key key;
		int ver = q->u.flow.family == 4 ? 4 : 6;

		if (c->app->cfg.mfn_flow_key != DP_MFN_KEY_TUPLE) {
			reply(k, q, -ENOTSUP, "flows are keyed by CID here (mfn_flow_key = cid), not "
			      "by 5-tuple");
			return;
		}
		/* The key as the workers build it: ports in network order. */
		mfn_key_from_tuple(&key, ver, q->u.flow.src, q->u.flow.dst,
				   rte_cpu_to_be_16(q->u.flow.sport), rte_cpu_to_be_16(q->u.flow.dport));
		if (q->type == HM_CTL_FLOW_DEL) {
			rc = mfn_ifr_delete(dp_mfn_ifr(m), &key);
			if (rc == -ENOENT) {
				reply(k, q, rc, "no such flow in L1");
				return;
			}
			break;
		}
		if (mfn_alm_backend_get(dp_mfn_alm(m), q->u.flow.backend, &b) < 0) {
			reply(k, q, -ENOENT, "backend %u: not committed in L3", q->u.flow.backend);
			return;
		}
		rc = mfn_ifr_insert(dp_mfn_ifr(m), &key, b.service,
				    MFN_IFR_DECISION(b.id, b.node, 0), rte_rdtsc());
		if (rc >= 0) {
			reply(k, q, 0, "flow %s to backend %u", rc == 0 ? "pinned" : "moved", b.id);
			return;
		}
		break;
	}
	case HM_CTL_FLOWS_CLEAR: {
		struct mfn_ifr_stats st;

		mfn_ifr_stats_get(dp_mfn_ifr(m), &st);
		mfn_ifr_clear(dp_mfn_ifr(m));
		reply(k, q, 0, "%" PRIu64 " flows cleared", st.flows);
		return;
	}
	}
	if (rc < 0) {
		reply(k, q, rc, "%s: %s (the dataplane log has the field)",
		      hm_ctl_type_name(q->type), strerror(-rc));
		return;
	}
	/* Everything that reaches here stages a change, but COMMIT publishes them. */
	k->staged = q->type == HM_CTL_COMMIT ? 0 : k->staged + 1;
	reply(k, q, 0, "ok");
}

static void serve(struct dp_ctl *c, struct dp_ctl_client *k)
{
	for (;;) {
		ssize_t r = recv(k->fd, k->rx + k->rx_len, sizeof(k->rx) - k->rx_len, MSG_DONTWAIT);

		if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
			drop_client(k);
			return;
		}
		if (r < 0)
			break;
		k->rx_len += (size_t)r;
		size_t off = 0;

		while (off < k->rx_len) {
			struct hm_ctl_msg q;
			int n = hm_ctl_decode(k->rx + off, k->rx_len - off, &q);

			if (n == 0)
				break;
			if (n < 0) {
				DP_LOG(WARNING,
				       "control client sent a malformed message (%s): closing it",
				       strerror(-n));
				reply(k, NULL, n, "malformed message: %s", strerror(-n));
				if (k->fd >= 0 && k->tx_len)
					(void)!send(k->fd, k->tx, k->tx_len,
						    MSG_DONTWAIT | MSG_NOSIGNAL);
				if (k->fd >= 0)
					drop_client(k);
				return;
			}
			apply(c, k, &q);
			if (k->fd < 0)
				return;
			off += (size_t)n;
		}
		memmove(k->rx, k->rx + off, k->rx_len - off);
		k->rx_len -= off;
	}
	if (k->tx_len) {
		ssize_t w = send(k->fd, k->tx, k->tx_len, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (w < 0 && errno != EAGAIN) {
			drop_client(k);
			return;
		}
		if (w > 0) {
			memmove(k->tx, k->tx + w, k->tx_len - (size_t)w);
			k->tx_len -= (size_t)w;
		}
	}
}

void dp_ctl_poll(struct dp_ctl *c)
{
	int fd;

	while ((fd = accept4(c->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		int i;

		for (i = 0; i < DP_CTL_CLIENTS && c->cl[i].fd >= 0; i++)
			;
		if (i == DP_CTL_CLIENTS) {
			DP_LOG(WARNING, "control socket: %d clients already; refusing another",
			       DP_CTL_CLIENTS);
			close(fd);
			continue;
		}
		c->cl[i].fd = fd;
		c->cl[i].ctl = c;
		c->cl[i].staged = 0;
		c->cl[i].rx_len = c->cl[i].tx_len = 0;
	}
	for (int i = 0; i < DP_CTL_CLIENTS; i++)
		if (c->cl[i].fd >= 0)
			serve(c, &c->cl[i]);
}

void dp_ctl_close(struct dp_ctl *c)
{
	if (c == NULL)
		return;
	for (int i = 0; i < DP_CTL_CLIENTS; i++)
		if (c->cl[i].fd >= 0)
			drop_client(&c->cl[i]);
	close(c->lfd);
	unlink(c->path);
	free(c->seen_svc);
	free(c->seen_be);
	free(c);
}
