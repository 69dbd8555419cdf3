"""Playwright's device registry (``SNAPSHOT_DEVICES_FILE``): the JSON file ``lib/server/deviceDescriptorsSource.json``
of the npm package ``playwright-core``, fetched with its version by ``scripts/setup.sh`` - never a table of
our own.  A device gives a capture its user agent, scale, mobile and touch, and its viewport as the default
width and height."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Device:
    name: str
    user_agent: str
    width: int  # the viewport, CSS pixels
    height: int
    scale: float  # device pixels per CSS pixel
    mobile: bool
    touch: bool


@dataclass(frozen=True)
class Devices:
    by_name: dict[str, Device]
    source: str = ""  # the file, and its package version when known

    def get(self, name: str) -> Device | None:
        return self.by_name.get(name)

    def describe(self) -> dict[str, object]:
        return {"source": self.source, "devices": len(self.by_name)}


@functools.cache
def load_devices(path: str) -> Devices:
    """The registry at ``path`` (an empty one when the file is missing); ValueError when it is unreadable."""
    file = Path(path)
    if not file.is_file():
        return Devices({})
    try:
        raw = json.loads(file.read_text())
        devices = {
            name: Device(
                name,
                str(d["userAgent"]),
                int(d["viewport"]["width"]),
                int(d["viewport"]["height"]),
                float(d["deviceScaleFactor"]),
                bool(d["isMobile"]),
                bool(d["hasTouch"]),
            )  # fmt: skip
            for name, d in raw.items()
        }
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path} is not Playwright's device registry: {exc}") from None
    versions = sorted(p.name.removeprefix(".version-") for p in file.parent.glob(".version-*"))
    return Devices(devices, f"playwright-core {versions[-1]}" if versions else str(file))
