#!/usr/bin/env bash
# End to end on one node, every part real: a STOQ client in a "client"
# network namespace downloads over QUIC from service address 10.77.0.1:4433;
# hmesh-dataplane (router mode: net_af_packet on two veth ports, MFN on)
# decides each new connection (L2, L3), rewrites it to a backend and sends
# it toward the backends; the backends are containers that hmesh-controld
# runs with hmesh-run (the real hmesh-stoq server) and registered when their
# port answered; the host routes between the dataplane's backend port and
# the container bridge; replies come back through the dataplane, which gives
# them the service address as their source.
#   1. parallel downloads through the dataplane: the bytes match, the
#      certificate verifies for 10.77.0.1;
#   2. ngtcp2's own gtlsclient (Debian's ngtcp2-client) downloads the same
#      through the appliance;
#   3. a container killed with -9: new downloads succeed on the other one
#      while it is restarted; then it serves again;
#   4. the dataplane killed with -9 and restarted: controld gives it the
#      state again and downloads resume;
#   4b. clients whose address changes mid-download (NAT rebinding) keep
#      their backend: the CIDs carry its id (QUIC-LB, mfn_quic_lb);
#   5. autoscaling: with flows_per_replica set, a stream of new connections
#      makes the L4 forecast ask for more replicas, and its end for fewer;
#   6. router-mode configuration errors name the key.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=${HMESH_BUILD:-$top/build}
dp=$build/bin/hmesh-dataplane
ctld=$build/bin/hmesh-controld
stoq=$build/bin/hmesh-stoq
# The QUIC-LB key the servers encrypt their CIDs with and the dataplane reads them with.
cid_key=$(od -An -tx1 -N16 /dev/urandom | tr -d " \n")
tmp=$(mktemp -d)
export HMESH_RUN_ROOT=$tmp/rt
ns=hme-$$
dp_if=hmea$$     # dataplane port 0: the client side
cl_if=hmec$$
dpb_if=hmeb$$    # dataplane port 1: the backend side
rt_if=hmer$$     # its peer: the host, which routes to the containers
br=hmeg$$
# Containers on 10.120-219.x; the client is 10.77.0.0/24, the router link
# 10.250.x.0/30: they never meet.
cnet=10.$((($$ / 256) % 100 + 120)).$(($$ % 256))
sock=$tmp/dp.sock
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
api=http://127.0.0.1:$port
fwd0=$(sysctl -n net.ipv4.ip_forward)
# shellcheck source=../../scripts/netns.sh
. "$top/scripts/netns.sh"
dp_pid=
cd_pid=
cleanup() {
	[[ -n "$cd_pid" ]] && kill "$cd_pid" 2>/dev/null && wait "$cd_pid" 2>/dev/null
	[[ -n "$dp_pid" ]] && kill "$dp_pid" 2>/dev/null && wait "$dp_pid" 2>/dev/null
	for d in "$tmp"/rt/*/; do [[ -d "$d" ]] && "$build/bin/hmesh-run" delete --force "$(basename "$d")" 2>/dev/null; done
	router_teardown "$ns" "$dp_if" "$dpb_if" "$br" "$fwd0"
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
	echo "--- dataplane"; tail -30 "$tmp/dp.log" 2>/dev/null || true
	echo "--- controld"; tail -20 "$tmp/cd.log" 2>/dev/null || true
	for l in "$tmp"/state/containers/*/log; do [[ -e "$l" ]] && { echo "--- $l"; tail -5 "$l"; }; done
	echo "FAIL: $*"
	exit 1
}
for t in ethtool nsenter; do command -v "$t" >/dev/null || fail "$t not installed (make setup)"; done

# ---- network: client namespace, the dataplane's two ports, the host's route ---------------
client_netns "$ns" "$dp_if" "$cl_if"
router_backend "$ns" "$cl_if" "$dp_if" "$dpb_if" "$rt_if" "10.250.$(($$ % 256)).1" "10.250.$(($$ % 256)).2"
cl_mac=$(ip netns exec "$ns" cat "/sys/class/net/$cl_if/address")
rt_mac=$(cat "/sys/class/net/$rt_if/address")

