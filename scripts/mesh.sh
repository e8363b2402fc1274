#!/usr/bin/env bash
# A mesh of N HyperMesh nodes on this machine (N >= 4: PBFT needs 3f + 1).
#
#   scripts/mesh.sh [N] [--duration SECONDS] [--check] [BUILD]
#
# Each node is a network namespace hm-n<i> holding what one appliance runs:
# hmesh-controld (a member of one PBFT cluster with the others, peers over
# the "WAN"), hmesh-dataplane in router mode (client port + backend port,
# net_af_xdp with our XDP program, idle_sleep_us so N dataplanes share two
# CPUs), and a replica of the service "files" (hmesh-stoq server in a
# container from hmesh-run). Each node has a client namespace hm-c<i>
# (10.77.<i+1>.2 -> service address 10.77.<i+1>.1).
#
# The WAN: every node's wan0 (10.80.0.<i+1>) is a veth into namespace
# hm-wan, where scripts/linkemu.py switches frames with a delay per pair of
# nodes (this kernel has no tc netem): nodes 0-1 and 2-3 are two regions
# 2 ms apart, the regions 10 ms apart. Each node routes the other nodes'
# container subnets (10.79.<j+1>.0/24) and client subnets over the WAN.
#
# Traffic entering node 0 reaches the replicas on every node: node 0's
# dataplane decides each new flow with L3 ALM, whose Maglev table weighs a
# backend by the path cost to its node, learnt from the RTT TCP measures
# on controld's cluster connections (LINK_RTT). Then the script makes the
# link between nodes 0 and 2 slow and shows node 0 sending fewer new flows
# to node 2 (GET /v1/routes/files), cuts node 3 off (the other three keep
# committing writes) and heals it (it catches up).
#
# --check turns each step into an assertion (tests/integration/test_mesh.sh);
# without it the mesh stays up for --duration seconds (0: until Ctrl-C)
# with a live line. Everything is torn down on exit.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$top/build
n=4 dur=0 check=0
while (($#)); do
	case "$1" in
	--duration) dur=${2:?--duration needs seconds}; shift ;;
	--check) check=1 ;;
	-h | --help) sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	-*) echo "mesh.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
	[0-9]*) n=$1 ;;
	*) build=$1 ;;
	esac
	shift
