/* SPDX-License-Identifier: BSD-3-Clause */
#include "dp_config.h"
#include "hm_idlist.h"
#include "hm_stats.h"
#include "dp_mfn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dp_parse.h"
#include "dp_quiclb.h"

static const char *const dp_layout_names[] = { "auto", "rtc", "pipeline", NULL };
static const char *const dp_mfn_key_names[] = { "tuple", "cid", NULL };
static const char *const dp_mfn_rewrite_names[] = { "none", "dnat", NULL };

/* A segment name is a file name under /dev/shm: the same rule as hm_stats_path(). */
static int validate_stats_segment(const struct hm_cfg_key *key __attribute__((unused)), const void *obj,
				  char *why, size_t why_len)
{
	const char *v = ((const struct dp_config *)obj)->stats_segment;
	char path[256];

	if (*v == '\0' || strcmp(v, "off") == 0 || hm_stats_path(v, path, sizeof(path)) == 0)
		return 0;
	snprintf(why, why_len, "must be 1-63 characters of [A-Za-z0-9_.-], not starting with '.'");
	return -EINVAL;
}

/* An absolute path that fits sun_path; the socket itself is created at start. */
static int validate_ctl_socket(const struct hm_cfg_key *key __attribute__((unused)),
			       const void *obj, char *why, size_t why_len)
{
	const char *v = ((const struct dp_config *)obj)->ctl_socket;

	if (*v == '\0')
		return 0;
	if (v[0] != '/') {
		snprintf(why, why_len, "must be an absolute path");
		return -EINVAL;
	}
	if (strlen(v) >= 108) {
		snprintf(why, why_len, "must be shorter than 108 bytes (sun_path)");
		return -EINVAL;
	}
	return 0;
}

/* mfn_static is checked at load (syntax, ids, addresses), applied at start. */
static int validate_mfn_static(const struct hm_cfg_key *key, const void *obj, char *why,
			       size_t whylen)
{
	const char *text = (const char *)obj + key->offset;

	return dp_mfn_static_parse(text, NULL, NULL, why, whylen);
}

/* mfn_quic_lb: each config's fields are checked at load (dp_quiclb.h). */
static int validate_quic_lb(const struct hm_cfg_key *key, const void *obj, char *why,
			    size_t whylen)
{
	struct dp_quiclb q;

	return dp_quiclb_parse((const char *)obj + key->offset, &q, why, whylen);
}

static int validate_prime(const struct hm_cfg_key *key, const void *obj, char *why, size_t whylen)
{
	uint32_t v = *(const uint32_t *)((const char *)obj + key->offset);

	for (uint32_t d = 2; (uint64_t)d * d <= v; d++)
		if (v % d == 0) {
			snprintf(why, whylen, "must be prime (Maglev table size), %" PRIu32
					      " = %" PRIu32 " x %" PRIu32, v, d, v / d);
			return -EINVAL;
		}
	return 0;
}

/* One more lcore of a list: at most DP_LCORE_LIST_MAX, none twice. */
static int lcore_list_add(void *arg, unsigned int id, char *why, size_t whylen)
{
	struct dp_lcore_list *l = arg;

	for (uint16_t j = 0; j < l->n; j++) {
		if (l->id[j] == id) {
			snprintf(why, whylen, "lcore %u listed twice", id);
			return -EINVAL;
		}
	}
	if (l->n == DP_LCORE_LIST_MAX) {
		snprintf(why, whylen, "more than %d lcores", DP_LCORE_LIST_MAX);
		return -EINVAL;
	}
	l->id[l->n++] = (uint16_t)id;
	return 0;
}

/* "1,3-5" → ids; empty text is an empty list (meaning: choose automatically). */
static int parse_lcore_list(const char *text, void *field, char *why, size_t whylen)
{
	memset(field, 0, sizeof(struct dp_lcore_list));
	return hm_idlist_parse(text, 1023, "lcore", lcore_list_add, field, why, whylen);
}

