#!/usr/bin/env bash
# hmesh-run for real, on busybox bundles built by scripts/mk-bundle.sh:
#  - bad bundles are refused with the field named;
#  - isolation: no host processes, host mounts or other containers visible,
#    own hostname, read-only root, only the spec's capabilities, the default
#    seccomp filter refuses mount and unshare;
#  - mount destinations under a symlink in the rootfs resolve inside it;
#  - limits: the memory limit kills a hog, the pids limit stops a fork bomb;
#  - lifecycle: create/start/state/kill/delete/list, exit codes and signals
#    propagated, cgroups removed;
#  - warm pool: pool-exec runs a process in a prepared container, with
#    argument and environment overrides and its exit status.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${HMESH_BUILD:-$top/build}
run=$build/bin/hmesh-run
tmp=$(mktemp -d)
export HMESH_RUN_ROOT=$tmp/state
pool_pid=
cleanup() {
	[[ -n "$pool_pid" ]] && kill "$pool_pid" 2>/dev/null && wait "$pool_pid" 2>/dev/null
	for d in "$tmp"/state/*/; do [[ -d "$d" ]] && "$run" delete --force "$(basename "$d")" 2>/dev/null; done
	rm -rf "$tmp" "/dev/shm/hmesh-runtime-test-$$"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
bundle() { bash "$top/scripts/mk-bundle.sh" "$@" >/dev/null; }
"$run" --help | grep -q pool-exec || fail "--help"

# ---- bad bundles ----------------------------------------------------------------
bundle "$tmp/bad" -- true
spec=$tmp/bad/config.json
cp "$spec" "$tmp/good.json"
expect_refusal() { # python edit, expected text
	python3 -c "import json,sys; d=json.load(open('$tmp/good.json')); $1; json.dump(d, open('$spec','w'))"
	out=$("$run" run bad --bundle "$tmp/bad" 2>&1) && fail "accepted a bundle with: $1"
	[[ "$out" == *"$2"* ]] || fail "for '$1' the error is '$out', expected it to name '$2'"
}
expect_refusal 'd["linux"]["seccomp"] = {}' 'linux.seccomp: not supported'
expect_refusal 'd["process"]["terminal"] = True' 'process.terminal'
expect_refusal 'd["process"]["args"] = []' 'process.args'
expect_refusal 'd["process"]["capabilities"]["inheritable"] = []' 'process.capabilities.ambient'
expect_refusal 'd["process"]["rlimits"][0]["type"] = "RLIMIT_NOPE"' 'process.rlimits[0].type'
expect_refusal 'd["linux"]["namespaces"] = [{"type": "pid"}]' '"mount" is required'
expect_refusal 'd["mounts"][0]["type"] = "nfs"' 'mounts[0].type'
expect_refusal 'd["root"]["path"] = "../etc"' 'root.path'
expect_refusal 'd["ociVersion"] = "2.0.0"' 'ociVersion'
expect_refusal 'd["annotations"] = {"org.hypermesh.net.bridge": "br0"}' 'org.hypermesh.net.address: required'
expect_refusal 'd["annotations"] = {"org.hypermesh.net.bridge": "br0", "org.hypermesh.net.address": "10.1.1.300/24"}' 'org.hypermesh.net.address "10.1.1.300/24"'
expect_refusal 'd["annotations"] = {"org.hypermesh.net.bridge": "a-very-long-bridge-name", "org.hypermesh.net.address": "10.1.1.3/24"}' 'org.hypermesh.net.bridge "a-very-long-bridge-name"'
expect_refusal 'd["annotations"] = {"org.hypermesh.net.bridg": "br0"}' 'org.hypermesh.net.bridg: unknown'
expect_refusal 'd["annotations"] = {"org.hypermesh.net.bridge": "br0", "org.hypermesh.net.address": "10.1.1.3/24", "org.hypermesh.net.gateway": "fd00::1"}' 'org.hypermesh.net.gateway'
expect_refusal 'd["annotations"] = {"org.hypermesh.net.bridge": "br0", "org.hypermesh.net.address": "10.1.1.3/24"}; d["linux"]["namespaces"] = [{"type": "mount"}, {"type": "uts"}]' 'need a "network" namespace'
[[ -z "$(ls "$HMESH_RUN_ROOT" 2>/dev/null)" ]] || fail "a refused bundle left state behind"
echo "ok: bad bundles refused, each naming its field"

# ---- isolation --------------------------------------------------------------------
cc -O2 -static -o "$tmp/ptrace_probe" "$top/tests/integration/ptrace_probe.c" || fail "cannot build the ptrace probe"
bundle "$tmp/iso" --bin "$tmp/ptrace_probe" -- sh -c '
echo "maxpid $(ls /proc | grep -E "^[0-9]+$" | sort -n | tail -n 1)"
echo "host-mounts $(grep -c -e /work -e /home -e /var /proc/mounts)"
echo "hostname $(hostname)"
touch /rootfile 2>/dev/null && echo "root rw" || echo "root ro"
grep CapEff /proc/self/status
mount -t tmpfs x /tmp 2>/dev/null && echo "mount ok" || echo "mount refused"
unshare -n true 2>/dev/null && echo "unshare ok" || echo "unshare refused"
echo "ifaces $(ls /sys/class/net | tr "\n" " ")"
echo 9000 2>/dev/null >/sys/class/net/lo/mtu && echo "sys write ok" || echo "sys write refused"
echo h 2>/dev/null >/proc/sysrq-trigger && echo "sysrq ok" || echo "sysrq refused"
mknod /tmp/disk b 8 0 2>/dev/null && echo "mknod ok" || echo "mknod refused"
kill -0 '"$$"' 2>/dev/null && echo "host pid reachable" || echo "host pid out of reach"
ptrace_probe '"$$"'
'
out=$("$run" run iso --bundle "$tmp/iso")
# Its own PID space: pid 1 is its shell and the few it forks; no host pids.
maxpid=$(sed -n 's/^maxpid //p' <<<"$out")
[[ -n "$maxpid" && "$maxpid" -lt 10 ]] || fail "the container sees pid $maxpid: $out"
# Escapes tried from inside: /sys and /proc/sysrq-trigger written, a block
# device made, this test's own (host) pid signalled and ptrace-attached: all refused.
for want in "maxpid " "host-mounts 0" "hostname hmesh" "root ro" "CapEff:	0000000020000420" \
	"mount refused" "unshare refused" "ifaces lo " "sys write refused" "sysrq refused" \
	"mknod refused" "host pid out of reach" "ptrace refused"; do
	grep -qF "$want" <<<"$out" || fail "isolation: expected \"$want\" in: $out"
done
# Two containers at once: neither sees the other.
bundle "$tmp/slp" -- sleep 5
"$run" create other --bundle "$tmp/slp"
"$run" start other
out=$("$run" run iso2 --bundle "$tmp/iso")
maxpid=$(sed -n 's/^maxpid //p' <<<"$out")
[[ -n "$maxpid" && "$maxpid" -lt 10 ]] || fail "a container sees another's processes: $out"
"$run" kill other KILL
echo "ok: isolation: own PID space, no host mounts, hostname, ro root, caps, seccomp, own netns"

# ---- mount destinations stay in the rootfs ----------------------------------------------
# The image is untrusted: rootfs/data is a symlink to $hostdir, a directory
# that exists on the host and in the rootfs. A tmpfs and a read-only file
# bind under /data resolve as if the rootfs were / (rootfs$hostdir/...):
# nothing is made in the host's $hostdir. (This bundle has no tmpfs on /tmp,
# which would hide rootfs$hostdir.) A symlink that leads nowhere in the
# rootfs is refused by name, again with nothing made on the host.
hostdir=$tmp/hostdir
mkdir "$hostdir"
echo bound >"$tmp/bind-src"
bundle "$tmp/esc" -- sh -c "grep -q ' $hostdir/made/by/container tmpfs ' /proc/mounts &&
	echo 'tmpfs in place'; cat /data/file-from-bind
	echo x 2>/dev/null >/data/file-from-bind && echo 'bind rw' || echo 'bind ro'"
mkdir -p "$tmp/esc/rootfs$hostdir"
ln -s "$hostdir" "$tmp/esc/rootfs/data"
ln -s "$hostdir/nowhere" "$tmp/esc/rootfs/dangling"
esc_mounts() { # extra mounts under DIR of the rootfs
	python3 -c "
import json, sys
f, src, d = sys.argv[1:]
j = json.load(open(f))
j['mounts'] = [m for m in j['mounts'] if m['destination'] != '/tmp'] + [
    {'destination': d + '/made/by/container', 'type': 'tmpfs', 'source': 'tmpfs'},
    {'destination': d + '/file-from-bind', 'type': 'bind', 'source': src, 'options': ['rbind', 'ro']}]
json.dump(j, open(f, 'w'))" "$tmp/esc/config.json" "$tmp/bind-src" "$1"
}
cp "$tmp/esc/config.json" "$tmp/esc.json"
esc_mounts /data
out=$("$run" run esc --bundle "$tmp/esc" 2>&1) || true
left=$(find "$hostdir" -mindepth 1)
[[ -z "$left" ]] || fail "mounts under a symlink in the rootfs made on the host: $left (container: $out)"
[[ "$out" == *"tmpfs in place"*bound*"bind ro"* ]] || fail "mounts under a symlink in the rootfs: $out"
[[ -d "$tmp/esc/rootfs$hostdir/made/by/container" && -f "$tmp/esc/rootfs$hostdir/file-from-bind" ]] ||
	fail "mounts under a symlink: not made at rootfs$hostdir"
cp "$tmp/esc.json" "$tmp/esc/config.json"
esc_mounts /dangling
out=$("$run" run esc2 --bundle "$tmp/esc" 2>&1) && fail "a mount under a dangling symlink was accepted: $out"
[[ "$out" == *"mounts: /dangling/made/by/container: a symlink on the way leads nowhere"* ]] ||
	fail "a mount under a dangling symlink: $out"
left=$(find "$hostdir" -mindepth 1)
[[ -z "$left" ]] || fail "a mount under a dangling symlink made on the host: $left"
echo "ok: mount destinations: a symlink in the rootfs resolves inside it, nothing made on the host"

# ---- lifecycle ------------------------------------------------------------------------
state() { "$run" state "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])'; }
for _ in $(seq 50); do [[ $(state other) == stopped ]] && break; sleep 0.05; done
[[ $(state other) == stopped ]] || fail "killed container is $(state other)"
"$run" list | grep -q '^other .* stopped' || fail "list: $("$run" list)"
"$run" delete other
[[ ! -e /sys/fs/cgroup/memory/hmesh/other && ! -e /sys/fs/cgroup/hmesh/other ]] || fail "cgroup left after delete"
"$run" create lc --bundle "$tmp/slp"
[[ $(state lc) == created ]] || fail "after create: $(state lc)"
"$run" delete lc 2>/dev/null && fail "deleted a created (live) container without --force"
"$run" start lc
[[ $(state lc) == running ]] || fail "after start: $(state lc)"
"$run" start lc 2>/dev/null && fail "started a running container"
"$run" delete --force lc
"$run" state lc 2>/dev/null && fail "state of a deleted container"
bundle "$tmp/ex" -- sh -c 'exit 7'
set +e
"$run" run ex --bundle "$tmp/ex"
rc=$?
set -e
[[ $rc == 7 ]] || fail "exit status $rc, want 7"
# A signal from outside (pid 1 of a PID namespace ignores its own): run reports 128+9.
"$run" run sig --bundle "$tmp/slp" &
runner=$!
for _ in $(seq 100); do [[ $(state sig 2>/dev/null) == running ]] && break; sleep 0.02; done
"$run" kill sig KILL
set +e
wait "$runner"
rc=$?
set -e
[[ $rc == 137 ]] || fail "killed by SIGKILL: status $rc, want 137"
echo "ok: lifecycle: created/running/stopped, delete needs --force while live, exit 7 and 137 propagated, cgroups removed"

# ---- limits -----------------------------------------------------------------------------
bundle "$tmp/hog" --mem $((32 << 20)) -- sh -c 'a=$(head -c 200000000 /dev/zero | tr "\0" x); echo survived ${#a}'
set +e
out=$("$run" run hog --bundle "$tmp/hog" 2>&1)
rc=$?
set -e
[[ $rc == 137 && "$out" != *survived* ]] || fail "memory hog: status $rc, output $out"
# Forty background sleepers under a limit of 16 processes: a fork is refused.
bundle "$tmp/bomb" --pids 16 -- sh -c 'for i in $(seq 40); do sleep 2 & echo "started $i"; done; wait'
out=$("$run" run bomb --bundle "$tmp/bomb" 2>&1 || true)
started=$(grep -c '^started' <<<"$out" || true)
[[ "$out" == *"can't fork"* && "$started" -lt 16 ]] || fail "pids limit 16: $out"
echo "ok: limits: a 200 MB hog under a 32 MB limit is killed (137); a fork bomb under pids 16 is refused after $started children"

# ---- warm pool ------------------------------------------------------------------------
bundle "$tmp/pool" -- sh -c 'echo default args'
python3 -c "import json,sys; f=sys.argv[1]; d=json.load(open(f)); d['linux']['namespaces'].append({'type': 'cgroup'}); json.dump(d, open(f, 'w'))" "$tmp/pool/config.json"
"$run" pool --bundle "$tmp/pool" --socket "$tmp/pool.sock" --size 2 --stats-segment "runtime-test-$$" \
	>"$tmp/pool.log" 2>&1 &
pool_pid=$!
for _ in $(seq 100); do grep -q 'warm containers' "$tmp/pool.log" && break; sleep 0.05; done
grep -q 'warm containers' "$tmp/pool.log" || fail "pool did not start: $(cat "$tmp/pool.log")"
[[ $("$run" pool-exec --socket "$tmp/pool.sock") == "default args" ]] || fail "pool-exec with the bundle's args"
out=$("$run" pool-exec --socket "$tmp/pool.sock" --env GREETING=hi -- sh -c 'echo $GREETING from $$')
[[ "$out" == "hi from 1" ]] || fail "pool-exec with args and env: $out"
# A warm container prepares at nice 19; what it runs gets the pool's
# priority back, and its cgroup namespace is rooted at its own cgroup.
out=$("$run" pool-exec --socket "$tmp/pool.sock" -- sh -c 'cut -d" " -f19 /proc/self/stat; grep memory /proc/self/cgroup')
want=$(ps -o ni= -p "$pool_pid" | tr -d ' ')
[[ "$(head -n1 <<<"$out")" == "$want" ]] || fail "pool-exec process niceness: $out (pool: $want)"
[[ "$(tail -n1 <<<"$out")" == *":memory:/" ]] || fail "pool container's cgroup namespace: $(tr '\n' ' ' <<<"$out")"
for i in 1 2 3 4 5; do
	set +e
	"$run" pool-exec --socket "$tmp/pool.sock" -- sh -c "exit $i"
	rc=$?
	set -e
	[[ $rc == "$i" ]] || fail "pool-exec exit status $rc, want $i"
done
# Both containers taken at once, three rounds back to back: a request that
# comes while the pool is still preparing the replacements waits for one.
for round in 1 2 3; do
	"$run" pool-exec --socket "$tmp/pool.sock" -- true &
	a=$!
	"$run" pool-exec --socket "$tmp/pool.sock" -- true &
	b=$!
	wait "$a" || fail "round $round: a start waiting for a refill failed"
	wait "$b" || fail "round $round: a start waiting for a refill failed"
done
"$build/bin/hmesh-stat" -s "runtime-test-$$" -j | python3 -c '
import json, sys
v = {e["name"]: e for e in json.load(sys.stdin)["values"]}
assert v["pool_starts"]["value"] == 14, v["pool_starts"]
assert v["pool_busy"]["value"] == 0, v["pool_busy"]
# 2 + a refill per start; the last two refills may still be under way
assert v["pool_prepared"]["value"] >= 14 and v["pool_warm"]["value"] <= 2, v
assert v["container_start_seconds"]["count"] == 14 and v["container_prepare_seconds"]["count"] >= 14
print("ok: pool counters: 14 warm starts, p50 hand-out %.3f ms, p50 prepare %.2f ms" % (
    v["container_start_seconds"]["p50"] * 1e3, v["container_prepare_seconds"]["p50"] * 1e3))
' || fail "pool stats segment"
echo "ok: warm pool: bundle args, overrides, exit statuses, refilled after each start, requests wait for a refill"

# ---- networking ---------------------------------------------------------------------------
# Two containers on a bridge made by hmesh-run (with the gateway address):
# the host reaches both, they reach each other, each sees only lo and eth0.
br=hmbr$(($$ % 100000))
net=10.$((($$ / 256) % 200 + 20)).$(($$ % 256))
cleanup_net() { ip link del "$br" 2>/dev/null || true; }
trap 'cleanup_net; cleanup' EXIT
for k in 2 3; do
	bundle "$tmp/net$k" --net-bridge "$br" --net-address "$net.$k/24" --net-gateway "$net.1" \
		--cap CAP_NET_RAW -- sleep 60
	"$run" create "net$k" --bundle "$tmp/net$k" || fail "create net$k"
	"$run" start "net$k" || fail "start net$k"
done
bb=$tmp/net2/rootfs/bin/busybox
grep -q "$net.1/24" <<<"$(ip -br addr show "$br")" || fail "bridge $br without the gateway: $(ip -br addr show "$br")"
"$bb" ping -c 1 -W 2 "$net.2" >/dev/null || fail "the host cannot reach container net2 at $net.2"
"$bb" ping -c 1 -W 2 "$net.3" >/dev/null || fail "the host cannot reach container net3 at $net.3"
p2=$("$run" state net2 | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])')
nsenter -t "$p2" -n "$bb" ping -c 1 -W 2 "$net.3" >/dev/null || fail "net2 cannot reach net3"
ifs=$(nsenter -t "$p2" -n ip -o link | awk -F': ' '{print $2}' | cut -d@ -f1 | sort | tr '\n' ' ')
[[ "$ifs" == "eth0 lo " ]] || fail "net2 sees interfaces: $ifs"
# (grep -q on a pipe under pipefail: ip can die of SIGPIPE once grep has its line)
routes=$(nsenter -t "$p2" -n ip route)
grep -q "default via $net.1 dev eth0" <<<"$routes" || fail "net2 has no default route via $net.1: $routes"
# The host ends are in the bridge; killing a container removes its pair.
in_br=$(ip -o link show master "$br" | grep -c ': hmv' || true)
((in_br == 2)) || fail "$in_br host ends of veth pairs in $br, want 2"
"$run" kill net3 KILL
for _ in $(seq 50); do
	[[ "$("$run" state net3 | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')" == stopped ]] && break
	sleep 0.1
done
"$run" delete net3
"$bb" ping -c 1 -W 1 "$net.3" >/dev/null 2>&1 && fail "net3 still answers after kill and delete"
"$run" delete --force net2
echo "ok: networking: veth pairs into bridge $br, host <-> containers and container <-> container, only lo and eth0 inside"
echo "PASS: hmesh-run: bad bundles, isolation, mount destinations, lifecycle, limits, warm pool, networking"
