/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hmesh-run — OCI runtime commands plus warm pools:
 *   create ID --bundle DIR | start ID | run ID --bundle DIR | state ID |
 *   kill ID [SIGNAL] | delete [--force] ID | list |
 *   pool --bundle DIR --socket PATH [--size N] | pool-exec --socket PATH [--env K=V]... [--
 * ARGS...]
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stddef.h>
#include <time.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hm_stats.h"
#include "rt_cgroup.h"
#include "rt_container.h"

#define POOL_MAX 64

/* The pool's counters in its stats segment (one writer: the pool's thread). */
#define POOL_STATS(X)                                                                              \
	X(STARTS, pool_starts, HM_STATS_COUNTER, "containers handed a process from the warm pool") \
	X(EXITS, pool_exits, HM_STATS_COUNTER, "pool containers whose process ended")              \
	X(PREPARED, pool_prepared, HM_STATS_COUNTER,                                               \
	  "warm containers prepared (refills included)")                                           \
	X(FAILED, pool_prepare_failed, HM_STATS_COUNTER, "preparations that failed")               \
	X(BUSY, pool_busy, HM_STATS_COUNTER, "requests refused: no warm container ready")          \
	X(WARM, pool_warm, HM_STATS_GAUGE, "warm containers ready now")

enum pool_stat {
#define P_X(e, n, t, d) P_##e,
	POOL_STATS(P_X)
#undef P_X
	    P__COUNT
};

struct pool_stats {
	uint64_t c[P__COUNT];
	uint64_t prepare_hist[HM_STATS_HIST_WORDS]; /* ns to prepare one warm container */
	uint64_t handout_hist[HM_STATS_HIST_WORDS]; /* ns from request to release */
} __attribute__((aligned(64)));

static struct pool_stats *pst;

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static struct hm_stats *pool_stats_open(const char *name)
{
	static const struct {
		const char *n, *d;
		enum hm_stats_type t;
	} def[] = {
#define P_X(e, nm, t, d) [P_##e] = {#nm, d, t},
	    POOL_STATS(P_X)
#undef P_X
	};
	struct hm_stats *s = hm_stats_create(name, 1, sizeof(struct pool_stats), P__COUNT + 2);
	int rc = 0;

	if (s == NULL) {
		fprintf(stderr, "hmesh-run pool: --stats-segment %s: %s\n", name, strerror(errno));
		return NULL;
	}
	for (int i = 0; i < P__COUNT && rc >= 0; i++)
		rc = hm_stats_add(s, def[i].t, def[i].n, NULL, def[i].d, 0, 0,
				  (uint32_t)(offsetof(struct pool_stats, c[i]) / 8));
	if (rc >= 0)
		rc = hm_stats_add(
		    s, HM_STATS_HISTOGRAM, "container_prepare_seconds", NULL,
		    "namespaces, cgroup, mounts, pivot_root, seccomp of one warm container", 1e-9,
		    0, (uint32_t)(offsetof(struct pool_stats, prepare_hist) / 8));
	if (rc >= 0)
		rc = hm_stats_add(s, HM_STATS_HISTOGRAM, "container_start_seconds", NULL,
				  "warm start: request received to process released", 1e-9, 0,
				  (uint32_t)(offsetof(struct pool_stats, handout_hist) / 8));
	if (rc < 0) {
		hm_stats_destroy(s);
		return NULL;
	}
	pst = (struct pool_stats *)hm_stats_block(s, 0);
	return s;
}

static void pstat(enum pool_stat k, int64_t v)
{
	if (pst)
		hm_stats_set(&pst->c[k], pst->c[k] + (uint64_t)v);
}

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: hmesh-run COMMAND ...\n\n"
	    "  create ID --bundle DIR   prepare a container; it waits for start\n"
	    "  start ID                 run the created container's process\n"
	    "  run ID --bundle DIR      create, start, wait; exit with the process's status\n"
	    "  state ID                 the OCI state JSON\n"
	    "  kill ID [SIGNAL]         signal the container (default TERM; name or number)\n"
	    "  delete [--force] ID      remove a stopped container (--force kills it first)\n"
	    "  list                     the containers and their status\n"
	    "  pool --bundle DIR --socket PATH [--size N] [--stats-segment NAME|off]\n"
	    "                           keep N (default 4) containers prepared from DIR and\n"
	    "                           start one per request on PATH; counters in\n"
	    "                           /dev/shm/hmesh-NAME (default runtime)\n"
	    "  pool-exec --socket PATH [--env K=V]... [-- ARGS...]\n"
	    "                           start a process in a warm container (ARGS/env default\n"
	    "                           to the bundle's) with this terminal's stdio; exit with\n"
	    "                           its status\n\n"
	    "State: $HMESH_RUN_ROOT (default %s). cgroups: %s.\n",
	    RT_STATE_ROOT, rt_cgroup_detect()->name);
}

