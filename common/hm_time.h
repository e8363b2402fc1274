/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hm_time — the clock every timer and timeout of ours counts: CLOCK_MONOTONIC.
 *
 * The wall clock (CLOCK_REALTIME) can be stepped by an operator, NTP or a
 * restored VM, by hours either way: a deadline taken on it ends at once or
 * an hour late. pthread condition variables wait on it unless told
 * otherwise, so ours are made with hm_cond_init_mono() and their deadlines
 * with hm_mono_deadline(). (tests/integration/test_cluster.sh steps a
 * member's wall clock through an LD_PRELOAD shim, clock_jump.c.)
 */
#ifndef HM_TIME_H
#define HM_TIME_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

static inline uint64_t hm_mono_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static inline uint64_t hm_mono_ms(void)
{
	return hm_mono_ns() / 1000000;
}

/* A condition variable whose timed waits count CLOCK_MONOTONIC. 0 or an errno. */
static inline int hm_cond_init_mono(pthread_cond_t *c)
{
	pthread_condattr_t a;
	int rc = pthread_condattr_init(&a);

	if (rc == 0)
		rc = pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	if (rc == 0)
		rc = pthread_cond_init(c, &a);
	pthread_condattr_destroy(&a);
	return rc;
}

/* The deadline @ms from now, for pthread_cond_timedwait() on such a variable. */
static inline struct timespec hm_mono_deadline(uint64_t ms)
{
	uint64_t t = hm_mono_ns() + ms * 1000000ull;

	return (struct timespec){.tv_sec = (time_t)(t / 1000000000ull),
				 .tv_nsec = (long)(t % 1000000000ull)};
}

#endif /* HM_TIME_H */
