/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * consensus_sim — the PBFT core (controlplane/consensus.h) on a simulated
 * network where every link delivers after exactly D ms, for N = 4..100, with
 * batching on (up to 16 requests per pre-prepare) and off (1):
 *   commit latency  from bft_submit() at a backup to execution there, in
 *                   simulated ms, p50 and p99, and as a multiple of D (the
 *                   normal case needs 4 message delays: request multicast,
 *                   PRE-PREPARE, PREPARE, COMMIT, §4.2);
 *   throughput      requests executed per simulated second while R requests
 *                   are offered at once;
 *   CPU per request real microseconds of all N replicas per request
 *                   (Ed25519 signing and verification dominate).
 * The reference row is the protocol's bound of 4 D in the same run; the
 * real-process comparison with etcd is perf/consensus.sh.
 *
 *   consensus_sim [--delay-ms D] [--requests R] [--sizes 4,7,10,...]
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "consensus.h"

#define MAXN 100

struct msg {
	uint64_t at;
	int to;
	uint8_t *b;
	size_t len;
};

struct net {
	struct msg *q;
	size_t n, cap, head;
	uint64_t now, delay;
	int from;
	struct bft_replica *r[MAXN];
	uint32_t nr;
	uint64_t *done_at; /* per request id, at replica 1 */
	uint32_t reqs;
	uint64_t executed;
};

struct ctx {
	struct net *net;
	int id;
};

static void on_send(void *cp, int to, const uint8_t *b, size_t len)
{
	struct ctx *c = cp;
	struct net *n = c->net;

	for (uint32_t i = 0; i < n->nr; i++) {
		if ((int)i == c->id || (to >= 0 && (int)i != to))
			continue;
		if (n->n == n->cap) {
			n->cap = n->cap ? 2 * n->cap : 4096;
			n->q = realloc(n->q, n->cap * sizeof(*n->q));
			if (n->q == NULL)
				abort();
		}
		/* Every link has the same delay: a FIFO is a time-ordered queue. */
		n->q[n->n].at = n->now + n->delay;
		n->q[n->n].to = (int)i;
		n->q[n->n].b = malloc(len);
		memcpy(n->q[n->n].b, b, len);
		n->q[n->n++].len = len;
	}
}

