/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hmesh-stoq — STOQ (QUIC + HTTP/3) server, client and benchmark.
 *
 *   hmesh-stoq server --listen ADDR:PORT --root DIR --cert F --key F [--config F]
 *   hmesh-stoq client URL... [--parallel N] [--download DIR]
 *   hmesh-stoq bench [--connections C] [--streams S] [--bytes B]
 *
 * Server and client run on kernel UDP sockets, or with --dpdk on a DPDK
 * port that they own (stoq_io_dpdk.c).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hm_config.h"
#include "hm_hex.h"
#include "hm_log.h"
#include "hm_sockaddr.h"
#include "stoq.h"

#define LOG "hmesh-stoq"

static volatile int g_stop;

static void on_signal(int sig)
{
	(void)sig;
	g_stop = 1;
}

static void usage(FILE *out)
{
	fprintf(out,
		"Usage:\n"
		"  hmesh-stoq server --listen ADDR:PORT --root DIR --cert F --key F [--config F]\n"
		"  hmesh-stoq client URL... [--parallel N] [--download DIR] [--ca F | --insecure]\n"
		"  hmesh-stoq bench [--connections C] [--streams S] [--bytes B] [--cert F --key F]\n"
		"\n"
		"Common options:\n"
		"  --config F        load \"key = value\" lines (keys below)\n"
		"  --set KEY=VALUE   set one key (repeatable; applied after --config)\n"
		"  --log-level L     err, warn, info, debug\n"
		"Environment: HMESH_SERVER_ID sets server_id (after --config, before --set;\n"
		"  hmesh-controld gives each container its backend id there)\n"
		"  -h, --help        this text\n"
		"DPDK back end (server and client; IPv4 with ARP or IPv6 with NDP; the port\n"
		"owns the address given to --listen or --local):\n"
		"  --dpdk \"EAL ARGS\" run on a DPDK port instead of a UDP socket; EAL\n"
		"                    arguments split at blanks, e.g. \"-l 1 --no-pci\n"
		"                    --file-prefix s1 --vdev net_af_packet0,iface=veth1\"\n"
		"  --dpdk-port N     ethdev port id (default 0)\n"
		"  --dpdk-prefix N   on-link prefix length of the address (default 24 for\n"
		"                    IPv4, 64 for IPv6)\n"
		"  --dpdk-gateway IP next hop for peers outside the prefix, of the address's\n"
		"                    family; IPv6 may be link-local (default none)\n"
		"  --dpdk-mtu N      the port's MTU (default the PMD's, 1500); above it,\n"
		"                    jumbo frames: raise max_udp_payload to match (e.g.\n"
		"                    9000 and 8952 over IPv6)\n"
		"  --local ADDR      client: the port's address (required with --dpdk)\n"
		"Server options:\n"
		"  --stats-segment N counters and latency histograms in /dev/shm/hmesh-N\n"
		"                    (default stoq; off = none)\n"
		"Client options:\n"
		"  --parallel N      requests in flight at once (default 16)\n"
		"  --download DIR    save each body as DIR/<last path segment> (written as\n"
		"                    NAME.part, renamed when complete, removed if not)\n"
		"  --ca F            verify the server against these CA certificates\n"
		"  --insecure        do not verify the server certificate\n"
		"  --alpn S          offer ALPN S instead of h3 (for testing refusals)\n"
		"  --quic-version X  first Initial's version, hex (for testing negotiation)\n"
		"  --range A-B       ask for bytes A..B of every URL\n"
		"  --put FILE        PUT FILE's bytes to every URL instead of GET; a URL\n"
		"                    ending in /sha256/ gets FILE's SHA-256 appended (a\n"
		"                    content-addressed chunk the server checks); the\n"
		"                    server's repr-digest is checked against FILE; FILE\n"
		"                    cut short while it is sent fails the PUT (exit 1)\n"
		"Bench options:\n"
		"  --connections C   concurrent connections (default 1)\n"
		"  --streams S       concurrent GETs per connection (default 1)\n"
		"  --bytes B         bytes per GET (default 64M; suffixes K, M, G)\n"
		"  --requests R      GETs per stream slot (default 1)\n"
		"\nConfiguration keys:\n");
	hm_cfg_print_help(&stoq_config_table, out);
}

static uint64_t parse_size(const char *s)
{
	char *end;
	uint64_t v = strtoull(s, &end, 10);

	switch (*end) {
	case 'k': case 'K': v <<= 10; break;
	case 'm': case 'M': v <<= 20; break;
	case 'g': case 'G': v <<= 30; break;
	default: break;
	}
	return v;
}

/* Options shared by all subcommands, collected before the config is built. */
struct common_opts {
	const char *config;
	const char *sets[64];
	int n_sets;
	const char *cert, *key, *ca, *alpn, *quic_version;
	bool insecure;
};

