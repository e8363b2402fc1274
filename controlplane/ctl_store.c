/* SPDX-License-Identifier: BSD-3-Clause */
#include "ctl_store.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hm_log.h"

#define MOD "controld"

struct ctl_store {
	char dir[PATH_MAX];
	int log_fd;
	uint64_t since_compact;
	uint64_t replayed;
	/*
	 * A failed append could not be cut back off the log: its bytes may
	 * still be there, so nothing more is appended (it would land on the
	 * fragment) until a restart's replay has dealt with them.
	 */
	bool wedged;
	char why[PATH_MAX + 160];
};

uint32_t ctl_crc32c(const void *data, size_t len)
{
	static uint32_t table[256];
	const uint8_t *p = data;
	uint32_t c = 0xffffffffu;

	if (table[1] == 0)
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t x = i;

			for (int k = 0; k < 8; k++)
				x = x & 1 ? (x >> 1) ^ 0x82f63b78u : x >> 1;
			table[i] = x;
		}
	while (len--)
		c = table[(c ^ *p++) & 0xff] ^ (c >> 8);
	return c ^ 0xffffffffu;
}

static int path_of(const struct ctl_store *s, const char *name, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/%s", s->dir, name);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int load_snapshot(struct ctl_store *s, struct ctl_model *m)
{
	char path[PATH_MAX + 32];
	json_error_t je;
	struct ctl_err e;
	json_t *j;
	int rc;

	path_of(s, "snapshot.json", path, sizeof(path));
	if (access(path, F_OK) != 0)
		return 0;
	j = json_load_file(path, 0, &je);
	if (j == NULL) {
		hm_log(HM_LOG_ERR, MOD, "%s: line %d: %s", path, je.line, je.text);
		return -EBADMSG;
	}
	rc = ctl_model_load_json(m, j, &e);
	json_decref(j);
	if (rc < 0) {
		hm_log(HM_LOG_ERR, MOD, "%s: %s", path, e.msg);
		return -EBADMSG;
	}
	return 0;
}

/* Replay changes.log; cut a torn tail. */
static int replay(struct ctl_store *s, struct ctl_model *m)
{
	char path[PATH_MAX + 32], *line = NULL;
	size_t cap = 0;
	ssize_t n;
	off_t good = 0;
	uint64_t lineno = 0;
	bool bad = false;
	FILE *f;

	path_of(s, "changes.log", path, sizeof(path));
	f = fopen(path, "r");
	if (f == NULL)
		return errno == ENOENT ? 0 : -errno;
	while ((n = getline(&line, &cap, f)) > 0) {
		char *tab = memrchr(line, '\t', (size_t)n);
		struct ctl_change c;
		struct ctl_err e;
		unsigned int crc;
		json_t *j;

		lineno++;
		if (bad) {
			/* A bad line with good ones after it is not a torn write. */
			hm_log(HM_LOG_ERR, MOD,
			       "%s: line %" PRIu64 " follows a corrupt line: the log "
			       "is damaged, not torn; refusing to start",
			       path, lineno);
			free(line);
			fclose(f);
			return -EBADMSG;
		}
		if (tab == NULL || line[n - 1] != '\n' || sscanf(tab + 1, "%8x", &crc) != 1 ||
		    ctl_crc32c(line, (size_t)(tab - line)) != crc) {
			bad = true;
			continue;
		}
		*tab = '\0';
		j = json_loads(line, 0, NULL);
		if (j != NULL && ctl_change_from_json(m, j, &c, &e) == 0 && c.rev <= m->revision) {
			/* In the snapshot already: compaction died before emptying the log. */
			json_decref(j);
			good += n;
			continue;
		}
		if (j == NULL || ctl_change_from_json(m, j, &c, &e) < 0 ||
		    c.rev != m->revision + 1) {
			json_decref(j);
			hm_log(HM_LOG_ERR, MOD,
			       "%s: line %" PRIu64 ": a record with a valid CRC that "
			       "does not apply (revision %" PRIu64 " expected)",
			       path, lineno, m->revision + 1);
			free(line);
			fclose(f);
			return -EBADMSG;
		}
		json_decref(j);
		ctl_model_apply(m, &c);
		good += n;
		s->replayed++;
	}
	free(line);
	fclose(f);
	if (bad) {
		hm_log(HM_LOG_WARN, MOD,
		       "%s: last line torn (never acknowledged): cut at byte %lld", path,
		       (long long)good);
		if (truncate(path, good) < 0)
			return -errno;
	}
	return 0;
}

int ctl_store_open(const char *dir, struct ctl_model *m, struct ctl_store **out)
{
	struct ctl_store *s = calloc(1, sizeof(*s));
	char path[PATH_MAX + 32];
	int rc;

	if (s == NULL)
		return -ENOMEM;
	snprintf(s->dir, sizeof(s->dir), "%s", dir);
	s->log_fd = -1;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		rc = -errno;
		hm_log(HM_LOG_ERR, MOD, "--state-dir %s: %s", dir, strerror(errno));
		goto err;
	}
	rc = load_snapshot(s, m);
	if (rc == 0)
		rc = replay(s, m);
	if (rc < 0)
		goto err;
	path_of(s, "changes.log", path, sizeof(path));
	s->log_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (s->log_fd < 0) {
		rc = -errno;
		hm_log(HM_LOG_ERR, MOD, "%s: %s", path, strerror(errno));
		goto err;
	}
	s->since_compact = s->replayed;
	*out = s;
	return 0;
err:
	free(s);
	return rc;
}

