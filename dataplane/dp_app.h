/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dp_app — state of one hmesh-dataplane process, shared by its modules
 * (ports, lcore layout, lcore loops, telemetry, generator). Private to
 * dataplane/: other processes reach the dataplane only through its control
 * socket and counters.
 *
 * Ownership: the main lcore builds everything before launching the lcores
 * and tears it down after they have all returned; while they run, the
 * lcores only read dp_app except for their own struct dp_lcore.
 */
#ifndef DP_APP_H
#define DP_APP_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_common.h>
#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_lcore.h>
#include <rte_log.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "dp_config.h"
#include "dp_parse.h"
#include "dp_pipeline.h"

struct dp_local;

extern int dp_logtype;
#define DP_LOG(level, fmt, ...)                                                                    \
	rte_log(RTE_LOG_##level, dp_logtype, "dataplane: " fmt "\n", ##__VA_ARGS__)

/*
 * Per-packet metadata, in the mbuf private area, travels through the rings.
 * The parse result first, in a cache line of its own (the private area
 * starts right after the 128-byte mbuf), and the whole area a multiple of
 * the cache line, so the packet's data starts on a line as a NIC's DMA
 * wants it: with the 8-byte out_port first, as before 2026-12-02, the
 * result straddled two lines and every frame began 8 bytes into one.
 */
struct dp_mbuf_priv {
	struct dp_pkt_info info;
	uint16_t out_port; /* set by the worker: where TX sends it */
} __rte_cache_aligned;
_Static_assert(sizeof(struct rte_mbuf) % RTE_CACHE_LINE_SIZE == 0,
	       "dp_mbuf_priv: the private area starts on a cache line");

static inline struct dp_mbuf_priv *dp_mbuf_priv(struct rte_mbuf *m)
{
	return (struct dp_mbuf_priv *)rte_mbuf_to_priv(m);
}

enum dp_role {
	DP_ROLE_NONE = 0,
	DP_ROLE_RTC,	/* RX + parse + MFN + TX */
	DP_ROLE_RX,	/* RX + parse → worker rings */
	DP_ROLE_WORKER, /* ring → MFN → TX (itself or through a TX ring) */
	DP_ROLE_TX,	/* ring → rewrite → TX */
	DP_ROLE_STOQ,	/* the hosted STOQ server (dp_local.h) */
};

const char *dp_role_name(enum dp_role r);

struct dp_rxq {
	uint16_t port;
	uint16_t queue;
};

/* Per-port TX staging on one lcore: packets grouped by output port per burst. */
struct dp_txbuf {
	uint16_t n;
	struct rte_mbuf *m[DP_BURST_MAX];
};

struct dp_lcore {
	enum dp_role role;
	uint16_t lcore_id;
	int socket;
	int hw_core;	/* hwloc core index, -1 unknown */
	int hw_package; /* hwloc package index, -1 unknown */
	bool transmits; /* owns TX queue txq on every port */
	uint16_t txq;
	uint16_t n_rxq;
	struct dp_rxq rxq[DP_PORTS_MAX];
	struct rte_ring *in_ring;		 /* WORKER, TX */
	uint16_t n_out;				 /* RX: worker rings; WORKER: TX rings */
	struct rte_ring *out_ring[RTE_MAX_LCORE / 8]; /* RX: one per worker */
	struct dp_txbuf *txb;			 /* DP_PORTS_MAX entries, on transmitting lcores */
	struct dp_local *drains; /* moves the hosted endpoint's frames out (one lcore) */
} __rte_cache_aligned;

struct dp_port {
	uint16_t port_id;
	int socket;
	uint16_t n_rxq;
	uint16_t n_txq;
	bool rss;
	struct rte_ether_addr mac;
	char name[RTE_ETH_NAME_MAX_LEN];
	char driver[32];
	bool started;
};

#define DP_MAX_WORKERS 64

struct dp_app {
	struct dp_config cfg;
	struct dp_parse_cfg parse_cfg;
	/* RX parses two frames at a time (AVX2, dp_parse_pair_usable; EAL's
	 * --force-max-simd-bitwidth=128 turns it off). Set before lcores start. */
	bool parse_pair;
	enum dp_layout layout; /* resolved: RTC or PIPELINE */

	uint16_t n_ports;
	struct dp_port ports[DP_PORTS_MAX];
	/* Port id → index in ports[], -1 for ports that are not ours. Read on TX. */
	int8_t port_index[RTE_MAX_ETHPORTS];
	struct rte_mempool *pool[RTE_MAX_NUMA_NODES];

	struct dp_lcore lcores[RTE_MAX_LCORE];
	uint16_t n_rx, n_workers, n_tx, n_rtc;
	uint16_t rx_ids[RTE_MAX_LCORE], worker_ids[RTE_MAX_LCORE], tx_ids[RTE_MAX_LCORE];

	const struct dp_pipeline_ops *pipe;
	void *pipe_ctx;
	struct dp_local *local; /* stoq_listen, NULL when off */
	char stats_name[64];	/* the stats segment's name, "" when off */

	/* Shutdown in stages so the rings drain: RX stops, workers empty their
	 * rings, then TX empties its rings. */
	volatile bool stop_rx;
	volatile bool quit;
	uint32_t rx_running;	 /* atomic */
	uint32_t worker_running; /* atomic */
};

extern struct dp_app dp_app;

/* dp_port.c */
int dp_ports_init(struct dp_app *app);
void dp_ports_fini(struct dp_app *app);
/* The pool serving @socket (falls back to the first pool when -1). */
struct rte_mempool *dp_pool_for_socket(struct dp_app *app, int socket);

/* dp_layout.c: choose lcore roles and queues, print the table. */
int dp_layout_init(struct dp_app *app);
int dp_layout_rings_init(struct dp_app *app);
void dp_layout_fini(struct dp_app *app);
void dp_layout_print(const struct dp_app *app, FILE *out);

/* dp_loop.c: the lcore entry point for rte_eal_remote_launch, and what the
 * loops build from the configuration once, before the lcores start. */
int dp_lcore_main(void *arg);
void dp_loop_prepare(const struct dp_app *app);

/* dp_gen.c */
int dp_gen_inject(struct dp_app *app);
/* Build one generator frame for flow @flow into @buf; returns its length. */
uint16_t dp_gen_frame(const struct dp_config *cfg, uint32_t flow, bool initial, uint8_t *buf,
		      uint16_t buflen);

/* dp_telemetry.c */
int dp_telemetry_register(struct dp_app *app);
void dp_stats_print(const struct dp_app *app, FILE *out, double seconds);

#endif /* DP_APP_H */
