#!/usr/bin/env bash
# STOQ on the DPDK back end (stoq/stoq_io_dpdk.c) over a real veth pair:
#   1. hmesh-stoq server --dpdk on net_af_packet owns 10.74.0.1 (the kernel
#      has no address there): it answers ARP; the kernel's hmesh-stoq client
#      in a namespace downloads with the certificate verified; bytes match
#   2. Debian's gtlsclient (ngtcp2 + GnuTLS) downloads from it too
#   3. hmesh-stoq client --dpdk downloads from a kernel-socket server in the
#      namespace (it resolves the server with ARP); bytes match
#   4. the back end's counters: ARP answered and asked, nothing dropped
#   5. the same over IPv6 (fd74::/64): the back end answers the kernel's
#      Neighbor Solicitations, solicits the kernel server itself, and the
#      kernel client, gtlsclient and the DPDK client move bytes that match
#   6. refusals name what is wrong: 0.0.0.0, a port that does not exist, a
#      bad EAL argument, bench with --dpdk, --local without --dpdk, a
#      gateway of the other family, a --local of another family than the URL,
#      a max_udp_payload above what the port carries
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

step "hmesh-stoq server --dpdk on net_af_packet; the kernel's client downloads"
"$bin" server --dpdk "$eal --file-prefix hmsd-s$$ --vdev=net_af_packet0,iface=$h_if" \
	--listen "10.74.0.1:$port" --root "$tmp/root" --cert "$cert" --key "$key" \
	--stats-segment off 2>"$tmp/server.log" &
spid=$!
pids+=("$spid")
wait_log "$tmp/server.log" "serving"
ip netns exec "$ns" timeout 60 "$bin" client --ca "$cert" --parallel 4 --download "$tmp/dl" \
	"https://10.74.0.1:$port/small.bin" "https://10.74.0.1:$port/medium.bin" \
	2>"$tmp/c.log" || { cat "$tmp/c.log" "$tmp/server.log"; fail "client vs dpdk server"; }
