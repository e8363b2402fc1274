/* SPDX-License-Identifier: BSD-3-Clause */
#include "ctl_model.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(struct ctl_err *e, int status, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(struct ctl_err *e, int status, const char *field, const char *fmt, ...)
{
	va_list ap;

	e->status = status;
	snprintf(e->field, sizeof(e->field), "%s", field);
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return -1;
}

int ctl_model_init(struct ctl_model *m, const struct ctl_limits *lim)
{
	memset(m, 0, sizeof(*m));
	m->lim = *lim;
	m->svc = calloc(lim->max_services, sizeof(*m->svc));
	m->be = calloc(lim->max_backends, sizeof(*m->be));
	m->grp = calloc(lim->max_services, sizeof(*m->grp));
	if (m->svc == NULL || m->be == NULL || m->grp == NULL) {
		ctl_model_fini(m);
		return -ENOMEM;
	}
	return 0;
}

void ctl_model_fini(struct ctl_model *m)
{
	free(m->svc);
	free(m->be);
	free(m->links);
	free(m->grp);
	memset(m, 0, sizeof(*m));
}

const struct ctl_service *ctl_model_service_by_name(const struct ctl_model *m, const char *name)
{
	for (uint32_t i = 0; i < m->lim.max_services; i++)
		if (m->svc[i].used && strcmp(m->svc[i].name, name) == 0)
			return &m->svc[i];
	return NULL;
}

const struct ctl_link *ctl_model_link(const struct ctl_model *m, uint16_t a, uint16_t b)
{
	for (uint32_t i = 0; i < m->n_links; i++)
		if (m->links[i].a == a && m->links[i].b == b)
			return &m->links[i];
	return NULL;
}

/* ---- field readers: each names its field in the error ---------------------- */

/* Unknown fields are errors: a typo must not be silently ignored. */
static int only_fields(const json_t *body, const char *const *allowed, struct ctl_err *e)
{
	const char *k;
	json_t *v;

	if (!json_is_object(body))
		return fail(e, 400, "", "the body must be a JSON object");
	json_object_foreach((json_t *)body, k, v)
	{
		bool ok = false;

		for (const char *const *a = allowed; *a; a++)
			ok |= strcmp(k, *a) == 0;
		if (!ok)
			return fail(e, 400, k, "unknown field \"%s\"", k);
	}
	return 0;
}

int ctl_model_check_fields(const json_t *body, const char *const *allowed, struct ctl_err *e)
{
	memset(e, 0, sizeof(*e));
	return only_fields(body, allowed, e);
}

/* 1 = present and valid, 0 = absent, -1 = invalid. */
static int get_uint(const json_t *body, const char *f, uint64_t min, uint64_t max, uint64_t *out,
		    struct ctl_err *e)
{
	json_t *v = json_object_get(body, f);

	if (v == NULL)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    (uint64_t)json_integer_value(v) < min || (uint64_t)json_integer_value(v) > max)
		return fail(e, 400, f, "\"%s\" must be an integer in %" PRIu64 "..%" PRIu64, f, min,
			    max);
	*out = (uint64_t)json_integer_value(v);
	return 1;
}

static int get_bool(const json_t *body, const char *f, bool *out, struct ctl_err *e)
{
	json_t *v = json_object_get(body, f);

	if (v == NULL)
		return 0;
	if (!json_is_boolean(v))
		return fail(e, 400, f, "\"%s\" must be true or false", f);
	*out = json_is_true(v);
	return 1;
}

static bool name_ok(const char *n)
{
	size_t len = strlen(n);

	if (len == 0 || len >= CTL_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((n[i] >= 'a' && n[i] <= 'z') || (n[i] >= '0' && n[i] <= '9') || n[i] == '-' ||
		      n[i] == '_' || n[i] == '.'))
			return false;
	return true;
}

static int check_version(const json_t *body, uint64_t if_version, uint64_t cur, struct ctl_err *e)
{
	uint64_t v = if_version;
	int r = body ? get_uint(body, "version", 1, UINT64_MAX >> 1, &v, e) : 0;

	if (r < 0)
		return -1;
	if ((r > 0 || if_version > 0) && v != cur)
		return fail(e, 409, "version",
			    "version is %" PRIu64 ", not %" PRIu64 ": changed since it was read",
			    cur, v);
	return 0;
}

/*
 * What every change goes through once its object (if any) is found: the
 * version it is based on (409 if the object moved on), then a body with
 * known fields only. Returns 1 when a delete needs nothing more, 0 to go
 * on, -1 with @e filled.
 */
static int prepare_checks(const json_t *body, uint64_t if_version, const uint64_t *cur_version,
			  bool del, const char *const *allowed, struct ctl_err *e)
{
	if (cur_version && check_version(body, if_version, *cur_version, e) < 0)
		return -1;
	if (cur_version && del)
		return 1;
	if (body == NULL)
		return fail(e, 400, "", "a JSON body is required");
	return only_fields(body, allowed, e) < 0 ? -1 : 0;
}

/* ---- services ---------------------------------------------------------------- */

