"""Parsing and validation of capture options (the model: ``service/options.py``): values from text or
JSON, the checks that need the operator's settings and the target, and contradictions.  Every problem
is collected; :class:`OptionProblems` lists them all."""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from service.cookies import parse_cookie
from service.errors import InvalidRequest
from service.option_emulation import emulation_problems
from service.option_pdf import pdf_problems
from service.options import (
    DEFAULTS,
    CaptureOptions,
    Endpoint,
    kind,
    options_for,
    param,
    split_header,
)
from service.urls import parse_target_url

if TYPE_CHECKING:
    from service.config import Settings

# headers a client may not set: they belong to the connection, the proxy, or another option
FORBIDDEN_HEADERS = frozenset(
    {
        "host",
        "connection",
        "content-length",
        "transfer-encoding",
        "upgrade",
        "keep-alive",
        "te",
        "trailer",
        "expect",
        "cookie",
        "proxy-authorization",
        "proxy-connection",
        "proxy-authenticate",
    }
)
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}")

Value = str | bool | int | float | None


class OptionProblems(Exception):
    """Every problem found, as (parameter, message)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{name}: {message}" for name, message in problems))
        self.problems = problems


_NUMBER = re.compile(r"[-+]?[0-9]{1,9}(?:\.[0-9]{1,17})?(?:[eE][-+]?[0-9]{1,3})?")
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}


def parse_value(f: dataclasses.Field[Any], values: Sequence[Value]) -> Any:
    """One option's value from what the request gave (strings from a query or form, typed values from
    JSON).  Raises ValueError with the reason."""
    k = kind(f)
    if k == "list":
        items = []
        for value in values:
            if not isinstance(value, str):
                raise ValueError("must be text")
            items.append(value)
        return tuple(items)
    if len(values) != 1:
        raise ValueError("given more than once")
    value = values[0]
    if k == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise ValueError("must be true or false")
    if k == "int":
        if isinstance(value, bool):
            raise ValueError("must be a whole number")
        if isinstance(value, int):
            return value
        if isinstance(value, str) and re.fullmatch(r"[0-9]{1,9}", value.strip()):
            return int(value.strip())
        raise ValueError("must be a whole number")
    if k == "float":
        if isinstance(value, bool):
            raise ValueError("must be a number")
        if isinstance(value, int | float):
            number = float(value)
        elif isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
            number = float(value.strip())
        else:
            raise ValueError("must be a number")
        if not math.isfinite(number):
            raise ValueError("must be a number")
        return number
    if not isinstance(value, str):
        raise ValueError("must be text")
    return value


def _check(options: CaptureOptions, settings: Settings, target_host: str) -> list[tuple[str, str]]:
    """Limits that depend on the settings, and contradictions."""
    problems: list[tuple[str, str]] = []

    def need(ok: bool, name: str, message: str) -> None:
        if not ok:
            problems.append((name, message))

    o = options
    need(o.html is None or o.markdown is None, "markdown", "cannot be combined with html: give one of them")
    need(o.quality is None or o.format != "png", "quality", "applies to jpeg and webp, not png")
    need(not (o.omit_background and o.format == "jpeg"), "omit_background", "jpeg has no transparency")
    need(not (o.full_page and o.selector), "selector", "cannot be combined with full_page")
    clip = [o.clip_x, o.clip_y, o.clip_width, o.clip_height]
    need(
        all(c is None for c in clip) or all(c is not None for c in clip),
        "clip_x",
        "clip_x, clip_y, clip_width and clip_height go together",
    )
    need(
        not (clip[0] is not None and (o.full_page or o.selector)),
        "clip_x",
        "cannot be combined with full_page or selector",
    )
    for name in ("full_page_max_height", "full_page_scroll_by"):
        need(getattr(o, name) is None or o.full_page, name, "needs full_page=true")
    need(o.full_page_scroll or o.full_page, "full_page_scroll", "needs full_page=true")
    need(
        o.full_page_scroll_delay == DEFAULTS.full_page_scroll_delay or o.full_page,
        "full_page_scroll_delay",
        "needs full_page=true",
    )
    need(o.selector_padding == 0 or o.selector is not None, "selector_padding", "needs selector")
    scale = o.device_scale_factor**2  # every pixel bound counts device pixels
    if o.clip_width is not None and o.clip_height is not None:
        need(
            o.clip_width * o.clip_height * scale <= settings.max_pixels,
            "clip_width",
            f"clip_width x clip_height x device_scale_factor² must be at most {settings.max_pixels} pixels",
        )
    need(o.headers_scope == "origin" or bool(o.headers), "headers_scope", "needs headers")
    need(
        o.full_page_max_height is None or o.full_page_max_height <= settings.max_full_page_height,
        "full_page_max_height",
        f"must be at most {settings.max_full_page_height}",
    )
    need(
        o.timeout is None or o.timeout <= settings.capture_timeout * 1000,
        "timeout",
        f"must be at most {int(settings.capture_timeout * 1000)} ms (SNAPSHOT_CAPTURE_TIMEOUT)",
    )
    need(
        not o.scripts or settings.allow_scripts, "scripts", "this service does not run scripts (SNAPSHOT_ALLOW_SCRIPTS)"
    )
    need(not o.scripts or o.javascript, "scripts", "cannot run with javascript=false")
    problems += emulation_problems(o)
    size = sum(len(s.encode()) for s in (*o.scripts, *o.styles))
    need(
        size <= settings.max_script_size,
        "scripts" if o.scripts else "styles",
        f"scripts and styles must be at most {settings.max_script_size} bytes together",
    )
    selectors = [*o.hide_selectors, *(s for s in (o.selector, o.wait_for_selector, o.click) if s)]
    need(
        len(o.hide_selectors) <= settings.max_selectors, "hide_selectors", f"at most {settings.max_selectors} selectors"
    )
    for name, text in [*(("hide_selectors", s) for s in selectors), *(("block_requests", p) for p in o.block_requests)]:
        need(
            0 < len(text) <= 1024 and not any(c in text for c in "\r\n\x00"),
            name,
            "must be 1 to 1024 characters on one line",
        )
    need(
        len(o.block_requests) <= settings.max_selectors, "block_requests", f"at most {settings.max_selectors} patterns"
    )
    need(len(o.headers) <= settings.max_headers, "headers", f"at most {settings.max_headers} headers")
    need(len(o.cookies) <= settings.max_headers, "cookies", f"at most {settings.max_headers} cookies")
    for raw in o.headers:
        try:
            name, value = split_header(raw)
        except ValueError as exc:
            problems.append(("headers", str(exc)))
            continue
        need(bool(_HEADER_NAME.fullmatch(name)), "headers", f"{name!r} is not a header name")
        need(
            name.lower() not in FORBIDDEN_HEADERS and not name.lower().startswith("proxy-"),
            "headers",
            f"{name} cannot be set (use cookies for Cookie)",
        )
        need(
            not any(c in value for c in "\r\n\x00") and len(value) <= 4096,
            "headers",
            f"the value of {name} is not a single line of at most 4096 characters",
        )
    for raw in o.cookies:
        try:
            parse_cookie(raw, target_host)
        except ValueError as exc:
            problems.append(("cookies", str(exc)))
    need(
        o.user_agent is None or (0 < len(o.user_agent) <= 512 and o.user_agent.isprintable()),
        "user_agent",
        "must be 1 to 512 printable characters",
    )
    problems += pdf_problems(o)
    problems += _delivery_problems(o, settings)
    return problems


def _printable(text: str | None, limit: int = 256) -> bool:
    return text is None or (0 < len(text) <= limit and text.isprintable())


def _delivery_problems(o: CaptureOptions, settings: Settings) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []

    def need(ok: bool, name: str, message: str) -> None:
        if not ok:
            problems.append((name, message))

    need(
        o.cache_ttl <= settings.cache_max_ttl,
        "cache_ttl",
        f"must be at most {settings.cache_max_ttl} s (SNAPSHOT_CACHE_MAX_TTL)",
    )
    need(not o.fresh or o.cache_ttl > 0, "fresh", "needs cache_ttl")
    need(o.cache_key is None or o.cache_ttl > 0, "cache_key", "needs cache_ttl")
    need(_printable(o.cache_key), "cache_key", "must be 1 to 256 printable characters")
    need(_printable(o.external_id), "external_id", "must be 1 to 256 printable characters")
    need(o.async_ or o.external_id is None, "external_id", "needs async=true")
    need(
        not o.async_ or o.response_type in (None, "json"),
        "response_type",
        "an async job answers with JSON; its result is stored",
    )
    if o.webhook_url is not None:
        need(o.async_, "webhook_url", "needs async=true")
        need(
            settings.webhook_secret is not None,
            "webhook_url",
            "this service has no webhook signing secret (SNAPSHOT_WEBHOOK_SECRET)",
        )
        try:
            parse_target_url(o.webhook_url, max_length=settings.max_url_length)
        except InvalidRequest as exc:
            problems.append(("webhook_url", exc.message))
    return problems


def parse_options(
    params: Mapping[str, Sequence[Value]], settings: Settings, endpoint: Endpoint, target_host: str
) -> CaptureOptions:
    """The options among ``params`` (every parameter that is not a published one); raises
    :class:`OptionProblems` listing every problem."""
    allowed = {param(f): f for f in options_for(endpoint)}
    values: dict[str, Any] = {}
    problems: list[tuple[str, str]] = []
    for name, given in params.items():
        f = allowed.get(name)
        if f is None:
            problems.append((name, "unknown parameter"))
            continue
        try:
            value = parse_value(f, given)
        except ValueError as exc:
            problems.append((name, str(exc)))
            continue
        meta = f.metadata
        items = value if isinstance(value, tuple) else (value,)
        for item in items:
            if meta["choices"] and item not in meta["choices"]:
                problems.append((name, "must be one of " + ", ".join(meta["choices"])))
            if isinstance(item, int | float) and not isinstance(item, bool):
                if meta["minimum"] is not None and item < meta["minimum"]:
                    problems.append((name, f"must be at least {meta['minimum']}"))
                if meta["maximum"] is not None and item > meta["maximum"]:
                    problems.append((name, f"must be at most {meta['maximum']}"))
        values[f.name] = value
    if problems:
        raise OptionProblems(problems)
    options = CaptureOptions(**values)
    problems = _check(options, settings, target_host)
    if problems:
        raise OptionProblems(problems)
    return options