static int build_config(struct stoq_config *cfg, const struct common_opts *o)
{
	char err[512];

	if (stoq_config_defaults(cfg) < 0)
		return -EINVAL;
	if (o->config && hm_cfg_load_file(&stoq_config_table, cfg, o->config, err, sizeof(err)) < 0)
		goto bad;
	/*
	 * The QUIC-LB server id hmesh-controld gives a container: its backend
	 * id, so every dataplane routes the CIDs it issues to it. --set wins.
	 */
	if (getenv("HMESH_SERVER_ID") &&
	    hm_cfg_set(&stoq_config_table, cfg, "server_id", getenv("HMESH_SERVER_ID"), false, err,
		       sizeof(err)) < 0) {
		HM_ERR(LOG, "HMESH_SERVER_ID (environment): %s", err);
		return -EINVAL;
	}
#define SET(k, v)                                                                                  \
	if ((v) && hm_cfg_set(&stoq_config_table, cfg, k, v, false, err, sizeof(err)) < 0)           \
		goto bad;
	SET("cert", o->cert);
	SET("key", o->key);
	SET("ca", o->ca);
	SET("alpn", o->alpn);
	if (o->quic_version) {
		char buf[32];

		snprintf(buf, sizeof(buf), "%lu", strtoul(o->quic_version, NULL, 16));
		if (hm_cfg_set(&stoq_config_table, cfg, "quic_version", buf, false, err,
			       sizeof(err)) < 0)
			goto bad;
	}
	if (o->insecure)
		SET("verify_peer", "false");
#undef SET
	for (int i = 0; i < o->n_sets; i++) {
		char kv[512], *eq;

		snprintf(kv, sizeof(kv), "%s", o->sets[i]);
		eq = strchr(kv, '=');
		if (!eq) {
			snprintf(err, sizeof(err), "--set %s: expected KEY=VALUE", o->sets[i]);
			goto bad;
		}
		*eq = '\0';
		if (hm_cfg_set(&stoq_config_table, cfg, kv, eq + 1, false, err, sizeof(err)) < 0)
			goto bad;
	}
	if (stoq_config_check(cfg, err, sizeof(err)) < 0)
		goto bad;
	return 0;
bad:
	HM_ERR(LOG, "%s", err);
	return -EINVAL;
}

enum {
	OPT_CONFIG = 256, OPT_SET, OPT_LOG, OPT_LISTEN, OPT_ROOT, OPT_CERT, OPT_KEY, OPT_CA,
	OPT_INSECURE, OPT_ALPN, OPT_QVER, OPT_PARALLEL, OPT_DOWNLOAD, OPT_CONNS, OPT_STREAMS,
	OPT_BYTES, OPT_REQUESTS, OPT_RANGE, OPT_STATS, OPT_DPDK, OPT_DPDK_PORT, OPT_DPDK_PREFIX,
	OPT_DPDK_GW, OPT_LOCAL, OPT_PUT, OPT_DPDK_MTU,
};

static const struct option long_opts[] = {
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "set", required_argument, NULL, OPT_SET },
	{ "log-level", required_argument, NULL, OPT_LOG },
	{ "listen", required_argument, NULL, OPT_LISTEN },
	{ "root", required_argument, NULL, OPT_ROOT },
	{ "cert", required_argument, NULL, OPT_CERT },
	{ "key", required_argument, NULL, OPT_KEY },
	{ "ca", required_argument, NULL, OPT_CA },
	{ "insecure", no_argument, NULL, OPT_INSECURE },
	{ "alpn", required_argument, NULL, OPT_ALPN },
	{ "quic-version", required_argument, NULL, OPT_QVER },
	{ "parallel", required_argument, NULL, OPT_PARALLEL },
	{ "download", required_argument, NULL, OPT_DOWNLOAD },
	{ "connections", required_argument, NULL, OPT_CONNS },
	{ "streams", required_argument, NULL, OPT_STREAMS },
	{ "bytes", required_argument, NULL, OPT_BYTES },
	{ "requests", required_argument, NULL, OPT_REQUESTS },
	{ "range", required_argument, NULL, OPT_RANGE },
	{ "put", required_argument, NULL, OPT_PUT },
	{ "stats-segment", required_argument, NULL, OPT_STATS },
	{ "dpdk", required_argument, NULL, OPT_DPDK },
	{ "dpdk-port", required_argument, NULL, OPT_DPDK_PORT },
	{ "dpdk-prefix", required_argument, NULL, OPT_DPDK_PREFIX },
	{ "dpdk-gateway", required_argument, NULL, OPT_DPDK_GW },
	{ "dpdk-mtu", required_argument, NULL, OPT_DPDK_MTU },
	{ "local", required_argument, NULL, OPT_LOCAL },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

struct args {
	struct common_opts c;
	const char *listen, *root, *download, *range, *stats, *put;
	unsigned parallel, conns, streams, requests;
	uint64_t bytes;
	const char *dpdk, *local; /* EAL arguments; the client's address on the port */
	struct stoq_io_dpdk_params dp;
};

/* A whole unsigned number in [min, max], or -1 (the caller names the flag). */
static long parse_uint(const char *s, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return -1;
	return v;
}

