#!/usr/bin/env bash
# make bench-plot: PNG charts from the figures make bench collected
# (BUILD/perf/results.jsonl) into perf/plots/, which the README embeds.
#   dataplane_pps.png        per-core packet rate vs frame size, hmesh beside testpmd
#   consensus_latency.png    replicated write p50 vs cluster size: controld PBFT
#                            (batching on/off) beside etcd, and the simulator
#   stoq_goodput.png         hmesh-stoq vs gtlsserver/gtlsclient goodput, 1 and 16
#                            streams on 1 and 2 cores
#   container_start.png      distribution (CDF) of container start-to-exec latency:
#                            hmesh-run cold, warm (pool; CLI and API), crun and runc
#                            (BUILD/perf/runtime_samples.json, from perf/runtime.sh)
# A chart whose figures are not in the results is skipped (said so).
#
#   perf/plot.sh [BUILD]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
[[ "$build" = /* ]] || build=$top/$build
in=$build/perf/results.jsonl
out=$top/perf/plots
if [[ ! -s "$in" ]]; then
	echo "perf/plot.sh: $in is empty (make bench fills it): only charts from other files"
	in=/dev/null
fi
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# One data file per vdev: size, hmesh Mpps, testpmd Mpps; consensus: N, p50 ms.
python3 - "$in" "$tmp" <<'PY'
import json, sys, collections
rows = collections.defaultdict(dict)
cons = collections.defaultdict(dict)
for line in open(sys.argv[1]):
    if not line.startswith("{"):
        continue
    f = json.loads(line)
    if f.get("bench") == "dataplane_forward":
        rows[f["vdev"]][f["size"]] = (f["value"] / 1e6, f["ref"] / 1e6)
    # Loopback only, as the chart says: the veth rows' last two references
    # are our own kernel socket and DPDK back end, not gtls.
    elif f.get("bench") == "stoq_goodput" and f["metric"].startswith("gbps_") \
            and f["vdev"] == "loopback":
        with open(f"{sys.argv[2]}/stoq.sdat", "a") as o:
            o.write(f'"{f["metric"][5:].replace("_", " ")}" {f["value"]} {f["ref"]}\n')
    elif f.get("bench") in ("consensus_batch", "consensus_nobatch", "consensus_sim_batch"):
        n = int(f["vdev"].lstrip("n"))
        cons[f["bench"]][n] = f["value"]
        if f["bench"] == "consensus_batch":
            cons["etcd"][3] = f["ref"]
for vdev, by in rows.items():
    with open(f"{sys.argv[2]}/{vdev}.dat", "w") as o:
        for size in sorted(by):
            o.write(f"{size} {by[size][0]:.3f} {by[size][1]:.3f}\n")
for name, by in cons.items():
    with open(f"{sys.argv[2]}/{name}.cdat", "w") as o:
        for n in sorted(by):
            o.write(f"{n} {by[n]}\n")
PY
if [[ -e "$tmp/consensus_batch.cdat" ]]; then
	cplots="'$tmp/consensus_batch.cdat' using 1:2 with linespoints title 'controld PBFT, batching on (loopback, fsync)', "
	[[ -e "$tmp/consensus_nobatch.cdat" ]] && cplots+="'$tmp/consensus_nobatch.cdat' using 1:2 with linespoints title 'controld PBFT, batching off', "
	[[ -e "$tmp/etcd.cdat" ]] && cplots+="'$tmp/etcd.cdat' using 1:2 with points pointtype 7 pointsize 2 title 'etcd Raft, 3 members (reference)', "
	[[ -e "$tmp/consensus_sim_batch.cdat" ]] && cplots+="'$tmp/consensus_sim_batch.cdat' using 1:(\$2/10) with linespoints dashtype 2 axes x1y1 title 'simulator, 5 ms links (ms / 10)', "
	gnuplot <<GNUPLOT
set terminal pngcairo size 900,520 noenhanced
set output '$out/consensus_latency.png'
set title 'Replicated write latency (p50) vs cluster size'
set xlabel 'members N'
set ylabel 'ms'
set key outside bottom center horizontal maxrows 2
set grid
set xrange [0:*]
set yrange [0:*]
plot ${cplots%, }
GNUPLOT
	echo "wrote $out/consensus_latency.png"
else
	echo "no consensus figures in $in: consensus_latency.png not redrawn"
fi
if [[ -e "$tmp/stoq.sdat" ]]; then
	gnuplot <<GNUPLOT
set terminal pngcairo size 900,520 noenhanced
set output '$out/stoq_goodput.png'
set title 'STOQ goodput on loopback (hmesh-stoq vs ngtcp2 gtlsserver/gtlsclient, same data)'
set ylabel 'Gbit/s'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set key top left
set grid ytics
set yrange [0:*]
set xtics rotate by -20
plot '$tmp/stoq.sdat' using 2:xtic(1) title 'hmesh-stoq', '' using 3 title 'gtlsserver / gtlsclient'
GNUPLOT
	echo "wrote $out/stoq_goodput.png"
else
	echo "no STOQ figures in $in: stoq_goodput.png not redrawn"
fi
if [[ -s "$build/perf/runtime_samples.json" ]]; then
	python3 - "$build/perf/runtime_samples.json" "$tmp" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for i, (name, lat) in enumerate(d.items()):
    with open(f"{sys.argv[2]}/rt{i}.cdat", "w") as o:
        o.write(f"# {name}\n")
        for k, v in enumerate(sorted(lat)):
            o.write(f"{v} {(k + 1) / len(lat)}\n")
    open(f"{sys.argv[2]}/rt{i}.name", "w").write(name)
PY
	rplots=""
	for f in "$tmp"/rt*.cdat; do
		rplots+="'$f' using 1:2 with lines linewidth 2 title '$(cat "${f%.cdat}.name")', "
	done
	gnuplot <<GNUPLOT
set terminal pngcairo size 900,520 noenhanced
set output '$out/container_start.png'
set title 'Container start-to-exec latency, distribution (busybox bundle)'
set xlabel 'ms (log scale)'
set ylabel 'fraction of starts'
set logscale x
set key bottom right
set grid
set yrange [0:1]
plot ${rplots%, }
GNUPLOT
	echo "wrote $out/container_start.png"
else
	echo "no $build/perf/runtime_samples.json: container_start.png not redrawn (run perf/runtime.sh)"
fi
if ! ls "$tmp"/*.dat >/dev/null 2>&1; then
	echo "no dataplane figures in $in: dataplane_pps.png not redrawn"
	exit 0
fi
plots=""
for f in "$tmp"/*.dat; do
	v=$(basename "$f" .dat)
	plots+="'$f' using 1:2 with linespoints title 'hmesh-dataplane, $v', '$f' using 1:3 with linespoints dashtype 2 title 'testpmd macswap, $v', "
done
gnuplot <<GNUPLOT
set terminal pngcairo size 900,520 noenhanced
set output '$out/dataplane_pps.png'
set title 'Per-core packet rate vs frame size (one forwarding lcore)'
set xlabel 'frame size (bytes)'
set ylabel 'Mpps'
set logscale y
set key outside bottom center horizontal maxrows 2
set grid
plot ${plots%, }
GNUPLOT
echo "wrote $out/dataplane_pps.png"
