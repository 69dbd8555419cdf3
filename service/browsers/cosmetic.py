"""Element hiding of the filter lists (``block_ads``, ``block_trackers``), in every frame of the page.

Once the page has loaded, each frame - of the tab and of every cross-site iframe attached for the
capture - reports the classes and ids its document uses, from an isolated world of its own (the page's
scripts neither see nor can fake the question).  The engine answers with the selectors its cosmetic
rules hide for that frame's URL and those classes and ids (``service/filters.py``), and the frame gets
them as a constructed style sheet: not an inline ``<style>``, which a page's Content-Security-Policy
could refuse.  A frame that went away meanwhile is skipped; hiding never fails a capture.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Any

from service.browsers.cdp import CdpError, CdpTimeout
from service.browsers.scope import CaptureScope
from service.browsers.tab import Tab
from service.filters import MAX_SELECTOR_INPUT, Filters

log = logging.getLogger("snapshot.browser")

_WORLD = "snapshot-cosmetic"
_STEP_TIMEOUT = 2.0  # seconds each round trip of a frame's session gets
_COLLECT = f"""(() => {{
  const classes = new Set(), ids = new Set();
  for (const element of document.querySelectorAll('[class],[id]')) {{
    if (element.id) ids.add(element.id);
    for (const name of element.classList) classes.add(name);
    if (classes.size > {MAX_SELECTOR_INPUT} && ids.size > {MAX_SELECTOR_INPUT}) break;
  }}
  return {{url: location.href, classes: [...classes].slice(0, {MAX_SELECTOR_INPUT}),
          ids: [...ids].slice(0, {MAX_SELECTOR_INPUT})}};
}})()"""
_ADOPT = """(css => {
  const sheet = new CSSStyleSheet();
  sheet.replaceSync(css);
  document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];
  return true;
})"""


def _frames(tree: dict[str, Any]) -> Iterator[str]:
    yield tree["frame"]["id"]
    for child in tree.get("childFrames") or []:
        yield from _frames(child)


def hide(tab: Tab, scope: CaptureScope, filters: Filters, categories: tuple[str, ...], deadline: float) -> int:
    """Apply the lists' element hiding to every frame; how many frames got a style sheet."""
    styled = 0
    for session in [tab.session, *sorted(scope.frame_sessions)]:
        try:
            styled += _hide_in(tab, session, filters, categories, deadline)
        except (CdpError, CdpTimeout) as exc:  # a frame that detached, a page that navigated away
            log.debug("tab %s: no element hiding in session %s (%s)", tab.target, session, exc)
    return styled


def _hide_in(tab: Tab, session: str, filters: Filters, categories: tuple[str, ...], deadline: float) -> int:
    def batch(calls: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
        timeout = min(_STEP_TIMEOUT, deadline - time.monotonic())
        return tab.cdp.batch([(method, params, session) for method, params in calls], timeout=timeout)

    tree = batch([("Page.getFrameTree", {})])[0]["frameTree"]
    worlds = batch([("Page.createIsolatedWorld", {"frameId": f, "worldName": _WORLD}) for f in _frames(tree)])
    contexts = [world["executionContextId"] for world in worlds]
    found = batch(
        [("Runtime.evaluate", {"expression": _COLLECT, "contextId": c, "returnByValue": True}) for c in contexts]
    )
    adopt = []
    for context, answer in zip(contexts, found, strict=True):
        frame = answer.get("result", {}).get("value") or {}
        css = filters.hiding_css(categories, str(frame.get("url", "")), frame.get("classes", []), frame.get("ids", []))
        if css:
            expression = f"{_ADOPT}({json.dumps(css)})"
            adopt.append(("Runtime.evaluate", {"expression": expression, "contextId": context, "returnByValue": True}))
    if adopt:
        batch(adopt)
    return len(adopt)