static int parse_args(int argc, char **argv, struct args *a)
{
	int ch;
	enum hm_log_level lvl;

	a->parallel = 16;
	a->conns = 1;
	a->streams = 1;
	a->requests = 1;
	a->bytes = 64ull << 20;
	a->stats = "stoq";
	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", long_opts, NULL)) != -1) {
		switch (ch) {
		case OPT_CONFIG: a->c.config = optarg; break;
		case OPT_SET:
			if (a->c.n_sets < 64)
				a->c.sets[a->c.n_sets++] = optarg;
			break;
		case OPT_LOG:
			if (hm_log_level_parse(optarg, &lvl) < 0) {
				HM_ERR(LOG, "--log-level %s: expected err, warn, info or debug", optarg);
				return -EINVAL;
			}
			hm_log_set_level(lvl);
			break;
		case OPT_LISTEN: a->listen = optarg; break;
		case OPT_ROOT: a->root = optarg; break;
		case OPT_CERT: a->c.cert = optarg; break;
		case OPT_KEY: a->c.key = optarg; break;
		case OPT_CA: a->c.ca = optarg; break;
		case OPT_INSECURE: a->c.insecure = true; break;
		case OPT_ALPN: a->c.alpn = optarg; break;
		case OPT_QVER: a->c.quic_version = optarg; break;
		case OPT_PARALLEL: a->parallel = (unsigned)strtoul(optarg, NULL, 10); break;
		case OPT_DOWNLOAD: a->download = optarg; break;
		case OPT_CONNS: a->conns = (unsigned)strtoul(optarg, NULL, 10); break;
		case OPT_STREAMS: a->streams = (unsigned)strtoul(optarg, NULL, 10); break;
		case OPT_BYTES: a->bytes = parse_size(optarg); break;
		case OPT_REQUESTS: a->requests = (unsigned)strtoul(optarg, NULL, 10); break;
		case OPT_RANGE: a->range = optarg; break;
		case OPT_PUT:
			a->put = optarg;
			break;
		case OPT_STATS: a->stats = optarg; break;
		case OPT_DPDK: a->dpdk = optarg; break;
		case OPT_LOCAL: a->local = optarg; break;
		case OPT_DPDK_PORT: {
			long v = parse_uint(optarg, 0, 65535);

			if (v < 0) {
				HM_ERR(LOG, "--dpdk-port %s: expected a port id 0..%d", optarg,
				       65535);
				return -EINVAL;
			}
			a->dp.port_id = (uint16_t)v;
			break;
		}
		case OPT_DPDK_PREFIX: {
			long v = parse_uint(optarg, 1, 128);

			/* The address's family bounds it further (32 for IPv4). */
			if (v < 0) {
				HM_ERR(LOG,
				       "--dpdk-prefix %s: expected 1..32 (IPv4) or 1..128 (IPv6)",
				       optarg);
				return -EINVAL;
			}
			a->dp.prefix_len = (uint8_t)v;
			break;
		}
		case OPT_DPDK_MTU: {
			long v = parse_uint(optarg, 1, 65535);

			/* The back end checks it against the PMD and the address family. */
			if (v < 0) {
				HM_ERR(LOG, "--dpdk-mtu %s: expected a number of bytes", optarg);
				return -EINVAL;
			}
			a->dp.mtu = (uint16_t)v;
			break;
		}
		case OPT_DPDK_GW: {
			socklen_t gl;

			if (hm_sockaddr_parse(optarg, 0, &a->dp.gateway, &gl) < 0) {
				HM_ERR(LOG, "--dpdk-gateway %s: expected an IPv4 or IPv6 address",
				       optarg);
				return -EINVAL;
			}
			break;
		}
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return -EINVAL;
		}
	}
	if (!a->dpdk && (a->local || a->dp.gateway.ss_family || a->dp.prefix_len || a->dp.mtu)) {
		HM_ERR(LOG, "--local, --dpdk-gateway, --dpdk-prefix and --dpdk-mtu need --dpdk");
		return -EINVAL;
	}
	if (!a->parallel || !a->conns || !a->streams || !a->requests) {
		HM_ERR(LOG, "--parallel, --connections, --streams and --requests must be >= 1");
		return -EINVAL;
	}
	return 0;
}

static void print_addr(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char host[64] = "?";
	int port = 0;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const void *)ss;

		inet_ntop(AF_INET, &s->sin_addr, host, sizeof(host));
		port = ntohs(s->sin_port);
		snprintf(buf, len, "%s:%d", host, port);
	} else {
		const struct sockaddr_in6 *s = (const void *)ss;

		inet_ntop(AF_INET6, &s->sin6_addr, host, sizeof(host));
		port = ntohs(s->sin6_port);
		snprintf(buf, len, "[%s]:%d", host, port);
	}
}

/*
 * The I/O back end the flags ask for, bound to @addr: a UDP socket, or the
 * DPDK port (the EAL is started here, once per process). The DPDK back end
 * logs why it failed; the socket is left to the caller.
 */
static struct stoq_io *open_backend(const struct args *a, const struct sockaddr *addr,
				    socklen_t len)
{
	char err[512];
	int rc;

	if (!a->dpdk)
		return stoq_io_create(&stoq_io_udp_ops, addr, len);
	/* Known before the EAL starts: say it in the flag's words. */
	if (addr->sa_family == AF_INET && a->dp.prefix_len > 32) {
		HM_ERR(LOG, "--dpdk-prefix %u: above 32, and the address is IPv4",
		       a->dp.prefix_len);
		errno = EINVAL;
		return NULL;
	}
	if (a->dp.gateway.ss_family && a->dp.gateway.ss_family != addr->sa_family) {
		HM_ERR(LOG, "--dpdk-gateway: the gateway is not %s like the address",
		       addr->sa_family == AF_INET ? "IPv4" : "IPv6");
		errno = EINVAL;
		return NULL;
	}
	rc = stoq_dpdk_eal_init(a->dpdk, err, sizeof(err));
	if (rc < 0) {
		HM_ERR(LOG, "--dpdk: %s", err);
		errno = -rc;
		return NULL;
	}
	return stoq_io_open(&stoq_io_dpdk_ops, addr, len, &a->dp);
}