void ctl_store_close(struct ctl_store *s)
{
	if (s == NULL)
		return;
	close(s->log_fd);
	free(s);
}

uint64_t ctl_store_replayed(const struct ctl_store *s)
{
	return s->replayed;
}

/*
 * Take an append that failed back off the log: its bytes, whole or in
 * part, were never acknowledged, and the next record (the same revision)
 * must not land on them. True when the log is back at @size, durably.
 */
static bool roll_back(struct ctl_store *s, const char *path, off_t size)
{
	int rc = 0;

	if (ftruncate(s->log_fd, size) < 0 || fdatasync(s->log_fd) < 0)
		rc = -errno;
	if (rc == 0)
		return true;
	s->wedged = true;
	snprintf(s->why, sizeof(s->why),
		 "%s: a failed record could not be cut off at byte %lld (%s); no more writes "
		 "until a restart",
		 path, (long long)size, strerror(-rc));
	hm_log(HM_LOG_ERR, MOD, "%s", s->why);
	return false;
}

int ctl_store_append(struct ctl_store *s, const struct ctl_model *m, const struct ctl_change *c)
{
	char path[PATH_MAX + 32];
	json_t *j;
	char *txt, *line;
	struct stat st;
	int rc, n;

	path_of(s, "changes.log", path, sizeof(path));
	if (s->wedged) {
		hm_log(HM_LOG_ERR, MOD, "%s", s->why);
		return -EIO;
	}
	/* Where this record starts: a failure cuts the log back to here. */
	if (fstat(s->log_fd, &st) < 0) {
		rc = -errno;
		hm_log(HM_LOG_ERR, MOD, "%s: %s", path, strerror(-rc));
		return rc;
	}
	j = ctl_change_json(m, c);
	txt = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (txt == NULL)
		return -ENOMEM;
	n = asprintf(&line, "%s\t%08x\n", txt, ctl_crc32c(txt, strlen(txt)));
	free(txt);
	if (n < 0)
		return -ENOMEM;
	rc = write_all(s->log_fd, line, (size_t)n);
	free(line);
	if (rc == 0 && fdatasync(s->log_fd) < 0)
		rc = -errno;
	if (rc < 0) {
		/*
		 * Not acknowledged, so not in the log either: bytes left behind
		 * would be a torn line under the next (acknowledged) record, or,
		 * when only the sync failed, a whole record with its revision.
		 */
		hm_log(HM_LOG_ERR, MOD, "%s: revision %" PRIu64 " not written: %s", path, c->rev,
		       strerror(-rc));
		roll_back(s, path, st.st_size);
		return rc;
	}
	s->since_compact++;
	return 0;
}

const char *ctl_store_wedged(const struct ctl_store *s)
{
	return s->wedged ? s->why : NULL;
}

int ctl_store_maybe_compact(struct ctl_store *s, const struct ctl_model *m)
{
	return s->since_compact >= CTL_STORE_COMPACT_EVERY ? ctl_store_compact(s, m) : 0;
}

int ctl_store_compact(struct ctl_store *s, const struct ctl_model *m)
{
	char tmp[PATH_MAX + 32], snap[PATH_MAX + 32], log[PATH_MAX + 32];
	json_t *j = ctl_model_json(m);
	int fd, rc = 0;

	path_of(s, "snapshot.json.tmp", tmp, sizeof(tmp));
	path_of(s, "snapshot.json", snap, sizeof(snap));
	path_of(s, "changes.log", log, sizeof(log));
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || json_dumpfd(j, fd, JSON_COMPACT) < 0 || fsync(fd) < 0)
		rc = -errno ?: -EIO;
	if (fd >= 0)
		close(fd);
	json_decref(j);
	/*
	 * Order matters: the snapshot is durable under its name before the log
	 * is emptied. Dying in between leaves records the snapshot already
	 * holds; replay skips those by revision.
	 */
	if (rc == 0 && rename(tmp, snap) < 0)
		rc = -errno;
	if (rc == 0)
		rc = fsync_dir(s->dir);
	if (rc == 0 && ftruncate(s->log_fd, 0) < 0)
		rc = -errno;
	if (rc == 0 && fsync(s->log_fd) < 0)
		rc = -errno;
	if (rc < 0) {
		hm_log(HM_LOG_ERR, MOD, "snapshot: %s", strerror(-rc));
		unlink(tmp);
		return rc;
	}
	s->since_compact = 0;
	return 0;
}
