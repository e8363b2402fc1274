/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hmesh-stat — print a HyperMesh stats segment (as `vppctl show runtime`
 * or dpdk-proc-info do): every counter, gauge and histogram, summed over
 * blocks or per block, once or every interval with rates.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hm_log.h"
#include "hm_stats.h"

#define MAX_ROWS 4096

struct opts {
	const char *segment;
	const char *match;
	double watch_s;
	long count;
	bool per_block, json, nonzero;
};

static volatile sig_atomic_t quit;

static void on_signal(int sig)
{
	(void)sig;
	quit = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: hmesh-stat [options]\n"
		"Print a HyperMesh stats segment (%s/hmesh-NAME, or $HMESH_STATS_DIR).\n\n"
		"  -s, --segment NAME|PATH  segment to read (default: dataplane)\n"
		"  -l, --list               list the segments present and exit\n"
		"  -b, --per-block          also show values per block (lcore) where exported so\n"
		"  -m, --match TEXT         only metrics whose name contains TEXT\n"
		"  -z, --nonzero            skip values that are zero\n"
		"  -w, --watch SECONDS      print every SECONDS with per-second rates; survives\n"
		"                           the writer restarting\n"
		"  -c, --count N            with --watch: stop after N intervals\n"
		"  -j, --json               one JSON object per print\n"
		"  -h, --help               this text\n\n"
		"Histograms print count, sum and p50/p90/p99 in the base unit (seconds).\n",
		HM_STATS_DIR_DEFAULT);
}

static int list_segments(void)
{
	const char *dir = getenv("HMESH_STATS_DIR");
	char cmd[512];

	if (dir == NULL || *dir == '\0')
		dir = HM_STATS_DIR_DEFAULT;
	snprintf(cmd, sizeof(cmd),
		 "ls -1 %s 2>/dev/null | sed -n 's/^hmesh-//p' | grep -v '\\.tmp\\.'", dir);
	return system(cmd) == -1 ? 1 : 0;
}

static int open_segment(const char *seg, struct hm_stats_reader **r)
{
	char path[512];
	int rc;

	if (strchr(seg, '/') != NULL) {
		snprintf(path, sizeof(path), "%s", seg);
	} else if (hm_stats_path(seg, path, sizeof(path)) < 0) {
		fprintf(stderr, "hmesh-stat: --segment \"%s\": not a segment name\n", seg);
		return -EINVAL;
	}
	rc = hm_stats_reader_open(path, r);
	if (rc == -ENOENT)
		fprintf(stderr,
			"hmesh-stat: %s: no such segment (is the process running? -l lists)\n",
			path);
	else if (rc < 0 && rc != -EPROTO)
		fprintf(stderr, "hmesh-stat: %s: %s\n", path, strerror(-rc));
	return rc;
}

/* A row: one value of one entry in one block (or summed). */
struct row {
	uint64_t prev;
	bool have_prev;
};