int ctl_model_prepare_service(const struct ctl_model *m, const json_t *body, const char *existing,
			      bool del, uint64_t if_version, struct ctl_change *c,
			      struct ctl_err *e)
{
	static const char *const allowed[] = {"name", "port", "version", "policy", NULL};
	const struct ctl_service *cur = NULL;
	uint64_t port = 0;
	const char *pol;
	int r;

	memset(c, 0, sizeof(*c));
	memset(e, 0, sizeof(*e));
	c->kind = CTL_SERVICE;
	c->del = del;
	c->rev = m->revision + 1;
	if (existing) {
		cur = ctl_model_service_by_name(m, existing);
		if (cur == NULL)
			return fail(e, 404, "name", "no service \"%s\"", existing);
		c->o.s = *cur;
		c->o.s.version = cur->version + 1;
	}
	r = prepare_checks(body, if_version, cur ? &cur->version : NULL, del, allowed, e);
	if (r != 0)
		return r < 0 ? -1 : 0;
	json_t *n = json_object_get(body, "name");

	if (cur == NULL) {
		if (!json_is_string(n) || !name_ok(json_string_value(n)))
			return fail(e, 400, "name",
				    "\"name\" must be 1-63 characters of [a-z0-9._-]");
		if (ctl_model_service_by_name(m, json_string_value(n)))
			return fail(e, 409, "name", "service \"%s\" exists", json_string_value(n));
		snprintf(c->o.s.name, sizeof(c->o.s.name), "%s", json_string_value(n));
		c->o.s.version = 1;
		c->o.s.used = true;
		c->o.s.id = UINT32_MAX;
		for (uint32_t i = 0; i < m->lim.max_services; i++)
			if (!m->svc[i].used) {
				c->o.s.id = i;
				break;
			}
		if (c->o.s.id == UINT32_MAX)
			return fail(e, 409, "", "all %u service ids are in use",
				    m->lim.max_services);
	} else if (n != NULL && (!json_is_string(n) || strcmp(json_string_value(n), cur->name))) {
		return fail(e, 400, "name", "\"name\" cannot change (delete and create)");
	}
	r = get_uint(body, "port", 1, 65535, &port, e);
	if (r < 0)
		return -1;
	if (r == 0 && cur == NULL)
		return fail(e, 400, "port", "\"port\" (the STOQ UDP port) is required");
	if (r > 0)
		c->o.s.port = (uint16_t)port;
	pol = json_string_value(json_object_get(body, "policy"));
	if (json_object_get(body, "policy") && (pol == NULL || strcmp(pol, "maglev") != 0))
		return fail(e, 400, "policy",
			    "\"policy\" must be \"maglev\" (weighted consistent "
			    "hashing with learned path costs)");
	for (uint32_t i = 0; i < m->lim.max_services; i++)
		if (m->svc[i].used && m->svc[i].port == c->o.s.port && m->svc[i].id != c->o.s.id)
			return fail(e, 409, "port", "port %u belongs to service \"%s\"",
				    c->o.s.port, m->svc[i].name);
	return 0;
}

json_t *ctl_service_json(const struct ctl_service *s)
{
	return json_pack("{s:s, s:I, s:i, s:s, s:I}", "name", s->name, "id", (json_int_t)s->id,
			 "port", s->port, "policy", "maglev", "version", (json_int_t)s->version);
}

/* ---- backends ---------------------------------------------------------------- */

static int parse_addr(const char *s, struct ctl_backend *b)
{
	memset(b->addr, 0, sizeof(b->addr));
	if (inet_pton(AF_INET, s, b->addr) == 1) {
		b->family = 4;
		return 0;
	}
	if (inet_pton(AF_INET6, s, b->addr) == 1) {
		b->family = 6;
		return 0;
	}
	return -1;
}

int ctl_model_prepare_backend(const struct ctl_model *m, const json_t *body, const char *existing,
			      bool del, uint64_t if_version, struct ctl_change *c,
			      struct ctl_err *e)
{
	static const char *const allowed[] = {"id",	"service", "address", "port", "node",
					      "weight", "healthy", "version", NULL};
	const struct ctl_backend *cur = NULL;
	uint64_t v;
	int r;

	memset(c, 0, sizeof(*c));
	memset(e, 0, sizeof(*e));
	c->kind = CTL_BACKEND;
	c->del = del;
	c->rev = m->revision + 1;
	if (existing) {
		char *end;
		unsigned long id = strtoul(existing, &end, 10);

		if (*existing == '\0' || *end || id >= m->lim.max_backends || !m->be[id].used)
			return fail(e, 404, "id", "no backend \"%s\"", existing);
		cur = &m->be[id];
		c->o.b = *cur;
		c->o.b.version = cur->version + 1;
	}
	r = prepare_checks(body, if_version, cur ? &cur->version : NULL, del, allowed, e);
	if (r != 0)
		return r < 0 ? -1 : 0;
	json_t *sv = json_object_get(body, "service");
	const struct ctl_service *s = NULL;

