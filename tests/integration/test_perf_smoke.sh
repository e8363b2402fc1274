#!/usr/bin/env bash
# The two benchmark scripts with the most moving parts, at their smallest
# settings: perf/dataplane.sh (testpmd and hmesh-dataplane read in
# windows) and perf/stoq.sh (loopback, ring ports, veth, the AES-GCM
# ceiling; two runs a row, so a first GET's second run restarts its server).
# Not a measurement: each must finish, print every figure that
# perf/baseline.json holds for it (a renamed or lost figure would only show
# when someone runs make bench-check), each with positive rates and its
# ratio equal to value / ref, refuse bad options naming them, and leave no
# DPDK runtime files or servers behind.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# $1 = JSON lines, $2 = bench name prefix, $3 = 1 if the size is part of the
# figure's name in the baseline (frame sizes), 0 if not (transfer sizes).
check_figures() {
	python3 - "$1" "$top/perf/baseline.json" "$2" "$3" <<'PY'
import json, sys
path, base, prefix, exact = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
def key(bench, vdev, size, metric):
    return "/".join([bench, vdev, str(size) if exact else "*", metric])
got = set()
for line in open(path):
    f = json.loads(line)
    for k in ("value", "ref", "ratio"):
        if not isinstance(f.get(k), (int, float)) or f[k] <= 0:
            sys.exit("%s: %s is not a positive number" % (line.strip(), k))
    if abs(f["value"] / f["ref"] - f["ratio"]) > 0.0015 * max(1.0, f["ratio"]):
        sys.exit("%s: ratio is not value / ref" % line.strip())
    if "ratio_median" in f and not f["ratio_median"] > 0:
        sys.exit("%s: ratio_median is not positive" % line.strip())
    got.add(key(f["bench"], f["vdev"], f["size"], f["metric"]))
want = set()
for k in json.load(open(base))["figures"]:
    bench, vdev, size, metric = k.split("/", 3)
    if bench.startswith(prefix):
        want.add(key(bench, vdev, size, metric))
missing = sorted(want - got)
if missing:
    sys.exit("figures in perf/baseline.json that the script no longer prints: %s" % missing)
print("    %d figures, all %d of the baseline's present" % (len(got), len(want)))
PY
}

echo "--- perf/dataplane.sh -d 1 -r 1"
bash "$top/perf/dataplane.sh" -d 1 -r 1 >"$tmp/dp.out" 2>"$tmp/dp.err" ||
	{ cat "$tmp/dp.out" "$tmp/dp.err"; fail "perf/dataplane.sh"; }
grep '^{"bench"' "$tmp/dp.out" >"$tmp/dp.jsonl" || fail "perf/dataplane.sh printed no figures"
check_figures "$tmp/dp.jsonl" dataplane_ 1 || fail "perf/dataplane.sh figures"
# Rows against testpmd carry the median windows' ratio too.
[[ $(grep -c '"ratio_median"' "$tmp/dp.jsonl") -eq 5 ]] || fail "expected 5 rows with ratio_median"

echo "--- perf/stoq.sh --size 4M --reps 2"
bash "$top/perf/stoq.sh" --size 4M --reps 2 >"$tmp/st.out" 2>"$tmp/st.err" ||
	{ cat "$tmp/st.out" "$tmp/st.err"; fail "perf/stoq.sh"; }
grep '^{"bench"' "$tmp/st.out" >"$tmp/st.jsonl" || fail "perf/stoq.sh printed no figures"
check_figures "$tmp/st.jsonl" stoq_goodput 0 || fail "perf/stoq.sh figures"
grep -q 'crypto ceiling: wolfCrypt AES-128-GCM' "$tmp/st.out" || fail "no ceiling line"

echo "--- bad options are refused, named"
refuses() { # $1 = script under perf/, $2 = option, $3 = its bad value
	if bash "$top/perf/$1" "$2" "$3" >"$tmp/o" 2>&1; then fail "$1 $2 $3 accepted"; fi
	grep -q "perf/$1: $2 '$3'" "$tmp/o" || { cat "$tmp/o"; fail "$1 $2 $3: no error naming it"; }
}
refuses dataplane.sh -d 0
refuses dataplane.sh -r x
refuses dataplane.sh -d 1.5
refuses stoq.sh --reps 0
refuses stoq.sh --reps x
refuses stoq.sh --size 3Q

echo "--- nothing left behind"
left=$("$top/scripts/dpdk-leftovers.sh" --list 'hmp-|hmsp')
[[ -z "$left" ]] || fail "DPDK runtime files left: $left"
ls /dev/shm | grep -q '^hmesh-stoq-perf' && fail "perf/stoq.sh left its /dev/shm directory"
ip netns list | grep -q '^hmsp-' && fail "perf/stoq.sh left a namespace"
# Every server it started, restarted ones too, has its directory in its
# command line.
left=$(pgrep -af 'hmesh-stoq-perf\.' || true)
[[ -z "$left" ]] || fail "perf/stoq.sh left servers running: $left"
echo "ok: perf/dataplane.sh and perf/stoq.sh print every baseline figure, refuse bad options, clean up"
