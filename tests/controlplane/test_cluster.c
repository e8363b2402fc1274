/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ctl_cluster: which requests of the log answer this member's REST
 * clients. Built with ctl_cluster.c itself, for its static execute step
 * (on_execute(), what the PBFT core calls for each request in the agreed
 * order); the test binary then takes none of it from libhmctl.a.
 *
 * The log's requests are multicast, so every member sees another's nonce;
 * a faulty member can order a request of its own whose payload claims our
 * id ("o") and a nonce of ours ("n"). It executes everywhere like any
 * request, but must not answer our client: only what we signed does.
 */
#include "controlplane/ctl_cluster.c"

#include <criterion/criterion.h>

static const struct ctl_limits lim = {.max_services = 8, .max_backends = 16, .max_nodes = 4};
static struct ctl_node node;
static struct ctl_cluster cl;

static void setup(void)
{
	memset(&node, 0, sizeof(node));
	memset(&cl, 0, sizeof(cl));
	pthread_mutex_init(&node.lock, NULL);
	pthread_cond_init(&node.changed, NULL);
	cr_assert_eq(ctl_model_init(&node.model, &lim), 0);
	pthread_mutex_init(&cl.lock, NULL);
	pthread_cond_init(&cl.done, NULL);
	cl.n = &node;
	cl.c.id = 0;
}

static void teardown(void)
{
	ctl_model_fini(&node.model);
}

TestSuite(cluster, .init = setup, .fini = teardown);

/* The log executes @req, a request signed by member @from. */
static void execute(uint64_t seq, uint32_t from, const char *req)
{
	on_execute(&cl, seq, from, (const uint8_t *)req, strlen(req));
}

Test(cluster, a_request_another_member_signed_answers_none_of_our_clients)
{
	struct waiter w = {.nonce = 41};

	cl.waiters = &w;
	/* Member 1 claims our id and the nonce our client waits on, and comes first. */
	execute(1, 1,
		"{\"b\":{\"name\":\"evil\",\"port\":444},\"c\":\"services\",\"m\":\"POST\","
		"\"n\":41,\"o\":0,\"v\":0}");
	/* And one with no "o" at all (0 is our id). */
	execute(2, 1,
		"{\"b\":{\"name\":\"evil2\",\"port\":445},\"c\":\"services\",\"m\":\"POST\","
		"\"n\":41,\"v\":0}");
	cr_assert(!w.ready, "member 1's request answered our client (status %d)", w.status);
	json_decref(w.out);
	w.out = NULL;
	/* Executed all the same: the log is the same on every member. */
	cr_assert_eq(node.model.revision, 2, "revision %llu",
		     (unsigned long long)node.model.revision);

	/* Ours, signed by us, answers it. */
	execute(3, 0,
		"{\"b\":{\"name\":\"a\",\"port\":443},\"c\":\"services\",\"m\":\"POST\","
		"\"n\":41,\"o\":0,\"v\":0}");
	cr_assert(w.ready, "our own request did not answer our client");
	cr_assert_eq(w.status, 201);
	cr_assert_str_eq(json_string_value(json_object_get(w.out, "name")), "a");
	json_decref(w.out);
}
