"""Ad and tracker blocking (``block_ads``, ``block_trackers``): maintained filter lists matched by
Brave's adblock-rust engine (PyPI ``adblock``).

The lists are EasyList (ads) and EasyPrivacy (trackers) as Debian ships them with uBlock Origin
(``webext-ublock-origin-chromium``), or whatever an operator puts in ``SNAPSHOT_FILTER_LISTS_DIR``:
``easylist.txt`` and ``ads-*.txt`` make the ads engine, ``easyprivacy.txt`` and ``trackers-*.txt`` the
trackers engine.  Each engine is built once, at start-up.

Network rules are matched in the browser's request interception (``service/browsers/network.py``),
where a request's URL, the page it comes from and its resource type are known - the filtering proxy
sees only ``CONNECT host:port`` of TLS connections.  Cosmetic rules (element hiding) are applied to
every frame once the page has loaded (``service/browsers/cosmetic.py``).
"""

from __future__ import annotations

import datetime
import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import adblock

log = logging.getLogger("snapshot.filters")

ADS, TRACKERS = "ads", "trackers"
# a list file's category by its name
_FILES = {ADS: ("easylist.txt", "ads-*.txt"), TRACKERS: ("easyprivacy.txt", "trackers-*.txt")}
# Network.ResourceType (CDP) -> the request types of filter-list options ($script, $image...)
_REQUEST_TYPES = {
    "Document": "sub_frame",
    "Stylesheet": "stylesheet",
    "Image": "image",
    "Media": "media",
    "Font": "font",
    "Script": "script",
    "TextTrack": "other",
    "XHR": "xmlhttprequest",
    "Fetch": "xmlhttprequest",
    "Prefetch": "other",
    "EventSource": "other",
    "WebSocket": "websocket",
    "Manifest": "other",
    "SignedExchange": "other",
    "Ping": "ping",
    "CSPViolationReport": "csp_report",
    "Preflight": "other",
    "Other": "other",
}
MAX_SELECTOR_INPUT = 5000  # classes and ids of one frame considered for generic hiding rules


@dataclass(frozen=True)
class FilterList:
    """One list as ``/readyz`` shows it: what it is, which version, how many rules."""

    category: str
    file: str
    title: str
    version: str  # the list's own "! Version:", else the file's date
    sha256: str
    rules: int

    def describe(self) -> dict[str, str | int]:
        return {
            "category": self.category,
            "file": self.file,
            "title": self.title,
            "version": self.version,
            "sha256": self.sha256[:16],
            "rules": self.rules,
        }


def _header(text: str, name: str) -> str:
    prefix = f"! {name}:"
    for line in text.splitlines()[:40]:
        if line.startswith(prefix):
            return line[len(prefix) :].strip()
    return ""


def _read(category: str, path: Path) -> tuple[FilterList, str]:
    raw = path.read_bytes()
    text = raw.decode("utf-8", errors="replace")
    version = _header(text, "Version")
    if not version or "%" in version:
        version = datetime.datetime.fromtimestamp(path.stat().st_mtime, datetime.UTC).strftime("%Y-%m-%d")
    rules = sum(1 for line in text.splitlines() if line.strip() and not line.startswith(("!", "[")))
    title = _header(text, "Title") or path.stem
    return FilterList(category, path.name, title, version, hashlib.sha256(raw).hexdigest(), rules), text


@dataclass
class Filters:
    """The engines an operator's lists make, by category; a category without a list is absent."""

    engines: dict[str, adblock.Engine] = field(default_factory=dict)
    lists: tuple[FilterList, ...] = ()

    @classmethod
    def load(cls, directory: str | Path) -> Filters:
        folder = Path(directory)
        engines: dict[str, adblock.Engine] = {}
        found: list[FilterList] = []
        for category, patterns in _FILES.items():
            paths = sorted({p for pattern in patterns for p in folder.glob(pattern) if p.is_file()})
            if not paths:
                continue
            filter_set = adblock.FilterSet()
            for path in paths:
                described, text = _read(category, path)
                filter_set.add_filter_list(text)
                found.append(described)
            engines[category] = adblock.Engine(filter_set, optimize=True)
        if not engines:
            log.info("no filter lists in %s: block_ads and block_trackers are refused", folder)
        return cls(engines, tuple(found))

    @classmethod
    def of_text(cls, lists: dict[str, str]) -> Filters:
        """Engines from list texts by category (tests of pure logic)."""
        engines = {}
        for category, text in lists.items():
            filter_set = adblock.FilterSet()
            filter_set.add_filter_list(text)
            engines[category] = adblock.Engine(filter_set, optimize=True)
        return cls(engines)

    def has(self, category: str) -> bool:
        return category in self.engines

    def blocks(self, categories: Iterable[str], url: str, source_url: str, resource_type: str) -> str | None:
        """The category whose network rules block this request, or None."""
        request_type = _REQUEST_TYPES.get(resource_type, "other")
        for category in categories:
            result = self.engines[category].check_network_urls(url, source_url, request_type)
            if result.matched and not result.exception:
                return category
        return None

    def hiding_css(self, categories: Iterable[str], url: str, classes: list[str], ids: list[str]) -> str:
        """A style sheet hiding what the cosmetic rules of ``categories`` hide in a frame at ``url`` that
        uses these classes and ids ("" when nothing)."""
        selectors: set[str] = set()
        for category in categories:
            engine = self.engines[category]
            resources = engine.url_cosmetic_resources(url)
            selectors |= set(resources.hide_selectors)
            if not getattr(resources, "generichide", False):  # (missing from the stubs)
                classes, ids = classes[:MAX_SELECTOR_INPUT], ids[:MAX_SELECTOR_INPUT]
                selectors |= set(engine.hidden_class_id_selectors(classes, ids, resources.exceptions))
        if not selectors:
            return ""
        # one rule per selector: a selector the browser cannot parse drops only its own rule
        return "".join(f"{selector} {{ display: none !important; }}\n" for selector in sorted(selectors))

    def describe(self) -> list[dict[str, str | int]]:
        return [filter_list.describe() for filter_list in self.lists]
