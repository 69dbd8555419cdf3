"""The HTTP layer in-process: ``make_app(build(...))`` with fake browser sessions (``app`` and
``browser`` fixtures).  Parameters, every error's status and JSON, backend choice, auth, limits,
metrics and the request log, without starting a browser.  The same API end to end on real browsers:
``test_api.py``."""

from __future__ import annotations

import io
import json
import logging
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from PIL import Image

from service.auth import sign
from service.errors import BackendUnavailable, TargetUnreachable
from tests.fakes import Hold
from tests.support import PAGE, assert_error, metric, params


def test_get_returns_the_png_with_its_timings_and_backend(app, browser):
    service = app()
    response = service.fetch("/create_snap", params=params(), headers={"X-Request-ID": "abc-123"})
    assert response.code == 200
    assert response.headers["Content-Type"] == "image/png"
    assert Image.open(io.BytesIO(response.body)).size == (40, 30)
    assert response.headers["X-Snapshot-Backend"] == "local"
    assert response.headers["X-Request-ID"] == "abc-123"
    phases = [part.split(";")[0] for part in response.headers["Server-Timing"].split(", ")]
    assert phases == ["check", "queue", "session", "navigate", "screenshot"]
    assert browser.captures == [(browser.sessions[0].id, PAGE)]


def test_the_published_post_example_stores_the_file_and_its_url_serves_it(app):
    service = app()
    boundary = "b0undary"
    fields = {"url": PAGE, "width": "40", "height": "30", "localmode": "false"}
    body = (
        "".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n' for k, v in fields.items())
        + f"--{boundary}--\r\n"
    )
    response = service.fetch(
        "/create_snap?=,",
        method="POST",
        body=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert response.code == 200, response.body
    answer = json.loads(response.body)
    assert answer["status"] == "success"
    path = answer["file_url"].split(service.url.split("//")[1], 1)[1]
    stored = service.fetch(path)
    assert stored.code == 200 and stored.headers["Content-Type"] == "image/png"
    assert Image.open(io.BytesIO(stored.body)).size == (40, 30)
    assert "upload" in response.headers["Server-Timing"]


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({"width": 40, "height": 30}, "missing_url"),
        (params(url="ftp://example.com/"), "invalid_scheme"),
        (params(url="http://user:pw@example.com/"), "invalid_url"),
        (params(width="0"), "invalid_width"),
        (params(height="-3"), "invalid_height"),
        (params(width=16384, height=16384), "invalid_size"),
        (params(localmode="maybe"), "invalid_localmode"),
    ],
)
def test_bad_parameters_get_a_400_naming_the_problem_and_no_capture(app, browser, query, code):
    service = app()
    assert_error(service.fetch("/create_snap", params=query), 400, code)
    assert browser.captures == []


def test_unknown_paths_methods_and_bodies_get_json_errors(app):
    service = app(max_html_bytes=1000)  # a capture's body may be SNAPSHOT_MAX_BODY_SIZE + SNAPSHOT_MAX_HTML_BYTES
    assert_error(service.fetch("/nope"), 404, "not_found")
    assert_error(service.fetch("/create_snap", method="PUT", body=b"x"), 405, "method_not_allowed")
    assert_error(
        service.fetch("/create_snap", method="POST", body=b"url=x", headers={"Content-Type": "text/plain"}),
        400,
        "unsupported_content_type",
    )
    assert_error(
        service.fetch(
            "/create_snap",
            method="POST",
            body=b"x" * 70000,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        ),
        413,
        "body_too_large",
    )


def test_a_private_target_is_refused_before_any_browser_sees_it(app, browser):
    service = app(allow_networks=())
    assert_error(service.fetch("/create_snap", params=params(url="http://127.0.0.1/")), 403, "blocked")
    assert_error(service.fetch("/create_snap", params=params(url="http://169.254.169.254/")), 403, "blocked")
    assert browser.captures == [] and browser.sessions == []


def test_a_blocked_name_does_not_say_what_it_resolves_to(app, browser):
    """Naming the address would let a client map the cluster's internal DNS one name at a time."""
    service = app(allow_networks=())
    body = assert_error(service.fetch("/create_snap", params=params(url="http://localhost:8080/")), 403, "blocked")
    assert "localhost" in body["message"] and "127.0.0.1" not in body["message"] and "::1" not in body["message"]


