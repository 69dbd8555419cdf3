"""The emulation options in process: parsing and validation, devices from Playwright's registry (the file
scripts/setup.sh fetches), what the browser is told and how each change is undone.  The same in real
browsers: ``tests/integration/test_emulation.py``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service.browsers import emulation, steps
from service.browsers.emulation import Defaults, overrides, tab_defaults
from service.browsers.scope import CaptureScope
from service.config import Settings
from service.delivery.sealed import Sealer
from service.devices import load_devices
from service.errors import InvalidRequest
from service.option_emulation import freeze_instant
from service.options import Endpoint
from service.params import parse_capture_request

ROOT = Path(__file__).resolve().parents[2]
REGISTRY = ROOT / ".tools" / "playwright-devices" / "deviceDescriptorsSource.json"


@pytest.fixture
def registry(tmp_path) -> str:
    """A registry file in Playwright's format (the real one's entries when setup has fetched it)."""
    entries = json.loads(REGISTRY.read_text()) if REGISTRY.is_file() else {}
    entries["Test Phone"] = {"userAgent": "TestPhone/1.0", "viewport": {"width": 412, "height": 839},
                             "deviceScaleFactor": 2.625, "isMobile": True, "hasTouch": True,
                             "defaultBrowserType": "chromium"}  # fmt: skip
    path = tmp_path / "deviceDescriptorsSource.json"
    path.write_text(json.dumps(entries))
    (tmp_path / ".version-1.50.0").touch()
    return str(path)


def parse(settings: Settings | None = None, endpoint: Endpoint = Endpoint.SNAP, **given: str):
    base = {"url": "http://example.com/", **given}
    return parse_capture_request({k: [v] for k, v in base.items()}, settings or Settings(), endpoint)


def problems(settings: Settings | None = None, **given: str) -> dict[str, str]:
    with pytest.raises(InvalidRequest) as info:
        parse(settings, **given)
    return {d["parameter"]: d["message"] for d in info.value.details or []}


def test_the_registry_is_playwrights_own_file_with_its_version():
    if not REGISTRY.is_file():
        pytest.skip("scripts/setup.sh has not fetched npm playwright-core here")
    devices = load_devices(str(REGISTRY))
    assert devices.source == "playwright-core 1.50.0" and len(devices.by_name) > 100
    iphone = devices.get("iPhone 13")
    assert iphone is not None and (iphone.width, iphone.height, iphone.scale) == (390, 664, 3.0)
    assert iphone.mobile and iphone.touch and "iPhone" in iphone.user_agent


def test_a_device_gives_the_default_size_and_scale_and_explicit_ones_win(registry):
    settings = Settings(devices_file=registry)
    request = parse(settings, device="Test Phone")
    assert (request.width, request.height, request.scale, request.mobile, request.touch) == (
        412,
        839,
        2.625,
        True,
        True,
    )
    explicit = parse(settings, device="Test Phone", width="300", height="200", device_scale_factor="1",
                     mobile="false", touch="false")  # fmt: skip
    assert (explicit.width, explicit.height, explicit.scale, explicit.mobile, explicit.touch) == (
        300, 200, 1.0, False, False)  # fmt: skip
    assert "device" in problems(settings, device="Nokia 3310", width="10", height="10")
    assert "no device registry" in problems(Settings(devices_file="/nonexistent.json"), device="Test Phone")["device"]


@pytest.mark.parametrize(
    ("given", "parameter"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"locale": "not a locale"}, "locale"),
        ({"latitude": "48.8"}, "latitude"),
        ({"latitude": "91", "longitude": "0"}, "latitude"),
        ({"longitude": "181", "latitude": "0"}, "longitude"),
        ({"accuracy": "5"}, "accuracy"),
        ({"latitude": "north", "longitude": "0"}, "latitude"),
        ({"http_auth": "no-colon"}, "http_auth"),
        ({"http_auth": ":password"}, "http_auth"),
        ({"freeze_time": "2024-01-01T00:00:00Z"}, "freeze_time"),
        ({"deterministic": "true", "freeze_time": "yesterday"}, "freeze_time"),
        ({"javascript": "false", "scripts": "1"}, "scripts"),
    ],
)
def test_bad_emulation_options_are_400s_naming_the_parameter(given, parameter):
    assert parameter in problems(Settings(allow_scripts=True), width="10", height="10", **given)


def test_the_default_time_zone_and_locale_are_checked_at_start():
    with pytest.raises(ValueError, match="SNAPSHOT_DEFAULT_TIMEZONE"):
        Settings.from_env({"SNAPSHOT_DEFAULT_TIMEZONE": "Europe/Atlantis"})
    with pytest.raises(ValueError, match="SNAPSHOT_DEFAULT_LOCALE"):
        Settings.from_env({"SNAPSHOT_DEFAULT_LOCALE": "english please"})
    assert Settings.from_env({"SNAPSHOT_DEFAULT_TIMEZONE": "Asia/Tokyo"}).default_timezone == "Asia/Tokyo"


def test_every_emulation_is_undone_back_to_the_services_defaults():
    defaults = Defaults("Europe/Berlin", "fr-FR")
    request = parse(width="10", height="10", timezone="Asia/Tokyo", locale="de-DE", user_agent="Bot/1",
                    latitude="1", longitude="2", touch="true", javascript="false", deterministic="true")  # fmt: skip
    changes = {what: (calls, undo) for what, calls, undo in overrides(request, defaults)}
    assert changes["user_agent"][0] == [
        ("Emulation.setUserAgentOverride", {"userAgent": "Bot/1", "acceptLanguage": "de-DE"})
    ]
    assert changes["user_agent"][1] == [
        ("Emulation.setUserAgentOverride", {"userAgent": "", "acceptLanguage": "fr-FR"})
    ]
    assert changes["timezone"][1] == [("Emulation.setTimezoneOverride", {"timezoneId": "Europe/Berlin"})]
    # a locale override is replaced, never stacked (Chromium refuses a second one)
    assert changes["locale"][1] == [("Emulation.setLocaleOverride", {}),
                                    ("Emulation.setLocaleOverride", {"locale": "fr-FR"})]  # fmt: skip
    assert changes["javascript"][1] == [("Emulation.setScriptExecutionDisabled", {"value": False})]
    assert changes["deterministic"][1] == []  # removed by its identifier, once the script is added
    assert all(undo for what, (_, undo) in changes.items() if what != "deterministic")
    assert tab_defaults(defaults)[0] == ("Emulation.setTimezoneOverride", {"timezoneId": "Europe/Berlin"})
    # no emulation asked, no command
    assert overrides(parse(width="10", height="10"), defaults) == []


def test_the_scope_undoes_in_one_list_what_each_step_recorded():
    scope = CaptureScope()
    scope.changed["timezone"] = [("Emulation.setTimezoneOverride", {"timezoneId": "UTC"})]
    scope.changed["deterministic"] = [("Page.removeScriptToEvaluateOnNewDocument", {"identifier": "7"})]
    assert steps.undo(scope) == [
        ("Page.removeScriptToEvaluateOnNewDocument", {"identifier": "7"}),
        ("Emulation.setTimezoneOverride", {"timezoneId": "UTC"}),
    ]


def test_the_frozen_instant_and_the_script_that_freezes():
    assert freeze_instant("2030-05-01T06:00:00Z") == 1_903_845_600_000
    assert freeze_instant("2030-05-01T08:00:00+02:00") == 1_903_845_600_000
    assert freeze_instant("2030-05-01T06:00:00") == 1_903_845_600_000  # no offset: UTC
    assert freeze_instant(None) == freeze_instant("2024-01-01T12:00:00Z")
    request = parse(width="10", height="10", deterministic="true", freeze_time="2030-05-01T06:00:00Z")
    made = {what: (calls, undo) for what, calls, undo in overrides(request, Defaults())}
    assert "const FROZEN = 1903845600000;" in made["deterministic"][0][0][1]["source"]
    # focused whatever the window is, and no longer after the capture
    assert made["focus"] == ([("Emulation.setFocusEmulationEnabled", {"enabled": True})],
                             [("Emulation.setFocusEmulationEnabled", {"enabled": False})])  # fmt: skip
    assert "Math.random = random" in emulation.FREEZE


def test_http_auth_is_a_secret_of_async_jobs():
    params, body, secrets = Sealer.split({"http_auth": ["u:p"], "url": ["http://x/"]}, {"http_auth": "u:p"})
    assert "http_auth" not in params and body == {} and secrets["params"]["http_auth"] == ["u:p"]
