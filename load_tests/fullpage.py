"""Full-page benchmark on real long pages: the service against Playwright's ``screenshot(full_page=True)``, for the
same pixels, in one run.

    python -m load_tests.fullpage [--count 5] [--pages index,debugger,...] [--json]

The pages are the HTML of a Debian documentation package nobody here wrote: Node.js's API reference
(``/usr/share/doc/nodejs/api``, installed with npm), served locally without its web font link (nothing leaves the
machine).  At 1280x800, one capture at a time, medians, each page:

  pw             Playwright on the same Debian Chromium, a warm page: goto + screenshot(full_page=True); for a
                 page taller than the service's pixel limit (SNAPSHOT_MAX_PIXELS / 1280 = 26214 rows), the same
                 rows (its clip)
  service        GET /create_snap full_page=true, full_page_scroll=false (Playwright does not scroll either)
  service-scroll the default: the lazy-content scroll on (skipped where nothing loads on scroll)

and, on the page nearest 15,000 px, the same as JPEG (quality 80).  Prints each page's height, p50/p95, the whole
machine's CPU per capture, and the ratios to Playwright's.  Everything it starts it stops.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests

from load_tests import playwright_paths
from load_tests.load import Run, benchmark_parser, local_bench, one_at_a_time
from load_tests.sidebyside import CHROME_ARGS
from load_tests.stats import print_report
from tests.servers import PageServer

DOCS = Path("/usr/share/doc/nodejs/api")
# from about 2,000 px to past the pixel limit (heights of the Node.js 18 reference at 1280x800)
PAGES = ["index", "debugger", "domain", "async_hooks", "worker_threads", "crypto"]
WIDTH, HEIGHT = 1280, 800
CAP = 33_554_432 // WIDTH  # the service's default pixel limit, in rows of this width
COLUMNS = ["page", "height", "name", "ok", "p50_ms", "p95_ms", "cpu_ms", "vs_pw", "errors"]
_FONTS = re.compile(rb"<link[^>]+fonts\.googleapis\.com[^>]*>")


def serve_docs(pages: PageServer, names: list[str]) -> list[str]:
    """The pages (and their assets) on the page server; the names found."""
    found = [name for name in names if (DOCS / f"{name}.html").is_file()]
    for name in found:
        body = _FONTS.sub(b"", (DOCS / f"{name}.html").read_bytes())
        pages.routes[f"/api/{name}.html"] = lambda q, body=body: (body, {"Content-Type": "text/html; charset=utf-8"})
    for asset in (DOCS / "assets").iterdir():
        kind = {".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml"}.get(asset.suffix, "text/plain")
        data = asset.read_bytes()
        pages.routes[f"/api/assets/{asset.name}"] = lambda q, data=data, kind=kind: (data, {"Content-Type": kind})
    return found


def main(argv: list[str] | None = None) -> None:
    parser = benchmark_parser("python -m load_tests.fullpage", __doc__, count=5)
    parser.add_argument("--pages", default=",".join(PAGES), help="names of pages of the Node.js API reference")
    args = parser.parse_args(argv)
    report: dict = {"viewport": f"{WIDTH}x{HEIGHT}", "source": str(DOCS), "rows": [], "ratios": {}}
    with local_bench(report) as (service, pages):
        names = serve_docs(pages, args.pages.split(","))
        heights = {}
        for name in names:  # the page's height, as the service measures it (and a warm-up)
            url = f"{pages.base}/api/{name}.html"
            answer = requests.get(
                f"{service.url}/create_snap",
                timeout=120,
                params={"url": url, "width": WIDTH, "height": HEIGHT, "full_page": "true", "full_page_scroll": "false"},
            )
            answer.raise_for_status()
            heights[name] = int(answer.headers["X-Snapshot-Page-Height"])
        jpeg_page = min(names, key=lambda n: abs(heights[n] - 15000)) if names else None
        for name in sorted(names, key=heights.__getitem__):
            url, rows = f"{pages.base}/api/{name}.html", min(heights[name], CAP)
            clip = {"clip_height": rows} if heights[name] > CAP else {}
            pw_runs = {"pw": {"kind": "png", "full_page": True, **clip}}
            service_runs = {
                "service": Run(url, {"full_page": "true", "full_page_scroll": "false"}),
                "service-scroll": Run(url, {"full_page": "true"}),
            }
            if name == jpeg_page:
                pw_runs["pw-jpeg"] = {"kind": "jpeg", "full_page": True, **clip}
                service_runs["service-jpeg"] = Run(url, {"full_page": "true", "full_page_scroll": "false",
                                                         "format": "jpeg", "quality": "80"})  # fmt: skip
            results, cpu = playwright_paths.warm_runs(url, WIDTH, HEIGHT, args.count, CHROME_ARGS, pw_runs,
                                                      service.proc.popen.pid)  # fmt: skip
            measured, measured_cpu = one_at_a_time(service, service_runs, WIDTH, HEIGHT, args.count)
            results, cpu = {**results, **measured}, {**cpu, **measured_cpu}
            pw = {kind: results[kind].summary()["p50_ms"] for kind in pw_runs}
            for path, result in results.items():
                summary = result.summary()
                base = pw["pw-jpeg" if path.endswith("jpeg") else "pw"]
                ratio = round(summary["p50_ms"] / base, 2) if not path.startswith("pw") else None
                report["rows"].append({"page": name, "height": heights[name], **summary, "cpu_ms": cpu[path],
                                       "vs_pw": ratio})  # fmt: skip
                if ratio is not None:
                    report["ratios"][f"{name} ({heights[name]} px) {path} / pw"] = ratio
    print_report(report, COLUMNS, args.json)


if __name__ == "__main__":
    main()