static void on_exec(void *cp, uint64_t seq, uint32_t from, const uint8_t *req, size_t len)
{
	struct ctx *c = cp;
	char txt[32];
	unsigned int id;

	(void)seq;
	(void)from;
	snprintf(txt, sizeof(txt), "%.*s", (int)(len < sizeof(txt) ? len : sizeof(txt) - 1),
		 (const char *)req);
	if (c->id == 1 && sscanf(txt, "req %u", &id) == 1 && id < c->net->reqs) {
		c->net->done_at[id] = c->net->now;
		c->net->executed++;
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double cpu_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void run(uint32_t nrep, uint32_t batch, uint64_t delay, uint32_t reqs)
{
	struct net net = {.delay = delay, .nr = nrep, .reqs = reqs};
	struct ctx ctx[MAXN];
	struct bft_config c = {.n = nrep,
			       .checkpoint_interval = 16,
			       .window = 64,
			       .view_timeout_ms = 100000,
			       .retransmit_ms = 100000,
			       .batch_max = batch,
			       /* batching needs a bounded pipeline (as controld's default) */
			       .pipeline_max = batch > 1 ? 2 : 0};
	uint8_t priv[MAXN][BFT_KEY];
	uint64_t *lat = calloc(reqs, sizeof(*lat)), *sub = calloc(reqs, sizeof(*sub)), end = 0;
	double t0;

	net.done_at = calloc(reqs, sizeof(*net.done_at));
	for (uint32_t i = 0; i < nrep; i++) {
		memset(priv[i], (int)(i + 1), BFT_KEY);
		bft_public_key(priv[i], c.pub[i]);
	}
	for (uint32_t i = 0; i < nrep; i++) {
		ctx[i] = (struct ctx){.net = &net, .id = (int)i};
		c.id = i;
		memcpy(c.priv, priv[i], BFT_KEY);
		c.ops = (struct bft_ops){.send = on_send, .execute = on_exec};
		c.ctx = &ctx[i];
		if (bft_create(&c, &net.r[i]) < 0)
			abort();
	}
	t0 = cpu_us();
	/* Replica 1 (a backup) offers all requests at time 0. */
	for (uint32_t k = 0; k < reqs; k++) {
		char req[32];
		int l = snprintf(req, sizeof(req), "req %u", k);

		sub[k] = 0;
		bft_submit(net.r[1], (const uint8_t *)req, (size_t)l, 0);
	}
	while (net.head < net.n && net.executed < reqs) {
		struct msg m = net.q[net.head++];

		net.now = m.at;
		bft_receive(net.r[m.to], m.b, m.len, net.now);
		free(m.b);
	}
	double cpu = cpu_us() - t0;

	for (uint32_t k = 0; k < reqs; k++) {
		lat[k] = net.done_at[k] - sub[k];
		if (net.done_at[k] > end)
			end = net.done_at[k];
	}
	qsort(lat, reqs, sizeof(*lat), cmp_u64);
	double p50 = (double)lat[reqs / 2], p99 = (double)lat[(reqs * 99) / 100];

	printf("%4u %6s %10.1f %10.1f %8.2f %12.0f %12.0f\n", nrep, batch > 1 ? "on" : "off", p50,
	       p99, p50 / (4.0 * (double)delay), end ? (double)reqs * 1000.0 / (double)end : 0,
	       cpu / reqs);
	printf("{\"bench\":\"consensus_sim_%s\",\"vdev\":\"n%u\",\"size\":%llu,\"metric\":"
	       "\"commit_p50_ms\",\"value\":%.1f,\"ref\":%.1f,\"ref_name\":\"pbft_4_delays\","
	       "\"ratio\":%.3f}\n",
	       batch > 1 ? "batch" : "nobatch", nrep, (unsigned long long)delay, p50,
	       4.0 * (double)delay, 4.0 * (double)delay / p50);
	for (uint32_t i = 0; i < nrep; i++)
		bft_destroy(net.r[i]);
	while (net.head < net.n)
		free(net.q[net.head++].b);
	free(net.q);
	free(net.done_at);
	free(lat);
	free(sub);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {{"delay-ms", required_argument, NULL, 'd'},
					   {"requests", required_argument, NULL, 'r'},
					   {"sizes", required_argument, NULL, 'N'},
					   {"help", no_argument, NULL, 'h'},
					   {NULL, 0, NULL, 0}};
	uint64_t delay = 5;
	uint32_t reqs = 256, sizes[32] = {4, 7, 10, 13, 16}, n_sizes = 5;
	int o;

	while ((o = getopt_long(argc, argv, "d:r:N:h", lo, NULL)) != -1) {
		switch (o) {
		case 'd':
			delay = strtoull(optarg, NULL, 10);
			break;
		case 'r':
			reqs = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'N': {
			char *p = optarg, *end;

			n_sizes = 0;
			while (*p && n_sizes < 32) {
				unsigned long v = strtoul(p, &end, 10);

				if (end == p || v < 4 || v > MAXN || v > BFT_MAX_N ||
				    (*end && *end != ',')) {
					fprintf(stderr,
						"consensus_sim: --sizes \"%s\": comma-separated N in "
						"4..%d\n",
						optarg, MAXN < BFT_MAX_N ? MAXN : BFT_MAX_N);
					return 2;
				}
				sizes[n_sizes++] = (uint32_t)v;
				p = *end ? end + 1 : end;
			}
			break;
		}
		case 'h':
			printf("usage: consensus_sim [--delay-ms D] [--requests R] [--sizes N,N,...]\n"
			       "  default sizes 4,7,10,13,16; up to %d\n",
			       MAXN);
			return 0;
		default:
			return 2;
		}
	}
	if (delay == 0 || reqs == 0 || reqs > 100000) {
		fprintf(stderr, "consensus_sim: --delay-ms >= 1, --requests 1..100000\n");
		return 2;
	}
	printf("PBFT on a simulated network, link delay %llu ms, %u requests offered at once\n",
	       (unsigned long long)delay, reqs);
	printf("%4s %6s %10s %10s %8s %12s %12s\n", "N", "batch", "p50 ms", "p99 ms", "p50/4D",
	       "req/sim-s", "CPU us/req");
	for (uint32_t i = 0; i < n_sizes; i++)
		for (uint32_t b = 1; b <= 16; b += 15)
			run(sizes[i], b, delay, reqs);
	return 0;
}
