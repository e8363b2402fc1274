/* SPDX-License-Identifier: BSD-3-Clause */
/* L1 IFR: exact match, Bloom filter rate, capacity, ageing, RCU reuse, concurrent readers. */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>

#include "ifr.h"

static struct rte_rcu_qsbr *qsv;

static void eal_up(void)
{
	char *argv[] = {"test", "--no-huge", "-m", "1024", "--no-shconf", "--no-pci",
			"--no-telemetry", "-l", "0", "--log-level=*:error"};
	size_t sz;

	cr_assert(rte_eal_init(RTE_DIM(argv), argv) >= 0, "rte_eal_init failed");
	sz = rte_rcu_qsbr_get_memsize(4);
	qsv = rte_zmalloc("qsv", sz, RTE_CACHE_LINE_SIZE);
	cr_assert_not_null(qsv);
	cr_assert_eq(rte_rcu_qsbr_init(qsv, 4), 0);
}

TestSuite(ifr, .init = eal_up);

static struct mfn_ifr *mk(const char *name, uint32_t cap, double fpr, uint64_t idle_ms)
{
	struct mfn_ifr_params p = {
		.name = name, .capacity = cap, .bloom_fpr = fpr, .idle_timeout_ms = idle_ms,
		.qsv = qsv, .socket_id = SOCKET_ID_ANY,
	};
	struct mfn_ifr *ifr = mfn_ifr_create(&p);

	cr_assert_not_null(ifr, "create %s: %s", name, rte_strerror(rte_errno));
	return ifr;
}

/* Distinct keys of all three kinds from one counter. */
static void key_n(struct mfn_flow_key *k, uint64_t n)
{
	uint8_t buf[MFN_CID_MAX] = {0};

	switch (n % 3) {
	case 0:
		memcpy(buf, &n, sizeof(n));
		buf[8] = 0xc1;
		mfn_key_from_cid(k, buf, 8 + (uint8_t)(n % 13));
		break;
	case 1: {
		uint32_t a = (uint32_t)(n >> 16);
		uint8_t dst[4] = {10, 0, 0, 1};

		mfn_key_from_tuple(k, 4, (const uint8_t *)&a, dst, (uint16_t)n, 443);
		break;
	}
	default:
		memcpy(buf, &n, sizeof(n));
		mfn_key_from_tuple(k, 6, buf, (const uint8_t[16]){0x20, 0x01, 0x0d, 0xb8}, 4433,
				   (uint16_t)(n >> 3));
		break;
	}
}

Test(ifr, rejects_bad_params_naming_the_field)
{
	struct mfn_ifr_params ok = {.name = "p", .capacity = 100, .bloom_fpr = 0.01,
				    .idle_timeout_ms = 1000, .qsv = qsv, .socket_id = SOCKET_ID_ANY};
	struct mfn_ifr_params p;

	p = ok; p.capacity = 0;
	cr_expect_null(mfn_ifr_create(&p));
	cr_expect_eq(rte_errno, EINVAL);
	p = ok; p.bloom_fpr = 0.7;
	cr_expect_null(mfn_ifr_create(&p));
	p = ok; p.bloom_fpr = -0.1;
	cr_expect_null(mfn_ifr_create(&p));
	p = ok; p.idle_timeout_ms = 0;
	cr_expect_null(mfn_ifr_create(&p));
	p = ok; p.qsv = NULL;
	cr_expect_null(mfn_ifr_create(&p));
	p = ok; p.name = "";
	cr_expect_null(mfn_ifr_create(&p));
	p = ok;
	struct mfn_ifr *ifr = mfn_ifr_create(&p);
	cr_assert_not_null(ifr);
	cr_expect_null(mfn_ifr_create(&p), "a second table of the same name must be refused");
	mfn_ifr_destroy(ifr);
	mfn_ifr_destroy(NULL);
}

