/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * stoq — the STOQ transport: QUIC v1 (RFC 9000/9001/9002) through ngtcp2,
 * TLS 1.3 through wolfSSL (ngtcp2_crypto_wolfssl), HTTP/3 (RFC 9114) through
 * nghttp3 as the application mapping, ALPN "h3".
 *
 * Layers, one way (STYLE §1, §9):
 *
 *   struct stoq_endpoint   protocol core with no I/O and no clock: feed it
 *                          received datagrams and a timestamp, ask it for the
 *                          datagrams to send and the next timer deadline.
 *                          It owns its connections, their TLS sessions and
 *                          their HTTP/3 sessions.
 *   struct stoq_io         packet I/O back end chosen by an ops table
 *                          (STYLE §8): kernel UDP (recvmmsg/sendmmsg, UDP GSO
 *                          and GRO, ECN) and DPDK mbufs on one ethdev port
 *                          (stoq_io_dpdk.c: ARP, NDP, IP and UDP built and
 *                          checked there).
 *   stoq_endpoint_run()    the driver loop joining the two, with poll(2) on
 *                          a socket and busy-polling a DPDK port; one pass
 *                          of it is stoq_endpoint_turn().
 *
 * The HTTP/3 application is built in: a server serves files under a root
 * directory (GET with Range, HEAD, PUT into the root); a client issues GETs
 * and hands response bodies to a callback.
 *
 * Time: every timestamp is nanoseconds on a monotonic clock chosen by the
 * caller (stoq_now() reads CLOCK_MONOTONIC; tests use a simulated clock).
 *
 * Threading: an endpoint and everything it owns belong to one thread. Two
 * endpoints may run in two threads.
 *
 * Errors: actions return 0 or a negative errno; constructors return NULL and
 * set errno; burst functions return how many datagrams they handled.
 */
#ifndef STOQ_H
#define STOQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hm_hist.h"
#include <stdio.h>
#include <sys/socket.h>

#include "hm_config.h"

/* ---------------------------------------------------------------------- */
/* Configuration (STYLE §10): one table, stoq_config_table.                */

enum stoq_cc {
	STOQ_CC_CUBIC, /* RFC 8312 / RFC 9438; ngtcp2's default */
	STOQ_CC_BBR,   /* BBR v1 as in ngtcp2 0.12 */
	STOQ_CC_BBR2,  /* BBR v2 as in ngtcp2 0.12 */
	STOQ_CC_RENO,  /* RFC 9002 §7 NewReno */
};

/* Who seals and opens AES-GCM packets (stoq_aead.c). */
enum stoq_aes_gcm {
	STOQ_AES_GCM_AUTO,	/* stoq_gcm (VAES) where the CPU has it, else wolfCrypt */
	STOQ_AES_GCM_WOLFCRYPT, /* wolfCrypt's AES-NI/AVX2 code always */
};

#define STOQ_PATH_MAX 256
#define STOQ_CID_KEY_LEN 16
#define STOQ_CID_MAX_LEN_CFG 20 /* RFC 9000 §17.2: at most 20 octets */

/* A 16-byte AES-128 key given in hex, or unset. */
struct stoq_key16 {
	bool set;
	uint8_t b[STOQ_CID_KEY_LEN];
};

/*
 * Every knob of an endpoint. Fill with stoq_config_defaults(), then
 * hm_cfg_load_file()/hm_cfg_set() with stoq_config_table, then
 * stoq_config_check() for the rules that join two keys. Key names are the
 * member names; `hmesh-stoq server --help` prints them with bounds.
 */
/* CPUs body_read_cpus can name: ids 0..STOQ_MAX_CPUS-1 (glibc's cpu_set_t). */
#define STOQ_MAX_CPUS 1024

