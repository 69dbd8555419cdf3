"""The structure of the service chart's values.schema.json: types, limits, required keys, and no
unknown keys.  Descriptions are not written here: ``scripts/docs.py`` takes them from the ``# --``
comments of values.yaml, and those of the ``config`` keys from ``service.config.Settings``."""

from __future__ import annotations

from typing import Any

from service.config import settings_table

# settings the chart sets itself (from the pod spec and Secrets), so not allowed under `config`
FIXED_BY_CHART = frozenset(
    {
        "SNAPSHOT_HOST",
        "SNAPSHOT_PORT",
        "SNAPSHOT_GRID_USERNAME",
        "SNAPSHOT_GRID_PASSWORD",
        "SNAPSHOT_PROXY_HOST",
        "SNAPSHOT_PROXY_PORT",
        "SNAPSHOT_API_KEYS",
        "SNAPSHOT_REDIS_URL",
        "SNAPSHOT_WEBHOOK_SECRET",
        "SNAPSHOT_JOB_SECRET_KEY",
        "SNAPSHOT_GRID_REGISTRATION_SECRET",
        "SNAPSHOT_UPSTREAM_PROXY",
        "SNAPSHOT_FILTER_LISTS_DIR",
        "SNAPSHOT_TENANTS_FILE",
        "SNAPSHOT_MONITORS_FILE",
    }
)

Schema = dict[str, Any]

# the samplers OTEL_TRACES_SAMPLER names (the OpenTelemetry SDK's environment variables)
OTEL_SAMPLERS = (
    "always_on", "always_off", "traceidratio",
    "parentbased_always_on", "parentbased_always_off", "parentbased_traceidratio",
)  # fmt: skip


def s(kind: str, **extra: Any) -> Schema:
    return {"type": kind, **extra}


def obj(props: dict[str, Schema], required: list[str] | None = None) -> Schema:
    return {
        "type": "object",
        "properties": props,
        "additionalProperties": False,
        **({"required": required} if required else {}),
    }


def free() -> Schema:
    return {"type": "object"}


def array(items: Schema | None = None) -> Schema:
    return {"type": "array", **({"items": items} if items else {})}


def enum(*values: str) -> Schema:
    return {"type": "string", "enum": list(values)}


def service_chart_schema() -> Schema:
    quantity = {"type": "object", "additionalProperties": {"type": ["string", "integer"]}}
    config = {
        env: s("string", description=f"{help} (service default `{default}`)" if default else help)
        for env, default, help in settings_table()
        if env not in FIXED_BY_CHART
    }
    enabled = s("boolean")
    return {
        "$schema": "https://json-schema.org/draft-07/schema#",
        "title": "Snapshot chart values",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "replicaCount": s("integer", minimum=1),
            "image": obj(
                {
                    "repository": s("string", minLength=1),
                    "tag": s("string"),
                    "pullPolicy": enum("Always", "IfNotPresent", "Never"),
                },
                ["repository"],
            ),
            "imagePullSecrets": array({"type": "object"}),
            "nameOverride": s("string"),
            "fullnameOverride": s("string"),
            "config": obj(config),
            "apiKeys": obj({"existingSecret": s("string")}),
            "gridAuth": obj({"existingSecret": s("string")}),
            "gridRegistration": obj({"existingSecret": s("string")}),
            "redis": obj(
                {
                    "existingSecret": s("string"),
                    "key": s("string"),
                    "jobSecretKey": s("string"),
                    "port": s("integer", minimum=1, maximum=65535),
                }
            ),
            "webhooks": obj({"existingSecret": s("string"), "key": s("string")}),
            "upstreamProxy": obj(
                {"existingSecret": s("string"), "key": s("string"), "port": s("integer", minimum=1, maximum=65535)}
            ),
            "filterLists": obj({"configMap": s("string")}),
            "tenants": obj({"existingSecret": s("string"), "key": s("string")}),
            "monitors": array(
                {
                    "type": "object",
                    "properties": {
                        "name": s("string", minLength=1, maxLength=100),
                        "tenant": s("string"),
                        "every": s("integer", minimum=1),
                        "threshold": s("number", minimum=0, maximum=1),
                    },
                    "required": ["name", "every"],
                }
            ),
            "tracing": obj(
                {
                    "otlpEndpoint": s("string", pattern="^(https?://.+)?$"),
                    "port": s("integer", minimum=1, maximum=65535),
                    "serviceName": s("string"),
                    "sampler": enum(*OTEL_SAMPLERS),
                    "samplerArg": s("string"),
                    "headersSecret": s("string"),
                }
            ),
            "s3": obj({"existingSecret": s("string"), "accessKeyId": s("string"), "secretAccessKey": s("string")}),
            "serviceAccount": obj(
                {"create": enabled, "name": s("string"), "annotations": free(), "automount": s("boolean")}
            ),
            "podAnnotations": free(),
            "podLabels": free(),
            "podSecurityContext": free(),
            "securityContext": free(),
            "service": obj(
                {"type": enum("ClusterIP", "NodePort", "LoadBalancer"), "port": s("integer", minimum=1, maximum=65535)}
            ),
            "ingress": obj(
                {
                    "enabled": enabled,
                    "className": s("string"),
                    "annotations": free(),
                    "hosts": array(
                        obj(
                            {
                                "host": s("string"),
                                "paths": array(
                                    obj(
                                        {
                                            "path": s("string"),
                                            "pathType": enum("Prefix", "Exact", "ImplementationSpecific"),
                                        },
                                        ["path", "pathType"],
                                    )
                                ),
                            },
                            ["host", "paths"],
                        )
                    ),
                    "tls": array({"type": "object"}),
                }
            ),
            "resources": obj({"requests": quantity, "limits": quantity}),
            "autoscaling": obj(
                {
                    "enabled": enabled,
                    "minReplicas": s("integer", minimum=1),
                    "maxReplicas": s("integer", minimum=1),
                    "targetCPUUtilizationPercentage": s("integer", minimum=1, maximum=100),
                }
            ),
            "podDisruptionBudget": obj({"enabled": enabled, "minAvailable": s("integer", minimum=0)}),
            "terminationGracePeriodSeconds": s("integer", minimum=1),
            "preStopSleepSeconds": s("integer", minimum=0),
            "tmpSizeLimit": s("string"),
            "networkPolicy": obj(
                {
                    "enabled": enabled,
                    "ingressFrom": array({"type": "object"}),
                    "extraEgress": array({"type": "object"}),
                    "browserPodLabels": {"type": "object", "additionalProperties": {"type": "string"}},
                    "browserNamespaceLabels": {"type": "object", "additionalProperties": {"type": "string"}},
                    "proxyOnly": enabled,
                }
            ),
            "metrics": obj(
                {
                    "serviceMonitor": obj({"enabled": enabled, "interval": s("string"), "labels": free()}),
                    "prometheusRule": obj({"enabled": enabled, "labels": free()}),
                    "dashboard": obj(
                        {"enabled": enabled, "label": s("string"), "labelValue": s("string"), "namespace": s("string")}
                    ),
                }
            ),
            "nodeSelector": free(),
            "tolerations": array(),
            "affinity": free(),
        },
    }
