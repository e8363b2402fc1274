#!/usr/bin/env bash
# Container start-to-exec latency: from asking for a start (just before the
# command is spawned) to the first instruction of the container's process
# (hmesh-stamp prints CLOCK_REALTIME as it begins), over N starts each:
#   hmesh-run run (cold: namespaces, cgroup, mounts, pivot_root, exec),
#   hmesh-run pool-exec (warm: a container prepared in advance execs),
#   the same warm start asked on the pool's socket by a running process
#   (an orchestrator's view: no CLI process spawned per start),
#   and the reference OCI runtime on the same bundle in the same script:
#   Debian's crun (on this hybrid cgroup host with the v2 mount hidden,
#   which it refuses while v2 has a controller) and runc, same bundle.
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

# The references: crun (the issue's), then runc. Debian's crun refuses a
# hybrid host whose cgroup v2 mount has a controller (here hugetlb); in a
# private mount namespace with that mount hidden it runs in legacy v1 mode
# on the same v1 controllers hmesh-run uses. The whole measurement then runs
# in that namespace, ours included, so all rows see the same system.
refs=() hide_v2=
for r in crun runc; do
	command -v "$r" >/dev/null || continue
	if "$r" run -b "$tmp/bundle" "probe-$r" >"$tmp/probe" 2>&1; then
		refs+=("$r")
	elif [[ $r == crun ]] && grep -q "hybrid mode not supported" "$tmp/probe" &&
		unshare -m --propagation private sh -c \
			'mount -t tmpfs none /sys/fs/cgroup/unified && exec "$0" run -b "$1" probe-crun2' \
			"$r" "$tmp/bundle" >"$tmp/probe" 2>&1; then
		refs+=("$r")
		hide_v2=1
		echo "(crun runs with the cgroup v2 mount hidden: legacy v1 mode, as hmesh-run uses here)"
	else
		echo "($r cannot run here: $(head -c 200 "$tmp/probe" | tr '\n' ' '))"
	fi
done
((${#refs[@]})) || { echo "perf/runtime.sh: neither crun nor runc can run a container here" >&2; exit 1; }

"$run" pool --bundle "$tmp/bundle" --socket "$tmp/pool.sock" --size 8 >"$tmp/pool.log" 2>&1 &
pool_pid=$!
for _ in $(seq 100); do [[ -S "$tmp/pool.sock" ]] && grep -q 'warm containers' "$tmp/pool.log" && break; sleep 0.05; done
grep -q 'warm containers' "$tmp/pool.log" || { cat "$tmp/pool.log"; exit 1; }

ns=()
[[ -n "$hide_v2" ]] && ns=(unshare -m --propagation private sh -c \
	'mount -t tmpfs none /sys/fs/cgroup/unified && exec "$@"' sh)
"${ns[@]}" python3 - "$n" "$run" "$tmp" "$(IFS=,; echo "${refs[*]}")" <<'PY'
import json, os, statistics, subprocess, sys, time
n, run, tmp, refs = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4].split(",")
ref = refs[0]
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

def measure_api():
    """Warm starts asked for on the pool's socket, as an orchestrator that
    keeps running asks (rt_pool_release: SOCK_SEQPACKET, argv and env NUL
    lists, stdio by SCM_RIGHTS): no client process is spawned per start."""
    import array, socket
    lat = []
    t_start = time.time()
    for i in range(n):
        r, w = os.pipe()
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        s.connect(f"{tmp}/pool.sock")
        t0 = time.time_ns()
        s.sendmsg([b"\0\0"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [0, w, 2]))])
        os.close(w)
        out = b""
        while not out.endswith(b"\n"):
            chunk = os.read(r, 64)
            if not chunk:
                break
            out += chunk
        os.close(r)
        reply = ""
        while not reply.startswith(("exit", "error")):  # "pid N" comes first
            reply = s.recv(64).decode()
            if not reply:
                break
        s.close()
        if not out or reply.strip() != "exit 0":
            sys.exit(f"pool socket start {i}: stamp {out!r}, reply {reply!r}")
        lat.append((int(out.split()[0]) - t0) / 1e6)
    wall = time.time() - t_start
    lat.sort()
    q = lambda f: lat[min(len(lat) - 1, int(f * len(lat)))]
    return {"p50": q(0.5), "p95": q(0.95), "p99": q(0.99), "per_s": n / wall, "samples": lat}

rows = {
    "hmesh cold": measure("hmesh-run run", lambda i: [run, "run", f"c{i}", "--bundle", bundle]),
    "hmesh warm": measure("hmesh-run pool-exec", lambda i: [run, "pool-exec", "--socket", f"{tmp}/pool.sock"]),
    "warm (API)": measure_api(),
}
for rr in refs:
    rows[rr] = measure(rr, lambda i, rr=rr: [rr, "run", "-b", bundle, f"{rr}{i}"])
print(f"\nstart-to-exec latency over {n} starts (ms), references {', '.join(refs)} run on the same bundle")
print(f"{'runtime':<12} {'p50':>8} {'p95':>8} {'p99':>8} {'starts/s':>9} {'p50 ratio':>10}")
r = rows[ref]
for name, v in rows.items():
    print(f"{name:<12} {v['p50']:8.2f} {v['p95']:8.2f} {v['p99']:8.2f} {v['per_s']:9.1f} {v['p50'] / r['p50']:10.3f}")
# Every sample, for make bench-plot's latency distribution.
if os.environ.get("HMESH_BUILD"):
    os.makedirs(f"{os.environ['HMESH_BUILD']}/perf", exist_ok=True)
    with open(f"{os.environ['HMESH_BUILD']}/perf/runtime_samples.json", "w") as o:
        json.dump({name: v["samples"] for name, v in rows.items()}, o)
for name, key in (("hmesh cold", "runtime_cold"), ("hmesh warm", "runtime_warm"),
                  ("warm (API)", "runtime_warm_api")):
    v = rows[name]
    print(json.dumps({"bench": key, "vdev": "busybox", "size": 0, "metric": "start_to_exec_p50_ms",
                      "value": round(v["p50"], 3), "ref": round(r["p50"], 3), "ref_name": f"{ref}_run",
                      # Lower is better: the ratio is reference / ours, so > 1 means faster.
                      "ratio": round(r["p50"] / v["p50"], 3)}))
PY
