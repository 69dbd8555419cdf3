"""What keeps one capture from seeing another in the same browser session (``SNAPSHOT_ISOLATION``).

- ``reset`` (default): captures reuse one tab; after each capture (off the response's path) extra
  windows are closed, the tab sent to about:blank (the page unloads), then every cookie deleted, all
  storage (local and session storage, IndexedDB, Cache Storage, service workers...) of every origin
  the page had frames, windows or workers from at any time during the capture cleared (also those it
  navigated away from), and the HTTP cache emptied.  A page that navigated to a URL with credentials
  filled the browser's HTTP auth cache, which nothing clears but a new browser: its session is replaced.
- ``context``: every capture runs in a new browser context (like a fresh incognito profile) that is
  removed afterwards: the strongest isolation, at several times the CPU cost per capture.

An isolation mode belongs to one session: ``begin`` gives the capture its tab, ``end`` removes every
trace of the capture and raises if it could not (the session is then replaced).
"""

from __future__ import annotations

import time
from typing import Any, Protocol

from service.browsers import steps
from service.browsers.cdp import CdpTimeout
from service.browsers.scope import origin_of
from service.browsers.tab import Tab, TabHost
from service.errors import BackendUnavailable

_CLEANUP_TIMEOUT = 5.0
# What a reset clears for every origin the page touched (Storage.clearDataForOrigin; "local_storage"
# covers the tab's sessionStorage too, which test_isolation checks).  Cookies are
# deleted browser-wide separately; "all" would add the GPU shader cache (not page data) at several times
# the CPU per reset.
STORAGE_TYPES = ",".join(
    (
        "local_storage",
        "indexeddb",
        "cache_storage",
        "service_workers",
        "file_systems",
        "websql",
        "interest_groups",
        "shared_storage",
        "storage_buckets",
    )
)


class Isolation(Protocol):
    def begin(self, host: TabHost, deadline: float) -> Tab:
        """The tab the capture about to run gets."""

    def end(self, host: TabHost) -> None:
        """Remove every trace of the capture; raise if that failed."""


def _soon() -> float:
    return time.monotonic() + _CLEANUP_TIMEOUT


def _add_origin(url: str, into: set[str]) -> None:
    origin = origin_of(url)
    if origin is not None:
        into.add(origin)


def _frame_origins(tree: dict[str, Any], into: set[str]) -> set[str]:
    """Origins of every frame in a CDP frame tree (Page.getFrameTree)."""
    _add_origin(tree.get("frame", {}).get("url", ""), into)
    for child in tree.get("childFrames") or []:
        _frame_origins(child, into)
    return into


class ResetIsolation:
    """One tab for every capture, emptied after each."""

    def begin(self, host: TabHost, deadline: float) -> Tab:
        if host.tab is not None:
            return host.tab
        targets = host.browser_command("Target.getTargets", {}, deadline)["targetInfos"]
        pages = [t for t in targets if t["type"] == "page"]
        if not pages:
            raise BackendUnavailable("the browser has no tab")
        return host.attach(pages[0]["targetId"], deadline)

    def end(self, host: TabHost) -> None:
        tab, scope = host.tab, host.scope
        if tab is None:
            return
        if tab.crashed:
            raise BackendUnavailable("the browser tab crashed")
        if scope.credentials_seen:
            # the browser keeps them in its HTTP auth cache, which no DevTools command clears: a new browser
            raise BackendUnavailable("the page navigated to a URL with credentials")
        origins: set[str] = set(scope.seen_origins)  # every origin a frame or worker had during the capture
        if tab.settled:  # both in one round trip
            found, tree = host.cdp.batch(
                [("Target.getTargets", {}, None), ("Page.getFrameTree", {}, tab.session)], timeout=_CLEANUP_TIMEOUT
            )
            _frame_origins(tree["frameTree"], origins)
        else:
            found = host.browser_command("Target.getTargets", {}, _soon())
            try:
                _frame_origins(tab.command("Page.getFrameTree", {}, time.monotonic() + 1.0)["frameTree"], origins)
            except CdpTimeout:
                # the tab's renderer does not answer while a navigation of its main frame is pending
                # (nothing of the new page has run then) or while a script of a half-loaded page is stuck
                pass
        targets = found["targetInfos"]
        for target in targets:  # our tab, the windows it opened, its out-of-process frames, workers
            _add_origin(target.get("url", ""), origins)
        if not tab.settled:
            # a navigation was still running (client gone, or a deadline): scripts in a half-loaded page
            # would stall; the tab goes instead, and its sessionStorage with it
            # (in the browser's default profile: CDP cannot open a tab in the incognito one it did not create)
            fresh = host.browser_command("Target.createTarget", {"url": "about:blank"}, _soon())
            tab = host.attach(fresh["targetId"], _soon())
        for target in targets:
            if target["type"] == "page" and target["targetId"] != tab.target:  # popups (or the abandoned tab)
                host.browser_command("Target.closeTarget", {"targetId": target["targetId"]}, _soon())
        if tab.settled:
            loads = tab.loads
            tab.command("Page.navigate", {"url": "about:blank"}, _soon())
            # the page is unloaded once about:blank has loaded: its pagehide and unload handlers have run
            # and their writes reached the browser, its timers and workers are gone; clearing comes after
            host.cdp.wait("about:blank", lambda: tab.loads > loads, timeout=_CLEANUP_TIMEOUT)
        # the HTTP cache is the browser's, not an origin's: what one capture fetched would otherwise load
        # faster (and without a request) in the next
        tab.batch(
            # the overrides the capture's options set (user agent, media, request interception...)
            steps.undo(scope)
            + [("Network.clearBrowserCookies", {})]  # the tab's profile's, every site's
            # (storage is cleared through the tab: on the Grid's se:cdp connection the browser-level call fails)
            + [
                ("Storage.clearDataForOrigin", {"origin": origin, "storageTypes": STORAGE_TYPES})
                for origin in sorted(origins)
            ]
            + [("Network.clearBrowserCache", {})],
            _soon(),
        )


class ContextIsolation:
    """A new browser context (a fresh incognito profile) for every capture, disposed of after it."""

    def __init__(self) -> None:
        self._context: str | None = None

    def begin(self, host: TabHost, deadline: float) -> Tab:
        created = host.browser_command("Target.createBrowserContext", {"disposeOnDetach": True}, deadline)
        self._context = created["browserContextId"]
        params = {"url": "about:blank", "browserContextId": self._context}
        tab = host.attach(host.browser_command("Target.createTarget", params, deadline)["targetId"], deadline)
        tab.context = self._context
        return tab

    def end(self, host: TabHost) -> None:
        steps.undo(host.scope)  # they go with the context's tab
        if self._context is not None:
            host.browser_command("Target.disposeBrowserContext", {"browserContextId": self._context}, _soon())
        self._context = None
        host.detach()


# the modes SNAPSHOT_ISOLATION accepts, and what each is
ISOLATIONS: dict[str, type[ResetIsolation] | type[ContextIsolation]] = {
    "reset": ResetIsolation,
    "context": ContextIsolation,
}
