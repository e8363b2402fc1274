#!/usr/bin/env bash
# hmesh-dataplane on a veth pair: one end in a "client" network namespace
# where real UDP sockets send QUIC-shaped datagrams, the other end driven by
# the dataplane through net_af_packet and then net_af_xdp. The dataplane
# reflects each packet (destination MAC = its source); a raw socket in the
# client namespace counts what comes back.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
bin=${HMESH_BUILD:-$top/build}/bin/hmesh-dataplane
export PYTHONPATH="$here"
ns=hmt-c-$$
dp_if=hmtd$$
cl_if=hmtc$$
tmp=$(mktemp -d)
dp_pid=

cleanup() {
	[[ -n "$dp_pid" ]] && kill "$dp_pid" 2>/dev/null && wait "$dp_pid" 2>/dev/null
	ip link del "$dp_if" 2>/dev/null || true
	ip netns del "$ns" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

# shellcheck source=../../scripts/netns.sh
. "$top/scripts/netns.sh"
client_netns "$ns" "$dp_if" "$cl_if"

run_pmd() { # $1 = vdev spec, $2 = label, rest = more --set options
	local vdev=$1 label=$2 n=200
	shift 2
	"$bin" -l 0-1 --no-pci --in-memory --file-prefix="hmt-veth-$$" --log-level='*:warning' \
		--vdev="$vdev" -- --set stoq_ports=4433 --set mbufs=8191 --duration 8 "$@" \
		>"$tmp/$label.log" 2>&1 &
	dp_pid=$!
	# wait until forwarding
	for _ in $(seq 50); do
		grep -q 'forwarding' "$tmp/$label.log" && break
		kill -0 "$dp_pid" 2>/dev/null || break
		sleep 0.1
	done
	grep -q 'forwarding' "$tmp/$label.log" || {
		cat "$tmp/$label.log"
		echo "FAIL ($label): dataplane did not start"
		exit 1
	}
	ip netns exec "$ns" python3 - "$cl_if" "$n" >"$tmp/$label.client" <<'PY'
import socket, sys, time
from pkt import quic_short, quic_initial
ifname, n = sys.argv[1], int(sys.argv[2])
raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
# Replies are read after all sends: the buffer must hold them all
# (SO_RCVBUFFORCE = 33 lifts the rmem_max cap; we run as root).
raw.setsockopt(socket.SOL_SOCKET, 33, 16 << 20)
raw.bind((ifname, 0))
raw.settimeout(0.2)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(n):
    payload = quic_initial(bytes([i % 256]) * 8, b"s" * 8) if i % 10 == 0 else quic_short(bytes([i % 256]) * 8, 200)
    u.sendto(payload, ("10.77.0.1", 4433))
    if i % 20 == 19:
        time.sleep(0.01)  # stay within the socket and ring budgets
u.sendto(b"\x43" + b"x" * 40, ("10.77.0.1", 53))  # not a STOQ port: dropped, counted
back = 0
deadline = time.time() + 3
while time.time() < deadline:
    try:
        f, addr = raw.recvfrom(4096)
    except socket.timeout:
        continue
    if addr[2] == socket.PACKET_OUTGOING:
        continue
    # reflected: IPv4/UDP to 10.77.0.1:4433, returned to us by the dataplane
    if f[23] == 17 and f[30:34] == bytes([10, 77, 0, 1]) and f[36:38] == b"\x11\x51":
        # A raw socket also sees our own transmissions (PACKET_OUTGOING):
        # count only what came in from the wire.
        back += 1
print(back)
PY
	kill -INT "$dp_pid"
	wait "$dp_pid" || {
		cat "$tmp/$label.log"
		echo "FAIL ($label): dataplane exited with an error"
		exit 1
	}
	dp_pid=
	python3 - "$tmp/$label.log" "$tmp/$label.client" "$n" "$label" <<'PY'
import json, sys
log = open(sys.argv[1]).read()
seen = int(open(sys.argv[2]).read().split()[0])
n, label = int(sys.argv[3]), sys.argv[4]
s = json.loads(log.split("stats-json: ")[1].splitlines()[0])
def fail(m):
    print(log); sys.exit(f"FAIL ({label}): {m}")
if s["quic_short"] + s["quic_long"] != n: fail(f"QUIC packets parsed {s['quic_short']}+{s['quic_long']}, sent {n}")
if s["quic_long"] != n // 10: fail(f"Initials {s['quic_long']} want {n // 10}")
if s["drops"]["udp_port"] != 1: fail("the port-53 datagram was not dropped as udp_port")
if s["tx_packets"] != n: fail(f"tx_packets {s['tx_packets']} want {n}")
if seen < n: fail(f"client saw {seen} reflected packets of {n}")
print(f"ok ({label}): {n} QUIC datagrams parsed and reflected, {seen} seen back")
PY
}

run_pmd "net_af_packet0,iface=$dp_if" af_packet
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
run_pmd "net_af_xdp0,iface=$dp_if" af_xdp
# The worker sleeps 300 µs whenever a poll round finds nothing (shared CPUs):
# every packet still comes back.
run_pmd "net_af_packet0,iface=$dp_if" af_packet_idle_sleep --set idle_sleep_us=300
echo "PASS: dataplane on veth (af_packet, af_xdp, af_packet with idle_sleep_us)"
