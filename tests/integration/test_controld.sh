#!/usr/bin/env bash
# hmesh-controld for real:
#  1. REST: every path and method of controlplane/openapi.json answers with a
#     documented status and the documented fields; errors name the field
#     (400), and 401/403/404/405/409/413/415 come where they should.
#  2. Durability: kill -9 in the middle of a stream of writes, five times;
#     every acknowledged change is there after the restart.
#  3. With hmesh-dataplane (net_af_packet on a veth pair, MFN on, DNAT): a
#     service and two backends created with curl; UDP flows from a client
#     namespace come back rewritten to one of the backends, each flow
#     sticking to one; deleting a backend moves only its flows; a restarted
#     dataplane gets the state again from controld; with controld killed the
#     dataplane keeps forwarding.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=${HMESH_BUILD:-$top/build}
ctld=$build/bin/hmesh-controld
dp=$build/bin/hmesh-dataplane
export PYTHONPATH="$here"
tmp=$(mktemp -d)
ns=hmt-cd-$$
dp_if=hmcd$$
cl_if=hmcc$$
cd_pid=
dp_pid=
cleanup() {
	[[ -n "$cd_pid" ]] && kill -9 "$cd_pid" 2>/dev/null
	[[ -n "$dp_pid" ]] && kill "$dp_pid" 2>/dev/null
	wait 2>/dev/null || true
	ip link del "$dp_if" 2>/dev/null || true
	ip netns del "$ns" 2>/dev/null || true
	rm -rf "$tmp" "/dev/shm/hmesh-$seg"
}
trap cleanup EXIT
fail() {
	echo "--- controld"; tail -20 "$tmp/cd.log" 2>/dev/null
	echo "--- dataplane"; tail -20 "$tmp/dp.log" 2>/dev/null
	echo "FAIL: $*"
	exit 1
}
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
seg="controld-test-$$"
rw=rw-token-0123456789abcdef
ro=ro-token-0123456789abcdef
printf '# test tokens\nrw %s\nro %s\n' "$rw" "$ro" >"$tmp/tokens"

start_cd() { # extra args...
	"$ctld" --listen "127.0.0.1:$port" --state-dir "$tmp/state" --tokens "$tmp/tokens" \
		--write-rate 0 --stats-segment "$seg" "$@" >>"$tmp/cd.log" 2>&1 &
	cd_pid=$!
	for _ in $(seq 100); do
		curl -sf -H "Authorization: Bearer $ro" "$base/v1/health" >/dev/null 2>&1 && return 0
		kill -0 "$cd_pid" 2>/dev/null || fail "controld exited at start"
		sleep 0.05
	done
	fail "controld did not answer"
}
"$ctld" --help | grep -q -- --dataplane-socket || fail "--help does not list the options"
{ "$ctld" --listen 0.0.0.0:1 --state-dir "$tmp/x" 2>&1 || true; } | grep -q 'without --tokens' ||
	fail "a non-loopback listen without tokens was not refused"
{ "$ctld" --mfn-nodes 0 2>&1 || true; } | grep -q -- '--mfn-nodes "0"' || fail "a bad flag value is not named"

# ---- 1. REST -----------------------------------------------------------------
start_cd
python3 - "$base" "$rw" "$ro" "$top/controlplane/openapi.json" <<'PY' || fail "REST checks"
import json, sys, urllib.request, urllib.error
base, rw, ro, spec = sys.argv[1], sys.argv[2], sys.argv[3], json.load(open(sys.argv[4]))

def call(method, path, body=None, token=rw, ctype="application/json", raw=None):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(base + path, data=data, method=method)
    if token: req.add_header("Authorization", "Bearer " + token)
    if data is not None and ctype: req.add_header("Content-Type", ctype)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            txt = r.read()
            return r.status, json.loads(txt) if txt else None
    except urllib.error.HTTPError as e:
        txt = e.read()
        return e.code, json.loads(txt) if txt else None

def expect(got, status, field=None, what=""):
    st, body = got
    assert st == status, f"{what}: status {st}, want {status}: {body}"
    if field is not None:
        assert body["error"]["field"] == field, f"{what}: field {body['error']['field']!r}, want {field!r}"
        assert body["error"]["code"] == status and body["error"]["message"], what
    return body