static void print_name(FILE *f, const struct hm_stats_entry *e, const char *blk, const char *suffix)
{
	fprintf(f, "%s%s", e->name, suffix);
	if (e->labels[0] || (blk && blk[0]))
		fprintf(f, "{%s%s%s}", e->labels, e->labels[0] && blk && blk[0] ? "," : "",
			blk ? blk : "");
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

/* The start of one value's JSON object: name, labels, block. */
static void json_head(bool first, const struct hm_stats_entry *e, const char *bl)
{
	printf("%s{\"name\":", first ? "" : ",");
	json_str(stdout, e->name);
	printf(",\"labels\":");
	json_str(stdout, e->labels);
	printf(",\"block\":");
	json_str(stdout, bl ? bl : "");
}

static unsigned int print_once(struct hm_stats_reader *r, const struct opts *o, struct row *rows,
			       double dt)
{
	const struct hm_stats_hdr *h = hm_stats_reader_hdr(r);
	unsigned int n = hm_stats_reader_count(r), ri = 0, bad = 0;
	uint64_t v[HM_STATS_HIST_WORDS];
	bool first = true;

	if (o->json)
		printf("{\"process\":\"%s\",\"pid\":%d,\"values\":[", h->process, h->pid);
	else
		printf("# %s pid %d, %u entries, %u blocks%s\n", h->process, h->pid, n, h->n_blocks,
		       dt > 0 ? ", rates per second over the interval" : "");
	for (unsigned int i = 0; i < n; i++) {
		struct hm_stats_entry e;

		if (hm_stats_reader_entry(r, i, &e) < 0) {
			bad++;
			continue;
		}
		if (o->match && strstr(e.name, o->match) == NULL)
			continue;
		for (uint32_t b = UINT32_MAX;; b++) {
			const char *bl = NULL;

			if (b != UINT32_MAX) {
				if (!o->per_block || !(e.flags & HM_STATS_F_PER_BLOCK) ||
				    b >= h->n_blocks)
					break;
				bl = hm_stats_reader_block_label(r, b);
				if (bl == NULL || bl[0] == '\0')
					continue;
			}
			hm_stats_reader_values(r, &e, b, v);
			struct row *rw = ri < MAX_ROWS ? &rows[ri++] : NULL;

			if (e.type == HM_STATS_HISTOGRAM) {
				uint64_t cnt = 0;

				for (int k = 0; k < HM_STATS_HIST_BUCKETS; k++)
					cnt += v[k];
				if (o->nonzero && cnt == 0)
					goto next;
				double p50 = hm_stats_hist_quantile(v, 0.5) * e.scale,
				       p90 = hm_stats_hist_quantile(v, 0.9) * e.scale,
				       p99 = hm_stats_hist_quantile(v, 0.99) * e.scale,
				       sum = (double)v[HM_STATS_HIST_BUCKETS] * e.scale;

				if (o->json) {
					json_head(first, &e, bl);
					printf(
					    ",\"type\":\"histogram\",\"count\":%" PRIu64
					    ",\"sum\":%.9g,\"p50\":%.9g,\"p90\":%.9g,\"p99\":%.9g}",
					    cnt, sum, p50, p90, p99);
				} else {
					print_name(stdout, &e, bl, "");
					printf(" count %" PRIu64
					       " sum %.6g p50 %.3g p90 %.3g p99 %.3g\n",
					       cnt, sum, p50, p90, p99);
				}
				first = false;
				goto next;
			}
			if (o->nonzero && v[0] == 0)
				goto next;
			double rate = rw && rw->have_prev && dt > 0 && e.type == HM_STATS_COUNTER
					  ? (double)(v[0] - rw->prev) / dt
					  : NAN;
			if (o->json) {
				json_head(first, &e, bl);
				printf(",\"type\":\"%s\",\"value\":%" PRIu64,
				       hm_stats_type_name(e.type), v[0]);
				if (!isnan(rate))
					printf(",\"rate\":%.3f", rate);
				printf("}");
			} else {
				print_name(stdout, &e, bl, "");
				printf(" %" PRIu64, v[0]);
				if (!isnan(rate))
					printf("  %.1f/s", rate);
				printf("\n");
			}
			first = false;
		next:
			if (rw) {
				rw->prev = v[0];
				rw->have_prev = true;
			}
			if (b == UINT32_MAX && !(o->per_block && (e.flags & HM_STATS_F_PER_BLOCK)))
				break;
		}
	}
	if (o->json)
		printf("]}\n");
	fflush(stdout);
	if (bad)
		fprintf(stderr, "hmesh-stat: %u corrupt directory entries skipped\n", bad);
	return bad;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
	    {"segment", required_argument, NULL, 's'}, {"list", no_argument, NULL, 'l'},
	    {"per-block", no_argument, NULL, 'b'},     {"match", required_argument, NULL, 'm'},
	    {"nonzero", no_argument, NULL, 'z'},       {"watch", required_argument, NULL, 'w'},
	    {"count", required_argument, NULL, 'c'},   {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},	       {NULL, 0, NULL, 0},
	};
	struct opts o = {.segment = "dataplane", .count = -1};
	struct hm_stats_reader *r = NULL;
	static struct row rows[MAX_ROWS];
	struct sigaction sa = {.sa_handler = on_signal};
	char *end;
	int c;

	while ((c = getopt_long(argc, argv, "s:lbm:zw:c:jh", lo, NULL)) != -1) {
		switch (c) {
		case 's':
			o.segment = optarg;
			break;
		case 'l':
			return list_segments();
		case 'b':
			o.per_block = true;
			break;
		case 'm':
			o.match = optarg;
			break;
		case 'z':
			o.nonzero = true;
			break;
		case 'w':
			o.watch_s = strtod(optarg, &end);
			if (*end || !(o.watch_s >= 0.1 && o.watch_s <= 3600)) {
				fprintf(stderr, "hmesh-stat: --watch \"%s\": seconds, 0.1..3600\n",
					optarg);
				return 2;
			}
			break;
		case 'c':
			o.count = strtol(optarg, &end, 10);
			if (*end || o.count < 1) {
				fprintf(stderr, "hmesh-stat: --count \"%s\": a positive integer\n",
					optarg);
				return 2;
			}
			break;
		case 'j':
			o.json = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "hmesh-stat: unexpected argument \"%s\"\n", argv[optind]);
		return 2;
	}
	if (open_segment(o.segment, &r) < 0)
		return 1;
	if (o.watch_s == 0) {
		unsigned int bad = print_once(r, &o, rows, 0);

		hm_stats_reader_close(r);
		return bad ? 1 : 0;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	for (long i = 0; !quit && (o.count < 0 || i <= o.count); i++) {
		struct timespec ts = {(time_t)o.watch_s,
				      (long)((o.watch_s - (double)(time_t)o.watch_s) * 1e9)};

		if (hm_stats_reader_stale(r)) {
			/* The writer restarted (or exited): start over with its new segment. */
			hm_stats_reader_close(r);
			r = NULL;
			memset(rows, 0, sizeof(rows));
			fprintf(stderr, "hmesh-stat: segment %s replaced or gone; reopening\n",
				o.segment);
			while (!quit && open_segment(o.segment, &r) < 0)
				nanosleep(&ts, NULL);
			if (r == NULL)
				break;
		}
		print_once(r, &o, rows, i == 0 ? 0 : o.watch_s);
		if (o.count >= 0 && i == o.count)
			break;
		nanosleep(&ts, NULL);
	}
	hm_stats_reader_close(r);
	return 0;
}
