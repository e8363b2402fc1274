/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mfn_alm — L3 of the MFN, the associative learning mesh: where should a new
 * flow of a service go?
 *
 * Model
 *   - A graph of mesh nodes (ids 0..max_nodes-1; this node is local_node)
 *     and undirected links. A link's cost learns from measured round-trip
 *     time and loss: exponentially weighted moving averages whose weight
 *     follows the time between samples, alpha = 1 - 2^(-dt / half_life), so
 *     a step change is half absorbed after one half-life whatever the
 *     sampling rate. cost(link) = rtt_ewma_us x (1 + MFN_ALM_LOSS_PENALTY x
 *     loss_ewma); a link with no sample yet costs MFN_ALM_DEFAULT_RTT_US.
 *     Path costs from local_node are shortest paths (Dijkstra) over links
 *     that are up; the first hop of each path is kept as the next hop.
 *   - Per service, a Maglev lookup table of table_size (prime) entries over
 *     its healthy backends on reachable nodes (Eisenbud et al., "Maglev: A
 *     Fast and Reliable Software Network Load Balancer", NSDI 2016, §3.4).
 *     Each backend gets a permutation of the table from two hashes of its id
 *     (offset, skip); the population loop lets backends claim their next
 *     preferred free entry in turn. Weights: a backend's effective weight is
 *       w_eff = weight / (1 + path_cost_us / MFN_ALM_COST_REF_US)
 *     (0 for local backends' path cost), and in pass t of the population loop
 *     a backend claims an entry only while it holds fewer than
 *     (t + 1) x w_eff / max(w_eff) entries, so entries split in proportion to
 *     w_eff. Removing one of N backends moves its own ~M/N entries and, as
 *     the paper measures, only a few others.
 *   - The per-flow decision is one table index: entry[(hash x M) >> 32].
 *
 * Threads
 *   One writer (the control path: in the dataplane the main lcore) calls the
 *   setters and mfn_alm_commit(). Changes are staged and become visible at
 *   commit: the tables that changed are rebuilt off the hot path and
 *   published with an atomic pointer store; the old ones are freed after an
 *   RCU grace period (rte_rcu_qsbr_synchronize on @qsv, which blocks the
 *   writer, never the readers). Readers (worker lcores) call mfn_alm_pick()
 *   and mfn_alm_backend_get() concurrently: no lock, no allocation, no
 *   atomic read-modify-write; backend records are read under a per-record
 *   sequence count. A deleted backend stays readable until the commit that
 *   removes it from every table has passed its grace period.
 */
#ifndef MFN_ALM_H
#define MFN_ALM_H

#include <stdbool.h>
#include <stdint.h>

struct rte_rcu_qsbr;

#define MFN_ALM_DEFAULT_RTT_US 1000.0 /* cost of a link before its first sample */
#define MFN_ALM_LOSS_PENALTY 10.0     /* 10% loss doubles a link's cost */
#define MFN_ALM_COST_REF_US 10000.0   /* a 10 ms path halves a backend's share */
#define MFN_ALM_NODES_MAX 256
#define MFN_ALM_WEIGHT_MAX 1000000 /* a backend's weight is 1..this */

struct mfn_alm_params {
	uint32_t max_services;	/* service ids 0..max_services-1 */
	uint32_t max_backends;	/* backend ids 0..max_backends-1 */
	uint16_t max_nodes;	/* node ids 0..max_nodes-1, <= MFN_ALM_NODES_MAX */
	uint32_t table_size;	/* Maglev M: prime, >= 101; the paper advises >= 100 x backends */
	uint32_t half_life_ms;	/* of the link RTT and loss averages, >= 1 */
	uint16_t local_node;	/* < max_nodes */
	struct rte_rcu_qsbr *qsv; /* readers' QSBR variable; NULL: single-threaded use */
	int socket_id;
};

struct mfn_alm_backend {
	uint32_t id;
	uint32_t service;
	uint16_t node;
	uint32_t weight; /* 1..MFN_ALM_WEIGHT_MAX */
	bool healthy;
	uint8_t family;	 /* AF_INET or AF_INET6 */
	uint8_t addr[16]; /* IPv4: first 4 bytes */
	uint16_t port;	 /* host order */
};

struct mfn_alm_decision {
	uint32_t backend;
	uint16_t node;		/* the backend's node */
	uint16_t next_hop_node; /* first hop towards it; local_node when local */
};

struct mfn_alm_stats {
	uint64_t services;
	uint64_t backends;
	uint64_t links_up;
	uint64_t commits;
	uint64_t rebuilds;	  /* Maglev tables rebuilt */
	uint64_t last_rebuild_ns; /* duration of the last commit's rebuilds */
};

struct mfn_alm;

/*
 * Create. Returns 0 and *@out, or -EINVAL (a parameter out of range, logged
 * with its name and value) or -ENOMEM.
 */
int mfn_alm_create(const struct mfn_alm_params *p, struct mfn_alm **out);
/* NULL is a no-op; no reader may run any more. */
void mfn_alm_destroy(struct mfn_alm *alm);

/*
 * Writer. Each returns 0 or a negative errno and leaves the state unchanged
 * on error (logged with the field and value): -EINVAL bad id or field,
 * -ENOENT unknown service/backend, -EEXIST a backend id owned by another
 * service. Staged until mfn_alm_commit().
 */
int mfn_alm_service_set(struct mfn_alm *alm, uint32_t service); /* create if absent */
int mfn_alm_service_del(struct mfn_alm *alm, uint32_t service); /* and its backends */
int mfn_alm_backend_set(struct mfn_alm *alm, const struct mfn_alm_backend *b);
int mfn_alm_backend_del(struct mfn_alm *alm, uint32_t backend_id);
/* Writer: does @service exist (set, not deleted) in the staged state? */
bool mfn_alm_service_staged(const struct mfn_alm *alm, uint32_t service);
/* Writer: the staged record of a backend that is set and not deleted. 0 or -ENOENT. */
int mfn_alm_backend_staged(const struct mfn_alm *alm, uint32_t backend_id,
			   struct mfn_alm_backend *out);
/* Bring a link up or down (creating it); a != b. */
int mfn_alm_link_set(struct mfn_alm *alm, uint16_t a, uint16_t b, bool up);
/* One measurement of a link's RTT and loss fraction (0..1) at @now_ns; brings it up. */
int mfn_alm_link_observe(struct mfn_alm *alm, uint16_t a, uint16_t b, uint32_t rtt_us,
			 double loss, uint64_t now_ns);

/*
 * Writer: recompute path costs, rebuild the tables whose backends or
 * weights changed, publish them, wait for a grace period, free the old
 * ones. Returns 0 or -ENOMEM (nothing published).
 */
int mfn_alm_commit(struct mfn_alm *alm);

/*
 * Readers: the backend for a flow of @service with @flow_hash (32 bits are
 * used). Returns 0, -ENOENT no such service, -EHOSTUNREACH no healthy
 * reachable backend.
 */
int mfn_alm_pick(const struct mfn_alm *alm, uint32_t service, uint64_t flow_hash,
		 struct mfn_alm_decision *out);

/* Readers: a copy of a backend's record. Returns 0 or -ENOENT. */
int mfn_alm_backend_get(const struct mfn_alm *alm, uint32_t backend_id,
			struct mfn_alm_backend *out);

/* Writer: the current path cost to @node in microseconds; -1 if unreachable. */
double mfn_alm_path_cost(const struct mfn_alm *alm, uint16_t node);

/* Writer: a link's averages; -ENOENT when it has no sample. */
int mfn_alm_link_get(const struct mfn_alm *alm, uint16_t a, uint16_t b, double *rtt_us,
		     double *loss, bool *up);

void mfn_alm_stats_get(const struct mfn_alm *alm, struct mfn_alm_stats *out);

#endif /* MFN_ALM_H */
