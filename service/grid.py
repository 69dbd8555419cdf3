"""What the Selenium Grid says about itself (``GET /status``): readiness and slot counts."""

from __future__ import annotations

import base64
import json
import urllib.request
from dataclasses import dataclass

Auth = tuple[str, str] | None


def basic_auth_header(auth: Auth) -> dict[str, str]:
    if auth is None:
        return {}
    token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


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


def grid_status(grid_url: str, auth: Auth = None, timeout: float = 3.0) -> GridStatus:
    request = urllib.request.Request(f"{grid_url}/status", headers=basic_auth_header(auth))
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return GridStatus.parse(json.load(response))


@dataclass(frozen=True)
class GridCapacity:
    slots: int
    sessions: int
    queue: int

    @property
    def free(self) -> int:
        return max(0, self.slots - self.sessions)


_CAPACITY_QUERY = "{ grid { totalSlots sessionCount sessionQueueSize } }"


def grid_capacity(grid_url: str, auth: Auth = None, timeout: float = 3.0) -> GridCapacity:
    """Slot and queue counts from the Grid's GraphQL endpoint (what KEDA's scaler reads too)."""
    request = urllib.request.Request(
        f"{grid_url}/graphql",
        data=json.dumps({"query": _CAPACITY_QUERY}).encode(),
        headers={"Content-Type": "application/json", **basic_auth_header(auth)},
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        grid = json.load(response)["data"]["grid"]
    return GridCapacity(int(grid["totalSlots"]), int(grid["sessionCount"]), int(grid["sessionQueueSize"]))
