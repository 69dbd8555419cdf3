"""Capture options: one typed model that drives parsing, validation, ``/openapi.json``, the docs table
and the playground.

Every field of :class:`CaptureOptions` is an option: its name is the parameter's name (the same in the
query string, in form bodies and in a JSON body), its type says how it is parsed, and its metadata
holds its group, help text, limits and the endpoints that take it.  ``parse_options`` reports every
problem at once (``InvalidOptions``: 400 ``invalid_options`` with a ``details`` list); unknown
parameters and contradictions are refused, so a typo never silently changes the picture.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from service.config import Settings


class Endpoint(StrEnum):
    SNAP = "snap"  # /create_snap: an image
    PDF = "pdf"  # /create_pdf


class Group(StrEnum):
    OUTPUT = "output"
    FULL_PAGE = "full page"
    REGION = "region"
    WAITS = "waits"
    PAGE = "page changes"
    CONTEXT = "request context"
    BLOCKING = "blocking"
    OUTCOME = "outcome"
    PDF = "pdf"


BOTH = (Endpoint.SNAP, Endpoint.PDF)
SNAP = (Endpoint.SNAP,)
PDF = (Endpoint.PDF,)

# CDP resource types a capture may block (Network.ResourceType, lower-cased; never the document itself)
RESOURCE_TYPES = {
    "stylesheet": "Stylesheet",
    "image": "Image",
    "media": "Media",
    "font": "Font",
    "script": "Script",
    "texttrack": "TextTrack",
    "xhr": "XHR",
    "fetch": "Fetch",
    "prefetch": "Prefetch",
    "eventsource": "EventSource",
    "websocket": "WebSocket",
    "manifest": "Manifest",
    "ping": "Ping",
    "other": "Other",
}
# paper sizes in inches (width, height), as Chrome's print dialog knows them
PAPER_FORMATS = {
    "letter": (8.5, 11.0),
    "legal": (8.5, 14.0),
    "tabloid": (11.0, 17.0),
    "ledger": (17.0, 11.0),
    "a0": (33.1, 46.8),
    "a1": (23.4, 33.1),
    "a2": (16.54, 23.4),
    "a3": (11.7, 16.54),
    "a4": (8.27, 11.7),
    "a5": (5.83, 8.27),
    "a6": (4.13, 5.83),
}
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
_MARGIN = re.compile(r"(\d{1,4}(?:\.\d{1,3})?)(mm|cm|in|px)?")
_MARGIN_INCHES = {"mm": 1 / 25.4, "cm": 1 / 2.54, "in": 1.0, "px": 1 / 96, None: 1 / 96}
_SAME_SITE = {"strict": "Strict", "lax": "Lax", "none": "None"}


def option(
    group: Group,
    default: Any,
    help: str,
    *,
    endpoints: tuple[Endpoint, ...] = BOTH,
    choices: Iterable[str] = (),
    minimum: int | None = None,
    maximum: int | None = None,
    unit: str = "",
) -> Any:
    metadata = {
        "group": group,
        "help": help,
        "endpoints": endpoints,
        "choices": tuple(choices),
        "minimum": minimum,
        "maximum": maximum,
        "unit": unit,
    }
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class CaptureOptions:
    # --- output
    format: str = option(Group.OUTPUT, "png", "Image format.", endpoints=SNAP, choices=("png", "jpeg", "webp"))
    quality: int | None = option(
        Group.OUTPUT, None, "Compression quality of jpeg and webp (default 80).", endpoints=SNAP, minimum=0, maximum=100
    )
    omit_background: bool = option(
        Group.OUTPUT, False, "Transparent where the page has no background (png, webp).", endpoints=SNAP
    )
    device_scale_factor: int = option(
        Group.OUTPUT,
        1,
        "Device pixels per CSS pixel: the image is width·dsf × height·dsf.",
        endpoints=SNAP,
        minimum=1,
        maximum=3,
    )
    # --- full page
    full_page: bool = option(
        Group.FULL_PAGE,
        False,
        "The whole page, not only the viewport (the viewport stays width × height).",
        endpoints=SNAP,
    )
    full_page_max_height: int | None = option(
        Group.FULL_PAGE,
        None,
        "Cut the page at this height (CSS px; at most SNAPSHOT_MAX_FULL_PAGE_HEIGHT, the default).",
        endpoints=SNAP,
        minimum=1,
        unit="px",
    )
    full_page_scroll: bool = option(
        Group.FULL_PAGE,
        True,
        "Scroll through the page first, so lazy content loads; then back to the top.",
        endpoints=SNAP,
    )
    full_page_scroll_by: int | None = option(
        Group.FULL_PAGE,
        None,
        "Scroll step (CSS px; default: the viewport's height).",
        endpoints=SNAP,
        minimum=1,
        unit="px",
    )
    full_page_scroll_delay: int = option(
        Group.FULL_PAGE, 100, "Pause after each scroll step.", endpoints=SNAP, minimum=0, maximum=5000, unit="ms"
    )
    # --- region
    selector: str | None = option(
        Group.REGION, None, "Capture the first visible element matching this CSS selector.", endpoints=SNAP
    )
    selector_padding: int = option(
        Group.REGION, 0, "Pixels around the element.", endpoints=SNAP, minimum=0, maximum=1000, unit="px"
    )
    clip_x: int | None = option(
        Group.REGION, None, "Left of the region to capture (page CSS px).", endpoints=SNAP, minimum=0
    )
    clip_y: int | None = option(
        Group.REGION, None, "Top of the region to capture (page CSS px).", endpoints=SNAP, minimum=0
    )
    clip_width: int | None = option(Group.REGION, None, "Width of the region to capture.", endpoints=SNAP, minimum=1)
    clip_height: int | None = option(Group.REGION, None, "Height of the region to capture.", endpoints=SNAP, minimum=1)
    # --- waits
    wait_until: str = option(
        Group.WAITS,
        "load",
        "When the page counts as loaded: its load event, DOMContentLoaded, or no network connections "
        "(networkidle0) / at most two (networkidle2) for 500 ms.",
        choices=("load", "domcontentloaded", "networkidle0", "networkidle2"),
    )
    wait_for_selector: str | None = option(
        Group.WAITS, None, "Wait until an element matching this selector is visible."
    )
    delay: int = option(Group.WAITS, 0, "Wait this long before the capture.", minimum=0, maximum=30000, unit="ms")
    timeout: int | None = option(
        Group.WAITS, None, "Deadline of the whole capture (at most SNAPSHOT_CAPTURE_TIMEOUT).", minimum=1, unit="ms"
    )
    best_attempt: bool = option(
        Group.WAITS, False, "When a wait runs out, capture what is there instead of answering 504."
    )
    # --- page changes
    hide_selectors: tuple[str, ...] = option(Group.PAGE, (), "Hide the elements matching these selectors.")
    styles: tuple[str, ...] = option(Group.PAGE, (), "CSS added to the page.")
    scripts: tuple[str, ...] = option(
        Group.PAGE, (), "JavaScript run in the page after it loaded (only where SNAPSHOT_ALLOW_SCRIPTS is on)."
    )
    click: str | None = option(Group.PAGE, None, "Click the first element matching this selector before the capture.")
    dark_mode: bool = option(Group.PAGE, False, "prefers-color-scheme: dark.")
    reduced_motion: bool = option(Group.PAGE, False, "prefers-reduced-motion: reduce.")
    media_type: str | None = option(
        Group.PAGE, None, "CSS media type (default: screen; print for PDFs).", choices=("screen", "print")
    )
    disable_animations: bool = option(Group.PAGE, False, "Stop CSS animations and transitions (repeatable pictures).")
    # --- request context
    user_agent: str | None = option(Group.CONTEXT, None, "User-Agent header and navigator.userAgent.")
    headers: tuple[str, ...] = option(Group.CONTEXT, (), "Extra request headers, each `Name: Value`.")
    headers_scope: str = option(
        Group.CONTEXT,
        "origin",
        "Send the extra headers to the target's origin only, or to every request.",
        choices=("origin", "all"),
    )
    cookies: tuple[str, ...] = option(
        Group.CONTEXT,
        (),
        "Cookies, each `name=value; Domain=...; Path=...; Secure; HttpOnly; SameSite=...` (the target's host "
        "when no Domain is given; a Domain must contain the target's host).",
    )
    # --- blocking
    block_resources: tuple[str, ...] = option(
        Group.BLOCKING, (), "Resource types never loaded.", choices=tuple(RESOURCE_TYPES)
    )
    block_requests: tuple[str, ...] = option(
        Group.BLOCKING, (), "URL patterns never loaded (`*` matches anything, e.g. `*://ads.example.com/*`)."
    )
    block_cookie_banners: bool = option(
        Group.BLOCKING,
        False,
        "Opt out of cookie-consent popups with DuckDuckGo's autoconsent rules, in every frame.",
    )
    # --- outcome
    fail_on_http_error: bool = option(
        Group.OUTCOME, False, "Answer 424 target_http_error when the page's document has a 4xx or 5xx status."
    )
    # --- pdf
    pdf_paper_format: str = option(Group.PDF, "a4", "Paper size.", endpoints=PDF, choices=tuple(PAPER_FORMATS))
    pdf_landscape: bool = option(Group.PDF, False, "Landscape orientation.", endpoints=PDF)
    pdf_print_background: bool = option(Group.PDF, True, "Print background colours and images.", endpoints=PDF)
    pdf_margin: str = option(Group.PDF, "0", "Margin on every side: a number with mm, cm, in or px.", endpoints=PDF)

    def changed(self) -> dict[str, Any]:
        """The options that differ from their defaults."""
        return {f.name: getattr(self, f.name) for f in FIELDS if getattr(self, f.name) != f.default}

    @property
    def margin_inches(self) -> float:
        match = _MARGIN.fullmatch(self.pdf_margin.strip())
        assert match is not None  # validated
        return float(match.group(1)) * _MARGIN_INCHES[match.group(2)]

    @property
    def header_pairs(self) -> list[tuple[str, str]]:
        return [_split_header(h) for h in self.headers]


FIELDS = tuple(dataclasses.fields(CaptureOptions))
BY_NAME = {f.name: f for f in FIELDS}
DEFAULTS = CaptureOptions()


def options_for(endpoint: Endpoint) -> list[dataclasses.Field[Any]]:
    return [f for f in FIELDS if endpoint in f.metadata["endpoints"]]


def kind(f: dataclasses.Field[Any]) -> str:
    """bool, int, str or list."""
    return {"bool": "bool", "int": "int", "int | None": "int", "str": "str", "str | None": "str"}.get(
        str(f.type), "list"
    )


# ------------------------------------------------------------------------------------------ parsing

Value = str | bool | int | float | None


class OptionProblems(Exception):
    """Every problem found, as (parameter, message)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{name}: {message}" for name, message in problems))
        self.problems = problems


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
    if not isinstance(value, str):
        raise ValueError("must be text")
    return value


