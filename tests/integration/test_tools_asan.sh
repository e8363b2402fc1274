#!/usr/bin/env bash
# hmesh-run and hmesh-stoq built with AddressSanitizer, UBSan and
# LeakSanitizer, run through their own integration tests:
#  1. tests/integration/test_runtime.sh (bad bundles, isolation, lifecycle,
#     limits, the warm pool, networking) on the sanitized hmesh-run;
#  2. tests/integration/test_stoq_interop.sh (gtlsclient and gtlsserver,
#     100 MB, loss, handshake failures) on the sanitized hmesh-stoq;
#  3. tests/integration/test_stoq_dpdk.sh (the DPDK back end on a veth);
#  4. tests/integration/test_stoq_pager.sh (bodies read off a held disk by
#     the pager threads);
# and, first, every Criterion unit test built the same way (tests/stoq/
# test_stoq among them: the pager's orphaned jobs, the SIGBUS guard, PUTs
# cut short), the consensus simulation over 50 seeds instead of its 1000
# (two minutes sanitized; make soak runs it unsanitized over many more).
# Every process writes any sanitizer report to a file of its own
# (log_path), so a report from a server the test stopped, or from a
# container's set-up before its exec, is not lost in a log: the test fails
# when any such file exists. (test_controld_asan.sh and
# test_dataplane_asan.sh cover the other two daemons.)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=${HMESH_BUILD:-$top/build}
asan=$build-asan
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

units=()
for src in "$top"/tests/*/test_*.c; do
	rel=${src#"$top"/tests/}
	units+=("$asan/tests/${rel%.c}")
done
make -s -C "$top" BUILD="$asan" SANITIZE=1 "$asan/bin/hmesh-run" "$asan/bin/hmesh-stoq" \
	"$asan/bin/hmesh-stat" "$asan/bin/hmesh-stamp" "${units[@]}" >/dev/null
for b in hmesh-run hmesh-stoq; do
	[[ "$(nm "$asan/bin/$b")" == *__asan_init* ]] || { echo "FAIL: $asan/bin/$b is not instrumented"; exit 1; }
done
# The uninstrumented libraries' own allocations (wolfSSL, ngtcp2, DPDK, and
# Criterion's in a test's worker: 48 bytes of its own in test_ifr) are
# theirs to free; ours are not suppressed.
cat >"$tmp/lsan.supp" <<'SUPP'
leak:librte_
leak:libwolfssl
leak:libngtcp2
leak:libcriterion
SUPP
mkdir -p "$tmp/reports"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:exitcode=23:log_path=$tmp/reports/asan"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$tmp/reports/ubsan"
export LSAN_OPTIONS="suppressions=$tmp/lsan.supp"

reports() {
	local f found=0
	for f in "$tmp"/reports/*; do
		[[ -e "$f" ]] || continue
		found=1
		echo "--- $(basename "$f")"
		head -40 "$f"
	done
	return $found
}

for u in "${units[@]}"; do
	name=${u#"$asan"/tests/}
	echo "--- tests/$name sanitized"
	BFT_SEEDS=50 "$u" 2>"$tmp/unit.log" ||
		{ tail -20 "$tmp/unit.log"; reports || true; echo "FAIL: tests/$name under ASan/UBSan"; exit 1; }
	grep -m1 "Synthesis" "$tmp/unit.log"
	reports || { echo "FAIL: sanitizer reports during tests/$name"; exit 1; }
done

for t in test_runtime.sh test_stoq_interop.sh test_stoq_dpdk.sh test_stoq_pager.sh; do
	echo "--- $t on sanitized binaries"
	HMESH_BUILD=$asan bash "$here/$t" || { reports || true; echo "FAIL: $t under ASan/UBSan"; exit 1; }
	reports || { echo "FAIL: sanitizer reports during $t"; exit 1; }
done
echo "PASS: ${#units[@]} unit tests, hmesh-run and hmesh-stoq under ASan/UBSan/LSan: unit, runtime, interop, DPDK back-end and pager tests, no report"