struct stoq_config {
	/* flow control (RFC 9000 §4) */
	uint32_t max_streams_bidi;	   /* peer may open this many request streams */
	uint64_t initial_max_data;	   /* connection window at start */
	uint64_t initial_max_stream_data; /* per-stream window at start */
	uint64_t max_window;		   /* auto-tuned connection window ceiling */
	uint64_t max_stream_window;	   /* auto-tuned stream window ceiling */
	/* recovery and congestion control (RFC 9002) */
	int cc;		  /* enum stoq_cc */
	bool pacing;	  /* pace by ngtcp2's send quantum and tx time */
	int aes_gcm;	  /* enum stoq_aes_gcm; process-wide, the last endpoint made sets it */
	uint32_t idle_timeout_ms;
	uint32_t max_ack_delay_ms;
	uint32_t ack_delay_exponent;
	uint32_t handshake_timeout_ms;
	/* connection IDs (RFC 9000 §5.1; QUIC-LB draft §3) */
	uint32_t active_connection_id_limit;
	uint32_t server_id;	 /* this node's id, carried in every CID it issues */
	uint32_t server_id_len; /* octets of server id in a CID */
	uint32_t cid_len;	 /* total CID length: 1 + server_id_len + nonce */
	uint32_t cid_config_id; /* QUIC-LB config rotation bits (0..6) */
	struct stoq_key16 cid_key; /* set: CIDs are AES-128 single-pass encrypted */
	/* address validation and resets (RFC 9000 §8.1, §10.3) */
	bool retry;			 /* server: Retry every Initial without a token */
	uint32_t retry_token_lifetime_ms;
	/* TLS and 0-RTT (RFC 9001 §4.6) */
	bool early_data;
	char cert[STOQ_PATH_MAX]; /* PEM chain; server */
	char key[STOQ_PATH_MAX];  /* PEM private key; server */
	char ca[STOQ_PATH_MAX];	  /* PEM CA bundle for verify_peer; empty = system */
	bool verify_peer;	  /* client: verify the server's certificate and name */
	char session_file[STOQ_PATH_MAX]; /* client: resumption + 0-RTT state; empty = off */
	char alpn[32];		  /* client: ALPN offered (tests use a wrong one) */
	uint32_t quic_version;	  /* client: version of the first Initial */
	/* datagrams */
	uint32_t max_udp_payload;
	uint32_t gso_segments; /* datagrams per GSO send (1 = no GSO) */
	/* stoq_endpoint_run: after a turn that received or sent, look at the
	 * socket again without sleeping for this long, µs (0 = sleep at once) */
	uint32_t busy_poll_us;
	/* server: threads reading file bodies off a disk (0 = the event loop) */
	uint32_t body_read_threads;
	/* server: CPUs those threads run on, bit i of [i / 64] (none set: the
	 * affinity of the thread that creates the endpoint) */
	unsigned long long body_read_cpus[STOQ_MAX_CPUS / 64];
	/* server: 2 MiB blocks PUT bodies are gathered in, in all (each PUT
	 * takes one as its bytes arrive, more while the disk is behind) */
	uint32_t put_buffers;
	/* server: files kept mapped between GETs (stoq_fcache.c), bytes in
	 * all (0 = none), each until unused this long */
	uint64_t file_cache_bytes;
	uint32_t file_cache_idle_ms;
};

extern const struct hm_cfg_table stoq_config_table;

/* Defaults for every key. Returns 0 (or -EINVAL on a broken table). */
int stoq_config_defaults(struct stoq_config *cfg);

/*
 * Rules between keys, after all keys are set: server_id must fit
 * server_id_len octets; cid_len must leave a nonce of at least 4 octets
 * (QUIC-LB draft §3.2); cid_key needs server_id_len + nonce == 16 (single
 * pass). Returns 0 or -EINVAL with one line in @err naming the key.
 */
int stoq_config_check(const struct stoq_config *cfg, char *err, size_t errlen);

/* ---------------------------------------------------------------------- */
/* Connection IDs that route (QUIC-LB, draft-ietf-quic-load-balancers-19). */

/*
 * Layout: first octet = config rotation (3 bits) | length self-encoding
 * (cid_len - 1, 5 bits); then server_id_len octets of server id (big
 * endian); then a nonce. With cid_key set the 16 octets after the first are
 * AES-128-ECB encrypted in one pass, so the server id is hidden from
 * observers but any node holding the key decodes it without state.
 */

/* Write a new CID of cfg->cid_len octets into @out from @nonce (random). */
int stoq_cid_encode(const struct stoq_config *cfg, uint32_t server_id, const uint8_t *nonce,
		    uint8_t *out, size_t outlen);

/*
 * Read the server id out of @cid. Returns 0, or -EINVAL when the length,
 * the config rotation bits or the length self-encoding do not match @cfg.
 */
int stoq_cid_decode(const struct stoq_config *cfg, const uint8_t *cid, size_t len,
		    uint32_t *server_id);

/* ---------------------------------------------------------------------- */
/* Endpoints: the I/O-free protocol core.                                  */

struct stoq_endpoint;
struct stoq_conn;

