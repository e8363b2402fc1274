/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ifr_bench — L1 IFR bulk lookup beside raw rte_hash_lookup_bulk.
 *
 * One process, the same keys: a plain rte_hash (default flags, the DPDK
 * library's own CRC hash) and an mfn_ifr (lock-free + RCU table behind the
 * blocked Bloom filter) both hold N random QUIC DCID flow keys. The same
 * query stream (random order, bursts of --burst keys) runs through
 * rte_hash_lookup_bulk and through mfn_ifr_lookup_bulk, alternating rounds so
 * drift on a shared host hits both; the best round of each is reported.
 * Mixes: all hits, half hits, all misses (the case the filter is for).
 * Ratio = raw ns per lookup / IFR ns per lookup (>= 0.8 is the goal; > 1
 * means the IFR is faster). "ifr" is the dataplane's configuration (the
 * filter consulted while misses are common, struct mfn_ifr_reader); the
 * "filter" column always consults it, "nofilter" is a table built without
 * one (only up to 2 M flows, for memory). "hash-LF" is raw rte_hash with the
 * IFR's lock-free flag, ratio-LF the IFR against it.
 *
 *   ifr_bench [--flows N[,N...]] [--queries Q] [--rounds R] [--burst B] [--no-bloom-row]
 * Default: --flows 1000000,10000000 --queries 4000000 --rounds 3 --burst 32.
 * EAL arguments may precede "--": ifr_bench -l 0 --no-huge -m 6144 -- --flows 1000000
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>
#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>

#include "ifr.h"

static uint64_t rng_state = 0x243f6a8885a308d3ull;

static uint64_t rng(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void key_rand(struct mfn_flow_key *k)
{
	uint8_t cid[16];
	uint64_t a = rng(), b = rng();

	memcpy(cid, &a, 8);
	memcpy(cid + 8, &b, 8);
	mfn_key_from_cid(k, cid, 8 + (uint8_t)(b % 9)); /* 8..16-byte DCIDs */
}

struct mix {
	const char *name;
	unsigned int hit_pct;
};

static const struct mix mixes[] = {{"hit", 100}, {"half", 50}, {"miss", 0}};

/*
 * Copy a burst's keys into a small buffer first, for both contenders: in the
 * dataplane the keys sit in the burst's packet metadata, hot in L1, and the
 * table is what misses the cache. Random reads from a key array of N x 40
 * bytes would time that array instead.
 */
static inline void burst_keys(struct mfn_flow_key *kb, const struct mfn_flow_key **q,
			      unsigned int burst)
{
	for (unsigned int j = 0; j < burst; j++)
		kb[j] = *q[j];
}

static double run_raw(struct rte_hash *h, const struct mfn_flow_key **q, size_t nq,
		      unsigned int burst, uint64_t *found)
{
	int32_t pos[MFN_IFR_BULK_MAX];
	struct mfn_flow_key kb[MFN_IFR_BULK_MAX];
	const void *kp[MFN_IFR_BULK_MAX];
	uint64_t t0, f = 0;

	for (unsigned int j = 0; j < burst; j++)
		kp[j] = &kb[j];
	t0 = rte_rdtsc();
	for (size_t i = 0; i + burst <= nq; i += burst) {
		burst_keys(kb, &q[i], burst);
		rte_hash_lookup_bulk(h, kp, burst, pos);
		for (unsigned int j = 0; j < burst; j++)
			f += pos[j] >= 0;
	}
	*found = f;
	return (double)(rte_rdtsc() - t0);
}

static double run_ifr(struct mfn_ifr *ifr, struct mfn_ifr_reader *rd,
		      const struct mfn_flow_key **q, size_t nq, unsigned int burst, uint64_t *found)
{
	struct mfn_ifr_entry *e[MFN_IFR_BULK_MAX];
	struct mfn_flow_key kb[MFN_IFR_BULK_MAX];
	const struct mfn_flow_key *kp[MFN_IFR_BULK_MAX];
	uint64_t t0, f = 0;

	for (unsigned int j = 0; j < burst; j++)
		kp[j] = &kb[j];
	t0 = rte_rdtsc();
	for (size_t i = 0; i + burst <= nq; i += burst) {
		burst_keys(kb, &q[i], burst);
		f += (uint64_t)__builtin_popcountll(mfn_ifr_lookup_bulk(ifr, rd, kp, burst, e, NULL));
	}
	*found = f;
	return (double)(rte_rdtsc() - t0);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: ifr_bench [EAL args --] [--flows N[,N...]] [--queries Q] [--rounds R]\n"
		   "                 [--burst B] [--no-bloom-row] [--help]\n"
		   "L1 IFR bulk lookup vs raw rte_hash_lookup_bulk on the same keys, same run.\n");
}

