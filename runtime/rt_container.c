/* SPDX-License-Identifier: BSD-3-Clause */
#include "rt_container.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <grp.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <linux/openat2.h>

#include "rt_cgroup.h"
#include "rt_net.h"


const char *rt_state_root(void)
{
	const char *r = getenv("HMESH_RUN_ROOT");

	return r && *r ? r : RT_STATE_ROOT;
}

bool rt_id_ok(const char *id)
{
	size_t n = strlen(id);

	if (n == 0 || n >= RT_ID_MAX || id[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= 'A' && id[i] <= 'Z') ||
		      (id[i] >= '0' && id[i] <= '9') || id[i] == '_' || id[i] == '-' ||
		      id[i] == '.'))
			return false;
	return true;
}

/* ---- in the child: everything up to the exec ------------------------------------ */

struct child {
	const struct rt_spec *s;
	const char *id; /* names its veth pair (rt_net) */
	int sync;	/* socketpair end: parent's "go", then (pool) the final process */
	int fifo;	/* O_PATH fd of the exec FIFO, -1 in pool mode */
	int peer;	/* the parent's end of the socketpair: closed in the child */
	bool pool;
	bool ready; /* set-up done: errors go to the process's stderr from now on */
	int nice;   /* the parent's: a pool's container prepares at 19, then returns to it */
	char errbuf[256];
};

/* Report a set-up failure to the parent (over sync) and die. */
static void __attribute__((noreturn)) die(struct child *c, const char *fmt, ...)
{
	va_list ap;
	char msg[300];
	int n;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n >= (int)sizeof(msg))
		n = (int)sizeof(msg) - 1;
	if (c->ready || send(c->sync, msg, (size_t)n, MSG_NOSIGNAL) < 0)
		dprintf(2, "hmesh-run: container: %s\n", msg);
	_exit(126);
}

static int mkdirs(const char *path, mode_t mode)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s", path);
	for (char *s = p + 1; *s; s++)
		if (*s == '/') {
			*s = '\0';
			if (mkdir(p, mode) < 0 && errno != EEXIST)
				return -1;
			*s = '/';
		}
	return mkdir(p, mode) < 0 && errno != EEXIST ? -1 : 0;
}

/*
 * Mount destinations are resolved inside the rootfs, never by string
 * (root + dest): until pivot_root the host's / is still the root, and a
 * symlink in the image (untrusted content), rootfs/data -> /etc, would
 * have a destination under /data made and mounted on the host.
 */

/* mount(2) takes no fd: this path names @fd's file through procfs. */
#define FD_PATH_LEN 32
static const char *fd_path(char *buf, int fd)
{
	snprintf(buf, FD_PATH_LEN, "/proc/self/fd/%d", fd);
	return buf;
}

/*
 * Open @path as if @rootfd were / (an absolute symlink or ".." stays
 * under it). The kernel currently implies RESOLVE_NO_MAGICLINKS with
 * RESOLVE_IN_ROOT but says it may not always: a symlink into an
 * earlier-mounted /proc (proc/self/root) must not lead out either.
 * Returns an fd or -errno; -ENOSYS before Linux 5.6.
 */
