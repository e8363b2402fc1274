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
# lcores, layout, vdevs, extra: net_null exercises parse-and-drop (its frames
# are zero-filled), net_ring with the generator the whole forwarding path,
# with and without the MFN pipeline, and beside a hosted STOQ server
# (stoq_listen: its ring port, rings, endpoint and pool are freed at exit;
# test_dataplane_stoq.sh moves data through it).
bash "$top/stoq/stoq-cert.sh" "$tmp/pki" IP:10.75.0.1 >/dev/null
printf 'cert = %s\nkey = %s\n' "$tmp/pki/cert.pem" "$tmp/pki/key.pem" >"$tmp/stoq.conf"
for spec in "0@0,1@1 rtc net_null0,net_null1 tx_port=1" \
	"0@0,1@1,2@1 pipeline net_null0,net_null1 tx_port=1" \
	"0@0,1@1 rtc net_ring0 gen_packets=256" \
	"0@0,1@1,2@1 pipeline net_ring0 gen_packets=256" \
	"0@0,1@1 rtc net_ring0 gen_packets=256 mfn=true mfn_flows=65536 mfn_static=1@443=10.100.0.1:443,10.100.0.1:443*2" \
	"0@0,1@1,2@1 pipeline net_ring0 gen_packets=256 mfn=true mfn_flows=65536 mfn_static=1@443=10.100.0.1:443,10.100.0.1:443*2" \
	"0@0,1@1,2@0 rtc net_ring0 gen_packets=256 stoq_listen=10.75.0.1:4443 stoq_root=$tmp stoq_config=$tmp/stoq.conf"; do
	set -- $spec
	vdevs=()
	for v in ${3//,/ }; do vdevs+=(--vdev="$v"); done
	sets=()
	for kv in "${@:4}"; do sets+=(--set "$kv"); done
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=23 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	LSAN_OPTIONS="suppressions=$tmp/lsan.supp:print_suppressions=0" \
		"$build/bin/hmesh-dataplane" --lcores="$1" --no-pci --no-huge -m 512 \
		--file-prefix="hmt-asan-$$" --log-level='*:warning' "${vdevs[@]}" -- \
		--set layout="$2" --set mbufs=8191 --set stoq_ports=443 "${sets[@]}" --duration 2 >"$tmp/run.log" 2>&1 || {
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
	what=
	[[ " ${*:4} " == *" mfn=true "* ]] && what+=", MFN"
	[[ " ${*:4} " == *" stoq_listen="* ]] && what+=", hosted STOQ server"
	echo "ok ($2 on $3$what): clean ASan/UBSan/LSan run"
done
echo "PASS: dataplane sanitizer run"
