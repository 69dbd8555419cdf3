"""What the Selenium Grid says about itself (``GET /status``): readiness and slot counts."""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass


@dataclass(frozen=True)
class GridStatus:
    ready: bool
    message: str
    slots: int
    free_slots: int

    @classmethod
    def parse(cls, status: dict) -> GridStatus:
        value = status.get("value", {})
        nodes = [n for n in value.get("nodes", []) if n.get("availability", "UP") == "UP"]
        slots = [slot for node in nodes for slot in node.get("slots", [])]
        free = sum(1 for slot in slots if not slot.get("session"))
        return cls(bool(value.get("ready")), str(value.get("message", "")), len(slots), free)


def grid_status(grid_url: str, timeout: float = 3.0) -> GridStatus:
    with urllib.request.urlopen(f"{grid_url}/status", timeout=timeout) as response:
        return GridStatus.parse(json.load(response))
