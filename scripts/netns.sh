# Sourced by scripts and tests that put a client in a network namespace:
#
#   client_netns NS DP_IF CL_IF
#
# creates namespace NS holding CL_IF (10.77.0.2/24, loopback up) joined by a
# veth pair to DP_IF in this namespace (up, no address: the dataplane drives
# it). IPv6 is off on both ends: router solicitations would add packets the
# counts do not expect. Inside NS the "server" 10.77.0.1 resolves to DP_IF's
# MAC, so datagrams sent to it reach the dataplane.
client_netns() {
	local ns=$1 dp_if=$2 cl_if=$3

	ip netns add "$ns"
	ip link add "$dp_if" type veth peer name "$cl_if"
	ip link set "$cl_if" netns "$ns"
	sysctl -qw "net.ipv6.conf.$dp_if.disable_ipv6=1"
	ip netns exec "$ns" sysctl -qw "net.ipv6.conf.$cl_if.disable_ipv6=1"
	ip link set "$dp_if" up
	ip netns exec "$ns" ip addr add 10.77.0.2/24 dev "$cl_if"
	ip netns exec "$ns" ip link set "$cl_if" up
	ip netns exec "$ns" ip link set lo up
	ip netns exec "$ns" ip neigh add 10.77.0.1 lladdr "$(cat "/sys/class/net/$dp_if/address")" \
		dev "$cl_if"
}
