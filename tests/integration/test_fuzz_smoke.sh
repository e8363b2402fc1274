#!/usr/bin/env bash
# Every libFuzzer target builds and runs for a few seconds on its seeds and
# committed regression inputs (tests/fuzz-regressions/<target>/), so a
# target cannot rot and a fixed crash cannot come back unnoticed. Long runs:
# make fuzz FUZZ_SECONDS=N.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${HMESH_BUILD:-$top/build}
secs=${FUZZ_SMOKE_SECONDS:-5}
make -s -C "$top" BUILD="$build" fuzz-build >/dev/null
targets=$(cd "$top/fuzz" && ls fuzz_*.c | sed 's/^fuzz_//; s/\.c$//')
bash "$top/scripts/fuzz.sh" "$build" "$secs" $targets | grep -E '^==> fuzz|^Done|stat::number_of_executed_units|fuzz .*: crash'
echo "PASS: fuzz smoke: $(echo $targets | wc -w) targets, ${secs}s each"
