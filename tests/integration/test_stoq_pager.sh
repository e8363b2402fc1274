#!/usr/bin/env bash
# hmesh-stoq server: a GET of a file on a slow disk must not stall the
# server's other connections (stoq/stoq_pager.c). The root holds fast.bin
# (in the page cache) and slow/, a FUSE mount (slowfs.c) whose reads wait
# until the test lets them go.
#   1. default body_read_threads (2): while a GET of slow/big.bin waits on
#      the "disk" (a pager thread holds the read), or one of slow/open.bin
#      waits for the file's open, GETs of fast.bin on other connections
#      complete; let the reads go and big.bin arrives whole, and
#      stoq_body_chunks_paged and stoq_body_page_waits count what happened;
#      a PUT is made durable (fdatasync, rename, directory fsync) by a pager
#      thread before its 201 (strace)
#      a PUT to slow/, whose writes the disk holds back: GETs of fast.bin
#      complete meanwhile, the server holds the client back (flow control)
#      instead of taking the body into memory, and once the disk writes
#      the PUT is stored whole (stoq_put_blocks_paged, _writes_behind)
#   2. body_read_threads=0 (the event loop reads and writes, as before the
#      pager): the same GET of fast.bin does not complete while the disk
#      holds back a read, nor while it holds back a PUT's write, so step 1
#      does tell the two apart
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=${HMESH_BUILD:-$top/build}
bin=$build/bin/hmesh-stoq
tmp=$(mktemp -d)
mnt=$tmp/root/slow
port=$((20000 + ($$ + 5000) % 12000))
size=$((8 << 20))
srv=
fs=

fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "--- $*"; }

stop_fs() {
	[[ -n "$fs" ]] || return 0
	kill -USR1 "$fs" 2>/dev/null || true # let any held read go first
	kill -USR2 "$fs" 2>/dev/null || true # and any held write
	kill "$fs" 2>/dev/null || true
	wait "$fs" 2>/dev/null || true
	fs=
	fusermount3 -u "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || true
}
stop_server() {
	[[ -n "$srv" ]] || return 0
	kill "$srv" 2>/dev/null || true
	wait "$srv" 2>/dev/null || true
	srv=
}
cleanup() {
	[[ -z "$fs" ]] || kill -USR1 "$fs" 2>/dev/null || true
	[[ -z "$fs" ]] || kill -USR2 "$fs" 2>/dev/null || true
	stop_server
	stop_fs
	rm -rf "$tmp"
}
trap cleanup EXIT

for t in "$bin" fusermount3 mountpoint ss cc pkg-config strace; do
	command -v "$t" >/dev/null || [[ -x "$t" ]] || fail "$t is missing"
done
[[ -e /dev/fuse ]] || fail "/dev/fuse is missing"
cc -O2 -Wall -o "$tmp/slowfs" "$here/slowfs.c" $(pkg-config --cflags --libs fuse3) ||
	fail "cannot build slowfs"
bash "$top/stoq/stoq-cert.sh" "$tmp/pki" >/dev/null
cert=$tmp/pki/cert.pem key=$tmp/pki/key.pem
mkdir -p "$mnt" "$tmp/dl" "$tmp/dl2"
head -c $((3 << 20)) /dev/urandom >"$tmp/root/fast.bin" # just written: in the page cache
"$tmp/slowfs" --dump "$size" >"$tmp/want.bin"

start_fs() { # a fresh mount: nothing of big.bin in the page cache
	rm -f "$tmp/held" "$tmp/wheld"
	rm -rf "$tmp/back" # nothing written by an earlier mount
	mkdir -p "$tmp/back"
	"$tmp/slowfs" "$mnt" "$size" "$tmp/held" "$tmp/wheld" "$tmp/back" 2>>"$tmp/slowfs.log" &
	fs=$!
	for _ in $(seq 100); do
		mountpoint -q "$mnt" && return 0
		sleep 0.05
	done
	cat "$tmp/slowfs.log"
	fail "slowfs did not mount on $mnt"
}
start_server() { # extra args: --set KEY=VALUE...
	"$bin" server --listen "127.0.0.1:$port" --root "$tmp/root" --cert "$cert" --key "$key" \
		--stats-segment "stoq-pager-$$" "$@" 2>"$tmp/server.log" &
	srv=$!
	for _ in $(seq 50); do
		ss -Hlun "sport = :$port" | grep -q . && return 0
		sleep 0.1
	done
	cat "$tmp/server.log"
	fail "nothing listens on udp port $port"
}
# MARKER LOG WHAT CMD...: CMD (stderr to LOG) in the background, its pid in
# $held_pid; returns once slowfs holds a request of it (MARKER), failing
# with "no WHAT reached the disk" if none does.
held_bg() {
	local marker=$1 log=$2 what=$3
	shift 3
	"$@" 2>"$log" &
	held_pid=$!
	for _ in $(seq 200); do
		[[ -e "$marker" ]] && return 0
		sleep 0.05
	done
	cat "$log" "$tmp/server.log"
	fail "no $what reached the disk"
}
get_slow() { # [NAME, default big.bin] in the background; its pid in $slow
	slow_name=${1:-big.bin}
	held_bg "$tmp/held" "$tmp/slow.log" "request for slow/$slow_name" \
		timeout 120 "$bin" client --ca "$cert" --download "$tmp/dl" \
		"https://localhost:$port/slow/$slow_name"
	slow=$held_pid
}

