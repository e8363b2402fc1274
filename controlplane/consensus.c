/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * PBFT core (Castro & Liskov, OSDI 1999). See consensus.h for the sections
 * implemented; the rules carry their section numbers below.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/ed25519.h>
#include <wolfssl/wolfcrypt/hash.h>

#include "consensus_priv.h"

#define SEEN_MAX    16384 /* digests of recently processed messages (power of 2): duplicates cost a hash */
#define PENDING_MAX 4096
#define CKPT_SLOTS  8
#define VOTED_MAX   512 /* votes taken back after a restart (a window's worth) */

struct raw {
	uint8_t *b;
	size_t len;
};

struct vote {
	bool has;
	uint64_t view;
	uint8_t d[BFT_DIGEST];
	struct raw m;
};

struct slot {
	uint64_t seq; /* 0: unused */
	bool has_pp;
	uint64_t pp_view;
	uint8_t d[BFT_DIGEST];
	struct raw pp;
	struct vote prep[BFT_MAX_N], com[BFT_MAX_N];
	/* A second COMMIT of the same view with another digest: an equivocator's. */
	struct vote com2[BFT_MAX_N];
	bool prepared, committed;
	/* Prepared certificate, kept across views for VIEW-CHANGE (§4.4). */
	bool has_cert;
	uint64_t cert_view;
	struct raw cert_pp;
	struct raw cert_prep[BFT_MAX_N];
	uint32_t n_cert_prep;
	/* Pre-prepares of other views, kept only as bodies for commit certificates. */
	struct raw other_pp[4];
	uint32_t n_other, other_next;
};

struct ckpt {
	uint64_t seq; /* 0: unused */
	struct vote v[BFT_MAX_N];
};

struct pending {
	uint8_t id[BFT_DIGEST];
	struct raw m;
	uint64_t since; /* when its timer started (§4.5.2) */
	bool assigned;	/* in a pre-prepare of the current view */
	bool mine;	/* submitted here: retransmitted until executed (§4.1) */
};

/*
 * A membership: who votes, the quorum and the primary of each view. The
 * first is the configuration's (ids 0..n-1); bft_reconfigure() replaces it
 * at a checkpoint, through the log (see there).
 */
struct members {
	uint32_t n, f, q; /* q = bft_quorum(n): "2f + 1" in the comments, as when n = 3f + 1 */
	uint32_t order[BFT_MAX_N]; /* ids, ascending: the primary of view v is order[v mod n] */
	bool in[BFT_MAX_N];
};

struct bft_replica {
	struct bft_config c;
	struct members m; /* now */
	/*
	 * A change through the log: @next from sequence number next_at + 1
	 * (next_at = 0: none pending); @prev governed sequence numbers up to
	 * prev_until, for checkpoint proofs and certificates from before it.
	 */
	struct members next, prev;
	uint64_t next_at, prev_until;
	/*
	 * E of the last change, kept after it takes effect: "a change is under
	 * way" must follow the log alone (a state transfer can take a replica
	 * past E before it executes the requests between the change and E).
	 */
	uint64_t change_e;
	bool recount; /* checkpoint votes to count again under new members */
	/*
	 * The proof of the checkpoint where the last change took effect, by
	 * the members before it: a replica that fell behind before it can only
	 * check proofs of those (on_status serves it).
	 */
	struct raw sw_proof[BFT_MAX_N];
	uint32_t n_sw_proof;
	uint64_t sw_seq;
	uint64_t progress_at; /* last batch executed: a pending change that stalls changes views */
	ed25519_key key;
	ed25519_key pubs[BFT_MAX_N]; /* by id: the configuration's, then those added */
	bool have_pub[BFT_MAX_N];
	struct bft_stats st;

	uint64_t view;
	bool active;		  /* normal operation in view (not changing views) */
	uint64_t vc_deadline;	  /* when to give up on this view change */
	uint64_t timeout;	  /* current view-change timeout (doubles, §4.5.2) */
	struct raw vc[BFT_MAX_N]; /* latest VIEW-CHANGE from each replica */
	uint64_t vc_view[BFT_MAX_N];
	struct raw newview; /* the NEW-VIEW that started the current view */

	uint64_t h; /* low watermark: last stable checkpoint */
	uint8_t h_digest[BFT_DIGEST];
	struct raw h_proof[BFT_MAX_N]; /* 2f + 1 CHECKPOINTs */
	uint32_t n_h_proof;
	uint64_t next_seq; /* primary: next sequence number to assign */
	uint64_t last_exec;
	uint8_t state[BFT_DIGEST]; /* hash chain over executed batches */
	struct raw own_ckpt;

	struct slot *slots; /* window entries, by seq % window */
	struct ckpt ckpts[CKPT_SLOTS];

	struct pending *pend;
	uint32_t n_pend;
	uint64_t req_counter;

	/* Executed request ids (§4.1: at most once). Open addressing. */
	uint8_t (*done)[BFT_DIGEST];
	uint32_t done_cap, n_done;

	/* Executed batches for state transfer: ring of the last hist_cap. */
	struct raw *hist;
	uint32_t hist_cap;

	uint8_t (*seen)[BFT_DIGEST];
	uint64_t next_retransmit;
	uint64_t fetch_target; /* stable checkpoint being fetched, 0 = none */
	/*
	 * State transfer in chunks: BATCHES answers (each under BFT_MSG_MAX)
	 * for last_exec + 1 .. fetch_target gather here, with the hash chain
	 * over them, and execute only once the chain reaches the stable
	 * checkpoint's digest. One peer at a time is asked (fetch_peer); it
	 * changes when a round brings nothing or the chain does not match, so
	 * a liar can delay a transfer but not keep it from an honest peer.
	 */
	/*
	 * Answering FETCH costs reads of our log and up to a message of
	 * BFT_MSG_MAX, answering STATUS up to a window of pre-prepares and
	 * COMMITs: one byte budget per asking member (token bucket) for both,
	 * so a Byzantine one cannot keep us at it. An honest fetcher that runs
	 * dry moves on to another peer at its next tick.
	 */
	int64_t fetch_tokens[BFT_MAX_N];
	uint64_t fetch_tokens_at[BFT_MAX_N];
	struct raw *fetch_buf;
	uint32_t fetch_n, fetch_cap;
	uint8_t fetch_state[BFT_DIGEST];
	uint32_t fetch_peer;
	uint32_t fetch_n_at_tick; /* fetch_n at the last retransmission tick */
	bool window_moved;     /* propose() on the way out of the entry point */
	uint64_t now;

	/* What we voted for before a restart (bft_restore_sent): never contradict it. */
	struct {
		uint64_t view, seq;
		uint8_t d[BFT_DIGEST];
	} voted[VOTED_MAX];
	uint32_t n_voted;
	/*
	 * The vote horizon (BFT_HORIZON): PRE-PREPAREs and PREPAREs are sent
	 * before they are durable, under a durable promise that none was sent
	 * in view hz_view above hz_seq. fence_*: the promise a restart came
	 * back with; up to it, in its view, only votes restored above may be
	 * sent again (one lost in the crash may have said something else).
	 */
	uint64_t hz_view, hz_seq;
	uint64_t vote_top; /* the highest sequence number voted on in hz_view (bft_seal) */
	uint64_t fence_view, fence_seq;
	bool replaying;
	uint64_t restored_vc; /* view of a VIEW-CHANGE sent before the restart, 0 = none */
};

/* ---- crypto and encoding ---------------------------------------------------------- */

