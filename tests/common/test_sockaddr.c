/* SPDX-License-Identifier: BSD-3-Clause */
/* hm_sockaddr: both families, the port's byte order, lengths, every refusal. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "hm_sockaddr.h"

static int all_zero(const struct sockaddr_storage *ss)
{
	static const struct sockaddr_storage zero;

	return memcmp(ss, &zero, sizeof(zero)) == 0;
}

Test(hm_sockaddr, parses_ipv4_and_ipv6_with_the_port)
{
	struct sockaddr_storage ss;
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)&ss;
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&ss;
	socklen_t len = 0;
	uint8_t want6[16] = {0xfd, 0x74, [15] = 1};

	cr_assert_eq(hm_sockaddr_parse("10.74.0.1", 4433, &ss, &len), 0);
	cr_assert_eq(len, sizeof(struct sockaddr_in));
	cr_assert_eq(s4->sin_family, AF_INET);
	cr_assert_eq(s4->sin_port, htons(4433));
	cr_assert_eq(s4->sin_addr.s_addr, htonl(0x0a4a0001));

	cr_assert_eq(hm_sockaddr_parse("fd74::1", 8443, &ss, &len), 0);
	cr_assert_eq(len, sizeof(struct sockaddr_in6));
	cr_assert_eq(s6->sin6_family, AF_INET6);
	cr_assert_eq(s6->sin6_port, htons(8443));
	cr_assert_eq(memcmp(&s6->sin6_addr, want6, 16), 0);
	cr_assert_eq(s6->sin6_scope_id, 0);
	cr_assert_eq(s6->sin6_flowinfo, 0);

	/* A v4 address after a v6 one leaves nothing of it behind. */
	cr_assert_eq(hm_sockaddr_parse("0.0.0.0", 0, &ss, &len), 0);
	cr_assert_eq(s4->sin_family, AF_INET);
	for (size_t i = sizeof(*s4); i < sizeof(ss); i++)
		cr_assert_eq(((const uint8_t *)&ss)[i], 0, "byte %zu", i);
}

Test(hm_sockaddr, refuses_names_brackets_ports_and_empty)
{
	const char *bad[] = {"", "localhost", "[fd74::1]", "10.74.0.1:4433", "10.74.0",
			     "10.74.0.256", "fd74::1::2", " 10.74.0.1", "fe80::1%eth0"};
	struct sockaddr_storage ss;
	socklen_t len = 77;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&ss, 0xa5, sizeof(ss));
		cr_assert_eq(hm_sockaddr_parse(bad[i], 1, &ss, &len), -EINVAL, "'%s'", bad[i]);
		cr_assert(all_zero(&ss), "'%s' left bytes behind", bad[i]);
		cr_assert_eq(len, 77, "'%s' set the length", bad[i]);
	}
}

Test(hm_sockaddr, builds_from_bytes)
{
	const uint8_t a4[4] = {192, 0, 2, 7};
	const uint8_t a6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 9};
	struct sockaddr_storage ss;
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)&ss;
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&ss;

	cr_assert_eq(hm_sockaddr_from_bytes(AF_INET, a4, 53, &ss), sizeof(*s4));
	cr_assert_eq(s4->sin_family, AF_INET);
	cr_assert_eq(s4->sin_port, htons(53));
	cr_assert_eq(memcmp(&s4->sin_addr, a4, 4), 0);
	cr_assert_eq(hm_sockaddr_from_bytes(AF_INET6, a6, 65535, &ss), sizeof(*s6));
	cr_assert_eq(s6->sin6_family, AF_INET6);
	cr_assert_eq(s6->sin6_port, htons(65535));
	cr_assert_eq(memcmp(&s6->sin6_addr, a6, 16), 0);
	memset(&ss, 0xa5, sizeof(ss));
	cr_assert_eq(hm_sockaddr_from_bytes(AF_UNIX, a4, 1, &ss), 0);
	cr_assert(all_zero(&ss));
}
