"""Browser sessions: a Selenium WebDriver session (Grid or local ChromeDriver) driven over CDP.

A session is opened with Selenium (``webdriver.Remote`` against the Grid, ``webdriver.Chrome`` for a
ChromeDriver started here), then driven over the Chrome DevTools Protocol (the Grid's ``se:cdp``
websocket, or the local browser's debugging port): the viewport is set to exactly the requested size,
the page loaded, the viewport captured, and everything the capture left behind removed (see
:class:`BrowserSession` for the two isolation modes).  All calls here block; they run in the capture
worker threads.
"""

from __future__ import annotations

import base64
import itertools
import json
import logging
import os
import shutil
import struct
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service as ChromeService
from selenium.webdriver.remote.client_config import ClientConfig

from service.cdp import CdpCancelled, CdpConnection, CdpError, CdpInterrupted, CdpTimeout
from service.config import Settings
from service.errors import BackendUnavailable, CaptureTimeout, ClientGone, SnapshotError, TargetUnreachable
from service.grid import basic_auth_header

log = logging.getLogger("snapshot.browser")

CHROME_ARGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
    "--mute-audio",
    "--disable-extensions",
    "--disable-default-apps",
    "--disable-breakpad",
    "--metrics-recording-only",
    # A screenshot service never goes back, and each reset navigates the tab to about:blank: with the
    # back/forward cache and proactive BrowsingInstance swaps on, every such navigation keeps the old
    # page alive (frozen, in the cache) and the next capture starts a new renderer process.  Off, a
    # reset costs about 40 ms instead of 100 ms, and the last page is really gone.
    "--disable-features=BackForwardCache,ProactivelySwapBrowsingInstance,RenderDocument",
    # An off-the-record profile keeps cookies, storage and the HTTP cache in memory: nothing a page
    # stored reaches the disk, and emptying them after each capture costs about 11 ms less CPU.
    "--incognito",
)

INSTANCE_CAPABILITY = "snapshot:instance"
_CLEANUP_TIMEOUT = 5.0
# What a reset clears for every origin the page touched (Storage.clearDataForOrigin; "local_storage"
# covers the tab's sessionStorage too, which test_isolation checks).  Cookies are
# deleted browser-wide separately; "all" would add the GPU shader cache (not page data) and costs three
# times as much CPU per reset here.
_STORAGE_TYPES = ",".join((
    "local_storage", "indexeddb", "cache_storage", "service_workers", "file_systems", "websql",
    "interest_groups", "shared_storage", "storage_buckets",
))
_LEAVE_RETRIES = 2  # screenshots retried after the page navigated away during one
_LEAVE_WAIT = 2.0  # seconds such a retry waits for the page the tab went to, at most
_ids = itertools.count(1)


def png_size(png: bytes) -> tuple[int, int]:
    if len(png) < 24 or png[:8] != b"\x89PNG\r\n\x1a\n" or png[12:16] != b"IHDR":
        raise ValueError("not a PNG")
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def chrome_options(
    settings: Settings, *, local: bool, instance: str = "", proxy_url: str | None = None
) -> webdriver.ChromeOptions:
    options = webdriver.ChromeOptions()
    for arg in CHROME_ARGS:
        options.add_argument(arg)
    if proxy_url:
        # every connection through the filtering proxy: loopback too ("<-loopback>"), no QUIC (UDP
        # bypasses HTTP proxies), no WebRTC UDP outside the proxy, no DNS prefetching
        options.add_argument(f"--proxy-server={proxy_url}")
        options.add_argument("--proxy-bypass-list=<-loopback>")
        options.add_argument("--disable-quic")
        options.add_argument("--dns-prefetch-disable")
        options.add_argument("--force-webrtc-ip-handling-policy=disable_non_proxied_udp")
        options.add_experimental_option("prefs", {"webrtc.ip_handling_policy": "disable_non_proxied_udp"})
    # ChromeDriver turns Chrome's popup blocker off; keep it on: pages cannot open windows unprompted
    options.add_experimental_option("excludeSwitches", ["disable-popup-blocking"])
    options.set_capability("unhandledPromptBehavior", {"default": "dismiss"})
    options.page_load_strategy = "normal"
    if local:
        options.binary_location = settings.chromium_path
    else:
        options.platform_name = settings.platform_name
        # marks the session as this replica's, so orphans of crashed replicas can be found (/graphql)
        options.set_capability(INSTANCE_CAPABILITY, instance)
        if settings.browser_version:
            options.browser_version = settings.browser_version
    return options


