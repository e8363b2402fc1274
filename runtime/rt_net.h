/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * rt_net — a container's network: a veth pair whose host end joins a
 * bridge (created when missing, with the gateway address) or stays a named
 * host interface for hmesh-dataplane to open (net_af_packet/net_af_xdp),
 * and whose other end becomes eth0 in the container's network namespace
 * with its address, MTU and default route. The loopback device is brought
 * up in every new network namespace.
 *
 * Asked for with OCI annotations (the runtime spec leaves networking to
 * the runtime), checked by rt_spec like every other field:
 *   org.hypermesh.net.bridge          host bridge to join (1-15 chars)
 *   org.hypermesh.net.host_interface  or: the host end's name, no bridge
 *   org.hypermesh.net.address         the container's address, CIDR
 *   org.hypermesh.net.gateway         default route (and the address a
 *                                     bridge created here gets)
 *   org.hypermesh.net.mtu             576..9000 (default 1500)
 * Plain rtnetlink, no external tools. The pair goes away with the
 * namespace when the container's last process exits.
 */
#ifndef RT_NET_H
#define RT_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct rt_net {
	bool set;	  /* any org.hypermesh.net.* annotation */
	char bridge[16];  /* "" or a bridge */
	char host_if[16]; /* "" or the host end's name */
	int family;	  /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	uint8_t prefix;
	bool has_gw;
	uint8_t gw[16];
	uint32_t mtu;
};

/*
 * Parse the annotations object (jansson json_t *) into @n. Returns 0, or -1
 * with @err naming the annotation.
 */
int rt_net_parse(const void *annotations, struct rt_net *n, char *err, size_t errlen);

/*
 * Host side, from the parent once container @id (pid @pid, in its own
 * network namespace) exists: bridge, veth pair, the peer moved into the
 * namespace. 0 or -1 with @err.
 */
int rt_net_host_setup(const struct rt_net *n, const char *id, pid_t pid, char *err, size_t errlen);

/*
 * Container side, from inside the namespace before the mounts: lo up, and
 * with @n->set the peer renamed eth0 with its address, MTU and route.
 * 0 or -1 with @err.
 */
int rt_net_ns_setup(const struct rt_net *n, const char *id, char *err, size_t errlen);

#endif /* RT_NET_H */
