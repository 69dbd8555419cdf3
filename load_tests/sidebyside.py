"""Side-by-side benchmark: the service against the raw WebDriver paths, in one run, on one Grid.

    python -m load_tests.sidebyside [--concurrency 1,2] [--count 60] [--size 1000x1000] [--cards 200]
                                    [--isolation reset] [--soak 0] [--json]

Starts its own Selenium Grid (hub + 2 nodes x 2 slots), page server and service (from tests/servers.py),
then for each concurrency runs, on the same Grid, page and size:

  raw          the raw warm WebDriver loop: navigate + screenshot on already open sessions
  new-session  a new Grid session per capture (create, set size, navigate, screenshot, quit)
  service      GET /create_snap through the service

and prints a table with the ratios the throughput targets are stated in.  ``--soak N`` then sends N
captures through the service and reports its memory growth and any leaked Grid sessions or browsers.
Everything it starts it stops.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from selenium import webdriver

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from load_tests.load import parse_size, run_workers, service_load
from load_tests.stats import RunResult, print_report
from tests.servers import PageServer, browser_processes, start_grid, start_service

COLUMNS = ["name", "concurrency", "ok", "throughput_rps", "p50_ms", "p95_ms", "p99_ms", "errors"]
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


def raw_loop(grid: str, page: str, width: int, height: int, concurrency: int, count: int) -> RunResult:
    drivers = [webdriver.Remote(command_executor=grid, options=_options()) for _ in range(concurrency)]
    try:
        for driver in drivers:
            _sized(driver, width, height)
            driver.get(page)

        def one(worker: int) -> str | None:
            drivers[worker].get(page)
            drivers[worker].get_screenshot_as_png()
            return None

        return run_workers("raw", concurrency, count, None, one)
    finally:
        for driver in drivers:
            driver.quit()


def new_session_loop(grid: str, page: str, width: int, height: int, concurrency: int, count: int) -> RunResult:
    def one(worker: int) -> str | None:
        driver = webdriver.Remote(command_executor=grid, options=_options())
        try:
            _sized(driver, width, height)
            driver.get(page)
            driver.get_screenshot_as_png()
        finally:
            driver.quit()
        return None

    return run_workers("new-session", concurrency, count, None, one)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m load_tests.sidebyside", description=__doc__.split("\n")[0])
    parser.add_argument("--concurrency", default="1,2", help="comma-separated levels (2 = the Grid's slots)")
    parser.add_argument("--count", "-n", type=int, default=60, help="captures per path and level")
    parser.add_argument("--size", default="1000x1000")
    parser.add_argument("--cards", type=int, default=200, help="cards on the test page")
    parser.add_argument("--isolation", default="reset", choices=["reset", "context"])
    parser.add_argument("--soak", type=int, default=0, help="captures in a soak run after the comparison")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    width, height = parse_size(args.size)
    levels = [int(c) for c in args.concurrency.split(",")]

    before = browser_processes()
    pages = PageServer()
    # 4 slots: the service keeps max(levels) warm sessions while the raw loops use the others
    grid = start_grid(nodes=2, max_sessions=2)
    service = None
    rows: list[dict] = []
    report: dict = {"size": args.size, "page": f"{args.cards} cards", "isolation": args.isolation}
    try:
        page = f"{pages.base}/cards?n={args.cards}"
        service = start_service(
            {
                "SNAPSHOT_GRID_URL": grid.url,
                "SNAPSHOT_ALLOW_NETWORKS": "127.0.0.0/8",
                "SNAPSHOT_POOL_SIZE": str(max(levels)),
                "SNAPSHOT_ISOLATION": args.isolation,
                "SNAPSHOT_ALLOW_LOCALMODE": "false",
                "SNAPSHOT_LOG_LEVEL": "WARNING",
            }
        )
        service_load(service.url, page, width, height, max(levels), 2 * max(levels), progress=False)  # warm up
        for level in levels:
            results = {
                "raw": raw_loop(grid.url, page, width, height, level, args.count),
                "new-session": new_session_loop(grid.url, page, width, height, level, max(4, args.count // 4)),
                "service": service_load(service.url, page, width, height, level, args.count),
            }
            for result in results.values():
                rows.append(result.summary())
            raw, new, svc = results["raw"], results["new-session"], results["service"]
            rows.append(
                {
                    "name": "ratios",
                    "concurrency": level,
                    "p50_ms": f"svc/raw {svc.summary()['p50_ms'] / raw.summary()['p50_ms']:.2f}",
                    "throughput_rps": f"svc/raw {svc.throughput / raw.throughput:.2f}, "
                    f"svc/new {svc.throughput / new.throughput:.1f}",
                }
            )
        if args.soak:
            pid = service.proc.popen.pid
            start_rss = rss_kib(pid)
            soak = service_load(service.url, page, width, height, max(levels), args.soak, name="soak")
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
    print_report(report, COLUMNS, args.json)


if __name__ == "__main__":
    main()
