#!/usr/bin/env bash
# A short run of hmesh-dataplane built with AddressSanitizer, UBSan and
# LeakSanitizer on net_null: graceful shutdown must leave no leak of ours
# and no sanitizer report. DPDK's own libraries are not instrumented; the
# suppressions below cover only allocations made inside them.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=${HMESH_BUILD:-$top/build}-asan
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

make -s -C "$top" BUILD="$build" SANITIZE=1 "$build/bin/hmesh-dataplane" >/dev/null
cat >"$tmp/lsan.supp" <<'SUPP'
leak:librte_
leak:libhwloc
SUPP
for layout in "0-1 rtc" "0-2 pipeline"; do
	set -- $layout
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=23 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	LSAN_OPTIONS="suppressions=$tmp/lsan.supp:print_suppressions=0" \
		"$build/bin/hmesh-dataplane" -l "$1" --no-pci --no-huge -m 512 --in-memory \
		--file-prefix="hmt-asan-$$" --log-level='*:warning' --vdev=net_null0 --vdev=net_null1 -- \
		--set layout="$2" --set mbufs=4095 --set tx_port=1 --duration 2 >"$tmp/run.log" 2>&1 || {
		cat "$tmp/run.log"
		echo "FAIL: sanitizer run ($2) exited with an error"
		exit 1
	}
	if grep -Eq 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$tmp/run.log"; then
		cat "$tmp/run.log"
		echo "FAIL: sanitizer report ($2)"
		exit 1
	fi
	grep -q 'stats-json' "$tmp/run.log" || { cat "$tmp/run.log"; exit 1; }
	echo "ok ($2): clean ASan/UBSan/LSan run on net_null"
done
echo "PASS: dataplane sanitizer run"