static int open_in_root(int rootfd, const char *path, int flags)
{
	struct open_how how = {
	    .flags = (uint64_t)(flags | O_CLOEXEC),
	    .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	long fd = syscall(SYS_openat2, rootfd, path, &how, sizeof(how));

	return fd < 0 ? -errno : (int)fd;
}

/*
 * An O_PATH fd of mount destination @dest under @rootfd, making what is
 * missing: directories (0755), and the last component a directory or, for
 * a bind mount of a file (@file), an empty file (0644). Each is made in the
 * fd of its parent as resolved inside the rootfs. Returns the fd or -errno:
 * -ENOENT for a symlink on the way that leads nowhere (its target is not
 * made), -ENOSYS without openat2.
 */
static int mount_target(int rootfd, const char *dest, bool file)
{
	char prefix[PATH_MAX] = "", comp[NAME_MAX + 1];
	const char *p = dest;
	int dir, fd;

	dir = open_in_root(rootfd, "/", O_PATH | O_DIRECTORY);
	while (dir >= 0) {
		size_t n;
		bool last, leaf_file;

		while (*p == '/')
			p++;
		if (*p == '\0')
			return dir; /* dest was "/" or ended in '/' */
		n = strcspn(p, "/");
		if (n > NAME_MAX || strlen(prefix) + n + 2 > sizeof(prefix)) {
			close(dir);
			return -ENAMETOOLONG;
		}
		memcpy(comp, p, n);
		comp[n] = '\0';
		p += n;
		last = p[strspn(p, "/")] == '\0';
		leaf_file = last && file;
		strcat(prefix, "/");
		strcat(prefix, comp);

		fd = open_in_root(rootfd, prefix, O_PATH | (leaf_file ? 0 : O_DIRECTORY));
		if (fd == -ENOENT) {
			int rc = 0;

			if (leaf_file) {
				/* O_EXCL: never follows a symlink in its last component. */
				int f = openat(dir, comp,
					       O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC,
					       0644);

				if (f >= 0)
					close(f);
				else if (errno != EEXIST)
					rc = -errno;
			} else if (mkdirat(dir, comp, 0755) < 0 && errno != EEXIST) {
				rc = -errno;
			}
			fd = rc < 0 ? rc : open_in_root(rootfd, prefix, O_PATH);
		}
		close(dir);
		dir = fd;
		if (last)
			return dir;
	}
	return dir;
}

static void __attribute__((noreturn)) die_target(struct child *c, const char *dest, int rc)
{
	if (rc == -ENOSYS)
		die(c,
		    "mounts: %s: openat2(2) is not available (Linux 5.6 or later is "
		    "needed to resolve a destination inside the rootfs)",
		    dest);
	if (rc == -ENOENT)
		die(c, "mounts: %s: a symlink on the way leads nowhere in the rootfs", dest);
	die(c, "mounts: %s: %s", dest, strerror(-rc));
}

/*
 * The minimal /dev in the fresh tmpfs at @devfd: host nodes bind-mounted
 * (mknod may be refused), and links.
 */
static void populate_dev(struct child *c, int devfd)
{
	static const char *const nodes[] = {"null", "zero", "full", "random", "urandom", "tty"};
	static const char *const links[][2] = {{"/proc/self/fd", "fd"},
					       {"/proc/self/fd/0", "stdin"},
					       {"/proc/self/fd/1", "stdout"},
					       {"/proc/self/fd/2", "stderr"},
					       {"pts/ptmx", "ptmx"}};
	char h[64], fp[FD_PATH_LEN];

	for (size_t i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++) {
		int fd = openat(devfd, nodes[i], O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0666);

		snprintf(h, sizeof(h), "/dev/%s", nodes[i]);
		if (fd < 0 || mount(h, fd_path(fp, fd), NULL, MS_BIND, NULL) < 0)
			die(c, "/dev/%s: bind mount: %s", nodes[i], strerror(errno));
		close(fd);
	}
	for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++)
		if (symlinkat(links[i][0], devfd, links[i][1]) < 0 && errno != EEXIST)
			die(c, "/dev/%s: %s", links[i][1], strerror(errno));
}

