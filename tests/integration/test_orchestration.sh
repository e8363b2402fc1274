#!/usr/bin/env bash
# hmesh-controld runs a service's containers (ctl_orch) with hmesh-run, for
# real: a bundle with the real hmesh-stoq server (and its libraries) on a
# bridge, and checks that
#  1. bad /v1/containers bodies are refused naming the field;
#  2. two replicas start, answer on their STOQ port (a file is fetched from
#     each over QUIC) and are registered as backends;
#  3. a container killed with -9 is restarted and registered again;
#  4. scale-down drains (backend unhealthy: no new flows) before the stop;
#  5. kill -9 of controld itself: at restart the containers and backends
#     it left are cleared and the replicas come back;
#  6. deleting the group stops everything and removes the backends.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=${HMESH_BUILD:-$top/build}
ctld=$build/bin/hmesh-controld
tmp=$(mktemp -d)
export HMESH_RUN_ROOT=$tmp/rt
br=hmbo$(($$ % 100000))
net=10.$((($$ / 256) % 200 + 20)).$(($$ % 256))
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
api=http://127.0.0.1:$port
cd_pid=
cleanup() {
	[[ -n "$cd_pid" ]] && kill "$cd_pid" 2>/dev/null && wait "$cd_pid" 2>/dev/null
	for d in "$tmp"/rt/*/; do [[ -d "$d" ]] && "$build/bin/hmesh-run" delete --force "$(basename "$d")" 2>/dev/null; done
	ip link del "$br" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
	echo "--- controld"
	tail -25 "$tmp/cd.log"
	for l in "$tmp"/state/containers/*/log; do [[ -e "$l" ]] && { echo "--- $l"; tail -5 "$l"; }; done
	echo "FAIL: $*"
	exit 1
}
start_cd() {
	"$ctld" --listen "127.0.0.1:$port" --state-dir "$tmp/state" --stats-segment off \
		--write-rate 0 --container-bridge "$br" --container-subnet "$net.0/24" >>"$tmp/cd.log" 2>&1 &
	cd_pid=$!
	for _ in $(seq 100); do
		curl -sf "$api/v1/health" >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	fail "controld did not start"
}
req() { # METHOD PATH [BODY] -> status in $code, body in $tmp/out
	code=$(curl -s -o "$tmp/out" -w '%{http_code}' -X "$1" -H 'Content-Type: application/json' \
		${3:+-d "$3"} "$api$2")
}
# wait_for PYTHON-EXPR-ON-d (the /v1/containers/api document) [SECONDS]
wait_for() {
	for _ in $(seq $((${2:-20} * 10))); do
		curl -sf "$api/v1/containers/api" >"$tmp/grp" 2>/dev/null &&
			python3 -c "import json,sys; d=json.load(open('$tmp/grp')); sys.exit(0 if ($1) else 1)" &&
			return 0
		sleep 0.1
	done
	fail "waited for: $1; have $(cat "$tmp/grp" 2>/dev/null)"
}
backends() { curl -sf "$api/v1/backends" | python3 -c 'import json,sys; print(" ".join("%s:%s:%s" % (b["address"], b["port"], "up" if b["healthy"] else "drain") for b in json.load(sys.stdin)["items"]))'; }

"$ctld" --help | grep -q -- --container-subnet || fail "--help does not list the container options"
set +e
out=$("$ctld" --container-subnet 10.1.2.3/31 2>&1)
set -e
grep -q -- '--container-subnet "10.1.2.3/31"' <<<"$out" || fail "a bad subnet was not named: $out"

# The template bundle: hmesh-stoq with its libraries, a certificate, a file to serve.
mkdir -p "$tmp/srv"
echo "served from a container" >"$tmp/srv/hello.txt"
bash "$top/stoq/stoq-cert.sh" "$tmp/pki" >/dev/null
bash "$top/scripts/mk-bundle.sh" "$tmp/bundle" --dyn "$build/bin/hmesh-stoq" \
	--file "$tmp/pki:/pki" --file "$tmp/srv:/srv" -- \
	hmesh-stoq server --listen 0.0.0.0:4433 --root /srv --cert /pki/cert.pem \
	--key /pki/key.pem --stats-segment off >/dev/null

