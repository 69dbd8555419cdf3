"""Full-page and format benchmark: the service against Playwright's own full-page screenshot, in one run.

    python -m load_tests.fullpage [--count 20] [--width 1000] [--height 1000] [--page-height 8000] [--json]

Starts a page server (a page of cards ``--page-height`` CSS pixels tall), the service in its embedded
default (a local Chromium) and Playwright on the same Debian Chromium, then captures, one at a time:

  playwright-full    a warm Playwright page: goto + screenshot(full_page=True), PNG
  service-full       GET /create_snap with full_page=true, full_page_scroll=false (Playwright does not scroll)
  service-full-scroll  the same with the default lazy-content scroll (100 ms per viewport)
  service-png / -jpeg / -webp   the viewport in each format

and prints p50/p95 and the ratios: service-full / playwright-full (the target is at most 1.2), and
jpeg / webp against png.  Playwright's own browser build is not needed: it launches /usr/bin/chromium.
Everything it starts it stops.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from load_tests.load import service_load
from load_tests.sidebyside import CHROME_ARGS
from load_tests.stats import RunResult, print_report
from tests.servers import PageServer, browser_processes, start_service

COLUMNS = ["name", "ok", "p50_ms", "p95_ms", "errors"]


def tall_page(height: int) -> str:
    rows = max(1, height // 100)
    cards = "".join(
        f"<div class=card style='top:{100 * i}px'><h3>Card {i}</h3><p>Lorem ipsum dolor sit amet.</p></div>"
        for i in range(rows)
    )
    return (
        "<!doctype html><html><head><style>body{margin:0;font-family:sans-serif;position:relative;"
        f"height:{height}px}} .card{{position:absolute;left:20px;right:20px;height:80px;border:1px solid #ccc;"
        "border-radius:6px;box-shadow:0 2px 4px #0002;background:linear-gradient(#fff,#eef)}</style></head><body>"
        + cards
        + "</body></html>"
    )


def playwright_full(page_url: str, width: int, height: int, count: int) -> RunResult:
    from playwright.sync_api import sync_playwright

    result = RunResult("playwright-full", 1, 0.0)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROME_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.goto(page_url)
            page.screenshot(full_page=True)  # warm up
            started = time.perf_counter()
            for _ in range(count):
                t0 = time.perf_counter()
                page.goto(page_url, wait_until="load")
                page.screenshot(full_page=True, type="png")
                result.latencies.append(time.perf_counter() - t0)
            result.elapsed = time.perf_counter() - started
        finally:
            browser.close()
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m load_tests.fullpage", description=__doc__.split("\n")[0])
    parser.add_argument("--count", "-n", type=int, default=20)
    parser.add_argument("--width", type=int, default=1000)
    parser.add_argument("--height", type=int, default=1000)
    parser.add_argument("--page-height", type=int, default=8000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    before = browser_processes()
    pages = PageServer()
    pages.routes["/tall"] = lambda q: tall_page(args.page_height)
    service = None
    rows: list[dict] = []
    report: dict = {"viewport": f"{args.width}x{args.height}", "page_height": args.page_height}
    try:
        url = f"{pages.base}/tall"
        service = start_service(
            {"SNAPSHOT_ALLOW_NETWORKS": "127.0.0.0/8", "SNAPSHOT_LOCAL_POOL_SIZE": "1", "SNAPSHOT_LOG_LEVEL": "WARNING"}
        )
        w, h = args.width, args.height
        runs = {
            "service-full": {"full_page": "true", "full_page_scroll": "false"},
            "service-full-scroll": {"full_page": "true"},
            "service-png": {},
            "service-jpeg": {"format": "jpeg"},
            "service-webp": {"format": "webp"},
        }
        results = {"playwright-full": playwright_full(url, w, h, args.count)}
        for name, options in runs.items():
            service_load(service.url, url, w, h, 1, 2, progress=False, options=options)  # warm up
            results[name] = service_load(service.url, url, w, h, 1, args.count, name=name, progress=False,
                                         options=options)  # fmt: skip
        rows = [result.summary() for result in results.values()]
        p50 = {name: result.summary()["p50_ms"] for name, result in results.items()}
        report["ratios"] = {
            "service-full / playwright-full": round(p50["service-full"] / p50["playwright-full"], 2),
            "service-full-scroll / playwright-full": round(p50["service-full-scroll"] / p50["playwright-full"], 2),
            "jpeg / png": round(p50["service-jpeg"] / p50["service-png"], 2),
            "webp / png": round(p50["service-webp"] / p50["service-png"], 2),
        }
    finally:
        if service is not None:
            service.stop()
            report["service_leftover_processes"] = service.proc.leftovers
        pages.stop()
        time.sleep(1)
        report["browser_processes_left"] = len(browser_processes() - before)
    report["rows"] = rows
    print_report(report, COLUMNS, args.json)


if __name__ == "__main__":
    main()
