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

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from load_tests import playwright_paths
from load_tests.load import Run, benchmark_parser, compare, local_bench, one_at_a_time
from load_tests.sidebyside import CHROME_ARGS
from load_tests.stats import print_report

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
    parser = benchmark_parser("python -m load_tests.fullpage", __doc__, count=20)
    parser.add_argument("--width", type=int, default=1000)
    parser.add_argument("--height", type=int, default=1000)
    parser.add_argument("--page-height", type=int, default=8000)
    args = parser.parse_args(argv)
    report: dict = {"viewport": f"{args.width}x{args.height}", "page_height": args.page_height}
    with local_bench(report) as (service, pages):
        pages.routes["/tall"] = lambda q: tall_page(args.page_height)
        url = f"{pages.base}/tall"
        w, h = args.width, args.height
        playwright = {
            "pw-full": {"kind": "png", "full_page": True},
            "pw-png": {"kind": "png"},
            "pw-jpeg": {"kind": "jpeg"},
            "pw-pdf": {"kind": "pdf"},
        }
        service_runs: dict[str, tuple[dict[str, str | list[str]], str]] = {
            "service-full": ({"full_page": "true", "full_page_scroll": "false"}, "/create_snap"),
            "service-full-scroll": ({"full_page": "true"}, "/create_snap"),
            "service-png": ({}, "/create_snap"),
            "service-jpeg": ({"format": "jpeg", "quality": "80"}, "/create_snap"),
            "service-webp": ({"format": "webp", "quality": "80"}, "/create_snap"),
            "service-pdf": ({}, "/create_pdf"),
        }
        results, cpu = playwright_paths.warm_runs(url, w, h, args.count, CHROME_ARGS, playwright,
                                                  service.proc.popen.pid)  # fmt: skip
        runs = {name: Run(url, options, endpoint) for name, (options, endpoint) in service_runs.items()}
        measured, measured_cpu = one_at_a_time(service, runs, w, h, args.count)
        pairs = [("service-full", "pw-full"), ("service-full-scroll", "pw-full"), ("service-png", "pw-png"),
                 ("service-jpeg", "pw-jpeg"), ("service-pdf", "pw-pdf"), ("service-jpeg", "service-png"),
                 ("service-webp", "service-png")]  # fmt: skip
        report["rows"] = compare(report, results | measured, cpu | measured_cpu, pairs, pairs[:5])
    print_report(report, COLUMNS, args.json)


if __name__ == "__main__":
    main()
