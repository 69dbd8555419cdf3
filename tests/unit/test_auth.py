"""API keys and signed GET URLs."""

from __future__ import annotations

import json

import pytest

from service.auth import ApiKeys, Unauthorized, sign

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
