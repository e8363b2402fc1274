/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ctl_store_append when the disk fails it: the record that was refused
 * (503, "not applied") must leave nothing in changes.log, so the next
 * record, which reuses its revision, is read back at replay and the log
 * still opens.
 *
 * Faults: RLIMIT_FSIZE stands in for a full disk (write stops part-way,
 * EFBIG; SIGXFSZ ignored); fdatasync and ftruncate are this file's own
 * (the test binary's definitions win over libc's for the store linked into
 * it) and fail with EIO while told to, else make the real system call.
 * Criterion runs each test in a process of its own, so neither the limit
 * nor a fault outlives its test.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ctl_node.h"
#include "ctl_rest.h"
#include "ctl_store.h"
#include "hm_time.h"

static int fail_fdatasync, fail_ftruncate; /* calls still to fail */

int fdatasync(int fd)
{
	if (fail_fdatasync > 0) {
		fail_fdatasync--;
		errno = EIO;
		return -1;
	}
	return (int)syscall(SYS_fdatasync, fd);
}

int ftruncate(int fd, off_t len)
{
	if (fail_ftruncate > 0) {
		fail_ftruncate--;
		errno = EIO;
		return -1;
	}
	return (int)syscall(SYS_ftruncate, fd, len);
}

static const struct ctl_limits lim = {.max_services = 8, .max_backends = 16, .max_nodes = 4};
static char dir[64], log_path[96];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/ctlfault.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(log_path, sizeof(log_path), "%s/changes.log", dir);
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_expect_eq(system(cmd), 0);
}

TestSuite(store_faults, .init = setup, .fini = teardown);

/* POST a service as single-node mode does: prepare, log, apply. The append's result. */
static int add_service(struct ctl_model *m, struct ctl_store *s, const char *name, int port)
{
	json_t *b = json_pack("{s:s, s:i}", "name", name, "port", port);
	struct ctl_change c;
	struct ctl_err e;
	int rc;

	cr_assert_eq(ctl_model_prepare_service(m, b, NULL, false, 0, &c, &e), 0, "%s", e.msg);
	json_decref(b);
	rc = ctl_store_append(s, m, &c);
	if (rc == 0)
		ctl_model_apply(m, &c);
	return rc;
}

static off_t log_size(void)
{
	struct stat st;

	cr_assert_eq(stat(log_path, &st), 0);
	return st.st_size;
}

/* Disk full (file size limit) for a while, starting @room bytes past the log's end. */
static void limit_file_size(off_t room)
{
	struct rlimit rl;

	signal(SIGXFSZ, SIG_IGN);
	cr_assert_eq(getrlimit(RLIMIT_FSIZE, &rl), 0);
	rl.rlim_cur = room < 0 ? rl.rlim_max : (rlim_t)(log_size() + room);
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
}

/* Reopen the directory: the model it gives, the records replayed. */
static void reopen(struct ctl_model *r, uint64_t *replayed)
{
	struct ctl_store *s;
	off_t before = log_size();

	cr_assert_eq(ctl_model_init(r, &lim), 0);
	cr_assert_eq(ctl_store_open(dir, r, &s), 0, "the log no longer opens");
	*replayed = ctl_store_replayed(s);
	cr_expect_eq(log_size(), before, "replay cut something off the log");
	ctl_store_close(s);
}

/* A store in @m, @s with one service written; the log's size after it. */
static off_t open_with_alpha(struct ctl_model *m, struct ctl_store **s)
{
	cr_assert_eq(ctl_model_init(m, &lim), 0);
	cr_assert_eq(ctl_store_open(dir, m, s), 0);
	cr_assert_eq(add_service(m, *s, "alpha", 1001), 0);
	return log_size();
}

Test(store_faults, a_write_cut_short_by_a_full_disk_leaves_nothing)
{
	struct ctl_model m, r;
	struct ctl_store *s;
	uint64_t replayed;
	off_t size;

	size = open_with_alpha(&m, &s);
	limit_file_size(20); /* the next record stops 20 bytes in */
	cr_expect_eq(add_service(&m, s, "beta", 1002), -EFBIG);
	cr_expect_eq(log_size(), size, "the refused record's first bytes stayed in the log");
	cr_expect_eq(m.revision, 1);
	limit_file_size(-1); /* space again */
	cr_expect_eq(add_service(&m, s, "gamma", 1003), 0, "revision 2 again");
	cr_expect_eq(add_service(&m, s, "delta", 1004), 0);
	cr_expect_null(ctl_store_wedged(s));
	ctl_store_close(s);

	reopen(&r, &replayed);
	cr_expect_eq(replayed, 3);
	cr_expect_eq(r.revision, 3);
	cr_expect_null(ctl_model_service_by_name(&r, "beta"));
	cr_expect_not_null(ctl_model_service_by_name(&r, "gamma"), "an acknowledged write lost");
	cr_expect_not_null(ctl_model_service_by_name(&r, "delta"));
	ctl_model_fini(&r);
	ctl_model_fini(&m);
}

