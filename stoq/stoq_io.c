/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * stoq_io.c — the back-end-neutral half of packet I/O: an io object is an
 * ops table, the bound address and what the back end can offload; the back
 * end keeps its own state behind io->be.
 */
#include <errno.h>
#include <stdlib.h>

#include "stoq_priv.h"

struct stoq_io *stoq_io_open(const struct stoq_io_ops *ops, const struct sockaddr *addr,
			     socklen_t len, const void *params)
{
	struct stoq_io *io = calloc(1, sizeof(*io));
	int rc;

	if (!io) {
		errno = ENOMEM;
		return NULL;
	}
	io->ops = ops;
	rc = ops->open(io, addr, len, params);
	if (rc < 0) {
		free(io);
		errno = -rc;
		return NULL;
	}
	return io;
}

struct stoq_io *stoq_io_create(const struct stoq_io_ops *ops, const struct sockaddr *addr,
			       socklen_t len)
{
	return stoq_io_open(ops, addr, len, NULL);
}

void stoq_io_destroy(struct stoq_io *io)
{
	if (!io)
		return;
	io->ops->close(io);
	free(io);
}

size_t stoq_io_send(struct stoq_io *io, const struct stoq_dgram *d, size_t n)
{
	return io->ops->send_burst(io, d, n);
}

socklen_t stoq_io_local(const struct stoq_io *io, struct sockaddr_storage *out)
{
	*out = io->local;
	return io->local_len;
}

size_t stoq_io_max_payload(const struct stoq_io *io)
{
	return io->max_payload;
}

bool stoq_io_has_gso(const struct stoq_io *io)
{
	return io->gso;
}

bool stoq_io_has_gro(const struct stoq_io *io)
{
	return io->gro;
}

const struct stoq_io_ops *stoq_io_ops_of(const struct stoq_io *io)
{
	return io->ops;
}
