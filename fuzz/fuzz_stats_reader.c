/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target: the stats segment reader (hm_stats_reader_*), which
 * hmesh-stat and the collectd plugin point at files in /dev/shm that any
 * process of the node may have written. Each input becomes such a file;
 * the reader opens it, and when it accepts it, reads every entry, every
 * block label and every entry's values. Invariants beyond "no sanitizer
 * report": open gives 0, -EPROTO or -errno; an accepted entry's strings
 * are terminated and its values are read without a fault.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hm_stats.h"

static char path[64];

/*
 * HMESH_FUZZ_SEED=FILE (scripts/fuzz.sh): write a real segment with the
 * writer (two labelled blocks; a counter, a gauge and a histogram) to FILE
 * so the corpus starts from a file the reader accepts.
 */
static void write_seed(const char *to)
{
	char name[32];
	struct hm_stats *s;
	int in = -1, out = -1;
	char buf[4096];
	ssize_t n;

	snprintf(name, sizeof(name), "fuzz-seed-%d", (int)getpid());
	s = hm_stats_create(name, 2, 4096, 8);
	if (!s) {
		perror("fuzz_stats_reader: hm_stats_create");
		exit(1);
	}
	if (hm_stats_add(s, HM_STATS_COUNTER, "rx_packets", "port=0", "packets received", 0, 0,
			 HM_STATS_WORD_AUTO) < 0 ||
	    hm_stats_add(s, HM_STATS_GAUGE, "ring_used", "", "ring entries", 0, 0,
			 HM_STATS_WORD_AUTO) < 0 ||
	    hm_stats_add(s, HM_STATS_HISTOGRAM, "burst_ns", "", "burst time", 1e-9, 0,
			 HM_STATS_WORD_AUTO) < 0 ||
	    hm_stats_block_label(s, 0, "lcore=0") < 0 || hm_stats_block_label(s, 1, "lcore=1") < 0) {
		fprintf(stderr, "fuzz_stats_reader: could not describe the seed segment\n");
		exit(1);
	}
	hm_stats_inc(hm_stats_block(s, 0), 42);
	in = open(hm_stats_file(s), O_RDONLY | O_CLOEXEC);
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (in < 0 || out < 0) {
		perror("fuzz_stats_reader: seed");
		exit(1);
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n) {
			perror("fuzz_stats_reader: write seed");
			exit(1);
		}
	close(in);
	close(out);
	hm_stats_destroy(s);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *seed = getenv("HMESH_FUZZ_SEED");

	(void)argc;
	(void)argv;
	if (seed) {
		write_seed(seed);
		exit(0);
	}
	snprintf(path, sizeof(path), "/dev/shm/hmesh-fuzz-reader-%d", (int)getpid());
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hm_stats_reader *r;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	unsigned int n;

	if (fd < 0)
		return 0;
	if (size && write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	close(fd);
	if (hm_stats_reader_open(path, &r) != 0)
		goto out;
	n = hm_stats_reader_count(r);
	for (unsigned int i = 0; i < n && i < 4096; i++) {
		struct hm_stats_entry e;
		uint64_t vals[4096];

		if (hm_stats_reader_entry(r, i, &e) != 0)
			continue;
		if (strnlen(e.name, sizeof(e.name)) == sizeof(e.name))
			abort();
		if (e.n_words <= sizeof(vals) / sizeof(vals[0])) {
			(void)hm_stats_reader_values(r, &e, UINT32_MAX, vals);
			(void)hm_stats_reader_values(r, &e, 0, vals);
		}
	}
	for (unsigned int b = 0; b < 64; b++)
		if (hm_stats_reader_block_label(r, b) == NULL)
			break;
	hm_stats_reader_close(r);
out:
	unlink(path);
	return 0;
}
