#!/usr/bin/env bash
# hmesh-dataplane on net_af_xdp with our XDP program (hmesh_steer.bpf.o,
# built with clang, attached by the PMD through libbpf, its port map filled
# by the dataplane): on a veth pair whose host end also has an address,
#  - UDP to a STOQ port reaches the dataplane (counted, reflected back);
#  - everything else stays the kernel's: ping is answered by the host, and
#    UDP to another port reaches a host socket, not the dataplane;
#  - an xdp_prog without the port map is refused naming the port.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${HMESH_BUILD:-$top/build}
bin=$build/bin/hmesh-dataplane
prog=$build/lib/bpf/hmesh_steer.bpf.o
tmp=$(mktemp -d)
ns=hmx-$$
a=hmxa$$
b=hmxb$$
dp_pid=
cleanup() {
	[[ -n "$dp_pid" ]] && kill "$dp_pid" 2>/dev/null && wait "$dp_pid" 2>/dev/null
	ip link del "$a" 2>/dev/null || true
	ip netns del "$ns" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "--- dataplane"; cat "$tmp/dp.log" 2>/dev/null || true; echo "FAIL: $*"; exit 1; }
[[ -f "$prog" ]] || fail "build first: $prog"
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf

ip netns add "$ns"
ip link add "$a" type veth peer name "$b"
ip link set "$b" netns "$ns"
ip addr add 10.66.$(($$ % 250)).1/24 dev "$a"
ip link set "$a" up
ip netns exec "$ns" ip addr add 10.66.$(($$ % 250)).2/24 dev "$b"
ip netns exec "$ns" ip link set "$b" up
host=10.66.$(($$ % 250)).1

"$bin" -l 0-1 --no-pci --in-memory --file-prefix="hmx-$$" --log-level='*:info' \
	--vdev="net_af_xdp0,iface=$a,xdp_prog=$prog" -- --set stoq_ports=4433 --set stats_segment=off \
	--duration 8 >"$tmp/dp.log" 2>&1 &
dp_pid=$!
for _ in $(seq 100); do
	grep -q forwarding "$tmp/dp.log" && break
	kill -0 "$dp_pid" 2>/dev/null || fail "the dataplane exited at start"
	sleep 0.1
done
grep -q "hmesh_steer.bpf.o on $a steers UDP stoq_ports" "$tmp/dp.log" || fail "the port map was not filled"
grep -q "name hmesh_steer" <<<"$(ip -d link show "$a")" || fail "hmesh_steer is not attached to $a"

ip netns exec "$ns" ping -c 2 -W 2 "$host" >/dev/null || fail "ping to the host through the XDP port failed"
# A host socket on another port gets its datagrams; the STOQ ones go to the dataplane and come back.
python3 - "$host" >"$tmp/host.out" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 9999))
s.settimeout(4)
n = 0
try:
    while n < 5:
        s.recv(100)
        n += 1
except socket.timeout:
    pass
print(n)
PY
listener=$!
# Its socket bound before anything is sent (up to 5 s).
for _ in $(seq 50); do
	ss -Hlun "sport = :9999" | grep -q . && break
	sleep 0.1
done
got=$(ip netns exec "$ns" python3 - "$host" <<'PY'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
for i in range(5):
    s.sendto(b"not stoq", (sys.argv[1], 9999))
for i in range(10):
    s.sendto(bytes([0x43]) + bytes(40), (sys.argv[1], 4433))
PY
)
wait "$listener"
[[ "$(cat "$tmp/host.out")" == 5 ]] || fail "the host socket on port 9999 got $(cat "$tmp/host.out") of 5 datagrams"
wait "$dp_pid" || true
dp_pid=
rx=$(grep -o '"rx_packets":[0-9]*' "$tmp/dp.log" | cut -d: -f2)
tx=$(grep -o '"tx_packets":[0-9]*' "$tmp/dp.log" | cut -d: -f2)
[[ "$rx" == 10 ]] || fail "the dataplane received $rx packets, want the 10 STOQ ones only"
[[ "$tx" == 10 ]] || fail "the dataplane sent $tx packets back out of the port, want 10"
echo "ok: XDP steering: 10 STOQ datagrams to the dataplane (and out again), ping and 5 other datagrams to the kernel"

# A program without hmesh_ports (here: the BPF object of nothing else) is refused by name.
clang -O2 -g -target bpf -I"/usr/include/$(gcc -dumpmachine)" -x c -c -o "$tmp/other.o" - <<'C'
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
struct { __uint(type, BPF_MAP_TYPE_XSKMAP); __uint(max_entries, 64); __type(key, __u32); __type(value, __u32); } xsks_map SEC(".maps");
SEC("xdp") int other(struct xdp_md *ctx) { return bpf_redirect_map(&xsks_map, ctx->rx_queue_index, XDP_PASS); }
char _license[] SEC("license") = "Dual BSD/GPL";
C
set +e
"$bin" -l 0-1 --no-pci --in-memory --file-prefix="hmx-$$-b" --log-level='*:error' \
	--vdev="net_af_xdp0,iface=$a,xdp_prog=$tmp/other.o" -- --set stoq_ports=4433 \
	--set stats_segment=off --duration 1 >"$tmp/bad.log" 2>&1
rc=$?
set -e
((rc != 0)) || fail "an xdp_prog without the port map was accepted"
grep -q 'has no "hmesh_ports" map' "$tmp/bad.log" || fail "the refusal does not say why: $(cat "$tmp/bad.log")"
echo "ok: an XDP program without hmesh_ports is refused, naming the port"
echo "PASS: dataplane on net_af_xdp with the hmesh_steer XDP program"
