/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ctl_peer's send queue: a member that reads steadily but never quite
 * catches up (so the queue never empties) must not make the buffer grow
 * for good; queue_max bounds what is unsent, and the buffer stays within
 * twice that.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ctl_peer.h"

TestSuite(peer, .timeout = 120);

Test(peer, a_slow_reader_does_not_grow_the_send_buffer)
{
	enum { QUEUE_MAX = 64 * 1024, MSG = 16 * 1024, READ = 8 * 1024, TICKS = 3000 };
	static uint8_t msg[MSG], sink[READ];
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);
	struct ctl_peer_cfg c = {.n = 2, .id = 0, .queue_max = QUEUE_MAX};
	struct ctl_peer_stats st;
	struct ctl_peer *p;
	size_t most_alloc = 0, read_total = 0;
	int ls, fd = -1, rcv = 4096, drained = 0;

	/* Member 1: the test, reading less per tick than member 0 queues for it. */
	ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(ls, 0);
	setsockopt(ls, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
	cr_assert_eq(bind(ls, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(ls, 4), 0);
	cr_assert_eq(getsockname(ls, (struct sockaddr *)&sa, &sl), 0);
	snprintf(c.addr[0].host, sizeof(c.addr[0].host), "127.0.0.1"); /* port 0: any */
	snprintf(c.addr[1].host, sizeof(c.addr[1].host), "127.0.0.1");
	c.addr[1].port = ntohs(sa.sin_port);
	cr_assert_eq(ctl_peer_open(&c, &p), 0);

	for (int t = 0; t < TICKS; t++) {
		ctl_peer_poll(p, 1, -1, NULL, NULL);
		if (fd < 0) {
			struct pollfd pf = {.fd = ls, .events = POLLIN};

			if (poll(&pf, 1, 0) == 1)
				fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
			continue;
		}
		ctl_peer_send(p, 1, msg, sizeof(msg));
		ssize_t r = recv(fd, sink, sizeof(sink), 0);

		if (r > 0)
			read_total += (size_t)r;
		ctl_peer_stats_get(p, &st);
		cr_assert_leq(st.queued[1], QUEUE_MAX, "queue_max bounds the unsent part");
		if (st.queue_alloc[1] > most_alloc)
			most_alloc = st.queue_alloc[1];
		drained += st.queued[1] == 0;
	}
	ctl_peer_stats_get(p, &st);
	cr_assert(st.up[1], "never connected");
	/* The case at hand: far more went through than the queue holds, and it never emptied. */
	cr_expect_gt(read_total, 32 * (size_t)QUEUE_MAX, "only %zu bytes read", read_total);
	cr_expect_lt(drained, TICKS / 10, "the queue emptied %d times", drained);
	cr_expect_gt(st.dropped, 0, "the reader kept up: the queue was never full");
	cr_expect_leq(most_alloc, 2 * (size_t)QUEUE_MAX + MSG + 4,
		      "the send buffer grew to %zu bytes (queue_max %d)", most_alloc, QUEUE_MAX);
	close(fd);
	close(ls);
	ctl_peer_close(p);
}
