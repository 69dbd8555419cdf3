"""What the Selenium Grid says about itself: slot counts (``/status``, ``/graphql``) and its sessions."""

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
    """Slots on nodes that are UP.  The Grid's own ``ready`` flag is left out on purpose: it is false
    whenever every slot is busy or there are no nodes, both normal under KEDA (see ``health.grid_check``)."""

    slots: int
    free_slots: int

    @classmethod
    def parse(cls, status: dict) -> GridStatus:
        value = status.get("value", {})
        nodes = [n for n in value.get("nodes", []) if n.get("availability", "UP") == "UP"]
        slots = [slot for node in nodes for slot in node.get("slots", [])]
        return cls(len(slots), sum(1 for slot in slots if not slot.get("session")))


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


def graphql(grid_url: str, query: str, auth: Auth = None, timeout: float = 3.0) -> dict:
    """The ``data`` of a query to the Grid's GraphQL endpoint (what KEDA's scaler reads too)."""
    request = urllib.request.Request(
        f"{grid_url}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json", **basic_auth_header(auth)},
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        data: dict = json.load(response)["data"]
    return data


def grid_capacity(grid_url: str, auth: Auth = None, timeout: float = 3.0) -> GridCapacity:
    """Slot and queue counts."""
    grid = graphql(grid_url, _CAPACITY_QUERY, auth, timeout)["grid"]
    return GridCapacity(int(grid["totalSlots"]), int(grid["sessionCount"]), int(grid["sessionQueueSize"]))


@dataclass(frozen=True)
class GridSession:
    id: str
    capabilities: dict
    age: float  # seconds


_SESSIONS_QUERY = "{ sessionsInfo { sessions { id capabilities sessionDurationMillis } } }"


def grid_sessions(grid_url: str, auth: Auth = None, timeout: float = 5.0) -> list[GridSession]:
    """Every session on the Grid, with its capabilities and age (GraphQL ``sessionsInfo``)."""
    sessions = graphql(grid_url, _SESSIONS_QUERY, auth, timeout)["sessionsInfo"]["sessions"]
    return [
        GridSession(s["id"], json.loads(s["capabilities"] or "{}"), int(s["sessionDurationMillis"]) / 1000)
        for s in sessions
    ]


def end_session(grid_url: str, session_id: str, auth: Auth = None, timeout: float = 10.0) -> None:
    request = urllib.request.Request(f"{grid_url}/session/{session_id}", method="DELETE",
                                     headers=basic_auth_header(auth))
    with urllib.request.urlopen(request, timeout=timeout):
        pass


def find_orphans(
    sessions: list[GridSession], *, capability: str, instance: str, ours: set[str], own_grace: float,
    foreign_max_age: float,
) -> list[GridSession]:
    """Sessions a Snapshot replica opened and no live replica will close.

    - this replica's, that its pool does not hold (a new-session request that timed out here but
      succeeded on the Grid later), once older than ``own_grace``;
    - another replica's, older than ``foreign_max_age``: a live replica replaces every session before
      that age, so only a crashed one leaves them.
    Sessions without the capability belong to other Grid clients and are never touched."""
    orphans = []
    for session in sessions:
        owner = session.capabilities.get(capability)
        if not owner:
            continue
        if owner == instance:
            if session.id not in ours and session.age > own_grace:
                orphans.append(session)
        elif session.age > foreign_max_age:
            orphans.append(session)
    return orphans
