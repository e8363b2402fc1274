/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bench_sha256 — SHA-256 throughput on one core: STOQ's own code on the
 * CPU's SHA extensions (stoq_sha256.c, what every PUT is hashed with)
 * against wolfCrypt's (the reference, and what it falls back to), over
 * the same buffer in the same process, alternating, best of the rounds.
 * Two buffers: 256 KiB (in cache: the hash alone) and 64 MiB (read from
 * memory, as a PUT's blocks are). Prints GB/s and JSON lines.
 *   bench_sha256 [seconds per figure, default 0.5] [rounds, default 3]
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "stoq_priv.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Bytes hashed per second over @secs, @buf (@len bytes) again and again. */
static double run(bool ni, const uint8_t *buf, size_t len, double secs)
{
	struct stoq_sha256 s;
	uint8_t d[32];
	uint64_t bytes = 0;
	double t0 = now_s(), t;

	do {
		if (stoq_sha256_init_impl(&s, ni) < 0 || stoq_sha256_update(&s, buf, len) < 0 ||
		    stoq_sha256_final(&s, d) < 0) {
			fprintf(stderr, "bench_sha256: hashing failed\n");
			exit(1);
		}
		stoq_sha256_free(&s);
		bytes += len;
		t = now_s() - t0;
	} while (t < secs);
	return (double)bytes / t;
}

int main(int argc, char **argv)
{
	static const size_t sizes[] = {256u << 10, 64u << 20};
	double secs = argc > 1 ? atof(argv[1]) : 0.5;
	int rounds = argc > 2 ? atoi(argv[2]) : 3;
	uint8_t *buf;

	if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		printf("usage: bench_sha256 [SECONDS per figure, default 0.5] [ROUNDS, default 3]\n");
		return 0;
	}
	if (argc > 3 || !(secs > 0) || rounds < 1) {
		fprintf(stderr, "bench_sha256: %s\n",
			argc > 3      ? "at most two arguments: SECONDS ROUNDS" :
			!(secs > 0) ? "SECONDS must be a number above 0" :
					"ROUNDS must be a whole number >= 1");
		return 2;
	}
	if (!stoq_sha256_has_ni()) { /* not a failure: nothing to measure here */
		printf("bench_sha256: this CPU has no SHA extensions: stoq_sha256 is wolfCrypt's "
		       "code here, nothing to compare\n");
		return 0;
	}
	buf = malloc(sizes[1]);
	if (!buf) {
		fprintf(stderr, "bench_sha256: out of memory\n");
		return 1;
	}
	for (size_t i = 0; i < sizes[1]; i++)
		buf[i] = (uint8_t)(i * 131 + (i >> 10));
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		double ni = 0, wc = 0;

		for (int r = 0; r < rounds; r++) { /* alternating: drift hits both */
			double a = run(true, buf, sizes[k], secs), b = run(false, buf, sizes[k], secs);

			ni = a > ni ? a : ni;
			wc = b > wc ? b : wc;
		}
		printf("SHA-256, one core, %zu KiB buffers: SHA-NI %.2f GB/s, wolfCrypt %.2f GB/s "
		       "(ratio %.2f)\n",
		       sizes[k] >> 10, ni / 1e9, wc / 1e9, ni / wc);
		printf("{\"bench\":\"sha256\",\"metric\":\"gbytes_per_s_%zuk\",\"value\":%.3f,"
		       "\"ref\":%.3f,\"ratio\":%.3f}\n",
		       sizes[k] >> 10, ni / 1e9, wc / 1e9, ni / wc);
	}
	free(buf);
	return 0;
}