/* A buffer of the back end's own that one packet is written into in place
 * (stoq_io_ops.tx_get): on DPDK, an mbuf, past room for the frame's headers. */
struct stoq_txbuf {
	uint8_t *data;
	uint16_t room; /* bytes @data may take */
	uint16_t len;  /* bytes the packet took */
	void *handle;  /* the back end's (the mbuf) */
};

/* One datagram in or out. @len may hold several GSO segments of @segsize. */
struct stoq_dgram {
	uint8_t *data;
	size_t len;
	size_t segsize; /* 0 or len: one datagram */
	uint8_t ecn;	/* IP ECN codepoint (RFC 3168), low 2 bits */
	struct sockaddr_storage remote;
	socklen_t remote_len;
	/* A path MTU probe (alone in its train): a path that refuses it is
	 * how discovery learns its size, not an error. */
	bool probe;
	/*
	 * Outgoing only. NULL (as an initializer leaves it): the bytes are at
	 * @data. Otherwise the train was written in place into the back end's
	 * buffers bufs[0..nbufs-1], one packet each (bufs[i].len bytes, @len
	 * their total), and @data is NULL: stoq_endpoint_turn() on a back end
	 * with tx_get. send_burst takes them over with the datagram.
	 */
	struct stoq_txbuf *bufs;
	size_t nbufs;
};

/* Per-request events for a client's GET. */
struct stoq_request_ops {
	/* Body bytes in order. Return 0, or negative to reset the stream. */
	int (*on_data)(void *arg, const uint8_t *data, size_t len);
	/* The response is complete (@status > 0) or failed (@status = -errno). */
	void (*on_done)(void *arg, int status, uint64_t bytes);
};

/* Counters of one endpoint (read with stoq_endpoint_stats()). */
struct stoq_endpoint_stats {
	uint64_t rx_dgrams, tx_dgrams, rx_bytes, tx_bytes;
	uint64_t handshakes;	 /* completed */
	uint64_t conns_closed;	 /* any reason */
	uint64_t retries_sent;	 /* Retry packets */
	uint64_t vn_sent;	 /* Version Negotiation packets */
	uint64_t resets_sent;	 /* Stateless Reset packets */
	uint64_t dropped;	 /* datagrams that matched no connection and were refused */
	uint64_t requests_done; /* HTTP/3 requests completed (both roles) */
	uint64_t early_accepted; /* connections whose 0-RTT data was accepted (by the server) */
	uint64_t early_rejected; /* client: ... refused by the server (sent again after it) */
	/* server: bodies that could not be read while being sent (the file was
	 * cut short under the GET, or a read error): that stream reset, or, when
	 * the copy into a packet faulted, that connection closed (stoq_guard.c) */
	uint64_t body_read_errors;
	/* server: 2 MiB body chunks read by the pager threads (a body on a
	 * disk, not tmpfs), and how often a stream had to wait for one: the
	 * disk was slower than the connection */
	uint64_t body_chunks_paged;
	uint64_t body_page_waits;
	/* server: PUT blocks written to a disk by the pager threads; those
	 * queued while the PUT's block before was still being written (the
	 * disk behind the client: its flow-control credit is held back); and
	 * writes the event loop did itself, the endpoint's PUT blocks (or a
	 * PUT's ring) being all in use */
	uint64_t put_blocks_paged;
	uint64_t put_writes_behind;
	uint64_t put_writes_inline;
	uint64_t pager_cpu_ns; /* CPU time of the pager threads (read-ahead, mapping) */
	/* server: GETs that found their file's mapping kept from an earlier
	 * one, those that mapped it, and the bytes of mapping kept now
	 * (file_cache_bytes; stoq_fcache.c) */
	uint64_t file_cache_hits;
	uint64_t file_cache_misses;
	uint64_t file_cache_bytes;
	/* Latency histograms (common/hm_hist.h, ns): handshake from the first
	 * packet to completion; request from when it was issued (client) or its
	 * headers arrived (server) to its end. */
	uint64_t handshake_ns[HM_HIST_WORDS];
	uint64_t request_ns[HM_HIST_WORDS];
};

/*
 * Create an endpoint. A server needs cfg->cert and cfg->key and serves
 * @root (NULL: serves nothing, refuses every request with 404). The config
 * is copied. Local address @local is the one the back end is bound to (used
 * as the local half of every path). Returns NULL and sets errno (EINVAL for
 * a bad config or unreadable cert/key; the reason goes to the log).
 */
