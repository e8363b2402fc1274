/* SPDX-License-Identifier: BSD-3-Clause */
/* L3 ALM: validation, weighted Maglev balance, minimal disruption, link learning, RCU readers. */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/socket.h>

#include <rte_eal.h>
#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>

#include "alm.h"

static struct rte_rcu_qsbr *qsv;

static void eal_up(void)
{
	char *argv[] = {"test", "--no-huge", "-m", "256", "--no-shconf", "--no-pci",
			"--no-telemetry", "-l", "0", "--log-level=*:error"};

	cr_assert(rte_eal_init(RTE_DIM(argv), argv) >= 0);
	qsv = rte_zmalloc("qsv", rte_rcu_qsbr_get_memsize(4), RTE_CACHE_LINE_SIZE);
	cr_assert_eq(rte_rcu_qsbr_init(qsv, 4), 0);
}

TestSuite(alm, .init = eal_up);

static struct mfn_alm *mk(uint32_t m)
{
	struct mfn_alm_params p = {.max_services = 16, .max_backends = 2048, .max_nodes = 8,
				   .table_size = m, .half_life_ms = 1000, .local_node = 0,
				   .qsv = qsv, .socket_id = SOCKET_ID_ANY};
	struct mfn_alm *alm = NULL;

	cr_assert_eq(mfn_alm_create(&p, &alm), 0);
	return alm;
}

static struct mfn_alm_backend be(uint32_t id, uint32_t svc, uint16_t node, uint32_t w)
{
	struct mfn_alm_backend b = {.id = id, .service = svc, .node = node, .weight = w,
				    .healthy = true, .family = AF_INET, .port = (uint16_t)(5000 + id)};

	b.addr[0] = 10;
	b.addr[3] = (uint8_t)id;
	return b;
}

static uint64_t hash_n(uint64_t i)
{
	i ^= i >> 33;
	i *= 0xff51afd7ed558ccdull;
	i ^= i >> 33;
	return i;
}

/* Backend chosen for each of @n flow hashes. */
static void picks(const struct mfn_alm *alm, uint32_t svc, uint32_t *out, unsigned int n)
{
	struct mfn_alm_decision d;

	for (unsigned int i = 0; i < n; i++) {
		cr_assert_eq(mfn_alm_pick(alm, svc, hash_n(i), &d), 0);
		out[i] = d.backend;
	}
}

Test(alm, rejects_bad_parameters_and_leaves_state)
{
	struct mfn_alm_params p = {.max_services = 4, .max_backends = 4, .max_nodes = 4,
				   .table_size = 65537, .half_life_ms = 10, .socket_id = SOCKET_ID_ANY};
	struct mfn_alm *alm = NULL;
	struct mfn_alm_params q;

	q = p; q.table_size = 65536;
	cr_expect_eq(mfn_alm_create(&q, &alm), -EINVAL);
	q = p; q.max_nodes = 300;
	cr_expect_eq(mfn_alm_create(&q, &alm), -EINVAL);
	q = p; q.local_node = 4;
	cr_expect_eq(mfn_alm_create(&q, &alm), -EINVAL);
	q = p; q.half_life_ms = 0;
	cr_expect_eq(mfn_alm_create(&q, &alm), -EINVAL);
	cr_assert_eq(mfn_alm_create(&p, &alm), 0);

	struct mfn_alm_backend b = be(1, 0, 0, 1);
	cr_expect_eq(mfn_alm_backend_set(alm, &b), -ENOENT, "service 0 not created yet");
	cr_assert_eq(mfn_alm_service_set(alm, 0), 0);
	cr_expect_eq(mfn_alm_service_set(alm, 4), -EINVAL);
	b.weight = 0;
	cr_expect_eq(mfn_alm_backend_set(alm, &b), -EINVAL);
	b = be(9, 0, 0, 1);
	cr_expect_eq(mfn_alm_backend_set(alm, &b), -EINVAL);
	b = be(1, 0, 7, 1);
	cr_expect_eq(mfn_alm_backend_set(alm, &b), -EINVAL);
	b = be(1, 0, 0, 1);
	b.family = 99;
	cr_expect_eq(mfn_alm_backend_set(alm, &b), -EINVAL);
	cr_expect_eq(mfn_alm_link_set(alm, 1, 1, true), -EINVAL);
	cr_expect_eq(mfn_alm_link_observe(alm, 0, 1, 100, 1.5, 0), -EINVAL);
	cr_assert_eq(mfn_alm_commit(alm), 0);

	struct mfn_alm_decision d;
	cr_expect_eq(mfn_alm_pick(alm, 0, 1, &d), -EHOSTUNREACH, "no backend was accepted");
	cr_expect_eq(mfn_alm_pick(alm, 1, 1, &d), -ENOENT);
	cr_expect_eq(mfn_alm_pick(alm, 100, 1, &d), -ENOENT);
	struct mfn_alm_backend got;
	cr_expect_eq(mfn_alm_backend_get(alm, 1, &got), -ENOENT);
	/* A backend id cannot move between services. */
	cr_assert_eq(mfn_alm_service_set(alm, 1), 0);
	b = be(1, 0, 0, 1);
	cr_assert_eq(mfn_alm_backend_set(alm, &b), 0);
	b.service = 1;
	cr_expect_eq(mfn_alm_backend_set(alm, &b), -EEXIST);
	mfn_alm_destroy(alm);
}