static int parse_signal(const char *s)
{
	static const struct {
		const char *n;
		int v;
	} sigs[] = {{"TERM", SIGTERM}, {"KILL", SIGKILL}, {"INT", SIGINT},
		    {"HUP", SIGHUP},   {"USR1", SIGUSR1}, {"USR2", SIGUSR2},
		    {"QUIT", SIGQUIT}, {"STOP", SIGSTOP}, {"CONT", SIGCONT}};
	char *end;
	long v;

	if (strncmp(s, "SIG", 3) == 0)
		s += 3;
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (strcmp(s, sigs[i].n) == 0)
			return sigs[i].v;
	v = strtol(s, &end, 10);
	return *end == '\0' && v > 0 && v < NSIG ? (int)v : -1;
}

static const char *bundle_arg(int argc, char **argv, const char **id)
{
	const char *bundle = NULL;

	*id = NULL;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--bundle") == 0 && i + 1 < argc)
			bundle = argv[++i];
		else if (strncmp(argv[i], "--bundle=", 9) == 0)
			bundle = argv[i] + 9;
		else if (argv[i][0] != '-' && *id == NULL)
			*id = argv[i];
		else
			return NULL;
	}
	return bundle;
}

static volatile pid_t run_pid;

static void forward(int sig)
{
	if (run_pid > 0)
		kill(run_pid, sig);
}