static void do_mounts(struct child *c)
{
	const struct rt_spec *s = c->s;
	char fp[FD_PATH_LEN];
	int rootfd;

	if (mount("", "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		die(c, "making / private: %s", strerror(errno));
	if (mount(s->root, s->root, NULL, MS_BIND | MS_REC, NULL) < 0)
		die(c, "root.path %s: %s", s->root, strerror(errno));
	/* After the bind: the destinations are resolved in that mount, the one pivoted into. */
	rootfd = open(s->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		die(c, "root.path %s: %s", s->root, strerror(errno));
	for (uint32_t i = 0; i < s->n_mounts; i++) {
		const struct rt_mount *m = &s->mounts[i];
		unsigned long fl = m->flags & ~(MS_BIND | MS_REC);
		bool file = false, dev = !m->bind && strcmp(m->dest, "/dev") == 0 &&
					 strcmp(m->type, "tmpfs") == 0;
		int fd;

		if (m->bind) {
			struct stat st;

			if (stat(m->source, &st) < 0)
				die(c, "mounts: %s: source %s: %s", m->dest, m->source,
				    strerror(errno));
			file = !S_ISDIR(st.st_mode);
		}
		fd = mount_target(rootfd, m->dest, file);
		if (fd < 0)
			die_target(c, m->dest, fd);
		if (m->bind) {
			if (mount(m->source, fd_path(fp, fd), NULL, MS_BIND | (m->flags & MS_REC),
				  NULL) < 0)
				die(c, "mounts: bind %s on %s: %s", m->source, m->dest,
				    strerror(errno));
		} else if (strcmp(m->type, "cgroup") == 0) {
			/*
			 * cgroup2 when the host is unified (scoped by a cgroup
			 * namespace); on v1 hosts an empty read-only tmpfs: the
			 * container does not see the host's hierarchies.
			 */
			if (access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0) {
				if (mount("cgroup2", fd_path(fp, fd), "cgroup2", fl, NULL) < 0)
					die(c, "mounts: %s: cgroup2: %s", m->dest, strerror(errno));
			} else if (mount("tmpfs", fd_path(fp, fd), "tmpfs", fl | MS_RDONLY,
					 "size=4k") < 0) {
				die(c, "mounts: %s: %s", m->dest, strerror(errno));
			}
			fl = 0; /* applied */
		} else if (strcmp(m->type, "sysfs") == 0 && !(s->ns & RT_NS_NET)) {
			/* sysfs needs a network namespace of its own to mount; else bind ro. */
			if (mount("/sys", fd_path(fp, fd), NULL, MS_BIND | MS_REC, NULL) < 0)
				die(c, "mounts: %s: %s", m->dest, strerror(errno));
			fl |= MS_RDONLY;
		} else {
			if (mount(m->source, fd_path(fp, fd), m->type, fl,
				  m->data[0] ? m->data : NULL) < 0)
				die(c, "mounts: %s (%s): %s", m->dest, m->type, strerror(errno));
			fl = 0; /* applied */
		}
		close(fd);
		if (!fl && !dev)
			continue;
		/*
		 * A bind's flags take a remount, and /dev its nodes: both on the
		 * new mount's root, which the fd of the directory under it is not.
		 */
		fd = open_in_root(rootfd, m->dest, O_PATH | (file ? 0 : O_DIRECTORY));
		if (fd < 0)
			die_target(c, m->dest, fd);
		if (fl && mount(NULL, fd_path(fp, fd), NULL, MS_BIND | MS_REMOUNT | fl, NULL) < 0)
			die(c, "mounts: %s: remount: %s", m->dest, strerror(errno));
		if (dev)
			populate_dev(c, fd);
		close(fd);
	}
	close(rootfd);
	/* pivot_root(".", "."): the old root ends up on top, then goes. */
	if (chdir(s->root) < 0 || syscall(SYS_pivot_root, ".", ".") < 0)
		die(c, "pivot_root into %s: %s", s->root, strerror(errno));
	if (umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
		die(c, "detaching the old root: %s", strerror(errno));
	for (uint32_t i = 0; i < s->n_masked; i++) {
		struct stat st;

		if (stat(s->masked[i], &st) < 0)
			continue; /* nothing to hide */
		if (S_ISDIR(st.st_mode)
			? mount("tmpfs", s->masked[i], "tmpfs", MS_RDONLY, "size=4k")
			: mount("/dev/null", s->masked[i], NULL, MS_BIND, NULL))
			die(c, "linux.maskedPaths: %s: %s", s->masked[i], strerror(errno));
	}
	for (uint32_t i = 0; i < s->n_readonly; i++) {
		if (access(s->readonly[i], F_OK) < 0)
			continue;
		if (mount(s->readonly[i], s->readonly[i], NULL, MS_BIND | MS_REC, NULL) < 0 ||
		    mount(NULL, s->readonly[i], NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0)
			die(c, "linux.readonlyPaths: %s: %s", s->readonly[i], strerror(errno));
	}
	if (s->root_readonly && mount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0)
		die(c, "root.readonly: %s", strerror(errno));
}

/*
 * Without a seccomp section in the spec: refuse what a service never needs
 * and what breaks isolation (kernel modules, kexec, mounts and namespaces,
 * keyrings, BPF, perf, raw handles, clock and swap changes), with EPERM.
 */
static scmp_filter_ctx default_seccomp(struct child *c)
{
	static const char *const deny[] = {
	    "acct",
	    "add_key",
	    "bpf",
	    "clock_adjtime",
	    "clock_settime",
	    "delete_module",
	    "finit_module",
	    "fsconfig",
	    "fsmount",
	    "fsopen",
	    "fspick",
	    "init_module",
	    "kexec_file_load",
	    "kexec_load",
	    "keyctl",
	    "lookup_dcookie",
	    "mount",
	    "move_mount",
	    "name_to_handle_at",
	    "open_by_handle_at",
	    "open_tree",
	    "perf_event_open",
	    "pivot_root",
	    "quotactl",
	    "reboot",
	    "request_key",
	    "setns",
	    "settimeofday",
	    "swapoff",
	    "swapon",
	    "umount2",
	    "unshare",
	    "userfaultfd",
	    "vhangup",
	    NULL,
	};
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);

	if (ctx == NULL)
		die(c, "seccomp: out of memory");
	for (int i = 0; deny[i]; i++) {
		int nr = seccomp_syscall_resolve_name(deny[i]);

		if (nr != __NR_SCMP_ERROR &&
		    seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0) < 0)
			die(c, "seccomp: rule for %s", deny[i]);
	}
	return ctx;
}

static void set_identity(struct child *c)
{
	const struct rt_spec *s = c->s;
	cap_t caps;

	for (uint32_t i = 0; i < s->n_rlimits; i++) {
		struct rlimit rl = {.rlim_cur = s->rlimits[i].soft, .rlim_max = s->rlimits[i].hard};

		if (setrlimit(s->rlimits[i].resource, &rl) < 0)
			die(c, "process.rlimits[%u]: %s", i, strerror(errno));
	}
	/* Bounding set first: what is not in it can never come back. */
	for (int cap = 0; cap <= CAP_LAST_CAP; cap++)
		if (!(s->caps[0] >> cap & 1) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
			die(c, "capabilities: dropping %d: %s", cap, strerror(errno));
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0 ||
	    setgroups(s->n_gids, (const gid_t *)s->gids) < 0 || setgid(s->gid) < 0 ||
	    setuid(s->uid) < 0)
		die(c, "process.user %u:%u: %s", s->uid, s->gid, strerror(errno));
	caps = cap_init();
	for (int cap = 0; cap <= CAP_LAST_CAP && caps; cap++) {
		cap_value_t v = cap;

		if (s->caps[1] >> cap & 1)
			cap_set_flag(caps, CAP_EFFECTIVE, 1, &v, CAP_SET);
		if (s->caps[2] >> cap & 1)
			cap_set_flag(caps, CAP_INHERITABLE, 1, &v, CAP_SET);
		if (s->caps[3] >> cap & 1)
			cap_set_flag(caps, CAP_PERMITTED, 1, &v, CAP_SET);
	}
	if (caps == NULL || cap_set_proc(caps) < 0)
		die(c, "process.capabilities: %s", strerror(errno));
	cap_free(caps);
	for (int cap = 0; cap <= CAP_LAST_CAP; cap++)
		if ((s->caps[4] >> cap & 1) &&
		    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0)
			die(c, "process.capabilities.ambient: %d: %s", cap, strerror(errno));
	if (s->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		die(c, "noNewPrivileges: %s", strerror(errno));
}

/* execvpe with PATH taken from the container's environment. */
static void exec_process(struct child *c, char *const *args, char *const *env)
{
	const char *path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	char buf[PATH_MAX];

	for (int i = 0; env[i]; i++)
		if (strncmp(env[i], "PATH=", 5) == 0)
			path = env[i] + 5;
	if (strchr(args[0], '/')) {
		execve(args[0], args, env);
	} else {
		for (const char *p = path; *p;) {
			const char *colon = strchr(p, ':');
			size_t n = colon ? (size_t)(colon - p) : strlen(p);

			snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, p, args[0]);
			execve(buf, args, env);
			p += n + (colon != NULL);
		}
	}
	die(c, "process.args[0] %s: %s", args[0], strerror(errno));
}

/* Pool mode: the final process arrives as "arg\0arg\0\0env\0env\0\0" with 3 fds. */
static void wait_release(struct child *c, char ***args, char ***env)
{
	static char buf[65536];
	static char *av[RT_ARGS_MAX + 1], *ev[RT_ARGS_MAX + 1];
	char cbuf[CMSG_SPACE(3 * sizeof(int))];
	struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf) - 2};
	struct msghdr mh = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
	struct cmsghdr *cm;
	ssize_t n = recvmsg(c->sync, &mh, MSG_CMSG_CLOEXEC);
	char *p = buf, *end;
	int na = 0, ne = 0;

	if (n <= 0)
		_exit(0); /* the pool went away: nothing to run */
	buf[n] = buf[n + 1] = '\0';
	end = buf + n;
	cm = CMSG_FIRSTHDR(&mh);
	if (cm && cm->cmsg_type == SCM_RIGHTS && cm->cmsg_len == CMSG_LEN(3 * sizeof(int))) {
		int fds[3];

		memcpy(fds, CMSG_DATA(cm), sizeof(fds));
		for (int i = 0; i < 3; i++) {
			dup2(fds[i], i);
			close(fds[i]);
		}
	}
	while (p < end && *p && na < RT_ARGS_MAX) {
		av[na++] = p;
		p += strlen(p) + 1;
	}
	p++;
	while (p < end && *p && ne < RT_ARGS_MAX) {
		ev[ne++] = p;
		p += strlen(p) + 1;
	}
	av[na] = ev[ne] = NULL;
	if (na)
		*args = av;
	if (ne)
		*env = ev;
}

/* The process's working directory, identity and seccomp filter: the last steps before exec. */
static void enter(struct child *c, scmp_filter_ctx sc)
{
	if (chdir(c->s->cwd) < 0)
		die(c, "process.cwd %s: %s", c->s->cwd, strerror(errno));
	set_identity(c);
	if (seccomp_load(sc) < 0)
		die(c, "seccomp: loading the filter failed");
	seccomp_release(sc);
}

static int clone_flags(const struct rt_spec *s)
{
	int f = SIGCHLD;

	f |= s->ns & RT_NS_PID ? CLONE_NEWPID : 0;
	f |= s->ns & RT_NS_NET ? CLONE_NEWNET : 0;
	f |= s->ns & RT_NS_IPC ? CLONE_NEWIPC : 0;
	f |= s->ns & RT_NS_UTS ? CLONE_NEWUTS : 0;
	f |= s->ns & RT_NS_MNT ? CLONE_NEWNS : 0;
	f |= s->ns & RT_NS_CGROUP ? CLONE_NEWCGROUP : 0;
	return f;
}

static int child_main(void *arg)
{
	struct child *c = arg;
	const struct rt_spec *s = c->s;
	char **args = (char **)s->args, **env = (char **)s->env;
	scmp_filter_ctx sc;
	char go;

	close(c->peer);
	/* A pool's container makes and joins its cgroup first ("0": this
	 * process); otherwise the parent moves us while we set up (spawn_begin). */
	if (read(c->sync, &go, 1) != 1)
		_exit(126);
	if (c->pool && rt_cgroup_detect()->create(c->id, s) < 0)
		die(c, "cgroup (%s) for %s could not be set up", rt_cgroup_detect()->name, c->id);
	if (c->pool && rt_cgroup_detect()->attach(c->id, 0) < 0)
		die(c, "cgroup %s: could not join it", c->id);
	/* After joining: the cgroup namespace's root is the container's cgroup. */
	if (c->pool && unshare(clone_flags(s) & ~(CLONE_NEWPID | CSIGNAL)) < 0)
		die(c, "unshare namespaces: %s", strerror(errno));
	if (s->ns & RT_NS_NET) {
		char nerr[200];

		/* Its end of the veth pair is here by now: the parent moved it before "go". */
		if (rt_net_ns_setup(&s->net, c->id, nerr, sizeof(nerr)) < 0)
			die(c, "%s", nerr);
	}
	if (s->hostname && sethostname(s->hostname, strlen(s->hostname)) < 0)
		die(c, "hostname: %s", strerror(errno));
	do_mounts(c);
	sc = default_seccomp(c);
	/*
	 * A pool's container does everything that does not depend on the
	 * request before it says ready: a release then only execs (compiling
	 * and loading the seccomp filter and dropping capabilities took most of
	 * a warm start's time). Waiting for the release needs no privilege and
	 * no syscall the filter denies.
	 */
	if (c->pool) {
		/* Back to the pool's priority while we may still raise it (CAP_SYS_NICE). */
		if (setpriority(PRIO_PROCESS, 0, c->nice) < 0)
			die(c, "setpriority: %s", strerror(errno));
		enter(c, sc);
	}
	if (write(c->sync, "", 1) != 1) /* ready */
		_exit(126);
	c->ready = true;
	if (c->pool) {
		wait_release(c, &args, &env);
	} else {
		char fifo[32];
		int fd;

		/* Blocks until `start` opens the FIFO for reading. */
		snprintf(fifo, sizeof(fifo), "/proc/self/fd/%d", c->fifo);
		fd = open(fifo, O_WRONLY | O_CLOEXEC);
		if (fd < 0 || write(fd, "0", 1) != 1)
			die(c, "exec FIFO: %s", strerror(errno));
		close(fd);
		close(c->fifo);
		enter(c, sc);
	}
	close(c->sync);
	exec_process(c, args, env);
	return 127;
}


/*
 * Clone the child, put it in cgroup @cg_id and let it set up; *@sync_out is
 * where its "ready" (or its error message) will come: spawn_wait() reads
 * it. Returns the pid or -1 with @err.
 */
static pid_t spawn_begin(const struct rt_spec *s, const char *cg_id, int fifo, int *sync_out,
			 char *err, size_t len)
{
	const struct rt_cgroup_ops *cg = rt_cgroup_detect();
	struct child *c = calloc(1, sizeof(*c));
	int sp[2];
	pid_t pid;

	if (c == NULL ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp)) {
		free(c);
		return rt_errf(err, len, "out of resources: %s", strerror(errno));
	}
	/* A pool's container creates its cgroup itself, at nice 19 (child_main). */
	if (fifo >= 0 && cg->create(cg_id, s) < 0) {
		close(sp[0]);
		close(sp[1]);
		free(c);
		return rt_errf(err, len, "cgroup (%s) for %s could not be set up", cg->name, cg_id);
	}
	c->s = s;
	c->id = cg_id;
	c->sync = sp[1];
	c->peer = sp[0];
	c->fifo = fifo;
	c->pool = fifo < 0;
	c->nice = getpriority(PRIO_PROCESS, 0); /* of this process: cannot fail */
	/*
	 * clone() as fork() is: no stack of its own, the child goes on from
	 * here on a copy of ours. (A separate stack made the sanitizers see a
	 * thread running off its stack.) A pool's container makes its other
	 * namespaces itself (child_main).
	 */
	pid = (pid_t)syscall(SYS_clone,
			     c->pool ? clone_flags(s) & (CLONE_NEWPID | CSIGNAL) : clone_flags(s), NULL,
			     NULL, NULL, 0UL);
	if (pid == 0)
		_exit(child_main(c));
	close(sp[1]);
	if (pid < 0) {
		rt_errf(err, len, "clone: %s", strerror(errno));
		goto err;
	}
	/*
	 * A pool's container is a replacement made while the pool serves
	 * releases: its set-up must not take the CPU from a released
	 * container's exec, so it runs at nice 19 until it is ready (the pool
	 * raises it when a request waits for it: rt_pool_hurry), and it
	 * creates its cgroup and namespaces itself (child_main) instead of in
	 * the pool's loop, which a request would wait for.
	 */
	if (c->pool && setpriority(PRIO_PROCESS, (id_t)pid, 19) < 0) {
		rt_errf(err, len, "setpriority of %d: %s", (int)pid, strerror(errno));
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		goto err;
	}
	if (rt_net_host_setup(&s->net, cg_id, pid, err, len) < 0 ||
	    (write(sp[0], "g", 1) != 1 &&
	     rt_errf(err, len, "container %s: lost during set-up", cg_id) < 0)) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		goto err;
	}
	/*
	 * Moving a task into a v1 cgroup waits for an RCU grace period (3-10 ms
	 * on this VM, most of a cold start): the child sets itself up (mounts,
	 * pivot_root, seccomp) meanwhile. It cannot exec before this returns:
	 * its process starts only after `start`, which needs `create` done.
	 */
	if (!c->pool && cg->attach(cg_id, pid) < 0) {
		char msg[300];
		ssize_t n;

		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		/* A child that failed first has said why: that is the error. */
		n = recv(sp[0], msg, sizeof(msg) - 1, MSG_DONTWAIT);
		msg[n > 1 ? n : 0] = '\0';
		if (n > 1)
			rt_errf(err, len, "%s", msg);
		else
			rt_errf(err, len, "cgroup %s: could not attach pid %d", cg_id, (int)pid);
		goto err;
	}
	free(c);
	*sync_out = sp[0];
	return pid;