# Objects for the path parameters.
expect(call("POST", "/v1/services", {"name": "web", "port": 4433}), 201, what="create service")
b = expect(call("POST", "/v1/backends", {"service": "web", "address": "10.1.0.1", "port": 5001, "node": 1}), 201)
expect(call("POST", "/v1/links", {"a": 0, "b": 1}), 201, what="create link")
params = {"name": "web", "id": str(b["id"]), "key": "0-1", "service": "web"}
bodies = {"post": {"/v1/services": {"name": "web2", "port": 4434},
                   "/v1/backends": {"service": "web", "address": "fd00::5", "port": 5005},
                   "/v1/links": {"a": 1, "b": 2},
                   # replicas 0: the group exists, no container is started here
                   "/v1/containers": {"service": "web", "replicas": 0, "bundle": "/nonexistent/bundle", "port": 4433},
                   "/v1/flows": {"src": "10.0.0.1", "sport": 1000, "dst": "10.0.0.2", "dport": 4433, "backend": 0}},
          "delete": {"/v1/flows": {"src": "10.0.0.1", "sport": 1000, "dst": "10.0.0.2", "dport": 4433}},
          "put": {"/v1/services/{name}": {"port": 4435},
                  "/v1/backends/{id}": {"weight": 7},
                  "/v1/links/{key}": {"up": False},
                  "/v1/containers/{service}": {"replicas": 0, "drain_seconds": 1},
                  "/v1/config": {"dataplane": {"mfn_rate_limit": 200}}}}
def schema_of(s):
    if "$ref" in s:
        s = spec["components"]["schemas"][s["$ref"].rsplit("/", 1)[1]]
    return s
calls = 0
# Walk: reads and writes first, deletes last (they remove the objects).
order = sorted(((p, m) for p, ops in spec["paths"].items() for m in ops if m != "parameters"),
               key=lambda pm: (pm[1] == "delete", pm[0]))
for path, method in order:
    op = spec["paths"][path][method]
    url = path
    for k, v in params.items():
        url = url.replace("{" + k + "}", v)
    st, body = call(method.upper(), url, bodies.get(method, {}).get(path))
    assert str(st) in op["responses"], f"{method.upper()} {url}: {st} is not documented: {body}"
    if url in ("/v1/predictions", "/v1/flows", "/v1/routes/web") and st == 503:  # no dataplane in this part: documented refusal
        assert body["error"]["message"], body
        calls += 1
        continue
    if url.startswith("/v1/members"):  # a single node has no membership (test_cluster.sh covers it)
        assert st == 404 and "without --cluster" in body["error"]["message"], f"{method.upper()} {url}: {st} {body}"
        calls += 1
        continue
    assert 200 <= st < 300, f"{method.upper()} {url}: {st} {body}"
    ok = op["responses"][str(st)]
    if "content" in ok:
        sch = schema_of(ok["content"]["application/json"]["schema"])
        for req in sch.get("required", []):
            assert req in body, f"{method.upper()} {url}: no {req!r} in {body}"
        if "items" in sch.get("properties", {}) and body["items"]:
            it = schema_of(sch["properties"]["items"]["items"])
            for req in it.get("required", []):
                assert req in body["items"][0], f"{url}: item lacks {req!r}"
    calls += 1
print(f"ok: {calls} documented operations answered as documented")

