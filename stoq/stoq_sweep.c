/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * stoq_sweep.c — removes the temporary files of PUTs that an earlier run
 * of a server never finished.
 *
 * A PUT's body goes to a ".stoq-put-XXXXXX" file in the directory it is
 * stored in, renamed into place once it is on the disk (stoq_h3.c). A
 * server that dies (crash, kill -9, power cut) leaves the PUTs it was
 * receiving behind as such files, and nothing removed them: each one the
 * disk space of a chunk that will never be stored.
 *
 * A server now holds an flock(2) on each of its temporary files for as
 * long as it has it open, and at start a thread of its own walks the root
 * and removes those that are older than the walk and that it can lock:
 * nobody is writing them. On a filesystem without locks (flock fails)
 * it removes nothing: it cannot tell a dead server's file from a live
 * one's. The age rule keeps it off a file this server
 * has just created and not yet locked; the lock keeps it off the files of
 * another live server with the same root. It runs beside the event loop
 * (a big root takes a while to walk) and stops when the server does.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hm_log.h"
#include "stoq_priv.h"

struct stoq_sweep {
	pthread_t thread;
	char root[PATH_MAX];
	struct timespec started;
	int stop; /* atomic: the server is going */
	unsigned long removed;
};

/* nftw() passes no argument to its callback: the walk's own, per thread. */
static __thread struct stoq_sweep *tl_sweep;

static bool older(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

static int sweep_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	struct stoq_sweep *s = tl_sweep;
	int fd;

	if (__atomic_load_n(&s->stop, __ATOMIC_RELAXED))
		return 1; /* ends the walk */
	if (type != FTW_F || !S_ISREG(sb->st_mode) ||
	    strncmp(path + ftw->base, STOQ_PUT_TMP_PREFIX, sizeof(STOQ_PUT_TMP_PREFIX) - 1) != 0 ||
	    !older(&sb->st_mtim, &s->started))
		return 0;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return 0; /* gone meanwhile: stored or dropped by its server */
	if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
		if (unlink(path) == 0) {
			s->removed++;
		} else if (errno != ENOENT) {
			HM_WARN(STOQ_LOG, "removing %s, a PUT an earlier run left unfinished: %s", path,
				strerror(errno));
		}
	}
	close(fd);
	return 0;
}

static void *sweep_main(void *arg)
{
	struct stoq_sweep *s = arg;
	int rc;

	tl_sweep = s;
	/* FTW_PHYS: a symlink is not followed out of the root. */
	rc = nftw(s->root, sweep_one, 16, FTW_PHYS);
	if (rc < 0)
		HM_WARN(STOQ_LOG, "looking for unfinished PUTs under %s: %s", s->root,
			strerror(errno));
	if (s->removed)
		HM_INFO(STOQ_LOG, "removed %lu temporary file%s of PUTs an earlier run left unfinished",
			s->removed, s->removed == 1 ? "" : "s");
	return NULL;
}

int stoq_sweep_start(const char *root, struct stoq_sweep **out)
{
	struct stoq_sweep *s = calloc(1, sizeof(*s));
	int rc;

	*out = NULL;
	if (!s)
		return -ENOMEM;
	snprintf(s->root, sizeof(s->root), "%s", root);
	clock_gettime(CLOCK_REALTIME, &s->started);
	rc = -pthread_create(&s->thread, NULL, sweep_main, s);
	if (rc < 0) {
		free(s);
		return rc;
	}
	pthread_setname_np(s->thread, "stoq-sweep");
	*out = s;
	return 0;
}

void stoq_sweep_stop(struct stoq_sweep *s)
{
	if (!s)
		return;
	__atomic_store_n(&s->stop, 1, __ATOMIC_RELAXED);
	pthread_join(s->thread, NULL);
	free(s);
}
