"""Delivery in-process (fake browser sessions, the ``app`` fixture): response types and metadata, the
cache (hits, expiry, tenants, ETag), single flight within a replica, async jobs in the process's own
store, and webhooks to a real receiver that verifies their signatures.  The same with Redis, SeaweedFS,
Chromium and two replicas: ``test_delivery_shared.py``."""

from __future__ import annotations

import asyncio
import io
import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from PIL import Image

from service.errors import TargetUnreachable
from tests.fakes import Hold
from tests.servers import WEBHOOK_SECRET
from tests.support import Clock, assert_error, metric, params, wait_for_job

METADATA = {"final_url", "http_status", "page_title", "image_width", "image_height", "page_height", "format",
            "bytes", "render_ms", "cache", "request_id", "truncated", "blocked_requests"}  # fmt: skip


def fetch_url(service, url: str):
    return service.fetch(url.removeprefix(service.url))


# --- response types and metadata


def test_get_answers_json_or_nothing_when_asked(app, browser):
    service = app()
    as_json = service.fetch("/create_snap", params=params(response_type="json"))
    assert as_json.code == 200
    body = json.loads(as_json.body)
    assert set(body) == {"file_url", "status"} and body["status"] == "success"
    stored = fetch_url(service, body["file_url"])
    assert Image.open(io.BytesIO(stored.body)).size == (40, 30)

    empty = service.fetch("/create_snap", params=params(response_type="empty"))
    assert empty.code == 204 and empty.body == b""
    assert empty.headers["X-Snapshot-Image-Width"] == "40"
    assert len(browser.captures) == 2


def test_post_answers_the_image_when_asked_and_stores_nothing(app, tmp_path):
    service = app()
    response = service.fetch("/create_snap", method="POST", body=json.dumps({**params(), "response_type": "image"}),
                             headers={"Content-Type": "application/json"})  # fmt: skip
    assert response.code == 200 and response.headers["Content-Type"] == "image/png"
    assert not list((tmp_path / "files").glob("*.png"))


def test_metadata_in_json_and_as_headers(app):
    service = app()
    response = service.fetch("/create_snap", method="POST", params=params(metadata="true"), body=b"",
                             headers={"X-Request-ID": "req-42"})  # fmt: skip
    body = json.loads(response.body)
    assert set(body) == {"file_url", "status"} | METADATA
    assert body["final_url"] == params()["url"] and body["http_status"] == 200 and body["page_title"] == "fake"
    assert (body["image_width"], body["image_height"], body["format"]) == (40, 30, "png")
    assert body["cache"] == "miss" and body["request_id"] == "req-42" and body["bytes"] > 0
    image = service.fetch("/create_snap", params=params())
    assert image.headers["X-Snapshot-Page-Title"] == "fake"
    assert image.headers["X-Snapshot-Bytes"] == str(len(image.body))
    assert image.headers["X-Snapshot-Format"] == "png" and image.headers["X-Snapshot-Cache"] == "miss"


# --- the cache


def test_a_cached_capture_is_served_with_age_and_etag_then_304(app, browser):
    clock = Clock()
    service = app(clock=clock)
    first = service.fetch("/create_snap", params=params(cache_ttl=60))
    assert first.headers["X-Snapshot-Cache"] == "miss" and first.headers["Cache-Control"] == "private, max-age=60"
    clock.advance(7)
    second = service.fetch("/create_snap", params=params(cache_ttl=60))
    assert second.code == 200 and second.body == first.body
    assert second.headers["X-Snapshot-Cache"] == "hit" and second.headers["Age"] == "7"
    assert second.headers["Cache-Control"] == "private, max-age=53"
    assert second.headers["ETag"] == first.headers["ETag"]
    assert len(browser.captures) == 1
    again = service.fetch("/create_snap", params=params(cache_ttl=60), headers={"If-None-Match": first.headers["ETag"]})
    assert again.code == 304 and again.body == b""
    assert len(browser.captures) == 1
    assert metric(service, "snapshot_cache_lookups_total", result="hit") == 2


def test_a_cached_entry_whose_file_went_away_is_rendered_again(app, browser):
    service = app()
    service.fetch("/create_snap", params=params(cache_ttl=60))
    for image in service.components.storage.directory.glob("cache-*.png"):
        image.unlink()  # a sweep or a lifecycle rule between the lookup and the read
    again = service.fetch("/create_snap", params=params(cache_ttl=60))
    assert again.code == 200 and Image.open(io.BytesIO(again.body)).size == (40, 30)
    assert again.headers["X-Snapshot-Cache"] == "miss" and len(browser.captures) == 2
    assert service.fetch("/create_snap", params=params(cache_ttl=60)).headers["X-Snapshot-Cache"] == "hit"


