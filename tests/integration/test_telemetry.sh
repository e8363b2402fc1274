#!/usr/bin/env bash
# Telemetry end to end, every component real and on loopback:
#   hmesh-dataplane (net_pcap, a fixed capture: 900 QUIC packets to the MFN
#   and 100 non-IP frames) writes its stats segment; hmesh-stat reads it;
#   collectd runs the hmesh plugin and write_prometheus; Debian's Prometheus
#   scrapes collectd with telemetry/prometheus/prometheus.yml's relabelling
#   and evaluates telemetry/prometheus/rules/hmesh.yml.
# Checks:
#  1. hmesh-stat and Prometheus give the same counters as the dataplane's own
#     DPDK telemetry socket (/hmesh/stats), once the capture has been read.
#  2. Drops by reason, per-lcore series, port counters and the MFN layer
#     histogram (p95 recording rule) reach Prometheus under their names.
#  3. HmeshDropsHigh fires (10 % of the frames are dropped as not_ip); the
#     rules are the repository's, with `for:` cut to 0s so the test need not
#     wait five minutes.
#  4. collectd survives the dataplane restarting: a second run with another
#     capture (same segment name) shows up in Prometheus.
#  5. Every PromQL expression of every Grafana dashboard returns data (an
#     hmesh-stoq server beside them, its own segment, has served a GET and
#     stored a PUT: the STOQ dashboard's series).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=${HMESH_BUILD:-$top/build}
bin=$build/bin/hmesh-dataplane
stat=$build/bin/hmesh-stat
plugin=$build/lib/collectd/hmesh.so
tmp=$(mktemp -d)
prefix="hmt-tel-$$"
seg="dataplane-$prefix"
cseg="controld-$prefix"
sseg="stoq-$prefix"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$tmp" "/dev/shm/hmesh-$seg" "/dev/shm/hmesh-$cseg" "/dev/shm/hmesh-$sseg"
}
trap cleanup EXIT
export PYTHONPATH="$here"
fail() {
	echo "--- dataplane"; cat "$tmp"/dp*.log 2>/dev/null | tail -30
	echo "--- collectd"; tail -20 "$tmp/collectd.log" 2>/dev/null
	echo "--- prometheus"; tail -20 "$tmp/prom.log" 2>/dev/null
	echo "--- hmesh-stoq"; tail -20 "$tmp/stoq.log" 2>/dev/null
	echo "FAIL: $*"
	exit 1
}
for t in collectd prometheus promtool dpdk-telemetry.py curl ss; do
	command -v "$t" >/dev/null || fail "$t not installed (make setup)"
done
[[ -x "$bin" && -x "$stat" && -f "$plugin" && -x "$build/bin/hmesh-stoq" ]] || fail "build first (make all)"

