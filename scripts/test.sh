#!/usr/bin/env bash
# Runs the whole test suite after installing what it needs.  The tests start (and stop) the real
# servers themselves: Selenium Grid (hub + 2 nodes), SeaweedFS, Prometheus, a page server, the service.
# First the static checks (scripts/check.sh: ruff lint + format, mypy strict).
# Extra arguments go to pytest (e.g. -k pool).
#   scripts/test.sh --fast [pytest args]   the in-process tier alone: no installs, no static checks, no
#                                          browser or server process (needs the .venv a full run made)
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ "${1:-}" == "--fast" ]]; then
  shift
  if [[ ! -x .venv/bin/python ]]; then
    echo "test.sh --fast: no .venv yet; run scripts/test.sh (or scripts/setup.sh --test) once" >&2
    exit 2
  fi
  exec .venv/bin/python -m pytest tests/unit -m "not integration" -q "$@"
fi
scripts/setup.sh --test
scripts/check.sh
exec .venv/bin/python -m pytest "$@"
