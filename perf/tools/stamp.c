/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hmesh-stamp — the first thing a container runs in perf/runtime.sh: print
 * CLOCK_REALTIME in nanoseconds and exit. Linked statically so that it runs
 * in a rootfs with nothing else; the time it prints is when the container's
 * process began, which the bench subtracts from when it asked for a start.
 */
#include <stdio.h>
#include <time.h>

int main(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	printf("%lld\n", (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
	return 0;
}
