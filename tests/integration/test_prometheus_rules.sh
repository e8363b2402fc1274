#!/usr/bin/env bash
# The Prometheus side of telemetry/ checked by Prometheus's own tool:
# the scrape configuration, the rule files, and the rules' unit tests
# (telemetry/prometheus/tests/: input series in, alerts and recorded values
# out). Every Grafana dashboard must be valid JSON with a query per panel.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top/telemetry/prometheus"
command -v promtool >/dev/null || { echo "FAIL: promtool not installed (make setup)"; exit 1; }
promtool check config prometheus.yml
promtool check rules rules/*.yml
promtool test rules tests/*.yml
python3 - "$top"/telemetry/grafana/*.json <<'PY'
import json, sys
for path in sys.argv[1:]:
    d = json.load(open(path))
    assert d.get("uid") and d.get("title"), f"{path}: uid and title"
    for p in d["panels"]:
        assert p.get("targets"), f"{path}: panel {p.get('title')!r} has no query"
        for t in p["targets"]:
            assert t.get("expr"), f"{path}: panel {p.get('title')!r}: empty expr"
    print(f"ok: {path.rsplit('/', 1)[1]}: {len(d['panels'])} panels")
PY
echo "PASS: Prometheus config, rules and rule unit tests; Grafana dashboards"
