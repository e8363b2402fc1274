#!/usr/bin/env bash
# make bench-plot: PNG charts from the figures make bench collected
# (BUILD/perf/results.jsonl) into perf/plots/, which the README embeds.
#   dataplane_pps.png  per-core packet rate vs frame size, hmesh beside testpmd
#
#   perf/plot.sh [BUILD]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
[[ "$build" = /* ]] || build=$top/$build
in=$build/perf/results.jsonl
out=$top/perf/plots
[[ -s "$in" ]] || { echo "perf/plot.sh: $in is empty: run make bench first" >&2; exit 1; }
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# One data file per vdev: size, hmesh Mpps, testpmd Mpps.
python3 - "$in" "$tmp" <<'PY'
import json, sys, collections
rows = collections.defaultdict(dict)
for line in open(sys.argv[1]):
    if not line.startswith("{"):
        continue
    f = json.loads(line)
    if f.get("bench") == "dataplane_forward":
        rows[f["vdev"]][f["size"]] = (f["value"] / 1e6, f["ref"] / 1e6)
for vdev, by in rows.items():
    with open(f"{sys.argv[2]}/{vdev}.dat", "w") as o:
        for size in sorted(by):
            o.write(f"{size} {by[size][0]:.3f} {by[size][1]:.3f}\n")
PY
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