# Errors: the right status, and 400s name the field.
expect(call("POST", "/v1/services", {"name": "Bad Name", "port": 1}), 400, "name")
expect(call("POST", "/v1/services", {"name": "x", "port": 70000}), 400, "port")
expect(call("POST", "/v1/services", {"name": "x", "port": 4440, "colour": "red"}), 400, "colour")
expect(call("POST", "/v1/services", {"name": "web2", "port": 4441}), 409, "name")
expect(call("POST", "/v1/services", {"name": "x", "port": 4434}), 409, "port")
expect(call("POST", "/v1/backends", {"service": "web2", "address": "10.1.0.300", "port": 1}), 400, "address")
expect(call("POST", "/v1/backends", {"service": "web2", "address": "10.1.0.3", "port": 1, "node": 9999}), 400, "node")
expect(call("POST", "/v1/links", {"a": 3, "b": 3}), 400, "b")
expect(call("POST", "/v1/services", raw=b"{not json"), 400, "")
expect(call("POST", "/v1/services", {"name": "y", "port": 4442}, ctype="text/plain"), 415, "")
expect(call("POST", "/v1/services", raw=b"[" + b"1," * 40000 + b"1]"), 413, "")
expect(call("PUT", "/v1/services/web2", {"port": 4450, "version": 99}), 409, "version")
expect(call("DELETE", "/v1/services/web2?version=99"), 409, "version")
# A decoded '&' is not a separator ("version=1&2" was read as version 1),
# and a query too long to rebuild is refused whole, not cut to a prefix.
expect(call("DELETE", "/v1/services/web2?version=1%262"), 400, "version")
expect(call("DELETE", "/v1/services/web2?pad=" + "x" * 600 + "&version=99"), 414, "")
expect(call("GET", "/v1/services/nope"), 404, "name")
expect(call("GET", "/v1/nothing"), 404, "")
expect(call("PATCH", "/v1/services/web2", {"port": 1}), 405, "")
expect(call("POST", "/v1/health", {}), 405, "")
expect(call("GET", "/v1/services", token=None), 401, "")
expect(call("GET", "/v1/services", token="wrong-token-0123456789"), 401, "")
expect(call("POST", "/v1/services", {"name": "z", "port": 4443}, token=ro), 403, "")
expect(call("GET", "/v1/services", token=ro), 200)
st, svcs = call("GET", "/v1/services")
assert [s["name"] for s in svcs["items"]] == ["web2"], f"refused requests changed the state: {svcs}"
print("ok: errors: 400 naming the field, 401, 403, 404, 405, 409, 413, 414, 415; state intact")
PY
# Its counters in the stats segment: requests by class, changes and their latency.
"$build/bin/hmesh-stat" -s "$seg" -j | python3 -c '
import json, sys
d = json.load(sys.stdin)
v = {(e["name"], e["labels"], e["block"]): e for e in d["values"]}
ok, bad = v[("rest_requests", "code=2xx", "")]["value"], v[("rest_requests", "code=4xx", "")]["value"]
ch, h = v[("state_changes", "", "")]["value"], v[("state_change_seconds", "", "")]
assert ok >= 20 and bad >= 20, (ok, bad)
assert ch >= 7 and h["count"] == ch and h["p50"] > 0, (ch, h)
assert v[("state_revision", "", "")]["value"] == ch
p50 = h["p50"] * 1e3
print(f"ok: stats segment: {ok} 2xx, {bad} 4xx, {ch} changes, change p50 {p50:.2f} ms (fsync included)")
' || fail "controld stats segment"
kill -TERM "$cd_pid"
wait "$cd_pid" || fail "controld exit status $? on SIGTERM"
cd_pid=
[[ ! -e "/dev/shm/hmesh-$seg" ]] || fail "the stats segment outlived controld"

# ---- 2. kill -9 loses no acknowledged change -----------------------------------
rm -rf "$tmp/state"
acked=0
for round in 1 2 3 4 5; do
	start_cd --mfn-backends 65536
	python3 - "$base" "$rw" "$round" >"$tmp/acks" <<'PY' &