/* The whole record written but not synced: not acknowledged, so not replayed either. */
Test(store_faults, a_record_whose_sync_failed_is_not_replayed)
{
	struct ctl_model m, r;
	struct ctl_store *s;
	uint64_t replayed;
	off_t size;

	size = open_with_alpha(&m, &s);
	fail_fdatasync = 1;
	cr_expect_eq(add_service(&m, s, "beta", 1002), -EIO);
	cr_expect_eq(log_size(), size, "the unsynced record stayed in the log");
	cr_expect_eq(add_service(&m, s, "gamma", 1003), 0);
	ctl_store_close(s);

	reopen(&r, &replayed);
	cr_expect_eq(replayed, 2);
	cr_expect_eq(r.revision, 2);
	cr_expect_null(ctl_model_service_by_name(&r, "beta"), "a refused write was replayed");
	cr_expect_not_null(ctl_model_service_by_name(&r, "gamma"), "an acknowledged write lost");
	ctl_model_fini(&r);
	ctl_model_fini(&m);
}

/*
 * The failed record cannot be cut off: nothing more is appended onto it
 * (every later write is a 503 naming the log), and a restart cuts the torn
 * line and opens.
 */
Test(store_faults, a_fragment_that_cannot_be_cut_stops_writes)
{
	struct ctl_node n = {.lock = PTHREAD_MUTEX_INITIALIZER};
	struct ctl_model r;
	json_t *body, *out = NULL;
	const char *msg;
	uint64_t replayed;
	off_t size;

	n.cfg.lim = lim;
	cr_assert_eq(hm_cond_init_mono(&n.changed), 0);
	cr_assert_eq(ctl_model_init(&n.model, &lim), 0);
	cr_assert_eq(ctl_store_open(dir, &n.model, &n.store), 0);
	cr_assert_eq(add_service(&n.model, n.store, "alpha", 1001), 0);
	limit_file_size(20);
	fail_ftruncate = 1;
	cr_expect_eq(add_service(&n.model, n.store, "beta", 1002), -EFBIG);
	limit_file_size(-1);
	cr_assert_not_null(ctl_store_wedged(n.store));
	cr_expect_not_null(strstr(ctl_store_wedged(n.store), log_path), "%s",
			   ctl_store_wedged(n.store));
	size = log_size();

	/* What a client is told, through the step REST writes take. */
	body = json_pack("{s:s, s:i}", "name", "gamma", "port", 1003);
	cr_expect_eq(ctl_write_apply(&n, NULL, "POST", "services", NULL, 0, body, true, &out), 503);
	msg = json_string_value(json_object_get(json_object_get(out, "error"), "message"));
	cr_expect_not_null(msg);
	cr_expect_not_null(strstr(msg ?: "", log_path), "%s", msg);
	json_decref(out);
	json_decref(body);
	cr_expect_eq(log_size(), size, "appended after a fragment");
	cr_expect_eq(n.model.revision, 1);
	ctl_store_close(n.store);

	/* The restart: the torn line goes (it was never acknowledged), the log opens. */
	cr_assert_eq(ctl_model_init(&r, &lim), 0);
	cr_assert_eq(ctl_store_open(dir, &r, &n.store), 0);
	cr_expect_eq(r.revision, 1);
	cr_expect_lt(log_size(), size, "the torn line was not cut");
	cr_expect_eq(add_service(&r, n.store, "gamma", 1003), 0, "writes again after a restart");
	ctl_store_close(n.store);
	ctl_model_fini(&r);
	reopen(&r, &replayed);
	cr_expect_eq(r.revision, 2);
	cr_expect_not_null(ctl_model_service_by_name(&r, "gamma"));
	ctl_model_fini(&r);
	ctl_model_fini(&n.model);
}
