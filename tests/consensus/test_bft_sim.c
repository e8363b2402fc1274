/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Deterministic simulation of the PBFT core (consensus.h): N replicas, a
 * simulated network and clock, no threads. One seed decides every delay,
 * drop, duplicate, reorder, partition, crash (with or without losing
 * memory: an amnesiac crash restarts the replica from what it made durable,
 * the batches it committed and the messages it sent, less a random part of
 * what the host contract lets it leave unsynced, or after a clean stop
 * sealed by bft_seal, nothing) and every act of the f
 * Byzantine replicas (silence, equivocating pre-prepares, conflicting
 * votes, messages forged in another replica's name, replays of old
 * messages). The network is bad until GST, then delivers within DELTA.
 *
 * Two more series change the membership through the log mid-run (a fifth
 * replica added to four, an honest member of five removed): the replicas
 * left must also all end with the new membership.
 *
 * After each run:
 *   safety   no two honest replicas executed different requests at one
 *            position of their logs, and none executed a request twice;
 *   liveness every request submitted by an honest replica was executed by
 *            every honest replica by GST + BOUND.
 *
 * BFT_SEEDS=N sets the number of seeds at n = 4, and a tenth of N in each
 * other series (make test: 1000 and 100, 300 with a membership change;
 * make soak: more);
 * BFT_SEED=S replays one seed, printing what happens.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consensus_priv.h"

#define MAXN	 10
#define GST_MS	 3000
#define DELTA_MS 40
#define BOUND_MS 15000
#define TICK_MS	 10
#define REQS	 6

struct msg {
	uint64_t at, order;
	int from, to;
	uint8_t *b;
	size_t len;
};

enum byz_mode { BYZ_SILENT, BYZ_EQUIVOCATE, BYZ_FORGE, BYZ_REPLAY, BYZ_MODES };

enum reconf { RECONF_NONE, RECONF_ADD, RECONF_REMOVE };

struct sim {
	uint64_t seed, rng, now, order;
	uint32_t n, f; /* n: replicas, the first members and one the log adds (RECONF_ADD) */
	uint32_t n0;   /* the first members: ids 0..n0-1 */
	/*
	 * A membership change through the log, submitted by an honest member
	 * at reconf_at: add replica n0, or remove honest member @removed.
	 */
	enum reconf reconf;
	uint64_t reconf_at;
	int removed;
	uint8_t pub[MAXN][BFT_KEY];
	struct bft_replica *r[MAXN];
	uint8_t priv[MAXN][BFT_KEY];
	bool byz[MAXN];
	enum byz_mode mode;
	int isolated;		     /* partitioned honest replica before GST, -1 none */
	uint64_t down_from, down_to; /* a crashed honest replica's outage */
	int down;
	bool amnesia;	/* the crash loses memory: restart from the durable record */
	bool clean;	/* ... after a clean stop: sealed (bft_seal), everything synced */
	bool stopped;
	bool restarted;
	/* the down replica's durable record: committed batches, signed sends */
	struct {
		uint8_t *b;
		size_t len;
	} disk_batch[512], disk_sent[4096];
	uint32_t n_disk_batch, n_disk_sent;
	/*
	 * How much of each is synced (consensus.h, send()): the records up to
	 * the last one that is not a PRE-PREPARE or PREPARE; the batches up to
	 * our last CHECKPOINT or stable checkpoint. The crash loses a random
	 * part of the rest (a suffix: both are append-only logs).
	 */
	uint32_t synced_batch, synced_sent;
	double drop, dup;
	struct msg *q;
	size_t nq, capq;
	/* per replica: executed payloads in order */
	char *log[MAXN][64];
	uint32_t nlog[MAXN];
	bool dup_exec;
	/* A request "sS-rO-K" executed as signed by another replica than O. */
	bool wrong_signer;
	/*
	 * The PRE-PREPAREs and PREPAREs each honest replica signed, across its
	 * restart: none may name another digest at the same view and sequence
	 * number (what the vote horizon keeps a crash from causing).
	 */
	struct {
		uint8_t type;
		uint64_t view, seq;
		uint8_t d[BFT_DIGEST];
	} votes[MAXN][2048];
	uint32_t n_votes[MAXN];
	bool contradiction;
	/* bft_reconfigure()'s answers, in order, per replica: the same everywhere */
	int reconf_rc[MAXN][4];
	uint32_t n_reconf_rc[MAXN];
	/* replay stock of the Byzantine replicas */
	struct msg old[256];
	uint32_t nold;
	bool verbose;
};

