/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * slowfs.c — a disk that answers only when told to, for
 * test_stoq_pager.sh (FUSE, libfuse3).
 *
 *   slowfs MOUNTPOINT SIZE MARKER WMARKER BACKDIR   mount (foreground)
 *   slowfs --dump SIZE                              big.bin's bytes on stdout
 *
 * Two read-only files, /big.bin and /open.bin: SIZE bytes each of a fixed
 * pattern that differs at every 4 KiB page (a page sent twice or out of
 * place shows). Every read of big.bin, and every open of open.bin (as a
 * disk that has to read an inode first), waits until the process gets
 * SIGUSR1, which opens the gate for good; the first one that waits creates
 * MARKER, so the test knows a request is held on the "disk" before it
 * looks at anything else.
 *
 * Every other name in the root is a real file kept in BACKDIR (a directory
 * on a normal filesystem; no subdirectories), so a server can create, write,
 * fsync and rename files here. Every write to such a file waits, the same
 * way, for SIGUSR2 and the first one creates WMARKER: the test can hold a
 * server's writes on the "disk". Writeback caching stays off so that a
 * write() reaches us, and blocks the writer, before it returns.
 *
 * The loop is libfuse's multi-threaded one: a waiting read or write holds
 * one thread, not the filesystem.
 */
#define _GNU_SOURCE /* renameat2, RENAME_NOREPLACE */
#define FUSE_USE_VERSION 31
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

/* A gate that stays shut until its signal arrives, then open for good. */
struct gate {
	const char *marker; /* created by the first request that waits */
	volatile sig_atomic_t open;
	int marked;
};

/* fi->fh of an open big.bin/open.bin: they have no backing fd. */
#define FIXED_FH UINT64_MAX

static off_t g_size;
static int g_backfd = -1; /* BACKDIR, O_RDONLY | O_DIRECTORY */
static struct gate g_read_gate;  /* SIGUSR1: reads of big.bin, opens of open.bin */
static struct gate g_write_gate; /* SIGUSR2: writes to backing files */

static uint8_t pattern(uint64_t i)
{
	return (uint8_t)(i * 131u + (i >> 12) * 7u);
}

static bool is_file(const char *path)
{
	return strcmp(path, "/big.bin") == 0 || strcmp(path, "/open.bin") == 0;
}

/*
 * The name of PATH in BACKDIR, or NULL when PATH is not directly in the
 * root (there are no subdirectories).
 */
static const char *backing_name(const char *path)
{
	if (path[0] != '/' || path[1] == '\0' || strchr(path + 1, '/'))
		return NULL;
	return path + 1;
}

/* *@name: PATH's name in BACKDIR, for an operation that changes it: 0, or
 * -EACCES for the two fixed files, -ENOENT for a name in a subdirectory. */
static int writable(const char *path, const char **name)
{
	if (is_file(path))
		return -EACCES;
	*name = backing_name(path);
	return *name ? 0 : -ENOENT;
}

static bool has_fd(const struct fuse_file_info *fi)
{
	return fi && fi->fh != FIXED_FH;
}

/* Wait for the gate's signal; the first to wait creates its marker. */
static void gate(struct gate *g)
{
	struct timespec ms10 = {.tv_nsec = 10000000};

	if (!g->open && !__atomic_exchange_n(&g->marked, 1, __ATOMIC_SEQ_CST)) {
		int fd = open(g->marker, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

		if (fd >= 0)
			close(fd);
	}
	while (!g->open)
		nanosleep(&ms10, NULL);
}

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		g_read_gate.open = 1;
	else if (sig == SIGUSR2)
		g_write_gate.open = 1;
}

