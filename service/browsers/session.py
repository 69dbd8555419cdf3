"""One browser session, driven over CDP, and the steps of a capture in it.

A session is a WebDriver session (opened by ``factories``) and its DevTools connection.  A capture is
a sequence of steps on the session's tab, driven by the typed :class:`~service.capture.CaptureRequest`:
the isolation mode gives it a tab, the viewport is set to exactly the requested size, the page loaded,
the viewport captured and the PNG's size verified.  Afterwards :meth:`BrowserSession.reset` has the
isolation mode remove every trace of it.  All calls block; they run in the capture worker threads.
"""

from __future__ import annotations

import base64
import itertools
import logging
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from selenium import webdriver

from service.browsers.cdp import CdpCancelled, CdpConnection, CdpError, CdpInterrupted, CdpTimeout
from service.browsers.isolation import Isolation
from service.capture import Backend, CaptureRequest, Phase, Timings
from service.errors import BackendUnavailable, CaptureTimeout, ClientGone, SnapshotError, TargetUnreachable

log = logging.getLogger("snapshot.browser")

_ALIVE_TIMEOUT = 5.0  # seconds Browser.getVersion may take on a session that sat idle
_LEAVE_RETRIES = 2  # screenshots retried after the page navigated away during one
_LEAVE_WAIT = 2.0  # seconds such a retry waits for the page the tab went to, at most
_ids = itertools.count(1)


def png_size(png: bytes) -> tuple[int, int]:
    if len(png) < 24 or png[:8] != b"\x89PNG\r\n\x1a\n" or png[12:16] != b"IHDR":
        raise ValueError("not a PNG")
    width, height = struct.unpack(">II", png[16:24])
    return width, height


