/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ctl_sync against a fake dataplane (fake_dp.h): a refusal is retried after
 * a pause or at the next change, not at once in a loop, and logged once.
 *
 * No timing threshold decides a pass: the pause is set far beyond the
 * test's length (refusal_retry_ms), so the fixed thread must not push again
 * until the test makes a change; the test waits on the fake's counts. The
 * windows in which a second push must NOT arrive only bound how long a
 * faulty thread gets to show itself; a correct one passes however slow the
 * machine is.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl_node.h"
#include "ctl_rest.h"
#include "fake_dp.h"

static char dir[64];
static struct ctl_node node;
static struct fake_dp dp;

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/ctlsync.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_expect_eq(system(cmd), 0);
}

TestSuite(sync, .init = setup, .fini = teardown, .timeout = 60);

static void node_init(void)
{
	memset(&node, 0, sizeof(node));
	pthread_mutex_init(&node.lock, NULL);
	cr_assert_eq(hm_cond_init_mono(&node.changed), 0);
	node.cfg.lim = (struct ctl_limits){.max_services = 8, .max_backends = 16, .max_nodes = 4};
	snprintf(node.cfg.dataplane_socket, sizeof(node.cfg.dataplane_socket), "%s/dp.sock", dir);
	/* Longer than the test: only a change may bring the next push. */
	node.cfg.refusal_retry_ms = 600000;
	cr_assert_eq(ctl_model_init(&node.model, &node.cfg.lim), 0);
}

/* A write as the REST layer makes it (without a store); signals the sync thread. */
static void write_obj(const char *coll, const char *body)
{
	json_t *j = json_loads(body, 0, NULL), *out = NULL;
	int st;

	cr_assert_not_null(j);
	pthread_mutex_lock(&node.lock);
	st = ctl_write_apply(&node, NULL, "POST", coll, NULL, 0, j, false, &out);
	pthread_mutex_unlock(&node.lock);
	cr_assert_eq(st, 201, "POST %s %s: %d", coll, body, st);
	json_decref(out);
	json_decref(j);
}

static uint64_t dp_errors(void)
{
	uint64_t v;

	pthread_mutex_lock(&node.lock);
	v = node.dp.errors;
	pthread_mutex_unlock(&node.lock);
	return v;
}

/* Until the dataplane has committed the model's revision (10 s at most). */
static bool wait_synced(void)
{
	for (int i = 0; i < 1000; i++) {
		bool ok;

		pthread_mutex_lock(&node.lock);
		ok = node.dp.synced_revision == node.model.revision;
		pthread_mutex_unlock(&node.lock);
		if (ok)
			return true;
		usleep(10000);
	}
	return false;
}

/* Stop the sync thread @thr, then the fake dataplane. */
static void sync_stop(pthread_t thr)
{
	pthread_mutex_lock(&node.lock);
	node.stop = true;
	pthread_cond_broadcast(&node.changed);
	pthread_mutex_unlock(&node.lock);
	pthread_join(thr, NULL);
	fake_dp_stop(&dp);
}

/* Lines of @path that contain @what. */
static int count_lines(const char *path, const char *what)
{
	FILE *f = fopen(path, "r");
	char line[512];
	int n = 0;

	cr_assert_not_null(f);
	while (fgets(line, sizeof(line), f))
		n += strstr(line, what) != NULL;
	fclose(f);
	return n;
}

