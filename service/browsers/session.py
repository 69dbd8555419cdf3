"""One browser session, driven over CDP, and the sequence of a capture in it.

A session is a WebDriver session (opened by ``factories``) and its DevTools connection.  A capture is
a sequence of steps on the session's tab, driven by the typed :class:`~service.params.CaptureRequest`:
the isolation mode gives it a tab, the viewport is set to exactly the requested size (times the device
scale factor), the options' overrides are set (``steps.prepare``), the page loaded until it counts as
loaded (``wait_until``), the options' waits and page changes run (``steps.after_load``), and the result
taken (``shots``).  Afterwards :meth:`BrowserSession.reset` has the isolation mode remove every trace of
it, the options' overrides included, and drops its ``CaptureScope`` whole.  All calls block; they run in
the capture worker threads.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from selenium import webdriver

from service.browsers import emulation, shots, steps
from service.browsers.cdp import CdpConnection, CdpError, CdpMessageTooLarge, CdpTimeout
from service.browsers.consent import ConsentRules
from service.browsers.emulation import Defaults
from service.browsers.isolation import ContextIsolation, Isolation
from service.browsers.scope import CaptureScope
from service.browsers.shots import OutputSettings, Shot
from service.browsers.tab import Tab
from service.capture import Backend, Phase, Timings
from service.errors import (
    BackendUnavailable,
    CaptureFailed,
    CaptureTimeout,
    OutputTooLarge,
    ScriptFailed,
    SelectorNotFound,
    SnapshotError,
    TargetHttpError,
    TargetUnreachable,
)
from service.filters import Filters
from service.params import CaptureRequest

log = logging.getLogger("snapshot.browser")

_ALIVE_TIMEOUT = 5.0  # seconds Browser.getVersion may take on a session that sat idle
_TARGET_EVENTS = ("Target.targetCreated", "Target.targetInfoChanged")  # browser-wide (setDiscoverTargets)
_ids = itertools.count(1)


@dataclass(frozen=True)
class SessionConfig:
    """What the service set for every session (from its settings)."""

    page_load_timeout: float = 20.0
    output: OutputSettings = field(default_factory=OutputSettings)
    consent_rules: ConsentRules | None = None  # autoconsent, when the service has it
    filters: Filters | None = None  # the ad and tracker lists' engines, when the service has them
    defaults: Defaults = field(default_factory=Defaults)  # the time zone and locale pages see by default


@dataclass(eq=False)
class BrowserSession:
    """One WebDriver session and its CDP connection, used by one capture at a time.  It keeps what lives
    as long as the WebDriver session; its tab (``Tab``) and the current capture's ``CaptureScope`` each
    have their own lifetime."""

    driver: webdriver.Remote
    cdp: CdpConnection
    backend: Backend
    isolation: Isolation
    config: SessionConfig = field(default_factory=SessionConfig)
    id: int = field(default_factory=lambda: next(_ids))
    created: float = field(default_factory=time.monotonic)
    uses: int = 0
    broken: bool = False
    dirty: bool = False  # a capture ran since the last reset
    probe: Callable[[], bool] | None = None  # does the session still exist? (Grid sessions)
    on_close: Callable[[], None] | None = None  # cleanup after the browser is gone (local sessions)
    tab: Tab | None = None  # the tab captures run in, as the isolation mode set it up
    scope: CaptureScope = field(default_factory=CaptureScope)  # the current (or last) capture's

    def __post_init__(self) -> None:
        self.cdp.on_event = self._on_event

    def _on_event(self, message: dict[str, Any]) -> None:
        method, params, source = message["method"], message["params"], message.get("sessionId")
        if method == "Page.frameNavigated":
            self.scope.saw(params["frame"].get("url", ""))
        elif method in _TARGET_EVENTS:
            self.scope.saw(params["targetInfo"].get("url", ""))
        tab = self.tab
        if tab is None or source is None:
            return
        if source == tab.session or source in self.scope.frame_sessions:
            steps.on_frame_event(tab, self.scope, source, method, params)  # the options' frame work
        if source == tab.session:
            tab.on_event(method, params)

    @property
    def age(self) -> float:
        return time.monotonic() - self.created

    @property
    def session_id(self) -> str:
        return str(self.driver.session_id)

    # ------------------------------------------------------------------ what the isolation modes use

    def browser_command(self, method: str, params: dict[str, Any], deadline: float) -> dict[str, Any]:
        """A command to the browser, within ``deadline``."""
        return self.cdp.command(method, params, timeout=deadline - time.monotonic(), probe=self.probe)

    def attach(self, target: str, deadline: float) -> Tab:
        """Make ``target`` (a tab) the one captures run in."""
        self.detach()
        attached = self.browser_command("Target.attachToTarget", {"targetId": target, "flatten": True}, deadline)
        self.tab = Tab(self.cdp, target, attached["sessionId"], probe=self.probe, scope=lambda: self.scope)
        # the same time zone and locale on every backend, whatever its machine says (one round trip)
        self.tab.batch([("Page.enable", {}), *emulation.tab_defaults(self.config.defaults)], deadline)
        return self.tab

    def detach(self) -> None:
        """Leave the tab (the isolation mode closed it, or attaches another): our DevTools session on it ends,
        and the overrides it set with it (a tab attached again starts from the defaults)."""
        if self.tab is not None:
            self.tab.drop_world()
            self.cdp.send("Target.detachFromTarget", {"sessionId": self.tab.session})  # gone already: no matter
        self.tab = None

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
        if deadline - time.monotonic() <= 0:
            raise CaptureTimeout("the capture deadline passed before a browser was free")
        self.uses += 1
        self.dirty = True
        self.scope = CaptureScope(cancel=cancel)
        try:
            return self._capture(request, deadline, timings)
        except BackendUnavailable:
            self.broken = True
            raise
        except SnapshotError:
            raise
        except CdpTimeout:
            self.broken = True
            raise CaptureTimeout("the capture did not finish before its deadline") from None
        except CdpMessageTooLarge as exc:  # not read: the connection is of no further use
            self.broken = True
            raise OutputTooLarge(f"the browser's answer was too large ({exc})") from None
        except CdpError as exc:
            if not exc.session_gone:  # the page or the options: the session answered, and is fine
                log.info("session %s: the browser refused %s", self.id, exc)
                raise CaptureFailed(f"the browser could not capture this page: {exc.message}") from None
            self.broken = True
            raise BackendUnavailable(f"the browser session failed: {exc}") from exc
        except Exception as exc:  # closed sockets, protocol errors: the session can't be trusted
            self.broken = True
            raise BackendUnavailable(f"the browser session failed: {exc}") from exc
        finally:
            self.scope.cancel = None  # the client's say ends with its capture: the reset is not its to cancel

    def _capture(self, request: CaptureRequest, deadline: float, timings: Timings) -> Shot:
        o = request.options
        # with best_attempt (or evidence), waits end early enough to leave time for the picture
        left = deadline - time.monotonic()
        waits_end = deadline - min(5.0, max(1.0, 0.2 * left)) if o.best_attempt or o.evidence else deadline
        # a tenant's capture with networks of its own shows the proxy a token: in a browser context of its
        # own, whose cached proxy credentials go with it (service/tenancy.py); so do http_auth's (the HTTP auth
        # cache is a context's, cleared by no command); a position is granted to the page in a context of its
        # own too (the browser's incognito one cannot be named to grant it)
        own_context = request.reach is not None or o.latitude is not None or o.http_auth is not None
        if own_context and not isinstance(self.isolation, ContextIsolation):
            self.scope.isolation = ContextIsolation()
        tab = (self.scope.isolation or self.isolation).begin(self, deadline)
        tab.settled = False
        tab.set_viewport(request.width, request.height, request.scale, request.mobile, deadline)
        aids = (self.config.consent_rules, self.config.filters, self.config.defaults)
        steps.prepare(tab, self.scope, aids, request, deadline)
        steps.show_token(tab, self.scope, deadline)
        try:
            with timings.measure(Phase.NAVIGATE):
                self._navigate(tab, request.url, waits_end, o.wait_until, o.best_attempt)
            with timings.measure(Phase.WAIT):
                page, info = steps.after_load(tab, self.scope, self.config.output, request, deadline, waits_end)
                info = dataclasses.replace(info, blocked=dict(self.scope.blocked))
                if self.scope.said is not None:
                    console, failed = self.scope.said.view()
                    info = dataclasses.replace(info, console=console, failed_requests=failed)
            with timings.measure(Phase.SCREENSHOT):
                return shots.take(tab, self.config.output, page, request, info, deadline)
        except (CaptureTimeout, ScriptFailed, SelectorNotFound, TargetHttpError) as exc:
            if o.evidence:
                exc.evidence = self._evidence(tab, request, deadline)
            raise

    def _evidence(self, tab: Tab, request: CaptureRequest, deadline: float) -> bytes | None:
        """The viewport as it is now, after a failure, if the page was reached and time is left."""
        if tab.target not in self.scope.frames or deadline - time.monotonic() < 0.2:
            return None  # the page never committed: there is nothing of it to show
        params = shots.image_params(self.config.output, "png")
        try:
            return tab.screenshot(params, deadline)
        except CdpTimeout:
            self.broken = True  # an answer may still come on this connection
        except (CdpError, SnapshotError) as exc:
            log.info("session %s: no evidence of the failed capture (%s)", self.id, exc)
        return None

    def _loaded(self, tab: Tab, wait_until: str) -> Callable[[], bool]:
        """Whether the page counts as loaded (``wait_until``) from now on."""
        loads, scope = tab.loads, self.scope
        if wait_until == "domcontentloaded":
            ready = tab.dom_ready
            return lambda: tab.dom_ready > ready or tab.loads > loads
        if wait_until in ("networkidle0", "networkidle2"):
            event = "networkIdle" if wait_until == "networkidle0" else "networkAlmostIdle"
            return lambda: tab.loads > loads and scope.lifecycle.get(event) == scope.loader
        return lambda: tab.loads > loads

    def _navigate(self, tab: Tab, url: str, waits_end: float, wait_until: str, best_attempt: bool) -> None:
        """Load ``url`` until it counts as loaded, within the page load timeout."""
        load_deadline = min(waits_end, time.monotonic() + self.config.page_load_timeout)
        loaded = self._loaded(tab, wait_until)
        tab.drop_world()
        try:
            navigation = tab.command("Page.navigate", {"url": url}, load_deadline)
            if navigation.get("errorText"):
                tab.settled = True  # the navigation ended (on an error page)
                raise TargetUnreachable(f"the page could not be loaded: {navigation['errorText'].split()[0]}")
            # the answer comes once the new document has committed: its isolated world (for the page's
            # description, see Page) is made while it loads, instead of a round trip after the load
            tab.prepare_world()
            # a page that sends itself elsewhere while loading (a script redirect) never fires its own
            # load event; the page it went to does
            tab.wait("the page to load", loaded, load_deadline)
        except CdpTimeout:
            if best_attempt:
                return  # the picture of what there is (the reset replaces the tab: it is still loading)
            self.broken = True
            raise CaptureTimeout("the page did not finish loading before the deadline") from None
        tab.settled = True

    # ------------------------------------------------------------------ between captures

    def reset(self) -> None:
        """Remove every trace of the last capture; on any failure the session is marked broken."""
        if not self.dirty or self.broken:
            return
        try:
            (self.scope.isolation or self.isolation).end(self)
            self.dirty = False
        except Exception as exc:
            log.info("session %s could not be reset (%s); replacing it", self.id, exc)
            self.broken = True
        self.scope = CaptureScope()  # what the capture set and saw goes whole

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
