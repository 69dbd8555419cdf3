"""Writes deploy/helm/snapshot/values.schema.json; its `config` keys come from service/config.py."""

import json
from pathlib import Path

from service.config import settings_table

FIXED_BY_CHART = {
    "SNAPSHOT_HOST",
    "SNAPSHOT_PORT",
    "SNAPSHOT_GRID_USERNAME",
    "SNAPSHOT_GRID_PASSWORD",
    "SNAPSHOT_PROXY_HOST",
    "SNAPSHOT_PROXY_PORT",
    "SNAPSHOT_API_KEYS",
}


def s(kind, text, **extra):
    return {"type": kind, "description": text, **extra}


def obj(props, text="", required=None):
    return {
        "type": "object",
        "description": text,
        "properties": props,
        "additionalProperties": False,
        **({"required": required} if required else {}),
    }


def free(text):
    return {"type": "object", "description": text}


def array(text, items=None):
    return {"type": "array", "description": text, **({"items": items} if items else {})}


quantity = {"type": "object", "additionalProperties": {"type": ["string", "integer"]}}
config = {
    env: s("string", f"{help} (service default `{default}`)" if default else help)
    for env, default, help in settings_table()
    if env not in FIXED_BY_CHART
}
schema = {
    "$schema": "https://json-schema.org/draft-07/schema#",
    "title": "Snapshot chart values",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "replicaCount": s("integer", "Pods when autoscaling is off.", minimum=1),
        "image": obj(
            {
                "repository": s("string", "Image repository.", minLength=1),
                "tag": s("string", "Image tag; empty: appVersion."),
                "pullPolicy": {"type": "string", "enum": ["Always", "IfNotPresent", "Never"]},
            },
            "The service image.",
            ["repository"],
        ),
        "imagePullSecrets": array("Pull secrets.", {"type": "object"}),
        "nameOverride": s("string", "Chart name override."),
        "fullnameOverride": s("string", "Full name override."),
        "config": obj(config, "SNAPSHOT_* settings (the chart sets host, port and the Grid credentials)."),
        "apiKeys": obj({"existingSecret": s("string", "Secret with key api-keys.")}, "API keys."),
        "gridAuth": obj(
            {"existingSecret": s("string", "Secret with keys username and password for the Grid.")},
            "Basic auth for the Grid.",
        ),
        "s3": obj(
            {
                "existingSecret": s("string", "Existing Secret with AWS credentials."),
                "accessKeyId": s("string", "Access key."),
                "secretAccessKey": s("string", "Secret key."),
            },
            "S3 credentials.",
        ),
        "serviceAccount": obj(
            {
                "create": s("boolean", "Create it."),
                "name": s("string", "Name."),
                "annotations": free("Annotations (cloud IAM roles)."),
                "automount": s("boolean", "Mount the API token."),
            },
            "ServiceAccount.",
        ),
        "podAnnotations": free("Pod annotations."),
        "podLabels": free("Pod labels."),
        "podSecurityContext": free("Pod securityContext."),
        "securityContext": free("Container securityContext."),
        "service": obj(
            {
                "type": {"type": "string", "enum": ["ClusterIP", "NodePort", "LoadBalancer"]},
                "port": s("integer", "Port.", minimum=1, maximum=65535),
            },
            "Service.",
        ),
        "ingress": obj(
            {
                "enabled": s("boolean", "Enable."),
                "className": s("string", "IngressClass."),
                "annotations": free("Annotations."),
                "hosts": array(
                    "Hosts.",
                    obj(
                        {
                            "host": s("string", "Host."),
                            "paths": array(
                                "Paths.",
                                obj(
                                    {
                                        "path": s("string", "Path."),
                                        "pathType": {
                                            "type": "string",
                                            "enum": ["Prefix", "Exact", "ImplementationSpecific"],
                                        },
                                    },
                                    "",
                                    ["path", "pathType"],
                                ),
                            ),
                        },
                        "",
                        ["host", "paths"],
                    ),
                ),
                "tls": array("TLS.", {"type": "object"}),
            },
            "Ingress.",
        ),
        "resources": obj({"requests": quantity, "limits": quantity}, "Requests and limits."),
        "autoscaling": obj(
            {
                "enabled": s("boolean", "Enable."),
                "minReplicas": s("integer", "Fewest pods.", minimum=1),
                "maxReplicas": s("integer", "Most pods.", minimum=1),
                "targetCPUUtilizationPercentage": s("integer", "CPU target.", minimum=1, maximum=100),
            },
            "HorizontalPodAutoscaler.",
        ),
        "podDisruptionBudget": obj(
            {
                "enabled": s("boolean", "Enable."),
                "minAvailable": s("integer", "Pods that stay available.", minimum=0),
            },
            "PodDisruptionBudget.",
        ),
        "terminationGracePeriodSeconds": s("integer", "Grace period after SIGTERM.", minimum=1),
        "preStopSleepSeconds": s("integer", "preStop sleep.", minimum=0),
        "tmpSizeLimit": s("string", "emptyDir size limit for /tmp."),
        "networkPolicy": obj(
            {
                "enabled": s("boolean", "Enable."),
                "ingressFrom": array("Allowed peers.", {"type": "object"}),
                "extraEgress": array("Extra egress rules.", {"type": "object"}),
                "browserPodLabels": {
                    "type": "object",
                    "description": "Labels of the browser pods.",
                    "additionalProperties": {"type": "string"},
                },
            },
            "NetworkPolicy.",
        ),
        "metrics": obj(
            {
                "serviceMonitor": obj(
                    {
                        "enabled": s("boolean", "Enable."),
                        "interval": s("string", "Scrape interval."),
                        "labels": free("Labels."),
                    },
                    "ServiceMonitor.",
                ),
                "prometheusRule": obj(
                    {"enabled": s("boolean", "Enable."), "labels": free("Labels.")}, "PrometheusRule."
                ),
                "dashboard": obj(
                    {
                        "enabled": s("boolean", "Enable."),
                        "label": s("string", "Grafana sidecar label."),
                        "labelValue": s("string", "Its value."),
                        "namespace": s("string", "Namespace."),
                    },
                    "Dashboard ConfigMap.",
                ),
            },
            "Prometheus Operator and Grafana.",
        ),
        "nodeSelector": free("Node selector."),
        "tolerations": array("Tolerations."),
        "affinity": free("Affinity."),
    },
}
path = Path(__file__).resolve().parent.parent / "deploy" / "helm" / "snapshot" / "values.schema.json"
path.write_text(json.dumps(schema, indent=2) + "\n")
