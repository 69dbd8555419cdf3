"""Tenants against real parts: a tenant's own networks at the filtering proxy (local Chromium and the
real Grid), and quotas shared by replicas through a real Redis."""

from __future__ import annotations

import json
import threading

import pytest
import requests

from tests.servers import PageServer
from tests.support import open_png

pytestmark = pytest.mark.integration

MONITORING, MARKETING = "monitoring-key-0123456789", "marketing-key-0123456789"
TENANTS = {
    "tenants": [
        {"name": "monitoring", "keys": [MONITORING], "allow_networks": ["127.0.0.2/32"]},
        {"name": "marketing", "keys": [MARKETING]},
    ]
}
# a page on an allowed address (127.0.0.1) whose image and frame come from the monitoring network
PAGE = "<!doctype html><html><body style='margin:0'><img src='{internal}/img'><iframe src='{internal}/frame'></iframe>"


@pytest.fixture(scope="module")
def internal():
    server = PageServer(host="127.0.0.2")  # "grafana.monitoring.svc": only the monitoring tenant may reach it
    server.routes["/dashboard"] = lambda q: "<!doctype html><html><body style='background:#0f0'>dash</body></html>"
    yield server
    server.stop()


def _snap(service, key: str, url: str) -> requests.Response:
    query = {"url": url, "width": 200, "height": 100}
    return requests.get(f"{service.url}/create_snap", params=query, headers={"X-API-Key": key}, timeout=60)


@pytest.mark.parametrize("backend", ["local", "grid"])
def test_a_tenants_networks_reach_its_captures_connections_and_no_one_elses(
    start, grid, pages, internal, tmp_path, backend
):
    tenants = tmp_path / "tenants.json"
    tenants.write_text(json.dumps(TENANTS))
    pages.routes["/embeds-internal"] = lambda q: PAGE.format(internal=internal.base)
    env = {"SNAPSHOT_ALLOW_NETWORKS": "127.0.0.1/32", "SNAPSHOT_TENANTS_FILE": str(tenants),
           "SNAPSHOT_POOL_SIZE": "1", "SNAPSHOT_LOCAL_POOL_SIZE": "1"}  # fmt: skip
    if backend == "grid":
        env |= {"SNAPSHOT_GRID_URL": grid.url, "SNAPSHOT_ALLOW_LOCALMODE": "false"}
    service = start(env)
    page = f"{pages.base}/embeds-internal"
    fresh = _snap(service, MARKETING, page)  # before any capture of a tenant with networks of its own
    assert fresh.status_code == 200, fresh.text

    # the URL check: the target itself
    assert _snap(service, MONITORING, f"{internal.base}/dashboard").status_code == 200
    refused = _snap(service, MARKETING, f"{internal.base}/dashboard")
    assert refused.status_code == 403 and refused.json()["error"] == "blocked", refused.text
    assert _snap(service, "", page).status_code == 401  # the tenants file makes every capture need a key

    # the browser's own connections: subresources and frames reach the network for monitoring only,
    # and never for the capture that comes next in the same browser (its credentials went with its context)
    for key, reached in ((MONITORING, True), (MARKETING, False), (MONITORING, True), (MARKETING, False)):
        internal.hits.clear()
        response = _snap(service, key, page)
        assert response.status_code == 200, response.text
        asked = {hit.split("?")[0] for hit in internal.hits}
        assert asked == ({"/img", "/frame"} if reached else set()), (key, internal.hits)
        if not reached:  # the plain capture after one in its own context: what a fresh one gave
            assert open_png(response.content).tobytes() == open_png(fresh.content).tobytes()
    # an HTML body of the tenant's own reaches what the tenant may reach, and only that
    body = PAGE.format(internal=internal.base)
    for key, reached in ((MONITORING, True), (MARKETING, False)):
        internal.hits.clear()
        fields = {"html": body, "width": 200, "height": 100, "response_type": "image"}
        response = requests.post(f"{service.url}/create_snap", headers={"X-API-Key": key}, json=fields, timeout=60)
        assert response.status_code == 200, response.text
        assert {hit.split("?")[0] for hit in internal.hits} == ({"/img", "/frame"} if reached else set())
    metrics = requests.get(f"{service.url}/metrics", timeout=5).text
    assert f'snapshot_browser_sessions_opened_total{{backend="{backend}"}} 1.0' in metrics  # one browser did all
    assert MONITORING not in metrics and MARKETING not in metrics
    log = service.proc.log_path.read_text()
    assert "monitoring" in log and MONITORING not in log and MARKETING not in log  # names, never keys
    assert 'snapshot_tenant_captures_total{outcome="success",tenant="monitoring"} 4.0' in metrics
    assert 'snapshot_tenant_captures_total{outcome="success",tenant="marketing"} 4.0' in metrics
    assert 'snapshot_tenant_captures_total{outcome="blocked",tenant="marketing"} 1.0' in metrics


def test_two_tenants_side_by_side_on_the_grid_keep_their_reach(start, grid, pages, internal, tmp_path):
    tenants = tmp_path / "tenants.yaml"
    tenants.write_text(json.dumps(TENANTS))  # JSON is YAML too
    pages.routes["/slow-embeds"] = lambda q: PAGE.format(internal=internal.base) + "<img src='/slow?s=1.5'>"
    service = start({"SNAPSHOT_ALLOW_NETWORKS": "127.0.0.1/32", "SNAPSHOT_TENANTS_FILE": str(tenants),
                     "SNAPSHOT_GRID_URL": grid.url, "SNAPSHOT_ALLOW_LOCALMODE": "false",
                     "SNAPSHOT_POOL_SIZE": "2"})  # fmt: skip
    results: dict[str, int] = {}

    def run(key: str) -> None:
        results[key] = _snap(service, key, f"{pages.base}/slow-embeds").status_code

    for _ in range(2):
        internal.hits.clear()
        threads = [threading.Thread(target=run, args=(key,)) for key in (MONITORING, MARKETING)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert results == {MONITORING: 200, MARKETING: 200}
        # each path once: monitoring's; marketing's capture, running meanwhile, reached nothing
        assert sorted(hit.split("?")[0] for hit in internal.hits) == ["/frame", "/img"], internal.hits


def test_a_quota_is_shared_by_replicas_through_redis(start, pages, redis_server, tmp_path):
    tenants = tmp_path / "tenants.yaml"
    tenants.write_text(
        "tenants:\n  - name: small\n    keys: [small-key-0123456789]\n    quota: {captures: 3, per: hour}\n"
    )
    env = {"SNAPSHOT_ALLOW_NETWORKS": "127.0.0.1/32", "SNAPSHOT_TENANTS_FILE": str(tenants),
           "SNAPSHOT_REDIS_URL": redis_server.url, "SNAPSHOT_LOCAL_POOL_SIZE": "1",
           "SNAPSHOT_JOB_SECRET_KEY": "k" * 32}  # fmt: skip
    one, two = start(env), start(env)
    url = f"{pages.base}/quadrants"
    codes = [_snap(service, "small-key-0123456789", url).status_code for service in (one, two, one)]
    assert codes == [200, 200, 200]
    over = _snap(two, "small-key-0123456789", url)
    assert over.status_code == 429 and over.json()["error"] == "quota_exceeded", over.text
    assert 0 < int(over.headers["Retry-After"]) <= 3600
    usage = requests.get(f"{one.url}/usage", headers={"X-API-Key": "small-key-0123456789"}, timeout=10).json()
    assert usage["quota"] | {"resets_at": 0} == {"captures": 3, "per": "hour", "used": 3, "left": 0, "resets_at": 0,
                                                 "shared": True}  # fmt: skip
