/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dp_config — hmesh-dataplane configuration: one table of keys (name, type,
 * default, bounds, validation, help) that loads the config file, takes
 * --set overrides, prints --help and the running values. See
 * common/hm_config.h for the file format and the error rules.
 *
 * Threading: loaded once on the main lcore before any worker starts; the
 * lcores only read it afterwards.
 */
#ifndef DP_CONFIG_H
#define DP_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "hm_config.h"

#define DP_LCORE_LIST_MAX 64
#define DP_PORTS_MAX 16
#define DP_BURST_MAX 512

enum dp_layout {
	DP_LAYOUT_AUTO = 0,	/* chosen from the lcore count and hwloc */
	DP_LAYOUT_RTC = 1,	/* every lcore: RX → parse → MFN → TX */
	DP_LAYOUT_PIPELINE = 2, /* RX lcores → rings → worker lcores (→ TX lcores) */
};

/* A parsed list of lcore ids ("1,3-5"). */
struct dp_lcore_list {
	uint16_t n;
	uint16_t id[DP_LCORE_LIST_MAX];
};

/* A parsed list of UDP ports, host byte order. */
struct dp_port_list {
	uint8_t n;
	uint16_t port[16];
};

struct dp_mac {
	bool set;
	uint8_t b[6];
};

/* An IP address from the config: family 0 = unset, else AF_INET / AF_INET6. */
struct dp_addr {
	int family;
	uint8_t b[16];
};

/* An address and UDP port ("ADDR:PORT", "[V6]:PORT"); family 0 = unset. */
struct dp_listen {
	struct dp_addr addr;
	uint16_t port; /* host byte order, 1..65535 when set */
};

struct dp_config {
	uint32_t rx_burst;
	uint32_t idle_sleep_us; /* sleep this long after a poll round that found nothing; 0: spin */
	uint32_t ring_size;
	uint32_t mbufs;
	uint32_t mbuf_cache;
	uint32_t rx_desc;
	uint32_t tx_desc;
	uint32_t mtu; /* every port's; the mbufs hold a whole frame of it */
	uint32_t short_dcid_len;
	struct dp_port_list stoq_ports;
	int quic_bit; /* 0 any (RFC 9287 greasing), 1 set (drop a 0 QUIC bit) */
	int layout; /* enum dp_layout */
	struct dp_lcore_list rx_lcores;
	struct dp_lcore_list worker_lcores;
	struct dp_lcore_list tx_lcores;
	int32_t tx_port;
	struct dp_mac next_hop_mac;
	/* Router mode (two ports): backends behind backend_port, replies SNATed. */
	int32_t backend_port;
	struct dp_mac backend_next_hop_mac;
	struct dp_addr service_address;
	uint32_t tx_vlan;
	bool rss;
	bool promiscuous;
	uint32_t stats_interval;
	uint32_t gen_packets;
	uint32_t gen_size;
	uint32_t gen_flows;
	uint32_t gen_initial_pct;
	uint32_t gen_port;
	/* MFN pipeline (dp_mfn.h) */
	bool mfn;
	int mfn_flow_key; /* enum dp_mfn_key_mode */
	uint32_t mfn_flows;
	double mfn_bloom_fpr;
	uint32_t mfn_idle_timeout_ms;
	char stats_segment[64]; /* "", "off" or a name */
	char ctl_socket[108];	/* sun_path; "" = no control socket */
	uint32_t mfn_services;
	uint32_t mfn_backends;
	uint32_t mfn_nodes;
	uint32_t mfn_table_size;
	uint32_t mfn_link_half_life_ms;
	uint32_t mfn_node_id;
	bool mfn_dsr;
	int mfn_rewrite; /* enum dp_mfn_rewrite */
	uint32_t mfn_rate_limit;
	uint32_t mfn_cpe_interval_ms;
	char mfn_static[1024];
	char mfn_quic_lb[512]; /* dp_quiclb.h: ID:SIDLEN:CIDLEN[:KEY],... */
	/* The STOQ server hosted in the dataplane (dp_local.h); off when unset. */
	struct dp_listen stoq_listen;
	char stoq_root[256];
	char stoq_config[256]; /* hmesh-stoq "key = value" file: cert, key, transport */
	int32_t stoq_lcore;    /* -1: the highest forwarding lcore EAL gave */
	uint32_t stoq_port;    /* dataplane port (index) its frames use */
	uint32_t stoq_prefix_len;
	struct dp_addr stoq_gateway;
};

extern const struct hm_cfg_table dp_config_table;

/* Fill @cfg with defaults. Returns 0 or -EINVAL (message in @err). */
int dp_config_defaults(struct dp_config *cfg, char *err, size_t errlen);

/*
 * Checks across keys that the per-key validators cannot see (e.g. the same
 * lcore in two roles). Returns 0 or -EINVAL naming the keys in @err.
 */
int dp_config_check(const struct dp_config *cfg, char *err, size_t errlen);

/* Is lcore @id in rx_lcores, worker_lcores or tx_lcores? */
bool dp_config_lcore_listed(const struct dp_config *cfg, uint16_t id);

#endif /* DP_CONFIG_H */