done
[[ "$n" =~ ^[0-9]+$ ]] && ((n >= 4 && n <= 16)) || { echo "mesh.sh: N is '$n': must be 4..16" >&2; exit 2; }
[[ "$dur" =~ ^[0-9]+$ ]] || { echo "mesh.sh: --duration is '$dur': whole seconds" >&2; exit 2; }
[[ "$build" = /* ]] || build=$top/$build
export HMESH_BUILD=$build
dp=$build/bin/hmesh-dataplane
ctld=$build/bin/hmesh-controld
stoq=$build/bin/hmesh-stoq
# The QUIC-LB key the servers encrypt their connection IDs with (four-pass
# AES over 8-octet CIDs) and the dataplane reads their backend id with.
cid_key=$(od -An -tx1 -N16 /dev/urandom | tr -d " \n")
xdp=$build/lib/bpf/hmesh_steer.bpf.o
for b in "$dp" "$ctld" "$stoq" "$xdp"; do
	[[ -e "$b" ]] || { echo "mesh.sh: $b is missing (make all)" >&2; exit 1; }
done
tmp=$(mktemp -d /tmp/hmesh-mesh.XXXXXX)
wan=hm-wan
# shellcheck source=cluster-lib.sh
. "$top/scripts/cluster-lib.sh"
# shellcheck source=netns.sh
. "$top/scripts/netns.sh"
pids=()
ctl_pids=()

say() { echo "==> [${SECONDS}s] $*"; }
fail() {
	echo "FAIL: $*" >&2
	for ((i = 0; i < n; i++)); do
		echo "--- node $i: controld" >&2
		tail -5 "$tmp/n$i/cd.log" >&2 2>/dev/null || true
		echo "--- node $i: dataplane" >&2
		tail -3 "$tmp/n$i/dp.log" >&2 2>/dev/null || true
		for l in "$tmp/n$i"/state/containers/*/log; do
			[[ -s "$l" ]] || continue
			echo "--- node $i: container $(basename "$(dirname "$l")")" >&2
			tail -3 "$l" >&2
			break
		done
	done
	exit 1
}
teardown() {
	say "tearing down"
	# controlds first: they stop their containers and take their backends out.
	for p in "${ctl_pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${ctl_pids[@]}"; do wait "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	[[ -f "$tmp/linkemu.log" ]] && tail -1 "$tmp/linkemu.log"
	for ((i = 0; i < n; i++)); do
		ip netns del "hm-c$i" 2>/dev/null || true
		ip netns del "hm-n$i" 2>/dev/null || true
		"$top/scripts/dpdk-leftovers.sh" "hm-mesh-$i"
	done
	ip netns del "$wan" 2>/dev/null || true
	rm -rf "$tmp"
}
trap teardown EXIT
trap 'exit 0' INT TERM

in_ns() { ip netns exec "$@"; }
api() { echo "http://127.0.0.1:8080"; } # each node's REST, on its own loopback
rest() { # node, method, path, [body]: prints the reply, fails on an HTTP error
	local node=$1 method=$2 path=$3 body=${4:-}
	in_ns "hm-n$node" curl -sf -X "$method" ${body:+-H 'Content-Type: application/json' -d "$body"} \
		"$(api "$node")$path"
}
wait_for() { # seconds, command...: wall-clock bound (the command itself may take a while)
	local until=$((SECONDS + $1))
	shift
	while ((SECONDS < until)); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
	return 1
}
mac_of() { in_ns "$1" cat "/sys/class/net/$2/address"; }

# ---- the WAN and its delays ---------------------------------------------------------------
region() { echo $(($1 * 2 / n)); } # first half region 0, second half region 1
delays_file=$tmp/delays.json
write_delays() { # python expression of (i, j) -> one-way ms, or -1
	python3 - "$n" "$1" >"$delays_file.new" <<'EOF'
import json, sys
n, expr = int(sys.argv[1]), sys.argv[2]
region = lambda i: i * 2 // n
print(json.dumps({"delay_ms": [[0 if i == j else eval(expr) for j in range(n)] for i in range(n)]}))
EOF
	mv "$delays_file.new" "$delays_file"
}
base_delays='2 if region(i) == region(j) else 10'
write_delays "$base_delays"

say "mesh of $n nodes: namespaces hm-n0..hm-n$((n - 1)), WAN in $wan (scripts/linkemu.py)"
ip netns del "$wan" 2>/dev/null || true
ip netns add "$wan"
ip -n "$wan" link set lo up
in_ns "$wan" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
ports=()
for ((i = 0; i < n; i++)); do
	ns=hm-n$i cns=hm-c$i o=$((i + 1))
	ip netns del "$ns" 2>/dev/null || true
	ip netns del "$cns" 2>/dev/null || true
	ip netns add "$ns"
	ip netns add "$cns"
	for x in "$ns" "$cns"; do
		ip -n "$x" link set lo up
		in_ns "$x" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
	done
	in_ns "$ns" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 \
		net.ipv4.conf.default.rp_filter=0
	# WAN: no offloads on either end, so the switch sees wire-sized frames.
	ip link add "hmw$i" netns "$wan" type veth peer name wan0 netns "$ns"
	in_ns "$wan" ethtool -K "hmw$i" tx off tso off gso off gro off >/dev/null 2>&1 || true
	in_ns "$ns" ethtool -K wan0 tx off tso off gso off gro off >/dev/null 2>&1 || true
	ip -n "$wan" link set "hmw$i" up
	ip -n "$ns" addr add "10.80.0.$o/24" dev wan0
	ip -n "$ns" link set wan0 up
	ports+=("hmw$i")
	# Client side: the dataplane's port 0 (hmcd) faces the client namespace.
	ip link add "hmcd$i" netns "$ns" type veth peer name cl0 netns "$cns"
	ip -n "$ns" link set "hmcd$i" up
	ip -n "$cns" addr add "10.77.$o.2/24" dev cl0
	in_ns "$cns" ethtool -K cl0 tx off >/dev/null
	ip -n "$cns" link set cl0 up
	ip -n "$cns" neigh add "10.77.$o.1" lladdr "$(mac_of "$ns" "hmcd$i")" dev cl0
	# Backend side: port 1 (hmbd) into this node's kernel (hmrt), which routes
	# to the containers here and over the WAN, and the client subnet back.
	ip -n "$ns" link add "hmbd$i" type veth peer name "hmrt$i"
	ip -n "$ns" link set "hmbd$i" up
	ip -n "$ns" addr add "10.98.$i.1/30" dev "hmrt$i"
	ip -n "$ns" link set "hmrt$i" up
	ip -n "$ns" neigh replace "10.98.$i.2" lladdr "$(mac_of "$ns" "hmbd$i")" dev "hmrt$i" nud permanent
	ip -n "$ns" route replace "10.77.$o.0/24" via "10.98.$i.2" dev "hmrt$i"
	in_ns "$ns" sysctl -qw "net.ipv4.conf.hmcd$i.forwarding=0" "net.ipv4.conf.hmbd$i.forwarding=0"
	for ((j = 0; j < n; j++)); do
		((j == i)) && continue
		ip -n "$ns" route add "10.79.$((j + 1)).0/24" via "10.80.0.$((j + 1))"
		ip -n "$ns" route add "10.77.$((j + 1)).0/24" via "10.80.0.$((j + 1))"
	done
	mkdir -p "$tmp/n$i"
done
ip netns exec "$wan" python3 "$top/scripts/linkemu.py" --ports "$(IFS=,; echo "${ports[*]}")" \
	--delays "$delays_file" >"$tmp/linkemu.log" 2>&1 &
pids+=($!)
wait_for 5 grep -q "ports" "$tmp/linkemu.log" || fail "linkemu did not start: $(cat "$tmp/linkemu.log")"
echo "    one-way delays: 2 ms inside a region (nodes 0..$((n / 2 - 1)) | $((n / 2))..$((n - 1))), 10 ms between"

# ---- dataplanes ----------------------------------------------------------------------------
start_dp() { # node, vdev0, vdev1
	local i=$1 ns=hm-n$1
	# ip netns exec itself, not in_ns: a function run in the background is a
	# subshell, and $! would be its pid, not the dataplane's.
	ip netns exec "$ns" "$dp" -l 0-1 --no-pci --file-prefix="hm-mesh-$i" --log-level='*:warning' \
		--vdev="$2" --vdev="$3" -- --set stoq_ports=4433 --set mbufs=8191 --set mfn=true \
		--set mfn_dsr=false --set mfn_flows=65536 --set mfn_node_id="$i" --set idle_sleep_us=200 \
		--set backend_port=1 --set next_hop_mac="$(mac_of "hm-c$i" cl0)" \
		--set backend_next_hop_mac="$(mac_of "$ns" "hmrt$i")" \
		--set service_address="10.77.$((i + 1)).1" --set ctl_socket="$tmp/n$i/dp.sock" \
		--set "mfn_quic_lb=0:2:8:$cid_key" >"$tmp/n$i/dp.log" 2>&1 &
	dp_pid=$!
	dp_wait_forwarding "$tmp/n$i/dp.log" "$dp_pid"
}
say "hmesh-dataplane on every node: router mode, MFN on, idle_sleep_us=200"
for ((i = 0; i < n; i++)); do
	if ! start_dp "$i" "net_af_xdp0,iface=hmcd$i,xdp_prog=$xdp" "net_af_xdp1,iface=hmbd$i,xdp_prog=$xdp"; then
		echo "    node $i: AF_XDP could not attach; net_af_packet"
		start_dp "$i" "net_af_packet0,iface=hmcd$i" "net_af_packet1,iface=hmbd$i" ||
			fail "node $i: the dataplane did not start: $(tail -5 "$tmp/n$i/dp.log")"
	fi
	pids+=("$dp_pid")
done

# ---- the controld cluster ------------------------------------------------------------------
say "hmesh-controld cluster: $n members, peers on 10.80.0.x:7400 over the WAN"
cluster_make "$tmp/cl" "$n" 7400 8080 '{"view_timeout_ms": 2000, "commit_timeout_ms": 8000}' '10.80.0.%d' >/dev/null
for ((i = 0; i < n; i++)); do
	# nsenter, not ip netns exec: that remounts /sys for the namespace, and
	# hmesh-run needs the host's cgroup mounts under it.
	HMESH_RUN_ROOT=$tmp/n$i/rt nsenter --net="/var/run/netns/hm-n$i" "$ctld" --cluster "$tmp/cl/cluster.$i.json" \
		--listen 127.0.0.1:8080 --state-dir "$tmp/n$i/state" \
		--dataplane-socket "$tmp/n$i/dp.sock" --node-id "$i" --stats-segment "mesh-n$i" \
		--container-bridge hmbr0 --container-subnet "10.79.$((i + 1)).0/24" --write-rate 0 \
		>"$tmp/n$i/cd.log" 2>&1 &
	ctl_pids+=($!)
done
connected() {
	rest "$1" GET /v1/cluster | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if all(m["connected"] for m in d["members"]) else 1)'
}
for ((i = 0; i < n; i++)); do
	wait_for 20 connected "$i" || fail "node $i: not connected to every member"
