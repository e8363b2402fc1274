/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * parse_bench — the dataplane's parser (fast path first, dp_parse_frame)
 * beside its general parser alone (dp_parse_frame_general_only), the
 * reference: same process, same frames, alternating rounds so drift on a
 * shared host hits both; the median round of each is reported.
 *
 * 512 frames of one size, laid out like mbufs (one 2,368-byte slot each,
 * the frame 320 bytes in), as perf/dataplane.sh sends them: untagged
 * IPv4/UDP to port 443, 10 % QUIC Initials (DCID and SCID of 8 bytes; at
 * least 72 bytes), the rest short headers. A round parses all 512 in bursts of 32, prefetching
 * 3 ahead as the RX loop does. Ratio = general ns per packet / fast ns per
 * packet (> 1: the fast path is faster). This isolates the parse from the
 * PMD and the rest of the packet path, whose run-to-run noise on a shared
 * VM (20-40 %) hides changes of a few cycles in perf/dataplane.sh.
 *
 * On CPUs with AVX2, a second figure: the RX loop's two-frame path
 * (dp_parse_fast_pair, the one-frame parser behind it) against the
 * one-frame path alone, both inlined into their loops with their
 * constants where the RX loop keeps them (per burst for the one-frame
 * path; built once and copied per burst for the pair path). Ratio =
 * one-frame ns per packet / pair ns per packet.
 *
 *   parse_bench [--rounds R] [--sizes 64,1200]
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_byteorder.h>

#include "dp_parse.h"
#include "dp_parse_impl.h"

#define PB_FRAMES 512
#define PB_SLOT 2368 /* 37 cache lines: frames spread over every L1 set */
#define PB_HEAD 320  /* mbuf header, private area, headroom */
#define PB_BURST 32
#define PB_AHEAD 3

typedef enum dp_parse_result (*pb_parse_fn)(const uint8_t *, uint32_t,
					    const struct dp_parse_cfg *, struct dp_pkt_info *);

struct pb {
	uint8_t *mem;
	uint32_t len[PB_FRAMES];
	struct dp_parse_cfg cfg;
#ifdef DP_PARSE_PAIR
	struct dp_parse_pair pair; /* the pair path's constants, built once */
#endif
};