err:
	close(sp[0]);
	cg->destroy(cg_id);
	free(c);
	return -1;
}

/*
 * Wait for the "ready" of a child spawn_begin() started. Returns 0, or -1
 * with @err after reaping the child, closing @sync and removing its cgroup.
 */
static int spawn_wait(pid_t pid, int sync, const char *cg_id, char *err, size_t len)
{
	char msg[300];
	ssize_t n = read(sync, msg, sizeof(msg) - 1);

	if (n == 1)
		return 0;
	msg[n > 0 ? n : 0] = '\0';
	rt_errf(err, len, "%s", n > 0 ? msg : "the container died during set-up");
	waitpid(pid, NULL, 0);
	close(sync);
	rt_cgroup_detect()->destroy(cg_id);
	return -1;
}

/* spawn_begin() and spawn_wait(): the container is set up on return. */
static pid_t spawn(const struct rt_spec *s, const char *cg_id, int fifo, int *sync_out, char *err,
		   size_t len)
{
	pid_t pid = spawn_begin(s, cg_id, fifo, sync_out, err, len);

	if (pid < 0 || spawn_wait(pid, *sync_out, cg_id, err, len) < 0)
		return -1;
	return pid;
}

/* ---- OCI lifecycle ---------------------------------------------------------------- */

