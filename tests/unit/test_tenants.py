"""Tenants in process: the file (every problem named), who a key or a signed URL makes the caller, each
tenant's permissions, limits, quota and usage, and its own webhook secret."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time

import pytest

from service.auth import sign
from service.tenancy import Tenancy
from service.tenants import Tenants, TenantsError
from tests.servers import WEBHOOK_SECRET, WebhookReceiver
from tests.support import ROOT, Clock, assert_error, params, post_json, wait_for_job

MON, MKT, ANON = "monitoring-key-0123456789", "marketing-key-0123456789", "anonymous-key-0123456789"
OWN_SECRET = "whsec_" + base64.b64encode(b"m" * 32).decode()
FILE = f"""
tenants:
  - name: monitoring
    keys: [{MON}, monitoring-key-rotated-000]
    allow_networks: [10.20.0.0/16]
    allow_scripts: true
    max_in_flight: 8
    rate: 5
    quota: {{captures: 3, per: minute}}
  - name: marketing
    keys: [{MKT}]
    webhook_secret: {OWN_SECRET}
"""


@pytest.fixture
def tenants_file(tmp_path):
    path = tmp_path / "tenants.yaml"
    path.write_text(FILE)
    return path


def key(value: str) -> dict[str, str]:
    return {"X-API-Key": value}


def test_the_file_in_yaml_or_json_and_every_problem_named(tmp_path):
    tenants = Tenants.parse(FILE.encode())
    assert sorted(tenants.by_name) == ["marketing", "monitoring"]
    monitoring = tenants.for_key("monitoring-key-rotated-000")
    assert monitoring is not None and monitoring.name == "monitoring" and monitoring.quota.window == 60
    assert tenants.for_key("monitoring-key-0123456789x") is None
    assert MON not in repr(monitoring) and MON not in repr(tenants.by_name)
    as_json = Tenants.parse(json.dumps({"tenants": [{"name": "a", "keys": ["k" * 16]}]}).encode(), json_only=True)
    assert as_json.get("a") is not None

    bad = """
tenants:
  - name: Bad Name
    keys: [x]
  - name: ok
    keys: [short]
    allow_networks: [10.0.0.0/33]
    rate: -1
    quota: {captures: 0, per: week}
    webhook_secret: nope
    colour: blue
  - name: dup
    keys: [shared-key-0123456789]
  - name: dup
    keys: [shared-key-0123456789]
