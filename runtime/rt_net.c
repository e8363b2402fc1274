/* SPDX-License-Identifier: BSD-3-Clause */
/* rt_net — veth pairs, bridges and addresses over rtnetlink (see rt_net.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <linux/ethtool.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/sockios.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netpacket/packet.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rt_net.h"
#include "rt_spec.h"

#define NL_BUF 2048
#define ANN    "org.hypermesh.net."

/* One request: a header, its fixed part, attributes (raw[] spans all of it). */
struct nlreq {
	union {
		struct {
			struct nlmsghdr n;
			union {
				struct ifinfomsg i;
				struct ifaddrmsg a;
				struct rtmsg r;
			} u;
		};
		char raw[NL_BUF];
	};
};

/* ---- annotations -------------------------------------------------------------------- */

static bool ifname_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= IFNAMSIZ)
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.'))
			return false;
	return true;
}

int rt_net_parse(const void *annotations, struct rt_net *n, char *err, size_t len)
{
	json_t *a = (json_t *)annotations, *v;
	const char *akey, *addr_s = NULL, *gw_s = NULL;
	int gw_family = 0;

	memset(n, 0, sizeof(*n));
	n->mtu = 1500;
	if (a == NULL)
		return 0;
	json_object_foreach(a, akey, v)
	{
		const char *s = json_string_value(v), *key;

		if (strncmp(akey, ANN, strlen(ANN)) != 0)
			continue; /* other annotations are the bundle author's */
		n->set = true;
		if (s == NULL)
			return rt_errf(err, len, "annotations.%s: must be a string", akey);
		key = akey + strlen(ANN); /* not akey itself: the loop walks on from it */
		if (strcmp(key, "bridge") == 0 || strcmp(key, "host_interface") == 0) {
			if (!ifname_ok(s))
				return rt_errf(err, len,
					       "annotations." ANN
					       "%s \"%s\": an interface name of 1-15 "
					       "characters of [A-Za-z0-9_.-]",
					       key, s);
			snprintf(key[0] == 'b' ? n->bridge : n->host_if, IFNAMSIZ, "%s", s);
		} else if (strcmp(key, "address") == 0) {
			char ip[64], *slash;
			char *end;
			long p;

			snprintf(ip, sizeof(ip), "%s", s);
			slash = strchr(ip, '/');
			if (slash == NULL)
				return rt_errf(
				    err, len,
				    "annotations." ANN "address \"%s\": want ADDRESS/PREFIX", s);
			*slash = '\0';
			n->family = strchr(ip, ':') ? AF_INET6 : AF_INET;
			p = strtol(slash + 1, &end, 10);
			if (inet_pton(n->family, ip, n->addr) != 1 || *end || slash[1] == '\0' ||
			    p < 1 || p > (n->family == AF_INET ? 32 : 128))
				return rt_errf(err, len,
					       "annotations." ANN
					       "address \"%s\": want ADDRESS/PREFIX "
					       "(IPv4 or IPv6)",
					       s);
			n->prefix = (uint8_t)p;
			addr_s = s;
		} else if (strcmp(key, "gateway") == 0) {
			int fam = strchr(s, ':') ? AF_INET6 : AF_INET;

			if (inet_pton(fam, s, n->gw) != 1)
				return rt_errf(err, len,
					       "annotations." ANN "gateway \"%s\": not an address",
					       s);
			/* n->family is the address's alone: compared once both are known. */
			n->has_gw = true;
			gw_family = fam;
			gw_s = s;
		} else if (strcmp(key, "mtu") == 0) {
			char *end;
			unsigned long m = strtoul(s, &end, 10);

			if (*end || *s == '\0' || m < 576 || m > 9000)
				return rt_errf(err, len, "annotations." ANN "mtu \"%s\": 576..9000",
					       s);
			n->mtu = (uint32_t)m;
		} else {
			return rt_errf(err, len,
				       "annotations." ANN
				       "%s: unknown (bridge, host_interface, address, "
				       "gateway, mtu)",
				       key);
		}
	}
	if (!n->set)
		return 0;
	if (!!n->bridge[0] == !!n->host_if[0])
		return rt_errf(err, len,
			       "annotations." ANN "bridge or " ANN
			       "host_interface: exactly one of them");
	if (addr_s == NULL)
		return rt_errf(err, len, "annotations." ANN "address: required with a %s",
			       n->bridge[0] ? "bridge" : "host_interface");
	/*
	 * After the loop, so the annotations' order does not matter: the
	 * gateway's bytes are used in the address's family (bridge address,
	 * default route).
	 */
	if (n->has_gw && gw_family != n->family)
		return rt_errf(err, len,
			       "annotations." ANN "gateway \"%s\": not the family of " ANN
			       "address \"%s\"",
			       gw_s, addr_s);
	return 0;
}