Test(alm, equal_weights_spread_evenly_and_records_are_readable)
{
	struct mfn_alm *alm = mk(65537);
	enum { N = 10, FLOWS = 200000 };
	static uint32_t got[FLOWS];
	unsigned int per[N] = {0};

	cr_assert_eq(mfn_alm_service_set(alm, 3), 0);
	for (uint32_t i = 0; i < N; i++) {
		struct mfn_alm_backend b = be(100 + i, 3, 0, 1);

		cr_assert_eq(mfn_alm_backend_set(alm, &b), 0);
	}
	cr_assert_eq(mfn_alm_commit(alm), 0);
	picks(alm, 3, got, FLOWS);
	for (unsigned int i = 0; i < FLOWS; i++) {
		cr_assert(got[i] >= 100 && got[i] < 100 + N);
		per[got[i] - 100]++;
	}
	for (unsigned int i = 0; i < N; i++)
		cr_expect(per[i] > FLOWS / N * 0.9 && per[i] < FLOWS / N * 1.1,
			  "backend %u got %u of %u flows", i, per[i], FLOWS);
	struct mfn_alm_backend r;
	cr_assert_eq(mfn_alm_backend_get(alm, 104, &r), 0);
	cr_expect_eq(r.port, 5104);
	cr_expect_eq(r.addr[3], 104);
	mfn_alm_destroy(alm);
}

Test(alm, weights_split_flows_in_proportion)
{
	struct mfn_alm *alm = mk(65537);
	enum { FLOWS = 200000 };
	static uint32_t got[FLOWS];
	unsigned int per[3] = {0};

	cr_assert_eq(mfn_alm_service_set(alm, 0), 0);
	for (uint32_t i = 0; i < 3; i++) {
		struct mfn_alm_backend b = be(i, 0, 0, i + 1); /* 1 : 2 : 3 */

		cr_assert_eq(mfn_alm_backend_set(alm, &b), 0);
	}
	cr_assert_eq(mfn_alm_commit(alm), 0);
	picks(alm, 0, got, FLOWS);
	for (unsigned int i = 0; i < FLOWS; i++)
		per[got[i]]++;
	for (unsigned int i = 0; i < 3; i++) {
		double want = FLOWS * (i + 1) / 6.0;

		cr_expect(fabs(per[i] - want) < want * 0.05, "backend %u: %u flows, want ~%.0f", i,
			  per[i], want);
	}
	mfn_alm_destroy(alm);
}

/* Maglev's property: removing one of N backends moves about 1/N of the flows, little more. */
Test(alm, removing_a_backend_moves_only_its_flows)
{
	struct mfn_alm *alm = mk(65537);
	enum { N = 20, FLOWS = 200000 };
	static uint32_t before[FLOWS], after[FLOWS];
	unsigned int moved = 0, moved_other = 0, victim_flows = 0;

	cr_assert_eq(mfn_alm_service_set(alm, 0), 0);
	for (uint32_t i = 0; i < N; i++) {
		struct mfn_alm_backend b = be(i, 0, 0, 1);

		cr_assert_eq(mfn_alm_backend_set(alm, &b), 0);
	}
	cr_assert_eq(mfn_alm_commit(alm), 0);
	picks(alm, 0, before, FLOWS);
	cr_assert_eq(mfn_alm_backend_del(alm, 7), 0);
	cr_expect_eq(mfn_alm_backend_del(alm, 7), -ENOENT);
	struct mfn_alm_backend r;
	cr_expect_eq(mfn_alm_backend_get(alm, 7, &r), 0, "readable until the commit");
	cr_assert_eq(mfn_alm_commit(alm), 0);
	cr_expect_eq(mfn_alm_backend_get(alm, 7, &r), -ENOENT);
	picks(alm, 0, after, FLOWS);
	for (unsigned int i = 0; i < FLOWS; i++) {
		cr_assert_neq(after[i], 7);
		victim_flows += before[i] == 7;
		moved += before[i] != after[i];
		moved_other += before[i] != 7 && before[i] != after[i];
	}
	cr_log_info("moved %u of %u flows (1/N = %u), %u of them not from the removed backend",
		    moved, FLOWS, FLOWS / N, moved_other);
	cr_expect_eq(moved - moved_other, victim_flows);
	/* The paper reports a few percent of extra movement at M = 65537. */
	cr_expect_lt(moved_other, FLOWS / 50, "%u flows of healthy backends moved", moved_other);
	mfn_alm_destroy(alm);
}

