/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * consensus — PBFT: M. Castro and B. Liskov, "Practical Byzantine Fault
 * Tolerance", OSDI 1999 (§ numbers below refer to it), in its signature
 * variant (every message signed with Ed25519, wolfCrypt), for N = 3f + 1
 * hmesh-controld replicas agreeing on one ordered log of mesh changes.
 *
 * A protocol core with no I/O and no clock (STYLE §9): the caller feeds it
 * messages, client requests and the time, and it answers through two
 * callbacks, send() and execute(). That is what lets tests/consensus run
 * it in a deterministic simulation (one seed decides every delay, drop,
 * duplicate, partition and Byzantine act).
 *
 * What is implemented, with the rules' sections:
 *   §4.1  clients (here: members) sign requests and multicast them; a
 *         request is executed at most once (by digest).
 *   §4.2  normal case: PRE-PREPARE from the primary of view v (p = v mod N),
 *         PREPARE, COMMIT; prepared = pre-prepare + 2f matching prepares;
 *         committed-local = prepared + 2f + 1 matching commits; execution
 *         in sequence order. Requests are batched (up to batch_max) and
 *         several sequence numbers may be in flight (pipelining) within the
 *         watermarks.
 *   §4.3  checkpoints every K executed sequence numbers; 2f + 1 matching
 *         CHECKPOINT messages make it stable: the log below it is dropped
 *         and the watermarks move (h = stable, H = h + L).
 *   §4.4  view changes: VIEW-CHANGE with the stable checkpoint's proof and
 *         the prepared certificates above it; the new primary's NEW-VIEW
 *         carries 2f + 1 of them and the pre-prepares O it derives
 *         (certificate of the highest view per sequence number, null
 *         requests for gaps), which every backup recomputes and checks.
 *   §4.5.2 liveness: a backup starts a timer for each pending request;
 *         on expiry it moves to view v + 1; the timeout doubles for each
 *         view change without progress; f + 1 VIEW-CHANGEs for higher views
 *         make a replica join the smallest of them.
 *   State transfer (§4.3, "fetch missing state"): a replica that sees a
 *   stable checkpoint above what it executed fetches the batches in
 *   between, in chunks of one message each from one peer at a time, and
 *   checks them against the checkpoint digest (the state is a hash chain
 *   over executed batches) before executing any, so a partitioned or
 *   restarted replica catches up however far behind (older batches come
 *   from the holders' logs: ops.load). What a replica sends in answer to
 *   FETCH and STATUS comes out of one byte budget per asker (a signed
 *   request can be replayed at will); STATUS is answered only to members
 *   and to replicas the log is adding.
 *   Durability: the votes a replica sent, the prepared certificates it
 *   formed (§4.4 needs them after a crash) and its stable checkpoint are
 *   logged through send() to itself and restored with bft_restore_sent():
 *   the window comes back where it was, with every certificate above the
 *   stable checkpoint (executed batches included: a new view must carry
 *   them), and the replica's own votes return to their slots to be
 *   retransmitted. PRE-PREPAREs and PREPAREs may go out before they are
 *   synced (two disk flushes fewer on every request's path): a durable
 *   vote horizon (BFT_HORIZON) promises none was sent above a sequence
 *   number in a view, and after a restart the replica sends none up to
 *   it but those it restored (consensus.c, fenced()).
 *   Membership changes through the log (not in the paper; bft_reconfigure):
 *   a change executed at sequence number s takes effect after E, the first
 *   checkpoint at least a window past s. Until E is stable the window
 *   stops at E (so every vote at or below E is cast under the old members
 *   and every one above it knowing the new ones) and the primary fills the
 *   gap with null batches; checkpoint proofs and certificates are checked
 *   against the members that govern their sequence number; the old
 *   members' proof of E is kept for replicas that fell behind it.
 *   Messages that fail their signature, come from non-members, name an old
 *   view or fall outside the watermarks are dropped and counted; a
 *   PREPARE or COMMIT for a slot whose quorum is complete is dropped
 *   before its signature is checked (it can change nothing).
 *
 *   Any n >= 4 works: quorums are bft_quorum(n), which is the paper's
 *   2f + 1 when n = 3f + 1 (the comments say 2f + 1 for it).
 *
 * Threading: one thread per replica; no function blocks.
 */
#ifndef CONSENSUS_H
#define CONSENSUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BFT_MAX_N     100 /* the simulator goes this far; processes: CTL_PEER_MAX */
#define BFT_KEY	      32   /* Ed25519 public key / private seed */
#define BFT_REQ_MAX   1024 /* request payload bytes */
#define BFT_BATCH_MAX 32

struct bft_ops {
	/*
	 * Send @msg to replica @to, or to every other replica when @to < 0.
	 * @to == this replica's id: a record for its own log, not to be sent
	 * (a prepared certificate, BFT_CERT; the stable checkpoint's proof,
	 * BFT_STABLE; the vote horizon, BFT_HORIZON); a durable replica keeps
	 * it with its votes and hands it back to bft_restore_sent().
	 *
	 * What a durable replica logs (its own PRE-PREPAREs, PREPAREs,
	 * COMMITs, VIEW-CHANGEs, NEW-VIEWs and the records) goes to one
	 * append-only log, in the order sent. Before a round's messages go
	 * out (a round: one call into the core), the log must be durable up
	 * to the round's last record, unless the round logged only
	 * PRE-PREPAREs and PREPAREs: those may be sent first and synced by a
	 * later round (a crash then loses a suffix of them, which the vote
	 * horizon allows for). Before its own CHECKPOINT goes out, the
	 * batches commit() was given must be durable (the checkpoint vouches
	 * for them, and a restart replays them).
	 */
	void (*send)(void *ctx, int to, const uint8_t *msg, size_t len);
	/*
	 * The next request in the agreed order (@seq: its batch's sequence
	 * number). @from: the member that signed the REQUEST (checked against
	 * its key when the request was first accepted); a payload may claim
	 * any origin, so whoever answers a client by what the payload says
	 * must check that claim against @from.
	 */
	void (*execute)(void *ctx, uint64_t seq, uint32_t from, const uint8_t *req, size_t len);
	/*
	 * Optional: batch @seq is committed and about to execute. A durable
	 * replica appends it to its batch log here, and after a restart hands
	 * the log back, in order, to bft_replay(). It need not be durable
	 * yet (before our CHECKPOINT covering it is sent: see send()): a
	 * restart that lost the log's tail gets those batches again from
	 * its votes above the stable checkpoint and from the other replicas.
	 * Not called for bft_replay()'s own batches.
	 */
	void (*commit)(void *ctx, uint64_t seq, const uint8_t *batch, size_t len);
	/*
	 * Optional: copy executed batch @seq, as commit() saw it, into @buf
	 * (@cap bytes) and return its length, 0 when it is not there. A peer
	 * catching up by state transfer may need batches older than the last
	 * 8 * window the replica keeps in memory; without this it cannot be
	 * served them and stays behind.
	 */
	size_t (*load)(void *ctx, uint64_t seq, uint8_t *buf, size_t cap);
};

struct bft_config {
	uint32_t n;			 /* members at the start (ids 0..n-1), 4..BFT_MAX_N */
	uint32_t id;			 /* this replica: < n, or one the log adds later */
	uint32_t checkpoint_interval;	 /* K, >= 1 */
	uint32_t window;		 /* L: high watermark = h + L; a multiple of K */
	uint64_t view_timeout_ms;	 /* §4.5.2 initial timeout */
	uint64_t retransmit_ms;		 /* resend own votes of unfinished work this often */
	uint32_t batch_max;		 /* requests per pre-prepare, 1..BFT_BATCH_MAX */
	/*
	 * Primary: batches pre-prepared but not yet executed, at most (0: the
	 * window). Castro's sliding window for batching: while it is full,
	 * requests gather into the next batch instead of one batch each.
	 */
	uint32_t pipeline_max;
	uint8_t pub[BFT_MAX_N][BFT_KEY]; /* the first members' public keys, by id */
	uint8_t priv[BFT_KEY];		 /* this replica's private seed */
	struct bft_ops ops;
	void *ctx;
};

struct bft_stats {
	uint64_t view;
	uint64_t executed_seq; /* last sequence number executed */
	uint64_t stable_seq;   /* last stable checkpoint */
	uint64_t requests;     /* requests executed */
	uint64_t view_changes; /* views entered after view 0 */
	uint64_t state_transfers;
	uint64_t bad_signature;
	uint64_t non_member;
	uint64_t wrong_view;
	uint64_t out_of_window;
	uint64_t malformed;
	uint64_t bad_new_view; /* NEW-VIEWs whose O did not match their proof */
	uint64_t fetch_limited; /* FETCH, STATUS not (fully) answered: the asker spent its budget */
	uint64_t moot_votes;	/* PREPAREs/COMMITs after their quorum: not checked, not kept */
	uint64_t fenced_votes;	/* PREPAREs not sent after a restart: behind its horizon */
	uint32_t members;	/* voting members now */
	uint32_t primary;	/* of the current view */
	bool member;		/* this replica votes */
	uint64_t reconfig_at;	/* a membership change in the log up to here takes effect after this seq; 0: none */
};

struct bft_replica;

/* Returns 0 and *@out, or -EINVAL (a field out of range) or -ENOMEM. */
int bft_create(const struct bft_config *c, struct bft_replica **out);
void bft_destroy(struct bft_replica *r);

/*
 * A request from this member's client side (a REST write): signed and
 * multicast to every replica (§4.1); it executes once it is committed.
 * Returns 0, -EMSGSIZE or -ENOMEM.
 */
int bft_submit(struct bft_replica *r, const uint8_t *req, size_t len, uint64_t now_ms);

/* A message from the network. Returns 0 (also for dropped ones: see stats). */
int bft_receive(struct bft_replica *r, const uint8_t *msg, size_t len, uint64_t now_ms);

/* Timers: view change, retransmission. Call every few ms. */
void bft_tick(struct bft_replica *r, uint64_t now_ms);

void bft_stats_get(const struct bft_replica *r, struct bft_stats *out);

/*
 * Restart (durability, §4.3 and the paper's note that replicas log what
 * they send): a replica's state is the batches it executed, as commit()
 * saw them, and the protocol messages it sent. On a fresh replica, before
 * any other call:
 *
 * bft_replay() executes batch @seq again (execute() is called for each of
 * its requests, commit() is not): @seq must be the next one, 1, 2, ...
 * Returns 0, -EINVAL (out of order) or -EBADMSG (not a batch).
 *
 * bft_restore_sent() takes back one message this replica signed and sent
 * (PRE-PREPARE, PREPARE, COMMIT, VIEW-CHANGE) or logged (a prepared
 * certificate, which goes back into the VIEW-CHANGEs it sends; a stable
 * checkpoint), oldest first, except that a log rewritten without older
 * checkpoints must give the stable checkpoint before the certificates
 * above it: the replica
 * returns to the latest view it took part in, and never votes for another
 * digest at a (view, sequence number) it voted on before the crash; as a
 * primary it does not reuse a sequence number it assigned. What binds it
 * after a checkpoint is stable: the BFT_STABLE record of that checkpoint
 * and every message for a sequence number above it. Then
 * bft_restore_done() resumes: a VIEW-CHANGE that was in progress is sent
 * again. Returns 0, -EBADMSG (malformed) or -EPERM (not signed by us).
 */
int bft_replay(struct bft_replica *r, uint64_t seq, const uint8_t *batch, size_t len);
/*
 * Before a clean stop, once everything it sent is in its log: a last vote
 * horizon at the highest sequence number this replica voted on in its
 * view, handed to send() as a record that must be synced. A restart from
 * that log has nothing lost to fence off: a primary goes on where it
 * stopped instead of skipping to the horizon (which costs a view change).
 */
void bft_seal(struct bft_replica *r);
int bft_restore_sent(struct bft_replica *r, const uint8_t *msg, size_t len);
void bft_restore_done(struct bft_replica *r, uint64_t now_ms);

/*
 * Membership change through the log. Call it from execute() for a
 * committed request that asks for one (the request's format is the
 * caller's), so that every correct replica calls it at the same sequence
 * number with the same arguments and gets the same answer: the @count
 * members @ids, with public keys @pubs (by position; a member's key never
 * changes), replace the current ones after sequence number E, the first
 * checkpoint at least a window past this batch. Until checkpoint E is
 * stable the window stops at E and the primary fills it with null batches
 * (a primary that does not is replaced, §4.5.2); from then on quorums, the
 * primary of each view (the (v mod n)-th member by id) and who may vote
 * follow the new members. A replica whose id is not among them only
 * follows the log from then on; one added (bft_config.id >= n at create,
 * or an id not listed before) catches up by state transfer before it
 * votes. One change at a time: 4 <= @count <= BFT_MAX_N; a change
 * executed at or below the previous one's E is refused (by the log alone,
 * so the same way on every replica, whatever each has seen stable).
 * Returns 0, -EBUSY (a change is pending) or -EINVAL (an id twice or
 * >= BFT_MAX_N, another key for a known id, a bad key, too few members).
 */
int bft_reconfigure(struct bft_replica *r, const uint32_t *ids, const uint8_t (*pubs)[BFT_KEY],
		    uint32_t count);

/* The voting members now, ascending, into @ids; returns how many. */
uint32_t bft_members(const struct bft_replica *r, uint32_t ids[BFT_MAX_N]);

/* Last sequence number executed (replayed ones included). */
uint64_t bft_last_executed(const struct bft_replica *r);

/* Byzantine members @n replicas tolerate: f = floor((n - 1) / 3). */
static inline uint32_t bft_faults(uint32_t n)
{
	return (n - 1) / 3;
}

/*
 * Quorum of @n replicas: ceil((n + f + 1) / 2), the least size whose any two
 * sets share f + 1 replicas (one honest at least) while the n - f honest
 * ones can still form one. 2f + 1 when n = 3f + 1, as in the paper (§4.2),
 * which assumes that n; with n = 5 (f = 1) it is 4, not 3: two sets of 3
 * of 5 share one replica, which may be the liar.
 */
static inline uint32_t bft_quorum(uint32_t n)
{
	return (n + bft_faults(n) + 2) / 2;
}

/* The primary of @view. */
static inline uint32_t bft_primary(uint64_t view, uint32_t n)
{
	return (uint32_t)(view % n);
}

/* Ed25519 public key of a 32-byte private seed (for configuration). 0 or -EINVAL. */
int bft_public_key(const uint8_t priv[BFT_KEY], uint8_t pub[BFT_KEY]);

#endif /* CONSENSUS_H */
