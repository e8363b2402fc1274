/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * stoq_pager.c — threads that wait for the disk (response bodies read,
 * files opened, PUTs made durable), so the event loop does not.
 *
 * A server sends a file from a shared mapping (stoq_h3.c) and maps each
 * 2 MiB chunk with MADV_POPULATE_READ before handing it to nghttp3. For a
 * file in the page cache that is page-table work; for one that is not, the
 * call waits for the disk, and the thread waiting is the one that runs
 * every connection of the endpoint: one GET of a cold file stalled all of
 * them for as long as its chunk took to read (milliseconds on an SSD, tens
 * of them on a busy or network disk).
 *
 * Here the same call runs on a pager thread: the event loop queues the
 * chunk, tells nghttp3 the stream has nothing yet (NGHTTP3_ERR_WOULDBLOCK)
 * and goes on with the other connections; the thread populates the pages
 * (this process's page tables, so the loop's own MADV_POPULATE_READ that
 * follows finds them mapped), marks the job done and writes the endpoint's
 * eventfd, which stoq_endpoint_run() polls beside the socket. The stream is
 * resumed on the next turn (stoq_h3_paged). While a chunk goes out the next
 * one is read ahead the same way, so a warm file never waits.
 *
 * Jobs are few (one per request at a time) and the queue is touched twice
 * per 2 MiB, so one mutex is enough; nothing here is on the per-packet path.
 * A request freed while its job is queued or running cannot unmap its body
 * under the thread: the job is orphaned, and whoever finishes with it last
 * (the thread, or the release for a job not started) lets go of the
 * mapping (stoq_fmap_put: unmapped when no other GET or the endpoint's
 * cache holds it, stoq_fcache.c) and frees the job.
 *
 * They also open and map the file a GET asks for (stoq_pager_open): a
 * lookup of a name or inode not in the cache reads the disk too.
 *
 * The threads also commit what a PUT wrote (stoq_pager_commit): fdatasync
 * of the file, its rename into place, fsync of the directory, so that a
 * 201 means the chunk survives a power cut. Each of those waits for the
 * disk too. A commit orphaned while it runs still finishes (the chunk is
 * stored; the client, gone, is not told); one orphaned in the queue is
 * dropped with its temporary file.
 *
 * And they write a PUT's body (stoq_pager_write): a write(2) into the page
 * cache waits when the disk is behind (dirty-page throttling, a journal,
 * FUSE or a network filesystem), and on the loop that wait held every
 * connection. The block goes into the PUT's SHA-256 there too, which was
 * a third of the loop's time on a PUT (wolfSSL's SHA-256, ~0.6 GB/s,
 * before stoq_sha256.c). A write job owns its block and a dup of the file's
 * descriptor, so a request gone while its block is being written neither
 * frees the block under the thread nor lets the descriptor's number be
 * reused for another file under it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "hm_log.h"
#include "stoq_priv.h"

enum { JOB_IDLE, JOB_QUEUED, JOB_RUNNING, JOB_DONE };

enum { JOB_POPULATE, JOB_COMMIT, JOB_OPEN, JOB_WRITE };

struct stoq_page_job {
	struct stoq_page_job *next; /* queue */
	int kind;		    /* JOB_* */
	uint8_t *addr;		    /* populate [addr, addr+len); write: the block (the job's) */
	size_t len;
	uint64_t off; /* write: where in the file */
	/* write: the PUT's SHA-256, the job's while it runs (hash): the bytes
	 * of the file before off not in it yet (from hashed on) are read back
	 * first, then the block's own go in */
	struct stoq_sha256 sha;
	uint64_t hashed;
	bool hash;
	int fd;	      /* commit, write: the PUT's file (write: a dup), the job's to close */
	char *tmp; /* commit: its temporary name and where it goes (one allocation); */
	char *dst; /* open: tmp is the name under dirfd */
	int dirfd;
	struct stoq_file_open opened; /* open: the result */
	int state; /* JOB_*: written under the pager's lock, read by stoq_pager_poll */
	int err;   /* the read's errno (0: read), valid once JOB_DONE */
	bool orphan;
	struct stoq_fmap *fmap; /* orphan: the body mapping to let go of when the read is over */
};

struct stoq_pager {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct stoq_page_job *head, *tail;
	bool stop;
	int wakefd;
	unsigned n_threads;
	pthread_t threads[STOQ_PAGER_MAX_THREADS];
};

static void job_orphan_free(struct stoq_page_job *j)
{
	stoq_fmap_put(j->fmap);
	if (j->kind == JOB_OPEN && j->opened.map) /* opened for a request gone */
		munmap(j->opened.map, j->opened.size);
	if (j->kind == JOB_WRITE)
		free(j->addr);
	if (j->hash)
		stoq_sha256_free(&j->sha);
	free(j->tmp);
	free(j);
}

