"""The service image, built and run for real with podman: built by ``scripts/build-image.sh`` from a
Debian-built base (no registry is reachable here), run read-only as UID 10001 with every capability
dropped, a localmode capture, and SIGTERM during a capture: the capture finishes and the container
exits 0."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests

from tests.servers import ROOT, free_port, wait_until
from tests.support import LOOPBACK, open_png

pytestmark = pytest.mark.integration

TAG = "localhost/snapshot:test"


@pytest.fixture(scope="module")
def image() -> str:
    if shutil.which("podman") is None:
        pytest.fail("podman is missing: scripts/setup.sh --test installs it")
    certs = [arg for path in sorted(Path("/usr/local/share/ca-certificates").glob("*.crt"))
             for arg in ("--ca-certs", str(path))]  # fmt: skip
    build = subprocess.run(
        ["bash", str(ROOT / "scripts" / "build-image.sh"), "--debian-base", "--tag", TAG, *certs],
        capture_output=True, text=True, timeout=1200,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr[-3000:]
    size = int(build.stdout.strip().splitlines()[-1])
    print(f"\nimage {TAG}: {size / 1e6:.0f} MB")
    return TAG


def run_hardened(image: str, options: list[str], env: dict[str, str]) -> tuple[str, str]:
    """The image started as a cluster runs it (read-only, UID 10001, no capabilities), with ``options``
    and ``env`` added; its container name and URL."""
    name = f"snapshot-test-{uuid.uuid4().hex[:8]}"
    port = free_port()
    settings = {"SNAPSHOT_PORT": str(port), "SNAPSHOT_HOST": "127.0.0.1", "SNAPSHOT_ALLOW_NETWORKS": LOOPBACK, **env}
    run = [
        "podman", "run", "-d", "--name", name, "--read-only", "--user", "10001:10001", "--cap-drop", "ALL",
        "--tmpfs", "/tmp:rw,size=512m", "--network", "host", *options,
        *(arg for key, value in settings.items() for arg in ("-e", f"{key}={value}")), image,
    ]  # fmt: skip
    subprocess.run(run, check=True, capture_output=True, timeout=60)
    return name, f"http://127.0.0.1:{port}"


RENDERERS = """
import os
own = os.readlink("/proc/self/ns/user")
for pid in filter(str.isdigit, os.listdir("/proc")):
    if pid == str(os.getpid()):
        continue  # this script's command line names the flag too
    try:
        if b"--type=renderer" not in open(f"/proc/{pid}/cmdline", "rb").read():
            continue
        seccomp = [line.split()[1] for line in open(f"/proc/{pid}/status") if line.startswith("Seccomp:")][0]
        print(seccomp, os.readlink(f"/proc/{pid}/ns/user") != own)
    except OSError:
        pass
"""


def test_where_the_pod_allows_user_namespaces_chromium_runs_its_own_sandbox(image, pages):
    """SNAPSHOT_CHROME_SANDBOX=true, unprivileged, with a seccomp profile that allows user namespaces
    (here unconfined; in a cluster a Localhost profile): captures work, and every renderer runs in its own
    user namespace under a seccomp-bpf filter (Chromium's sandbox), which --no-sandbox would not give."""
    name, url = run_hardened(image, ["--security-opt", "seccomp=unconfined"], {"SNAPSHOT_CHROME_SANDBOX": "true"})
    try:
        wait_until(lambda: requests.get(f"{url}/readyz", timeout=2).status_code == 200, 60, "the container")
        query = {"url": pages.base + "/quadrants", "width": 200, "height": 120}
        capture = requests.get(f"{url}/create_snap", params=query, timeout=60)
        assert capture.status_code == 200, capture.text
        found = subprocess.run(["podman", "exec", name, "/opt/snapshot/bin/python", "-c", RENDERERS],
                               capture_output=True, text=True, check=True, timeout=30).stdout.split("\n")  # fmt: skip
        renderers = [line.split() for line in found if line.strip()]
        assert renderers and all(r == ["2", "True"] for r in renderers), renderers
    finally:
        subprocess.run(["podman", "rm", "-f", name], capture_output=True)


def test_the_image_runs_read_only_unprivileged_captures_and_stops_cleanly_on_sigterm(image, pages):
    name, url = run_hardened(image, ["--security-opt", "no-new-privileges"], {"SNAPSHOT_SHUTDOWN_GRACE": "20"})
    try:
        wait_until(lambda: requests.get(f"{url}/readyz", timeout=2).status_code == 200, 60, "the container")
        fields = "{{.Config.User}} {{.HostConfig.ReadonlyRootfs}}"
        inspect = subprocess.run(["podman", "inspect", name, "--format", fields], capture_output=True, text=True,
                                 check=True)  # fmt: skip
        assert inspect.stdout.split() == ["10001:10001", "true"]
        query = {"url": pages.base + "/quadrants", "width": 200, "height": 120, "localmode": "true"}
        capture = requests.get(f"{url}/create_snap", params=query, timeout=60)
        assert capture.status_code == 200, capture.text
        assert open_png(capture.content).size == (200, 120)
        # Playwright's device registry, taken from npm playwright-core when the image was built
        assert requests.get(f"{url}/devices", timeout=10).json()["source"] == "playwright-core 1.50.0"
        # Ghostscript for PDF/A, in a read-only container (it writes to the temporary directory only)
        query = {"url": pages.base + "/quadrants", "localmode": "true", "pdf_pdfa": "true"}
        pdfa = requests.get(f"{url}/create_pdf", params=query, timeout=60)
        assert pdfa.status_code == 200 and b"pdfaid:part" in pdfa.content, pdfa.text[:300]
        # SIGTERM while a capture runs: it finishes, then the container exits 0
        answer: dict[str, requests.Response] = {}
        pages.hits.clear()
        slow = threading.Thread(
            target=lambda: answer.setdefault("r", requests.get(
                f"{url}/create_snap", params={"url": pages.base + "/slow?s=3", "width": 100, "height": 80},
                timeout=60)),
        )  # fmt: skip
        slow.start()
        wait_until(lambda: "/slow" in pages.hits, 30, "the capture to reach the page")
        time.sleep(0.3)
        subprocess.run(["podman", "kill", "--signal", "TERM", name], check=True, capture_output=True)
        slow.join(60)
        assert answer["r"].status_code == 200
        exit_code = subprocess.run(["podman", "wait", name], capture_output=True, text=True, timeout=60).stdout
        assert exit_code.strip() == "0", subprocess.run(
            ["podman", "logs", name], capture_output=True, text=True
        ).stdout[-2000:]
    finally:
        subprocess.run(["podman", "rm", "-f", name], capture_output=True)