start_cd
req POST /v1/services '{"name":"api","port":4433}'
[[ "$code" == 201 ]] || fail "create service: $code $(cat "$tmp/out")"

# ---- 1. refusals ----------------------------------------------------------------------------
refuse() { # body field
	req POST /v1/containers "$1"
	[[ "$code" == 400 ]] || fail "accepted $1 ($code)"
	grep -q "\"field\": *\"$2\"" "$tmp/out" || fail "for $1 the error does not name $2: $(cat "$tmp/out")"
}
refuse '{"service":"api","replicas":2,"bundle":"relative/dir","port":4433}' bundle
refuse '{"service":"api","replicas":2,"bundle":"/a/../b","port":4433}' bundle
refuse '{"service":"api","replicas":65,"bundle":"/b","port":4433}' replicas
refuse '{"service":"nope","replicas":1,"bundle":"/b","port":4433}' service
refuse '{"service":"api","replicas":1,"bundle":"/b"}' port
refuse '{"service":"api","replicas":1,"bundle":"/b","port":4433,"image":"x"}' image
echo "ok: bad /v1/containers bodies refused naming the field"

# ---- 2. two replicas, serving, registered ------------------------------------------------------
req POST /v1/containers "{\"service\":\"api\",\"replicas\":2,\"bundle\":\"$tmp/bundle\",\"port\":4433,\"drain_seconds\":2}"
[[ "$code" == 201 ]] || fail "create containers: $code $(cat "$tmp/out")"
wait_for 'len(d["instances"]) == 2 and all(i["state"] == "running" for i in d["instances"])'
[[ "$(backends)" == "$net.2:4433:up $net.3:4433:up" ]] || fail "backends: $(backends)"
mkdir -p "$tmp/dl"
for a in 2 3; do
	rm -f "$tmp/dl/hello.txt"
	timeout 20 "$build/bin/hmesh-stoq" client --ca "$tmp/pki/cert.pem" --download "$tmp/dl" \
		"https://$net.$a:4433/hello.txt" >/dev/null 2>&1 || fail "no STOQ answer from $net.$a"
	grep -q "served from a container" "$tmp/dl/hello.txt" || fail "wrong body from $net.$a"
done
# Registered under ids fixed by node and slot (node 0's block at the top of
# the 4096 ids, a /24 has 254 slots), each given to its container as its
# QUIC-LB server id (HMESH_SERVER_ID) before it started.
curl -sf "$api/v1/routes" | grep -q '"backends": *\[3843, *3844\]' || fail "routes: $(curl -s "$api/v1/routes")"
curl -sf "$api/v1/containers/api" >"$tmp/grp"
for i in 0 1; do
	read -r cid be < <(python3 -c "import json; i=json.load(open('$tmp/grp'))['instances'][$i]; print(i['id'], i['backend'])")
	cpid=$("$build/bin/hmesh-run" state "$cid" | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])')
	sid=$(tr '\0' '\n' <"/proc/$cpid/environ" | sed -n 's/^HMESH_SERVER_ID=//p')
	[[ -n "$be" && "$sid" == "$be" ]] || fail "container $cid: HMESH_SERVER_ID '$sid', backend '$be'"