def test_failures_of_the_services_own_dependencies_are_told_without_their_details(app, browser):
    service = app(redis_url="redis://127.0.0.1:9/0")
    ready = service.fetch("/readyz")
    assert ready.code == 503
    assert "127.0.0.1:9" not in ready.body.decode() and "Connection" not in ready.body.decode()
    assert json.loads(ready.body)["checks"]["redis"].startswith("failed: ")
    browser.plan(BackendUnavailable("grid http://grid.internal:4444 refused"), BackendUnavailable("again"))
    failed = assert_error(service.fetch("/create_snap", params=params()), 503, "backend_unavailable")
    assert "grid.internal" not in failed["message"]


def test_a_json_body_nested_too_deep_is_a_400(app, browser):
    body = '{"url": ' + "[" * 100_000 + "]" * 100_000 + "}"
    service = app(max_body_size=1 << 20)
    response = service.fetch("/create_snap", method="POST", body=body, headers={"Content-Type": "application/json"})
    assert_error(response, 400, "malformed_body")
    assert browser.captures == []


@pytest.mark.parametrize(
    ("failure", "status", "code", "retry_after"),
    [
        (TargetUnreachable("refused"), 502, "unreachable", None),
        (BackendUnavailable("no session"), 503, "backend_unavailable", "5"),
    ],
)
def test_browser_failures_map_to_their_status(app, browser, failure, status, code, retry_after):
    service = app()
    browser.plan(failure, failure)  # a dead session is retried once
    response = service.fetch("/create_snap", params=params())
    assert_error(response, status, code)
    assert response.headers.get("Retry-After") == retry_after


def test_a_capture_past_its_deadline_is_a_504_in_time(app, browser):
    service = app(capture_timeout=0.5)
    browser.plan(Hold(seconds=10))
    started = time.monotonic()
    assert_error(service.fetch("/create_snap", params=params()), 504, "timeout")
    assert time.monotonic() - started < 2


def test_localmode_picks_the_local_backend_or_is_refused(app):
    grid = app(grid_url="http://127.0.0.1:9")
    assert grid.fetch("/create_snap", params=params()).headers["X-Snapshot-Backend"] == "grid"
    assert grid.fetch("/create_snap", params=params(localmode="true")).headers["X-Snapshot-Backend"] == "local"
    refusing = app(grid_url="http://127.0.0.1:9", allow_localmode=False)
    assert_error(refusing.fetch("/create_snap", params=params(localmode="true")), 403, "localmode_refused")


def test_api_keys_guard_captures_but_not_probes(app):
    service = app(api_keys=("k1",))
    assert_error(service.fetch("/create_snap", params=params()), 401, "unauthorized")
    assert_error(service.fetch("/create_snap", params=params(), headers={"X-API-Key": "nope"}), 401, "unauthorized")
    assert service.fetch("/create_snap", params=params(), headers={"X-API-Key": "k1"}).code == 200
    assert service.fetch("/create_snap", params=params(), headers={"Authorization": "Bearer k1"}).code == 200
    signed = sign("k1", {k: str(v) for k, v in params().items()}, ttl=60)
    assert service.fetch("/create_snap", params=signed).code == 200
    assert_error(service.fetch("/create_snap", params={**signed, "width": "41"}), 401, "unauthorized")
    for probe in ("/healthz", "/metrics", "/openapi.json"):
        assert service.fetch(probe).code == 200


def test_a_client_over_its_in_flight_limit_gets_429_with_retry_after(app, browser):
    service = app(client_max_in_flight=1)
    hold = Hold()
    browser.plan(hold)
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(service.fetch, "/create_snap", params=params())
        deadline = time.monotonic() + 5
        while not browser.sessions and time.monotonic() < deadline:
            time.sleep(0.01)
        second = service.fetch("/create_snap", params=params())
        hold.release.set()
        assert first.result().code == 200
    assert_error(second, 429, "overloaded")
    assert second.headers["Retry-After"] == "1"
    assert service.fetch("/create_snap", params=params()).code == 200  # released


def test_a_draining_service_refuses_new_captures(app):
    service = app()
    service.components.snapshotter.stop_accepting()
    response = service.fetch("/create_snap", params=params())
    assert_error(response, 503, "shutting_down")
    assert response.headers["Retry-After"] == "1"