Test(alm, link_down_makes_remote_backends_unreachable_and_costs_shift_weight)
{
	struct mfn_alm *alm = mk(65537);
	enum { FLOWS = 100000 };
	static uint32_t got[FLOWS];
	unsigned int remote = 0;
	struct mfn_alm_decision d;

	cr_assert_eq(mfn_alm_service_set(alm, 0), 0);
	struct mfn_alm_backend a = be(1, 0, 0, 1), b = be(2, 0, 2, 1);
	cr_assert_eq(mfn_alm_backend_set(alm, &a), 0);
	cr_assert_eq(mfn_alm_backend_set(alm, &b), 0);
	/* Node 2 is reached through node 1: 0 - 1 - 2, 5 ms each way. */
	cr_assert_eq(mfn_alm_link_observe(alm, 0, 1, 5000, 0.0, 1), 0);
	cr_assert_eq(mfn_alm_link_observe(alm, 1, 2, 5000, 0.0, 1), 0);
	cr_assert_eq(mfn_alm_commit(alm), 0);
	cr_expect_float_eq(mfn_alm_path_cost(alm, 2), 10000.0, 1e-6);
	picks(alm, 0, got, FLOWS);
	for (unsigned int i = 0; i < FLOWS; i++)
		remote += got[i] == 2;
	/* w_eff(remote) = 1 / (1 + 10 ms / 10 ms) = 0.5: a third of the flows. */
	cr_expect(remote > FLOWS / 3 * 0.93 && remote < FLOWS / 3 * 1.07, "remote got %u", remote);
	for (unsigned int i = 0; i < FLOWS; i++) {
		cr_assert_eq(mfn_alm_pick(alm, 0, hash_n(i), &d), 0);
		if (d.backend == 2) {
			cr_expect_eq(d.node, 2);
			cr_expect_eq(d.next_hop_node, 1);
			break;
		}
	}
	cr_assert_eq(mfn_alm_link_set(alm, 1, 2, false), 0);
	cr_assert_eq(mfn_alm_commit(alm), 0);
	cr_expect_lt(mfn_alm_path_cost(alm, 2), 0.0);
	picks(alm, 0, got, FLOWS);
	for (unsigned int i = 0; i < FLOWS; i++)
		cr_assert_eq(got[i], 1, "flow %u still goes to the unreachable node", i);
	/* Unhealthy local backend too: nothing left. */
	a.healthy = false;
	cr_assert_eq(mfn_alm_backend_set(alm, &a), 0);
	cr_assert_eq(mfn_alm_commit(alm), 0);
	cr_expect_eq(mfn_alm_pick(alm, 0, 1, &d), -EHOSTUNREACH);
	mfn_alm_destroy(alm);
}

Test(alm, link_averages_absorb_half_a_step_per_half_life)
{
	struct mfn_alm *alm = mk(101);
	double rtt, loss;
	bool up;
	const uint64_t hl = 1000ull * 1000000; /* half_life_ms = 1000 */

	cr_assert_eq(mfn_alm_link_observe(alm, 0, 1, 1000, 0.0, 0), 0);
	cr_assert_eq(mfn_alm_link_observe(alm, 0, 1, 3000, 0.2, hl), 0);
	cr_assert_eq(mfn_alm_link_get(alm, 1, 0, &rtt, &loss, &up), 0);
	cr_expect_float_eq(rtt, 2000.0, 1e-6);
	cr_expect_float_eq(loss, 0.1, 1e-9);
	cr_expect(up);
	/* Two more half-lives at the new level: 3/4 of the remaining step. */
	cr_assert_eq(mfn_alm_link_observe(alm, 0, 1, 3000, 0.2, 3 * hl), 0);
	cr_assert_eq(mfn_alm_link_get(alm, 0, 1, &rtt, &loss, &up), 0);
	cr_expect_float_eq(rtt, 2750.0, 1e-6);
	mfn_alm_destroy(alm);
}