def test_the_cache_key_covers_every_option_and_the_salt(app, browser):
    service = app()
    for extra in ({}, {"hide_selectors": ".ad"}, {"format": "jpeg"}, {"cache_key": "tenant-a"}, {"delay": 1}):
        service.fetch("/create_snap", params=params(cache_ttl=60, **extra))
    assert len(browser.captures) == 5
    for extra in ({}, {"hide_selectors": ".ad"}, {"cache_key": "tenant-a"}):
        assert service.fetch("/create_snap", params=params(cache_ttl=60, **extra)).headers["X-Snapshot-Cache"] == "hit"
    assert len(browser.captures) == 5


def test_an_entry_expires_after_its_ttl_and_fresh_replaces_it(app, browser):
    clock = Clock()
    service = app(clock=clock)
    service.fetch("/create_snap", params=params(cache_ttl=1))
    clock.advance(1.2)
    assert service.fetch("/create_snap", params=params(cache_ttl=1)).headers["X-Snapshot-Cache"] == "miss"
    assert len(browser.captures) == 2
    fresh = service.fetch("/create_snap", params=params(cache_ttl=60, fresh="true"))
    assert fresh.headers["X-Snapshot-Cache"] == "miss" and len(browser.captures) == 3
    clock.advance(1.1)
    # an entry kept for 60 s is still too old for a request that accepts 1 s
    assert service.fetch("/create_snap", params=params(cache_ttl=1)).headers["X-Snapshot-Cache"] == "miss"
    assert service.fetch("/create_snap", params=params(cache_ttl=60)).headers["X-Snapshot-Cache"] == "hit"
    assert len(browser.captures) == 4


def test_one_tenants_capture_is_never_served_to_another_key(app, browser):
    service = app(api_keys=("key-a", "key-b"))
    secret = params(cache_ttl=60, cookies="session=alice-secret", headers="X-Test: alice")
    a = service.fetch("/create_snap", params=secret, headers={"X-API-Key": "key-a"})
    assert a.code == 200 and a.headers["X-Snapshot-Cache"] == "miss"
    b = service.fetch("/create_snap", params=secret, headers={"X-API-Key": "key-b"})
    assert b.code == 200 and b.headers["X-Snapshot-Cache"] == "miss"
    assert len(browser.captures) == 2
    again = service.fetch("/create_snap", params=secret, headers={"X-API-Key": "key-a"})
    assert again.headers["X-Snapshot-Cache"] == "hit"
    # and the files name nothing of the key
    assert not any("key-a" in p.name for p in service.components.storage.directory.iterdir())


def test_identical_requests_in_flight_are_rendered_once(app, browser):
    service = app()
    hold = Hold()
    browser.plan(hold)
    with ThreadPoolExecutor(6) as pool:
        futures = [pool.submit(service.fetch, "/create_snap", params=params(cache_ttl=60)) for _ in range(6)]
        time.sleep(0.5)
        hold.release.set()
        answers = [f.result() for f in futures]
    assert [a.code for a in answers] == [200] * 6
    assert len({a.body for a in answers}) == 1
    assert len(browser.captures) == 1
    assert service.components.renderer.flights.shared == 5


def test_the_local_cache_sweep_removes_expired_entries_after_a_grace(app, tmp_path):
    from service.delivery.cache import sweep_local

    service = app()
    service.fetch("/create_snap", params=params(cache_ttl=1))
    directory = service.components.storage.directory
    assert len(list(directory.glob("cache-*"))) == 2  # the image and its metadata
    assert sweep_local(directory, grace=60, file_ttl=10**6, now=time.time() + 30) == 0
    assert sweep_local(directory, grace=60, file_ttl=10**6, now=time.time() + 62) == 1
    assert not list(directory.glob("cache-*"))


