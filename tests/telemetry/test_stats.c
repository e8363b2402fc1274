/* SPDX-License-Identifier: BSD-3-Clause */
/* hm_stats: segment layout, writer/reader agreement, restarts, histograms, bad input. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hm_stats.h"

static char dir[64];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/hmstats-test.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	setenv("HMESH_STATS_DIR", dir, 1);
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_expect_eq(system(cmd), 0);
}

TestSuite(stats, .init = setup, .fini = teardown);

static int find(struct hm_stats_reader *r, const char *name, const char *labels,
		struct hm_stats_entry *e)
{
	for (unsigned int i = 0; i < hm_stats_reader_count(r); i++) {
		cr_assert_eq(hm_stats_reader_entry(r, i, e), 0);
		if (strcmp(e->name, name) == 0 && strcmp(e->labels, labels) == 0)
			return (int)i;
	}
	return -1;
}

Test(stats, reader_sums_blocks_and_sees_entries_added_later)
{
	struct hm_stats *s = hm_stats_create("t1", 4, 64 * 8, 16);
	struct hm_stats_reader *r;
	struct hm_stats_entry e;
	char path[256];
	uint64_t v;
	int rx, drops;

	cr_assert_not_null(s, "create: %s", strerror(errno));
	rx = hm_stats_add(s, HM_STATS_COUNTER, "rx_packets", NULL, "packets in", 0,
			  HM_STATS_F_PER_BLOCK, HM_STATS_WORD_AUTO);
	cr_assert_eq(rx, 0);
	for (unsigned int b = 0; b < 4; b++) {
		char l[16];

		snprintf(l, sizeof(l), "lcore=%u", b);
		cr_assert_eq(hm_stats_block_label(s, b, l), 0);
		hm_stats_inc(&hm_stats_block(s, b)[rx], 10 * (b + 1));
	}
	cr_assert_eq(hm_stats_path("t1", path, sizeof(path)), 0);
	cr_assert_eq(hm_stats_reader_open(path, &r), 0);
	cr_expect_str_eq(hm_stats_reader_hdr(r)->process, "t1");
	cr_expect_eq(hm_stats_reader_hdr(r)->pid, getpid());
	cr_assert_eq(hm_stats_reader_count(r), 1);
	cr_assert_geq(find(r, "rx_packets", "", &e), 0);
	cr_assert_eq(hm_stats_reader_values(r, &e, UINT32_MAX, &v), 0);
	cr_expect_eq(v, 100);
	cr_assert_eq(hm_stats_reader_values(r, &e, 2, &v), 0);
	cr_expect_eq(v, 30);
	cr_expect_str_eq(hm_stats_reader_block_label(r, 2), "lcore=2");
	cr_expect_eq(hm_stats_reader_values(r, &e, 4, &v), -ERANGE);

	/* Added while the reader holds the mapping: visible without reopening. */
	drops = hm_stats_add(s, HM_STATS_COUNTER, "drops", "reason=not_ip", "dropped", 0, 0,
			     HM_STATS_WORD_AUTO);
	cr_assert_eq(drops, 1);
	hm_stats_inc(&hm_stats_block(s, 3)[drops], 7);
	cr_assert_eq(hm_stats_reader_count(r), 2);
	cr_assert_geq(find(r, "drops", "reason=not_ip", &e), 0);
	cr_assert_eq(hm_stats_reader_values(r, &e, UINT32_MAX, &v), 0);
	cr_expect_eq(v, 7);
	cr_expect_not(hm_stats_reader_stale(r));
	hm_stats_reader_close(r);
	hm_stats_destroy(s);
	cr_expect_eq(access(path, F_OK), -1, "destroy removes the file");
}

