"""Parsing and validation of the published API's parameters: url, width, height, localmode."""

from __future__ import annotations

import re
from collections.abc import Callable

from service.capture import CaptureRequest
from service.config import Settings
from service.errors import InvalidRequest
from service.urls import parse_target_url

_DIGITS = re.compile(r"[0-9]{1,9}")
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}


def _dimension(name: str, raw: str | None, maximum: int) -> int:
    if raw is None or not raw.strip():
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


def parse_capture_request(get: Callable[[str], str | None], settings: Settings) -> CaptureRequest:
    """Build a request from a parameter getter (query, form or multipart field)."""
    target = parse_target_url(get("url"), max_length=settings.max_url_length)
    width = _dimension("width", get("width"), settings.max_width)
    height = _dimension("height", get("height"), settings.max_height)
    if width * height > settings.max_pixels:
        raise InvalidRequest(f"width x height must be at most {settings.max_pixels} pixels", code="invalid_size")
    return CaptureRequest(target, width, height, parse_bool("localmode", get("localmode")))
