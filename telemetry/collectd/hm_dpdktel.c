/* SPDX-License-Identifier: BSD-3-Clause */
/* hm_dpdktel — DPDK telemetry socket client for port xstats (see hm_dpdktel.h). */
#include "hm_dpdktel.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>

#define REPLY_MAX (64 * 1024) /* DPDK's max_output_len is 16 KiB */

/* Send @cmd, read one reply, return the value under @cmd's path (new reference). */
static json_t *call(int fd, const char *cmd, char *buf)
{
	char key[64];
	ssize_t n;
	json_t *j, *v;

	if (send(fd, cmd, strlen(cmd), 0) < 0)
		return NULL;
	n = recv(fd, buf, REPLY_MAX - 1, 0);
	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	j = json_loads(buf, 0, NULL);
	/* The reply's key is the command without its parameter. */
	snprintf(key, sizeof(key), "%.*s", (int)strcspn(cmd, ","), cmd);
	v = json_incref(json_object_get(j, key));
	json_decref(j);
	return v;
}

int hm_dpdktel_xstats(const char *path,
		      void (*fn)(void *arg, int port, const char *stat, uint64_t value), void *arg)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = 1};
	char *buf = malloc(REPLY_MAX);
	json_t *ports = NULL;
	int fd = -1, rc;
	size_t i;
	json_t *p;

	if (buf == NULL)
		return -ENOMEM;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		rc = -ENAMETOOLONG;
		goto out;
	}
	memcpy(sa.sun_path, path, strlen(path));
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = errno == ECONNREFUSED ? -ENOENT : -errno;
		goto out;
	}
	/* First the server's greeting: {"version": ..., "pid": ..., "max_output_len": ...}. */
	if (recv(fd, buf, REPLY_MAX - 1, 0) <= 0) {
		rc = -EPROTO;
		goto out;
	}
	ports = call(fd, "/ethdev/list", buf);
	if (!json_is_array(ports)) {
		rc = -EPROTO;
		goto out;
	}
	rc = 0;
	json_array_foreach(ports, i, p)
	{
		char cmd[48];
		json_t *x, *v;
		const char *k;

		if (!json_is_integer(p))
			continue;
		snprintf(cmd, sizeof(cmd), "/ethdev/xstats,%d", (int)json_integer_value(p));
		x = call(fd, cmd, buf);
		if (!json_is_object(x)) {
			json_decref(x);
			continue;
		}
		json_object_foreach(x, k, v)
			if (json_is_integer(v) && json_integer_value(v) >= 0)
				fn(arg, (int)json_integer_value(p), k,
				   (uint64_t)json_integer_value(v));
		json_decref(x);
		rc++;
	}
out:
	json_decref(ports);
	if (fd >= 0)
		close(fd);
	free(buf);
	return rc;
}