Test(stats, bad_definitions_are_refused_and_leave_the_directory_intact)
{
	struct hm_stats *s = hm_stats_create("t2", 1, 16, 2);

	cr_assert_not_null(s);
	cr_expect_eq(hm_stats_add(s, HM_STATS_COUNTER, "Bad-Name", NULL, "", 0, 0, 0), -EINVAL);
	cr_expect_eq(hm_stats_add(s, HM_STATS_COUNTER, "ok", "k", "", 0, 0, 0), -EINVAL);
	cr_expect_eq(hm_stats_add(s, HM_STATS_COUNTER, "ok", "k=v,", "", 0, 0, 0), -EINVAL);
	cr_expect_eq(hm_stats_add(s, HM_STATS_COUNTER, "ok", "k=\"v\"", "", 0, 0, 0), -EINVAL);
	cr_expect_eq(hm_stats_add(s, 9, "ok", NULL, "", 0, 0, 0), -EINVAL);
	/* A histogram needs 129 words; the block has 8. */
	cr_expect_eq(hm_stats_add(s, HM_STATS_HISTOGRAM, "h", NULL, "", 0, 0, 0), -EINVAL);
	cr_expect_eq(hm_stats_add(s, HM_STATS_GAUGE, "g", NULL, "", 0, 0, 8), -EINVAL);
	cr_expect_eq(hm_stats_add(s, HM_STATS_GAUGE, "g", "a=1", "", 0, 0, 7), 7);
	cr_expect_eq(hm_stats_add(s, HM_STATS_GAUGE, "g", "a=1", "", 0, 0, 6), -EEXIST);
	cr_expect_eq(hm_stats_add(s, HM_STATS_GAUGE, "g", "a=2", "", 0, 0, 6), 6);
	cr_expect_eq(hm_stats_add(s, HM_STATS_GAUGE, "g", "a=3", "", 0, 0, 5), -ENOSPC);
	cr_expect_null(hm_stats_create("../evil", 1, 8, 1));
	cr_expect_eq(errno, EINVAL);
	cr_expect_null(hm_stats_create("t3", 0, 8, 1));
	hm_stats_destroy(s);
}

Test(stats, restart_is_detected_and_old_writer_leaves_new_file)
{
	struct hm_stats *a = hm_stats_create("t4", 1, 8, 1), *b;
	struct hm_stats_reader *r, *r2;
	char path[256];
	uint64_t gen;

	cr_assert_not_null(a);
	cr_assert_eq(hm_stats_path("t4", path, sizeof(path)), 0);
	cr_assert_eq(hm_stats_reader_open(path, &r), 0);
	gen = hm_stats_reader_hdr(r)->generation;
	b = hm_stats_create("t4", 1, 8, 1); /* the writer restarted */
	cr_assert_not_null(b);
	cr_expect(hm_stats_reader_stale(r));
	cr_assert_eq(hm_stats_reader_open(path, &r2), 0);
	cr_expect_neq(hm_stats_reader_hdr(r2)->generation, gen);
	hm_stats_destroy(a); /* must not remove b's file */
	cr_expect_eq(access(path, F_OK), 0);
	cr_expect_not(hm_stats_reader_stale(r2));
	hm_stats_destroy(b);
	cr_expect(hm_stats_reader_stale(r2), "writer gone");
	hm_stats_reader_close(r);
	hm_stats_reader_close(r2);
}

Test(stats, corrupt_files_are_refused_with_eproto)
{
	char path[256];
	struct hm_stats_reader *r;
	struct hm_stats *s;
	int fd;

	snprintf(path, sizeof(path), "%s/hmesh-junk", dir);
	fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
	cr_assert_geq(fd, 0);
	for (int i = 0; i < 64; i++)
		cr_assert_eq(write(fd, "garbage!", 8), 8);
	close(fd);
	cr_expect_eq(hm_stats_reader_open(path, &r), -EPROTO);
	snprintf(path, sizeof(path), "%s/hmesh-none", dir);
	cr_expect_eq(hm_stats_reader_open(path, &r), -ENOENT);

	/* A real segment, truncated: the header's size no longer matches. */
	s = hm_stats_create("t5", 2, 64, 4);
	cr_assert_not_null(s);
	cr_assert_eq(truncate(hm_stats_file(s), 4096), 0);
	cr_expect_eq(hm_stats_reader_open(hm_stats_file(s), &r), -EPROTO);
	hm_stats_destroy(s);

	/*
	 * Header offsets near 2^64 whose sums wrap back into the file (found
	 * by fuzz_stats_reader): refused, not used to index the mapping.
	 */
	for (int k = 0; k < 2; k++) {
		/* + 2 blocks of labels wraps to HM_STATS_LABELS_MAX */
		uint64_t bad = (uint64_t)0 - HM_STATS_LABELS_MAX;
		uint32_t words = UINT32_MAX;

		s = hm_stats_create("t6", 2, 64, 4);
		cr_assert_not_null(s);
		fd = open(hm_stats_file(s), O_WRONLY);
		cr_assert_geq(fd, 0);
		if (k == 0)
			cr_assert_eq(pwrite(fd, &bad, sizeof(bad),
					    offsetof(struct hm_stats_hdr, labels_off)),
				     (ssize_t)sizeof(bad));
		else /* blocks far larger than the file */
			cr_assert_eq(pwrite(fd, &words, sizeof(words),
					    offsetof(struct hm_stats_hdr, block_words)),
				     (ssize_t)sizeof(words));
		close(fd);
		cr_expect_eq(hm_stats_reader_open(hm_stats_file(s), &r), -EPROTO, "case %d", k);
		hm_stats_destroy(s);
	}
}

