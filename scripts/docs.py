"""Writes every generated part of the docs and charts from its one source, or checks them (``--check``).

    .venv/bin/python scripts/docs.py           rewrite what is out of date
    .venv/bin/python scripts/docs.py --check   exit 1 naming each file that is out of date

- docs/settings.md, the settings table: from ``service.config.Settings``;
- docs/observability.md, the metrics table: from ``service.metrics.Metrics``;
- docs/api.md, the options table: from ``service.options.CaptureOptions``;
- deploy/helm/snapshot/values.schema.json: its structure from ``scripts/chart_schema.py``, its
  ``config`` keys from ``Settings``, its descriptions from the ``# --`` comments of values.yaml;
- deploy/grid/selenium-grid/values.schema.json, its descriptions: from the comments of its values.yaml;
- each chart's README.md, the values table: from its values.yaml (defaults and ``# --`` comments).

A chart value is described once, by the ``# --`` comment above it in values.yaml (helm-docs' style);
``tests/unit/test_docs.py`` fails when anything here is out of date or a value has no description.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts.chart_schema import service_chart_schema  # noqa: E402
from service.config import settings_table  # noqa: E402
from service.metrics import Metrics  # noqa: E402

SERVICE_CHART = ROOT / "deploy" / "helm" / "snapshot"
GRID_CHART = ROOT / "deploy" / "grid" / "selenium-grid"
_BLOCK = "<!-- BEGIN GENERATED: {name} (scripts/docs.py) -->\n{body}<!-- END GENERATED: {name} -->"
_KEY = re.compile(r"([A-Za-z0-9_.-]+):(\s|$)")


# ------------------------------------------------------------------------------------------ sources


def value_docs(text: str) -> dict[str, str]:
    """{dotted key: description} from a values.yaml's ``# --`` comments (continued by the ``#`` lines
    right after), each describing the key below it.  List items are values, not keys."""
    docs: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    pending: list[str] | None = None
    in_list: int | None = None  # indent of a list item whose contents are skipped
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            pending = None
            continue
        indent = len(line) - len(line.lstrip())
        if in_list is not None and (indent > in_list or (indent == in_list and stripped.startswith("- "))):
            continue
        in_list = None
        if stripped.startswith("# --"):
            pending = [stripped[4:].strip()]
        elif stripped.startswith("#"):
            if pending is not None:
                pending.append(stripped[1:].strip())
        elif stripped.startswith("- "):
            in_list = indent
        elif match := _KEY.match(stripped):
            while stack and stack[-1][0] >= indent:
                stack.pop()
            stack.append((indent, match.group(1)))
            if pending:
                docs[".".join(key for _, key in stack)] = " ".join(pending)
            pending = None
    return docs


def leaves(values: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted paths of every leaf (a scalar, a list or an empty map) in ``values``."""
    paths = []
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            paths += leaves(value, path + ".")
        else:
            paths.append(path)
    return paths


def undocumented(chart: Path) -> list[str]:
    """Leaves of values.yaml that neither they nor an enclosing key describe (``config`` keys are the
    service's settings, described in ``Settings``)."""
    text = (chart / "values.yaml").read_text()
    docs = value_docs(text)
    missing = []
    for path in leaves(yaml.safe_load(text) or {}):
        parts = path.split(".")
        described = any(".".join(parts[:n]) in docs for n in range(1, len(parts) + 1))
        if not described and not path.startswith("config."):
            missing.append(path)
    return missing


# ------------------------------------------------------------------------------------------ outputs


def settings_rows() -> str:
    rows = "| variable | default | meaning |\n|---|---|---|\n"
    return rows + "".join(f"| `{env}` | {f'`{d}`' if d else ''} | {h} |\n" for env, d, h in settings_table())


def options_rows() -> str:
    from service.options import FIELDS, kind, param

    rows = "| option | type | default | where | meaning |\n|---|---|---|---|---|\n"
    group = None
    for f in FIELDS:
        meta = f.metadata
        if meta["group"] != group:
            group = meta["group"]
            rows += f"| **{group}** | | | | |\n"
        shown = {"bool": "boolean", "int": "integer", "float": "number", "str": "text", "list": "text"}[kind(f)]
        if meta["choices"]:
            shown = " / ".join(meta["choices"])
        low, high = meta["minimum"], meta["maximum"]
        if low is not None and high is not None:
            shown += f" {low}–{high}"
        elif low is not None:
            shown += f" ≥ {low}"
        if kind(f) == "list":
            shown += ", repeatable"
        if meta["unit"]:
            shown += f" {meta['unit']}"
        default = (
            ""
            if f.default in (None, (), "")
            else f"`{str(f.default).lower() if isinstance(f.default, bool) else f.default}`"
        )
        where = ", ".join({"snap": "image", "pdf": "pdf", "content": "content"}[e] for e in meta["endpoints"])
        rows += f"| `{param(f)}` | {shown} | {default} | {where} | {meta['help']} |\n"
    return rows