import json, sys, urllib.request
base, rw, rnd = sys.argv[1], sys.argv[2], int(sys.argv[3])
if rnd == 1:
    req = urllib.request.Request(base + "/v1/services", json.dumps({"name": "k", "port": 9000}).encode(),
                                 {"Authorization": "Bearer " + rw, "Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=5).read()
n = 0
for i in range(100000):
    body = {"service": "k", "address": f"10.9.{rnd}.{i % 250}", "port": 1000 + i % 60000}
    req = urllib.request.Request(base + "/v1/backends", json.dumps(body).encode(),
                                 {"Authorization": "Bearer " + rw, "Content-Type": "application/json"})
    try:
        urllib.request.urlopen(req, timeout=5).read()
    except Exception:
        break
    n += 1
    print(n, flush=True)
PY
	writer=$!
	sleep "0.$((RANDOM % 6 + 3))"
	kill -9 "$cd_pid"
	wait "$cd_pid" 2>/dev/null || true
	cd_pid=
	wait "$writer" || true
	n=$(tail -n1 "$tmp/acks" 2>/dev/null || echo 0)
	acked=$((acked + ${n:-0}))
	start_cd --mfn-backends 65536
	have=$(curl -sf -H "Authorization: Bearer $ro" "$base/v1/backends?service=k" |
		python3 -c 'import json,sys; print(len(json.load(sys.stdin)["items"]))')
	# The one in flight at the kill may be durable without its reply having arrived.
	[[ "$have" -ge "$acked" && "$have" -le $((acked + 1)) ]] ||
		fail "round $round: $acked backends acknowledged, $have after kill -9 and restart"
	acked=$have
	kill -9 "$cd_pid"
	wait "$cd_pid" 2>/dev/null || true
	cd_pid=
done
((acked > 20)) || fail "only $acked writes were acknowledged in five rounds: the test did not test"
echo "ok: kill -9 five times during writes: all $acked acknowledged backends survived"
rm -rf "$tmp/state"

# ---- 3. controld drives a running dataplane -------------------------------------
# shellcheck source=../../scripts/netns.sh
. "$top/scripts/netns.sh"
client_netns "$ns" "$dp_if" "$cl_if"
sock="$tmp/dp.sock"

start_dp() {
	"$dp" -l 0-1 --no-pci --in-memory --file-prefix="hmt-cd-$$" --log-level='*:warning' \
		--vdev="net_af_packet0,iface=$dp_if" -- --set stoq_ports=4433 --set mbufs=8191 \
		--set mfn=true --set mfn_dsr=false --set ctl_socket="$sock" --set stats_segment=off \
		>>"$tmp/dp.log" 2>&1 &
	dp_pid=$!
	for _ in $(seq 100); do
		grep -q forwarding "$tmp/dp.log" && [[ -S "$sock" ]] && return 0
		kill -0 "$dp_pid" 2>/dev/null || fail "dataplane exited at start"
		sleep 0.1
	done
	fail "dataplane did not start"
}
api() { # method path [json]
	curl -sf -X "$1" -H "Authorization: Bearer $rw" -H 'Content-Type: application/json' \
		"$base$2" ${3:+-d "$3"}
}
synced() { # wait until the dataplane has committed controld's revision
	for _ in $(seq 100); do
		curl -sf -H "Authorization: Bearer $ro" "$base/v1/health" | python3 -c '
import json, sys
h = json.load(sys.stdin)
sys.exit(0 if h["status"] == "ok" and h["dataplane"]["connected"] else 1)' && return 0
		sleep 0.1
	done
	fail "the dataplane did not catch up: $(curl -s -H "Authorization: Bearer $ro" "$base/v1/health")"
}
# 30 UDP flows to the service; prints "sport backend_addr:port" per flow seen back.
flows() {
	ip netns exec "$ns" python3 - "$cl_if" <<'PY'
import socket, sys, time
from pkt import quic_short
raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
raw.setsockopt(socket.SOL_SOCKET, 33, 16 << 20)
raw.bind((sys.argv[1], 0))
raw.settimeout(0.2)
socks = []
for i in range(30):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("10.77.0.2", 41000 + i))
    socks.append(u)
for rnd in range(2):                      # two packets per flow
    for i, u in enumerate(socks):
        u.sendto(quic_short(bytes([i]) * 8, 100), ("10.77.0.1", 4433))
    time.sleep(0.05)
seen = {}
deadline = time.time() + 2
while time.time() < deadline:
    try:
        f, addr = raw.recvfrom(4096)
    except socket.timeout:
        continue
    if addr[2] == socket.PACKET_OUTGOING or f[23] != 17:
        continue
    ihl = (f[14] & 15) * 4
    sport = int.from_bytes(f[14 + ihl:16 + ihl], "big")
    if not 41000 <= sport < 41030:
        continue
    dst = ".".join(map(str, f[30:34])) + ":" + str(int.from_bytes(f[16 + ihl:18 + ihl], "big"))
    seen.setdefault(sport, set()).add(dst)
for sport in sorted(seen):
    print(sport, ",".join(sorted(seen[sport])))
PY
}

rm -rf "$tmp/state"
start_dp
start_cd --dataplane-socket "$sock"
api POST /v1/services '{"name":"api","port":4433}' >/dev/null
api POST /v1/backends '{"service":"api","address":"10.1.0.1","port":5001}' >/dev/null
api POST /v1/backends '{"service":"api","address":"10.1.0.2","port":5002}' >/dev/null
synced
flows >"$tmp/f1"
python3 - "$tmp/f1" <<'PY' || fail "flows before the delete"
import sys
rows = [l.split() for l in open(sys.argv[1])]
assert len(rows) == 30, f"{len(rows)} of 30 flows came back"
for sport, dsts in rows:
    assert "," not in dsts, f"flow {sport} went to two backends: {dsts}"
    assert dsts in ("10.1.0.1:5001", "10.1.0.2:5002"), f"flow {sport} went to {dsts}"
n1 = sum(d == "10.1.0.1:5001" for _, d in rows)
assert 0 < n1 < 30, f"all flows on one backend ({n1} on 10.1.0.1)"
print(f"ok: 30 flows DNATed to their backend: {n1} to 10.1.0.1:5001, {30 - n1} to 10.1.0.2:5002")
PY
# /v1/flows: pin one flow of backend 0 to backend 1 in L1, then forget it.
pin=$(awk '$2 == "10.1.0.1:5001" {print $1; exit}' "$tmp/f1")
flow="{\"src\":\"10.77.0.2\",\"sport\":$pin,\"dst\":\"10.77.0.1\",\"dport\":4433"
code=$(curl -s -o "$tmp/out" -w '%{http_code}' -X POST -H "Authorization: Bearer $rw" \
	-H 'Content-Type: application/json' -d "$flow,\"backend\":1}" "$base/v1/flows")
[[ "$code" == 201 ]] || fail "POST /v1/flows: $code $(cat "$tmp/out")"
flows >"$tmp/fp"
[[ "$(awk -v p="$pin" '$1 == p {print $2}' "$tmp/fp")" == 10.1.0.2:5002 ]] ||
	fail "flow $pin was not moved to backend 1: $(grep "^$pin " "$tmp/fp")"
[[ $(diff <(grep -v "^$pin " "$tmp/f1") <(grep -v "^$pin " "$tmp/fp") | wc -l) == 0 ]] ||
	fail "pinning one flow moved others"
code=$(curl -s -o "$tmp/out" -w '%{http_code}' -X POST -H "Authorization: Bearer $rw" \
	-H 'Content-Type: application/json' -d "$flow,\"backend\":9}" "$base/v1/flows")
[[ "$code" == 404 ]] && grep -q '"field": *"backend"' "$tmp/out" || fail "pin to a missing backend: $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -X DELETE -H "Authorization: Bearer $rw" \
	-H 'Content-Type: application/json' -d "$flow}" "$base/v1/flows")
