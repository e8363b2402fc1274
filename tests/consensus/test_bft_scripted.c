/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Scripted runs of the PBFT core (consensus.h): a few replicas, every
 * message delivered, dropped or routed by hand, to show one property each
 * where the seeded simulation (test_bft_sim.c) would need luck to get there.
 *
 * 1. Why a replica logs the prepared certificates it forms (BFT_CERT).
 *   view 0: request X is prepared at replicas 0 (primary), 1 and 2, and
 *           committed and executed at replica 2 only (the others' COMMITs
 *           reach nobody else); replica 3 hears nothing.
 *   then:   replica 1 crashes and restarts from its durable record; replica
 *           0 turns Byzantine and forgets X (a fresh replica with its key);
 *           replica 2 is cut off. Replica 3 submits Y; 1 and 3 time out and
 *           move to view 1 with 0's VIEW-CHANGE, whose primary is 1.
 *   Replica 1's certificate for X is the only one in those three
 *   VIEW-CHANGEs, so the new view must carry X at sequence number 1, where
 *   replica 2 executed it. Restarted with its BFT_CERT records, replica 1
 *   executes X there; restarted without them (the record before they were
 *   logged) it executes Y there, against replica 2: the test runs both, so
 *   it shows the record is what keeps the logs the same. Again with X
 *   after 12 batches and a window of 8: the restart must bring the stable
 *   checkpoint back (BFT_STABLE) for the certificate to fit its window.
 *
 * 1b. A power cut of all four after 13 batches, then a silent primary: the
 *   new view carries the executed batches above the stable checkpoint and
 *   goes on at 14 (certificates of executed batches are restored too).
 *
 * 1c. A power cut of all four while one member is a batch behind: the
 *   others' restored votes, retransmitted, bring it that batch with no new
 *   request.
 *
 * 1d. A restarted primary resends the NEW-VIEW it logged, so a member that
 *   missed the view change enters the view.
 *
 * 2. Why quorums are bft_quorum(n) and not 2f + 1 when n != 3f + 1. With
 *   n = 5 (f = 1) the Byzantine primary 0 runs as two instances with its
 *   key: one pre-prepares X to replicas 1 and 2, the other Y to 3 and 4,
 *   and each votes along. With quorums of 3, {0, 1, 2} commit X and
 *   {0, 3, 4} commit Y at sequence number 1; with bft_quorum(5) = 4
 *   neither is prepared.
 *
 * 2b. The same primary gives replica 4 alone a null batch for the number
 *   the others get X at, and its PREPARE and COMMIT for another digest;
 *   4 never sees X's REQUEST. The quorum of 4 is every honest replica, so
 *   the three honest COMMITs 4 gets never certify X, 4 cannot vote for X,
 *   nothing of its own waits, and the quiet log brings no checkpoint: it
 *   must ask (STATUS), and a peer's answer carries 0's COMMIT for X.
 *
 * 3. A replica cut off while 100 batches commit (window 8: the others keep
 *   only the last 64 in memory, and one state-transfer message used to have
 *   to carry the whole gap) catches up once healed: chunk by chunk, older
 *   batches from the holders' logs (ops.load), all checked against the
 *   stable checkpoint before any executes.
 *
 * 4. A member that asks for state again and again (a Byzantine FETCH
 *   flood) is answered only within its byte budget (fetch_limited counts
 *   the rest).
 *
 * 5. Membership changes through the log: a replica added votes (a request
 *   commits only with its vote), one removed no longer does; a second
 *   change while one is pending is refused the same way everywhere.
 *
 * 6. The vote horizon (BFT_HORIZON): PRE-PREPAREs and PREPAREs are sent
 *   before they are synced, so a crash may lose them. A backup that lost
 *   its PREPARE for X does not PREPARE the Y a Byzantine primary then
 *   offers at the same view and sequence number; a primary that lost its
 *   PRE-PREPARE does not assign that number again (its gap is filled by a
 *   view change, and the request commits). A primary stopped cleanly
 *   (bft_seal) goes on in its view after the restart.
 *
 * 7. execute() names the member that signed each request, whatever the
 *   payload claims (ctl_cluster answers its REST clients by that), also
 *   for batches that came by state transfer.
 *
 * 8. STATUS is answered within the asker's FETCH budget however often one
 *   signed STATUS is replayed, and not at all to a member the log removed.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consensus_priv.h"

#define MAXI 8 /* instances: replicas, plus a Byzantine replica's twin */
#define QMAX 8192
#define LOGN 128

struct qmsg {
	int from, to; /* instance, replica id */
	uint8_t *b;
	size_t len;
};

/*
 * One scripted world: instance i < n is replica i; a twin (instance n)
 * signs as replica 0 with its key. route() decides, per message, which
 * instance gets it (-1: dropped).
 */
struct world {
	uint32_t n, n_inst;
	struct bft_replica *r[MAXI];
	struct bft_config c;
	uint8_t priv[MAXI][BFT_KEY];
	int ids[MAXI];
	int (*route)(int from, int to, uint8_t type);
	/* When set, sees each message before route() (may replace its buffer); false drops it. */
	bool (*rewrite)(struct qmsg *m);
	struct qmsg q[QMAX];
	size_t head, tail;
	/* each replica's durable record: what it signed and sent or logged */
	struct {
		uint8_t *b;
		size_t len;
	} disk[MAXI][1024];
	size_t n_disk[MAXI];
	/* what each instance committed, for ops.load (batch seq at [seq - 1]) */
	struct {
		uint8_t *b;
		size_t len;
	} log[MAXI][128];
	/* what each instance executed, by sequence number */
	char exec[MAXI][LOGN][16];
	uint64_t exec_seq[MAXI][LOGN];
	uint32_t exec_from[MAXI][LOGN]; /* who signed it, as execute() was told */
	uint32_t n_exec[MAXI];
	int phase;
	uint64_t now;
	/* every replica's public key, for membership requests ("M:1,2,3,4") */
	uint8_t pub[MAXI][BFT_KEY];
	int reconf_rc[MAXI][4]; /* bft_reconfigure()'s answers, per instance */
	uint32_t n_reconf[MAXI];
	/*
	 * Every PRE-PREPARE and PREPARE signed, by replica id: none may
	 * contradict another (checked when @check_votes: other tests make
	 * replicas Byzantine on purpose).
	 */
	bool check_votes;
	struct {
		uint8_t type;
		uint64_t view, seq;
		uint8_t d[BFT_DIGEST];
	} votes[MAXI][256];
	uint32_t n_votes[MAXI];
};

