#!/usr/bin/env bash
# Bring up one HyperMesh node on this machine and show it carrying STOQ.
#
#   scripts/run-node.sh [BUILD] [--duration SECONDS] [--soak]
#
# Network: a "client" namespace (10.77.0.2) reaches the service address
# 10.77.0.1 through the dataplane's client port (a veth pair); the
# dataplane's backend port is another veth pair whose host end routes to the
# container bridge. hmesh-dataplane runs both ports on net_af_xdp with our
# XDP program (only STOQ UDP comes to it; net_af_packet where AF_XDP cannot
# attach, said so) in router mode with the MFN on. hmesh-controld (REST on
# 127.0.0.1:8080) gets a service and two replicas of a container running the
# real hmesh-stoq server, with curl; it starts them with hmesh-run and
# registers them as backends once they answer. collectd reads the stats
# segments and serves them to Prometheus (its address is printed). Then the
# client downloads files over QUIC, again and again, through the dataplane
# to the containers, and a live line shows flows, Gbit/s, drops, the
# containers and their restarts. Ctrl-C (or the duration) tears it all down.
#
# --soak (with --duration, make soak): while the traffic runs, the service
# scales 2 -> 3 -> 1 -> 2 replicas and a runtime setting changes every few
# seconds; flows age out after 2 s. At the end the traffic stops and the
# node must be back to where it started: no L1 flow left, mbufs in use as
# before the traffic (within the TX descriptors a PMD may still hold),
# controld's descriptors as before and RSS within bounds, every packet the
# dataplane took sent or dropped under a counted reason, no failed download.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$top/build
dur=0
soak=0
while (($#)); do
	case "$1" in
	--duration) dur=${2:?--duration needs seconds}; shift ;;
	--soak) soak=1 ;;
	--duration=*) dur=${1#*=} ;;
	-h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	-*) echo "run-node.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
	*) build=$1 ;;
	esac
	shift