Test(ifr, insert_lookup_update_delete_every_key_kind)
{
	struct mfn_ifr *ifr = mk("crud", 1000, 0.01, 1000);
	struct mfn_flow_key k[300];

	for (unsigned int i = 0; i < 300; i++) {
		key_n(&k[i], i);
		cr_assert_eq(mfn_ifr_insert(ifr, &k[i], i % 7, MFN_IFR_DECISION(i, i % 5, 0), 100), 0);
	}
	for (unsigned int i = 0; i < 300; i++) {
		struct mfn_ifr_entry *e = mfn_ifr_lookup(ifr, &k[i]);

		cr_assert_not_null(e, "key %u lost", i);
		cr_expect_eq(MFN_IFR_DECISION_BACKEND(mfn_ifr_entry_decision(e)), i);
		cr_expect_eq(MFN_IFR_DECISION_NODE(mfn_ifr_entry_decision(e)), i % 5);
		cr_expect_eq(e->service, i % 7);
		cr_expect_eq(e->created, 100);
	}
	/* Update keeps service, counters and timestamps; replaces the decision. */
	mfn_ifr_entry_touch(mfn_ifr_lookup(ifr, &k[5]), 1200, 200);
	cr_expect_eq(mfn_ifr_insert(ifr, &k[5], 99, MFN_IFR_DECISION(777, 3, 1), 300), 1);
	struct mfn_ifr_entry *e = mfn_ifr_lookup(ifr, &k[5]);
	cr_expect_eq(MFN_IFR_DECISION_BACKEND(mfn_ifr_entry_decision(e)), 777);
	cr_expect_eq(MFN_IFR_DECISION_FLAGS(mfn_ifr_entry_decision(e)), 1);
	cr_expect_eq(e->service, 5 % 7);
	cr_expect_eq(e->packets, 1);
	cr_expect_eq(e->bytes, 1200);
	cr_expect_eq(e->last_seen, 200);

	cr_expect_eq(mfn_ifr_delete(ifr, &k[7]), 0);
	cr_expect_null(mfn_ifr_lookup(ifr, &k[7]));
	cr_expect_eq(mfn_ifr_delete(ifr, &k[7]), -ENOENT);

	struct mfn_flow_key bad = k[0];
	bad.kind = 9;
	cr_expect_eq(mfn_ifr_insert(ifr, &bad, 0, 0, 0), -EINVAL);

	struct mfn_ifr_stats st;
	mfn_ifr_stats_get(ifr, &st);
	cr_expect_eq(st.flows, 299);
	cr_expect_eq(st.inserts, 300);
	cr_expect_eq(st.updates, 1);
	cr_expect_eq(st.deletes, 1);
	mfn_ifr_destroy(ifr);
}

Test(ifr, bulk_lookup_reports_hits_misses_and_filter_negatives)
{
	struct mfn_ifr *ifr = mk("bulk", 4096, 0.01, 1000);
	struct mfn_flow_key k[64];
	const struct mfn_flow_key *kp[64];
	struct mfn_ifr_entry *e[64];
	struct mfn_ifr_burst_stats st = {0};
	uint64_t want = 0, mask;

	for (unsigned int i = 0; i < 64; i++) {
		key_n(&k[i], 1000 + i);
		kp[i] = &k[i];
		if (i % 3 == 0) {
			cr_assert_eq(mfn_ifr_insert(ifr, &k[i], 1, MFN_IFR_DECISION(i, 0, 0), 0), 0);
			want |= 1ull << i;
		}
	}
	mask = mfn_ifr_lookup_bulk(ifr, NULL, kp, 64, e, &st);
	cr_expect_eq(mask, want);
	for (unsigned int i = 0; i < 64; i++) {
		if (want & (1ull << i))
			cr_expect_eq(MFN_IFR_DECISION_BACKEND(mfn_ifr_entry_decision(e[i])), i);
		else
			cr_expect_null(e[i]);
	}
	cr_expect_eq(st.hits, 22);
	cr_expect_eq(st.misses, 42);
	/* 42 absent keys against a 1% filter: nearly all stop at the filter. */
	cr_expect_geq(st.bloom_negatives, 36);
	cr_expect_leq(st.bloom_negatives, 42);
	mfn_ifr_destroy(ifr);
}

