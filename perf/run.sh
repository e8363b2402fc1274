#!/usr/bin/env bash
# make bench: run every benchmark under perf/ (scripts perf/*.sh and the
# binaries built from perf/*.c), each of which prints its figure beside a
# reference measured in the same run; collect their JSON lines into
# BUILD/perf/results.jsonl.
#
#   perf/run.sh [BUILD]
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
[[ "$build" = /* ]] || build=$top/$build
export HMESH_BUILD=$build
out=$build/perf/results.jsonl
mkdir -p "$build/perf"
: >"$out"
status=0
run() {
	local name=$1
	shift
	echo "==> bench: $name"
	if "$@" 2>&1 | tee "$build/perf/$name.log"; then
		grep -E '^\{"bench"' "$build/perf/$name.log" >>"$out" || true
	else
		echo "bench $name failed"
		status=1
	fi
}
for s in "$top"/perf/*.sh; do
	case "$(basename "$s")" in run.sh | check.sh) continue ;; esac
	run "$(basename "$s" .sh)" bash "$s"
done
for b in "$build"/perf/*; do
	[[ -x "$b" && -f "$b" && "$b" != *.log && "$b" != *.jsonl ]] || continue
	run "$(basename "$b")" "$b"
done
echo "==> $(wc -l <"$out") figures in $out"
exit $status