Test(sync, a_refusal_waits_for_a_change_and_is_logged_once)
{
	char log[96];
	unsigned long be, begins;
	pthread_t thr;
	int saved, fd;

	node_init();
	cr_assert_eq(fake_dp_start(&dp, node.cfg.dataplane_socket), 0);
	fake_dp_refuse(&dp, HM_CTL_BACKEND_SET, -EINVAL, "backend refused (test)");
	write_obj("services", "{\"name\":\"a\",\"port\":443}");
	write_obj("backends", "{\"service\":\"a\",\"address\":\"10.0.0.1\",\"port\":80}");
	/* The thread's log lines (stderr) go to a file the test reads. */
	snprintf(log, sizeof(log), "%s/stderr", dir);
	fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert_geq(fd, 0);
	saved = dup(2);
	dup2(fd, 2);
	close(fd);

	cr_assert_eq(ctl_sync_start(&node, &thr), 0);
	/* First push: refused at the backend. */
	cr_assert_geq(fake_dp_wait(&dp, HM_CTL_BACKEND_SET, 1, 10000), 1);
	cr_assert_eq(fake_dp_count(&dp, HM_CTL_SYNC_BEGIN), 1);
	/*
	 * No change since: no second push. (The busy loop this guards
	 * against made thousands within this window.)
	 */
	cr_expect_eq(fake_dp_wait(&dp, HM_CTL_SYNC_BEGIN, 2, 500), 1,
		     "the full state went again with no change and no pause");

	/* A change ends the pause: one more full push, refused the same way. */
	write_obj("backends", "{\"service\":\"a\",\"address\":\"10.0.0.2\",\"port\":80}");
	cr_assert_geq(fake_dp_wait(&dp, HM_CTL_BACKEND_SET, 2, 10000), 2);
	cr_expect_eq(fake_dp_wait(&dp, HM_CTL_SYNC_BEGIN, 3, 500), 2,
		     "one change brought more than one push");
	cr_expect_eq(dp_errors(), 2, "each refusal is counted (/v1/health)");

	/* Taken: the refusal is over, the model committed. */
	fake_dp_refuse(&dp, 0, 0, NULL);
	write_obj("backends", "{\"service\":\"a\",\"address\":\"10.0.0.3\",\"port\":80}");
	cr_assert(wait_synced(), "the dataplane never committed the model");

	/* The same refusal after a good push is news again: logged. */
	be = fake_dp_count(&dp, HM_CTL_BACKEND_SET);
	begins = fake_dp_count(&dp, HM_CTL_SYNC_BEGIN);
	fake_dp_refuse(&dp, HM_CTL_BACKEND_SET, -EINVAL, "backend refused (test)");
	write_obj("backends", "{\"service\":\"a\",\"address\":\"10.0.0.4\",\"port\":80}");
	cr_assert_geq(fake_dp_wait(&dp, HM_CTL_BACKEND_SET, be + 1, 10000), be + 1);
	/* A refused delta: the full state is owed, but after the pause as well. */
	cr_expect_eq(fake_dp_wait(&dp, HM_CTL_SYNC_BEGIN, begins + 1, 500), begins,
		     "a refused delta was followed by a full push with no change and no pause");

	sync_stop(thr);
	dup2(saved, 2);
	close(saved);

	cr_expect_eq(count_lines(log, "backend refused (test)"), 2,
		     "two refusals in a row are one log line; after a good push, one more");
	cr_expect_eq(dp_errors(), 3);
	ctl_model_fini(&node.model);
}

/* The pause ends by itself too: a dataplane that takes the state later gets it unasked. */
Test(sync, a_refusal_is_retried_after_the_pause)
{
	pthread_t thr;

	node_init();
	node.cfg.refusal_retry_ms = 20;
	cr_assert_eq(fake_dp_start(&dp, node.cfg.dataplane_socket), 0);
	fake_dp_refuse(&dp, HM_CTL_BACKEND_SET, -EINVAL, "backend refused (test)");
	write_obj("services", "{\"name\":\"a\",\"port\":443}");
	write_obj("backends", "{\"service\":\"a\",\"address\":\"10.0.0.1\",\"port\":80}");
	cr_assert_eq(ctl_sync_start(&node, &thr), 0);
	cr_assert_geq(fake_dp_wait(&dp, HM_CTL_BACKEND_SET, 1, 10000), 1);
	fake_dp_refuse(&dp, 0, 0, NULL);
	cr_expect(wait_synced(), "no retry after the pause");
	cr_expect_geq(fake_dp_count(&dp, HM_CTL_SYNC_BEGIN), 2);

	sync_stop(thr);
	ctl_model_fini(&node.model);
}
