/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hmesh-bench-check: compare benchmark ratios measured now with the ratios
 * stored in perf/baseline.json, or write a new baseline.
 *
 * A figure regresses when, with 95% confidence, its ratios now are smaller
 * than the baseline's ratios scaled down by the margin: the one-sided
 * Mann-Whitney U test says so (p < 0.05) and the two-sample
 * Kolmogorov-Smirnov test agrees that the distributions differ (p < 0.05).
 * Requiring both keeps a noisy machine from failing on one outlier run.
 * Ratios, not absolute rates, are stored: the reference (testpmd, raw
 * rte_hash, ...) was measured in the same run on the same machine.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "hm_stattest.h"

#define MAX_FIG 512
#define MAX_SAMPLES 256

struct fig {
	char key[192];
	double v[MAX_SAMPLES];
	size_t n;
};

static struct fig *find(struct fig *figs, size_t *n, const char *key, int create)
{
	for (size_t i = 0; i < *n; i++)
		if (strcmp(figs[i].key, key) == 0)
			return &figs[i];
	if (!create || *n == MAX_FIG)
		return NULL;
	snprintf(figs[*n].key, sizeof(figs[*n].key), "%s", key);
	figs[*n].n = 0;
	return &figs[(*n)++];
}

/* One JSON line per figure, as every bench prints: {"bench":..,"ratio":..}. */
static int load_results(const char *path, struct fig *figs, size_t *n)
{
	FILE *f = fopen(path, "r");
	char line[4096];
	int lineno = 0;

	if (!f) {
		fprintf(stderr, "bench-check: %s: %s\n", path, strerror(errno));
		return -errno;
	}
	while (fgets(line, sizeof(line), f)) {
		json_error_t e;
		json_t *o;
		const char *bench = NULL, *vdev = "", *metric = "";
		json_t *size = NULL;
		double ratio = -1;
		char key[192], sz[64] = "0";
		struct fig *fg;

		lineno++;
		if (line[0] != '{')
			continue;
		o = json_loads(line, 0, &e);
		/* "size" is a frame size (a number) or a mix or shape name (a string). */
		if (!o || json_unpack(o, "{s:s, s?s, s?o, s?s, s:F}", "bench", &bench, "vdev", &vdev,
				      "size", &size, "metric", &metric, "ratio", &ratio) ||
		    (size && !json_is_integer(size) && !json_is_string(size))) {
			fprintf(stderr, "bench-check: %s:%d: not a bench figure line\n", path,
				lineno);
			json_decref(o);
			fclose(f);
			return -EINVAL;
		}
		/* One figure = bench, device, size and metric: a bench may print several. */
		if (json_is_integer(size))
			snprintf(sz, sizeof(sz), "%lld", (long long)json_integer_value(size));
		else if (json_is_string(size))
			snprintf(sz, sizeof(sz), "%s", json_string_value(size));
		snprintf(key, sizeof(key), "%s/%s/%s/%s", bench, vdev, sz, metric);
		fg = find(figs, n, key, 1);
		if (fg && fg->n < MAX_SAMPLES)
			fg->v[fg->n++] = ratio;
		json_decref(o);
	}
	fclose(f);
	return 0;
}

static double median(const double *v, size_t n)
{
	double s[MAX_SAMPLES];

	memcpy(s, v, n * sizeof(double));
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && s[j - 1] > s[j]; j--) {
			double t = s[j];
			s[j] = s[j - 1];
			s[j - 1] = t;
		}
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

static int write_baseline(const char *path, const struct fig *figs, size_t n, double margin,
			  const char *machine)
{
	json_t *root = json_object(), *fj = json_object();

	for (size_t i = 0; i < n; i++) {
		json_t *a = json_array();

		for (size_t k = 0; k < figs[i].n; k++)
			json_array_append_new(a, json_real(figs[i].v[k]));
		json_object_set_new(fj, figs[i].key, a);
	}
	json_object_set_new(root, "version", json_integer(1));
	json_object_set_new(root, "machine", json_string(machine));
	json_object_set_new(root, "margin", json_real(margin));
	json_object_set_new(root, "figures", fj);
	if (json_dump_file(root, path, JSON_INDENT(1) | JSON_SORT_KEYS | JSON_REAL_PRECISION(6))) {
		fprintf(stderr, "bench-check: cannot write %s\n", path);
		json_decref(root);
		return -EIO;
	}
	json_decref(root);
	printf("bench-check: wrote %zu figures to %s\n", n, path);
	return 0;
}

