"""Emulation benchmark: what the emulation options cost, side by side with the same capture without them.

    python -m load_tests.emulation [--count 30] [--json]

Starts a page server and the service in its embedded default (a local Chromium), then captures a page of
40 cards one at a time, 1000x1000: plain; with a time zone and a locale; as a device (Pixel 7, its own
size and scale); deterministic; with scripts off; with a position and with HTTP credentials (both in a
browser context of their own).  Prints p50/p95, the whole machine's CPU per capture and the ratios to
``plain``.  The plain path sets the service's default time zone and locale once per tab, not per capture:
``load_tests.sidebyside`` keeps its ratios.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from load_tests.egress import plain_page
from load_tests.load import Run, benchmark_parser, compare, local_bench, one_at_a_time
from load_tests.stats import print_report

COLUMNS = ["name", "ok", "p50_ms", "p95_ms", "cpu_ms", "errors"]
PATHS: dict[str, dict[str, str | list[str]]] = {
    "plain": {},
    "timezone-locale": {"timezone": "Asia/Tokyo", "locale": "de-DE"},
    "device": {"device": "Pixel 7", "width": "412", "height": "839", "device_scale_factor": "1"},
    "deterministic": {"deterministic": "true"},
    "javascript-off": {"javascript": "false"},
    "geolocation": {"latitude": "48.85", "longitude": "2.35"},
    "http-auth": {"http_auth": "user:password"},
}


def main(argv: list[str] | None = None) -> None:
    args = benchmark_parser("python -m load_tests.emulation", __doc__, count=30).parse_args(argv)
    report: dict = {"size": "1000x1000 (device: 412x839 at scale 1, for the same pixels)"}
    with local_bench(report) as (service, pages):
        pages.routes["/plain"] = lambda q: plain_page()
        runs = {name: Run(pages.base + "/plain", options) for name, options in PATHS.items()}
        results, cpu = one_at_a_time(service, runs, 1000, 1000, args.count)
        report["rows"] = compare(report, results, cpu, [(name, "plain") for name in PATHS if name != "plain"])
    print_report(report, COLUMNS, args.json)


if __name__ == "__main__":
    main()