done

# ---- the service and its replicas ----------------------------------------------------------
say "service \"files\": $n replicas of hmesh-stoq server, one per node"
mkdir -p "$tmp/srv"
for f in 1 2 3 4; do head -c $((128 * 1024)) /dev/urandom >"$tmp/srv/f$f.bin"; done
sans=()
for ((i = 0; i < n; i++)); do sans+=("IP:10.77.$((i + 1)).1"); done
bash "$top/stoq/stoq-cert.sh" "$tmp/pki" "${sans[@]}" >/dev/null
bash "$top/scripts/mk-bundle.sh" "$tmp/bundle" --dyn "$stoq" --file "$tmp/pki:/pki" \
	--file "$tmp/srv:/srv" -- hmesh-stoq server --listen 0.0.0.0:4433 --root /srv \
	--cert /pki/cert.pem --key /pki/key.pem --stats-segment off --set gso_segments=1 \
	--set "cid_key=$cid_key" >/dev/null
rest 0 POST /v1/services '{"name":"files","port":4433}' >/dev/null || fail "POST /v1/services"
rest 0 POST /v1/containers "{\"service\":\"files\",\"replicas\":$n,\"bundle\":\"$tmp/bundle\",\"port\":4433,\"drain_seconds\":1}" \
	>/dev/null || fail "POST /v1/containers"
