#!/usr/bin/env bash
# hmesh-dataplane with the MFN pipeline on net_pcap, services and backends
# from mfn_static:
#  1. L2 off: every flow of service 1 goes to one of its three backends and
#     stays there; the destination is rewritten (DNAT) with valid IPv4 and
#     UDP checksums and an untouched payload; IPv6 flows of service 2 reach
#     its IPv6 backend; a port with no service and an address-family mismatch
#     are dropped by name; L3 decides each flow once (later packets hit L1 or
#     the lcore's pending table); the flows spread over the backends.
#  2. L2 on: an Initial flood from one /24 is cut down while clients from
#     many prefixes get through.
#  3. Both layouts give the same per-flow backend (consistent hashing does not
#     depend on the lcore).
#  4. A bad mfn_static is refused at load, naming the key and the value.
#  5. QUIC-LB (mfn_quic_lb): short-header flows L1 does not know go to the
#     backend their connection ID names, across a key rotation (two
#     configs); a retired config's flows are decided by L3; bad configs are
#     refused naming the field.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
bin=${HMESH_BUILD:-$top/build}/bin/hmesh-dataplane
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export PYTHONPATH="$here"

static='1@4433=10.1.0.1:5001,10.1.0.2:5002,10.1.0.3:5003;2@4434=[fd00::1]:6001'

python3 - "$tmp" <<'PY'
import sys
from pkt import *
tmp = sys.argv[1]
c = mac("02:00:00:00:00:01"); s = mac("02:00:00:00:00:02")
fr = []
for i in range(60):                      # service 1: Initial + 2 short per flow
    src = [10, 0, i, 1]
    fr.append(eth(s, c, ETH_IP4, ipv4_udp_ck(src, [10,100,0,1], 40000+i, 4433,
                                             quic_initial(bytes([i]*8), bytes([7]*8)))))
    for j in range(2):
        fr.append(eth(s, c, ETH_IP4, ipv4_udp_ck(src, [10,100,0,1], 40000+i, 4433,
                                                 quic_short(bytes([i, j]*4), 80 + j))))
for i in range(5):                       # port 4435: carried, but no service
    fr.append(eth(s, c, ETH_IP4, ipv4_udp_ck([10,9,i,1], [10,100,0,1], 41000+i, 4435,
                                             quic_initial(bytes([i]*8), bytes([7]*8)))))
src6 = bytes.fromhex("20010db8000000000000000000000001")
dst6 = bytes.fromhex("20010db8000000000000000000000100")
for i in range(2):                       # service 2 over IPv6: 2 flows x 2 packets
    for j in range(2):
        fr.append(eth(s, c, ETH_IP6, ipv6_udp(src6, dst6, 42000+i, 4434,
                                              quic_initial(bytes([i]*8), bytes([7]*8)))))
for i in range(3):                       # IPv4 to service 2 (an IPv6 backend)
    fr.append(eth(s, c, ETH_IP4, ipv4_udp_ck([10,8,i,1], [10,100,0,1], 43000+i, 4434,
                                             quic_initial(bytes([i]*8), bytes([7]*8)))))
write_pcap(f"{tmp}/in.pcap", fr)

