/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ctl_cluster — hmesh-controld as one of N = 3f + 1 members agreeing on one
 * log of changes through the PBFT core (consensus.h) over ctl_peer.
 *
 * A REST write on any member becomes a request (the write's method, path,
 * version and body, plus the member's id and a nonce), signed and sent to
 * every member (PBFT §4.1: clients multicast, so the primary is reached
 * wherever the write arrived); the primary orders it; every member runs
 * it against its model in the agreed order (ctl_write_apply()), so all
 * reach the same answer, 2xx or 4xx; the member that took the write
 * answers its REST client with that answer. No answer within
 * commit_timeout_ms (no quorum of 2f + 1 reachable) is a 503 that says the
 * write may still commit.
 *
 * Durability, in the state directory:
 *   batches.log  every committed batch, written and fdatasync'd before any
 *                of its requests executes: the replicated log itself. At
 *                start it is replayed (bft_replay()) to rebuild the model.
 *   votes.log    every PRE-PREPARE, PREPARE, COMMIT, VIEW-CHANGE and
 *                NEW-VIEW this member signs, and its prepared certificates
 *                and stable checkpoints (records of its own), fdatasync'd
 *                before what depends on them is sent (one sync per round
 *                of the event loop), taken back at start
 *                (bft_restore_sent()) so a restarted member never votes
 *                against its earlier self. Rewritten with only what still
 *                binds (above the stable checkpoint) when it passes 4 MiB
 *                and at start.
 * Records: u32 magic, u64 sequence, u32 length, bytes, u32 CRC-32C; a torn
 * last record is cut off, a bad one followed by good ones refuses to start.
 *
 * Threads: one consensus thread owns the replica, the peer pipe and the
 * logs; REST threads hand it writes through a queue and wait.
 */
#ifndef CTL_CLUSTER_H
#define CTL_CLUSTER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "consensus.h"
#include "ctl_peer.h"

struct ctl_node;

struct ctl_cluster_cfg {
	uint32_t n, id; /* n: members the file lists (ids 0..n-1) */
	uint32_t n0;	/* the first members, ids 0..n0-1; the rest "joins" (the log adds them) */
	struct ctl_peer_addr peer[BFT_MAX_N];
	char api[BFT_MAX_N][96]; /* members' REST addresses, for clients */
	uint8_t pub[BFT_MAX_N][BFT_KEY];
	uint8_t priv[BFT_KEY];
	uint32_t batch_max, pipeline_max, checkpoint_interval, window;
	uint32_t view_timeout_ms, retransmit_ms, commit_timeout_ms;
};

struct ctl_cluster;

/*
 * Read the cluster file (JSON, see README "Cluster") and the key file it
 * names. Every value is checked; an error names the file and the key.
 * Returns 0 or -EINVAL / -errno (logged).
 */
int ctl_cluster_load(const char *path, struct ctl_cluster_cfg *out);

/* Write a new private key (64 hex digits, mode 0600) to @path; print its public key. */
int ctl_cluster_genkey(const char *path);

/*
 * Open the logs in n->cfg.state_dir, replay them into n->model, listen
 * for peers and start the consensus thread. 0 or a negative errno (logged).
 */
int ctl_cluster_start(struct ctl_node *n, const struct ctl_cluster_cfg *c,
		      struct ctl_cluster **out);
void ctl_cluster_stop(struct ctl_cluster *cl);

/* A REST write through the log: blocks until executed here or timed out. HTTP status, *@out. */
int ctl_cluster_write(struct ctl_cluster *cl, const char *method, const char *coll,
		      const char *item, uint64_t ifv, const json_t *body, json_t **out);

/*
 * POST /v1/members (@body: id, peer, api, public_key) or DELETE
 * /v1/members/@item: a membership change through the log. Like a write:
 * blocks until executed here or timed out; 202 once accepted (in force a
 * window later), 409 while another change is under way. HTTP status, *@out.
 */
int ctl_cluster_members_write(struct ctl_cluster *cl, const char *method, const char *item,
			      const json_t *body, json_t **out);

/* GET /v1/cluster: members, view, primary, commit index, counters. */
json_t *ctl_cluster_json(struct ctl_cluster *cl);

/* This member's id and the member count (placement of containers). */
void ctl_cluster_member(const struct ctl_cluster *cl, uint32_t *id, uint32_t *n);
/*
 * The RTT (µs, TCP's smoothed estimate; 0: unknown) to each member, by
 * member index (= mesh node id), as of the last publication (~100 ms).
 * @rtt has room for CTL_PEER_MAX.
 */
void ctl_cluster_peer_rtt(struct ctl_cluster *cl, uint32_t *rtt);

/* Is this member the primary of the view it is in? */
bool ctl_cluster_is_primary(struct ctl_cluster *cl);

/* The last executed sequence number (reads report it as their commit index). */
uint64_t ctl_cluster_commit_index(struct ctl_cluster *cl);

#endif /* CTL_CLUSTER_H */