finish_slow() { # let the disk answer: the held GET completes, with the disk's bytes
	local rc=0
	kill -USR1 "$fs"
	wait "$slow" || rc=$?
	((rc == 0)) || { cat "$tmp/slow.log" "$tmp/server.log"; fail "GET of slow/$slow_name: exit $rc"; }
	cmp "$tmp/dl/$slow_name" "$tmp/want.bin" || fail "slow/$slow_name: other bytes than the disk's"
	rm -f "$tmp/dl"/*
}

# 3 GETs of fast.bin, each whole, while WHAT ($1) holds the disk.
fast_gets() {
	for i in 1 2 3; do
		timeout 20 "$bin" client --ca "$cert" --download "$tmp/dl2" \
			"https://localhost:$port/fast.bin" 2>"$tmp/fast.log" ||
			{ cat "$tmp/fast.log"; fail "GET $i of fast.bin did not finish while $1"; }
		cmp -s "$tmp/dl2/fast.bin" "$tmp/root/fast.bin" || fail "fast.bin: other bytes"
		rm -f "$tmp/dl2"/*
	done
	echo "    3 GETs of fast.bin while $1"
}

# stats_when COND NAME...: the counters NAME... of the server's stats
# segment in v[0], v[1]...; polled (it is published every 100 ms, and an
# idle server's loop may sleep 200 ms first) until the bash arithmetic
# COND holds on them, for up to 3 s; false if it never did.
stats_when() {
	local cond=$1
	shift
	for _ in $(seq 30); do
		sleep 0.1
		mapfile -t v < <("$build/bin/hmesh-stat" -s "stoq-pager-$$" -j | python3 -c '
import json, sys
v = {e["name"]: e.get("value") for e in json.load(sys.stdin)["values"]}
for n in sys.argv[1:]:
    print(v[n])
' "$@")
		((${#v[@]} == $#)) && (($cond)) && return 0
	done
	return 1
}

step "body_read_threads 2: a GET held on the disk, GETs of a cached file go on"
start_fs
start_server
get_slow
fast_gets "the disk held slow/big.bin"
kill -0 "$slow" 2>/dev/null && [[ ! -e "$tmp/dl/big.bin" ]] ||
	{ cat "$tmp/slow.log"; fail "the GET of slow/big.bin ended while its disk held every read"; }
finish_slow
# 8 MiB: four 2 MiB chunks, each read by the pager (fast.bin is on the
# disk filesystem under /tmp too, and may add its own)
stats_when 'v[0] >= 4 && v[1] >= 1' stoq_body_chunks_paged stoq_body_page_waits ||
	fail "stats segment: ${v[0]} chunks paged (want 4 or more), ${v[1]} waits (want 1 or more)"
echo "    stats: ${v[0]} chunks paged, ${v[1]} waits"

step "body_read_threads 2: a GET whose file takes the disk to open, GETs of a cached file go on"
stop_fs
start_fs
get_slow open.bin
fast_gets "the disk held the open of slow/open.bin"
kill -0 "$slow" 2>/dev/null || { cat "$tmp/slow.log"; fail "the GET of slow/open.bin ended while its open was held"; }
finish_slow

step "a PUT is on the disk before its 201: fdatasync, rename, directory fsync, on a pager thread"
strace -f -qq -p "$srv" -e trace=fdatasync,rename,fsync -o "$tmp/strace.log" &
st=$!
traced() { # every thread of the server has strace as its tracer
	local f
	for f in /proc/"$srv"/task/*/status; do
		grep -q "^TracerPid:[[:space:]]*$st\$" "$f" || return 1
	done
}
for _ in $(seq 100); do
	traced && break
	sleep 0.05
done
traced || fail "strace did not attach to every thread of the server"
timeout 20 "$bin" client --ca "$cert" --put "$tmp/root/fast.bin" \
	"https://localhost:$port/stored.bin" 2>"$tmp/put.log" || { cat "$tmp/put.log"; fail "PUT"; }