static int fs_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	const char *name;

	memset(st, 0, sizeof(*st));
	if (strcmp(path, "/") == 0) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
		return 0;
	}
	if (is_file(path)) {
		st->st_mode = S_IFREG | 0444;
		st->st_nlink = 1;
		st->st_size = g_size;
		return 0;
	}
	if (has_fd(fi))
		return fstat((int)fi->fh, st) < 0 ? -errno : 0;
	name = backing_name(path);
	if (!name)
		return -ENOENT;
	return fstatat(g_backfd, name, st, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

static int fs_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
		      struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	struct dirent *de;
	DIR *dir;
	int fd;

	(void)off;
	(void)fi;
	(void)flags;
	if (strcmp(path, "/") != 0)
		return -ENOENT;
	/* A fresh fd per listing: threads must not share one directory offset. */
	fd = openat(g_backfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	dir = fdopendir(fd);
	if (!dir) {
		int err = errno;

		close(fd);
		return -err;
	}
	fill(buf, ".", NULL, 0, 0);
	fill(buf, "..", NULL, 0, 0);
	fill(buf, "big.bin", NULL, 0, 0);
	fill(buf, "open.bin", NULL, 0, 0);
	while ((de = readdir(dir))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		fill(buf, de->d_name, NULL, 0, 0);
	}
	closedir(dir);
	return 0;
}

static int fs_mkdir(const char *path, mode_t mode)
{
	(void)path;
	(void)mode;
	return -EPERM; /* the root is the only directory */
}

static int fs_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	const char *name;
	int fd, rc;

	if ((rc = writable(path, &name)) < 0)
		return rc;
	fd = openat(g_backfd, name, fi->flags | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	fi->fh = (uint64_t)fd;
	return 0;
}

static int fs_open(const char *path, struct fuse_file_info *fi)
{
	const char *name;
	int fd;

	if (is_file(path)) {
		if ((fi->flags & O_ACCMODE) != O_RDONLY)
			return -EACCES;
		if (strcmp(path, "/open.bin") == 0)
			gate(&g_read_gate);
		fi->fh = FIXED_FH;
		return 0;
	}
	name = backing_name(path);
	if (!name)
		return -ENOENT;
	fd = openat(g_backfd, name, fi->flags | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	fi->fh = (uint64_t)fd;
	return 0;
}

static int fs_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	ssize_t n;

	if (has_fd(fi)) {
		n = pread((int)fi->fh, buf, size, off);
		return n < 0 ? -errno : (int)n;
	}
	if (strcmp(path, "/big.bin") == 0)
		gate(&g_read_gate);
	if (off >= g_size)
		return 0;
	if ((off_t)size > g_size - off)
		size = (size_t)(g_size - off);
	for (size_t i = 0; i < size; i++)
		buf[i] = (char)pattern((uint64_t)off + i);
	return (int)size;
}

static int fs_write(const char *path, const char *buf, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	ssize_t n;

	(void)path;
	if (!has_fd(fi))
		return -EACCES;
	gate(&g_write_gate);
	n = pwrite((int)fi->fh, buf, size, off);
	return n < 0 ? -errno : (int)n;
}

static int fs_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	const char *name;
	int fd, rc;

	if ((rc = writable(path, &name)) < 0)
		return rc;
	if (has_fd(fi))
		return ftruncate((int)fi->fh, size) < 0 ? -errno : 0;
	fd = openat(g_backfd, name, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	rc = ftruncate(fd, size) < 0 ? -errno : 0;
	close(fd);
	return rc;
}

static int fs_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	const char *name;
	int rc;

	if ((rc = writable(path, &name)) < 0)
		return rc;
	if (has_fd(fi))
		return fchmod((int)fi->fh, mode) < 0 ? -errno : 0;
	return fchmodat(g_backfd, name, mode, 0) < 0 ? -errno : 0;
}

