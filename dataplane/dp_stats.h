/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dp_stats — per-lcore counters of the dataplane.
 *
 * Each lcore owns one cache-line-aligned block and is its only writer:
 * updates are plain relaxed stores (no lock, no atomic read-modify-write),
 * once per burst. Readers (the main lcore's telemetry callbacks and the
 * final report) sum across lcores; a 64-bit aligned store is never torn on
 * the platforms DPDK supports, so a reader sees each counter either before
 * or after an update.
 *
 * Every counter and every drop reason has one name, generated from the
 * X-macro lists below (STYLE §7) into the enum, the telemetry keys and the
 * metric names.
 */
#ifndef DP_STATS_H
#define DP_STATS_H

#include <stdint.h>

#include <rte_common.h>
#include <rte_lcore.h>

#include "dp_config.h"
#include "dp_parse.h"
#include "hm_stats.h"

/* Plain counters: X(ENUM, name, description). */
#define DP_COUNTERS(X)                                                                             \
	X(RX_PACKETS, rx_packets, "packets received from ports")                                   \
	X(RX_BYTES, rx_bytes, "bytes received from ports")                                         \
	X(TX_PACKETS, tx_packets, "packets transmitted")                                           \
	X(TX_BYTES, tx_bytes, "bytes transmitted")                                                 \
	X(RX_POLLS, rx_polls, "RX polls (rx_burst or ring dequeue calls)")                         \
	X(RX_EMPTY_POLLS, rx_empty_polls, "RX polls that returned nothing")                        \
	X(RING_ENQ, ring_enqueued, "packets enqueued to the next stage's ring")                    \
	X(RING_DEQ, ring_dequeued, "packets dequeued from the previous stage's ring")              \
	X(MFN_PACKETS, mfn_packets, "packets through the MFN pipeline")                            \
	X(QUIC_LONG, quic_long, "QUIC long-header packets (Initial, 0-RTT, Handshake, Retry)")     \
	X(QUIC_SHORT, quic_short, "QUIC short-header packets")                                     \
	X(QUIC_VN, quic_version_negotiation, "version negotiation or unknown-version packets")     \
	X(IP4_FRAGMENTS, ip_first_fragments, "first fragments parsed (flagged, not dropped)")      \
	X(VLAN_PUSHED, tx_vlan_pushed, "802.1Q tags pushed on TX")                                 \
	X(MFN_L1_HIT, mfn_l1_hits, "L1 IFR flow-table hits")                                       \
	X(MFN_L1_MISS, mfn_l1_misses, "L1 IFR misses (new or expired flows)")                      \
	X(MFN_L1_BLOOM_NEG, mfn_l1_bloom_negatives, "L1 misses answered by the Bloom filter alone") \
	X(MFN_L1_INSERT, mfn_l1_inserts, "flows inserted into L1 after an L3 decision")            \
	X(MFN_L1_INSERT_FAIL, mfn_l1_insert_failed, "L1 inserts refused (table full); flow forwarded uncached") \
	X(MFN_L2_NEW_FLOWS, mfn_l2_new_flows, "new flows classified by L2 DSR")                    \
	X(MFN_L2_ADMIT, mfn_l2_admitted, "new flows L2 DSR admitted")                              \
	X(MFN_L2_RETRY, mfn_l2_retry, "new flows L2 DSR wants address-validated (forwarded; the backend's STOQ server sends Retry)") \
	X(MFN_L2_RATE_PASS, mfn_l2_rate_limit_passed, "new flows L2 rate-limited that were within their source's rate") \
	X(MFN_L2_FEEDBACK, mfn_l2_handshakes, "flows L2 admitted seen completing their handshake (taught to L2)") \
	X(MFN_L3_DECISIONS, mfn_l3_decisions, "backend decisions made by L3 ALM")                  \
	X(MFN_L3_REMOTE, mfn_l3_remote, "L3 decisions whose backend is on another mesh node")     \
	X(MFN_QUICLB_ROUTED, mfn_quic_lb_routed,                                                   \
	  "new short-header flows sent to the backend their DCID names (QUIC-LB)")                 \
	X(MFN_QUICLB_MISS, mfn_quic_lb_miss,                                                       \
	  "new short-header flows whose DCID named no config or no usable backend (L2/L3 decide)") \
	X(MFN_REPLIES, mfn_replies, "router mode: replies from backends given service_address as their source") \
	X(MFN_NS_L1, mfn_l1_ns, "nanoseconds spent in L1 by the timed bursts (one in 8), summed")  \
	X(MFN_L1_TIMED, mfn_l1_timed_packets, "packets of the bursts whose L1 time is in mfn_l1_ns") \
	X(MFN_NS_L2, mfn_l2_ns, "nanoseconds spent in L2 (per new flow, summed)")                  \
	X(MFN_NS_L3, mfn_l3_ns, "nanoseconds spent in L3 (per new flow, summed)")                 \
	X(LOCAL_RX, stoq_local_rx, "frames handed to the hosted STOQ server (stoq_listen)")       \
	X(LOCAL_TX, stoq_local_tx, "frames the hosted STOQ server sent, moved to its port")