struct stoq_endpoint *stoq_endpoint_create(const struct stoq_config *cfg, bool server,
					   const char *root, const struct sockaddr *local,
					   socklen_t local_len);
void stoq_endpoint_destroy(struct stoq_endpoint *ep);

/*
 * Feed one received datagram (possibly GRO-coalesced: @segsize). Creates a
 * server connection for a valid Initial, answers with Version Negotiation,
 * Retry or Stateless Reset where RFC 9000 says so. Returns 0; datagrams that
 * are refused are counted, not errors.
 */
int stoq_endpoint_recv(struct stoq_endpoint *ep, const struct stoq_dgram *d, uint64_t now);

/*
 * Produce up to @max datagrams to send into @out; their buffers belong to the
 * endpoint and stay valid until the next call into it. Returns how many;
 * call again until it returns 0.
 */
size_t stoq_endpoint_send(struct stoq_endpoint *ep, struct stoq_dgram *out, size_t max,
			  uint64_t now);

/* The earliest deadline (ns) of any connection timer, UINT64_MAX if none. */
uint64_t stoq_endpoint_next_timer(struct stoq_endpoint *ep);

/* Run expired timers (loss detection, idle, pacing, close) at @now. */
void stoq_endpoint_on_timer(struct stoq_endpoint *ep, uint64_t now);

/* Number of live connections. */
size_t stoq_endpoint_conn_count(const struct stoq_endpoint *ep);

void stoq_endpoint_stats(const struct stoq_endpoint *ep, struct stoq_endpoint_stats *out);

/*
 * Client: start a connection to @remote, SNI and certificate name @host.
 * Returns the connection (owned by the endpoint) or NULL with errno.
 */
struct stoq_conn *stoq_conn_connect(struct stoq_endpoint *ep, const struct sockaddr *remote,
				    socklen_t remote_len, const char *host, uint64_t now);

/*
 * Client: queue GET @path (with "Range: bytes=@range_start-@range_end" when
 * @range_end >= @range_start, inclusive; pass 0, -1 for the whole file).
 * Requests wait for the handshake and for stream credit (max_streams_bidi
 * of the server). @ops/@arg receive the body. Returns 0, -ENOMEM, -EPIPE if
 * the connection is closing.
 */
int stoq_conn_get(struct stoq_conn *c, const char *path, int64_t range_start, int64_t range_end,
		  const struct stoq_request_ops *ops, void *arg);

/*
 * Queue a PUT of @len bytes at @body to @path (RFC 9110 §9.3.4); @body must
 * stay valid until ops->on_done. @sha256: the body's digest when the caller
 * has it (stoq_sha256), NULL to compute it here; it is what the server's
 * answer is checked against. A path "/sha256/<64 lowercase hex>" names
 * the body by its SHA-256: a hmesh-stoq server stores it
 * only when the bytes hash to that name (400 otherwise) and serves it back
 * with GET at the same path. A server's repr-digest (RFC 9530), which
 * hmesh-stoq sends with every 201, is checked against what was sent: a
 * difference ends the request with -EBADMSG. on_done gets the HTTP status
 * (201 when stored) or a negative errno. Returns 0 or -EPIPE (connection
 * closing), -ENAMETOOLONG, -ENOMEM, -EIO (hashing failed).
 */
int stoq_conn_put(struct stoq_conn *c, const char *path, const uint8_t *body, size_t len,
		  const uint8_t *sha256, const struct stoq_request_ops *ops, void *arg);
/*
 * stoq_conn_put() of the file open at @fd (its size when called): the
 * library maps it and drops the mapping when the request ends, so @fd may
 * be closed at once. A file cut short (or unreadable) while it is sent
 * fails the request with -EIO instead of killing the process with SIGBUS:
 * seen before a 2 MiB chunk is handed out, that stream alone is reset;
 * under the copy into a packet, the connection is closed (its other
 * requests end with -ECONNABORTED). @sha256 NULL: hashed here with read(2)
 * (stoq_sha256_fd). Returns as stoq_conn_put(), and -errno from fstat or
 * mmap, -EINVAL for anything but a regular file, -EIO when it could not be
 * read whole for the hash.
 */
int stoq_conn_put_fd(struct stoq_conn *c, const char *path, int fd, const uint8_t *sha256,
		     const struct stoq_request_ops *ops, void *arg);
