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
from collections.abc import Callable

from service.browsers.grid import GridApi, GridNode
from service.browsers.pool import SessionPool

log = logging.getLogger("snapshot.nodes")


class NodeLoss:
    def __init__(self, grid: GridApi, registration_secret: str, on_removed: Callable[[], None] | None = None) -> None:
        self.grid = grid
        self.pool: SessionPool | None = None  # set once the pool exists (the pool asks ``room``)
        self.secret = registration_secret
        self.on_removed = on_removed or (lambda: None)

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

    def sweep(self) -> int:
        """Blocking, after a session died or a new one could not be started: every node the Grid counts
        as UP that does not answer is removed from the Grid, and this pool's sessions on it are marked
        broken.  Returns how many nodes were removed."""
        try:
            nodes = [n for n in self.grid.nodes() if n.up]
        except OSError as exc:
            log.warning("the Grid did not list its nodes: %s", exc)
            return 0
        return sum(self._remove(node) for node in nodes if not self.grid.node_answers(node.uri))

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
