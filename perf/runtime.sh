#!/usr/bin/env bash
# Container start-to-exec latency: from asking for a start (just before the
# command is spawned) to the first instruction of the container's process
# (hmesh-stamp prints CLOCK_REALTIME as it begins), over N starts each:
#   hmesh-run run (cold: namespaces, cgroup, mounts, pivot_root, exec),
#   hmesh-run pool-exec (warm: a container prepared in advance execs),
#   and the reference OCI runtime on the same bundle in the same script:
#   Debian's crun when it can run here, else runc (crun refuses hybrid
#   cgroup v1/v2 hosts like this one when v2 has a controller; it says so).
# Prints p50/p95/p99, starts per second, and the ratios to the reference.
#
# Usage: perf/runtime.sh [-n STARTS]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${HMESH_BUILD:-$top/build}
n=200
while getopts "n:h" o; do
	case $o in
	n) n=$OPTARG ;;
	h) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) exit 2 ;;
	esac
done
run=$build/bin/hmesh-run
stamp=$build/bin/hmesh-stamp
[[ -x "$run" && -x "$stamp" ]] || { echo "perf/runtime.sh: build first (make all)" >&2; exit 1; }
tmp=$(mktemp -d)
pool_pid=
trap '[[ -n "$pool_pid" ]] && kill "$pool_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
export HMESH_RUN_ROOT=$tmp/state
bash "$top/scripts/mk-bundle.sh" "$tmp/bundle" --bin "$stamp" -- /bin/hmesh-stamp

ref=
for r in crun runc; do
	command -v "$r" >/dev/null || continue
	if "$r" run -b "$tmp/bundle" "probe-$r" >"$tmp/probe" 2>&1; then
		ref=$r
		break
	fi
	echo "($r cannot run here: $(head -c 200 "$tmp/probe" | tr '\n' ' '))"
done
[[ -n "$ref" ]] || { echo "perf/runtime.sh: neither crun nor runc can run a container here" >&2; exit 1; }

"$run" pool --bundle "$tmp/bundle" --socket "$tmp/pool.sock" --size 8 >"$tmp/pool.log" 2>&1 &
pool_pid=$!
for _ in $(seq 100); do [[ -S "$tmp/pool.sock" ]] && grep -q 'warm containers' "$tmp/pool.log" && break; sleep 0.05; done
grep -q 'warm containers' "$tmp/pool.log" || { cat "$tmp/pool.log"; exit 1; }

python3 - "$n" "$run" "$tmp" "$ref" <<'PY'
import json, os, statistics, subprocess, sys, time
n, run, tmp, ref = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
bundle = f"{tmp}/bundle"

def measure(name, argv_of):
    lat = []
    t_start = time.time()
    for i in range(n):
        argv = argv_of(i)
        t0 = time.time_ns()
        p = subprocess.run(argv, capture_output=True, text=True)
        if p.returncode != 0:
            sys.exit(f"{name}: {' '.join(argv)} exited {p.returncode}: {p.stderr.strip()}")
        lat.append((int(p.stdout.split()[0]) - t0) / 1e6)
    wall = time.time() - t_start
    lat.sort()
    q = lambda f: lat[min(len(lat) - 1, int(f * len(lat)))]
    return {"p50": q(0.5), "p95": q(0.95), "p99": q(0.99), "per_s": n / wall, "samples": lat}

rows = {
    "hmesh cold": measure("hmesh-run run", lambda i: [run, "run", f"c{i}", "--bundle", bundle]),
    "hmesh warm": measure("hmesh-run pool-exec", lambda i: [run, "pool-exec", "--socket", f"{tmp}/pool.sock"]),
    ref: measure(ref, lambda i: [ref, "run", "-b", bundle, f"r{i}"]),
}
print(f"\nstart-to-exec latency over {n} starts (ms), reference {ref} run on the same bundle")
print(f"{'runtime':<12} {'p50':>8} {'p95':>8} {'p99':>8} {'starts/s':>9} {'p50 ratio':>10}")
r = rows[ref]
for name, v in rows.items():
    print(f"{name:<12} {v['p50']:8.2f} {v['p95']:8.2f} {v['p99']:8.2f} {v['per_s']:9.1f} {v['p50'] / r['p50']:10.3f}")
# Every sample, for make bench-plot's latency distribution.
if os.environ.get("HMESH_BUILD"):
    os.makedirs(f"{os.environ['HMESH_BUILD']}/perf", exist_ok=True)
    with open(f"{os.environ['HMESH_BUILD']}/perf/runtime_samples.json", "w") as o:
        json.dump({name: v["samples"] for name, v in rows.items()}, o)
for name, key in (("hmesh cold", "runtime_cold"), ("hmesh warm", "runtime_warm")):
    v = rows[name]
    print(json.dumps({"bench": key, "vdev": "busybox", "size": 0, "metric": "start_to_exec_p50_ms",
                      "value": round(v["p50"], 3), "ref": round(r["p50"], 3), "ref_name": f"{ref}_run",
                      # Lower is better: the ratio is reference / ours, so > 1 means faster.
                      "ratio": round(r["p50"] / v["p50"], 3)}))
PY
