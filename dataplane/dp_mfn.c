/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dp_mfn — the MFN pipeline behind dp_pipeline_ops: every burst is looked up
 * in L1 (IFR); a flow L1 does not know is classified by L2 (DSR), placed by
 * L3 (ALM), and registered in L1 by the main lcore; L4 (CPE) forecasts each
 * service's load from the per-service counters on the main lcore.
 *
 * Threads
 *   Processing lcores (RTC or worker) call process(): they only read the
 *   shared tables (IFR, ALM, the port → service map) and write their own
 *   struct dp_mfn_lcore. They hand new flows to the main lcore through an
 *   SP/SC ring each; the main lcore is the one writer of the IFR and ALM
 *   (STYLE §6: per-lcore data instead of locks). Each processing lcore is a
 *   reader on one QSBR variable: online in lcore_enter, a quiescent state
 *   per loop iteration, offline in lcore_exit.
 *   Until the main lcore has registered a new flow (within a millisecond),
 *   the lcore remembers its decision in a small direct-mapped "pending"
 *   table, so the flow's next packets neither run L2 again (which would
 *   count the same DCID twice as a replay) nor move.
 *
 * Forwarding: the destination of a packet is its flow's backend. With
 * mfn_rewrite = dnat the worker rewrites the destination address and UDP
 * port to the backend's (RFC 1624 incremental checksum updates, IPv4 header
 * and UDP; IPv6 UDP); the TX stage then sets the next-hop MAC as for every
 * packet.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <rte_byteorder.h>
#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_hash_crc.h>
#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>
#include <rte_telemetry.h>

#include "alm.h"
#include "cpe.h"
#include "dp_app.h"
#include "dp_mfn.h"
#include "dp_mfn_priv.h"
#include "dp_stats.h"
#include "dp_quiclb.h"
#include "dsr.h"
#include "hm_knobs.h"
#include "ifr.h"

#define DP_MFN_PENDING	  1024 /* per lcore, power of two */
#define DP_MFN_TIME_EVERY 8    /* one burst in this many has its L1 time measured; power of two */
#define DP_MFN_RL_BUCKETS 4096
#define DP_MFN_FB	  1024 /* handshake-feedback slots per lcore, power of two */
#define DP_MFN_FB_TTL_S	  10   /* a handshake not seen by then is not waited for */
#define DP_MFN_INS_RING	  4096
#define DP_MFN_PRED_H	  DP_MFN_PRED_MAX

/* A new flow handed to the main lcore for registration in L1. */
struct dp_mfn_ins {
	struct mfn_flow_key key;
	uint64_t decision;
	uint32_t service;
	uint32_t _pad;
};

struct dp_mfn_pending {
	struct mfn_flow_key key;
	uint64_t decision;
	uint32_t service;
	uint32_t gen; /* ALM generation the decision was made in; 0 = empty */
};

/*
 * A flow L2 let through on its Initial, waiting to be seen completing its
 * handshake (a 1-RTT packet) so the reservoir learns "ordinary client" from
 * real outcomes (mfn_dsr_feedback). Per lcore, by flow hash; entries not
 * confirmed within DP_MFN_FB_TTL_S are dropped by a one-slot-per-burst sweep.
 */
struct dp_mfn_fb {
	struct mfn_flow_key key;
	struct mfn_dsr_vec vec;
	bool used;
	uint64_t tsc;
};

struct dp_mfn_svc_ctr {
	uint64_t flows, packets, bytes;
};

/* A service's latest forecast, published by the main lcore under a seqlock. */
struct dp_mfn_pred {
	uint32_t seq;  /* odd while being written */
	uint8_t state; /* 0 unknown, 1 last-value (warming up), 2 model */
	uint64_t t_ns;
	struct mfn_cpe_forecast f[DP_MFN_PRED_H];
};

struct dp_mfn_lcore {
	struct mfn_dsr *dsr;
	struct rte_ring *ins;
	struct dp_mfn_pending *pending;
	struct dp_mfn_fb *fb;
	uint32_t fb_live, fb_sweep;
	struct dp_mfn_bucket *rl;
	struct dp_mfn_svc_ctr *svc; /* mfn_services entries */
	struct mfn_ifr_reader rd;   /* L1 filter policy of this lcore */
	struct dp_quiclb_lcore *qlb; /* NULL: mfn_quic_lb off */
	uint32_t chunks;	    /* bursts seen; every DP_MFN_TIME_EVERY-th is timed */
	bool used;
} __rte_cache_aligned;

struct dp_mfn;
/* The running pipeline (one per process), for the telemetry callbacks. */
static struct dp_mfn *dp_mfn_the;

struct dp_mfn {
	const struct dp_app *app;
	struct rte_rcu_qsbr *qsv;
	struct mfn_ifr *ifr;
	struct mfn_alm *alm;
	struct mfn_cpe *cpe;
	uint32_t alm_gen; /* bumped by every ALM commit: invalidates pending decisions */
	/*
	 * TSC read by the main lcore each tick (1 ms): the "now" of flow
	 * timestamps, token buckets and L2 observations. rdtsc costs ~20-50
	 * cycles (more under a hypervisor) and the flows age in seconds.
	 */
	uint64_t now_tsc;
	/* UDP destination port (host order) → service id + 1; 0: no service. */
	uint32_t *svc_by_port;
	uint32_t n_services, n_backends;
	uint8_t *purge; /* backends deleted since the last commit: purge their L1 flows */
	uint64_t tsc_hz;
	uint64_t ns_per_tsc_q32; /* ns = tsc * this >> 32 */
	uint64_t rl_rate_x1000, rl_burst_x1000;
	uint64_t next_age_ns, next_cpe_ns;
	uint64_t age_sweep_start_ns, age_period_ns; /* see mfn_main_poll */
	uint64_t cpe_prev[3 * DP_MFN_SERVICES_MAX];
	struct dp_mfn_pred *pred; /* n_services entries */
	struct dp_quiclb qlb;	  /* mfn_quic_lb */
	/* Router mode (backend_port >= 0): the two ports' ids; -1 when off. */
	int backend_port, client_port;
	struct dp_mfn_lcore lc[RTE_MAX_LCORE];
};

struct dp_mfn *dp_mfn_get(void)
{
	return dp_mfn_the;
}

int dp_mfn_knob_set(struct dp_mfn *m, int knob, uint64_t v)
{
	switch (knob) {
	case HM_KNOB_MFN_RATE_LIMIT:
		__atomic_store_n(&m->rl_rate_x1000, v * 1000, __ATOMIC_RELAXED);
		__atomic_store_n(&m->rl_burst_x1000, v * 1000 / 4 + 1000, __ATOMIC_RELAXED);
		return 0;
	case HM_KNOB_MFN_IDLE_TIMEOUT_MS:
		/* Ageing runs here, on the main lcore: no one else reads these. */
		mfn_ifr_set_idle_timeout(m->ifr, v);
		m->age_period_ns = v * 1000000 / 8;
		return 0;
	default:
		return -ENOTSUP;
	}
}