done
[[ "$dur" =~ ^[0-9]+$ ]] || { echo "run-node.sh: --duration is '$dur': must be whole seconds" >&2; exit 2; }
((soak == 0 || dur > 0)) || { echo "run-node.sh: --soak needs --duration" >&2; exit 2; }
[[ "$build" = /* ]] || build=$top/$build
bin=$build/bin/hmesh-dataplane
ctld=$build/bin/hmesh-controld
stoq=$build/bin/hmesh-stoq
# The QUIC-LB key the servers encrypt their connection IDs with (four-pass
# AES over 8-octet CIDs) and the dataplane reads their backend id with.
cid_key=$(od -An -tx1 -N16 /dev/urandom | tr -d " \n")
api=http://127.0.0.1:8080
ns=hmesh-client
dp_if=hmesh-dp0  # client port
cl_if=hmesh-cl0
dpb_if=hmesh-dp1 # backend port
rt_if=hmesh-rt0  # its host end
br=hmesh-br0
prefix=hmesh-node
tmp=$(mktemp -d)
export HMESH_RUN_ROOT=$tmp/rt
fwd0=$(sysctl -n net.ipv4.ip_forward)
# shellcheck source=netns.sh
. "$top/scripts/netns.sh"
pids=()

teardown() {
	echo
	echo "==> tearing down"
	# controld first: it stops its containers and removes their backends.
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	[[ -f "$tmp/dp.log" ]] && sed -n '/^counters after/,$p' "$tmp/dp.log" | grep -v stats-json
	router_teardown "$ns" "$dp_if" "$dpb_if" "$br" "$fwd0"
	rm -rf "$tmp"
	"$top/scripts/dpdk-leftovers.sh" "$prefix"
	echo "==> done"
}
trap teardown EXIT
trap 'exit 0' INT TERM
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { # seconds, command...: until it succeeds
	local n=$(($1 * 10))
	shift
	for _ in $(seq "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
	return 1
}

echo "==> network: namespace $ns (10.77.0.2) -> $dp_if [dataplane] $dpb_if -> $rt_if (host) -> $br (containers)"
ip link del "$dp_if" 2>/dev/null || true
ip link del "$dpb_if" 2>/dev/null || true
ip netns del "$ns" 2>/dev/null || true
client_netns "$ns" "$dp_if" "$cl_if"
router_backend "$ns" "$cl_if" "$dp_if" "$dpb_if" "$rt_if" 10.98.0.1 10.98.0.2

start_dp() { # vdev args for port 0 and port 1
	"$bin" -l 0-1 --no-pci --file-prefix="$prefix" --log-level='*:warning' --vdev="$1" --vdev="$2" -- \
		--set stoq_ports=4433 --set mbufs=16383 --set mfn=true --set mfn_dsr=false \
		--set backend_port=1 --set next_hop_mac="$(ip netns exec "$ns" cat "/sys/class/net/$cl_if/address")" \
		--set backend_next_hop_mac="$(cat "/sys/class/net/$rt_if/address")" \
		--set service_address=10.77.0.1 --set ctl_socket="$tmp/dp.sock" \
		--set "mfn_quic_lb=0:2:8:$cid_key" >"$tmp/dp.log" 2>&1 &
	dp_pid=$!
	dp_wait_forwarding "$tmp/dp.log" "$dp_pid"
}
xdp=$build/lib/bpf/hmesh_steer.bpf.o
echo "==> hmesh-dataplane: router mode, net_af_xdp with $(basename "$xdp") on $dp_if and $dpb_if"
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
if ! start_dp "net_af_xdp0,iface=$dp_if,xdp_prog=$xdp" "net_af_xdp1,iface=$dpb_if,xdp_prog=$xdp"; then
	echo "    AF_XDP could not attach ($(grep -m1 -iE 'error|fail' "$tmp/dp.log" || echo 'no reason given'));"
	echo "    falling back to net_af_packet"
	start_dp "net_af_packet0,iface=$dp_if" "net_af_packet1,iface=$dpb_if" || { cat "$tmp/dp.log"; exit 1; }
fi
pids+=("$dp_pid")
sed -n '/^layout:/,/^hmesh-dataplane: forwarding/p' "$tmp/dp.log"

echo "==> hmesh-controld on $api (state $tmp/state, containers on $br 10.79.0.0/24)"
"$ctld" --listen 127.0.0.1:8080 --state-dir "$tmp/state" --dataplane-socket "$tmp/dp.sock" \
	--container-bridge "$br" --container-subnet 10.79.0.0/24 >"$tmp/cd.log" 2>&1 &
cd_pid=$!
pids=("$cd_pid" "${pids[@]}")
wait_for 5 curl -sf "$api/v1/health" || { cat "$tmp/cd.log"; exit 1; }

echo "==> container bundle: hmesh-stoq server (and its libraries), a certificate for 10.77.0.1, files"
mkdir -p "$tmp/srv"
for i in 1 2 3 4 5 6 7 8; do head -c $((256 * 1024)) /dev/urandom >"$tmp/srv/f$i.bin"; done
bash "$top/stoq/stoq-cert.sh" "$tmp/pki" IP:10.77.0.1 >/dev/null
bash "$top/scripts/mk-bundle.sh" "$tmp/bundle" --dyn "$stoq" --file "$tmp/pki:/pki" \
	--file "$tmp/srv:/srv" -- hmesh-stoq server --listen 0.0.0.0:4433 --root /srv \
	--cert /pki/cert.pem --key /pki/key.pem --stats-segment off --set gso_segments=1 \
	--set "cid_key=$cid_key" >/dev/null

echo "==> configuring with curl"
post() {
	echo "    POST $1 $2"
	curl -sf -X POST -H 'Content-Type: application/json' "$api$1" -d "$2" >/dev/null
}
post /v1/services '{"name":"files","port":4433}'
post /v1/containers "{\"service\":\"files\",\"replicas\":2,\"warm\":1,\"bundle\":\"$tmp/bundle\",\"port\":4433,\"drain_seconds\":2}"
running() {
	curl -sf "$api/v1/containers/files" | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if sum(i["state"] == "running" for i in d["instances"]) == 2 else 1)' &&
		curl -sf "$api/v1/health" | grep -q '"status": *"ok"'
}
wait_for 30 running || { cat "$tmp/cd.log"; for l in "$tmp"/state/containers/*/log; do echo "--- $l"; tail -3 "$l"; done; curl -s "$api/v1/containers/files"; curl -s "$api/v1/health"; exit 1; }
curl -sf "$api/v1/containers/files" | python3 -c '
import json, sys
for i in json.load(sys.stdin)["instances"]:
    print("    container %s at %s:4433 %s, backend %d" % (i["id"], i["address"], i["state"], i["backend"]))'

echo "==> telemetry: collectd (hmesh plugin, write_prometheus) and Prometheus"
cd_port=$(free_port)
prom_port=9090
python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 9090))" 2>/dev/null || prom_port=$(free_port)
mkdir -p "$tmp/prom/rules"
# shellcheck source=collectd-conf.sh
. "$top/scripts/collectd-conf.sh"
collectd_conf "$tmp" "$build/lib/collectd/hmesh.so" "$cd_port" 2 "dataplane-$prefix" controld \
	"dpdk:/var/run/dpdk/$prefix/dpdk_telemetry.v2"
