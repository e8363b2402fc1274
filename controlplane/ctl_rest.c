/* SPDX-License-Identifier: BSD-3-Clause */
#include "ctl_rest.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <microhttpd.h>

#include "hm_log.h"
#include "hm_sockaddr.h"
#include "hm_time.h"

#define MOD	   "controld"
#define TOKENS_MAX 64

struct token {
	char tok[128];
	bool rw;
};

struct ctl_rest {
	struct ctl_node *n;
	struct MHD_Daemon *d;
	struct token tokens[TOKENS_MAX];
	size_t n_tokens;
	double bucket; /* write tokens (rate limit) */
	struct timespec last;
	pthread_mutex_t rl_lock;
	/* The REST block of the stats segment has one writer at a time: MHD's pool threads take this. */
	pthread_mutex_t st_lock;
};

int ctl_rest_error(json_t **out, int status, const char *field, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/*
	 * Messages quote what the client sent (a path, a field name): keep them
	 * printable ASCII so that they are valid JSON strings (jansson refuses
	 * invalid UTF-8, which would leave the error without a body).
	 */
	for (char *p = msg; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			*p = '?';
	*out = json_pack("{s:{s:i, s:s, s:s}}", "error", "code", status, "message", msg, "field",
			 field ? field : "");
	return status;
}

static int load_tokens(struct ctl_rest *r, const char *path)
{
	char line[256];
	unsigned int no = 0;
	FILE *f = fopen(path, "r");

	if (f == NULL) {
		hm_log(HM_LOG_ERR, MOD, "--tokens %s: %s", path, strerror(errno));
		return -errno;
	}
	while (fgets(line, sizeof(line), f)) {
		char mode[8], tok[160];
		int n;

		no++;
		n = sscanf(line, "%7s %159s", mode, tok);
		if (n <= 0 || mode[0] == '#')
			continue;
		if (n != 2 || (strcmp(mode, "rw") && strcmp(mode, "ro")) || strlen(tok) < 16 ||
		    strlen(tok) >= sizeof(r->tokens[0].tok) || r->n_tokens == TOKENS_MAX) {
			hm_log(HM_LOG_ERR, MOD,
			       "--tokens %s line %u: want \"rw|ro TOKEN\" with a token of 16-127 "
			       "characters (at most %d tokens)",
			       path, no, TOKENS_MAX);
			fclose(f);
			return -EINVAL;
		}
		snprintf(r->tokens[r->n_tokens].tok, sizeof(r->tokens[0].tok), "%s", tok);
		r->tokens[r->n_tokens++].rw = mode[1] == 'w';
	}
	fclose(f);
	if (r->n_tokens == 0) {
		hm_log(HM_LOG_ERR, MOD, "--tokens %s: no token in the file", path);
		return -EINVAL;
	}
	return 0;
}

/* Constant time in the token's length: no timing oracle on the secret. */
static bool token_eq(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char d = la != lb;

	for (size_t i = 0; i < la; i++)
		d |= (unsigned char)(a[i] ^ b[i % (lb ? lb : 1)]);
	return d == 0;
}

/* 0: allowed; else the status. */
static int authorize(struct ctl_rest *r, const char *token, bool write, json_t **out)
{
	if (r->n_tokens == 0)
		return 0;
	if (token == NULL)
		return ctl_rest_error(out, 401, "", "a bearer token is required (Authorization: Bearer ...)");
	for (size_t i = 0; i < r->n_tokens; i++)
		if (token_eq(token, r->tokens[i].tok)) {
			if (write && !r->tokens[i].rw)
				return ctl_rest_error(out, 403, "", "this token is read-only");
			return 0;
		}
	return ctl_rest_error(out, 401, "", "unknown token");
}

static bool rate_ok(struct ctl_rest *r)
{
	struct timespec now;
	double rate = r->n->cfg.write_rate;
	bool ok;

	if (rate == 0)
		return true;
	clock_gettime(CLOCK_MONOTONIC, &now);
	pthread_mutex_lock(&r->rl_lock);
	r->bucket += ((double)(now.tv_sec - r->last.tv_sec) +
		      (double)(now.tv_nsec - r->last.tv_nsec) / 1e9) *
		     rate;
	if (r->bucket > rate)
		r->bucket = rate; /* a burst of one second's worth */
	r->last = now;
	ok = r->bucket >= 1;
	if (ok)
		r->bucket -= 1;
	pthread_mutex_unlock(&r->rl_lock);
	return ok;
}

/*
 * The next argument named exactly @key in the query at *@p ("k=v&k=v"),
 * *@p moved past it: true with *@v its value and *@vl its length, *@v NULL
 * for a bare "key" without '='.
 */
static bool query_next(const char **p, const char *key, const char **v, size_t *vl)
{
	size_t kl = strlen(key);

	while (*p && **p) {
		const char *s = *p, *amp = strchr(s, '&');
		size_t seg = amp ? (size_t)(amp - s) : strlen(s);

		*p = amp ? amp + 1 : NULL;
		if (seg < kl || strncmp(s, key, kl) != 0 || (seg > kl && s[kl] != '='))
			continue;
		*v = seg > kl ? s + kl + 1 : NULL;
		*vl = seg > kl ? seg - kl - 1 : 0;
		return true;
	}
	return false;
}

/*
 * ?version=N, the precondition of a write: *@out = N, or 0 when the query
 * has no "version" key. Anything else under that key (empty, not decimal,
 * a sign, 0, out of range, given twice) is a 400 naming it: read as 0 it
 * would turn a conditional write into an unconditional one. Returns 0 or
 * the status.
 */
static int query_version(const char *query, uint64_t *out, json_t **err)
{
	const char *p = query, *v;
	bool seen = false;
	size_t vl;

	*out = 0;
	while (query_next(&p, "version", &v, &vl)) {
		unsigned long long x;
		char val[24], *end;

		if (seen)
			return ctl_rest_error(err, 400, "version", "\"version\" is given twice");
		seen = true;
		if (!v) /* "version" without "=" */
			v = "";
		if (vl == 0 || vl >= sizeof(val) || strspn(v, "0123456789") < vl)
			return ctl_rest_error(err, 400, "version",
					      "\"version\" must be a decimal integer in 1..%" PRIu64
					      ", not \"%.*s\"",
					      UINT64_MAX >> 1, (int)(vl > 64 ? 64 : vl), v);
		memcpy(val, v, vl);
		val[vl] = '\0';
		errno = 0;
		x = strtoull(val, &end, 10);
		if (errno != 0 || *end != '\0' || x == 0 || x > UINT64_MAX >> 1)
			return ctl_rest_error(err, 400, "version",
					      "\"version\" must be a decimal integer in 1..%" PRIu64
					      ", not \"%s\"",
					      UINT64_MAX >> 1, val);
		*out = x;
	}
	return 0;
}

/* The value of the first "@key=..." in @query, in @buf; NULL when there is none. */
static const char *query_param(const char *query, const char *key, char *buf, size_t len)
{
	const char *p = query, *v;
	size_t vl;

	while (query_next(&p, key, &v, &vl)) {
		if (v) {
			snprintf(buf, len, "%.*s", (int)vl, v);
			return buf;
		}
	}
	return NULL;
}

/* ---- reads ------------------------------------------------------------------- */

static json_t *list(struct ctl_node *n, const char *coll, const char *query)
{
	struct ctl_model *m = &n->model;
	json_t *items = json_array();
	char svc[CTL_NAME_MAX];
	const char *only = query_param(query, "service", svc, sizeof(svc));

	if (strcmp(coll, "services") == 0) {
		for (uint32_t i = 0; i < m->lim.max_services; i++)
			if (m->svc[i].used)
				json_array_append_new(items, ctl_service_json(&m->svc[i]));
	} else if (strcmp(coll, "backends") == 0) {
		const struct ctl_service *s = only ? ctl_model_service_by_name(m, only) : NULL;

		for (uint32_t i = 0; i < m->lim.max_backends; i++)
			if (m->be[i].used && (!only || (s && m->be[i].service == s->id)))
				json_array_append_new(items, ctl_backend_json(m, &m->be[i]));
	} else if (strcmp(coll, "links") == 0) {
		for (uint32_t i = 0; i < m->n_links; i++)
			json_array_append_new(items, ctl_link_json(&m->links[i]));
	} else if (strcmp(coll, "containers") == 0) {
		for (uint32_t i = 0; i < m->lim.max_services; i++)
			if (m->grp[i].used) {
				json_t *g = ctl_group_json(m, &m->grp[i]);

				json_object_set_new(g, "instances", ctl_orch_instances(n->orch, i));
				json_array_append_new(items, g);
			}
	} else if (strcmp(coll, "nodes") == 0) {
		/* The mesh graph's vertices: this node, link ends, backends' nodes. */
		uint32_t *be = calloc(m->lim.max_nodes, sizeof(*be));
		uint8_t *seen = calloc(m->lim.max_nodes, 1);

		if (be && seen) {
			seen[n->cfg.node_id] = 1;
			for (uint32_t i = 0; i < m->n_links; i++)
				seen[m->links[i].a] = seen[m->links[i].b] = 1;
			for (uint32_t i = 0; i < m->lim.max_backends; i++)
				if (m->be[i].used) {
					seen[m->be[i].node] = 1;
					be[m->be[i].node]++;
				}
			for (uint32_t i = 0; i < m->lim.max_nodes; i++)
				if (seen[i])
					json_array_append_new(items, json_pack("{s:i, s:b, s:i}",
									       "id", i, "local",
									       i == n->cfg.node_id,
									       "backends", be[i]));
		}
		free(be);
		free(seen);
	} else if (strcmp(coll, "routes") == 0) {
		/* What the dataplane does with a new flow: port → service → healthy backends. */
		for (uint32_t i = 0; i < m->lim.max_services; i++) {
			json_t *b;

			if (!m->svc[i].used)
				continue;
			b = json_array();
			for (uint32_t k = 0; k < m->lim.max_backends; k++)
				if (m->be[k].used && m->be[k].service == i && m->be[k].healthy)
					json_array_append_new(b, json_integer(k));
			json_array_append_new(items,
					      json_pack("{s:i, s:s, s:s, s:o}", "port",
							m->svc[i].port, "service", m->svc[i].name,
							"policy", "maglev", "backends", b));
		}
	}
	/* Reads are served locally; a cluster member says how far its log has got. */
	if (n->cluster)
		return json_pack("{s:o, s:I, s:I}", "items", items, "revision",
				 (json_int_t)m->revision, "commit_index",
				 (json_int_t)ctl_cluster_commit_index(n->cluster));
	return json_pack("{s:o, s:I}", "items", items, "revision", (json_int_t)m->revision);
}

static int get_item(struct ctl_node *n, const char *coll, const char *item, json_t **out)
{
	struct ctl_model *m = &n->model;

	if (strcmp(coll, "services") == 0) {
		const struct ctl_service *s = ctl_model_service_by_name(m, item);

		if (s == NULL)
			return ctl_rest_error(out, 404, "name", "no service \"%s\"", item);
		*out = ctl_service_json(s);
		return 200;
	}
	if (strcmp(coll, "containers") == 0) {
		const struct ctl_service *s = ctl_model_service_by_name(m, item);

		if (s == NULL || !m->grp[s->id].used)
			return ctl_rest_error(out, 404, "service", "no containers for service \"%s\"",
					      item);
		*out = ctl_group_json(m, &m->grp[s->id]);
		json_object_set_new(*out, "instances", ctl_orch_instances(n->orch, s->id));
		return 200;
	}
	if (strcmp(coll, "backends") == 0) {
		char *end;
		unsigned long id = strtoul(item, &end, 10);

		if (*end || id >= m->lim.max_backends || !m->be[id].used)
			return ctl_rest_error(out, 404, "id", "no backend \"%s\"", item);
		*out = ctl_backend_json(m, &m->be[id]);
		return 200;
	}
	for (uint32_t i = 0; i < m->n_links; i++) {
		char key[16];

		snprintf(key, sizeof(key), "%u-%u", m->links[i].a, m->links[i].b);
		if (strcmp(key, item) == 0) {
			*out = ctl_link_json(&m->links[i]);
			return 200;
		}
	}
	return ctl_rest_error(out, 404, "", "no link \"%s\" (A-B with A < B)", item);
}

static json_t *health(struct ctl_node *n)
{
	const bool want_dp = n->cfg.dataplane_socket[0] != '\0';

	return json_pack("{s:s, s:I, s:I, s:{s:b, s:b, s:I, s:I, s:I, s:I, s:s, s:s}}", "status",
			 !want_dp || (n->dp.connected && n->dp.synced_revision == n->model.revision)
			     ? "ok"
			     : "degraded",
			 "revision", (json_int_t)n->model.revision, "node_id",
			 (json_int_t)n->cfg.node_id, "dataplane", "configured", want_dp,
			 "connected", n->dp.connected, "synced_revision",
			 (json_int_t)n->dp.synced_revision, "full_syncs", (json_int_t)n->dp.syncs,
			 "deltas", (json_int_t)n->dp.deltas, "errors", (json_int_t)n->dp.errors,
			 "hello", n->dp.hello, "last_error", n->dp.last_error);
}

static json_t *cluster(struct ctl_node *n)
{
	char addr[96];

	if (n->cluster)
		return ctl_cluster_json(n->cluster);
	snprintf(addr, sizeof(addr), "%s:%u", n->cfg.listen_addr, n->cfg.listen_port);
	/* Without --cluster: one member, the leader, and its log is the log. */
	return json_pack("{s:s, s:[{s:i, s:s}], s:i, s:i, s:I, s:i}", "mode", "single-node",
			 "members", "node_id", n->cfg.node_id, "address", addr, "leader",
			 n->cfg.node_id, "view", 0, "commit_index", (json_int_t)n->model.revision,
			 "quorum", 1);
}

static json_t *config(struct ctl_node *n)
{
	json_t *j = json_pack("{s:i, s:s, s:s, s:i, s:{s:I, s:I, s:I}}", "node_id",
			      n->cfg.node_id, "state_dir", n->cfg.state_dir, "dataplane_socket",
			      n->cfg.dataplane_socket, "write_rate", n->cfg.write_rate, "limits",
			      "mfn_services", (json_int_t)n->cfg.lim.max_services, "mfn_backends",
			      (json_int_t)n->cfg.lim.max_backends, "mfn_nodes",
			      (json_int_t)n->cfg.lim.max_nodes);
	json_t *c = ctl_config_json(&n->model.cfg);

	/* The writable part: the dataplane's runtime settings (PUT /v1/config). */
	json_object_update(j, c);
	json_decref(c);
	return j;
}

/*
 * L4 CPE forecasts of every service, asked of the dataplane (which computes
 * them from its per-service counters). Not under the model lock while the
 * dataplane answers: the service list is copied first.
 */
static int predictions(struct ctl_rest *r, json_t **out)
{
	struct ctl_node *n = r->n;
	uint32_t *ids;
	char(*names)[CTL_NAME_MAX];
	uint32_t cnt = 0;
	json_t *items;
	int st = 200;

	if (!n->cfg.dataplane_socket[0])
		return ctl_rest_error(out, 503, "", "no dataplane configured (--dataplane-socket)");
	ids = calloc(n->cfg.lim.max_services, sizeof(*ids));
	names = calloc(n->cfg.lim.max_services, sizeof(*names));
	items = json_array();
	if (ids == NULL || names == NULL || items == NULL) {
		st = ctl_rest_error(out, 503, "", "out of memory");
		goto done;
	}
	pthread_mutex_lock(&n->lock);
	for (uint32_t i = 0; i < n->cfg.lim.max_services; i++)
		if (n->model.svc[i].used) {
			ids[cnt] = i;
			memcpy(names[cnt++], n->model.svc[i].name, CTL_NAME_MAX);
		}
	pthread_mutex_unlock(&n->lock);
	for (uint32_t i = 0; i < cnt; i++) {
		struct hm_ctl_msg q = {.type = HM_CTL_PREDICT};
		char text[HM_CTL_TEXT_MAX + 1];
		json_t *f;
		int rc, status = 0;

		q.u.service.id = ids[i];
		rc = ctl_dp_call(n->cfg.dataplane_socket, &q, &status, text, sizeof(text));
		if (rc == 0 && status == -ENOENT) {
			json_array_append_new(items, json_pack("{s:s, s:i, s:s}", "service",
							       names[i], "id", ids[i], "status",
							       "no traffic seen yet"));
			continue;
		}
		f = rc == 0 && status == 0 ? json_loads(text, 0, NULL) : NULL;
		if (f == NULL) {
			json_decref(items);
			items = NULL;
			st = ctl_rest_error(out, 503, "", "dataplane %s: %s", n->cfg.dataplane_socket,
					    rc < 0       ? strerror(-rc)
					    : status < 0 ? strerror(-status)
							 : "unreadable forecast");
			goto done;
		}
		json_object_set_new(f, "service", json_string(names[i]));
		json_object_set_new(f, "id", json_integer(ids[i]));
		json_object_set_new(f, "status", json_string("ok"));
		json_array_append_new(items, f);
	}
	*out = json_pack("{s:o}", "items", items);
	items = NULL;
done:
	json_decref(items);
	free(ids);
	free(names);
	return st;
}

/*
 * GET /v1/routes/{service}: where the dataplane's L3 sends the service's
 * new flows now (share per node and the path cost to it), asked of the
 * dataplane, which weighs backends by the links' measured RTT.
 */
static int live_routes(struct ctl_rest *r, const char *name, json_t **out)
{
	struct ctl_node *n = r->n;
	struct hm_ctl_msg q = {.type = HM_CTL_ROUTES};
	const struct ctl_service *sv;
	char text[HM_CTL_TEXT_MAX + 1];
	json_t *j;
	int rc, status = 0;

	if (!n->cfg.dataplane_socket[0])
		return ctl_rest_error(out, 503, "", "no dataplane configured (--dataplane-socket)");
	pthread_mutex_lock(&n->lock);
	sv = ctl_model_service_by_name(&n->model, name);
	if (sv)
		q.u.service.id = sv->id;
	pthread_mutex_unlock(&n->lock);
	if (sv == NULL)
		return ctl_rest_error(out, 404, "service", "no service \"%s\"", name);
	rc = ctl_dp_call(n->cfg.dataplane_socket, &q, &status, text, sizeof(text));
	if (rc == 0 && status == -ENOENT)
		return ctl_rest_error(out, 404, "service",
				      "service \"%s\" is not in the dataplane's L3 yet", name);
	j = rc == 0 && status == 0 ? json_loads(text, 0, NULL) : NULL;
	if (j == NULL)
		return ctl_rest_error(out, 503, "", "dataplane %s: %s", n->cfg.dataplane_socket,
				      rc < 0	   ? strerror(-rc)
				      : status < 0 ? strerror(-status)
						   : "unreadable routes");
	json_object_set_new(j, "name", json_string(name));
	*out = j;
	return 200;
}

/*
 * /v1/flows: pin one UDP flow (5-tuple) to a backend in the dataplane's L1
 * table (POST), or forget it (DELETE) so its next packet is decided again.
 * Flows are the dataplane's live state (they age out), not desired state:
 * this goes straight to the dataplane, like /v1/predictions.
 */
static int flows_op(struct ctl_rest *r, bool del, const json_t *body, json_t **out)
{
	static const char *const set_fields[] = {"src", "sport", "dst", "dport", "backend", NULL};
	static const char *const del_fields[] = {"src", "sport", "dst", "dport", NULL};
	struct ctl_node *n = r->n;
	struct hm_ctl_msg q = {.type = del ? HM_CTL_FLOW_DEL : HM_CTL_FLOW_SET};
	char text[HM_CTL_TEXT_MAX + 1];
	const char *src, *dst;
	struct ctl_err e;
	int rc, status = 0;

	if (!n->cfg.dataplane_socket[0])
		return ctl_rest_error(out, 503, "", "no dataplane configured (--dataplane-socket)");
	if (ctl_model_check_fields(body, del ? del_fields : set_fields, &e) < 0)
		return ctl_rest_error(out, e.status, e.field, "%s", e.msg);
	src = json_string_value(json_object_get(body, "src"));
	dst = json_string_value(json_object_get(body, "dst"));
	if (src == NULL || (inet_pton(AF_INET, src, q.u.flow.src) != 1 &&
			    inet_pton(AF_INET6, src, q.u.flow.src) != 1))
		return ctl_rest_error(out, 400, "src", "\"src\" must be an IPv4 or IPv6 address");
	q.u.flow.family = strchr(src, ':') ? 6 : 4;
	if (dst == NULL ||
	    inet_pton(q.u.flow.family == 4 ? AF_INET : AF_INET6, dst, q.u.flow.dst) != 1)
		return ctl_rest_error(out, 400, "dst",
				      "\"dst\" must be an address of the same family as \"src\"");
	for (int i = 0; i < 2; i++) {
		const char *f = i ? "dport" : "sport";
		json_t *p = json_object_get(body, f);

		if (!json_is_integer(p) || json_integer_value(p) < 1 || json_integer_value(p) > 65535)
			return ctl_rest_error(out, 400, f, "\"%s\" must be an integer in 1..65535", f);
		*(i ? &q.u.flow.dport : &q.u.flow.sport) = (uint16_t)json_integer_value(p);
	}
	if (!del) {
		json_t *b = json_object_get(body, "backend");
		bool known;

		if (!json_is_integer(b) || json_integer_value(b) < 0 ||
		    json_integer_value(b) >= n->cfg.lim.max_backends)
			return ctl_rest_error(out, 400, "backend",
					      "\"backend\" must be a backend id in 0..%u",
					      n->cfg.lim.max_backends - 1);
		q.u.flow.backend = (uint32_t)json_integer_value(b);
		pthread_mutex_lock(&n->lock);
		known = n->model.be[q.u.flow.backend].used;
		pthread_mutex_unlock(&n->lock);
		if (!known)
			return ctl_rest_error(out, 404, "backend", "no backend %u", q.u.flow.backend);
	}
	/* The channel failing (no socket, no answer) is not the dataplane saying no. */
	rc = ctl_dp_call(n->cfg.dataplane_socket, &q, &status, text, sizeof(text));
	if (rc < 0)
		return ctl_rest_error(out, 503, "", "dataplane %s: %s", n->cfg.dataplane_socket,
				      strerror(-rc));
	if (status < 0 && status != -ENOENT && status != -ENOTSUP && status != -ENOSPC)
		return ctl_rest_error(out, 503, "", "dataplane %s: %s", n->cfg.dataplane_socket,
				      strerror(-status));
	if (status < 0)
		return ctl_rest_error(out,
				      status == -ENOENT	  ? 404
				      : status == -ENOSPC ? 503
							  : 409,
				      "", "dataplane: %s", text);
	if (del) {
		*out = NULL;
		return 204;
	}
	*out = json_pack("{s:s, s:i, s:s, s:i, s:i, s:s}", "src", src, "sport", q.u.flow.sport,
			 "dst", dst, "dport", q.u.flow.dport, "backend", (int)q.u.flow.backend,
			 "result", text);
	return 201;
}

/* ---- writes ------------------------------------------------------------------ */

int ctl_write_apply(struct ctl_node *n, struct ctl_stats_block *st, const char *method,
		    const char *coll, const char *item, uint64_t ifv, const json_t *body,
		    bool store, json_t **out)
{
	struct ctl_change c;
	struct ctl_err e;
	bool del = strcmp(method, "DELETE") == 0;
	int rc;

	rc = ctl_model_prepare(&n->model, coll, body, item, del, ifv, &c, &e);
	if (rc < 0)
		return ctl_rest_error(out, e.status, e.field, "%s", e.msg);
	if (store) {
		rc = ctl_store_append(n->store, &n->model, &c);
		if (rc < 0 && ctl_store_wedged(n->store))
			return ctl_rest_error(out, 503, "", "not applied: %s",
					      ctl_store_wedged(n->store));
		if (rc < 0)
			return ctl_rest_error(out, 503, "",
				   "the change could not be made durable: %s; not applied",
				   strerror(-rc));
	}
	ctl_model_apply(&n->model, &c);
	if (store)
		ctl_store_maybe_compact(n->store, &n->model);
	ctl_stat_add(st, CTL_S_WRITES, 1);
	ctl_stat_set(st, CTL_S_REVISION, n->model.revision);
	pthread_cond_broadcast(&n->changed);
	*out = NULL;
	if (!del)
		*out = c.kind == CTL_SERVICE   ? ctl_service_json(&c.o.s)
		       : c.kind == CTL_BACKEND ? ctl_backend_json(&n->model, &c.o.b)
		       : c.kind == CTL_LINK    ? ctl_link_json(&c.o.l)
		       : c.kind == CTL_GROUP   ? ctl_group_json(&n->model, &c.o.g)
					       : ctl_config_json(&c.o.cfg);
	return del ? 204 : (item || c.kind == CTL_CONFIG) ? 200 : 201;
}

static int write_op(struct ctl_rest *r, const char *method, const char *coll, const char *item,
		    const char *query, json_t *body, json_t **out)
{
	struct ctl_node *n = r->n;
	uint64_t ifv;
	int status;
	uint64_t t0 = hm_mono_ns();

	status = query_version(query, &ifv, out);
	if (status)
		return status;
	if (n->cluster) {
		status = ctl_cluster_write(n->cluster, method, coll, item, ifv, body, out);
	} else {
		pthread_mutex_lock(&n->lock);
		status = ctl_write_apply(n, n->st_rest, method, coll, item, ifv, body, true, out);
		pthread_mutex_unlock(&n->lock);
	}
	if (status < 300 && n->st_rest) {
		uint64_t ns = hm_mono_ns() - t0;

		pthread_mutex_lock(&r->st_lock);
		hm_stats_hist_add(n->st_rest->write_hist, ns);
		pthread_mutex_unlock(&r->st_lock);
	}
	return status;
}

int ctl_rest_handle(struct ctl_rest *r, const char *method, const char *url, const char *query,
		    const char *token, const char *content_type, const char *body, size_t body_len,
		    json_t **out)
{
	static const char *const colls[] = {"services", "backends",    "links",	 "containers",
					    "nodes",	"routes",      "health", "cluster",
					    "config",	"predictions", "flows",	 "members", NULL};
	char coll[16], item[96];
	const char *rest, *slash;
	bool write = strcmp(method, "GET") && strcmp(method, "HEAD");
	bool is_coll = false, writable;
	json_t *j = NULL;
	int st;

	*out = NULL;
	if (strncmp(url, "/v1/", 4) != 0)
		return ctl_rest_error(out, 404, "", "no such resource (the API is under /v1/)");
	rest = url + 4;
	slash = strchr(rest, '/');
	if ((size_t)(slash ? slash - rest : (ptrdiff_t)strlen(rest)) >= sizeof(coll))
		return ctl_rest_error(out, 404, "", "no such resource");
	snprintf(coll, sizeof(coll), "%.*s", (int)(slash ? slash - rest : (ptrdiff_t)strlen(rest)),
		 rest);
	for (const char *const *c = colls; *c; c++)
		is_coll |= strcmp(coll, *c) == 0;
	if (!is_coll)
		return ctl_rest_error(out, 404, "", "no resource /v1/%s", coll);
	item[0] = '\0';
	if (slash) {
		if (strchr(slash + 1, '/') || strlen(slash + 1) >= sizeof(item) || !slash[1])
			return ctl_rest_error(out, 404, "", "no such resource");
		snprintf(item, sizeof(item), "%s", slash + 1);
	}
	writable = !strcmp(coll, "services") || !strcmp(coll, "backends") ||
		   !strcmp(coll, "links") || !strcmp(coll, "containers");
	if (!strcmp(coll, "flows")) {
		json_error_t je;

		if (item[0] || (strcmp(method, "POST") && strcmp(method, "DELETE")))
			return ctl_rest_error(out, 405, "", "%s is not allowed on %s (POST or DELETE "
					      "/v1/flows with the flow in the body)", method, url);
		st = authorize(r, token, true, out);
		if (st)
			return st;
		if (!rate_ok(r))
			return ctl_rest_error(out, 429, "", "more than %u writes per second",
					      r->n->cfg.write_rate);
		if (content_type == NULL || strncasecmp(content_type, "application/json", 16) != 0)
			return ctl_rest_error(out, 415, "", "the body must be application/json");
		j = json_loadb(body ? body : "", body_len, JSON_REJECT_DUPLICATES, &je);
		if (j == NULL)
			return ctl_rest_error(out, 400, "", "the body is not JSON: %s", je.text);
		st = flows_op(r, !strcmp(method, "DELETE"), j, out);
		json_decref(j);
		return st;
	}
	/* /v1/members: the cluster's membership; changes go through its log. */
	if (!strcmp(coll, "members")) {
		json_error_t je;

		if (r->n->cluster == NULL)
			return ctl_rest_error(out, 404, "",
					      "not a cluster member (hmesh-controld without --cluster)");
		st = authorize(r, token, write, out);
		if (st)
			return st;
		if (!write) {
			json_t *c = ctl_cluster_json(r->n->cluster);

			if (item[0]) {
				json_decref(c);
				return ctl_rest_error(out, 405, "", "GET /v1/members lists them all");
			}
			*out = json_pack("{s:O, s:O}", "items", json_object_get(c, "members"),
					 "membership_change_after",
					 json_object_get(c, "membership_change_after"));
			json_decref(c);
			return 200;
		}
		if (!rate_ok(r))
			return ctl_rest_error(out, 429, "", "more than %u writes per second",
					      r->n->cfg.write_rate);
		if (body_len > 0) {
			if (content_type == NULL ||
			    strncasecmp(content_type, "application/json", 16) != 0)
				return ctl_rest_error(out, 415, "", "the body must be application/json");
			j = json_loadb(body, body_len, JSON_REJECT_DUPLICATES, &je);
			if (j == NULL)
				return ctl_rest_error(out, 400, "", "the body is not JSON: %s", je.text);
		}
		st = ctl_cluster_members_write(r->n->cluster, method, item[0] ? item : NULL, j, out);
		json_decref(j);
		return st;
	}
	/* /v1/config is one object: PUT on the collection itself. */
	if (write && !strcmp(coll, "config") && !item[0] && !strcmp(method, "PUT")) {
		st = authorize(r, token, true, out);
		if (st)
			return st;
		writable = true;
		goto body;
	}
	st = authorize(r, token, write, out);
	if (st)
		return st;
	if (!write && !strcmp(coll, "predictions"))
		return item[0] ? ctl_rest_error(out, 404, "", "/v1/predictions has no items")
			       : predictions(r, out);
	if (!write && !strcmp(coll, "routes") && item[0])
		return live_routes(r, item, out);
	if (!write) {
		pthread_mutex_lock(&r->n->lock);
		if (item[0] && writable)
			st = get_item(r->n, coll, item, out);
		else if (item[0])
			st = ctl_rest_error(out, 404, "", "/v1/%s has no items", coll);
		else if (!strcmp(coll, "health"))
			*out = health(r->n), st = 200;
		else if (!strcmp(coll, "cluster"))
			*out = cluster(r->n), st = 200;
		else if (!strcmp(coll, "config"))
			*out = config(r->n), st = 200;
		else
			*out = list(r->n, coll, query), st = 200;
		pthread_mutex_unlock(&r->n->lock);
		return st;
	}
	if (!writable || (strcmp(method, "POST") == 0) != (item[0] == '\0') ||
	    (strcmp(method, "POST") && strcmp(method, "PUT") && strcmp(method, "DELETE")))
		return ctl_rest_error(out, 405, "", "%s is not allowed on %s", method, url);
body:
	if (!rate_ok(r))
		return ctl_rest_error(out, 429, "", "more than %u writes per second", r->n->cfg.write_rate);
	if (strcmp(method, "DELETE") != 0 || body_len > 0) {
		json_error_t je;

		if (content_type == NULL || strncasecmp(content_type, "application/json", 16) != 0)
			return ctl_rest_error(out, 415, "", "the body must be application/json");
		j = json_loadb(body ? body : "", body_len, JSON_REJECT_DUPLICATES, &je);
		if (j == NULL)
			return ctl_rest_error(out, 400, "", "the body is not JSON: %s (line %d, column %d)",
				   je.text, je.line, je.column);
	}
	st = write_op(r, method, coll, item[0] ? item : NULL, query, j, out);
	json_decref(j);
	return st;
}

/* ---- libmicrohttpd glue ------------------------------------------------------ */

struct req {
	char *body;
	size_t len;
	bool too_large;
};

static enum MHD_Result answer(struct MHD_Connection *con, int status, json_t *j)
{
	char *txt = j ? json_dumps(j, JSON_COMPACT) : NULL;
	struct MHD_Response *resp;
	enum MHD_Result rc;

	if (j && txt == NULL)
		return MHD_NO;
	resp =
	    MHD_create_response_from_buffer(txt ? strlen(txt) : 0, txt ? txt : (char *)"",
					    txt ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	if (resp == NULL) {
		free(txt);
		return MHD_NO;
	}
	if (txt)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	if (status == 401)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
	rc = MHD_queue_response(con, (unsigned int)status, resp);
	MHD_destroy_response(resp);
	return rc;
}

/*
 * The query as ctl_rest_handle() reads it ("k=v&k=v"), rebuilt from the
 * arguments libmicrohttpd has decoded. A decoded '&', '=' or '%' is
 * written escaped again, or "?version=1%262" would read as version=1 and
 * a key 2; a query that does not fit is refused whole (414), not cut: cut,
 * "version=123456" could become "version=12".
 */
struct query_buf {
	char q[512];
	size_t len;
	bool overflow;
};

/* @s into @b, its '&', '=' and '%' escaped unless @raw. */
static void query_put(struct query_buf *b, const char *s, bool raw)
{
	for (; *s && !b->overflow; s++) {
		bool esc = !raw && (*s == '&' || *s == '=' || *s == '%');

		if (b->len + (esc ? 3 : 1) >= sizeof(b->q))
			b->overflow = true;
		else if (esc)
			b->len += (size_t)snprintf(b->q + b->len, 4, "%%%02X", (unsigned char)*s);
		else
			b->q[b->len++] = *s;
	}
	b->q[b->len] = '\0';
}

static enum MHD_Result collect_query(void *cls, enum MHD_ValueKind kind, const char *key,
				     const char *value)
{
	struct query_buf *b = cls;

	(void)kind;
	if (b->len)
		query_put(b, "&", true);
	query_put(b, key, false);
	query_put(b, "=", true);
	query_put(b, value ? value : "", false);
	return b->overflow ? MHD_NO : MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *con, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	struct ctl_rest *r = cls;
	struct req *q = *con_cls;
	const char *auth, *token = NULL;
	struct query_buf query = { .len = 0 };
	json_t *out = NULL;
	int st;

	(void)version;
	if (q == NULL) {
		q = calloc(1, sizeof(*q));
		if (q == NULL)
			return MHD_NO;
		*con_cls = q;
		return MHD_YES;
	}
	if (*upload_size) {
		if (q->len + *upload_size > CTL_REST_BODY_MAX) {
			q->too_large = true;
		} else if (!q->too_large) {
			char *nb = realloc(q->body, q->len + *upload_size + 1);

			if (nb == NULL)
				return MHD_NO;
			q->body = nb;
			memcpy(q->body + q->len, upload, *upload_size);
			q->len += *upload_size;
		}
		*upload_size = 0;
		return MHD_YES;
	}
	if (q->too_large) {
		st = ctl_rest_error(&out, 413, "", "the body is larger than %d bytes", CTL_REST_BODY_MAX);
	} else {
		auth = MHD_lookup_connection_value(con, MHD_HEADER_KIND,
						   MHD_HTTP_HEADER_AUTHORIZATION);
		if (auth && strncasecmp(auth, "Bearer ", 7) == 0)
			token = auth + 7;
		MHD_get_connection_values(con, MHD_GET_ARGUMENT_KIND, collect_query, &query);
		if (query.overflow)
			st = ctl_rest_error(&out, 414, "", "the query is longer than %zu bytes",
					    sizeof(query.q) - 1);
		else
			st = ctl_rest_handle(r, method, url, query.q, token,
					     MHD_lookup_connection_value(con, MHD_HEADER_KIND,
									 MHD_HTTP_HEADER_CONTENT_TYPE),
					     q->body, q->len, &out);
	}
	pthread_mutex_lock(&r->st_lock);
	ctl_stat_add(r->n->st_rest,
		     st < 300	? CTL_S_REQ_2XX
		     : st < 500 ? CTL_S_REQ_4XX
				: CTL_S_REQ_5XX,
		     1);
	pthread_mutex_unlock(&r->st_lock);
	enum MHD_Result rc = answer(con, st, out);

	json_decref(out);
	return rc;
}

static void on_done(void *cls, struct MHD_Connection *con, void **con_cls,
		    enum MHD_RequestTerminationCode toe)
{
	struct req *q = *con_cls;

	(void)cls;
	(void)con;
	(void)toe;
	if (q) {
		free(q->body);
		free(q);
	}
	*con_cls = NULL;
}

struct ctl_rest *ctl_rest_new_detached(struct ctl_node *n)
{
	struct ctl_rest *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->n = n;
	pthread_mutex_init(&r->rl_lock, NULL);
	pthread_mutex_init(&r->st_lock, NULL);
	clock_gettime(CLOCK_MONOTONIC, &r->last);
	r->bucket = n->cfg.write_rate;
	return r;
}

struct ctl_rest *ctl_rest_start(struct ctl_node *n)
{
	struct ctl_rest *r = ctl_rest_new_detached(n);
	struct sockaddr_storage ss;
	socklen_t sl;
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;

	if (r == NULL)
		return NULL;
	if (n->cfg.tokens_file[0] && load_tokens(r, n->cfg.tokens_file) < 0)
		goto err;
	if (hm_sockaddr_parse(n->cfg.listen_addr, n->cfg.listen_port, &ss, &sl) < 0) {
		hm_log(HM_LOG_ERR, MOD, "--listen %s: not an IPv4 or IPv6 address",
		       n->cfg.listen_addr);
		goto err;
	}
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	r->d = MHD_start_daemon(
	    flags, n->cfg.listen_port, NULL, NULL, on_request, r, MHD_OPTION_SOCK_ADDR,
	    (struct sockaddr *)&ss, MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)64, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
	    (unsigned int)32, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)30,
	    /*
	     * A cluster write waits for the log (up to commit_timeout_ms), a
	     * prediction for the dataplane: more than one thread, so reads and
	     * other writes go on meanwhile.
	     */
	    MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)(n->cluster ? 8 : 4), MHD_OPTION_END);
	if (r->d == NULL) {
		hm_log(HM_LOG_ERR, MOD, "--listen %s:%u: cannot listen (in use, or no permission)",
		       n->cfg.listen_addr, n->cfg.listen_port);
		goto err;
	}
	return r;
err:
	pthread_mutex_destroy(&r->rl_lock);
	pthread_mutex_destroy(&r->st_lock);
	free(r);
	return NULL;
}

void ctl_rest_stop(struct ctl_rest *r)
{
	if (r == NULL)
		return;
	if (r->d)
		MHD_stop_daemon(r->d);
	pthread_mutex_destroy(&r->rl_lock);
	pthread_mutex_destroy(&r->st_lock);
	free(r);
}