/* The SHA-256 of @len bytes (a content-addressed chunk's name in hex). 0 or -EIO. */
int stoq_sha256(const uint8_t *data, size_t len, uint8_t digest[32]);
/* The SHA-256 of the first @len bytes of the file at @fd, read with
 * pread(2): 0, -EIO if it holds fewer (cut short) or a read fails, -ENOMEM. */
int stoq_sha256_fd(int fd, uint64_t len, uint8_t digest[32]);

bool stoq_conn_is_established(const struct stoq_conn *c);
/* True once the connection is closed, drained or failed (see last_error). */
bool stoq_conn_is_closed(const struct stoq_conn *c);
/* Requests queued or in flight. */
size_t stoq_conn_pending(const struct stoq_conn *c);
/* Human-readable reason of the failure, "" when none (e.g. "TLS alert 120 ..."). */
const char *stoq_conn_last_error(const struct stoq_conn *c);
/* Nanoseconds from connect to handshake completion (0 until then). */
uint64_t stoq_conn_handshake_ns(const struct stoq_conn *c);
/* Copy the source CIDs this end issued; returns how many (at most @max). */
size_t stoq_conn_scids(const struct stoq_conn *c, uint8_t (*out)[20], size_t *lens, size_t max);
/* Close gracefully (HTTP/3 GOAWAY then CONNECTION_CLOSE). */
void stoq_conn_close(struct stoq_conn *c, uint64_t now);

/* The first connection of an endpoint (tests; servers). NULL if none. */
struct stoq_conn *stoq_endpoint_first_conn(struct stoq_endpoint *ep);

/* ---------------------------------------------------------------------- */
/* Packet I/O back ends (STYLE §8).                                        */

struct stoq_io;

struct stoq_io_ops {
	const char *name;
	/* Bind to @addr with the back end's @params (may be NULL). Returns 0 or negative errno. */
	int (*open)(struct stoq_io *io, const struct sockaddr *addr, socklen_t len,
		    const void *params);
	/* Up to @max datagrams; each d[i].data must point at STOQ_RX_BUF bytes. A
	 * back end may point d[i].data at its own memory instead (the DPDK
	 * one: the frame's mbuf), valid until its next recv_burst or close;
	 * it then never writes through the pointer the caller left there. */
	size_t (*recv_burst)(struct stoq_io *io, struct stoq_dgram *d, size_t max);
	/* Returns how many were sent (the rest should be retried later). The
	 * buffers of a datagram written in place (d->bufs) are the back end's
	 * again once it is counted sent, whether it went out or was dropped;
	 * those of the rest stay as they were, to be offered again. */
	size_t (*send_burst)(struct stoq_io *io, const struct stoq_dgram *d, size_t n);
	/*
	 * Optional (NULL: packets are written into the endpoint's memory and
	 * send_burst copies them). Up to @n buffers for packets written in
	 * place, each with room for one packet of up to the back end's
	 * max_payload; returns how many (fewer when its pool runs low).
	 * tx_put gives back those not used. The DPDK back end has them: the
	 * packets are written, sealed and checksummed in their mbufs, not
	 * copied into them, and an empty pool holds packets back instead of
	 * losing them (per core it measured level with the copy on ring
	 * ports: stoq/README.md).
	 */
	size_t (*tx_get)(struct stoq_io *io, struct stoq_txbuf *b, size_t n);
	void (*tx_put)(struct stoq_io *io, struct stoq_txbuf *b, size_t n);
	/* A descriptor for poll(2) readiness, or -1: the driver loop then polls
	 * the back end without sleeping (a DPDK port has no descriptor). */
	int (*pollfd)(struct stoq_io *io);
	void (*close)(struct stoq_io *io);
};

/* Kernel UDP sockets: recvmmsg/sendmmsg, UDP_SEGMENT, UDP_GRO, IP_RECVTOS. */
extern const struct stoq_io_ops stoq_io_udp_ops;

/*
 * DPDK mbufs on one ethdev port (stoq_io_dpdk.c): IPv4 or IPv6 and UDP in
 * software, ARP (IPv4) or NDP Neighbor Solicitation/Advertisement (IPv6)
 * answered and resolved by the back end, which owns the address given to
 * stoq_io_open(): one address of one family, as a socket bound to it. The
 * EAL must be up (stoq_dpdk_eal_init()). One endpoint per port: it takes
 * RX and TX queue 0.
 */
extern const struct stoq_io_ops stoq_io_dpdk_ops;