static inline uint64_t tsc_to_ns(const struct dp_mfn *m, uint64_t tsc)
{
	return (uint64_t)(((unsigned __int128)tsc * m->ns_per_tsc_q32) >> 32);
}

/* ---- destination rewrite -------------------------------------------------- */

/* RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), over 16-bit words. */
static inline uint16_t csum_replace(uint16_t hc, const uint16_t *old, const uint16_t *new_,
				    unsigned int words)
{
	uint32_t s = (uint16_t)~hc;

	for (unsigned int i = 0; i < words; i++) {
		s += (uint16_t)~old[i];
		s += new_[i];
	}
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/*
 * Rewrite the source (@dst false) or destination address to @addr of
 * @family, and the same side's UDP port to *@port when given, keeping the
 * IPv4 header checksum and the UDP checksum right (RFC 1624 incremental
 * updates). Returns false when the families differ (the caller drops).
 */
static inline bool rewrite(struct rte_mbuf *mb, const struct dp_pkt_info *pi, bool dst, int family,
			   const uint8_t *addr, const uint16_t *port)
{
	uint8_t *f = rte_pktmbuf_mtod(mb, uint8_t *);
	uint8_t *ip = f + pi->l3_off, *udp = f + pi->l4_off;
	uint8_t *pp = udp + (dst ? 2 : 0);
	uint16_t uck, old_port;

	memcpy(&old_port, pp, 2);
	memcpy(&uck, udp + 6, 2);
	if (pi->ip_version == 4) {
		uint8_t *a = ip + (dst ? 16 : 12);
		uint16_t old_a[2], new_a[2], ipck;

		if (family != AF_INET)
			return false;
		memcpy(old_a, a, 4);
		memcpy(new_a, addr, 4);
		memcpy(&ipck, ip + 10, 2);
		ipck = csum_replace(ipck, old_a, new_a, 2);
		memcpy(ip + 10, &ipck, 2);
		memcpy(a, addr, 4);
		/* RFC 768: a zero UDP checksum over IPv4 means "none"; keep it so. */
		if (uck != 0) {
			uck = csum_replace(uck, old_a, new_a, 2);
			if (port)
				uck = csum_replace(uck, &old_port, port, 1);
			if (uck == 0)
				uck = 0xffff;
		}
	} else {
		uint8_t *a = ip + (dst ? 24 : 8);
		uint16_t old_a[8], new_a[8];

		if (family != AF_INET6)
			return false;
		memcpy(old_a, a, 16);
		memcpy(new_a, addr, 16);
		memcpy(a, addr, 16);
		/* RFC 8200 §8.1: the UDP checksum is mandatory over IPv6. */
		uck = csum_replace(uck, old_a, new_a, 8);
		if (port)
			uck = csum_replace(uck, &old_port, port, 1);
		if (uck == 0)
			uck = 0xffff;
	}
	if (port)
		memcpy(pp, port, 2);
	memcpy(udp + 6, &uck, 2);
	return true;
}

/* New flow or known: destination address and port := backend @b's. */
static inline bool dnat(struct rte_mbuf *mb, const struct dp_pkt_info *pi,
			const struct mfn_alm_backend *b)
{
	const uint16_t port = rte_cpu_to_be_16(b->port);

	return rewrite(mb, pi, true, b->family, b->addr, &port);
}

/*
 * Router mode, a reply from a backend: source address := @a (the service
 * address clients used), so the client sees its server answer. Stateless:
 * the backend's port is the service's port.
 */
static inline bool snat_reply(struct rte_mbuf *mb, const struct dp_pkt_info *pi,
			      const struct dp_addr *a)
{
	return rewrite(mb, pi, false, a->family, a->b, NULL);
}

/* ---- the packet path ------------------------------------------------------ */

static inline void key_of(const struct dp_mfn *m, struct rte_mbuf *mb, const struct dp_pkt_info *pi,
			  struct mfn_flow_key *k)
{
	if (m->app->cfg.mfn_flow_key == DP_MFN_KEY_CID && pi->dcid_len > 0)
		mfn_key_from_cid(k, rte_pktmbuf_mtod(mb, const uint8_t *) + pi->dcid_off,
				 pi->dcid_len);
	else
		mfn_key_from_tuple(k, pi->ip_version, pi->src, pi->dst, pi->sport, pi->dport);
}

static inline uint32_t key_hash(const struct mfn_flow_key *k)
{
	return rte_hash_crc(k, sizeof(*k), 0x6a09e667);
}

static const uint8_t dsr_pkt_of[] = {
    [DP_QUIC_INITIAL] = MFN_DSR_PKT_INITIAL,	     [DP_QUIC_0RTT] = MFN_DSR_PKT_0RTT,
    [DP_QUIC_HANDSHAKE] = MFN_DSR_PKT_HANDSHAKE,     [DP_QUIC_RETRY] = MFN_DSR_PKT_RETRY,
    [DP_QUIC_VERSION_NEG] = MFN_DSR_PKT_VN,	     [DP_QUIC_SHORT] = MFN_DSR_PKT_SHORT,
    [DP_QUIC_UNKNOWN_VERSION] = MFN_DSR_PKT_UNKNOWN,
};

static void dsr_obs_of(struct rte_mbuf *mb, const struct dp_pkt_info *pi, uint64_t now_ns,
		       struct mfn_dsr_obs *o)
{
	o->ts_ns = now_ns;
	o->version = pi->version;
	o->udp_len = pi->quic_len;
	o->token_len = pi->token_len;
	o->pkt_type =
	    pi->quic_type < RTE_DIM(dsr_pkt_of) ? dsr_pkt_of[pi->quic_type] : MFN_DSR_PKT_UNKNOWN;
	o->has_token = (pi->flags & DP_PKT_F_TOKEN) != 0;
	o->dcid_len = pi->dcid_len;
	o->scid_len = pi->scid_len;
	memcpy(o->dcid, rte_pktmbuf_mtod(mb, const uint8_t *) + pi->dcid_off, pi->dcid_len);
	o->ip_version = pi->ip_version;
	memcpy(o->src, pi->src, 16);
}

/* Token bucket per source (hashed); true when the packet may pass. */
static inline bool rate_ok(const struct dp_mfn *m, struct dp_mfn_lcore *lc,
			   const struct dp_pkt_info *pi, uint64_t tsc)
{
	/* Per source prefix, as L2 keeps its history: /24 for IPv4, /48 for IPv6. */
	uint32_t h = rte_hash_crc(pi->src, pi->ip_version == 4 ? 3 : 6, 0x3c6ef372);
	/* Relaxed loads: the main lcore may change them (CONFIG_SET mfn_rate_limit). */
	const uint64_t rate = __atomic_load_n(&m->rl_rate_x1000, __ATOMIC_RELAXED);
	const uint64_t burst = __atomic_load_n(&m->rl_burst_x1000, __ATOMIC_RELAXED);

	return dp_mfn_bucket_take(&lc->rl[h & (DP_MFN_RL_BUCKETS - 1)], tsc, rate, burst,
				  m->tsc_hz);
}

/* L3: the backend for flow @k of @service; @t0 is when the decision began (TSC). */
static bool l3_decide(struct dp_mfn *m, struct dp_lcore_stats *st, const struct mfn_flow_key *k,
		      uint32_t service, uint64_t t0, uint64_t *decision, int *drop)
{
	struct mfn_alm_decision d;
	int rc = mfn_alm_pick(m->alm, service, key_hash(k), &d);
	uint64_t ns = tsc_to_ns(m, rte_rdtsc() - t0);

	DP_COUNT(st->c[DP_C_MFN_NS_L3] += ns);
	DP_HIST(st->hist[DP_H_MFN_L3], ns);
	if (rc < 0) {
		*drop = rc == -ENOENT ? DP_D_MFN_NO_SERVICE : DP_D_MFN_NO_BACKEND;
		return false;
	}
	DP_COUNT(st->c[DP_C_MFN_L3_DECISIONS]++);
	DP_COUNT(st->c[DP_C_MFN_L3_REMOTE] += d.node != m->app->cfg.mfn_node_id);
	*decision = MFN_IFR_DECISION(d.backend, d.node, 0);
	return true;
}

/*
 * A flow L1 does not know: L2 then L3. Returns the decision or 0 with
 * @drop set to the reason's counter index.
 */
static bool decide_new(struct dp_mfn *m, struct dp_mfn_lcore *lc, struct dp_lcore_stats *st,
		       struct rte_mbuf *mb, const struct dp_pkt_info *pi,
		       const struct mfn_flow_key *k, uint32_t service, uint64_t tsc,
		       uint64_t *decision, int *drop)
{
	uint64_t t0 = rte_rdtsc(), ns;
	int rc;

	/*
	 * A short header whose DCID carries a server id (QUIC-LB) belongs to
	 * a connection that backend holds: send it there, whatever L3 would
	 * pick for a new flow. Anything else goes on to L2 and L3.
	 */
	if (lc->qlb != NULL && pi->quic_type == DP_QUIC_SHORT && pi->dcid_len) {
		struct mfn_alm_backend b;
		uint32_t sid;

		if (dp_quiclb_decode(&m->qlb, lc->qlb, rte_pktmbuf_mtod(mb, const uint8_t *) +
							     pi->dcid_off,
				     pi->dcid_len, &sid) == 0 &&
		    mfn_alm_backend_get(m->alm, sid, &b) == 0 && b.service == service && b.healthy) {
			DP_COUNT(st->c[DP_C_MFN_QUICLB_ROUTED]++);
			*decision = MFN_IFR_DECISION(b.id, b.node, 0);
			return true;
		}
		DP_COUNT(st->c[DP_C_MFN_QUICLB_MISS]++);
	}
	if (lc->dsr != NULL) {
		struct mfn_dsr_obs o;
		struct mfn_dsr_verdict v;

		dsr_obs_of(mb, pi, tsc_to_ns(m, tsc), &o);
		rc = mfn_dsr_classify(lc->dsr, &o, &v);
		DP_COUNT(st->c[DP_C_MFN_L2_NEW_FLOWS]++);
		switch (rc < 0 ? MFN_DSR_ADMIT : v.action) {
		case MFN_DSR_ADMIT:
			DP_COUNT(st->c[DP_C_MFN_L2_ADMIT]++);
			break;
		case MFN_DSR_RETRY:
			/*
			 * The dataplane does not originate Retry packets: the
			 * flow goes to its backend, whose STOQ server validates
			 * the address with Retry (RFC 9000 §8.1.2).
			 */
			DP_COUNT(st->c[DP_C_MFN_L2_RETRY]++);
			break;
		case MFN_DSR_RATE_LIMIT:
			if (!rate_ok(m, lc, pi, tsc)) {
				*drop = DP_D_MFN_L2_RATELIMIT;
				goto out;
			}
			DP_COUNT(st->c[DP_C_MFN_L2_RATE_PASS]++);
			break;
		default:
			*drop = DP_D_MFN_L2_DROP;
			goto out;
		}
		if (rc == 0 && pi->quic_type == DP_QUIC_INITIAL) {
			struct dp_mfn_fb *f = &lc->fb[key_hash(k) & (DP_MFN_FB - 1)];

			lc->fb_live += !f->used;
			f->used = true;
			f->key = *k;
			f->vec = v.vec;
			f->tsc = tsc;
		}
		uint64_t t1 = rte_rdtsc();

		ns = tsc_to_ns(m, t1 - t0);
		DP_COUNT(st->c[DP_C_MFN_NS_L2] += ns);
		DP_HIST(st->hist[DP_H_MFN_L2], ns);
		t0 = t1;
	}
	return l3_decide(m, st, k, service, t0, decision, drop);
out:
	ns = tsc_to_ns(m, rte_rdtsc() - t0);
	DP_COUNT(st->c[DP_C_MFN_NS_L2] += ns);
	DP_HIST(st->hist[DP_H_MFN_L2], ns);
	return false;
}

/*
 * A new decision: in the lcore's pending table (later packets of the flow
 * before L1 has it) and queued for the main lcore to register in L1.
 */
static inline void remember(struct dp_mfn_pending *p, struct dp_mfn_ins *in,
			    const struct mfn_flow_key *k, uint64_t decision, uint32_t service,
			    uint32_t gen)
{
	p->key = *k;
	p->decision = decision;
	p->service = service;
	p->gen = gen;
	in->key = *k;
	in->decision = decision;
	in->service = service;
}

/* A 1-RTT packet of a flow L2 admitted on its Initial: the handshake completed. */
static void handshake_seen(struct dp_mfn_lcore *lc, struct dp_lcore_stats *st,
			   const struct mfn_flow_key *k)
{
	struct dp_mfn_fb *f = &lc->fb[key_hash(k) & (DP_MFN_FB - 1)];

	if (!f->used || memcmp(&f->key, k, sizeof(*k)) != 0)
		return;
	f->used = false;
	lc->fb_live--;
	if (mfn_dsr_feedback(lc->dsr, &f->vec, MFN_DSR_OUT_HANDSHAKE_DONE) == 0)
		DP_COUNT(st->c[DP_C_MFN_L2_FEEDBACK]++);
}

/* One feedback slot per burst: forget flows whose handshake never came. */
static inline void fb_sweep(struct dp_mfn *m, struct dp_mfn_lcore *lc, uint64_t now)
{
	struct dp_mfn_fb *f = &lc->fb[lc->fb_sweep++ & (DP_MFN_FB - 1)];

	if (f->used && now - f->tsc > DP_MFN_FB_TTL_S * m->tsc_hz) {
		f->used = false;
		lc->fb_live--;
	}
}

static void mfn_process_chunk(struct dp_mfn *m, unsigned int lcore_id, struct rte_mbuf **pkts,
			      struct dp_pkt_info *const *info, uint16_t *out, uint16_t n)
{
	struct dp_mfn_lcore *lc = &m->lc[lcore_id];
	struct dp_lcore_stats *st = &dp_stats[lcore_id];
	struct mfn_flow_key keys[MFN_IFR_BULK_MAX];
	const struct mfn_flow_key *kp[MFN_IFR_BULK_MAX];
	struct mfn_ifr_entry *e[MFN_IFR_BULK_MAX];
	struct dp_mfn_ins ins[MFN_IFR_BULK_MAX];
	struct mfn_ifr_burst_stats bst = {0};
	const uint16_t tx_port = (uint16_t)m->app->cfg.tx_port;
	const bool to_input = m->app->cfg.tx_port < 0;
	const bool rewrite = m->app->cfg.mfn_rewrite == DP_MFN_REWRITE_DNAT;
	const uint32_t gen = __atomic_load_n(&m->alm_gen, __ATOMIC_ACQUIRE);
	const uint64_t tsc = __atomic_load_n(&m->now_tsc, __ATOMIC_RELAXED);
	/* Timing every burst cost ~7 % of the MFN path (two rdtsc): sample. */
	const bool timed = (lc->chunks++ & (DP_MFN_TIME_EVERY - 1)) == 0;
	uint64_t t0 = timed ? rte_rdtsc() : 0, hits;
	unsigned int n_ins = 0;

	for (uint16_t i = 0; i < n; i++) {
		key_of(m, pkts[i], info[i], &keys[i]);
		kp[i] = &keys[i];
	}
	hits = mfn_ifr_lookup_bulk(m->ifr, &lc->rd, kp, n, e, &bst);
	DP_COUNT(st->c[DP_C_MFN_L1_HIT] += bst.hits);
	DP_COUNT(st->c[DP_C_MFN_L1_MISS] += bst.misses);
	DP_COUNT(st->c[DP_C_MFN_L1_BLOOM_NEG] += bst.bloom_negatives);
	if (timed) {
		uint64_t ns = tsc_to_ns(m, rte_rdtsc() - t0);

		DP_COUNT(st->c[DP_C_MFN_NS_L1] += ns);
		DP_COUNT(st->c[DP_C_MFN_L1_TIMED] += n);
		DP_HIST(st->hist[DP_H_MFN_L1], ns / n);
	}

	for (uint16_t i = 0; i < n; i++) {
		struct rte_mbuf *mb = pkts[i];
		const struct dp_pkt_info *pi = info[i];
		struct mfn_alm_backend b;
		uint64_t decision;
		uint32_t service;
		int drop = -1;

		if (hits & (1ull << i)) {
			decision = mfn_ifr_entry_decision(e[i]);
			service = e[i]->service;
			mfn_ifr_entry_touch(e[i], mb->pkt_len, tsc);
		} else {
			uint32_t ph = key_hash(&keys[i]) & (DP_MFN_PENDING - 1);
			struct dp_mfn_pending *p = &lc->pending[ph];
			uint32_t sv = __atomic_load_n(&m->svc_by_port[rte_be_to_cpu_16(pi->dport)],
						      __ATOMIC_RELAXED);

			if (sv == 0) {
				DP_COUNT(st->drop[DP_D_MFN_NO_SERVICE]++);
				out[i] = DP_PORT_DROP;
				continue;
			}
			service = sv - 1;
			if (p->gen == gen && memcmp(&p->key, &keys[i], sizeof(p->key)) == 0) {
				decision = p->decision;
			} else {
				if (!decide_new(m, lc, st, mb, pi, &keys[i], service, tsc,
						&decision, &drop)) {
					DP_COUNT(st->drop[drop]++);
					out[i] = DP_PORT_DROP;
					continue;
				}
				remember(p, &ins[n_ins++], &keys[i], decision, service, gen);
				if (service < m->n_services)
					lc->svc[service].flows++;
			}
		}
		if (unlikely(lc->fb_live != 0) && pi->quic_type == DP_QUIC_SHORT)
			handshake_seen(lc, st, &keys[i]);
		if (unlikely(mfn_alm_backend_get(m->alm, MFN_IFR_DECISION_BACKEND(decision), &b) <
			     0)) {
			/*
			 * The backend left after this flow was decided (the main
			 * lcore purges its flows from L1 after the commit): decide
			 * again with L3 (L2 admitted the flow already) and register
			 * the new decision, so the flow moves instead of dropping.
			 */
			if (!l3_decide(m, st, &keys[i], service, rte_rdtsc(), &decision, &drop) ||
			    mfn_alm_backend_get(m->alm, MFN_IFR_DECISION_BACKEND(decision), &b) <
				0) {
				DP_COUNT(st->drop[drop >= 0 ? drop : DP_D_MFN_NO_BACKEND]++);
				out[i] = DP_PORT_DROP;
				continue;
			}
			remember(&lc->pending[key_hash(&keys[i]) & (DP_MFN_PENDING - 1)],
				 &ins[n_ins++], &keys[i], decision, service, gen);
		}
		if (rewrite && !dnat(mb, pi, &b)) {
			DP_COUNT(st->drop[DP_D_MFN_AF_MISMATCH]++);
			out[i] = DP_PORT_DROP;
			continue;
		}
		if (service < m->n_services) {
			lc->svc[service].packets++;
			lc->svc[service].bytes += mb->pkt_len;
		}
		out[i] = m->backend_port >= 0 ? (uint16_t)m->backend_port
			 : to_input	       ? mb->port
					       : tx_port;
	}
	if (lc->fb_live != 0)
		fb_sweep(m, lc, tsc);
	if (n_ins) {
		unsigned int q =
		    rte_ring_sp_enqueue_burst_elem(lc->ins, ins, sizeof(ins[0]), n_ins, NULL);

		/* Not a drop: the packets go on; the flows are registered later. */
		DP_COUNT(st->c[DP_C_MFN_L1_INSERT_FAIL] += n_ins - q);
	}
}

/*
 * Router mode: replies (arriving on backend_port) are SNATed and sent out
 * of the client port here; the rest, new or known flows, go through the
 * layers. Returns how many packets are left in @pkts/@info, compacted, with
 * @idx mapping them back to their slots in @out.
 */
static uint16_t mfn_replies(struct dp_mfn *m, unsigned int lcore_id, struct rte_mbuf **pkts,
			    struct dp_pkt_info **info, uint16_t *out, uint16_t *idx, uint16_t n)
{
	struct dp_lcore_stats *st = &dp_stats[lcore_id];
	const struct dp_addr *va = &m->app->cfg.service_address;
	uint16_t k = 0, replies = 0;

	for (uint16_t i = 0; i < n; i++) {
		struct rte_mbuf *mb = pkts[i];
		const struct dp_pkt_info *pi = info[i];

		if (mb->port != m->backend_port) {
			pkts[k] = mb;
			info[k] = info[i];
			idx[k++] = i;
			continue;
		}
		if (__atomic_load_n(&m->svc_by_port[rte_be_to_cpu_16(pi->sport)],
				    __ATOMIC_RELAXED) == 0) {
			DP_COUNT(st->drop[DP_D_MFN_REPLY_NO_SERVICE]++);
			out[i] = DP_PORT_DROP;
		} else if (!snat_reply(mb, pi, va)) {
			DP_COUNT(st->drop[DP_D_MFN_AF_MISMATCH]++);
			out[i] = DP_PORT_DROP;
		} else {
			out[i] = (uint16_t)m->client_port;
			replies++;
		}
	}
	DP_COUNT(st->c[DP_C_MFN_REPLIES] += replies);
	return k;
}

static int mfn_process(void *ctx, unsigned int lcore_id, struct rte_mbuf **pkts,
		       struct dp_pkt_info *const *info, int in_port, uint16_t *out, uint16_t n)
{
	struct dp_mfn *m = ctx;
	struct rte_mbuf *fwd[DP_BURST_MAX];
	struct dp_pkt_info *fwd_info[DP_BURST_MAX];
	uint16_t idx[DP_BURST_MAX], fwd_out[DP_BURST_MAX];

	(void)in_port; /* every packet is decided on its own */

	if (m->backend_port < 0) {
		for (uint16_t i = 0; i < n; i += MFN_IFR_BULK_MAX) {
			uint16_t c = n - i < MFN_IFR_BULK_MAX ? n - i : MFN_IFR_BULK_MAX;

			mfn_process_chunk(ctx, lcore_id, pkts + i, info + i, out + i, c);
		}
		return DP_PIPE_PER_PACKET;
	}
	for (uint16_t s = 0; s < n; s += DP_BURST_MAX) {
		uint16_t len = n - s < DP_BURST_MAX ? n - s : DP_BURST_MAX, k;

		memcpy(fwd, pkts + s, len * sizeof(*pkts));
		memcpy(fwd_info, info + s, len * sizeof(*info));
		k = mfn_replies(m, lcore_id, fwd, fwd_info, out + s, idx, len);
		for (uint16_t i = 0; i < k; i += MFN_IFR_BULK_MAX) {
			uint16_t c = k - i < MFN_IFR_BULK_MAX ? k - i : MFN_IFR_BULK_MAX;

			mfn_process_chunk(ctx, lcore_id, fwd + i, fwd_info + i, fwd_out + i, c);
		}
		for (uint16_t i = 0; i < k; i++)
			out[s + idx[i]] = fwd_out[i];
	}
	return DP_PIPE_PER_PACKET;
}

static void mfn_quiescent(void *ctx, unsigned int lcore_id)
{
	struct dp_mfn *m = ctx;

	rte_rcu_qsbr_quiescent(m->qsv, lcore_id);
}

static void mfn_lcore_enter(void *ctx, unsigned int lcore_id)
{
	struct dp_mfn *m = ctx;

	rte_rcu_qsbr_thread_online(m->qsv, lcore_id);
}

static void mfn_lcore_exit(void *ctx, unsigned int lcore_id)
{
	struct dp_mfn *m = ctx;

	rte_rcu_qsbr_thread_offline(m->qsv, lcore_id);
}

/* ---- the main lcore: writer of L1 and L3, L4 each interval ----------------- */

static void drain_inserts(struct dp_mfn *m)
{
	struct dp_lcore_stats *st = &dp_stats[rte_lcore_id()];
	struct dp_mfn_ins ins[64];

	for (unsigned int l = 0; l < RTE_MAX_LCORE; l++) {
		unsigned int n;

		if (!m->lc[l].used)
			continue;
		while ((n = rte_ring_sc_dequeue_burst_elem(m->lc[l].ins, ins, sizeof(ins[0]), 64,
							   NULL)) > 0) {
			for (unsigned int i = 0; i < n; i++) {
				int rc = mfn_ifr_insert(m->ifr, &ins[i].key, ins[i].service,
							ins[i].decision, rte_rdtsc());

				if (rc == 0)
					DP_COUNT(st->c[DP_C_MFN_L1_INSERT]++);
				else if (rc < 0)
					DP_COUNT(st->c[DP_C_MFN_L1_INSERT_FAIL]++);
			}
		}
	}
}

static void publish_prediction(struct dp_mfn *m, uint32_t s, uint64_t now_ns)
{
	struct mfn_cpe_forecast f[DP_MFN_PRED_H];
	struct dp_mfn_pred *p = &m->pred[s];

	if (mfn_cpe_predict(m->cpe, s, DP_MFN_PRED_H, f) < 0)
		return;
	__atomic_store_n(&p->seq, p->seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	memcpy(p->f, f, sizeof(f));
	p->t_ns = now_ns;
	p->state = mfn_cpe_ready(m->cpe, s) ? 2 : 1;
	__atomic_store_n(&p->seq, p->seq + 1, __ATOMIC_RELEASE);
}

int dp_mfn_prediction(const struct dp_mfn *m, uint32_t service, struct mfn_cpe_forecast *out,
		      unsigned int *horizon, uint64_t *t_ns, bool *model)
{
	const struct dp_mfn_pred *p;
	uint32_t s0;

	if (service >= m->n_services)
		return -EINVAL;
	p = &m->pred[service];
	do {
		s0 = __atomic_load_n(&p->seq, __ATOMIC_ACQUIRE);
		if (s0 & 1)
			continue;
		if (p->state == 0)
			return -ENOENT;
		memcpy(out, p->f, sizeof(p->f));
		*t_ns = p->t_ns;
		*model = p->state == 2;
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
	} while ((s0 & 1) || __atomic_load_n(&p->seq, __ATOMIC_RELAXED) != s0);
	*horizon = DP_MFN_PRED_H;
	return 0;
}

static void cpe_tick(struct dp_mfn *m, uint64_t now_ns)
{
	double secs = (double)m->app->cfg.mfn_cpe_interval_ms / 1000.0;

	for (uint32_t s = 0; s < m->n_services; s++) {
		uint64_t sum[3] = {0, 0, 0};
		double rate[3];
		bool seen = false;

		for (unsigned int l = 0; l < RTE_MAX_LCORE; l++) {
			if (!m->lc[l].used)
				continue;
			sum[0] += m->lc[l].svc[s].flows;
			sum[1] += m->lc[l].svc[s].packets;
			sum[2] += m->lc[l].svc[s].bytes;
		}
		for (int k = 0; k < 3; k++) {
			rate[k] = (double)(sum[k] - m->cpe_prev[3 * s + k]) / secs;
			seen |= sum[k] != 0;
			m->cpe_prev[3 * s + k] = sum[k];
		}
		/* Services that never carried traffic are not modelled. */
		if (!seen && m->pred[s].state == 0)
			continue;
		if (mfn_cpe_observe(m->cpe, s, now_ns, rate[0], rate[1], rate[2]) < 0)
			continue;
		publish_prediction(m, s, now_ns);
	}
}

static void mfn_main_poll(void *ctx, uint64_t now_ns)
{
	struct dp_mfn *m = ctx;

	__atomic_store_n(&m->now_tsc, rte_rdtsc(), __ATOMIC_RELAXED);
	drain_inserts(m);
	if (now_ns >= m->next_age_ns) {
		bool swept;

		/*
		 * A sweep goes 4096 flows per tick (1 ms) until it reaches the
		 * end of the table, then rests until an eighth of the idle
		 * timeout has passed since it began: a flow lives at most
		 * ~1.125 timeouts plus one sweep, and the scan over empty slots
		 * (a pass over the whole table, however few flows it holds) is
		 * paid a few times per timeout instead of continuously.
		 */
		if (m->age_sweep_start_ns == 0)
			m->age_sweep_start_ns = now_ns;
		mfn_ifr_age(m->ifr, m->now_tsc, 4096, &swept);
		if (swept) {
			m->next_age_ns = m->age_sweep_start_ns + m->age_period_ns;
			m->age_sweep_start_ns = 0;
		}
	}
	if (now_ns >= m->next_cpe_ns) {
		if (m->next_cpe_ns != 0)
			cpe_tick(m, now_ns);
		m->next_cpe_ns = now_ns + (uint64_t)m->app->cfg.mfn_cpe_interval_ms * 1000000;
	}
}

/* ---- state changes (main lcore: static config and the control socket) ------ */

int dp_mfn_service_set(struct dp_mfn *m, uint32_t service, uint16_t udp_port)
{
	int rc;

	if (service >= m->n_services) {
		DP_LOG(ERR, "service %" PRIu32 ": ids are 0..%" PRIu32, service, m->n_services - 1);
		return -EINVAL;
	}
	if (udp_port == 0) {
		DP_LOG(ERR, "service %" PRIu32 ": UDP port 0", service);
		return -EINVAL;
	}
	rc = mfn_alm_service_set(m->alm, service);
	if (rc < 0)
		return rc;
	/* One service per port; a port moving to another service is a change of owner. */
	for (uint32_t p = 0; p < 65536; p++)
		if (m->svc_by_port[p] == service + 1 && p != udp_port)
			__atomic_store_n(&m->svc_by_port[p], 0, __ATOMIC_RELAXED);
	__atomic_store_n(&m->svc_by_port[udp_port], service + 1, __ATOMIC_RELEASE);
	return 0;
}

int dp_mfn_service_del(struct dp_mfn *m, uint32_t service)
{
	int rc;

	if (service >= m->n_services)
		return -EINVAL;
	for (uint32_t p = 0; p < 65536; p++)
		if (m->svc_by_port[p] == service + 1)
			__atomic_store_n(&m->svc_by_port[p], 0, __ATOMIC_RELAXED);
	rc = mfn_alm_service_del(m->alm, service);
	if (rc == 0)
		for (uint32_t b = 0; b < m->n_backends; b++) {
			struct mfn_alm_backend r;

			/* Its backends are deleting now: staged() no longer sees them. */
			if (mfn_alm_backend_get(m->alm, b, &r) == 0 && r.service == service)
				m->purge[b] = 1;
		}
	return rc;
}

int dp_mfn_backend_set(struct dp_mfn *m, const struct mfn_alm_backend *b)
{
	return mfn_alm_backend_set(m->alm, b);
}

int dp_mfn_backend_del(struct dp_mfn *m, uint32_t backend)
{
	int rc = mfn_alm_backend_del(m->alm, backend);

	/* Its L1 flows go after the commit: before it, L3 could pick it again. */
	if (rc == 0)
		m->purge[backend] = 1;
	return rc;
}

int dp_mfn_commit(struct dp_mfn *m)
{
	int rc = mfn_alm_commit(m->alm);
	unsigned int moved = 0;

	if (rc < 0)
		return rc;
	__atomic_fetch_add(&m->alm_gen, 1, __ATOMIC_RELEASE);
	for (uint32_t b = 0; b < m->n_backends; b++) {
		if (!m->purge[b])
			continue;
		m->purge[b] = 0;
		/* Set again before the commit: still a backend, its flows stay. */
		if (mfn_alm_backend_staged(m->alm, b, NULL) == 0)
			continue;
		moved += mfn_ifr_delete_backend(m->ifr, b);
	}
	if (moved)
		DP_LOG(INFO, "mfn: %u flows of removed backends will be decided again", moved);
	return 0;
}

struct mfn_ifr *dp_mfn_ifr(struct dp_mfn *m)
{
	return m->ifr;
}

struct mfn_alm *dp_mfn_alm(struct dp_mfn *m)
{
	return m->alm;
}

struct mfn_cpe *dp_mfn_cpe(struct dp_mfn *m)
{
	return m->cpe;
}

static int static_service(void *ctx, uint32_t id, uint16_t port)
{
	return dp_mfn_service_set(ctx, id, port);
}

static int static_backend(void *ctx, const struct mfn_alm_backend *b)
{
	return dp_mfn_backend_set(ctx, b);
}

int dp_mfn_static_apply(struct dp_mfn *m, const char *text, char *why, size_t whylen)
{
	const struct dp_mfn_static_ops ops = {
	    .service = static_service,
	    .backend = static_backend,
	    .default_node = (uint16_t)m->app->cfg.mfn_node_id,
	};
	int rc = dp_mfn_static_parse(text, &ops, m, why, whylen);

	if (rc < 0)
		return rc;
	if (dp_mfn_commit(m) < 0) {
		snprintf(why, whylen, "L3 tables could not be built (see log)");
		return -EINVAL;
	}
	return 0;
}

/* ---- telemetry: /hmesh/mfn and /hmesh/mfn/predictions -------------------- */

static int tel_mfn(const char *cmd __rte_unused, const char *params __rte_unused,
		   struct rte_tel_data *d)
{
	const struct dp_mfn *m = dp_mfn_the;
	struct mfn_ifr_stats is;
	struct mfn_alm_stats as;
	char buf[32];

	if (m == NULL)
		return -ENOENT;
	/* Writer-side counters read racily from this thread: each is a single aligned word. */
	mfn_ifr_stats_get(m->ifr, &is);
	mfn_alm_stats_get(m->alm, &as);
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_u64(d, "l1_flows", is.flows);
	rte_tel_data_add_dict_u64(d, "l1_capacity", m->app->cfg.mfn_flows);
	rte_tel_data_add_dict_u64(d, "l1_inserts", is.inserts);
	rte_tel_data_add_dict_u64(d, "l1_updates", is.updates);
	rte_tel_data_add_dict_u64(d, "l1_deletes", is.deletes);
	rte_tel_data_add_dict_u64(d, "l1_aged", is.aged);
	rte_tel_data_add_dict_u64(d, "l1_age_sweeps", is.sweeps);
	rte_tel_data_add_dict_u64(d, "l1_insert_full", is.insert_full);
	rte_tel_data_add_dict_u64(d, "l1_bloom_bits", is.bloom_bits);
	snprintf(buf, sizeof(buf), "%.6g", is.bloom_fpr_expected);
	rte_tel_data_add_dict_string(d, "l1_bloom_fpr_expected", buf);
	rte_tel_data_add_dict_u64(d, "l3_services", as.services);
	rte_tel_data_add_dict_u64(d, "l3_backends", as.backends);
	rte_tel_data_add_dict_u64(d, "l3_rebuilds", as.rebuilds);
	rte_tel_data_add_dict_u64(d, "l3_last_rebuild_ns", as.last_rebuild_ns);
	rte_tel_data_add_dict_u64(d, "l3_generation",
				  __atomic_load_n(&m->alm_gen, __ATOMIC_RELAXED));
	return 0;
}

/* /hmesh/mfn/predictions,SERVICE: the next intervals' new flows/s, packets/s, bytes/s. */
static int tel_predictions(const char *cmd __rte_unused, const char *params, struct rte_tel_data *d)
{
	static const char *const names[MFN_CPE_NMETRIC] = {"flows_per_s", "packets_per_s",
							   "bytes_per_s"};
	const struct dp_mfn *m = dp_mfn_the;
	struct mfn_cpe_forecast f[DP_MFN_PRED_MAX];
	unsigned int h;
	uint64_t t_ns;
	bool model;
	char *end;
	unsigned long svc;

	if (m == NULL || params == NULL || *params == '\0')
		return -EINVAL;
	svc = strtoul(params, &end, 10);
	if (*end != '\0' || svc >= m->n_services)
		return -EINVAL;
	if (dp_mfn_prediction(m, (uint32_t)svc, f, &h, &t_ns, &model) < 0)
		return -ENOENT;
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_u64(d, "service", svc);
	rte_tel_data_add_dict_u64(d, "interval_ms", m->app->cfg.mfn_cpe_interval_ms);
	rte_tel_data_add_dict_string(d, "model", model ? "holt_winters" : "last_value");
	for (int k = 0; k < MFN_CPE_NMETRIC; k++) {
		struct rte_tel_data *a = rte_tel_data_alloc();

		if (a == NULL)
			return -ENOMEM;
		rte_tel_data_start_array(a, RTE_TEL_U64_VAL);
		for (unsigned int i = 0; i < h; i++)
			rte_tel_data_add_array_u64(a, (uint64_t)(f[i].v[k] + 0.5));
		rte_tel_data_add_dict_container(d, names[k], a, 0);
	}
	return 0;
}

/* ---- lifecycle ------------------------------------------------------------ */

static void mfn_destroy(void *ctx)
{
	struct dp_mfn *m = ctx;

	if (m == NULL)
		return;
	for (unsigned int l = 0; l < RTE_MAX_LCORE; l++) {
		mfn_dsr_destroy(m->lc[l].dsr);
		dp_quiclb_lcore_free(m->lc[l].qlb);
		rte_ring_free(m->lc[l].ins);
		rte_free(m->lc[l].pending);
		rte_free(m->lc[l].fb);
		rte_free(m->lc[l].rl);
		rte_free(m->lc[l].svc);
	}
	mfn_cpe_destroy(m->cpe);
	mfn_alm_destroy(m->alm);
	mfn_ifr_destroy(m->ifr);
	rte_free(m->svc_by_port);
	rte_free(m->pred);
	rte_free(m->purge);
	rte_free(m->qsv);
	rte_free(m);
	if (dp_mfn_the == m)
		dp_mfn_the = NULL;
}

static int lcore_init(struct dp_mfn *m, unsigned int l, int socket)
{
	const struct dp_config *c = &m->app->cfg;
	struct dp_mfn_lcore *lc = &m->lc[l];
	char name[RTE_RING_NAMESIZE], err[256];

	snprintf(name, sizeof(name), "mfn_ins_%u", l);
	lc->ins = rte_ring_create_elem(name, sizeof(struct dp_mfn_ins), DP_MFN_INS_RING, socket,
				       RING_F_SP_ENQ | RING_F_SC_DEQ);
	lc->pending = rte_zmalloc_socket("mfn_pending", DP_MFN_PENDING * sizeof(*lc->pending),
					 RTE_CACHE_LINE_SIZE, socket);
	lc->rl = rte_zmalloc_socket("mfn_rl", DP_MFN_RL_BUCKETS * sizeof(*lc->rl),
				    RTE_CACHE_LINE_SIZE, socket);
	lc->svc = rte_zmalloc_socket("mfn_svc", m->n_services * sizeof(*lc->svc),
				     RTE_CACHE_LINE_SIZE, socket);
	if (!lc->ins || !lc->pending || !lc->rl || !lc->svc) {
		DP_LOG(ERR, "mfn: no memory for lcore %u", l);
		return -ENOMEM;
	}
	if (c->mfn_dsr) {
		struct mfn_dsr_config dc;

		lc->fb = rte_zmalloc_socket("mfn_fb", DP_MFN_FB * sizeof(*lc->fb),
					    RTE_CACHE_LINE_SIZE, socket);
		if (lc->fb == NULL) {
			DP_LOG(ERR, "mfn: no memory for lcore %u", l);
			return -ENOMEM;
		}

		if (mfn_dsr_config_defaults(&dc, err, sizeof(err)) < 0) {
			DP_LOG(ERR, "mfn: L2 DSR defaults: %s", err);
			return -EINVAL;
		}
		dc.seed ^= l;
		lc->dsr = mfn_dsr_create(&dc);
		if (lc->dsr == NULL) {
			DP_LOG(ERR, "mfn: L2 DSR for lcore %u: %s", l, strerror(errno));
			return -errno;
		}
	}
	if (m->qlb.n && dp_quiclb_lcore_init(&m->qlb, &lc->qlb) < 0) {
		DP_LOG(ERR, "mfn: QUIC-LB keys for lcore %u could not be set up", l);
		return -EINVAL;
	}
	if (rte_rcu_qsbr_thread_register(m->qsv, l) != 0) {
		DP_LOG(ERR, "mfn: RCU registration of lcore %u failed", l);
		return -EINVAL;
	}
	lc->used = true;
	return 0;
}

static int mfn_create(const struct dp_app *app, void **ctx)
{
	const struct dp_config *c = &app->cfg;
	struct mfn_ifr_params ip = {0};
	struct mfn_alm_params ap = {0};
	struct mfn_cpe_config cc;
	struct dp_mfn *m;
	char err[256];
	size_t qsz;
	int rc = -ENOMEM;

	m = rte_zmalloc("dp_mfn", sizeof(*m), RTE_CACHE_LINE_SIZE);
	if (m == NULL) {
		DP_LOG(ERR, "mfn: no memory");
		return -ENOMEM;
	}
	m->app = app;
	if (dp_quiclb_parse(app->cfg.mfn_quic_lb, &m->qlb, err, sizeof(err)) < 0) {
		/* Checked at load: only a config built without dp_config_check gets here. */
		DP_LOG(ERR, "mfn: \"mfn_quic_lb\": %s", err);
		rte_free(m);
		return -EINVAL;
	}
	m->backend_port = m->client_port = -1;
	if (app->cfg.backend_port >= 0) {
		/* main.c checked: two ports, one of them backend_port. */
		m->backend_port = app->cfg.backend_port;
		for (uint16_t i = 0; i < app->n_ports; i++)
			if (app->ports[i].port_id != app->cfg.backend_port)
				m->client_port = app->ports[i].port_id;
	}
	m->n_services = c->mfn_services;
	m->n_backends = c->mfn_backends;
	m->tsc_hz = rte_get_tsc_hz();
	m->ns_per_tsc_q32 = (uint64_t)(((unsigned __int128)1000000000ull << 32) / m->tsc_hz);
	m->rl_rate_x1000 = (uint64_t)c->mfn_rate_limit * 1000;
	m->rl_burst_x1000 = (uint64_t)c->mfn_rate_limit * 1000 / 4 + 1000;
	m->alm_gen = 1;
	m->age_period_ns = (uint64_t)c->mfn_idle_timeout_ms * 1000000 / 8;
	m->now_tsc = rte_rdtsc();
	qsz = rte_rcu_qsbr_get_memsize(RTE_MAX_LCORE);
	m->qsv = rte_zmalloc("dp_mfn_qsv", qsz, RTE_CACHE_LINE_SIZE);
	m->svc_by_port = rte_zmalloc("dp_mfn_ports", 65536 * sizeof(uint32_t), RTE_CACHE_LINE_SIZE);
	m->pred = rte_zmalloc("dp_mfn_pred", m->n_services * sizeof(*m->pred), RTE_CACHE_LINE_SIZE);
	m->purge = rte_zmalloc("dp_mfn_purge", m->n_backends, 0);
	if (!m->qsv || !m->svc_by_port || !m->pred || !m->purge ||
	    rte_rcu_qsbr_init(m->qsv, RTE_MAX_LCORE) != 0) {
		DP_LOG(ERR, "mfn: no memory for the RCU variable or the port map");
		goto err;
	}

	ip.name = "dp";
	ip.capacity = c->mfn_flows;
	ip.bloom_fpr = c->mfn_bloom_fpr;
	ip.idle_timeout_ms = c->mfn_idle_timeout_ms;
	ip.qsv = m->qsv;
	ip.socket_id = SOCKET_ID_ANY;
	m->ifr = mfn_ifr_create(&ip);
	if (m->ifr == NULL) {
		rc = -rte_errno;
		DP_LOG(ERR, "mfn: L1 IFR: %s", rte_strerror(rte_errno));
		goto err;
	}

	ap.max_services = c->mfn_services;
	ap.max_backends = c->mfn_backends;
	ap.max_nodes = (uint16_t)c->mfn_nodes;
	ap.table_size = c->mfn_table_size;
	ap.half_life_ms = c->mfn_link_half_life_ms;
	ap.local_node = (uint16_t)c->mfn_node_id;
	ap.qsv = m->qsv;
	ap.socket_id = SOCKET_ID_ANY;
	rc = mfn_alm_create(&ap, &m->alm);
	if (rc < 0) {
		DP_LOG(ERR, "mfn: L3 ALM: %s", strerror(-rc));
		goto err;
	}

	if (mfn_cpe_config_defaults(&cc, err, sizeof(err)) < 0) {
		DP_LOG(ERR, "mfn: L4 CPE defaults: %s", err);
		rc = -EINVAL;
		goto err;
	}
	cc.max_services = c->mfn_services;
	cc.interval_ms = c->mfn_cpe_interval_ms;
	if (mfn_cpe_config_check(&cc, err, sizeof(err)) < 0) {
		DP_LOG(ERR, "mfn: L4 CPE: %s", err);
		rc = -EINVAL;
		goto err;
	}
	m->cpe = mfn_cpe_create(&cc);
	if (m->cpe == NULL) {
		rc = -errno;
		DP_LOG(ERR, "mfn: L4 CPE: %s", strerror(errno));
		goto err;
	}

	for (unsigned int l = 0; l < RTE_MAX_LCORE; l++) {
		enum dp_role r = app->lcores[l].role;

		if (r != DP_ROLE_RTC && r != DP_ROLE_WORKER)
			continue;
		rc = lcore_init(m, l, app->lcores[l].socket);
		if (rc < 0)
			goto err;
	}
	if (c->mfn_static[0] != '\0') {
		rc = dp_mfn_static_apply(m, c->mfn_static, err, sizeof(err));
		if (rc < 0) {
			DP_LOG(ERR, "\"mfn_static\": %s", err);
			goto err;
		}
	}
	dp_mfn_the = m;
	/* Registration fails only when the name is taken (a second create): harmless. */
	rte_telemetry_register_cmd(
	    "/hmesh/mfn", tel_mfn,
	    "MFN layer state: L1 flows and table counters, L3 tables. No parameters");
	rte_telemetry_register_cmd("/hmesh/mfn/predictions", tel_predictions,
				   "L4 forecast of one service. Parameter: service id");
	*ctx = m;
	return 0;
err:
	mfn_destroy(m);
	return rc;
}

void dp_mfn_lcore_counters(const struct dp_mfn *m, uint32_t service, uint64_t *flows,
			   uint64_t *packets, uint64_t *bytes)
{
	*flows = *packets = *bytes = 0;
	if (service >= m->n_services)
		return;
	for (unsigned int l = 0; l < RTE_MAX_LCORE; l++) {
		if (!m->lc[l].used)
			continue;
		*flows += m->lc[l].svc[service].flows;
		*packets += m->lc[l].svc[service].packets;
		*bytes += m->lc[l].svc[service].bytes;
	}
}

const struct dp_pipeline_ops dp_pipeline_mfn = {
    .name = "mfn",
    .create = mfn_create,
    .process = mfn_process,
    .quiescent = mfn_quiescent,
    .lcore_enter = mfn_lcore_enter,
    .lcore_exit = mfn_lcore_exit,
    .main_poll = mfn_main_poll,
    .destroy = mfn_destroy,
};
