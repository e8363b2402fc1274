# Sourced by scripts and tests that put a client in a network namespace:
#
#   client_netns NS DP_IF CL_IF [CIDR [SERVER]]
#
# creates namespace NS holding CL_IF (CIDR, default 10.77.0.2/24, loopback
# up) joined by a veth pair to DP_IF in this namespace (up, no address: the
# dataplane drives it). IPv6 is off on both ends: router solicitations would
# add packets the counts do not expect. Inside NS the "server" SERVER
# (default 10.77.0.1; "-" for none: something on DP_IF answers ARP) resolves
# to DP_IF's MAC, so datagrams sent to it reach the dataplane.
client_netns() {
	local ns=$1 dp_if=$2 cl_if=$3 cidr=${4:-10.77.0.2/24} server=${5:-10.77.0.1}

	ip netns add "$ns"
	ip link add "$dp_if" type veth peer name "$cl_if"
	ip link set "$cl_if" netns "$ns"
	sysctl -qw "net.ipv6.conf.$dp_if.disable_ipv6=1"
	ip netns exec "$ns" sysctl -qw "net.ipv6.conf.$cl_if.disable_ipv6=1"
	ip link set "$dp_if" up
	ip netns exec "$ns" ip addr add "$cidr" dev "$cl_if"
	ip netns exec "$ns" ip link set "$cl_if" up
	ip netns exec "$ns" ip link set lo up
	[[ "$server" == - ]] ||
		ip netns exec "$ns" ip neigh add "$server" lladdr "$(cat "/sys/class/net/$dp_if/address")" \
			dev "$cl_if"
}

#   dp_wait_forwarding LOG PID
#
# waits (10 s) until the hmesh-dataplane writing LOG says it is forwarding;
# fails at once if PID has exited.
dp_wait_forwarding() {
	for _ in $(seq 100); do
		grep -qs forwarding "$1" && return 0
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

#   router_backend NS CL_IF DP_IF DPB_IF RT_IF HOST_ADDR PEER_ADDR
#
# the backend side of the dataplane's router mode (after client_netns):
# a veth pair DPB_IF (the dataplane's backend port, no address) and RT_IF
# (the host, HOST_ADDR/30); the host routes the client subnet 10.77.0.0/24
# back through PEER_ADDR, which is DPB_IF's MAC (the dataplane answers no
# ARP), and forwards between it and the containers. What arrives on the
# dataplane's own ports (DP_IF, DPB_IF) is not routed by the host too; the
# client's veth computes its UDP checksums itself (no NIC to finish them).
router_backend() {
	local ns=$1 cl_if=$2 dp_if=$3 dpb_if=$4 rt_if=$5 host=$6 peer=$7

	ip netns exec "$ns" ethtool -K "$cl_if" tx off >/dev/null
	ip link add "$dpb_if" type veth peer name "$rt_if"
	sysctl -qw "net.ipv6.conf.$dpb_if.disable_ipv6=1" "net.ipv6.conf.$rt_if.disable_ipv6=1"
	ip link set "$dpb_if" up
	ip addr add "$host/30" dev "$rt_if"
	ip link set "$rt_if" up
	ip neigh replace "$peer" lladdr "$(cat "/sys/class/net/$dpb_if/address")" dev "$rt_if" \
		nud permanent
	ip route replace 10.77.0.0/24 via "$peer" dev "$rt_if"
	sysctl -qw net.ipv4.ip_forward=1
	sysctl -qw "net.ipv4.conf.$dp_if.forwarding=0" "net.ipv4.conf.$dpb_if.forwarding=0"
}

#   router_teardown NS DP_IF DPB_IF BR IP_FORWARD
#
# undoes client_netns + router_backend and the container bridge BR: the
# links, the namespace, the route, and net.ipv4.ip_forward back to what it
# was (IP_FORWARD). Safe when parts are already gone.
router_teardown() {
	local ns=$1 dp_if=$2 dpb_if=$3 br=$4 fwd=$5

	ip link del "$dp_if" 2>/dev/null || true
	ip link del "$dpb_if" 2>/dev/null || true
	ip link del "$br" 2>/dev/null || true
	ip netns del "$ns" 2>/dev/null || true
	ip route del 10.77.0.0/24 2>/dev/null || true
	sysctl -qw "net.ipv4.ip_forward=$fwd"
}

# rebinding_get NS DIR HOST URL LOG: in namespace NS, ngtcp2's gtlsclient
# fetches URL from HOST:4433 into DIR, moving to a new local port 50 ms
# after the handshake without path validation (a NAT rebinding) and sending
# its request 300 ms after it, from there. Output appended to LOG.
rebinding_get() {
	rm -rf "$2" && mkdir -p "$2"
	timeout 30 ip netns exec "$1" gtlsclient -q --exit-on-all-streams-close --download="$2" \
		--change-local-addr=50ms --nat-rebinding --delay-stream=300ms \
		"$3" 4433 "$4" >>"$5" 2>&1
}
