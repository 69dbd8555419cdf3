"""The tab captures run in, for as long as it lives: our DevTools session attached to it, what its
events said (loads, navigations, a crash), and the commands and waits a capture sends it.

The isolation mode attaches a tab (``BrowserSession.attach``) and drops it with the tab; what one
capture sets up lives apart, in its ``CaptureScope`` (``scope.py``).  ``TabHost`` is what an
isolation mode needs of the browser session, so that neither module imports the other.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from service.browsers.cdp import CdpCancelled, CdpConnection, CdpError, CdpInterrupted, CdpTimeout
from service.browsers.scope import CaptureScope
from service.errors import BackendUnavailable, ClientGone

log = logging.getLogger("snapshot.browser")

WORLD = "snapshot"  # the name of the isolated worlds the service's own snippets run in
LEAVE_RETRIES = 2  # screenshots retried after the page navigated away during one
LEAVE_WAIT = 2.0  # seconds the service waits for the page a page that left goes to, at most


def _gone() -> ClientGone:
    return ClientGone("the client disconnected; the capture was abandoned")


@dataclass(eq=False)
class Tab:
    cdp: CdpConnection
    target: str  # its CDP target id (also its main frame's id)
    session: str  # our CDP session attached to it
    probe: Callable[[], bool] | None = None  # does the browser session still exist? (Grid sessions)
    scope: Callable[[], CaptureScope] = CaptureScope  # the current capture's (its cancel flag)
    settled: bool = True  # no navigation of ours is still running in the tab
    loads: int = 0  # load events seen
    navigations: int = 0  # navigations seen starting in its main frame
    crashed: bool = False  # its renderer died
    dom_ready: int = 0  # DOMContentLoaded events seen
    viewport: tuple[int, int, float, bool] | None = None  # width, height, scale, mobile as last set
    world: tuple[int, int] | None = None  # an isolated world asked for as the page committed: (command, navigations)
    context: str | None = None  # its browser context, when not the browser's default one

    def on_event(self, method: str, params: dict[str, Any]) -> None:
        """An event of this tab's session."""
        if method == "Page.loadEventFired":
            self.loads += 1
        elif method == "Page.frameStartedLoading" and params.get("frameId") == self.target:
            self.navigations += 1
        elif method == "Page.javascriptDialogOpening":  # alert/confirm/prompt would block the page
            self.cdp.send("Page.handleJavaScriptDialog", {"accept": False}, self.session)
        elif method == "Page.domContentEventFired":
            self.dom_ready += 1
        elif method == "Inspector.targetCrashed":
            self.crashed = True

    def command(
        self,
        method: str,
        params: dict[str, Any],
        deadline: float,
        *,
        browser: bool = False,
        interrupted: Callable[[], bool] | None = None,
    ) -> dict[str, Any]:
        """A command to the tab (or with ``browser`` to the browser), within ``deadline``."""
        try:
            return self.cdp.command(
                method,
                params,
                session=None if browser else self.session,
                timeout=deadline - time.monotonic(),
                cancel=self.scope().cancel,
                probe=self.probe,
                interrupted=interrupted,
            )
        except CdpCancelled:
            raise _gone() from None

    def batch(self, calls: list[tuple[str, dict[str, Any]]], deadline: float) -> list[dict[str, Any]]:
        """Commands to the tab in one round trip."""
        return self.cdp.batch([(m, p, self.session) for m, p in calls], timeout=deadline - time.monotonic())

    def send(self, method: str, params: dict[str, Any], session: str | None = None) -> None:
        """A command nobody waits for, to the tab (or to an attached frame's ``session``)."""
        self.cdp.send(method, params, session or self.session)

    def wait(self, what: str, until: Callable[[], bool], deadline: float) -> None:
        """Read events until ``until()``; raises ``CdpTimeout`` at ``deadline``."""
        try:
            self.cdp.wait(
                what, lambda: until() or self.crashed, timeout=deadline - time.monotonic(), cancel=self.scope().cancel,
                probe=self.probe,
            )  # fmt: skip
        except CdpCancelled:
            raise _gone() from None
        if self.crashed:
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

    def set_viewport(self, width: int, height: int, scale: float, mobile: bool, deadline: float) -> None:
        if self.viewport == (width, height, scale, mobile):
            return
        params = {"width": width, "height": height, "deviceScaleFactor": scale, "mobile": mobile}
        self.command("Emulation.setDeviceMetricsOverride", params, deadline)
        self.viewport = (width, height, scale, mobile)

    # ------------------------------------------------------------------ isolated worlds

    def world_params(self) -> dict[str, Any]:
        return {"frameId": self.target, "worldName": WORLD}

    def prepare_world(self) -> None:
        """Ask for an isolated world now (the page committed): it is made while the page loads."""
        self.world = (
            self.cdp.send_kept("Page.createIsolatedWorld", self.world_params(), self.session),
            self.navigations,
        )

    def drop_world(self) -> None:
        if self.world is not None:
            self.cdp.forget(self.world[0])
            self.world = None

    def isolated_world(self, deadline: float, interrupted: Callable[[], bool] | None = None) -> tuple[int, bool]:
        """A new isolated world in the tab's current document: its execution context id, and whether it
        is the one asked for as the page's navigation committed (its answer came while the page loaded:
        no round trip now).  That one is used only if the tab has not started another navigation since."""
        prepared, self.world = self.world, None
        if prepared is not None and prepared[1] == self.navigations:
            try:
                answer = self.cdp.kept_answer(
                    prepared[0], "Page.createIsolatedWorld", timeout=deadline - time.monotonic(),
                    cancel=self.scope().cancel, probe=self.probe, interrupted=interrupted,
                )  # fmt: skip
                return int(answer["executionContextId"]), True
            except CdpCancelled:
                raise _gone() from None
            except CdpError:
                pass  # its document had gone already
        elif prepared is not None:
            self.cdp.forget(prepared[0])
        world = self.command("Page.createIsolatedWorld", self.world_params(), deadline, interrupted=interrupted)
        return int(world["executionContextId"]), False

    # ------------------------------------------------------------------ pictures

    def screenshot(self, params: dict[str, Any], deadline: float) -> bytes:
        """``Page.captureScreenshot`` with ``params``.  A page that navigates itself to another site
        right after loading (a script or meta refresh) lands while the screenshot runs;
        Page.captureScreenshot then never answers, or fails.  So the wait ends as soon as the tab starts
        another navigation, the service waits (briefly) for that page to load and takes its picture
        instead; the last try is not interrupted."""
        for _ in range(LEAVE_RETRIES):
            navigations, loads = self.navigations, self.loads

            def leaving(before: int = navigations) -> bool:  # the tab started another navigation
                return self.navigations > before

            try:
                return self._screenshot_once(params, deadline, leaving)
            except (CdpError, CdpInterrupted) as exc:
                log.debug("tab %s: the page navigated during the screenshot (%s)", self.target, exc)
            try:
                self.wait_for_load(loads, min(deadline, time.monotonic() + LEAVE_WAIT))
            except CdpTimeout:
                pass  # still loading: take whatever the tab shows
        return self._screenshot_once(params, deadline)

    def _screenshot_once(
        self, params: dict[str, Any], deadline: float, interrupted: Callable[[], bool] | None = None
    ) -> bytes:
        shot = self.command("Page.captureScreenshot", params, deadline, interrupted=interrupted)
        return base64.b64decode(shot["data"])


class TabHost(Protocol):
    """What an isolation mode needs of the browser session (``service/browsers/session.py``)."""

    cdp: CdpConnection
    tab: Tab | None
    scope: CaptureScope

    def attach(self, target: str, deadline: float) -> Tab:
        """Make ``target`` (a tab) the one captures run in."""

    def detach(self) -> None:
        """Forget the tab (the isolation mode closed it)."""

    def browser_command(self, method: str, params: dict[str, Any], deadline: float) -> dict[str, Any]:
        """A command to the browser, within ``deadline``."""
