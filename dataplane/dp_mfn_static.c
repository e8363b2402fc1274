/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mfn_static: "SVC@PORT=BACKEND[,BACKEND...][;...]" with
 * BACKEND = ADDR:PORT[*WEIGHT][#NODE], ADDR = a.b.c.d or [v6]. Backend ids
 * are given in order of appearance from 0. Each service and each UDP port
 * appears once: the port map holds one service per port and one port per
 * service, so a second mention would quietly take the port from the first.
 *
 * The parser alone, with no state: dp_config checks the text at load with
 * no ops, dp_mfn applies it at start through its ops.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dp_mfn.h"

/*
 * Services in one text: each takes at least "S@P=" and a ';', so a text of
 * DP_MFN_STATIC_MAX characters holds fewer than this.
 */
#define DP_MFN_STATIC_SVCS (DP_MFN_STATIC_MAX / 4)

/*
 * A decimal number in 0..@max, digits only. strtoul alone takes a sign and
 * leading spaces, and a cast after it wraps a value too large for the field
 * (node "65537" became node 1): check the range on the unsigned long.
 */
static bool parse_num(const char *s, unsigned long max, unsigned long *out)
{
	char *end;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	*out = strtoul(s, &end, 10);
	return errno == 0 && *end == '\0' && *out <= max;
}

int dp_mfn_static_parse(const char *text, const struct dp_mfn_static_ops *ops, void *ctx, char *why,
			size_t whylen)
{
	char buf[DP_MFN_STATIC_MAX];
	char *save_svc = NULL;
	uint32_t next_backend = 0;
	struct {
		uint16_t id, port;
	} seen[DP_MFN_STATIC_SVCS];
	unsigned int n_seen = 0;

	if (strlen(text) >= sizeof(buf)) {
		snprintf(why, whylen, "longer than %zu characters", sizeof(buf) - 1);
		return -EINVAL;
	}
	snprintf(buf, sizeof(buf), "%s", text);
	for (char *svc = strtok_r(buf, ";", &save_svc); svc; svc = strtok_r(NULL, ";", &save_svc)) {
		char *eq = strchr(svc, '='), *at = strchr(svc, '@'), *save_b = NULL;
		unsigned long id, port;

		while (*svc == ' ')
			svc++;
		if (*svc == '\0')
			continue;
		if (!eq || !at || at > eq) {
			snprintf(why, whylen, "\"%s\": expected SERVICE@PORT=ADDR:PORT,...", svc);
			return -EINVAL;
		}
		*eq = '\0';
		*at = '\0';
		if (!parse_num(svc, DP_MFN_SERVICES_MAX - 1, &id)) {
			snprintf(why, whylen, "service id \"%s\": must be 0..%d", svc,
				 DP_MFN_SERVICES_MAX - 1);
			return -EINVAL;
		}
		if (!parse_num(at + 1, 65535, &port) || port < 1) {
			snprintf(why, whylen, "service %lu port \"%s\": must be 1..65535", id,
				 at + 1);
			return -EINVAL;
		}
		for (unsigned int i = 0; i < n_seen; i++) {
			if (seen[i].id == id) {
				snprintf(why, whylen, "service %lu: listed twice (one port each)",
					 id);
				return -EINVAL;
			}
			if (seen[i].port == port) {
				snprintf(why, whylen, "service %lu port %lu: already service %u's",
					 id, port, seen[i].id);
				return -EINVAL;
			}
		}
		if (n_seen == DP_MFN_STATIC_SVCS) {
			snprintf(why, whylen, "more than %d services", DP_MFN_STATIC_SVCS);
			return -EINVAL;
		}
		seen[n_seen].id = (uint16_t)id;
		seen[n_seen++].port = (uint16_t)port;
		if (ops && ops->service(ctx, (uint32_t)id, (uint16_t)port) < 0) {
			snprintf(why, whylen, "service %lu: refused (see log)", id);
			return -EINVAL;
		}
		for (char *be = strtok_r(eq + 1, ",", &save_b); be;
		     be = strtok_r(NULL, ",", &save_b)) {
			struct mfn_alm_backend b = {.id = next_backend++,
						    .service = (uint32_t)id,
						    .weight = 1,
						    .healthy = true};
			char *colon, *star = strchr(be, '*'), *hash = strchr(be, '#');
			unsigned long v;
			char addr[64];

			if (hash) {
				*hash = '\0';
				/* mfn_nodes is not known here: L3 checks that bound at start. */
				if (!parse_num(hash + 1, MFN_ALM_NODES_MAX - 1, &v)) {
					snprintf(why, whylen,
						 "backend \"%s\": #NODE \"%s\" must be 0..%d", be,
						 hash + 1, MFN_ALM_NODES_MAX - 1);
					return -EINVAL;
				}
				b.node = (uint16_t)v;
			} else {
				b.node = ops ? ops->default_node : 0;
			}
			if (star) {
				*star = '\0';
				if (!parse_num(star + 1, MFN_ALM_WEIGHT_MAX, &v) || v < 1) {
					snprintf(why, whylen,
						 "backend \"%s\": *WEIGHT \"%s\" must be 1..%d", be,
						 star + 1, MFN_ALM_WEIGHT_MAX);
					return -EINVAL;
				}
				b.weight = (uint32_t)v;
			}
			colon = strrchr(be, ':');
			if (!colon || colon == be || (size_t)(colon - be) >= sizeof(addr)) {
				snprintf(why, whylen, "backend \"%s\": expected ADDR:PORT", be);
				return -EINVAL;
			}
			memcpy(addr, be, (size_t)(colon - be));
			addr[colon - be] = '\0';
			if (!parse_num(colon + 1, 65535, &port) || port < 1) {
				snprintf(why, whylen, "backend \"%s\": port must be 1..65535", be);
				return -EINVAL;
			}
			b.port = (uint16_t)port;
			if (addr[0] == '[' && addr[strlen(addr) - 1] == ']') {
				addr[strlen(addr) - 1] = '\0';
				b.family = AF_INET6;
				if (inet_pton(AF_INET6, addr + 1, b.addr) != 1) {
					snprintf(why, whylen, "backend \"%s\": bad IPv6 address",
						 be);
					return -EINVAL;
				}
			} else {
				b.family = AF_INET;
				if (inet_pton(AF_INET, addr, b.addr) != 1) {
					snprintf(why, whylen, "backend \"%s\": bad IPv4 address",
						 be);
					return -EINVAL;
				}
			}
			if (ops && ops->backend(ctx, &b) < 0) {
				snprintf(why, whylen, "backend \"%s\": refused (see log)", be);
				return -EINVAL;
			}
		}
	}
	return 0;
}
