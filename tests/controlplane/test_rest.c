/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ctl_rest's handler without HTTP (ctl_rest_handle): the ?version=
 * precondition, and the endpoints that ask the dataplane when it is not
 * there (503 naming its socket) or says it has nothing (404 / no traffic).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl_node.h"
#include "ctl_rest.h"
#include "fake_dp.h"

static char dir[64];
static struct ctl_node node;
static struct ctl_rest *rest;

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/ctlrest.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	memset(&node, 0, sizeof(node));
	pthread_mutex_init(&node.lock, NULL);
	cr_assert_eq(hm_cond_init_mono(&node.changed), 0);
	node.cfg.lim = (struct ctl_limits){.max_services = 8, .max_backends = 16, .max_nodes = 4};
	cr_assert_eq(ctl_model_init(&node.model, &node.cfg.lim), 0);
	cr_assert_eq(ctl_store_open(dir, &node.model, &node.store), 0);
	rest = ctl_rest_new_detached(&node);
	cr_assert_not_null(rest);
}

static void teardown(void)
{
	char cmd[128];

	ctl_rest_stop(rest);
	ctl_store_close(node.store);
	ctl_model_fini(&node.model);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_expect_eq(system(cmd), 0);
}

TestSuite(rest, .init = setup, .fini = teardown, .timeout = 60);

/* One request; returns the status, *@msg the error message ("" if none). */
static int req(const char *method, const char *url, const char *query, const char *body, char *msg,
	       size_t msg_len, char *field, size_t field_len)
{
	json_t *out = NULL;
	int st = ctl_rest_handle(rest, method, url, query, NULL, "application/json", body,
				 body ? strlen(body) : 0, &out);
	json_t *e = json_object_get(out, "error");

	if (msg)
		snprintf(msg, msg_len, "%s",
			 json_string_value(json_object_get(e, "message")) ?: "");
	if (field)
		snprintf(field, field_len, "%s",
			 json_string_value(json_object_get(e, "field")) ?: "");
	json_decref(out);
	return st;
}

static void service_and_backend(void)
{
	cr_assert_eq(
	    req("POST", "/v1/services", "", "{\"name\":\"a\",\"port\":443}", NULL, 0, NULL, 0),
	    201);
	cr_assert_eq(req("POST", "/v1/backends", "",
			 "{\"service\":\"a\",\"address\":\"10.0.0.1\",\"port\":80}", NULL, 0, NULL,
			 0),
		     201);
}

/* A precondition the handler cannot read is refused, never dropped. */
Test(rest, a_version_query_that_is_not_a_version_is_refused)
{
	static const struct {
		const char *query, *quoted;
	} bad[] = {
	    {"version=abc", "\"abc\""},
	    {"version=", "\"\""},
	    {"version=0x9", "\"0x9\""},
	    {"version=0", "\"0\""},
	    {"version=-1", "\"-1\""},
	    {"version=+1", "\"+1\""},
	    {"version= 1", "\" 1\""},
	    {"version=1x", "\"1x\""},
	    {"version=99999999999999999999", "\"99999999999999999999\""},
	    {"version=9223372036854775808", "\"9223372036854775808\""},
	    {"version=1&version=1", "twice"},
	};
	char msg[256], field[32];
	uint64_t rev;

	service_and_backend();
	rev = node.model.revision;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_expect_eq(req("PUT", "/v1/services/a", bad[i].query, "{\"port\":444}", msg,
				 sizeof(msg), field, sizeof(field)),
			     400, "?%s", bad[i].query);
		cr_expect_str_eq(field, "version", "?%s", bad[i].query);
		cr_expect_not_null(strstr(msg, bad[i].quoted), "?%s: %s", bad[i].query, msg);
		cr_expect_eq(req("DELETE", "/v1/backends/0", bad[i].query, NULL, NULL, 0, field,
				 sizeof(field)),
			     400, "DELETE ?%s", bad[i].query);
		cr_expect_str_eq(field, "version");
	}
	cr_expect_eq(node.model.revision, rev, "a refused precondition changed the model");

	/* Another key that ends in "version" is not the precondition. */
	cr_expect_eq(req("PUT", "/v1/services/a", "oldversion=2", "{\"port\":444}", msg,
			 sizeof(msg), NULL, 0),
		     200, "%s", msg);
	/* The service is at version 2 now: the right one passes, a stale one is a 409. */
	cr_expect_eq(req("PUT", "/v1/services/a", "oldversion=7&version=1", "{\"port\":445}", NULL,
			 0, field, sizeof(field)),
		     409);
	cr_expect_str_eq(field, "version");
	cr_expect_eq(req("PUT", "/v1/services/a", "version=2&x=1", "{\"port\":445}", msg,
			 sizeof(msg), NULL, 0),
		     200, "%s", msg);
	cr_expect_eq(req("PUT", "/v1/services/a", "versions=1", "{\"port\":446}", NULL, 0, NULL, 0),
		     200);
	cr_expect_eq(req("DELETE", "/v1/services/a", "version=3", NULL, NULL, 0, NULL, 0), 409);
	cr_expect_eq(req("DELETE", "/v1/services/a", "version=4", NULL, msg, sizeof(msg), NULL, 0),
		     204, "%s", msg);
}

