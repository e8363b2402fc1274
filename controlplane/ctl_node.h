/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ctl_node — what hmesh-controld's threads share: the model and its store
 * under one lock, the dataplane channel's status, and the settings.
 *
 * Threads: libmicrohttpd's (REST, ctl_rest.c) prepares, logs and applies
 * changes (single node) or hands them to ctl_cluster's consensus thread,
 * which applies them in the agreed order; ctl_sync's pushes them to the
 * dataplane. All take @lock; a change signals @changed.
 */
#ifndef CTL_NODE_H
#define CTL_NODE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "ctl_cluster.h"
#include "ctl_model.h"
#include "ctl_orch.h"
#include "ctl_store.h"
#include "hm_ctlmsg.h"
#include "hm_stats.h"

struct ctl_settings {
	char listen_addr[64]; /* IPv4 or IPv6 literal */
	uint16_t listen_port;
	char state_dir[256];
	char dataplane_socket[108];
	/* After the dataplane refused a push: the pause before the full state goes again
	 * (0: 1000 ms); a change to the model ends it early. */
	uint32_t refusal_retry_ms;
	char tokens_file[256];
	uint16_t node_id;
	uint32_t write_rate;	/* writes per second over REST, 0 = unlimited */
	char stats_segment[64]; /* "off" or a name (/dev/shm/hmesh-NAME) */
	struct ctl_orch_cfg orch; /* runtime[0] == '\0': no orchestration */
	struct ctl_limits lim;
};

struct ctl_dp_status {
	bool connected;
	uint64_t synced_revision; /* the model revision the dataplane has committed */
	uint64_t syncs, deltas, errors;
	char hello[HM_CTL_TEXT_MAX + 1]; /* the dataplane's HELLO reply */
	char last_error[200];		 /* the last refusal or channel error */
};

/*
 * Counters in the stats segment (hm_stats.h): block 0 is written by the
 * REST thread, block 1 by the sync thread; NULL pointers when it is off.
 */
#define CTL_STATS(X)                                                                               \
	X(REQ_2XX, rest_requests, "code=2xx", HM_STATS_COUNTER, "REST requests answered 2xx")      \
	X(REQ_4XX, rest_requests, "code=4xx", HM_STATS_COUNTER, "REST requests refused 4xx")       \
	X(REQ_5XX, rest_requests, "code=5xx", HM_STATS_COUNTER, "REST requests failed 5xx")        \
	X(WRITES, state_changes, "", HM_STATS_COUNTER, "changes made durable and applied")         \
	X(REVISION, state_revision, "", HM_STATS_GAUGE, "revision of the desired state")           \
	X(SYNCS, dataplane_full_syncs, "", HM_STATS_COUNTER, "full-state pushes to the dataplane") \
	X(DELTAS, dataplane_deltas, "", HM_STATS_COUNTER, "delta pushes to the dataplane")         \
	X(DP_ERRORS, dataplane_errors, "", HM_STATS_COUNTER, "refusals and channel errors")        \
	X(DP_UP, dataplane_connected, "", HM_STATS_GAUGE, "1 while the control socket is connected") \
	X(DP_CONF, dataplane_configured, "", HM_STATS_GAUGE, "1 when --dataplane-socket is given")  \
	X(BFT_VIEW, bft_view, "", HM_STATS_GAUGE, "PBFT view this member is in")                     \
	X(BFT_EXECUTED, bft_commit_index, "", HM_STATS_GAUGE, "last sequence number executed")       \
	X(BFT_STABLE, bft_stable_checkpoint, "", HM_STATS_GAUGE, "last stable checkpoint")          \
	X(BFT_REQUESTS, bft_requests, "", HM_STATS_COUNTER, "log entries executed")                  \
	X(BFT_VIEW_CHANGES, bft_view_changes, "", HM_STATS_COUNTER, "views entered after view 0")    \
	X(BFT_STATE_TRANSFERS, bft_state_transfers, "", HM_STATS_COUNTER,                          \
	  "catch-ups by state transfer")                                                           \
	X(BFT_BAD_SIG, bft_dropped, "reason=bad_signature", HM_STATS_COUNTER,                     \
	  "consensus messages dropped")                                                            \
	X(BFT_NON_MEMBER, bft_dropped, "reason=non_member", HM_STATS_COUNTER,                     \
	  "consensus messages dropped")                                                            \
	X(BFT_WRONG_VIEW, bft_dropped, "reason=wrong_view", HM_STATS_COUNTER,                     \
	  "consensus messages dropped")                                                            \
	X(BFT_OUT_OF_WINDOW, bft_dropped, "reason=out_of_window", HM_STATS_COUNTER,               \
	  "consensus messages dropped")                                                            \
	X(BFT_MALFORMED, bft_dropped, "reason=malformed", HM_STATS_COUNTER,                       \
	  "consensus messages dropped")                                                            \
	X(BFT_FETCH_LIMITED, bft_dropped, "reason=fetch_rate", HM_STATS_COUNTER,                  \
	  "consensus messages dropped")                                                            \
	X(BFT_MOOT, bft_votes_after_quorum, "", HM_STATS_COUNTER,                                 \
	  "votes that arrived after their quorum: not checked, not kept")                          \
	X(BFT_FENCED, bft_votes_held_back, "", HM_STATS_COUNTER,                                  \
	  "PREPAREs not sent after a restart: behind the vote horizon")                            \
	X(PEERS_UP, bft_peers_connected, "", HM_STATS_GAUGE, "peers with a connection up")         \
	X(PEER_SENT, bft_peer_messages, "dir=sent", HM_STATS_COUNTER, "messages to peers")          \
	X(PEER_RECEIVED, bft_peer_messages, "dir=received", HM_STATS_COUNTER, "messages to peers")  \
	X(PEER_DROPPED, bft_peer_dropped, "", HM_STATS_COUNTER, "messages not queued (peer down)")  \
	X(AUTOSCALE, autoscale_changes, "", HM_STATS_COUNTER, "replica counts changed by forecast")

