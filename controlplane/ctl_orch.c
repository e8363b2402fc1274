/* SPDX-License-Identifier: BSD-3-Clause */
/* ctl_orch — containers of /v1/containers, run with hmesh-run (see ctl_orch.h). */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ctl_node.h"
#include "ctl_orch.h"
#include "ctl_rest.h"
#include "hm_log.h"
#include "hm_time.h"

#define MOD	       "orch"
#define INST_MAX       256
#define TICK_MS	       200
#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 30000
#define HEALTHY_RUN_MS 30000 /* a run this long resets the backoff */
#define KILL_AFTER_MS  5000
#define PROBE_WAIT_MS  50
#define QUIC_GREASE_V  0x1a2a3a4au /* reserved for negotiation: forces a VN answer */

enum ist {
	I_PENDING,
	I_STARTING,
	I_RUNNING,
	I_DRAINING,
	I_STOPPING,
	I_BACKOFF,
	I_PREPARING, /* a warm container to create (hmesh-run create) */
	I_WARM,	     /* created, waiting on its exec FIFO: a start is one exec */
	I_TAKEN,     /* a warm one given a replica: start it */
	I_RELEASE,   /* not wanted (an extra warm one, or a placeholder a warm one replaced) */
};

static const char *const ist_name[] = {"pending", "starting", "running", "draining",
				       "stopping", "backoff", "preparing", "warm",
				       "taken", "released"};

#define IDX_WARM UINT32_MAX /* a warm container has no replica yet */

struct inst {
	bool used;
	uint32_t sid, idx;
	char id[64];
	char svc[CTL_NAME_MAX];
	char bundle[CTL_BUNDLE_MAX];
	uint16_t port;
	uint32_t drain_seconds;
	enum ist st;
	pid_t pid;
	uint32_t slot; /* address = subnet + 1 + slot; 0: none */
	int64_t backend;
	uint64_t started_ms, next_ms, backoff_ms, until_ms;
	uint32_t restarts;
	char error[200];
};

/* What the thread reads of the model, copied under the node lock. */
struct want {
	bool used;
	char svc[CTL_NAME_MAX];
	uint32_t replicas, drain_seconds, warm;
	char bundle[CTL_BUNDLE_MAX];
	uint16_t port;
};

struct ctl_orch {
	struct ctl_node *n;
	struct ctl_orch_cfg c;
	pthread_t thr;
	bool started;
	volatile bool stop;
	pthread_mutex_t lock; /* inst[] for readers of /v1/containers */
	struct inst inst[INST_MAX];
	struct want *want; /* max_services */
	uint8_t *slot_used;
	uint32_t n_slots;
	uint64_t seq; /* container ids: unique for the life of the state directory */
	char dir[PATH_MAX];
	int probe_fd;
	uint8_t *lower; /* per service: evaluations in a row that wanted fewer replicas */
	uint8_t *warm_extra; /* per service: warm containers the forecast asks for on top */
	uint64_t next_autoscale_ms;
};

static void seterr(struct inst *in, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void seterr(struct inst *in, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(in->error, sizeof(in->error), fmt, ap);
	va_end(ap);
}

/* @a/@b into @buf; false when it does not fit. */
static bool join(char *buf, size_t len, const char *a, const char *b)
{
	return (size_t)snprintf(buf, len, "%s/%s", a, b) < len;
}

int ctl_orch_parse_subnet(const char *s, struct ctl_orch_cfg *c)
{
	char ip[32], *slash, *end;
	struct in_addr a;
	long p;

	snprintf(ip, sizeof(ip), "%s", s);
	slash = strchr(ip, '/');
	if (slash == NULL)
		return -1;
	*slash = '\0';
	p = strtol(slash + 1, &end, 10);
	if (inet_pton(AF_INET, ip, &a) != 1 || *end || p < 8 || p > 29)
		return -1;
	c->subnet = ntohl(a.s_addr) & (uint32_t)(0xffffffffu << (32 - p));
	c->prefix = (uint8_t)p;
	return 0;
}

static void addr_of(const struct ctl_orch *o, uint32_t slot, char *buf, size_t len)
{
	struct in_addr a = {.s_addr = htonl(o->c.subnet + 1 + slot)};

	inet_ntop(AF_INET, &a, buf, (socklen_t)len);
}

/* ---- writes through the normal path (the cluster's log when there is one) --------- */

static int orch_write(struct ctl_orch *o, const char *method, const char *coll, const char *item,
		      json_t *body, json_t **out)
{
	struct ctl_node *n = o->n;
	int st;

	*out = NULL;
	if (n->cluster)
		return ctl_cluster_write(n->cluster, method, coll, item, 0, body, out);
	pthread_mutex_lock(&n->lock);
	st = ctl_write_apply(n, n->st_orch, method, coll, item, 0, body, true, out);
	pthread_mutex_unlock(&n->lock);
	return st;
}

static void backend_remove(struct ctl_orch *o, struct inst *in)
{
	char item[24];
	json_t *out;
	int st;

	if (in->backend < 0)
		return;
	snprintf(item, sizeof(item), "%" PRId64, in->backend);
	st = orch_write(o, "DELETE", "backends", item, NULL, &out);
	/* 404: gone already (the service was deleted, or an operator did it). */
	if (st != 204 && st != 404)
		hm_log(HM_LOG_WARN, MOD, "%s: removing backend %s: %d %s", in->id, item, st,
		       out ? json_string_value(
				 json_object_get(json_object_get(out, "error"), "message"))
			   : "");
	json_decref(out);
	in->backend = -1;
}

/*
 * The backend id a container in @slot registers with, which is also the
 * QUIC-LB server id its hmesh-stoq puts in the CIDs it issues
 * (HMESH_SERVER_ID; dataplane mfn_quic_lb routes by it): fixed by node and
 * slot, so it is known before the container starts, no two nodes' containers
 * share one, and ids taken from the top of the space stay clear of the ones
 * POST /v1/backends hands out from the bottom. -1 when node and slot do not
 * fit the id space (mfn_backends): the container then registers with any id
 * and gets no server id (logged once at start).
 */
static int64_t planned_id(const struct ctl_orch *o, uint32_t slot)
{
	/* Node n's slots are the n-th block of n_slots ids from the top, in slot order. */
	uint64_t top = (uint64_t)(o->n->cfg.node_id + 1) * o->n_slots;

	if (top > o->n->model.lim.max_backends)
		return -1;
	return (int64_t)(o->n->model.lim.max_backends - top + slot);
}

static int backend_add(struct ctl_orch *o, struct inst *in)
{
	char ip[INET_ADDRSTRLEN];
	json_t *body, *out = NULL;
	int64_t id = planned_id(o, in->slot);
	int st;

	addr_of(o, in->slot, ip, sizeof(ip));
	body = json_pack("{s:s, s:s, s:i, s:i, s:i}", "service", in->svc, "address", ip, "port",
			 in->port, "node", o->n->cfg.node_id, "weight", 100);
	if (body && id >= 0)
		json_object_set_new(body, "id", json_integer(id));
	st = orch_write(o, "POST", "backends", NULL, body, &out);
	json_decref(body);
	if (st == 201) {
		in->backend = json_integer_value(json_object_get(out, "id"));
	} else {
		seterr(in, "registering as a backend: %d %s", st,
		       out ? json_string_value(
				 json_object_get(json_object_get(out, "error"), "message"))
			   : "");
	}
	json_decref(out);
	return st == 201 ? 0 : -1;
}

static void backend_drain(struct ctl_orch *o, struct inst *in)
{
	char item[24];
	json_t *body = json_pack("{s:b}", "healthy", 0), *out;

	if (in->backend < 0)
		return;
	snprintf(item, sizeof(item), "%" PRId64, in->backend);
	orch_write(o, "PUT", "backends", item, body, &out);
	json_decref(body);
	json_decref(out);
}

/* ---- processes -------------------------------------------------------------------------- */

static int rm_tree(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	char p[PATH_MAX];

	if (d == NULL)
		return unlink(path);
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (join(p, sizeof(p), path, e->d_name))
			rm_tree(p);
	}
	closedir(d);
	return rmdir(path);
}

