#!/usr/bin/env bash
# hmesh-dataplane hosting a STOQ server (stoq_listen, dataplane/dp_local.c)
# on a veth pair through net_af_packet, over IPv4 (ARP) and then IPv6 (NDP):
#   1. the kernel's hmesh-stoq client in a namespace downloads two files
#      from it with the certificate verified, and Debian's gtlsclient one;
#      bytes match. The kernel has no address on the dataplane's side: what
#      answers ARP / Neighbor Solicitation is the hosted server.
#   2. while it serves, QUIC datagrams to a forwarded port (stoq_ports) are
#      still parsed and forwarded by the ordinary path
#   3. its own stats segment (<the dataplane's>-stoq) while it runs;
#      counters at exit: frames handed to it and sent by it, neighbour
#      requests answered, no drop anywhere
#   4. at mtu 1700 over net_af_xdp, its packets are 1672-byte payloads
#   5. refusals name the key: its port among stoq_ports, no stoq_root, no
#      stoq_ports, no cert in stoq_config, a max_udp_payload its port cannot
#      carry, a bad address, stoq_root without stoq_listen, the main lcore
#      as stoq_lcore, a stoq_port that does not exist, its lcore also in a
#      pipeline role, no lcore left for forwarding
# The lcores: main on CPU 0, the forwarding lcore on CPU 1, the server's
# lcore on CPU 0 beside the main lcore (which sleeps): this VM has two CPUs.
# IPv4 runs in both layouts.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=${HMESH_BUILD:-$top/build}
dp=$build/bin/hmesh-dataplane
stoq=$build/bin/hmesh-stoq
export PYTHONPATH="$here"
tmp=$(mktemp -d)
ns=hmt-ls-$$
h_if=hmlsh$$
n_if=hmlsn$$
dp_pid=
port=$((20000 + $$ % 12000)) # below the ephemeral range (32768-60999)
fwd=$((port + 1))

cleanup() {
	[[ -n "$dp_pid" ]] && kill "$dp_pid" 2>/dev/null && wait "$dp_pid" 2>/dev/null
	ip link del "$h_if" 2>/dev/null || true
	ip netns del "$ns" 2>/dev/null || true
	rm -rf "$tmp"
	"$top/scripts/dpdk-leftovers.sh" "hmt-ls4-$$" "hmt-ls6-$$" "hmt-lse-$$"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "--- $*"; }
for t in "$dp" "$stoq" gtlsclient ethtool; do
	command -v "$t" >/dev/null || [[ -x "$t" ]] || fail "$t is missing"
done

bash "$top/stoq/stoq-cert.sh" "$tmp/pki" IP:10.75.0.1 IP:fd75::1 >/dev/null
mkdir -p "$tmp/root" "$tmp/dl"
head -c 1048576 /dev/urandom >"$tmp/root/small.bin"
head -c 20971520 /dev/urandom >"$tmp/root/medium.bin"
printf 'cert = %s\nkey = %s\n' "$tmp/pki/cert.pem" "$tmp/pki/key.pem" >"$tmp/stoq.conf"
same() { cmp -s "$1" "$tmp/root/$2" || fail "$1 differs from $2"; }

# shellcheck source=../../scripts/netns.sh
. "$top/scripts/netns.sh"
# No static neighbour: the hosted server answers ARP for 10.75.0.1 itself.
client_netns "$ns" "$h_if" "$n_if" 10.75.0.2/24 -
# The namespace's veth segments its own UDP GSO trains (test_stoq_dpdk.sh).
ip netns exec "$ns" ethtool -K "$n_if" tx off >/dev/null

eal=(--lcores=0@0,1@1,2@0 --no-pci --in-memory --log-level='*:warning'
	--vdev="net_af_packet0,iface=$h_if")
conf=(--set "stoq_ports=$fwd" --set "stoq_root=$tmp/root" --set "stoq_config=$tmp/stoq.conf")

