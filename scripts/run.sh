#!/usr/bin/env bash
# Runs Snapshot with its embedded default (local Chromium, local file storage) after installing what it needs.
# Extra arguments go to the service (e.g. --port 9000); settings come from SNAPSHOT_* variables.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/python -m service "$@"
