#!/usr/bin/env bash
# hmesh-dataplane on net_pcap: a pcap of QUIC and malformed frames written
# here goes in, the output pcap is read back; packet counts, drop reasons,
# rewritten Ethernet addresses, untouched payloads and the optional VLAN
# encapsulation are checked, with the parser's two-frame (AVX2) path and
# without it. Then the same through the pipeline layout, and
# 9014-byte frames at the default mtu (dropped as chains) and at mtu = 9000.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
bin=${HMESH_BUILD:-$top/build}/bin/hmesh-dataplane
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

export PYTHONPATH="$here"

python3 - "$tmp/in.pcap" <<'PY'
import sys
from pkt import *
c = mac("02:00:00:00:00:01"); s = mac("02:00:00:00:00:02")
good, bad = [], []
for i in range(40):
    dcid = bytes([i, 1, 2, 3, 4, 5, 6, 7])
    good.append(eth(s, c, ETH_IP4, ipv4_udp([10,0,0,i], [10,100,0,1], 40000+i, 4433, quic_short(dcid, 100))))
for i in range(10):
    good.append(eth(s, c, ETH_IP4, ipv4_udp([10,0,1,i], [10,100,0,1], 50000+i, 4433, quic_initial(bytes([i]*8), bytes([9]*8)))))
# drops, each with a known reason
bad.append(eth(s, c, 0x0806, bytes(28)))                                              # not_ip
bad.append(eth(s, c, ETH_IP4, ipv4_udp([10,0,0,1],[10,0,0,2],1,4433,quic_short(b"x"*8))[:15]))  # ip4_truncated
bad.append(eth(s, c, ETH_IP4, ipv4_udp([10,0,0,1],[10,0,0,2],1,53,quic_short(b"x"*8))))        # udp_port
l = bytes([0xC3]) + struct.pack("!I", 1) + bytes([21]) + bytes(21) + b"\x00" + bytes(40)
bad.append(eth(s, c, ETH_IP4, ipv4_udp([10,0,0,1],[10,0,0,2],1,4433,l)))                       # quic_cid_too_long
bad.append(eth(s, c, ETH_IP4, ipv4_udp([10,0,0,1],[10,0,0,2],1,4433,bytes([0x03])+bytes(20)))) # quic_fixed_bit
frames = []
for i, g in enumerate(good):
    frames.append(g)
    if i % 10 == 0 and bad:
        frames.append(bad.pop())
frames += bad
write_pcap(sys.argv[1], frames)
PY

run() { # $1 = name, rest = extra app args; input $IN (default in.pcap), extra EAL args $EAL
	local name=$1
	shift
	# shellcheck disable=SC2086
	"$bin" -l 0-1 --no-pci --in-memory --file-prefix="hmt-pcap-$$-$name" --log-level='*:warning' ${EAL:-} \
		--vdev="net_pcap0,rx_pcap=${IN:-$tmp/in.pcap},tx_pcap=$tmp/out-$name.pcap" -- \
		--duration 2 --set stoq_ports=4433 --set quic_bit=set "$@" >"$tmp/$name.log" 2>&1 || {
		cat "$tmp/$name.log"
		echo "FAIL: hmesh-dataplane exited with an error ($name)"
		exit 1
	}
}

check() { # $1 = name, $2 = expected VLAN or "" ; $3 = expected dst mac
	python3 - "$tmp" "$1" "$2" "$3" <<'PY'
import json, sys
from pkt import *
tmp, name, vlan, dst = sys.argv[1:5]
log = open(f"{tmp}/{name}.log").read()
stats = json.loads(log.split("stats-json: ")[1].splitlines()[0])
inp = read_pcap(f"{tmp}/in.pcap")
out = read_pcap(f"{tmp}/out-{name}.pcap")
def fail(msg):
    print(log); sys.exit(f"FAIL ({name}): {msg}")
if stats["rx_packets"] != len(inp): fail(f"rx {stats['rx_packets']} != {len(inp)} frames in")
if stats["parsed"] != 50 or len(out) != 50: fail(f"parsed {stats['parsed']}, out {len(out)}, want 50")
if stats["tx_packets"] != 50: fail(f"tx_packets {stats['tx_packets']}")
if stats["quic_short"] != 40 or stats["quic_long"] != 10: fail("QUIC type counters")
want = {"not_ip": 1, "ip4_truncated": 1, "udp_port": 1, "quic_cid_too_long": 1, "quic_fixed_bit": 1}
for k, v in stats["drops"].items():
    if v != want.get(k, 0): fail(f"drop {k} = {v}, want {want.get(k, 0)}")
if stats["drops_total"] != 5: fail("drops_total")
good = [f for f in inp if f[12:14] == b"\x08\x00" and len(f) > 60 and f[14+9] == 17
        and f[14+22:14+24] == b"\x11\x51"]
good = [f for f in good if (f[42] & 0x40) and not (f[42] == 0xC3 and f[47] == 21)]
if len(good) != 50: fail(f"test bug: {len(good)} good input frames")
for i, (a, b) in enumerate(zip(good, out)):
    exp_dst = mac(dst) if dst else a[6:12]
    if b[0:6] != exp_dst: fail(f"frame {i}: dst {b[0:6].hex()} want {exp_dst.hex()}")
    if b[6:12] == a[6:12] and not dst: fail(f"frame {i}: source MAC not rewritten")
    if vlan:
        if b[12:14] != b"\x81\x00" or int.from_bytes(b[14:16], "big") & 0xFFF != int(vlan):
            fail(f"frame {i}: no VLAN {vlan} tag")
        if b[16:] != a[12:]: fail(f"frame {i}: payload changed under VLAN push")
    elif b[12:] != a[12:]: fail(f"frame {i}: bytes after the MACs changed")
print(f"ok ({name}): {len(inp)} in, {len(out)} out, drops by reason as expected")
PY
}

