"""Per-client limits and body size limits."""

from __future__ import annotations

import pytest
import tornado.httputil

from service.errors import Overloaded
from service.limits import ClientLimiter
from service.web import client_ip


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


def test_a_client_guessing_keys_is_limited_by_its_address(app):
    service = app(api_keys=("key-a",), client_rate=0.001, client_burst=1)
    assert service.fetch("/create_snap", headers={"X-API-Key": "guess-1"}).code == 401
    assert service.fetch("/create_snap", headers={"X-API-Key": "guess-2"}).code == 429
    assert service.fetch("/create_snap", headers={"X-API-Key": "key-a"}).code == 400  # a real key: its own limits
