#!/usr/bin/env bash
# The dataplane's control socket when its controller goes away mid-stream:
#  1. a client stages a service and a backend, sends half of the next
#     message and disappears: nothing of the batch is published (ROUTES
#     says the service is unknown to L3), the dataplane logs it once;
#  2. another client meanwhile and afterwards is served (HELLO);
#  3. its COMMIT is refused with -ESTALE until it sends a full sync, whose
#     sweep removes what the first client left; then the second client's
#     own state commits and is routable;
#  4. a client that commits its batch and then leaves leaves nothing
#     stale: a later COMMIT needs no sync.
# The wire format is common/hm_ctlmsg.h's, spoken from Python here.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=${HMESH_BUILD:-$top/build}
tmp=$(mktemp -d)
dp_pid=
trap '[[ -n "$dp_pid" ]] && kill "$dp_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
fail() { echo "--- dataplane log"; tail -20 "$tmp/dp.log" 2>/dev/null || true; echo "FAIL: $*"; exit 1; }

sock=$tmp/dp.sock
"$build/bin/hmesh-dataplane" -l 0-1 --no-pci --in-memory --file-prefix="hmt-cf-$$" \
	--log-level='*:warning' --vdev=net_null0 -- --set mfn=true --set mfn_dsr=false \
	--set ctl_socket="$sock" --set stats_segment=off --set idle_sleep_us=100 >"$tmp/dp.log" 2>&1 &
dp_pid=$!
for _ in $(seq 100); do
	[[ -S "$sock" ]] && grep -q forwarding "$tmp/dp.log" && break
	kill -0 "$dp_pid" 2>/dev/null || fail "dataplane exited at start"
	sleep 0.1
done
[[ -S "$sock" ]] || fail "no control socket"

python3 - "$sock" <<'PY' || fail "control socket behaviour"
import socket, struct, sys, time

MAGIC, VERSION = 0x54434D48, 2
T = dict(HELLO=1, SYNC_BEGIN=2, SYNC_END=3, SERVICE_SET=4, BACKEND_SET=6, COMMIT=9, ROUTES=16)
ESTALE, ENOENT = 116, 2
seq = 0

def msg(t, payload=b""):
    global seq
    seq += 1
    return struct.pack("<IHHII", MAGIC, VERSION, T[t], seq, len(payload)) + payload

def service(sid, port):
    return msg("SERVICE_SET", struct.pack("<IH", sid, port))

def backend(bid, sid, addr, port):
    return msg("BACKEND_SET", struct.pack("<IIHIBB16sH", bid, sid, 0, 1, 1, 4,
                                          socket.inet_aton(addr) + bytes(12), port))

def call(s, m):
    """Send one request, return (status, text) of its reply."""
    s.sendall(m)
    buf = b""
    while len(buf) < 16 or len(buf) < 16 + struct.unpack_from("<I", buf, 12)[0]:
        chunk = s.recv(4096)
        if not chunk:
            sys.exit("the dataplane closed the connection")
        buf += chunk
    magic, ver, typ, rseq, n = struct.unpack_from("<IHHII", buf)
    assert magic == MAGIC and typ & 0x8000 and rseq == struct.unpack_from("<I", m, 8)[0], buf[:16]
    status = struct.unpack_from("<i", buf, 16)[0]
    return status, buf[20:16 + n].split(b"\0")[0].decode()

def client():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sys.argv[1])
    s.settimeout(5)
    st, text = call(s, msg("HELLO"))
    assert st == 0 and text.startswith("hmesh-dataplane"), (st, text)
    return s

# 1. A batch cut off: staged, half a message, gone.
a = client()
for m in (service(7, 4433), backend(70, 7, "10.7.0.1", 4433)):
    st, text = call(a, m)
    assert st == 0, (st, text)
b = client()  # a second controller connects while a's batch is open
half = backend(71, 7, "10.7.0.2", 4433)
a.sendall(half[:25])
time.sleep(0.2)
a.close()
time.sleep(0.3)
st, text = call(b, msg("ROUTES", struct.pack("<I", 7)))
assert st == -ENOENT, ("service 7 reached L3 without a COMMIT", st, text)
print("ok: a batch cut off mid-message is not published (ROUTES 7: %s)" % text)

# 2 + 3. Someone else's COMMIT must not publish it; a full sync settles it.
st, text = call(b, msg("COMMIT"))
assert st == -ESTALE, ("COMMIT after a client left mid-batch", st, text)
print("ok: COMMIT refused until a full sync: %s" % text)
for m in (msg("SYNC_BEGIN"), service(8, 4434), backend(80, 8, "10.8.0.1", 4434), msg("SYNC_END")):
    st, text = call(b, m)
    assert st == 0, (st, text)
assert "removed" in text and not text.startswith("0 "), ("the sweep removed nothing", text)
st, text = call(b, msg("COMMIT"))
assert st == 0, (st, text)
st, text = call(b, msg("ROUTES", struct.pack("<I", 8)))
assert st == 0 and '"service": 8' in text.replace('"service":8', '"service": 8'), (st, text)
st, text = call(b, msg("ROUTES", struct.pack("<I", 7)))
assert st == -ENOENT, ("the left-over service 7 survived the sync", st, text)
print("ok: after SYNC_BEGIN..SYNC_END the left-overs are gone (%s) and service 8 routes" % "swept")

# 4. A committed batch leaves nothing stale behind.
b.close()
c = client()
st, text = call(c, msg("COMMIT"))
assert st == 0, ("COMMIT after a clean disconnect", st, text)
c.close()
print("ok: a client that committed and left leaves nothing stale")
PY
n=$(grep -c "control client left with" "$tmp/dp.log" || true)
[[ "$n" == 1 ]] || fail "the cut-off client should be logged once, got $n lines"
grep "control client left with" "$tmp/dp.log" | sed 's/^/    /'
kill -0 "$dp_pid" || fail "the dataplane died"
kill -INT "$dp_pid"
wait "$dp_pid" || fail "dataplane exit status $?"
dp_pid=
echo "PASS: control socket: a controller gone mid-batch publishes nothing, a full sync settles it"