/* The dataplane's socket is absent: its endpoints say so, not "not found" or "no traffic". */
Test(rest, dataplane_down_is_503_naming_its_socket)
{
	static const char flow[] = "{\"src\":\"10.1.0.1\",\"sport\":1000,\"dst\":\"10.2.0.1\","
				   "\"dport\":443,\"backend\":0}";
	static const char flow_del[] =
	    "{\"src\":\"10.1.0.1\",\"sport\":1000,\"dst\":\"10.2.0.1\",\"dport\":443}";
	char msg[256];

	snprintf(node.cfg.dataplane_socket, sizeof(node.cfg.dataplane_socket), "%s/absent.sock",
		 dir);
	service_and_backend();
	cr_expect_eq(req("GET", "/v1/predictions", "", NULL, msg, sizeof(msg), NULL, 0), 503, "%s",
		     msg);
	cr_expect_not_null(strstr(msg, node.cfg.dataplane_socket), "%s", msg);
	cr_expect_eq(req("GET", "/v1/routes/a", "", NULL, msg, sizeof(msg), NULL, 0), 503, "%s",
		     msg);
	cr_expect_not_null(strstr(msg, node.cfg.dataplane_socket), "%s", msg);
	cr_expect_eq(req("POST", "/v1/flows", "", flow, msg, sizeof(msg), NULL, 0), 503, "%s", msg);
	cr_expect_not_null(strstr(msg, node.cfg.dataplane_socket), "%s", msg);
	cr_expect_eq(req("DELETE", "/v1/flows", "", flow_del, msg, sizeof(msg), NULL, 0), 503, "%s",
		     msg);
	cr_expect_not_null(strstr(msg, node.cfg.dataplane_socket), "%s", msg);
}

/* The dataplane there and saying "not found" (-ENOENT) keeps its meaning. */
Test(rest, dataplane_not_found_is_still_404)
{
	static const char flow[] = "{\"src\":\"10.1.0.1\",\"sport\":1000,\"dst\":\"10.2.0.1\","
				   "\"dport\":443,\"backend\":0}";
	struct fake_dp dp;
	char msg[256];
	json_t *out = NULL;

	snprintf(node.cfg.dataplane_socket, sizeof(node.cfg.dataplane_socket), "%s/dp.sock", dir);
	cr_assert_eq(fake_dp_start(&dp, node.cfg.dataplane_socket), 0);
	service_and_backend();

	fake_dp_refuse(&dp, HM_CTL_ROUTES, -ENOENT, "service 0: not in L3");
	cr_expect_eq(req("GET", "/v1/routes/a", "", NULL, msg, sizeof(msg), NULL, 0), 404, "%s",
		     msg);
	fake_dp_refuse(&dp, HM_CTL_FLOW_SET, -ENOENT, "backend 0: not committed in L3");
	cr_expect_eq(req("POST", "/v1/flows", "", flow, msg, sizeof(msg), NULL, 0), 404, "%s", msg);
	cr_expect_str_eq(msg, "dataplane: backend 0: not committed in L3");
	fake_dp_refuse(&dp, HM_CTL_PREDICT, -ENOENT, "no samples");
	cr_assert_eq(ctl_rest_handle(rest, "GET", "/v1/predictions", "", NULL, NULL, NULL, 0, &out),
		     200);
	cr_expect_str_eq(json_string_value(json_object_get(
			     json_array_get(json_object_get(out, "items"), 0), "status")),
			 "no traffic seen yet");
	json_decref(out);
	/* And what it answers is served. */
	fake_dp_refuse(&dp, 0, 0, NULL);
	cr_expect_eq(req("GET", "/v1/routes/a", "", NULL, msg, sizeof(msg), NULL, 0), 200, "%s",
		     msg);
	cr_expect_eq(req("POST", "/v1/flows", "", flow, msg, sizeof(msg), NULL, 0), 201, "%s", msg);
	fake_dp_stop(&dp);
}