/* ---- rtnetlink ---------------------------------------------------------------------------- */

static struct rtattr *attr(struct nlreq *q, int type, const void *data, size_t dlen)
{
	struct nlmsghdr *n = &q->n;
	size_t l = RTA_LENGTH(dlen);
	struct rtattr *rta;

	if (NLMSG_ALIGN(n->nlmsg_len) + RTA_ALIGN(l) > sizeof(q->raw))
		return NULL;
	rta = (struct rtattr *)(q->raw + NLMSG_ALIGN(n->nlmsg_len));
	rta->rta_type = (unsigned short)type;
	rta->rta_len = (unsigned short)l;
	if (dlen)
		memcpy(RTA_DATA(rta), data, dlen);
	n->nlmsg_len = (uint32_t)(NLMSG_ALIGN(n->nlmsg_len) + RTA_ALIGN(l));
	return rta;
}

static void nest_end(struct nlreq *q, struct rtattr *nest)
{
	nest->rta_len = (unsigned short)(q->raw + q->n.nlmsg_len - (char *)nest);
}

/* Send one request and wait for its acknowledgement. 0 or -errno. */
static int talk(struct nlmsghdr *n)
{
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
	char buf[4096];
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE), rc = -EIO;
	ssize_t r;

	if (fd < 0)
		return -errno;
	n->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	n->nlmsg_seq = 1;
	if (sendto(fd, n, n->nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = -errno;
		goto out;
	}
	r = recv(fd, buf, sizeof(buf), 0);
	if (r < 0) {
		rc = -errno;
		goto out;
	}
	for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)r);
	     h = NLMSG_NEXT(h, r))
		if (h->nlmsg_type == NLMSG_ERROR) {
			rc = ((struct nlmsgerr *)NLMSG_DATA(h))->error;
			break;
		}
out:
	close(fd);
	return rc;
}

static void link_req(struct nlreq *q, int type, int flags, int index)
{
	memset(q, 0, sizeof(*q));
	q->n.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
	q->n.nlmsg_type = (uint16_t)type;
	q->n.nlmsg_flags = (uint16_t)flags;
	q->u.i.ifi_family = AF_UNSPEC;
	q->u.i.ifi_index = index;
}

/* Up (and optionally: into @master, renamed @name, @mtu). 0 or -errno. */
static int link_set(int index, int master, const char *name, uint32_t mtu)
{
	struct nlreq q;

	link_req(&q, RTM_NEWLINK, 0, index);
	q.u.i.ifi_flags = IFF_UP;
	q.u.i.ifi_change = IFF_UP;
	if (master)
		attr(&q, IFLA_MASTER, &master, sizeof(master));
	if (name)
		attr(&q, IFLA_IFNAME, name, strlen(name) + 1);
	if (mtu)
		attr(&q, IFLA_MTU, &mtu, sizeof(mtu));
	return talk(&q.n);
}

static int addr_add(int index, int family, const uint8_t *a, uint8_t prefix)
{
	struct nlreq q;
	size_t al = family == AF_INET ? 4 : 16;

	memset(&q, 0, sizeof(q));
	q.n.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifaddrmsg));
	q.n.nlmsg_type = RTM_NEWADDR;
	q.n.nlmsg_flags = NLM_F_CREATE | NLM_F_REPLACE;
	q.u.a.ifa_family = (uint8_t)family;
	q.u.a.ifa_prefixlen = prefix;
	q.u.a.ifa_index = (uint32_t)index;
	/* No duplicate address detection: the address is ours by configuration. */
	q.u.a.ifa_flags = family == AF_INET6 ? IFA_F_NODAD : 0;
	attr(&q, IFA_LOCAL, a, al);
	attr(&q, IFA_ADDRESS, a, al);
	return talk(&q.n);
}

