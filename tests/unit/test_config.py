"""Settings: typed, validated at start-up, and documented in docs/settings.md."""

from __future__ import annotations

import ipaddress
import re
import subprocess
import sys

import pytest

from service.config import Settings, SettingsError, settings_table
from tests.support import ROOT


def test_defaults_are_the_embedded_default():
    settings = Settings.from_env({})
    assert settings.grid_url is None and settings.s3_bucket is None
    assert settings.allow_networks == ()


def test_values_are_cast():
    settings = Settings.from_env(
        {
            "SNAPSHOT_PORT": "9000",
            "SNAPSHOT_GRID_URL": "http://grid:4444/",
            "SNAPSHOT_ALLOW_NETWORKS": "127.0.0.0/8, 10.1.0.0/16",
            "SNAPSHOT_ALLOW_LOCALMODE": "false",
            "SNAPSHOT_CAPTURE_TIMEOUT": "12.5",
        }
    )
    assert settings.port == 9000
    assert settings.grid_url == "http://grid:4444"
    assert settings.allow_networks == (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("10.1.0.0/16"))
    assert settings.allow_localmode is False
    assert settings.capture_timeout == 12.5


def test_every_problem_is_reported_at_once():
    with pytest.raises(SettingsError) as info:
        Settings.from_env(
            {
                "SNAPSHOT_PORT": "eighty",
                "SNAPSHOT_GRID_URL": "grid:4444",
                "SNAPSHOT_ALLOW_NETWORKS": "10.0.0.0/33",
                "SNAPSHOT_MAX_WIDTH": "20000",
                "SNAPSHOT_CAPTURE_TIMEOUT": "-1",
                "SNAPSHOT_ALLOW_LOCALMODE": "sometimes",
                "SNAPSHOT_PNG_ENCODING": "smallest",
            }
        )
    text = str(info.value)
    for name in [
        "SNAPSHOT_PORT",
        "SNAPSHOT_GRID_URL",
        "SNAPSHOT_ALLOW_NETWORKS",
        "SNAPSHOT_MAX_WIDTH",
        "SNAPSHOT_CAPTURE_TIMEOUT",
        "SNAPSHOT_ALLOW_LOCALMODE",
        "SNAPSHOT_PNG_ENCODING",
    ]:
        assert name in text


def test_the_service_refuses_to_start_with_bad_settings():
    result = subprocess.run(
        [sys.executable, "-m", "service"],
        env={"SNAPSHOT_PORT": "0", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
    )
    assert result.returncode == 2
    assert "SNAPSHOT_PORT" in result.stderr and "Traceback" not in result.stderr


def test_the_settings_page_documents_every_setting_with_its_default():
    readme = (ROOT / "docs" / "settings.md").read_text()
    documented = dict(re.findall(r"^\| `(SNAPSHOT_[A-Z0-9_]+)` \| `?([^|`]*)`? \|", readme, re.MULTILINE))
    for env, default, _help in settings_table():
        assert env in documented, f"{env} is missing from docs/settings.md"
        assert documented[env].strip() == default, f"{env}: docs say {documented[env]!r}, code says {default!r}"
    assert set(documented) == {env for env, _, _ in settings_table()}


def test_chromium_runs_without_its_sandbox_unless_the_operator_turns_it_on():
    from service.browsers.chrome import chrome_options

    assert "--no-sandbox" in chrome_options(Settings(), local=True).arguments
    assert "--no-sandbox" not in chrome_options(Settings(chrome_sandbox=True), local=True).arguments
    assert "--no-sandbox" not in chrome_options(Settings(chrome_sandbox=True), local=False).arguments


def test_importing_the_settings_loads_no_client_library():
    code = (
        "import sys, service.config; "
        "print(sorted(m for m in ('websocket', 'selenium', 'boto3', 'redis', 'tornado') if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"


def test_each_isolation_mode_a_setting_may_name_is_implemented():
    from service.browsers.isolation import ISOLATIONS
    from service.config import ISOLATION_MODES

    assert tuple(ISOLATIONS) == ISOLATION_MODES


def test_every_setting_has_a_parser_for_its_type():
    import dataclasses

    from service.envvars import PARSERS, SPECIAL

    assert [f.name for f in dataclasses.fields(Settings) if f.name not in SPECIAL and str(f.type) not in PARSERS] == []
