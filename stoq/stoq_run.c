/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * stoq_run.c — the driver loop that joins the I/O-free core to a back end,
 * and address parsing for the tools.
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "stoq_priv.h"

/* Everything @ep has to send, handed to @io; true if anything was. */
static bool send_all(struct stoq_endpoint *ep, struct stoq_io *io, uint64_t now)
{
	const struct stoq_io_ops *ops = stoq_io_ops_of(io);
	struct stoq_dgram tx[STOQ_TX_BATCH];
	bool worked = false;
	size_t n;

	while ((n = stoq_endpoint_send_io(ep, io, tx, STOQ_TX_BATCH, now)) > 0) {
		size_t sent = 0;

		worked = true;
		while (sent < n) {
			size_t k = ops->send_burst(io, tx + sent, n - sent);
			int fd = k == 0 ? ops->pollfd(io) : -1;

			if (fd >= 0) { /* full: wait for room, briefly */
				struct pollfd w = { .fd = fd, .events = POLLOUT };

				poll(&w, 1, 5);
			}
			sent += k;
		}
	}
	return worked;
}

bool stoq_endpoint_turn(struct stoq_endpoint *ep, struct stoq_io *io, struct stoq_dgram *rx)
{
	const struct stoq_io_ops *ops = stoq_io_ops_of(io);
	uint64_t now = stoq_now();
	bool worked = false;
	size_t n, unsent = 0;

	/* Drain the socket a bounded number of bursts, then let the send side
	 * run; and every STOQ_RUN_SEND_BYTES on the way, so ACKs leave. */
	for (int round = 0; round < 8; round++) {
		n = ops->recv_burst(io, rx, STOQ_RUN_RX_BURST);
		worked |= n > 0;
		for (size_t i = 0; i < n; i++) {
			stoq_endpoint_recv(ep, &rx[i], now);
			unsent += rx[i].len;
			if (unsent >= STOQ_RUN_SEND_BYTES) {
				/* What is read from here on is stamped with this
				 * time, not the turn's first: an ACK of a packet sent
				 * now, stamped earlier, would give ngtcp2 0.12 a
				 * negative RTT sample, which it takes unsigned
				 * (ngtcp2_rtb_recv_ack: pkt_ts - sent ts), and the
				 * connection stalled for good in testing. */
				now = stoq_now();
				send_all(ep, io, now);
				unsent = 0;
			}
		}
		if (n < STOQ_RUN_RX_BURST)
			break;
	}
	now = stoq_now();
	if (stoq_endpoint_next_timer(ep) <= now)
		stoq_endpoint_on_timer(ep, now);
	worked |= send_all(ep, io, now);
	return worked;
}

int stoq_endpoint_run(struct stoq_endpoint *ep, struct stoq_io *io, bool (*done)(void *arg),
		      void *arg, volatile int *stop)
{
	struct stoq_dgram rx[STOQ_RUN_RX_BURST];
	uint8_t *bufs = malloc((size_t)STOQ_RUN_RX_BURST * STOQ_RX_BUF);
	/* [1]: the pager's eventfd (-1, ignored by ppoll, without one): a
	 * body chunk read off the disk wakes the loop to send it. */
	struct pollfd pfd[2] = {
		{ .fd = stoq_io_ops_of(io)->pollfd(io), .events = POLLIN },
		{ .fd = stoq_pager_wakefd(ep->pager), .events = POLLIN },
	};
	/* Until spin_until ppoll only looks: busy_poll_us after the last turn
	 * that did something. */
	uint64_t spin_ns = (uint64_t)ep->cfg.busy_poll_us * 1000u, spin_until = 0;

	if (!bufs)
		return -ENOMEM;
	for (size_t i = 0; i < STOQ_RUN_RX_BURST; i++)
		rx[i].data = bufs + i * STOQ_RX_BUF;
	while (!(stop && *stop)) {
		uint64_t now, next;
		struct timespec ts;
		bool worked = stoq_endpoint_turn(ep, io, rx);

		if (done && done(arg))
			break;
		next = stoq_endpoint_next_timer(ep);
		now = stoq_now();
		if (worked)
			spin_until = now + spin_ns;
		/* No descriptor (DPDK): poll the port again at once, as a PMD does. */
		if (next <= now || pfd[0].fd < 0)
			continue;
		next -= now;
		if (now < spin_until)
			next = 0; /* the pager's descriptor is still looked at */
		else if (next > 200000000ull)
			next = 200000000ull; /* wake up to check *stop */
		ts.tv_sec = (time_t)(next / 1000000000ull);
		ts.tv_nsec = (long)(next % 1000000000ull);
		if (ppoll(pfd, 2, &ts, NULL) > 0 && (pfd[1].revents & POLLIN))
			stoq_pager_drain(ep->pager);
	}
	free(bufs);
	return 0;
}

int stoq_addr_parse(const char *text, struct sockaddr_storage *out, socklen_t *len)
{
	char host[256];
	const char *port;
	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM }, *res;
	size_t hl;
	int rc;

	if (text[0] == '[') {
		const char *rb = strchr(text, ']');

		if (!rb || rb[1] != ':')
			return -EINVAL;
		hl = (size_t)(rb - text - 1);
		if (hl >= sizeof(host))
			return -EINVAL;
		memcpy(host, text + 1, hl);
		port = rb + 2;
	} else {
		const char *colon = strrchr(text, ':');

		if (!colon)
			return -EINVAL;
		hl = (size_t)(colon - text);
		if (hl >= sizeof(host))
			return -EINVAL;
		memcpy(host, text, hl);
		port = colon + 1;
	}
	host[hl] = '\0';
	if (!*port)
		return -EINVAL;
	hints.ai_flags = AI_NUMERICSERV;
	rc = getaddrinfo(hl ? host : "0.0.0.0", port, &hints, &res);
	if (rc != 0)
		return -EINVAL;
	/* Prefer IPv4 for "localhost": the peers in the tests listen on 127.0.0.1. */
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		if (ai->ai_family == AF_INET || !ai->ai_next) {
			memcpy(out, ai->ai_addr, ai->ai_addrlen);
			*len = ai->ai_addrlen;
			break;
		}
	}
	freeaddrinfo(res);
	return 0;
}