	if (sv != NULL) {
		if (!json_is_string(sv))
			return fail(e, 400, "service", "\"service\" must be a service name");
		s = ctl_model_service_by_name(m, json_string_value(sv));
		if (s == NULL)
			return fail(e, 400, "service", "no service \"%s\"", json_string_value(sv));
	}
	if (cur == NULL) {
		if (s == NULL)
			return fail(e, 400, "service", "\"service\" is required");
		c->o.b.used = true;
		c->o.b.service = s->id;
		c->o.b.version = 1;
		c->o.b.weight = 100;
		c->o.b.healthy = true;
		r = get_uint(body, "id", 0, m->lim.max_backends - 1, &v, e);
		if (r < 0)
			return -1;
		if (r > 0) {
			if (m->be[v].used)
				return fail(e, 409, "id", "backend %" PRIu64 " exists", v);
			c->o.b.id = (uint32_t)v;
		} else {
			c->o.b.id = UINT32_MAX;
			for (uint32_t i = 0; i < m->lim.max_backends; i++)
				if (!m->be[i].used) {
					c->o.b.id = i;
					break;
				}
			if (c->o.b.id == UINT32_MAX)
				return fail(e, 409, "", "all %u backend ids are in use",
					    m->lim.max_backends);
		}
	} else {
		if (s != NULL && s->id != cur->service)
			return fail(e, 400, "service",
				    "\"service\" cannot change (delete and create)");
		if (json_object_get(body, "id") &&
		    (get_uint(body, "id", 0, UINT32_MAX, &v, e) < 0 || v != cur->id))
			return fail(e, 400, "id", "\"id\" cannot change");
	}
	json_t *a = json_object_get(body, "address");

	if (a != NULL) {
		if (!json_is_string(a) || parse_addr(json_string_value(a), &c->o.b) < 0)
			return fail(e, 400, "address",
				    "\"address\" must be an IPv4 or IPv6 address");
	} else if (cur == NULL) {
		return fail(e, 400, "address", "\"address\" is required");
	}
	r = get_uint(body, "port", 1, 65535, &v, e);
	if (r < 0)
		return -1;
	if (r == 0 && cur == NULL)
		return fail(e, 400, "port", "\"port\" is required");
	if (r > 0)
		c->o.b.port = (uint16_t)v;
	if ((r = get_uint(body, "node", 0, m->lim.max_nodes - 1, &v, e)) < 0)
		return -1;
	if (r > 0)
		c->o.b.node = (uint16_t)v;
	if ((r = get_uint(body, "weight", 1, 1000000, &v, e)) < 0)
		return -1;
	if (r > 0)
		c->o.b.weight = (uint32_t)v;
	if (get_bool(body, "healthy", &c->o.b.healthy, e) < 0)
		return -1;
	return 0;
}

json_t *ctl_backend_json(const struct ctl_model *m, const struct ctl_backend *b)
{
	char addr[INET6_ADDRSTRLEN];
	const char *svc = b->service < m->lim.max_services && m->svc[b->service].used
			      ? m->svc[b->service].name
			      : "";

	inet_ntop(b->family == 4 ? AF_INET : AF_INET6, b->addr, addr, sizeof(addr));
	return json_pack("{s:I, s:s, s:s, s:i, s:i, s:I, s:b, s:I}", "id", (json_int_t)b->id,
			 "service", svc, "address", addr, "port", b->port, "node", b->node,
			 "weight", (json_int_t)b->weight, "healthy", b->healthy, "version",
			 (json_int_t)b->version);
}

/* ---- links ------------------------------------------------------------------- */

static int link_key(const struct ctl_model *m, const char *k, uint16_t *a, uint16_t *b)
{
	unsigned int x, y;
	int n = 0;

	if (sscanf(k, "%u-%u%n", &x, &y, &n) != 2 || k[n] != '\0' || x == y ||
	    x >= m->lim.max_nodes || y >= m->lim.max_nodes)
		return -1;
	*a = (uint16_t)(x < y ? x : y);
	*b = (uint16_t)(x < y ? y : x);
	return 0;
}

