#!/usr/bin/env bash
# Runs the whole test suite after installing what it needs.  The tests start (and stop) the real
# servers themselves: Selenium Grid (hub + 2 nodes), SeaweedFS, Prometheus, a page server, the service.
# First the static checks (scripts/check.sh: ruff lint + format, mypy strict).
# Extra arguments go to pytest (e.g. -k pool, -m "not integration").
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
scripts/check.sh
exec .venv/bin/python -m pytest "$@"
