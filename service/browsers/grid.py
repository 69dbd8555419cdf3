"""The Selenium Grid's HTTP API, all in one place: slot counts (``/status``, ``/graphql``), its sessions
and how to end them, the probe that tells whether a session still exists, and the address of a
session's DevTools websocket as this service reaches it.  Calls block; run them in an executor.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from service import tracing
from service.errors import BackendUnavailable

Auth = tuple[str, str] | None

NODES_RETRY = 300.0  # seconds DevTools connections skip the nodes after one refused
_CAPACITY_QUERY = "{ grid { totalSlots sessionCount sessionQueueSize } }"
_SESSIONS_QUERY = "{ sessionsInfo { sessions { id capabilities sessionDurationMillis } } }"


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
    def parse(cls, status: dict[str, Any]) -> GridStatus:
        up = [node for node in parse_nodes(status) if node.up]
        return cls(sum(node.slots for node in up), sum(node.free for node in up))


@dataclass(frozen=True)
class GridCapacity:
    slots: int
    sessions: int
    queue: int

    @property
    def free(self) -> int:
        return max(0, self.slots - self.sessions)


@dataclass(frozen=True)
class GridNode:
    id: str
    uri: str
    up: bool
    sessions: frozenset[str]  # ids of the sessions the Grid places on it
    slots: int = 0

    @property
    def free(self) -> int:
        return max(0, self.slots - len(self.sessions))


def parse_nodes(status: dict[str, Any]) -> list[GridNode]:
    """The nodes of a ``/status`` answer."""
    return [
        GridNode(
            n["id"],
            n["uri"],
            n.get("availability", "UP") == "UP",
            frozenset(slot["session"]["sessionId"] for slot in n.get("slots", []) if slot.get("session")),
            len(n.get("slots", [])),
        )
        for n in status.get("value", {}).get("nodes", [])
    ]


@dataclass(frozen=True)
class GridSession:
    id: str
    capabilities: dict[str, Any]
    age: float  # seconds


class GridApi:
    """One Grid, reached at ``url`` with optional basic auth."""

    def __init__(self, url: str, auth: Auth = None) -> None:
        self.url = url.rstrip("/")
        self.auth = auth
        self.headers = basic_auth_header(auth)
        self._nodes_refused_until = 0.0  # until then, DevTools connections go through the router only

    def _open(self, path: str, *, timeout: float, data: bytes | None = None, method: str | None = None) -> Any:
        headers = {**self.headers, **({"Content-Type": "application/json"} if data is not None else {})}
        tracing.inject(headers)  # within a capture: the Grid's spans and logs join its trace
        request = urllib.request.Request(f"{self.url}{path}", data=data, headers=headers, method=method)
        return urllib.request.urlopen(request, timeout=timeout)

    def status(self, timeout: float = 3.0) -> GridStatus:
        with self._open("/status", timeout=timeout) as response:
            return GridStatus.parse(json.load(response))

    def nodes(self, timeout: float = 3.0) -> list[GridNode]:
        """The nodes the Grid knows, with the sessions on each (``/status``)."""
        with self._open("/status", timeout=timeout) as response:
            return parse_nodes(json.load(response))

    def node_of(self, session_id: str) -> GridNode | None:
        """The node that runs a session, as ``/status`` lists it (None: no node does)."""
        return next((node for node in self.nodes() if session_id in node.sessions), None)

    @staticmethod
    def node_answers(uri: str, timeout: float = 2.0) -> bool:
        """Whether a node's own ``/status`` answers (a SIGKILLed node refuses at once; a node whose pod is
        gone lets the connection time out)."""
        try:
            with urllib.request.urlopen(f"{uri.rstrip('/')}/status", timeout=timeout) as response:
                return bool(response.status == 200)
        except (OSError, ValueError):
            return False

    def remove_node(self, node_id: str, registration_secret: str, timeout: float = 5.0) -> None:
        """Takes a node out of the Grid at once (the distributor's node removal, which needs the
        registration secret; empty when the Grid has none), so no new session is routed to it."""
        request = urllib.request.Request(
            f"{self.url}/se/grid/distributor/node/{node_id}",
            headers=tracing.inject({**self.headers, "X-REGISTRATION-SECRET": registration_secret}),
            method="DELETE",
        )
        with urllib.request.urlopen(request, timeout=timeout):
            pass

    def graphql(self, query: str, timeout: float = 3.0) -> dict[str, Any]:
        """The ``data`` of a query to the Grid's GraphQL endpoint (what KEDA's scaler reads too)."""
        with self._open("/graphql", timeout=timeout, data=json.dumps({"query": query}).encode()) as response:
            data: dict[str, Any] = json.load(response)["data"]
        return data

    def capacity(self, timeout: float = 3.0) -> GridCapacity:
        """Slot and queue counts."""
        grid = self.graphql(_CAPACITY_QUERY, timeout)["grid"]
        return GridCapacity(int(grid["totalSlots"]), int(grid["sessionCount"]), int(grid["sessionQueueSize"]))

    def sessions(self, timeout: float = 5.0) -> list[GridSession]:
        """Every session on the Grid, with its capabilities and age (GraphQL ``sessionsInfo``)."""
        sessions = self.graphql(_SESSIONS_QUERY, timeout)["sessionsInfo"]["sessions"]
        return [
            GridSession(s["id"], json.loads(s["capabilities"] or "{}"), int(s["sessionDurationMillis"]) / 1000)
            for s in sessions
        ]

    def end_session(self, session_id: str, timeout: float = 10.0, registration_secret: str | None = None) -> None:
        """Ends a session through the router; with the registration secret, on its node directly when the
        router does not know it (a restarted hub learns a node's sessions but cannot route to them)."""
        try:
            with self._open(f"/session/{session_id}", timeout=timeout, method="DELETE"):
                return
        except urllib.error.HTTPError:
            if registration_secret is None:
                raise
        node = self.node_of(session_id)
        if node is not None:
            self.end_on_node(node.uri, session_id, registration_secret, timeout)

    @staticmethod
    def end_on_node(uri: str, session_id: str, registration_secret: str, timeout: float = 5.0) -> bool:
        """Ends a session on a node directly (the node's API, with the registration secret); False if
        the node does not run it."""
        request = urllib.request.Request(
            f"{uri.rstrip('/')}/se/grid/node/session/{session_id}",
            headers=tracing.inject({"X-REGISTRATION-SECRET": registration_secret}),
            method="DELETE",
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return bool(200 <= response.status < 300)
        except OSError:  # not there (an HTTP error), or the node did not answer
            return False

    def probe(self, session_id: str) -> Callable[[], bool]:
        """A cheap classic command through the Grid: it fails at once when the session's node is gone."""

        def probe() -> bool:
            try:
                with self._open(f"/session/{session_id}/timeouts", timeout=3) as response:
                    return bool(response.status == 200)
            except urllib.error.HTTPError:
                return False
            except OSError:
                return False  # the Grid itself is unreachable: the session is as good as gone

        return probe

    def cdp_url(self, capabilities: dict[str, Any]) -> str:
        """The session's DevTools websocket (``se:cdp``), reached as we reach the Grid: the Grid reports
        it with the address it detected for itself."""
        reported = capabilities.get("se:cdp")
        if not reported:
            raise BackendUnavailable("the Grid offers no DevTools endpoint (se:cdp) for this session")
        return ws_url_through_grid(reported, self.url)

    def cdp_endpoints(self, session_id: str, capabilities: dict[str, Any]) -> list[CdpEndpoint]:
        """Where the session's DevTools websocket can be reached, best first: on its node, which relays
        it to the browser, then through the router, which relays it to the node.  Every CDP message
        crosses one Java relay instead of two: about half the Grid's CPU per capture and a shorter round
        trip.  The node's address is the one it registered with (reachable from the service's pods:
        the charts' NetworkPolicies allow it); the router's is the fallback when the node is not
        found or does not answer."""
        through_grid = CdpEndpoint(self.cdp_url(capabilities), self.headers)
        if time.monotonic() < self._nodes_refused_until:
            return [through_grid]
        try:
            node = self.node_of(session_id)
        except (OSError, ValueError, KeyError):
            node = None
        if node is None:
            return [through_grid]
        return [CdpEndpoint(ws_url_through_grid(through_grid.url, node.uri), {}, self._node_refused), through_grid]

    def _node_refused(self) -> None:
        """A node did not accept a direct DevTools connection (a NetworkPolicy, an address the service
        cannot reach): the next sessions go through the router without trying, for a while."""
        self._nodes_refused_until = time.monotonic() + NODES_RETRY


@dataclass(frozen=True)
class CdpEndpoint:
    """A DevTools websocket, the headers it needs (the Grid's basic auth; none on a node), and what to
    call when it refuses a connection."""

    url: str
    headers: dict[str, str]
    refused: Callable[[], None] | None = field(default=None, compare=False)

    @property
    def header_lines(self) -> list[str]:
        return [f"{name}: {value}" for name, value in self.headers.items()]


def ws_url_through_grid(reported: str, grid_url: str) -> str:
    reported_parts = urlsplit(reported)
    grid = urlsplit(grid_url)
    path = reported_parts.path
    index = path.find("/session/")
    path = grid.path.rstrip("/") + (path[index:] if index >= 0 else path)
    scheme = "wss" if grid.scheme == "https" else "ws"
    return urlunsplit((scheme, grid.netloc, path, reported_parts.query, ""))


def find_orphans(
    sessions: list[GridSession],
    *,
    capability: str,
    instance: str,
    ours: set[str],
    own_grace: float,
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
