"""Browsers that phone nobody: whatever Chromium would fetch by itself (component updates, network time,
sign-in, optimization hints, autofill...) is switched off on the command line, on the Grid's browsers too.

Three captures of a page with no subresources on each backend and a minute idle: every connection the
filtering proxy saw was allowed and was the page's own (its document and the favicon the browser asks
its host for).  Before the switches, the same run sent 21 requests to Google's hosts through the proxy
(accounts.google.com, update.googleapis.com, clients2.google.com, optimizationguide-pa.googleapis.com,
content-autofill.googleapis.com); here they would be refused or fail to resolve, and be counted."""

from __future__ import annotations

import re
import time

import pytest
import requests

from tests.servers import PageServer

pytestmark = pytest.mark.integration

IDLE = 60.0
PLAIN = "<!doctype html><html><body style='margin:0;background:#00ff00'>plain</body></html>"


def _egress(service) -> dict[str, float]:
    text = requests.get(f"{service.url}/metrics", timeout=5).text
    found = re.finditer(r'snapshot_egress_connections_total\{verdict="(\w+)"\} (\S+)', text)
    return {m[1]: float(m[2]) for m in found if float(m[2])}


def test_after_three_captures_and_a_minute_idle_the_proxy_saw_only_the_pages_host(start, grid):
    page = PageServer()
    page.routes["/plain"] = lambda q: PLAIN
    try:
        service = start({"SNAPSHOT_ALLOW_NETWORKS": "127.0.0.1/32", "SNAPSHOT_GRID_URL": grid.url,
                         "SNAPSHOT_POOL_SIZE": "1", "SNAPSHOT_LOCAL_POOL_SIZE": "1"})  # fmt: skip
        for localmode in ("false", "true"):
            for _ in range(3):
                query = {"url": f"{page.base}/plain", "width": 200, "height": 100, "localmode": localmode}
                response = requests.get(f"{service.url}/create_snap", params=query, timeout=60)
                assert response.status_code == 200, response.text
                assert response.headers["X-Snapshot-Backend"] == ("local" if localmode == "true" else "grid")
        time.sleep(IDLE)
        seen = _egress(service)
        assert set(seen) == {"allowed"}, seen  # nothing refused, nothing failed: nothing else was attempted
        assert seen["allowed"] == len(page.hits), (seen, page.hits)  # each one the page's host answered
        assert {hit.split("?")[0] for hit in page.hits} <= {"/plain", "/favicon.ico"}
    finally:
        page.stop()