void bft_hash(const uint8_t *data, size_t len, uint8_t out[BFT_DIGEST])
{
	wc_Sha256Hash(data, (word32)len, out);
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int bft_hdr_parse(const uint8_t *m, size_t len, struct bft_hdr *h, const uint8_t **body,
		  size_t *body_len)
{
	if (len < BFT_HDR + BFT_SIG || len > BFT_MSG_MAX)
		return -EBADMSG;
	h->type = m[0];
	h->replica = get32(m + 4);
	h->view = get64(m + 8);
	h->seq = get64(m + 16);
	memcpy(h->d, m + 24, BFT_DIGEST);
	*body = m + BFT_HDR;
	*body_len = len - BFT_HDR - BFT_SIG;
	return 0;
}

static int key_from_seed(const uint8_t priv[BFT_KEY], ed25519_key *k)
{
	uint8_t pub[BFT_KEY];

	if (wc_ed25519_init(k) != 0)
		return -EINVAL;
	if (wc_ed25519_import_private_only(priv, BFT_KEY, k) != 0 ||
	    wc_ed25519_make_public(k, pub, sizeof(pub)) != 0 ||
	    wc_ed25519_import_private_key(priv, BFT_KEY, pub, sizeof(pub), k) != 0) {
		wc_ed25519_free(k);
		return -EINVAL;
	}
	return 0;
}

int bft_public_key(const uint8_t priv[BFT_KEY], uint8_t pub[BFT_KEY])
{
	ed25519_key k;
	word32 len = BFT_KEY;
	int rc;

	if (key_from_seed(priv, &k) < 0)
		return -EINVAL;
	rc = wc_ed25519_export_public(&k, pub, &len) == 0 ? 0 : -EINVAL;
	wc_ed25519_free(&k);
	return rc;
}

static int build_with(ed25519_key *k, const struct bft_hdr *h, const uint8_t *body, size_t blen,
		      uint8_t **out, size_t *out_len)
{
	size_t len = BFT_HDR + blen + BFT_SIG;
	uint8_t *m = malloc(len);
	word32 sl = BFT_SIG;

	if (m == NULL)
		return -ENOMEM;
	memset(m, 0, BFT_HDR);
	m[0] = h->type;
	put32(m + 4, h->replica);
	put64(m + 8, h->view);
	put64(m + 16, h->seq);
	memcpy(m + 24, h->d, BFT_DIGEST);
	if (blen)
		memcpy(m + BFT_HDR, body, blen);
	if (wc_ed25519_sign_msg(m, (word32)(BFT_HDR + blen), m + BFT_HDR + blen, &sl, k) != 0) {
		free(m);
		return -EINVAL;
	}
	*out = m;
	*out_len = len;
	return 0;
}

int bft_msg_build(const uint8_t priv[BFT_KEY], const struct bft_hdr *h, const uint8_t *body,
		  size_t body_len, uint8_t **out, size_t *out_len)
{
	ed25519_key k;
	int rc;

	if (key_from_seed(priv, &k) < 0)
		return -EINVAL;
	rc = build_with(&k, h, body, body_len, out, out_len);
	wc_ed25519_free(&k);
	return rc;
}

/* ---- membership ------------------------------------------------------------------- */

static void members_set(struct members *m, const bool in[BFT_MAX_N])
{
	m->n = 0;
	for (uint32_t i = 0; i < BFT_MAX_N; i++) {
		m->in[i] = in[i];
		if (in[i])
			m->order[m->n++] = i;
	}
	m->f = bft_faults(m->n);
	m->q = bft_quorum(m->n);
}

static uint32_t primary_in(const struct members *m, uint64_t view)
{
	return m->order[view % m->n];
}

/* The primary of @view among the members now. */
static uint32_t primary(const struct bft_replica *r, uint64_t view)
{
	return primary_in(&r->m, view);
}

/*
 * The membership that governs sequence number @seq: whose votes certify
 * it, whose CHECKPOINTs prove it (a change takes effect after next_at).
 */
static const struct members *members_at(const struct bft_replica *r, uint64_t seq)
{
	if (r->prev_until && seq <= r->prev_until)
		return &r->prev;
	if (r->next_at && seq > r->next_at)
		return &r->next;
	return &r->m;
}

/* The member after @id, other than us (state-transfer peers take turns). */
static uint32_t member_after(const struct bft_replica *r, uint32_t id)
{
	for (uint32_t k = 1; k <= BFT_MAX_N; k++) {
		uint32_t i = (id + k) % BFT_MAX_N;

		if (r->m.in[i] && i != r->c.id)
			return i;
	}
	return id;
}

/* Do we vote? (A replica to be added, or one removed, only follows the log.) */
static bool voting(const struct bft_replica *r)
{
	return r->m.in[r->c.id];
}

/* The high watermark: h + L, but not past a membership change not yet in force. */
static uint64_t high(const struct bft_replica *r)
{
	uint64_t hi = r->h + r->c.window;

	if (r->next_at && r->next_at > r->h && hi > r->next_at)
		hi = r->next_at;
	return hi;
}

/* Signed by replica @id (any whose key we know)? Bad signatures are counted. */
static bool sig_ok(struct bft_replica *r, const uint8_t *m, size_t len, uint32_t id)
{
	int ok = 0;

	if (id >= BFT_MAX_N || !r->have_pub[id]) {
		r->st.non_member++;
		return false;
	}
	if (wc_ed25519_verify_msg(m + len - BFT_SIG, BFT_SIG, m, (word32)(len - BFT_SIG), &ok,
				  &r->pubs[id]) != 0 ||
	    !ok) {
		r->st.bad_signature++;
		return false;
	}
	return true;
}

/* Signature of a member of @mem; false for others and bad signatures (counted). */
static bool verify_in(struct bft_replica *r, const struct members *mem, const uint8_t *m,
		      size_t len, const struct bft_hdr *h)
{
	if (h->replica >= BFT_MAX_N || !mem->in[h->replica]) {
		r->st.non_member++;
		return false;
	}
	return sig_ok(r, m, len, h->replica);
}

/* Signature of a member now. */
static bool verify(struct bft_replica *r, const uint8_t *m, size_t len, const struct bft_hdr *h)
{
	return verify_in(r, &r->m, m, len, h);
}

static void raw_set(struct raw *dst, const uint8_t *m, size_t len)
{
	free(dst->b);
	dst->b = malloc(len);
	dst->len = dst->b ? len : 0;
	if (dst->b)
		memcpy(dst->b, m, len);
}

static void raw_free(struct raw *r)
{
	free(r->b);
	r->b = NULL;
	r->len = 0;
}

/* Sign and send (to < 0: everyone else); keep a copy in @keep when given. */
static void emit(struct bft_replica *r, int to, const struct bft_hdr *h, const uint8_t *body,
		 size_t blen, struct raw *keep)
{
	uint8_t *m;
	size_t len;

	if (build_with(&r->key, h, body, blen, &m, &len) < 0)
		return;
	/*
	 * Not a member (yet, or any more): we follow the log (commit
	 * certificates, state transfer) but our votes count for nothing and
	 * are not sent.
	 */
	if (voting(r) || h->type == BFT_REQUEST || h->type == BFT_FETCH ||
	    h->type == BFT_BATCHES || h->type == BFT_STATUS || to == (int)r->c.id)
		r->c.ops.send(r->c.ctx, to, m, len);
	if (keep) {
		free(keep->b);
		keep->b = m;
		keep->len = len;
	} else {
		free(m);
	}
}

/* A growable byte buffer for bodies. */
struct buf {
	uint8_t *b;
	size_t len, cap;
	bool oom;
};

static void buf_put(struct buf *b, const void *p, size_t n)
{
	if (n == 0)
		return; /* (p may be NULL then: an empty O, a proof of nothing) */
	if (b->len + n > b->cap) {
		size_t cap = (b->cap ? b->cap * 2 : 256) + n;
		uint8_t *nb = realloc(b->b, cap);

		if (nb == NULL) {
			b->oom = true;
			return;
		}
		b->b = nb;
		b->cap = cap;
	}
	memcpy(b->b + b->len, p, n);
	b->len += n;
}

static void buf_u16(struct buf *b, uint16_t v)
{
	uint8_t x[2] = {(uint8_t)v, (uint8_t)(v >> 8)};

	buf_put(b, x, 2);
}

static void buf_raw(struct buf *b, const struct raw *r)
{
	uint8_t x[4];

	put32(x, (uint32_t)r->len);
	buf_put(b, x, 4);
	buf_put(b, r->b, r->len);
}

/* A reader over a body: u16 counts and (u32 len, bytes) items. */
struct rd {
	const uint8_t *p, *end;
	bool bad;
};

static uint16_t rd_u16(struct rd *r)
{
	uint16_t v;

	if (r->end - r->p < 2) {
		r->bad = true;
		return 0;
	}
	v = (uint16_t)(r->p[0] | r->p[1] << 8);
	r->p += 2;
	return v;
}

static const uint8_t *rd_item(struct rd *r, size_t *len)
{
	const uint8_t *p;

	if (r->end - r->p < 4) {
		r->bad = true;
		return NULL;
	}
	*len = get32(r->p);
	r->p += 4;
	if ((size_t)(r->end - r->p) < *len) {
		r->bad = true;
		return NULL;
	}
	p = r->p;
	r->p += *len;
	return p;
}

/* ---- bookkeeping ------------------------------------------------------------------- */

static struct slot *slot_of(struct bft_replica *r, uint64_t seq, bool create)
{
	struct slot *s;

	if (seq <= r->h || seq > high(r))
		return NULL;
	s = &r->slots[seq % r->c.window];
	if (s->seq != seq) {
		if (!create)
			return NULL;
		/* A recycled entry: everything it held is below the low watermark. */
		raw_free(&s->pp);
		raw_free(&s->cert_pp);
		for (uint32_t i = 0; i < BFT_MAX_N; i++) {
			raw_free(&s->prep[i].m);
			raw_free(&s->com[i].m);
			raw_free(&s->com2[i].m);
			raw_free(&s->cert_prep[i]);
		}
		for (uint32_t i = 0; i < 4; i++)
			raw_free(&s->other_pp[i]);
		memset(s, 0, sizeof(*s));
		s->seq = seq;
	}
	return s;
}

/*
 * Duplicates (retransmissions, the network's copies) cost a hash instead
 * of a signature check. Returns true for a message processed before; else
 * remembers it in *@slot, which seen_forget() undoes for a message dropped
 * only for now (another view, outside the window) so a later copy counts.
 */
static bool seen_before(struct bft_replica *r, const uint8_t *m, size_t len, uint32_t *slot)
{
	uint8_t d[BFT_DIGEST];

	bft_hash(m, len, d);
	/*
	 * Direct-mapped by digest: a lookup is one compare. A collision evicts
	 * an older digest, whose duplicate then costs a full handling — all
	 * handlers are idempotent, so that is only time.
	 */
	*slot = get32(d) & (SEEN_MAX - 1);
	if (memcmp(r->seen[*slot], d, BFT_DIGEST) == 0)
		return true;
	memcpy(r->seen[*slot], d, BFT_DIGEST);
	return false;
}

static void seen_forget(struct bft_replica *r, uint32_t slot)
{
	memset(r->seen[slot], 0xff, BFT_DIGEST);
}

static bool done_has(const struct bft_replica *r, const uint8_t id[BFT_DIGEST])
{
	uint32_t i = get32(id) & (r->done_cap - 1);
	static const uint8_t zero[BFT_DIGEST];

	for (;; i = (i + 1) & (r->done_cap - 1)) {
		if (memcmp(r->done[i], id, BFT_DIGEST) == 0)
			return true;
		if (memcmp(r->done[i], zero, BFT_DIGEST) == 0)
			return false;
	}
}

static void done_add(struct bft_replica *r, const uint8_t id[BFT_DIGEST])
{
	static const uint8_t zero[BFT_DIGEST];

	if (2 * (r->n_done + 1) > r->done_cap) {
		uint8_t(*old)[BFT_DIGEST] = r->done;
		uint32_t oc = r->done_cap;
		void *nd = calloc(2 * oc, BFT_DIGEST);

		if (nd == NULL)
			return; /* stays correct, only slower to fill */
		r->done = nd;
		r->done_cap = 2 * oc;
		r->n_done = 0;
		for (uint32_t k = 0; k < oc; k++)
			if (memcmp(old[k], zero, BFT_DIGEST) != 0)
				done_add(r, old[k]);
		free(old);
	}
	uint32_t i = get32(id) & (r->done_cap - 1);

	while (memcmp(r->done[i], zero, BFT_DIGEST) != 0) {
		if (memcmp(r->done[i], id, BFT_DIGEST) == 0)
			return;
		i = (i + 1) & (r->done_cap - 1);
	}
	memcpy(r->done[i], id, BFT_DIGEST);
	r->n_done++;
}

static struct pending *pending_find(struct bft_replica *r, const uint8_t id[BFT_DIGEST])
{
	for (uint32_t i = 0; i < r->n_pend; i++)
		if (memcmp(r->pend[i].id, id, BFT_DIGEST) == 0)
			return &r->pend[i];
	return NULL;
}

static void pending_remove(struct bft_replica *r, const uint8_t id[BFT_DIGEST])
{
	struct pending *p = pending_find(r, id);

	if (p == NULL)
		return;
	raw_free(&p->m);
	*p = r->pend[--r->n_pend];
}

/* A signed REQUEST from a member: its identity is the hash of the whole message. */
static bool request_ok(struct bft_replica *r, const uint8_t *m, size_t len, uint8_t id[BFT_DIGEST])
{
	struct bft_hdr h;
	const uint8_t *body;
	size_t blen;
	uint8_t d[BFT_DIGEST];

	if (bft_hdr_parse(m, len, &h, &body, &blen) < 0 || h.type != BFT_REQUEST ||
	    blen > BFT_REQ_MAX)
		return false;
	bft_hash(m, len, id);
	/*
	 * The id hashes the whole signed message: these very bytes were
	 * verified when they were first received (pending) or executed (done),
	 * and a pre-prepare need not pay for its requests' signatures again.
	 */
	if (pending_find(r, id) || done_has(r, id))
		return true;
	bft_hash(body, blen, d);
	return memcmp(d, h.d, BFT_DIGEST) == 0 && verify(r, m, len, &h);
}

static void pending_add(struct bft_replica *r, const uint8_t *m, size_t len,
			const uint8_t id[BFT_DIGEST], bool mine)
{
	struct pending *p;

	if (done_has(r, id) || pending_find(r, id) || r->n_pend == PENDING_MAX)
		return;
	p = &r->pend[r->n_pend++];
	memset(p, 0, sizeof(*p));
	memcpy(p->id, id, BFT_DIGEST);
	raw_set(&p->m, m, len);
	p->since = r->now;
	p->mine = mine;
}

/* Walk a batch; calls @fn for each request. False if malformed or a request is not signed. */
static bool batch_walk(struct bft_replica *r, const uint8_t *b, size_t len,
		       void (*fn)(struct bft_replica *, const uint8_t *, size_t, const uint8_t *),
		       bool check)
{
	struct rd rd = {.p = b, .end = b + len};
	uint16_t n = rd_u16(&rd);

	if (n > BFT_BATCH_MAX)
		return false;
	for (uint16_t i = 0; i < n && !rd.bad; i++) {
		size_t ml;
		const uint8_t *m = rd_item(&rd, &ml);
		uint8_t id[BFT_DIGEST];

		if (m == NULL)
			return false;
		if (check) {
			if (!request_ok(r, m, ml, id))
				return false;
		} else {
			bft_hash(m, ml, id);
		}
		if (fn)
			fn(r, m, ml, id);
	}
	return !rd.bad && rd.p == rd.end;
}

/* ---- execution and checkpoints (§4.2, §4.3) ---------------------------------------- */

static void exec_one(struct bft_replica *r, const uint8_t *m, size_t len, const uint8_t *id)
{
	struct bft_hdr h;
	const uint8_t *body;
	size_t blen;

	if (done_has(r, id))
		return; /* §4.1: a request re-proposed in another batch runs once */
	done_add(r, id);
	pending_remove(r, id);
	bft_hdr_parse(m, len, &h, &body, &blen);
	r->c.ops.execute(r->c.ctx, r->last_exec, h.replica, body, blen);
	r->st.requests++;
}

static void try_stable(struct bft_replica *r, struct ckpt *ck);
static void switch_members(struct bft_replica *r);

/*
 * The vote collection of checkpoint @seq: its entry, or the one of the
 * lowest sequence number (stable ones first: they are garbage). Votes are
 * not delivered twice (duplicates are dropped on sight), so an entry above
 * the stable checkpoint is only given up when all are.
 */
static struct ckpt *ckpt_entry(struct bft_replica *r, uint64_t seq)
{
	struct ckpt *ck = &r->ckpts[0];

	for (int i = 0; i < CKPT_SLOTS; i++)
		if (r->ckpts[i].seq == seq)
			return &r->ckpts[i];
	for (int i = 1; i < CKPT_SLOTS; i++)
		if (r->ckpts[i].seq < ck->seq)
			ck = &r->ckpts[i];
	for (uint32_t i = 0; i < BFT_MAX_N; i++)
		raw_free(&ck->v[i].m);
	memset(ck, 0, sizeof(*ck));
	ck->seq = seq;
	return ck;
}

static uint32_t count_votes(const struct members *m, const struct vote *v, uint64_t view,
			    const uint8_t d[BFT_DIGEST], int skip);

/* Execute the batch of sequence number last_exec + 1 (its body @b). */
/* The state after batch @b: state = H(state || H(b)), the hash chain checkpoints carry. */
static void chain_step(uint8_t state[BFT_DIGEST], const uint8_t *b, size_t len)
{
	uint8_t chain[2 * BFT_DIGEST];

	memcpy(chain, state, BFT_DIGEST);
	bft_hash(b, len, chain + BFT_DIGEST);
	bft_hash(chain, sizeof(chain), state);
}

/* Forget the batches gathered by a state transfer (they no longer follow last_exec, or lied). */
static void fetch_reset(struct bft_replica *r)
{
	for (uint32_t i = 0; i < r->fetch_n; i++)
		raw_free(&r->fetch_buf[i]);
	r->fetch_n = 0;
	r->fetch_n_at_tick = 0;
}

static void execute_batch(struct bft_replica *r, const uint8_t *b, size_t len)
{
	struct raw *hs;

	if (r->fetch_n)
		fetch_reset(r); /* the gathered batches started at the old last_exec + 1 */
	/*
	 * Past a change's sequence number without having seen it stable: only
	 * a replay does that (live, the window stops there until it is). The
	 * log says the change took effect: so it does here.
	 */
	if (r->next_at && r->last_exec >= r->next_at)
		switch_members(r);
	r->last_exec++;
	r->progress_at = r->now;
	if (r->c.ops.commit && !r->replaying)
		r->c.ops.commit(r->c.ctx, r->last_exec, b, len);
	batch_walk(r, b, len, exec_one, false);
	chain_step(r->state, b, len);
	hs = &r->hist[r->last_exec % r->hist_cap];
	raw_set(hs, b, len);
	r->st.executed_seq = r->last_exec;
	/* Room in the pipeline: the entry point proposes on its way out. */
	r->window_moved = true;
	/* Progress: the view-change timeout goes back to its start (§4.5.2). */
	r->timeout = r->c.view_timeout_ms;
	if (r->last_exec % r->c.checkpoint_interval == 0) {
		struct bft_hdr h = {
		    .type = BFT_CHECKPOINT, .replica = r->c.id, .seq = r->last_exec};
		struct ckpt *ck = NULL;

		memcpy(h.d, r->state, BFT_DIGEST);
		emit(r, -1, &h, NULL, 0, &r->own_ckpt);
		if (r->last_exec <= r->h)
			return; /* stable already (state transfer): nothing to collect */
		ck = ckpt_entry(r, r->last_exec);
		ck->v[r->c.id].has = true;
		memcpy(ck->v[r->c.id].d, r->state, BFT_DIGEST);
		raw_set(&ck->v[r->c.id].m, r->own_ckpt.b, r->own_ckpt.len);
		try_stable(r, ck);
	}
}

/* Keep a pre-prepare body for a commit certificate: one per digest, newest kept. */
static bool keep_other(struct slot *s, const struct bft_hdr *h, const uint8_t *m, size_t len)
{
	for (uint32_t k = 0; k < s->n_other; k++)
		if (memcmp(s->other_pp[k].b + 24, h->d, BFT_DIGEST) == 0)
			return false;
	/* A ring: a liar's pre-prepares cannot crowd out a later, true one for good. */
	raw_set(&s->other_pp[s->other_next++ % 4], m, len);
	if (s->n_other < 4)
		s->n_other++;
	return true;
}

/*
 * A commit certificate: 2f + 1 COMMITs for (v, n, d) from distinct replicas
 * prove that n committed with d (at least f + 1 honest replicas prepared
 * it in v), whatever view this replica is in. With a pre-prepare carrying
 * d, a replica that missed the view's messages (it was changing views on
 * its own, or partitioned) executes n all the same.
 */
static bool commit_certified(struct bft_replica *r, struct slot *s)
{
	for (uint32_t k = 0; k < r->m.n; k++) {
		uint32_t i = r->m.order[k];
		const struct raw *pp = NULL;

		/*
		 * Count distinct signers of COMMIT(v, n, d): an equivocator's
		 * vote counts for each digest it signed; at most f lie, so 2f + 1
		 * signers still include f + 1 honest replicas that prepared d.
		 */
		if (!s->com[i].has ||
		    count_votes(&r->m, s->com, s->com[i].view, s->com[i].d, -1) +
			    count_votes(&r->m, s->com2, s->com[i].view, s->com[i].d, -1) <
			r->m.q)
			continue;
		if (s->has_pp && memcmp(s->d, s->com[i].d, BFT_DIGEST) == 0)
			pp = &s->pp;
		for (uint32_t k = 0; pp == NULL && k < s->n_other; k++)
			if (memcmp(s->other_pp[k].b + 24, s->com[i].d, BFT_DIGEST) == 0)
				pp = &s->other_pp[k];
		if (pp == NULL)
			return false;
		if (pp != &s->pp) {
			raw_set(&s->pp, pp->b, pp->len);
			memcpy(s->d, s->com[i].d, BFT_DIGEST);
			s->has_pp = true;
			s->pp_view = s->com[i].view;
		}
		return true;
	}
	return false;
}

static void try_execute(struct bft_replica *r)
{
	for (;;) {
		struct slot *s = slot_of(r, r->last_exec + 1, false);
		struct bft_hdr h;
		const uint8_t *body;
		size_t blen;

		if (s == NULL)
			return;
		if (!s->committed && commit_certified(r, s))
			s->committed = true;
		if (!s->committed)
			return;
		bft_hdr_parse(s->pp.b, s->pp.len, &h, &body, &blen);
		execute_batch(r, body, blen);
	}
}

/* Ask fetch_peer for the next chunk of batches up to fetch_target. */
static void request_fetch(struct bft_replica *r)
{
	struct bft_hdr h = {.type = BFT_FETCH,
			    .replica = r->c.id,
			    .seq = r->last_exec + 1 + r->fetch_n,
			    .view = r->fetch_target};

	if (r->fetch_target == 0 || r->last_exec >= r->fetch_target)
		return;
	if (r->fetch_peer == r->c.id || !r->m.in[r->fetch_peer])
		r->fetch_peer = member_after(r, r->fetch_peer);
	emit(r, (int)r->fetch_peer, &h, NULL, 0, NULL);
}

/*
 * The items of a checkpoint proof (u16 count × (u32 len, CHECKPOINT)) at
 * @p, already checked by ckpt_proof_ok(), into @out (pointers into @p).
 */
static uint32_t proof_items(const uint8_t *p, size_t len, struct raw out[BFT_MAX_N])
{
	struct rd rd = {.p = p, .end = p + len};
	uint16_t n = rd_u16(&rd);
	uint32_t k = 0;

	for (uint16_t i = 0; i < n && k < BFT_MAX_N && !rd.bad; i++) {
		size_t il;
		const uint8_t *it = rd_item(&rd, &il);

		if (it)
			out[k++] = (struct raw){.b = (uint8_t *)it, .len = il};
	}
	return k;
}

/*
 * The change bft_reconfigure() scheduled takes effect (checkpoint next_at
 * is stable, or a replay passed it): quorums, the primary of each view
 * and who may vote follow the new members from next_at + 1 on. What the
 * old members alone sent (VIEW-CHANGEs, checkpoint votes, requests) is
 * dropped; the window above next_at is empty (high() stopped it there).
 */
static void switch_members(struct bft_replica *r)
{
	r->prev = r->m;
	r->prev_until = r->next_at;
	r->m = r->next;
	r->next_at = 0;
	for (uint32_t i = 0; i < BFT_MAX_N; i++) {
		if (r->m.in[i])
			continue;
		raw_free(&r->vc[i]);
		r->vc_view[i] = 0;
		for (int k = 0; k < CKPT_SLOTS; k++) {
			r->ckpts[k].v[i].has = false;
			raw_free(&r->ckpts[k].v[i].m);
		}
	}
	for (uint32_t i = 0; i < r->n_pend;) {
		struct bft_hdr h;
		const uint8_t *b;
		size_t bl;

		if (bft_hdr_parse(r->pend[i].m.b, r->pend[i].m.len, &h, &b, &bl) == 0 &&
		    h.replica < BFT_MAX_N && r->m.in[h.replica]) {
			i++;
			continue;
		}
		/* From a member no more: no batch with it would be valid now. */
		raw_free(&r->pend[i].m);
		r->pend[i] = r->pend[--r->n_pend];
	}
	if (r->next_seq <= r->prev_until)
		r->next_seq = r->prev_until + 1;
	r->st.members = r->m.n;
	r->window_moved = true;
	/* Checkpoint votes counted under the old quorum: count them again (bft_tick). */
	r->recount = true;
}

/* Copies of a checkpoint proof's messages into @dst (*@n_dst of them), replacing what it held. */
static void proof_keep(struct raw *dst, uint32_t *n_dst, const struct raw *proof, uint32_t n)
{
	for (uint32_t i = 0; i < *n_dst; i++)
		raw_free(&dst[i]);
	for (uint32_t i = 0; i < n; i++)
		raw_set(&dst[i], proof[i].b, proof[i].len);
	*n_dst = n;
}

/*
 * Garbage-collect below a new stable checkpoint (§4.3). @log: hand it to
 * our own send() as a BFT_STABLE record (not when it comes from that
 * record, on a restart).
 */
static void make_stable(struct bft_replica *r, uint64_t seq, const uint8_t d[BFT_DIGEST],
			struct raw *proof, uint32_t n_proof, bool log)
{
	if (seq <= r->h)
		return;
	proof_keep(r->h_proof, &r->n_h_proof, proof, n_proof);
	r->h = seq;
	memcpy(r->h_digest, d, BFT_DIGEST);
	r->st.stable_seq = seq;
	if (log) {
		struct bft_hdr sh = {.type = BFT_STABLE, .replica = r->c.id, .seq = seq};
		struct buf b = {0};

		memcpy(sh.d, d, BFT_DIGEST);
		buf_u16(&b, (uint16_t)n_proof);
		for (uint32_t i = 0; i < n_proof; i++)
			buf_raw(&b, &proof[i]);
		if (!b.oom)
			emit(r, (int)r->c.id, &sh, b.b, b.len, NULL);
		free(b.b);
	}
	if (r->next_seq <= seq)
		r->next_seq = seq + 1;
	if (r->next_at && seq >= r->next_at) {
		if (seq == r->next_at) {
			proof_keep(r->sw_proof, &r->n_sw_proof, proof, n_proof);
			r->sw_seq = seq;
		}
		switch_members(r);
	}
	if (r->last_exec < seq) {
		/* Behind a point 2f + 1 replicas reached: fetch the state (§4.3). */
		r->fetch_target = seq;
		request_fetch(r);
	}
	/*
	 * The window moved: the primary may order what was waiting for room.
	 * Not from here (deep inside execution, with slots in hand): the entry
	 * points do it on their way out.
	 */
	r->window_moved = true;
}

static void try_stable(struct bft_replica *r, struct ckpt *ck)
{
	/* Checkpoint n is proven by the members that executed up to n. */
	const struct members *mm = members_at(r, ck->seq);

	for (uint32_t a = 0; a < mm->n; a++) {
		uint32_t i = mm->order[a];
		struct raw proof[BFT_MAX_N];
		uint32_t n = 0;

		if (!ck->v[i].has)
			continue;
		for (uint32_t b = 0; b < mm->n; b++) {
			uint32_t k = mm->order[b];

			if (ck->v[k].has && memcmp(ck->v[k].d, ck->v[i].d, BFT_DIGEST) == 0)
				proof[n++] = ck->v[k].m;
		}
		if (n >= mm->q) {
			make_stable(r, ck->seq, ck->v[i].d, proof, mm->q, true);
			return;
		}
	}
}

static void on_checkpoint(struct bft_replica *r, const struct bft_hdr *h, const uint8_t *m,
			  size_t len)
{
	struct ckpt *ck;

	if (h->seq <= r->h || h->seq % r->c.checkpoint_interval != 0)
		return;
	ck = ckpt_entry(r, h->seq);
	ck->v[h->replica].has = true;
	memcpy(ck->v[h->replica].d, h->d, BFT_DIGEST);
	raw_set(&ck->v[h->replica].m, m, len);
	try_stable(r, ck);
}

/* ---- normal case (§4.2) ------------------------------------------------------------- */

/* Votes of members of @m for (@view, @d), but @skip's. */
static uint32_t count_votes(const struct members *m, const struct vote *v, uint64_t view,
			    const uint8_t d[BFT_DIGEST], int skip)
{
	uint32_t c = 0;

	for (uint32_t k = 0; k < m->n; k++) {
		uint32_t i = m->order[k];

		if ((int)i != skip && v[i].has && v[i].view == view &&
		    memcmp(v[i].d, d, BFT_DIGEST) == 0)
			c++;
	}
	return c;
}

/*
 * Durability of PRE-PREPAREs and PREPAREs. The paper's replicas log what
 * they send before sending it (§4.3's log); our host syncs that log before
 * a round's messages go out, which put two disk flushes in a row on every
 * request's path (the primary's PRE-PREPARE, then each backup's PREPARE).
 * What the log must prevent is a restarted replica contradicting a vote it
 * sent (§4.2: a PREPARE for another digest at the same view and sequence
 * number, or a primary assigning a number twice). Instead of each vote, a
 * promise is made durable: BFT_HORIZON (view v, seq S) says "no vote of
 * mine in view v above S", and covers the next checkpoint interval of
 * votes; the host may send PRE-PREPAREs and PREPAREs before syncing
 * them, as long as its log keeps them in order behind the promise. After
 * a restart the last promise is a fence: in its view, up to its sequence
 * number, this replica sends no PRE-PREPARE or PREPARE but the ones it
 * restored (identical: signatures are deterministic). Lost ones are just
 * missing votes: the others' quorums form without them, and a primary
 * skips past the fence (its gap is filled by the next view's NEW-VIEW,
 * §4.4). COMMITs, certificates and view-change messages stay synced
 * before they are sent: they are what §4.4's proof needs remembered.
 */
static bool fenced(const struct bft_replica *r, uint64_t view, uint64_t seq,
		   const uint8_t d[BFT_DIGEST])
{
	if (view != r->fence_view || seq > r->fence_seq)
		return false;
	for (uint32_t i = 0; i < r->n_voted; i++)
		if (r->voted[i].view == view && r->voted[i].seq == seq &&
		    memcmp(r->voted[i].d, d, BFT_DIGEST) == 0)
			return false;
	return true;
}

/* Before a PRE-PREPARE or PREPARE at (@view, @seq): the promise covers it. */
static void horizon_cover(struct bft_replica *r, uint64_t view, uint64_t seq)
{
	struct bft_hdr h = {.type = BFT_HORIZON, .replica = r->c.id, .view = view};

	r->vote_top = view != r->hz_view || seq > r->vote_top ? seq : r->vote_top;
	if (view == r->hz_view && seq <= r->hz_seq)
		return;
	r->hz_view = view;
	r->hz_seq = seq + r->c.checkpoint_interval;
	h.seq = r->hz_seq;
	emit(r, (int)r->c.id, &h, NULL, 0, NULL);
}

static void send_vote(struct bft_replica *r, struct slot *s, uint8_t type)
{
	struct bft_hdr h = {.type = type, .replica = r->c.id, .view = s->pp_view, .seq = s->seq};
	struct vote *v = type == BFT_PREPARE ? &s->prep[r->c.id] : &s->com[r->c.id];

	if (type == BFT_PREPARE) {
		if (fenced(r, s->pp_view, s->seq, s->d)) {
			r->st.fenced_votes++;
			return;
		}
		if (voting(r))
			horizon_cover(r, s->pp_view, s->seq);
	}
	memcpy(h.d, s->d, BFT_DIGEST);
	emit(r, -1, &h, NULL, 0, &v->m);
	v->has = true;
	v->view = s->pp_view;
	memcpy(v->d, s->d, BFT_DIGEST);
}

/*
 * Hand the slot's prepared certificate to our own send() as a BFT_CERT
 * record (to = our id: logged, not sent). A replica that restarts without
 * it would leave the certificate out of its VIEW-CHANGE, and a request
 * that committed at another replica could lose its sequence number in the
 * next view (§4.4's proof counts on the f + 1 honest replicas that
 * prepared it remembering so).
 */
static void log_cert(struct bft_replica *r, const struct slot *s)
{
	struct bft_hdr h = {.type = BFT_CERT, .replica = r->c.id, .view = s->cert_view,
			    .seq = s->seq};
	struct buf b = {0};

	if (!voting(r))
		return; /* (not a member: it proves nothing in a VIEW-CHANGE we do not send) */
	memcpy(h.d, s->d, BFT_DIGEST);
	buf_raw(&b, &s->cert_pp);
	buf_u16(&b, (uint16_t)s->n_cert_prep);
	for (uint32_t k = 0; k < s->n_cert_prep; k++)
		buf_raw(&b, &s->cert_prep[k]);
	if (!b.oom)
		emit(r, (int)r->c.id, &h, b.b, b.len, NULL);
	free(b.b);
}

static void try_progress(struct bft_replica *r, struct slot *s)
{
	uint32_t prim = primary(r, s->pp_view);
	struct bft_hdr ph;
	const uint8_t *pb;
	size_t pbl;

	if (!s->has_pp || s->pp_view != r->view)
		return;
	/*
	 * A body a commit certificate of this view took from another view's
	 * PRE-PREPARE (the same batch proposed again; commit_certified) is
	 * no PRE-PREPARE of this view: a certificate built on it would fail
	 * every check (§4.4), ours at restart included.
	 */
	if (!s->prepared && (bft_hdr_parse(s->pp.b, s->pp.len, &ph, &pb, &pbl) < 0 ||
			     ph.view != s->pp_view))
		return;
	/* prepared: the pre-prepare and q - 1 PREPAREs (2f when n = 3f + 1). */
	if (!s->prepared &&
	    count_votes(&r->m, s->prep, s->pp_view, s->d, (int)prim) >= r->m.q - 1) {
		/* prepared(m, v, n, i): keep the certificate for view changes. */
		s->prepared = true;
		s->has_cert = true;
		s->cert_view = s->pp_view;
		raw_set(&s->cert_pp, s->pp.b, s->pp.len);
		s->n_cert_prep = 0;
		for (uint32_t k = 0; k < r->m.n && s->n_cert_prep < r->m.q - 1; k++) {
			uint32_t i = r->m.order[k];

			if (i != prim && s->prep[i].has &&
			    s->prep[i].view == s->pp_view &&
			    memcmp(s->prep[i].d, s->d, BFT_DIGEST) == 0)
				raw_set(&s->cert_prep[s->n_cert_prep++], s->prep[i].m.b,
					s->prep[i].m.len);
		}
		/* To our own log first: the COMMIT below depends on it. */
		log_cert(r, s);
		send_vote(r, s, BFT_COMMIT);
	}
	if (s->prepared && !s->committed &&
	    count_votes(&r->m, s->com, s->pp_view, s->d, -1) >= r->m.q) {
		s->committed = true;
		try_execute(r);
	}
}

static void note_request(struct bft_replica *r, const uint8_t *m, size_t len, const uint8_t *id)
{
	struct pending *p;

	pending_add(r, m, len, id, false);
	p = pending_find(r, id);
	if (p)
		p->assigned = true;
}

/* Accept a pre-prepare (from the wire, from NEW-VIEW, or our own). */
static void accept_pp(struct bft_replica *r, const struct bft_hdr *h, const uint8_t *m, size_t len)
{
	struct slot *s = slot_of(r, h->seq, true);
	const uint8_t *body;
	size_t blen;
	struct bft_hdr hh;

	if (s == NULL) {
		r->st.out_of_window++;
		return;
	}
	if (s->has_pp && s->pp_view == h->view) {
		if (memcmp(s->d, h->d, BFT_DIGEST) != 0) {
			/*
			 * Equivocation: we vote for the first one only, but keep
			 * this one as a body in case the others commit it.
			 */
			r->st.malformed++;
			if (keep_other(s, h, m, len))
				try_execute(r);
		}
		return;
	}
	for (uint32_t i = 0; i < r->n_voted; i++)
		if (r->voted[i].view == h->view && r->voted[i].seq == h->seq &&
		    memcmp(r->voted[i].d, h->d, BFT_DIGEST) != 0) {
			/* Before a restart we voted for another digest here: stay silent. */
			r->st.malformed++;
			return;
		}
	bft_hdr_parse(m, len, &hh, &body, &blen);
	batch_walk(r, body, blen, note_request, false);
	raw_set(&s->pp, m, len);
	s->has_pp = true;
	s->pp_view = h->view;
	memcpy(s->d, h->d, BFT_DIGEST);
	s->prepared = s->committed = false;
	if (r->c.id != primary(r, h->view))
		send_vote(r, s, BFT_PREPARE);
	try_progress(r, s);
}

static bool pp_valid(struct bft_replica *r, const struct bft_hdr *h, const uint8_t *body,
		     size_t blen)
{
	uint8_t d[BFT_DIGEST];

	if (h->replica != primary_in(members_at(r, h->seq), h->view))
		return false;
	bft_hash(body, blen, d);
	return memcmp(d, h->d, BFT_DIGEST) == 0 && batch_walk(r, body, blen, NULL, true);
}

/*
 * Primary: order what is pending (batching, pipelining within the window).
 * While a membership change waits for sequence number next_at, null
 * batches fill the log up to it, so the change takes effect without
 * waiting for L client requests.
 */
static void propose(struct bft_replica *r)
{
	/* Past a restart's fence: numbers up to it may have been assigned in a lost PRE-PREPARE. */
	if (r->view == r->fence_view && r->next_seq <= r->fence_seq)
		r->next_seq = r->fence_seq + 1;
	while (r->active && r->c.id == primary(r, r->view) && r->next_seq <= high(r) &&
	       (r->c.pipeline_max == 0 || r->next_seq < r->last_exec + 1 + r->c.pipeline_max)) {
		struct buf b = {0};
		uint16_t cnt = 0;

		buf_u16(&b, 0);
		for (uint32_t i = 0; i < r->n_pend && cnt < r->c.batch_max; i++)
			if (!r->pend[i].assigned) {
				buf_raw(&b, &r->pend[i].m);
				r->pend[i].assigned = true;
				cnt++;
			}
		if ((cnt == 0 && !(r->next_at && r->next_seq <= r->next_at)) || b.oom) {
			free(b.b);
			return;
		}
		b.b[0] = (uint8_t)cnt;
		b.b[1] = (uint8_t)(cnt >> 8);
		struct bft_hdr h = {.type = BFT_PREPREPARE,
				    .replica = r->c.id,
				    .view = r->view,
				    .seq = r->next_seq++};
		struct raw pp = {0};

		bft_hash(b.b, b.len, h.d);
		horizon_cover(r, h.view, h.seq);
		emit(r, -1, &h, b.b, b.len, &pp);
		free(b.b);
		if (pp.b)
			accept_pp(r, &h, pp.b, pp.len);
		raw_free(&pp);
	}
}

/* ---- view changes (§4.4, §4.5.2) ---------------------------------------------------- */

/* A checkpoint proof: q CHECKPOINTs for @seq from distinct members with one digest. */
static bool ckpt_proof_ok(struct bft_replica *r, struct rd *rd, uint64_t seq,
			  uint8_t d_out[BFT_DIGEST])
{
	uint16_t n = rd_u16(rd);
	bool from[BFT_MAX_N] = {false};
	uint32_t good = 0;
	const struct members *mm = members_at(r, seq);

	if (seq == 0)
		return n == 0 && !rd->bad;
	for (uint16_t i = 0; i < n && !rd->bad; i++) {
		size_t ml, bl;
		const uint8_t *m = rd_item(rd, &ml), *b;
		struct bft_hdr h;

		if (m == NULL || bft_hdr_parse(m, ml, &h, &b, &bl) < 0 ||
		    h.type != BFT_CHECKPOINT || h.seq != seq || h.replica >= BFT_MAX_N ||
		    from[h.replica] || !verify_in(r, mm, m, ml, &h))
			return false;
		if (good == 0)
			memcpy(d_out, h.d, BFT_DIGEST);
		else if (memcmp(d_out, h.d, BFT_DIGEST) != 0)
			return false;
		from[h.replica] = true;
		good++;
	}
	return !rd->bad && good >= mm->q;
}

struct cert {
	uint64_t seq, view;
	const uint8_t *pp;
	size_t pp_len;
};

/*
 * Read one prepared certificate from @rd (§4.4's P-set entry, also the body
 * of a BFT_CERT record): a PRE-PREPARE item, a u16 count, PREPARE items.
 * Valid when the pre-prepare is the primary's for its view, that view is
 * below @view_below, its sequence number lies in (@lo, @hi], and 2f
 * PREPAREs from distinct backups match it. Fills *@c.
 */
static bool cert_read(struct bft_replica *r, struct rd *rd, uint64_t view_below, uint64_t lo,
		      uint64_t hi, struct cert *c)
{
	size_t pl, bl2;
	const uint8_t *pp = rd_item(rd, &pl), *pb;
	struct bft_hdr ph;
	bool from[BFT_MAX_N] = {false};
	uint16_t np;
	uint32_t good = 0;
	const struct members *mm;

	if (pp == NULL || bft_hdr_parse(pp, pl, &ph, &pb, &bl2) < 0 ||
	    ph.type != BFT_PREPREPARE || ph.view >= view_below || ph.seq <= lo || ph.seq > hi)
		return false;
	/* Certified by the members that govern its sequence number. */
	mm = members_at(r, ph.seq);
	if (!verify_in(r, mm, pp, pl, &ph) || !pp_valid(r, &ph, pb, bl2))
		return false;
	np = rd_u16(rd);
	for (uint16_t k = 0; k < np && !rd->bad; k++) {
		size_t ql, ql2;
		const uint8_t *q = rd_item(rd, &ql), *qb;
		struct bft_hdr qh;

		if (q == NULL || bft_hdr_parse(q, ql, &qh, &qb, &ql2) < 0 ||
		    qh.type != BFT_PREPARE || qh.view != ph.view || qh.seq != ph.seq ||
		    memcmp(qh.d, ph.d, BFT_DIGEST) != 0 || qh.replica >= BFT_MAX_N ||
		    qh.replica == primary_in(mm, ph.view) || from[qh.replica] ||
		    !verify_in(r, mm, q, ql, &qh))
			return false;
		from[qh.replica] = true;
		good++;
	}
	if (rd->bad || good < mm->q - 1)
		return false;
	*c = (struct cert){.seq = ph.seq, .view = ph.view, .pp = pp, .pp_len = pl};
	return true;
}

/*
 * Check a VIEW-CHANGE for view @w and collect its prepared certificates.
 * Returns the number of certificates (>= 0) or -1 if invalid.
 */
static int vc_parse(struct bft_replica *r, const uint8_t *m, size_t len, uint64_t w,
		    uint64_t *stable, uint8_t stable_d[BFT_DIGEST], struct cert *certs, int max)
{
	struct bft_hdr h;
	const uint8_t *body;
	size_t blen;
	struct rd rd;
	uint16_t nc;
	int n = 0;

	if (bft_hdr_parse(m, len, &h, &body, &blen) < 0 || h.type != BFT_VIEWCHANGE ||
	    h.view != w || !verify(r, m, len, &h))
		return -1;
	rd = (struct rd){.p = body, .end = body + blen};
	*stable = h.seq;
	if (!ckpt_proof_ok(r, &rd, h.seq, stable_d))
		return -1;
	nc = rd_u16(&rd);
	for (uint16_t i = 0; i < nc && !rd.bad; i++) {
		if (n == max || !cert_read(r, &rd, w, h.seq, h.seq + r->c.window, &certs[n]))
			return -1;
		n++;
	}
	return rd.bad || rd.p != rd.end ? -1 : n;
}

static void try_new_view(struct bft_replica *r);

/*
 * §4.5.2: waiting for NEW-VIEW starts when 2f + 1 replicas (us included)
 * sent VIEW-CHANGE for our view or a later one; each view change without progress doubles
 * the wait, so correct replicas end up overlapping in one view.
 */
static void vc_timer(struct bft_replica *r)
{
	uint32_t n = 0;

	if (r->active || r->vc_deadline != UINT64_MAX)
		return;
	/*
	 * A replica that already moved past our view counts too: it left this
	 * view for want of a NEW-VIEW, and waiting for its VIEW-CHANGE for this
	 * view (replaced by the later one) would wait forever.
	 */
	for (uint32_t k = 0; k < r->m.n; k++) {
		uint32_t i = r->m.order[k];

		n += r->vc[i].b && r->vc_view[i] >= r->view;
	}
	if (n >= r->m.q) {
		r->vc_deadline = r->now + r->timeout;
		r->timeout *= 2;
	}
}

static void start_view_change(struct bft_replica *r, uint64_t w)
{
	struct bft_hdr h = {.type = BFT_VIEWCHANGE, .replica = r->c.id, .view = w, .seq = r->h};
	struct buf b = {0};
	uint16_t nc = 0;

	if ((w <= r->view && !r->active) || !voting(r))
		return;
	r->view = w;
	r->active = false;
	/* §4.5.2: the timer for the next view starts only once 2f + 1 want this one. */
	r->vc_deadline = UINT64_MAX;
	buf_u16(&b, (uint16_t)(r->h ? r->n_h_proof : 0));
	for (uint32_t i = 0; r->h && i < r->n_h_proof; i++)
		buf_raw(&b, &r->h_proof[i]);
	size_t at = b.len;

	buf_u16(&b, 0);
	for (uint64_t seq = r->h + 1; seq <= r->h + r->c.window; seq++) {
		struct slot *s = slot_of(r, seq, false);

		if (s == NULL || !s->has_cert)
			continue;
		buf_raw(&b, &s->cert_pp);
		buf_u16(&b, (uint16_t)s->n_cert_prep);
		for (uint32_t k = 0; k < s->n_cert_prep; k++)
			buf_raw(&b, &s->cert_prep[k]);
		nc++;
	}
	if (b.oom) {
		free(b.b);
		return;
	}
	b.b[at] = (uint8_t)nc;
	b.b[at + 1] = (uint8_t)(nc >> 8);
	emit(r, -1, &h, b.b, b.len, &r->vc[r->c.id]);
	r->vc_view[r->c.id] = w;
	free(b.b);
	vc_timer(r);
	try_new_view(r);
}

/*
 * §4.4: from 2f + 1 VIEW-CHANGEs for @w, the new view's pre-prepares O:
 * min_s = highest stable checkpoint among them, max_s = highest prepared
 * sequence number; per sequence number the certificate of the highest
 * view, or a null request. Calls @fn(seq, batch, len) for each.
 */
static int derive_o(struct bft_replica *r, const struct raw *vcs, uint32_t nvc, uint64_t w,
		    uint64_t *min_s, uint64_t *max_s, uint8_t min_d[BFT_DIGEST], uint32_t *min_from,
		    int (*fn)(struct bft_replica *, uint64_t, const uint8_t *, size_t, void *),
		    void *arg)
{
	struct cert *all = calloc((size_t)nvc * r->c.window, sizeof(*all));
	uint32_t nall = 0;
	static const uint8_t null_batch[2] = {0, 0};
	int rc = 0;

	if (all == NULL)
		return -1;
	*min_s = *max_s = 0;
	for (uint32_t i = 0; i < nvc; i++) {
		uint64_t st;
		uint8_t sd[BFT_DIGEST];
		int n = vc_parse(r, vcs[i].b, vcs[i].len, w, &st, sd, all + nall, (int)r->c.window);

		if (n < 0) {
			free(all);
			return -1;
		}
		if (st >= *min_s) {
			*min_s = st;
			memcpy(min_d, sd, BFT_DIGEST);
			*min_from = i;
		}
		nall += (uint32_t)n;
	}
	for (uint32_t i = 0; i < nall; i++)
		if (all[i].seq > *max_s)
			*max_s = all[i].seq;
	if (*max_s < *min_s)
		*max_s = *min_s;
	for (uint64_t seq = *min_s + 1; seq <= *max_s && rc == 0; seq++) {
		const struct cert *best = NULL;

		for (uint32_t i = 0; i < nall; i++)
			if (all[i].seq == seq && (best == NULL || all[i].view > best->view))
				best = &all[i];
		if (best) {
			struct bft_hdr ph;
			const uint8_t *pb;
			size_t bl;

			bft_hdr_parse(best->pp, best->pp_len, &ph, &pb, &bl);
			rc = fn(r, seq, pb, bl, arg);
		} else {
			rc = fn(r, seq, null_batch, sizeof(null_batch), arg);
		}
	}
	free(all);
	return rc;
}

struct o_build {
	struct buf *b;
	uint16_t n;
};

static int o_emit(struct bft_replica *r, uint64_t seq, const uint8_t *batch, size_t len, void *arg)
{
	struct o_build *o = arg;
	struct bft_hdr h = {
	    .type = BFT_PREPREPARE, .replica = r->c.id, .view = r->view, .seq = seq};
	uint8_t *m;
	size_t ml;

	bft_hash(batch, len, h.d);
	if (build_with(&r->key, &h, batch, len, &m, &ml) < 0)
		return -1;
	buf_raw(o->b, &(struct raw){.b = m, .len = ml});
	free(m);
	o->n++;
	return 0;
}

struct o_check {
	struct rd *rd;
	bool ok;
};

static int o_match(struct bft_replica *r, uint64_t seq, const uint8_t *batch, size_t len, void *arg)
{
	struct o_check *o = arg;
	size_t ml, bl;
	const uint8_t *m = rd_item(o->rd, &ml), *b;
	struct bft_hdr h;
	uint8_t d[BFT_DIGEST];

	bft_hash(batch, len, d);
	if (m == NULL || bft_hdr_parse(m, ml, &h, &b, &bl) < 0 || h.type != BFT_PREPREPARE ||
	    h.view != r->view || h.seq != seq || h.replica != primary(r, r->view) ||
	    memcmp(h.d, d, BFT_DIGEST) != 0 || bl != len || memcmp(b, batch, len) != 0 ||
	    !verify(r, m, ml, &h))
		o->ok = false;
	return o->ok ? 0 : -1;
}

/* Enter view @w with the NEW-VIEW @m (already checked): adopt its checkpoint and O. */
static void enter_view(struct bft_replica *r, uint64_t w, const uint8_t *m, size_t len,
		       uint64_t min_s, uint64_t max_s, const uint8_t min_d[BFT_DIGEST],
		       const struct raw *min_vc)
{
	struct bft_hdr h;
	const uint8_t *body;
	size_t blen;
	struct rd rd;
	uint16_t nvc, npp;

	r->view = w;
	r->active = true;
	r->st.view = w;
	r->st.view_changes++;
	raw_set(&r->newview, m, len);
	/* Votes of older views no longer count; certificates stay (§4.4). */
	for (uint32_t i = 0; i < r->c.window; i++) {
		struct slot *s = &r->slots[i];

		if (s->seq && s->pp_view < w) {
			s->has_pp = s->prepared = s->committed = false;
			raw_free(&s->pp);
		}
	}
	if (min_s > r->h) {
		/* The checkpoint proof inside the chosen VIEW-CHANGE makes it stable here too. */
		struct bft_hdr vh;
		const uint8_t *vb;
		size_t vbl;
		struct raw proof[BFT_MAX_N];

		bft_hdr_parse(min_vc->b, min_vc->len, &vh, &vb, &vbl);
		make_stable(r, min_s, min_d, proof, proof_items(vb, vbl, proof), true);
	}
	r->next_seq = (max_s > r->h ? max_s : r->h) + 1;
	for (uint32_t i = 0; i < r->n_pend; i++) {
		r->pend[i].assigned = false;
		r->pend[i].since = r->now;
	}
	r->progress_at = r->now; /* a pending membership change waits afresh too */
	bft_hdr_parse(m, len, &h, &body, &blen);
	rd = (struct rd){.p = body, .end = body + blen};
	nvc = rd_u16(&rd);
	for (uint16_t i = 0; i < nvc; i++) {
		size_t l;

		rd_item(&rd, &l);
	}
	npp = rd_u16(&rd);
	for (uint16_t i = 0; i < npp && !rd.bad; i++) {
		size_t l;
		const uint8_t *pp = rd_item(&rd, &l);
		struct bft_hdr ph;
		const uint8_t *pb;
		size_t pbl;

		bft_hdr_parse(pp, l, &ph, &pb, &pbl);
		if (ph.seq > r->h)
			accept_pp(r, &ph, pp, l);
	}
	for (uint32_t i = 0; i < BFT_MAX_N; i++)
		if (r->vc_view[i] < w) {
			raw_free(&r->vc[i]);
			r->vc_view[i] = 0;
		}
	propose(r);
}

static void on_new_view(struct bft_replica *r, const struct bft_hdr *h, const uint8_t *m,
			size_t len, const uint8_t *body, size_t blen)
{
	struct raw vcs[BFT_MAX_N];
	struct rd rd = {.p = body, .end = body + blen};
	bool from[BFT_MAX_N] = {false};
	uint64_t min_s, max_s, saved_view = r->view;
	uint8_t min_d[BFT_DIGEST];
	uint32_t min_from = 0, nvc = 0;
	uint16_t n;
	struct o_check oc = {.rd = &rd, .ok = true};

	if (h->view < r->view || (h->view == r->view && r->active) ||
	    h->replica != primary(r, h->view)) {
		r->st.wrong_view++;
		return;
	}
	n = rd_u16(&rd);
	for (uint16_t i = 0; i < n && !rd.bad && nvc < BFT_MAX_N; i++) {
		size_t l;
		const uint8_t *v = rd_item(&rd, &l);
		struct bft_hdr vh;
		const uint8_t *vb;
		size_t vbl;

		if (v == NULL || bft_hdr_parse(v, l, &vh, &vb, &vbl) < 0 ||
		    vh.replica >= BFT_MAX_N || !r->m.in[vh.replica] || from[vh.replica])
			goto bad;
		from[vh.replica] = true;
		vcs[nvc++] = (struct raw){.b = (uint8_t *)v, .len = l};
	}
	if (rd.bad || nvc < r->m.q)
		goto bad;
	n = rd_u16(&rd);
	/* Recompute O from the proof and compare, message by message (§4.4). */
	r->view = h->view;
	if (derive_o(r, vcs, nvc, h->view, &min_s, &max_s, min_d, &min_from, o_match, &oc) < 0 ||
	    !oc.ok || n != (max_s > min_s ? max_s - min_s : 0) || rd.p != rd.end) {
		r->view = saved_view;
		goto bad;
	}
	enter_view(r, h->view, m, len, min_s, max_s, min_d, &vcs[min_from]);
	return;
bad:
	r->st.bad_new_view++;
}

/* New primary: 2f + 1 VIEW-CHANGEs for our view → NEW-VIEW. */
static void try_new_view(struct bft_replica *r)
{
	struct raw vcs[BFT_MAX_N];
	uint32_t nvc = 0, min_from;
	uint64_t min_s, max_s;
	uint8_t min_d[BFT_DIGEST];
	struct buf b = {0}, o = {0};
	struct o_build ob = {.b = &o};

	if (r->active || r->c.id != primary(r, r->view))
		return;
	for (uint32_t k = 0; k < r->m.n && nvc < r->m.q; k++) {
		uint32_t i = r->m.order[k];

		if (r->vc[i].b && r->vc_view[i] == r->view)
			vcs[nvc++] = r->vc[i];
	}
	if (nvc < r->m.q)
		return;
	if (derive_o(r, vcs, nvc, r->view, &min_s, &max_s, min_d, &min_from, o_emit, &ob) < 0) {
		free(o.b);
		return;
	}
	buf_u16(&b, (uint16_t)nvc);
	for (uint32_t i = 0; i < nvc; i++)
		buf_raw(&b, &vcs[i]);
	buf_u16(&b, ob.n);
	buf_put(&b, o.b, o.len);
	free(o.b);
	if (!b.oom) {
		struct bft_hdr h = {.type = BFT_NEWVIEW, .replica = r->c.id, .view = r->view};
		struct raw nv = {0};

		emit(r, -1, &h, b.b, b.len, &nv);
		if (nv.b)
			enter_view(r, r->view, nv.b, nv.len, min_s, max_s, min_d, &vcs[min_from]);
		raw_free(&nv);
	}
	free(b.b);
}

static void on_view_change(struct bft_replica *r, const struct bft_hdr *h, const uint8_t *m,
			   size_t len)
{
	uint64_t st;
	uint8_t sd[BFT_DIGEST];
	struct cert certs[64];
	uint64_t higher[BFT_MAX_N] = {0};
	uint32_t nh = 0;

	if (h->view < r->view || (h->view == r->view && r->active) ||
	    h->view <= r->vc_view[h->replica]) {
		if (h->view < r->view)
			r->st.wrong_view++;
		return;
	}
	if (vc_parse(r, m, len, h->view, &st, sd, certs, 64) < 0) {
		r->st.malformed++;
		return;
	}
	raw_set(&r->vc[h->replica], m, len);
	r->vc_view[h->replica] = h->view;
	/* §4.5.2: f + 1 replicas want a higher view: join the smallest of theirs. */
	for (uint32_t k = 0; k < r->m.n; k++) {
		uint32_t i = r->m.order[k];

		if (r->vc[i].b && r->vc_view[i] > r->view)
			higher[nh++] = r->vc_view[i];
	}
	if (nh >= r->m.f + 1) {
		uint64_t w = higher[0];

		for (uint32_t i = 1; i < nh; i++)
			if (higher[i] < w)
				w = higher[i];
		start_view_change(r, w);
	}
	vc_timer(r);
	try_new_view(r);
}

/* ---- state transfer ------------------------------------------------------------------ */

/* Batch @seq (<= last_exec) into @b: from the ring of recent ones, else the caller's log. */
static bool batch_get(struct bft_replica *r, uint64_t seq, struct buf *b, uint8_t *tmp)
{
	struct raw loaded = {.b = tmp};

	if (r->last_exec - seq < r->hist_cap) {
		buf_raw(b, &r->hist[seq % r->hist_cap]);
		return true;
	}
	if (r->c.ops.load == NULL)
		return false;
	loaded.len = r->c.ops.load(r->c.ctx, seq, tmp, BFT_MSG_MAX);
	if (loaded.len == 0)
		return false;
	buf_raw(b, &loaded);
	return true;
}

#define FETCH_BYTES_PER_MS (32u << 10)		/* 32 MiB/s to each asking member */
#define FETCH_BURST	   ((int64_t)2 * BFT_MSG_MAX) /* two whole answers at once */

/* May member @p be answered now? Refills its budget for the time gone by. */
static bool fetch_budget_ok(struct bft_replica *r, uint32_t p)
{
	int64_t t = r->fetch_tokens[p];

	if (r->now > r->fetch_tokens_at[p]) {
		uint64_t add = (r->now - r->fetch_tokens_at[p]) * FETCH_BYTES_PER_MS;

		t = add >= (uint64_t)FETCH_BURST ? FETCH_BURST : t + (int64_t)add;
		if (t > FETCH_BURST)
			t = FETCH_BURST;
		r->fetch_tokens_at[p] = r->now;
	}
	r->fetch_tokens[p] = t;
	return t > 0;
}

/*
 * §4.3 state transfer, the holder's side: batches from h->seq towards
 * h->view (<= what we executed), as many as fit one message.
 */
static void on_fetch(struct bft_replica *r, const struct bft_hdr *h)
{
	uint64_t from = h->seq, to = h->view, s;
	struct buf b = {0};
	uint8_t *tmp = NULL;
	uint16_t n = 0;

	if (from == 0 || to < from || from > r->last_exec)
		return;
	if (!fetch_budget_ok(r, h->replica)) {
		r->st.fetch_limited++;
		return;
	}
	if (to > r->last_exec)
		to = r->last_exec;
	buf_u16(&b, 0);
	for (s = from; s <= to && n < UINT16_MAX; s++) {
		size_t at = b.len;

		if (r->last_exec - s >= r->hist_cap && tmp == NULL &&
		    (tmp = malloc(BFT_MSG_MAX)) == NULL)
			break;
		if (!batch_get(r, s, &b, tmp) || b.oom)
			break;
		/* Room for the header and signature of the message around it. */
		if (b.len + BFT_HDR + 128 > BFT_MSG_MAX) {
			b.len = at;
			break;
		}
		n++;
	}
	free(tmp);
	if (n && !b.oom) {
		struct bft_hdr o = {.type = BFT_BATCHES,
				    .replica = r->c.id,
				    .seq = from,
				    .view = from + n - 1};

		b.b[0] = (uint8_t)n;
		b.b[1] = (uint8_t)(n >> 8);
		emit(r, (int)h->replica, &o, b.b, b.len, NULL);
		r->fetch_tokens[h->replica] -= (int64_t)b.len;
	}
	free(b.b);
}

/*
 * The fetcher's side: a chunk from fetch_peer that continues what we
 * gathered. Its batches join the buffer and the hash chain; when the chain
 * reaches fetch_target it must equal the stable checkpoint's digest, and
 * only then does anything execute.
 */
static void on_batches(struct bft_replica *r, const struct bft_hdr *h, const uint8_t *body,
		       size_t blen)
{
	struct rd rd = {.p = body, .end = body + blen};
	uint64_t next = r->last_exec + 1 + r->fetch_n;
	uint16_t n;

	if (r->fetch_target == 0 || h->replica != r->fetch_peer || h->seq != next)
		return;
	n = rd_u16(&rd);
	if (n == 0 || h->view != next + n - 1 || h->view > r->fetch_target)
		return;
	if (r->fetch_n + n > r->fetch_cap) {
		uint32_t cap = r->fetch_cap ? r->fetch_cap : 64;
		struct raw *nb;

		while (cap < r->fetch_n + n)
			cap *= 2;
		nb = realloc(r->fetch_buf, cap * sizeof(*nb));
		if (nb == NULL)
			return;
		memset(nb + r->fetch_cap, 0, (cap - r->fetch_cap) * sizeof(*nb));
		r->fetch_buf = nb;
		r->fetch_cap = cap;
	}
	if (r->fetch_n == 0)
		memcpy(r->fetch_state, r->state, BFT_DIGEST);
	for (uint16_t i = 0; i < n; i++) {
		size_t l;
		const uint8_t *b = rd_item(&rd, &l);

		/*
		 * Requests unsigned-checked: the hash chain below proves them, and
		 * their signers may be members of an older or a later membership.
		 */
		if (b == NULL || !batch_walk(r, b, l, NULL, false)) {
			/* Not batches: this peer's whole contribution is suspect. */
			r->st.malformed++;
			fetch_reset(r);
			r->fetch_peer = member_after(r, r->fetch_peer);
			return;
		}
		chain_step(r->fetch_state, b, l);
		raw_set(&r->fetch_buf[r->fetch_n++], b, l);
	}
	if (r->last_exec + r->fetch_n < r->fetch_target) {
		request_fetch(r); /* the next chunk */
		return;
	}
	/* Verify the hash chain against the stable checkpoint before executing anything. */
	if (r->h != r->fetch_target || memcmp(r->fetch_state, r->h_digest, BFT_DIGEST) != 0) {
		r->st.malformed++;
		fetch_reset(r);
		r->fetch_peer = member_after(r, r->fetch_peer);
		request_fetch(r);
		return;
	}
	{
		/* execute_batch() resets the buffer: take it out first. */
		struct raw *got = r->fetch_buf;
		uint32_t ngot = r->fetch_n;

		r->fetch_buf = NULL;
		r->fetch_cap = r->fetch_n = 0;
		r->fetch_target = 0;
		for (uint32_t i = 0; i < ngot; i++) {
			execute_batch(r, got[i].b, got[i].len);
			raw_free(&got[i]);
		}
		free(got);
	}
	r->st.state_transfers++;
	try_execute(r);
}

/*
 * Part of an answer to STATUS from @to, charged to its FETCH budget: a
 * STATUS costs as much to answer (up to a window of pre-prepares and their
 * COMMITs) and, never deduplicated, can be replayed at will. False once
 * the budget is spent: the rest waits for its next STATUS.
 */
static bool status_send(struct bft_replica *r, uint32_t to, const struct raw *m)
{
	if (r->fetch_tokens[to] <= 0)
		return false;
	r->c.ops.send(r->c.ctx, (int)to, m->b, m->len);
	r->fetch_tokens[to] -= (int64_t)m->len;
	return true;
}

/*
 * A peer is behind (STATUS): send it what lets it catch up through the
 * normal paths — our stable checkpoint's proof (then it fetches state),
 * and for each later sequence number we executed, its pre-prepare and the
 * 2f + 1 COMMITs that committed it (a commit certificate). Only to members
 * and to those the log is adding (they catch up before they vote); one the
 * log removed has no vote left to catch up for.
 */
static void on_status(struct bft_replica *r, const struct bft_hdr *h)
{
	uint32_t to = h->replica;
	bool ok = true;

	if (!r->m.in[to] && !(r->next_at && r->next.in[to])) {
		r->st.non_member++;
		return;
	}
	if (!fetch_budget_ok(r, to)) {
		r->st.fetch_limited++;
		return;
	}
	/*
	 * At or behind the last membership change: the old members' proof of
	 * it. (One that executed up to it may still wait for it to be stable,
	 * and only the old members' CHECKPOINTs prove it; a member removed
	 * there no longer sends its own.)
	 */
	if (h->seq <= r->sw_seq && r->sw_seq <= r->h)
		for (uint32_t i = 0; i < r->n_sw_proof && ok; i++)
			ok = status_send(r, to, &r->sw_proof[i]);
	if (h->seq >= r->last_exec)
		goto out;
	if (h->seq < r->h && r->sw_seq != r->h)
		for (uint32_t i = 0; i < r->n_h_proof && ok; i++)
			ok = status_send(r, to, &r->h_proof[i]);
	for (uint64_t seq = (h->seq > r->h ? h->seq : r->h) + 1; seq <= r->last_exec && ok; seq++) {
		struct slot *s = slot_of(r, seq, false);

		if (s == NULL || !s->committed || !s->has_pp)
			continue;
		ok = status_send(r, to, &s->pp);
		for (uint32_t i = 0; i < BFT_MAX_N && ok; i++) {
			if (s->com[i].has && s->com[i].view == s->pp_view &&
			    memcmp(s->com[i].d, s->d, BFT_DIGEST) == 0)
				ok = status_send(r, to, &s->com[i].m);
			if (ok && s->com2[i].has && s->com2[i].view == s->pp_view &&
			    memcmp(s->com2[i].d, s->d, BFT_DIGEST) == 0)
				ok = status_send(r, to, &s->com2[i].m);
		}
	}
out:
	if (!ok)
		r->st.fetch_limited++;
}

/* ---- entry points --------------------------------------------------------------------- */

static void dispatch(struct bft_replica *r, const struct bft_hdr *hp, const uint8_t *m, size_t len,
		     const uint8_t *body, size_t blen);

/*
 * A PREPARE for a slot already prepared in its view, or a COMMIT for one
 * already committed in its view, can change nothing (§4.2: the quorum it
 * would join is complete, and the certificates were taken when it was):
 * dropped before its signature is checked. At n = 4 one of each per
 * request arrives after its quorum at every replica, and signature checks
 * (~60 us each here) are most of a write's CPU.
 */
static bool vote_moot(struct bft_replica *r, const struct bft_hdr *h)
{
	const struct slot *s;

	if (h->type != BFT_PREPARE && h->type != BFT_COMMIT)
		return false;
	s = slot_of(r, h->seq, false);
	if (s == NULL || !s->has_pp || s->pp_view != h->view)
		return false;
	return h->type == BFT_PREPARE ? s->prepared : s->committed;
}

int bft_receive(struct bft_replica *r, const uint8_t *m, size_t len, uint64_t now)
{
	struct bft_hdr h;
	const uint8_t *body;
	size_t blen;
	uint8_t id[BFT_DIGEST];
	uint32_t slot;
	uint64_t retry0;

	r->now = now;
	if (bft_hdr_parse(m, len, &h, &body, &blen) < 0) {
		r->st.malformed++;
		return 0;
	}
	if (seen_before(r, m, len, &slot))
		return 0;
	if (vote_moot(r, &h)) {
		r->st.moot_votes++;
		return 0;
	}
	retry0 = r->st.wrong_view + r->st.out_of_window + r->st.non_member;
	if (h.type == BFT_REQUEST) {
		if (request_ok(r, m, len, id)) {
			pending_add(r, m, len, id, false);
			propose(r);
		}
		return 0;
	}
	/*
	 * State transfer serves every replica the log made known (one about to
	 * be added catches up before it votes); the rest takes members. From a
	 * non-member it may only be early (we have not reached the change
	 * yet): a later copy counts again.
	 */
	if (h.type == BFT_FETCH || h.type == BFT_STATUS ? !sig_ok(r, m, len, h.replica)
	    : h.type == BFT_CHECKPOINT /* vouched for by the members that govern it */
		? !verify_in(r, members_at(r, h.seq), m, len, &h)
		: !verify(r, m, len, &h)) {
		if (r->st.wrong_view + r->st.out_of_window + r->st.non_member != retry0)
			seen_forget(r, slot);
		return 0;
	}
	/*
	 * Votes above our window, or above a stable checkpoint we are still
	 * fetching the state of, may be governed by a membership change we
	 * have not executed yet: not judged now, a later copy counts.
	 */
	bool vote = h.type == BFT_PREPREPARE || h.type == BFT_PREPARE || h.type == BFT_COMMIT;

	if (vote && (h.seq > high(r) || (r->last_exec < r->h && h.seq > r->h)))
		r->st.out_of_window++;
	else
		dispatch(r, &h, m, len, body, blen);
	if (r->st.wrong_view + r->st.out_of_window + r->st.non_member != retry0 ||
	    h.type == BFT_FETCH || h.type == BFT_BATCHES || h.type == BFT_STATUS)
		seen_forget(r, slot);
	if (r->window_moved) {
		r->window_moved = false;
		propose(r);
	}
	return 0;
}

/* A verified message, by type. */
static void dispatch(struct bft_replica *r, const struct bft_hdr *hp, const uint8_t *m, size_t len,
		     const uint8_t *body, size_t blen)
{
	struct bft_hdr h = *hp;

	switch (h.type) {
	case BFT_PREPREPARE:
		if (!r->active || h.view != r->view) {
			struct slot *s = slot_of(r, h.seq, true);

			/* Not ours to vote on, but a body for a commit certificate. */
			if (s && pp_valid(r, &h, body, blen) && keep_other(s, &h, m, len))
				try_execute(r);
			r->st.wrong_view++;
			break;
		}
		if (!pp_valid(r, &h, body, blen)) {
			r->st.malformed++;
			break;
		}
		accept_pp(r, &h, m, len);
		break;
	case BFT_PREPARE:
	case BFT_COMMIT: {
		struct slot *s;
		struct vote *v;

		if (h.view != r->view && h.type == BFT_PREPARE) {
			r->st.wrong_view++;
			break;
		}
		if (h.type == BFT_PREPARE && h.replica == primary(r, h.view)) {
			r->st.malformed++;
			break;
		}
		s = slot_of(r, h.seq, true);
		if (s == NULL) {
			r->st.out_of_window++;
			break;
		}
		v = h.type == BFT_PREPARE ? &s->prep[h.replica] : &s->com[h.replica];
		if (v->has && v->view > h.view)
			break; /* keep the latest view's vote */
		if (h.type == BFT_COMMIT && v->has && v->view == h.view &&
		    memcmp(v->d, h.d, BFT_DIGEST) != 0) {
			struct vote *v2 = &s->com2[h.replica];

			v2->has = true;
			v2->view = h.view;
			memcpy(v2->d, h.d, BFT_DIGEST);
			raw_set(&v2->m, m, len);
			try_execute(r);
			break;
		}
		v->has = true;
		v->view = h.view;
		memcpy(v->d, h.d, BFT_DIGEST);
		raw_set(&v->m, m, len);
		try_progress(r, s);
		if (h.type == BFT_COMMIT)
			try_execute(r);
		break;
	}
	case BFT_CHECKPOINT:
		on_checkpoint(r, &h, m, len);
		break;
	case BFT_VIEWCHANGE:
		on_view_change(r, &h, m, len);
		break;
	case BFT_NEWVIEW:
		on_new_view(r, &h, m, len, body, blen);
		break;
	case BFT_FETCH:
		on_fetch(r, &h);
		break;
	case BFT_BATCHES:
		on_batches(r, &h, body, blen);
		break;
	case BFT_STATUS:
		on_status(r, &h);
		break;
	default:
		r->st.malformed++;
	}
}

int bft_submit(struct bft_replica *r, const uint8_t *req, size_t len, uint64_t now)
{
	struct bft_hdr h = {.type = BFT_REQUEST, .replica = r->c.id, .seq = ++r->req_counter};
	uint8_t *m, id[BFT_DIGEST];
	size_t ml;
	struct pending *p;

	r->now = now;
	if (len > BFT_REQ_MAX)
		return -EMSGSIZE;
	bft_hash(req, len, h.d);
	if (build_with(&r->key, &h, req, len, &m, &ml) < 0)
		return -ENOMEM;
	bft_hash(m, ml, id);
	pending_add(r, m, ml, id, true);
	p = pending_find(r, id);
	if (p)
		p->mine = true;
	/* §4.1: the client multicasts its request. */
	r->c.ops.send(r->c.ctx, -1, m, ml);
	free(m);
	propose(r);
	return 0;
}

void bft_tick(struct bft_replica *r, uint64_t now)
{
	r->now = now;
	if (r->active) {
		/* §4.5.2: a request waiting too long means the primary is faulty. */
		for (uint32_t i = 0; i < r->n_pend; i++)
			if (now >= r->pend[i].since + r->timeout) {
				start_view_change(r, r->view + 1);
				break;
			}
		/* So does a membership change whose null batches do not come. */
		if (r->active && r->next_at && r->last_exec < r->next_at &&
		    now >= r->progress_at + r->timeout)
			start_view_change(r, r->view + 1);
	} else if (now >= r->vc_deadline) {
		start_view_change(r, r->view + 1);
	}
	if (now < r->next_retransmit)
		return;
	r->next_retransmit = now + r->c.retransmit_ms;
	/* Retransmission: our part of everything not yet stable, so losses heal. */
	for (uint32_t i = 0; i < r->n_pend; i++)
		if (r->pend[i].mine)
			r->c.ops.send(r->c.ctx, -1, r->pend[i].m.b, r->pend[i].m.len);
	if (!voting(r)) {
		/* Not a member: nothing of ours counts; we only follow (STATUS below). */
	} else if (!r->active) {
		if (r->vc[r->c.id].b)
			r->c.ops.send(r->c.ctx, -1, r->vc[r->c.id].b, r->vc[r->c.id].len);
	} else {
		if (r->newview.b && r->c.id == primary(r, r->view))
			r->c.ops.send(r->c.ctx, -1, r->newview.b, r->newview.len);
		for (uint64_t seq = r->h + 1; seq <= r->h + r->c.window; seq++) {
			struct slot *s = slot_of(r, seq, false);

			/* (a restarted backup has its votes here, not the pre-prepare) */
			if (s == NULL)
				continue;
			if (s->has_pp && s->pp_view == r->view &&
			    r->c.id == primary(r, r->view))
				r->c.ops.send(r->c.ctx, -1, s->pp.b, s->pp.len);
			if (s->prep[r->c.id].has && s->prep[r->c.id].view == r->view)
				r->c.ops.send(r->c.ctx, -1, s->prep[r->c.id].m.b,
					      s->prep[r->c.id].m.len);
			if (s->com[r->c.id].has && s->com[r->c.id].view == r->view)
				r->c.ops.send(r->c.ctx, -1, s->com[r->c.id].m.b,
					      s->com[r->c.id].m.len);
		}
	}
	if (r->own_ckpt.b && voting(r))
		r->c.ops.send(r->c.ctx, -1, r->own_ckpt.b, r->own_ckpt.len);
	/*
	 * Waiting on something (a view change, old requests): maybe we are
	 * behind. A replica the log is about to add always asks: it has to
	 * catch up before it can vote.
	 */
	bool waiting = !r->active || !voting(r) ||
		       (r->next_at && r->last_exec >= r->next_at && r->h < r->next_at);

	for (uint32_t i = 0; i < r->n_pend && !waiting; i++)
		waiting = now >= r->pend[i].since + r->c.view_timeout_ms / 2;
	/*
	 * Or a peer committed the next number and we have not, for as long:
	 * an equivocating primary gave us alone another pre-prepare and sends
	 * us its COMMIT for another digest, so with n = 5 (quorum 4, every
	 * honest replica) the other three honest COMMITs never certify it
	 * here. No request of ours waits to make us ask, and once the log is
	 * quiet no checkpoint comes; a peer's answer to STATUS carries the
	 * COMMITs we were not sent (test_bft_scripted 2b; found by make soak,
	 * seed 2771 of n4_add_a_member). Only this view's: one of an earlier
	 * view may be for a number the view change let go, and would make us
	 * ask at every tick while idle.
	 */
	if (!waiting && now >= r->progress_at + r->c.view_timeout_ms / 2) {
		const struct slot *s = slot_of(r, r->last_exec + 1, false);

		for (uint32_t i = 0; s && !s->committed && i < BFT_MAX_N && !waiting; i++)
			waiting = i != r->c.id && s->com[i].has && s->com[i].view == r->view;
	}
	if (waiting) {
		struct bft_hdr st = {
		    .type = BFT_STATUS, .replica = r->c.id, .seq = r->last_exec, .view = r->view};

		emit(r, -1, &st, NULL, 0, NULL);
	}
	if (r->recount) {
		r->recount = false;
		for (int k = 0; k < CKPT_SLOTS; k++)
			if (r->ckpts[k].seq > r->h)
				try_stable(r, &r->ckpts[k]);
	}
	if (r->fetch_target && r->fetch_n == r->fetch_n_at_tick && r->last_exec < r->fetch_target)
		r->fetch_peer = member_after(r, r->fetch_peer); /* no answer since the last tick */
	r->fetch_n_at_tick = r->fetch_n;
	request_fetch(r);
	try_execute(r);
	propose(r);
}

int bft_replay(struct bft_replica *r, uint64_t seq, const uint8_t *batch, size_t len)
{
	if (seq != r->last_exec + 1)
		return -EINVAL;
	if (!batch_walk(r, batch, len, NULL, false))
		return -EBADMSG;
	r->replaying = true;
	execute_batch(r, batch, len);
	r->replaying = false;
	if (r->next_seq <= r->last_exec)
		r->next_seq = r->last_exec + 1;
	return 0;
}

/* A BFT_CERT record from our log: the certificate goes back into its slot. */
static int restore_cert(struct bft_replica *r, const struct bft_hdr *h, const uint8_t *body,
			size_t blen)
{
	struct rd rd = {.p = body, .end = body + blen};
	struct cert c;
	struct slot *s;
	struct bft_hdr ph;
	const uint8_t *pb;
	size_t pbl;

	/*
	 * At or below where the last membership change took effect: below a
	 * stable checkpoint, and maybe certified by members we no longer
	 * know (two changes ago). Nothing left to prove there.
	 */
	if (h->seq <= r->h || h->seq <= r->prev_until)
		return 0;
	if (!cert_read(r, &rd, UINT64_MAX, 0, UINT64_MAX, &c) || rd.p != rd.end ||
	    bft_hdr_parse(c.pp, c.pp_len, &ph, &pb, &pbl) < 0 || ph.seq != h->seq ||
	    ph.view != h->view || memcmp(ph.d, h->d, BFT_DIGEST) != 0)
		return -EBADMSG;
	/*
	 * Kept for everything above the stable checkpoint, executed or not:
	 * §4.4's P set has every request prepared above it, and a new view
	 * derived without one we executed could put another batch there.
	 */
	s = slot_of(r, h->seq, true);
	if (s == NULL || (s->has_cert && s->cert_view >= h->view))
		return 0; /* outside the window a VIEW-CHANGE covers, or older */
	s->has_cert = true;
	s->cert_view = h->view;
	raw_set(&s->cert_pp, c.pp, c.pp_len);
	/* Read the PREPAREs again, now into the slot (cert_read checked them). */
	rd = (struct rd){.p = body, .end = body + blen};
	rd_item(&rd, &(size_t){0});
	s->n_cert_prep = rd_u16(&rd);
	for (uint32_t k = 0; k < s->n_cert_prep; k++) {
		size_t ql;
		const uint8_t *q = rd_item(&rd, &ql);

		raw_set(&s->cert_prep[k], q, ql);
	}
	return 0;
}

/* A BFT_STABLE record: our stable checkpoint comes back, and with it the window. */
static int restore_stable(struct bft_replica *r, const struct bft_hdr *h, const uint8_t *body,
			  size_t blen)
{
	struct rd rd = {.p = body, .end = body + blen};
	uint8_t d[BFT_DIGEST];
	struct raw proof[BFT_MAX_N];

	if (h->seq != 0 && (h->seq <= r->h || h->seq < r->prev_until))
		return 0; /* superseded (and maybe proven by members we no longer know) */
	if (h->seq == 0 || !ckpt_proof_ok(r, &rd, h->seq, d) || rd.p != rd.end ||
	    memcmp(d, h->d, BFT_DIGEST) != 0)
		return -EBADMSG;
	/* Behind it (batches.log lost its tail)? make_stable() has it fetched. */
	make_stable(r, h->seq, d, proof, proof_items(body, blen, proof), false);
	return 0;
}

/*
 * Our own PRE-PREPARE, PREPARE or COMMIT back into its slot (above the
 * stable checkpoint): the tick retransmits it as before the restart, so a
 * member left a batch behind by the crash gets the votes that commit it,
 * and a STATUS answer can carry what we executed since.
 */
static void restore_vote(struct bft_replica *r, const struct bft_hdr *h, const uint8_t *m,
			 size_t len)
{
	struct slot *s = slot_of(r, h->seq, true);
	struct vote *v;

	if (s == NULL)
		return;
	if (h->type == BFT_PREPREPARE) {
		if (s->has_pp && s->pp_view >= h->view)
			return;
		raw_set(&s->pp, m, len);
		s->has_pp = true;
		s->pp_view = h->view;
		memcpy(s->d, h->d, BFT_DIGEST);
		s->prepared = false;
		s->committed = h->seq <= r->last_exec; /* replayed: it did commit */
		return;
	}
	v = h->type == BFT_PREPARE ? &s->prep[r->c.id] : &s->com[r->c.id];
	if (v->has && v->view > h->view)
		return;
	v->has = true;
	v->view = h->view;
	memcpy(v->d, h->d, BFT_DIGEST);
	raw_set(&v->m, m, len);
}

/*
 * The NEW-VIEW we sent as a primary: we are in its view again, resend it
 * (a member that restarted in an older view, or one just added, enters
 * the view from it) and keep its pre-prepares O, which assigned sequence
 * numbers we must not assign again.
 */
static void restore_newview(struct bft_replica *r, const struct bft_hdr *h, const uint8_t *m,
			    size_t len, const uint8_t *body, size_t blen)
{
	struct rd rd = {.p = body, .end = body + blen};
	uint16_t n;

	if (h->view < r->view)
		return;
	r->view = h->view;
	raw_set(&r->newview, m, len);
	n = rd_u16(&rd);
	for (uint16_t i = 0; i < n && !rd.bad; i++)
		rd_item(&rd, &(size_t){0});
	n = rd_u16(&rd);
	for (uint16_t i = 0; i < n && !rd.bad; i++) {
		size_t l;
		const uint8_t *pp = rd_item(&rd, &l), *pb;
		struct bft_hdr ph;
		size_t pbl;

		if (pp == NULL || bft_hdr_parse(pp, l, &ph, &pb, &pbl) < 0 ||
		    ph.type != BFT_PREPREPARE || ph.view != h->view || ph.replica != r->c.id)
			continue;
		if (r->next_seq <= ph.seq)
			r->next_seq = ph.seq + 1;
		restore_vote(r, &ph, pp, l);
	}
}

int bft_restore_sent(struct bft_replica *r, const uint8_t *m, size_t len)
{
	struct bft_hdr h;
	const uint8_t *body;
	size_t blen;

	if (bft_hdr_parse(m, len, &h, &body, &blen) < 0)
		return -EBADMSG;
	if (h.replica != r->c.id || !sig_ok(r, m, len, h.replica))
		return -EPERM;
	switch (h.type) {
	case BFT_PREPREPARE:
	case BFT_PREPARE:
	case BFT_COMMIT:
		if (h.view > r->view)
			r->view = h.view;
		restore_vote(r, &h, m, len);
		if (h.seq <= r->last_exec)
			break;
		if (h.type == BFT_PREPREPARE && h.view == r->view && r->next_seq <= h.seq)
			r->next_seq = h.seq + 1;
		if (r->n_voted < VOTED_MAX) {
			r->voted[r->n_voted].view = h.view;
			r->voted[r->n_voted].seq = h.seq;
			memcpy(r->voted[r->n_voted].d, h.d, BFT_DIGEST);
			r->n_voted++;
		}
		break;
	case BFT_VIEWCHANGE:
		if (h.view > r->restored_vc)
			r->restored_vc = h.view;
		break;
	case BFT_NEWVIEW:
		restore_newview(r, &h, m, len, body, blen);
		break;
	case BFT_CERT:
		return restore_cert(r, &h, body, blen);
	case BFT_STABLE:
		return restore_stable(r, &h, body, blen);
	case BFT_HORIZON:
		/*
		 * The latest promise binds (records come oldest first): a seal
		 * (bft_seal) after the last ones of a view lowers it to what was
		 * voted, all of it durable then.
		 */
		r->fence_view = r->hz_view = h.view;
		r->fence_seq = r->hz_seq = r->vote_top = h.seq;
		if (h.view > r->view)
			r->view = h.view;
		break;
	default:
		break; /* nothing else binds us */
	}
	r->st.view = r->view;
	return 0;
}

void bft_seal(struct bft_replica *r)
{
	struct bft_hdr h = {.type = BFT_HORIZON, .replica = r->c.id, .view = r->hz_view};

	if (r->hz_seq == 0 || !voting(r))
		return; /* (no vote to cover) */
	h.seq = r->hz_seq = r->vote_top;
	emit(r, (int)r->c.id, &h, NULL, 0, NULL);
}

void bft_restore_done(struct bft_replica *r, uint64_t now)
{
	r->now = now;
	/* We had asked for a view beyond the last one we worked in: ask again. */
	if (r->restored_vc > r->view)
		start_view_change(r, r->restored_vc);
}

uint64_t bft_last_executed(const struct bft_replica *r)
{
	return r->last_exec;
}

int bft_reconfigure(struct bft_replica *r, const uint32_t *ids, const uint8_t (*pubs)[BFT_KEY],
		    uint32_t count)
{
	bool in[BFT_MAX_N] = {false};
	uint64_t k = r->c.checkpoint_interval;

	if (r->change_e && r->last_exec <= r->change_e)
		return -EBUSY;
	if (count < 4 || count > BFT_MAX_N)
		return -EINVAL;
	for (uint32_t i = 0; i < count; i++) {
		uint8_t known[BFT_KEY];
		word32 kl = BFT_KEY;

		if (ids[i] >= BFT_MAX_N || in[ids[i]])
			return -EINVAL;
		/* A member keeps its key: a new one would make its old votes someone else's. */
		if (r->have_pub[ids[i]] &&
		    (wc_ed25519_export_public(&r->pubs[ids[i]], known, &kl) != 0 ||
		     memcmp(known, pubs[i], BFT_KEY) != 0))
			return -EINVAL;
		in[ids[i]] = true;
	}
	for (uint32_t i = 0; i < count; i++) {
		ed25519_key *key = &r->pubs[ids[i]];

		if (r->have_pub[ids[i]])
			continue;
		if (wc_ed25519_init(key) != 0)
			return -EINVAL;
		if (wc_ed25519_import_public(pubs[i], BFT_KEY, key) != 0) {
			wc_ed25519_free(key);
			return -EINVAL;
		}
		r->have_pub[ids[i]] = true;
	}
	members_set(&r->next, in);
	/*
	 * In force after the first checkpoint at least a window past this
	 * batch: no replica can have voted that far before executing it (its
	 * window ends below), so every vote above next_at is cast knowing the
	 * new members, and every one below it under the old ones.
	 */
	r->next_at = (r->last_exec + r->c.window + k - 1) / k * k;
	r->change_e = r->next_at;
	r->progress_at = r->now;
	r->window_moved = true;
	if (r->h >= r->next_at)
		switch_members(r); /* a state transfer already took us past it */
	return 0;
}

uint32_t bft_members(const struct bft_replica *r, uint32_t ids[BFT_MAX_N])
{
	memcpy(ids, r->m.order, r->m.n * sizeof(ids[0]));
	return r->m.n;
}

void bft_stats_get(const struct bft_replica *r, struct bft_stats *out)
{
	*out = r->st;
	out->view = r->view;
	out->primary = primary(r, r->view);
	out->member = voting(r);
	out->reconfig_at = r->change_e && r->last_exec <= r->change_e ? r->change_e : 0;
}

int bft_create(const struct bft_config *c, struct bft_replica **out)
{
	struct bft_replica *r;

	bool in[BFT_MAX_N] = {false};

	if (c->n < 4 || c->n > BFT_MAX_N || c->id >= BFT_MAX_N || c->checkpoint_interval == 0 ||
	    c->window == 0 || c->window % c->checkpoint_interval != 0 || c->batch_max == 0 ||
	    c->batch_max > BFT_BATCH_MAX || c->view_timeout_ms == 0 || c->retransmit_ms == 0 ||
	    c->ops.send == NULL || c->ops.execute == NULL)
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return -ENOMEM;
	r->c = *c;
	for (uint32_t i = 0; i < c->n; i++)
		in[i] = true;
	members_set(&r->m, in);
	r->st.members = r->m.n;
	r->active = true;
	r->timeout = c->view_timeout_ms;
	r->next_seq = 1;
	r->hist_cap = 8 * c->window;
	for (uint32_t i = 0; i < BFT_MAX_N; i++)
		r->fetch_tokens[i] = FETCH_BURST;
	r->done_cap = 1024;
	r->slots = calloc(c->window, sizeof(*r->slots));
	r->pend = calloc(PENDING_MAX, sizeof(*r->pend));
	r->done = calloc(r->done_cap, BFT_DIGEST);
	r->hist = calloc(r->hist_cap, sizeof(*r->hist));
	r->seen = calloc(SEEN_MAX, BFT_DIGEST);
	if (!r->slots || !r->pend || !r->done || !r->hist || !r->seen ||
	    key_from_seed(c->priv, &r->key) < 0)
		goto err;
	for (uint32_t i = 0; i < c->n; i++) {
		if (wc_ed25519_init(&r->pubs[i]) != 0)
			goto err;
		r->have_pub[i] = true;
		if (wc_ed25519_import_public(c->pub[i], BFT_KEY, &r->pubs[i]) != 0)
			goto err;
	}
	if (c->id >= c->n) {
		/* Not a member yet (one the log will add): our own key, to check our log. */
		uint8_t pub[BFT_KEY];

		if (bft_public_key(c->priv, pub) < 0 || wc_ed25519_init(&r->pubs[c->id]) != 0)
			goto err;
		r->have_pub[c->id] = true;
		if (wc_ed25519_import_public(pub, BFT_KEY, &r->pubs[c->id]) != 0)
			goto err;
	}
	*out = r;
	return 0;
err:
	bft_destroy(r);
	return -EINVAL;
}

void bft_destroy(struct bft_replica *r)
{
	if (r == NULL)
		return;
	for (uint32_t i = 0; r->slots && i < r->c.window; i++) {
		struct slot *s = &r->slots[i];

		raw_free(&s->pp);
		raw_free(&s->cert_pp);
		for (uint32_t k = 0; k < BFT_MAX_N; k++) {
			raw_free(&s->prep[k].m);
			raw_free(&s->com[k].m);
			raw_free(&s->com2[k].m);
			raw_free(&s->cert_prep[k]);
		}
		for (uint32_t k = 0; k < 4; k++)
			raw_free(&s->other_pp[k]);
	}
	for (int i = 0; i < CKPT_SLOTS; i++)
		for (uint32_t k = 0; k < BFT_MAX_N; k++)
			raw_free(&r->ckpts[i].v[k].m);
	for (uint32_t i = 0; r->pend && i < r->n_pend; i++)
		raw_free(&r->pend[i].m);
	for (uint32_t i = 0; r->hist && i < r->hist_cap; i++)
		raw_free(&r->hist[i]);
	fetch_reset(r);
	free(r->fetch_buf);
	for (uint32_t i = 0; i < BFT_MAX_N; i++) {
		raw_free(&r->vc[i]);
		raw_free(&r->h_proof[i]);
		raw_free(&r->sw_proof[i]);
	}
	raw_free(&r->newview);
	raw_free(&r->own_ckpt);
	wc_ed25519_free(&r->key);
	for (uint32_t i = 0; i < BFT_MAX_N; i++)
		if (r->have_pub[i])
			wc_ed25519_free(&r->pubs[i]);
	free(r->slots);
	free(r->pend);
	free(r->done);
	free(r->hist);
	free(r->seen);
	free(r);
}
