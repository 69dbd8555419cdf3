"""What an option is made of: the endpoints and groups options belong to, the vocabularies some options
choose from (resource types, paper sizes, margins), and ``option()``, which declares a field of
``service.options.CaptureOptions`` with its metadata."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from dataclasses import field
from enum import StrEnum
from typing import Any


class Endpoint(StrEnum):
    SNAP = "snap"  # /create_snap: an image
    PDF = "pdf"  # /create_pdf
    CONTENT = "content"  # /create_content: the page's HTML, text or Markdown

    @property
    def path(self) -> str:
        return f"/create_{self.value}"


class Group(StrEnum):
    SOURCE = "source"
    EMULATION = "emulation"
    OUTPUT = "output"
    FULL_PAGE = "full page"
    REGION = "region"
    WAITS = "waits"
    PAGE = "page changes"
    CONTEXT = "request context"
    BLOCKING = "blocking"
    OUTCOME = "outcome"
    PDF = "pdf"
    DELIVERY = "delivery"


ALL = (Endpoint.SNAP, Endpoint.PDF, Endpoint.CONTENT)
SNAP = (Endpoint.SNAP,)
PDF = (Endpoint.PDF,)
CONTENT = (Endpoint.CONTENT,)

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
MARGIN = re.compile(r"(\d{1,4}(?:\.\d{1,3})?)(mm|cm|in|px)?")  # pdf_margin: a number and a unit
MARGIN_INCHES = {"mm": 1 / 25.4, "cm": 1 / 2.54, "in": 1.0, "px": 1 / 96, None: 1 / 96}


def option(
    group: Group,
    default: Any,
    help: str,
    *,
    endpoints: tuple[Endpoint, ...] = ALL,
    choices: Iterable[str] = (),
    minimum: int | None = None,
    maximum: int | None = None,
    unit: str = "",
    param: str | None = None,
    multiline: bool = False,
    suggestions: str | None = None,
) -> Any:
    metadata = {
        "suggestions": suggestions,  # a list the playground offers (devices: the device registry's names)
        "multiline": multiline,  # a text of many lines (a document), not a list of lines
        "param": param,
        "group": group,
        "help": help,
        "endpoints": endpoints,
        "choices": tuple(choices),
        "minimum": minimum,
        "maximum": maximum,
        "unit": unit,
    }
    return field(default=default, metadata=metadata)


def param(f: dataclasses.Field[Any]) -> str:
    """The option's parameter name: its field's, unless that is a Python keyword (``async``)."""
    return str(f.metadata["param"] or f.name)


_KINDS = {"bool": "bool", "bool | None": "bool", "int": "int", "int | None": "int", "float | None": "float"}
_KINDS |= {"str": "str", "str | None": "str", "tuple[str, ...]": "list"}


def kind(f: dataclasses.Field[Any]) -> str:
    """bool, int, float, str or list; an option of any other type is a programming error, said at once."""
    try:
        return _KINDS[str(f.type)]
    except KeyError:
        raise TypeError(f"option {f.name}: no parser for its type {f.type}") from None