static int bench_size(uint64_t n, size_t nq, unsigned int rounds, unsigned int burst,
		      bool bloom_row, struct rte_rcu_qsbr *qsv)
{
	struct rte_hash_parameters hp = {
		.name = "raw", .entries = (uint32_t)(n + n / 16 + 8), .key_len = sizeof(struct mfn_flow_key),
		.hash_func = rte_hash_crc, .socket_id = SOCKET_ID_ANY,
	};
	struct mfn_ifr_params ip = {.name = "bench", .capacity = (uint32_t)n, .bloom_fpr = 0.01,
				    .idle_timeout_ms = 60000, .qsv = qsv, .socket_id = SOCKET_ID_ANY};
	struct mfn_ifr_params np = ip;
	struct mfn_flow_key *keys, *absent;
	const struct mfn_flow_key **q;
	struct mfn_ifr *ifr, *nob = NULL;
	struct rte_hash_parameters lp;
	struct rte_hash *raw, *raw_lf = NULL;
	double hz = (double)rte_get_tsc_hz();
	int rc = -ENOMEM;

	np.name = "nobloom";
	np.bloom_fpr = 0;
	keys = malloc(n * sizeof(*keys));
	absent = malloc(n * sizeof(*absent));
	q = malloc(nq * sizeof(*q));
	raw = rte_hash_create(&hp);
	/* The same flags as the IFR's table: readers concurrent with a writer. */
	lp = hp;
	lp.name = "raw_lf";
	lp.extra_flag = RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF;
	raw_lf = rte_hash_create(&lp);
	ifr = mfn_ifr_create(&ip);
	if (bloom_row)
		nob = mfn_ifr_create(&np);
	if (!keys || !absent || !q || !raw || !raw_lf || !ifr || (bloom_row && !nob)) {
		fprintf(stderr, "ifr_bench: no memory for %" PRIu64 " flows (run with more -m)\n", n);
		goto out;
	}
	for (uint64_t i = 0; i < n; i++) {
		key_rand(&keys[i]);
		key_rand(&absent[i]);
		if (rte_hash_add_key(raw, &keys[i]) < 0 || rte_hash_add_key(raw_lf, &keys[i]) < 0 ||
		    mfn_ifr_insert(ifr, &keys[i], 1, MFN_IFR_DECISION(i, 0, 0), 0) < 0 ||
		    (nob && mfn_ifr_insert(nob, &keys[i], 1, MFN_IFR_DECISION(i, 0, 0), 0) < 0)) {
			fprintf(stderr, "ifr_bench: insert %" PRIu64 " of %" PRIu64 " failed\n", i, n);
			rc = -ENOSPC;
			goto out;
		}
	}
	printf("\n%" PRIu64 " flows, %zu queries, bursts of %u, best of %u rounds\n", n, nq, burst,
	       rounds);
	printf("%-6s %12s %12s %10s %8s %8s %12s %12s\n", "mix", "rte_hash ns", "hash-LF ns", "ifr ns",
	       "ratio", "ratio-LF", "filter ns", "nofilter ns");
	for (size_t m = 0; m < RTE_DIM(mixes); m++) {
		double best_raw = 1e300, best_lf = 1e300, best_ifr = 1e300, best_nob = 1e300;
		double best_flt = 1e300;
		uint64_t f_raw = 0, f_lf = 0, f_ifr = 0, f_nob = 0, f_flt = 0;
		struct mfn_ifr_reader rd = {0};

		for (size_t i = 0; i < nq; i++) {
			bool hit = rng() % 100 < mixes[m].hit_pct;

			q[i] = hit ? &keys[rng() % n] : &absent[rng() % n];
		}
		for (unsigned int r = 0; r < rounds; r++) {
			double t;

			t = run_ifr(ifr, &rd, q, nq, burst, &f_ifr);
			best_ifr = t < best_ifr ? t : best_ifr;
			t = run_ifr(ifr, NULL, q, nq, burst, &f_flt);
			best_flt = t < best_flt ? t : best_flt;
			t = run_raw(raw, q, nq, burst, &f_raw);
			best_raw = t < best_raw ? t : best_raw;
			t = run_raw(raw_lf, q, nq, burst, &f_lf);
			best_lf = t < best_lf ? t : best_lf;
			if (nob) {
				t = run_ifr(nob, NULL, q, nq, burst, &f_nob);
				best_nob = t < best_nob ? t : best_nob;
			}
		}
		/* Both must have answered the same question. */
		if (f_raw != f_ifr || f_lf != f_raw || f_flt != f_raw || (nob && f_nob != f_raw)) {
			fprintf(stderr, "ifr_bench: hit counts differ: raw %" PRIu64 " ifr %" PRIu64 "\n",
				f_raw, f_ifr);
			rc = -EPROTO;
			goto out;
		}
		double ns_raw = best_raw / hz * 1e9 / (double)(nq / burst * burst);
		double ns_lf = best_lf / hz * 1e9 / (double)(nq / burst * burst);
		double ns_ifr = best_ifr / hz * 1e9 / (double)(nq / burst * burst);
		double ns_nob = nob ? best_nob / hz * 1e9 / (double)(nq / burst * burst) : 0;
		double ns_flt = best_flt / hz * 1e9 / (double)(nq / burst * burst);

		char nob_col[16] = "-"; /* no filterless table above 1 M flows (memory) */

		if (nob)
			snprintf(nob_col, sizeof(nob_col), "%.2f", ns_nob);
		printf("%-6s %12.2f %12.2f %10.2f %8.2f %8.2f %12.2f %12s\n", mixes[m].name, ns_raw,
		       ns_lf, ns_ifr, ns_raw / ns_ifr, ns_lf / ns_ifr, ns_flt, nob_col);
		printf("{\"bench\":\"ifr_lookup\",\"vdev\":\"%" PRIu64 "\",\"size\":\"%s\","
		       "\"metric\":\"ns_per_lookup\",\"value\":%.3f,\"ref\":%.3f,\"ratio\":%.3f}\n",
		       n, mixes[m].name, ns_ifr, ns_raw, ns_raw / ns_ifr);
		printf("{\"bench\":\"ifr_lookup_lf\",\"vdev\":\"%" PRIu64 "\",\"size\":\"%s\","
		       "\"metric\":\"ns_per_lookup\",\"value\":%.3f,\"ref\":%.3f,\"ratio\":%.3f}\n",
		       n, mixes[m].name, ns_ifr, ns_lf, ns_lf / ns_ifr);
	}
	rc = 0;
out:
	mfn_ifr_destroy(nob);
	mfn_ifr_destroy(ifr);
	rte_hash_free(raw_lf);
	rte_hash_free(raw);
	free(q);
	free(absent);
	free(keys);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"flows", required_argument, NULL, 'f'}, {"queries", required_argument, NULL, 'q'},
		{"rounds", required_argument, NULL, 'r'}, {"burst", required_argument, NULL, 'b'},
		{"no-bloom-row", no_argument, NULL, 'n'}, {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}};
	char *def_eal[] = {argv[0], "-l", "0", "--no-huge", "-m", "6144", "--no-shconf", "--no-pci",
			   "--no-telemetry", "--log-level=*:error"};
	char flows[256] = "1000000,10000000";
	size_t nq = 4000000;
	unsigned int rounds = 3, burst = 32;
	bool bloom_row = true;
	struct rte_rcu_qsbr *qsv;
	int c, rc, sep = -1;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		}
		if (strcmp(argv[i], "--") == 0)
			sep = i;
	}
	if (sep > 0)
		rc = rte_eal_init(sep, argv);
	else
		rc = rte_eal_init(RTE_DIM(def_eal), def_eal);
	if (rc < 0) {
		fprintf(stderr, "ifr_bench: rte_eal_init: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	if (sep > 0) {
		argv[sep] = argv[0];
		argc -= sep;
		argv += sep;
	}
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			snprintf(flows, sizeof(flows), "%s", optarg);
			break;
		case 'q':
			nq = strtoull(optarg, NULL, 0);
			break;
		case 'r':
			rounds = (unsigned int)strtoul(optarg, NULL, 0);
			break;
		case 'b':
			burst = (unsigned int)strtoul(optarg, NULL, 0);
			if (burst < 1 || burst > MFN_IFR_BULK_MAX) {
				fprintf(stderr, "ifr_bench: --burst is %s: must be 1..%d\n", optarg,
					MFN_IFR_BULK_MAX);
				return 2;
			}
			break;
		case 'n':
			bloom_row = false;
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (rounds < 1 || nq < burst) {
		fprintf(stderr, "ifr_bench: --rounds must be >= 1 and --queries >= --burst\n");
		return 2;
	}
	qsv = rte_zmalloc("qsv", rte_rcu_qsbr_get_memsize(1), RTE_CACHE_LINE_SIZE);
	if (qsv == NULL || rte_rcu_qsbr_init(qsv, 1) != 0)
		return 1;
	for (char *tok = strtok(flows, ","); tok; tok = strtok(NULL, ",")) {
		char *end;
		uint64_t n = strtoull(tok, &end, 0);

		if (*end != '\0' || n < 1 || n > (1u << 30)) {
			fprintf(stderr, "ifr_bench: --flows value \"%s\": must be 1..%u\n", tok, 1u << 30);
			return 2;
		}
		/* The no-filter row needs a third table: only where memory allows. */
		if (bench_size(n, nq, rounds, burst, bloom_row && n <= 2000000, qsv) < 0)
			return 1;
	}
	rte_free(qsv);
	rte_eal_cleanup();
	return 0;
}
