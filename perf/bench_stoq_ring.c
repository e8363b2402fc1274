/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bench_stoq_ring — what one core running the STOQ server on the DPDK back
 * end moves when no kernel is in the path: a server and a client on two
 * ring-PMD ports wired back to back in one process (the kind of port
 * hmesh-dataplane hosts its server on, dataplane/dp_local.c), driven by one
 * thread in alternate turns, each side's turns timed with the TSC. The
 * server's goodput per core is the body's bits over the time of the
 * server's busy turns and its pager threads' CPU time: the figure
 * perf/stoq.sh holds against wolfCrypt's AES-GCM ceiling. The client's time is printed beside it, and the body is
 * compared byte for byte with the file (outside both sides' time).
 *
 * Why one thread: this VM's two vCPUs share a physical core, so a server
 * and a client polling on one each slow each other down by a factor the
 * guest cannot see (a memif pair of processes here ran at 3.8 or 6.9
 * Gbit/s from one run to the next). Taking turns, each side has the core
 * while it works; sharing the caches with the client makes the server's
 * figure a little pessimistic, not optimistic.
 *
 * A turn is stoq_endpoint_turn(), the body of stoq_endpoint_run(): up to 8
 * receive bursts (with a send, ACKs above all, every 96 KiB), the
 * timers, then sending until the connection has nothing more (congestion
 * window, flow control). Turns in which a side found nothing to do are
 * timed apart and printed, not counted: a server core would spend them on
 * other connections.
 *
 *   bench_stoq_ring --root DIR --file NAME --cert PEM --key PEM
 *                   [--payload N] [--eal "ARGS"] [--timeout S]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_ring.h>

#include "hm_log.h"
#include "stoq.h"

/* Deeper than the back end's pool (8191 mbufs): a full pool, not a full
 * ring, is what bounds a turn's burst, and a dry pool is counted. */
#define WIRE_SLOTS 16384

struct side {
	struct stoq_endpoint *ep;
	struct stoq_io *io;
	uint64_t tsc;  /* in this side's turns that received or sent */
	uint64_t idle; /* in turns that found nothing to do */
};

struct sink {
	const uint8_t *want; /* the file, mapped */
	size_t len, got;
	int status;
	bool done, differs;
};

static int sink_data(void *arg, const uint8_t *data, size_t len)
{
	struct sink *s = arg;

	if (s->got + len > s->len || memcmp(s->want + s->got, data, len) != 0)
		s->differs = true;
	s->got += len;
	return 0;
}

static void sink_done(void *arg, int status, uint64_t bytes)
{
	struct sink *s = arg;

	(void)bytes;
	s->status = status;
	s->done = true;
}

static const struct stoq_request_ops sink_ops = { .on_data = sink_data, .on_done = sink_done };

/*
 * One turn of @s, stoq_endpoint_turn(), the body of stoq_endpoint_run().
 * Its TSC ticks go to s->tsc when it received or sent anything, to s->idle
 * otherwise: waiting for the peer or a timer (the client's delayed ACK,
 * say) is time a server core would give to other connections, not the
 * cost of this one.
 */
static void turn(struct side *s, struct stoq_dgram *rx)
{
	uint64_t t0 = rte_rdtsc();
	bool worked = stoq_endpoint_turn(s->ep, s->io, rx);

	if (worked)
		s->tsc += rte_rdtsc() - t0;
	else
		s->idle += rte_rdtsc() - t0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bench_stoq_ring --root DIR --file NAME --cert PEM --key PEM\n"
		"                       [--payload N] [--aes-gcm auto|wolfcrypt] [--eal \"ARGS\"]\n"
		"                       [--timeout S]\n"
		"A STOQ server and client on two ring-PMD ports in one process, one thread\n"
		"taking turns; prints the server's goodput per core (body bits over the\n"
		"time of its busy turns) and the client's.\n"
		"  --root DIR      directory the server serves\n"
		"  --file NAME     file under DIR the client fetches (one stream)\n"
		"  --cert, --key   the server's certificate and key (PEM)\n"
		"  --payload N     max_udp_payload both sides, 1200..15972 (default 1452);\n"
		"                  the ports' MTU is N + 28 (IPv4), at least 1500\n"
		"  --aes-gcm W     the aes_gcm config key, both sides (default auto: the\n"
		"                  VAES code where the CPU has it; wolfcrypt: wolfCrypt's)\n"
		"  --eal \"ARGS\"    EAL arguments (default \"-l 0 --no-pci --in-memory\n"
		"                  --no-telemetry --log-level=*:warning\")\n"
		"  --timeout S     give up after S seconds (default 120)\n");
}