@dataclass(eq=False)
class BrowserSession:
    """One WebDriver session and its CDP connection, used by one capture at a time."""

    driver: webdriver.Remote
    cdp: CdpConnection
    backend: Backend
    page_load_timeout: float
    isolation: Isolation
    id: int = field(default_factory=lambda: next(_ids))
    created: float = field(default_factory=time.monotonic)
    uses: int = 0
    broken: bool = False
    dirty: bool = False  # a capture ran since the last reset
    probe: Callable[[], bool] | None = None  # does the session still exist? (Grid sessions)
    on_close: Callable[[], None] | None = None  # cleanup after the browser is gone (local sessions)
    # the tab captures run in, as the isolation mode set it up
    target: str | None = None  # its CDP target id (also its main frame's id)
    tab_session: str | None = None  # our CDP session attached to it
    settled: bool = True  # no navigation of ours is still running in the tab
    loads: int = 0  # load events seen in the tab
    navigations: int = 0  # navigations seen starting in the tab's main frame
    crashed: bool = False  # the tab's renderer died
    _viewport: tuple[int, int] | None = None
    _cancel: threading.Event | None = None  # set while a capture runs: its client's disconnect flag

    def __post_init__(self) -> None:
        self.cdp.on_event = self._on_event

    def _on_event(self, message: dict[str, Any]) -> None:
        if self.tab_session is None or message.get("sessionId") != self.tab_session:
            return
        method = message["method"]
        if method == "Page.loadEventFired":
            self.loads += 1
        elif method == "Page.frameStartedLoading" and message["params"].get("frameId") == self.target:
            self.navigations += 1
        elif method == "Page.javascriptDialogOpening":  # alert/confirm/prompt would block the page
            self.cdp.send("Page.handleJavaScriptDialog", {"accept": False}, self.tab_session)
        elif method == "Inspector.targetCrashed":
            self.crashed = True

    @property
    def age(self) -> float:
        return time.monotonic() - self.created

    @property
    def session_id(self) -> str:
        return str(self.driver.session_id)

    # ------------------------------------------------------------------ what the isolation modes use

    def command(
        self,
        method: str,
        params: dict[str, Any],
        deadline: float,
        *,
        tab: bool = True,
        interrupted: Callable[[], bool] | None = None,
    ) -> dict[str, Any]:
        """A command to our tab (``tab``) or to the browser, within ``deadline``."""
        try:
            return self.cdp.command(
                method,
                params,
                session=self.tab_session if tab else None,
                timeout=deadline - time.monotonic(),
                cancel=self._cancel,
                probe=self.probe,
                interrupted=interrupted,
            )
        except CdpCancelled:
            raise ClientGone("the client disconnected; the capture was abandoned") from None

    def attach(self, target: str, deadline: float) -> None:
        """Make ``target`` (a tab) the one captures run in."""
        self.tab_session = None
        attached = self.command("Target.attachToTarget", {"targetId": target, "flatten": True}, deadline, tab=False)
        self.tab_session = attached["sessionId"]
        self.target = target
        self._viewport = None
        self.command("Page.enable", {}, deadline)

    def detach(self) -> None:
        """Forget the tab (the isolation mode closed it)."""
        self.target = self.tab_session = None

    def wait_for_load(self, loads: int, deadline: float) -> None:
        """Until the tab fired a load event past the first ``loads``."""
        try:
            self.cdp.wait(
                "the load event",
                lambda: self.loads > loads or self.crashed,
                timeout=deadline - time.monotonic(),
                cancel=self._cancel,
                probe=self.probe,
            )
        except CdpCancelled:
            raise ClientGone("the client disconnected; the capture was abandoned") from None
        if self.crashed:
            self.broken = True
            raise BackendUnavailable("the browser tab crashed")

    # ------------------------------------------------------------------ the capture

    def capture(
        self,
        request: CaptureRequest,
        deadline: float,
        timings: Timings,
        cancel: threading.Event | None = None,
    ) -> bytes:
        """Open the request's URL at exactly width x height CSS pixels (device pixel ratio 1) and
        return the PNG.  Setting ``cancel`` (the client went away) abandons the capture within a
        fraction of a second."""
        self._cancel = cancel
        try:
            return self._capture(request, deadline, timings)
        finally:
            self._cancel = None

    def _capture(self, request: CaptureRequest, deadline: float, timings: Timings) -> bytes:
        if deadline - time.monotonic() <= 0:
            raise CaptureTimeout("the capture deadline passed before a browser was free")
        self.uses += 1
        self.dirty = True
        self.settled = False
        try:
            self.isolation.begin(self, deadline)
            self._set_viewport(request.width, request.height, deadline)
            with timings.measure(Phase.NAVIGATE):
                self._navigate(request.url, deadline)
            with timings.measure(Phase.SCREENSHOT):
                png = self._screenshot(deadline)
                if png_size(png) != (request.width, request.height):
                    self.broken = True
                    raise BackendUnavailable(
                        f"the browser returned {png_size(png)} instead of {(request.width, request.height)}"
                    )
            return png
        except CdpTimeout:
            self.broken = True
            raise CaptureTimeout("the capture did not finish before its deadline") from None
        except SnapshotError:
            raise
        except Exception as exc:  # CDP errors, closed sockets: the session can't be trusted
            self.broken = True
            raise BackendUnavailable(f"the browser session failed: {exc}") from exc

    def _set_viewport(self, width: int, height: int, deadline: float) -> None:
        if self._viewport == (width, height):
            return
        self.command(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            deadline,
        )
        self._viewport = (width, height)

    def _navigate(self, url: str, deadline: float) -> None:
        """Load ``url`` until its load event, within the page load timeout."""
        load_deadline = min(deadline, time.monotonic() + self.page_load_timeout)
        loads = self.loads
        try:
            navigation = self.command("Page.navigate", {"url": url}, load_deadline)
            if navigation.get("errorText"):
                self.settled = True  # the navigation ended (on an error page)
                raise TargetUnreachable(f"the page could not be loaded: {navigation['errorText'].split()[0]}")
            # a page that sends itself elsewhere while loading (a script redirect) never fires its own
            # load event; the page it went to does
            self.wait_for_load(loads, load_deadline)
        except CdpTimeout:
            self.broken = True
            raise CaptureTimeout("the page did not finish loading before the deadline") from None
        self.settled = True

    def _screenshot(self, deadline: float) -> bytes:
        """The viewport as a PNG.  A page that navigates itself to another site right after loading (a
        script or meta refresh) lands while the screenshot runs; Page.captureScreenshot then never
        answers, or fails.  So the wait ends as soon as the tab starts another navigation, the service
        waits (briefly) for that page to load and takes its picture instead; the last try is not
        interrupted."""
        for _ in range(_LEAVE_RETRIES):
            navigations, loads = self.navigations, self.loads

            def leaving(before: int = navigations) -> bool:  # the tab started another navigation
                return self.navigations > before

            try:
                return self._screenshot_once(deadline, leaving)
            except (CdpError, CdpInterrupted) as exc:
                log.debug("session %s: the page navigated during the screenshot (%s)", self.id, exc)
            try:
                self.wait_for_load(loads, min(deadline, time.monotonic() + _LEAVE_WAIT))
            except CdpTimeout:
                pass  # still loading: take whatever the tab shows
        return self._screenshot_once(deadline)

    def _screenshot_once(self, deadline: float, interrupted: Callable[[], bool] | None = None) -> bytes:
        shot = self.command(
            "Page.captureScreenshot", {"format": "png", "fromSurface": True}, deadline, interrupted=interrupted
        )
        return base64.b64decode(shot["data"])

    # ------------------------------------------------------------------ between captures

    def reset(self) -> None:
        """Remove every trace of the last capture; on any failure the session is marked broken."""
        if not self.dirty or self.broken:
            return
        try:
            self.isolation.end(self)
            self.dirty = False
        except Exception as exc:
            log.info("session %s could not be reset (%s); replacing it", self.id, exc)
            self.broken = True

    def is_alive(self) -> bool:
        try:
            self.cdp.command("Browser.getVersion", {}, timeout=_ALIVE_TIMEOUT)
        except Exception:
            self.broken = True
            return False
        return True

    def close(self) -> None:
        self.cdp.close()
        try:
            self.driver.quit()
        except Exception as exc:
            log.debug("quitting session %s failed: %s", self.id, exc)
        if self.on_close is not None:
            self.on_close()
