"""Visual monitors in-process: the API, the schedule and its periods, the comparison, the webhook and the metrics,
with fake browser sessions whose picture changes when the test says (``browser.color``) and a real webhook
receiver.  The same with Redis, two replicas and a real browser: ``tests/integration/test_monitors.py``."""

from __future__ import annotations

import asyncio
import io
import json
import time

import pytest
from PIL import Image, ImageDraw

from service.diffs import compare
from service.monitors import MemoryMonitors, Monitor, run_id
from tests.servers import WEBHOOK_SECRET
from tests.support import PAGE, metric, post_json


def png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def text_page(dx: int = 0, box: bool = False) -> bytes:
    image = Image.new("RGB", (400, 400), "white")
    draw = ImageDraw.Draw(image)
    for i in range(10):
        draw.text((20 + dx, 20 + 25 * i), f"The quick brown fox jumps over the lazy dog {i}", fill="black")
    if box:
        draw.rectangle((100, 300, 199, 349), fill=(0, 0, 255))  # below the text
    return png(image)


def test_the_comparison_ignores_anti_aliasing_and_counts_what_changed():
    assert compare(text_page(), text_page()).ratio == 0
    assert compare(text_page(), text_page(dx=1)).ratio == 0  # glyphs a pixel over: no change
    diff = compare(text_page(), text_page(box=True))
    assert diff.ratio == 100 * 50 / (400 * 400)
    image = Image.open(io.BytesIO(diff.image)).convert("RGB")
    assert image.size == (400, 400) and image.getpixel((150, 325)) == (230, 0, 60)  # changed: red
    assert image.getpixel((390, 390))[0] == image.getpixel((390, 390))[2] > 200  # unchanged: faded, grey
    assert compare(text_page(), png(Image.new("RGB", (400, 401), "white"))).ratio == 1  # another size


def test_a_period_is_claimed_once_and_after_a_lost_claim_again_with_the_same_slot():
    store = MemoryMonitors()
    monitor = Monitor(Monitor.new_id(), "m", "", {}, 60, 0.01, "", time.time())

    async def scenario() -> None:
        assert await store.add(monitor, limit=1) and not await store.add(monitor, limit=1)
        now = time.time() + 1
        [claim] = await store.claim(now, 10, lease=30)
        assert await store.claim(now + 1, 10, lease=30) == []  # held
        [again] = await store.claim(now + 31, 10, lease=30)  # the lease ran out: the same period
        assert again.slot == claim.slot and run_id(monitor.id, again.slot) == run_id(monitor.id, claim.slot)
        await store.scheduled(monitor.id, claim.slot + 60)
        assert await store.claim(now + 40, 10, lease=30) == []
        [next_period] = await store.claim(claim.slot + 60, 10, lease=30)
        assert next_period.slot == claim.slot + 60 and run_id(monitor.id, next_period.slot) != run_id(
            monitor.id, claim.slot
        )

    asyncio.run(scenario())


def monitor_body(**extra: object) -> bytes:
    return json.dumps({"url": PAGE, "width": 40, "height": 30, "every": 1, **extra}).encode()


def wait_for_runs(service, monitor_id: str, runs: int, headers: dict | None = None) -> dict:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        shown = json.loads(service.fetch(f"/monitors/{monitor_id}", headers=headers).body)
        if shown["runs"] >= runs:
            return shown
        time.sleep(0.05)
    raise AssertionError(f"monitor {monitor_id} did not run {runs} times: {shown}")


def test_a_monitor_runs_compares_and_tells_its_webhook_when_the_page_changed(app, browser, receiver):
    hook = receiver()
    service = app(monitor_min_interval=1, webhook_secret=WEBHOOK_SECRET)
    created = post_json(service, "/monitors", monitor_body(every=3600, name="home", threshold=0.5,
                                                                          webhook_url=hook.url))  # fmt: skip
    assert created.code == 201, created.body
    monitor = json.loads(created.body)
    assert created.headers["Location"] == f"/monitors/{monitor['id']}" and monitor["name"] == "home"
    first = wait_for_runs(service, monitor["id"], 1)["last_run"]  # due at once
    assert first["outcome"] == "success" and first["diff_ratio"] is None and not first["changed"]
    stored = service.fetch(first["file_url"].removeprefix(service.url))
    assert stored.code == 200 and Image.open(io.BytesIO(stored.body)).size == (40, 30)
    assert service.fetch(f"/monitors/{monitor['id']}/run", method="POST", body=b"").code == 202
    second = wait_for_runs(service, monitor["id"], 2)["last_run"]
    assert second["diff_ratio"] == 0 and not second["changed"]
    assert service.fetch(second["diff_url"].removeprefix(service.url)).code == 200
    browser.color = (200, 10, 10)  # the page changed
    service.fetch(f"/monitors/{monitor['id']}/run", method="POST", body=b"")
    third = wait_for_runs(service, monitor["id"], 3)["last_run"]
    assert third["diff_ratio"] == 1 and third["changed"]
    deadline = time.monotonic() + 10
    while not hook.deliveries and time.monotonic() < deadline:
        time.sleep(0.05)
    [delivery] = hook.deliveries  # one webhook: the change (the first run and the unchanged one tell nobody)
    event = json.loads(delivery.body)
    assert delivery.verified is not None and event["type"] == "monitor.changed"
    assert event["data"]["monitor"]["id"] == monitor["id"] and event["data"]["monitor"]["last_run"]["changed"]
    assert metric(service, "snapshot_monitor_runs_total", monitor=monitor["id"], outcome="success") == 3
    assert metric(service, "snapshot_monitor_changes_total", monitor=monitor["id"]) == 1
    assert metric(service, "snapshot_monitor_diff_ratio", monitor=monitor["id"]) == 1
    registry = service.components.metrics.registry
    assert registry.get_sample_value("snapshot_monitor_info", {"monitor": monitor["id"], "name": "home"}) == 1


