/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dp_mfn — the dataplane's MFN pipeline (dp_pipeline_mfn) and the
 * main-lcore functions that change its state (the mfn_static config key and
 * the control socket call them).
 *
 * Per burst on a processing lcore: L1 IFR bulk lookup; for each miss, the
 * UDP destination port names the service (none: dropped as mfn_no_service),
 * L2 DSR classifies the first packet (admit / Retry / rate-limit / drop),
 * L3 ALM picks the backend from the service's consistent-hash table, and the
 * flow is handed to the main lcore to be registered in L1. Every packet of a
 * known flow then goes to its backend: with mfn_rewrite = dnat its
 * destination address and port become the backend's. L4 CPE is fed each
 * mfn_cpe_interval_ms with every service's new flows, packets and bytes per
 * second and forecasts them (dp_mfn_cpe()).
 *
 * Threading: every function below runs on the main lcore only, the single
 * writer of the L1 and L3 tables; processing lcores see the changes through
 * RCU without stopping. Table changes (service/backend set/del) take effect
 * at the next dp_mfn_commit().
 */
#ifndef DP_MFN_H
#define DP_MFN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alm.h"
#include "cpe.h"
#include "ifr.h"

#define DP_MFN_SERVICES_MAX 4096
#define DP_MFN_STATIC_MAX 1024

enum dp_mfn_key_mode {
	DP_MFN_KEY_TUPLE = 0, /* UDP 5-tuple: stable for a connection unless it migrates */
	DP_MFN_KEY_CID = 1,   /* QUIC DCID (RFC 9000 §5.1), 5-tuple when it has none */
};

enum dp_mfn_rewrite {
	DP_MFN_REWRITE_NONE = 0, /* forward unchanged */
	DP_MFN_REWRITE_DNAT = 1, /* destination address and port := the backend's */
};

struct dp_mfn;

/* The running pipeline's state, NULL when the pipeline is not "mfn". */
struct dp_mfn *dp_mfn_get(void);

/*
 * Main lcore: apply a runtime setting of the MFN (mfn_rate_limit,
 * mfn_idle_timeout_ms; hm_knobs.h) already range-checked. Workers see the
 * new rate at their next token refill. 0, or -ENOTSUP for another knob.
 */
int dp_mfn_knob_set(struct dp_mfn *m, int knob, uint64_t value);

/* Map UDP port @udp_port to @service (creating it in L3). 0 or -EINVAL (logged). */
int dp_mfn_service_set(struct dp_mfn *m, uint32_t service, uint16_t udp_port);
/* Remove a service, its port and its backends. 0, -EINVAL or -ENOENT. */
int dp_mfn_service_del(struct dp_mfn *m, uint32_t service);
/* Add or update a backend (see struct mfn_alm_backend). 0 or a negative errno. */
int dp_mfn_backend_set(struct dp_mfn *m, const struct mfn_alm_backend *b);
/* Remove a backend and every L1 flow decided for it (they are decided again). */
int dp_mfn_backend_del(struct dp_mfn *m, uint32_t backend);
/* Rebuild and publish the L3 tables. 0 or a negative errno. */
int dp_mfn_commit(struct dp_mfn *m);

/* What dp_mfn_static_parse() calls for each service and backend it reads. */
struct dp_mfn_static_ops {
	int (*service)(void *ctx, uint32_t id, uint16_t udp_port);
	int (*backend)(void *ctx, const struct mfn_alm_backend *b);
	uint16_t default_node; /* for backends without #NODE */
};

/*
 * Parse an mfn_static text (dp_mfn_static.c):
 *   SERVICE@UDPPORT=ADDR:PORT[*WEIGHT][#NODE][,...][;SERVICE@...]
 * ADDR is a.b.c.d or [IPv6]; WEIGHT is 1..MFN_ALM_WEIGHT_MAX (default 1),
 * NODE < MFN_ALM_NODES_MAX (default @ops->default_node); a service id or a
 * UDP port listed twice is refused. Backends are numbered 0, 1, ... in order.
 * @ops NULL: only check it. Returns 0 or -EINVAL with the reason in @why.
 */
int dp_mfn_static_parse(const char *text, const struct dp_mfn_static_ops *ops, void *ctx,
			char *why, size_t whylen);

/* Parse and apply an mfn_static text to @m, then commit. 0 or -EINVAL (@why). */
int dp_mfn_static_apply(struct dp_mfn *m, const char *text, char *why, size_t whylen);

struct mfn_ifr *dp_mfn_ifr(struct dp_mfn *m);
struct mfn_alm *dp_mfn_alm(struct dp_mfn *m);
struct mfn_cpe *dp_mfn_cpe(struct dp_mfn *m);

/*
 * The latest L4 forecast of @service (any thread: a seqlock snapshot the
 * main lcore publishes each mfn_cpe_interval_ms): @out[0..*horizon-1] are
 * the next intervals; @model false while the service is still warming up
 * (last-value forecasts). Returns 0, -EINVAL (id out of range) or -ENOENT
 * (no traffic seen yet).
 */
int dp_mfn_prediction(const struct dp_mfn *m, uint32_t service, struct mfn_cpe_forecast *out,
		      unsigned int *horizon, uint64_t *t_ns, bool *model);
#define DP_MFN_PRED_MAX 6

/* Sum of a service's per-lcore counters since start. */
void dp_mfn_lcore_counters(const struct dp_mfn *m, uint32_t service, uint64_t *flows,
			   uint64_t *packets, uint64_t *bytes);

#endif /* DP_MFN_H */