def test_stored_files_expire_and_their_urls_are_signed_with_a_lifetime(app, tmp_path):
    from service.delivery.cache import sweep_local

    service = app(s3_presign_expires=60)
    stored = json.loads(service.fetch("/create_snap", method="POST", body=json.dumps(params()),
                                      headers={"Content-Type": "application/json"}).body)  # fmt: skip
    url = stored["file_url"]
    assert "expires=" in url and "signature=" in url
    assert fetch_url(service, url).code == 200
    path = url.removeprefix(service.url).split("?")[0]
    assert_error(service.fetch(path), 403, "forbidden")  # no signature: links never expire otherwise
    assert_error(service.fetch(url.removeprefix(service.url).replace("signature=", "signature=0")), 403, "forbidden")
    storage = service.components.storage
    name = path.rsplit("/", 1)[1]
    query = dict(part.split("=") for part in url.split("?")[1].split("&"))
    assert not storage.verify(name, query["expires"], query["signature"], now=time.time() + 61)  # expired
    directory = storage.directory
    assert sweep_local(directory, grace=60, file_ttl=3600, now=time.time() + 3000) == 0
    assert sweep_local(directory, grace=60, file_ttl=3600, now=time.time() + 3601) == 1
    assert not (directory / name).exists() and (directory / ".url-key").exists()


# --- async jobs


def test_an_async_job_is_queued_run_and_shown_with_its_result(app, browser):
    service = app()
    response = service.fetch("/create_snap", method="POST", params=params(**{"async": "true"}, external_id="order-7"),
                             body=b"")  # fmt: skip
    assert response.code == 202
    accepted = json.loads(response.body)
    assert accepted["status"] == "queued" and accepted["external_id"] == "order-7"
    assert accepted["status_url"].endswith(f"/jobs/{accepted['id']}")
    assert response.headers["Location"] == accepted["status_url"]
    job = wait_for_job(service, accepted["id"])
    assert job["status"] == "succeeded" and job["external_id"] == "order-7"
    assert set(job["result"]) >= METADATA and job["result"]["status"] == "success"
    image = fetch_url(service, job["result"]["file_url"])
    assert Image.open(io.BytesIO(image.body)).size == (40, 30)
    assert job["started_at"] >= job["created_at"] and job["finished_at"] >= job["started_at"]
    assert metric(service, "snapshot_jobs_finished_total", status="succeeded") == 1


def test_a_failed_job_shows_the_error(app, browser):
    service = app()
    browser.plan(TargetUnreachable("net::ERR_NAME_NOT_RESOLVED"))
    accepted = json.loads(service.fetch("/create_snap", params=params(**{"async": "true"})).body)
    job = wait_for_job(service, accepted["id"])
    assert job["status"] == "failed"
    assert job["error"] == {"status": "error", "error": "unreachable", "message": "net::ERR_NAME_NOT_RESOLVED"}


def test_a_full_job_queue_answers_429_at_submission(app, browser):
    service = app(job_queue_size=1, job_workers=1)
    hold = Hold()
    browser.plan(hold)
    submit = lambda: service.fetch("/create_snap", params=params(**{"async": "true"}))  # noqa: E731
    running = json.loads(submit().body)["id"]
    wait_for_job(service, running, until=("running",))
    queued = submit()
    assert queued.code == 202
    assert_error(submit(), 429, "overloaded")
    hold.release.set()
    assert wait_for_job(service, json.loads(queued.body)["id"])["status"] == "succeeded"


def test_one_owner_cannot_fill_the_queue_for_everyone(app, browser):
    service = app(job_owner_limit=2, job_workers=1, api_keys=("key-a", "key-b"))
    hold = Hold()
    browser.plan(hold)

    def submit(key: str):
        return service.fetch("/create_snap", params=params(**{"async": "true"}), headers={"X-API-Key": key})

    first, second = (json.loads(submit("key-a").body)["id"] for _ in range(2))
    refused = assert_error(submit("key-a"), 429, "overloaded")
    assert "2 of your jobs" in refused["message"]
    other = submit("key-b")
    assert other.code == 202  # another key still gets in
    hold.release.set()
    for job_id in (first, second):
        assert wait_for_job(service, job_id, headers={"X-API-Key": "key-a"})["status"] == "succeeded"
    assert submit("key-a").code == 202  # finished jobs no longer count


def test_an_owners_oldest_finished_jobs_are_dropped_beyond_the_retained_count(app, browser):
    service = app(job_retained=2)
    ids = []
    for _ in range(3):
        ids.append(json.loads(service.fetch("/create_snap", params=params(**{"async": "true"})).body)["id"])
        wait_for_job(service, ids[-1])
    assert_error(service.fetch(f"/jobs/{ids[0]}"), 404, "not_found")
    assert all(service.fetch(f"/jobs/{job_id}").code == 200 for job_id in ids[1:])