static int route_default(int family, const uint8_t *gw)
{
	struct nlreq q;

	memset(&q, 0, sizeof(q));
	q.n.nlmsg_len = NLMSG_LENGTH(sizeof(struct rtmsg));
	q.n.nlmsg_type = RTM_NEWROUTE;
	q.n.nlmsg_flags = NLM_F_CREATE | NLM_F_REPLACE;
	q.u.r.rtm_family = (uint8_t)family;
	q.u.r.rtm_table = RT_TABLE_MAIN;
	q.u.r.rtm_protocol = RTPROT_BOOT;
	q.u.r.rtm_scope = RT_SCOPE_UNIVERSE;
	q.u.r.rtm_type = RTN_UNICAST;
	attr(&q, RTA_GATEWAY, gw, family == AF_INET ? 4 : 16);
	return talk(&q.n);
}

/* Interface names of container @id's pair: host end and (until renamed) peer. */
static void pair_names(const char *id, char host[IFNAMSIZ], char peer[IFNAMSIZ])
{
	uint32_t h = 2166136261u;

	for (const char *p = id; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	snprintf(host, IFNAMSIZ, "hmv%08x", h);
	snprintf(peer, IFNAMSIZ, "hmp%08x", h);
}

static int bridge_ensure(const struct rt_net *n, char *err, size_t len)
{
	struct nlreq q;
	struct rtattr *li;
	int idx, rc;

	if (if_nametoindex(n->bridge))
		return 0;
	link_req(&q, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, 0);
	attr(&q, IFLA_IFNAME, n->bridge, strlen(n->bridge) + 1);
	li = attr(&q, IFLA_LINKINFO, NULL, 0);
	attr(&q, IFLA_INFO_KIND, "bridge", 7);
	nest_end(&q, li);
	rc = talk(&q.n);
	if (rc < 0 && rc != -EEXIST)
		return rt_errf(err, len, "annotations." ANN "bridge %s: cannot create it: %s",
			       n->bridge, strerror(-rc));
	idx = (int)if_nametoindex(n->bridge);
	if (idx == 0)
		return rt_errf(err, len, "annotations." ANN "bridge %s: vanished", n->bridge);
	/* A bridge made here gets the gateway, so the host reaches its containers. */
	if (n->has_gw && (rc = addr_add(idx, n->family, n->gw, n->prefix)) < 0)
		return rt_errf(err, len, "annotations." ANN "gateway on bridge %s: %s", n->bridge,
			       strerror(-rc));
	rc = link_set(idx, 0, NULL, 0);
	if (rc < 0)
		return rt_errf(err, len, "annotations." ANN "bridge %s: up: %s", n->bridge,
			       strerror(-rc));
	return 0;
}

int rt_net_host_setup(const struct rt_net *n, const char *id, pid_t pid, char *err, size_t len)
{
	char host[IFNAMSIZ], peer[IFNAMSIZ];
	struct nlreq q;
	struct rtattr *li, *data, *pinfo;
	struct ifinfomsg pi = {.ifi_family = AF_UNSPEC};
	uint32_t npid = (uint32_t)pid;
	int idx, master = 0, rc;

	if (!n->set)
		return 0;
	pair_names(id, host, peer);
	if (n->host_if[0])
		snprintf(host, sizeof(host), "%s", n->host_if);
	if (n->bridge[0]) {
		if (bridge_ensure(n, err, len) < 0)
			return -1;
		master = (int)if_nametoindex(n->bridge);
	}
	link_req(&q, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, 0);
	attr(&q, IFLA_IFNAME, host, strlen(host) + 1);
	li = attr(&q, IFLA_LINKINFO, NULL, 0);
	attr(&q, IFLA_INFO_KIND, "veth", 5);
	data = attr(&q, IFLA_INFO_DATA, NULL, 0);
	pinfo = attr(&q, VETH_INFO_PEER, &pi, sizeof(pi));
	attr(&q, IFLA_IFNAME, peer, strlen(peer) + 1);
	attr(&q, IFLA_NET_NS_PID, &npid, sizeof(npid));
	if (pinfo == NULL)
		return rt_errf(err, len, "netlink request too long");
	nest_end(&q, pinfo);
	nest_end(&q, data);
	nest_end(&q, li);
	rc = talk(&q.n);
	if (rc < 0)
		return rt_errf(err, len, "veth %s for container %s: %s%s", host, id, strerror(-rc),
			       rc == -EEXIST ? " (the interface exists already)" : "");
	idx = (int)if_nametoindex(host);
	rc = idx ? link_set(idx, master, NULL, n->mtu) : -ENODEV;
	if (rc < 0)
		return rt_errf(err, len, "veth %s: %s %s: %s", host, master ? "joining" : "up",
			       master ? n->bridge : "", strerror(-rc));
	return 0;
}

/*
 * TX checksum offload off on @ifname: over a veth the kernel would leave
 * UDP checksums to a NIC that never comes, and a dataplane that reads the
 * frames with AF_PACKET (router mode) would forward them unfinished.
 */
static int tx_csum_off(const char *ifname)
{
	struct ethtool_value ev = {.cmd = ETHTOOL_STXCSUM, .data = 0};
	struct ifreq ifr = {0};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), rc = 0;

	if (fd < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_data = (char *)&ev;
	if (ioctl(fd, SIOCETHTOOL, &ifr) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

/*
 * Gratuitous ARP (request and reply) for @ip on @ifname: a container that
 * restarts with the address of one that died has a new MAC, and the host
 * would keep sending to the old one until its neighbour entry went stale.
 */
static int garp(const char *ifname, const uint8_t ip[4])
{
	struct {
		struct arphdr h;
		uint8_t sha[ETH_ALEN], spa[4], tha[ETH_ALEN], tpa[4];
	} __attribute__((packed)) a;
	struct sockaddr_ll to = {
	    .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ARP), .sll_halen = ETH_ALEN};
	struct ifreq ifr = {0};
	int fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, htons(ETH_P_ARP)), rc = 0;

	if (fd < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) {
		rc = -errno;
		goto out;
	}
	to.sll_ifindex = (int)if_nametoindex(ifname);
	memset(to.sll_addr, 0xff, ETH_ALEN);
	memset(&a, 0, sizeof(a));
	a.h.ar_hrd = htons(ARPHRD_ETHER);
	a.h.ar_pro = htons(ETH_P_IP);
	a.h.ar_hln = ETH_ALEN;
	a.h.ar_pln = 4;
	memcpy(a.sha, ifr.ifr_hwaddr.sa_data, ETH_ALEN);
	memcpy(a.spa, ip, 4);
	memcpy(a.tpa, ip, 4);
	for (int op = ARPOP_REQUEST; op <= ARPOP_REPLY; op++) {
		a.h.ar_op = htons((uint16_t)op);
		if (op == ARPOP_REPLY)
			memset(a.tha, 0xff, ETH_ALEN);
		if (sendto(fd, &a, sizeof(a), 0, (struct sockaddr *)&to, sizeof(to)) < 0)
			rc = -errno;
	}
out:
	close(fd);
	return rc;
}

int rt_net_ns_setup(const struct rt_net *n, const char *id, char *err, size_t len)
{
	char host[IFNAMSIZ], peer[IFNAMSIZ];
	int lo = (int)if_nametoindex("lo"), idx, rc;

	rc = lo ? link_set(lo, 0, NULL, 0) : -ENODEV;
	if (rc < 0)
		return rt_errf(err, len, "network namespace: lo up: %s", strerror(-rc));
	if (!n->set)
		return 0;
	pair_names(id, host, peer);
	idx = (int)if_nametoindex(peer);
	if (idx == 0)
		return rt_errf(err, len, "network: %s did not arrive in the namespace", peer);
	rc = link_set(idx, 0, "eth0", n->mtu);
	if (rc < 0)
		return rt_errf(err, len, "network: eth0 up: %s", strerror(-rc));
	rc = tx_csum_off("eth0");
	if (rc < 0)
		return rt_errf(err, len, "network: eth0 checksum offload off: %s", strerror(-rc));
	rc = addr_add(idx, n->family, n->addr, n->prefix);
	if (rc < 0)
		return rt_errf(err, len, "annotations." ANN "address: %s", strerror(-rc));
	if (n->has_gw && (rc = route_default(n->family, n->gw)) < 0)
		return rt_errf(err, len, "annotations." ANN "gateway: default route: %s",
			       strerror(-rc));
	if (n->family == AF_INET && (rc = garp("eth0", n->addr)) < 0)
		return rt_errf(err, len, "network: gratuitous ARP for the address: %s",
			       strerror(-rc));
	return 0;
}
