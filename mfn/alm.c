/* SPDX-License-Identifier: BSD-3-Clause */
/* mfn_alm — L3: learned link costs, shortest paths, weighted Maglev tables behind RCU. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_branch_prediction.h>
#include <rte_common.h>
#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>

#include "alm.h"
#include "hm_log.h"

#define MOD "mfn_alm"

/* A published table: entry[] indexes be[]; readers see it whole or not at all. */
struct alm_table {
	uint32_t n; /* backends in be[]; 0: none healthy and reachable */
	uint32_t size;
	struct {
		uint32_t id;
		uint16_t node;
	} *be;
	uint32_t *entry; /* size entries; points into the same allocation */
};

/* A backend's record for readers, under a sequence count (odd while written). */
struct alm_bslot {
	uint32_t seq;
	bool live;
	struct mfn_alm_backend b;
};

/* The writer's staging copy of a backend. */
struct alm_wb {
	bool used;
	bool deleting; /* removed at the next commit */
	bool changed;  /* record to publish at the next commit */
	struct mfn_alm_backend b;
};

struct alm_link {
	bool exists, up, sampled;
	double rtt_us, loss;
	uint64_t last_ns;
};

struct mfn_alm {
	struct mfn_alm_params p;
	struct alm_table **tables; /* [max_services], read by readers */
	struct alm_bslot *pub;	   /* [max_backends], read by readers */
	uint16_t *next_hop;	   /* [max_nodes], read by readers */
	/* writer only */
	bool *svc_exists, *svc_dirty, *svc_deleting;
	struct alm_wb *wb;
	struct alm_link *links; /* max_nodes x max_nodes, upper triangle used */
	double *cost;		/* path cost from local_node, INFINITY unreachable */
	bool graph_dirty;
	struct mfn_alm_stats st;
};

