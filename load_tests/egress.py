"""Egress benchmark: what block_ads + block_trackers and a tenant's own networks cost, side by side with
the same captures without them.

    python -m load_tests.egress [--count 20] [--ads 60] [--ad-delay 30] [--json]

Starts a page server on 127.0.0.2 (EasyList applies no generic rules to 127.0.0.1) and the service in its
embedded default (a local Chromium), then captures one at a time, 1000x1000:

  plain / plain-blocking   a page with no subresources, without and with the options (the cost of request
                           interception and element hiding where nothing is blocked)
  ads / ads-blocking       a page with ``--ads`` ad images and tracker scripts (each answered after
                           ``--ad-delay`` ms, like a remote ad server) and as many ad boxes, without and
                           with the options
  tenant / tenant-reach    the plain page captured by a tenant without and one with networks of its own
                           (a browser context per capture, request interception, the proxy token)

and prints p50/p95, the whole machine's CPU per capture and the ratios.  The plain capture path itself
(no options, no tenant networks) intercepts nothing: ``load_tests.sidebyside`` keeps its ratios.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from load_tests.load import Run, benchmark_parser, compare, local_bench, one_at_a_time
from load_tests.stats import print_report

COLUMNS = ["name", "ok", "p50_ms", "p95_ms", "cpu_ms", "errors"]
BLOCKING: dict[str, str | list[str]] = {"block_ads": "true", "block_trackers": "true"}
PLAIN_KEY, REACH_KEY = "bench-plain-key-0123456789", "bench-reach-key-0123456789"


def plain_page() -> str:
    cards = "".join(f"<div class=card><h3>Card {i}</h3><p>Lorem ipsum dolor sit amet.</p></div>" for i in range(40))
    return f"<!doctype html><html><body style='margin:0;font-family:sans-serif'>{cards}</body></html>"


def ad_page(ads: int) -> str:
    # EasyList: /ad_bottom.jpg$image and ###AC_ad-like ids; EasyPrivacy: /piwik.js
    items = "".join(
        f"<div id=AC_ad class=ADBox style='height:40px;background:#f00'></div>"
        f"<img src='/ad_bottom.jpg?n={i}' width=10 height=10><script async src='/piwik.js?n={i}'></script>"
        for i in range(ads)
    )
    return f"<!doctype html><html><body style='margin:0'>{plain_page()}{items}</body></html>"


def main(argv: list[str] | None = None) -> None:
    parser = benchmark_parser("python -m load_tests.egress", __doc__, count=20)
    parser.add_argument("--ads", type=int, default=60)
    parser.add_argument("--ad-delay", type=float, default=30, help="ms each ad or tracker takes to answer")
    args = parser.parse_args(argv)

    def slow(q: dict[str, str]) -> tuple[str, dict[str, str]]:
        time.sleep(args.ad_delay / 1000)
        return "", {"Content-Type": "text/plain", "Cache-Control": "no-store"}

    report: dict = {"size": "1000x1000", "ads": args.ads, "ad_delay_ms": args.ad_delay}
    with tempfile.TemporaryDirectory() as scratch:
        tenants = Path(scratch) / "tenants.json"
        tenants.write_text(json.dumps({"tenants": [
            {"name": "plain", "keys": [PLAIN_KEY]},
            {"name": "reach", "keys": [REACH_KEY], "allow_networks": ["10.99.0.0/16"]},
        ]}))  # fmt: skip
        # on 127.0.0.2: EasyList applies no generic rules to 127.0.0.1
        with local_bench(report, {"SNAPSHOT_TENANTS_FILE": str(tenants)}, host="127.0.0.2") as (service, pages):
            pages.routes |= {"/plain": lambda q: plain_page(), "/ads": lambda q: ad_page(args.ads),
                             "/ad_bottom.jpg": slow, "/piwik.js": slow}  # fmt: skip
            plain, ads = pages.base + "/plain", pages.base + "/ads"
            runs = {
                "plain": Run(plain, headers={"X-API-Key": PLAIN_KEY}),
                "plain-blocking": Run(plain, BLOCKING, headers={"X-API-Key": PLAIN_KEY}),
                "ads": Run(ads, headers={"X-API-Key": PLAIN_KEY}),
                "ads-blocking": Run(ads, BLOCKING, headers={"X-API-Key": PLAIN_KEY}),
                "tenant-reach": Run(plain, headers={"X-API-Key": REACH_KEY}),
            }
            results, cpu = one_at_a_time(service, runs, 1000, 1000, args.count)
            pairs = [("plain-blocking", "plain"), ("ads-blocking", "ads"), ("tenant-reach", "plain")]
            report["rows"] = compare(report, results, cpu, pairs)
    print_report(report, COLUMNS, args.json)


if __name__ == "__main__":
    main()
