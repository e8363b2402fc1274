/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * stoq_io_udp.c — the kernel UDP back end: one non-blocking socket,
 * recvmmsg/sendmmsg bursts, UDP GSO (UDP_SEGMENT, Linux 4.18) to hand the
 * kernel a train of equal-size packets in one call, UDP GRO (Linux 5.0) to
 * receive a train in one buffer, and the ECN codepoints of RFC 3168 in and
 * out (IP_RECVTOS / IP_TOS, IPV6_RECVTCLASS / IPV6_TCLASS) for RFC 9000
 * §13.4.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hm_log.h"
#include "stoq_priv.h"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

#define IO_RX_BURST 32
#define IO_TX_MSGS (STOQ_TX_BATCH * STOQ_GSO_MAX)
#define IO_CTL 64

/* The socket and its message arrays (io->be). */
struct udp_be {
	int fd;
	struct mmsghdr rmsg[IO_RX_BURST];
	struct iovec riov[IO_RX_BURST];
	uint8_t rctl[IO_RX_BURST][IO_CTL];
	struct mmsghdr smsg[IO_TX_MSGS];
	struct iovec siov[IO_TX_MSGS];
	uint8_t sctl[IO_TX_MSGS][IO_CTL];
	uint16_t sown[IO_TX_MSGS]; /* which input datagram each message came from */
	uint64_t tx_errors;
	bool said_msgsize; /* the EMSGSIZE warning is given once */
};

static void sockopt_int(int fd, int level, int name, int v)
{
	(void)setsockopt(fd, level, name, &v, sizeof(v));
}

static int udp_open(struct stoq_io *io, const struct sockaddr *addr, socklen_t len,
		    const void *params)
{
	struct udp_be *be;
	int fd, v, rc;
	socklen_t vl = sizeof(v);

	(void)params;
	be = calloc(1, sizeof(*be));
	if (!be)
		return -ENOMEM;
	fd = socket(addr->sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		goto err_free;
	}
	/* Bursts of 64-packet trains need deep socket buffers; FORCE works as root. */
	sockopt_int(fd, SOL_SOCKET, SO_RCVBUFFORCE, 8 << 20);
	sockopt_int(fd, SOL_SOCKET, SO_SNDBUFFORCE, 8 << 20);
	sockopt_int(fd, SOL_SOCKET, SO_RCVBUF, 8 << 20);
	sockopt_int(fd, SOL_SOCKET, SO_SNDBUF, 8 << 20);
	if (addr->sa_family == AF_INET) {
		sockopt_int(fd, IPPROTO_IP, IP_RECVTOS, 1);
		/* RFC 9000 §14: QUIC datagrams must not be fragmented. */
		sockopt_int(fd, IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO);
	} else {
		sockopt_int(fd, IPPROTO_IPV6, IPV6_RECVTCLASS, 1);
		sockopt_int(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, IPV6_PMTUDISC_DO);
	}
	if (bind(fd, addr, len) < 0) {
		rc = -errno;
		goto err_close;
	}
	io->local_len = sizeof(io->local);
	if (getsockname(fd, (struct sockaddr *)&io->local, &io->local_len) < 0) {
		rc = -errno;
		goto err_close;
	}
	/* RFC 768 over IPv4 (65535 - 20 - 8), RFC 8200 over IPv6 (65535 - 8). */
	io->max_payload = addr->sa_family == AF_INET6 ? 65527 : 65507;
	io->gso = getsockopt(fd, SOL_UDP, UDP_SEGMENT, &v, &vl) == 0;
	v = 1;
	io->gro = setsockopt(fd, SOL_UDP, UDP_GRO, &v, sizeof(v)) == 0;
	if (getenv("STOQ_NO_GSO"))
		io->gso = false;
	be->fd = fd;
	io->be = be;
	return 0;

err_close:
	close(fd);
err_free:
	free(be);
	return rc;
}

static size_t udp_recv_burst(struct stoq_io *io, struct stoq_dgram *d, size_t max)
{
	struct udp_be *be = io->be;
	int n;

	if (max > IO_RX_BURST)
		max = IO_RX_BURST;
	for (size_t i = 0; i < max; i++) {
		struct msghdr *m = &be->rmsg[i].msg_hdr;

		be->riov[i].iov_base = d[i].data;
		be->riov[i].iov_len = STOQ_RX_BUF;
		memset(m, 0, sizeof(*m));
		m->msg_name = &d[i].remote;
		m->msg_namelen = sizeof(d[i].remote);
		m->msg_iov = &be->riov[i];
		m->msg_iovlen = 1;
		m->msg_control = be->rctl[i];
		m->msg_controllen = IO_CTL;
	}
	n = recvmmsg(be->fd, be->rmsg, (unsigned int)max, MSG_DONTWAIT, NULL);
	if (n <= 0)
		return 0;
	for (int i = 0; i < n; i++) {
		struct msghdr *m = &be->rmsg[i].msg_hdr;

		d[i].len = be->rmsg[i].msg_len;
		d[i].remote_len = m->msg_namelen;
		d[i].segsize = 0;
		d[i].ecn = 0;
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(m); cm; cm = CMSG_NXTHDR(m, cm)) {
			if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_TOS)
				d[i].ecn = *(uint8_t *)CMSG_DATA(cm) & 3;
			else if (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_TCLASS) {
				int t;

				memcpy(&t, CMSG_DATA(cm), sizeof(t));
				d[i].ecn = (uint8_t)(t & 3);
			} else if (cm->cmsg_level == SOL_UDP && cm->cmsg_type == UDP_GRO) {
				int seg;

				memcpy(&seg, CMSG_DATA(cm), sizeof(seg));
				d[i].segsize = (size_t)seg;
			}
		}
	}
	return (size_t)n;
}