def test_a_job_keeps_its_headers_and_cookies_sealed_and_its_parameters_only_until_it_ends(app, browser):
    service = app()
    hold = Hold()
    browser.plan(hold)
    secret = "Authorization: Bearer job-secret-123"
    query = params(**{"async": "true"}, headers=secret, cookies="session=cookie-secret-456")
    job_id = json.loads(service.fetch("/create_snap", params=query).body)["id"]
    wait_for_job(service, job_id, until=("running",))
    stored = service.call(service.components.jobs.store.get(job_id)).dumps()
    assert "job-secret-123" not in stored and "cookie-secret-456" not in stored and "headers" not in stored
    hold.release.set()
    assert wait_for_job(service, job_id)["status"] == "succeeded"
    [captured] = browser.requests
    assert captured.options.headers == (secret,) and captured.options.cookies == ("session=cookie-secret-456",)
    finished = service.call(service.components.jobs.store.get(job_id))
    assert finished.params == {} and finished.body is None and finished.sealed is None


def test_sealed_secrets_open_only_with_their_key_and_for_their_job():
    from service.delivery.sealed import Sealer

    sealer = Sealer(None)
    params_, body, secrets = Sealer.split({"url": ["u"], "headers": ["X-A: 1"]}, {"cookies": ["c=1"], "width": 3})
    assert params_ == {"url": ["u"]} and body == {"width": 3}
    assert sealer.open("job-1", sealer.seal("job-1", secrets)) == secrets
    with pytest.raises(ValueError, match="cannot be read"):
        Sealer("k" * 32).open("job-1", sealer.seal("job-1", secrets))  # another replica's key
    with pytest.raises(ValueError, match="cannot be read"):
        sealer.open("job-2", sealer.seal("job-1", secrets))  # bound to its job


def test_an_async_capture_of_a_blocked_target_is_refused_at_submission(app, browser):
    service = app(allow_networks=())
    refused = service.fetch("/create_snap", params=params(**{"async": "true"}, url="http://10.1.2.3/"))
    assert_error(refused, 403, "blocked")
    assert browser.captures == []


def test_a_job_is_shown_only_to_its_own_key(app):
    service = app(api_keys=("key-a", "key-b"))
    response = service.fetch("/create_snap", params=params(**{"async": "true"}), headers={"X-API-Key": "key-a"})
    job_id = json.loads(response.body)["id"]
    assert_error(service.fetch(f"/jobs/{job_id}", headers={"X-API-Key": "key-b"}), 404, "not_found")
    assert_error(service.fetch(f"/jobs/{job_id}"), 401, "unauthorized")
    assert service.fetch(f"/jobs/{job_id}", headers={"X-API-Key": "key-a"}).code == 200
    assert_error(service.fetch("/jobs/" + "0" * 32, headers={"X-API-Key": "key-a"}), 404, "not_found")


@pytest.mark.parametrize(
    ("extra", "parameter"),
    [
        ({"fresh": "true"}, "fresh"),
        ({"cache_key": "x"}, "cache_key"),
        ({"cache_ttl": "999999"}, "cache_ttl"),
        ({"webhook_url": "http://127.0.0.1:9/hook"}, "webhook_url"),  # needs async
        ({"async": "true", "response_type": "image"}, "response_type"),
        ({"async": "true", "webhook_url": "ftp://example.com/"}, "webhook_url"),
        ({"external_id": "x"}, "external_id"),
        ({"response_type": "xml"}, "response_type"),
    ],
)
def test_delivery_contradictions_are_refused(app, browser, extra, parameter):
    service = app(webhook_secret=WEBHOOK_SECRET)
    body = assert_error(service.fetch("/create_snap", params=params(**extra)), 400, "invalid_options")
    assert parameter in {d["parameter"] for d in body["details"]}
    assert browser.captures == []


def test_a_webhook_needs_the_signing_secret(app):
    service = app()
    body = assert_error(service.fetch("/create_snap", params=params(**{"async": "true"}, webhook_url="http://127.0.0.1:9/")),
                        400, "invalid_options")  # fmt: skip
    assert "SNAPSHOT_WEBHOOK_SECRET" in body["message"]


# --- webhooks