static uint64_t mix64(uint64_t x)
{
	/* SplitMix64 finalizer: a well-spread hash of a backend id. */
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static bool is_prime(uint32_t v)
{
	if (v < 2)
		return false;
	for (uint32_t d = 2; (uint64_t)d * d <= v; d++)
		if (v % d == 0)
			return false;
	return true;
}

static void *zalloc(const struct mfn_alm *alm, size_t n)
{
	return rte_zmalloc_socket(MOD, n, RTE_CACHE_LINE_SIZE, alm->p.socket_id);
}

int mfn_alm_create(const struct mfn_alm_params *p, struct mfn_alm **out)
{
	struct mfn_alm *alm;
	size_t nn = (size_t)p->max_nodes * p->max_nodes;

	if (p->max_services < 1 || p->max_services > (1u << 20)) {
		HM_ERR(MOD, "\"max_services\" is %" PRIu32 ": must be 1..%u", p->max_services, 1u << 20);
		return -EINVAL;
	}
	if (p->max_backends < 1 || p->max_backends > (1u << 24)) {
		HM_ERR(MOD, "\"max_backends\" is %" PRIu32 ": must be 1..%u", p->max_backends, 1u << 24);
		return -EINVAL;
	}
	if (p->max_nodes < 1 || p->max_nodes > MFN_ALM_NODES_MAX) {
		HM_ERR(MOD, "\"max_nodes\" is %u: must be 1..%d", p->max_nodes, MFN_ALM_NODES_MAX);
		return -EINVAL;
	}
	if (p->table_size < 101 || !is_prime(p->table_size)) {
		HM_ERR(MOD, "\"table_size\" is %" PRIu32 ": must be a prime >= 101", p->table_size);
		return -EINVAL;
	}
	if (p->half_life_ms < 1) {
		HM_ERR(MOD, "\"half_life_ms\" is 0: must be >= 1");
		return -EINVAL;
	}
	if (p->local_node >= p->max_nodes) {
		HM_ERR(MOD, "\"local_node\" is %u: must be < max_nodes (%u)", p->local_node,
		       p->max_nodes);
		return -EINVAL;
	}
	alm = rte_zmalloc_socket(MOD, sizeof(*alm), RTE_CACHE_LINE_SIZE, p->socket_id);
	if (alm == NULL)
		return -ENOMEM;
	alm->p = *p;
	alm->tables = zalloc(alm, p->max_services * sizeof(*alm->tables));
	alm->pub = zalloc(alm, p->max_backends * sizeof(*alm->pub));
	alm->next_hop = zalloc(alm, p->max_nodes * sizeof(*alm->next_hop));
	alm->svc_exists = calloc(p->max_services, 3 * sizeof(bool));
	alm->wb = calloc(p->max_backends, sizeof(*alm->wb));
	alm->links = calloc(nn, sizeof(*alm->links));
	alm->cost = calloc(p->max_nodes, sizeof(*alm->cost));
	if (!alm->tables || !alm->pub || !alm->next_hop || !alm->svc_exists || !alm->wb ||
	    !alm->links || !alm->cost) {
		HM_ERR(MOD, "no memory for %" PRIu32 " services, %" PRIu32 " backends, %u nodes",
		       p->max_services, p->max_backends, p->max_nodes);
		mfn_alm_destroy(alm);
		return -ENOMEM;
	}
	alm->svc_dirty = alm->svc_exists + p->max_services;
	alm->svc_deleting = alm->svc_dirty + p->max_services;
	for (uint16_t n = 0; n < p->max_nodes; n++) {
		alm->cost[n] = n == p->local_node ? 0.0 : INFINITY;
		alm->next_hop[n] = p->local_node;
	}
	*out = alm;
	return 0;
}

static void table_free(struct alm_table *t)
{
	free(t);
}

void mfn_alm_destroy(struct mfn_alm *alm)
{
	if (alm == NULL)
		return;
	if (alm->tables)
		for (uint32_t s = 0; s < alm->p.max_services; s++)
			table_free(alm->tables[s]);
	rte_free(alm->tables);
	rte_free(alm->pub);
	rte_free(alm->next_hop);
	free(alm->svc_exists);
	free(alm->wb);
	free(alm->links);
	free(alm->cost);
	rte_free(alm);
}

/* ---- writer: staging ------------------------------------------------------ */

int mfn_alm_service_set(struct mfn_alm *alm, uint32_t service)
{
	if (service >= alm->p.max_services) {
		HM_ERR(MOD, "\"service\" is %" PRIu32 ": must be < %" PRIu32, service,
		       alm->p.max_services);
		return -EINVAL;
	}
	if (!alm->svc_exists[service] || alm->svc_deleting[service]) {
		alm->svc_exists[service] = true;
		alm->svc_deleting[service] = false;
		alm->svc_dirty[service] = true;
	}
	return 0;
}

int mfn_alm_service_del(struct mfn_alm *alm, uint32_t service)
{
	if (service >= alm->p.max_services)
		return -EINVAL;
	if (!alm->svc_exists[service] || alm->svc_deleting[service])
		return -ENOENT;
	alm->svc_deleting[service] = true;
	for (uint32_t i = 0; i < alm->p.max_backends; i++)
		if (alm->wb[i].used && alm->wb[i].b.service == service)
			alm->wb[i].deleting = true;
	return 0;
}

int mfn_alm_backend_set(struct mfn_alm *alm, const struct mfn_alm_backend *b)
{
	struct alm_wb *w;

	if (b->id >= alm->p.max_backends) {
		HM_ERR(MOD, "backend \"id\" is %" PRIu32 ": must be < %" PRIu32, b->id,
		       alm->p.max_backends);
		return -EINVAL;
	}
	if (b->service >= alm->p.max_services || !alm->svc_exists[b->service] ||
	    alm->svc_deleting[b->service]) {
		HM_ERR(MOD, "backend %" PRIu32 ": \"service\" %" PRIu32 " does not exist", b->id,
		       b->service);
		return -ENOENT;
	}
	if (b->node >= alm->p.max_nodes) {
		HM_ERR(MOD, "backend %" PRIu32 ": \"node\" is %u: must be < %u", b->id, b->node,
		       alm->p.max_nodes);
		return -EINVAL;
	}
	if (b->weight < 1 || b->weight > MFN_ALM_WEIGHT_MAX) {
		HM_ERR(MOD, "backend %" PRIu32 ": \"weight\" is %" PRIu32 ": must be 1..%d", b->id,
		       b->weight, MFN_ALM_WEIGHT_MAX);
		return -EINVAL;
	}
	if (b->family != 2 /* AF_INET */ && b->family != 10 /* AF_INET6 */) {
		HM_ERR(MOD, "backend %" PRIu32 ": \"family\" is %u: must be AF_INET or AF_INET6",
		       b->id, b->family);
		return -EINVAL;
	}
	w = &alm->wb[b->id];
	if (w->used && !w->deleting && w->b.service != b->service) {
		HM_ERR(MOD, "backend %" PRIu32 " belongs to service %" PRIu32 ", not %" PRIu32,
		       b->id, w->b.service, b->service);
		return -EEXIST;
	}
	if (w->used && w->deleting && w->b.service != b->service)
		alm->svc_dirty[w->b.service] = true;
	w->used = true;
	w->deleting = false;
	w->changed = true;
	w->b = *b;
	alm->svc_dirty[b->service] = true;
	return 0;
}

int mfn_alm_backend_del(struct mfn_alm *alm, uint32_t backend_id)
{
	struct alm_wb *w;

	if (backend_id >= alm->p.max_backends)
		return -EINVAL;
	w = &alm->wb[backend_id];
	if (!w->used || w->deleting)
		return -ENOENT;
	w->deleting = true;
	alm->svc_dirty[w->b.service] = true;
	return 0;
}

bool mfn_alm_service_staged(const struct mfn_alm *alm, uint32_t service)
{
	return service < alm->p.max_services && alm->svc_exists[service] &&
	       !alm->svc_deleting[service];
}

int mfn_alm_backend_staged(const struct mfn_alm *alm, uint32_t backend_id,
			   struct mfn_alm_backend *out)
{
	const struct alm_wb *w;

	if (backend_id >= alm->p.max_backends)
		return -ENOENT;
	w = &alm->wb[backend_id];
	if (!w->used || w->deleting)
		return -ENOENT;
	if (out != NULL)
		*out = w->b;
	return 0;
}

static struct alm_link *link_of(struct mfn_alm *alm, uint16_t a, uint16_t b)
{
	if (a > b) {
		uint16_t t = a;

		a = b;
		b = t;
	}
	return &alm->links[(size_t)a * alm->p.max_nodes + b];
}

static int link_check(const struct mfn_alm *alm, uint16_t a, uint16_t b)
{
	if (a >= alm->p.max_nodes || b >= alm->p.max_nodes || a == b) {
		HM_ERR(MOD, "link %u-%u: nodes must differ and be < %u", a, b, alm->p.max_nodes);
		return -EINVAL;
	}
	return 0;
}

int mfn_alm_link_set(struct mfn_alm *alm, uint16_t a, uint16_t b, bool up)
{
	struct alm_link *l;
	int rc = link_check(alm, a, b);

	if (rc < 0)
		return rc;
	l = link_of(alm, a, b);
	if (!l->exists || l->up != up)
		alm->graph_dirty = true;
	l->exists = true;
	l->up = up;
	return 0;
}

int mfn_alm_link_observe(struct mfn_alm *alm, uint16_t a, uint16_t b, uint32_t rtt_us,
			 double loss, uint64_t now)
{
	struct alm_link *l;
	int rc = link_check(alm, a, b);

	if (rc < 0)
		return rc;
	if (!(loss >= 0.0 && loss <= 1.0)) {
		HM_ERR(MOD, "link %u-%u: \"loss\" is %g: must be 0..1", a, b, loss);
		return -EINVAL;
	}
	l = link_of(alm, a, b);
	if (!l->sampled) {
		l->rtt_us = rtt_us;
		l->loss = loss;
	} else {
		/* EWMA with a time-based weight: half the step is absorbed per half-life. */
		double dt_ms = now > l->last_ns ? (double)(now - l->last_ns) / 1e6 : 0.0;
		double alpha = 1.0 - exp2(-dt_ms / alm->p.half_life_ms);

		l->rtt_us += alpha * ((double)rtt_us - l->rtt_us);
		l->loss += alpha * (loss - l->loss);
	}
	l->last_ns = now;
	l->sampled = true;
	l->exists = true;
	l->up = true;
	alm->graph_dirty = true;
	return 0;
}

int mfn_alm_link_get(const struct mfn_alm *alm, uint16_t a, uint16_t b, double *rtt_us,
		     double *loss, bool *up)
{
	const struct alm_link *l;

	if (link_check(alm, a, b) < 0)
		return -EINVAL;
	l = link_of((struct mfn_alm *)alm, a, b);
	if (!l->exists)
		return -ENOENT;
	*rtt_us = l->sampled ? l->rtt_us : MFN_ALM_DEFAULT_RTT_US;
	*loss = l->sampled ? l->loss : 0.0;
	*up = l->up;
	return l->sampled ? 0 : -ENOENT;
}

double mfn_alm_path_cost(const struct mfn_alm *alm, uint16_t node)
{
	if (node >= alm->p.max_nodes || isinf(alm->cost[node]))
		return -1.0;
	return alm->cost[node];
}

/* ---- writer: commit ------------------------------------------------------- */

static double link_cost(const struct alm_link *l)
{
	double rtt = l->sampled ? l->rtt_us : MFN_ALM_DEFAULT_RTT_US;

	return rtt * (1.0 + MFN_ALM_LOSS_PENALTY * (l->sampled ? l->loss : 0.0));
}

/* Dijkstra from local_node over links that are up; O(V^2), V <= 256. */
static void paths_compute(struct mfn_alm *alm)
{
	const uint16_t nn = alm->p.max_nodes, src = alm->p.local_node;
	uint16_t first[MFN_ALM_NODES_MAX];
	bool done[MFN_ALM_NODES_MAX] = {false};

	for (uint16_t n = 0; n < nn; n++) {
		alm->cost[n] = INFINITY;
		first[n] = src;
	}
	alm->cost[src] = 0.0;
	alm->st.links_up = 0;
	for (;;) {
		uint16_t u = UINT16_MAX;

		for (uint16_t n = 0; n < nn; n++)
			if (!done[n] && !isinf(alm->cost[n]) && (u == UINT16_MAX || alm->cost[n] < alm->cost[u]))
				u = n;
		if (u == UINT16_MAX)
			break;
		done[u] = true;
		for (uint16_t v = 0; v < nn; v++) {
			const struct alm_link *l;
			double c;

			if (v == u)
				continue;
			l = link_of(alm, u, v);
			if (!l->exists || !l->up)
				continue;
			c = alm->cost[u] + link_cost(l);
			if (c < alm->cost[v]) {
				alm->cost[v] = c;
				first[v] = u == src ? v : first[u];
			}
		}
	}
	for (uint16_t a = 0; a < nn; a++)
		for (uint16_t b = (uint16_t)(a + 1); b < nn; b++)
			alm->st.links_up += alm->links[(size_t)a * nn + b].up;
	for (uint16_t n = 0; n < nn; n++)
		__atomic_store_n(&alm->next_hop[n], first[n], __ATOMIC_RELEASE);
}

/*
 * Maglev population (NSDI 2016 §3.4, Pseudocode 1) with weights: backend i
 * walks its permutation offset_i + j * skip_i (mod M) and claims the first
 * free entry, in turns; in pass t it takes a turn only while it holds fewer
 * than (t + 1) * w_i / w_max entries.
 */
static struct alm_table *table_build(const struct mfn_alm *alm, uint32_t service)
{
	const uint32_t m = alm->p.table_size;
	uint32_t n = 0, filled = 0, *next = NULL, *count = NULL, *offset = NULL, *skip = NULL;
	double *w = NULL, wmax = 0.0;
	struct alm_table *t;
	size_t bytes;

	for (uint32_t i = 0; i < alm->p.max_backends; i++)
		n += alm->wb[i].used && !alm->wb[i].deleting && alm->wb[i].b.service == service;
	bytes = sizeof(*t) + (size_t)n * sizeof(t->be[0]) + (size_t)m * sizeof(uint32_t);
	t = calloc(1, bytes);
	if (t == NULL)
		return NULL;
	t->be = (void *)(t + 1);
	t->entry = (uint32_t *)((char *)t->be + (size_t)n * sizeof(t->be[0]));
	t->size = m;
	if (n == 0)
		return t;
	next = calloc(n, sizeof(*next));
	count = calloc(n, sizeof(*count));
	offset = calloc(n, sizeof(*offset));
	skip = calloc(n, sizeof(*skip));
	w = calloc(n, sizeof(*w));
	if (!next || !count || !offset || !skip || !w) {
		free(t);
		t = NULL;
		goto out;
	}
	for (uint32_t i = 0, k = 0; i < alm->p.max_backends; i++) {
		const struct alm_wb *b = &alm->wb[i];
		double c;
		uint64_t h;

		if (!b->used || b->deleting || b->b.service != service)
			continue;
		c = alm->cost[b->b.node];
		if (!b->b.healthy || isinf(c))
			continue;
		h = mix64(b->b.id);
		t->be[k].id = b->b.id;
		t->be[k].node = b->b.node;
		offset[k] = (uint32_t)(h % m);
		skip[k] = (uint32_t)((h >> 32) % (m - 1)) + 1;
		w[k] = b->b.weight / (1.0 + c / MFN_ALM_COST_REF_US);
		wmax = w[k] > wmax ? w[k] : wmax;
		k++;
		t->n = k;
	}
	if (t->n == 0)
		goto out;
	for (uint32_t e = 0; e < m; e++)
		t->entry[e] = UINT32_MAX;
	for (uint64_t pass = 0; filled < m; pass++) {
		for (uint32_t i = 0; i < t->n && filled < m; i++) {
			uint32_t c;

			if ((double)count[i] >= (double)(pass + 1) * w[i] / wmax)
				continue;
			c = (uint32_t)(((uint64_t)offset[i] + (uint64_t)next[i] * skip[i]) % m);
			while (t->entry[c] != UINT32_MAX) {
				next[i]++;
				c = (uint32_t)(((uint64_t)offset[i] + (uint64_t)next[i] * skip[i]) % m);
			}
			t->entry[c] = i;
			next[i]++;
			count[i]++;
			filled++;
		}
	}
out:
	free(next);
	free(count);
	free(offset);
	free(skip);
	free(w);
	return t;
}

static void bslot_write(struct alm_bslot *s, const struct mfn_alm_backend *b, bool live)
{
	__atomic_store_n(&s->seq, s->seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	if (b)
		s->b = *b;
	s->live = live;
	__atomic_store_n(&s->seq, s->seq + 1, __ATOMIC_RELEASE);
}

int mfn_alm_commit(struct mfn_alm *alm)
{
	const uint32_t ns = alm->p.max_services;
	struct alm_table **fresh, **old;
	uint64_t t0 = now_ns();
	uint32_t rebuilt = 0;
	bool any_old = false, any_del = false;

	fresh = calloc(ns, sizeof(*fresh));
	old = calloc(ns, sizeof(*old));
	if (!fresh || !old) {
		free(fresh);
		free(old);
		return -ENOMEM;
	}
	if (alm->graph_dirty) {
		paths_compute(alm);
		alm->graph_dirty = false;
		for (uint32_t s = 0; s < ns; s++)
			alm->svc_dirty[s] |= alm->svc_exists[s];
	}
	/* Build everything first: on failure nothing is published. */
	for (uint32_t s = 0; s < ns; s++) {
		if (!alm->svc_exists[s] || alm->svc_deleting[s] || !alm->svc_dirty[s])
			continue;
		fresh[s] = table_build(alm, s);
		if (fresh[s] == NULL) {
			for (uint32_t k = 0; k < s; k++)
				table_free(fresh[k]);
			free(fresh);
			free(old);
			HM_ERR(MOD, "commit: no memory for the table of service %" PRIu32, s);
			return -ENOMEM;
		}
		rebuilt++;
	}
	/* Records before tables, so a new table never names an unpublished backend. */
	for (uint32_t i = 0; i < alm->p.max_backends; i++) {
		struct alm_wb *w = &alm->wb[i];

		if (w->used && !w->deleting && w->changed) {
			bslot_write(&alm->pub[i], &w->b, true);
			w->changed = false;
		}
		any_del |= w->used && w->deleting;
	}
	for (uint32_t s = 0; s < ns; s++) {
		if (fresh[s] != NULL || alm->svc_deleting[s]) {
			old[s] = alm->tables[s];
			__atomic_store_n(&alm->tables[s], fresh[s], __ATOMIC_RELEASE);
			any_old |= old[s] != NULL;
			alm->svc_dirty[s] = false;
		}
	}
	/* Readers may still hold the old tables and deleted backends' records. */
	if ((any_old || any_del) && alm->p.qsv != NULL)
		rte_rcu_qsbr_synchronize(alm->p.qsv, RTE_QSBR_THRID_INVALID);
	for (uint32_t s = 0; s < ns; s++) {
		table_free(old[s]);
		if (alm->svc_deleting[s]) {
			alm->svc_deleting[s] = false;
			alm->svc_exists[s] = false;
		}
	}
	for (uint32_t i = 0; i < alm->p.max_backends; i++) {
		struct alm_wb *w = &alm->wb[i];

		if (w->used && w->deleting) {
			bslot_write(&alm->pub[i], NULL, false);
			memset(w, 0, sizeof(*w));
		}
	}
	alm->st.services = 0;
	alm->st.backends = 0;
	for (uint32_t s = 0; s < ns; s++)
		alm->st.services += alm->svc_exists[s];
	for (uint32_t i = 0; i < alm->p.max_backends; i++)
		alm->st.backends += alm->wb[i].used;
	alm->st.commits++;
	alm->st.rebuilds += rebuilt;
	alm->st.last_rebuild_ns = now_ns() - t0;
	free(fresh);
	free(old);
	return 0;
}

/* ---- readers -------------------------------------------------------------- */

int mfn_alm_pick(const struct mfn_alm *alm, uint32_t service, uint64_t flow_hash,
		 struct mfn_alm_decision *out)
{
	const struct alm_table *t;
	uint32_t k;

	if (unlikely(service >= alm->p.max_services))
		return -ENOENT;
	t = __atomic_load_n(&alm->tables[service], __ATOMIC_ACQUIRE);
	if (unlikely(t == NULL))
		return -ENOENT;
	if (unlikely(t->n == 0))
		return -EHOSTUNREACH;
	/* Lemire's range reduction of the low 32 bits: no division. */
	k = t->entry[((uint64_t)(uint32_t)flow_hash * t->size) >> 32];
	out->backend = t->be[k].id;
	out->node = t->be[k].node;
	out->next_hop_node = __atomic_load_n(&alm->next_hop[out->node], __ATOMIC_ACQUIRE);
	return 0;
}

int mfn_alm_backend_get(const struct mfn_alm *alm, uint32_t backend_id,
			struct mfn_alm_backend *out)
{
	const struct alm_bslot *s;
	uint32_t s0;
	bool live;

	if (unlikely(backend_id >= alm->p.max_backends))
		return -ENOENT;
	s = &alm->pub[backend_id];
	do {
		s0 = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
		live = s->live;
		*out = s->b;
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
	} while (unlikely((s0 & 1) || __atomic_load_n(&s->seq, __ATOMIC_RELAXED) != s0));
	return live ? 0 : -ENOENT;
}

void mfn_alm_stats_get(const struct mfn_alm *alm, struct mfn_alm_stats *out)
{
	*out = alm->st;
}
