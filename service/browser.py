"""Browser sessions: a Selenium WebDriver session (Grid or local ChromeDriver) driven over BiDi.

A session is opened with Selenium (``webdriver.Remote`` against the Grid, ``webdriver.Chrome`` for a
ChromeDriver started here) with ``webSocketUrl: true``, then driven over BiDi: the viewport is set to
exactly the requested size, the page loaded, the viewport captured, and everything the capture left
behind removed (see :class:`BrowserSession` for the two isolation modes).  All calls here block; they
run in the capture worker threads.
"""

from __future__ import annotations

import base64
import itertools
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

from service.bidi import BidiCancelled, BidiConnection, BidiError, BidiInterrupted, BidiTimeout
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
)

INSTANCE_CAPABILITY = "snapshot:instance"
# Navigation errors that mean "the target could not be reached" (502), by Chrome's net error name.
_UNREACHABLE_MARKERS = ("net::ERR_",)
_CLEANUP_TIMEOUT = 5.0
NAVIGATION_STARTED = "browsingContext.navigationStarted"
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
    options.set_capability("webSocketUrl", True)
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


def _bidi_url_through_grid(reported: str, grid_url: str) -> str:
    """The Grid reports its BiDi URL with the address it detected for itself; reach it as we reach the Grid."""
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


def _frame_origins(contexts: list[dict], into: set[str]) -> set[str]:
    for context in contexts:
        parts = urlsplit(context.get("url", ""))
        if parts.scheme in ("http", "https") and parts.netloc:
            into.add(f"{parts.scheme}://{parts.netloc}")
        _frame_origins(context.get("children") or [], into)
    return into


