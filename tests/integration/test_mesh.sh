#!/usr/bin/env bash
# A mesh of four nodes in network namespaces (scripts/mesh.sh --check):
#   - four hmesh-controld form one PBFT cluster over an emulated WAN
#     (scripts/linkemu.py: 2 ms inside a region, 10 ms between two regions);
#   - a service with a replica on every node; each node's dataplane has all
#     four backends through the replicated log;
#   - 20 downloads entering node 0 complete byte-exact and some are served
#     by other nodes (node 0's L3 ALM decides flows to remote backends);
#     downloads entering node 3 complete too;
#   - four clients of node 0 that change their address after the handshake
#     (ngtcp2's --nat-rebinding) complete: the new path is routed by the
#     backend id in its DCID (mfn_quic_lb), on whichever node it serves;
#   - the link 0-2 made slow: node 0's share of new flows to node 2 falls
#     below half (RTT measured on the cluster's TCP connections -> LINK_RTT
#     -> path cost -> Maglev weights; GET /v1/routes/files);
#   - node 3 cut off: writes still commit; healed: it catches up and holds
#     the writes made while it was away.
# The script tears everything down on exit, failed or not.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
exec bash "$top/scripts/mesh.sh" 4 --check "${HMESH_BUILD:-$top/build}"
