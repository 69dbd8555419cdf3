"""The emulation options: what the page believes about where, when and on what it runs (time zone, locale,
position, device), whether its scripts run, its HTTP credentials, and deterministic captures.

They are fields of ``service.options.CaptureOptions`` like every option (a base class of it, kept apart
to keep each module readable); how the browser applies them is ``service/browsers/emulation.py``.
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime

from service.option_fields import Group, option

DEFAULT_FREEZE_TIME = "2024-01-01T12:00:00Z"  # deterministic=true without freeze_time: this instant


@dataclass(frozen=True)
class EmulationOptions:
    timezone: str | None = option(
        Group.EMULATION,
        None,
        "IANA time zone of Date and Intl (e.g. `Europe/Berlin`; default: SNAPSHOT_DEFAULT_TIMEZONE).",
    )
    locale: str | None = option(
        Group.EMULATION,
        None,
        "BCP 47 locale: navigator.language, Intl's default and Accept-Language (e.g. `de-DE`; default: "
        "SNAPSHOT_DEFAULT_LOCALE).",
    )
    latitude: float | None = option(
        Group.EMULATION,
        None,
        "What navigator.geolocation answers (with longitude; permission granted for the capture).",
        minimum=-90,
        maximum=90,
        unit="°",
    )
    longitude: float | None = option(Group.EMULATION, None, "With latitude.", minimum=-180, maximum=180, unit="°")
    accuracy: float | None = option(
        Group.EMULATION, None, "Accuracy of the position (default 10).", minimum=0, maximum=100000, unit="m"
    )
    device: str | None = option(
        Group.EMULATION,
        None,
        "A device of Playwright's registry (e.g. `iPhone 13`, `Pixel 7`): its user agent, scale, mobile and "
        "touch, and its viewport as the default width and height (explicit ones win).",
        suggestions="devices",
    )
    mobile: bool | None = option(
        Group.EMULATION, None, "A mobile viewport (meta viewport, overlay scrollbars); default: the device's."
    )
    touch: bool | None = option(Group.EMULATION, None, "Touch events and a coarse pointer; default: the device's.")
    javascript: bool = option(Group.EMULATION, True, "false: the page's scripts do not run.")
    http_auth: str | None = option(
        Group.EMULATION,
        None,
        "`user:password` answering Basic or Digest challenges of the target's origin only (never logged).",
    )
    deterministic: bool = option(
        Group.EMULATION,
        False,
        "The same page gives the same pixels: a frozen clock, seeded Math.random, finished animations, no caret.",
    )
    freeze_time: str | None = option(
        Group.EMULATION,
        None,
        f"With deterministic: the instant the page's clock shows (ISO 8601; default {DEFAULT_FREEZE_TIME}).",
    )


_LOCALE = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8}){0,4}")


def is_locale(text: str) -> bool:
    """A BCP 47 language tag, as far as a browser takes one (language, script, region, variants)."""
    return len(text) <= 35 and bool(_LOCALE.fullmatch(text))


def is_timezone(text: str) -> bool:
    """An IANA time zone name (the system's database, or PyPI tzdata's): looked up, never the whole list."""
    try:
        zoneinfo.ZoneInfo(text)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def freeze_instant(freeze_time: str | None) -> int:
    """``freeze_time`` (ISO 8601; UTC when it names no offset; the default instant when None) in
    milliseconds since the epoch; ValueError when it is no instant."""
    instant = datetime.fromisoformat(freeze_time or DEFAULT_FREEZE_TIME)
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return int(instant.timestamp() * 1000)


def emulation_problems(o: EmulationOptions) -> list[tuple[str, str]]:
    """What is wrong with the emulation options, as (parameter, message)."""
    problems: list[tuple[str, str]] = []

    def need(ok: bool, name: str, message: str) -> None:
        if not ok:
            problems.append((name, message))

    need(o.timezone is None or is_timezone(o.timezone), "timezone", "must be an IANA time zone (e.g. Europe/Berlin)")
    need(o.locale is None or is_locale(o.locale), "locale", "must be a BCP 47 language tag (e.g. de-DE)")
    need((o.latitude is None) == (o.longitude is None), "latitude", "latitude and longitude go together")
    need(o.accuracy is None or o.latitude is not None, "accuracy", "needs latitude and longitude")
    user, sep, password = (o.http_auth or "").partition(":")
    need(
        o.http_auth is None or (bool(sep) and bool(user) and len(o.http_auth) <= 256 and o.http_auth.isprintable()),
        "http_auth",
        "must be user:password, at most 256 printable characters",
    )
    need(o.freeze_time is None or o.deterministic, "freeze_time", "needs deterministic=true")
    if o.freeze_time is not None:
        try:
            need(0 <= freeze_instant(o.freeze_time) < 2**53, "freeze_time", "must be after 1970")
        except ValueError:
            problems.append(("freeze_time", "must be an ISO 8601 instant (e.g. 2024-01-01T12:00:00Z)"))
    return problems
