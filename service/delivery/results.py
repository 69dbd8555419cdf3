"""A capture's result as it is delivered: its bytes or where they are stored, and its metadata (what the
page said about itself and what the image is), the same whether it was rendered now or came from the
cache."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from service.images import MEDIA_TYPES
from service.snapshots import Capture


def etag_of(data: bytes) -> str:
    return '"' + hashlib.sha256(data).hexdigest()[:32] + '"'


@dataclass
class Result:
    format: str  # png, jpeg, webp or pdf
    meta: dict[str, Any]  # final_url, http_status, page_title, image_width, image_height, page_height, ...
    etag: str
    rendered_at: float  # unix time of the render
    cache: str = "miss"  # hit: served from the cache
    key: str | None = None  # where it is stored (POST, async jobs, the cache)
    data: bytes | None = None  # None: read it from storage (a cache hit answered with JSON needs no bytes)
    capture: Capture | None = field(default=None, repr=False)  # this request's own render

    @classmethod
    def of(cls, capture: Capture, rendered_at: float) -> Result:
        shot, info = capture.shot, capture.shot.info
        meta: dict[str, Any] = {
            "final_url": info.final_url,
            "http_status": info.http_status,
            "page_title": info.title,
            "image_width": shot.width,
            "image_height": shot.height,
            "page_height": shot.page_height,
            "format": shot.format,
            "bytes": len(shot.data),
            "render_ms": round(capture.elapsed * 1000),
            "truncated": shot.truncated,
            "blocked_requests": sum(info.blocked.values()),
        }
        if info.console is not None:  # metadata=true: what the page said
            meta["console"] = list(info.console)
            meta["failed_requests"] = list(info.failed_requests or ())
        return cls(shot.format, meta, etag_of(shot.data), rendered_at, data=shot.data, capture=capture)

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.format]

    def age(self, now: float) -> int:
        """Whole seconds since it was rendered, at ``now`` (the renderer's clock)."""
        return max(0, int(now - self.rendered_at))

    def metadata(self, request_id: str) -> dict[str, Any]:
        """The ``metadata=true`` fields of a JSON answer."""
        return {**self.meta, "cache": self.cache, "request_id": request_id}

    def headers(self) -> dict[str, str]:
        """The metadata as ``X-Snapshot-*`` response headers (the page title percent-encoded, UTF-8)."""
        m = self.meta
        headers = {
            "X-Snapshot-Final-Url": m["final_url"],
            "X-Snapshot-Http-Status": str(m["http_status"]),
            "X-Snapshot-Page-Title": quote(m["page_title"], safe=" !#$&'()*+,/:;=?@[]~"),
            "X-Snapshot-Image-Width": str(m["image_width"]),
            "X-Snapshot-Image-Height": str(m["image_height"]),
            "X-Snapshot-Page-Height": str(m["page_height"]),
            "X-Snapshot-Format": m["format"],
            "X-Snapshot-Bytes": str(m["bytes"]),
            "X-Snapshot-Render-Ms": str(m["render_ms"]),
            "X-Snapshot-Cache": self.cache,
        }
        if self.capture is not None:
            headers["X-Snapshot-Backend"] = str(self.capture.backend)
        if m.get("blocked_requests"):
            headers["X-Snapshot-Blocked-Requests"] = str(m["blocked_requests"])
        if m.get("truncated"):
            headers["X-Snapshot-Truncated"] = "true"
        return headers

    def stored(self) -> dict[str, Any]:
        """What the cache keeps beside the file (``from_stored`` reads it back)."""
        return {"format": self.format, "meta": self.meta, "etag": self.etag, "rendered_at": self.rendered_at}

    @classmethod
    def from_stored(cls, doc: dict[str, Any], key: str) -> Result:
        return cls(doc["format"], doc["meta"], doc["etag"], float(doc["rendered_at"]), cache="hit", key=key)
