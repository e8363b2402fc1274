/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hmesh — collectd read plugin for HyperMesh stats segments (hm_stats.h).
 *
 *   LoadPlugin hmesh
 *   <Plugin hmesh>
 *     Segment "dataplane"        # name under /dev/shm/hmesh-NAME, or a path; repeatable
 *     PerBlock true              # also per-lcore series for entries flagged per-block
 *     DpdkTelemetry "/var/run/dpdk/PREFIX/dpdk_telemetry.v2"   # optional, repeatable
 *   </Plugin>
 *
 * Each interval every entry of every segment is dispatched as
 *   plugin "hmesh", plugin_instance = the segment's process name,
 *   type "derive" (counters) or "gauge", type_instance = "NAME[,k=v]...":
 * the entry's labels and, per block, the block's labels ride in the type
 * instance; telemetry/prometheus/prometheus.yml turns them back into
 * Prometheus labels and names (hmesh_NAME_total, ...). A histogram becomes
 * cumulative NAME_bucket,le=X counters (X in the base unit, "+Inf" last),
 * NAME_count and a NAME_sum gauge, which is what histogram_quantile()
 * expects.
 *
 * A segment that is missing, replaced (the writer restarted) or gone is
 * reopened on the next read; each change of state is logged once.
 *
 * DpdkTelemetry: the PMDs' own port counters (hardware counters on real
 * NICs) from a DPDK process's telemetry socket (hm_dpdktel.h), dispatched
 * as plugin_instance "dpdk", "port_xstats,port=N,stat=NAME" derives
 * (hmesh_port_xstats_total{port, stat} in Prometheus).
 */
#include "collectd/core/daemon/plugin.h"
#include "collectd/core/utils/common/common.h"

#include <math.h>

#include "hm_dpdktel.h"
#include "hm_stats.h"

#define MAX_SEGMENTS 16
#define MAX_DPDK     4

struct seg {
	char *name;
	struct hm_stats_reader *r;
	bool missing_logged;
};

static struct seg segs[MAX_SEGMENTS];
static size_t n_segs;
static bool per_block = true;

struct dpdk_sock {
	char *path;
	bool down_logged;
};

static struct dpdk_sock dpdks[MAX_DPDK];
static size_t n_dpdk;

static int hmesh_config(oconfig_item_t *ci)
{
	for (int i = 0; i < ci->children_num; i++) {
		oconfig_item_t *c = ci->children + i;

		if (strcasecmp(c->key, "Segment") == 0) {
			if (n_segs == MAX_SEGMENTS) {
				ERROR("hmesh: Segment: at most %d segments", MAX_SEGMENTS);
				return -1;
			}
			if (cf_util_get_string(c, &segs[n_segs].name) != 0)
				return -1;
			n_segs++;
		} else if (strcasecmp(c->key, "PerBlock") == 0) {
			if (cf_util_get_boolean(c, &per_block) != 0)
				return -1;
		} else if (strcasecmp(c->key, "DpdkTelemetry") == 0) {
			if (n_dpdk == MAX_DPDK) {
				ERROR("hmesh: DpdkTelemetry: at most %d sockets", MAX_DPDK);
				return -1;
			}
			if (cf_util_get_string(c, &dpdks[n_dpdk].path) != 0)
				return -1;
			n_dpdk++;
		} else {
			ERROR("hmesh: unknown option \"%s\" (Segment, PerBlock, DpdkTelemetry)",
			      c->key);
			return -1;
		}
	}
	return 0;
}

static int hmesh_init(void)
{
	if (n_segs == 0) {
		segs[0].name = strdup("dataplane");
		if (segs[0].name == NULL)
			return -1;
		n_segs = 1;
	}
	return 0;
}

static int seg_open(struct seg *s)
{
	char path[512];
	int rc;

	if (s->r != NULL && !hm_stats_reader_stale(s->r))
		return 0;
	if (s->r != NULL) {
		INFO("hmesh: segment %s was replaced or removed; reopening", s->name);
		hm_stats_reader_close(s->r);
		s->r = NULL;
	}
	if (strchr(s->name, '/') != NULL)
		snprintf(path, sizeof(path), "%s", s->name);
	else if (hm_stats_path(s->name, path, sizeof(path)) < 0) {
		if (!s->missing_logged)
			ERROR("hmesh: Segment \"%s\": not a segment name", s->name);
		s->missing_logged = true;
		return -1;
	}
	rc = hm_stats_reader_open(path, &s->r);
	if (rc < 0) {
		if (!s->missing_logged)
			WARNING("hmesh: segment %s: %s (will retry each interval)", path,
				rc == -EPROTO ? "not a usable stats segment" : STRERROR(-rc));
		s->missing_logged = true;
		return -1;
	}
	if (s->missing_logged)
		INFO("hmesh: segment %s is back (pid %d)", path, hm_stats_reader_hdr(s->r)->pid);
	s->missing_logged = false;
	return 0;
}

static void dispatch(const char *process, const char *type, const char *ti, value_t v)
{
	value_list_t vl = VALUE_LIST_INIT;

	vl.values = &v;
	vl.values_len = 1;
	sstrncpy(vl.plugin, "hmesh", sizeof(vl.plugin));
	sstrncpy(vl.plugin_instance, process, sizeof(vl.plugin_instance));
	sstrncpy(vl.type, type, sizeof(vl.type));
	sstrncpy(vl.type_instance, ti, sizeof(vl.type_instance));
	plugin_dispatch_values(&vl);
}