int ctl_model_prepare_link(const struct ctl_model *m, const json_t *body, const char *existing,
			   bool del, uint64_t if_version, struct ctl_change *c, struct ctl_err *e)
{
	static const char *const allowed[] = {"a", "b", "up", "version", NULL};
	const struct ctl_link *cur = NULL;
	uint64_t a, b;
	int rc;

	memset(c, 0, sizeof(*c));
	memset(e, 0, sizeof(*e));
	c->kind = CTL_LINK;
	c->del = del;
	c->rev = m->revision + 1;
	if (existing) {
		uint16_t x, y;

		if (link_key(m, existing, &x, &y) < 0 || (cur = ctl_model_link(m, x, y)) == NULL)
			return fail(e, 404, "", "no link \"%s\" (A-B, node ids)", existing);
		c->o.l = *cur;
		c->o.l.version = cur->version + 1;
	}
	rc = prepare_checks(body, if_version, cur ? &cur->version : NULL, del, allowed, e);
	if (rc != 0)
		return rc < 0 ? -1 : 0;
	if (cur == NULL) {
		if (get_uint(body, "a", 0, m->lim.max_nodes - 1, &a, e) != 1)
			return e->status ? -1 : fail(e, 400, "a", "\"a\" (a node id) is required");
		if (get_uint(body, "b", 0, m->lim.max_nodes - 1, &b, e) != 1)
			return e->status ? -1 : fail(e, 400, "b", "\"b\" (a node id) is required");
		if (a == b)
			return fail(e, 400, "b", "a link joins two different nodes");
		c->o.l.a = (uint16_t)(a < b ? a : b);
		c->o.l.b = (uint16_t)(a < b ? b : a);
		if (ctl_model_link(m, c->o.l.a, c->o.l.b))
			return fail(e, 409, "", "link %u-%u exists", c->o.l.a, c->o.l.b);
		c->o.l.up = true;
		c->o.l.version = 1;
	} else if (json_object_get(body, "a") || json_object_get(body, "b")) {
		return fail(e, 400, json_object_get(body, "a") ? "a" : "b",
			    "a link's ends cannot change");
	}
	if (get_bool(body, "up", &c->o.l.up, e) < 0)
		return -1;
	return 0;
}

json_t *ctl_link_json(const struct ctl_link *l)
{
	char key[16];

	snprintf(key, sizeof(key), "%u-%u", l->a, l->b);
	return json_pack("{s:s, s:i, s:i, s:b, s:I}", "key", key, "a", l->a, "b", l->b, "up", l->up,
			 "version", (json_int_t)l->version);
}

/* ---- container groups ----------------------------------------------------------- */

