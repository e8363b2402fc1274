#!/usr/bin/env python3
"""Write load against a replicated store's HTTP API, the same client for
hmesh-controld clusters and etcd (perf/consensus.sh).

  writeload.py --kind controld|etcd --urls URL[,URL...] --clients C
               (--count N | --seconds S) [--tag T]

Each client is a thread with one keep-alive connection to one member
(client i to member i mod M) issuing writes back to back (controld: it
creates a service, then updates it; etcd: puts one key); a write counts
once it is acknowledged (controld: 201, etcd: 200). Prints one JSON line:
{"writes", "seconds", "per_s", "p50_ms", "p99_ms", "errors"}. A run with
errors exits 1 (they are not folded into the figures).
"""
import argparse
import base64
import http.client
import json
import sys
import threading
import time
import urllib.parse


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kind", choices=("controld", "etcd"), required=True)
    ap.add_argument("--urls", required=True)
    ap.add_argument("--clients", type=int, default=1)
    ap.add_argument("--count", type=int, default=0, help="writes per client")
    ap.add_argument("--seconds", type=float, default=0)
    ap.add_argument("--tag", default="w")
    a = ap.parse_args()
    if (a.count > 0) == (a.seconds > 0):
        ap.error("give exactly one of --count and --seconds")
    urls = [urllib.parse.urlparse(u) for u in a.urls.split(",")]
    lat, errors, lock = [], [], threading.Lock()
    stop_at = [None]

    def client(ci):
        u = urls[ci % len(urls)]
        con = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        mine, k = [], 0
        while True:
            if a.count and k >= a.count:
                break
            if a.seconds and time.perf_counter() >= stop_at[0]:
                break
            name = f"{a.tag}-{ci}"
            if a.kind == "controld":
                # Client ci owns service a.tag-ci and ports base + 2 ci, + 1:
                # created by its first write, updated by the others.
                port = 1024 + (hash(a.tag) % 20000) + 2 * ci + k % 2
                if k == 0:
                    path, ok, method = "/v1/services", 201, "POST"
                    body = json.dumps({"name": name, "port": port})
                else:
                    path, ok, method = f"/v1/services/{name}", 200, "PUT"
                    body = json.dumps({"port": port})
            else:
                method = "POST"
                path, ok = "/v3/kv/put", 200
                body = json.dumps({"key": base64.b64encode(name.encode()).decode(),
                                   "value": base64.b64encode(b"x" * 32).decode()})
            t0 = time.perf_counter()
            try:
                con.request(method, path, body, {"Content-Type": "application/json"})
                r = con.getresponse()
                txt = r.read()
                status = r.status
            except (OSError, http.client.HTTPException) as e:
                status, txt = -1, str(e).encode()
                con.close()
                con = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
            dt = time.perf_counter() - t0
            if status == ok:
                mine.append(dt)
            else:
                with lock:
                    errors.append(f"{status} {txt[:200]!r}")
            k += 1
        with lock:
            lat.extend(mine)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(a.clients)]
    t0 = time.perf_counter()
    stop_at[0] = t0 + a.seconds
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    secs = time.perf_counter() - t0
    lat.sort()
    n = len(lat)
    out = {"writes": n, "seconds": round(secs, 3), "per_s": round(n / secs, 1) if secs else 0,
           "p50_ms": round(1000 * lat[n // 2], 3) if n else None,
           "p99_ms": round(1000 * lat[min(n - 1, (n * 99) // 100)], 3) if n else None,
           "errors": len(errors)}
    print(json.dumps(out))
    if errors:
        print("errors (first 3): " + "; ".join(errors[:3]), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
