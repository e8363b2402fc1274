#!/usr/bin/env bash
# What telemetry costs the dataplane, in one run, same core:
#   1. the per-lcore counter blocks in the stats segment (a MAP_SHARED file
#      in /dev/shm that hmesh-stat and collectd read) vs in private memory
#      (stats_segment = off);
#   2. collectd reading that segment every second (hmesh plugin, and
#      write_prometheus serving the result) vs nobody reading it;
#   3. the packet-path counters compiled in vs compiled out (a second build,
#      make DP_STATS=off, in BUILD-nostats).
# Packet rates come from the PMD's own count (port_rx_packets), which both
# builds keep.
# The path is the net_ring closed loop with the MFN on (L1 lookup, per-layer
# counters and the L1 histogram on every burst), 512 packets in flight.
# Runs alternate A/B ROUNDS times; the figure is the median of the ratios,
# so a drift of the host's load over the run does not pick a side.
#
# Usage: perf/telemetry.sh [-d SECONDS] [-r ROUNDS]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${HMESH_BUILD:-$top/build}
bin=$build/bin/hmesh-dataplane
plugin=$build/lib/collectd/hmesh.so
dur=3
rounds=3
while getopts "d:r:h" o; do
	case $o in
	d) dur=$OPTARG ;;
	r) rounds=$OPTARG ;;
	h) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) exit 2 ;;
	esac
done
[[ -x "$bin" && -f "$plugin" ]] || { echo "perf/telemetry.sh: build first (make all)" >&2; exit 1; }
command -v collectd >/dev/null || { echo "perf/telemetry.sh: collectd missing (make setup)" >&2; exit 1; }
tmp=$(mktemp -d)
cd_pid=
prefix="hmp-tel-$$"
trap '[[ -n "$cd_pid" ]] && kill "$cd_pid" 2>/dev/null; rm -rf "$tmp"; "$top/scripts/dpdk-leftovers.sh" "$prefix"' EXIT

pps() { # app args... (PPS_BIN: another binary)
	"${PPS_BIN:-$bin}" --lcores=0-1 --no-pci --file-prefix="$prefix" --log-level='*:warning' --vdev=net_ring0 -- \
		--set gen_packets=512 --set gen_size=64 --set gen_flows=4096 --set stoq_ports=443 \
		--set mfn=true --set mfn_dsr=false \
		--set "mfn_static=1@443=10.100.0.1:443,10.100.0.1:443*2" \
		--duration "$dur" "$@" >"$tmp/hm.log" 2>&1 || { cat "$tmp/hm.log" >&2; return 1; }
	python3 -c '
import json, sys
s = json.loads(open(sys.argv[1]).read().split("stats-json: ")[1].splitlines()[0])
if s["drops_total"]:
    sys.exit("packets dropped: the loop lost its load")
print(int(s["port_rx_packets"] / s["seconds"]))' "$tmp/hm.log"
}
# The comparison build, counters compiled out (incremental after the first time).
make -s -C "$top" BUILD="$build-nostats" DP_STATS=off "$build-nostats/bin/hmesh-dataplane" >/dev/null
bin_off=$build-nostats/bin/hmesh-dataplane

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# shellcheck source=../scripts/collectd-conf.sh
source "$top/scripts/collectd-conf.sh"
collectd_conf "$tmp" "$plugin" "$port" 1 "dataplane-$prefix"

seg_r=()
cd_r=()
off_r=()
for _ in $(seq "$rounds"); do
	off=$(pps --set stats_segment=off)
	on=$(pps)
	seg_r+=("$(awk -v a="$on" -v b="$off" 'BEGIN{printf "%.4f", a/b}')")
	seg_on=$on
	seg_off=$off
	collectd -f -C "$tmp/collectd.conf" >"$tmp/collectd.log" 2>&1 &
	cd_pid=$!
	scraped=$(pps)
	kill "$cd_pid"
	wait "$cd_pid" 2>/dev/null || true
	cd_pid=
	cd_r+=("$(awk -v a="$scraped" -v b="$on" 'BEGIN{printf "%.4f", a/b}')")
	cd_on=$scraped
	# Same settings as "off" above (private counters), counters compiled out.
	none=$(PPS_BIN=$bin_off pps --set stats_segment=off)
	off_r+=("$(awk -v a="$off" -v b="$none" 'BEGIN{printf "%.4f", a/b}')")
	c_off=$off
	c_none=$none
done
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END{print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
seg_m=$(median "${seg_r[@]}")
cd_m=$(median "${cd_r[@]}")
off_m=$(median "${off_r[@]}")
printf '\n%-46s %12s %12s %8s\n' "benchmark (net_ring loop, MFN on, 64 B)" "with Mpps" "without Mpps" "ratio"
printf '%-46s %12.2f %12.2f %8s\n' "counters in the stats segment vs private" \
	"$(awk -v a="$seg_on" 'BEGIN{print a/1e6}')" "$(awk -v a="$seg_off" 'BEGIN{print a/1e6}')" "$seg_m"
printf '%-46s %12.2f %12.2f %8s\n' "collectd reading the segment every 1 s vs not" \
	"$(awk -v a="$cd_on" 'BEGIN{print a/1e6}')" "$(awk -v a="$seg_on" 'BEGIN{print a/1e6}')" "$cd_m"
printf '%-46s %12.2f %12.2f %8s\n' "counters compiled in vs out" \
	"$(awk -v a="$c_off" 'BEGIN{print a/1e6}')" "$(awk -v a="$c_none" 'BEGIN{print a/1e6}')" "$off_m"
echo "(ratios are the median over $rounds alternating rounds: ${seg_r[*]} / ${cd_r[*]} / ${off_r[*]})"
echo "{\"bench\":\"telemetry_segment\",\"vdev\":\"net_ring\",\"size\":64,\"metric\":\"pps_per_core\",\"value\":$seg_on,\"ref\":$seg_off,\"ref_name\":\"stats_segment_off\",\"ratio\":$seg_m}"
echo "{\"bench\":\"telemetry_counters\",\"vdev\":\"net_ring\",\"size\":64,\"metric\":\"pps_per_core\",\"value\":$c_off,\"ref\":$c_none,\"ref_name\":\"counters_compiled_out\",\"ratio\":$off_m}"
echo "{\"bench\":\"telemetry_collectd\",\"vdev\":\"net_ring\",\"size\":64,\"metric\":\"pps_per_core\",\"value\":$cd_on,\"ref\":$seg_on,\"ref_name\":\"collectd_off\",\"ratio\":$cd_m}"
