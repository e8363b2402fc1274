/* SPDX-License-Identifier: BSD-3-Clause */
/* ctl_model + ctl_store: validation, versions, cascades, replay, torn tails, corruption. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl_model.h"
#include "ctl_store.h"

static const struct ctl_limits lim = {.max_services = 8, .max_backends = 16, .max_nodes = 4};
static char dir[64];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/ctlstate.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_expect_eq(system(cmd), 0);
}

TestSuite(state, .init = setup, .fini = teardown);

/* Prepare + (optionally) log + apply, as the REST layer does. */
static int change(struct ctl_model *m, struct ctl_store *s, int kind, const char *body,
		  const char *existing, bool del, struct ctl_err *e)
{
	json_t *j = body ? json_loads(body, 0, NULL) : NULL;
	struct ctl_change c;
	int rc;

	static const char *const coll[] = {[CTL_SERVICE] = "services", [CTL_BACKEND] = "backends",
					   [CTL_LINK] = "links", [CTL_GROUP] = "containers",
					   [CTL_CONFIG] = "config"};

	rc = ctl_model_prepare(m, coll[kind], j, existing, del, 0, &c, e);
	json_decref(j);
	if (rc < 0)
		return rc;
	if (s)
		cr_assert_eq(ctl_store_append(s, m, &c), 0);
	ctl_model_apply(m, &c);
	return 0;
}

Test(state, errors_name_the_field_and_leave_the_model_alone)
{
	struct ctl_model m;
	struct ctl_err e;

	cr_assert_eq(ctl_model_init(&m, &lim), 0);
	cr_assert_eq(
	    change(&m, NULL, CTL_SERVICE, "{\"name\":\"a\",\"port\":443}", NULL, false, &e), 0);
	cr_expect_eq(change(&m, NULL, CTL_SERVICE, "{\"name\":\"b\"}", NULL, false, &e), -1);
	cr_expect_str_eq(e.field, "port");
	cr_expect_eq(
	    change(&m, NULL, CTL_SERVICE, "{\"name\":\"b\",\"port\":443}", NULL, false, &e), -1);
	cr_expect_eq(e.status, 409);
	cr_expect_str_eq(e.field, "port");
	cr_expect_eq(change(&m, NULL, CTL_BACKEND,
			    "{\"service\":\"a\",\"address\":\"::1\",\"port\":1,\"weight\":0}", NULL,
			    false, &e),
		     -1);
	cr_expect_str_eq(e.field, "weight");
	cr_expect_eq(change(&m, NULL, CTL_BACKEND,
			    "{\"service\":\"a\",\"address\":\"1.2.3.4\",\"port\":1,\"node\":4}",
			    NULL, false, &e),
		     -1);
	cr_expect_str_eq(e.field, "node");
	cr_expect_eq(change(&m, NULL, CTL_LINK, "{\"a\":1}", NULL, false, &e), -1);
	cr_expect_str_eq(e.field, "b");
	cr_expect_eq(change(&m, NULL, CTL_SERVICE, "{\"port\":1}", "zzz", false, &e), -1);
	cr_expect_eq(e.status, 404);
	cr_expect_eq(m.revision, 1, "only the one good change applied");
	ctl_model_fini(&m);
}

Test(state, versions_and_cascading_service_delete)
{
	struct ctl_model m;
	struct ctl_err e;
	struct ctl_change c;
	json_t *j;

	cr_assert_eq(ctl_model_init(&m, &lim), 0);
	change(&m, NULL, CTL_SERVICE, "{\"name\":\"a\",\"port\":443}", NULL, false, &e);
	change(&m, NULL, CTL_BACKEND, "{\"service\":\"a\",\"address\":\"10.0.0.1\",\"port\":1}",
	       NULL, false, &e);
	change(&m, NULL, CTL_BACKEND, "{\"service\":\"a\",\"address\":\"10.0.0.2\",\"port\":2}",
	       NULL, false, &e);
	cr_assert(m.be[0].used && m.be[1].used);
	j = json_loads("{\"weight\":5,\"version\":1}", 0, NULL);
	cr_assert_eq(ctl_model_prepare_backend(&m, j, "0", false, 0, &c, &e), 0);
	ctl_model_apply(&m, &c);
	cr_expect_eq(m.be[0].version, 2);
	cr_expect_eq(m.be[0].weight, 5);
	/* The same stale version again: 409. */
	cr_expect_eq(ctl_model_prepare_backend(&m, j, "0", false, 0, &c, &e), -1);
	cr_expect_eq(e.status, 409);
	json_decref(j);
	cr_expect_eq(ctl_model_prepare_service(&m, NULL, "a", true, 7, &c, &e), -1);
	cr_expect_eq(e.status, 409);
	cr_assert_eq(ctl_model_prepare_service(&m, NULL, "a", true, 1, &c, &e), 0);
	ctl_model_apply(&m, &c);
	cr_expect(!m.be[0].used && !m.be[1].used, "a service's backends go with it");
	ctl_model_fini(&m);
}

