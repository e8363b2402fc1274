#!/usr/bin/env bash
# make bench-check / make bench-baseline: repeat the benchmarks
# BENCH_REPEAT times (default 5), then compare their ratios with
# perf/baseline.json (or, with --refresh, write them as the new baseline).
#
#   perf/check.sh BUILD [--refresh]
# Environment: BENCH_REPEAT, BENCH_SECONDS (per measurement, default 2),
#              BENCH_MARGIN (default: the baseline's, 0.10 when refreshing)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
[[ "$build" = /* ]] || build=$top/$build
refresh=${2:-}
export HMESH_BUILD=$build
reps=${BENCH_REPEAT:-5}
secs=${BENCH_SECONDS:-2}
out=$build/perf/check.jsonl
mkdir -p "$build/perf"
: >"$out"
for i in $(seq "$reps"); do
	echo "==> round $i of $reps"
	bash "$top/perf/dataplane.sh" -d "$secs" | tee /dev/stderr | grep -E '^\{"bench"' >>"$out"
done
margin=()
[[ -n "${BENCH_MARGIN:-}" ]] && margin=(--margin "$BENCH_MARGIN")
if [[ "$refresh" == --refresh ]]; then
	machine="$(nproc) cpus, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -r)"
	exec "$build/bin/hmesh-bench-check" --refresh --baseline "$top/perf/baseline.json" \
		--results "$out" --machine "$machine" ${margin[@]+"${margin[@]}"}
fi
exec "$build/bin/hmesh-bench-check" --baseline "$top/perf/baseline.json" --results "$out" \
	${margin[@]+"${margin[@]}"}
