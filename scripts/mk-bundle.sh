#!/usr/bin/env bash
# Build an OCI bundle from what is already on this machine (never
# downloaded): a rootfs with Debian's static busybox, the given static
# binaries, and a config.json like `crun spec` writes (terminal off).
#
#   scripts/mk-bundle.sh DIR [--bin PATH]... [--mem BYTES] [--pids N]
#                        [--net-bridge BR | --net-host-if IF] [--net-address CIDR]
#                        [--net-gateway IP] [--cap CAP]... [--dyn PATH]...
#                        [--file SRC:DST]... [-- ARGS...]
#
# --bin copies a statically linked binary to /bin in the rootfs; --dyn
# copies a dynamically linked one to /bin with the libraries ldd names, at
# their own paths; --file copies SRC to DST in the rootfs; --mem and
# --pids set linux.resources limits; the container always has a network
# namespace (alone, it sees only its own loopback); --net-* ask for a veth
# pair into bridge BR (or a host interface IF) with the container at CIDR
# (annotations org.hypermesh.net.*, runtime/rt_net.h); --cap adds a
# capability to the default set; ARGS is process.args (default: sh).
set -euo pipefail
dir=${1:?usage: mk-bundle.sh DIR [--bin PATH]... [--mem BYTES] [--pids N] [-- ARGS...]}
shift
bins=()
dyns=()
files=()
mem=
pids=
net_bridge=
net_host_if=
net_addr=
net_gw=
extra_caps=
while (($#)); do
	case "$1" in
	--bin) bins+=("$2"); shift 2 ;;
	--net-bridge) net_bridge=$2; shift 2 ;;
	--net-host-if) net_host_if=$2; shift 2 ;;
	--net-address) net_addr=$2; shift 2 ;;
	--net-gateway) net_gw=$2; shift 2 ;;
	--cap) extra_caps+="${extra_caps:+,}$2"; shift 2 ;;
	--dyn) dyns+=("$2"); shift 2 ;;
	--file) files+=("$2"); shift 2 ;;
	--mem) mem=$2; shift 2 ;;
	--pids) pids=$2; shift 2 ;;
	--) shift; break ;;
	*) echo "mk-bundle.sh: unknown option $1" >&2; exit 2 ;;
	esac
done
bb=/bin/busybox
file -L "$bb" | grep -q 'statically linked' || { echo "mk-bundle.sh: $bb is not static (apt-get install busybox-static)" >&2; exit 1; }
rm -rf "$dir"
mkdir -p "$dir/rootfs/bin" "$dir/rootfs/proc" "$dir/rootfs/dev" "$dir/rootfs/sys" "$dir/rootfs/tmp" "$dir/rootfs/etc"
cp "$bb" "$dir/rootfs/bin/busybox"
for a in $("$bb" --list); do
	[[ -e "$dir/rootfs/bin/$a" ]] || ln -s busybox "$dir/rootfs/bin/$a"
done
for b in "${bins[@]}"; do
	file -L "$b" | grep -q 'statically linked' || { echo "mk-bundle.sh: $b is not statically linked" >&2; exit 1; }
	cp "$b" "$dir/rootfs/bin/"
done
for b in "${dyns[@]}"; do
	[[ -x "$b" ]] || { echo "mk-bundle.sh: --dyn $b: not an executable" >&2; exit 1; }
	cp "$b" "$dir/rootfs/bin/"
	# "libx.so => /path (addr)": into the directory libc is in, which the
	# loader searches by default (the binary's RUNPATH, e.g. under /tmp,
	# may be hidden by a mount in the container); the loader itself
	# ("/lib64/ld-linux... (addr)") at its own path.
	libdir=$(ldd "$b" | awk '$1 == "libc.so.6" {print $3}' | xargs dirname)
	mkdir -p "$dir/rootfs$libdir"
	for lib in $(ldd "$b" | awk '$2 == "=>" && $3 ~ /^\// {print $3}'); do
		cp -L "$lib" "$dir/rootfs$libdir/"
	done
	for ld in $(ldd "$b" | awk '$1 ~ /^\// {print $1}'); do
		mkdir -p "$dir/rootfs$(dirname "$ld")"
		cp -L "$ld" "$dir/rootfs$ld"
	done
done
for f in "${files[@]}"; do
	src=${f%%:*} dst=${f#*:}
	[[ -e "$src" && "$dst" == /* ]] || { echo "mk-bundle.sh: --file $f: want an existing SRC and an absolute DST" >&2; exit 1; }
	mkdir -p "$dir/rootfs$(dirname "$dst")"
	cp -r "$src" "$dir/rootfs$dst"
done
echo "root:x:0:0:root:/:/bin/sh" >"$dir/rootfs/etc/passwd"
echo "root:x:0:" >"$dir/rootfs/etc/group"
python3 - "$dir/config.json" "$mem" "$pids" "$net_bridge" "$net_host_if" "$net_addr" "$net_gw" "$extra_caps" "$@" <<'PY'
import json, sys
path, mem, pids = sys.argv[1], sys.argv[2], sys.argv[3]
bridge, host_if, addr, gw, extra = sys.argv[4:9]
args = sys.argv[9:] or ["sh"]
caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"] + [c for c in extra.split(",") if c]
ann = {}
for k, v in (("bridge", bridge), ("host_interface", host_if), ("address", addr), ("gateway", gw)):
    if v:
        ann["org.hypermesh.net." + k] = v
res = {"devices": [{"allow": False, "access": "rwm"}]}
if mem: res["memory"] = {"limit": int(mem)}
if pids: res["pids"] = {"limit": int(pids)}
spec = {
    "ociVersion": "1.0.0",
    "process": {"terminal": False, "user": {"uid": 0, "gid": 0}, "args": args,
                "env": ["PATH=/bin", "TERM=xterm"], "cwd": "/",
                "capabilities": {k: caps for k in ("bounding", "effective", "permitted", "inheritable", "ambient")},
                "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
                "noNewPrivileges": True},
    "root": {"path": "rootfs", "readonly": True},
    "hostname": "hmesh",
    "mounts": [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
        {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "mode=1777", "size=65536k"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
    ],
    "linux": {"resources": res,
              "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")],
              "maskedPaths": ["/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
              "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]},
}
if ann:
    spec["annotations"] = ann
json.dump(spec, open(path, "w"), indent=2)
PY