def metrics_rows() -> str:
    from prometheus_client import CollectorRegistry
    from prometheus_client.metrics import MetricWrapperBase

    rows = "| metric | type | labels | what |\n|---|---|---|---|\n"
    for metric in vars(Metrics(CollectorRegistry())).values():
        if isinstance(metric, MetricWrapperBase):
            kind = metric._type  # prometheus_client keeps these private
            name = metric._name + ("_total" if kind == "counter" else "")
            labels = ", ".join(metric._labelnames)
            rows += f"| `{name}` | {kind} | {labels} | {metric._documentation} |\n"
    return rows


def _default(value: Any) -> str:
    shown = json.dumps(value, separators=(", ", ": "))
    return f"`{shown}`" if len(shown) <= 60 else f"`{shown[:57]}...`"


def values_rows(chart: Path) -> str:
    """key | default | description, for every described key of the chart's values.yaml."""
    text = (chart / "values.yaml").read_text()
    values = yaml.safe_load(text) or {}
    rows = "| key | default | description |\n|---|---|---|\n"
    for path, description in value_docs(text).items():
        value: Any = values
        for part in path.split("."):
            value = value[part]
        escaped = description.replace("|", "\\|")
        rows += f"| `{path}` | {_default(value)} | {escaped} |\n"
    if chart == SERVICE_CHART:
        rows += "| `config.SNAPSHOT_*` | | every service setting (docs/settings.md) but those the chart sets |\n"
    return rows


def _describe(schema: dict[str, Any], docs: dict[str, str], prefix: str = "") -> dict[str, Any]:
    """The schema with each property's description taken from ``docs`` (dotted keys) and no other
    (but the ``config`` keys': the service's settings, described by ``Settings``)."""
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return schema
    described = {}
    for key, sub in properties.items():
        path = f"{prefix}{key}"
        sub = _describe(dict(sub), docs, path + ".")
        if not path.startswith("config."):
            sub.pop("description", None)
        if path in docs:
            sub = {"description": docs[path], **sub}
        described[key] = sub
    return {**schema, "properties": described}


def chart_schema(chart: Path) -> str:
    docs = value_docs((chart / "values.yaml").read_text())
    if chart == SERVICE_CHART:
        schema = service_chart_schema()
    else:
        schema = json.loads((chart / "values.schema.json").read_text())
    return json.dumps(_describe(schema, docs), indent=2) + "\n"


# ------------------------------------------------------------------------------------------ files


def _replace_block(text: str, name: str, body: str) -> str:
    pattern = re.compile(
        re.escape(f"<!-- BEGIN GENERATED: {name} (scripts/docs.py) -->")
        + r"\n.*?"
        + re.escape(f"<!-- END GENERATED: {name} -->"),
        re.DOTALL,
    )
    if not pattern.search(text):
        raise ValueError(f"no generated block {name!r}")
    return pattern.sub(lambda _: _BLOCK.format(name=name, body=body), text, count=1)


def _block(path: Path, name: str, body: Callable[[], str]) -> tuple[Path, Callable[[str], str]]:
    return path, lambda text: _replace_block(text, name, body())


def _whole(path: Path, content: Callable[[], str]) -> tuple[Path, Callable[[str], str]]:
    return path, lambda _: content()


GENERATED = [
    _block(ROOT / "docs" / "settings.md", "settings", settings_rows),
    _block(ROOT / "docs" / "observability.md", "metrics", metrics_rows),
    _block(ROOT / "docs" / "api.md", "options", options_rows),
    _whole(SERVICE_CHART / "values.schema.json", lambda: chart_schema(SERVICE_CHART)),
    _whole(GRID_CHART / "values.schema.json", lambda: chart_schema(GRID_CHART)),
    _block(SERVICE_CHART / "README.md", "values", lambda: values_rows(SERVICE_CHART)),
    _block(GRID_CHART / "README.md", "values", lambda: values_rows(GRID_CHART)),
]


def out_of_date() -> dict[Path, str]:
    """{file: what it should hold} for every generated file that differs."""
    stale = {}
    for path, render in GENERATED:
        current = path.read_text()
        wanted = render(current)
        if wanted != current:
            stale[path] = wanted
    return stale


def main(argv: list[str]) -> int:
    stale = out_of_date()
    if "--check" in argv:
        for path in stale:
            print(f"out of date: {path.relative_to(ROOT)} (run scripts/docs.py)")
        return 1 if stale else 0
    for path, text in stale.items():
        path.write_text(text)
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
