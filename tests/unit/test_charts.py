"""The Helm charts, rendered and linted by the real Helm engine and validated against Kubernetes 1.30."""

from __future__ import annotations

import json
import re

import kubernetes_validate
import pytest
import yaml
from helm_python.chart import Chart, lint

from scripts.chart_schema import FIXED_BY_CHART
from service.config import Settings, settings_table
from tests.support import GRID_CHART, ROOT, SERVICE_CHART, by_kind, docs, scenarios

K8S = "1.30.0"

# custom resources: kind -> required paths (dotted) that must be present and non-empty
CUSTOM = {
    "ScaledObject": ["spec.scaleTargetRef.name", "spec.triggers"],
    "TriggerAuthentication": ["spec.secretTargetRef"],
    "ServiceMonitor": ["spec.selector.matchLabels", "spec.endpoints"],
    "PrometheusRule": ["spec.groups"],
}


def dig(doc: dict, dotted: str):
    for part in dotted.split("."):
        doc = doc.get(part) if isinstance(doc, dict) else None
    return doc


ALL = [(SERVICE_CHART, "snapshot", n, v) for n, v in scenarios(SERVICE_CHART)] + [
    (GRID_CHART, "selenium-grid", n, v) for n, v in scenarios(GRID_CHART)
]


@pytest.mark.parametrize(("chart", "release", "scenario", "values"), ALL, ids=[f"{a[1]}-{a[2]}" for a in ALL])
def test_every_manifest_is_valid_for_kubernetes_1_30(chart, release, scenario, values):
    manifests = docs(chart, values, release)
    assert manifests
    for doc in manifests:
        if doc["kind"] in CUSTOM:
            for path in CUSTOM[doc["kind"]]:
                assert dig(doc, path), f"{doc['kind']} {doc['metadata']['name']}: {path} is missing"
        else:
            kubernetes_validate.validate(doc, K8S, strict=True)


@pytest.mark.parametrize(("chart", "release", "scenario", "values"), ALL, ids=[f"{a[1]}-{a[2]}" for a in ALL])
def test_charts_lint_clean(chart, release, scenario, values):
    report = lint(str(chart), values=values, strict=True, kube_version="v1.30.0")
    errors = [m for m in report["messages"] if m["severity"] >= 2] + report["errors"]
    assert not errors, errors


@pytest.mark.parametrize(("chart", "release", "scenario", "values"), ALL, ids=[f"{a[1]}-{a[2]}" for a in ALL])
def test_pods_are_hardened(chart, release, scenario, values):
    pods = [d["spec"]["template"]["spec"] for d in docs(chart, values, release) if d["kind"] == "Deployment"]
    pods += [d["spec"] for d in docs(chart, values, release) if d["kind"] == "Pod"]
    assert pods
    for pod in pods:
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        assert pod.get("automountServiceAccountToken") is False
        for container in pod["containers"]:
            sc = container["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"]["drop"] == ["ALL"]
            assert container.get("resources", {}).get("limits"), f"{container['name']} has no limits"
            if chart == SERVICE_CHART:
                assert sc["readOnlyRootFilesystem"] is True


def test_service_deployment_probes_shutdown_and_config():
    manifests = docs(SERVICE_CHART, {}, "snapshot")
    deployment = by_kind(manifests, "Deployment")[0]
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert {"checksum/config", "checksum/secret"} <= set(deployment["spec"]["template"]["metadata"]["annotations"])
    config = by_kind(manifests, "ConfigMap")[0]["data"]
    timeout = float(config["SNAPSHOT_CAPTURE_TIMEOUT"])
    assert pod["terminationGracePeriodSeconds"] > timeout + int(container["lifecycle"]["preStop"]["exec"]["command"][1])
    assert float(config["SNAPSHOT_SHUTDOWN_GRACE"]) < pod["terminationGracePeriodSeconds"]
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
    # the ConfigMap is valid configuration for the service itself
    Settings.from_env(config)


