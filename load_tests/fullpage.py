"""Full-page, format and PDF benchmark: the service against Playwright's equivalents, in one run.

    python -m load_tests.fullpage [--count 20] [--width 1000] [--height 1000] [--page-height 8000] [--json]

Starts a page server (a page of cards ``--page-height`` CSS pixels tall), the service in its embedded
default (a local Chromium) and Playwright (its async API) on the same Debian Chromium, then captures,
one at a time, on a warm Playwright page (goto + the call) and through the service (GET):

  pw-full / service-full   the whole page as PNG (the service with full_page_scroll=false: Playwright
                           does not scroll); service-full-scroll: with the default lazy-content scroll
  pw-png / service-png     the viewport as PNG
  pw-jpeg / service-jpeg   the viewport as JPEG, quality 80; service-webp: as WebP
  pw-pdf / service-pdf     the page as an A4 PDF with backgrounds (/create_pdf)

and prints p50/p95, the whole machine's CPU per capture, and the ratios service / Playwright (and
jpeg, webp / png).  Everything it starts it stops.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from load_tests import playwright_paths
from load_tests.cpu import CpuMeter
from load_tests.load import Run, compare, one_at_a_time, wrap_up
from load_tests.sidebyside import CHROME_ARGS
from load_tests.stats import RunResult, print_report
from tests.servers import PageServer, browser_processes, start_service

COLUMNS = ["name", "ok", "p50_ms", "p95_ms", "cpu_ms", "errors"]


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
        playwright = {
            "pw-full": {"kind": "png", "full_page": True},
            "pw-png": {"kind": "png"},
            "pw-jpeg": {"kind": "jpeg"},
            "pw-pdf": {"kind": "pdf"},
        }
        service_runs = {
            "service-full": ({"full_page": "true", "full_page_scroll": "false"}, "/create_snap"),
            "service-full-scroll": ({"full_page": "true"}, "/create_snap"),
            "service-png": ({}, "/create_snap"),
            "service-jpeg": ({"format": "jpeg", "quality": "80"}, "/create_snap"),
            "service-webp": ({"format": "webp", "quality": "80"}, "/create_snap"),
            "service-pdf": ({}, "/create_pdf"),
        }
        results: dict[str, RunResult] = {}
        cpu: dict[str, float] = {}
        for name, kw in playwright.items():
            meter = CpuMeter(service.proc.popen.pid)
            results[name] = playwright_paths.warm_page(url, w, h, 1, args.count, CHROME_ARGS, meter=meter, name=name,
                                                       **kw)  # fmt: skip
            cpu[name] = meter.per_capture_ms(args.count)
        runs = {name: Run(url, options, endpoint) for name, (options, endpoint) in service_runs.items()}
        measured, measured_cpu = one_at_a_time(service, runs, w, h, args.count)
        results |= measured
        cpu |= measured_cpu
        pairs = [("service-full", "pw-full"), ("service-full-scroll", "pw-full"), ("service-png", "pw-png"),
                 ("service-jpeg", "pw-jpeg"), ("service-pdf", "pw-pdf"), ("service-jpeg", "service-png"),
                 ("service-webp", "service-png")]  # fmt: skip
        rows = compare(report, results, cpu, pairs, pairs[:5])
    finally:
        wrap_up(report, service, [pages], before)
    report["rows"] = rows
    print_report(report, COLUMNS, args.json)


if __name__ == "__main__":
    main()
