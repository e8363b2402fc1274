#!/usr/bin/env bash
# hmesh-controld built with AddressSanitizer, UBSan and LeakSanitizer:
#  1. single node: every kind of write (services, backends, links,
#     containers, config, refusals), then SIGTERM: exit 0, no leak, no report;
#  2. the four-member cluster test (tests/integration/test_cluster.sh: kill -9,
#     partition, forged messages, full disk) run on the sanitized binary, and
#     no member's log holds a sanitizer report.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=${HMESH_BUILD:-$top/build}-asan
tmp=$(mktemp -d)
pid=
trap '[[ -n "$pid" ]] && kill -9 "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
fail() { echo "--- controld"; tail -30 "$tmp/cd.log" 2>/dev/null || true; echo "FAIL: $*"; exit 1; }

make -s -C "$top" BUILD="$build" SANITIZE=1 "$build/bin/hmesh-controld" >/dev/null
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=23
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
api=http://127.0.0.1:$port
"$build/bin/hmesh-controld" --listen "127.0.0.1:$port" --state-dir "$tmp/state" --runtime none \
	--stats-segment off --write-rate 0 >"$tmp/cd.log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -sf "$api/v1/health" >/dev/null 2>&1 && break; sleep 0.1; done
w() { curl -s -o /dev/null -w '%{http_code} ' -X "$1" -H 'Content-Type: application/json' ${3:+-d "$3"} "$api$2"; }
codes=$(
	w POST /v1/services '{"name":"a","port":443}'
	w POST /v1/services '{"name":"a","port":444}'
	w POST /v1/backends '{"service":"a","address":"10.0.0.1","port":1}'
	w POST /v1/backends '{"service":"a","address":"fd00::1","port":2,"weight":5}'
	w PUT /v1/backends/0 '{"healthy":false}'
	w POST /v1/links '{"a":0,"b":1}'
	w POST /v1/containers '{"service":"a","replicas":1,"bundle":"/x","port":443,"flows_per_replica":5,"max_replicas":3}'
	w PUT /v1/config '{"dataplane":{"mfn_rate_limit":9,"stats_interval":null}}'
	w PUT /v1/config '{"dataplane":{"nope":1}}'
	w POST /v1/flows '{"src":"10.0.0.9","sport":1,"dst":"10.0.0.1","dport":443,"backend":0}'
	w POST /v1/services '[1,2'
	w GET /v1/containers
	w GET /v1/routes
	w DELETE /v1/services/a
)
[[ "$codes" == "201 409 201 201 200 201 201 200 400 503 400 200 200 204 " ]] || fail "statuses: $codes"
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
pid=
((rc == 0)) || fail "exit status $rc after SIGTERM (23: a leak)"
! grep -qE "ERROR: (Address|Leak)Sanitizer|runtime error:" "$tmp/cd.log" || fail "sanitizer report"
echo "ok: single node under ASan/UBSan/LSan: 14 requests of every kind, clean exit, no leak"

HMESH_BUILD=$build bash "$here/test_cluster.sh" >"$tmp/cluster.log" 2>&1 ||
	{ tail -30 "$tmp/cluster.log"; echo "FAIL: the cluster test on the sanitized controld"; exit 1; }
grep -E "^ok:" "$tmp/cluster.log" | sed 's/^/  /'
! grep -qE "ERROR: (Address|Leak)Sanitizer|runtime error:" "$tmp/cluster.log" ||
	{ grep -m5 -E "Sanitizer|runtime error" "$tmp/cluster.log"; echo "FAIL: sanitizer report in the cluster test"; exit 1; }
echo "PASS: hmesh-controld under ASan/UBSan/LSan, single node and a four-member cluster"
