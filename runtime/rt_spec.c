/* SPDX-License-Identifier: BSD-3-Clause */
#include "rt_spec.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>

#include <jansson.h>
#include <sys/capability.h>

int rt_errf(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return -1;
}

/* Every key of @o must be in @known (NULL-terminated); else name the first stranger. */
static int known_keys(json_t *o, const char *where, const char *const *known, char *err, size_t len)
{
	const char *k;
	json_t *v;

	if (!json_is_object(o))
		return rt_errf(err, len, "%s: must be an object", where);
	json_object_foreach(o, k, v)
	{
		bool ok = false;

		for (const char *const *p = known; *p; p++)
			ok |= strcmp(k, *p) == 0;
		if (!ok)
			return rt_errf(err, len, "%s%s%s: not supported", where, *where ? "." : "",
				       k);
	}
	return 0;
}

static int strings(json_t *a, const char *where, char **out, uint32_t max, uint32_t *n, char *err,
		   size_t len)
{
	size_t i;
	json_t *v;

	if (!json_is_array(a))
		return rt_errf(err, len, "%s: must be an array of strings", where);
	if (json_array_size(a) > max)
		return rt_errf(err, len, "%s: at most %u entries", where, max);
	json_array_foreach(a, i, v)
	{
		if (!json_is_string(v)) {
			rt_errf(err, len, "%s[%zu]: must be a string", where, i);
			goto fail;
		}
		out[i] = strdup(json_string_value(v));
		if (out[i] == NULL) {
			rt_errf(err, len, "out of memory");
			goto fail;
		}
	}
	out[json_array_size(a)] = NULL;
	if (n)
		*n = (uint32_t)json_array_size(a);
	return 0;
fail:
	/* Nothing half-filled is left for rt_spec_free() to miss or free twice. */
	while (i-- > 0) {
		free(out[i]);
		out[i] = NULL;
	}
	return -1;
}

static int u64_of(json_t *v, const char *where, uint64_t max, uint64_t *out, char *err, size_t len)
{
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    (uint64_t)json_integer_value(v) > max)
		return rt_errf(err, len, "%s: must be an integer 0..%llu", where,
			       (unsigned long long)max);
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

static int parse_caps(json_t *c, struct rt_spec *s, char *err, size_t len)
{
	static const char *const sets[] = {"bounding",	"effective", "inheritable",
					   "permitted", "ambient",   NULL};
	if (known_keys(c, "process.capabilities", sets, err, len) < 0)
		return -1;
	for (int k = 0; sets[k]; k++) {
		json_t *a = json_object_get(c, sets[k]), *v;
		size_t i;

		if (a == NULL)
			continue;
		if (!json_is_array(a))
			return rt_errf(err, len, "process.capabilities.%s: must be an array",
				       sets[k]);
		json_array_foreach(a, i, v)
		{
			cap_value_t cv;

			if (!json_is_string(v) || cap_from_name(json_string_value(v), &cv) < 0 ||
			    cv > 63)
				return rt_errf(err, len,
					       "process.capabilities.%s[%zu]: unknown capability",
					       sets[k], i);
			s->caps[k] |= 1ull << cv;
		}
	}
	/* The kernel raises an ambient capability only if it is permitted and inheritable. */
	uint64_t stray = s->caps[4] & ~(s->caps[2] & s->caps[3]);

	if (stray) {
		char *name = cap_to_name((cap_value_t)__builtin_ctzll(stray));

		rt_errf(err, len,
			"process.capabilities.ambient: %s is not in both inheritable and "
			"permitted (the kernel refuses to raise it)",
			name ? name : "?");
		cap_free(name);
		return -1;
	}
	return 0;
}

static const struct {
	const char *name;
	int res;
} rlimit_names[] = {
    {"RLIMIT_AS", RLIMIT_AS},	      {"RLIMIT_CORE", RLIMIT_CORE},
    {"RLIMIT_CPU", RLIMIT_CPU},	      {"RLIMIT_DATA", RLIMIT_DATA},
    {"RLIMIT_FSIZE", RLIMIT_FSIZE},   {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK},
    {"RLIMIT_NOFILE", RLIMIT_NOFILE}, {"RLIMIT_NPROC", RLIMIT_NPROC},
    {"RLIMIT_STACK", RLIMIT_STACK},
};

