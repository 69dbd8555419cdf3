"""The capture cache: results kept in the configured storage (S3 or the local directory) beside a small
JSON document of their metadata, under a key that covers everything that makes the picture.

The key is a SHA-256 over the endpoint, the canonical URL, the viewport, every option that changes the
result, the caller's ``cache_key`` salt and - when API keys are on - the caller's identity, so one
tenant's capture (with its cookies or headers) is never served to another.  The metadata document is
written after the file: a reader that finds it finds the file.  An entry is served while it is younger
than both the ``cache_ttl`` that stored it and the one that asks.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from service.delivery.results import Result
from service.images import EXTENSIONS
from service.params import CaptureRequest
from service.snapshots import Snapshotter
from service.storage import URL_KEY

log = logging.getLogger("snapshot.cache")

PREFIX = "cache-"


def cache_key(request: CaptureRequest, tenant: str) -> str:
    """The request's identity: what decides the picture, the caller's salt and the caller."""
    identity = {
        "v": 1,
        "endpoint": request.endpoint.value,
        "url": request.url,
        "width": request.width,
        "height": request.height,
        "localmode": request.localmode,
        "options": request.options.picture(),  # a body's text too
        "said": request.options.metadata,  # what the page said is collected only when asked
        "salt": request.options.cache_key,
        "tenant": tenant,
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=list).encode()).hexdigest()


class CaptureCache:
    def __init__(self, snapshotter: Snapshotter, clock: Callable[[], float] = time.time) -> None:
        self.snapshotter = snapshotter
        self.storage = snapshotter.storage
        self.clock = clock  # the wall clock entries expire by (tests give their own)

    def _meta_key(self, key: str) -> str:
        return self.storage.key_for(f"{PREFIX}{key}.json")

    def _file_key(self, key: str, format: str) -> str:
        return self.storage.key_for(f"{PREFIX}{key}.{EXTENSIONS[format]}")

    def _deadline(self) -> float:
        return time.monotonic() + self.snapshotter.settings.s3_timeout * 3

    async def lookup(self, key: str, max_age: int) -> Result | None:
        """The entry, if there is one younger than ``max_age`` seconds that has not expired."""
        raw = await self.snapshotter.io(self.storage.get, self._meta_key(key), deadline=self._deadline())
        if raw is None:
            return None
        try:
            doc: dict[str, Any] = json.loads(raw)
            result = Result.from_stored(doc, self._file_key(key, doc["format"]))
            expires_at = float(doc["expires_at"])
        except (ValueError, KeyError, TypeError):
            log.warning("cache entry %s is unreadable; rendering again", key)
            return None
        now = self.clock()
        if now >= expires_at or result.age(now) >= max_age:
            return None
        return result

    async def read(self, result: Result) -> bytes | None:
        """The file of an entry (None: it is gone)."""
        assert result.key is not None
        return await self.snapshotter.io(self.storage.get, result.key, deadline=self._deadline())

    async def put(self, key: str, result: Result, ttl: int) -> None:
        """Stores the result's file, then its metadata document; sets ``result.key``."""
        assert result.data is not None
        result.key = self._file_key(key, result.format)
        timings = result.capture.timings if result.capture is not None else None
        await self.snapshotter.store(result.key, result.data, result.media_type, timings)
        doc = {**result.stored(), "expires_at": result.rendered_at + ttl}
        await self.snapshotter.store(self._meta_key(key), json.dumps(doc).encode(), "application/json")


def sweep_local(directory: Path, grace: float, file_ttl: float, now: float | None = None) -> int:
    """Removes the local directory's cache entries that expired more than ``grace`` seconds ago (a
    ``file_url`` handed out just before expiry stays readable that long), and the other files (POST and
    job results) stored more than ``file_ttl`` seconds ago; returns how many."""
    now = time.time() if now is None else now
    removed = 0
    for meta in directory.glob(f"{PREFIX}*.json"):
        try:
            doc = json.loads(meta.read_bytes())
            if float(doc["expires_at"]) + grace > now:
                continue
            (directory / f"{meta.stem}.{EXTENSIONS[doc['format']]}").unlink(missing_ok=True)
            meta.unlink(missing_ok=True)
            removed += 1
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("cache entry %s could not be swept: %s", meta.name, exc)
    for path in directory.iterdir():
        if path.name.startswith(PREFIX) or path.name == URL_KEY or not path.is_file():
            continue  # cache entries go by their own expiry; the links' key stays
        try:
            if path.stat().st_mtime + file_ttl <= now:
                path.unlink(missing_ok=True)
                removed += 1
        except OSError as exc:
            log.warning("file %s could not be swept: %s", path.name, exc)
    return removed