def _split_header(raw: str) -> tuple[str, str]:
    name, sep, value = raw.partition(":")
    if not sep:
        raise ValueError("must be `Name: Value`")
    return name.strip(), value.strip()


def _domain_matches(host: str, domain: str) -> bool:
    domain = domain.lower().lstrip(".")
    return host == domain or (host.endswith("." + domain) and not host.replace(".", "").isdigit())


def parse_cookie(raw: str, target_host: str) -> dict[str, Any]:
    """A CDP ``Network.CookieParam`` (without url/domain defaults) from ``name=value; Attr...``."""
    parts = [p.strip() for p in raw.split(";")]
    name, sep, value = parts[0].partition("=")
    if not sep or not name.strip() or any(c in raw for c in "\r\n\x00"):
        raise ValueError("must be `name=value` followed by `; Attribute` pairs")
    cookie: dict[str, Any] = {"name": name.strip(), "value": value.strip()}
    for attribute in parts[1:]:
        if not attribute:
            continue
        key, _, val = attribute.partition("=")
        key = key.strip().lower()
        if key == "domain":
            if not _domain_matches(target_host, val.strip()):
                raise ValueError(f"Domain {val.strip()!r} does not contain the target's host {target_host}")
            cookie["domain"] = val.strip()
        elif key == "path":
            cookie["path"] = val.strip() or "/"
        elif key == "secure":
            cookie["secure"] = True
        elif key == "httponly":
            cookie["httpOnly"] = True
        elif key == "samesite":
            if val.strip().lower() not in _SAME_SITE:
                raise ValueError("SameSite must be Strict, Lax or None")
            cookie["sameSite"] = _SAME_SITE[val.strip().lower()]
        else:
            raise ValueError(f"unknown cookie attribute {key!r}")
    return cookie


