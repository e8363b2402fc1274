/* SPDX-License-Identifier: BSD-3-Clause */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "hm_sockaddr.h"

int hm_sockaddr_parse(const char *host, uint16_t port, struct sockaddr_storage *ss,
		      socklen_t *len)
{
	uint8_t b[16];

	if (inet_pton(AF_INET, host, b) == 1) {
		*len = hm_sockaddr_from_bytes(AF_INET, b, port, ss);
		return 0;
	}
	if (inet_pton(AF_INET6, host, b) == 1) {
		*len = hm_sockaddr_from_bytes(AF_INET6, b, port, ss);
		return 0;
	}
	memset(ss, 0, sizeof(*ss));
	return -EINVAL;
}

socklen_t hm_sockaddr_from_bytes(int family, const void *addr, uint16_t port,
				 struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		memcpy(&s4->sin_addr, addr, 4);
		return sizeof(*s4);
	}
	if (family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		memcpy(&s6->sin6_addr, addr, 16);
		return sizeof(*s6);
	}
	return 0;
}