static int cmd_run(const char *id, const char *bundle)
{
	struct sigaction sa = {.sa_handler = forward};
	char err[512];
	int st;
	pid_t pid = rt_create(id, bundle, err, sizeof(err));

	if (pid < 0) {
		fprintf(stderr, "hmesh-run: %s\n", err);
		return 125;
	}
	run_pid = pid;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	if (rt_start(id, err, sizeof(err)) < 0) {
		fprintf(stderr, "hmesh-run: %s\n", err);
		rt_delete(id, true, err, sizeof(err));
		return 125;
	}
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (rt_delete(id, true, err, sizeof(err)) < 0)
		fprintf(stderr, "hmesh-run: %s\n", err);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int cmd_list(void)
{
	DIR *d = opendir(rt_state_root());
	struct dirent *e;

	printf("%-24s %-8s %-8s %s\n", "ID", "PID", "STATUS", "BUNDLE");
	if (d == NULL)
		return 0;
	while ((e = readdir(d))) {
		char buf[4096], err[256];

		if (e->d_name[0] == '.' ||
		    rt_state(e->d_name, buf, sizeof(buf), err, sizeof(err)) < 0)
			continue;
		/* Small enough to pick apart without a second parse path. */
		char *pid = strstr(buf, "\"pid\": "), *st = strstr(buf, "\"status\": \""),
		     *bu = strstr(buf, "\"bundle\": \"");

		printf("%-24s %-8d %-8.*s %.*s\n", e->d_name, pid ? atoi(pid + 7) : 0,
		       st ? (int)strcspn(st + 11, "\"") : 0, st ? st + 11 : "",
		       bu ? (int)strcspn(bu + 11, "\"") : 0, bu ? bu + 11 : "");
	}
	closedir(d);
	return 0;
}

/* ---- pool ------------------------------------------------------------------------- */

struct member {
	pid_t pid;  /* 0: empty */
	bool ready; /* set up and waiting; false while it sets itself up */
	int sock;   /* to the waiting container (while preparing: its "ready" comes here) */
	int client; /* who it runs for, -1 while warm */
	char cg[RT_ID_MAX];
	uint64_t t0; /* when its preparation started */
};

/* @m is set up and waits for a request: count it warm, time its preparation. */
static void mark_ready(struct member *m)
{
	m->ready = true;
	pstat(P_PREPARED, 1);
	pstat(P_WARM, 1);
	if (pst)
		hm_stats_hist_add(pst->prepare_hist, mono_ns() - m->t0);
}

/*
 * Start preparing a warm container in @m. With @wait, until it is ready;
 * otherwise the pool's loop hears its "ready" on m->sock, so requests are
 * served while it sets itself up (a refill no longer delays a handout).
 */
static int pool_fill(struct member *m, const struct rt_spec *s, unsigned int *serial, bool wait)
{
	char err[512];

	m->t0 = mono_ns();
	snprintf(m->cg, sizeof(m->cg), "pool-%d-%u", (int)getpid(), (*serial)++);
	m->client = -1;
	m->ready = false;
	m->pid = rt_pool_prepare_start(s, m->cg, &m->sock, err, sizeof(err));
	if (m->pid < 0 ||
	    (wait && rt_pool_prepare_finish(m->pid, m->sock, m->cg, err, sizeof(err)) < 0)) {
		fprintf(stderr, "hmesh-run pool: preparing a container: %s\n", err);
		pstat(P_FAILED, 1);
		m->pid = 0;
		return -1;
	}
	if (wait)
		mark_ready(m);
	return 0;
}

/* A preparing member's socket spoke: it is ready, or it failed (reaped). */
static int pool_ready(struct member *m)
{
	char err[512];

	if (rt_pool_prepare_finish(m->pid, m->sock, m->cg, err, sizeof(err)) < 0) {
		fprintf(stderr, "hmesh-run pool: preparing a container: %s\n", err);
		pstat(P_FAILED, 1);
		m->pid = 0;
		return -1;
	}
	mark_ready(m);
	return 0;
}

static void reply(int fd, const char *fmt, long v)
{
	char msg[64];
	int n = snprintf(msg, sizeof(msg), fmt, v);

	(void)!send(fd, msg, (size_t)n, MSG_NOSIGNAL);
}

/* A request that came while no container was ready (one is being prepared). */
struct waiting {
	int c;	    /* the requester's connection */
	int fds[3]; /* its stdio */
	char *buf;  /* its request, already in the release format */
	size_t n;
	uint64_t t_req;
};
#define QUEUE_WAIT_NS 5000000000ull /* then EBUSY: preparation keeps failing */
#define POOL_QUIET_NS 2000000ull     /* see the pool's loop */

/*
 * Cgroups of containers that ended, removed when the pool has nothing else
 * to do: rmdir of a v1 memory cgroup can take milliseconds, which a
 * request arriving meanwhile would wait for.
 */
struct retired {
	char cg[2 * POOL_MAX][RT_ID_MAX];
	unsigned int n;
};

static void retire(struct retired *r, const char *cg)
{
	if (r->n == sizeof(r->cg) / sizeof(r->cg[0])) { /* full: remove the oldest now */
		rt_cgroup_detect()->destroy(r->cg[0]);
		memmove(r->cg[0], r->cg[1], --r->n * sizeof(r->cg[0]));
	}
	snprintf(r->cg[r->n++], sizeof(r->cg[0]), "%s", cg);
}

/* Remove one retired cgroup (the newest); returns whether one was left to remove. */
static bool retire_one(struct retired *r)
{
	if (r->n == 0)
		return false;
	rt_cgroup_detect()->destroy(r->cg[--r->n]);
	return true;
}

/*
 * When the pool may start a refill: after POOL_QUIET_NS without a request
 * or an exit (a clone or mkdir in its loop delays a request that arrives
 * meanwhile), at once when fewer than half its containers are warm; never
 * before @retry_at (a failing spec).
 */
static uint64_t refill_at(const struct member *mem, unsigned int size, uint64_t busy_at,
			  uint64_t retry_at)
{
	unsigned int warm = 0;
	uint64_t at;

	for (unsigned int i = 0; i < size; i++)
		warm += mem[i].pid > 0 && mem[i].ready && mem[i].client < 0;
	at = warm * 2 >= size ? busy_at + POOL_QUIET_NS : 0;
	return at > retry_at ? at : retry_at;
}

/* Whether a member is, or will be, free for a request: preparing or empty. */
static bool pool_idle(const struct member *mem, unsigned int size)
{
	for (unsigned int i = 0; i < size; i++)
		if (mem[i].pid == 0 || !mem[i].ready)
			return true;
	return false;
}

/* Hand request @buf (@n bytes, stdio @fds, from connection @c) to ready member @m. */
static void handout(struct member *m, int c, char *buf, size_t n, const int fds[3],
		    uint64_t t_req)
{
	/* The request is already in the release format: forward it. */
	char cb2[CMSG_SPACE(3 * sizeof(int))];
	struct iovec iov2 = {.iov_base = buf, .iov_len = n};
	struct msghdr m2 = {
	    .msg_iov = &iov2, .msg_iovlen = 1, .msg_control = cb2, .msg_controllen = sizeof(cb2)};
	struct cmsghdr *c2 = CMSG_FIRSTHDR(&m2);

	c2->cmsg_level = SOL_SOCKET;
	c2->cmsg_type = SCM_RIGHTS;
	c2->cmsg_len = CMSG_LEN(3 * sizeof(int));
	memcpy(CMSG_DATA(c2), fds, 3 * sizeof(int));
	if (sendmsg(m->sock, &m2, MSG_NOSIGNAL) < 0) {
		reply(c, "error %ld", errno);
		close(c);
	} else {
		m->client = c;
		reply(c, "pid %ld", m->pid);
		pstat(P_STARTS, 1);
		pstat(P_WARM, -1);
		if (pst)
			hm_stats_hist_add(pst->handout_hist, mono_ns() - t_req);
	}
	for (int k = 0; k < 3; k++)
		close(fds[k]);
}

static int cmd_pool(const char *bundle, const char *path, unsigned int size, const char *segname)
{
	struct hm_stats *seg = NULL;
	struct member mem[POOL_MAX];
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct rt_spec s;
	char err[512], abs[PATH_MAX];
	unsigned int serial = 0;
	uint64_t retry_at = 0; /* no refill before (after a failure) */
	uint64_t busy_at = 0;  /* last request or exit */
	struct waiting q[POOL_MAX]; /* requests waiting for a container being prepared */
	unsigned int nq = 0;
	struct retired ret = {.n = 0};
	sigset_t ss;
	int lfd, sfd, rc = 1;

	if (size == 0 || size > POOL_MAX) {
		fprintf(stderr, "hmesh-run pool: --size %u: must be 1..%d\n", size, POOL_MAX);
		return 2;
	}
	if (strcmp(segname, "off") != 0 && (seg = pool_stats_open(segname)) == NULL)
		return 1;
	if (realpath(bundle, abs) == NULL || rt_spec_load(abs, &s, err, sizeof(err)) < 0) {
		fprintf(stderr, "hmesh-run pool: --bundle %s: %s\n", bundle,
			errno && !err[0] ? strerror(errno) : err);
		return 1;
	}
	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "hmesh-run pool: --socket %s: too long\n", path);
		return 2;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	unlink(path);
	lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 64) < 0) {
		fprintf(stderr, "hmesh-run pool: --socket %s: %s\n", path, strerror(errno));
		return 1;
	}
	sigemptyset(&ss);
	sigaddset(&ss, SIGCHLD);
	sigaddset(&ss, SIGTERM);
	sigaddset(&ss, SIGINT);
	sigprocmask(SIG_BLOCK, &ss, NULL);
	sfd = signalfd(-1, &ss, SFD_CLOEXEC);
	for (unsigned int i = 0; i < size; i++)
		mem[i].pid = 0;
	for (unsigned int i = 0; i < size; i++)
		if (pool_fill(&mem[i], &s, &serial, true) < 0)
			goto out;
	printf("hmesh-run pool: %u warm containers from %s on %s\n", size, abs, path);
	fflush(stdout);
	for (;;) {
		struct pollfd p[2 + POOL_MAX] = {{.fd = lfd, .events = POLLIN},
						 {.fd = sfd, .events = POLLIN}};
		unsigned int np = 2, who[POOL_MAX];
		uint64_t now = mono_ns(), wake = UINT64_MAX;
		uint64_t fill_at = refill_at(mem, size, busy_at, retry_at);
		int timeout = -1, nready;

		for (unsigned int i = 0; i < size; i++) {
			if (mem[i].pid > 0 && !mem[i].ready) {
				who[np - 2] = i;
				p[np++] = (struct pollfd){.fd = mem[i].sock, .events = POLLIN};
			}
		}
		/* Refills and cgroup removals wait for a quiet pool (refill_at). */
		for (unsigned int i = 0; i < size; i++)
			if (mem[i].pid == 0 && fill_at < wake)
				wake = fill_at;
		if (ret.n > 0 && busy_at + POOL_QUIET_NS < wake)
			wake = busy_at + POOL_QUIET_NS;
		if (wake != UINT64_MAX)
			timeout = wake <= now ? 0 : (int)((wake - now + 999999) / 1000000);
		if (nq > 0 && (timeout < 0 || timeout > 100))
			timeout = 100; /* to refuse a request that waited too long */
		nready = poll(p, np, timeout);
		if (nready < 0 && errno != EINTR)
			break;
		if (nready == 0 && mono_ns() >= busy_at + POOL_QUIET_NS)
			retire_one(&ret);
		if (nready > 0 && (p[0].revents || p[1].revents))
			busy_at = mono_ns();
		if (p[1].revents) {
			struct signalfd_siginfo si;
			pid_t pid;
			int st;

			if (read(sfd, &si, sizeof(si)) != sizeof(si))
				continue;
			if (si.ssi_signo != SIGCHLD) {
				rc = 0;
				break;
			}
			while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
				for (unsigned int i = 0; i < size; i++) {
					if (mem[i].pid != pid)
						continue;
					if (mem[i].client >= 0) {
						pstat(P_EXITS, 1);
						reply(mem[i].client, "exit %ld",
						      WIFEXITED(st) ? WEXITSTATUS(st)
								    : 128 + WTERMSIG(st));
						close(mem[i].client);
					} else {
						fprintf(stderr,
							"hmesh-run pool: a %s container died "
							"unused; replacing it\n",
							mem[i].ready ? "warm" : "preparing");
						if (mem[i].ready)
							pstat(P_WARM, -1);
					}
					close(mem[i].sock);
					retire(&ret, mem[i].cg);
					mem[i].pid = 0; /* refilled below */
				}
		}
		if (p[0].revents) {
			char buf[65536], cbuf[CMSG_SPACE(3 * sizeof(int))];
			struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
			struct msghdr mh = {.msg_iov = &iov,
					    .msg_iovlen = 1,
					    .msg_control = cbuf,
					    .msg_controllen = sizeof(cbuf)};
			struct cmsghdr *cm;
			int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC), fds[3];
			ssize_t n;
			unsigned int i;

			uint64_t t_req = mono_ns();

			if (c < 0)
				continue;
			n = recvmsg(c, &mh, MSG_CMSG_CLOEXEC);
			cm = CMSG_FIRSTHDR(&mh);
			if (n <= 0 || cm == NULL || cm->cmsg_type != SCM_RIGHTS ||
			    cm->cmsg_len != CMSG_LEN(sizeof(fds))) {
				reply(c, "error %ld", EBADMSG);
				close(c);
				continue;
			}
			memcpy(fds, CMSG_DATA(cm), sizeof(fds));
			for (i = 0; i < size; i++)
				if (mem[i].pid > 0 && mem[i].ready && mem[i].client < 0)
					break;
			if (i < size) {
				handout(&mem[i], c, buf, (size_t)n, fds, t_req);
			} else if (nq < POOL_MAX && pool_idle(mem, size) &&
				   (q[nq].buf = malloc((size_t)n)) != NULL) {
				/* One is being prepared: the request waits for it. */
				for (unsigned int k = 0; k < size; k++)
					if (mem[k].pid > 0 && !mem[k].ready)
						rt_pool_hurry(mem[k].pid);
				memcpy(q[nq].buf, buf, (size_t)n);
				q[nq].n = (size_t)n;
				q[nq].c = c;
				memcpy(q[nq].fds, fds, sizeof(fds));
				q[nq++].t_req = t_req;
			} else {
				/* All busy: one more cold container would be a surprise; say so. */
				reply(c, "error %ld", EBUSY);
				close(c);
				pstat(P_BUSY, 1);
				for (int k = 0; k < 3; k++)
					close(fds[k]);
			}
		}
		/* Preparing containers that spoke: ready, or failed. */
		for (unsigned int k = 2; k < np; k++) {
			struct member *m = &mem[who[k - 2]];

			if (p[k].revents && m->pid > 0 && !m->ready && m->sock == p[k].fd &&
			    pool_ready(m) < 0)
				retry_at = mono_ns() + 100000000ull; /* a failing spec: no hot loop */
		}
		/* Waiting requests, oldest first: to a ready container, or refused
		 * after QUEUE_WAIT_NS (preparation keeps failing). */
		while (nq > 0) {
			unsigned int i;

			for (i = 0; i < size; i++)
				if (mem[i].pid > 0 && mem[i].ready && mem[i].client < 0)
					break;
			if (i < size) {
				handout(&mem[i], q[0].c, q[0].buf, q[0].n, q[0].fds, q[0].t_req);
			} else if (mono_ns() - q[0].t_req > QUEUE_WAIT_NS) {
				reply(q[0].c, "error %ld", EBUSY);
				close(q[0].c);
				pstat(P_BUSY, 1);
				for (int k = 0; k < 3; k++)
					close(q[0].fds[k]);
			} else {
				break;
			}
			free(q[0].buf);
			memmove(&q[0], &q[1], (size_t)--nq * sizeof(q[0]));
		}
		/* Refill behind the requests: start one preparation per turn; it sets
		 * itself up while this loop serves. */
		/* Again: what came this turn (a request, an exit) may have made it later. */
		fill_at = refill_at(mem, size, busy_at, retry_at);
		for (unsigned int i = 0; i < size && mono_ns() >= fill_at; i++)
			if (mem[i].pid == 0) {
				if (pool_fill(&mem[i], &s, &serial, false) < 0)
					retry_at = mono_ns() + 100000000ull;
				break;
			}
	}
