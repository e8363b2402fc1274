#!/usr/bin/env bash
# Replicated writes, for real, on this machine: hmesh-controld clusters
# (PBFT, f = (N-1)/3, every member on loopback with fsync'd logs) of
# N = 4, 7 and 10 with batching on (batch_max 16, pipeline_max 2: requests
# gather while two batches are in flight) and off (1, no pipeline limit), and the
# reference in the same script: etcd (Debian's etcd-server, Raft, 3 members,
# crash faults only) on the same loopback and disk, same client
# (perf/writeload.py, HTTP keep-alive, writes spread over the members).
#   latency     one client, writes back to back: p50/p99 ms
#   throughput  C clients for S seconds: acknowledged writes per second
# Ratios are etcd / ours (above 1: we are faster). The goal is PBFT at
# N = 4 within 2x of etcd's p50 write latency (ratio >= 0.5).
# Then the simulator (perf/consensus_sim): commit latency vs N with a fixed
# link delay, against the protocol's bound of 4 delays.
#
# Usage: perf/consensus.sh [-n WRITES] [-c CLIENTS] [-s SECONDS] [-N "4 7 10"]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
export HMESH_BUILD=${HMESH_BUILD:-$top/build}
writes=300
clients=16
secs=5
sizes="4 7 10"
while getopts "n:c:s:N:h" o; do
	case $o in
	n) writes=$OPTARG ;;
	c) clients=$OPTARG ;;
	s) secs=$OPTARG ;;
	N) sizes=$OPTARG ;;
	h) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) exit 2 ;;
	esac
done
[[ -x "$HMESH_BUILD/bin/hmesh-controld" ]] || { echo "perf/consensus.sh: build first (make all)" >&2; exit 1; }
command -v etcd >/dev/null || { echo "perf/consensus.sh: etcd missing (make setup installs etcd-server)" >&2; exit 1; }
# shellcheck source=../scripts/cluster-lib.sh
source "$top/scripts/cluster-lib.sh"
tmp=$(mktemp -d)
etcd_pids=()
members=0
cleanup() {
	for ((i = 0; i < members; i++)); do cluster_kill "$tmp/c" $i; done
	for p in "${etcd_pids[@]}"; do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
base=$((30000 + ($$ % 1000) * 20))
load() { python3 "$top/perf/writeload.py" "$@"; }
field() { python3 -c "import json,sys; print(json.loads(sys.argv[1])['$2'])" "$1"; }

# ---- etcd, 3 members ----------------------------------------------------------------
ecluster=
eurls=
for i in 0 1 2; do
	ecluster+="${ecluster:+,}e$i=http://127.0.0.$((i + 1)):$((base + 10 + i))"
	eurls+="${eurls:+,}http://127.0.0.$((i + 1)):$((base + 13 + i))"
done
for i in 0 1 2; do
	etcd --name "e$i" --data-dir "$tmp/etcd$i" \
		--listen-peer-urls "http://127.0.0.$((i + 1)):$((base + 10 + i))" \
		--initial-advertise-peer-urls "http://127.0.0.$((i + 1)):$((base + 10 + i))" \
		--listen-client-urls "http://127.0.0.$((i + 1)):$((base + 13 + i))" \
		--advertise-client-urls "http://127.0.0.$((i + 1)):$((base + 13 + i))" \
		--initial-cluster "$ecluster" --initial-cluster-state new \
		--log-level error >"$tmp/etcd$i.log" 2>&1 &
	etcd_pids+=($!)
done
for _ in $(seq 200); do
	curl -sf "http://127.0.0.1:$((base + 13))/health" | grep -q '"true"' && break
	sleep 0.1
done
curl -sf "http://127.0.0.1:$((base + 13))/health" | grep -q '"true"' || { tail "$tmp"/etcd*.log; echo "etcd did not come up" >&2; exit 1; }
load --kind etcd --urls "$eurls" --clients 1 --count 20 --tag warm >/dev/null
e_lat=$(load --kind etcd --urls "$eurls" --clients 1 --count "$writes" --tag lat)
e_thr=$(load --kind etcd --urls "$eurls" --clients "$clients" --seconds "$secs" --tag thr)
for p in "${etcd_pids[@]}"; do kill "$p" 2>/dev/null; done
wait "${etcd_pids[@]}" 2>/dev/null || true
etcd_pids=()
e_p50=$(field "$e_lat" p50_ms)
e_per_s=$(field "$e_thr" per_s)

printf '\nreplicated writes on loopback: %s writes back to back (latency), %s clients for %s s (throughput)\n' \
	"$writes" "$clients" "$secs"
printf '%-22s %9s %9s %10s %12s %12s\n' system "p50 ms" "p99 ms" "writes/s" "p50 ratio" "tput ratio"
printf '%-22s %9s %9s %10s %12s %12s\n' "etcd 3.4 Raft N=3" "$e_p50" "$(field "$e_lat" p99_ms)" \
	"$e_per_s" 1.000 1.000
json=()
for n in $sizes; do
	for batch in 16 1; do
		rm -rf "$tmp/c"
		cluster_make "$tmp/c" "$n" "$base" $((base + 100)) \
			"{\"batch_max\": $batch, \"pipeline_max\": $((batch > 1 ? 2 : 0)), \"checkpoint_interval\": 64, \"window\": 256}" >/dev/null
		members=$n
		for ((i = 0; i < n; i++)); do
			cluster_start "$tmp/c" $i || { tail "$tmp/c/log.$i"; exit 1; }
		done
		for ((i = 0; i < n; i++)); do cluster_wait_connected "$tmp/c" $i || exit 1; done
		urls=
		for ((i = 0; i < n; i++)); do urls+="${urls:+,}$(cluster_api "$tmp/c" $i)"; done
		load --kind controld --urls "$urls" --clients 1 --count 20 --tag warm >/dev/null
		lat=$(load --kind controld --urls "$urls" --clients 1 --count "$writes" --tag lat)
		thr=$(load --kind controld --urls "$urls" --clients "$clients" --seconds "$secs" --tag thr)
		for ((i = 0; i < n; i++)); do cluster_kill "$tmp/c" $i TERM; done
		members=0
		p50=$(field "$lat" p50_ms)
		per_s=$(field "$thr" per_s)
		mode=$([[ $batch -gt 1 ]] && echo on || echo off)
		rl=$(python3 -c "print(f'{$e_p50 / $p50:.3f}')")
		rt=$(python3 -c "print(f'{$per_s / $e_per_s:.3f}')")
		printf '%-22s %9s %9s %10s %12s %12s\n' "hmesh PBFT N=$n batch $mode" "$p50" \
			"$(field "$lat" p99_ms)" "$per_s" "$rl" "$rt"
		json+=("{\"bench\":\"consensus_$([[ $batch -gt 1 ]] && echo batch || echo nobatch)\",\"vdev\":\"n$n\",\"size\":$writes,\"metric\":\"write_p50_ms\",\"value\":$p50,\"ref\":$e_p50,\"ref_name\":\"etcd_raft_3\",\"ratio\":$rl}")
		json+=("{\"bench\":\"consensus_tput_$([[ $batch -gt 1 ]] && echo batch || echo nobatch)\",\"vdev\":\"n$n\",\"size\":$clients,\"metric\":\"writes_per_s\",\"value\":$per_s,\"ref\":$e_per_s,\"ref_name\":\"etcd_raft_3\",\"ratio\":$rt}")
	done
done
echo
printf '%s\n' "${json[@]}"
echo
echo "simulator: commit latency vs N with a fixed link delay (perf/consensus_sim)"
"$HMESH_BUILD/perf/consensus_sim" --requests 64