def _ws_url_through_grid(reported: str, grid_url: str) -> str:
    """The Grid reports its websocket URLs (se:cdp) with the address it detected for itself; reach them as
    we reach the Grid."""
    reported_parts = urlsplit(reported)
    grid = urlsplit(grid_url)
    path = reported_parts.path
    index = path.find("/session/")
    path = grid.path.rstrip("/") + (path[index:] if index >= 0 else path)
    scheme = "wss" if grid.scheme == "https" else "ws"
    return urlunsplit((scheme, grid.netloc, path, reported_parts.query, ""))


@dataclass
class CaptureTimings:
    """Seconds spent per phase of one capture (filled in by the backend and the session)."""

    submitted: float = 0.0  # monotonic time the capture was handed to the backend
    queue: float = 0.0
    session: float = 0.0
    navigate: float = 0.0
    screenshot: float = 0.0


def _add_origin(url: str, into: set[str]) -> None:
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and parts.netloc:
        into.add(f"{parts.scheme}://{parts.netloc}")


def _frame_origins(tree: dict, into: set[str]) -> set[str]:
    """Origins of every frame in a CDP frame tree (Page.getFrameTree)."""
    _add_origin(tree.get("frame", {}).get("url", ""), into)
    for child in tree.get("childFrames") or []:
        _frame_origins(child, into)
    return into


