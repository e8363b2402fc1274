/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * slowfs.c — a disk that answers only when told to, for
 * test_stoq_pager.sh (FUSE, libfuse3).
 *
 *   slowfs MOUNTPOINT SIZE MARKER   serve /big.bin (foreground)
 *   slowfs --dump SIZE              the same bytes on stdout
 *
 * Two read-only files, /big.bin and /open.bin: SIZE bytes each of a fixed
 * pattern that differs at every 4 KiB page (a page sent twice or out of
 * place shows). Every read of big.bin, and every open of open.bin (as a
 * disk that has to read an inode first), waits until the process gets
 * SIGUSR1, which opens the gate for good; the first one that waits creates
 * MARKER, so the test knows a request is held on the "disk" before it
 * looks at anything else.
 * The loop is libfuse's multi-threaded one: a waiting read holds one
 * thread, not the filesystem.
 */
#define FUSE_USE_VERSION 31
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *g_marker;
static off_t g_size;
static volatile sig_atomic_t g_gate_open;

static uint8_t pattern(uint64_t i)
{
	return (uint8_t)(i * 131u + (i >> 12) * 7u);
}

static bool is_file(const char *path)
{
	return strcmp(path, "/big.bin") == 0 || strcmp(path, "/open.bin") == 0;
}

/* Wait for SIGUSR1; the first to wait creates the marker. */
static void gate(void)
{
	static int marked;
	struct timespec ms10 = {.tv_nsec = 10000000};

	if (!g_gate_open && !__atomic_exchange_n(&marked, 1, __ATOMIC_SEQ_CST)) {
		int fd = open(g_marker, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

		if (fd >= 0)
			close(fd);
	}
	while (!g_gate_open)
		nanosleep(&ms10, NULL);
}

static void on_usr1(int sig)
{
	(void)sig;
	g_gate_open = 1;
}

static int fs_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	(void)fi;
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
	return -ENOENT;
}

static int fs_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
		      struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	(void)off;
	(void)fi;
	(void)flags;
	if (strcmp(path, "/") != 0)
		return -ENOENT;
	fill(buf, ".", NULL, 0, 0);
	fill(buf, "..", NULL, 0, 0);
	fill(buf, "big.bin", NULL, 0, 0);
	fill(buf, "open.bin", NULL, 0, 0);
	return 0;
}

static int fs_open(const char *path, struct fuse_file_info *fi)
{
	if (!is_file(path))
		return -ENOENT;
	if ((fi->flags & O_ACCMODE) != O_RDONLY)
		return -EACCES;
	if (strcmp(path, "/open.bin") == 0)
		gate();
	return 0;
}

static int fs_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	(void)fi;
	if (strcmp(path, "/big.bin") == 0)
		gate();
	if (off >= g_size)
		return 0;
	if ((off_t)size > g_size - off)
		size = (size_t)(g_size - off);
	for (size_t i = 0; i < size; i++)
		buf[i] = (char)pattern((uint64_t)off + i);
	return (int)size;
}

static const struct fuse_operations fs_ops = {
    .getattr = fs_getattr,
    .readdir = fs_readdir,
    .open = fs_open,
    .read = fs_read,
};

static void usage(FILE *to)
{
	fprintf(to, "usage: slowfs MOUNTPOINT SIZE MARKER\n"
		    "       slowfs --dump SIZE\n"
		    "Serves /big.bin and /open.bin (SIZE bytes each); every read of big.bin\n"
		    "and open of open.bin waits for SIGUSR1, the first one that waits creates\n"
		    "MARKER. --dump writes the files' bytes.\n");
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
	struct sigaction sa = {.sa_handler = on_usr1};

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
	if (argc != 4) {
		usage(stderr);
		return 2;
	}
	g_size = parse_size(argv[2]);
	g_marker = argv[3];
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR1, &sa, NULL) < 0) {
		perror("slowfs: sigaction");
		return 1;
	}
	{
		char *fargv[] = {argv[0], "-f", "-o", "ro", argv[1], NULL};

		return fuse_main(5, fargv, &fs_ops, NULL);
	}
}