Test(state, replay_restores_everything_after_compaction)
{
	struct ctl_model m, r;
	struct ctl_store *s;
	struct ctl_err e;
	char name[32], body[160];

	cr_assert_eq(ctl_model_init(&m, &lim), 0);
	cr_assert_eq(ctl_store_open(dir, &m, &s), 0);
	change(&m, s, CTL_SERVICE, "{\"name\":\"a\",\"port\":443}", NULL, false, &e);
	for (int i = 0; i < 10; i++) {
		snprintf(body, sizeof(body),
			 "{\"service\":\"a\",\"address\":\"10.0.0.%d\",\"port\":%d}", i, 100 + i);
		cr_assert_eq(change(&m, s, CTL_BACKEND, body, NULL, false, &e), 0, "%s", e.msg);
	}
	cr_assert_eq(ctl_store_compact(s, &m), 0);
	change(&m, s, CTL_LINK, "{\"a\":0,\"b\":3}", NULL, false, &e);
	snprintf(name, sizeof(name), "%d", 4);
	change(&m, s, CTL_BACKEND, NULL, name, true, &e);
	ctl_store_close(s);

	cr_assert_eq(ctl_model_init(&r, &lim), 0);
	cr_assert_eq(ctl_store_open(dir, &r, &s), 0);
	cr_expect_eq(ctl_store_replayed(s), 2, "two records after the snapshot");
	cr_expect_eq(r.revision, m.revision);
	cr_expect_eq(memcmp(r.svc, m.svc, lim.max_services * sizeof(*m.svc)), 0);
	cr_expect_eq(memcmp(r.be, m.be, lim.max_backends * sizeof(*m.be)), 0);
	cr_expect_eq(r.n_links, 1);
	ctl_store_close(s);
	ctl_model_fini(&r);
	ctl_model_fini(&m);
}

static void append_raw(const char *text)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "%s/changes.log", dir);
	fd = open(path, O_WRONLY | O_APPEND);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

Test(state, torn_tail_is_cut_but_damage_refuses_to_start)
{
	struct ctl_model m;
	struct ctl_store *s;
	struct ctl_err e;

	cr_assert_eq(ctl_model_init(&m, &lim), 0);
	cr_assert_eq(ctl_store_open(dir, &m, &s), 0);
	change(&m, s, CTL_SERVICE, "{\"name\":\"a\",\"port\":443}", NULL, false, &e);
	ctl_store_close(s);
	ctl_model_fini(&m);
	/* A write cut short by kill -9: no newline, no CRC. */
	append_raw("{\"rev\":2,\"op\":\"put\",\"kind\":\"serv");
	cr_assert_eq(ctl_model_init(&m, &lim), 0);
	cr_assert_eq(ctl_store_open(dir, &m, &s), 0);
	cr_expect_eq(m.revision, 1);
	/* The store appends cleanly after the cut. */
	cr_expect_eq(change(&m, s, CTL_SERVICE, "{\"name\":\"b\",\"port\":444}", NULL, false, &e),
		     0);
	ctl_store_close(s);
	ctl_model_fini(&m);
	cr_assert_eq(ctl_model_init(&m, &lim), 0);
	cr_assert_eq(ctl_store_open(dir, &m, &s), 0);
	cr_expect_eq(m.revision, 2);
	ctl_store_close(s);
	ctl_model_fini(&m);
	/* A bad CRC in the middle, with a good line after it: damage, not a torn write. */
	append_raw("{\"rev\":3}\t00000000\n");
	cr_assert_eq(ctl_model_init(&m, &lim), 0);
	cr_assert_eq(ctl_store_open(dir, &m, &s), 0, "a bad last line is a torn tail");
	change(&m, s, CTL_SERVICE, "{\"name\":\"c\",\"port\":445}", NULL, false, &e);
	ctl_store_close(s);
	ctl_model_fini(&m);
	append_raw("{\"rev\":9}\t00000000\n");
	append_raw("{\"rev\":9}\t00000000\n");
	cr_assert_eq(ctl_model_init(&m, &lim), 0);
	cr_expect_eq(ctl_store_open(dir, &m, &s), -EBADMSG);
	ctl_model_fini(&m);
}

