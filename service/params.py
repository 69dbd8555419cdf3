"""A capture request from its parameters: the published ones (url, width, height, localmode) and the
options (``service/options.py``), from the query string, a form body or a JSON body alike.

Every problem is reported at once.  A request whose problems are all with published parameters keeps
the first one's own code (``missing_url``, ``invalid_width``...), as the published API always
answered; a problem with an option makes it ``invalid_options``.  Either way ``details`` names each
parameter and what is wrong with it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from service.config import Settings
from service.devices import Device, load_devices
from service.documents import CONTENT_TARGET, CONTENT_URL, Document
from service.errors import ContentTooLarge, InvalidRequest
from service.option_checks import OptionProblems, Value, parse_options
from service.options import CaptureOptions, Endpoint, kind, options_for, param
from service.tenants import Reach
from service.urls import TargetUrl, parse_target_url


@dataclass(frozen=True)
class Published:
    """A parameter of the published API.  The parser, OpenAPI (``service/openapi.py``) and the playground's
    form (``service/playground/form.py``) are made from these, as options are from ``CaptureOptions``."""

    name: str
    type: type[str] | type[int] | type[bool]
    label: str
    help: str
    required: bool = False  # on /create_snap (/create_pdf needs only the url)
    limit: str | None = None  # the setting that bounds it: a length for text, a maximum for numbers
    example: str = ""  # the playground's initial value


PUBLISHED_PARAMS = (
    Published("url", str, "URL", "The http(s) URL to capture (or give `html` or `markdown` instead).", True,
              "max_url_length"),
    Published("width", int, "Width (px)", "Width of the viewport (and of the image) in CSS pixels.", True,
              "max_width", "1280"),
    Published("height", int, "Height (px)", "Height of the viewport (and of the image) in CSS pixels.", True,
              "max_height", "800"),
    Published("localmode", bool, "Local mode", "Capture with a browser next to the service instead of the Grid."),
)  # fmt: skip
PUBLISHED = tuple(p.name for p in PUBLISHED_PARAMS)
# signed GET URLs (service/auth.py); the empty name is the published POST example's `?=,`
NOT_OPTIONS = frozenset({*PUBLISHED, "expires", "signature", ""})
PDF_VIEWPORT = (1280, 800)  # the page's layout width for a PDF (or content) when none is given
BODIES = ("html", "markdown")  # what may be given instead of the url

_DIGITS = re.compile(r"[0-9]{1,9}")
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}

Params = Mapping[str, Sequence[Value]]
T = TypeVar("T")


@dataclass(frozen=True)
class CaptureRequest:
    """A capture as the client asked for it, parsed and validated (``service/params.py``): the
    published parameters, the options (``service/options.py``) and what it produces (an image or a
    PDF).  The browser session runs its steps from this."""

    target: TargetUrl  # the page's origin: the url, or a body's base_url (else its own, CONTENT_TARGET)
    width: int  # the viewport, CSS pixels
    height: int
    localmode: bool
    options: CaptureOptions
    endpoint: Endpoint
    tenant: str = ""  # the caller's tenant (a name of the tenants file), "" for any other caller
    reach: Reach | None = None  # its proxy token, set at capture time when its tenant has networks of its own
    device: Device | None = None  # the device it emulates (Playwright's registry)
    pages: tuple[TargetUrl, ...] = ()  # /create_pdf's urls: each printed, merged in order (target: the first)
    scale: float = 1.0  # device pixels per CSS pixel: device_scale_factor, else the device's

    @property
    def mobile(self) -> bool:
        given = self.options.mobile
        return given if given is not None else self.device is not None and self.device.mobile

    @property
    def touch(self) -> bool:
        given = self.options.touch
        return given if given is not None else self.device is not None and self.device.touch

    @property
    def document(self) -> Document | None:
        """The body of the client's own captured instead of a url: its ``html`` or ``markdown`` option."""
        o = self.options
        if o.html:
            return Document("html", o.html, o.base_url)
        if o.markdown:
            return Document("markdown", o.markdown, o.base_url)
        return None

    @property
    def url(self) -> str:
        """What the browser navigates to: the target, or the origin a body is served from."""
        return CONTENT_URL if self.document is not None else self.target.url

    @property
    def checked_target(self) -> TargetUrl | None:
        """What the network policy checks before the capture: the url or a body's base_url (a body without
        one reaches the network only through the proxy, which checks each of its requests)."""
        return None if self.document is not None and self.options.base_url is None else self.target


def _text(values: Sequence[Value] | None) -> str | None:
    """The last value given, as text (the published parameters: the last one wins)."""
    if not values:
        return None
    value = values[-1]
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return None
    return str(value)