collectd -f -C "$tmp/collectd.conf" >"$tmp/collectd.log" 2>&1 &
pids+=("$!")
sed -e "s/localhost:9103/127.0.0.1:$cd_port/" "$top/telemetry/prometheus/prometheus.yml" >"$tmp/prom/prometheus.yml"
cp "$top/telemetry/prometheus/rules/hmesh.yml" "$tmp/prom/rules/"
prometheus --config.file="$tmp/prom/prometheus.yml" --storage.tsdb.path="$tmp/prom/data" \
	--web.listen-address="127.0.0.1:$prom_port" >"$tmp/prom.log" 2>&1 &
pids+=("$!")
echo "    Prometheus on http://127.0.0.1:$prom_port (e.g. rate(hmesh_rx_packets_total[1m])),"
echo "    dashboards to import: telemetry/grafana/*.json"

dp_stats() { echo /hmesh/stats | dpdk-telemetry.py -f "$prefix" 2>/dev/null | grep -m1 '^{'; }
l1_flows() {
	echo /hmesh/mfn | dpdk-telemetry.py -f "$prefix" 2>/dev/null | grep -m1 '^{' |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["/hmesh/mfn"]["l1_flows"])'
}
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
if ((soak)); then
	curl -sf -X PUT -H 'Content-Type: application/json' "$api/v1/config" \
		-d '{"dataplane":{"mfn_idle_timeout_ms":2000}}' >/dev/null || { echo "soak: PUT /v1/config failed"; exit 1; }
	base_mbufs=$(dp_stats | python3 -c 'import json,sys; print(json.load(sys.stdin)["/hmesh/stats"]["mbufs_in_use"])')
	base_fds=$(ls "/proc/$cd_pid/fd" | wc -l)
	base_cd_rss=$(rss_kb "$cd_pid")
	base_dp_rss=$(rss_kb "$dp_pid")
	echo "==> soak baseline: mbufs in use $base_mbufs, controld $base_fds fds / $((base_cd_rss / 1024)) MB RSS, dataplane $((base_dp_rss / 1024)) MB RSS"
fi

echo "==> client: downloads over QUIC from https://10.77.0.1:4433 through the dataplane"
(
	urls=()
	for i in 1 2 3 4 5 6 7 8; do urls+=("https://10.77.0.1:4433/f$i.bin"); done
	mkdir -p "$tmp/dl"
	# Stopped, it stops the download under way too (not left to time out).
	cpid=
	trap '[[ -n "$cpid" ]] && kill "$cpid" 2>/dev/null; exit 0' TERM
	while :; do
		ip netns exec "$ns" "$stoq" client --ca "$tmp/pki/cert.pem" --parallel 8 \
			--download "$tmp/dl" --set gso_segments=1 "${urls[@]}" >>"$tmp/client.log" 2>&1 &
		cpid=$!
		if wait "$cpid"; then echo ok >>"$tmp/client.results"; else echo failed >>"$tmp/client.results"; fi
		cpid=
	done
) &
client_loop=$!
pids+=("$client_loop")

