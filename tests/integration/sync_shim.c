/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fsync and fdatasync under test, for tests/integration/test_cluster.sh,
 * loaded with LD_PRELOAD. Two faults, each on when its variable is set:
 *
 * HMESH_TEST_FSYNC_FAIL=FILE: while FILE exists, both fail with EIO (what a
 *   dying disk or a lost NFS server gives).
 * HMESH_TEST_SYNC_LOG=FILE: after each successful sync of a regular file,
 *   "DEV INO SIZE PATH" is appended to FILE (one write with O_APPEND, so
 *   members sharing it do not interleave lines). After every member is
 *   killed with SIGKILL, the test cuts each file back to the size last
 *   recorded for its inode: the worst a power cut can leave of an
 *   append-only log, where no byte written after the last sync survives.
 *   (A kill -9 alone keeps the page cache, so it cannot show a missing
 *   sync.)
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static int failing(void)
{
	const char *flag = getenv("HMESH_TEST_FSYNC_FAIL");

	return flag && access(flag, F_OK) == 0;
}

/* Record @fd's size after a sync that succeeded; errors here only lose a record. */
static void record(int fd)
{
	static int log_fd = -1;
	const char *path = getenv("HMESH_TEST_SYNC_LOG");
	char link[64], target[4096], line[4200];
	struct stat st;
	ssize_t n;
	int len;

	if (!path || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, target, sizeof(target) - 1);
	if (n < 0)
		return;
	target[n] = '\0';
	if (log_fd < 0)
		log_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (log_fd < 0)
		return;
	len = snprintf(line, sizeof(line), "%llu %llu %lld %s\n", (unsigned long long)st.st_dev,
		       (unsigned long long)st.st_ino, (long long)st.st_size, target);
	if (len > 0 && len < (int)sizeof(line)) {
		ssize_t w = write(log_fd, line, (size_t)len);

		(void)w;
	}
}

/* The C library's @name, or EIO while the fail flag exists; successes are recorded. */
static int sync_under_test(const char *name, int (**real)(int), int fd)
{
	int rc;

	if (failing()) {
		errno = EIO;
		return -1;
	}
	if (!*real)
		*real = (int (*)(int))dlsym(RTLD_NEXT, name);
	rc = (*real)(fd);
	if (rc == 0)
		record(fd);
	return rc;
}

int fsync(int fd)
{
	static int (*real)(int);

	return sync_under_test("fsync", &real, fd);
}

int fdatasync(int fd)
{
	static int (*real)(int);

	return sync_under_test("fdatasync", &real, fd);
}
