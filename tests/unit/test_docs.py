"""Docs and charts agree with the code: every generated table is current (``scripts/docs.py``), every
chart value is described where it is defined, and the README's links lead somewhere."""

from __future__ import annotations

import re

import pytest

from scripts.docs import GRID_CHART, SERVICE_CHART, out_of_date, undocumented, value_docs
from tests.support import ROOT


def test_every_generated_table_and_schema_is_current():
    stale = [str(path.relative_to(ROOT)) for path in out_of_date()]
    assert not stale, f"out of date (run .venv/bin/python scripts/docs.py): {stale}"


@pytest.mark.parametrize("chart", [SERVICE_CHART, GRID_CHART], ids=["snapshot", "selenium-grid"])
def test_every_chart_value_is_described_in_values_yaml(chart):
    assert undocumented(chart) == []


def test_value_docs_reads_helm_docs_comments():
    text = """# a header, not a description
# -- Pods.
replicas: 2

image:
  # -- The repository,
  # continued.
  repository: x
  tag: ""   # no description
hosts:
  # -- Hosts.
  list:
    - host: a
      paths: [/]
  # -- After the list.
  after: 1
"""
    assert value_docs(text) == {
        "replicas": "Pods.",
        "image.repository": "The repository, continued.",
        "hosts.list": "Hosts.",
        "hosts.after": "After the list.",
    }


PAGES = ["README.md", *(str(p.relative_to(ROOT)) for p in sorted((ROOT / "docs").glob("*.md")))]
PAGES += [str((chart / "README.md").relative_to(ROOT)) for chart in (SERVICE_CHART, GRID_CHART)]


@pytest.mark.parametrize("page", PAGES)
def test_relative_links_lead_to_files(page):
    path = ROOT / page
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", path.read_text()):
        if "://" in target:
            continue
        assert (path.parent / target).exists(), f"{page} links to {target}, which does not exist"