echo "==> live (every 2 s; Ctrl-C to stop)"
start=$(date +%s)
last_bytes=0
while :; do
	sleep 2
	kill -0 "$dp_pid" 2>/dev/null || { cat "$tmp/dp.log"; exit 1; }
	line=$(echo /hmesh/stats | dpdk-telemetry.py -f "$prefix" 2>/dev/null | grep -m1 '^{' || true)
	[[ -n "$line" ]] || continue
	cont=$(curl -sf "$api/v1/containers/files" || echo '{}')
	read -r bytes summary < <(python3 -c '
import json, sys
s = json.loads(sys.argv[1])["/hmesh/stats"]
c = json.loads(sys.argv[3] or "{}").get("instances", [])
ok, bad = (open(sys.argv[4]).read().split().count(w) if sys.argv[4] else 0 for w in ("ok", "failed"))
gbit = (s["rx_bytes"] - int(sys.argv[2])) * 8 / 2 / 1e9
print(s["rx_bytes"], "flows %d  %.3f Gbit/s  replies %d  L1 hits %d  drops %d | containers %s restarts %d | downloads ok %d failed %d" % (
    s["mfn_l3_decisions"], gbit, s["mfn_replies"], s["mfn_l1_hits"], s["drops_total"],
    "/".join(i["state"] for i in c) or "-", sum(i["restarts"] for i in c), ok, bad))
' "$line" "$last_bytes" "$cont" "$( [[ -f "$tmp/client.results" ]] && echo "$tmp/client.results" || echo "")")
	echo "  $summary"
	last_bytes=$bytes
	if ((soak)); then
		# Churn: replicas 3, 1, 2 in turn; a runtime setting every other round.
		round=$((${round:-0} + 1))
		replicas=(3 1 2)
		curl -sf -X PUT -H 'Content-Type: application/json' "$api/v1/containers/files" \
			-d "{\"replicas\":${replicas[$((round % 3))]},\"drain_seconds\":2}" >/dev/null ||
			echo "  soak: scaling to ${replicas[$((round % 3))]} refused"
		((round % 2)) || curl -sf -X PUT -H 'Content-Type: application/json' "$api/v1/config" \
			-d "{\"dataplane\":{\"stats_interval\":$((900 + round))}}" >/dev/null
	fi
	if [[ "$dur" != 0 ]] && (($(date +%s) - start >= dur)); then break; fi
done

if ((soak)); then
	echo "==> soak: traffic stopped, back to 2 replicas; waiting for the flows to age out"
	kill "$client_loop" 2>/dev/null || true
	wait "$client_loop" 2>/dev/null || true
	curl -sf -X PUT -H 'Content-Type: application/json' "$api/v1/containers/files" \
		-d '{"replicas":2,"drain_seconds":2}' >/dev/null
	wait_for 30 running || echo "  soak: the group did not settle at 2 running replicas"
	for _ in $(seq 60); do (($(l1_flows) == 0)) && break; sleep 0.5; done
	sleep 1
	# A replica still being stopped or prepared holds descriptors for a
	# moment: up to 10 s for controld's count to come back to where it was.
	for _ in $(seq 50); do
		fds=$(ls "/proc/$cd_pid/fd" | wc -l)
		((fds == base_fds)) && break
		sleep 0.2
	done
	python3 - "$(dp_stats)" "$(l1_flows)" "$base_mbufs" "$base_fds" "$fds" "$base_cd_rss" \
		"$(rss_kb "$cd_pid")" "$base_dp_rss" "$(rss_kb "$dp_pid")" "$tmp/client.results" "$dur" <<'PY'
import json, sys
s = json.loads(sys.argv[1])["/hmesh/stats"]
flows, bm, bfd, fd, bcd, cd, bdp, dpr = map(int, sys.argv[2:10])
res = open(sys.argv[10]).read().split()
# (the download stopped with the loop is not recorded: the loop exits first)
ok, failed = res.count("ok"), res.count("failed")
bad = []
# What a PMD may hold back: completed TX descriptors are freed in batches.
slack = 2 * 1024
if flows: bad.append(f"{flows} L1 flows left after the idle timeout")
if not 0 <= s["mbufs_in_use"] - bm <= slack: bad.append(f"mbufs in use {s['mbufs_in_use']}, {bm} before")
if fd != bfd: bad.append(f"controld has {fd} descriptors, {bfd} before")
if cd > bcd * 1.25 + 4096: bad.append(f"controld RSS {cd} kB, {bcd} kB before")
# The dataplane takes and touches its memory at start (hugepages; no table is
# left to fault in on an lcore), so the traffic may move its RSS by no more
# than what its control thread's malloc holds: 1 MiB.
if dpr > bdp + 1024: bad.append(f"dataplane RSS {dpr} kB, {bdp} kB before")
if s["rx_packets"] != s["tx_packets"] + s["drops_total"]:
    bad.append(f"rx {s['rx_packets']} != tx {s['tx_packets']} + dropped {s['drops_total']}")
if failed > 0: bad.append(f"{failed} downloads failed")
print(f"soak {sys.argv[11]} s: {ok} downloads ({failed} failed), {s['mfn_l3_decisions']} flows, rx {s['rx_packets']} = tx {s['tx_packets']} "
      f"+ dropped {s['drops_total']}; L1 flows {flows}; mbufs in use {s['mbufs_in_use']} (before {bm}); "
      f"controld fds {fd} (before {bfd}), RSS {cd // 1024} MB (before {bcd // 1024}); dataplane RSS {dpr // 1024} MB (before {bdp // 1024})")
if bad:
    sys.exit("FAIL soak: " + "; ".join(bad))
print("PASS soak: back to the baseline")
PY
fi