static void state_dir(char *buf, size_t len, const char *id)
{
	snprintf(buf, len, "%s/%s", rt_state_root(), id);
}

static int write_state(const char *id, const char *bundle, pid_t pid, const char *annotations)
{
	char dir[PATH_MAX], p[PATH_MAX + 16], tmp[PATH_MAX + 16];
	json_t *j = json_pack("{s:s, s:s, s:s, s:i, s:s}", "ociVersion", "1.0.2", "id", id,
			      "status", "created", "pid", (int)pid, "bundle", bundle);

	if (annotations)
		json_object_set_new(j, "annotations", json_loads(annotations, 0, NULL));
	state_dir(dir, sizeof(dir), id);
	snprintf(p, sizeof(p), "%s/state.json", dir);
	snprintf(tmp, sizeof(tmp), "%s/state.tmp", dir);
	if (json_dump_file(j, tmp, JSON_COMPACT) < 0 || rename(tmp, p) < 0) {
		json_decref(j);
		return -1;
	}
	json_decref(j);
	return 0;
}

static void rm_state(const char *id)
{
	char dir[PATH_MAX], p[PATH_MAX + 16];

	state_dir(dir, sizeof(dir), id);
	snprintf(p, sizeof(p), "%s/state.json", dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/exec.fifo", dir);
	unlink(p);
	rmdir(dir);
}

pid_t rt_create(const char *id, const char *bundle, char *err, size_t len)
{
	struct rt_spec s;
	char dir[PATH_MAX], fifo[PATH_MAX + 16], abs[PATH_MAX];
	int ffd, sync;
	pid_t pid;

	if (!rt_id_ok(id))
		return rt_errf(err, len, "container id \"%s\": 1-63 characters of [A-Za-z0-9_.-]",
			       id);
	if (realpath(bundle, abs) == NULL)
		return rt_errf(err, len, "--bundle %s: %s", bundle, strerror(errno));
	if (rt_spec_load(abs, &s, err, len) < 0)
		return -1;
	state_dir(dir, sizeof(dir), id);
	if (mkdirs(rt_state_root(), 0700) < 0 || mkdir(dir, 0700) < 0) {
		rt_spec_free(&s);
		return rt_errf(err, len, "container \"%s\": %s", id,
			       errno == EEXIST ? "exists" : strerror(errno));
	}
	snprintf(fifo, sizeof(fifo), "%s/exec.fifo", dir);
	if (mkfifo(fifo, 0600) < 0 || (ffd = open(fifo, O_PATH | O_CLOEXEC)) < 0) {
		rt_errf(err, len, "%s: %s", fifo, strerror(errno));
		goto err;
	}
	pid = spawn(&s, id, ffd, &sync, err, len);
	close(ffd);
	if (pid < 0)
		goto err;
	close(sync);
	if (write_state(id, abs, pid, s.annotations_json) < 0) {
		rt_errf(err, len, "%s/state.json: %s", dir, strerror(errno));
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		rt_cgroup_detect()->destroy(id);
		goto err;
	}
	rt_spec_free(&s);
	return pid;
err:
	rt_spec_free(&s);
	rm_state(id);
	return -1;
}

static int read_state(const char *id, pid_t *pid, json_t **out, char *err, size_t len)
{
	char p[PATH_MAX + 32];
	json_error_t je;
	json_t *j;

	if (!rt_id_ok(id))
		return rt_errf(err, len, "container id \"%s\": not a valid id", id);
	snprintf(p, sizeof(p), "%s/%s/state.json", rt_state_root(), id);
	j = json_load_file(p, 0, &je);
	if (j == NULL)
		return rt_errf(err, len, "container \"%s\" does not exist", id);
	*pid = (pid_t)json_integer_value(json_object_get(j, "pid"));
	if (out)
		*out = j;
	else
		json_decref(j);
	return 0;
}

/* "created" (waiting on the FIFO), "running", or "stopped". */
static const char *status_of(const char *id, pid_t pid)
{
	char p[PATH_MAX + 32], st = 0;
	FILE *f;

	snprintf(p, sizeof(p), "/proc/%d/stat", (int)pid);
	f = fopen(p, "r");
	if (f == NULL || fscanf(f, "%*d (%*[^)]) %c", &st) != 1 || st == 'Z' || st == 'X') {
		if (f)
			fclose(f);
		return "stopped";
	}
	fclose(f);
	snprintf(p, sizeof(p), "%s/%s/exec.fifo", rt_state_root(), id);
	return access(p, F_OK) == 0 ? "created" : "running";
}

int rt_start(const char *id, char *err, size_t len)
{
	char fifo[PATH_MAX + 32], b;
	pid_t pid;
	int fd;

	if (read_state(id, &pid, NULL, err, len) < 0)
		return -1;
	if (strcmp(status_of(id, pid), "created") != 0)
		return rt_errf(err, len, "container \"%s\" is %s, not created", id,
			       status_of(id, pid));
	snprintf(fifo, sizeof(fifo), "%s/%s/exec.fifo", rt_state_root(), id);
	fd = open(fifo, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return rt_errf(err, len, "%s: %s", fifo, strerror(errno));
	unlink(fifo); /* from now on: running */
	if (read(fd, &b, 1) != 1) {
		close(fd);
		return rt_errf(err, len, "container \"%s\" died before its process started", id);
	}
	close(fd);
	return 0;
}

int rt_state(const char *id, char *buf, size_t blen, char *err, size_t len)
{
	json_t *j;
	pid_t pid;
	char *txt;

	if (read_state(id, &pid, &j, err, len) < 0)
		return -1;
	json_object_set_new(j, "status", json_string(status_of(id, pid)));
	txt = json_dumps(j, JSON_INDENT(2));
	json_decref(j);
	if (txt == NULL)
		return rt_errf(err, len, "out of memory");
	snprintf(buf, blen, "%s", txt);
	free(txt);
	return 0;
}

int rt_kill(const char *id, int sig, char *err, size_t len)
{
	pid_t pid;

	if (read_state(id, &pid, NULL, err, len) < 0)
		return -1;
	if (strcmp(status_of(id, pid), "stopped") == 0)
		return rt_errf(err, len, "container \"%s\" is stopped", id);
	if (kill(pid, sig) < 0)
		return rt_errf(err, len, "kill %d: %s", (int)pid, strerror(errno));
	return 0;
}

int rt_delete(const char *id, bool force, char *err, size_t len)
{
	pid_t pid;

	if (read_state(id, &pid, NULL, err, len) < 0)
		return -1;
	if (strcmp(status_of(id, pid), "stopped") != 0) {
		if (!force)
			return rt_errf(err, len, "container \"%s\" is %s: kill it first or --force",
				       id, status_of(id, pid));
		kill(pid, SIGKILL);
		for (int i = 0; i < 200 && strcmp(status_of(id, pid), "stopped"); i++)
			usleep(5000);
	}
	if (rt_cgroup_detect()->destroy(id) < 0)
		return rt_errf(err, len, "container \"%s\": its cgroup could not be removed", id);
	rm_state(id);
	return 0;
}

/* ---- warm pool ------------------------------------------------------------------- */

pid_t rt_pool_prepare_start(const struct rt_spec *spec, const char *cg_id, int *sock, char *err,
			    size_t len)
{
	/* One spec for every warm container: one address cannot serve them all. */
	if (spec->net.set)
		return rt_errf(err, len,
			       "annotations.org.hypermesh.net.*: a warm pool shares one spec, and "
			       "so would share one address; pool containers get a loopback only");
	return spawn_begin(spec, cg_id, -1, sock, err, len);
}

void rt_pool_hurry(pid_t pid)
{
	/* Best effort: it may have finished (and reset its priority) already. */
	(void)setpriority(PRIO_PROCESS, (id_t)pid, getpriority(PRIO_PROCESS, 0));
}

int rt_pool_prepare_finish(pid_t pid, int sock, const char *cg_id, char *err, size_t len)
{
	return spawn_wait(pid, sock, cg_id, err, len);
}

pid_t rt_pool_prepare(const struct rt_spec *spec, const char *cg_id, int *sock, char *err,
		      size_t len)
{
	pid_t pid = rt_pool_prepare_start(spec, cg_id, sock, err, len);

	if (pid < 0 || rt_pool_prepare_finish(pid, *sock, cg_id, err, len) < 0)
		return -1;
	return pid;
}

int rt_pool_release(int sock, char *const *args, char *const *env, const int fds[3])
{
	char buf[65536], cbuf[CMSG_SPACE(3 * sizeof(int))];
	size_t n = 0;
	struct iovec iov;
	struct msghdr mh = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
	struct cmsghdr *cm;

	for (int k = 0; k < 2; k++) {
		char *const *v = k ? env : args;

		for (int i = 0; v && v[i]; i++) {
			size_t l = strlen(v[i]) + 1;

			if (n + l + 2 > sizeof(buf))
				return -E2BIG;
			memcpy(buf + n, v[i], l);
			n += l;
		}
		buf[n++] = '\0';
	}
	iov.iov_base = buf;
	iov.iov_len = n;
	memset(cbuf, 0, sizeof(cbuf));
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(3 * sizeof(int));
	memcpy(CMSG_DATA(cm), fds, 3 * sizeof(int));
	return sendmsg(sock, &mh, MSG_NOSIGNAL) < 0 ? -errno : 0;
}
