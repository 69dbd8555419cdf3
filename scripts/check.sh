#!/usr/bin/env bash
# The static checks, as CI runs them: ruff's linter and formatter check, and mypy (strict, service/).
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check service tests load_tests scripts
.venv/bin/ruff format --check service tests load_tests scripts
.venv/bin/mypy