# One family's run. $1 = tag (4 or 6), $2 = the server's address as in a
# URL, $3 = the neighbour counter that must have moved, $4 = the layout
# (rtc: one forwarding lcore that also moves the server's frames out;
# pipeline: RX lcore 1, worker 2 transmits and moves them), lcore 3 or 2
# the server's. (In the pipeline run RX and worker share CPU 1, each
# spinning in its time slice: its goodput says nothing.)
family() {
	local t=$1 a=$2 nbr=$3 layout=$4 host lcores=0@0,1@1,2@0 s_lcore=2

	host=$(tr -d '[]' <<<"$a")
	[[ $layout == pipeline ]] && lcores=0@0,1@1,2@1,3@0 s_lcore=3
	# Each run must answer its own neighbour request.
	ip netns exec "$ns" ip neigh flush dev "$n_if"
	step "IPv$t, $layout: hmesh-dataplane with stoq_listen=$a:$port"
	seg=hmt-ls$t-$layout-$$
	"$dp" --lcores=$lcores "${eal[@]:1}" --file-prefix="hmt-ls$t-$$" -- "${conf[@]}" \
		--set "stoq_listen=$a:$port" --set layout=$layout --set "stats_segment=$seg" \
		>"$tmp/dp$t.log" 2>&1 &
	dp_pid=$!
	dp_wait_forwarding "$tmp/dp$t.log" "$dp_pid" || { cat "$tmp/dp$t.log"; fail "no start"; }
	grep -Eq "^  $s_lcore +stoq " "$tmp/dp$t.log" ||
		{ cat "$tmp/dp$t.log"; fail "lcore $s_lcore is not stoq"; }

	step "IPv$t, $layout: hmesh-stoq client downloads from it (certificate verified)"
	ip netns exec "$ns" timeout 60 "$stoq" client --ca "$tmp/pki/cert.pem" --parallel 2 \
		--download "$tmp/dl" "https://$a:$port/small.bin" "https://$a:$port/medium.bin" \
		2>"$tmp/c$t.log" || { cat "$tmp/c$t.log" "$tmp/dp$t.log"; fail "client (IPv$t)"; }
	same "$tmp/dl/small.bin" small.bin
	same "$tmp/dl/medium.bin" medium.bin
	echo "    $(grep -o '[0-9]* requests.*' "$tmp/c$t.log")"
	rm -f "$tmp/dl"/*

	step "IPv$t, $layout: gtlsclient downloads from it"
	ip netns exec "$ns" timeout 60 gtlsclient -q --exit-on-all-streams-close --download \
		"$tmp/dl" "$host" "$port" "https://$a:$port/medium.bin" >/dev/null 2>&1 ||
		fail "gtlsclient (IPv$t) exited with $?"
	same "$tmp/dl/medium.bin" medium.bin
	rm -f "$tmp/dl"/*

	step "IPv$t, $layout: the server's stats segment, $seg-stoq"
	# Published every 100 ms. A request counts once its stream has closed
	# on both sides; a client that exits on the last byte may leave it
	# open until the connection goes, so only one of the three is certain.
	for try in $(seq 30); do
		sleep 0.1
		"$build/bin/hmesh-stat" -s "$seg-stoq" -j >"$tmp/seg.json" ||
			{ ((try < 30)) || fail "no stats segment $seg-stoq"; continue; }
		python3 - "$tmp/seg.json" "$try" <<'PY' && break
import json, sys
v = {e["name"]: e for e in json.load(open(sys.argv[1]))["values"]}
hs, rq, tx = (v[k]["value"] for k in ("stoq_handshakes", "stoq_requests", "stoq_tx_datagrams"))
# two connections; 2 x 20 MiB + 1 MiB is at least 29600 datagrams of 1452 bytes at most
ok = hs >= 2 and rq >= 1 and tx >= 2 * 20 * 2**20 // 1452 and \
    v["stoq_handshake_seconds"]["count"] == hs
if ok or int(sys.argv[2]) == 30:
    print("    %d handshakes, %d requests, %d datagrams sent" % (hs, rq, tx))
sys.exit(0 if ok else 1)
PY
		((try < 30)) || fail "the hosted server's stats segment"
	done

	step "IPv$t, $layout: QUIC to a forwarded port still takes the forwarding path"
	ip netns exec "$ns" python3 - "$host" "$fwd" <<'PY'
import socket, sys, time
from pkt import quic_short
host, port = sys.argv[1], int(sys.argv[2])
u = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
for i in range(100):
    u.sendto(quic_short(bytes([i]) * 8, 200), (host, port))
    if i % 20 == 19:
        time.sleep(0.01)
PY
	sleep 0.5

	step "IPv$t, $layout: counters at exit"
	kill -INT "$dp_pid"
	wait "$dp_pid" || { cat "$tmp/dp$t.log"; fail "dataplane (IPv$t) exited with $?"; }
	dp_pid=
	[[ ! -e "/dev/shm/hmesh-$seg-stoq" ]] || fail "the server's stats segment outlived it"
	python3 - "$tmp/dp$t.log" "$nbr" "$layout" <<'PY' || { cat "$tmp/dp$t.log"; fail "counters (IPv$t)"; }
import json, re, sys
log, nbr, layout = open(sys.argv[1]).read(), sys.argv[2], sys.argv[3]
s = json.loads(log.split("stats-json: ")[1].splitlines()[0])
def need(ok, what):
    if not ok:
        sys.exit(f"FAIL: {what}")
need(s["stoq_local_rx"] > 1000, f"stoq_local_rx {s['stoq_local_rx']}")
# 20 MiB twice and 1 MiB in packets of at most 1452 bytes, plus the handshakes
need(s["stoq_local_tx"] >= 41 * 2**20 // 1452, f"stoq_local_tx {s['stoq_local_tx']}")
need(s["quic_short"] == 100, f"quic_short {s['quic_short']} (100 sent to the forwarded port)")
need(s["tx_packets"] == s["stoq_local_tx"] + 100, "tx_packets != stoq_local_tx + the forwarded 100")
# IPv6: the namespace's kernel sends router solicitations and MLD reports
# to multicast groups that are nobody's here: dropped as not_udp.
extra = [k for k, v in s["drops"].items() if v and not (nbr == "nd" and k == "not_udp")]
need(not extra, f"drops {s['drops_total']}: {extra}")
m = re.search(r"stoq_listen: handshakes (\d+), requests (\d+)", log)
need(m and int(m.group(1)) >= 2, "fewer than 2 handshakes")
m = re.search(r"not ours (\d+), bad ip (\d+), bad udp (\d+)\), out \d+, dropped (\d+); "
              r"arp answered (\d+), nd answered (\d+)", log)
need(m is not None, "no frame counters line")
need(int(m.group(2)) == 0 and int(m.group(3)) == 0, "bad frames from the kernel")
# With the worker descheduled for a time slice (it shares CPU 1 with the RX
# lcore) the server's ring can stay full past the back end's patience: it
# drops the rest of a train, counted, and QUIC sends it again.
need(int(m.group(4)) == 0 or layout == "pipeline", "the server dropped frames it sent")
need(int(m.group(5 if nbr == "arp" else 6)) >= 1, f"no {nbr} request answered")
print(f"    handed {s['stoq_local_rx']} frames, sent {s['stoq_local_tx']}; {m.group(0)}")
PY
}

family 4 10.75.0.1 arp rtc
family 4 10.75.0.1 arp pipeline
ip netns exec "$ns" sysctl -qw "net.ipv6.conf.$n_if.disable_ipv6=0"
ip netns exec "$ns" ip -6 addr add fd75::2/64 dev "$n_if" nodad
family 6 "[fd75::1]" nd rtc

step "IPv4, rtc, mtu 1700 over net_af_xdp: the hosted server sends 1672-byte payloads"
# Frames over 1500 bytes through the hosted server, end to end. (net_af_packet
# stops at MTU 1500; DPDK 22.11's net_af_xdp on a veth reports 3542 but no
# frame over ~1790 bytes reaches its socket, so 1700.)
ip link set "$h_if" mtu 1700
ip netns exec "$ns" ip link set "$n_if" mtu 1700
ip netns exec "$ns" ip neigh flush dev "$n_if"
{ cat "$tmp/stoq.conf"; echo "max_udp_payload = 1672"; } >"$tmp/m1700.conf"
"$dp" --lcores=0@0,1@1,2@0 --no-pci --in-memory --log-level='*:warning' \
	--vdev="net_af_xdp0,iface=$h_if" --file-prefix="hmt-ls4-$$" -- --set "stoq_ports=$fwd" \
	--set "stoq_root=$tmp/root" --set "stoq_config=$tmp/m1700.conf" --set mtu=1700 \
	--set "stoq_listen=10.75.0.1:$port" --set layout=rtc --set stats_segment=off \
	>"$tmp/dpm.log" 2>&1 &
dp_pid=$!
dp_wait_forwarding "$tmp/dpm.log" "$dp_pid" || { cat "$tmp/dpm.log"; fail "no start (mtu 1700)"; }
ip netns exec "$ns" timeout 60 "$stoq" client --ca "$tmp/pki/cert.pem" --download "$tmp/dl" \
	"https://10.75.0.1:$port/medium.bin" 2>"$tmp/cm.log" ||
	{ cat "$tmp/cm.log" "$tmp/dpm.log"; fail "client (mtu 1700)"; }
same "$tmp/dl/medium.bin" medium.bin
rm -f "$tmp/dl"/*
kill -INT "$dp_pid"
wait "$dp_pid" || { cat "$tmp/dpm.log"; fail "dataplane (mtu 1700) exited with $?"; }
dp_pid=
python3 - "$tmp/dpm.log" <<'PY' || { cat "$tmp/dpm.log"; fail "frames over 1500 bytes (mtu 1700)"; }
import json, sys
s = json.loads(open(sys.argv[1]).read().split("stats-json: ")[1].splitlines()[0])
# 20 MiB in frames of 1714 bytes (1672 + UDP, IP, Ethernet); the handshake's are fewer.
avg = s["tx_bytes"] / s["tx_packets"]
# The namespace's kernel has IPv6 on since the IPv6 run: its router
# solicitations and MLD reports are dropped as not_udp, at times of its own.
extra = [k for k, v in s["drops"].items() if v and k != "not_udp"]
print(f"    {s['tx_packets']} frames out, {avg:.0f} bytes on average; drops {extra or 'none'}")
sys.exit(0 if avg > 1650 and not extra else 1)
PY
ip link set "$h_if" mtu 1500
ip netns exec "$ns" ip link set "$n_if" mtu 1500

step "refusals name the key"
expect_err() { # $1 = text, rest = options after --
	local want=$1 rc=0
	shift
	timeout 20 "$dp" "${eal[@]}" --file-prefix="hmt-lse-$$" -- --duration 1 "$@" \
		>"$tmp/e.log" 2>&1 || rc=$?
	((rc != 0)) || { cat "$tmp/e.log"; fail "$* succeeded"; }
	grep -q -- "$want" "$tmp/e.log" || { cat "$tmp/e.log"; fail "no \"$want\" in the error"; }
	echo "    $(grep -m1 -- "$want" "$tmp/e.log")"
}
listen=(--set "stoq_listen=10.75.0.1:$port")
expect_err "\"stoq_listen\" port $port is in \"stoq_ports\"" "${conf[@]}" "${listen[@]}" \
	--set "stoq_ports=$fwd,$port"
expect_err '"stoq_listen" is set: needs stoq_root' "${listen[@]}" --set "stoq_ports=$fwd" \
	--set "stoq_config=$tmp/stoq.conf"
expect_err '"stoq_listen" is set: needs stoq_ports' "${listen[@]}" --set "stoq_root=$tmp/root" \
	--set "stoq_config=$tmp/stoq.conf"
: >"$tmp/nocert.conf"
expect_err "a server needs \"cert\" and \"key\"" "${conf[@]}" "${listen[@]}" \
	--set "stoq_config=$tmp/nocert.conf"
echo "max_udp_payload = 8952" >>"$tmp/big.conf"
cat "$tmp/stoq.conf" >>"$tmp/big.conf"
expect_err '"max_udp_payload" is 8952: its port carries at most 1472' "${conf[@]}" "${listen[@]}" \
	--set "stoq_config=$tmp/big.conf"
# The hosted server's port takes the dataplane's mtu: at 1400 the default
# 1452-byte payload no longer fits.
expect_err '"max_udp_payload" is 1452: its port carries at most 1372' "${conf[@]}" "${listen[@]}" \
	--set mtu=1400
expect_err '"stoq_listen" is 10.75.0.1: expected IPV4:PORT' "${conf[@]}" \
	--set stoq_listen=10.75.0.1
expect_err '"stoq_root" is set without stoq_listen' --set "stoq_root=$tmp/root"
expect_err '"stoq_lcore" 0 is the main lcore' "${conf[@]}" "${listen[@]}" --set stoq_lcore=0
expect_err '"stoq_port" is 3: only 1 ports exist' "${conf[@]}" "${listen[@]}" --set stoq_port=3
# The default stoq_lcore is the highest lcore (2), which the pipeline roles also name.
expect_err "lcore 2 runs the hosted STOQ server (stoq_lcore): it cannot also be" "${conf[@]}" \
	"${listen[@]}" --set rx_lcores=1 --set worker_lcores=2
# Two lcores: the server would take the only forwarding one.
eal=(-l 0-1 --no-pci --in-memory --log-level='*:warning' --vdev="net_af_packet0,iface=$h_if")
expect_err "three with stoq_listen" "${conf[@]}" "${listen[@]}"
echo "PASS"
