"""What a capture makes the page believe about where, when and on what it runs, and the deterministic
mode: the tab's overrides for the emulation options (``service/option_emulation.py``), each with the
command that puts the service's default back.

Every tab starts with the service's defaults (``tab_defaults``: SNAPSHOT_DEFAULT_TIMEZONE and
SNAPSHOT_DEFAULT_LOCALE), set when it is attached, so a page sees the same time zone and language on
the Grid's nodes and next to the service, whatever their machines are set to.

The deterministic mode replaces the page's clock and randomness before any of its scripts runs
(``FREEZE``, in every frame of the tab's process): ``Date`` shows ``freeze_time`` and, like
``performance.now()`` and ``requestAnimationFrame``'s timestamps, advances one millisecond per reading,
never with the wall clock; ``Math.random()`` and ``crypto.getRandomValues()`` are a PRNG seeded by that
instant.  After the load every animation is finished (an endless one paused at its start), transitions
are off and the caret hidden (``SETTLE``), and web fonts are waited for.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from service.option_emulation import freeze_instant
from service.params import CaptureRequest

Call = tuple[str, dict[str, Any]]

DETERMINISTIC_CSS = (
    "*, *::before, *::after { transition: none !important; caret-color: transparent !important; "
    "scroll-behavior: auto !important; }\n"
)
FREEZE = """(() => {
  const FROZEN = __FROZEN__;
  let virtual = 0;
  const tick = () => (virtual += 1);
  const RealDate = Date;
  function FrozenDate(...args) {
    if (!new.target) return new RealDate(FROZEN + tick()).toString();
    return args.length ? new RealDate(...args) : new RealDate(FROZEN + tick());
  }
  Object.setPrototypeOf(FrozenDate, RealDate);
  FrozenDate.prototype = RealDate.prototype;
  FrozenDate.now = () => FROZEN + tick();
  globalThis.Date = FrozenDate;
  Performance.prototype.now = function () { return tick(); };
  let seed = FROZEN % 4294967296 >>> 0;
  const random = () => {
    seed = (seed + 0x6d2b79f5) >>> 0;
    let t = Math.imul(seed ^ (seed >>> 15), seed | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  Math.random = random;
  if (globalThis.crypto) {
    Crypto.prototype.getRandomValues = function (array) {
      const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
      for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(random() * 256);
      return array;
    };
    Crypto.prototype.randomUUID = function () {
      const b = this.getRandomValues(new Uint8Array(16));
      b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
      const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
      return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
    };
  }
  const frame = globalThis.requestAnimationFrame;
  if (frame) globalThis.requestAnimationFrame = (callback) => frame.call(globalThis, () => callback(tick()));
})();"""
# after the load: every animation at its end (an endless one paused at its start), then two frames
SETTLE = """async () => {
  for (const a of document.getAnimations()) {
    try { a.finish(); } catch (e) { a.pause(); a.currentTime = 0; }
  }
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
}"""


@dataclass(frozen=True)
class Defaults:
    """What a page sees when its capture names no time zone or locale (the service's settings)."""

    timezone: str = "UTC"
    locale: str = "en-US"


def _locale(locale: str) -> list[Call]:
    """The locale override, replaced: Chromium refuses a second one while another is in effect."""
    return [("Emulation.setLocaleOverride", {}), ("Emulation.setLocaleOverride", {"locale": locale})]


def tab_defaults(defaults: Defaults) -> list[Call]:
    """A new tab's time zone and locale: the service's, the same on every backend."""
    return [
        ("Emulation.setTimezoneOverride", {"timezoneId": defaults.timezone}),
        *_locale(defaults.locale),
        ("Emulation.setUserAgentOverride", {"userAgent": "", "acceptLanguage": defaults.locale}),
    ]


def overrides(request: CaptureRequest, defaults: Defaults) -> list[tuple[str, list[Call], list[Call]]]:
    """(what, its commands, the commands that undo them) for each emulation the request asks for; a script's
    undo is made from its identifier when it is added."""
    o, device = request.options, request.device
    out: list[tuple[str, list[Call], list[Call]]] = []

    def change(what: str, call: Call, undo: Call | None) -> None:
        out.append((what, [call], [undo] if undo is not None else []))

    user_agent = o.user_agent or (device.user_agent if device is not None else None)
    if user_agent or o.locale:  # Accept-Language and navigator.language(s) go with the user agent's override
        params = {"userAgent": user_agent or "", "acceptLanguage": o.locale or defaults.locale}
        change("user_agent", ("Emulation.setUserAgentOverride", params),
               ("Emulation.setUserAgentOverride", {"userAgent": "", "acceptLanguage": defaults.locale}))  # fmt: skip
    if o.locale:
        out.append(("locale", _locale(o.locale), _locale(defaults.locale)))
    if o.timezone:
        change("timezone", ("Emulation.setTimezoneOverride", {"timezoneId": o.timezone}),
               ("Emulation.setTimezoneOverride", {"timezoneId": defaults.timezone}))  # fmt: skip
    if o.latitude is not None and o.longitude is not None:
        position = {"latitude": o.latitude, "longitude": o.longitude, "accuracy": o.accuracy or 10.0}
        change(
            "geolocation", ("Emulation.setGeolocationOverride", position), ("Emulation.clearGeolocationOverride", {})
        )
    if request.touch:
        change("touch", ("Emulation.setTouchEmulationEnabled", {"enabled": True, "maxTouchPoints": 5}),
               ("Emulation.setTouchEmulationEnabled", {"enabled": False}))  # fmt: skip
    if not o.javascript:  # the service's own steps still run (they are DevTools evaluations)
        change("javascript", ("Emulation.setScriptExecutionDisabled", {"value": True}),
               ("Emulation.setScriptExecutionDisabled", {"value": False}))  # fmt: skip
    if o.deterministic:
        source = FREEZE.replace("__FROZEN__", json.dumps(freeze_instant(o.freeze_time)))
        change("deterministic", ("Page.addScriptToEvaluateOnNewDocument", {"source": source}), None)
        # focused, whatever the browser's window is: focus rings and :focus styles do not depend on it
        change("focus", ("Emulation.setFocusEmulationEnabled", {"enabled": True}),
               ("Emulation.setFocusEmulationEnabled", {"enabled": False}))  # fmt: skip
    return out


def permission(origin: str, context: str | None) -> tuple[Call, Call]:
    """Geolocation granted to the page's origin in the tab's browser context, and how it is taken back."""
    where = {"browserContextId": context} if context else {}
    grant = {"permissions": ["geolocation"], "origin": origin, **where}
    return ("Browser.grantPermissions", grant), ("Browser.resetPermissions", where)
