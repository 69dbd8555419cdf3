"""The steps a capture's options add, before the page loads (``prepare``: overrides of the tab) and
after (``after_load``: waits and page changes), and how each override is undone (``UNDO``).

Without options neither adds a command but the page's description (``Page.info``): a capture with no
options is what it always was.  Everything ``prepare`` sets up lives in the capture's ``CaptureScope``
(what it changed in the tab is ``scope.changed``, undone by the isolation mode before the session serves
another capture); the functions here take the ``Tab`` and that scope, never the session.
"""

from __future__ import annotations

import base64
import logging
import time
from typing import Any

from service import tracing
from service.browsers import cosmetic, emulation, fetch
from service.browsers.cdp import CdpError, CdpInterrupted, CdpTimeout
from service.browsers.consent import BINDING, ConsentRules, ConsentTracker, frame_setup
from service.browsers.diagnostics import Diagnostics
from service.browsers.emulation import Call, Defaults
from service.browsers.network import RequestRules
from service.browsers.page import DISABLE_ANIMATIONS_CSS, LAZY_WATCH, Page, PageInfo
from service.browsers.scope import CaptureScope, origin_of
from service.browsers.shots import OutputSettings
from service.browsers.tab import LEAVE_WAIT, Tab
from service.cookies import cookie_params
from service.errors import BackendUnavailable, CaptureTimeout, ScriptFailed, TargetHttpError
from service.filters import Filters
from service.options import Endpoint
from service.params import CaptureRequest
from service.tenants import PROXY_AUTH_URL

# what prepare may change in a tab, and the commands that put it back (the emulations' come with them,
# emulation.overrides; a script added is removed by its identifier; cookies go with every reset)
UNDO: dict[str, list[Call]] = {
    "media": [("Emulation.setEmulatedMedia", {"media": "", "features": []})],
    "background": [("Emulation.setDefaultBackgroundColorOverride", {})],
    "bypass_csp": [("Page.setBypassCSP", {"enabled": False})],
    "lifecycle": [("Page.setLifecycleEventsEnabled", {"enabled": False})],
    "fetch": [("Fetch.disable", {})],
    "frames": [("Target.setAutoAttach", {"autoAttach": False, "waitForDebuggerOnStart": False})],
    "runtime": [("Runtime.disable", {})],
    "network": [("Network.disable", {})],
    "consent": [("Runtime.removeBinding", {"name": BINDING}), ("Runtime.disable", {})],
}
# cross-site iframes run in their own targets: request rules and consent rules reach them as they
# attach, each paused until it has them
_AUTO_ATTACH = {"autoAttach": True, "waitForDebuggerOnStart": True, "flatten": True, "filter": [{"type": "iframe"}]}
_DIAGNOSTICS = {"maxTotalBufferSize": 1 << 20, "maxResourceBufferSize": 1 << 16, "maxPostDataSize": 0}
_CLICK_NAVIGATION_WAIT = 0.5  # seconds a click is given to start a navigation
CONSENT_WAIT = 5.0  # seconds after the load autoconsent gets to deal with consent popups, at most
log = logging.getLogger("snapshot.browser")