static struct world W;

/* The replica an instance signs as. */
static int replica_of(int inst)
{
	return inst < (int)W.n ? inst : 0;
}

static void on_send(void *ctx, int to, const uint8_t *b, size_t len)
{
	int from = *(const int *)ctx;

	if (from < (int)W.n && len > BFT_HDR && bft_type_logged(b[0]) &&
	    (uint32_t)(b[4] | b[5] << 8 | b[6] << 16 | (uint32_t)b[7] << 24) == (uint32_t)from) {
		size_t *n = &W.n_disk[from];

		cr_assert_lt(*n, 1024);
		W.disk[from][*n].b = malloc(len);
		memcpy(W.disk[from][*n].b, b, len);
		W.disk[from][(*n)++].len = len;
	}
	/* (a twin is the liar: not checked) */
	if (W.check_votes && (b[0] == BFT_PREPREPARE || b[0] == BFT_PREPARE) && from < (int)W.n) {
		struct bft_hdr h;
		const uint8_t *body;
		size_t bl;
		int id = replica_of(from);

		cr_assert_eq(bft_hdr_parse(b, len, &h, &body, &bl), 0);
		for (uint32_t k = 0; k < W.n_votes[id]; k++)
			cr_assert(W.votes[id][k].type != h.type || W.votes[id][k].view != h.view ||
				      W.votes[id][k].seq != h.seq ||
				      memcmp(W.votes[id][k].d, h.d, BFT_DIGEST) == 0,
				  "replica %d sent a %s for another digest at view %llu seq %llu",
				  id, h.type == BFT_PREPARE ? "PREPARE" : "PRE-PREPARE",
				  (unsigned long long)h.view, (unsigned long long)h.seq);
		if (W.n_votes[id] < 256) {
			W.votes[id][W.n_votes[id]].type = h.type;
			W.votes[id][W.n_votes[id]].view = h.view;
			W.votes[id][W.n_votes[id]].seq = h.seq;
			memcpy(W.votes[id][W.n_votes[id]].d, h.d, BFT_DIGEST);
			W.n_votes[id]++;
		}
	}
	if (to == replica_of(from))
		return; /* a record for its own log */
	for (int i = 0; i < (int)W.n; i++) {
		if (i == replica_of(from) || (to >= 0 && i != to))
			continue;
		cr_assert_lt(W.tail - W.head, QMAX);
		struct qmsg *m = &W.q[W.tail++ % QMAX];

		m->from = from;
		m->to = i;
		m->b = malloc(len);
		memcpy(m->b, b, len);
		m->len = len;
	}
}

static void on_execute(void *ctx, uint64_t seq, uint32_t from, const uint8_t *req, size_t len)
{
	int id = *(const int *)ctx;
	uint32_t k = W.n_exec[id];

	/* "M:0,1,2,3,4": the members from now on (the application's format). */
	if (len > 2 && memcmp(req, "M:", 2) == 0) {
		uint32_t ids[MAXI], n = 0;
		uint8_t pubs[MAXI][BFT_KEY];

		for (size_t i = 2; i < len && n < MAXI; i += 2) {
			ids[n] = (uint32_t)(req[i] - '0');
			memcpy(pubs[n], W.pub[ids[n]], BFT_KEY);
			n++;
		}
		cr_assert_lt(W.n_reconf[id], 4);
		W.reconf_rc[id][W.n_reconf[id]++] = bft_reconfigure(W.r[id], ids, pubs, n);
	}
	cr_assert_lt(k, LOGN);
	snprintf(W.exec[id][k], sizeof(W.exec[id][k]), "%.*s", (int)len, (const char *)req);
	W.exec_seq[id][k] = seq;
	W.exec_from[id][k] = from;
	W.n_exec[id]++;
}

static void on_commit(void *ctx, uint64_t seq, const uint8_t *b, size_t len)
{
	int id = *(const int *)ctx;

	if (seq > 128)
		return;
	free(W.log[id][seq - 1].b);
	W.log[id][seq - 1].b = malloc(len);
	memcpy(W.log[id][seq - 1].b, b, len);
	W.log[id][seq - 1].len = len;
}

static size_t on_load(void *ctx, uint64_t seq, uint8_t *buf, size_t cap)
{
	int id = *(const int *)ctx;

	if (seq == 0 || seq > 128 || W.log[id][seq - 1].b == NULL || W.log[id][seq - 1].len > cap)
		return 0;
	memcpy(buf, W.log[id][seq - 1].b, W.log[id][seq - 1].len);
	return W.log[id][seq - 1].len;
}

/* Which request did instance @id execute in batch @seq ("" if none)? */
static const char *executed_at(int id, uint64_t seq)
{
	for (uint32_t k = 0; k < W.n_exec[id]; k++)
		if (W.exec_seq[id][k] == seq)
			return W.exec[id][k];
	return "";
}

static void deliver(void)
{
	while (W.head != W.tail) {
		struct qmsg m = W.q[W.head++ % QMAX];
		int inst = W.rewrite && !W.rewrite(&m) ? -1 : W.route(m.from, m.to, m.b[0]);

		if (inst >= 0)
			bft_receive(W.r[inst], m.b, m.len, W.now);
		free(m.b);
	}
}

static void make(int i)
{
	W.c.id = (uint32_t)replica_of(i);
	memcpy(W.c.priv, W.priv[replica_of(i)], BFT_KEY);
	W.c.ctx = &W.ids[i];
	cr_assert_eq(bft_create(&W.c, &W.r[i]), 0);
}

