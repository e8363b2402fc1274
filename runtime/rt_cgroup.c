/* SPDX-License-Identifier: BSD-3-Clause */
#include "rt_cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hm_log.h"

#define MOD "hmesh-run"
#define CG  "/sys/fs/cgroup"

static int write_file(const char *dir, const char *file, const char *val)
{
	char p[PATH_MAX];
	int fd, rc = 0;

	snprintf(p, sizeof(p), "%s/%s", dir, file);
	fd = open(p, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, val, strlen(val)) < 0)
		rc = -errno;
	if (fd >= 0)
		close(fd);
	if (rc < 0)
		hm_log(HM_LOG_ERR, MOD, "cgroup %s = %s: %s", p, val, strerror(-rc));
	return rc;
}

static int read_u64(const char *dir, const char *file, uint64_t *v)
{
	char p[PATH_MAX], buf[64];
	FILE *f;
	int rc = -EIO;

	snprintf(p, sizeof(p), "%s/%s", dir, file);
	f = fopen(p, "r");
	if (f == NULL)
		return -errno;
	if (fgets(buf, sizeof(buf), f))
		rc = sscanf(buf, "%" SCNu64, v) == 1 ? 0 : -EIO;
	fclose(f);
	return rc;
}

/* Key "name N" in a flat keyed file (memory.events, memory.oom_control). */
static int read_key(const char *dir, const char *file, const char *key, uint64_t *v)
{
	char p[PATH_MAX], k[64];
	uint64_t x;
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, file);
	f = fopen(p, "r");
	if (f == NULL)
		return -errno;
	while (fscanf(f, "%63s %" SCNu64, k, &x) == 2)
		if (strcmp(k, key) == 0) {
			*v = x;
			fclose(f);
			return 0;
		}
	fclose(f);
	return -ENOENT;
}

static int mkdir_p(const char *d)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s", d);
	for (char *s = p + 1; *s; s++)
		if (*s == '/') {
			*s = '\0';
			if (mkdir(p, 0755) < 0 && errno != EEXIST)
				return -errno;
			*s = '/';
		}
	return mkdir(p, 0755) < 0 && errno != EEXIST ? -errno : 0;
}

/* Kill every process in the group (cgroup.procs) and wait until it is empty. */
static void drain(const char *dir)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s/cgroup.procs", dir);
	for (int round = 0; round < 200; round++) {
		FILE *f = fopen(p, "r");
		int pid, n = 0;

		if (f == NULL)
			return;
		while (fscanf(f, "%d", &pid) == 1) {
			kill(pid, SIGKILL);
			n++;
		}
		fclose(f);
		if (n == 0)
			return;
		usleep(5000);
	}
}

/* ---- v1: one hierarchy per controller ----------------------------------------- */

static const char *const v1_ctrl[] = {"memory", "pids", "cpu"};

static void v1_dir(char *buf, size_t len, const char *ctrl, const char *id)
{
	snprintf(buf, len, CG "/%s/hmesh/%s", ctrl, id);
}

static int v1_destroy(const char *id)
{
	char d[PATH_MAX];
	int rc = 0;

	for (int i = 0; i < 3; i++) {
		v1_dir(d, sizeof(d), v1_ctrl[i], id);
		drain(d);
		for (int t = 0; t < 100 && rmdir(d) < 0 && errno == EBUSY; t++)
			usleep(5000);
		if (access(d, F_OK) == 0)
			rc = -EBUSY;
	}
	return rc;
}

static int v1_create(const char *id, const struct rt_spec *s)
{
	char d[PATH_MAX], v[32];
	int rc = 0;

	for (int i = 0; i < 3 && rc == 0; i++) {
		v1_dir(d, sizeof(d), v1_ctrl[i], id);
		rc = mkdir_p(d);
		if (rc < 0)
			hm_log(HM_LOG_ERR, MOD, "cgroup %s: %s", d, strerror(-rc));
	}
	if (rc == 0 && s->mem_limit >= 0) {
		v1_dir(d, sizeof(d), "memory", id);
		snprintf(v, sizeof(v), "%" PRId64, s->mem_limit);
		rc = write_file(d, "memory.limit_in_bytes", v);
		/* No swap either, where the kernel accounts it: the limit is the limit. */
		if (rc == 0 && access(CG "/memory/memory.memsw.limit_in_bytes", F_OK) == 0)
			write_file(d, "memory.memsw.limit_in_bytes", v);
	}
	if (rc == 0 && s->pids_limit >= 0) {
		v1_dir(d, sizeof(d), "pids", id);
		snprintf(v, sizeof(v), "%" PRId64, s->pids_limit);
		rc = write_file(d, "pids.max", v);
	}
	v1_dir(d, sizeof(d), "cpu", id);
	if (rc == 0 && s->cpu_shares) {
		snprintf(v, sizeof(v), "%" PRIu64, s->cpu_shares);
		rc = write_file(d, "cpu.shares", v);
	}
	if (rc == 0 && s->cpu_period) {
		snprintf(v, sizeof(v), "%" PRIu64, s->cpu_period);
		rc = write_file(d, "cpu.cfs_period_us", v);
	}
	if (rc == 0 && s->cpu_quota >= 0) {
		snprintf(v, sizeof(v), "%" PRId64, s->cpu_quota);
		rc = write_file(d, "cpu.cfs_quota_us", v);
	}
	if (rc < 0)
		v1_destroy(id);
	return rc;
}