def test_optional_parts_are_behind_switches():
    defaults = docs(SERVICE_CHART, {}, "snapshot")
    kinds = {d["kind"] for d in defaults}
    assert not kinds & {"Ingress", "HorizontalPodAutoscaler", "ServiceMonitor", "PrometheusRule"}
    # the one NetworkPolicy on by default guards the filtering proxy's port only
    [policy] = by_kind(defaults, "NetworkPolicy")
    assert policy["metadata"]["name"] == "snapshot-egress" and policy["spec"]["policyTypes"] == ["Ingress"]
    full = yaml.safe_load((SERVICE_CHART / "ci" / "full-values.yaml").read_text())
    kinds = {d["kind"] for d in docs(SERVICE_CHART, full, "snapshot")}
    optional = {"Ingress", "HorizontalPodAutoscaler", "NetworkPolicy", "ServiceMonitor", "PrometheusRule", "Secret"}
    assert optional <= kinds


def test_rules_and_dashboard_in_the_chart_are_the_files():
    full = yaml.safe_load((SERVICE_CHART / "ci" / "full-values.yaml").read_text())
    manifests = docs(SERVICE_CHART, full, "snapshot")
    rule = by_kind(manifests, "PrometheusRule")[0]
    rules_file = yaml.safe_load((SERVICE_CHART / "files" / "snapshot-rules.yaml").read_text())
    assert rule["spec"]["groups"] == rules_file["groups"]
    dashboards = [d for d in by_kind(manifests, "ConfigMap") if "snapshot-dashboard.json" in d.get("data", {})]
    assert dashboards and dashboards[0]["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(dashboards[0]["data"]["snapshot-dashboard.json"]) == json.loads(
        (SERVICE_CHART / "files" / "snapshot-dashboard.json").read_text()
    )
    monitor = by_kind(manifests, "ServiceMonitor")[0]
    assert {"targetLabel": "job", "replacement": "snapshot"} in monitor["spec"]["endpoints"][0]["relabelings"]


CONTRADICTIONS = [
    ({"terminationGracePeriodSeconds": 20}, "terminationGracePeriodSeconds"),
    ({"s3": {"existingSecret": "x", "accessKeyId": "a", "secretAccessKey": "b"}}, "not both"),
    ({"s3": {"accessKeyId": "a"}}, "go together"),
    ({"s3": {"existingSecret": "x"}}, "SNAPSHOT_S3_BUCKET"),
    ({"autoscaling": {"enabled": True, "minReplicas": 5, "maxReplicas": 2}}, "minReplicas"),
    ({"replicaCount": 1}, "minAvailable"),
    ({"config": {"SNAPSHOT_GRID_URL": ""}}, "SNAPSHOT_ALLOW_LOCALMODE"),
    ({"bogus": True}, "additional properties"),
    ({"config": {"SNAPSHOT_NOT_A_SETTING": "1"}}, "additional properties"),
]


@pytest.mark.parametrize(("values", "message"), CONTRADICTIONS)
def test_contradictory_or_unknown_values_fail_rendering(values, message):
    with pytest.raises(Exception, match=re.escape(message)):
        Chart.load(str(SERVICE_CHART)).render(values=values, name="snapshot", namespace="snapshot")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"basicAuth": {"password": "p", "existingSecret": "s"}}, "contradict"),
        ({"registrationSecret": "r", "registrationExistingSecret": "s"}, "contradict"),
        ({"basicAuth": {"password": "p"}, "networkPolicy": {"proxy": {"podLabels": None}}}, "proxy.podLabels"),
        ({"basicAuth": {"password": "p"}, "autoscaling": {"minReplicaCount": 9, "maxReplicaCount": 2}}, "minReplica"),
    ],
)
def test_grid_chart_refuses_contradictions(values, message):
    with pytest.raises(Exception, match=re.escape(message)):
        Chart.load(str(GRID_CHART)).render(values=values, name="selenium-grid", namespace="snapshot")


def test_service_chart_config_keys_are_the_services_settings():
    schema = json.loads((SERVICE_CHART / "values.schema.json").read_text())
    in_schema = set(schema["properties"]["config"]["properties"])
    in_code = {env for env, _, _ in settings_table()}
    assert in_schema == in_code - FIXED_BY_CHART
    values = yaml.safe_load((SERVICE_CHART / "values.yaml").read_text())
    assert set(values["config"]) <= in_schema
    # what the chart fixes, its pods get from the Deployment itself
    full = yaml.safe_load((SERVICE_CHART / "ci" / "full-values.yaml").read_text())
    container = by_kind(docs(SERVICE_CHART, full, "snapshot"), "Deployment")[0]["spec"]["template"]["spec"][
        "containers"
    ][0]
    assert {e["name"] for e in container["env"] if e["name"].startswith("SNAPSHOT_")} <= FIXED_BY_CHART


