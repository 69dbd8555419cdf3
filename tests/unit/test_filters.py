"""The filter lists with the real engine (Debian's EasyList and EasyPrivacy where installed; a list of
the test's own otherwise) and how the capture's request rules apply them."""

from __future__ import annotations

import pytest

from service.browsers.network import RULES, RequestRules
from service.config import Settings
from service.config_egress import DEBIAN_FILTER_LISTS
from service.filters import ADS, TRACKERS, Filters
from service.params import parse_capture_request

PAGE = "https://news.example/article"


@pytest.fixture(scope="module")
def debian() -> Filters:
    filters = Filters.load(DEBIAN_FILTER_LISTS)
    if not (filters.has(ADS) and filters.has(TRACKERS)):
        pytest.fail(f"scripts/setup.sh installs the lists in {DEBIAN_FILTER_LISTS}")
    return filters


def test_the_debian_lists_block_ads_and_trackers_by_url_page_and_type(debian):
    ad = "https://pagead2.googlesyndication.com/pagead/js/adsbygoogle.js"
    assert debian.blocks((ADS,), ad, PAGE, "Script") == ADS
    assert debian.blocks((TRACKERS,), ad, PAGE, "Script") is None  # an ad, not EasyPrivacy's
    assert debian.blocks((TRACKERS,), "https://news.example/piwik.js", PAGE, "Script") == TRACKERS
    # first-party URLs too, by resource type: /ad_bottom.jpg$image
    assert debian.blocks((ADS,), "https://news.example/ad_bottom.jpg", PAGE, "Image") == ADS
    assert debian.blocks((ADS,), "https://news.example/ad_bottom.jpg", PAGE, "Script") is None
    assert debian.blocks((ADS, TRACKERS), "https://news.example/logo.png", PAGE, "Image") is None


def test_element_hiding_from_generic_and_site_rules_and_exceptions(debian):
    css = debian.hiding_css((ADS,), PAGE, ["ADBox", "content"], ["AC_ad"])
    assert ".ADBox { display: none !important; }" in css and "#AC_ad" in css and ".content " not in css
    # EasyList turns generic hiding off on intranet addresses ($generichide)
    assert "#AC_ad" not in debian.hiding_css((ADS,), "http://127.0.0.1:8080/", [], ["AC_ad"])
    assert debian.hiding_css((TRACKERS,), PAGE, ["ADBox"], []) == ""


def test_an_operators_own_lists_join_by_file_name(tmp_path):
    (tmp_path / "ads-own.txt").write_text("! Title: Own ads\n! Version: 7\n||ads.own.example^\n##.own-ad\n")
    (tmp_path / "trackers-own.txt").write_text("||track.own.example^$script\n")
    (tmp_path / "notes.txt").write_text("||page.example^\n")  # neither category: ignored
    filters = Filters.load(tmp_path)
    assert [(d["category"], d["title"], d["version"], d["rules"]) for d in filters.describe()] == [
        ("ads", "Own ads", "7", 2),
        ("trackers", "trackers-own", filters.lists[1].version, 1),
    ]
    assert filters.blocks((ADS,), "https://ads.own.example/x.gif", PAGE, "Image") == ADS
    assert filters.blocks((ADS,), "https://page.example/x.gif", PAGE, "Image") is None
    assert filters.blocks((TRACKERS,), "https://track.own.example/t.js", PAGE, "Script") == TRACKERS
    assert filters.blocks((TRACKERS,), "https://track.own.example/t.gif", PAGE, "Image") is None
    assert not Filters.load(tmp_path / "missing").has(ADS)


def _rules(filters: Filters, **options: str) -> RequestRules:
    query = {"url": [PAGE], "width": ["10"], "height": ["10"], **{k: [v] for k, v in options.items()}}
    rules = RequestRules.of(parse_capture_request(query, Settings()), filters)
    assert rules is not None
    return rules


def _paused(url: str, kind: str) -> dict:
    return {"requestId": "1", "request": {"url": url, "headers": {}}, "resourceType": kind}


def test_request_rules_apply_the_lists_but_never_to_the_captured_page_itself():
    filters = Filters.of_text({ADS: "||news.example^$document,subdocument,image\n"})
    rules = _rules(filters, block_ads="true")
    command, params, blocked = rules.answer(_paused("https://news.example/a.png", "Image"), "https://news.example")
    assert (command, params["errorReason"], blocked) == ("Fetch.failRequest", "BlockedByClient", ADS)
    # the document the client asked for (and where it redirects) is what it wants a picture of
    assert rules.answer(_paused(PAGE, "Document"), PAGE, main_frame=True)[2] is None
    assert rules.answer(_paused("https://news.example/frame", "Document"), PAGE)[2] == ADS  # a frame's
    # the capture's own rules first, counted as such
    own = _rules(filters, block_ads="true", block_resources="font")
    assert own.answer(_paused("https://cdn.example/f.woff", "Font"), PAGE)[2] == RULES
    assert RequestRules.of(parse_capture_request({"url": [PAGE], "width": ["1"], "height": ["1"]}, Settings()),
                           filters) is None  # fmt: skip
