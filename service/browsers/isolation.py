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
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from service.browsers.cdp import CdpTimeout
from service.errors import BackendUnavailable

if TYPE_CHECKING:
    from service.browsers.session import BrowserSession

_CLEANUP_TIMEOUT = 5.0
# What a reset clears for every origin the page touched (Storage.clearDataForOrigin; "local_storage"
# covers the tab's sessionStorage too, which test_isolation checks).  Cookies are
# deleted browser-wide separately; "all" would add the GPU shader cache (not page data) and costs three
# times as much CPU per reset here.
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
    def begin(self, session: BrowserSession, deadline: float) -> None:
        """Give the capture about to run its tab (attached as ``session.tab_session``)."""

    def end(self, session: BrowserSession) -> None:
        """Remove every trace of the capture; raise if that failed."""


def _clean(
    session: BrowserSession, method: str, params: dict[str, Any], *, tab: bool = True, timeout: float = _CLEANUP_TIMEOUT
) -> dict[str, Any]:
    return session.command(method, params, time.monotonic() + timeout, tab=tab)


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` of an http(s) URL (credentials in it left out), else None."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    try:
        port = parts.port
    except ValueError:
        return None
    return f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")


def has_credentials(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and "@" in parts.netloc


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

    def begin(self, session: BrowserSession, deadline: float) -> None:
        if session.tab_session is not None:
            return
        targets = session.command("Target.getTargets", {}, deadline, tab=False)["targetInfos"]
        pages = [t for t in targets if t["type"] == "page"]
        if not pages:
            raise BackendUnavailable("the browser has no tab")
        session.attach(pages[0]["targetId"], deadline)

    def end(self, session: BrowserSession) -> None:
        if session.tab_session is None:
            return
        if session.crashed:
            raise BackendUnavailable("the browser tab crashed")
        if session.credentials_seen:
            # the browser keeps them in its HTTP auth cache, which no DevTools command clears: a new browser
            raise BackendUnavailable("the page navigated to a URL with credentials")
        origins: set[str] = set(session.seen_origins)  # every origin a frame or worker had during the capture
        if session.settled:  # both in one round trip
            found, tree = session.cdp.batch(
                [("Target.getTargets", {}, None), ("Page.getFrameTree", {}, session.tab_session)],
                timeout=_CLEANUP_TIMEOUT,
            )
            _frame_origins(tree["frameTree"], origins)
        else:
            found = _clean(session, "Target.getTargets", {}, tab=False)
            try:
                _frame_origins(_clean(session, "Page.getFrameTree", {}, timeout=1.0)["frameTree"], origins)
            except CdpTimeout:
                # the tab's renderer does not answer while a navigation of its main frame is pending
                # (nothing of the new page has run then) or while a script of a half-loaded page is stuck
                pass
        targets = found["targetInfos"]
        for target in targets:  # our tab, the windows it opened, its out-of-process frames, workers
            _add_origin(target.get("url", ""), origins)
        if not session.settled:
            # a navigation was still running (client gone, or a deadline): scripts in a half-loaded page
            # would stall; the tab goes instead, and its sessionStorage with it
            # (in the browser's default profile: CDP cannot open a tab in the incognito one it did not create)
            tab = _clean(session, "Target.createTarget", {"url": "about:blank"}, tab=False)
            session.attach(tab["targetId"], time.monotonic() + _CLEANUP_TIMEOUT)
        for target in targets:
            if target["type"] == "page" and target["targetId"] != session.target:  # popups (or the abandoned tab)
                _clean(session, "Target.closeTarget", {"targetId": target["targetId"]}, tab=False)
        if session.settled:
            loads = session.loads
            _clean(session, "Page.navigate", {"url": "about:blank"})
            # the page is unloaded once about:blank has loaded: its pagehide and unload handlers have run
            # and their writes reached the browser, its timers and workers are gone; clearing comes after
            session.cdp.wait("about:blank", lambda: session.loads > loads, timeout=_CLEANUP_TIMEOUT)
        # the HTTP cache is the browser's, not an origin's: what one capture fetched would otherwise load
        # faster (and without a request) in the next
        tab_session = session.tab_session
        session.cdp.batch(
            # the overrides the capture's options set (user agent, media, request interception...)
            [(method, params, tab_session) for method, params in session.undo_options()]
            + [("Network.clearBrowserCookies", {}, tab_session)]  # the tab's profile's, every site's
            # (storage is cleared through the tab: on the Grid's se:cdp connection the browser-level call fails)
            + [
                ("Storage.clearDataForOrigin", {"origin": origin, "storageTypes": STORAGE_TYPES}, tab_session)
                for origin in sorted(origins)
            ]
            + [("Network.clearBrowserCache", {}, tab_session)],
            timeout=_CLEANUP_TIMEOUT,
        )
        session.seen_origins.clear()


class ContextIsolation:
    """A new browser context (a fresh incognito profile) for every capture, disposed of after it."""

    def __init__(self) -> None:
        self._context: str | None = None

    def begin(self, session: BrowserSession, deadline: float) -> None:
        created = session.command("Target.createBrowserContext", {"disposeOnDetach": True}, deadline, tab=False)
        self._context = created["browserContextId"]
        tab = session.command(
            "Target.createTarget", {"url": "about:blank", "browserContextId": self._context}, deadline, tab=False
        )
        session.attach(tab["targetId"], deadline)

    def end(self, session: BrowserSession) -> None:
        session.undo_options()  # they go with the context's tab
        if self._context is not None:
            _clean(session, "Target.disposeBrowserContext", {"browserContextId": self._context}, tab=False)
        self._context = None
        session.detach()


# the modes SNAPSHOT_ISOLATION accepts, and what each is
ISOLATIONS: dict[str, type[ResetIsolation] | type[ContextIsolation]] = {
    "reset": ResetIsolation,
    "context": ContextIsolation,
}
