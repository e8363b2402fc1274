/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dp_pipeline — the interface between the dataplane's lcore loops and the
 * decision logic that picks each packet's destination (the MFN layers).
 * An ops table (STYLE §8) so the pass-through and the MFN implementations
 * swap without touching the loops.
 */
#ifndef DP_PIPELINE_H
#define DP_PIPELINE_H

#include <stdint.h>

#include <rte_mbuf.h>

#include "dp_parse.h"

struct dp_app;

/*
 * out_ports[] value meaning "drop this packet". The pipeline counts the
 * reason itself (one of the mfn_* drop reasons of dp_stats.h) so that every
 * dropped packet is counted exactly once.
 */
#define DP_PORT_DROP UINT16_MAX

/* process() result: out_ports[] holds each packet's own port. */
#define DP_PIPE_PER_PACKET (-1)

struct dp_pipeline_ops {
	const char *name;
	/*
	 * Build the pipeline's state; main lcore, after ports are up and before
	 * any lcore runs. Returns 0 or a negative errno (logged by the callee).
	 */
	int (*create)(const struct dp_app *app, void **ctx);
	/*
	 * Decide a burst of @n packets. Returns a port when every packet goes
	 * to it, without writing out_ports[] (one uplink, or a burst sent back
	 * where it came from: no pass over the burst to write and then read
	 * the same port @n times); or DP_PIPE_PER_PACKET after writing
	 * out_ports[i] for each packet, a port or DP_PORT_DROP. @in_port: the
	 * port every packet came in on (a burst from one RX queue, RTC), or
	 * -1 when they may differ (a worker fed by a ring). Called on worker
	 * and RTC lcores concurrently, one call per burst; must not block,
	 * allocate or log.
	 */
	int (*process)(void *ctx, unsigned int lcore_id, struct rte_mbuf **pkts,
		       struct dp_pkt_info *const *info, int in_port, uint16_t *out_ports,
		       uint16_t n);
	/* Once per loop iteration on the same lcores (RCU quiescent state). May be NULL. */
	void (*quiescent)(void *ctx, unsigned int lcore_id);
	/*
	 * When a processing lcore starts and stops its loop (RCU: online and
	 * offline, so a grace period never waits for an lcore that is not
	 * running). May be NULL.
	 */
	void (*lcore_enter)(void *ctx, unsigned int lcore_id);
	void (*lcore_exit)(void *ctx, unsigned int lcore_id);
	/*
	 * Main lcore, from its control loop, every few milliseconds: the
	 * pipeline's writer-side work (table inserts requested by workers,
	 * ageing, control requests). @now_ns is CLOCK_MONOTONIC. May be NULL.
	 */
	void (*main_poll)(void *ctx, uint64_t now_ns);
	/* Main lcore, after every lcore has returned. destroy(NULL) is a no-op. */
	void (*destroy)(void *ctx);
};

/* Forwards every packet to tx_port (or back out of its input port when -1). */
extern const struct dp_pipeline_ops dp_pipeline_passthrough;

/* The MFN: L1 IFR -> (miss) L2 DSR -> L3 ALM -> insert into L1; dp_mfn.c. */
extern const struct dp_pipeline_ops dp_pipeline_mfn;

#endif /* DP_PIPELINE_H */
