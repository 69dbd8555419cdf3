"""Steps that run inside the page: what the service reads from it and changes in it.

The service's own snippets run in an isolated world (``Page.createIsolatedWorld``): they see the DOM,
but not the page's JavaScript, so a page cannot fake what they read by replacing built-ins.  The
``scripts`` option runs in the page's own world, since that is what its author wants to reach.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from markdownify import markdownify

from service.browsers.cdp import CdpError
from service.errors import InvalidRequest, OutputTooLarge, ScriptFailed, SelectorNotFound

if TYPE_CHECKING:
    from service.browsers.tab import Tab

FONTS_CAP_MS = 2000  # web fonts are waited for, at most this long

_VISIBLE = """
const visible = (el) => {
  const r = el.getBoundingClientRect(), s = getComputedStyle(el);
  return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none';
};
const first = (sel) => {
  for (const el of document.querySelectorAll(sel)) if (visible(el)) return el;
  return null;
};
"""
# what the page is once it has loaded (and its web fonts, within a cap)
_INFO = """async (fontsCap) => {
  try {
    await Promise.race([document.fonts.ready, new Promise((r) => setTimeout(r, fontsCap))]);
  } catch (e) {}
  const nav = performance.getEntriesByType('navigation')[0];
  const root = document.documentElement, body = document.body;
  return {url: location.href, status: (nav && nav.responseStatus) || 0, title: document.title,
          height: Math.max(root ? root.scrollHeight : 0, body ? body.scrollHeight : 0)};
}"""
_STYLE = """async (css) => {
  const style = document.createElement('style');
  style.textContent = css;
  (document.head || document.documentElement).appendChild(style);
  if (document.getAnimations) for (const a of document.getAnimations()) { try { a.finish(); } catch (e) {} }
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
}"""
_WAIT_FOR = (
    """(sel, timeoutMs) => new Promise((resolve, reject) => {"""
    + _VISIBLE
    + """
  const started = performance.now();
  const tick = () => {
    let found;
    try { found = first(sel); } catch (e) { reject(new Error('invalid selector')); return; }
    if (found) resolve(true);
    else if (performance.now() - started > timeoutMs) resolve(false);
    else setTimeout(tick, 50);
  };
  tick();
})"""
)
_RECT = (
    """(sel, scrollIntoView) => {"""
    + _VISIBLE
    + """
  let el;
  try { el = first(sel); } catch (e) { return 'invalid'; }
  if (!el) return null;
  if (scrollIntoView) el.scrollIntoView({block: 'center', inline: 'center'});
  const r = el.getBoundingClientRect();
  return {x: r.left + scrollX, y: r.top + scrollY, width: r.width, height: r.height,
          viewX: r.left + r.width / 2, viewY: r.top + r.height / 2};
}"""
)
_SCROLL = """async (step, delay, maxHeight, budgetMs, imagesCapMs, hints) => {
  const started = performance.now();
  const left = () => budgetMs - (performance.now() - started);
  const height = () => Math.max(document.documentElement.scrollHeight, document.body ? document.body.scrollHeight : 0);
  const frame = () => new Promise((r) => requestAnimationFrame(() => r()));
  // images loading in or near the viewport (a lazy one further down has not started: it is not waited for)
  const near = (i) => {
    const r = i.getBoundingClientRect();
    return r.bottom > -innerHeight && r.top < 2 * innerHeight;
  };
  const loading = () => [...document.images].filter((i) => !i.complete && near(i));
  const finished = () => performance.getEntriesByType('resource').length;
  const wait = (ms) => new Promise((r) => setTimeout(r, Math.min(ms, Math.max(0, left()))));
  // the images loading near the viewport loaded (or failed), within the cap
  const loaded = () => Promise.race([wait(imagesCapMs), Promise.all(loading().map((i) => new Promise((r) => {
    i.addEventListener('load', r, {once: true});
    i.addEventListener('error', r, {once: true});
  })))]);
  // what could load on scroll: native lazy images and frames, and the page's own watchers (IntersectionObserver,
  // scroll listeners: counted in its world as it loaded, see LAZY_WATCH); without any, nothing will
  const lazy = hints > 0 || document.querySelector('img[loading=lazy], iframe[loading=lazy]') !== null;
  let y = 0, steps = 0;
  while (lazy && y + innerHeight < Math.min(height(), maxHeight) && left() > 0) {
    let seen = finished(), tall = height();
    y += step;
    scrollTo(0, y);
    steps++;
    await frame();  // observers' callbacks and lazy images start with the next rendering
    // no fixed pause: the next step comes as soon as what this one started has settled
    while (left() > 0 && (loading().length || finished() !== seen || height() !== tall)) {
      seen = finished();
      tall = height();
      await loaded();
      await frame();
    }
    if (delay) await wait(delay);
  }
  if (steps) {
    scrollTo(0, 0);
    await loaded();
    await frame();
    await frame();
  }
  return {height: height(), steps: steps};
}"""
# run in the page's own world before its scripts (full pages with the lazy-content scroll): counts what would make
# content load on scroll, read by _SCROLL's caller.  It wraps two built-ins and changes nothing else.
LAZY_WATCH = """(() => {
  let seen = 0;
  const IO = window.IntersectionObserver;
  if (IO) {
    const observe = IO.prototype.observe;
    IO.prototype.observe = function () { seen++; return observe.apply(this, arguments); };
  }
  const add = EventTarget.prototype.addEventListener;
  EventTarget.prototype.addEventListener = function (type) {
    if (type === 'scroll' || type === 'wheel') seen++;
    return add.apply(this, arguments);
  };
  Object.defineProperty(window, Symbol.for('snapshot.lazy'), {get: () => seen + (window.onscroll ? 1 : 0)});
})();"""
_LAZY_HINTS = "() => { try { return Number(window[Symbol.for('snapshot.lazy')]) || 0; } catch (e) { return 1; } }"
# the page's content (/create_content), read from the DOM as it is now; Markdown is made from the HTML
_CONTENT = """(format, maxLength) => {
  const root = document.documentElement;
  let out;
  if (format === 'text') {
    out = (document.body || root).innerText;
  } else {
    const copy = root.cloneNode(true);
    if (format === 'markdown') {
      for (const el of copy.querySelectorAll('head, script, style, noscript, template')) el.remove();
    }
    const type = document.doctype;
    const doctype = format === 'html' && type ? new XMLSerializer().serializeToString(type) + '\\n' : '';
    out = doctype + copy.outerHTML;
  }
  return out.length > maxLength ? {tooLong: out.length} : out;
}"""
DISABLE_ANIMATIONS_CSS = (
    "*, *::before, *::after { animation: none !important; transition: none !important; "
    "caret-color: transparent !important; scroll-behavior: auto !important; }\n"
)


@dataclass(frozen=True)
class PageInfo:
    """What the loaded page says about itself (``X-Snapshot-*`` headers, metadata)."""

    final_url: str = ""
    http_status: int = 0  # 0: unknown (e.g. a page that replaced its document)
    title: str = ""
    height: int = 0  # CSS pixels
    blocked: dict[str, int] = field(default_factory=dict)  # requests blocked, by rules or filter list
    console: tuple[dict[str, str], ...] | None = None  # what the page said, with metadata=true (diagnostics.py)
    failed_requests: tuple[dict[str, Any], ...] | None = None


class Page:
    """The snippets of one capture, run in its own isolated world of the tab's current document."""

    def __init__(self, tab: Tab, deadline: float, interrupted: Callable[[], bool] | None = None) -> None:
        self.tab = tab
        self.deadline = deadline
        self.interrupted = interrupted  # ends a wait early (the page started leaving)
        self.context, self._prepared = tab.isolated_world(deadline, interrupted)

    def call(self, function: str, *args: Any, deadline: float | None = None, main_world: bool = False) -> Any:
        expression = f"({function})({', '.join(json.dumps(a) for a in args)})"
        params: dict[str, Any] = {"expression": expression, "returnByValue": True, "awaitPromise": True}
        if not main_world:
            params["contextId"] = self.context
        until = deadline or self.deadline
        try:
            result = self.tab.command("Runtime.evaluate", params, until, interrupted=self.interrupted)
        except CdpError:
            if main_world or not self._prepared:
                raise
            # the world made as the page committed did not outlive its document: a new one, once
            self.context, self._prepared = self.tab.isolated_world(until, self.interrupted)
            params["contextId"] = self.context
            result = self.tab.command("Runtime.evaluate", params, until, interrupted=self.interrupted)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = (details.get("exception") or {}).get("description") or details.get("text") or "an exception"
            raise ScriptFailed(str(text).splitlines()[0][:300])
        return result.get("result", {}).get("value")

    def info(self) -> PageInfo:
        cap = max(0, min(FONTS_CAP_MS, int(1000 * (self.deadline - time.monotonic()) - 500)))
        value = self.call(_INFO, cap)
        if not isinstance(value, dict):
            return PageInfo()
        return PageInfo(
            final_url=str(value.get("url", ""))[:2048],
            http_status=int(value.get("status") or 0),
            title=str(value.get("title", ""))[:512],
            height=int(value.get("height") or 0),
        )

    def add_style(self, css: str) -> None:
        self.call(_STYLE, css)

    def run_script(self, source: str) -> None:
        """A ``scripts`` item, in the page's own world; a promise it returns is awaited."""
        self.call(f"async () => {{ {source}\n}}", main_world=True)

    def wait_for_selector(self, selector: str, until: float) -> bool:
        """Whether a visible element matches before ``until``."""
        try:
            return bool(self.call(_WAIT_FOR, selector, max(0, int(1000 * (until - time.monotonic())))))
        except ScriptFailed:
            raise _invalid_selector("wait_for_selector") from None

    def rect(self, selector: str, option: str, *, scroll_into_view: bool = False) -> dict[str, float]:
        found = self.call(_RECT, selector, scroll_into_view)
        if found == "invalid":
            raise _invalid_selector(option)
        if not isinstance(found, dict):
            raise SelectorNotFound(f"no visible element matches {option}={selector!r}")
        return {k: float(v) for k, v in found.items()}

    def scroll_through(self, step: int, delay_ms: int, max_height: int, budget_ms: int) -> int:
        """Scroll down the page step by step so that lazy content loads, each step as soon as what the last one
        started has settled (then ``delay_ms`` more), then back to the top; nothing when nothing on the page
        would load on scroll (``LAZY_WATCH``).  The steps taken."""
        hints = self.call(_LAZY_HINTS, main_world=True)  # the page's world: it may lie, about its own capture only
        found = self.call(_SCROLL, step, delay_ms, max_height, budget_ms, min(2000, budget_ms), hints)
        return int(found.get("steps", 0)) if isinstance(found, dict) else 0


def content(page: Page, format: str, max_bytes: int) -> bytes:
    """The page's content as ``format`` (html, text or markdown), UTF-8; OutputTooLarge beyond ``max_bytes``."""
    found = page.call(_CONTENT, format, max_bytes)
    if not isinstance(found, str):
        raise OutputTooLarge(f"the page's {format} is more than the {max_bytes} bytes allowed")
    if format == "markdown":
        found = markdownify(found, heading_style="ATX", bullets="-", strip=["script", "style"]).strip() + "\n"
    return found.encode("utf-8", "replace")


def _invalid_selector(option: str) -> InvalidRequest:
    return InvalidRequest(
        f"{option} is not a valid CSS selector",
        code="invalid_options",
        details=[{"parameter": option, "message": "is not a valid CSS selector"}],
    )