Test(stats, histogram_buckets_are_log_linear_and_contiguous)
{
	uint64_t prev = 0;

	/* Every bucket starts right after the previous one ends. */
	for (unsigned int i = 0; i < HM_STATS_HIST_BUCKETS - 1; i++) {
		uint64_t up = hm_stats_hist_upper(i);

		cr_assert_eq(hm_stats_hist_bucket(up), i, "upper(%u) = %lu", i, (unsigned long)up);
		cr_assert_eq(hm_stats_hist_bucket(up + 1), i + 1);
		if (i >= 4) /* width at most a quarter of the lower bound */
			cr_assert_leq(up - prev, (prev + 1) / 4, "bucket %u", i);
		prev = up;
	}
	cr_expect_eq(hm_stats_hist_bucket(UINT64_MAX), HM_STATS_HIST_BUCKETS - 1);
	cr_expect_eq(hm_stats_hist_upper(HM_STATS_HIST_BUCKETS - 1), UINT64_MAX);
}

Test(stats, histogram_quantiles_within_bucket_error)
{
	uint64_t h[HM_STATS_HIST_WORDS] = {0};

	/* 1..10000: the p50 is 5000, the p99 9900, within a bucket's 25 %. */
	for (uint64_t v = 1; v <= 10000; v++)
		hm_stats_hist_add(h, v);
	cr_expect_eq(h[HM_STATS_HIST_BUCKETS], 10000ull * 10001 / 2, "sum word");
	double p50 = hm_stats_hist_quantile(h, 0.5), p99 = hm_stats_hist_quantile(h, 0.99);

	cr_expect(p50 > 5000 * 0.8 && p50 < 5000 * 1.25, "p50 %.1f", p50);
	cr_expect(p99 > 9900 * 0.8 && p99 < 9900 * 1.25, "p99 %.1f", p99);
	memset(h, 0, sizeof(h));
	cr_expect_eq(hm_stats_hist_quantile(h, 0.5), 0);
}

struct writer_arg {
	uint64_t *blk;
	int hist;
	volatile int stop;
};

static void *writer(void *p)
{
	struct writer_arg *a = p;

	for (uint64_t v = 0; !a->stop; v++)
		hm_stats_hist_add(&a->blk[a->hist], v & 1023);
	return NULL;
}

/* A reader racing a writer: the count (sum of buckets) never goes backwards. */
Test(stats, concurrent_reader_sees_monotonic_histogram)
{
	struct hm_stats *s = hm_stats_create("t6", 1, HM_STATS_HIST_WORDS * 8, 1);
	struct hm_stats_reader *r;
	struct hm_stats_entry e;
	struct writer_arg a;
	pthread_t t;
	uint64_t last = 0, v[HM_STATS_HIST_WORDS];

	cr_assert_not_null(s);
	a.hist = hm_stats_add(s, HM_STATS_HISTOGRAM, "lat_ns", NULL, "", 1e-9, 0, 0);
	cr_assert_eq(a.hist, 0);
	a.blk = hm_stats_block(s, 0);
	a.stop = 0;
	cr_assert_eq(hm_stats_reader_open(hm_stats_file(s), &r), 0);
	cr_assert_eq(hm_stats_reader_entry(r, 0, &e), 0);
	cr_expect_eq(e.scale, 1e-9);
	cr_assert_eq(pthread_create(&t, NULL, writer, &a), 0);
	/* Until the writer has run, then 20000 reads racing it. */
	for (int i = 0; i < 20000 || last == 0; i++) {
		uint64_t n = 0;

		cr_assert_eq(hm_stats_reader_values(r, &e, UINT32_MAX, v), 0);
		for (int b = 0; b < HM_STATS_HIST_BUCKETS; b++)
			n += v[b];
		cr_assert_geq(n, last);
		last = n;
	}
	a.stop = 1;
	pthread_join(t, NULL);
	cr_expect_gt(last, 0);
	hm_stats_reader_close(r);
	hm_stats_destroy(s);
}