def _dimension(name: str, raw: str | None, maximum: int, default: int | None) -> int:
    if raw is None or not raw.strip():
        if default is not None:
            return default
        raise InvalidRequest(f"the {name} parameter is required", code=f"invalid_{name}")
    value = raw.strip()
    if not _DIGITS.fullmatch(value) or int(value) < 1:
        raise InvalidRequest(f"{name} must be a positive whole number of pixels", code=f"invalid_{name}")
    number = int(value)
    if number > maximum:
        raise InvalidRequest(f"{name} must be at most {maximum} pixels", code=f"invalid_{name}")
    return number


def parse_bool(name: str, raw: str | None) -> bool:
    value = (raw or "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise InvalidRequest(f"{name} must be true or false", code=f"invalid_{name}")


# the JSON type of each published parameter in a JSON body
_PUBLISHED_JSON = {p.name: p.type for p in PUBLISHED_PARAMS}
_JSON_TYPES: dict[str, type | tuple[type, ...]] = {"bool": bool, "int": int, "float": (int, float), "str": str}
_JSON_NAMES = {bool: "boolean", int: "integer", str: "string", (int, float): "number"}


def json_params(body: Mapping[str, object], endpoint: Endpoint) -> tuple[dict[str, list[str]], list[tuple[str, str]]]:
    """A JSON body's parameters as text (like a form's), and the problems with their JSON types: a JSON
    body is typed (``true``, not ``"true"``; numbers; arrays for repeatable options)."""
    fields = {param(f): f for f in options_for(endpoint)}
    params: dict[str, list[str]] = {}
    problems: list[tuple[str, str]] = []
    for name, value in body.items():
        if name in fields and kind(fields[name]) == "list":
            items = value if isinstance(value, list) else [value]
            if not all(isinstance(item, str) for item in items):
                problems.append((name, "must be an array of strings"))
                continue
            params[name] = [str(item) for item in items]
            continue
        expected = _PUBLISHED_JSON.get(name) or (_JSON_TYPES[kind(fields[name])] if name in fields else None)
        if expected is None:
            problems.append((name, "unknown parameter"))
        elif not isinstance(value, expected) or (expected is not bool and isinstance(value, bool)):
            problems.append((name, f"must be a JSON {_JSON_NAMES[expected]}"))
        else:
            params[name] = [str(value).lower() if isinstance(value, bool) else str(value)]
    return params, problems


def parse_capture_request(
    params: Params,
    settings: Settings,
    endpoint: Endpoint = Endpoint.SNAP,
    json_body: Mapping[str, object] | None = None,
) -> CaptureRequest:
    """The request from the query's and form's ``params`` and a JSON body's; raises ``InvalidRequest``
    naming every problem."""
    problems: list[tuple[str, str, str]] = []  # (parameter, code, message)
    if json_body is not None:
        from_json, json_problems = json_params(json_body, endpoint)
        problems += [(name, "invalid_options", message) for name, message in json_problems]
        merged: dict[str, list[Value]] = {name: list(values) for name, values in params.items()}
        for name, values in from_json.items():
            merged.setdefault(name, []).extend(values)
        params = merged

    def published(name: str, parse: Callable[[], T]) -> T | None:
        try:
            return parse()
        except InvalidRequest as exc:
            problems.append((name, exc.code, exc.message))
            return None

    pdf = endpoint is not Endpoint.SNAP  # a PDF or the content: a layout width by default
    device = published("device", lambda: _device(_text(params.get("device")), settings))
    viewport = (device.width, device.height) if device is not None else PDF_VIEWPORT if pdf else None
    document = _document(params, settings)
    listed = bool(params.get("urls")) and endpoint is Endpoint.PDF
    pages = _pages(params, settings, problems) if listed else ()
    if listed:
        target: TargetUrl | None = pages[0] if pages else None
    elif document is None:
        target = published(
            "url", lambda: parse_target_url(_text(params.get("url")), max_length=settings.max_url_length)
        )
    else:
        target = _document_target(document, params, settings, problems)
    width = published(
        "width",
        lambda: _dimension("width", _text(params.get("width")), settings.max_width, viewport and viewport[0]),
    )
    height = published(
        "height",
        lambda: _dimension("height", _text(params.get("height")), settings.max_height, viewport and viewport[1]),
    )
    localmode = published("localmode", lambda: parse_bool("localmode", _text(params.get("localmode"))))
    if isinstance(width, int) and isinstance(height, int) and width * height > settings.max_pixels:
        problems.append(("width", "invalid_size", f"width x height must be at most {settings.max_pixels} pixels"))
    if document is None and params.get("base_url"):
        problems.append(("base_url", "invalid_options", "needs html or markdown"))
    options = None
    host = target.host if isinstance(target, TargetUrl) else ""
    try:
        options = parse_options(
            {name: values for name, values in params.items() if name not in NOT_OPTIONS}, settings, endpoint, host
        )
    except OptionProblems as exc:
        problems += [(name, "invalid_options", message) for name, message in exc.problems]
    scale = 1.0
    if options is not None:  # an explicit device_scale_factor wins over the device's
        given = "device_scale_factor" in params or device is None
        scale = float(options.device_scale_factor) if given else device.scale if device is not None else 1.0
    pixels = width * height * scale * scale if isinstance(width, int) and isinstance(height, int) else 0
    if options is not None and scale > 1 and pixels > settings.max_pixels:
        message = f"width x height x device_scale_factor² must be at most {settings.max_pixels} pixels"
        problems.append(("device_scale_factor", "invalid_options", message))
    if problems:
        details = [{"parameter": name, "error": code, "message": message} for name, code, message in problems]
        if all(code != "invalid_options" for _, code, _ in problems):
            _, code, message = problems[0]  # as the published API always answered: the first one's code
            raise InvalidRequest(message, code=code, details=details)
        summary = "; ".join(f"{name}: {message}" for name, _, message in problems)
        raise InvalidRequest(summary, code="invalid_options", details=details)
    assert isinstance(target, TargetUrl) and isinstance(width, int) and isinstance(height, int)
    assert isinstance(localmode, bool) and options is not None
    return CaptureRequest(
        target,
        width,
        height,
        localmode,
        options,
        endpoint,
        device=device,
        scale=scale,
        pages=pages,
    )


def _pages(params: Params, settings: Settings, problems: list[tuple[str, str, str]]) -> tuple[TargetUrl, ...]:
    """/create_pdf's ``urls``, each parsed like a url (their problems are an option's)."""
    given = [str(value) for value in params.get("urls") or [] if value]
    if not given:
        problems.append(("urls", "invalid_options", "must list the URLs to print"))
    if params.get("url") or params.get("html") or params.get("markdown"):
        problems.append(("urls", "invalid_options", "cannot be combined with url, html or markdown"))
    if len(given) > settings.max_pdf_urls:
        problems.append(("urls", "invalid_options", f"at most {settings.max_pdf_urls} (SNAPSHOT_MAX_PDF_URLS)"))
        return ()
    parsed = []
    for url in given:
        try:
            parsed.append(parse_target_url(url, max_length=settings.max_url_length))
        except InvalidRequest as exc:
            problems.append(("urls", "invalid_options", f"{url[:100]}: {exc.message}"))
    return tuple(parsed) if len(parsed) == len(given) else ()


def _device(name: str | None, settings: Settings) -> Device | None:
    """The device of Playwright's registry a request names (its problems are an option's)."""
    if not name:
        return None
    devices = load_devices(settings.devices_file)
    device = devices.get(name)
    if device is None:
        known = "this service has no device registry (SNAPSHOT_DEVICES_FILE)" if not devices.by_name else (
            "unknown device (GET /devices lists them)")  # fmt: skip
        raise InvalidRequest(known, code="invalid_options")
    return device


def _document(params: Params, settings: Settings) -> Document | None:
    """The ``html`` or ``markdown`` body given instead of a url (its problems are found with the other
    options'); raises ``ContentTooLarge`` at once for one over ``SNAPSHOT_MAX_HTML_BYTES``."""
    given = [(name, _text(params.get(name))) for name in BODIES if params.get(name)]
    for name, text in given:
        if text is not None and len(text.encode("utf-8", "surrogatepass")) > settings.max_html_bytes:
            raise ContentTooLarge(f"{name} must be at most {settings.max_html_bytes} bytes (SNAPSHOT_MAX_HTML_BYTES)")
    if len(given) != 1 or not given[0][1]:
        return None
    name, text = given[0]
    return Document(name, text or "", _text(params.get("base_url")))


def _document_target(
    document: Document, params: Params, settings: Settings, problems: list[tuple[str, str, str]]
) -> TargetUrl | None:
    """A body's target: its base_url (checked like a url), or the origin it is served from."""
    if params.get("url"):
        problems.append(("url", "invalid_options", f"cannot be combined with {document.kind}: give one of them"))
    if document.base_url is None:
        return CONTENT_TARGET
    try:
        return parse_target_url(document.base_url, max_length=settings.max_url_length)
    except InvalidRequest as exc:
        problems.append(("base_url", "invalid_options", exc.message))
        return None