/* Container groups and runtime settings: checked by field, kept across replay. */
Test(state, containers_and_config_validate_and_replay)
{
	struct ctl_model m, r;
	struct ctl_store *s;
	struct ctl_err e;
	static const struct {
		int kind;
		const char *body, *existing, *field;
		int status;
	} bad[] = {
	    {CTL_GROUP, "{\"service\":\"a\",\"replicas\":1,\"bundle\":\"rel\",\"port\":1}", NULL,
	     "bundle", 400},
	    {CTL_GROUP, "{\"service\":\"a\",\"replicas\":1,\"bundle\":\"/x/../y\",\"port\":1}",
	     NULL, "bundle", 400},
	    {CTL_GROUP, "{\"service\":\"zz\",\"replicas\":1,\"bundle\":\"/b\",\"port\":1}", NULL,
	     "service", 400},
	    {CTL_GROUP,
	     "{\"service\":\"a\",\"replicas\":5,\"bundle\":\"/b\",\"port\":1,"
	     "\"flows_per_replica\":10,\"min_replicas\":1,\"max_replicas\":3}",
	     NULL, "replicas", 400},
	    {CTL_GROUP,
	     "{\"service\":\"a\",\"replicas\":2,\"bundle\":\"/b\",\"port\":1,"
	     "\"flows_per_replica\":10,\"min_replicas\":3,\"max_replicas\":2}",
	     NULL, "max_replicas", 400},
	    {CTL_CONFIG, "{\"dataplane\":{\"mfn_rate_limit\":0}}", NULL, "dataplane.mfn_rate_limit",
	     400},
	    {CTL_CONFIG, "{\"dataplane\":{\"what\":1}}", NULL, "dataplane.what", 400},
	    {CTL_CONFIG, "{\"dataplane\":{},\"version\":7}", NULL, "version", 409},
	};

	cr_assert_eq(ctl_model_init(&m, &lim), 0);
	cr_assert_eq(ctl_store_open(dir, &m, &s), 0);
	cr_assert_eq(change(&m, s, CTL_SERVICE, "{\"name\":\"a\",\"port\":443}", NULL, false, &e), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t rev = m.revision;

		cr_expect_eq(change(&m, s, bad[i].kind, bad[i].body, bad[i].existing, false, &e), -1,
			     "accepted %s", bad[i].body);
		cr_expect_str_eq(e.field, bad[i].field, "%s", bad[i].body);
		cr_expect_eq(e.status, bad[i].status, "%s", bad[i].body);
		cr_expect_eq(m.revision, rev, "a refused change moved the model");
	}
	cr_assert_eq(change(&m, s, CTL_GROUP,
			    "{\"service\":\"a\",\"replicas\":2,\"bundle\":\"/srv/b\",\"port\":4433,"
			    "\"flows_per_replica\":50,\"max_replicas\":4}",
			    NULL, false, &e),
		     0, "%s", e.msg);
	cr_expect_eq(m.grp[0].min_replicas, 1, "min_replicas defaults to 1 with autoscaling");
	cr_assert_eq(ctl_store_compact(s, &m), 0); /* the group in the snapshot */
	cr_assert_eq(change(&m, s, CTL_CONFIG,
			    "{\"dataplane\":{\"stats_interval\":5,\"mfn_rate_limit\":300}}", NULL,
			    false, &e),
		     0, "%s", e.msg);
	cr_assert_eq(change(&m, s, CTL_CONFIG, "{\"dataplane\":{\"stats_interval\":null}}", NULL,
			    false, &e),
		     0, "%s", e.msg);
	cr_assert_eq(change(&m, s, CTL_GROUP, "{\"replicas\":3}", "a", false, &e), 0, "%s", e.msg);
	cr_expect_eq(change(&m, s, CTL_CONFIG, NULL, NULL, true, &e), -1, "config deleted");
	ctl_store_close(s);

	cr_assert_eq(ctl_model_init(&r, &lim), 0);
	cr_assert_eq(ctl_store_open(dir, &r, &s), 0);
	cr_expect_eq(r.revision, m.revision);
	cr_expect(r.grp[0].used);
	cr_expect_eq(r.grp[0].replicas, 3);
	cr_expect_eq(r.grp[0].flows_per_replica, 50);
	cr_expect_eq(r.grp[0].max_replicas, 4);
	cr_expect_str_eq(r.grp[0].bundle, "/srv/b");
	cr_expect(r.cfg.set[HM_KNOB_MFN_RATE_LIMIT] && r.cfg.value[HM_KNOB_MFN_RATE_LIMIT] == 300);
	cr_expect(!r.cfg.set[HM_KNOB_STATS_INTERVAL], "null released the setting");
	cr_expect_eq(r.cfg.version, m.cfg.version);
	/* Deleting the service takes its containers with it. */
	cr_assert_eq(change(&r, NULL, CTL_SERVICE, NULL, "a", true, &e), 0, "%s", e.msg);
	cr_expect(!r.grp[0].used);
	ctl_store_close(s);
	ctl_model_fini(&r);
	ctl_model_fini(&m);
}