static void tick_all(uint64_t to_ms)
{
	for (; W.now < to_ms; W.now += 10) {
		for (uint32_t i = 0; i < W.n_inst; i++)
			bft_tick(W.r[i], W.now);
		deliver();
	}
}

/*
 * @n members (ids 0..n-1) and @joiners replicas (ids n, n+1, ...) that only
 * follow until the log adds them; @twin: an instance after them signing as
 * replica 0. Window @window.
 */
static void world_init_join(uint32_t n, uint32_t joiners, bool twin, uint32_t window,
			    int (*route)(int, int, uint8_t))
{
	memset(&W, 0, sizeof(W));
	W.n = n + joiners;
	W.n_inst = W.n + twin;
	W.route = route;
	W.c = (struct bft_config){.n = n, .checkpoint_interval = 8, .window = window,
				  .view_timeout_ms = 500, .retransmit_ms = 200, .batch_max = 1};
	W.c.ops = (struct bft_ops){
	    .send = on_send, .execute = on_execute, .commit = on_commit, .load = on_load};
	for (uint32_t i = 0; i < W.n; i++) {
		memset(W.priv[i], (int)(0x11 * (i + 1)), BFT_KEY);
		cr_assert_eq(bft_public_key(W.priv[i], W.pub[i]), 0);
		if (i < n)
			memcpy(W.c.pub[i], W.pub[i], BFT_KEY);
	}
	for (uint32_t i = 0; i < W.n_inst; i++) {
		W.ids[i] = (int)i;
		make((int)i);
	}
}

/* @n replicas (and @twin: an instance n signing as replica 0), window @window. */
static void world_init(uint32_t n, bool twin, uint32_t window, int (*route)(int, int, uint8_t))
{
	world_init_join(n, 0, twin, window, route);
}

static void world_free(void)
{
	for (uint32_t i = 0; i < MAXI; i++)
		for (int k = 0; k < 128; k++)
			free(W.log[i][k].b);
	for (uint32_t i = 0; i < MAXI; i++)
		for (size_t k = 0; k < W.n_disk[i]; k++)
			free(W.disk[i][k].b);
	while (W.head != W.tail)
		free(W.q[W.head++ % QMAX].b);
	for (uint32_t i = 0; i < W.n_inst; i++)
		bft_destroy(W.r[i]);
}

/* ---- 1. prepared certificates across a restart ------------------------------------- */

static int route_cert(int from, int to, uint8_t type)
{
	switch (W.phase) {
	case 1: /* X in view 0: 3 cut off, COMMITs reach replica 2 only */
		if (from == 3 || to == 3)
			return -1;
		return type != BFT_COMMIT || to == 2 ? to : -1;
	case 2: /* the view change: 2 cut off, Byzantine 0 sends only its VIEW-CHANGE */
		if (from == 2 || to == 2)
			return -1;
		return from != 0 || type == BFT_VIEWCHANGE ? to : -1;
	default: /* view 1: everyone */
		return to;
	}
}

/*
 * The scripted run; @keep_cert: replica 1 restarts with its BFT_CERT
 * records. @pre: batches committed everywhere first, with a window of 8,
 * so X comes after a stable checkpoint and beyond the first window: the
 * restarted replica needs its BFT_STABLE record to put the certificate
 * where a view change finds it.
 */
static void run_cert(bool keep_cert, uint32_t pre)
{
	uint32_t certs = 0;
	struct bft_stats st;
	char req[8];

	world_init(4, false, pre ? 8 : 32, route_cert);
	for (uint32_t k = 0; k < pre; k++) {
		snprintf(req, sizeof(req), "P%u", k);
		cr_assert_eq(bft_submit(W.r[0], (const uint8_t *)req, strlen(req), W.now), 0);
		deliver();
	}
	for (int i = 0; i < 4; i++) {
		bft_stats_get(W.r[i], &st);
		cr_assert_eq(st.executed_seq, pre, "replica %d executed %llu of the first %u", i,
			     (unsigned long long)st.executed_seq, pre);
		cr_assert_eq(st.stable_seq, pre / 8 * 8);
	}
	W.phase = 1;
	cr_assert_eq(bft_submit(W.r[0], (const uint8_t *)"X", 1, W.now), 0);
	deliver();
	cr_assert_str_eq(executed_at(2, pre + 1), "X", "replica 2 did not execute X at %u",
			 pre + 1);
	for (int i = 0; i < 4; i++)
		cr_assert_eq(W.n_exec[i], pre + (i == 2), "only replica 2 may commit X");

	/* Replica 1 restarts from its record; replica 0 forgets everything. */
	while (W.head != W.tail)
		free(W.q[W.head++ % QMAX].b); /* in-flight messages are lost */
	bft_destroy(W.r[1]);
	W.n_exec[1] = 0;
	make(1);
	for (uint32_t k = 0; k < pre; k++)
		cr_assert_eq(bft_replay(W.r[1], k + 1, W.log[1][k].b, W.log[1][k].len), 0);
	for (size_t k = 0; k < W.n_disk[1]; k++) {
		if (W.disk[1][k].b[0] == BFT_CERT && W.disk[1][k].b[16] == pre + 1) {
			certs++;
			if (!keep_cert)
				continue;
		}
		cr_assert_eq(bft_restore_sent(W.r[1], W.disk[1][k].b, W.disk[1][k].len), 0);
	}
	bft_restore_done(W.r[1], W.now);
	cr_assert_eq(certs, 1, "replica 1 logged %u certificates for X, not 1", certs);
	bft_stats_get(W.r[1], &st);
	cr_assert_eq(st.stable_seq, pre / 8 * 8, "the restart lost the stable checkpoint");
	bft_destroy(W.r[0]);
	make(0);

	W.phase = 2;
	cr_assert_eq(bft_submit(W.r[3], (const uint8_t *)"Y", 1, W.now), 0);
	deliver();
	tick_all(W.now + 3000);
	bft_stats_get(W.r[1], &st);
	cr_assert_geq(st.view, 1, "no view change happened");
	W.phase = 3;
	tick_all(W.now + 5000);
}