def test_the_webhook_is_signed_retried_with_backoff_and_the_job_shows_each_attempt(app, receiver):
    hook = receiver(fail_first=2)
    service = app(webhook_secret=WEBHOOK_SECRET, webhook_backoff=0.2)
    accepted = json.loads(
        service.fetch("/create_snap", params=params(**{"async": "true"}, webhook_url=hook.url, external_id="e1")).body
    )
    job = wait_for_job(service, accepted["id"])
    assert job["webhook"]["state"] == "delivered"
    assert [a["status"] for a in job["webhook"]["attempts"]] == [500, 500, 204]
    deliveries = hook.by_id()[accepted["id"]]
    assert len(deliveries) == 3
    assert all(d.verified is not None for d in deliveries), "every delivery verifies with the package's verifier"
    payload = deliveries[-1].verified
    assert payload["type"] == "job.succeeded" and payload["data"]["id"] == accepted["id"]
    assert payload["data"]["external_id"] == "e1" and payload["data"]["result"]["image_width"] == 40
    times = [float(d.headers["webhook-timestamp"]) for d in deliveries]
    assert times == sorted(times)
    assert metric(service, "snapshot_webhook_deliveries_total", result="retried") == 2


def test_a_webhook_names_the_tenant_and_links_only_to_the_service_itself(app, receiver):
    """A client's Host header never reaches another party: the payload's URLs come from the service's own
    address (or SNAPSHOT_PUBLIC_BASE_URL), and the payload says whose job it is."""
    from service.auth import tenant_of

    hook = receiver()
    service = app(webhook_secret=WEBHOOK_SECRET, api_keys=("key-a",))
    headers = {"Host": "attacker.example", "X-API-Key": "key-a"}
    query = params(**{"async": "true"}, webhook_url=hook.url, response_type="json")
    accepted = json.loads(service.fetch("/create_snap", params=query, headers=headers).body)
    assert accepted["status_url"] == f"{service.url}/jobs/{accepted['id']}"
    wait_for_job(service, accepted["id"], headers={"X-API-Key": "key-a"})
    [delivery] = hook.deliveries
    data = delivery.verified["data"]
    assert data["tenant"] == tenant_of("key-a")
    assert "attacker.example" not in delivery.body.decode()
    assert data["status_url"].startswith(service.url) and data["result"]["file_url"].startswith(service.url)

    configured = app(webhook_secret=WEBHOOK_SECRET, public_base_url="https://snap.example.org")
    accepted = json.loads(configured.fetch("/create_snap", params=query, headers={"Host": "attacker.example"}).body)
    assert accepted["status_url"].startswith("https://snap.example.org/jobs/")


def test_a_webhook_is_given_up_after_its_attempts(app, receiver):
    hook = receiver(fail_first=10)
    service = app(webhook_secret=WEBHOOK_SECRET, webhook_backoff=0.05, webhook_attempts=3)
    accepted = json.loads(service.fetch("/create_snap", params=params(**{"async": "true"}, webhook_url=hook.url)).body)
    job = wait_for_job(service, accepted["id"])
    assert job["webhook"]["state"] == "failed" and len(job["webhook"]["attempts"]) == 3
    assert metric(service, "snapshot_webhook_deliveries_total", result="failed") == 1


def test_a_webhook_to_an_inner_address_is_refused_at_submission_and_at_delivery(app, receiver):
    from service.delivery.webhooks import WebhookSender
    from service.netpolicy import NetworkPolicy

    hook = receiver()
    service = app(webhook_secret=WEBHOOK_SECRET)
    for url in ("http://10.0.0.1/hook", "http://169.254.169.254/latest/meta-data/"):
        response = service.fetch("/create_snap", params=params(**{"async": "true"}, webhook_url=url))
        assert "webhook_url" in assert_error(response, 403, "blocked")["message"]
    # at delivery the address is checked again (DNS may have changed): without loopback allowed, the
    # receiver on 127.0.0.1 is never reached
    attempt = asyncio.run(
        WebhookSender(WEBHOOK_SECRET, NetworkPolicy(), 2.0, ports=()).send(hook.url, "job-1", "{}", 1)
    )
    assert attempt.status is None and "not an address" in (attempt.error or "")
    assert hook.deliveries == []


def test_the_job_runner_checks_the_webhook_again_at_delivery(app, receiver):
    """Accepted while its host was allowed; by delivery the policy says no (as after a DNS change)."""
    from service.netpolicy import NetworkPolicy

    hook = receiver()
    service = app(webhook_secret=WEBHOOK_SECRET, webhook_backoff=0.05, webhook_attempts=2)
    sender = service.components.jobs.webhooks
    hold = Hold()
    service.browser.plan(hold)
    accepted = json.loads(service.fetch("/create_snap", params=params(**{"async": "true"}, webhook_url=hook.url)).body)
    sender.policy = NetworkPolicy()  # loopback no longer allowed
    hold.release.set()
    job = wait_for_job(service, accepted["id"])
    assert job["status"] == "succeeded" and job["webhook"]["state"] == "failed"
    assert all("not an address" in a["error"] for a in job["webhook"]["attempts"])
    assert hook.deliveries == []