/*
 * Run hmesh-run with up to three arguments to completion. Returns its exit
 * status (or -1), with its standard output in @out (NUL-terminated) when
 * given.
 */
static int runtime_run(struct ctl_orch *o, char *out, size_t outlen, const char *a1,
		       const char *a2, const char *a3)
{
	int fds[2] = {-1, -1}, status;
	size_t got = 0;
	pid_t pid;

	if (out && pipe2(fds, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);

		dup2(null, 0);
		dup2(out ? fds[1] : null, 1);
		dup2(null, 2);
		execl(o->c.runtime, "hmesh-run", a1, a2, a3, (char *)NULL);
		_exit(127);
	}
	if (out) {
		ssize_t n;

		close(fds[1]);
		while (pid > 0 && got < outlen - 1 &&
		       (n = read(fds[0], out + got, outlen - 1 - got)) > 0)
			got += (size_t)n;
		close(fds[0]);
		out[got] = '\0';
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int runtime_call(struct ctl_orch *o, const char *a1, const char *a2, const char *a3)
{
	return runtime_run(o, NULL, 0, a1, a2, a3);
}

/* The pid of container @id (`hmesh-run state`), or -1. */
static pid_t runtime_pid(struct ctl_orch *o, const char *id)
{
	char buf[4096];
	pid_t cpid = -1;
	json_t *j;

	if (runtime_run(o, buf, sizeof(buf), "state", id, NULL) != 0)
		return -1;
	j = json_loads(buf, 0, NULL);
	if (json_is_integer(json_object_get(j, "pid")))
		cpid = (pid_t)json_integer_value(json_object_get(j, "pid"));
	json_decref(j);
	return cpid;
}

/*
 * The container's own bundle: the group's config.json with its rootfs by
 * absolute path (shared, so read-only), the network annotations and the
 * HMESH_* environment.
 */
static int make_bundle(struct ctl_orch *o, struct inst *in, const char *dir)
{
	char path[PATH_MAX], ip[INET_ADDRSTRLEN], gw[INET_ADDRSTRLEN], cidr[40], env[96];
	json_error_t je;
	json_t *spec, *root, *ann, *penv;
	const char *rp;
	int64_t sid;
	int rc = -1;

	if (!join(path, sizeof(path), in->bundle, "config.json")) {
		seterr(in, "bundle path too long");
		return -1;
	}
	spec = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
	if (spec == NULL) {
		seterr(in, "bundle %s: config.json: %s", in->bundle, je.text);
		return -1;
	}
	root = json_object_get(spec, "root");
	rp = json_string_value(json_object_get(root, "path"));
	penv = json_object_get(json_object_get(spec, "process"), "env");
	if (rp == NULL || (penv && !json_is_array(penv))) {
		seterr(in, "bundle %s: no root.path or a bad process.env", in->bundle);
		goto out;
	}
	if (rp[0] == '/' ? (size_t)snprintf(path, sizeof(path), "%s", rp) >= sizeof(path)
			 : !join(path, sizeof(path), in->bundle, rp)) {
		seterr(in, "bundle %s: root.path too long", in->bundle);
		goto out;
	}
	/*
	 * The image is shared by every replica, read-only: each container gets
	 * an overlay of its own over it (writes land in DIR/upper and go with
	 * the container), so one replica never sees another's files.
	 */
	{
		char upper[PATH_MAX], work[PATH_MAX], merged[PATH_MAX], opts[3 * PATH_MAX + 64];

		if (!join(upper, sizeof(upper), dir, "upper") || !join(work, sizeof(work), dir, "work") ||
		    !join(merged, sizeof(merged), dir, "rootfs") ||
		    (size_t)snprintf(opts, sizeof(opts), "lowerdir=%s,upperdir=%s,workdir=%s", path,
				     upper, work) >= sizeof(opts) ||
		    strpbrk(path, ",:") != NULL) {
			seterr(in, "bundle %s: its rootfs path cannot be an overlay's lower layer",
			       in->bundle);
			goto out;
		}
		if ((mkdir(upper, 0755) < 0 && errno != EEXIST) ||
		    (mkdir(work, 0700) < 0 && errno != EEXIST) ||
		    (mkdir(merged, 0755) < 0 && errno != EEXIST) ||
		    mount("overlay", merged, "overlay", MS_NOSUID | MS_NODEV, opts) < 0) {
			seterr(in, "overlay over %s: %s", path, strerror(errno));
			goto out;
		}
		json_object_set_new(spec, "root",
				    json_pack("{s:s, s:b}", "path", merged, "readonly", 0));
	}
	ann = json_object_get(spec, "annotations");
	if (!json_is_object(ann)) {
		ann = json_object();
		json_object_set_new(spec, "annotations", ann);
	}
	addr_of(o, in->slot, ip, sizeof(ip));
	addr_of(o, 0, gw, sizeof(gw));
	snprintf(cidr, sizeof(cidr), "%s/%u", ip, o->c.prefix);
	json_object_set_new(ann, "org.hypermesh.net.bridge", json_string(o->c.bridge));
	json_object_set_new(ann, "org.hypermesh.net.address", json_string(cidr));
	json_object_set_new(ann, "org.hypermesh.net.gateway", json_string(gw));
	if (penv == NULL) {
		penv = json_array();
		json_object_set_new(json_object_get(spec, "process"), "env", penv);
	}
	snprintf(env, sizeof(env), "HMESH_SERVICE=%s", in->svc);
	json_array_append_new(penv, json_string(env));
	snprintf(env, sizeof(env), "HMESH_ADDRESS=%s", ip);
	json_array_append_new(penv, json_string(env));
	snprintf(env, sizeof(env), "HMESH_PORT=%u", in->port);
	json_array_append_new(penv, json_string(env));
	sid = planned_id(o, in->slot);
	if (sid >= 0) {
		snprintf(env, sizeof(env), "HMESH_SERVER_ID=%" PRId64, sid);
		json_array_append_new(penv, json_string(env));
	}
	if (in->idx != IDX_WARM) { /* a warm container does not know which replica it will be */
		snprintf(env, sizeof(env), "HMESH_REPLICA=%u", in->idx);
		json_array_append_new(penv, json_string(env));
	}
	if (!join(path, sizeof(path), dir, "config.json")) {
		seterr(in, "state directory path too long");
		goto out;
	}
	if (json_dump_file(spec, path, JSON_INDENT(1)) < 0) {
		seterr(in, "%s: %s", path, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	json_decref(spec);
	return rc;
}

/*
 * Make container @in: its directory and bundle, then `hmesh-run run` (cold:
 * the process we watch is hmesh-run, which waits for the container) or
 * `hmesh-run create` (@warm: prepared up to the exec, waiting on its exec
 * FIFO; hmesh-run returns and the container, reparented to us (we are a
 * child subreaper), is the process we watch).
 */
static int launch(struct ctl_orch *o, struct inst *in, uint64_t now, bool warm)
{
	char dir[PATH_MAX], log[PATH_MAX + 8];
	pid_t pid;
	int status;

	/* The node id keeps names apart between nodes sharing a kernel (a mesh
	 * in namespaces): cgroups are named after containers. */
	if (warm)
		snprintf(in->id, sizeof(in->id), "hm-n%u-%u-w-%" PRIu64, o->n->cfg.node_id, in->sid,
			 ++o->seq);
	else
		snprintf(in->id, sizeof(in->id), "hm-n%u-%u-%u-%" PRIu64, o->n->cfg.node_id, in->sid,
			 in->idx, ++o->seq);
	if (!join(dir, sizeof(dir), o->dir, in->id) || !join(log, sizeof(log), dir, "log")) {
		seterr(in, "state directory path too long");
		return -1;
	}
	if (mkdir(dir, 0700) < 0) {
		seterr(in, "%s: %s", dir, strerror(errno));
		return -1;
	}
	if (make_bundle(o, in, dir) < 0)
		goto err;
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

		/* Async-signal-safe calls only between fork and exec (we have threads). */
		if (null < 0 || fd < 0 || dup2(null, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(126);
		execl(o->c.runtime, "hmesh-run", warm ? "create" : "run", in->id, "--bundle", dir,
		      (char *)NULL);
		_exit(127);
	}
	if (pid < 0) {
		seterr(in, "fork: %s", strerror(errno));
		goto err;
	}
	in->error[0] = '\0';
	if (warm) {
		if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
		    (pid = runtime_pid(o, in->id)) <= 0) {
			seterr(in, "hmesh-run create %s failed (see %s)", in->id, log);
			runtime_call(o, "delete", "--force", in->id);
			goto err;
		}
		in->pid = pid;
		in->st = I_WARM;
		hm_log(HM_LOG_INFO, MOD, "%s: %s warm container ready (pid %d)", in->id, in->svc,
		       (int)pid);
		return 0;
	}
	in->pid = pid;
	in->st = I_STARTING;
	in->started_ms = now;
	hm_log(HM_LOG_INFO, MOD, "%s: %s replica %u starting (pid %d)", in->id, in->svc, in->idx,
	       (int)pid);
	return 0;
err: {
	char merged[PATH_MAX];

	if (join(merged, sizeof(merged), dir, "rootfs"))
		umount2(merged, MNT_DETACH);
	rm_tree(dir);
	in->id[0] = '\0';
	return -1;
}
}

/* Has the container's hmesh-run exited? Returns true and describes it in @how. */
static bool reaped(struct inst *in, char *how, size_t len)
{
	int status;

	if (in->pid <= 0 || waitpid(in->pid, &status, WNOHANG) != in->pid)
		return false;
	if (WIFEXITED(status))
		snprintf(how, len, "exited with status %d", WEXITSTATUS(status));
	else
		snprintf(how, len, "killed by signal %d", WTERMSIG(status));
	in->pid = 0;
	return true;
}

/* Forget a stopped container: its state in hmesh-run and its bundle. */
static void cleanup_container(struct ctl_orch *o, struct inst *in)
{
	char dir[PATH_MAX];

	if (!in->id[0])
		return;
	runtime_call(o, "delete", "--force", in->id);
	if (join(dir, sizeof(dir), o->dir, in->id)) {
		char merged[PATH_MAX];

		/* The overlay first: removing through it would delete from the layers. */
		if (join(merged, sizeof(merged), dir, "rootfs"))
			umount2(merged, MNT_DETACH);
		rm_tree(dir);
	}
	in->id[0] = '\0';
}

/*
 * Is a QUIC server listening on @in's port? A long-header packet of a
 * reserved version must be answered with Version Negotiation (RFC 9000
 * §6.1) echoing our connection IDs.
 */
static bool probe(struct ctl_orch *o, struct inst *in)
{
	uint8_t pkt[1200] = {0}, rx[1500];
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(in->port)};
	struct pollfd pf = {.fd = o->probe_fd, .events = POLLIN};
	uint64_t deadline = hm_mono_ms() + PROBE_WAIT_MS;

	to.sin_addr.s_addr = htonl(o->c.subnet + 1 + in->slot);
	pkt[0] = 0xc0;
	pkt[1] = (uint8_t)(QUIC_GREASE_V >> 24);
	pkt[2] = (uint8_t)(QUIC_GREASE_V >> 16);
	pkt[3] = (uint8_t)(QUIC_GREASE_V >> 8);
	pkt[4] = (uint8_t)QUIC_GREASE_V;
	pkt[5] = 8; /* DCID */
	memcpy(pkt + 6, "hmprobeD", 8);
	pkt[14] = 8; /* SCID: the answer's DCID */
	memcpy(pkt + 15, in->id, 8 < strlen(in->id) ? 8 : strlen(in->id));
	while (recv(o->probe_fd, rx, sizeof(rx), MSG_DONTWAIT) > 0)
		; /* late answers to earlier probes */
	if (sendto(o->probe_fd, pkt, sizeof(pkt), 0, (struct sockaddr *)&to, sizeof(to)) < 0)
		return false;
	for (uint64_t t = hm_mono_ms(); t < deadline; t = hm_mono_ms()) {
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		ssize_t r;

		if (poll(&pf, 1, (int)(deadline - t)) <= 0)
			return false;
		r = recvfrom(o->probe_fd, rx, sizeof(rx), MSG_DONTWAIT, (struct sockaddr *)&from,
			     &fl);
		if (r >= 7 + 8 && (rx[0] & 0x80) && !rx[1] && !rx[2] && !rx[3] && !rx[4] &&
		    rx[5] == 8 && memcmp(rx + 6, pkt + 15, 8) == 0 &&
		    from.sin_addr.s_addr == to.sin_addr.s_addr && from.sin_port == to.sin_port)
			return true;
	}
	return false;
}

/* ---- reconciliation ---------------------------------------------------------------------- */

static bool local_replica(struct ctl_orch *o, uint32_t sid, uint32_t idx)
{
	uint32_t me, nm;

	if (o->n->cluster == NULL)
		return true;
	ctl_cluster_member(o->n->cluster, &me, &nm);
	return (sid + idx) % nm == me;
}

static struct inst *inst_new(struct ctl_orch *o, uint32_t sid, uint32_t idx, const struct want *w)
{
	uint32_t slot = 0;

	for (uint32_t s = 1; s < o->n_slots; s++)
		if (!o->slot_used[s]) {
			slot = s;
			break;
		}
	if (slot == 0)
		return NULL;
	for (int i = 0; i < INST_MAX; i++)
		if (!o->inst[i].used) {
			struct inst *in = &o->inst[i];

			memset(in, 0, sizeof(*in));
			in->used = true;
			in->sid = sid;
			in->idx = idx;
			in->slot = slot;
			in->backend = -1;
			in->backoff_ms = BACKOFF_MIN_MS;
			snprintf(in->svc, sizeof(in->svc), "%s", w->svc);
			snprintf(in->bundle, sizeof(in->bundle), "%s", w->bundle);
			in->port = w->port;
			in->drain_seconds = w->drain_seconds;
			o->slot_used[slot] = 1;
			return in;
		}
	return NULL;
}

static void inst_free(struct ctl_orch *o, struct inst *in)
{
	o->slot_used[in->slot] = 0;
	in->used = false;
}

/* Is @in what the model asks for? */
static bool wanted(struct ctl_orch *o, const struct inst *in)
{
	const struct want *w = &o->want[in->sid];

	return w->used && in->idx < w->replicas && local_replica(o, in->sid, in->idx) &&
	       w->port == in->port && strcmp(w->bundle, in->bundle) == 0 &&
	       strcmp(w->svc, in->svc) == 0;
}

static void failed(struct inst *in, uint64_t now, const char *what)
{
	if (what)
		seterr(in, "%s", what);
	if (now - in->started_ms >= HEALTHY_RUN_MS)
		in->backoff_ms = BACKOFF_MIN_MS;
	in->st = I_BACKOFF;
	in->next_ms = now + in->backoff_ms;
	in->backoff_ms = in->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : in->backoff_ms * 2;
}

/* Stop a container that is not running a process of ours yet (warm): kill and reap it. */
static void drop_container(struct ctl_orch *o, struct inst *in)
{
	if (in->pid > 0) {
		/* A container's init ignores SIGTERM before its exec: SIGKILL. */
		kill(in->pid, SIGKILL);
		waitpid(in->pid, NULL, 0);
		in->pid = 0;
	}
	cleanup_container(o, in);
}

static void step(struct ctl_orch *o, struct inst *in, uint64_t now)
{
	bool want = wanted(o, in);
	char how[64];

	switch (in->st) {
	case I_PREPARING:
		if (now >= in->next_ms && launch(o, in, now, true) < 0) {
			hm_log(HM_LOG_WARN, MOD, "%s: warm container: %s", in->svc, in->error);
			in->next_ms = now + in->backoff_ms;
			in->backoff_ms = in->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS
									     : in->backoff_ms * 2;
		}
		break;
	case I_WARM:
		if (reaped(in, how, sizeof(how))) {
			hm_log(HM_LOG_WARN, MOD, "%s: warm container %s; replaced", in->id, how);
			cleanup_container(o, in);
			inst_free(o, in);
		}
		break;
	case I_TAKEN:
		/* The warm container execs its process: one message to its exec FIFO. */
		if (runtime_call(o, "start", in->id, NULL) == 0) {
			in->st = I_STARTING;
			in->started_ms = now;
			hm_log(HM_LOG_INFO, MOD, "%s: %s replica %u started from warm (pid %d)", in->id,
			       in->svc, in->idx, (int)in->pid);
		} else {
			drop_container(o, in);
			failed(in, now, "hmesh-run start of a warm container failed");
		}
		break;
	case I_RELEASE:
		drop_container(o, in);
		inst_free(o, in);
		break;
	case I_PENDING:
	case I_BACKOFF:
		if (!want) {
			cleanup_container(o, in);
			inst_free(o, in);
		} else if (now >= in->next_ms) {
			cleanup_container(o, in);
			if (launch(o, in, now, false) < 0)
				failed(in, now, NULL);
		}
		break;
	case I_STARTING:
		if (reaped(in, how, sizeof(how))) {
			char msg[sizeof(in->error)];

			if ((size_t)snprintf(msg, sizeof(msg),
					     "%s before its port %u answered (see %s/%s/log)", how,
					     in->port, o->dir, in->id) >= sizeof(msg))
				msg[sizeof(msg) - 1] = '\0';
			hm_log(HM_LOG_WARN, MOD, "%s: %s", in->id, msg);
			in->restarts++;
			failed(in, now, msg);
		} else if (!want) {
			kill(in->pid, SIGTERM);
			in->st = I_STOPPING;
			in->until_ms = now + KILL_AFTER_MS;
		} else if (probe(o, in)) {
			if (backend_add(o, in) == 0) {
				in->st = I_RUNNING;
				in->error[0] = '\0';
				hm_log(HM_LOG_INFO, MOD,
				       "%s: answering on port %u: backend %" PRId64, in->id,
				       in->port, in->backend);
			}
		}
		break;
	case I_RUNNING:
		if (reaped(in, how, sizeof(how))) {
			hm_log(HM_LOG_WARN, MOD, "%s: %s; backend %" PRId64 " removed, restarting",
			       in->id, how, in->backend);
			backend_remove(o, in);
			in->restarts++;
			failed(in, now, how);
		} else if (!want) {
			/* Drain: new flows elsewhere, its flows stay (L1) until the stop. */
			backend_drain(o, in);
			in->st = I_DRAINING;
			in->until_ms = now + (uint64_t)in->drain_seconds * 1000;
			hm_log(HM_LOG_INFO, MOD, "%s: draining for %u s", in->id,
			       in->drain_seconds);
		}
		break;
	case I_DRAINING:
		if (reaped(in, how, sizeof(how)) || now >= in->until_ms) {
			if (in->pid > 0)
				kill(in->pid, SIGTERM);
			in->st = I_STOPPING;
			in->until_ms = now + KILL_AFTER_MS;
		}
		break;
	case I_STOPPING:
		if (in->pid > 0 && !reaped(in, how, sizeof(how))) {
			if (now >= in->until_ms)
				kill(in->pid, SIGKILL);
			break;
		}
		backend_remove(o, in);
		cleanup_container(o, in);
		hm_log(HM_LOG_INFO, MOD, "%s replica %u stopped", in->svc, in->idx);
		inst_free(o, in);
		break;
	}
}

/* Is warm container @in still what its group asks for (same image and port)? */
static bool warm_fits(const struct ctl_orch *o, const struct inst *in)
{
	const struct want *w = &o->want[in->sid];

	return w->used && w->port == in->port && strcmp(w->bundle, in->bundle) == 0 &&
	       strcmp(w->svc, in->svc) == 0;
}

/*
 * Under o->lock: a replica due to start takes a warm container of its group
 * (which then only has to exec), and each group's warm containers are kept
 * at its "warm" count (made in the background by the steps).
 */
static void warm_upkeep(struct ctl_orch *o, uint64_t now)
{
	const uint32_t n_svc = o->n->model.lim.max_services;

	for (int k = 0; k < INST_MAX; k++) {
		struct inst *p = &o->inst[k];

		if (!p->used || (p->st != I_PENDING && p->st != I_BACKOFF) || now < p->next_ms ||
		    !wanted(o, p))
			continue;
		for (int j = 0; j < INST_MAX; j++) {
			struct inst *w = &o->inst[j];

			if (!w->used || w->st != I_WARM || w->sid != p->sid || !warm_fits(o, w))
				continue;
			w->idx = p->idx;
			w->st = I_TAKEN;
			w->restarts = p->restarts;
			w->backoff_ms = p->backoff_ms;
			p->st = I_RELEASE; /* the placeholder goes; its step cleans up */
			break;
		}
	}
	for (uint32_t s = 0; s < n_svc; s++) {
		const struct want *w = &o->want[s];
		uint32_t have = 0, target = w->warm + o->warm_extra[s];

		for (int k = 0; k < INST_MAX; k++) {
			struct inst *in = &o->inst[k];

			if (!in->used || in->sid != s || (in->st != I_WARM && in->st != I_PREPARING))
				continue;
			if (!warm_fits(o, in) || have >= target)
				in->st = I_RELEASE;
			else
				have++;
		}
		for (; w->used && have < target; have++) {
			struct inst *in = inst_new(o, s, IDX_WARM, w);

			if (in == NULL)
				break;
			in->st = I_PREPARING;
		}
	}
}

static void reconcile(struct ctl_orch *o, uint64_t now)
{
	struct ctl_model *m = &o->n->model;

	pthread_mutex_lock(&o->n->lock);
	for (uint32_t s = 0; s < m->lim.max_services; s++) {
		struct want *w = &o->want[s];
		const struct ctl_group *g = &m->grp[s];

		w->used = g->used && m->svc[s].used;
		if (!w->used)
			continue;
		snprintf(w->svc, sizeof(w->svc), "%s", m->svc[s].name);
		w->replicas = g->replicas;
		w->drain_seconds = g->drain_seconds;
		w->warm = g->warm;
		snprintf(w->bundle, sizeof(w->bundle), "%s", g->bundle);
		w->port = g->port;
	}
	pthread_mutex_unlock(&o->n->lock);
	pthread_mutex_lock(&o->lock);
	/* Replicas wanted here without a live instance (a draining one does not count). */
	for (uint32_t s = 0; s < m->lim.max_services; s++) {
		const struct want *w = &o->want[s];

		for (uint32_t i = 0; w->used && i < w->replicas; i++) {
			bool have = false;

			if (!local_replica(o, s, i))
				continue;
			for (int k = 0; k < INST_MAX && !have; k++)
				have = o->inst[k].used && o->inst[k].sid == s &&
				       o->inst[k].idx == i && o->inst[k].st != I_DRAINING &&
				       o->inst[k].st != I_STOPPING && wanted(o, &o->inst[k]);
			if (!have && inst_new(o, s, i, w) == NULL)
				hm_log(
				    HM_LOG_WARN, MOD,
				    "%s replica %u: no room (%d instances, or the subnet is full)",
				    w->svc, i, INST_MAX);
		}
	}
	warm_upkeep(o, now);
	pthread_mutex_unlock(&o->lock);
	/* Steps write through the cluster and wait: not under our lock for long. */
	for (int k = 0; k < INST_MAX && !o->stop; k++) {
		struct inst copy;

		pthread_mutex_lock(&o->lock);
		if (!o->inst[k].used) {
			pthread_mutex_unlock(&o->lock);
			continue;
		}
		copy = o->inst[k];
		pthread_mutex_unlock(&o->lock);
		step(o, &copy, now);
		pthread_mutex_lock(&o->lock);
		o->inst[k] = copy;
		pthread_mutex_unlock(&o->lock);
	}
}

/* The largest forecast of new flows per second for service @sid; 0 if none yet. */
static int forecast(struct ctl_orch *o, uint32_t sid, double *out)
{
	struct hm_ctl_msg q = {.type = HM_CTL_PREDICT};
	char text[HM_CTL_TEXT_MAX + 1];
	json_t *j, *a, *v;
	size_t i;
	int rc, status = 0;

	*out = 0;
	q.u.service.id = sid;
	/* The dataplane down is no forecast (an error), not a forecast of nothing. */
	rc = ctl_dp_call(o->n->cfg.dataplane_socket, &q, &status, text, sizeof(text));
	if (rc < 0)
		return rc;
	if (status == -ENOENT)
		return 0; /* no traffic seen yet: nothing to serve */
	if (status < 0)
		return status;
	j = json_loads(text, 0, NULL);
	a = json_object_get(j, "flows_per_s");
	if (!json_is_array(a)) {
		json_decref(j);
		return -EBADMSG;
	}
	json_array_foreach(a, i, v) if (json_number_value(v) > *out) *out = json_number_value(v);
	json_decref(j);
	return 0;
}

static void autoscale(struct ctl_orch *o)
{
	struct ctl_node *n = o->n;
	struct ctl_model *m = &n->model;

	if (!n->cfg.dataplane_socket[0] || (n->cluster && !ctl_cluster_is_primary(n->cluster)))
		return; /* no forecasts here, or another member decides */
	for (uint32_t s = 0; s < m->lim.max_services && !o->stop; s++) {
		char name[CTL_NAME_MAX];
		uint32_t cur, fpr, mn, mx, want;
		double f;
		json_t *body, *out = NULL;
		int rc, st;

		pthread_mutex_lock(&n->lock);
		fpr = m->grp[s].used ? m->grp[s].flows_per_replica : 0;
		cur = m->grp[s].replicas;
		mn = m->grp[s].min_replicas;
		mx = m->grp[s].max_replicas;
		snprintf(name, sizeof(name), "%s", m->svc[s].name);
		pthread_mutex_unlock(&n->lock);
		if (fpr == 0)
			continue;
		rc = forecast(o, s, &f);
		if (rc < 0) {
			hm_log(HM_LOG_WARN, MOD, "%s: no forecast from the dataplane: %s", name,
			       strerror(-rc));
			continue;
		}
		want = (uint32_t)((f + fpr - 1e-9) / fpr);
		want = want < mn ? mn : want > mx ? mx : want;
		{
			/*
			 * Warm containers follow the forecast too: a quarter of the
			 * replicas it asks for (at least one while there is load), so
			 * a surge or a crash starts with an exec.
			 */
			uint32_t extra = f > 0 ? (uint32_t)((f * 0.25 + fpr - 1e-9) / fpr) : 0;

			extra = extra > CTL_WARM_MAX ? CTL_WARM_MAX : extra;
			pthread_mutex_lock(&o->lock);
			o->warm_extra[s] = (uint8_t)extra;
			pthread_mutex_unlock(&o->lock);
		}
		if (want == cur || (want < cur && ++o->lower[s] < 3)) {
			if (want >= cur)
				o->lower[s] = 0;
			continue;
		}
		o->lower[s] = 0;
		body = json_pack("{s:i}", "replicas", (int)want);
		st = orch_write(o, "PUT", "containers", name, body, &out);
		json_decref(body);
		json_decref(out);
		if (st == 200) {
			ctl_stat_add(n->st_orch, CTL_S_AUTOSCALE, 1);
			hm_log(HM_LOG_INFO, MOD,
			       "%s: forecast %.1f new flows/s at %u per replica: %u replicas (were "
			       "%u)",
			       name, f, fpr, want, cur);
		} else {
			hm_log(HM_LOG_WARN, MOD, "%s: resizing to %u replicas: %d", name, want, st);
		}
	}
}

static void *orch_main(void *arg)
{
	struct ctl_orch *o = arg;

	while (!o->stop) {
		struct timespec ts = {.tv_sec = 0, .tv_nsec = TICK_MS * 1000000L};
		uint64_t now = hm_mono_ms();

		reconcile(o, now);
		if (now >= o->next_autoscale_ms) {
			autoscale(o);
			o->next_autoscale_ms = now + o->c.autoscale_ms;
		}
		nanosleep(&ts, NULL);
	}
	return NULL;
}

/* Backends of this node inside the container subnet: left by an earlier run. */
static void remove_stale(struct ctl_orch *o)
{
	struct ctl_model *m = &o->n->model;
	int64_t *ids = calloc(m->lim.max_backends, sizeof(*ids));
	uint32_t n = 0;

	if (ids == NULL)
		return;
	pthread_mutex_lock(&o->n->lock);
	for (uint32_t i = 0; i < m->lim.max_backends; i++) {
		const struct ctl_backend *b = &m->be[i];
		uint32_t a = (uint32_t)b->addr[0] << 24 | (uint32_t)b->addr[1] << 16 |
			     (uint32_t)b->addr[2] << 8 | b->addr[3];

		if (b->used && b->family == 4 && b->node == o->n->cfg.node_id &&
		    (a & (uint32_t)(0xffffffffu << (32 - o->c.prefix))) == o->c.subnet)
			ids[n++] = i;
	}
	pthread_mutex_unlock(&o->n->lock);
	for (uint32_t k = 0; k < n; k++) {
		struct inst tmp = {.backend = ids[k]};

		snprintf(tmp.id, sizeof(tmp.id), "stale backend %" PRId64, ids[k]);
		backend_remove(o, &tmp);
	}
	if (n)
		hm_log(HM_LOG_INFO, MOD, "removed %u backends left by an earlier run", n);
	free(ids);
}

/* Containers left by an earlier run (killed controld): their bundles name them. */
static void remove_leftovers(struct ctl_orch *o)
{
	DIR *d = opendir(o->dir);
	struct dirent *e;

	if (d == NULL)
		return;
	while ((e = readdir(d))) {
		struct inst tmp = {0};

		if (strncmp(e->d_name, "hm-", 3) != 0 ||
		    (size_t)snprintf(tmp.id, sizeof(tmp.id), "%s", e->d_name) >= sizeof(tmp.id))
			continue;
		hm_log(HM_LOG_INFO, MOD, "%s: left by an earlier run: deleting", tmp.id);
		cleanup_container(o, &tmp);
	}
	closedir(d);
}

/*
 * Another interface with an address in the container subnet would take
 * the containers' traffic (its route comes first): a leftover bridge, or a
 * subnet already in use. Refuse rather than run containers nobody reaches.
 */
static int subnet_free(const struct ctl_orch_cfg *c)
{
	struct ifaddrs *ifa, *i;
	uint32_t mask = (uint32_t)(0xffffffffu << (32 - c->prefix));
	int rc = 0;

	if (getifaddrs(&ifa) < 0)
		return 0; /* cannot tell: hmesh-run will say what fails */
	for (i = ifa; i && rc == 0; i = i->ifa_next) {
		uint32_t a;

		if (i->ifa_addr == NULL || i->ifa_addr->sa_family != AF_INET ||
		    strcmp(i->ifa_name, c->bridge) == 0)
			continue;
		a = ntohl(((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr);
		if ((a & mask) == c->subnet) {
			char ip[INET_ADDRSTRLEN], net[INET_ADDRSTRLEN];
			struct in_addr na = {.s_addr = htonl(c->subnet)};

			inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, ip,
				  sizeof(ip));
			inet_ntop(AF_INET, &na, net, sizeof(net));
			hm_log(HM_LOG_ERR, MOD,
			       "--container-subnet %s/%u: interface %s has %s in it already (a "
			       "leftover bridge? give another subnet, or remove it)",
			       net, c->prefix, i->ifa_name, ip);
			rc = -EADDRINUSE;
		}
	}
	freeifaddrs(ifa);
	return rc;
}

int ctl_orch_start(struct ctl_node *n, const struct ctl_orch_cfg *c, struct ctl_orch **out)
{
	struct ctl_orch *o = calloc(1, sizeof(*o));
	struct sockaddr_in any = {.sin_family = AF_INET};
	int rc;

	if (o == NULL)
		return -ENOMEM;
	o->n = n;
	o->c = *c;
	o->probe_fd = -1;
	pthread_mutex_init(&o->lock, NULL);
	o->n_slots = (1u << (32 - c->prefix)) - 2; /* not the network, gateway or broadcast */
	if (o->n_slots > INST_MAX + 1)
		o->n_slots = INST_MAX + 1;
	if ((uint64_t)(n->cfg.node_id + 1) * o->n_slots > n->model.lim.max_backends)
		hm_log(HM_LOG_WARN, MOD,
		       "node %u with %u container slots: some slots' backend ids do not fit "
		       "mfn_backends %u, and their containers get no QUIC-LB server id "
		       "(HMESH_SERVER_ID); raise --mfn-backends to %u",
		       n->cfg.node_id, o->n_slots, n->model.lim.max_backends,
		       (n->cfg.node_id + 1) * o->n_slots);
	o->slot_used = calloc(o->n_slots, 1);
	o->want = calloc(n->model.lim.max_services, sizeof(*o->want));
	o->lower = calloc(n->model.lim.max_services, 1);
	o->warm_extra = calloc(n->model.lim.max_services, 1);
	if (o->slot_used == NULL || o->want == NULL || o->lower == NULL || o->warm_extra == NULL) {
		rc = -ENOMEM;
		goto err;
	}
	rc = subnet_free(c);
	if (rc < 0)
		goto err;
	if (access(c->runtime, X_OK) < 0) {
		rc = -errno;
		hm_log(HM_LOG_ERR, MOD, "--runtime %s: %s", c->runtime, strerror(errno));
		goto err;
	}
	snprintf(o->dir, sizeof(o->dir), "%s/containers", n->cfg.state_dir);
	if (mkdir(n->cfg.state_dir, 0700) < 0 && errno != EEXIST) {
		rc = -errno;
		goto err;
	}
	if (mkdir(o->dir, 0700) < 0 && errno != EEXIST) {
		rc = -errno;
		hm_log(HM_LOG_ERR, MOD, "%s: %s", o->dir, strerror(errno));
		goto err;
	}
	o->probe_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (o->probe_fd < 0 || bind(o->probe_fd, (struct sockaddr *)&any, sizeof(any)) < 0) {
		rc = -errno;
		goto err;
	}
	o->seq = (uint64_t)time(NULL); /* ids differ from any earlier run's */
	/* Warm containers outlive the hmesh-run create that made them: we adopt and reap them. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
		rc = -errno;
		hm_log(HM_LOG_ERR, MOD, "becoming a child subreaper: %s", strerror(errno));
		goto err;
	}
	remove_leftovers(o);
	remove_stale(o);
	rc = -pthread_create(&o->thr, NULL, orch_main, o);
	if (rc < 0)
		goto err;
	o->started = true;
	*out = o;
	return 0;
err:
	ctl_orch_stop(o);
	return rc;
}

void ctl_orch_stop(struct ctl_orch *o)
{
	uint64_t t0;
	bool left;

	if (o == NULL)
		return;
	if (o->started) {
		o->stop = true;
		pthread_join(o->thr, NULL);
	}
	for (int k = 0; k < INST_MAX; k++)
		if (o->inst[k].used && o->inst[k].pid > 0)
			/* A warm container's init ignores SIGTERM before its exec. */
			kill(o->inst[k].pid, o->inst[k].st == I_WARM ? SIGKILL : SIGTERM);
	t0 = hm_mono_ms();
	do {
		struct timespec ts = {.tv_sec = 0, .tv_nsec = 20000000L};
		char how[64];

		left = false;
		for (int k = 0; k < INST_MAX; k++) {
			struct inst *in = &o->inst[k];

			if (!in->used || in->pid <= 0 || reaped(in, how, sizeof(how)))
				continue;
			if (hm_mono_ms() - t0 >= KILL_AFTER_MS)
				kill(in->pid, SIGKILL);
			left = true;
		}
		if (left)
			nanosleep(&ts, NULL);
	} while (left);
	for (int k = 0; k < INST_MAX; k++)
		if (o->inst[k].used) {
			backend_remove(o, &o->inst[k]);
			cleanup_container(o, &o->inst[k]);
		}
	if (o->probe_fd >= 0)
		close(o->probe_fd);
	pthread_mutex_destroy(&o->lock);
	free(o->slot_used);
	free(o->want);
	free(o->lower);
	free(o->warm_extra);
	free(o);
}

json_t *ctl_orch_instances(struct ctl_orch *o, uint32_t sid)
{
	json_t *a = json_array();
	uint64_t now = hm_mono_ms();

	if (o == NULL)
		return a;
	pthread_mutex_lock(&o->lock);
	for (int k = 0; k < INST_MAX; k++) {
		const struct inst *in = &o->inst[k];
		char ip[INET_ADDRSTRLEN];

		if (!in->used || in->sid != sid)
			continue;
		addr_of(o, in->slot, ip, sizeof(ip));
		json_array_append_new(
		    a,
		    json_pack("{s:s, s:i, s:s, s:s, s:i, s:i, s:I, s:i, s:I, s:s}", "id", in->id,
			      "replica", (int)in->idx, "state", ist_name[in->st], "address", ip,
			      "node", (int)o->n->cfg.node_id, "pid", (int)in->pid, "backend",
			      (json_int_t)in->backend, "restarts", (int)in->restarts, "uptime_ms",
			      (json_int_t)(in->st == I_RUNNING ? now - in->started_ms : 0), "error",
			      in->error));
	}
	pthread_mutex_unlock(&o->lock);
	return a;
}