static void check_x_in_place(uint32_t pre)
{
	cr_assert_str_eq(executed_at(1, pre + 1), "X", "replica 1 executed '%s' at %u, replica 2 X",
			 executed_at(1, pre + 1), pre + 1);
	cr_assert_str_eq(executed_at(3, pre + 1), "X", "replica 3 executed '%s' at %u, replica 2 X",
			 executed_at(3, pre + 1), pre + 1);
	cr_assert_str_eq(executed_at(1, pre + 2), "Y", "Y was not executed after X");
}

Test(bft_scripted, restored_certificate_keeps_a_committed_request_in_place)
{
	run_cert(true, 0);
	check_x_in_place(0);
	world_free();
}

Test(bft_scripted, without_the_certificate_the_logs_diverge)
{
	run_cert(false, 0);
	/* What the record prevents: Y takes X's place at replicas 1 and 3. */
	cr_assert_str_eq(executed_at(1, 1), "Y", "replica 1 executed '%s' at 1",
			 executed_at(1, 1));
	cr_assert_str_eq(executed_at(2, 1), "X");
	world_free();
}

/*
 * The same beyond the first window (12 batches before X, checkpoint 8
 * stable): the restarted replica gets its window back from its BFT_STABLE
 * record, keeps the certificate for X and X stays at 13. (Before that
 * record it came back with the window at 0..8, the certificate did not
 * fit, and Y took 13 at replicas 1 and 3.)
 */
Test(bft_scripted, restored_certificate_beyond_the_first_window)
{
	run_cert(true, 12);
	check_x_in_place(12);
	world_free();
}

/*
 * A restart from the durable record only: the batches @i committed
 * (ops.commit) replayed, then every message it signed and logged restored.
 */
static void restart_from_disk(int i, uint64_t batches)
{
	bft_destroy(W.r[i]);
	W.n_exec[i] = 0;
	make(i);
	for (uint64_t k = 0; k < batches; k++)
		cr_assert_eq(bft_replay(W.r[i], k + 1, W.log[i][k].b, W.log[i][k].len), 0);
	for (size_t k = 0; k < W.n_disk[i]; k++)
		cr_assert_eq(bft_restore_sent(W.r[i], W.disk[i][k].b, W.disk[i][k].len), 0);
	bft_restore_done(W.r[i], W.now);
}

/* Phase 1: replica 0, the primary of view 0, is silent. */
static int route_no_primary(int from, int to, uint8_t type)
{
	(void)type;
	return W.phase == 1 && (from == 0 || to == 0) ? -1 : to;
}

/*
 * 1b. All four restart (a power cut) after 13 batches, checkpoint 8
 * stable; then the primary stays silent. The new view must carry 9..13
 * again, which every replica executed: their certificates above the stable
 * checkpoint are in each VIEW-CHANGE, so the new primary goes on at 14.
 * (When a restart kept only certificates above the last executed batch,
 * the new view started at 9, the primary could assign nothing new and the
 * cluster changed views without end.)
 */
Test(bft_scripted, full_restart_then_view_change_keeps_executed_batches)
{
	char req[8];
	struct bft_stats st;

	world_init(4, false, 8, route_no_primary);
	for (uint32_t k = 0; k < 13; k++) {
		snprintf(req, sizeof(req), "P%u", k);
		cr_assert_eq(bft_submit(W.r[0], (const uint8_t *)req, strlen(req), W.now), 0);
		deliver();
	}
	while (W.head != W.tail)
		free(W.q[W.head++ % QMAX].b);
	for (int i = 0; i < 4; i++) {
		restart_from_disk(i, 13);
		bft_stats_get(W.r[i], &st);
		cr_assert_eq(st.executed_seq, 13, "replica %d replayed %llu batches", i,
			     (unsigned long long)st.executed_seq);
		cr_assert_eq(st.stable_seq, 8,
			     "replica %d: stable checkpoint %llu after the restart", i,
			     (unsigned long long)st.stable_seq);
	}
	W.phase = 1;
	cr_assert_eq(bft_submit(W.r[1], (const uint8_t *)"Y", 1, W.now), 0);
	deliver();
	tick_all(W.now + 10000);
	for (int i = 1; i < 4; i++) {
		bft_stats_get(W.r[i], &st);
		cr_assert_geq(st.view, 1, "replica %d: no view change", i);
		cr_assert_str_eq(executed_at(i, 13), "P12");
		cr_assert_str_eq(executed_at(i, 14), "Y",
				 "replica %d: Y not executed at 14 (view %llu, executed %llu)", i,
				 (unsigned long long)st.view, (unsigned long long)st.executed_seq);
	}
	world_free();
}

/* Phase 2: COMMITs do not reach replica 3. */
static int route_no_commit_to_3(int from, int to, uint8_t type)
{
	(void)from;
	return W.phase == 2 && to == 3 && type == BFT_COMMIT ? -1 : to;
}

/*
 * 1c. Replica 3 misses the COMMITs of batch 13, then all four restart.
 * With no new request, nothing would bring 13 to it but what the others
 * retransmit after their restart: their votes restored into their slots.
 */
Test(bft_scripted, full_restart_a_member_one_batch_behind_catches_up)
{
	char req[8];
	struct bft_stats st;

	world_init(4, false, 8, route_no_commit_to_3);
	for (uint32_t k = 0; k < 13; k++) {
		W.phase = k == 12 ? 2 : 0;
		snprintf(req, sizeof(req), "P%u", k);
		cr_assert_eq(bft_submit(W.r[0], (const uint8_t *)req, strlen(req), W.now), 0);
		deliver();
	}
	cr_assert_eq(W.n_exec[3], 12, "replica 3 executed %u batches, want 12", W.n_exec[3]);
	while (W.head != W.tail)
		free(W.q[W.head++ % QMAX].b);
	for (int i = 0; i < 4; i++)
		restart_from_disk(i, i == 3 ? 12 : 13);
	W.phase = 0;
	tick_all(W.now + 2000);
	bft_stats_get(W.r[3], &st);
	cr_assert_str_eq(executed_at(3, 13), "P12",
			 "replica 3 did not catch up (executed %llu, view %llu)",
			 (unsigned long long)st.executed_seq, (unsigned long long)st.view);
	cr_assert_eq(st.view, 0, "it took a view change");
	world_free();
}

