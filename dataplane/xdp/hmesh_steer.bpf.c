/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hmesh_steer — the XDP program hmesh-dataplane's net_af_xdp ports load
 * (devarg xdp_prog=BUILD/lib/bpf/hmesh_steer.bpf.o): UDP packets to or from
 * a STOQ port go to the port's AF_XDP socket (the dataplane); everything
 * else (ARP, SSH, the host's own traffic) passes to the kernel as if the
 * dataplane were not there.
 *
 * Maps:
 *   xsks_map        the AF_XDP sockets by RX queue (the PMD fills it; the
 *                   name is the PMD's contract)
 *   hmesh_ports     UDP ports, network byte order → 1; filled by the
 *                   dataplane from stoq_ports. Port 0 present = every UDP
 *                   port (stoq_ports empty).
 *   hmesh_xdp_stats per-CPU counters: [0] steered, [1] passed
 *
 * Parsed: Ethernet, one 802.1Q/802.1ad tag, IPv4 (any IHL, first fragments
 * only: later fragments have no UDP header), IPv6 with UDP as the first
 * next header. Bounds are checked before every read (the verifier insists).
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u32);
} xsks_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u16);
	__type(value, __u8);
} hmesh_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} hmesh_xdp_stats SEC(".maps");

struct vlan_hdr {
	__be16 tci;
	__be16 proto;
};

static __always_inline int pass(void)
{
	__u32 k = 1;
	__u64 *c = bpf_map_lookup_elem(&hmesh_xdp_stats, &k);

	if (c)
		(*c)++;
	return XDP_PASS;
}

static __always_inline int stoq_port(__u16 port_be)
{
	__u16 any = 0;

	return bpf_map_lookup_elem(&hmesh_ports, &port_be) != NULL ||
	       bpf_map_lookup_elem(&hmesh_ports, &any) != NULL;
}

SEC("xdp")
int hmesh_steer(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct udphdr *udp;
	__u16 proto;
	void *l3;
	__u32 k = 0;
	__u64 *c;

	if ((void *)(eth + 1) > end)
		return pass();
	proto = eth->h_proto;
	l3 = eth + 1;
	if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD)) {
		struct vlan_hdr *v = l3;

		if ((void *)(v + 1) > end)
			return pass();
		proto = v->proto;
		l3 = v + 1;
	}
	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = l3;

		if ((void *)(ip + 1) > end || ip->protocol != IPPROTO_UDP || ip->ihl < 5 ||
		    (ip->frag_off & bpf_htons(0x1fff)) != 0)
			return pass();
		udp = (void *)ip + ip->ihl * 4;
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = l3;

		if ((void *)(ip6 + 1) > end || ip6->nexthdr != IPPROTO_UDP)
			return pass();
		udp = (void *)(ip6 + 1);
	} else {
		return pass();
	}
	if ((void *)(udp + 1) > end || (!stoq_port(udp->dest) && !stoq_port(udp->source)))
		return pass();
	c = bpf_map_lookup_elem(&hmesh_xdp_stats, &k);
	if (c)
		(*c)++;
	/* No socket on this queue (the dataplane is gone): the kernel gets it. */
	return bpf_redirect_map(&xsks_map, ctx->rx_queue_index, XDP_PASS);
}

char _license[] SEC("license") = "Dual BSD/GPL";
