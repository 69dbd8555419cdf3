"""Visual monitors across replicas, on the real components: two service processes (local Chromium) sharing a real
Redis and SeaweedFS, a page that changes when the test says, and a real webhook receiver that verifies every
signature.  Each period runs once on one of the replicas; a change is told once; a replica SIGKILLed while it
captures a monitor's run leaves it to the other, which finishes it."""

from __future__ import annotations

import json
import signal
import time

import pytest
import requests

from tests.integration.test_delivery_shared import shared_env
from tests.servers import start_service, wait_until

pytestmark = pytest.mark.integration


def monitor(service, monitor_id: str) -> dict:
    return requests.get(f"{service.url}/monitors/{monitor_id}", timeout=10).json()


@pytest.fixture
def page(pages):
    """``/monitored``: a page whose colour is ``state["color"]``, answered after ``state["delay"]`` seconds."""
    state = {"color": "3366cc", "delay": 0.0, "hits": 0}

    def render(query: dict[str, str]) -> str:
        state["hits"] += 1
        time.sleep(state["delay"])
        return (f"<!doctype html><body style='margin:0;background:#{state['color']}'>"
                "<h1 style='font:20px sans-serif;color:#fff'>Prices</h1></body>")  # fmt: skip

    pages.routes["/monitored"] = render
    return state


def test_two_replicas_run_each_period_once_and_tell_a_change_once(start, pages, page, redis_server, s3, receiver):
    redis_server.client().flushall()
    hook = receiver()
    env = shared_env(redis_server, s3, SNAPSHOT_MONITOR_MIN_INTERVAL="1", SNAPSHOT_LOCAL_POOL_SIZE="1")
    replicas = [start(env) for _ in range(2)]
    body = {"url": pages.base + "/monitored", "width": 320, "height": 200, "every": 2, "threshold": 0.1,
            "name": "prices", "webhook_url": hook.url}  # fmt: skip
    made = requests.post(f"{replicas[0].url}/monitors", json=body, timeout=30)
    assert made.status_code == 201, made.text
    monitor_id = made.json()["id"]
    # both replicas see it; its periods run on either, each once
    wait_until(lambda: monitor(replicas[1], monitor_id)["runs"] >= 3, 30, "three runs")
    shown = monitor(replicas[1], monitor_id)
    assert shown["last_run"]["outcome"] == "success" and shown["last_run"]["diff_ratio"] == 0
    page["color"] = "cc3333"  # the page changes
    wait_until(lambda: monitor(replicas[0], monitor_id)["last_run"]["changed"], 30, "the change seen")
    changed = monitor(replicas[0], monitor_id)["last_run"]
    assert changed["diff_ratio"] > 0.9 and requests.get(changed["diff_url"], timeout=10).status_code == 200
    wait_until(lambda: bool(hook.deliveries), 20, "the webhook")
    runs_at_change = monitor(replicas[0], monitor_id)["runs"]
    wait_until(lambda: monitor(replicas[0], monitor_id)["runs"] >= runs_at_change + 2, 30, "two more runs")
    events = [json.loads(d.body) for d in hook.deliveries]
    assert [e["type"] for e in events] == ["monitor.changed"]  # once: the runs after it compare like with like
    assert all(d.verified is not None for d in hook.deliveries)
    assert events[0]["data"]["monitor"]["id"] == monitor_id and events[0]["data"]["monitor"]["name"] == "prices"
    # each period ran once: as many jobs as runs recorded, one per 2 s period since the monitor was made
    keys = redis_server.client().keys("snapshot:job:*")
    shown = monitor(replicas[0], monitor_id)
    assert shown["runs"] <= len(keys) <= shown["runs"] + 1, (shown["runs"], len(keys))  # one may be running
    periods = (time.time() - _created(made)) / 2
    assert shown["runs"] <= periods + 1, (shown["runs"], periods)
    assert requests.delete(f"{replicas[1].url}/monitors/{monitor_id}", timeout=10).status_code == 204
    assert requests.get(f"{replicas[0].url}/monitors/{monitor_id}", timeout=10).status_code == 404


def _created(made: requests.Response) -> float:
    from datetime import datetime

    return datetime.fromisoformat(made.json()["created_at"].replace("Z", "+00:00")).timestamp()


def test_a_run_whose_replica_dies_is_finished_by_the_other_once(start, pages, page, redis_server, s3):
    redis_server.client().flushall()
    env = shared_env(redis_server, s3, SNAPSHOT_MONITOR_MIN_INTERVAL="1", SNAPSHOT_LOCAL_POOL_SIZE="1",
                     SNAPSHOT_JOB_VISIBILITY_TIMEOUT="3")  # fmt: skip
    first = start_service(env)  # killed below, so not through `start`, which wants a clean exit
    try:
        page["delay"] = 6.0  # the run is under way when its replica dies
        body = {"url": pages.base + "/monitored", "width": 320, "height": 200, "every": 3600, "name": "slow"}
        monitor_id = requests.post(f"{first.url}/monitors", json=body, timeout=30).json()["id"]
        wait_until(lambda: page["hits"] >= 1, 20, "the run's page requested")
        second = start(env)
        first.proc.signal(signal.SIGKILL)
        first.proc.popen.wait(10)
    finally:
        first.stop()
    page["delay"] = 0.0
    wait_until(lambda: monitor(second, monitor_id)["runs"] >= 1, 60, "the run finished by the other replica")
    time.sleep(4)  # a second run of the same period would show by now
    shown = monitor(second, monitor_id)
    assert shown["runs"] == 1 and shown["last_run"]["outcome"] == "success"
    [job] = redis_server.client().keys("snapshot:job:*")  # one job for the period...
    assert json.loads(redis_server.client().get(job))["runs"] == 2  # ...taken over from the replica that died