int stoq_write_all(int fd, const void *data, size_t len, uint64_t off)
{
	const uint8_t *buf = data;

	while (len) {
		ssize_t w = pwrite(fd, buf, len, (off_t)off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		if (w == 0)
			return -EIO; /* a regular file that takes nothing: never loop on it */
		buf += w;
		len -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

int stoq_file_map(int fd, struct stoq_file_open *out)
{
	struct stat sb;
	struct statfs fs;

	memset(out, 0, sizeof(*out));
	if (fstat(fd, &sb) < 0)
		return -errno;
	if (!S_ISREG(sb.st_mode))
		return -EISDIR; /* a directory, a device, a socket: not a chunk */
	if (fstatfs(fd, &fs) < 0)
		return -errno;
	if (sb.st_size > 0) {
		out->map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_SHARED, fd, 0);
		if (out->map == MAP_FAILED) {
			out->map = NULL;
			return -errno;
		}
	}
	out->size = (uint64_t)sb.st_size;
	out->fs_type = (long)fs.f_type;
	out->dev = sb.st_dev;
	out->ino = sb.st_ino;
	return 0;
}

int stoq_file_open(int dirfd, const char *rel, struct stoq_file_open *out)
{
	int rc, fd = openat(dirfd, rel, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		memset(out, 0, sizeof(*out));
		return -errno;
	}
	rc = stoq_file_map(fd, out);
	close(fd); /* the mapping holds the file */
	return rc;
}

int stoq_commit_file(int fd, const char *tmp, const char *dst)
{
	const char *slash = strrchr(dst, '/');
	char dir[PATH_MAX];
	int dfd, err = 0;

	/* The bytes, then the name, then the name's directory entry. The file
	 * is closed once it has its name, not before: until then its flock
	 * (stoq_h3.c) keeps a starting server's sweep (stoq_sweep.c) off it. */
	if (fdatasync(fd) < 0 || rename(tmp, dst) < 0) {
		err = errno;
		close(fd);
		unlink(tmp);
		return -err;
	}
	/* Renamed: a failure from here leaves the file in place, its name
	 * perhaps not on the disk yet; the caller says so (500). */
	if (close(fd) < 0)
		err = errno;
	if (!slash || (size_t)(slash - dst) >= sizeof(dir))
		return -ENAMETOOLONG;
	memcpy(dir, dst, (size_t)(slash - dst));
	dir[slash - dst] = '\0';
	dfd = open(dir[0] ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return err ? -err : -errno;
	if (fsync(dfd) < 0 && !err)
		err = errno;
	close(dfd);
	return -err;
}

/* A write job's block into the PUT's hash, after what the file holds
 * before it and the hash does not (bytes the loop wrote itself). */
static int write_hash(struct stoq_page_job *j)
{
	int rc = 0;

	if (j->hashed < j->off)
		rc = stoq_sha256_update_fd(&j->sha, j->fd, j->hashed, j->off);
	if (rc == 0)
		rc = stoq_sha256_update(&j->sha, j->addr, j->len);
	if (rc == 0)
		j->hashed = j->off + j->len;
	return rc;
}

static void *pager_main(void *arg)
{
	struct stoq_pager *p = arg;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		struct stoq_page_job *j;
		bool orphan;
		int err;

		while (!p->stop && !p->head)
			pthread_cond_wait(&p->cond, &p->lock);
		if (!p->head)
			break; /* stopping with nothing left */
		j = p->head;
		p->head = j->next;
		if (!p->head)
			p->tail = NULL;
		j->state = JOB_RUNNING;
		pthread_mutex_unlock(&p->lock);

		/* Populate: EFAULT (past the end of a file cut short, or a page
		 * the disk could not give) is the loop's to report: it is the
		 * same error its own call would have had, without a SIGBUS. */
		if (j->kind == JOB_POPULATE)
			err = madvise(j->addr, j->len, MADV_POPULATE_READ) < 0 ? errno : 0;
		else if (j->kind == JOB_COMMIT)
			err = -stoq_commit_file(j->fd, j->tmp, j->dst);
		else if (j->kind == JOB_WRITE) {
			err = j->hash ? -write_hash(j) : 0;
			if (!err)
				err = -stoq_write_all(j->fd, j->addr, j->len, j->off);
			close(j->fd);
			j->fd = -1;
		}
		else
			err = -stoq_file_open(j->dirfd, j->tmp, &j->opened);

		pthread_mutex_lock(&p->lock);
		orphan = j->orphan;
		if (!orphan) {
			j->err = err;
			__atomic_store_n(&j->state, JOB_DONE, __ATOMIC_RELEASE);
		}
		pthread_mutex_unlock(&p->lock);
		if (orphan) {
			job_orphan_free(j);
		} else {
			uint64_t one = 1;

			/* Cannot fail short of a counter at 2^64-2; the loop
			 * also looks at least every STOQ_PAGER_POLL_NS. */
			(void)!write(p->wakefd, &one, sizeof(one));
		}
		pthread_mutex_lock(&p->lock);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

int stoq_pager_create(unsigned threads, const unsigned long long *cpus, struct stoq_pager **out)
{
	struct stoq_pager *p;
	pthread_attr_t attr;
	cpu_set_t set;
	bool pin = false;
	int rc;

	*out = NULL;
	if (threads == 0 || threads > STOQ_PAGER_MAX_THREADS)
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (p->wakefd < 0) {
		rc = -errno;
		goto err_free;
	}
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	/* Placed where asked (body_read_cpus), else they take the affinity
	 * of this thread. A set with no CPU this process may use (a cpuset
	 * cgroup) fails the create: EINVAL. */
	CPU_ZERO(&set);
	for (unsigned int i = 0; cpus && i < STOQ_MAX_CPUS && i < CPU_SETSIZE; i++)
		if ((cpus[i / 64] >> (i % 64)) & 1) {
			CPU_SET(i, &set);
			pin = true;
		}
	pthread_attr_init(&attr);
	if (pin && (rc = -pthread_attr_setaffinity_np(&attr, sizeof(set), &set)) < 0) {
		pthread_attr_destroy(&attr);
		goto err_stop;
	}
	for (; p->n_threads < threads; p->n_threads++) {
		rc = -pthread_create(&p->threads[p->n_threads], &attr, pager_main, p);
		if (rc < 0)
			break;
		pthread_setname_np(p->threads[p->n_threads], "stoq-pager");
	}
	pthread_attr_destroy(&attr);
	if (rc < 0)
		goto err_stop;
	*out = p;
	return 0;

err_stop:
	stoq_pager_destroy(p);
	return rc;
err_free:
	free(p);
	return rc;
}

void stoq_pager_destroy(struct stoq_pager *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	/* The threads finish what is queued first: only orphans are left by
	 * then (every request was freed before its endpoint), and each lets
	 * go of its mapping and is freed by the thread that reads it. */
	for (unsigned i = 0; i < p->n_threads; i++)
		pthread_join(p->threads[i], NULL);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	close(p->wakefd);
	free(p);
}

int stoq_pager_wakefd(const struct stoq_pager *p)
{
	return p ? p->wakefd : -1;
}

void stoq_pager_drain(struct stoq_pager *p)
{
	uint64_t n;

	(void)!read(p->wakefd, &n, sizeof(n));
}

/* *@jp (allocated on first use), ready for a new job; NULL if busy or no memory. */
static struct stoq_page_job *job_get(struct stoq_page_job **jp, int *rc)
{
	struct stoq_page_job *j = *jp;

	if (!j) {
		j = calloc(1, sizeof(*j));
		if (!j) {
			*rc = -ENOMEM;
			return NULL;
		}
		j->fd = -1;
		*jp = j;
	}
	if (stoq_pager_poll(j) == -EINPROGRESS) {
		*rc = -EBUSY;
		return NULL;
	}
	j->err = 0;
	j->next = NULL;
	return j;
}

static void job_queue(struct stoq_pager *p, struct stoq_page_job *j)
{
	pthread_mutex_lock(&p->lock);
	j->state = JOB_QUEUED;
	if (p->tail)
		p->tail->next = j;
	else
		p->head = j;
	p->tail = j;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

int stoq_pager_submit(struct stoq_pager *p, struct stoq_page_job **jp, void *addr, size_t len)
{
	int rc;
	struct stoq_page_job *j = job_get(jp, &rc);

	if (!j)
		return rc;
	j->kind = JOB_POPULATE;
	j->addr = addr;
	j->len = len;
	job_queue(p, j);
	return 0;
}

/* @j's names, in one allocation: tmp = @a, dst = @b (NULL: none). */
static int job_names(struct stoq_page_job *j, const char *a, const char *b)
{
	size_t la = strlen(a) + 1, lb = b ? strlen(b) + 1 : 0;
	char *names = malloc(la + lb);

	if (!names)
		return -ENOMEM;
	free(j->tmp);
	j->tmp = memcpy(names, a, la);
	j->dst = b ? memcpy(names + la, b, lb) : NULL;
	return 0;
}

int stoq_pager_open(struct stoq_pager *p, struct stoq_page_job **jp, int dirfd, const char *rel)
{
	int rc;
	struct stoq_page_job *j = job_get(jp, &rc);

	if (!j || (rc = job_names(j, rel, NULL)) < 0)
		return rc;
	j->kind = JOB_OPEN;
	j->dirfd = dirfd;
	memset(&j->opened, 0, sizeof(j->opened));
	job_queue(p, j);
	return 0;
}

int stoq_pager_opened(struct stoq_page_job *j, struct stoq_file_open *out)
{
	int rc = stoq_pager_poll(j);

	if (rc == 0) { /* the mapping is the caller's from here */
		*out = j->opened;
		memset(&j->opened, 0, sizeof(j->opened));
	}
	return rc;
}

int stoq_pager_commit(struct stoq_pager *p, struct stoq_page_job **jp, int fd, const char *tmp,
		      const char *dst)
{
	int rc;
	struct stoq_page_job *j = job_get(jp, &rc);

	if (!j || (rc = job_names(j, tmp, dst)) < 0)
		return rc;
	j->kind = JOB_COMMIT;
	j->fd = fd; /* the job's from here: closed by the commit */
	job_queue(p, j);
	return 0;
}

int stoq_pager_write(struct stoq_pager *p, struct stoq_page_job **jp, int fd, void *buf, size_t len,
		     uint64_t off, struct stoq_sha256 *sha, uint64_t hashed)
{
	int rc, dfd;
	struct stoq_page_job *j = job_get(jp, &rc);

	if (!j)
		return rc;
	dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (dfd < 0)
		return -errno;
	j->kind = JOB_WRITE;
	j->fd = dfd;
	j->addr = buf;
	j->len = len;
	j->off = off;
	j->hash = sha != NULL;
	if (sha) { /* moved, not copied: the caller's is the job's until written */
		memcpy(&j->sha, sha, sizeof(*sha));
		j->hashed = hashed;
	}
	job_queue(p, j);
	return 0;
}

int stoq_pager_written(struct stoq_page_job *j, void **buf, struct stoq_sha256 *sha,
		       uint64_t *hashed)
{
	int rc = stoq_pager_poll(j);

	if (rc != -EINPROGRESS) {
		*buf = j->addr;
		j->addr = NULL;
		if (j->hash) {
			memcpy(sha, &j->sha, sizeof(*sha));
			*hashed = j->hashed;
			j->hash = false;
		}
	}
	return rc;
}

int stoq_pager_poll(const struct stoq_page_job *j)
{
	int st = __atomic_load_n(&j->state, __ATOMIC_ACQUIRE);

	if (st == JOB_QUEUED || st == JOB_RUNNING)
		return -EINPROGRESS;
	return -j->err;
}

void stoq_pager_release(struct stoq_pager *p, struct stoq_page_job *j, struct stoq_fmap *fm)
{
	bool now = true;

	if (!j) {
		stoq_fmap_put(fm);
		return;
	}
	pthread_mutex_lock(&p->lock);
	if (j->state == JOB_QUEUED) {
		/* Not started: out of the queue, and gone with the request. */
		struct stoq_page_job **pp = &p->head, *prev = NULL;

		while (*pp != j) {
			prev = *pp;
			pp = &(*pp)->next;
		}
		*pp = j->next;
		if (p->tail == j)
			p->tail = prev;
	} else if (j->state == JOB_RUNNING) {
		/* A thread is in madvise() on the mapping: it lets go after. */
		j->orphan = true;
		j->fmap = fm;
		now = false;
	}
	pthread_mutex_unlock(&p->lock);
	if (!now)
		return;
	if (j->state == JOB_QUEUED && j->kind == JOB_COMMIT) {
		/* A commit never started: the PUT is dropped, as it would have
		 * been without the pager. */
		close(j->fd);
		unlink(j->tmp);
	}
	if (j->kind == JOB_WRITE) { /* a block never written, or never taken back */
		if (j->state == JOB_QUEUED)
			close(j->fd);
		free(j->addr);
		if (j->hash)
			stoq_sha256_free(&j->sha);
	}
	stoq_fmap_put(fm);
	if (j->kind == JOB_OPEN && j->opened.map) /* opened, never taken */
		munmap(j->opened.map, j->opened.size);
	free(j->tmp);
	free(j);
}

uint64_t stoq_pager_cpu_ns(struct stoq_pager *p)
{
	uint64_t ns = 0;

	for (unsigned i = 0; p && i < p->n_threads; i++) {
		clockid_t id;
		struct timespec ts;

		if (pthread_getcpuclockid(p->threads[i], &id) == 0 && clock_gettime(id, &ts) == 0)
			ns += (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	}
	return ns;
}