"""
    with pytest.raises(TenantsError) as raised:
        Tenants.parse(bad.encode())
    message = str(raised.value)
    expected_problems = (
        "tenants[0]: `name`",
        "every key needs 16",
        "10.0.0.0/33",
        "`rate`",
        "`quota`",
        "`webhook_secret`",
        "unknown fields colour",
        "the name is used twice",
        "a key is also 'dup'",
    )
    for expected in expected_problems:
        assert expected in message, message


def test_an_invalid_tenants_file_stops_the_service_at_start(tmp_path):
    path = tmp_path / "tenants.yaml"
    path.write_text("tenants:\n  - name: a\n    keys: [short]\n    max_in_flight: lots\n")
    env = {"SNAPSHOT_TENANTS_FILE": str(path), "PATH": "/usr/bin:/bin"}
    run = subprocess.run([sys.executable, "-m", "service"], env=env, cwd=ROOT, capture_output=True, text=True,
                         timeout=60)  # fmt: skip
    assert run.returncode == 2
    assert "every key needs 16" in run.stderr and "`max_in_flight`" in run.stderr, run.stderr
    path.write_text(f"tenants:\n  - name: a\n    keys: [{ANON}]\n")
    env["SNAPSHOT_API_KEYS"] = ANON
    run = subprocess.run([sys.executable, "-m", "service"], env=env, cwd=ROOT, capture_output=True, text=True,
                         timeout=60)  # fmt: skip
    assert run.returncode == 2 and "SNAPSHOT_API_KEYS: a key is also tenant 'a'" in run.stderr


def test_keys_and_signed_urls_make_the_caller_their_tenant(app, browser, tenants_file):
    service = app(tenants_file=str(tenants_file), api_keys=(ANON,))
    assert_error(service.fetch("/create_snap", params=params()), 401, "unauthorized")
    assert service.fetch("/create_snap", params=params(), headers=key(MON)).code == 200
    assert service.fetch("/create_snap", params=params(), headers=key(ANON)).code == 200  # anonymous keys still work
    signed = sign(MKT, params(), ttl=60)
    assert service.fetch("/create_snap", params=signed).code == 200  # acts as marketing
    usage = json.loads(service.fetch("/usage", headers=key(MKT)).body)
    assert usage["tenant"] == "marketing" and usage["usage"]["captures"] == {"success": 1}
    assert usage["webhook_secret"] == OWN_SECRET and "quota" not in usage
    mine = json.loads(service.fetch("/usage", headers=key(MON)).body)
    assert mine["tenant"] == "monitoring" and mine["usage"]["captures"] == {"success": 1}
    assert mine["limits"] == {"max_in_flight": 8, "rate": 5.0, "burst": 5, "allow_scripts": True,
                              "allow_networks": ["10.20.0.0/16"]}  # fmt: skip
    assert "marketing" not in json.dumps(mine) and MON not in json.dumps(mine)
    assert json.loads(service.fetch("/usage", headers=key(ANON)).body)["tenant"] is None
    assert_error(service.fetch("/usage"), 401, "unauthorized")
    metrics = service.fetch("/metrics").body.decode()
    assert 'snapshot_tenant_captures_total{outcome="success",tenant="monitoring"} 1.0' in metrics
    assert 'snapshot_tenant_captures_total{outcome="success",tenant="anonymous"} 1.0' in metrics
    assert 'snapshot_tenant_bytes_total{tenant="marketing"}' in metrics
    assert MON not in metrics and MKT not in metrics and ANON not in metrics


def test_scripts_are_a_tenants_permission(app, browser, tenants_file):
    service = app(tenants_file=str(tenants_file))  # SNAPSHOT_ALLOW_SCRIPTS stays off
    scripted = params(scripts="document.title = 'x'")
    assert service.fetch("/create_snap", params=scripted, headers=key(MON)).code == 200
    refused = assert_error(service.fetch("/create_snap", params=scripted, headers=key(MKT)), 400, "invalid_options")
    assert refused["details"][0]["parameter"] == "scripts"


def test_a_quota_answers_429_until_its_window_ends(app, browser, tenants_file):
    clock = Clock(1_000_040.0)  # 20 s into a UTC minute
    service = app(clock=clock, tenants_file=str(tenants_file))
    codes = [service.fetch("/create_snap", params=params(), headers=key(MON)).code for _ in range(3)]
    assert codes == [200, 200, 200]
    over = service.fetch("/create_snap", params=params(), headers=key(MON))
    body = assert_error(over, 429, "quota_exceeded")
    assert over.headers["Retry-After"] == "40" and "3 captures per minute" in body["message"]
    assert service.fetch("/create_snap", params=params(), headers=key(MKT)).code == 200  # another tenant's own
    usage = json.loads(service.fetch("/usage", headers=key(MON)).body)
    assert usage["quota"] == {"captures": 3, "per": "minute", "used": 3, "left": 0, "resets_at": 1_000_080,
                              "shared": False}  # fmt: skip
    metrics = service.fetch("/metrics").body.decode()
    assert 'snapshot_tenant_quota_used{tenant="monitoring"} 3.0' in metrics
    assert 'snapshot_tenant_quota_limit{tenant="monitoring"} 3.0' in metrics
    assert 'snapshot_tenant_captures_total{outcome="overloaded",tenant="monitoring"} 1.0' in metrics
    clock.now += 40  # the next minute
    assert service.fetch("/create_snap", params=params(), headers=key(MON)).code == 200


def test_a_tenants_rate_is_its_own_beside_the_clients(app, browser, tmp_path):
    path = tmp_path / "tenants.yaml"
    path.write_text(f"tenants:\n  - name: slow\n    keys: [{MON}]\n    rate: 0.001\n    burst: 2\n")
    service = app(tenants_file=str(path), client_rate=0)
    codes = [service.fetch("/create_snap", params=params(), headers=key(MON)).code for _ in range(3)]
    assert codes == [200, 200, 429]


def test_each_tenants_webhooks_are_signed_with_its_own_secret(app, browser, tenants_file):
    service = app(tenants_file=str(tenants_file), webhook_secret=WEBHOOK_SECRET)
    derived = json.loads(service.fetch("/usage", headers=key(MON)).body)["webhook_secret"]
    assert derived.startswith("whsec_") and derived not in (WEBHOOK_SECRET, OWN_SECRET)
    assert Tenants.parse(FILE.encode()).webhook_secret("monitoring", WEBHOOK_SECRET) == derived  # stable
    for tenant, secret in (("monitoring", derived), ("marketing", OWN_SECRET)):
        hook, other = WebhookReceiver(secret=secret), WebhookReceiver(secret=WEBHOOK_SECRET)
        try:
            headers = key(MON if tenant == "monitoring" else MKT)
            query = params(**{"async": "true"}, webhook_url=hook.url)
            accepted = json.loads(service.fetch("/create_snap", params=query, headers=headers).body)
            wait_for_job(service, accepted["id"], headers=headers)
            [delivery] = hook.deliveries
            assert delivery.verified is not None and delivery.verified["data"]["tenant"] == tenant
            # the service's own secret (or another tenant's) does not verify it
            other_query = params(**{"async": "true"}, webhook_url=other.url)
            accepted = json.loads(service.fetch("/create_snap", params=other_query, headers=headers).body)
            wait_for_job(service, accepted["id"], headers=headers)
            assert other.deliveries[0].verified is None
        finally:
            hook.stop()
            other.stop()


def test_proxy_tokens_verify_for_their_tenant_until_they_expire(tenants_file):
    from service.config import Settings
    from service.metrics import Metrics
    from service.netpolicy import NetworkPolicy

    clock = Clock(1_000_000.0)
    tenancy = Tenancy(Tenants.load(tenants_file), Settings(), NetworkPolicy(), Metrics(), clock)
    reach = tenancy.reach("monitoring", time.monotonic() + 10)
    assert reach is not None and reach.username == "monitoring"
    granted = tenancy.verify(reach.username, reach.password)
    assert granted is not None and any(str(n) == "10.20.0.0/16" for n in granted.allow)
    assert tenancy.reach("marketing", time.monotonic() + 10) is None  # no networks of its own: no token
    assert tenancy.verify("marketing", reach.password) is None  # another tenant's name
    expires, _, signature = reach.password.partition(".")
    assert tenancy.verify("monitoring", f"{int(expires) + 1}.{signature}") is None  # tampered
    clock.now += 60  # past the capture's deadline and the margin
    assert tenancy.verify(reach.username, reach.password) is None
    other = Tenants.parse(FILE.encode() + b"\n# another file: another signing key\n")
    assert Tenancy(other, Settings(), NetworkPolicy(), Metrics(), Clock(1_000_000.0)).verify(
        reach.username, reach.password) is None  # fmt: skip


def test_the_filtering_proxy_takes_a_tenants_token_and_refuses_anything_else(tenants_file):
    """The proxy itself, on loopback: a target in the tenant's networks is reached with its capture's token
    only; a bad token is refused outright; the reserved name asks for the token, then takes it."""
    import asyncio
    import ipaddress
    import socket

    from service.config import Settings
    from service.egress import EgressProxy
    from service.metrics import Metrics
    from service.netpolicy import NetworkPolicy

    file = FILE.replace("10.20.0.0/16", "127.0.0.2/32")
    tenants_file.write_text(file)
    policy = NetworkPolicy(allow=(ipaddress.ip_network("127.0.0.1/32"),))
    tenancy = Tenancy(Tenants.load(tenants_file), Settings(), policy, Metrics())
    reach = tenancy.reach("monitoring", time.monotonic() + 30)
    assert reach is not None
    token = base64.b64encode(f"{reach.username}:{reach.password}".encode()).decode()
    target = socket.socket()
    target.bind(("127.0.0.2", 0))
    target.listen()
    port = target.getsockname()[1]

    async def ask(line: str, authorization: str | None = None) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        auth = f"Proxy-Authorization: Basic {authorization}\r\n" if authorization else ""
        writer.write(f"{line}\r\nHost: x\r\n{auth}\r\n".encode())
        head = await reader.readuntil(b"\r\n\r\n")
        writer.close()
        return head

    async def run() -> list[bytes]:
        await proxy.start("127.0.0.1", 0)
        try:
            return [
                await ask(f"CONNECT 127.0.0.2:{port} HTTP/1.1"),  # no token: the service's policy
                await ask(f"CONNECT 127.0.0.2:{port} HTTP/1.1", token),  # monitoring's capture
                await ask(f"CONNECT 127.0.0.2:{port} HTTP/1.1", base64.b64encode(b"monitoring:1.x").decode()),
                await ask("GET http://proxy-auth.snapshot.invalid/ HTTP/1.1"),  # the capture's first request
                await ask("GET http://proxy-auth.snapshot.invalid/ HTTP/1.1", token),
            ]
        finally:
            await proxy.stop()

    proxy = EgressProxy(policy, tenancy=tenancy)
    try:
        plain, tenant, forged, challenge, taken = asyncio.run(run())
    finally:
        target.close()
    assert plain.startswith(b"HTTP/1.1 403") and tenant.startswith(b"HTTP/1.1 200"), (plain, tenant)
    assert forged.startswith(b"HTTP/1.1 403")
    assert challenge.startswith(b"HTTP/1.1 407") and b'Proxy-Authenticate: Basic realm="snapshot"' in challenge
    assert taken.startswith(b"HTTP/1.1 204")


def test_a_quota_nobody_can_count_grants_nothing(app, browser, tenants_file):
    from tests.servers import free_port

    service = app(tenants_file=str(tenants_file), redis_url=f"redis://127.0.0.1:{free_port()}/0")  # nothing there
    body = assert_error(service.fetch("/create_snap", params=params(), headers=key(MON)), 503, "quota_unavailable")
    assert "Redis" in body["message"] and not browser.captures
    assert service.fetch("/create_snap", params=params(), headers=key(MKT)).code == 200  # no quota: not counted


def test_a_tenants_monitor_reaches_its_networks_and_its_runs_count_against_its_quota(app, browser, tenants_file):
    service = app(tenants_file=str(tenants_file), monitor_min_interval=1)
    body = {"url": "http://10.20.0.5/status", "width": 40, "height": 30, "every": 3600}
    answer = post_json(service, "/monitors", json.dumps(body), headers=key(MON))
    assert answer.code == 201, answer.body  # monitoring's own network
    assert_error(post_json(service, "/monitors", json.dumps(body), headers=key(MKT)), 403, "blocked")
    monitor_id = json.loads(answer.body)["id"]
    deadline = time.monotonic() + 10
    while json.loads(service.fetch(f"/monitors/{monitor_id}", headers=key(MON)).body)["runs"] < 1:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    usage = json.loads(service.fetch("/usage", headers=key(MON)).body)
    assert usage["quota"]["used"] == 1 and usage["usage"]["captures"] == {"success": 1}
