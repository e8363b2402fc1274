#!/usr/bin/env bash
# A short soak of the whole node (make soak runs it for SOAK_SECONDS): make
# run's appliance carries QUIC downloads for 20 s while its service scales
# 2 -> 3 -> 1 -> 2 replicas and a runtime setting changes; then the traffic
# stops and scripts/run-node.sh --soak checks the node is back to its
# baseline: no L1 flow left, mbufs in use as before, controld's descriptors
# as before and RSS within bounds, every packet sent or dropped under a
# counted reason, no failed download. It tears everything down.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
bash "$top/scripts/run-node.sh" "${HMESH_BUILD:-$top/build}" --duration 20 --soak >"${TMPDIR:-/tmp}/hmesh-soak-$$.log" 2>&1 || {
	tail -40 "${TMPDIR:-/tmp}/hmesh-soak-$$.log"
	rm -f "${TMPDIR:-/tmp}/hmesh-soak-$$.log"
	echo "FAIL: node soak"
	exit 1
}
grep -E "^soak |^PASS soak" "${TMPDIR:-/tmp}/hmesh-soak-$$.log"
rm -f "${TMPDIR:-/tmp}/hmesh-soak-$$.log"
echo "PASS"