/* Fraction of never-inserted keys that pass the filter. */
static double measured_fpr(struct mfn_ifr *ifr, uint64_t first, unsigned int queries)
{
	struct mfn_flow_key k[64];
	const struct mfn_flow_key *kp[64];
	struct mfn_ifr_entry *e[64];
	struct mfn_ifr_burst_stats st = {0};

	for (unsigned int q = 0; q < queries; q += 64) {
		for (unsigned int i = 0; i < 64; i++) {
			key_n(&k[i], first + q + i);
			kp[i] = &k[i];
		}
		cr_assert_eq(mfn_ifr_lookup_bulk(ifr, NULL, kp, 64, e, &st), 0);
	}
	return (double)(st.misses - st.bloom_negatives) / (double)st.misses;
}

Test(ifr, bloom_false_positive_rate_meets_target, .timeout = 120)
{
	const uint32_t cap = 200000;
	const double targets[] = {0.01, 0.001};

	for (unsigned int t = 0; t < RTE_DIM(targets); t++) {
		char name[16];
		struct mfn_flow_key k;
		struct mfn_ifr_stats st;

		snprintf(name, sizeof(name), "fpr%u", t);
		struct mfn_ifr *ifr = mk(name, cap, targets[t], 1000);
		for (uint32_t i = 0; i < cap; i++) {
			key_n(&k, i);
			cr_assert_eq(mfn_ifr_insert(ifr, &k, 0, 0, 0), 0);
		}
		const unsigned int queries = 2000000;
		double fpr = measured_fpr(ifr, 1ull << 40, queries);
		/* Binomial standard deviation of the estimate at the target rate. */
		double sigma = sqrt(targets[t] * (1 - targets[t]) / queries);

		mfn_ifr_stats_get(ifr, &st);
		cr_log_info("target %g: expected %g, measured %g over %u absent keys (%" PRIu64
			    " bits, %.2f bits/flow)",
			    targets[t], st.bloom_fpr_expected, fpr, queries, st.bloom_bits,
			    (double)st.bloom_bits / cap);
		cr_expect_leq(st.bloom_fpr_expected, targets[t]);
		cr_expect_leq(fpr, targets[t] + 5 * sigma, "measured FPR %g above target %g", fpr,
			      targets[t]);
		/* The model must describe the filter, not just bound it. */
		cr_expect_geq(fpr, st.bloom_fpr_expected * 0.7, "measured %g far below model %g", fpr,
			      st.bloom_fpr_expected);
		mfn_ifr_destroy(ifr);
	}
}

Test(ifr, deletes_clear_the_filter, .timeout = 60)
{
	const uint32_t cap = 50000;
	struct mfn_ifr *ifr = mk("bloomdel", cap, 0.01, 1000);
	struct mfn_flow_key k;

	for (uint32_t i = 0; i < cap; i++) {
		key_n(&k, i);
		cr_assert_eq(mfn_ifr_insert(ifr, &k, 0, 0, 0), 0);
	}
	cr_expect_gt(measured_fpr(ifr, 1ull << 41, 200000), 0.003);
	for (uint32_t i = 0; i < cap; i++) {
		key_n(&k, i);
		cr_assert_eq(mfn_ifr_delete(ifr, &k), 0);
	}
	/* Empty again: no bit is left set, so every absent key stops at the filter. */
	cr_expect_eq(measured_fpr(ifr, 1ull << 41, 200000), 0.0);
	mfn_ifr_destroy(ifr);
}