static int parse_process(json_t *p, struct rt_spec *s, char *err, size_t len)
{
	static const char *const keys[] = {"terminal", "user",	       "args",	  "env",
					   "cwd",      "capabilities", "rlimits", "noNewPrivileges",
					   NULL};
	json_t *v, *u;
	uint64_t x;
	size_t i;

	if (known_keys(p, "process", keys, err, len) < 0)
		return -1;
	if (json_is_true(json_object_get(p, "terminal")))
		return rt_errf(err, len, "process.terminal: true is not supported (no console)");
	v = json_object_get(p, "args");
	if (v == NULL || json_array_size(v) == 0)
		return rt_errf(err, len, "process.args: required, at least one string");
	if (strings(v, "process.args", s->args, RT_ARGS_MAX, NULL, err, len) < 0)
		return -1;
	if ((v = json_object_get(p, "env")) &&
	    strings(v, "process.env", s->env, RT_ARGS_MAX, NULL, err, len) < 0)
		return -1;
	v = json_object_get(p, "cwd");
	if (!json_is_string(v) || json_string_value(v)[0] != '/')
		return rt_errf(err, len, "process.cwd: required, an absolute path");
	s->cwd = strdup(json_string_value(v));
	u = json_object_get(p, "user");
	if (u) {
		static const char *const ukeys[] = {"uid", "gid", "additionalGids", NULL};

		if (known_keys(u, "process.user", ukeys, err, len) < 0)
			return -1;
		if ((v = json_object_get(u, "uid")) &&
		    u64_of(v, "process.user.uid", UINT32_MAX - 1, &x, err, len) < 0)
			return -1;
		s->uid = v ? (uint32_t)x : 0;
		if ((v = json_object_get(u, "gid")) &&
		    u64_of(v, "process.user.gid", UINT32_MAX - 1, &x, err, len) < 0)
			return -1;
		s->gid = v ? (uint32_t)x : 0;
		if ((v = json_object_get(u, "additionalGids"))) {
			json_t *g;

			if (!json_is_array(v) || json_array_size(v) > 16)
				return rt_errf(
				    err, len,
				    "process.user.additionalGids: an array of at most 16");
			json_array_foreach(v, i, g)
			{
				if (u64_of(g, "process.user.additionalGids[]", UINT32_MAX - 1, &x,
					   err, len) < 0)
					return -1;
				s->gids[s->n_gids++] = (uint32_t)x;
			}
		}
	}
	if ((v = json_object_get(p, "capabilities")) && parse_caps(v, s, err, len) < 0)
		return -1;
	if ((v = json_object_get(p, "rlimits"))) {
		json_t *r;

		if (!json_is_array(v) || json_array_size(v) > RT_RLIMITS_MAX)
			return rt_errf(err, len, "process.rlimits: an array of at most %d",
				       RT_RLIMITS_MAX);
		json_array_foreach(v, i, r)
		{
			static const char *const rkeys[] = {"type", "soft", "hard", NULL};
			const char *t = json_string_value(json_object_get(r, "type"));
			struct rt_rlimit *rl = &s->rlimits[s->n_rlimits];
			size_t k;

			if (known_keys(r, "process.rlimits[]", rkeys, err, len) < 0)
				return -1;
			for (k = 0; t && k < sizeof(rlimit_names) / sizeof(rlimit_names[0]); k++)
				if (strcmp(t, rlimit_names[k].name) == 0)
					break;
			if (t == NULL || k == sizeof(rlimit_names) / sizeof(rlimit_names[0]))
				return rt_errf(err, len, "process.rlimits[%zu].type: unknown", i);
			rl->resource = rlimit_names[k].res;
			if (u64_of(json_object_get(r, "soft"), "process.rlimits[].soft",
				   UINT64_MAX >> 1, &rl->soft, err, len) < 0 ||
			    u64_of(json_object_get(r, "hard"), "process.rlimits[].hard",
				   UINT64_MAX >> 1, &rl->hard, err, len) < 0)
				return -1;
			if (rl->soft > rl->hard)
				return rt_errf(err, len, "process.rlimits[%zu]: soft above hard",
					       i);
			s->n_rlimits++;
		}
	}
	s->no_new_privs = json_is_true(json_object_get(p, "noNewPrivileges"));
	return 0;
}

static const struct {
	const char *opt;
	unsigned long set, clear;
} mount_flags[] = {
    {"ro", MS_RDONLY, 0},
    {"rw", 0, MS_RDONLY},
    {"nosuid", MS_NOSUID, 0},
    {"suid", 0, MS_NOSUID},
    {"nodev", MS_NODEV, 0},
    {"dev", 0, MS_NODEV},
    {"noexec", MS_NOEXEC, 0},
    {"exec", 0, MS_NOEXEC},
    {"relatime", MS_RELATIME, 0},
    {"strictatime", MS_STRICTATIME, 0},
    {"noatime", MS_NOATIME, 0},
    {"bind", MS_BIND, 0},
    {"rbind", MS_BIND | MS_REC, 0},
    {"private", 0, 0},
    {"rprivate", 0, 0},
};

