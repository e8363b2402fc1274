#!/usr/bin/env bash
# make bench-check / make bench-baseline: repeat the benchmarks (dataplane, parser,
# L1 IFR, L3 ALM, telemetry overhead, container starts, consensus, STOQ)
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
# One round: every benchmark whose figure is a ratio to a reference measured
# in the same run, at sizes that keep a round near a minute and a half.
round() {
	bash "$top/perf/dataplane.sh" -d "$secs" -r 1
	"$build/perf/ifr_bench" --flows 1000000 --rounds 1 --no-bloom-row
	"$build/perf/alm_bench"
	"$build/perf/parse_bench" --rounds 5001
	bash "$top/perf/telemetry.sh" -d "$secs" -r 1
	bash "$top/perf/runtime.sh" -n 50
	"$build/perf/consensus_sim" --requests 64
	# 32 MiB transfers: every STOQ row (loopback and veth on 1/2 cores, AES
	# ceiling, ring-port server, veth DPDK back end) in ~13 s; the baseline
	# was taken at this size.
	bash "$top/perf/stoq.sh" --size $((32 << 20))
}
for i in $(seq "$reps"); do
	echo "==> round $i of $reps"
	round 2>&1 | tee /dev/stderr | grep -E '^\{"bench"' >>"$out"
done
margin=()
[[ -n "${BENCH_MARGIN:-}" ]] && margin=(--margin "$BENCH_MARGIN")
if [[ "$refresh" == --refresh ]]; then
	machine="$(nproc) cpus, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -r)"
	# A figure that only CPUs with some feature print (it names it in
	# "cpu_feature", e.g. STOQ's AES-GCM on VAES) stays out: a host
	# without it would fail the check (and test_perf_smoke) as missing.
	grep -v '"cpu_feature"' "$out" >"$out.base" ||
		{ echo "perf/check.sh: no figure in $out to take as the baseline" >&2; exit 1; }
	exec "$build/bin/hmesh-bench-check" --refresh --baseline "$top/perf/baseline.json" \
		--results "$out.base" --machine "$machine" ${margin[@]+"${margin[@]}"}
fi
exec "$build/bin/hmesh-bench-check" --baseline "$top/perf/baseline.json" --results "$out" \
	${margin[@]+"${margin[@]}"}