@dataclass(eq=False)
class BrowserSession:
    """One WebDriver session and its BiDi connection, used by one capture at a time.

    Isolation between captures (``isolation``):

    - ``reset`` (default): captures reuse one tab; after each capture (off the response's path) extra
      windows are closed, sessionStorage cleared, the tab sent to about:blank, every cookie deleted and
      all storage (local storage, IndexedDB, Cache Storage, service workers...) of every origin the page
      had frames from cleared, and the HTTP cache emptied.
    - ``context``: every capture runs in a new BiDi user context (like a fresh incognito profile) that is
      removed afterwards: the strongest isolation, at several times the CPU cost per capture.
    """

    driver: webdriver.Remote
    bidi: BidiConnection
    backend: str
    page_load_timeout: float
    isolation: str = "reset"
    id: int = field(default_factory=lambda: next(_ids))
    created: float = field(default_factory=time.monotonic)
    uses: int = 0
    broken: bool = False
    dirty: bool = False  # a capture ran since the last reset
    _context: str | None = None
    _user_context: str | None = None
    _viewport: tuple[int, int] | None = None
    _settled: bool = True  # no navigation of ours is still running in the tab
    _cdp_session: str | None = None
    _navigations: int = 0  # navigations seen starting in our tab (BiDi browsingContext.navigationStarted)

    def __post_init__(self) -> None:
        self.bidi.on_event = self._on_event

    def _on_event(self, message: dict) -> None:
        if message.get("method") == NAVIGATION_STARTED and message["params"].get("context") == self._context:
            self._navigations += 1

    @property
    def age(self) -> float:
        return time.monotonic() - self.created

    _cancel: threading.Event | None = None  # set while a capture runs: its client's disconnect flag
    probe: Callable[[], bool] | None = None  # does the session still exist? (Grid sessions)
    on_close: Callable[[], None] | None = None  # cleanup after the browser is gone (local sessions)

    @property
    def session_id(self) -> str:
        return str(self.driver.session_id)

    def _cmd(self, method: str, params: dict, deadline: float, interrupted: Callable[[], bool] | None = None) -> dict:
        try:
            return self.bidi.command(
                method, params, timeout=deadline - time.monotonic(), cancel=self._cancel, probe=self.probe,
                interrupted=interrupted,
            )
        except BidiCancelled:
            raise ClientGone("the client disconnected; the capture was abandoned") from None

    def _tab(self, deadline: float) -> str:
        if self.isolation == "context":
            self._user_context = self._cmd("browser.createUserContext", {}, deadline)["userContext"]
            self._context = self._cmd(
                "browsingContext.create", {"type": "tab", "userContext": self._user_context}, deadline
            )["context"]
            self._viewport = None
            self._cdp_session = None
        elif self._context is None:
            self._context = self._cmd("browsingContext.getTree", {"maxDepth": 0}, deadline)["contexts"][0]["context"]
        return self._context

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
            context = self._tab(deadline)
            if self._viewport != (width, height):
                self._cmd(
                    "browsingContext.setViewport",
                    {"context": context, "viewport": {"width": width, "height": height}, "devicePixelRatio": 1},
                    deadline,
                )
                self._viewport = (width, height)
            started = time.monotonic()
            load_deadline = min(deadline, started + self.page_load_timeout)
            navigations = self._navigations
            try:
                self._cmd(
                    "browsingContext.navigate", {"context": context, "url": url, "wait": "complete"}, load_deadline
                )
            except BidiTimeout:
                self.broken = True
                raise CaptureTimeout("the page did not finish loading before the deadline") from None
            except BidiError as exc:
                if any(marker in exc.message for marker in _UNREACHABLE_MARKERS):
                    self._settled = True  # the navigation ended (on an error page)
                    raise TargetUnreachable(f"the page could not be loaded: {exc.message.split()[0]}") from None
                if "navigation canceled" not in exc.message:
                    raise
                # the page sent itself elsewhere while loading (a script redirect): wait for that page
                self._wait_for_load(context, load_deadline)
                navigations = self._navigations - 1
            loaded = time.monotonic()
            self._settled = True
            timings.navigate += loaded - started
            # past the navigation that loaded the page, another one means the page is leaving itself
            png = self._screenshot(context, deadline, lambda: self._navigations > navigations + 1)
            timings.screenshot += time.monotonic() - loaded
            if png_size(png) != (width, height):
                self.broken = True
                raise BackendUnavailable(f"the browser returned {png_size(png)} instead of {(width, height)}")
            return png
        except BidiTimeout:
            self.broken = True
            raise CaptureTimeout("the capture did not finish before its deadline") from None
        except SnapshotError:
            raise
        except Exception as exc:  # BiDi errors, closed sockets: the session can't be trusted
            self.broken = True
            raise BackendUnavailable(f"the browser session failed: {exc}") from exc

    def _cdp(self, context: str, method: str, params: dict, deadline: float,
             interrupted: Callable[[], bool] | None = None) -> dict:
        """A CDP command on the tab's target, through ChromeDriver's BiDi ``goog:cdp`` extension."""
        if self._cdp_session is None:
            self._cdp_session = self._cmd("goog:cdp.getSession", {"context": context}, deadline, interrupted)["session"]
        result: dict = self._cmd(
            "goog:cdp.sendCommand", {"method": method, "params": params, "session": self._cdp_session}, deadline,
            interrupted,
        )["result"]
        return result

    def _screenshot(self, context: str, deadline: float, leaving: Callable[[], bool]) -> bytes:
        """The viewport as a PNG.  CDP's Page.captureScreenshot is the fast path (51 ms against 64 ms
        for BiDi's at 1000x1000 here), but it never answers, or fails with "Not attached to an active
        page", when the page navigates to another site while it runs (a script or meta refresh after
        load).  Then BiDi's browsingContext.captureScreenshot, which follows the tab across
        navigations, takes the picture of what the tab shows."""
        if not leaving():
            try:
                shot = self._cdp(
                    context, "Page.captureScreenshot", {"format": "png", "fromSurface": True}, deadline, leaving
                )
                return base64.b64decode(shot["data"])
            except (BidiError, BidiInterrupted) as exc:
                log.debug("session %s: the page navigated during the screenshot (%s)", self.id, exc)
                self._cdp_session = None
        shot = self._cmd("browsingContext.captureScreenshot", {"context": context, "origin": "viewport"}, deadline)
        return base64.b64decode(shot["data"])

    def _wait_for_load(self, context: str, deadline: float) -> None:
        script = {
            "expression": "document.readyState === 'complete' || "
            "new Promise(r => addEventListener('load', () => r(true), {once: true}))",
            "target": {"context": context, "sandbox": "snapshot-wait"},
            "awaitPromise": True,
        }
        while True:
            try:
                result = self._cmd("script.evaluate", script, deadline)
            except BidiTimeout:
                self.broken = True
                raise CaptureTimeout("the page did not finish loading before the deadline") from None
            except BidiError:
                result = {}  # the document went away under us: a navigation is committing
            if result.get("type") == "success":
                return
            time.sleep(0.05)

    def reset(self) -> None:
        """Remove every trace of the last capture; on any failure the session is marked broken."""
        if not self.dirty or self.broken:
            return
        try:
            if self.isolation == "context":
                if self._user_context is not None:
                    self._clean("browser.removeUserContext", {"userContext": self._user_context})
                self._user_context = self._context = None
            else:
                self._reset_tab()
            self.dirty = False
        except Exception as exc:
            log.info("session %s could not be reset (%s); replacing it", self.id, exc)
            self.broken = True

    def _clean(self, method: str, params: dict) -> dict:
        return self.bidi.command(method, params, timeout=_CLEANUP_TIMEOUT)

    def _reset_tab(self) -> None:
        context = self._context
        if context is None:
            return
        tops = self._clean("browsingContext.getTree", {})["contexts"]
        origins = _frame_origins(tops, set())
        if not self._settled:
            # a navigation was still running (client gone, or a deadline): scripts in a half-loaded page
            # would stall; the tab goes instead, and its sessionStorage with it
            context = self._context = self._clean("browsingContext.create", {"type": "tab"})["context"]
            self._viewport = None
            self._cdp_session = None
        for top in tops:
            if top["context"] != context:  # popups and tabs the page opened (or the abandoned tab)
                self._clean("browsingContext.close", {"context": top["context"], "promptUnload": False})
        if self._settled:
            try:  # sessionStorage lives with the tab; clear it from a sandbox the page cannot tamper with
                self._clean(
                    "script.evaluate",
                    {
                        "expression": "try { sessionStorage.clear() } catch (e) {}",
                        "target": {"context": context, "sandbox": "snapshot-reset"},
                        "awaitPromise": False,
                    },
                )
            except BidiError:
                pass  # about:blank or an error page: nothing to clear
            self._clean("browsingContext.navigate", {"context": context, "url": "about:blank", "wait": "complete"})
        self._clean("storage.deleteCookies", {})
        deadline = time.monotonic() + _CLEANUP_TIMEOUT
        for origin in origins:
            self._cdp(context, "Storage.clearDataForOrigin", {"origin": origin, "storageTypes": "all"}, deadline)
        # the HTTP cache is the browser's, not an origin's: what one capture fetched would otherwise load
        # faster (and without a request) in the next
        self._cdp(context, "Network.clearBrowserCache", {}, deadline)

    def is_alive(self) -> bool:
        try:
            self.bidi.command("session.status", {}, timeout=_CLEANUP_TIMEOUT)
        except Exception:  # noqa: BLE001 - any failure means the session is gone
            self.broken = True
            return False
        return True

    def close(self) -> None:
        self.bidi.close()
        try:
            self.driver.quit()
        except Exception as exc:  # noqa: BLE001 - a dead session is already gone
            log.debug("quitting session %s failed: %s", self.id, exc)
        if self.on_close is not None:
            self.on_close()