struct ctx {
	struct sim *s;
	int id;
};

static uint64_t rnd(struct sim *s)
{
	uint64_t z = (s->rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double unif(struct sim *s)
{
	return (double)(rnd(s) >> 11) / 9007199254740992.0;
}

static void push(struct sim *s, int from, int to, const uint8_t *b, size_t len, uint64_t delay)
{
	struct msg *m;

	if (s->nq == s->capq) {
		s->capq = s->capq ? 2 * s->capq : 1024;
		s->q = realloc(s->q, s->capq * sizeof(*s->q));
		cr_assert_not_null(s->q);
	}
	m = &s->q[s->nq++];
	m->at = s->now + delay;
	m->order = s->order++;
	m->from = from;
	m->to = to;
	m->b = malloc(len);
	memcpy(m->b, b, len);
	m->len = len;
	/* sift up (min-heap on at, order) */
	for (size_t i = s->nq - 1; i > 0;) {
		size_t p = (i - 1) / 2;

		if (s->q[p].at < s->q[i].at ||
		    (s->q[p].at == s->q[i].at && s->q[p].order < s->q[i].order))
			break;
		struct msg t = s->q[p];

		s->q[p] = s->q[i];
		s->q[i] = t;
		i = p;
	}
}

static struct msg pop(struct sim *s)
{
	struct msg top = s->q[0];

	s->q[0] = s->q[--s->nq];
	for (size_t i = 0;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < s->nq && (s->q[l].at < s->q[m].at ||
				  (s->q[l].at == s->q[m].at && s->q[l].order < s->q[m].order)))
			m = l;
		if (r < s->nq && (s->q[r].at < s->q[m].at ||
				  (s->q[r].at == s->q[m].at && s->q[r].order < s->q[m].order)))
			m = r;
		if (m == i)
			break;
		struct msg t = s->q[m];

		s->q[m] = s->q[i];
		s->q[i] = t;
		i = m;
	}
	return top;
}

/* The network between two replicas: drops, duplicates, delays, partitions. */
static void transmit(struct sim *s, int from, int to, const uint8_t *b, size_t len)
{
	bool before = s->now < GST_MS;

	if (before) {
		if (s->isolated >= 0 && (from == s->isolated || to == s->isolated))
			return;
		if (unif(s) < s->drop)
			return;
	}
	push(s, from, to, b, len, 1 + rnd(s) % (before ? 120 : DELTA_MS));
	if (unif(s) < s->dup)
		push(s, from, to, b, len, 1 + rnd(s) % DELTA_MS);
}

/* A Byzantine replica's version of a message, signed with its own key. */
static void byz_send(struct sim *s, int from, int to, const uint8_t *b, size_t len)
{
	struct bft_hdr h;
	const uint8_t *body;
	size_t blen;
	uint8_t *m;
	size_t ml;

	if (s->nold < 256 && len < 65536) {
		s->old[s->nold].b = malloc(len);
		memcpy(s->old[s->nold].b, b, len);
		s->old[s->nold++].len = len;
	}
	bft_hdr_parse(b, len, &h, &body, &blen);
	switch (s->mode) {
	case BYZ_SILENT:
		return;
	case BYZ_EQUIVOCATE:
		/* Different replicas get different pre-prepares and votes. */
		if ((h.type == BFT_PREPREPARE || h.type == BFT_PREPARE || h.type == BFT_COMMIT) &&
		    to % 2 == 1) {
			uint8_t nb[2] = {0, 0};

			if (h.type == BFT_PREPREPARE) {
				bft_hash(nb, 2, h.d);
				if (bft_msg_build(s->priv[from], &h, nb, 2, &m, &ml) == 0) {
					transmit(s, from, to, m, ml);
					free(m);
				}
				return;
			}
			h.d[0] ^= 0x5a;
			if (bft_msg_build(s->priv[from], &h, body, blen, &m, &ml) == 0) {
				transmit(s, from, to, m, ml);
				free(m);
			}
			return;
		}
		break;
	case BYZ_FORGE:
		/* Also claim to be someone else (signed with our key: must be refused). */
		h.replica = (uint32_t)((from + 1 + rnd(s) % (s->n0 - 1)) % s->n0);
		if (bft_msg_build(s->priv[from], &h, body, blen, &m, &ml) == 0) {
			transmit(s, from, to, m, ml);
			free(m);
		}
		break;
	case BYZ_REPLAY:
		if (s->nold && unif(s) < 0.5) {
			struct msg *o = &s->old[rnd(s) % s->nold];

			transmit(s, from, to, o->b, o->len);
		}
		break;
	default:
		break;
	}
	transmit(s, from, to, b, len);
}

static void keep(uint8_t **dst, size_t *dl, const uint8_t *b, size_t len)
{
	*dst = malloc(len);
	cr_assert_not_null(*dst);
	memcpy(*dst, b, len);
	*dl = len;
}

static void on_send(void *cp, int to, const uint8_t *b, size_t len)
{
	struct ctx *c = cp;
	struct sim *s = c->s;

	/* Only what it signed: it also relays others' votes (STATUS answers). */
	bool signed_here = len > BFT_HDR && (uint32_t)(b[4] | b[5] << 8 | b[6] << 16 |
						       (uint32_t)b[7] << 24) == (uint32_t)c->id;
	bool mine = c->id == s->down && s->amnesia && signed_here;

	if (mine && bft_type_logged(b[0])) {
		cr_assert_lt(s->n_disk_sent, 4096);
		keep(&s->disk_sent[s->n_disk_sent].b, &s->disk_sent[s->n_disk_sent].len, b, len);
		s->n_disk_sent++;
		if (!bft_type_sent_unsynced(b[0]))
			s->synced_sent = s->n_disk_sent;
	}
	if (mine && (b[0] == BFT_CHECKPOINT || b[0] == BFT_STABLE))
		s->synced_batch = s->n_disk_batch;
	if (!s->byz[c->id] && (b[0] == BFT_PREPREPARE || b[0] == BFT_PREPARE) && signed_here) {
		struct bft_hdr h;
		const uint8_t *body;
		size_t bl;
		bool known = false;

		cr_assert_eq(bft_hdr_parse(b, len, &h, &body, &bl), 0);
		for (uint32_t k = 0; k < s->n_votes[c->id] && !known; k++)
			if (s->votes[c->id][k].type == h.type &&
			    s->votes[c->id][k].view == h.view && s->votes[c->id][k].seq == h.seq) {
				known = true;
				if (memcmp(s->votes[c->id][k].d, h.d, BFT_DIGEST) != 0) {
					s->contradiction = true;
					if (s->verbose)
						printf("  t=%llu r%d contradicts its %s at view "
						       "%llu seq %llu\n",
						       (unsigned long long)s->now, c->id,
						       h.type == BFT_PREPARE ? "PREPARE"
									     : "PRE-PREPARE",
						       (unsigned long long)h.view,
						       (unsigned long long)h.seq);
				}
			}
		if (!known && s->n_votes[c->id] < 2048) {
			uint32_t k = s->n_votes[c->id]++;

			s->votes[c->id][k].type = h.type;
			s->votes[c->id][k].view = h.view;
			s->votes[c->id][k].seq = h.seq;
			memcpy(s->votes[c->id][k].d, h.d, BFT_DIGEST);
		}
	}

	for (uint32_t i = 0; i < s->n; i++) {
		if ((int)i == c->id || (to >= 0 && (int)i != to))
			continue;
		if (s->byz[c->id])
			byz_send(s, c->id, (int)i, b, len);
		else
			transmit(s, c->id, (int)i, b, len);
	}
}

static void on_execute(void *cp, uint64_t seq, uint32_t from, const uint8_t *req, size_t len)
{
	struct ctx *c = cp;
	struct sim *s = c->s;
	char *p = strndup((const char *)req, len);
	unsigned long long sd;
	unsigned int o;
	int k;

	/* "M:0,1,2,3,4": the members from now on (the application's format). */
	if (len > 2 && memcmp(req, "M:", 2) == 0) {
		uint32_t ids[MAXN], k = 0;
		uint8_t pubs[MAXN][BFT_KEY];

		for (size_t i = 2; i < len && req[i] >= '0' && req[i] <= '9' && k < MAXN; i += 2) {
			ids[k] = (uint32_t)(req[i] - '0');
			memcpy(pubs[k], s->pub[ids[k]], BFT_KEY);
			k++;
		}
		if (s->n_reconf_rc[c->id] < 4)
			s->reconf_rc[c->id][s->n_reconf_rc[c->id]++] =
			    bft_reconfigure(s->r[c->id], ids, pubs, k);
	}
	(void)seq;
	/* Every replica, Byzantine ones too, submits its requests under its own id and key. */
	if (sscanf(p, "s%llu-r%u-%d", &sd, &o, &k) == 3 && o != from)
		s->wrong_signer = true;
	for (uint32_t i = 0; i < s->nlog[c->id]; i++)
		if (strcmp(s->log[c->id][i], p) == 0)
			s->dup_exec = true;
	if (s->nlog[c->id] < 64)
		s->log[c->id][s->nlog[c->id]++] = p;
	else
		free(p);
	if (s->verbose)
		printf("  t=%llu r%d executes #%u seq %llu: %s\n", (unsigned long long)s->now,
		       c->id, s->nlog[c->id], (unsigned long long)seq, p);
}

static void on_commit(void *cp, uint64_t seq, const uint8_t *b, size_t len)
{
	struct ctx *c = cp;
	struct sim *s = c->s;

	if (c->id != s->down || !s->amnesia)
		return;
	cr_assert_eq(seq, s->n_disk_batch + 1, "commit() out of order");
	cr_assert_lt(s->n_disk_batch, 512);
	keep(&s->disk_batch[s->n_disk_batch].b, &s->disk_batch[s->n_disk_batch].len, b, len);
	s->n_disk_batch++;
}

/* The amnesiac crash's restart: a new replica from the durable record only. */
static void restart(struct sim *s, struct bft_config *c, struct ctx *ctx)
{
	int i = s->down;
	uint32_t keep_b =
	    s->synced_batch + (uint32_t)(rnd(s) % (s->n_disk_batch - s->synced_batch + 1));
	uint32_t keep_s =
	    s->synced_sent + (uint32_t)(rnd(s) % (s->n_disk_sent - s->synced_sent + 1));

	if (s->verbose)
		printf("  t=%llu r%d's crash lost %u of %u unsynced batches, %u of %u unsynced "
		       "records\n",
		       (unsigned long long)s->now, i, s->n_disk_batch - keep_b,
		       s->n_disk_batch - s->synced_batch, s->n_disk_sent - keep_s,
		       s->n_disk_sent - s->synced_sent);
	while (s->n_disk_batch > keep_b)
		free(s->disk_batch[--s->n_disk_batch].b);
	while (s->n_disk_sent > keep_s)
		free(s->disk_sent[--s->n_disk_sent].b);
	bft_destroy(s->r[i]);
	for (uint32_t k = 0; k < s->nlog[i]; k++)
		free(s->log[i][k]);
	s->nlog[i] = 0;
	s->n_reconf_rc[i] = 0; /* the replay answers again */
	c->id = (uint32_t)i;
	memcpy(c->priv, s->priv[i], BFT_KEY);
	c->ctx = &ctx[i];
	cr_assert_eq(bft_create(c, &s->r[i]), 0);
	for (uint32_t k = 0; k < s->n_disk_batch; k++)
		cr_assert_eq(bft_replay(s->r[i], k + 1, s->disk_batch[k].b, s->disk_batch[k].len),
			     0);
	for (uint32_t k = 0; k < s->n_disk_sent; k++) {
		int rc = bft_restore_sent(s->r[i], s->disk_sent[k].b, s->disk_sent[k].len);

		cr_assert_eq(rc, 0, "seed %llu: r%d's record %u of %u (type %u) not restored: %d",
			     (unsigned long long)s->seed, i, k, s->n_disk_sent, s->disk_sent[k].b[0],
			     rc);
	}
	bft_restore_done(s->r[i], s->now);
	s->restarted = true;
	if (s->verbose)
		printf("  t=%llu r%d restarts: %u batches replayed, %u sent messages restored\n",
		       (unsigned long long)s->now, i, s->n_disk_batch, s->n_disk_sent);
}

/* Has replica @i executed request k of replica @o? */
static bool has_req(const struct sim *s, uint64_t seed, uint32_t i, uint32_t o, int k)
{
	char req[64];

	snprintf(req, sizeof(req), "s%llu-r%u-%d", (unsigned long long)seed, o, k);
	for (uint32_t x = 0; x < s->nlog[i]; x++)
		if (strcmp(s->log[i][x], req) == 0)
			return true;
	return false;
}

/* Replica @o submits requests: an honest first member (not the one removed). */
static bool submits(const struct sim *s, uint32_t o)
{
	return !s->byz[o] && o < s->n0 && (int)o != s->removed;
}

/* Replica @i must execute every request: honest, and not removed. */
static bool must_follow(const struct sim *s, uint32_t i)
{
	return !s->byz[i] && (int)i != s->removed;
}

/* The members there must be once the change is done. */
static uint32_t members_after(const struct sim *s)
{
	return s->reconf == RECONF_ADD ? s->n0 + 1 : s->reconf == RECONF_REMOVE ? s->n0 - 1 : s->n0;
}

static bool all_done(const struct sim *s, uint64_t seed)
{
	for (uint32_t i = 0; i < s->n; i++) {
		struct bft_stats st;

		if (!must_follow(s, i))
			continue;
		for (uint32_t o = 0; o < s->n; o++)
			for (int k = 0; k < REQS; k++)
				if (submits(s, o) && !has_req(s, seed, i, o, k))
					return false;
		bft_stats_get(s->r[i], &st);
		if (st.members != members_after(s))
			return false;
	}
	return true;
}

static bool up(const struct sim *s, int i)
{
	return !(i == s->down && s->now >= s->down_from && s->now < s->down_to);
}

/*
 * One run of @n0 first members (and a membership change, @reconf);
 * returns NULL or what went wrong.
 */
static const char *run(uint64_t seed, uint32_t n0, enum reconf reconf, bool verbose, char *why,
		       size_t wl)
{
	uint32_t n = n0 + (reconf == RECONF_ADD);
	struct sim s = {.seed = seed, .rng = seed * 0x2545f4914f6cdd1dull + 1,
			.n = n,
			.n0 = n0,
			.f = (n0 - 1) / 3,
			.reconf = reconf,
			.removed = -1,
			.verbose = verbose};
	struct ctx ctx[MAXN];
	struct bft_config c = {.n = n0,
			       .checkpoint_interval = 4,
			       .window = 16,
			       .view_timeout_ms = 400,
			       .retransmit_ms = 150,
			       .batch_max = 4};
	uint64_t submit_at[MAXN][REQS];
	uint32_t honest = 0, want = 0;
	const char *fail = NULL;

	for (uint32_t i = 0; i < n; i++) {
		for (int k = 0; k < BFT_KEY; k++)
			s.priv[i][k] = (uint8_t)(i * 31 + k * 7 + 1);
		cr_assert_eq(bft_public_key(s.priv[i], s.pub[i]), 0);
		if (i < n0)
			memcpy(c.pub[i], s.pub[i], BFT_KEY);
	}
	/* f Byzantine first members, one behaviour per run. */
	for (uint32_t k = 0; k < s.f;) {
		uint32_t b = (uint32_t)(rnd(&s) % n0);

		if (!s.byz[b]) {
			s.byz[b] = true;
			k++;
		}
	}
	s.mode = (enum byz_mode)(rnd(&s) % BYZ_MODES);
	s.drop = unif(&s) * 0.25;
	s.dup = unif(&s) * 0.1;
	s.isolated = -1;
	s.down = -1;
	{
		uint32_t a = (uint32_t)(rnd(&s) % n0), b = (uint32_t)(rnd(&s) % n0);

		if (!s.byz[a] && rnd(&s) % 2)
			s.isolated = (int)a;
		if (!s.byz[b] && (int)b != s.isolated && rnd(&s) % 2) {
			s.down = (int)b;
			s.down_from = rnd(&s) % GST_MS;
			s.down_to = s.down_from + 200 + rnd(&s) % 2500;
			s.amnesia = rnd(&s) % 2;
		}
	}
	/* (drawn after the rest: runs without a change are the same as before) */
	int reconf_by = -1;
	char reconf_req[2 + 2 * MAXN] = "M:";

	if (reconf != RECONF_NONE) {
		uint32_t len = 2;

		s.reconf_at = rnd(&s) % GST_MS;
		while (reconf == RECONF_REMOVE && s.removed < 0) {
			uint32_t x = (uint32_t)(rnd(&s) % n0);

			if (!s.byz[x])
				s.removed = (int)x;
		}
		while (reconf_by < 0) {
			uint32_t x = (uint32_t)(rnd(&s) % n0);

			if (!s.byz[x] && (int)x != s.removed && (int)x != s.down)
				reconf_by = (int)x;
		}
		for (uint32_t i = 0; i < n; i++)
			if ((int)i != s.removed) {
				reconf_req[len++] = (char)('0' + i);
				reconf_req[len++] = ',';
			}
		reconf_req[len - 1] = '\0';
	}
	/* (drawn last, for the same reason) */
	s.clean = s.amnesia && rnd(&s) % 2;
	if (verbose)
		printf("seed %llu: n %u mode %d drop %.2f dup %.2f isolated %d down %d%s [%llu,%llu) "
		       "%s by %d at %llu, byz:",
		       (unsigned long long)seed, n, s.mode, s.drop, s.dup, s.isolated, s.down,
		       s.clean ? " (amnesia, clean stop)" : s.amnesia ? " (amnesia)" : "",
		       (unsigned long long)s.down_from, (unsigned long long)s.down_to,
		       reconf_by >= 0 ? reconf_req : "no change", reconf_by,
		       (unsigned long long)s.reconf_at);
	for (uint32_t i = 0; i < n; i++) {
		if (verbose && s.byz[i])
			printf(" %u", i);
		ctx[i] = (struct ctx){.s = &s, .id = (int)i};
		c.id = i;
		memcpy(c.priv, s.priv[i], BFT_KEY);
		c.ops = (struct bft_ops){
		    .send = on_send, .execute = on_execute, .commit = on_commit};
		c.ctx = &ctx[i];
		cr_assert_eq(bft_create(&c, &s.r[i]), 0);
		honest += !s.byz[i];
		for (int k = 0; k < REQS; k++) {
			submit_at[i][k] = rnd(&s) % GST_MS;
			/*
			 * An amnesiac crash loses requests not yet sent anywhere
			 * (their REST clients got no answer): submit after it.
			 */
			if (s.amnesia && (int)i == s.down && submit_at[i][k] < s.down_to)
				submit_at[i][k] = s.down_to + k;
		}
	}
	if (verbose)
		printf("\n");
	for (s.now = 0; s.now <= GST_MS + BOUND_MS; s.now += TICK_MS) {
		if (s.clean && !s.stopped && s.now >= s.down_from) {
			/* A clean stop: the seal, then every log synced. */
			bft_seal(s.r[s.down]);
			s.synced_sent = s.n_disk_sent;
			s.synced_batch = s.n_disk_batch;
			s.stopped = true;
		}
		if (s.amnesia && !s.restarted && s.now >= s.down_to)
			restart(&s, &c, ctx);
		while (s.nq && s.q[0].at <= s.now) {
			struct msg m = pop(&s);

			if (up(&s, m.to))
				bft_receive(s.r[m.to], m.b, m.len, s.now);
			free(m.b);
		}
		if (reconf_by >= 0 && s.now >= s.reconf_at) {
			/*
			 * And the same change again at once: whichever runs second is
			 * refused while the first is not in force, and must be
			 * everywhere alike (also on a replica a state transfer took
			 * past the first's E before it executed the second).
			 */
			char again[sizeof(reconf_req) + 8];

			snprintf(again, sizeof(again), "%s again", reconf_req);
			bft_submit(s.r[reconf_by], (const uint8_t *)reconf_req, strlen(reconf_req),
				   s.now);
			bft_submit(s.r[reconf_by], (const uint8_t *)again, strlen(again), s.now);
			reconf_by = -1;
		}
		for (uint32_t i = 0; i < n; i++) {
			if (!up(&s, (int)i))
				continue;
			for (int k = 0; k < REQS && i < n0 && (int)i != s.removed; k++)
				if (submit_at[i][k] != UINT64_MAX && s.now >= submit_at[i][k]) {
					char req[64];
					int l = snprintf(req, sizeof(req), "s%llu-r%u-%d",
							 (unsigned long long)seed, i, k);

					bft_submit(s.r[i], (const uint8_t *)req, (size_t)l, s.now);
					submit_at[i][k] = UINT64_MAX;
				}
			bft_tick(s.r[i], s.now);
		}
		/* Done early when every honest replica has every honest request. */
		if (s.now > GST_MS && all_done(&s, seed))
			break;
		if (verbose && s.now % 500 == 0) {
			printf("  t=%llu:", (unsigned long long)s.now);
			for (uint32_t i = 0; i < n; i++) {
				struct bft_stats st;

				bft_stats_get(s.r[i], &st);
				printf(" r%u[v%llu x%llu h%llu vc%llu bad%llu/%llu/%llu]", i,
				       (unsigned long long)st.view,
				       (unsigned long long)st.executed_seq,
				       (unsigned long long)st.stable_seq,
				       (unsigned long long)st.view_changes,
				       (unsigned long long)st.bad_new_view,
				       (unsigned long long)st.malformed,
				       (unsigned long long)st.wrong_view);
			}
			printf("\n");
		}
	}
	/* safety: honest logs are prefixes of one another */
	for (uint32_t i = 0; i < n && !fail; i++)
		for (uint32_t j = i + 1; j < n && !fail; j++) {
			if (s.byz[i] || s.byz[j])
				continue;
			uint32_t m = s.nlog[i] < s.nlog[j] ? s.nlog[i] : s.nlog[j];

			for (uint32_t k = 0; k < m; k++)
				if (strcmp(s.log[i][k], s.log[j][k]) != 0) {
					snprintf(why, wl,
						 "safety: r%u and r%u differ at %u: %s vs %s", i, j,
						 k, s.log[i][k], s.log[j][k]);
					fail = why;
					break;
				}
		}
	if (!fail && s.dup_exec) {
		snprintf(why, wl, "safety: a request executed twice");
		fail = why;
	}
	if (!fail && s.wrong_signer) {
		snprintf(why, wl, "a request executed as another replica's than its sender's");
		fail = why;
	}
	if (!fail && s.contradiction) {
		snprintf(why, wl, "safety: an honest replica contradicted its own vote");
		fail = why;
	}
	/* The first change is taken; every answer is the same on every honest replica. */
	for (uint32_t i = 0; i < n && !fail; i++) {
		if (s.byz[i])
			continue;
		if (s.n_reconf_rc[i] && s.reconf_rc[i][0] != 0) {
			snprintf(why, wl, "membership change refused at r%u: %d", i, s.reconf_rc[i][0]);
			fail = why;
		}
		for (uint32_t j = 0; j < n && !fail; j++)
			for (uint32_t k = 0; !s.byz[j] && k < s.n_reconf_rc[i] &&
					     k < s.n_reconf_rc[j] && !fail;
			     k++)
				if (s.reconf_rc[i][k] != s.reconf_rc[j][k]) {
					snprintf(why, wl,
						 "safety: membership change %u: r%u got %d, r%u %d", k, i,
						 s.reconf_rc[i][k], j, s.reconf_rc[j][k]);
					fail = why;
				}
	}
	/* liveness: every honest request everywhere honest */
	for (uint32_t i = 0; i < n && !fail; i++) {
		struct bft_stats st;

		if (!must_follow(&s, i))
			continue;
		bft_stats_get(s.r[i], &st);
		if (st.members != members_after(&s)) {
			snprintf(why, wl,
				 "liveness: r%u has %u members at t=%llu, not %u (executed seq %llu, "
				 "stable %llu, change after %llu)",
				 i, st.members, (unsigned long long)s.now, members_after(&s),
				 (unsigned long long)st.executed_seq,
				 (unsigned long long)st.stable_seq,
				 (unsigned long long)st.reconfig_at);
			fail = why;
		}
		for (uint32_t o = 0; o < n && !fail; o++) {
			if (!submits(&s, o))
				continue;
			for (int k = 0; k < REQS && !fail; k++) {
				char req[64];
				bool found = false;

				snprintf(req, sizeof(req), "s%llu-r%u-%d", (unsigned long long)seed,
					 o, k);
				for (uint32_t x = 0; x < s.nlog[i] && !found; x++)
					found = strcmp(s.log[i][x], req) == 0;
				if (!found) {
					struct bft_stats st;

					bft_stats_get(s.r[i], &st);
					snprintf(
					    why, wl,
					    "liveness: r%u never executed %s by t=%llu (view %llu, "
					    "executed seq %llu, stable %llu, %u executed)",
					    i, req, (unsigned long long)s.now,
					    (unsigned long long)st.view,
					    (unsigned long long)st.executed_seq,
					    (unsigned long long)st.stable_seq, s.nlog[i]);
					fail = why;
				}
			}
		}
	}
	want = honest * REQS;
	(void)want;
	for (uint32_t i = 0; i < n; i++) {
		bft_destroy(s.r[i]);
		for (uint32_t k = 0; k < s.nlog[i]; k++)
			free(s.log[i][k]);
	}
	while (s.nq)
		free(pop(&s).b);
	free(s.q);
	for (uint32_t i = 0; i < s.nold; i++)
		free(s.old[i].b);
	for (uint32_t i = 0; i < s.n_disk_batch; i++)
		free(s.disk_batch[i].b);
	for (uint32_t i = 0; i < s.n_disk_sent; i++)
		free(s.disk_sent[i].b);
	return fail;
}

static void seeds_reconf(uint32_t n, enum reconf reconf, uint64_t count)
{
	const char *one = getenv("BFT_SEED"), *many = getenv("BFT_SEEDS");
	char why[512];
	uint64_t failed = 0;

	if (one) {
		const char *f = run(strtoull(one, NULL, 10), n, reconf, true, why, sizeof(why));

		cr_assert_null(f, "seed %s: %s", one, f);
		return;
	}
	/* BFT_SEEDS is n = 4's count; the others' runs are longer (more
	 * replicas, or a membership change): a tenth each. */
	if (many)
		count = strtoull(many, NULL, 10) / (n == 4 && reconf == RECONF_NONE ? 1 : 10);
	for (uint64_t seed = 1; seed <= count; seed++) {
		const char *f = run(seed, n, reconf, false, why, sizeof(why));

		if (f) {
			cr_log_error("n=%u%s seed %llu: %s (replay: BFT_SEED=%llu)", n,
				     reconf == RECONF_ADD      ? " add"
				     : reconf == RECONF_REMOVE ? " remove"
							       : "",
				     (unsigned long long)seed, f, (unsigned long long)seed);
			failed++;
		}
	}
	cr_expect_eq(failed, 0, "%llu of %llu seeds failed", (unsigned long long)failed,
		     (unsigned long long)count);
	printf("bft sim: n=%u%s, %llu seeds, %llu failed\n", n,
	       reconf == RECONF_ADD	 ? " + a member added"
	       : reconf == RECONF_REMOVE ? " - a member removed"
					 : "",
	       (unsigned long long)count, (unsigned long long)failed);
}

static void seeds(uint32_t n, uint64_t count)
{
	seeds_reconf(n, RECONF_NONE, count);
}

Test(bft_sim, n4_f1_safety_and_liveness, .timeout = 900)
{
	seeds(4, 1000);
}

Test(bft_sim, n7_f2_safety_and_liveness, .timeout = 900)
{
	seeds(7, 100);
}

/* n = 3f + 2: quorums of bft_quorum(5) = 4, not 2f + 1 = 3 (consensus.h). */
Test(bft_sim, n5_f1_safety_and_liveness, .timeout = 900)
{
	seeds(5, 100);
}

/*
 * Membership changes through the log (bft_reconfigure): a fifth replica
 * added to four while the network misbehaves, and an honest member of five
 * removed. After GST every remaining honest replica has every request and
 * the new membership; safety holds across the change.
 */
Test(bft_sim, n4_add_a_member, .timeout = 900)
{
	seeds_reconf(4, RECONF_ADD, 300);
}

Test(bft_sim, n5_remove_a_member, .timeout = 900)
{
	seeds_reconf(5, RECONF_REMOVE, 300);
}