static int parse_mounts(json_t *a, struct rt_spec *s, char *err, size_t len)
{
	static const char *const keys[] = {"destination", "type", "source", "options", NULL};
	static const char *const types[] = {"proc",   "tmpfs", "devpts", "mqueue", "sysfs",
					    "cgroup", "bind",  "none",	 NULL};
	json_t *m;
	size_t i;

	if (!json_is_array(a) || json_array_size(a) > RT_MOUNTS_MAX)
		return rt_errf(err, len, "mounts: an array of at most %d", RT_MOUNTS_MAX);
	json_array_foreach(a, i, m)
	{
		struct rt_mount *mt = &s->mounts[s->n_mounts];
		const char *d = json_string_value(json_object_get(m, "destination"));
		const char *t = json_string_value(json_object_get(m, "type"));
		const char *src = json_string_value(json_object_get(m, "source"));
		json_t *opts = json_object_get(m, "options"), *o;
		char data[512] = "";
		bool tok = false;
		size_t k;

		if (known_keys(m, "mounts[]", keys, err, len) < 0)
			return -1;
		if (d == NULL || d[0] != '/' || strstr(d, ".."))
			return rt_errf(err, len,
				       "mounts[%zu].destination: an absolute path without ..", i);
		for (const char *const *p = types; t && *p; p++)
			tok |= strcmp(t, *p) == 0;
		if (t && !tok)
			return rt_errf(err, len, "mounts[%zu].type: \"%s\" not supported", i, t);
		/* Counted before anything can fail, so rt_spec_free() frees it. */
		s->n_mounts++;
		mt->dest = strdup(d);
		mt->type = strdup(t ? t : "none");
		mt->source = strdup(src ? src : t ? t : "none");
		if (!mt->dest || !mt->type || !mt->source)
			return rt_errf(err, len, "mounts[%zu]: out of memory", i);
		if (opts && !json_is_array(opts))
			return rt_errf(err, len, "mounts[%zu].options: must be an array", i);
		json_array_foreach(opts, k, o)
		{
			const char *op = json_string_value(o);
			size_t f;

			if (op == NULL)
				return rt_errf(err, len, "mounts[%zu].options[%zu]: a string", i,
					       k);
			for (f = 0; f < sizeof(mount_flags) / sizeof(mount_flags[0]); f++)
				if (strcmp(op, mount_flags[f].opt) == 0)
					break;
			if (f < sizeof(mount_flags) / sizeof(mount_flags[0])) {
				mt->flags =
				    (mt->flags | mount_flags[f].set) & ~mount_flags[f].clear;
				mt->bind |= (mount_flags[f].set & MS_BIND) != 0;
				continue;
			}
			/* Filesystem data (mode=, size=, gid=, newinstance...). */
			if (strlen(data) + strlen(op) + 2 > sizeof(data))
				return rt_errf(err, len, "mounts[%zu].options: too long", i);
			if (data[0])
				strcat(data, ",");
			strcat(data, op);
		}
		if (t && strcmp(t, "bind") == 0)
			mt->bind = true;
		if (mt->bind && (src == NULL || src[0] != '/'))
			return rt_errf(
			    err, len, "mounts[%zu].source: a bind mount needs an absolute path", i);
		mt->data = strdup(data);
		if (!mt->data)
			return rt_errf(err, len, "mounts[%zu]: out of memory", i);
	}
	return 0;
}

