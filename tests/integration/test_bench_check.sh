#!/usr/bin/env bash
# hmesh-bench-check on synthetic figures: an unchanged figure passes, a 30%
# drop beyond a 10% margin fails with exit 1, a 5% drop inside the margin
# passes, a missing figure exits 2, and --refresh round-trips.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
bin=${HMESH_BUILD:-$top/build}/bin/hmesh-bench-check
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

gen() { # $1 = file, $2 = scale of the ratio, $3 = seed
	python3 - "$1" "$2" "$3" <<'PY'
import json, random, sys
path, scale, seed = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
r = random.Random(seed)
with open(path, "w") as f:
    for _ in range(8):
        for size in (64, 1200):
            v = scale * (0.5 + r.gauss(0, 0.01))
            f.write(json.dumps({"bench": "demo", "vdev": "net_x", "size": size, "ratio": v}) + "\n")
PY
}
gen "$tmp/base.jsonl" 1.0 1
"$bin" --refresh --baseline "$tmp/baseline.json" --results "$tmp/base.jsonl" --margin 0.10 --machine test >/dev/null
python3 -c 'import json,sys; b=json.load(open(sys.argv[1])); assert b["version"]==1 and len(b["figures"])==2 and len(b["figures"]["demo/net_x/64/"])==8' "$tmp/baseline.json"

gen "$tmp/same.jsonl" 1.0 2
"$bin" --baseline "$tmp/baseline.json" --results "$tmp/same.jsonl" >"$tmp/out" || { cat "$tmp/out"; echo "FAIL: unchanged flagged"; exit 1; }

gen "$tmp/small.jsonl" 0.95 3
"$bin" --baseline "$tmp/baseline.json" --results "$tmp/small.jsonl" >"$tmp/out" || { cat "$tmp/out"; echo "FAIL: 5% drop inside a 10% margin flagged"; exit 1; }

gen "$tmp/bad.jsonl" 0.70 4
rc=0
"$bin" --baseline "$tmp/baseline.json" --results "$tmp/bad.jsonl" >"$tmp/out" || rc=$?
[[ $rc == 1 ]] && grep -q REGRESSED "$tmp/out" || { cat "$tmp/out"; echo "FAIL: 30% drop not flagged (exit $rc)"; exit 1; }

grep -v '"size": 1200' "$tmp/same.jsonl" >"$tmp/partial.jsonl"
rc=0
"$bin" --baseline "$tmp/baseline.json" --results "$tmp/partial.jsonl" >"$tmp/out" || rc=$?
[[ $rc == 2 ]] && grep -q missing "$tmp/out" || { cat "$tmp/out"; echo "FAIL: missing figure not reported (exit $rc)"; exit 1; }

rc=0
"$bin" --baseline "$tmp/baseline.json" --results "$tmp/same.jsonl" --margin 1.5 2>"$tmp/err" || rc=$?
[[ $rc == 2 ]] && grep -q '"1.5"' "$tmp/err" || { cat "$tmp/err"; echo "FAIL: bad margin accepted"; exit 1; }
echo "PASS: bench-check flags regressions beyond the margin only"
