#!/usr/bin/env python3
"""Link emulator for scripts/mesh.sh: an Ethernet switch with a delay per
pair of ports, standing in for `tc netem` (this kernel has no sch_netem).

    linkemu.py --ports wan0,wan1,wan2,wan3 --delays FILE

Run it in a namespace holding the switch ends of the nodes' veth pairs
(no addresses there: the kernel must not answer for them). It learns MACs
like a switch, floods what it does not know, and holds every frame for the
delay of its (in port, out port) pair before sending it on. FILE is JSON,
{"delay_ms": [[...], ...]}: an N x N matrix, entry [i][j] for frames from
port i to port j, -1 for a cut link (a partition). It is read again when it
changes, so delays and partitions change at run time. The node ends must
not hand it GSO super-frames (mesh.sh turns offloads off on them).

On SIGTERM/SIGINT it prints what it carried and dropped, per pair.
"""
import argparse
import heapq
import json
import os
import select
import signal
import socket
import sys
import time

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4


def load(path, n):
    with open(path) as f:
        d = json.load(f)["delay_ms"]
    if len(d) != n or any(len(row) != n for row in d):
        raise ValueError(f"{path}: delay_ms must be {n} x {n}")
    for i, row in enumerate(d):
        for j, v in enumerate(row):
            if not isinstance(v, (int, float)) or (v < 0 and v != -1):
                raise ValueError(f"{path}: delay_ms[{i}][{j}] = {v!r}: want >= 0 or -1 (cut)")
    return [[v / 1000.0 if v >= 0 else None for v in row] for row in d]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ports", required=True, help="comma-separated interface names")
    ap.add_argument("--delays", required=True, help="JSON file with the delay_ms matrix")
    a = ap.parse_args()
    ports = a.ports.split(",")
    n = len(ports)
    try:
        delay = load(a.delays, n)
        mtime = os.stat(a.delays).st_mtime_ns
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as e:
        sys.exit(f"linkemu: --delays {a.delays}: {e}")
    socks = []
    for p in ports:
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        s.setsockopt(socket.SOL_SOCKET, 33, 8 << 20)  # SO_RCVBUFFORCE (root)
        s.setsockopt(socket.SOL_SOCKET, 32, 8 << 20)  # SO_SNDBUFFORCE
        try:
            s.bind((p, 0))
        except OSError as e:
            sys.exit(f"linkemu: --ports {p}: {e}")
        s.setblocking(False)
        socks.append(s)
    fd_port = {s.fileno(): i for i, s in enumerate(socks)}
    mac_port = {}
    queue = []  # (due, seq, out port, frame)
    seq = 0
    carried = [[0] * n for _ in range(n)]
    cut = [[0] * n for _ in range(n)]
    errors = 0
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    print(f"linkemu: {n} ports ({a.ports}), delays from {a.delays}", flush=True)
    next_check = time.monotonic() + 0.1
    while not stop:
        now = time.monotonic()
        if now >= next_check:
            next_check = now + 0.1
            try:
                m = os.stat(a.delays).st_mtime_ns
                if m != mtime:
                    delay, mtime = load(a.delays, n), m
                    print(f"linkemu: delays reloaded: {json.dumps(json.load(open(a.delays))['delay_ms'])}",
                          flush=True)
            except (OSError, ValueError, KeyError, json.JSONDecodeError) as e:
                print(f"linkemu: keeping the old delays: {e}", flush=True)
        while queue and queue[0][0] <= now:
            _, _, out, frame = heapq.heappop(queue)
            try:
                socks[out].send(frame)
            except OSError:
                errors += 1
        timeout = 0.1
        if queue:
            timeout = max(0.0, min(timeout, queue[0][0] - time.monotonic()))
        try:
            ready, _, _ = select.select(socks, [], [], timeout)
        except InterruptedError:
            continue
        now = time.monotonic()
        for s in ready:
            src = fd_port[s.fileno()]
            for _ in range(64):
                try:
                    frame, addr = s.recvfrom(65536)
                except BlockingIOError:
                    break
                if addr[2] == PACKET_OUTGOING or len(frame) < 14:
                    continue  # what we sent ourselves
                mac_port[frame[6:12]] = src
                dst = mac_port.get(frame[0:6])
                outs = [dst] if dst is not None and not frame[0] & 1 else range(n)
                for out in outs:
                    if out == src:
                        continue
                    d = delay[src][out]
                    if d is None:
                        cut[src][out] += 1
                        continue
                    carried[src][out] += 1
                    seq += 1
                    heapq.heappush(queue, (now + d, seq, out, frame))
    pairs = ", ".join(f"{i}->{j} {carried[i][j]}" + (f" (cut {cut[i][j]})" if cut[i][j] else "")
                      for i in range(n) for j in range(n) if carried[i][j] or cut[i][j])
    print(f"linkemu: carried {sum(map(sum, carried))} frames, cut {sum(map(sum, cut))}, "
          f"send errors {errors}: {pairs}", flush=True)


if __name__ == "__main__":
    main()