/* ---- 2. quorums when n != 3f + 1 -------------------------------------------------- */

/* Twin 0 (instance 0) talks to 1 and 2, twin 0' (instance 5) to 3 and 4. */
static int route_split(int from, int to, uint8_t type)
{
	int side = from == 0 || from == 1 || from == 2 ? 0 : 1;

	(void)type;
	if (to == 0)
		return side == 0 ? 0 : 5;
	return (to <= 2 ? 0 : 1) == side ? to : -1;
}

Test(bft_scripted, equivocating_primary_cannot_split_five_replicas)
{
	world_init(5, true, 32, route_split);
	cr_assert_eq(bft_quorum(5), 4);
	cr_assert_eq(bft_submit(W.r[0], (const uint8_t *)"X", 1, W.now), 0);
	cr_assert_eq(bft_submit(W.r[5], (const uint8_t *)"Y", 1, W.now), 0);
	deliver();
	tick_all(W.now + 400); /* retransmissions, no view change yet */
	for (int i = 1; i <= 4; i++)
		for (int j = 1; j <= 4; j++)
			if (*executed_at(i, 1) && *executed_at(j, 1))
				cr_assert_str_eq(executed_at(i, 1), executed_at(j, 1),
						 "replicas %d and %d executed '%s' and '%s' at 1", i,
						 j, executed_at(i, 1), executed_at(j, 1));
	world_free();
}

static int route_all(int from, int to, uint8_t type)
{
	(void)from;
	(void)type;
	return to;
}

/* 2b: from replica 0 to 4, no REQUEST, a null batch, votes for another digest. */
static bool rewrite_0_to_4(struct qmsg *m)
{
	static const uint8_t null_batch[2] = {0, 0};
	struct bft_hdr h;
	const uint8_t *body;
	size_t blen, len;
	uint8_t *b;

	if (m->from != 0 || m->to != 4)
		return true;
	if (m->b[0] == BFT_REQUEST)
		return false;
	if (m->b[0] != BFT_PREPREPARE && m->b[0] != BFT_PREPARE && m->b[0] != BFT_COMMIT)
		return true;
	cr_assert_eq(bft_hdr_parse(m->b, m->len, &h, &body, &blen), 0);
	if (h.type == BFT_PREPREPARE) {
		bft_hash(null_batch, sizeof(null_batch), h.d);
		body = null_batch;
		blen = sizeof(null_batch);
	} else {
		h.d[0] ^= 0x5a;
	}
	cr_assert_eq(bft_msg_build(W.priv[0], &h, body, blen, &b, &len), 0);
	free(m->b);
	m->b = b;
	m->len = len;
	return true;
}

Test(bft_scripted, equivocating_primary_leaves_no_replica_behind_in_a_quiet_log)
{
	struct bft_stats st;

	world_init(5, false, 32, route_all);
	W.rewrite = rewrite_0_to_4;
	cr_assert_eq(bft_submit(W.r[0], (const uint8_t *)"X", 1, W.now), 0);
	deliver();
	tick_all(W.now + 3000);
	for (int i = 1; i <= 3; i++)
		cr_assert_str_eq(executed_at(i, 1), "X", "replica %d executed '%s' at 1", i,
				 executed_at(i, 1));
	bft_stats_get(W.r[4], &st);
	cr_assert_str_eq(executed_at(4, 1), "X",
			 "replica 4 executed '%s' at 1 (executed seq %llu, view %llu)",
			 executed_at(4, 1), (unsigned long long)st.executed_seq,
			 (unsigned long long)st.view);
	cr_assert_eq(st.view, 0, "it took a view change");
	world_free();
}

/* ---- 3. catching up from far behind ----------------------------------------------- */

static int route_lag(int from, int to, uint8_t type)
{
	(void)type;
	if (W.phase == 1 && (from == 3 || to == 3))
		return -1; /* replica 3 cut off */
	return to;
}

Test(bft_scripted, replica_far_behind_catches_up_by_chunks)
{
	char req[16];
	struct bft_stats st;

	world_init(4, false, 8, route_lag);
	W.phase = 1;
	for (int k = 0; k < 100; k++) {
		snprintf(req, sizeof(req), "w%d", k);
		cr_assert_eq(bft_submit(W.r[k % 3], (const uint8_t *)req, strlen(req), W.now), 0);
		deliver();
		W.now += 1;
	}
	cr_assert_eq(bft_last_executed(W.r[0]), 100, "the three executed %llu",
		     (unsigned long long)bft_last_executed(W.r[0]));
	cr_assert_eq(bft_last_executed(W.r[3]), 0);
	W.phase = 2; /* healed: STATUS and checkpoints bring it the rest */
	tick_all(W.now + 5000);
	cr_assert_eq(bft_last_executed(W.r[3]), 100, "replica 3 reached %llu of 100",
		     (unsigned long long)bft_last_executed(W.r[3]));
	for (uint64_t q = 1; q <= 100; q++)
		cr_assert_str_eq(executed_at(3, q), executed_at(0, q), "batch %llu differs",
				 (unsigned long long)q);
	/* Unchecked on the way in (the hash chain vouches for them): still their signers'. */
	for (uint32_t k = 0; k < W.n_exec[3]; k++)
		cr_assert_eq(W.exec_from[3][k], (uint32_t)atoi(W.exec[3][k] + 1) % 3,
			     "%s executed as replica %u's", W.exec[3][k], W.exec_from[3][k]);
	bft_stats_get(W.r[3], &st);
	cr_assert_geq(st.state_transfers, 1);
	world_free();
}