# Flood: 400 token-less Initials from one /24; clients: 40 prefixes, 2 Initials each.
fl = []
for i in range(400):
    fl.append(eth(s, c, ETH_IP4, ipv4_udp_ck([10,66,0,i % 250], [10,100,0,1], 20000+i, 4433,
                                             quic_initial(bytes([i % 256, i // 256]*4), bytes(8)))))
    if i % 10 == 0:
        k = i // 10
        fl.append(eth(s, c, ETH_IP4, ipv4_udp_ck([172, 16+k, k, 9], [10,100,0,1], 30000+k, 4433,
                                                 quic_initial(bytes([k, 0x5a]*4), bytes([k]*8)))))
for k in range(40):                      # each client's first 1-RTT packet: handshake done
    fl.append(eth(s, c, ETH_IP4, ipv4_udp_ck([172, 16+k, k, 9], [10,100,0,1], 30000+k, 4433,
                                             quic_short(bytes([k, 0x5b]*4), 80))))
write_pcap(f"{tmp}/flood.pcap", fl)
PY

run() { # $1 = name, $2 = input pcap, rest = app args
	local name=$1 in=$2
	shift 2
	"$bin" --lcores="${LCORES:-0-1}" --no-pci --in-memory --file-prefix="hmt-mfn-$$-$name" \
		--log-level='*:warning' --vdev="net_pcap0,rx_pcap=$in,tx_pcap=$tmp/out-$name.pcap" -- \
		--duration 2 --set stoq_ports=4433,4434,4435 --set mfn=true \
		--set "mfn_static=$static" "$@" >"$tmp/$name.log" 2>&1 || {
		cat "$tmp/$name.log"
		echo "FAIL: hmesh-dataplane exited with an error ($name)"
		exit 1
	}
}

run rtc "$tmp/in.pcap" --set mfn_dsr=false --set layout=rtc
LCORES=0@0,1@1,2@1 run pipe "$tmp/in.pcap" --set mfn_dsr=false --set layout=pipeline
python3 - "$tmp" <<'PY'
import json, struct, sys
from collections import Counter, defaultdict
from pkt import *
tmp = sys.argv[1]
backends = {(bytes([10,1,0,1]), 5001), (bytes([10,1,0,2]), 5002), (bytes([10,1,0,3]), 5003)}
placement = {}
for name in ("rtc", "pipe"):
    log = open(f"{tmp}/{name}.log").read()
    def fail(msg):
        print(log); sys.exit(f"FAIL ({name}): {msg}")
    st = json.loads(log.split("stats-json: ")[1].splitlines()[0])
    d = st["drops"]
    if st["rx_packets"] != 192: fail(f"rx_packets {st['rx_packets']}")
    if st["tx_packets"] != 184: fail(f"tx_packets {st['tx_packets']}, want 180 + 4")
    if d["mfn_no_service"] != 5: fail(f"mfn_no_service {d['mfn_no_service']}")
    if d["mfn_af_mismatch"] != 3: fail(f"mfn_af_mismatch {d['mfn_af_mismatch']}")
    if st["drops_total"] != 8: fail(f"drops_total {st['drops_total']}")
    # 60 + 2 + 3 flows reach L3 once each; every other packet is answered by L1
    # or by the pending table before the main lcore has registered the flow.
    if st["mfn_l3_decisions"] != 65: fail(f"mfn_l3_decisions {st['mfn_l3_decisions']}, want 65")
    if st["mfn_l1_hits"] + st["mfn_l1_misses"] != 192:
        fail(f"L1 saw {st['mfn_l1_hits'] + st['mfn_l1_misses']} packets, want 192")
    if st["mfn_l1_inserts"] != 65: fail(f"mfn_l1_inserts {st['mfn_l1_inserts']}")
    out = read_pcap(f"{tmp}/out-{name}.pcap")
    inp = read_pcap(f"{tmp}/in.pcap")
    orig = {}
    for f in inp:
        if f[12:14] == b"\x08\x00":
            orig.setdefault((f[26:30], f[34:36]), []).append(f)
    flows = defaultdict(set)
    seen = Counter()
    for f in out:
        if f[12:14] == b"\x86\xdd":
            if f[38:54] != bytes.fromhex("fd000000000000000000000000000001") or f[56:58] != struct.pack("!H", 6001):
                fail("IPv6 flow not rewritten to [fd00::1]:6001")
            udp = f[54:]
            if udp_csum(f[22:38], f[38:54], udp[:6] + b"\0\0" + udp[8:]) != struct.unpack("!H", udp[6:8])[0]:
                fail("IPv6 UDP checksum wrong after DNAT")
            continue
        ip, udp = f[14:34], f[34:]
        if csum(ip) != 0: fail("IPv4 header checksum wrong after DNAT")
        dst = (ip[16:20], struct.unpack("!H", udp[2:4])[0])
        if dst not in backends: fail(f"destination {dst} is no backend")
        if udp_csum(ip[12:16], ip[16:20], udp[:6] + b"\0\0" + udp[8:]) != struct.unpack("!H", udp[6:8])[0]:
            fail("UDP checksum wrong after DNAT")
        key = (ip[12:16], udp[0:2])
        o = orig[key][seen[key]]
        seen[key] += 1
        if udp[8:] != o[42:]: fail("payload changed")
        flows[key].add(dst)
    if len(flows) != 60: fail(f"{len(flows)} IPv4 flows out, want 60")
    if any(len(v) != 1 for v in flows.values()): fail("a flow was split over backends")
    per = Counter(next(iter(v)) for v in flows.values())
    if len(per) != 3 or min(per.values()) < 8: fail(f"flows per backend {dict(per)}")
    placement[name] = {k: next(iter(v)) for k, v in flows.items()}
    print(f"ok ({name}): 192 in, 184 out, DNAT checksums valid, flows per backend {sorted(per.values())}")
if placement["rtc"] != placement["pipe"]:
    sys.exit("FAIL: rtc and pipeline layouts placed flows differently")
PY

run flood "$tmp/flood.pcap" --set mfn_dsr=true --set layout=rtc
python3 - "$tmp" <<'PY'
import json, sys
from pkt import *
tmp = sys.argv[1]
log = open(f"{tmp}/flood.log").read()
st = json.loads(log.split("stats-json: ")[1].splitlines()[0])
out = read_pcap(f"{tmp}/out-flood.pcap")
flood = sum(1 for f in out if f[26:28] == bytes([10, 66]))
client = sum(1 for f in out if f[26] == 172 and f[42] & 0x80)
client_short = sum(1 for f in out if f[26] == 172 and not f[42] & 0x80)
d = st["drops"]
cut = d["mfn_l2_dropped"] + d["mfn_l2_rate_limited"]
print(f"flood: {flood}/400 forwarded, clients: {client}/40, L2 new flows {st['mfn_l2_new_flows']}, rate-passed {st['mfn_l2_rate_limit_passed']}, "
      f"admitted {st['mfn_l2_admitted']}, retry {st['mfn_l2_retry']}, cut {cut}")
if flood > 200: print(log); sys.exit("FAIL: L2 let more than half of the flood through")
if client < 32: print(log); sys.exit("FAIL: L2 stopped more than a fifth of the clients")
if cut + flood + client + client_short != 480 - d["mfn_no_backend"]: sys.exit("FAIL: packets unaccounted")
# Admitted clients' 1-RTT packets teach L2 (a few may share a feedback slot with another flow).
hs = st["mfn_l2_handshakes"]
print(f"handshakes seen: {hs} of {client} admitted clients ({client_short} 1-RTT packets forwarded)")
if not (0.7 * client <= hs <= client): sys.exit(f"FAIL: {hs} handshakes taught to L2 for {client} admitted clients")
verdicts = st["mfn_l2_admitted"] + st["mfn_l2_retry"] + st["mfn_l2_rate_limit_passed"] + cut
if verdicts != st["mfn_l2_new_flows"]: sys.exit(f"FAIL: {verdicts} L2 verdicts for {st['mfn_l2_new_flows']} new flows")
PY

# ---- 5. QUIC-LB: short headers go to the backend their DCID names ---------------
# 30 flows carry CIDs of config 0 (key K0) naming backend 2, 30 carry CIDs
# of config 1 (key K1) naming backend 0, as hmesh-stoq issues them
# (stoq/stoq_cid.c: first octet config|length, then AES-128 over server
# id + nonce). L1 knows none of them (a restarted dataplane, a migrated
# client). With both configs (a key rotation under way) every flow reaches
# the backend it names; with config 0 retired its flows are decided by L3.
k0=000102030405060708090a0b0c0d0e0f
k1=f0e0d0c0b0a090807060504030201000
python3 - "$tmp" "$k0" "$k1" <<'PY'
import subprocess, sys
from pkt import *
tmp, k0, k1 = sys.argv[1:4]
c = mac("02:00:00:00:00:01"); s = mac("02:00:00:00:00:02")
def cid(config, key, sid, n):
    plain = sid.to_bytes(3, "big") + bytes([n, 0x77]) + bytes(11)
    enc = subprocess.run(["openssl", "enc", "-aes-128-ecb", "-K", key, "-nopad"], input=plain,
                         capture_output=True, check=True).stdout
    return bytes([config << 5 | 16]) + enc
fr = []
for n in range(30):
    for config, key, sid, net in ((0, k0, 2, 30), (1, k1, 0, 31)):
        d = cid(config, key, sid, n)
        for _ in range(2):
            fr.append(eth(s, c, ETH_IP4, ipv4_udp_ck([172, net, n, 5], [10, 100, 0, 1], 40000 + n, 4433,
                                                     quic_short(d, 90))))
write_pcap(f"{tmp}/lb.pcap", fr)
PY
run lb-both "$tmp/lb.pcap" --set mfn_dsr=false --set short_dcid_len=17 \
	--set "mfn_quic_lb=0:3:17:$k0,1:3:17:$k1"
run lb-new "$tmp/lb.pcap" --set mfn_dsr=false --set short_dcid_len=17 --set "mfn_quic_lb=1:3:17:$k1"
python3 - "$tmp" <<'PY'
import json, struct, sys
from collections import Counter
from pkt import *
tmp = sys.argv[1]
addr = {bytes([10, 1, 0, k + 1]): k for k in range(3)}   # backend ids 0..2 in mfn_static order
for name, routed, decided in (("lb-both", 60, 0), ("lb-new", 30, 30)):
    st = json.loads(open(f"{tmp}/{name}.log").read().split("stats-json: ")[1].splitlines()[0])
    def fail(msg):
        sys.exit(f"FAIL ({name}): {msg}; stats {json.dumps({k: v for k, v in st.items() if 'quic_lb' in k or 'l3' in k})}")
    if st["tx_packets"] != 120 or st["drops_total"]: fail(f"tx {st['tx_packets']}, drops {st['drops_total']}")
    if st["mfn_quic_lb_routed"] != routed: fail(f"mfn_quic_lb_routed {st['mfn_quic_lb_routed']}, want {routed}")
    if st["mfn_quic_lb_miss"] != decided: fail(f"mfn_quic_lb_miss {st['mfn_quic_lb_miss']}, want {decided}")
    if st["mfn_l3_decisions"] != decided: fail(f"mfn_l3_decisions {st['mfn_l3_decisions']}, want {decided}")
    got = Counter()
    for f in read_pcap(f"{tmp}/out-{name}.pcap"):
        net, b = f[26 + 1], addr[f[30:34]]
        got[(net, b)] += 1
    if name == "lb-both" and got != Counter({(30, 2): 60, (31, 0): 60}):
        fail(f"flows did not reach the backend their CID names: {dict(got)}")
    if name == "lb-new":
        if got[(31, 0)] != 60: fail(f"config 1 flows: {dict(got)}")
        spread = {b for (net, b) in got if net == 30}
        if len(spread) < 2: fail(f"retired config 0 flows were not decided by L3 (all to {spread})")
    print(f"ok ({name}): {routed} flows routed by their CID, {decided} decided by L3: {dict(sorted(got.items()))}")
PY
# refused WHAT PATTERN SETTINGS...: the dataplane refuses the settings before
# any port starts, and its error matches PATTERN (names the key and the value).
refused() {
	local what=$1 pattern=$2 sets=()
	shift 2
	for kv in "$@"; do sets+=(--set "$kv"); done
	if "$bin" -l 0-1 --no-pci --in-memory --file-prefix="hmt-mfn-$$-bad" --log-level='*:warning' \
		--vdev="net_pcap0,rx_pcap=$tmp/in.pcap,tx_pcap=$tmp/bad.pcap" -- --set mfn=true \
		"${sets[@]}" >"$tmp/bad.log" 2>&1; then
		echo "FAIL: $what was accepted"
		exit 1
	fi
	grep -qE "$pattern" "$tmp/bad.log" || {
		cat "$tmp/bad.log"
		echo "FAIL: refusing $what, the error does not match: $pattern"
		exit 1
	}
}
refused "a short QUIC-LB key" '"mfn_quic_lb" .*entry 0: key: 32 hex digits' \
	short_dcid_len=17 'mfn_quic_lb=0:3:17:00112233'
refused "a QUIC-LB CID length other than short_dcid_len" \
	'"mfn_quic_lb" config 0 has CID length 17: short_dcid_len is 8' "mfn_quic_lb=0:3:17:$k0"
refused "a bad backend address" '"mfn_static" is .*10\.1\.0\.300:5001.*bad IPv4 address' \
	'mfn_static=1@4433=10.1.0.300:5001'
echo "PASS: dataplane MFN pipeline"