static int format_lcore_list(const void *field, char *buf, size_t buflen)
{
	const struct dp_lcore_list *l = field;
	size_t n = 0;

	buf[0] = '\0';
	for (uint16_t i = 0; i < l->n; i++) {
		int m = snprintf(buf + n, buflen - n, "%s%u", i ? "," : "", l->id[i]);

		if (m < 0 || (size_t)m >= buflen - n)
			return -ENOSPC;
		n += (size_t)m;
	}
	return 0;
}

static int parse_port_list(const char *text, void *field, char *why, size_t whylen)
{
	struct dp_port_list *l = field;
	const char *p = text;

	memset(l, 0, sizeof(*l));
	while (*p) {
		char *end;
		unsigned long v = strtoul(p, &end, 10);

		if (end == p || v == 0 || v > 65535) {
			snprintf(why, whylen, "ports must be 1..65535, comma-separated");
			return -EINVAL;
		}
		if (l->n == DP_PARSE_PORTS_MAX) {
			snprintf(why, whylen, "more than %d ports", DP_PARSE_PORTS_MAX);
			return -EINVAL;
		}
		l->port[l->n++] = (uint16_t)v;
		if (*end == ',')
			end++;
		else if (*end != '\0') {
			snprintf(why, whylen, "ports must be 1..65535, comma-separated");
			return -EINVAL;
		}
		p = end;
	}
	return 0;
}

static int format_port_list(const void *field, char *buf, size_t buflen)
{
	const struct dp_port_list *l = field;
	size_t n = 0;

	buf[0] = '\0';
	for (uint8_t i = 0; i < l->n; i++) {
		int m = snprintf(buf + n, buflen - n, "%s%u", i ? "," : "", l->port[i]);

		if (m < 0 || (size_t)m >= buflen - n)
			return -ENOSPC;
		n += (size_t)m;
	}
	return 0;
}

static int parse_mac(const char *text, void *field, char *why, size_t whylen)
{
	struct dp_mac *mac = field;
	unsigned int b[6];
	char tail;

	memset(mac, 0, sizeof(*mac));
	if (text[0] == '\0')
		return 0;
	if (sscanf(text, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
		   &tail) != 6 ||
	    strlen(text) != 17) {
		snprintf(why, whylen, "expected a MAC address like 02:00:00:00:00:01");
		return -EINVAL;
	}
	for (int i = 0; i < 6; i++)
		mac->b[i] = (uint8_t)b[i];
	mac->set = true;
	return 0;
}

static int format_mac(const void *field, char *buf, size_t buflen)
{
	const struct dp_mac *m = field;
	int n;

	if (!m->set)
		n = snprintf(buf, buflen, "%s", "");
	else
		n = snprintf(buf, buflen, "%02x:%02x:%02x:%02x:%02x:%02x", m->b[0], m->b[1], m->b[2],
			     m->b[3], m->b[4], m->b[5]);
	return (n < 0 || (size_t)n >= buflen) ? -ENOSPC : 0;
}

static int parse_addr(const char *text, void *field, char *why, size_t whylen)
{
	struct dp_addr *a = field;

	memset(a, 0, sizeof(*a));
	if (text[0] == '\0')
		return 0;
	if (inet_pton(AF_INET, text, a->b) == 1) {
		a->family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, text, a->b) == 1) {
		a->family = AF_INET6;
		return 0;
	}
	snprintf(why, whylen, "expected an IPv4 or IPv6 address");
	return -EINVAL;
}

static int format_addr(const void *field, char *buf, size_t buflen)
{
	const struct dp_addr *a = field;

	if (a->family == 0) {
		if (buflen < 1)
			return -ENOSPC;
		buf[0] = '\0';
		return 0;
	}
	return inet_ntop(a->family, a->b, buf, (socklen_t)buflen) ? 0 : -ENOSPC;
}