static int v1_attach(const char *id, pid_t pid)
{
	char d[PATH_MAX], v[16];

	snprintf(v, sizeof(v), "%d", (int)pid);
	for (int i = 0; i < 3; i++) {
		v1_dir(d, sizeof(d), v1_ctrl[i], id);
		if (write_file(d, "cgroup.procs", v) < 0)
			return -EIO;
	}
	return 0;
}

static int v1_usage(const char *id, struct rt_cgroup_usage *u)
{
	char d[PATH_MAX];
	int rc;

	memset(u, 0, sizeof(*u));
	v1_dir(d, sizeof(d), "memory", id);
	rc = read_u64(d, "memory.usage_in_bytes", &u->memory_bytes);
	read_key(d, "memory.oom_control", "oom_kill", &u->oom_kills);
	v1_dir(d, sizeof(d), "pids", id);
	if (rc == 0)
		rc = read_u64(d, "pids.current", &u->pids);
	return rc;
}

static const struct rt_cgroup_ops v1_ops = {
    .name = "v1",
    .create = v1_create,
    .attach = v1_attach,
    .usage = v1_usage,
    .destroy = v1_destroy,
};

/* ---- v2: the unified hierarchy ---------------------------------------------- */

static void v2_dir(char *buf, size_t len, const char *id)
{
	snprintf(buf, len, CG "/hmesh/%s", id);
}

static int v2_destroy(const char *id)
{
	char d[PATH_MAX];

	v2_dir(d, sizeof(d), id);
	if (access(d, F_OK) != 0)
		return 0;
	write_file(d, "cgroup.kill", "1");
	drain(d);
	for (int t = 0; t < 100 && rmdir(d) < 0 && errno == EBUSY; t++)
		usleep(5000);
	return access(d, F_OK) == 0 ? -EBUSY : 0;
}

static int v2_create(const char *id, const struct rt_spec *s)
{
	char d[PATH_MAX], v[64];
	int rc;

	rc = mkdir_p(CG "/hmesh");
	if (rc == 0)
		rc = write_file(CG "/hmesh", "cgroup.subtree_control", "+memory +pids +cpu");
	v2_dir(d, sizeof(d), id);
	if (rc == 0)
		rc = mkdir_p(d);
	if (rc == 0 && s->mem_limit >= 0) {
		snprintf(v, sizeof(v), "%" PRId64, s->mem_limit);
		rc = write_file(d, "memory.max", v);
		if (rc == 0)
			write_file(d, "memory.swap.max", "0");
	}
	if (rc == 0 && s->pids_limit >= 0) {
		snprintf(v, sizeof(v), "%" PRId64, s->pids_limit);
		rc = write_file(d, "pids.max", v);
	}
	if (rc == 0 && s->cpu_shares) {
		/* OCI shares (2..262144, default 1024) to v2 weight (1..10000). */
		snprintf(v, sizeof(v), "%" PRIu64, 1 + ((s->cpu_shares - 2) * 9999) / 262142);
		rc = write_file(d, "cpu.weight", v);
	}
	if (rc == 0 && (s->cpu_quota >= 0 || s->cpu_period)) {
		if (s->cpu_quota >= 0)
			snprintf(v, sizeof(v), "%" PRId64 " %" PRIu64, s->cpu_quota,
				 s->cpu_period ? s->cpu_period : 100000);
		else
			snprintf(v, sizeof(v), "max %" PRIu64, s->cpu_period);
		rc = write_file(d, "cpu.max", v);
	}
	if (rc < 0)
		v2_destroy(id);
	return rc;
}

static int v2_attach(const char *id, pid_t pid)
{
	char d[PATH_MAX], v[16];

	v2_dir(d, sizeof(d), id);
	snprintf(v, sizeof(v), "%d", (int)pid);
	return write_file(d, "cgroup.procs", v) < 0 ? -EIO : 0;
}

static int v2_usage(const char *id, struct rt_cgroup_usage *u)
{
	char d[PATH_MAX];
	int rc;

	memset(u, 0, sizeof(*u));
	v2_dir(d, sizeof(d), id);
	rc = read_u64(d, "memory.current", &u->memory_bytes);
	read_key(d, "memory.events", "oom_kill", &u->oom_kills);
	if (rc == 0)
		rc = read_u64(d, "pids.current", &u->pids);
	return rc;
}

static const struct rt_cgroup_ops v2_ops = {
    .name = "v2",
    .create = v2_create,
    .attach = v2_attach,
    .usage = v2_usage,
    .destroy = v2_destroy,
};

const struct rt_cgroup_ops *rt_cgroup_detect(void)
{
	return access(CG "/cgroup.controllers", F_OK) == 0 ? &v2_ops : &v1_ops;
}
