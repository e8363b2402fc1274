/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * stoq_seg.c — a server endpoint's counters and latency histograms in a
 * stats segment (telemetry/hm_stats.h), for hmesh-stoq server and the
 * server hosted in hmesh-dataplane. One block, written only by the thread
 * that runs the endpoint: stoq_seg_tick is stoq_endpoint_run's done()
 * hook, so the copy is made between bursts, never concurrently with them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hm_log.h"
#include "hm_stats.h"
#include "stoq_priv.h"

#define SEG_HS 24 /* first word of the handshake histogram */
#define SEG_REQ (SEG_HS + HM_HIST_WORDS)
#define SEG_PERIOD_NS 100000000ull

static const struct {
	const char *name, *help;
	enum hm_stats_type type;
} seg_def[] = {
	{ "stoq_rx_datagrams", "UDP datagrams received", HM_STATS_COUNTER },
	{ "stoq_tx_datagrams", "UDP datagrams sent", HM_STATS_COUNTER },
	{ "stoq_rx_bytes", "bytes received", HM_STATS_COUNTER },
	{ "stoq_tx_bytes", "bytes sent", HM_STATS_COUNTER },
	{ "stoq_handshakes", "QUIC handshakes completed", HM_STATS_COUNTER },
	{ "stoq_connections_closed", "connections closed, any reason", HM_STATS_COUNTER },
	{ "stoq_retries_sent", "Retry packets sent (address validation)", HM_STATS_COUNTER },
	{ "stoq_version_negotiations_sent", "Version Negotiation packets sent", HM_STATS_COUNTER },
	{ "stoq_stateless_resets_sent", "Stateless Reset packets sent", HM_STATS_COUNTER },
	{ "stoq_datagrams_dropped", "datagrams matching no connection, refused", HM_STATS_COUNTER },
	{ "stoq_requests", "HTTP/3 requests completed", HM_STATS_COUNTER },
	{ "stoq_connections", "connections open now", HM_STATS_GAUGE },
	{ "stoq_body_read_errors", "response bodies cut short: file shrank or unreadable",
	  HM_STATS_COUNTER },
	{ "stoq_body_chunks_paged", "2 MiB body chunks read from a disk by the pager threads",
	  HM_STATS_COUNTER },
	{ "stoq_body_page_waits", "times a stream waited for the pager: the disk was behind",
	  HM_STATS_COUNTER },
	{ "stoq_put_blocks_paged", "2 MiB PUT blocks written to a disk by the pager threads",
	  HM_STATS_COUNTER },
	{ "stoq_put_writes_behind",
	  "PUT blocks queued while the one before was still being written: the disk was behind",
	  HM_STATS_COUNTER },
	{ "stoq_put_writes_inline",
	  "PUT writes the event loop did itself: every PUT block of the endpoint in use",
	  HM_STATS_COUNTER },
	{ "stoq_aes_gcm_vaes",
	  "1: AES-GCM packets sealed and opened on VAES (stoq_gcm); 0: on wolfCrypt's code",
	  HM_STATS_GAUGE },
	{ "stoq_file_cache_hits", "GETs sent from a file mapping kept from an earlier GET",
	  HM_STATS_COUNTER },
	{ "stoq_file_cache_misses", "GETs that mapped their file (not kept, or changed size)",
	  HM_STATS_COUNTER },
	{ "stoq_file_cache_bytes", "bytes of file mappings kept between GETs (file_cache_bytes)",
	  HM_STATS_GAUGE },
};
_Static_assert(sizeof(seg_def) / sizeof(seg_def[0]) <= SEG_HS, "stoq_seg: counters overlap");

struct stoq_seg {
	struct hm_stats *seg;
	uint64_t *w;
	struct stoq_endpoint *ep;
	uint64_t next;
};

struct stoq_seg *stoq_seg_open(const char *name, struct stoq_endpoint *ep)
{
	struct stoq_seg *x = calloc(1, sizeof(*x));
	int rc = 0;

