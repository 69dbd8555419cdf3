"""One browser session, driven over CDP, and the sequence of a capture in it.

A session is a WebDriver session (opened by ``factories``) and its DevTools connection.  A capture is
a sequence of steps on the session's tab, driven by the typed :class:`~service.capture.CaptureRequest`:
the isolation mode gives it a tab, the viewport is set to exactly the requested size (times the device
scale factor), the options' overrides are set (``steps.prepare``), the page loaded until it counts as
loaded (``wait_until``), the options' waits and page changes run (``steps.after_load``), and the result
taken (``shots``).  Afterwards :meth:`BrowserSession.reset` has the isolation mode remove every trace of
it, the options' overrides included.  All calls block; they run in the capture worker threads.
"""

from __future__ import annotations

import base64
import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from selenium import webdriver

from service.browsers import shots, steps
from service.browsers.cdp import (
    CdpCancelled,
    CdpConnection,
    CdpError,
    CdpInterrupted,
    CdpMessageTooLarge,
    CdpTimeout,
)
from service.browsers.consent import ConsentRules, ConsentTracker
from service.browsers.isolation import Isolation, has_credentials, origin_of
from service.browsers.network import RequestRules
from service.browsers.shots import OutputLimits, Shot
from service.capture import Backend, Phase, Timings
from service.errors import (
    BackendUnavailable,
    CaptureFailed,
    CaptureTimeout,
    ClientGone,
    OutputTooLarge,
    SnapshotError,
    TargetUnreachable,
)
from service.params import CaptureRequest

log = logging.getLogger("snapshot.browser")