SessionFactory = Callable[[], BrowserSession]


def _open(driver_factory: Callable[[], webdriver.Remote], bidi_url: Callable[[str], str], settings: Settings,
          backend: str, headers: dict[str, str] | None = None) -> BrowserSession:
    try:
        driver = driver_factory()
    except WebDriverException as exc:
        raise BackendUnavailable(f"no browser session could be started: {exc.msg or exc}") from None
    except Exception as exc:  # connection refused, timeouts, a Grid that answers nonsense
        reason = getattr(exc, "reason", None) or exc
        raise BackendUnavailable(f"no browser session could be started: {reason}") from None
    bidi = None
    try:
        bidi = BidiConnection(
            bidi_url(driver.capabilities["webSocketUrl"]),
            timeout=settings.session_timeout,
            headers=[f"{k}: {v}" for k, v in (headers or {}).items()],
        )
        bidi.command("session.subscribe", {"events": [NAVIGATION_STARTED]}, timeout=settings.session_timeout)
    except Exception as exc:
        if bidi is not None:
            bidi.close()
        try:
            driver.quit()
        except Exception:  # noqa: BLE001
            pass
        raise BackendUnavailable(f"the browser's BiDi connection failed: {exc}") from None
    return BrowserSession(driver, bidi, backend, settings.page_load_timeout, settings.isolation)


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
        session = _open(create, lambda ws: _bidi_url_through_grid(ws, grid_url), settings, "grid", headers)
        session.probe = _grid_probe(grid_url, session.session_id, headers)
        return session

    return open_session


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
            session = _open(create, lambda ws: ws, settings, "local")
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise
        session.on_close = lambda: shutil.rmtree(scratch, ignore_errors=True)
        return session

    return open_session
