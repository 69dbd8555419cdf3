"""Delivery across replicas, on the real components: two service processes (local Chromium) sharing a
real Redis and SeaweedFS, and a real webhook receiver that verifies every signature with the
standardwebhooks package's own verifier.  One render for identical requests across replicas (counted
by the page server), webhooks retried until delivered, and a replica SIGKILLed while it runs jobs: the
other finishes and delivers every one."""

from __future__ import annotations

import io
import json
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from PIL import Image

from tests.servers import WEBHOOK_ENV, start_service
from tests.support import LOOPBACK

pytestmark = pytest.mark.integration


def shared_env(redis_server, s3, **extra: str) -> dict[str, str]:
    return {
        "SNAPSHOT_REDIS_URL": redis_server.url,
        "SNAPSHOT_ALLOW_NETWORKS": LOOPBACK,
        "SNAPSHOT_LOCAL_POOL_SIZE": "2",
        **WEBHOOK_ENV,
        "SNAPSHOT_WEBHOOK_BACKOFF": "0.2",
        **s3.service_env(),
        **extra,
    }


def job_of(service, job_id: str) -> dict:
    return requests.get(f"{service.url}/jobs/{job_id}", timeout=10).json()


def test_identical_requests_on_two_replicas_render_once(start, pages, redis_server, s3):
    hits: list[float] = []
    lock = threading.Lock()

    def counted(query: dict[str, str]) -> str:
        with lock:
            hits.append(time.monotonic())
        time.sleep(1.5)  # every request arrives while the one render runs
        return "<!doctype html><body style='margin:0;background:#0a7'>counted</body>"

    pages.routes["/counted-once"] = counted
    replicas = [start(shared_env(redis_server, s3)) for _ in range(2)]
    query = {"url": pages.base + "/counted-once", "width": 320, "height": 200, "cache_ttl": 300}
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda i: requests.get(f"{replicas[i % 2].url}/create_snap", params=query, timeout=60),
                                range(8)))  # fmt: skip
    assert [a.status_code for a in answers] == [200] * 8
    assert len({a.content for a in answers}) == 1
    assert Image.open(io.BytesIO(answers[0].content)).size == (320, 200)
    assert len(hits) == 1, f"{len(hits)} renders for 8 identical requests on two replicas"
    assert sorted(a.headers["X-Snapshot-Cache"] for a in answers).count("miss") >= 1


def test_a_webhook_that_fails_twice_gets_the_job_on_the_third_attempt(start, pages, redis_server, s3, receiver):
    hook = receiver(fail_first=2)
    service = start(shared_env(redis_server, s3))
    query = {"url": pages.base + "/color/3366cc", "width": 200, "height": 100, "async": "true",
             "webhook_url": hook.url, "external_id": "order-1"}  # fmt: skip
    accepted = requests.post(f"{service.url}/create_snap", data=query, timeout=30)
    assert accepted.status_code == 202
    job_id = accepted.json()["id"]
    deadline = time.monotonic() + 60
    while (job := job_of(service, job_id)).get("webhook", {}).get("state") == "pending":
        assert time.monotonic() < deadline, job
        time.sleep(0.2)
    assert job["status"] == "succeeded" and job["webhook"]["state"] == "delivered"
    assert [a["status"] for a in job["webhook"]["attempts"]] == [500, 500, 204]
    deliveries = hook.by_id()[job_id]
    assert [d.answered for d in deliveries] == [500, 500, 204]
    assert all(d.verified for d in deliveries)
    data = deliveries[-1].verified["data"]
    assert data["external_id"] == "order-1" and data["result"]["image_width"] == 200
    stored = requests.get(data["result"]["file_url"], timeout=10)  # a presigned SeaweedFS URL
    assert Image.open(io.BytesIO(stored.content)).size == (200, 100)


def test_what_redis_holds_of_a_job_never_shows_its_headers_and_cookies(start, pages, redis_server, s3):
    pages.routes["/echo-auth"] = lambda q: "<!doctype html><body style='margin:0;background:#0a7'>ok</body>"
    query = {"url": pages.base + "/echo-auth", "width": 60, "height": 40, "async": "true",
             "headers": "Authorization: Bearer redis-secret-789"}  # fmt: skip
    keyless = start_service(shared_env(redis_server, s3))  # another replica could not open what it sealed
    try:
        refused = requests.post(f"{keyless.url}/create_snap", data=query, timeout=30)
        assert refused.status_code == 400 and "SNAPSHOT_JOB_SECRET_KEY" in refused.json()["message"]
    finally:
        assert keyless.stop() == 0  # it would claim the next job and could not open it
    service = start(shared_env(redis_server, s3, SNAPSHOT_JOB_SECRET_KEY="k" * 40))
    pages.seen.clear()
    job_id = requests.post(f"{service.url}/create_snap", data=query, timeout=30).json()["id"]
    client = redis_server.client()
    assert "redis-secret-789" not in client.get(f"snapshot:job:{job_id}")
    deadline = time.monotonic() + 60
    while (job := job_of(service, job_id))["status"] not in ("succeeded", "failed"):
        assert time.monotonic() < deadline, job
        time.sleep(0.2)
    assert job["status"] == "succeeded", job
    assert [h.get("authorization") for p, h in pages.seen if p == "/echo-auth"] == ["Bearer redis-secret-789"]
    record = client.get(f"snapshot:job:{job_id}")
    assert "redis-secret-789" not in record and '"params": {}' in record