def test_the_two_charts_agree_with_each_other():
    """Installed as documented (release "selenium-grid", same namespace), the service finds the Grid,
    authenticates, and asks for what KEDA scales on."""
    grid = docs(GRID_CHART, {"basicAuth": {"password": "p"}}, "selenium-grid")
    service = docs(SERVICE_CHART, {}, "snapshot")
    config = by_kind(service, "ConfigMap")[0]["data"]
    hub = next(d for d in by_kind(grid, "Service") if d["metadata"]["name"].endswith("-hub"))
    router = next(p for p in hub["spec"]["ports"] if p["name"] == "router")
    assert config["SNAPSHOT_GRID_URL"] == f"http://{hub['metadata']['name']}:{router['port']}"
    trigger = by_kind(grid, "ScaledObject")[0]["spec"]["triggers"][0]
    assert trigger["type"] == "selenium-grid"
    assert trigger["metadata"]["url"].endswith(f":{router['port']}/graphql")
    assert trigger["metadata"]["browserName"] == "chrome"
    assert trigger["metadata"]["platformName"] == config.get("SNAPSHOT_PLATFORM_NAME", Settings().platform_name)
    assert trigger["metadata"].get("browserVersion", "") == config.get("SNAPSHOT_BROWSER_VERSION", "")
    node = next(d for d in by_kind(grid, "Deployment") if "node" in d["metadata"]["name"])
    env = {e["name"]: e.get("value") for e in node["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert trigger["metadata"]["nodeMaxSessions"] == env["SE_NODE_MAX_SESSIONS"]
    assert env["SE_NODE_PLATFORM_NAME"] == trigger["metadata"]["platformName"]
    auth_secret = next(d for d in by_kind(grid, "Secret") if {"username", "password"} <= set(d["data"]))
    service_env = by_kind(service, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0]["env"]
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in service_env if "valueFrom" in e}
    assert refs["SNAPSHOT_GRID_USERNAME"] == {"name": auth_secret["metadata"]["name"], "key": "username"}
    assert refs["SNAPSHOT_GRID_PASSWORD"] == {"name": auth_secret["metadata"]["name"], "key": "password"}
    # the Grid's queue timeout is what the service waits for a session: a request the service gave up on
    # leaves the queue (KEDA does not scale for it); and the capture's deadline leaves time after it
    hub_deployment = next(d for d in by_kind(grid, "Deployment") if d["metadata"]["name"].endswith("-hub"))
    hub_env = {e["name"]: e.get("value") for e in hub_deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    session_wait = float(config["SNAPSHOT_SESSION_TIMEOUT"])
    assert int(hub_env["SE_SESSION_REQUEST_TIMEOUT"]) == session_wait
    assert float(config["SNAPSHOT_CAPTURE_TIMEOUT"]) >= session_wait + 10


def test_browsers_reach_only_the_services_filtering_proxy_by_default():
    grid = docs(GRID_CHART, {}, "selenium-grid")
    node_policy = next(d for d in by_kind(grid, "NetworkPolicy") if "node" in d["metadata"]["name"])
    node = next(d for d in by_kind(grid, "Deployment") if "node" in d["metadata"]["name"])
    node_labels = node["spec"]["template"]["metadata"]["labels"]
    full = yaml.safe_load((SERVICE_CHART / "ci" / "full-values.yaml").read_text())
    service = docs(SERVICE_CHART, full, "snapshot")
    pod_labels = by_kind(service, "Deployment")[0]["spec"]["template"]["metadata"]["labels"]
    proxy_rules = [r for r in node_policy["spec"]["egress"] if r.get("ports") == [{"port": 3128, "protocol": "TCP"}]]
    assert len(proxy_rules) == 1
    assert not any("ipBlock" in p for r in node_policy["spec"]["egress"] for p in r.get("to", []))
    assert proxy_rules[0]["to"][0]["podSelector"]["matchLabels"].items() <= pod_labels.items()
    # the service's own policy lets exactly those browsers in on the proxy port
    service_policy = by_kind(service, "NetworkPolicy")[0]
    egress_rule = next(r for r in service_policy["spec"]["ingress"] if r["ports"][0]["port"] == "egress")
    assert egress_rule["from"][0]["podSelector"]["matchLabels"].items() <= node_labels.items()
    # browsers are told to use it through its own ClusterIP Service; the API's Service does not carry it
    config = by_kind(service, "ConfigMap")[0]["data"]
    services = {d["metadata"]["name"]: d for d in by_kind(service, "Service")}
    assert config["SNAPSHOT_PROXY_URL"] == "http://snapshot-egress.snapshot:3128"
    assert services["snapshot-egress"]["spec"]["type"] == "ClusterIP"
    assert services["snapshot-egress"]["spec"]["ports"] == [
        {"name": "egress", "port": 3128, "targetPort": "egress", "protocol": "TCP"}
    ]
    assert all(p["port"] != 3128 for p in services["snapshot"]["spec"]["ports"])


def test_exposing_the_api_never_exposes_the_proxy():
    service = docs(SERVICE_CHART, {"service": {"type": "LoadBalancer"}}, "snapshot")
    services = {d["metadata"]["name"]: d for d in by_kind(service, "Service")}
    assert services["snapshot"]["spec"]["type"] == "LoadBalancer"
    assert services["snapshot-egress"]["spec"]["type"] == "ClusterIP"


def test_the_helm_test_pod_never_receives_the_services_traffic():
    manifests = docs(SERVICE_CHART, {}, "snapshot")
    selector = next(d for d in by_kind(manifests, "Service") if d["metadata"]["name"] == "snapshot")["spec"]["selector"]
    test_pod = by_kind(manifests, "Pod")[0]
    assert not selector.items() <= test_pod["metadata"]["labels"].items()


def test_grid_nodes_get_shm_below_their_memory_limit_and_drain_before_stopping():
    grid = docs(GRID_CHART, {}, "selenium-grid")
    node = next(d for d in by_kind(grid, "Deployment") if "node" in d["metadata"]["name"])
    pod = node["spec"]["template"]["spec"]
    [shm] = [v for v in pod["volumes"] if v["name"] == "dshm"]
    assert shm["emptyDir"]["medium"] == "Memory"
    limit = pod["containers"][0]["resources"]["limits"]["memory"]
    assert gibibytes(shm["emptyDir"]["sizeLimit"]) <= gibibytes(limit) / 2  # tmpfs counts against the limit
    pre_stop = " ".join(pod["containers"][0]["lifecycle"]["preStop"]["exec"]["command"])
    assert "/se/grid/node/drain" in pre_stop
    assert pre_stop.count("curl") == pre_stop.count("--max-time")
    assert "replicas" not in node["spec"]  # KEDA owns the replica count


def gibibytes(quantity: str) -> float:
    units = {"Gi": 1.0, "Mi": 1 / 1024, "G": 1e9 / 2**30, "M": 1e6 / 2**30}
    unit = next(u for u in units if quantity.endswith(u))
    return float(quantity[: -len(unit)]) * units[unit]


def test_browser_egress_is_limited():
    public = {"networkPolicy": {"browserEgress": "public"}}
    grid = docs(GRID_CHART, public, "selenium-grid")
    policy = next(d for d in by_kind(grid, "NetworkPolicy") if "node" in d["metadata"]["name"])
    blocks = [peer["ipBlock"] for rule in policy["spec"]["egress"] for peer in rule.get("to", []) if "ipBlock" in peer]
    assert blocks and all("169.254.0.0/16" in b["except"] and "10.0.0.0/8" in b["except"] for b in blocks)
    # public still lets browsers reach the proxy they are started with
    assert any(rule.get("ports") == [{"port": 3128, "protocol": "TCP"}] for rule in policy["spec"]["egress"])
    proxy_values = yaml.safe_load((GRID_CHART / "ci" / "proxy-values.yaml").read_text())
    grid = docs(GRID_CHART, proxy_values, "selenium-grid")
    policy = next(d for d in by_kind(grid, "NetworkPolicy") if "node" in d["metadata"]["name"])
    blocks = [peer["ipBlock"] for rule in policy["spec"]["egress"] for peer in rule.get("to", []) if "ipBlock" in peer]
    assert blocks == [{"cidr": "203.0.113.10/32"}]


def test_dockerfile_follows_the_conventions():
    text = (ROOT / "Dockerfile").read_text()
    bases = re.findall(r"^FROM (\S+)", text, re.MULTILINE)
    assert len(bases) == 2 and set(bases) == {"${BASE}"}  # both stages on one base
    assert re.search(r"^ARG BASE=python:3.11-slim-bookworm$", text, re.MULTILINE)
    assert re.search(r"^USER \d+:\d+$", text, re.MULTILINE)
    assert re.search(r'^ENTRYPOINT \["/opt/snapshot/bin/python", "-m", "service"\]$', text, re.MULTILINE)
    assert "build-extra.crt" in text and "update-ca-certificates --fresh" in text  # build CAs not kept
    assert "HEALTHCHECK" in text and "chromium-driver" in text and "import service.app" in text
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", ".tools"} <= set(ignored)


def test_tracing_values_set_the_standard_otel_variables_and_open_the_collectors_port():
    def container_env(manifests: list[dict]) -> dict[str, dict]:
        pod = by_kind(manifests, "Deployment")[0]["spec"]["template"]["spec"]
        return {e["name"]: e for e in pod["containers"][0]["env"]}

    assert not {name for name in container_env(docs(SERVICE_CHART, {}, "snapshot")) if name.startswith("OTEL_")}
    values = {
        "tracing": {"otlpEndpoint": "http://collector.obs:4318", "samplerArg": "0.5", "headersSecret": "otlp"},
        "networkPolicy": {"enabled": True},
    }
    manifests = docs(SERVICE_CHART, values, "snapshot")
    env = container_env(manifests)
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"]["value"] == "http://collector.obs:4318"
    assert env["OTEL_TRACES_SAMPLER"]["value"] == "parentbased_traceidratio"
    assert env["OTEL_TRACES_SAMPLER_ARG"]["value"] == "0.5"
    assert env["OTEL_SERVICE_NAME"]["value"] == "snapshot"
    assert env["OTEL_EXPORTER_OTLP_HEADERS"]["valueFrom"]["secretKeyRef"] == {"name": "otlp", "key": "headers"}
    assert "k8s.pod.name=$(K8S_POD_NAME)" in env["OTEL_RESOURCE_ATTRIBUTES"]["value"]
    policy = next(p for p in by_kind(manifests, "NetworkPolicy") if "Egress" in p["spec"]["policyTypes"])
    assert any(port.get("port") == 4318 for rule in policy["spec"]["egress"] for port in rule.get("ports", []))
    with pytest.raises(Exception, match="otlpEndpoint"):
        docs(SERVICE_CHART, {"tracing": {"otlpEndpoint": "tempo:4318"}}, "snapshot")


def test_declared_monitors_reach_the_service_as_its_monitors_file():
    values = {"monitors": [{"name": "home", "url": "https://example.com/", "width": 800, "height": 600, "every": 300}]}
    manifests = docs(SERVICE_CHART, values, "snapshot")
    [config] = [c for c in by_kind(manifests, "ConfigMap") if c["metadata"]["name"] == "snapshot-monitors"]
    assert yaml.safe_load(config["data"]["monitors.yaml"]) == values["monitors"]
    pod = by_kind(manifests, "Deployment")[0]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    mount = next(m for m in container["volumeMounts"] if m["name"] == "monitors")
    assert env["SNAPSHOT_MONITORS_FILE"] == mount["mountPath"] + "/monitors.yaml"
    assert next(v for v in pod["volumes"] if v["name"] == "monitors")["configMap"]["name"] == "snapshot-monitors"
    assert not [
        c for c in by_kind(docs(SERVICE_CHART, {}, "snapshot"), "ConfigMap") if "monitors" in c["metadata"]["name"]
    ]
    with pytest.raises(Exception, match="every"):
        docs(SERVICE_CHART, {"monitors": [{"name": "no-interval", "url": "https://example.com/"}]}, "snapshot")
