#!/usr/bin/env bash
# STOQ on the DPDK back end (stoq/stoq_io_dpdk.c) over a real veth pair,
# steps 1-4 over IPv4 (10.74.0.0/24, ARP) and then IPv6 (fd74::/64, NDP):
#   1. hmesh-stoq server --dpdk on net_af_packet owns the address (the kernel
#      has none there): it answers ARP / Neighbor Solicitations; the
#      kernel's hmesh-stoq client in a namespace downloads with the
#      certificate verified; bytes match
#   2. Debian's gtlsclient (ngtcp2 + GnuTLS) downloads from it too
#   3. the back end's counters: requests answered, nothing bad, nothing dropped
#   4. hmesh-stoq client --dpdk downloads from a kernel-socket server in the
#      namespace (it resolves the server itself); bytes match
#   5. refusals name what is wrong: 0.0.0.0, a port that does not exist, a
#      bad EAL argument, bench with --dpdk, --local without --dpdk, a
#      max_udp_payload above what the port carries, an MTU the PMD cannot
#      take, a gateway of the other
#      family, a --local of another family than the URL
# The namespace's veth computes its own checksums and segments its own UDP
# GSO trains ("tx off"): a veth hands GSO super-frames to AF_PACKET as one
# frame, which no NIC would deliver (README: what differs on a real NIC).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
bin=${HMESH_BUILD:-$top/build}/bin/hmesh-stoq
tmp=$(mktemp -d)
ns=hmt-sd-$$
h_if=hmsdh$$
n_if=hmsdn$$
pids=()
port=$((20000 + $$ % 12000)) # below the ephemeral range (32768-60999)
eal="-l 1 --no-pci --no-huge -m 256 --no-shconf --no-telemetry --log-level=*:warning"

cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	ip link del "$h_if" 2>/dev/null || true
	ip netns del "$ns" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "--- $*"; }
for t in "$bin" gtlsclient ethtool ss; do
	command -v "$t" >/dev/null || [[ -x "$t" ]] || fail "$t is missing"
done

bash "$top/stoq/stoq-cert.sh" "$tmp/pki" IP:10.74.0.1 IP:10.74.0.2 IP:fd74::1 IP:fd74::2 >/dev/null
cert=$tmp/pki/cert.pem key=$tmp/pki/key.pem
mkdir -p "$tmp/root" "$tmp/dl"
head -c 1048576 /dev/urandom >"$tmp/root/small.bin"
head -c 20971520 /dev/urandom >"$tmp/root/medium.bin"
same() { cmp -s "$1" "$tmp/root/$2" || fail "$1 differs from $2"; }

# shellcheck source=../../scripts/netns.sh
. "$top/scripts/netns.sh"
# No static neighbour: the DPDK back end answers ARP for 10.74.0.1 itself.
client_netns "$ns" "$h_if" "$n_if" 10.74.0.2/24 -
ip netns exec "$ns" ethtool -K "$n_if" tx off >/dev/null

# Wait for "$2" in log $1 (a process of ours says it is up).
wait_log() {
	for _ in $(seq 100); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	cat "$1" >&2
	fail "no \"$2\" in $1"
}

# The back end's counters line ("dpdk port 0: ...") from log $1.
counters() {
	line=$(grep "dpdk port 0:" "$1") || { cat "$1"; fail "no counters in $1"; }
	echo "    $line"
}