static uint8_t *pb_frame(const struct pb *b, int i)
{
	return b->mem + (size_t)i * PB_SLOT + PB_HEAD;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Frame @i of @size bytes: Ethernet, IPv4, UDP to 443, a QUIC Initial or short header. */
static void pb_build(struct pb *b, int i, uint32_t size, int initial)
{
	static const uint8_t eth[14] = { 2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00 };
	uint8_t *f = pb_frame(b, i), *ip = f + 14, *udp = ip + 20, *q = udp + 8;

	memset(f, 0, size);
	memcpy(f, eth, sizeof(eth));
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(size - 14));
	ip[6] = 0x40; /* DF */
	ip[8] = 64;
	ip[9] = 17;
	ip[12] = 10;
	ip[14] = (uint8_t)(i >> 8);
	ip[15] = (uint8_t)i;
	ip[16] = 10;
	ip[17] = 100;
	ip[19] = 1;
	put16(udp, (uint16_t)(20000 + i));
	put16(udp + 2, 443);
	put16(udp + 4, (uint16_t)(size - 34));
	if (initial) {
		q[0] = 0xc3; /* long header, fixed bit, Initial, 4-byte packet number */
		q[4] = 1;    /* version 1 */
		q[5] = 8;
		memset(q + 6, i, 8);
		q[14] = 8;
		memset(q + 15, 0x5a, 8);
		q[23] = 0; /* token length */
	} else {
		q[0] = 0x43;
		memset(q + 1, i, 8);
	}
	b->len[i] = size;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * One round: every frame parsed once. Returns the nanoseconds it took;
 * *ok counts the frames that parsed (all must, or the round compares
 * nothing).
 */
static uint64_t pb_round(const struct pb *b, pb_parse_fn parse, unsigned int *ok)
{
	struct dp_pkt_info info[PB_BURST];
	unsigned int good = 0;
	uint64_t t0 = now_ns();

	for (int s = 0; s < PB_FRAMES; s += PB_BURST)
		for (int i = s; i < s + PB_BURST; i++) {
			if (i + PB_AHEAD < PB_FRAMES)
				__builtin_prefetch(pb_frame(b, i + PB_AHEAD));
			good += parse(pb_frame(b, i), b->len[i], &b->cfg, &info[i - s]) ==
				DP_PARSE_OK;
		}
	*ok = good;
	return now_ns() - t0;
}

/* Frame @i through the one-frame path as the RX loop inlines it: fast path, then the general parser. */
static inline __attribute__((always_inline)) bool pb_one(const struct pb *b, int i,
							 const struct dp_parse_fast *fp,
							 struct dp_pkt_info *info)
{
	const uint8_t *f = pb_frame(b, i);

	return dp_parse_fast_try(f, b->len[i], fp, info) != DP_FAST_NO ||
	       dp_parse_frame_general(f, b->len[i], &b->cfg, info) == DP_PARSE_OK;
}

/* A round of the one-frame path inlined, its constants built per burst. */
static uint64_t pb_round_one(const struct pb *b, unsigned int *ok)
{
	struct dp_pkt_info info[PB_BURST];
	unsigned int good = 0;
	uint64_t t0 = now_ns();

	for (int s = 0; s < PB_FRAMES; s += PB_BURST) {
		struct dp_parse_fast fp;

		dp_parse_fast_prep(&fp, &b->cfg);
		for (int i = s; i < s + PB_BURST; i++) {
			if (i + PB_AHEAD < PB_FRAMES)
				__builtin_prefetch(pb_frame(b, i + PB_AHEAD));
			good += pb_one(b, i, &fp, &info[i - s]);
		}
	}
	*ok = good;
	return now_ns() - t0;
}

#ifdef DP_PARSE_PAIR
/* A round of the pair path, frames 4 ahead prefetched in pairs, as in the RX loop. */
static __attribute__((target("avx2"))) uint64_t
pb_round_pair(const struct pb *b, const struct dp_parse_pair *built, unsigned int *ok)
{
	_Static_assert(PB_BURST % 2 == 0, "pb_round_pair: bursts of pairs");
	struct dp_pkt_info info[PB_BURST];
	unsigned int good = 0;
	uint64_t t0 = now_ns();

	for (int s = 0; s < PB_FRAMES; s += PB_BURST) {
		const struct dp_parse_pair pp = *built;
		struct dp_parse_fast fp;

		dp_parse_fast_prep(&fp, &b->cfg);
		for (int i = s; i < s + PB_BURST; i += 2) {
			unsigned int took;

			if (i + 5 < PB_FRAMES) {
				__builtin_prefetch(pb_frame(b, i + 4));
				__builtin_prefetch(pb_frame(b, i + 5));
			}
			took = dp_parse_fast_pair(pb_frame(b, i), (uint16_t)b->len[i],
						  pb_frame(b, i + 1), (uint16_t)b->len[i + 1], &pp,
						  &info[i - s], &info[i - s + 1]);
			good += (took & 1) ? 1 : pb_one(b, i, &fp, &info[i - s]);
			good += (took & 2) ? 1 : pb_one(b, i + 1, &fp, &info[i - s + 1]);
		}
	}
	*ok = good;
	return now_ns() - t0;
}
#endif

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The median of @n samples (sorts them). */
static double pb_median(uint64_t *t, int n)
{
	qsort(t, (size_t)n, sizeof(*t), cmp_u64);
	return (double)t[n / 2] / PB_FRAMES;
}

static int pb_size(struct pb *b, uint32_t size, int rounds)
{
	uint64_t *tf = calloc((size_t)rounds, sizeof(*tf)), *tg = calloc((size_t)rounds, sizeof(*tg));
	uint64_t *to = calloc((size_t)rounds, sizeof(*to)), *tp = calloc((size_t)rounds, sizeof(*tp));
	const bool pair = dp_parse_pair_usable();
	double fast, gen, one, two;
	int rc = 0;

	if (!tf || !tg || !to || !tp) {
		fprintf(stderr, "parse_bench: out of memory\n");
		rc = -ENOMEM;
		goto out;
	}
	/* An Initial's header (24 bytes with an empty token) needs 30 bytes of
	 * payload: at 64 B, Initials are 72 B, as in perf/dataplane.sh. */
	for (int i = 0; i < PB_FRAMES; i++)
		pb_build(b, i, i % 10 == 0 && size < 72 ? 72 : size, i % 10 == 0);
	for (int r = 0; r < rounds; r++) {
		unsigned int okf, okg, oko, okp = PB_FRAMES;

		tf[r] = pb_round(b, dp_parse_frame, &okf);
		tg[r] = pb_round(b, dp_parse_frame_general_only, &okg);
		to[r] = pb_round_one(b, &oko);
#ifdef DP_PARSE_PAIR
		if (pair)
			tp[r] = pb_round_pair(b, &b->pair, &okp);
#endif
		if (okf != PB_FRAMES || okg != PB_FRAMES || oko != PB_FRAMES || okp != PB_FRAMES) {
			fprintf(stderr,
				"parse_bench: %u (fast), %u (general), %u (one-frame loop) and %u "
				"(pair loop) of %d frames parsed\n",
				okf, okg, oko, okp, PB_FRAMES);
			rc = -EINVAL;
			goto out;
		}
	}
	fast = pb_median(tf, rounds);
	gen = pb_median(tg, rounds);
	one = pb_median(to, rounds);
	printf("%-6u %16.2f %16.2f %8.3f", size, fast, gen, gen / fast);
	if (!pair) {
		printf("   (no two-frame path: no AVX2 here)\n");
	} else {
		two = pb_median(tp, rounds);
		printf(" %16.2f %16.2f %8.3f\n", one, two, one / two);
	}
	printf("{\"bench\":\"parse\",\"vdev\":\"\",\"size\":%u,\"metric\":\"ns_per_packet\","
	       "\"value\":%.3f,\"ref\":%.3f,\"ref_name\":\"general_parser\",\"ratio\":%.3f}\n",
	       size, fast, gen, gen / fast);
	if (pair)
		printf("{\"bench\":\"parse\",\"vdev\":\"\",\"size\":%u,"
		       "\"metric\":\"ns_per_packet_pair\",\"value\":%.3f,\"ref\":%.3f,"
		       "\"ref_name\":\"one_frame_loop\",\"ratio\":%.3f}\n",
		       size, two, one, one / two);
out:
	free(tf);
	free(tg);
	free(to);
	free(tp);
	return rc;
}

static int parse_sizes(const char *arg, uint32_t *sizes, int max)
{
	char *copy = strdup(arg), *save = NULL, *tok;
	int n = 0;

	if (!copy)
		return -ENOMEM;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *end;
		unsigned long v = strtoul(tok, &end, 10);

		/* 60: the shortest frame carrying an Initial's header; 1514: one slot. */
		if (*end || v < 60 || v > 1514 || n == max) {
			fprintf(stderr, "parse_bench: --sizes has \"%s\": give up to %d sizes of 60..1514\n",
				tok, max);
			free(copy);
			return -EINVAL;
		}
		sizes[n++] = (uint32_t)v;
	}
	free(copy);
	if (n == 0) {
		fprintf(stderr, "parse_bench: --sizes is empty\n");
		return -EINVAL;
	}
	return n;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "rounds", required_argument, NULL, 'r' },
		{ "sizes", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint32_t sizes[8] = { 64, 1200 };
	int n_sizes = 2, rounds = 20001, c;
	struct pb b = { 0 };

	while ((c = getopt_long(argc, argv, "r:s:h", opts, NULL)) != -1) {
		char *end;

		switch (c) {
		case 'r':
			rounds = (int)strtol(optarg, &end, 10);
			if (*end || rounds < 1 || rounds > 10000000) {
				fprintf(stderr, "parse_bench: --rounds is %s: must be 1..10000000\n",
					optarg);
				return 2;
			}
			break;
		case 's':
			n_sizes = parse_sizes(optarg, sizes, 8);
			if (n_sizes < 0)
				return 2;
			break;
		case 'h':
			printf("usage: parse_bench [--rounds R] [--sizes 64,1200]\n"
			       "The parser's fast path beside the general parser alone, same frames,\n"
			       "alternating rounds of 512 frames; median ns per packet and the ratio\n"
			       "general / fast. With AVX2, also the RX loop's two-frame path beside\n"
			       "its one-frame path (ratio one-frame / pair).\n"
			       "Default: --rounds 20001 --sizes 64,1200.\n");
			return 0;
		default:
			return 2;
		}
	}
	b.cfg.short_dcid_len = 8;
	b.cfg.n_stoq_ports = 1;
	b.cfg.stoq_ports[0] = rte_cpu_to_be_16(443);
	b.mem = aligned_alloc(64, (size_t)PB_FRAMES * PB_SLOT);
	if (!b.mem) {
		fprintf(stderr, "parse_bench: out of memory\n");
		return 1;
	}
#ifdef DP_PARSE_PAIR
	if (dp_parse_pair_usable())
		dp_parse_pair_build(&b.pair, &b.cfg);
#endif
	printf("\n%-6s %16s %16s %8s %16s %16s %8s\n", "size", "fast ns/pkt", "general ns/pkt",
	       "ratio", "one-frame loop", "pair loop", "ratio");
	for (int i = 0; i < n_sizes; i++)
		if (pb_size(&b, sizes[i], rounds) < 0) {
			free(b.mem);
			return 1;
		}
	free(b.mem);
	return 0;
}