def test_webhooks_have_a_reach_of_their_own(app, receiver):
    hook = receiver()
    # captures may reach loopback, webhooks may not (SNAPSHOT_ALLOW_NETWORKS is for captures)
    service = app(webhook_secret=WEBHOOK_SECRET, webhook_allow_networks=())
    refused = service.fetch("/create_snap", params=params(**{"async": "true"}, webhook_url=hook.url))
    assert "webhook_url" in assert_error(refused, 403, "blocked")["message"]
    # ports 80 and 443 only, unless configured
    service = app(webhook_secret=WEBHOOK_SECRET, webhook_ports=(80, 443))
    refused = service.fetch("/create_snap", params=params(**{"async": "true"}, webhook_url=hook.url))
    assert "SNAPSHOT_WEBHOOK_PORTS" in assert_error(refused, 403, "blocked")["message"]
    assert hook.deliveries == []


class DrippingReceiver:
    """Accepts a webhook and answers one byte every 0.2 s, forever (until stopped)."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.connections = 0
        self.stopped = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.getsockname()[1]}/hook"

    def _serve(self) -> None:
        self.server.settimeout(0.2)
        while not self.stopped.is_set():
            try:
                connection, _ = self.server.accept()
            except TimeoutError:
                continue
            except OSError:  # closed by stop()
                return
            self.connections += 1
            threading.Thread(target=self._drip, args=(connection,), daemon=True).start()

    def _drip(self, connection: socket.socket) -> None:
        with connection:
            for byte in b"HTTP/1.1 200 OK\r\n" * 1000:
                if self.stopped.wait(0.2):
                    return
                try:
                    connection.send(bytes([byte]))
                except OSError:
                    return

    def stop(self) -> None:
        self.stopped.set()
        self.server.close()


@pytest.fixture
def dripping():
    receiver = DrippingReceiver()
    yield receiver
    receiver.stop()


def test_a_receiver_that_drips_its_answer_is_cut_off_at_the_deadline(app, dripping):
    service = app(webhook_secret=WEBHOOK_SECRET, webhook_timeout=1.0, webhook_attempts=1)
    accepted = json.loads(
        service.fetch("/create_snap", params=params(**{"async": "true"}, webhook_url=dripping.url)).body
    )
    job = wait_for_job(service, accepted["id"])
    [attempt] = job["webhook"]["attempts"]
    assert attempt["status"] is None and "no answer within 1 s" in attempt["error"]
    assert attempt["ms"] < 5000  # one second of deadline, not the 200 s the receiver would take


def test_slow_receivers_starve_neither_captures_nor_readiness(app, browser, dripping):
    """More dripping webhooks than the I/O executor has threads: captures, POSTs and /readyz still answer."""
    service = app(webhook_secret=WEBHOOK_SECRET, webhook_timeout=30.0, webhook_attempts=1, webhook_concurrency=4)
    for _ in range(12):
        service.fetch("/create_snap", params=params(**{"async": "true"}, webhook_url=dripping.url))
    deadline = time.monotonic() + 10
    while dripping.connections < 2 and time.monotonic() < deadline:  # one tenant: half the slots
        time.sleep(0.05)
    assert dripping.connections == 2
    assert service.fetch("/readyz").code == 200
    stored = service.fetch("/create_snap", method="POST", body=json.dumps(params()),
                           headers={"Content-Type": "application/json"})  # fmt: skip
    assert stored.code == 200, stored.body
    assert service.fetch("/create_snap", params=params()).code == 200


def test_without_its_redis_jobs_get_503_and_identical_requests_still_render(app, browser):
    service = app(redis_url="redis://127.0.0.1:9/0")  # nothing listens there
    submitted = service.fetch("/create_snap", params=params(**{"async": "true"}))
    assert assert_error(submitted, 503, "jobs_unavailable")
    assert submitted.headers["Retry-After"] == "5"
    assert_error(service.fetch("/jobs/" + "a" * 32), 503, "jobs_unavailable")
    # single flight across replicas is an optimisation: without Redis the capture is rendered here
    cached = service.fetch("/create_snap", params=params(cache_ttl=60))
    assert cached.code == 200 and len(browser.captures) == 1