static int parse_listen(const char *text, void *field, char *why, size_t whylen)
{
	struct dp_listen *l = field;
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon, *h = text, *end;
	size_t hl;
	char *pend;
	unsigned long port;

	memset(l, 0, sizeof(*l));
	if (text[0] == '\0')
		return 0;
	if (text[0] == '[') {
		end = strchr(text, ']');
		colon = end && end[1] == ':' ? end + 1 : NULL;
		h = text + 1;
	} else {
		colon = strrchr(text, ':');
		end = colon;
	}
	if (!colon || end == h || (hl = (size_t)(end - h)) >= sizeof(host))
		goto bad;
	memcpy(host, h, hl);
	host[hl] = '\0';
	errno = 0;
	port = strtoul(colon + 1, &pend, 10);
	/* Digits only: strtoul would also take blanks and a sign. */
	if (colon[1] < '0' || colon[1] > '9' || *pend || errno || port == 0 || port > 65535)
		goto bad;
	if (text[0] != '[' && inet_pton(AF_INET, host, l->addr.b) == 1)
		l->addr.family = AF_INET;
	else if (text[0] == '[' && inet_pton(AF_INET6, host, l->addr.b) == 1)
		l->addr.family = AF_INET6;
	else
		goto bad;
	l->port = (uint16_t)port;
	return 0;
bad:
	memset(l, 0, sizeof(*l));
	snprintf(why, whylen, "expected IPV4:PORT or [IPV6]:PORT, port 1..65535");
	return -EINVAL;
}

static int format_listen(const void *field, char *buf, size_t buflen)
{
	const struct dp_listen *l = field;
	char a[INET6_ADDRSTRLEN];
	int n;

	if (l->addr.family == 0)
		n = snprintf(buf, buflen, "%s", "");
	else if (!inet_ntop(l->addr.family, l->addr.b, a, sizeof(a)))
		return -ENOSPC;
	else
		n = snprintf(buf, buflen, l->addr.family == AF_INET6 ? "[%s]:%u" : "%s:%u", a,
			     l->port);
	return (n < 0 || (size_t)n >= buflen) ? -ENOSPC : 0;
}

static const char *const quic_bit_names[] = {"any", "set", NULL};

#define F(member) HM_CFG_FIELD(struct dp_config, member)
#define LCORES(name_, member, help_)                                                               \
	{ .name = name_, .type = HM_CFG_CUSTOM, .def = "", F(member), .parse = parse_lcore_list,  \
	  .format = format_lcore_list, .help = help_ }

