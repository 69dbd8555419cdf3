"""The load tools (pure logic, and the unload-cost loop on a real Chromium) and the Grid status parser."""

from __future__ import annotations

import pytest

from load_tests.unload_cost import measure
from tests.servers import browser_processes


@pytest.mark.integration  # a real Chromium
def test_the_unload_cost_loop_unloads_only_in_reset_mode_and_leaves_no_browser():
    before = browser_processes()
    reset, clears = measure(count=2, rounds=1, cards=20)
    assert (reset.mode, clears.mode) == ("reset", "clears")
    assert reset.loads == 4 and clears.loads == 2  # the reset's about:blank is a second load per cycle
    for result in (reset, clears):
        assert result.cycles == 2 and len(result.capture_ms) == 2 and result.cpu_ms[0] > 0
        assert result.row()["capture p50"] > 0
    assert browser_processes() - before == set()


@pytest.mark.integration  # the service on a real Chromium
def test_the_egress_benchmark_runs_every_path_and_leaves_no_browser(capsys):
    import json

    from load_tests.egress import main

    main(["--count", "1", "--ads", "3", "--ad-delay", "0", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert [row["name"] for row in report["rows"]] == ["plain", "plain-blocking", "ads", "ads-blocking", "tenant-reach"]
    assert all(row["ok"] == 1 and not row["errors"] for row in report["rows"])
    assert set(report["ratios"]) == {"plain-blocking / plain", "ads-blocking / ads", "tenant-reach / plain"}
    assert report["browser_processes_left"] == 0 and report["service_leftover_processes"] == 0


@pytest.mark.integration  # the service on a real Chromium
def test_the_bodies_benchmark_runs_every_path_and_leaves_no_browser(capsys):
    import json

    from load_tests.bodies import main

    main(["--count", "1", "--json"])
    report = json.loads(capsys.readouterr().out)
    names = ["url", "html", "markdown", "content-html", "content-markdown"]
    assert [row["name"] for row in report["rows"]] == names
    assert all(row["ok"] == 1 and not row["errors"] for row in report["rows"])
    assert set(report["ratios"]) == {f"{name} / url" for name in names[1:]}
    assert report["browser_processes_left"] == 0 and report["service_leftover_processes"] == 0


@pytest.mark.integration  # the service on a real Chromium
def test_the_emulation_benchmark_runs_every_path_and_leaves_no_browser(capsys):
    import json

    from load_tests.emulation import PATHS, main

    main(["--count", "1", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert [row["name"] for row in report["rows"]] == list(PATHS)
    assert all(row["ok"] == 1 and not row["errors"] for row in report["rows"])
    assert report["browser_processes_left"] == 0 and report["service_leftover_processes"] == 0


@pytest.mark.integration  # the service and Playwright on a real Chromium
def test_the_pdf_benchmark_runs_every_path_and_leaves_no_browser(capsys):
    import json

    from load_tests.pdf import main

    main(["--count", "1", "--json"])
    report = json.loads(capsys.readouterr().out)
    names = [row["name"] for row in report["rows"]]
    assert names[:3] == ["pw-plain", "pw-footer", "pw-outline"] and "service-merged" in names
    assert all(row["ok"] == 1 and not row["errors"] for row in report["rows"])
    assert report["browser_processes_left"] == 0 and report["service_leftover_processes"] == 0


@pytest.mark.integration  # two services on real Chromiums, one exporting to a real OTLP receiver
def test_the_tracing_benchmark_compares_on_and_off_and_leaves_no_browser(capsys):
    import json

    from load_tests.tracing import ROUNDS, main

    main(["--count", str(ROUNDS), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert [row["name"] for row in report["rows"]] == ["off", "on"]
    assert all(row["ok"] == ROUNDS and not row["errors"] for row in report["rows"])
    assert set(report["ratios"]) == {"p50 on / off", "cpu on / off", "service cpu on / off"}
    assert report["spans_per_capture"] >= 7  # the request's and its phases' (check, queue, session...)
    assert report["browser_processes_left"] == 0 and report["service_leftover_processes"] == 0


@pytest.mark.integration  # the service and Playwright on a real Chromium, a page of Debian's Node.js reference
def test_the_fullpage_benchmark_compares_real_pages_with_playwright_and_leaves_no_browser(capsys):
    import json

    from load_tests.fullpage import main

    main(["--count", "1", "--pages", "index", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert [row["name"] for row in report["rows"]] == ["pw", "pw-jpeg", "service", "service-scroll", "service-jpeg"]
    assert all(row["ok"] == 1 and not row["errors"] and row["height"] > 1000 for row in report["rows"])
    assert set(report["ratios"]) == {f"index ({report['rows'][0]['height']} px) {path} / pw"
                                     for path in ("service", "service-scroll", "service-jpeg")}  # fmt: skip
    assert report["browser_processes_left"] == 0 and report["service_leftover_processes"] == 0