grep -q "PUT /stored.bin: 201" "$tmp/put.log" || { cat "$tmp/put.log"; fail "no 201 for the PUT"; }
kill "$st"
wait "$st" 2>/dev/null || true
cmp -s "$tmp/root/stored.bin" "$tmp/root/fast.bin" || fail "stored.bin: other bytes than were PUT"
python3 - "$tmp/strace.log" "$srv" "$tmp/root/stored.bin" <<'PY' || { cat "$tmp/strace.log"; fail "the PUT was not made durable by a pager thread"; }
import re, sys
log, main, dst = sys.argv[1], sys.argv[2], sys.argv[3]
calls = [l.split(None, 1) for l in open(log) if re.match(r"\d+ +(fdatasync|rename|fsync)\(", l)]
names = [(tid, c.split("(")[0]) for tid, c in calls]
ren = [i for i, (tid, c) in enumerate(calls) if c.startswith("rename(") and dst in c]
assert len(ren) == 1, calls
i = ren[0]
tid = calls[i][0]
assert i >= 1 and names[i - 1] == (tid, "fdatasync"), names
assert i + 1 < len(names) and names[i + 1] == (tid, "fsync"), names
assert all(c.rstrip().endswith("= 0") for _, c in calls[i - 1:i + 2]), calls[i - 1:i + 2]
assert tid != main, "the event loop's own thread stored it"
print("    thread %s: fdatasync, rename, fsync (the event loop is %s)" % (tid, main))
PY
rm -f "$tmp/root/stored.bin"

# up.bin PUT to slow/up.bin in the background (pid in $up), held on the
# disk: returns once a write of it waits there.
head -c $((24 << 20)) /dev/urandom >"$tmp/up.bin"
put_held() {
	held_bg "$tmp/wheld" "$tmp/up.log" "write of the PUT to slow/up.bin" \
		timeout 120 "$bin" client --ca "$cert" --put "$tmp/up.bin" \
		"https://localhost:$port/slow/up.bin"
	up=$held_pid
}
finish_put() { # let the disk write: the PUT is stored, whole
	local rc=0
	kill -USR2 "$fs"
	wait "$up" || rc=$?
	((rc == 0)) || { cat "$tmp/up.log" "$tmp/server.log"; fail "PUT of slow/up.bin: exit $rc"; }
	grep -q "PUT /slow/up.bin: 201" "$tmp/up.log" || { cat "$tmp/up.log"; fail "no 201 for slow/up.bin"; }
	cmp -s "$tmp/back/up.bin" "$tmp/up.bin" || fail "slow/up.bin: other bytes than were PUT"
	ls -A "$tmp/back" | grep -q '^\.stoq-put-' && fail "a temporary file of the PUT is left in slow/"
	return 0
}
step "body_read_threads 2: a PUT held on the disk's writes, GETs of a cached file go on"
put_held
fast_gets "the disk held a write of the PUT to slow/up.bin"
kill -0 "$up" 2>/dev/null || { cat "$tmp/up.log"; fail "the PUT ended while its disk held every write"; }
# The client is held back: no more of the 24 MiB than the block being
# written and the stream's window (6 MiB at first) reaches the server.
sleep 1
stats_when 'v[2] >= 1' stoq_rx_bytes stoq_put_blocks_paged stoq_put_writes_behind ||
	fail "stoq_put_writes_behind ${v[2]}: no block queued behind the held one"
((v[0] < (12 << 20))) || fail "the server took ${v[0]} bytes while the disk wrote none: not held back"
echo "    held: the server has received $((v[0] >> 20)) MiB in all, ${v[2]} blocks queued behind another"
finish_put
stats_when 'v[0] >= 12 && v[1] == 0' stoq_put_blocks_paged stoq_put_writes_inline ||
	fail "stoq_put_blocks_paged ${v[0]} (want 12), stoq_put_writes_inline ${v[1]}"
echo "    stored whole once the disk wrote: ${v[0]} blocks written by the pager"
stop_server
stop_fs

step "body_read_threads 0: the same GET held on the disk stalls every connection"
start_fs
start_server --set body_read_threads=0
# No GET of fast.bin completes in 3 s while the loop waits on WHAT ($1).
fast_stalls() {
	local rc=0
	timeout 3 "$bin" client --ca "$cert" --download "$tmp/dl2" \
		"https://localhost:$port/fast.bin" 2>"$tmp/fast.log" || rc=$?
	((rc != 0)) || fail "fast.bin came through with the event loop held $1: step 1 proves nothing"
	echo "    GET of fast.bin: no answer in 3 s (exit $rc) while the loop waited $1"
}
get_slow
fast_stalls "on the disk"
finish_slow
put_held
fast_stalls "in a PUT's write"
finish_put
kill -0 "$srv" 2>/dev/null || { cat "$tmp/server.log"; fail "the server died"; }
echo "PASS: a file held on the disk stalls only its own GET or PUT (pager), and every request without it"