/* A ring port pair: @a transmits into what @b receives and the reverse. */
static int wire(uint16_t *a, uint16_t *b)
{
	struct rte_ring *ab = rte_ring_create("bsr_ab", WIRE_SLOTS, SOCKET_ID_ANY,
					      RING_F_SP_ENQ | RING_F_SC_DEQ);
	struct rte_ring *ba = rte_ring_create("bsr_ba", WIRE_SLOTS, SOCKET_ID_ANY,
					      RING_F_SP_ENQ | RING_F_SC_DEQ);
	int pa, pb;

	if (!ab || !ba)
		return -ENOMEM;
	pa = rte_eth_from_rings("bsr_a", &ba, 1, &ab, 1, SOCKET_ID_ANY);
	pb = rte_eth_from_rings("bsr_b", &ab, 1, &ba, 1, SOCKET_ID_ANY);
	if (pa < 0 || pb < 0)
		return -ENODEV;
	*a = (uint16_t)pa;
	*b = (uint16_t)pb;
	return 0;
}

static struct stoq_io *port_io(uint16_t port, const char *ip, uint16_t udp_port, uint16_t mtu,
			       struct sockaddr_storage *local, socklen_t *local_len)
{
	struct stoq_io_dpdk_params p = { .port_id = port, .mtu = mtu };
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(udp_port) };
	struct stoq_io *io;

	inet_pton(AF_INET, ip, &sin.sin_addr);
	io = stoq_io_open(&stoq_io_dpdk_ops, (struct sockaddr *)&sin, sizeof(sin), &p);
	if (!io) {
		fprintf(stderr, "bench_stoq_ring: DPDK back end on port %u (%s): %s\n", port, ip,
			strerror(errno));
		return NULL;
	}
	*local_len = stoq_io_local(io, local);
	return io;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "root", required_argument, NULL, 'r' },    { "file", required_argument, NULL, 'f' },
		{ "cert", required_argument, NULL, 'c' },    { "key", required_argument, NULL, 'k' },
		{ "payload", required_argument, NULL, 'p' }, { "eal", required_argument, NULL, 'e' },
		{ "timeout", required_argument, NULL, 't' }, { "help", no_argument, NULL, 'h' },
		{ "aes-gcm", required_argument, NULL, 'a' },
		{ NULL, 0, NULL, 0 }
	};
	const char *root = NULL, *file = NULL, *cert = NULL, *key = NULL, *aes_gcm = "auto";
	const char *eal = "-l 0 --no-pci --in-memory --no-telemetry --log-level=*:warning";
	long payload = 1452, timeout = 120;
	struct side srv = { 0 }, cli = { 0 };
	struct stoq_config scfg, ccfg;
	struct sockaddr_storage sl, cl;
	socklen_t sll = 0, cll = 0;
	struct stoq_dgram rx[STOQ_RUN_RX_BURST];
	struct stoq_io_dpdk_stats ss, cs;
	struct stoq_endpoint_stats est;
	struct sink sink = { 0 };
	struct stoq_conn *c;
	uint8_t *bufs = NULL;
	char path[4096], err[256], *end;
	uint16_t pa, pb, mtu;
	uint64_t hz, deadline, t0;
	struct stat st;
	int fd = -1, opt, rc = 1;
	void *map = MAP_FAILED;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'r': root = optarg; break;
		case 'f': file = optarg; break;
		case 'c': cert = optarg; break;
		case 'k': key = optarg; break;
		case 'e': eal = optarg; break;
		case 'a': aes_gcm = optarg; break;
		case 'p':
			errno = 0;
			payload = strtol(optarg, &end, 10);
			if (errno || *end || payload < 1200 || payload > 15972) {
				fprintf(stderr, "bench_stoq_ring: --payload '%s': expected 1200..15972\n",
					optarg);
				return 2;
			}
			break;
		case 't':
			errno = 0;
			timeout = strtol(optarg, &end, 10);
			if (errno || *end || timeout < 1) {
				fprintf(stderr, "bench_stoq_ring: --timeout '%s': expected seconds >= 1\n",
					optarg);
				return 2;
			}
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!root || !file || !cert || !key || optind != argc) {
		usage(stderr);
		return 2;
	}
	snprintf(path, sizeof(path), "%s/%s", root, file);
	fd = open(path, O_RDONLY);
	if (fd < 0 || fstat(fd, &st) != 0 || st.st_size == 0) {
		fprintf(stderr, "bench_stoq_ring: %s: %s\n", path,
			fd < 0 ? strerror(errno) : "empty or unreadable");
		goto out;
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, 0);
	if (map == MAP_FAILED) {
		fprintf(stderr, "bench_stoq_ring: mmap %s: %s\n", path, strerror(errno));
		goto out;
	}
	sink.want = map;
	sink.len = (size_t)st.st_size;
	bufs = malloc((size_t)STOQ_RUN_RX_BURST * STOQ_RX_BUF);
	if (!bufs)
		goto out;
	for (size_t i = 0; i < STOQ_RUN_RX_BURST; i++)
		rx[i].data = bufs + i * STOQ_RX_BUF;

	hm_log_set_level(HM_LOG_WARN);
	if (stoq_dpdk_eal_init(eal, err, sizeof(err)) != 0) {
		fprintf(stderr, "bench_stoq_ring: --eal: %s\n", err);
		goto out;
	}
	if (wire(&pa, &pb) != 0) {
		fprintf(stderr, "bench_stoq_ring: ring ports: %s\n", rte_strerror(rte_errno));
		goto out_eal;
	}
	/* IPv4 and UDP headers on top of the payload; 1500 at least, as on a LAN. */
	mtu = (uint16_t)(payload + 28 < 1500 ? 1500 : payload + 28);
	srv.io = port_io(pa, "10.99.0.1", 4433, mtu, &sl, &sll);
	cli.io = port_io(pb, "10.99.0.2", 0, mtu, &cl, &cll);
	if (!srv.io || !cli.io)
		goto out_io;
	stoq_config_defaults(&scfg);
	snprintf(scfg.cert, sizeof(scfg.cert), "%s", cert);
	snprintf(scfg.key, sizeof(scfg.key), "%s", key);
	stoq_config_defaults(&ccfg);
	snprintf(ccfg.ca, sizeof(ccfg.ca), "%s", cert); /* verified, as a real client does */
	scfg.max_udp_payload = ccfg.max_udp_payload = (uint32_t)payload;
	if (hm_cfg_set(&stoq_config_table, &scfg, "aes_gcm", aes_gcm, false, err, sizeof(err)) ||
	    hm_cfg_set(&stoq_config_table, &ccfg, "aes_gcm", aes_gcm, false, err, sizeof(err))) {
		fprintf(stderr, "bench_stoq_ring: --aes-gcm: %s\n", err);
		goto out_io;
	}
	srv.ep = stoq_endpoint_create(&scfg, true, root, (struct sockaddr *)&sl, sll);
	cli.ep = stoq_endpoint_create(&ccfg, false, NULL, (struct sockaddr *)&cl, cll);
	if (!srv.ep || !cli.ep) {
		fprintf(stderr, "bench_stoq_ring: endpoint: %s\n", strerror(errno));
		goto out_ep;
	}
	c = stoq_conn_connect(cli.ep, (struct sockaddr *)&sl, sll, "localhost", stoq_now());
	snprintf(path, sizeof(path), "/%s", file);
	if (!c || stoq_conn_get(c, path, 0, -1, &sink_ops, &sink) != 0) {
		fprintf(stderr, "bench_stoq_ring: connect: %s\n", strerror(errno));
		goto out_ep;
	}
	hz = rte_get_tsc_hz();
	t0 = rte_rdtsc();
	deadline = t0 + (uint64_t)timeout * hz;
	while (!sink.done && rte_rdtsc() < deadline && !stoq_conn_is_closed(c)) {
		turn(&cli, rx);
		turn(&srv, rx);
	}
	if (!sink.done || sink.status != 200 || sink.got != sink.len || sink.differs) {
		fprintf(stderr,
			"bench_stoq_ring: transfer failed: %s, status %d, %zu of %zu bytes%s%s%s\n",
			sink.done ? "done" : "not done", sink.status, sink.got, sink.len,
			sink.differs ? ", bytes differ" : "", *stoq_conn_last_error(c) ? ": " : "",
			stoq_conn_last_error(c));
		goto out_ep;
	}
	stoq_io_dpdk_get_stats(srv.io, &ss);
	stoq_io_dpdk_get_stats(cli.io, &cs);
	stoq_endpoint_stats(srv.ep, &est);
	{
		/* A body on a disk filesystem is mapped a chunk ahead by the
		 * server's pager threads (stoq/stoq_pager.c): their CPU time is
		 * the server's too, wherever it ran. */
		double s_pager = (double)est.pager_cpu_ns / 1e9;
		double s_srv = (double)srv.tsc / (double)hz + s_pager, s_cli = (double)cli.tsc / (double)hz;
		double bits = (double)sink.len * 8;

		printf("STOQ over two ring ports, one thread taking turns: %zu bytes in one stream, "
		       "%ld-byte packets (MTU %u)\n",
		       sink.len, payload, mtu);
		printf("server %.3f s busy (%.3f s of it on pager threads): %.2f Gbit/s per core; client %.3f s: %.2f Gbit/s per "
		       "core; idle turns %.3f s and %.3f s; %" PRIu64 " packets sent, %" PRIu64
		       " received (acknowledgements), %" PRIu64 " dropped (ring full), %" PRIu64
		       " held back by an empty pool\n",
		       s_srv, s_pager, bits / s_srv / 1e9, s_cli, bits / s_cli / 1e9,
		       (double)srv.idle / (double)hz, (double)cli.idle / (double)hz, ss.tx_packets,
		       cs.tx_packets, ss.tx_dropped + cs.tx_dropped, ss.tx_pool_short + cs.tx_pool_short);
		printf("{\"bench\":\"stoq_ring\",\"payload\":%ld,\"bytes\":%zu,\"server_s\":%.4f,"
		       "\"server_pager_s\":%.4f,\"client_s\":%.4f,\"server_gbps_per_core\":%.3f,"
		       "\"client_gbps_per_core\":%.3f,\"dropped\":%" PRIu64 "}\n",
		       payload, sink.len, s_srv, s_pager, s_cli, bits / s_srv / 1e9, bits / s_cli / 1e9,
		       ss.tx_dropped + cs.tx_dropped);
	}
	rc = 0;
out_ep:
	if (cli.ep)
		stoq_endpoint_destroy(cli.ep);
	if (srv.ep)
		stoq_endpoint_destroy(srv.ep);
out_io:
	/* Each port holds mbufs of the other's pool: both give them back first. */
	if (cli.io)
		stoq_io_dpdk_quiesce(cli.io);
	if (srv.io)
		stoq_io_dpdk_quiesce(srv.io);
	if (cli.io)
		stoq_io_destroy(cli.io);
	if (srv.io)
		stoq_io_destroy(srv.io);
out_eal:
	stoq_dpdk_eal_fini();
out:
	free(bufs);
	if (map != MAP_FAILED)
		munmap(map, (size_t)st.st_size);
	if (fd >= 0)
		close(fd);
	return rc;
}
