"""Real servers for tests and benchmarks: start on free loopback ports, wait until they answer, stop.

Each ``start_*`` returns a :class:`Proc` (or a dataclass holding several); ``stop()`` always ends the
process group, so nothing is left behind even when a test fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
SELENIUM_JAR = ROOT / ".tools" / "selenium-server-4.48.0.jar"
CHROMEDRIVER = "/usr/bin/chromedriver"


_handed_out: set[int] = set()


def free_port(below: int = 45000) -> int:
    """A free TCP port below ``below`` whose +10000 neighbour is free too (SeaweedFS gRPC).

    Never the same port twice in one process, so servers started together don't collide."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port >= below or port in _handed_out or port + 10000 in _handed_out:
            continue
        try:
            with socket.socket() as s2:
                s2.bind(("127.0.0.1", port + 10000))
        except OSError:
            continue
        _handed_out.update((port, port + 10000))
        return port


def wait_until(check: Callable[[], bool], timeout: float, what: str, proc: Proc | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.popen.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.popen.returncode}:\n{proc.tail()}")
        try:
            if check():
                return
        except Exception:  # not up yet
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{what} did not come up within {timeout}s" + (f":\n{proc.tail()}" if proc else ""))


def http_get_json(url: str, timeout: float = 3.0) -> dict:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.load(r)


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    log_path: Path
    leftovers: int = 0

    @classmethod
    def start(cls, name: str, args: list[str], *, env: dict[str, str] | None = None, cwd: str | None = None) -> Proc:
        log_path = Path(tempfile.mkstemp(prefix=f"{name}-", suffix=".log")[1])
        with open(log_path, "wb") as log:
            popen = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True
            )
        return cls(name, popen, log_path)

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, sig)

    def group_members(self) -> set[int]:
        out = subprocess.run(["pgrep", "-g", str(self.popen.pid)], capture_output=True, text=True).stdout
        return {int(pid) for pid in out.split()}

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM the process and wait; then SIGKILL anything of its group it left behind.

        ``leftovers`` records how many processes of its group outlived it (0 for a clean exit)."""
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        # browsers a clean exit closed may take a moment to disappear
        deadline = time.monotonic() + 5
        while self.group_members() and time.monotonic() < deadline:
            time.sleep(0.1)
        self.leftovers = len(self.group_members())
        if self.leftovers:
            self.signal(signal.SIGKILL)
            deadline = time.monotonic() + 5
            while self.group_members() and time.monotonic() < deadline:
                time.sleep(0.1)
        return self.popen.returncode


# --------------------------------------------------------------------------- Selenium Grid


@dataclass
class Grid:
    url: str
    hub: Proc
    nodes: list[Proc] = field(default_factory=list)
    node_args: list[list[str]] = field(default_factory=list)
    auth: tuple[str, str] | None = None
    directory: Path | None = None  # node configs, and the nodes' TMPDIR (their browsers' leftovers)
    hub_args: list[str] = field(default_factory=list)

    def restart_hub(self) -> None:
        """Stops the hub and starts it again on the same port (its nodes register again by themselves)."""
        self.hub.stop()
        self.hub = Proc.start("grid-hub", self.hub_args)
        wait_until(lambda: bool(self.status()), 60, "the restarted hub", self.hub)

    def status(self) -> dict:
        from service.browsers.grid import basic_auth_header

        request = urllib.request.Request(f"{self.url}/status", headers=basic_auth_header(self.auth))
        with urllib.request.urlopen(request, timeout=3) as r:
            return json.load(r)["value"]

    def slots(self) -> list[dict]:
        return [slot for node in self.status()["nodes"] for slot in node["slots"]]

    def sessions(self) -> int:
        return sum(1 for slot in self.slots() if slot.get("session"))

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        self.hub.stop()
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)


def _node_config(directory: Path, max_sessions: int) -> Path:
    path = directory / f"node-{max_sessions}.toml"
    path.write_text(
        "[node]\n"
        "detect-drivers = false\n"
        f"max-sessions = {max_sessions}\n"
        "session-timeout = 120\n"
        "heartbeat-period = 10\n"  # as the Grid chart: nodes register again within 10 s of a hub restart
        "[[node.driver-configuration]]\n"
        'display-name = "chrome"\n'
        'stereotype = \'{"browserName": "chrome", "platformName": "linux"}\'\n'
        f'webdriver-executable = "{CHROMEDRIVER}"\n'
        f"max-sessions = {max_sessions}\n"
    )
    return path


def start_grid(
    nodes: int = 2,
    max_sessions: int = 2,
    auth: tuple[str, str] | None = None,
    port: int | None = None,
    hub_log_level: str | None = None,
) -> Grid:
    """A hub and ``nodes`` nodes; ``hub_log_level="FINE"`` makes the hub log its spans (with their trace ids)."""
    if not SELENIUM_JAR.exists():
        raise RuntimeError(f"{SELENIUM_JAR} is missing: run scripts/setup.sh --test")
    directory = Path(tempfile.mkdtemp(prefix="grid-"))
    port, pub, sub = port or free_port(), free_port(), free_port()
    events = ["--publish-events", f"tcp://127.0.0.1:{pub}", "--subscribe-events", f"tcp://127.0.0.1:{sub}"]
    java = ["java", "-Xmx512m", "-jar", str(SELENIUM_JAR)]
    credentials = ["--username", auth[0], "--password", auth[1]] if auth else []
    hub_args = [*java, "hub", "--host", "127.0.0.1", "--port", str(port), *events,
                "--session-request-timeout", "60", *credentials,
                *(["--log-level", hub_log_level] if hub_log_level else [])]  # fmt: skip
    hub = Proc.start("grid-hub", hub_args)
    grid = Grid(f"http://127.0.0.1:{port}", hub, auth=auth, directory=directory, hub_args=hub_args)
    try:
        config = _node_config(directory, max_sessions)
        for _ in range(nodes):
            add_node(grid, events, java, config)
        wait_until(
            lambda: len(grid.status()["nodes"]) == nodes and (grid.status()["ready"] or not nodes), 60, "the Grid", hub
        )
    except BaseException:
        grid.stop()
        raise
    return grid


def add_node(grid: Grid, events: list[str], java: list[str], config: Path) -> Proc:
    args = [*java, "node", "--host", "127.0.0.1", "--port", str(free_port()), *events, "--config", str(config)]
    node = Proc.start("grid-node", args, env={**os.environ, "TMPDIR": str(config.parent)})
    grid.nodes.append(node)
    grid.node_args.append(args)
    return node


# --------------------------------------------------------------------------- SeaweedFS (S3)


@dataclass
class S3Server:
    endpoint: str
    bucket: str
    access_key: str
    secret_key: str
    proc: Proc
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)

    def service_env(self) -> dict[str, str]:
        """The settings (and credentials) of a service that stores in this bucket."""
        return {
            "SNAPSHOT_S3_BUCKET": self.bucket,
            "SNAPSHOT_S3_ENDPOINT_URL": self.endpoint,
            "SNAPSHOT_S3_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
        }

    def restart(self) -> None:
        """Start SeaweedFS again on the same ports and data (after stop())."""
        self.proc = Proc.start("seaweedfs", self.args, env=self.env)
        wait_until(lambda: bool(self.client().head_bucket(Bucket=self.bucket)), 60, "SeaweedFS", self.proc)

    def client(self):  # type: ignore[no-untyped-def]
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name="us-east-1",
            config=Config(
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
                s3={"addressing_style": "path"},
            ),
        )

    def stop(self) -> None:
        self.proc.stop()


def start_s3(bucket: str = "snapshots") -> S3Server:
    directory = tempfile.mkdtemp(prefix="weed-")
    s3, master, volume, filer, admin, metrics = (free_port() for _ in range(6))
    env = dict(os.environ, AWS_ACCESS_KEY_ID="snapshot-test", AWS_SECRET_ACCESS_KEY="snapshot-test-secret")
    args = [
        str(VENV_BIN / "weed"),
        "mini",
        f"-dir={directory}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-bucket={bucket}",
        f"-s3.port={s3}",
        f"-master.port={master}",
        f"-volume.port={volume}",
        f"-filer.port={filer}",
        f"-admin.port={admin}",
        f"-metricsPort={metrics}",
        "-admin.ui=false",
        "-webdav=false",
        "-master.telemetry=false",
    ]
    proc = Proc.start("seaweedfs", args, env=env)
    server = S3Server(
        f"http://127.0.0.1:{s3}", bucket, env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], proc, args, env
    )
    try:
        wait_until(lambda: bool(server.client().head_bucket(Bucket=bucket)), 60, "SeaweedFS", proc)
    except BaseException:
        proc.stop()
        raise
    return server


# --------------------------------------------------------------------------- Redis


@dataclass
class Redis:
    url: str
    proc: Proc

    def client(self):  # type: ignore[no-untyped-def]
        import redis

        return redis.Redis.from_url(self.url, decode_responses=True)

    def stop(self) -> None:
        self.proc.stop()


def start_redis() -> Redis:
    """The Debian redis-server on a free port, appending every write (as a production Redis would)."""
    port = free_port()
    directory = tempfile.mkdtemp(prefix="redis-")
    args = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", directory, "--save", "",
            "--appendonly", "yes"]  # fmt: skip
    proc = Proc.start("redis", args)
    server = Redis(f"redis://127.0.0.1:{port}/0", proc)
    try:
        wait_until(lambda: bool(server.client().ping()), 30, "Redis", proc)
    except BaseException:
        proc.stop()
        raise
    return server


# --------------------------------------------------------------------------- a webhook receiver

WEBHOOK_SECRET = "whsec_" + "c25hcHNob3Qtd2ViaG9vay10ZXN0LXNlY3JldC0zMmI="  # 32 bytes, tests only
# the service's settings for webhooks to the tests' receivers: signed, on loopback, on any port
WEBHOOK_ENV = {
    "SNAPSHOT_WEBHOOK_SECRET": WEBHOOK_SECRET,
    "SNAPSHOT_WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8",
    "SNAPSHOT_WEBHOOK_PORTS": "",
}


@dataclass
class Delivery:
    headers: dict[str, str]  # lower-cased names
    body: bytes
    verified: dict | None  # the payload, when the signature verified (None: it did not)
    answered: int


class _WebhookHandler(BaseHTTPRequestHandler):
    server: WebhookReceiver

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        from standardwebhooks import Webhook, WebhookVerificationError

        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            verified = Webhook(self.server.secret).verify(body, headers)
        except WebhookVerificationError:
            verified = None
        with self.server.lock:
            status = 500 if self.server.failures_left > 0 else 204
            self.server.failures_left -= 1
            self.server.deliveries.append(Delivery(headers, body, verified, status))
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()


class WebhookReceiver(ThreadingHTTPServer):
    """A real HTTP receiver that verifies every delivery's signature with the standardwebhooks package's
    own verifier; ``failures_left`` first deliveries are answered 500."""

    daemon_threads = True

    def __init__(self, secret: str = WEBHOOK_SECRET, fail_first: int = 0) -> None:
        super().__init__(("127.0.0.1", 0), _WebhookHandler)
        self.secret = secret
        self.failures_left = fail_first
        self.deliveries: list[Delivery] = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/hooks/snapshot?source=test"

    def by_id(self) -> dict[str, list[Delivery]]:
        with self.lock:
            grouped: dict[str, list[Delivery]] = {}
            for delivery in self.deliveries:
                grouped.setdefault(delivery.headers.get("webhook-id", ""), []).append(delivery)
            return grouped

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


# --------------------------------------------------------------------------- Prometheus


@dataclass
class Prometheus:
    url: str
    proc: Proc

    def query(self, expr: str) -> list[dict]:
        from urllib.parse import urlencode

        answer = http_get_json(f"{self.url}/api/v1/query?{urlencode({'query': expr})}")
        assert answer["status"] == "success", answer
        return answer["data"]["result"]

    def exemplars(self, expr: str, since: float) -> list[dict]:
        """The exemplars of the series ``expr`` selects, kept since ``since`` (a Unix time)."""
        from urllib.parse import urlencode

        query = urlencode({"query": expr, "start": since, "end": time.time() + 60})
        answer = http_get_json(f"{self.url}/api/v1/query_exemplars?{query}")
        assert answer["status"] == "success", answer
        return [e for series in answer["data"] for e in series["exemplars"]]

    def stop(self) -> None:
        self.proc.stop()


def start_prometheus(targets: list[str], job: str = "snapshot", exemplars: bool = False) -> Prometheus:
    """A real Prometheus (Debian package) scraping ``targets`` (host:port) every second; ``exemplars``: it keeps
    them (it then asks for OpenMetrics, the format that carries them)."""
    directory = Path(tempfile.mkdtemp(prefix="prometheus-"))
    config = directory / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        f"scrape_configs:\n  - job_name: {job}\n    static_configs:\n      - targets: {json.dumps(targets)}\n"
    )
    port = free_port()
    proc = Proc.start(
        "prometheus",
        [
            "prometheus",
            f"--config.file={config}",
            f"--storage.tsdb.path={directory / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            *(["--enable-feature=exemplar-storage"] if exemplars else []),
        ],
    )
    server = Prometheus(f"http://127.0.0.1:{port}", proc)
    try:
        wait_until(
            lambda: urllib.request.urlopen(f"{server.url}/-/ready", timeout=2).status == 200, 60, "Prometheus", proc
        )
    except BaseException:
        proc.stop()
        raise
    return server


# --------------------------------------------------------------------------- target pages

PAGES = {
    # four quadrants in four colours, sized by the viewport: proves the image is the whole viewport
    "/quadrants": """<!doctype html><html><head><style>
      html,body{margin:0;padding:0;overflow:hidden}
      div{position:fixed;width:50vw;height:50vh}
    </style></head><body>
      <div style="left:0;top:0;background:#ff0000"></div><div style="left:50vw;top:0;background:#00ff00"></div>
      <div style="left:0;top:50vh;background:#0000ff"></div><div style="left:50vw;top:50vh;background:#ffff00"></div>
    </body></html>""",
}


def _color_page(color: str) -> str:
    return f"<!doctype html><html><body style='margin:0;background:#{color}'></body></html>"


def _cards_page(count: int) -> str:
    cards = "".join(
        f"<div class=card><h3>Card {i}</h3><p>Lorem ipsum dolor sit amet, consectetur adipiscing elit.</p></div>"
        for i in range(count)
    )
    return (
        "<!doctype html><html><head><style>body{font-family:sans-serif;display:flex;flex-wrap:wrap}"
        ".card{width:180px;margin:8px;padding:8px;border:1px solid #ccc;border-radius:6px;"
        "box-shadow:0 2px 4px #0002}</style></head><body>" + cards + "</body></html>"
    )


class _PageHandler(BaseHTTPRequestHandler):
    server: PageServer

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        self.server.hits.append(urlsplit(self.path).path)
        self.send_error(404)

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        self.server.hits.append(parts.path)
        self.server.seen.append((parts.path, {k.lower(): v for k, v in self.headers.items()}))
        extra = self.server.routes.get(parts.path)
        headers: dict[str, str] = {}
        status = 200
        if extra is not None:
            query["_cookie"] = self.headers.get("Cookie", "")
            query["_user_agent"] = self.headers.get("User-Agent", "")
            query["_x_test"] = self.headers.get("X-Test", "")
            query["_authorization"] = self.headers.get("Authorization", "")
            answer = extra(query)
            if isinstance(answer, tuple):
                body, headers, *rest = answer
                status = rest[0] if rest else 200
            else:
                body = answer
        elif parts.path in PAGES:
            body = PAGES[parts.path]
        elif parts.path.startswith("/color/"):
            body = _color_page(parts.path.rsplit("/", 1)[1][:6])
        elif parts.path == "/cards":
            body = _cards_page(int(query.get("n", "200")))
        elif parts.path == "/slow":
            time.sleep(float(query.get("s", "5")))
            body = _color_page("808080")
        else:
            self.send_error(404)
            return
        data = body if isinstance(body, bytes) else body.encode()
        self.send_response(status)
        if not any(name.lower() == "content-type" for name in headers):
            self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


class PageServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a browser that gave up on a slow page closes the socket; that's expected

    def __init__(self, host: str = "127.0.0.1") -> None:
        super().__init__((host, 0), _PageHandler)
        self.hits: list[str] = []
        self.seen: list[tuple[str, dict[str, str]]] = []  # (path, request headers, lower-cased names)
        # extra routes: fn(query) -> html, (html, headers) or (html, headers, status), html as str or bytes (its
        # Content-Type: text/html unless the headers give one); query['_cookie'],
        # query['_user_agent'], query['_x_test'] and query['_authorization'] are those request headers
        self.routes: dict[str, Callable[[dict[str, str]], Any]] = {}
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


# --------------------------------------------------------------------------- an upstream proxy (tinyproxy)


@dataclass
class TinyProxy:
    """Debian's tinyproxy as the corporate proxy behind the filtering proxy; it logs every request line."""

    port: int
    user: str
    password: str
    proc: Proc
    log: Path

    @property
    def url(self) -> str:
        return f"http://{self.user}:{self.password}@127.0.0.1:{self.port}"

    def requests(self) -> list[str]:
        """The request lines it received (``CONNECT host:port HTTP/1.1``, ``GET http://... HTTP/1.1``)."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return re.findall(r"Request \(file descriptor \d+\): (.*)", text)

    def stop(self) -> None:
        self.proc.stop()


def start_tinyproxy(user: str = "corp", password: str = "secret") -> TinyProxy:
    directory = Path(tempfile.mkdtemp(prefix="tinyproxy-"))
    port = free_port()
    log = directory / "requests.log"
    (directory / "tinyproxy.conf").write_text(
        f'Port {port}\nListen 127.0.0.1\nTimeout 30\nLogFile "{log}"\nLogLevel Info\nMaxClients 50\n'
        f"Allow 127.0.0.1\nBasicAuth {user} {password}\nDisableViaHeader Yes\n"
    )
    proc = Proc.start("tinyproxy", ["tinyproxy", "-d", "-c", str(directory / "tinyproxy.conf")])
    proxy = TinyProxy(port, user, password, proc, log)
    try:
        wait_until(
            lambda: socket.create_connection(("127.0.0.1", port), timeout=1).close() is None, 15, "tinyproxy", proc
        )
    except BaseException:
        proc.stop()
        raise
    return proxy


# --------------------------------------------------------------------------- the service itself


@dataclass
class Service:
    url: str
    proc: Proc
    env: dict[str, str]

    def stop(self, timeout: float = 40.0) -> int | None:
        return self.proc.stop(timeout)


def start_service(env: dict[str, str], *, wait_ready: bool = True) -> Service:
    port = free_port()
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SNAPSHOT_")}
    full_env.update(env)
    full_env.setdefault("SNAPSHOT_HOST", "127.0.0.1")
    full_env.setdefault("SNAPSHOT_LOCAL_STORAGE_DIR", tempfile.mkdtemp(prefix="snapshot-files-"))
    proc = Proc.start("service", [sys.executable, "-m", "service", "--port", str(port)], env=full_env, cwd=str(ROOT))
    service = Service(f"http://127.0.0.1:{port}", proc, full_env)
    path = "/readyz" if wait_ready else "/healthz"
    try:
        wait_until(lambda: urllib.request.urlopen(service.url + path, timeout=2).status == 200, 60, "the service", proc)
    except BaseException:
        proc.stop()
        raise
    return service


def browser_processes() -> set[int]:
    """PIDs of running Chromium and ChromeDriver processes (exited ones that wait for their parent to reap them,
    zombies, are not running)."""
    out = subprocess.run(["pgrep", "-f", "chromium|chromedriver"], capture_output=True, text=True).stdout
    running = set()
    for pid in out.split():
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue  # gone meanwhile
        if state != "Z":
            running.add(int(pid))
    return running - {os.getpid()}
