"""Load generator for a running Snapshot service.

    python -m load_tests.load --service http://127.0.0.1:8080 --page https://example.com \\
        --concurrency 4 --count 200 --size 1000x1000 [--duration 60] [--method POST] [--json]

Prints a progress line each second on stderr and a final table: requests/s, p50/p95/p99, errors by
status.  Every request loop is bounded by --count and --duration.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

import requests

from load_tests.cpu import CpuMeter
from load_tests.stats import RunResult, table
from tests.servers import PageServer, Service, browser_processes, start_service

COLUMNS = ["name", "concurrency", "requests", "ok", "throughput_rps", "p50_ms", "p95_ms", "p99_ms", "errors"]


def parse_size(text: str) -> tuple[int, int]:
    width, _, height = text.lower().partition("x")
    return int(width), int(height)


def run_workers(
    name: str,
    concurrency: int,
    count: int,
    duration: float | None,
    one: Callable[[int], str | None],
    progress: bool = True,
    meter: AbstractContextManager[object] | None = None,
) -> RunResult:
    """Run ``one(worker)`` ``count`` times over ``concurrency`` threads; ``one`` returns None on success
    or an error label.  Stops early after ``duration`` seconds.  ``meter`` (a CPU meter) is entered
    around the loop alone."""
    result = RunResult(name, concurrency, 0.0)
    lock = threading.Lock()
    issued = 0
    started = time.perf_counter()
    stop_at = started + duration if duration else None

    finished: list[float] = []

    def worker(index: int) -> None:
        nonlocal issued
        while True:
            with lock:
                if issued >= count or (stop_at and time.perf_counter() >= stop_at):
                    finished.append(time.perf_counter())
                    return
                issued += 1
            t0 = time.perf_counter()
            try:
                error = one(index)
            except Exception as exc:
                error = type(exc).__name__
            elapsed = time.perf_counter() - t0
            with lock:
                if error is None:
                    result.latencies.append(elapsed)
                else:
                    result.errors[error] += 1

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(concurrency)]
    with meter or contextlib.nullcontext():
        for t in threads:
            t.start()
        shown = started
        for t in threads:  # joined in short slices: the meter stops as soon as the last one ends
            while t.is_alive():
                t.join(timeout=0.05)
                if progress and time.perf_counter() - shown >= 1.0:
                    shown = time.perf_counter()
                    with lock:
                        done, errors = result.ok, sum(result.errors.values())
                    rate = done / max(1e-9, shown - started)
                    of = f"/{count}" if count < 10**6 else ""
                    print(f"\r{name}: {done + errors}{of} done, {errors} errors, {rate:.2f}/s", end="", file=sys.stderr)
    if progress:
        print(file=sys.stderr)
    result.elapsed = max(finished, default=time.perf_counter()) - started
    return result


def service_load(
    service: str,
    page: str,
    width: int,
    height: int,
    concurrency: int,
    count: int,
    duration: float | None = None,
    method: str = "GET",
    name: str = "service",
    progress: bool = True,
    options: dict[str, str | list[str]] | None = None,
    meter: AbstractContextManager[object] | None = None,
    endpoint: str = "/create_snap",
    headers: dict[str, str] | None = None,
) -> RunResult:
    """``count`` captures of ``page`` (or of the body its ``options`` give) through the service's ``endpoint``
    (with capture ``options`` and request ``headers``, if any)."""
    sessions = [requests.Session() for _ in range(concurrency)]
    for http in sessions:
        http.headers.update(headers or {})
    # no page: the options give a body (html or markdown) instead
    params = {**({"url": page} if page else {}), "width": str(width), "height": str(height), **(options or {})}
    if endpoint.endswith("pdf"):
        magic = b"%PDF-"
    elif endpoint.endswith("content"):
        magic = b""
    else:
        magic = b"\x89PNG\r\n\x1a\n" if params.get("format", "png") == "png" else b""

    def one(worker: int) -> str | None:
        http = sessions[worker]
        if method == "GET":
            response = http.get(f"{service}{endpoint}", params=params, timeout=120)
            ok = response.status_code == 200 and response.content.startswith(magic) and bool(response.content)
        else:
            response = http.post(f"{service}{endpoint}", data=params, timeout=120)
            ok = response.status_code == 200 and response.json().get("status") == "success"
        return None if ok else str(response.status_code)

    try:
        return run_workers(name, concurrency, count, duration, one, progress, meter)
    finally:
        for http in sessions:
            http.close()


@dataclass(frozen=True)
class Run:
    """One measured path of a benchmark through the service: a page, its options, endpoint and headers."""

    url: str  # "" when the options give a body instead
    options: dict[str, str | list[str]] = field(default_factory=dict)
    endpoint: str = "/create_snap"
    headers: dict[str, str] = field(default_factory=dict)


def one_at_a_time(
    service: Service, runs: dict[str, Run], width: int, height: int, count: int
) -> tuple[dict[str, RunResult], dict[str, float]]:
    """Each run, one capture at a time after two to warm up; its result and the whole machine's CPU per capture."""
    results: dict[str, RunResult] = {}
    cpu: dict[str, float] = {}
    for name, run in runs.items():
        kw = {"options": run.options, "endpoint": run.endpoint, "headers": run.headers, "progress": False}
        service_load(service.url, run.url, width, height, 1, 2, **kw)  # type: ignore[arg-type]
        meter = CpuMeter(service.proc.popen.pid)
        results[name] = service_load(service.url, run.url, width, height, 1, count, name=name, meter=meter,
                                     **kw)  # type: ignore[arg-type]  # fmt: skip
        cpu[name] = meter.per_capture_ms(count)
    return results, cpu