	if (!x) {
		HM_ERR(STOQ_LOG, "stats segment %s: %s", name, strerror(ENOMEM));
		errno = ENOMEM;
		return NULL;
	}
	x->ep = ep;
	/* Entries: as many counters as there are words before SEG_HS, and the
	 * two histograms. */
	x->seg = hm_stats_create(name, 1, (SEG_REQ + HM_HIST_WORDS) * 8, SEG_HS + 2);
	if (!x->seg) {
		rc = -errno;
		HM_ERR(STOQ_LOG, "stats segment %s: %s", name, strerror(errno));
		goto err;
	}
	for (unsigned i = 0; i < sizeof(seg_def) / sizeof(seg_def[0]) && rc >= 0; i++)
		rc = hm_stats_add(x->seg, seg_def[i].type, seg_def[i].name, NULL, seg_def[i].help, 0,
				  0, i);
	if (rc >= 0)
		rc = hm_stats_add(x->seg, HM_STATS_HISTOGRAM, "stoq_handshake_seconds", NULL,
				  "first packet to handshake complete", 1e-9, 0, SEG_HS);
	if (rc >= 0)
		rc = hm_stats_add(x->seg, HM_STATS_HISTOGRAM, "stoq_request_seconds", NULL,
				  "HTTP/3 request: headers to end of stream", 1e-9, 0, SEG_REQ);
	if (rc < 0) {
		HM_ERR(STOQ_LOG, "stats segment %s: entries: %s", name, strerror(-rc));
		goto err;
	}
	x->w = hm_stats_block(x->seg, 0);
	return x;
err:
	hm_stats_destroy(x->seg);
	free(x);
	errno = -rc;
	return NULL;
}

void stoq_seg_publish(struct stoq_seg *x)
{
	struct stoq_endpoint_stats st;

	stoq_endpoint_stats(x->ep, &st);
	hm_stats_set(&x->w[0], st.rx_dgrams);
	hm_stats_set(&x->w[1], st.tx_dgrams);
	hm_stats_set(&x->w[2], st.rx_bytes);
	hm_stats_set(&x->w[3], st.tx_bytes);
	hm_stats_set(&x->w[4], st.handshakes);
	hm_stats_set(&x->w[5], st.conns_closed);
	hm_stats_set(&x->w[6], st.retries_sent);
	hm_stats_set(&x->w[7], st.vn_sent);
	hm_stats_set(&x->w[8], st.resets_sent);
	hm_stats_set(&x->w[9], st.dropped);
	hm_stats_set(&x->w[10], st.requests_done);
	hm_stats_set(&x->w[11], stoq_endpoint_conn_count(x->ep));
	hm_stats_set(&x->w[12], st.body_read_errors);
	hm_stats_set(&x->w[13], st.body_chunks_paged);
	hm_stats_set(&x->w[14], st.body_page_waits);
	hm_stats_set(&x->w[15], st.put_blocks_paged);
	hm_stats_set(&x->w[16], st.put_writes_behind);
	hm_stats_set(&x->w[17], st.put_writes_inline);
	hm_stats_set(&x->w[18], stoq_aead_vaes());
	hm_stats_set(&x->w[19], st.file_cache_hits);
	hm_stats_set(&x->w[20], st.file_cache_misses);
	hm_stats_set(&x->w[21], st.file_cache_bytes);
	for (unsigned i = 0; i < HM_HIST_WORDS; i++) {
		hm_stats_set(&x->w[SEG_HS + i], st.handshake_ns[i]);
		hm_stats_set(&x->w[SEG_REQ + i], st.request_ns[i]);
	}
}

bool stoq_seg_tick(void *arg)
{
	struct stoq_seg *x = arg;
	uint64_t now = stoq_now();

	if (x && now >= x->next) {
		stoq_seg_publish(x);
		x->next = now + SEG_PERIOD_NS;
	}
	return false;
}

void stoq_seg_close(struct stoq_seg *x)
{
	if (!x)
		return;
	hm_stats_destroy(x->seg);
	free(x);
}