_ALIVE_TIMEOUT = 5.0  # seconds Browser.getVersion may take on a session that sat idle
_LEAVE_RETRIES = 2  # screenshots retried after the page navigated away during one
WORLD = "snapshot"  # the name of the isolated worlds the service's own snippets run in
_ids = itertools.count(1)


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
    dom_ready: int = 0  # DOMContentLoaded events seen in the tab
    loader: str | None = None  # the main frame's current document (lifecycle events, when enabled)
    lifecycle: dict[str, str] = field(default_factory=dict)  # lifecycle event -> the document it came for
    rules: RequestRules | None = None  # the capture's request rules, while Fetch is enabled
    consent_rules: ConsentRules | None = None  # autoconsent, when the service has it
    consent: ConsentTracker | None = None  # this capture's, with block_cookie_banners
    consent_script: str | None = None  # its Page.addScriptToEvaluateOnNewDocument identifier
    frame_sessions: set[str] = field(default_factory=set)  # cross-site iframes attached for the options
    frames: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # frame id -> (origin, parent id)
    seen_origins: set[str] = field(default_factory=set)  # origins of frames, windows, workers since the reset
    credentials_seen: bool = False  # a frame navigated to a URL with credentials (the session is replaced)
    changed: set[str] = field(default_factory=set)  # what the capture's options changed (steps.UNDO)
    limits: OutputLimits = field(default_factory=OutputLimits)
    fast_png: bool = True  # PNGs encoded for speed rather than size (SNAPSHOT_PNG_ENCODING)
    _viewport: tuple[int, int, int] | None = None
    _world: tuple[int, int] | None = None  # an isolated world asked for as the page committed: (command, navigations)
    _cancel: threading.Event | None = None  # set while a capture runs: its client's disconnect flag

    def __post_init__(self) -> None:
        self.cdp.on_event = self._on_event

    def _on_event(self, message: dict[str, Any]) -> None:
        source = message.get("sessionId")
        method = message["method"]
        if method in ("Page.frameNavigated", "Target.targetCreated", "Target.targetInfoChanged"):
            params = message["params"]
            self._saw((params.get("frame") or params.get("targetInfo") or {}).get("url", ""))
        if self.tab_session is None or source is None:
            return
        if source == self.tab_session or source in self.frame_sessions:
            steps.on_frame_event(self, source, method, message["params"])  # the options' frame work
        if source != self.tab_session:
            return
        if method == "Page.loadEventFired":
            self.loads += 1
        elif method == "Page.frameStartedLoading" and message["params"].get("frameId") == self.target:
            self.navigations += 1
        elif method == "Page.javascriptDialogOpening":  # alert/confirm/prompt would block the page
            self.cdp.send("Page.handleJavaScriptDialog", {"accept": False}, self.tab_session)
        elif method == "Page.domContentEventFired":
            self.dom_ready += 1
        elif method == "Page.lifecycleEvent" and message["params"].get("frameId") == self.target:
            name, loader = message["params"].get("name"), message["params"].get("loaderId")
            if name == "init":
                self.loader = loader
            self.lifecycle[name] = loader
        elif method == "Inspector.targetCrashed":
            self.crashed = True

    def _saw(self, url: str) -> None:
        """A frame, window or worker had ``url``: its origin's storage is cleared by the reset."""
        origin = origin_of(url)
        if origin is not None:
            self.seen_origins.add(origin)
            self.credentials_seen = self.credentials_seen or has_credentials(url)

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
        self._drop_world()
        self.command("Page.enable", {}, deadline)

    def detach(self) -> None:
        """Forget the tab (the isolation mode closed it)."""
        self.target = self.tab_session = None
        self._drop_world()

    def isolated_world(self, deadline: float, interrupted: Callable[[], bool] | None = None) -> tuple[int, bool]:
        """A new isolated world in the tab's current document: its execution context id, and whether it
        is the one asked for as the page's navigation committed (its answer came while the page loaded:
        no round trip now).  That one is used only if the tab has not started another navigation since."""
        prepared, self._world = self._world, None
        if prepared is not None and prepared[1] == self.navigations:
            try:
                answer = self.cdp.kept_answer(
                    prepared[0],
                    "Page.createIsolatedWorld",
                    timeout=deadline - time.monotonic(),
                    cancel=self._cancel,
                    probe=self.probe,
                    interrupted=interrupted,
                )
                return int(answer["executionContextId"]), True
            except CdpCancelled:
                raise ClientGone("the client disconnected; the capture was abandoned") from None
            except CdpError:
                pass  # its document had gone already
        elif prepared is not None:
            self.cdp.forget(prepared[0])
        world = self.command("Page.createIsolatedWorld", self._world_params(), deadline, interrupted=interrupted)
        return int(world["executionContextId"]), False

    def _world_params(self) -> dict[str, Any]:
        return {"frameId": self.target, "worldName": WORLD}

    def _drop_world(self) -> None:
        if self._world is not None:
            self.cdp.forget(self._world[0])
            self._world = None

    def wait(self, what: str, until: Callable[[], bool], deadline: float) -> None:
        """Read the tab's events until ``until()``; raises ``CdpTimeout`` at ``deadline``."""
        try:
            self.cdp.wait(
                what,
                lambda: until() or self.crashed,
                timeout=deadline - time.monotonic(),
                cancel=self._cancel,
                probe=self.probe,
            )
        except CdpCancelled:
            raise ClientGone("the client disconnected; the capture was abandoned") from None
        if self.crashed:
            self.broken = True
            raise BackendUnavailable("the browser tab crashed")

    def wait_for_load(self, loads: int, deadline: float) -> None:
        """Until the tab fired a load event past the first ``loads``."""
        self.wait("the load event", lambda: self.loads > loads, deadline)

    def pause(self, seconds: float) -> None:
        """Let ``seconds`` pass while the tab's events are handled (paused requests, dialogs)."""
        try:
            self.wait("a pause", lambda: False, time.monotonic() + seconds)
        except CdpTimeout:
            pass

    # ------------------------------------------------------------------ the capture

    def capture(
        self,
        request: CaptureRequest,
        deadline: float,
        timings: Timings,
        cancel: threading.Event | None = None,
    ) -> Shot:
        """Open the request's URL with a viewport of exactly width x height CSS pixels, run the steps
        its options ask for, and return what it produces.  Setting ``cancel`` (the client went away)
        abandons the capture within a fraction of a second."""
        self._cancel = cancel
        try:
            return self._capture(request, deadline, timings)
        finally:
            self._cancel = None

    def _capture(self, request: CaptureRequest, deadline: float, timings: Timings) -> Shot:
        if deadline - time.monotonic() <= 0:
            raise CaptureTimeout("the capture deadline passed before a browser was free")
        o = request.options
        self.uses += 1
        self.dirty = True
        self.settled = False
        # with best_attempt, waits end early enough to leave time for the picture
        left = deadline - time.monotonic()
        waits_end = deadline - min(5.0, max(1.0, 0.2 * left)) if o.best_attempt else deadline
        try:
            self.isolation.begin(self, deadline)
            self._set_viewport(request.width, request.height, o.device_scale_factor, deadline)
            steps.prepare(self, request, deadline)
            with timings.measure(Phase.NAVIGATE):
                self._navigate(request.url, waits_end, o.wait_until, o.best_attempt)
            with timings.measure(Phase.WAIT):
                page, info = steps.after_load(self, request, deadline, waits_end)
            with timings.measure(Phase.SCREENSHOT):
                return shots.take(self, page, request, info, deadline)
        except CdpTimeout:
            self.broken = True
            raise CaptureTimeout("the capture did not finish before its deadline") from None
        except CdpMessageTooLarge as exc:  # not read: the connection is of no further use
            self.broken = True
            raise OutputTooLarge(f"the browser's answer was too large ({exc})") from None
        except SnapshotError:
            raise
        except CdpError as exc:
            if not exc.session_gone:  # the page or the options: the session answered, and is fine
                log.info("session %s: the browser refused %s", self.id, exc)
                raise CaptureFailed(f"the browser could not capture this page: {exc.message}") from None
            self.broken = True
            raise BackendUnavailable(f"the browser session failed: {exc}") from exc
        except Exception as exc:  # closed sockets, protocol errors: the session can't be trusted
            self.broken = True
            raise BackendUnavailable(f"the browser session failed: {exc}") from exc

    def _set_viewport(self, width: int, height: int, scale: int, deadline: float) -> None:
        if self._viewport == (width, height, scale):
            return
        self.command(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": scale, "mobile": False},
            deadline,
        )
        self._viewport = (width, height, scale)

    def _loaded(self, loads: int, wait_until: str) -> Callable[[], bool]:
        """Whether the page counts as loaded (``wait_until``) since ``loads`` load events."""
        if wait_until == "domcontentloaded":
            ready = self.dom_ready
            return lambda: self.dom_ready > ready or self.loads > loads
        if wait_until in ("networkidle0", "networkidle2"):
            event = "networkIdle" if wait_until == "networkidle0" else "networkAlmostIdle"
            return lambda: self.loads > loads and self.lifecycle.get(event) == self.loader
        return lambda: self.loads > loads

    def _navigate(self, url: str, waits_end: float, wait_until: str = "load", best_attempt: bool = False) -> None:
        """Load ``url`` until it counts as loaded, within the page load timeout."""
        load_deadline = min(waits_end, time.monotonic() + self.page_load_timeout)
        loaded = self._loaded(self.loads, wait_until)
        self._drop_world()
        try:
            navigation = self.command("Page.navigate", {"url": url}, load_deadline)
            if navigation.get("errorText"):
                self.settled = True  # the navigation ended (on an error page)
                raise TargetUnreachable(f"the page could not be loaded: {navigation['errorText'].split()[0]}")
            # the answer comes once the new document has committed: its isolated world (for the page's
            # description, see Page) is made while it loads, instead of a round trip after the load
            world = self.cdp.send_kept("Page.createIsolatedWorld", self._world_params(), self.tab_session)
            self._world = (world, self.navigations)
            # a page that sends itself elsewhere while loading (a script redirect) never fires its own
            # load event; the page it went to does
            self.wait("the page to load", loaded, load_deadline)
        except CdpTimeout:
            if best_attempt:
                return  # the picture of what there is (the reset replaces the tab: it is still loading)
            self.broken = True
            raise CaptureTimeout("the page did not finish loading before the deadline") from None
        self.settled = True

    def screenshot(self, params: dict[str, Any], deadline: float) -> bytes:
        """``Page.captureScreenshot`` with ``params``.  A page that navigates itself to another site
        right after loading (a script or meta refresh) lands while the screenshot runs;
        Page.captureScreenshot then never answers, or fails.  So the wait ends as soon as the tab starts
        another navigation, the service waits (briefly) for that page to load and takes its picture
        instead; the last try is not interrupted."""
        for _ in range(_LEAVE_RETRIES):
            navigations, loads = self.navigations, self.loads

            def leaving(before: int = navigations) -> bool:  # the tab started another navigation
                return self.navigations > before

            try:
                return self._screenshot_once(params, deadline, leaving)
            except (CdpError, CdpInterrupted) as exc:
                log.debug("session %s: the page navigated during the screenshot (%s)", self.id, exc)
            try:
                self.wait_for_load(loads, min(deadline, time.monotonic() + steps.LEAVE_WAIT))
            except CdpTimeout:
                pass  # still loading: take whatever the tab shows
        return self._screenshot_once(params, deadline)

    def _screenshot_once(
        self, params: dict[str, Any], deadline: float, interrupted: Callable[[], bool] | None = None
    ) -> bytes:
        shot = self.command("Page.captureScreenshot", params, deadline, interrupted=interrupted)
        return base64.b64decode(shot["data"])

    # ------------------------------------------------------------------ between captures

    def undo_options(self) -> list[tuple[str, dict[str, Any]]]:
        """The commands that undo what the last capture's options changed in the tab."""
        return steps.undo(self)

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