static bool bundle_ok(const char *p)
{
	/*
	 * Only the shape: whether it exists is each node's business (members
	 * must reach the same verdict on a change), reported by ctl_orch.
	 */
	if (p[0] != '/' || strlen(p) >= CTL_BUNDLE_MAX || strpbrk(p, "\n\t\"\\"))
		return false;
	for (const char *c = p; *c;) {
		size_t n;

		while (*c == '/')
			c++;
		n = strcspn(c, "/");
		if ((n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		c += n;
	}
	return true;
}

int ctl_model_prepare_group(const struct ctl_model *m, const json_t *body, const char *existing,
			    bool del, uint64_t if_version, struct ctl_change *c, struct ctl_err *e)
{
	static const char *const allowed[] = {
	    "service",	     "replicas",     "bundle",	    "port", "drain_seconds",
	    "flows_per_replica", "min_replicas", "max_replicas", "warm", "version", NULL};
	const struct ctl_group *cur = NULL;
	uint64_t v;
	int r;

	memset(c, 0, sizeof(*c));
	memset(e, 0, sizeof(*e));
	c->kind = CTL_GROUP;
	c->del = del;
	c->rev = m->revision + 1;
	if (existing) {
		const struct ctl_service *s = ctl_model_service_by_name(m, existing);

		if (s == NULL || !m->grp[s->id].used)
			return fail(e, 404, "service", "no containers for service \"%s\"", existing);
		cur = &m->grp[s->id];
		c->o.g = *cur;
		c->o.g.version = cur->version + 1;
	}
	r = prepare_checks(body, if_version, cur ? &cur->version : NULL, del, allowed, e);
	if (r != 0)
		return r < 0 ? -1 : 0;
	json_t *sv = json_object_get(body, "service");

	if (cur == NULL) {
		const struct ctl_service *s;

		if (!json_is_string(sv))
			return fail(e, 400, "service", "\"service\" (a service's name) is required");
		s = ctl_model_service_by_name(m, json_string_value(sv));
		if (s == NULL)
			return fail(e, 400, "service", "no service \"%s\"", json_string_value(sv));
		if (m->grp[s->id].used)
			return fail(e, 409, "service", "service \"%s\" has containers already",
				    s->name);
		c->o.g.used = true;
		c->o.g.service = s->id;
		c->o.g.version = 1;
		c->o.g.drain_seconds = 10;
	} else if (sv && (!json_is_string(sv) || strcmp(json_string_value(sv), existing))) {
		return fail(e, 400, "service", "\"service\" cannot change");
	}
	r = get_uint(body, "replicas", 0, CTL_REPLICAS_MAX, &v, e);
	if (r < 0)
		return -1;
	if (r == 0 && cur == NULL)
		return fail(e, 400, "replicas", "\"replicas\" is required");
	if (r > 0)
		c->o.g.replicas = (uint32_t)v;
	r = get_uint(body, "port", 1, 65535, &v, e);
	if (r < 0)
		return -1;
	if (r == 0 && cur == NULL)
		return fail(e, 400, "port", "\"port\" (the containers' STOQ UDP port) is required");
	if (r > 0)
		c->o.g.port = (uint16_t)v;
	r = get_uint(body, "drain_seconds", 0, 3600, &v, e);
	if (r < 0)
		return -1;
	if (r > 0)
		c->o.g.drain_seconds = (uint32_t)v;
	{
		static const struct {
			const char *name;
			uint64_t max;
			size_t off;
		} as[] = {
		    {"flows_per_replica", 1000000, offsetof(struct ctl_group, flows_per_replica)},
		    {"min_replicas", CTL_REPLICAS_MAX, offsetof(struct ctl_group, min_replicas)},
		    {"max_replicas", CTL_REPLICAS_MAX, offsetof(struct ctl_group, max_replicas)},
		    {"warm", CTL_WARM_MAX, offsetof(struct ctl_group, warm)},
		};
		struct ctl_group *g = &c->o.g;

		for (size_t i = 0; i < sizeof(as) / sizeof(as[0]); i++) {
			r = get_uint(body, as[i].name, 0, as[i].max, &v, e);
			if (r < 0)
				return -1;
			if (r > 0)
				*(uint32_t *)((char *)g + as[i].off) = (uint32_t)v;
		}
		if (g->flows_per_replica) {
			if (g->min_replicas == 0)
				g->min_replicas = 1;
			if (g->max_replicas < g->min_replicas)
				return fail(e, 400, "max_replicas",
					    "\"max_replicas\" (%u) must be at least \"min_replicas\" "
					    "(%u) when \"flows_per_replica\" turns autoscaling on",
					    g->max_replicas, g->min_replicas);
			if (g->replicas < g->min_replicas || g->replicas > g->max_replicas)
				return fail(e, 400, "replicas",
					    "\"replicas\" %u is outside min_replicas..max_replicas "
					    "(%u..%u)",
					    g->replicas, g->min_replicas, g->max_replicas);
		}
	}
	if (json_object_get(body, "bundle") || cur == NULL) {
		const char *b = json_string_value(json_object_get(body, "bundle"));

		if (b == NULL || !bundle_ok(b))
			return fail(e, 400, "bundle",
				    "\"bundle\" must be the absolute path of an OCI bundle "
				    "directory (under %d bytes, no . or .. parts)",
				    CTL_BUNDLE_MAX);
		snprintf(c->o.g.bundle, sizeof(c->o.g.bundle), "%s", b);
	}
	return 0;
}

json_t *ctl_group_json(const struct ctl_model *m, const struct ctl_group *g)
{
	return json_pack("{s:s, s:i, s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:I}", "service",
			 m->svc[g->service].name, "replicas", (int)g->replicas, "bundle", g->bundle,
			 "port", g->port, "drain_seconds", (int)g->drain_seconds,
			 "flows_per_replica", (int)g->flows_per_replica, "min_replicas",
			 (int)g->min_replicas, "max_replicas", (int)g->max_replicas, "warm",
			 (int)g->warm, "version", (json_int_t)g->version);
}

/* ---- dataplane runtime settings -------------------------------------------------- */

int ctl_model_prepare_config(const struct ctl_model *m, const json_t *body, bool del,
			     uint64_t if_version, struct ctl_change *c, struct ctl_err *e)
{
	static const char *const allowed[] = {"dataplane", "version", NULL};
	json_t *dp, *v;
	const char *k;
	int r;

	memset(c, 0, sizeof(*c));
	memset(e, 0, sizeof(*e));
	c->kind = CTL_CONFIG;
	c->rev = m->revision + 1;
	if (del)
		return fail(e, 405, "", "the config cannot be deleted (set a knob to null instead)");
	r = prepare_checks(body, if_version, &m->cfg.version, false, allowed, e);
	if (r != 0)
		return -1;
	c->o.cfg = m->cfg;
	c->o.cfg.version = m->cfg.version + 1;
	dp = json_object_get(body, "dataplane");
	if (!json_is_object(dp))
		return fail(e, 400, "dataplane",
			    "\"dataplane\" must be an object of runtime settings");
	json_object_foreach(dp, k, v)
	{
		int i = hm_knob_by_name(k);
		char field[48];

		snprintf(field, sizeof(field), "dataplane.%s", k);
		if (i < 0)
			return fail(e, 400, field,
				    "unknown runtime setting \"%s\" (mfn_rate_limit, "
				    "mfn_idle_timeout_ms, stats_interval)",
				    k);
		if (json_is_null(v)) {
			c->o.cfg.set[i] = 0;
			continue;
		}
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    (uint64_t)json_integer_value(v) < hm_knob_defs[i].min ||
		    (uint64_t)json_integer_value(v) > hm_knob_defs[i].max)
			return fail(e, 400, field,
				    "\"%s\" must be an integer in %" PRIu64 "..%" PRIu64 " (%s), or null",
				    k, hm_knob_defs[i].min, hm_knob_defs[i].max, hm_knob_defs[i].help);
		c->o.cfg.set[i] = 1;
		c->o.cfg.value[i] = (uint64_t)json_integer_value(v);
	}
	return 0;
}

json_t *ctl_config_json(const struct ctl_config *cfg)
{
	json_t *dp = json_object();

	for (int i = 0; i < HM_KNOB__COUNT; i++)
		json_object_set_new(dp, hm_knob_defs[i].name,
				    cfg->set[i] ? json_integer((json_int_t)cfg->value[i])
						: json_null());
	return json_pack("{s:o, s:I}", "dataplane", dp, "version", (json_int_t)cfg->version);
}

int ctl_model_prepare(const struct ctl_model *m, const char *coll, const json_t *body,
		      const char *existing, bool del, uint64_t if_version, struct ctl_change *c,
		      struct ctl_err *e)
{
	if (strcmp(coll, "services") == 0)
		return ctl_model_prepare_service(m, body, existing, del, if_version, c, e);
	if (strcmp(coll, "backends") == 0)
		return ctl_model_prepare_backend(m, body, existing, del, if_version, c, e);
	if (strcmp(coll, "links") == 0)
		return ctl_model_prepare_link(m, body, existing, del, if_version, c, e);
	if (strcmp(coll, "containers") == 0)
		return ctl_model_prepare_group(m, body, existing, del, if_version, c, e);
	if (strcmp(coll, "config") == 0 && existing == NULL)
		return ctl_model_prepare_config(m, body, del, if_version, c, e);
	memset(e, 0, sizeof(*e));
	return fail(e, 404, "", "no collection \"%s\"", coll);
}

/* ---- apply ------------------------------------------------------------------- */

void ctl_model_apply(struct ctl_model *m, const struct ctl_change *c)
{
	switch (c->kind) {
	case CTL_SERVICE:
		if (c->del) {
			for (uint32_t i = 0; i < m->lim.max_backends; i++)
				if (m->be[i].used && m->be[i].service == c->o.s.id)
					m->be[i].used = false;
			m->svc[c->o.s.id].used = false;
			m->grp[c->o.s.id].used = false;
		} else {
			m->svc[c->o.s.id] = c->o.s;
			m->svc[c->o.s.id].used = true;
		}
		break;
	case CTL_BACKEND:
		m->be[c->o.b.id] = c->o.b;
		m->be[c->o.b.id].used = !c->del;
		break;
	case CTL_LINK: {
		uint32_t i;

		for (i = 0; i < m->n_links; i++)
			if (m->links[i].a == c->o.l.a && m->links[i].b == c->o.l.b)
				break;
		if (c->del) {
			if (i < m->n_links)
				m->links[i] = m->links[--m->n_links];
			break;
		}
		if (i == m->n_links) {
			if (m->n_links == m->cap_links) {
				uint32_t cap = m->cap_links ? 2 * m->cap_links : 16;
				struct ctl_link *nl = realloc(m->links, cap * sizeof(*nl));

				/* Links are few (nodes ≤ 256); out of memory here is fatal. */
				if (nl == NULL)
					abort();
				m->links = nl;
				m->cap_links = cap;
			}
			m->n_links++;
		}
		m->links[i] = c->o.l;
		break;
	}
	case CTL_GROUP:
		m->grp[c->o.g.service] = c->o.g;
		m->grp[c->o.g.service].used = !c->del;
		break;
	case CTL_CONFIG:
		m->cfg = c->o.cfg;
		break;
	}
	m->revision = c->rev;
}

/* ---- records ------------------------------------------------------------------ */

static const char *kind_name(enum ctl_kind k)
{
	return k == CTL_SERVICE	  ? "service"
	       : k == CTL_BACKEND ? "backend"
	       : k == CTL_LINK	  ? "link"
	       : k == CTL_GROUP	  ? "containers"
				  : "config";
}

static json_t *obj_json(const struct ctl_model *m, const struct ctl_change *c)
{
	json_t *o;

	switch (c->kind) {
	case CTL_SERVICE:
		return ctl_service_json(&c->o.s);
	case CTL_BACKEND:
		o = ctl_backend_json(m, &c->o.b);
		/* By id: the record must replay even if the name is reused later. */
		json_object_set_new(o, "service_id", json_integer(c->o.b.service));
		json_object_del(o, "service");
		return o;
	case CTL_LINK:
		return ctl_link_json(&c->o.l);
	case CTL_GROUP:
		/* By id, like backends. */
		return json_pack("{s:i, s:i, s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:I}",
				 "service_id", (int)c->o.g.service, "replicas", (int)c->o.g.replicas,
				 "bundle", c->o.g.bundle, "port", c->o.g.port, "drain_seconds",
				 (int)c->o.g.drain_seconds, "flows_per_replica",
				 (int)c->o.g.flows_per_replica, "min_replicas",
				 (int)c->o.g.min_replicas, "max_replicas", (int)c->o.g.max_replicas,
				 "warm", (int)c->o.g.warm, "version", (json_int_t)c->o.g.version);
	case CTL_CONFIG: {
		/* Only what is set: null means "not managed", which is the absence. */
		json_t *o = ctl_config_json(&c->o.cfg), *dp = json_object();

		for (int i = 0; i < HM_KNOB__COUNT; i++)
			if (c->o.cfg.set[i])
				json_object_set_new(dp, hm_knob_defs[i].name,
						    json_integer((json_int_t)c->o.cfg.value[i]));
		json_object_set_new(o, "dataplane", dp);
		return o;
	}
	}
	return NULL;
}

json_t *ctl_change_json(const struct ctl_model *m, const struct ctl_change *c)
{
	return json_pack("{s:I, s:s, s:s, s:o}", "rev", (json_int_t)c->rev, "op",
			 c->del ? "del" : "put", "kind", kind_name(c->kind), "obj", obj_json(m, c));
}

int ctl_change_from_json(const struct ctl_model *m, const json_t *j, struct ctl_change *c,
			 struct ctl_err *e)
{
	const char *op = NULL, *kind = NULL;
	json_t *o = NULL;
	json_int_t rev = 0;
	json_error_t je;

	memset(c, 0, sizeof(*c));
	if (json_unpack_ex((json_t *)j, &je, 0, "{s:I, s:s, s:s, s:o}", "rev", &rev, "op", &op,
			   "kind", &kind, "obj", &o) < 0 ||
	    rev <= 0)
		return fail(e, 400, "", "record: %s", je.text);
	c->rev = (uint64_t)rev;
	c->del = strcmp(op, "del") == 0;
	if (!c->del && strcmp(op, "put") != 0)
		return fail(e, 400, "op", "record: op \"%s\"", op);
	if (strcmp(kind, "service") == 0) {
		const char *name;
		json_int_t id, port, ver;

		c->kind = CTL_SERVICE;
		if (json_unpack_ex(o, &je, 0, "{s:s, s:I, s:I, s:I}", "name", &name, "id", &id,
				   "port", &port, "version", &ver) < 0 ||
		    id < 0 || (uint64_t)id >= m->lim.max_services || port < 1 || port > 65535 ||
		    !name_ok(name))
			return fail(e, 400, "obj", "record: bad service");
		c->o.s.used = true;
		c->o.s.id = (uint32_t)id;
		c->o.s.port = (uint16_t)port;
		c->o.s.version = (uint64_t)ver;
		snprintf(c->o.s.name, sizeof(c->o.s.name), "%s", name);
	} else if (strcmp(kind, "backend") == 0) {
		const char *addr;
		json_int_t id, sid, port, node, weight, ver;
		int healthy;

		c->kind = CTL_BACKEND;
		if (json_unpack_ex(o, &je, 0, "{s:I, s:I, s:s, s:I, s:I, s:I, s:b, s:I}", "id", &id,
				   "service_id", &sid, "address", &addr, "port", &port, "node",
				   &node, "weight", &weight, "healthy", &healthy, "version",
				   &ver) < 0 ||
		    id < 0 || (uint64_t)id >= m->lim.max_backends || sid < 0 ||
		    (uint64_t)sid >= m->lim.max_services || port < 1 || port > 65535 || node < 0 ||
		    (uint64_t)node >= m->lim.max_nodes || weight < 1 || weight > 1000000 ||
		    parse_addr(addr, &c->o.b) < 0)
			return fail(e, 400, "obj", "record: bad backend");
		c->o.b.used = true;
		c->o.b.id = (uint32_t)id;
		c->o.b.service = (uint32_t)sid;
		c->o.b.port = (uint16_t)port;
		c->o.b.node = (uint16_t)node;
		c->o.b.weight = (uint32_t)weight;
		c->o.b.healthy = healthy;
		c->o.b.version = (uint64_t)ver;
	} else if (strcmp(kind, "link") == 0) {
		json_int_t a, b, ver;
		int up;

		c->kind = CTL_LINK;
		if (json_unpack_ex(o, &je, 0, "{s:I, s:I, s:b, s:I}", "a", &a, "b", &b, "up", &up,
				   "version", &ver) < 0 ||
		    a < 0 || b <= a || (uint64_t)b >= m->lim.max_nodes)
			return fail(e, 400, "obj", "record: bad link");
		c->o.l.a = (uint16_t)a;
		c->o.l.b = (uint16_t)b;
		c->o.l.up = up;
		c->o.l.version = (uint64_t)ver;
	} else if (strcmp(kind, "containers") == 0) {
		json_int_t sid, rep, port, drain, ver, fpr = 0, mn = 0, mx = 0, warm = 0;
		const char *bundle;

		c->kind = CTL_GROUP;
		/* The autoscaling fields came later: absent in older records. */
		if (json_unpack_ex(o, &je, 0, "{s:I, s:I, s:s, s:I, s:I, s:I, s?I, s?I, s?I, s?I}",
				   "service_id", &sid, "replicas", &rep, "bundle", &bundle, "port",
				   &port, "drain_seconds", &drain, "version", &ver,
				   "flows_per_replica", &fpr, "min_replicas", &mn, "max_replicas",
				   &mx, "warm", &warm) < 0 ||
		    warm < 0 || warm > CTL_WARM_MAX ||
		    fpr < 0 || fpr > 1000000 || mn < 0 || mn > CTL_REPLICAS_MAX || mx < 0 ||
		    mx > CTL_REPLICAS_MAX ||
		    sid < 0 || (uint64_t)sid >= m->lim.max_services || rep < 0 ||
		    rep > CTL_REPLICAS_MAX || port < 1 || port > 65535 || drain < 0 ||
		    drain > 3600 || !bundle_ok(bundle))
			return fail(e, 400, "obj", "record: bad containers");
		c->o.g.used = true;
		c->o.g.service = (uint32_t)sid;
		c->o.g.replicas = (uint32_t)rep;
		c->o.g.port = (uint16_t)port;
		c->o.g.drain_seconds = (uint32_t)drain;
		c->o.g.flows_per_replica = (uint32_t)fpr;
		c->o.g.min_replicas = (uint32_t)mn;
		c->o.g.max_replicas = (uint32_t)mx;
		c->o.g.warm = (uint32_t)warm;
		c->o.g.version = (uint64_t)ver;
		snprintf(c->o.g.bundle, sizeof(c->o.g.bundle), "%s", bundle);
	} else if (strcmp(kind, "config") == 0) {
		json_t *dp = json_object_get(o, "dataplane"), *v;
		json_int_t ver;
		const char *k;

		c->kind = CTL_CONFIG;
		if (json_unpack_ex(o, &je, 0, "{s:I}", "version", &ver) < 0 || !json_is_object(dp))
			return fail(e, 400, "obj", "record: bad config");
		c->o.cfg.version = (uint64_t)ver;
		json_object_foreach(dp, k, v)
		{
			int i = hm_knob_by_name(k);

			if (i < 0 || !json_is_integer(v) || json_integer_value(v) < 0 ||
			    (uint64_t)json_integer_value(v) < hm_knob_defs[i].min ||
			    (uint64_t)json_integer_value(v) > hm_knob_defs[i].max)
				return fail(e, 400, "obj", "record: bad config setting \"%s\"", k);
			c->o.cfg.set[i] = 1;
			c->o.cfg.value[i] = (uint64_t)json_integer_value(v);
		}
	} else {
		return fail(e, 400, "kind", "record: kind \"%s\"", kind);
	}
	return 0;
}

json_t *ctl_model_json(const struct ctl_model *m)
{
	json_t *s = json_array(), *b = json_array(), *l = json_array(), *g = json_array();
	struct ctl_change c = {0};

	for (uint32_t i = 0; i < m->lim.max_services; i++)
		if (m->svc[i].used)
			json_array_append_new(s, ctl_service_json(&m->svc[i]));
	for (uint32_t i = 0; i < m->lim.max_backends; i++)
		if (m->be[i].used) {
			c.kind = CTL_BACKEND;
			c.o.b = m->be[i];
			json_array_append_new(b, obj_json(m, &c));
		}
	for (uint32_t i = 0; i < m->n_links; i++)
		json_array_append_new(l, ctl_link_json(&m->links[i]));
	for (uint32_t i = 0; i < m->lim.max_services; i++)
		if (m->grp[i].used) {
			c.kind = CTL_GROUP;
			c.o.g = m->grp[i];
			json_array_append_new(g, obj_json(m, &c));
		}
	c.kind = CTL_CONFIG;
	c.o.cfg = m->cfg;
	return json_pack("{s:I, s:o, s:o, s:o, s:o, s:o}", "revision", (json_int_t)m->revision,
			 "services", s, "backends", b, "links", l, "containers", g, "config",
			 obj_json(m, &c));
}

int ctl_model_load_json(struct ctl_model *m, const json_t *j, struct ctl_err *e)
{
	static const char *const kinds[] = {"services", "backends", "links", "containers"};
	static const char *const kind1[] = {"service", "backend", "link", "containers"};
	json_int_t rev;
	json_t *arr, *o;
	size_t i;

	if (json_unpack((json_t *)j, "{s:I}", "revision", &rev) < 0 || rev < 0)
		return fail(e, 400, "revision", "snapshot: no revision");
	for (int k = 0; k < 4; k++) {
		arr = json_object_get(j, kinds[k]);
		if (arr == NULL && k == 3)
			continue; /* snapshots from before containers existed */
		if (!json_is_array(arr))
			return fail(e, 400, kinds[k], "snapshot: no %s array", kinds[k]);
		json_array_foreach(arr, i, o)
		{
			struct ctl_change c;
			json_t *rec = json_pack("{s:I, s:s, s:s, s:O}", "rev", (json_int_t)rev ?: 1,
						"op", "put", "kind", kind1[k], "obj", o);
			int rc = ctl_change_from_json(m, rec, &c, e);

			json_decref(rec);
			if (rc < 0)
				return -1;
			ctl_model_apply(m, &c);
		}
	}
	if ((o = json_object_get(j, "config")) != NULL) {
		/* Absent in snapshots from before /v1/config was writable. */
		struct ctl_change c;
		json_t *rec = json_pack("{s:I, s:s, s:s, s:O}", "rev", (json_int_t)rev ?: 1, "op",
					"put", "kind", "config", "obj", o);
		int rc = ctl_change_from_json(m, rec, &c, e);

		json_decref(rec);
		if (rc < 0)
			return -1;
		ctl_model_apply(m, &c);
	}
	m->revision = (uint64_t)rev;
	return 0;
}
