"""Rewrites the settings table in README.md from service/config.py (the single source)."""

import re
from pathlib import Path

from service.config import settings_table

readme = Path(__file__).resolve().parent.parent / "README.md"
rows = "".join(f"| `{env}` | {f'`{d}`' if d else ''} | {h} |\n" for env, d, h in settings_table())
text = re.sub(r"(?:^\| `SNAPSHOT_[^\n]*\n)+", lambda _: rows, readme.read_text(), count=1, flags=re.MULTILINE)
readme.write_text(text)