static int parse_linux(json_t *l, struct rt_spec *s, char *err, size_t len)
{
	static const char *const keys[] = {"namespaces", "resources", "maskedPaths",
					   "readonlyPaths", NULL};
	static const struct {
		const char *name;
		uint32_t bit;
	} nss[] = {{"pid", RT_NS_PID}, {"network", RT_NS_NET}, {"ipc", RT_NS_IPC},
		   {"uts", RT_NS_UTS}, {"mount", RT_NS_MNT},   {"cgroup", RT_NS_CGROUP}};
	json_t *v, *n;
	size_t i;

	if (known_keys(l, "linux", keys, err, len) < 0)
		return -1;
	json_array_foreach(json_object_get(l, "namespaces"), i, n)
	{
		static const char *const nkeys[] = {"type", NULL};
		const char *t = json_string_value(json_object_get(n, "type"));
		size_t k;

		if (known_keys(n, "linux.namespaces[]", nkeys, err, len) < 0)
			return -1; /* "path" (joining one) is not supported */
		for (k = 0; t && k < sizeof(nss) / sizeof(nss[0]); k++)
			if (strcmp(t, nss[k].name) == 0)
				break;
		if (t == NULL || k == sizeof(nss) / sizeof(nss[0]))
			return rt_errf(err, len, "linux.namespaces[%zu].type: \"%s\" not supported",
				       i, t ? t : "");
		s->ns |= nss[k].bit;
	}
	if (!(s->ns & RT_NS_MNT))
		return rt_errf(err, len, "linux.namespaces: \"mount\" is required (pivot_root)");
	if ((v = json_object_get(l, "resources"))) {
		static const char *const rkeys[] = {"memory", "cpu", "pids", "devices", NULL};
		json_t *r;
		uint64_t x;

		if (known_keys(v, "linux.resources", rkeys, err, len) < 0)
			return -1;
		if ((r = json_object_get(v, "memory"))) {
			static const char *const k[] = {"limit", NULL};

			if (known_keys(r, "linux.resources.memory", k, err, len) < 0 ||
			    u64_of(json_object_get(r, "limit"), "linux.resources.memory.limit",
				   INT64_MAX, &x, err, len) < 0)
				return -1;
			s->mem_limit = (int64_t)x;
		}
		if ((r = json_object_get(v, "pids"))) {
			static const char *const k[] = {"limit", NULL};

			if (known_keys(r, "linux.resources.pids", k, err, len) < 0 ||
			    u64_of(json_object_get(r, "limit"), "linux.resources.pids.limit",
				   INT32_MAX, &x, err, len) < 0)
				return -1;
			s->pids_limit = (int64_t)x;
		}
		if ((r = json_object_get(v, "cpu"))) {
			static const char *const k[] = {"shares", "quota", "period", NULL};
			json_t *q;

			if (known_keys(r, "linux.resources.cpu", k, err, len) < 0)
				return -1;
			if ((q = json_object_get(r, "shares")) &&
			    u64_of(q, "linux.resources.cpu.shares", 262144, &s->cpu_shares, err,
				   len) < 0)
				return -1;
			/* OCI's minimum is 2; 0 is "none". The v2 weight takes shares - 2. */
			if (s->cpu_shares == 1)
				return rt_errf(err, len,
					       "linux.resources.cpu.shares is 1: must be 2..262144 "
					       "(or 0 for none)");
			if ((q = json_object_get(r, "quota"))) {
				if (u64_of(q, "linux.resources.cpu.quota", INT32_MAX, &x, err,
					   len) < 0)
					return -1;
				s->cpu_quota = (int64_t)x;
			}
			if ((q = json_object_get(r, "period")) &&
			    u64_of(q, "linux.resources.cpu.period", 1000000, &s->cpu_period, err,
				   len) < 0)
				return -1;
		}
		if ((r = json_object_get(v, "devices"))) {
			/* Device nodes are never created beyond the minimal set: deny-all only. */
			json_t *d = json_array_get(r, 0);

			if (json_array_size(r) != 1 || !json_is_false(json_object_get(d, "allow")))
				return rt_errf(err, len,
					       "linux.resources.devices: only [{\"allow\": false}] "
					       "is supported");
		}
	}
	if ((v = json_object_get(l, "maskedPaths")) &&
	    strings(v, "linux.maskedPaths", s->masked, RT_PATHS_MAX - 1, &s->n_masked, err, len) <
		0)
		return -1;
	if ((v = json_object_get(l, "readonlyPaths")) &&
	    strings(v, "linux.readonlyPaths", s->readonly, RT_PATHS_MAX - 1, &s->n_readonly, err,
		    len) < 0)
		return -1;
	return 0;
}