def _check(options: CaptureOptions, settings: Settings, target_host: str) -> list[tuple[str, str]]:
    """Limits that depend on the settings, and contradictions."""
    problems: list[tuple[str, str]] = []

    def need(ok: bool, name: str, message: str) -> None:
        if not ok:
            problems.append((name, message))

    o = options
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
            name, value = _split_header(raw)
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
    need(bool(_MARGIN.fullmatch(o.pdf_margin.strip())), "pdf_margin", "must be a number with mm, cm, in or px")
    return problems


def parse_options(
    params: Mapping[str, Sequence[Value]], settings: Settings, endpoint: Endpoint, target_host: str
) -> CaptureOptions:
    """The options among ``params`` (every parameter that is not a published one); raises
    :class:`OptionProblems` listing every problem."""
    allowed = {f.name: f for f in options_for(endpoint)}
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
            if isinstance(item, int) and not isinstance(item, bool):
                if meta["minimum"] is not None and item < meta["minimum"]:
                    problems.append((name, f"must be at least {meta['minimum']}"))
                if meta["maximum"] is not None and item > meta["maximum"]:
                    problems.append((name, f"must be at most {meta['maximum']}"))
        values[name] = value
    if problems:
        raise OptionProblems(problems)
    options = CaptureOptions(**values)
    problems = _check(options, settings, target_host)
    if problems:
        raise OptionProblems(problems)
    return options


def to_params(options: CaptureOptions) -> list[tuple[str, str]]:
    """The options that differ from their defaults, as query or form parameters (repeated keys)."""
    pairs: list[tuple[str, str]] = []
    for name, value in options.changed().items():
        for item in value if isinstance(value, tuple) else (value,):
            pairs.append((name, str(item).lower() if isinstance(item, bool) else str(item)))
    return pairs


def to_json(options: CaptureOptions) -> dict[str, Any]:
    """The options that differ from their defaults, as a JSON body (arrays for repeatable ones)."""
    return {name: list(value) if isinstance(value, tuple) else value for name, value in options.changed().items()}