/* Four replicas that have executed 100 requests of ~1000 bytes each. */
static void world_with_100_big_batches(void)
{
	char req[1000];

	world_init(4, false, 32, route_all);
	memset(req, 'x', sizeof(req));
	for (int k = 0; k < 100; k++) {
		snprintf(req, 16, "big%03d", k);
		req[6] = 'x';
		cr_assert_eq(bft_submit(W.r[k % 3], (const uint8_t *)req, sizeof(req), W.now), 0);
		deliver();
	}
	cr_assert_eq(bft_last_executed(W.r[0]), 100);
}

/* ---- 4. a FETCH flood ----------------------------------------------------------------- */

Test(bft_scripted, fetch_flood_is_answered_within_a_budget)
{
	struct bft_hdr h = {.type = BFT_FETCH, .replica = 3, .seq = 1, .view = 100};
	struct bft_stats st;
	uint8_t *m;
	size_t len, answers = 0, bytes = 0;

	world_with_100_big_batches();
	/* 200 FETCHes for all 100 batches (~100 KB an answer) within one millisecond. */
	cr_assert_eq(bft_msg_build(W.priv[3], &h, NULL, 0, &m, &len), 0);
	W.now += 1000;
	for (int k = 0; k < 200; k++) {
		bft_receive(W.r[0], m, len, W.now);
		while (W.head != W.tail) {
			struct qmsg *q = &W.q[W.head++ % QMAX];

			if (q->from == 0 && q->to == 3 && q->b[0] == BFT_BATCHES) {
				answers++;
				bytes += q->len;
			}
			free(q->b);
		}
	}
	free(m);
	bft_stats_get(W.r[0], &st);
	printf("fetch flood: %zu of 200 answered (%zu bytes), %llu refused\n", answers, bytes,
	       (unsigned long long)st.fetch_limited);
	/* A budget of two whole messages (2 MiB) and 32 KiB a millisecond. */
	cr_assert_gt(answers, 0);
	cr_assert_leq(bytes, (size_t)3 << 20, "%zu answers, %zu bytes", answers, bytes);
	cr_assert_eq(st.fetch_limited, 200 - answers, "%zu answers, %llu refused", answers,
		     (unsigned long long)st.fetch_limited);
	/* A second later the budget is back. */
	W.now += 1000;
	cr_assert_eq(bft_msg_build(W.priv[3], &h, NULL, 0, &m, &len), 0);
	bft_receive(W.r[0], m, len, W.now);
	free(m);
	bft_stats_get(W.r[0], &st);
	cr_assert_eq(st.fetch_limited, 200 - answers, "refused after a second of quiet");
	world_free();
}

/* ---- 5. membership changes through the log ------------------------------------------ */

/* Phase 1: replica 0 cut off. */
static int route_cut_0(int from, int to, uint8_t type)
{
	(void)type;
	return W.phase == 1 && (from == 0 || to == 0) ? -1 : to;
}

static void submit_and_run(int at, const char *req, uint64_t ms)
{
	cr_assert_eq(bft_submit(W.r[at], (const uint8_t *)req, strlen(req), W.now), 0);
	deliver();
	tick_all(W.now + ms);
}

/* Instances @a and @b executed the same batches, up to the shorter log. */
static void same_log(int a, int b)
{
	for (uint32_t k = 0; k < W.n_exec[a] && k < W.n_exec[b]; k++)
		cr_assert_str_eq(W.exec[a][k], W.exec[b][k], "replicas %d and %d differ at #%u", a,
				 b, k);
}

/*
 * Replica 4 starts outside (it follows the log); "M:0,1,2,3,4" adds it.
 * It takes effect after the first checkpoint a window later, reached with
 * null batches; then with replica 0 cut off, a request commits only with
 * replica 4's votes (n = 5 needs 4). "M:1,2,3,4" removes replica 0: the
 * four go on without it, and once back it votes for nothing.
 */
Test(bft_scripted, membership_add_then_remove_through_the_log)
{
	struct bft_stats st;

	world_init_join(4, 1, false, 8, route_cut_0);
	submit_and_run(1, "P0", 100);
	submit_and_run(1, "M:0,1,2,3,4", 3000);
	for (int i = 0; i < 5; i++) {
		bft_stats_get(W.r[i], &st);
		cr_assert_eq(W.reconf_rc[i][0], 0, "replica %d: bft_reconfigure %d", i,
			     W.reconf_rc[i][0]);
		cr_assert_eq(st.members, 5, "replica %d: %u members (executed %llu, stable %llu)",
			     i, st.members, (unsigned long long)st.executed_seq,
			     (unsigned long long)st.stable_seq);
		cr_assert(st.member, "replica %d does not vote", i);
		cr_assert_geq(st.stable_seq, 16, "replica %d: stable %llu", i,
			      (unsigned long long)st.stable_seq);
	}
	cr_assert_str_eq(executed_at(4, 1), "P0", "the added replica did not follow the log");

	/* n = 5, f = 1, quorum 4: without 0, nothing commits unless 4 votes. */
	W.phase = 1;
	submit_and_run(1, "Q0", 5000);
	for (int i = 1; i < 5; i++) {
		bft_stats_get(W.r[i], &st);
		cr_assert_eq(st.view, 1, "replica %d: view %llu", i, (unsigned long long)st.view);
		cr_assert_str_eq(W.exec[i][W.n_exec[i] - 1], "Q0", "replica %d did not commit Q0",
				 i);
	}

	/* Remove 0 (still cut off): from then on 1..4 are the members, n = 4. */
	submit_and_run(2, "M:1,2,3,4", 5000);
	for (int i = 1; i < 5; i++) {
		bft_stats_get(W.r[i], &st);
		cr_assert_eq(W.reconf_rc[i][1], 0);
		cr_assert_eq(st.members, 4, "replica %d: %u members", i, st.members);
	}
	W.phase = 0; /* 0 is back, but no member any more */
	submit_and_run(3, "Q1", 5000);
	for (int i = 1; i < 5; i++) {
		cr_assert_str_eq(W.exec[i][W.n_exec[i] - 1], "Q1", "replica %d did not commit Q1",
				 i);
		same_log(1, i);
	}
	same_log(0, 1);
	tick_all(W.now + 2000);
	bft_stats_get(W.r[0], &st);
	cr_assert(!st.member, "replica 0 still votes after its removal");
	cr_assert_eq(st.members, 4, "replica 0 missed its removal");
	world_free();
}

