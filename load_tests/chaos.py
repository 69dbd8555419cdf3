"""Chaos run: POST load through the service while a Grid node is killed, S3 is restarted and the Grid's
hub is restarted.

    python -m load_tests.chaos [--concurrency 2] [--duration 60] [--kill-at 10] [--s3-down-at 20]
                               [--s3-down-for 5] [--hub-restart-at 35] [--json]

Starts its own Grid (hub + 2 nodes x 1 slot), SeaweedFS, page server and service (tests/servers.py).
During the run it SIGKILLs one node (JVM, ChromeDriver and Chrome), stops SeaweedFS for a while and
restarts the hub.  It reports the success rate, errors by kind, the failure share in the time after
each fault, and checks: no 500, no request that outlived its deadline, and every file_url a
successful POST returned is readable (a POST that said success must have stored its file).
Everything it starts it stops; its request loop is bounded by --duration.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from load_tests.load import run_workers
from load_tests.stats import table
from tests.servers import PageServer, start_grid, start_s3, start_service


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m load_tests.chaos", description=__doc__.split("\n")[0])
    parser.add_argument("--concurrency", "-c", type=int, default=2)
    parser.add_argument("--duration", type=float, default=60)
    parser.add_argument("--kill-at", type=float, default=10, help="seconds into the run to kill a node")
    parser.add_argument("--s3-down-at", type=float, default=20)
    parser.add_argument("--s3-down-for", type=float, default=5)
    parser.add_argument("--hub-restart-at", type=float, default=35)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    pages = PageServer()
    grid = start_grid(nodes=2, max_sessions=1)
    s3 = start_s3()
    service = None
    events: list[str] = []
    stored: list[str] = []
    errors_by_kind: Counter = Counter()
    timeline: list[tuple[float, float, int]] = []  # (start, seconds, status) of every request
    faults: list[tuple[float, str]] = []
    lock = threading.Lock()
    run_started = time.monotonic()
    try:
        service = start_service(
            {
                "SNAPSHOT_GRID_URL": grid.url,
                "SNAPSHOT_ALLOW_NETWORKS": "127.0.0.0/8",
                "SNAPSHOT_POOL_SIZE": "2",
                "SNAPSHOT_ALLOW_LOCALMODE": "false",
                **s3.service_env(),
                "SNAPSHOT_S3_TIMEOUT": "1",
                "SNAPSHOT_LOG_LEVEL": "WARNING",
            }
        )
        form = {"url": f"{pages.base}/cards?n=50", "width": "800", "height": "600"}
        sessions = [requests.Session() for _ in range(args.concurrency)]

        def one(worker: int) -> str | None:
            started = time.monotonic()
            response = sessions[worker].post(f"{service.url}/create_snap", data=form, timeout=120)
            with lock:
                timeline.append((started - run_started, time.monotonic() - started, response.status_code))
            if response.status_code == 200 and response.json().get("status") == "success":
                with lock:
                    stored.append(response.json()["file_url"])
                return None
            kind = f"{response.status_code} {response.json().get('error', '?')}"
            with lock:
                errors_by_kind[kind] += 1
            return str(response.status_code)

        def chaos() -> None:
            started = run_started

            def at(seconds: float, what: str, action) -> None:  # type: ignore[no-untyped-def]
                time.sleep(max(0.0, seconds - (time.monotonic() - started)))
                faults.append((time.monotonic() - started, what))
                action()
                events.append(f"{faults[-1][0]:.1f}s: {what}")

            at(args.kill_at, "killed a Grid node", lambda: grid.nodes[0].signal(signal.SIGKILL))
            at(args.s3_down_at, "stopped SeaweedFS", s3.stop)
            time.sleep(args.s3_down_for)
            s3.restart()
            events.append(f"{time.monotonic() - started:.1f}s: SeaweedFS back")
            at(args.hub_restart_at, "restarted the Grid hub", grid.restart_hub)

        saboteur = threading.Thread(target=chaos, daemon=True)
        saboteur.start()
        result = run_workers("chaos", args.concurrency, 10**6, args.duration, one)
        saboteur.join()
        unreadable = [url for url in stored if requests.get(url, timeout=10).status_code != 200]
    finally:
        if service is not None:
            service.stop()
        s3.stop()
        grid.stop()
        pages.stop()
    total = result.ok + sum(result.errors.values())
    per_fault = {}
    bounds = [t for t, _ in faults] + [float("inf")]
    for (when, what), until in zip(faults, bounds[1:], strict=True):
        window = [status for start, _, status in timeline if when <= start < until]
        share = round(sum(s != 200 for s in window) / len(window), 3) if window else 0.0
        per_fault[what] = {"requests": len(window), "failed_share": share}
    deadline = 2 * 30.0 + 5  # SNAPSHOT_CAPTURE_TIMEOUT (default), then the upload's own budget of as much
    report = {
        "requests": total,
        "success_rate": round(result.ok / total, 4) if total else 0.0,
        "errors_by_kind": dict(errors_by_kind),
        "events": events,
        "stored_files": len(stored),
        "unreadable_files": len(unreadable),
        "failure_share_after_each_fault": per_fault,
        "server_errors_500": sum(status == 500 for _, _, status in timeline),
        "past_deadline": sum(seconds > deadline for _, seconds, _ in timeline),
        "summary": result.summary(),
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(
            table(
                [result.summary()],
                ["name", "concurrency", "requests", "ok", "throughput_rps", "p50_ms", "p95_ms", "errors"],
            )
        )
        print(json.dumps({k: v for k, v in report.items() if k != "summary"}, indent=2))
    if unreadable or report["server_errors_500"] or report["past_deadline"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
