"""Takes docs/playground.png: the service captures its own playground, which has just captured the
service's API docs (the playground's form is filled from its URL; the capture's ``click`` presses its
Capture button).

    .venv/bin/python scripts/playground_screenshot.py
"""

from __future__ import annotations

import sys
from pathlib import Path
from urllib.parse import urlencode

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.servers import start_service  # noqa: E402


def main() -> None:
    service = start_service({"SNAPSHOT_ALLOW_NETWORKS": "127.0.0.0/8", "SNAPSHOT_LOCAL_POOL_SIZE": "2"})
    try:
        playground = f"{service.url}/?" + urlencode({"url": f"{service.url}/docs", "width": 1024, "height": 640})
        query = {"url": playground, "width": 1280, "height": 900, "full_page": "true", "full_page_scroll": "false",
                 "click": "#capture", "delay": 4000}  # fmt: skip
        answer = requests.get(f"{service.url}/create_snap", params=query, timeout=60)
        answer.raise_for_status()
        (ROOT / "docs" / "playground.png").write_bytes(answer.content)
        print(f"docs/playground.png: {len(answer.content)} bytes")
    finally:
        service.stop()


if __name__ == "__main__":
    main()
