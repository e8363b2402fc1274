#!/usr/bin/env bash
# A short soak of the whole node (make soak runs it for SOAK_SECONDS): make
# run's appliance carries QUIC downloads for 20 s while its service scales
# 2 -> 3 -> 1 -> 2 replicas and a runtime setting changes; then the traffic
# stops and scripts/run-node.sh --soak checks the node is back to its
# baseline: no L1 flow left, mbufs in use as before, controld's descriptors
# as before and RSS within bounds (the dataplane's within 1 MiB), every
# packet sent or dropped under a counted reason, no failed download. It
# tears everything down.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
log=${TMPDIR:-/tmp}/hmesh-soak-$$.log
bash "$top/scripts/run-node.sh" "${HMESH_BUILD:-$top/build}" --duration 20 --soak >"$log" 2>&1 || {
	# The teardown's counters come last: the verdict first, then the tail.
	grep -E "^soak |^(PASS|FAIL) soak" "$log" || true
	tail -40 "$log"
	rm -f "$log"
	echo "FAIL: node soak"
	exit 1
}
grep -E "^soak |^PASS soak" "$log"
rm -f "$log"
echo "PASS"