static const struct hm_cfg_key dp_config_keys[] = {
	{ .name = "rx_burst", .type = HM_CFG_U32, .def = "32", F(rx_burst), .min = 1,
	  .max = DP_BURST_MAX, .help = "packets per rte_eth_rx_burst and per ring dequeue" },
	{ .name = "idle_sleep_us", .type = HM_CFG_U32, .def = "0", F(idle_sleep_us), .min = 0,
	  .max = 100000,
	  .help = "after a poll round that found no packet, an RX or run-to-completion lcore "
		  "sleeps this long (µs): for CPUs shared with other work; adds up to that much "
		  "latency to the first packet after a pause. 0: poll without pause" },
	{ .name = "ring_size", .type = HM_CFG_U32, .def = "1024", F(ring_size), .min = 64,
	  .max = 65536, .validate = hm_cfg_validate_pow2,
	  .help = "entries of each RX→worker and worker→TX ring (power of two)" },
	{ .name = "mbufs", .type = HM_CFG_U32, .def = "16383", F(mbufs), .min = 1023,
	  .max = 4194303, .help = "mbufs in each per-socket pool (2^n - 1 is the most efficient)" },
	{ .name = "mbuf_cache", .type = HM_CFG_U32, .def = "256", F(mbuf_cache), .min = 0,
	  .max = 512, .help = "per-lcore mempool cache size" },
	{ .name = "rx_desc", .type = HM_CFG_U32, .def = "1024", F(rx_desc), .min = 64,
	  .max = 16384, .help = "RX descriptors per queue" },
	{ .name = "tx_desc", .type = HM_CFG_U32, .def = "1024", F(tx_desc), .min = 64,
	  .max = 16384, .help = "TX descriptors per queue" },
	{ .name = "mtu", .type = HM_CFG_U32, .def = "1500", F(mtu), .min = 1280, .max = 9600,
	  .help = "IP MTU of every port (1280..9600; QUIC needs 1200-byte UDP payloads); above "
		  "1500 the mbufs grow to hold a whole frame (mbufs x ~mtu bytes of hugepages), "
		  "and the start fails if a port's PMD cannot take it" },
	{ .name = "short_dcid_len", .type = HM_CFG_U32, .def = "8", F(short_dcid_len), .min = 0,
	  .max = DP_QUIC_CID_MAX,
	  .help = "DCID length of short-header packets (the length this mesh issues CIDs with)" },
	{ .name = "stoq_ports", .type = HM_CFG_CUSTOM, .def = "", F(stoq_ports),
	  .parse = parse_port_list, .format = format_port_list,
	  .help = "UDP destination ports carried (comma-separated); empty carries every port" },
	{ .name = "quic_bit", .type = HM_CFG_ENUM, .def = "any", F(quic_bit),
	  .enum_names = quic_bit_names,
	  .help = "any: the QUIC (fixed) bit may be 0, as peers that agreed to grease it send "
		  "(RFC 9287; ngtcp2 does); set: drop such packets (quic_fixed_bit)" },
	{ .name = "layout", .type = HM_CFG_ENUM, .def = "auto", F(layout),
	  .enum_names = dp_layout_names,
	  .help = "lcore roles: rtc (run to completion), pipeline (RX → rings → workers), auto" },
	LCORES("rx_lcores", rx_lcores, "pipeline: lcores that poll RX queues (empty: auto)"),
	LCORES("worker_lcores", worker_lcores, "pipeline: lcores that run the MFN (empty: auto)"),
	LCORES("tx_lcores", tx_lcores,
	       "pipeline: lcores that transmit (empty: workers transmit themselves)"),
	{ .name = "tx_port", .type = HM_CFG_I32, .def = "-1", F(tx_port), .min = -1,
	  .max = DP_PORTS_MAX - 1,
	  .help = "port packets leave by until the MFN picks one; -1 = the port they came in on" },
	{ .name = "next_hop_mac", .type = HM_CFG_CUSTOM, .def = "", F(next_hop_mac),
	  .parse = parse_mac, .format = format_mac,
	  .help = "destination MAC written on TX; empty = the packet's source MAC (reflect)" },
	{ .name = "backend_port", .type = HM_CFG_I32, .def = "-1", F(backend_port), .min = -1,
	  .max = DP_PORTS_MAX - 1,
	  .help = "router mode (two ports): the port toward the backends. New flows leave by "
		  "it rewritten to their backend; what comes back on it from a service port "
		  "gets service_address as its source and leaves by the other port. -1 = off" },
	{ .name = "backend_next_hop_mac", .type = HM_CFG_CUSTOM, .def = "",
	  F(backend_next_hop_mac), .parse = parse_mac, .format = format_mac,
	  .help = "router mode: destination MAC on backend_port (the host or router in front "
		  "of the backends)" },
	{ .name = "service_address", .type = HM_CFG_CUSTOM, .def = "", F(service_address),
	  .parse = parse_addr, .format = format_addr,
	  .help = "router mode: the address clients reach the services at (the source of "
		  "replies)" },
	{ .name = "tx_vlan", .type = HM_CFG_U32, .def = "0", F(tx_vlan), .min = 0, .max = 4094,
	  .help = "encapsulate: push an 802.1Q tag with this VLAN id on TX (0 = none)" },
	{ .name = "rss", .type = HM_CFG_BOOL, .def = "true", F(rss),
	  .help = "spread flows over RX queues with RSS where the PMD supports it" },
	{ .name = "promiscuous", .type = HM_CFG_BOOL, .def = "true", F(promiscuous),
	  .help = "put ports in promiscuous mode" },
	{ .name = "stats_interval", .type = HM_CFG_U32, .def = "0", F(stats_interval), .min = 0,
	  .max = 3600, .runtime = true,
	  .help = "seconds between counter lines on stdout (0 = only at exit)" },
	{ .name = "gen_packets", .type = HM_CFG_U32, .def = "0", F(gen_packets), .min = 0,
	  .max = 1048576,
	  .help = "generator: QUIC packets injected on gen_port at start (for loopback ports "
		  "such as net_ring); 0 = off" },
	{ .name = "gen_size", .type = HM_CFG_U32, .def = "64", F(gen_size), .min = 64,
	  .max = 9614, .help = "generator: frame size in bytes (at most mtu + 14)" },
	{ .name = "gen_flows", .type = HM_CFG_U32, .def = "1024", F(gen_flows), .min = 1,
	  .max = 16777216, .help = "generator: distinct flows (DCIDs and source ports)" },
	{ .name = "gen_initial_pct", .type = HM_CFG_U32, .def = "10", F(gen_initial_pct),
	  .min = 0, .max = 100, .help = "generator: percent of Initial (long header) packets" },
	{ .name = "gen_port", .type = HM_CFG_U32, .def = "0", F(gen_port), .min = 0,
	  .max = DP_PORTS_MAX - 1, .help = "generator: port the packets are injected on" },
	{ .name = "mfn", .type = HM_CFG_BOOL, .def = "false", F(mfn),
	  .help = "run the MFN pipeline (L1 IFR, L2 DSR, L3 ALM, L4 CPE); false forwards every "
		  "packet to tx_port unchanged" },
	{ .name = "mfn_flow_key", .type = HM_CFG_ENUM, .def = "tuple", F(mfn_flow_key),
	  .enum_names = dp_mfn_key_names,
	  .help = "L1 flow key: tuple (UDP 5-tuple) or cid (QUIC DCID, 5-tuple without one)" },
	{ .name = "mfn_flows", .type = HM_CFG_U32, .def = "1048576", F(mfn_flows), .min = 1024,
	  .max = 1u << 30, .help = "L1 IFR capacity in flows" },
	{ .name = "mfn_bloom_fpr", .type = HM_CFG_DOUBLE, .def = "0.01", F(mfn_bloom_fpr),
	  .dmin = 0.0, .dmax = 0.5,
	  .help = "L1 Bloom filter false-positive target at capacity; 0 = no filter" },
	{ .name = "mfn_idle_timeout_ms", .type = HM_CFG_U32, .def = "30000",
	  F(mfn_idle_timeout_ms), .min = 10, .max = 86400000,
	  .help = "L1 flows idle this long are removed" },
	{ .name = "mfn_services", .type = HM_CFG_U32, .def = "256", F(mfn_services), .min = 1,
	  .max = DP_MFN_SERVICES_MAX, .help = "service ids 0..mfn_services-1" },
	{ .name = "mfn_backends", .type = HM_CFG_U32, .def = "4096", F(mfn_backends), .min = 1,
	  .max = 1u << 20, .help = "backend ids 0..mfn_backends-1" },
	{ .name = "mfn_nodes", .type = HM_CFG_U32, .def = "64", F(mfn_nodes), .min = 1,
	  .max = MFN_ALM_NODES_MAX, .help = "mesh node ids 0..mfn_nodes-1" },
	{ .name = "mfn_table_size", .type = HM_CFG_U32, .def = "65537", F(mfn_table_size),
	  .min = 101, .max = 16777213, .validate = validate_prime,
	  .help = "L3 Maglev lookup table size per service (prime, >= 100 x backends)" },
	{ .name = "mfn_link_half_life_ms", .type = HM_CFG_U32, .def = "10000",
	  F(mfn_link_half_life_ms), .min = 1, .max = 86400000,
	  .help = "L3 half-life of the link RTT and loss averages" },
	{ .name = "mfn_node_id", .type = HM_CFG_U32, .def = "0", F(mfn_node_id), .min = 0,
	  .max = 4095, .help = "this node's id in the mesh graph (< mfn_nodes)" },
	{ .name = "mfn_dsr", .type = HM_CFG_BOOL, .def = "true", F(mfn_dsr),
	  .help = "classify new flows with L2 DSR (false: admit every new flow)" },
	{ .name = "mfn_rewrite", .type = HM_CFG_ENUM, .def = "dnat", F(mfn_rewrite),
	  .enum_names = dp_mfn_rewrite_names,
	  .help = "none: forward unchanged; dnat: destination address and port := the backend's" },
	{ .name = "mfn_rate_limit", .type = HM_CFG_U32, .def = "100", F(mfn_rate_limit),
	  .min = 1, .max = 10000000,
	  .help = "new flows per second per source that L2's rate-limit action lets through" },
	{ .name = "mfn_cpe_interval_ms", .type = HM_CFG_U32, .def = "1000",
	  F(mfn_cpe_interval_ms), .min = 10, .max = 3600000,
	  .help = "L4 CPE sampling interval of the per-service rates" },
	{ .name = "mfn_static", .type = HM_CFG_STR, .def = "", F(mfn_static),
	  .validate = validate_mfn_static,
	  .help = "services and backends at start: SVC@UDPPORT=ADDR:PORT[*WEIGHT][#NODE],...;..." },
	{ .name = "mfn_quic_lb", .type = HM_CFG_STR, .def = "", F(mfn_quic_lb),
	  .validate = validate_quic_lb,
	  .help = "QUIC-LB configs whose CIDs route short-header packets L1 does not know to "
		  "the backend id they carry: ID:SIDLEN:CIDLEN[:AES128KEYHEX],... (ids 0..6; "
		  "several during a key rotation); empty = off" },
	{ .name = "stoq_listen", .type = HM_CFG_CUSTOM, .def = "", F(stoq_listen),
	  .parse = parse_listen, .format = format_listen,
	  .help = "host a STOQ (HTTP/3) server in the dataplane at IPV4:PORT or [IPV6]:PORT: "
		  "ARP/NDP and IP to that address on stoq_port go to it, not to the MFN; needs "
		  "stoq_root, stoq_config and stoq_ports without PORT. Empty = off" },
	{ .name = "stoq_root", .type = HM_CFG_STR, .def = "", F(stoq_root),
	  .help = "stoq_listen: the directory it serves (GET) and stores PUTs in" },
	{ .name = "stoq_config", .type = HM_CFG_STR, .def = "", F(stoq_config),
	  .help = "stoq_listen: hmesh-stoq \"key = value\" file (cert and key required; any "
		  "transport key of hmesh-stoq --help)" },
	{ .name = "stoq_lcore", .type = HM_CFG_I32, .def = "-1", F(stoq_lcore), .min = -1,
	  .max = 1023, /* as the lcore lists; EAL checks it is enabled */
	  .help = "stoq_listen: the lcore that runs it, taken from forwarding; -1 = the "
		  "highest lcore EAL gave" },
	{ .name = "stoq_port", .type = HM_CFG_U32, .def = "0", F(stoq_port), .min = 0,
	  .max = DP_PORTS_MAX - 1,
	  .help = "stoq_listen: the port (index) its frames arrive and leave by" },
	{ .name = "stoq_prefix_len", .type = HM_CFG_U32, .def = "0", F(stoq_prefix_len),
	  .min = 0, .max = 128,
	  .help = "stoq_listen: on-link prefix length of its address (0 = 24 for IPv4, 64 for "
		  "IPv6)" },
	{ .name = "stoq_gateway", .type = HM_CFG_CUSTOM, .def = "", F(stoq_gateway),
	  .parse = parse_addr, .format = format_addr,
	  .help = "stoq_listen: next hop for peers outside the prefix; empty = none" },
	{ .name = "ctl_socket", .type = HM_CFG_STR, .def = "", F(ctl_socket),
	  .validate = validate_ctl_socket,
	  .help = "Unix socket path of the control channel (hm_ctlmsg.h) for hmesh-controld; "
		  "empty = none" },
	{ .name = "stats_segment", .type = HM_CFG_STR, .def = "", F(stats_segment),
	  .validate = validate_stats_segment,
	  .help = "stats segment name (/dev/shm/hmesh-NAME); empty = dataplane, or "
		  "dataplane-PREFIX with a non-default --file-prefix; off = none" },
};