static void close_io(const struct args *a, struct stoq_io *io)
{
	if (io && a->dpdk) {
		struct stoq_io_dpdk_stats s;

		stoq_io_dpdk_get_stats(io, &s);
		HM_INFO(
		    LOG,
		    "dpdk port %u: rx %" PRIu64 " frames, %" PRIu64 " datagrams; dropped: %" PRIu64
		    " not ours, %" PRIu64 " bad IP, %" PRIu64 " bad UDP, %" PRIu64
		    " fragments, %" PRIu64 " not IP, %" PRIu64 " bad NDP; ARP %" PRIu64
		    " answered, %" PRIu64 " asked, %" PRIu64 " replies; NDP %" PRIu64
		    " answered, %" PRIu64 " asked, %" PRIu64 " adverts; tx %" PRIu64
		    " packets, %" PRIu64 " waited for a neighbour, %" PRIu64 " dropped, %" PRIu64
		    " held back by an empty mbuf pool",
		    a->dp.port_id, s.rx_frames, s.rx_datagrams, s.rx_not_ours, s.rx_bad_ip,
		    s.rx_bad_udp, s.rx_fragment, s.rx_not_ip, s.rx_bad_nd, s.arp_requests_answered,
		    s.arp_requests_sent, s.arp_replies, s.nd_solicits_answered, s.nd_solicits_sent,
		    s.nd_adverts, s.tx_packets, s.tx_unresolved, s.tx_dropped, s.tx_pool_short);
	}
	stoq_io_destroy(io);
	if (a->dpdk)
		stoq_dpdk_eal_fini();
}

/*
 * open_backend, and the configuration checked against what it carries:
 * packets above the back end's limit would all be lost. Every failure is
 * logged here.
 */
static struct stoq_io *open_io(const struct args *a, const struct stoq_config *cfg,
			       const struct sockaddr *addr, socklen_t len)
{
	struct stoq_io *io = open_backend(a, addr, len);
	char buf[80];

	if (!io) {
		if (!a->dpdk) { /* the DPDK back end said why */
			int e = errno;

			print_addr((const struct sockaddr_storage *)addr, buf, sizeof(buf));
			HM_ERR(LOG, "cannot bind %s: %s", buf, strerror(e));
			errno = e;
		}
		return NULL;
	}
	if (cfg->max_udp_payload > stoq_io_max_payload(io)) {
		HM_ERR(LOG,
		       "\"max_udp_payload\" is %u: the %s back end carries at most %zu bytes "
		       "a packet%s",
		       cfg->max_udp_payload, a->dpdk ? "dpdk" : "udp", stoq_io_max_payload(io),
		       a->dpdk ? " (the port's MTU: --dpdk-mtu raises it)" : "");
		close_io(a, io);
		errno = EMSGSIZE;
		return NULL;
	}
	return io;
}

/* ---------------------------------------------------------------- server */

static int cmd_server(int argc, char **argv)
{
	struct args a = { 0 };
	struct stoq_config cfg;
	struct sockaddr_storage addr, local;
	socklen_t alen, llen;
	struct stoq_endpoint *ep;
	struct stoq_endpoint_stats st;
	struct stoq_io *io;
	char buf[80];

	if (parse_args(argc, argv, &a) < 0)
		return 2;
	if (!a.listen || !a.root || !a.c.cert || !a.c.key) {
		HM_ERR(LOG, "server needs --listen, --root, --cert and --key");
		return 2;
	}
	if (build_config(&cfg, &a.c) < 0)
		return 2;
	if (stoq_addr_parse(a.listen, &addr, &alen) < 0) {
		HM_ERR(LOG, "--listen %s: expected ADDR:PORT", a.listen);
		return 2;
	}
	io = open_io(&a, &cfg, (struct sockaddr *)&addr, alen);
	if (!io)
		return 1;
	llen = stoq_io_local(io, &local);
	ep = stoq_endpoint_create(&cfg, true, a.root, (struct sockaddr *)&local, llen);
	if (!ep) {
		close_io(&a, io);
		return 1;
	}
	print_addr(&local, buf, sizeof(buf));
	if (a.dpdk)
		HM_INFO(LOG, "serving %s on %s (h3; dpdk port %u)", a.root, buf, a.dp.port_id);
	else
		HM_INFO(LOG, "serving %s on %s (h3; udp gso=%s gro=%s)", a.root, buf,
			stoq_io_has_gso(io) ? "on" : "off", stoq_io_has_gro(io) ? "on" : "off");
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	struct stoq_seg *seg = NULL;

	if (strcmp(a.stats, "off") != 0 && !(seg = stoq_seg_open(a.stats, ep))) {
		stoq_endpoint_destroy(ep);
		close_io(&a, io);
		return 1;
	}
	stoq_endpoint_run(ep, io, seg ? stoq_seg_tick : NULL, seg, &g_stop);
	stoq_endpoint_stats(ep, &st);
	stoq_seg_close(seg);
	HM_INFO(LOG,
		"stopped: %" PRIu64 " handshakes (%" PRIu64 " with 0-RTT accepted), %" PRIu64
		" requests, rx %" PRIu64 " dgrams, tx %" PRIu64 " dgrams, %" PRIu64 " VN, %" PRIu64
		" Retry, %" PRIu64 " resets, %" PRIu64 " dropped",
		st.handshakes, st.early_accepted, st.requests_done, st.rx_dgrams, st.tx_dgrams,
		st.vn_sent, st.retries_sent, st.resets_sent, st.dropped);
	stoq_endpoint_destroy(ep);
	close_io(&a, io);
	return 0;
}

/* ---------------------------------------------------------------- client */

struct get {
	struct client *cl;
	const char *path;
	char *path_owned; /* path when built here (a /sha256/ name) */
	bool put;
	int fd;	     /* --download: the body goes to DIR/NAME.part ... */
	char *dl_name; /* ... renamed to DIR/NAME once it is complete */
	int status;
	uint64_t bytes, t_start, t_end;
	bool started, done;
};

