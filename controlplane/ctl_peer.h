/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ctl_peer — the message pipe between consensus replicas (hmesh-controld
 * cluster members): whole messages, unordered between peers, best effort.
 *
 * The consensus core (consensus.h) signs every message and retransmits
 * what is lost, so the pipe needs no authentication, ordering across peers
 * or delivery guarantee: a full queue or a broken connection drops, and
 * the core heals it. That is the whole interface — open, send, poll,
 * close — and all a STOQ back end (stoq/) has to provide to replace this
 * TCP one.
 *
 * TCP back end: each member listens on its peer address; each sends to a
 * peer over one outgoing connection of its own (so no connection races),
 * framed as u32 little-endian length + message. Connections are retried
 * with exponential backoff (50 ms doubling to 2 s, reset once connected).
 * Single-threaded: the consensus thread owns it.
 */
#ifndef CTL_PEER_H
#define CTL_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CTL_PEER_MAX	   16
#define CTL_PEER_FRAME_MAX (1u << 20) /* = BFT_MSG_MAX */

struct ctl_peer_addr {
	char host[64]; /* IPv4 or IPv6 literal */
	uint16_t port;
};

struct ctl_peer_cfg {
	uint32_t n, id;
	struct ctl_peer_addr addr[CTL_PEER_MAX];
	size_t queue_max; /* bytes queued per peer before dropping (0: 8 MiB) */
};

struct ctl_peer_stats {
	uint64_t sent, received; /* messages */
	uint64_t dropped;	 /* not queued: peer down or queue full */
	uint64_t connects;	 /* outgoing connections established */
	uint64_t bad_frames;	 /* incoming connections closed for a bad length */
	bool up[CTL_PEER_MAX];	 /* outgoing connection established */
	/* The kernel's smoothed RTT of that connection (TCP_INFO), µs; 0: none yet */
	uint32_t rtt_us[CTL_PEER_MAX];
	/* Per peer: bytes queued and not yet sent, and the send buffer's size. */
	size_t queued[CTL_PEER_MAX], queue_alloc[CTL_PEER_MAX];
};

struct ctl_peer;

/* Listen on addr[id]. 0 and *@out, or a negative errno (logged, naming the address). */
int ctl_peer_open(const struct ctl_peer_cfg *c, struct ctl_peer **out);
void ctl_peer_close(struct ctl_peer *p);

/*
 * A member added (the log said so): send to @id at @a from now on (an
 * id it had: its new address). 0, or -EINVAL (our own id, beyond
 * CTL_PEER_MAX, not an IP literal). Slots below it without an address
 * are skipped.
 */
int ctl_peer_add(struct ctl_peer *p, uint32_t id, const struct ctl_peer_addr *a);

/* Queue @m for peer @to, or every other member when @to < 0. Never blocks. */
void ctl_peer_send(struct ctl_peer *p, int to, const uint8_t *m, size_t len);

/*
 * Move bytes for up to @timeout_ms: connect, write, accept, read; each
 * whole message read is handed to @on_msg. @wake_fd (or -1) is polled too.
 * Returns 1 when @wake_fd became readable, else 0.
 */
int ctl_peer_poll(struct ctl_peer *p, int timeout_ms, int wake_fd,
		  void (*on_msg)(void *arg, const uint8_t *m, size_t len), void *arg);

/* Counters, and each up peer's RTT as TCP measures it on our connection to it. */
void ctl_peer_stats_get(const struct ctl_peer *p, struct ctl_peer_stats *out);

#endif /* CTL_PEER_H */
