/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fault injection for tests/integration/test_cluster.sh, loaded with
 * LD_PRELOAD: the wall clock (CLOCK_REALTIME and its coarse variant,
 * gettimeofday, time) reads as the real one plus the whole seconds written
 * in the file named by HMESH_TEST_CLOCK_OFFSET (absent or empty: 0), read
 * again at every call so a test can step it while the process runs.
 * CLOCK_MONOTONIC is left alone: it never jumps. A deadline the process
 * computes from the shifted clock and hands to the kernel (a timed wait on
 * a CLOCK_REALTIME condition variable) then ends early or late exactly as
 * if the clock had been stepped between the two.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static long offset_s(void)
{
	const char *path = getenv("HMESH_TEST_CLOCK_OFFSET");
	char buf[32];
	ssize_t n;
	int fd;

	if (!path || (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	return strtol(buf, NULL, 10);
}

int clock_gettime(clockid_t id, struct timespec *ts)
{
	static int (*real)(clockid_t, struct timespec *);
	int rc;

	if (!real)
		real = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT, "clock_gettime");
	rc = real(id, ts);
	if (rc == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE))
		ts->tv_sec += offset_s();
	return rc;
}

int gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
	static int (*real)(struct timeval *restrict, void *restrict);
	int rc;

	if (!real)
		real = (int (*)(struct timeval *restrict, void *restrict))dlsym(RTLD_NEXT,
										  "gettimeofday");
	rc = real(tv, tz);
	if (rc == 0 && tv)
		tv->tv_sec += offset_s();
	return rc;
}

time_t time(time_t *t)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (t)
		*t = ts.tv_sec;
	return ts.tv_sec;
}