struct client {
	struct stoq_endpoint *ep;
	struct stoq_conn **conns;
	unsigned n_conns;
	struct get *gets;
	unsigned n_gets, next, in_flight, finished, parallel;
	int put_fd; /* --put: the file (mapped by each PUT, stoq_conn_put_fd), its SHA-256 */
	size_t put_len;
	uint8_t put_sha[32];
	int64_t range_start, range_end;
	uint64_t t_hs_done;
	unsigned hs_done;
};

static int get_on_data(void *arg, const uint8_t *data, size_t len)
{
	struct get *g = arg;

	for (size_t off = 0; g->fd >= 0 && off < len;) {
		ssize_t w = write(g->fd, data + off, len - off);

		if (w < 0)
			return -errno;
		off += (size_t)w;
	}
	return 0;
}

/*
 * A --download body is complete (@ok): its .part file takes the real name;
 * or it is not: the .part file is removed. -1 when @ok but the file could
 * not be written out or renamed (said here).
 */
static int download_finish(struct get *g, bool ok)
{
	char part[STOQ_PATH_MAX + 1024];
	int rc = 0;

	snprintf(part, sizeof(part), "%s.part", g->dl_name);
	if (g->fd >= 0 && close(g->fd) < 0 && ok) {
		HM_ERR(LOG, "%s: %s", part, strerror(errno));
		rc = -1;
	}
	g->fd = -1;
	if (ok && !rc && rename(part, g->dl_name) < 0) {
		HM_ERR(LOG, "%s -> %s: %s", part, g->dl_name, strerror(errno));
		rc = -1;
	}
	if (!ok || rc) {
		unlink(part);
		if (!ok && g->started)
			HM_WARN(LOG, "GET %s: incomplete, %s not written", g->path, g->dl_name);
	}
	free(g->dl_name);
	g->dl_name = NULL;
	return rc;
}

static void get_on_done(void *arg, int status, uint64_t bytes)
{
	struct get *g = arg;

	if (g->done)
		return;
	g->done = true;
	g->status = status;
	g->bytes = bytes;
	g->t_end = stoq_now();
	g->cl->in_flight--;
	g->cl->finished++;
}

static const struct stoq_request_ops get_ops = {
	.on_data = get_on_data,
	.on_done = get_on_done,
};

/* Called by the run loop after each burst: top up requests, say when all are done. */
static bool client_step(void *arg)
{
	struct client *cl = arg;
	bool all_closed = true;
	int rc;

	for (unsigned i = 0; i < cl->n_conns; i++) {
		if (!stoq_conn_is_closed(cl->conns[i]))
			all_closed = false;
	}
	while (cl->next < cl->n_gets && cl->in_flight < cl->parallel) {
		struct get *g = &cl->gets[cl->next];
		struct stoq_conn *c = cl->conns[cl->next % cl->n_conns];

		g->t_start = stoq_now();
		g->started = true;
		cl->next++;
		cl->in_flight++;
		rc = g->put ? stoq_conn_put_fd(c, g->path, cl->put_fd, cl->put_sha, &get_ops, g)
			    : stoq_conn_get(c, g->path, cl->range_start, cl->range_end, &get_ops, g);
		if (rc < 0)
			get_on_done(g, rc, 0);
	}
	return cl->finished == cl->n_gets || all_closed;
}

/*
 * --put FILE: open in @cl->put_fd, its SHA-256 in @hex. Hashed with
 * read(2), not from a mapping: a file cut short meanwhile is an error
 * here, not a SIGBUS; each PUT maps it under the library's guard.
 */
static int open_put_file(const char *path, struct client *cl, char hex[65])
{
	struct stat sb;
	int rc, fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &sb) < 0) {
		HM_ERR(LOG, "--put %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (!S_ISREG(sb.st_mode)) {
		HM_ERR(LOG, "--put %s: not a regular file", path);
		close(fd);
		return -1;
	}
	/* Hashed once: the /sha256/ name and every PUT's check use it. */
	rc = stoq_sha256_fd(fd, (uint64_t)sb.st_size, cl->put_sha);
	if (rc < 0) {
		HM_ERR(LOG, "--put %s: reading it for its SHA-256: %s", path,
		       rc == -EIO ? "cut short or unreadable" : strerror(-rc));
		close(fd);
		return -1;
	}
	cl->put_fd = fd;
	cl->put_len = (size_t)sb.st_size;
	hm_hex_encode(cl->put_sha, sizeof(cl->put_sha), hex);
	return 0;
}

struct url {
	char scheme[8], host[256], port[8];
	const char *path;
};

static int parse_url(const char *u, struct url *out)
{
	const char *p = u, *hs, *he, *ps;

	if (strncmp(p, "https://", 8) != 0)
		return -EINVAL;
	hs = p + 8;
	ps = strchr(hs, '/');
	if (!ps)
		return -EINVAL;
	if (*hs == '[') {
		he = strchr(hs, ']');
		if (!he || he > ps)
			return -EINVAL;
		snprintf(out->host, sizeof(out->host), "%.*s", (int)(he - hs - 1), hs + 1);
		he++;
	} else {
		he = hs;
		while (he < ps && *he != ':')
			he++;
		snprintf(out->host, sizeof(out->host), "%.*s", (int)(he - hs), hs);
	}
	if (*he == ':')
		snprintf(out->port, sizeof(out->port), "%.*s", (int)(ps - he - 1), he + 1);
	else
		snprintf(out->port, sizeof(out->port), "443");
	out->path = ps;
	return 0;
}