/* Drop reasons outside the parser: X(ENUM, name, description). */
#define DP_DROPS(X)                                                                                \
	X(RING_FULL_WORKER, ring_full_worker, "RX → worker ring full (backpressure)")              \
	X(RING_FULL_TX, ring_full_tx, "worker → TX ring full (backpressure)")                      \
	X(TX_FULL, tx_full, "TX queue did not take the packet")                                     \
	X(MFN_NO_SERVICE, mfn_no_service, "destination port is no configured service")             \
	X(MFN_NO_BACKEND, mfn_no_backend, "the service has no healthy backend")                    \
	X(MFN_AF_MISMATCH, mfn_af_mismatch, "backend address family differs from the packet's (DNAT impossible)") \
	X(MFN_L2_RATELIMIT, mfn_l2_rate_limited, "L2 DSR rate-limited the source")                 \
	X(MFN_L2_DROP, mfn_l2_dropped, "L2 DSR classified the flow as an attack and dropped it")   \
	X(MFN_REPLY_NO_SERVICE, mfn_reply_no_service, "router mode: from backend_port, but not from a service port") \
	X(NO_PORT, no_tx_port, "destination port does not exist")                                   \
	X(VLAN_PUSH, vlan_push_failed, "no headroom to push the TX VLAN tag")                      \
	X(MULTISEG, multiseg, "headers not in the first segment")                                  \
	X(LOCAL_FULL, stoq_local_full, "ring to the hosted STOQ server full")

enum dp_counter {
#define DP_X(e, n, d) DP_C_##e,
	DP_COUNTERS(DP_X)
#undef DP_X
	DP_C__COUNT
};

enum dp_drop {
#define DP_X(e, n, d) DP_D_##e,
	DP_DROPS(DP_X)
#undef DP_X
	DP_D__COUNT
};

/*
 * Latency histograms (hm_stats log-linear buckets of nanoseconds):
 * X(ENUM, labels, description). All are one metric, mfn_layer_seconds,
 * told apart by the layer label.
 */
#define DP_HISTS(X)                                                                                \
	X(MFN_L1, "layer=l1", "L1 lookup time per packet of a timed burst")                        \
	X(MFN_L2, "layer=l2", "L2 classification time per new flow")                             \
	X(MFN_L3, "layer=l3", "L3 decision time per new flow")

enum dp_hist {
#define DP_X(e, l, d) DP_H_##e,
	DP_HISTS(DP_X)
#undef DP_X
	DP_H__COUNT
};

