/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * alm_bench — L3 ALM: decision latency, table rebuild time, disruption.
 *
 *   1. ns per mfn_alm_pick over 64 services of 16 backends, random flow
 *      hashes, beside the same loop over a plain "hash % n" array per
 *      service (the cheapest possible backend choice, no consistency).
 *   2. mfn_alm_commit for one service of --backends backends (M = the next
 *      prime above max(65537, 100 x N), as the paper advises),
 *      beside the time to build the same table without weights or graph
 *      (every backend local, weight 1), as a ratio.
 *   3. Fraction of flows that move when one of N backends is removed, beside
 *      the minimum 1/N and beside modulo hashing's (N - 1)/N.
 *
 *   alm_bench [--backends N] [--iters I] [--help]
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_memory.h>

#include "alm.h"

static uint64_t rng_state = 0x853c49e6748fea9bull;

static uint64_t rng(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Maglev's advice (NSDI 2016 §5.3): M a prime well above 100 x N. */
static uint32_t table_size_for(uint32_t n)
{
	uint32_t m = n * 100 > 65537 ? n * 100 + 1 : 65537;

	for (;; m += 2) {
		bool prime = true;

		for (uint32_t d = 3; (uint64_t)d * d <= m && prime; d += 2)
			prime = m % d != 0;
		if (prime)
			return m;
	}
}

static struct mfn_alm *mk(uint32_t services, uint32_t backends)
{
	struct mfn_alm_params p = {.max_services = services, .max_backends = backends,
				   .max_nodes = 16, .table_size = table_size_for(backends),
				   .half_life_ms = 1000,
				   .socket_id = SOCKET_ID_ANY};
	struct mfn_alm *alm = NULL;

	if (mfn_alm_create(&p, &alm) < 0) {
		fprintf(stderr, "alm_bench: mfn_alm_create failed\n");
		exit(1);
	}
	return alm;
}

static void add(struct mfn_alm *alm, uint32_t id, uint32_t svc, uint16_t node, uint32_t w)
{
	struct mfn_alm_backend b = {.id = id, .service = svc, .node = node, .weight = w,
				    .healthy = true, .family = AF_INET, .port = 443};

	if (mfn_alm_backend_set(alm, &b) < 0)
		exit(1);
}

static void json(const char *metric, const char *size, double v, double ref)
{
	printf("{\"bench\":\"alm\",\"vdev\":\"\",\"size\":\"%s\",\"metric\":\"%s\",\"value\":%.4f,"
	       "\"ref\":%.4f,\"ratio\":%.4f}\n",
	       size, metric, v, ref, ref / v);
}

static void bench_pick(unsigned int iters)
{
	enum { S = 64, B = 16, Q = 1 << 16 };
	struct mfn_alm *alm = mk(S, S * B);
	static uint32_t modtab[S][B];
	static uint64_t q[Q];
	static uint32_t svc[Q];
	struct mfn_alm_decision d;
	uint64_t sum = 0, t0, best_alm = UINT64_MAX, best_mod = UINT64_MAX;
	double hz = (double)rte_get_tsc_hz();

	for (uint32_t s = 0; s < S; s++) {
		mfn_alm_service_set(alm, s);
		for (uint32_t b = 0; b < B; b++) {
			add(alm, s * B + b, s, 0, 1);
			modtab[s][b] = s * B + b;
		}
	}
	mfn_alm_commit(alm);
	for (unsigned int i = 0; i < Q; i++) {
		q[i] = rng();
		svc[i] = (uint32_t)(rng() % S);
	}
	for (int round = 0; round < 5; round++) {
		t0 = rte_rdtsc();
		for (unsigned int it = 0; it < iters; it++)
			for (unsigned int i = 0; i < Q; i++) {
				mfn_alm_pick(alm, svc[i], q[i], &d);
				sum += d.backend;
			}
		best_alm = RTE_MIN(best_alm, rte_rdtsc() - t0);
		t0 = rte_rdtsc();
		for (unsigned int it = 0; it < iters; it++)
			for (unsigned int i = 0; i < Q; i++)
				sum += modtab[svc[i]][(uint32_t)q[i] % B];
		best_mod = RTE_MIN(best_mod, rte_rdtsc() - t0);
	}
	double ns_alm = (double)best_alm / hz * 1e9 / ((double)iters * Q);
	double ns_mod = (double)best_mod / hz * 1e9 / ((double)iters * Q);

	printf("decision      %8.2f ns per new flow (mfn_alm_pick)   hash %% n: %6.2f ns   ratio %.2f"
	       "   (checksum %" PRIu64 ")\n",
	       ns_alm, ns_mod, ns_mod / ns_alm, sum & 0xff);
	json("ns_per_decision", "64x16", ns_alm, ns_mod);
	mfn_alm_destroy(alm);
}

static void bench_rebuild(uint32_t n)
{
	struct mfn_alm *wgt = mk(1, n), *plain = mk(1, n);
	uint64_t best_w = UINT64_MAX, best_p = UINT64_MAX;
	struct mfn_alm_stats st;

	mfn_alm_service_set(wgt, 0);
	mfn_alm_service_set(plain, 0);
	/* Weighted: backends spread over 8 nodes with measured links, weights 1..4. */
	for (uint16_t node = 1; node < 8; node++)
		mfn_alm_link_observe(wgt, 0, node, 500u * node, 0.001 * node, 1);
	for (int round = 0; round < 5; round++) {
		for (uint32_t i = 0; i < n; i++) {
			add(wgt, i, 0, (uint16_t)(i % 8), 1 + i % 4 + (uint32_t)round % 2);
			add(plain, i, 0, 0, 1 + (uint32_t)round % 2);
		}
		mfn_alm_commit(wgt);
		mfn_alm_stats_get(wgt, &st);
		best_w = RTE_MIN(best_w, st.last_rebuild_ns);
		mfn_alm_commit(plain);
		mfn_alm_stats_get(plain, &st);
		best_p = RTE_MIN(best_p, st.last_rebuild_ns);
	}
	printf("rebuild       %8.2f ms for %u backends, weighted + 8-node graph   unweighted local: "
	       "%.2f ms   ratio %.2f\n",
	       (double)best_w / 1e6, n, (double)best_p / 1e6, (double)best_p / (double)best_w);
	char size[32];
	snprintf(size, sizeof(size), "%u", n);
	json("rebuild_ms", size, (double)best_w / 1e6, (double)best_p / 1e6);
	mfn_alm_destroy(wgt);
	mfn_alm_destroy(plain);
}

static void bench_disruption(uint32_t n)
{
	enum { F = 500000 };
	struct mfn_alm *alm = mk(1, n);
	static uint32_t before[F];
	struct mfn_alm_decision d;
	uint32_t moved = 0, mod_moved = 0;

	mfn_alm_service_set(alm, 0);
	for (uint32_t i = 0; i < n; i++)
		add(alm, i, 0, 0, 1);
	mfn_alm_commit(alm);
	rng_state = 42;
	for (unsigned int i = 0; i < F; i++) {
		mfn_alm_pick(alm, 0, rng(), &d);
		before[i] = d.backend;
	}
	mfn_alm_backend_del(alm, n / 2);
	mfn_alm_commit(alm);
	rng_state = 42;
	for (unsigned int i = 0; i < F; i++) {
		uint64_t h = rng();
		uint32_t old_mod = (uint32_t)h % n, new_mod;

		mfn_alm_pick(alm, 0, h, &d);
		moved += d.backend != before[i];
		/* Modulo hashing over the n - 1 remaining (ids renumbered densely). */
		new_mod = (uint32_t)h % (n - 1);
		new_mod += new_mod >= n / 2;
		mod_moved += old_mod != new_mod;
	}
	double frac = (double)moved / F, ideal = 1.0 / n;

	printf("disruption    %8.4f of flows moved removing 1 of %u (M = %u)   minimum 1/N: %.4f "
	       "(ratio %.2f)   modulo: %.4f\n",
	       frac, n, table_size_for(n), ideal, ideal / frac, (double)mod_moved / F);
	char size[32];
	snprintf(size, sizeof(size), "%u", n);
	json("moved_fraction", size, frac, ideal);
	mfn_alm_destroy(alm);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"backends", required_argument, NULL, 'b'},
					     {"iters", required_argument, NULL, 'i'},
					     {"help", no_argument, NULL, 'h'},
					     {NULL, 0, NULL, 0}};
	char *eal[] = {argv[0], "-l", "0", "--no-huge", "-m", "512", "--no-shconf", "--no-pci",
		       "--no-telemetry", "--log-level=*:error"};
	uint32_t backends = 1000;
	unsigned int iters = 100;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'b':
			backends = (uint32_t)strtoul(optarg, NULL, 0);
			if (backends < 2 || backends > 65536) {
				fprintf(stderr, "alm_bench: --backends is %s: must be 2..65536\n", optarg);
				return 2;
			}
			break;
		case 'i':
			iters = (unsigned int)strtoul(optarg, NULL, 0);
			if (iters < 1) {
				fprintf(stderr, "alm_bench: --iters must be >= 1\n");
				return 2;
			}
			break;
		case 'h':
			printf("usage: alm_bench [--backends N] [--iters I]\n"
			       "L3 ALM decision latency, table rebuild time, disruption on removal.\n");
			return 0;
		default:
			return 2;
		}
	}
	if (rte_eal_init(RTE_DIM(eal), eal) < 0) {
		fprintf(stderr, "alm_bench: rte_eal_init: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	bench_pick(iters);
	bench_rebuild(backends);
	for (uint32_t n = 10; n <= 1000; n *= 10)
		bench_disruption(n);
	rte_eal_cleanup();
	return 0;
}