same "$tmp/dl/small.bin" small.bin
same "$tmp/dl/medium.bin" medium.bin
echo "    $(grep -o '[0-9]* requests.*' "$tmp/c.log")"
rm -f "$tmp/dl"/*

step "gtlsclient downloads from the DPDK server"
ip netns exec "$ns" timeout 60 gtlsclient -q --exit-on-all-streams-close --download "$tmp/dl" \
	10.74.0.1 "$port" "https://10.74.0.1:$port/medium.bin" >/dev/null 2>&1 ||
	fail "gtlsclient exited with $?"
same "$tmp/dl/medium.bin" medium.bin
rm -f "$tmp/dl"/*

step "the server's counters at exit"
kill -INT "$spid"
wait "$spid" || fail "dpdk server exited with $?"
line=$(grep "dpdk port 0:" "$tmp/server.log") || { cat "$tmp/server.log"; fail "no counters"; }
echo "    $line"
[[ "$line" =~ ARP\ ([0-9]+)\ answered ]] && ((BASH_REMATCH[1] >= 1)) || fail "no ARP answered"
[[ "$line" =~ ([0-9]+)\ bad\ IP,\ ([0-9]+)\ bad\ UDP ]] &&
	((BASH_REMATCH[1] == 0 && BASH_REMATCH[2] == 0)) || fail "bad frames from the kernel"
[[ "$line" =~ ,\ ([0-9]+)\ dropped$ ]] && ((BASH_REMATCH[1] == 0)) || fail "tx drops"

step "hmesh-stoq client --dpdk downloads from a kernel-socket server"
ip netns exec "$ns" "$bin" server --listen "10.74.0.2:$port" --root "$tmp/root" --cert "$cert" \
	--key "$key" --stats-segment off 2>"$tmp/kserver.log" &
pids+=($!)
wait_log "$tmp/kserver.log" "serving"
timeout 60 "$bin" client --dpdk "$eal --file-prefix hmsd-c$$ --vdev=net_af_packet0,iface=$h_if" \
	--local 10.74.0.1:0 --ca "$cert" --download "$tmp/dl" "https://10.74.0.2:$port/medium.bin" \
	2>"$tmp/dc.log" || { cat "$tmp/dc.log"; fail "dpdk client"; }
same "$tmp/dl/medium.bin" medium.bin
line=$(grep "dpdk port 0:" "$tmp/dc.log") || fail "no client counters"
echo "    $line"
[[ "$line" =~ ARP\ [0-9]+\ answered,\ ([0-9]+)\ asked ]] && ((BASH_REMATCH[1] >= 1)) ||
	fail "the client never asked ARP"

# IPv6 on the namespace's end only: the DPDK side's kernel interface stays
# without it, so what answers fd74::1 is the back end alone.
ip netns exec "$ns" sysctl -qw "net.ipv6.conf.$n_if.disable_ipv6=0"
ip netns exec "$ns" ip -6 addr add fd74::2/64 dev "$n_if" nodad

step "IPv6: the DPDK server answers NDP; the kernel's client and gtlsclient download"
"$bin" server --dpdk "$eal --file-prefix hmsd-s6$$ --vdev=net_af_packet0,iface=$h_if" \
	--listen "[fd74::1]:$port" --root "$tmp/root" --cert "$cert" --key "$key" \
	--stats-segment off 2>"$tmp/server6.log" &
spid=$!
pids+=("$spid")
wait_log "$tmp/server6.log" "serving"
ip netns exec "$ns" timeout 60 "$bin" client --ca "$cert" --parallel 4 --download "$tmp/dl" \
	"https://[fd74::1]:$port/small.bin" "https://[fd74::1]:$port/medium.bin" \
	2>"$tmp/c6.log" || { cat "$tmp/c6.log" "$tmp/server6.log"; fail "client vs dpdk server (IPv6)"; }
same "$tmp/dl/small.bin" small.bin
same "$tmp/dl/medium.bin" medium.bin
rm -f "$tmp/dl"/*
ip netns exec "$ns" timeout 60 gtlsclient -q --exit-on-all-streams-close --download "$tmp/dl" \
	fd74::1 "$port" "https://[fd74::1]:$port/medium.bin" >/dev/null 2>&1 ||
	fail "gtlsclient (IPv6) exited with $?"
same "$tmp/dl/medium.bin" medium.bin
rm -f "$tmp/dl"/*
kill -INT "$spid"
wait "$spid" || fail "dpdk server (IPv6) exited with $?"
line=$(grep "dpdk port 0:" "$tmp/server6.log") || { cat "$tmp/server6.log"; fail "no counters"; }
echo "    $line"
[[ "$line" =~ NDP\ ([0-9]+)\ answered ]] && ((BASH_REMATCH[1] >= 1)) ||
	fail "no Neighbor Solicitation answered"
[[ "$line" =~ ([0-9]+)\ bad\ IP,\ ([0-9]+)\ bad\ UDP,\ .*\ ([0-9]+)\ bad\ NDP ]] &&
	((BASH_REMATCH[1] == 0 && BASH_REMATCH[2] == 0 && BASH_REMATCH[3] == 0)) ||
	fail "bad frames from the kernel"
[[ "$line" =~ ,\ ([0-9]+)\ dropped$ ]] && ((BASH_REMATCH[1] == 0)) || fail "tx drops"

step "IPv6: hmesh-stoq client --dpdk solicits the kernel server and downloads"
ip netns exec "$ns" "$bin" server --listen "[fd74::2]:$port" --root "$tmp/root" --cert "$cert" \
	--key "$key" --stats-segment off 2>"$tmp/kserver6.log" &
pids+=($!)
wait_log "$tmp/kserver6.log" "serving"
timeout 60 "$bin" client --dpdk "$eal --file-prefix hmsd-c6$$ --vdev=net_af_packet0,iface=$h_if" \
	--local "[fd74::1]:0" --ca "$cert" --download "$tmp/dl" "https://[fd74::2]:$port/medium.bin" \
	2>"$tmp/dc6.log" || { cat "$tmp/dc6.log"; fail "dpdk client (IPv6)"; }
same "$tmp/dl/medium.bin" medium.bin
line=$(grep "dpdk port 0:" "$tmp/dc6.log") || fail "no client counters"
echo "    $line"
[[ "$line" =~ NDP\ [0-9]+\ answered,\ ([0-9]+)\ asked,\ ([0-9]+)\ adverts ]] &&
	((BASH_REMATCH[1] >= 1 && BASH_REMATCH[2] >= 1)) || fail "the client never solicited"

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
expect_err "gateway is not IPv6" "$bin" "${srv[@]}" --listen "[fd74::1]:$port" \
	--dpdk-gateway 10.74.0.254 --dpdk "$eal --file-prefix hmsd-e$$ --vdev=net_af_packet0,iface=$h_if"
expect_err "not of the same family" "$bin" client --local "[fd74::1]:0" \
	--dpdk "$eal --file-prefix hmsd-e$$ --vdev=net_af_packet0,iface=$h_if" \
	"https://10.74.0.2:$port/small.bin"
echo "PASS"
