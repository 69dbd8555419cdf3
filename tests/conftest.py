"""Shared fixtures: real servers on free loopback ports, started once per session and always stopped.

- ``pages``: a threaded HTTP server of target pages (solid colours, viewport quadrants, cards, slow).
- ``grid``: Selenium Grid 4.48, one hub and two Chrome nodes (2 sessions each).
- ``s3``: SeaweedFS as a real S3 endpoint with one bucket.
- ``redis_server``: the Debian redis-server (async jobs and single flight shared by replicas).
- ``receiver``: a factory of real webhook receivers that verify signatures (``tests/servers.py``).
- ``local_service``: the service as ``python -m service`` with the embedded default (local Chromium,
  local files).
- ``grid_service``: the service on the Grid, storing POST results in SeaweedFS.
- ``start``: a factory for more service processes with custom settings (stopped after the test).
- ``snap``: the one request helper of the integration tests: a capture request to a service.
- ``browser`` and ``app``: in-process tests; ``app(**settings)`` is ``make_app(build(...))`` served in
  this process with fake browser sessions scripted through ``browser`` (no browser is started).

Everything the servers and browsers write to temporary files (logs, data, Chromium profiles) goes to
one directory per run, removed when the run passes and kept, with its path printed, when it fails.

At the end of the session the suite fails if a service left processes behind, if the Grid still
holds sessions, or if Chromium/ChromeDriver processes started by the suite are still running.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from service.config import Settings
from tests.fakes import FakeBrowser
from tests.inprocess import InProcessService
from tests.servers import (
    Grid,
    PageServer,
    Redis,
    S3Server,
    Service,
    WebhookReceiver,
    browser_processes,
    start_grid,
    start_redis,
    start_s3,
    start_service,
)
from tests.support import LOOPBACK

_run_dir = ""


def pytest_configure(config: pytest.Config) -> None:
    """One temporary directory per run: children (services, Chromium, SeaweedFS, Prometheus) inherit
    TMPDIR, this process follows ``tempfile.tempdir``."""
    global _run_dir
    _run_dir = tempfile.mkdtemp(prefix="snapshot-tests-")
    os.environ["TMPDIR"] = tempfile.tempdir = _run_dir


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if exitstatus == 0:
        shutil.rmtree(_run_dir, ignore_errors=True)
    else:
        print(f"\nserver logs and data of this run are kept in {_run_dir}")


@pytest.fixture(scope="session", autouse=True)
def _no_leaked_browsers() -> Iterator[None]:
    before = browser_processes()
    yield
    leaked = browser_processes() - before
    assert not leaked, f"browser processes left running after the suite: {sorted(leaked)}"


@pytest.fixture(scope="session")
def pages() -> Iterator[PageServer]:
    server = PageServer()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def grid() -> Iterator[Grid]:
    grid = start_grid(nodes=2, max_sessions=2)
    yield grid
    try:
        left = grid.sessions()
        assert left == 0, f"{left} Grid sessions left open after the suite"
    finally:
        grid.stop()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[Redis]:
    server = start_redis()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3() -> Iterator[S3Server]:
    server = start_s3()
    yield server
    server.stop()


def _stop_cleanly(service: Service) -> None:
    code = service.stop()
    assert code == 0, f"the service exited with {code}:\n{service.proc.tail()}"
    assert service.proc.leftovers == 0, f"the service left {service.proc.leftovers} processes behind"


@pytest.fixture(scope="session")
def local_service() -> Iterator[Service]:
    service = start_service({"SNAPSHOT_ALLOW_NETWORKS": LOOPBACK, "SNAPSHOT_LOCAL_POOL_SIZE": "2"})
    yield service
    _stop_cleanly(service)


@pytest.fixture(scope="session")
def grid_service(grid: Grid, s3: S3Server) -> Iterator[Service]:
    service = start_service(
        {
            "SNAPSHOT_GRID_URL": grid.url,
            "SNAPSHOT_ALLOW_NETWORKS": LOOPBACK,
            "SNAPSHOT_POOL_SIZE": "2",
            "SNAPSHOT_LOCAL_POOL_SIZE": "1",
            **s3.service_env(),
        }
    )
    yield service
    _stop_cleanly(service)


@pytest.fixture
def start() -> Iterator[Callable[..., Service]]:
    started: list[Service] = []

    def _start(env: dict[str, str], wait_ready: bool = True) -> Service:
        service = start_service(env, wait_ready=wait_ready)
        started.append(service)
        return service

    yield _start
    for service in started:
        _stop_cleanly(service)


@pytest.fixture
def snap(pages: PageServer) -> Callable[..., requests.Response]:
    """``snap(service, path, width=.., height=.., method="GET", request_timeout=60, **params)``: a capture of
    ``pages.base + path`` (or of ``url=...``) through the service's API."""

    def _snap(
        service: Service,
        path: str = "/quadrants",
        width: int | str = 1000,
        height: int | str = 1000,
        *,
        method: str = "GET",
        request_timeout: float = 60,
        **params: Any,
    ) -> requests.Response:
        query = {"url": pages.base + path, "width": width, "height": height, **params}
        return requests.request(method, f"{service.url}/create_snap", params=query, timeout=request_timeout)

    return _snap


@pytest.fixture
def receiver() -> Iterator[Callable[..., WebhookReceiver]]:
    """``receiver(fail_first=0)``: a real webhook receiver that verifies every signature (stopped after the test)."""
    servers: list[WebhookReceiver] = []

    def _receiver(fail_first: int = 0) -> WebhookReceiver:
        servers.append(WebhookReceiver(fail_first=fail_first))
        return servers[-1]

    yield _receiver
    for server in servers:
        server.stop()


@pytest.fixture
def browser() -> FakeBrowser:
    return FakeBrowser()


@pytest.fixture
def app(browser: FakeBrowser, tmp_path: Path) -> Iterator[Callable[..., InProcessService]]:
    started: list[InProcessService] = []

    def _app(clock: Callable[[], float] = time.time, **overrides: Any) -> InProcessService:
        """The app with ``overrides`` of its settings; ``clock`` is the wall clock its cache ages by."""
        loopback = (ipaddress.ip_network(LOOPBACK),)
        defaults = {
            "allow_networks": loopback,
            "webhook_allow_networks": loopback,
            "webhook_ports": (),
            "local_storage_dir": str(tmp_path / "files"),
            # no ad and tracker engines to build for every app (0.3 s each); tests/unit/test_filters.py
            # and the integration tests use Debian's lists
            "filter_lists_dir": str(tmp_path / "no-filter-lists"),
        }
        settings = Settings.from_env({}, **{**defaults, **overrides})
        service = InProcessService(settings, browser, clock)
        started.append(service)
        return service

    yield _app
    for service in started:
        service.close()