/* "NAME[SUFFIX][,labels][,block labels][,extra]"; false when it does not fit. */
static bool type_instance(char *buf, size_t len, const struct hm_stats_entry *e, const char *suffix,
			  const char *blk, const char *extra)
{
	int n = snprintf(buf, len, "%s%s%s%s%s%s%s%s", e->name, suffix, e->labels[0] ? "," : "",
			 e->labels, blk && blk[0] ? "," : "", blk ? blk : "", extra ? "," : "",
			 extra ? extra : "");

	return n > 0 && (size_t)n < len;
}

static void dispatch_entry(struct seg *s, const struct hm_stats_entry *e, uint32_t b,
			   const char *blk)
{
	const char *proc = hm_stats_reader_hdr(s->r)->process;
	uint64_t v[HM_STATS_HIST_WORDS];
	char ti[DATA_MAX_NAME_LEN];

	if (hm_stats_reader_values(s->r, e, b, v) < 0)
		return;
	if (e->type == HM_STATS_COUNTER || e->type == HM_STATS_GAUGE) {
		if (!type_instance(ti, sizeof(ti), e, "", blk, NULL))
			goto too_long;
		if (e->type == HM_STATS_COUNTER)
			dispatch(proc, "derive", ti, (value_t){.derive = (derive_t)v[0]});
		else
			dispatch(proc, "gauge", ti, (value_t){.gauge = (gauge_t)v[0] * e->scale});
		return;
	}
	uint64_t cum = 0;

	for (unsigned int i = 0; i < HM_STATS_HIST_BUCKETS; i++) {
		char le[40];
		uint64_t up = hm_stats_hist_upper(i);

		cum += v[i];
		if (up == UINT64_MAX)
			snprintf(le, sizeof(le), "le=+Inf");
		else
			snprintf(le, sizeof(le), "le=%.6g", (double)up * e->scale);
		if (!type_instance(ti, sizeof(ti), e, "_bucket", blk, le))
			goto too_long;
		dispatch(proc, "derive", ti, (value_t){.derive = (derive_t)cum});
	}
	if (!type_instance(ti, sizeof(ti), e, "_count", blk, NULL))
		goto too_long;
	dispatch(proc, "derive", ti, (value_t){.derive = (derive_t)cum});
	if (!type_instance(ti, sizeof(ti), e, "_sum", blk, NULL))
		goto too_long;
	dispatch(proc, "gauge", ti,
		 (value_t){.gauge = (gauge_t)v[HM_STATS_HIST_BUCKETS] * e->scale});
	return;
too_long:
	/* Names and labels are fixed by the writer: this repeats every interval. */
	DEBUG("hmesh: %s{%s}: name and labels exceed %d bytes; not dispatched", e->name, e->labels,
	      DATA_MAX_NAME_LEN);
}

static void xstat(void *arg, int port, const char *stat, uint64_t value)
{
	char ti[DATA_MAX_NAME_LEN];

	(void)arg;
	if ((size_t)snprintf(ti, sizeof(ti), "port_xstats,port=%d,stat=%s", port, stat) < sizeof(ti))
		dispatch("dpdk", "derive", ti, (value_t){.derive = (derive_t)value});
}

static void read_dpdk(struct dpdk_sock *d)
{
	int rc = hm_dpdktel_xstats(d->path, xstat, NULL);

	if (rc < 0 && !d->down_logged)
		WARNING("hmesh: DpdkTelemetry %s: %s (will retry each interval)", d->path,
			rc == -EPROTO ? "not a DPDK telemetry socket" : STRERROR(-rc));
	else if (rc >= 0 && d->down_logged)
		INFO("hmesh: DpdkTelemetry %s: reachable again (%d ports)", d->path, rc);
	d->down_logged = rc < 0;
}

static int hmesh_read(void)
{
	int ok = 0;

	for (size_t i = 0; i < n_dpdk; i++)
		read_dpdk(&dpdks[i]);

	for (size_t i = 0; i < n_segs; i++) {
		struct seg *s = &segs[i];
		const struct hm_stats_hdr *h;
		unsigned int n;

		if (seg_open(s) < 0)
			continue;
		ok++;
		h = hm_stats_reader_hdr(s->r);
		n = hm_stats_reader_count(s->r);
		for (unsigned int k = 0; k < n; k++) {
			struct hm_stats_entry e;

			if (hm_stats_reader_entry(s->r, k, &e) < 0)
				continue;
			dispatch_entry(s, &e, UINT32_MAX, NULL);
			if (!per_block || !(e.flags & HM_STATS_F_PER_BLOCK))
				continue;
			for (uint32_t b = 0; b < h->n_blocks; b++) {
				const char *bl = hm_stats_reader_block_label(s->r, b);

				if (bl != NULL && bl[0] != '\0')
					dispatch_entry(s, &e, b, bl);
			}
		}
	}
	/* collectd backs off a read callback that fails; a missing writer is not our failure. */
	return ok || n_segs ? 0 : -1;
}

static int hmesh_shutdown(void)
{
	for (size_t i = 0; i < n_segs; i++) {
		hm_stats_reader_close(segs[i].r);
		free(segs[i].name);
		segs[i] = (struct seg){0};
	}
	n_segs = 0;
	for (size_t i = 0; i < n_dpdk; i++) {
		free(dpdks[i].path);
		dpdks[i] = (struct dpdk_sock){0};
	}
	n_dpdk = 0;
	return 0;
}

void module_register(void)
{
	plugin_register_complex_config("hmesh", hmesh_config);
	plugin_register_init("hmesh", hmesh_init);
	plugin_register_read("hmesh", hmesh_read);
	plugin_register_shutdown("hmesh", hmesh_shutdown);
}
