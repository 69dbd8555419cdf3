"""SIGTERM: readiness fails, captures in flight finish, browsers are closed, the process exits 0."""

from __future__ import annotations

import signal
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.servers import wait_until
from tests.support import LOOPBACK

pytestmark = pytest.mark.integration


def test_sigterm_finishes_captures_in_flight_then_exits_cleanly(start, pages):
    service = start({"SNAPSHOT_ALLOW_NETWORKS": LOOPBACK, "SNAPSHOT_LOCAL_POOL_SIZE": "2"})
    params = {"url": pages.base + "/slow?s=2", "width": 80, "height": 60}
    with ThreadPoolExecutor(2) as pool:
        in_flight = [
            pool.submit(requests.get, f"{service.url}/create_snap", params=params, timeout=30) for _ in range(2)
        ]
        time.sleep(0.8)
        service.proc.popen.send_signal(signal.SIGTERM)
        responses = [f.result() for f in in_flight]
    assert [r.status_code for r in responses] == [200, 200]
    assert service.proc.popen.wait(20) == 0
    # the browsers it closed exit within moments; none is left running
    wait_until(lambda: not service.proc.group_members(), 5, "the browsers to exit")
