#!/usr/bin/env bash
# Bring up one HyperMesh node on this machine and show it carrying traffic.
#
#   scripts/run-node.sh [BUILD] [--duration SECONDS]
#
# A "client" network namespace is joined to the node's port by a veth pair.
# hmesh-dataplane drives its end with net_af_xdp (net_af_packet where AF_XDP
# cannot attach; it says so) with the MFN pipeline on; hmesh-controld
# (REST on 127.0.0.1:8080, state in a temporary directory) configures it over
# the control socket: a service on UDP port 4433 with two backends, created
# with curl. The client sends QUIC-shaped UDP datagrams from real sockets;
# each flow is decided once (L2, L3), then found in L1, rewritten to its
# backend and sent back out of the port. A live line shows packets, rates,
# MFN hits and decisions and drops from DPDK telemetry. Ctrl-C (or the
# duration) tears everything down.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$top/build
dur=0
while (($#)); do
	case "$1" in
	--duration) dur=${2:?--duration needs seconds}; shift ;;
	--duration=*) dur=${1#*=} ;;
	-h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	-*) echo "run-node.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
	*) build=$1 ;;
	esac
	shift
done
[[ "$dur" =~ ^[0-9]+$ ]] || { echo "run-node.sh: --duration is '$dur': must be whole seconds" >&2; exit 2; }
bin=$build/bin/hmesh-dataplane
ctld=$build/bin/hmesh-controld
api=http://127.0.0.1:8080
ns=hmesh-client
dp_if=hmesh-dp0
cl_if=hmesh-cl0
prefix=hmesh-node
tmp=$(mktemp -d)
pids=()

teardown() {
	echo
	echo "==> tearing down"
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	[[ -f "$tmp/dp.log" ]] && sed -n '/^counters after/,$p' "$tmp/dp.log" | grep -v stats-json
	ip link del "$dp_if" 2>/dev/null || true
	ip netns del "$ns" 2>/dev/null || true
	rm -rf "$tmp" "/var/run/dpdk/$prefix"
	echo "==> done"
}
trap teardown EXIT
trap 'exit 0' INT TERM

echo "==> network: namespace $ns, veth $dp_if <-> $cl_if"
ip link del "$dp_if" 2>/dev/null || true
ip netns del "$ns" 2>/dev/null || true
# shellcheck source=netns.sh
. "$top/scripts/netns.sh"
client_netns "$ns" "$dp_if" "$cl_if"

start_dp() { # $1 = vdev
	"$bin" -l 0-1 --no-pci --file-prefix="$prefix" --log-level='*:warning' --vdev="$1" -- \
		--set stoq_ports=4433 --set mbufs=8191 --set mfn=true \
		--set ctl_socket="$tmp/dp.sock" >"$tmp/dp.log" 2>&1 &
	dp_pid=$!
	for _ in $(seq 100); do
		grep -q forwarding "$tmp/dp.log" && return 0
		kill -0 "$dp_pid" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}
echo "==> hmesh-dataplane on net_af_xdp,iface=$dp_if"
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
if ! start_dp "net_af_xdp0,iface=$dp_if"; then
	echo "    AF_XDP could not attach ($(grep -m1 -iE 'error|fail' "$tmp/dp.log" || echo 'no reason given'));"
	echo "    falling back to net_af_packet"
	start_dp "net_af_packet0,iface=$dp_if" || { cat "$tmp/dp.log"; exit 1; }
fi
pids+=("$dp_pid")
sed -n '/^layout:/,/^hmesh-dataplane: forwarding/p' "$tmp/dp.log"

echo "==> hmesh-controld on $api (state $tmp/state)"
"$ctld" --listen 127.0.0.1:8080 --state-dir "$tmp/state" --dataplane-socket "$tmp/dp.sock" \
	>"$tmp/cd.log" 2>&1 &
pids+=("$!")
for _ in $(seq 50); do curl -sf "$api/v1/health" >/dev/null 2>&1 && break; sleep 0.1; done
curl -sf "$api/v1/health" >/dev/null || { cat "$tmp/cd.log"; exit 1; }
echo "==> configuring with curl: service echo on UDP 4433, two backends"
for body in '{"name":"echo","port":4433}'; do
	echo "    POST /v1/services $body"
	curl -sf -X POST -H 'Content-Type: application/json' "$api/v1/services" -d "$body" >/dev/null
done
for body in '{"service":"echo","address":"10.77.0.11","port":5001}' \
	'{"service":"echo","address":"10.77.0.12","port":5002,"weight":200}'; do
	echo "    POST /v1/backends $body"
	curl -sf -X POST -H 'Content-Type: application/json' "$api/v1/backends" -d "$body" >/dev/null
done
for _ in $(seq 50); do
	curl -sf "$api/v1/health" | grep -q '"status":"ok"' && break
	sleep 0.1
done
echo "    $(curl -sf "$api/v1/health")"

echo "==> client: QUIC-shaped datagrams from 10.77.0.2 to 10.77.0.1:4433 (64 flows)"
ip netns exec "$ns" python3 -c '
import socket, struct, time
socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(64)]
def initial(i):  # RFC 9000 17.2.2, padded to 1200
    return bytes([0xC3]) + struct.pack("!I", 1) + bytes([8]) + bytes([i]) * 8 + bytes([8]) + b"c" * 8 + b"\0" + struct.pack("!H", 0x4000 | 1170) + bytes(1170)
# Connections open as real clients do, with an Initial, a few dozen a second
# (L2 rate-limits bursts of new flows from one /24).
for i, s in enumerate(socks):
    s.sendto(initial(i), ("10.77.0.1", 4433))
    time.sleep(0.02)
n = 1
while True:
    for i, s in enumerate(socks):
        if n % 50 == 0:   # an Initial now and then
            p = initial(i)
        else:             # 1-RTT short header with an 8-byte DCID
            p = bytes([0x43]) + bytes([i]) * 8 + bytes(400)
        try:
            s.sendto(p, ("10.77.0.1", 4433))
        except OSError:
            pass
        n += 1
    time.sleep(0.001)
' &
pids+=("$!")

echo "==> live (telemetry /hmesh/stats every 2 s; Ctrl-C to stop)"
start=$(date +%s)
last_rx=0
while :; do
	sleep 2
	kill -0 "$dp_pid" 2>/dev/null || { cat "$tmp/dp.log"; exit 1; }
	line=$(echo /hmesh/stats | dpdk-telemetry.py -f "$prefix" 2>/dev/null | grep -m1 '^{' || true)
	if [[ -n "$line" ]]; then
		read -r rx summary < <(python3 -c '
import json, sys
s = json.loads(sys.argv[1])["/hmesh/stats"]
rate = (s["rx_packets"] - int(sys.argv[2])) / 2
gbit = s["rx_bytes"] * 8 / 1e9
print(s["rx_packets"], "rx %d tx %d  %.0f pps  %.3f Gbit  QUIC long/short %d/%d  L1 hits %d  L3 decisions %d  drops %d" % (
    s["rx_packets"], s["tx_packets"], rate, gbit, s["quic_long"], s["quic_short"],
    s["mfn_l1_hits"], s["mfn_l3_decisions"], s["drops_total"]))
' "$line" "$last_rx")
		echo "  $summary"
		last_rx=$rx
	fi
	if [[ "$dur" != 0 ]] && (($(date +%s) - start >= dur)); then break; fi
done