Test(ifr, full_table_refuses_counts_and_keeps_existing_flows)
{
	const uint32_t cap = 1000;
	struct mfn_ifr *ifr = mk("full", cap, 0.01, 1000);
	struct mfn_flow_key k;
	struct mfn_ifr_stats st;

	for (uint32_t i = 0; i < cap; i++) {
		key_n(&k, i);
		cr_assert_eq(mfn_ifr_insert(ifr, &k, 0, MFN_IFR_DECISION(i, 0, 0), 0), 0, "insert %u", i);
	}
	for (uint32_t i = cap; i < cap + 50; i++) {
		key_n(&k, i);
		cr_expect_eq(mfn_ifr_insert(ifr, &k, 0, 0, 0), -ENOSPC);
	}
	mfn_ifr_stats_get(ifr, &st);
	cr_expect_eq(st.insert_full, 50);
	cr_expect_eq(st.flows, cap);
	for (uint32_t i = 0; i < cap; i++) {
		key_n(&k, i);
		cr_assert_not_null(mfn_ifr_lookup(ifr, &k), "flow %u lost when full", i);
	}
	/* An update of an existing flow still works when full. */
	key_n(&k, 3);
	cr_expect_eq(mfn_ifr_insert(ifr, &k, 0, MFN_IFR_DECISION(5, 0, 0), 0), 1);
	/* Room again after a delete (no readers registered: reclaim is immediate). */
	cr_assert_eq(mfn_ifr_delete(ifr, &k), 0);
	key_n(&k, cap + 1);
	cr_expect_eq(mfn_ifr_insert(ifr, &k, 0, 0, 0), 0);
	mfn_ifr_destroy(ifr);
}

Test(ifr, idle_flows_age_out_and_touched_ones_stay)
{
	struct mfn_ifr *ifr = mk("age", 10000, 0.01, 10);
	uint64_t hz = rte_get_tsc_hz(), t0 = 1000 * hz;
	struct mfn_flow_key k;
	unsigned int removed = 0;

	for (uint32_t i = 0; i < 5000; i++) {
		key_n(&k, i);
		cr_assert_eq(mfn_ifr_insert(ifr, &k, 0, 0, t0), 0);
	}
	/* 5 ms later half the flows see a packet; at 12 ms the others are idle > 10 ms. */
	for (uint32_t i = 0; i < 5000; i += 2) {
		key_n(&k, i);
		mfn_ifr_entry_touch(mfn_ifr_lookup(ifr, &k), 100, t0 + hz / 200);
	}
	/* Bounded sweeps: each call visits at most 700 flows. */
	int first_sweep_end = -1;

	for (int round = 0; round < 20; round++) {
		bool swept;
		unsigned int r = mfn_ifr_age(ifr, t0 + 12 * hz / 1000, 700, &swept);

		cr_assert_leq(r, 700);
		removed += r;
		if (swept && first_sweep_end < 0)
			first_sweep_end = round;
	}
	cr_expect_eq(removed, 2500);
	/* 5000 flows, 700 per call: the 8th call reaches the end of the table. */
	cr_expect_eq(first_sweep_end, 7, "first sweep ended in round %d", first_sweep_end);
	for (uint32_t i = 0; i < 5000; i++) {
		key_n(&k, i);
		if (i % 2 == 0)
			cr_expect_not_null(mfn_ifr_lookup(ifr, &k), "touched flow %u aged", i);
		else
			cr_expect_null(mfn_ifr_lookup(ifr, &k), "idle flow %u kept", i);
	}
	struct mfn_ifr_stats st;
	mfn_ifr_stats_get(ifr, &st);
	cr_expect_eq(st.aged, 2500);
	cr_expect_eq(st.flows, 2500);
	mfn_ifr_destroy(ifr);
}

Test(ifr, delete_backend_removes_only_its_flows)
{
	struct mfn_ifr *ifr = mk("bdel", 10000, 0.01, 1000);
	struct mfn_flow_key k;

	for (uint32_t i = 0; i < 3000; i++) {
		key_n(&k, i);
		cr_assert_eq(mfn_ifr_insert(ifr, &k, 0, MFN_IFR_DECISION(i % 10, 0, 0), 0), 0);
	}
	cr_expect_eq(mfn_ifr_delete_backend(ifr, 4), 300);
	for (uint32_t i = 0; i < 3000; i++) {
		key_n(&k, i);
		if (i % 10 == 4)
			cr_expect_null(mfn_ifr_lookup(ifr, &k));
		else
			cr_expect_not_null(mfn_ifr_lookup(ifr, &k));
	}
	mfn_ifr_clear(ifr);
	struct mfn_ifr_stats st;
	mfn_ifr_stats_get(ifr, &st);
	cr_expect_eq(st.flows, 0);
	mfn_ifr_destroy(ifr);
}