backends_healthy() { # every node's view: N healthy backends, one per node
	rest "$1" GET /v1/backends | python3 -c '
import json, sys
b = [x for x in json.load(sys.stdin)["items"] if x["healthy"]]
sys.exit(0 if sorted({x["node"] for x in b}) == list(range(int(sys.argv[1]))) else 1)' "$n"
}
for ((i = 0; i < n; i++)); do
	wait_for 60 backends_healthy "$i" || fail "node $i: not $n healthy backends, one per node: $(rest "$i" GET /v1/backends)"
done
rest 0 GET /v1/backends | python3 -c '
import json, sys
for b in sorted(json.load(sys.stdin)["items"], key=lambda b: b["node"]):
    print("    backend %d on node %d: %s:%d" % (b["id"], b["node"], b["address"], b["port"]))'

# ---- routes from node 0: L3 ALM weighs nodes by measured path cost --------------------------
routes() { rest 0 GET /v1/routes/files; }
route_field() { # node field: that node's entry in node 0's routes
	routes | python3 -c 'import json,sys; print(next((x[sys.argv[2]] for x in json.load(sys.stdin)["nodes"] if x["node"] == int(sys.argv[1])), 0.0))' "$1" "$2"
}
share() { route_field "$1" share; } # node: its share of node 0's new flows
show_routes() {
	routes | python3 -c '
import json, sys
d = json.load(sys.stdin)
print("    node 0 sends new flows of \"files\" to: " + ", ".join(
    "node %d %.0f%% (path %.1f ms)" % (x["node"], 100 * x["share"], x["path_cost_us"] / 1000) for x in d["nodes"]))'
}
touch_log() { # writes through the cluster: consensus traffic refreshes TCP's RTT
	for k in $(seq "$1"); do
		rest 0 PUT /v1/config "{\"dataplane\":{\"stats_interval\":$((1000 + k))}}" >/dev/null || return 1
	done
}
all_nodes_routed() {
	touch_log 2 && routes | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if len(d["nodes"]) == int(sys.argv[1]) else 1)' "$n"
}
wait_for 30 all_nodes_routed || fail "node 0's L3 does not reach every node: $(routes)"
show_routes