run rtc
check rtc "" ""
# The parser takes frames two at a time where the CPU has AVX2, one at a
# time where it has not or EAL caps vector width at 128 bits: both forward
# the same frames.
if grep -qw avx2 /proc/cpuinfo; then
	grep -q '^parser: two frames at a time (AVX2)' "$tmp/rtc.log" || {
		cat "$tmp/rtc.log"
		echo "FAIL: an AVX2 CPU, but the parser does not take frames two at a time"
		exit 1
	}
fi
EAL=--force-max-simd-bitwidth=128 run single
grep -q '^parser: one frame at a time' "$tmp/single.log" || {
	cat "$tmp/single.log"
	echo "FAIL: --force-max-simd-bitwidth=128 left the two-frame parser on"
	exit 1
}
check single "" ""
run nexthop --set next_hop_mac=02:aa:bb:cc:dd:ee
check nexthop "" 02:aa:bb:cc:dd:ee
run vlan --set tx_vlan=100
check vlan 100 ""
# A bad config key is refused, naming the key, before any port starts.
if "$bin" -l 0-1 --no-pci --in-memory --file-prefix="hmt-pcap-$$-bad" --log-level='*:warning' \
	--vdev="net_pcap0,rx_pcap=$tmp/in.pcap,tx_pcap=$tmp/bad.pcap" -- --set ring_size=1000 \
	>"$tmp/bad.log" 2>&1; then
	echo "FAIL: ring_size=1000 accepted"
	exit 1
fi
grep -q '"ring_size" is 1000: must be a power of two' "$tmp/bad.log" || {
	cat "$tmp/bad.log"
	echo "FAIL: error does not name the key"
	exit 1
}
# A pool smaller than what descriptors, rings and lcore caches can hold at
# once could run dry under load (RX stalls, rx_nombuf): refused at start,
# naming the key and the figure it needs, so it cannot happen at run time.
if "$bin" -l 0-1 --no-pci --in-memory --file-prefix="hmt-pcap-$$-pool" --log-level='*:warning' \
	--vdev="net_pcap0,rx_pcap=$tmp/in.pcap,tx_pcap=$tmp/bad.pcap" -- --set mbufs=1023 \
	--set rx_desc=1024 >"$tmp/bad.log" 2>&1; then
	echo "FAIL: mbufs=1023 with rx_desc=1024 accepted"
	exit 1
fi
grep -qE '"mbufs" is 1023: this layout can park [0-9]+ mbufs at once' "$tmp/bad.log" || {
	cat "$tmp/bad.log"
	echo "FAIL: a pool that can run dry is not refused by name"
	exit 1
}
# Jumbo frames. At the default mtu (1500) net_pcap hands a 9014-byte frame
# over as a chain of 2 KiB mbufs, which the packet path drops as
# "multiseg"; with mtu = 9000 the mbufs hold it whole and it is forwarded
# with its bytes intact. A PMD that cannot take the MTU is refused at start.
python3 - "$tmp/jumbo.pcap" <<'PY'
import sys
from pkt import *
c = mac("02:00:00:00:00:01"); s = mac("02:00:00:00:00:02")
f = [eth(s, c, ETH_IP4, ipv4_udp([10,0,0,i], [10,100,0,1], 40000+i, 4433,
                                  quic_short(bytes([i]*8), 9014 - 42))) for i in range(2)]
f.append(eth(s, c, ETH_IP4, ipv4_udp([10,0,0,9], [10,100,0,1], 40009, 4433, quic_short(bytes(8), 1200))))
assert [len(x) for x in f] == [9014, 9014, 1242]
write_pcap(sys.argv[1], f)
PY
IN=$tmp/jumbo.pcap run jumbo1500
IN=$tmp/jumbo.pcap run jumbo9000 --set mtu=9000
python3 - "$tmp" <<'PY'
import json, sys
from pkt import *
tmp = sys.argv[1]
inp = read_pcap(f"{tmp}/jumbo.pcap")
for name, out_n, multiseg in (("jumbo1500", 1, 2), ("jumbo9000", 3, 0)):
    log = open(f"{tmp}/{name}.log").read()
    st = json.loads(log.split("stats-json: ")[1].splitlines()[0])
    out = read_pcap(f"{tmp}/out-{name}.pcap")
    if st["rx_packets"] != 3 or len(out) != out_n or st["drops"]["multiseg"] != multiseg:
        print(log); sys.exit(f"FAIL ({name}): rx {st['rx_packets']}, out {len(out)}, "
                             f"multiseg {st['drops']['multiseg']}; want 3, {out_n}, {multiseg}")
    for a, b in zip([x for x in inp if len(x) <= 1514 or out_n == 3], out):
        if len(a) != len(b) or a[12:] != b[12:]: sys.exit(f"FAIL ({name}): a frame changed")
    print(f"ok ({name}): {out_n} of 3 forwarded, {multiseg} dropped as multiseg")
PY
if "$bin" -l 0-1 --no-pci --in-memory --file-prefix="hmt-pcap-$$-mtu" --log-level='*:warning' \
	--vdev=net_af_packet0,iface=lo -- --set mtu=9000 >"$tmp/bad.log" 2>&1; then
	echo "FAIL: mtu=9000 accepted on net_af_packet"
	exit 1
fi
grep -q '"mtu" is 9000: port 0 (net_af_packet0, net_af_packet) takes ' "$tmp/bad.log" || {
	cat "$tmp/bad.log"
	echo "FAIL: an MTU the PMD cannot take is not refused by name"
	exit 1
}
echo "PASS: dataplane on net_pcap"
