#!/usr/bin/env bash
# Memory of a node's processes against the 450 MB per-node budget: resident
# set (VmRSS) plus hugepage memory (HugetlbPages in /proc/PID/status, which
# VmRSS does not count), measured while it carries traffic:
#   1. hmesh-dataplane alone, default configuration (the system-wide
#      HugePages_Free drop is printed beside it as a cross-check);
#   2. the whole node as `make run` brings it up (scripts/run-node.sh):
#      dataplane in router mode, controld, its two hmesh-stoq containers and
#      collectd, while the client downloads through it. Prometheus is shown
#      apart (monitoring, not the node). RSS summed over processes counts
#      shared libraries once per process: an upper bound.
#
#   perf/memory.sh [-b BUDGET_MB] [-s] (-s: the dataplane alone only)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${HMESH_BUILD:-$top/build}
budget=450
single=0
while getopts "b:sh" o; do
	case $o in
	b) budget=$OPTARG ;;
	s) single=1 ;;
	h) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) exit 2 ;;
	esac
done
tmp=$(mktemp -d)
pid=
node=
trap '[[ -n "$pid" ]] && kill "$pid" 2>/dev/null && wait "$pid"; [[ -n "$node" ]] && kill -INT "$node" 2>/dev/null && wait "$node"; rm -rf "$tmp"; "$top/scripts/dpdk-leftovers.sh" "hmp-mem-$$"' EXIT
hp_free() { awk '/^HugePages_Free/ {print $2}' /proc/meminfo; }
hp_size_kb=$(awk '/^Hugepagesize/ {print $2}' /proc/meminfo)

free0=$(hp_free)
"$build/bin/hmesh-dataplane" -l 0-1 --no-pci --file-prefix="hmp-mem-$$" --log-level='*:warning' \
	--vdev=net_ring0 -- --set gen_packets=512 >"$tmp/dp.log" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q forwarding "$tmp/dp.log" && break; sleep 0.1; done
sleep 2
rss_kb=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
hugetlb_kb=$(awk '/^HugetlbPages/ {print $2}' "/proc/$pid/status")
free1=$(hp_free)
kill -INT "$pid"
wait "$pid"
pid=
sys_huge_mb=$(((free0 - free1) * hp_size_kb / 1024))
huge_mb=$((hugetlb_kb / 1024))
rss_mb=$((rss_kb / 1024))
foot=$((rss_mb + huge_mb))
ratio=$(awk -v a="$foot" -v b="$budget" 'BEGIN{printf "%.3f", a/b}')
printf '\n%-28s %8s %14s %9s %10s %7s\n' process "RSS MB" "hugepages MB" "total MB" "budget MB" "ratio"
printf '%-28s %8s %14s %9s %10s %7s\n' "hmesh-dataplane (defaults)" "$rss_mb" "$huge_mb" "$foot" "$budget" "$ratio"
echo "(system-wide hugepages taken while it ran: $sys_huge_mb MB)"
echo
echo "{\"bench\":\"memory\",\"vdev\":\"hmesh-dataplane\",\"size\":0,\"metric\":\"mb\",\"value\":$foot,\"rss_mb\":$rss_mb,\"hugepage_mb\":$huge_mb,\"ref\":$budget,\"ref_name\":\"node_budget_mb\",\"ratio\":$ratio}"
((single)) && exit 0

echo "==> the whole node, as make run brings it up (30 s)"
bash "$top/scripts/run-node.sh" "$build" --duration 30 >"$tmp/node.log" 2>&1 &
node=$!
for _ in $(seq 900); do
	grep -q "^  flows" "$tmp/node.log" && break
	kill -0 "$node" 2>/dev/null || { tail -20 "$tmp/node.log"; echo "perf/memory.sh: the node did not come up" >&2; exit 1; }
	sleep 0.1
done
sleep 4 # a few rounds of downloads
# sum_mem PID... -> "RSS_MB HUGEPAGE_MB"
sum_mem() {
	local r=0 h=0 p
	for p in "$@"; do
		read -r a b < <(awk '/^VmRSS/ {r=$2} /^HugetlbPages/ {h=$2} END {print r+0, h+0}' "/proc/$p/status" 2>/dev/null || echo "0 0")
		r=$((r + a))
		h=$((h + b))
	done
	echo "$((r / 1024)) $((h / 1024))"
}
declare -A pids=(
	["hmesh-dataplane"]="$(pgrep -f 'hmesh-dataplane.*file-prefix=hmesh-node' | tr '\n' ' ')"
	["hmesh-controld"]="$(pgrep -f 'hmesh-controld --listen 127.0.0.1:8080' | tr '\n' ' ')"
	["containers (hmesh-stoq x2)"]="$(pgrep -f 'hmesh-stoq server --listen 0.0.0.0:4433' | tr '\n' ' ')"
	["collectd"]="$(pgrep -f "collectd -f -C /tmp/" | tr '\n' ' ')"
)
prom=$(pgrep -f 'prometheus --config.file=/tmp/' | tr '\n' ' ')
total=0
printf '\n%-28s %8s %14s %9s\n' process "RSS MB" "hugepages MB" "total MB"
for name in "hmesh-dataplane" "hmesh-controld" "containers (hmesh-stoq x2)" "collectd"; do
	[[ -n "${pids[$name]}" ]] || { echo "perf/memory.sh: no $name process found" >&2; exit 1; }
	# shellcheck disable=SC2086
	read -r r h < <(sum_mem ${pids[$name]})
	printf '%-28s %8s %14s %9s\n' "$name" "$r" "$h" "$((r + h))"
	total=$((total + r + h))
done
# shellcheck disable=SC2086
read -r pr ph < <(sum_mem $prom)
nratio=$(awk -v a="$total" -v b="$budget" 'BEGIN{printf "%.3f", a/b}')
printf '%-28s %8s %14s %9s   budget %s MB, ratio %s\n' "node total" "" "" "$total" "$budget" "$nratio"
printf '%-28s %8s %14s %9s   (monitoring, not counted)\n' "prometheus" "$pr" "$ph" "$((pr + ph))"
kill -INT "$node"
wait "$node" || true
node=
echo
echo "{\"bench\":\"memory_node\",\"vdev\":\"make_run\",\"size\":0,\"metric\":\"mb\",\"value\":$total,\"ref\":$budget,\"ref_name\":\"node_budget_mb\",\"ratio\":$nratio}"
