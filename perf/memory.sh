#!/usr/bin/env bash
# Memory of a node's processes against the 450 MB per-node budget: resident
# set (VmRSS) plus hugepage memory (HugetlbPages in /proc/PID/status, which
# VmRSS does not count), measured with the default configuration while it
# forwards traffic. The system-wide HugePages_Free drop is printed beside it
# as a cross-check.
#
#   perf/memory.sh [-b BUDGET_MB]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${HMESH_BUILD:-$top/build}
budget=450
while getopts "b:h" o; do
	case $o in
	b) budget=$OPTARG ;;
	h) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) exit 2 ;;
	esac
done
tmp=$(mktemp -d)
pid=
trap '[[ -n "$pid" ]] && kill "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
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