/*
 * A reader holding an entry across a delete keeps reading that flow's data
 * until it reports a quiescent state; only then may the slot be reused.
 */
Test(ifr, deleted_entry_is_not_reused_before_grace_period)
{
	const uint32_t cap = 64;
	struct mfn_ifr *ifr = mk("grace", cap, 0.01, 1000);
	struct mfn_flow_key k, victim;
	struct mfn_ifr_entry *held;
	int full_before_qs = 0;

	cr_assert_eq(rte_rcu_qsbr_thread_register(qsv, 0), 0);
	rte_rcu_qsbr_thread_online(qsv, 0);
	key_n(&victim, 424242);
	cr_assert_eq(mfn_ifr_insert(ifr, &victim, 7777, MFN_IFR_DECISION(1, 0, 0), 0), 0);
	held = mfn_ifr_lookup(ifr, &victim);
	cr_assert_not_null(held);
	cr_assert_eq(mfn_ifr_delete(ifr, &victim), 0);
	/* Fill the table past the deleted slot's position, many times over. */
	for (uint32_t i = 0; i < 4 * cap; i++) {
		key_n(&k, i);
		if (mfn_ifr_insert(ifr, &k, 1, 0, 0) == -ENOSPC)
			full_before_qs++;
		cr_assert_eq(held->service, 7777, "entry reused while a reader holds it");
	}
	cr_expect_gt(full_before_qs, 0);
	rte_rcu_qsbr_quiescent(qsv, 0);
	/* Now the slot comes back: the table takes one more flow. */
	mfn_ifr_clear(ifr);
	rte_rcu_qsbr_quiescent(qsv, 0);
	for (uint32_t i = 0; i < cap; i++) {
		key_n(&k, 1000000 + i);
		cr_expect_eq(mfn_ifr_insert(ifr, &k, 2, 0, 0), 0, "insert %u after grace period", i);
		rte_rcu_qsbr_quiescent(qsv, 0);
	}
	rte_rcu_qsbr_thread_offline(qsv, 0);
	rte_rcu_qsbr_thread_unregister(qsv, 0);
	mfn_ifr_destroy(ifr);
}

struct reader_arg {
	struct mfn_ifr *ifr;
	struct mfn_ifr_reader rd;
	atomic_bool stop;
	atomic_bool running; /* a first bulk lookup done: the churn may start */
	uint64_t lookups, wrong, missing;
};

#define STABLE 512

static void *reader(void *p)
{
	struct reader_arg *a = p;
	struct mfn_flow_key k[64];
	const struct mfn_flow_key *kp[64];
	struct mfn_ifr_entry *e[64];

	rte_rcu_qsbr_thread_register(qsv, 1);
	rte_rcu_qsbr_thread_online(qsv, 1);
	for (unsigned int i = 0; i < 64; i++)
		kp[i] = &k[i];
	while (!atomic_load(&a->stop)) {
		for (unsigned int base = 0; base < STABLE; base += 64) {
			for (unsigned int i = 0; i < 64; i++)
				key_n(&k[i], base + i);
			uint64_t m = mfn_ifr_lookup_bulk(a->ifr, &a->rd, kp, 64, e, NULL);

			a->lookups += 64;
			atomic_store(&a->running, true);
			a->missing += 64 - (unsigned int)__builtin_popcountll(m);
			for (unsigned int i = 0; i < 64; i++) {
				if (e[i] == NULL)
					continue;
				uint64_t d = mfn_ifr_entry_decision(e[i]);
				uint32_t b = MFN_IFR_DECISION_BACKEND(d);

				/* Stable flows flip between backend n and n + 1,000,000 only. */
				if (b != base + i && b != base + i + 1000000)
					a->wrong++;
				if (e[i]->service != 3)
					a->wrong++;
			}
		}
		rte_rcu_qsbr_quiescent(qsv, 1);
	}
	rte_rcu_qsbr_thread_offline(qsv, 1);
	rte_rcu_qsbr_thread_unregister(qsv, 1);
	return NULL;
}