int rt_spec_parse(const char *json, size_t jlen, const char *bundle, struct rt_spec *s, char *err,
		  size_t len)
{
	static const char *const keys[] = {"ociVersion", "process", "root",	   "hostname",
					   "mounts",	 "linux",   "annotations", NULL};
	json_error_t je;
	json_t *j = json_loadb(json, jlen, JSON_REJECT_DUPLICATES, &je), *v;
	const char *ver, *rp;
	char path[PATH_MAX];
	int rc = -1;

	memset(s, 0, sizeof(*s));
	s->mem_limit = s->cpu_quota = s->pids_limit = -1;
	if (j == NULL)
		return rt_errf(err, len, "config.json: line %d: %s", je.line, je.text);
	if (known_keys(j, "", keys, err, len) < 0)
		goto out;
	ver = json_string_value(json_object_get(j, "ociVersion"));
	if (ver == NULL || strncmp(ver, "1.", 2) != 0 || ver[2] < '0' || ver[2] > '2') {
		rt_errf(err, len, "ociVersion: \"%s\": 1.0.x to 1.2.x are supported",
			ver ? ver : "");
		goto out;
	}
	if ((v = json_object_get(j, "process")) == NULL) {
		rt_errf(err, len, "process: required");
		goto out;
	}
	if (parse_process(v, s, err, len) < 0)
		goto out;
	v = json_object_get(j, "root");
	if (v) {
		static const char *const rkeys[] = {"path", "readonly", NULL};

		if (known_keys(v, "root", rkeys, err, len) < 0)
			goto out;
	}
	rp = json_string_value(json_object_get(v, "path"));
	if (rp == NULL || strstr(rp, "..")) {
		rt_errf(err, len, "root.path: required, without ..");
		goto out;
	}
	if (rp[0] == '/')
		snprintf(path, sizeof(path), "%s", rp);
	else
		snprintf(path, sizeof(path), "%s/%s", bundle, rp);
	s->root = strdup(path);
	s->root_readonly = json_is_true(json_object_get(v, "readonly"));
	if ((v = json_object_get(j, "hostname"))) {
		if (!json_is_string(v) || strlen(json_string_value(v)) > 64) {
			rt_errf(err, len, "hostname: a string of at most 64 characters");
			goto out;
		}
		s->hostname = strdup(json_string_value(v));
	}
	if ((v = json_object_get(j, "mounts")) && parse_mounts(v, s, err, len) < 0)
		goto out;
	if ((v = json_object_get(j, "linux")) == NULL) {
		rt_errf(err, len, "linux: required (namespaces)");
		goto out;
	}
	if (parse_linux(v, s, err, len) < 0)
		goto out;
	if (s->hostname && !(s->ns & RT_NS_UTS)) {
		rt_errf(err, len, "hostname: needs a \"uts\" namespace");
		goto out;
	}
	if ((v = json_object_get(j, "annotations"))) {
		if (!json_is_object(v)) {
			rt_errf(err, len, "annotations: must be an object");
			goto out;
		}
		s->annotations_json = json_dumps(v, JSON_COMPACT);
	}
	if (rt_net_parse(v, &s->net, err, len) < 0)
		goto out;
	if (s->net.set && !(s->ns & RT_NS_NET)) {
		rt_errf(err, len, "annotations.org.hypermesh.net.*: need a \"network\" namespace");
		goto out;
	}
	rc = 0;
out:
	json_decref(j);
	if (rc < 0)
		rt_spec_free(s);
	return rc;
}

int rt_spec_load(const char *bundle, struct rt_spec *s, char *err, size_t len)
{
	char path[PATH_MAX];
	char *buf = NULL;
	size_t n = 0;
	FILE *f;
	int rc;

	snprintf(path, sizeof(path), "%s/config.json", bundle);
	f = fopen(path, "r");
	if (f == NULL)
		return rt_errf(err, len, "%s: %s", path, strerror(errno));
	buf = malloc(1 << 20);
	if (buf)
		n = fread(buf, 1, 1 << 20, f);
	fclose(f);
	if (buf == NULL)
		return rt_errf(err, len, "out of memory");
	rc = rt_spec_parse(buf, n, bundle, s, err, len);
	free(buf);
	return rc;
}

void rt_spec_free(struct rt_spec *s)
{
	for (int i = 0; s->args[i]; i++)
		free(s->args[i]);
	for (int i = 0; s->env[i]; i++)
		free(s->env[i]);
	for (uint32_t i = 0; i < s->n_mounts; i++) {
		free(s->mounts[i].dest);
		free(s->mounts[i].type);
		free(s->mounts[i].source);
		free(s->mounts[i].data);
	}
	for (uint32_t i = 0; i < s->n_masked; i++)
		free(s->masked[i]);
	for (uint32_t i = 0; i < s->n_readonly; i++)
		free(s->readonly[i]);
	free(s->cwd);
	free(s->root);
	free(s->hostname);
	free(s->annotations_json);
	memset(s, 0, sizeof(*s));
}
