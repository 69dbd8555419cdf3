"""Does the Grid count CDP traffic as session activity?  A real Grid 4.48 answers it.

    python -m load_tests.cdp_activity [--node-timeout 10] [--busy 80] [--idle 80]

Starts a Grid of one node whose ``session-timeout`` is ``--node-timeout`` seconds, and the service on it
(one warm session).  The service drives that session over CDP only (the Grid's ``se:cdp`` websocket;
no WebDriver command after the session is opened) with one capture a second for ``--busy`` seconds,
then leaves it idle for ``--idle`` seconds.  It prints whether the session survived each phase: the
busy one shows whether CDP traffic keeps a session alive, the idle one that the node's timeout works.
Measured 2026-11-26 (10 s timeout): 80 s busy over CDP, 72 captures on one session (it survived);
80 s idle: ended by the node, the next capture opened a new one.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests import servers
from tests.servers import PageServer, start_grid, start_service


def opened_sessions(service_url: str) -> float:
    for line in requests.get(f"{service_url}/metrics", timeout=5).text.splitlines():
        if line.startswith('snapshot_browser_sessions_opened_total{backend="grid"}'):
            return float(line.split()[-1])
    return 0.0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m load_tests.cdp_activity", description=__doc__.split("\n")[0])
    parser.add_argument("--node-timeout", type=int, default=10)
    parser.add_argument("--busy", type=float, default=80)
    parser.add_argument("--idle", type=float, default=80)
    args = parser.parse_args(argv)
    node_config = servers._node_config

    def short_timeout(directory: Path, max_sessions: int) -> Path:
        path = node_config(directory, max_sessions)
        path.write_text(path.read_text().replace("session-timeout = 120", f"session-timeout = {args.node_timeout}"))
        return path

    servers._node_config = short_timeout
    pages = PageServer()
    grid = start_grid(nodes=1, max_sessions=1)
    service = None
    try:
        service = start_service({"SNAPSHOT_GRID_URL": grid.url, "SNAPSHOT_ALLOW_NETWORKS": "127.0.0.0/8",
                                 "SNAPSHOT_POOL_SIZE": "1", "SNAPSHOT_ALLOW_LOCALMODE": "false",
                                 "SNAPSHOT_SESSION_IDLE_TIMEOUT": "600"})  # fmt: skip
        params = {"url": f"{pages.base}/color/00ff00", "width": 50, "height": 50}
        statuses = []
        started = time.monotonic()
        while time.monotonic() - started < args.busy:
            statuses.append(requests.get(f"{service.url}/create_snap", params=params, timeout=60).status_code)
            time.sleep(1)
        busy_sessions, busy_opened = grid.sessions(), opened_sessions(service.url)
        time.sleep(args.idle)
        idle_sessions = grid.sessions()
        after = requests.get(f"{service.url}/create_snap", params=params, timeout=60).status_code
        print(
            f"busy {args.busy:.0f}s over CDP: {len(statuses)} captures, non-200: "
            f"{[s for s in statuses if s != 200]}, sessions opened {busy_opened:.0f}, on the Grid {busy_sessions}"
        )
        print(f"idle {args.idle:.0f}s: on the Grid {idle_sessions}; the next capture {after}, "
              f"sessions opened {opened_sessions(service.url):.0f}")  # fmt: skip
    finally:
        if service is not None:
            service.stop()
        grid.stop()
        pages.stop()


if __name__ == "__main__":
    main()
