# shellcheck shell=bash
# Helpers for a local hmesh-controld PBFT cluster: N members on loopback,
# member i on 127.0.0.(i+1) (its own address, so a firewall rule can cut
# one member off), peer port PEER_BASE+i, REST port API_BASE+i.
# Sourced by tests/integration/test_cluster.sh and perf/consensus.sh.
#
#   cluster_make DIR N PEER_BASE API_BASE [JSON_EXTRA [ADDR_FMT]]   keys + configs
#       ADDR_FMT (e.g. 10.80.0.%d): member i at that address with i + 1, on
#       ports PEER_BASE and API_BASE (each member has its own namespace)
#   cluster_start DIR i [ARGS...]    start member i (pid in DIR/pid.i)
#   cluster_kill DIR i [SIGNAL]      stop member i (default SIGKILL)
#   cluster_api DIR i                its REST base URL
#   cluster_wait_connected DIR i     until it sees every peer (10 s)

cluster_make() {
	local dir=$1 n=$2 pbase=$3 abase=$4 extra=${5:-} fmt=${6:-}
	local ctld=${HMESH_BUILD:?}/bin/hmesh-controld i
	mkdir -p "$dir"
	for ((i = 0; i < n; i++)); do
		rm -f "$dir/key.$i"
		"$ctld" --gen-key "$dir/key.$i" >"$dir/pub.$i" || return 1
	done
	python3 - "$dir" "$n" "$pbase" "$abase" "$extra" "$fmt" <<'EOF'
import json, sys
d, n, pb, ab, extra = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
fmt, step = (sys.argv[6], 0) if sys.argv[6] else ("127.0.0.%d", 1)
members = [{"id": i, "peer": "%s:%d" % (fmt % (i + 1), pb + step * i),
            "api": "%s:%d" % (fmt % (i + 1), ab + step * i),
            "public_key": open("%s/pub.%d" % (d, i)).read().strip()} for i in range(n)]
for i in range(n):
    c = {"id": i, "key_file": "%s/key.%d" % (d, i), "members": members}
    c.update(json.loads(extra or "{}"))
    with open("%s/cluster.%d.json" % (d, i), "w") as f:
        json.dump(c, f, indent=1)
EOF
	echo "$abase" >"$dir/api_base"
}

cluster_api() {
	echo "http://127.0.0.$(($2 + 1)):$(($(cat "$1/api_base") + $2))"
}

cluster_start() {
	local dir=$1 i=$2
	shift 2
	"${HMESH_BUILD:?}/bin/hmesh-controld" --cluster "$dir/cluster.$i.json" \
		--listen "127.0.0.$((i + 1)):$(($(cat "$dir/api_base") + i))" \
		--state-dir "$dir/state.$i" --write-rate 0 --stats-segment off --runtime none "$@" \
		>>"$dir/log.$i" 2>&1 &
	echo $! >"$dir/pid.$i"
	local url
	url=$(cluster_api "$dir" "$i")
	for _ in $(seq 200); do
		curl -sf "$url/v1/health" >/dev/null 2>&1 && return 0
		kill -0 "$(cat "$dir/pid.$i")" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}

cluster_kill() {
	local pid
	pid=$(cat "$1/pid.$2" 2>/dev/null) || return 0
	# (it may have stopped by itself: under set -e a failed kill must not
	# end a test's cleanup half way, leaving members and mounts behind)
	kill "-${3:-KILL}" "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	while kill -0 "$pid" 2>/dev/null; do sleep 0.02; done
	rm -f "$1/pid.$2"
}

cluster_wait_connected() {
	local url
	url=$(cluster_api "$1" "$2")
	for _ in $(seq 200); do
		curl -sf "$url/v1/cluster" 2>/dev/null |
			python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if all(m["connected"] for m in d["members"]) else 1)' &&
			return 0
		sleep 0.05
	done
	return 1
}
