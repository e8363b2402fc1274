#!/usr/bin/env bash
# Runs every Criterion unit-test binary under BUILD/tests and every
# integration test tests/integration/test_*.sh, then prints one closing line
# "N passed, N failed" over both. Criterion's own "Synthesis" line of each
# binary reaches the output unchanged.
#
# Usage: tests/run.sh [BUILD] [FILTER]   FILTER: substring of the test path
set -uo pipefail

build=${1:-build}
filter=${2:-}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 2
export HMESH_BUILD="$top/$build"

passed=0
failed=0
failures=()

for t in $(find "$build/tests" -type f -perm -u+x -name 'test_*' 2>/dev/null | sort); do
	[[ -z "$filter" || "$t" == *"$filter"* ]] || continue
	echo "=== unit: $t"
	out=$(mktemp)
	timeout 600 "$t" --jobs 2 2>&1 | tee "$out"
	rc=${PIPESTATUS[0]}
	# [====] Synthesis: Tested: 12 | Passing: 12 | Failing: 0 | Crashing: 0
	line=$(grep -a 'Synthesis:' "$out" | tail -n1)
	rm -f "$out"
	if [[ -z "$line" ]]; then
		echo "--- $t printed no Criterion summary (exit $rc)"
		failed=$((failed + 1))
		failures+=("$t (no summary, exit $rc)")
		continue
	fi
	p=$(sed -E 's/.*Passing: ([0-9]+).*/\1/' <<<"$line")
	f=$(sed -E 's/.*Failing: ([0-9]+).*/\1/' <<<"$line")
	c=$(sed -E 's/.*Crashing: ([0-9]+).*/\1/' <<<"$line")
	passed=$((passed + p))
	failed=$((failed + f + c))
	if ((rc != 0 || f + c > 0)); then
		failures+=("$t")
		((f + c > 0)) || failed=$((failed + 1))
	fi
done

# DPDK leaves a runtime directory and, without --in-memory, hugepage files
# per --file-prefix when a process exits (scripts/dpdk-leftovers.sh). The
# tests' processes are gone when a test ends, so what appeared under the
# tests' prefixes during the test is removed; anything else (an operator's
# node) is left alone.
test_prefixes='(hmt|hme|hmx|hmsd)-.*'

for t in tests/integration/test_*.sh; do
	[[ -e "$t" ]] || continue
	[[ -z "$filter" || "$t" == *"$filter"* ]] || continue
	echo "=== integration: $t"
	start=$(date +%s)
	before=$(scripts/dpdk-leftovers.sh --list "$test_prefixes")
	if timeout 900 bash "$t"; then
		passed=$((passed + 1))
		echo "--- PASS $t ($(($(date +%s) - start)) s)"
	else
		failed=$((failed + 1))
		failures+=("$t")
		echo "--- FAIL $t ($(($(date +%s) - start)) s)"
	fi
	comm -13 <(echo "$before") <(scripts/dpdk-leftovers.sh --list "$test_prefixes") |
		xargs -r scripts/dpdk-leftovers.sh
done

if ((${#failures[@]})); then
	echo "failed:"
	printf '  %s\n' "${failures[@]}"
fi
echo "$passed passed, $failed failed"
((failed == 0))