[[ "$code" == 204 ]] || fail "DELETE /v1/flows: $code"
code=$(curl -s -o "$tmp/out" -w '%{http_code}' -X DELETE -H "Authorization: Bearer $rw" \
	-H 'Content-Type: application/json' -d "$flow}" "$base/v1/flows")
[[ "$code" == 404 ]] || fail "DELETE of a flow that is gone: $code $(cat "$tmp/out")"
flows >"$tmp/fd"
[[ "$(awk -v p="$pin" '$1 == p {print $2}' "$tmp/fd")" == 10.1.0.1:5001 ]] ||
	fail "forgotten flow $pin was not decided again by L3: $(grep "^$pin " "$tmp/fd")"
echo "ok: /v1/flows: flow $pin pinned to backend 1 (the others stayed), then forgotten and decided again"
# L4: the dataplane's forecast for the service, through controld.
sleep 1.5
curl -sf -H "Authorization: Bearer $ro" "$base/v1/predictions" | python3 -c '
import json, sys
p = json.load(sys.stdin)["items"]
assert len(p) == 1 and p[0]["service"] == "api" and p[0]["status"] == "ok", p
assert len(p[0]["packets_per_s"]) >= 1 and p[0]["model"] in ("holt_winters", "last_value"), p
print("ok: /v1/predictions: service api, %s, packets/s next intervals %s" % (p[0]["model"], p[0]["packets_per_s"]))
' || fail "/v1/predictions"
# Runtime settings through /v1/config reach the running dataplane: with
# stats_interval 1 it prints its counters every second from now on.
before=$(grep -c '^stats: t=' "$tmp/dp.log" || true)
curl -sf -X PUT -H "Authorization: Bearer $rw" -H 'Content-Type: application/json' \
	-d '{"dataplane":{"stats_interval":1,"mfn_rate_limit":500}}' "$base/v1/config" >/dev/null ||
	fail "PUT /v1/config"
