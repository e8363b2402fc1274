#!/usr/bin/env bash
# hmesh-dataplane on net_ring (a loopback port) with the built-in generator,
# in run-to-completion and pipeline layouts: counters are read live through
# DPDK telemetry (dpdk-telemetry.py), SIGTERM shuts down gracefully, and
# every received packet is accounted for (transmitted or dropped by reason).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
bin=${HMESH_BUILD:-$top/build}/bin/hmesh-dataplane
tmp=$(mktemp -d)
dp_pid=
cleanup() {
	[[ -n "$dp_pid" ]] && kill -9 "$dp_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

run() { # $1 = label, $2 = lcores, rest = app args
	local label=$1 lcores=$2 prefix="hmt-ring-$$-$1"
	shift 2
	"$bin" --lcores="$lcores" --no-pci --file-prefix="$prefix" --log-level='*:warning' \
		--vdev=net_ring0 -- --set gen_packets=256 --set gen_flows=64 "$@" \
		>"$tmp/$label.log" 2>&1 &
	dp_pid=$!
	for _ in $(seq 100); do
		grep -q forwarding "$tmp/$label.log" && break
		sleep 0.1
	done
	sleep 1
	# dpdk-telemetry.py reads commands from stdin and prints one JSON reply each.
	printf '/hmesh/stats\n/hmesh/ports\n/hmesh/lcores\n' |
		dpdk-telemetry.py -f "$prefix" >"$tmp/$label.tel" 2>&1 || true
	kill -TERM "$dp_pid"
	wait "$dp_pid" || {
		cat "$tmp/$label.log"
		echo "FAIL ($label): exit status $?"
		exit 1
	}
	dp_pid=
	python3 - "$tmp/$label.log" "$tmp/$label.tel" "$label" <<'PY'
import json, re, sys
log, tel, label = open(sys.argv[1]).read(), open(sys.argv[2]).read(), sys.argv[3]
def fail(m):
    print(log); print(tel); sys.exit(f"FAIL ({label}): {m}")
replies = {}
for line in tel.splitlines():
    line = line.strip()
    if line.startswith("{"):
        try:
            replies.update(json.loads(line))
        except ValueError:
            pass
for cmd in ("/hmesh/stats", "/hmesh/ports", "/hmesh/lcores"):
    if cmd not in replies: fail(f"telemetry has no {cmd} reply")
live = replies["/hmesh/stats"]
if live["rx_packets"] <= 256: fail(f"live rx_packets {live['rx_packets']}: packets are not circulating")
if "ring_full_worker" not in live["drops"] or "quic_cid_too_long" not in live["drops"]:
    fail("drop reasons missing from /hmesh/stats")
port = replies["/hmesh/ports"]["0"]
if port["driver"] != "net_ring" or port["opackets"] == 0 or port["mtu"] != 1500:
    fail(f"/hmesh/ports: {port}")
if not any(v["rx_packets"] > 0 for v in replies["/hmesh/lcores"].values()): fail("/hmesh/lcores")
s = json.loads(log.split("stats-json: ")[1].splitlines()[0])
if s["rx_packets"] < live["rx_packets"]: fail("final below live counters")
if s["drops_total"] != 0: fail(f"drops on a clean loop: {s['drops']}")
# Conservation: after the staged shutdown drained the rings, every packet
# received was transmitted (none was in flight inside the dataplane).
if s["rx_packets"] != s["tx_packets"] + s["drops_total"]:
    fail(f"rx {s['rx_packets']} != tx {s['tx_packets']} + drops {s['drops_total']}")
if s["quic_long"] == 0 or s["quic_short"] == 0: fail("generator mix missing a QUIC type")
m = re.search(r"layout: ([a-z-]+)", log)
print(f"ok ({label}): layout {m.group(1) if m else '?'}, {s['rx_packets']} packets, "
      f"{s['rx_packets'] / s['seconds'] / 1e6:.1f} Mpps, telemetry live")
PY
}

run rtc 0@0,1@1
grep -q 'layout: run-to-completion' "$tmp/rtc.log" || { cat "$tmp/rtc.log"; exit 1; }
# Three lcores on this two-core machine: main, one RX, one worker (+TX).
run pipeline 0@0,1@1,2@1 --set layout=pipeline
grep -q 'layout: pipeline' "$tmp/pipeline.log" || { cat "$tmp/pipeline.log"; exit 1; }
grep -Eq '^  [0-9]+ +rx ' "$tmp/pipeline.log" && grep -Eq '^  [0-9]+ +worker ' "$tmp/pipeline.log" || {
	cat "$tmp/pipeline.log"
	echo "FAIL: pipeline layout table lacks rx/worker lcores"
	exit 1
}
# A separate TX stage: main, RX, worker, TX.
run pipeline_tx 0@0,1@1,2@1,3@0 --set rx_lcores=1 --set worker_lcores=2 --set tx_lcores=3
grep -q 'hmesh_t3' "$tmp/pipeline_tx.log" || { cat "$tmp/pipeline_tx.log"; exit 1; }
echo "PASS: dataplane on net_ring (rtc, pipeline, pipeline with TX lcore)"
