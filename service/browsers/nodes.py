"""Losing a Grid node.  The hub notices a dead node only at its next health check (two minutes by
default) and until then routes new sessions to it; each such request waits out the session timeout.
So when a session of this service dies, or a new one cannot be started, the service looks at the
nodes itself: a node that does not answer is taken out of the Grid (the distributor's node removal,
with the registration secret) and this replica's sessions on it are marked broken.  The capture is
then retried on a live node (``backend``).  Before the pool opens a session while it holds others,
it asks ``room``: how many free slots are there on nodes that answer?  If none (beyond those its own
sessions being opened will take), it waits for its own sessions rather than queue at the Grid for a
slot it holds itself (``pool``)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from service.browsers.grid import GridApi, GridNode
from service.browsers.pool import SessionPool

log = logging.getLogger("snapshot.nodes")

FORGET_AFTER = 900.0  # seconds a dead session is looked for on the nodes (longer than any node's session timeout)


class NodeLoss:
    def __init__(self, grid: GridApi, registration_secret: str, on_removed: Callable[[], None] | None = None) -> None:
        self.grid = grid
        self.pool: SessionPool | None = None  # set once the pool exists (the pool asks ``room``)
        self.secret = registration_secret
        self.on_removed = on_removed or (lambda: None)
        # sessions that died while the Grid could not be asked (the hub was down): ended on their node later
        self._unended: dict[str, float] = {}  # session id -> when it died

    def room(self) -> int:
        """Blocking: the free slots a new session could take now, on nodes that answer.  A node with free
        slots that does not answer is removed on the way."""
        free = 0
        for node in self.grid.nodes(timeout=2):
            if node.up and node.free > 0:
                if self.grid.node_answers(node.uri):
                    free += node.free
                else:
                    self._remove(node)
        return free

    def sweep(self, session_id: str | None = None) -> int:
        """Blocking, after a session died (``session_id``) or a new one could not be started: every node
        the Grid counts as UP that does not answer is removed from the Grid, and this pool's sessions on
        it are marked broken.  The dead session is also ended on whichever node still runs it: after a
        hub restart the router no longer knows it, but its node keeps it (and its slot) until the node's
        session timeout.  Returns how many nodes were removed."""
        now = time.monotonic()
        if session_id is not None:
            self._unended[session_id] = now
        for dead, since in list(self._unended.items()):
            if now - since > FORGET_AFTER:  # its node's own session timeout has ended it by now
                self._unended.pop(dead, None)
        try:
            nodes = [n for n in self.grid.nodes() if n.up]
        except OSError as exc:
            log.warning("the Grid did not list its nodes: %s", exc)
            return 0
        removed = 0
        for node in nodes:
            if not self.grid.node_answers(node.uri):
                removed += self._remove(node)
                continue
            for dead in self._unended.keys() & node.sessions:  # the node still runs it
                if self.grid.end_on_node(node.uri, dead, self.secret):
                    log.warning("ended session %s on node %s: the Grid's router no longer knew it", dead, node.uri)
                    self._unended.pop(dead, None)
        return removed

    def _remove(self, node: GridNode) -> bool:
        broken = self.pool.break_sessions(node.sessions) if self.pool is not None else 0
        try:
            self.grid.remove_node(node.id, self.secret)
        except OSError as exc:
            log.warning("Grid node %s (%s) does not answer and could not be removed: %s", node.id, node.uri, exc)
            return False
        self.on_removed()
        log.warning(
            "Grid node %s (%s) does not answer: removed it from the Grid; %d of this replica's sessions were on it",
            node.id,
            node.uri,
            broken,
        )
        return True