static size_t fill_msg(struct udp_be *be, size_t k, const struct stoq_dgram *d, uint8_t *data,
		       size_t len, bool gso)
{
	struct msghdr *m = &be->smsg[k].msg_hdr;
	struct cmsghdr *cm;
	size_t ctl = 0;

	be->siov[k].iov_base = data;
	be->siov[k].iov_len = len;
	memset(m, 0, sizeof(*m));
	m->msg_name = (void *)&d->remote;
	m->msg_namelen = d->remote_len;
	m->msg_iov = &be->siov[k];
	m->msg_iovlen = 1;
	m->msg_control = be->sctl[k];
	m->msg_controllen = IO_CTL;
	memset(be->sctl[k], 0, IO_CTL);
	cm = CMSG_FIRSTHDR(m);
	if (gso) {
		uint16_t seg = (uint16_t)d->segsize;

		cm->cmsg_level = SOL_UDP;
		cm->cmsg_type = UDP_SEGMENT;
		cm->cmsg_len = CMSG_LEN(sizeof(seg));
		memcpy(CMSG_DATA(cm), &seg, sizeof(seg));
		ctl += CMSG_SPACE(sizeof(seg));
		cm = CMSG_NXTHDR(m, cm);
	}
	if (d->ecn) {
		int tos = d->ecn;

		cm->cmsg_level = d->remote.ss_family == AF_INET6 ? IPPROTO_IPV6 : IPPROTO_IP;
		cm->cmsg_type = d->remote.ss_family == AF_INET6 ? IPV6_TCLASS : IP_TOS;
		cm->cmsg_len = CMSG_LEN(sizeof(tos));
		memcpy(CMSG_DATA(cm), &tos, sizeof(tos));
		ctl += CMSG_SPACE(sizeof(tos));
	}
	m->msg_controllen = ctl;
	if (!ctl)
		m->msg_control = NULL;
	return k + 1;
}

static size_t udp_send_burst(struct stoq_io *io, const struct stoq_dgram *d, size_t n)
{
	struct udp_be *be = io->be;
	size_t k = 0, sent = 0;
	int r;

	for (size_t i = 0; i < n && i < STOQ_TX_BATCH; i++) {
		size_t seg = d[i].segsize && d[i].segsize < d[i].len ? d[i].segsize : d[i].len;

		if (seg == d[i].len || io->gso) {
			be->sown[k] = (uint16_t)i;
			k = fill_msg(be, k, &d[i], d[i].data, d[i].len, seg != d[i].len);
			continue;
		}
		/* No GSO: one message per packet of the train. */
		for (size_t off = 0; off < d[i].len && k < IO_TX_MSGS; off += seg) {
			be->sown[k] = (uint16_t)i;
			k = fill_msg(be, k, &d[i], d[i].data + off,
				     d[i].len - off < seg ? d[i].len - off : seg, false);
		}
	}
	while (sent < k) {
		r = sendmmsg(be->fd, be->smsg + sent, (unsigned int)(k - sent), 0);
		if (r < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				break;
			if (errno == EIO && io->gso) {
				/* The device cannot segment: fall back for good. */
				io->gso = false;
				HM_WARN(STOQ_LOG, "UDP GSO failed (EIO); sending without it");
			}
			/* Other errors (e.g. ECONNREFUSED, EMSGSIZE) lose the packet: QUIC
			 * recovers it like any loss (RFC 9002 §6). EMSGSIZE comes back
			 * every time, though: the path cannot carry the packet size.
			 * For a path MTU probe that is the answer discovery asked for. */
			if (errno == EMSGSIZE && d[be->sown[sent]].probe) {
				sent++;
				continue;
			}
			if (errno == EMSGSIZE && !be->said_msgsize) {
				be->said_msgsize = true;
				HM_WARN(STOQ_LOG,
					"sendmsg: EMSGSIZE: the path's MTU is smaller than "
					"max_udp_payload; such packets are lost");
			}
			be->tx_errors++;
			sent++;
			continue;
		}
		sent += (size_t)r;
	}
	if (sent == k)
		return n < STOQ_TX_BATCH ? n : STOQ_TX_BATCH;
	/* Only whole input datagrams count as sent; a split one is resent whole. */
	return sent ? be->sown[sent] : 0;
}

static int udp_pollfd(struct stoq_io *io)
{
	return ((struct udp_be *)io->be)->fd;
}

static void udp_close(struct stoq_io *io)
{
	struct udp_be *be = io->be;

	close(be->fd);
	free(be);
	io->be = NULL;
}

const struct stoq_io_ops stoq_io_udp_ops = {
	.name = "udp",
	.open = udp_open,
	.recv_burst = udp_recv_burst,
	.send_burst = udp_send_burst,
	.pollfd = udp_pollfd,
	.close = udp_close,
};
