"""Per-client limits and body size limits."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.support import LOOPBACK


@pytest.mark.integration
def test_a_client_over_its_in_flight_limit_gets_429_others_do_not(start, pages):
    service = start(
        {"SNAPSHOT_ALLOW_NETWORKS": LOOPBACK, "SNAPSHOT_LOCAL_POOL_SIZE": "2", "SNAPSHOT_CLIENT_MAX_IN_FLIGHT": "1"}
    )
    params = {"url": pages.base + "/slow?s=2", "width": 30, "height": 20}
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(requests.get, f"{service.url}/create_snap", params=params)
        time.sleep(0.7)
        second = requests.get(f"{service.url}/create_snap", params=params)
        assert second.status_code == 429 and second.json()["error"] == "overloaded"
        assert "Retry-After" in second.headers
        # X-Forwarded-For is not trusted by default: it does not make a new client
        spoofed = requests.get(f"{service.url}/create_snap", params=params, headers={"X-Forwarded-For": "1.2.3.4"})
        assert spoofed.status_code == 429
        assert first.result().status_code == 200
    assert requests.get(f"{service.url}/create_snap", params=params).status_code == 200


@pytest.mark.integration
def test_a_client_over_its_rate_gets_429_with_retry_after(start):
    service = start({"SNAPSHOT_CLIENT_RATE": "0.5", "SNAPSHOT_CLIENT_BURST": "3"})
    statuses = [requests.get(f"{service.url}/create_snap").status_code for _ in range(4)]
    assert statuses == [400, 400, 400, 429]
    limited = requests.get(f"{service.url}/create_snap")
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1


@pytest.mark.integration
def test_oversized_bodies_get_413_json(start):
    service = start({"SNAPSHOT_MAX_BODY_SIZE": "1000", "SNAPSHOT_MAX_HTML_BYTES": "1000"})
    big = {"url": "http://example.com/", "width": "10", "height": "10", "pad": "x" * 5000}
    declared = requests.post(f"{service.url}/create_snap", data=big)
    assert declared.status_code == 413 and declared.json()["error"] == "body_too_large"

    def chunks():
        yield b"url=http%3A%2F%2Fexample.com%2F&pad="
        for _ in range(10):
            yield b"x" * 500

    chunked = requests.post(
        f"{service.url}/create_snap", data=chunks(), headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert chunked.status_code == 413 and chunked.json()["error"] == "body_too_large"
    small = requests.post(f"{service.url}/create_snap", data={"url": "ftp://x/", "width": "1", "height": "1"})
    assert small.status_code == 400 and small.json()["error"] == "invalid_scheme"