done
echo "ok: 2 replicas running, fetched a file over STOQ from each, registered as backends 3843, 3844 = their HMESH_SERVER_ID"
# Each replica has its own writable overlay over the shared, read-only image.
ids=($(python3 -c "import json; print(' '.join(i['id'] for i in json.load(open('$tmp/grp'))['instances']))"))
pa=$("$build/bin/hmesh-run" state "${ids[0]}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])')
pb=$("$build/bin/hmesh-run" state "${ids[1]}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])')
nsenter -t "$pa" -m -r -- /bin/sh -c 'echo mine > /written' || fail "replica ${ids[0]} cannot write its root"
[[ "$(cat "$tmp/state/containers/${ids[0]}/upper/written" 2>/dev/null)" == mine ]] ||
	fail "the write did not land in ${ids[0]}'s upper layer"
[[ ! -e "$tmp/bundle/rootfs/written" ]] || fail "a replica's write reached the shared image"
nsenter -t "$pb" -m -r -- /bin/sh -c 'test ! -e /written' || fail "replica ${ids[1]} sees ${ids[0]}'s file"
echo "ok: overlay per replica: a write lands in its own upper layer, not in the image or the other replica"

# ---- 3. a killed container comes back (from a warm one) -------------------------------------------
req PUT /v1/containers/api '{"warm":1}'
[[ "$code" == 200 ]] || fail "warm 1: $code $(cat "$tmp/out")"
wait_for 'sum(i["state"] == "warm" for i in d["instances"]) == 1 and sum(i["state"] == "running" for i in d["instances"]) == 2'
warm_id=$(python3 -c "import json; print([i['id'] for i in json.load(open('$tmp/grp'))['instances'] if i['state'] == 'warm'][0])")
id0=$(python3 -c "import json; print([i['id'] for i in json.load(open('$tmp/grp'))['instances'] if i['state'] == 'running'][0])")
pid0=$("$build/bin/hmesh-run" state "$id0" | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])')
kill -9 "$pid0"
wait_for 'any(i["restarts"] == 1 and i["state"] == "running" and i["id"] == "'"$warm_id"'" for i in d["instances"]) and sum(i["state"] == "warm" for i in d["instances"]) == 1'
[[ $(backends | wc -w) == 2 && "$(backends)" != *drain* ]] || fail "after the restart, backends: $(backends)"
grep -q "$warm_id: api replica [01] started from warm" "$tmp/cd.log" || fail "the replacement did not come from the warm container"
req PUT /v1/containers/api '{"warm":0}'
wait_for 'not any(i["state"] in ("warm", "preparing") for i in d["instances"])'
echo "ok: a container killed with -9 was replaced by the warm one ($warm_id: one exec) and registered again; a new warm one was prepared, then released"

# ---- 4. scale-down drains, then stops --------------------------------------------------------------
req PUT /v1/containers/api '{"replicas":1}'
[[ "$code" == 200 ]] || fail "scale down: $code $(cat "$tmp/out")"
wait_for 'any(i["state"] == "draining" for i in d["instances"])' 5
[[ "$(backends)" == *":drain"* ]] || fail "draining, but no backend is unhealthy: $(backends)"
wait_for 'len(d["instances"]) == 1 and d["instances"][0]["state"] == "running"' 15
[[ $(backends | wc -w) == 1 && "$(backends)" == *":up" ]] || fail "after scale-down, backends: $(backends)"
echo "ok: scale-down: drained (unhealthy for 2 s), stopped, backend removed"

# ---- 5. controld killed: what it left is cleared at restart ----------------------------------------
req PUT /v1/containers/api '{"replicas":2}'
wait_for 'len(d["instances"]) == 2 and all(i["state"] == "running" for i in d["instances"])'
kill -9 "$cd_pid"
wait "$cd_pid" 2>/dev/null || true
cd_pid=
start_cd
wait_for 'len(d["instances"]) == 2 and all(i["state"] == "running" for i in d["instances"])'
[[ "$(backends)" == "$net.2:4433:up $net.3:4433:up" ]] || fail "after a controld restart, backends: $(backends)"
n=$(ls "$HMESH_RUN_ROOT" | wc -l)
((n == 2)) || fail "after a controld restart $n containers exist, want 2: $(ls "$HMESH_RUN_ROOT")"
grep -q "left by an earlier run" "$tmp/cd.log" || fail "the leftovers were not reported"
echo "ok: controld killed with -9: its containers and backends were cleared and replaced"

# ---- 6. delete the group --------------------------------------------------------------------------
req DELETE /v1/containers/api
[[ "$code" == 204 ]] || fail "delete containers: $code"
for _ in $(seq 100); do
	[[ -z "$(backends)" && -z "$(ls "$HMESH_RUN_ROOT")" ]] && break
	sleep 0.1
done
[[ -z "$(backends)" ]] || fail "backends left after the group was deleted: $(backends)"
[[ -z "$(ls "$HMESH_RUN_ROOT")" ]] || fail "containers left: $(ls "$HMESH_RUN_ROOT")"
echo "ok: group deleted: containers stopped, backends removed"
echo "PASS: orchestration: replicas from a bundle, STOQ probe, backends, restart, drain, controld restart"