def prepare(
    tab: Tab,
    scope: CaptureScope,
    aids: tuple[ConsentRules | None, Filters | None, Defaults],
    request: CaptureRequest,
    deadline: float,
) -> None:
    """The tab's overrides for this capture, sent in one batch before the page loads (``aids``: the
    service's autoconsent rules and filter lists, when it has them, and its emulation defaults)."""
    o = request.options
    consent_rules, filters, defaults = aids
    calls: list[tuple[str, dict[str, Any]]] = []
    owners: list[str] = []  # what each call is for (a script's identifier is undone with it)

    def change(what: str, method: str, params: dict[str, Any], undo: list[Call] | None = None) -> None:
        calls.append((method, params))
        owners.append(what)
        scope.changed.setdefault(what, list(UNDO.get(what, []) if undo is None else undo))

    for what, commands, undone in emulation.overrides(request, defaults):
        for method, params in commands:
            change(what, method, params, undone)
    if o.latitude is not None:  # in the tab's own browser context (a tenant's, or SNAPSHOT_ISOLATION=context)
        (method, params), revoke = emulation.permission(origin_of(request.target.url) or "", tab.context)
        change("permissions", method, params, [revoke])
    if o.http_auth:
        user, _, password = o.http_auth.partition(":")
        scope.http_auth = (user, password, origin_of(request.target.url) or "")
    media = o.media_type or ("print" if request.endpoint is Endpoint.PDF else "")
    features = [
        *([{"name": "prefers-color-scheme", "value": "dark"}] if o.dark_mode else []),
        *([{"name": "prefers-reduced-motion", "value": "reduce"}] if o.reduced_motion else []),
    ]
    if media or features:
        change("media", "Emulation.setEmulatedMedia", {"media": media, "features": features})
    if o.omit_background:
        change("background", "Emulation.setDefaultBackgroundColorOverride", {"color": {"r": 0, "g": 0, "b": 0, "a": 0}})
    if o.styles or o.hide_selectors or o.disable_animations or o.scripts or o.deterministic:
        change("bypass_csp", "Page.setBypassCSP", {"enabled": True})  # the page's CSP would refuse them
    if o.full_page and o.full_page_scroll:  # whether anything on the page would load on scroll (page.LAZY_WATCH)
        change("lazy_watch", "Page.addScriptToEvaluateOnNewDocument", {"source": LAZY_WATCH})
    if o.wait_until in ("networkidle0", "networkidle2"):
        change("lifecycle", "Page.setLifecycleEventsEnabled", {"enabled": True})
    if o.metadata:  # what the page says: its console and its failed requests
        scope.said = Diagnostics()
        change("runtime", "Runtime.enable", {})
        change("network", "Network.enable", _DIAGNOSTICS)
    rules = RequestRules.of(request, filters)
    scope.reach = request.reach
    if request.document is not None:  # answered from here as the tab asks for it (service/documents.py)
        body, headers = request.document.served()
        scope.document = (base64.b64encode(body).decode(), headers)
    if rules is not None or scope.reach is not None or scope.document is not None or scope.http_auth is not None:
        scope.rules = rules
        change("fetch", "Fetch.enable", fetch.interception(scope))
    if o.block_cookie_banners and consent_rules is not None:
        scope.consent = ConsentTracker(consent_rules)
        for method, params in frame_setup(consent_rules):
            change("consent", method, params)
    if scope.rules is not None or scope.consent is not None or scope.reach is not None:
        change("frames", "Target.setAutoAttach", _AUTO_ATTACH)
    cookies = cookie_params(o.cookies, request.target.host, request.target.url)
    if cookies:  # removed by every reset with all other cookies
        change("cookies", "Network.setCookies", {"cookies": cookies})
    if calls:
        results = tab.batch(calls, deadline)
        for (method, _), owner, result in zip(calls, owners, results, strict=True):
            if method == "Page.addScriptToEvaluateOnNewDocument":
                remove = ("Page.removeScriptToEvaluateOnNewDocument", {"identifier": result["identifier"]})
                scope.changed[owner].append(remove)


def show_token(tab: Tab, scope: CaptureScope, deadline: float) -> None:
    """A capture with a proxy token answers the filtering proxy's challenge before its page loads: the
    browser then sends the token with each of the page's requests, also those it makes at once (the
    preload scanner's are never asked)."""
    if scope.reach is None:
        return
    expression = f"fetch({PROXY_AUTH_URL!r}, {{mode: 'no-cors', cache: 'no-store'}}).then(() => true, () => false)"
    answer = tab.command("Runtime.evaluate", {"expression": expression, "awaitPromise": True, "returnByValue": True},
                         deadline)  # fmt: skip
    if not answer.get("result", {}).get("value"):
        raise BackendUnavailable("the filtering proxy did not take the capture's credentials")


def undo(scope: CaptureScope) -> list[tuple[str, dict[str, Any]]]:
    """The commands that put back what ``prepare`` changed in the tab (the scope itself is dropped whole)."""
    return [call for what in sorted(scope.changed) for call in scope.changed[what]]


def on_frame_event(tab: Tab, scope: CaptureScope, source: str, method: str, params: dict[str, Any]) -> None:
    """Events of the tab and of the cross-site iframes attached for the options: paused requests,
    autoconsent's messages, new iframes (set up like the tab, then let go), what the page says."""
    if scope.said is not None and source == tab.session and method.startswith(("Runtime.", "Network.")):
        scope.said.on_event(method, params)
    if method == "Page.frameNavigated" and source == tab.session:
        frame = params["frame"]
        scope.frames[frame["id"]] = (frame.get("securityOrigin", ""), frame.get("parentId"))
    elif method == "Page.lifecycleEvent" and source == tab.session and params.get("frameId") == tab.target:
        name, loader = str(params.get("name")), str(params.get("loaderId"))
        if name == "init":
            scope.loader = loader
        scope.lifecycle[name] = loader
    elif method in ("Fetch.requestPaused", "Fetch.authRequired"):
        fetch.on_paused(tab, scope, source, method, params)
    elif method == "Runtime.bindingCalled" and scope.consent is not None and params.get("name") == BINDING:
        log.debug("tab %s: autoconsent says %s", tab.target, str(params.get("payload", ""))[:300])
        for command, command_params in scope.consent.handle(params.get("payload", ""), params["executionContextId"]):
            tab.send(command, command_params, source)
    elif method == "Target.attachedToTarget":
        child = params["sessionId"]
        if params.get("targetInfo", {}).get("type") == "iframe":
            scope.frame_sessions.add(child)
            setup = frame_setup(scope.consent.rules) if scope.consent is not None else []
            setup += [("Fetch.enable", fetch.interception(scope))] if "fetch" in scope.changed else []
            for command, command_params in [*setup, ("Target.setAutoAttach", _AUTO_ATTACH)]:
                tab.send(command, command_params, child)
        tab.send("Runtime.runIfWaitingForDebugger", {}, child)


