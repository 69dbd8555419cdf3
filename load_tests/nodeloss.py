"""Node loss: captures through the service while a Grid node is SIGKILLed.

    python -m load_tests.nodeloss [--concurrency 2] [--duration 60] [--json]

Starts a Grid (hub + two nodes, one slot each), a page server and the service (pool of 2, so it holds
a warm session on each node), kills one node (its JVM, ChromeDriver and Chrome) and keeps capturing for
--duration seconds.  Reports the time from the kill to the first success on a session opened after it,
the share of failed captures in that time, the slowest capture, and whether the dead node left the Grid.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from load_tests.stats import print_report
from tests.servers import PageServer, start_grid, start_service, wait_until


def _metric(service_url: str, prefix: str) -> float:
    scrape = requests.get(f"{service_url}/metrics", timeout=5).text
    return sum(float(line.split()[-1]) for line in scrape.splitlines() if line.startswith(prefix))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m load_tests.nodeloss", description=__doc__.split("\n")[0])
    parser.add_argument("--concurrency", "-c", type=int, default=2)
    parser.add_argument("--duration", type=float, default=60)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    pages, grid, service = PageServer(), start_grid(nodes=2, max_sessions=1), None
    results: list[tuple[float, float, int, float]] = []  # (start after kill, seconds, status, sessions opened)
    lock = threading.Lock()
    try:
        service = start_service({"SNAPSHOT_GRID_URL": grid.url, "SNAPSHOT_ALLOW_NETWORKS": "127.0.0.0/8",
                                 "SNAPSHOT_ALLOW_LOCALMODE": "false", "SNAPSHOT_POOL_SIZE": "2",
                                 "SNAPSHOT_LOG_LEVEL": "WARNING"})  # fmt: skip
        idle = 'snapshot_pool_sessions{backend="grid",state="idle"}'
        wait_until(lambda: _metric(service.url, idle) == 2, 30, "two warm sessions")
        opened_before = _metric(service.url, 'snapshot_browser_sessions_opened_total{backend="grid"}')
        query = {"url": f"{pages.base}/cards?n=50", "width": 800, "height": 600}
        grid.nodes[0].signal(signal.SIGKILL)
        killed = time.monotonic()

        def worker() -> None:
            session = requests.Session()
            while time.monotonic() - killed < args.duration:
                started = time.monotonic()
                try:
                    status = session.get(f"{service.url}/create_snap", params=query, timeout=120).status_code
                except requests.RequestException:
                    status = 0
                opened = _metric(service.url, 'snapshot_browser_sessions_opened_total{backend="grid"}')
                with lock:
                    results.append((started - killed, time.monotonic() - started, status, opened))

        threads = [threading.Thread(target=worker) for _ in range(args.concurrency)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        nodes_left = len(grid.status()["nodes"])
    finally:
        if service is not None:
            service.stop()
        grid.stop()
        pages.stop()
    failed = [r for r in results if r[2] != 200]
    on_new = [r for r in sorted(results) if r[2] == 200 and r[3] > opened_before]
    row = {
        "captures": len(results),
        "failed": len(failed),
        "failed_share": round(len(failed) / len(results), 4) if results else 0.0,
        "first_success_s": round(min((r[0] + r[1] for r in results if r[2] == 200), default=float("nan")), 2),
        "first_success_on_new_session_s": round(on_new[0][0] + on_new[0][1], 2) if on_new else None,
        "slowest_s": round(max(r[1] for r in results), 2) if results else None,
        "grid_nodes_after": nodes_left,
    }
    print_report({"rows": [row], "statuses": sorted({r[2] for r in results})}, list(row), args.json)


if __name__ == "__main__":
    main()