static int cmd_client(int argc, char **argv)
{
	struct args a = { 0 };
	struct stoq_config cfg;
	struct client cl = { .put_fd = -1 };
	struct url u0, u;
	struct sockaddr_storage remote, any = { 0 }, local;
	socklen_t rlen, llen, alen;
	struct stoq_io *io = NULL;
	struct stoq_conn *c;
	char hostport[300];
	int rc = 1, nurl;
	char put_hex[65] = "";
	uint64_t t0, bytes = 0;
	double secs;

	if (parse_args(argc, argv, &a) < 0)
		return 2;
	nurl = argc - optind;
	if (nurl < 1) {
		HM_ERR(LOG, "client needs at least one URL (https://HOST:PORT/PATH)");
		return 2;
	}
	if (build_config(&cfg, &a.c) < 0)
		return 2;
	cl.range_start = 0;
	cl.range_end = -1;
	if (a.range && sscanf(a.range, "%" SCNd64 "-%" SCNd64, &cl.range_start, &cl.range_end) != 2) {
		HM_ERR(LOG, "--range %s: expected A-B", a.range);
		return 2;
	}
	if (parse_url(argv[optind], &u0) < 0) {
		HM_ERR(LOG, "%s: expected https://HOST:PORT/PATH", argv[optind]);
		return 2;
	}
	if (a.put && (a.download || a.range)) {
		HM_ERR(LOG, "--put sends FILE; --download and --range are for GET");
		return 2;
	}
	if (a.put && open_put_file(a.put, &cl, put_hex) < 0)
		return 1;
	cl.gets = calloc((size_t)nurl, sizeof(*cl.gets));
	if (!cl.gets)
		return 1;
	for (int i = 0; i < nurl; i++) {
		if (parse_url(argv[optind + i], &u) < 0 || strcmp(u.host, u0.host) ||
		    strcmp(u.port, u0.port)) {
			HM_ERR(LOG, "%s: every URL must be https:// on the same host and port as %s",
			       argv[optind + i], argv[optind]);
			goto out;
		}
		cl.gets[i].cl = &cl;
		cl.gets[i].path = u.path;
		cl.gets[i].fd = -1;
		cl.gets[i].put = a.put != NULL;
		if (a.put && strlen(u.path) >= 8 &&
		    !strcmp(u.path + strlen(u.path) - 8, "/sha256/")) {
			if (asprintf(&cl.gets[i].path_owned, "%s%s", u.path, put_hex) < 0) {
				cl.gets[i].path_owned = NULL;
				goto out;
			}
			cl.gets[i].path = cl.gets[i].path_owned;
		}
		if (a.download) {
			char name[STOQ_PATH_MAX + 1024];
			const char *base = strrchr(u.path, '/') + 1;

			/* Under a .part name until complete: a failed GET leaves no
			 * file that looks whole, and keeps an older copy intact. */
			snprintf(name, sizeof(name), "%s/%.*s.part", a.download,
				 (int)strcspn(base, "?#"), *base ? base : "index.html");
			cl.gets[i].fd = open(name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
			if (cl.gets[i].fd < 0) {
				HM_ERR(LOG, "%s: %s", name, strerror(errno));
				goto out;
			}
			cl.gets[i].dl_name = strndup(name, strlen(name) - 5);
			if (!cl.gets[i].dl_name) {
				HM_ERR(LOG, "%s: %s", name, strerror(ENOMEM));
				goto out;
			}
		}
	}
	cl.n_gets = (unsigned)nurl;
	cl.parallel = a.parallel;
	snprintf(hostport, sizeof(hostport), "%s%s%s:%s", strchr(u0.host, ':') ? "[" : "",
		 u0.host, strchr(u0.host, ':') ? "]" : "", u0.port);
	if (stoq_addr_parse(hostport, &remote, &rlen) < 0) {
		HM_ERR(LOG, "cannot resolve %s", hostport);
		goto out;
	}
	any.ss_family = remote.ss_family;
	alen = remote.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	if (a.dpdk) {
		/* The port owns an address: the client must say which. */
		if (!a.local) {
			HM_ERR(LOG, "--dpdk: the client needs --local ADDR (the port's address)");
			goto out;
		}
		if (stoq_addr_parse(a.local, &any, &alen) < 0) {
			HM_ERR(LOG,
			       "--local %s: expected IPV4:PORT or [IPV6]:PORT (port 0 for any)",
			       a.local);
			goto out;
		}
		if (any.ss_family != remote.ss_family) {
			HM_ERR(LOG, "--local %s: not of the same family as %s", a.local, hostport);
			goto out;
		}
	}
	io = open_io(&a, &cfg, (struct sockaddr *)&any, alen);
	if (!io)
		goto out;
	llen = stoq_io_local(io, &local);
	cl.ep = stoq_endpoint_create(&cfg, false, NULL, (struct sockaddr *)&local, llen);
	if (!cl.ep)
		goto out;
	t0 = stoq_now();
	c = stoq_conn_connect(cl.ep, (struct sockaddr *)&remote, rlen, u0.host, t0);
	if (!c) {
		HM_ERR(LOG, "cannot start a connection to %s: %s", hostport, strerror(errno));
		goto out;
	}
	cl.conns = &c;
	cl.n_conns = 1;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	stoq_endpoint_run(cl.ep, io, client_step, &cl, &g_stop);
	secs = (double)(stoq_now() - t0) / 1e9;
	rc = 0;
	if (stoq_conn_last_error(c)[0]) {
		HM_ERR(LOG, "%s: %s", hostport, stoq_conn_last_error(c));
		rc = 1;
	}
	for (unsigned i = 0; i < cl.n_gets; i++) {
		struct get *g = &cl.gets[i];

		bool ok = g->done && (g->put ? g->status >= 200 && g->status < 300
					     : g->status == 200 || g->status == 206);

		bytes += g->put ? (ok ? cl.put_len : 0) : g->bytes;
		if (g->dl_name && download_finish(g, ok) < 0)
			ok = false;
		if (ok) {
			if (g->put)
				HM_INFO(LOG, "PUT %s: %d (%zu bytes)", g->path, g->status,
					cl.put_len);
			continue;
		}
		rc = 1;
		if (g->status == -EBADMSG)
			HM_ERR(LOG, "PUT %s: the server's repr-digest is not %s's SHA-256", g->path,
			       a.put);
		else if (g->put && g->status == -EIO)
			HM_ERR(LOG, "PUT %s: %s could not be read while it was sent (cut short?)",
			       g->path, a.put);
		else if (!stoq_conn_last_error(c)[0] || g->status > 0)
			HM_ERR(LOG, "%s %s: %s %d", g->put ? "PUT" : "GET", g->path,
			       g->status > 0 ? "HTTP status" : "failed", g->status);
	}
	HM_INFO(LOG, "%u requests, %" PRIu64 " bytes in %.3f s (%.1f Mbit/s)", cl.n_gets, bytes,
		secs, secs > 0 ? (double)bytes * 8 / secs / 1e6 : 0.0);
	{
		struct stoq_endpoint_stats st;

		stoq_endpoint_stats(cl.ep, &st);
		if (st.early_accepted || st.early_rejected)
			HM_INFO(LOG, "0-RTT: requests sent before the handshake, %s by the server",
				st.early_accepted ? "accepted" : "refused (sent again after it)");
	}
	/*
	 * Say goodbye so the server frees its state now rather than at idle
	 * timeout: with our CONNECTION_CLOSE, or with the one a failure here
	 * queued (a PUT's file cut short, say), which the loop, done as soon
	 * as the connection closed, never sent.
	 */
	{
		struct stoq_dgram out[16];
		size_t n;

		if (!stoq_conn_is_closed(c))
			stoq_conn_close(c, stoq_now());
		n = stoq_endpoint_send(cl.ep, out, 16, stoq_now());
		stoq_io_send(io, out, n);
	}
out:
	/* The endpoint first: tearing it down still reports to the gets. */
	stoq_endpoint_destroy(cl.ep);
	if (io)
		close_io(&a, io);
	for (unsigned i = 0; cl.gets && i < (unsigned)nurl; i++) {
		if (cl.gets[i].dl_name)
			download_finish(&cl.gets[i], false);
		free(cl.gets[i].path_owned);
	}
	free(cl.gets);
	if (cl.put_fd >= 0)
		close(cl.put_fd);
	return rc;
}

/* ----------------------------------------------------------------- bench */

struct server_thread {
	struct stoq_endpoint *ep;
	struct stoq_io *io;
	volatile int stop;
};

static void *server_main(void *arg)
{
	struct server_thread *s = arg;

	stoq_endpoint_run(s->ep, s->io, NULL, NULL, &s->stop);
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static bool bench_step(void *arg)
{
	struct client *cl = arg;

	unsigned hs = 0;

	for (unsigned i = 0; i < cl->n_conns; i++)
		hs += stoq_conn_is_established(cl->conns[i]);
	if (hs > cl->hs_done) {
		cl->hs_done = hs;
		cl->t_hs_done = stoq_now();
	}
	return client_step(cl);
}

static int cmd_bench(int argc, char **argv)
{
	struct args a = { 0 };
	struct stoq_config scfg, ccfg;
	struct server_thread srv = { 0 };
	struct client cl = { 0 };
	struct sockaddr_in lo = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_storage slocal, clocal;
	socklen_t sl, cll;
	struct stoq_io *cio = NULL;
	char dir[] = "/tmp/hmesh-stoq-bench-XXXXXX", file[64];
	uint64_t *lat = NULL, t0, t1, bytes = 0;
	unsigned n, failed = 0;
	pthread_t th;
	int fd, rc = 1;
	double secs;

	if (parse_args(argc, argv, &a) < 0)
		return 2;
	if (a.dpdk) {
		HM_ERR(LOG, "bench runs server and client on loopback sockets; --dpdk is for "
			    "server and client");
		return 2;
	}
	if (!a.c.cert)
		a.c.cert = "build/stoq/cert.pem";
	if (!a.c.key)
		a.c.key = "build/stoq/key.pem";
	if (build_config(&scfg, &a.c) < 0)
		return 2;
	a.c.insecure = true;
	if (build_config(&ccfg, &a.c) < 0)
		return 2;
	if (!mkdtemp(dir)) {
		HM_ERR(LOG, "mkdtemp: %s", strerror(errno));
		return 1;
	}
	snprintf(file, sizeof(file), "%s/blob", dir);
	fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || ftruncate(fd, 0) < 0)
		goto out_rmdir;
	{
		/* Incompressible-looking bytes (xorshift), written in 1 MiB blocks. */
		static uint64_t blk[1 << 17];
		uint64_t x = 0x9e3779b97f4a7c15ull;

		for (uint64_t left = a.bytes; left;) {
			size_t len = left < sizeof(blk) ? (size_t)left : sizeof(blk);

			for (size_t i = 0; i < sizeof(blk) / 8; i++) {
				x ^= x << 13;
				x ^= x >> 7;
				x ^= x << 17;
				blk[i] = x;
			}
			if (write(fd, blk, len) != (ssize_t)len) {
				close(fd);
				goto out_unlink;
			}
			left -= len;
		}
		close(fd);
	}
	srv.io = stoq_io_create(&stoq_io_udp_ops, (struct sockaddr *)&lo, sizeof(lo));
	if (!srv.io)
		goto out_unlink;
	sl = stoq_io_local(srv.io, &slocal);
	srv.ep = stoq_endpoint_create(&scfg, true, dir, (struct sockaddr *)&slocal, sl);
	if (!srv.ep)
		goto out_srv_io;
	cio = stoq_io_create(&stoq_io_udp_ops, (struct sockaddr *)&lo, sizeof(lo));
	if (!cio)
		goto out_srv_ep;
	cll = stoq_io_local(cio, &clocal);
	cl.ep = stoq_endpoint_create(&ccfg, false, NULL, (struct sockaddr *)&clocal, cll);
	if (!cl.ep)
		goto out_cio;
	if (pthread_create(&th, NULL, server_main, &srv) != 0)
		goto out_cep;
	n = a.conns * a.streams * a.requests;
	cl.n_gets = n;
	cl.parallel = a.conns * a.streams;
	cl.range_start = 0;
	cl.range_end = -1;
	cl.gets = calloc(n, sizeof(*cl.gets));
	cl.conns = calloc(a.conns, sizeof(*cl.conns));
	lat = calloc(n, sizeof(*lat));
	if (!cl.gets || !cl.conns || !lat)
		goto out_join;
	for (unsigned i = 0; i < n; i++) {
		cl.gets[i].cl = &cl;
		cl.gets[i].path = "/blob";
		cl.gets[i].fd = -1;
	}
	t0 = stoq_now();
	for (unsigned i = 0; i < a.conns; i++) {
		cl.conns[i] = stoq_conn_connect(cl.ep, (struct sockaddr *)&slocal, sl, "localhost", t0);
		if (!cl.conns[i])
			goto out_join;
		cl.n_conns++;
	}
	signal(SIGINT, on_signal);
	stoq_endpoint_run(cl.ep, cio, bench_step, &cl, &g_stop);
	t1 = stoq_now();
	secs = (double)(t1 - t0) / 1e9;
	for (unsigned i = 0; i < n; i++) {
		struct get *g = &cl.gets[i];

		if (!g->done || g->status != 200 || g->bytes != a.bytes)
			failed++;
		bytes += g->bytes;
		lat[i] = g->done ? g->t_end - g->t_start : t1 - g->t_start;
	}
	for (unsigned i = 0; i < cl.n_conns; i++)
		if (stoq_conn_last_error(cl.conns[i])[0])
			HM_ERR(LOG, "connection %u: %s", i, stoq_conn_last_error(cl.conns[i]));
	qsort(lat, n, sizeof(*lat), cmp_u64);
	{
		double gbps = (double)bytes * 8 / secs / 1e9;
		double hs = cl.hs_done && cl.t_hs_done > t0 ?
				    cl.hs_done / ((double)(cl.t_hs_done - t0) / 1e9) :
				    0;
		double p50 = (double)lat[n / 2] / 1e6, p99 = (double)lat[(n * 99) / 100] / 1e6;

		printf("hmesh-stoq bench: %u connections x %u streams x %u requests of %" PRIu64
		       " bytes, cc=%d pacing=%d\n",
		       a.conns, a.streams, a.requests, a.bytes, ccfg.cc, ccfg.pacing);
		printf("  goodput      %.3f Gbit/s (%" PRIu64 " bytes in %.3f s)\n", gbps, bytes,
		       secs);
		printf("  handshakes/s %.1f (%u handshakes)\n", hs, cl.hs_done);
		printf("  latency      p50 %.3f ms  p99 %.3f ms\n", p50, p99);
		printf("  failed       %u of %u requests\n", failed, n);
		printf("{\"bench\":\"stoq_bench\",\"metric\":\"goodput_gbps\",\"value\":%.4f}\n", gbps);
		printf("{\"bench\":\"stoq_bench\",\"metric\":\"handshakes_per_s\",\"value\":%.2f}\n", hs);
		printf("{\"bench\":\"stoq_bench\",\"metric\":\"latency_p50_ms\",\"value\":%.3f}\n", p50);
		printf("{\"bench\":\"stoq_bench\",\"metric\":\"latency_p99_ms\",\"value\":%.3f}\n", p99);
	}
	rc = failed ? 1 : 0;
out_join:
	srv.stop = 1;
	pthread_join(th, NULL);
	free(lat);
	free(cl.gets);
	free(cl.conns);
out_cep:
	stoq_endpoint_destroy(cl.ep);
out_cio:
	stoq_io_destroy(cio);
out_srv_ep:
	stoq_endpoint_destroy(srv.ep);
out_srv_io:
	stoq_io_destroy(srv.io);
out_unlink:
	unlink(file);
out_rmdir:
	rmdir(dir);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (!strcmp(argv[1], "server"))
		return cmd_server(argc - 1, argv + 1);
	if (!strcmp(argv[1], "client"))
		return cmd_client(argc - 1, argv + 1);
	if (!strcmp(argv[1], "bench"))
		return cmd_bench(argc - 1, argv + 1);
	HM_ERR(LOG, "unknown subcommand \"%s\" (server, client, bench)", argv[1]);
	usage(stderr);
	return 2;
}