# ---- router-mode configuration errors -----------------------------------------------------------
bad() { # expected text, extra --set args...
	local want=$1
	shift
	set +e
	out=$("$dp" -l 0-1 --no-pci --in-memory --file-prefix="hme-bad-$$" --log-level='*:error' \
		--vdev="net_null0" -- --set mfn=true --set stoq_ports=4433 --set backend_port=1 "$@" 2>&1)
	set -e
	grep -q -- "$want" <<<"$out" || fail "router mode without $want was not refused by name: $out"
}
bad "needs next_hop_mac"
bad "needs backend_next_hop_mac" --set next_hop_mac=02:00:00:00:00:01
bad "needs service_address" --set next_hop_mac=02:00:00:00:00:01 --set backend_next_hop_mac=02:00:00:00:00:02
bad "needs exactly two ports" --set next_hop_mac=02:00:00:00:00:01 \
	--set backend_next_hop_mac=02:00:00:00:00:02 --set service_address=10.77.0.1
bad '"service_address"' --set service_address=10.77.0.300
echo "ok: router-mode configuration errors name the key"

# ---- the node: dataplane, controld, two containers --------------------------------------------------
start_dp() {
	"$dp" -l 0-1 --no-pci --in-memory --file-prefix="hme-$$" --log-level='*:warning' \
		--vdev="net_af_packet0,iface=$dp_if" --vdev="net_af_packet1,iface=$dpb_if" -- \
		--set stoq_ports=4433 --set mbufs=8191 --set mfn=true --set mfn_dsr=false \
		--set backend_port=1 --set next_hop_mac="$cl_mac" --set backend_next_hop_mac="$rt_mac" \
		--set service_address=10.77.0.1 --set ctl_socket="$sock" --set stats_segment=off \
		--set mfn_cpe_interval_ms=250 --set "mfn_quic_lb=0:2:8:$cid_key" >>"$tmp/dp.log" 2>&1 &
	dp_pid=$!
	for _ in $(seq 100); do
		[[ $(grep -c forwarding "$tmp/dp.log") -ge $1 ]] && return 0
		kill -0 "$dp_pid" 2>/dev/null || fail "the dataplane exited at start"
		sleep 0.1
	done
	fail "the dataplane did not start"
}
start_dp 1
"$ctld" --listen "127.0.0.1:$port" --state-dir "$tmp/state" --stats-segment off --write-rate 0 \
	--dataplane-socket "$sock" --container-bridge "$br" --container-subnet "$cnet.0/24" \
	--autoscale-interval 1 >"$tmp/cd.log" 2>&1 &
cd_pid=$!
for _ in $(seq 100); do
	curl -sf "$api/v1/health" >/dev/null 2>&1 && break
	sleep 0.05
done

mkdir -p "$tmp/srv"
head -c 3000000 /dev/urandom >"$tmp/srv/big.bin"
for i in 1 2 3 4 5 6 7 8; do head -c $((20000 * i)) /dev/urandom >"$tmp/srv/f$i.bin"; done
bash "$top/stoq/stoq-cert.sh" "$tmp/pki" IP:10.77.0.1 >/dev/null
bash "$top/scripts/mk-bundle.sh" "$tmp/bundle" --dyn "$stoq" --file "$tmp/pki:/pki" \
	--file "$tmp/srv:/srv" -- hmesh-stoq server --listen 0.0.0.0:4433 --root /srv \
	--cert /pki/cert.pem --key /pki/key.pem --stats-segment off --set gso_segments=1 \
	--set "cid_key=$cid_key" >/dev/null
curl -sf -XPOST -H 'Content-Type: application/json' -d '{"name":"api","port":4433}' \
	"$api/v1/services" >/dev/null || fail "create the service"
curl -sf -XPOST -H 'Content-Type: application/json' \
	-d "{\"service\":\"api\",\"replicas\":2,\"bundle\":\"$tmp/bundle\",\"port\":4433,\"drain_seconds\":1}" \
	"$api/v1/containers" >/dev/null || fail "create the containers"
running() { # N: wait until N instances run and the dataplane has the state (30 s)
	for _ in $(seq 300); do
		curl -sf "$api/v1/containers/api" >"$tmp/grp" 2>/dev/null &&
			python3 -c "import json,sys; d=json.load(open('$tmp/grp')); sys.exit(0 if sum(i['state'] == 'running' for i in d['instances']) == $1 else 1)" &&
			curl -sf "$api/v1/health" | grep -q '"status": *"ok"' && return 0
		sleep 0.1
	done
	fail "not $1 running containers with the dataplane in sync: $(cat "$tmp/grp"; curl -s "$api/v1/health")"
}
running 2