# One family's run. $1 = tag (4 or 6), $2 = the back end's address, $3 =
# the kernel's address in the namespace (both as in a URL: [v6]), $4 = the
# neighbour protocol the counters name (ARP or NDP).
family() {
	local t=$1 dp=$2 k=$3 proto=$4 spid

	step "IPv$t: hmesh-stoq server --dpdk on net_af_packet; the kernel's client downloads"
	"$bin" server --dpdk "$eal --file-prefix hmsd-s$t$$ --vdev=net_af_packet0,iface=$h_if" \
		--listen "$dp:$port" --root "$tmp/root" --cert "$cert" --key "$key" \
		--stats-segment off 2>"$tmp/server$t.log" &
	spid=$!
	pids+=("$spid")
	wait_log "$tmp/server$t.log" "serving"
	ip netns exec "$ns" timeout 60 "$bin" client --ca "$cert" --parallel 4 --download "$tmp/dl" \
		"https://$dp:$port/small.bin" "https://$dp:$port/medium.bin" 2>"$tmp/c$t.log" ||
		{ cat "$tmp/c$t.log" "$tmp/server$t.log"; fail "client vs dpdk server (IPv$t)"; }
	same "$tmp/dl/small.bin" small.bin
	same "$tmp/dl/medium.bin" medium.bin
	echo "    $(grep -o '[0-9]* requests.*' "$tmp/c$t.log")"
	rm -f "$tmp/dl"/*

	step "IPv$t: gtlsclient downloads from the DPDK server"
	ip netns exec "$ns" timeout 60 gtlsclient -q --exit-on-all-streams-close --download "$tmp/dl" \
		"$(tr -d '[]' <<<"$dp")" "$port" "https://$dp:$port/medium.bin" >/dev/null 2>&1 ||
		fail "gtlsclient (IPv$t) exited with $?"
	same "$tmp/dl/medium.bin" medium.bin
	rm -f "$tmp/dl"/*

	step "IPv$t: the server's counters at exit"
	kill -INT "$spid"
	wait "$spid" || fail "dpdk server (IPv$t) exited with $?"
	counters "$tmp/server$t.log"
	[[ "$line" =~ $proto\ ([0-9]+)\ answered ]] && ((BASH_REMATCH[1] >= 1)) ||
		fail "no $proto request answered"
	[[ "$line" =~ ([0-9]+)\ bad\ IP,\ ([0-9]+)\ bad\ UDP,\ .*\ ([0-9]+)\ bad\ NDP ]] &&
		((BASH_REMATCH[1] == 0 && BASH_REMATCH[2] == 0 && BASH_REMATCH[3] == 0)) ||
		fail "bad frames from the kernel"
	[[ "$line" =~ ,\ ([0-9]+)\ dropped, ]] && ((BASH_REMATCH[1] == 0)) || fail "tx drops"

	step "IPv$t: hmesh-stoq client --dpdk resolves a kernel-socket server and downloads"
	ip netns exec "$ns" "$bin" server --listen "$k:$port" --root "$tmp/root" --cert "$cert" \
		--key "$key" --stats-segment off 2>"$tmp/kserver$t.log" &
	pids+=($!)
	wait_log "$tmp/kserver$t.log" "serving"
	timeout 60 "$bin" client --dpdk "$eal --file-prefix hmsd-c$t$$ --vdev=net_af_packet0,iface=$h_if" \
		--local "$dp:0" --ca "$cert" --download "$tmp/dl" "https://$k:$port/medium.bin" \
		2>"$tmp/dc$t.log" || { cat "$tmp/dc$t.log"; fail "dpdk client (IPv$t)"; }
	same "$tmp/dl/medium.bin" medium.bin
	rm -f "$tmp/dl"/*
	counters "$tmp/dc$t.log"
	[[ "$line" =~ $proto\ [0-9]+\ answered,\ ([0-9]+)\ asked,\ ([0-9]+)\ (replies|adverts) ]] &&
		((BASH_REMATCH[1] >= 1 && BASH_REMATCH[2] >= 1)) || fail "the client never asked $proto"
	kill "${pids[-1]}"
}

family 4 10.74.0.1 10.74.0.2 ARP
# IPv6 on the namespace's end only: the DPDK side's kernel interface stays
# without it, so what answers fd74::1 is the back end alone.
ip netns exec "$ns" sysctl -qw "net.ipv6.conf.$n_if.disable_ipv6=0"
ip netns exec "$ns" ip -6 addr add fd74::2/64 dev "$n_if" nodad
family 6 "[fd74::1]" "[fd74::2]" NDP

step "refusals name what is wrong"
expect_err() { # $1 = text, rest = command
	local want=$1 rc=0
	shift
	timeout 20 "$@" >"$tmp/e.log" 2>&1 || rc=$?
	((rc != 0)) || fail "$* succeeded"
	grep -q -- "$want" "$tmp/e.log" || { cat "$tmp/e.log"; fail "no \"$want\" in the error"; }
	echo "    $(grep -m1 -- "$want" "$tmp/e.log")"
}
srv=(server --root "$tmp/root" --cert "$cert" --key "$key" --stats-segment off)
expect_err "not 0.0.0.0" "$bin" "${srv[@]}" --listen "0.0.0.0:$port" \
	--dpdk "$eal --file-prefix hmsd-e$$ --vdev=net_af_packet0,iface=$h_if"
expect_err "port 3 does not exist" "$bin" "${srv[@]}" --listen "10.74.0.1:$port" --dpdk-port 3 \
	--dpdk "$eal --file-prefix hmsd-e$$ --vdev=net_af_packet0,iface=$h_if"
expect_err "--bogus-eal-flag" "$bin" "${srv[@]}" --listen "10.74.0.1:$port" \
	--dpdk "--no-huge --bogus-eal-flag"
expect_err "--dpdk-prefix 40" "$bin" "${srv[@]}" --listen "10.74.0.1:$port" --dpdk "-l 1" \
	--dpdk-prefix 40
expect_err "bench runs server and client on loopback" "$bin" bench --dpdk "-l 1"
expect_err "need --dpdk" "$bin" client --local 10.74.0.1:0 "https://10.74.0.2:$port/small.bin"
expect_err '"max_udp_payload" is 8952: the dpdk back end carries at most 1472' "$bin" "${srv[@]}" \
	--listen "10.74.0.1:$port" --set max_udp_payload=8952 \
	--dpdk "$eal --file-prefix hmsd-e$$ --vdev=net_af_packet0,iface=$h_if"
# net_af_packet's default frame size (2048) holds no jumbo frame.
expect_err "MTU 9000 is outside 1228..1500" "$bin" "${srv[@]}" --listen "10.74.0.1:$port" \
	--dpdk-mtu 9000 --dpdk "$eal --file-prefix hmsd-e$$ --vdev=net_af_packet0,iface=$h_if"
expect_err "gateway is not IPv6" "$bin" "${srv[@]}" --listen "[fd74::1]:$port" \
	--dpdk-gateway 10.74.0.254 --dpdk "$eal --file-prefix hmsd-e$$ --vdev=net_af_packet0,iface=$h_if"
expect_err "not of the same family" "$bin" client --local "[fd74::1]:0" \
	--dpdk "$eal --file-prefix hmsd-e$$ --vdev=net_af_packet0,iface=$h_if" \
	"https://10.74.0.2:$port/small.bin"
echo "PASS"