Test(alm, service_delete_removes_its_table_and_backends)
{
	struct mfn_alm *alm = mk(101);
	struct mfn_alm_decision d;
	struct mfn_alm_backend b = be(5, 2, 0, 1), r;
	struct mfn_alm_stats st;

	cr_assert_eq(mfn_alm_service_set(alm, 2), 0);
	cr_assert_eq(mfn_alm_backend_set(alm, &b), 0);
	cr_assert_eq(mfn_alm_commit(alm), 0);
	cr_assert_eq(mfn_alm_pick(alm, 2, 42, &d), 0);
	cr_expect_eq(d.backend, 5);
	cr_assert_eq(mfn_alm_service_del(alm, 2), 0);
	cr_assert_eq(mfn_alm_commit(alm), 0);
	cr_expect_eq(mfn_alm_pick(alm, 2, 42, &d), -ENOENT);
	cr_expect_eq(mfn_alm_backend_get(alm, 5, &r), -ENOENT);
	mfn_alm_stats_get(alm, &st);
	cr_expect_eq(st.services, 0);
	cr_expect_eq(st.backends, 0);
	mfn_alm_destroy(alm);
}

struct rd_arg {
	struct mfn_alm *alm;
	atomic_bool stop;
	atomic_bool running; /* a first pick done: the commits may start */
	uint64_t picks, bad;
};

static void *reader(void *p)
{
	struct rd_arg *a = p;
	struct mfn_alm_decision d;
	struct mfn_alm_backend b;

	rte_rcu_qsbr_thread_register(qsv, 1);
	rte_rcu_qsbr_thread_online(qsv, 1);
	for (uint64_t i = 0; !atomic_load(&a->stop); i++) {
		int rc = mfn_alm_pick(a->alm, 0, hash_n(i), &d);

		a->picks++;
		atomic_store(&a->running, true);
		/* Backends 0..9 always exist; 10..19 come and go. */
		if (rc != 0 || d.backend >= 20)
			a->bad++;
		else if (mfn_alm_backend_get(a->alm, d.backend, &b) != 0 || b.id != d.backend ||
			 b.port != 5000 + d.backend)
			a->bad++;
		if ((i & 63) == 0)
			rte_rcu_qsbr_quiescent(qsv, 1);
	}
	rte_rcu_qsbr_thread_offline(qsv, 1);
	rte_rcu_qsbr_thread_unregister(qsv, 1);
	return NULL;
}

Test(alm, readers_pick_valid_backends_while_the_writer_commits, .timeout = 120)
{
	struct rd_arg a = {.alm = mk(10007)};
	pthread_t th;

	cr_assert_eq(mfn_alm_service_set(a.alm, 0), 0);
	for (uint32_t i = 0; i < 10; i++) {
		struct mfn_alm_backend b = be(i, 0, 0, 1);

		cr_assert_eq(mfn_alm_backend_set(a.alm, &b), 0);
	}
	cr_assert_eq(mfn_alm_commit(a.alm), 0);
	cr_assert_eq(pthread_create(&th, NULL, reader, &a), 0);
	/* Not before the reader picks: on a busy machine the commits could
	 * end before it was first scheduled, and nothing would be tested. */
	while (!atomic_load(&a.running))
		sched_yield();
	for (int round = 0; round < 1000; round++) {
		uint32_t id = 10 + (uint32_t)(round % 10);

		if (round % 20 < 10) {
			struct mfn_alm_backend b = be(id, 0, 0, 1 + (uint32_t)round % 3);

			cr_assert_eq(mfn_alm_backend_set(a.alm, &b), 0);
		} else {
			cr_assert_eq(mfn_alm_backend_del(a.alm, id), 0);
		}
		cr_assert_eq(mfn_alm_commit(a.alm), 0);
	}
	atomic_store(&a.stop, true);
	pthread_join(th, NULL);
	cr_log_info("%" PRIu64 " picks during 1000 commits", a.picks);
	cr_expect_gt(a.picks, 0);
	cr_expect_eq(a.bad, 0, "%" PRIu64 " picks returned a missing or torn backend", a.bad);
	mfn_alm_destroy(a.alm);
}