out:
	for (unsigned int k = 0; k < nq; k++) {
		reply(q[k].c, "error %ld", ESHUTDOWN);
		close(q[k].c);
		for (int f = 0; f < 3; f++)
			close(q[k].fds[f]);
		free(q[k].buf);
	}
	for (unsigned int i = 0; i < size; i++)
		if (mem[i].pid > 0) {
			kill(mem[i].pid, SIGKILL);
			waitpid(mem[i].pid, NULL, 0);
			rt_cgroup_detect()->destroy(mem[i].cg);
		}
	while (retire_one(&ret))
		;
	unlink(path);
	rt_spec_free(&s);
	pst = NULL;
	hm_stats_destroy(seg);
	return rc;
}

static int cmd_pool_exec(const char *path, char **env, char **args)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	int fds[3] = {0, 1, 2}, rc;
	char msg[64];
	ssize_t n;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "hmesh-run pool-exec: --socket %s: %s\n", path, strerror(errno));
		return 125;
	}
	rc = rt_pool_release(fd, args, env, fds);
	if (rc < 0) {
		fprintf(stderr, "hmesh-run pool-exec: %s\n", strerror(-rc));
		return 125;
	}
	while ((n = recv(fd, msg, sizeof(msg) - 1, 0)) > 0) {
		long v;

		msg[n] = '\0';
		if (sscanf(msg, "exit %ld", &v) == 1)
			return (int)v;
		if (sscanf(msg, "error %ld", &v) == 1) {
			fprintf(stderr, "hmesh-run pool-exec: the pool refused: %s\n",
				strerror((int)v));
			return 125;
		}
	}
	fprintf(stderr, "hmesh-run pool-exec: the pool closed the connection\n");
	return 125;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : NULL, *id, *bundle;
	char err[512], buf[8192];
	pid_t pid;

	if (cmd == NULL || !strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
		usage(cmd ? stdout : stderr);
		return cmd ? 0 : 2;
	}
	argc -= 2;
	argv += 2;
	if (!strcmp(cmd, "create") || !strcmp(cmd, "run")) {
		bundle = bundle_arg(argc, argv, &id);
		if (bundle == NULL || id == NULL) {
			fprintf(stderr, "hmesh-run %s: want ID --bundle DIR\n", cmd);
			return 2;
		}
		if (!strcmp(cmd, "run"))
			return cmd_run(id, bundle);
		pid = rt_create(id, bundle, err, sizeof(err));
		if (pid < 0) {
			fprintf(stderr, "hmesh-run: %s\n", err);
			return 1;
		}
		return 0;
	}
	if (!strcmp(cmd, "start") || !strcmp(cmd, "state") || !strcmp(cmd, "kill")) {
		int rc, sig = SIGTERM;

		if (argc < 1 || argc > (!strcmp(cmd, "kill") ? 2 : 1)) {
			fprintf(stderr, "hmesh-run %s: want ID%s\n", cmd,
				!strcmp(cmd, "kill") ? " [SIGNAL]" : "");
			return 2;
		}
		if (argc == 2 && (sig = parse_signal(argv[1])) < 0) {
			fprintf(stderr, "hmesh-run kill: signal \"%s\": a name (TERM) or number\n",
				argv[1]);
			return 2;
		}
		rc = !strcmp(cmd, "start")   ? rt_start(argv[0], err, sizeof(err))
		     : !strcmp(cmd, "state") ? rt_state(argv[0], buf, sizeof(buf), err, sizeof(err))
					     : rt_kill(argv[0], sig, err, sizeof(err));
		if (rc < 0) {
			fprintf(stderr, "hmesh-run: %s\n", err);
			return 1;
		}
		if (!strcmp(cmd, "state"))
			printf("%s\n", buf);
		return 0;
	}
	if (!strcmp(cmd, "delete")) {
		bool force = argc == 2 && !strcmp(argv[0], "--force");

		if (argc != 1 + force) {
			fprintf(stderr, "hmesh-run delete: want [--force] ID\n");
			return 2;
		}
		if (rt_delete(argv[force], force, err, sizeof(err)) < 0) {
			fprintf(stderr, "hmesh-run: %s\n", err);
			return 1;
		}
		return 0;
	}
	if (!strcmp(cmd, "list"))
		return cmd_list();
	if (!strcmp(cmd, "pool") || !strcmp(cmd, "pool-exec")) {
		static const struct option lo[] = {{"bundle", required_argument, NULL, 'b'},
						   {"socket", required_argument, NULL, 's'},
						   {"size", required_argument, NULL, 'n'},
						   {"env", required_argument, NULL, 'e'},
						   {"stats-segment", required_argument, NULL, 'T'},
						   {NULL, 0, NULL, 0}};
		const char *sock = NULL, *segname = "runtime";
		char *env[65] = {NULL}, *end;
		unsigned long size = 4;
		int o, ne = 0;

		bundle = NULL;
		optind = 0;
		argv--;
		argc++;
		while ((o = getopt_long(argc, argv, "+", lo, NULL)) != -1) {
			switch (o) {
			case 'b':
				bundle = optarg;
				break;
			case 's':
				sock = optarg;
				break;
			case 'n':
				size = strtoul(optarg, &end, 10);
				if (*end) {
					fprintf(stderr, "hmesh-run pool: --size \"%s\": a number\n",
						optarg);
					return 2;
				}
				break;
			case 'T':
				segname = optarg;
				break;
			case 'e':
				if (ne == 64 || !strchr(optarg, '=')) {
					fprintf(
					    stderr,
					    "hmesh-run pool-exec: --env \"%s\": K=V, at most 64\n",
					    optarg);
					return 2;
				}
				env[ne++] = optarg;
				break;
			default:
				return 2;
			}
		}
		if (sock == NULL || (!strcmp(cmd, "pool") && bundle == NULL)) {
			fprintf(stderr, "hmesh-run %s: --socket%s required\n", cmd,
				!strcmp(cmd, "pool") ? " and --bundle are" : " is");
			return 2;
		}
		if (!strcmp(cmd, "pool"))
			return cmd_pool(bundle, sock, (unsigned int)size, segname);
		return cmd_pool_exec(sock, ne ? env : NULL, optind < argc ? argv + optind : NULL);
	}
	fprintf(stderr, "hmesh-run: unknown command \"%s\" (see --help)\n", cmd);
	return 2;
}
