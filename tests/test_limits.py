"""Per-client limits and body size limits."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import tornado.httputil

from service.errors import Overloaded
from service.limits import ClientLimiter
from service.web import client_ip
from tests.support import LOOPBACK


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_in_flight_limit_is_per_client_and_released():
    limiter = ClientLimiter(max_in_flight=2, rate=0, burst=1)
    limiter.acquire("a")
    limiter.acquire("a")
    with pytest.raises(Overloaded):
        limiter.acquire("a")
    limiter.acquire("b")  # another client is not affected
    limiter.release("a")
    limiter.acquire("a")


def test_rate_limit_refills_over_time_and_says_when_to_retry():
    clock = Clock()
    limiter = ClientLimiter(max_in_flight=0, rate=2, burst=3, clock=clock)
    for _ in range(3):
        limiter.acquire("a")
        limiter.release("a")
    with pytest.raises(Overloaded) as info:
        limiter.acquire("a")
    assert info.value.retry_after == 1
    clock.now += 0.5  # one token back at 2/s
    limiter.acquire("a")
    with pytest.raises(Overloaded):
        limiter.acquire("a")


def test_zero_turns_the_limits_off():
    limiter = ClientLimiter(max_in_flight=0, rate=0, burst=1)
    for _ in range(1000):
        limiter.acquire("a")


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
    service = start({"SNAPSHOT_MAX_BODY_SIZE": "1000"})
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


def _request(peer: str, **headers: str) -> tornado.httputil.HTTPServerRequest:
    line = tornado.httputil.RequestStartLine("GET", "/", "HTTP/1.1")
    request = tornado.httputil.HTTPServerRequest(
        start_line=line, headers=tornado.httputil.HTTPHeaders({"Host": "snap", **headers})
    )
    request.remote_ip = peer
    return request


def test_the_client_is_the_address_the_outermost_trusted_proxy_saw():
    spoofed = {"X-Forwarded-For": "6.6.6.6, 203.0.113.9", "X-Real-Ip": "7.7.7.7"}
    assert client_ip(_request("10.0.0.5", **spoofed), 0) == "10.0.0.5"  # nothing forwarded is trusted
    assert client_ip(_request("10.0.0.5", **spoofed), 1) == "203.0.113.9"  # the ingress appended it
    assert client_ip(_request("10.0.0.5", **spoofed), 2) == "6.6.6.6"  # two proxies appended
    assert client_ip(_request("10.0.0.5", **{"X-Real-Ip": "7.7.7.7"}), 1) == "10.0.0.5"
    assert client_ip(_request("10.0.0.5", **{"X-Forwarded-For": "not-an-ip"}), 1) == "10.0.0.5"


def test_behind_a_proxy_a_client_cannot_become_another_by_its_own_headers(app):
    service = app(trust_forwarded_for=True, client_rate=0.001, client_burst=1)
    first = service.fetch("/create_snap", headers={"X-Forwarded-For": "1.1.1.1, 203.0.113.9"})
    assert first.code == 400  # no url: counted all the same
    for headers in (
        {"X-Forwarded-For": "2.2.2.2, 203.0.113.9"},
        {"X-Forwarded-For": "203.0.113.9", "X-Real-Ip": "9.9.9.9"},
    ):
        assert service.fetch("/create_snap", headers=headers).code == 429
    assert service.fetch("/create_snap", headers={"X-Forwarded-For": "203.0.113.10"}).code == 400


def test_with_keys_on_the_limits_are_per_key(app):
    service = app(api_keys=("key-a", "key-b"), client_rate=0.001, client_burst=1)
    assert service.fetch("/create_snap", headers={"X-API-Key": "key-a"}).code == 400
    assert service.fetch("/create_snap", headers={"X-API-Key": "key-a"}).code == 429
    assert service.fetch("/create_snap", headers={"X-API-Key": "key-b"}).code == 400  # same address, other key