dl() { # N parallel requests of the 8 files through the dataplane; checks the bytes
	rm -rf "$tmp/dl"
	mkdir -p "$tmp/dl"
	local urls=()
	for i in 1 2 3 4 5 6 7 8; do urls+=("https://10.77.0.1:4433/f$i.bin"); done
	timeout 60 ip netns exec "$ns" "$stoq" client --ca "$tmp/pki/cert.pem" --parallel 8 \
		--download "$tmp/dl" --set gso_segments=1 "${urls[@]}" "$@" >"$tmp/client.log" 2>&1 ||
		return 1
	for i in 1 2 3 4 5 6 7 8; do cmp -s "$tmp/srv/f$i.bin" "$tmp/dl/f$i.bin" || return 1; done
}

# ---- 1. downloads through the dataplane ---------------------------------------------------------------
dl "https://10.77.0.1:4433/big.bin" || fail "download through the dataplane: $(tail -5 "$tmp/client.log")"
cmp -s "$tmp/srv/big.bin" "$tmp/dl/big.bin" || fail "big.bin differs"
# Several connections, so that both backends get some (L3 spreads new flows).
for _ in 1 2 3 4 5 6; do dl || fail "repeat download: $(tail -5 "$tmp/client.log")"; done
echo "ok: 7 rounds of downloads (3 MB + 8 files in parallel) through the dataplane, bytes match;"
echo "    the client verified the certificate for 10.77.0.1 (replies carry the service address)"

# ---- 2. ngtcp2's gtlsclient through the appliance ------------------------------------------------
if command -v gtlsclient >/dev/null; then
	rm -rf "$tmp/gdl"
	mkdir -p "$tmp/gdl"
	timeout 30 ip netns exec "$ns" gtlsclient -q --exit-on-all-streams-close --download="$tmp/gdl" \
		10.77.0.1 4433 https://10.77.0.1:4433/f3.bin https://10.77.0.1:4433/f7.bin \
		>"$tmp/gtls.log" 2>&1 || fail "gtlsclient through the dataplane: $(tail -5 "$tmp/gtls.log")"
	cmp -s "$tmp/srv/f3.bin" "$tmp/gdl/f3.bin" && cmp -s "$tmp/srv/f7.bin" "$tmp/gdl/f7.bin" ||
		fail "gtlsclient's downloads differ"
	echo "ok: ngtcp2's gtlsclient downloaded through the appliance, bytes match"
else
	fail "gtlsclient missing (make setup installs ngtcp2-client)"
fi

# ---- 2. a backend container dies -----------------------------------------------------------------------
id0=$(python3 -c "import json; print(json.load(open('$tmp/grp'))['instances'][0]['id'])")
pid0=$("$build/bin/hmesh-run" state "$id0" | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])')
kill -9 "$pid0"
t0=$(date +%s%N)
ok=0
for _ in $(seq 40); do
	if dl; then ok=1; break; fi
	sleep 0.25
done
((ok)) || fail "no download succeeded after a backend died: $(tail -5 "$tmp/client.log")"
echo "ok: a backend killed with -9: downloads succeeded again after $((($(date +%s%N) - t0) / 1000000)) ms"
running 2
dl || fail "download after the restart: $(tail -5 "$tmp/client.log")"
echo "ok: the container was restarted and registered again; downloads go on"

# ---- 4. the dataplane dies and comes back ----------------------------------------------------------
kill -9 "$dp_pid"
wait "$dp_pid" 2>/dev/null || true
start_dp 2
t0=$(date +%s%N)
ok=0
for _ in $(seq 40); do
	if curl -sf "$api/v1/health" | grep -q '"status": *"ok"' && dl; then ok=1; break; fi
	sleep 0.25
done
((ok)) || fail "no download after the dataplane restarted: $(curl -s "$api/v1/health") $(tail -3 "$tmp/client.log")"
echo "ok: dataplane killed with -9 and restarted: state from controld, downloads again after $((($(date +%s%N) - t0) / 1000000)) ms"

# ---- 4b. a client whose address changes mid-connection: QUIC-LB ----------------------------------
# ngtcp2's client rebinds to a new local port 50 ms after the handshake,
# without path validation (as a NAT would), and sends its request 300 ms
# after it, from there: a 5-tuple L1 has never seen,
# with a short header whose DCID the backend issued. Each container's
# hmesh-stoq puts its backend id (HMESH_SERVER_ID from controld) in its
# CIDs, encrypted with the node's QUIC-LB key (8-octet CIDs: four-pass
# AES), and mfn_quic_lb sends the packet to that backend, not to the one L3
# would choose for a new flow (half the time another, which holds no such
# connection).
for i in 1 2 3 4; do
	: >"$tmp/gtls.log"
	rebinding_get "$ns" "$tmp/gdl" 10.77.0.1 https://10.77.0.1:4433/big.bin "$tmp/gtls.log" ||
		fail "rebinding client, round $i: $(tail -5 "$tmp/gtls.log")"
	cmp -s "$tmp/srv/big.bin" "$tmp/gdl/big.bin" || fail "rebinding client, round $i: big.bin differs"