def compare(
    report: dict,
    results: dict[str, RunResult],
    cpu: dict[str, float],
    pairs: list[tuple[str, str]],
    cpu_pairs: list[tuple[str, str]] | None = None,
) -> list[dict]:
    """The report's ``ratios`` (p50) and ``cpu_ratios`` of each pair (a over b); the rows of the table."""
    p50 = {name: result.summary()["p50_ms"] for name, result in results.items()}
    report["ratios"] = {f"{a} / {b}": round(p50[a] / p50[b], 2) for a, b in pairs}
    report["cpu_ratios"] = {f"{a} / {b}": round(cpu[a] / cpu[b], 2) for a, b in (cpu_pairs or pairs)}
    return [{**result.summary(), "cpu_ms": cpu[name]} for name, result in results.items()]


def benchmark_parser(prog: str, doc: str, count: int) -> argparse.ArgumentParser:
    """A side-by-side benchmark's arguments: ``--count`` (captures per path) and ``--json``."""
    parser = argparse.ArgumentParser(prog=prog, description=doc.split("\n")[0])
    parser.add_argument("--count", "-n", type=int, default=count)
    parser.add_argument("--json", action="store_true")
    return parser


# a benchmark's service: its embedded default with one local browser, the page server's loopback allowed, quiet logs
QUIET_LOCAL = {
    "SNAPSHOT_ALLOW_NETWORKS": "127.0.0.0/8",
    "SNAPSHOT_LOCAL_POOL_SIZE": "1",
    "SNAPSHOT_LOG_LEVEL": "WARNING",
}


@contextlib.contextmanager
def local_bench(
    report: dict, env: dict[str, str] | None = None, host: str = "127.0.0.1"
) -> Iterator[tuple[Service, PageServer]]:
    """The service in its embedded default (one local browser, quiet logs; ``env`` on top) and a page server
    on ``host``; both stopped, and what they left behind put in ``report``, however the benchmark ends."""
    before = browser_processes()
    pages = PageServer(host=host)
    service = None
    try:
        service = start_service({**QUIET_LOCAL, **(env or {})})
        yield service, pages
    finally:
        wrap_up(report, service, [pages], before)


def wrap_up(report: dict, service: Service | None, servers: list, before: set[int]) -> None:
    """Stop what a benchmark started; report what its service and the browsers left behind."""
    if service is not None:
        service.stop()
        report["service_leftover_processes"] = service.proc.leftovers
    for server in servers:
        server.stop()
    time.sleep(1)
    report["browser_processes_left"] = len(browser_processes() - before)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m load_tests.load", description=__doc__.split("\n")[0])
    parser.add_argument("--service", required=True, help="base URL of the Snapshot service")
    parser.add_argument("--page", required=True, help="URL of the page to capture")
    parser.add_argument("--concurrency", "-c", type=int, default=1)
    parser.add_argument("--count", "-n", type=int, default=100, help="requests in all (an upper bound)")
    parser.add_argument("--duration", type=float, help="stop after this many seconds")
    parser.add_argument("--size", default="1000x1000", help="WIDTHxHEIGHT")
    parser.add_argument("--method", choices=["GET", "POST"], default="GET")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    width, height = parse_size(args.size)
    result = service_load(
        args.service.rstrip("/"), args.page, width, height, args.concurrency, args.count, args.duration, args.method
    )
    summary = result.summary()
    print(json.dumps(summary) if args.json else table([summary], COLUMNS))


if __name__ == "__main__":
    main()
