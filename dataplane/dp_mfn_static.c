/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mfn_static: "SVC@PORT=BACKEND[,BACKEND...][;...]" with
 * BACKEND = ADDR:PORT[*WEIGHT][#NODE], ADDR = a.b.c.d or [v6]. Backend ids
 * are given in order of appearance from 0.
 *
 * The parser alone, with no state: dp_config checks the text at load with
 * no ops, dp_mfn applies it at start through its ops.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dp_mfn.h"

int dp_mfn_static_parse(const char *text, const struct dp_mfn_static_ops *ops, void *ctx, char *why,
			size_t whylen)
{
	char buf[DP_MFN_STATIC_MAX];
	char *save_svc = NULL;
	uint32_t next_backend = 0;

	if (strlen(text) >= sizeof(buf)) {
		snprintf(why, whylen, "longer than %zu characters", sizeof(buf) - 1);
		return -EINVAL;
	}
	snprintf(buf, sizeof(buf), "%s", text);
	for (char *svc = strtok_r(buf, ";", &save_svc); svc; svc = strtok_r(NULL, ";", &save_svc)) {
		char *eq = strchr(svc, '='), *at = strchr(svc, '@'), *end, *save_b = NULL;
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
		id = strtoul(svc, &end, 10);
		if (*end != '\0' || end == svc || id >= DP_MFN_SERVICES_MAX) {
			snprintf(why, whylen, "service id \"%s\": must be 0..%d", svc,
				 DP_MFN_SERVICES_MAX - 1);
			return -EINVAL;
		}
		port = strtoul(at + 1, &end, 10);
		if (*end != '\0' || port < 1 || port > 65535) {
			snprintf(why, whylen, "service %lu port \"%s\": must be 1..65535", id,
				 at + 1);
			return -EINVAL;
		}
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
			char addr[64];

			if (hash) {
				*hash = '\0';
				b.node = (uint16_t)strtoul(hash + 1, &end, 10);
				if (*end != '\0') {
					snprintf(why, whylen, "backend \"%s\": bad #NODE", be);
					return -EINVAL;
				}
			} else {
				b.node = ops ? ops->default_node : 0;
			}
			if (star) {
				*star = '\0';
				b.weight = (uint32_t)strtoul(star + 1, &end, 10);
				if (*end != '\0' || b.weight == 0) {
					snprintf(why, whylen,
						 "backend \"%s\": *WEIGHT must be >= 1", be);
					return -EINVAL;
				}
			}
			colon = strrchr(be, ':');
			if (!colon || colon == be || (size_t)(colon - be) >= sizeof(addr)) {
				snprintf(why, whylen, "backend \"%s\": expected ADDR:PORT", be);
				return -EINVAL;
			}
			memcpy(addr, be, (size_t)(colon - be));
			addr[colon - be] = '\0';
			port = strtoul(colon + 1, &end, 10);
			if (*end != '\0' || port < 1 || port > 65535) {
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
