/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hm_sockaddr — an IPv4 or IPv6 address and a UDP/TCP port as the
 * sockaddr bind(2), connect(2) and the STOQ library take: from the text an
 * operator wrote (controld's listen and peer addresses, hmesh-stoq's
 * gateway) or from the address bytes a config parser kept (the
 * dataplane's stoq_listen).
 */
#ifndef HM_SOCKADDR_H
#define HM_SOCKADDR_H

#include <stdint.h>
#include <sys/socket.h>

/*
 * @host, a numeric IPv4 or IPv6 address (no brackets, no name lookup), and
 * @port (host order) into @ss, zeroed first; *@len gets the length of the
 * sockaddr_in or sockaddr_in6. Returns 0, or -EINVAL when @host is neither
 * (@ss is then all zero).
 */
int hm_sockaddr_parse(const char *host, uint16_t port, struct sockaddr_storage *ss,
		      socklen_t *len);

/*
 * @family's address (AF_INET: 4 bytes, AF_INET6: 16, network order, at
 * @addr) and @port (host order) into @ss, zeroed first. Returns the
 * sockaddr's length, 0 for another family.
 */
socklen_t hm_sockaddr_from_bytes(int family, const void *addr, uint16_t port,
				 struct sockaddr_storage *ss);

#endif