struct stoq_io_dpdk_params {
	uint16_t port_id;
	/* On-link prefix of the address: IPv4 1..32 (0: 24), IPv6 1..128 (0: 64). */
	uint8_t prefix_len;
	/* Next hop for off-link peers, of the address's family, port ignored;
	 * AF_UNSPEC: none. IPv4: inside the prefix; IPv6: inside it or
	 * link-local (fe80::/10), as routers' addresses are. */
	struct sockaddr_storage gateway;
	/* The port's MTU (rte_eth_conf.rxmode.mtu), 0: the PMD's default
	 * (1500). Above 1500 (jumbo frames) the mbufs grow to hold a whole
	 * frame; the PMD must take the MTU at configure (NIC PMDs, net_ring;
	 * net_af_packet reports 1518-byte frames and stays at 1500). Refused
	 * (-EINVAL) below what carries a 1200-byte UDP payload (RFC 9000
	 * §14), outside the PMD's range, or above 16000. */
	uint16_t mtu;
	/* The Ethernet address the back end owns (sends from, answers ARP and
	 * NDP with, accepts frames to); !mac_set: the port's own. A dataplane
	 * that hosts the endpoint behind a ring port gives its uplink's. */
	bool mac_set;
	uint8_t mac[6];
};

/* Why the DPDK back end dropped frames it received, and what it did. */
struct stoq_io_dpdk_stats {
	uint64_t rx_frames, rx_datagrams;
	uint64_t rx_not_ours; /* another MAC, IP address, IP family, protocol or UDP port */
	uint64_t rx_bad_ip;   /* IPv4 header or checksum invalid, length lies, IPv6
			       * extension headers broken */
	uint64_t rx_bad_udp;  /* UDP length invalid, checksum flagged bad (IPv6: wrong
			       * or zero) */
	uint64_t rx_fragment; /* IP fragments: QUIC datagrams are never fragmented */
	uint64_t rx_not_ip;   /* another EtherType than IPv4, IPv6 and ARP */
	uint64_t rx_bad_nd;   /* NDP message failing RFC 4861 §7.1 validation */
	uint64_t arp_requests_answered, arp_requests_sent, arp_replies;
	uint64_t nd_solicits_answered, nd_solicits_sent, nd_adverts;
	uint64_t tx_packets, tx_bytes;
	uint64_t tx_unresolved; /* queued behind an ARP request or Neighbor Solicitation */
	uint64_t tx_dropped;	/* no neighbour after the wait, pool empty, or another family */
	uint64_t tx_pool_short; /* in-place buffers asked for and not given (pool empty):
				 * those packets wait in ngtcp2, none is lost */
};

void stoq_io_dpdk_get_stats(const struct stoq_io *io, struct stoq_io_dpdk_stats *out);

/*
 * Give back every mbuf the back end holds (the last burst's datagrams) or
 * has waiting in its RX queue. On ports wired to each other in one process
 * (two ring ports back to back) those mbufs come from the other back end's
 * pool: call this on each such port before destroying any of them, or the
 * second close frees mbufs into a pool the first one freed (with hugepages
 * that memory is unmapped, and the process crashed at exit). Destroying a
 * back end does this for its own port.
 */
void stoq_io_dpdk_quiesce(struct stoq_io *io);

/*
 * RFC 4291 §2.7.1: ff02::1:ffXX:XXXX, the group a Neighbor Solicitation
 * for @ip6 goes to (the back end joins its own; a dataplane hosting it
 * steers that group's frames to it).
 */
void stoq_ip6_solicited_node(const uint8_t ip6[16], uint8_t out[16]);

/*
 * Start DPDK's EAL from one string of arguments split at blanks, e.g.
 * "-l 1 --no-pci --file-prefix s1 --vdev net_af_packet0,iface=veth1".
 * Returns 0 or negative errno, with the reason in @err.
 */
int stoq_dpdk_eal_init(const char *args, char *err, size_t errlen);
void stoq_dpdk_eal_fini(void);

/*
 * Create and bind a back end. Returns NULL with errno. stoq_io_local()
 * returns the bound address (port filled when 0 was asked for).
 * stoq_io_create() is stoq_io_open() without back-end parameters.
 */
struct stoq_io *stoq_io_open(const struct stoq_io_ops *ops, const struct sockaddr *addr,
			     socklen_t len, const void *params);