#undef LCORES
#undef F

const struct hm_cfg_table dp_config_table = {
	.what = "dataplane config",
	.keys = dp_config_keys,
	.n_keys = sizeof(dp_config_keys) / sizeof(dp_config_keys[0]),
	.obj_size = sizeof(struct dp_config),
};

int dp_config_defaults(struct dp_config *cfg, char *err, size_t errlen)
{
	return hm_cfg_defaults(&dp_config_table, cfg, err, errlen);
}

static bool list_has(const struct dp_lcore_list *l, uint16_t id)
{
	for (uint16_t i = 0; i < l->n; i++)
		if (l->id[i] == id)
			return true;
	return false;
}

bool dp_config_lcore_listed(const struct dp_config *cfg, uint16_t id)
{
	return list_has(&cfg->rx_lcores, id) || list_has(&cfg->worker_lcores, id) ||
	       list_has(&cfg->tx_lcores, id);
}

int dp_config_check(const struct dp_config *cfg, char *err, size_t errlen)
{
	const struct {
		const char *name;
		const struct dp_lcore_list *l;
	} roles[] = {
		{ "rx_lcores", &cfg->rx_lcores },
		{ "worker_lcores", &cfg->worker_lcores },
		{ "tx_lcores", &cfg->tx_lcores },
	};

	for (size_t a = 0; a < 3; a++)
		for (size_t b = a + 1; b < 3; b++)
			for (uint16_t i = 0; i < roles[a].l->n; i++)
				if (list_has(roles[b].l, roles[a].l->id[i])) {
					snprintf(err, errlen, "lcore %u is in both \"%s\" and \"%s\"",
						 roles[a].l->id[i], roles[a].name, roles[b].name);
					return -EINVAL;
				}
	if (cfg->layout == DP_LAYOUT_RTC &&
	    (cfg->rx_lcores.n || cfg->worker_lcores.n || cfg->tx_lcores.n)) {
		snprintf(err, errlen,
			 "\"layout\" is rtc: rx_lcores, worker_lcores and tx_lcores apply to the "
			 "pipeline layout only");
		return -EINVAL;
	}
	if ((cfg->rx_lcores.n == 0) != (cfg->worker_lcores.n == 0)) {
		snprintf(err, errlen, "\"rx_lcores\" and \"worker_lcores\" must be set together");
		return -EINVAL;
	}
	if (cfg->backend_port >= 0) {
		/* Router mode: every piece it needs, named when missing. */
		const char *missing = !cfg->mfn				     ? "mfn = true"
				      : cfg->mfn_rewrite != DP_MFN_REWRITE_DNAT ? "mfn_rewrite = dnat"
				      : !cfg->next_hop_mac.set		     ? "next_hop_mac"
				      : !cfg->backend_next_hop_mac.set	     ? "backend_next_hop_mac"
				      : cfg->service_address.family == 0	     ? "service_address"
				      : cfg->tx_port >= 0			     ? "tx_port = -1"
				      : cfg->stoq_ports.n == 0 ? "stoq_ports (what tells replies apart)"
										     : NULL;

		if (missing) {
			snprintf(err, errlen, "\"backend_port\" is %d (router mode): needs %s",
				 cfg->backend_port, missing);
			return -EINVAL;
		}
	}
	if (cfg->mfn_quic_lb[0]) {
		struct dp_quiclb q;
		char why[160];

		if (dp_quiclb_parse(cfg->mfn_quic_lb, &q, why, sizeof(why)) < 0) {
			snprintf(err, errlen, "\"mfn_quic_lb\": %s", why);
			return -EINVAL;
		}
		if (!cfg->mfn) {
			snprintf(err, errlen, "\"mfn_quic_lb\" is set: needs mfn = true");
			return -EINVAL;
		}
		for (unsigned int i = 0; i < DP_QUICLB_CONFIGS; i++)
			if (q.c[i].set && q.c[i].cid_len != cfg->short_dcid_len) {
				snprintf(err, errlen,
					 "\"mfn_quic_lb\" config %u has CID length %u: "
					 "short_dcid_len is %u (the parser reads that many)",
					 i, q.c[i].cid_len, cfg->short_dcid_len);
				return -EINVAL;
			}
	}
	if (cfg->stoq_listen.addr.family) {
		const struct dp_listen *l = &cfg->stoq_listen;
		const char *missing = !cfg->stoq_root[0]     ? "stoq_root"
				      : !cfg->stoq_config[0] ? "stoq_config"
				      : !cfg->stoq_ports.n   ? "stoq_ports (the ports forwarded, "
							       "without its own)"
							     : NULL;

		if (missing) {
			snprintf(err, errlen, "\"stoq_listen\" is set: needs %s", missing);
			return -EINVAL;
		}
		/* Its packets must fail the forwarding parse, so the fast path never
		 * looks for them (dp_local.h). */
		for (uint8_t i = 0; i < cfg->stoq_ports.n; i++)
			if (cfg->stoq_ports.port[i] == l->port) {
				snprintf(err, errlen,
					 "\"stoq_listen\" port %u is in \"stoq_ports\": the hosted "
					 "server's port must not be a forwarded one",
					 l->port);
				return -EINVAL;
			}
		if (l->addr.family == AF_INET && cfg->stoq_prefix_len > 32) {
			snprintf(err, errlen, "\"stoq_prefix_len\" is %u: above 32, and "
					      "stoq_listen is IPv4", cfg->stoq_prefix_len);
			return -EINVAL;
		}
		if (cfg->stoq_gateway.family && cfg->stoq_gateway.family != l->addr.family) {
			snprintf(err, errlen, "\"stoq_gateway\" is not of stoq_listen's family");
			return -EINVAL;
		}
		if (cfg->stoq_lcore >= 0 && dp_config_lcore_listed(cfg, (uint16_t)cfg->stoq_lcore)) {
			snprintf(err, errlen, "\"stoq_lcore\" %d also has a forwarding role",
				 cfg->stoq_lcore);
			return -EINVAL;
		}
	} else if (cfg->stoq_root[0] || cfg->stoq_config[0]) {
		snprintf(err, errlen, "\"%s\" is set without stoq_listen",
			 cfg->stoq_root[0] ? "stoq_root" : "stoq_config");
		return -EINVAL;
	}
	if (cfg->mbuf_cache > cfg->mbufs / 1.5) {
		snprintf(err, errlen, "\"mbuf_cache\" is %u: must be at most mbufs / 1.5 (%u)",
			 cfg->mbuf_cache, (unsigned int)(cfg->mbufs / 1.5));
		return -EINVAL;
	}
	if (cfg->gen_size > cfg->mtu + 14) { /* an untagged Ethernet frame of mtu */
		snprintf(err, errlen, "\"gen_size\" is %u: must be at most mtu + 14 (%u)",
			 cfg->gen_size, cfg->mtu + 14);
		return -EINVAL;
	}
	return 0;
}
