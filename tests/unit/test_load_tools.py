"""The load tools (pure logic, and the unload-cost loop on a real Chromium) and the Grid status parser."""

from __future__ import annotations

import math
import subprocess
import time

from load_tests.autoscale import Sample, analyze, sample_from
from load_tests.cpu import CpuMeter, process_ticks
from load_tests.load import parse_size, run_workers
from load_tests.sidebyside import ratios
from load_tests.stats import RunResult, percentile, table
from service.browsers.grid import GridStatus, parse_nodes


def test_percentiles_are_nearest_rank():
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 95) == 95.0
    assert percentile(values, 100) == 100.0
    assert math.isnan(percentile([], 50))


def test_summary_and_table():
    result = RunResult("svc", 2, 2.0, [0.1, 0.2, 0.3, 0.4])
    result.errors["503"] += 1
    summary = result.summary()
    assert summary["throughput_rps"] == 2.0 and summary["requests"] == 5 and summary["p50_ms"] == 200.0
    lines = table([summary], ["name", "ok", "errors"]).splitlines()
    assert lines[0].split("|")[1].strip() == "name" and "svc" in lines[2] and "{'503': 1}" in lines[2]


def test_workers_run_exactly_count_and_record_errors():
    calls = []

    def one(worker):
        calls.append(worker)
        return None if len(calls) % 3 else "500"

    result = run_workers("x", 3, 30, None, one, progress=False)
    assert len(calls) == 30 and result.ok == 20 and result.errors["500"] == 10


def test_the_cpu_meter_counts_a_busy_loop_around_the_run_only():
    meter = CpuMeter()
    result = run_workers("busy", 1, 1, None, lambda _: _spin(0.3), progress=False, meter=meter)
    _spin(0.3)  # after the run: not counted
    assert result.ok == 1
    mine = meter.by_process_ms(1)["benchmark client + page server"]
    assert 250 <= mine <= 450 and meter.per_capture_ms(1) >= 250


def test_chromium_processes_are_told_apart_by_their_type():
    # Chromium's children rewrite their command line as one string; the browser keeps its arguments
    renderer = subprocess.Popen(["/usr/lib/chromium/chromium --type=renderer --lang=en"], executable="/bin/cat",
                                stdin=subprocess.PIPE)  # fmt: skip
    network = subprocess.Popen(["/usr/lib/chromium/chromium", "-c", "read x", "--type=utility",
                                "--utility-sub-type=network.mojom.NetworkService"], executable="/bin/sh",
                               stdin=subprocess.PIPE)  # fmt: skip
    try:
        kinds = {pid: kind for pid, (kind, _) in process_ticks(set()).items()}
        assert kinds[renderer.pid] == "chromium renderer"
        assert kinds[network.pid] == "chromium NetworkService"
    finally:
        for process in (renderer, network):
            process.kill()
            process.wait()
            assert process.stdin is not None
            process.stdin.close()


def test_the_ratios_row_states_the_targets_figures():
    results = {
        "raw": RunResult("raw", 2, 10.0, [0.2] * 100),
        "service": RunResult("service", 2, 10.0, [0.15] * 120),
        "pw-warm": RunResult("pw-warm", 2, 10.0, [0.1] * 100),
        "service-local": RunResult("service-local", 2, 10.0, [0.1] * 110),
    }
    row = ratios(2, results, {"raw": 200.0, "service": 150.0, "pw-warm": 250.0, "service-local": 200.0})
    assert row["p50_ms"] == "svc/raw 0.75, local/pw 1.00"
    assert row["throughput_rps"] == "svc/raw 1.20, local/pw 1.10"
    assert row["cpu_ms"] == "svc/raw 0.75, local/pw 0.80"


def _spin(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_parse_size():
    assert parse_size("1000x800") == (1000, 800)


def test_grid_status_counts_slots_of_nodes_that_are_up():
    status = {
        "value": {
            "ready": True,
            "message": "Selenium Grid ready.",
            "nodes": [
                {
                    "id": "n1",
                    "uri": "http://10.0.0.1:5555",
                    "availability": "UP",
                    "slots": [{"session": None}, {"session": {"sessionId": "a"}}],
                },
                {"id": "n2", "uri": "http://10.0.0.2:5555", "availability": "DOWN", "slots": [{"session": None}]},
            ],
        }
    }
    parsed = GridStatus.parse(status)
    assert (parsed.slots, parsed.free_slots) == (2, 1)
    up, down = parse_nodes(status)
    assert (up.id, up.uri, up.up, up.sessions, up.free) == ("n1", "http://10.0.0.1:5555", True, {"a"}, 1)
    assert not down.up


DEPLOYMENT = {
    "kind": "Deployment",
    "metadata": {"name": "selenium-grid-node-chrome"},
    "spec": {"replicas": 3},
    "status": {"replicas": 3, "readyReplicas": 2},
}


PODS = {
    "kind": "PodList",
    "items": [
        {
            "metadata": {"name": "a"},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
        },
        {
            "metadata": {"name": "b"},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
        },
        {
            "metadata": {"name": "c"},
            "status": {"phase": "Pending", "conditions": [{"type": "Ready", "status": "False"}]},
        },
    ],
}


GRAPHQL = {"data": {"grid": {"sessionQueueSize": 4}}}


def test_a_sample_reads_replicas_ready_pods_and_the_grid_queue():
    assert sample_from(12.0, DEPLOYMENT, PODS, GRAPHQL) == Sample(12.0, 3, 2, 4)
    assert sample_from(0.0, {"spec": {}}, {"items": []}, None) == Sample(0.0, 0, 0, -1)


def test_analysis_reports_scale_up_ready_and_scale_down_times():
    samples = [
        Sample(0, 1, 1, 0),
        Sample(2, 1, 1, 5),
        Sample(4, 3, 1, 5),
        Sample(30, 3, 3, 0),
        Sample(60, 3, 3, 0),
        Sample(400, 1, 1, 0),
    ]
    report = analyze(samples, load_end=60)
    assert report["time_to_scale_up_s"] == 4
    assert report["time_to_ready_s"] == 30
    assert report["time_to_scale_down_after_load_s"] == 340
    assert report["peak_replicas"] == 3 and report["peak_queue"] == 5


def test_analysis_without_scaling_reports_none():
    report = analyze([Sample(0, 2, 2, 0), Sample(10, 2, 2, 0)], load_end=5)
    assert report["time_to_scale_up_s"] is None and report["time_to_scale_down_after_load_s"] is None