struct stoq_io *stoq_io_create(const struct stoq_io_ops *ops, const struct sockaddr *addr,
			       socklen_t len);
void stoq_io_destroy(struct stoq_io *io);
/* Send through the back end directly (outside stoq_endpoint_run); see send_burst. */
size_t stoq_io_send(struct stoq_io *io, const struct stoq_dgram *d, size_t n);
socklen_t stoq_io_local(const struct stoq_io *io, struct sockaddr_storage *out);
/*
 * The largest UDP payload the back end sends as one packet: the protocol's
 * limit on a kernel socket (the path's MTU is the operator's to know), the
 * port's MTU and mbuf size on DPDK. An endpoint whose max_udp_payload is
 * larger loses those packets (counted): check before running it.
 */
size_t stoq_io_max_payload(const struct stoq_io *io);
/* Whether UDP GSO / GRO were enabled on the socket. */
bool stoq_io_has_gso(const struct stoq_io *io);
bool stoq_io_has_gro(const struct stoq_io *io);

/* The size of a receive buffer: the largest UDP payload and then some. */
#define STOQ_RX_BUF 65536

/*
 * One turn of stoq_endpoint_run(): up to 8 bursts of up to
 * STOQ_RUN_RX_BURST datagrams received into @rx (each rx[i].data pointing
 * at STOQ_RX_BUF bytes) and fed to @ep, with what it has to send (ACKs
 * above all) handed to @io after every STOQ_RUN_SEND_BYTES received; then
 * its expired timers run and everything it has to send is handed to @io (a
 * back end with a descriptor is waited on while it is full). Returns true
 * when anything was received or sent.
 *
 * Why sends in the middle: a receiver that drained its whole burst first
 * (8 recvmmsg of 32 datagrams, each a GRO train of up to 64 KiB) held
 * every ACK back for a congestion window's worth of decryption. On
 * loopback on two cores the sender's smoothed RTT rose to 1-5 ms against
 * a minimum of 0.2-0.9 ms and it slept with bytes_in_flight == cwnd for
 * 0.1-1.5 s of each 1 GiB (2026-12-03). RFC 9000 §13.2.2 asks for an ACK
 * every second ack-eliciting packet and ngtcp2 asks for it after two
 * (ack_thresh); this gives it the chance. 96 KiB, in bytes because the
 * sender's window is in bytes: with 8952-byte packets a budget of 128
 * packets gave 0.70x of 192 KiB's goodput, 192 KiB 0.80x of 96 KiB's, and
 * 64 KiB the same as 96 (alternating runs, stoq/README.md).
 */
#define STOQ_RUN_RX_BURST 32
#define STOQ_RUN_SEND_BYTES (96u * 1024)
bool stoq_endpoint_turn(struct stoq_endpoint *ep, struct stoq_io *io, struct stoq_dgram *rx);

/*
 * Drive @ep over @io until @done(@arg) returns true (checked after every
 * turn) or *@stop becomes nonzero: turns back to back on a back end
 * without a descriptor (DPDK), on a socket sleeping in ppoll(2) until the
 * next timer or datagram, except for busy_poll_us after a turn that
 * received or sent, when ppoll only looks. Returns 0, or -ENOMEM.
 */
int stoq_endpoint_run(struct stoq_endpoint *ep, struct stoq_io *io, bool (*done)(void *arg),
		      void *arg, volatile int *stop);

/*
 * A server endpoint's counters and latency histograms in stats segment
 * /dev/shm/hmesh-@name (telemetry/hm_stats.h): stoq_rx_datagrams,
 * stoq_handshakes, stoq_requests, stoq_connections, ...,
 * stoq_handshake_seconds, stoq_request_seconds. Written only by the thread
 * that runs the endpoint: pass stoq_seg_tick and the segment to
 * stoq_endpoint_run as done() and its argument (it publishes every 100 ms
 * and never ends the loop). Open returns NULL with errno, logged.
 */
struct stoq_seg;
struct stoq_seg *stoq_seg_open(const char *name, struct stoq_endpoint *ep);
void stoq_seg_publish(struct stoq_seg *seg);
bool stoq_seg_tick(void *seg);
void stoq_seg_close(struct stoq_seg *seg);

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t stoq_now(void);

/* Parse "ADDR:PORT", "[V6]:PORT" or "HOST:PORT" (numeric or resolved). */
int stoq_addr_parse(const char *text, struct sockaddr_storage *out, socklen_t *len);

#endif /* STOQ_H */