python3 - "$tmp" <<'PY'
import sys
from pkt import *
tmp = sys.argv[1]
c = mac("02:00:00:00:00:01"); s = mac("02:00:00:00:00:02")
def capture(path, flows, per_flow, junk):
    fr = []
    for i in range(flows):
        src = [10, 0, i // 250, i % 250 + 1]
        fr.append(eth(s, c, ETH_IP4, ipv4_udp_ck(src, [10,100,0,1], 40000 + i, 4433,
                                                 quic_initial(bytes([i % 256]*8), bytes([7]*8)))))
        for j in range(per_flow - 1):
            fr.append(eth(s, c, ETH_IP4, ipv4_udp_ck(src, [10,100,0,1], 40000 + i, 4433,
                                                     quic_short(bytes([i % 256, j]*4), 80))))
    for i in range(junk):                 # not IP: dropped as not_ip
        fr.append(eth(s, c, 0x88b5, bytes(60)))
    write_pcap(path, fr)
capture(f"{tmp}/a.pcap", 300, 3, 100)     # 1000 frames
capture(f"{tmp}/b.pcap", 100, 2, 50)      # 250 frames
PY

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cd_port=$(free_port)
prom_port=$(free_port)

start_dataplane() { # $1 = capture, $2 = log, $3 = extra net_pcap arguments
	"$bin" --lcores=0-1 --no-pci --file-prefix="$prefix" --log-level='*:warning' \
		--vdev="net_pcap0,rx_pcap=$1,tx_pcap=$1.out${3:-}" -- \
		--duration 300 --set stoq_ports=4433 --set mfn=true --set mfn_dsr=false \
		--set "mfn_static=1@4433=10.1.0.1:5001,10.1.0.2:5002" >"$2" 2>&1 &
	dp_pid=$!
	pids+=("$dp_pid")
	for _ in $(seq 100); do
		grep -qs forwarding "$2" && return 0
		kill -0 "$dp_pid" 2>/dev/null || fail "dataplane exited at start"
		sleep 0.1
	done
	fail "dataplane did not start"
}
stop_dataplane() {
	kill -TERM "$dp_pid"
	wait "$dp_pid" || fail "dataplane exit status $?"
}
# /hmesh/stats over DPDK's telemetry socket, as JSON.
dp_telemetry() { echo /hmesh/stats | dpdk-telemetry.py -f "$prefix" 2>/dev/null | grep -m1 '^{'; }

# ---- collectd with the hmesh plugin and write_prometheus ---------------------
mkdir -p "$tmp/plugins"
# collectd loads plugins from one directory, and only regular files.
cp /usr/lib/collectd/write_prometheus.so /usr/lib/collectd/logfile.so "$plugin" "$tmp/plugins/"
cat >"$tmp/collectd.conf" <<EOF
Hostname "hmesh-test"
FQDNLookup false
Interval 1
BaseDir "$tmp"
PIDFile "$tmp/collectd.pid"
PluginDir "$tmp/plugins"
TypesDB "/usr/share/collectd/types.db"
LoadPlugin logfile
<Plugin logfile>
  LogLevel info
  File STDERR
</Plugin>
LoadPlugin hmesh
<Plugin hmesh>
  Segment "$seg"
  Segment "$cseg"
  Segment "$sseg"
  PerBlock true
  DpdkTelemetry "/var/run/dpdk/$prefix/dpdk_telemetry.v2"
</Plugin>
LoadPlugin write_prometheus
<Plugin write_prometheus>
  Port "$cd_port"
</Plugin>
EOF
collectd -t -C "$tmp/collectd.conf" || fail "collectd rejects the configuration"

# ---- Prometheus: the repository's scrape config and rules, 1 s intervals ----
mkdir -p "$tmp/prom/rules"
sed -e "s/localhost:9103/127.0.0.1:$cd_port/" -e 's/_interval: 10s/_interval: 1s/' \
	"$top/telemetry/prometheus/prometheus.yml" >"$tmp/prom/prometheus.yml"
sed -e 's/^\(\s*\)for: .*/\1for: 0s/' "$top/telemetry/prometheus/rules/hmesh.yml" \
	>"$tmp/prom/rules/hmesh.yml"
promtool check config "$tmp/prom/prometheus.yml" >/dev/null || fail "promtool check config"

# A controld beside it (its own segment): the control-plane dashboard's series.
ctl_port=$(free_port)
"$build/bin/hmesh-controld" --listen "127.0.0.1:$ctl_port" --state-dir "$tmp/ctl" --runtime none \
	--stats-segment "$cseg" >"$tmp/ctl.log" 2>&1 &
pids+=("$!")
for _ in $(seq 100); do
	curl -sf "http://127.0.0.1:$ctl_port/v1/health" >/dev/null 2>&1 && break
	sleep 0.05
done
curl -sf -XPOST -H 'Content-Type: application/json' -d '{"name":"tel","port":4433}' \
	"http://127.0.0.1:$ctl_port/v1/services" >/dev/null || fail "controld: a write failed"

# An hmesh-stoq server beside them (its own segment), its root on the disk so
# that the pager reads and writes: two GETs of one file (the second sent from
# the mapping the first left) and one PUT, the STOQ dashboard's series.
stoq_bin=$build/bin/hmesh-stoq
stoq_port=$(free_port)
bash "$top/stoq/stoq-cert.sh" "$tmp/pki" >/dev/null
mkdir -p "$tmp/stoq-root" "$tmp/stoq-dl"
head -c $((5 << 20)) /dev/urandom >"$tmp/stoq-root/chunk.bin"
"$stoq_bin" server --listen "127.0.0.1:$stoq_port" --root "$tmp/stoq-root" --cert "$tmp/pki/cert.pem" \
	--key "$tmp/pki/key.pem" --stats-segment "$sseg" >"$tmp/stoq.log" 2>&1 &
pids+=("$!")
for _ in $(seq 50); do
	ss -Hlun "sport = :$stoq_port" | grep -q . && break
	sleep 0.1
done
for _ in 1 2; do
	timeout 30 "$stoq_bin" client --ca "$tmp/pki/cert.pem" --download "$tmp/stoq-dl" \
		"https://localhost:$stoq_port/chunk.bin" >>"$tmp/stoq.log" 2>&1 || fail "hmesh-stoq: GET failed"
done
timeout 30 "$stoq_bin" client --ca "$tmp/pki/cert.pem" --put "$tmp/stoq-root/chunk.bin" \
	"https://localhost:$stoq_port/stored.bin" >>"$tmp/stoq.log" 2>&1 || fail "hmesh-stoq: PUT failed"
# stoq_aes_gcm_vaes says what the server said at start it seals with.
want=0
grep -q "AES-GCM packets on VAES" "$tmp/stoq.log" && want=1
grep -q "AES-GCM packets on" "$tmp/stoq.log" || fail "hmesh-stoq server did not say what it seals with"
# (No wait: the segment is published on the server's first turn, and it has
# served a GET and a PUT since.)
# "NAME VALUE" for every entry of the STOQ segment, into stoq-seg.txt.
seg_read() {
	"$stat" -s "$sseg" -j | python3 -c '
import json, sys
for e in json.load(sys.stdin)["values"]:
    if "value" in e: print(e["name"], e["value"])' >"$tmp/stoq-seg.txt" || fail "hmesh-stat: segment $sseg"
}
seg_read
seg_value() { awk -v n="$1" '$1 == n { print $2; f = 1 } END { exit !f }' "$tmp/stoq-seg.txt" ||
	fail "hmesh-stat: no $1 in segment $sseg"; }
got=$(seg_value stoq_aes_gcm_vaes)
[[ "$got" == "$want" ]] || fail "stoq_aes_gcm_vaes is $got, the server's log says $want"
echo "ok: stoq_aes_gcm_vaes $got, as the server said at start"
# The second GET of chunk.bin found the first one's mapping, still kept
# (file_cache_idle_ms is 10 s); the first mapped it. The server publishes
# every 100 ms, and the PUT may have taken less: read again until it has.
for _ in $(seq 30); do
	hits=$(seg_value stoq_file_cache_hits) misses=$(seg_value stoq_file_cache_misses)
	kept=$(seg_value stoq_file_cache_bytes)
	[[ "$hits" == 1 && "$misses" == 1 && "$kept" == $((5 << 20)) ]] && break
	sleep 0.1
	seg_read
done
[[ "$hits" == 1 && "$misses" == 1 && "$kept" == $((5 << 20)) ]] ||
	fail "file cache: $hits hits, $misses misses, $kept bytes kept; want 1, 1, $((5 << 20))"
echo "ok: the second GET was sent from the first one's mapping ($kept bytes kept)"
start_dataplane "$tmp/a.pcap" "$tmp/dp1.log"
collectd -f -C "$tmp/collectd.conf" >"$tmp/collectd.log" 2>&1 &
pids+=("$!")
prometheus --config.file="$tmp/prom/prometheus.yml" --storage.tsdb.path="$tmp/prom/data" \
	--web.listen-address="127.0.0.1:$prom_port" >"$tmp/prom.log" 2>&1 &
pids+=("$!")

api="http://127.0.0.1:$prom_port/api/v1"
# Instant query → the single value, or "" when the result is empty.
promq() {
	curl -sf --get "$api/query" --data-urlencode "query=$1" | python3 -c '
import json, sys
r = json.load(sys.stdin)["data"]["result"]
print(r[0]["value"][1] if r else "")'
}
wait_for() { # $1 = query, $2 = expected value, $3 = what
	for _ in $(seq 60); do
		[[ "$(promq "$1" 2>/dev/null || true)" == "$2" ]] && return 0
		sleep 0.5
	done
	fail "$3: Prometheus has $1 = '$(promq "$1" || true)', expected $2"
}

# ---- 1. the same counters everywhere ----------------------------------------
sleep 1
tel=$(dp_telemetry) || fail "no reply from the DPDK telemetry socket"
read -r rx parsed not_ip hits l3 <<<"$(python3 -c '
import json, sys
s = json.loads(sys.argv[1])["/hmesh/stats"]
print(s["rx_packets"], s["parsed"], s["drops"]["not_ip"], s["mfn_l1_hits"], s["mfn_l3_decisions"])' "$tel")"
[[ "$rx" == 1000 && "$not_ip" == 100 ]] || fail "dataplane read rx=$rx not_ip=$not_ip of the capture, expected 1000 and 100"
hs=$("$stat" -s "$seg" -j) || fail "hmesh-stat failed"
python3 - "$hs" "$rx" "$parsed" "$not_ip" "$l3" <<'PY' || fail "hmesh-stat disagrees with the telemetry socket"
import json, sys
d = json.loads(sys.argv[1]); rx, parsed, not_ip, l3 = map(int, sys.argv[2:6])
v = {(e["name"], e["labels"], e["block"]): e for e in d["values"]}
assert v[("rx_packets", "", "")]["value"] == rx, v[("rx_packets", "", "")]
assert v[("parsed", "", "")]["value"] == parsed
assert v[("drops", "reason=not_ip", "")]["value"] == not_ip
assert v[("port_rx_packets", "port=0", "")]["value"] == rx
assert l3 >= 300, l3  # one per flow, more if a flow's pending slot was taken
assert v[("mfn_layer_seconds", "layer=l3", "")]["count"] == l3, v[("mfn_layer_seconds", "layer=l3", "")]
PY
echo "ok: hmesh-stat: rx_packets $rx, parsed $parsed, not_ip $not_ip, $l3 L3 decisions timed"

wait_for 'hmesh_rx_packets_total{lcore=""}' "$rx" "rx_packets"
wait_for 'hmesh_parsed_total' "$parsed" "parsed"
wait_for 'hmesh_drops_total{reason="not_ip"}' "$not_ip" "drops{reason=not_ip}"
wait_for 'hmesh_mfn_l1_hits_total' "$hits" "mfn_l1_hits"
wait_for 'hmesh_port_rx_packets_total{port="0"}' "$rx" "port_rx_packets{port=0}"
wait_for 'hmesh_mfn_layer_seconds_count{layer="l3"}' "$l3" "mfn_layer_seconds_count{layer=l3}"
wait_for 'sum(hmesh_rx_packets_total{lcore!=""})' "$rx" "per-lcore rx_packets summed"
wait_for 'count(hmesh_rx_polls_total{lcore="1",role="rtc",process="'"$seg"'"})' 1 "per-lcore series labels"
echo "ok: Prometheus agrees with the telemetry socket (rx $rx, parsed $parsed, not_ip $not_ip, L1 hits $hits)"
# The PMD's own port counters, from DPDK's telemetry socket (/ethdev/xstats).
wait_for 'hmesh_port_xstats_total{port="0",stat="rx_good_packets",process="dpdk"}' "$rx" "port_xstats rx_good_packets"
echo "ok: collectd reads the PMD's xstats from the DPDK telemetry socket (rx_good_packets $rx)"

# ---- 2. recording rules --------------------------------------------------------
# The capture was read before the first scrape, so rates are 0 and the
# recording rule's quantile is NaN; the series must exist all the same, and
# the quantile over the cumulative buckets must be a real latency.
wait_for 'count(hmesh:mfn_layer_seconds:p95{layer="l3"})' 1 "L3 p95 recording rule"
wait_for 'count(histogram_quantile(0.95, sum by (le) (hmesh_mfn_layer_seconds_bucket{layer="l3"})) > 0)' 1 \
	"L3 p95 from the buckets"

# ---- 4. the writer restarts ----------------------------------------------------
stop_dataplane
start_dataplane "$tmp/b.pcap" "$tmp/dp2.log"
wait_for 'hmesh_rx_packets_total{lcore=""}' 250 "rx_packets after the dataplane restarted"
grep -q "replaced or removed; reopening\|is back" "$tmp/collectd.log" ||
	fail "collectd did not log the segment change"
echo "ok: collectd followed the restarted dataplane (rx_packets 250)"
stop_dataplane

# ---- 3. traffic that keeps coming, 20 % of it not IP: the drop alert fires ------
start_dataplane "$tmp/b.pcap" "$tmp/dp3.log" ",infinite_rx=1"
for _ in $(seq 60); do
	firing=$(curl -sf "$api/alerts" | python3 -c '
import json, sys
a = json.load(sys.stdin)["data"]["alerts"]
print(" ".join(sorted(x["labels"]["alertname"] for x in a if x["state"] == "firing")))')
	[[ " $firing " == *" HmeshDropsHigh "* ]] && break
	sleep 0.5
done
[[ " $firing " == *" HmeshDropsHigh "* ]] || fail "HmeshDropsHigh did not fire (firing: $firing)"
[[ " $firing " != *" HmeshDataplaneDown "* ]] || fail "HmeshDataplaneDown fires while the dataplane runs"
[[ " $firing " != *" HmeshControldDataplaneDisconnected "* ]] ||
	fail "HmeshControldDataplaneDisconnected fires for a controld that has no dataplane"
echo "ok: alerts firing: $firing"

# ---- 5. every dashboard panel has data ------------------------------------------
n=0
for dash in "$top"/telemetry/grafana/*.json; do
	[[ -e "$dash" ]] || continue
	while IFS= read -r expr; do
		[[ -n "$expr" ]] || continue
		n=$((n + 1))
		got=$(curl -sf --get "$api/query" --data-urlencode "query=$expr" | python3 -c '
import json, sys
print(len(json.load(sys.stdin)["data"]["result"]))') || fail "$(basename "$dash"): query error: $expr"
		[[ "$got" -gt 0 ]] || fail "$(basename "$dash"): no data for: $expr"
	done < <(python3 - "$dash" <<'PY'
import json, sys
# Grafana variables as a live query would expand them.
subst = {"$__rate_interval": "30s", "$__interval": "5s", "$__range": "1m", "$instance": ".+"}
def panels(ps):
    for p in ps:
        yield p
        yield from panels(p.get("panels", []))
for p in panels(json.load(open(sys.argv[1]))["panels"]):
    for t in p.get("targets", []):
        e = t.get("expr", "")
        for k, v in subst.items():
            e = e.replace(k, v)
        print(" ".join(e.split()))
PY
)
done
echo "ok: $n dashboard queries return data"
stop_dataplane
echo "PASS: telemetry: segment, hmesh-stat, collectd, Prometheus, rules, dashboards"