def after_load(
    tab: Tab, scope: CaptureScope, output: OutputSettings, request: CaptureRequest, deadline: float, waits_end: float
) -> tuple[Page | None, PageInfo]:
    """Scripts, waits and page changes on the loaded page, in this order: cookie banners,  ``scripts``,
    ``wait_for_selector``, ``click``, ``hide_selectors`` / ``styles`` / ``disable_animations``,
    ``full_page_scroll``, ``delay``; then the page's description (after its web fonts, within a cap)."""
    o = request.options
    page: Page | None = None

    def current() -> Page:
        nonlocal page
        page = page or Page(tab, deadline)
        return page

    if scope.consent is not None:
        loaded_at, tracker = time.monotonic(), scope.consent
        try:
            tab.wait("cookie banners", lambda: tracker.finished(loaded_at), min(waits_end, loaded_at + CONSENT_WAIT))
        except CdpTimeout:
            pass  # what autoconsent could not finish in time stays (its prehiding included)
    for source in o.scripts:
        current().run_script(source)
    appeared = not o.wait_for_selector or current().wait_for_selector(o.wait_for_selector, waits_end)
    if not appeared and not o.best_attempt:
        raise CaptureTimeout(f"no visible element matched wait_for_selector={o.wait_for_selector!r} in time")
    if o.click:
        page = _click(tab, current(), o.click, deadline, waits_end)
    css = "".join(f"{selector} {{ display: none !important; }}\n" for selector in o.hide_selectors)
    css += "".join(f"{style}\n" for style in o.styles)
    css += DISABLE_ANIMATIONS_CSS if o.disable_animations else ""
    css += emulation.DETERMINISTIC_CSS if o.deterministic else ""
    if css:
        current().add_style(css)
    rules = scope.rules
    if rules is not None and rules.categories and rules.filters is not None:
        cosmetic.hide(tab, scope, rules.filters, rules.categories, min(deadline, waits_end))
    if o.full_page and o.full_page_scroll:
        budget = int(1000 * max(0.0, min(10.0, (waits_end - time.monotonic()) / 2)))
        limit = output.max_full_page_height
        max_height = min(o.full_page_max_height or limit, limit)
        steps = current().scroll_through(o.full_page_scroll_by or request.height, o.full_page_scroll_delay,
                                         max_height, budget)  # fmt: skip
        tracing.annotate({"snapshot.scroll_steps": steps})  # 0: nothing on the page loads on scroll
    if o.delay:
        tab.pause(min(o.delay / 1000, max(0.0, waits_end - time.monotonic())))
    if o.deterministic:  # what animated meanwhile is settled too
        current().call(emulation.SETTLE)
    page, info = describe(tab, page, deadline)
    if o.fail_on_http_error and info.http_status >= 400:
        raise TargetHttpError(f"the page answered HTTP {info.http_status}")
    return page, info


def describe(tab: Tab, page: Page | None, deadline: float) -> tuple[Page | None, PageInfo]:
    """The page's description.  A page that navigates itself elsewhere right after loading (a script
    or meta refresh) takes its document with it: then the page it went to is described, once loaded
    (briefly waited for); a page that keeps leaving is left undescribed (status 0)."""
    for _ in range(2):
        navigations, loads = tab.navigations, tab.loads

        def leaving(before: int = navigations) -> bool:
            return tab.navigations > before

        try:
            if page is None:
                page = Page(tab, deadline, leaving)
            page.interrupted = leaving
            info = page.info()
            page.interrupted = None
            return page, info
        except (CdpError, CdpInterrupted, ScriptFailed) as exc:
            if tab.navigations == navigations:
                raise
            log.debug("tab %s: the page navigated while it was described (%s)", tab.target, exc)
            page = None
        try:
            tab.wait_for_load(loads, min(deadline, time.monotonic() + LEAVE_WAIT))
        except CdpTimeout:
            pass
    return None, PageInfo()


def _click(tab: Tab, page: Page, selector: str, deadline: float, waits_end: float) -> Page:
    """A real mouse click in the middle of the element; if it starts a navigation, the page it leads
    to once loaded (in a new isolated world)."""
    rect = page.rect(selector, "click", scroll_into_view=True)
    navigations, loads = tab.navigations, tab.loads
    point = {"x": rect["viewX"], "y": rect["viewY"], "button": "left", "clickCount": 1}
    tab.command("Input.dispatchMouseEvent", {"type": "mousePressed", **point}, deadline)
    tab.command("Input.dispatchMouseEvent", {"type": "mouseReleased", **point}, deadline)
    try:
        tab.wait("a navigation", lambda: tab.navigations > navigations, time.monotonic() + _CLICK_NAVIGATION_WAIT)
    except CdpTimeout:
        return page
    tab.settled = False
    try:
        tab.wait_for_load(loads, waits_end)
    except CdpTimeout:
        return Page(tab, deadline)  # best attempt or not, the deadline decides what happens next
    tab.settled = True
    return Page(tab, deadline)