def test_each_capture_is_counted_by_backend_and_outcome(app, browser):
    service = app()
    service.fetch("/create_snap", params=params())
    service.fetch("/create_snap", params=params(width="x"))
    browser.plan(TargetUnreachable("refused"))
    service.fetch("/create_snap", params=params())
    for outcome in ("success", "invalid", "unreachable"):
        assert metric(service, "snapshot_captures_total", backend="local", outcome=outcome) == 1
    assert metric(service, "snapshot_capture_duration_seconds_count", backend="local") == 1
    assert metric(service, "snapshot_http_requests_total", handler="create_snap", method="GET", status="400") == 1
    scrape = service.fetch("/metrics")
    assert b'snapshot_captures_total{backend="local",outcome="success"} 1.0' in scrape.body


def test_the_request_log_has_the_outcome_and_never_the_query(app, browser, caplog):
    service = app()
    with caplog.at_level(logging.INFO, logger="snapshot.access"):
        service.fetch("/create_snap", params=params(url="http://127.0.0.1:9/secret?token=hunter2"))
        service.fetch("/create_snap", params=params(width="x"))
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "snapshot.access"]
    ok, bad = lines
    assert ok["outcome"] == "success" and ok["status"] == 200 and ok["backend"] == "local"
    assert set(ok["timings_ms"]) == {"check", "queue", "session", "navigate", "screenshot"}
    assert bad["outcome"] == "invalid" and bad["error"] == "invalid_width"
    assert "hunter2" not in caplog.text and "secret" not in caplog.text


def test_a_client_that_hangs_up_abandons_its_capture(app, browser):
    service = app()
    hold = Hold()
    browser.plan(hold)
    port = int(service.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(f"GET /create_snap?url={PAGE}&width=40&height=30 HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        deadline = time.monotonic() + 5
        while not browser.sessions and time.monotonic() < deadline:
            time.sleep(0.01)
    deadline = time.monotonic() + 5
    while metric(service, "snapshot_captures_total", backend="local", outcome="cancelled") != 1:
        assert time.monotonic() < deadline, "the capture was not abandoned"
        time.sleep(0.05)
    assert not hold.release.is_set()  # the fake browser saw the cancel flag, not the end of its wait


def test_a_json_body_is_parsed_like_a_query_and_its_problems_are_listed(app, browser):
    service = app()
    body = {"url": PAGE, "width": 40, "height": 30, "dark_mode": True, "hide_selectors": [".a", ".b"]}
    response = service.fetch("/create_snap", method="POST", body=json.dumps(body),
                             headers={"Content-Type": "application/json"})  # fmt: skip
    assert response.code == 200, response.body
    assert json.loads(response.body)["status"] == "success"
    bad = {"url": PAGE, "width": "40", "height": 30, "dark_mode": "yes", "quality": 5, "typo": 1}
    response = service.fetch("/create_snap", method="POST", body=json.dumps(bad),
                             headers={"Content-Type": "application/json"})  # fmt: skip
    details = assert_error(response, 400, "invalid_options")["details"]
    assert {d["parameter"] for d in details} == {"width", "dark_mode", "typo", "quality"}
    assert_error(
        service.fetch("/create_snap", method="POST", body=b"[1]", headers={"Content-Type": "application/json"}),
        400,
        "malformed_body",
    )


def test_the_answer_says_what_the_capture_found(app):
    response = app().fetch("/create_snap", params=params())
    assert response.headers["X-Snapshot-Final-Url"] == PAGE
    assert response.headers["X-Snapshot-Http-Status"] == "200"
    assert response.headers["X-Snapshot-Page-Height"] == "30"


def test_signed_urls_cover_the_options(app):
    service = app(api_keys=("k1",))
    signed = sign("k1", {k: str(v) for k, v in params(format="jpeg").items()}, ttl=60)
    assert service.fetch("/create_snap", params={**signed, "format": "png"}).code == 401
    assert service.fetch("/create_snap", params={**signed, "full_page": "true"}).code == 401


def test_the_queue_admits_snapshot_queue_size_waiting_captures_then_answers_429(app, browser):
    service = app(local_pool_size=1, queue_size=2, client_max_in_flight=0)
    hold = Hold()
    browser.plan(hold, hold, hold)
    with ThreadPoolExecutor(3) as pool:
        admitted = [pool.submit(service.fetch, "/create_snap", params=params()) for _ in range(3)]
        deadline = time.monotonic() + 5
        while metric(service, "snapshot_captures_in_flight", backend="local") != 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        refused = service.fetch("/create_snap", params=params())
        hold.release.set()
        assert [f.result().code for f in admitted] == [200, 200, 200]
    assert_error(refused, 429, "overloaded")
