"""PDF benchmark: ``/create_pdf`` beside Playwright's ``page.pdf()`` for the same pages and options, in one run.

    python -m load_tests.pdf [--count 20] [--json]

Starts a page server (a report of five A4 pages with headings), the service in its embedded default (a
local Chromium) and Playwright on the same Debian Chromium, then prints, one at a time, on a warm
Playwright page (goto + pdf) and through the service (GET /create_pdf):

  plain      A4 with backgrounds
  footer     a header and a footer with page numbers, 2 cm margins
  outline    a document outline and a tagged PDF
  pdfa       (service only) PDF/A-2b with Ghostscript, against the service's plain PDF
  merged     (service only) three pages merged into one document, against the service's plain PDF

and prints p50/p95, the whole machine's CPU per PDF and the ratios service / Playwright.
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
HEADER = "<div style='font-size:9px;margin-left:1cm'>Quarterly report</div>"
FOOTER = (
    "<div style='font-size:9px;width:100%;text-align:center'>"
    "<span class=pageNumber></span>/<span class=totalPages></span></div>"
)


def report_page() -> str:
    sections = "".join(
        f"<section style='height:1050px'><h2>Section {i}</h2>" + "<p>Lorem ipsum dolor sit amet. </p>" * 12
        + "</section>" for i in range(5)
    )  # fmt: skip
    head = "<!doctype html><html><head><title>Report</title></head>"
    return f"{head}<body><h1>Quarterly report</h1>{sections}</body></html>"


def main(argv: list[str] | None = None) -> None:
    args = benchmark_parser("python -m load_tests.pdf", __doc__, count=20).parse_args(argv)
    report: dict = {"page": "a report of five A4 pages", "viewport": "1280x800"}
    with local_bench(report) as (service, pages):
        pages.routes["/report"] = lambda q: report_page()
        url = f"{pages.base}/report"
        margins = {"top": "2cm", "bottom": "2cm", "left": "0", "right": "0"}
        playwright = {
            "pw-plain": {},
            "pw-footer": {"display_header_footer": True, "header_template": HEADER, "footer_template": FOOTER,
                          "margin": margins},
            "pw-outline": {"outline": True, "tagged": True},
        }  # fmt: skip
        service_runs: dict[str, dict[str, str | list[str]]] = {
            "service-plain": {},
            "service-footer": {"pdf_header_template": HEADER, "pdf_footer_template": FOOTER, "pdf_margin_top": "2cm",
                               "pdf_margin_bottom": "2cm"},
            "service-outline": {"pdf_outline": "true", "pdf_tagged": "true"},
            "service-pdfa": {"pdf_pdfa": "true"},
        }  # fmt: skip
        pw_runs = {name: {"kind": "pdf", "pdf_options": options} for name, options in playwright.items()}
        results, cpu = playwright_paths.warm_runs(url, 1280, 800, args.count, CHROME_ARGS, pw_runs,
                                                  service.proc.popen.pid)  # fmt: skip
        runs = {name: Run(url, options, "/create_pdf") for name, options in service_runs.items()}
        runs["service-merged"] = Run("", {"urls": [url] * 3}, "/create_pdf")
        measured, measured_cpu = one_at_a_time(service, runs, 1280, 800, args.count)
        pairs = [("service-plain", "pw-plain"), ("service-footer", "pw-footer"), ("service-outline", "pw-outline"),
                 ("service-pdfa", "service-plain"), ("service-merged", "service-plain")]  # fmt: skip
        report["rows"] = compare(report, results | measured, cpu | measured_cpu, pairs)
    print_report(report, COLUMNS, args.json)


if __name__ == "__main__":
    main()