enum ctl_stat {
#define CTL_X(e, n, l, t, d) CTL_S_##e,
	CTL_STATS(CTL_X)
#undef CTL_X
	    CTL_S__COUNT
};

struct ctl_stats_block {
	uint64_t c[CTL_S__COUNT];
	uint64_t write_hist[HM_STATS_HIST_WORDS];  /* ns from body parsed to change applied */
	uint64_t commit_hist[HM_STATS_HIST_WORDS]; /* ns from submit to executed (cluster) */
} __attribute__((aligned(64)));

struct ctl_node {
	pthread_mutex_t lock;
	pthread_cond_t changed;
	struct ctl_settings cfg;
	struct ctl_model model;
	struct ctl_store *store;
	struct ctl_dp_status dp;
	struct hm_stats *seg;
	struct ctl_stats_block *st_rest, *st_sync, *st_cons, *st_orch;
	struct ctl_cluster *cluster; /* NULL: single node (ctl_store is the log) */
	struct ctl_orch *orch;	     /* NULL: --runtime none */
	volatile bool stop;
};

/* Counter update by the owning thread (no-op when the segment is off). */
static inline void ctl_stat_add(struct ctl_stats_block *b, enum ctl_stat s, uint64_t v)
{
	if (b)
		hm_stats_inc(&b->c[s], v);
}

static inline void ctl_stat_set(struct ctl_stats_block *b, enum ctl_stat s, uint64_t v)
{
	if (b)
		hm_stats_set(&b->c[s], v);
}

/* main.c: open the segment named in cfg.stats_segment. 0 or -errno (logged). */
int ctl_stats_open(struct ctl_node *n);

/* ctl_sync.c: the dataplane channel. Starts its thread; 0 or -errno. */
int ctl_sync_start(struct ctl_node *n, pthread_t *thr);

/*
 * One request on a connection of its own (queries from the REST thread,
 * which must not share the sync thread's). Returns 0 when the dataplane
 * answered: its status in *@status (0, or the negative errno it refused
 * with, e.g. -ENOENT for something it does not have) and its text in
 * @text. Else -errno of the channel (connect: -ENOENT when the socket file
 * is missing, -ECONNREFUSED; -ETIMEDOUT, -EPIPE, -EPROTO), *@status
 * untouched and @text empty: the two are never confused.
 */
int ctl_dp_call(const char *path, struct hm_ctl_msg *q, int *status, char *text, size_t text_len);

#endif /* CTL_NODE_H */