# ---- traffic entering node 0 ---------------------------------------------------------------
say "client of node 0 downloads through node 0's dataplane (new connections, new flows)"
download() { # client node, count: connections one after another; prints ok count
	local c=$1 k ok=0
	for k in $(seq "$2"); do
		rm -rf "$tmp/dl$c" && mkdir -p "$tmp/dl$c"
		if in_ns "hm-c$c" timeout 20 "$stoq" client --ca "$tmp/pki/cert.pem" --set gso_segments=1 \
			--download "$tmp/dl$c" "https://10.77.$((c + 1)).1:4433/f$((k % 4 + 1)).bin" \
			>>"$tmp/client$c.log" 2>&1 &&
			cmp -s "$tmp/dl$c/f$((k % 4 + 1)).bin" "$tmp/srv/f$((k % 4 + 1)).bin"; then
			ok=$((ok + 1))
		fi
	done
	echo "$ok"
}
dp_stat() { # node, counter: from its dataplane's telemetry
	echo /hmesh/stats | dpdk-telemetry.py -f "hm-mesh-$1" 2>/dev/null | grep -m1 '^{' |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["/hmesh/stats"][sys.argv[1]])' "$2"
}
ok=$(download 0 20)
remote=$(dp_stat 0 mfn_l3_remote)
echo "    20 downloads from 10.77.1.1: $ok complete and byte-exact; node 0's L3 sent $remote flows to other nodes"
if ((check)); then
	((ok == 20)) || fail "$ok of 20 downloads through node 0 completed: $(tail -3 "$tmp/client0.log")"
	((remote > 0)) || fail "node 0 decided no flow to another node"
fi
ok=$(download $((n - 1)) 5)
echo "    5 downloads entering node $((n - 1)) (10.77.$n.1): $ok complete"
((check == 0 || ok == 5)) || fail "$ok of 5 downloads through node $((n - 1)) completed"

# ---- clients whose address changes: QUIC-LB, across nodes -------------------------------------
# ngtcp2's client moves to a new port after the handshake (a NAT rebinding)
# and asks from there: a path no L1 knows, whose DCID carries the id of the
# backend that holds the connection, on whichever node (controld gives each
# container its id as HMESH_SERVER_ID). Node 0's dataplane sends it there
# (mfn_quic_lb), and so does the serving node's; L3 alone would pick one of
# the n backends anew.
say "clients of node 0 change their address after the handshake: routed by their connection IDs"
rebinding_ok=0 rebinding_bad=""
for k in 1 2 3 4; do
	rc=0
	rebinding_get hm-c0 "$tmp/gdl" 10.77.1.1 "https://10.77.1.1:4433/f$k.bin" "$tmp/gtls.log" || rc=$?
	if ((rc == 0)) && cmp -s "$tmp/gdl/f$k.bin" "$tmp/srv/f$k.bin"; then
		rebinding_ok=$((rebinding_ok + 1))
	else
		case $rc in
		0) rebinding_bad+=" f$k.bin: bytes differ;" ;;
		124) rebinding_bad+=" f$k.bin: timed out after 30 s;" ;;
		*) rebinding_bad+=" f$k.bin: gtlsclient exit $rc;" ;;
		esac
	fi