done
echo "ok: 4 clients changed their address after the handshake (NAT rebinding), downloads match"

# ---- 5. autoscaling from the L4 CPE forecast ----------------------------------------------------
replicas() { curl -sf "$api/v1/containers/api" | python3 -c 'import json,sys; print(json.load(sys.stdin)["replicas"])'; }
code=$(curl -s -o "$tmp/out" -w '%{http_code}' -XPUT -H 'Content-Type: application/json' \
	-d '{"flows_per_replica":1,"min_replicas":1,"max_replicas":1,"replicas":2}' "$api/v1/containers/api")
[[ "$code" == 400 ]] && grep -q '"field": *"replicas"' "$tmp/out" || fail "replicas outside min..max accepted: $code"
code=$(curl -s -o "$tmp/out" -w '%{http_code}' -XPUT -H 'Content-Type: application/json' \
	-d '{"flows_per_replica":1,"min_replicas":1,"max_replicas":6}' "$api/v1/containers/api")
[[ "$code" == 200 ]] || fail "turning autoscaling on: $code $(cat "$tmp/out")"
# New connections, several a second: each is a new flow for L2/L3 and the forecast.
( while :; do dl >/dev/null 2>&1 || true; done ) &
load=$!
seen_warm=0
up=2
for _ in $(seq 250); do
	curl -sf "$api/v1/containers/api" >"$tmp/grp" || continue
	read -r up warm < <(python3 -c "import json; d=json.load(open('$tmp/grp')); print(d['replicas'], sum(i['state'] in ('warm', 'preparing') for i in d['instances']))")
	((warm > 0)) && seen_warm=1
	((up >= 3 && seen_warm)) && break
	sleep 0.1
done
kill "$load" 2>/dev/null; wait "$load" 2>/dev/null || true
((up >= 3)) || fail "no scale-up under load: replicas $up ($(grep forecast "$tmp/cd.log" | tail -2))"
((seen_warm)) || fail "the forecast's headroom never made a warm container ($(grep forecast "$tmp/cd.log" | tail -2))"
running "$up"
for _ in $(seq 300); do [[ "$(replicas)" == 1 ]] && break; sleep 0.1; done
[[ "$(replicas)" == 1 ]] || fail "no scale-down without load: replicas $(replicas)"
running 1
for _ in $(seq 100); do
	curl -sf "$api/v1/containers/api" | python3 -c 'import json,sys; sys.exit(any(i["state"] in ("warm", "preparing") for i in json.load(sys.stdin)["instances"]))' && break
	sleep 0.1
done
grep -m2 "forecast" "$tmp/cd.log" | sed 's/^/    /'
echo "ok: autoscaling: new connections took the group from 2 to $up replicas with warm headroom, quiet back to 1"

kill "$dp_pid"
wait "$dp_pid" 2>/dev/null || true
dp_pid=
python3 - "$tmp/dp.log" <<'PY' || fail "dataplane counters"
import json, sys
# The restarted dataplane's account (since its start).
s = json.loads(open(sys.argv[1]).read().split("stats-json: ")[-1].splitlines()[0])
assert s["mfn_l3_decisions"] >= 1, s["mfn_l3_decisions"]
assert s["mfn_replies"] > 10, s["mfn_replies"]
assert s["mfn_l1_hits"] > 10, s["mfn_l1_hits"]
# step 4b: every rebinding client's first packet on its new path, at least
assert s["mfn_quic_lb_routed"] >= 4, s["mfn_quic_lb_routed"]
print(f"ok: dataplane: {s['mfn_l3_decisions']} flows decided by L3, {s['mfn_l1_hits']} L1 hits, "
      f"{s['mfn_replies']} replies rewritten to the service address, "
      f"{s['mfn_quic_lb_routed']} new paths routed by their CID (QUIC-LB), {s['drops_total']} drops")
PY
echo "PASS: end to end: client namespace -> dataplane (router mode) -> containers run by controld -> back"
