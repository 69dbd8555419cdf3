"""Opening browser sessions: ``webdriver.Remote`` on the Grid (driven through its ``se:cdp``
websocket) or ``webdriver.Chrome`` with a ChromeDriver started here (driven through the browser's
debugging port).  A factory is called by the pool, in a capture worker thread."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import tempfile
import urllib.request
from collections.abc import Callable
from typing import Any

from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.remote_connection import ChromeRemoteConnection
from selenium.webdriver.chrome.service import Service as ChromeService
from selenium.webdriver.remote.client_config import ClientConfig

from service import tracing
from service.browsers.cdp import MAX_MESSAGE, CdpConnection
from service.browsers.chrome import chrome_options
from service.browsers.consent import ConsentRules
from service.browsers.emulation import Defaults
from service.browsers.grid import CdpEndpoint, GridApi
from service.browsers.isolation import ISOLATIONS
from service.browsers.session import BrowserSession, SessionConfig
from service.browsers.shots import OutputSettings
from service.capture import Backend
from service.config import Settings
from service.errors import BackendUnavailable
from service.filters import Filters

BrowserSessionFactory = Callable[[], BrowserSession]  # a pool's SessionFactory, for real browsers
_DEVTOOLS_TIMEOUT = 5.0
_DIRECT_TIMEOUT = 3.0  # seconds a Grid node gets to accept a direct DevTools connection
log = logging.getLogger("snapshot.browser")


def _open(
    driver_factory: Callable[[], webdriver.Remote],
    endpoints: Callable[[webdriver.Remote], list[CdpEndpoint]],
    settings: Settings,
    backend: Backend,
    consent_rules: ConsentRules | None = None,
    filters: Filters | None = None,
) -> BrowserSession:
    try:
        driver = driver_factory()
    except WebDriverException as exc:
        raise BackendUnavailable(f"no browser session could be started: {exc.msg or exc}") from None
    except Exception as exc:  # connection refused, timeouts, a Grid that answers nonsense
        reason = getattr(exc, "reason", None) or exc
        raise BackendUnavailable(f"no browser session could be started: {reason}") from None
    cdp = None
    try:
        cdp = _connect(endpoints(driver), settings.session_timeout, OutputSettings.of(settings).max_message)
        # a page that starts a download gets an error, and nothing is written to the browser's disk
        cdp.command("Browser.setDownloadBehavior", {"behavior": "deny"}, timeout=settings.session_timeout)
        # every window, frame and worker's URL as it changes: the reset clears the storage of each origin
        # the page had at any time, not only of those still there at its end
        cdp.command("Target.setDiscoverTargets", {"discover": True}, timeout=settings.session_timeout)
    except Exception as exc:
        if cdp is not None:
            cdp.close()
        try:
            driver.quit()
        except Exception:
            pass
        raise BackendUnavailable(f"the browser's DevTools connection failed: {exc}") from None
    defaults = Defaults(settings.default_timezone, settings.default_locale)
    config = SessionConfig(settings.page_load_timeout, OutputSettings.of(settings), consent_rules, filters, defaults)
    return BrowserSession(driver, cdp, backend, ISOLATIONS[settings.isolation](), config)


def _connect(endpoints: list[CdpEndpoint], timeout: float, max_message: int = MAX_MESSAGE) -> CdpConnection:
    """A DevTools connection to the first endpoint that accepts one (all but the last are tried briefly)."""
    for endpoint in endpoints[:-1]:
        try:
            return CdpConnection(
                endpoint.url,
                timeout=min(timeout, _DIRECT_TIMEOUT),
                headers=endpoint.header_lines,
                max_message=max_message,
            )
        except Exception as exc:  # refused, unreachable, a websocket handshake the endpoint refuses
            log.warning("DevTools endpoint %s refused (%s); trying the next", endpoint.url, exc)
            if endpoint.refused is not None:
                endpoint.refused()
    last = endpoints[-1]
    return CdpConnection(last.url, timeout=timeout, headers=last.header_lines, max_message=max_message)


class _TracedConnection(ChromeRemoteConnection):
    """The WebDriver client's connection to the Grid, with the current trace context on every command it sends
    (the new session, the quit): the Grid continues the capture's trace (``service/tracing.py``)."""

    def get_remote_connection_headers(self, parsed_url: Any, keep_alive: bool = False) -> dict[str, str]:
        headers: dict[str, str] = super().get_remote_connection_headers(parsed_url, keep_alive)
        tracing.inject(headers)
        return headers


def grid_session_factory(
    settings: Settings,
    instance: str = "",
    proxy_url: str | None = None,
    consent_rules: ConsentRules | None = None,
    grid: GridApi | None = None,
    filters: Filters | None = None,
) -> BrowserSessionFactory:
    """Sessions on the Grid; ``grid`` is the service's one ``GridApi`` (it remembers nodes that refused)."""
    assert settings.grid_url is not None
    grid_url = settings.grid_url
    grid = grid or GridApi(grid_url, settings.grid_auth)

    def create() -> webdriver.Remote:
        auth = settings.grid_auth
        config = ClientConfig(
            remote_server_addr=grid_url,
            timeout=int(max(1, settings.session_timeout)),
            username=auth[0] if auth else None,
            password=auth[1] if auth else None,
        )
        return webdriver.Remote(
            command_executor=_TracedConnection(grid_url, client_config=config),
            options=chrome_options(settings, local=False, instance=instance, proxy_url=proxy_url),
        )

    def open_session() -> BrowserSession:
        def endpoints(driver: webdriver.Remote) -> list[CdpEndpoint]:
            return grid.cdp_endpoints(str(driver.session_id), driver.capabilities)

        session = _open(create, endpoints, settings, Backend.GRID, consent_rules, filters)
        session.probe = grid.probe(session.session_id)
        return session

    return open_session


def _local_cdp_endpoints(driver: webdriver.Remote) -> list[CdpEndpoint]:
    """The browser-wide DevTools websocket of a Chrome that ChromeDriver started here."""
    address = driver.capabilities["goog:chromeOptions"]["debuggerAddress"]
    with urllib.request.urlopen(f"http://{address}/json/version", timeout=_DEVTOOLS_TIMEOUT) as response:
        return [CdpEndpoint(str(json.load(response)["webSocketDebuggerUrl"]), {})]


def local_session_factory(
    settings: Settings,
    proxy_url: str | None = None,
    consent_rules: ConsentRules | None = None,
    filters: Filters | None = None,
) -> BrowserSessionFactory:
    """ChromeDriver + Chromium started here.  Each gets its own TMPDIR, removed when the session closes:
    Chromium leaves a directory (its singleton socket) in TMPDIR behind every time it exits, which a
    long-running service that recycles sessions would pile up."""

    def open_session() -> BrowserSession:
        scratch = tempfile.mkdtemp(prefix="snap-")

        def create() -> webdriver.Remote:
            service = ChromeService(
                executable_path=settings.chromedriver_path,
                log_output=subprocess.DEVNULL,
                env={**os.environ, "TMPDIR": scratch},
            )
            return webdriver.Chrome(service=service, options=chrome_options(settings, local=True, proxy_url=proxy_url))

        try:
            session = _open(create, _local_cdp_endpoints, settings, Backend.LOCAL, consent_rules, filters)
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise
        session.on_close = lambda: shutil.rmtree(scratch, ignore_errors=True)
        return session

    return open_session
