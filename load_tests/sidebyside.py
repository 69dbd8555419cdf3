"""Side-by-side benchmark: the service against the raw WebDriver paths and Playwright, in one run.

    python -m load_tests.sidebyside [--concurrency 1,2] [--count 60] [--size 1000x1000] [--cards 200]
                                    [--isolation reset] [--paths ...] [--soak 0] [--json]

Starts its own Selenium Grid (hub + 2 nodes x 2 slots), page server and service (from tests/servers.py),
then for each concurrency runs, one after another, on the same page and size:

  pw-warm        Playwright (async API, the Debian Chromium): one warm page per worker, no isolation
  pw-context     Playwright: a fresh browser context per capture
  raw            the raw warm WebDriver loop on the Grid: navigate + screenshot on already open sessions
  new-session    a new Grid session per capture (create, set size, navigate, screenshot, quit)
  service        GET /create_snap through the service, on the Grid
  service-local  the same with localmode=true (a browser next to the service)

Each row has the whole machine's CPU per capture (``/proc/stat`` around the run), and the report the
split per kind of process (service, each kind of Chromium process, Grid, ChromeDriver, client).  The
ratios rows give the targets' figures.  ``--soak N`` then sends N captures through the service and
reports its memory growth and any leaked Grid sessions or browsers.  Everything it starts it stops.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from selenium import webdriver

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from load_tests import playwright_paths
from load_tests.cpu import CpuMeter
from load_tests.load import parse_size, run_workers, service_load
from load_tests.stats import RunResult, print_report, table
from tests.servers import PageServer, browser_processes, start_grid, start_service

COLUMNS = ["name", "concurrency", "ok", "throughput_rps", "p50_ms", "p95_ms", "p99_ms", "cpu_ms", "errors"]
PATHS = ("pw-warm", "pw-context", "raw", "new-session", "service", "service-local")
CHROME_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _options() -> webdriver.ChromeOptions:
    options = webdriver.ChromeOptions()
    for arg in CHROME_ARGS:
        options.add_argument(arg)
    options.platform_name = "linux"
    return options


def _sized(driver: webdriver.Remote, width: int, height: int) -> None:
    """Make the viewport width x height by correcting the window size (as a careful raw client would)."""
    driver.set_window_size(width, height)
    inner_w, inner_h = driver.execute_script("return [innerWidth, innerHeight]")
    driver.set_window_size(2 * width - inner_w, 2 * height - inner_h)


def raw_loop(
    grid: str, page: str, width: int, height: int, concurrency: int, count: int, meter: CpuMeter | None = None
) -> RunResult:
    drivers = [webdriver.Remote(command_executor=grid, options=_options()) for _ in range(concurrency)]
    try:
        for driver in drivers:
            _sized(driver, width, height)
            driver.get(page)

        def one(worker: int) -> str | None:
            drivers[worker].get(page)
            drivers[worker].get_screenshot_as_png()
            return None

        return run_workers("raw", concurrency, count, None, one, meter=meter)
    finally:
        for driver in drivers:
            driver.quit()


def new_session_loop(
    grid: str, page: str, width: int, height: int, concurrency: int, count: int, meter: CpuMeter | None = None
) -> RunResult:
    def one(worker: int) -> str | None:
        driver = webdriver.Remote(command_executor=grid, options=_options())
        try:
            _sized(driver, width, height)
            driver.get(page)
            driver.get_screenshot_as_png()
        finally:
            driver.quit()
        return None

    return run_workers("new-session", concurrency, count, None, one, meter=meter)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "-"


def ratios(level: int, results: dict[str, RunResult], cpu: dict[str, float]) -> dict:
    """The targets' figures: the service against the raw loop (Grid) and against Playwright (localmode)."""
    columns: dict[str, dict[str, float]] = {
        "p50_ms": {name: result.summary()["p50_ms"] for name, result in results.items()},
        "throughput_rps": {name: result.throughput for name, result in results.items()},
        "cpu_ms": cpu,
    }
    pairs = [("svc/raw", "service", "raw", None), ("svc/new", "service", "new-session", "throughput_rps"),
             ("local/pw", "service-local", "pw-warm", None)]  # fmt: skip
    row: dict = {"name": "ratios", "concurrency": level}
    for label, path, against, only in pairs:
        if path not in results or against not in results:
            continue
        for column, values in columns.items():
            if only in (None, column):
                text = f"{label} {_ratio(values[path], values[against])}"
                row[column] = f"{row[column]}, {text}" if column in row else text
    return row


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m load_tests.sidebyside", description=__doc__.split("\n")[0])
    parser.add_argument("--concurrency", default="1,2", help="comma-separated levels (2 = the Grid's slots)")
    parser.add_argument("--count", "-n", type=int, default=60, help="captures per path and level")
    parser.add_argument("--size", default="1000x1000")
    parser.add_argument("--cards", type=int, default=200, help="cards on the test page")
    parser.add_argument("--isolation", default="reset", choices=["reset", "context"])
    parser.add_argument("--paths", default=",".join(PATHS), help=f"comma-separated subset of {','.join(PATHS)}")
    parser.add_argument("--soak", type=int, default=0, help="captures in a soak run after the comparison")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    width, height = parse_size(args.size)
    levels = [int(c) for c in args.concurrency.split(",")]
    paths = [name for name in args.paths.split(",") if name]
    unknown = set(paths) - set(PATHS)
    if unknown:
        parser.error(f"unknown paths: {', '.join(sorted(unknown))}")

    before = browser_processes()
    pages = PageServer()
    # 4 slots: the service keeps max(levels) warm sessions while the raw loops use the others
    grid = start_grid(nodes=2, max_sessions=2)
    service = None
    rows: list[dict] = []
    split: list[dict] = []
    report: dict = {"size": args.size, "page": f"{args.cards} cards", "isolation": args.isolation}
    try:
        page = f"{pages.base}/cards?n={args.cards}"
        service = start_service(
            {
                "SNAPSHOT_GRID_URL": grid.url,
                "SNAPSHOT_ALLOW_NETWORKS": "127.0.0.0/8",
                "SNAPSHOT_POOL_SIZE": str(max(levels)),
                "SNAPSHOT_LOCAL_POOL_SIZE": str(max(levels)),
                "SNAPSHOT_ISOLATION": args.isolation,
                "SNAPSHOT_ALLOW_LOCALMODE": "true",
                "SNAPSHOT_LOG_LEVEL": "WARNING",
            }
        )
        url = service.url
        local = {"localmode": "true"}
        for options in ({}, local):  # warm up both backends
            service_load(url, page, width, height, max(levels), 2 * max(levels), progress=False, options=options)

        def run(name: str, level: int, meter: CpuMeter) -> RunResult:
            n = args.count
            if name == "pw-warm":
                return playwright_paths.warm_page(page, width, height, level, n, CHROME_ARGS, meter=meter)
            if name == "pw-context":
                return playwright_paths.fresh_context(page, width, height, level, max(4, n // 2), CHROME_ARGS, meter)
            if name == "raw":
                return raw_loop(grid.url, page, width, height, level, n, meter)
            if name == "new-session":
                return new_session_loop(grid.url, page, width, height, level, max(4, n // 4), meter)
            options = local if name == "service-local" else {}
            return service_load(url, page, width, height, level, n, name=name, progress=False, options=options,
                                meter=meter)  # fmt: skip

        for level in levels:
            results: dict[str, RunResult] = {}
            cpu: dict[str, float] = {}
            for name in paths:
                meter = CpuMeter(service.proc.popen.pid)
                results[name] = run(name, level, meter)
                captures = results[name].ok + sum(results[name].errors.values())
                cpu[name] = meter.per_capture_ms(captures)
                rows.append({**results[name].summary(), "cpu_ms": cpu[name]})
                split.append({"name": name, "concurrency": level, **meter.by_process_ms(captures)})
            rows.append(ratios(level, results, cpu))
        if args.soak:
            pid = service.proc.popen.pid
            start_rss = rss_kib(pid)
            soak = service_load(url, page, width, height, max(levels), args.soak, name="soak")
            end_rss = rss_kib(pid)
            rows.append(soak.summary())
            report["soak"] = {
                "captures": args.soak,
                "rss_start_kib": start_rss,
                "rss_end_kib": end_rss,
                "rss_growth": round(end_rss / start_rss - 1, 4),
            }
    finally:
        if service is not None:
            service.stop()
            report["service_leftover_processes"] = service.proc.leftovers
        report["grid_sessions_left"] = grid.sessions()
        grid.stop()
        pages.stop()
        time.sleep(1)
        report["browser_processes_left"] = len(browser_processes() - before)
    report["rows"] = rows
    report["cpu_ms_per_capture_by_process"] = split
    print_report({k: v for k, v in report.items() if k != "cpu_ms_per_capture_by_process" or args.json}, COLUMNS,
                 args.json)  # fmt: skip
    if not args.json:
        kinds = sorted({k for row in split for k in row} - {"name", "concurrency"})
        print("\nCPU ms per capture, by process:")
        print(table(split, ["name", "concurrency", *kinds]))


if __name__ == "__main__":
    main()