def test_a_failing_monitor_says_so_once_then_recovers(app, browser, receiver):
    from service.errors import TargetUnreachable

    hook = receiver()
    service = app(monitor_min_interval=1, webhook_secret=WEBHOOK_SECRET)
    browser.plan(TargetUnreachable("the page could not be loaded: net::ERR_CONNECTION_REFUSED"),
                 TargetUnreachable("the page could not be loaded: net::ERR_CONNECTION_REFUSED"))  # fmt: skip
    monitor = json.loads(post_json(service, "/monitors", monitor_body(webhook_url=hook.url)).body)
    failed = wait_for_runs(service, monitor["id"], 2)
    assert failed["failures"] == 2 and failed["last_run"]["error"]["error"] == "unreachable"
    recovered = wait_for_runs(service, monitor["id"], 3)
    assert recovered["failures"] == 0 and recovered["last_run"]["outcome"] == "success"
    time.sleep(0.3)
    events = [json.loads(d.body)["type"] for d in hook.deliveries]
    assert events == ["monitor.failed"]  # once per failing streak


def test_monitors_belong_to_their_key_and_are_checked_like_captures(app):
    service = app(api_keys=("key-a", "key-b"), max_monitors=2)
    a, b = {"X-API-Key": "key-a"}, {"X-API-Key": "key-b"}
    assert post_json(service, "/monitors", monitor_body(every=60)).code == 401
    made = post_json(service, "/monitors", monitor_body(every=60, name="x"), headers=a)
    assert made.code == 201
    monitor_id = json.loads(made.body)["id"]
    assert service.fetch(f"/monitors/{monitor_id}", headers=b).code == 404
    assert json.loads(service.fetch("/monitors", headers=b).body) == {"monitors": []}
    assert [m["id"] for m in json.loads(service.fetch("/monitors", headers=a).body)["monitors"]] == [monitor_id]
    same_name = post_json(service, "/monitors", monitor_body(every=60, name="x"), headers=a)
    assert same_name.code == 409 and json.loads(same_name.body)["error"] == "monitor_conflict"
    problems = [
        (monitor_body(every=59), "every"),  # SNAPSHOT_MONITOR_MIN_INTERVAL
        (monitor_body(every=60, threshold=1), "threshold"),
        (monitor_body(every=60, cache_ttl=60), "cache_ttl"),  # a cached run would never change
        (monitor_body(every=60, **{"async": True}), "async"),
        (monitor_body(every=60, width=0), "width"),
        (json.dumps({"url": "http://10.0.0.1/", "width": 40, "height": 30, "every": 60}).encode(), None),
    ]
    for body, parameter in problems:
        answer = post_json(service, "/monitors", body, headers=a)
        error = json.loads(answer.body)
        assert answer.code == (403 if parameter is None else 400), (parameter, error)
        if parameter is not None:
            assert parameter in {d["parameter"] for d in error.get("details", [])}, error
    not_json = service.fetch("/monitors", method="POST", body=monitor_body(every=60), headers=a)  # no Content-Type
    assert not_json.code == 400 and json.loads(not_json.body)["error"] == "malformed_body"
    assert post_json(service, "/monitors", monitor_body(every=60, name="y"), headers=b).code == 201
    full = post_json(service, "/monitors", monitor_body(every=60, name="z"), headers=b)
    assert full.code == 409  # SNAPSHOT_MAX_MONITORS
    assert service.fetch(f"/monitors/{monitor_id}", method="DELETE", headers=a).code == 204
    assert service.fetch(f"/monitors/{monitor_id}", headers=a).code == 404
    assert f'monitor="{monitor_id}"' not in service.fetch("/metrics").body.decode()  # its series went with it


@pytest.mark.parametrize("secret", ["headers", "cookies"])
def test_a_monitors_secret_parameters_are_sealed_and_never_shown(app, browser, secret):
    service = app(monitor_min_interval=1)
    value = ["X-Token: t0ps3cret"] if secret == "headers" else ["sid=t0ps3cret"]
    created = post_json(service, "/monitors", monitor_body(**{secret: value}))
    assert created.code == 201, created.body
    monitor = json.loads(created.body)
    assert secret not in monitor["capture"] and "t0ps3cret" not in created.body.decode()
    wait_for_runs(service, monitor["id"], 1)
    store = service.components.monitoring.store
    assert "t0ps3cret" not in service.call(store.get(monitor["id"])).dumps()
    sent = browser.requests[-1].options
    assert "t0ps3cret" in json.dumps(getattr(sent, secret), default=str)  # but its runs send it


def test_declared_monitors_are_made_then_updated_by_name_and_a_bad_one_is_skipped(app, tmp_path):
    from service.app import load_monitors

    service = app(monitor_min_interval=1)
    file = tmp_path / "monitors.yaml"
    file.write_text(f"- {{name: home, url: '{PAGE}', width: 40, height: 30, every: 600}}\n"
                    "- {name: broken, url: 'ftp://nowhere/', width: 40, height: 30, every: 600}\n")  # fmt: skip
    entries = load_monitors(service.settings.__class__.from_env({}, monitors_file=str(file)))
    monitoring = service.components.monitoring
    service.call(monitoring.declare(entries))
    [home] = service.call(monitoring.mine(""))
    assert (home.name, home.every) == ("home", 600)
    entries[0]["every"] = 900
    service.call(monitoring.declare(entries))
    [updated] = service.call(monitoring.mine(""))
    assert (updated.id, updated.every) == (home.id, 900)  # the same monitor, its runs kept
