/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fault injection for tests/integration/test_cluster.sh, loaded with
 * LD_PRELOAD: while the file named by HMESH_TEST_FSYNC_FAIL exists, fsync
 * and fdatasync fail with EIO (what a dying disk or a lost NFS server
 * gives); otherwise they are the C library's.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

static int failing(void)
{
	const char *flag = getenv("HMESH_TEST_FSYNC_FAIL");

	return flag && access(flag, F_OK) == 0;
}

/* The C library's @name, or EIO while the flag file exists. */
static int sync_or_fail(const char *name, int (**real)(int), int fd)
{
	if (failing()) {
		errno = EIO;
		return -1;
	}
	if (!*real)
		*real = (int (*)(int))dlsym(RTLD_NEXT, name);
	return (*real)(fd);
}

int fsync(int fd)
{
	static int (*real)(int);

	return sync_or_fail("fsync", &real, fd);
}

int fdatasync(int fd)
{
	static int (*real)(int);

	return sync_or_fail("fdatasync", &real, fd);
}
