"""Bodies benchmark: an HTML or Markdown body against the same page by URL, and ``/create_content`` against
a screenshot, side by side.

    python -m load_tests.bodies [--count 30] [--json]

Starts a page server and the service in its embedded default (a local Chromium), then captures one at a
time, 1000x1000:

  url                 a page of 40 cards, by URL
  html                the same HTML as a body (served from the capture's own interception)
  markdown            40 cards' worth of Markdown as a body (rendered by markdown-it-py)
  content-html        the URL's rendered DOM (/create_content)
  content-markdown    the URL's DOM as Markdown (markdownify)

and prints p50/p95, the whole machine's CPU per capture and the ratios to ``url``.  The plain capture path
(no body) intercepts nothing: ``load_tests.sidebyside`` keeps its ratios.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from load_tests.egress import plain_page
from load_tests.load import Run, benchmark_parser, compare, local_bench, one_at_a_time
from load_tests.stats import print_report

COLUMNS = ["name", "ok", "p50_ms", "p95_ms", "cpu_ms", "errors"]


def markdown_page() -> str:
    return "\n\n".join(f"### Card {i}\n\nLorem ipsum dolor sit amet." for i in range(40)) + "\n"


def main(argv: list[str] | None = None) -> None:
    args = benchmark_parser("python -m load_tests.bodies", __doc__, count=30).parse_args(argv)
    report: dict = {"size": "1000x1000", "html_bytes": len(plain_page().encode())}
    with local_bench(report) as (service, pages):
        pages.routes["/plain"] = lambda q: plain_page()
        url = pages.base + "/plain"
        runs = {
            "url": Run(url),
            "html": Run("", {"html": plain_page()}),
            "markdown": Run("", {"markdown": markdown_page()}),
            "content-html": Run(url, endpoint="/create_content"),
            "content-markdown": Run(url, {"format": "markdown"}, endpoint="/create_content"),
        }
        results, cpu = one_at_a_time(service, runs, 1000, 1000, args.count)
        report["rows"] = compare(report, results, cpu, [(name, "url") for name in runs if name != "url"])
    print_report(report, COLUMNS, args.json)


if __name__ == "__main__":
    main()
