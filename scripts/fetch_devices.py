"""Fetch Playwright's device registry: ``lib/server/deviceDescriptorsSource.json`` (and its LICENSE) from the
npm package ``playwright-core`` at a given version, into a directory, with a ``.version-<v>`` marker the
service reports (``service/devices.py``).  Used by ``scripts/setup.sh`` and the image build; needs no npm.

    python3 scripts/fetch_devices.py 1.50.0 .tools/playwright-devices
"""

from __future__ import annotations

import io
import os
import sys
import tarfile
import urllib.request
from pathlib import Path

FILES = ("package/lib/server/deviceDescriptorsSource.json", "package/LICENSE")


def fetch(version: str, directory: Path) -> None:
    registry = os.environ.get("NPM_CONFIG_REGISTRY", "https://registry.npmjs.org").rstrip("/")
    url = f"{registry}/playwright-core/-/playwright-core-{version}.tgz"
    with urllib.request.urlopen(url, timeout=120) as response:
        packed = io.BytesIO(response.read())
    directory.mkdir(parents=True, exist_ok=True)
    for marker in directory.glob(".version-*"):
        marker.unlink()
    with tarfile.open(fileobj=packed) as archive:
        for name in FILES:
            member = archive.extractfile(name)
            if member is None:
                raise SystemExit(f"{url} has no {name}")
            (directory / name.rsplit("/", 1)[1]).write_bytes(member.read())
    (directory / f".version-{version}").touch()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    fetch(sys.argv[1], Path(sys.argv[2]))