/* A second change while one is pending: refused the same way everywhere. */
Test(bft_scripted, membership_one_change_at_a_time)
{
	world_init_join(4, 2, false, 32, route_cut_0);
	/* Both ordered before either executes: batches 1 and 2. */
	cr_assert_eq(bft_submit(W.r[0], (const uint8_t *)"M:0,1,2,3,4", 11, W.now), 0);
	cr_assert_eq(bft_submit(W.r[0], (const uint8_t *)"M:0,1,2,3,5", 11, W.now), 0);
	deliver();
	tick_all(W.now + 6000);
	for (int i = 0; i < 4; i++) {
		struct bft_stats st;

		bft_stats_get(W.r[i], &st);
		cr_assert_eq(W.n_reconf[i], 2);
		cr_assert_eq(W.reconf_rc[i][0], 0);
		cr_assert_eq(W.reconf_rc[i][1], -EBUSY, "replica %d: %d", i, W.reconf_rc[i][1]);
		cr_assert_eq(st.members, 5);
	}
	world_free();
}

/*
 * 1d. The primary of view 1 restarts; a member that missed the view change
 * comes back in view 0. The primary's NEW-VIEW, restored from its record
 * and retransmitted, brings it into view 1 (before that record, nothing
 * did until the next view change: one member short of a quorum already).
 */
Test(bft_scripted, restarted_primary_resends_its_new_view)
{
	struct bft_stats st;

	world_init(4, false, 32, route_cut_0);
	submit_and_run(1, "P0", 100);
	W.phase = 1; /* 0, the primary of view 0, cut off */
	submit_and_run(1, "P1", 3000);
	bft_stats_get(W.r[1], &st);
	cr_assert_eq(st.view, 1, "no view change to 1 (view %llu)", (unsigned long long)st.view);
	cr_assert_str_eq(executed_at(1, 2), "P1");
	while (W.head != W.tail)
		free(W.q[W.head++ % QMAX].b);
	restart_from_disk(1, 2);
	W.phase = 0;
	tick_all(W.now + 2000);
	bft_stats_get(W.r[0], &st);
	cr_assert_eq(st.view, 1, "replica 0 stayed in view %llu", (unsigned long long)st.view);
	cr_assert_str_eq(executed_at(0, 2), "P1");
	world_free();
}

/* ---- 6. the vote horizon ------------------------------------------------------------ */

/*
 * A power cut of replica @i: its log loses what the host contract lets go
 * unsynced (consensus.h, send()), the PRE-PREPAREs and PREPAREs after its
 * last other record; then it restarts from the rest.
 */
static void crash_losing_unsynced(int i, uint64_t batches)
{
	size_t keep = W.n_disk[i];

	while (keep > 0 && bft_type_sent_unsynced(W.disk[i][keep - 1].b[0]))
		keep--;
	cr_assert_lt(keep, W.n_disk[i], "replica %d had nothing unsynced to lose", i);
	while (W.n_disk[i] > keep)
		free(W.disk[i][--W.n_disk[i]].b);
	restart_from_disk(i, batches);
}

/*
 * Phase 1: replica 0, the primary, submits X; replica @voter votes on it
 * (its PRE-PREPARE or PREPARE), then crashes and loses that vote.
 */
static void horizon_lose_a_vote(bool twin, int (*route)(int, int, uint8_t), int voter)
{
	world_init(4, twin, 32, route);
	W.check_votes = true;
	W.phase = 1;
	cr_assert_eq(bft_submit(W.r[0], (const uint8_t *)"X", 1, W.now), 0);
	deliver();
	cr_assert_eq(W.n_votes[voter], 1, "replica %d did not vote on X", voter);
	cr_assert_eq(W.votes[voter][0].seq, 1);
	crash_losing_unsynced(voter, 0);
}

/* Phase 1: the primary (0) reaches replica 1 only, which reaches nobody. Phase 2: the twin to 1. */
static int route_horizon(int from, int to, uint8_t type)
{
	(void)type;
	if (W.phase == 1)
		return from == 0 && to == 1 ? 1 : -1;
	if (W.phase == 2)
		return from == 4 && to == 1 ? 1 : -1;
	return -1;
}

Test(bft_scripted, horizon_a_backup_that_lost_its_prepare_does_not_contradict_it)
{
	struct bft_stats st;

	horizon_lose_a_vote(true, route_horizon, 1);
	/* The twin, signing as replica 0, offers Y at the same view 0 and sequence number 1. */
	W.phase = 2;
	cr_assert_eq(bft_submit(W.r[4], (const uint8_t *)"Y", 1, W.now), 0);
	deliver();
	bft_stats_get(W.r[1], &st);
	cr_assert_eq(st.fenced_votes, 1, "replica 1: %llu PREPAREs held back by its horizon",
		     (unsigned long long)st.fenced_votes);
	cr_assert_eq(W.n_votes[1], 1);
	world_free();
}

/* Phase 1: the primary's messages reach nobody. Then everyone. */
static int route_primary_unheard(int from, int to, uint8_t type)
{
	(void)type;
	return W.phase == 1 && from == 0 ? -1 : to;
}