Test(ifr, readers_never_miss_stable_flows_while_writer_churns, .timeout = 120)
{
	const uint32_t cap = 4096;
	struct reader_arg a = {.ifr = mk("conc", cap, 0.01, 1000)};
	struct mfn_flow_key k;
	pthread_t th;
	int full = 0;

	for (uint32_t i = 0; i < STABLE; i++) {
		key_n(&k, i);
		cr_assert_eq(mfn_ifr_insert(a.ifr, &k, 3, MFN_IFR_DECISION(i, 0, 0), 0), 0);
	}
	cr_assert_eq(pthread_create(&th, NULL, reader, &a), 0);
	/* Not before the reader reads: on a busy machine the churn could end
	 * before it was first scheduled, and nothing would be tested. */
	while (!atomic_load(&a.running))
		sched_yield();
	/* Churn: fill the rest of the table, delete it again, flip stable decisions. */
	for (int round = 0; round < 40; round++) {
		for (uint32_t i = 0; i < cap - STABLE; i++) {
			key_n(&k, 10000000 + (uint64_t)round * cap + i);
			if (mfn_ifr_insert(a.ifr, &k, 9, 0, 0) == -ENOSPC)
				full++;
		}
		for (uint32_t i = 0; i < STABLE; i++) {
			key_n(&k, i);
			cr_assert_eq(mfn_ifr_insert(a.ifr, &k, 3,
						    MFN_IFR_DECISION(i + (round % 2) * 1000000, 0, 0), 0),
				     1);
		}
		for (uint32_t i = 0; i < cap - STABLE; i++) {
			key_n(&k, 10000000 + (uint64_t)round * cap + i);
			mfn_ifr_delete(a.ifr, &k);
		}
	}
	atomic_store(&a.stop, true);
	pthread_join(th, NULL);
	cr_log_info("%" PRIu64 " lookups, %d inserts refused while slots awaited the grace period",
		    a.lookups, full);
	cr_expect_gt(a.lookups, 0);
	cr_expect_eq(a.missing, 0, "stable flows missed %" PRIu64 " times", a.missing);
	cr_expect_eq(a.wrong, 0, "%" PRIu64 " lookups returned another flow's entry", a.wrong);
	mfn_ifr_destroy(a.ifr);
}

/* The reader consults the filter only while misses are common (mfn_ifr_reader). */
Test(ifr, filter_policy_follows_the_miss_rate)
{
	struct mfn_ifr *ifr = mk("policy", 4096, 0.01, 1000);
	struct mfn_ifr_reader rd = {0};
	struct mfn_flow_key k[32];
	const struct mfn_flow_key *kp[32];
	struct mfn_ifr_entry *e[32];
	struct mfn_ifr_burst_stats st = {0};

	for (unsigned int i = 0; i < 32; i++) {
		key_n(&k[i], i);
		kp[i] = &k[i];
		cr_assert_eq(mfn_ifr_insert(ifr, &k[i], 0, 0, 0), 0);
	}
	/* All hits: the filter stays off. */
	for (int b = 0; b < 20; b++)
		cr_assert_eq(mfn_ifr_lookup_bulk(ifr, &rd, kp, 32, e, &st), UINT32_MAX);
	cr_expect_lt(rd.miss_q8, MFN_IFR_FILTER_MISS_Q8);
	/* A flood of unknown keys: the first bursts probe the table, then the filter answers. */
	memset(&st, 0, sizeof(st));
	for (int b = 0; b < 20; b++) {
		for (unsigned int i = 0; i < 32; i++)
			key_n(&k[i], 100000 + (uint64_t)b * 32 + i);
		cr_assert_eq(mfn_ifr_lookup_bulk(ifr, &rd, kp, 32, e, &st), 0);
	}
	cr_expect_geq(rd.miss_q8, MFN_IFR_FILTER_MISS_Q8);
	cr_expect_gt(st.bloom_negatives, 15 * 32 * 9 / 10, "filter answered %u of 640", st.bloom_negatives);
	cr_expect_lt(st.bloom_negatives, 20 * 32, "the first flood burst must have probed the table");
	mfn_ifr_destroy(ifr);
}