static int fs_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi)
{
	const char *name;
	int rc;

	if ((rc = writable(path, &name)) < 0)
		return rc;
	if (has_fd(fi))
		return futimens((int)fi->fh, tv) < 0 ? -errno : 0;
	return utimensat(g_backfd, name, tv, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

static int fs_unlink(const char *path)
{
	const char *name;
	int rc;

	if ((rc = writable(path, &name)) < 0)
		return rc;
	return unlinkat(g_backfd, name, 0) < 0 ? -errno : 0;
}

static int fs_rename(const char *from, const char *to, unsigned int flags)
{
	const char *src, *dst;
	int rc;

	if (is_file(from) || is_file(to))
		return -EACCES;
	src = backing_name(from);
	dst = backing_name(to);
	if (!src || !dst)
		return -ENOENT;
	if (flags == 0)
		rc = renameat(g_backfd, src, g_backfd, dst);
	else if (flags == RENAME_NOREPLACE)
		rc = renameat2(g_backfd, src, g_backfd, dst, RENAME_NOREPLACE);
	else
		return -EINVAL; /* RENAME_EXCHANGE, RENAME_WHITEOUT: no test needs them */
	return rc < 0 ? -errno : 0;
}

static int fs_flush(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	(void)fi;
	return 0; /* every write already went to BACKDIR */
}

static int fs_release(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	if (has_fd(fi))
		close((int)fi->fh);
	return 0;
}

static int fs_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	int rc;

	(void)path;
	if (!has_fd(fi))
		return 0; /* big.bin and open.bin hold nothing to sync */
	rc = datasync ? fdatasync((int)fi->fh) : fsync((int)fi->fh);
	return rc < 0 ? -errno : 0;
}

static int fs_fsyncdir(const char *path, int datasync, struct fuse_file_info *fi)
{
	(void)path;
	(void)datasync;
	(void)fi;
	/* Makes the names created or renamed in BACKDIR durable. */
	return fsync(g_backfd) < 0 ? -errno : 0;
}

static int fs_statfs(const char *path, struct statvfs *sv)
{
	(void)path;
	return fstatvfs(g_backfd, sv) < 0 ? -errno : 0;
}

static const struct fuse_operations fs_ops = {
    .getattr = fs_getattr,
    .readdir = fs_readdir,
    .mkdir = fs_mkdir,
    .create = fs_create,
    .open = fs_open,
    .read = fs_read,
    .write = fs_write,
    .truncate = fs_truncate,
    .chmod = fs_chmod,
    .utimens = fs_utimens,
    .unlink = fs_unlink,
    .rename = fs_rename,
    .flush = fs_flush,
    .release = fs_release,
    .fsync = fs_fsync,
    .fsyncdir = fs_fsyncdir,
    .statfs = fs_statfs,
};

static void usage(FILE *to)
{
	fprintf(to, "usage: slowfs MOUNTPOINT SIZE MARKER WMARKER BACKDIR\n"
		    "       slowfs --dump SIZE\n"
		    "Serves /big.bin and /open.bin (SIZE bytes each, read-only); every read of\n"
		    "big.bin and open of open.bin waits for SIGUSR1, the first one that waits\n"
		    "creates MARKER. Any other name is a file kept in the directory BACKDIR;\n"
		    "every write to one waits for SIGUSR2, the first one that waits creates\n"
		    "WMARKER. --dump writes the fixed files' bytes.\n");
}

static off_t parse_size(const char *s)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || v <= 0) {
		fprintf(stderr, "slowfs: SIZE \"%s\" is not a positive byte count\n", s);
		exit(2);
	}
	return (off_t)v;
}

int main(int argc, char **argv)
{
	struct sigaction sa = {.sa_handler = on_signal};

	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		usage(stdout);
		return 0;
	}
	if (argc == 3 && strcmp(argv[1], "--dump") == 0) {
		static uint8_t blk[1 << 16];
		off_t n = parse_size(argv[2]);

		for (off_t at = 0; at < n;) {
			size_t k = n - at < (off_t)sizeof(blk) ? (size_t)(n - at) : sizeof(blk);

			for (size_t i = 0; i < k; i++)
				blk[i] = pattern((uint64_t)at + i);
			if (fwrite(blk, 1, k, stdout) != k) {
				perror("slowfs: stdout");
				return 1;
			}
			at += (off_t)k;
		}
		return fflush(stdout) ? 1 : 0;
	}
	if (argc != 6) {
		usage(stderr);
		return 2;
	}
	g_size = parse_size(argv[2]);
	g_read_gate.marker = argv[3];
	g_write_gate.marker = argv[4];
	g_backfd = open(argv[5], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (g_backfd < 0) {
		fprintf(stderr, "slowfs: BACKDIR \"%s\": %s\n", argv[5], strerror(errno));
		return 1;
	}
	/* The kernel already applied the caller's umask to create()'s mode. */
	umask(0);
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR1, &sa, NULL) < 0 || sigaction(SIGUSR2, &sa, NULL) < 0) {
		perror("slowfs: sigaction");
		return 1;
	}
	{
		char *fargv[] = {argv[0], "-f", argv[1], NULL};

		return fuse_main(3, fargv, &fs_ops, NULL);
	}
}
