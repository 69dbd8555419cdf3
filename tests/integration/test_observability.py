"""Metrics, logs, dashboard and alert rules, proven against a real Prometheus scraping the service."""

from __future__ import annotations

import json
import re
import subprocess
import time
from urllib.parse import urlsplit

import pytest
import requests

from tests.servers import start_prometheus, wait_until

pytestmark = pytest.mark.integration

from tests.support import ROOT  # noqa: E402

RULES = ROOT / "deploy" / "helm" / "snapshot" / "files" / "snapshot-rules.yaml"
RULE_TESTS = ROOT / "deploy" / "helm" / "snapshot" / "files" / "snapshot-rules.test.yaml"
DASHBOARD = ROOT / "deploy" / "helm" / "snapshot" / "files" / "snapshot-dashboard.json"


@pytest.fixture(scope="module")
def prometheus(grid_service, local_service):
    targets = [urlsplit(s.url).netloc for s in (grid_service, local_service)]
    server = start_prometheus(targets)
    yield server
    server.stop()


def dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]


def _rule_exprs() -> list[str]:
    text = RULES.read_text()
    exprs = re.findall(r"expr: \|\n((?:\s{10}.*\n)+)", text) + re.findall(r"expr: ([^|\n].*)\n", text)
    return [" ".join(e.split()) for e in exprs]


def _concrete(expr: str) -> str:
    return expr.replace("$__rate_interval", "1m").replace('"$job"', '".*"')


def test_prometheus_scrapes_the_captures_just_made(prometheus, grid_service, pages):
    instance = urlsplit(grid_service.url).netloc
    expr = f'sum(snapshot_captures_total{{instance="{instance}", backend="grid", outcome="success"}})'
    wait_until(lambda: bool(prometheus.query(expr)), 30, "the first scrape")
    before = float(prometheus.query(expr)[0]["value"][1])
    for _ in range(3):
        response = requests.get(
            f"{grid_service.url}/create_snap", params={"url": pages.base + "/color/00aa00", "width": 50, "height": 50}
        )
        assert response.status_code == 200
    wait_until(lambda: float(prometheus.query(expr)[0]["value"][1]) >= before + 3, 30, "the captures in Prometheus")
    phases = prometheus.query(
        f'sum by (phase) (snapshot_capture_phase_duration_seconds_count{{instance="{instance}"}})'
    )
    assert {p["metric"]["phase"] for p in phases} >= {"check", "queue", "session", "navigate", "screenshot"}


def test_a_real_scrape_passes_promtool_check_metrics(local_service):
    scrape = requests.get(f"{local_service.url}/metrics").text
    result = subprocess.run(["promtool", "check", "metrics"], input=scrape, capture_output=True, text=True)
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), result.stdout + result.stderr


def test_every_metric_the_dashboard_and_rules_use_is_in_a_real_scrape(grid_service):
    scrape = requests.get(f"{grid_service.url}/metrics").text
    exposed = {line.split("{")[0].split(" ")[0] for line in scrape.splitlines() if line and not line.startswith("#")}
    # labelled metrics no request has used yet (a tenant's quota) are declared, with no sample
    for name, kind in re.findall(r"^# TYPE (\S+) (\w+)", scrape, re.M):
        exposed |= {name, f"{name.removesuffix('_total')}_total"} if kind == "counter" else {name}
    used = set()
    for expr in dashboard_exprs() + _rule_exprs():
        used |= set(re.findall(r"\b(snapshot_[a-z0-9_]+)\b", expr))
    assert used, "no metric names found in the dashboard and rules"
    missing = used - exposed
    assert not missing, f"used but never exported: {sorted(missing)}"


def test_every_dashboard_and_rule_expression_is_valid_promql(prometheus):
    exprs = [_concrete(e) for e in dashboard_exprs()] + _rule_exprs()
    assert len(exprs) > 10
    for expr in exprs:
        prometheus.query(expr)  # raises unless Prometheus parses and evaluates it


def test_alert_rules_pass_promtool():
    check = subprocess.run(["promtool", "check", "rules", str(RULES)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    tests = subprocess.run(
        ["promtool", "test", "rules", str(RULE_TESTS)], capture_output=True, text=True, cwd=RULE_TESTS.parent
    )
    assert tests.returncode == 0 and "SUCCESS" in tests.stdout, tests.stdout + tests.stderr


def test_one_json_log_line_per_request_without_the_query(start, pages):
    service = start({"SNAPSHOT_ALLOW_NETWORKS": "127.0.0.0/8", "SNAPSHOT_LOCAL_POOL_SIZE": "1"})
    secret = "token=s3cr3t-value"
    response = requests.get(
        f"{service.url}/create_snap",
        headers={"X-Request-ID": "req-42"},
        params={"url": f"{pages.base}/color/123456?{secret}", "width": 30, "height": 20},
    )
    assert response.status_code == 200
    requests.get(f"{service.url}/healthz")
    requests.get(f"{service.url}/create_snap", headers={"X-Request-ID": "req-43"}, params={"width": 1})
    time.sleep(0.3)
    log = service.proc.log_path.read_text()
    assert "s3cr3t" not in log
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    ok = next(line for line in lines if line.get("request_id") == "req-42")
    assert ok["level"] == "info" and ok["status"] == 200 and ok["path"] == "/create_snap"
    assert ok["target_host"] == "127.0.0.1" and ok["size"] == "30x20" and ok["outcome"] == "success"
    assert set(ok["timings_ms"]) >= {"queue", "navigate", "screenshot"}
    bad = next(line for line in lines if line.get("request_id") == "req-43")
    assert bad["level"] == "warning" and bad["status"] == 400 and bad["error"] == "missing_url"
    assert not any(line.get("path") == "/healthz" for line in lines)  # probes log at debug only