synced
sleep 2.5
after=$(grep -c '^stats: t=' "$tmp/dp.log" || true)
((after >= before + 2 && after <= before + 4)) || fail "stats_interval=1 did not reach the dataplane ($before -> $after counter lines)"
curl -sf -H "Authorization: Bearer $ro" "$base/v1/config" | python3 -c '
import json, sys
d = json.load(sys.stdin)["dataplane"]
assert d == {"mfn_rate_limit": 500, "mfn_idle_timeout_ms": None, "stats_interval": 1}, d' ||
	fail "GET /v1/config does not show the settings"
for bad in '{"dataplane":{"mfn_rate_limit":0}}:dataplane.mfn_rate_limit' \
	'{"dataplane":{"nope":1}}:dataplane.nope' '{"dataplane":{"stats_interval":"1"}}:dataplane.stats_interval' \
	'{"dp":{}}:dp'; do
	code=$(curl -s -o "$tmp/out" -w '%{http_code}' -X PUT -H "Authorization: Bearer $rw" \
		-H 'Content-Type: application/json' -d "${bad%:*}" "$base/v1/config")
	[[ "$code" == 400 ]] && grep -q "\"field\": *\"${bad##*:}\"" "$tmp/out" ||
		fail "PUT /v1/config ${bad%:*}: $code $(cat "$tmp/out")"
done
code=$(curl -s -o /dev/null -w '%{http_code}' -X DELETE -H "Authorization: Bearer $rw" "$base/v1/config")
[[ "$code" == 405 ]] || fail "DELETE /v1/config: $code"
curl -sf -X PUT -H "Authorization: Bearer $rw" -H 'Content-Type: application/json' \
	-d '{"dataplane":{"stats_interval":0}}' "$base/v1/config" >/dev/null || fail "PUT /v1/config back"
echo "ok: /v1/config: stats_interval and mfn_rate_limit applied to the running dataplane; bad values refused by name"
api DELETE /v1/backends/0 >/dev/null
synced
flows >"$tmp/f2"
python3 - "$tmp/f1" "$tmp/f2" <<'PY' || fail "flows after the delete"
import sys
before = dict(l.split() for l in open(sys.argv[1]))
after = dict(l.split() for l in open(sys.argv[2]))
assert len(after) == 30, f"{len(after)} of 30 flows came back after the delete"
assert all(d == "10.1.0.2:5002" for d in after.values()), f"flows still on the deleted backend: {after}"
moved = sum(before[s] != after[s] for s in before)
print(f"ok: backend 0 deleted: its {moved} flows moved to 10.1.0.2:5002, the others stayed")
PY
# The dataplane restarts with nothing configured: controld restores it.
# (Wait for a new full sync: until controld notices the restart, its health
# still describes the old dataplane.)
syncs0=$(curl -sf -H "Authorization: Bearer $ro" "$base/v1/health" | python3 -c 'import json,sys; print(json.load(sys.stdin)["dataplane"]["full_syncs"])')
kill -TERM "$dp_pid"
wait "$dp_pid" || fail "dataplane exit status $?"
dp_pid=
start_dp
for _ in $(seq 100); do
	n=$(curl -sf -H "Authorization: Bearer $ro" "$base/v1/health" | python3 -c 'import json,sys; print(json.load(sys.stdin)["dataplane"]["full_syncs"])')
	((n > syncs0)) && break
	sleep 0.1
done
((n > syncs0)) || fail "controld did not push the state to the restarted dataplane"
synced
flows >"$tmp/f3"
[[ $(grep -c ' 10.1.0.2:5002$' "$tmp/f3") == 30 ]] || fail "after a dataplane restart: $(cat "$tmp/f3")"
echo "ok: dataplane restarted; controld pushed the state again; 30 flows to 10.1.0.2:5002"
# controld gone: the dataplane keeps its last state.
kill -9 "$cd_pid"
wait "$cd_pid" 2>/dev/null || true
cd_pid=
flows >"$tmp/f4"
[[ $(grep -c ' 10.1.0.2:5002$' "$tmp/f4") == 30 ]] || fail "with controld killed: $(cat "$tmp/f4")"
echo "ok: controld killed: the dataplane keeps forwarding 30 flows to 10.1.0.2:5002"
kill -TERM "$dp_pid"
wait "$dp_pid" || fail "dataplane exit status $?"
dp_pid=
echo "PASS: hmesh-controld: REST API, durability under kill -9, dataplane configuration"