@dataclass(eq=False)
class BrowserSession:
    """One WebDriver session and its CDP connection, used by one capture at a time.

    Isolation between captures (``isolation``):

    - ``reset`` (default): captures reuse one tab; after each capture (off the response's path) extra
      windows are closed, the tab sent to about:blank (the page unloads), then every cookie deleted, all
      storage (local and session storage, IndexedDB, Cache Storage, service workers...) of every origin
      the page had frames, windows or workers from cleared, and the HTTP cache emptied.
    - ``context``: every capture runs in a new browser context (like a fresh incognito profile) that is
      removed afterwards: the strongest isolation, at several times the CPU cost per capture.
    """

    driver: webdriver.Remote
    cdp: CdpConnection
    backend: str
    page_load_timeout: float
    isolation: str = "reset"
    id: int = field(default_factory=lambda: next(_ids))
    created: float = field(default_factory=time.monotonic)
    uses: int = 0
    broken: bool = False
    dirty: bool = False  # a capture ran since the last reset
    _target: str | None = None  # the tab captures run in (CDP target id, also its main frame's id)
    _session: str | None = None  # our CDP session attached to that tab
    _browser_context: str | None = None  # isolation "context": the capture's own browser context
    _viewport: tuple[int, int] | None = None
    _settled: bool = True  # no navigation of ours is still running in the tab
    _loads: int = 0  # load events seen in our tab
    _navigations: int = 0  # navigations seen starting in our tab's main frame
    _crashed: bool = False  # the tab's renderer died

    def __post_init__(self) -> None:
        self.cdp.on_event = self._on_event

    def _on_event(self, message: dict) -> None:
        if message.get("sessionId") != self._session or self._session is None:
            return
        method = message["method"]
        if method == "Page.loadEventFired":
            self._loads += 1
        elif method == "Page.frameStartedLoading" and message["params"].get("frameId") == self._target:
            self._navigations += 1
        elif method == "Page.javascriptDialogOpening":  # alert/confirm/prompt would block the page
            self.cdp.send("Page.handleJavaScriptDialog", {"accept": False}, self._session)
        elif method == "Inspector.targetCrashed":
            self._crashed = True

    @property
    def age(self) -> float:
        return time.monotonic() - self.created

    _cancel: threading.Event | None = None  # set while a capture runs: its client's disconnect flag
    probe: Callable[[], bool] | None = None  # does the session still exist? (Grid sessions)
    on_close: Callable[[], None] | None = None  # cleanup after the browser is gone (local sessions)

    @property
    def session_id(self) -> str:
        return str(self.driver.session_id)

    def _cmd(self, method: str, params: dict, deadline: float, *, tab: bool = True,
             interrupted: Callable[[], bool] | None = None) -> dict:
        """A command to our tab (``tab``) or to the browser, within the capture's deadline."""
        try:
            return self.cdp.command(
                method, params, session=self._session if tab else None, timeout=deadline - time.monotonic(),
                cancel=self._cancel, probe=self.probe, interrupted=interrupted,
            )
        except CdpCancelled:
            raise ClientGone("the client disconnected; the capture was abandoned") from None

    def _wait_for_load(self, loads: int, deadline: float) -> None:
        """Until our tab fired a load event past the first ``loads``."""
        try:
            self.cdp.wait("the load event", lambda: self._loads > loads or self._crashed,
                          timeout=deadline - time.monotonic(), cancel=self._cancel, probe=self.probe)
        except CdpCancelled:
            raise ClientGone("the client disconnected; the capture was abandoned") from None
        if self._crashed:
            self.broken = True
            raise BackendUnavailable("the browser tab crashed")

    def _attach(self, target: str, deadline: float) -> None:
        """Make ``target`` (a tab) the one captures run in."""
        self._session = None
        self._session = self._cmd("Target.attachToTarget", {"targetId": target, "flatten": True}, deadline,
                                  tab=False)["sessionId"]
        self._target = target
        self._viewport = None
        self._cmd("Page.enable", {}, deadline)

    def _tab(self, deadline: float) -> None:
        if self.isolation == "context":
            self._browser_context = self._cmd("Target.createBrowserContext", {"disposeOnDetach": True}, deadline,
                                              tab=False)["browserContextId"]
            tab = self._cmd("Target.createTarget", {"url": "about:blank", "browserContextId": self._browser_context},
                            deadline, tab=False)
            self._attach(tab["targetId"], deadline)
        elif self._session is None:
            targets = self._cmd("Target.getTargets", {}, deadline, tab=False)["targetInfos"]
            pages = [t for t in targets if t["type"] == "page"]
            if not pages:
                raise BackendUnavailable("the browser has no tab")
            self._attach(pages[0]["targetId"], deadline)

    def capture(
        self,
        url: str,
        width: int,
        height: int,
        deadline: float,
        timings: CaptureTimings | None = None,
        cancel: threading.Event | None = None,
    ) -> bytes:
        """Open url at exactly width x height CSS pixels (device pixel ratio 1) and return the PNG.

        Setting ``cancel`` (the client went away) abandons the capture within a fraction of a second."""
        timings = timings if timings is not None else CaptureTimings()
        self._cancel = cancel
        try:
            return self._capture(url, width, height, deadline, timings)
        finally:
            self._cancel = None

    def _capture(self, url: str, width: int, height: int, deadline: float, timings: CaptureTimings) -> bytes:
        if deadline - time.monotonic() <= 0:
            raise CaptureTimeout("the capture deadline passed before a browser was free")
        self.uses += 1
        self.dirty = True
        self._settled = False
        try:
            self._tab(deadline)
            if self._viewport != (width, height):
                self._cmd(
                    "Emulation.setDeviceMetricsOverride",
                    {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
                    deadline,
                )
                self._viewport = (width, height)
            started = time.monotonic()
            load_deadline = min(deadline, started + self.page_load_timeout)
            loads = self._loads
            try:
                navigation = self._cmd("Page.navigate", {"url": url}, load_deadline)
                if navigation.get("errorText"):
                    self._settled = True  # the navigation ended (on an error page)
                    raise TargetUnreachable(f"the page could not be loaded: {navigation['errorText'].split()[0]}")
                # a page that sends itself elsewhere while loading (a script redirect) never fires its own
                # load event; the page it went to does
                self._wait_for_load(loads, load_deadline)
            except CdpTimeout:
                self.broken = True
                raise CaptureTimeout("the page did not finish loading before the deadline") from None
            loaded = time.monotonic()
            self._settled = True
            timings.navigate += loaded - started
            png = self._screenshot(deadline)
            timings.screenshot += time.monotonic() - loaded
            if png_size(png) != (width, height):
                self.broken = True
                raise BackendUnavailable(f"the browser returned {png_size(png)} instead of {(width, height)}")
            return png
        except CdpTimeout:
            self.broken = True
            raise CaptureTimeout("the capture did not finish before its deadline") from None
        except SnapshotError:
            raise
        except Exception as exc:  # CDP errors, closed sockets: the session can't be trusted
            self.broken = True
            raise BackendUnavailable(f"the browser session failed: {exc}") from exc

    def _screenshot(self, deadline: float) -> bytes:
        """The viewport as a PNG.  A page that navigates itself to another site right after loading (a
        script or meta refresh) lands while the screenshot runs; Page.captureScreenshot then never
        answers, or fails.  So the wait ends as soon as the tab starts another navigation, the service
        waits (briefly) for that page to load and takes its picture instead; the last try is not
        interrupted."""
        for _ in range(_LEAVE_RETRIES):
            navigations, loads = self._navigations, self._loads

            def leaving(before: int = navigations) -> bool:  # the tab started another navigation
                return self._navigations > before

            try:
                return self._screenshot_once(deadline, leaving)
            except (CdpError, CdpInterrupted) as exc:
                log.debug("session %s: the page navigated during the screenshot (%s)", self.id, exc)
            try:
                self._wait_for_load(loads, min(deadline, time.monotonic() + _LEAVE_WAIT))
            except CdpTimeout:
                pass  # still loading: take whatever the tab shows
        return self._screenshot_once(deadline)

    def _screenshot_once(self, deadline: float, interrupted: Callable[[], bool] | None = None) -> bytes:
        shot = self._cmd("Page.captureScreenshot", {"format": "png", "fromSurface": True}, deadline,
                         interrupted=interrupted)
        return base64.b64decode(shot["data"])

    def reset(self) -> None:
        """Remove every trace of the last capture; on any failure the session is marked broken."""
        if not self.dirty or self.broken:
            return
        try:
            if self.isolation == "context":
                if self._browser_context is not None:
                    self._clean("Target.disposeBrowserContext", {"browserContextId": self._browser_context}, tab=False)
                self._browser_context = self._target = self._session = None
            else:
                self._reset_tab()
            self.dirty = False
        except Exception as exc:
            log.info("session %s could not be reset (%s); replacing it", self.id, exc)
            self.broken = True

    def _clean(self, method: str, params: dict, tab: bool = True, timeout: float = _CLEANUP_TIMEOUT) -> dict:
        return self._cmd(method, params, time.monotonic() + timeout, tab=tab)

    def _reset_tab(self) -> None:
        if self._session is None:
            return
        if self._crashed:
            raise BackendUnavailable("the browser tab crashed")
        targets = self._clean("Target.getTargets", {}, tab=False)["targetInfos"]
        origins: set[str] = set()
        for target in targets:  # our tab, the windows it opened, its out-of-process frames, workers
            _add_origin(target.get("url", ""), origins)
        try:
            _frame_origins(self._clean("Page.getFrameTree", {}, timeout=_CLEANUP_TIMEOUT if self._settled else 1.0)
                           ["frameTree"], origins)
        except CdpTimeout:
            # the tab's renderer does not answer while a navigation of its main frame is pending (nothing
            # of the new page has run then) or while a script of a half-loaded page is stuck
            if self._settled:
                raise
        if not self._settled:
            # a navigation was still running (client gone, or a deadline): scripts in a half-loaded page
            # would stall; the tab goes instead, and its sessionStorage with it
            # (in the browser's default profile: CDP cannot open a tab in the incognito one it did not create)
            self._attach(self._clean("Target.createTarget", {"url": "about:blank"}, tab=False)["targetId"],
                         time.monotonic() + _CLEANUP_TIMEOUT)
        for target in targets:
            if target["type"] == "page" and target["targetId"] != self._target:  # popups (or the abandoned tab)
                self._clean("Target.closeTarget", {"targetId": target["targetId"]}, tab=False)
        if self._settled:
            loads = self._loads
            self._clean("Page.navigate", {"url": "about:blank"})
            # the page is unloaded once about:blank has loaded: its pagehide and unload handlers have run
            # and their writes reached the browser, its timers and workers are gone; clearing comes after
            self.cdp.wait("about:blank", lambda: self._loads > loads, timeout=_CLEANUP_TIMEOUT)
        # the HTTP cache is the browser's, not an origin's: what one capture fetched would otherwise load
        # faster (and without a request) in the next
        self.cdp.batch(
            [("Network.clearBrowserCookies", {}, self._session)]  # the tab's profile's, every site's
            # (storage is cleared through the tab: on the Grid's se:cdp connection the browser-level call fails)
            + [("Storage.clearDataForOrigin", {"origin": origin, "storageTypes": _STORAGE_TYPES}, self._session)
               for origin in sorted(origins)]
            + [("Network.clearBrowserCache", {}, self._session)],
            timeout=_CLEANUP_TIMEOUT,
        )

    def is_alive(self) -> bool:
        try:
            self.cdp.command("Browser.getVersion", {}, timeout=_CLEANUP_TIMEOUT)
        except Exception:  # noqa: BLE001 - any failure means the session is gone
            self.broken = True
            return False
        return True

    def close(self) -> None:
        self.cdp.close()
        try:
            self.driver.quit()
        except Exception as exc:  # noqa: BLE001 - a dead session is already gone
            log.debug("quitting session %s failed: %s", self.id, exc)
        if self.on_close is not None:
            self.on_close()


SessionFactory = Callable[[], BrowserSession]


def _open(driver_factory: Callable[[], webdriver.Remote], cdp_url: Callable[[dict], str], settings: Settings,
          backend: str, headers: dict[str, str] | None = None) -> BrowserSession:
    try:
        driver = driver_factory()
    except WebDriverException as exc:
        raise BackendUnavailable(f"no browser session could be started: {exc.msg or exc}") from None
    except Exception as exc:  # connection refused, timeouts, a Grid that answers nonsense
        reason = getattr(exc, "reason", None) or exc
        raise BackendUnavailable(f"no browser session could be started: {reason}") from None
    cdp = None
    try:
        cdp = CdpConnection(
            cdp_url(driver.capabilities),
            timeout=settings.session_timeout,
            headers=[f"{k}: {v}" for k, v in (headers or {}).items()],
        )
        # a page that starts a download gets an error, and nothing is written to the browser's disk
        cdp.command("Browser.setDownloadBehavior", {"behavior": "deny"}, timeout=settings.session_timeout)
    except Exception as exc:
        if cdp is not None:
            cdp.close()
        try:
            driver.quit()
        except Exception:  # noqa: BLE001
            pass
        raise BackendUnavailable(f"the browser's DevTools connection failed: {exc}") from None
    return BrowserSession(driver, cdp, backend, settings.page_load_timeout, settings.isolation)


def grid_session_factory(settings: Settings, instance: str = "", proxy_url: str | None = None) -> SessionFactory:
    assert settings.grid_url is not None
    grid_url = settings.grid_url

    def create() -> webdriver.Remote:
        auth = settings.grid_auth
        config = ClientConfig(
            remote_server_addr=grid_url,
            timeout=int(max(1, settings.session_timeout)),
            username=auth[0] if auth else None,
            password=auth[1] if auth else None,
        )
        return webdriver.Remote(
            command_executor=grid_url,
            options=chrome_options(settings, local=False, instance=instance, proxy_url=proxy_url),
            client_config=config,
        )

    headers = basic_auth_header(settings.grid_auth)

    def open_session() -> BrowserSession:
        session = _open(create, lambda caps: _grid_cdp_url(caps, grid_url), settings, "grid", headers)
        session.probe = _grid_probe(grid_url, session.session_id, headers)
        return session

    return open_session


def _grid_cdp_url(capabilities: dict, grid_url: str) -> str:
    reported = capabilities.get("se:cdp")
    if not reported:
        raise BackendUnavailable("the Grid offers no DevTools endpoint (se:cdp) for this session")
    return _ws_url_through_grid(reported, grid_url)


def _local_cdp_url(capabilities: dict) -> str:
    """The browser-wide DevTools websocket of a Chrome that ChromeDriver started here."""
    address = capabilities["goog:chromeOptions"]["debuggerAddress"]
    with urllib.request.urlopen(f"http://{address}/json/version", timeout=_CLEANUP_TIMEOUT) as response:
        return str(json.load(response)["webSocketDebuggerUrl"])


def _grid_probe(grid_url: str, session_id: str, headers: dict[str, str]) -> Callable[[], bool]:
    """A cheap classic command through the Grid: it fails at once when the session's node is gone."""
    url = f"{grid_url}/session/{session_id}/timeouts"

    def probe() -> bool:
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=3) as r:
                return bool(r.status == 200)
        except urllib.error.HTTPError:
            return False
        except OSError:
            return False  # the Grid itself is unreachable: the session is as good as gone

    return probe


def local_session_factory(settings: Settings, proxy_url: str | None = None) -> SessionFactory:
    """ChromeDriver + Chromium started here.  Each gets its own TMPDIR, removed when the session closes:
    Chromium leaves a directory (its singleton socket) in TMPDIR behind every time it exits, which a
    long-running service that recycles sessions would pile up."""

    def open_session() -> BrowserSession:
        scratch = tempfile.mkdtemp(prefix="snap-")

        def create() -> webdriver.Remote:
            service = ChromeService(executable_path=settings.chromedriver_path, log_output=subprocess.DEVNULL,
                                    env={**os.environ, "TMPDIR": scratch})
            return webdriver.Chrome(service=service, options=chrome_options(settings, local=True, proxy_url=proxy_url))

        try:
            session = _open(create, _local_cdp_url, settings, "local")
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise
        session.on_close = lambda: shutil.rmtree(scratch, ignore_errors=True)
        return session

    return open_session
