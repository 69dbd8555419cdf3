"""Bodies of the client's own (``html``, ``markdown``; ``service/documents.py``), ``/create_content``'s
options, what the page said (``service/browsers/diagnostics.py``) and evidence of failed captures, in
process.  The same in real browsers: ``tests/integration/test_bodies.py``."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from service.browsers.diagnostics import MAX_ENTRIES, Diagnostics, safe_url
from service.config import Settings
from service.delivery.cache import cache_key
from service.documents import CONTENT_TARGET, CONTENT_URL, MARKDOWN_CSP, Document, markdown_document, with_base
from service.errors import CaptureTimeout, ContentTooLarge, InvalidRequest, SelectorNotFound
from service.options import Endpoint
from service.params import parse_capture_request
from tests.fakes import png
from tests.support import PAGE, assert_error, params

SETTINGS = Settings(max_html_bytes=1000)


def parse(endpoint: Endpoint = Endpoint.SNAP, **given: str):
    base = {"width": "100", "height": "50", **given}
    return parse_capture_request({k: [v] for k, v in base.items()}, SETTINGS, endpoint)


def problems(**given: str) -> dict[str, str]:
    with pytest.raises(InvalidRequest) as info:
        parse(**given)
    return {d["parameter"]: d["message"] for d in info.value.details or []}


# --------------------------------------------------------------------------- the request


def test_an_html_body_is_served_from_the_services_own_origin_and_checks_nothing_before():
    request = parse(html="<p>hi</p>")
    assert request.url == CONTENT_URL and request.target is CONTENT_TARGET
    assert request.checked_target is None  # no address to check: its requests go through the proxy
    assert request.document == Document("html", "<p>hi</p>")


def test_a_base_url_is_the_target_the_policy_checks_and_cookies_go_to():
    request = parse(markdown="# Hi", base_url="https://Example.com/docs/", cookies="sid=1")
    assert request.url == CONTENT_URL  # the browser is still given the body
    assert request.checked_target is not None and request.checked_target.host == "example.com"
    assert request.document is not None and request.document.base_url == "https://Example.com/docs/"


@pytest.mark.parametrize(
    ("given", "parameter", "message"),
    [
        ({"html": "<p>x", "url": "http://example.com/"}, "url", "cannot be combined with html"),
        ({"html": "<p>x", "markdown": "# x"}, "markdown", "cannot be combined with html"),
        ({"url": "http://example.com/", "base_url": "http://example.com/"}, "base_url", "needs html or markdown"),
        ({"html": "<p>x", "base_url": "file:///etc/passwd"}, "base_url", "http"),
        ({"html": "<p>x", "base_url": "http://u:p@example.com/"}, "base_url", "credentials"),
    ],
)
def test_bodies_and_urls_contradicting_each_other_are_400s_naming_the_parameter(given, parameter, message):
    found = problems(**given)
    assert parameter in found and message in found[parameter].lower(), found


def test_a_request_with_neither_url_nor_body_keeps_the_published_missing_url():
    with pytest.raises(InvalidRequest) as info:
        parse()
    assert info.value.code == "missing_url"


def test_a_body_over_the_limit_is_413_before_anything_else():
    with pytest.raises(ContentTooLarge) as info:
        parse(html="x" * 1001, width="0")
    assert info.value.status == 413 and "SNAPSHOT_MAX_HTML_BYTES" in info.value.message
    assert parse(html="é" * 500).document is not None  # 1000 bytes of UTF-8: at the limit


def test_the_cache_key_covers_the_body_and_whether_the_page_said_anything():
    one, other = parse(html="<p>one"), parse(html="<p>two")
    assert cache_key(one, "") != cache_key(other, "")
    assert cache_key(one, "") == cache_key(parse(html="<p>one"), "")
    assert cache_key(one, "") != cache_key(parse(html="<p>one", metadata="true"), "")
    assert cache_key(one, "") != cache_key(parse(markdown="<p>one"), "")


def test_the_content_format_is_the_content_endpoints_own_format():
    assert parse(Endpoint.CONTENT, url="http://example.com/", format="markdown").options.content_format == "markdown"
    assert parse(Endpoint.CONTENT, url="http://example.com/").options.content_format == "html"
    for endpoint, value in ((Endpoint.CONTENT, "png"), (Endpoint.SNAP, "markdown")):
        with pytest.raises(InvalidRequest) as info:
            parse(endpoint, url="http://example.com/", format=value)
        assert info.value.details and info.value.details[0]["parameter"] == "format"
    with pytest.raises(InvalidRequest):
        parse(Endpoint.CONTENT, url="http://example.com/", full_page="true")  # no picture, no full page


def test_a_body_never_shows_in_a_repr():
    document = parse(html="<p>secret invoice 4711</p>").document
    assert "4711" not in repr(document)


# --------------------------------------------------------------------------- the documents


def test_markdown_is_rendered_with_raw_html_shown_as_text_and_no_unsafe_links():
    page = markdown_document(
        "# Report\n\n<script>alert(1)</script>\n\n[x](javascript:alert(1))\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
    )
    assert "<h1>Report</h1>" in page and "<title>Report</title>" in page
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert 'href="javascript:' not in page
    assert "<table>" in page and "<td>2</td>" in page
    body, headers = Document("markdown", "# x").served()
    assert {"name": "Content-Security-Policy", "value": MARKDOWN_CSP} in headers
    assert "script-src 'none'" in MARKDOWN_CSP


def test_the_base_element_comes_first_after_the_doctype_escaped():
    assert with_base("<!DOCTYPE html><p>x", 'https://e.com/"><script>') == (
        '<!DOCTYPE html><base href="https://e.com/&quot;&gt;&lt;script&gt;"><p>x'
    )
    assert with_base("<p>x", "https://e.com/") == '<base href="https://e.com/"><p>x'
    assert with_base("<p>x", None) == "<p>x"
    body, headers = Document("html", "<p>é", "https://e.com/").served()
    assert body == '<base href="https://e.com/"><p>é'.encode()
    assert {"name": "Content-Type", "value": "text/html; charset=utf-8"} in headers


# --------------------------------------------------------------------------- what the page said


def test_console_messages_exceptions_and_failed_requests_are_collected_capped_and_without_credentials():
    said = Diagnostics()
    said.on_event("Runtime.consoleAPICalled", {"type": "log", "args": [{"type": "string", "value": "hi"},
                                                                       {"type": "number", "value": 42}]})  # fmt: skip
    said.on_event("Runtime.consoleAPICalled", {"type": "warning", "args": [{"type": "object", "description": "Obj"}]})
    said.on_event(
        "Runtime.exceptionThrown",
        {"exceptionDetails": {"text": "Uncaught", "exception": {"description": "Error: boom\n    at x.js:1"}}},
    )
    said.on_event("Network.requestWillBeSent", {"requestId": "1", "request": {"url": "http://u:pw@a.test/x?q=1"}})
    said.on_event("Network.loadingFailed", {"requestId": "1", "errorText": "net::ERR_CONNECTION_REFUSED"})
    said.on_event("Network.requestWillBeSent", {"requestId": "2", "request": {"url": "http://a.test/aborted"}})
    said.on_event("Network.loadingFailed", {"requestId": "2", "errorText": "net::ERR_ABORTED", "canceled": True})
    said.on_event(
        "Network.responseReceived", {"requestId": "3", "response": {"url": "http://a.test/gone", "status": 404}}
    )
    said.on_event(
        "Network.responseReceived", {"requestId": "4", "response": {"url": "http://a.test/ok", "status": 200}}
    )
    console, failed = said.view()
    assert console == (
        {"level": "log", "text": "hi 42"},
        {"level": "warning", "text": "Obj"},
        {"level": "error", "text": "Uncaught Error: boom"},
    )
    assert failed == (
        {"url": "http://a.test/x?q=1", "error": "net::ERR_CONNECTION_REFUSED"},
        {"url": "http://a.test/gone", "status": 404},
    )
    for _ in range(MAX_ENTRIES + 5):
        said.on_event("Runtime.consoleAPICalled", {"type": "log", "args": [{"type": "string", "value": "x" * 5000}]})
    console, _ = said.view()
    assert len(console) == MAX_ENTRIES and all(len(entry["text"]) <= 1000 for entry in console)
    assert safe_url("https://user:secret@[::1]:8443/p") == "https://[::1]:8443/p"


# --------------------------------------------------------------------------- the API, in process


def test_content_answers_are_never_run_as_pages_of_the_services_origin(app, browser):
    service = app()
    response = service.fetch("/create_content", params={"url": PAGE})
    assert response.code == 200, response.body
    assert "sandbox" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert browser.requests[-1].endpoint is Endpoint.CONTENT
    assert (browser.requests[-1].width, browser.requests[-1].height) == (1280, 800)  # a layout by default


def test_a_failed_captures_evidence_is_stored_and_its_url_given_with_the_error(app, browser):
    service = app()
    for failure, status, code in (
        (CaptureTimeout("no visible element matched"), 504, "timeout"),
        (SelectorNotFound("no visible element matches selector='#x'"), 422, "selector_not_found"),
    ):
        failure.evidence = png(40, 30, (200, 0, 0))
        browser.plan(failure)
        body = assert_error(service.fetch("/create_snap", params=params(evidence="true")), status, code)
        path = body["evidence_url"].split(service.url.split("//")[1], 1)[1]
        stored = service.fetch(path)
        assert stored.code == 200 and stored.headers["Content-Type"] == "image/png"
        assert Image.open(io.BytesIO(stored.body)).getpixel((5, 5))[:3] == (200, 0, 0)
    browser.plan(CaptureTimeout("no evidence asked"))
    assert "evidence_url" not in assert_error(service.fetch("/create_snap", params=params()), 504, "timeout")


def test_an_html_body_in_a_json_post_reaches_the_browser_and_its_text_no_log(app, browser, caplog):
    service = app()
    body = json.dumps({"html": "<p>invoice 4711</p>", "width": 40, "height": 30})
    response = service.fetch("/create_snap", method="POST", body=body, headers={"Content-Type": "application/json"})
    assert response.code == 200, response.body
    request = browser.requests[-1]
    assert request.url == CONTENT_URL and request.document is not None
    assert request.document.source == "<p>invoice 4711</p>"
    assert "4711" not in caplog.text
    too_large = json.dumps({"html": "x" * 2000, "width": 40, "height": 30})
    small = app(max_html_bytes=1000)
    assert_error(
        small.fetch("/create_snap", method="POST", body=too_large, headers={"Content-Type": "application/json"}),
        413,
        "content_too_large",
    )
