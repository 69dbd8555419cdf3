"""API keys and signed GET URLs."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from service.auth import ApiKeys, Unauthorized, sign
from tests.support import LOOPBACK, open_png

KEYS = ApiKeys(("k1", "k2"))
PARAMS = {"url": "https://example.com/", "width": "10", "height": "20"}


def test_keys_in_either_header_are_accepted_and_others_refused():
    KEYS.check({"X-API-Key": "k2"}, {}, method="POST")
    KEYS.check({"Authorization": "Bearer k1"}, {}, method="GET")
    for headers in ({}, {"X-API-Key": "nope"}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic k1"}):
        with pytest.raises(Unauthorized):
            KEYS.check(headers, {}, method="GET")


def test_signed_urls_work_until_they_expire_and_only_unaltered():
    signed = sign("k2", PARAMS, ttl=60, now=1000)
    KEYS.check({}, signed, method="GET", now=1000)
    with pytest.raises(Unauthorized):
        KEYS.check({}, signed, method="GET", now=1061)  # expired
    with pytest.raises(Unauthorized):
        KEYS.check({}, {**signed, "width": "11"}, method="GET", now=1000)  # altered
    with pytest.raises(Unauthorized):
        KEYS.check({}, {**signed, "expires": "9999999999"}, method="GET", now=1000)  # extended
    with pytest.raises(Unauthorized):
        KEYS.check({}, signed, method="POST", now=1000)  # signatures are for GET only
    with pytest.raises(Unauthorized):
        ApiKeys(("other",)).check({}, signed, method="GET", now=1000)


def test_a_signature_covers_the_path_and_keeps_the_order_of_repeated_values():
    signed = sign("k1", {**PARAMS, "hide_selectors": [".a", ".b"]}, ttl=60, now=1000)
    keys = ApiKeys(("k1",), repeatable={"hide_selectors"})
    keys.check({}, signed, method="GET", now=1000)
    keys.check({}, signed, method="HEAD", now=1000)
    with pytest.raises(Unauthorized, match="signature"):
        keys.check({}, signed, method="GET", path="/create_pdf", now=1000)  # an image link on another endpoint
    with pytest.raises(Unauthorized, match="signature"):
        keys.check({}, {**signed, "hide_selectors": [".b", ".a"]}, method="GET", now=1000)  # reordered
    pdf = sign("k1", PARAMS, ttl=60, now=1000, path="/create_pdf")
    keys.check({}, pdf, method="GET", path="/create_pdf", now=1000)


def test_a_signed_request_is_exactly_its_query():
    keys = ApiKeys(("k1",), repeatable={"hide_selectors"})
    signed = sign("k1", {**PARAMS, "width": ["10", "5000"]}, ttl=60, now=1000)  # a repeated single value
    with pytest.raises(Unauthorized, match="width repeated"):
        keys.check({}, signed, method="GET", now=1000)
    signed = sign("k1", PARAMS, ttl=60, now=1000)
    with pytest.raises(Unauthorized, match="no body"):
        keys.check({}, signed, method="GET", has_body=True, now=1000)


def test_a_signed_url_may_not_live_longer_than_the_cap():
    keys = ApiKeys(("k1",), max_signed_ttl=3600)
    keys.check({}, sign("k1", PARAMS, ttl=3600, now=1000), method="GET", now=1000)
    with pytest.raises(Unauthorized, match="at most 3600 seconds"):
        keys.check({}, sign("k1", PARAMS, ttl=3601, now=1000), method="GET", now=1000)


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", b'{"url": "http://127.0.0.1:9/other", "width": 900}'),
        ("application/x-www-form-urlencoded", b"url=http%3A%2F%2F127.0.0.1%3A9%2Fother&width=900"),
    ],
)
def test_a_signed_link_with_a_body_captures_nothing(app, browser, content_type, body):
    service = app(api_keys=("k1",))
    signed = sign("k1", {"url": "http://127.0.0.1:9/meant", "width": "30", "height": "20"}, ttl=60)
    answer = service.fetch("/create_snap", params=signed, body=body, headers={"Content-Type": content_type})
    assert answer.code == 401 and json.loads(answer.body)["error"] == "unauthorized"
    assert browser.captures == []
    assert service.fetch("/create_snap", params=signed).code == 200  # the link alone still works
    assert [url for _, url in browser.captures] == ["http://127.0.0.1:9/meant"]


def test_a_signed_image_link_does_not_open_the_pdf_endpoint(app, browser):
    service = app(api_keys=("k1",))
    signed = sign("k1", {"url": "http://127.0.0.1:9/meant", "width": "30", "height": "20"}, ttl=60)
    assert service.fetch("/create_pdf", params=signed).code == 401
    assert browser.captures == []


def test_no_keys_means_open():
    ApiKeys(()).check({}, {}, method="POST")


@pytest.mark.integration
def test_the_service_enforces_keys_but_leaves_probes_open(start, pages):
    service = start(
        {"SNAPSHOT_ALLOW_NETWORKS": LOOPBACK, "SNAPSHOT_API_KEYS": "s3cret-key", "SNAPSHOT_LOCAL_POOL_SIZE": "1"}
    )
    params = {"url": pages.base + "/color/ff0000", "width": "30", "height": "20"}
    refused = requests.get(f"{service.url}/create_snap", params=params)
    assert refused.status_code == 401 and refused.json()["error"] == "unauthorized"
    assert (
        requests.get(f"{service.url}/create_snap", params=params, headers={"X-API-Key": "s3cret-key"}).status_code
        == 200
    )
    # a signed URL made by the CLI, as an <img src> would use it
    path = subprocess.run(
        [
            sys.executable,
            "-m",
            "service.auth",
            "--key",
            "s3cret-key",
            "--url",
            params["url"],
            "--width",
            "30",
            "--height",
            "20",
            "--ttl",
            "60",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    signed = requests.get(service.url + path)
    assert signed.status_code == 200 and open_png(signed.content).getpixel((15, 10)) == (255, 0, 0)
    query = dict(parse_qsl(urlsplit(path).query))
    query["expires"] = str(int(time.time()) - 1)
    assert requests.get(f"{service.url}/create_snap", params=query).status_code == 401
    for probe in ("/healthz", "/readyz", "/metrics", "/openapi.json"):
        assert requests.get(service.url + probe).status_code == 200
    assert "s3cret-key" not in service.proc.log_path.read_text()