static void usage(FILE *o)
{
	fprintf(o, "Usage: hmesh-bench-check --baseline FILE --results FILE [--margin M]\n"
		   "       hmesh-bench-check --refresh --baseline FILE --results FILE [--machine TEXT]\n"
		   "\n"
		   "Compares ratios in RESULTS (JSON lines printed by the benches under perf/)\n"
		   "with BASELINE. A figure regresses when its ratios are below baseline x (1 - M)\n"
		   "with 95%% confidence by a one-sided Mann-Whitney U test and a two-sample\n"
		   "Kolmogorov-Smirnov test both. M defaults to the baseline's \"margin\" (0.10).\n"
		   "Exit status: 0 no regression, 1 regression, 2 bad input.\n"
		   "--refresh writes RESULTS as the new BASELINE instead.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "baseline", required_argument, NULL, 'b' }, { "results", required_argument, NULL, 'r' },
		{ "margin", required_argument, NULL, 'm' },   { "refresh", no_argument, NULL, 'R' },
		{ "machine", required_argument, NULL, 'M' },  { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct fig cur[MAX_FIG], base[MAX_FIG];
	size_t ncur = 0, nbase = 0;
	const char *bpath = NULL, *rpath = NULL, *machine = "unknown";
	double margin = -1;
	int refresh = 0, o, regress = 0, missing = 0;
	json_t *root, *figs, *arr;
	json_error_t e;
	const char *key;

	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (o) {
		case 'b':
			bpath = optarg;
			break;
		case 'r':
			rpath = optarg;
			break;
		case 'm': {
			char *end;

			margin = strtod(optarg, &end);
			if (end == optarg || *end || margin < 0 || margin >= 1) {
				fprintf(stderr, "bench-check: --margin is \"%s\": must be in [0, 1)\n",
					optarg);
				return 2;
			}
			break;
		}
		case 'R':
			refresh = 1;
			break;
		case 'M':
			machine = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!bpath || !rpath) {
		usage(stderr);
		return 2;
	}
	if (load_results(rpath, cur, &ncur))
		return 2;
	if (refresh)
		return write_baseline(bpath, cur, ncur, margin < 0 ? 0.10 : margin, machine) ? 2 : 0;

	root = json_load_file(bpath, 0, &e);
	if (!root) {
		fprintf(stderr, "bench-check: %s:%d: %s\n", bpath, e.line, e.text);
		return 2;
	}
	if (json_integer_value(json_object_get(root, "version")) != 1) {
		fprintf(stderr, "bench-check: %s: \"version\" must be 1\n", bpath);
		return 2;
	}
	if (margin < 0)
		margin = json_number_value(json_object_get(root, "margin"));
	figs = json_object_get(root, "figures");
	json_object_foreach(figs, key, arr)
	{
		struct fig *b = find(base, &nbase, key, 1);
		size_t i;
		json_t *v;

		if (!b)
			break;
		json_array_foreach(arr, i, v) if (b->n < MAX_SAMPLES) b->v[b->n++] = json_number_value(v);
	}
	printf("baseline: %s (%s), margin %.0f%%\n", bpath,
	       json_string_value(json_object_get(root, "machine")) ?: "?", margin * 100);
	printf("%-52s %8s %8s %8s %9s %9s  %s\n", "figure", "base", "now", "change", "p(MWU)",
	       "p(KS)", "verdict");
	for (size_t i = 0; i < nbase; i++) {
		struct fig *c = find(cur, &ncur, base[i].key, 0);
		double scaled[MAX_SAMPLES];
		struct hm_mwu_result mw;
		struct hm_ks_result ks;
		double mb, mc;
		const char *verdict;

		if (!c || c->n == 0) {
			printf("%-52s %8.3f %8s %8s %9s %9s  missing\n", base[i].key,
			       median(base[i].v, base[i].n), "-", "-", "-", "-");
			missing = 1;
			continue;
		}
		for (size_t k = 0; k < base[i].n; k++)
			scaled[k] = base[i].v[k] * (1 - margin);
		if (hm_mwu_test(c->v, c->n, scaled, base[i].n, &mw) ||
		    hm_ks_test(c->v, c->n, scaled, base[i].n, &ks)) {
			fprintf(stderr, "bench-check: %s: bad samples\n", base[i].key);
			return 2;
		}
		mb = median(base[i].v, base[i].n);
		mc = median(c->v, c->n);
		verdict = (mw.p_less < 0.05 && ks.p < 0.05) ? "REGRESSED" : "ok";
		if (verdict[0] == 'R')
			regress = 1;
		printf("%-52s %8.3f %8.3f %+7.1f%% %9.4f %9.4f  %s\n", base[i].key, mb, mc,
		       (mc / mb - 1) * 100, mw.p_less, ks.p, verdict);
	}
	json_decref(root);
	if (missing)
		printf("some baseline figures were not measured: run every bench, or refresh the "
		       "baseline on purpose\n");
	return regress ? 1 : (missing ? 2 : 0);
}