Test(bft_scripted, horizon_a_primary_that_lost_its_pre_prepare_does_not_reuse_its_number)
{
	struct bft_stats st;

	horizon_lose_a_vote(false, route_primary_unheard, 0);
	W.phase = 0;
	cr_assert_eq(bft_submit(W.r[0], (const uint8_t *)"Y", 1, W.now), 0);
	deliver();
	tick_all(W.now + 5000);
	/* (on_send checked that no PRE-PREPARE of replica 0 gave 1 another digest) */
	for (int i = 0; i < 4; i++) {
		bool y = false;

		for (uint32_t k = 0; k < W.n_exec[i]; k++)
			y |= strcmp(W.exec[i][k], "Y") == 0;
		cr_assert(y, "replica %d did not execute Y", i);
	}
	bft_stats_get(W.r[1], &st);
	cr_assert_geq(st.view, 1, "no view change filled the primary's gap");
	world_free();
}

/*
 * A clean stop seals the log (bft_seal): restarted from it, the primary
 * assigns the next number in its view, with no view change. (Without the
 * seal its last horizon fences the numbers up to a checkpoint interval
 * ahead, and a view change fills them.)
 */
Test(bft_scripted, horizon_a_sealed_restart_of_the_primary_goes_on_in_its_view)
{
	struct bft_stats st;

	world_init(4, false, 32, route_primary_unheard);
	W.check_votes = true;
	submit_and_run(0, "P0", 100);
	submit_and_run(0, "P1", 100);
	bft_seal(W.r[0]);
	restart_from_disk(0, 2);
	submit_and_run(0, "P2", 300);
	for (int i = 0; i < 4; i++) {
		bft_stats_get(W.r[i], &st);
		cr_assert_eq(st.view, 0, "replica %d: view %llu", i, (unsigned long long)st.view);
		cr_assert_str_eq(executed_at(i, 3), "P2", "replica %d", i);
	}
	world_free();
}

/* ---- 7. who signed a request -------------------------------------------------------- */

/*
 * Replica 1 orders a request whose payload says it comes from replica 0
 * (as a faulty member could claim another's "o" and nonce in ctl_cluster):
 * every replica is told it is replica 1's; replica 0's own is replica 0's.
 */
Test(bft_scripted, execute_names_the_signer_not_the_payloads_claim)
{
	world_init(4, false, 32, route_all);
	submit_and_run(1, "o=0 n=7", 100);
	submit_and_run(0, "o=0 n=8", 100);
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(W.n_exec[i], 2, "replica %d executed %u", i, W.n_exec[i]);
		cr_assert_str_eq(W.exec[i][0], "o=0 n=7");
		cr_assert_eq(W.exec_from[i][0], 1, "replica %d: signed by %u", i,
			     W.exec_from[i][0]);
		cr_assert_str_eq(W.exec[i][1], "o=0 n=8");
		cr_assert_eq(W.exec_from[i][1], 0, "replica %d: signed by %u", i,
			     W.exec_from[i][1]);
	}
	world_free();
}

/* ---- 8. STATUS: a budget, and members only ------------------------------------------ */

/* Bytes of what is queued from instance @from to replica @to (the rest is dropped). */
static size_t drain_to(int from, int to)
{
	size_t bytes = 0;

	while (W.head != W.tail) {
		struct qmsg *q = &W.q[W.head++ % QMAX];

		if (q->from == from && q->to == to)
			bytes += q->len;
		free(q->b);
	}
	return bytes;
}

/* Replica @at gets one STATUS (last executed: 0) signed by replica @asker. */
static void status_from(int asker, int at)
{
	struct bft_hdr h = {.type = BFT_STATUS, .replica = (uint32_t)asker};
	size_t disk = W.n_disk[at];
	uint8_t *m;
	size_t len;

	cr_assert_eq(bft_msg_build(W.priv[asker], &h, NULL, 0, &m, &len), 0);
	bft_receive(W.r[at], m, len, W.now);
	free(m);
	/* Its own votes, sent again in the answer: logged before, not to be counted twice. */
	while (W.n_disk[at] > disk)
		free(W.disk[at][--W.n_disk[at]].b);
}

/*
 * STATUS is never deduplicated (a later one must be answered again), so
 * one signed STATUS replayed 2000 times within a millisecond asks for the
 * window's pre-prepares and COMMITs 2000 times (~8 KB each time here).
 * What goes back is bounded by the FETCH budget: two whole messages
 * (2 MiB), overdrawn by at most one message.
 */
Test(bft_scripted, status_flood_is_answered_within_a_budget)
{
	struct bft_stats st;
	size_t first, bytes = 0;

	world_with_100_big_batches();
	W.now += 1000;
	status_from(3, 0);
	first = drain_to(0, 3);
	cr_assert_gt(first, 4000, "the first STATUS got %zu bytes", first);
	for (int k = 1; k < 2000; k++) {
		status_from(3, 0);
		bytes += drain_to(0, 3);
	}
	bytes += first;
	bft_stats_get(W.r[0], &st);
	printf("status flood: %zu bytes for 2000 STATUS (%zu for one), %llu limited\n", bytes,
	       first, (unsigned long long)st.fetch_limited);
	cr_assert_leq(bytes, (size_t)3 << 20, "%zu bytes answered", bytes);
	cr_assert_gt(st.fetch_limited, 0);
	/* A second later the budget is back. */
	W.now += 1000;
	status_from(3, 0);
	cr_assert_eq(drain_to(0, 3), first, "not answered in full after a second of quiet");
	world_free();
}

/* Replica 4 is removed through the log: its STATUS gets nothing, a member's does. */
Test(bft_scripted, status_from_a_removed_member_gets_no_answer)
{
	struct bft_stats st;

	world_init(5, false, 8, route_all);
	submit_and_run(1, "P0", 100);
	submit_and_run(1, "M:0,1,2,3", 5000);
	for (int i = 0; i < 4; i++) {
		bft_stats_get(W.r[i], &st);
		cr_assert_eq(st.members, 4, "replica %d: %u members", i, st.members);
	}
	deliver();
	status_from(3, 0);
	cr_assert_gt(drain_to(0, 3), 0, "a member's STATUS got no answer");
	status_from(4, 0);
	cr_assert_eq(drain_to(0, 4), 0, "the removed member's STATUS was answered");
	world_free();
}