def test_jobs_of_a_sigkilled_replica_are_finished_and_delivered_by_the_other(start, pages, redis_server, s3, receiver):
    hook = receiver()
    env = shared_env(redis_server, s3, SNAPSHOT_JOB_VISIBILITY_TIMEOUT="3", SNAPSHOT_JOB_WORKERS="2")
    doomed = start_service(env)  # killed below, so not through `start`, which wants a clean exit
    try:
        count = 12
        ids = []
        for i in range(count):
            query = {"url": pages.base + "/slow?s=1", "width": 120, "height": 90, "async": "true",
                     "webhook_url": hook.url, "external_id": f"job-{i}"}  # fmt: skip
            response = requests.post(f"{doomed.url}/create_snap", data=query, timeout=30)
            assert response.status_code == 202, response.text
            ids.append(response.json()["id"])
        # kill it while it runs some of them
        deadline = time.monotonic() + 30
        while not any(job_of(doomed, i)["status"] == "running" for i in ids):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        # the other replica starts only now: the jobs running are the doomed one's, which it must take over
        survivor = start(env)
        doomed.proc.signal(signal.SIGKILL)
        doomed.proc.popen.wait(10)
        deadline = time.monotonic() + 120
        while True:
            jobs = [job_of(survivor, i) for i in ids]
            if all(j["status"] == "succeeded" and j["webhook"]["state"] == "delivered" for j in jobs):
                break
            assert time.monotonic() < deadline, [(j["status"], j.get("webhook", {}).get("state")) for j in jobs]
            time.sleep(0.5)
    finally:
        doomed.stop()
    delivered = hook.by_id()
    lost = set(ids) - {i for i, ds in delivered.items() if any(d.answered == 204 and d.verified for d in ds)}
    assert lost == set(), f"{len(lost)} accepted jobs were never delivered"
    assert {delivered[i][-1].verified["data"]["external_id"] for i in ids} == {f"job-{n}" for n in range(count)}
    taken_over = [i for i in ids if json.loads(redis_server.client().get(f"snapshot:job:{i}"))["runs"] > 1]
    assert taken_over, "no job was taken over from the killed replica"


def test_a_cached_capture_on_s3_is_never_served_to_another_key(start, pages, redis_server, s3):
    seen: list[str] = []

    def private(query: dict[str, str]) -> str:
        seen.append(query["_cookie"])
        return f"<!doctype html><body style='margin:0;background:#fff'>{query['_cookie']}</body>"

    pages.routes["/private"] = private
    service = start(shared_env(redis_server, s3, SNAPSHOT_API_KEYS="key-a,key-b"))
    query = {"url": pages.base + "/private", "width": 200, "height": 80, "cache_ttl": 300,
             "cookies": "session=alice; Domain=127.0.0.1"}  # fmt: skip

    def get(key: str) -> requests.Response:
        return requests.get(f"{service.url}/create_snap", params=query, headers={"X-API-Key": key}, timeout=60)

    a1, b1, a2 = get("key-a"), get("key-b"), get("key-a")
    assert [r.status_code for r in (a1, b1, a2)] == [200] * 3
    assert [r.headers["X-Snapshot-Cache"] for r in (a1, b1, a2)] == ["miss", "miss", "hit"]
    assert seen == ["session=alice", "session=alice"]  # key-b's request rendered for itself
    # the entry is in the bucket, beside its metadata
    keys = [o["Key"] for o in s3.client().list_objects_v2(Bucket=s3.bucket, Prefix="cache-").get("Contents", [])]
    assert any(k.endswith(".png") for k in keys) and any(k.endswith(".json") for k in keys)


def test_a_replica_without_redis_finishes_its_queued_jobs_before_it_exits(pages, receiver):
    hook = receiver()
    service = start_service({"SNAPSHOT_ALLOW_NETWORKS": LOOPBACK, **WEBHOOK_ENV,
                             "SNAPSHOT_LOCAL_POOL_SIZE": "1", "SNAPSHOT_JOB_WORKERS": "1"})  # fmt: skip
    try:
        ids = []
        for _ in range(4):
            query = {"url": pages.base + "/slow?s=1", "width": 100, "height": 100, "async": "true",
                     "webhook_url": hook.url}  # fmt: skip
            ids.append(requests.post(f"{service.url}/create_snap", data=query, timeout=30).json()["id"])
        service.proc.signal(signal.SIGTERM)
        assert service.proc.popen.wait(60) == 0
    finally:
        service.stop()
    delivered = hook.by_id()
    assert all(any(d.answered == 204 and d.verified for d in delivered.get(i, [])) for i in ids)


def test_a_cached_file_url_is_signed_again_each_time_it_is_handed_out(start, pages, redis_server, s3):
    service = start(shared_env(redis_server, s3, SNAPSHOT_S3_PRESIGN_EXPIRES="600"))
    form = {"url": pages.base + "/color/aa3300", "width": 64, "height": 48, "cache_ttl": 300, "metadata": "true"}
    first = requests.post(f"{service.url}/create_snap", data=form, timeout=60).json()
    time.sleep(1.1)
    second = requests.post(f"{service.url}/create_snap", data=form, timeout=60).json()
    assert (first["cache"], second["cache"]) == ("miss", "hit")
    assert first["file_url"] != second["file_url"], "a presigned URL is signed again, not reused"
    assert first["file_url"].split("?")[0] == second["file_url"].split("?")[0]
    expires = [int(parse_qs(urlsplit(r["file_url"]).query)["Expires"][0]) for r in (first, second)]
    assert expires[1] > expires[0] and expires[1] >= time.time() + 590  # valid for its whole lifetime from now
    image = requests.get(second["file_url"], timeout=10)
    assert Image.open(io.BytesIO(image.content)).size == (64, 48)