done
routed=$(dp_stat 0 mfn_quic_lb_routed)
echo "    4 rebinding clients: $rebinding_ok complete and byte-exact; node 0 routed $routed new paths by their CID"
if ((check)); then
	((rebinding_ok == 4)) || fail "$rebinding_ok of 4 rebinding clients completed:$rebinding_bad" \
		"node 0: mfn_quic_lb_routed $routed, mfn_quic_lb_miss $(dp_stat 0 mfn_quic_lb_miss);" \
		"$(tail -3 "$tmp/gtls.log")"
	((routed >= 4)) || fail "node 0 routed $routed new paths by their CID, not 4"
fi

# ---- a slower link changes routing ---------------------------------------------------------
before=$(share 2)
say "link 0-2 made slow (40 ms one way): node 0 should send fewer new flows to node 2"
write_delays "40 if {i, j} == {0, 2} else ($base_delays)"
# The path to node 2 must reflect the 80 ms round trip, and its share must
# fall well below what it was. (Not "halve": TCP's smoothed RTT of a quiet
# connection can carry the peer's delayed ACK, up to 40 ms, so the cost
# before the change was 20-40 ms, and the share falls by 0.45-0.5.)
slower() {
	touch_log 3 &&
		python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) > 60000 and float(sys.argv[2]) < 0.75 * float(sys.argv[3]) else 1)' \
			"$(route_field 2 path_cost_us)" "$(share 2)" "$before"
}
if wait_for 60 slower; then
	show_routes
	echo "    node 2's share: $before -> $(share 2)"
else
	show_routes
	((check == 0)) || fail "node 2's share stayed $(share 2) (was $before) with a 40 ms link"
fi
write_delays "$base_delays"

# ---- a partition: the cluster keeps committing, the node catches up -------------------------
cut=$((n - 1))
say "node $cut cut off: writes keep committing on the other $((n - 1))"
write_delays "-1 if $cut in (i, j) else ($base_delays)"
commit_index() { rest "$1" GET /v1/cluster | python3 -c 'import json,sys; print(json.load(sys.stdin)["commit_index"])'; }
ci0=$(commit_index 0)
for k in 1 2 3 4 5; do
	rest 0 POST /v1/services "{\"name\":\"part$k\",\"port\":$((5000 + k))}" >/dev/null ||
		fail "write $k during the partition was not committed"
done
ci=$(commit_index 0)
lag=$(in_ns "hm-n$cut" timeout 3 curl -sf "$(api "$cut")/v1/cluster" |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["commit_index"])' || echo "?")
echo "    commit index: node 0 $ci0 -> $ci, node $cut stays at $lag"
((check == 0 || ci > ci0)) || fail "node 0's commit index did not move"
say "healed: node $cut catches up"
write_delays "$base_delays"
caught_up() { (($(commit_index "$cut") >= ci)); }
wait_for 60 caught_up || fail "node $cut did not catch up to $ci (at $(commit_index "$cut"))"
got=$(in_ns "hm-n$cut" curl -s -w ' (HTTP %{http_code})' "$(api "$cut")/v1/services/part5" 2>&1 || true)
[[ "$got" == *"(HTTP 200)" ]] ||
	fail "node $cut lacks the write made while it was cut off: GET /v1/services/part5: $got;" \
		"its commit index $(commit_index "$cut"), node 0's $ci"
echo "    node $cut: commit index $(commit_index "$cut"), has the services written while it was away"

if ((check)); then
	echo "PASS: mesh of $n nodes: cluster, replicas on every node, traffic across nodes by L3 ALM, routing follows link delay, partition and catch-up"
	exit 0
fi
say "up (every 5 s; Ctrl-C to stop): node 0's routes and counters"
start=$(date +%s)
while :; do
	sleep 5
	download 0 4 >/dev/null
	show_routes
	echo "    node 0: L3 decisions $(dp_stat 0 mfn_l3_decisions), to other nodes $(dp_stat 0 mfn_l3_remote), drops $(dp_stat 0 drops_total)"
	if ((dur)) && (($(date +%s) - start >= dur)); then break; fi
done