/* Ethdev counters copied by the main lcore: X(ENUM, name, rte_eth_stats field, description). */
#define DP_PORT_STATS(X)                                                                           \
	X(IPACKETS, port_rx_packets, ipackets, "packets the port received")                       \
	X(IBYTES, port_rx_bytes, ibytes, "bytes the port received")                                \
	X(OPACKETS, port_tx_packets, opackets, "packets the port transmitted")                    \
	X(OBYTES, port_tx_bytes, obytes, "bytes the port transmitted")                             \
	X(IMISSED, port_rx_missed, imissed, "packets the port dropped: RX queue full")             \
	X(IERRORS, port_rx_errors, ierrors, "erroneous packets received")                          \
	X(OERRORS, port_tx_errors, oerrors, "packets the port failed to transmit")                 \
	X(NOMBUF, port_rx_nombuf, rx_nombuf, "RX mbuf allocation failures (mempool exhausted)")

enum dp_port_stat {
#define DP_X(e, n, f, d) DP_P_##e,
	DP_PORT_STATS(DP_X)
#undef DP_X
	DP_P__COUNT
};

/*
 * One lcore's counters. parse[DP_PARSE_OK] counts parsed packets; every
 * other parse[] slot is a drop reason, as is every drop[] slot.
 *
 * The blocks live in the stats segment (/dev/shm/hmesh-dataplane, see
 * hm_stats.h) when it is open, so hmesh-stat and collectd read the very
 * words the lcores write: no copy, no extra store on the packet path.
 */
struct dp_lcore_stats {
	uint64_t c[DP_C__COUNT];
	uint64_t drop[DP_D__COUNT];
	uint64_t parse[DP_PARSE__COUNT];
	uint64_t hist[DP_H__COUNT][HM_STATS_HIST_WORDS];
	uint64_t port[DP_PORTS_MAX][DP_P__COUNT]; /* main lcore's block only */
} __rte_cache_aligned;

/* All lcores' blocks, indexed by lcore id: the segment's, or private memory. */
extern struct dp_lcore_stats *dp_stats;

/*
 * Create stats segment @name (hm_stats_create) holding every lcore's block
 * and describe each counter, drop reason and histogram in its directory;
 * dp_stats then points into it. Call before any lcore counts. Returns 0 or
 * a negative errno (logged).
 */
int dp_stats_segment_open(const char *name);

/* Label lcore @lcore_id's block ("lcore=3,role=rx,socket=0,core=2"; -1 unknown). */
void dp_stats_segment_label(unsigned int lcore_id, const char *role, int socket, int core);

struct dp_app;

/* After the ports are up: describe the port counters (port=N) in the segment. */
int dp_stats_segment_ports(const struct dp_app *app);

/* Main lcore: copy every port's ethdev counters into its block. */
void dp_stats_ports_update(const struct dp_app *app);

/* Copy the blocks back to private memory and remove the segment. */
void dp_stats_segment_close(void);

/*
 * Every packet-path update goes through DP_COUNT / DP_HIST, so that a build
 * with DP_STATS_OFF (make DP_STATS=off) compiles them out: perf/telemetry.sh
 * measures what counting costs against that build. (sizeof keeps the
 * operands "used" without evaluating them.)
 */
#ifdef DP_STATS_OFF
#define DP_COUNT(update) ((void)sizeof(update))
#define DP_HIST(h, v)	 ((void)sizeof(h), (void)sizeof(v))
#else
#define DP_COUNT(update) ((void)(update))
#define DP_HIST(h, v)	 hm_stats_hist_add((h), (v))
#endif

/* Add on the owning lcore: a relaxed store, never a locked RMW. */
static inline void dp_stat_add(uint64_t *ctr, uint64_t v)
{
	__atomic_store_n(ctr, *ctr + v, __ATOMIC_RELAXED);
}

static inline uint64_t dp_stat_read(const uint64_t *ctr)
{
	return __atomic_load_n(ctr, __ATOMIC_RELAXED);
}

const char *dp_counter_name(enum dp_counter c);
const char *dp_drop_name(enum dp_drop d);

/* Sum every lcore's block into @out (any lcore, lock-free, racy-consistent per value). */
void dp_stats_sum(struct dp_lcore_stats *out);

/* Total packets dropped for any reason in @s. */
uint64_t dp_stats_drops_total(const struct dp_lcore_stats *s);

/* Zero every block (only while no lcore is running). */
void dp_stats_reset(void);

#endif /* DP_STATS_H */
