"""Capture options: one typed model that drives parsing, validation, ``/openapi.json``, the docs table
and the playground.

Every field of :class:`CaptureOptions` is an option: its name is the parameter's name (the same in the
query string, in form bodies and in a JSON body), its type says how it is parsed, and its metadata
holds its group, help text, limits and the endpoints that take it.  ``service/option_checks.py``
parses and validates them, reporting every problem at once; unknown parameters and contradictions are
refused, so a typo never silently changes the picture.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from service.option_emulation import EmulationOptions
from service.option_fields import (  # re-exported: what importers of the options take from here too
    ALL as ALL,
)
from service.option_fields import (
    CONTENT as CONTENT,
)
from service.option_fields import (
    MARGIN as MARGIN,
)
from service.option_fields import (
    MARGIN_INCHES as MARGIN_INCHES,
)
from service.option_fields import (
    PAPER_FORMATS as PAPER_FORMATS,
)
from service.option_fields import (
    PDF as PDF,
)
from service.option_fields import (
    RESOURCE_TYPES as RESOURCE_TYPES,
)
from service.option_fields import (
    SNAP as SNAP,
)
from service.option_fields import (
    Endpoint as Endpoint,
)
from service.option_fields import (
    Group as Group,
)
from service.option_fields import (
    kind as kind,
)
from service.option_fields import (
    option as option,
)
from service.option_fields import (
    param as param,
)
from service.option_pdf import PdfOptions


@dataclass(frozen=True)
class CaptureOptions(EmulationOptions, PdfOptions):
    # --- source: a body of the client's own instead of the url (service/documents.py)
    html: str | None = option(
        Group.SOURCE,
        None,
        "An HTML document to capture instead of `url` (at most SNAPSHOT_MAX_HTML_BYTES), served from the "
        "service's own origin: everything it loads obeys the network policy like a page's requests.",
        multiline=True,
    )
    markdown: str | None = option(
        Group.SOURCE,
        None,
        "Markdown to capture instead of `url`: CommonMark with tables, raw HTML shown as text, a plain stylesheet.",
        multiline=True,
    )
    base_url: str | None = option(
        Group.SOURCE,
        None,
        "With html or markdown: the base of its relative URLs, checked by the network policy like a `url`; "
        "cookies and origin-scoped headers go to its origin.",
    )
    # --- output
    format: str = option(Group.OUTPUT, "png", "Image format.", endpoints=SNAP, choices=("png", "jpeg", "webp"))
    content_format: str = option(
        Group.OUTPUT,
        "html",
        "What of the page: its rendered DOM (html), the text a reader sees (text), or that DOM as Markdown.",
        endpoints=CONTENT,
        choices=("html", "text", "markdown"),
        param="format",
    )
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
        "The whole page, not only the viewport (the viewport stays width × height); a WebP ends at 16383 px, a JPEG at "
        "65535 px (cut there, and said as for full_page_max_height).",
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
        "Scroll through the page first, so lazy content loads (each step once what it started has loaded); then "
        "back to the top. Skipped on pages where nothing loads on scroll.",
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
        Group.FULL_PAGE, 0, "A further pause after each scroll step (pages whose content comes on a timer).",
        endpoints=SNAP, minimum=0, maximum=5000, unit="ms",
    )  # fmt: skip
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
    block_ads: bool = option(
        Group.BLOCKING,
        False,
        "Block ads with EasyList: matching requests are never sent (in every frame), matching elements hidden.",
    )
    block_trackers: bool = option(
        Group.BLOCKING,
        False,
        "Block trackers with EasyPrivacy: matching requests are never sent (in every frame), elements hidden.",
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
    evidence: bool = option(
        Group.OUTCOME,
        False,
        "When the capture fails after the page was reached (504 timeout, 422 selector or script, 424 HTTP error), "
        "store a screenshot of the page as it was (width × height) and give its `evidence_url` in the error.",
    )
    # --- pdf: service/option_pdf.py
    # --- delivery: how the result reaches the client; never part of the picture (nor of the cache key)
    response_type: str | None = option(
        Group.DELIVERY,
        None,
        "The answer: the image or PDF itself (GET's default), JSON with its stored `file_url` (POST's default), "
        "or empty (204).",
        choices=("image", "json", "empty"),
    )
    metadata: bool = option(
        Group.DELIVERY,
        False,
        "JSON answers also carry what the capture found (final_url, http_status, page_title, sizes, render_ms...) "
        "and what the page said: its `console` messages and uncaught errors and its `failed_requests`; images "
        "always carry the former as X-Snapshot-* headers.",
    )
    cache_ttl: int = option(
        Group.DELIVERY,
        0,
        "Serve a stored result of the same request up to this old, and store this one (0: off; at most "
        "SNAPSHOT_CACHE_MAX_TTL). Identical requests in flight are rendered once.",
        minimum=0,
        unit="s",
    )
    cache_key: str | None = option(
        Group.DELIVERY, None, "A salt of your own: results cached under another cache_key are not served."
    )
    fresh: bool = option(Group.DELIVERY, False, "Render again and replace the cached result (needs cache_ttl).")
    async_: bool = option(
        Group.DELIVERY,
        False,
        "Answer 202 with a job id at once; the result is stored and shown at `GET /jobs/{id}`.",
        param="async",
    )
    webhook_url: str | None = option(
        Group.DELIVERY,
        None,
        "With async: POST the job's result here, signed per Standard Webhooks (retried with backoff).",
    )
    external_id: str | None = option(Group.DELIVERY, None, "With async: your own id, echoed in the job and webhook.")

    def changed(self) -> dict[str, Any]:
        """The options that differ from their defaults, by parameter name."""
        return {param(f): getattr(self, f.name) for f in FIELDS if getattr(self, f.name) != f.default}

    def picture(self) -> dict[str, Any]:
        """The options that change the result (every one but the delivery group's), by parameter name:
        what the cache key covers."""
        return {
            param(f): getattr(self, f.name)
            for f in FIELDS
            if f.metadata["group"] is not Group.DELIVERY and getattr(self, f.name) != f.default
        }

    @property
    def filter_categories(self) -> tuple[str, ...]:
        """The filter lists the capture asks for (``service/filters.py``)."""
        return (("ads",) if self.block_ads else ()) + (("trackers",) if self.block_trackers else ())

    @property
    def header_pairs(self) -> list[tuple[str, str]]:
        return [split_header(h) for h in self.headers]


_GROUPS = list(Group)
# in the groups' order (the emulation options are a base class's, so first among the dataclass's fields)
FIELDS = tuple(sorted(dataclasses.fields(CaptureOptions), key=lambda f: _GROUPS.index(f.metadata["group"])))
DEFAULTS = CaptureOptions()


def split_header(raw: str) -> tuple[str, str]:
    """``Name: Value`` as (name, value); ValueError without the colon."""
    name, sep, value = raw.partition(":")
    if not sep:
        raise ValueError("must be `Name: Value`")
    return name.strip(), value.strip()


def options_for(endpoint: Endpoint) -> list[dataclasses.Field[Any]]:
    return [f for f in FIELDS if endpoint in f.metadata["endpoints"]]


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


def list_params() -> frozenset[str]:
    """The parameters that may be given more than once (options that take a list)."""
    return frozenset(param(f) for f in FIELDS if kind(f) == "list")
